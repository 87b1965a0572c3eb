#!/bin/bash
# IPv6 through vpcd's CLI (docs/ipv6.md): a dual-stack VPC from the region's ULA pool, /64
# subnets, ENI addresses; bad input refused with nothing changed; all of it kept across kill -9;
# audit-lab clean; teardown leaves nothing.
. "$(dirname "$0")/lib.sh"

start_vpcd || bail "vpcd does not start"

out=$(vpc create-vpc --cidr-block 10.16.0.0/16 --amazon-provided-ipv6-cidr-block) || bail "create-vpc"
v=$(jq_ 'd["Vpc"]["VpcId"]' <<<"$out")
b56=$(jq_ 'd["Vpc"]["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]' <<<"$out")
like "$b56" '^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,2}00::/56$' "create-vpc --amazon-provided-ipv6-cidr-block: a ULA /56 ($b56)"
is "$(jq_ 'd["Vpc"]["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlockState"]["State"]' <<<"$out")" associating \
	"answered associating"
is "$(vpc describe-vpcs --vpc-ids "$v" | jq_ 'd["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlockState"]["State"]')" \
	associated "described associated"
n64a=$(python3 -c "import ipaddress,sys; print(list(ipaddress.ip_network(sys.argv[1]).subnets(new_prefix=64))[1])" "$b56")
n64b=$(python3 -c "import ipaddress,sys; print(list(ipaddress.ip_network(sys.argv[1]).subnets(new_prefix=64))[2])" "$b56")
s1=$(vpc create-subnet --vpc-id "$v" --cidr-block 10.16.1.0/24 --ipv6-cidr-block "$n64a" | jq_ 'd["Subnet"]["SubnetId"]') ||
	bail "create-subnet --ipv6-cidr-block"
s2=$(mk_subnet "$v" 10.16.2.0/24) || bail "create-subnet 2"
sa=$(vpc associate-subnet-cidr-block --subnet-id "$s2" --ipv6-cidr-block "$n64b" |
	jq_ 'd["Ipv6CidrBlockAssociation"]["AssociationId"]') || bail "associate-subnet-cidr-block"
like "$sa" '^subnet-cidr-assoc-[0-9a-f]{17}$' "associate-subnet-cidr-block: $sa"
vpc modify-subnet-attribute --subnet-id "$s1" --assign-ipv6-address-on-creation >/dev/null || bail "modify-subnet-attribute"
e1=$(mk_eni "$s1") || bail "eni 1"
a1=$(vpc describe-network-interfaces --network-interface-ids "$e1" | jq_ 'd["NetworkInterfaces"][0]["Ipv6Addresses"][0]["Ipv6Address"]')
want=$(python3 -c "import ipaddress,sys; print(ipaddress.ip_network(sys.argv[1])[4])" "$n64a")
is "$a1" "$want" "an ENI in a subnet with AssignIpv6AddressOnCreation gets ::4"
e2=$(vpc create-network-interface --subnet-id "$s2" --ipv6-address-count 2 | jq_ 'd["NetworkInterface"]["NetworkInterfaceId"]') ||
	bail "create-network-interface --ipv6-address-count 2"
got=$(vpc assign-ipv6-addresses --network-interface-id "$e2" --ipv6-address-count 1 | jq_ 'd["AssignedIpv6Addresses"][0]')
is "$got" "$(python3 -c "import ipaddress,sys; print(ipaddress.ip_network(sys.argv[1])[6])" "$n64b")" "assign-ipv6-addresses: ::6"
is "$(vpc describe-network-interfaces --filters "Name=ipv6-addresses.ipv6-address,Values=$got" |
	jq_ 'd["NetworkInterfaces"][0]["NetworkInterfaceId"]')" "$e2" "describe-network-interfaces by IPv6 address"
vpc unassign-ipv6-addresses --network-interface-id "$e2" --ipv6-addresses "$got" >/dev/null || fail "unassign-ipv6-addresses"
is "$(vpc describe-network-interfaces --network-interface-ids "$e2" | jq_ 'len(d["NetworkInterfaces"][0]["Ipv6Addresses"])')" 2 \
	"unassign-ipv6-addresses leaves two"

snapshot() {
	local verb
	for verb in describe-vpcs describe-subnets describe-network-interfaces describe-egress-only-internet-gateways; do
		echo "== $verb"
		vpc "$verb" | canon
	done
}
e3=$(mk_eni "$s1") || bail "eni 3"
g=$(vpc create-egress-only-internet-gateway --vpc-id "$v" | jq_ 'd["EgressOnlyInternetGateway"]["EgressOnlyInternetGatewayId"]') ||
	bail "create-egress-only-internet-gateway"
like "$g" '^eigw-[0-9a-f]{17}$' "create-egress-only-internet-gateway: $g"
snapshot >"$T/before" || bail "snapshot"
refused InvalidSubnet.Conflict CreateSubnet "a /64 another subnet holds" -- \
	create-subnet --vpc-id "$v" --cidr-block 10.16.3.0/24 --ipv6-cidr-block "$n64a"
refused InvalidSubnet.Range CreateSubnet "a /56 for a subnet" -- \
	create-subnet --vpc-id "$v" --cidr-block 10.16.3.0/24 --ipv6-cidr-block "$b56"
refused InvalidSubnet.Range CreateSubnet "a /64 outside the VPC" -- \
	create-subnet --vpc-id "$v" --cidr-block 10.16.3.0/24 --ipv6-cidr-block 2001:db8::/64
refused InvalidIPAddress.InUse AssignIpv6Addresses "another ENI's address" -- \
	assign-ipv6-addresses --network-interface-id "$e3" --ipv6-addresses "$a1"
refused DependencyViolation DeleteVpc "a VPC with an egress-only gateway" -- delete-vpc --vpc-id "$v"
refused InvalidParameterValue AssignIpv6Addresses "an address of another subnet" -- \
	assign-ipv6-addresses --network-interface-id "$e1" --ipv6-addresses "$got"
refused DependencyViolation DisassociateSubnetCidrBlock "a block with ENI addresses in it" -- \
	disassociate-subnet-cidr-block --association-id "$sa"
refused DependencyViolation DisassociateVpcCidrBlock "a VPC block with subnets in it" -- \
	disassociate-vpc-cidr-block --association-id \
	"$(vpc describe-vpcs --vpc-ids "$v" | jq_ 'd["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0]["AssociationId"]')"
refused UnsupportedOperation AssociateVpcCidrBlock "a BYOIP pool" -- \
	associate-vpc-cidr-block --vpc-id "$v" --ipv6-pool ipv6pool-ec2-0123456789abcdef0 --ipv6-cidr-block 2001:db8::/56

# kill -9: every IPv6 object is described as before, and the audit finds no drift.
kill9_vpcd
start_vpcd || bail "vpcd does not restart"
snapshot >"$T/after"
same_file "$T/before" "$T/after" "after kill -9 the VPCs, subnets, ENIs and egress-only gateways are described as before"
vpc_try audit-lab
is "$RC" 0 "audit-lab is clean"

# Teardown in order leaves nothing of the lab.
vpc delete-egress-only-internet-gateway --egress-only-internet-gateway-id "$g" >/dev/null
vpc delete-network-interface --network-interface-id "$e1" >/dev/null &&
	vpc delete-network-interface --network-interface-id "$e2" >/dev/null &&
	vpc delete-network-interface --network-interface-id "$e3" >/dev/null &&
	vpc disassociate-subnet-cidr-block --association-id "$sa" >/dev/null &&
	vpc delete-subnet --subnet-id "$s1" >/dev/null && vpc delete-subnet --subnet-id "$s2" >/dev/null &&
	vpc delete-vpc --vpc-id "$v" >/dev/null
is "$?" 0 "the dual-stack VPC and what is in it delete"
is "$(netns_with_prefix | grep -c -- "-vpc-" || true)" 0 "no VPC namespace is left"
