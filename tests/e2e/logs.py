#!/usr/bin/env python3
"""CloudWatch Logs on ec2d's endpoint (SigV4 service `logs`, protocol json), stored by vpcd
(vpcd/logs.c, docs/logs.md), driven by the real aws CLI (`aws logs`) and boto3:

- create-log-group, describe-log-groups (arn, creationTime, storedBytes, retentionInDays),
  create-log-stream, describe-log-streams, put-log-events, get-log-events (startFromHead,
  limit, forward and backward tokens, startTime/endTime), filter-log-events with a
  space-delimited flow log pattern, terms, ?alternatives, -exclusions, and paging;
- `aws logs tail` without --follow (FilterLogEvents, interleaved, paginated) and with it (the
  same call again every 5 s, from the newest timestamp seen);
- each error code: ResourceNotFoundException, ResourceAlreadyExistsException,
  InvalidParameterException (names, retention, order of events, JSON patterns), the json
  protocol's UnknownOperationException and SerializationException over raw HTTP; each with a
  non-zero exit of the CLI and no change of state;
- kill -9 of vpcd, and a new vpcd on the same state: the groups, streams and events are there;
- vpcd's own CLI: `vpcd get-log-events --log-group-name G --log-stream-name S`.
"""
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402

lab = t.Lab("198.18.48.0/22")
logs = lab.boto3_client(service="logs")
G = "/vpclab/flow-logs"
S = "eni-0123456789abcdef0-all"
NOW = int(time.time() * 1000)


def aws_logs(*args, **kw):
    return lab.aws(*args, service="logs", **kw)


def flow(i, port, action, ts=None):
    """A default-format flow log record."""
    start = NOW // 1000 - 60 + i
    return {"timestamp": ts if ts is not None else NOW - 60000 + i * 1000,
            "message": "2 123456789012 eni-0123456789abcdef0 10.0.1.%d 10.0.2.9 %d %d 6 %d %d %d %d %s OK"
                       % (10 + i, 40000 + i, port, 1 + i, 60 * (1 + i), start, start + 10, action)}


def state():
    """What a failed call must not change: groups, streams, every event."""
    groups = logs.describe_log_groups()["logGroups"]
    out = {"groups": [(g["logGroupName"], g.get("retentionInDays"), g["storedBytes"]) for g in groups]}
    for g in groups:
        streams = logs.describe_log_streams(logGroupName=g["logGroupName"])["logStreams"]
        out[g["logGroupName"]] = [
            (s["logStreamName"],
             [(e["timestamp"], e["message"]) for e in
              logs.get_log_events(logGroupName=g["logGroupName"], logStreamName=s["logStreamName"],
                                  startFromHead=True)["events"]])
            for s in streams]
    return out


def fails(desc, code, *args):
    """An aws logs call that must fail with `code`, exit 254, and change nothing."""
    before = state()
    rc, out, err = aws_logs(*args)
    t.ok(rc == 254 and "(%s)" % code in err, "%s: %s, exit 254" % (desc, code), "rc=%d %s" % (rc, err.strip()))
    t.ok(state() == before, "%s: nothing changed" % desc)
    return err


# ---- groups and streams

rc, out, err = aws_logs("create-log-group", "--log-group-name", G)
t.is_(rc, 0, "aws logs create-log-group", err)
fails("the same group again", "ResourceAlreadyExistsException", "create-log-group", "--log-group-name", G)
fails("a name with a space", "InvalidParameterException", "create-log-group", "--log-group-name", "bad name")
fails("a name with ':'", "InvalidParameterException", "create-log-group", "--log-group-name", "a:b")
err = fails("a 513-character name", "InvalidParameterException", "create-log-group", "--log-group-name", "a" * 513)

rc, out, err = aws_logs("describe-log-groups")
t.is_(rc, 0, "aws logs describe-log-groups", err)
g = (out or {}).get("logGroups", [{}])[0]
t.is_(g.get("logGroupName"), G, "describe-log-groups: the group")
t.is_(g.get("arn"), "arn:aws:logs:us-east-1:123456789012:log-group:%s:*" % G, "describe-log-groups: arn as AWS writes it")
t.ok(abs(g.get("creationTime", 0) - NOW) < 120000, "describe-log-groups: creationTime in ms", g)
t.is_(g.get("storedBytes"), 0, "describe-log-groups: storedBytes 0 while empty")
t.ok("retentionInDays" not in g, "describe-log-groups: no retentionInDays: kept forever")

rc, out, err = aws_logs("create-log-stream", "--log-group-name", G, "--log-stream-name", S)
t.is_(rc, 0, "aws logs create-log-stream", err)
fails("the same stream again", "ResourceAlreadyExistsException", "create-log-stream", "--log-group-name", G,
      "--log-stream-name", S)
fails("a stream in a group that does not exist", "ResourceNotFoundException", "create-log-stream",
      "--log-group-name", "/nope", "--log-stream-name", S)
fails("a stream name with '*'", "InvalidParameterException", "create-log-stream", "--log-group-name", G,
      "--log-stream-name", "a*b")

# ---- events

events = [flow(0, 22, "REJECT"), flow(1, 443, "ACCEPT"), flow(2, 22, "ACCEPT"), flow(3, 3389, "REJECT"),
          flow(4, 22, "REJECT")]
rc, out, err = aws_logs("put-log-events", "--log-group-name", G, "--log-stream-name", S, "--log-events",
                        json.dumps(events))
t.is_(rc, 0, "aws logs put-log-events (5 flow log records)", err)
t.ok(out and "nextSequenceToken" in out and "rejectedLogEventsInfo" not in out,
     "put-log-events: a nextSequenceToken, nothing rejected", out)

rc, out, err = aws_logs("get-log-events", "--log-group-name", G, "--log-stream-name", S, "--start-from-head")
t.is_(rc, 0, "aws logs get-log-events --start-from-head", err)
t.is_([e["message"] for e in (out or {}).get("events", [])], [e["message"] for e in events],
      "get-log-events: the events in order")
t.ok(all(abs(e["ingestionTime"] - NOW) < 120000 for e in (out or {}).get("events", [])),
     "get-log-events: ingestionTime")

r = logs.get_log_events(logGroupName=G, logStreamName=S, limit=2)
t.is_([e["message"] for e in r["events"]], [e["message"] for e in events[3:]],
      "get-log-events limit 2 without startFromHead: the last two")
r2 = logs.get_log_events(logGroupName=G, logStreamName=S, limit=2, nextToken=r["nextBackwardToken"])
t.is_([e["message"] for e in r2["events"]], [e["message"] for e in events[1:3]],
      "get-log-events nextBackwardToken: the two before")
r3 = logs.get_log_events(logGroupName=G, logStreamName=S, limit=2, nextToken=r2["nextForwardToken"])
t.is_([e["message"] for e in r3["events"]], [e["message"] for e in events[3:]],
      "get-log-events nextForwardToken: the two after")
r4 = logs.get_log_events(logGroupName=G, logStreamName=S, nextToken=r3["nextForwardToken"])
t.ok(r4["events"] == [] and r4["nextForwardToken"] == r3["nextForwardToken"],
     "get-log-events at the end: no events, the same forward token (where paginators stop)", r4)
r = logs.get_log_events(logGroupName=G, logStreamName=S, startTime=events[1]["timestamp"],
                        endTime=events[3]["timestamp"], startFromHead=True)
t.is_([e["message"] for e in r["events"]], [e["message"] for e in events[1:3]],
      "get-log-events startTime (included) to endTime (excluded)")

PATTERN = ("[version, account, eni, source, destination, srcport, destport=\"22\", protocol, packets, bytes, "
           "windowstart, windowend, action=\"REJECT\", flowlogstatus]")
rc, out, err = aws_logs("filter-log-events", "--log-group-name", G, "--filter-pattern", PATTERN)
t.is_(rc, 0, "aws logs filter-log-events with a space-delimited pattern", err)
t.is_([e["message"] for e in (out or {}).get("events", [])], [events[0]["message"], events[4]["message"]],
      "filter-log-events: rejected SSH only")
t.ok(all(e.get("logStreamName") == S and e.get("eventId") for e in (out or {}).get("events", [])),
     "filter-log-events: logStreamName and eventId")


def matching(pattern, **kw):
    return [e["message"] for e in logs.filter_log_events(logGroupName=G, filterPattern=pattern, **kw)["events"]]


t.is_(matching("[v, a, eni, src, dst, sp, dp, proto, packets>2, bytes, ...]"),
      [e["message"] for e in events[2:]], "pattern: numeric > with a trailing ...")
t.is_(matching("[..., action=ACC*, status]"), [events[1]["message"], events[2]["message"]],
      "pattern: * in a string value, leading ...")
t.is_(matching("[v, a, eni, src, dst, sp, dp=22 || dp=3389, ...]"),
      [e["message"] for e in events if " 22 6 " in e["message"] or " 3389 6 " in e["message"]],
      "pattern: || within a field")
t.is_(matching("[v, a, eni, src, dst, sp, dp!=22, ...]"), [events[1]["message"], events[3]["message"]],
      "pattern: !=")
t.is_(matching("REJECT 10.0.1.14"), [events[4]["message"]], "pattern: terms, all must match")
t.is_(matching("?3389 ?443"), [events[1]["message"], events[3]["message"]], "pattern: ?alternatives")
t.is_(matching("REJECT -3389"), [events[0]["message"], events[4]["message"]], "pattern: -exclusion")
t.is_(matching('"10.0.1.12 10.0.2.9"'), [events[2]["message"]], "pattern: a quoted term with a space")
fails("a JSON pattern (not served)", "InvalidParameterException", "filter-log-events", "--log-group-name", G,
      "--filter-pattern", "{ $.action = \"REJECT\" }")
fails("an unclosed pattern", "InvalidParameterException", "filter-log-events", "--log-group-name", G,
      "--filter-pattern", "[a, b")

seen, kw = [], {}
for _ in range(10):
    r = logs.filter_log_events(logGroupName=G, limit=2, **kw)
    seen += [e["message"] for e in r["events"]]
    if "nextToken" not in r:
        break
    kw = {"nextToken": r["nextToken"]}
t.is_(seen, [e["message"] for e in events], "filter-log-events paged by 2 with nextToken: every event once")

# A second stream: filter-log-events interleaves them by time; logStreamNames picks one.
logs.create_log_stream(logGroupName=G, logStreamName="eni-2")
logs.put_log_events(logGroupName=G, logStreamName="eni-2",
                    logEvents=[{"timestamp": events[0]["timestamp"] + 500, "message": "second stream"}])
r = logs.filter_log_events(logGroupName=G, interleaved=True)
t.is_([e["message"] for e in r["events"]][:3], [events[0]["message"], "second stream", events[1]["message"]],
      "filter-log-events: streams interleaved by timestamp")
t.is_(matching("", logStreamNames=["eni-2"]), ["second stream"], "filter-log-events logStreamNames")
t.is_(matching("", logStreamNamePrefix="eni-0"), [e["message"] for e in events], "filter-log-events logStreamNamePrefix")
rc, out, err = aws_logs("describe-log-streams", "--log-group-name", G, "--order-by", "LastEventTime", "--descending")
t.is_([s["logStreamName"] for s in (out or {}).get("logStreams", [])], [S, "eni-2"],
      "describe-log-streams --order-by LastEventTime --descending")
s0 = [s for s in (out or {}).get("logStreams", []) if s["logStreamName"] == S]
t.ok(s0 and s0[0].get("firstEventTimestamp") == events[0]["timestamp"]
     and s0[0].get("lastEventTimestamp") == events[-1]["timestamp"],
     "describe-log-streams: firstEventTimestamp, lastEventTimestamp", s0)
g = logs.describe_log_groups(logGroupNamePrefix="/vpclab")["logGroups"]
t.is_(g[0]["storedBytes"] if g else None, sum(len(e["message"]) for e in events) + len("second stream"),
      "describe-log-groups: storedBytes counts the events' bytes")

# ---- errors of PutLogEvents and GetLogEvents

fails("events out of order", "InvalidParameterException", "put-log-events", "--log-group-name", G,
      "--log-stream-name", S, "--log-events", json.dumps([flow(9, 22, "REJECT"), flow(8, 22, "REJECT")]))
fails("events over more than 24 hours", "InvalidParameterException", "put-log-events", "--log-group-name", G,
      "--log-stream-name", S, "--log-events",
      json.dumps([flow(1, 22, "REJECT", ts=NOW - 25 * 3600000), flow(2, 22, "REJECT", ts=NOW)]))
fails("events to a stream that does not exist", "ResourceNotFoundException", "put-log-events", "--log-group-name", G,
      "--log-stream-name", "nope", "--log-events", json.dumps([flow(1, 22, "REJECT")]))
err = fails("get-log-events of a group that does not exist", "ResourceNotFoundException", "get-log-events",
            "--log-group-name", "/nope", "--log-stream-name", S)
t.like(err, r"The specified log group does not exist\.", "ResourceNotFoundException: AWS's message")
fails("get-log-events of a stream that does not exist", "ResourceNotFoundException", "get-log-events",
      "--log-group-name", G, "--log-stream-name", "nope")
fails("get-log-events with a made-up token", "InvalidParameterException", "get-log-events", "--log-group-name", G,
      "--log-stream-name", S, "--next-token", "garbage")
fails("delete-log-group of a group that does not exist", "ResourceNotFoundException", "delete-log-group",
      "--log-group-name", "/nope")
try:
    logs.get_log_events(logGroupName="/nope", logStreamName=S)
    t.ok(False, "boto3: ResourceNotFoundException")
except t.ClientError as ex:
    t.is_((t.err_code(ex), t.err_status(ex)), ("ResourceNotFoundException", 400),
          "boto3: ResourceNotFoundException, HTTP 400")
before = state()
r = logs.put_log_events(logGroupName=G, logStreamName="eni-2",
                        logEvents=[{"timestamp": NOW - 15 * 86400000, "message": "too old"}])
t.is_(r.get("rejectedLogEventsInfo"), {"tooOldLogEventEndIndex": 0},
      "put-log-events: an event older than 14 days is rejected (rejectedLogEventsInfo)")
t.ok(state() == before, "put-log-events: ... and not kept")

# ---- retention

rc, out, err = aws_logs("put-retention-policy", "--log-group-name", G, "--retention-in-days", "7")
t.is_(rc, 0, "aws logs put-retention-policy 7", err)
t.is_(logs.describe_log_groups()["logGroups"][0].get("retentionInDays"), 7, "describe-log-groups: retentionInDays 7")
fails("retention of 2 days (not one of AWS's)", "InvalidParameterException", "put-retention-policy",
      "--log-group-name", G, "--retention-in-days", "2")

# ---- the json protocol over raw HTTP (what botocore never sends)


def raw(target, body):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest(method="POST", url=lab.endpoint + "/", data=body,
                     headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target})
    SigV4Auth(Credentials(lab.key, lab.secret), "logs", "us-east-1").add_auth(req)
    hreq = urllib.request.Request(lab.endpoint + "/", data=body, headers=dict(req.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(hreq, timeout=10) as resp:
            return resp.status, resp.headers.get("x-amzn-ErrorType"), json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as ex:
        return ex.code, ex.headers.get("x-amzn-ErrorType"), json.loads(ex.read() or b"{}")


st, etype, doc = raw("Logs_20140328.DescribeLogGroups", b"{}")
t.ok(st == 200 and doc.get("logGroups"), "raw: DescribeLogGroups answers 200 with JSON", st, doc)
st, etype, doc = raw("Logs_20140328.NoSuchThing", b"{}")
t.is_((st, etype, doc.get("__type")), (400, "UnknownOperationException", "UnknownOperationException"),
      "raw: an unknown operation is UnknownOperationException (__type and x-amzn-ErrorType)")
st, etype, doc = raw("Logs_20140328.DescribeLogGroups", b"{not json")
t.is_((st, doc.get("__type")), (400, "SerializationException"), "raw: a body that is not JSON is SerializationException")
st, etype, doc = raw("Logs_20140328.DescribeLogGroups", b'{"limit": "ten"}')
t.is_((st, doc.get("__type")), (400, "InvalidParameterException"), "raw: a string where an integer goes")
st, etype, doc = raw("Logs_20140328.CreateLogGroup", b'{"logGroupName": "/raw", "surprise": 1}')
t.is_((st, doc.get("__type")), (400, "InvalidParameterException"), "raw: a member the shape does not have")
t.ok(all(x["logGroupName"] != "/raw" for x in logs.describe_log_groups()["logGroups"]), "raw: ... and no group made")

# ---- aws logs tail


def tail(*args, timeout=60):
    cmd = [lab.aws_bin, "--endpoint-url", lab.endpoint, "logs", "tail", G] + list(args)
    return t.run(cmd, env=lab.aws_env(), timeout=timeout)


rc, out, err = tail("--since", "1h")
t.is_(rc, 0, "aws logs tail --since 1h", err)
t.ok(all(e["message"] in out for e in events) and "second stream" in out,
     "aws logs tail: every event, with its stream", out[-2000:])
rc, out, err = tail("--since", "1h", "--filter-pattern", PATTERN, "--format", "short")
t.is_([line.split(" ", 1)[1] for line in out.splitlines() if line.strip()],
      [events[0]["message"], events[4]["message"]], "aws logs tail --filter-pattern --format short")

proc = subprocess.Popen([lab.aws_bin, "--endpoint-url", lab.endpoint, "logs", "tail", G, "--follow",
                         "--since", "1m", "--format", "short"], env=lab.aws_env(), stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)
try:
    time.sleep(3)
    logs.put_log_events(logGroupName=G, logStreamName="eni-2",
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "followed event"}])
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    end = time.monotonic() + 20
    while time.monotonic() < end and not any("followed event" in x for x in lines):
        time.sleep(0.3)
    time.sleep(6)  # one more poll of the CLI: the event must not come twice
    got = "".join(lines)
    t.ok("followed event" in got, "aws logs tail --follow: an event put meanwhile shows up", got[-1000:])
    t.is_(got.count("followed event"), 1, "aws logs tail --follow: once (eventId)")
finally:
    proc.terminate()
    proc.wait(10)

# ---- kill -9 of vpcd

before = state()
lab.restart_vpcd()
t.ok(state() == before, "kill -9 of vpcd and a restart: groups, streams, retention and events are all there")
rc, out, err = lab.vpcd("get-log-events", "--log-group-name", G, "--log-stream-name", S, "--start-from-head")
t.ok(rc == 0 and [e["message"] for e in out["events"]] == [e["message"] for e in events],
     "vpcd get-log-events --log-group-name G --log-stream-name S", err)
rc, out, err = lab.vpcd("get-log-events", "--log-group-name", "/nope", "--log-stream-name", S)
t.ok(rc == 254 and "ResourceNotFoundException" in err, "vpcd get-log-events: ResourceNotFoundException, exit 254", err)

# ---- deletes

rc, out, err = aws_logs("delete-retention-policy", "--log-group-name", G)
t.ok(rc == 0 and "retentionInDays" not in logs.describe_log_groups()["logGroups"][0], "aws logs delete-retention-policy", err)
rc, out, err = aws_logs("delete-log-stream", "--log-group-name", G, "--log-stream-name", "eni-2")
t.ok(rc == 0 and [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=G)["logStreams"]] == [S],
     "aws logs delete-log-stream", err)
fails("delete-log-stream again", "ResourceNotFoundException", "delete-log-stream", "--log-group-name", G,
      "--log-stream-name", "eni-2")
rc, out, err = aws_logs("delete-log-group", "--log-group-name", G)
t.ok(rc == 0 and logs.describe_log_groups()["logGroups"] == [], "aws logs delete-log-group", err)
lab.restart_vpcd()
t.is_(logs.describe_log_groups()["logGroups"], [], "after a restart the deleted group stays deleted")
t.done()
