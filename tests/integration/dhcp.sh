#!/bin/bash
# DHCP and DNS of a VPC as its ENIs come and go: a new ENI gets its lease and its name from the
# VPC's dnsmasq without a restart or reload of it (dnsmasq reads its files by itself); a
# deleted ENI's address goes to the next new ENI, whose new MAC gets the lease; a deleted ENI's
# name is gone; a new subnet needs no restart either.
. "$(dirname "$0")/lib.sh"

command -v busybox >/dev/null || bail "busybox is missing (scripts/setup installs busybox-static)"
start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.6.0.0/16) && [ -n "$v" ] || bail "create-vpc"
s=$(mk_subnet "$v" 10.6.1.0/24) && [ -n "$s" ] || bail "create-subnet"
DIR=$RUN/dns/$v

# lease NS: the address DHCP gives eth0 of NS (its static address removed first, and put
# back after).
lease() {
	local had got
	had=$(ip -n "$1" -4 -o addr show dev eth0 | awk '{print $4; exit}')
	ip -n "$1" addr flush dev eth0
	got=$(ip netns exec "$1" busybox udhcpc -i eth0 -f -q -n -t 5 -T 1 -s /bin/true 2>&1 |
		sed -n 's/.*lease of \([0-9.]*\) obtained.*/\1/p' | head -1)
	[ -z "$had" ] || ip -n "$1" addr add "$had" dev eth0
	echo "$got"
}
# resolve NS NAME: the address the VPC's resolver (subnet + 2) answers for NAME.
resolve() {
	ip netns exec "$1" busybox nslookup "$2" 10.6.1.2 2>/dev/null |
		awk '/^Name:/ {n=1} n && /^Address/ {print $NF; exit}'
}
dnsmasq_pid() { cat "$DIR/pid" 2>/dev/null; }

e1=$(mk_eni "$s") && [ -n "$e1" ] || bail "eni 1"
plug "$e1" d1 || bail "plug 1"
is "$(lease "${P}d1")" 10.6.1.4 "the first ENI's lease is its address"
pid=$(dnsmasq_pid)
ok "the VPC's dnsmasq runs" test -n "$pid"
ok "the ENI has its own host and lease files" test -s "$DIR/hosts.d/$e1" -a -s "$DIR/dhcp-hosts.d/$e1"

for k in 2 3 4; do
	e=$(mk_eni "$s") && [ -n "$e" ] || bail "eni $k"
	eval "e$k=$e"
	plug "$e" "d$k" || bail "plug $k"
done
is "$(lease "${P}d4")" 10.6.1.7 "the fourth ENI's lease is its address"
is "$(dnsmasq_pid)" "$pid" "three new ENIs did not restart dnsmasq"
is "$(resolve "${P}d1" ip-10-6-1-7.ec2.internal)" 10.6.1.7 "a new ENI's name resolves at once"
is "$(resolve "${P}d1" ip-10-6-1-5.ec2.internal)" 10.6.1.5 "and the others' too"

is "$(lease "${P}d2")" 10.6.1.5 "the second ENI holds a lease for its address"
mac2=$(eni_field "$e2" MacAddress)
gone() { vpc unplug-network-interface --network-interface-id "$1" >/dev/null && vpc delete-network-interface --network-interface-id "$1"; }
ok "unplug and delete the second ENI" gone "$e2"
ok "its files are emptied" test ! -s "$DIR/hosts.d/$e2" -a ! -s "$DIR/dhcp-hosts.d/$e2"
is "$(resolve "${P}d1" ip-10-6-1-6.ec2.internal)" 10.6.1.6 "another ENI's name still resolves"
isnt "$(resolve "${P}d1" ip-10-6-1-5.ec2.internal)" 10.6.1.5 "the deleted ENI's name no longer resolves"
e5=$(mk_eni "$s") && [ -n "$e5" ] || bail "eni 5"
is "$(eni_field "$e5" PrivateIpAddress)" 10.6.1.5 "the freed address goes to the next ENI"
isnt "$(eni_field "$e5" MacAddress)" "$mac2" "with a new MAC"
plug "$e5" d5 || bail "plug 5"
is "$(lease "${P}d5")" 10.6.1.5 "the new MAC gets the freed address's lease"
# A new subnet is one more file too: no restart, no signal (a SIGHUP would end dnsmasq 2.90
# once it has given leases and read files of its directories by itself), and its hosts get
# their subnet's options.
e6=$(mk_eni "$s") && [ -n "$e6" ] || bail "eni 6"
pid=$(dnsmasq_pid)
s2=$(mk_subnet "$v" 10.6.2.0/24) && [ -n "$s2" ] || bail "create-subnet 2"
is "$(dnsmasq_pid)" "$pid" "a new subnet does not restart dnsmasq"
e7=$(mk_eni "$s2") && [ -n "$e7" ] || bail "eni 7"
plug "$e7" d7 || bail "plug 7"
is "$(lease "${P}d7")" 10.6.2.4 "an ENI of the new subnet gets its lease"
router7() {
	ip -n "${P}d7" addr flush dev eth0
	ip netns exec "${P}d7" busybox udhcpc -i eth0 -f -q -n -t 5 -T 1 -s "$T/env.sh" >/dev/null 2>&1
	cat "$T/env7"
}
printf '#!/bin/sh\n[ "$1" = bound ] && echo "$router $subnet $broadcast" >%s\n' "$T/env7" >"$T/env.sh"
chmod +x "$T/env.sh"
is "$(router7)" "10.6.2.1 255.255.255.0 10.6.2.255" "with its subnet's router, netmask and broadcast"
ip -n "${P}d7" addr add 10.6.2.4/24 dev eth0
is "$(resolve "${P}d1" ip-10-6-2-4.ec2.internal)" 10.6.2.4 "its name resolves"
is "$(resolve "${P}d1" ip-10-6-1-8.ec2.internal)" 10.6.1.8 "after the new subnet, the newest ENI's name resolves"
is "$(resolve "${P}d1" ip-10-6-1-6.ec2.internal)" 10.6.1.6 "after the new subnet, names still resolve"
is "$(lease "${P}d3")" 10.6.1.6 "after the new subnet, leases are given"
pid=$(dnsmasq_pid)
ok "delete the new subnet's ENI and the subnet" eval 'gone "$e7" >/dev/null && vpc delete-subnet --subnet-id "$s2" >/dev/null'
is "$(resolve "${P}d1" ip-10-6-1-6.ec2.internal)" 10.6.1.6 "after the subnet went, names still resolve"
is "$(lease "${P}d1")" 10.6.1.4 "the first ENI still gets its lease"

# A restart of vpcd (kill -9) finds the files as they are and changes nothing.
pid=$(dnsmasq_pid)
kill9_vpcd
start_vpcd || bail "vpcd does not restart"
is "$(find "$DIR/dhcp-hosts.d" -type f -size +0 -printf '%f\n' | sort | tr '\n' ' ')" "$(printf '%s\n' "$e1" "$e3" "$e4" "$e5" "$e6" | sort | tr '\n' ' ')" \
	"after a restart, one lease file per ENI"
is "$(lease "${P}d3")" 10.6.1.6 "after a restart, leases are given"

# A dnsmasq killed under a running vpcd is started again by it (vpcd polls a pidfd of each).
pid=$(dnsmasq_pid)
kill -9 "$pid"
back() {
	local p
	for _ in $(seq 50); do
		p=$(dnsmasq_pid)
		[ -n "$p" ] && [ "$p" != "$pid" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = dnsmasq ] && return 0
		sleep 0.1
	done
	return 1
}
ok "a dnsmasq killed with -9 is running again within 5 s" back
like "$(cat "$LOG")" "the dnsmasq of $v died: starting it again" "vpcd's log says so"
is "$(lease "${P}d4")" 10.6.1.7 "and leases are given again"
is "$(resolve "${P}d1" ip-10-6-1-7.ec2.internal)" 10.6.1.7 "and names resolve"
pid=$(dnsmasq_pid)
vpc delete-subnet --subnet-id "$s" >/dev/null 2>&1 # refused (it has ENIs): nothing restarts
sleep 0.3
is "$(dnsmasq_pid)" "$pid" "a dnsmasq vpcd did not lose is left alone"

vpc delete-network-interface --network-interface-id "$e6" >/dev/null || fail "delete $e6"
for e in "$e1" "$e3" "$e4" "$e5"; do gone "$e" >/dev/null || fail "delete $e"; done
ok "delete-subnet" vpc delete-subnet --subnet-id "$s"
ok "a VPC without subnets has no dnsmasq and no files" test ! -e "$DIR/pid" -a ! -e "$DIR/hosts.d"
