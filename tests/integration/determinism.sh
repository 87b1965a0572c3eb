#!/bin/bash
# --seed makes a lab reproducible: the same script against a fresh state directory with the
# same seed yields the same IDs, MACs and addresses; another seed yields other ones.
. "$(dirname "$0")/lib.sh"

# script OUT: builds a small lab and writes every describe output (canonical JSON) to OUT.
script() {
	local v s1 s2 e1 e2 rt verb
	v=$(mk_vpc 10.9.0.0/16 det) && [ -n "$v" ] || return 1
	s1=$(mk_subnet "$v" 10.9.1.0/24) && s2=$(mk_subnet "$v" 10.9.2.0/24) && [ -n "$s2" ] || return 1
	e1=$(mk_eni "$s1" 10.9.1.10) && e2=$(mk_eni "$s2") && [ -n "$e2" ] || return 1
	mk_eni "$s2" >/dev/null || return 1
	rt=$(vpc create-route-table --vpc-id "$v" | jq_ 'd["RouteTable"]["RouteTableId"]') && [ -n "$rt" ] || return 1
	vpc associate-route-table --route-table-id "$rt" --subnet-id "$s2" >/dev/null || return 1
	vpc create-route --route-table-id "$rt" --destination-cidr-block 192.168.70.0/24 \
		--network-interface-id "$e1" >/dev/null || return 1
	vpc create-tags --resources "$e2" --tags Key=k,Value=v >/dev/null || return 1
	for verb in describe-vpcs describe-subnets describe-network-interfaces describe-route-tables \
		describe-security-groups describe-network-acls describe-tags; do
		echo "== $verb"
		vpc "$verb" | canon || return 1
	done >"$1"
	# The kernel side: plugged, the ENI's eth0 carries the described MAC.
	plug "$e1" "k${1##*/}" || return 1
	echo "$e1 $(ip -n "${P}k${1##*/}" link show eth0 | awk '/link\/ether/ {print $2}')" >"$1.kernel"
	echo "$e1 $(eni_field "$e1" MacAddress)" >"$1.model"
}

# run SEED OUT: a fresh state directory, the script, then the daemon stops and the lab goes.
run() {
	STATE=$T/state.$2 RUN=$T/run.$2
	start_vpcd --seed "$1" || return 1
	script "$T/$2" || return 1
	stop_vpcd
	teardown_lab >/dev/null 2>&1
}

run 7 a || bail "first run"
run 7 b || bail "second run"
run 8 c || bail "run with seed 8"
for r in a b c; do
	ok "run $r: the describe output lists the ENIs" grep -q '"NetworkInterfaceId": "eni-' "$T/$r"
done
mac='eni-[0-9a-f]+ ([0-9a-f]{2}:){5}[0-9a-f]{2}$'
for f in a.kernel b.kernel a.model; do
	ok "$f holds an ENI and a MAC" grep -Eq "$mac" "$T/$f"
done
same_file "$T/a" "$T/b" "same seed, fresh state: identical describe outputs (IDs, MACs, addresses)"
same_file "$T/a.kernel" "$T/a.model" "the plugged ENI's eth0 has the described MAC"
same_file "$T/a.kernel" "$T/b.kernel" "same seed: the same MAC on the kernel link"
is "$(grep -o '"MacAddress": "[^"]*"' "$T/a" | sort -u | wc -l)" 3 "three ENIs, three distinct MACs"
nok "another seed: other IDs" cmp -s "$T/a" "$T/c"
is "$(grep -c '"PrivateIpAddress": "10.9.2.4"' "$T/a")" "$(grep -c '"PrivateIpAddress": "10.9.2.4"' "$T/c")" \
	"another seed: the same addresses (allocation does not depend on the seed)"
