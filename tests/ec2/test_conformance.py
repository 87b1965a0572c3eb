#!/usr/bin/python3
"""scripts/conformance (TAP): on a small model, actions list and scope page it classifies each
action as the rules say (implemented wins over out of scope, served-but-unimplemented is
missing, a regex and a substring rule, an unmatched action is missing) with the right totals;
on the real files it runs, every action of actions.txt is in botocore's model, and every
in-scope line is one of the model's actions; a bad file is exit 2."""
import json
import os
import subprocess
import sys
import tempfile

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(SRC, "scripts", "conformance")
n = 0
failed = 0


def ok(cond, desc, *diag):
    global n, failed
    n += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, desc))
    if not cond:
        failed += 1
        for d in diag:
            print("# " + str(d).replace("\n", "\n# "))


def run(*args):
    p = subprocess.run(["/usr/bin/python3", SCRIPT] + list(args), capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


d = tempfile.mkdtemp()
model = os.path.join(d, "service-2.json")
with open(model, "w") as f:
    json.dump({"operations": {k: {} for k in ["RunInstances", "DescribeSpotPriceHistory", "CreateTransitGateway",
                                              "AssociateVpcCidrBlock", "CreateVolume", "ExportImage",
                                              "DescribeSpotThing"]}}, f)
actions = os.path.join(d, "actions.txt")
with open(actions, "w") as f:
    f.write("# comment\nRunInstances\nAssociateVpcCidrBlock  # served\nDescribeSpotThing\n")
doc = os.path.join(d, "conformance.md")
with open(doc, "w") as f:
    f.write("# x\n\n## Served but not implemented yet\n\n- `AssociateVpcCidrBlock`\n\n"
            "## Out of scope\n\n- `Spot`: the spot market.\n- `TransitGateway`: fabric.\n- `/^Export/`: S3.\n")
rc, out, err = run("--model", model, "--actions", actions, "--doc", doc, "--json")
ok(rc == 0, "runs on a small model (exit %d)" % rc, err)
res = json.loads(out) if rc == 0 else {"actions": [], "totals": {}}
st = {r["action"]: r["status"] for r in res["actions"]}
ok(st == {"RunInstances": "implemented", "DescribeSpotPriceHistory": "out-of-scope",
          "CreateTransitGateway": "out-of-scope", "AssociateVpcCidrBlock": "missing", "CreateVolume": "missing",
          "ExportImage": "out-of-scope", "DescribeSpotThing": "implemented"},
   "each action classified: implemented wins over a rule, served-but-unimplemented is missing, regex and substring rules", st)
reason = {r["action"]: r.get("reason") for r in res["actions"]}
ok(reason.get("ExportImage") == "S3." and reason.get("DescribeSpotPriceHistory") == "the spot market.",
   "out-of-scope actions carry their rule's reason", reason)
t = res["totals"]
ok((t.get("model"), t.get("in_scope"), t.get("implemented"), t.get("missing"), t.get("out_of_scope"), t.get("percent")) ==
   (7, 4, 2, 2, 3, 50.0), "totals: 7 in the model, 4 in scope, 2 implemented (50%), 2 missing, 3 out of scope", t)
rc, out, err = run("--model", model, "--actions", actions, "--doc", doc)
ok(rc == 0 and "# Totals: 7 actions in the model; 4 in scope, 2 implemented (50.0%), 2 missing; 3 out of scope" in out and
   "Spot — the spot market. (1): DescribeSpotPriceHistory" in out, "the text report: totals and the out-of-scope list by reason", out)
rc, out, err = run("--model", model, "--actions", actions, "--doc", doc, "--missing")
ok(rc == 0 and sorted(l.split()[0] for l in out.splitlines() if l.endswith("missing") and l[0] != "#") ==
   ["AssociateVpcCidrBlock", "CreateVolume"] and
   not any(l.endswith("implemented") for l in out.splitlines() if not l.startswith("#")),
   "--missing lists only the missing", out)
rc, out, err = run("--model", os.path.join(d, "nope.json"), "--actions", actions, "--doc", doc)
ok(rc == 2 and "conformance:" in err and out == "", "a model that does not exist: exit 2 and a message", rc, err)

# The real files.
rc, out, err = run("--json")
if rc == 2 and "not installed" in err:
    print("ok %d - the real model # SKIP botocore's EC2 model is not installed" % (n + 1))
    n += 1
else:
    res = json.loads(out) if rc == 0 else {"actions": [], "totals": {}}
    t = res["totals"]
    ok(rc == 0 and t.get("model", 0) > 500, "on botocore's EC2 model: %s actions" % t.get("model"), err)
    ok(t.get("served_not_in_model") == [], "every action of actions.txt is in the model", t.get("served_not_in_model"))
    with open(os.path.join(SRC, "ec2d", "api", "actions.txt")) as f:
        served = {l.split("#")[0].strip() for l in f} - {""}
    impl = {r["action"] for r in res["actions"] if r["status"] == "implemented"}
    ok(impl <= served and len(impl) >= len(served) - 10,
       "implemented: %d of actions.txt's %d (the rest listed as not implemented yet)" % (len(impl), len(served)))
    ok(all(r.get("reason") for r in res["actions"] if r["status"] == "out-of-scope"),
       "every out-of-scope action has a reason (docs/conformance.md)")
    ok(t.get("in_scope", 0) == t.get("implemented", 0) + t.get("missing", 0) and
       t.get("model") == t.get("in_scope", 0) + t.get("out_of_scope", 0),
       "totals add up: %s" % json.dumps({k: v for k, v in t.items() if k != "served_not_in_model"}))
print("1..%d" % n)
sys.exit(1 if failed else 0)
