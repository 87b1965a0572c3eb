#!/usr/bin/env python3
"""A whole lab through the aws CLI alone, as a user would build it: a VPC, two subnets, an
internet gateway and a route to it, a security group open on tcp/80, an instance whose
user-data starts busybox httpd with a page naming itself (from the metadata service), an
elastic IP on it; then the real check: from the region's internet test host (its namespace,
its address as source) http://EIP/ answers with the instance's page. Then everything is
taken down again through the CLI, and the VPC's namespace is gone.
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402

lab = t.Lab("198.19.248.0/21")
if not lab.image_ready("busybox"):
    t.skip("the whole lab", "image busybox is not built (images/build busybox)")
    t.done()


def must(*args, **kw):
    rc, out, err = lab.aws(*args, **kw)
    if rc != 0:
        t.bail("aws ec2 %s: exit %d: %s" % (" ".join(map(str, args)), rc, err.strip()))
    return out


def text(*args):
    """A --query answer as text (what shell scripts do with --output text)."""
    rc, out, err = lab.aws(*args, output="text")
    if rc != 0:
        t.bail("aws ec2 %s: exit %d: %s" % (" ".join(map(str, args)), rc, err.strip()))
    return (out or "").strip()


VPC = text("create-vpc", "--cidr-block", "10.90.0.0/16", "--tag-specifications",
           "ResourceType=vpc,Tags=[{Key=Name,Value=lab-cli}]", "--query", "Vpc.VpcId")
PUB = text("create-subnet", "--vpc-id", VPC, "--cidr-block", "10.90.1.0/24", "--availability-zone", "us-east-1a",
           "--query", "Subnet.SubnetId")
PRIV = text("create-subnet", "--vpc-id", VPC, "--cidr-block", "10.90.2.0/24", "--availability-zone", "us-east-1b",
            "--query", "Subnet.SubnetId")
IGW = text("create-internet-gateway", "--query", "InternetGateway.InternetGatewayId")
must("attach-internet-gateway", "--internet-gateway-id", IGW, "--vpc-id", VPC)
RTB = text("create-route-table", "--vpc-id", VPC, "--query", "RouteTable.RouteTableId")
must("create-route", "--route-table-id", RTB, "--destination-cidr-block", "0.0.0.0/0", "--gateway-id", IGW)
must("associate-route-table", "--route-table-id", RTB, "--subnet-id", PUB)
SG = text("create-security-group", "--group-name", "web", "--description", "web server", "--vpc-id", VPC,
          "--query", "GroupId")
must("authorize-security-group-ingress", "--group-id", SG, "--protocol", "tcp", "--port", "80", "--cidr", "0.0.0.0/0")
t.ok(all(x.startswith(p) for x, p in ((VPC, "vpc-"), (PUB, "subnet-"), (PRIV, "subnet-"), (IGW, "igw-"), (RTB, "rtb-"),
                                      (SG, "sg-"))), "the network, built with --output text --query: %s" % VPC)

AMI = text("describe-images", "--filters", "Name=name,Values=busybox", "--query", "Images[0].ImageId")
ud = os.path.join(lab.dir, "user-data.sh")
with open(ud, "w") as f:
    f.write("#!/bin/sh\n"
            "id=$(wget -q -O - http://169.254.169.254/latest/meta-data/instance-id)\n"
            "mkdir -p /www && echo \"hello from $id\" > /www/index.html\n"
            "httpd -h /www -p 80\n")
I = text("run-instances", "--image-id", AMI, "--instance-type", "t3.micro", "--subnet-id", PUB,
         "--security-group-ids", SG, "--user-data", "file://" + ud, "--tag-specifications",
         "ResourceType=instance,Tags=[{Key=Name,Value=web}]", "--query", "Instances[0].InstanceId")
rc, _, err = lab.aws("wait", "instance-running", "--instance-ids", I, timeout=120)
t.ok(rc == 0 and I.startswith("i-"), "run-instances %s, aws ec2 wait instance-running" % I, err)
st = t.retry(lambda: text("describe-instance-status", "--instance-ids", I,
                          "--query", "InstanceStatuses[0].InstanceStatus.Status") == "ok", timeout=60, interval=1)
t.ok(st, "describe-instance-status says ok (its init is ready)",
     must("get-console-output", "--instance-id", I).get("Output", ""))

ALLOC, EIP = text("allocate-address", "--domain", "vpc", "--query", "[AllocationId,PublicIp]").split()
rc, out, err = lab.aws("associate-address", "--instance-id", I, "--allocation-id", ALLOC)
t.ok(rc == 0 and (out or {}).get("AssociationId", "").startswith("eipassoc-"),
     "associate-address --instance-id %s --allocation-id (the usual form)" % I, err)
if rc != 0:
    ENI = text("describe-instances", "--instance-ids", I, "--query",
               "Reservations[0].Instances[0].NetworkInterfaces[0].NetworkInterfaceId")
    must("associate-address", "--network-interface-id", ENI, "--allocation-id", ALLOC)
inst = must("describe-instances", "--instance-ids", I)["Reservations"][0]["Instances"][0]
t.is_(inst.get("PublicIpAddress"), EIP, "describe-instances: PublicIpAddress is the EIP %s" % EIP)

region = lab.lab_region() or {}
NS, HOST = region.get("Namespace"), region.get("InternetHost", {}).get("PublicIp")
page = t.retry(lambda: lab.curl(NS, "http://%s/" % EIP, interface=HOST), timeout=15)
t.is_((page or "").strip(), "hello from " + I,
      "from the internet test host %s (in %s), http://%s/ is the instance's page" % (HOST, NS, EIP))
via = t.run(["ip", "route", "get", EIP])[1]
if (" dev %sh00000000 " % lab.prefix) in via:
    rc, out, _ = t.run(["curl", "-s", "--connect-timeout", "2", "-m", "3", "http://%s/" % EIP])
    t.is_(out.strip(), "hello from " + I, "the host machine, a client on the lab's internet, gets it too")
else:
    t.ok(False, "the host routes the lab's pool through %sh00000000" % lab.prefix, via)
rc, out, err = lab.exec(I, "timeout", "5", "wget", "-q", "-O", "-", "http://%s/" % HOST)
t.is_(out.strip(), EIP, "and the instance reaches the internet host, which sees the EIP as source")

# Down again, through the CLI.
must("terminate-instances", "--instance-ids", I)
rc, _, err = lab.aws("wait", "instance-terminated", "--instance-ids", I, timeout=120)
t.ok(rc == 0, "terminate-instances, aws ec2 wait instance-terminated", err)
a = must("describe-addresses", "--allocation-ids", ALLOC)["Addresses"][0]
t.ok("AssociationId" not in a and "InstanceId" not in a, "the EIP is allocated still, associated no more", a)
t.ok(lab.curl(NS, "http://%s/" % EIP, interface=HOST, timeout=1) is None, "http://%s/ no longer answers" % EIP)
must("release-address", "--allocation-id", ALLOC)
must("delete-security-group", "--group-id", SG)
must("detach-internet-gateway", "--internet-gateway-id", IGW, "--vpc-id", VPC)
must("delete-internet-gateway", "--internet-gateway-id", IGW)
must("delete-subnet", "--subnet-id", PUB)
must("delete-subnet", "--subnet-id", PRIV)
must("delete-route-table", "--route-table-id", RTB)
must("delete-vpc", "--vpc-id", VPC)
left = [n for n in t.netns_names() if n == lab.vpc_ns(VPC)]
n = text("describe-vpcs", "--query", "length(Vpcs)")
t.ok(not left and n == "0", "release-address, delete-security-group, detach/delete-internet-gateway, delete-subnet x2, "
     "delete-route-table, delete-vpc: no VPC and no namespace left", "VPCs: %r, namespaces left: %s" % (n, left))
t.done()
