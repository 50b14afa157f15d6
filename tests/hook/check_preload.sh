#!/bin/sh
# LD_PRELOAD=libcorio_hook.so, proven from outside the program:
#  1. preload_target (linked with libcorio.so only, never calling
#     corio_hook_*) run plainly: its tasks' blocking calls block the
#     thread, so they run one after the other (verdict "sequential", and
#     at least the sum of the sleeps);
#  2. the same binary with LD_PRELOAD: the sleeps and pipe reads of its
#     tasks suspend them instead, so they overlap (verdict "overlapped":
#     every task asleep before any woke, every read() made before the
#     byte it waits for was written, by a task on the same thread);
#  3. with LD_PRELOAD and CORIO_HOOK=0: sequential again; and a pipe the
#     preloaded target shares as its stdout is not left non-blocking;
#  4. unmodified system programs (no corio task anywhere) behave exactly
#     as without it: the same output and exit status.
# The verdicts come from the order of events; the only timing check is the
# sequential lower bound, which a loaded machine cannot break.
# Usage: check_preload.sh <preload_target> <libcorio_hook.so>
set -u
target=$1 hooklib=$2
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

[ -x "$target" ] || { echo "no program $target"; exit 1; }
[ -f "$hooklib" ] || { echo "no library $hooklib"; exit 1; }
case $hooklib in
/*) ;;
*) hooklib=$(pwd)/$hooklib ;;
esac

# The target must not bring the hooks in itself.
if command -v readelf >/dev/null 2>&1; then
  if readelf -d "$target" | grep NEEDED | grep -q corio_hook; then
    fail "$target is linked with libcorio_hook"
  fi
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/corio-preload.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT INT TERM

# run_target <name> [env arguments...]: runs the target with the
# environment given, its stdout in $scratch/<name>; sets $verdict.
run_target() {
  name=$1
  shift
  if ! env "$@" "$target" >"$scratch/$name" 2>"$scratch/$name.err"; then
    fail "$name: the target failed: $(cat "$scratch/$name.err")"
  fi
  verdict=$(sed -n 's/^verdict: //p' "$scratch/$name")
}

field() { # field <name> <key>
  sed -n "s/^$2: //p" "$scratch/$1"
}

show() { # show <name>: the log on one line, for the report
  printf '  %s: %s (%s ms)\n' "$1" \
    "$(grep -v ':' "$scratch/$1" | tr '\n' ',' | sed 's/,$//')" \
    "$(field "$1" elapsed_ms)"
}

# 1. Plain (CORIO_HOOK=1 changes nothing without the library).
run_target plain CORIO_HOOK=1
show plain
[ "$verdict" = sequential ] || fail "plain run: verdict '$verdict', not sequential"
elapsed=$(field plain elapsed_ms)
minimum=$(field plain sequential_min_ms)
if [ -z "$elapsed" ] || [ -z "$minimum" ] || [ "$elapsed" -lt "$minimum" ]; then
  fail "plain run took ${elapsed:-?} ms, less than the sleeps' ${minimum:-?} ms"
fi

# Every symbol the library needs from libcorio.so is exported there:
# resolved at load (LD_BIND_NOW), not at a first call that may come late.
if ! out=$(LD_BIND_NOW=1 LD_PRELOAD="$hooklib" sh -c true 2>&1); then
  fail "the library does not load with every symbol bound: $out"
fi

# 2. Preloaded (CORIO_HOOK unset: the library enables the hooks). Bound at
#    load, too.
run_target preload -u CORIO_HOOK LD_BIND_NOW=1 LD_PRELOAD="$hooklib"
show preload
[ "$verdict" = overlapped ] || fail "preloaded run: verdict '$verdict', not overlapped"

# 3. Preloaded but switched off.
run_target preload_off LD_PRELOAD="$hooklib" CORIO_HOOK=0
show preload_off
[ "$verdict" = sequential ] || fail "CORIO_HOOK=0 run: verdict '$verdict', not sequential"

# The target's stdout, when it is a pipe, belongs to every process that
# holds the pipe: the hooks must not leave it non-blocking (a process
# writing after the target, or beside it, would then get EAGAIN). The
# flags are read from /proc after the target has exited, by a process
# that shares the same pipe.
if [ -r /proc/self/fdinfo/1 ]; then
  flags=$( { env LD_PRELOAD="$hooklib" "$target" 2>/dev/null >&3
             sed -n 's/^flags:[[:space:]]*//p' /proc/self/fdinfo/3; } 3>&1 |
           tail -n 1)
  case $flags in
  0*) [ $((flags & 04000)) -eq 0 ] ||
        fail "the preloaded target left the pipe on its stdout O_NONBLOCK (flags $flags)" ;;
  *) fail "no flags read for the shared pipe: '$flags'" ;;
  esac
else
  echo "  /proc/self/fdinfo is missing: the shared-pipe case is skipped"
fi

# 4. Unmodified programs: output and exit status the same with the library
# preloaded. Each command is run by sh -c, so the shell and every program
# it starts are preloaded too.
head -c 200000 /dev/urandom >"$scratch/random.bin"
checked=0
same() { # same <label> <shell command>
  label=$1 cmd=$2
  (cd "$scratch" && sh -c "$cmd") >"$scratch/want" 2>&1
  want_status=$?
  (cd "$scratch" && env LD_PRELOAD="$hooklib" sh -c "$cmd") >"$scratch/got" 2>&1
  got_status=$?
  if [ "$want_status" != "$got_status" ]; then
    fail "$label: exit status $got_status with the library, $want_status without"
  elif ! cmp -s "$scratch/want" "$scratch/got"; then
    fail "$label: output differs with the library:"
    diff "$scratch/want" "$scratch/got" | head -20
  else
    checked=$((checked + 1))
  fi
}
same "cat of a binary file" 'cat random.bin | cat | cksum'
same "a pipeline" 'echo hi | cat; seq 1 20000 | sort -rn | head -3; echo done'
same "exit status" 'ls /nonexistent-corio-path >/dev/null 2>&1; echo "ls: $?"; false'
same "sleep and timeout" 'sleep 0.1; timeout 5 sleep 0.1; echo "$?"'
same "names" 'getent hosts localhost | head -1 | wc -l'
if command -v python3 >/dev/null 2>&1; then
  same "python3: sockets, threads, sleep, select" 'python3 -c "
import selectors, socket, threading, time
a, b = socket.socketpair()
def echo():
    data = b.recv(100)
    time.sleep(0.05)
    b.sendall(data.upper())
t = threading.Thread(target=echo)
t.start()
a.sendall(b\"hello\")
sel = selectors.DefaultSelector()
sel.register(a, selectors.EVENT_READ)
print(len(sel.select(timeout=5)), a.recv(100).decode())
t.join()
srv = socket.create_server((\"127.0.0.1\", 0))
c = socket.create_connection(srv.getsockname())
s, _ = srv.accept()
c.sendall(b\"x\" * 100000)
c.close()
n = 0
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    n += len(chunk)
print(n, socket.getaddrinfo(\"127.0.0.1\", 80)[0][4])
"'
else
  echo "  python3 not found: its case is skipped"
fi
echo "  unmodified programs: $checked cases behave the same with the library"

if [ "$failures" -gt 0 ]; then
  echo "hook.preload: $failures failure(s)"
  exit 1
fi
echo "hook.preload: sequential plain, overlapped with LD_PRELOAD, sequential with CORIO_HOOK=0; system programs unchanged"
