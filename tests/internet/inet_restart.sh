#!/bin/bash
# kill -9 with an internet gateway, elastic and automatic public IPs, a NAT gateway and a
# cross-region peering in place: after the restart every object is described exactly as
# before and every path (and every blocked one) behaves as before; after a second kill -9 with
# the host link and the NAT gateway's namespace deleted, the restart rebuilds them; the
# restarted daemon still manages what it restored.
. "$(dirname "$0")/inet_lib.sh"

inet_pool 198.19.128.0/18
start_vpcd || bail "vpcd does not start"

# us-east-1: VPC A with a public subnet (-> igw) and a private one (-> NAT gateway).
A=$(mk_vpc 10.71.0.0/16) && [ -n "$A" ] || bail "create-vpc A"
pubs=$(mk_subnet "$A" 10.71.1.0/24) && privs=$(mk_subnet "$A" 10.71.2.0/24) && [ -n "$pubs" ] && [ -n "$privs" ] ||
	bail "subnets"
igw=$(vpc create-internet-gateway | jq_ 'd["InternetGateway"]["InternetGatewayId"]') && [ -n "$igw" ] || bail "igw"
vpc attach-internet-gateway --internet-gateway-id "$igw" --vpc-id "$A" >/dev/null || bail "attach"
TA=$(main_rtb "$A") && [ -n "$TA" ] || bail "main rtb"
vpc create-route --route-table-id "$TA" --destination-cidr-block 0.0.0.0/0 --gateway-id "$igw" >/dev/null || bail "route igw"
web=$(mk_eni "$pubs" 10.71.1.10) && n=$(mk_eni "$pubs" 10.71.1.12) && priv=$(mk_eni "$privs" 10.71.2.10) &&
	[ -n "$web" ] && [ -n "$n" ] && [ -n "$priv" ] || bail "enis"
c=$(vpc create-network-interface --subnet-id "$pubs" --private-ip-address 10.71.1.11 --associate-public-ip-address |
	jq_ 'd["NetworkInterface"]["NetworkInterfaceId"]') && [ -n "$c" ] || bail "eni c"
cpub=$(eni_public "$c")
read -r eip pub <<<"$(eip_alloc)"
vpc associate-address --allocation-id "$eip" --network-interface-id "$web" >/dev/null || bail "associate-address"
read -r neip npub <<<"$(eip_alloc)"
nat=$(vpc create-nat-gateway --subnet-id "$pubs" --allocation-id "$neip" | jq_ 'd["NatGateway"]["NatGatewayId"]') &&
	[ -n "$nat" ] || bail "create-nat-gateway"
TP=$(vpc create-route-table --vpc-id "$A" | jq_ 'd["RouteTable"]["RouteTableId"]') && [ -n "$TP" ] || bail "rtb"
vpc associate-route-table --route-table-id "$TP" --subnet-id "$privs" >/dev/null || bail "associate-route-table"
vpc create-route --route-table-id "$TP" --destination-cidr-block 0.0.0.0/0 --nat-gateway-id "$nat" >/dev/null ||
	bail "route nat"
sga=$(default_sg "$A") && allow_in "$sga" icmp -1 0.0.0.0/0 && allow_in "$sga" tcp 8080 0.0.0.0/0 || bail "sg A"

# us-west-2: VPC B, peered with A.
B=$(rvpc us-west-2 create-vpc --cidr-block 10.72.0.0/16 | jq_ 'd["Vpc"]["VpcId"]') && [ -n "$B" ] || bail "create-vpc B"
sb=$(rvpc us-west-2 create-subnet --vpc-id "$B" --cidr-block 10.72.1.0/24 | jq_ 'd["Subnet"]["SubnetId"]') || bail "subnet B"
b=$(rvpc us-west-2 create-network-interface --subnet-id "$sb" --private-ip-address 10.72.1.10 |
	jq_ 'd["NetworkInterface"]["NetworkInterfaceId"]') && [ -n "$b" ] || bail "eni b"
TB=$(main_rtb "$B" us-west-2) && [ -n "$TB" ] || bail "main rtb B"
allow_in "$(default_sg "$B" us-west-2)" icmp -1 10.0.0.0/8 us-west-2 || bail "sg B"
pcx=$(vpc create-vpc-peering-connection --vpc-id "$A" --peer-vpc-id "$B" --peer-region us-west-2 |
	jq_ 'd["VpcPeeringConnection"]["VpcPeeringConnectionId"]') && [ -n "$pcx" ] || bail "create peering"
rvpc us-west-2 accept-vpc-peering-connection --vpc-peering-connection-id "$pcx" >/dev/null || bail "accept"
vpc create-route --route-table-id "$TA" --destination-cidr-block 10.72.0.0/16 --vpc-peering-connection-id "$pcx" >/dev/null &&
	rvpc us-west-2 create-route --route-table-id "$TB" --destination-cidr-block 10.71.0.0/16 \
		--vpc-peering-connection-id "$pcx" >/dev/null || bail "peering routes"

plug "$web" web && plug "$n" n && plug "$c" c && plug "$priv" priv && rplug us-west-2 "$b" b || bail "plug"
listen "${P}web" 8080 && listen "${P}priv" 8080 || bail "listeners"
HOST=$(lab_host us-east-1) && HOST2=$(lab_host us-west-2) && [ -n "$HOST" ] && [ -n "$HOST2" ] || bail "describe-lab"

# paths WHEN: every path, allowed and blocked.
paths() {
	is "$(curl_in "${P}web" "$HOST")" "$pub" "$1: web reaches the internet host as its EIP $pub"
	ok "$1: web's TCP echo to us-west-2's internet host comes back" echo_in "${P}web" "$HOST2"
	ok "$1: the host pings web at $pub" host_ping "$pub"
	ok "$1: the host connects to web's listener at $pub:8080" host_nc "$pub" 8080
	is "$(curl_in "${P}c" "$HOST")" "$cpub" "$1: c reaches the internet host as its automatic public IP $cpub"
	ok "$1: n (no public address) does not get out" no_curl "${P}n" "$HOST"
	is "$(curl_in "${P}priv" "$HOST")" "$npub" "$1: priv reaches the internet host as the NAT's EIP $npub"
	ok "$1: the host cannot reach priv's listener through the NAT's EIP" host_no_nc "$npub" 8080
	ok "$1: web pings B across the peering" ping_ok "${P}web" 10.72.1.10
	ok "$1: B pings web" ping_ok "${P}b" 10.71.1.10
	nok "$1: B (no route to the peer's gateway, no EIP) cannot reach the internet host" ping_once "${P}b" "$HOST2"
}
describe_all() {
	local r verb
	echo "== describe-lab"
	vpc describe-lab | jq_ 'sorted(d["Regions"], key=lambda r: r["RegionName"])' | canon
	for r in us-east-1 us-west-2; do
		for verb in describe-vpcs describe-subnets describe-network-interfaces describe-route-tables \
			describe-internet-gateways describe-addresses describe-nat-gateways \
			describe-vpc-peering-connections describe-security-groups describe-network-acls; do
			echo "== $r $verb"
			rvpc "$r" "$verb" | canon
		done
	done
}

# caps_uniform: every thread of the daemon (the internet hosts' HTTP and echo threads among them)
# has the main thread's effective capabilities, i.e. the privilege drop covers them too.
caps_uniform() {
	local main t bad=0
	main=$(awk '/^CapEff/ {print $2}' "/proc/$VPCD_PID/status") || return 1
	for t in /proc/"$VPCD_PID"/task/*; do
		if [ "$(awk '/^CapEff/ {print $2}' "$t/status")" != "$main" ]; then
			echo "thread $(basename "$t") ($(cat "$t/comm")): CapEff $(awk '/^CapEff/ {print $2}' "$t/status"), main thread $main"
			bad=1
		fi
	done
	return $bad
}
ok "fresh daemon: every thread has the main thread's capabilities" caps_uniform

paths before
describe_all >"$T/before" || bail "describe"
grep -q "$nat" "$T/before" && grep -q "$pcx" "$T/before" && grep -q "$pub" "$T/before" || bail "the describe output is incomplete"

kill9_vpcd
ok "after kill -9, web still pings the internet host (the kernel outlives the daemon)" ping_ok "${P}web" "$HOST"
start_vpcd || bail "vpcd does not restart"
describe_all >"$T/after"
same_file "$T/before" "$T/after" "after kill -9 and restart, every object is described with identical JSON"
paths "restart"
ok "restarted daemon: every thread has the main thread's capabilities" caps_uniform

# Second kill -9, with damage: the host link (and so its routes) and the NAT gateway's namespace.
kill9_vpcd
ip link del "$(HOSTLINK)" || bail "delete the host link"
ip netns del "$P-$nat" || bail "delete the NAT namespace"
ok "damaged: no route to $pub through the lab" test -z "$(ip route | grep "$(HOSTLINK)")"
ok "damaged: priv no longer gets out" no_curl "${P}priv" "$HOST"
start_vpcd || bail "vpcd does not restart after the damage"
describe_all >"$T/after2"
same_file "$T/before" "$T/after2" "after the damage and restart, identical JSON again"
ok "the host link $(HOSTLINK) is back" test -e "/sys/class/net/$(HOSTLINK)"
is "$(ip -4 route show dev "$(HOSTLINK)" | awk '{print $1}' | sort | tr '\n' ' ')" "198.19.128.0/20 198.19.176.0/20 " \
	"with its routes to both pools"
ok "the NAT namespace $P-$nat is back" test -e "/run/netns/$P-$nat"
paths "repaired"

# The restarted daemon manages what it restored.
assoc=$(vpc associate-address --allocation-id "$eip" --network-interface-id "$n" --allow-reassociation |
	jq_ 'd["AssociationId"]')
like "$assoc" '^eipassoc-' "after restart: move the EIP from web to n"
is "$(curl_in "${P}n" "$HOST")" "$pub" "n gets out as $pub"
ok "web does not any more" no_curl "${P}web" "$HOST"
ok "delete-nat-gateway" vpc delete-nat-gateway --nat-gateway-id "$nat"
is "$(route_state "$TP" 0.0.0.0/0)" blackhole "the route to the NAT gateway is a blackhole"
ok "priv lost the internet" no_curl "${P}priv" "$HOST"
ok "the NAT namespace is gone" test ! -e "/run/netns/$P-$nat"
ok "delete-vpc-peering-connection" vpc delete-vpc-peering-connection --vpc-peering-connection-id "$pcx"
is "$(route_state "$TB" 10.71.0.0/16 us-west-2)" blackhole "B's route to A is a blackhole"
nok "web no longer pings B" ping_once "${P}web" 10.72.1.10
