#!/usr/bin/env python3
"""The HTTP API under load: 16 boto3 clients at once for a bounded time (LOAD_SECONDS, default
60), each a seeded mix of mutations and reads: tags on one VPC that all of them share (each
client its own key), rules on its own security group, subnets of its own in the shared VPC.
Every read checks the client's own last acknowledged writes (read-your-writes: a lost update
shows at once), no request may fail, and at the end the model holds exactly what the clients
were told, the VPC's namespace has one bridge per subnet, and neither daemon's memory has grown
between a warmed-up point and the end. p99 latencies per kind of call and RSS are printed.
"""
import collections
import os
import random
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

CLIENTS = 16
SECONDS = float(os.environ.get("LOAD_SECONDS", "60"))
SEED = int(os.environ.get("LOAD_SEED", "20261206"))
# AddressSanitizer's quarantine (256 MiB by default) would grow RSS with any churn: a small one,
# as in http_abuse.py, so that growth means a leak.
os.environ["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=2"]))

lab = t.Lab("198.19.152.0/21", need_aws=False)
V = lab.client.create_vpc(CidrBlock="10.70.0.0/16")["Vpc"]["VpcId"]
NS = lab.vpc_ns(V)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def p99(lat):
    s = sorted(lat)
    return s[max(0, int(len(s) * 0.99) - 1)] if s else 0.0


class Client(threading.Thread):
    def __init__(self, n):
        super().__init__(daemon=True)
        self.n, self.rnd = n, random.Random(SEED * 100 + n)
        self.ec2 = lab.boto3_client()
        self.key, self.value = "c%02d" % n, None
        self.sg = self.ec2.create_security_group(VpcId=V, GroupName="load-%02d" % n, Description="load")["GroupId"]
        self.ports = set()
        self.subnets = {}  # cidr -> id
        self.lat = collections.defaultdict(list)
        self.errors, self.stale = [], []
        self.ops = 0

    def call(self, kind, fn, **kw):
        t0 = time.monotonic()
        try:
            r = fn(**kw)
        except ClientError as ex:
            self.errors.append("%s: %s %s" % (kind, t.err_code(ex), ex.response["Error"].get("Message")))
            return None
        finally:
            self.lat[kind].append(time.monotonic() - t0)
        self.ops += 1
        return r

    def rules(self):
        r = self.call("read", self.ec2.describe_security_group_rules,
                      Filters=[{"Name": "group-id", "Values": [self.sg]}])
        if r is None:
            return None
        return {x["FromPort"] for x in r["SecurityGroupRules"] if not x["IsEgress"]}

    def step(self):
        x = self.rnd.random()
        if x < 0.25:
            v = str(self.ops)
            if self.call("tag", self.ec2.create_tags, Resources=[V], Tags=[{"Key": self.key, "Value": v}]) is not None:
                self.value = v
        elif x < 0.50:
            # Revokes often enough that a group stays well under EC2's 60 inbound rules.
            revoke = self.ports and (len(self.ports) >= 40 or self.rnd.random() < 0.4)
            port = self.rnd.choice(sorted(self.ports)) if revoke else None
            if port is not None:
                kw = dict(GroupId=self.sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                                                           "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
                if self.call("sg", self.ec2.revoke_security_group_ingress, **kw) is not None:
                    self.ports.discard(port)
            else:
                port = self.rnd.choice([p for p in range(1000, 1200) if p not in self.ports])
                kw = dict(GroupId=self.sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                                                           "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
                if self.call("sg", self.ec2.authorize_security_group_ingress, **kw) is not None:
                    self.ports.add(port)
        elif x < 0.65:
            cidr = "10.70.%d.0/24" % (self.n * 8 + self.rnd.randrange(8))
            if cidr in self.subnets:
                if self.call("subnet", self.ec2.delete_subnet, SubnetId=self.subnets[cidr]) is not None:
                    del self.subnets[cidr]
            else:
                r = self.call("subnet", self.ec2.create_subnet, VpcId=V, CidrBlock=cidr)
                if r is not None:
                    self.subnets[cidr] = r["Subnet"]["SubnetId"]
        else:
            # Reads, each checked against this client's own acknowledged writes.
            y = self.rnd.random()
            if y < 0.33:
                r = self.call("read", self.ec2.describe_vpcs, VpcIds=[V])
                if r is not None:
                    tags = {tg["Key"]: tg["Value"] for tg in r["Vpcs"][0].get("Tags", [])}
                    if tags.get(self.key) != self.value:
                        self.stale.append("tag %s: read %r after writing %r" % (self.key, tags.get(self.key), self.value))
            elif y < 0.66:
                got = self.rules()
                if got is not None and got != self.ports:
                    self.stale.append("rules of %s: read %s, have %s" % (self.sg, sorted(got), sorted(self.ports)))
            else:
                r = self.call("read", self.ec2.describe_subnets,
                              Filters=[{"Name": "vpc-id", "Values": [V]},
                                       {"Name": "cidr-block", "Values": ["10.70.%d.*" % (self.n * 8 + k) for k in range(8)]}])
                if r is not None:
                    got = {s["CidrBlock"]: s["SubnetId"] for s in r["Subnets"]}
                    if got != self.subnets:
                        self.stale.append("subnets: read %s, have %s" % (sorted(got), sorted(self.subnets)))

    def run(self):
        while time.monotonic() < END:
            self.step()


clients = [Client(n) for n in range(CLIENTS)]
warm = max(5.0, SECONDS / 6)
END = time.monotonic() + SECONDS
for c in clients:
    c.start()
time.sleep(warm)
rss0 = (rss_kib(lab.ec2d_proc.pid), rss_kib(lab.vpcd_proc.pid))
for c in clients:
    c.join(SECONDS + 120)
t.ok(not any(c.is_alive() for c in clients), "all %d clients finished within the time" % CLIENTS)
rss1 = (rss_kib(lab.ec2d_proc.pid), rss_kib(lab.vpcd_proc.pid))

ops = sum(c.ops for c in clients)
lat = collections.defaultdict(list)
for c in clients:
    for k, v in c.lat.items():
        lat[k].extend(v)
t.diag("%d clients, %.0f s: %d calls (%.0f/s)" % (CLIENTS, SECONDS, ops, ops / SECONDS))
for k in sorted(lat):
    t.diag("  %-6s %6d calls, p50 %6.1f ms, p99 %6.1f ms" % (k, len(lat[k]), sorted(lat[k])[len(lat[k]) // 2] * 1e3,
                                                              p99(lat[k]) * 1e3))
t.diag("RSS after %.0f s of warm-up / at the end: ec2d %d / %d KiB, vpcd %d / %d KiB" % (
    warm, rss0[0], rss1[0], rss0[1], rss1[1]))
errors = [e for c in clients for e in c.errors]
stale = [s for c in clients for s in c.stale]
t.ok(ops >= CLIENTS * 10, "every client made calls (%d in all)" % ops)
t.ok(not errors, "no call failed (%d errors)" % len(errors), *errors[:10])
t.ok(not stale, "every read showed the reader's own acknowledged writes (%d stale reads)" % len(stale), *stale[:10])

# ------------------------------------------------------------------ the end state
ec2 = lab.client
tags = {tg["Key"]: tg["Value"] for tg in ec2.describe_vpcs(VpcIds=[V])["Vpcs"][0].get("Tags", [])}
want = {c.key: c.value for c in clients if c.value is not None}
t.is_(tags, want, "the shared VPC has each client's last tag value, and nothing else (%d keys)" % len(want))
bad = [c.sg for c in clients if c.rules() != c.ports]
t.ok(not bad, "each security group has exactly its client's acknowledged rules (%d rules in all)" %
     sum(len(c.ports) for c in clients), bad)
subnets = {s["SubnetId"]: s["CidrBlock"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [V]}])["Subnets"]}
have = {sid: cidr for c in clients for cidr, sid in c.subnets.items()}
t.is_(subnets, have, "the VPC has exactly the subnets the clients were told of (%d)" % len(have))
links = set(t.link_names(NS))
missing = [sid for sid in have if "%sb%s" % (lab.prefix, sid[-8:]) not in links]
extra = [name for name in links if name.startswith(lab.prefix + "b") and
         name[len(lab.prefix) + 1:] not in {sid[-8:] for sid in have}]
t.ok(not missing and not extra, "the VPC's namespace has one bridge per subnet, no other (%d)" % len(have),
     "missing %s, extra %s" % (missing, extra))
t.ok(lab.ec2d_proc.poll() is None and lab.vpcd_proc.poll() is None, "both daemons are still running")
t.ok(rss1[0] - rss0[0] < 16 * 1024 and rss1[1] - rss0[1] < 16 * 1024,
     "memory flat after the warm-up: ec2d %+d KiB, vpcd %+d KiB" % (rss1[0] - rss0[0], rss1[1] - rss0[1]))
t.done()
