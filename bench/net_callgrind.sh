#!/usr/bin/env bash
# User-space instructions per round trip (echo) and per request (HTTP) of
# corio's servers and the anchors, counted by Valgrind's callgrind: the
# steady figure where `perf stat -e instructions` cannot count (as on many
# VMs). Kernel work is not counted; it is the same syscalls for every
# server here (one read and one write per message). See bench/README.md.
#
#   bench/net_callgrind.sh
#
# Each server runs under callgrind on a free port; echo_bench (64-byte
# messages, $CONNS connections, $DURATION s, no warm-up) or wrk -t1
# -c$CONNS drives it; the server's total instructions, start-up and exit
# included (0.23 M for echo_server: under 0.1 % of a run), are divided by
# the round trips or requests the load generator reports:
#
#   echo_64B_c100_corio_user_ins_per_rt: 656 instructions
#   http_c100_libuv_user_ins_per_req: 771 instructions
#
# Environment: DURATION (10 s), CONNS (100), CPU, BUILD, ANCHOR_SRC,
# ANCHOR_BUILD. Needs valgrind; wrk for the HTTP figures and libuv1-dev for
# libuv's (each skipped, with the reason, when missing).
set -euo pipefail
# shellcheck source=bench/net_common.sh
. "$(dirname "$0")/net_common.sh"

DURATION=${DURATION:-10}
CONNS=${CONNS:-100}
command -v valgrind >/dev/null 2>&1 || die "valgrind is not installed"

anchors=(echo_bench epoll_echo)
with_libuv=0
if have_libuv; then
  anchors+=(uv_echo http_uv)
  with_libuv=1
else
  note "libuv skipped: libuv1-dev is not installed (apt-get install libuv1-dev)"
fi
build_anchors "${anchors[@]}"
build_corio example_echo_server example_http_hello

# measure KIND NAME PROGRAM ARGS...: prints the figure for one server.
measure() {
  local kind=$1 name=$2 out count total
  shift 2
  start_server "$name" valgrind --tool=callgrind \
    "--callgrind-out-file=$tmp/$name.cg" "$@"
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
  # corio's servers cleanly; the anchors need SIGTERM.
  kill -INT "$server_pid" 2>/dev/null || true
  for _ in $(seq 40); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  total=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$tmp/$name.cg")
  [ -n "$count" ] && [ -n "$total" ] || {
    note "$name: no count"
    return 0
  }
  if [ "$kind" = echo ]; then
    figure "echo_64B_c${CONNS}_${name}_user_ins_per_rt" \
      "$(awk -v t="$total" -v c="$count" 'BEGIN { print t / c }')" instructions
  else
    figure "http_c${CONNS}_${name}_user_ins_per_req" \
      "$(awk -v t="$total" -v c="$count" 'BEGIN { print t / c }')" instructions
  fi
}

measure echo corio "$BUILD/examples/echo_server" --host 127.0.0.1 \
  --port '{PORT}'
measure echo epoll "$ANCHOR_BUILD/epoll_echo" '{PORT}'
[ "$with_libuv" = 0 ] || measure echo libuv "$ANCHOR_BUILD/uv_echo" '{PORT}'
if command -v wrk >/dev/null 2>&1; then
  measure http corio "$BUILD/examples/http_hello" --host 127.0.0.1 \
    --port '{PORT}'
  [ "$with_libuv" = 0 ] || measure http libuv "$ANCHOR_BUILD/http_uv" '{PORT}'
else
  note "HTTP skipped: wrk is not installed (apt-get install wrk)"
fi
