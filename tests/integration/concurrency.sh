#!/bin/bash
# 8 clients at once, each making 10 subnets and an ENI in each, in one VPC: every request
# succeeds, no ID, MAC or address is handed out twice, and the kernel has exactly one bridge per
# subnet and one port per ENI.
. "$(dirname "$0")/lib.sh"

CLIENTS=8 PER=10
start_vpcd || bail "vpcd does not start"
v=$(mk_vpc 10.8.0.0/16) && [ -n "$v" ] || bail "create-vpc"

client() {
	local c=$1 j sid out fails=0
	for j in $(seq 0 $((PER - 1))); do
		out=$(vpc create-subnet --vpc-id "$v" --cidr-block "10.8.$((c * PER + j)).0/24") || {
			fails=$((fails + 1))
			continue
		}
		sid=$(jq_ 'd["Subnet"]["SubnetId"]' <<<"$out")
		echo "$sid" >>"$T/sids.$c"
		vpc create-network-interface --subnet-id "$sid" >>"$T/eniout.$c" || fails=$((fails + 1))
	done
	echo "$fails" >"$T/fails.$c"
}
pids=()
for c in $(seq 0 $((CLIENTS - 1))); do
	client "$c" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done

total=$(cat "$T"/fails.* 2>/dev/null | awk '{s += $1} END {print s + 0}')
is "$(ls "$T"/fails.* | wc -l)" "$CLIENTS" "all $CLIENTS clients finished"
is "$total" 0 "every request succeeded"
N=$((CLIENTS * PER))

vpc describe-subnets --filters "Name=vpc-id,Values=$v" >"$T/subnets.json"
vpc describe-network-interfaces --filters "Name=vpc-id,Values=$v" >"$T/enis.json"
is "$(jq_ 'len(d["Subnets"])' <"$T/subnets.json")" "$N" "describe-subnets lists exactly $N subnets"
is "$(jq_ 'len(set(s["SubnetId"] for s in d["Subnets"]))' <"$T/subnets.json")" "$N" "$N distinct subnet IDs"
is "$(jq_ 'len(set(s["CidrBlock"] for s in d["Subnets"]))' <"$T/subnets.json")" "$N" "$N distinct CIDRs"
is "$(cat "$T"/sids.* | wc -l)" "$N" "the clients saw $N subnet IDs"
is "$(cat "$T"/sids.* | sort -u | wc -l)" "$N" "no subnet ID was returned twice"
is "$(cat "$T"/eniout.* | python3 -c '
import json, sys
dec, text, ids = json.JSONDecoder(), sys.stdin.read(), []
i = 0
while True:
    while i < len(text) and text[i].isspace(): i += 1
    if i >= len(text): break
    o, i = dec.raw_decode(text, i)
    ids.append(o["NetworkInterface"]["NetworkInterfaceId"])
print(len(set(ids)), len(ids))')" "$N $N" "the clients saw $N distinct ENI IDs"
is "$(jq_ 'len(d["NetworkInterfaces"])' <"$T/enis.json")" "$N" "describe-network-interfaces lists exactly $N ENIs"
is "$(jq_ 'len(set(e["NetworkInterfaceId"] for e in d["NetworkInterfaces"]))' <"$T/enis.json")" "$N" "$N distinct ENI IDs"
is "$(jq_ 'len(set(e["MacAddress"] for e in d["NetworkInterfaces"]))' <"$T/enis.json")" "$N" "$N distinct MACs"
is "$(jq_ 'len(set(e["PrivateIpAddress"] for e in d["NetworkInterfaces"]))' <"$T/enis.json")" "$N" "$N distinct addresses"
is "$(jq_ 'len(set(e["SubnetId"] for e in d["NetworkInterfaces"]))' <"$T/enis.json")" "$N" "one ENI in each subnet"
python3 - "$T/subnets.json" "$T/enis.json" <<'PY'
import ipaddress, json, sys
subnets = {s["SubnetId"]: ipaddress.ip_network(s["CidrBlock"]) for s in json.load(open(sys.argv[1]))["Subnets"]}
bad = [e["NetworkInterfaceId"] for e in json.load(open(sys.argv[2]))["NetworkInterfaces"]
       if ipaddress.ip_address(e["PrivateIpAddress"]) not in subnets.get(e["SubnetId"], ipaddress.ip_network("0.0.0.0/32"))]
sys.exit(1 if bad else 0)
PY
ok "every ENI's address lies in its subnet" test $? -eq 0
is "$(jq_ 'sorted(set(s["AvailabilityZone"] for s in d["Subnets"]))' <"$T/subnets.json" | wc -l)" 6 \
	"the subnets are spread over the region's six zones"

VNS=$(vpc_ns "$v")
is "$(ip -n "$VNS" -o link show type bridge | awk -F': ' '{print $2}' | grep -c "^${P}b")" "$N" \
	"the VPC namespace has exactly $N bridges"
is "$(ip -n "$VNS" rule show | grep -c 'iif '"${P}b")" "$N" "and one route table rule per subnet"
# Each bridge holds its subnet's router address (+1) and the resolver's (+2).
want=$(jq_ '"\n".join(sorted(str(s["CidrBlock"]).replace(".0/24", x) for s in d["Subnets"] for x in (".1/24", ".2/24")))' <"$T/subnets.json")
have=$(ip -n "$VNS" -o -4 addr show | awk '$2 ~ /^'"$P"'b/ {print $4}' | sort)
is "$have" "$want" "each bridge holds its subnet's router and resolver addresses"

# Address allocation under contention: 8 clients, 5 ENIs each, in one shared subnet.
# (In a VPC of its own: the 80 ENIs above make every change of VPC 1 slow, see the end.)
pids2=() pids3=()
v2=$(mk_vpc 10.9.0.0/16) && [ -n "$v2" ] || bail "create-vpc 2"
shared=$(mk_subnet "$v2" 10.9.200.0/24) && [ -n "$shared" ] || bail "shared subnet"
for c in $(seq 0 $((CLIENTS - 1))); do
	(for _ in 1 2 3 4 5; do mk_eni "$shared" >>"$T/shared.$c" || echo FAIL >>"$T/shared.$c"; done) &
	pids2+=($!)
done
for p in "${pids2[@]}"; do wait "$p"; done
is "$(cat "$T"/shared.* | grep -c FAIL)" 0 "40 concurrent ENIs in one subnet: all succeed"
is "$(vpc describe-network-interfaces --filters "Name=subnet-id,Values=$shared" |
	jq_ 'len(set(e["PrivateIpAddress"] for e in d["NetworkInterfaces"]))')" 40 "and get 40 distinct addresses"

# The same CIDR requested by 8 clients at once: exactly one wins, the others get a conflict.
for c in $(seq 0 $((CLIENTS - 1))); do
	(vpc_try create-subnet --vpc-id "$v2" --cidr-block 10.9.201.0/24
	 echo "$RC $(grep -o '(InvalidSubnet.Conflict)' <<<"$ERR")" >"$T/race.$c") &
	pids3+=($!)
done
for p in "${pids3[@]}"; do wait "$p"; done
is "$(cat "$T"/race.* | sort | uniq -c | awk '{$1 = $1; print}' | tr '\n' ';')" \
	"1 0;7 254 (InvalidSubnet.Conflict);" "one create-subnet of a contested CIDR wins, 7 get InvalidSubnet.Conflict"

# Scale: after the burst, VPC 1 holds 80 ENIs, each alone in its subnet. Adding 5 ENIs to one
# subnet should cost about as much as the first ones did (~0.1 s each).
crowd=$(mk_subnet "$v" 10.8.250.0/24) && [ -n "$crowd" ] || bail "crowd subnet"
t0=$(date +%s%N)
for _ in 1 2 3 4 5; do mk_eni "$crowd" >/dev/null || break; done
ms=$((($(date +%s%N) - t0) / 1000000))
ok "5 more ENIs in a VPC of 80 take under 4 s (took $ms ms)" test "$ms" -lt 4000
