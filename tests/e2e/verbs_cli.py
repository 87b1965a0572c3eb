#!/usr/bin/env python3
"""Every action of ec2d/api/actions.txt through the real aws CLI (Debian's /usr/bin/aws) against
ec2d's endpoint, the way people type them: shorthand (--filters Name=..,Values=..,
--ip-permissions, --tag-specifications), JSON arguments, --user-data file://, boolean flags
(--map-public-ip-on-launch, --no-source-dest-check), --query, a waiter. Each has an effect
checked, in the CLI's own describe output, in the kernel or in packets. The last assertion
checks that every action of actions.txt was run.

The aws CLI costs most of a second a call: the checks are batched where the effect allows.
"""
import ipaddress
import json
import os
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402
from botocore import xform_name  # noqa: E402

lab = t.Lab("198.19.192.0/20")
P = lab.prefix
ran = set()


def aws(*args, **kw):
    ran.add(args[0])
    return lab.aws(*args, **kw)


def must(*args, **kw):
    """A call that has to work for the rest to make sense."""
    rc, out, err = aws(*args, **kw)
    if rc != 0:
        t.bail("aws ec2 %s: exit %d: %s" % (" ".join(map(str, args)), rc, err.strip()))
    return out if out is not None else {}


def must_batch(*calls):
    """Independent calls at once, each of which has to work; their outputs in order."""
    for c in calls:
        ran.add(c[0])
    res = lab.aws_batch(*calls)
    for c, (rc, out, err) in zip(calls, res):
        if rc != 0:
            t.bail("aws ec2 %s: exit %d: %s" % (" ".join(map(str, c)), rc, err.strip()))
    return [out if out is not None else {} for rc, out, err in res]


def gone(fn, code, **kw):
    """After a delete through the CLI: boto3's describe says NotFound (errors.py checks how the
    CLI shows these; here the CLI's time goes to the actions themselves)."""
    return t.call_error(fn, **kw)[0] == code


ec2 = lab.client




def tags_of(o):
    return t.tags_of(o)


def links(ns):
    return t.link_names(ns)


# ------------------------------------------------------------------- regions and zones
r, z = must_batch(("describe-regions", "--region-names", "us-east-1", "us-west-2"),
                  ("describe-availability-zones", "--query", "AvailabilityZones[].ZoneName"))
t.is_(sorted(x["RegionName"] for x in r.get("Regions", [])), ["us-east-1", "us-west-2"],
      "describe-regions --region-names us-east-1 us-west-2")
r = z
t.ok({"us-east-1a", "us-east-1b"} <= set(r or []), "describe-availability-zones --query: us-east-1a and us-east-1b", r)

# ------------------------------------------------------------------- VPC and subnets
V = must("create-vpc", "--cidr-block", "10.50.0.0/16", "--tag-specifications",
         "ResourceType=vpc,Tags=[{Key=Name,Value=cli-main}]")["Vpc"]["VpcId"]
d = must("describe-vpcs", "--filters", "Name=tag:Name,Values=cli-*")["Vpcs"]
t.ok([x["VpcId"] for x in d] == [V] and d[0]["CidrBlock"] == "10.50.0.0/16",
     "create-vpc --tag-specifications (shorthand): describe-vpcs --filters Name=tag:Name,Values=cli-* finds it", d)
NS = lab.vpc_ns(V)
t.ok(os.path.exists("/run/netns/" + NS), "create-vpc: the namespace %s exists" % NS)
A, B, C = [x["Subnet"]["SubnetId"] for x in must_batch(
    ("create-subnet", "--vpc-id", V, "--cidr-block", "10.50.1.0/24", "--availability-zone", "us-east-1a"),
    ("create-subnet", "--vpc-id", V, "--cidr-block", "10.50.2.0/24", "--availability-zone", "us-east-1b"),
    ("create-subnet", "--vpc-id", V, "--cidr-block", "10.50.3.0/24"))]
must_batch(("modify-subnet-attribute", "--subnet-id", A, "--map-public-ip-on-launch"), ("delete-subnet", "--subnet-id", C))
s = {x["SubnetId"]: x for x in must("describe-subnets", "--filters", "Name=vpc-id,Values=" + V)["Subnets"]}
t.ok(set(s) == {A, B} and s[A]["AvailabilityZone"] == "us-east-1a" and s[B]["CidrBlock"] == "10.50.2.0/24",
     "create-subnet x3, delete-subnet: describe-subnets shows the two left", s)
t.is_(s.get(A, {}).get("MapPublicIpOnLaunch"), True, "modify-subnet-attribute --map-public-ip-on-launch")
t.ok("%sb%s" % (P, A[-8:]) in links(NS) and "%sb%s" % (P, C[-8:]) not in links(NS),
     "the kernel: a bridge for subnet A, none left for the deleted one")
must("modify-subnet-attribute", "--subnet-id", A, "--no-map-public-ip-on-launch")

# ------------------------------------------------------------------ security groups
WEB, TMP = [x["GroupId"] for x in must_batch(
    ("create-security-group", "--group-name", "web", "--description", "http only", "--vpc-id", V),
    ("create-security-group", "--group-name", "tmp", "--description", "to delete", "--vpc-id", V))]
must_batch(("authorize-security-group-ingress", "--group-id", WEB, "--ip-permissions",
            "IpProtocol=tcp,FromPort=80,ToPort=80,IpRanges=[{CidrIp=10.50.0.0/16,Description=vpc}]"),
           ("authorize-security-group-egress", "--group-id", WEB, "--ip-permissions",
            json.dumps([{"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.50.0.2/32"}]}])))
rs = must("describe-security-group-rules", "--filters", "Name=group-id,Values=" + WEB)["SecurityGroupRules"]
ing = [x for x in rs if not x["IsEgress"]]
eg = [x for x in rs if x["IsEgress"] and x["IpProtocol"] == "udp"]
t.ok(len(ing) == 1 and ing[0]["FromPort"] == 80 and ing[0]["CidrIpv4"] == "10.50.0.0/16" and
     ing[0].get("Description") == "vpc", "authorize-security-group-ingress (shorthand): the rule, with its description", ing)
t.ok(len(eg) == 1 and eg[0]["FromPort"] == 53, "authorize-security-group-egress (JSON): the rule", rs)
must_batch(("revoke-security-group-egress", "--group-id", WEB, "--security-group-rule-ids",
            eg[0]["SecurityGroupRuleId"] if eg else "sgr-0"), ("delete-security-group", "--group-id", TMP))
g = must("describe-security-groups", "--filters", "Name=vpc-id,Values=" + V)["SecurityGroups"]
web = [x for x in g if x["GroupId"] == WEB]
t.ok(sorted(x["GroupName"] for x in g) == ["default", "web"] and web and
     [p["IpProtocol"] for p in web[0]["IpPermissionsEgress"]] == ["-1"],
     "revoke-security-group-egress --security-group-rule-ids, delete-security-group: default and web left, web's egress back to all", g)

# ----------------------------------------------------------- ENIs and route tables
E1, E2, RTB, RTB2 = must_batch(
    ("create-network-interface", "--subnet-id", A, "--private-ip-address", "10.50.1.10", "--description", "appliance",
     "--groups", WEB),
    ("create-network-interface", "--subnet-id", A, "--private-ip-address", "10.50.1.11"),
    ("create-route-table", "--vpc-id", V), ("create-route-table", "--vpc-id", V))
E1, E2 = E1["NetworkInterface"]["NetworkInterfaceId"], E2["NetworkInterface"]["NetworkInterfaceId"]
RTB, RTB2 = RTB["RouteTable"]["RouteTableId"], RTB2["RouteTable"]["RouteTableId"]
must("modify-network-interface-attribute", "--network-interface-id", E1, "--no-source-dest-check")
e = {x["NetworkInterfaceId"]: x for x in must("describe-network-interfaces", "--network-interface-ids", E1, E2)[
    "NetworkInterfaces"]}
t.ok(e.get(E1, {}).get("PrivateIpAddress") == "10.50.1.10" and e[E1]["SourceDestCheck"] is False and
     e[E1]["Description"] == "appliance" and e.get(E2, {}).get("Status") == "available",
     "create-network-interface x2, modify-network-interface-attribute --no-source-dest-check", e)
E2IP = e.get(E2, {}).get("PrivateIpAddress", "?")
ASSOC = must("associate-route-table", "--route-table-id", RTB, "--subnet-id", A)["AssociationId"]
must("create-route", "--route-table-id", RTB, "--destination-cidr-block", "192.168.60.0/24", "--network-interface-id", E1)
rt = must("describe-route-tables", "--filters", "Name=association.subnet-id,Values=" + A)["RouteTables"]
t.ok([x["RouteTableId"] for x in rt] == [RTB] and any(
    r.get("DestinationCidrBlock") == "192.168.60.0/24" and r.get("NetworkInterfaceId") == E1 for r in rt[0]["Routes"]),
    "create-route-table, associate-route-table, create-route: describe-route-tables shows them", rt)
t.like(t.run(["ip", "-n", NS, "route", "show", "table", "all"])[1], r"192\.168\.60\.0/24 via 10\.50\.1\.10 ",
       "the kernel routes 192.168.60.0/24 via 10.50.1.10")
must("replace-route", "--route-table-id", RTB, "--destination-cidr-block", "192.168.60.0/24", "--network-interface-id", E2)
t.like(t.run(["ip", "-n", NS, "route", "show", "table", "all"])[1], r"192\.168\.60\.0/24 via %s " % E2IP.replace(".", r"\."),
       "replace-route: the kernel route follows to %s" % E2IP)
must("delete-route", "--route-table-id", RTB, "--destination-cidr-block", "192.168.60.0/24")
t.ok("192.168.60.0/24" not in t.run(["ip", "-n", NS, "route", "show", "table", "all"])[1],
     "delete-route: the kernel route is gone")
NEW = must("replace-route-table-association", "--association-id", ASSOC, "--route-table-id", RTB2)["NewAssociationId"]
rt = must("describe-route-tables", "--route-table-ids", RTB2)["RouteTables"]
t.ok(rt and [a.get("SubnetId") for a in rt[0]["Associations"]] == [A], "replace-route-table-association: A is on the second table", rt)
must("disassociate-route-table", "--association-id", NEW)
must_batch(("delete-route-table", "--route-table-id", RTB2), ("delete-network-interface", "--network-interface-id", E2))
rt = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [A]}])["RouteTables"]
t.ok(rt == [] and gone(ec2.describe_route_tables, "InvalidRouteTableID.NotFound", RouteTableIds=[RTB2]),
     "disassociate-route-table, delete-route-table: A has no table of its own, the table is gone", rt)
t.ok(gone(ec2.describe_network_interfaces, "InvalidNetworkInterfaceID.NotFound", NetworkInterfaceIds=[E2]) and
     "%se%s" % (P, E2[-8:]) not in links(NS), "delete-network-interface: NotFound, its port is gone")
ASSOC = must("associate-route-table", "--route-table-id", RTB, "--subnet-id", A)["AssociationId"]

# ------------------------------------------------------------------- network ACLs
ACL = must("create-network-acl", "--vpc-id", V)["NetworkAcl"]["NetworkAclId"]
must_batch(("create-network-acl-entry", "--network-acl-id", ACL, "--rule-number", "100", "--protocol", "tcp",
            "--port-range", "From=80,To=80", "--cidr-block", "0.0.0.0/0", "--rule-action", "allow", "--ingress"),
           ("create-network-acl-entry", "--network-acl-id", ACL, "--rule-number", "110", "--protocol", "-1",
            "--cidr-block", "0.0.0.0/0", "--rule-action", "allow", "--egress"))
must_batch(("replace-network-acl-entry", "--network-acl-id", ACL, "--rule-number", "100", "--protocol", "tcp",
            "--port-range", "From=8080,To=8080", "--cidr-block", "10.0.0.0/8", "--rule-action", "deny", "--ingress"),
           ("delete-network-acl-entry", "--network-acl-id", ACL, "--rule-number", "110", "--egress"))
acl = must("describe-network-acls", "--network-acl-ids", ACL)["NetworkAcls"]
ent = sorted((x["RuleNumber"], x["Egress"], x["RuleAction"], x.get("CidrBlock"), json.dumps(x.get("PortRange")))
             for x in (acl[0]["Entries"] if acl else []))
t.is_(ent, [(100, False, "deny", "10.0.0.0/8", json.dumps({"From": 8080, "To": 8080})),
            (32767, False, "deny", "0.0.0.0/0", "null"), (32767, True, "deny", "0.0.0.0/0", "null")],
      "create-network-acl(-entry) x2, replace-network-acl-entry, delete-network-acl-entry: the entries left")
dacl = must("describe-network-acls", "--filters", "Name=association.subnet-id,Values=" + B)["NetworkAcls"]
BASSOC = next(a["NetworkAclAssociationId"] for a in dacl[0]["Associations"] if a["SubnetId"] == B)
NEWA = must("replace-network-acl-association", "--association-id", BASSOC, "--network-acl-id", ACL)["NewAssociationId"]
x = must("describe-network-acls", "--filters", "Name=association.subnet-id,Values=" + B,
         "--query", "NetworkAcls[].NetworkAclId")
t.is_(x, [ACL], "replace-network-acl-association: subnet B is on the new ACL")
must("replace-network-acl-association", "--association-id", NEWA, "--network-acl-id", dacl[0]["NetworkAclId"])
must("delete-network-acl", "--network-acl-id", ACL)
t.ok(gone(ec2.describe_network_acls, "InvalidNetworkAclID.NotFound", NetworkAclIds=[ACL]),
     "delete-network-acl (after moving B back): InvalidNetworkAclID.NotFound")

# ------------------------------------------------------------ internet gateway, EIP
IGW = must("create-internet-gateway", "--tag-specifications",
           "ResourceType=internet-gateway,Tags=[{Key=Name,Value=cli-igw}]")["InternetGateway"]["InternetGatewayId"]
must("attach-internet-gateway", "--internet-gateway-id", IGW, "--vpc-id", V)
AL, _ = must_batch(("allocate-address", "--domain", "vpc"),
                   ("create-route", "--route-table-id", RTB, "--destination-cidr-block", "0.0.0.0/0", "--gateway-id", IGW))
g = must("describe-internet-gateways", "--filters", "Name=attachment.vpc-id,Values=" + V)["InternetGateways"]
t.ok([x["InternetGatewayId"] for x in g] == [IGW] and tags_of(g[0]) == {"Name": "cli-igw"},
     "create-internet-gateway, attach-internet-gateway: the attachment.vpc-id filter finds it", g)
t.ok(any(n.startswith(P + "g") for n in links(NS)), "attach-internet-gateway: a gateway link in the VPC namespace")
t.ok(AL.get("PublicIp", "").startswith("198.19.192."), "allocate-address: an address of the lab's pool", AL)

# ------------------------------------------------------------------------- instances
img, it, CL = must_batch(("describe-images", "--owners", "self", "--filters", "Name=name,Values=busybox"),
                         ("describe-instance-types", "--instance-types", "t3.micro", "t3.nano",
                          "--query", "InstanceTypes[].[InstanceType,MemoryInfo.SizeInMiB]"),
                         ("create-network-interface", "--subnet-id", B))
img, CL = img["Images"], CL["NetworkInterface"]
t.ok(len(img) <= 1 and all(i["ImageLocation"] == os.path.join(lab.images_dir, "busybox") for i in img),
     "describe-images --owners self --filters Name=name,Values=busybox", img)
t.is_(sorted(map(tuple, it or [])), [("t3.micro", 1024), ("t3.nano", 512)], "describe-instance-types: memory of t3.micro and t3.nano")
kp_dir = tempfile.mkdtemp(dir=lab.dir)
subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(kp_dir, "k")], check=True)
KP, KI = must_batch(("create-key-pair", "--key-name", "cli-kp", "--key-type", "ed25519"),
                    ("import-key-pair", "--key-name", "cli-imp", "--public-key-material",
                     "fileb://" + os.path.join(kp_dir, "k.pub")))
kd = must("describe-key-pairs", "--key-names", "cli-kp", "cli-imp", "--include-public-key")["KeyPairs"]
t.ok(KP["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----") and
     sorted(k["KeyPairId"] for k in kd) == sorted([KP["KeyPairId"], KI["KeyPairId"]]) and
     open(os.path.join(kp_dir, "k.pub")).read().split()[1] in [k["PublicKey"].split()[1] for k in kd],
     "create-key-pair, import-key-pair fileb://, describe-key-pairs --include-public-key", kd)
must("delete-key-pair", "--key-name", "cli-imp")
CLIENT = lab.plug(CL["NetworkInterfaceId"], "c")
if not img:
    t.skip("instance actions", "image busybox is not built (images/build busybox)")
    t.done()
ud = tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False, dir=lab.dir)
ud.write("#!/bin/sh\nmkdir -p /www\necho \"cli page of $(cut -d/ -f1 /run/vpclab/eth0.lease)\" > /www/index.html\n"
         "httpd -h /www -p 80\n")
ud.close()
res = must("run-instances", "--image-id", img[0]["ImageId"], "--instance-type", "t3.micro", "--count", "1",
           "--subnet-id", A, "--security-group-ids", WEB, "--user-data", "file://" + ud.name,
           "--tag-specifications", "ResourceType=instance,Tags=[{Key=Name,Value=cli-web}]")
I = res["Instances"][0]["InstanceId"]
IP = res["Instances"][0].get("PrivateIpAddress", "")
rc, _, err = aws("wait", "instance-running", "--instance-ids", I, timeout=60)
t.ok(rc == 0, "run-instances (--user-data file://, --tag-specifications), then `aws ec2 wait instance-running`", err)
inst = must("describe-instances", "--filters", "Name=tag:Name,Values=cli-web", "Name=instance-state-name,Values=running")
inst = [i for r in inst["Reservations"] for i in r["Instances"]]
t.ok([i["InstanceId"] for i in inst] == [I] and inst[0]["SubnetId"] == A and inst[0]["PrivateIpAddress"] == IP,
     "describe-instances --filters tag:Name, instance-state-name=running: the instance, in subnet A", inst)


def status():
    """(Polls go through boto3: the CLI is the slow part of this test.)"""
    s = lab.client.describe_instance_status(InstanceIds=[I], IncludeAllInstances=True)["InstanceStatuses"]
    return s[0] if s else {}


lab.wait_ready(I)
st = must("describe-instance-status", "--instance-ids", I)["InstanceStatuses"]
t.ok(st and st[0]["InstanceState"]["Name"] == "running" and st[0]["InstanceStatus"]["Status"] == "ok",
     "describe-instance-status: running and ok", st)

# ------------------------------------------------------------ attributes and the account
# (account.py checks what the DNS attributes do to the VPC's resolver; here, the CLI's forms.)
must("modify-vpc-attribute", "--vpc-id", V, "--enable-dns-hostnames", "Value=true")
hn, sup, cl, cld, acct, ity = must_batch(
    ("describe-vpc-attribute", "--vpc-id", V, "--attribute", "enableDnsHostnames"),
    ("describe-vpc-attribute", "--vpc-id", V, "--attribute", "enableDnsSupport"),
    ("describe-vpc-classic-link", "--vpc-ids", V),
    ("describe-vpc-classic-link-dns-support", "--vpc-ids", V),
    ("describe-account-attributes", "--attribute-names", "supported-platforms", "default-vpc"),
    ("describe-instance-attribute", "--instance-id", I, "--attribute", "instanceType"))
t.ok(hn.get("EnableDnsHostnames") == {"Value": True} and sup.get("EnableDnsSupport") == {"Value": True},
     "modify-vpc-attribute --enable-dns-hostnames Value=true; describe-vpc-attribute shows both on", hn, sup)
t.ok([(x["VpcId"], x["ClassicLinkEnabled"]) for x in cl.get("Vpcs", [])] == [(V, False)] and
     [(x["VpcId"], x["ClassicLinkDnsSupported"]) for x in cld.get("Vpcs", [])] == [(V, False)],
     "describe-vpc-classic-link(-dns-support): the VPC, without ClassicLink", cl, cld)
aa = {a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]] for a in acct.get("AccountAttributes", [])}
t.is_(aa, {"supported-platforms": ["VPC"], "default-vpc": ["none"]},
      "describe-account-attributes --attribute-names: VPC only, no default VPC")
t.is_(ity, {"InstanceId": I, "InstanceType": {"Value": "t3.micro"}}, "describe-instance-attribute --attribute instanceType")
must("modify-instance-attribute", "--instance-id", I, "--no-source-dest-check")
sdc = must("describe-instance-attribute", "--instance-id", I, "--attribute", "sourceDestCheck")
rc, _, err = aws("modify-instance-attribute", "--instance-id", I, "--instance-type", "Value=t3.small")
must("modify-instance-attribute", "--instance-id", I, "--source-dest-check")
t.ok(sdc.get("SourceDestCheck") == {"Value": False} and rc == 254 and "(IncorrectInstanceState)" in err,
     "modify-instance-attribute --no-source-dest-check; --instance-type of a running instance: IncorrectInstanceState", sdc, err)
AZ = must("describe-instances", "--instance-ids", I)["Reservations"][0]["Instances"][0]["Placement"]["AvailabilityZone"]
VOL = must("create-volume", "--availability-zone", AZ, "--size", "4")["VolumeId"]
must("attach-volume", "--volume-id", VOL, "--instance-id", I, "--device", "/dev/sdf")
rc, mounts, _ = lab.exec(I, "cat", "/proc/mounts")
dv = must("describe-volumes", "--volume-ids", VOL)["Volumes"]
must("detach-volume", "--volume-id", VOL)
must("delete-volume", "--volume-id", VOL)
t.ok([(x["State"], x["Attachments"][0]["InstanceId"]) for x in dv] == [("in-use", I)] and " /mnt/sdf " in mounts and
     gone(ec2.describe_volumes, "InvalidVolume.NotFound", VolumeIds=[VOL]),
     "create-volume, attach-volume (mounted at /mnt/sdf in the instance), describe-volumes in-use, detach-volume, delete-volume", dv)
out = must("get-console-output", "--instance-id", I).get("Output", "")
t.ok("vpclab-init: ready" in out and "vpclab-init: user-data exited 0" in out,
     "get-console-output: the CLI decodes it; vpclab-init ran the user-data and is ready", out)
page = t.retry(lambda: lab.curl(CLIENT, "http://%s/" % IP), timeout=10)
t.is_((page or "").strip(), "cli page of " + IP, "the client ENI (subnet B) fetches the instance's page on tcp/80")
rid = [x["SecurityGroupRuleId"] for x in must("describe-security-group-rules", "--filters", "Name=group-id,Values=" + WEB)[
    "SecurityGroupRules"] if not x["IsEgress"]]
must("revoke-security-group-ingress", "--group-id", WEB, "--protocol", "tcp", "--port", "80", "--cidr", "10.50.0.0/16")
t.ok(rid and lab.curl(CLIENT, "http://%s/" % IP, timeout=1) is None,
     "revoke-security-group-ingress --protocol tcp --port 80 --cidr: tcp/80 no longer connects")
must("authorize-security-group-ingress", "--group-id", WEB, "--protocol", "tcp", "--port", "80", "--cidr", "0.0.0.0/0")
t.ok(t.retry(lambda: lab.curl(CLIENT, "http://%s/" % IP), timeout=5),
     "authorize-security-group-ingress --protocol tcp --port 80 --cidr 0.0.0.0/0: it connects again")

ENI = inst[0]["NetworkInterfaces"][0]["NetworkInterfaceId"]
AID = must("associate-address", "--allocation-id", AL["AllocationId"], "--network-interface-id", ENI)["AssociationId"]
a = must("describe-addresses", "--public-ips", AL["PublicIp"])["Addresses"]
t.ok(a and a[0].get("AssociationId") == AID and a[0].get("PrivateIpAddress") == IP,
     "associate-address --network-interface-id: describe-addresses --public-ips shows the association", a)
region = lab.lab_region() or {}
HOST = region.get("InternetHost", {}).get("PublicIp")
got = t.retry(lambda: lab.curl(region.get("Namespace", "none"), "http://%s/" % AL["PublicIp"], interface=HOST), timeout=10)
t.is_((got or "").strip(), "cli page of " + IP,
      "from the internet host %s, http://%s/ is the instance's page" % (HOST, AL["PublicIp"]))
must("disassociate-address", "--association-id", AID)
t.ok(lab.curl(region.get("Namespace", "none"), "http://%s/" % AL["PublicIp"], interface=HOST, timeout=1) is None,
     "disassociate-address: the EIP no longer answers")

ALN = must("allocate-address", "--domain", "vpc")
NAT = must("create-nat-gateway", "--subnet-id", A, "--allocation-id", ALN["AllocationId"])["NatGateway"]["NatGatewayId"]
n = must("describe-nat-gateways", "--nat-gateway-ids", NAT)["NatGateways"]
t.ok(n and n[0]["State"] == "available" and n[0]["SubnetId"] == A, "create-nat-gateway: available in subnet A", n)
must("delete-nat-gateway", "--nat-gateway-id", NAT)
n = must("describe-nat-gateways", "--filter", "Name=state,Values=deleted", "--query", "NatGateways[].NatGatewayId")
t.is_(n, [NAT], "delete-nat-gateway: describe-nat-gateways --filter Name=state,Values=deleted finds it")
must("release-address", "--allocation-id", ALN["AllocationId"])
t.ok(gone(ec2.describe_addresses, "InvalidAllocationID.NotFound", AllocationIds=[ALN["AllocationId"]]),
     "release-address: InvalidAllocationID.NotFound afterwards")

# ------------------------------------------------------------------------- peering
V2, W = must_batch(("create-vpc", "--cidr-block", "10.60.0.0/16"),
                  ("create-vpc", "--cidr-block", "10.70.0.0/16", "--region", "us-west-2"))
V2, W = V2["Vpc"]["VpcId"], W["Vpc"]["VpcId"]
PCX = must("create-vpc-peering-connection", "--vpc-id", V, "--peer-vpc-id", V2)["VpcPeeringConnection"][
    "VpcPeeringConnectionId"]
x = must("accept-vpc-peering-connection", "--vpc-peering-connection-id", PCX)
t.is_(x.get("VpcPeeringConnection", {}).get("Status", {}).get("Code"), "active",
      "create-vpc-peering-connection, accept-vpc-peering-connection: active")
must("create-route", "--route-table-id", RTB, "--destination-cidr-block", "10.60.0.0/16", "--vpc-peering-connection-id", PCX)
t.like(t.run(["ip", "-n", NS, "route", "show", "table", "all"])[1], r"10\.60\.0\.0/16 .*dev %s" % P,
       "create-route --vpc-peering-connection-id: the kernel routes 10.60.0.0/16 down a link of the lab")
_, PCX2 = must_batch(("delete-vpc-peering-connection", "--vpc-peering-connection-id", PCX),
                    ("create-vpc-peering-connection", "--vpc-id", V, "--peer-vpc-id", W, "--peer-region", "us-west-2"))
PCX2 = PCX2["VpcPeeringConnection"]["VpcPeeringConnectionId"]
x = must("reject-vpc-peering-connection", "--vpc-peering-connection-id", PCX2, region="us-west-2")
p = {c["VpcPeeringConnectionId"]: c["Status"]["Code"] for c in must("describe-vpc-peering-connections")[
    "VpcPeeringConnections"]}
t.ok(x.get("Return") is True and p.get(PCX) == "deleted" and p.get(PCX2) == "rejected",
     "delete-vpc-peering-connection: deleted; reject-vpc-peering-connection --region us-west-2: rejected", p)
rt = must("describe-route-tables", "--route-table-ids", RTB)["RouteTables"][0]["Routes"]
t.ok(any(r.get("VpcPeeringConnectionId") == PCX and r.get("State") == "blackhole" for r in rt),
     "the route to the deleted peering is a blackhole", rt)
must("delete-route", "--route-table-id", RTB, "--destination-cidr-block", "10.60.0.0/16")

# ------------------------------------------------------------------------------ tags
must("create-tags", "--resources", V, I, IGW, "--tags", "Key=team,Value=cli", "Key=env,Value=test")
tg = must("describe-tags", "--filters", "Name=key,Values=team")["Tags"]
t.is_(sorted((x["ResourceId"], x["ResourceType"]) for x in tg),
      sorted([(V, "vpc"), (I, "instance"), (IGW, "internet-gateway")]),
      "create-tags on a VPC, an instance and a gateway: describe-tags key=team lists the three")
must("delete-tags", "--resources", V, I, IGW, "--tags", "Key=team")
tg = must("describe-tags", "--filters", "Name=resource-id,Values=" + I)["Tags"]
t.is_(sorted(x["Key"] for x in tg), ["Name", "env"], "delete-tags Key=team: the instance keeps Name and env")

# ------------------------------------------------------------------- instance life
FREE = must("create-network-interface", "--subnet-id", A)["NetworkInterface"]["NetworkInterfaceId"]
ran.update(("attach-network-interface", "detach-network-interface"))
(rc1, _, e1), (rc2, _, e2) = lab.aws_batch(
    ("attach-network-interface", "--network-interface-id", FREE, "--instance-id", I, "--device-index", "1"),
    ("detach-network-interface", "--attachment-id", "eni-attach-0123456789abcdef0"))
t.ok(rc1 == 254 and "(InvalidParameterValue)" in e1,
     "attach-network-interface of a second ENI: InvalidParameterValue (instances have one)", e1)
t.ok(rc2 == 254 and "(InvalidAttachmentID.NotFound)" in e2,
     "detach-network-interface of an unknown attachment: InvalidAttachmentID.NotFound", e2)
ready = lambda: lab.console(I).count("vpclab-init: ready")  # noqa: E731
n0 = ready()
must("reboot-instances", "--instance-ids", I)
t.ok(t.retry(lambda: ready() > n0, timeout=20) and t.retry(lambda: lab.curl(CLIENT, "http://%s/" % IP), timeout=10),
     "reboot-instances: the init runs again and the page is back")
x = must("stop-instances", "--instance-ids", I)["StoppingInstances"]
st = t.retry(lambda: status().get("InstanceState", {}).get("Name") == "stopped" and status(), timeout=30)
t.ok(x and x[0]["PreviousState"]["Name"] == "running" and st and st["InstanceStatus"]["Status"] == "not-applicable" and
     lab.curl(CLIENT, "http://%s/" % IP, timeout=1) is None, "stop-instances: stopped, and the page is gone", x, st)
n0 = ready()
x = must("start-instances", "--instance-ids", I)["StartingInstances"]
t.ok(x and x[0]["PreviousState"]["Name"] == "stopped", "start-instances: it was stopped", x)
t.ok(t.retry(lambda: ready() > n0, timeout=20) and t.retry(lambda: lab.curl(CLIENT, "http://%s/" % IP), timeout=10),
     "start-instances: the init runs again and the page is back")
x = must("terminate-instances", "--instance-ids", I)["TerminatingInstances"]
rc, _, err = aws("wait", "instance-terminated", "--instance-ids", I, timeout=60)
t.ok(x and rc == 0, "terminate-instances, then `aws ec2 wait instance-terminated`", err)
t.ok(gone(ec2.describe_network_interfaces, "InvalidNetworkInterfaceID.NotFound", NetworkInterfaceIds=[ENI]) and
     not [d for _, d in t.domain_names() if d == "%s-%s" % (P, I)], "... the instance's ENI and its libvirt domain are gone")

# -------------------------------------------------- flow logs, path analysis (seeing inside)
fl = must("create-flow-logs", "--resource-type", "VPC", "--resource-ids", V, "--traffic-type", "REJECT",
          "--log-destination-type", "s3", "--log-destination", "arn:aws:s3:::cli-flows")["FlowLogIds"]
d = must("describe-flow-logs", "--filter", "Name=resource-id,Values=" + V)["FlowLogs"]
t.ok(len(fl) == 1 and [f["FlowLogId"] for f in d] == fl and d[0]["TrafficType"] == "REJECT",
     "create-flow-logs, describe-flow-logs --filter resource-id", d)
x = must("delete-flow-logs", "--flow-log-ids", fl[0])
t.ok(not x.get("Unsuccessful") and not must("describe-flow-logs", "--flow-log-ids", fl[0], "--query", "FlowLogs"),
     "delete-flow-logs: it is gone", x)
nip = must("create-network-insights-path", "--source", FREE, "--destination", IGW, "--protocol", "tcp",
           "--destination-port", "22")["NetworkInsightsPath"]["NetworkInsightsPathId"]
nia = must("start-network-insights-analysis", "--network-insights-path-id", nip)["NetworkInsightsAnalysis"]
an = must("describe-network-insights-analyses", "--network-insights-analysis-ids", nia["NetworkInsightsAnalysisId"])
an = an["NetworkInsightsAnalyses"][0]
t.ok(an["Status"] == "succeeded" and (an["NetworkPathFound"] or an.get("Explanations")) and
     an.get("ForwardPathComponents"),
     "start-network-insights-analysis, describe-network-insights-analyses: a verdict, hop by hop", an)
must("delete-network-insights-analysis", "--network-insights-analysis-id", nia["NetworkInsightsAnalysisId"])
ps = must("describe-network-insights-paths", "--network-insights-path-ids", nip)["NetworkInsightsPaths"]
t.ok(ps and ps[0]["Source"] == FREE and ps[0]["DestinationPort"] == 22, "describe-network-insights-paths", ps)
must("delete-network-insights-path", "--network-insights-path-id", nip)
t.ok(gone(ec2.describe_network_insights_paths, "InvalidNetworkInsightsPathId.NotFound", NetworkInsightsPathIds=[nip]),
     "delete-network-insights-analysis, delete-network-insights-path: NotFound")

# ------------------------------------------- security group rules in place, DHCP options
G = must("create-security-group", "--group-name", "cli-rules", "--description", "rules", "--vpc-id", V)["GroupId"]
rid = must("authorize-security-group-ingress", "--group-id", G, "--protocol", "tcp", "--port", "8080",
           "--cidr", "10.0.0.0/8")["SecurityGroupRules"][0]["SecurityGroupRuleId"]
must("modify-security-group-rules", "--group-id", G, "--security-group-rules",
     "SecurityGroupRuleId=%s,SecurityGroupRule={IpProtocol=tcp,FromPort=8081,ToPort=8081,CidrIpv4=10.0.0.0/8}" % rid)
must("update-security-group-rule-descriptions-ingress", "--group-id", G, "--security-group-rule-descriptions",
     "SecurityGroupRuleId=%s,Description=proxy" % rid)
eg = must("describe-security-group-rules", "--filters", "Name=group-id,Values=" + G)["SecurityGroupRules"]
egress = [r for r in eg if r["IsEgress"]]
must("update-security-group-rule-descriptions-egress", "--group-id", G, "--security-group-rule-descriptions",
     "SecurityGroupRuleId=%s,Description=out" % egress[0]["SecurityGroupRuleId"])
rules = {r["SecurityGroupRuleId"]: r for r in must("describe-security-group-rules", "--filters",
                                                      "Name=group-id,Values=" + G)["SecurityGroupRules"]}
t.ok(rules[rid]["FromPort"] == 8081 and rules[rid].get("Description") == "proxy" and
     rules[egress[0]["SecurityGroupRuleId"]].get("Description") == "out",
     "modify-security-group-rules keeps the rule ID; update-security-group-rule-descriptions-ingress/egress", rules)
must("delete-security-group", "--group-id", G)
DO = must("create-dhcp-options", "--dhcp-configurations", "Key=domain-name,Values=cli.example",
          "Key=domain-name-servers,Values=AmazonProvidedDNS")["DhcpOptions"]["DhcpOptionsId"]
must("associate-dhcp-options", "--dhcp-options-id", DO, "--vpc-id", V)
t.is_(must("describe-vpcs", "--vpc-ids", V, "--query", "Vpcs[0].DhcpOptionsId"), DO,
      "create-dhcp-options, associate-dhcp-options: the VPC's DhcpOptionsId")
t.ok(must("describe-dhcp-options", "--dhcp-options-ids", DO, "--query", "DhcpOptions[0].DhcpConfigurations[?Key=='domain-name'].Values[0].Value") == ["cli.example"],
     "describe-dhcp-options")
must("associate-dhcp-options", "--dhcp-options-id", "default", "--vpc-id", V)
must("delete-dhcp-options", "--dhcp-options-id", DO)
t.ok(gone(ec2.describe_dhcp_options, "InvalidDhcpOptionID.NotFound", DhcpOptionsIds=[DO]),
     "associate-dhcp-options default, delete-dhcp-options: NotFound")

# ------------------------------------------------------------------------ IPv6 (docs/ipv6.md)
V6 = must("create-vpc", "--cidr-block", "10.66.0.0/16", "--amazon-provided-ipv6-cidr-block")["Vpc"]
B56 = V6["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
t.ok(B56.startswith("fd") and B56.endswith("/56"), "create-vpc --amazon-provided-ipv6-cidr-block: a ULA /56", B56)
A2 = must("associate-vpc-cidr-block", "--vpc-id", V6["VpcId"], "--amazon-provided-ipv6-cidr-block")["Ipv6CidrBlockAssociation"]
must("disassociate-vpc-cidr-block", "--association-id", A2["AssociationId"])
t.is_(len(must("describe-vpcs", "--vpc-ids", V6["VpcId"])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"]), 1,
      "associate-vpc-cidr-block, disassociate-vpc-cidr-block")
N64 = str(next(ipaddress.ip_network(B56).subnets(new_prefix=64)))
S6 = must("create-subnet", "--vpc-id", V6["VpcId"], "--cidr-block", "10.66.1.0/24")["Subnet"]["SubnetId"]
SA = must("associate-subnet-cidr-block", "--subnet-id", S6, "--ipv6-cidr-block", N64)["Ipv6CidrBlockAssociation"]
E6 = must("create-network-interface", "--subnet-id", S6, "--ipv6-address-count", "1")["NetworkInterface"]
got = must("assign-ipv6-addresses", "--network-interface-id", E6["NetworkInterfaceId"], "--ipv6-address-count", "1")
must("unassign-ipv6-addresses", "--network-interface-id", E6["NetworkInterfaceId"], "--ipv6-addresses",
     *got["AssignedIpv6Addresses"], *[a["Ipv6Address"] for a in E6["Ipv6Addresses"]])
t.is_(must("describe-network-interfaces", "--network-interface-ids", E6["NetworkInterfaceId"],
           "--query", "NetworkInterfaces[0].Ipv6Addresses"), [],
      "associate-subnet-cidr-block, assign-ipv6-addresses, unassign-ipv6-addresses")
must("disassociate-subnet-cidr-block", "--association-id", SA["AssociationId"])
must("delete-network-interface", "--network-interface-id", E6["NetworkInterfaceId"])
must("delete-subnet", "--subnet-id", S6)
G6 = must("create-egress-only-internet-gateway", "--vpc-id", V6["VpcId"])["EgressOnlyInternetGateway"]["EgressOnlyInternetGatewayId"]
t.is_(must("describe-egress-only-internet-gateways", "--egress-only-internet-gateway-ids", G6,
           "--query", "EgressOnlyInternetGateways[0].Attachments[0].VpcId"), V6["VpcId"],
      "create-egress-only-internet-gateway, describe-egress-only-internet-gateways")
must("delete-egress-only-internet-gateway", "--egress-only-internet-gateway-id", G6)
must("delete-vpc", "--vpc-id", V6["VpcId"])

# ------------------------------------------------------------------------ the default VPC again
rc, out, err = aws("create-default-subnet", "--availability-zone", "us-east-1a")
t.ok(rc == 254 and "DefaultVpcDoesNotExist" in err, "create-default-subnet without a default VPC: DefaultVpcDoesNotExist", err)
DV = must("create-default-vpc")["Vpc"]
t.ok(DV.get("IsDefault") is True and DV.get("CidrBlock") == "172.31.0.0/16", "create-default-vpc: 172.31.0.0/16, IsDefault", DV)
DSUBS = must("describe-subnets", "--filters", "Name=vpc-id,Values=" + DV["VpcId"], "Name=default-for-az,Values=true")["Subnets"]
DIGW = must("describe-internet-gateways", "--filters", "Name=attachment.vpc-id,Values=" + DV["VpcId"])["InternetGateways"]
DRT = must("describe-route-tables", "--filters", "Name=vpc-id,Values=" + DV["VpcId"])["RouteTables"]
t.ok(len(DSUBS) >= 3 and all(x["MapPublicIpOnLaunch"] and x["CidrBlock"].endswith("/20") for x in DSUBS) and len(DIGW) == 1 and
     any(r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("GatewayId") == DIGW[0]["InternetGatewayId"]
         for rt in DRT for r in rt["Routes"]),
     "with a default /20 per zone mapping public addresses, an internet gateway and the default route to it", DSUBS, DIGW)
rc, out, err = aws("create-default-vpc")
t.ok(rc == 254 and "DefaultVpcAlreadyExists" in err, "create-default-vpc again: DefaultVpcAlreadyExists", err)
A1 = [x for x in DSUBS if x["AvailabilityZone"] == "us-east-1a"][0]
rc, out, err = aws("create-default-subnet", "--availability-zone", "us-east-1a")
t.ok(rc == 254 and "DefaultSubnetAlreadyExistsInAvailabilityZone" in err,
     "create-default-subnet where one is: DefaultSubnetAlreadyExistsInAvailabilityZone", err)
must("delete-subnet", "--subnet-id", A1["SubnetId"])
DS = must("create-default-subnet", "--availability-zone", "us-east-1a")["Subnet"]
t.ok(DS.get("DefaultForAz") is True and DS.get("MapPublicIpOnLaunch") is True and DS.get("CidrBlock") == A1["CidrBlock"] and
     DS.get("VpcId") == DV["VpcId"], "create-default-subnet: us-east-1a's default /20 back (%s)" % A1["CidrBlock"], DS)
rc, out, err = aws("create-default-subnet", "--availability-zone", "us-east-1z")
t.ok(rc == 254 and "InvalidParameterValue" in err, "create-default-subnet in no zone of the region: InvalidParameterValue", err)
# ------------------------------------------------------------------- launch templates
LT = must("create-launch-template", "--launch-template-name", "cli-lt",
          "--launch-template-data", '{"InstanceType": "t3.nano", "ImageId": "ami-0123456789abcdef0"}',
          "--tag-specifications", "ResourceType=launch-template,Tags=[{Key=k,Value=v}]")["LaunchTemplate"]
LTID = LT["LaunchTemplateId"]
must("create-launch-template-version", "--launch-template-id", LTID, "--source-version", "1",
     "--launch-template-data", "InstanceType=t3.micro")
must("modify-launch-template", "--launch-template-id", LTID, "--default-version", "2")
lts, ltv = must_batch(("describe-launch-templates", "--filters", "Name=launch-template-name,Values=cli-*"),
                      ("describe-launch-template-versions", "--launch-template-name", "cli-lt", "--versions", "$Latest", "1"))
t.ok([(l["LaunchTemplateId"], l["DefaultVersionNumber"], l["LatestVersionNumber"]) for l in lts["LaunchTemplates"]] == [(LTID, 2, 2)] and
     [(v["VersionNumber"], v["LaunchTemplateData"]["InstanceType"], v["LaunchTemplateData"]["ImageId"])
      for v in ltv["LaunchTemplateVersions"]] == [(1, "t3.nano", "ami-0123456789abcdef0"), (2, "t3.micro", "ami-0123456789abcdef0")],
     "create-launch-template, create-launch-template-version --source-version, modify-launch-template "
     "--default-version, describe-launch-templates --filters, describe-launch-template-versions", ltv)
dv = must("delete-launch-template-versions", "--launch-template-id", LTID, "--versions", "1", "2")
must("delete-launch-template", "--launch-template-name", "cli-lt")
t.ok([v["VersionNumber"] for v in dv["SuccessfullyDeletedLaunchTemplateVersions"]] == [1] and
     [v["ResponseError"]["Code"] for v in dv["UnsuccessfullyDeletedLaunchTemplateVersions"]] == ["launchTemplateVersionDoesNotExist"] and
     gone(ec2.describe_launch_templates, "InvalidLaunchTemplateId.NotFound", LaunchTemplateIds=[LTID]),
     "delete-launch-template-versions (not the default), delete-launch-template: NotFound", dv)

# ------------------------------------------------------------------------ the rest
must_batch(("detach-internet-gateway", "--internet-gateway-id", IGW, "--vpc-id", V),
           ("release-address", "--allocation-id", AL["AllocationId"]), ("delete-vpc", "--vpc-id", V2))
must("delete-internet-gateway", "--internet-gateway-id", IGW)
t.ok(gone(ec2.describe_internet_gateways, "InvalidInternetGatewayID.NotFound", InternetGatewayIds=[IGW]) and
     not any(n.startswith(P + "g") for n in links(NS)),
     "detach-internet-gateway, delete-internet-gateway: NotFound, no gateway link left")
t.ok(gone(ec2.describe_vpcs, "InvalidVpcID.NotFound", VpcIds=[V2]) and not os.path.exists("/run/netns/" + lab.vpc_ns(V2)),
     "delete-vpc: InvalidVpcID.NotFound, its namespace is gone")

with open(os.path.join(lab.srcdir, "ec2d", "api", "actions.txt")) as f:
    actions = {l.split("#")[0].strip() for l in f} - {""}
missing = sorted(a for a in actions if xform_name(a, "-") not in ran)
t.is_(missing, [], "the aws CLI ran every action of ec2d/api/actions.txt (%d)" % len(actions))
t.done()
