#!/usr/bin/env python3
"""Bad inputs across the EC2 API, table-driven: each row is a request EC2 refuses, with the
error code and HTTP status EC2 answers (as botocore's model and AWS's documentation name them).
boto3 rows go through the lab's client (or one with botocore's parameter validation off, for
what boto3 would not even send); aws CLI rows must exit 254 with the CLI's "An error occurred
(Code) when calling the Op operation:" line. A few valid objects are made first; after every
group of rows (and at the end) the model and the kernel's namespaces must be what they were.
"""
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402

lab = t.Lab("198.19.160.0/20")
ec2 = lab.client
novalid = lab.boto3_client(parameter_validation=False)  # what boto3 would refuse itself goes out

H = "0123456789abcdef0"
NOVPC, NOSUBNET, NOI, NOAMI = "vpc-" + H, "subnet-" + H, "i-" + H, "ami-" + H
NORTB, NOIGW, NONAT, NOALLOC = "rtb-" + H, "igw-" + H, "nat-" + H, "eipalloc-" + H
NOPCX, NOSG, NOACL, NOENI = "pcx-" + H, "sg-" + H, "acl-" + H, "eni-" + H
NOSGR, NORTBASSOC, NOACLASSOC = "sgr-" + H, "rtbassoc-" + H, "aclassoc-" + H
NOEIPASSOC, NOATTACH = "eipassoc-" + H, "eni-attach-" + H

# ------------------------------------------------------------------ the valid objects
AMI = lab.ami()
if not AMI:
    t.skip_all("no busybox image (images/build busybox)")
V = ec2.create_vpc(CidrBlock="10.90.0.0/16")["Vpc"]["VpcId"]
V2 = ec2.create_vpc(CidrBlock="10.91.0.0/16")["Vpc"]["VpcId"]
S = ec2.create_subnet(VpcId=V, CidrBlock="10.90.1.0/24")["Subnet"]["SubnetId"]
S2 = ec2.create_subnet(VpcId=V, CidrBlock="10.90.2.0/24")["Subnet"]["SubnetId"]
S3 = ec2.create_subnet(VpcId=V2, CidrBlock="10.91.1.0/24")["Subnet"]["SubnetId"]
SG = ec2.create_security_group(VpcId=V, GroupName="web", Description="web")["GroupId"]
SG2 = ec2.create_security_group(VpcId=V2, GroupName="other", Description="other")["GroupId"]
ec2.authorize_security_group_ingress(GroupId=SG, IpPermissions=[
    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
DEFSG = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [V]},
                                              {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
IGW = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
IGW2 = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
ec2.attach_internet_gateway(InternetGatewayId=IGW, VpcId=V)
RT = ec2.create_route_table(VpcId=V)["RouteTable"]["RouteTableId"]
RTASSOC = ec2.associate_route_table(RouteTableId=RT, SubnetId=S)["AssociationId"]
ec2.create_route(RouteTableId=RT, DestinationCidrBlock="0.0.0.0/0", GatewayId=IGW)
RT2 = ec2.create_route_table(VpcId=V2)["RouteTable"]["RouteTableId"]
MAINRT = [r for r in ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [V]}])["RouteTables"]
          if any(a.get("Main") for a in r.get("Associations", []))][0]
MAINRT, MAINASSOC = MAINRT["RouteTableId"], [a for a in MAINRT["Associations"] if a.get("Main")][0][
    "RouteTableAssociationId"]
ACL = ec2.create_network_acl(VpcId=V)["NetworkAcl"]["NetworkAclId"]
ACL2 = ec2.create_network_acl(VpcId=V2)["NetworkAcl"]["NetworkAclId"]
ec2.create_network_acl_entry(NetworkAclId=ACL, RuleNumber=100, Protocol="6", RuleAction="allow", Egress=False,
                             CidrBlock="0.0.0.0/0", PortRange={"From": 80, "To": 80})
DEFACL = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [V]},
                                            {"Name": "default", "Values": ["true"]}])["NetworkAcls"][0]
S2ACLASSOC = [a for a in DEFACL["Associations"] if a["SubnetId"] == S2][0]["NetworkAclAssociationId"]
DEFACL = DEFACL["NetworkAclId"]
S2ACLASSOC = ec2.replace_network_acl_association(AssociationId=S2ACLASSOC, NetworkAclId=ACL)["NewAssociationId"]
ENI = ec2.create_network_interface(SubnetId=S, Groups=[SG])["NetworkInterface"]
ENI, ENIIP = ENI["NetworkInterfaceId"], ENI["PrivateIpAddress"]
EIP = ec2.allocate_address(Domain="vpc")["AllocationId"]
I = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=S, InstanceType="t3.micro")["Instances"][0]
I, IENI = I["InstanceId"], I["NetworkInterfaces"][0]["NetworkInterfaceId"]
if not lab.wait_state(I, "running", timeout=60):
    t.bail("instance %s does not run" % I)
ec2.create_tags(Resources=[V, I], Tags=[{"Key": "Name", "Value": "bad-inputs"}])


def snapshot():
    """What no refused request may change."""
    c = lab.client
    return (c.describe_vpcs()["Vpcs"], c.describe_subnets()["Subnets"], c.describe_security_groups()["SecurityGroups"],
            c.describe_security_group_rules()["SecurityGroupRules"], c.describe_route_tables()["RouteTables"],
            c.describe_network_acls()["NetworkAcls"], c.describe_internet_gateways()["InternetGateways"],
            c.describe_nat_gateways()["NatGateways"], c.describe_addresses()["Addresses"],
            c.describe_vpc_peering_connections()["VpcPeeringConnections"],
            c.describe_network_interfaces()["NetworkInterfaces"], c.describe_instances()["Reservations"],
            c.describe_tags()["Tags"], sorted(n for n in t.netns_names() if n.startswith(lab.prefix)),
            [{k: x for k, x in c.describe_vpc_attribute(VpcId=v, Attribute=a).items() if k != "ResponseMetadata"}
             for v in (V, V2) for a in ("enableDnsSupport", "enableDnsHostnames", "enableNetworkAddressUsageMetrics")])


NAMES = ("vpcs", "subnets", "security groups", "security group rules", "route tables", "network ACLs",
         "internet gateways", "NAT gateways", "addresses", "peerings", "network interfaces", "instances", "tags",
         "namespaces", "VPC attributes")
before = snapshot()
seen = set()  # distinct request shapes: (client, operation, parameters)


def unchanged(group):
    after = snapshot()
    t.ok(after == before, "%s: the refused requests changed nothing" % group,
         *["%s before: %s\n%s after:  %s" % (n, b, n, a) for n, b, a in zip(NAMES, before, after) if a != b])


def run_group(group, rows):
    """rows: (code, HTTP status, boto3 method, kwargs, description). A method written "!name"
    goes through the client without parameter validation."""
    for code, status, method, kw, desc in rows:
        client = novalid if method.startswith("!") else ec2
        name = method.lstrip("!")
        key = (name, json.dumps(kw, sort_keys=True))
        t.ok(key not in seen, "%s: %s is a request of its own" % (group, desc))
        seen.add(key)
        got, msg, st = t.call_error(getattr(client, name), **kw)
        t.ok(got == code and st == status, "%s: %s %s: %s, HTTP %d" % (group, name, desc, code, status),
             "got %s (HTTP %s): %s" % (got, st, msg))
    unchanged(group)


def tcp(port, cidr="0.0.0.0/0", to=None):
    return [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port if to is None else to,
             "IpRanges": [{"CidrIp": cidr}]}]


def bad_filter(method, **kw):
    return ("InvalidParameterValue", 400, method, dict(kw, Filters=[{"Name": "no-such-filter", "Values": ["x"]}]),
            "an unknown filter")


def bad_token(method):
    return ("InvalidNextToken", 400, method, {"NextToken": "not-a-token!"}, "a NextToken it never gave")


def max_results(method, n):
    return ("InvalidParameterValue", 400, "!" + method, {"MaxResults": n}, "MaxResults=%d (5 to 1000)" % n)


IPV = "InvalidParameterValue"
MP = "MissingParameter"
IPC = "InvalidParameterCombination"

run_group("vpcs", [
    (IPV, 400, "create_vpc", {"CidrBlock": "10.0.0.0/33"}, "CidrBlock 10.0.0.0/33"),
    (IPV, 400, "create_vpc", {"CidrBlock": "not-a-cidr"}, "CidrBlock not-a-cidr"),
    (IPV, 400, "create_vpc", {"CidrBlock": "300.0.0.0/16"}, "CidrBlock 300.0.0.0/16"),
    (IPV, 400, "create_vpc", {"CidrBlock": "10.0.0.0"}, "CidrBlock without a prefix length"),
    ("InvalidVpc.Range", 400, "create_vpc", {"CidrBlock": "10.0.0.0/15"}, "CidrBlock /15 (larger than /16)"),
    ("InvalidVpc.Range", 400, "create_vpc", {"CidrBlock": "10.0.0.0/29"}, "CidrBlock /29 (smaller than /28)"),
    (MP, 400, "create_vpc", {}, "no CidrBlock"),
    (IPV, 400, "create_vpc", {"CidrBlock": "10.1.0.0/16", "InstanceTenancy": "bogus"}, "InstanceTenancy bogus"),
    ("InvalidVpcID.NotFound", 400, "describe_vpcs", {"VpcIds": [NOVPC]}, "an unknown VpcId"),
    ("InvalidVpcID.NotFound", 400, "describe_vpcs", {"VpcIds": [V, NOVPC]}, "a known and an unknown VpcId"),
    bad_filter("describe_vpcs"),
    bad_token("describe_vpcs"),
    max_results("describe_vpcs", 1),
    max_results("describe_vpcs", 1001),
    (IPC, 400, "describe_vpcs", {"VpcIds": [V], "MaxResults": 5}, "VpcIds with MaxResults"),
    ("InvalidVpcID.NotFound", 400, "delete_vpc", {"VpcId": NOVPC}, "an unknown VPC"),
    ("DependencyViolation", 400, "delete_vpc", {"VpcId": V}, "a VPC with subnets, an IGW and an instance"),
    (MP, 400, "!delete_vpc", {}, "no VpcId"),
    ("DryRunOperation", 412, "create_vpc", {"CidrBlock": "10.2.0.0/16", "DryRun": True}, "DryRun"),
])

run_group("subnets", [
    ("InvalidVpcID.NotFound", 400, "create_subnet", {"VpcId": NOVPC, "CidrBlock": "10.0.0.0/24"}, "in an unknown VPC"),
    ("InvalidSubnet.Range", 400, "create_subnet", {"VpcId": V, "CidrBlock": "10.99.0.0/24"}, "outside the VPC"),
    ("InvalidSubnet.Range", 400, "create_subnet", {"VpcId": V, "CidrBlock": "10.90.0.0/15"}, "larger than the VPC"),
    ("InvalidSubnet.Range", 400, "create_subnet", {"VpcId": V, "CidrBlock": "10.90.3.0/29"}, "a /29"),
    ("InvalidSubnet.Conflict", 400, "create_subnet", {"VpcId": V, "CidrBlock": "10.90.1.128/25"},
     "inside another subnet"),
    ("InvalidSubnet.Conflict", 400, "create_subnet", {"VpcId": V, "CidrBlock": "10.90.0.0/22"},
     "around two subnets"),
    ("InvalidSubnet.Conflict", 400, "create_subnet", {"VpcId": V, "CidrBlock": "10.90.2.0/24"},
     "the CIDR of another subnet"),
    (IPV, 400, "create_subnet", {"VpcId": V, "CidrBlock": "10.90.4.0/"}, "CidrBlock 10.90.4.0/"),
    (IPV, 400, "create_subnet", {"VpcId": V, "CidrBlock": "10.90.4.0/24", "AvailabilityZone": "us-east-1z"},
     "in AZ us-east-1z"),
    (IPV, 400, "create_subnet", {"VpcId": V, "CidrBlock": "10.90.4.0/24", "AvailabilityZone": "us-west-2a"},
     "in another region's AZ"),
    (MP, 400, "!create_subnet", {"VpcId": V}, "no CidrBlock"),
    (MP, 400, "!create_subnet", {"CidrBlock": "10.90.4.0/24"}, "no VpcId"),
    ("InvalidSubnetID.NotFound", 400, "describe_subnets", {"SubnetIds": [NOSUBNET]}, "an unknown SubnetId"),
    bad_filter("describe_subnets"),
    bad_token("describe_subnets"),
    max_results("describe_subnets", 4),
    (IPC, 400, "describe_subnets", {"SubnetIds": [S], "MaxResults": 5}, "SubnetIds with MaxResults"),
    ("InvalidSubnetID.NotFound", 400, "delete_subnet", {"SubnetId": NOSUBNET}, "an unknown subnet"),
    ("DependencyViolation", 400, "delete_subnet", {"SubnetId": S}, "a subnet with ENIs"),
    ("InvalidSubnetID.NotFound", 400, "modify_subnet_attribute",
     {"SubnetId": NOSUBNET, "MapPublicIpOnLaunch": {"Value": True}}, "of an unknown subnet"),
    (MP, 400, "modify_subnet_attribute", {"SubnetId": S}, "without an attribute"),
    ("DryRunOperation", 412, "create_subnet", {"VpcId": V, "CidrBlock": "10.90.5.0/24", "DryRun": True}, "DryRun"),
])

run_group("route tables", [
    ("InvalidVpcID.NotFound", 400, "create_route_table", {"VpcId": NOVPC}, "in an unknown VPC"),
    (MP, 400, "!create_route_table", {}, "no VpcId"),
    ("InvalidRouteTableID.NotFound", 400, "describe_route_tables", {"RouteTableIds": [NORTB]}, "an unknown ID"),
    bad_filter("describe_route_tables"),
    bad_token("describe_route_tables"),
    ("InvalidRouteTableID.NotFound", 400, "delete_route_table", {"RouteTableId": NORTB}, "an unknown table"),
    ("DependencyViolation", 400, "delete_route_table", {"RouteTableId": RT}, "a table with a subnet"),
    ("DependencyViolation", 400, "delete_route_table", {"RouteTableId": MAINRT}, "the main table"),
    ("InvalidRouteTableID.NotFound", 400, "associate_route_table", {"RouteTableId": NORTB, "SubnetId": S2},
     "an unknown table"),
    ("InvalidSubnetID.NotFound", 400, "associate_route_table", {"RouteTableId": RT, "SubnetId": NOSUBNET},
     "an unknown subnet"),
    ("Resource.AlreadyAssociated", 400, "associate_route_table", {"RouteTableId": RT, "SubnetId": S},
     "a subnet already associated"),
    (IPV, 400, "associate_route_table", {"RouteTableId": RT, "SubnetId": S3}, "a subnet of another VPC"),
    (MP, 400, "associate_route_table", {"RouteTableId": RT}, "without a subnet"),
    ("InvalidAssociationID.NotFound", 400, "disassociate_route_table", {"AssociationId": NORTBASSOC},
     "an unknown association"),
    (IPV, 400, "disassociate_route_table", {"AssociationId": MAINASSOC}, "the main association"),
    ("InvalidAssociationID.NotFound", 400, "replace_route_table_association",
     {"AssociationId": NORTBASSOC, "RouteTableId": RT}, "an unknown association"),
    ("InvalidRouteTableID.NotFound", 400, "replace_route_table_association",
     {"AssociationId": RTASSOC, "RouteTableId": NORTB}, "to an unknown table"),
])

run_group("routes", [
    ("InvalidRouteTableID.NotFound", 400, "create_route",
     {"RouteTableId": NORTB, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": IGW}, "in an unknown table"),
    ("RouteAlreadyExists", 400, "create_route",
     {"RouteTableId": RT, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": IGW}, "a destination it has"),
    ("InvalidGatewayID.NotFound", 400, "create_route",
     {"RouteTableId": RT, "DestinationCidrBlock": "192.168.0.0/16", "GatewayId": NOIGW}, "to an unknown IGW"),
    (IPV, 400, "create_route",
     {"RouteTableId": RT, "DestinationCidrBlock": "192.168.0.0/16", "GatewayId": IGW2}, "to a detached IGW"),
    ("InvalidNatGatewayID.NotFound", 400, "create_route",
     {"RouteTableId": RT, "DestinationCidrBlock": "192.168.0.0/16", "NatGatewayId": NONAT}, "to an unknown NAT"),
    ("InvalidVpcPeeringConnectionID.NotFound", 400, "create_route",
     {"RouteTableId": RT, "DestinationCidrBlock": "192.168.0.0/16", "VpcPeeringConnectionId": NOPCX},
     "to an unknown peering"),
    ("InvalidNetworkInterfaceID.NotFound", 400, "create_route",
     {"RouteTableId": RT, "DestinationCidrBlock": "192.168.0.0/16", "NetworkInterfaceId": NOENI},
     "to an unknown ENI"),
    ("InvalidInstanceID.NotFound", 400, "create_route",
     {"RouteTableId": RT, "DestinationCidrBlock": "192.168.0.0/16", "InstanceId": NOI}, "to an unknown instance"),
    (IPV, 400, "create_route",
     {"RouteTableId": RT2, "DestinationCidrBlock": "192.168.0.0/16", "NetworkInterfaceId": ENI},
     "to an ENI of another VPC"),
    (MP, 400, "create_route", {"RouteTableId": RT, "DestinationCidrBlock": "192.168.0.0/16"}, "without a target"),
    (IPC, 400, "create_route",
     {"RouteTableId": RT, "DestinationCidrBlock": "192.168.0.0/16", "GatewayId": IGW, "NetworkInterfaceId": ENI},
     "with two targets"),
    (IPV, 400, "create_route", {"RouteTableId": RT, "DestinationCidrBlock": "banana", "GatewayId": IGW},
     "to destination banana"),
    (MP, 400, "create_route", {"RouteTableId": RT, "GatewayId": IGW}, "without a destination"),
    ("InvalidRoute.NotFound", 400, "replace_route",
     {"RouteTableId": RT, "DestinationCidrBlock": "192.168.0.0/16", "GatewayId": IGW}, "a route it does not have"),
    ("InvalidRouteTableID.NotFound", 400, "replace_route",
     {"RouteTableId": NORTB, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": IGW}, "in an unknown table"),
    ("InvalidGatewayID.NotFound", 400, "replace_route",
     {"RouteTableId": RT, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": NOIGW}, "to an unknown IGW"),
    ("InvalidRoute.NotFound", 400, "delete_route", {"RouteTableId": RT, "DestinationCidrBlock": "192.168.0.0/16"},
     "a route it does not have"),
    ("InvalidRouteTableID.NotFound", 400, "delete_route",
     {"RouteTableId": NORTB, "DestinationCidrBlock": "0.0.0.0/0"}, "in an unknown table"),
    (IPV, 400, "delete_route", {"RouteTableId": RT, "DestinationCidrBlock": "10.90.0.0/16"}, "the local route"),
    (MP, 400, "delete_route", {"RouteTableId": RT}, "without a destination"),
])

run_group("internet gateways", [
    ("InvalidInternetGatewayID.NotFound", 400, "describe_internet_gateways", {"InternetGatewayIds": [NOIGW]},
     "an unknown ID"),
    bad_filter("describe_internet_gateways"),
    bad_token("describe_internet_gateways"),
    ("InvalidInternetGatewayID.NotFound", 400, "attach_internet_gateway", {"InternetGatewayId": NOIGW, "VpcId": V2},
     "an unknown IGW"),
    ("InvalidVpcID.NotFound", 400, "attach_internet_gateway", {"InternetGatewayId": IGW2, "VpcId": NOVPC},
     "to an unknown VPC"),
    ("Resource.AlreadyAssociated", 400, "attach_internet_gateway", {"InternetGatewayId": IGW, "VpcId": V2},
     "an attached IGW to another VPC"),
    ("Resource.AlreadyAssociated", 400, "attach_internet_gateway", {"InternetGatewayId": IGW2, "VpcId": V},
     "a second IGW to a VPC"),
    (MP, 400, "!attach_internet_gateway", {"InternetGatewayId": IGW2}, "without a VPC"),
    ("Gateway.NotAttached", 400, "detach_internet_gateway", {"InternetGatewayId": IGW2, "VpcId": V},
     "a detached IGW"),
    ("Gateway.NotAttached", 400, "detach_internet_gateway", {"InternetGatewayId": IGW, "VpcId": V2},
     "from a VPC it is not attached to"),
    ("InvalidInternetGatewayID.NotFound", 400, "detach_internet_gateway", {"InternetGatewayId": NOIGW, "VpcId": V},
     "an unknown IGW"),
    ("DependencyViolation", 400, "delete_internet_gateway", {"InternetGatewayId": IGW}, "an attached IGW"),
    ("InvalidInternetGatewayID.NotFound", 400, "delete_internet_gateway", {"InternetGatewayId": NOIGW},
     "an unknown IGW"),
])

run_group("NAT gateways", [
    ("InvalidSubnetID.NotFound", 400, "create_nat_gateway", {"SubnetId": NOSUBNET, "AllocationId": EIP},
     "in an unknown subnet"),
    ("InvalidAllocationID.NotFound", 400, "create_nat_gateway", {"SubnetId": S, "AllocationId": NOALLOC},
     "with an unknown allocation"),
    (MP, 400, "create_nat_gateway", {"SubnetId": S}, "public, without an allocation"),
    ("NatGatewayNotFound", 400, "describe_nat_gateways", {"NatGatewayIds": [NONAT]}, "an unknown ID"),
    bad_filter("describe_nat_gateways"),
    bad_token("describe_nat_gateways"),
    ("NatGatewayNotFound", 400, "delete_nat_gateway", {"NatGatewayId": NONAT}, "an unknown NAT"),
])

run_group("elastic IPs", [
    ("InvalidAllocationID.NotFound", 400, "describe_addresses", {"AllocationIds": [NOALLOC]}, "an unknown ID"),
    ("InvalidAddress.NotFound", 400, "describe_addresses", {"PublicIps": ["203.0.113.9"]}, "an unknown address"),
    bad_filter("describe_addresses"),
    ("InvalidAllocationID.NotFound", 400, "release_address", {"AllocationId": NOALLOC}, "an unknown allocation"),
    ("InvalidAllocationID.NotFound", 400, "associate_address", {"AllocationId": NOALLOC, "InstanceId": I},
     "an unknown allocation"),
    ("InvalidInstanceID.NotFound", 400, "associate_address", {"AllocationId": EIP, "InstanceId": NOI},
     "to an unknown instance"),
    ("InvalidNetworkInterfaceID.NotFound", 400, "associate_address",
     {"AllocationId": EIP, "NetworkInterfaceId": NOENI}, "to an unknown ENI"),
    ("InvalidAssociationID.NotFound", 400, "disassociate_address", {"AssociationId": NOEIPASSOC},
     "an unknown association"),
    (IPV, 400, "allocate_address", {"Domain": "bogus"}, "Domain bogus"),
])

run_group("peering", [
    ("InvalidVpcID.NotFound", 400, "create_vpc_peering_connection", {"VpcId": NOVPC, "PeerVpcId": V2},
     "from an unknown VPC"),
    ("InvalidVpcID.NotFound", 400, "create_vpc_peering_connection", {"VpcId": V, "PeerVpcId": NOVPC},
     "to an unknown VPC"),
    ("InvalidVpcPeeringConnectionID.NotFound", 400, "accept_vpc_peering_connection",
     {"VpcPeeringConnectionId": NOPCX}, "accept an unknown peering"),
    ("InvalidVpcPeeringConnectionID.NotFound", 400, "reject_vpc_peering_connection",
     {"VpcPeeringConnectionId": NOPCX}, "reject an unknown peering"),
    ("InvalidVpcPeeringConnectionID.NotFound", 400, "delete_vpc_peering_connection",
     {"VpcPeeringConnectionId": NOPCX}, "delete an unknown peering"),
    ("InvalidVpcPeeringConnectionID.NotFound", 400, "describe_vpc_peering_connections",
     {"VpcPeeringConnectionIds": [NOPCX]}, "describe an unknown peering"),
    bad_filter("describe_vpc_peering_connections"),
])

run_group("security groups", [
    ("InvalidGroup.Duplicate", 400, "create_security_group", {"VpcId": V, "GroupName": "web", "Description": "x"},
     "a name the VPC has"),
    ("InvalidVpcID.NotFound", 400, "create_security_group", {"VpcId": NOVPC, "GroupName": "x", "Description": "x"},
     "in an unknown VPC"),
    (IPV, 400, "create_security_group", {"VpcId": V, "GroupName": "sg-named", "Description": "x"},
     "a name starting with sg-"),
    (IPV, 400, "create_security_group", {"VpcId": V, "GroupName": "n" * 256, "Description": "x"},
     "a 256-character name"),
    (MP, 400, "!create_security_group", {"VpcId": V, "GroupName": "nodesc"}, "no Description"),
    ("InvalidGroup.NotFound", 400, "delete_security_group", {"GroupId": NOSG}, "an unknown group"),
    ("DependencyViolation", 400, "delete_security_group", {"GroupId": SG}, "a group an ENI uses"),
    ("CannotDelete", 400, "delete_security_group", {"GroupId": DEFSG}, "the VPC's default group"),
    ("InvalidGroup.NotFound", 400, "describe_security_groups", {"GroupIds": [NOSG]}, "an unknown ID"),
    ("InvalidGroup.NotFound", 400, "describe_security_groups", {"GroupNames": ["no-such-group"]}, "an unknown name"),
    bad_filter("describe_security_groups"),
    bad_token("describe_security_groups"),
    (IPC, 400, "describe_security_groups", {"GroupIds": [SG], "MaxResults": 5}, "GroupIds with MaxResults"),
    ("InvalidSecurityGroupRuleId.NotFound", 400, "describe_security_group_rules",
     {"SecurityGroupRuleIds": [NOSGR]}, "an unknown rule ID"),
    bad_filter("describe_security_group_rules"),
])

run_group("security group rules", [
    ("InvalidPermission.Duplicate", 400, "authorize_security_group_ingress", {"GroupId": SG, "IpPermissions": tcp(22)},
     "a rule it has"),
    ("InvalidParameterCombination", 400, "authorize_security_group_ingress",
     {"GroupId": SG, "IpPermissions": tcp(80), "CidrIp": "10.0.0.0/8"}, "IpPermissions and the flat CidrIp"),
    ("InvalidParameterCombination", 400, "authorize_security_group_ingress",
     {"GroupId": SG, "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIp": "10.0.0.0/8",
      "SourceSecurityGroupName": "web"}, "a flat CidrIp and a source group"),
    ("InvalidPermission.Duplicate", 400, "authorize_security_group_ingress",
     {"GroupId": SG, "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"},
     "the flat form of a rule that exists"),
    (IPV, 400, "authorize_security_group_ingress",
     {"GroupId": SG, "IpProtocol": "tcp", "FromPort": 90, "ToPort": 80, "CidrIp": "0.0.0.0/0"},
     "a flat port range backwards"),
    ("InvalidGroup.NotFound", 400, "authorize_security_group_ingress",
     {"GroupId": SG, "SourceSecurityGroupName": "no-such-group"}, "a flat source group that does not exist"),
    ("InvalidGroup.NotFound", 400, "authorize_security_group_ingress", {"GroupId": NOSG, "IpPermissions": tcp(80)},
     "on an unknown group"),
    (IPV, 400, "authorize_security_group_ingress",
     {"GroupId": SG, "IpPermissions": [{"IpProtocol": "bogus", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]},
     "protocol bogus"),
    (IPV, 400, "authorize_security_group_ingress", {"GroupId": SG, "IpPermissions": tcp(100, to=50)},
     "ports 100 to 50"),
    (IPV, 400, "authorize_security_group_ingress", {"GroupId": SG, "IpPermissions": tcp(70000)}, "port 70000"),
    (IPV, 400, "authorize_security_group_ingress", {"GroupId": SG, "IpPermissions": tcp(80, cidr="10.0.0.0/40")},
     "CIDR 10.0.0.0/40"),
    (IPV, 400, "authorize_security_group_ingress", {"GroupId": SG, "IpPermissions": tcp(80, cidr="any")},
     "CIDR any"),
    (IPV, 400, "authorize_security_group_ingress",
     {"GroupId": SG, "IpPermissions": [{"IpProtocol": "icmp", "FromPort": 300, "ToPort": -1,
                                       "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}, "ICMP type 300"),
    ("InvalidGroup.NotFound", 400, "authorize_security_group_ingress",
     {"GroupId": SG, "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                                       "UserIdGroupPairs": [{"GroupId": NOSG}]}]}, "from an unknown group"),
    (MP, 400, "authorize_security_group_ingress", {"GroupId": SG}, "without permissions"),
    (MP, 400, "authorize_security_group_ingress", {"IpPermissions": tcp(80)}, "without a group"),
    ("InvalidGroup.NotFound", 400, "authorize_security_group_ingress",
     {"GroupName": "no-such-group", "IpPermissions": tcp(80)}, "on an unknown group name"),
    ("InvalidPermission.Duplicate", 400, "authorize_security_group_egress",
     {"GroupId": SG, "IpPermissions": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]},
     "egress: the default allow-all it has"),
    ("InvalidGroup.NotFound", 400, "authorize_security_group_egress", {"GroupId": NOSG, "IpPermissions": tcp(443)},
     "egress: on an unknown group"),
    (IPV, 400, "authorize_security_group_egress", {"GroupId": SG, "IpPermissions": tcp(443, cidr="1.2.3.4/99")},
     "egress: CIDR 1.2.3.4/99"),
    ("InvalidPermission.NotFound", 400, "revoke_security_group_ingress", {"GroupId": SG, "IpPermissions": tcp(23)},
     "a rule it does not have"),
    ("InvalidGroup.NotFound", 400, "revoke_security_group_ingress", {"GroupId": NOSG, "IpPermissions": tcp(22)},
     "on an unknown group"),
    ("InvalidSecurityGroupRuleId.NotFound", 400, "revoke_security_group_ingress",
     {"GroupId": SG, "SecurityGroupRuleIds": [NOSGR]}, "an unknown rule ID"),
    ("InvalidPermission.NotFound", 400, "revoke_security_group_egress", {"GroupId": SG, "IpPermissions": tcp(25)},
     "egress: a rule it does not have"),
    ("InvalidGroup.NotFound", 400, "revoke_security_group_egress", {"GroupId": NOSG, "IpPermissions": tcp(25)},
     "egress: on an unknown group"),
    ("DryRunOperation", 412, "authorize_security_group_ingress",
     {"GroupId": SG, "IpPermissions": tcp(8080), "DryRun": True}, "DryRun"),
])

run_group("network ACLs", [
    ("InvalidVpcID.NotFound", 400, "create_network_acl", {"VpcId": NOVPC}, "in an unknown VPC"),
    ("InvalidNetworkAclID.NotFound", 400, "describe_network_acls", {"NetworkAclIds": [NOACL]}, "an unknown ID"),
    bad_filter("describe_network_acls"),
    bad_token("describe_network_acls"),
    ("InvalidNetworkAclID.NotFound", 400, "delete_network_acl", {"NetworkAclId": NOACL}, "an unknown ACL"),
    (IPV, 400, "delete_network_acl", {"NetworkAclId": DEFACL}, "the default ACL"),
    ("DependencyViolation", 400, "delete_network_acl", {"NetworkAclId": ACL}, "an ACL with a subnet"),
    ("InvalidAssociationID.NotFound", 400, "replace_network_acl_association",
     {"AssociationId": NOACLASSOC, "NetworkAclId": ACL}, "an unknown association"),
    ("InvalidNetworkAclID.NotFound", 400, "replace_network_acl_association",
     {"AssociationId": S2ACLASSOC, "NetworkAclId": NOACL}, "to an unknown ACL"),
    (IPV, 400, "replace_network_acl_association", {"AssociationId": S2ACLASSOC, "NetworkAclId": ACL2},
     "to an ACL of another VPC"),
])


def entry(**kw):
    e = dict(NetworkAclId=ACL, RuleNumber=110, Protocol="6", RuleAction="allow", Egress=False,
             CidrBlock="0.0.0.0/0", PortRange={"From": 443, "To": 443})
    e.update(kw)
    return {k: v for k, v in e.items() if v is not None}


run_group("network ACL entries", [
    ("NetworkAclEntryAlreadyExists", 400, "create_network_acl_entry", entry(RuleNumber=100), "a rule number it has"),
    ("InvalidNetworkAclID.NotFound", 400, "create_network_acl_entry", entry(NetworkAclId=NOACL), "in an unknown ACL"),
    (IPV, 400, "create_network_acl_entry", entry(RuleNumber=0), "rule number 0"),
    (IPV, 400, "create_network_acl_entry", entry(RuleNumber=32767), "rule number 32767"),
    (IPV, 400, "create_network_acl_entry", entry(RuleNumber=-5), "rule number -5"),
    (IPV, 400, "create_network_acl_entry", entry(RuleAction="maybe"), "action maybe"),
    (IPV, 400, "create_network_acl_entry", entry(CidrBlock="0.0.0.0/33"), "CIDR 0.0.0.0/33"),
    (IPV, 400, "create_network_acl_entry", entry(Protocol="999"), "protocol 999"),
    (IPV, 400, "create_network_acl_entry", entry(PortRange={"From": 500, "To": 400}), "ports 500 to 400"),
    (IPV, 400, "create_network_acl_entry", entry(PortRange={"From": 1, "To": 65536}), "ports 1 to 65536"),
    (MP, 400, "create_network_acl_entry", entry(CidrBlock=None), "without a CIDR"),
    (MP, 400, "!create_network_acl_entry", entry(RuleNumber=None), "without a rule number"),
    ("InvalidNetworkAclEntry.NotFound", 400, "replace_network_acl_entry", entry(RuleNumber=200),
     "replace a rule it does not have"),
    ("InvalidNetworkAclEntry.NotFound", 400, "replace_network_acl_entry", entry(RuleNumber=100, Egress=True),
     "replace egress 100 (only ingress 100 exists)"),
    ("InvalidNetworkAclID.NotFound", 400, "replace_network_acl_entry", entry(NetworkAclId=NOACL, RuleNumber=100),
     "replace in an unknown ACL"),
    ("InvalidNetworkAclEntry.NotFound", 400, "delete_network_acl_entry",
     {"NetworkAclId": ACL, "RuleNumber": 200, "Egress": False}, "delete a rule it does not have"),
    ("InvalidNetworkAclEntry.NotFound", 400, "delete_network_acl_entry",
     {"NetworkAclId": ACL, "RuleNumber": 100, "Egress": True}, "delete egress 100 (only ingress 100 exists)"),
    ("InvalidNetworkAclID.NotFound", 400, "delete_network_acl_entry",
     {"NetworkAclId": NOACL, "RuleNumber": 100, "Egress": False}, "delete in an unknown ACL"),
])

run_group("network interfaces", [
    ("InvalidSubnetID.NotFound", 400, "create_network_interface", {"SubnetId": NOSUBNET}, "in an unknown subnet"),
    (IPV, 400, "create_network_interface", {"SubnetId": S, "PrivateIpAddress": "10.90.2.10"},
     "an address outside the subnet"),
    ("InvalidIPAddress.InUse", 400, "create_network_interface", {"SubnetId": S, "PrivateIpAddress": ENIIP},
     "an address in use"),
    (IPV, 400, "create_network_interface", {"SubnetId": S, "PrivateIpAddress": "10.90.1.1"},
     "a reserved address (.1)"),
    (IPV, 400, "create_network_interface", {"SubnetId": S, "PrivateIpAddress": "10.90.1.255"},
     "the broadcast address"),
    (IPV, 400, "create_network_interface", {"SubnetId": S, "PrivateIpAddress": "10.90.1.999"},
     "address 10.90.1.999"),
    ("InvalidGroup.NotFound", 400, "create_network_interface", {"SubnetId": S, "Groups": [NOSG]}, "an unknown group"),
    (MP, 400, "!create_network_interface", {}, "no SubnetId"),
    ("InvalidNetworkInterfaceID.NotFound", 400, "describe_network_interfaces", {"NetworkInterfaceIds": [NOENI]},
     "an unknown ID"),
    bad_filter("describe_network_interfaces"),
    bad_token("describe_network_interfaces"),
    ("InvalidNetworkInterfaceID.NotFound", 400, "delete_network_interface", {"NetworkInterfaceId": NOENI},
     "an unknown ENI"),
    ("InvalidNetworkInterface.InUse", 400, "delete_network_interface", {"NetworkInterfaceId": IENI},
     "an instance's primary ENI"),
    (MP, 400, "!delete_network_interface", {}, "no NetworkInterfaceId"),
    ("InvalidNetworkInterfaceID.NotFound", 400, "attach_network_interface",
     {"NetworkInterfaceId": NOENI, "InstanceId": I, "DeviceIndex": 1}, "an unknown ENI"),
    ("InvalidInstanceID.NotFound", 400, "attach_network_interface",
     {"NetworkInterfaceId": ENI, "InstanceId": NOI, "DeviceIndex": 1}, "to an unknown instance"),
    ("InvalidInstanceID.Malformed", 400, "attach_network_interface",
     {"NetworkInterfaceId": ENI, "InstanceId": "i-xyz", "DeviceIndex": 1}, "to instance i-xyz"),
    (IPV, 400, "attach_network_interface", {"NetworkInterfaceId": ENI, "InstanceId": I, "DeviceIndex": 0},
     "at a device index in use"),
    ("InvalidNetworkInterface.InUse", 400, "attach_network_interface",
     {"NetworkInterfaceId": IENI, "InstanceId": I, "DeviceIndex": 1}, "an ENI already attached"),
    (MP, 400, "!attach_network_interface", {"NetworkInterfaceId": ENI, "InstanceId": I}, "without DeviceIndex"),
    ("InvalidAttachmentID.NotFound", 400, "detach_network_interface", {"AttachmentId": NOATTACH},
     "an unknown attachment"),
    ("InvalidNetworkInterfaceID.NotFound", 400, "modify_network_interface_attribute",
     {"NetworkInterfaceId": NOENI, "SourceDestCheck": {"Value": False}}, "of an unknown ENI"),
    ("InvalidGroup.NotFound", 400, "modify_network_interface_attribute",
     {"NetworkInterfaceId": ENI, "Groups": [NOSG]}, "to an unknown group"),
    (MP, 400, "modify_network_interface_attribute", {"NetworkInterfaceId": ENI}, "without an attribute"),
])

run_group("tags", [
    ("InvalidVpcID.NotFound", 400, "create_tags", {"Resources": [NOVPC], "Tags": [{"Key": "a", "Value": "b"}]},
     "on an unknown VPC"),
    ("InvalidGroup.NotFound", 400, "create_tags", {"Resources": [NOSG], "Tags": [{"Key": "a", "Value": "b"}]},
     "on an unknown group"),
    ("InvalidInstanceID.NotFound", 400, "create_tags", {"Resources": [NOI], "Tags": [{"Key": "a", "Value": "b"}]},
     "on an unknown instance"),
    ("InvalidVpcID.NotFound", 400, "create_tags", {"Resources": [V, NOVPC], "Tags": [{"Key": "a", "Value": "b"}]},
     "on a known and an unknown VPC"),
    ("InvalidInstanceID.NotFound", 400, "create_tags",
     {"Resources": [V, I, NOI], "Tags": [{"Key": "a", "Value": "b"}]}, "on a VPC, an instance and an unknown one"),
    ("InvalidID", 400, "create_tags", {"Resources": ["i-xyz"], "Tags": [{"Key": "a", "Value": "b"}]},
     "on instance i-xyz"),
    ("InvalidID", 400, "create_tags", {"Resources": ["bogus-123"], "Tags": [{"Key": "a", "Value": "b"}]},
     "on bogus-123"),
    (IPV, 400, "create_tags", {"Resources": [V], "Tags": [{"Key": "aws:x", "Value": "b"}]}, "key aws:x"),
    (IPV, 400, "create_tags", {"Resources": [V], "Tags": [{"Key": "", "Value": "b"}]}, "an empty key"),
    (IPV, 400, "create_tags", {"Resources": [V], "Tags": [{"Key": "k" * 129, "Value": "b"}]}, "a 129-character key"),
    (IPV, 400, "create_tags", {"Resources": [V], "Tags": [{"Key": "a", "Value": "v" * 257}]},
     "a 257-character value"),
    ("TagLimitExceeded", 400, "create_tags",
     {"Resources": [V], "Tags": [{"Key": "k%d" % n, "Value": "v"} for n in range(51)]}, "51 tags"),
    ("TagLimitExceeded", 400, "create_tags",
     {"Resources": [I], "Tags": [{"Key": "k%d" % n, "Value": "v"} for n in range(50)]},
     "50 more tags on a tagged instance"),
    (MP, 400, "!create_tags", {"Resources": [V]}, "no Tags"),
    (MP, 400, "!create_tags", {"Tags": [{"Key": "a", "Value": "b"}]}, "no Resources"),
    ("InvalidSubnetID.NotFound", 400, "delete_tags", {"Resources": [NOSUBNET]}, "delete on an unknown subnet"),
    ("InvalidInstanceID.NotFound", 400, "delete_tags", {"Resources": [NOI]}, "delete on an unknown instance"),
    bad_filter("describe_tags"),
    bad_token("describe_tags"),
    max_results("describe_tags", 4),
])

run_group("account and attributes", [
    ("InvalidParameterValue", 400, "describe_account_attributes", {"AttributeNames": ["no-such"]},
     "an attribute name that does not exist"),
    ("InvalidVpcID.NotFound", 400, "describe_vpc_classic_link", {"VpcIds": [NOVPC]}, "of an unknown VPC"),
    ("InvalidVpcID.NotFound", 400, "describe_vpc_classic_link_dns_support", {"VpcIds": [NOVPC]},
     "DNS support of an unknown VPC"),
    ("InvalidVpcID.NotFound", 400, "describe_vpc_attribute", {"VpcId": NOVPC, "Attribute": "enableDnsSupport"},
     "of an unknown VPC"),
    (IPV, 400, "describe_vpc_attribute", {"VpcId": V, "Attribute": "dnsEverything"}, "an unknown attribute"),
    ("InvalidParameterCombination", 400, "modify_vpc_attribute",
     {"VpcId": V, "EnableDnsSupport": {"Value": False}, "EnableDnsHostnames": {"Value": True}}, "two at once"),
    ("MissingParameter", 400, "modify_vpc_attribute", {"VpcId": V}, "no attribute"),
    ("MissingParameter", 400, "!modify_vpc_attribute", {"VpcId": V, "EnableDnsSupport": {}}, "no Value"),
    ("InvalidVpcID.NotFound", 400, "modify_vpc_attribute", {"VpcId": NOVPC, "EnableDnsSupport": {"Value": False}},
     "of an unknown VPC"),
    (IPV, 400, "describe_instance_attribute", {"InstanceId": I, "Attribute": "everything"}, "an unknown attribute"),
    ("InvalidInstanceID.NotFound", 400, "describe_instance_attribute",
     {"InstanceId": NOI, "Attribute": "instanceType"}, "of an unknown instance"),
])

run_group("instances", [
    ("InvalidAMIID.NotFound", 400, "run_instances", {"ImageId": NOAMI, "MinCount": 1, "MaxCount": 1, "SubnetId": S},
     "an unknown image"),
    ("InvalidAMIID.Malformed", 400, "run_instances", {"ImageId": "ami-xyz", "MinCount": 1, "MaxCount": 1,
                                                       "SubnetId": S}, "image ami-xyz"),
    (IPV, 400, "run_instances", {"ImageId": AMI, "MinCount": 1, "MaxCount": 1, "SubnetId": S,
                                 "InstanceType": "t9.huge"}, "type t9.huge"),
    (IPV, 400, "!run_instances", {"ImageId": AMI, "MinCount": 0, "MaxCount": 1, "SubnetId": S}, "MinCount 0"),
    (IPV, 400, "run_instances", {"ImageId": AMI, "MinCount": 3, "MaxCount": 2, "SubnetId": S}, "MinCount > MaxCount"),
    (IPV, 400, "!run_instances", {"ImageId": AMI, "MinCount": 1, "MaxCount": -1, "SubnetId": S}, "MaxCount -1"),
    ("InstanceLimitExceeded", 400, "run_instances", {"ImageId": AMI, "MinCount": 1000, "MaxCount": 1000,
                                                     "SubnetId": S}, "1000 instances"),
    ("InvalidSubnetID.NotFound", 400, "run_instances", {"ImageId": AMI, "MinCount": 1, "MaxCount": 1,
                                                        "SubnetId": NOSUBNET}, "in an unknown subnet"),
    ("InvalidGroup.NotFound", 400, "run_instances", {"ImageId": AMI, "MinCount": 1, "MaxCount": 1, "SubnetId": S,
                                                     "SecurityGroupIds": [NOSG]}, "with an unknown group"),
    (IPV, 400, "run_instances", {"ImageId": AMI, "MinCount": 1, "MaxCount": 1, "SubnetId": S,
                                 "PrivateIpAddress": "10.90.2.20"}, "an address outside the subnet"),
    ("InvalidIPAddress.InUse", 400, "run_instances", {"ImageId": AMI, "MinCount": 1, "MaxCount": 1, "SubnetId": S,
                                                      "PrivateIpAddress": ENIIP}, "an address in use"),
    (MP, 400, "!run_instances", {"MinCount": 1, "MaxCount": 1, "SubnetId": S}, "no ImageId"),
    (MP, 400, "!run_instances", {"ImageId": AMI, "MaxCount": 1, "SubnetId": S}, "no MinCount"),
    (IPC, 400, "run_instances", {"ImageId": AMI, "MinCount": 1, "MaxCount": 1, "SubnetId": S,
                                 "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": S}]},
     "SubnetId and NetworkInterfaces"),
    (IPC, 400, "run_instances", {"ImageId": AMI, "MinCount": 1, "MaxCount": 1, "SecurityGroupIds": [SG],
                                 "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": S}]},
     "SecurityGroupIds and NetworkInterfaces"),
    (IPC, 400, "run_instances", {"ImageId": AMI, "MinCount": 1, "MaxCount": 1, "PrivateIpAddress": "10.90.1.50",
                                 "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": S}]},
     "PrivateIpAddress and NetworkInterfaces"),
    (MP, 400, "!run_instances", {"ImageId": AMI, "MinCount": 1, "SubnetId": S}, "no MaxCount"),
    (IPC, 400, "run_instances", {"ImageId": AMI, "MinCount": 2, "MaxCount": 2, "SubnetId": S,
                                 "PrivateIpAddress": "10.90.1.50"}, "one PrivateIpAddress for two instances"),
    ("InvalidNetworkInterfaceID.NotFound", 400, "run_instances",
     {"ImageId": AMI, "MinCount": 1, "MaxCount": 1,
      "NetworkInterfaces": [{"DeviceIndex": 0, "NetworkInterfaceId": NOENI}]}, "with an unknown ENI"),
    ("InvalidNetworkInterface.InUse", 400, "run_instances",
     {"ImageId": AMI, "MinCount": 1, "MaxCount": 1,
      "NetworkInterfaces": [{"DeviceIndex": 0, "NetworkInterfaceId": IENI}]}, "with an ENI in use"),
    ("DryRunOperation", 412, "run_instances", {"ImageId": AMI, "MinCount": 1, "MaxCount": 1, "SubnetId": S,
                                               "DryRun": True}, "DryRun"),
    ("InvalidInstanceID.NotFound", 400, "stop_instances", {"InstanceIds": [NOI]}, "stop an unknown instance"),
    ("InvalidInstanceID.NotFound", 400, "stop_instances", {"InstanceIds": [I, NOI]}, "stop a known and an unknown"),
    ("InvalidInstanceID.Malformed", 400, "stop_instances", {"InstanceIds": ["i-xyz"]}, "stop i-xyz"),
    (MP, 400, "!stop_instances", {}, "stop without InstanceIds"),
    ("InvalidInstanceID.NotFound", 400, "start_instances", {"InstanceIds": [NOI]}, "start an unknown instance"),
    ("InvalidInstanceID.Malformed", 400, "start_instances", {"InstanceIds": ["i-"]}, "start i-"),
    ("InvalidInstanceID.NotFound", 400, "terminate_instances", {"InstanceIds": [I, NOI]},
     "terminate a known and an unknown"),
    ("InvalidInstanceID.Malformed", 400, "terminate_instances", {"InstanceIds": ["i-ZZZZZZZZ"]}, "terminate i-ZZZZZZZZ"),
    ("DryRunOperation", 412, "terminate_instances", {"InstanceIds": [I], "DryRun": True}, "terminate DryRun"),
    ("InvalidInstanceID.NotFound", 400, "reboot_instances", {"InstanceIds": [NOI]}, "reboot an unknown instance"),
    ("InvalidInstanceID.Malformed", 400, "reboot_instances", {"InstanceIds": ["instance-1"]}, "reboot instance-1"),
    ("InvalidInstanceID.NotFound", 400, "describe_instances", {"InstanceIds": [I, NOI]},
     "describe a known and an unknown"),
    ("InvalidInstanceID.Malformed", 400, "describe_instances", {"InstanceIds": ["i-12"]}, "describe i-12"),
    bad_filter("describe_instances"),
    bad_token("describe_instances"),
    max_results("describe_instances", 4),
    max_results("describe_instances", 1001),
    (IPC, 400, "describe_instances", {"InstanceIds": [I], "MaxResults": 5}, "InstanceIds with MaxResults"),
    ("InvalidInstanceID.NotFound", 400, "describe_instance_status", {"InstanceIds": [NOI]},
     "status of an unknown instance"),
    bad_filter("describe_instance_status"),
    ("InvalidInstanceID.NotFound", 400, "get_console_output", {"InstanceId": NOI}, "console of an unknown instance"),
    ("InvalidAMIID.NotFound", 400, "describe_images", {"ImageIds": [NOAMI]}, "an unknown image"),
    ("InvalidAMIID.Malformed", 400, "describe_images", {"ImageIds": ["ami-xyz"]}, "image ami-xyz"),
    bad_filter("describe_images"),
    ("InvalidInstanceType", 400, "describe_instance_types", {"InstanceTypes": ["t9.huge"]}, "type t9.huge"),
    (IPV, 400, "describe_availability_zones", {"ZoneNames": ["us-east-1z"]}, "zone us-east-1z"),
])

n_boto3 = len(seen)

# ------------------------------------------------------------------------- aws CLI
CLI = [
    ("InvalidVpcID.NotFound", "DescribeVpcs", ("describe-vpcs", "--vpc-ids", NOVPC)),
    ("InvalidVpc.Range", "CreateVpc", ("create-vpc", "--cidr-block", "10.0.0.0/8")),
    ("DependencyViolation", "DeleteVpc", ("delete-vpc", "--vpc-id", V)),
    ("InvalidSubnet.Range", "CreateSubnet", ("create-subnet", "--vpc-id", V, "--cidr-block", "10.99.0.0/24")),
    ("InvalidSubnet.Conflict", "CreateSubnet", ("create-subnet", "--vpc-id", V, "--cidr-block", "10.90.1.0/25")),
    ("InvalidNextToken", "DescribeSubnets", ("describe-subnets", "--next-token", "not-a-token!")),
    ("InvalidGroup.Duplicate", "CreateSecurityGroup",
     ("create-security-group", "--vpc-id", V, "--group-name", "web", "--description", "again")),
    ("InvalidPermission.Duplicate", "AuthorizeSecurityGroupIngress",
     ("authorize-security-group-ingress", "--group-id", SG, "--protocol", "tcp", "--port", "22", "--cidr",
      "0.0.0.0/0")),
    ("InvalidPermission.NotFound", "RevokeSecurityGroupIngress",
     ("revoke-security-group-ingress", "--group-id", SG, "--protocol", "tcp", "--port", "23", "--cidr",
      "0.0.0.0/0")),
    ("InvalidGroup.NotFound", "DescribeSecurityGroups", ("describe-security-groups", "--group-ids", NOSG)),
    ("RouteAlreadyExists", "CreateRoute",
     ("create-route", "--route-table-id", RT, "--destination-cidr-block", "0.0.0.0/0", "--gateway-id", IGW)),
    ("InvalidRoute.NotFound", "DeleteRoute",
     ("delete-route", "--route-table-id", RT, "--destination-cidr-block", "192.168.0.0/16")),
    ("Resource.AlreadyAssociated", "AssociateRouteTable",
     ("associate-route-table", "--route-table-id", RT, "--subnet-id", S)),
    ("Gateway.NotAttached", "DetachInternetGateway",
     ("detach-internet-gateway", "--internet-gateway-id", IGW2, "--vpc-id", V)),
    ("DependencyViolation", "DeleteInternetGateway", ("delete-internet-gateway", "--internet-gateway-id", IGW)),
    ("InvalidAllocationID.NotFound", "ReleaseAddress", ("release-address", "--allocation-id", NOALLOC)),
    ("NetworkAclEntryAlreadyExists", "CreateNetworkAclEntry",
     ("create-network-acl-entry", "--network-acl-id", ACL, "--rule-number", "100", "--protocol", "6",
      "--rule-action", "allow", "--ingress", "--cidr-block", "0.0.0.0/0", "--port-range", "From=80,To=80")),
    ("InvalidNetworkAclEntry.NotFound", "DeleteNetworkAclEntry",
     ("delete-network-acl-entry", "--network-acl-id", ACL, "--rule-number", "200", "--ingress")),
    ("InvalidParameterValue", "DescribeNetworkInterfaces",
     ("describe-network-interfaces", "--filters", "Name=no-such-filter,Values=x")),
    ("InvalidNetworkInterface.InUse", "DeleteNetworkInterface",
     ("delete-network-interface", "--network-interface-id", IENI)),
    ("InvalidVpcID.NotFound", "CreateTags", ("create-tags", "--resources", NOVPC, "--tags", "Key=a,Value=b")),
    ("InvalidInstanceID.Malformed", "DescribeInstances", ("describe-instances", "--instance-ids", "i-xyz")),
    ("InvalidParameterCombination", "DescribeInstances",
     ("describe-instances", "--instance-ids", I, "--max-results", "5")),
    ("InvalidInstanceID.NotFound", "StopInstances", ("stop-instances", "--instance-ids", I, NOI)),
    ("InvalidInstanceID.NotFound", "TerminateInstances", ("terminate-instances", "--instance-ids", NOI)),
    ("InvalidAMIID.NotFound", "RunInstances",
     ("run-instances", "--image-id", NOAMI, "--subnet-id", S, "--count", "1")),
    ("InvalidParameterValue", "RunInstances",
     ("run-instances", "--image-id", AMI, "--subnet-id", S, "--count", "1", "--instance-type", "t9.huge")),
    ("NatGatewayNotFound", "DeleteNatGateway", ("delete-nat-gateway", "--nat-gateway-id", NONAT)),
]
cli_seen = set()
results = lab.aws_batch(*[args for _, _, args in CLI], workers=4)
for (code, op, args), (rc, out, err) in zip(CLI, results):
    t.ok(args not in cli_seen, "aws CLI: ec2 %s is a request of its own" % args[0])
    cli_seen.add(args)
    line = "An error occurred (%s) when calling the %s operation:" % (code, op)
    t.ok(rc == 254 and line in err and out is None, "aws ec2 %s: exit 254, \"%s\"" % (" ".join(args[:3]), line),
         "exit %d, stdout %r, stderr %r" % (rc, out, err))
unchanged("aws CLI")
n_cli = len(cli_seen)

t.diag("distinct bad inputs: %d (boto3 %d, aws CLI %d)" % (n_boto3 + n_cli, n_boto3, n_cli))
t.ok(n_boto3 >= 150, "at least 150 distinct bad boto3 requests (%d)" % n_boto3)
t.ok(n_cli >= 20, "at least 20 distinct bad aws CLI requests (%d)" % n_cli)
t.is_(lab.instance(I)["State"]["Name"], "running", "the instance still runs")
unchanged("at the end")
t.done()
