#!/usr/bin/env python3
"""End to end: the JavaScript SDK v3 (@aws-sdk/client-ec2 from npm, under node; scripts/setup
installs it in /var/lib/vpclab/node, VPCLAB_NODE_DIR) against ec2d's endpoint. js_sdk.mjs builds
a public subnet behind an internet gateway, a web group, an instance (RunInstances with user
data, the SDK's waiter) and an elastic IP, with an error and a paginator on the way; this script
judges each step, then checks with packets that the internet test host reaches the instance's
web page at the EIP, and has js_sdk.mjs take it all apart (the terminated waiter, deletes).
The Lab's cleanup checks that nothing is left."""
import json
import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.environ.get("VPCLAB_NODE_DIR", "/var/lib/vpclab/node")
lab = t.Lab("198.18.68.0/22")
if not shutil.which("node") or not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@aws-sdk", "client-ec2")):
    t.ok(False, "node and @aws-sdk/client-ec2 in %s (scripts/setup installs them)" % NODE_DIR)
    t.done()
if not lab.image_ready("busybox", wait=5):
    t.skip_all("no busybox image (images/build busybox)")
ver = json.load(open(os.path.join(NODE_DIR, "node_modules", "@aws-sdk", "client-ec2", "package.json")))["version"]
t.diag("node %s, @aws-sdk/client-ec2 %s" % (t.run(["node", "--version"])[1].strip(), ver))

# ES modules resolve packages from the script's own directory up: the script goes beside a link
# to the installed node_modules.
work = os.path.join(lab.dir, "js")
os.makedirs(work, exist_ok=True)
shutil.copy(os.path.join(HERE, "js_sdk.mjs"), work)
if not os.path.exists(os.path.join(work, "node_modules")):
    os.symlink(os.path.join(NODE_DIR, "node_modules"), os.path.join(work, "node_modules"))
env = dict(os.environ, ENDPOINT=lab.endpoint, AWS_ACCESS_KEY_ID=lab.key, AWS_SECRET_ACCESS_KEY=lab.secret,
           AWS_REGION=lab.region, AMI=lab.ami("busybox"),
           USER_DATA="#!/bin/sh\nid=$(wget -q -O - http://169.254.169.254/latest/meta-data/instance-id)\n"
                     "mkdir -p /www && echo \"js $id\" > /www/index.html\nhttpd -h /www -p 80\n")
for k in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
    env.pop(k, None)


def node(*args):
    p = subprocess.run(["node", os.path.join(work, "js_sdk.mjs")] + list(args), env=env, capture_output=True,
                       text=True, timeout=300)
    steps = {}
    for line in p.stdout.splitlines():
        try:
            o = json.loads(line)
            steps[o["step"]] = o
        except (ValueError, KeyError):
            pass
    return p.returncode, steps, p.stderr


rc, s, err = node("up")
t.ok(rc == 0, "node js_sdk.mjs up runs to its end", err[-1500:], [v for v in s.values() if not v["ok"]])
g = lambda k: s.get(k, {})  # noqa: E731
t.ok(g("CreateVpc").get("id", "").startswith("vpc-") and g("CreateVpc").get("cidr") == "10.91.0.0/16" and
     {"Key": "Name", "Value": "js"} in (g("CreateVpc").get("tags") or []),
     "CreateVpcCommand: the VPC, its CIDR and its tag", g("CreateVpc"))
t.is_(g("CreateSubnet").get("free"), 251, "CreateSubnetCommand: a /24 with 251 free addresses (five reserved)")
t.ok(g("CreateRouteTable").get("assoc", "").startswith("rtbassoc-"), "route table, 0.0.0.0/0 to the gateway, associated")
t.ok(g("CreateSecurityGroup").get("ret") is True and g("CreateSecurityGroup").get("rules") == 1,
     "AuthorizeSecurityGroupIngressCommand: Return true and the one rule", g("CreateSecurityGroup"))
t.is_((g("DescribeVpcs-NotFound").get("error"), g("DescribeVpcs-NotFound").get("status")),
      ("InvalidVpcID.NotFound", 400), "an unknown VPC: the SDK throws InvalidVpcID.NotFound (HTTP 400)")
t.is_(g("paginateDescribeSecurityGroups").get("names"), ["default", "js-web"],
      "paginateDescribeSecurityGroups with pageSize 5 walks the VPC's groups")
t.is_(g("waitUntilInstanceRunning").get("state"), "SUCCESS", "waitUntilInstanceRunning: SUCCESS")
eip = g("AllocateAddress").get("eip")
t.ok(eip and g("AllocateAddress").get("seen") == eip, "AllocateAddress + AssociateAddress: the instance's public IP",
     g("AllocateAddress"))
ids = g("ids").get("ids", {})

# Packets: the internet test host fetches the instance's page at the EIP.
region = lab.lab_region() or {}
ns, host = region.get("Namespace"), region.get("InternetHost", {}).get("PublicIp")
page = t.retry(lambda: lab.curl(ns, "http://%s/" % eip, interface=host), timeout=30) if eip else None
t.is_((page or "").strip(), "js %s" % ids.get("instance"),
      "the internet test host gets http://%s/, the page of the instance the SDK launched" % eip)

if ids:
    rc, s, err = node("down", json.dumps(ids))
    t.ok(rc == 0, "node js_sdk.mjs down runs to its end", err[-1500:], [v for v in s.values() if not v["ok"]])
    t.is_(s.get("TerminateInstances", {}).get("state"), "SUCCESS", "waitUntilInstanceTerminated: SUCCESS")
    t.is_(s.get("Teardown", {}).get("vpcs_left"), 0, "every object deleted through the SDK; the VPC is gone")
    t.ok(lab.curl(ns, "http://%s/" % eip, interface=host, timeout=1) is None, "http://%s/ answers no more" % eip)
t.done()
