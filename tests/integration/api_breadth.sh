#!/bin/bash
# The calls of docs/api_breadth.md, with packets where they change packets: EC2's flat form of
# authorize/revoke (IpProtocol, FromPort, ToPort, CidrIp, SourceSecurityGroupName) and the aws
# CLI's --protocol/--port/--source-group NAME, ModifySecurityGroupRules (a rule replaced in
# place: the old port closes, the new one opens), rule descriptions (the ruleset does not
# change), the quotas (60 rules a direction, groups per region, 5 groups per ENI) and
# SecurityGroupArn; DHCP options sets, which a DHCP client in a plugged namespace receives
# (domain name, name servers with AmazonProvidedDNS, NTP servers), `default`, and
# DependencyViolation. Every refusal exits 254 with EC2's code and changes nothing; a restart
# keeps the sets; audit-lab stays clean.
. "$SRCDIR/tests/firewall/fw_lib.sh"

command -v busybox >/dev/null || bail "busybox is missing (scripts/setup installs busybox-static)"
echo '{"default_vpc": false, "quotas": {"security_groups_per_region": 12}}' >"$CONFIG"
start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.140.0.0/16) && [ -n "$v" ] || bail "create-vpc"
s=$(mk_subnet "$v" 10.140.1.0/24) && [ -n "$s" ] || bail "create-subnet"
srv=$(mk_sg "$v" srv) && [ -n "$srv" ] || bail "group srv"
cli=$(mk_sg "$v" cli) && [ -n "$cli" ] || bail "group cli"
es=$(mk_eni "$s" 10.140.1.10) && [ -n "$es" ] || bail "eni server"
ec=$(mk_eni "$s" 10.140.1.20) && [ -n "$ec" ] || bail "eni client"
set_groups "$es" "$srv" && set_groups "$ec" "$cli" || bail "set groups"
plug "$es" s && plug "$ec" c || bail "plug"
S=${P}s C=${P}c SIP=10.140.1.10
VNS=$(vpc_ns "$v")
listen_many "$S" 7001 7002 7003 7004 || bail "listeners"

# ---------------------------------------------------------------- the flat form
nok "before any rule: tcp 7001 is blocked" tcp_ok "$C" $SIP 7001
ok "flat form: --ip-protocol tcp --from-port 7001 --to-port 7001 --cidr-ip" \
	sg_in "$srv" --ip-protocol tcp --from-port 7001 --to-port 7001 --cidr-ip 10.140.1.0/24
ok "tcp 7001 connects" tcp_ok "$C" $SIP 7001
nok "tcp 7002 is still blocked" tcp_ok "$C" $SIP 7002
nok "ping is blocked" ping_once "$C" $SIP
ok "flat form: --source-security-group-name cli (no protocol)" \
	sg_in "$srv" --source-security-group-name cli --source-security-group-owner-id 123456789012
rules=$(vpc describe-security-group-rules --filters Name=group-id,Values="$srv" |
	jq_ '" ".join(sorted("%s:%s-%s" % (r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in d["SecurityGroupRules"] if not r["IsEgress"] and "ReferencedGroupInfo" in r))')
is "$rules" "icmp:-1--1 tcp:0-65535 udp:0-65535" "a source group without a protocol: full TCP, UDP and ICMP, as EC2 makes it"
ok "tcp 7002 from the cli group connects" tcp_ok "$C" $SIP 7002
ok "ping from the cli group passes" ping_ok "$C" $SIP
ok "the flat form revokes too" \
	sg_rev_in "$srv" --source-security-group-name cli
nok "tcp 7002 is blocked again" tcp_ok "$C" $SIP 7002
ok "aws CLI form: --protocol tcp --port 7003 --source-group cli (a name)" \
	sg_in "$srv" --protocol tcp --port 7003 --source-group cli
ok "tcp 7003 connects" tcp_ok "$C" $SIP 7003

# ---------------------------------------------------------------- bad input (groups)
snapshot() {
	echo "== describe-security-groups"
	vpc describe-security-groups | canonj
	echo "== describe-security-group-rules"
	vpc describe-security-group-rules | canonj
	echo "== ENI groups"
	vpc describe-network-interfaces | jq_ '[[n["NetworkInterfaceId"], n["Groups"]] for n in d["NetworkInterfaces"]]'
	echo "== nftables"
	ip netns exec "$VNS" nft list ruleset
}
snapshot >"$T/before" || bail "snapshot"
r7001=$(vpc describe-security-group-rules --filters Name=group-id,Values="$srv" |
	jq_ '[r["SecurityGroupRuleId"] for r in d["SecurityGroupRules"] if r.get("FromPort") == 7001][0]')
[ -n "$r7001" ] || bail "the 7001 rule's ID"
egr=$(vpc describe-security-group-rules --filters Name=group-id,Values="$srv" |
	jq_ '[r["SecurityGroupRuleId"] for r in d["SecurityGroupRules"] if r["IsEgress"]][0]')
refused InvalidParameterCombination AuthorizeSecurityGroupIngress "flat form: CidrIp and SourceSecurityGroupName" -- \
	authorize-security-group-ingress --group-id "$srv" --ip-protocol tcp --from-port 1 --to-port 1 --cidr-ip 10.0.0.0/8 --source-security-group-name cli
refused InvalidParameterCombination AuthorizeSecurityGroupIngress "flat form with IpPermissions" -- \
	authorize-security-group-ingress --group-id "$srv" --ip-protocol tcp --from-port 1 --to-port 1 --cidr-ip 10.0.0.0/8 \
	--ip-permissions 'IpProtocol=tcp,FromPort=2,ToPort=2,IpRanges=[{CidrIp=10.0.0.0/8}]'
refused InvalidGroup.NotFound AuthorizeSecurityGroupIngress "flat form: another account's group" -- \
	authorize-security-group-ingress --group-id "$srv" --source-security-group-name cli --source-security-group-owner-id 210987654321
refused InvalidGroup.NotFound AuthorizeSecurityGroupIngress "flat form: a source group that does not exist" -- \
	authorize-security-group-ingress --group-id "$srv" --source-security-group-name nosuch
refused InvalidParameterValue AuthorizeSecurityGroupIngress "flat form: tcp without ports" -- \
	authorize-security-group-ingress --group-id "$srv" --ip-protocol tcp --cidr-ip 10.0.0.0/8
refused InvalidParameterValue AuthorizeSecurityGroupIngress "a description outside EC2's characters" -- \
	authorize-security-group-ingress --group-id "$srv" --ip-permissions 'IpProtocol=tcp,FromPort=9,ToPort=9,IpRanges=[{CidrIp=10.0.0.0/8,Description=caf\u00e9<>}]'
refused InvalidSecurityGroupRuleId.NotFound ModifySecurityGroupRules "modify an unknown rule ID" -- \
	modify-security-group-rules --group-id "$srv" --security-group-rules 'SecurityGroupRuleId=sgr-0123456789abcdef0,SecurityGroupRule={IpProtocol=tcp,FromPort=1,ToPort=1,CidrIpv4=10.0.0.0/8}'
refused InvalidParameterCombination ModifySecurityGroupRules "modify with a CIDR and a group" -- \
	modify-security-group-rules --group-id "$srv" --security-group-rules "SecurityGroupRuleId=$r7001,SecurityGroupRule={IpProtocol=tcp,FromPort=1,ToPort=1,CidrIpv4=10.0.0.0/8,ReferencedGroupId=$cli}"
refused InvalidParameterValue ModifySecurityGroupRules "modify to a bad port range" -- \
	modify-security-group-rules --group-id "$srv" --security-group-rules "SecurityGroupRuleId=$r7001,SecurityGroupRule={IpProtocol=tcp,FromPort=9,ToPort=1,CidrIpv4=10.0.0.0/8}"
refused InvalidPermission.Duplicate ModifySecurityGroupRules "modify into a rule the group has" -- \
	modify-security-group-rules --group-id "$srv" --security-group-rules "SecurityGroupRuleId=$r7001,SecurityGroupRule={IpProtocol=tcp,FromPort=7003,ToPort=7003,ReferencedGroupId=$cli}"
refused InvalidGroup.NotFound ModifySecurityGroupRules "modify on a group that does not exist" -- \
	modify-security-group-rules --group-id sg-0123456789abcdef0 --security-group-rules "SecurityGroupRuleId=$r7001,SecurityGroupRule={IpProtocol=tcp,FromPort=1,ToPort=1,CidrIpv4=10.0.0.0/8}"
refused InvalidSecurityGroupRuleId.NotFound UpdateSecurityGroupRuleDescriptionsIngress "describe an egress rule as ingress" -- \
	update-security-group-rule-descriptions-ingress --group-id "$srv" --security-group-rule-descriptions "SecurityGroupRuleId=$egr,Description=x"
refused InvalidParameterValue UpdateSecurityGroupRuleDescriptionsIngress "a description too long" -- \
	update-security-group-rule-descriptions-ingress --group-id "$srv" --security-group-rule-descriptions "SecurityGroupRuleId=$r7001,Description=$(printf 'x%.0s' $(seq 256))"
refused InvalidPermission.NotFound UpdateSecurityGroupRuleDescriptionsIngress "describe a rule that does not exist" -- \
	update-security-group-rule-descriptions-ingress --group-id "$srv" --ip-permissions 'IpProtocol=tcp,FromPort=1,ToPort=1,IpRanges=[{CidrIp=10.0.0.0/8,Description=x}]'
refused MissingParameter UpdateSecurityGroupRuleDescriptionsEgress "update descriptions with neither form" -- \
	update-security-group-rule-descriptions-egress --group-id "$srv"

# ---------------------------------------------------------------- modify, descriptions
ok "modify the 7001 rule into tcp 7004" \
	vpc modify-security-group-rules --group-id "$srv" --security-group-rules \
	"SecurityGroupRuleId=$r7001,SecurityGroupRule={IpProtocol=tcp,FromPort=7004,ToPort=7004,CidrIpv4=10.140.1.0/24,Description=moved}"
is "$(vpc describe-security-group-rules --security-group-rule-ids "$r7001" | jq_ '"%s %s %s" % (d["SecurityGroupRules"][0]["FromPort"], d["SecurityGroupRules"][0]["CidrIpv4"], d["SecurityGroupRules"][0]["Description"])')" \
	"7004 10.140.1.0/24 moved" "the rule keeps its ID, with the new port and description"
nok "tcp 7001 is blocked at once" tcp_ok "$C" $SIP 7001
ok "tcp 7004 connects" tcp_ok "$C" $SIP 7004
ip netns exec "$VNS" nft list ruleset >"$T/nft.before"
ok "update a description by rule ID" \
	vpc update-security-group-rule-descriptions-ingress --group-id "$srv" --security-group-rule-descriptions "SecurityGroupRuleId=$r7001,Description=by id"
ok "update a description by IpPermissions" \
	vpc update-security-group-rule-descriptions-ingress --group-id "$srv" --ip-permissions \
	"IpProtocol=tcp,FromPort=7003,ToPort=7003,UserIdGroupPairs=[{GroupId=$cli,Description=from cli}]"
got=$(vpc describe-security-groups --group-ids "$srv" | jq_ '" | ".join(sorted(x.get("Description", "") for p in d["SecurityGroups"][0]["IpPermissions"] for x in p["IpRanges"] + p["UserIdGroupPairs"]))')
is "$got" "by id | from cli" "describe-security-groups shows both descriptions"
ip netns exec "$VNS" nft list ruleset >"$T/nft.after"
same_file "$T/nft.before" "$T/nft.after" "descriptions leave the ruleset as it was"

# ---------------------------------------------------------------- quotas, ARN
arn=$(vpc create-security-group --vpc-id "$v" --group-name lim --description quota | jq_ 'd["SecurityGroupArn"]')
lim=${arn##*/}
is "$arn" "arn:aws:ec2:us-east-1:123456789012:security-group/$lim" "create-security-group answers SecurityGroupArn"
is "$(vpc describe-security-groups --group-ids "$lim" | jq_ 'd["SecurityGroups"][0]["SecurityGroupArn"]')" "$arn" \
	"describe-security-groups shows it"
perms() { # perms FROM N: N tcp rules from port FROM, as --ip-permissions JSON
	python3 -c 'import json,sys; a,n=int(sys.argv[1]),int(sys.argv[2]); print(json.dumps([{"IpProtocol":"tcp","FromPort":p,"ToPort":p,"IpRanges":[{"CidrIp":"10.9.0.0/16"}]} for p in range(a,a+n)]))' "$1" "$2"
}
ok "60 inbound rules in one call" sg_in "$lim" --ip-permissions "$(perms 1000 60)"
snapshot >"$T/before"
refused RulesPerSecurityGroupLimitExceeded AuthorizeSecurityGroupIngress "the 61st inbound rule" -- \
	authorize-security-group-ingress --group-id "$lim" --protocol tcp --port 2000 --cidr 10.9.0.0/16
refused RulesPerSecurityGroupLimitExceeded AuthorizeSecurityGroupEgress "61 outbound rules (with the default one)" -- \
	authorize-security-group-egress --group-id "$lim" --ip-permissions "$(perms 1000 60)"
ok "59 more outbound rules fit (60 with the default one)" sg_out "$lim" --ip-permissions "$(perms 1000 59)"
n=$(vpc describe-security-groups | jq_ 'len(d["SecurityGroups"])')
for i in $(seq $((12 - n))); do mk_sg "$v" "fill$i" >/dev/null || bail "fill $i"; done
snapshot >"$T/before"
refused SecurityGroupLimitExceeded CreateSecurityGroup "a group past the region's quota (12 in the config)" -- \
	create-security-group --vpc-id "$v" --group-name over --description over
ids=$(vpc describe-security-groups --filters Name=group-name,Values='fill*' | jq_ '" ".join(g["GroupId"] for g in d["SecurityGroups"][:3])')
snapshot >"$T/before"
# shellcheck disable=SC2086
refused SecurityGroupsPerInterfaceLimitExceeded ModifyNetworkInterfaceAttribute "6 groups on an ENI" -- \
	modify-network-interface-attribute --network-interface-id "$es" --groups "$srv" "$cli" "$lim" $ids
# shellcheck disable=SC2086
ok "5 groups on an ENI" set_groups "$es" "$srv" "$cli" $ids
ok "and the server still answers through srv's rules" tcp_ok "$C" $SIP 7004
ok "back to one group" set_groups "$es" "$srv"

# ---------------------------------------------------------------- DHCP options sets
printf '#!/bin/sh\n[ "$1" = bound ] && echo "domain=$domain|dns=$dns|ntp=$ntpsrv|wins=$wins|router=$router" >%s\n' "$T/dhcp.env" >"$T/dhcp.sh"
chmod +x "$T/dhcp.sh"
# dhcp NS: the options a DHCP client in NS receives (its static address put back after)
dhcp() {
	local had
	had=$(ip -n "$1" -4 -o addr show dev eth0 | awk '{print $4; exit}')
	: >"$T/dhcp.env"
	ip -n "$1" addr flush dev eth0
	ip netns exec "$1" busybox udhcpc -i eth0 -f -q -n -t 5 -T 1 -O ntpsrv -O wins -s "$T/dhcp.sh" >/dev/null 2>&1
	ip -n "$1" addr flush dev eth0
	[ -z "$had" ] || ip -n "$1" addr add "$had" dev eth0
	ip -n "$1" route replace default via 10.140.1.1 dev eth0
	sed 's/ *|/|/g; s/ *$//' "$T/dhcp.env"
}
dflt=$(vpc describe-vpcs --vpc-ids "$v" | jq_ 'd["Vpcs"][0]["DhcpOptionsId"]')
like "$dflt" '^dopt-[0-9a-f]{17}$' "a new VPC names the region's default set"
is "$(vpc describe-dhcp-options --dhcp-options-ids "$dflt" | jq_ '[(c["Key"], [x["Value"] for x in c["Values"]]) for c in d["DhcpOptions"][0]["DhcpConfigurations"]]')" \
	'[["domain-name",["ec2.internal"]],["domain-name-servers",["AmazonProvidedDNS"]]]' "which is AWS's: ec2.internal, AmazonProvidedDNS"
is "$(dhcp "$C")" "domain=ec2.internal|dns=10.140.1.2|ntp=|wins=|router=10.140.1.1" "and what DHCP gives"
out=$(vpc create-dhcp-options --dhcp-configurations "Key=domain-name,Values=corp.example" \
	"Key=domain-name-servers,Values=10.140.1.53,AmazonProvidedDNS" "Key=ntp-servers,Values=10.140.1.123,10.140.1.124" \
	"Key=netbios-name-servers,Values=10.140.1.44" "Key=netbios-node-type,Values=2" \
	--tag-specifications 'ResourceType=dhcp-options,Tags=[{Key=Name,Value=corp}]')
dopt=$(jq_ 'd["DhcpOptions"]["DhcpOptionsId"]' <<<"$out")
like "$dopt" '^dopt-[0-9a-f]{17}$' "create-dhcp-options answers its ID"
is "$(jq_ 'd["DhcpOptions"]["Tags"]' <<<"$out")" '[{"Key":"Name","Value":"corp"}]' "and its tags"
is "$(vpc describe-dhcp-options --filters Name=key,Values=ntp-servers | jq_ '[o["DhcpOptionsId"] for o in d["DhcpOptions"]]')" "$dopt" "filter key=ntp-servers"
is "$(vpc describe-dhcp-options --filters Name=value,Values='*.internal' | jq_ '[o["DhcpOptionsId"] for o in d["DhcpOptions"]]')" "$dflt" "filter value=*.internal"
is "$(vpc describe-dhcp-options --filters Name=tag:Name,Values=corp | jq_ 'len(d["DhcpOptions"])')" 1 "filter tag:Name"
is "$(dhcp "$C")" "domain=ec2.internal|dns=10.140.1.2|ntp=|wins=|router=10.140.1.1" "a set not yet associated changes nothing"
ok "associate the set with the VPC" vpc associate-dhcp-options --dhcp-options-id "$dopt" --vpc-id "$v"
is "$(vpc describe-vpcs --vpc-ids "$v" | jq_ 'd["Vpcs"][0]["DhcpOptionsId"]')" "$dopt" "describe-vpcs' DhcpOptionsId follows"
is "$(vpc describe-vpcs --filters Name=dhcp-options-id,Values="$dopt" | jq_ '[x["VpcId"] for x in d["Vpcs"]]')" "$v" "and the dhcp-options-id filter"
is "$(dhcp "$C")" "domain=corp.example|dns=10.140.1.53 10.140.1.2|ntp=10.140.1.123 10.140.1.124|wins=10.140.1.44|router=10.140.1.1" \
	"DHCP gives the set's domain, name servers (AmazonProvidedDNS: the resolver), NTP and NetBIOS servers"
is "$(ip netns exec "$C" busybox nslookup ip-10-140-1-10.ec2.internal 10.140.1.2 2>/dev/null | awk '/^Name:/ {n=1} n && /^Address/ {print $NF; exit}')" \
	10.140.1.10 "AmazonProvidedDNS still answers the private names"

snapshot() {
	echo "== describe-dhcp-options"
	vpc describe-dhcp-options | canonj
	echo "== describe-vpcs"
	vpc describe-vpcs | canonj
	echo "== dnsmasq"
	cat "$RUN/dns/$v/conf" "$RUN/dns/$v"/dhcp-opts.d/*
}
snapshot >"$T/before"
refused DependencyViolation DeleteDhcpOptions "delete a set a VPC uses" -- delete-dhcp-options --dhcp-options-id "$dopt"
refused InvalidDhcpOptionID.NotFound DeleteDhcpOptions "delete a set that does not exist" -- delete-dhcp-options --dhcp-options-id dopt-0123456789abcdef0
refused InvalidDhcpOptionID.NotFound AssociateDhcpOptions "associate a set that does not exist" -- \
	associate-dhcp-options --dhcp-options-id dopt-0123456789abcdef0 --vpc-id "$v"
refused InvalidVpcID.NotFound AssociateDhcpOptions "associate with a VPC that does not exist" -- \
	associate-dhcp-options --dhcp-options-id "$dflt" --vpc-id vpc-0123456789abcdef0
refused InvalidDhcpOptionID.NotFound DescribeDhcpOptions "describe a set that does not exist" -- \
	describe-dhcp-options --dhcp-options-ids dopt-0123456789abcdef0
refused InvalidParameterValue CreateDhcpOptions "an unknown option" -- create-dhcp-options --dhcp-configurations "Key=router,Values=10.0.0.1"
refused InvalidParameterValue CreateDhcpOptions "a name server that is not an address" -- \
	create-dhcp-options --dhcp-configurations "Key=domain-name-servers,Values=ns1.example"
refused InvalidParameterValue CreateDhcpOptions "five name servers" -- \
	create-dhcp-options --dhcp-configurations "Key=domain-name-servers,Values=10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4,10.0.0.5"
refused InvalidParameterValue CreateDhcpOptions "NetBIOS node type 3" -- create-dhcp-options --dhcp-configurations "Key=netbios-node-type,Values=3"
refused InvalidParameterValue CreateDhcpOptions "a domain name with a bad character" -- \
	create-dhcp-options --dhcp-configurations "Key=domain-name,Values=corp_example!"
refused InvalidParameterValue CreateDhcpOptions "an option given twice" -- \
	create-dhcp-options --dhcp-configurations "Key=ntp-servers,Values=10.0.0.1" "Key=ntp-servers,Values=10.0.0.2"
refused InvalidParameterValue CreateDhcpOptions "an option without a value" -- create-dhcp-options --dhcp-configurations "Key=ntp-servers"
refused InvalidParameterValue DescribeDhcpOptions "an unknown filter" -- describe-dhcp-options --filters Name=bogus,Values=x

stop_vpcd && start_vpcd || bail "restart vpcd"
is "$(vpc describe-vpcs --vpc-ids "$v" | jq_ 'd["Vpcs"][0]["DhcpOptionsId"]')" "$dopt" "after a restart the VPC keeps its set"
is "$(dhcp "$C")" "domain=corp.example|dns=10.140.1.53 10.140.1.2|ntp=10.140.1.123 10.140.1.124|wins=10.140.1.44|router=10.140.1.1" \
	"and DHCP still gives it"
ok "associate default (no set)" vpc associate-dhcp-options --dhcp-options-id default --vpc-id "$v"
is "$(vpc describe-vpcs --vpc-ids "$v" | jq_ 'd["Vpcs"][0]["DhcpOptionsId"]')" default "DhcpOptionsId is default"
is "$(dhcp "$C")" "domain=|dns=|ntp=|wins=|router=10.140.1.1" "DHCP gives no domain and no name servers"
ok "delete the set no VPC uses" vpc delete-dhcp-options --dhcp-options-id "$dopt"
vpc_try describe-dhcp-options --dhcp-options-ids "$dopt"
is "$RC" 254 "it is gone"
ok "associate the region's default set again" vpc associate-dhcp-options --dhcp-options-id "$dflt" --vpc-id "$v"
is "$(dhcp "$C")" "domain=ec2.internal|dns=10.140.1.2|ntp=|wins=|router=10.140.1.1" "DHCP gives AWS's defaults again"
ok "tcp 7004 still connects" tcp_ok "$C" $SIP 7004

vpc_try audit-lab
is "$RC" 0 "audit-lab is clean"
[ "$RC" -eq 0 ] || diag "$OUT $ERR"

# The model and the packets agree on every path between the ENIs left plugged (lib.sh).
prove_paths
