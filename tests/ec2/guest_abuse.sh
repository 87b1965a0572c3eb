#!/bin/bash
# A guest that misbehaves, with a root guest's powers (CAP_NET_ADMIN, CAP_NET_RAW: tests/ec2/
# pkt.py run in the container's network namespace): it cannot send as another address (IP or
# ARP spoofing), cannot send once it changes its own MAC, cannot answer DHCP for others, cannot
# reach another VPC's instance or the host's own addresses, and cannot starve its neighbours of
# the metadata service by holding its connections. Each negative is set against the same
# channel working for an honest packet, so that a broken channel cannot pass for a refusal.
. "$(dirname "$0")/ec2_lib.sh"

need_image busybox
start_vpcd || bail "vpcd does not start"
start_ec2d || bail "ec2d does not start"
AMI=$(image_id busybox) && [ -n "$AMI" ] || bail "describe-images does not list busybox"
PKT=$(dirname "$0")/pkt.py

v=$(mk_vpc 10.48.0.0/16 abuse) && [ -n "$v" ] || bail "create-vpc"
s=$(vpc create-subnet --vpc-id "$v" --cidr-block 10.48.1.0/24 | jq -r .Subnet.SubnetId) && [ -n "$s" ] || bail "create-subnet"
w=$(mk_vpc 10.49.0.0/16 other) && [ -n "$w" ] || bail "create-vpc other"
sw=$(vpc create-subnet --vpc-id "$w" --cidr-block 10.49.1.0/24 | jq -r .Subnet.SubnetId) && [ -n "$sw" ] || bail "create-subnet other"
# One group for the lab's instances that lets in UDP from the VPC (the channel), and ICMP.
sg=$(vpc create-security-group --vpc-id "$v" --group-name abuse --description abuse | jq -r .GroupId)
vpc authorize-security-group-ingress --group-id "$sg" --ip-permissions \
	'IpProtocol=udp,FromPort=0,ToPort=65535,IpRanges=[{CidrIp=0.0.0.0/0}]' \
	'IpProtocol=icmp,FromPort=-1,ToPort=-1,IpRanges=[{CidrIp=0.0.0.0/0}]' >/dev/null || bail "authorize"
sgw=$(vpc create-security-group --vpc-id "$w" --group-name abuse --description abuse | jq -r .GroupId)
vpc authorize-security-group-ingress --group-id "$sgw" --ip-permissions \
	'IpProtocol=udp,FromPort=0,ToPort=65535,IpRanges=[{CidrIp=0.0.0.0/0}]' >/dev/null || bail "authorize other"
A=$(launch --image-id "$AMI" --subnet-id "$s" --security-group-ids "$sg") || bail "run-instances A"
B=$(launch --image-id "$AMI" --subnet-id "$s" --security-group-ids "$sg") || bail "run-instances B"
C=$(launch --image-id "$AMI" --subnet-id "$s" --security-group-ids "$sg") || bail "run-instances C"
D=$(launch --image-id "$AMI" --subnet-id "$sw" --security-group-ids "$sgw") || bail "run-instances D"
for i in "$A" "$B" "$C" "$D"; do wait_ready "$i" 60 || bail "$i not ready"; done
IP_A=$(instance_ip "$A") IP_B=$(instance_ip "$B") IP_C=$(instance_ip "$C") IP_D=$(instance_ip "$D")
# mac_of I: its eth0's MAC, from its own namespace (netlink: sysfs would show the host's).
mac_of() { in_netns "$1" ip -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
MAC_A=$(mac_of "$A")
is "$MAC_A" "$(eni_field "$(eni_of "$A")" MacAddress)" "A's MAC is its ENI's"

# heard_by I PORT SECS -- CMD...: runs CMD in A's namespace while I listens on UDP PORT;
# prints what I heard (fails if the listener did not bind).
heard_by() {
	local i=$1 port=$2 secs=$3 out
	shift 4
	in_netns "$i" python3 "$PKT" listen-udp "$port" "$secs" >"$T/heard" 2>&1 &
	local l=$!
	for _ in $(seq 200); do grep -q '^bound$' "$T/heard" && break; sleep 0.05; done
	grep -q '^bound$' "$T/heard" || { diag "listener in $i: $(cat "$T/heard")"; kill $l; return 1; }
	in_netns "$A" python3 "$PKT" "$@" || diag "sender: failed"
	wait $l
	grep -v '^bound$' "$T/heard" | awk '{print $1, $2}'
}

is "$(heard_by "$C" 5000 1.5 -- send-udp "$IP_A" "$IP_C" 4000 5000 honest)" "$IP_A:4000 honest" \
	"the channel: C hears A's honest datagram"
is "$(heard_by "$C" 5000 1.5 -- send-udp "$IP_B" "$IP_C" 4000 5000 spoofed)" "" \
	"IP spoofing: A's datagram with B's source address does not reach C"
is "$(heard_by "$C" 5000 1.5 -- send-udp 10.48.1.200 "$IP_C" 4000 5000 spoofed)" "" \
	"nor with an unused address of the subnet"
is "$(heard_by "$C" 5000 1.5 -- send-udp 10.99.0.1 "$IP_C" 4000 5000 spoofed)" "" \
	"nor with an address from outside the VPC"

in_netns "$A" ip link set eth0 address 02:00:00:00:be:ef || bail "A cannot change its MAC"
is "$(heard_by "$C" 5000 1.5 -- send-udp "$IP_A" "$IP_C" 4000 5000 newmac)" "" \
	"A with a MAC of its own choosing reaches nobody"
in_netns "$A" ip link set eth0 address "$MAC_A"
in_netns "$A" ip neigh flush dev eth0
is "$(heard_by "$C" 5000 1.5 -- send-udp "$IP_A" "$IP_C" 4000 5000 back)" "$IP_A:4000 back" \
	"with its own MAC back, it does again"

# ARP: C knows B; A claims B's address; C's entry for B keeps B's MAC.
MAC_B=$(mac_of "$B")
ok "C pings B" iexec "$C" ping -c1 -W2 "$IP_B"
sleep 1.2 # past the neighbour entry's locktime, so that a forged reply could replace it
in_netns "$A" python3 "$PKT" garp eth0 "$IP_B"
sleep 0.3
like "$(in_netns "$C" ip neigh show "$IP_B")" "lladdr $MAC_B" "ARP spoofing: after A's forged replies, C still has B's MAC for B"
nok "and not A's" grep -q "$MAC_A" <<<"$(in_netns "$C" ip neigh show "$IP_B")"

# DHCP: only the VPC's server answers DHCP; a guest's offers (UDP 67 -> 68) go nowhere.
is "$(heard_by "$C" 68 1.5 -- send-udp "$IP_A" "$IP_C" 67 68 offer)" "" \
	"DHCP server spoofing: A's unicast offer does not reach C"
is "$(heard_by "$C" 68 1.5 -- send-udp "$IP_A" 255.255.255.255 67 68 offer)" "" \
	"nor its broadcast one"

# Across VPCs (no peering) and to the host.
is "$(heard_by "$D" 5000 1.5 -- send-udp "$IP_A" "$IP_D" 4000 5000 across)" "" \
	"another VPC's instance is out of reach"
HOST_IP=$(ip -4 -o addr show scope global | awk '{sub(/\/.*/, "", $4); print $4; exit}')
if [ -n "$HOST_IP" ]; then
	python3 "$PKT" listen-udp 5002 1.5 >"$T/host" 2>&1 &
	hl=$!
	sleep 0.2
	in_netns "$A" python3 "$PKT" send-udp "$IP_A" "$HOST_IP" 4000 5002 host 2>/dev/null
	wait $hl
	is "$(grep -v '^bound$' "$T/host")" "" "the host's own address ($HOST_IP) is out of reach"
else
	skip "the host's own address is out of reach" "the host has no global IPv4 address"
fi

# The metadata service: A holds 300 connections; B is still served.
in_netns "$A" python3 "$PKT" hold-tcp 169.254.169.254 80 300 8 >"$T/hold" 2>&1 &
hold=$!
sleep 1.5
t0=$(date +%s%N)
out=$(iexec "$B" timeout 5 wget -q -O - http://169.254.169.254/latest/meta-data/instance-id)
t1=$(date +%s%N)
is "$out" "$B" "metadata flood: with A holding 300 connections, B is still served"
diag "B's answer took $(((t1 - t0) / 1000000)) ms"
wait $hold
