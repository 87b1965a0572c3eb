#!/bin/bash
# Network faults (apply-fault, clear-faults, describe-faults; vpcd/fault.c), proved with
# packets. A VPC with subnets A (zone a), B (zone b) and C (zone a again), ENIs plugged into
# namespaces the test makes: disrupt-connectivity cuts A's routed traffic (ping, TCP) while
# A's ENIs still reach each other, DHCP, ARP, DNS and the metadata address; its
# availability-zone scope cuts only B; packet-loss drops about half at 50 % and everything at
# 100 %; blackhole cuts an ENI; clearing restores each within a second. Errors change nothing;
# a retry of the same fault succeeds. kill -9 and a restart keep a fault in force and the
# audit clean; a fault table removed behind vpcd's back is a drift that --repair restores;
# deleting an ENI clears its faults; teardown leaves nothing.
. "$(dirname "$0")/lib.sh"

command -v busybox >/dev/null || bail "busybox is missing (scripts/setup installs busybox-static)"
command -v nc >/dev/null || bail "nc is missing"
start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.9.0.0/16) && [ -n "$v" ] || bail "create-vpc"
subnet_in() { vpc create-subnet --vpc-id "$v" --cidr-block "$1" --availability-zone "$2" | jq_ 'd["Subnet"]["SubnetId"]'; }
sa=$(subnet_in 10.9.1.0/24 us-east-1a) && sb=$(subnet_in 10.9.2.0/24 us-east-1b) &&
	sc=$(subnet_in 10.9.3.0/24 us-east-1a) || bail "create-subnet"
a1=$(mk_eni "$sa" 10.9.1.10) && a2=$(mk_eni "$sa" 10.9.1.11) && b1=$(mk_eni "$sb" 10.9.2.10) &&
	c1=$(mk_eni "$sc" 10.9.3.10) || bail "create-network-interface"
for x in a1 a2 b1 c1; do plug "${!x}" "$x" >/dev/null || bail "plug $x"; done
VNS=$(vpc_ns "$v")
A1=${P}a1 A2=${P}a2 B1=${P}b1 C1=${P}c1

tcp_ok() { ip netns exec "$1" nc -z -w1 "$2" "$3" >/dev/null 2>&1; }
# A TCP listener on port 5555 in each namespace (and one on the metadata address in the VPC's
# namespace, where ec2d would listen), killed by the cleanup with the namespaces.
LISTEN='import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5555)); s.listen(64)
while True: s.accept()[0].close()'
LISTENERS=
for ns in "$A2" "$B1" "$C1" "$VNS"; do
	addr=0.0.0.0
	[ "$ns" != "$VNS" ] || addr=169.254.169.254
	ip netns exec "$ns" python3 -c "$LISTEN" "$addr" >/dev/null 2>&1 &
	LISTENERS="$LISTENERS $!"
done
# Deleting a namespace does not end its processes: the listeners go first, then lib.sh's
# cleanup (with the exit status it is to judge).
trap '_rc=$?; kill $LISTENERS 2>/dev/null; wait $LISTENERS 2>/dev/null; (exit $_rc); _cleanup' EXIT
sleep 0.3
# lease NS: the address DHCP gives eth0 of NS (the static one put back after).
lease() {
	local had got
	had=$(ip -n "$1" -4 -o addr show dev eth0 | awk '{print $4; exit}')
	ip -n "$1" addr flush dev eth0
	got=$(ip netns exec "$1" busybox udhcpc -i eth0 -f -q -n -t 5 -T 1 -s /bin/true 2>&1 |
		sed -n 's/.*lease of \([0-9.]*\) obtained.*/\1/p' | head -1)
	[ -z "$had" ] || ip -n "$1" addr add "$had" dev eth0
	ip -n "$1" route replace default via "${had%.*}.1" dev eth0 2>/dev/null
	echo "$got"
}
arp_ok() { ip -n "$1" neigh flush dev eth0; ip netns exec "$1" busybox arping -c 1 -w 1 -I eth0 "$2" >/dev/null 2>&1; }
resolve() {
	ip netns exec "$1" busybox nslookup "$2" "$3" 2>/dev/null | awk '/^Name:/ {n=1} n && /^Address/ {print $NF; exit}'
}
# received NS ADDR COUNT: how many of COUNT pings (10 ms apart) are answered.
received() {
	ip netns exec "$1" ping -n -q -c "$3" -i 0.01 -W 1 "$2" 2>/dev/null | sed -n 's/.* \([0-9]*\) received.*/\1/p'
}
# udp_through FROM TO ADDR COUNT: how many of COUNT datagrams from FROM arrive in TO (one way).
UDP_RECV='import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 5556)); s.settimeout(1.5)
open(sys.argv[1], "w").close(); n = 0
try:
    while True: s.recv(64); n += 1
except socket.timeout: pass
open(sys.argv[1], "w").write(str(n))'
UDP_SEND='import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])): s.sendto(b"x", (sys.argv[1], 5556)); time.sleep(0.002)'
udp_through() {
	rm -f "$T/udp"
	ip netns exec "$2" python3 -c "$UDP_RECV" "$T/udp" &
	local pid=$! i
	for i in $(seq 50); do [ -e "$T/udp" ] && break; sleep 0.02; done
	ip netns exec "$1" python3 -c "$UDP_SEND" "$3" "$4"
	wait "$pid"
	cat "$T/udp"
}
apply() { vpc apply-fault --experiment-id "${EXP:-EXP1}" "$@" >/dev/null; }
clear_all() { vpc clear-faults --experiment-id "${EXP:-EXP1}" | jq_ 'd["Cleared"]'; }
fault_tables() { ip netns exec "$VNS" nft list tables | grep vpclab_fault | sort | tr '\n' ' '; }

ok "before: a1 pings b1 (other zone)" ping_ok "$A1" 10.9.2.10
ok "before: a1 pings c1 (same zone, other subnet)" ping_ok "$A1" 10.9.3.10
ok "before: a1 pings a2 (same subnet)" ping_ok "$A1" 10.9.1.11
ok "before: a1 connects to b1 over TCP" tcp_ok "$A1" 10.9.2.10 5555
is "$(fault_tables)" "" "no fault table before any fault"

# ---- disrupt-connectivity, scope all
vpc_try apply-fault --fault-id dc-all --experiment-id EXP1 --kind disrupt-connectivity --subnet-id "$sa"
is "$RC" 0 "apply-fault disrupt-connectivity on subnet A"
is "$(jq_ 'd["Fault"]["Parameters"]["Scope"]' <<<"$OUT")" all "the scope defaults to all"
is "$(jq_ 'd["Fault"]["KernelObjects"][0]["Table"]' <<<"$OUT")" "inet vpclab_fault" "its kernel object: table inet vpclab_fault"
nok "a1 no longer pings b1" ping_once "$A1" 10.9.2.10
nok "nor c1" ping_once "$A1" 10.9.3.10
nok "b1 no longer pings a1 (both directions)" ping_once "$B1" 10.9.1.10
nok "a1 cannot connect to b1 over TCP" tcp_ok "$A1" 10.9.2.10 5555
ok "a1 still pings a2 (within the subnet)" ping_ok "$A1" 10.9.1.11
ok "and connects to it over TCP" tcp_ok "$A1" 10.9.1.11 5555
ok "b1 still pings c1 (the fault is A's)" ping_ok "$B1" 10.9.3.10
is "$(lease "$A1")" 10.9.1.10 "a1 still gets its DHCP lease"
ok "a1 still resolves its router by ARP" arp_ok "$A1" 10.9.1.1
is "$(resolve "$A1" ip-10-9-2-10.ec2.internal 10.9.1.2)" 10.9.2.10 "a1 still asks the VPC's resolver (subnet + 2)"
ok "a1 still reaches the metadata address" tcp_ok "$A1" 169.254.169.254 5555
vpc_try audit-lab
is "$RC" 0 "audit-lab is clean with the fault in force"
is "$(clear_all)" 1 "clear-faults --experiment-id: Cleared 1"
t0=$(date +%s%N)
ok "a1 pings b1 again within a second" ping_once "$A1" 10.9.2.10
diag "restored after $((($(date +%s%N) - t0) / 1000000)) ms"
ok "and c1" ping_once "$A1" 10.9.3.10
is "$(fault_tables)" "" "the VPC's last fault cleared: no fault table left"

# ---- disrupt-connectivity, scope availability-zone
apply --fault-id dc-az --kind disrupt-connectivity --subnet-id "$sa" --scope availability-zone ||
	fail "apply-fault scope availability-zone"
nok "zone scope: a1 no longer pings b1 (zone b)" ping_once "$A1" 10.9.2.10
nok "nor connects to it over TCP" tcp_ok "$A1" 10.9.2.10 5555
ok "a1 still pings c1 (zone a)" ping_ok "$A1" 10.9.3.10
ok "a1 still pings a2" ping_ok "$A1" 10.9.1.11
ok "b1 still pings c1" ping_ok "$B1" 10.9.3.10
is "$(clear_all)" 1 "cleared"
ok "a1 pings b1 again within a second" ping_once "$A1" 10.9.2.10

# ---- packet-loss
ping_ok "$A1" 10.9.2.10 >/dev/null # ARP warm
apply --fault-id loss50 --kind packet-loss --network-interface-id "$b1" --loss-percent 50 || fail "apply-fault packet-loss 50"
n=$(udp_through "$A1" "$B1" 10.9.2.10 200)
ok "50 % on b1's ENI: 50-150 of 200 datagrams to b1 arrive ($n)" test "${n:-0}" -ge 50 -a "${n:-0}" -le 150
n=$(received "$A1" 10.9.2.10 200)
# A round trip crosses the ENI twice: about a quarter comes back.
ok "and 10-110 of 200 pings come back, each way lossy ($n)" test "${n:-0}" -ge 10 -a "${n:-0}" -le 110
ok "a1 to c1 is untouched" test "$(received "$A1" 10.9.3.10 50)" -ge 48
vpc_try apply-fault --fault-id loss50 --experiment-id EXP1 --kind packet-loss --network-interface-id "$b1" --loss-percent 50
is "$RC" 0 "the same apply-fault again (a retry) succeeds"
is "$(vpc describe-faults | jq_ 'len(d["Faults"])')" 1 "and makes no second fault"
is "$(clear_all)" 1 "cleared"
is "$(received "$A1" 10.9.2.10 50)" 50 "after the clear, 50 of 50 pings to b1"
apply --fault-id loss100 --kind packet-loss --network-interface-id "$b1" --loss-percent 100 || fail "apply-fault packet-loss 100"
is "$(received "$A1" 10.9.2.10 20)" 0 "100 % on b1's ENI: 0 of 20 pings"
is "$(clear_all)" 1 "cleared"
ok "b1 answers again within a second" ping_once "$A1" 10.9.2.10
apply --fault-id loss-sub --kind packet-loss --subnet-id "$sa" --loss-percent 100 || fail "apply-fault packet-loss on a subnet"
nok "100 % on subnet A: a1 loses b1" ping_once "$A1" 10.9.2.10
nok "and a2" ping_once "$A1" 10.9.1.11
ok "b1 still pings c1" ping_ok "$B1" 10.9.3.10
is "$(clear_all)" 1 "cleared"
ok "a1 pings a2 again" ping_once "$A1" 10.9.1.11
apply --fault-id loss-half --kind packet-loss --network-interface-id "$b1" --loss-percent 0.5 || fail "apply-fault 0.5 %"
is "$(vpc describe-faults | jq_ 'd["Faults"][0]["Parameters"]["LossPercent"]')" 0.5 "a fraction (0.5 %) is kept"
ip netns exec "$VNS" nft list table bridge vpclab_fault | grep -q 'numgen random mod 10000 < 50 drop'
is $? 0 "as numgen random mod 10000 < 50"
clear_all >/dev/null

# ---- blackhole
apply --fault-id bh --kind blackhole --network-interface-id "$b1" || fail "apply-fault blackhole"
nok "blackhole on b1: a1 loses it" ping_once "$A1" 10.9.2.10
nok "so does c1" ping_once "$C1" 10.9.2.10
nok "b1 cannot reach its router either" ping_once "$B1" 10.9.2.1
is "$(lease "$B1")" "" "nor get a DHCP lease"
ok "a1 still pings c1" ping_ok "$A1" 10.9.3.10
is "$(clear_all)" 1 "cleared"
ok "a1 pings b1 again within a second" ping_once "$A1" 10.9.2.10

# ---- rate-limit
apply --fault-id rl --kind rate-limit --network-interface-id "$b1" --rate-kbps 2000 || fail "apply-fault rate-limit"
like "$(tc -n "$VNS" qdisc show dev "$(port_of "$b1")")" "qdisc tbf .* rate 2Mbit" "rate-limit: a tbf of 2 Mbit/s on b1's port"
ok "b1 still answers" ping_ok "$A1" 10.9.2.10
is "$(clear_all)" 1 "cleared"
nok "and the tbf is gone" grep -q tbf <<<"$(tc -n "$VNS" qdisc show dev "$(port_of "$b1")")"

# ---- errors change nothing
apply --fault-id keep --kind packet-loss --network-interface-id "$c1" --loss-percent 10 || fail "apply-fault keep"
snapshot() { vpc describe-faults | canon; fault_tables; echo; ip netns exec "$VNS" nft list table bridge vpclab_fault; }
snapshot >"$T/before"
refused InvalidParameterValue ApplyFault "an unknown kind" -- apply-fault --fault-id x1 --experiment-id E --kind flood --subnet-id "$sa"
refused InvalidSubnetID.NotFound ApplyFault "a subnet that does not exist" -- \
	apply-fault --fault-id x2 --experiment-id E --kind disrupt-connectivity --subnet-id subnet-0123456789abcdef0
refused InvalidNetworkInterfaceID.NotFound ApplyFault "an ENI that does not exist" -- \
	apply-fault --fault-id x3 --experiment-id E --kind blackhole --network-interface-id eni-0123456789abcdef0
refused InvalidParameterValue ApplyFault "a loss of 0 %" -- \
	apply-fault --fault-id x4 --experiment-id E --kind packet-loss --network-interface-id "$c1" --loss-percent 0
refused InvalidParameterValue ApplyFault "a loss of 150 %" -- \
	apply-fault --fault-id x5 --experiment-id E --kind packet-loss --network-interface-id "$c1" --loss-percent 150
refused InvalidParameterValue ApplyFault "a loss that is no number" -- \
	apply-fault --fault-id x6 --experiment-id E --kind packet-loss --network-interface-id "$c1" --loss-percent lots
refused InvalidParameterValue ApplyFault "a scope AWS does not have here" -- \
	apply-fault --fault-id x7 --experiment-id E --kind disrupt-connectivity --subnet-id "$sa" --scope s3
refused InvalidParameterValue ApplyFault "a FaultId with a bad character" -- \
	apply-fault --fault-id 'bad_id' --experiment-id E --kind blackhole --network-interface-id "$c1"
refused InvalidParameterValue ApplyFault "an existing FaultId with other parameters" -- \
	apply-fault --fault-id keep --experiment-id EXP1 --kind packet-loss --network-interface-id "$c1" --loss-percent 20
like "$ERR" "The fault 'keep' exists with other parameters" "which names the fault"
refused InvalidParameterValue ApplyFault "a parameter the kind does not take" -- \
	apply-fault --fault-id x8 --experiment-id E --kind blackhole --network-interface-id "$c1" --loss-percent 5
vpc_try clear-faults --fault-ids nothing-here
is "$RC/$(jq_ 'd["Cleared"]' <<<"$OUT")" 0/0 "clear-faults of a fault that is not there: Cleared 0, exit 0"

# ---- kill -9, restart, audit
apply --fault-id k-dc --kind disrupt-connectivity --subnet-id "$sb" || fail "apply-fault before the kill"
kill9_vpcd
start_vpcd || bail "vpcd does not restart"
nok "after kill -9 and a restart: b1 is still cut off" ping_once "$A1" 10.9.2.10
is "$(vpc describe-faults | jq_ '[f["FaultId"] for f in d["Faults"]]' | tr '\n' ' ')" "k-dc keep " "both faults are still described"
vpc_try audit-lab
is "$RC" 0 "audit-lab is clean after the restart"
ip netns exec "$VNS" nft delete table inet vpclab_fault
ok "with the table deleted behind vpcd's back, b1 answers" ping_ok "$A1" 10.9.2.10
vpc_try audit-lab
is "$RC" 254 "audit-lab: exit 254"
like "$ERR" "fault k-dc: table inet vpclab_fault in $VNS is missing" "it names the fault and its table"
vpc_try audit-lab --repair
is "$RC" 0 "audit-lab --repair: exit 0"
nok "the fault drops again" ping_once "$A1" 10.9.2.10
is "$(EXP=EXP1 clear_all)" 2 "clear-faults: Cleared 2"
ok "b1 answers" ping_once "$A1" 10.9.2.10
ip netns exec "$VNS" nft add table bridge vpclab_fault
vpc_try audit-lab
like "$ERR" "table bridge vpclab_fault in $VNS is of no fault" "a fault table of no fault is a drift"
vpc_try audit-lab --repair
vpc_try audit-lab
is "$RC" 0 "repaired: audit-lab clean"
is "$(fault_tables)" "" "and no vpclab_fault table is left"

# ---- deleting a target clears its faults
spare=$(mk_eni "$sc") || bail "spare ENI"
apply --fault-id gone --kind blackhole --network-interface-id "$spare" || fail "fault on the spare ENI"
ok "delete-network-interface of an ENI with a fault" vpc delete-network-interface --network-interface-id "$spare"
is "$(vpc describe-faults | jq_ 'len(d["Faults"])')" 0 "its fault went with it"
is "$(fault_tables)" "" "and so did the table"

# ---- impair: delay, jitter and duplication through vpcd's NFQUEUE reader (impair.c)
rtt_avg() { ip netns exec "$1" ping -n -q -c "${3:-10}" -i 0.05 -W 2 "$2" 2>/dev/null | sed -n 's:.*= [0-9.]*/\([0-9.]*\)/.*:\1:p'; }
apply --fault-id lat --kind impair --network-interface-id "$b1" --delay-ms 50 || fail "apply-fault impair delay 50 ms"
avg=$(rtt_avg "$A1" 10.9.2.10)
ok "impair --delay-ms 50 on b1: a1 -> b1 ping avg ${avg} ms, 50 +- 2" awk "BEGIN { exit !($avg >= 48 && $avg <= 52) }"
is "$(vpc describe-faults | jq_ '[f["KernelObjects"][0]["Table"] for f in d["Faults"] if f["FaultId"] == "lat"][0]')" \
	"vpclab_impair_lat" "describe-faults names its table"
ok "its table is in the VPC's namespace" sh -c "ip netns exec $VNS nft list tables | grep -q 'table ip vpclab_impair_lat'"
vpc_try audit-lab
is "$RC" 0 "audit-lab is clean with an impairment"
kill9_vpcd
start_vpcd || bail "vpcd does not start again"
avg=$(rtt_avg "$A1" 10.9.2.10)
ok "after kill -9 and a restart the delay is back (${avg} ms)" awk "BEGIN { exit !($avg >= 48 && $avg <= 52) }"
vpc clear-faults --fault-ids lat >/dev/null
avg=$(rtt_avg "$A1" 10.9.2.10)
ok "cleared: ${avg} ms" awk "BEGIN { exit !($avg < 5) }"
ok "and its table is gone" sh -c "! ip netns exec $VNS nft list tables | grep -q vpclab_impair"
apply --fault-id dup --kind impair --network-interface-id "$b1" --duplicate-percent 100 || fail "apply-fault impair duplicate"
ok "impair --duplicate-percent 100: every reply comes twice (DUP!; ping ends at the last original)" sh -c \
	"ip netns exec $A1 ping -n -c 4 -i 0.2 -W 1 10.9.2.10 | grep -c 'DUP!' | grep -qx 3"
vpc clear-faults --fault-ids dup >/dev/null
vpc_try apply-fault --experiment-id EXP1 --fault-id bad --kind impair --network-interface-id "$b1"
like "$ERR" "InvalidParameterValue" "impair with nothing to do: InvalidParameterValue"
vpc_try apply-fault --experiment-id EXP1 --fault-id bad --kind impair --network-interface-id "$b1" --delay-ms 20000
like "$ERR" "InvalidParameterValue" "impair with a delay over 10 s: InvalidParameterValue"

# ---- a partition between two regions, in the backbone
vpc describe-vpcs --region eu-west-1 >/dev/null || fail "eu-west-1 made"
host_of() { vpc describe-lab | jq_ "[r['InternetHost']['PublicIp'] for r in d['Regions'] if r['RegionName'] == '$1'][0]"; }
H1=$(host_of us-east-1) H2=$(host_of eu-west-1)
cross() { ip netns exec "$P-us-east-1" ping -c 1 -W 1 -I "$H1" "$H2" >/dev/null 2>&1; }
ok "us-east-1's internet host reaches eu-west-1's ($H1 -> $H2)" cross
apply --fault-id part --kind partition --peer-region eu-west-1 || fail "apply-fault partition"
nok "partition: us-east-1 no longer reaches eu-west-1" cross
ok "... but the host machine still reaches both" sh -c "ping -c1 -W1 $H1 >/dev/null && ping -c1 -W1 $H2 >/dev/null"
vpc_try apply-fault --experiment-id EXP1 --fault-id part2 --kind partition --peer-region us-east-1
is "$RC" 254 "a partition of a region with itself: refused"
vpc_try apply-fault --experiment-id EXP1 --fault-id part3 --kind partition --peer-region nowhere-1
like "$ERR" "InvalidParameterValue" "a partition with a region that does not exist: InvalidParameterValue"
vpc_try audit-lab
is "$RC" 0 "audit-lab is clean with a partition"
ip netns exec "$P-backbone" nft delete table inet vpclab_fault
vpc_try audit-lab
like "$ERR" "fault part: chain f_part of table inet vpclab_fault in $P-backbone is missing" \
	"audit-lab names a partition whose chain is gone"
vpc_try audit-lab --repair
nok "--repair puts the partition back" cross
kill9_vpcd
ip netns exec "$P-backbone" nft delete table inet vpclab_fault
start_vpcd || bail "vpcd does not start again"
nok "after kill -9 (and its table removed meanwhile) the restart puts the partition back" cross
is "$(EXP=EXP1 clear_all)" 1 "clear-faults: the partition cleared"
ok "the regions reach each other again" cross
is "$(ip netns exec "$P-backbone" nft list tables)" "" "no fault table is left in the backbone"
ip netns exec "$P-backbone" nft add table inet vpclab_fault
vpc_try audit-lab
like "$ERR" "the backbone: table inet vpclab_fault in $P-backbone is of no fault" "a backbone fault table of no fault is a drift"
vpc_try audit-lab --repair
vpc_try audit-lab
is "$RC" 0 "repaired: the audit is clean, the table gone"

stop_vpcd
ok "teardown" teardown_lab
is "$(netns_with_prefix "$P-" | tr '\n' ' ')" "" "teardown leaves no namespace of the lab"
