#!/usr/bin/env bash
# TCP echo round trips: corio's examples/echo_server side by side with the
# anchor servers of ../shared/bench (epoll_echo, the floor for
# readiness-based I/O, and uv_echo, libuv), under that directory's
# echo_bench load generator. See bench/README.md.
#
#   bench/net_echo.sh
#
# Builds the anchor programs into $ANCHOR_BUILD (default
# /tmp/corio-anchor-bench) and corio (Release, in build/release). Every
# server, and echo_bench, runs pinned to one CPU ($CPU, default 1). For
# each case (CASES, "SIZE:CONNECTIONS ...", default 64-byte messages at 1,
# 10, 100 and 1000 connections and 4096 bytes at 100) it runs
# `echo_bench -s SIZE -c CONNECTIONS -w $WARMUP -d $DURATION` against each
# server in turn, $ROUNDS times (the servers interleaved: all once, then
# again), and prints the medians:
#
#   echo_64B_c100_corio: 351234 rt/s
#   echo_64B_c100_epoll: 362000 rt/s
#   echo_64B_c100_libuv: 340000 rt/s
#   echo_64B_c100_ratio_vs_epoll: 0.97 x
#   echo_64B_c100_ratio_vs_libuv: 1.03 x
#   echo_64B_c100_corio_srv_cpu_ns_per_rt: 2500 ns
#   echo_64B_c100_corio_ins_per_rt: 9000 instructions
#
# srv_cpu_ns_per_rt: the server's CPU time (/proc/PID/stat, as echo_bench
# -P reads it) per round trip. ins_per_rt: the server's instructions
# (user and kernel, `perf stat -e instructions -p PID` over most of the
# measured window) per round trip; only where perf can count them, which
# a VM often cannot (the reason is printed). Without libuv1-dev the libuv
# server is skipped, with the reason printed.
#
# Environment: ROUNDS (3), DURATION (5 s), WARMUP (1 s), CPU, CASES,
# BUILD, ANCHOR_SRC, ANCHOR_BUILD, CORIO_ARGS (more flags for
# echo_server, e.g. "--mode read" or "--drain always").
# Progress and each run's RESULT line go to stderr as "# " lines.
set -euo pipefail
# shellcheck source=bench/net_common.sh
. "$(dirname "$0")/net_common.sh"

CASES=${CASES:-"64:1 64:10 64:100 64:1000 4096:100"}
CORIO_ARGS=${CORIO_ARGS:-}

anchors=(echo_bench epoll_echo)
servers=(corio epoll)
if have_libuv; then
  anchors+=(uv_echo)
  servers+=(libuv)
else
  note "libuv skipped: libuv1-dev is not installed (apt-get install libuv1-dev)"
fi
build_anchors "${anchors[@]}"
build_corio example_echo_server
use_perf=1
perf_usable || {
  use_perf=0
  note "no instructions per round trip: $perf_reason"
}

declare -A pid port
# shellcheck disable=SC2086
start_server corio "$BUILD/examples/echo_server" --host 127.0.0.1 \
  --port '{PORT}' $CORIO_ARGS
pid[corio]=$server_pid port[corio]=$server_port
start_server epoll "$ANCHOR_BUILD/epoll_echo" '{PORT}'
pid[epoll]=$server_pid port[epoll]=$server_port
if [ "${#servers[@]}" = 3 ]; then
  start_server libuv "$ANCHOR_BUILD/uv_echo" '{PORT}'
  pid[libuv]=$server_pid port[libuv]=$server_port
fi

# run_one SERVER SIZE CONNS: one echo_bench run; appends its figures to
# $tmp/<case>_<server>.{rt,cpu,ins}.
run_one() {
  local s=$1 size=$2 conns=$3 key="${2}B_c${3}_$1" out rt spct ins window
  local perf_pid=''
  alive "$s" "${pid[$s]}"
  window=$(awk -v d="$DURATION" 'BEGIN { print d * 0.8 }')
  if [ "$use_perf" = 1 ]; then
    perf_window "${pid[$s]}" "$(awk -v w="$WARMUP" 'BEGIN { print w + 0.2 }')" \
      "$window" "$tmp/perf" &
    perf_pid=$!
  fi
  out=$(taskset -c "$CPU" "$ANCHOR_BUILD/echo_bench" -p "${port[$s]}" \
    -c "$conns" -s "$size" -d "$DURATION" -w "$WARMUP" -l "$s" \
    -P "${pid[$s]}" 2>&1) || {
    note "echo_bench failed against $s: $out"
    [ -z "$perf_pid" ] || wait "$perf_pid" || true
    return 0
  }
  note "$out"
  rt=$(sed -n 's/.*rt_per_s=\([0-9.]*\).*/\1/p' <<<"$out")
  spct=$(sed -n 's/.*server_cpu_pct=\([0-9.]*\).*/\1/p' <<<"$out")
  echo "$rt" >>"$tmp/$key.rt"
  [ -n "$spct" ] && awk -v p="$spct" -v r="$rt" \
    'BEGIN { if (r > 0) print p / 100 * 1e9 / r }' >>"$tmp/$key.cpu"
  if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || true
    ins=$(perf_count "$tmp/perf")
    [ -n "$ins" ] && awk -v i="$ins" -v r="$rt" -v w="$window" \
      'BEGIN { if (r > 0) print i / (r * w) }' >>"$tmp/$key.ins"
  fi
  return 0
}

values() { if [ -e "$1" ]; then cat "$1"; fi; }

for c in $CASES; do
  size=${c%%:*} conns=${c##*:}
  for r in $(seq "$ROUNDS"); do
    for s in "${servers[@]}"; do
      note "case ${size}B c$conns, round $r/$ROUNDS: $s"
      run_one "$s" "$size" "$conns"
    done
  done
  name="echo_${size}B_c${conns}"
  declare -A med=()
  for s in "${servers[@]}"; do
    # shellcheck disable=SC2046
    med[$s]=$(median $(values "$tmp/${size}B_c${conns}_$s.rt"))
    figure "${name}_$s" "${med[$s]}" "rt/s"
  done
  figure "${name}_ratio_vs_epoll" "$(ratio "${med[corio]}" "${med[epoll]}")" x 2
  if [ -n "${med[libuv]:-}" ]; then
    figure "${name}_ratio_vs_libuv" "$(ratio "${med[corio]}" "${med[libuv]}")" x 2
  fi
  for s in "${servers[@]}"; do
    # shellcheck disable=SC2046
    figure "${name}_${s}_srv_cpu_ns_per_rt" \
      "$(median $(values "$tmp/${size}B_c${conns}_$s.cpu"))" ns
    # shellcheck disable=SC2046
    figure "${name}_${s}_ins_per_rt" \
      "$(median $(values "$tmp/${size}B_c${conns}_$s.ins"))" instructions
  done
  unset med
done
