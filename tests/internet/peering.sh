#!/bin/bash
# VPC peering across regions: accepted only in the accepter's region; traffic needs routes on
# both sides; not transitive; no edge-to-edge use of the peer's internet gateway; overlapping
# CIDRs fail; deleting the peering turns its routes into blackholes and stops the traffic.
. "$(dirname "$0")/inet_lib.sh"

inet_pool 198.19.0.0/18
start_vpcd || bail "vpcd does not start"

# mk REGION CIDR SUBNET IP SUFFIX -> "vpc rtb eni sg"; the ENI is plugged into $P$SUFFIX and
# its group allows ICMP from 10.0.0.0/8.
mk() {
	local vpc_id s e sg rt
	vpc_id=$(rvpc "$1" create-vpc --cidr-block "$2" | jq_ 'd["Vpc"]["VpcId"]') && [ -n "$vpc_id" ] || return 1
	s=$(rvpc "$1" create-subnet --vpc-id "$vpc_id" --cidr-block "$3" | jq_ 'd["Subnet"]["SubnetId"]') && [ -n "$s" ] || return 1
	e=$(rvpc "$1" create-network-interface --subnet-id "$s" --private-ip-address "$4" |
		jq_ 'd["NetworkInterface"]["NetworkInterfaceId"]') && [ -n "$e" ] || return 1
	rplug "$1" "$e" "$5" || return 1
	sg=$(default_sg "$vpc_id" "$1") && allow_in "$sg" icmp -1 10.0.0.0/8 "$1" || return 1
	rt=$(main_rtb "$vpc_id" "$1") && [ -n "$rt" ] || return 1
	echo "$vpc_id $rt $e $sg"
}
read -r A TA _ _ <<<"$(mk us-east-1 10.51.0.0/16 10.51.1.0/24 10.51.1.10 a)"
read -r B TB EB SGB <<<"$(mk us-west-2 10.52.0.0/16 10.52.1.0/24 10.52.1.10 b)"
read -r C TC _ _ <<<"$(mk us-east-1 10.53.0.0/16 10.53.1.0/24 10.53.1.10 c)"
[ -n "$A" ] && [ -n "$B" ] && [ -n "$C" ] && [ -n "$SGB" ] || bail "building the three VPCs"

route() { # REGION RTB DEST PCX
	rvpc "$1" create-route --route-table-id "$2" --destination-cidr-block "$3" --vpc-peering-connection-id "$4" >/dev/null
}
status() { # REGION PCX
	rvpc "$1" describe-vpc-peering-connections --vpc-peering-connection-ids "$2" |
		jq_ 'd["VpcPeeringConnections"][0]["Status"]["Code"]'
}

out=$(vpc create-vpc-peering-connection --vpc-id "$A" --peer-vpc-id "$B" --peer-region us-west-2) ||
	bail "create-vpc-peering-connection A-B"
P1=$(jq_ 'd["VpcPeeringConnection"]["VpcPeeringConnectionId"]' <<<"$out")
like "$P1" '^pcx-[0-9a-f]{17}$' "create-vpc-peering-connection A (us-east-1) -> B (us-west-2): $P1"
is "$(jq_ 'd["VpcPeeringConnection"]["Status"]["Code"]' <<<"$out")" initiating-request "it answers initiating-request"
is "$(status us-east-1 "$P1")" pending-acceptance "describe (requester's region): pending-acceptance"
is "$(status us-west-2 "$P1")" pending-acceptance "describe (accepter's region): pending-acceptance"
is "$(rvpc us-west-2 describe-vpc-peering-connections --vpc-peering-connection-ids "$P1" |
	jq_ '[d["VpcPeeringConnections"][0][k]["Region"] for k in ("RequesterVpcInfo", "AccepterVpcInfo")]' | tr '\n' ' ')" \
	"us-east-1 us-west-2 " "RequesterVpcInfo.Region us-east-1, AccepterVpcInfo.Region us-west-2"
fails_with OperationNotPermitted "accepting in the requester's region (us-east-1) is refused" \
	accept-vpc-peering-connection --vpc-peering-connection-id "$P1"
is "$(status us-east-1 "$P1")" pending-acceptance "... it stays pending-acceptance"
is "$(rvpc us-west-2 accept-vpc-peering-connection --vpc-peering-connection-id "$P1" |
	jq_ 'd["VpcPeeringConnection"]["Status"]["Code"]')" active "accept in us-west-2: active"
is "$(status us-east-1 "$P1")" active "describe from us-east-1: active"
fails_with InvalidStateTransition "accepting it twice: InvalidStateTransition" \
	--region us-west-2 accept-vpc-peering-connection --vpc-peering-connection-id "$P1"

# Routes on one side only: no reply.
route us-east-1 "$TA" 10.52.0.0/16 "$P1" || bail "route A -> B"
is "$(route_state "$TA" 10.52.0.0/16)" active "A's route to B via $P1 is active"
nok "with a route on A's side only, A's ping to B gets no reply" ping_once "${P}a" 10.52.1.10
route us-west-2 "$TB" 10.51.0.0/16 "$P1" || bail "route B -> A"
ok "with routes on both sides, A pings B" ping_ok "${P}a" 10.52.1.10
ok "B pings A" ping_ok "${P}b" 10.51.1.10

# C peered with B only.
P2=$(rvpc us-west-2 create-vpc-peering-connection --vpc-id "$B" --peer-vpc-id "$C" --peer-region us-east-1 |
	jq_ 'd["VpcPeeringConnection"]["VpcPeeringConnectionId"]') && [ -n "$P2" ] || bail "create B-C"
vpc accept-vpc-peering-connection --vpc-peering-connection-id "$P2" >/dev/null || bail "accept B-C"
route us-west-2 "$TB" 10.53.0.0/16 "$P2" && route us-east-1 "$TC" 10.52.0.0/16 "$P2" || bail "routes B <-> C"
ok "B pings C" ping_ok "${P}b" 10.53.1.10
# A -> C through B, with routes pointing that way on every side.
route us-east-1 "$TA" 10.53.0.0/16 "$P1" && route us-east-1 "$TC" 10.51.0.0/16 "$P2" || bail "routes A <-> C via B"
nok "not transitive: A cannot ping C through B" ping_once "${P}a" 10.53.1.10
nok "nor C ping A through B" ping_once "${P}c" 10.51.1.10

# No edge-to-edge: B's internet gateway serves B, not A.
igw=$(rvpc us-west-2 create-internet-gateway | jq_ 'd["InternetGateway"]["InternetGatewayId"]') && [ -n "$igw" ] || bail "igw"
rvpc us-west-2 attach-internet-gateway --internet-gateway-id "$igw" --vpc-id "$B" >/dev/null || bail "attach"
rvpc us-west-2 create-route --route-table-id "$TB" --destination-cidr-block 0.0.0.0/0 --gateway-id "$igw" >/dev/null ||
	bail "B 0/0 -> igw"
read -r beip bpub <<<"$(eip_alloc us-west-2)"
rvpc us-west-2 associate-address --allocation-id "$beip" --network-interface-id "$EB" >/dev/null || bail "B's EIP"
HOST2=$(lab_host us-west-2) && HOST1=$(lab_host us-east-1) && [ -n "$HOST2" ] && [ -n "$HOST1" ] || bail "describe-lab"
is "$(curl_in "${P}b" "$HOST2")" "$bpub" "B reaches the us-west-2 internet host through its gateway as $bpub"
route us-east-1 "$TA" 0.0.0.0/0 "$P1" || bail "A 0/0 -> pcx"
is "$(route_state "$TA" 0.0.0.0/0)" active "A's 0.0.0.0/0 via $P1 is active"
nok "edge-to-edge: A's ping to the us-west-2 internet host through B gets nothing" ping_once "${P}a" "$HOST2"
ok "edge-to-edge: A's HTTP to the us-west-2 internet host gets nothing" no_curl "${P}a" "$HOST2"
ok "edge-to-edge: nor to the us-east-1 internet host" no_curl "${P}a" "$HOST1"
ok "A still pings B" ping_ok "${P}a" 10.52.1.10

# Overlapping CIDRs.
X=$(mk_vpc 10.51.128.0/17) && [ -n "$X" ] || bail "create-vpc X"
out=$(vpc create-vpc-peering-connection --vpc-id "$A" --peer-vpc-id "$X") || fail "create A-X"
P3=$(jq_ 'd["VpcPeeringConnection"]["VpcPeeringConnectionId"]' <<<"$out")
is "$(status us-east-1 "$P3")" failed "overlapping CIDRs (10.51.0.0/16, 10.51.128.0/17): Status.Code failed"
fails_with InvalidStateTransition "accepting the failed peering: InvalidStateTransition" \
	accept-vpc-peering-connection --vpc-peering-connection-id "$P3"
fails_with InvalidVpcPeeringConnectionID.NotFound "a peering in neither region of the caller is not found" \
	--region us-east-2 describe-vpc-peering-connections --vpc-peering-connection-ids "$P1"

# Delete A-B: its routes become blackholes on both sides, traffic stops; B-C is untouched.
ok "delete-vpc-peering-connection $P1" vpc delete-vpc-peering-connection --vpc-peering-connection-id "$P1"
is "$(status us-east-1 "$P1")" deleted "describe: deleted"
is "$(route_state "$TA" 10.52.0.0/16) $(route_state "$TA" 10.53.0.0/16) $(route_state "$TA" 0.0.0.0/0)" \
	"blackhole blackhole blackhole" "A's three routes via $P1 are blackholes"
is "$(route_state "$TB" 10.51.0.0/16 us-west-2)" blackhole "B's route to A is a blackhole"
is "$(route_state "$TB" 10.53.0.0/16 us-west-2)" active "B's route to C stays active"
nok "A no longer pings B" ping_once "${P}a" 10.52.1.10
nok "B no longer pings A" ping_once "${P}b" 10.51.1.10
ok "B still pings C" ping_ok "${P}b" 10.53.1.10
fails_with InvalidStateTransition "deleting it twice: InvalidStateTransition" \
	delete-vpc-peering-connection --vpc-peering-connection-id "$P1"
