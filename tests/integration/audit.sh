#!/bin/bash
# vpcd audit-lab: the kernel against the model. A lab as built has no drift (exit 0). Each
# drift made by hand behind vpcd's back is named, with a non-zero exit: a subnet's bridge and a
# plugged ENI's port deleted, a stray link and a stray namespace with the lab's prefix, a VPC's
# nftables tables deleted, a bridge... --repair converges them (as vpcd's start does), the
# next audit is clean, and packets cross the repaired ENI again.
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
