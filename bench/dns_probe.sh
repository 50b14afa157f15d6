#!/bin/sh
# Seed 003's probe over 1,000 names against one local dnsmasq: lookups/s
# with the c-ares resolver and with the system resolver (glibc's
# getaddrinfo on the executor), both asking the same server.
#
# glibc's resolver asks the servers of /etc/resolv.conf, on port 53, and
# resolv.conf cannot name a port. So, as root, everything runs in private
# namespaces (unshare --mount --net): a network namespace whose loopback
# is brought up, where port 53 of 127.0.0.1 is free for dnsmasq, and a
# mount namespace where a resolv.conf naming 127.0.0.1 is bind-mounted
# over /etc/resolv.conf. Nothing outside changes, and no query can leave:
# the namespace has no other interface. Both resolvers then run against
# that dnsmasq, one after the other. Without root (or unshare), only the
# c-ares figure is measured, against dnsmasq on a free port, and the
# script says so.
#
# Usage: bench/dns_probe.sh [build dir] [names]   (build/release, 1000)
set -eu

build=${1:-build/release}
names=${2:-1000}
probe=$build/bench/dns_probe
[ -x "$probe" ] || { echo "dns_probe: build $probe first" >&2; exit 1; }
dnsmasq=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$dnsmasq" ] || { echo "dns_probe: dnsmasq is missing (apt-get install dnsmasq-base)" >&2; exit 77; }

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
i=0
while [ "$i" -lt "$names" ]; do
  echo "10.$((i / 62500)).$((i / 250 % 250)).$((i % 250 + 1)) n$i.test"
  i=$((i + 1))
done >"$dir/hosts"
echo "nameserver 127.0.0.1" >"$dir/resolv.conf"
chmod 755 "$dir"
chmod 644 "$dir/hosts" "$dir/resolv.conf"

# run_server <port>: dnsmasq in the background, answering the hosts file
# only (.test is local: anything else there is NXDOMAIN).
run_server() {
  user=""
  [ "$(id -u)" = 0 ] && user=--user=root
  "$dnsmasq" -k --conf-file=/dev/null --no-resolv --no-hosts \
    --addn-hosts="$dir/hosts" --listen-address=127.0.0.1 --bind-interfaces \
    --port="$1" --pid-file= --local=/test/ --cache-size=0 \
    --log-facility="$dir/log" $user &
  echo $! >"$dir/pid"
  # Ready once it answers (bounded).
  n=0
  until "$probe" ares "127.0.0.1:$1" 1 n >/dev/null 2>&1; do
    n=$((n + 1))
    [ "$n" -lt 50 ] || { echo "dns_probe: dnsmasq did not answer" >&2; return 1; }
    sleep 0.1
  done
}

stop_server() {
  kill "$(cat "$dir/pid")" 2>/dev/null || true
  wait "$(cat "$dir/pid")" 2>/dev/null || true
}

if [ -n "${DNS_PROBE_NAMESPACE:-}" ]; then
  # Inside the namespaces (see above): both resolvers, one server.
  ip link set lo up
  mount --bind "$dir/resolv.conf" /etc/resolv.conf
  run_server 53
  "$probe" ares 127.0.0.1:53 "$names" n
  "$probe" system "" "$names" n
  "$probe" ares 127.0.0.1:53 "$names" n 100
  "$probe" system "" "$names" n 100
  stop_server
elif [ "$(id -u)" = 0 ] && unshare --mount --net true 2>/dev/null; then
  DNS_PROBE_NAMESPACE=1 unshare --mount --net sh "$0" "$build" "$names"
else
  echo "dns_probe: not root or no unshare: the system resolver cannot be" \
    "pointed at dnsmasq; c-ares only" >&2
  port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  run_server "$port"
  "$probe" ares "127.0.0.1:$port" "$names" n
  stop_server
fi
