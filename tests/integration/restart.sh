#!/bin/bash
# kill -9 and a damaged kernel: at the next start every object is described exactly as before,
# the kernel is repaired (a deleted bridge comes back, strays carrying the prefix go), traffic
# flows again, and a request acknowledged just before the kill is not lost.
. "$(dirname "$0")/lib.sh"

start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.6.0.0/16 lab) && [ -n "$v" ] || bail "create-vpc"
s1=$(mk_subnet "$v" 10.6.1.0/24) && [ -n "$s1" ] || bail "create-subnet 1"
s2=$(mk_subnet "$v" 10.6.2.0/24) && [ -n "$s2" ] || bail "create-subnet 2"
r1=$(mk_eni "$s1" 10.6.1.10) && [ -n "$r1" ] || bail "eni r1"
r2=$(mk_eni "$s2") && [ -n "$r2" ] || bail "eni r2"
ip2=$(eni_field "$r2" PrivateIpAddress)
plug "$r1" r1 && plug "$r2" r2 || bail "plug"
rt=$(vpc create-route-table --vpc-id "$v" --tag-specifications 'ResourceType=route-table,Tags=[{Key=Name,Value=custom}]' |
	jq_ 'd["RouteTable"]["RouteTableId"]') && [ -n "$rt" ] || bail "create-route-table"
vpc associate-route-table --route-table-id "$rt" --subnet-id "$s2" >/dev/null || bail "associate"
vpc create-route --route-table-id "$rt" --destination-cidr-block 192.168.60.0/24 --network-interface-id "$r1" >/dev/null ||
	bail "create-route"
vpc create-tags --resources "$r1" "$s1" --tags Key=role,Value=one >/dev/null || bail "create-tags"
ok "before: r1 pings r2 ($ip2)" ping_ok "${P}r1" "$ip2"

VNS=$(vpc_ns "$v")
BR1=$(bridge_of "$s1")
describe_all() {
	local verb
	for verb in describe-vpcs describe-subnets describe-network-interfaces describe-route-tables \
		describe-security-groups describe-network-acls describe-tags; do
		echo "== $verb"
		vpc "$verb" | canon
	done
}
describe_all >"$T/before" || bail "describe"

# The last request before the kill: acknowledged, so it must survive.
late=$(vpc create-subnet --vpc-id "$v" --cidr-block 10.6.3.0/24) || bail "late create-subnet"
kill9_vpcd
late_id=$(jq_ 'd["Subnet"]["SubnetId"]' <<<"$late")

# Damage.
ip -n "$VNS" link del "$BR1" || bail "delete bridge"
ip -n "$VNS" link add "${P}bdeadbeef" type bridge || bail "stray bridge"
ip netns add "$P-vpc-00000000deadbeef" || bail "stray netns"
nok "damaged: r1 no longer reaches r2" ping_once "${P}r1" "$ip2"

start_vpcd || bail "vpcd does not restart"
vpc describe-subnets --subnet-ids "$late_id" | jq_ 'd["Subnets"][0]' >"$T/late.after"
jq_ 'd["Subnet"]' <<<"$late" >"$T/late.before"
same_file "$T/late.before" "$T/late.after" "the subnet created just before kill -9 is described as acknowledged"
# Everything else is described exactly as before.
# normalize [LATE_ID]: the sections of describe_all re-dumped, without the subnet LATE_ID (and its
# network ACL association).
normalize() {
	python3 -c '
import sys, json
late = sys.argv[1]
out = []
for sec in sys.stdin.read().split("== ")[1:]:
    name, _, body = sec.partition("\n")
    d = json.loads(body)
    if name == "describe-subnets":
        d["Subnets"] = [s for s in d["Subnets"] if s["SubnetId"] != late]
    if name == "describe-network-acls":
        for acl in d["NetworkAcls"]:
            acl["Associations"] = [a for a in acl["Associations"] if a.get("SubnetId") != late]
    out.append("== " + name + "\n" + json.dumps(d, sort_keys=True, indent=1) + "\n")
sys.stdout.write("".join(out))
' "${1:-}"
}
normalize <"$T/before" >"$T/before.n"
describe_all | normalize "$late_id" >"$T/after"
same_file "$T/before.n" "$T/after" "after kill -9 and restart, every object is described with identical JSON"

nok "the stray link ${P}bdeadbeef is gone" ip -n "$VNS" link show "${P}bdeadbeef"
nok "the stray namespace $P-vpc-00000000deadbeef is gone" test -e "/run/netns/$P-vpc-00000000deadbeef"
ok "the deleted bridge $BR1 is back" ip -n "$VNS" link show "$BR1"
like "$(ip -n "$VNS" link show "$BR1")" 'state UP|,UP' "it is up"
is "$(ip -n "$VNS" -o -4 addr show dev "$BR1" | awk '{print $4}' | tr '\n' ' ')" "10.6.1.1/24 10.6.1.2/24 " \
	"it holds the router address 10.6.1.1/24 and the resolver's 10.6.1.2/24"
is "$(ip -n "$VNS" -o link show master "$BR1" | awk -F': ' '{print $2}' | sed 's/@.*//')" "$(port_of "$r1")" \
	"r1's port is enslaved to it again"
ok "the late subnet's bridge exists" ip -n "$VNS" link show "$(bridge_of "$late_id")"
is "$(eni_field "$r1" Status)" in-use "r1 is still in-use"
ok "after restart: r1 pings r2" ping_ok "${P}r1" "$ip2"
ok "after restart: r2 pings r1" ping_ok "${P}r2" 10.6.1.10
is "$(ip netns exec "$VNS" nft list set bridge vpclab sdc_ports | grep -c "$(port_of "$r1")")" 1 \
	"the source/dest check covers r1 again"

# A second restart with nothing damaged changes nothing.
stop_vpcd
start_vpcd || bail "vpcd does not restart (2)"
describe_all >"$T/again"
describe_all >"$T/again2"
same_file "$T/again" "$T/again2" "describe is stable"
ok "after a clean restart: r1 pings r2" ping_ok "${P}r1" "$ip2"
