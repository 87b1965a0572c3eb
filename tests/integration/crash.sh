#!/bin/bash
# Crash consistency under kill -9, measured (tests/crash_harness.py): a seeded workload of 1,000
# operations over every vpcd object kind with 50 kills of vpcd at seeded points, a restart after
# each, and 20 kills of a VPC's dnsmasq that vpcd must undo by itself. No acknowledged change
# lost, none half applied, namespaces and bridges as described, every dnsmasq back, nothing left
# after teardown. Then the harness's self-check: with the journal emptied after a
# kill, it must see the loss.
. "$(dirname "$0")/lib.sh"

harness=$(dirname "$0")/../crash_harness.py
seed=${CRASH_SEED:-20261206}

mkdir -p "$T/crash" "$T/self"
python3 "$harness" --vpcd "$VPCD" --prefix "$P" --dir "$T/crash" --ops 1000 --kills 50 --dnsmasq-kills 20 \
	--seed "$seed" >"$T/report" 2>"$T/crash.log"
rc=$?
report=$(tail -1 "$T/report")
diag "seed $seed: $report"
[ -s "$T/crash.log" ] && diag "$(head -20 "$T/crash.log")"
is "$rc" 0 "the harness ran to the end"
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$report" "$1"; }
is "$(field operations)" 1000 "1000 operations"
is "$(field kills)" 50 "50 kills of vpcd, each followed by a restart"
is "$(field recoveries)" 50 "50 recoveries"
ok "kills of a VPC's dnsmasq, vpcd running: $(field dnsmasq_kills)" [ "$(field dnsmasq_kills)" -ge 10 ]
is "$(field dnsmasq_restarted)" "$(field dnsmasq_kills)" "each killed dnsmasq was started again by vpcd within 5 s"
ok "some kills landed before the answer" [ "$(field unanswered_kills)" -gt 0 ]
is "$(field acknowledged_lost)" 0 "no acknowledged change lost"
is "$(field half_applied)" 0 "no request half applied"
is "$(field kernel_mismatches)" 0 "namespaces and bridges match the described VPCs and subnets after every restart, and audit-lab finds no drift"
is "$(field leaked)" 0 "nothing with the prefix left after teardown"

# The harness can fail: an emptied journal loses acknowledged changes, and it says so.
P2=$(new_prefix) || bail "prefix"
echo "$P2" >>"$T/prefixes"
python3 "$harness" --vpcd "$VPCD" --prefix "$P2" --dir "$T/self" --ops 200 --kills 10 \
	--seed "$seed" --lose-journal-at 5 >"$T/report2" 2>"$T/self.log"
report=$(tail -1 "$T/report2")
diag "self-check: $report"
ok "self-check: the harness sees acknowledged changes lost with an emptied journal" \
	[ "$(field acknowledged_lost)" -gt 0 ]
is "$(field leaked)" 0 "self-check: nothing left after teardown"
