#!/usr/bin/env python3
"""The rest-json codec (FIS) held up against botocore's own serializer and parser (TAP).

For every operation of model-fis.json: params generated at random from its input shape (and
a few by hand) go through botocore's RestJSONSerializer, the request it makes (method, URL
path, query string encoded as botocore sends it, body) through `api_tool rest-match`, and
what comes back must be the operation and the params we started from. Results generated
from the output shape go through `api_tool rest-response` and botocore's RestJSONParser
must read back the same result (timestamps compared as instants). Error bodies and statuses
from `api_tool rest-error`, with the code in x-amzn-ErrorType as the HTTP front sends it,
must come back as botocore's Error code and message. Run as `test_rest.py API_TOOL fis`.
"""
import datetime
import json
import random
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import apitest  # noqa: E402
from apitest import ok  # noqa: E402

apitest.need_botocore()
import botocore.parsers  # noqa: E402
import botocore.serialize  # noqa: E402
import botocore.session  # noqa: E402
from botocore.awsrequest import HeadersDict  # noqa: E402
from botocore.utils import percent_encode_sequence  # noqa: E402

SERVICE = botocore.session.get_session().get_service_model(apitest.SERVICE_NAME)
# Random strings do not satisfy the model's patterns and lengths; what is measured here is
# the encoding, and the handlers check the values.
SERIALIZER = botocore.serialize.create_serializer("rest-json", include_validation=False)
PARSER = botocore.parsers.create_parser("rest-json")
MODEL = apitest.our_model()
OURS = MODEL["shapes"]
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

TEXT = ["x", "", "a b", "<&>\"'", "caf\u00e9", "\U0001f600", "10.0.0.0/16", "  spaced  ",
        "multi\nline", "%41+=", "a&b=c", "arn:aws:fis:us-east-1:123456789012:experiment/EXP1"]
# A label is one non-empty path segment once decoded; '/' in it is sent as %2F.
LABELS = [t for t in TEXT if t]


def gen(shape, ours, rnd, depth=0, location=None):
    """A random value of botocore `shape`, limited to the members our model has too."""
    t = shape.type_name
    if t == "structure":
        out = {}
        for name, sub in shape.members.items():
            ref = ours.get("members", {}).get(name)
            if ref is None or depth > 6:
                continue
            loc = ref.get("location")
            # uri members are always there (the path needs them); others now and then.
            if loc != "uri" and rnd.random() < 0.3:
                continue
            out[name] = gen(sub, OURS[ref["shape"]], rnd, depth + 1, loc)
        return out
    if t == "list":
        n = rnd.randint(0, 3 if depth < 4 else 1)
        return [gen(shape.member, OURS[ours["member"]["shape"]], rnd, depth + 1, location)
                for _ in range(n)]
    if t == "map":
        keys = rnd.sample(["k", "Name", "a b", "caf\u00e9", "", "x.y", "1"], rnd.randint(0, 3))
        return {k: gen(shape.value, OURS[ours["value"]["shape"]], rnd, depth + 1) for k in keys}
    if t == "boolean":
        return rnd.random() < 0.5
    if t in ("integer", "long"):
        lo = ours.get("min", -2 ** 31 if t == "integer" else -2 ** 53)
        hi = ours.get("max", 2 ** 31 - 1 if t == "integer" else 2 ** 53)
        return rnd.choice([lo, hi, (lo + hi) // 2, max(lo, min(hi, 1))])
    if t in ("float", "double"):
        return rnd.choice([0.0, 1.5, 0.1, 2.5e-7, 123456.789, -3.25])
    if t == "timestamp":
        when = rnd.randint(0, 2 ** 32)
        return rnd.choice([when, when + 0.25, datetime.datetime.fromtimestamp(
            when, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")])
    if shape.enum:
        return rnd.choice(shape.enum)
    return rnd.choice(LABELS if location == "uri" else TEXT)


def instant(v):
    if isinstance(v, str):
        return datetime.datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc)
    return EPOCH + datetime.timedelta(seconds=v)


def same(parsed, want, path="$"):
    """Where parsed (botocore's) and want (ours) differ, or None."""
    if isinstance(parsed, datetime.datetime):
        if isinstance(want, bool) or not isinstance(want, (str, int, float)) or \
                abs((parsed - instant(want)).total_seconds()) > 1e-3:
            return "%s: %r != %r" % (path, parsed, want)
        return None
    if isinstance(want, dict):
        if not isinstance(parsed, dict) or set(parsed) != set(want):
            return "%s: keys %s != %s" % (path, sorted(parsed) if isinstance(parsed, dict)
                                          else parsed, sorted(want))
        for k in want:
            d = same(parsed[k], want[k], "%s.%s" % (path, k))
            if d:
                return d
        return None
    if isinstance(want, list):
        if not isinstance(parsed, list) or len(parsed) != len(want):
            return "%s: %r != %r" % (path, parsed, want)
        for i, (p, w) in enumerate(zip(parsed, want)):
            d = same(p, w, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    if parsed != want or type(parsed) is not type(want):
        return "%s: %r != %r" % (path, parsed, want)
    return None


def request(action, params, desc):
    op = SERVICE.operation_model(action)
    req = SERIALIZER.serialize_to_request(params, op)
    query = percent_encode_sequence(req["query_string"]) if req["query_string"] else ""
    body = req["body"] if isinstance(req["body"], bytes) else req["body"].encode()
    rc, got = apitest.tool_json("rest-match", req["method"], req["url_path"], query, stdin=body)
    ok(rc == 0 and got.get("Action") == action and got.get("Params") == params,
       "%s: %s: botocore's request matches back" % (action, desc),
       "%s %s?%s %r" % (req["method"], req["url_path"], query, body), "got: %s" % got,
       "want: %s" % json.dumps(params, sort_keys=True))


def response(action, result, desc):
    rc, body = apitest.tool("rest-response", action, stdin=json.dumps(result).encode())
    if not ok(rc == 0, "%s: %s: written" % (action, desc), body):
        return
    op = SERVICE.operation_model(action)
    parsed = PARSER.parse({"body": body.encode(), "headers": {"x-amzn-requestid": "req-1"},
                           "status_code": 200}, op.output_shape)
    meta = parsed.pop("ResponseMetadata", {})
    diff = same(parsed, result)
    ok(diff is None and meta.get("RequestId") == "req-1",
       "%s: %s: botocore reads back what was written" % (action, desc), diff, body[:2000])


ARN = "arn:aws:fis:us-east-1:123456789012:experiment/EXP1"
HAND_REQUESTS = [
    ("UntagResource", "an ARN label and a repeated query key",
     {"resourceArn": ARN, "tagKeys": ["a", "b c", "d&e=f"]}),
    ("TagResource", "an ARN label and a body map", {"resourceArn": ARN, "tags": {"k": "v"}}),
    ("ListExperiments", "maxResults and nextToken", {"maxResults": 100, "nextToken": "t/+="}),
    ("GetAction", "a label with ':'", {"id": "aws:ec2:stop-instances"}),
    ("StartExperiment", "a body", {"clientToken": "c", "experimentTemplateId": "EXT1",
                                   "tags": {}}),
    ("CreateExperimentTemplate", "nested maps, lists, structures", {
        "clientToken": "t", "description": "d", "roleArn": "arn:aws:iam::1:role/r",
        "stopConditions": [{"source": "none"}],
        "actions": {"stop": {"actionId": "aws:ec2:stop-instances",
                             "parameters": {"startInstancesAfterDuration": "PT1M"},
                             "targets": {"Instances": "web"}, "startAfter": []}},
        "targets": {"web": {"resourceType": "aws:ec2:instance", "selectionMode": "ALL",
                            "resourceTags": {"Name": "web"},
                            "filters": [{"path": "State.Name", "values": ["running"]}]}},
        "tags": {"Name": "x"}}),
]

HAND_RESULTS = [
    ("GetExperiment", "an experiment with timestamps of each kind", {"experiment": {
        "id": "EXP1", "experimentTemplateId": "EXT1", "state": {"status": "running"},
        "targets": {"web": {"resourceType": "aws:ec2:instance", "resourceArns": ["a", "b"],
                            "selectionMode": "ALL"}},
        "actions": {"stop": {"actionId": "aws:ec2:stop-instances", "startTime": 1795429230,
                             "endTime": 1795429230.5, "state": {"status": "completed"}}},
        "creationTime": "2026-11-23T10:20:30.000Z", "startTime": 1795429231,
        "tags": {"Name": "x"}}}),
    ("ListTagsForResource", "tags", {"tags": {"a": "1", "b c": "", "caf\u00e9": "\U0001f600"}}),
    ("ListExperiments", "a page", {"experiments": [{"id": "E", "creationTime": 0}],
                                   "nextToken": "n"}),
]


def main():
    rnd = random.Random(20201201)
    _, actions = apitest.tool("actions")
    actions = actions.split()
    ok(actions == sorted(MODEL["operations"]), "the fis model's %d actions" % len(actions))
    for action, desc, params in HAND_REQUESTS:
        request(action, params, desc)
    for action, desc, result in HAND_RESULTS:
        response(action, result, desc)
    for action in actions:
        op = SERVICE.operation_model(action)
        ours_op = MODEL["operations"][action]
        if "input" in ours_op:
            ours = OURS[ours_op["input"]["shape"]]
            for i in range(4):
                request(action, gen(op.input_shape, ours, rnd), "generated params %d" % (i + 1))
        else:
            request(action, {}, "no input")
        if "output" in ours_op:
            ours = OURS[ours_op["output"]["shape"]]
            for i in range(3):
                response(action, gen(op.output_shape, ours, rnd), "generated result %d" % (i + 1))
        else:
            response(action, {}, "no output")

    # Errors: botocore's code from x-amzn-ErrorType, message from the body; the statuses of
    # the model's error shapes are botocore's own.
    statuses = {}
    for name in SERVICE.shape_names:
        shape = SERVICE.shape_for(name)
        if shape.metadata.get("exception"):
            statuses[name] = shape.metadata.get("error", {}).get("httpStatusCode", 400)
    errors = [(c, statuses[c]) for c in ("ValidationException", "ResourceNotFoundException",
                                          "ConflictException", "ServiceQuotaExceededException")]
    errors += [("UnknownOperationException", 404), ("UnrecognizedClientException", 403),
               ("SignatureDoesNotMatch", 403), ("InternalError", 500),
               ("ServiceUnavailable", 503), ("ThrottlingException", 400)]
    for code, want_status in errors:
        msg = "The experiment '<EXP & 1>' \"quoted\" caf\u00e9"
        _, got = apitest.tool_json("rest-error", code, msg)
        parsed = PARSER.parse({"body": got["Body"].encode(), "status_code": got["Status"],
                               # Case-insensitive, as urllib3's headers are.
                               "headers": HeadersDict({"x-amzn-ErrorType": code,
                                                       "x-amzn-RequestId": "req-9"})},
                              SERVICE.operation_model("GetExperiment").output_shape)
        ok(got["Status"] == want_status and parsed.get("Error", {}).get("Code") == code and
           parsed["Error"].get("Message") == msg and
           parsed["ResponseMetadata"]["RequestId"] == "req-9",
           "error %s (HTTP %d): botocore reads code and message" % (code, want_status),
           got, parsed)
    apitest.done()


if __name__ == "__main__":
    sys.exit(main())
