#!/bin/bash
# What a container cannot do: its processes lack the dropped capabilities (mounting, device
# nodes, modules, raw I/O, ptrace, the clock), in the init's own processes (user-data) and in
# what exec runs; it sees none of the host's namespaces, processes or files; and security
# groups judge its packets: no ingress rule for tcp/80 means another instance's wget does not
# connect, a rule naming the client's group lets it in, and its revocation shuts new
# connections out again.
. "$(dirname "$0")/ec2_lib.sh"

need_image busybox
start_vpcd || bail "vpcd does not start"
start_ec2d || bail "ec2d does not start"
AMI=$(image_id busybox) && [ -n "$AMI" ] || bail "describe-images does not list busybox"

v=$(mk_vpc 10.46.0.0/16 confinement) && [ -n "$v" ] || bail "create-vpc"
s=$(mk_subnet "$v" 10.46.1.0/24) && [ -n "$s" ] || bail "create-subnet"
mk_sg() { vpc create-security-group --vpc-id "$v" --group-name "$1" --description "confinement $1" | jq -r .GroupId; }
sg_web=$(mk_sg web)
sg_client=$(mk_sg client)
sg_other=$(mk_sg other)
[ -n "$sg_web" ] && [ -n "$sg_client" ] && [ -n "$sg_other" ] || bail "create-security-group"

# The server's user-data tries what the container must not do, with the init's own
# capabilities, and writes down what happened; then it serves a page.
cat >"$T/ud" <<'EOF'
#!/bin/sh
r=/root/confine
mkdir -p $r /srv /mnt
if mount -t tmpfs none /mnt 2>$r/mount.err; then echo mounted >$r/mount; else echo refused >$r/mount; fi
if mknod /root/null2 c 1 3 2>$r/mknod.err; then echo made >$r/mknod; else echo refused >$r/mknod; fi
# (busybox date exits 0 when it cannot set the clock: its message tells)
date -s 2001-01-01 >/dev/null 2>$r/date.err
if grep -q "can't set" $r/date.err; then echo refused >$r/date; else echo set >$r/date; fi
awk '/^CapEff/ {print $2}' /proc/self/status >$r/capeff
echo "web page" >/srv/index.html
httpd -p 80 -h /srv
EOF
WEB=$(launch --image-id "$AMI" --subnet-id "$s" --security-group-ids "$sg_web" --user-data "file://$T/ud") &&
	[ -n "$WEB" ] || bail "run-instances web"
CLIENT=$(launch --image-id "$AMI" --subnet-id "$s" --security-group-ids "$sg_client") && [ -n "$CLIENT" ] || bail "run-instances client"
OTHER=$(launch --image-id "$AMI" --subnet-id "$s" --security-group-ids "$sg_other") && [ -n "$OTHER" ] || bail "run-instances other"
for i in $WEB $CLIENT $OTHER; do wait_ready "$i" 60 || bail "$i not ready"; done
IP_WEB=$(instance_ip "$WEB")

# has_cap HEX N: capability N is in the mask HEX.
has_cap() { (((0x$1 >> $2) & 1)); }
# (not sys_boot: libvirt keeps it whatever the XML says when the kernel confines reboot(2) to
# the container's PID namespace, where it only ends the container)
CAPS="sys_module:16 sys_rawio:17 sys_ptrace:19 sys_admin:21 sys_time:25 mknod:27"

# ---------------------------------------------------------------- the container's own processes
INIT_EFF=$(iexec "$WEB" awk '/^CapEff/ {print $2}' /proc/1/status)
INIT_BND=$(iexec "$WEB" awk '/^CapBnd/ {print $2}' /proc/1/status)
UD_EFF=$(iexec "$WEB" cat /root/confine/capeff)
like "$INIT_EFF $INIT_BND $UD_EFF" '^[0-9a-f]{16} [0-9a-f]{16} [0-9a-f]{16}$' "CapEff and CapBnd of the init, CapEff of user-data"
for c in $CAPS; do
	nok "init (PID 1) lacks cap_${c%:*} (CapEff $INIT_EFF)" has_cap "$INIT_EFF" "${c#*:}"
	nok "init's bounding set lacks cap_${c%:*}" has_cap "$INIT_BND" "${c#*:}"
	nok "user-data lacks cap_${c%:*}" has_cap "$UD_EFF" "${c#*:}"
done
ok "init keeps cap_net_admin (its own network: DHCP)" has_cap "$INIT_EFF" 12
ok "and cap_net_raw" has_cap "$INIT_EFF" 13
is "$(iexec "$WEB" cat /root/confine/mount)" refused "user-data: mount -t tmpfs none /mnt is refused"
is "$(iexec "$WEB" cat /root/confine/mknod)" refused "user-data: mknod is refused"
is "$(iexec "$WEB" cat /root/confine/date)" refused "user-data: setting the clock is refused"
ok "and the host's clock is not in 2001" test "$(date +%Y)" -gt 2001

# ---------------------------------------------------------------- what exec runs
# A command run by exec has what the container's own processes have: no more (exec drops
# domain_dropped_caps from its bounding set, by name: cap_from_name() wants "cap_sys_admin"),
# and no less (ping needs cap_net_raw).
EXEC_EFF=$(iexec "$WEB" awk '/^CapEff/ {print $2}' /proc/self/status)
like "$EXEC_EFF" '^[0-9a-f]{16}$' "exec: CapEff of the command ($EXEC_EFF)"
for c in $CAPS; do
	nok "exec: the command lacks cap_${c%:*}" has_cap "$EXEC_EFF" "${c#*:}"
done
# (libvirt leaves cap_sys_boot to the init, see above; exec drops it as the XML asks)
is "$EXEC_EFF" "$(printf '%016x' $((0x$INIT_EFF & ~(1 << 22))))" "exec: the command has the init's capabilities (but cap_sys_boot)"
nok "exec: mount -t tmpfs none /mnt fails" iexec "$WEB" sh -c 'mkdir -p /mnt && mount -t tmpfs none /mnt'
iexec "$WEB" umount /mnt 2>/dev/null
nok "exec: mknod fails" iexec "$WEB" mknod /root/null3 c 1 3
iexec "$WEB" rm -f /root/null3
like "$(iexec "$WEB" sh -c 'date -s 2001-01-01 2>&1 >/dev/null')" "can't set" "exec: setting the clock fails"
ok "and the host's clock is still not in 2001" test "$(date +%Y)" -gt 2001

# ---------------------------------------------------------------- the host is out of sight
pid=$(init_pid "$WEB")
for ns in net mnt pid uts ipc; do
	is "$(iexec "$WEB" readlink "/proc/self/ns/$ns")" "$(readlink "/proc/$pid/ns/$ns")" "exec runs in the container's $ns namespace"
	isnt "$(readlink "/proc/$pid/ns/$ns")" "$(readlink "/proc/self/ns/$ns")" "which is not the host's"
done
is "$(iexec "$WEB" sh -c 'ls /run/netns 2>/dev/null' | grep -c "^$P")" 0 "no /run/netns entry of the lab is visible inside"
is "$(iexec "$WEB" sh -c 'ls /var/run/netns /run/libvirt 2>/dev/null | wc -l')" 0 "nor the host's /run/netns or /run/libvirt"
is "$(iexec "$WEB" ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' ')" "eth0 lo " \
	"only lo and eth0 inside"
is "$(iexec "$WEB" cat /proc/1/comm)" init "PID 1 is the container's init"
nok "no vpcd, dnsmasq or libvirt process is visible inside" sh -c \
	"VPCLAB_RUN_DIR='$RUN' '$EC2D' exec --instance-id '$WEB' -- ps -o comm | grep -E 'vpcd|ec2d|dnsmasq|libvirt'"
is "$(iexec "$WEB" sed -n 's/^ID=//p' /etc/os-release)" vpclab-busybox "the root is the image's"
nok "the host's files are not there (the lab's state directory)" iexec "$WEB" test -e "$EC2STATE"

# ---------------------------------------------------------------- security groups
# get_from I: the client's wget of the web page (3 s), its output or nothing.
get_from() { iexec "$1" timeout 3 wget -q -O - "http://$IP_WEB/" 2>/dev/null; }
ok "the web server listens (from inside itself)" iexec "$WEB" sh -c 'timeout 3 wget -q -O - http://127.0.0.1/ | grep -q "web page"'
is "$(get_from "$CLIENT")" "" "no ingress rule for tcp/80: the client's wget does not connect"
vpc authorize-security-group-ingress --group-id "$sg_web" --protocol tcp --port 80 --source-group "$sg_client" >/dev/null ||
	bail "authorize-security-group-ingress"
is "$(get_from "$CLIENT")" "web page" "tcp/80 from the client's group: the client's wget gets the page"
is "$(get_from "$OTHER")" "" "an instance of another group still does not connect"
nok "and the client cannot reach any other port (tcp/22)" iexec "$CLIENT" sh -c "echo | timeout 3 nc $IP_WEB 22"
vpc revoke-security-group-ingress --group-id "$sg_web" --protocol tcp --port 80 --source-group "$sg_client" >/dev/null ||
	bail "revoke-security-group-ingress"
is "$(get_from "$CLIENT")" "" "revoked: new connections from the client do not connect"
vpc authorize-security-group-ingress --group-id "$sg_web" --protocol tcp --port 80 --cidr 10.46.0.0/16 >/dev/null ||
	bail "authorize-security-group-ingress cidr"
is "$(get_from "$OTHER")" "web page" "tcp/80 from the VPC's CIDR: any instance gets the page"
