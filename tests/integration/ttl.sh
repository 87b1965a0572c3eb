#!/bin/bash
# The VPC router is one hop: a ping between two subnets of a VPC comes back with TTL 63, a ping
# inside a subnet with TTL 64.
. "$(dirname "$0")/lib.sh"

start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.1.0.0/16) && [ -n "$v" ] || bail "create-vpc"
s1=$(mk_subnet "$v" 10.1.1.0/24) && [ -n "$s1" ] || bail "create-subnet 1"
s2=$(mk_subnet "$v" 10.1.2.0/24) && [ -n "$s2" ] || bail "create-subnet 2"
x=$(mk_eni "$s1" 10.1.1.10) && [ -n "$x" ] || bail "eni x"
y=$(mk_eni "$s1" 10.1.1.20) && [ -n "$y" ] || bail "eni y"
z=$(mk_eni "$s2" 10.1.2.10) && [ -n "$z" ] || bail "eni z"
plug "$x" x && plug "$y" y && plug "$z" z || bail "plug"

is "$(ip -n "${P}z" route show default | awk '{print $3}')" 10.1.2.1 "z's default route is its subnet router 10.1.2.1"
is "$(ping_ttl "${P}x" 10.1.1.20)" 64 "same subnet (x -> y): ttl=64"
is "$(ping_ttl "${P}x" 10.1.2.10)" 63 "across subnets (x -> z): ttl=63"
is "$(ping_ttl "${P}z" 10.1.1.20)" 63 "across subnets (z -> y): ttl=63"
is "$(ping_ttl "${P}z" 10.1.2.1)" 64 "z's own router: ttl=64"
is "$(ping_ttl "${P}x" 10.1.2.1)" 64 "the router's address in the other subnet: ttl=64 (it is the router itself)"
# An address in the VPC CIDR outside every subnet: the local route has nowhere to send it.
nok "an address of the VPC outside every subnet (10.1.9.9) does not answer" ping_once "${P}x" 10.1.9.9

# The model and the packets agree on every path between the ENIs left plugged (lib.sh).
prove_paths
