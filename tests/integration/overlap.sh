#!/bin/bash
# Two VPCs with the same CIDR (10.0.0.0/16) and the same subnet and ENI addresses: each is its
# own routing domain, and nothing crosses from one to the other.
. "$(dirname "$0")/lib.sh"

start_vpcd || bail "vpcd does not start"

va=$(mk_vpc 10.0.0.0/16 a) && [ -n "$va" ] || bail "create-vpc a"
vb=$(mk_vpc 10.0.0.0/16 b) && [ -n "$vb" ] || bail "create-vpc b"
isnt "$va" "$vb" "two VPCs with the same CIDR get distinct IDs"
sa=$(mk_subnet "$va" 10.0.1.0/24) && [ -n "$sa" ] || bail "create-subnet a"
sb=$(mk_subnet "$vb" 10.0.1.0/24) && [ -n "$sb" ] || bail "create-subnet b"
a1=$(mk_eni "$sa" 10.0.1.10) && [ -n "$a1" ] || bail "create-network-interface a1"
b1=$(mk_eni "$sb" 10.0.1.10) && [ -n "$b1" ] || bail "create-network-interface b1"
a2=$(mk_eni "$sa" 10.0.1.20) && [ -n "$a2" ] || bail "create-network-interface a2"
b2=$(mk_eni "$sb" 10.0.1.20) && [ -n "$b2" ] || bail "create-network-interface b2"
mac_a1=$(eni_field "$a1" MacAddress)
mac_b1=$(eni_field "$b1" MacAddress)
isnt "$mac_a1" "$mac_b1" "the two ENIs at 10.0.1.10 have different MACs"

for x in a1 a2 b1 b2; do
	plug "${!x}" "$x" || bail "plug $x"
done
is "$(ip -n "${P}a1" -o -4 addr show dev eth0 | awk '{print $4}')" 10.0.1.10/24 "a1's eth0 holds 10.0.1.10/24"
is "$(ip -n "${P}b1" -o -4 addr show dev eth0 | awk '{print $4}')" 10.0.1.10/24 "b1's eth0 holds 10.0.1.10/24"
is "$(ip -n "${P}a1" link show eth0 | awk '/link\/ether/ {print $2}')" "$mac_a1" "a1's eth0 carries the ENI's MAC"
ok "VPC a and VPC b are separate namespaces" test -e "/run/netns/$(vpc_ns "$va")" -a -e "/run/netns/$(vpc_ns "$vb")"

ok "a1 pings its router 10.0.1.1" ping_ok "${P}a1" 10.0.1.1
ok "b1 pings its router 10.0.1.1" ping_ok "${P}b1" 10.0.1.1
is "$(ip -n "${P}a1" neigh show 10.0.1.1 | awk '{print $5}')" \
	"$(ip -n "$(vpc_ns "$va")" link show "$(bridge_of "$sa")" | awk '/link\/ether/ {print $2}')" \
	"a1's router is VPC a's bridge"

ok "a2 pings 10.0.1.10" ping_ok "${P}a2" 10.0.1.10
is "$(ip -n "${P}a2" neigh show 10.0.1.10 | awk '{print $5}')" "$mac_a1" "the 10.0.1.10 that a2 reached is a1 (its MAC)"
ok "b2 pings 10.0.1.10" ping_ok "${P}b2" 10.0.1.10
is "$(ip -n "${P}b2" neigh show 10.0.1.10 | awk '{print $5}')" "$mac_b1" "the 10.0.1.10 that b2 reached is b1 (its MAC)"

# A TCP listener only in b1: B's own ENI connects, A's does not.
ip netns exec "${P}b1" python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5555)); s.listen(16); s.settimeout(15)
while True:
    try:
        c, _ = s.accept(); c.close()
    except socket.timeout:
        break
' &
listener=$!
for _ in $(seq 50); do
	ip netns exec "${P}b1" ss -tln 2>/dev/null | grep -q ':5555' && break
	sleep 0.05
done
ok "b2 connects to the listener on b1 (10.0.1.10:5555)" ip netns exec "${P}b2" nc -z -w1 10.0.1.10 5555
nok "a2 cannot connect to 10.0.1.10:5555 (b1's listener is in the other VPC)" \
	ip netns exec "${P}a2" nc -z -w1 10.0.1.10 5555
kill "$listener" 2>/dev/null
wait "$listener" 2>/dev/null

# After a1 is gone, 10.0.1.10 is unreachable from a2 even though b1 still answers in VPC b.
vpc unplug-network-interface --network-interface-id "$a1" >/dev/null || bail "unplug a1"
ip -n "${P}a2" neigh flush all
nok "with a1 unplugged, a2 gets no answer from 10.0.1.10" ping_once "${P}a2" 10.0.1.10
ok "b2 still reaches b1" ping_ok "${P}b2" 10.0.1.10

# The model and the packets agree on every path between the ENIs left plugged (lib.sh).
prove_paths
