#!/usr/bin/env python3
"""AWS Fault Injection Service on ec2d's endpoint, driven by the real aws CLI (`aws fis`) and
boto3, each fault proven by packets or by the instance's state:

- the catalogue (ListActions, GetAction, ListTargetResourceTypes);
- templates: create from the JSON `--cli-input-json` sends, get, list, update, tag, delete; bad
  templates (unknown action, bad duration, a target key the action does not take, a startAfter
  loop, no description) answer ValidationException with a non-zero exit and make nothing;
- aws:network:disrupt-connectivity on a subnet: ping and TCP out of it stop while it runs,
  within it they go on, and come back when it completes; scope availability-zone;
- StopExperiment ends a long fault at once; a target that matches nothing fails the experiment
  with nothing applied; COUNT(1) of three ENIs picks one;
- API faults: inject-api-throttle-error on DescribeVpcs (100 %) answers RequestLimitExceeded to
  boto3 and the aws CLI for the duration only;
- kill -9 of ec2d in the middle of an experiment: after the restart the experiment is failed
  with the reason, the fault is gone from the kernel (ping works) and from vpcd's model;
- instances (when the busybox image is built): stop-instances with startInstancesAfterDuration
  stops the tagged instance and starts it again; vpclab:ec2:pause-instances freezes it (no
  answer to ping) and resumes it.
"""
import json
import os
import re
import signal
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402

lab = t.Lab("198.19.176.0/21")
ec2 = lab.client
fis = lab.boto3_client(service="fis")
tmp = tempfile.mkdtemp(prefix="vpclab-fis-")
ROLE = "arn:aws:iam::123456789012:role/fis-lab"


def aws_fis(*args):
    return lab.aws(*args, service="fis")


def template_file(doc):
    path = os.path.join(tmp, "t%d.json" % time.monotonic_ns())
    with open(path, "w") as f:
        json.dump(doc, f)
    return "file://" + path


def template(desc, actions, targets=None):
    d = {"description": desc, "roleArn": ROLE, "stopConditions": [{"source": "none"}], "actions": actions}
    if targets is not None:
        d["targets"] = targets
    return d


def subnet_target(subnet, mode="ALL"):
    return {"resourceType": "aws:ec2:subnet", "selectionMode": mode,
            "resourceArns": ["arn:aws:ec2:us-east-1:123456789012:subnet/%s" % subnet]}


def wait_experiment(xid, states=("completed", "stopped", "failed"), timeout=60):
    end = time.monotonic() + timeout
    x = None
    while time.monotonic() < end:
        x = fis.get_experiment(id=xid)["experiment"]
        if x["state"]["status"] in states:
            return x
        time.sleep(0.1)
    return x


def ping(ns, ip, count=1, wait=1):
    return lab.netns(ns, "ping", "-n", "-c", str(count), "-i", "0.2", "-W", str(wait), ip)[0] == 0


def templates():
    return sorted(x["id"] for x in fis.list_experiment_templates()["experimentTemplates"])


# --------------------------------------------------------------------------- the lab
V = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
A = ec2.create_subnet(VpcId=V, CidrBlock="10.40.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
B = ec2.create_subnet(VpcId=V, CidrBlock="10.40.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
C = ec2.create_subnet(VpcId=V, CidrBlock="10.40.3.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
SG = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [V]}])["SecurityGroups"][0]["GroupId"]
ec2.authorize_security_group_ingress(GroupId=SG, IpPermissions=[
    {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.40.0.0/16"}]}])
enis = {}
for name, sub in (("a1", A), ("a2", A), ("b1", B), ("c1", C)):
    e = ec2.create_network_interface(SubnetId=sub, Groups=[SG], TagSpecifications=[
        {"ResourceType": "network-interface", "Tags": [{"Key": "fis", "Value": "pool"}]}])["NetworkInterface"]
    enis[name] = (e["NetworkInterfaceId"], e["PrivateIpAddress"], lab.plug(e["NetworkInterfaceId"], name))
IP = {k: v[1] for k, v in enis.items()}
NS = {k: v[2] for k, v in enis.items()}
t.ok(t.retry(lambda: ping(NS["a1"], IP["b1"]) and ping(NS["a1"], IP["a2"]) and ping(NS["a1"], IP["c1"]), timeout=20),
     "before any fault: a1 pings a2 (same subnet), b1 (other zone) and c1 (same zone, other subnet)")

# --------------------------------------------------------------------------- catalogue
rc, out, err = aws_fis("list-actions")
ids = [a["id"] for a in (out or {}).get("actions", [])]
t.ok(rc == 0 and "aws:ec2:stop-instances" in ids and "aws:network:disrupt-connectivity" in ids and
     "aws:fis:inject-api-throttle-error" in ids, "aws fis list-actions lists FIS's actions", err, ids)
a = fis.get_action(id="aws:network:disrupt-connectivity")["action"]
t.ok(a["targets"] == {"Subnets": {"resourceType": "aws:ec2:subnet"}} and a["parameters"]["duration"]["required"],
     "GetAction: the target key Subnets and the required duration", a)
code = t.call_error(fis.get_action, id="aws:nope")
t.is_(code[0], "ResourceNotFoundException", "GetAction of an unknown ID: ResourceNotFoundException")
rts = [r["resourceType"] for r in fis.list_target_resource_types()["targetResourceTypes"]]
t.ok("aws:ec2:instance" in rts and "aws:ec2:subnet" in rts, "ListTargetResourceTypes", rts)

# --------------------------------------------------------------------------- bad templates
before = templates()
bad = [
    ("an unknown action", template("x", {"a": {"actionId": "aws:ec2:melt"}})),
    ("a bad duration", template("x", {"a": {"actionId": "aws:fis:wait", "parameters": {"duration": "5 seconds"}}})),
    ("a missing required parameter", template("x", {"a": {"actionId": "aws:fis:wait"}})),
    ("a target the template lacks", template("x", {"a": {"actionId": "aws:network:disrupt-connectivity",
                                                         "parameters": {"duration": "PT1S"},
                                                         "targets": {"Subnets": "nope"}}})),
    ("a wrong target key", template("x", {"a": {"actionId": "aws:network:disrupt-connectivity",
                                                "parameters": {"duration": "PT1S"}, "targets": {"Instances": "s"}}},
                                    {"s": subnet_target(A)})),
    ("a startAfter loop", template("x", {
        "a": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1S"}, "startAfter": ["b"]},
        "b": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1S"}, "startAfter": ["a"]}})),
    ("a bad selection mode", template("x", {"a": {"actionId": "aws:network:disrupt-connectivity",
                                                  "parameters": {"duration": "PT1S"}, "targets": {"Subnets": "s"}}},
                                      {"s": subnet_target(A, "SOME")})),
]
for what, doc in bad:
    rc, out, err = aws_fis("create-experiment-template", "--cli-input-json", template_file(doc))
    t.ok(rc != 0 and "ValidationException" in err, "create-experiment-template with %s: ValidationException, exit %d" % (what, rc), err)
t.is_(templates(), before, "... and no template was made")

# --------------------------------------------------------------------------- templates
DISRUPT = template("cut subnet A", {"cut": {"actionId": "aws:network:disrupt-connectivity",
                                             "parameters": {"duration": "PT4S"}, "targets": {"Subnets": "subnetA"}}},
                   {"subnetA": subnet_target(A)})
DISRUPT["tags"] = {"lab": "fis"}
rc, out, err = aws_fis("create-experiment-template", "--cli-input-json", template_file(DISRUPT))
T = (out or {}).get("experimentTemplate", {})
TID = T.get("id", "")
t.ok(rc == 0 and TID.startswith("EXT") and T["actions"]["cut"]["actionId"] == "aws:network:disrupt-connectivity"
     and T["tags"] == {"lab": "fis"} and isinstance(T.get("creationTime"), str),
     "aws fis create-experiment-template --cli-input-json: an EXT id, the actions and tags back", err, T)
g = fis.get_experiment_template(id=TID)["experimentTemplate"]
# Debian's FIS model (botocore 1.29) has no arn member: the ARN is FIS's pattern.
TARN = "arn:aws:fis:us-east-1:123456789012:experiment-template/" + TID
t.ok(g["targets"]["subnetA"]["resourceArns"][0].endswith(A) and g.get("arn", TARN) == TARN,
     "GetExperimentTemplate (boto3): the target", g)
u = fis.update_experiment_template(id=TID, description="cut subnet A for 4 s")["experimentTemplate"]
t.is_(u["description"], "cut subnet A for 4 s", "UpdateExperimentTemplate changes the description")
fis.tag_resource(resourceArn=TARN, tags={"course": "net101"})
t.is_(fis.list_tags_for_resource(resourceArn=TARN)["tags"], {"lab": "fis", "course": "net101"},
      "TagResource and ListTagsForResource")
code = t.call_error(fis.get_experiment_template, id="EXTdoesnotexist00")
t.is_(code[0], "ResourceNotFoundException", "GetExperimentTemplate of an unknown ID: ResourceNotFoundException")

# --------------------------------------------------------------------------- disrupt-connectivity
rc, out, err = aws_fis("start-experiment", "--experiment-template-id", TID)
X = (out or {}).get("experiment", {})
XID = X.get("id", "")
t.ok(rc == 0 and XID.startswith("EXP") and X["state"]["status"] in ("initiating", "running"),
     "aws fis start-experiment: an EXP id, initiating", err, X)
running = t.retry(lambda: fis.get_experiment(id=XID)["experiment"]["state"]["status"] == "running", timeout=5, interval=0.05)
t.ok(running and t.retry(lambda: not ping(NS["a1"], IP["b1"], wait=1), timeout=3),
     "while it runs: a1 (subnet A) no longer reaches b1 (subnet B)")
t.ok(ping(NS["a1"], IP["a2"]), "... but a1 still reaches a2 in its own subnet")
t.ok(ping(NS["b1"], IP["c1"]), "... and b1 still reaches c1 (neither is in subnet A)")
x = wait_experiment(XID, timeout=20)
t.ok(x["state"]["status"] == "completed" and x["actions"]["cut"]["state"]["status"] == "completed" and
     x["actions"]["cut"]["endTime"] > x["actions"]["cut"]["startTime"],
     "the experiment completes after its duration, the action with start and end times", x)
t.ok(t.retry(lambda: ping(NS["a1"], IP["b1"]), timeout=3), "after it: a1 reaches b1 again")
rc, faults, _ = lab.vpcd("describe-faults")
t.is_((faults or {}).get("Faults"), [], "vpcd describe-faults: no fault left")

# scope availability-zone: only the other zone's subnet is cut.
AZT = template("cut A from other zones", {"cut": {"actionId": "aws:network:disrupt-connectivity",
                                                  "parameters": {"duration": "PT30S", "scope": "availability-zone"},
                                                  "targets": {"Subnets": "s"}}}, {"s": subnet_target(A)})
TAZ = fis.create_experiment_template(**AZT)["experimentTemplate"]["id"]
XAZ = fis.start_experiment(experimentTemplateId=TAZ)["experiment"]["id"]
t.retry(lambda: fis.get_experiment(id=XAZ)["experiment"]["state"]["status"] == "running", timeout=5, interval=0.05)
t.ok(t.retry(lambda: not ping(NS["a1"], IP["b1"]), timeout=3) and ping(NS["a1"], IP["c1"]),
     "scope availability-zone: a1 loses b1 (us-east-1b) and keeps c1 (us-east-1a)")
t0 = time.monotonic()
s = fis.stop_experiment(id=XAZ)["experiment"]
x = wait_experiment(XAZ, timeout=20)
t.ok(x["state"]["status"] == "stopped" and x["actions"]["cut"]["state"]["status"] == "stopped" and
     time.monotonic() - t0 < 10, "StopExperiment: stopped long before its 30 s, the action stopped", s, x)
t.ok(t.retry(lambda: ping(NS["a1"], IP["b1"]), timeout=3), "after StopExperiment: a1 reaches b1 again")
code = t.call_error(fis.stop_experiment, id=XAZ)
t.is_(code[0], "ValidationException", "StopExperiment of a stopped experiment: ValidationException")

# A target that matches nothing: the experiment fails, nothing applied.
NT = template("no such subnet", {"cut": {"actionId": "aws:network:disrupt-connectivity",
                                         "parameters": {"duration": "PT2S"}, "targets": {"Subnets": "s"}}},
              {"s": {"resourceType": "aws:ec2:subnet", "selectionMode": "ALL", "resourceTags": {"nope": "nope"}}})
TNT = fis.create_experiment_template(**NT)["experimentTemplate"]["id"]
x = fis.start_experiment(experimentTemplateId=TNT)["experiment"]
t.ok(x["state"]["status"] == "failed" and "found no resources" in x["state"]["reason"] and
     x["actions"]["cut"]["state"]["status"] == "cancelled",
     "a target that matches nothing: the experiment is failed with the reason, its action cancelled", x)

# COUNT(1) of the tagged ENIs: one of four, the same one for the same seed.
LT = template("lose one ENI", {"bh": {"actionId": "vpclab:network:blackhole-interface",
                                      "parameters": {"duration": "PT2S"}, "targets": {"NetworkInterfaces": "one"}}},
              {"one": {"resourceType": "vpclab:ec2:network-interface", "selectionMode": "COUNT(1)",
                       "resourceTags": {"fis": "pool"}}})
TLT = fis.create_experiment_template(**LT)["experimentTemplate"]["id"]
XLT = fis.start_experiment(experimentTemplateId=TLT)["experiment"]["id"]
t.retry(lambda: fis.get_experiment(id=XLT)["experiment"]["state"]["status"] == "running", timeout=5, interval=0.05)
rc, faults, _ = lab.vpcd("describe-faults")
fl = (faults or {}).get("Faults", [])
t.ok(len(fl) == 1 and fl[0].get("Target", {}).get("NetworkInterfaceId") in [v[0] for v in enis.values()],
     "COUNT(1) of four tagged ENIs: one blackholed", fl)
x = wait_experiment(XLT, timeout=20)
t.is_(x["state"]["status"], "completed", "the blackhole experiment completes")

# A 50 ms delay on b1's ENI: what ping sees.
DELAY = template("delay b1", {"lag": {"actionId": "vpclab:network:interface-impairment",
                                      "parameters": {"duration": "PT30S", "delayMilliseconds": "50"},
                                      "targets": {"NetworkInterfaces": "b1"}}},
                 {"b1": {"resourceType": "vpclab:ec2:network-interface", "selectionMode": "ALL",
                         "resourceArns": ["arn:aws:ec2:us-east-1:123456789012:network-interface/" + enis["b1"][0]]}})
XDELAY = fis.start_experiment(experimentTemplateId=fis.create_experiment_template(**DELAY)["experimentTemplate"]["id"]
                              )["experiment"]["id"]
t.retry(lambda: fis.get_experiment(id=XDELAY)["experiment"]["state"]["status"] == "running", timeout=5, interval=0.05)
rc, out, _ = lab.netns(NS["a1"], "ping", "-n", "-q", "-c", "10", "-i", "0.05", IP["b1"])
m = re.search(r"= [0-9.]+/([0-9.]+)/", out or "")
avg = float(m.group(1)) if m else -1
t.ok(48 <= avg <= 53, "interface-impairment delayMilliseconds 50: a1 -> b1 ping avg %.2f ms" % avg, out)
fis.stop_experiment(id=XDELAY)
wait_experiment(XDELAY, timeout=20)
rc, out, _ = lab.netns(NS["a1"], "ping", "-n", "-q", "-c", "5", "-i", "0.05", IP["b1"])
m = re.search(r"= [0-9.]+/([0-9.]+)/", out or "")
t.ok(m and float(m.group(1)) < 5, "stopped: the delay is gone (%s ms)" % (m.group(1) if m else "?"))

# --------------------------------------------------------------------------- API faults
THR = template("throttle DescribeVpcs", {"thr": {"actionId": "aws:fis:inject-api-throttle-error",
                                                 "parameters": {"duration": "PT4S", "service": "ec2",
                                                                "operations": "DescribeVpcs", "percentage": "100"},
                                                 "targets": {"Roles": "me"}}},
               {"me": {"resourceType": "aws:iam:role", "selectionMode": "ALL", "resourceArns": [ROLE]}})
TTHR = fis.create_experiment_template(**THR)["experimentTemplate"]["id"]
XTHR = fis.start_experiment(experimentTemplateId=TTHR)["experiment"]["id"]
t.retry(lambda: fis.get_experiment(id=XTHR)["experiment"]["state"]["status"] == "running", timeout=5, interval=0.05)
code = t.call_error(ec2.describe_vpcs)
rc, _, err = lab.aws("describe-vpcs")
t.ok(code[0] == "RequestLimitExceeded" and rc != 0 and "RequestLimitExceeded" in err,
     "inject-api-throttle-error: DescribeVpcs answers RequestLimitExceeded to boto3 and the aws CLI", code, err)
t.ok(ec2.describe_subnets()["Subnets"], "... and DescribeSubnets, not named, works")
wait_experiment(XTHR, timeout=20)
t.ok(ec2.describe_vpcs()["Vpcs"], "after the experiment DescribeVpcs works again")

# --------------------------------------------------------------------------- region partition
lab.boto3_client(region="us-east-2").describe_vpcs()
H1, H2 = lab.lab_region("us-east-1")["InternetHost"]["PublicIp"], lab.lab_region("us-east-2")["InternetHost"]["PublicIp"]
cross = lambda: lab.netns("%s-us-east-1" % lab.prefix, "ping", "-c1", "-W1", "-I", H1, H2)[0] == 0  # noqa: E731
t.ok(t.retry(cross, timeout=5), "us-east-1's internet reaches us-east-2's (%s -> %s)" % (H1, H2))
PART = template("partition us-east-1 from us-east-2", {"p": {"actionId": "vpclab:network:region-partition",
                                                            "parameters": {"duration": "PT3S", "peerRegion": "us-east-2"}}})
XPART = fis.start_experiment(experimentTemplateId=fis.create_experiment_template(**PART)["experimentTemplate"]["id"]
                             )["experiment"]["id"]
t.retry(lambda: fis.get_experiment(id=XPART)["experiment"]["state"]["status"] == "running", timeout=5, interval=0.05)
t.ok(t.retry(lambda: not cross(), timeout=3), "region-partition: us-east-1 no longer reaches us-east-2")
x = wait_experiment(XPART, timeout=20)
t.ok(x["state"]["status"] == "completed" and t.retry(cross, timeout=3), "... and does again once it completes", x)

# --------------------------------------------------------------------------- kill -9 of vpcd
MID = template("cut A for 5 s", {"cut": {"actionId": "aws:network:disrupt-connectivity",
                                         "parameters": {"duration": "PT5S"}, "targets": {"Subnets": "s"}}},
               {"s": subnet_target(A)})
XMID = fis.start_experiment(experimentTemplateId=fis.create_experiment_template(**MID)["experimentTemplate"]["id"]
                            )["experiment"]["id"]
t.ok(t.retry(lambda: not ping(NS["a1"], IP["b1"]), timeout=5), "a 5 s cut of subnet A is on")
lab.restart_vpcd()
t.ok(not ping(NS["a1"], IP["b1"]), "after kill -9 of vpcd and its restart, the cut is still on (journaled)")
x = wait_experiment(XMID, timeout=30)
t.ok(x["state"]["status"] == "completed" and t.retry(lambda: ping(NS["a1"], IP["b1"]), timeout=3),
     "the experiment completes and undoes the cut through the new vpcd", x)

# --------------------------------------------------------------------------- kill -9 of ec2d
LONG = template("cut A for a minute", {"cut": {"actionId": "aws:network:disrupt-connectivity",
                                               "parameters": {"duration": "PT60S"}, "targets": {"Subnets": "s"}}},
                {"s": subnet_target(A)})
TLONG = fis.create_experiment_template(**LONG)["experimentTemplate"]["id"]
XLONG = fis.start_experiment(experimentTemplateId=TLONG)["experiment"]["id"]
t.ok(t.retry(lambda: not ping(NS["a1"], IP["b1"]), timeout=5), "a minute-long cut of subnet A is on")
lab.ec2d_proc.send_signal(signal.SIGKILL)
lab.ec2d_proc.wait()
lab.vpcd_proc.terminate()
lab.vpcd_proc.wait()
lab._start()
ec2 = lab.client
fis = lab.boto3_client(service="fis")
x = wait_experiment(XLONG, states=("failed",), timeout=30)
t.ok(x["state"]["status"] == "failed" and "restarted" in x["state"]["reason"] and
     x["actions"]["cut"]["state"]["status"] == "failed",
     "after kill -9 of ec2d and a restart: the experiment is failed, with the reason", x)
t.ok(t.retry(lambda: ping(NS["a1"], IP["b1"]), timeout=5), "... and the cut is undone: a1 reaches b1")
rc, faults, _ = lab.vpcd("describe-faults")
t.is_((faults or {}).get("Faults"), [], "... and vpcd has no fault left")
t.ok(TID in templates(), "templates survive the restart")
rc, _, err = lab.vpcd("audit-lab")
t.is_(rc, 0, "audit-lab: the kernel matches the model", err)

# --------------------------------------------------------------------------- instances
if not lab.image_ready():
    t.skip("instance faults", "image busybox is not built (images/build busybox)")
    t.done()
bb = ec2.describe_images(Filters=[{"Name": "name", "Values": ["busybox"]}])["Images"][0]["ImageId"]
I = ec2.run_instances(ImageId=bb, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=B, SecurityGroupIds=[SG],
                      TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "web"}]}]
                      )["Instances"][0]["InstanceId"]
t.ok(lab.wait_ready(I), "an instance tagged role=web runs in subnet B")
IIP = lab.instance(I)["PrivateIpAddress"]
STOP = template("stop the web", {"stop": {"actionId": "aws:ec2:stop-instances",
                                          "parameters": {"startInstancesAfterDuration": "PT3S"},
                                          "targets": {"Instances": "web"}}},
                {"web": {"resourceType": "aws:ec2:instance", "selectionMode": "ALL", "resourceTags": {"role": "web"},
                         "filters": [{"path": "State.Name", "values": ["running"]}]}})
TSTOP = fis.create_experiment_template(**STOP)["experimentTemplate"]["id"]
XSTOP = fis.start_experiment(experimentTemplateId=TSTOP)["experiment"]["id"]
t.ok(lab.wait_state(I, "stopped", 20), "stop-instances: the instance is stopped")
x = wait_experiment(XSTOP, timeout=60)
t.ok(x["state"]["status"] == "completed" and lab.wait_state(I, "running", 30),
     "... and started again after startInstancesAfterDuration; the experiment completes", x)
t.ok(lab.wait_ready(I), "the instance is ready again")
PAUSE = template("freeze the web", {"freeze": {"actionId": "vpclab:ec2:pause-instances",
                                               "parameters": {"duration": "PT3S"}, "targets": {"Instances": "web"}}},
                 {"web": {"resourceType": "aws:ec2:instance", "selectionMode": "ALL",
                          "resourceArns": ["arn:aws:ec2:us-east-1:123456789012:instance/" + I]}})
TPAUSE = fis.create_experiment_template(**PAUSE)["experimentTemplate"]["id"]
t.ok(t.retry(lambda: ping(NS["b1"], IIP), timeout=10), "b1 pings the instance")
XPAUSE = fis.start_experiment(experimentTemplateId=TPAUSE)["experiment"]["id"]
t.retry(lambda: fis.get_experiment(id=XPAUSE)["experiment"]["state"]["status"] == "running", timeout=5, interval=0.05)
t.ok(not ping(NS["b1"], IIP, count=2) and lab.instance(I)["State"]["Name"] == "running",
     "pause-instances: the instance no longer answers, and EC2 still says running")
x = wait_experiment(XPAUSE, timeout=30)
t.ok(x["state"]["status"] == "completed" and t.retry(lambda: ping(NS["b1"], IIP), timeout=5),
     "... and answers again once resumed", x)

WEB = {"web": {"resourceType": "aws:ec2:instance", "selectionMode": "ALL",
               "resourceArns": ["arn:aws:ec2:us-east-1:123456789012:instance/" + I]}}
CRASH = template("crash the web", {"crash": {"actionId": "vpclab:ec2:crash-instances",
                                             "parameters": {"startInstancesAfterDuration": "PT3S"},
                                             "targets": {"Instances": "web"}}}, WEB)
XCRASH = fis.start_experiment(experimentTemplateId=fis.create_experiment_template(**CRASH)["experimentTemplate"]["id"]
                              )["experiment"]["id"]
t.ok(lab.wait_state(I, "stopped", 10) and "Server.InternalError" in lab.instance(I)["StateTransitionReason"],
     "crash-instances: the domain is destroyed, the instance stopped with Server.InternalError",
     lab.instance(I).get("StateTransitionReason"))
x = wait_experiment(XCRASH, timeout=60)
t.ok(x["state"]["status"] == "completed" and lab.wait_state(I, "running", 30) and lab.wait_ready(I),
     "... and it runs again after startInstancesAfterDuration", x)

# AZ power interruption of us-east-1b: its instance stops, its subnet is cut, launches into it fail.
POWER = template("power off us-east-1b", {"power": {"actionId": "vpclab:ec2:az-power-interruption", "parameters": {
    "duration": "PT8S", "availabilityZoneIdentifier": "us-east-1b"}}})
XPOWER = fis.start_experiment(experimentTemplateId=fis.create_experiment_template(**POWER)["experimentTemplate"]["id"]
                              )["experiment"]["id"]
t.ok(lab.wait_state(I, "stopped", 15), "az-power-interruption: the zone's instance is stopped")
t.ok(not ping(NS["a1"], IP["b1"]) and ping(NS["a1"], IP["c1"]),
     "... subnet B (us-east-1b) is cut off, subnet C (us-east-1a) is not")
code = t.call_error(ec2.run_instances, ImageId=bb, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=B, DryRun=True)
code_a = t.call_error(ec2.run_instances, ImageId=bb, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=C, DryRun=True)
t.ok(code[0] == "InsufficientInstanceCapacity" and code_a[0] == "DryRunOperation",
     "... RunInstances into us-east-1b: InsufficientInstanceCapacity; into us-east-1a it would succeed", code, code_a)
x = wait_experiment(XPOWER, timeout=60)
t.ok(x["state"]["status"] == "completed" and lab.wait_state(I, "running", 30) and
     t.retry(lambda: ping(NS["a1"], IP["b1"]), timeout=5),
     "power back: the instance runs again and subnet B is reachable", x)
code = t.call_error(ec2.run_instances, ImageId=bb, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=B, DryRun=True)
t.is_(code[0], "DryRunOperation", "... and RunInstances into us-east-1b would succeed again")
t.done()
