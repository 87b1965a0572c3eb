"""TAP output and the api_tool driver, shared by the python tests of the EC2 Query API codec.

Each test takes api_tool's path as argv[1] and exits 77 (skipped) when botocore cannot be
imported; botocore is what every test here measures the C code against. argv[2], if given,
names the service (ec2, sts, iam, fis; API_SERVICE for api_tool), else ec2.
"""
import json
import os
import subprocess
import sys

count = 0
failed = 0
SERVICE_NAME = sys.argv[2] if len(sys.argv) > 2 else "ec2"
os.environ["API_SERVICE"] = SERVICE_NAME


def ok(cond, desc, *diag):
    global count, failed
    count += 1
    print(("ok" if cond else "not ok") + " %d - %s" % (count, desc.replace("#", "\\#")))
    if not cond:
        failed += 1
        for d in diag:
            for line in str(d).splitlines():
                print("#   " + line)
    sys.stdout.flush()
    return cond


def done():
    print("1..%d" % count)
    if failed:
        print("# %d of %d tests failed" % (failed, count))
    sys.exit(1 if failed else 0)


def need_botocore():
    try:
        import botocore.session  # noqa: F401
    except ImportError:
        print("1..0 # SKIP botocore is not installed")
        sys.exit(77)


def tool(*args, stdin=b""):
    """Runs api_tool; returns (exit code, stdout as text)."""
    p = subprocess.run([sys.argv[1]] + list(args), input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if p.returncode not in (0, 1):
        raise RuntimeError("api_tool %s failed (%d): %s" % (args, p.returncode,
                                                             p.stderr.decode(errors="replace")))
    return p.returncode, p.stdout.decode()


def tool_json(*args, stdin=b""):
    rc, out = tool(*args, stdin=stdin)
    return rc, json.loads(out)


def our_model():
    """ec2d/api/model.json (or model-SERVICE.json), the model the C code was built with."""
    src = os.environ.get("SRCDIR") or os.path.join(os.path.dirname(__file__), "..", "..")
    name = "model.json" if SERVICE_NAME == "ec2" else "model-%s.json" % SERVICE_NAME
    with open(os.path.join(src, "ec2d", "api", name)) as f:
        return json.load(f)
