# shellcheck shell=bash
# Local helpers of the ec2d integration tests, on top of tests/integration/lib.sh (sourced
# first): the instance daemon's life, its CLI, guest images, waiting for a guest, exec, and a
# cleanup that destroys every libvirt domain of the test's labs before vpcd's cleanup runs,
# then checks that none is left. Not a test itself.
#
# Source it from a test script:   . "$(dirname "$0")/ec2_lib.sh"
# Environment: VPCD, EC2D (the binaries under test; meson's test_env sets both), SRCDIR,
# VPCLAB_IMAGES_DIR (default /var/lib/vpclab/images, what images/build makes).

SRCDIR=${SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=../integration/lib.sh
. "$SRCDIR/tests/integration/lib.sh"

EC2D=${EC2D:-}
if [ -z "$EC2D" ]; then
	echo "1..0 # SKIP EC2D is not set (run through meson test)"
	_TAP_PLANNED=0
	exit 77
fi
IMAGES_DIR=${VPCLAB_IMAGES_DIR:-/var/lib/vpclab/images}
LXC_URI=lxc:///system
QEMU_URI=qemu:///system

for tool in virsh jq; do
	if ! command -v "$tool" >/dev/null; then
		echo "1..0 # SKIP $tool is not installed"
		_TAP_PLANNED=0
		exit 77
	fi
done
if ! virsh -c "$LXC_URI" version >/dev/null 2>&1; then
	echo "1..0 # SKIP libvirtd does not answer at $LXC_URI (scripts/setup starts it)"
	_TAP_PLANNED=0
	exit 77
fi

touch "$T/ec2labs" "$T/ec2pids"

# Each test script has its own public pool (one /24 of 198.18.56.0/21, the region's pool):
# vpcd routes a region's pool from the host, and two labs with the same pool would take each
# other's host routes (see tests/internet/inet_lib.sh for the pools of the other tests).
case $(basename "$0" .sh) in
lifecycle) EC2_POOL=198.18.56.0/24 ;;
errors) EC2_POOL=198.18.57.0/24 ;;
imds) EC2_POOL=198.18.58.0/24 ;;
restart) EC2_POOL=198.18.59.0/24 ;;
confinement) EC2_POOL=198.18.60.0/24 ;;
vm) EC2_POOL=198.18.61.0/24 ;;
crash_instances) EC2_POOL=198.18.62.0/24 ;;
*) EC2_POOL=198.18.63.0/24 ;;
esac

# ec2_lab: the ec2d side of the current lab (made by lib.sh's new_lab): EC2STATE, EC2LOG, and
# the lab's config (no default VPC, the script's public pool). Called once here for the lab
# lib.sh made; call it again after every new_lab.
ec2_lab() {
	local d
	printf '{"default_vpc": false, "public_pool": "%s", "region_pool_prefix": 24}\n' "$EC2_POOL" >"$CONFIG"
	d=$(dirname "$STATE")
	EC2STATE=$d/ec2state
	EC2LOG=$d/ec2d.log
	EC2D_PID=
	echo "$P $EC2STATE $RUN" >>"$T/ec2labs"
	echo "$EC2LOG" >>"$T/logs"
}
ec2_lab

# skip DESC REASON: an assertion that is not run here ("ok N - DESC # SKIP REASON").
skip() {
	_TAP_N=$((_TAP_N + 1))
	echo "ok $_TAP_N - $1 # SKIP $2"
}

# ---------------------------------------------------------------- the daemon

# The EC2 Query API's TCP port is not for these tests (and a fixed port would collide with
# another lab's ec2d): --no-listen when this ec2d has it.
EC2D_SERVE_OPTS=()
if "$EC2D" serve --help 2>/dev/null | grep -q -- --no-listen; then
	EC2D_SERVE_OPTS+=(--no-listen)
fi

# start_ec2d [extra serve args]: ec2d of the current lab in the background (vpcd must run);
# waits until its socket answers describe-lab.
start_ec2d() {
	"$EC2D" serve --prefix "$P" --run-dir "$RUN" --state-dir "$EC2STATE" --images-dir "$IMAGES_DIR" \
		"${EC2D_SERVE_OPTS[@]}" "$@" 2>>"$EC2LOG" &
	EC2D_PID=$!
	echo "$EC2D_PID" >>"$T/pids"
	echo "$EC2D_PID" >>"$T/ec2pids"
	local i
	for i in $(seq 300); do
		if VPCLAB_RUN_DIR=$RUN "$EC2D" describe-lab >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$EC2D_PID" 2>/dev/null; then
			diag "ec2d exited during startup:"
			diag "$(tail -20 "$EC2LOG")"
			return 1
		fi
		sleep 0.05
	done
	diag "ec2d did not answer within 15 s"
	return 1
}

# lock_holders: the pids that have ec2d's state lock open (only ec2d itself should).
lock_holders() {
	local f
	for f in /proc/[0-9]*/fd/*; do
		[ "$(readlink "$f" 2>/dev/null)" = "$EC2STATE/lock" ] || continue
		f=${f#/proc/}
		echo "${f%%/*}"
	done | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# wait_lock_free [SECONDS]: waits (default 15 s) until no process holds ec2d's state lock, so
# that a new ec2d can take it (a forked helper of a dead ec2d that kept it would hold it up,
# see restart.sh).
wait_lock_free() {
	for _ in $(seq $((${1:-15} * 10))); do
		[ -z "$(lock_holders)" ] && return 0
		sleep 0.1
	done
	return 1
}

_reap_ec2d() {
	wait "$EC2D_PID" 2>/dev/null
	sed -i "/^$EC2D_PID\$/d" "$T/pids" "$T/ec2pids"
	EC2D_PID=
}

# stop_ec2d: SIGTERM, then SIGKILL after 5 s.
stop_ec2d() {
	[ -n "${EC2D_PID:-}" ] || return 0
	_term "$EC2D_PID"
	_reap_ec2d
}

kill9_ec2d() {
	[ -n "${EC2D_PID:-}" ] || return 0
	kill -KILL "$EC2D_PID" 2>/dev/null
	_reap_ec2d
}

# ---------------------------------------------------------------- the CLI

# ec2 ARGS... / ec2_try ARGS...: ec2d's CLI against the current lab (lib.sh's _cli).
ec2() { _cli "$EC2D" ec2d "$@"; }
ec2_try() { _cli_try "$EC2D" ec2d "$@"; }

# ec2_refused CODE OP DESC -- ARGS...: lib.sh's refused, for ec2d.
ec2_refused() { _refused ec2_try "$@"; }

# iexec I CMD...: runs CMD in instance I (ec2d exec); stdout and stderr pass through, the
# status is the command's.
iexec() {
	local i=$1
	shift
	VPCLAB_RUN_DIR=$RUN "$EC2D" exec --instance-id "$i" -- "$@"
}

# ---------------------------------------------------------------- images and instances

# image_id NAME: the AMI ID of the image directory IMAGES_DIR/NAME, from describe-images.
image_id() {
	ec2 describe-images | jq -r --arg loc "$IMAGES_DIR/$1" '.Images[] | select(.ImageLocation == $loc) | .ImageId'
}

# need_image NAME: skips the whole test (exit 77) unless IMAGES_DIR/NAME is built.
need_image() {
	if ! [ -f "$IMAGES_DIR/$1/image.json" ]; then
		echo "1..0 # SKIP image $1 is not built ($IMAGES_DIR/$1; run images/build $1)"
		_TAP_PLANNED=0
		exit 77
	fi
}

# launch ARGS...: run-instances in the current lab; prints the instance IDs, one a line.
launch() {
	ec2 run-instances "$@" | jq -r '.Instances[].InstanceId'
}

# inst_field I JQ-PATH: a field of describe-instances for I (e.g. .PrivateIpAddress)
inst_field() {
	ec2 describe-instances --instance-ids "$1" | jq -r ".Reservations[0].Instances[0]$2"
}

inst_state() { inst_field "$1" .State.Name; }

# console I: the decoded console output of I.
# (a container's console is a pty: its lines end in CR LF; the CRs go)
console() { ec2 get-console-output --instance-id "$1" | jq -r '.Output // ""' | tr -d '\r'; }

# ready_count I: how many times I's init has printed "vpclab-init: ready" on its console.
ready_count() { console "$1" | grep -c '^vpclab-init: ready$'; }

# wait_ready I [TIMEOUT [READIES]]: waits (default 60 s) until describe-instance-status says
# the instance's status is ok (its init printed "vpclab-init: ready" on the console this
# boot) and, with READIES (ready_count before a start or reboot), until the console also holds
# more ready lines than that, so that an earlier boot's line can never pass for this one's.
# Sets READY_SECS to the seconds waited.
wait_ready() {
	local i=$1 timeout=${2:-60} readies=${3:-} start now st
	start=$(date +%s.%N)
	while :; do
		st=$(ec2 describe-instance-status --instance-ids "$i" 2>/dev/null |
			jq -r '.InstanceStatuses[0].InstanceStatus.Status // "none"')
		now=$(date +%s.%N)
		READY_SECS=$(awk -v a="$start" -v b="$now" 'BEGIN { printf "%.1f", b - a }')
		if [ "$st" = ok ] && { [ -z "$readies" ] || [ "$(ready_count "$i")" -gt "$readies" ]; }; then
			return 0
		fi
		if awk -v w="$READY_SECS" -v t="$timeout" 'BEGIN { exit !(w >= t) }'; then
			diag "$i not ready after ${timeout}s (status $st); console:"
			diag "$(console "$i" | tail -15)"
			return 1
		fi
		sleep 0.2
	done
}

# wait_state I STATE [TIMEOUT]: polls describe-instances until I is in STATE (default 15 s).
wait_state() {
	local i=$1 want=$2 n=$((${3:-15} * 5))
	for _ in $(seq "$n"); do
		[ "$(inst_state "$i")" = "$want" ] && return 0
		sleep 0.2
	done
	return 1
}

# domain_of I: the libvirt domain name of instance I.
domain_of() { echo "$P-$1"; }

# domains [PREFIX]: names of the libvirt domains (lxc and qemu, running or not) of a prefix.
domains() {
	local p=${1:-$P}
	{
		virsh -c "$LXC_URI" list --all --name 2>/dev/null
		virsh -c "$QEMU_URI" list --all --name 2>/dev/null
	} | grep "^$p-i-" | sort
}

# domain_running I [lxc|qemu]: the domain of I is active in libvirt.
domain_running() {
	local uri=$LXC_URI
	[ "${2:-lxc}" = lxc ] || uri=$QEMU_URI
	[ "$(virsh -c "$uri" domstate "$(domain_of "$1")" 2>/dev/null | head -1)" = running ]
}

# init_pid I: the host pid of a container's init (the child of libvirt's controller).
init_pid() {
	local ctl
	ctl=$(cat "/run/libvirt/lxc/$(domain_of "$1").pid" 2>/dev/null) || return 1
	ps -o pid= --ppid "$ctl" | awk 'NR == 1 {print $1}'
}

# in_netns I CMD...: runs a host command in the network namespace of container I (packets
# leave through the container's eth0, whatever exec can or cannot do inside).
in_netns() {
	local i=$1 pid
	shift
	pid=$(init_pid "$i") && [ -n "$pid" ] || return 1
	nsenter -t "$pid" -n "$@"
}

# instance_ip I: the instance's private address.
instance_ip() { inst_field "$1" .PrivateIpAddress; }

# eni_of I: the instance's ENI, as vpcd sees its attachment.
eni_of() {
	vpc describe-network-interfaces --filters "Name=attachment.instance-id,Values=$1" |
		jq -r '.NetworkInterfaces[0].NetworkInterfaceId // empty'
}

# hostname_of_ip A.B.C.D -> ip-A-B-C-D
hostname_of_ip() { echo "ip-${1//./-}"; }

# ---------------------------------------------------------------- cleanup

# Before lib.sh's cleanup (which stops and tears down vpcd): ec2d goes, then every domain of
# every lab of this test, and none may be left in libvirt.
_ec2_cleanup() {
	local rc=$? pid p st run left
	set +e
	trap - EXIT
	while read -r pid; do
		[ -n "$pid" ] || continue
		kill -TERM "$pid" 2>/dev/null
	done <"$T/ec2pids"
	while read -r pid; do
		[ -n "$pid" ] || continue
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		sed -i "/^$pid\$/d" "$T/pids"
	done <"$T/ec2pids"
	while read -r p st run; do
		[ -n "$p" ] || continue
		"$EC2D" teardown --prefix "$p" --state-dir "$st" --run-dir "$run" >>"$T/teardown.log" 2>&1 ||
			echo "# ec2d teardown --prefix $p failed"
	done <"$T/ec2labs"
	while read -r p st run; do
		[ -n "$p" ] || continue
		left=$(domains "$p" | tr '\n' ' ')
		if [ -n "$left" ]; then
			_tap_result 1 "cleanup leaves no libvirt domain with prefix $p"
			diag "leaked: $left"
			for d in $left; do
				virsh -c "$LXC_URI" destroy "$d" >/dev/null 2>&1
				virsh -c "$QEMU_URI" destroy "$d" >/dev/null 2>&1
				virsh -c "$LXC_URI" undefine "$d" >/dev/null 2>&1
				virsh -c "$QEMU_URI" undefine "$d" >/dev/null 2>&1
			done
		fi
		left=$(pgrep -f "qemu-system.*guest=$p-i-" | tr '\n' ' ')
		if [ -n "$left" ]; then
			_tap_result 1 "cleanup leaves no qemu process of prefix $p"
			for pid in $left; do kill -KILL "$pid"; done
		fi
		if [ -e "/run/vpclab-ec2d-$p.pid" ]; then
			_tap_result 1 "cleanup leaves no ec2d pid file of prefix $p"
			rm -f "/run/vpclab-ec2d-$p.pid"
		fi
	done <"$T/ec2labs"
	(exit "$rc")
	_cleanup
}
trap _ec2_cleanup EXIT

# restart_libvirtd [SIGNAL]: the machine's libvirtd sent SIGNAL (TERM by default; crash tests
# send KILL), then started again as scripts/setup starts it; waits until it answers.
restart_libvirtd() {
	local pid
	pid=$(cat /run/libvirtd.pid 2>/dev/null)
	[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = libvirtd ] || return 1
	kill "-${1:-TERM}" "$pid"
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && return 1
	mkdir -p /var/log/libvirt /run/libvirt
	pgrep -x virtlogd >/dev/null || virtlogd -d
	unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec libvirtd -d'
	for _ in $(seq 150); do
		virsh -c "$LXC_URI" version >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
