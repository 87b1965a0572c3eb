#!/usr/bin/env python3
"""The EC2 API from inside a VPC (docs/architecture.md, "The EC2 API inside a VPC"): the VPC's
resolver gives ec2.us-east-1.amazonaws.com as 169.254.169.249, where the api front serves the
same SigV4-checked API as the host's endpoint; the guest's vpclab-aws (images/guest/vpclab-aws.c)
calls it. From a busybox instance: the name resolves; DescribeInstances with the lab's key in
the environment returns the instance, in a VPC with no internet gateway and from a security
group with no rule at all (the endpoint is not subject to security groups); the region comes
from the metadata service; a wrong secret and an unknown key are refused with exit 254 and
EC2's code on stderr; no credentials and no role is exit 253, and with an instance profile the
role's credentials come from the metadata service. The classic failover watchdog:
the standby instance moves the elastic IP onto its own interface with AssociateAddress
AllowReassociation=true, and DescribeAddresses from the host sees it. A busybox-vm (QEMU)
instance has the client too. The api front killed is
restarted and the endpoint inside the VPC answers again, as after a restart of ec2d; the VPC's
last instance terminated closes the socket, and the VPC's namespace goes with the VPC.
"""
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402

API_IP = "169.254.169.249"
NAME = "ec2.us-east-1.amazonaws.com"

lab = t.Lab("198.18.32.0/22", need_aws=False)
if not os.path.exists(os.path.join(lab.images_dir, "busybox", "rootfs", "usr", "bin", "vpclab-aws")):
    t.skip_all("the busybox image in %s has no /usr/bin/vpclab-aws (run images/build)" % lab.images_dir)
ec2 = lab.client
AMI = lab.ami("busybox")


def launch(subnet, groups=None):
    kw = {"SecurityGroupIds": groups} if groups else {}
    i = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet, InstanceType="t3.micro",
                          **kw)["Instances"][0]
    if not lab.wait_ready(i["InstanceId"]):
        t.bail("instance %s is not ready" % i["InstanceId"])
    return i


def aws_in(inst, *args, key=None, secret=None, region="us-east-1", creds=True, timeout=60):
    """vpclab-aws ec2 ARGS in the instance, with the lab's credentials (or those given) in its
    environment: (exit code, stdout, stderr)."""
    env = []
    if creds:
        env += ["AWS_ACCESS_KEY_ID=" + (key or lab.key), "AWS_SECRET_ACCESS_KEY=" + (secret or lab.secret)]
    if region:
        env += ["AWS_REGION=" + region]
    return lab.exec(inst, "env", *env, "vpclab-aws", "ec2", *args, timeout=timeout)


def listening(vpc):
    """The listening TCP sockets of the VPC's namespace on API_IP:80."""
    rc, out, _ = t.run(["ip", "netns", "exec", lab.vpc_ns(vpc), "ss", "-Hltn", "src", API_IP])
    return [ln for ln in out.splitlines() if ("%s:80" % API_IP) in ln]


# --- A VPC with no internet gateway, and an instance whose security group has no rule.
VA = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
SA = ec2.create_subnet(VpcId=VA, CidrBlock="10.61.1.0/24")["Subnet"]["SubnetId"]
SG = ec2.create_security_group(VpcId=VA, GroupName="closed", Description="no rule")["GroupId"]
ec2.revoke_security_group_egress(GroupId=SG, IpPermissions=[{"IpProtocol": "-1",
                                                            "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
sg = ec2.describe_security_groups(GroupIds=[SG])["SecurityGroups"][0]
t.ok(not sg["IpPermissions"] and not sg["IpPermissionsEgress"], "a security group with no rule, in or out", sg)
t.ok(not ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [VA]}])["InternetGateways"],
     "the VPC has no internet gateway")
t.is_(listening(VA), [], "a VPC without instances has no API socket")
A = launch(SA, [SG])
I1 = A["InstanceId"]
t.is_(len(listening(VA)), 1, "its first instance gives it one, on %s:80 in its namespace" % API_IP)

rc, out, err = lab.exec(I1, "busybox", "nslookup", NAME, "10.61.1.2", timeout=20)
addrs = [ln.split()[-1] for ln in out.splitlines() if ln.startswith("Address") and "10.61.1.2" not in ln]
t.ok(rc == 0 and addrs and addrs[-1] == API_IP, "the VPC's resolver gives %s as %s" % (NAME, API_IP), out, err)
rc, out, err = lab.exec(I1, "cat", "/etc/resolv.conf")
t.like(out, r"nameserver 10\.61\.1\.2", "which is the instance's resolver (DHCP)")
rc, out, err = lab.exec(I1, "busybox", "nslookup", "ec2.us-west-2.amazonaws.com", "10.61.1.2", timeout=20)
t.ok(API_IP not in out, "another region's endpoint does not resolve there", out)

rc, out, err = aws_in(I1, "DescribeInstances")
t.ok(rc == 0 and "<DescribeInstancesResponse" in out and ("<instanceId>%s</instanceId>" % I1) in out,
     "vpclab-aws ec2 DescribeInstances from the instance: exit 0, the XML with the instance", rc, out[:2000], err)
t.ok(rc == 0, "... with no internet gateway and a security group that lets nothing out", err)
rc, out, err = aws_in(I1, "DescribeInstances", "InstanceId.1=" + I1, "Filter.1.Name=instance-state-name",
                      "Filter.1.Value.1=running")
t.ok(rc == 0 and out.count("<instanceId>") == 1 and I1 in out, "DescribeInstances InstanceId.1=I Filter.1...: that one",
     rc, out[:2000], err)
rc, out, err = aws_in(I1, "DescribeInstances", region=None)
t.ok(rc == 0 and I1 in out, "without AWS_REGION: the region from the metadata service", rc, err)
rc, out, err = aws_in(I1, "DescribeInstances", secret="x" * 40)
t.ok(rc == 254 and "An error occurred (SignatureDoesNotMatch) when calling the DescribeInstances operation" in err
     and out == "", "a wrong secret: exit 254, SignatureDoesNotMatch on stderr, nothing on stdout", rc, out, err)
rc, out, err = aws_in(I1, "DescribeInstances", key="AKIAIOSFODNN7EXAMPLE")
t.ok(rc == 254 and "(AuthFailure)" in err, "an unknown access key: exit 254, AuthFailure", rc, err)
rc, out, err = aws_in(I1, "DescribeNothing")
t.ok(rc == 254 and "(InvalidAction)" in err, "an unknown action: exit 254, InvalidAction", rc, err)
rc, out, err = aws_in(I1, "DescribeInstances", creds=False)
t.ok(rc == 253 and "no credentials" in err, "no credentials and no instance role: exit 253", rc, err)
rc, out, err = aws_in(I1, "DescribeInstances", "InstanceId.1")
t.is_(rc, 252, "a parameter that is not Name=Value: exit 252")

# --- No credentials in the environment: the instance role's, from the metadata service.
R = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=SA, InstanceType="t3.micro",
                      SecurityGroupIds=[SG], IamInstanceProfile={"Name": "watchdog"})["Instances"][0]["InstanceId"]
if not lab.wait_ready(R):
    t.bail("instance %s is not ready" % R)
rc, out, err = aws_in(R, "DescribeInstances", "InstanceId.1=" + R, creds=False, region=None)
t.ok(rc == 0 and ("<instanceId>%s</instanceId>" % R) in out,
     "with an instance profile and nothing in the environment: the role's credentials from the metadata "
     "service, signed with their session token", rc, out[:1000], err)
ec2.terminate_instances(InstanceIds=[R])
lab.wait_state(R, "terminated")

# --- The failover watchdog: the standby takes the elastic IP.
VB = ec2.create_vpc(CidrBlock="10.62.0.0/16")["Vpc"]["VpcId"]
SB = ec2.create_subnet(VpcId=VB, CidrBlock="10.62.1.0/24")["Subnet"]["SubnetId"]
IGW = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
ec2.attach_internet_gateway(InternetGatewayId=IGW, VpcId=VB)
RT = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [VB]}])["RouteTables"][0]["RouteTableId"]
ec2.create_route(RouteTableId=RT, DestinationCidrBlock="0.0.0.0/0", GatewayId=IGW)
P, S = launch(SB), launch(SB)
ENI_P, ENI_S = (x["NetworkInterfaces"][0]["NetworkInterfaceId"] for x in (P, S))
EIP = ec2.allocate_address(Domain="vpc")
ec2.associate_address(AllocationId=EIP["AllocationId"], InstanceId=P["InstanceId"])


def eip():
    return ec2.describe_addresses(AllocationIds=[EIP["AllocationId"]])["Addresses"][0]


t.is_(eip().get("NetworkInterfaceId"), ENI_P, "the elastic IP is on the primary")
rc, out, err = aws_in(S["InstanceId"], "AssociateAddress", "AllocationId=" + EIP["AllocationId"],
                      "NetworkInterfaceId=" + ENI_S, "AllowReassociation=true")
t.ok(rc == 0 and "<associationId>" in out, "from the standby: vpclab-aws ec2 AssociateAddress ... "
     "AllowReassociation=true", rc, out, err)
a = eip()
t.ok(a.get("NetworkInterfaceId") == ENI_S and a.get("InstanceId") == S["InstanceId"],
     "DescribeAddresses from the host: the elastic IP is on the standby now", a)
rc, out, err = aws_in(S["InstanceId"], "DescribeAddresses", "AllocationId.1=" + EIP["AllocationId"])
t.ok(rc == 0 and ("<networkInterfaceId>%s</networkInterfaceId>" % ENI_S) in out,
     "and the standby sees it so (DescribeAddresses from inside)", rc, out, err)

# --- The VM image carries the client too (the QEMU instance reaches the endpoint by its name).
if lab.image_ready("busybox-vm"):
    VM = ec2.run_instances(ImageId=lab.ami("busybox-vm"), MinCount=1, MaxCount=1, SubnetId=SB,
                           InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    if lab.wait_ready(VM, timeout=120):
        rc, out, err = aws_in(VM, "DescribeInstances", "InstanceId.1=" + VM, timeout=60)
        t.ok(rc == 0 and VM in out, "from a busybox-vm instance (QEMU): DescribeInstances", rc, out[:1000], err)
    else:
        t.ok(False, "a busybox-vm instance is ready")
    ec2.terminate_instances(InstanceIds=[VM])
else:
    t.skip("from a busybox-vm instance (QEMU)", "no busybox-vm image")

# --- The api front killed: restarted, the VPCs' sockets given to it again.
rc, d, err = lab.ec2d("describe-lab")
old = d["Fronts"]["api"]["Pid"]
os.kill(old, 9)
t.ok(t.retry(lambda: (lab.ec2d("describe-lab")[1] or {}).get("Fronts", {}).get("api", {}).get("Pid") not in (None, old),
             timeout=15), "the api front, killed, is started again")
t.ok(t.retry(lambda: aws_in(I1, "DescribeInstances", "InstanceId.1=" + I1)[0] == 0, timeout=15),
     "the endpoint inside the VPC answers again")
rc, out, err = aws_in(S["InstanceId"], "DescribeInstances", "InstanceId.1=" + S["InstanceId"])
t.ok(rc == 0 and S["InstanceId"] in out, "in the other VPC too", rc, err)
rc, out, err = lab.aws("describe-instances", "--instance-ids", I1) if lab.aws_bin else (0, None, "")
t.ok(rc == 0, "and the host's endpoint", err)

# --- ec2d killed and started again: the instances found again get their VPC's socket back.
lab.ec2d_proc.send_signal(9)
lab.ec2d_proc.wait()
lab.vpcd_proc.terminate()
lab.vpcd_proc.wait()
lab._start()
ec2 = lab.client
rc, out, err = aws_in(S["InstanceId"], "DescribeAddresses", "AllocationId.1=" + EIP["AllocationId"])
t.ok(rc == 0 and ENI_S in out, "after kill -9 of ec2d and a restart: the endpoint inside the VPC answers", rc, out, err)
t.ok(len(listening(VA)) == 1 and len(listening(VB)) == 1, "one socket in each VPC, as before")

# --- The VPC's last instance terminated: its socket goes, and the namespace with the VPC.
ec2.terminate_instances(InstanceIds=[I1])
lab.wait_state(I1, "terminated")
t.ok(t.retry(lambda: listening(VA) == [], timeout=10), "the VPC's last instance terminated: no API socket left",
     listening(VA))
t.is_(len(listening(VB)), 1, "the other VPC keeps its own")
ec2.delete_subnet(SubnetId=SA)
ec2.delete_security_group(GroupId=SG)
ec2.delete_vpc(VpcId=VA)
t.ok(t.retry(lambda: lab.vpc_ns(VA) not in t.netns_names(), timeout=10), "the VPC deleted: its namespace is gone")
t.done()
