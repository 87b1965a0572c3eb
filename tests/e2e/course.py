#!/usr/bin/env python3
"""End to end: the course (labs/). For every lab: deploy its start.yaml as a stack
(`ec2d deploy`), run its check (must fail: exit 1, naming the failing lines), update the stack
to the solution template.yaml, run the check (must pass: exit 0), delete the stack and check
that nothing of it is left. Then the check file's errors: malformed YAML, an unknown check
kind, an unknown logical ID, each exit 2 with the line named, and nothing run.
COURSE_LABS=01,03 runs only those labs (while writing one)."""
import glob
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t

lab = t.Lab("198.18.52.0/22", need_aws=False)
src = lab.srcdir
labs = sorted(d for d in glob.glob(os.path.join(src, "labs", "[0-9][0-9]-*")) if os.path.isdir(d))
only = os.environ.get("COURSE_LABS")
if only:
    labs = [d for d in labs if os.path.basename(d)[:2] in only.split(",")]
t.ok(len(labs) >= (1 if only else 6), "the course has its labs (%d)" % len(labs))
if not lab.image_ready(wait=5):
    t.skip_all("no busybox image (images/build busybox)")
ami = lab.ami()


def check(d, stack, fmt="tap", file="check.yaml"):
    return lab.ec2d("check", "--check-file", os.path.join(d, file), "--stack-name", stack, "--format", fmt,
                    timeout=300)


def failing(tap):
    return [l for l in (tap or "").splitlines() if l.startswith("not ok")]


def deploy(d, stack, which):
    t0 = time.time()
    rc, out, err = lab.ec2d("deploy", "--template-file", os.path.join(d, which), "--stack-name", stack,
                            "--parameter-overrides", "ImageId=%s" % ami, timeout=300)
    return rc, time.time() - t0, (out if isinstance(out, str) else json.dumps(out)) + err


def stack_status(stack):
    rc, out, err = lab.ec2d("describe-stacks", "--stack-name", stack)
    st = [s.get("StackStatus") for s in (out or {}).get("Stacks", [])] if rc == 0 else []
    return "DELETE_FAILED" if "DELETE_FAILED" in st else "GONE" if all(x == "DELETE_COMPLETE" for x in st) else st[0]


def stack_gone(stack):
    return stack_status(stack) == "GONE"


def delete(stack):
    """delete-stack, and again while it ends DELETE_FAILED (at most 3 times): (gone, tries)."""
    for tries in range(1, 4):
        lab.ec2d("delete-stack", "--stack-name", stack)
        st = t.retry(lambda: stack_status(stack) in ("GONE", "DELETE_FAILED") and stack_status(stack), timeout=120,
                     interval=0.5)
        if st == "GONE":
            return True, tries
        rc, ev, _ = lab.ec2d("describe-stack-events", "--stack-name", stack)
        t.diag("delete-stack %s try %d: %s" % (stack, tries, st), *["%s: %s" % (e["LogicalResourceId"], e.get(
            "ResourceStatusReason", "")) for e in (ev or {}).get("StackEvents", [])
            if e.get("ResourceStatus") == "DELETE_FAILED"][:3])
        time.sleep(2)
    return False, tries


def settled_check(d, stack, want_rc, tries=8):
    """The check, again until it gives want_rc (instances boot, user data starts httpd)."""
    for i in range(tries):
        rc, out, err = check(d, stack)
        if rc == want_rc:
            break
        time.sleep(3)
    return rc, out, err


for d in labs:
    name = os.path.basename(d)
    stack = "c" + name[:2]
    for f in ("template.yaml", "start.yaml", "check.yaml", "README.md"):
        t.ok(os.path.exists(os.path.join(d, f)), "%s has %s" % (name, f))
    readme = open(os.path.join(d, "README.md")).read()
    t.like(readme, r"ec2d deploy --template-file labs/%s/start\.yaml" % re.escape(name), "%s: README gives the deploy command" % name)
    t.like(readme, r"ec2d check --check-file labs/%s/check\.yaml" % re.escape(name), "%s: README gives the check command" % name)
    rc, secs, log = deploy(d, stack, "start.yaml")
    t.is_(rc, 0, "%s: start.yaml deploys (%.1f s)" % (name, secs))
    if rc:
        # Why it failed (the events that say FAILED), then how it ended.
        t.diag("\n".join(l for l in log.splitlines() if "FAILED" in l)[-3000:])
        t.diag(log[-1500:])
        continue
    # The starting state fails, and stays failing: a few seconds for the instances first.
    time.sleep(2)
    rc, out, err = check(d, stack)
    t.ok(rc == 1, "%s: the check fails on the starting state (exit %d)" % (name, rc), err)
    bad = failing(out)
    t.ok(bad and all(re.search(r"\(.*check\.yaml:\d+\)", l) for l in bad),
         "%s: the failing lines are named with their line in check.yaml (%d failing)" % (name, len(bad)), *bad)
    rc, secs, log = deploy(d, stack, "template.yaml")
    t.is_(rc, 0, "%s: the stack updates to the solution (%.1f s)" % (name, secs))
    if rc:
        t.diag(log[-2000:])
    rc, out, err = settled_check(d, stack, 0)
    t.ok(rc == 0, "%s: the check passes on the solution (exit %d)" % (name, rc), *(failing(out) or [err]))
    rc, out, err = lab.ec2d("check", "--check-file", os.path.join(d, "check.yaml"), "--stack-name", stack,
                            "--format", "json", timeout=300)
    t.ok(rc == 0 and isinstance(out, dict) and out.get("Passed") is True and out.get("Failed") == 0,
         "%s: --format json says the same" % name)
    rc, res, _ = lab.ec2d("describe-stack-resources", "--stack-name", stack)
    made = [r["PhysicalResourceId"] for r in (res or {}).get("StackResources", [])
            if r["ResourceType"] in ("AWS::EC2::VPC", "AWS::EC2::Instance")]
    t0 = time.time()
    gone, tries = delete(stack)
    t.ok(gone, "%s: the stack deletes (%.1f s, %d delete-stack)" % (name, time.time() - t0, tries))
    rc, vpcs, _ = lab.ec2d("describe-vpcs")
    rc2, res, _ = lab.ec2d("describe-instances")
    live = [v["VpcId"] for v in (vpcs or {}).get("Vpcs", [])] + [
        i["InstanceId"] for r in (res or {}).get("Reservations", []) for i in r["Instances"]
        if i["State"]["Name"] != "terminated"]
    left = [x for x in made if x in live]
    t.ok(rc == 0 and rc2 == 0 and made and not left, "%s: nothing of it is left (%d VPCs and instances made)" %
         (name, len(made)), left)

# The check file's errors: exit 2, the line named, nothing run.
bad_dir = os.path.join(lab.dir, "bad")
os.makedirs(bad_dir)
cases = [
    ("malformed YAML", "checks:\n  - reach: {from: internet, to: Web, port: 80\n", r"bad\.yaml:3: not YAML"),
    ("an unknown check kind", "checks:\n  - route: {route-table: rtb-0, destination: 0.0.0.0/0}\n  - pign: {to: x}\n",
     r"bad\.yaml:3: unknown check kind 'pign'"),
    ("an unknown field", "checks:\n  - reach: {from: internet, to: 10.0.0.1, port: 80, colour: red}\n",
     r"bad\.yaml:2: unknown field 'colour'"),
]
for what, text, want in cases:
    p = os.path.join(bad_dir, "bad.yaml")
    open(p, "w").write(text)
    rc, out, err = lab.ec2d("check", "--check-file", p)
    t.is_(rc, 2, "a check file with %s: exit 2" % what)
    t.like(err, want, "... and the error names the line")
# An unknown logical ID, against a real stack (lab 1's starting state).
d = os.path.join(src, "labs", "01-nat-gateway")
rc, secs, log = deploy(d, "cerr", "start.yaml")
p = os.path.join(bad_dir, "unknown.yaml")
open(p, "w").write("checks:\n  - reach: {from: internet, to: PublicInstance, port: 80}\n"
                   "  - route: {route-table: NoSuchTable, destination: 0.0.0.0/0}\n")
rc, out, err = lab.ec2d("check", "--check-file", p, "--stack-name", "cerr")
t.is_(rc, 2, "a check naming an unknown logical ID: exit 2")
t.like(err, r"unknown\.yaml:3: 'NoSuchTable' \(field 'route-table'\) is not a logical ID of the stack 'cerr'",
       "... the error names the line, the ID and the stack")
t.ok(not out, "... and no check ran (no table printed)")
rc, out, err = lab.ec2d("check", "--check-file", os.path.join(bad_dir, "missing.yaml"))
t.is_(rc, 2, "a check file that does not exist: exit 2")
t.ok(delete("cerr")[0], "the error stack deletes")
t.done()
