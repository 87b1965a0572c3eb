#!/bin/bash
# ec2d audit-lab [--repair] (ec2d/audit.c): libvirt's domains against the instances. A stray
# domain with the lab's prefix and a domain running for a stopped instance are each printed as
# a drift with a non-zero exit; --repair converges both and the audit is clean again, the
# instances untouched. A running instance's domain destroyed behind ec2d's back is no lasting
# drift: ec2d sees the domain die and the instance is stopped (as EC2 shows an instance whose
# guest died), which the audit then agrees with.
. "$(dirname "$0")/ec2_lib.sh"

need_image busybox
start_vpcd || bail "vpcd does not start"
start_ec2d || bail "ec2d does not start"
AMI=$(image_id busybox) && [ -n "$AMI" ] || bail "describe-images does not list busybox"
v=$(mk_vpc 10.46.0.0/16 audit) && [ -n "$v" ] || bail "create-vpc"
s=$(vpc create-subnet --vpc-id "$v" --cidr-block 10.46.1.0/24 | jq -r .Subnet.SubnetId) && [ -n "$s" ] || bail "create-subnet"
A=$(launch --image-id "$AMI" --subnet-id "$s") && [ -n "$A" ] || bail "run-instances A"
B=$(launch --image-id "$AMI" --subnet-id "$s") && [ -n "$B" ] || bail "run-instances B"
ec2 stop-instances --instance-ids "$B" >/dev/null && wait_state "$B" stopped || bail "stop B"

audit() { ec2_try audit-lab "$@"; }
audit
is "$RC" 0 "audit-lab of a lab as ec2d made it: exit 0"
is "$(jq -r '.Drifts | length' <<<"$OUT")" 0 "no drift"
ok "it checked both instances" [ "$(jq -r .Checked <<<"$OUT")" -ge 2 ]

# sleeper NAME: a transient container of the host's /bin/sleep under libvirt, named NAME.
sleeper() {
	cat >"$T/dom.xml" <<XML
<domain type='lxc'><name>$1</name><memory unit='MiB'>32</memory>
<os><type>exe</type><init>/bin/sleep</init><initarg>300</initarg></os>
<features><privnet/></features><devices><console type='pty'/></devices></domain>
XML
	virsh -c "$LXC_URI" create "$T/dom.xml" >/dev/null
}
STRAY=$P-i-00000000000000a1
ok "a stray domain $STRAY made behind ec2d's back" sleeper "$STRAY"
audit
is "$RC" 254 "audit-lab with a stray domain: exit 254"
like "$ERR" "KernelDrift" "the error is KernelDrift"
like "$ERR" "domain $STRAY \\(lxc\\): of no instance" "the stray domain is named"
ok "a domain for the stopped $B started behind ec2d's back" sleeper "$P-$B"
audit
like "$ERR" "2 drifts" "two drifts"
like "$ERR" "$B: stopped, its domain $P-$B runs" "the stopped instance's running domain is named"
is "$(inst_state "$B")" stopped "the audit alone changes nothing: $B still stopped"
is "$(domains | tr '\n' ' ')" "$(printf '%s\n' "$P-$A" "$P-$B" "$STRAY" | sort | tr '\n' ' ')" "the audit alone changes nothing: the drifts still in libvirt"

audit --repair
is "$RC" 0 "audit-lab --repair: exit 0"
is "$(jq -r '.Repaired | length' <<<"$OUT")" 2 "it says it repaired two drifts"
is "$(domains | tr '\n' ' ')" "$P-$A " "after the repair only $A's domain is there"
is "$(inst_state "$A") $(inst_state "$B")" "running stopped" "the instances are as they were"
audit
is "$RC" 0 "audit-lab after the repair: exit 0, no drift"

# A running instance's domain destroyed: ec2d follows (the instance stopped), no lasting drift.
ok "$A's domain destroyed behind ec2d's back" virsh -c "$LXC_URI" destroy "$P-$A"
ok "ec2d sees it: $A is stopped" wait_state "$A" stopped
audit
is "$RC" 0 "audit-lab then: no drift"
ok "start $A again" ec2 start-instances --instance-ids "$A"
is "$(inst_state "$A")" running "$A runs again"

# Bad input: the CLI refuses an unknown option, nothing changes.
audit --bogus
ok "audit-lab --bogus: non-zero exit" [ "$RC" -ne 0 ]
is "$(domains | tr '\n' ' ')" "$P-$A " "nothing changed"
