#!/bin/bash
# vpcd audit-lab: the kernel against the model. A lab as built has no drift (exit 0). Each
# drift made by hand behind vpcd's back is named, with a non-zero exit: a subnet's bridge and a
# plugged ENI's port deleted, a stray link and a stray namespace with the lab's prefix, a VPC's
# nftables tables deleted, a bridge... --repair converges them (as vpcd's start does), the
# next audit is clean, and packets cross the repaired ENI again. Then the routing: a route of a
# route table deleted, a stray route added to it, a subnet's association rule deleted, a stray
# rule, the bridge's DNS address and lo's metadata address deleted: each named (the route
# by its route table), --repair puts each back and removes the strays. And an ENI's
# anti-spoofing elements deleted from the bridge table's sets.
. "$(dirname "$0")/lib.sh"

start_vpcd || bail "vpcd does not start"
v=$(mk_vpc 10.7.0.0/16) && [ -n "$v" ] || bail "create-vpc"
s=$(mk_subnet "$v" 10.7.1.0/24) && [ -n "$s" ] || bail "create-subnet"
e1=$(mk_eni "$s" 10.7.1.10) && e2=$(mk_eni "$s" 10.7.1.11) || bail "create-network-interface"
plug "$e1" a1 >/dev/null && plug "$e2" a2 >/dev/null || bail "plug"
NS=$(vpc_ns "$v")
BR=$(bridge_of "$s")
PORT=$(port_of "$e1")

vpc_try audit-lab
is "$RC" 0 "a lab as built: audit-lab exits 0"
is "$(jq -r '.Drifts | length' <<<"$OUT")" 0 "and reports no drift"
ok "it checked something" test "$(jq -r .Checked <<<"$OUT")" -gt 4

ip -n "$NS" link del "$PORT"
vpc_try audit-lab
is "$RC" 254 "a port deleted behind vpcd's back: exit 254"
like "$ERR" "An error occurred \(KernelDrift\) when calling the AuditLab operation: 1 drift " "one KernelDrift"
like "$ERR" "$e1: port $PORT in $NS is missing" "which names the ENI, its port and the namespace"

ip -n "$NS" link add "${P}bstray" type bridge
ip -n "$NS" link del "$BR"
ip netns add "$P-vpc-0123456789abcdef0"
echo "$P-vpc-0123456789abcdef0" >>"$T/netns"
ip netns exec "$NS" nft delete table inet vpclab
vpc_try audit-lab
is "$RC" 254 "four more drifts: exit 254"
like "$ERR" "$s: bridge $BR in $NS is missing" "the subnet's bridge, missing"
like "$ERR" "link ${P}bstray in $NS is of no object" "the stray bridge"
like "$ERR" "namespace $P-vpc-0123456789abcdef0: in the kernel, of no object" "the stray namespace"
like "$ERR" "$v: $NS lacks its nftables tables" "the VPC's nftables table"
nok "the other ENI's port is not reported (the bridge went, the port stayed)" grep -q "$e2: port" <<<"$ERR"

vpc_try audit-lab --repair
is "$RC" 0 "audit-lab --repair: exit 0"
ok "it lists what it repaired" test "$(jq -r '.Repaired | length' <<<"$OUT")" -ge 5
is "$(jq -r '.Drifts | length' <<<"$OUT")" 0 "and no drift remains"
vpc_try audit-lab
is "$RC" 0 "the next audit is clean"
ok "the stray namespace is gone" test ! -e "/run/netns/$P-vpc-0123456789abcdef0"
ok "so is the stray bridge" bash -c "! ip -n '$NS' link show '${P}bstray' >/dev/null 2>&1"
ok "the nftables table is back" ip netns exec "$NS" nft list table inet vpclab
ok "the two ENIs reach each other again" ping_ok "${P}a1" 10.7.1.11

# ---------------------------------------------------------------- routing: routes, rules, addresses
rt=$(vpc create-route-table --vpc-id "$v" | jq -r .RouteTable.RouteTableId) && [ -n "$rt" ] || bail "create-route-table"
vpc associate-route-table --route-table-id "$rt" --subnet-id "$s" >/dev/null || bail "associate-route-table"
vpc create-route --route-table-id "$rt" --destination-cidr-block 192.168.70.0/24 --network-interface-id "$e1" \
	>/dev/null || bail "create-route"
vpc_try audit-lab
is "$RC" 0 "with a route table, its association and a route to an ENI: no drift"
TABLE=$(ip -n "$NS" rule show | awk -v br="$BR" '$0 ~ "iif " br {for (i = 1; i < NF; i++) if ($i == "lookup") print $(i + 1)}')
like "$TABLE" '^[0-9]+$' "the subnet's rule looks up a table of its own ($TABLE)"
ok "the route is in it" ip -n "$NS" route show table "$TABLE" 192.168.70.0/24 | grep -q via
snap_routing() { { ip -n "$NS" rule show; ip -n "$NS" route show table all proto 0x56; ip -n "$NS" -4 addr show; } | sort; }
snap_routing >"$T/routing.before"

ip -n "$NS" route del 192.168.70.0/24 table "$TABLE"
ip -n "$NS" route add 192.168.71.0/24 dev "$BR" table "$TABLE" proto 0x56
ip -n "$NS" rule del iif "$BR" lookup "$TABLE"
ip -n "$NS" rule add prio 1500 iif "$BR" lookup "$TABLE"
# (The DNS address: deleting the router's, the primary, would take the secondary and every
# route through the bridge with it.)
ip -n "$NS" addr del 10.7.1.2/24 dev "$BR"
ip -n "$NS" addr del 169.254.169.254/32 dev lo
vpc_try audit-lab
is "$RC" 254 "routes, rules and addresses changed behind vpcd's back: exit 254"
like "$ERR" "route 192\.168\.70\.0/24 via 10\.7\.1\.10 oif [0-9]+ metric 0 of $rt \(table $TABLE\) is missing in $NS" \
	"the deleted route, named by its route table"
like "$ERR" "route 192\.168\.71\.0/24 oif [0-9]+ metric 0 in table $TABLE \($rt\) of $NS is of no object" "the stray route"
like "$ERR" "rule 1000 iif $BR lookup $TABLE \($rt\) is missing in $NS" "the subnet's association rule, missing"
like "$ERR" "rule 1500 iif $BR lookup $TABLE in $NS is of no object" "the stray rule"
like "$ERR" "$s: bridge $BR in $NS lacks its DNS address 10\\.7\\.1\\.2/24" "the bridge's DNS address"
like "$ERR" "lo in $NS lacks 169\.254\.169\.254/32 \(the metadata service\)" "lo's metadata address"
like "$ERR" "6 drifts" "six drifts, no more"
vpc_try audit-lab --repair
is "$RC" 0 "audit-lab --repair: exit 0"
is "$(jq -r '.Repaired | length' <<<"$OUT")" 6 "it repaired the six"
vpc_try audit-lab
is "$RC" 0 "the next audit is clean"
snap_routing >"$T/routing.after"
same_file "$T/routing.before" "$T/routing.after" "rules, vpclab's routes and addresses are as vpcd made them"
ok "the ENIs still reach each other" ping_ok "${P}a1" 10.7.1.11
# An ENI's anti-spoofing elements: its source/dest check entry deleted from the bridge table.
MAC1=$(eni_field "$e1" MacAddress)
ip netns exec "$NS" nft delete element bridge vpclab sdc_src "{ \"$PORT\" . $MAC1 . 10.7.1.10 }"
ip netns exec "$NS" nft delete element bridge vpclab eni_ports "{ \"$PORT\" }"
vpc_try audit-lab
is "$RC" 254 "two anti-spoofing elements deleted: exit 254"
like "$ERR" "$e1: element \{ \"$PORT\" \. $MAC1 \. 10\.7\.1\.10 \} is missing from set bridge sdc_src in $NS" \
	"the ENI's source/dest check element, named"
like "$ERR" "$e1: element \{ \"$PORT\" \} is missing from set bridge eni_ports in $NS" "its DHCP guard element"
like "$ERR" "2 drifts" "two drifts"
vpc_try audit-lab --repair
is "$RC" 0 "audit-lab --repair: exit 0"
ok "the source/dest check element is back" ip netns exec "$NS" nft get element bridge vpclab sdc_src "{ \"$PORT\" . $MAC1 . 10.7.1.10 }"
vpc_try audit-lab
is "$RC" 0 "the next audit is clean"

# Bad input: an unknown option, nothing changes.
vpc_try audit-lab --repair-all
ok "audit-lab --repair-all: non-zero exit" [ "$RC" -ne 0 ]
