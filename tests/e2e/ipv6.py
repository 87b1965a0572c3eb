#!/usr/bin/env python3
"""IPv6 in the model (docs/ipv6.md) with the real aws CLI and boto3 over ec2d's Query API:
a dual-stack VPC, /64 subnets, AssignIpv6AddressOnCreation, ENI addresses assigned and
unassigned; bad input gets EC2's code, a non-zero exit, and changes nothing."""
import ipaddress
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402

lab = t.Lab("198.18.24.0/22")
ec2 = lab.boto3_client()


def cli(*args):
    rc, out, err = lab.aws(*args)
    if rc != 0:
        t.bail("aws ec2 %s: exit %d: %s" % (" ".join(args), rc, err.strip()))
    return out


def state():
    return (ec2.describe_vpcs()["Vpcs"], ec2.describe_subnets()["Subnets"],
            ec2.describe_network_interfaces()["NetworkInterfaces"])


def refused(code, desc, *args):
    before = state()
    rc, out, err = lab.aws(*args)
    t.ok(rc != 0 and "(%s)" % code in err, "%s: %s, exit %d" % (desc, code, rc), err.strip())
    t.ok(state() == before, desc + ": nothing changed")


v = cli("create-vpc", "--cidr-block", "10.150.0.0/16", "--amazon-provided-ipv6-cidr-block")["Vpc"]
b56 = v["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
net = ipaddress.ip_network(b56)
t.ok(net.prefixlen == 56 and net.subnet_of(ipaddress.ip_network("fc00::/7")),
     "aws ec2 create-vpc --amazon-provided-ipv6-cidr-block: a ULA /56", b56)
sixty4 = [str(n) for n, _ in zip(net.subnets(new_prefix=64), range(3))]
s1 = cli("create-subnet", "--vpc-id", v["VpcId"], "--cidr-block", "10.150.1.0/24",
         "--ipv6-cidr-block", sixty4[0])["Subnet"]
t.is_(s1["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"], sixty4[0], "create-subnet --ipv6-cidr-block")
cli("modify-subnet-attribute", "--subnet-id", s1["SubnetId"], "--assign-ipv6-address-on-creation")
e1 = ec2.create_network_interface(SubnetId=s1["SubnetId"])["NetworkInterface"]
first = str(ipaddress.ip_network(sixty4[0])[4])
t.is_([a["Ipv6Address"] for a in e1["Ipv6Addresses"]], [first],
      "boto3 create_network_interface in an assign-on-creation subnet gets ::4")
s2 = ec2.create_subnet(VpcId=v["VpcId"], CidrBlock="10.150.2.0/24")["Subnet"]["SubnetId"]
sa = ec2.associate_subnet_cidr_block(SubnetId=s2, Ipv6CidrBlock=sixty4[1])["Ipv6CidrBlockAssociation"]
t.is_(sa["Ipv6CidrBlockState"]["State"], "associating", "boto3 associate_subnet_cidr_block answers associating")
e2 = cli("create-network-interface", "--subnet-id", s2, "--ipv6-addresses",
         "Ipv6Address=" + str(ipaddress.ip_network(sixty4[1])[0x20]))["NetworkInterface"]
t.is_(e2["Ipv6Addresses"][0]["Ipv6Address"], str(ipaddress.ip_network(sixty4[1])[0x20]),
      "aws ec2 create-network-interface --ipv6-addresses Ipv6Address=…")
got = ec2.assign_ipv6_addresses(NetworkInterfaceId=e2["NetworkInterfaceId"], Ipv6AddressCount=2)["AssignedIpv6Addresses"]
t.is_(len(got), 2, "boto3 assign_ipv6_addresses Ipv6AddressCount=2")
found = ec2.describe_network_interfaces(Filters=[{"Name": "ipv6-addresses.ipv6-address", "Values": [got[1]]}])
t.is_([n["NetworkInterfaceId"] for n in found["NetworkInterfaces"]], [e2["NetworkInterfaceId"]],
      "describe_network_interfaces by ipv6-addresses.ipv6-address")
cli("unassign-ipv6-addresses", "--network-interface-id", e2["NetworkInterfaceId"], "--ipv6-addresses", *got)
a2 = ec2.associate_vpc_cidr_block(VpcId=v["VpcId"], AmazonProvidedIpv6CidrBlock=True)["Ipv6CidrBlockAssociation"]
t.ok(a2["Ipv6CidrBlock"] != b56 and a2["Ipv6CidrBlockState"]["State"] == "associating",
     "boto3 associate_vpc_cidr_block: a second /56", a2)

refused("InvalidSubnet.Conflict", "a /64 another subnet holds", "create-subnet", "--vpc-id", v["VpcId"],
        "--cidr-block", "10.150.3.0/24", "--ipv6-cidr-block", sixty4[0])
refused("InvalidSubnet.Range", "a /64 outside the VPC", "create-subnet", "--vpc-id", v["VpcId"],
        "--cidr-block", "10.150.3.0/24", "--ipv6-cidr-block", "2001:db8::/64")
refused("InvalidIPAddress.InUse", "an address another ENI holds", "create-network-interface", "--subnet-id",
        s1["SubnetId"], "--ipv6-addresses", "Ipv6Address=" + first)
refused("InvalidParameterValue", "a reserved address", "assign-ipv6-addresses", "--network-interface-id",
        e2["NetworkInterfaceId"], "--ipv6-addresses", str(ipaddress.ip_network(sixty4[1])[1]))
refused("DependencyViolation", "a subnet block with ENI addresses", "disassociate-subnet-cidr-block",
        "--association-id", sa["AssociationId"])
refused("OperationNotPermitted", "the primary IPv4 block", "disassociate-vpc-cidr-block", "--association-id",
        v["CidrBlockAssociationSet"][0]["AssociationId"])
code = t.call_error(ec2.assign_ipv6_addresses, NetworkInterfaceId=e2["NetworkInterfaceId"], Ipv6AddressCount=1,
                       Ipv6Addresses=[str(ipaddress.ip_network(sixty4[1])[0x30])])[0]
t.is_(code, "InvalidParameterCombination", "boto3: a count and a list")

g = cli("create-egress-only-internet-gateway", "--vpc-id", v["VpcId"])["EgressOnlyInternetGateway"]
t.ok(g["EgressOnlyInternetGatewayId"].startswith("eigw-") and g["Attachments"] == [{"State": "attached", "VpcId": v["VpcId"]}],
     "aws ec2 create-egress-only-internet-gateway", g)
t.is_([x["EgressOnlyInternetGatewayId"] for x in ec2.describe_egress_only_internet_gateways()["EgressOnlyInternetGateways"]],
      [g["EgressOnlyInternetGatewayId"]], "boto3 describe_egress_only_internet_gateways")
refused("DependencyViolation", "delete-vpc with an egress-only gateway", "delete-vpc", "--vpc-id", v["VpcId"])
t.ok(ec2.delete_egress_only_internet_gateway(EgressOnlyInternetGatewayId=g["EgressOnlyInternetGatewayId"])["ReturnCode"],
     "boto3 delete_egress_only_internet_gateway")
refused("InvalidEgressOnlyInternetGatewayId.NotFound", "a deleted egress-only gateway",
        "describe-egress-only-internet-gateways", "--egress-only-internet-gateway-ids", g["EgressOnlyInternetGatewayId"])

for e in (e1, e2):
    ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
ec2.disassociate_subnet_cidr_block(AssociationId=sa["AssociationId"])
r = ec2.disassociate_vpc_cidr_block(AssociationId=a2["AssociationId"])
t.is_(r["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"], "disassociating", "disassociate_vpc_cidr_block")
ec2.delete_subnet(SubnetId=s1["SubnetId"])
ec2.delete_subnet(SubnetId=s2)
ec2.delete_vpc(VpcId=v["VpcId"])
t.is_(t.call_error(ec2.describe_vpcs, VpcIds=[v["VpcId"]])[0], "InvalidVpcID.NotFound", "the dual-stack VPC deletes")
t.done()
