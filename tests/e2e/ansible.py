#!/usr/bin/env python3
"""Ansible's amazon.aws modules, from Debian's ansible package, run unchanged against the lab:
tests/e2e/ansible/lab.yml builds a public/private lab (VPC, subnets, internet gateway, route
tables, NAT gateway, security group, key pair, two instances, an elastic IP) and reads it back
with the _info modules and aws_caller_info (STS). The test then checks what the playbook made,
in the model (boto3) and in packets: ssh with the key the playbook saved reaches the web
instance at its elastic IP from the simulated internet, and the private instance reaches the
internet host as the NAT gateway's address. A second run of the same playbook changes nothing
(changed=0), which needs every describe, filter and tag to answer as EC2 does.
"""
import json
import os
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ansible", "lab.yml")
if not shutil.which("ansible-playbook"):
    t.skip_all("no ansible-playbook (apt-get install ansible; scripts/setup does)")

lab = t.Lab("198.19.128.0/21")
ec2 = lab.client
tmp = tempfile.mkdtemp(prefix="vpclab-ansible-")
KEY = os.path.join(tmp, "lab1-key.pem")
AMI = ec2.describe_images(Filters=[{"Name": "name", "Values": ["busybox"]}])["Images"][0]["ImageId"]


def play():
    """One run of the playbook with the json callback: (exit code, stats of localhost, the
    tasks' results by name)."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_LOCAL_TEMP=os.path.join(tmp, "local"), ANSIBLE_REMOTE_TEMP=os.path.join(tmp, "remote"))
    rc, out, err = t.run(["ansible-playbook", PLAYBOOK, "-e", "endpoint=" + lab.endpoint, "-e",
                          "access_key=" + lab.key, "-e", "secret_key=" + lab.secret, "-e", "image=" + AMI,
                          "-e", "key_file=" + KEY], env=env, timeout=400)
    try:
        doc = json.loads(out)
    except ValueError:
        t.bail("ansible-playbook printed no JSON (%d): %s %s" % (rc, out[-2000:], err[-2000:]))
    tasks = {}
    for p in doc.get("plays", []):
        for task in p.get("tasks", []):
            tasks[task["task"]["name"]] = task["hosts"].get("localhost", {})
    failed = [(n, r.get("msg", "")) for n, r in tasks.items() if r.get("failed")]
    if failed:
        t.diag("failed tasks: %s" % json.dumps(failed)[:3000])
    return rc, doc.get("stats", {}).get("localhost", {}), tasks


rc, stats, tasks = play()
t.ok(rc == 0 and stats.get("failures") == 0, "the playbook runs to its end", stats)
t.ok(stats.get("changed", 0) >= 12, "... and its tasks made the lab (changed=%s)" % stats.get("changed"))
t.ok(tasks.get("It is what the tasks asked for", {}).get("msg") == "All assertions passed",
     "the _info modules and aws_caller_info read back what the tasks asked for")
built = tasks.get("The lab", {}).get("msg") or t.bail("the playbook printed no lab: %s" % stats)
t.diag("built: %s" % json.dumps(built))

# The model, through boto3.
V = built["vpc"]
vpc = ec2.describe_vpcs(VpcIds=[V])["Vpcs"][0]
t.ok(vpc["CidrBlock"] == "10.10.0.0/16" and {"Key": "lab", "Value": "lab1"} in vpc.get("Tags", []),
     "the VPC: its CIDR and its tags", vpc)
t.ok(ec2.describe_vpc_attribute(VpcId=V, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"],
     "dns_hostnames: true set EnableDnsHostnames")
subnets = {s["CidrBlock"]: s for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [V]}])["Subnets"]}
t.ok(subnets.get("10.10.1.0/24", {}).get("MapPublicIpOnLaunch") is True and
     subnets.get("10.10.2.0/24", {}).get("MapPublicIpOnLaunch") is False,
     "map_public: the public subnet maps public addresses on launch, the private one does not")


def default_route(subnet):
    rt = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["RouteTables"]
    return [r for x in rt for r in x["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]


pub_route = default_route(subnets["10.10.1.0/24"]["SubnetId"])
priv_route = default_route(subnets["10.10.2.0/24"]["SubnetId"])
t.ok(len(pub_route) == 1 and pub_route[0].get("GatewayId", "").startswith("igw-"),
     "the public subnet's table: 0.0.0.0/0 to the internet gateway", pub_route)
t.ok(len(priv_route) == 1 and priv_route[0].get("NatGatewayId", "").startswith("nat-"),
     "the private subnet's table: 0.0.0.0/0 to the NAT gateway", priv_route)
web = ec2.describe_instances(InstanceIds=[built["web"]])["Reservations"][0]["Instances"][0]
t.ok(web.get("KeyName") == "lab1-key" and web.get("PublicIpAddress") == built["public_ip"] and
     {"Key": "Name", "Value": "lab1-web"} in web.get("Tags", []),
     "the web instance: its key pair, its elastic IP, its Name tag", web.get("KeyName"), web.get("PublicIpAddress"))

# Packets: ssh from the simulated internet with the key the playbook saved.
region = lab.lab_region() or {}
RNS, HOST = region.get("Namespace", "none"), region.get("InternetHost", {}).get("PublicIp", "")


def ssh(*cmd):
    return t.run(["ip", "netns", "exec", RNS, "ssh", "-b", HOST, "-i", KEY, "-o", "BatchMode=yes", "-o",
                  "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=3",
                  "-o", "LogLevel=ERROR", "root@" + built["public_ip"]] + list(cmd), timeout=20)


got = t.retry(lambda: (lambda r: r[1].strip() if r[0] == 0 else None)(
    ssh("wget", "-q", "-O", "-", "http://169.254.169.254/latest/meta-data/instance-id")), timeout=30)
t.is_(got, built["web"], "ssh -i KEY root@%s from the internet: a shell on the web instance" % built["public_ip"])
# The internet host's port 80 answers with the caller's source address.
got = t.retry(lambda: (lambda r: r[1].strip() if r[0] == 0 else None)(
    lab.exec(built["app"], "wget", "-q", "-O", "-", "http://%s/" % HOST, timeout=10)), timeout=40)
t.is_(got, built["nat_public_ip"],
      "the private instance reaches the internet host, seen as the NAT gateway's address")

# Again: nothing to change.
rc, stats, tasks = play()
t.ok(rc == 0 and stats.get("failures") == 0, "the playbook runs a second time", stats)
changed = [n for n, r in tasks.items() if r.get("changed")]
t.ok(stats.get("changed") == 0, "... and changes nothing (changed=0)", changed)
t.is_(len(ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]),
      2, "still two instances")
t.is_(len(ec2.describe_nat_gateways()["NatGateways"]), 1, "still one NAT gateway")
shutil.rmtree(tmp, ignore_errors=True)
t.done()
