#!/bin/bash
# A VM guest that misbehaves (the busybox-vm image under QEMU, with root's powers over its own
# kernel, driven through exec): it cannot send as another address (IP spoofing with an address
# it adds to its own eth0, and ARP spoofing with gratuitous replies for a neighbour's address),
# cannot send once it changes its own MAC, cannot reach another VPC's instance or the host's
# own addresses. What leaves it is watched with tcpdump in the receiving container's network
# namespace, and each refusal is set against the same probe getting through when honest, so
# that a broken channel cannot pass for a refusal. (tests/ec2/guest_abuse.sh does the same and
# more from a container.)
. "$(dirname "$0")/ec2_lib.sh"

need_image busybox-vm
need_image busybox
command -v tcpdump >/dev/null || { echo "1..0 # SKIP tcpdump is not installed"; _TAP_PLANNED=0; exit 77; }
start_vpcd || bail "vpcd does not start"
start_ec2d || bail "ec2d does not start"
AMI_VM=$(image_id busybox-vm) && [ -n "$AMI_VM" ] || bail "describe-images does not list busybox-vm"
AMI=$(image_id busybox) && [ -n "$AMI" ] || bail "describe-images does not list busybox"

v=$(mk_vpc 10.51.0.0/16 vmabuse) && [ -n "$v" ] || bail "create-vpc"
s=$(vpc create-subnet --vpc-id "$v" --cidr-block 10.51.1.0/24 | jq -r .Subnet.SubnetId) && [ -n "$s" ] || bail "create-subnet"
w=$(mk_vpc 10.52.0.0/16 vmother) && [ -n "$w" ] || bail "create-vpc other"
sw=$(vpc create-subnet --vpc-id "$w" --cidr-block 10.52.1.0/24 | jq -r .Subnet.SubnetId) && [ -n "$sw" ] || bail "create-subnet other"
sg=$(vpc create-security-group --vpc-id "$v" --group-name abuse --description abuse | jq -r .GroupId)
vpc authorize-security-group-ingress --group-id "$sg" --ip-permissions \
	'IpProtocol=icmp,FromPort=-1,ToPort=-1,IpRanges=[{CidrIp=0.0.0.0/0}]' >/dev/null || bail "authorize"
sgw=$(vpc create-security-group --vpc-id "$w" --group-name abuse --description abuse | jq -r .GroupId)
vpc authorize-security-group-ingress --group-id "$sgw" --ip-permissions \
	'IpProtocol=icmp,FromPort=-1,ToPort=-1,IpRanges=[{CidrIp=0.0.0.0/0}]' >/dev/null || bail "authorize other"
VM=$(launch --image-id "$AMI_VM" --subnet-id "$s" --instance-type t2.nano --security-group-ids "$sg") && [ -n "$VM" ] ||
	bail "run-instances (VM)"
B=$(launch --image-id "$AMI" --subnet-id "$s" --security-group-ids "$sg") || bail "run-instances B"
C=$(launch --image-id "$AMI" --subnet-id "$s" --security-group-ids "$sg") || bail "run-instances C"
D=$(launch --image-id "$AMI" --subnet-id "$sw" --security-group-ids "$sgw") || bail "run-instances D"
for i in "$B" "$C" "$D"; do wait_ready "$i" 60 || bail "$i not ready"; done
wait_ready "$VM" 120 || bail "the VM is not ready"
IP_V=$(instance_ip "$VM") IP_B=$(instance_ip "$B") IP_C=$(instance_ip "$C") IP_D=$(instance_ip "$D")
vx() { iexec "$VM" "$@"; }
MAC_V=$(vx cat /sys/class/net/eth0/address)
is "$MAC_V" "$(eni_field "$(eni_of "$VM")" MacAddress)" "the VM's MAC is its ENI's"

# seen_by I SRC -- CMD...: runs CMD in the VM while tcpdump listens on I's eth0 for ICMP echo
# requests from SRC; prints how many it saw (fails if tcpdump did not start).
seen_by() {
	local i=$1 src=$2 pid
	shift 3
	in_netns "$i" timeout 4 tcpdump -n -l -i eth0 "icmp[icmptype] == icmp-echo and src host $src" \
		>"$T/seen" 2>"$T/seen.err" &
	pid=$!
	for _ in $(seq 50); do grep -q "listening on" "$T/seen.err" && break; sleep 0.05; done
	grep -q "listening on" "$T/seen.err" || { diag "tcpdump in $i: $(cat "$T/seen.err")"; kill $pid; return 1; }
	vx "$@" >/dev/null 2>&1
	wait $pid
	grep -c "ICMP echo request" "$T/seen"
}

is "$(seen_by "$C" "$IP_V" -- ping -c 2 -W 1 "$IP_C")" 2 "the channel: C sees the VM's honest pings"
ok "the VM adds B's address ($IP_B) to its own eth0" vx ip addr add "$IP_B/32" dev eth0
is "$(seen_by "$C" "$IP_B" -- ping -c 2 -W 1 -I "$IP_B" "$IP_C")" 0 \
	"IP spoofing: the VM's pings from B's address do not reach C"
ok "and an unused address of the subnet" vx ip addr add 10.51.1.200/32 dev eth0
is "$(seen_by "$C" 10.51.1.200 -- ping -c 2 -W 1 -I 10.51.1.200 "$IP_C")" 0 "nor from an unused address"

# ARP: C knows B; the VM claims B's address with gratuitous replies; C keeps B's MAC.
MAC_B=$(in_netns "$B" ip -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
ok "C pings B" iexec "$C" ping -c1 -W2 "$IP_B"
sleep 1.2 # past the neighbour entry's locktime
vx arping -U -c 3 -w 2 -s "$IP_B" -I eth0 "$IP_B" >/dev/null 2>&1
vx arping -A -c 3 -w 2 -s "$IP_B" -I eth0 "$IP_B" >/dev/null 2>&1
sleep 0.3
like "$(in_netns "$C" ip neigh show "$IP_B")" "lladdr $MAC_B" "ARP spoofing: after the VM's forged ARP, C still has B's MAC for B"
nok "and not the VM's" grep -q "$MAC_V" <<<"$(in_netns "$C" ip neigh show "$IP_B")"
vx ip addr del "$IP_B/32" dev eth0
vx ip addr del 10.51.1.200/32 dev eth0
is "$(seen_by "$C" "$IP_V" -- ping -c 2 -W 1 "$IP_C")" 2 "the VM's honest pings still reach C"

# Its own MAC changed: nothing of it reaches anyone; its MAC back, it does again.
ok "the VM changes its own MAC" vx sh -c 'ip link set eth0 down && ip link set eth0 address 02:00:00:00:be:ef && ip link set eth0 up'
is "$(seen_by "$C" "$IP_V" -- sh -c "ip neigh flush dev eth0; ping -c 2 -W 1 $IP_C")" 0 \
	"with a MAC of its own choosing the VM reaches nobody"
vx sh -c "ip link set eth0 down && ip link set eth0 address $MAC_V && ip link set eth0 up && ip route replace default via 10.51.1.1 dev eth0"
is "$(seen_by "$C" "$IP_V" -- sh -c "ip neigh flush dev eth0; ping -c 2 -W 1 $IP_C")" 2 "with its own MAC back, it does again"

# Across VPCs (no peering) and to the host.
is "$(seen_by "$D" "$IP_V" -- ping -c 2 -W 1 "$IP_D")" 0 "another VPC's instance is out of reach"
HOST_IP=$(ip -4 -o addr show scope global | awk '{sub(/\/.*/, "", $4); print $4; exit}')
if [ -n "$HOST_IP" ]; then
	timeout 4 tcpdump -n -l -i any "icmp and src host $IP_V" >"$T/host" 2>"$T/host.err" &
	hp=$!
	for _ in $(seq 50); do grep -q "listening on" "$T/host.err" && break; sleep 0.05; done
	vx ping -c 2 -W 1 "$HOST_IP" >/dev/null 2>&1
	wait $hp
	is "$(grep -c 'ICMP echo request' "$T/host")" 0 "the host's own address ($HOST_IP) is out of reach"
else
	skip "the host's own address is out of reach" "the host has no global IPv4 address"
fi
