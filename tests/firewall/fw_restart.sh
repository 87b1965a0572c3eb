#!/bin/bash
# Security groups and network ACLs survive kill -9 and a restart: describe output is identical,
# the VPC namespace's nftables (table inet vpclab, and the bridge table) come back identical even
# when deleted behind vpcd's back, the same flows are allowed and blocked; teardown removes it all.
. "$SRCDIR/tests/firewall/fw_lib.sh"

start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.18.0.0/16) && [ -n "$v" ] || bail "create-vpc"
sa=$(mk_subnet "$v" 10.18.1.0/24) && [ -n "$sa" ] || bail "create-subnet a"
sb=$(mk_subnet "$v" 10.18.2.0/24) && [ -n "$sb" ] || bail "create-subnet b"
web=$(mk_sg "$v" web) && clients=$(mk_sg "$v" clients) && [ -n "$web" ] && [ -n "$clients" ] || bail "groups"
dflt=$(default_sg "$v")
sg_in "$web" --protocol tcp --port 80 --source-group "$clients" &&
	sg_in "$web" --protocol tcp --port 8000-8100 --cidr 10.18.0.0/16 &&
	sg_in "$web" --ip-permissions '[{"IpProtocol":"icmp","FromPort":8,"ToPort":-1,"IpRanges":[{"CidrIp":"10.18.1.0/24"}]}]' &&
	sg_rev_out "$web" --ip-permissions '[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]' &&
	sg_out "$web" --protocol udp --port 53 --cidr 10.18.0.0/16 || bail "authorize"
acl=$(mk_acl "$v") && [ -n "$acl" ] || bail "create-network-acl"
acl_entry create "$acl" 100 ingress tcp allow 10.18.1.0/24 80 80 &&
	acl_entry create "$acl" 110 ingress tcp allow 10.18.1.0/24 8000 8100 &&
	acl_entry create "$acl" 50 ingress tcp deny 10.18.1.20/32 8000 8100 &&
	acl_entry create "$acl" 120 ingress icmp allow 10.18.1.0/24 8 -1 &&
	acl_entry create "$acl" 100 egress tcp allow 10.18.1.0/24 1024 65535 &&
	acl_entry create "$acl" 120 egress icmp allow 10.18.1.0/24 0 -1 || bail "acl entries"
use_acl "$sb" "$acl" || bail "associate the ACL"
vpc create-tags --resources "$web" "$acl" --tags Key=role,Value=fw >/dev/null || bail "create-tags"

es=$(vpc create-network-interface --subnet-id "$sb" --private-ip-address 10.18.2.10 --groups "$web" |
	jq_ 'd["NetworkInterface"]["NetworkInterfaceId"]') && [ -n "$es" ] || bail "eni server"
ec=$(vpc create-network-interface --subnet-id "$sa" --private-ip-address 10.18.1.10 --groups "$clients" "$dflt" |
	jq_ 'd["NetworkInterface"]["NetworkInterfaceId"]') && [ -n "$ec" ] || bail "eni client"
ex=$(mk_eni "$sa" 10.18.1.20) && [ -n "$ex" ] || bail "eni x"
plug "$es" s && plug "$ec" c && plug "$ex" x || bail "plug"
S=${P}s C=${P}c X=${P}x SIP=10.18.2.10
listen_many "$S" 80 81 8050 || bail "listeners"
VNS=$(vpc_ns "$v")

# The flows and what they should do (1 = passes), in this order:
#   c->s:80 (SG: c in clients; ACL 100)       1     x->s:80 (SG: x not in clients)       0
#   c->s:8050 (SG range; ACL 110)             1     x->s:8050 (ACL 50 denies x)          0
#   c->s:81 (no SG rule, no ACL rule)         0     c ping s (icmp 8 in, 0 out)          1
#   x ping s (SG allows a/24; ACL allows)     1     s->c:22 (web has no tcp egress)      0
listen "$C" 22 || bail "listener c:22"
flows() {
	local r=()
	tcp_ok "$C" $SIP 80 && r+=(1) || r+=(0)
	tcp_ok "$X" $SIP 80 && r+=(1) || r+=(0)
	tcp_ok "$C" $SIP 8050 && r+=(1) || r+=(0)
	tcp_ok "$X" $SIP 8050 && r+=(1) || r+=(0)
	tcp_ok "$C" $SIP 81 && r+=(1) || r+=(0)
	ping_ok "$C" $SIP && r+=(1) || r+=(0)
	ping_ok "$X" $SIP && r+=(1) || r+=(0)
	tcp_ok "$S" 10.18.1.10 22 && r+=(1) || r+=(0)
	echo "${r[*]}"
}
WANT="1 0 1 0 0 1 1 0"

describe_all() {
	local verb
	for verb in describe-security-groups describe-security-group-rules describe-network-acls \
		describe-network-interfaces describe-tags; do
		echo "== $verb"
		vpc "$verb" | canonj
	done
}
kernel_raw() {
	echo "== inet vpclab"
	ip netns exec "$VNS" nft list table inet vpclab
	echo "== bridge vpclab"
	ip netns exec "$VNS" nft list table bridge vpclab
}
# kernel: the two tables with the elements of each set sorted. nft lists the elements of an
# interval set in the order they were added, which differs between a table built change by
# change and one loaded whole at a restart; the content is what must not differ.
kernel() {
	kernel_raw | python3 -c '
import re, sys
def sort_elems(m):
    items = [x.strip() for x in m.group(1).split(",")]
    return "elements = { " + ", ".join(sorted(items)) + " }"
print(re.sub(r"elements = \{(.*?)\}", sort_elems, sys.stdin.read(), flags=re.S), end="")'
}

is "$(flows)" "$WANT" "before: the flows pass and are blocked as the rules say"
describe_all >"$T/describe.before" || bail "describe"
kernel >"$T/nft.before" || bail "nft"
kernel_raw >"$T/nft.raw.before"
grep -q "nacl_${acl: -8}_in" "$T/nft.before" && grep -q "10.18.2.10 . tcp . 8000-8100 . 10.18.0.0/16" "$T/nft.before" ||
	fail "the nftables snapshot shows the ACL chain and the SG elements" "$(cat "$T/nft.before")"

kill9_vpcd
ip netns exec "$VNS" nft delete table inet vpclab || bail "delete the inet table behind vpcd's back"
is "$(flows | cut -d' ' -f1-5)" "1 1 1 1 1" "with vpcd dead and its inet table gone, nothing is filtered"

start_vpcd || bail "vpcd does not restart"
describe_all >"$T/describe.after"
same_file "$T/describe.before" "$T/describe.after" "after kill -9 and restart: describe output is identical"
kernel >"$T/nft.after"
kernel_raw >"$T/nft.raw.after"
same_file "$T/nft.before" "$T/nft.after" "after restart: nft list table inet vpclab (and bridge vpclab) is identical (set elements in sorted order)"
cmp -s "$T/nft.raw.before" "$T/nft.raw.after" ||
	diag "the raw 'nft list' text differs only in the order of set elements (history of adds vs one load)"
is "$(flows)" "$WANT" "after restart: the same flows pass and are blocked"

# A change after the restart still takes effect, and a second plain restart changes nothing.
ok "after restart: authorize tcp 81 from clients" sg_in "$web" --protocol tcp --port 81 --source-group "$clients"
ok "after restart: replace ACL entry 100 to allow tcp 80-81" acl_entry replace "$acl" 100 ingress tcp allow 10.18.1.0/24 80 81
ok "c -> s tcp 81 now connects" tcp_ok "$C" $SIP 81
describe_all >"$T/describe.before"
kernel >"$T/nft.before"
kill9_vpcd
start_vpcd || bail "vpcd does not restart (2)"
describe_all >"$T/describe.after"
kernel >"$T/nft.after"
same_file "$T/describe.before" "$T/describe.after" "second restart: describe output is identical"
same_file "$T/nft.before" "$T/nft.after" "second restart: nftables identical"
ok "second restart: c -> s tcp 81 connects" tcp_ok "$C" $SIP 81
nok "second restart: x -> s tcp 81 is blocked (x not in clients)" tcp_ok "$X" $SIP 81

# Teardown removes it all.
stop_vpcd
ok "vpcd teardown --prefix --state-dir" teardown_lab
is "$(netns_with_prefix "$P-" | tr '\n' ' ')" "" "teardown: no vpcd namespace with the prefix is left"
is "$(links_with_prefix | tr '\n' ' ')" "" "teardown: no host link with the prefix is left"
nok "teardown: the VPC namespace (and its nftables) is gone" ip netns exec "$VNS" nft list table inet vpclab 2>/dev/null
# The kernel frees a deleted namespace (and with it the veth pairs) asynchronously.
eth0_gone() {
	local i
	for i in $(seq 100); do
		ip -n "$S" link show eth0 >/dev/null 2>&1 || return 0
		sleep 0.05
	done
	return 1
}
ok "teardown: the plugged ENI is gone from the user namespace (within 5 s)" eth0_gone
nok "teardown: the state directory is gone" test -e "$STATE/state.json"
start_vpcd || bail "vpcd does not start after teardown"
is "$(vpc describe-security-groups | jq_ 'len(d["SecurityGroups"])') $(vpc describe-network-acls | jq_ 'len(d["NetworkAcls"])')" \
	"0 0" "after teardown a new vpcd starts empty (no group, no ACL)"
is "$(netns_with_prefix "$P-vpc-" | tr '\n' ' ')" "" "... and makes no VPC namespace"

exit 0
