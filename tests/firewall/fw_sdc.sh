#!/bin/bash
# The source/dest check is independent of security groups: with groups that allow everything
# from 0.0.0.0/0, a packet from an address that is not the ENI's own is still dropped at the
# port, and passes once --no-source-dest-check is set (and is dropped again when it is back on).
. "$SRCDIR/tests/firewall/fw_lib.sh"

start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.17.0.0/16) && [ -n "$v" ] || bail "create-vpc"
sa=$(mk_subnet "$v" 10.17.1.0/24) && [ -n "$sa" ] || bail "create-subnet a"
sb=$(mk_subnet "$v" 10.17.2.0/24) && [ -n "$sb" ] || bail "create-subnet b"
open=$(mk_sg "$v" open) && [ -n "$open" ] || bail "create-security-group"
sg_in "$open" --protocol -1 --cidr 0.0.0.0/0 || bail "authorize all ingress"
ec=$(mk_eni "$sa" 10.17.1.10) && et=$(mk_eni "$sb" 10.17.2.10) && en=$(mk_eni "$sa" 10.17.1.20) || bail "enis"
for e in "$ec" "$et" "$en"; do set_groups "$e" "$open" || bail "set groups"; done
plug "$ec" c && plug "$et" t && plug "$en" n || bail "plug"
C=${P}c
listen "${P}t" 80 && listen "${P}n" 80 || bail "listeners"

spoof_tcp() { ip netns exec "$C" nc -z -w1 -s 10.17.1.99 "$1" 80 >/dev/null 2>&1; }
sdc() { vpc modify-network-interface-attribute --network-interface-id "$ec" "$1" >/dev/null; }

is "$(eni_field "$ec" SourceDestCheck)" true "the check is on by default"
ok "own address: ping across subnets passes (groups allow all)" ping_ok "$C" 10.17.2.10
ok "own address: tcp 80 across subnets connects" tcp_ok "$C" 10.17.2.10 80
ip -n "$C" addr add 10.17.1.99/24 dev eth0 || bail "second address"
nok "check on: ping from 10.17.1.99 across subnets is dropped" ping_once "$C" 10.17.2.10 -I 10.17.1.99
nok "check on: tcp from 10.17.1.99 across subnets is dropped" spoof_tcp 10.17.2.10
nok "check on: ping from 10.17.1.99 in the same subnet is dropped" ping_once "$C" 10.17.1.20 -I 10.17.1.99

ok "modify-network-interface-attribute --no-source-dest-check" sdc --no-source-dest-check
is "$(eni_field "$ec" SourceDestCheck)" false "describe shows SourceDestCheck false"
ok "check off: ping from 10.17.1.99 across subnets passes" ping_ok "$C" 10.17.2.10 -I 10.17.1.99
ok "check off: tcp from 10.17.1.99 across subnets connects" spoof_tcp 10.17.2.10
ok "check off: ping from 10.17.1.99 in the same subnet passes" ping_ok "$C" 10.17.1.20 -I 10.17.1.99

ok "modify-network-interface-attribute --source-dest-check" sdc --source-dest-check
ip -n "$C" neigh flush all
nok "check back on: ping from 10.17.1.99 is dropped again" ping_once "$C" 10.17.2.10 -I 10.17.1.99
ok "check back on: ping from the own address passes" ping_ok "$C" 10.17.2.10

exit 0
