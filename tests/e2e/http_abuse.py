#!/usr/bin/env python3
"""The HTTP front under abuse: idle and trickling (slow-loris) connections, oversized headers and
bodies, and bytes that are not HTTP. Each is answered with an error or cut off, and none of them
delays a well-behaved client: while they are open, boto3 calls are timed (p99 printed), and at
the end ec2d is the same process, answers, and its memory has not grown with the abuse.
ec2d runs with --http-timeout 3 so that the idle cut-off shows within the test.
"""
import os
import socket
import statistics
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402

TIMEOUT = 3
# Under AddressSanitizer freed memory waits in a quarantine (256 MiB by default) before it is
# reused, so RSS grows with any churn, leak or not; a small one keeps use-after-free detection
# and lets the memory check below mean the same on both builds. (LeakSanitizer still runs at exit.)
os.environ["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=2"]))
lab = t.Lab("198.19.136.0/21", need_aws=False, ec2d_args=["--http-timeout", str(TIMEOUT)])
ec2 = lab.client
u = urllib.parse.urlsplit(lab.endpoint)
ADDR = (u.hostname, u.port)
pid = lab.ec2d_proc.pid


def rss_kib():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def connect():
    s = socket.create_connection(ADDR, timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def answer_of(s, limit=15.0):
    """What the server does next: ("status", code) when it answers, ("closed", None) when it
    closes without answering, ("open", None) when neither happens within `limit` seconds."""
    s.settimeout(limit)
    buf = b""
    try:
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    except socket.timeout:
        return ("open", None)
    except (ConnectionResetError, BrokenPipeError):
        return ("closed", None)
    if buf.startswith(b"HTTP/1."):
        return ("status", int(buf.split(b" ")[1]))
    return ("closed", None) if not buf else ("garbage", buf[:60])


def timed_calls(n):
    lat = []
    for _ in range(n):
        t0 = time.monotonic()
        ec2.describe_vpcs()
        lat.append(time.monotonic() - t0)
    return lat


def p99(lat):
    return sorted(lat)[max(0, int(len(lat) * 0.99) - 1)]


V = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
base = timed_calls(50)
t.diag("baseline: 50 DescribeVpcs, median %.1f ms, p99 %.1f ms" % (statistics.median(base) * 1e3, p99(base) * 1e3))
for _ in range(3):  # let the allocator settle before the memory baseline
    timed_calls(20)
rss0 = rss_kib()

# ---------------------------------------------------------------- idle connections
# Half a request line, then silence: closed after the idle timeout, not held for ever.
idle = [connect() for _ in range(100)]
for s in idle:
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
t0 = time.monotonic()
during = timed_calls(30)
t.ok(p99(during) < max(0.5, 5 * p99(base)), "100 idle half-requests open: DescribeVpcs p99 %.1f ms (baseline %.1f ms)" % (
    p99(during) * 1e3, p99(base) * 1e3))
results = [answer_of(s, limit=TIMEOUT + 10) for s in idle]
dt = time.monotonic() - t0
t.ok(all(r[0] in ("closed", "status") for r in results) and dt < TIMEOUT + 10,
     "all 100 idle connections are cut off after the %d s idle timeout (last after %.1f s)" % (TIMEOUT, dt),
     "results %s" % sorted(set(r[0] for r in results)))
for s in idle:
    s.close()

# ---------------------------------------------------------------- slow loris
# 150 connections trickling a header byte every 0.5 s (never idle long enough to be cut): they
# cost a descriptor and a bounded pool each, and block no one.
stop = threading.Event()
loris = [connect() for _ in range(150)]


def trickle():
    for s in loris:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    while not stop.is_set():
        for s in loris:
            try:
                s.sendall(b"a")
            except OSError:
                pass
        stop.wait(0.5)


th = threading.Thread(target=trickle, daemon=True)
th.start()
time.sleep(1)
during = timed_calls(50)
t.ok(p99(during) < max(0.5, 5 * p99(base)),
     "150 slow-loris connections trickling: DescribeVpcs p99 %.1f ms (baseline %.1f ms)" % (p99(during) * 1e3, p99(base) * 1e3))
stop.set()
th.join()
for s in loris:
    s.close()

# ---------------------------------------------------------------- oversized
for desc, data in (("a 400 KiB header", b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (400 * 1024) + b"\r\n\r\n"),
                   ("a 400 KiB request line", b"GET /?" + b"a=b&" * (100 * 1024) + b" HTTP/1.1\r\nHost: x\r\n\r\n")):
    s = connect()
    s.sendall(data)
    r = answer_of(s)
    t.ok(r[0] == "closed" or (r[0] == "status" and 400 <= r[1] < 500),
         "%s is refused with a 4xx or cut off" % desc, "got %s" % (r,))
    s.close()

# A body past the form's bound: RequestEntityTooLarge, before any signature is looked at.
s = connect()
body = b"Action=DescribeVpcs&Version=2016-11-15&X=" + b"a" * (2 * 1024 * 1024)
s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body))
try:
    s.sendall(body)
except OSError:
    pass
s.settimeout(15)
resp = b""
try:
    while True:
        c = s.recv(65536)
        if not c:
            break
        resp += c
        if b"</Response>" in resp:
            break
except (socket.timeout, ConnectionResetError):
    pass
t.ok(resp.startswith(b"HTTP/1.1 413") and b"<Code>RequestEntityTooLarge</Code>" in resp,
     "a 2 MiB body: HTTP 413 RequestEntityTooLarge", resp[:300])
s.close()

# ---------------------------------------------------------------- not HTTP
junk = {
    "a request line that is not HTTP": b"GARBAGE\r\n\r\n",
    "binary bytes": bytes(range(256)) * 4 + b"\r\n\r\n",
    "an unknown HTTP version": b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    "a negative Content-Length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    "a Content-Length that is not a number": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n",
    "a chunked body with a bad chunk size": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "a header line without a colon": b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
    "HTTP/1.1 without Host": b"GET / HTTP/1.1\r\n\r\n",
}
for desc, data in junk.items():
    s = connect()
    try:
        s.sendall(data)
    except OSError:
        pass
    r = answer_of(s, limit=TIMEOUT + 5)
    t.ok(r[0] == "closed" or (r[0] == "status" and 400 <= r[1] < 600),
         "%s: an error status or the connection closed, never a hang" % desc, "got %s" % (r,))
    s.close()

# An unsigned but well-formed request is refused by SigV4, not served.
s = connect()
s.sendall(b"GET /?Action=DescribeVpcs&Version=2016-11-15 HTTP/1.1\r\nHost: x\r\n\r\n")
r = answer_of(s)
t.ok(r == ("status", 401) or (r[0] == "status" and r[1] in (400, 403)), "an unsigned request: refused (%s)" % (r,))
s.close()

# ---------------------------------------------------------------- afterwards
t.ok(lab.ec2d_proc.poll() is None and lab.ec2d_proc.pid == pid, "ec2d is the same process it was")
after = timed_calls(50)
t.ok(p99(after) < max(0.5, 5 * p99(base)), "afterwards: DescribeVpcs p99 %.1f ms" % (p99(after) * 1e3))
t.ok([v["VpcId"] for v in ec2.describe_vpcs(VpcIds=[V])["Vpcs"]] == [V], "the lab's VPC is still described")
for _ in range(3):
    timed_calls(20)
rss1 = rss_kib()
t.diag("ec2d RSS: %d KiB before the abuse, %d KiB after" % (rss0, rss1))
t.ok(rss1 - rss0 < 16 * 1024, "ec2d's memory did not grow with the abuse (%+d KiB)" % (rss1 - rss0))
t.done()
