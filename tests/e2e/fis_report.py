#!/usr/bin/env python3
"""Experiment probes, stop conditions and reports, and that they come out the same each run:

- create-probe refuses bad probes (InvalidParameterValue, non-zero exit, nothing made);
- an ICMP probe every 10 ms through a 2 s disrupt-connectivity sees one outage that starts
  with the action and lasts its duration; the report lists the action, the outage, the
  workload's API calls (three DescribeVpcs and one refused by an injected error, in order);
  its SVG timeline has the action band and the outage;
- a probe whose AlarmFailures is a FIS stop condition (a CloudWatch alarm ARN) stops the
  experiment long before its duration, with the condition as the reason;
- `ec2d run-experiment --repeat 3`: identical runs, the outage's median near 2 s;
  `compare-experiment-reports` of two runs: the same; of another template: not, exit 1;
- two labs built the same way with the same --seed give the same IDs, the same COUNT(2)
  choice among four ENIs and reports that compare the same.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402

tmp = tempfile.mkdtemp(prefix="vpclab-fisrep-")
ROLE = "arn:aws:iam::123456789012:role/fis-lab"


def build(lab):
    """A VPC, subnets A (1a) and B (1b), four tagged ENIs: a1, a2 in A, b1, b2 in B."""
    ec2 = lab.client
    v = ec2.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
    a = ec2.create_subnet(VpcId=v, CidrBlock="10.41.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    b = ec2.create_subnet(VpcId=v, CidrBlock="10.41.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    sg = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [v]}])["SecurityGroups"][0]["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.41.0.0/16"}]}])
    enis = {}
    for name, sub in (("a1", a), ("a2", a), ("b1", b), ("b2", b)):
        e = ec2.create_network_interface(SubnetId=sub, Groups=[sg], TagSpecifications=[
            {"ResourceType": "network-interface", "Tags": [{"Key": "pool", "Value": "x"}]}])["NetworkInterface"]
        enis[name] = (e["NetworkInterfaceId"], e["PrivateIpAddress"], lab.plug(e["NetworkInterfaceId"], name))
    t.retry(lambda: lab.netns(enis["a1"][2], "ping", "-c1", "-W1", enis["b1"][1])[0] == 0, timeout=20)
    return v, a, b, enis


def template_json(desc, actions, targets=None, stop=None, probes=None):
    d = {"description": desc, "roleArn": ROLE, "stopConditions": stop or [{"source": "none"}], "actions": actions,
         "targets": targets or {}}
    if probes:
        d["tags"] = {"vpclab:probes": probes}
    return d


def create(lab, doc):
    path = os.path.join(tmp, "t%d.json" % time.monotonic_ns())
    with open(path, "w") as f:
        json.dump(doc, f)
    rc, out, err = lab.ec2d("create-experiment-template", "--cli-input-json", "file://" + path)
    if rc != 0:
        t.bail("create-experiment-template: " + err)
    return out["experimentTemplate"]["id"]


def final_report(lab, xid, timeout=60, svg=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        args = ["get-experiment-report", "--id", xid] + (["--svg-file", svg] if svg else [])
        rc, out, err = lab.ec2d(*args)
        if rc == 0 and out["Report"]["Final"]:
            return out["Report"]
        time.sleep(0.2)
    t.bail("experiment %s has no final report after %d s" % (xid, timeout))


def cut(subnet, secs="PT2S"):
    return ({"cut": {"actionId": "aws:network:disrupt-connectivity", "parameters": {"duration": secs},
                     "targets": {"Subnets": "s"}}},
            {"s": {"resourceType": "aws:ec2:subnet", "selectionMode": "ALL",
                   "resourceArns": ["arn:aws:ec2:us-east-1:123456789012:subnet/" + subnet]}})


# ------------------------------------------------------------------ the same seed, the same report


def seeded_run(lab_):
    v, a, b, enis = build(lab_)
    lab_.ec2d("create-probe", "--probe-name", "a1-b1", "--type", "icmp", "--source", "netns:" + enis["a1"][2],
              "--target", enis["b1"][1], "--interval-ms", "10", "--timeout-ms", "200")
    tid = create(lab_, template_json("blackhole two of four", {"bh": {
        "actionId": "vpclab:network:blackhole-interface", "parameters": {"duration": "PT1S"},
        "targets": {"NetworkInterfaces": "two"}}}, {"two": {
            "resourceType": "vpclab:ec2:network-interface", "selectionMode": "COUNT(2)", "resourceTags": {"pool": "x"}}},
        probes="a1-b1"))
    rc, x, err = lab_.ec2d("start-experiment", "--experiment-template-id", tid)
    r = final_report(lab_, x["experiment"]["id"])
    path = os.path.join(tmp, "seeded-%s.json" % lab_.prefix)
    with open(path, "w") as f:
        json.dump(r, f)
    return v, tid, r, path, enis, a



# The first thing the lab does: the same as the second lab at the end will do.
lab = t.Lab("198.19.184.0/22", ec2d_args=["--seed", "77"], vpcd_args=["--seed", "77"])
first = seeded_run(lab)
ENIS, A = first[4], first[5]
fis = lab.boto3_client(service="fis")

# ------------------------------------------------------------------ probes
before = lab.ec2d("describe-probes")[1]["Probes"]
for what, args in (("a bad type", ["--type", "sonar", "--target", "10.0.0.1"]),
                   ("an interval of 5 ms", ["--type", "icmp", "--target", "10.0.0.1", "--interval-ms", "5"]),
                   ("a tcp probe without a port", ["--type", "tcp", "--target", "10.0.0.1"]),
                   ("a source that is no namespace", ["--type", "icmp", "--target", "10.0.0.1", "--source", "netns:../x"])):
    rc, _, err = lab.ec2d("create-probe", "--probe-name", "bad", *args)
    t.ok(rc == 254 and "InvalidParameterValue" in err, "create-probe with %s: InvalidParameterValue, exit 254" % what, rc, err)
t.is_(lab.ec2d("describe-probes")[1]["Probes"], before, "... and no probe was made")
NS_A1, IP_B1 = ENIS["a1"][2], ENIS["b1"][1]
rc, out, err = lab.ec2d("create-probe", "--probe-name", "p1", "--type", "icmp", "--source", "netns:" + NS_A1,
                        "--target", IP_B1, "--interval-ms", "10", "--timeout-ms", "200")
t.ok(rc == 0 and out["Probe"]["IntervalMs"] == 10, "create-probe: ICMP from a1's namespace to b1 every 10 ms", err)
rc, _, err = lab.ec2d("create-probe", "--probe-name", "p1", "--type", "icmp", "--target", IP_B1)
t.ok(rc == 254, "create-probe of a name that exists: refused", err)
lab.ec2d("create-probe", "--probe-name", "p1-alarm", "--type", "icmp", "--source", "netns:" + NS_A1,
         "--target", IP_B1, "--interval-ms", "10", "--timeout-ms", "200", "--alarm-failures", "20")

# ------------------------------------------------------------------ an outage, measured
acts, tg = cut(A)
T1 = create(lab, template_json("cut A 2 s", acts, tg, probes="p1"))
ec2 = lab.client
X1 = fis.start_experiment(experimentTemplateId=T1)["experiment"]["id"]
t.retry(lambda: fis.get_experiment(id=X1)["experiment"]["state"]["status"] == "running", timeout=5, interval=0.05)
for _ in range(3):
    ec2.describe_vpcs()
thr = create(lab, template_json("throttle", {"thr": {"actionId": "aws:fis:inject-api-throttle-error", "parameters": {
    "duration": "PT1S", "service": "ec2", "operations": "DescribeSubnets", "percentage": "100"}}}))
XT = fis.start_experiment(experimentTemplateId=thr)["experiment"]["id"]
t.retry(lambda: fis.get_experiment(id=XT)["experiment"]["state"]["status"] == "running", timeout=5, interval=0.05)
code = t.call_error(ec2.describe_subnets)
SVG = os.path.join(tmp, "x1.svg")
R = final_report(lab, X1, svg=SVG)
p = R["Probes"]["p1"]
o = p["Outages"]
act = R["Actions"]["cut"]
t.ok(len(o) == 1 and p["Verdict"] == "1 outage", "the probe saw one outage", p)
if o:
    t.ok(abs(o[0]["Start"] - act["Start"]) < 0.1, "it starts with the action (%.3f s vs %.3f s)" % (o[0]["Start"], act["Start"]))
    t.ok(1.8 < o[0]["Duration"] < 2.4 and 160 <= o[0]["Failed"] <= 240,
         "it lasts the action's 2 s: %.3f s, %d probes failed" % (o[0]["Duration"], o[0]["Failed"]), o)
t.ok(p["Sent"] > 400 and p["Failed"] == sum(x["Failed"] for x in o), "probes before and after it answered", p)
calls = R["ApiCalls"]["ByAction"]
t.ok(calls.get("DescribeVpcs", {}).get("OK") == 3 and calls.get("DescribeSubnets") == {"RequestLimitExceeded": 1}
     and code[0] == "RequestLimitExceeded",
     "the report's API calls: 3 DescribeVpcs, 1 DescribeSubnets refused by the injected throttle", calls)
kinds = [(e["Type"], e.get("Action", e.get("Status"))) for e in R["Events"]]
t.ok(kinds[0] == ("experiment", "initiating") and ("action", "cut") in kinds and kinds[-1] == ("experiment", "completed"),
     "the events: initiating first, the action, completed last", kinds)
svg = open(SVG).read() if os.path.exists(SVG) else ""
t.ok(svg.startswith("<svg") and 'class="outage"' in svg and 'class="band"' in svg,
     "get-experiment-report --svg-file: an SVG with the action's band and the outage")

# The timeline as a browser draws it (headless Chromium, from scripts/setup): the outage lies
# inside the action's band, both have width, and no label runs into the lanes.
PAGE = os.path.join(tmp, "timeline.html")
with open(PAGE, "w") as f:
    f.write("<!doctype html><html><body>" + svg + """<pre id="out"></pre><script>
const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.right, r.width]; };
const q = s => Array.from(document.querySelectorAll(s)).map(box);
const texts = Array.from(document.querySelectorAll("g text")).map(e => e.getBoundingClientRect().right);
const lane = document.querySelector("rect.band").getBoundingClientRect().left;
document.getElementById("out").textContent = JSON.stringify({band: q("rect.band"), outage: q("rect.outage"),
  labelRight: Math.max(...texts), laneLeft: Math.min(lane, ...q("g.probe rect").map(b => b[0]))});
</script></body></html>""")
chromium = next((c for c in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(c)), None)
if not chromium:
    t.ok(False, "headless Chromium draws the timeline (no chromium: scripts/setup installs it)")
else:
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "file://" + PAGE],
                         capture_output=True, text=True, timeout=120).stdout
    got = None
    if '<pre id="out">' in dom:
        got = json.loads(dom.split('<pre id="out">', 1)[1].split("</pre>", 1)[0].replace("&quot;", '"'))
    ok = bool(got and got["band"] and got["outage"])
    if ok:
        (bl, br, bw), (ol, orr, ow) = got["band"][0], got["outage"][0]
        ok = bw > 100 and ow > 100 and bl - 8 <= ol and orr <= br + 8 and got["labelRight"] <= got["laneLeft"] + 1
    t.ok(ok, "headless Chromium draws the timeline: the outage inside the action's band, labels clear of the lanes", got)

# ------------------------------------------------------------------ a stop condition
ALARM = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:p1-alarm"
acts, tg = cut(A, "PT30S")
T2 = create(lab, template_json("cut A until the alarm", acts, tg, stop=[{"source": "aws:cloudwatch:alarm", "value": ALARM}]))
rc, _, err = lab.ec2d("create-experiment-template", "--description", "x", "--role-arn", ROLE, "--actions",
                      json.dumps({"w": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1S"}}}),
                      "--stop-conditions", "source=aws:cloudwatch:alarm,value=arn:aws:cloudwatch:us-east-1:123456789012:alarm:nope")
t.ok(rc == 254 and "ValidationException" in err, "a stop condition naming an alarm that does not exist: ValidationException", err)
t0 = time.monotonic()
X2 = fis.start_experiment(experimentTemplateId=T2)["experiment"]["id"]
R2 = final_report(lab, X2)
t.ok(R2["Status"] == "stopped" and ALARM in R2["Reason"] and time.monotonic() - t0 < 10 and
     R2["Actions"]["cut"]["Status"] == "stopped",
     "the probe's alarm (20 failures in a row) stops a 30 s experiment, with the condition as the reason", R2["Reason"])
t.ok(t.retry(lambda: lab.netns(NS_A1, "ping", "-c1", "-W1", IP_B1)[0] == 0, timeout=3), "and the cut is undone")

# ------------------------------------------------------------------ repeat and compare
rdir = os.path.join(tmp, "runs")
rc, out, err = lab.ec2d("run-experiment", "--experiment-template-id", T1, "--repeat", "3", "--report-dir", rdir)
m = (out or {}).get("Measures", {}).get("probe p1: outage seconds", {})
t.ok(rc == 0 and out["Identical"] and len(out["Runs"]) == 3 and all(r["Status"] == "completed" for r in out["Runs"]),
     "run-experiment --repeat 3: three completed runs, identical but for their measures", err, out)
t.ok(1.8 < m.get("Median", 0) < 2.4 and m.get("Spread", 9) < 0.3,
     "the outage: median %.3f s, spread %.3f s" % (m.get("Median", 0), m.get("Spread", 0)), m)
reports = [r["Report"] for r in (out or {}).get("Runs", [])]
rc, cmp_, err = lab.ec2d("compare-experiment-reports", "--reports", reports[0], reports[1])
t.ok(rc == 0 and cmp_["Same"], "compare-experiment-reports of two runs: the same", cmp_)
other = os.path.join(tmp, "x2.json")
with open(other, "w") as f:
    json.dump(R2, f)
rc, cmp_, err = lab.ec2d("compare-experiment-reports", "--reports", reports[0], other)
t.ok(rc == 1 and not cmp_["Same"] and any("Status" in d for d in cmp_["Differences"]),
     "... and of another experiment: differences named, exit 1", cmp_)

lab.cleanup()
lab2 = t.Lab("198.19.188.0/22", ec2d_args=["--seed", "77"], vpcd_args=["--seed", "77"])
second = seeded_run(lab2)
t.ok(first[0] == second[0] and first[1] == second[1] and first[2]["ExperimentId"] == second[2]["ExperimentId"],
     "two labs with --seed 77: the same VPC, template and experiment IDs", first[:2], second[:2])
t.ok(first[2]["Targets"] == second[2]["Targets"] and len(first[2]["Targets"]["two"]) == 2,
     "... the same two ENIs chosen by COUNT(2)", first[2]["Targets"], second[2]["Targets"])
rc, cmp_, err = lab2.ec2d("compare-experiment-reports", "--reports", first[3], second[3])
t.ok(rc == 0 and cmp_["Same"], "... and reports that compare the same", cmp_)
t.done()
