#!/bin/bash
# Route tables: the main table and its implicit use, a custom table whose route to an appliance
# ENI carries traffic only while associated, blackholes when the target ENI is deleted, and
# replace-route / delete-route.
. "$(dirname "$0")/lib.sh"

start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.2.0.0/16) && [ -n "$v" ] || bail "create-vpc"
sc=$(mk_subnet "$v" 10.2.1.0/24) && [ -n "$sc" ] || bail "create-subnet client"
sa=$(mk_subnet "$v" 10.2.2.0/24) && [ -n "$sa" ] || bail "create-subnet appliance"
cli=$(mk_eni "$sc" 10.2.1.10) && [ -n "$cli" ] || bail "eni client"
app1=$(mk_eni "$sa" 10.2.2.10) && [ -n "$app1" ] || bail "eni app1"
app2=$(mk_eni "$sa" 10.2.2.20) && [ -n "$app2" ] || bail "eni app2"
plug "$cli" cli && plug "$app1" app1 && plug "$app2" app2 || bail "plug"
C=${P}cli

# Appliances: forwarding on, 192.168.50.1 (app1) or 192.168.50.2 (app2) behind eth0 (on lo: the
# kernel may lack the dummy link type).
for a in app1 app2; do
	vpc modify-network-interface-attribute --network-interface-id "${!a}" --no-source-dest-check ||
		bail "no-source-dest-check $a"
	ip netns exec "$P$a" sysctl -qw net.ipv4.ip_forward=1
done
ip -n "${P}app1" addr add 192.168.50.1/32 dev lo
ip -n "${P}app2" addr add 192.168.50.2/32 dev lo

rtbs() { vpc describe-route-tables --filters "Name=vpc-id,Values=$v"; }
# route_field RTB FIELD: FIELD of the 192.168.50.0/24 route of RTB ("none" without one).
route_field() {
	vpc describe-route-tables --route-table-ids "$1" |
		jq_ "([r.get('$2', '') for r in d['RouteTables'][0]['Routes'] if r['DestinationCidrBlock'] == '192.168.50.0/24'] or ['none'])[0]"
}

# --- the main route table
is "$(rtbs | jq_ 'len(d["RouteTables"])')" 1 "a new VPC has one route table"
main=$(rtbs | jq_ 'd["RouteTables"][0]["RouteTableId"]')
is "$(rtbs | jq_ '[a["Main"] for a in d["RouteTables"][0]["Associations"]]')" true "it has one association, Main=true"
is "$(rtbs | jq_ '[(r["DestinationCidrBlock"], r["GatewayId"], r["State"]) for r in d["RouteTables"][0]["Routes"]]')" \
	'[["10.2.0.0/16","local","active"]]' "its only route is local 10.2.0.0/16, active"
is "$(vpc describe-route-tables --filters Name=association.main,Values=true | jq_ '[t["RouteTableId"] for t in d["RouteTables"]]')" \
	"$main" "filter association.main=true finds it"
is "$(vpc describe-route-tables --filters "Name=association.subnet-id,Values=$sc" | jq_ 'len(d["RouteTables"])')" \
	0 "the new subnet has no explicit association"
ok "client reaches the appliance subnet through the local route" ping_ok "$C" 10.2.2.10
nok "no route yet to 192.168.50.1" ping_once "$C" 192.168.50.1

# A route in the main table applies to the subnet without an explicit association.
ok "create-route in the main table 192.168.50.0/24 -> app1" \
	vpc create-route --route-table-id "$main" --destination-cidr-block 192.168.50.0/24 --network-interface-id "$app1"
ok "the implicitly associated subnet uses it: client reaches 192.168.50.1" ping_ok "$C" 192.168.50.1
ok "delete-route from the main table" vpc delete-route --route-table-id "$main" --destination-cidr-block 192.168.50.0/24
nok "after delete-route from the main table, 192.168.50.1 is unreachable" ping_once "$C" 192.168.50.1

# --- a custom table
rt=$(vpc create-route-table --vpc-id "$v" | jq_ 'd["RouteTable"]["RouteTableId"]') && [ -n "$rt" ] || bail "create-route-table"
ok "create-route 192.168.50.0/24 -> app1 in the custom table" \
	vpc create-route --route-table-id "$rt" --destination-cidr-block 192.168.50.0/24 --network-interface-id "$app1"
is "$(route_field "$rt" State)" active "the route is active"
nok "custom table not associated: client cannot reach 192.168.50.1" ping_once "$C" 192.168.50.1
assoc=$(vpc associate-route-table --route-table-id "$rt" --subnet-id "$sc" | jq_ 'd["AssociationId"]')
like "$assoc" '^rtbassoc-[0-9a-f]{17}$' "associate-route-table returns an association ID"
ok "associated: client reaches 192.168.50.1 at once" ping_once "$C" 192.168.50.1
is "$(vpc describe-route-tables --filters "Name=association.subnet-id,Values=$sc" | jq_ '[t["RouteTableId"] for t in d["RouteTables"]]')" \
	"$rt" "describe finds the custom table by association.subnet-id"
nok "192.168.50.2 (behind app2) is not reachable through app1" ping_once "$C" 192.168.50.2
ok "disassociate-route-table" vpc disassociate-route-table --association-id "$assoc"
nok "disassociated: client cannot reach 192.168.50.1" ping_once "$C" 192.168.50.1
ok "client still reaches the appliance subnet" ping_once "$C" 10.2.2.10
assoc=$(vpc associate-route-table --route-table-id "$rt" --subnet-id "$sc" | jq_ 'd["AssociationId"]')
ok "associated again: client reaches 192.168.50.1" ping_once "$C" 192.168.50.1

# --- replace-route
ok "replace-route 192.168.50.0/24 -> app2" \
	vpc replace-route --route-table-id "$rt" --destination-cidr-block 192.168.50.0/24 --network-interface-id "$app2"
is "$(route_field "$rt" NetworkInterfaceId)" "$app2" "describe shows the new target"
ok "after replace-route, client reaches 192.168.50.2 (app2)" ping_once "$C" 192.168.50.2
nok "after replace-route, 192.168.50.1 (app1) is no longer reachable" ping_once "$C" 192.168.50.1

# --- the target ENI goes: blackhole
ok "unplug app2" vpc unplug-network-interface --network-interface-id "$app2"
ok "delete app2" vpc delete-network-interface --network-interface-id "$app2"
is "$(route_field "$rt" State)" blackhole "the route to the deleted ENI is a blackhole"
is "$(route_field "$rt" NetworkInterfaceId)" "$app2" "the blackhole route still names the deleted ENI"
is "$(vpc describe-route-tables --filters Name=route.state,Values=blackhole | jq_ '[t["RouteTableId"] for t in d["RouteTables"]]')" \
	"$rt" "filter route.state=blackhole finds the table"
like "$(ip -n "$(vpc_ns "$v")" route show table all 192.168.50.0/24)" '^blackhole 192\.168\.50\.0/24 table [0-9]+' \
	"the kernel route in the VPC namespace is a blackhole"
nok "blackhole: client cannot reach 192.168.50.2" ping_once "$C" 192.168.50.2
nok "blackhole: nor 192.168.50.1" ping_once "$C" 192.168.50.1

# --- delete-route
ok "delete-route of the blackhole" vpc delete-route --route-table-id "$rt" --destination-cidr-block 192.168.50.0/24
is "$(route_field "$rt" State)" none "the route is gone from describe"
ok "create-route 192.168.50.0/24 -> app1 again" \
	vpc create-route --route-table-id "$rt" --destination-cidr-block 192.168.50.0/24 --network-interface-id "$app1"
ok "client reaches 192.168.50.1" ping_once "$C" 192.168.50.1
ok "delete-route of an active route" vpc delete-route --route-table-id "$rt" --destination-cidr-block 192.168.50.0/24
nok "after delete-route, client cannot reach 192.168.50.1" ping_once "$C" 192.168.50.1
is "$(rtbs | jq_ '[len(t["Routes"]) for t in d["RouteTables"]]' | sort | tr '\n' ' ')" "1 1 " \
	"both tables are back to the local route alone"

# The model and the packets agree on every path between the ENIs left plugged (lib.sh).
prove_paths
