#!/bin/sh
# `make soak`: C10K and beyond (bench/c10k.c; not part of `make test`,
# whose net.scale runs 2,000 connections). Builds Release as `make bench`
# does, then runs:
#   1. one corio server loop holding SOAK_CONNECTIONS connections from one
#      client process, every connection exchanging SOAK_MESSAGES messages;
#   2. SOAK_BIG_CONNECTIONS connections across SOAK_PROCESSES server
#      processes (a loop each, one port shared with SO_REUSEPORT) and as
#      many client processes, SOAK_BIG_MESSAGES messages each.
# Every byte is checked; each run prints its `name: value unit` figures
# (connections held, messages, errors, server RSS before and after
# connecting, RSS per connection, time to connect, exchange rate).
#
# Where the machine cannot hold the second case (system-wide file limit,
# or more processes needed than c10k takes), it says exactly why and shows
# the case by simulation instead: the per-connection memory measured in
# the first run times SOAK_BIG_CONNECTIONS.
#
# Environment:
#   SOAK_CONNECTIONS=19000       case 1 (the fd limit per process must
#                                hold it plus a few: `ulimit -Hn`)
#   SOAK_MESSAGES=20             messages per connection, case 1
#   SOAK_BIG_CONNECTIONS=100000  case 2 (0 skips it)
#   SOAK_PROCESSES=6             server processes (and client processes),
#                                case 2; raised if the fd limit needs more
#   SOAK_BIG_MESSAGES=10         messages per connection, case 2
#   SOAK_SIZE=128                largest message (bytes; lengths vary 1..)
#   SOAK_STALL=60                seconds without progress that end a run
#                                (what is left counts as lost)
#   BUILD_DIR=build              the build goes to $BUILD_DIR/release
#   JOBS=nproc                   build parallelism
#
# Exits non-zero if any message was lost or corrupted, or a run failed.
set -eu

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
SOAK_CONNECTIONS=${SOAK_CONNECTIONS:-19000}
SOAK_MESSAGES=${SOAK_MESSAGES:-20}
SOAK_BIG_CONNECTIONS=${SOAK_BIG_CONNECTIONS:-100000}
SOAK_PROCESSES=${SOAK_PROCESSES:-6}
SOAK_BIG_MESSAGES=${SOAK_BIG_MESSAGES:-10}
SOAK_SIZE=${SOAK_SIZE:-128}
SOAK_STALL=${SOAK_STALL:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

number() { # number <name> <value>
  case $2 in '' | *[!0-9]*)
    echo "soak: $1 must be a number, not '$2'" >&2
    exit 2 ;;
  esac
}
number SOAK_CONNECTIONS "$SOAK_CONNECTIONS"
number SOAK_MESSAGES "$SOAK_MESSAGES"
number SOAK_BIG_CONNECTIONS "$SOAK_BIG_CONNECTIONS"
number SOAK_PROCESSES "$SOAK_PROCESSES"
number SOAK_BIG_MESSAGES "$SOAK_BIG_MESSAGES"
number SOAK_SIZE "$SOAK_SIZE"
number SOAK_STALL "$SOAK_STALL"

stage() { printf '\n=== corio soak: %s ===\n' "$*"; }

stage "Release build ($BUILD_DIR/release)"
cmake -S . -B "$BUILD_DIR/release" -DCMAKE_BUILD_TYPE=Release \
  -DCORIO_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR/release" -j "$JOBS" --target c10k
c10k=$BUILD_DIR/release/bench/c10k

# c10k raises the soft fd limit to the hard one itself.
fd_limit=$(awk '/^Max open files/ { print $5 }' /proc/self/limits)
case $fd_limit in '' | *[!0-9]*) fd_limit=1048576 ;; esac
file_max=$(cat /proc/sys/fs/file-max 2>/dev/null || echo 0)
files_used=$(awk '{ print $1 }' /proc/sys/fs/file-nr 2>/dev/null || echo 0)
echo "fd limit per process: $fd_limit; system: $files_used of $file_max in use"
echo "ephemeral ports: $(tr '\t' ' ' </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)" \
  "per source address (c10k uses one per 10,000 connections)"

failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# run <figures prefix> <c10k arguments...>: prints the figures; counts a
# failure (lost or corrupted messages, or no run) in $failed.
run() {
  label=$1
  shift
  set -- "$@" --size "$SOAK_SIZE" --stall "$SOAK_STALL" --label "$label"
  echo "\$ $c10k $*"
  status=0
  start=$(date +%s)
  "$c10k" "$@" >"$out" || status=$?
  cat "$out"
  echo "${label}_wall_time: $(($(date +%s) - start)) s"
  if [ "$status" -ne 0 ]; then
    echo "soak: $label FAILED (exit $status)" >&2
    failed=$((failed + 1))
  fi
}

figure() { # figure <name>: its value in the last run's output
  sed -n "s/^$1: \([0-9.]*\).*/\1/p" "$out"
}

# --- 1. one loop ---------------------------------------------------------
stage "$SOAK_CONNECTIONS connections on one corio loop"
run c10k --connections "$SOAK_CONNECTIONS" --processes 1 \
  --messages "$SOAK_MESSAGES"
per_conn=$(figure c10k_rss_per_conn)

# --- 2. beyond one process -------------------------------------------------
if [ "$SOAK_BIG_CONNECTIONS" -gt 0 ]; then
  n=$SOAK_BIG_CONNECTIONS
  p=$SOAK_PROCESSES
  [ "$p" -ge 1 ] || p=1
  # Each server holds n / p connections, give or take SO_REUSEPORT's
  # spread (c10k wants 5 % and 64 fds to spare); add processes until
  # that fits the per-process limit.
  while [ $(((n + p - 1) / p + (n + p - 1) / p / 20 + 64)) -gt "$fd_limit" ]; do
    p=$((p + 1))
  done
  # Both ends of every connection are open files of this system.
  need=$((2 * n + 4 * p * 64))
  why=""
  if [ "$p" -gt 64 ]; then
    why="$p processes of at most $fd_limit fds each would be needed; c10k takes 64"
  elif [ $((file_max - files_used)) -lt "$need" ]; then
    why="fs.file-max ($file_max, $files_used in use) leaves fewer than the $need open files needed"
  elif [ $((n / 10000)) -gt 250 ]; then
    why="more than 250 client source addresses would be needed"
  fi
  if [ -z "$why" ]; then
    stage "$n connections: $p server processes, $p client processes"
    run c100k --connections "$n" --processes "$p" \
      --messages "$SOAK_BIG_MESSAGES"
  else
    stage "$n connections: simulated"
    echo "this machine cannot hold them: $why"
    if [ -n "$per_conn" ]; then
      echo "simulated from the measured ${per_conn} bytes per connection" \
        "(case 1), spread over $p processes:"
      echo "c100k_simulated_connections: $n"
      echo "c100k_simulated_server_processes: $p"
      echo "c100k_simulated_server_rss_for_connections: $((per_conn * n)) bytes"
      echo "c100k_simulated_connections_per_process: $(((n + p - 1) / p))"
    fi
  fi
fi

stage "summary"
if [ "$failed" -ne 0 ]; then
  echo "soak: $failed run(s) lost or corrupted messages, or failed"
  exit 1
fi
echo "soak: no message lost or corrupted"
