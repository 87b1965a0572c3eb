#!/usr/bin/env python3
"""api_sigv4_verify against botocore's signers (TAP).

Requests are signed with botocore.auth.SigV4Auth (Authorization header) and SigV4QueryAuth
(presigned query string) the way the aws CLI and boto3 sign EC2 calls, then handed to
`api_tool sigv4 CREDS` as method, path, query, headers and body. Signed requests must be
accepted with the scope's region and access key; changed ones must be refused with EC2's
code for what was changed.
"""
import hashlib
import json
import os
import sys
import tempfile
import time
from urllib.parse import parse_qsl, urlsplit

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import apitest  # noqa: E402
from apitest import ok  # noqa: E402

apitest.need_botocore()
from botocore.auth import SigV4Auth, SigV4QueryAuth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

KEY1, SECRET1 = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEY2, SECRET2 = "AKIAI44QH8DHBEXAMPLE", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY+"
CREDS = Credentials(KEY1, SECRET1)
FORM = "application/x-www-form-urlencoded; charset=utf-8"
BODY = "Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-1&Filter.1.Name=tag%3AName" \
       "&Filter.1.Value.1=a+b"


def make(method="POST", url="http://localhost:8787/", body=BODY, headers=None, creds=CREDS,
         region="us-east-1", service="ec2", query_auth=False, expires=3600):
    """A botocore-signed request as the wire carries it: a dict for api_tool."""
    h = {"Content-Type": FORM} if body else {}
    h.update(headers or {})
    data = body.encode() if body else None
    if body and query_auth:
        data = dict(parse_qsl(body, keep_blank_values=True))  # as the serializer hands it over
    req = AWSRequest(method=method, url=url, data=data, headers=h)
    if query_auth:
        SigV4QueryAuth(creds, service, region, expires=expires).add_auth(req)
    else:
        SigV4Auth(creds, service, region).add_auth(req)
    now = int(time.time())
    p = req.prepare()
    parts = urlsplit(p.url)
    headers = [[k, v.decode() if isinstance(v, bytes) else v] for k, v in p.headers.items()]
    if not any(k.lower() == "host" for k, _ in headers):
        headers.append(["Host", parts.netloc])  # what the HTTP client adds
    headers.append(["User-Agent", "aws-cli/2 botocore"])  # never signed
    data = p.body or b""
    if isinstance(data, str):
        data = data.encode()
    return {"method": p.method, "path": parts.path, "query": parts.query, "headers": headers,
            "body_hex": data.hex(), "now": now}


def verify(req, creds_path):
    return apitest.tool_json("sigv4", creds_path, stdin=json.dumps(req).encode())


def accepted(req, desc, region="us-east-1", key=KEY1):
    rc, got = verify(req, CREDS_FILE)
    ok(rc == 0 and got == {"Region": region, "AccessKey": key}, "accepted: " + desc, got, req)


def refused(req, code, desc):
    rc, got = verify(req, CREDS_FILE)
    err = got.get("Error", {})
    ok(rc == 1 and err.get("Code") == code, "refused with %s: %s" % (code, desc), got, req)


def header(req, name, value=None, drop=False):
    """req with header `name` set to value (or dropped)."""
    out = dict(req)
    hs = [h for h in req["headers"] if h[0].lower() != name.lower()]
    if not drop:
        hs.append([name, value])
    out["headers"] = hs
    return out


def main():
    global CREDS_FILE
    tmp = tempfile.mkdtemp(prefix="test_sigv4.")
    CREDS_FILE = os.path.join(tmp, "credentials")
    with open(CREDS_FILE, "w") as f:
        f.write("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n"
                "# the second profile\n[other]\naws_access_key_id=%s\n"
                "aws_secret_access_key=%s\n" % (KEY1, SECRET1, KEY2, SECRET2))

    # --- The Authorization header, as the aws CLI and boto3 send EC2 calls. ---
    base = make()
    accepted(base, "POST form body, us-east-1")
    accepted(make(region="eu-west-1"), "another region", region="eu-west-1")
    accepted(make(creds=Credentials(KEY2, SECRET2), region="ap-southeast-2"),
             "the second profile", region="ap-southeast-2", key=KEY2)
    accepted(make(url="http://127.0.0.1/"), "default port, no :port in Host")
    accepted(make(method="GET", body="",
                  url="http://localhost:8787/?Action=DescribeVpcs&Version=2016-11-15"
                      "&Filter.1.Name=tag%3AName&Filter.1.Value.1=a%20b%2Bc%2F~%C3%A9"
                      "&VpcId.2=z&VpcId.1=a&Empty="),
             "GET with an encoded, unsorted query")
    accepted(make(url="http://localhost:8787/a/./b//c/../d%20e/"), "path with dot segments")
    accepted(make(headers={"X-Custom": "  a   b \t c  ", "X-Amz-Target": "x"}),
             "extra signed headers with runs of whitespace")
    accepted(make(headers={"X-Amz-Content-SHA256": hashlib.sha256(BODY.encode()).hexdigest()}),
             "X-Amz-Content-SHA256 of the body")
    accepted(make(headers={"Date": "Mon, 01 Jan 2001 00:00:00 GMT"}),
             "a Date header instead of X-Amz-Date")
    accepted(make(body="Action=DescribeRegions&Version=2016-11-15&" + "x" * 100000),
             "a 100 kB body")

    changed = dict(base)
    changed["body_hex"] = (BODY.replace("vpc-1", "vpc-2")).encode().hex()
    refused(changed, "SignatureDoesNotMatch", "a changed body byte")
    changed = dict(base)
    changed["body_hex"] = base["body_hex"] + "00"
    refused(changed, "SignatureDoesNotMatch", "a byte added to the body")
    refused(make(creds=Credentials(KEY1, SECRET2)), "SignatureDoesNotMatch", "the wrong secret")
    refused(make(creds=Credentials("AKIAUNKNOWNKEY000000", SECRET1)), "AuthFailure",
            "an unknown access key")
    late = dict(base)
    late["now"] = base["now"] + 16 * 60
    refused(late, "RequestExpired", "16 minutes after signing")
    early = dict(base)
    early["now"] = base["now"] - 16 * 60
    refused(early, "RequestExpired", "16 minutes before signing")
    inside = dict(base)
    inside["now"] = base["now"] + 14 * 60
    accepted(inside, "14 minutes after signing")
    refused(header(base, "X-Amz-Date", drop=True), "IncompleteSignature", "X-Amz-Date missing")
    refused(header(base, "Content-Type", drop=True), "SignatureDoesNotMatch",
            "a signed header (Content-Type) missing")
    refused(header(base, "Content-Type", "text/plain"), "SignatureDoesNotMatch",
            "a signed header (Content-Type) changed")
    refused(header(base, "Host", "localhost:8788"), "SignatureDoesNotMatch", "Host changed")
    accepted(header(base, "User-Agent", "something else"), "an unsigned header changed")
    refused(header(base, "Authorization", drop=True), "MissingAuthenticationToken",
            "no signature at all")
    auth = [v for k, v in base["headers"] if k == "Authorization"][0]
    refused(header(base, "Authorization", auth.split(", Signature=")[0]), "IncompleteSignature",
            "Authorization without Signature")
    refused(header(base, "Authorization", auth.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1")),
            "IncompleteSignature", "another algorithm")
    refused(header(base, "Authorization", auth[:-1] + ("0" if auth[-1] != "0" else "1")),
            "SignatureDoesNotMatch", "the last signature digit changed")
    refused(header(base, "Authorization", auth.replace("/ec2/", "/ec3/")),
            "SignatureDoesNotMatch", "the scope's service changed")
    refused(make(service="s3"), "SignatureDoesNotMatch", "signed for s3")
    refused(header(base, "X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"), "SignatureDoesNotMatch",
            "UNSIGNED-PAYLOAD")
    q = make(method="GET", body="", url="http://localhost:8787/?Action=DescribeVpcs&VpcId.1=a")
    q2 = dict(q)
    q2["query"] = q["query"].replace("VpcId.1=a", "VpcId.1=b")
    refused(q2, "SignatureDoesNotMatch", "a query parameter changed")
    q2["query"] = q["query"] + "&DryRun=true"
    refused(q2, "SignatureDoesNotMatch", "a query parameter added")

    # --- Presigned: the signature in the query string (SigV4QueryAuth). ---
    pre = make(method="GET", body="", query_auth=True,
               url="http://localhost:8787/?Action=DescribeVpcs&Version=2016-11-15&VpcId.1=a")
    accepted(pre, "presigned GET")
    accepted(make(query_auth=True, region="us-west-2"),
             "presigned POST (botocore moves the form into the query)", region="us-west-2")
    short = make(method="GET", body="", query_auth=True, expires=60,
                 url="http://localhost:8787/?Action=DescribeRegions")
    short["now"] += 59
    accepted(short, "presigned for 60 s, used after 59 s")
    short["now"] += 2
    refused(short, "RequestExpired", "presigned for 60 s, used after 61 s")
    p2 = dict(pre)
    p2["query"] = pre["query"].replace("VpcId.1=a", "VpcId.1=b")
    refused(p2, "SignatureDoesNotMatch", "presigned, a parameter changed")
    p2["query"] = pre["query"][:-1] + ("0" if pre["query"][-1] != "0" else "1")
    refused(p2, "SignatureDoesNotMatch", "presigned, X-Amz-Signature changed")
    p2["query"] = "&".join(x for x in pre["query"].split("&")
                           if not x.startswith("X-Amz-Expires="))
    refused(p2, "IncompleteSignature", "presigned without X-Amz-Expires")
    p2 = dict(pre)
    p2["body_hex"] = b"Action=DeleteVpc".hex()
    refused(p2, "SignatureDoesNotMatch", "presigned, a body added")
    refused(make(method="GET", body="", query_auth=True, creds=Credentials("AKIAOTHER", SECRET1),
                 url="http://localhost:8787/?Action=DescribeRegions"),
            "AuthFailure", "presigned with an unknown key")
    both = header(pre, "Authorization", auth)
    refused(both, "IncompleteSignature", "signed both in the query and the header")

    # --- Credentials files: a generated one is usable by botocore. ---
    gen = os.path.join(tmp, "generated")
    rc, got = apitest.tool_json("creds-generate", gen)
    ok(rc == 0 and got["FirstKey"].startswith("AKIA") and len(got["FirstKey"]) == 20 and
       len(got["Secret"]) == 40, "creds-generate makes an AKIA key and a 40-character secret",
       got)
    if rc == 0:
        import configparser
        cp = configparser.RawConfigParser()
        cp.read(gen)
        ok(cp.get("default", "aws_access_key_id") == got["FirstKey"] and
           cp.get("default", "aws_secret_access_key") == got["Secret"],
           "the generated file reads as an AWS credentials file")
        r = make(creds=Credentials(got["FirstKey"], got["Secret"]))
        rc2, got2 = verify(r, gen)
        ok(rc2 == 0 and got2["AccessKey"] == got["FirstKey"],
           "a request signed with the generated key is accepted", got2)
    for name in os.listdir(tmp):
        os.unlink(os.path.join(tmp, name))
    os.rmdir(tmp)
    apitest.done()


if __name__ == "__main__":
    sys.exit(main())
