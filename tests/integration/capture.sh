#!/bin/bash
# Packet capture (vpcd capture, describe-capture-point; vpcd/capture.c, docs/capture.md), proved
# with real packets read back by tcpdump. A VPC with subnets A (two ENIs) and B (one ENI), all
# plugged into namespaces the test makes, an internet gateway, an EIP and a NAT gateway:
# a capture on an ENI's port to a file holds the 4 ICMP packets of two pings with the right
# addresses; one to standard output feeds `tcpdump -r -`; the subnet's bridge sees frames
# between two of its ports and routed ones; the internet gateway sees the EIP; the NAT gateway
# sees both sides of its translation; --duration stops on time with 0 packets; SIGTERM and a
# closed pipe stop it cleanly; a bad filter, a missing, unknown or unplugged target and two
# targets at once are refused with exit 254 before anything starts. No capture process and no
# kernel object is left.
. "$(dirname "$0")/../internet/inet_lib.sh"

command -v tcpdump >/dev/null || bail "tcpdump is missing (scripts/setup installs it)"
inet_pool 198.19.192.0/18
start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.47.0.0/16) && [ -n "$v" ] || bail "create-vpc"
sa=$(mk_subnet "$v" 10.47.1.0/24) && sb=$(mk_subnet "$v" 10.47.2.0/24) || bail "create-subnet"
a1=$(mk_eni "$sa" 10.47.1.10) && a2=$(mk_eni "$sa" 10.47.1.11) && b1=$(mk_eni "$sb" 10.47.2.10) &&
	idle=$(mk_eni "$sb" 10.47.2.20) || bail "create-network-interface"
for x in a1 a2 b1; do plug "${!x}" "$x" >/dev/null || bail "plug $x"; done
A1=${P}a1 A2=${P}a2 B1=${P}b1
VNS=$(vpc_ns "$v")

# cap NAME ARGS...: `vpcd capture ARGS...` in the background, stdout to $T/NAME.pcap (unless
# ARGS has --output-file), stderr to $T/NAME.err; returns once it listens. CAP_PID is its pid.
cap() {
	local name=$1 i
	shift
	VPCLAB_RUN_DIR=$RUN "$VPCD" capture "$@" >"$T/$name.pcap" 2>"$T/$name.err" &
	CAP_PID=$!
	echo "$CAP_PID" >>"$T/capture-pids"
	for i in $(seq 100); do
		grep -q '^vpcd: capturing on' "$T/$name.err" && return 0
		kill -0 "$CAP_PID" 2>/dev/null || break
		sleep 0.05
	done
	diag "capture $name did not start: $(cat "$T/$name.err")"
	return 1
}
# cap_wait [SECONDS]: waits for the capture to end (default 5 s); its exit code in CAP_RC.
cap_wait() {
	local i
	for i in $(seq $((${1:-5} * 20))); do
		kill -0 "$CAP_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$CAP_PID" 2>/dev/null; then
		kill -KILL "$CAP_PID" 2>/dev/null
		diag "capture $CAP_PID did not stop by itself"
	fi
	wait "$CAP_PID"
	CAP_RC=$?
}
# readback FILE [tcpdump args]: the packets, one line each, without timestamps.
readback() { tcpdump -n -t -r "$1" "${@:2}" 2>/dev/null; }
: >"$T/capture-pids"
# Captures still running are ended before lib.sh's cleanup (its exit status preserved).
trap '_rc=$?; while read -r p; do kill -KILL "$p" 2>/dev/null; done <"$T/capture-pids"; (exit $_rc); _inet_cleanup' EXIT

# ---------------------------------------------------------------- describe-capture-point

out=$(vpc describe-capture-point --network-interface-id "$a1")
is "$(jq_ '[d["Namespace"], d["Interface"]]' <<<"$out" | tr '\n' ' ')" "$VNS $(port_of "$a1") " \
	"describe-capture-point: an ENI is its port in the VPC namespace"
out=$(vpc describe-capture-point --subnet-id "$sb")
is "$(jq_ '[d["Namespace"], d["Interface"]]' <<<"$out" | tr '\n' ' ')" "$VNS $(bridge_of "$sb") " \
	"describe-capture-point: a subnet is its bridge"

# ---------------------------------------------------------------- an ENI, to a file

F=$T/eni.pcap
cap eni1 --network-interface-id "$a1" --filter icmp --count 4 --output-file "$F" || bail "capture on a1"
ip netns exec "$A1" ping -n -c2 -i0.2 -W1 10.47.1.11 >/dev/null 2>&1
cap_wait
is "$CAP_RC" 0 "capture --count 4 on $a1 ends by itself, exit 0"
like "$(cat "$T/eni1.err")" '^4 packets captured$' "it says '4 packets captured' on stderr"
is "$(readback "$F" | wc -l)" 4 "tcpdump -r reads 4 packets from the file"
is "$(readback "$F" | grep -c '^IP 10.47.1.10 > 10.47.1.11: ICMP echo request')" 2 "2 echo requests 10.47.1.10 > 10.47.1.11"
is "$(readback "$F" | grep -c '^IP 10.47.1.11 > 10.47.1.10: ICMP echo reply')" 2 "2 echo replies 10.47.1.11 > 10.47.1.10"
like "$(readback "$F" -e | head -1)" "^$(eni_field "$a1" MacAddress) > " "the request carries the ENI's MAC as source"
is "$(stat -c %s "$T/eni1.pcap")" 0 "nothing on stdout when --output-file is given"

# ---------------------------------------------------------------- an ENI, to stdout, live into tcpdump

VPCLAB_RUN_DIR=$RUN "$VPCD" capture --network-interface-id "$a2" --filter icmp --count 2 2>"$T/pipe.err" |
	tcpdump -n -t -l -r - >"$T/pipe.txt" 2>/dev/null &
PIPE_PID=$!
for i in $(seq 100); do grep -q '^vpcd: capturing on' "$T/pipe.err" && break; sleep 0.05; done
ip netns exec "$A1" ping -n -c1 -W1 10.47.1.11 >/dev/null 2>&1
for i in $(seq 100); do kill -0 "$PIPE_PID" 2>/dev/null || break; sleep 0.05; done
wait "$PIPE_PID"
is "$?" 0 "capture | tcpdump -r - ends after --count 2"
is "$(grep -c 'ICMP echo' "$T/pipe.txt")" 2 "tcpdump read the request and the reply from the pipe"
like "$(head -1 "$T/pipe.txt")" '^IP 10.47.1.10 > 10.47.1.11: ICMP echo request' "the first is 10.47.1.10 > 10.47.1.11"

# ---------------------------------------------------------------- a subnet's bridge

cap suba --subnet-id "$sa" --filter icmp --count 2 || bail "capture on subnet A"
ip netns exec "$A1" ping -n -c1 -W1 10.47.1.11 >/dev/null 2>&1
cap_wait
is "$CAP_RC" 0 "capture on subnet $sa (its bridge) ends after 2"
is "$(readback "$T/suba.pcap" | grep -c '10.47.1.1[01] > 10.47.1.1[01]: ICMP echo')" 2 \
	"it sees a ping between two of its own ports (request and reply)"
cap subb --subnet-id "$sb" --filter icmp --count 2 || bail "capture on subnet B"
ip netns exec "$A1" ping -n -c1 -W1 10.47.2.10 >/dev/null 2>&1
cap_wait
is "$(readback "$T/subb.pcap" | sed 's/, id.*//' | tr '\n' ';')" \
	"IP 10.47.1.10 > 10.47.2.10: ICMP echo request;IP 10.47.2.10 > 10.47.1.10: ICMP echo reply;" \
	"subnet B's bridge sees the routed ping from subnet A"

# ---------------------------------------------------------------- the internet and NAT gateways

igw=$(vpc create-internet-gateway | jq_ 'd["InternetGateway"]["InternetGatewayId"]') && [ -n "$igw" ] || bail "create-internet-gateway"
vpc attach-internet-gateway --internet-gateway-id "$igw" --vpc-id "$v" >/dev/null || bail "attach"
main=$(main_rtb "$v") && [ -n "$main" ] || bail "main route table"
vpc create-route --route-table-id "$main" --destination-cidr-block 0.0.0.0/0 --gateway-id "$igw" >/dev/null ||
	bail "create-route -> igw"
read -r eip pub <<<"$(eip_alloc)"
vpc associate-address --allocation-id "$eip" --network-interface-id "$a1" >/dev/null || bail "associate-address"
HOST=$(lab_host us-east-1) && [ -n "$HOST" ] || bail "describe-lab"
out=$(vpc describe-capture-point --internet-gateway-id "$igw")
is "$(jq_ '[d["Namespace"], d["Interface"]]' <<<"$out" | tr '\n' ' ')" "$VNS ${P}g${igw: -8} " \
	"describe-capture-point: an internet gateway is its veth in the VPC namespace"
cap igw --internet-gateway-id "$igw" --filter "icmp and host $HOST" --count 2 || bail "capture on the igw"
ping_ok "$A1" "$HOST"
cap_wait
is "$CAP_RC" 0 "capture on $igw ends after 2"
is "$(readback "$T/igw.pcap" | sed 's/, id.*//' | tr '\n' ';')" \
	"IP $pub > $HOST: ICMP echo request;IP $HOST > $pub: ICMP echo reply;" \
	"the internet gateway sees the ENI as its EIP $pub talking to the internet host $HOST"

rt=$(vpc create-route-table --vpc-id "$v" | jq_ 'd["RouteTable"]["RouteTableId"]') && [ -n "$rt" ] || bail "create-route-table"
vpc associate-route-table --route-table-id "$rt" --subnet-id "$sb" >/dev/null || bail "associate-route-table"
read -r neip npub <<<"$(eip_alloc)"
nat=$(vpc create-nat-gateway --subnet-id "$sa" --allocation-id "$neip" | jq_ 'd["NatGateway"]["NatGatewayId"]') &&
	[ -n "$nat" ] || bail "create-nat-gateway"
vpc create-route --route-table-id "$rt" --destination-cidr-block 0.0.0.0/0 --nat-gateway-id "$nat" >/dev/null ||
	bail "create-route -> nat"
natip=$(vpc describe-nat-gateways --nat-gateway-ids "$nat" | jq_ 'd["NatGateways"][0]["NatGatewayAddresses"][0]["PrivateIp"]')
out=$(vpc describe-capture-point --nat-gateway-id "$nat")
is "$(jq_ '[d["Namespace"], d["Interface"]]' <<<"$out" | tr '\n' ' ')" "$P-$nat eth0 " \
	"describe-capture-point: a NAT gateway is eth0 of its namespace"
cap nat --nat-gateway-id "$nat" --filter "icmp and host $HOST" --count 4 || bail "capture on the nat"
ping_ok "$B1" "$HOST"
cap_wait
got=$(readback "$T/nat.pcap" | sed 's/, id.*//' | sort | tr '\n' ';')
want=$(printf '%s\n' "IP 10.47.2.10 > $HOST: ICMP echo request" "IP $natip > $HOST: ICMP echo request" \
	"IP $HOST > $natip: ICMP echo reply" "IP $HOST > 10.47.2.10: ICMP echo reply" | sort | tr '\n' ';')
is "$got" "$want" "the NAT gateway sees both sides of its translation (10.47.2.10 <-> $natip)"

# ---------------------------------------------------------------- a peering

w=$(mk_vpc 10.48.0.0/16) && sw=$(mk_subnet "$w" 10.48.1.0/24) && w1=$(mk_eni "$sw" 10.48.1.10) ||
	bail "second VPC"
plug "$w1" w1 >/dev/null || bail "plug w1"
pcx=$(vpc create-vpc-peering-connection --vpc-id "$v" --peer-vpc-id "$w" |
	jq_ 'd["VpcPeeringConnection"]["VpcPeeringConnectionId"]') && [ -n "$pcx" ] || bail "create-vpc-peering-connection"
capture_try() { vpc_try capture --output-file /dev/null "$@"; }
capture_try --vpc-peering-connection-id "$pcx" --count 1
is "$(err_code)/$RC" IncorrectState/254 "a peering that is not active yet: IncorrectState, exit 254"
vpc accept-vpc-peering-connection --vpc-peering-connection-id "$pcx" >/dev/null || bail "accept"
vpc create-route --route-table-id "$main" --destination-cidr-block 10.48.0.0/16 --vpc-peering-connection-id "$pcx" >/dev/null &&
	vpc create-route --route-table-id "$(main_rtb "$w")" --destination-cidr-block 10.47.0.0/16 \
		--vpc-peering-connection-id "$pcx" >/dev/null || bail "routes over the peering"
allow_in "$(default_sg "$w")" icmp -1 10.47.0.0/16 || bail "icmp into the second VPC"
out=$(vpc describe-capture-point --vpc-peering-connection-id "$pcx" --vpc-id "$w")
is "$(jq_ '[d["Namespace"], d["Interface"]]' <<<"$out" | tr '\n' ' ')" "$(vpc_ns "$w") ${P}x${pcx: -8} " \
	"describe-capture-point --vpc-id: a peering is its veth in that VPC's namespace"
capture_try --vpc-peering-connection-id "$pcx" --vpc-id "$idle" --count 1
is "$(err_code)/$RC" InvalidParameterValue/254 "a --vpc-id that is neither side: InvalidParameterValue, exit 254"
cap pcx --vpc-peering-connection-id "$pcx" --filter icmp --count 2 || bail "capture on the peering"
ping_ok "$A1" 10.48.1.10
cap_wait
is "$(readback "$T/pcx.pcap" | sed 's/, id.*//' | tr '\n' ';')" \
	"IP 10.47.1.10 > 10.48.1.10: ICMP echo request;IP 10.48.1.10 > 10.47.1.10: ICMP echo reply;" \
	"the peering's link (requester side) sees the ping between the two VPCs"

# ---------------------------------------------------------------- stopping

cap dur --network-interface-id "$a2" --filter 'udp port 9' --duration 1 || bail "capture --duration"
t0=$(date +%s%N)
cap_wait 5
ms=$((($(date +%s%N) - t0) / 1000000))
is "$CAP_RC" 0 "--duration 1 ends with exit 0"
ok "... after about a second (${ms} ms)" test "$ms" -ge 700 -a "$ms" -le 2500
like "$(cat "$T/dur.err")" '^0 packets captured$' "... with '0 packets captured'"
ok "... and a valid, empty pcap on stdout" sh -c "tcpdump -r '$T/dur.pcap' 2>&1 | grep -q 'link-type EN10MB' && [ -z \"\$(tcpdump -r '$T/dur.pcap' 2>/dev/null)\" ]"

cap term --network-interface-id "$a2" || bail "capture without limit"
kill -TERM "$CAP_PID"
cap_wait
is "$CAP_RC" 0 "SIGTERM stops a capture cleanly (exit 0)"
like "$(cat "$T/term.err")" 'packets? captured$' "... with its summary line"
cap int --network-interface-id "$a2" || bail "capture without limit"
kill -INT "$CAP_PID"
cap_wait
is "$CAP_RC" 0 "SIGINT too"

# A reader that goes away: head takes the 24-byte file header and leaves.
timeout 10 bash -c "VPCLAB_RUN_DIR='$RUN' '$VPCD' capture --network-interface-id '$a2' 2>'$T/epipe.err' | head -c 24 >'$T/epipe.bin'; exit \${PIPESTATUS[0]}"
is "$?" 0 "a closed pipe stops the capture (no traffic needed, no timeout)"
is "$(stat -c %s "$T/epipe.bin")" 24 "the reader got the pcap file header"
like "$(cat "$T/epipe.err")" 'packets? captured$' "... and the capture printed its summary"

# ---------------------------------------------------------------- where a security group drops

# a2 in a group without ingress rules: a1's pings are dropped in the VPC router (inet forward),
# before a2's port. a1's port shows what a1 sent; a2's port shows nothing delivered.
closed=$(vpc create-security-group --group-name closed --description closed --vpc-id "$v" | jq_ 'd["GroupId"]') &&
	vpc modify-network-interface-attribute --network-interface-id "$a2" --groups "$closed" >/dev/null ||
	bail "a closed group for a2"
cap to --network-interface-id "$a2" --filter icmp --duration 1.5 || bail "capture on a2"
to_pid=$CAP_PID
cap from --network-interface-id "$a1" --filter icmp --duration 1.5 || bail "capture on a1"
ip netns exec "$A1" ping -n -c2 -i0.2 -W1 10.47.1.11 >/dev/null 2>&1
cap_wait
CAP_PID=$to_pid cap_wait
is "$(readback "$T/from.pcap" | grep -c 'ICMP echo request')/$(readback "$T/from.pcap" | grep -c 'ICMP echo reply')" 2/0 \
	"the sender's port shows the 2 requests its peer's group drops, and no reply"
is "$(readback "$T/to.pcap" | wc -l)" 0 "the receiver's port shows none: the drop is before it"

# ---------------------------------------------------------------- refusals

# capture_refused CODE DESC ARGS...: exit 254, the error line with CODE, no output file.
capture_refused() {
	local code=$1 desc=$2
	shift 2
	rm -f "$T/refused.pcap"
	vpc_try capture --output-file "$T/refused.pcap" "$@"
	if [ "$RC" -eq 254 ] && [ "$(err_code)" == "$code" ] && [ ! -e "$T/refused.pcap" ]; then
		pass "$desc: $code, exit 254, no file"
	else
		fail "$desc: $code, exit 254, no file" "exit $RC, stderr '$ERR', file: $(ls "$T/refused.pcap" 2>&1)"
	fi
}
capture_refused InvalidParameterValue "a bad filter" --network-interface-id "$a1" --filter 'icmp and and'
like "$ERR" "The filter 'icmp and and' is not valid: .*syntax error" "... the message names the filter and pcap's reason"
capture_refused MissingParameter "no target" --filter icmp
capture_refused InvalidParameterCombination "two targets" --network-interface-id "$a1" --subnet-id "$sa"
capture_refused InvalidNetworkInterfaceID.NotFound "an unknown ENI" --network-interface-id eni-0123456789abcdef0
capture_refused InvalidSubnetID.NotFound "an unknown subnet" --subnet-id subnet-0123456789abcdef0
capture_refused InvalidInternetGatewayID.NotFound "an unknown internet gateway" --internet-gateway-id igw-0123456789abcdef0
capture_refused NatGatewayNotFound "an unknown NAT gateway" --nat-gateway-id nat-0123456789abcdef0
capture_refused InvalidVpcPeeringConnectionID.NotFound "an unknown peering" --vpc-peering-connection-id pcx-0123456789abcdef0
capture_refused IncorrectState "an ENI that is not plugged" --network-interface-id "$idle"
capture_refused InvalidParameterValue "--count 0" --network-interface-id "$a1" --count 0
capture_refused InvalidParameterValue "--duration abc" --network-interface-id "$a1" --duration abc
vpc_try capture --network-interface-id "$a1" --count x
is "$RC" 252 "--count x is a usage error (exit 252)"
# Root without capabilities (it still reaches the daemon's socket): pcap's or setns' permission
# error, said to need root.
if command -v setpriv >/dev/null; then
	VPCLAB_RUN_DIR=$RUN setpriv --inh-caps=-all --bounding-set=-all \
		"$VPCD" capture --network-interface-id "$a1" --count 1 --output-file "$T/np.pcap" >/dev/null 2>"$T/np.err"
	is "$?" 254 "without capabilities: exit 254"
	like "$(cat "$T/np.err")" 'UnauthorizedOperation.*must run as root' "... saying it must run as root"
	ok "... and leaving no file" test ! -e "$T/np.pcap"
fi

# ---------------------------------------------------------------- nothing left

sleep 0.2
left=$(while read -r p; do kill -0 "$p" 2>/dev/null && echo "$p"; done <"$T/capture-pids")
is "$left" "" "no capture process is left"
is "$(pgrep -f "$VPCD capture" | tr '\n' ' ')" "" "no 'vpcd capture' process at all"
is "$(ip -n "$VNS" -d link show "$(bridge_of "$sa")" | grep -c promiscuity\ 0)" 1 \
	"subnet A's bridge is no longer promiscuous"

# The model and the packets agree on every path between the ENIs left plugged (lib.sh).
prove_paths
