#!/bin/bash
# Security group rules by protocol and port: an ENI in a new group that allows tcp 80 from the
# VPC CIDR accepts tcp 80 and nothing else; rules added or revoked apply to new connections at
# once; port ranges include both ends and nothing outside; icmp rules match on the type; udp
# rules let datagrams through; a CIDR narrower than the client's address does not.
. "$SRCDIR/tests/firewall/fw_lib.sh"

start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.11.0.0/16) && [ -n "$v" ] || bail "create-vpc"
sc=$(mk_subnet "$v" 10.11.1.0/24) && [ -n "$sc" ] || bail "create-subnet client"
ss=$(mk_subnet "$v" 10.11.2.0/24) && [ -n "$ss" ] || bail "create-subnet server"
ec=$(mk_eni "$sc" 10.11.1.10) && [ -n "$ec" ] || bail "eni client"
es=$(mk_eni "$ss" 10.11.2.10) && [ -n "$es" ] || bail "eni server"
plug "$ec" c && plug "$es" s || bail "plug"
C=${P}c S=${P}s SIP=10.11.2.10
listen_many "$S" 80 81 82 999 1000 1500 2000 2001 || bail "listeners"

# Control: both ENIs are in the default group, whose members reach each other on any port.
ok "control (default group): tcp 81 connects" tcp_ok "$C" $SIP 81
ok "control (default group): ping passes" ping_ok "$C" $SIP

web=$(mk_sg "$v" web) && [ -n "$web" ] || bail "create-security-group"
is "$(vpc describe-security-groups --group-ids "$web" | jq_ 'len(d["SecurityGroups"][0]["IpPermissions"])')" 0 \
	"a new group has no ingress rule"
ok "authorize tcp 80 from 10.11.0.0/16" sg_in "$web" --protocol tcp --port 80 --cidr 10.11.0.0/16
ok "the server ENI joins the group (alone)" set_groups "$es" "$web"
is "$(eni_groups "$es")" "$web" "describe shows the ENI in that one group"

ok "tcp 80 connects" tcp_ok "$C" $SIP 80
nok "tcp 81 is blocked" tcp_ok "$C" $SIP 81
nok "ping is blocked" ping_once "$C" $SIP

ok "authorize tcp 81" sg_in "$web" --protocol tcp --port 81 --cidr 10.11.0.0/16
ok "tcp 81 connects at once" tcp_ok "$C" $SIP 81
ok "revoke tcp 81" sg_rev_in "$web" --protocol tcp --port 81 --cidr 10.11.0.0/16
nok "tcp 81 is blocked again after the revoke" tcp_ok "$C" $SIP 81
ok "tcp 80 still connects" tcp_ok "$C" $SIP 80

# The same, through --ip-permissions and a revoke by rule ID.
ok "authorize tcp 81 with --ip-permissions" sg_in "$web" \
	--ip-permissions '[{"IpProtocol":"tcp","FromPort":81,"ToPort":81,"IpRanges":[{"CidrIp":"10.11.1.0/24"}]}]'
ok "tcp 81 connects" tcp_ok "$C" $SIP 81
rid=$(vpc describe-security-group-rules --filters Name=group-id,Values="$web" |
	jq_ '[r["SecurityGroupRuleId"] for r in d["SecurityGroupRules"] if not r["IsEgress"] and r["FromPort"] == 81][0]')
like "$rid" '^sgr-[0-9a-f]{17}$' "describe-security-group-rules finds the rule"
ok "revoke by --security-group-rule-ids" sg_rev_in "$web" --security-group-rule-ids "$rid"
nok "tcp 81 is blocked again" tcp_ok "$C" $SIP 81

# A CIDR that does not hold the client.
ok "authorize tcp 82 from 10.11.3.0/24 only" sg_in "$web" --protocol tcp --port 82 --cidr 10.11.3.0/24
nok "tcp 82 from 10.11.1.10 is blocked" tcp_ok "$C" $SIP 82
ok "authorize tcp 82 from 10.11.1.10/32" sg_in "$web" --protocol tcp --port 82 --cidr 10.11.1.10/32
ok "tcp 82 from 10.11.1.10 connects" tcp_ok "$C" $SIP 82

# A port range: both ends in, nothing outside.
ok "authorize tcp 1000-2000" sg_in "$web" --protocol tcp --port 1000-2000 --cidr 10.11.0.0/16
is "$(vpc describe-security-groups --group-ids "$web" |
	jq_ '[[p["FromPort"], p["ToPort"]] for p in d["SecurityGroups"][0]["IpPermissions"] if p.get("FromPort") == 1000]')" \
	"[[1000,2000]]" "describe shows FromPort 1000 ToPort 2000"
for port in 1000 1500 2000; do
	ok "tcp $port (in the range) connects" tcp_ok "$C" $SIP $port
done
for port in 999 2001; do
	nok "tcp $port (outside the range) is blocked" tcp_ok "$C" $SIP $port
done

# ICMP: the type counts. An echo-reply (type 0) rule does not admit an echo request.
ok "authorize icmp type 0 (echo reply)" sg_in "$web" \
	--ip-permissions '[{"IpProtocol":"icmp","FromPort":0,"ToPort":-1,"IpRanges":[{"CidrIp":"10.11.0.0/16"}]}]'
nok "ping is still blocked with only an icmp type 0 rule" ping_once "$C" $SIP
ok "authorize icmp type 8 (echo request), any code" sg_in "$web" \
	--ip-permissions '[{"IpProtocol":"icmp","FromPort":8,"ToPort":-1,"IpRanges":[{"CidrIp":"10.11.0.0/16"}]}]'
ok "ping passes with the icmp type 8 rule" ping_ok "$C" $SIP
ok "revoke icmp type 8" sg_rev_in "$web" \
	--ip-permissions '[{"IpProtocol":"icmp","FromPort":8,"ToPort":-1,"IpRanges":[{"CidrIp":"10.11.0.0/16"}]}]'
nok "ping is blocked after the revoke" ping_once "$C" $SIP

# UDP: tcp rules on the same port do not admit udp; a udp rule does, and the payload arrives.
nok "udp 80 is blocked by a tcp 80 rule" udp_delivered "$C" "$S" $SIP 80
nok "udp 5353 is blocked" udp_delivered "$C" "$S" $SIP 5353
ok "authorize udp 5353" sg_in "$web" --protocol udp --port 5353 --cidr 10.11.0.0/16
ok "udp 5353 is delivered (payload received by nc -u -l)" udp_delivered "$C" "$S" $SIP 5353
nok "tcp 5353 is not admitted by the udp rule" tcp_ok "$C" $SIP 5353

# -1 (all protocols) from the client's /32.
ok "authorize all protocols from 10.11.1.10/32" sg_in "$web" --protocol -1 --cidr 10.11.1.10/32
ok "with -1: tcp 999 connects" tcp_ok "$C" $SIP 999
ok "with -1: ping passes" ping_ok "$C" $SIP
ok "revoke the -1 rule" sg_rev_in "$web" --protocol -1 --cidr 10.11.1.10/32
nok "without -1: tcp 999 is blocked again" tcp_ok "$C" $SIP 999
ok "tcp 80 still connects at the end" tcp_ok "$C" $SIP 80

exit 0
