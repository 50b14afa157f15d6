#!/usr/bin/env bash
# HTTP/1.1 keep-alive "plaintext": corio's examples/http_hello, on its epoll
# loop and on its io_uring loop, side by side with ../shared/bench's
# http_uv (libuv), under wrk. See bench/README.md.
#
#   bench/net_http.sh
#
# Builds http_uv into $ANCHOR_BUILD (default /tmp/corio-anchor-bench) and
# corio (Release, in build/release). The servers (SERVERS, default "corio
# corio_uring libuv"; corio is http_hello with CORIO_POLLER=epoll,
# corio_uring the same binary with CORIO_POLLER=io_uring) and wrk all run
# pinned to one CPU ($CPU, default 1). After a $WARMUP-second wrk run
# against each server, `wrk -t1 -c$CONNS -d${DURATION}s` runs against each
# in turn, $ROUNDS times (interleaved: all once, then again), and the
# medians are printed:
#
#   http_c100_corio: 250000 req/s
#   http_c100_corio_uring: 290000 req/s
#   http_c100_libuv: 266000 req/s
#   http_c100_ratio_vs_libuv: 0.94 x           (corio on epoll)
#   http_c100_uring_ratio_vs_libuv: 1.09 x     (corio on io_uring)
#   http_c100_uring_ratio_vs_corio: 1.16 x
#   http_c100_corio_srv_cpu_ns_per_req: 2500 ns
#   http_c100_corio_ins_per_req: 9000 instructions
#   http_c100_corio_uring_syscalls_per_req: 0.05 syscalls
#
# srv_cpu_ns_per_req: the server's CPU time (/proc/PID/stat) over the run
# per request. ins_per_req: the server's instructions (`perf stat -e
# instructions -p PID` over most of the run) per request, where perf can
# count them (the reason is printed where it cannot). A run whose wrk
# reports socket errors or non-2xx answers is reported on stderr and not
# counted. Without wrk (apt-get install wrk) nothing runs; without
# libuv1-dev libuv is skipped (both say why).
#
# Then, unless COUNT=0, one more wrk run per server ($COUNT_DURATION s,
# not in the medians) counts the server's kernel entries per request with
# perf's tracepoints: syscalls, cs, and for an io_uring server
# uring_enters, sqes, poll_arms and async_punts (as net_echo.sh says). A
# corio_uring server without an io_uring instance is reported with a
# WARNING.
#
# Environment: SERVERS, ROUNDS (3), DURATION (5 s; whole seconds, for
# wrk), WARMUP (1 s; 0: none), CONNS (100), COUNT (1), COUNT_DURATION (2
# s, whole seconds), CPU, BUILD, ANCHOR_SRC, ANCHOR_BUILD, CORIO_ARGS (more
# flags for http_hello). Progress and wrk's summaries go to stderr as "# "
# lines.
set -euo pipefail
# shellcheck source=bench/net_common.sh
. "$(dirname "$0")/net_common.sh"

CONNS=${CONNS:-100}
CORIO_ARGS=${CORIO_ARGS:-}
COUNT=${COUNT:-1}
COUNT_DURATION=${COUNT_DURATION:-2}

if ! command -v wrk >/dev/null 2>&1; then
  note "skipped: wrk is not installed (apt-get install wrk)"
  exit 0
fi
pick_servers "corio corio_uring libuv" "corio corio_uring libuv"
if has_server libuv; then
  if have_libuv; then
    build_anchors http_uv
  else
    drop_server libuv
    note "libuv skipped: libuv1-dev is not installed (apt-get install libuv1-dev)"
  fi
fi
[ "${#servers[@]}" -gt 0 ] || die "no servers left to run"
if has_server corio || has_server corio_uring; then
  build_corio example_http_hello
fi
use_perf=1
perf_usable || {
  use_perf=0
  note "no instructions per request: $perf_reason"
}
use_counts=0
if [ "$COUNT" = 1 ]; then
  if counts_usable; then
    use_counts=1
  else
    note "no syscalls per request: $count_reason"
  fi
fi

declare -A pid port
for s in "${servers[@]}"; do
  case $s in
  corio | corio_uring)
    # shellcheck disable=SC2086
    start_server "$s" env "$(corio_env "$s")" "$BUILD/examples/http_hello" \
      --host 127.0.0.1 --port '{PORT}' $CORIO_ARGS
    ;;
  libuv) start_server libuv "$ANCHOR_BUILD/http_uv" '{PORT}' ;;
  esac
  pid[$s]=$server_pid port[$s]=$server_port
  check_poller "$s" "$server_pid"
done

# wrk_run SERVER SECONDS: wrk's output.
wrk_run() {
  taskset -c "$CPU" wrk -t1 -c"$CONNS" -d"${2}s" \
    "http://127.0.0.1:${port[$1]}/" 2>&1
}

# cpu_ticks PID: the process's user + system time, in clock ticks.
cpu_ticks() {
  awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# run_one SERVER [count]: one measured run; appends to
# $tmp/<server>.{rps,cpu,ins}, or with "count" (a $COUNT_DURATION-second
# run under the tracepoints) its kernel-entry counts to $tmp/<server>.<word>.
run_one() {
  local s=$1 mode=${2:-measure} out rps ins window duration=$DURATION
  local perf_events='' perf_pid='' t0 t1 reqs
  alive "$s" "${pid[$s]}"
  if [ "$mode" = count ]; then
    duration=$COUNT_DURATION
    perf_events=$(IFS=,; echo "${count_events[*]}")
  elif [ "$use_perf" = 1 ]; then
    perf_events=instructions
  fi
  t0=$(cpu_ticks "${pid[$s]}")
  window=$(awk -v d="$duration" 'BEGIN { print d * 0.8 }')
  if [ -n "$perf_events" ]; then
    rm -f "$tmp/perf"
    perf_window "${pid[$s]}" 0.2 "$window" "$tmp/perf" "$perf_events" &
    perf_pid=$!
  fi
  out=$(wrk_run "$s" "$duration") || true
  t1=$(cpu_ticks "${pid[$s]}")
  [ -z "$perf_pid" ] || wait "$perf_pid" || true
  note "$s: $(tr '\n' ' ' <<<"$out" | tr -s ' ')"
  if grep -qE 'Socket errors|Non-2xx' <<<"$out"; then
    note "$s: errors in this run: not counted"
    return 0
  fi
  rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$out")
  [ -n "$rps" ] || {
    note "$s: no Requests/sec in wrk's output"
    return 0
  }
  if [ "$mode" = count ]; then
    counts_record "$tmp/perf" "$s" "$rps" "$window"
    return 0
  fi
  echo "$rps" >>"$tmp/$s.rps"
  reqs=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' <<<"$out")
  [ -n "$reqs" ] && awk -v a="$t0" -v b="$t1" -v n="$reqs" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { if (n > 0) print (b - a) / hz * 1e9 / n }' >>"$tmp/$s.cpu"
  if [ -n "$perf_pid" ]; then
    ins=$(perf_count "$tmp/perf")
    [ -n "$ins" ] && awk -v i="$ins" -v r="$rps" -v w="$window" \
      'BEGIN { if (r > 0) print i / (r * w) }' >>"$tmp/$s.ins"
  fi
  return 0
}

if awk -v w="$WARMUP" 'BEGIN { exit !(w > 0) }'; then
  for s in "${servers[@]}"; do
    note "warm-up: $s, ${WARMUP}s"
    wrk_run "$s" "$WARMUP" >/dev/null || true
  done
fi
for r in $(seq "$ROUNDS"); do
  for s in "${servers[@]}"; do
    note "round $r/$ROUNDS: $s"
    run_one "$s"
  done
done
if [ "$use_counts" = 1 ]; then
  for s in "${servers[@]}"; do
    note "counting kernel entries: $s"
    run_one "$s" count
  done
fi

name="http_c${CONNS}"
declare -A med=()
for s in "${servers[@]}"; do
  # shellcheck disable=SC2046
  med[$s]=$(median $(values "$tmp/$s.rps"))
  figure "${name}_$s" "${med[$s]}" "req/s"
done
figure "${name}_ratio_vs_libuv" \
  "$(ratio "${med[corio]:-}" "${med[libuv]:-}")" x 2
for b in libuv corio; do
  figure "${name}_uring_ratio_vs_$b" \
    "$(ratio "${med[corio_uring]:-}" "${med[$b]:-}")" x 2
done
for s in "${servers[@]}"; do
  # shellcheck disable=SC2046
  figure "${name}_${s}_srv_cpu_ns_per_req" \
    "$(median $(values "$tmp/$s.cpu"))" ns
  # shellcheck disable=SC2046
  figure "${name}_${s}_ins_per_req" "$(median $(values "$tmp/$s.ins"))" \
    instructions
  [ "$use_counts" = 0 ] || counts_print "$name" "$s" "$s" req
done
poller_warnings
