#!/usr/bin/env bash
# TCP echo round trips: corio's examples/echo_server, on its epoll loop and
# on its io_uring loop, side by side with the anchor servers of
# ../shared/bench (epoll_echo, the floor for readiness-based I/O, and
# uv_echo, libuv), under that directory's echo_bench load generator. See
# bench/README.md.
#
#   bench/net_echo.sh
#
# Builds the anchor programs into $ANCHOR_BUILD (default
# /tmp/corio-anchor-bench) and corio (Release, in build/release). The
# servers (SERVERS, default "corio corio_uring epoll libuv"; corio is
# echo_server with CORIO_POLLER=epoll, corio_uring the same binary with
# CORIO_POLLER=io_uring) and echo_bench all run pinned to one CPU ($CPU,
# default 1). For each case (CASES, "SIZE:CONNECTIONS ...", default
# 64-byte messages at 1, 10, 100 and 1000 connections and 4096 bytes at
# 100) it runs `echo_bench -s SIZE -c CONNECTIONS -w $WARMUP -d $DURATION`
# against each server in turn, $ROUNDS times (the servers interleaved: all
# once, then again), and prints the medians:
#
#   echo_64B_c100_corio: 351234 rt/s
#   echo_64B_c100_corio_uring: 380000 rt/s
#   echo_64B_c100_epoll: 362000 rt/s
#   echo_64B_c100_libuv: 340000 rt/s
#   echo_64B_c100_ratio_vs_epoll: 0.97 x        (corio on epoll)
#   echo_64B_c100_ratio_vs_libuv: 1.03 x
#   echo_64B_c100_uring_ratio_vs_epoll: 1.05 x  (corio on io_uring)
#   echo_64B_c100_uring_ratio_vs_libuv: 1.12 x
#   echo_64B_c100_uring_ratio_vs_corio: 1.08 x
#   echo_64B_c100_corio_srv_cpu_ns_per_rt: 2500 ns
#   echo_64B_c100_corio_ins_per_rt: 9000 instructions
#   echo_64B_c100_corio_uring_syscalls_per_rt: 0.04 syscalls
#
# srv_cpu_ns_per_rt: the server's CPU time (/proc/PID/stat, as echo_bench
# -P reads it) per round trip. ins_per_rt: the server's instructions
# (user and kernel, `perf stat -e instructions -p PID` over most of the
# measured window) per round trip; only where perf can count them, which
# a VM often cannot (the reason is printed). Without libuv1-dev the libuv
# server is skipped, with the reason printed.
#
# Then, unless COUNT=0, one more run per server and case ($COUNT_DURATION
# s, not in the medians: the tracepoints slow every syscall) counts the
# server's kernel entries with perf's syscall and io_uring tracepoints,
# per round trip: syscalls (every syscall, io_uring_enter included), cs
# (context switches), and for a server holding an io_uring instance
# uring_enters (io_uring_enter calls), sqes (requests submitted),
# poll_arms (requests that found their socket not ready and waited on a
# poll) and async_punts (requests handed to io-wq worker threads).
#
# A corio server that does not hold the poller its name says (an
# io_uring instance for corio_uring: none when the backend is missing or
# fell back to epoll) is reported with a WARNING, at its start and at the
# end.
#
# Environment: SERVERS, ROUNDS (3), DURATION (5 s), WARMUP (1 s), CPU,
# CASES, COUNT (1), COUNT_DURATION (2 s), BUILD, ANCHOR_SRC, ANCHOR_BUILD,
# CORIO_ARGS (more flags for echo_server, e.g. "--mode read" or "--drain
# always"). Progress and each run's RESULT line go to stderr as "# " lines.
set -euo pipefail
# shellcheck source=bench/net_common.sh
. "$(dirname "$0")/net_common.sh"

CASES=${CASES:-"64:1 64:10 64:100 64:1000 4096:100"}
CORIO_ARGS=${CORIO_ARGS:-}
COUNT=${COUNT:-1}
COUNT_DURATION=${COUNT_DURATION:-2}

pick_servers "corio corio_uring epoll libuv" "corio corio_uring epoll libuv"
if has_server libuv && ! have_libuv; then
  drop_server libuv
  note "libuv skipped: libuv1-dev is not installed (apt-get install libuv1-dev)"
fi
[ "${#servers[@]}" -gt 0 ] || die "no servers left to run"
anchors=(echo_bench)
has_server epoll && anchors+=(epoll_echo)
has_server libuv && anchors+=(uv_echo)
build_anchors "${anchors[@]}"
if has_server corio || has_server corio_uring; then
  build_corio example_echo_server
fi
use_perf=1
perf_usable || {
  use_perf=0
  note "no instructions per round trip: $perf_reason"
}
use_counts=0
if [ "$COUNT" = 1 ]; then
  if counts_usable; then
    use_counts=1
  else
    note "no syscalls per round trip: $count_reason"
  fi
fi

declare -A pid port
for s in "${servers[@]}"; do
  case $s in
  corio | corio_uring)
    # shellcheck disable=SC2086
    start_server "$s" env "$(corio_env "$s")" "$BUILD/examples/echo_server" \
      --host 127.0.0.1 --port '{PORT}' $CORIO_ARGS
    ;;
  epoll) start_server epoll "$ANCHOR_BUILD/epoll_echo" '{PORT}' ;;
  libuv) start_server libuv "$ANCHOR_BUILD/uv_echo" '{PORT}' ;;
  esac
  pid[$s]=$server_pid port[$s]=$server_port
  check_poller "$s" "$server_pid"
done

# run_one SERVER SIZE CONNS [count]: one echo_bench run; appends its
# figures to $tmp/<case>_<server>.{rt,cpu,ins}, or with "count" (a
# $COUNT_DURATION-second run under the tracepoints) its kernel-entry
# counts to $tmp/<case>_<server>.<word>.
run_one() {
  local s=$1 size=$2 conns=$3 mode=${4:-measure} key="${2}B_c${3}_$1"
  local out rt spct ins window duration=$DURATION perf_events='' perf_pid=''
  alive "$s" "${pid[$s]}"
  if [ "$mode" = count ]; then
    duration=$COUNT_DURATION
    perf_events=$(IFS=,; echo "${count_events[*]}")
  elif [ "$use_perf" = 1 ]; then
    perf_events=instructions
  fi
  window=$(awk -v d="$duration" 'BEGIN { print d * 0.8 }')
  if [ -n "$perf_events" ]; then
    rm -f "$tmp/perf"
    perf_window "${pid[$s]}" "$(awk -v w="$WARMUP" 'BEGIN { print w + 0.2 }')" \
      "$window" "$tmp/perf" "$perf_events" &
    perf_pid=$!
  fi
  out=$(taskset -c "$CPU" "$ANCHOR_BUILD/echo_bench" -p "${port[$s]}" \
    -c "$conns" -s "$size" -d "$duration" -w "$WARMUP" -l "$s" \
    -P "${pid[$s]}" 2>&1) || {
    note "echo_bench failed against $s: $out"
    [ -z "$perf_pid" ] || wait "$perf_pid" || true
    return 0
  }
  note "$out"
  rt=$(sed -n 's/.*rt_per_s=\([0-9.]*\).*/\1/p' <<<"$out")
  [ -z "$perf_pid" ] || wait "$perf_pid" || true
  if [ "$mode" = count ]; then
    counts_record "$tmp/perf" "$key" "$rt" "$window"
    return 0
  fi
  spct=$(sed -n 's/.*server_cpu_pct=\([0-9.]*\).*/\1/p' <<<"$out")
  echo "$rt" >>"$tmp/$key.rt"
  [ -n "$spct" ] && awk -v p="$spct" -v r="$rt" \
    'BEGIN { if (r > 0) print p / 100 * 1e9 / r }' >>"$tmp/$key.cpu"
  if [ -n "$perf_pid" ]; then
    ins=$(perf_count "$tmp/perf")
    [ -n "$ins" ] && awk -v i="$ins" -v r="$rt" -v w="$window" \
      'BEGIN { if (r > 0) print i / (r * w) }' >>"$tmp/$key.ins"
  fi
  return 0
}

for c in $CASES; do
  size=${c%%:*} conns=${c##*:}
  for r in $(seq "$ROUNDS"); do
    for s in "${servers[@]}"; do
      note "case ${size}B c$conns, round $r/$ROUNDS: $s"
      run_one "$s" "$size" "$conns"
    done
  done
  if [ "$use_counts" = 1 ]; then
    for s in "${servers[@]}"; do
      note "case ${size}B c$conns, counting kernel entries: $s"
      run_one "$s" "$size" "$conns" count
    done
  fi
  name="echo_${size}B_c${conns}"
  declare -A med=()
  for s in "${servers[@]}"; do
    # shellcheck disable=SC2046
    med[$s]=$(median $(values "$tmp/${size}B_c${conns}_$s.rt"))
    figure "${name}_$s" "${med[$s]}" "rt/s"
  done
  figure "${name}_ratio_vs_epoll" \
    "$(ratio "${med[corio]:-}" "${med[epoll]:-}")" x 2
  figure "${name}_ratio_vs_libuv" \
    "$(ratio "${med[corio]:-}" "${med[libuv]:-}")" x 2
  for b in epoll libuv corio; do
    figure "${name}_uring_ratio_vs_$b" \
      "$(ratio "${med[corio_uring]:-}" "${med[$b]:-}")" x 2
  done
  for s in "${servers[@]}"; do
    # shellcheck disable=SC2046
    figure "${name}_${s}_srv_cpu_ns_per_rt" \
      "$(median $(values "$tmp/${size}B_c${conns}_$s.cpu"))" ns
    # shellcheck disable=SC2046
    figure "${name}_${s}_ins_per_rt" \
      "$(median $(values "$tmp/${size}B_c${conns}_$s.ins"))" instructions
    [ "$use_counts" = 0 ] ||
      counts_print "$name" "$s" "${size}B_c${conns}_$s" rt
  done
  unset med
done
poller_warnings
