#!/bin/bash
# Security group references and membership: a rule naming a source group follows who is in that
# group (modify-network-interface-attribute --groups, create-network-interface --groups); the
# default group lets its members reach each other and no one else; at most 5 groups per ENI;
# the rules of all an ENI's groups are unioned.
. "$SRCDIR/tests/firewall/fw_lib.sh"

start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.12.0.0/16) && [ -n "$v" ] || bail "create-vpc"
sa=$(mk_subnet "$v" 10.12.1.0/24) && [ -n "$sa" ] || bail "create-subnet a"
sb=$(mk_subnet "$v" 10.12.2.0/24) && [ -n "$sb" ] || bail "create-subnet b"
dflt=$(default_sg "$v") && [ -n "$dflt" ] || bail "default group"
srv=$(mk_sg "$v" server) && [ -n "$srv" ] || bail "create-security-group server"
clients=$(mk_sg "$v" clients) && [ -n "$clients" ] || bail "create-security-group clients"
other=$(mk_sg "$v" other) && [ -n "$other" ] || bail "create-security-group other"
sg_in "$srv" --protocol tcp --port 80 --source-group "$clients" || bail "authorize from clients"
is "$(vpc describe-security-groups --group-ids "$srv" |
	jq_ '[u["GroupId"] for p in d["SecurityGroups"][0]["IpPermissions"] for u in p["UserIdGroupPairs"]]')" \
	"$clients" "describe shows the rule's UserIdGroupPairs"

es=$(mk_eni "$sb" 10.12.2.10) && [ -n "$es" ] || bail "eni server"
ec=$(mk_eni "$sa" 10.12.1.10) && [ -n "$ec" ] || bail "eni client"
is "$(eni_groups "$ec")" "$dflt" "an ENI created without --groups is in the default group"
set_groups "$es" "$srv" && set_groups "$ec" "$other" || bail "set groups"
plug "$es" s && plug "$ec" c || bail "plug"
S=${P}s C=${P}c SIP=10.12.2.10
listen_many "$S" 80 8080 8081 8082 || bail "listeners"

# ---- membership of the source group
nok "client in 'other' (not in 'clients'): tcp 80 is blocked" tcp_ok "$C" $SIP 80
ok "the client joins 'clients' (modify-network-interface-attribute --groups)" set_groups "$ec" "$clients"
is "$(eni_groups "$ec")" "$clients" "describe shows the client in 'clients'"
ok "client in 'clients': tcp 80 connects" tcp_ok "$C" $SIP 80
nok "client in 'clients': tcp 8080 is still blocked" tcp_ok "$C" $SIP 8080
ok "the client leaves 'clients'" set_groups "$ec" "$other"
nok "client out of 'clients' again: tcp 80 is blocked" tcp_ok "$C" $SIP 80

n=$(vpc create-network-interface --subnet-id "$sa" --private-ip-address 10.12.1.20 --groups "$clients" |
	jq_ 'd["NetworkInterface"]["NetworkInterfaceId"]') && [ -n "$n" ] || bail "create-network-interface --groups"
is "$(eni_groups "$n")" "$clients" "create-network-interface --groups: describe shows 'clients'"
plug "$n" n || bail "plug new"
ok "an ENI created with --groups clients: tcp 80 connects" tcp_ok "${P}n" $SIP 80
nok "... while the old client (in 'other') is still blocked" tcp_ok "$C" $SIP 80

# ---- the default group: members reach each other, non-members do not get in
d1=$(mk_eni "$sa" 10.12.1.30) && d2=$(mk_eni "$sa" 10.12.1.31) && d3=$(mk_eni "$sb" 10.12.2.30) || bail "default ENIs"
x=$(mk_eni "$sa" 10.12.1.40) && set_groups "$x" "$other" || bail "eni x"
plug "$d1" d1 && plug "$d2" d2 && plug "$d3" d3 && plug "$x" x || bail "plug default ENIs"
# The subnet's router address lives on the subnet bridge. Left to itself Linux gives a bridge
# the lowest MAC among its ports, so the router's MAC would move when an ENI (a port) joins or
# leaves, and an ENI that cached the old one would lose its way out: vpcd fixes the MAC.
bridge_mac=$(ip -n "$(vpc_ns "$v")" -j link show "$(bridge_of "$sa")" | jq -r '.[0].address')
port_macs=$(for e in "$ec" "$n" "$d1" "$d2" "$x"; do
	ip -n "$(vpc_ns "$v")" -j link show "$(port_of "$e")" | jq -r '.[0].address'
done)
nok "the subnet router's MAC ($bridge_mac) is its own, not borrowed from an ENI's port" grep -qx "$bridge_mac" <<<"$port_macs"
listen "${P}d2" 22 && listen "${P}d3" 22 || bail "listeners"
ok "default group, same subnet: member pings member" ping_ok "${P}d1" 10.12.1.31
ok "default group, same subnet: member connects to member's tcp 22" tcp_ok "${P}d1" 10.12.1.31 22
ok "default group, across subnets: member connects to member's tcp 22" tcp_ok "${P}d1" 10.12.2.30 22
nok "default group: an ENI in 'other' (same subnet) cannot ping a member" ping_once "${P}x" 10.12.1.31
nok "default group: an ENI in 'other' cannot connect to a member's tcp 22" tcp_ok "${P}x" 10.12.1.31 22
nok "a member cannot ping the ENI in 'other' (no ingress rule there)" ping_once "${P}d1" 10.12.1.40
ok "x joins the default group too (default + other)" set_groups "$x" "$other" "$dflt"
ok "x, now a member: connects to a member's tcp 22" tcp_ok "${P}x" 10.12.1.31 22

# ---- at most 5 groups per ENI
g=()
for i in 1 2 3 4 5 6; do
	g[i]=$(mk_sg "$v" "g$i") && [ -n "${g[i]}" ] || bail "create-security-group g$i"
done
ok "an ENI in 5 groups" set_groups "$ec" "${g[1]}" "${g[2]}" "${g[3]}" "${g[4]}" "${g[5]}"
is "$(eni_groups "$ec" | wc -w)" 5 "describe shows 5 groups"
before=$(eni_groups "$ec")
vpc_try modify-network-interface-attribute --network-interface-id "$ec" --groups "${g[@]:1:6}"
is "$RC" 254 "6 groups: modify-network-interface-attribute exits 254"
like "$ERR" "\(SecurityGroupsPerInterfaceLimitExceeded\)" "6 groups: SecurityGroupsPerInterfaceLimitExceeded"
is "$(eni_groups "$ec")" "$before" "6 groups: the ENI keeps its 5 groups"
count_enis() { vpc describe-network-interfaces | jq_ 'len(d["NetworkInterfaces"])'; }
enis_before=$(count_enis)
vpc_try create-network-interface --subnet-id "$sa" --groups "${g[@]:1:6}"
is "$RC" 254 "create-network-interface with 6 groups exits 254"
like "$ERR" "\(SecurityGroupsPerInterfaceLimitExceeded\)" \
	"create-network-interface with 6 groups: SecurityGroupsPerInterfaceLimitExceeded"
is "$(count_enis)" "$enis_before" "create-network-interface with 6 groups: no ENI is made"

# ---- union of the rules of an ENI's groups
sg_in "${g[1]}" --protocol tcp --port 8080 --cidr 10.12.0.0/16 || bail "authorize g1"
sg_in "${g[2]}" --protocol tcp --port 8081 --source-group "$clients" || bail "authorize g2"
ok "the server ENI in three groups (server, g1, g2)" set_groups "$es" "$srv" "${g[1]}" "${g[2]}"
ok "union: tcp 80 (from 'server') connects" tcp_ok "${P}n" $SIP 80
ok "union: tcp 8080 (from g1) connects" tcp_ok "${P}n" $SIP 8080
ok "union: tcp 8081 (from g2) connects" tcp_ok "${P}n" $SIP 8081
nok "union: tcp 8082 (in no group) is blocked" tcp_ok "${P}n" $SIP 8082
nok "union: tcp 8081 from an ENI outside 'clients' is blocked" tcp_ok "${P}d1" $SIP 8081
ok "union: tcp 8080 (CIDR rule) from that ENI connects" tcp_ok "${P}d1" $SIP 8080
ok "the server leaves g1" set_groups "$es" "$srv" "${g[2]}"
nok "without g1: tcp 8080 is blocked" tcp_ok "${P}n" $SIP 8080
ok "without g1: tcp 8081 (from g2) still connects" tcp_ok "${P}n" $SIP 8081

exit 0
