#!/bin/bash
# Refused security group requests: each exits 254 with EC2's error code and leaves
# describe-security-groups (exact JSON), the rules, the ENIs' groups and the VPC's nftables
# exactly as they were. The refusals that guard a dependency go through once it is gone.
. "$SRCDIR/tests/firewall/fw_lib.sh"

start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.14.0.0/16) && [ -n "$v" ] || bail "create-vpc"
v2=$(mk_vpc 10.15.0.0/16) && [ -n "$v2" ] || bail "create-vpc 2"
s=$(mk_subnet "$v" 10.14.1.0/24) && [ -n "$s" ] || bail "create-subnet"
dflt=$(default_sg "$v") && [ -n "$dflt" ] || bail "default group"
web=$(mk_sg "$v" web) && [ -n "$web" ] || bail "create-security-group web"
app=$(mk_sg "$v" app) && [ -n "$app" ] || bail "create-security-group app"
used=$(mk_sg "$v" used) && [ -n "$used" ] || bail "create-security-group used"
refd=$(mk_sg "$v" refd) && [ -n "$refd" ] || bail "create-security-group refd"
far=$(mk_sg "$v2" far) && [ -n "$far" ] || bail "create-security-group in vpc 2"
sg_in "$web" --protocol tcp --port 80 --cidr 10.14.0.0/16 || bail "authorize web 80"
sg_in "$app" --protocol tcp --port 8080 --source-group "$refd" || bail "authorize app from refd"
e=$(mk_eni "$s" 10.14.1.10) && [ -n "$e" ] || bail "eni"
set_groups "$e" "$used" "$web" || bail "set groups"
VNS=$(vpc_ns "$v")
NOSUCH=sg-0123456789abcdef0

snapshot() {
	echo "== describe-security-groups"
	vpc describe-security-groups | canonj
	echo "== describe-security-group-rules"
	vpc describe-security-group-rules | canonj
	echo "== ENI groups"
	vpc describe-network-interfaces | jq_ '[[n["NetworkInterfaceId"], n["Groups"]] for n in d["NetworkInterfaces"]]'
	echo "== nftables"
	ip netns exec "$VNS" nft list ruleset
}
snapshot >"$T/before" || bail "snapshot"
grep -q "$web" "$T/before" && grep -q 'table inet vpclab' "$T/before" || bail "the snapshot sees nothing"


refused InvalidGroup.Duplicate CreateSecurityGroup "a second group named 'web' in the VPC" -- \
	create-security-group --vpc-id "$v" --group-name web --description again
refused InvalidGroup.Duplicate CreateSecurityGroup "a second group named 'default'" -- \
	create-security-group --vpc-id "$v" --group-name default --description again
refused InvalidPermission.Duplicate AuthorizeSecurityGroupIngress "authorize the same rule twice" -- \
	authorize-security-group-ingress --group-id "$web" --protocol tcp --port 80 --cidr 10.14.0.0/16
refused InvalidPermission.Duplicate AuthorizeSecurityGroupIngress \
	"a new rule and an existing one in one request (nothing is added)" -- \
	authorize-security-group-ingress --group-id "$web" --ip-permissions \
	'[{"IpProtocol":"tcp","FromPort":443,"ToPort":443,"IpRanges":[{"CidrIp":"10.14.0.0/16"}]},{"IpProtocol":"tcp","FromPort":80,"ToPort":80,"IpRanges":[{"CidrIp":"10.14.0.0/16"}]}]'
refused InvalidPermission.Duplicate AuthorizeSecurityGroupIngress "the same group reference twice" -- \
	authorize-security-group-ingress --group-id "$app" --protocol tcp --port 8080 --source-group "$refd"
refused InvalidPermission.Duplicate AuthorizeSecurityGroupEgress "authorize the default all-egress rule again" -- \
	authorize-security-group-egress --group-id "$web" --ip-permissions '[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]'
refused InvalidPermission.NotFound RevokeSecurityGroupIngress "revoke a rule that does not exist" -- \
	revoke-security-group-ingress --group-id "$web" --protocol tcp --port 81 --cidr 10.14.0.0/16
refused InvalidPermission.NotFound RevokeSecurityGroupIngress "revoke with another CIDR than the rule's" -- \
	revoke-security-group-ingress --group-id "$web" --protocol tcp --port 80 --cidr 10.14.0.0/24
refused InvalidPermission.NotFound RevokeSecurityGroupEgress "revoke an egress rule given as ingress's" -- \
	revoke-security-group-egress --group-id "$web" --protocol tcp --port 80 --cidr 10.14.0.0/16
refused InvalidPermission.NotFound RevokeSecurityGroupIngress "revoke an existing and a missing rule (nothing is revoked)" -- \
	revoke-security-group-ingress --group-id "$web" --ip-permissions \
	'[{"IpProtocol":"tcp","FromPort":80,"ToPort":80,"IpRanges":[{"CidrIp":"10.14.0.0/16"}]},{"IpProtocol":"tcp","FromPort":81,"ToPort":81,"IpRanges":[{"CidrIp":"10.14.0.0/16"}]}]'
refused InvalidSecurityGroupRuleId.NotFound RevokeSecurityGroupIngress "revoke an unknown rule ID" -- \
	revoke-security-group-ingress --group-id "$web" --security-group-rule-ids sgr-0123456789abcdef0
refused InvalidGroup.NotFound AuthorizeSecurityGroupIngress "authorize on a group that does not exist" -- \
	authorize-security-group-ingress --group-id $NOSUCH --protocol tcp --port 80 --cidr 10.0.0.0/8
refused InvalidGroup.NotFound AuthorizeSecurityGroupIngress "a rule naming a source group that does not exist" -- \
	authorize-security-group-ingress --group-id "$web" --protocol tcp --port 22 --source-group $NOSUCH
refused InvalidGroup.NotFound AuthorizeSecurityGroupIngress "a rule naming a group of another VPC" -- \
	authorize-security-group-ingress --group-id "$web" --protocol tcp --port 22 --source-group "$far"
refused InvalidGroup.NotFound DeleteSecurityGroup "delete a group that does not exist" -- \
	delete-security-group --group-id $NOSUCH
refused InvalidGroup.NotFound DescribeSecurityGroups "describe a group that does not exist" -- \
	describe-security-groups --group-ids "$web" $NOSUCH
refused InvalidGroup.NotFound ModifyNetworkInterfaceAttribute "an ENI joining a group that does not exist" -- \
	modify-network-interface-attribute --network-interface-id "$e" --groups "$web" $NOSUCH
refused InvalidParameterValue ModifyNetworkInterfaceAttribute "an ENI joining a group of another VPC" -- \
	modify-network-interface-attribute --network-interface-id "$e" --groups "$far"
refused DependencyViolation DeleteSecurityGroup "delete a group an ENI is in" -- \
	delete-security-group --group-id "$used"
refused DependencyViolation DeleteSecurityGroup "delete a group (no ENI in it) another group's rule references" -- \
	delete-security-group --group-id "$refd"
refused CannotDelete DeleteSecurityGroup "delete the default group" -- \
	delete-security-group --group-id "$dflt"
refused InvalidParameterValue AuthorizeSecurityGroupIngress "a valid and an invalid permission (nothing is added)" -- \
	authorize-security-group-ingress --group-id "$web" --ip-permissions \
	'[{"IpProtocol":"tcp","FromPort":443,"ToPort":443,"IpRanges":[{"CidrIp":"10.14.0.0/16"}]},{"IpProtocol":"tcp","FromPort":2000,"ToPort":1000,"IpRanges":[{"CidrIp":"10.14.0.0/16"}]}]'

# Once the dependency is gone the delete goes through.
ok "the ENI leaves 'used'" set_groups "$e" "$web"
ok "delete-security-group 'used' now succeeds" vpc delete-security-group --group-id "$used"
vpc_try describe-security-groups --group-ids "$used"
like "$RC $ERR" "InvalidGroup.NotFound" "'used' is gone"
ok "revoke the rule of 'app' that names 'refd'" sg_rev_in "$app" --protocol tcp --port 8080 --source-group "$refd"
ok "delete-security-group 'refd' now succeeds" vpc delete-security-group --group-id "$refd"
snapshot >"$T/before"
refused DependencyViolation DeleteSecurityGroup "'web' still has an ENI" -- delete-security-group --group-id "$web"
ok "the ENI goes back to the default group" set_groups "$e" "$dflt"
ok "delete-security-group 'web' now succeeds" vpc delete-security-group --group-id "$web"
is "$(vpc describe-security-groups --filters Name=vpc-id,Values="$v" | jq_ '" ".join(sorted(g["GroupName"] for g in d["SecurityGroups"]))')" \
	"app default" "the VPC's groups are now app and default"

exit 0
