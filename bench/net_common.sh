# shellcheck shell=bash
# Shell helpers shared by bench/net_echo.sh and bench/net_http.sh (sourced,
# not run): building the anchor programs and corio, starting servers pinned
# to one CPU and waiting until they accept, medians, perf, cleanup.
# Everything listens on 127.0.0.1 only.

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

# perf_window PID DELAY SECONDS OUT: counts PID's instructions (user and
# kernel, every thread) from DELAY seconds from now, for SECONDS; the
# count goes to OUT. Run it in the background.
perf_window() {
  sleep "$2"
  perf stat -x, -e instructions -p "$1" -o "$4" -- sleep "$3" 2>/dev/null
}

# perf_count OUT: the instructions counted into OUT, or nothing.
perf_count() {
  awk -F, '/instructions/ && $1 ~ /^[0-9]+$/ { print $1 }' "$1" 2>/dev/null
}

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
# accepts connections; sets server_pid and server_port.
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
