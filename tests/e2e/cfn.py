#!/usr/bin/env python3
"""CloudFormation stacks (ec2d/cfn.c, docs/cloudformation.md): a lab of a VPC, public and private
subnets, an internet gateway, a NAT gateway, route tables, a security group, a network ACL and an
instance (tests/e2e/cfn_lab.yaml) deployed with the real `aws cloudformation deploy`; its
resources seen by `aws ec2 describe-*`, the instance reaching the internet test host through the
NAT; outputs; an update that changes only what changed; malformed templates refused with
CloudFormation's errors and nothing made; a failing resource rolled back (and kept with
--disable-rollback); kill -9 of ec2d mid-deploy; delete leaves nothing (the Lab's cleanup checks
the kernel objects).
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.join(HERE, "cfn_lab.yaml")
lab = t.Lab("198.18.44.0/22")
ec2 = lab.client
cfn = lab.boto3_client(service="cloudformation")
tmp = tempfile.mkdtemp(prefix="vpclab-cfn-")
if not lab.image_ready("busybox", wait=5):
    t.skip_all("no busybox image (images/build busybox)")
AMI = lab.ami("busybox")


def cf(*args, **kw):
    return lab.aws(*args, service="cloudformation", **kw)


def write(name, text):
    p = os.path.join(tmp, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def counts():
    """What the lab holds: VPCs, subnets, instances (not terminated), stacks not deleted."""
    inst = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
            if i["State"]["Name"] != "terminated"]
    stacks = [s["StackName"] for s in cfn.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"]
    return (len(ec2.describe_vpcs()["Vpcs"]), len(ec2.describe_subnets()["Subnets"]),
            len(ec2.describe_security_groups()["SecurityGroups"]), len(inst), sorted(stacks))


def status(name):
    return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]


def wait_settled(name, timeout=240):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = status(name)
        if not st.endswith("_IN_PROGRESS"):
            return st
        time.sleep(0.5)
    return status(name)


def resources(name):
    return {r["LogicalResourceId"]: r for r in cfn.describe_stack_resources(StackName=name)["StackResources"]}


# ------------------------------------------------------------------ validation, nothing made
before = counts()
bad = {
    "bad YAML": ("Resources:\n  A: [1, 2\n", "YAML not well-formed"),
    "unknown intrinsic": ("Resources:\n  V:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: !Frobnicate x\n",
                          "Encountered unsupported function: Fn::Frobnicate"),
    "cycle": ("Resources:\n  A:\n    Type: AWS::EC2::VPC\n    Properties: {CidrBlock: 10.1.0.0/16}\n    DependsOn: B\n"
              "  B:\n    Type: AWS::EC2::InternetGateway\n    DependsOn: A\n",
              "Circular dependency between resources: [A, B]"),
    "unknown type": ("Resources:\n  X:\n    Type: AWS::X::Y\n", "Unrecognized resource types: [AWS::X::Y]"),
    "bad property": ("Resources:\n  V:\n    Type: AWS::EC2::VPC\n    Properties: {CidrBlock: 10.1.0.0/16, Colour: red}\n",
                     "Encountered unsupported property Colour"),
    "missing parameter": ("Parameters:\n  P: {Type: String}\nResources:\n  V:\n    Type: AWS::EC2::VPC\n"
                          "    Properties: {CidrBlock: !Ref P}\n", "Parameters: [P] must have values"),
    "unresolved Ref": ("Resources:\n  V:\n    Type: AWS::EC2::VPC\n    Properties: {CidrBlock: !Ref Nope}\n",
                       "Unresolved resource dependencies [Nope]"),
}
for what, (body, msg) in bad.items():
    p = write("bad.yaml", body)
    rc, out, err = cf("deploy", "--template-file", p, "--stack-name", "bad")
    t.ok(rc != 0 and (msg in err or (what == "bad YAML" and "while parsing" in err)),
         "aws cloudformation deploy of a template with a %s fails: %s" % (what, msg), err[-400:])
    rc, out, err = cf("validate-template", "--template-body", "file://" + p)
    if what == "missing parameter":
        t.ok(rc == 0, "validate-template: a parameter without a value is no template error", err[-300:])
    else:
        t.ok(rc != 0 and "ValidationError" in err and msg in err, "validate-template: %s is a ValidationError" % what, err[-300:])
    rc, out, err = lab.ec2d("deploy", "--template-file", p, "--stack-name", "bad")
    t.ok(rc != 0 and msg in err, "ec2d deploy: %s exits %d with CloudFormation's message" % (what, rc), err[-300:])
t.is_(counts(), before, "no malformed template made anything (no VPC, subnet, group, instance or stack)")

rc, out, err = cf("validate-template", "--template-body", "file://" + LAB)
t.ok(rc == 0 and sorted(p["ParameterKey"] for p in out["Parameters"]) == ["Env", "ImageId", "VpcCidr"],
     "validate-template lists the lab's parameters", err)

# ------------------------------------------------------------------ deploy with the aws CLI
t0 = time.monotonic()
rc, out, err = cf("deploy", "--template-file", LAB, "--stack-name", "lab", "--parameter-overrides", "ImageId=" + AMI,
                  output="text", timeout=600)
t_deploy = time.monotonic() - t0
t.ok(rc == 0, "aws cloudformation deploy creates the stack (%.1f s)" % t_deploy, err[-800:], str(out)[-400:])
if rc != 0:
    for e in cfn.describe_stack_events(StackName="lab")["StackEvents"][:15]:
        t.diag("%s %s %s" % (e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason", "")))
    t.bail("the lab did not deploy")
rc, out, err = cf("wait", "stack-create-complete", "--stack-name", "lab")
t.ok(rc == 0, "aws cloudformation wait stack-create-complete", err)
rc, out, err = cf("describe-stacks", "--stack-name", "lab")
st = out["Stacks"][0]
t.is_(st["StackStatus"], "CREATE_COMPLETE", "describe-stacks: CREATE_COMPLETE")
outs = {o["OutputKey"]: o for o in st.get("Outputs", [])}
res = resources("lab")
t.is_(sorted(res), sorted(["Vpc", "Public", "Private", "Igw", "IgwAttach", "PublicRt", "PublicDefault", "PublicAssoc",
                           "NatEip", "Nat", "PrivateRt", "PrivateDefault", "PrivateAssoc", "Sg", "Acl", "AclIn",
                           "AclOut", "AclAssoc", "App"]), "describe-stack-resources: every resource")
t.ok(all(r["ResourceStatus"] == "CREATE_COMPLETE" for r in res.values()), "every resource CREATE_COMPLETE")
vpc = res["Vpc"]["PhysicalResourceId"]
app = res["App"]["PhysicalResourceId"]
t.is_(outs.get("VpcId", {}).get("OutputValue"), vpc, "output VpcId is the VPC")
t.is_(outs.get("VpcId", {}).get("ExportName"), "lab-VpcId", "output VpcId is exported as lab-VpcId")
t.is_(outs.get("Mode", {}).get("OutputValue"), "development", "output Mode: Fn::If on a condition")
params = {p["ParameterKey"]: p["ParameterValue"] for p in st["Parameters"]}
t.is_(params, {"VpcCidr": "10.40.0.0/16", "ImageId": AMI, "Env": "dev"}, "describe-stacks: the parameters")

rc, v, err = lab.aws("describe-vpcs", "--vpc-ids", vpc)
t.ok(rc == 0 and v["Vpcs"][0]["CidrBlock"] == "10.40.0.0/16", "aws ec2 describe-vpcs: the VPC, 10.40.0.0/16", err)
t.ok(any(tg["Key"] == "Name" and tg["Value"] == "lab-vpc" for tg in v["Vpcs"][0].get("Tags", [])),
     "the VPC's Name tag is Fn::Sub's lab-vpc")
rc, s, err = lab.aws("describe-subnets", "--filters", "Name=vpc-id,Values=" + vpc)
t.is_(sorted(x["CidrBlock"] for x in s["Subnets"]), ["10.40.0.0/24", "10.40.1.0/24"], "subnets from Fn::Cidr")
rc, n, err = lab.aws("describe-nat-gateways", "--nat-gateway-ids", res["Nat"]["PhysicalResourceId"])
t.ok(rc == 0 and n["NatGateways"][0]["State"] == "available", "the NAT gateway is available", err)
rc, i, err = lab.aws("describe-instances", "--instance-ids", app)
inst = i["Reservations"][0]["Instances"][0]
t.is_(inst["State"]["Name"], "running", "the instance runs")
t.is_(inst["PrivateIpAddress"], outs.get("AppIp", {}).get("OutputValue"), "output AppIp is the instance's address")
t.is_(inst["InstanceType"], "t3.micro", "Fn::FindInMap chose the instance type")
rc, rt, err = lab.aws("describe-route-tables", "--route-table-ids", res["PrivateRt"]["PhysicalResourceId"])
t.ok(any(r.get("NatGatewayId") == res["Nat"]["PhysicalResourceId"] for r in rt["RouteTables"][0]["Routes"]),
     "the private route table's default route is the NAT gateway")
rc, acl, err = lab.aws("describe-network-acls", "--network-acl-ids", res["Acl"]["PhysicalResourceId"])
t.ok(any(a["SubnetId"] == res["Private"]["PhysicalResourceId"] for a in acl["NetworkAcls"][0]["Associations"]),
     "the private subnet is associated with the stack's network ACL")

# Real packets: the instance in the private subnet reaches the internet test host through the NAT.
host = lab.lab_region()["InternetHost"]["PublicIp"]
ok = t.retry(lambda: lab.exec(app, "wget", "-q", "-O", "-", "http://%s/" % host, timeout=10)[0] == 0, timeout=60)
t.ok(ok, "the instance fetches http://%s/ (the internet test host) through the NAT gateway" % host)

# events
evs = cfn.describe_stack_events(StackName="lab")["StackEvents"]
t.ok(evs[0]["LogicalResourceId"] == "lab" and evs[0]["ResourceStatus"] == "CREATE_COMPLETE",
     "describe-stack-events: the newest event is the stack's CREATE_COMPLETE")
t.ok(any(e["LogicalResourceId"] == "App" and e["ResourceStatus"] == "CREATE_IN_PROGRESS" for e in evs) and
     any(e["LogicalResourceId"] == "App" and e["ResourceStatus"] == "CREATE_COMPLETE" for e in evs),
     "describe-stack-events: App went CREATE_IN_PROGRESS then CREATE_COMPLETE")

# ------------------------------------------------------------------ update: a route and a SG rule
with open(LAB) as f:
    body = f.read()
body2 = body.replace("        - {IpProtocol: tcp, FromPort: 22, ToPort: 22, CidrIp: 10.40.0.0/16}",
                     "        - {IpProtocol: tcp, FromPort: 80, ToPort: 80, CidrIp: 10.40.0.0/16}")
body2 = body2.replace("  Sg:\n", "  ExtraRoute:\n    Type: AWS::EC2::Route\n    Properties: {RouteTableId: !Ref PublicRt, "
                      "DestinationCidrBlock: 192.0.2.0/24, GatewayId: !Ref Igw}\n  Sg:\n")
p2 = write("lab2.yaml", body2)
n_before = len(cfn.describe_stack_events(StackName="lab")["StackEvents"])
rc, out, err = cf("deploy", "--template-file", p2, "--stack-name", "lab", "--parameter-overrides", "ImageId=" + AMI,
                  output="text", timeout=600)
t.ok(rc == 0 and status("lab") == "UPDATE_COMPLETE", "aws cloudformation deploy updates the stack", err[-500:])
evs = cfn.describe_stack_events(StackName="lab")["StackEvents"]
new = evs[:len(evs) - n_before]
touched = sorted({e["LogicalResourceId"] for e in new if e["LogicalResourceId"] != "lab"})
t.is_(touched, ["ExtraRoute", "Sg"], "the update's events name only the new route and the changed group")
t.ok(any(e["LogicalResourceId"] == "Sg" and e["ResourceStatus"] == "UPDATE_COMPLETE" for e in new),
     "the group was updated in place (UPDATE_COMPLETE, no replacement)")
res2 = resources("lab")
t.is_(res2["Sg"]["PhysicalResourceId"], res["Sg"]["PhysicalResourceId"], "the group kept its ID")
t.is_(res2["App"]["PhysicalResourceId"], app, "the instance was left alone")
rc, g, err = lab.aws("describe-security-groups", "--group-ids", res["Sg"]["PhysicalResourceId"])
ports = sorted(pm.get("FromPort") for pm in g["SecurityGroups"][0]["IpPermissions"])
t.is_(ports, [80], "the group's ingress is now port 80 only")
rc, rt, err = lab.aws("describe-route-tables", "--route-table-ids", res["PublicRt"]["PhysicalResourceId"])
t.ok(any(r.get("DestinationCidrBlock") == "192.0.2.0/24" for r in rt["RouteTables"][0]["Routes"]),
     "the new route is in the public route table")
rc, out, err = cf("deploy", "--template-file", p2, "--stack-name", "lab", "--parameter-overrides", "ImageId=" + AMI,
                  output="text")
t.ok(rc == 0 and "No changes to deploy" in str(out), "deploying the same template again: no changes", err[-300:])

# ------------------------------------------------------------------ a failing resource rolls back
failing = ("Resources:\n  V:\n    Type: AWS::EC2::VPC\n    Properties: {CidrBlock: 10.77.0.0/16}\n"
           "  S:\n    Type: AWS::EC2::Subnet\n    Properties: {VpcId: !Ref V, CidrBlock: 10.99.0.0/24}\n")
pf = write("fail.yaml", failing)
before = counts()
rc, out, err = lab.ec2d("deploy", "--template-file", pf, "--stack-name", "fails")
t.ok(rc != 0, "ec2d deploy of a stack whose subnet cannot be made exits non-zero (%d)" % rc, err[-300:])
t.is_(status("fails"), "ROLLBACK_COMPLETE", "the stack is ROLLBACK_COMPLETE")
evs = cfn.describe_stack_events(StackName="fails")["StackEvents"]
t.ok(any(e["LogicalResourceId"] == "S" and e["ResourceStatus"] == "CREATE_FAILED" and e.get("ResourceStatusReason")
         for e in evs), "the subnet's CREATE_FAILED event says why",
     [e.get("ResourceStatusReason") for e in evs if e["LogicalResourceId"] == "S"])
t.ok(any(e["LogicalResourceId"] == "V" and e["ResourceStatus"] == "DELETE_COMPLETE" for e in evs),
     "the VPC it made was deleted by the rollback")
t.is_(counts()[:4], before[:4], "the rollback left no VPC or subnet")


def gone(name, timeout=60):
    """The stack no longer listed by describe-stacks (deleted stacks are not)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and any(s["StackName"] == name for s in cfn.describe_stacks()["Stacks"]):
        time.sleep(0.3)
    return not any(s["StackName"] == name for s in cfn.describe_stacks()["Stacks"])


cfn.delete_stack(StackName="fails")
t.ok(gone("fails"), "delete-stack of a ROLLBACK_COMPLETE stack deletes it")
rc, out, err = lab.ec2d("deploy", "--template-file", pf, "--stack-name", "keeps", "--disable-rollback")
t.ok(rc != 0 and status("keeps") == "CREATE_FAILED", "--disable-rollback: CREATE_FAILED", err[-300:])
r = resources("keeps")
t.ok(r["V"]["ResourceStatus"] == "CREATE_COMPLETE" and r["V"]["PhysicalResourceId"].startswith("vpc-"),
     "--disable-rollback keeps the VPC that was made")
rc, out, err = cf("delete-stack", "--stack-name", "keeps")
t.ok(rc == 0 and gone("keeps"), "delete-stack removes the kept stack", err)

# ------------------------------------------------------------------ a failing update rolls back
# The update replaces S (a new CIDR) and adds S2, which cannot be made (outside the VPC): the
# stack goes back to what it was, S keeps its ID and CIDR, the replacement and S2 are gone.
base = ("Resources:\n  V:\n    Type: AWS::EC2::VPC\n    Properties: {CidrBlock: 10.78.0.0/16}\n"
        "  S:\n    Type: AWS::EC2::Subnet\n    Properties: {VpcId: !Ref V, CidrBlock: 10.78.1.0/24}\n"
        "  G:\n    Type: AWS::EC2::SecurityGroup\n    Properties: {VpcId: !Ref V, GroupDescription: upd,\n"
        "      SecurityGroupIngress: [{IpProtocol: tcp, FromPort: 22, ToPort: 22, CidrIp: 10.78.0.0/16}]}\n")
bad_update = (base.replace("10.78.1.0/24", "10.78.2.0/24").replace("FromPort: 22, ToPort: 22", "FromPort: 80, ToPort: 80") +
              "  S2:\n    Type: AWS::EC2::Subnet\n    DependsOn: S\n    Properties: {VpcId: !Ref V, CidrBlock: 10.99.0.0/24}\n")
rc, out, err = lab.ec2d("deploy", "--template-file", write("upd.yaml", base), "--stack-name", "upd")
t.ok(rc == 0 and status("upd") == "CREATE_COMPLETE", "a stack to update: CREATE_COMPLETE", err[-300:])
r0 = resources("upd")
held = counts()
rc, out, err = lab.ec2d("deploy", "--template-file", write("upd-bad.yaml", bad_update), "--stack-name", "upd")
t.ok(rc != 0, "ec2d deploy of an update whose new subnet cannot be made exits non-zero (%d)" % rc, err[-300:])
t.is_(wait_settled("upd"), "UPDATE_ROLLBACK_COMPLETE", "the stack is UPDATE_ROLLBACK_COMPLETE")
r1 = resources("upd")
t.is_(sorted(r1), ["G", "S", "V"], "after the rollback the stack holds V, S and G (not S2)")
t.is_({k: v["PhysicalResourceId"] for k, v in r1.items()}, {k: v["PhysicalResourceId"] for k, v in r0.items()},
      "every resource has its physical ID from before the update (S was not replaced)")
sub = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [r0["V"]["PhysicalResourceId"]]}])["Subnets"]
t.is_(sorted(x["CidrBlock"] for x in sub), ["10.78.1.0/24"], "the VPC holds only the old subnet: the replacement was removed")
grp = ec2.describe_security_groups(GroupIds=[r0["G"]["PhysicalResourceId"]])["SecurityGroups"][0]
t.is_([p.get("FromPort") for p in grp["IpPermissions"]], [22], "the group's rule is port 22 again")
evs = cfn.describe_stack_events(StackName="upd")["StackEvents"]
t.ok(any(e["LogicalResourceId"] == "S2" and e["ResourceStatus"] == "CREATE_FAILED" for e in evs),
     "S2's CREATE_FAILED is an event")
t.is_(counts(), held, "the lab holds what it held before the update")
cfn.delete_stack(StackName="upd")
t.ok(gone("upd"), "the rolled-back stack deletes")

# ------------------------------------------------------------------ kill -9 of ec2d mid-deploy
small = ("Resources:\n  V:\n    Type: AWS::EC2::VPC\n    Properties: {CidrBlock: 10.60.0.0/16}\n"
         "  S:\n    Type: AWS::EC2::Subnet\n    Properties: {VpcId: !Ref V, CidrBlock: 10.60.1.0/24}\n"
         "  R:\n    Type: AWS::EC2::RouteTable\n    Properties: {VpcId: !Ref V}\n"
         "  A:\n    Type: AWS::EC2::SubnetRouteTableAssociation\n    Properties: {SubnetId: !Ref S, RouteTableId: !Ref R}\n"
         "  I:\n    Type: AWS::EC2::Instance\n    Properties: {ImageId: %s, SubnetId: !Ref S}\n" % AMI)
pk = write("kill.yaml", small)
before = counts()
cfn.create_stack(StackName="killed", TemplateBody=small)
t.retry(lambda: any(r["LogicalResourceId"] in ("S", "R") and r["ResourceStatus"] == "CREATE_COMPLETE"
                    for r in cfn.describe_stack_resources(StackName="killed")["StackResources"]), timeout=30, interval=0.05)
lab.ec2d_proc.send_signal(signal.SIGKILL)
lab.ec2d_proc.wait()
lab.ec2d_proc = subprocess.Popen(
    [lab.ec2d_bin, "serve", "--prefix", lab.prefix, "--run-dir", lab.rundir, "--state-dir", lab.ec2state,
     "--images-dir", lab.images_dir, "--listen", lab.endpoint.split("//")[1]] + lab.ec2d_args,
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(lab.ec2d_log, "ab"))
lab._wait_answer(lab.ec2d_bin, lab.ec2d_proc, lab.ec2d_log)
st = wait_settled("killed")
# Consistent means finished or rolled back (the kill may land after the last resource, above
# all under the sanitizers): either every resource is there, or none.
res = resources("killed")
if st == "CREATE_COMPLETE":
    t.ok(sorted(res) == ["A", "I", "R", "S", "V"] and all(r["ResourceStatus"] == "CREATE_COMPLETE" and
                                                         r.get("PhysicalResourceId") for r in res.values()) and
         counts()[0] == before[0] + 1 and counts()[3] == before[3] + 1,
         "after kill -9 mid-deploy and a restart, the stack had finished: every resource made, once", res)
else:
    t.is_(st, "ROLLBACK_COMPLETE", "after kill -9 mid-deploy and a restart, the stack was rolled back")
    t.is_(counts()[:4], before[:4], "the rollback after the restart left no VPC, subnet, group or instance")
cfn.delete_stack(StackName="killed")
t.is_(t.retry(lambda: counts()[:4] == before[:4] and counts()[:4], timeout=120) or counts()[:4], before[:4],
      "the stack deletes after the restart, and leaves no VPC, subnet, group or instance")

# ------------------------------------------------------------------ ec2d's own verbs
rc, out, err = lab.ec2d("describe-stacks", "--stack-name", "lab")
t.ok(rc == 0 and out["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE", "ec2d describe-stacks", err)
rc, out, err = lab.ec2d("get-template", "--stack-name", "lab")
t.ok(rc == 0 and "ExtraRoute" in out["TemplateBody"], "ec2d get-template: the template as deployed", err)

# ------------------------------------------------------------------ delete
t0 = time.monotonic()
rc, out, err = cf("delete-stack", "--stack-name", "lab")
rc2, out2, err2 = cf("wait", "stack-delete-complete", "--stack-name", "lab", timeout=600)
t_delete = time.monotonic() - t0
t.ok(rc == 0 and rc2 == 0, "aws cloudformation delete-stack and wait stack-delete-complete (%.1f s)" % t_delete, err + err2)
rc, out, err = lab.aws("describe-vpcs", "--vpc-ids", vpc)
t.ok(rc != 0 and "InvalidVpcID.NotFound" in err, "the VPC is gone")
c = counts()
t.is_(c[:4], (0, 0, 0, 0), "no VPC, subnet, group or instance is left")
ls = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == "lab"]
t.ok(ls and all(s["StackStatus"] == "DELETE_COMPLETE" for s in ls), "list-stacks shows lab DELETE_COMPLETE")
t.diag("deploy %.1f s, delete %.1f s (aws cloudformation deploy / delete-stack + wait)" % (t_deploy, t_delete))

t.done()
