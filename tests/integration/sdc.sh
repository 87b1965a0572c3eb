#!/bin/bash
# The source/destination check: an ENI may only send from its own MAC and IP (and receive for its
# own IP) unless the check is off; turning it back on drops again.
. "$(dirname "$0")/lib.sh"

start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.3.0.0/16) && [ -n "$v" ] || bail "create-vpc"
s=$(mk_subnet "$v" 10.3.1.0/24) && [ -n "$s" ] || bail "create-subnet"
e1=$(mk_eni "$s" 10.3.1.10) && [ -n "$e1" ] || bail "eni 1"
e2=$(mk_eni "$s" 10.3.1.20) && [ -n "$e2" ] || bail "eni 2"
plug "$e1" s1 && plug "$e2" s2 || bail "plug"
S1=${P}s1 S2=${P}s2
mac1=$(eni_field "$e1" MacAddress)

flush() { ip -n "$S1" neigh flush all; ip -n "$S2" neigh flush all; }
spoof_ip_ok() { flush; ping_ok "$S1" 10.3.1.20 -I 10.3.1.99; }
spoof_mac_ok() {
	ip -n "$S1" link set eth0 address 02:00:00:00:00:99 || return 2
	flush
	ping_ok "$S1" 10.3.1.20
	local r=$?
	ip -n "$S1" link set eth0 address "$mac1"
	return $r
}
sdc() { vpc modify-network-interface-attribute --network-interface-id "$e1" "$1" >/dev/null; }

# The default security group admits only its members' own addresses: open it to the whole VPC
# CIDR, so that what drops the spoofed packets below is the source/dest check alone.
sg=$(vpc describe-security-groups --filters "Name=vpc-id,Values=$v" Name=group-name,Values=default |
	jq_ 'd["SecurityGroups"][0]["GroupId"]') && [ -n "$sg" ] || bail "default security group"
vpc authorize-security-group-ingress --group-id "$sg" --protocol -1 --cidr 10.3.0.0/16 >/dev/null ||
	bail "authorize-security-group-ingress"

is "$(eni_field "$e1" SourceDestCheck)" true "the check is on by default"
ok "s1 reaches s2 from its own address" ping_ok "$S1" 10.3.1.20
ip -n "$S1" addr add 10.3.1.99/24 dev eth0 || bail "second address"

nok "check on: s1 sending from a second IP (10.3.1.99) is dropped" spoof_ip_ok
nok "check on: s1 with a changed MAC is dropped" spoof_mac_ok
ok "check on: s1 still reaches s2 from its own address" ping_ok "$S1" 10.3.1.20

ok "modify-network-interface-attribute --no-source-dest-check" sdc --no-source-dest-check
is "$(eni_field "$e1" SourceDestCheck)" false "describe shows SourceDestCheck false"
ok "check off: s1 sending from 10.3.1.99 passes" spoof_ip_ok
ok "check off: s1 with a changed MAC passes" spoof_mac_ok
# s2 keeps its check: it still may not send from an address that is not its own.
ip -n "$S2" addr add 10.3.1.98/24 dev eth0
flush
nok "s2's check is still on: s2 sending from 10.3.1.98 is dropped" ping_ok "$S2" 10.3.1.10 -I 10.3.1.98
ip -n "$S2" addr del 10.3.1.98/24 dev eth0

ok "modify-network-interface-attribute --source-dest-check" sdc --source-dest-check
is "$(eni_field "$e1" SourceDestCheck)" true "describe shows SourceDestCheck true"
nok "check back on: s1 sending from 10.3.1.99 is dropped again" spoof_ip_ok
nok "check back on: s1 with a changed MAC is dropped again" spoof_mac_ok
ok "check back on: s1 reaches s2 from its own address" ping_ok "$S1" 10.3.1.20

# Destination check: with the check on, s2 does not receive packets for an address that is
# not its own, even when they are sent to its MAC.
mac2=$(eni_field "$e2" MacAddress)
ip -n "$S2" addr add 10.3.1.97/32 dev eth0
ip -n "$S1" neigh replace 10.3.1.97 lladdr "$mac2" dev eth0
nok "check on: a packet for 10.3.1.97 sent to s2's MAC does not reach s2" ping_once "$S1" 10.3.1.97
vpc modify-network-interface-attribute --network-interface-id "$e2" --no-source-dest-check >/dev/null
ok "s2's check off: s2 receives (and answers) for 10.3.1.97" ping_ok "$S1" 10.3.1.97

# The model and the packets agree on every path between the ENIs left plugged (lib.sh).
prove_paths
