#!/usr/bin/env python3
"""Every action of ec2d/api/actions.txt through boto3 against ec2d's EC2 Query API, each with
an effect checked: in the describe calls, in the kernel (namespaces, links, routes) or in
packets (a client ENI plugged into a namespace of the test's own, curl and ping; the
instance's view through `ec2d exec`). The last assertion checks that boto3 did send every
action of actions.txt (the calls are counted by a botocore event hook).
"""
import ipaddress
import json
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402
from e2e_lib import ClientError, tags_of  # noqa: E402

lab = t.Lab("198.19.208.0/21", need_aws=False)
ec2 = lab.client
west = lab.boto3_client(region="us-west-2")
P = lab.prefix

sent = set()
for c in (ec2, west):
    c.meta.events.register("before-call.ec2", lambda model, **kw: sent.add(model.name))


def err(fn, **kw):
    """(code, message) of a call that must fail; (None, result) if it did not."""
    code, msg, _ = t.call_error(fn, **kw)
    return code, msg


def gone(fn, code, **kw):
    """The describe call fails with the NotFound code `code`."""
    return err(fn, **kw)[0] == code




def ip_routes(ns):
    return t.run(["ip", "-n", ns, "-4", "route", "show", "table", "all"])[1]


def links(ns):
    return t.link_names(ns)


# ------------------------------------------------------------------- regions and zones
r = ec2.describe_regions()["Regions"]
t.ok({"us-east-1", "us-west-2"} <= {x["RegionName"] for x in r}, "DescribeRegions lists us-east-1 and us-west-2")
r = ec2.describe_regions(RegionNames=["us-west-2"])["Regions"]
t.is_([x["RegionName"] for x in r], ["us-west-2"], "DescribeRegions RegionNames=[us-west-2]: only it")
az = ec2.describe_availability_zones()["AvailabilityZones"]
t.ok({"us-east-1a", "us-east-1b"} <= {z["ZoneName"] for z in az} and all(z["RegionName"] == "us-east-1" for z in az),
     "DescribeAvailabilityZones: us-east-1a and us-east-1b, all in us-east-1", az)

# ----------------------------------------------------------------------------- VPCs
V = ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=[
    {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "e2e-main"}]}])["Vpc"]["VpcId"]
d = ec2.describe_vpcs(VpcIds=[V])["Vpcs"]
t.ok(len(d) == 1 and d[0]["CidrBlock"] == "10.20.0.0/16" and d[0]["State"] == "available" and
     tags_of(d[0]) == {"Name": "e2e-main"}, "CreateVpc: DescribeVpcs shows it with its CIDR and Name tag", d)
NS = lab.vpc_ns(V)
t.ok(os.path.exists("/run/netns/" + NS), "CreateVpc: the VPC's namespace %s exists" % NS)

# -------------------------------------------------------------------------- subnets
A = ec2.create_subnet(VpcId=V, CidrBlock="10.20.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
B = ec2.create_subnet(VpcId=V, CidrBlock="10.20.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
C = ec2.create_subnet(VpcId=V, CidrBlock="10.20.3.0/24")["Subnet"]["SubnetId"]
s = {x["SubnetId"]: x for x in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [V]}])["Subnets"]}
t.ok(set(s) == {A, B, C} and s[A]["AvailableIpAddressCount"] == 251 and s[B]["AvailabilityZone"] == "us-east-1b",
     "CreateSubnet x3: DescribeSubnets shows them (251 free addresses in a /24, zones as asked)", s)
bridge = lambda sid: "%sb%s" % (P, sid[-8:])  # noqa: E731
t.ok(all(bridge(x) in links(NS) for x in (A, B, C)), "CreateSubnet: a bridge per subnet in the VPC namespace")
ec2.modify_subnet_attribute(SubnetId=A, MapPublicIpOnLaunch={"Value": True})
t.is_(ec2.describe_subnets(SubnetIds=[A])["Subnets"][0]["MapPublicIpOnLaunch"], True,
      "ModifySubnetAttribute MapPublicIpOnLaunch=true shows in DescribeSubnets")
ec2.modify_subnet_attribute(SubnetId=A, MapPublicIpOnLaunch={"Value": False})
t.is_(ec2.describe_subnets(SubnetIds=[A])["Subnets"][0]["MapPublicIpOnLaunch"], False,
      "ModifySubnetAttribute MapPublicIpOnLaunch=false")
ec2.delete_subnet(SubnetId=C)
t.ok(gone(ec2.describe_subnets, "InvalidSubnetID.NotFound", SubnetIds=[C]) and bridge(C) not in links(NS),
     "DeleteSubnet: DescribeSubnets says InvalidSubnetID.NotFound and its bridge is gone")

# ------------------------------------------------------------------ security groups
WEB = ec2.create_security_group(GroupName="web", Description="http only", VpcId=V)["GroupId"]
g = ec2.describe_security_groups(GroupIds=[WEB])["SecurityGroups"]
t.ok(len(g) == 1 and g[0]["GroupName"] == "web" and g[0]["VpcId"] == V and g[0]["IpPermissions"] == [] and
     any(p.get("IpProtocol") == "-1" for p in g[0]["IpPermissionsEgress"]),
     "CreateSecurityGroup: DescribeSecurityGroups shows it, no ingress, egress to everywhere", g)
HTTP = [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.20.0.0/16"}]}]
ec2.authorize_security_group_ingress(GroupId=WEB, IpPermissions=HTTP)


def rules(group, egress):
    rs = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroupRules"]
    return [x for x in rs if x["IsEgress"] == egress]


ing = rules(WEB, False)
t.ok(len(ing) == 1 and ing[0]["IpProtocol"] == "tcp" and ing[0]["FromPort"] == 80 and ing[0]["ToPort"] == 80 and
     ing[0]["CidrIpv4"] == "10.20.0.0/16" and ing[0]["SecurityGroupRuleId"].startswith("sgr-"),
     "AuthorizeSecurityGroupIngress tcp/80: DescribeSecurityGroupRules shows the rule", ing)
DNS = [{"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.20.0.2/32"}]}]
ec2.authorize_security_group_egress(GroupId=WEB, IpPermissions=DNS)
t.ok(any(x["IpProtocol"] == "udp" and x["FromPort"] == 53 and x["CidrIpv4"] == "10.20.0.2/32" for x in rules(WEB, True)),
     "AuthorizeSecurityGroupEgress udp/53: DescribeSecurityGroupRules shows it")
ec2.revoke_security_group_egress(GroupId=WEB, IpPermissions=DNS)
t.ok(not any(x["IpProtocol"] == "udp" for x in rules(WEB, True)) and len(rules(WEB, True)) == 1,
     "RevokeSecurityGroupEgress (by IpPermissions): the rule is gone, the default egress stays")
TMP = ec2.create_security_group(GroupName="tmp", Description="to delete", VpcId=V)["GroupId"]
ec2.delete_security_group(GroupId=TMP)
t.ok(gone(ec2.describe_security_groups, "InvalidGroup.NotFound", GroupIds=[TMP]),
     "DeleteSecurityGroup: DescribeSecurityGroups says InvalidGroup.NotFound")

# ------------------------------------------------------- network interfaces and routes
E1 = ec2.create_network_interface(SubnetId=A, PrivateIpAddress="10.20.1.10", Description="appliance",
                                  Groups=[WEB])["NetworkInterface"]["NetworkInterfaceId"]
E2 = ec2.create_network_interface(SubnetId=A)["NetworkInterface"]["NetworkInterfaceId"]
e = {x["NetworkInterfaceId"]: x for x in ec2.describe_network_interfaces(
    Filters=[{"Name": "subnet-id", "Values": [A]}])["NetworkInterfaces"]}
t.ok(set(e) == {E1, E2} and e[E1]["PrivateIpAddress"] == "10.20.1.10" and e[E1]["Description"] == "appliance" and
     [x["GroupId"] for x in e[E1]["Groups"]] == [WEB] and e[E2]["Status"] == "available",
     "CreateNetworkInterface x2: DescribeNetworkInterfaces shows address, description, group", e)
E2IP = e.get(E2, {}).get("PrivateIpAddress")
ec2.modify_network_interface_attribute(NetworkInterfaceId=E1, SourceDestCheck={"Value": False})
ec2.modify_network_interface_attribute(NetworkInterfaceId=E1, Description={"Value": "router"})
x = ec2.describe_network_interfaces(NetworkInterfaceIds=[E1])["NetworkInterfaces"][0]
t.ok(x["SourceDestCheck"] is False and x["Description"] == "router",
     "ModifyNetworkInterfaceAttribute: SourceDestCheck false and a new Description", x)

RTB = ec2.create_route_table(VpcId=V, TagSpecifications=[
    {"ResourceType": "route-table", "Tags": [{"Key": "Name", "Value": "public"}]}])["RouteTable"]["RouteTableId"]
rt = ec2.describe_route_tables(RouteTableIds=[RTB])["RouteTables"]
t.ok(len(rt) == 1 and [(x["DestinationCidrBlock"], x["GatewayId"]) for x in rt[0]["Routes"]] == [("10.20.0.0/16", "local")]
     and tags_of(rt[0]) == {"Name": "public"}, "CreateRouteTable: only the local route, and its tag", rt)
ASSOC = ec2.associate_route_table(RouteTableId=RTB, SubnetId=A)["AssociationId"]
rt = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [A]}])["RouteTables"]
t.ok([x["RouteTableId"] for x in rt] == [RTB] and ASSOC.startswith("rtbassoc-"),
     "AssociateRouteTable: the association.subnet-id filter finds the table", rt)
ec2.create_route(RouteTableId=RTB, DestinationCidrBlock="192.168.50.0/24", NetworkInterfaceId=E1)
rt = ec2.describe_route_tables(RouteTableIds=[RTB])["RouteTables"][0]
t.ok(any(x["DestinationCidrBlock"] == "192.168.50.0/24" and x.get("NetworkInterfaceId") == E1 for x in rt["Routes"]),
     "CreateRoute 192.168.50.0/24 -> ENI: DescribeRouteTables shows it", rt["Routes"])
t.like(ip_routes(NS), r"192\.168\.50\.0/24 via 10\.20\.1\.10 ", "CreateRoute: the kernel routes 192.168.50.0/24 via the ENI's address")
ec2.replace_route(RouteTableId=RTB, DestinationCidrBlock="192.168.50.0/24", NetworkInterfaceId=E2)
rt = ec2.describe_route_tables(RouteTableIds=[RTB])["RouteTables"][0]
t.ok(any(x["DestinationCidrBlock"] == "192.168.50.0/24" and x.get("NetworkInterfaceId") == E2 for x in rt["Routes"]),
     "ReplaceRoute: the route now targets the second ENI", rt["Routes"])
t.like(ip_routes(NS), r"192\.168\.50\.0/24 via %s " % str(E2IP).replace(".", r"\."),
       "ReplaceRoute: the kernel route follows (via %s)" % E2IP)
ec2.delete_route(RouteTableId=RTB, DestinationCidrBlock="192.168.50.0/24")
rt = ec2.describe_route_tables(RouteTableIds=[RTB])["RouteTables"][0]
t.ok(not any(x["DestinationCidrBlock"] == "192.168.50.0/24" for x in rt["Routes"]) and
     "192.168.50.0/24" not in ip_routes(NS), "DeleteRoute: gone from DescribeRouteTables and from the kernel")
RTB2 = ec2.create_route_table(VpcId=V)["RouteTable"]["RouteTableId"]
NEW = ec2.replace_route_table_association(AssociationId=ASSOC, RouteTableId=RTB2)["NewAssociationId"]
rt = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [A]}])["RouteTables"]
t.ok([x["RouteTableId"] for x in rt] == [RTB2], "ReplaceRouteTableAssociation: subnet A now uses the second table", rt)
ec2.disassociate_route_table(AssociationId=NEW)
rt = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [A]}])["RouteTables"]
t.is_(rt, [], "DisassociateRouteTable: subnet A has no explicit association any more (the main table applies)")
ec2.delete_route_table(RouteTableId=RTB2)
t.ok(gone(ec2.describe_route_tables, "InvalidRouteTableID.NotFound", RouteTableIds=[RTB2]),
     "DeleteRouteTable: InvalidRouteTableID.NotFound afterwards")
ASSOC = ec2.associate_route_table(RouteTableId=RTB, SubnetId=A)["AssociationId"]
ec2.delete_network_interface(NetworkInterfaceId=E2)
t.ok(gone(ec2.describe_network_interfaces, "InvalidNetworkInterfaceID.NotFound", NetworkInterfaceIds=[E2]) and
     "%se%s" % (P, E2[-8:]) not in links(NS), "DeleteNetworkInterface: NotFound afterwards, its port is gone")

# ------------------------------------------------------------ gateway, address, instance
IGW = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
ec2.attach_internet_gateway(InternetGatewayId=IGW, VpcId=V)
g = ec2.describe_internet_gateways(InternetGatewayIds=[IGW])["InternetGateways"]
t.ok(g and g[0]["Attachments"] == [{"State": "available", "VpcId": V}],
     "AttachInternetGateway: DescribeInternetGateways shows the attachment", g)
t.ok(any(n.startswith(P + "g") for n in links(NS)), "AttachInternetGateway: a gateway link in the VPC namespace")
ec2.create_route(RouteTableId=RTB, DestinationCidrBlock="0.0.0.0/0", GatewayId=IGW)
ALLOC = ec2.allocate_address(Domain="vpc")
region = lab.lab_region() or {}
HOST = region.get("InternetHost", {}).get("PublicIp")
t.ok(ALLOC["AllocationId"].startswith("eipalloc-") and ALLOC["PublicIp"].startswith("198.19.208."),
     "AllocateAddress: an address of the region's pool %s" % region.get("PublicIpPool"), ALLOC)
t.ok([a["PublicIp"] for a in ec2.describe_addresses(AllocationIds=[ALLOC["AllocationId"]])["Addresses"]] ==
     [ALLOC["PublicIp"]], "DescribeAddresses shows it")

imgs = ec2.describe_images(Owners=["self"])["Images"]
bb = [i for i in imgs if i["Name"] == "busybox"]
have_image = bool(bb)
t.ok(not have_image or (bb[0]["ImageId"].startswith("ami-") and bb[0]["State"] == "available" and
                        bb[0]["ImageLocation"] == os.path.join(lab.images_dir, "busybox")),
     "DescribeImages: the busybox image, available, at its location", imgs)
it = ec2.describe_instance_types(InstanceTypes=["t3.micro"])["InstanceTypes"]
t.ok(len(it) == 1 and it[0]["VCpuInfo"]["DefaultVCpus"] == 2 and it[0]["MemoryInfo"]["SizeInMiB"] == 1024,
     "DescribeInstanceTypes t3.micro: 2 vCPUs, 1024 MiB", it)

KP = ec2.create_key_pair(KeyName="boto3-kp")
pub = ec2.describe_key_pairs(KeyPairIds=[KP["KeyPairId"]], IncludePublicKey=True)["KeyPairs"][0]["PublicKey"]
KI = ec2.import_key_pair(KeyName="boto3-imp", PublicKeyMaterial=pub.encode())
t.ok(KP["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----") and KI["KeyName"] == "boto3-imp" and
     re.match(r"^([0-9a-f]{2}:){15}[0-9a-f]{2}$", KI["KeyFingerprint"]),
     "CreateKeyPair, DescribeKeyPairs IncludePublicKey, ImportKeyPair of that public key (an MD5 fingerprint)", KI)
ec2.delete_key_pair(KeyName="boto3-imp")
t.is_([k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]], ["boto3-kp"], "DeleteKeyPair")

# Launch templates (their launch is tested with packets in tests/ec2/launch_template.sh).
LT = ec2.create_launch_template(LaunchTemplateName="boto3-lt", VersionDescription="one",
                                LaunchTemplateData={"InstanceType": "t3.nano", "UserData": "ZWNobyBoaQo="})["LaunchTemplate"]
V2 = ec2.create_launch_template_version(LaunchTemplateId=LT["LaunchTemplateId"], SourceVersion="1",
                                        LaunchTemplateData={"InstanceType": "t3.micro"})["LaunchTemplateVersion"]
ec2.modify_launch_template(LaunchTemplateName="boto3-lt", DefaultVersion="2")
lts = ec2.describe_launch_templates(LaunchTemplateNames=["boto3-lt"])["LaunchTemplates"]
ltv = ec2.describe_launch_template_versions(LaunchTemplateId=LT["LaunchTemplateId"], Versions=["$Default"])["LaunchTemplateVersions"]
t.ok(LT["LaunchTemplateId"].startswith("lt-") and V2["VersionNumber"] == 2 and
     [l["DefaultVersionNumber"] for l in lts] == [2] and
     [(v["VersionNumber"], v["LaunchTemplateData"]["InstanceType"], v["LaunchTemplateData"]["UserData"]) for v in ltv] ==
     [(2, "t3.micro", "ZWNobyBoaQo=")],
     "CreateLaunchTemplate, CreateLaunchTemplateVersion SourceVersion, ModifyLaunchTemplate, DescribeLaunchTemplates, "
     "DescribeLaunchTemplateVersions $Default", ltv)
dv = ec2.delete_launch_template_versions(LaunchTemplateId=LT["LaunchTemplateId"], Versions=["1"])
ec2.delete_launch_template(LaunchTemplateName="boto3-lt")
t.ok([v["VersionNumber"] for v in dv["SuccessfullyDeletedLaunchTemplateVersions"]] == [1] and
     t.call_error(ec2.describe_launch_templates, LaunchTemplateIds=[LT["LaunchTemplateId"]])[0] ==
     "InvalidLaunchTemplateId.NotFound", "DeleteLaunchTemplateVersions, DeleteLaunchTemplate: NotFound", dv)

UD = ("#!/bin/sh\nmkdir -p /www\necho \"hello from $(cat /run/vpclab/eth0.lease | cut -d/ -f1)\" > /www/index.html\n"
      "httpd -h /www -p 80\n")
CL = ec2.create_network_interface(SubnetId=B)["NetworkInterface"]
CLIENT = lab.plug(CL["NetworkInterfaceId"], "c")
if not have_image:
    t.skip("instance actions", "image busybox is not built (images/build busybox)")
    t.done()
res = ec2.run_instances(ImageId=bb[0]["ImageId"], InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=A,
                        SecurityGroupIds=[WEB], UserData=UD, TagSpecifications=[
                            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}])
I = res["Instances"][0]["InstanceId"]
t.is_(res["Instances"][0]["State"]["Name"], "pending", "RunInstances answers pending")
t.ok(lab.wait_ready(I), "the instance becomes ready (DescribeInstanceStatus ok)")
inst = lab.instance(I) or {}
IP = inst.get("PrivateIpAddress", "")
t.ok(inst.get("State", {}).get("Name") == "running" and inst.get("SubnetId") == A and IP.startswith("10.20.1.") and
     [g["GroupId"] for g in inst.get("SecurityGroups", [])] == [WEB] and tags_of(inst) == {"Name": "web"},
     "DescribeInstances: running, in subnet A, group web, tag Name=web", inst)
st = ec2.describe_instance_status(InstanceIds=[I])["InstanceStatuses"]
t.ok(st and st[0]["InstanceState"]["Name"] == "running" and st[0]["SystemStatus"]["Status"] == "ok",
     "DescribeInstanceStatus: running, system status ok", st)

# ------------------------------------------------------------ attributes and the account
# (account.py checks what the DNS attributes do to the VPC's resolver.)
ec2.modify_vpc_attribute(VpcId=V, EnableDnsHostnames={"Value": True})
hn = ec2.describe_vpc_attribute(VpcId=V, Attribute="enableDnsHostnames")
sup = ec2.describe_vpc_attribute(VpcId=V, Attribute="enableDnsSupport")
t.ok(hn.get("EnableDnsHostnames") == {"Value": True} and sup.get("EnableDnsSupport") == {"Value": True},
     "ModifyVpcAttribute EnableDnsHostnames; DescribeVpcAttribute shows both on", hn, sup)
cl = ec2.describe_vpc_classic_link(VpcIds=[V])["Vpcs"]
cld = ec2.describe_vpc_classic_link_dns_support(VpcIds=[V])["Vpcs"]
t.ok([(x["VpcId"], x["ClassicLinkEnabled"]) for x in cl] == [(V, False)] and
     [(x["VpcId"], x["ClassicLinkDnsSupported"]) for x in cld] == [(V, False)],
     "DescribeVpcClassicLink(DnsSupport): the VPC, without ClassicLink", cl, cld)
aa = {a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]]
      for a in ec2.describe_account_attributes(AttributeNames=["supported-platforms", "default-vpc"])["AccountAttributes"]}
t.is_(aa, {"supported-platforms": ["VPC"], "default-vpc": ["none"]}, "DescribeAccountAttributes: VPC only, no default VPC")
ity = ec2.describe_instance_attribute(InstanceId=I, Attribute="instanceType")
t.is_({k: ity.get(k) for k in ("InstanceId", "InstanceType")}, {"InstanceId": I, "InstanceType": {"Value": "t3.micro"}},
      "DescribeInstanceAttribute instanceType")
ec2.modify_instance_attribute(InstanceId=I, SourceDestCheck={"Value": False})
sdc = ec2.describe_instance_attribute(InstanceId=I, Attribute="sourceDestCheck")["SourceDestCheck"]
bad = t.call_error(ec2.modify_instance_attribute, InstanceId=I, InstanceType={"Value": "t3.small"})[0]
ec2.modify_instance_attribute(InstanceId=I, Attribute="sourceDestCheck", Value="true")
t.ok(sdc == {"Value": False} and bad == "IncorrectInstanceState" and
     ec2.describe_instance_attribute(InstanceId=I, Attribute="sourceDestCheck")["SourceDestCheck"] == {"Value": True},
     "ModifyInstanceAttribute SourceDestCheck, by Attribute/Value; InstanceType of a running instance: IncorrectInstanceState", sdc, bad)
AZ = ec2.describe_instances(InstanceIds=[I])["Reservations"][0]["Instances"][0]["Placement"]["AvailabilityZone"]
VOL = ec2.create_volume(AvailabilityZone=AZ, Size=4, VolumeType="gp3")["VolumeId"]
ec2.attach_volume(VolumeId=VOL, InstanceId=I, Device="/dev/sdf")
rc, wrote, _ = lab.exec(I, "sh", "-c", "echo boto3 > /mnt/sdf/f && cat /mnt/sdf/f")
dv = ec2.describe_volumes(VolumeIds=[VOL])["Volumes"]
ec2.detach_volume(VolumeId=VOL)
inuse = t.call_error(ec2.detach_volume, VolumeId=VOL)[0]
ec2.delete_volume(VolumeId=VOL)
t.ok([(x["State"], x["Attachments"][0]["Device"]) for x in dv] == [("in-use", "/dev/sdf")] and wrote.strip() == "boto3" and
     inuse == "IncorrectState" and t.call_error(ec2.describe_volumes, VolumeIds=[VOL])[0] == "InvalidVolume.NotFound",
     "CreateVolume, AttachVolume (a file written on it in the guest), DescribeVolumes, DetachVolume, DeleteVolume", dv, wrote)
out = lab.console(I)
t.ok("vpclab-init: ready" in out and "vpclab-init: running user-data" in out and "user-data exited 0" in out,
     "GetConsoleOutput (decoded by boto3) has vpclab-init's lines, user-data ran", out)
rc, dom, _ = t.run(["virsh", "-c", "lxc:///system", "domstate", "%s-%s" % (P, I)])
t.is_(dom.strip(), "running", "the libvirt domain %s-%s runs" % (P, I))
rc, host, _ = lab.exec(I, "hostname")
t.is_(host.strip(), "ip-" + IP.replace(".", "-"), "the instance's hostname is ip-a-b-c-d (ec2d exec hostname)")

# Security groups, in packets: the client ENI (subnet B, default group) fetches the page.
page = t.retry(lambda: lab.curl(CLIENT, "http://%s/" % IP), timeout=10)
t.is_((page or "").strip(), "hello from " + IP, "the client reaches the instance's httpd on tcp/80 (group web)")
rid = [x["SecurityGroupRuleId"] for x in rules(WEB, False)]
ec2.revoke_security_group_ingress(GroupId=WEB, SecurityGroupRuleIds=rid)
t.ok(rules(WEB, False) == [] and lab.curl(CLIENT, "http://%s/" % IP, timeout=1) is None,
     "RevokeSecurityGroupIngress (by rule ID): no rule left, tcp/80 no longer connects")
ec2.authorize_security_group_ingress(GroupId=WEB, IpPermissions=HTTP)
t.ok(t.retry(lambda: lab.curl(CLIENT, "http://%s/" % IP), timeout=5),
     "AuthorizeSecurityGroupIngress again: tcp/80 connects again")
# EC2's flat form (IpProtocol, FromPort, ToPort, CidrIp), which SDK code uses widely.
FLAT = dict(GroupId=WEB, IpProtocol="tcp", FromPort=80, ToPort=80, CidrIp="10.20.0.0/16")
ec2.revoke_security_group_ingress(**FLAT)
t.ok(rules(WEB, False) == [] and lab.curl(CLIENT, "http://%s/" % IP, timeout=1) is None,
     "RevokeSecurityGroupIngress, flat form: no rule left, tcp/80 no longer connects")
ec2.authorize_security_group_ingress(**FLAT)
r = rules(WEB, False)
t.ok(len(r) == 1 and (r[0]["IpProtocol"], r[0]["FromPort"], r[0]["ToPort"], r[0].get("CidrIpv4")) ==
     ("tcp", 80, 80, "10.20.0.0/16") and t.retry(lambda: lab.curl(CLIENT, "http://%s/" % IP), timeout=5),
     "AuthorizeSecurityGroupIngress, flat form: the rule, and tcp/80 connects", r)
DEFSG_V = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [V]}, {"Name": "group-name",
                                                                                   "Values": ["default"]}])[
    "SecurityGroups"][0]["GroupId"]
ec2.authorize_security_group_ingress(GroupId=WEB, SourceSecurityGroupName="default")
r = [x for x in rules(WEB, False) if x.get("ReferencedGroupInfo")]
t.ok(sorted((x["IpProtocol"], x["FromPort"], x["ToPort"]) for x in r) ==
     [("icmp", -1, -1), ("tcp", 0, 65535), ("udp", 0, 65535)] and
     all(x["ReferencedGroupInfo"]["GroupId"] == DEFSG_V for x in r),
     "AuthorizeSecurityGroupIngress SourceSecurityGroupName=default: full ICMP, UDP and TCP from the VPC's default "
     "group (three rules, as EC2's model documents)", r)
ec2.revoke_security_group_ingress(GroupId=WEB, SourceSecurityGroupName="default")
t.ok(not [x for x in rules(WEB, False) if x.get("ReferencedGroupInfo")], "... and revoked by name again")

# Network ACLs: a new ACL denies everything until entries allow it.
ACL = ec2.create_network_acl(VpcId=V)["NetworkAcl"]["NetworkAclId"]
acl = ec2.describe_network_acls(NetworkAclIds=[ACL])["NetworkAcls"][0]
t.ok(sorted((x["RuleNumber"], x["RuleAction"], x["Egress"]) for x in acl["Entries"]) ==
     [(32767, "deny", False), (32767, "deny", True)] and acl["IsDefault"] is False,
     "CreateNetworkAcl: only the two * deny entries", acl)
ec2.create_network_acl_entry(NetworkAclId=ACL, RuleNumber=100, Protocol="-1", RuleAction="allow", Egress=False,
                             CidrBlock="0.0.0.0/0")
ec2.create_network_acl_entry(NetworkAclId=ACL, RuleNumber=100, Protocol="-1", RuleAction="allow", Egress=True,
                             CidrBlock="0.0.0.0/0")
acl = ec2.describe_network_acls(NetworkAclIds=[ACL])["NetworkAcls"][0]
t.ok(sorted((x["RuleNumber"], x["RuleAction"], x["Egress"]) for x in acl["Entries"] if x["RuleNumber"] == 100) ==
     [(100, "allow", False), (100, "allow", True)], "CreateNetworkAclEntry x2: rule 100 allows both ways", acl)
dacl = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [B]}])["NetworkAcls"]
DEFAULT_ACL = dacl[0]["NetworkAclId"] if dacl else None
BASSOC = next((a["NetworkAclAssociationId"] for a in (dacl[0]["Associations"] if dacl else []) if a["SubnetId"] == B), None)
NEWASSOC = ec2.replace_network_acl_association(AssociationId=BASSOC, NetworkAclId=ACL)["NewAssociationId"]
x = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [B]}])["NetworkAcls"]
t.ok([a["NetworkAclId"] for a in x] == [ACL], "ReplaceNetworkAclAssociation: subnet B uses the new ACL", x)
t.ok(t.retry(lambda: lab.curl(CLIENT, "http://%s/" % IP), timeout=5), "... which allows everything: tcp/80 connects")
ec2.replace_network_acl_entry(NetworkAclId=ACL, RuleNumber=100, Protocol="6", RuleAction="deny", Egress=False,
                              CidrBlock="0.0.0.0/0", PortRange={"From": 1024, "To": 65535})
x = [y for y in ec2.describe_network_acls(NetworkAclIds=[ACL])["NetworkAcls"][0]["Entries"]
     if y["RuleNumber"] == 100 and not y["Egress"]]
t.ok(len(x) == 1 and x[0]["Protocol"] == "6" and x[0]["RuleAction"] == "deny" and
     x[0].get("PortRange") == {"From": 1024, "To": 65535}, "ReplaceNetworkAclEntry: rule 100 in denies tcp 1024-65535", x)
t.ok(lab.curl(CLIENT, "http://%s/" % IP, timeout=1) is None,
     "... and the answers (to an ephemeral port) no longer reach the client (ACLs are stateless)")
ec2.delete_network_acl_entry(NetworkAclId=ACL, RuleNumber=100, Egress=False)
x = [y["RuleNumber"] for y in ec2.describe_network_acls(NetworkAclIds=[ACL])["NetworkAcls"][0]["Entries"]
     if not y["Egress"]]
t.is_(x, [32767], "DeleteNetworkAclEntry: only the * entry is left inbound")
BACK = ec2.replace_network_acl_association(AssociationId=NEWASSOC, NetworkAclId=DEFAULT_ACL)["NewAssociationId"]
t.ok(t.retry(lambda: lab.curl(CLIENT, "http://%s/" % IP), timeout=5),
     "ReplaceNetworkAclAssociation back to the default ACL: tcp/80 connects again")
ec2.delete_network_acl(NetworkAclId=ACL)
t.ok(gone(ec2.describe_network_acls, "InvalidNetworkAclID.NotFound", NetworkAclIds=[ACL]),
     "DeleteNetworkAcl: InvalidNetworkAclID.NotFound afterwards")

# Elastic IP: the instance reaches the region's internet host with it as its source.
IENI = inst["NetworkInterfaces"][0]["NetworkInterfaceId"] if inst.get("NetworkInterfaces") else None
code, msg = err(ec2.associate_address, AllocationId=ALLOC["AllocationId"], InstanceId=I)
t.ok(code is None, "AssociateAddress by InstanceId (what most scripts send) is accepted", "%s: %s" % (code, msg))
if code is None:
    AID = msg["AssociationId"]
else:
    AID = ec2.associate_address(AllocationId=ALLOC["AllocationId"], NetworkInterfaceId=IENI)["AssociationId"]
a = ec2.describe_addresses(AllocationIds=[ALLOC["AllocationId"]])["Addresses"][0]
t.ok(a.get("AssociationId") == AID and a.get("NetworkInterfaceId") == IENI and a.get("PrivateIpAddress") == IP,
     "AssociateAddress: DescribeAddresses shows the association to the instance's ENI", a)
t.is_((lab.instance(I) or {}).get("PublicIpAddress"), ALLOC["PublicIp"], "DescribeInstances shows the PublicIpAddress")
code, msg = err(ec2.create_route, RouteTableId=RTB, DestinationCidrBlock="192.168.70.0/24", InstanceId=I)
r70 = [x for x in ec2.describe_route_tables(RouteTableIds=[RTB])["RouteTables"][0]["Routes"]
       if x.get("DestinationCidrBlock") == "192.168.70.0/24"]
t.ok(code is None and r70 and r70[0].get("NetworkInterfaceId") == IENI and
     re.search(r"192\.168\.70\.0/24 via %s " % IP.replace(".", r"\."), ip_routes(NS)),
     "CreateRoute with InstanceId: a route via the instance's ENI, in the model and the kernel", "%s %s" % (code, msg), r70)
if code is None:
    ec2.delete_route(RouteTableId=RTB, DestinationCidrBlock="192.168.70.0/24")
# (busybox wget -T segfaults in this busybox: timeout(1) bounds it instead.)
wget = lambda url, secs=3: lab.exec(I, "timeout", str(secs), "wget", "-q", "-O", "-", url)  # noqa: E731
got = t.retry(lambda: wget("http://%s/" % HOST)[1].strip(), timeout=10)
t.is_(got, ALLOC["PublicIp"], "the instance reaches the internet host %s, which sees the EIP as source" % HOST)
ec2.disassociate_address(AssociationId=AID)
a = ec2.describe_addresses(AllocationIds=[ALLOC["AllocationId"]])["Addresses"][0]
t.ok("AssociationId" not in a and wget("http://%s/" % HOST, 2)[0] != 0,
     "DisassociateAddress: no association, and the instance no longer gets out", a)

# NAT gateway: subnet B (the client) goes out through a NAT gateway in subnet A.
ALLOC2 = ec2.allocate_address(Domain="vpc")
NAT = ec2.create_nat_gateway(SubnetId=A, AllocationId=ALLOC2["AllocationId"])["NatGateway"]["NatGatewayId"]
n = ec2.describe_nat_gateways(NatGatewayIds=[NAT])["NatGateways"]
t.ok(n and n[0]["State"] == "available" and n[0]["NatGatewayAddresses"][0]["PublicIp"] == ALLOC2["PublicIp"],
     "CreateNatGateway: DescribeNatGateways says available, with the EIP", n)
RTBB = ec2.create_route_table(VpcId=V)["RouteTable"]["RouteTableId"]
ec2.associate_route_table(RouteTableId=RTBB, SubnetId=B)
ec2.create_route(RouteTableId=RTBB, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=NAT)
got = t.retry(lambda: (lab.curl(CLIENT, "http://%s/" % HOST) or "").strip(), timeout=10)
t.is_(got, ALLOC2["PublicIp"], "the client in subnet B reaches the internet host as the NAT gateway's EIP")
ec2.delete_nat_gateway(NatGatewayId=NAT)
n = ec2.describe_nat_gateways(NatGatewayIds=[NAT])["NatGateways"]
t.ok(n and n[0]["State"] == "deleted" and lab.curl(CLIENT, "http://%s/" % HOST, timeout=1) is None,
     "DeleteNatGateway: deleted, and the client no longer gets out", n)

# Peering: a second VPC, reached from the client through an accepted peering.
V2 = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
S2 = ec2.create_subnet(VpcId=V2, CidrBlock="10.30.1.0/24")["Subnet"]["SubnetId"]
PE = ec2.create_network_interface(SubnetId=S2)["NetworkInterface"]
PEER = lab.plug(PE["NetworkInterfaceId"], "p")
PCX = ec2.create_vpc_peering_connection(VpcId=V, PeerVpcId=V2)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
p = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[PCX])["VpcPeeringConnections"]
t.ok(p and p[0]["Status"]["Code"] == "pending-acceptance" and p[0]["AccepterVpcInfo"]["VpcId"] == V2,
     "CreateVpcPeeringConnection: pending-acceptance", p)
x = ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=PCX)["VpcPeeringConnection"]
t.is_(x["Status"]["Code"], "active", "AcceptVpcPeeringConnection: active")
ec2.create_route(RouteTableId=RTBB, DestinationCidrBlock="10.30.0.0/16", VpcPeeringConnectionId=PCX)
main2 = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [V2]},
                                           {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]
ec2.create_route(RouteTableId=main2["RouteTableId"], DestinationCidrBlock="10.20.2.0/24", VpcPeeringConnectionId=PCX)
sg2 = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [V2]},
                                            {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]
ec2.authorize_security_group_ingress(GroupId=sg2["GroupId"], IpPermissions=[
    {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "10.20.0.0/16"}]}])
ping = lambda: lab.netns(CLIENT, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", PE["PrivateIpAddress"])[0] == 0  # noqa: E731
t.ok(ping(), "the client pings the ENI of the peer VPC through the peering")
ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=PCX)
p = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[PCX])["VpcPeeringConnections"]
t.ok(p and p[0]["Status"]["Code"] == "deleted" and not ping(), "DeleteVpcPeeringConnection: deleted, no more ping", p)
W = west.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
PCX2 = ec2.create_vpc_peering_connection(VpcId=V, PeerVpcId=W, PeerRegion="us-west-2")[
    "VpcPeeringConnection"]["VpcPeeringConnectionId"]
west.reject_vpc_peering_connection(VpcPeeringConnectionId=PCX2)
p = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[PCX2])["VpcPeeringConnections"]
t.ok(p and p[0]["Status"]["Code"] == "rejected" and p[0]["AccepterVpcInfo"].get("Region") == "us-west-2",
     "RejectVpcPeeringConnection (in the accepter's region us-west-2): rejected", p)

# Tags, on vpcd's resources and on ec2d's instances in one request.
WEIRD = "a<b&c>\"d'\u00e9 \U0001F680 \t]]> end"
ec2.create_tags(Resources=[V, I], Tags=[{"Key": "team", "Value": "e2e"}, {"Key": "x<&>", "Value": WEIRD}])
t.is_(t.tags_of(ec2.describe_vpcs(VpcIds=[V])["Vpcs"][0]).get("x<&>"), WEIRD,
      "a tag with XML's special characters, a tab and non-ASCII comes back as it went")
tg = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["team"]}])["Tags"]
t.is_(sorted((x["ResourceId"], x["ResourceType"], x["Value"]) for x in tg), sorted([(V, "vpc", "e2e"), (I, "instance", "e2e")]),
      "CreateTags on a VPC and an instance: DescribeTags key=team lists both", )
t.is_([v["VpcId"] for v in ec2.describe_vpcs(Filters=[{"Name": "tag:team", "Values": ["e2e"]}])["Vpcs"]], [V],
      "DescribeVpcs tag:team=e2e finds the VPC")
ec2.delete_tags(Resources=[V, I], Tags=[{"Key": "team"}, {"Key": "x<&>"}])
t.is_(ec2.describe_tags(Filters=[{"Name": "key", "Values": ["team"]}])["Tags"], [], "DeleteTags: no team tag left")

# The instance's life.
FREE = ec2.create_network_interface(SubnetId=A)["NetworkInterface"]["NetworkInterfaceId"]
code, msg = err(ec2.attach_network_interface, NetworkInterfaceId=FREE, InstanceId=I, DeviceIndex=1)
t.ok(code == "InvalidParameterValue" and
     ec2.describe_network_interfaces(NetworkInterfaceIds=[FREE])["NetworkInterfaces"][0]["Status"] == "available",
     "AttachNetworkInterface of a second ENI: InvalidParameterValue (instances have one), the ENI stays available",
     "%s: %s" % (code, msg))
ready_lines = lambda: lab.console(I).count("vpclab-init: ready")  # noqa: E731
before = ready_lines()
ec2.reboot_instances(InstanceIds=[I])
st = ec2.describe_instance_status(InstanceIds=[I])["InstanceStatuses"]
now = ready_lines()
t.ok(not (st and st[0]["InstanceStatus"]["Status"] == "ok" and now == before),
     "right after RebootInstances, the status is not ok before this boot's ready line",
     "status %s, ready lines %d before and %d now" % (st and st[0]["InstanceStatus"]["Status"], before, now))
PORT = "%se%s" % (P, IENI[-8:])
left_in_root = lambda: t.retry(lambda: PORT not in t.link_names(), timeout=2)  # noqa: E731
t.ok(left_in_root(), "RebootInstances: the new link %s went into the VPC namespace (none left in the host's)" % PORT)
t.ok(t.retry(lambda: ready_lines() > before, timeout=20), "RebootInstances: the guest's init is ready again",
     "console: " + lab.console(I)[-800:])
t.ok(t.retry(lambda: lab.curl(CLIENT, "http://%s/" % IP), timeout=10), "... and its httpd (user-data) answers again")
x = ec2.stop_instances(InstanceIds=[I])["StoppingInstances"]
t.ok(x and x[0]["PreviousState"]["Name"] == "running" and lab.wait_state(I, "stopped", 30),
     "StopInstances: stopped", x)
rc, dom, _ = t.run(["virsh", "-c", "lxc:///system", "domstate", "%s-%s" % (P, I)])
t.ok(dom.strip() != "running", "the domain no longer runs (%s)" % (dom.strip() or "undefined"))
st = ec2.describe_instance_status(InstanceIds=[I], IncludeAllInstances=True)["InstanceStatuses"]
t.ok(st and st[0]["InstanceState"]["Name"] == "stopped" and st[0]["InstanceStatus"]["Status"] == "not-applicable",
     "DescribeInstanceStatus IncludeAllInstances: stopped, not-applicable", st)
before = ready_lines()
x = ec2.start_instances(InstanceIds=[I])["StartingInstances"]
st = ec2.describe_instance_status(InstanceIds=[I])["InstanceStatuses"]
now = ready_lines()
t.ok(not (st and st[0]["InstanceStatus"]["Status"] == "ok" and now == before),
     "right after StartInstances, the status is not ok before this boot's ready line",
     "status %s, ready lines %d before and %d now" % (st and st[0]["InstanceStatus"]["Status"], before, now))
t.ok(x and x[0]["PreviousState"]["Name"] == "stopped" and lab.wait_state(I, "running", 30),
     "StartInstances: running again", x)
t.ok(left_in_root(), "StartInstances: the new link %s went into the VPC namespace (none left in the host's)" % PORT)
t.ok(t.retry(lambda: ready_lines() > before, timeout=20), "... and the guest's init is ready again",
     "console: " + lab.console(I)[-800:])
t.ok(t.retry(lambda: lab.curl(CLIENT, "http://%s/" % IP), timeout=10), "... and the httpd answers at the same address")

x = ec2.terminate_instances(InstanceIds=[I])["TerminatingInstances"]
t.ok(x and x[0]["CurrentState"]["Name"] in ("shutting-down", "terminated") and lab.wait_state(I, "terminated", 30),
     "TerminateInstances: terminated", x)
doms = [d for _, d in t.domain_names() if d == "%s-%s" % (P, I)]
t.ok(not doms and gone(ec2.describe_network_interfaces, "InvalidNetworkInterfaceID.NotFound", NetworkInterfaceIds=[IENI]),
     "... its domain and its ENI %s are gone" % IENI, doms)

# A new instance at the address the terminated one had gets its DHCP lease.
res = ec2.run_instances(ImageId=lab.ami(), MinCount=1, MaxCount=1, SubnetId=A, PrivateIpAddress=IP)
J = res["Instances"][0]["InstanceId"]
leased = t.retry(lambda: ("vpclab-init: eth0 %s/24" % IP) in lab.console(J), timeout=10)
t.ok(leased, "a new instance at the terminated one's address %s gets a DHCP lease (within 10 s)" % IP, lab.console(J))
j = lab.instance(J) or {}
code, msg = err(ec2.detach_network_interface, AttachmentId=j["NetworkInterfaces"][0]["Attachment"]["AttachmentId"])
t.is_(code, "OperationNotPermitted", "DetachNetworkInterface of an instance's primary ENI is refused")
code, msg = err(ec2.detach_network_interface, AttachmentId="eni-attach-0123456789abcdef0")
t.is_(code, "InvalidAttachmentID.NotFound", "DetachNetworkInterface of an unknown attachment: InvalidAttachmentID.NotFound")
ec2.terminate_instances(InstanceIds=[J])
if code is None or code != "OperationNotPermitted":
    # The detached ENI outlives the instance (the bug above): remove it so that the VPC can go.
    try:
        ec2.delete_network_interface(NetworkInterfaceId=j["NetworkInterfaces"][0]["NetworkInterfaceId"])
    except ClientError:
        pass

# The VPC of the peering goes, with what is in it.
lab.vpcd("unplug-network-interface", "--network-interface-id", PE["NetworkInterfaceId"])
ec2.delete_network_interface(NetworkInterfaceId=PE["NetworkInterfaceId"])
ec2.delete_subnet(SubnetId=S2)
IGW2 = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
ec2.attach_internet_gateway(InternetGatewayId=IGW2, VpcId=V2)
ec2.detach_internet_gateway(InternetGatewayId=IGW2, VpcId=V2)
g = ec2.describe_internet_gateways(InternetGatewayIds=[IGW2])["InternetGateways"]
t.ok(g and g[0]["Attachments"] == [], "DetachInternetGateway: no attachment left", g)
ec2.delete_internet_gateway(InternetGatewayId=IGW2)
t.ok(gone(ec2.describe_internet_gateways, "InvalidInternetGatewayID.NotFound", InternetGatewayIds=[IGW2]),
     "DeleteInternetGateway: InvalidInternetGatewayID.NotFound afterwards")
ec2.delete_vpc(VpcId=V2)
t.ok(gone(ec2.describe_vpcs, "InvalidVpcID.NotFound", VpcIds=[V2]) and not os.path.exists("/run/netns/" + lab.vpc_ns(V2)),
     "DeleteVpc: InvalidVpcID.NotFound afterwards and its namespace is gone")
ec2.release_address(AllocationId=ALLOC["AllocationId"])
t.ok(gone(ec2.describe_addresses, "InvalidAllocationID.NotFound", AllocationIds=[ALLOC["AllocationId"]]),
     "ReleaseAddress: InvalidAllocationID.NotFound afterwards")

# A second lab, with a default VPC and its own copy of the image. RunInstances with no subnet
# lands in the default VPC, with a public address; then the image is "rebuilt" (images/build
# gives a new image a new AMI ID, as a new AMI would have): the instances must live on.
lab2 = t.Lab("198.19.216.0/21", default_vpc=True, private_images=("busybox",), need_aws=False)
c2 = lab2.client
c2.meta.events.register("before-call.ec2", lambda model, **kw: sent.add(model.name))
dv = c2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
ds = c2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
t.ok(len(dv) == 1 and dv[0]["CidrBlock"] == "172.31.0.0/16" and ds and all(
    x["VpcId"] == dv[0]["VpcId"] and x["MapPublicIpOnLaunch"] for x in ds),
     "a lab with a default VPC: 172.31.0.0/16, default subnets that map public addresses", dv, ds)
res = c2.run_instances(ImageId=lab2.ami(), MinCount=2, MaxCount=2)["Instances"]
K, L = [i["InstanceId"] for i in res]
t.ok(lab2.wait_ready(K) and lab2.wait_ready(L), "RunInstances without a subnet: two instances ready")
k = lab2.instance(K) or {}
t.ok(k.get("VpcId") == (dv[0]["VpcId"] if dv else None) and k.get("PublicIpAddress", "").startswith("198.19.216."),
     "... in the default VPC, with a public address of the lab's pool", k)
host2 = (lab2.lab_region() or {}).get("InternetHost", {}).get("PublicIp")
got = t.retry(lambda: lab2.exec(K, "timeout", "3", "wget", "-q", "-O", "-", "http://%s/" % host2)[1].strip(), timeout=10)
t.is_(got, k.get("PublicIpAddress"), "the instance reaches the internet host with its public address as source")
igws = c2.describe_internet_gateways(
    Filters=[{"Name": "attachment.vpc-id", "Values": [dv[0]["VpcId"] if dv else "-"]}])["InternetGateways"]
main = c2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [dv[0]["VpcId"] if dv else "-"]},
                                         {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
t.ok(len(igws) == 1 and main and {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igws[0]["InternetGatewayId"],
                                  "Origin": "CreateRoute", "State": "active"} in main[0]["Routes"],
     "the default VPC has an attached internet gateway and a 0.0.0.0/0 route to it in its main table", igws, main)
c2.stop_instances(InstanceIds=[K])
lab2.wait_state(K, "stopped", 30)
meta = os.path.join(lab2.images_dir, "busybox", "image.json")
with open(meta) as f:
    m = json.load(f)
m["Digest"] = "f" * 64
with open(meta + ".new", "w") as f:
    json.dump(m, f)
os.rename(meta + ".new", meta)
t.is_([i["ImageId"] for i in c2.describe_images()["Images"]], ["ami-" + "f" * 17],
      "the image is rebuilt: DescribeImages lists only its new AMI ID")
code, msg, _ = t.call_error(c2.start_instances, InstanceIds=[K])
t.ok(code is None and lab2.wait_state(K, "running", 30), "StartInstances of an instance launched from the old AMI",
     "%s: %s" % (code, msg))
code, msg, _ = t.call_error(c2.reboot_instances, InstanceIds=[L])
st = (lab2.instance(L) or {}).get("State", {}).get("Name")
t.ok(code is None and st == "running", "RebootInstances of a running instance launched from the old AMI",
     "%s: %s; state now %s" % (code, msg, st))

# Flow logs, path analysis, security group rules in place and DHCP options, in the default VPC.
VD = dv[0]["VpcId"] if dv else "-"
fl = c2.create_flow_logs(ResourceType="VPC", ResourceIds=[VD], TrafficType="ALL", LogDestinationType="s3",
                         LogDestination="arn:aws:s3:::boto3-flows")["FlowLogIds"]
t.is_([f["FlowLogId"] for f in c2.describe_flow_logs(FlowLogIds=fl)["FlowLogs"]], fl, "CreateFlowLogs, DescribeFlowLogs")
t.is_(c2.delete_flow_logs(FlowLogIds=fl)["Unsuccessful"], [], "DeleteFlowLogs")
eni_k = k.get("NetworkInterfaces", [{}])[0].get("NetworkInterfaceId", "-")
eni_l = ((lab2.instance(L) or {}).get("NetworkInterfaces") or [{}])[0].get("NetworkInterfaceId", "-")
nip = c2.create_network_insights_path(Source=eni_k, Destination=eni_l, Protocol="tcp",
                                      DestinationPort=22)["NetworkInsightsPath"]["NetworkInsightsPathId"]
nia = c2.start_network_insights_analysis(NetworkInsightsPathId=nip)["NetworkInsightsAnalysis"]["NetworkInsightsAnalysisId"]
an = c2.describe_network_insights_analyses(NetworkInsightsAnalysisIds=[nia])["NetworkInsightsAnalyses"]
t.ok(an and an[0]["Status"] == "succeeded" and an[0]["NetworkPathFound"] is True,
     "StartNetworkInsightsAnalysis: two instances of the default group reach each other", an)
c2.delete_network_insights_analysis(NetworkInsightsAnalysisId=nia)
t.is_([p["NetworkInsightsPathId"] for p in c2.describe_network_insights_paths(NetworkInsightsPathIds=[nip])["NetworkInsightsPaths"]],
      [nip], "DescribeNetworkInsightsPaths")
c2.delete_network_insights_path(NetworkInsightsPathId=nip)
g = c2.create_security_group(GroupName="b3-rules", Description="rules", VpcId=VD)["GroupId"]
rid = c2.authorize_security_group_ingress(GroupId=g, IpProtocol="tcp", FromPort=8080, ToPort=8080,
                                          CidrIp="10.0.0.0/8")["SecurityGroupRules"][0]["SecurityGroupRuleId"]
c2.modify_security_group_rules(GroupId=g, SecurityGroupRules=[{"SecurityGroupRuleId": rid, "SecurityGroupRule": {
    "IpProtocol": "tcp", "FromPort": 8081, "ToPort": 8081, "CidrIpv4": "10.0.0.0/8"}}])
c2.update_security_group_rule_descriptions_ingress(GroupId=g, SecurityGroupRuleDescriptions=[
    {"SecurityGroupRuleId": rid, "Description": "proxy"}])
rules = c2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [g]}])["SecurityGroupRules"]
out = [r for r in rules if r["IsEgress"]]
c2.update_security_group_rule_descriptions_egress(GroupId=g, SecurityGroupRuleDescriptions=[
    {"SecurityGroupRuleId": out[0]["SecurityGroupRuleId"], "Description": "out"}])
rules = {r["SecurityGroupRuleId"]: r for r in
         c2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [g]}])["SecurityGroupRules"]}
t.ok(rules[rid]["FromPort"] == 8081 and rules[rid].get("Description") == "proxy" and
     rules[out[0]["SecurityGroupRuleId"]].get("Description") == "out",
     "ModifySecurityGroupRules, UpdateSecurityGroupRuleDescriptionsIngress/Egress", rules)
c2.delete_security_group(GroupId=g)
do = c2.create_dhcp_options(DhcpConfigurations=[{"Key": "domain-name", "Values": ["boto3.example"]}])["DhcpOptions"]["DhcpOptionsId"]
c2.associate_dhcp_options(DhcpOptionsId=do, VpcId=VD)
t.is_(c2.describe_vpcs(VpcIds=[VD])["Vpcs"][0]["DhcpOptionsId"], do, "CreateDhcpOptions, AssociateDhcpOptions")
t.is_(len(c2.describe_dhcp_options(DhcpOptionsIds=[do])["DhcpOptions"]), 1, "DescribeDhcpOptions")
c2.associate_dhcp_options(DhcpOptionsId="default", VpcId=VD)
c2.delete_dhcp_options(DhcpOptionsId=do)
t.is_(t.call_error(c2.describe_dhcp_options, DhcpOptionsIds=[do])[0], "InvalidDhcpOptionID.NotFound", "DeleteDhcpOptions")

# The default VPC: it is there, so CreateDefaultVpc and a default subnet where one is are refused.
t.is_(t.call_error(c2.create_default_vpc)[0], "DefaultVpcAlreadyExists", "CreateDefaultVpc with one there: DefaultVpcAlreadyExists")
t.is_(t.call_error(c2.create_default_subnet, AvailabilityZone="us-east-1a")[0], "DefaultSubnetAlreadyExistsInAvailabilityZone",
      "CreateDefaultSubnet where one is: DefaultSubnetAlreadyExistsInAvailabilityZone")

# IPv6 (docs/ipv6.md)
v6 = c2.create_vpc(CidrBlock="10.67.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
b56 = v6["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
a2 = c2.associate_vpc_cidr_block(VpcId=v6["VpcId"], AmazonProvidedIpv6CidrBlock=True)["Ipv6CidrBlockAssociation"]
c2.disassociate_vpc_cidr_block(AssociationId=a2["AssociationId"])
s6 = c2.create_subnet(VpcId=v6["VpcId"], CidrBlock="10.67.1.0/24")["Subnet"]["SubnetId"]
sa = c2.associate_subnet_cidr_block(SubnetId=s6, Ipv6CidrBlock=str(next(ipaddress.ip_network(b56).subnets(new_prefix=64))))["Ipv6CidrBlockAssociation"]
e6 = c2.create_network_interface(SubnetId=s6, Ipv6AddressCount=1)["NetworkInterface"]
got = c2.assign_ipv6_addresses(NetworkInterfaceId=e6["NetworkInterfaceId"], Ipv6AddressCount=1)["AssignedIpv6Addresses"]
c2.unassign_ipv6_addresses(NetworkInterfaceId=e6["NetworkInterfaceId"], Ipv6Addresses=got)
t.is_(len(c2.describe_network_interfaces(NetworkInterfaceIds=[e6["NetworkInterfaceId"]])["NetworkInterfaces"][0]["Ipv6Addresses"]),
      1, "AssociateVpcCidrBlock, DisassociateVpcCidrBlock, AssociateSubnetCidrBlock, Assign/UnassignIpv6Addresses")
c2.unassign_ipv6_addresses(NetworkInterfaceId=e6["NetworkInterfaceId"], Ipv6Addresses=[a["Ipv6Address"] for a in e6["Ipv6Addresses"]])
c2.disassociate_subnet_cidr_block(AssociationId=sa["AssociationId"])
c2.delete_network_interface(NetworkInterfaceId=e6["NetworkInterfaceId"])
c2.delete_subnet(SubnetId=s6)
g6 = c2.create_egress_only_internet_gateway(VpcId=v6["VpcId"])["EgressOnlyInternetGateway"]["EgressOnlyInternetGatewayId"]
t.is_(len(c2.describe_egress_only_internet_gateways(EgressOnlyInternetGatewayIds=[g6])["EgressOnlyInternetGateways"]), 1,
      "CreateEgressOnlyInternetGateway, DescribeEgressOnlyInternetGateways")
c2.delete_egress_only_internet_gateway(EgressOnlyInternetGatewayId=g6)
c2.delete_vpc(VpcId=v6["VpcId"])
t.is_(t.call_error(c2.describe_vpcs, VpcIds=[v6["VpcId"]])[0], "InvalidVpcID.NotFound", "DisassociateSubnetCidrBlock; the dual-stack VPC deletes")

# Every action of actions.txt went out through boto3.
with open(os.path.join(lab.srcdir, "ec2d", "api", "actions.txt")) as f:
    actions = {l.split("#")[0].strip() for l in f} - {""}
t.is_(sorted(actions - sent), [], "boto3 sent every action of ec2d/api/actions.txt (%d)" % len(actions))
t.done()
