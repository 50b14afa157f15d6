#!/bin/sh
# Every test stage of `make test`, in order; stops at the first failure.
#   1. normal build (RelWithDebInfo), whole suite
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build, whole suite
#   3. coroutine, loop, task, sync, thread, net, proc and hook tests under Valgrind
#      memcheck (0 errors, no definite leaks)
#   4. ThreadSanitizer build, thread tests
#   5. ucontext backend, coroutine tests
#   6. aarch64 cross build, coroutine tests under qemu-aarch64
set -eu

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

stage() { printf '\n=== corio test stage: %s ===\n' "$*"; }

build() { # build <dir> <cmake args...>
  dir=$1
  shift
  cmake -S . -B "$dir" -DCORIO_BUILD_BENCH=OFF "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
}

run_ctest() { # run_ctest <dir> <ctest args...>
  dir=$1
  shift
  (cd "$dir" && ctest --output-on-failure -j "$JOBS" "$@")
}

stage "normal build"
build "$BUILD_DIR/test" -DCMAKE_BUILD_TYPE=RelWithDebInfo
run_ctest "$BUILD_DIR/test"

stage "ASan + UBSan"
build "$BUILD_DIR/asan" -DCMAKE_BUILD_TYPE=Debug -DCORIO_SANITIZE=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_ctest "$BUILD_DIR/asan"

stage "Valgrind memcheck (coroutine, loop, task, sync, thread, net, proc and hook tests)"
build "$BUILD_DIR/valgrind" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCORIO_TEST_LAUNCHER=valgrind;--error-exitcode=99;--leak-check=full;--errors-for-leak-kinds=definite;--track-origins=yes;-q"
run_ctest "$BUILD_DIR/valgrind" -L 'coro|loop|task|sync|thread|net|proc|hook'

stage "ThreadSanitizer (thread tests)"
build "$BUILD_DIR/tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORIO_TSAN=ON \
  -DCORIO_BUILD_EXAMPLES=OFF
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  run_ctest "$BUILD_DIR/tsan" -L thread

stage "ucontext backend (coroutine, task and sync tests)"
build "$BUILD_DIR/ucontext" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORIO_CONTEXT=ucontext
run_ctest "$BUILD_DIR/ucontext" -L 'coro|task|sync'

stage "aarch64 cross build under qemu-aarch64 (coroutine, task and sync tests)"
build "$BUILD_DIR/aarch64" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" \
  -DCORIO_BUILD_EXAMPLES=OFF -DCORIO_TLS=OFF
run_ctest "$BUILD_DIR/aarch64" -L 'coro|task|sync'

printf '\ncorio: all test stages passed\n'
