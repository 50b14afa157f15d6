#!/bin/sh
# Installs a build into a scratch prefix and builds a program against it
# twice: with pkg-config (corio.pc) and with find_package(corio).
# Usage: check_install.sh <build dir> <source dir> <scratch dir>
set -eu
build=$1 src=$2 scratch=$3
rm -rf "$scratch"
mkdir -p "$scratch"
prefix=$scratch/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
for f in include/corio.h include/corio/coro.h; do
  test -f "$prefix/$f" || { echo "missing $f"; exit 1; }
done
libdir=$(dirname "$(find "$prefix" -name libcorio.a | head -n 1)")
test -f "$libdir/libcorio.a" && test -e "$libdir/libcorio.so"

expect() { # expect <program>
  out=$(LD_LIBRARY_PATH=$libdir "$1")
  test "$out" = "$(printf 'first\nsecond')" || { echo "$1 printed: $out"; exit 1; }
}

# pkg-config, shared and static.
export PKG_CONFIG_PATH=$libdir/pkgconfig
cc -o "$scratch/pc_shared" "$src/consumer.c" $(pkg-config --cflags --libs corio)
expect "$scratch/pc_shared"
cc -static-libgcc -o "$scratch/pc_static" "$src/consumer.c" \
  $(pkg-config --cflags corio) "$libdir/libcorio.a" $(pkg-config --libs-only-other --static corio) -lpthread
expect "$scratch/pc_static"

# find_package(corio).
cmake -S "$src" -B "$scratch/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$scratch/consumer" >/dev/null
expect "$scratch/consumer/consumer_shared"
expect "$scratch/consumer/consumer_static"
echo "install: headers, libcorio.a, libcorio.so, corio.pc and find_package(corio) work"
