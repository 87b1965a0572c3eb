#!/bin/bash
# An instance's life, seen from inside and outside: two containers launched into one subnet
# get their ENI's address and hostname by DHCP, run their user-data (a file and an httpd),
# resolve and reach each other; describe-instances and vpcd agree on the ENI; stop keeps the ENI
# and the address and removes the link, start brings them back with the root's files; reboot
# keeps them too; exec passes the exit status and stderr; the console has the init's lines;
# terminate removes the ENI, the domain and the instance's files, and leaves a terminated
# record.
. "$(dirname "$0")/ec2_lib.sh"

need_image busybox
start_vpcd || bail "vpcd does not start"
start_ec2d || bail "ec2d does not start"
AMI=$(image_id busybox) && [ -n "$AMI" ] || bail "describe-images does not list busybox"

v=$(mk_vpc 10.41.0.0/16 lifecycle) && [ -n "$v" ] || bail "create-vpc"
s=$(mk_subnet "$v" 10.41.1.0/24) && [ -n "$s" ] || bail "create-subnet"
s_other=$(mk_subnet "$v" 10.41.2.0/24) && [ -n "$s_other" ] || bail "create-subnet 2"
VNS=$(vpc_ns "$v")

cat >"$T/ud.sh" <<'EOF'
#!/bin/sh
mkdir -p /srv/www
echo "user-data ran on $(cat /sys/class/net/eth0/address)" > /srv/www/index.html
echo ran > /root/user-data.done
httpd -p 80 -h /srv/www
# The instance is not ready before this ends: the status checks can be seen initializing.
sleep 3
EOF

# ---------------------------------------------------------------- launch
t0=$(date +%s.%N)
ec2 run-instances --image-id "$AMI" --instance-type t3.micro --subnet-id "$s" --count 2 \
	--user-data "file://$T/ud.sh" \
	--tag-specifications 'ResourceType=instance,Tags=[{Key=Name,Value=web},{Key=role,Value=lifecycle}]' \
	>"$T/run.json" || bail "run-instances"
diag "run-instances of 2 containers took $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"
is "$(jq -r '.Instances | length' "$T/run.json")" 2 "run-instances answers with 2 instances"
is "$(jq -r '[.Instances[].State.Name] | unique | join(",")' "$T/run.json")" pending "both are pending in the answer (code $(jq -r '.Instances[0].State.Code' "$T/run.json"))"
like "$(jq -r .ReservationId "$T/run.json")" '^r-[0-9a-f]{17}$' "one reservation r-…"
A=$(jq -r '.Instances[0].InstanceId' "$T/run.json")
B=$(jq -r '.Instances[1].InstanceId' "$T/run.json")
like "$A $B" '^i-[0-9a-f]{17} i-[0-9a-f]{17}$' "instance IDs i-… ($A, $B)"
is "$(ec2 describe-instance-status --instance-ids "$A" | jq -r '.InstanceStatuses[0] | .InstanceState.Name + " " + .InstanceStatus.Status + " " + .SystemStatus.Status')" \
	"running initializing ok" "describe-instance-status while user-data runs: running, initializing"
# (libvirt learns a container's init pid after createXML returns; exec needs it)
ok "exec works as soon as run-instances has answered" iexec "$B" true
ok "$A is ready (its init printed ready on the console)" wait_ready "$A" 60
diag "$A ready after a further ${READY_SECS}s"
ok "$B is ready" wait_ready "$B" 60
diag "$B ready after a further ${READY_SECS}s"

IP_A=$(instance_ip "$A")
IP_B=$(instance_ip "$B")
ENI_A=$(eni_of "$A")
ENI_B=$(eni_of "$B")
[ -n "$ENI_A" ] && [ -n "$ENI_B" ] || bail "vpcd knows no ENI attached to the instances"
MAC_A=$(eni_field "$ENI_A" MacAddress)
MAC_B=$(eni_field "$ENI_B" MacAddress)

# The hostname is sampled at every boot and judged at the end (see "hostname" below).
HOSTS_WRONG=
sample_hostname() {
	local i=$1 ip=$2 h
	h=$(iexec "$i" hostname 2>/dev/null)
	[ "$h" = "$(hostname_of_ip "$ip")" ] || HOSTS_WRONG="$HOSTS_WRONG $i:$h"
}

# ---------------------------------------------------------------- inside: DHCP, DNS, packets
for pair in "$A $IP_A $ENI_A $MAC_A" "$B $IP_B $ENI_B $MAC_B"; do
	read -r i ip eni mac <<<"$pair"
	is "$(eni_field "$eni" PrivateIpAddress)" "$ip" "$i: describe-instances and vpcd agree on the address $ip"
	is "$(iexec "$i" ip -4 -o addr show dev eth0 | awk '{print $4}')" "$ip/24" "$i: eth0 has the ENI's address from DHCP"
	is "$(iexec "$i" cat /sys/class/net/eth0/address)" "$mac" "$i: eth0 has the ENI's MAC"
	is "$(iexec "$i" ip route | awk '/^default/ {print $3}')" 10.41.1.1 "$i: default route via the subnet router"
	is "$(iexec "$i" sed -n 's/^nameserver //p' /etc/resolv.conf)" 10.41.1.2 "$i: the resolver is subnet+2"
	sample_hostname "$i" "$ip"
	is "$(iexec "$i" cat /root/user-data.done)" ran "$i: user-data ran (its file is there)"
	ok "$i: user-data started httpd" iexec "$i" pidof httpd
done

DNS_B=$(inst_field "$B" .PrivateDnsName)
is "$DNS_B" "$(hostname_of_ip "$IP_B").ec2.internal" "PrivateDnsName of $B is ip-a-b-c-d.ec2.internal"
like "$(iexec "$A" nslookup "$DNS_B" 10.41.1.2 2>&1)" "Address:? *(1: )?$IP_B\$" \
	"$A resolves $DNS_B to $IP_B at 10.41.1.2"
nok "an unknown name in ec2.internal does not resolve" iexec "$A" nslookup ip-10-41-1-200.ec2.internal 10.41.1.2
ok "$A pings $B (from $A's network namespace)" in_netns "$A" ping -n -c 2 -W 2 "$IP_B"
ok "$A pings $B (ping run by exec inside $A: exec has the container's cap_net_raw)" iexec "$A" ping -c 2 -W 2 "$IP_B"
is "$(iexec "$A" timeout 5 wget -q -O - "http://$IP_B/")" "user-data ran on $MAC_B" "$A fetches $B's page from the httpd its user-data started"
ok "the VPC namespace pings $A" ping_ok "$VNS" "$IP_A"

# ---------------------------------------------------------------- outside: describe and vpcd
ec2 describe-instances --instance-ids "$A" "$B" >"$T/desc.json" || bail "describe-instances"
is "$(jq -r '.Reservations | length' "$T/desc.json")" 1 "describe-instances: one reservation"
is "$(jq -r '.Reservations[0].ReservationId' "$T/desc.json")" "$(jq -r .ReservationId "$T/run.json")" "the reservation of run-instances"
is "$(jq -r '.Reservations[0].OwnerId' "$T/desc.json")" 123456789012 "with the lab's OwnerId"
is "$(jq -c '[.Reservations[0].Instances[] | .State]' "$T/desc.json")" '[{"Code":16,"Name":"running"},{"Code":16,"Name":"running"}]' \
	"both running, code 16"
is "$(jq -r --arg a "$A" '.Reservations[0].Instances[] | select(.InstanceId == $a) | [.NetworkInterfaces[0].NetworkInterfaceId, .NetworkInterfaces[0].PrivateIpAddress, .NetworkInterfaces[0].MacAddress, .NetworkInterfaces[0].Attachment.Status, .NetworkInterfaces[0].Attachment.DeviceIndex] | join(" ")' "$T/desc.json")" \
	"$ENI_A $IP_A $MAC_A attached 0" "NetworkInterfaces[0]: the ENI, its address, MAC, attachment at index 0"
is "$(jq -r '[.Reservations[0].Instances[] | .SecurityGroups[].GroupName] | join(",")' "$T/desc.json")" default,default \
	"SecurityGroups: the VPC's default group"
is "$(jq -r --arg a "$A" '.Reservations[0].Instances[] | select(.InstanceId == $a) | [.ImageId, .InstanceType, .SubnetId, .VpcId, .Placement.AvailabilityZone] | join(" ")' "$T/desc.json")" \
	"$AMI t3.micro $s $v us-east-1a" "ImageId, InstanceType, SubnetId, VpcId, Placement"
is "$(jq -r '.Reservations[0].Instances[0].Tags | map(.Key + "=" + .Value) | sort | join(",")' "$T/desc.json")" \
	"Name=web,role=lifecycle" "the tags of --tag-specifications"

# count_filter ARGS...: the number of instances describe-instances lists with these filters
count_filter() { ec2 describe-instances --filters "$@" | jq '[.Reservations[].Instances[]] | length'; }
is "$(count_filter Name=instance-state-name,Values=running)" 2 "filter instance-state-name=running: 2"
is "$(count_filter Name=instance-state-name,Values=stopped)" 0 "filter instance-state-name=stopped: 0"
is "$(count_filter "Name=subnet-id,Values=$s")" 2 "filter subnet-id (the subnet): 2"
is "$(count_filter "Name=subnet-id,Values=$s_other")" 0 "filter subnet-id (another subnet): 0"
is "$(count_filter "Name=vpc-id,Values=$v")" 2 "filter vpc-id: 2"
is "$(ec2 describe-instances --filters "Name=private-ip-address,Values=$IP_B" | jq -r '[.Reservations[].Instances[].InstanceId] | join(",")')" \
	"$B" "filter private-ip-address=$IP_B: only $B"
is "$(count_filter Name=tag:Name,Values=web)" 2 "filter tag:Name=web: 2"
is "$(count_filter Name=tag:Name,Values=db)" 0 "filter tag:Name=db: 0"
is "$(count_filter "Name=network-interface.network-interface-id,Values=$ENI_A")" 1 "filter network-interface.network-interface-id: 1"

vpc describe-network-interfaces --network-interface-ids "$ENI_A" >"$T/eni.json" || bail "describe-network-interfaces"
is "$(jq -r '.NetworkInterfaces[0] | [.Status, .Attachment.InstanceId, .Attachment.Status, (.Attachment.DeleteOnTermination | tostring)] | join(" ")' "$T/eni.json")" \
	"in-use $A attached true" "vpcd: the ENI is in-use, attached to $A, deleted on termination"
PORT_A=$(port_of "$ENI_A")
PORT_B=$(port_of "$ENI_B")
BR=$(bridge_of "$s")
is "$(ip -n "$VNS" -o link show "$PORT_B" 2>/dev/null | grep -o "master [^ ]*" | cut -d' ' -f2)" "$BR" \
	"$B's link $PORT_B is a port of the subnet bridge in $VNS"
nok "no instance link is left in the host namespace" ip link show "$PORT_B"

# ---------------------------------------------------------------- exec
ec2_try exec --instance-id "$A" -- sh -c 'echo to-stdout; echo to-stderr >&2; exit 7'
is "$RC" 7 "exec: the exit status is the command's"
is "$OUT" to-stdout "exec: stdout"
is "$ERR" to-stderr "exec: stderr comes back on stderr"
ec2_try exec --instance-id "$A" -- /no/such/program
is "$RC" 127 "exec of a missing program: 127"
ec2_try exec --instance-id "$A" -- sh -c 'kill -9 $$'
is "$RC" 137 "exec of a command killed by SIGKILL: 137"

# ---------------------------------------------------------------- console
console "$B" >"$T/console.B"
ok "console: the DHCP lease line" grep -q "^vpclab-init: eth0 $IP_B/24 router 10.41.1.1" "$T/console.B"
ok "console: user-data ran" grep -qx "vpclab-init: running user-data" "$T/console.B"
ok "console: ready" grep -qx "vpclab-init: ready" "$T/console.B"

# ---------------------------------------------------------------- stop and start
ok "a file is written into $B's root" iexec "$B" sh -c 'echo kept > /root/persist.txt && sync'
ec2 stop-instances --instance-ids "$B" >"$T/stop.json" || bail "stop-instances"
is "$(jq -c '.StoppingInstances[0] | [.InstanceId, .PreviousState.Name, .PreviousState.Code, .CurrentState.Name, .CurrentState.Code]' "$T/stop.json")" \
	"[\"$B\",\"running\",16,\"stopping\",64]" "stop-instances: running (16) -> stopping (64)"
ok "$B is stopped" wait_state "$B" stopped
is "$(inst_field "$B" .State.Code)" 80 "stopped is code 80"
nok "$B's domain no longer runs" domain_running "$B"
# (within 15 s: a container's network namespace can outlive its domain for a while, see
# restart.sh, "stopped right after a start")
link_gone() {
	for _ in $(seq 150); do
		ip -n "$VNS" link show "$1" >/dev/null 2>&1 || return 0
		sleep 0.1
	done
	return 1
}
ok "$B's link $PORT_B is gone from the VPC namespace" link_gone "$PORT_B"
is "$(vpc describe-network-interfaces --network-interface-ids "$ENI_B" | jq -r '.NetworkInterfaces[0] | [.Status, .PrivateIpAddress, .Attachment.InstanceId] | join(" ")')" \
	"in-use $IP_B $B" "the ENI stays, in use by $B, with $IP_B"
is "$(instance_ip "$B")" "$IP_B" "describe-instances keeps the private address of the stopped instance"
nok "$A no longer reaches $B" in_netns "$A" ping -n -c 1 -W 1 "$IP_B"
is "$(ec2 describe-instance-status --instance-ids "$B" --include-all-instances | jq -r '.InstanceStatuses[0] | .InstanceState.Name + " " + .InstanceStatus.Status')" \
	"stopped not-applicable" "describe-instance-status: stopped, not-applicable"
is "$(ec2 describe-instance-status | jq -r '[.InstanceStatuses[].InstanceId] | join(",")')" "$A" \
	"describe-instance-status without --include-all-instances lists only the running one"
ec2_try exec --instance-id "$B" -- true
is "$RC" 254 "exec in a stopped instance is refused (exit 254)"

n=$(ready_count "$B")
ec2 start-instances --instance-ids "$B" >"$T/start.json" || bail "start-instances"
is "$(jq -c '.StartingInstances[0] | [.PreviousState.Name, .CurrentState.Name, .CurrentState.Code]' "$T/start.json")" \
	'["stopped","pending",0]' "start-instances: stopped -> pending (0)"
# (the ready line of the boot before must not count)
is "$(ec2 describe-instance-status --instance-ids "$B" | jq -r '.InstanceStatuses[0].InstanceStatus.Status')" initializing \
	"describe-instance-status right after start (user-data still sleeping): initializing"
ok "$B is running" wait_state "$B" running
ok "$B is ready again" wait_ready "$B" 60 "$n"
is "$(iexec "$B" ip -4 -o addr show dev eth0 | awk '{print $4}')" "$IP_B/24" "after start: the same address from DHCP"
is "$(iexec "$B" cat /sys/class/net/eth0/address)" "$MAC_B" "after start: the same MAC"
sample_hostname "$B" "$IP_B"
is "$(iexec "$B" cat /root/persist.txt)" kept "after start: the file written before stop is there"
is "$(ip -n "$VNS" -o link show "$PORT_B" 2>/dev/null | grep -o "master [^ ]*" | cut -d' ' -f2)" "$BR" \
	"after start: the link is back on the subnet bridge"
ok "after start: $A pings $B" in_netns "$A" ping -n -c 2 -W 2 "$IP_B"
is "$(iexec "$A" timeout 5 wget -q -O - "http://$IP_B/")" "user-data ran on $MAC_B" "after start: user-data ran again (httpd answers)"
ec2 start-instances --instance-ids "$B" >"$T/start2.json"
is "$(jq -c '.StartingInstances[0] | [.PreviousState.Name, .CurrentState.Name]' "$T/start2.json")" \
	'["running","running"]' "start of a running instance is a no-op"

# ---------------------------------------------------------------- reboot
before=$(ready_count "$B")
ok "reboot-instances" ec2 reboot-instances --instance-ids "$B"
is "$(ec2 describe-instance-status --instance-ids "$B" | jq -r '.InstanceStatuses[0].InstanceStatus.Status')" initializing \
	"describe-instance-status right after reboot: initializing"
ok "after reboot: ready" wait_ready "$B" 60 "$before"
is "$(ready_count "$B")" $((before + 1)) "reboot: the console shows one more boot"
is "$(inst_state "$B")" running "after reboot: running"
is "$(iexec "$B" cat /root/persist.txt)" kept "after reboot: the file is still there"
is "$(iexec "$B" ip -4 -o addr show dev eth0 | awk '{print $4}')" "$IP_B/24" "after reboot: the same address"
sample_hostname "$B" "$IP_B"
sample_hostname "$A" "$IP_A"

# The containers cannot set their own hostname (no CAP_SYS_ADMIN): ec2d sets it in the
# container's UTS namespace right after virDomainCreateXML. libvirt learns the container's init
# pid asynchronously, and until then virDomainLxcOpenNamespace fails ("Init pid is not yet
# available"): without a retry the hostname stayed libvirt's (the domain name) for 10-75 % of
# the launches here, depending on the load. Judged over every boot above and 16 launches more.
more=$(launch --image-id "$AMI" --subnet-id "$s_other" --count 16) || bail "run-instances --count 16"
for i in $more; do wait_ready "$i" 60 >/dev/null || bail "$i not ready"; done
for i in $more; do sample_hostname "$i" "$(instance_ip "$i")"; done
ec2 terminate-instances --instance-ids $more >/dev/null || bail "terminate the 16"
is "${HOSTS_WRONG:-none}" none "hostname is ip-a-b-c-d on every boot (21 samples)"

# ---------------------------------------------------------------- terminate
DIR_A=$EC2STATE/instances/$A
ok "$A has a directory in the state dir" test -d "$DIR_A"
ec2 terminate-instances --instance-ids "$A" >"$T/term.json" || bail "terminate-instances"
is "$(jq -c '.TerminatingInstances[0] | [.InstanceId, .PreviousState.Name, .CurrentState.Name, .CurrentState.Code]' "$T/term.json")" \
	"[\"$A\",\"running\",\"shutting-down\",32]" "terminate-instances: running -> shutting-down (32)"
ok "$A is terminated" wait_state "$A" terminated
is "$(inst_field "$A" .State.Code)" 48 "terminated is code 48"
vpc_try describe-network-interfaces --network-interface-ids "$ENI_A"
like "$ERR" 'InvalidNetworkInterfaceID.NotFound' "the ENI $ENI_A is deleted"
is "$(domains | grep -c "$A")" 0 "$A's domain is gone from libvirt"
nok "$A's directory is gone" test -e "$DIR_A"
nok "$A's link is gone" ip -n "$VNS" link show "$PORT_A"
is "$(ec2 describe-instances --filters Name=instance-state-name,Values=terminated | jq -r --arg a "$A" --arg b "$B" '[.Reservations[].Instances[].InstanceId | select(. == $a or . == $b)] | join(",")')" \
	"$A" "filter instance-state-name=terminated lists $A (and not $B)"
is "$(ec2 describe-instances --filters Name=instance-state-name,Values=running | jq -r '[.Reservations[].Instances[].InstanceId] | join(",")')" \
	"$B" "and running only $B"
is "$(ec2 terminate-instances --instance-ids "$A" | jq -r '.TerminatingInstances[0].CurrentState.Name')" terminated \
	"terminating a terminated instance is a no-op"
ec2 stop-instances --instance-ids "$B" >/dev/null && wait_state "$B" stopped || bail "stop $B"
ec2 terminate-instances --instance-ids "$B" >/dev/null || bail "terminate $B"
ok "a stopped instance terminates" wait_state "$B" terminated
is "$(vpc describe-network-interfaces --filters "Name=vpc-id,Values=$v" | jq '.NetworkInterfaces | length')" 0 \
	"no ENI is left in the VPC"
is "$(domains | wc -l)" 0 "no domain of the lab is left"
is "$(ls "$EC2STATE/instances" 2>/dev/null | wc -l)" 0 "no instance directory is left"
