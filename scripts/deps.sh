#!/bin/sh
# Installs what building and testing corio needs, when it can (root with
# apt-get); otherwise names the exact command to run and fails. Packages
# only the benchmarks and the fuzzers use are installed along when
# possible, but their absence never fails the tests.
set -eu

missing=""
optional=""
need() { # need <package> <test command...>
  pkg=$1
  shift
  if ! "$@" >/dev/null 2>&1; then
    missing="$missing $pkg"
  fi
}
want() { # want <package> <test command...>: for `make bench`/`make fuzz` only
  pkg=$1
  shift
  if ! "$@" >/dev/null 2>&1; then
    optional="$optional $pkg"
  fi
}

have_file() { [ -e "$1" ]; }

need cmake command -v cmake
need make command -v make
need gcc command -v gcc
need pkg-config command -v pkg-config
need libc6-dev have_file /usr/include/stdio.h
need libcmocka-dev have_file /usr/include/cmocka.h
need valgrind command -v valgrind
# Backtraces of suspended tasks through DWARF CFI (corio loads libunwind at
# run time; without its header, builds fall back to frame pointers).
need libunwind-dev sh -c 'echo "#include <libunwind.h>" | gcc -E - >/dev/null'
# An independent peer for the net tests (Python's asyncio streams).
need python3 command -v python3
# TLS (src/net/tls_*.c over OpenSSL 3) and the openssl command its tests
# use as an independent peer (s_server, s_client).
need libssl-dev have_file /usr/include/openssl/ssl.h
need openssl command -v openssl
# The c-ares resolver (src/net/dns_ares.c; builds without it leave it out)
# and the DNS server its tests and example start on loopback (the binary
# only: the dnsmasq package would also start a system-wide service).
need libc-ares-dev have_file /usr/include/ares.h
need dnsmasq-base sh -c 'command -v dnsmasq || test -x /usr/sbin/dnsmasq'
# The hook layer's proof with an unmodified library (tests/hook/test_curl.c)
# and bench/hook_curl: libcurl's easy and multi APIs.
need libcurl4-openssl-dev sh -c 'echo "#include <curl/curl.h>" | gcc -E - >/dev/null'
# The hook layer's proofs against real servers the tests start themselves:
# hiredis with redis-server (tests/hook/test_redis.c), libpq with a
# PostgreSQL made by initdb (tests/hook/test_pq.c).
need libhiredis-dev have_file /usr/include/hiredis/hiredis.h
need redis-server sh -c 'command -v redis-server || test -x /usr/bin/redis-server'
need libpq-dev have_file /usr/include/postgresql/libpq-fe.h
need postgresql sh -c 'ls /usr/lib/postgresql/*/bin/initdb'
# The gdb support's test runs gdb on a live program and on a core dump
# (tools/gdb/corio_gdb.py; tests/gdb/check_gdb.sh).
need gdb command -v gdb
need qemu-user command -v qemu-aarch64
need gcc-aarch64-linux-gnu command -v aarch64-linux-gnu-gcc
need libc6-dev-arm64-cross have_file /usr/aarch64-linux-gnu/include/stdio.h
need libcmocka-dev:arm64 have_file /usr/lib/aarch64-linux-gnu/libcmocka.so
# Only `make bench` uses it, to measure Boost's fcontext side by side.
want libboost-context-dev have_file /usr/include/boost/context/detail/fcontext.hpp
# Only `make bench` uses it, to measure libuv's timers side by side, and
# bench/net_echo.sh and bench/net_http.sh, for the libuv anchor servers.
want libuv1-dev have_file /usr/include/uv.h
# Only bench/net_http.sh uses it: the HTTP load generator.
want wrk command -v wrk
# Only bench/net_echo.sh and bench/net_http.sh use it, for the servers'
# instructions per round trip (where the machine exposes the counters).
want linux-perf command -v perf
# Only `make fuzz` (scripts/fuzz.sh, which installs them itself too):
# clang and its libFuzzer runtime. The fuzz corpus replay tests of
# `make test` build with gcc and need neither.
want clang command -v clang
want libclang-rt-dev sh -c 'ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a'

can_install=""
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  can_install=yes
fi

if [ -z "$missing" ] && { [ -z "$optional" ] || [ -z "$can_install" ]; }; then
  if [ -n "$optional" ]; then
    echo "corio: optional, for make bench and make fuzz only:$optional" >&2
  fi
  exit 0
fi

arm64=""
case "$missing" in *:arm64*) arm64=yes ;; esac
command="apt-get update && apt-get install -y$missing"
if [ -n "$arm64" ]; then
  command="dpkg --add-architecture arm64 && $command"
fi

if [ -z "$can_install" ]; then
  echo "corio: missing build/test dependencies:$missing" >&2
  echo "corio: install them with (as root):" >&2
  echo "    $command" >&2
  exit 1
fi

echo "corio: installing:$missing$optional"
if [ -n "$arm64" ]; then
  dpkg --add-architecture arm64
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
if [ -n "$optional" ]; then
  # The benchmarks and fuzzers do without them; a failure here is not the
  # tests'.
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $optional ||
    echo "corio: could not install$optional (make bench will skip them)" >&2
fi
