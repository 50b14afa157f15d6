#!/bin/sh
# `make stress-test`: the test suite on a loaded machine. Builds the normal
# (RelWithDebInfo) and ASan + UBSan test builds as scripts/test.sh does (same
# build directories, so the builds are shared), keeps every CPU busy with a
# burner at normal priority, and runs ctest on each build ROUNDS times. A
# test that passes only when it gets a CPU in time fails here.
#
# Environment:
#   ROUNDS=20           ctest runs per build
#   STRESS_FILTER=...   extra ctest arguments selecting tests, split on
#                       blanks, e.g. STRESS_FILTER='-L loop' or
#                       STRESS_FILTER='-R ^example\.'
#   STRESS_ASAN=1       0 skips the ASan + UBSan build
#   STRESS_VALGRIND=0   1 adds the Valgrind memcheck build (slow), on the
#                       coro, loop, task, sync, thread, net, proc and hook labels
#                       as test.sh
#   STRESS_BURNERS=N    busy loops to run (default: one per CPU)
#   BUILD_DIR=build     where the builds go; JOBS=nproc, as for test.sh
#
# Prints, at the end, the rounds run and every test that failed with how
# many times and how (Failed, Timeout, ...); exits non-zero if any did. The
# output of every round is kept in $BUILD_DIR/stress/<build>-<round>.log.
set -eu

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
ROUNDS=${ROUNDS:-20}
STRESS_FILTER=${STRESS_FILTER:-}
STRESS_ASAN=${STRESS_ASAN:-1}
STRESS_VALGRIND=${STRESS_VALGRIND:-0}
STRESS_BURNERS=${STRESS_BURNERS:-$(nproc 2>/dev/null || echo 2)}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

case $ROUNDS in '' | *[!0-9]* | 0)
  echo "stress-test: ROUNDS must be a positive number, not '$ROUNDS'" >&2
  exit 2 ;;
esac

stage() { printf '\n=== corio stress test: %s ===\n' "$*"; }

build() { # build <dir> <cmake args...>
  dir=$1
  shift
  cmake -S . -B "$dir" -DCORIO_BUILD_BENCH=OFF "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
}

# --- builds, before the load -------------------------------------------------
builds="test"
stage "normal build"
build "$BUILD_DIR/test" -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ "$STRESS_ASAN" = 1 ]; then
  stage "ASan + UBSan build"
  build "$BUILD_DIR/asan" -DCMAKE_BUILD_TYPE=Debug -DCORIO_SANITIZE=ON
  builds="$builds asan"
fi
if [ "$STRESS_VALGRIND" = 1 ]; then
  stage "Valgrind build"
  build "$BUILD_DIR/valgrind" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCORIO_TEST_LAUNCHER=valgrind;--error-exitcode=99;--leak-check=full;--errors-for-leak-kinds=definite;--track-origins=yes;-q"
  builds="$builds valgrind"
fi

logs=$BUILD_DIR/stress
mkdir -p "$logs"
logs=$(cd "$logs" && pwd)
failures=$logs/failures
: >"$failures"

# --- the burner --------------------------------------------------------------
# Plain shell busy loops at normal priority, so that they compete with the
# tests for every CPU. Each one checks now and then that this script is still
# there, so none outlives it even if it is killed with SIGKILL.
burners=""
stop_burners() {
  for pid in $burners; do
    kill "$pid" 2>/dev/null || :
  done
  for pid in $burners; do
    wait "$pid" 2>/dev/null || :
  done
  burners=""
}
trap stop_burners EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

self=$$
stage "starting $STRESS_BURNERS CPU burners"
n=0
while [ "$n" -lt "$STRESS_BURNERS" ]; do
  (
    trap - EXIT INT TERM HUP
    while kill -0 "$self" 2>/dev/null; do
      i=0
      while [ "$i" -lt 20000 ]; do i=$((i + 1)); done
    done
  ) &
  burners="$burners $!"
  n=$((n + 1))
done

# --- the rounds --------------------------------------------------------------
# Filters are split on blanks, not globbed.
set -f
# shellcheck disable=SC2086
set -- $STRESS_FILTER
set +f

run_round() { # run_round <build> <round>: appends its failures to $failures
  b=$1 r=$2
  shift 2
  log=$logs/$b-$r.log
  case $b in
    asan) env="ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1" ;;
    *) env="" ;;
  esac
  case $b in
    valgrind) label="-L coro|loop|task|sync|thread|net|proc|hook" ;;
    *) label="" ;;
  esac
  status=0
  # shellcheck disable=SC2086
  (cd "$BUILD_DIR/$b" && env $env ctest --output-on-failure -j "$JOBS" \
    --repeat until-fail:1 $label "$@") >"$log" 2>&1 || status=$?
  # ctest lists what failed after "The following tests FAILED:", one
  # "<number> - <name> (<why>)" line each.
  sed -n '/^The following tests FAILED:/,$p' "$log" |
    sed -n 's/^[[:space:]]*[0-9][0-9]* - \([^ ]*\) (\(.*\))[[:space:]]*$/\1 \2/p' |
    while read -r name why; do
      printf '%s %s %s %s\n' "$b" "$r" "$name" "$why" >>"$failures"
    done
  summary=$(grep -E '^[0-9]+% tests passed' "$log" || :)
  if [ "$status" -ne 0 ] && [ -z "$summary" ]; then
    # ctest itself failed (e.g. a broken build directory): count it.
    printf '%s %s %s %s\n' "$b" "$r" "(ctest)" "exit-$status" >>"$failures"
    summary="ctest exited with status $status"
  fi
  printf '%s round %s/%s: %s\n' "$b" "$r" "$ROUNDS" "${summary:-no tests ran}"
}

start=$(date +%s)
for b in $builds; do
  stage "$b build: $ROUNDS rounds under load"
  r=1
  while [ "$r" -le "$ROUNDS" ]; do
    run_round "$b" "$r" "$@"
    r=$((r + 1))
  done
done
stop_burners
elapsed=$(($(date +%s) - start))

# --- summary -----------------------------------------------------------------
stage "summary"
printf 'rounds: %s per build (%s), %s CPU burners, %s s; filter: %s\n' \
  "$ROUNDS" "$(echo "$builds" | tr ' ' ',')" "$STRESS_BURNERS" "$elapsed" \
  "${STRESS_FILTER:-none}"
if [ ! -s "$failures" ]; then
  echo "no test failed"
  exit 0
fi
echo "failed tests (build, test: times failed of $ROUNDS, how):"
awk '{ k = $1 " " $3; n[k]++; why = $4; for (i = 5; i <= NF; i++) why = why " " $i
       w[k, why]++; if (!((k, why) in seen)) { seen[k, why] = 1; ws[k] = ws[k] (ws[k] == "" ? "" : ", ") why } }
     END { for (k in n) { split(k, p, " "); out = ""
             m = split(ws[k], list, ", ")
             for (j = 1; j <= m; j++) out = out (j > 1 ? ", " : "") list[j] " x" w[k, list[j]]
             printf "  %-8s %-36s %3d  (%s)\n", p[1], p[2], n[k], out } }' \
  "$failures" | sort
echo "logs of the failing rounds:"
awk '{ print $1 "-" $2 }' "$failures" | sort -u | while read -r f; do
  echo "  $logs/$f.log"
done
exit 1
