#!/usr/bin/env python3
"""Pagination, filters and idempotency as the clients use them: 12 VPCs paged by MaxResults and
NextToken by hand, by boto3's paginators and by the aws CLI (--page-size, --max-items,
--starting-token, --no-paginate); filters with * and ? wildcards, tag:Key, tag-key, several
values (or) and several filters (and), with paging; DescribeInstances and DescribeTags paging;
RunInstances' ClientToken through both clients.
"""
import concurrent.futures
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402

lab = t.Lab("198.19.240.0/21")
ec2 = lab.client

# 12 VPCs: Name page-01..page-12, team red (odd) or blue (even), CIDR 10.1N.0.0/16 style.
# (Created by six clients at once: the HTTP API and vpcd take concurrent requests.)
def make(n):
    c = lab.boto3_client()
    v = c.create_vpc(CidrBlock="10.%d.0.0/16" % (100 + n), TagSpecifications=[{"ResourceType": "vpc", "Tags": [
        {"Key": "Name", "Value": "page-%02d" % n}, {"Key": "team", "Value": "red" if n % 2 else "blue"}]}])
    return v["Vpc"]["VpcId"], n


with concurrent.futures.ThreadPoolExecutor(6) as pool:
    VPCS = dict(pool.map(make, range(1, 13)))
ALL = set(VPCS)
t.is_(len(ec2.describe_vpcs()["Vpcs"]), 12, "12 VPCs made by six concurrent clients")


def names(vpcs):
    return sorted(t.tags_of(v).get("Name") for v in vpcs)


# ----------------------------------------------------------------------- by hand
pages, token = [], None
for _ in range(10):
    kw = {"MaxResults": 5}
    if token:
        kw["NextToken"] = token
    r = ec2.describe_vpcs(**kw)
    pages.append([v["VpcId"] for v in r["Vpcs"]])
    token = r.get("NextToken")
    if not token:
        break
flat = [v for p in pages for v in p]
t.is_([len(p) for p in pages], [5, 5, 2], "DescribeVpcs MaxResults=5 by hand: pages of 5, 5 and 2, the last without NextToken")
t.ok(len(flat) == len(set(flat)) and set(flat) == ALL, "... the 12 VPCs, each once", pages)
code, msg, st = t.call_error(ec2.describe_vpcs, MaxResults=5, NextToken="not-a-token")
t.ok(code in ("InvalidNextToken", "InvalidParameterValue") and st == 400, "a bogus NextToken: %s, HTTP 400" % code,
     "%s %s %s" % (code, msg, st))
code, msg, st = t.call_error(ec2.describe_vpcs, MaxResults=5, VpcIds=list(ALL)[:2])
t.is_(code, "InvalidParameterCombination", "MaxResults together with VpcIds: InvalidParameterCombination")

# ---------------------------------------------------------------- boto3 paginators
pg = ec2.get_paginator("describe_vpcs")
pages = list(pg.paginate(PaginationConfig={"PageSize": 5}))
flat = [v["VpcId"] for p in pages for v in p["Vpcs"]]
t.ok([len(p["Vpcs"]) for p in pages] == [5, 5, 2] and sorted(flat) == sorted(ALL),
     "paginator describe_vpcs PageSize=5: 3 pages, the 12 VPCs once each", [len(p["Vpcs"]) for p in pages])
first = pg.paginate(PaginationConfig={"PageSize": 5, "MaxItems": 7}).build_full_result()
rest = pg.paginate(PaginationConfig={"PageSize": 5, "StartingToken": first.get("NextToken")}).build_full_result()
a, b = [v["VpcId"] for v in first["Vpcs"]], [v["VpcId"] for v in rest["Vpcs"]]
t.ok(len(a) == 7 and first.get("NextToken") and len(b) == 5 and sorted(a + b) == sorted(ALL),
     "paginator MaxItems=7, then StartingToken: 7 + 5, no VPC twice", a, b)
red = list(pg.paginate(Filters=[{"Name": "tag:team", "Values": ["red"]}], PaginationConfig={"PageSize": 5}))
t.ok([len(p["Vpcs"]) for p in red] == [5, 1] and names(v for p in red for v in p["Vpcs"]) ==
     ["page-%02d" % n for n in range(1, 13, 2)], "paginator with Filters tag:team=red, PageSize=5: pages of 5 and 1",
     [names(p["Vpcs"]) for p in red])
sgs = [g for p in ec2.get_paginator("describe_security_groups").paginate(PaginationConfig={"PageSize": 5})
       for g in p["SecurityGroups"]]
t.ok(len(sgs) == 12 and len({g["GroupId"] for g in sgs}) == 12 and {g["VpcId"] for g in sgs} == ALL,
     "paginator describe_security_groups PageSize=5: the 12 default groups once each", len(sgs))

# ----------------------------------------------------------------------- filters


def fnames(*filters):
    return names(ec2.describe_vpcs(Filters=[{"Name": k, "Values": v} for k, v in filters])["Vpcs"])


t.is_(fnames(("tag:Name", ["page-0*"])), ["page-%02d" % n for n in range(1, 10)], "filter tag:Name=page-0* (* wildcard)")
t.is_(fnames(("tag:Name", ["page-1?"])), ["page-10", "page-11", "page-12"], "filter tag:Name=page-1? (? wildcard)")
t.is_(fnames(("tag:Name", ["page-01", "page-12", "nope"])), ["page-01", "page-12"], "filter with three values (or)")
t.is_(fnames(("tag:team", ["blue"]), ("tag:Name", ["page-0*"])), ["page-02", "page-04", "page-06", "page-08"],
      "two filters (and): tag:team=blue and tag:Name=page-0*")
t.is_(fnames(("cidr-block", ["10.10?.0.0/16"])), ["page-%02d" % n for n in range(1, 10)], "filter cidr-block=10.10?.0.0/16")
t.is_(len(fnames(("tag-key", ["team"]))), 12, "filter tag-key=team: all 12")
t.is_(fnames(("tag:Name", ["PAGE-01"])), [], "filter values are case-sensitive: tag:Name=PAGE-01 finds nothing")
t.is_(fnames(("tag:Name", ["page-\\*"])), [], "an escaped \\* matches a literal star only")

# --------------------------------------------------------------------- aws CLI
rc, out, err = lab.aws("describe-vpcs", "--page-size", "5", "--query", "Vpcs[].VpcId")
t.ok(rc == 0 and sorted(out or []) == sorted(ALL), "aws describe-vpcs --page-size 5: the CLI pages, all 12", err)
rc, out, err = lab.aws("describe-vpcs", "--max-items", "7", "--page-size", "5")
tok = (out or {}).get("NextToken")
a = [v["VpcId"] for v in (out or {}).get("Vpcs", [])]
rc2, out2, err2 = lab.aws("describe-vpcs", "--max-items", "7", "--page-size", "5", "--starting-token", tok or "none")
b = [v["VpcId"] for v in (out2 or {}).get("Vpcs", [])]
t.ok(rc == 0 and rc2 == 0 and len(a) == 7 and tok and len(b) == 5 and sorted(a + b) == sorted(ALL) and
     "NextToken" not in (out2 or {}), "aws --max-items 7 --page-size 5, then --starting-token: 7 + 5, no VPC twice",
     err, err2, a, b)
rc, out, err = lab.aws("describe-vpcs", "--no-paginate", "--max-results", "5")
t.ok(rc == 0 and len(out["Vpcs"]) == 5 and out.get("NextToken"), "aws --no-paginate --max-results 5: one page and its NextToken", err)
rc, out, err = lab.aws("describe-vpcs", "--filters", "Name=tag:Name,Values=page-1?,page-01", "Name=tag:team,Values=red",
                       "--query", "Vpcs[].Tags[?Key=='Name'].Value[]")
t.is_(sorted(out or []), ["page-01", "page-11"], "aws --filters with ? wildcard, two values and two filters")

# ------------------------------------------------------------------- instances
ami = lab.ami()
if not ami:
    t.skip("instance paging and ClientToken", "image busybox is not built")
    t.done()
V = next(v for v, n in VPCS.items() if n == 1)
S = ec2.create_subnet(VpcId=V, CidrBlock="10.101.1.0/24")["Subnet"]["SubnetId"]
r1 = ec2.run_instances(ImageId=ami, MinCount=4, MaxCount=4, SubnetId=S, TagSpecifications=[
    {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "pager-a"}]}])
r2 = ec2.run_instances(ImageId=ami, MinCount=2, MaxCount=2, SubnetId=S, TagSpecifications=[
    {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "pager-b"}]}])
IDS = {i["InstanceId"] for r in (r1, r2) for i in r["Instances"]}
t.is_(len(IDS), 6, "RunInstances MinCount=4 and MinCount=2: six instances")
pages = list(ec2.get_paginator("describe_instances").paginate(PaginationConfig={"PageSize": 5}))
per = [sum(len(r["Instances"]) for r in p["Reservations"]) for p in pages]
flat = [i["InstanceId"] for p in pages for r in p["Reservations"] for i in r["Instances"]]
t.ok(per == [5, 1] and sorted(flat) == sorted(IDS), "paginator describe_instances PageSize=5: 5 + 1 instances, each once", per)
res = [r["ReservationId"] for p in pages for r in p["Reservations"]]
t.ok(set(res) == {r1["ReservationId"], r2["ReservationId"]},
     "the instances are grouped by their two reservations", res)
rc, out, err = lab.aws("describe-instances", "--page-size", "5", "--filters", "Name=tag:Name,Values=pager-*",
                       "--query", "Reservations[].Instances[].InstanceId")
t.ok(rc == 0 and sorted(out or []) == sorted(IDS), "aws describe-instances --page-size 5 --filters tag:Name=pager-*: all six", err)
x = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["pager-?"]},
                                   {"Name": "reservation-id", "Values": [r2["ReservationId"]]}])["Reservations"]
t.ok(len(x) == 1 and len(x[0]["Instances"]) == 2, "filters tag:Name=pager-? and reservation-id: the second reservation", x)

# DescribeTags pages like the other describe calls: at most MaxResults a page, each tag once.
all_tags = ec2.describe_tags()["Tags"]
keys = lambda tags: sorted((x["ResourceId"], x["Key"]) for x in tags)  # noqa: E731
tpages = list(ec2.get_paginator("describe_tags").paginate(PaginationConfig={"PageSize": 5}))
paged = [x for p in tpages for x in p["Tags"]]
t.ok(len(all_tags) == 30 and keys(paged) == keys(all_tags),
     "paginator describe_tags PageSize=5: the 30 tags (24 of VPCs, 6 of instances), each once",
     "unpaged %d, paged %d (%d distinct)" % (len(all_tags), len(paged), len(set(keys(paged)))))
t.ok(all(len(p["Tags"]) <= 5 for p in tpages), "... in pages of at most 5",
     "page sizes %s" % [len(p["Tags"]) for p in tpages])
t.ok(len(tpages) == 6, "... six of them", "%d pages" % len(tpages))

# ClientToken: the same token answers the first launch again.
ami = lab.ami()  # (again: another images/build run may have changed it meanwhile)
kw = dict(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=S, ClientToken="e2e-token-1")
a = ec2.run_instances(**kw)
b = ec2.run_instances(**kw)
ia, ib = [i["InstanceId"] for i in a["Instances"]], [i["InstanceId"] for i in b["Instances"]]
n = ec2.describe_instances(Filters=[{"Name": "client-token", "Values": ["e2e-token-1"]}])["Reservations"]
t.ok(ia == ib and a["ReservationId"] == b["ReservationId"] and sum(len(r["Instances"]) for r in n) == 1,
     "boto3 RunInstances twice with one ClientToken: the same reservation and instance, one instance", ia, ib, n)
code, msg, st = t.call_error(ec2.run_instances, **dict(kw, InstanceType="t3.nano"))
t.is_(code, "IdempotentParameterMismatch", "the same ClientToken with other parameters: IdempotentParameterMismatch")
out = []
for _ in range(2):
    rc, o, err = lab.aws("run-instances", "--image-id", ami, "--subnet-id", S, "--client-token", "e2e-token-2",
                         "--query", "Instances[].InstanceId")
    out.append((rc, o, err))
t.ok(all(rc == 0 for rc, _, _ in out) and out[0][1] == out[1][1] and len(out[0][1] or []) == 1,
     "aws run-instances --client-token twice: the same instance", out)
total = sum(len(r["Instances"]) for r in ec2.describe_instances()["Reservations"])
t.is_(total, 8, "eight instances in all (6 + one per token)")
t.done()
