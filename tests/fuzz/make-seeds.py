#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (committed; rerun after changing the model):
  corpus/fuzz_query/*  one byte choosing the action (its index in the sorted action list),
                       then a form body botocore's EC2 serializer makes (tests/api's
                       hand-written params)
  corpus/fuzz_sigv4/*  requests in fuzz_sigv4.c's format, signed at 20150830T123600Z with
                       AWS's test-vector key: the published vectors and botocore-signed EC2
                       calls (Authorization header and presigned)
  corpus/fuzz_journal/*   journal images (netlib/store.c's line format): whole, torn,
                          legacy, corrupt in the middle, zero-filled, joined, bad checksum
  corpus/fuzz_shorthand/* aws CLI shorthand and JSON arguments
  corpus/fuzz_rpc/*       control-socket request lines, good and bad
  corpus/fuzz_sshkey/*    public keys by ssh-keygen and openssl in every form ImportKeyPair
                          takes (OpenSSH, RFC 4716, DER raw, base64, PEM, PKCS#1 PEM), and
                          ones it refuses (ecdsa, 1536-bit rsa, cut short, a private key)
  corpus/fuzz_rest/*      FIS requests in fuzz_rest.c's format (method byte, path, query,
                          body) as botocore's rest-json serializer makes them, and bad ones
Arguments, if any, name the corpora to write (query sigv4 netlib sshkey rest), so that one
can be rewritten without touching the others (sshkey's keys are new each run).
"""
import json
import os
import sys
from urllib.parse import urlsplit

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "api"))
ONLY = sys.argv[1:]
sys.argv = sys.argv[:1] + ["unused"]
import test_params  # noqa: E402  (the hand-written params; needs botocore)
from botocore.auth import SigV4Auth, SigV4QueryAuth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

TS = "20150830T123600Z"
CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def query_seeds():
    with open(os.path.join(HERE, "..", "..", "ec2d", "api", "model.json")) as f:
        actions = sorted(json.load(f)["operations"])
    for i, (action, desc, params) in enumerate(test_params.HAND):
        body = test_params.encode(action, params)
        write("fuzz_query", "%02d-%s" % (i, action), bytes([actions.index(action)]) + body)


def signed(method, url, body, headers, service, query=False):
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    req.context["timestamp"] = TS
    auth = (SigV4QueryAuth(CREDS, service, "us-east-1", expires=3600) if query
            else SigV4Auth(CREDS, service, "us-east-1"))
    auth._modify_request_before_signing(req)
    sts = auth.string_to_sign(req, auth.canonical_request(req))
    auth._inject_signature_to_request(req, auth.signature(sts, req))
    p = req.prepare()
    parts = urlsplit(p.url)
    out = "%s %s%s\n" % (p.method, parts.path, "?" + parts.query if parts.query else "")
    hs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in p.headers.items()}
    hs.setdefault("Host", parts.netloc)
    out += "".join("%s: %s\n" % kv for kv in hs.items()) + "\n"
    data = p.body or b""
    return out.encode() + (data.encode() if isinstance(data, str) else data)


def sigv4_seeds():
    host = "https://example.amazonaws.com"
    write("fuzz_sigv4", "get-vanilla", signed("GET", host + "/", None, {}, "service"))
    write("fuzz_sigv4", "get-vanilla-query-order-key-case",
          signed("GET", host + "/?Param2=value2&Param1=value1", None, {}, "service"))
    write("fuzz_sigv4", "post-vanilla", signed("POST", host + "/", None, {}, "service"))
    write("fuzz_sigv4", "post-x-www-form-urlencoded",
          signed("POST", host + "/", b"Param1=value1",
                 {"Content-Type": "application/x-www-form-urlencoded"}, "service"))
    ec2 = "http://localhost:8787"
    form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    write("fuzz_sigv4", "ec2-post", signed(
        "POST", ec2 + "/", test_params.encode(*test_params.HAND[0][::2]), dict(form), "ec2"))
    write("fuzz_sigv4", "ec2-get", signed(
        "GET", ec2 + "/?Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-1", None, {}, "ec2"))
    write("fuzz_sigv4", "ec2-date-header", signed(
        "POST", ec2 + "/", b"Action=DescribeRegions&Version=2016-11-15",
        dict(form, Date="Sun, 30 Aug 2015 12:36:00 GMT"), "ec2"))
    write("fuzz_sigv4", "ec2-presigned", signed(
        "GET", ec2 + "/?Action=DescribeVpcs&Version=2016-11-15", None, {}, "ec2", query=True))


def crc32c(data):
    c = 0xFFFFFFFF
    for x in data:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    return c ^ 0xFFFFFFFF


def journal_line(rec):
    t = json.dumps(rec, separators=(",", ":")).encode()
    return t + b"\t" + b"%08x" % crc32c(t) + b"\n"


def netlib_seeds():
    a = journal_line({"changes": {"vpc-1": {"CidrBlock": "10.0.0.0/16", "Tags": []}},
                      "meta": {"seq": 1}})
    b = journal_line({"changes": {"subnet-1": {"VpcId": "vpc-1", "s": "tab\there"}}})
    c = journal_line({"changes": {"vpc-1": None}, "meta": {"seq": 2}})
    for name, data in {
            "00-one": a, "01-three": a + b + c, "02-torn": a + b + c[:20],
            "03-legacy": b'{"changes":{"x":{}}}\n', "04-corrupt-middle": a + b"garbage\n" + c,
            "05-zero-tail": a + b"\0" * 64, "06-joined": a[:-1] + b,
            "07-bad-crc": a.replace(b"\t", b"\t0")[:len(a)] + b,
            "08-meta-not-object": journal_line({"changes": {}, "meta": [1]}) + a}.items():
        write("fuzz_journal", name, data)
    for i, text in enumerate([
            "Name=vpc-id,Values=vpc-1,vpc-2", "ResourceType=vpc,Tags=[{Key=Name,Value=lab}]",
            '[{"Key":"Name","Value":"x"}]', '{"A":1}',
            "IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=0.0.0.0/0}]",
            "Key=a,Value=b c", "Name=x,Values=[a,b]",
            "Ebs={VolumeSize=8,DeleteOnTermination=true}", "Key=\"quoted,comma\",Value='v'",
            "A=[[b]]"]):
        write("fuzz_shorthand", "%02d" % i, text.encode())
    for i, text in enumerate([
            '{"Action":"CreateVpc","Region":"us-east-1","Params":{"CidrBlock":"10.0.0.0/16"}}',
            '{"Action":"DescribeVpcs"}',
            '{"Action":"DescribeVpcs","Region":"lab-1","Params":{"Filter":[{"Name":"vpc-id",'
            '"Values":["vpc-1"]}]}}',
            '{"Action":"Describe Vpcs"}', '{"Action":"RunInstances","Region":"../../x","Params":{}}',
            '{"Action":"X","Params":[1]}', "[1,2]", '{"Action":1}']):
        write("fuzz_rpc", "%02d" % i, text.encode())


def sshkey_seeds():
    import base64
    import subprocess
    import tempfile
    d = tempfile.mkdtemp()

    def run(*cmd, input=None):
        return subprocess.run(cmd, check=True, capture_output=True, input=input).stdout

    seeds = {}
    for name, args in (("rsa1024", ["-t", "rsa", "-b", "1024"]), ("rsa1536", ["-t", "rsa", "-b", "1536"]),
                       ("ed25519", ["-t", "ed25519"]), ("ecdsa", ["-t", "ecdsa"])):
        key = os.path.join(d, name)
        run("ssh-keygen", "-q", "-N", "", "-C", "seed@vpclab", "-f", key, *args)
        pub = open(key + ".pub", "rb").read()
        seeds[name + "-openssh"] = pub
        seeds[name + "-rfc4716"] = run("ssh-keygen", "-e", "-f", key + ".pub")
        if name.startswith("rsa"):
            pem = run("ssh-keygen", "-e", "-m", "PKCS8", "-f", key + ".pub")
            der = run("openssl", "pkey", "-pubin", "-outform", "DER", input=pem)
            seeds[name + "-pem"] = pem
            seeds[name + "-pkcs1"] = run("ssh-keygen", "-e", "-m", "PEM", "-f", key + ".pub")
            seeds[name + "-der"] = der
            seeds[name + "-der-b64"] = base64.b64encode(der)
    seeds["ed25519-der"] = run("openssl", "pkey", "-pubout", "-outform", "DER", input=run(
        "openssl", "genpkey", "-algorithm", "ed25519"))
    seeds["rsa1024-cut"] = seeds["rsa1024-openssh"][:120]
    seeds["private"] = open(os.path.join(d, "ed25519"), "rb").read()
    seeds["empty"] = b""
    for name, data in seeds.items():
        write("fuzz_sshkey", name, data)


REST_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
REST_ARN = "arn:aws:fis:us-east-1:123456789012:experiment/EXP1"


def rest_seed(method, path, query, body):
    return bytes([REST_METHODS.index(method)]) + ("%s\n%s\n" % (path, query)).encode() + body


def rest_seeds():
    import botocore.serialize
    import botocore.session
    from botocore.utils import percent_encode_sequence
    fis = botocore.session.get_session().get_service_model("fis")
    ser = botocore.serialize.create_serializer("rest-json", include_validation=False)
    calls = [
        ("CreateExperimentTemplate", {
            "clientToken": "t", "description": "d", "roleArn": "arn:aws:iam::1:role/r",
            "stopConditions": [{"source": "none"}],
            "actions": {"stop": {"actionId": "aws:ec2:stop-instances",
                                 "parameters": {"startInstancesAfterDuration": "PT1M"},
                                 "targets": {"Instances": "web"}, "startAfter": ["x"]}},
            "targets": {"web": {"resourceType": "aws:ec2:instance", "selectionMode": "ALL",
                                "resourceArns": ["arn:aws:ec2:us-east-1:1:instance/i-1"],
                                "resourceTags": {"Name": "web"},
                                "filters": [{"path": "State.Name", "values": ["running"]}]}},
            "tags": {"Name": "x"},
            "logConfiguration": {"logSchemaVersion": 1,
                                 "cloudWatchLogsConfiguration": {"logGroupArn": "g"}}}),
        ("GetExperimentTemplate", {"id": "EXT1"}),
        ("ListExperimentTemplates", {"maxResults": 5, "nextToken": "n"}),
        ("UpdateExperimentTemplate", {"id": "EXT1", "description": "new",
                                      "stopConditions": [{"source": "none"}]}),
        ("DeleteExperimentTemplate", {"id": "EXT1"}),
        ("StartExperiment", {"clientToken": "c", "experimentTemplateId": "EXT1",
                             "tags": {"k": "v"}}),
        ("GetExperiment", {"id": "EXP1"}),
        ("ListExperiments", {"maxResults": 100}),
        ("StopExperiment", {"id": "EXP1"}),
        ("ListActions", {"nextToken": "t"}),
        ("GetAction", {"id": "aws:ec2:stop-instances"}),
        ("ListTargetResourceTypes", {}),
        ("GetTargetResourceType", {"resourceType": "aws:ec2:instance"}),
        ("TagResource", {"resourceArn": REST_ARN, "tags": {"a": "1", "b": ""}}),
        ("UntagResource", {"resourceArn": REST_ARN, "tagKeys": ["a", "b c"]}),
        ("ListTagsForResource", {"resourceArn": REST_ARN}),
    ]
    for i, (action, params) in enumerate(calls):
        req = ser.serialize_to_request(params, fis.operation_model(action))
        query = percent_encode_sequence(req["query_string"]) if req["query_string"] else ""
        body = req["body"] if isinstance(req["body"], bytes) else req["body"].encode()
        write("fuzz_rest", "%02d-%s" % (i, action),
              rest_seed(req["method"], req["url_path"], query, body))
    for name, (method, path, query, body) in {
            "bad-unknown-member": ("POST", "/experiments", "", b'{"nope":1}'),
            "bad-type": ("POST", "/experimentTemplates", "", b'{"tags":{"k":[1]}}'),
            "bad-json": ("POST", "/experiments", "", b'{"tags":'),
            "bad-deep": ("POST", "/experiments", "", b'{"tags":' + b"[" * 40),
            "bad-max-results": ("GET", "/experiments", "maxResults=1000", b""),
            "bad-escape": ("GET", "/experiments/%zz", "", b""),
            "bad-route": ("PUT", "/experiments/E", "", b""),
            "presigned": ("GET", "/experiments/E", "X-Amz-Date=20150830T123600Z&a&=b", b""),
    }.items():
        write("fuzz_rest", name, rest_seed(method, path, query, body))


if __name__ == "__main__":
    for corpus, fn in (("sshkey", sshkey_seeds), ("netlib", netlib_seeds), ("query", query_seeds),
                       ("sigv4", sigv4_seeds), ("rest", rest_seeds)):
        if not ONLY or corpus in ONLY:
            fn()
