#!/bin/bash
# Volumes (ec2d/volume.c) on containers: create-volume, describe-volumes (states, attachments),
# attach-volume to a running container (mounted at /mnt/sdf at once), a file written there in
# the guest survives stop/start and kill -9 of ec2d, and after detach-volume and attach-volume
# to another instance it reads the same file; EC2's errors (VolumeInUse, IncorrectState,
# InvalidVolume.NotFound, InvalidVolume.ZoneMismatch, ...) change nothing; delete-volume removes
# its files.
. "$(dirname "$0")/ec2_lib.sh"

need_image busybox
start_vpcd || bail "vpcd does not start"
start_ec2d || bail "ec2d does not start"
AMI=$(image_id busybox) && [ -n "$AMI" ] || bail "describe-images does not list busybox"

v=$(mk_vpc 10.49.0.0/16 vols) && [ -n "$v" ] || bail "create-vpc"
s=$(vpc create-subnet --vpc-id "$v" --cidr-block 10.49.1.0/24 --availability-zone us-east-1a | jq -r .Subnet.SubnetId)
s2=$(vpc create-subnet --vpc-id "$v" --cidr-block 10.49.2.0/24 --availability-zone us-east-1b | jq -r .Subnet.SubnetId)
[ -n "$s" ] && [ -n "$s2" ] || bail "create-subnet"
A=$(launch --image-id "$AMI" --subnet-id "$s") && [ -n "$A" ] || bail "run-instances A"
B=$(launch --image-id "$AMI" --subnet-id "$s") && [ -n "$B" ] || bail "run-instances B"
C=$(launch --image-id "$AMI" --subnet-id "$s2") && [ -n "$C" ] || bail "run-instances C (us-east-1b)"
for i in $A $B $C; do wait_ready "$i" 60 || bail "$i not ready"; done

cv=$(ec2 create-volume --availability-zone us-east-1a --size 8 --volume-type gp3 \
	--tag-specifications 'ResourceType=volume,Tags=[{Key=Name,Value=data}]')
VOL=$(jq -r .VolumeId <<<"$cv")
like "$VOL" '^vol-[0-9a-f]{17}$' "create-volume: $VOL"
is "$(jq -r '"\(.State) \(.Size) \(.VolumeType) \(.Iops) \(.Tags[0].Value)"' <<<"$cv")" "creating 8 gp3 3000 data" \
	"create-volume answers creating, its size, type, gp3's 3000 IOPS, tags"
vol() { ec2 describe-volumes --volume-ids "$VOL" | jq -r ".Volumes[0]$1"; }
is "$(vol .State)" available "describe-volumes: available"
ok "its directory exists" test -d "$EC2STATE/volumes/$VOL"

# ---------------------------------------------------------------- bad input changes nothing
snapshot() { ec2 describe-volumes | canon; ec2 describe-instances | canon; }
snapshot >"$T/before"
ec2_refused MissingParameter CreateVolume "no availability zone" -- create-volume --size 8 --availability-zone ''
ec2_refused InvalidParameterValue CreateVolume "a zone that does not exist" -- create-volume --size 8 --availability-zone us-east-1q
ec2_refused InvalidParameterValue CreateVolume "0 GiB" -- create-volume --size 0 --availability-zone us-east-1a
ec2_refused InvalidParameterValue CreateVolume "an unknown volume type" -- create-volume --size 8 --availability-zone us-east-1a --volume-type gp9
ec2_refused InvalidVolume.NotFound DescribeVolumes "describe a volume that does not exist" -- describe-volumes --volume-ids vol-0123456789abcdef0
ec2_refused InvalidVolume.ZoneMismatch AttachVolume "attach to an instance of another zone" -- \
	attach-volume --volume-id "$VOL" --instance-id "$C" --device /dev/sdf
ec2_refused InvalidParameterValue AttachVolume "a device name EC2 does not take" -- \
	attach-volume --volume-id "$VOL" --instance-id "$A" --device /dev/sda
ec2_refused IncorrectState DetachVolume "detach a volume that is not attached" -- detach-volume --volume-id "$VOL"
ec2_refused DryRunOperation AttachVolume "DryRun" -- attach-volume --volume-id "$VOL" --instance-id "$A" --device /dev/sdf --dry-run
nok "and nothing is mounted in A" iexec "$A" test -d /mnt/sdf

# ---------------------------------------------------------------- attached, written, stop/start
at=$(ec2 attach-volume --volume-id "$VOL" --instance-id "$A" --device /dev/sdf)
is "$(jq -r '"\(.State) \(.Device) \(.InstanceId)"' <<<"$at")" "attaching /dev/sdf $A" "attach-volume: attaching"
is "$(vol '| "\(.State) \(.Attachments[0].State) \(.Attachments[0].InstanceId) \(.Attachments[0].Device)"')" \
	"in-use attached $A /dev/sdf" "describe-volumes: in-use, attached to A at /dev/sdf"
ok "A sees the volume mounted at /mnt/sdf" iexec "$A" sh -c 'grep -q " /mnt/sdf " /proc/mounts'
ok "A writes a file on it" iexec "$A" sh -c 'echo "volume data $$" > /mnt/sdf/file && sync'
DATA=$(iexec "$A" cat /mnt/sdf/file)
like "$DATA" '^volume data [0-9]+$' "and reads it back"
[ -n "$DATA" ] || bail "no data on the volume: what follows would compare nothing"
nok "the file is not in A's own root (it is on the volume)" test -e "$EC2STATE/instances/$A/rootfs/mnt/sdf/file"
is "$(cat "$EC2STATE/volumes/$VOL/file")" "$DATA" "it is in the volume's directory"
snapshot >"$T/before"
ec2_refused VolumeInUse AttachVolume "attach an attached volume" -- attach-volume --volume-id "$VOL" --instance-id "$B" --device /dev/sdg
ec2_refused VolumeInUse DeleteVolume "delete an attached volume" -- delete-volume --volume-id "$VOL"
ec2 stop-instances --instance-ids "$A" >/dev/null && wait_state "$A" stopped 30 || bail "stop A"
is "$(vol .State)" in-use "stopped: the volume stays attached"
kill9_ec2d
wait_lock_free || bail "the state lock is still held"
start_ec2d || bail "ec2d does not restart"
n=$(ready_count "$A")
ec2 start-instances --instance-ids "$A" >/dev/null && wait_ready "$A" 60 "$n" || bail "start A"
is "$(iexec "$A" cat /mnt/sdf/file)" "$DATA" "after stop, kill -9 of ec2d and start: A reads the file from the volume"

# ---------------------------------------------------------------- to another instance
dt=$(ec2 detach-volume --volume-id "$VOL")
is "$(jq -r .State <<<"$dt")" detaching "detach-volume: detaching"
is "$(vol .State)" available "available again"
nok "A no longer has it mounted" iexec "$A" sh -c 'grep -q " /mnt/sdf " /proc/mounts'
ec2 attach-volume --volume-id "$VOL" --instance-id "$B" --device /dev/sdh >/dev/null
is "$(iexec "$B" cat /mnt/sdh/file)" "$DATA" "attached to B at /dev/sdh: B reads the file A wrote"
ec2 terminate-instances --instance-ids "$B" >/dev/null && wait_state "$B" terminated 30 || bail "terminate B"
is "$(vol .State)" available "B terminated: the volume is available (not deleted on termination)"
is "$(ec2 describe-volumes --filters Name=status,Values=available Name=tag:Name,Values=data | jq -r '.Volumes[].VolumeId')" "$VOL" \
	"describe-volumes --filters status, tag:Name"
ec2 delete-volume --volume-id "$VOL" >/dev/null
snapshot >"$T/before"
ec2_refused InvalidVolume.NotFound DescribeVolumes "deleted: describe-volumes" -- describe-volumes --volume-ids "$VOL"
nok "its directory is gone" test -e "$EC2STATE/volumes/$VOL"
