# shellcheck shell=bash
# Shell helpers shared by bench/net_echo.sh, bench/net_http.sh and
# bench/net_callgrind.sh (sourced, not run): building the anchor programs
# and corio, picking and starting servers pinned to one CPU and waiting
# until they accept, medians, perf, cleanup. Everything listens on
# 127.0.0.1 only.

root=$(cd "$(dirname "$0")/.." && pwd)
# The anchor programs (never copied into the repository: built from there).
ANCHOR_SRC=${ANCHOR_SRC:-$root/../shared/bench}
ANCHOR_BUILD=${ANCHOR_BUILD:-/tmp/corio-anchor-bench}
BUILD=${BUILD:-$root/build/release}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
# Servers and load generators share one CPU (../shared/bench/README.md
# says why); CPU 1 where there is one.
if [ -z "${CPU:-}" ]; then
  if taskset -c 1 true 2>/dev/null; then CPU=1; else CPU=0; fi
fi

note() { printf '# %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# have_libuv: a program using libuv (libuv1-dev) compiles and links.
have_libuv() {
  printf '#include <uv.h>\nint main(void) { return uv_version() == 0; }\n' |
    "${CC:-cc}" -x c - -o "$tmp/uv_check" -luv >/dev/null 2>&1
}

# build_anchors TARGET...: builds the named anchor programs into
# $ANCHOR_BUILD.
build_anchors() {
  [ -d "$ANCHOR_SRC" ] || die "no anchor programs at $ANCHOR_SRC"
  local targets=() t
  for t in "$@"; do targets+=("$ANCHOR_BUILD/$t"); done
  note "make -C $ANCHOR_SRC B=$ANCHOR_BUILD ${*}"
  make -s -C "$ANCHOR_SRC" B="$ANCHOR_BUILD" "${targets[@]}" >&2 ||
    die "building the anchor programs failed"
}

# build_corio TARGET...: a Release build of corio in $BUILD.
build_corio() {
  note "cmake -S $root -B $BUILD -DCMAKE_BUILD_TYPE=Release -DCORIO_BUILD_TESTS=OFF"
  cmake -S "$root" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
    -DCORIO_BUILD_TESTS=OFF >/dev/null || die "cmake failed"
  cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" \
    --target "$@" >/dev/null || die "building corio failed"
}

# perf_usable: `perf stat -e instructions` counts on this machine (a VM
# may not expose the hardware counters). Sets perf_reason when not.
# shellcheck disable=SC2034 # perf_reason is for the scripts that source this
perf_usable() {
  local out
  if ! command -v perf >/dev/null 2>&1; then
    perf_reason="perf is not installed (linux-perf)"
    return 1
  fi
  out=$(perf stat -x, -e instructions -- true 2>&1 | tail -n 1)
  case "$out" in
  [0-9]*) return 0 ;;
  esac
  perf_reason="perf stat -e instructions: ${out%%,*}"
  return 1
}

# perf_window PID DELAY SECONDS OUT [EVENTS]: counts PID's EVENTS
# (default instructions; user and kernel, every thread existing when it
# starts) from DELAY seconds from now, for SECONDS; the counts go to OUT.
# Run it in the background.
perf_window() {
  sleep "$2"
  perf stat -x, -e "${5:-instructions}" -p "$1" -o "$4" -- sleep "$3" \
    2>/dev/null
}

# perf_count OUT [EVENT]: EVENT's count (default instructions) in OUT, or
# nothing.
perf_count() {
  awk -F, -v e="${2:-instructions}" \
    'index($3, e) == 1 && $1 ~ /^[0-9]+$/ { print $1 }' "$1" 2>/dev/null
}

# The kernel-entry counts (the count pass of net_echo.sh and net_http.sh):
# perf event, and the figure's word (NAME_SERVER_WORD_per_rt). Syscall and
# io_uring tracepoints count where the hardware counters are missing, as in
# most VMs; they slow every syscall on the machine while counted, so they
# are counted in runs of their own, never in the measured ones.
count_events=(raw_syscalls:sys_enter context-switches
  syscalls:sys_enter_io_uring_enter io_uring:io_uring_submit_req
  io_uring:io_uring_poll_arm io_uring:io_uring_queue_async_work)
count_words=(syscalls cs uring_enters sqes poll_arms async_punts)
count_units=(syscalls switches enters sqes arms punts)

# counts_usable: perf counts the syscall tracepoint here; drops from
# count_events (and count_words) the io_uring events this kernel lacks.
# Sets count_reason when it cannot count at all.
# shellcheck disable=SC2034 # count_reason is for the scripts
counts_usable() {
  local i out events=() words=() units=()
  if ! command -v perf >/dev/null 2>&1; then
    count_reason="perf is not installed (linux-perf)"
    return 1
  fi
  for i in "${!count_events[@]}"; do
    out=$(perf stat -x, -e "${count_events[$i]}" -- true 2>&1 | tail -n 1)
    case "$out" in
    [0-9]*)
      events+=("${count_events[$i]}")
      words+=("${count_words[$i]}")
      units+=("${count_units[$i]}")
      ;;
    *)
      [ "$i" != 0 ] ||
        count_reason="perf stat -e ${count_events[0]}: ${out%%,*}"
      ;;
    esac
  done
  [ "${events[0]:-}" = "${count_events[0]}" ] || return 1
  count_events=("${events[@]}")
  count_words=("${words[@]}")
  count_units=("${units[@]}")
}

# counts_record OUT KEY RATE SECONDS: each counted event of OUT divided by
# the round trips (or requests) of the window, RATE * SECONDS, appended to
# $tmp/KEY.WORD.
counts_record() {
  local i n
  for i in "${!count_events[@]}"; do
    n=$(perf_count "$1" "${count_events[$i]}")
    [ -n "$n" ] && awk -v n="$n" -v r="$3" -v w="$4" \
      'BEGIN { if (r > 0) print n / (r * w) }' >>"$tmp/$2.${count_words[$i]}"
  done
  return 0
}

# counts_print NAME SERVER KEY PER: the medians recorded by counts_record,
# as NAME_SERVER_WORD_per_PER figures; the io_uring ones only for a server
# that has an io_uring instance (they are 0 for the others).
counts_print() {
  local i w
  for i in "${!count_events[@]}"; do
    w=${count_words[$i]}
    case "${count_events[$i]}" in
    *io_uring*) [[ "${poller[$2]:-}" == *io_uring* ]] || continue ;;
    esac
    # shellcheck disable=SC2046
    figure "${1}_${2}_${w}_per_$4" "$(median $(values "$tmp/$3.$w"))" \
      "${count_units[$i]}" 2
  done
}

values() { if [ -e "$1" ]; then cat "$1"; fi; }

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
tmp=$(mktemp -d /tmp/corio-net-bench.XXXXXX)
trap cleanup EXIT
trap 'exit 130' INT TERM

# accepts PORT: something accepts connections on 127.0.0.1:PORT.
accepts() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port: a port nothing listens on (from a range of its own).
next_port=$((20000 + $$ % 20000))
free_port() {
  while accepts "$next_port"; do next_port=$((next_port + 1)); done
  port=$next_port
  next_port=$((next_port + 1))
}

# start_server NAME PROGRAM ARGS...: starts it pinned to $CPU on a free
# port ("{PORT}" in ARGS is replaced by it), waits (at most 10 s) until it
# accepts connections; sets server_pid and server_port. PROGRAM may be
# `env VAR=VALUE... PROGRAM` (env execs it: the pid stays the server's).
start_server() {
  local name=$1 a args=()
  shift
  free_port
  for a in "$@"; do args+=("${a//\{PORT\}/$port}"); done
  taskset -c "$CPU" "${args[@]}" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  server_pid=$!
  server_port=$port
  pids+=("$server_pid")
  for _ in $(seq 200); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      cat "$tmp/$name.err" >&2
      die "$name exited at start"
    fi
    accepts "$server_port" && break
    sleep 0.05
  done
  accepts "$server_port" || die "$name does not accept on port $server_port"
  note "$name: pid $server_pid, port $server_port, CPU $CPU: ${args[*]}"
}

# pick_servers KNOWN DEFAULT: sets servers to the names of $SERVERS
# (separated by spaces or commas; DEFAULT when unset), in that order,
# dropping (with a note) names not in KNOWN.
pick_servers() {
  local s list=${SERVERS:-$2}
  servers=()
  for s in ${list//,/ }; do
    if [[ " $1 " != *" $s "* ]]; then
      note "unknown server $s ignored (known: $1)"
    elif ! has_server "$s"; then
      servers+=("$s")
    fi
  done
  [ "${#servers[@]}" -gt 0 ] || die "no servers to run (SERVERS=${SERVERS:-})"
}

# has_server NAME: NAME is among $servers.
has_server() { [[ " ${servers[*]} " == *" $1 "* ]]; }

# drop_server NAME: removes NAME from $servers.
drop_server() {
  local s kept=()
  for s in "${servers[@]}"; do [ "$s" = "$1" ] || kept+=("$s"); done
  servers=("${kept[@]}")
}

# corio_env NAME: the environment corio's server NAME runs with: corio on
# epoll, corio_uring on io_uring. Set either way, so that a CORIO_POLLER
# exported by the caller (or a different default) changes neither.
corio_env() {
  case $1 in
  corio_uring) echo CORIO_POLLER=io_uring ;;
  *) echo CORIO_POLLER=epoll ;;
  esac
}

# poller_of PID: the kinds of poller PID holds, "io_uring" and/or
# "eventpoll" (an open descriptor, or for io_uring a mapped ring), or
# nothing.
poller_of() {
  local f l uring='' epoll=''
  for f in "/proc/$1/fd/"*; do
    l=$(readlink "$f" 2>/dev/null) || continue
    case $l in
    'anon_inode:[io_uring]') uring=io_uring ;;
    'anon_inode:[eventpoll]') epoll=eventpoll ;;
    esac
  done
  grep -qF 'anon_inode:[io_uring]' "/proc/$1/maps" 2>/dev/null &&
    uring=io_uring
  echo $uring $epoll
}

# check_poller NAME PID: records in poller[NAME] what PID holds, and warns
# (now, and again from poller_warnings at the end) when a corio server
# does not run on the poller its name says: corio_uring without an
# io_uring instance (the loop fell back to epoll, or the backend is not
# there yet), or corio without an epoll instance.
declare -A poller
warnings=()
check_poller() {
  local want=eventpoll msg
  poller[$1]=$(poller_of "$2")
  case $1 in corio_uring) want=io_uring ;; corio) ;; *) return 0 ;; esac
  [[ " ${poller[$1]} " == *" $want "* ]] && return 0
  msg="$1 (pid $2, $(corio_env "$1")) holds no $want instance"
  msg+=" (it holds: ${poller[$1]:-no poller}): its figures are not $want's"
  warnings+=("$msg")
  note "WARNING: ${warnings[-1]}"
}

# poller_warnings: repeats check_poller's warnings (for the end of a run).
poller_warnings() {
  local w
  for w in "${warnings[@]}"; do note "WARNING: $w"; done
}

# alive NAME PID: fails loudly if the server died.
alive() {
  kill -0 "$2" 2>/dev/null || {
    cat "$tmp/$1.err" >&2
    die "$1 (pid $2) is no longer running"
  }
}

# median V...: the median of the values (nothing for none).
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
    END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2];
          else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio A B: A / B with two decimals (nothing if either is missing).
ratio() {
  [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" \
    'BEGIN { if (b > 0) printf "%.2f\n", a / b }'
}

# figure NAME VALUE UNIT [DECIMALS]: one `name: value unit` line.
figure() {
  [ -n "$2" ] || return 0
  awk -v n="$1" -v v="$2" -v u="$3" -v d="${4:-0}" \
    'BEGIN { printf "%s: %.*f %s\n", n, d, v, u }'
}
