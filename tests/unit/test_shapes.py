#!/usr/bin/env python3
"""Output shapes against botocore's EC2 model (TAP).

Runs `test_handlers --dump-shapes` (argv[1]), which prints one {"op": ..., "output": ...} line
per operation it ran against an in-memory model, and checks every key of every output against
the output shape of that operation in botocore's service-2.json: a key the model does not have
is a failure (the aws CLI and boto3 would never produce it), and so is a value of the wrong JSON
type or a string outside the shape's enum. botocore member names are the JSON keys.

Exit 77 (skip) if the botocore model is not installed.
"""
import gzip
import json
import os
import subprocess
import sys

# The spec ec2d/api/model.json is generated from (a newer botocore than Debian's, with members
# such as SecurityGroupArn), else Debian's.
_SPECS = ["/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/botocore/data/ec2/2016-11-15/service-2.json.gz",
          "/usr/lib/python3/dist-packages/botocore/data/ec2/2016-11-15/service-2.json"]
MODEL = os.environ.get("BOTOCORE_EC2_MODEL") or next((p for p in _SPECS if os.path.exists(p)), _SPECS[-1])

# The operations the brief asks about; each must appear in the dump.
REQUIRED = ["CreateVpc", "DescribeSubnets", "DescribeRouteTables", "DescribeNetworkInterfaces",
            "CreateRouteTable", "DescribeRegions", "DescribeAvailabilityZones", "DescribeTags"]

count = 0
failed = 0


def ok(cond, desc, problems=()):
    global count, failed
    count += 1
    print(("ok" if cond else "not ok") + " %d - %s" % (count, desc.replace("#", "\\#")))
    for p in problems:
        print("#   " + p)
    if not cond:
        failed += 1
    sys.stdout.flush()
    return cond


def check(shapes, shape_name, value, path, problems):
    """Appends to `problems` every key or value at or below `path` the model does not allow."""
    shape = shapes[shape_name]
    t = shape["type"]
    if t == "structure":
        if not isinstance(value, dict):
            problems.append("%s: expected an object (%s), got %r" % (path, shape_name, value))
            return
        members = shape.get("members", {})
        for key, sub in value.items():
            if key not in members:
                problems.append("%s.%s: no member '%s' in %s" % (path, key, key, shape_name))
                continue
            check(shapes, members[key]["shape"], sub, "%s.%s" % (path, key), problems)
    elif t == "list":
        if not isinstance(value, list):
            problems.append("%s: expected a list (%s), got %r" % (path, shape_name, value))
            return
        for i, item in enumerate(value):
            check(shapes, shape["member"]["shape"], item, "%s[%d]" % (path, i), problems)
    elif t == "map":
        if not isinstance(value, dict):
            problems.append("%s: expected a map (%s), got %r" % (path, shape_name, value))
            return
        for k, v in value.items():
            check(shapes, shape["value"]["shape"], v, "%s[%s]" % (path, k), problems)
    elif t == "boolean":
        if not isinstance(value, bool):
            problems.append("%s: expected a boolean (%s), got %r" % (path, shape_name, value))
    elif t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append("%s: expected an integer (%s), got %r" % (path, shape_name, value))
    elif t in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append("%s: expected a number (%s), got %r" % (path, shape_name, value))
    elif t in ("string", "timestamp", "blob"):
        if not isinstance(value, str):
            problems.append("%s: expected a string (%s), got %r" % (path, shape_name, value))
        elif "enum" in shape and value not in shape["enum"]:
            problems.append("%s: '%s' is not one of %s's values %s"
                            % (path, value, shape_name, shape["enum"]))
    else:
        problems.append("%s: unhandled botocore type %s (%s)" % (path, t, shape_name))


def main():
    if not os.path.exists(MODEL):
        print("1..0 # SKIP botocore EC2 model not installed (%s)" % MODEL)
        return 77
    if len(sys.argv) < 2:
        print("Bail out! usage: test_shapes.py PATH-TO-test_handlers")
        return 1
    with (gzip.open(MODEL, "rt") if MODEL.endswith(".gz") else open(MODEL)) as f:
        model = json.load(f)
    shapes = model["shapes"]

    proc = subprocess.run([sys.argv[1], "--dump-shapes"], capture_output=True, text=True,
                          timeout=30)
    ok(proc.returncode == 0, "the shape dump ran (exit %d)" % proc.returncode,
       [l for l in (proc.stderr.splitlines() + proc.stdout.splitlines()) if not l.startswith("{")]
       if proc.returncode else [])

    seen = set()
    for n, line in enumerate(proc.stdout.splitlines(), 1):
        try:
            rec = json.loads(line)
            op, out = rec["op"], rec["output"]
        except (ValueError, KeyError, TypeError) as ex:
            ok(False, "dump line %d is a JSON record" % n, ["%s: %s" % (ex, line[:200])])
            continue
        if op not in model["operations"]:
            ok(False, "%s is an EC2 operation" % op)
            continue
        out_shape = model["operations"][op].get("output", {}).get("shape")
        if out_shape is None:
            ok(out in ({}, None), "%s has no output in the model, and prints none" % op)
            continue
        problems = []
        check(shapes, out_shape, out, op, problems)
        ok(not problems and isinstance(out, dict) and len(out) > 0,
           "%s output (line %d) conforms to %s" % (op, n, out_shape), problems)
        seen.add(op)

    for op in REQUIRED:
        ok(op in seen, "the dump covers %s" % op)

    # The checker itself must reject what the model lacks, or the tests above prove nothing.
    problems = []
    check(shapes, "CreateVpcResult", {"Vpc": {"VpcId": "vpc-1", "Bogus": 1}}, "self", problems)
    ok(len(problems) == 1 and "Bogus" in problems[0], "the checker rejects an unknown key")
    problems = []
    check(shapes, "CreateVpcResult", {"Vpc": {"IsDefault": "false"}}, "self", problems)
    ok(len(problems) == 1, "the checker rejects a string where a boolean belongs")

    print("1..%d" % count)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
