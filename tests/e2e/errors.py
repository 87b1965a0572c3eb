#!/usr/bin/env python3
"""Errors as the clients see them: EC2's codes, messages and HTTP statuses through boto3
(ClientError's Error.Code and HTTPStatusCode), the aws CLI (exit 254 and its "An error occurred
(Code) when calling the Op operation: message" line), and raw requests signed with botocore's
SigV4Auth and sent with urllib (a bogus parameter, a lab-only action, a stale date, no
signature). A refused request changes nothing: the model is compared before and after.
"""
import contextlib
import datetime
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402
import botocore.auth  # noqa: E402
from botocore import UNSIGNED  # noqa: E402
from botocore.auth import SigV4Auth, SigV4QueryAuth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

lab = t.Lab("198.19.224.0/20")
ec2 = lab.client
NOVPC, NOSUBNET, NOI, NOAMI = "vpc-0123456789abcdef0", "subnet-0123456789abcdef0", "i-0123456789abcdef0", "ami-0123456789abcdef0"

V = ec2.create_vpc(CidrBlock="10.80.0.0/16")["Vpc"]["VpcId"]
S = ec2.create_subnet(VpcId=V, CidrBlock="10.80.1.0/24")["Subnet"]["SubnetId"]


def snapshot():
    """What no refused request may change."""
    c = lab.client
    return (c.describe_vpcs()["Vpcs"], c.describe_subnets()["Subnets"], c.describe_security_groups()["SecurityGroups"],
            c.describe_route_tables()["RouteTables"], c.describe_instances()["Reservations"],
            c.describe_tags()["Tags"], sorted(n for n in t.netns_names() if n.startswith(lab.prefix)))


before = snapshot()


def expect(code, status, fn, desc, msg_re=None, todo=None, **kw):
    got_code, msg, got_status = t.call_error(fn, **kw)
    good = got_code == code and got_status == status and (msg_re is None or re.search(msg_re, msg or ""))
    t.ok(good, "boto3 %s: %s, HTTP %d" % (desc, code, status),
         "got %s (HTTP %s): %s" % (got_code, got_status, msg), todo=todo)


# ------------------------------------------------------------------------- boto3
expect("InvalidVpcID.NotFound", 400, ec2.describe_vpcs, "DescribeVpcs of an unknown VPC",
       r"^The vpc ID '%s' does not exist$" % NOVPC, VpcIds=[NOVPC])
expect("InvalidVpcID.NotFound", 400, ec2.create_subnet, "CreateSubnet in an unknown VPC", NOVPC,
       VpcId=NOVPC, CidrBlock="10.0.0.0/24")
expect("InvalidSubnetID.NotFound", 400, ec2.describe_subnets, "DescribeSubnets of an unknown subnet",
       r"^The subnet ID '%s' does not exist$" % NOSUBNET, SubnetIds=[NOSUBNET])
expect("InvalidInstanceID.NotFound", 400, ec2.describe_instances, "DescribeInstances of an unknown instance",
       r"^The instance ID '%s' does not exist$" % NOI, InstanceIds=[NOI])
expect("InvalidInstanceID.NotFound", 400, ec2.terminate_instances, "TerminateInstances of an unknown instance", NOI,
       InstanceIds=[NOI])
expect("InvalidAMIID.NotFound", 400, ec2.run_instances, "RunInstances of an unknown image", NOAMI,
       ImageId=NOAMI, MinCount=1, MaxCount=1, SubnetId=S)
expect("InvalidParameterValue", 400, ec2.create_vpc, "CreateVpc 10.0.0.0/33", r"10\.0\.0\.0/33", CidrBlock="10.0.0.0/33")
expect("InvalidSubnet.Range", 400, ec2.create_subnet, "CreateSubnet outside the VPC's CIDR", r"10\.99\.0\.0/24",
       VpcId=V, CidrBlock="10.99.0.0/24")
expect("InvalidParameterValue", 400, ec2.run_instances, "RunInstances of an unknown instance type", r"t9\.huge",
       ImageId=lab.ami() or NOAMI, InstanceType="t9.huge", MinCount=1, MaxCount=1, SubnetId=S)
expect("InvalidSubnet.Conflict", 400, ec2.create_subnet, "CreateSubnet overlapping another",
       VpcId=V, CidrBlock="10.80.1.128/25")
expect("DryRunOperation", 412, ec2.create_vpc, "CreateVpc DryRun=True", r"Request would have succeeded",
       CidrBlock="10.81.0.0/16", DryRun=True)
expect("DryRunOperation", 412, ec2.describe_vpcs, "DescribeVpcs DryRun=True", DryRun=True)
if lab.ami():
    expect("DryRunOperation", 412, ec2.run_instances, "RunInstances DryRun=True", ImageId=lab.ami(), MinCount=1,
           MaxCount=1, SubnetId=S, DryRun=True)
expect("MissingParameter", 400, ec2.create_vpc, "CreateVpc without CidrBlock", r"(?i)cidrBlock")
novalid = lab.boto3_client(parameter_validation=False)  # what boto3 would refuse itself goes out
expect("InvalidParameterValue", 400, novalid.describe_vpcs, "DescribeVpcs MaxResults=1 (5 to 1000)", r"(?i)maxResults",
       MaxResults=1)
expect("MissingParameter", 400, novalid.create_subnet, "CreateSubnet without VpcId (parameter_validation off)",
       r"(?i)vpcId", CidrBlock="10.80.2.0/24")
expect("InvalidParameterValue", 400, ec2.describe_vpcs, "DescribeVpcs with an unknown filter", r"bogus-filter",
       Filters=[{"Name": "bogus-filter", "Values": ["x"]}])

bad_key = lab.boto3_client(key="AKIAIOSFODNN7EXAMPLE", secret="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
expect("AuthFailure", 401, bad_key.describe_vpcs, "with an unknown access key")
bad_secret = lab.boto3_client(secret="x" * 40)
expect("SignatureDoesNotMatch", 403, bad_secret.describe_vpcs, "with a wrong secret")
mars = lab.boto3_client(region="mars-east-1")
expect("InvalidRegion", 400, mars.create_vpc, "CreateVpc signed for a region the lab does not have", r"mars-east-1",
       CidrBlock="10.83.0.0/16")
unsigned = lab.boto3_client(signature_version=UNSIGNED)
expect("MissingAuthenticationToken", 403, unsigned.describe_vpcs, "unsigned (signature_version=UNSIGNED)")

# ---------------------------------------------------------------------- raw requests


@contextlib.contextmanager
def clock_shift(seconds):
    """botocore signs with a clock `seconds` away from the real one."""
    real = datetime.datetime

    class Shifted(real):
        @classmethod
        def utcnow(cls):
            return real.utcnow() + datetime.timedelta(seconds=seconds)

        @classmethod
        def now(cls, tz=None):
            return real.now(tz) + datetime.timedelta(seconds=seconds)

    mod = datetime

    class Module:
        datetime = Shifted
        timedelta = mod.timedelta
        timezone = mod.timezone

    saved_mod = botocore.auth.datetime
    saved_fn = getattr(botocore.auth, "get_current_datetime", None)
    botocore.auth.datetime = Module
    if saved_fn:
        botocore.auth.get_current_datetime = lambda *a, **k: saved_fn(*a, **k) + datetime.timedelta(seconds=seconds)
    try:
        yield
    finally:
        botocore.auth.datetime = saved_mod
        if saved_fn:
            botocore.auth.get_current_datetime = saved_fn


def raw(params, key=None, secret=None, sign=True, shift=0, method="POST"):
    """A request built by hand, signed by botocore's SigV4Auth (or not); returns (HTTP status,
    Code, Message, body)."""
    body = urllib.parse.urlencode(params)
    url = lab.endpoint + "/"
    if method == "GET":
        url += "?" + body
    req = AWSRequest(method=method, url=url, data=body if method == "POST" else None,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    if sign:
        with clock_shift(shift):
            SigV4Auth(Credentials(key or lab.key, secret or lab.secret), "ec2", "us-east-1").add_auth(req)
    p = req.prepare()
    r = urllib.request.Request(p.url, data=body.encode() if method == "POST" else None, method=method,
                               headers={k: v for k, v in p.headers.items()})
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as ex:
        status, text = ex.code, ex.read().decode()
    code = re.search(r"<Code>([^<]*)</Code>", text)
    msg = re.search(r"<Message>([^<]*)</Message>", text)
    return status, code and code.group(1), msg and msg.group(1), text


def expect_raw(code, status, params, desc, msg_re=None, todo=None, **kw):
    st, c, m, body = raw(params, **kw)
    good = c == code and st == status and (msg_re is None or re.search(msg_re, m or ""))
    t.ok(good, "raw %s: %s, HTTP %d" % (desc, code, status), "got %s %s: %s" % (st, c, body[:800]), todo=todo)
    return body


V1 = {"Version": "2016-11-15"}
st, c, m, body = raw(dict(V1, Action="DescribeVpcs", **{"VpcId.1": V}))
t.ok(st == 200 and V in body and body.startswith("<?xml") and "<DescribeVpcsResponse" in body,
     "raw DescribeVpcs signed by SigV4Auth: HTTP 200 and the XML answer", body[:500])
body = expect_raw("UnknownParameter", 400, dict(V1, Action="DescribeVpcs", Bogus="1"),
                  "DescribeVpcs with a bogus parameter", r"Bogus")
t.like(body, r"(?s)<Response><Errors><Error><Code>UnknownParameter</Code><Message>.*</Message></Error></Errors>"
             r"<Request(ID|Id)>[0-9a-f-]{36}</Request(ID|Id)></Response>", "the error document is EC2's shape")
expect_raw("MissingParameter", 400, dict(V1, Action="CreateSubnet", VpcId=V), "CreateSubnet without CidrBlock",
           r"(?i)cidrBlock")
expect_raw("InvalidAction", 400, dict(V1, Action="NoSuchAction"), "Action=NoSuchAction")
expect_raw("InvalidAction", 400, dict(V1, Action="Exec", InstanceId=NOI, **{"Command.1": "id"}),
           "Action=Exec (ec2d's lab verb is not on the HTTP API)")
expect_raw("InvalidAction", 400, dict(V1, Action="PlugNetworkInterface", NetworkInterfaceId="eni-0", Netns="x"),
           "Action=PlugNetworkInterface (vpcd's lab verb is not on the HTTP API)")
expect_raw("MissingAction", 400, dict(V1), "no Action")
expect_raw("InvalidParameterValue", 400, dict(V1, Action="DescribeVpcs", MaxResults="many"),
           "DescribeVpcs MaxResults=many", r"many")
expect_raw("MissingAuthenticationToken", 403, dict(V1, Action="DescribeVpcs"), "unsigned POST", sign=False)
expect_raw("RequestExpired", 400, dict(V1, Action="DescribeVpcs"), "signed 20 minutes in the past", shift=-1200)
expect_raw("RequestExpired", 400, dict(V1, Action="DescribeVpcs"), "signed 20 minutes in the future", shift=1200)
st, c, m, body = raw(dict(V1, Action="DescribeVpcs"), shift=-600)
t.is_(st, 200, "raw signed 10 minutes in the past (inside the 15 minutes allowed): HTTP 200")
expect_raw("AuthFailure", 401, dict(V1, Action="DescribeVpcs"), "signed with an unknown key", key="AKIAIOSFODNN7EXAMPLE")
expect_raw("SignatureDoesNotMatch", 403, dict(V1, Action="DescribeVpcs"), "signed with a wrong secret", secret="y" * 40)
st, c, m, body = raw(dict(V1, Action="DescribeVpcs", **{"VpcId.1": V}), method="GET")
t.ok(st == 200 and V in body, "raw GET with the form in the query string: HTTP 200", body[:300])

# A URL presigned by botocore (X-Amz-* in the query string), fetched without headers.
req = AWSRequest(method="GET", url=lab.endpoint + "/?" + urllib.parse.urlencode(dict(V1, Action="DescribeVpcs")))
SigV4QueryAuth(Credentials(lab.key, lab.secret), "ec2", "us-east-1", expires=60).add_auth(req)
try:
    with urllib.request.urlopen(req.prepare().url, timeout=30) as resp:
        st, body = resp.status, resp.read().decode()
except urllib.error.HTTPError as ex:
    st, body = ex.code, ex.read().decode()
t.ok(st == 200 and V in body, "a URL presigned by SigV4QueryAuth: HTTP 200", "%s %s" % (st, body[:500]))

# What botocore releases newer than Debian's fill in by themselves (an idempotency token).
for action in ("CreateRouteTable", "CreateNetworkAcl"):
    st, c, m, body = raw(dict(V1, Action=action, VpcId=V, ClientToken="e2e-token-1"))
    t.is_(st, 200, "raw %s with ClientToken (newer SDKs send one unasked) is accepted" % action)
    if st == 200:
        rid = re.search(r"<(routeTableId|networkAclId)>([^<]+)<", body)
        if rid and action == "CreateRouteTable":
            ec2.delete_route_table(RouteTableId=rid.group(2))
        elif rid:
            ec2.delete_network_acl(NetworkAclId=rid.group(2))

# ------------------------------------------------------------------------- aws CLI


def cli(code, op, desc, *args, creds=None):
    """The aws CLI refuses: exit 254, its error line for CODE and OP, nothing on stdout. creds:
    (key, secret) of another credentials file."""
    creds_file = None
    if creds:
        creds_file = os.path.join(lab.dir, "creds-%s" % creds[0][-4:] + creds[1][:2])
        with open(creds_file, "w") as f:
            f.write("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % creds)
    rc, out, err = lab.aws(*args, creds_file=creds_file)
    line = "An error occurred (%s) when calling the %s operation:" % (code, op)
    t.ok(rc == 254 and line in err and out is None, "aws ec2 %s: exit 254, \"%s\"" % (desc, line),
         "exit %d, stdout %r, stderr %r" % (rc, out, err))
    return err


err = cli("InvalidVpcID.NotFound", "DescribeVpcs", "describe-vpcs --vpc-ids (unknown)", "describe-vpcs", "--vpc-ids", NOVPC)
t.like(err, r"An error occurred \(InvalidVpcID\.NotFound\) when calling the DescribeVpcs operation: "
            r"The vpc ID '%s' does not exist" % NOVPC, "... and the message names the ID")
cli("InvalidSubnetID.NotFound", "DescribeSubnets", "describe-subnets --subnet-ids (unknown)", "describe-subnets",
    "--subnet-ids", NOSUBNET)
cli("InvalidInstanceID.NotFound", "DescribeInstances", "describe-instances --instance-ids (unknown)",
    "describe-instances", "--instance-ids", NOI)
cli("InvalidAMIID.NotFound", "RunInstances", "run-instances --image-id (unknown)", "run-instances", "--image-id", NOAMI,
    "--subnet-id", S, "--count", "1")
cli("InvalidParameterValue", "CreateVpc", "create-vpc --cidr-block 10.0.0.0/33", "create-vpc", "--cidr-block",
    "10.0.0.0/33")
cli("DryRunOperation", "CreateVpc", "create-vpc --dry-run", "create-vpc", "--cidr-block", "10.82.0.0/16", "--dry-run")
cli("MissingParameter", "CreateVpc", "create-vpc (no --cidr-block)", "create-vpc")
cli("AuthFailure", "DescribeVpcs", "describe-vpcs with an unknown access key", "describe-vpcs",
    creds=("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"))
cli("SignatureDoesNotMatch", "DescribeVpcs", "describe-vpcs with a wrong secret", "describe-vpcs",
    creds=(lab.key, "z" * 40))
cli("MissingAuthenticationToken", "DescribeVpcs", "describe-vpcs --no-sign-request", "describe-vpcs",
    "--no-sign-request")
rc, out, err = lab.aws("describe-vpcs", "--vpc-ids", V)
t.ok(rc == 0 and [v["VpcId"] for v in out["Vpcs"]] == [V] and err == "", "and a good request still exits 0", err)

after = snapshot()
t.ok(after == before, "none of the refused requests changed the model or the kernel's namespaces",
     *["before: %s\nafter:  %s" % (b, a) for b, a in zip(before, after) if a != b])
t.done()
