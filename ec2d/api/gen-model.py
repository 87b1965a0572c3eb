#!/usr/bin/env python3
"""Writes model.json: the part of botocore's EC2 model that ec2d serves.

Reads botocore's service-2.json (Debian's python3-botocore by default) and keeps only the
operations named in actions.txt and the shapes reachable from their input and output, with the
documentation stripped; a rest-json model (FIS) also keeps the error shapes its operations
name, whose `error.httpStatusCode` is the HTTP status of that code. model.json is committed, so a build never needs botocore; run this
again after changing actions.txt:

    ec2d/api/gen-model.py [--spec service-2.json] [--actions actions.txt] [--out model.json]

One operation and one shape per line, in the model's own order (a structure's member order is
the order elements are written in a response), so a regenerated file diffs line by line.
A json-protocol model (CloudWatch Logs) keeps its error shapes too, and its jsonVersion and
targetPrefix (the X-Amz-Target header's prefix).
"""
import argparse
import gzip
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SPEC = "/usr/lib/python3/dist-packages/botocore/data/ec2/2016-11-15/service-2.json"
DROP = {"documentation", "documentationUrl", "deprecatedMessage", "examples"}
METADATA = ("apiVersion", "endpointPrefix", "protocol", "serviceId", "signatureVersion",
            "signingName", "uid", "xmlNamespace")
JSON_METADATA = ("jsonVersion", "targetPrefix")


def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in DROP}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def read_actions(path):
    actions = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line and line not in actions:
                actions.append(line)
    return actions


def load_spec(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return json.load(f)


def reachable(shapes, roots):
    seen = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = shapes[name]
        refs = []
        if shape["type"] == "structure":
            refs = [m["shape"] for m in shape.get("members", {}).values()]
        elif shape["type"] == "list":
            refs = [shape["member"]["shape"]]
        elif shape["type"] == "map":
            refs = [shape["key"]["shape"], shape["value"]["shape"]]
        todo.extend(refs)
    return seen


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", default=DEFAULT_SPEC)
    ap.add_argument("--actions", default=os.path.join(HERE, "actions.txt"))
    ap.add_argument("--out", default=os.path.join(HERE, "model.json"))
    args = ap.parse_args()

    spec = load_spec(args.spec)
    actions = read_actions(args.actions)
    missing = [a for a in actions if a not in spec["operations"]]
    if missing:
        sys.exit("gen-model: not in %s: %s" % (args.spec, ", ".join(missing)))

    ops = {}
    roots = []
    for a in actions:
        op = strip(spec["operations"][a])
        ops[a] = op
        for io in ("input", "output"):
            if io in op:
                roots.append(op[io]["shape"])
        if spec["metadata"].get("protocol") in ("rest-json", "json"):
            # Only there: the query-protocol models stay as they were generated.
            roots.extend(err["shape"] for err in op.get("errors", []))
    keep = reachable(spec["shapes"], roots)
    shapes = {n: strip(s) for n, s in spec["shapes"].items() if n in keep}
    meta = {k: spec["metadata"][k] for k in METADATA if k in spec["metadata"]}
    if spec["metadata"].get("protocol") == "json":
        # The json protocol names the operation in X-Amz-Target: targetPrefix.Operation.
        meta.update({k: spec["metadata"][k] for k in JSON_METADATA if k in spec["metadata"]})

    def block(d):
        return ",\n".join(json.dumps(k) + ":" + json.dumps(v, separators=(",", ":"))
                          for k, v in d.items())

    text = ('{"metadata":%s,\n"operations":{\n%s},\n"shapes":{\n%s}}\n'
            % (json.dumps(meta, separators=(",", ":")), block(ops), block(shapes)))
    json.loads(text)  # what we write must read back
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, args.out)
    print("gen-model: %d operations, %d shapes, %d bytes -> %s"
          % (len(ops), len(shapes), len(text), args.out))


if __name__ == "__main__":
    main()
