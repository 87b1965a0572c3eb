#!/bin/bash
# NAT gateways: a private subnet routed to a NAT gateway in a public subnet reaches the
# internet host with the NAT gateway's EIP as source and cannot be reached through it;
# deleting the gateway leaves a deleted record, a blackhole route, no internet and no namespace.
. "$(dirname "$0")/inet_lib.sh"

inet_pool 198.18.192.0/18
start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.31.0.0/16) && [ -n "$v" ] || bail "create-vpc"
pubs=$(mk_subnet "$v" 10.31.1.0/24) && [ -n "$pubs" ] || bail "public subnet"
privs=$(mk_subnet "$v" 10.31.2.0/24) && [ -n "$privs" ] || bail "private subnet"
igw=$(vpc create-internet-gateway | jq_ 'd["InternetGateway"]["InternetGatewayId"]') && [ -n "$igw" ] || bail "create-internet-gateway"
vpc attach-internet-gateway --internet-gateway-id "$igw" --vpc-id "$v" >/dev/null || bail "attach"
main=$(main_rtb "$v") && [ -n "$main" ] || bail "main route table"
vpc create-route --route-table-id "$main" --destination-cidr-block 0.0.0.0/0 --gateway-id "$igw" >/dev/null ||
	bail "create-route -> igw"
rt=$(vpc create-route-table --vpc-id "$v" | jq_ 'd["RouteTable"]["RouteTableId"]') && [ -n "$rt" ] || bail "create-route-table"
vpc associate-route-table --route-table-id "$rt" --subnet-id "$privs" >/dev/null || bail "associate-route-table"
sg=$(default_sg "$v") && [ -n "$sg" ] || bail "default security group"
allow_in "$sg" tcp 8080 0.0.0.0/0 || bail "authorize tcp 8080"

priv=$(mk_eni "$privs" 10.31.2.10) && [ -n "$priv" ] || bail "private eni"
web=$(mk_eni "$pubs" 10.31.1.10) && [ -n "$web" ] || bail "public eni"
plug "$priv" priv && plug "$web" web || bail "plug"
listen "${P}priv" 8080 || bail "listener in priv"
HOST=$(lab_host us-east-1) && [ -n "$HOST" ] || bail "describe-lab"

ok "the private ENI has no way out yet" no_curl "${P}priv" "$HOST"
ok "its listener answers inside the VPC (web -> 10.31.2.10:8080)" nc_in "${P}web" 10.31.2.10 8080

read -r eip pub <<<"$(eip_alloc)"
[ -n "$eip" ] || bail "allocate-address"
out=$(vpc create-nat-gateway --subnet-id "$pubs" --allocation-id "$eip") || bail "create-nat-gateway"
nat=$(jq_ 'd["NatGateway"]["NatGatewayId"]' <<<"$out")
like "$nat" '^nat-[0-9a-f]{17}$' "create-nat-gateway: $nat"
is "$(jq_ 'd["NatGateway"]["State"]' <<<"$out")" pending "create-nat-gateway answers State pending"
desc() { vpc describe-nat-gateways --nat-gateway-ids "$nat" | jq_ "d['NatGateways'][0]$1"; }
is "$(desc '["State"]')" available "describe-nat-gateways: available"
is "$(desc '["NatGatewayAddresses"][0]["PublicIp"]')" "$pub" "describe-nat-gateways: its public IP is the EIP $pub"
is "$(desc '["SubnetId"]')" "$pubs" "describe-nat-gateways: in the public subnet"
NATNS=$P-$nat
ok "its namespace $NATNS exists" test -e "/run/netns/$NATNS"
is "$(eip_field "$eip" AssociationId | cut -c1-9)" eipassoc- "the EIP is associated (with the gateway's ENI)"
nat_eni=$(eip_field "$eip" NetworkInterfaceId)
is "$(eni_field "$nat_eni" InterfaceType)" nat_gateway "the ENI holding it is the gateway's (InterfaceType nat_gateway)"

vpc create-route --route-table-id "$rt" --destination-cidr-block 0.0.0.0/0 --nat-gateway-id "$nat" >/dev/null ||
	bail "create-route -> nat"
is "$(route_state "$rt" 0.0.0.0/0)" active "0.0.0.0/0 -> $nat is active"
is "$(curl_in "${P}priv" "$HOST")" "$pub" "the private ENI reaches the internet host as the NAT's EIP $pub"
ok "its TCP echo comes back through the NAT" echo_in "${P}priv" "$HOST"
ok "it pings the internet host through the NAT" ping_ok "${P}priv" "$HOST"
ok "the web ENI (public subnet, no public address) still does not get out" no_curl "${P}web" "$HOST"

# Inbound through the NAT's EIP: nothing reaches the private side.
ok "the host cannot reach the private listener through the NAT's EIP ($pub:8080)" host_no_nc "$pub" 8080
ok "nor port 80 at the NAT's EIP" host_no_nc "$pub" 80

# Delete.
out=$(vpc delete-nat-gateway --nat-gateway-id "$nat") || fail "delete-nat-gateway"
is "$(jq_ 'd["NatGatewayId"]' <<<"$out")" "$nat" "delete-nat-gateway answers its ID"
is "$(desc '["State"]')" deleted "describe-nat-gateways: State deleted"
is "$(route_state "$rt" 0.0.0.0/0)" blackhole "0.0.0.0/0 -> $nat is now a blackhole"
ok "the private ENI lost the internet" no_curl "${P}priv" "$HOST"
ok "the namespace $NATNS is gone" test ! -e "/run/netns/$NATNS"
is "$(ip netns list | awk '{print $1}' | grep -c "^$P-nat-")" 0 "no $P-nat-… namespace is left"
is "$(eip_field "$eip" AssociationId)" "" "the EIP is free again"
fails_with NatGatewayNotFound "deleting it again: NatGatewayNotFound" delete-nat-gateway --nat-gateway-id "$nat"
ok "release-address" vpc release-address --allocation-id "$eip"
