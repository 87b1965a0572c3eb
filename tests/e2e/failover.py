#!/usr/bin/env python3
"""The failover example (examples/failover/run) end to end, twice: an AZ power interruption
of the elastic IP's zone, the watchdog instance moving the address with the EC2 API from
inside the VPC (instance-profile credentials, ec2.us-east-1.amazonaws.com), the clients'
outage measured by a 10 ms probe: each round completes, the watchdog moved the address, the
outage is one, shorter than the 15 s the zone is down, and the two rounds agree."""
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as t  # noqa: E402

if os.geteuid() != 0:
    t.skip_all("needs root")
src = os.environ.get("SRCDIR") or os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
p = subprocess.run([os.path.join(src, "examples", "failover", "run"), "--repeat", "2"], capture_output=True, text=True,
                   timeout=900, cwd=src)
out = p.stdout
t.diag(*out.splitlines()[-14:])
t.is_(p.returncode, 0, "examples/failover/run --repeat 2 exits 0", p.stderr[-2000:])
rounds = re.findall(r"round \d+: (\w+); the clients saw: (\d+) outages? ([0-9.]+) s", out)
t.ok(len(rounds) == 2 and all(r[0] == "completed" and r[1] == "1" for r in rounds),
     "two rounds, each completed, the clients saw one outage", rounds)
t.ok(rounds and all(0.5 < float(r[2]) < 10 for r in rounds),
     "the outage is the watchdog's detection and move, far less than the zone's 15 s: %s" % [r[2] for r in rounds])
t.is_(out.count("watchdog: moved "), 2, "the watchdog moved the address in each round (its console)")
t.ok("2 round(s): the same targets, events and verdicts" in out, "the two rounds agree")
t.ok(not any(l.startswith("fo") for l in t.netns_names()), "the example leaves no namespace behind")
t.done()
