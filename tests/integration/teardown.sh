#!/bin/bash
# vpcd teardown --prefix P removes every namespace and link of lab P, whether its daemon runs
# or not, and leaves a second lab with another prefix alone.
. "$(dirname "$0")/lib.sh"

# Lab B: another prefix, running alongside.
new_lab
PB=$P STATE_B=$STATE RUN_B=$RUN
start_vpcd || bail "vpcd B does not start"
vb=$(mk_vpc 10.7.0.0/16) && sb=$(mk_subnet "$vb" 10.7.1.0/24) && [ -n "$sb" ] || bail "lab B"
b1=$(mk_eni "$sb" 10.7.1.10) && b2=$(mk_eni "$sb" 10.7.1.20) && [ -n "$b2" ] || bail "lab B ENIs"
plug "$b1" b1 && plug "$b2" b2 || bail "lab B plug"
PID_B=$VPCD_PID
lab_b() { P=$PB STATE=$STATE_B RUN=$RUN_B "$@"; }
kernel_b() { (netns_with_prefix "$PB"; for ns in $(netns_with_prefix "$PB-"); do ip -n "$ns" -o link | awk -F': ' '{print $2}'; done) | sort; }

# Lab A: the one torn down, with the default VPC on as well.
new_lab
PA=$P
echo '{}' >"$CONFIG"
start_vpcd || bail "vpcd A does not start"
va=$(mk_vpc 10.7.0.0/16) && sa=$(mk_subnet "$va" 10.7.1.0/24) && [ -n "$sa" ] || bail "lab A"
a1=$(mk_eni "$sa" 10.7.1.10) && a2=$(mk_eni "$sa" 10.7.1.20) && [ -n "$a2" ] || bail "lab A ENIs"
plug "$a1" a1 && plug "$a2" a2 || bail "lab A plug"
is "$(vpc describe-vpcs | jq_ 'len(d["Vpcs"])')" 2 "lab A has its VPC and the default VPC"
ok "lab A: a1 pings a2" ping_ok "${P}a1" 10.7.1.20
ok "lab B: b1 pings b2" ping_ok "${PB}b1" 10.7.1.20
kernel_b >"$T/b.before"
[ "$(wc -l <"$T/b.before")" -gt 5 ] || bail "lab B has no kernel objects?"
isnt "$(netns_with_prefix "$PA-")" "" "lab A has namespaces"

# 1. Teardown while A's daemon runs.
ok "vpcd teardown --prefix $PA (daemon running)" "$VPCD" teardown --prefix "$PA"
is "$(netns_with_prefix "$PA-" | tr '\n' ' ')" "" "no namespace $PA-* is left"
is "$(links_with_prefix "" "$PA" | tr '\n' ' ')" "" "no link $PA* is left in the root namespace"
ok "the user's namespaces ${PA}a1 and ${PA}a2 are left alone" test -e "/run/netns/${PA}a1" -a -e "/run/netns/${PA}a2"
# Teardown stops the lab's daemon first: its sockets in the lab's namespaces would keep them
# alive after their names are gone.
nok "teardown stopped lab A's daemon" kill -0 "$VPCD_PID"
_reap_vpcd
sleep 0.5
nok "${PA}a1 lost its eth0 (the veth pair went with the VPC namespace)" ip -n "${PA}a1" link show eth0
nok "lab A's network is gone: a1 no longer reaches a2" ping_once "${PA}a1" 10.7.1.20
kernel_b >"$T/b.after"
same_file "$T/b.before" "$T/b.after" "lab B's namespaces and links are untouched"
ok "lab B: b1 still pings b2" ping_ok "${PB}b1" 10.7.1.20
is "$(lab_b vpc describe-network-interfaces | jq_ 'len(d["NetworkInterfaces"])')" 2 "lab B's daemon still answers"

# Without --state-dir the saved state remains: the next start rebuilds the lab from it.
start_vpcd || bail "vpcd A does not restart on its state"
ok "lab A's daemon answers again" vpc describe-vpcs
ok "a request to lab A after the teardown" vpc create-subnet --vpc-id "$va" --cidr-block 10.7.2.0/24
ok "lab A is rebuilt from its state: a1 pings a2 again" ping_ok "${PA}a1" 10.7.1.20

# 2. Teardown after stopping the daemon, with --state-dir: nothing is left, and the lab does not
# come back at the next start.
stop_vpcd
ok "vpcd teardown --prefix $PA --state-dir (daemon stopped)" "$VPCD" teardown --prefix "$PA" --state-dir "$STATE"
is "$(netns_with_prefix "$PA-" | tr '\n' ' ')" "" "no namespace $PA-* is left"
is "$(links_with_prefix "" "$PA" | tr '\n' ' ')" "" "no link $PA* is left in the root namespace"
nok "the state directory is gone" test -e "$STATE/state.json"
sleep 0.5
nok "with lab A's daemon gone, ${PA}a1's old eth0 is gone too" ip -n "${PA}a1" link show eth0
kernel_b >"$T/b.after"
same_file "$T/b.before" "$T/b.after" "lab B is still untouched"
ok "lab B: b1 still pings b2" ping_ok "${PB}b1" 10.7.1.20
echo '{"default_vpc": false}' >"$CONFIG"
start_vpcd || bail "vpcd A does not start on an empty state"
is "$(vpc describe-vpcs | jq_ 'len(d["Vpcs"])')" 0 "lab A starts empty"
is "$(netns_with_prefix "$PA-vpc" | tr '\n' ' ')" "" "and makes no VPC namespace"
stop_vpcd

# 3. Teardown of lab B by its prefix, after its daemon stopped.
P=$PB VPCD_PID=$PID_B stop_vpcd
ok "vpcd teardown --prefix $PB" "$VPCD" teardown --prefix "$PB"
is "$( (netns_with_prefix "$PB-"; links_with_prefix "" "$PB") | tr '\n' ' ')" "" "nothing of lab B is left"
nok "teardown without --prefix is a usage error" "$VPCD" teardown
is "$("$VPCD" teardown --prefix 'BAD/x' 2>/dev/null; echo $?)" 252 "teardown with an invalid prefix exits 252"
