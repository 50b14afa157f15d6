#!/usr/bin/env bash
# User-space instructions per round trip (echo) and per request (HTTP) of
# corio's servers, on its epoll loop and on its io_uring loop, and the
# anchors, counted by Valgrind's callgrind: the steady figure where `perf
# stat -e instructions` cannot count (as on many VMs). Kernel work is not
# counted: for the readiness servers (corio, epoll, libuv) that is much the
# same syscalls each (one read and one write per message); corio_uring
# leaves the reads and writes to the kernel inside io_uring_enter, so its
# figure is user space only and lower for that reason. net_echo.sh and
# net_http.sh count the kernel entries (syscalls_per_rt, sqes_per_rt...).
# See bench/README.md.
#
#   bench/net_callgrind.sh
#
# Each server (SERVERS, default "corio corio_uring epoll libuv"; corio runs
# with CORIO_POLLER=epoll, corio_uring with CORIO_POLLER=io_uring) runs
# under callgrind on a free port; echo_bench (64-byte messages, $CONNS
# connections, $DURATION s, no warm-up) or wrk -t1 -c$CONNS drives it; the
# server's total instructions, start-up and exit included (0.23 M for
# echo_server: under 0.1 % of a run), are divided by the round trips or
# requests the load generator reports:
#
#   echo_64B_c100_corio_user_ins_per_rt: 656 instructions
#   echo_64B_c100_corio_uring_user_ins_per_rt: 600 instructions
#   http_c100_libuv_user_ins_per_req: 771 instructions
#
# Under callgrind a server's user-space code runs tens of times slower, so
# each of its waits returns more ready sockets (or completions) than at
# full speed: the loop's own cost per message is spread thinner, for every
# server alike.
#
# Environment: SERVERS, DURATION (10 s), CONNS (100), CPU, BUILD,
# ANCHOR_SRC, ANCHOR_BUILD. Needs valgrind; wrk for the HTTP figures and
# libuv1-dev for libuv's (each skipped, with the reason, when missing).
set -euo pipefail
# shellcheck source=bench/net_common.sh
. "$(dirname "$0")/net_common.sh"

DURATION=${DURATION:-10}
CONNS=${CONNS:-100}
command -v valgrind >/dev/null 2>&1 || die "valgrind is not installed"

pick_servers "corio corio_uring epoll libuv" "corio corio_uring epoll libuv"
if has_server libuv && ! have_libuv; then
  drop_server libuv
  note "libuv skipped: libuv1-dev is not installed (apt-get install libuv1-dev)"
fi
[ "${#servers[@]}" -gt 0 ] || die "no servers left to run"
anchors=(echo_bench)
has_server epoll && anchors+=(epoll_echo)
has_server libuv && anchors+=(uv_echo http_uv)
build_anchors "${anchors[@]}"
if has_server corio || has_server corio_uring; then
  build_corio example_echo_server example_http_hello
fi

# stop_server SIGNAL: sends SIGNAL to $server_pid and connects to it now
# and then (to wake it) until it exits; fails if it is still there after
# 5 s.
stop_server() {
  kill -"$1" "$server_pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$server_pid" 2>/dev/null || return 0
    accepts "$server_port" || true
    sleep 0.05
  done
  return 1
}

# measure KIND NAME PROGRAM ARGS...: prints the figure for one server,
# run under callgrind (corio's with the CORIO_POLLER its name says).
measure() {
  local kind=$1 name=$2 out count total vars=()
  shift 2
  case $name in corio | corio_uring) vars=("$(corio_env "$name")") ;; esac
  start_server "$name" env "${vars[@]}" valgrind --tool=callgrind \
    "--callgrind-out-file=$tmp/$name.cg" "$@"
  check_poller "$name" "$server_pid"
  if [ "$kind" = echo ]; then
    out=$(taskset -c "$CPU" "$ANCHOR_BUILD/echo_bench" -p "$server_port" \
      -c "$CONNS" -s 64 -d "$DURATION" -w 0 -l "$name" 2>&1)
    note "$out"
    count=$(sed -n 's/.*rt_per_s=\([0-9.]*\).*/\1/p' <<<"$out" |
      awk -v d="$DURATION" '{ print $1 * d }')
  else
    out=$(taskset -c "$CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" \
      "http://127.0.0.1:$server_port/" 2>&1)
    note "$(grep 'requests in' <<<"$out")"
    count=$(awk '/requests in/ { print $1 }' <<<"$out")
  fi
  # callgrind writes its totals when the server exits: SIGINT stops
  # corio's servers cleanly; the anchors need SIGTERM. Valgrind delivers a
  # signal only when the syscall it arrived in returns, and io_uring_enter
  # does not return for one: a connection wakes the server.
  stop_server INT || stop_server TERM || {
    note "$name (pid $server_pid) ignores SIGINT and SIGTERM: killed"
    kill -KILL "$server_pid" 2>/dev/null || true
  }
  wait "$server_pid" 2>/dev/null || true
  total=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$tmp/$name.cg")
  if [ -z "$count" ] || [ -z "$total" ]; then
    note "$name: no count"
    return 0
  fi
  if [ "$kind" = echo ]; then
    figure "echo_64B_c${CONNS}_${name}_user_ins_per_rt" \
      "$(awk -v t="$total" -v c="$count" 'BEGIN { print t / c }')" instructions
  else
    figure "http_c${CONNS}_${name}_user_ins_per_req" \
      "$(awk -v t="$total" -v c="$count" 'BEGIN { print t / c }')" instructions
  fi
}

for s in "${servers[@]}"; do
  case $s in
  corio | corio_uring)
    measure echo "$s" "$BUILD/examples/echo_server" --host 127.0.0.1 \
      --port '{PORT}'
    ;;
  epoll) measure echo epoll "$ANCHOR_BUILD/epoll_echo" '{PORT}' ;;
  libuv) measure echo libuv "$ANCHOR_BUILD/uv_echo" '{PORT}' ;;
  esac
done
if command -v wrk >/dev/null 2>&1; then
  for s in "${servers[@]}"; do
    case $s in
    corio | corio_uring)
      measure http "$s" "$BUILD/examples/http_hello" --host 127.0.0.1 \
        --port '{PORT}'
      ;;
    libuv) measure http libuv "$ANCHOR_BUILD/http_uv" '{PORT}' ;;
    esac
  done
else
  note "HTTP skipped: wrk is not installed (apt-get install wrk)"
fi
poller_warnings
