#!/bin/sh
# make fuzz: builds the libFuzzer harnesses of fuzz/ with clang
# (-fsanitize=fuzzer with AddressSanitizer and UndefinedBehaviorSanitizer,
# the library instrumented too) into $BUILD_DIR/fuzz, runs each one for
# FUZZ_SECONDS on its corpus (fuzz/corpus/<harness>/), merges the new
# inputs that reach new code back into that corpus (libFuzzer's -merge=1:
# only inputs that add coverage), and reports per harness the runs, the
# seconds and the crashes. Exits non-zero if any harness crashed (leaks
# and timeouts count); the crashing inputs are kept in
# $BUILD_DIR/fuzz/run/<harness>/ and never merged into the corpus.
#
#   FUZZ_SECONDS    seconds per harness (default 60)
#   FUZZ_HARNESSES  which ones, blank-separated (default: all)
#   FUZZ_MINIMIZE   1 (default): rewrite each corpus to a minimal set
#                   (a merge into an empty directory); 0: only add
#   BUILD_DIR, JOBS as for make test
set -eu

cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-2}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_HARNESSES=${FUZZ_HARNESSES:-stream_reader http_request tls_record}
FUZZ_MINIMIZE=${FUZZ_MINIMIZE:-1}
dir=$BUILD_DIR/fuzz

# clang and libFuzzer's runtime (Debian: clang and libclang-rt-<N>-dev);
# installed here rather than by deps.sh, since only make fuzz needs them.
have_libfuzzer() {
  probe=$(mktemp -d)
  printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {' \
    '  (void)d; (void)n; return 0; }' >"$probe/probe.c"
  ok=1
  clang -fsanitize=fuzzer,address "$probe/probe.c" -o "$probe/probe" \
    >/dev/null 2>&1 || ok=0
  rm -rf "$probe"
  [ "$ok" = 1 ]
}
if ! have_libfuzzer; then
  packages="clang libclang-rt-dev"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "corio: installing for make fuzz: $packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $packages
  fi
  if ! have_libfuzzer; then
    echo "corio: make fuzz needs clang with libFuzzer; as root:" >&2
    echo "    apt-get update && apt-get install -y $packages" >&2
    exit 1
  fi
fi

# The library is instrumented for coverage too (fuzzer-no-link).
cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCORIO_FUZZ=ON -DCORIO_SANITIZE=ON \
  -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link \
  -DCORIO_BUILD_TESTS=OFF -DCORIO_BUILD_EXAMPLES=OFF -DCORIO_BUILD_BENCH=OFF \
  -DCORIO_HOOK=OFF >"$dir.configure.log" 2>&1 ||
  { cat "$dir.configure.log" >&2; exit 1; }
targets=""
for h in $FUZZ_HARNESSES; do targets="$targets fuzz_$h"; done
# shellcheck disable=SC2086
cmake --build "$dir" -j "$JOBS" --target $targets

stat_of() { # stat_of <log> <name>: libFuzzer's -print_final_stats value
  sed -n "s/^stat::$2: *//p" "$1" | tail -n 1
}

failed=0
summary=""
for h in $FUZZ_HARNESSES; do
  corpus=fuzz/corpus/$h
  work=$dir/run/$h
  rm -rf "$work"
  mkdir -p "$work/new" "$work/artifacts" "$corpus"
  echo "fuzz: $h for ${FUZZ_SECONDS}s (log: $work/fuzz.log)"
  start=$(date +%s)
  rc=0
  # New inputs go to the first directory; the corpus is only read.
  "$dir/fuzz/fuzz_$h" -max_total_time="$FUZZ_SECONDS" -timeout=30 \
    -max_len=4096 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/new" "$corpus" >"$work/fuzz.log" 2>&1 || rc=$?
  seconds=$(($(date +%s) - start))
  runs=$(stat_of "$work/fuzz.log" number_of_executed_units)
  crashes=$(find "$work/artifacts" -type f | wc -l)
  if [ "$rc" != 0 ] && [ "$crashes" = 0 ]; then
    crashes=1 # it died without leaving an input: see the log
  fi
  before=$(find "$corpus" -type f | wc -l)
  if [ "$crashes" = 0 ]; then
    if [ "$FUZZ_MINIMIZE" = 1 ]; then
      rm -rf "$work/min" && mkdir -p "$work/min"
      "$dir/fuzz/fuzz_$h" -merge=1 -max_len=4096 "$work/min" "$corpus" \
        "$work/new" >"$work/merge.log" 2>&1
      if [ -n "$(ls -A "$work/min")" ]; then
        find "$corpus" -type f -delete
        cp "$work/min"/* "$corpus"/
      fi
    else
      "$dir/fuzz/fuzz_$h" -merge=1 -max_len=4096 "$corpus" "$work/new" \
        >"$work/merge.log" 2>&1
    fi
  else
    failed=1
    tail -n 40 "$work/fuzz.log" >&2
  fi
  after=$(find "$corpus" -type f | wc -l)
  line="fuzz: $h: ${runs:-0} runs in ${seconds}s, $crashes crashes, corpus $before -> $after inputs"
  echo "$line"
  summary="$summary$line
"
done
printf '%s' "$summary"
if [ "$failed" != 0 ]; then
  echo "fuzz: crashes found; the inputs are in $dir/run/<harness>/artifacts/" >&2
  exit 1
fi
