#!/bin/bash
# Refused requests: each exits 254 with the right error code, and leaves the model (describe
# output) and the kernel (namespaces, links, addresses, routes, nftables) exactly as they were.
# Usage errors exit 252.
. "$(dirname "$0")/lib.sh"

start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.4.0.0/16) && [ -n "$v" ] || bail "create-vpc"
s=$(mk_subnet "$v" 10.4.1.0/24) && [ -n "$s" ] || bail "create-subnet"
small=$(mk_subnet "$v" 10.4.2.0/28) && [ -n "$small" ] || bail "create-subnet /28"
e=$(mk_eni "$s" 10.4.1.10) && [ -n "$e" ] || bail "create-network-interface"
VNS=$(vpc_ns "$v")

# A /28 holds 16 - 5 reserved = 11 ENIs.
ips=()
for i in $(seq 11); do
	id=$(mk_eni "$small") || break
	ips+=("$(eni_field "$id" PrivateIpAddress)")
done
is "${#ips[@]}" 11 "11 ENIs fit in a /28"
is "$(printf '%s\n' "${ips[@]}" | sort -t. -k4n | tr '\n' ' ')" \
	"10.4.2.4 10.4.2.5 10.4.2.6 10.4.2.7 10.4.2.8 10.4.2.9 10.4.2.10 10.4.2.11 10.4.2.12 10.4.2.13 10.4.2.14 " \
	"they got .4 to .14"
is "$(vpc describe-subnets --subnet-ids "$small" | jq_ 'd["Subnets"][0]["AvailableIpAddressCount"]')" 0 \
	"the /28 shows AvailableIpAddressCount 0"

snapshot() {
	local ns
	for verb in describe-vpcs describe-subnets describe-network-interfaces describe-route-tables \
		describe-security-groups describe-network-acls describe-tags; do
		echo "== $verb"
		vpc "$verb" | canon
	done
	echo "== netns"
	netns_with_prefix
	echo "== root links"
	links_with_prefix
	for ns in $(netns_with_prefix | grep "^$P-"); do
		echo "== $ns links"
		ip -n "$ns" -o link show | awk -F': ' '{print $2}' | sort
		echo "== $ns addresses"
		ip -n "$ns" -o -4 addr show | awk '{print $2, $4}' | sort
		echo "== $ns rules"
		ip -n "$ns" rule show
		echo "== $ns routes"
		ip -n "$ns" route show table all | sort
		echo "== $ns nftables"
		ip netns exec "$ns" nft list ruleset 2>/dev/null
	done
}
mkns x || bail "mkns"
snapshot >"$T/before" || bail "snapshot"
grep -q "$(bridge_of "$small")" "$T/before" || bail "the snapshot does not see the kernel"


refused InvalidVpc.Range CreateVpc "create-vpc /15" -- create-vpc --cidr-block 10.0.0.0/15
refused InvalidVpc.Range CreateVpc "create-vpc /29" -- create-vpc --cidr-block 10.0.0.0/29
refused InvalidParameterValue DescribeVpcs "a region that cannot name a namespace" -- describe-vpcs --region "../Lab 1"
refused InvalidParameterValue CreateVpc "a 33-character region" -- create-vpc --cidr-block 10.9.0.0/16 --region a23456789012345678901234567890123
refused InvalidSubnet.Range CreateSubnet "subnet outside the VPC" -- create-subnet --vpc-id "$v" --cidr-block 10.5.1.0/24
refused InvalidSubnet.Range CreateSubnet "subnet straddling the VPC's edge" -- create-subnet --vpc-id "$v" --cidr-block 10.4.0.0/15
refused InvalidSubnet.Conflict CreateSubnet "subnet overlapping another" -- create-subnet --vpc-id "$v" --cidr-block 10.4.1.128/25
refused InvalidSubnet.Conflict CreateSubnet "subnet containing another" -- create-subnet --vpc-id "$v" --cidr-block 10.4.0.0/22
for last in 0 1 2 3 255; do
	refused InvalidParameterValue CreateNetworkInterface "ENI at reserved 10.4.1.$last" -- \
		create-network-interface --subnet-id "$s" --private-ip-address "10.4.1.$last"
done
refused InvalidParameterValue CreateNetworkInterface "ENI outside its subnet" -- \
	create-network-interface --subnet-id "$s" --private-ip-address 10.4.3.10
refused InvalidIPAddress.InUse CreateNetworkInterface "ENI at an address in use" -- \
	create-network-interface --subnet-id "$s" --private-ip-address 10.4.1.10
refused InsufficientFreeAddressesInSubnet CreateNetworkInterface "12th ENI in a /28" -- \
	create-network-interface --subnet-id "$small"
refused DependencyViolation DeleteVpc "delete-vpc with subnets" -- delete-vpc --vpc-id "$v"
refused DependencyViolation DeleteSubnet "delete-subnet with ENIs" -- delete-subnet --subnet-id "$s"
main=$(vpc describe-route-tables | jq_ 'd["RouteTables"][0]["RouteTableId"]')
refused DependencyViolation DeleteRouteTable "delete the main route table" -- delete-route-table --route-table-id "$main"
refused InvalidVpcID.NotFound DeleteVpc "delete-vpc of an unknown VPC" -- delete-vpc --vpc-id vpc-0123456789abcdef0
refused InvalidVpcID.NotFound CreateSubnet "create-subnet in an unknown VPC" -- \
	create-subnet --vpc-id vpc-0123456789abcdef0 --cidr-block 10.4.9.0/24
refused InvalidVpcID.NotFound DescribeVpcs "describe-vpcs of an unknown VPC" -- describe-vpcs --vpc-ids vpc-0123456789abcdef0
refused InvalidSubnetID.NotFound CreateNetworkInterface "ENI in an unknown subnet" -- \
	create-network-interface --subnet-id subnet-0123456789abcdef0
refused InvalidSubnetID.NotFound DeleteSubnet "delete-subnet of an unknown subnet" -- delete-subnet --subnet-id subnet-0123456789abcdef0
refused InvalidNetworkInterfaceID.NotFound DeleteNetworkInterface "delete an unknown ENI" -- \
	delete-network-interface --network-interface-id eni-0123456789abcdef0
refused InvalidRouteTableID.NotFound CreateRoute "route in an unknown table" -- \
	create-route --route-table-id rtb-0123456789abcdef0 --destination-cidr-block 0.0.0.0/0 --network-interface-id "$e"
refused InvalidParameterValue PlugNetworkInterface "plug into vpcd's own namespace" -- \
	plug-network-interface --network-interface-id "$e" --netns "$VNS"
refused InvalidParameterValue PlugNetworkInterface "plug into a namespace that does not exist" -- \
	plug-network-interface --network-interface-id "$e" --netns "${P}nope"

# Usage errors: 252, and no request reaches the daemon.
usage() {
	local desc=$1
	shift
	vpc_try "$@"
	is "$RC" 252 "$desc exits 252"
}
usage "create-subnet without --vpc-id" create-subnet --cidr-block 10.4.9.0/24
usage "delete-vpc without --vpc-id" delete-vpc
usage "create-route without --route-table-id" create-route --destination-cidr-block 0.0.0.0/0
usage "an unknown flag" describe-vpcs --no-such-flag
snapshot >"$T/after"
same_file "$T/before" "$T/after" "usage errors changed nothing"
