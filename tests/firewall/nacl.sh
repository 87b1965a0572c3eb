#!/bin/bash
# Network ACLs across two subnets (security groups wide open, so only the ACLs decide): a new
# ACL denies everything; ACLs are stateless, so replies need their own (ephemeral-port) rule in
# the other direction; rules are first-match by number; entries are replaced and deleted in
# place; traffic between two ENIs of one subnet never meets the ACL; moving the subnet back to
# the default ACL restores traffic. Refused requests exit 254 and change nothing.
. "$SRCDIR/tests/firewall/fw_lib.sh"

start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.16.0.0/16) && [ -n "$v" ] || bail "create-vpc"
sa=$(mk_subnet "$v" 10.16.1.0/24) && [ -n "$sa" ] || bail "create-subnet a"
sb=$(mk_subnet "$v" 10.16.2.0/24) && [ -n "$sb" ] || bail "create-subnet b"
open=$(mk_sg "$v" open) && [ -n "$open" ] || bail "create-security-group"
sg_in "$open" --protocol -1 --cidr 10.16.0.0/16 || bail "authorize all"
ec=$(mk_eni "$sa" 10.16.1.10) && es=$(mk_eni "$sb" 10.16.2.10) && es2=$(mk_eni "$sb" 10.16.2.20) || bail "enis"
for e in "$ec" "$es" "$es2"; do set_groups "$e" "$open" || bail "set groups"; done
plug "$ec" c && plug "$es" s && plug "$es2" s2 || bail "plug"
C=${P}c S=${P}s S2=${P}s2 CIP=10.16.1.10 SIP=10.16.2.10
listen_many "$S" 80 81 && listen "$C" 7000 || bail "listeners"

dacl=$(default_acl "$v") && [ -n "$dacl" ] || bail "default acl"
is "$(acl_of "$sb")" "$dacl" "a new subnet is in the default ACL"
ok "default ACL: client -> server tcp 80 connects" tcp_ok "$C" $SIP 80
ok "default ACL: client -> server tcp 81 connects" tcp_ok "$C" $SIP 81
ok "default ACL: ping passes" ping_ok "$C" $SIP

acl=$(mk_acl "$v") && [ -n "$acl" ] || bail "create-network-acl"
entries() {
	vpc describe-network-acls --network-acl-ids "$acl" |
		jq_ '" ".join("%s%d:%s" % ("e" if x["Egress"] else "i", x["RuleNumber"], x["RuleAction"]) for x in sorted(d["NetworkAcls"][0]["Entries"], key=lambda x: (not x["Egress"], x["RuleNumber"])))'
}
# numbers NETWORK-ACL-ID: the rule numbers as describe lists them
numbers() { vpc describe-network-acls --network-acl-ids "$1" | jq_ '" ".join(str(x["RuleNumber"]) for x in d["NetworkAcls"][0]["Entries"])'; }
is "$(entries)" "e32767:deny i32767:deny" "a new ACL has only the * deny rules"
ok "an ACL with no subnet changes nothing: tcp 80 connects" tcp_ok "$C" $SIP 80

ok "replace-network-acl-association: subnet b -> the new ACL" use_acl "$sb" "$acl"
is "$(acl_of "$sb")" "$acl" "describe shows subnet b in the new ACL"
nok "new ACL (* deny): tcp 80 is blocked" tcp_ok "$C" $SIP 80
nok "new ACL (* deny): ping is blocked" ping_once "$C" $SIP
ok "same subnet, not through the ACL: s2 -> s tcp 80 connects" tcp_ok "$S2" $SIP 80
ok "same subnet, not through the ACL: s2 pings s" ping_ok "$S2" $SIP

# The ephemeral-port lesson.
ok "ingress 100: allow tcp 80 from 10.16.1.0/24" acl_entry create "$acl" 100 ingress tcp allow 10.16.1.0/24 80 80
nok "ingress tcp 80 alone is not enough: the reply cannot leave the subnet" tcp_ok "$C" $SIP 80
ok "egress 100: allow tcp 1024-65535 to 10.16.1.0/24" acl_entry create "$acl" 100 egress tcp allow 10.16.1.0/24 1024 65535
ok "with the ephemeral-port egress rule: tcp 80 connects" tcp_ok "$C" $SIP 80
nok "tcp 81 is still blocked (no ingress rule)" tcp_ok "$C" $SIP 81
nok "stateless: server -> client tcp 7000 is blocked (its reply may not enter subnet b)" tcp_ok "$S" $CIP 7000
ok "ingress 110: allow tcp 1024-65535 from 10.16.1.0/24" acl_entry create "$acl" 110 ingress tcp allow 10.16.1.0/24 1024 65535
ok "server -> client tcp 7000 connects" tcp_ok "$S" $CIP 7000
nok "tcp 81 is still blocked (below 1024)" tcp_ok "$C" $SIP 81

# First match wins, by number.
ok "ingress 50: deny tcp 80 from 10.16.1.10/32" acl_entry create "$acl" 50 ingress tcp deny 10.16.1.10/32 80 80
nok "deny 50 beats allow 100: tcp 80 is blocked" tcp_ok "$C" $SIP 80
is "$(entries)" "e100:allow e32767:deny i50:deny i100:allow i110:allow i32767:deny" \
	"describe shows the entries"
is "$(numbers "$acl")" "50 100 100 110 32767 32767" "describe lists the entries in rule-number order"
ok "replace-network-acl-entry 50: deny -> allow" acl_entry replace "$acl" 50 ingress tcp allow 10.16.1.10/32 80 80
is "$(entries)" "e100:allow e32767:deny i50:allow i100:allow i110:allow i32767:deny" "describe shows 50 allow"
ok "after the replace: tcp 80 connects" tcp_ok "$C" $SIP 80
ok "replace-network-acl-entry 100 (ingress): allow -> deny" acl_entry replace "$acl" 100 ingress tcp deny 10.16.1.0/24 80 80
ok "rule 50 (allow) still comes first: tcp 80 connects" tcp_ok "$C" $SIP 80
ok "delete-network-acl-entry 50 (ingress)" acl_entry delete "$acl" 50 ingress
nok "rule 100 (now deny) decides: tcp 80 is blocked" tcp_ok "$C" $SIP 80
ok "delete-network-acl-entry 100 (ingress)" acl_entry delete "$acl" 100 ingress
is "$(entries)" "e100:allow e32767:deny i110:allow i32767:deny" "describe shows the entries left"
nok "no ingress rule for 80 any more: tcp 80 is blocked" tcp_ok "$C" $SIP 80
ok "delete-network-acl-entry 100 (egress)" acl_entry delete "$acl" 100 egress
nok "no egress rule: server -> client tcp 7000 is blocked" tcp_ok "$S" $CIP 7000

# ICMP, by type, both ways.
ok "ingress 120: allow icmp type 8 from 10.16.1.0/24" acl_entry create "$acl" 120 ingress icmp allow 10.16.1.0/24 8 -1
nok "echo request in, but the echo reply may not leave: ping is blocked" ping_once "$C" $SIP
ok "egress 120: allow icmp type 0 to 10.16.1.0/24" acl_entry create "$acl" 120 egress icmp allow 10.16.1.0/24 0 -1
ok "ping passes" ping_ok "$C" $SIP
nok "the server cannot ping the client (type 8 may not leave, type 0 may not enter)" ping_once "$S" $CIP
ok "same subnet is still unaffected: s2 -> s tcp 81 connects" tcp_ok "$S2" $SIP 81

# ---- refused requests: exit 254, describe-network-acls unchanged
snapshot() { vpc describe-network-acls | canonj; }
snapshot >"$T/before" || bail "snapshot"
refused NetworkAclEntryAlreadyExists CreateNetworkAclEntry "create an ingress entry 110 again" -- \
	create-network-acl-entry --network-acl-id "$acl" --rule-number 110 --ingress --protocol tcp \
	--rule-action deny --cidr-block 0.0.0.0/0 --port-range From=1,To=2
refused InvalidNetworkAclEntry.NotFound ReplaceNetworkAclEntry "replace an entry that does not exist" -- \
	replace-network-acl-entry --network-acl-id "$acl" --rule-number 999 --ingress --protocol -1 \
	--rule-action allow --cidr-block 0.0.0.0/0
refused InvalidNetworkAclEntry.NotFound ReplaceNetworkAclEntry "replace egress 110 (only ingress 110 exists)" -- \
	replace-network-acl-entry --network-acl-id "$acl" --rule-number 110 --egress --protocol -1 \
	--rule-action allow --cidr-block 0.0.0.0/0
refused InvalidNetworkAclEntry.NotFound DeleteNetworkAclEntry "delete an entry that does not exist" -- \
	delete-network-acl-entry --network-acl-id "$acl" --rule-number 999 --ingress
refused DependencyViolation DeleteNetworkAcl "delete an ACL a subnet is associated with" -- \
	delete-network-acl --network-acl-id "$acl"
vpc_try delete-network-acl --network-acl-id "$dacl"
like "$RC $ERR" "^254 |An error occurred \(" "deleting the default ACL is refused (exit $RC)" && diag "$(grep -o '(.*' <<<"$ERR")"
is "$RC" 254 "deleting the default ACL exits 254"
snapshot >"$T/after"
same_file "$T/before" "$T/after" "deleting the default ACL: describe-network-acls unchanged"

# ---- back to the default ACL
ok "replace-network-acl-association: subnet b -> the default ACL" use_acl "$sb" "$dacl"
is "$(acl_of "$sb")" "$dacl" "describe shows subnet b in the default ACL"
ok "default ACL again: tcp 81 connects" tcp_ok "$C" $SIP 81
ok "default ACL again: server -> client tcp 7000 connects" tcp_ok "$S" $CIP 7000
ok "default ACL again: server pings the client" ping_ok "$S" $CIP
ok "the unassociated ACL can be deleted" vpc delete-network-acl --network-acl-id "$acl"
nok "the deleted ACL's chains are gone from the VPC's nftables" \
	grep -q "nacl_${acl: -8}_" <(inet_table "$(vpc_ns "$v")")
sg_in "$open" --protocol tcp --port 9 --cidr 10.99.0.0/16 || bail "authorize (any change to the VPC)"
nok "after the next change to the VPC, the deleted ACL's chains are gone" \
	grep -q "nacl_${acl: -8}_" <(inet_table "$(vpc_ns "$v")")

exit 0
