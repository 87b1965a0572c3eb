#!/usr/bin/env python3
"""describe-topology and the live topology page (docs/topology.md), in a real browser:

- a known lab: VPC A (10.71.0.0/16) with a public subnet (route to its internet gateway) and a
  private one, VPC B (10.72.0.0/16) with one subnet, A and B peered, three ENIs, one with an
  elastic IP, and an instance when the busybox image is there;
- describe-topology as JSON holds each of them where it belongs (public/private by route, the
  ENIs' addresses and groups, the peering, the instance's state and type) with a revision;
  as SVG (parsed with xml.etree) the same objects as nested groups; as dot a digraph with a
  cluster per region, VPC and subnet, balanced braces and the peering edge; a bad --format is
  InvalidParameterValue, exit 254, and changes nothing;
- describe-lab prints the page's URL with its token; without the token, or with another, the
  page and its data calls are 403; the relay refuses a call not on its list, and the call
  does not happen;
- headless Chromium (--dump-dom after the page's script ran, --screenshot) draws every object
  and a picture that is not blank (the PNG decoded with zlib);
- the same page kept open (DevTools protocol): a subnet added to the lab shows within a few
  seconds; a click on an ENI shows its security group's rules, its flow log (or "no flow
  log", or the error of the Logs calls) and a path analysis form whose answer (or error) is
  shown as text.
"""
import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import e2e_lib as t  # noqa: E402
import topology_cdp as cdp  # noqa: E402

tmp = tempfile.mkdtemp(prefix="vpclab-topo-")
# The screenshots stay for a look when something failed (e2e_lib's exit hook runs after this one).
atexit.register(lambda: t.diag("screenshots kept in %s" % tmp) if t.failed() else shutil.rmtree(tmp, True))
lab = t.Lab("198.19.100.0/22")
ec2 = lab.client

# ------------------------------------------------------------------ the known lab
va = ec2.create_vpc(CidrBlock="10.71.0.0/16")["Vpc"]["VpcId"]
vb = ec2.create_vpc(CidrBlock="10.72.0.0/16")["Vpc"]["VpcId"]
pub = ec2.create_subnet(VpcId=va, CidrBlock="10.71.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
priv = ec2.create_subnet(VpcId=va, CidrBlock="10.71.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
sb = ec2.create_subnet(VpcId=vb, CidrBlock="10.72.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=va)
rt = ec2.create_route_table(VpcId=va)["RouteTable"]["RouteTableId"]
ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
ec2.associate_route_table(RouteTableId=rt, SubnetId=pub)
pcx = ec2.create_vpc_peering_connection(VpcId=va, PeerVpcId=vb)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
sg = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [va]}])["SecurityGroups"][0]["GroupId"]
ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.72.0.0/16"}]}])
e1 = ec2.create_network_interface(SubnetId=pub, Groups=[sg])["NetworkInterface"]
e2 = ec2.create_network_interface(SubnetId=priv, Groups=[sg])["NetworkInterface"]
e3 = ec2.create_network_interface(SubnetId=sb)["NetworkInterface"]
eip = ec2.allocate_address(Domain="vpc")
ec2.associate_address(AllocationId=eip["AllocationId"], NetworkInterfaceId=e1["NetworkInterfaceId"])
E1, E2, E3 = (e["NetworkInterfaceId"] for e in (e1, e2, e3))
inst = None
if lab.image_ready("busybox"):
    r = ec2.run_instances(ImageId=lab.ami("busybox"), InstanceType="t3.micro", MinCount=1, MaxCount=1,
                          SubnetId=priv)["Instances"][0]
    inst = r["InstanceId"]
    lab.wait_state(inst, "running", timeout=90)

# ------------------------------------------------------------------ JSON
rc, out, err = lab.ec2d("describe-topology")
t.ok(rc == 0 and isinstance(out, dict) and re.fullmatch(r"[0-9a-f]{16}", out.get("Revision", "")),
     "describe-topology: JSON with a revision", rc, err)
topo = (out or {}).get("Topology", {})
REV = (out or {}).get("Revision")
regions = {r["RegionName"]: r for r in topo.get("Regions", [])}
vpcs = {v["VpcId"]: v for r in regions.values() for v in r["Vpcs"]}
subnets = {s["SubnetId"]: s for v in vpcs.values() for s in v["Subnets"]}
enis = {n["NetworkInterfaceId"]: n for s in subnets.values() for n in s["NetworkInterfaces"]}
t.ok("us-east-1" in regions and {va, vb} <= set(vpcs), "... the region and both VPCs", list(vpcs))
t.is_((vpcs.get(va, {}).get("CidrBlock"), vpcs.get(vb, {}).get("CidrBlock")), ("10.71.0.0/16", "10.72.0.0/16"),
      "... the VPCs' CIDRs")
t.is_({s: (subnets.get(s, {}).get("CidrBlock"), subnets.get(s, {}).get("AvailabilityZone"), subnets.get(s, {}).get("Public"))
       for s in (pub, priv, sb)},
      {pub: ("10.71.1.0/24", "us-east-1a", True), priv: ("10.71.2.0/24", "us-east-1b", False),
       sb: ("10.72.1.0/24", "us-east-1a", False)},
      "... the subnets: CIDR, AZ, public (a route to the internet gateway) or private")
t.is_(sorted(z["ZoneName"] for z in regions.get("us-east-1", {}).get("AvailabilityZones", [])),
      ["us-east-1a", "us-east-1b"], "... the AZs in use")
t.is_([g["InternetGatewayId"] for g in vpcs.get(va, {}).get("InternetGateways", [])], [igw], "... A's internet gateway")
rts = {x["RouteTableId"]: x for x in vpcs.get(va, {}).get("RouteTables", [])}
t.ok(rt in rts and {"Destination": "0.0.0.0/0", "Target": igw, "State": "active"} in rts[rt]["Routes"]
     and rts[rt]["Subnets"] == [pub] and subnets.get(pub, {}).get("RouteTableId") == rt,
     "... A's route tables and their routes", rts)
pe = topo.get("Peerings", [])
t.ok(len(pe) == 1 and pe[0]["VpcPeeringConnectionId"] == pcx and pe[0]["Status"] == "active" and
     {pe[0]["Requester"]["VpcId"], pe[0]["Accepter"]["VpcId"]} == {va, vb}, "... the peering, active", pe)
t.ok(E1 in subnets.get(pub, {}).get("NetworkInterfaces", [{}])[0].get("NetworkInterfaceId", "") and
     enis.get(E1, {}).get("PrivateIpAddress") == e1["PrivateIpAddress"] and
     enis.get(E1, {}).get("PublicIp") == eip["PublicIp"], "... ENI 1 in the public subnet with its private and elastic IP",
     enis.get(E1))
t.ok(E2 in enis and E3 in enis and enis[E3]["PrivateIpAddress"] == e3["PrivateIpAddress"] and
     "PublicIp" not in enis[E3], "... ENIs 2 and 3, no public IP", enis.get(E3))
t.is_([g["GroupId"] for g in enis.get(E1, {}).get("SecurityGroups", [])], [sg], "... ENI 1's security group")
t.ok(subnets.get(pub, {}).get("NetworkAclId", "").startswith("acl-") and any(
    a["NetworkAclId"] == subnets[pub]["NetworkAclId"] and a["Entries"] for a in vpcs[va]["NetworkAcls"]),
     "... the subnet's network ACL and its entries")
groups = {g["GroupId"]: g for g in vpcs.get(va, {}).get("SecurityGroups", [])}
t.ok("tcp 22 from 10.72.0.0/16" in groups.get(sg, {}).get("Ingress", []), "... the group's rules", groups.get(sg))
if inst:
    ins = {i["InstanceId"]: i for s in subnets.values() for i in s["Instances"]}
    ie = (ins.get(inst) or {}).get("NetworkInterfaces", [None])[0]
    t.ok(inst in ins and ins[inst]["State"] == "running" and ins[inst]["InstanceType"] == "t3.micro" and
         inst in subnets[priv]["Instances"][0]["InstanceId"] and enis.get(ie, {}).get("InstanceId") == inst,
         "... the instance: running, t3.micro, in the private subnet, with its ENI", ins.get(inst))
else:
    t.skip("... the instance", "no busybox image (images/build busybox)")
rc2, out2, _ = lab.ec2d("describe-topology", "--format", "json")
t.is_((out2 or {}).get("Revision"), REV, "the revision stays while the lab does")

# ------------------------------------------------------------------ SVG
rc, svg, err = lab.ec2d("describe-topology", "--format", "svg")
root = None
try:
    root = ET.fromstring(svg)
except (ET.ParseError, TypeError) as ex:
    t.diag("svg does not parse: %s" % ex)
t.ok(rc == 0 and root is not None and root.tag == "{http://www.w3.org/2000/svg}svg" and
     root.get("data-revision") == REV, "describe-topology --format svg: an SVG document (xml.etree), the same revision",
     err, str(svg)[:300])
NS = "{http://www.w3.org/2000/svg}"


def svg_groups(node, cls):
    return {g.get("data-id"): g for g in (node.iter(NS + "g") if node is not None else [])
            if cls in (g.get("class") or "").split()}


if root is not None:
    regs, vs = svg_groups(root, "region"), svg_groups(root, "vpc")
    t.ok("us-east-1" in regs and {va, vb} <= set(svg_groups(regs["us-east-1"], "vpc")),
         "... the VPCs inside the region's box", list(vs))
    t.ok({pub, priv} <= set(svg_groups(vs.get(va), "subnet")) and sb in svg_groups(vs.get(vb), "subnet"),
         "... the subnets inside their VPC's box")
    t.ok("public" in svg_groups(root, "subnet")[pub].get("class") and "private" in svg_groups(root, "subnet")[priv].get("class"),
         "... public and private told apart")
    t.ok(E1 in svg_groups(svg_groups(root, "subnet")[pub], "eni") and E3 in svg_groups(svg_groups(root, "subnet")[sb], "eni"),
         "... the ENIs inside their subnet")
    t.ok(igw in svg_groups(vs.get(va), "igw") and pcx in svg_groups(root, "peering"),
         "... the internet gateway on A, the peering as a line")
    text = " ".join(x.text or "" for x in root.iter(NS + "text"))
    t.ok(e1["PrivateIpAddress"] in text and eip["PublicIp"] in text and "10.71.0.0/16" in text and "0.0.0.0/0" in text,
         "... the addresses, CIDRs and routes as text")
    if inst:
        t.ok(inst in svg_groups(svg_groups(root, "subnet")[priv], "instance"), "... the instance in its subnet")
    else:
        t.skip("... the instance in its subnet", "no busybox image")

# ------------------------------------------------------------------ dot
rc, dot, err = lab.ec2d("describe-topology", "--format", "dot")
dot = dot if isinstance(dot, str) else ""


def balanced(s):
    depth, q, esc_ = 0, False, False
    for c in s:
        if q:
            q = not (c == '"' and not esc_)
            esc_ = c == "\\" and not esc_
        elif c == '"':
            q = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not q


t.ok(rc == 0 and dot.startswith("digraph topology {") and dot.rstrip().endswith("}") and balanced(dot),
     "describe-topology --format dot: a digraph, braces and quotes balanced", err, dot[:300])
t.ok(all('subgraph "cluster_%s"' % x in dot for x in ("us-east-1", va, vb, pub, priv, sb)),
     "... a cluster per region, VPC and subnet")
t.ok(re.search(r'"(%s|%s)" -> "(%s|%s)" \[dir=none, style=dashed, label="%s' % (va, vb, va, vb, pcx), dot) and
     '"%s" [shape=box' % E1 in dot and '"%s" [shape=house' % igw in dot, "... the peering edge, the ENIs, the gateway")
if shutil.which("dot"):
    p = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True)
    t.ok(p.returncode == 0, "... and Graphviz reads it", p.stderr)

# ------------------------------------------------------------------ bad input
rc, out, err = lab.ec2d("describe-topology", "--format", "xml")
t.ok(rc == 254 and "InvalidParameterValue" in err and "'xml'" in err,
     "describe-topology --format xml: InvalidParameterValue naming the value, exit 254", rc, err)
t.is_(lab.ec2d("describe-topology")[1].get("Revision"), REV, "... and the lab did not change")

# ------------------------------------------------------------------ the page's URL and its token
rc, lab_d, err = lab.ec2d("describe-lab")
URL = (lab_d or {}).get("TopologyUrl", "")
t.like(URL, r"^%s/topology\?token=[0-9a-f]{32}$" % re.escape(lab.endpoint),
       "describe-lab prints the page's URL with its token")
CALL = URL.replace("/topology?", "/topology/call?")


def http(url, body=None, method=None):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as ex:
        return ex.code, ex.read().decode(), ex.headers


st, body, hdrs = http(URL)
t.ok(st == 200 and "<html" in body and "text/html" in hdrs.get("Content-Type", "") and
     "default-src 'none'" in hdrs.get("Content-Security-Policy", ""),
     "GET the URL: the page (HTML, nothing from elsewhere by its CSP)", st, body[:200])
t.ok(not re.search(r"""(src|href)=["']?(https?:)?//""", body), "... no script, style or image from another origin")
base = URL.split("?")[0]
for what, u in (("without the token", base), ("with another token", base + "?token=" + "0" * 32),
                ("with a token too short", base + "?token=ab")):
    t.is_(http(u)[0], 403, "the page %s: 403" % what)
for what, u in (("without the token", base + "/call"), ("with another token", base + "/call?token=" + "1" * 32)):
    st, body, _ = http(u, {"Call": "DescribeTopology", "Params": {}})
    t.ok(st == 403 and "AccessDenied" in body and "Svg" not in body and "Topology" not in body,
         "a data call %s: 403, no data" % what, st, body[:200])
st, body, _ = http(CALL, {"Call": "DescribeTopology", "Params": {"Format": "svg", "Since": REV}})
t.ok(st == 200 and json.loads(body)["Result"] == {"Revision": REV, "Unchanged": True},
     "a data call with the token: the revision, unchanged since REV", st, body[:300])
nvpcs = len(ec2.describe_vpcs()["Vpcs"])
st, body, _ = http(CALL, {"Call": "CreateVpc", "Params": {"CidrBlock": "10.99.0.0/16"}})
t.ok(st == 400 and "InvalidAction" in body, "the relay refuses CreateVpc (not on its list)", st, body)
t.is_(len(ec2.describe_vpcs()["Vpcs"]), nvpcs, "... and no VPC was made")
t.is_(http(CALL)[0], 405, "GET of the call path: 405")
t.is_(http(base + "/elsewhere?" + URL.split("?")[1])[0], 404, "another path under /topology: 404")
st, body, _ = http(CALL, {"Call": "DescribeNetworkInsightsAnalyses", "Params": {}})
t.ok(st in (200, 400) and ("Result" in body or "Error" in body), "the analysis calls pass the relay (an answer or an error)",
     st, body[:200])

# ------------------------------------------------------------------ a flow log into a log group, when there is one
FLOW = None  # the message the ENI's panel should show, or None: "no flow log" or an error
try:
    logs = lab.boto3_client(service="logs")
    G = "/vpclab/topology-flow"
    logs.create_log_group(logGroupName=G)
    ec2.create_flow_logs(ResourceIds=[E1], ResourceType="NetworkInterface", TrafficType="ALL",
                         LogDestinationType="cloud-watch-logs", LogGroupName=G,
                         DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flow-logs")
    FLOW = "2 123456789012 %s 10.72.1.9 %s 40000 22 6 1 60 %d %d ACCEPT OK" % (
        E1, e1["PrivateIpAddress"], int(time.time()) - 60, int(time.time()) - 50)
    try:
        logs.create_log_stream(logGroupName=G, logStreamName=E1 + "-all")
    except t.ClientError:
        pass  # the flow log made it
    logs.put_log_events(logGroupName=G, logStreamName=E1 + "-all",
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": FLOW}])
except Exception as ex:  # noqa: BLE001 (CloudWatch Logs or flow logs to it not there yet)
    t.diag("no flow log into a log group (%s): the panel should say so" % ex)
    FLOW = None

# ------------------------------------------------------------------ Chromium: dump-dom and screenshot
if not cdp.CHROMIUM:
    t.ok(False, "headless Chromium (scripts/setup installs it)")
    t.done()
p = subprocess.run([cdp.CHROMIUM] + cdp.FLAGS + ["--virtual-time-budget=10000", "--dump-dom", URL],
                   capture_output=True, text=True, timeout=120)
dom = p.stdout
t.ok('<svg xmlns="http://www.w3.org/2000/svg" class="topology"' in dom, "Chromium --dump-dom: the page drew the SVG",
     p.stderr[-800:], dom[:500])
missing = [x for x in (va, vb, pub, priv, sb, E1, E2, E3, igw, pcx) + ((inst,) if inst else ())
           if 'data-id="%s"' % x not in dom]
t.is_(missing, [], "... every object of the lab is in the rendered DOM")
t.like(dom, r'id="status"[^>]*data-revision="%s"' % REV, "... at the lab's revision")
shot = os.path.join(tmp, "page.png")
p = subprocess.run([cdp.CHROMIUM] + cdp.FLAGS + ["--virtual-time-budget=10000", "--window-size=1400,900",
                                                 "--screenshot=" + shot, URL], capture_output=True, text=True, timeout=120)
try:
    ncol, white, size = cdp.png_colours(open(shot, "rb").read())
    t.ok(size == (1400, 900) and ncol >= 8 and white < 0.97,
         "Chromium --screenshot: not blank (%d colours, %.0f%% white)" % (ncol, white * 100))
except (OSError, ValueError) as ex:
    t.ok(False, "Chromium --screenshot: a PNG", repr(ex), p.stderr[-500:])

# ------------------------------------------------------------------ the page kept open
b = cdp.Browser(URL)
try:
    t.ok(b.wait("document.querySelector('#drawing svg.topology') !== null", 20) is not None,
         "the page, kept open (DevTools protocol): drawn")
    changes0 = b.eval("+document.getElementById('status').dataset.changes")
    t0 = time.monotonic()
    new = ec2.create_subnet(VpcId=vb, CidrBlock="10.72.9.0/24", AvailabilityZone="us-east-1c")["Subnet"]["SubnetId"]
    took = b.wait("document.querySelector('#drawing g.vpc[data-id=\"%s\"] g.subnet[data-id=\"%s\"]') !== null" % (vb, new), 10)
    lat = None if took is None else time.monotonic() - t0
    t.ok(lat is not None and lat < 3, "a subnet added: the open page shows it inside its VPC after %s s" % (
        "%.2f" % lat if lat is not None else "never"))
    t.ok(b.eval("+document.getElementById('status').dataset.changes") > changes0, "... by a poll (a new revision)")
    n = b.screenshot()
    ncol, white, _ = cdp.png_colours(n)
    t.ok(ncol >= 8 and white < 0.97, "... its screenshot is not blank (%d colours)" % ncol)

    # An ENI's panel.
    b.eval("document.querySelector('#drawing g.eni[data-id=\"%s\"]').dispatchEvent(new MouseEvent('click', {bubbles: true}))" % E1)
    t.ok(b.wait("document.getElementById('panel').dataset.selected === '%s'" % E1, 5) is not None,
         "a click on ENI 1 opens its panel")
    t.ok(b.wait("document.querySelectorAll('#sg-rules table.sg[data-id=\"%s\"] tr.rule').length > 0" % sg, 10) is not None,
         "... its security group with its rules")
    rules = b.eval("document.getElementById('sg-rules').innerText") or ""
    t.ok("10.72.0.0/16" in rules and "22" in rules, "... the rule authorised (tcp 22 from 10.72.0.0/16)", rules)
    t.ok(b.wait("(document.getElementById('flowlog').innerText || '').trim() !== ''", 10) is not None,
         "... its flow log: a tail, 'no flow log' or the error as text")
    fl = b.eval("document.getElementById('flowlog').innerText") or ""
    t.diag("flow log box: %s" % fl[:300])
    if FLOW:
        t.ok(b.wait("document.getElementById('flowlog').innerText.includes(%s)" % json.dumps(FLOW), 10) is not None,
             "... the tail of its flow log's group (FilterLogEvents)", fl)
    else:
        t.ok("no flow log" in fl or "Error" in fl or ":" in fl, "... 'no flow log' (none into a log group here)", fl)
    summ = b.eval("document.getElementById('summary').innerText") or ""
    t.ok(eip["PublicIp"] in summ and e1["PrivateIpAddress"] in summ and pub in summ,
         "... its addresses and subnet", summ)
    b.eval("""(() => { const f = document.getElementById('analysis-form');
      f.destination.value = '%s'; f.port.value = '22'; f.protocol.value = 'tcp';
      f.requestSubmit(); return true; })()""" % e3["PrivateIpAddress"])
    done = b.wait("(() => { const t = (document.getElementById('analysis-result').innerText || '').trim();"
                  " return t !== '' && t !== 'analysing…'; })()", 20)
    res = b.eval("document.getElementById('analysis-result').innerText") or ""
    t.ok(done is not None, "... the path analysis form: its answer or its error as text", res)
    t.diag("analysis: %s" % res[:300])
    with open(os.path.join(tmp, "panel.png"), "wb") as f:
        f.write(b.screenshot())
    if inst:
        b.eval("document.querySelector('#drawing g.instance[data-id=\"%s\"]').dispatchEvent(new MouseEvent('click', {bubbles: true}))" % inst)
        t.ok(b.wait("(document.getElementById('summary') || {}).innerText && "
                    "document.getElementById('summary').innerText.includes('t3.micro')", 5) is not None,
             "a click on the instance: its panel, with its ENI")
finally:
    b.close()

t.done()
