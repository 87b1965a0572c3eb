# shellcheck shell=bash
# Shared helpers of the vpcd integration tests: TAP output, one throw-away lab per run (its own
# prefix, state and run directories), the daemon's life, JSON extraction, user namespaces, and a
# cleanup that removes everything the test made and then checks that nothing with the prefix
# is left in the kernel.
#
# Source it from a test script:   . "$(dirname "$0")/lib.sh"
# Environment: VPCD (the binary under test), SRCDIR (the source tree).

set -u
export LC_ALL=C

VPCD=${VPCD:-}
if [ -z "$VPCD" ]; then
	echo "1..0 # SKIP VPCD is not set (run through meson test)"
	exit 77
fi

# ---------------------------------------------------------------- TAP

_TAP_N=0
_TAP_FAILED=0
_TAP_PLANNED=
_TAP_TODO=

# plan N: announce N assertions up front (optional: without it the plan is printed at exit).
plan() {
	_TAP_PLANNED=$1
	echo "1..$1"
}

diag() {
	local l
	while IFS= read -r l; do echo "# $l"; done <<<"$*"
}

# todo "reason": the next assertion is a known bug; it is reported as "# TODO bug: reason" and
# its failure does not fail the test.
todo() { _TAP_TODO=$1; }

# _tap_result STATUS DESC: STATUS 0 is a pass.
_tap_result() {
	local status=$1 desc=$2 suffix=""
	_TAP_N=$((_TAP_N + 1))
	if [ -n "$_TAP_TODO" ]; then
		suffix=" # TODO bug: $_TAP_TODO"
	fi
	if [ "$status" -eq 0 ]; then
		echo "ok $_TAP_N - $desc$suffix"
	else
		echo "not ok $_TAP_N - $desc$suffix"
		[ -n "$_TAP_TODO" ] || _TAP_FAILED=$((_TAP_FAILED + 1))
	fi
	_TAP_TODO=
	return "$status"
}

pass() { _tap_result 0 "$1"; }
fail() {
	_tap_result 1 "$1"
	[ $# -lt 2 ] || diag "$2"
	return 1
}

# ok DESC CMD...: passes if CMD exits 0 (its stdout goes to stderr, out of the TAP stream).
ok() {
	local desc=$1
	shift
	"$@" >&2
	_tap_result $? "$desc"
}

# nok DESC CMD...: passes if CMD fails.
nok() {
	local desc=$1
	shift
	if "$@" >&2; then _tap_result 1 "$desc"; else _tap_result 0 "$desc"; fi
}

# is GOT WANT DESC
is() {
	if [ "$1" == "$2" ]; then
		_tap_result 0 "$3"
	else
		_tap_result 1 "$3"
		diag "got:      '$1'"
		diag "expected: '$2'"
		return 1
	fi
}

# isnt GOT UNWANTED DESC
isnt() {
	if [ "$1" != "$2" ]; then
		_tap_result 0 "$3"
	else
		_tap_result 1 "$3"
		diag "got the unwanted value '$1'"
		return 1
	fi
}

# like TEXT REGEX DESC (extended regular expression)
like() {
	if grep -Eq -- "$2" <<<"$1"; then
		_tap_result 0 "$3"
	else
		_tap_result 1 "$3"
		diag "'$1' does not match /$2/"
		return 1
	fi
}

# same_file A B DESC: the two files are identical and not both empty (a diff is printed when not).
same_file() {
	# Two empty (or missing) files are equal and prove nothing: whatever wrote them failed.
	if [ ! -s "$1" ] && [ ! -s "$2" ]; then
		_tap_result 1 "$3"
		diag "both '$1' and '$2' are empty or missing"
		return 1
	fi
	if cmp -s "$1" "$2"; then
		_tap_result 0 "$3"
	else
		_tap_result 1 "$3"
		diag "$(diff -u "$1" "$2" | head -60)"
		return 1
	fi
}

# refused CODE OP DESC -- ARGS...: the request exits 254 with the aws error line for CODE and
# OP and prints nothing on stdout; and the script's own `snapshot` (of whatever the request
# must not change) equals the one it saved in "$T/before". _refused TRY ... does it with the
# try function TRY (vpc_try, or ec2_try for ec2d).
_refused() {
	local try=$1 code=$2 op=$3 desc=$4
	shift 5
	"$try" "$@"
	if [ "$RC" -eq 254 ] && grep -qF "An error occurred ($code) when calling the $op operation:" <<<"$ERR" &&
		[ -z "$OUT" ]; then
		pass "$desc: $code, exit 254"
	else
		fail "$desc: $code, exit 254" "exit $RC, stdout '$OUT', stderr '$ERR'"
	fi
	snapshot >"$T/after"
	same_file "$T/before" "$T/after" "$desc: nothing changed"
}
refused() { _refused vpc_try "$@"; }

# bail REASON: stop the test here (cleanup still runs).
bail() {
	echo "Bail out! $*"
	_TAP_FAILED=$((_TAP_FAILED + 1))
	_TAP_BAILED=1
	exit 1
}
_TAP_BAILED=

# ---------------------------------------------------------------- environment

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root (network namespaces, nftables)"
	exit 77
fi
for tool in ip python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "1..0 # SKIP $tool is not installed"
		exit 77
	fi
done

# A python3 reached through a version manager's shim (pyenv) costs a tenth of a second per start,
# and the JSON helpers start one per lookup: put the interpreter itself first in PATH.
_py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
[ -z "$_py" ] || PATH=$(dirname "$_py"):$PATH

T=$(mktemp -d "${TMPDIR:-/tmp}/vpclab-it.XXXXXX") || exit 99
(cd "$T" && touch netns pids prefixes labs logs cli.log teardown.log)

# new_prefix: a fresh lab prefix, "t" + 3 characters of [a-z0-9], not in use in the kernel.
new_prefix() {
	local p i
	for i in $(seq 50); do
		p=t$(tr -dc 'a-z0-9' </dev/urandom 2>/dev/null | head -c3)
		[ ${#p} -eq 4 ] || continue
		grep -qx "$p" "$T/prefixes" && continue
		if ip netns list | awk '{print $1}' | grep -q "^$p" ||
			ip -o link show | awk -F': ' '{print $2}' | grep -q "^$p"; then
			continue
		fi
		echo "$p"
		return 0
	done
	return 1
}

# new_lab [PREFIX]: makes the lab current: P, STATE, RUN, LOG, CONFIG (the config file, by
# default without a default VPC). Every lab made is torn down by the cleanup.
# shellcheck disable=SC2120
new_lab() {
	local p=${1:-}
	[ -n "$p" ] || p=$(new_prefix) || bail "cannot pick a lab prefix"
	P=$p
	local d
	d=$(mktemp -d "$T/lab-$P.XXXX") || bail "mktemp"
	STATE=$d/state
	RUN=$d/run
	LOG=$d/vpcd.log
	CONFIG=$d/config.json
	echo '{"default_vpc": false}' >"$CONFIG"
	VPCD_PID=
	grep -qx "$P" "$T/prefixes" || echo "$P" >>"$T/prefixes"
	echo "$P $STATE" >>"$T/labs"
	echo "$LOG" >>"$T/logs"
}

# ---------------------------------------------------------------- the daemon

# _cli BINARY NAME ARGS...: a daemon's CLI against the current lab. Its stderr is kept in the
# CLI log as well.
_cli() {
	local bin=$1 name=$2 err=$T/err.$BASHPID rc
	shift 2
	VPCLAB_RUN_DIR=$RUN "$bin" "$@" 2>"$err"
	rc=$?
	if [ -s "$err" ]; then
		cat "$err" >&2
		{
			echo "\$ $name $*"
			cat "$err"
		} >>"$T/cli.log"
	fi
	rm -f "$err"
	return $rc
}

# _cli_try BINARY NAME ARGS...: runs the CLI in this shell and sets RC, OUT and ERR.
_cli_try() {
	local bin=$1 name=$2 out=$T/out.$BASHPID err=$T/err.$BASHPID
	shift 2
	VPCLAB_RUN_DIR=$RUN "$bin" "$@" >"$out" 2>"$err"
	RC=$?
	OUT=$(cat "$out")
	ERR=$(cat "$err")
	{
		echo "\$ $name $* => $RC"
		cat "$err"
	} >>"$T/cli.log"
	rm -f "$out" "$err"
}

# vpc ARGS... / vpc_try ARGS...: vpcd's CLI.
vpc() { _cli "$VPCD" vpcd "$@"; }
vpc_try() { _cli_try "$VPCD" vpcd "$@"; }

# start_vpcd [extra serve args]: starts the daemon of the current lab in the background and
# waits until its socket answers describe-lab.
start_vpcd() {
	mkdir -p "$(dirname "$STATE")"
	"$VPCD" serve --state-dir "$STATE" --run-dir "$RUN" --prefix "$P" --config "$CONFIG" "$@" \
		2>>"$LOG" &
	VPCD_PID=$!
	echo "$VPCD_PID" >>"$T/pids"
	local i
	for i in $(seq 200); do
		if VPCLAB_RUN_DIR=$RUN "$VPCD" describe-lab >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$VPCD_PID" 2>/dev/null; then
			diag "vpcd exited during startup:"
			diag "$(tail -20 "$LOG")"
			return 1
		fi
		sleep 0.05
	done
	diag "vpcd did not answer within 10 s"
	return 1
}

# _term PID: SIGTERM, as a service manager would (the sanitizers report leaks at this exit),
# then SIGKILL after 5 s.
_term() {
	kill -TERM "$1" 2>/dev/null
	local i
	for i in $(seq 100); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$1" 2>/dev/null
}

stop_vpcd() {
	[ -n "${VPCD_PID:-}" ] || return 0
	_term "$VPCD_PID"
	_reap_vpcd
}

kill9_vpcd() {
	[ -n "${VPCD_PID:-}" ] || return 0
	kill -KILL "$VPCD_PID" 2>/dev/null
	_reap_vpcd
}

# The daemon's pid is forgotten once reaped, so that the cleanup never signals a reused pid.
_reap_vpcd() {
	wait "$VPCD_PID" 2>/dev/null
	sed -i "/^$VPCD_PID\$/d" "$T/pids"
	VPCD_PID=
}

teardown_lab() {
	"$VPCD" teardown --prefix "$P" --state-dir "$STATE"
}

# ---------------------------------------------------------------- JSON

# jq_ EXPR: evaluates a Python expression over the JSON on stdin, bound to `d`. Strings print
# raw, lists of scalars one per line, anything else as sorted compact JSON.
jq_() {
	python3 -c '
import json, sys
d = json.load(sys.stdin)
r = eval(sys.argv[1])
def out(x):
    if isinstance(x, str): print(x)
    elif isinstance(x, bool): print("true" if x else "false")
    elif x is None: print("null")
    elif isinstance(x, (int, float)): print(x)
    else: print(json.dumps(x, sort_keys=True, separators=(",", ":")))
if isinstance(r, (list, tuple)) and all(not isinstance(x, (list, tuple, dict)) for x in r):
    for x in r: out(x)
else:
    out(r)
' "$1"
}

# canon: sorted, indented JSON (for comparing describe outputs), with jq when there is one.
if command -v jq >/dev/null; then
	canon() { jq -S .; }
else
	canon() { python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), sort_keys=True, indent=1))'; }
fi

# ---------------------------------------------------------------- lab building shortcuts

# mk_vpc CIDR [NAME] -> VpcId
mk_vpc() {
	local tags=()
	[ $# -lt 2 ] || tags=(--tag-specifications "ResourceType=vpc,Tags=[{Key=Name,Value=$2}]")
	vpc create-vpc --cidr-block "$1" "${tags[@]}" | jq_ 'd["Vpc"]["VpcId"]'
}

# mk_subnet VPC CIDR -> SubnetId
mk_subnet() { vpc create-subnet --vpc-id "$1" --cidr-block "$2" | jq_ 'd["Subnet"]["SubnetId"]'; }

# mk_eni SUBNET [IP] -> NetworkInterfaceId
mk_eni() {
	local ipa=()
	[ $# -lt 2 ] || ipa=(--private-ip-address "$2")
	vpc create-network-interface --subnet-id "$1" "${ipa[@]}" |
		jq_ 'd["NetworkInterface"]["NetworkInterfaceId"]'
}

# eni_field ENI FIELD
eni_field() {
	vpc describe-network-interfaces --network-interface-ids "$1" |
		jq_ "d['NetworkInterfaces'][0]['$2']"
}

vpc_ns() { echo "$P-$1"; }

# prove_paths [PORT]: path analysis against packets over the lab as it is: for every ordered
# pair of ENIs plugged into namespaces (at most 6 ENIs, the first by ID), a Reachability
# Analyzer run of tcp/PORT (default 22) with the proof on (tag vpclab:prove): vpcd sends the
# packet, and the model and the kernel must agree on each. One assertion; the disagreements
# in its diagnostics. Paths and analyses are deleted after.
prove_paths() {
	local port=${1:-22} enis s d out n=0 bad=
	enis=$(vpc describe-network-interfaces | jq_ '" ".join(sorted(e["NetworkInterfaceId"] for e in d["NetworkInterfaces"] if e.get("Status") == "in-use" and not e.get("Attachment", {}).get("InstanceId"))[:6])')
	for s in $enis; do
		for d in $enis; do
			[ "$s" != "$d" ] || continue
			local nip nia
			nip=$(vpc create-network-insights-path --source "$s" --destination "$d" --protocol tcp --destination-port "$port" |
				jq_ 'd["NetworkInsightsPath"]["NetworkInsightsPathId"]') || continue
			out=$(vpc start-network-insights-analysis --network-insights-path-id "$nip" \
				--tag-specifications 'ResourceType=network-insights-analysis,Tags=[{Key=vpclab:prove,Value=1}]')
			nia=$(jq_ 'd["NetworkInsightsAnalysis"]["NetworkInsightsAnalysisId"]' <<<"$out")
			case $(jq_ 'str(d["NetworkInsightsAnalysis"].get("VpclabProof", {}).get("Possible")) + " " + str(d["NetworkInsightsAnalysis"].get("VpclabProof", {}).get("KernelAgrees"))' <<<"$out") in
			"True True") n=$((n + 1)) ;;
			"True False") bad="$bad $s->$d:$(jq_ 'd["NetworkInsightsAnalysis"]["VpclabProof"]["Detail"]' <<<"$out")" ;;
			esac
			vpc delete-network-insights-analysis --network-insights-analysis-id "$nia" >/dev/null
			vpc delete-network-insights-path --network-insights-path-id "$nip" >/dev/null
		done
	done
	if [ -z "$bad" ]; then
		_tap_result 0 "path analysis and packets agree on the lab's $n proven paths (tcp/$port)"
	else
		_tap_result 1 "path analysis and packets agree on the lab's proven paths (tcp/$port)"
		diag "disagree:$bad"
	fi
}
bridge_of() { echo "${P}b${1: -8}"; }
port_of() { echo "${P}e${1: -8}"; }
peer_of() { echo "${P}p${1: -8}"; }

# mkns SUFFIX: creates the user namespace "$P$SUFFIX" (never "$P-…", which vpcd reserves) and
# records it for the cleanup.
mkns() {
	local name=$P$1
	case $1 in
	-*) bail "mkns: '$name' would be in vpcd's own namespace space" ;;
	esac
	ip netns add "$name" || return 1
	echo "$name" >>"$T/netns"
	ip -n "$name" link set lo up
}

# plug ENI SUFFIX: a new namespace "$P$SUFFIX" holding the ENI as eth0.
plug() {
	mkns "$2" && vpc plug-network-interface --network-interface-id "$1" --netns "$P$2"
}

# ping_ok NS ADDR [ping args]: at least one reply out of three (ARP resolution may eat one).
ping_ok() {
	local ns=$1 addr=$2
	shift 2
	ip netns exec "$ns" ping -n -c3 -i0.2 -W1 "$@" "$addr" >/dev/null 2>&1
}

# ping_once NS ADDR [ping args]: a single echo with a one second wait.
ping_once() {
	local ns=$1 addr=$2
	shift 2
	ip netns exec "$ns" ping -n -c1 -W1 "$@" "$addr" >/dev/null 2>&1
}

# ping_ttl NS ADDR: the TTL of the first reply, or nothing.
ping_ttl() {
	ip netns exec "$1" ping -n -c3 -i0.2 -W1 "$2" 2>/dev/null |
		sed -n 's/.* ttl=\([0-9]*\).*/\1/p' | head -1
}

# links_with_prefix [NS [PREFIX]]: names of the links starting with PREFIX (default $P) in NS
# (the root namespace when NS is empty or absent).
links_with_prefix() {
	local nsarg=()
	[ -z "${1:-}" ] || nsarg=(-n "$1")
	ip "${nsarg[@]}" -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' |
		grep "^${2:-$P}" | sort
}

netns_with_prefix() { ip netns list | awk '{print $1}' | grep "^${1:-$P}" | sort; }

# ---------------------------------------------------------------- cleanup

_cleanup() {
	local rc=$? pid p ns leaked
	set +e
	trap - EXIT
	# Daemons: SIGTERM first so that LeakSanitizer gets to report.
	while read -r pid; do
		[ -n "$pid" ] || continue
		kill -TERM "$pid" 2>/dev/null
	done <"$T/pids"
	while read -r pid; do
		[ -n "$pid" ] || continue
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done <"$T/pids"
	while read -r p st; do
		[ -n "$p" ] || continue
		"$VPCD" teardown --prefix "$p" --state-dir "$st" >>"$T/teardown.log" 2>&1 ||
			echo "# teardown --prefix $p failed"
	done <"$T/labs"
	while read -r ns; do
		[ -n "$ns" ] || continue
		ip netns del "$ns" 2>/dev/null
	done <"$T/netns"

	# Sanitizer reports, from the daemons and from every CLI call.
	local f
	for f in $(cat "$T/logs") "$T/cli.log" "$T/teardown.log"; do
		[ -f "$f" ] || continue
		if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' "$f"; then
			_tap_result 1 "no sanitizer report in $(basename "$f")"
			diag "$(grep -E -B2 -A20 'AddressSanitizer|LeakSanitizer|runtime error:' "$f" | head -60)"
		fi
	done

	# Nothing carrying a prefix of this test may be left in the kernel.
	while read -r p; do
		[ -n "$p" ] || continue
		leaked=$( (netns_with_prefix "$p"; links_with_prefix "" "$p") | tr '\n' ' ')
		if [ -n "$leaked" ]; then
			_tap_result 1 "cleanup leaves nothing with prefix $p"
			diag "leaked: $leaked"
			# Do not leave them to the next run either.
			for ns in $(netns_with_prefix "$p"); do ip netns del "$ns"; done
			for l in $(links_with_prefix "" "$p"); do ip link del "$l"; done
		fi
	done <"$T/prefixes"

	if [ "$_TAP_FAILED" -gt 0 ] || [ -n "$_TAP_BAILED" ] || [ "$rc" -ne 0 ]; then
		for f in $(cat "$T/logs"); do
			[ -s "$f" ] || continue
			echo "----- $f (last 40 lines)" >&2
			tail -40 "$f" >&2
		done
	fi
	rm -rf "$T"

	if [ -z "$_TAP_PLANNED" ]; then
		echo "1..$_TAP_N"
	elif [ "$_TAP_PLANNED" -ne "$_TAP_N" ] && [ -z "$_TAP_BAILED" ]; then
		echo "# planned $_TAP_PLANNED assertions, ran $_TAP_N"
		_TAP_FAILED=$((_TAP_FAILED + 1))
	fi
	# rc is the status of the script's last command (often an assertion, whose failure is
	# already counted): only a skip and a signal matter here.
	if [ "$_TAP_FAILED" -gt 0 ]; then
		exit 1
	fi
	[ "$rc" -eq 77 ] && exit 77
	[ "$rc" -ge 128 ] && exit "$rc"
	exit 0
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# Namespaces must be usable; a first lab is made current.
new_lab
if ! ip netns add "${P}probe" 2>/dev/null; then
	echo "1..0 # SKIP cannot create network namespaces"
	_TAP_PLANNED=0
	exit 77
fi
ip netns del "${P}probe"
