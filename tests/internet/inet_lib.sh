# shellcheck shell=bash
# Helpers of the internet-side tests (gateways, addresses, NAT, peering, the regions' simulated
# internet), on top of tests/integration/lib.sh, which is used as it is.
#
# Source it from a test script:   . "$(dirname "$0")/inet_lib.sh"
# then call inet_pool with the test's own /18 inside 198.18.0.0/15 before start_vpcd: two labs
# with the same pool would fight over the host's routes.
#
# Safety: every probe sent from the host's root namespace first checks that the kernel routes
# the address through this lab's host link (${P}h00000000); an address that would leave by the
# machine's default route is never probed.

. "${SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"

for tool in curl nc ping ss; do
	if ! command -v "$tool" >/dev/null; then
		echo "1..0 # SKIP $tool is not installed"
		exit 77
	fi
done

# Background listeners (nc -l in a user namespace) are ended before lib.sh's cleanup runs.
: >"$T/listeners"
_inet_cleanup() {
	local rc=$? pid
	while read -r pid; do
		[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done <"$T/listeners"
	(exit "$rc")
	_cleanup
}
trap _inet_cleanup EXIT

# inet_pool CIDR: the current lab's config gets its own public pool.
inet_pool() {
	printf '{"default_vpc": false, "public_pool": "%s"}\n' "$1" >"$CONFIG"
}

HOSTLINK() { echo "${P}h00000000"; }

# ---------------------------------------------------------------- model shortcuts (any region)

# rvpc REGION ARGS...: the CLI in REGION.
rvpc() {
	local r=$1
	shift
	vpc --region "$r" "$@"
}

# err_code: the code of the aws-style error line in $ERR (after vpc_try).
err_code() { sed -n 's/.*An error occurred (\([^)]*\)) when calling.*/\1/p' <<<"$ERR" | head -1; }

# fails_with CODE DESC ARGS...: the request fails with exit 254 and error CODE.
fails_with() {
	local code=$1 desc=$2
	shift 2
	vpc_try "$@"
	if [ "$RC" -eq 254 ] && [ "$(err_code)" == "$code" ]; then
		pass "$desc"
	else
		fail "$desc" "exit $RC, expected 254 and $code; stderr: $ERR"
	fi
}

# main_rtb VPC [REGION]
main_rtb() {
	rvpc "${2:-us-east-1}" describe-route-tables --filters "Name=vpc-id,Values=$1" |
		jq_ 'next(t["RouteTableId"] for t in d["RouteTables"] if any(a.get("Main") for a in t.get("Associations", [])))'
}

# default_sg VPC [REGION]
default_sg() {
	rvpc "${2:-us-east-1}" describe-security-groups --filters "Name=vpc-id,Values=$1" |
		jq_ 'next(g["GroupId"] for g in d["SecurityGroups"] if g["GroupName"] == "default")'
}

# allow_in GROUP PROTO PORT CIDR [REGION]: an ingress rule.
allow_in() {
	rvpc "${5:-us-east-1}" authorize-security-group-ingress --group-id "$1" --protocol "$2" --port "$3" \
		--cidr "$4" >/dev/null
}

# route_state RTB DEST [REGION]: the State of the route to DEST, or "none".
route_state() {
	rvpc "${3:-us-east-1}" describe-route-tables --route-table-ids "$1" |
		jq_ "next((r.get('State', '?') for r in d['RouteTables'][0]['Routes'] if r.get('DestinationCidrBlock') == '$2'), 'none')"
}

# eip_alloc [REGION] -> "AllocationId PublicIp"
eip_alloc() {
	rvpc "${1:-us-east-1}" allocate-address --domain vpc | jq_ '[d["AllocationId"], d["PublicIp"]]' | tr '\n' ' '
}

# eip_field ALLOC KEY [REGION]: a key of the address ("" when absent).
eip_field() {
	rvpc "${3:-us-east-1}" describe-addresses --allocation-ids "$1" | jq_ "d['Addresses'][0].get('$2', '')"
}

# eni_public ENI [REGION]: the ENI's Association.PublicIp ("" when none).
eni_public() {
	rvpc "${2:-us-east-1}" describe-network-interfaces --network-interface-ids "$1" |
		jq_ "(d['NetworkInterfaces'][0].get('Association') or {}).get('PublicIp', '')"
}

# lab_region REGION KEY: PublicIpPool or InternetHost of a region in describe-lab.
lab_pool() { vpc describe-lab | jq_ "next((r['PublicIpPool'] for r in d['Regions'] if r['RegionName'] == '$1'), '')"; }
lab_host() { vpc describe-lab | jq_ "next((r['InternetHost']['PublicIp'] for r in d['Regions'] if r['RegionName'] == '$1'), '')"; }

# rplug REGION ENI SUFFIX: like lib.sh's plug, in any region.
rplug() { mkns "$3" && rvpc "$1" plug-network-interface --network-interface-id "$2" --netns "$P$3" >/dev/null; }

# ---------------------------------------------------------------- probes from a user namespace

# curl_in NS ADDR: the body of http://ADDR/ as seen from NS ("" when nothing answers).
curl_in() { ip netns exec "$1" curl -s --connect-timeout 2 -m 3 "http://$2/" 2>/dev/null; }

# no_curl NS ADDR: true if http://ADDR/ does not answer from NS within a second.
no_curl() { ! ip netns exec "$1" curl -s --connect-timeout 1 -m 1 -o /dev/null "http://$2/" 2>/dev/null; }

# echo_in NS ADDR: a line sent to ADDR's TCP echo port comes back.
echo_in() {
	local token=echo-$RANDOM-$$ got
	got=$(echo "$token" | ip netns exec "$1" timeout 4 nc -N -w2 "$2" 7 2>/dev/null)
	[ "$got" == "$token" ] || {
		echo "echo from $1 to $2:7: sent '$token', got '$got'"
		return 1
	}
}

# listen NS PORT: a TCP listener in user namespace NS (ended by the cleanup).
listen() {
	ip netns exec "$1" nc -dlk "$2" </dev/null >/dev/null 2>&1 &
	echo $! >>"$T/listeners"
	local _
	for _ in $(seq 50); do
		ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q LISTEN && return 0
		sleep 0.05
	done
	echo "listener on $1:$2 did not come up"
	return 1
}

# nc_in NS ADDR PORT: a TCP connection from NS to ADDR:PORT is accepted.
nc_in() { ip netns exec "$1" nc -z -w1 "$2" "$3" 2>/dev/null; }

# ---------------------------------------------------------------- probes from the host

# via_lab ADDR: the root namespace routes ADDR through this lab's host link.
via_lab() {
	ip route get "$1" 2>/dev/null | grep -q " dev $(HOSTLINK) " || {
		echo "refusing to probe $1 from the host: not routed via $(HOSTLINK): $(ip route get "$1" 2>&1 | head -1)"
		return 1
	}
}

# host_ping ADDR: a reply from ADDR (one of three).
host_ping() { via_lab "$1" && ping -n -c3 -i0.2 -W1 "$1" >/dev/null 2>&1; }
# host_no_ping ADDR: routed via the lab, and no reply to one echo within a second.
host_no_ping() { via_lab "$1" && ! ping -n -c1 -W1 "$1" >/dev/null 2>&1; }
# host_curl ADDR: the body of http://ADDR/ from the host (empty when not routed via the lab).
host_curl() { via_lab "$1" >&2 && curl -s --connect-timeout 2 -m 3 "http://$1/" 2>/dev/null; }
# host_nc ADDR PORT / host_no_nc ADDR PORT: a TCP connection is / is not accepted.
host_nc() { via_lab "$1" && nc -z -w1 "$1" "$2" 2>/dev/null; }
host_no_nc() { via_lab "$1" && ! nc -z -w1 "$1" "$2" 2>/dev/null; }
