#!/bin/bash
# Privilege separation (netlib/front.h): the code that reads untrusted bytes runs in fronts
# without privilege. For ec2d's api and imds fronts and vpcd's inet front, proven from /proc:
# uid and gid not 0, every capability set empty, no_new_privs, a seccomp filter, chrooted into
# an empty directory, no fd onto the state. Each front's core socket answers only that front's
# user and only its actions; ec2d's control socket refuses the front's user. A front that
# crashes (SIGABRT, as a failed check or a corrupt heap would; SIGSEGV in the middle of a
# half-sent request, as a fuzzer's reproducer would) is restarted and the lab is intact: the
# API, the metadata service and the internet test host answer again, with the same objects.
. "$(dirname "$0")/ec2_lib.sh"

need_image busybox
# The SIGSEGV below is the kernel's to deliver, not ASan's to turn into a report (a real SEGV
# of a core still fails the test: the core dies).
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0
start_vpcd || bail "vpcd does not start"
start_ec2d --listen 127.0.0.1:0 || bail "ec2d does not start"
AMI=$(image_id busybox) && [ -n "$AMI" ] || bail "describe-images does not list busybox"
FUID=$(id -u vpclab 2>/dev/null || id -u nobody)

v=$(mk_vpc 10.47.0.0/16 privsep) && [ -n "$v" ] || bail "create-vpc"
s=$(vpc create-subnet --vpc-id "$v" --cidr-block 10.47.1.0/24 | jq -r .Subnet.SubnetId) && [ -n "$s" ] || bail "create-subnet"
I=$(launch --image-id "$AMI" --subnet-id "$s" --user-data 'privsep user data') && [ -n "$I" ] || bail "run-instances"
wait_ready "$I" 60 || bail "$I not ready"

lab() { ec2 describe-lab; }
EP=$(lab | jq -r .Endpoint)
CREDS=$(lab | jq -r .CredentialsFile)
# api ARGS...: the real aws CLI through the api front.
api() {
	AWS_SHARED_CREDENTIALS_FILE=$CREDS AWS_CONFIG_FILE=/dev/null AWS_DEFAULT_REGION=us-east-1 \
		aws --endpoint-url "$EP" --output json "$@"
}
front_pid() { lab | jq -r ".Fronts.$1.Pid"; }
inet_pid() { pgrep -P "$VPCD_PID" -f "vpcd front inet" | head -1; }
md() { iexec "$I" wget -q -O - "http://169.254.169.254/latest/$1"; }
HOST=$(vpc describe-lab | jq -r '.Regions[] | select(.RegionName == "us-east-1") | .InternetHost.PublicIp')
checkip() { ip netns exec "$P-us-east-1" curl -s --connect-timeout 2 -m 3 "http://$HOST/"; }

is "$(api ec2 describe-vpcs --vpc-ids "$v" | jq -r '.Vpcs[0].VpcId')" "$v" "the API answers through its front"
is "$(md user-data)" "privsep user data" "the metadata service answers through its front"
like "$(checkip)" '^[0-9.]+$' "the internet test host answers through its front (from its own namespace)"

# unprivileged PID NAME ROOT: the /proc facts of an unprivileged front.
unprivileged() {
	local pid=$1 st="/proc/$1/status" f
	[ -r "$st" ] || { diag "$2: no process $pid"; return 1; }
	for f in Uid Gid; do
		awk -v f="$f:" -v u="$FUID" '$1 == f { exit !($2 != 0 && $3 != 0 && $4 != 0 && $5 != 0) }' "$st" ||
			{ diag "$2: $(grep "^$f" "$st")"; return 1; }
	done
	for f in CapInh CapPrm CapEff CapBnd CapAmb; do
		[ "$(awk -v f="$f:" '$1 == f {print $2}' "$st")" = 0000000000000000 ] ||
			{ diag "$2: $(grep "^$f" "$st")"; return 1; }
	done
	grep -q '^NoNewPrivs:[[:space:]]*1' "$st" || { diag "$2: no_new_privs is not set"; return 1; }
	grep -q '^Seccomp:[[:space:]]*2' "$st" || { diag "$2: no seccomp filter"; return 1; }
	[ "$(readlink "/proc/$pid/root")" = "$3" ] || { diag "$2: root is $(readlink "/proc/$pid/root")"; return 1; }
	if ls -l "/proc/$pid/fd" | grep -E "$STATE|$EC2STATE|journal|credentials"; then
		diag "$2 holds an fd onto the state"
		return 1
	fi
}
A=$(front_pid api) M=$(front_pid imds) N=$(inet_pid)
ok "ec2d's api front (pid $A) is unprivileged" unprivileged "$A" api "$RUN/ec2d/front-api"
ok "ec2d's imds front (pid $M) is unprivileged" unprivileged "$M" imds "$RUN/ec2d/front-imds"
ok "vpcd's inet front (pid $N) is unprivileged" unprivileged "$N" inet "$RUN/front-inet"
is "$(lab | jq -r .Fronts.api.Uid)" "$FUID" "describe-lab names the fronts' uid ($FUID)"
ok "the core still has its capabilities" test "$(awk '/^CapEff/ {print $2}' "/proc/$EC2D_PID/status")" != 0000000000000000
is "$(ls -A "$RUN/ec2d/front-api")" core.sock "the api front's root holds only its core socket"
is "$(stat -c '%u %a' "$RUN/ec2d/front-api/core.sock")" "$FUID 600" "which is the front user's alone"

# as_front SOCKET LINE: one RPC line sent to SOCKET as the front user (its directory opened
# first, as root, since the lab's run dir is not the front user's to walk); prints the answer.
as_front() {
	python3 -c '
import os, socket, sys
d = os.open(os.path.dirname(sys.argv[1]), os.O_PATH)
os.setgroups([]); os.setgid(int(sys.argv[3])); os.setuid(int(sys.argv[3]))
s = socket.socket(socket.AF_UNIX)
s.connect("/proc/self/fd/%d/%s" % (d, os.path.basename(sys.argv[1])))
s.sendall(sys.argv[2].encode() + b"\n")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
print(out.decode().strip())' "$1" "$2" "$FUID" 2>&1
}
code() { jq -r '.Error.Code // "none"' 2>/dev/null; }
is "$(as_front "$RUN/ec2d/front-api/core.sock" '{"Action":"DescribeVpcs","Params":{}}' | jq -r '.Result.Vpcs | length > 0')" \
	true "the api front's socket answers an EC2 action"
is "$(as_front "$RUN/ec2d/front-api/core.sock" "{\"Action\":\"Exec\",\"Params\":{\"InstanceId\":\"$I\",\"Command\":[\"id\"]}}" | code)" \
	InvalidAction "it refuses Exec, which the API does not serve"
is "$(as_front "$RUN/ec2d/front-api/core.sock" '{"Action":"ImdsGet","Params":{}}' | code)" InvalidAction \
	"and the metadata front's questions"
is "$(as_front "$RUN/ec2d/front-imds/core.sock" '{"Action":"TerminateInstances","Params":{"InstanceIds":["'"$I"'"]}}' | code)" \
	InvalidAction "the imds front's socket refuses an EC2 action"
like "$(as_front "$RUN/ec2d.sock" '{"Action":"DescribeLab"}')" '^$|PermissionError' \
	"ec2d's control socket lets the front's user neither in nor an answer"
is "$(inst_state "$I")" running "and nothing it asked changed the instance"

# crash_and_back NAME PIDFN: SIGABRT to the front; a new pid within 10 s.
crash_and_back() {
	local old new i
	old=$($2)
	kill -ABRT "$old" || return 1
	for i in $(seq 100); do
		new=$($2)
		if [ -n "$new" ] && [ "$new" != "$old" ] && [ -e "/proc/$new" ]; then
			return 0
		fi
		sleep 0.1
	done
	diag "$1: still $old / '$new' after 10 s"
	return 1
}
before=$(api ec2 describe-instances --instance-ids "$I" | jq -c '[.Reservations[0].Instances[0] | .InstanceId, .State.Name, .PrivateIpAddress]')
ok "the api front, crashed, is restarted" crash_and_back api "front_pid api"
ok "its log says how it died" grep -q "api front (pid $A) was killed by signal 6" "$EC2LOG"
A2=$(front_pid api)
ok "the new api front is unprivileged too" unprivileged "$A2" api "$RUN/ec2d/front-api"
is "$(lab | jq -r .Fronts.api.Restarts)" 1 "describe-lab counts the restart"
after=""
for _ in $(seq 30); do
	after=$(api ec2 describe-instances --instance-ids "$I" 2>/dev/null |
		jq -c '[.Reservations[0].Instances[0] | .InstanceId, .State.Name, .PrivateIpAddress]') && [ -n "$after" ] && break
	sleep 0.2
done
is "$after" "$before" "the API answers again, with the same instance"
ok "ec2d's core is the same process" kill -0 "$EC2D_PID"

ok "the imds front, crashed, is restarted" crash_and_back imds "front_pid imds"
out=""
for _ in $(seq 30); do out=$(md user-data 2>/dev/null) && [ -n "$out" ] && break; sleep 0.2; done
is "$out" "privsep user data" "the instance's metadata answers again (its socket handed over again)"
tok=$(iexec "$I" sh -c "printf 'PUT /latest/api/token HTTP/1.0\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n' | nc 169.254.169.254 80" | tr -d '\r' | tail -1)
ok "an IMDSv2 token is issued by the new front" test -n "$tok"

ok "the inet front, crashed, is restarted" crash_and_back inet inet_pid
out=""
for _ in $(seq 30); do out=$(checkip) && [ -n "$out" ] && break; sleep 0.2; done
like "$out" '^[0-9.]+$' "the internet test host answers again"
ok "vpcd's core is the same process" kill -0 "$VPCD_PID"

# A crash in the middle of a request (what a fuzzer's reproducer does to a front): a client has
# sent half a request's headers when the front takes SIGSEGV. That client's connection is cut
# (the core never saw the request), the front comes back unprivileged, the core and the lab are
# untouched, and the API serves again.
HOSTPORT=${EP#http://}
HOSTPORT=${HOSTPORT%%/*}
exec 7<>"/dev/tcp/${HOSTPORT%:*}/${HOSTPORT#*:}" || bail "cannot connect to the api front at $HOSTPORT"
printf 'POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 40\r\n' "$HOSTPORT" >&7
sleep 0.3
A3=$(front_pid api)
lab_before=$( { vpc describe-vpcs | jq -c '[.Vpcs[].VpcId] | sort'; inst_state "$I"; domains; } )
ok "SIGSEGV to the api front (pid $A3) with a request half sent" kill -SEGV "$A3"
cut=$(timeout 5 cat <&7 2>/dev/null; echo "rc=$?")
exec 7<&-
like "$cut" '^rc=[01]$' "the half-sent request's connection is closed (EOF or reset), with no answer"
n=0
for _ in $(seq 100); do
	A4=$(front_pid api)
	[ -n "$A4" ] && [ "$A4" != "$A3" ] && [ -e "/proc/$A4" ] && break
	sleep 0.1
done
ok "the api front is restarted (pid $A4)" test -n "$A4" -a "$A4" != "$A3"
ok "its log says how it died" grep -Eq "api front \(pid $A3\) was killed by signal 11" "$EC2LOG"
ok "the new api front is unprivileged: uid not 0, CapEff 0 (and the rest)" unprivileged "$A4" api "$RUN/ec2d/front-api"
ok "ec2d's core is the same process" kill -0 "$EC2D_PID"
ok "vpcd's core is the same process" kill -0 "$VPCD_PID"
is "$( { vpc describe-vpcs | jq -c '[.Vpcs[].VpcId] | sort'; inst_state "$I"; domains; } )" "$lab_before" \
	"the lab is intact: the same VPCs, the instance running, its domain"
out=""
for _ in $(seq 50); do out=$(api ec2 describe-vpcs --vpc-ids "$v" 2>/dev/null | jq -r '.Vpcs[0].VpcId') && [ -n "$out" ] && break; sleep 0.2; done
is "$out" "$v" "the API serves again"
is "$(md user-data)" "privsep user data" "so does the metadata service"

# Crashes in a row: each is restarted (the backoff grows, it does not give up).
for n in 1 2 3; do crash_and_back api "front_pid api" || break; done
ok "three more api crashes in a row: it is still restarted" test "$n" = 3
out=""
for _ in $(seq 50); do out=$(api ec2 describe-vpcs --vpc-ids "$v" 2>/dev/null | jq -r '.Vpcs[0].VpcId') && [ -n "$out" ] && break; sleep 0.2; done
is "$out" "$v" "and answers"

# kill -9 of the cores: no front outlives its daemon (each dies with its parent).
kill -9 "$EC2D_PID" "$VPCD_PID"
gone() { for _ in $(seq 50); do pgrep -f "front (api|imds|inet) --root $RUN" >/dev/null || return 0; sleep 0.1; done; return 1; }
ok "no front outlives kill -9 of its daemon" gone
