#!/usr/bin/env python3
"""What clients ask before their real work, answered as AWS answers it: STS GetCallerIdentity
and IAM GetUser/ListAccountAliases on the EC2 endpoint under their own SigV4 service names
(with their own error documents), the account's one ID everywhere an owner shows; the retired
ClassicLink calls and DescribeAccountAttributes; the VPC DNS attributes, each with its effect
on what the VPC's resolver answers an instance; DescribeInstanceAttribute; and the elastic IP
of an instance found by instance-id. The aws CLI and boto3, in a lab with a default VPC.
"""
import base64
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402
import boto3  # noqa: E402
import botocore.config  # noqa: E402

lab = t.Lab("198.19.176.0/21", default_vpc=True)
ec2 = lab.client
conf = botocore.config.Config(retries={"max_attempts": 0})


def client(service, key=None, secret=None):
    return boto3.client(service, endpoint_url=lab.endpoint, region_name=lab.region, config=conf,
                        aws_access_key_id=key or lab.key, aws_secret_access_key=secret or lab.secret)


def aws(*args):
    """The aws CLI for any service: (exit code, parsed JSON or text, stderr)."""
    rc, out, err = t.run([lab.aws_bin, "--endpoint-url", lab.endpoint, "--output", "json"] + list(args),
                         env=lab.aws_env())
    try:
        return rc, json.loads(out) if out.strip() else None, err
    except ValueError:
        return rc, out, err


# --- Who am I
sts, iam = client("sts"), client("iam")
me = sts.get_caller_identity()
t.ok(me["Account"] == "123456789012" and me["Arn"] == "arn:aws:iam::123456789012:user/vpclab" and
     me["UserId"].startswith("AIDA") and len(me["UserId"]) == 21,
     "STS GetCallerIdentity: the lab's account, its user's ARN and ID", me)
rc, out, err = aws("sts", "get-caller-identity")
t.ok(rc == 0 and out == {k: me[k] for k in ("UserId", "Account", "Arn")},
     "aws sts get-caller-identity: the same", out, err)
VPC = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
t.is_(VPC["OwnerId"], me["Account"], "a VPC's OwnerId is the caller's account")
user = iam.get_user()["User"]
t.ok(user["UserName"] == "vpclab" and user["Arn"] == me["Arn"] and user["UserId"] == me["UserId"] and
     user["Path"] == "/" and user["CreateDate"].year >= 2026, "IAM GetUser: the same user", user)
rc, out, err = aws("iam", "get-user", "--user-name", "vpclab")
t.ok(rc == 0 and out["User"]["UserName"] == "vpclab", "aws iam get-user --user-name vpclab", err)
t.ok(iam.list_account_aliases()["AccountAliases"] == [], "IAM ListAccountAliases: none")
code = t.call_error(iam.get_user, UserName="bob")
t.ok(code[0] == "NoSuchEntity" and code[2] == 404, "GetUser of another user: NoSuchEntity (404)",
     code)
bad = client("sts", key="AKIAIOSFODNN7EXAMPLE", secret="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
code = t.call_error(bad.get_caller_identity)
t.ok(code[0] == "InvalidClientTokenId" and code[2] == 403,
     "an unknown access key: STS's InvalidClientTokenId (403)", code)
code = t.call_error(client("sts", secret="x" * 40).get_caller_identity)
t.is_(code[0], "SignatureDoesNotMatch", "a wrong secret: SignatureDoesNotMatch")
rc, out, err = aws("sts", "get-session-token")
t.ok(rc != 0 and "InvalidAction" in err and "GetSessionToken" in err,
     "an STS action vpclab does not serve: InvalidAction, in STS's error document", err)
# A request the CLI signs for another service is not taken as EC2's.
rc, out, err = aws("ssm", "describe-parameters")
t.ok(rc != 0 and "SignatureDoesNotMatch" in err, "a service the endpoint does not speak: SignatureDoesNotMatch", err)

# --- Retired and account-level EC2 calls
attrs = {a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]]
         for a in ec2.describe_account_attributes()["AccountAttributes"]}
t.ok(attrs.get("supported-platforms") == ["VPC"] and attrs.get("default-vpc") == [VPC["VpcId"]] and
     attrs.get("vpc-max-security-groups-per-interface") == ["5"] and attrs.get("max-instances") == ["100"],
     "DescribeAccountAttributes: VPC only, the default VPC, the limits vpclab holds to", attrs)
one = ec2.describe_account_attributes(AttributeNames=["default-vpc"])["AccountAttributes"]
t.ok(len(one) == 1 and one[0]["AttributeName"] == "default-vpc", "... one by name", one)
code = t.call_error(ec2.describe_account_attributes, AttributeNames=["no-such"])
t.is_(code[0], "InvalidParameterValue", "... an unknown name: InvalidParameterValue")
V2 = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
ec2.create_tags(Resources=[V2], Tags=[{"Key": "Name", "Value": "second"}])
cl = {v["VpcId"]: v for v in ec2.describe_vpc_classic_link()["Vpcs"]}
t.ok(set(cl) == {VPC["VpcId"], V2} and not any(v["ClassicLinkEnabled"] for v in cl.values()) and
     cl[V2].get("Tags") == [{"Key": "Name", "Value": "second"}],
     "DescribeVpcClassicLink: every VPC, none enabled, with its tags", cl)
t.is_(ec2.describe_vpc_classic_link(Filters=[{"Name": "is-classic-link-enabled", "Values": ["true"]}])["Vpcs"],
      [], "... filtered on is-classic-link-enabled=true: none")
code = t.call_error(ec2.describe_vpc_classic_link, VpcIds=["vpc-0123456789abcdef0"])
t.is_(code[0], "InvalidVpcID.NotFound", "... of an unknown VPC: InvalidVpcID.NotFound")
dns = ec2.describe_vpc_classic_link_dns_support(VpcIds=[V2])["Vpcs"]
t.is_(dns, [{"VpcId": V2, "ClassicLinkDnsSupported": False}], "DescribeVpcClassicLinkDnsSupport: not supported")
rc, out, err = lab.aws("describe-vpc-classic-link", "--vpc-ids", V2)
t.ok(rc == 0 and out["Vpcs"][0]["ClassicLinkEnabled"] is False, "aws ec2 describe-vpc-classic-link", err)


# --- VPC DNS attributes, seen from an instance
def attr(vpc, name):
    key = name[0].upper() + name[1:]
    return ec2.describe_vpc_attribute(VpcId=vpc, Attribute=name)[key]["Value"]


t.ok(attr(VPC["VpcId"], "enableDnsSupport") and attr(VPC["VpcId"], "enableDnsHostnames"),
     "the default VPC: DNS support and DNS hostnames on")
t.ok(attr(V2, "enableDnsSupport") and not attr(V2, "enableDnsHostnames") and
     not attr(V2, "enableNetworkAddressUsageMetrics"), "a new VPC: DNS support on, hostnames off")
S2 = ec2.create_subnet(VpcId=V2, CidrBlock="10.40.1.0/24")["Subnet"]["SubnetId"]
AMI = ec2.describe_images()["Images"][0]["ImageId"]
inst = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=S2, InstanceType="t3.micro",
                         UserData="#!/bin/sh\necho hello\n")["Instances"][0]  # boto3 sends it in base64
ud = base64.b64encode(b"#!/bin/sh\necho hello\n").decode()
I, IP = inst["InstanceId"], inst["PrivateIpAddress"]
if not lab.wait_state(I, "running", timeout=60):
    t.bail("instance %s does not run" % I)
NAME = "ip-%s.ec2.internal" % IP.replace(".", "-")
RESOLVER = "10.40.1.2"


def resolve(name):
    """The address the VPC's resolver gives the instance for name, or None."""
    rc, out, err = lab.exec(I, "busybox", "nslookup", name, RESOLVER, timeout=20)
    lab.last_lookup = (rc, out, err)
    addrs = [ln.split()[-1] for ln in out.splitlines() if ln.startswith("Address") and RESOLVER not in ln]
    return addrs[-1] if rc == 0 and addrs else None


t.is_(t.retry(lambda: resolve(NAME), timeout=20), IP, "the resolver answers the instance's own name")
rc, out, err = lab.exec(I, "ip", "-4", "addr", "show", "eth0")
t.ok(rc == 0 and ("inet %s/24 brd 10.40.1.255" % IP) in out, "DHCP gave the subnet's netmask and broadcast", out, err)
ec2.modify_vpc_attribute(VpcId=V2, EnableDnsSupport={"Value": False})
t.ok(not attr(V2, "enableDnsSupport") and t.retry(lambda: resolve(NAME) is None, timeout=20),
     "ModifyVpcAttribute EnableDnsSupport=false: the resolver answers nothing")
rc, out, err = lab.aws("modify-vpc-attribute", "--vpc-id", V2, "--enable-dns-support", "{\"Value\":true}")
t.ok(rc == 0 and attr(V2, "enableDnsSupport") and t.retry(lambda: resolve(NAME) == IP, timeout=20),
     "aws ec2 modify-vpc-attribute --enable-dns-support: it answers again", err)
IGW = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
ec2.attach_internet_gateway(InternetGatewayId=IGW, VpcId=V2)
EIP = ec2.allocate_address(Domain="vpc")
ec2.associate_address(AllocationId=EIP["AllocationId"], InstanceId=I)
PUBNAME = "ec2-%s.compute-1.amazonaws.com" % EIP["PublicIp"].replace(".", "-")
t.ok(resolve(PUBNAME) is None, "hostnames off: the instance's public DNS name does not resolve inside the VPC")
ec2.modify_vpc_attribute(VpcId=V2, EnableDnsHostnames={"Value": True})
t.is_(t.retry(lambda: resolve(PUBNAME), timeout=20), IP,
      "EnableDnsHostnames=true: inside the VPC the public DNS name is the private address")
code = t.call_error(ec2.modify_vpc_attribute, VpcId=V2, EnableDnsSupport={"Value": True},
                    EnableDnsHostnames={"Value": True})
t.is_(code[0], "InvalidParameterCombination", "two attributes at once: InvalidParameterCombination")
lab.ec2d_proc.kill()
lab.ec2d_proc.wait()
lab.vpcd_proc.kill()
lab.vpcd_proc.wait()
lab._start()
ec2 = lab.client
t.ok(attr(V2, "enableDnsHostnames") and attr(V2, "enableDnsSupport") and
     t.retry(lambda: resolve(PUBNAME) == IP, timeout=20),
     "after kill -9 of both daemons: the attributes kept, the public name still resolves")

# --- Instances and addresses
a = ec2.describe_instance_attribute(InstanceId=I, Attribute="groupSet")
default_sg = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [V2]},
                                                   {"Name": "group-name", "Values": ["default"]}])[
    "SecurityGroups"][0]["GroupId"]
t.ok(a["InstanceId"] == I and [g["GroupId"] for g in a["Groups"]] == [default_sg],
     "DescribeInstanceAttribute groupSet: the ENI's groups", a)
t.is_(ec2.describe_instance_attribute(InstanceId=I, Attribute="instanceType")["InstanceType"]["Value"], "t3.micro",
      "... instanceType")
t.is_(ec2.describe_instance_attribute(InstanceId=I, Attribute="userData")["UserData"]["Value"], ud,
      "... userData: what RunInstances got, in base64")
ENI = inst["NetworkInterfaces"][0]["NetworkInterfaceId"]
ec2.modify_network_interface_attribute(NetworkInterfaceId=ENI, SourceDestCheck={"Value": False})
t.is_(ec2.describe_instance_attribute(InstanceId=I, Attribute="sourceDestCheck")["SourceDestCheck"]["Value"], False,
      "... sourceDestCheck follows the ENI's")
rc, out, err = lab.aws("describe-instance-attribute", "--instance-id", I, "--attribute", "disableApiTermination")
t.ok(rc == 0 and out["DisableApiTermination"]["Value"] is False, "aws ec2 describe-instance-attribute", err)
code = t.call_error(ec2.describe_instance_attribute, InstanceId=I, Attribute="nonsense")
t.is_(code[0], "InvalidParameterValue", "... an unknown attribute: InvalidParameterValue")
code = t.call_error(ec2.describe_instance_attribute, InstanceId="i-0123456789abcdef0", Attribute="instanceType")
t.is_(code[0], "InvalidInstanceID.NotFound", "... an unknown instance: InvalidInstanceID.NotFound")
got = ec2.describe_addresses(Filters=[{"Name": "instance-id", "Values": [I]}])["Addresses"]
t.ok(len(got) == 1 and got[0]["PublicIp"] == EIP["PublicIp"] and got[0].get("InstanceId") == I,
     "DescribeAddresses filtered by instance-id: the instance's elastic IP, naming it", got)
ec2.terminate_instances(InstanceIds=[I])
t.done()
