#!/bin/bash
# Crash consistency of instances under kill -9, measured: a seeded workload of container
# instance operations (run, stop, start, terminate) with kill -9 of ec2d at seeded points a
# seeded 0-400 ms after the request was sent (and of the machine's libvirtd at every other
# kill point with CRASH_LIBVIRTD=1: it kills the libvirtd other labs use too, and it still
# finds drift, see docs/hardening.md),
# a restart after each. After each restart: every acknowledged instance is there in the
# state acknowledged (an unanswered request's instance in its old or its new state, none
# half there: pending or stopping), libvirt's running domains of the prefix are exactly the
# running instances (none stray, none missing), and neither `ec2d audit-lab` nor `vpcd audit-lab` finds a drift. At the
# end everything is terminated and torn down and nothing with the prefix may remain.
# Then the harness's self-check: a running instance's domain destroyed while ec2d is down must
# count as an acknowledged state lost. Prints the report: operations, kills, recoveries, acknowledged_lost, half_applied, leaked.
# CRASH_OPS (default 30), CRASH_KILLS (default 8), CRASH_SEED; bench/crash_instances runs it
# longer.
. "$(dirname "$0")/ec2_lib.sh"

OPS=${CRASH_OPS:-30}
KILLS=${CRASH_KILLS:-8}
SEED=${CRASH_SEED:-20261207}
LVKILL=${CRASH_LIBVIRTD:-0}
MAXLIVE=${CRASH_MAXLIVE:-3}
RANDOM=$SEED

need_image busybox
start_vpcd || bail "vpcd does not start"
start_ec2d || bail "ec2d does not start"
AMI=$(image_id busybox) && [ -n "$AMI" ] || bail "describe-images does not list busybox"
v=$(mk_vpc 10.48.0.0/16 crash) && [ -n "$v" ] || bail "create-vpc"
s=$(vpc create-subnet --vpc-id "$v" --cidr-block 10.48.1.0/24 | jq -r .Subnet.SubnetId) && [ -n "$s" ] ||
	bail "create-subnet"

declare -A WANT # instance -> acknowledged state
ops=0 kills=0 ec2d_kills=0 lv_kills=0 recoveries=0 lost=0 half=0 unanswered=0 mismatches=0

# states: "ID STATE" of every instance ec2d lists.
states() { ec2 describe-instances | jq -r '.Reservations[].Instances[] | "\(.InstanceId) \(.State.Name)"'; }

# check: after a restart, the model against what was acknowledged and libvirt against the model.
check() {
	local id st got running want_running live
	got=$(states) || { diag "describe-instances fails after the restart"; lost=$((lost + ${#WANT[@]})); return 1; }
	for id in "${!WANT[@]}"; do
		st=$(awk -v i="$id" '$1 == i {print $2}' <<<"$got")
		case ${WANT[$id]} in
		*/*)    # unanswered: the old or the new state
			if [ "$st" = "${WANT[$id]%/*}" ] || [ "$st" = "${WANT[$id]#*/}" ]; then
				WANT[$id]=$st
			elif [ "$st" = pending ] || [ "$st" = stopping ] || [ "$st" = shutting-down ]; then
				half=$((half + 1)); diag "$id: half there ($st) after an unanswered ${WANT[$id]}"
				WANT[$id]=$st
			else
				lost=$((lost + 1)); diag "$id: ${WANT[$id]} unanswered, now '${st:-absent}'"
				[ -n "$st" ] && WANT[$id]=$st || unset "WANT[$id]"
			fi ;;
		*)
			if [ "$st" != "${WANT[$id]}" ]; then
				lost=$((lost + 1)); diag "$id: acknowledged ${WANT[$id]}, now '${st:-absent}'"
				[ -n "$st" ] && WANT[$id]=$st || unset "WANT[$id]"
			fi ;;
		esac
	done
	# An unanswered launch's instance: there whole (running) or not at all.
	while read -r id st; do
		[ -n "$id" ] && [ -z "${WANT[$id]:-}" ] || continue
		if [ "$st" = running ]; then WANT[$id]=running; else half=$((half + 1)); diag "new $id is $st"; WANT[$id]=$st; fi
	done <<<"$got"
	want_running=$(for id in "${!WANT[@]}"; do [ "${WANT[$id]}" = running ] && echo "$P-$id"; done | sort)
	running=$(virsh -c "$LXC_URI" list --name 2>/dev/null | grep "^$P-i-" | sort)
	live=$(domains | tr '\n' ' ')
	if [ "$running" != "$want_running" ]; then
		mismatches=$((mismatches + 1))
		diag "running domains [$(echo $running)] != running instances [$(echo $want_running)] (all: $live)"
	fi
	if ! out=$(ec2 audit-lab 2>&1); then
		mismatches=$((mismatches + 1)); diag "ec2d audit-lab: $out"
	fi
	vpc_try audit-lab
	if [ "$RC" != 0 ]; then
		mismatches=$((mismatches + 1)); diag "vpcd audit-lab: exit $RC $ERR"
	fi
}

# pick_op: sets OP and ID (seeded) for the next operation and NEXT (the state it leads to).
pick_op() {
	local ids=() id n
	for id in "${!WANT[@]}"; do
		case ${WANT[$id]} in running | stopped) ids+=("$id") ;; esac
	done
	IFS=$'\n' read -r -d '' -a ids < <(printf '%s\n' "${ids[@]}" | sort; printf '\0')
	n=${#ids[@]}
	if [ "$n" -eq 0 ] || { [ "$n" -lt "$MAXLIVE" ] && [ $((RANDOM % 3)) -eq 0 ]; }; then
		OP=run ID= NEXT=running
		return
	fi
	ID=${ids[$((RANDOM % n))]}
	if [ $((RANDOM % 4)) -eq 0 ]; then
		OP=terminate NEXT=terminated
	elif [ "${WANT[$ID]}" = running ]; then
		OP=stop NEXT=stopped
	else
		OP=start NEXT=running
	fi
}

# do_op: runs OP on ID in the background (its output in $T/op.out, its status in $T/op.rc).
do_op() {
	rm -f "$T/op.rc"
	case $OP in
	run) (set -o pipefail; launch --image-id "$AMI" --subnet-id "$s" >"$T/op.out" 2>"$T/op.err"; echo $? >"$T/op.rc") & ;;
	*) (ec2 "$OP-instances" --instance-ids "$ID" >"$T/op.out" 2>"$T/op.err"; echo $? >"$T/op.rc") & ;;
	esac
	OPJOB=$!
}

every=$((OPS / (KILLS > 0 ? KILLS : 1)))
[ "$every" -ge 1 ] || every=1
start_s=$(date +%s)
for ((k = 1; k <= OPS; k++)); do
	pick_op
	do_op
	ops=$((ops + 1))
	killed=
	if [ "$kills" -lt "$KILLS" ] && [ $((k % every)) -eq 0 ]; then
		sleep "0.$(printf %03d $((RANDOM % 400)))"
		if [ "$LVKILL" = 1 ] && [ $((kills % 2)) -eq 1 ]; then
			seen=$(grep -c "libvirt connection made again" "$EC2LOG")
			restart_libvirtd KILL || bail "libvirtd does not come back"
			killed=libvirtd lv_kills=$((lv_kills + 1))
		else
			kill9_ec2d
			killed=ec2d ec2d_kills=$((ec2d_kills + 1))
		fi
		kills=$((kills + 1))
	fi
	wait "$OPJOB"
	[ -z "$killed" ] || diag "op $k: $OP ${ID:-} with a kill of $killed: exit $(cat "$T/op.rc" 2>/dev/null) $(head -c 300 "$T/op.err")"
	rc=$(cat "$T/op.rc" 2>/dev/null || echo 255)
	if [ "$killed" = ec2d ]; then
		start_ec2d || bail "ec2d does not start again after kill $kills"
	fi
	if [ "$rc" = 0 ]; then
		if [ "$OP" = run ]; then ID=$(head -1 "$T/op.out"); fi
		[ -n "$ID" ] && WANT[$ID]=$NEXT
	elif [ -n "$killed" ]; then
		unanswered=$((unanswered + 1))
		# libvirtd killed: ec2d answered an error, the request may still have been carried out.
		[ -n "$ID" ] && WANT[$ID]="${WANT[$ID]}/$NEXT"
	else
		diag "op $k: $OP $ID failed without a kill: $(head -3 "$T/op.err")"
		mismatches=$((mismatches + 1))
	fi
	if [ "$killed" = libvirtd ]; then
		# ec2d's own recovery: it finds libvirtd again (and its instances) within its tick.
		for _ in $(seq 100); do
			[ "$(grep -c "libvirt connection made again" "$EC2LOG")" -gt "$seen" ] && break
			sleep 0.1
		done
	fi
	if [ -n "$killed" ]; then
		check && recoveries=$((recoveries + 1))
	fi
done
check
main_lost=$lost

# The harness can fail: a running instance's domain destroyed while ec2d is down is an
# acknowledged state lost (ec2d finds it stopped), and the check must say so.
R=
for id in "${!WANT[@]}"; do [ "${WANT[$id]}" = running ] && R=$id && break; done
if [ -z "$R" ]; then
	R=$(launch --image-id "$AMI" --subnet-id "$s") && [ -n "$R" ] && WANT[$R]=running
fi
kill9_ec2d
virsh -c "$LXC_URI" destroy "$P-$R" >/dev/null 2>&1
start_ec2d || bail "ec2d does not start for the self-check"
check
self_lost=$((lost - main_lost))
lost=$main_lost

# The end: everything terminated, ec2d and vpcd stopped and torn down; nothing with the prefix left.
left=$(for id in "${!WANT[@]}"; do [ "${WANT[$id]}" != terminated ] && echo "$id"; done)
[ -z "$left" ] || ec2 terminate-instances --instance-ids $left >/dev/null || diag "terminate at the end fails"
stop_ec2d
"$EC2D" teardown --prefix "$P" --state-dir "$EC2STATE" --run-dir "$RUN" >>"$T/teardown.log" 2>&1
stop_vpcd
teardown_lab >>"$T/teardown.log" 2>&1
[ -z "$(domains)" ] || diag "left after teardown: $(for d in $(domains); do echo "$d: $(virsh -c "$LXC_URI" dominfo "$d" 2>&1 | grep -E 'State|Persistent')"; done); the model had: $(for id in "${!WANT[@]}"; do echo -n "$id=${WANT[$id]} "; done); teardown: $(tail -5 "$T/teardown.log")"
leaked=$(($(domains | wc -l) + $(ip netns list | grep -c "^$P-") + $(ip -o link | grep -c ": $P")))
secs=$(($(date +%s) - start_s))

report=$(printf '{"seed": %d, "operations": %d, "kills": %d, "ec2d_kills": %d, "libvirtd_kills": %d, "unanswered_kills": %d, "recoveries": %d, "acknowledged_lost": %d, "half_applied": %d, "mismatches": %d, "leaked": %d, "seconds": %d}' \
	"$SEED" "$ops" "$kills" "$ec2d_kills" "$lv_kills" "$unanswered" "$recoveries" "$lost" "$half" "$mismatches" "$leaked" "$secs")
diag "report: $report"
[ -n "${CRASH_REPORT:-}" ] && echo "$report" >"$CRASH_REPORT"
is "$ops" "$OPS" "$OPS operations"
is "$kills" "$KILLS" "$KILLS kills ($ec2d_kills of ec2d, $lv_kills of libvirtd)"
is "$recoveries" "$kills" "a clean recovery after every kill"
is "$lost" 0 "no acknowledged instance lost or in another state"
is "$half" 0 "no instance half there"
is "$mismatches" 0 "libvirt's running domains are the running instances after every restart, ec2d and vpcd audit-lab find no drift, no request fails without a kill"
is "$leaked" 0 "nothing with the prefix left after teardown"
is "$self_lost" 1 "self-check: a domain destroyed while ec2d was down is seen as an acknowledged state lost"
