#!/bin/sh
# gdb support (tools/gdb/corio_gdb.py), end to end: gdb in batch mode runs
# gdb_target to its stop point, with the script auto-loaded for
# libcorio.so as an installed copy would be; `corio tasks` and `corio bt`
# must name the functions each task is suspended in. gdb then writes a core
# dump (gcore), and a second gdb reads it with the script `source`d: the
# same commands must give the same answers.
#
# Usage: check_gdb.sh <gdb_target> <corio_gdb.py> <work dir> <libcorio.so.X.Y.Z>
#                     <auto-load script name> <plain|sanitizer>
# Exits 77 (ctest: skipped) when gdb is missing, saying so. In a sanitizer
# build the core dump half is skipped, saying so: gcore writes every
# mapping whole, and AddressSanitizer's reserve terabytes.
set -eu
prog=$1 script=$2 work=$3 lib=$4 script_name=$5 build=${6:-plain}

if ! command -v gdb >/dev/null 2>&1; then
  echo "gdb.commands: SKIPPED: gdb is not installed (apt-get install gdb)"
  exit 77
fi

fail=0
bad() {
  echo "FAIL: $*"
  fail=1
}

# The installed script's name must be the library's file name + -gdb.py,
# or gdb will not auto-load it.
lib_real=$(readlink -f "$lib")
if [ "$(basename "$lib_real")-gdb.py" != "$script_name" ]; then
  bad "the script is installed as $script_name, the library is $(basename "$lib_real")"
fi

rm -rf "$work"
mkdir -p "$work"
out=$work/live.out
core=$work/core
autoload=$work/auto-load
# Where gdb looks for an objfile's script: <scripts-directory>/<objfile's
# real path>-gdb.py (what share/gdb/auto-load/LIBDIR/ is when installed).
mkdir -p "$autoload$(dirname "$lib_real")"
cp "$script" "$autoload$lib_real-gdb.py"

# Alone first: the program reaches its stop point and cleans up.
if ! alone=$(timeout -k 10 120 "$prog" 2>&1) || [ "$alone" != "gdb_target: done" ]; then
  bad "gdb_target alone: $alone"
fi

unset DEBUGINFOD_URLS

core_dump=yes
gcore_cmd="gcore $core"
if [ "$build" = sanitizer ]; then
  core_dump=""
  gcore_cmd="echo no core dump in a sanitizer build\n"
  echo "gdb.commands: the core dump half is skipped in a sanitizer build"
fi
# gdb may write no file larger than this (1 GiB in 512-byte blocks, 2 GiB
# where the shell counts 1024-byte ones): a core that outgrows it is cut
# short, and the checks on it fail, instead of filling the disk. The core
# is about 40 MB.
gdb_limited() {
  (
    ulimit -f 2097152
    exec timeout -k 10 240 gdb "$@"
  )
}

# `echo @@ NAME` marks where the output of section NAME starts.
gdb_limited -nx -batch \
  -iex "set auto-load scripts-directory $autoload" \
  -iex "set auto-load safe-path $autoload" \
  -ex 'set pagination off' -ex 'set width 0' -ex 'set confirm off' \
  -ex 'break gdb_stop_here' -ex run \
  -ex 'echo @@ autoload\n' -ex 'info auto-load python-scripts' \
  -ex 'echo @@ tasks\n' -ex 'corio tasks' \
  -ex 'echo @@ sleeper\n' -ex 'corio bt sleeper' \
  -ex 'echo @@ awaiter\n' -ex 'corio bt awaiter' \
  -ex 'echo @@ lock-waiter\n' -ex 'corio bt lock-waiter' \
  -ex 'echo @@ queue-getter\n' -ex 'corio bt queue-getter' \
  -ex 'echo @@ t2-sleeper\n' -ex 'corio bt t2-sleeper' \
  -ex 'echo @@ main\n' -ex 'corio bt main' \
  -ex 'echo @@ unstarted\n' -ex 'corio bt unstarted' \
  -ex 'echo @@ switch\n' -ex 'corio switch lock-waiter' -ex 'info locals' -ex 'bt' \
  -ex 'echo @@ switch-back\n' -ex 'corio switch' -ex 'bt 1' \
  -ex 'echo @@ gcore\n' -ex "$gcore_cmd" \
  -ex 'echo @@ end\n' -ex kill \
  "$prog" >"$out" 2>&1 || bad "gdb on the live program exited with $?"

# section FILE NAME: the output of section NAME.
section() {
  awk -v m="@@ $2" '$0 == m { f = 1; next } /^@@ / { f = 0 } f' "$1"
}

# expect FILE NAME REGEX...: each extended regex matches a line of the
# section.
expect() {
  file=$1 name=$2
  shift 2
  text=$(section "$file" "$name")
  for re in "$@"; do
    if ! printf '%s\n' "$text" | grep -Eq -- "$re"; then
      bad "$(basename "$file") [$name]: nothing matches /$re/"
    fi
  done
}

# refuse FILE NAME REGEX: no line of the section matches.
refuse() {
  if section "$1" "$2" | grep -Eq -- "$3"; then
    bad "$(basename "$1") [$2]: /$3/ should not match"
  fi
}

# fr NAME: the regex of a backtrace line of a call to NAME (inlined calls
# have no address, hence no " in ").
fr() { printf '(^#[0-9]+ +| in )%s \\(' "$1"; }

# check FILE: what both sessions must show.
check() {
  f=$1
  expect "$f" tasks \
    'loop 0x[0-9a-f]+ \(running on thread [0-9]+.*\): 2 pending tasks' \
    'loop 0x[0-9a-f]+ \(running on thread [0-9]+.*\): 7 pending tasks' \
    ' main +running +gdb_main ' \
    ' sleeper +suspended +gdb_sleeper +sleep .*corio_sleep[a-z_]* <- gdb_sleep_forever ' \
    ' awaiter +suspended +gdb_awaiter +(future )?task "sleeper" .*corio_task_await <- gdb_awaiter ' \
    ' lock-waiter +suspended +gdb_lock_waiter .*corio_lock_acquire <- gdb_lock_waiter ' \
    ' queue-getter +suspended +gdb_queue_getter .*corio_queue_get <- gdb_queue_getter ' \
    '^ +[0-9]+ +Task-[0-9]+ +suspended +gdb_event_waiter .*corio_event_wait <- gdb_event_waiter ' \
    ' unstarted +not started +gdb_unstarted ' \
    ' t2-main +suspended +gdb_t2_main +(future )?task "t2-sleeper" .*corio_task_await <- gdb_t2_main ' \
    ' t2-sleeper +suspended +gdb_t2_sleeper +sleep .*<- gdb_t2_sleeper '
  expect "$f" sleeper '^task "sleeper" \(0x[0-9a-f]+\): suspended' \
    "$(fr corio__wait_suspend)" "$(fr 'corio_sleep[a-z_]*')" \
    "$(fr 'gdb_sleep_forever')" "$(fr 'gdb_sleeper')" "$(fr 'worker_main')"
  # The thread's own innermost frame is left out.
  refuse "$f" sleeper '^#0 |gdb_stop_here|gdb_main'
  expect "$f" awaiter "$(fr 'corio_task_await')" "$(fr 'gdb_awaiter')"
  refuse "$f" awaiter 'gdb_stop_here'
  expect "$f" lock-waiter "$(fr 'corio_lock_acquire')" "$(fr 'gdb_lock_waiter')"
  expect "$f" queue-getter "$(fr 'corio_queue_get')" "$(fr 'gdb_queue_getter')"
  expect "$f" t2-sleeper "$(fr 'corio_sleep[a-z_]*')" "$(fr gdb_t2_sleeper)"
  refuse "$f" t2-sleeper 'epoll_wait'
  expect "$f" main 'running on thread 1' '^#0 +gdb_stop_here ' "$(fr 'gdb_main')"
  expect "$f" unstarted 'not started: no stack yet'
}

check "$out"
expect "$out" autoload "^Yes +$autoload$lib_real-gdb.py"
expect "$out" switch "$(fr corio__wait_suspend)" \
  "$(fr 'corio_lock_acquire')" "$(fr 'gdb_lock_waiter')"
refuse "$out" switch 'gdb_stop_here'
expect "$out" switch-back "back to the thread's own stack" '^#0 +gdb_stop_here '
refuse "$out" switch-back 'corio_lock_acquire'
if [ -z "$core_dump" ]; then
  :
elif [ ! -s "$core" ]; then
  bad "no core dump"
else
  expect "$out" gcore '^Saved corefile '
  # The unnamed task by its number, the awaiter by its address.
  id=$(section "$out" tasks | awk '$2 ~ /^Task-/ && $4 == "gdb_event_waiter" { print $1 }')
  addr=$(section "$out" tasks | awk '$1 == "-" && $2 == "awaiter" { print $NF }')
  cout=$work/core.out
  gdb_limited -nx -batch \
    -ex 'set pagination off' -ex 'set width 0' \
    -ex "source $script" \
    -ex 'echo @@ tasks\n' -ex 'corio tasks' \
    -ex 'echo @@ sleeper\n' -ex 'corio bt sleeper' \
    -ex 'echo @@ awaiter\n' -ex "corio bt ${addr:-awaiter-address-not-found}" \
    -ex 'echo @@ lock-waiter\n' -ex 'corio bt lock-waiter' \
    -ex 'echo @@ queue-getter\n' -ex 'corio bt queue-getter' \
    -ex 'echo @@ t2-sleeper\n' -ex 'corio bt t2-sleeper' \
    -ex 'echo @@ main\n' -ex 'corio bt main' \
    -ex 'echo @@ unstarted\n' -ex 'corio bt unstarted' \
    -ex 'echo @@ by-id\n' -ex "corio bt ${id:-no-id-found} full" \
    -ex 'echo @@ end\n' \
    "$prog" "$core" >"$cout" 2>&1 || bad "gdb on the core dump exited with $?"
  check "$cout"
  expect "$cout" by-id "^task \"Task-$id\"" "$(fr 'corio_event_wait')" \
    "$(fr 'gdb_event_waiter')" '^ +rc = '
fi

if [ "$fail" != 0 ]; then
  for f in "$out" "${cout:-}"; do
    if [ -n "$f" ] && [ -f "$f" ]; then
      echo "---- $f"
      cat "$f"
    fi
  done
  exit 1
fi
rm -f "$core"
echo "gdb: corio tasks, corio bt and corio switch work on a live process${core_dump:+ and on its core dump}"
