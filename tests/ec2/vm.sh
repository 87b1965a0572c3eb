#!/bin/bash
# One real VM (the busybox-vm image: a kernel and an initramfs under QEMU, TCG unless KVM
# really runs guests here): ready on the console within 60 s, exec through the guest's agent
# on its virtio-serial port, its address and hostname from DHCP, reachable from a container in
# its subnet, its metadata from inside, stop and start with the same address, terminate. The
# measured times are printed as diagnostics.
. "$(dirname "$0")/ec2_lib.sh"

need_image busybox-vm
need_image busybox
start_vpcd || bail "vpcd does not start"
start_ec2d || bail "ec2d does not start"
AMI_VM=$(image_id busybox-vm) && [ -n "$AMI_VM" ] || bail "describe-images does not list busybox-vm"
AMI_CT=$(image_id busybox) && [ -n "$AMI_CT" ] || bail "describe-images does not list busybox"
is "$(ec2 describe-images --image-ids "$AMI_VM" | jq -r '.Images[0].Tags[] | select(.Key == "vpclab:kind") | .Value')" vm \
	"describe-images tags busybox-vm as a VM"

v=$(mk_vpc 10.47.0.0/16 vm) && [ -n "$v" ] || bail "create-vpc"
s=$(mk_subnet "$v" 10.47.1.0/24) && [ -n "$s" ] || bail "create-subnet"
CT=$(launch --image-id "$AMI_CT" --subnet-id "$s") && [ -n "$CT" ] || bail "run-instances (container)"
wait_ready "$CT" 60 || bail "the container is not ready"

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
vm_running() { [ "$(virsh -c "$QEMU_URI" domstate "$(domain_of "$1")" 2>/dev/null | head -1)" = running ]; }
qemu_of() { pgrep -f "[q]emu-system-x86_64 -name guest=$(domain_of "$1")," >/dev/null; }

# ---------------------------------------------------------------- launch
# launch_vm: a VM with user-data into the subnet; sets VM and T0.
launch_vm() {
	T0=$(date +%s.%N)
	VM=$(launch --image-id "$AMI_VM" --subnet-id "$s" --instance-type t2.nano --user-data $'#!/bin/sh\necho vm-user-data > /root/ud\n') &&
		[ -n "$VM" ]
}
launch_vm || bail "run-instances (VM)"
diag "run-instances of the VM returned after $(elapsed "$T0") s"
ok "the VM's domain runs under qemu:///system" vm_running "$VM"
ok "in a qemu process" qemu_of "$VM"
# The exec channel exists as soon as QEMU does; the request waits there for the agent.
t=$(date +%s.%N)
is "$(timeout 60 "$EC2D" --run-dir "$RUN" exec --instance-id "$VM" -- cat /proc/1/comm)" init \
	"exec issued right after run-instances waits for the guest's agent and runs"
diag "that first exec answered after $(elapsed "$t") s"
# (ec2d boots a probe guest under KVM once per host boot, /run/vpclab-kvm-probe, and uses TCG
# when it does not come up: /dev/kvm can be there while guests hang)
ok "the VM is ready (its init printed ready on the serial console)" wait_ready "$VM" 120
T_READY=$(elapsed "$T0")
diag "launch to ready: $T_READY s ($(ec2 describe-lab | jq -r .VmAccel))"
ok "within 60 s" awk -v t="$T_READY" 'BEGIN { exit !(t <= 60) }'
[ "$(ec2 describe-instance-status --instance-ids "$VM" | jq -r '.InstanceStatuses[0].InstanceStatus.Status')" = ok ] ||
	bail "the VM does not become ready; console: $(console "$VM" | tail -5 | tr '\n' '|')"
console "$VM" >"$T/console"
ok "the serial console has the init's exec agent line" grep -q "^vpclab-init: exec agent on /dev/" "$T/console"
ok "and its DHCP lease" grep -q "^vpclab-init: eth0 $(instance_ip "$VM")/24 router 10.47.1.1" "$T/console"

# ---------------------------------------------------------------- exec through the agent
t1=$(date +%s.%N)
is "$(iexec "$VM" uname -r)" "$(jq -r .Description "$IMAGES_DIR/busybox-vm/image.json" | sed -n 's/.*kernel \([^ ]*\) .*/\1/p')" \
	"exec: uname -r is the image's kernel"
diag "one exec round trip: $(elapsed "$t1") s"
ec2_try exec --instance-id "$VM" -- sh -c 'echo out; exit 3'
is "$RC $OUT" "3 out" "exec: output and exit status come back"
is "$(iexec "$VM" sh -c 'cat /proc/1/comm')" init "exec runs inside the VM (PID 1 is its init)"
is "$(iexec "$VM" cat /root/ud)" vm-user-data "user-data ran"

# ---------------------------------------------------------------- network
IP=$(instance_ip "$VM")
ENI=$(eni_of "$VM")
is "$(iexec "$VM" ip -4 -o addr show dev eth0 | awk '{print $4}')" "$IP/24" "eth0 has the ENI's address from DHCP ($IP)"
is "$(iexec "$VM" cat /sys/class/net/eth0/address)" "$(eni_field "$ENI" MacAddress)" "with the ENI's MAC"
is "$(iexec "$VM" hostname)" "$(hostname_of_ip "$IP")" "the hostname from DHCP"
is "$(ip -n "$(vpc_ns "$v")" -o link show "$(port_of "$ENI")" 2>/dev/null | grep -o "master [^ ]*" | cut -d' ' -f2)" \
	"$(bridge_of "$s")" "the VM's tap is a port of the subnet bridge"
ok "the container pings the VM" in_netns "$CT" ping -n -c 3 -W 2 "$IP"
ok "the VM pings the container" iexec "$VM" ping -c 2 -W 2 "$(instance_ip "$CT")"
is "$(iexec "$VM" wget -q -O - http://169.254.169.254/latest/meta-data/instance-id)" "$VM" "IMDS: instance-id from inside the VM"
like "$(iexec "$VM" nslookup "$(inst_field "$CT" .PrivateDnsName)" 10.47.1.2 2>&1)" "$(instance_ip "$CT")" \
	"the VM resolves the container's name"

# ---------------------------------------------------------------- stop and start
ok "a file in the VM's initramfs root" iexec "$VM" sh -c 'echo here > /root/mark'
t2=$(date +%s.%N)
ok "stop-instances" ec2 stop-instances --instance-ids "$VM"
ok "stopped" wait_state "$VM" stopped 60
diag "stop took $(elapsed "$t2") s"
nok "the VM's domain is gone" vm_running "$VM"
nok "no qemu process of it is left" qemu_of "$VM"
nok "the container no longer reaches it" in_netns "$CT" ping -n -c 1 -W 1 "$IP"
n=$(ready_count "$VM")
t3=$(date +%s.%N)
ok "start-instances" ec2 start-instances --instance-ids "$VM"
ok "ready again" wait_ready "$VM" 120 "$n"
diag "start to ready: $(elapsed "$t3") s"
is "$(iexec "$VM" ip -4 -o addr show dev eth0 | awk '{print $4}')" "$IP/24" "the same address after start"
ok "the container pings it again" in_netns "$CT" ping -n -c 3 -W 2 "$IP"
# (the VM's root is its initramfs: nothing written before the stop is expected back)
if iexec "$VM" test -e /root/mark; then diag "a file written before stop is still there"; else diag "the VM's root started afresh (initramfs)"; fi

# ---------------------------------------------------------------- terminate
ok "terminate-instances" ec2 terminate-instances --instance-ids "$VM"
ok "terminated" wait_state "$VM" terminated 60
nok "the domain is gone" vm_running "$VM"
nok "no qemu process of it is left" qemu_of "$VM"
vpc_try describe-network-interfaces --network-interface-ids "$ENI"
like "$ERR" 'InvalidNetworkInterfaceID.NotFound' "its ENI is deleted"
nok "its exec socket is gone" test -e "$RUN/ec2d/$VM.exec"
