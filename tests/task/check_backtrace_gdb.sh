#!/bin/sh
# Checks corio's backtrace of a suspended task (libunwind from the saved
# registers) against gdb's: backtrace_gdb_target writes the task's
# registers as gdb commands and its own list of functions, then stops;
# gdb loads the registers and runs `bt`. Every function corio lists must
# come in gdb's list in the same order (gdb also shows inlined calls), and
# both must show the task's own three functions, down to coro_main.
# Usage: check_backtrace_gdb.sh TARGET; exit 77 (skipped) without gdb,
# libunwind or on an architecture the target does not know.
set -eu
target=$1
command -v gdb >/dev/null 2>&1 || { echo "skipped: no gdb"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "skipped: no python3"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# The target alone first: it says whether there is anything to compare.
set +e
"$target" /dev/null /dev/null >/dev/null 2>&1
status=$?
set -e
if [ "$status" = 77 ]; then
  echo "skipped: no libunwind, or not x86_64"
  exit 77
fi

gdb -batch -nx -q \
  -ex 'set confirm off' -ex 'set pagination off' \
  -ex 'handle SIGTRAP stop nopass' -ex run \
  -ex "source $dir/regs.gdb" -ex bt \
  --args "$target" "$dir/regs.gdb" "$dir/ours.txt" >"$dir/gdb.txt" 2>&1 || true

python3 - "$dir/ours.txt" "$dir/gdb.txt" <<'PY'
import re, sys
ours = [l.strip() for l in open(sys.argv[1]) if l.strip()]
gdb = []
for line in open(sys.argv[2], errors="replace"):
    m = re.match(r"#\d+\s+(?:0x[0-9a-f]+ in )?([A-Za-z_][\w.$]*) \(", line)
    if m:
        gdb.append(m.group(1))
# Below coro_main is the backend's entry: corio's trampoline, or with the
# ucontext backend libc's __start_context, which neither names reliably
# (a stripped libc): the comparison stops at coro_main.
for frames in (ours, gdb):
    if "coro_main" in frames:
        del frames[frames.index("coro_main") + 1:]
def show():
    print("corio:", " <- ".join(ours))
    print("gdb:  ", " <- ".join(gdb))
if len(ours) < 5 or not gdb:
    show(); print("FAIL: too few frames"); sys.exit(1)
for name in ("bt_target_inner", "bt_target_middle", "bt_target_body"):
    if name not in ours or name not in gdb:
        show(); print("FAIL: %s missing" % name); sys.exit(1)
i = 0
for name in ours:
    while i < len(gdb) and gdb[i] != name:
        i += 1
    if i == len(gdb):
        show(); print("FAIL: %s is not where gdb has it" % name); sys.exit(1)
    i += 1
show()
print("ok: %d frames, in gdb's order" % len(ours))
PY
