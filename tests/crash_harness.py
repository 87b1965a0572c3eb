#!/usr/bin/env python3
"""Crash consistency of vpcd under kill -9, measured.

A seeded random workload over vpcd's object kinds (VPCs, subnets, security groups and their
rules, route tables and routes, internet gateways, network ACLs and entries, ENIs, tags) goes
through the control socket. At seeded points vpcd is killed with SIGKILL a seeded 0-8 ms after
a request was sent, then restarted. After each restart:
  - every acknowledged operation's effect is there: the described state equals the state
    described after the last acknowledged operation, or, when the request in flight was
    carried out before the kill, that state plus the whole of its effect (a VPC with its
    default security group, main route table and default ACL; a repeated request answers
    "already"/"not found" and changes nothing);
  - the kernel matches the model in what this harness can see from outside: one namespace per
    VPC and none for a VPC that does not exist, one bridge per subnet in it.
At the end the lab is torn down and no namespace or link with the prefix may remain.

With --dnsmasq-kills M, a VPC's dnsmasq is killed with SIGKILL at M other seeded points, vpcd
left running, and must be running again within 5 s (dnsmasq_kills, dnsmasq_restarted).
Prints one JSON report line on stdout: operations, acknowledged, refused, kills (of which
unanswered_kills: the request had no answer; carried_out_unanswered: ... and was carried out
all the same), recoveries, acknowledged_lost, half_applied, kernel_mismatches, leaked,
seconds. Diagnostics go to stderr. --lose-journal-at N empties the journal after the Nth kill:
a self-check that the harness sees lost acknowledged changes.
  crash_harness.py --vpcd PATH --prefix P --dir DIR [--ops N] [--kills K] [--seed S]
Used by tests/integration/crash.sh and bench/crash.
"""
import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True

KINDS = [("DescribeVpcs", "Vpcs", "VpcId"), ("DescribeSubnets", "Subnets", "SubnetId"),
         ("DescribeSecurityGroups", "SecurityGroups", "GroupId"),
         ("DescribeRouteTables", "RouteTables", "RouteTableId"),
         ("DescribeInternetGateways", "InternetGateways", "InternetGatewayId"),
         ("DescribeNetworkAcls", "NetworkAcls", "NetworkAclId"),
         ("DescribeNetworkInterfaces", "NetworkInterfaces", "NetworkInterfaceId")]
ALREADY = ("Duplicate", "AlreadyExists", "AlreadyAssociated", "NotFound", "DependencyViolation",
           "InvalidParameterValue", "Conflict", "Gateway.NotAttached")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class Vpcd:
    def __init__(self, binary, prefix, d):
        self.binary, self.prefix, self.dir = binary, prefix, d
        self.state, self.run = os.path.join(d, "state"), os.path.join(d, "run")
        self.sock = os.path.join(self.run, "vpcd.sock")
        self.config = os.path.join(d, "config.json")
        with open(self.config, "w") as f:
            json.dump({"default_vpc": False}, f)
        self.logf = open(os.path.join(d, "vpcd.log"), "ab")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.binary, "serve", "--state-dir", self.state, "--run-dir", self.run,
                                      "--prefix", self.prefix, "--config", self.config],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.logf)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("vpcd exited during start-up (%d)" % self.proc.returncode)
            try:
                self.call("DescribeVpcs")
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("vpcd does not answer")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def send(self, action, params=None):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.sock)
        s.sendall(json.dumps({"Action": action, "Region": "us-east-1", "Params": params or {}}).encode() + b"\n")
        return s

    @staticmethod
    def answer(s, timeout=None):
        """The answer line read from s: ("ok", result), ("error", code) or (None, None) when the
        connection ended (or `timeout` passed) without one."""
        s.settimeout(timeout)
        buf = b""
        try:
            while True:
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    m = json.loads(line)
                    if "Result" in m:
                        return ("ok", m["Result"])
                    if "Error" in m:
                        return ("error", m["Error"]["Code"])
                c = s.recv(65536)
                if not c:
                    return (None, None)
                buf += c
        except (socket.timeout, ConnectionResetError):
            return (None, None)
        finally:
            s.close()

    def call(self, action, params=None):
        return self.answer(self.send(action, params), timeout=60)


def snapshot(v):
    snap = {}
    for action, key, idk in KINDS:
        st, res = v.call(action)
        if st != "ok":
            raise RuntimeError("%s failed: %s" % (action, res))
        snap[key] = sorted(res[key], key=lambda o: o[idk])
    return snap


def ids(snap, key, idk, pred=lambda o: True):
    return [o[idk] for o in snap[key] if pred(o)]


def pick_op(rng, snap, n):
    """An operation (action, params, create-marker) on the current state, chosen by rng."""
    vpcs = ids(snap, "Vpcs", "VpcId")
    subnets = snap["Subnets"]
    sgs = [g for g in snap["SecurityGroups"] if g["GroupName"] != "default"]
    rtbs = [r for r in snap["RouteTables"] if not any(a.get("Main") for a in r.get("Associations", []))]
    igws = snap["InternetGateways"]
    acls = [a for a in snap["NetworkAcls"] if not a["IsDefault"]]
    enis = snap["NetworkInterfaces"]
    marker = "crash-%d" % n
    tag = lambda rt: [{"ResourceType": rt, "Tags": [{"Key": "op", "Value": marker}]}]  # noqa: E731
    choices = []
    if len(vpcs) < 6:
        choices += [("CreateVpc", {"CidrBlock": "10.%d.0.0/16" % rng.randrange(256), "TagSpecifications": tag("vpc")})] * 3
    if vpcs:
        v = rng.choice(vpcs)
        # Inside the VPC's /16 (so that subnets, ENIs and the VPC's dnsmasq exist), or anywhere
        # in 10/8 (mostly refused: outside the VPC).
        second = next((x["CidrBlock"].split(".")[1] for x in snap["Vpcs"] if x["VpcId"] == v), "0")
        inside = "10.%s.%d.0/24" % (second, rng.randrange(256))
        anywhere = "10.%d.%d.0/24" % (rng.randrange(256), rng.randrange(256))
        choices += [("CreateSubnet", {"VpcId": v, "CidrBlock": rng.choice((inside, anywhere)),
                                      "TagSpecifications": tag("subnet")}),
                    ("CreateSecurityGroup", {"VpcId": v, "GroupName": marker, "Description": "crash",
                                             "TagSpecifications": tag("security-group")}),
                    ("CreateRouteTable", {"VpcId": v, "TagSpecifications": tag("route-table")}),
                    ("CreateNetworkAcl", {"VpcId": v, "TagSpecifications": tag("network-acl")}),
                    ("CreateInternetGateway", {"TagSpecifications": tag("internet-gateway")}),
                    ("CreateTags", {"Resources": [v], "Tags": [{"Key": "k%d" % rng.randrange(4), "Value": marker}]}),
                    ("DeleteTags", {"Resources": [v], "Tags": [{"Key": "k%d" % rng.randrange(4)}]}),
                    ("DeleteVpc", {"VpcId": v})]
    if subnets:
        s = rng.choice(subnets)
        choices += [("CreateNetworkInterface", {"SubnetId": s["SubnetId"], "TagSpecifications": tag("network-interface")}),
                    ("DeleteSubnet", {"SubnetId": s["SubnetId"]})]
    if sgs:
        g = rng.choice(sgs)
        perm = [{"IpProtocol": "tcp", "FromPort": rng.randrange(1, 100), "ToPort": 100,
                 "IpRanges": [{"CidrIp": "192.0.2.%d/32" % rng.randrange(256)}]}]
        choices += [("AuthorizeSecurityGroupIngress", {"GroupId": g["GroupId"], "IpPermissions": perm})] * 2
        if g["IpPermissions"]:
            choices.append(("RevokeSecurityGroupIngress", {"GroupId": g["GroupId"], "IpPermissions": [g["IpPermissions"][0]]}))
        choices.append(("DeleteSecurityGroup", {"GroupId": g["GroupId"]}))
    if rtbs:
        r = rng.choice(rtbs)
        choices += [("CreateRoute", {"RouteTableId": r["RouteTableId"], "DestinationCidrBlock": "198.51.100.%d/32" % rng.randrange(256),
                                     "GatewayId": rng.choice(ids(snap, "InternetGateways", "InternetGatewayId") or ["igw-0"])})]
        routes = [x for x in r["Routes"] if x.get("GatewayId") != "local"]
        if routes:
            choices.append(("DeleteRoute", {"RouteTableId": r["RouteTableId"], "DestinationCidrBlock": routes[0]["DestinationCidrBlock"]}))
        choices.append(("DeleteRouteTable", {"RouteTableId": r["RouteTableId"]}))
    if igws and vpcs:
        g = rng.choice(igws)
        if g["Attachments"]:
            choices.append(("DetachInternetGateway", {"InternetGatewayId": g["InternetGatewayId"], "VpcId": g["Attachments"][0]["VpcId"]}))
        else:
            choices += [("AttachInternetGateway", {"InternetGatewayId": g["InternetGatewayId"], "VpcId": rng.choice(vpcs)}),
                        ("DeleteInternetGateway", {"InternetGatewayId": g["InternetGatewayId"]})]
    if acls:
        a = rng.choice(acls)
        choices.append(("CreateNetworkAclEntry", {"NetworkAclId": a["NetworkAclId"], "RuleNumber": rng.randrange(1, 200),
                                                  "Protocol": "6", "RuleAction": "allow", "Egress": False,
                                                  "CidrBlock": "0.0.0.0/0", "PortRange": {"From": 80, "To": 80}}))
        choices.append(("DeleteNetworkAcl", {"NetworkAclId": a["NetworkAclId"]}))
    if enis:
        choices.append(("DeleteNetworkInterface", {"NetworkInterfaceId": rng.choice(enis)["NetworkInterfaceId"]}))
    action, params = rng.choice(choices)
    return action, params, marker if action.startswith("Create") and "TagSpecifications" in params else None


def tagged(snap, marker):
    """The objects carrying tag op=marker: (key, object) pairs."""
    out = []
    for _, key, _ in KINDS:
        for o in snap[key]:
            # Network interfaces carry theirs as TagSet, as EC2 answers.
            if {"Key": "op", "Value": marker} in o.get("Tags", o.get("TagSet", [])):
                out.append((key, o))
    return out


def whole_create(snap, marker):
    """A create carried out whole: exactly one object with the marker, and for a VPC its
    default security group, main route table and default ACL."""
    objs = tagged(snap, marker)
    if len(objs) != 1:
        return False
    key, o = objs[0]
    if key == "Vpcs":
        v = o["VpcId"]
        return (any(g["VpcId"] == v and g["GroupName"] == "default" for g in snap["SecurityGroups"]) and
                any(r["VpcId"] == v and any(a.get("Main") for a in r["Associations"]) for r in snap["RouteTables"]) and
                any(a["VpcId"] == v and a["IsDefault"] for a in snap["NetworkAcls"]))
    return True


TARGET_KEYS = ("VpcId", "SubnetId", "GroupId", "RouteTableId", "InternetGatewayId", "NetworkAclId",
               "NetworkInterfaceId")


def find(snap, i):
    """The object with ID i in a snapshot, or None."""
    for _, key, idk in KINDS:
        for o in snap[key]:
            if o[idk] == i:
                return o
    return None


def changed_ids(a, b):
    """IDs of objects added, removed or changed between two snapshots."""
    out = set()
    for _, key, idk in KINDS:
        x = {o[idk]: o for o in a[key]}
        y = {o[idk]: o for o in b[key]}
        out |= {i for i in x.keys() | y.keys() if x.get(i) != y.get(i)}
    return out


def allowed_ids(action, params, before, after, marker):
    """What the in-flight request may have changed, carried out whole."""
    ok = {params[k] for k in TARGET_KEYS if k in params} | set(params.get("Resources", []))
    if marker:
        for _, o in tagged(after, marker):
            ok |= {o.get(k) for k in TARGET_KEYS if o.get(k)}
    vpcs = {params.get("VpcId")} | {o["VpcId"] for o in before["Subnets"] if o["SubnetId"] == params.get("SubnetId")}
    if marker:
        vpcs |= {o.get("VpcId") for _, o in tagged(after, marker)}
    for snap in (before, after):
        for _, key, idk in KINDS:
            for o in snap[key]:
                # A VPC's own objects (defaults, ACL associations of its subnets).
                if o.get("VpcId") in vpcs and key in ("SecurityGroups", "RouteTables", "NetworkAcls") and (
                        action in ("CreateVpc", "DeleteVpc", "CreateSubnet", "DeleteSubnet")):
                    ok.add(o[idk])
    return ok


def noop(action, params, snap):
    """True when an acknowledged request changes nothing visible (tags already so)."""
    if action not in ("CreateTags", "DeleteTags"):
        return False
    vpc = [x for x in snap["Vpcs"] if x["VpcId"] == params["Resources"][0]]
    have = vpc[0].get("Tags", []) if vpc else []
    if action == "CreateTags":
        return all(t in have for t in params["Tags"])
    return not any(h["Key"] == t["Key"] for t in params["Tags"] for h in have)


def kernel_check(v, snap):
    """Mismatches between the described VPCs and subnets and the namespaces and bridges, and
    what vpcd's own audit (AuditLab) finds."""
    bad = []
    st, res = v.call("AuditLab")
    if st != "ok":
        bad.append("audit-lab: %s" % res)
    have = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())
    want = {"%s-%s" % (v.prefix, x["VpcId"]) for x in snap["Vpcs"]}
    vpc_ns = {n for n in have if n.startswith(v.prefix + "-vpc-")}
    for n in sorted(want - vpc_ns):
        bad.append("no namespace %s" % n)
    for n in sorted(vpc_ns - want):
        bad.append("stray namespace %s" % n)
    for x in snap["Vpcs"]:
        ns = "%s-%s" % (v.prefix, x["VpcId"])
        if ns not in have:
            continue
        out = subprocess.run(["ip", "-n", ns, "-o", "link", "show", "type", "bridge"], capture_output=True, text=True).stdout
        nb = sum(1 for line in out.splitlines() if line.split(": ")[1].startswith(v.prefix))
        ns_sub = sum(1 for s in snap["Subnets"] if s["VpcId"] == x["VpcId"])
        if nb != ns_sub:
            bad.append("%s: %d bridges for %d subnets" % (ns, nb, ns_sub))
    return bad


def dnsmasqs(v):
    """VPC ID -> pid of its running dnsmasq (from the pid files under the run dir)."""
    out = {}
    d = os.path.join(v.run, "dns")
    for vpc in (os.listdir(d) if os.path.isdir(d) else []):
        try:
            pid = int(open(os.path.join(d, vpc, "pid")).read().split()[0])
            if open("/proc/%d/comm" % pid).read().strip() == "dnsmasq":
                out[vpc] = pid
        except (OSError, ValueError, IndexError):
            pass
    return out


def kill_dnsmasq(rng, v):
    """kill -9 of one of the lab's dnsmasqs, chosen by the seed; True once vpcd has started that
    VPC's again (within 5 s), None when none runs."""
    running = dnsmasqs(v)
    if not running:
        return None
    vpc = rng.choice(sorted(running))
    old = running[vpc]
    os.kill(old, signal.SIGKILL)
    end = time.monotonic() + 5
    while time.monotonic() < end:
        new = dnsmasqs(v).get(vpc)
        if new and new != old:
            return True
        time.sleep(0.05)
    log("the dnsmasq of %s (pid %d), killed, was not started again" % (vpc, old))
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vpcd", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--ops", type=int, default=1000)
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--dnsmasq-kills", type=int, default=0,
                    help="also kill -9 a VPC's dnsmasq at this many seeded points, vpcd left running")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lose-journal-at", type=int, default=None,
                    help="self-check: empty the journal after kill N, so acknowledged changes are lost")
    a = ap.parse_args()
    lose_at = a.lose_journal_at
    rng = random.Random(a.seed)
    kill_at = set(rng.sample(range(1, a.ops), min(a.kills, a.ops - 1)))
    dns_at = set(rng.sample(sorted(set(range(1, a.ops)) - kill_at), min(a.dnsmasq_kills, a.ops - 1 - len(kill_at))))
    v = Vpcd(a.vpcd, a.prefix, a.dir)
    rep = dict(operations=0, acknowledged=0, refused=0, kills=0, unanswered_kills=0,
               carried_out_unanswered=0, recoveries=0, acknowledged_lost=0,
               half_applied=0, kernel_mismatches=0, leaked=0, dnsmasq_kills=0, dnsmasq_restarted=0,
               seed=a.seed)
    t0 = time.monotonic()
    v.start()
    try:
        snap = snapshot(v)
        for n in range(a.ops):
            action, params, marker = pick_op(rng, snap, n)
            rep["operations"] += 1
            if n in dns_at:
                back = kill_dnsmasq(rng, v)
                if back is not None:
                    rep["dnsmasq_kills"] += 1
                    rep["dnsmasq_restarted"] += back
            if n not in kill_at:
                st, res = v.call(action, params)
                if st is None:
                    raise RuntimeError("%s: no answer" % action)
                rep["acknowledged" if st == "ok" else "refused"] += 1
                if st == "ok" or rng.random() < 0.1:
                    snap = snapshot(v)
                continue
            # A kill while the request is in flight.
            s = v.send(action, params)
            # Most requests take 1-10 ms: kill within that, at a seeded point.
            time.sleep(rng.choice((0, 0.0002, 0.0005, 0.001, 0.002, 0.004, 0.008)) * rng.random())
            v.kill()
            st, _ = Vpcd.answer(s, timeout=1)
            rep["kills"] += 1
            if lose_at is not None and rep["kills"] == lose_at:
                os.truncate(os.path.join(v.state, "journal"), 0)
            v.start()
            rep["recoveries"] += 1
            after = snapshot(v)
            if st is None:
                rep["unanswered_kills"] += 1
                rep["carried_out_unanswered"] += after != snap
            else:
                rep["acknowledged" if st == "ok" else "refused"] += 1
            foreign = changed_ids(snap, after) - allowed_ids(action, params, snap, after, marker)
            if foreign:
                rep["acknowledged_lost"] += 1
                log("op %d %s: after the kill, objects the request does not touch differ: %s" % (n, action, sorted(foreign)))
                for i in sorted(foreign):
                    log("  %s before: %s\n  %s after:  %s" % (i, find(snap, i), i, find(after, i)))
            elif after == snap:
                if st == "ok" and not noop(action, params, snap):
                    rep["acknowledged_lost"] += 1
                    log("op %d %s: acknowledged, lost after the kill" % (n, action))
            elif marker:
                if not whole_create(after, marker):
                    rep["half_applied"] += 1
                    log("op %d %s: half there after the kill: %s" % (n, action, tagged(after, marker)))
            else:
                # Carried out before the kill: the same request again changes nothing more.
                st2, code = v.call(action, params)
                again = snapshot(v)
                if again != after and not (st2 == "ok" and action == "CreateTags"):
                    rep["half_applied"] += 1
                    log("op %d %s: repeating it after the kill changed the state (%s %s)" % (n, action, st2, code))
                after = again
            for m in kernel_check(v, after):
                rep["kernel_mismatches"] += 1
                log("op %d, after restart: %s" % (n, m))
            snap = after
    finally:
        v.stop()
        subprocess.run([a.vpcd, "teardown", "--prefix", a.prefix, "--state-dir", v.state],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ns_left = [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                   if n.startswith(a.prefix + "-")]
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
        links_left = [line.split(": ")[1].split("@")[0] for line in links.splitlines()
                      if line.split(": ")[1].startswith(a.prefix)]
        rep["leaked"] = len(ns_left) + len(links_left)
        if rep["leaked"]:
            log("left after teardown: %s" % (ns_left + links_left))
        rep["seconds"] = round(time.monotonic() - t0, 1)
        print(json.dumps(rep), flush=True)


if __name__ == "__main__":
    main()
