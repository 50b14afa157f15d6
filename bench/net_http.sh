#!/usr/bin/env bash
# HTTP/1.1 keep-alive "plaintext": corio's examples/http_hello side by side
# with ../shared/bench's http_uv (libuv), under wrk. See bench/README.md.
#
#   bench/net_http.sh
#
# Builds http_uv into $ANCHOR_BUILD (default /tmp/corio-anchor-bench) and
# corio (Release, in build/release). Both servers and wrk run pinned to
# one CPU ($CPU, default 1). After a $WARMUP-second wrk run against each
# server, `wrk -t1 -c$CONNS -d${DURATION}s` runs against each in turn,
# $ROUNDS times (interleaved: both once, then again), and the medians are
# printed:
#
#   http_c100_corio: 250000 req/s
#   http_c100_libuv: 266000 req/s
#   http_c100_ratio_vs_libuv: 0.94 x
#   http_c100_corio_srv_cpu_ns_per_req: 2500 ns
#   http_c100_corio_ins_per_req: 9000 instructions
#
# srv_cpu_ns_per_req: the server's CPU time (/proc/PID/stat) over the run
# per request. ins_per_req: the server's instructions (`perf stat -e instructions -p
# PID` over most of the run) per request, where perf can count them (the
# reason is printed where it cannot). A run whose wrk reports socket
# errors or non-2xx answers is reported on stderr and not counted. Without
# wrk (apt-get install wrk) nothing runs; without libuv1-dev only corio
# runs (both say why).
#
# Environment: ROUNDS (3), DURATION (5 s; whole seconds, for wrk), WARMUP
# (1 s; 0: none), CONNS (100), CPU, BUILD, ANCHOR_SRC, ANCHOR_BUILD,
# CORIO_ARGS (more flags for http_hello). Progress and wrk's summaries go to stderr as "# " lines.
set -euo pipefail
# shellcheck source=bench/net_common.sh
. "$(dirname "$0")/net_common.sh"

CONNS=${CONNS:-100}
CORIO_ARGS=${CORIO_ARGS:-}

if ! command -v wrk >/dev/null 2>&1; then
  note "skipped: wrk is not installed (apt-get install wrk)"
  exit 0
fi
servers=(corio)
if have_libuv; then
  servers+=(libuv)
  build_anchors http_uv
else
  note "libuv skipped: libuv1-dev is not installed (apt-get install libuv1-dev)"
fi
build_corio example_http_hello
use_perf=1
perf_usable || {
  use_perf=0
  note "no instructions per request: $perf_reason"
}

declare -A pid port
# shellcheck disable=SC2086
start_server corio "$BUILD/examples/http_hello" --host 127.0.0.1 \
  --port '{PORT}' $CORIO_ARGS
pid[corio]=$server_pid port[corio]=$server_port
if [ "${#servers[@]}" = 2 ]; then
  start_server libuv "$ANCHOR_BUILD/http_uv" '{PORT}'
  pid[libuv]=$server_pid port[libuv]=$server_port
fi

# wrk_run SERVER SECONDS: wrk's output.
wrk_run() {
  taskset -c "$CPU" wrk -t1 -c"$CONNS" -d"${2}s" \
    "http://127.0.0.1:${port[$1]}/" 2>&1
}

# cpu_ticks PID: the process's user + system time, in clock ticks.
cpu_ticks() {
  awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# run_one SERVER: one measured run; appends to $tmp/<server>.{rps,cpu,ins}.
run_one() {
  local s=$1 out rps ins window perf_pid='' t0 t1 reqs
  alive "$s" "${pid[$s]}"
  t0=$(cpu_ticks "${pid[$s]}")
  window=$(awk -v d="$DURATION" 'BEGIN { print d * 0.8 }')
  if [ "$use_perf" = 1 ]; then
    perf_window "${pid[$s]}" 0.2 "$window" "$tmp/perf" &
    perf_pid=$!
  fi
  out=$(wrk_run "$s" "$DURATION") || true
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

values() { if [ -e "$1" ]; then cat "$1"; fi; }

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

name="http_c${CONNS}"
declare -A med=()
for s in "${servers[@]}"; do
  # shellcheck disable=SC2046
  med[$s]=$(median $(values "$tmp/$s.rps"))
  figure "${name}_$s" "${med[$s]}" "req/s"
done
if [ -n "${med[libuv]:-}" ]; then
  figure "${name}_ratio_vs_libuv" "$(ratio "${med[corio]}" "${med[libuv]}")" x 2
fi
for s in "${servers[@]}"; do
  # shellcheck disable=SC2046
  figure "${name}_${s}_srv_cpu_ns_per_req" \
    "$(median $(values "$tmp/$s.cpu"))" ns
  # shellcheck disable=SC2046
  figure "${name}_${s}_ins_per_req" "$(median $(values "$tmp/$s.ins"))" \
    instructions
done
