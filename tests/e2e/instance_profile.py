#!/usr/bin/env python3
"""Instance credentials the AWS way: RunInstances with an IAM instance profile (by name from the
ec2d CLI, by ARN from boto3), DescribeInstances showing it, the metadata service's iam/ tree
read from inside the instance (and by botocore's own InstanceMetadataFetcher), and the
temporary credentials it hands out used from the host with boto3 and the aws CLI: EC2 calls
work, STS GetCallerIdentity names the assumed role; without the token, with an altered one or
with another instance's, AuthFailure. An instance without a profile has no iam/ (404). After
a kill -9 and restart of ec2d the same set is served and still accepted (no state).
"""
import json
import os
import re
import signal
import sys
from datetime import datetime, timezone

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402
import boto3  # noqa: E402
import botocore.config  # noqa: E402
import botocore.utils  # noqa: E402

lab = t.Lab("198.18.40.0/21")
ec2 = lab.client
AMI = lab.ami()
if not AMI:
    t.skip_all("no busybox image (images/build busybox)")
ACCOUNT = "123456789012"
V = ec2.create_vpc(CidrBlock="10.70.0.0/16")["Vpc"]["VpcId"]
S = ec2.create_subnet(VpcId=V, CidrBlock="10.70.1.0/24")["Subnet"]["SubnetId"]

# --- RunInstances
for spec, code, what in (({"Name": "a/b"}, "InvalidParameterValue", "a name with '/'"),
                         ({"Name": "x" * 129}, "InvalidParameterValue", "a name of 129 characters"),
                         ({"Arn": "arn:aws:iam::999999999999:instance-profile/web"}, "InvalidParameterValue",
                          "an ARN of another account"),
                         ({"Arn": "arn:aws:iam::%s:role/web" % ACCOUNT}, "InvalidParameterValue",
                          "a role's ARN"),
                         ({"Name": "web", "Arn": "arn:aws:iam::%s:instance-profile/web" % ACCOUNT},
                          "InvalidParameterCombination", "both name and ARN")):
    got = t.call_error(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=S, IamInstanceProfile=spec)
    t.is_(got[0], code, "RunInstances with %s: %s" % (what, code))
t.ok(not [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]],
     "... and nothing was launched")

rc, out, err = lab.ec2d("run-instances", "--image-id", AMI, "--subnet-id", S, "--iam-instance-profile", "Name=web")
I1 = out["Instances"][0] if rc == 0 else {}
P1 = I1.get("IamInstanceProfile", {})
t.ok(rc == 0 and P1.get("Arn") == "arn:aws:iam::%s:instance-profile/web" % ACCOUNT and
     re.fullmatch(r"AIPA[A-Z0-9]{17}", P1.get("Id", "")),
     "ec2d run-instances --iam-instance-profile Name=web: IamInstanceProfile {Arn, Id}", out, err)
I1 = I1.get("InstanceId")
ARN2 = "arn:aws:iam::%s:instance-profile/app/db" % ACCOUNT
I2 = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=S,
                       IamInstanceProfile={"Arn": ARN2})["Instances"][0]
t.is_(I2.get("IamInstanceProfile", {}).get("Arn"), ARN2, "boto3 RunInstances IamInstanceProfile={Arn} (with a path)")
I2 = I2["InstanceId"]
I3 = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=S)["Instances"][0]
t.ok("IamInstanceProfile" not in I3, "an instance launched without a profile has none")
I3 = I3["InstanceId"]
d1 = lab.instance(I1)
t.is_(d1.get("IamInstanceProfile"), P1, "DescribeInstances: the same IamInstanceProfile")
got = [i["InstanceId"] for r in ec2.describe_instances(Filters=[
    {"Name": "iam-instance-profile.arn", "Values": [P1["Arn"]]}])["Reservations"] for i in r["Instances"]]
t.is_(got, [I1], "DescribeInstances filter iam-instance-profile.arn")
rc, out, err = lab.aws("describe-instances", "--instance-ids", I1, "--query",
                       "Reservations[0].Instances[0].IamInstanceProfile")
t.is_(out, P1, "aws ec2 describe-instances: the profile", err)
for i in (I1, I2, I3):
    if not lab.wait_ready(i):
        t.bail("instance %s is not ready" % i)

# --- The metadata service
MD = "http://169.254.169.254/latest/meta-data/"


def imds(inst, path):
    """(wget's exit code, the body) of a metadata path, fetched inside the instance."""
    rc, out, err = lab.exec(inst, "wget", "-q", "-O", "-", MD + path)
    return rc, out if rc == 0 else err


t.ok("iam/" in imds(I1, "")[1].split("\n"), "meta-data/ of an instance with a profile lists iam/")
t.is_(imds(I1, "iam/"), (0, "info\nsecurity-credentials/"), "iam/ lists info and security-credentials/")
rc, info = imds(I1, "iam/info")
try:
    info_j = json.loads(info)
except ValueError:
    info_j = {}
t.ok(info_j.get("Code") == "Success" and info_j.get("InstanceProfileArn") == P1["Arn"] and
     info_j.get("InstanceProfileId") == P1["Id"] and
     re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", info_j.get("LastUpdated", "")),
     "iam/info: Code, LastUpdated, InstanceProfileArn, InstanceProfileId", info)
t.is_(imds(I1, "iam/security-credentials/"), (0, "web"), "iam/security-credentials/ is the role: the profile's name")
rc, text = imds(I1, "iam/security-credentials/web")
t.like(text, r'\A\{\n  "Code" : "Success",\n  "LastUpdated" : "[0-9T:-]+Z",\n  "Type" : "AWS-HMAC",\n'
       r'  "AccessKeyId" : "ASIA[A-Z2-7]{16}",\n  "SecretAccessKey" : "[A-Za-z0-9+/]{40}",\n'
       r'  "Token" : "[A-Za-z0-9_-]+",\n  "Expiration" : "[0-9T:-]+Z"\n\}\Z',
       "iam/security-credentials/web: the credentials document, as AWS writes it")
C = json.loads(text) if rc == 0 else {}
exp = datetime.strptime(C.get("Expiration", "1970-01-01T00:00:00Z"), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
left = (exp - datetime.now(timezone.utc)).total_seconds()
t.ok(900 < left <= 6 * 3600, "Expiration: within 6 hours, more than 15 minutes left (%d s)" % left)
t.is_(imds(I1, "iam/security-credentials/web")[1], text, "asked again: the same set (until it is renewed)")
t.ok(lab.secret not in text and lab.secret not in info, "the lab's own secret is in neither answer")
t.is_(imds(I2, "iam/security-credentials/"), (0, "db"), "the ARN's profile: role db (the path left out)")
C2 = json.loads(imds(I2, "iam/security-credentials/db")[1] or "{}")
t.ok(C2.get("AccessKeyId", "x") != C.get("AccessKeyId") and C2.get("Token") != C.get("Token"),
     "another instance, another set")
rc, out = imds(I3, "iam/")
t.ok(rc != 0 and "404" in out, "an instance without a profile: iam/ is 404", rc, out)
t.ok(imds(I3, "iam/security-credentials/")[0] != 0, "... and so is iam/security-credentials/")
t.ok("iam/" not in imds(I3, "")[1].split("\n"), "... and meta-data/ does not list it")


class _Resp:
    def __init__(self, rc, body, url):
        self.status_code = 200 if rc == 0 else 404
        self.text = body if rc == 0 else ""
        self.content = self.text.encode()
        self.url = url


# botocore's own reader of instance credentials, its HTTP requests made inside the instance.
fetcher = botocore.utils.InstanceMetadataFetcher(num_attempts=1)
fetcher._fetch_metadata_token = lambda: None
fetcher._get_request = lambda url_path, retry_func, token=None: _Resp(
    *imds(I1, url_path[len("latest/meta-data/"):]), url_path)
got = fetcher.retrieve_iam_role_credentials()
t.ok(got.get("role_name") == "web" and got.get("access_key") == C.get("AccessKeyId") and
     got.get("secret_key") == C.get("SecretAccessKey") and got.get("token") == C.get("Token"),
     "botocore's InstanceMetadataFetcher reads them", got)

# --- The credentials, from the host
def session_client(service="ec2", key=None, secret=None, token=None):
    """boto3 on the lab's endpoint with a session's credentials (C's unless told)."""
    return boto3.client(service, endpoint_url=lab.endpoint, region_name=lab.region,
                        aws_access_key_id=key or C["AccessKeyId"], aws_secret_access_key=secret or C["SecretAccessKey"],
                        aws_session_token=token, config=botocore.config.Config(retries={"max_attempts": 0}))


ids = [i["InstanceId"] for r in session_client(token=C["Token"]).describe_instances()["Reservations"]
       for i in r["Instances"]]
t.ok(I1 in ids and I3 in ids, "boto3 with the session token: DescribeInstances works", ids)
me = session_client("sts", token=C["Token"]).get_caller_identity()
t.ok(me["Arn"] == "arn:aws:sts::%s:assumed-role/web/%s" % (ACCOUNT, I1) and me["Account"] == ACCOUNT and
     re.fullmatch(r"AROA[A-Z2-7]{17}:" + re.escape(I1), me["UserId"]),
     "STS GetCallerIdentity: the assumed role, as AWS names an instance's", me)
me2 = session_client("sts", C2["AccessKeyId"], C2["SecretAccessKey"], C2["Token"]).get_caller_identity()
t.is_(me2["Arn"], "arn:aws:sts::%s:assumed-role/db/%s" % (ACCOUNT, I2), "... and the other instance's")
got = t.call_error(session_client("iam", token=C["Token"]).get_user)
t.is_(got[0], "ValidationError", "IAM GetUser with a role's credentials: ValidationError, as IAM answers")
path = os.path.join(lab.dir, "session-credentials")
with open(path, "w") as f:
    f.write("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n" % (
        C["AccessKeyId"], C["SecretAccessKey"], C["Token"]))
rc, out, err = lab.aws("get-caller-identity", creds_file=path, service="sts")
t.ok(rc == 0 and out.get("Arn") == me["Arn"], "aws sts get-caller-identity with aws_session_token", out, err)
rc, out, err = lab.aws("describe-instances", "--instance-ids", I1, creds_file=path)
t.ok(rc == 0 and out["Reservations"][0]["Instances"][0]["InstanceId"] == I1,
     "aws ec2 describe-instances with aws_session_token", err)

got = t.call_error(session_client().describe_instances)
t.ok(got[0] == "AuthFailure" and got[2] == 401, "without the token: AuthFailure (401)", got)
got = t.call_error(session_client("sts").get_caller_identity)
t.is_(got[0], "InvalidClientTokenId", "STS without the token: InvalidClientTokenId")
bad = C["Token"][:20] + ("A" if C["Token"][20] != "A" else "B") + C["Token"][21:]
got = t.call_error(session_client(token=bad).describe_instances)
t.ok(got[0] == "AuthFailure" and got[2] == 401, "with a tampered token: AuthFailure (401)", got)
got = t.call_error(session_client(token=C2["Token"]).describe_instances)
t.is_(got[0], "AuthFailure", "with another instance's token: AuthFailure")
got = t.call_error(session_client(secret=C2["SecretAccessKey"], token=C["Token"]).describe_instances)
t.is_(got[0], "SignatureDoesNotMatch", "signed with another secret: SignatureDoesNotMatch")
got = t.call_error(session_client(key=lab.key, secret=lab.secret, token=C["Token"]).describe_instances)
t.is_(got[0], None, "the lab's own key with a token beside it: the token is not looked at")

# --- No state: after kill -9 and a restart of ec2d, the same set, still good
lab.ec2d_proc.send_signal(signal.SIGKILL)
lab.ec2d_proc.wait()
lab.vpcd_proc.terminate()
lab.vpcd_proc.wait()
lab._start()
ec2 = lab.client
got = t.retry(lambda: imds(I1, "iam/security-credentials/web")[1] == text, timeout=30)
t.ok(got, "after a restart: the same credentials are served")
me = session_client("sts", token=C["Token"]).get_caller_identity()
t.is_(me["Arn"], "arn:aws:sts::%s:assumed-role/web/%s" % (ACCOUNT, I1), "... and accepted")

t.done()
