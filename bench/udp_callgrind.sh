#!/usr/bin/env bash
# User-space instructions per received datagram, counted by Valgrind's
# callgrind, for bench/udp_recv's two receivers: the floor (a plain
# recvmmsg loop) and a corio endpoint with a task receiving. Each receiver
# runs twice, for 100,000 and 300,000 datagrams; the difference of the
# two totals divided by 200,000 leaves out start-up and exit. Kernel work
# is not counted (recvmmsg itself is the same for both).
#
#   bench/udp_callgrind.sh [build dir with bench/udp_recv, default build/release]
#
#   udp_floor_user_ins_per_dgram: 1 instructions
#   udp_corio_user_ins_per_dgram: 226 instructions
set -euo pipefail
build=${1:-build/release}
prog=$build/bench/udp_recv
command -v valgrind >/dev/null 2>&1 || { echo "valgrind is not installed" >&2; exit 1; }
[ -x "$prog" ] || { echo "$prog is missing: build bench/udp_recv first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# total MODE COUNT: the receiver's instructions (the sender, a child
# killed at the end, writes no totals).
total() {
  taskset -c "${CPU:-0}" valgrind --tool=callgrind \
    "--callgrind-out-file=$tmp/cg.%p" "$prog" --mode "$1" --count "$2" \
    2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p' | head -1
}

for mode in floor corio; do
  small=$(total "$mode" 100000)
  large=$(total "$mode" 300000)
  echo "udp_${mode}_user_ins_per_dgram: $(((large - small) / 200000)) instructions"
done
