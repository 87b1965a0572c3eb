#!/bin/bash
# Security groups are stateful: with every egress rule of the server's group revoked, inbound
# connections still complete (their replies are tracked) while the server cannot open a new
# connection outward. An established flow survives the revoke of the ingress rule that admitted
# it (vpcd keeps tracked connections, as AWS does); new flows are judged by the new rules.
. "$SRCDIR/tests/firewall/fw_lib.sh"

start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.13.0.0/16) && [ -n "$v" ] || bail "create-vpc"
sc=$(mk_subnet "$v" 10.13.1.0/24) && [ -n "$sc" ] || bail "create-subnet client"
ss=$(mk_subnet "$v" 10.13.2.0/24) && [ -n "$ss" ] || bail "create-subnet server"
srv=$(mk_sg "$v" server) && cli=$(mk_sg "$v" client) && [ -n "$srv" ] && [ -n "$cli" ] || bail "groups"
sg_in "$srv" --protocol tcp --port 80 --cidr 10.13.0.0/16 || bail "authorize 80"
sg_in "$srv" --protocol tcp --port 9000 --cidr 10.13.1.0/24 || bail "authorize 9000"
sg_in "$cli" --protocol tcp --port 7000 --cidr 10.13.0.0/16 || bail "authorize 7000"
es=$(vpc create-network-interface --subnet-id "$ss" --private-ip-address 10.13.2.10 --groups "$srv" |
	jq_ 'd["NetworkInterface"]["NetworkInterfaceId"]') && [ -n "$es" ] || bail "eni server"
ec=$(vpc create-network-interface --subnet-id "$sc" --private-ip-address 10.13.1.10 --groups "$cli" |
	jq_ 'd["NetworkInterface"]["NetworkInterfaceId"]') && [ -n "$ec" ] || bail "eni client"
plug "$es" s && plug "$ec" c || bail "plug"
S=${P}s C=${P}c SIP=10.13.2.10 CIP=10.13.1.10
listen "$S" 80 && listen "$C" 7000 || bail "listeners"

all_egress='[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]'
egress_of() { vpc describe-security-groups --group-ids "$1" | jq_ 'd["SecurityGroups"][0]["IpPermissionsEgress"]'; }
is "$(egress_of "$srv")" \
	'[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}],"Ipv6Ranges":[],"PrefixListIds":[],"UserIdGroupPairs":[]}]' \
	"a new group allows all egress"

ok "control: client -> server tcp 80 connects" tcp_ok "$C" $SIP 80
ok "control: server -> client tcp 7000 connects (egress open)" tcp_ok "$S" $CIP 7000

ok "revoke all egress of the server's group" sg_rev_out "$srv" --ip-permissions "$all_egress"
is "$(vpc describe-security-groups --group-ids "$srv" | jq_ 'len(d["SecurityGroups"][0]["IpPermissionsEgress"])')" 0 \
	"describe shows no egress rule"
ok "stateful: client -> server tcp 80 still connects (the SYN-ACK is a tracked reply)" tcp_ok "$C" $SIP 80
nok "no egress: server -> client tcp 7000 (a new outbound connection) is blocked" tcp_ok "$S" $CIP 7000
nok "no egress: server cannot ping the client" ping_once "$S" $CIP
ok "authorize egress tcp 7000 to the client subnet only" sg_out "$srv" --protocol tcp --port 7000 --cidr 10.13.1.0/24
ok "server -> client tcp 7000 connects again" tcp_ok "$S" $CIP 7000
ok "restore all egress" sg_out "$srv" --ip-permissions "$all_egress"

# ---- an established flow and the revoke of the rule that admitted it
mkfifo "$T/to_srv" "$T/to_cli" || bail "mkfifo"
exec 7<>"$T/to_cli" 8<>"$T/to_srv" # held open by this shell: the nc's stdin stays alive
: >"$T/srv.out" >"$T/cli.out"
ip netns exec "$S" nc -l -k -p 9000 <"$T/to_srv" >"$T/srv.out" 2>/dev/null &
echo $! >>"$T/pids"
for _ in $(seq 100); do
	ip netns exec "$S" ss -Hltn "sport = :9000" | grep -q . && break
	sleep 0.02
done
ip netns exec "$C" nc $SIP 9000 <"$T/to_cli" >"$T/cli.out" 2>/dev/null &
echo $! >>"$T/pids"

# got FILE LINE: LINE arrives in FILE within 2 s
got() {
	local i
	for i in $(seq 100); do
		grep -qx "$2" "$1" && return 0
		sleep 0.02
	done
	return 1
}
echo "before-revoke" >&7
ok "long-lived flow: client -> server data passes" got "$T/srv.out" before-revoke
echo "reply-before" >&8
ok "long-lived flow: server -> client data passes" got "$T/cli.out" reply-before
ok "control: a second connection to tcp 9000 connects (the kernel queues it)" tcp_ok "$C" $SIP 9000

ok "revoke the tcp 9000 ingress rule while the flow is open" sg_rev_in "$srv" --protocol tcp --port 9000 --cidr 10.13.1.0/24
nok "a new connection to tcp 9000 is blocked at once" tcp_ok "$C" $SIP 9000
echo "after-revoke" >&7
if got "$T/srv.out" after-revoke; then
	diag "vpcd keeps an established flow after its ingress rule is revoked (conntrack: as AWS does for tracked connections)"
	pass "established flow after the revoke: client -> server data still passes (kept, as documented)"
else
	diag "vpcd cut the established flow when its ingress rule was revoked"
	fail "established flow after the revoke: client -> server data still passes (kept, as documented)"
fi
echo "reply-after" >&8
ok "established flow after the revoke: server -> client data still passes" got "$T/cli.out" reply-after
exec 7>&- 8>&-

exit 0
