#!/bin/bash
# ModifyInstanceAttribute (ec2d/instance.c) and DescribeInstanceAttribute: a running
# instance's groups change in the firewall at once (packets: tcp/80 opens when the instance
# gets a group with the rule, and closes when it gets its old one back); source/dest check is
# its ENI's; the instance type and user data change only while it is stopped, and the next start
# has them (the domain's memory, the new user data run in the guest); EC2's errors change nothing.
. "$(dirname "$0")/ec2_lib.sh"

need_image busybox
start_vpcd || bail "vpcd does not start"
start_ec2d || bail "ec2d does not start"
AMI=$(image_id busybox) && [ -n "$AMI" ] || bail "describe-images does not list busybox"

v=$(mk_vpc 10.48.0.0/16 iattr) && [ -n "$v" ] || bail "create-vpc"
s=$(mk_subnet "$v" 10.48.1.0/24) && [ -n "$s" ] || bail "create-subnet"
mk_sg() { vpc create-security-group --vpc-id "$v" --group-name "$1" --description "attr $1" | jq -r .GroupId; }
sg_web=$(mk_sg web)
sg_open=$(mk_sg open)
sg_client=$(mk_sg client)
[ -n "$sg_web" ] && [ -n "$sg_open" ] && [ -n "$sg_client" ] || bail "create-security-group"
vpc authorize-security-group-ingress --group-id "$sg_open" --protocol tcp --port 80 --cidr 10.48.0.0/16 >/dev/null ||
	bail "authorize-security-group-ingress"

cat >"$T/ud1" <<'EOF'
#!/bin/sh
mkdir -p /srv
echo "attr page" >/srv/index.html
echo one >/root/ud-marker
httpd -p 80 -h /srv
EOF
sed 's/echo one/echo two/' "$T/ud1" >"$T/ud2"
WEB=$(launch --image-id "$AMI" --subnet-id "$s" --instance-type t3.nano --security-group-ids "$sg_web" --user-data "file://$T/ud1") &&
	[ -n "$WEB" ] || bail "run-instances web"
CLIENT=$(launch --image-id "$AMI" --subnet-id "$s" --security-group-ids "$sg_client") && [ -n "$CLIENT" ] || bail "run-instances client"
for i in $WEB $CLIENT; do wait_ready "$i" 60 || bail "$i not ready"; done
IP_WEB=$(instance_ip "$WEB")
get_page() { iexec "$CLIENT" timeout 3 wget -q -O - "http://$IP_WEB/" 2>/dev/null; }
attr() { ec2 describe-instance-attribute --instance-id "$WEB" --attribute "$1"; }

# ---------------------------------------------------------------- groups, running
is "$(get_page)" "" "the web instance's group has no tcp/80 rule: the client does not connect"
ec2 modify-instance-attribute --instance-id "$WEB" --groups "$sg_open" >/dev/null
is "$(attr groupSet | jq -r '[.Groups[].GroupId] | join(" ")')" "$sg_open" "modify-instance-attribute --groups: describe-instance-attribute groupSet"
is "$(inst_field "$WEB" '.SecurityGroups[0].GroupId')" "$sg_open" "and describe-instances"
is "$(get_page)" "attr page" "the new group's tcp/80 rule lets the client in, the instance still running"
ec2 modify-instance-attribute --instance-id "$WEB" --attribute groupSet --value "$sg_web" >/dev/null
is "$(get_page)" "" "--attribute groupSet --value (its old group): new connections are refused again"
ec2 modify-instance-attribute --instance-id "$WEB" --no-source-dest-check >/dev/null
is "$(attr sourceDestCheck | jq -r .SourceDestCheck.Value)" false "--no-source-dest-check: sourceDestCheck false"
is "$(vpc describe-network-interfaces --network-interface-ids "$(eni_of "$WEB")" | jq -r '.NetworkInterfaces[0].SourceDestCheck')" false \
	"on the instance's ENI"
ec2 modify-instance-attribute --instance-id "$WEB" --source-dest-check >/dev/null
is "$(attr sourceDestCheck | jq -r .SourceDestCheck.Value)" true "--source-dest-check: true again"

# ---------------------------------------------------------------- bad input changes nothing
snapshot() {
	ec2 describe-instances | canon
	for a in instanceType userData groupSet sourceDestCheck; do attr $a | canon; done
}
snapshot >"$T/before"
ec2_refused IncorrectInstanceState ModifyInstanceAttribute "the instance type of a running instance" -- \
	modify-instance-attribute --instance-id "$WEB" --instance-type t3.small
ec2_refused IncorrectInstanceState ModifyInstanceAttribute "the user data of a running instance" -- \
	modify-instance-attribute --instance-id "$WEB" --user-data "file://$T/ud2"
ec2_refused InvalidParameterValue ModifyInstanceAttribute "an instance type that does not exist" -- \
	modify-instance-attribute --instance-id "$WEB" --instance-type x9.huge
ec2_refused InvalidParameterCombination ModifyInstanceAttribute "two attributes at once" -- \
	modify-instance-attribute --instance-id "$WEB" --groups "$sg_open" --no-source-dest-check
ec2_refused MissingParameter ModifyInstanceAttribute "no attribute" -- \
	modify-instance-attribute --instance-id "$WEB"
ec2_refused InvalidParameterValue ModifyInstanceAttribute "an unknown attribute" -- \
	modify-instance-attribute --instance-id "$WEB" --attribute colour --value blue
ec2_refused InvalidGroup.NotFound ModifyInstanceAttribute "a group that does not exist" -- \
	modify-instance-attribute --instance-id "$WEB" --groups sg-0123456789abcdef0
ec2_refused InvalidInstanceID.NotFound ModifyInstanceAttribute "an instance that does not exist" -- \
	modify-instance-attribute --instance-id i-0123456789abcdef0 --groups "$sg_open"
ec2_refused DryRunOperation ModifyInstanceAttribute "DryRun" -- \
	modify-instance-attribute --instance-id "$WEB" --groups "$sg_open" --dry-run
is "$(get_page)" "" "and the refused and dry-run group changes did not open tcp/80"

# ---------------------------------------------------------------- type and user data, stopped
mem_kib() { virsh -c "$LXC_URI" dominfo "$(domain_of "$WEB")" | awk '/^Max memory/ {print $3}'; }
is "$(mem_kib)" 524288 "t3.nano: the domain has 512 MiB"
ec2 stop-instances --instance-ids "$WEB" >/dev/null && wait_state "$WEB" stopped 30 || bail "stop"
ec2 modify-instance-attribute --instance-id "$WEB" --instance-type t3.small >/dev/null
ec2 modify-instance-attribute --instance-id "$WEB" --user-data "file://$T/ud2" >/dev/null
is "$(attr instanceType | jq -r .InstanceType.Value)" t3.small "stopped: --instance-type t3.small"
is "$(attr userData | jq -r .UserData.Value | base64 -d)" "$(cat "$T/ud2")" "stopped: --user-data, in base64 in describe-instance-attribute"
kill9_ec2d
wait_lock_free || bail "the state lock is still held"
start_ec2d || bail "ec2d does not restart"
n=$(ready_count "$WEB")
ec2 start-instances --instance-ids "$WEB" >/dev/null && wait_ready "$WEB" 60 "$n" || bail "start"
is "$(inst_field "$WEB" .InstanceType)" t3.small "after kill -9 of ec2d and a start: the new type"
is "$(mem_kib)" 2097152 "the domain has t3.small's 2 GiB"
is "$(iexec "$WEB" cat /root/ud-marker)" two "the new user data ran in the guest"
