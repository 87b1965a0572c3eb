# shellcheck shell=bash
# Local helpers of the firewall tests (security groups, network ACLs), on top of
# tests/integration/lib.sh, which is sourced first. Not a test itself.
#
# Source it from a test script:   . "$SRCDIR/tests/firewall/fw_lib.sh"

SRCDIR=${SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=../integration/lib.sh
. "$SRCDIR/tests/integration/lib.sh"

# A python3 found through a version manager's shim (pyenv) costs a tenth of a second per start,
# and the helpers start it for every JSON lookup: put the interpreter itself first in PATH.
_fw_py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
[ -z "$_fw_py" ] || PATH=$(dirname "$_fw_py"):$PATH

# canonj: sorted, indented JSON, with jq when there is one (faster than lib.sh's canon).
if command -v jq >/dev/null; then
	canonj() { jq -S .; }
else
	canonj() { canon; }
fi

# ---------------------------------------------------------------- lab building

# mk_sg VPC NAME -> GroupId
mk_sg() {
	vpc create-security-group --vpc-id "$1" --group-name "$2" --description "fw test $2" |
		jq_ 'd["GroupId"]'
}

# default_sg VPC -> the GroupId of the VPC's default group
default_sg() {
	vpc describe-security-groups --filters Name=vpc-id,Values="$1" Name=group-name,Values=default |
		jq_ 'd["SecurityGroups"][0]["GroupId"]'
}

# set_groups ENI SG...: modify-network-interface-attribute --groups
set_groups() {
	local eni=$1
	shift
	vpc modify-network-interface-attribute --network-interface-id "$eni" --groups "$@" >/dev/null
}

# eni_groups ENI -> its group IDs, sorted, space separated
eni_groups() {
	vpc describe-network-interfaces --network-interface-ids "$1" |
		jq_ '" ".join(sorted(g["GroupId"] for g in d["NetworkInterfaces"][0]["Groups"]))'
}

# sg_in SG ARGS...: authorize-security-group-ingress --group-id SG ARGS (output discarded)
sg_in() {
	local g=$1
	shift
	vpc authorize-security-group-ingress --group-id "$g" "$@" >/dev/null
}
sg_out() {
	local g=$1
	shift
	vpc authorize-security-group-egress --group-id "$g" "$@" >/dev/null
}
sg_rev_in() {
	local g=$1
	shift
	vpc revoke-security-group-ingress --group-id "$g" "$@" >/dev/null
}
sg_rev_out() {
	local g=$1
	shift
	vpc revoke-security-group-egress --group-id "$g" "$@" >/dev/null
}

# mk_acl VPC -> NetworkAclId
mk_acl() { vpc create-network-acl --vpc-id "$1" | jq_ 'd["NetworkAcl"]["NetworkAclId"]'; }

# default_acl VPC -> the NetworkAclId of the VPC's default ACL
default_acl() {
	vpc describe-network-acls --filters Name=vpc-id,Values="$1" Name=default,Values=true |
		jq_ 'd["NetworkAcls"][0]["NetworkAclId"]'
}

# acl_of SUBNET -> the NetworkAclId the subnet is associated with
acl_of() {
	vpc describe-network-acls --filters Name=association.subnet-id,Values="$1" |
		jq_ "[a['NetworkAclId'] for n in d['NetworkAcls'] for a in n['Associations'] if a['SubnetId'] == '$1'][0]"
}

# assoc_of SUBNET -> the subnet's NetworkAclAssociationId
assoc_of() {
	vpc describe-network-acls |
		jq_ "[a['NetworkAclAssociationId'] for n in d['NetworkAcls'] for a in n['Associations'] if a['SubnetId'] == '$1'][0]"
}

# use_acl SUBNET ACL: moves the subnet to the ACL (replace-network-acl-association)
use_acl() {
	local assoc
	assoc=$(assoc_of "$1") && [ -n "$assoc" ] || return 1
	vpc replace-network-acl-association --association-id "$assoc" --network-acl-id "$2" >/dev/null
}

# acl_entry create|replace|delete ACL NUMBER ingress|egress [PROTO ACTION CIDR [FROM TO]]
# For icmp, FROM TO are the type and code.
acl_entry() {
	local op=$1 acl=$2 num=$3 dir=$4
	local args=(--network-acl-id "$acl" --rule-number "$num" "--$dir")
	if [ "$op" != delete ]; then
		args+=(--protocol "$5" --rule-action "$6" --cidr-block "$7")
		case $5 in
		tcp | udp | 6 | 17) args+=(--port-range "From=$8,To=$9") ;;
		icmp | 1) args+=(--icmp-type-code "Type=$8,Code=$9") ;;
		esac
	fi
	vpc "$op-network-acl-entry" "${args[@]}" >/dev/null
}

# ---------------------------------------------------------------- packets

# listen NS PORT: a TCP server (nc -l -k) in NS, killed at cleanup; waits until it listens.
listen() {
	local ns=$1 port=$2 i
	ip netns exec "$ns" nc -l -k -p "$port" >/dev/null 2>&1 </dev/null &
	echo $! >>"$T/pids"
	for i in $(seq 100); do
		ip netns exec "$ns" ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && return 0
		sleep 0.02
	done
	diag "nothing listens on $ns:$port"
	return 1
}

# listen_many NS PORT...
listen_many() {
	local ns=$1 p
	shift
	for p in "$@"; do listen "$ns" "$p" || return 1; done
}

# tcp_ok NS ADDR PORT: a TCP connection from NS to ADDR:PORT succeeds (one second to connect).
tcp_ok() { ip netns exec "$1" nc -z -w1 "$2" "$3" >/dev/null 2>&1; }

# udp_delivered NS_FROM NS_TO ADDR PORT: a datagram with a fresh payload sent from NS_FROM
# arrives at a `nc -u -l` in NS_TO (payload compared). The receiver ends itself (timeout).
udp_delivered() {
	local from=$1 to=$2 addr=$3 port=$4 pid i
	local payload="fw-udp-$RANDOM-$RANDOM" out=$T/udp.$port.$RANDOM
	: >"$out"
	ip netns exec "$to" timeout 5 nc -u -l -p "$port" >"$out" 2>/dev/null </dev/null &
	pid=$!
	for i in $(seq 100); do
		ip netns exec "$to" ss -Hlun "sport = :$port" 2>/dev/null | grep -q . && break
		sleep 0.02
	done
	echo "$payload" | ip netns exec "$from" nc -u -w1 "$addr" "$port" >/dev/null 2>&1
	for i in $(seq 25); do
		grep -qx "$payload" "$out" && break
		sleep 0.02
	done
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	grep -qx "$payload" "$out"
}

# ruleset NS: the inet vpclab table of a VPC namespace
inet_table() { ip netns exec "$1" nft list table inet vpclab; }
