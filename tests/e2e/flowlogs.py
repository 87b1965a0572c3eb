#!/usr/bin/env python3
"""Flow logs end to end with the real aws CLI and boto3: `aws ec2 create-flow-logs` to a log
group (vpcd/flowlog.c), real packets between two ENIs plugged into namespaces, and the records
read back with `aws logs describe-log-streams`, `get-log-events`, `filter-log-events` (a
space-delimited pattern on REJECT) and `aws logs tail`, from ec2d's endpoint (vpcd/logs.c).
The same flow log is seen by `aws ec2 describe-flow-logs` and boto3; a bad request is refused
with EC2's code and a non-zero exit and makes nothing; delete-flow-logs stops the records.
"""
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402

lab = t.Lab("198.18.36.0/22")
G = "/vpclab/flows"
ROLE = "arn:aws:iam::123456789012:role/flow-logs"
TAGS = "ResourceType=vpc-flow-log,Tags=[{Key=vpclab:aggregation-interval,Value=1}]"

vpc = lab.aws_ok("create-vpc", "--cidr-block", "10.61.0.0/16")["Vpc"]["VpcId"]
sa = lab.aws_ok("create-subnet", "--vpc-id", vpc, "--cidr-block", "10.61.1.0/24")["Subnet"]["SubnetId"]
sb = lab.aws_ok("create-subnet", "--vpc-id", vpc, "--cidr-block", "10.61.2.0/24")["Subnet"]["SubnetId"]
a = lab.aws_ok("create-network-interface", "--subnet-id", sa, "--private-ip-address", "10.61.1.10")["NetworkInterface"]
b = lab.aws_ok("create-network-interface", "--subnet-id", sb, "--private-ip-address", "10.61.2.10")["NetworkInterface"]
A = lab.plug(a["NetworkInterfaceId"], "a")
B = lab.plug(b["NetworkInterfaceId"], "b")
eni_b = b["NetworkInterfaceId"]

# B's group lets TCP 5555 in and nothing else.
sg = lab.aws_ok("create-security-group", "--group-name", "web", "--description", "web", "--vpc-id", vpc)["GroupId"]
lab.aws_ok("authorize-security-group-ingress", "--group-id", sg, "--ip-permissions",
           "IpProtocol=tcp,FromPort=5555,ToPort=5555,IpRanges=[{CidrIp=0.0.0.0/0}]")
lab.aws_ok("modify-network-interface-attribute", "--network-interface-id", eni_b, "--groups", sg)

rc, out, err = lab.aws("create-flow-logs", "--resource-type", "NetworkInterface", "--resource-ids", eni_b,
                       "--traffic-type", "ALL", "--log-group-name", G, "--deliver-logs-permission-arn", ROLE,
                       "--tag-specifications", TAGS)
t.ok(rc == 0 and len(out["FlowLogIds"]) == 1 and not out.get("Unsuccessful"),
     "aws ec2 create-flow-logs to a log group", err)
fl = out["FlowLogIds"][0] if rc == 0 else ""
d = lab.aws_ok("describe-flow-logs", "--flow-log-ids", fl)["FlowLogs"]
t.ok(len(d) == 1 and d[0]["LogGroupName"] == G and d[0]["ResourceId"] == eni_b and
     d[0]["LogDestinationType"] == "cloud-watch-logs" and d[0]["DeliverLogsStatus"] == "SUCCESS" and
     d[0]["LogDestination"] == "arn:aws:logs:us-east-1:123456789012:log-group:" + G and
     d[0]["DeliverLogsPermissionArn"] == ROLE and d[0]["MaxAggregationInterval"] == 600,
     "aws ec2 describe-flow-logs shows it as AWS does", str(d))
ec2 = lab.boto3_client()
got = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [eni_b]}])["FlowLogs"]
t.is_([f["FlowLogId"] for f in got], [fl], "boto3 describe_flow_logs with a resource-id filter")
time.sleep(1.5)

LISTEN = ("import socket\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "s.bind(('0.0.0.0', 5555)); s.listen(8)\nwhile True: s.accept()[0].close()")
import subprocess  # noqa: E402
server = subprocess.Popen(["ip", "netns", "exec", B, "/usr/bin/python3", "-c", LISTEN])
time.sleep(0.4)
try:
    t.ok(lab.netns(A, "nc", "-z", "-w1", "10.61.2.10", "5555")[0] == 0, "TCP 5555 from A connects")
    t.ok(lab.netns(A, "nc", "-z", "-w1", "10.61.2.10", "6666")[0] != 0, "TCP 6666 is refused by B's group")
finally:
    server.terminate()
    server.wait()


def aws_logs(*args):
    return lab.aws(*args, service="logs")


def events():
    rc, out, _ = aws_logs("get-log-events", "--log-group-name", G, "--log-stream-name", eni_b, "--start-from-head")
    return [e["message"] for e in out["events"]] if rc == 0 and out else []


msgs = t.retry(lambda: [m for m in events() if " 6666 " in m and "REJECT" in m] and events(), timeout=15) or []
rc, out, err = aws_logs("describe-log-streams", "--log-group-name", G)
t.ok(rc == 0 and [s["logStreamName"] for s in out["logStreams"]] == [eni_b],
     "aws logs describe-log-streams: one stream, named by the ENI", err)
acc = [m for m in msgs if m.split()[3] == "10.61.1.10" and m.split()[6] == "5555" and m.endswith("ACCEPT OK")]
t.ok(acc, "get-log-events: the connection to 5555 in, ACCEPT", *msgs[:6])
rej = [m for m in msgs if m.split()[6] == "6666" and m.endswith("REJECT OK")]
t.ok(rej, "get-log-events: the SYN to 6666, REJECT", *msgs[:6])
t.like(rej[0] if rej else "", r"^2 123456789012 %s 10\.61\.1\.10 10\.61\.2\.10 \d+ 6666 6 \d+ \d+ \d{10} \d{10} REJECT OK$" % eni_b,
       "a record in the default version 2 format")
pattern = ("[version, account, eni, source, destination, srcport, destport=\"6666\", protocol, packets, bytes, "
           "windowstart, windowend, action=\"REJECT\", flowlogstatus]")
rc, out, err = aws_logs("filter-log-events", "--log-group-name", G, "--filter-pattern", pattern)
t.ok(rc == 0 and out["events"] and all(" 6666 " in e["message"] and "REJECT" in e["message"] for e in out["events"]),
     "aws logs filter-log-events with a flow log pattern finds the rejects and only them", err)
rc, out, err = lab.aws("tail", G, "--since", "10m", service="logs", output="text")
t.ok(rc == 0 and eni_b in (out or "") and "REJECT" in (out or ""), "aws logs tail prints the records", err)

# Bad input: EC2's code, a non-zero exit, nothing made.
before = lab.aws_ok("describe-flow-logs")["FlowLogs"]
rc, _, err = lab.aws("create-flow-logs", "--resource-type", "NetworkInterface", "--resource-ids", eni_b,
                     "--traffic-type", "SOME", "--log-group-name", G, "--deliver-logs-permission-arn", ROLE)
t.ok(rc != 0 and "InvalidParameterValue" in err, "a bad traffic type: InvalidParameterValue, non-zero exit", err)
rc, _, err = lab.aws("create-flow-logs", "--resource-type", "NetworkInterface", "--resource-ids", eni_b,
                     "--traffic-type", "ALL", "--log-group-name", G)
t.ok(rc != 0 and "InvalidParameter" in err, "a log group without DeliverLogsPermissionArn: InvalidParameter", err)
t.is_(lab.aws_ok("describe-flow-logs")["FlowLogs"], before, "bad input made no flow log")

rc, out, err = lab.aws("delete-flow-logs", "--flow-log-ids", fl)
t.ok(rc == 0 and not out.get("Unsuccessful"), "aws ec2 delete-flow-logs", err)
time.sleep(1.5)
n = len(events())
lab.netns(A, "nc", "-z", "-w1", "10.61.2.10", "6666")
time.sleep(2.5)
t.is_(len(events()), n, "no record after the delete")
t.done()
