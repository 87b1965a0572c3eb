#!/usr/bin/env python3
"""Reachability Analyzer through the real aws CLI (vpcd/insights.c, docs/insights.md): a VPC with
two subnets, two ENIs in the default group (members reach each other) and a third in a group
that lets nothing in; `aws ec2 create-network-insights-path`, `start-network-insights-analysis`,
`describe-network-insights-analyses` (by ID and by path), `describe-network-insights-paths` and
the deletes answer in AWS's shapes (NetworkPathFound, ForwardPathComponents with SequenceNumber
and Component {Id, Arn}, ReturnPathComponents, Explanations with ExplanationCode); errors are
EC2's codes with exit 254.
"""
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402

lab = t.Lab("198.18.60.0/22")


def aws(*args):
    rc, out, err = lab.aws(*args)
    if rc != 0:
        t.bail("aws ec2 %s: exit %d: %s" % (" ".join(args), rc, err.strip()))
    return out


vpc = aws("create-vpc", "--cidr-block", "10.91.0.0/16")["Vpc"]["VpcId"]
s1 = aws("create-subnet", "--vpc-id", vpc, "--cidr-block", "10.91.1.0/24")["Subnet"]["SubnetId"]
s2 = aws("create-subnet", "--vpc-id", vpc, "--cidr-block", "10.91.2.0/24")["Subnet"]["SubnetId"]
closed = aws("create-security-group", "--group-name", "closed", "--description", "nothing in", "--vpc-id", vpc)["GroupId"]
e1 = aws("create-network-interface", "--subnet-id", s1)["NetworkInterface"]["NetworkInterfaceId"]
e2 = aws("create-network-interface", "--subnet-id", s2)["NetworkInterface"]["NetworkInterfaceId"]
e3 = aws("create-network-interface", "--subnet-id", s2, "--groups", closed)["NetworkInterface"]["NetworkInterfaceId"]

out = aws("create-network-insights-path", "--source", e1, "--destination", e2, "--protocol", "tcp",
          "--destination-port", "80", "--tag-specifications",
          "ResourceType=network-insights-path,Tags=[{Key=Name,Value=web}]")
path = out["NetworkInsightsPath"]
pid = path["NetworkInsightsPathId"]
t.like(pid, r"^nip-[0-9a-f]{17}$", "create-network-insights-path: a nip- ID")
t.is_((path["Source"], path["Destination"], path["Protocol"], path["DestinationPort"]), (e1, e2, "tcp", 80),
      "the path's Source, Destination, Protocol and DestinationPort")
t.like(path.get("NetworkInsightsPathArn", ""), r"^arn:aws:ec2:us-east-1:123456789012:network-insights-path/nip-",
       "its ARN")
t.like(path.get("SourceArn", ""), r":network-interface/%s$" % e1, "SourceArn names the ENI")
t.is_(t.tags_of(path).get("Name"), "web", "its tags")

an = aws("start-network-insights-analysis", "--network-insights-path-id", pid)["NetworkInsightsAnalysis"]
aid = an["NetworkInsightsAnalysisId"]
t.like(aid, r"^nia-[0-9a-f]{17}$", "start-network-insights-analysis: a nia- ID")
t.is_((an["Status"], an["NetworkPathFound"]), ("succeeded", True), "Status succeeded, NetworkPathFound true")
fwd = an.get("ForwardPathComponents", [])
t.is_([c["SequenceNumber"] for c in fwd], list(range(1, len(fwd) + 1)), "forward components numbered 1..n")
t.is_((fwd[0]["Component"]["Id"], fwd[-1]["Component"]["Id"]), (e1, e2), "the forward path goes from e1 to e2")
t.ok(all(re.match(r"^arn:aws:ec2:", c["Component"].get("Arn", "")) for c in fwd), "every component has an Arn")
t.ok(any("AclRule" in c for c in fwd) and any("SecurityGroupRule" in c for c in fwd) and
     any("RouteTableRoute" in c for c in fwd), "hops carry AclRule, SecurityGroupRule and RouteTableRoute")
t.ok("OutboundHeader" in fwd[0] and fwd[0]["OutboundHeader"]["DestinationPortRanges"] == [{"From": 80, "To": 80}],
     "the first hop's OutboundHeader is tcp to port 80")
ret = an.get("ReturnPathComponents", [])
t.is_((ret[0]["Component"]["Id"], ret[-1]["Component"]["Id"]) if ret else None, (e2, e1),
      "the return path goes back from e2 to e1")

pid2 = aws("create-network-insights-path", "--source", e1, "--destination", e3, "--protocol", "tcp",
           "--destination-port", "22")["NetworkInsightsPath"]["NetworkInsightsPathId"]
an2 = aws("start-network-insights-analysis", "--network-insights-path-id", pid2)["NetworkInsightsAnalysis"]
t.is_(an2["NetworkPathFound"], False, "into a group that lets nothing in: NetworkPathFound false")
ex = (an2.get("Explanations") or [{}])[0]
t.is_((ex.get("ExplanationCode"), ex.get("Direction"), ex.get("NetworkInterface", {}).get("Id")),
      ("ENI_SG_RULES_MISMATCH", "ingress", e3), "the explanation: ENI_SG_RULES_MISMATCH, ingress, at e3")
t.is_([g["Id"] for g in ex.get("SecurityGroups", [])], [closed], "it names the group")

got = aws("describe-network-insights-analyses", "--network-insights-analysis-ids", aid)["NetworkInsightsAnalyses"]
t.is_([(a["NetworkInsightsAnalysisId"], a["NetworkPathFound"], len(a["ForwardPathComponents"])) for a in got],
      [(aid, True, len(fwd))], "describe-network-insights-analyses by ID: the same analysis")
got = aws("describe-network-insights-analyses", "--network-insights-path-id", pid2)["NetworkInsightsAnalyses"]
t.is_([a["Explanations"][0]["ExplanationCode"] for a in got], ["ENI_SG_RULES_MISMATCH"],
      "describe-network-insights-analyses --network-insights-path-id: that path's analysis")
got = aws("describe-network-insights-analyses", "--filters", "Name=path-found,Values=false")["NetworkInsightsAnalyses"]
t.is_([a["NetworkInsightsPathId"] for a in got], [pid2], "filter path-found=false")
got = aws("describe-network-insights-paths")["NetworkInsightsPaths"]
t.is_(sorted(p["NetworkInsightsPathId"] for p in got), sorted([pid, pid2]), "describe-network-insights-paths: both")

rc, _, err = lab.aws("create-network-insights-path", "--source", "eni-0123456789abcdef0", "--destination", e2,
                     "--protocol", "tcp")
t.ok(rc == 254 and "(InvalidNetworkInterfaceID.NotFound)" in err, "an unknown source: InvalidNetworkInterfaceID.NotFound, exit 254", err)
rc, _, err = lab.aws("create-network-insights-path", "--source", e1, "--destination", e2, "--protocol", "icmp")
t.ok(rc == 254 and "(InvalidParameterValue)" in err, "protocol icmp: InvalidParameterValue, exit 254", err)
rc, _, err = lab.aws("start-network-insights-analysis", "--network-insights-path-id", "nip-0123456789abcdef0")
t.ok(rc == 254 and "(InvalidNetworkInsightsPathId.NotFound)" in err, "an unknown path: InvalidNetworkInsightsPathId.NotFound", err)

out = aws("delete-network-insights-analysis", "--network-insights-analysis-id", aid)
t.is_(out.get("NetworkInsightsAnalysisId"), aid, "delete-network-insights-analysis answers its ID")
out = aws("delete-network-insights-path", "--network-insights-path-id", pid)
t.is_(out.get("NetworkInsightsPathId"), pid, "delete-network-insights-path answers its ID")
t.is_([p["NetworkInsightsPathId"] for p in aws("describe-network-insights-paths")["NetworkInsightsPaths"]], [pid2],
      "one path left")
t.done()
