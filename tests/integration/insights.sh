#!/bin/bash
# Path analysis (create-network-insights-path, start-network-insights-analysis, ...;
# vpcd/insights.c, docs/insights.md), each answer proven with packets. VPC A has a public
# subnet (an internet gateway, one ENI with an elastic IP and one without), a private one
# (routes over a peering to B, to C through B, a blackhole, an appliance with its
# source/dest check on) and a subnet C behind a network ACL that allows tcp 80 in and nothing
# back; B is peered with A and with C. For each path the analysis gives the expected
# explanation code (or finds the path), and its proof (the flow sent from the source's
# namespace) agrees with it. Errors change nothing and exit 254; paths and analyses are
# journaled; `explain` says the deciding rule in plain words.
. "$(dirname "$0")/../internet/inet_lib.sh"

# A /22 of its own (two labs with one pool fight over the host's routes), a /24 per region.
printf '{"default_vpc": false, "public_pool": "198.18.56.0/22", "region_pool_prefix": 24}\n' >"$CONFIG"
start_vpcd || bail "vpcd does not start"

field() { jq_ "d$2" <<<"$1"; }
va=$(mk_vpc 10.81.0.0/16) && vb=$(mk_vpc 10.82.0.0/16) && vc=$(mk_vpc 10.83.0.0/16) || bail "create-vpc"
spub=$(mk_subnet "$va" 10.81.1.0/24) && spriv=$(mk_subnet "$va" 10.81.2.0/24) && sc=$(mk_subnet "$va" 10.81.3.0/24) &&
	sb=$(mk_subnet "$vb" 10.82.1.0/24) && scc=$(mk_subnet "$vc" 10.83.1.0/24) || bail "create-subnet"
HOST=$(lab_host us-east-1) && [ -n "$HOST" ] || bail "describe-lab"

# Security groups: web (80 and udp 5353 from 10/8, 8443 from anywhere), noout (no egress rule).
mk_sg() { vpc create-security-group --group-name "$1" --description "$1" --vpc-id "$2" | jq_ 'd["GroupId"]'; }
web=$(mk_sg web "$va") && webb=$(mk_sg web "$vb") && webc=$(mk_sg web "$vc") && noout=$(mk_sg noout "$va") || bail "create-security-group"
for g in "$web" "$webb" "$webc"; do
	allow_in "$g" tcp 80 10.0.0.0/8 && allow_in "$g" udp 5353 10.0.0.0/8 || bail "authorize $g"
done
allow_in "$web" tcp 8443 0.0.0.0/0 || bail "authorize 8443"
vpc revoke-security-group-egress --group-id "$noout" --protocol -1 --cidr 0.0.0.0/0 >/dev/null || bail "revoke egress"

eni_in() { vpc create-network-interface --subnet-id "$1" --private-ip-address "$2" --groups "$3" | jq_ 'd["NetworkInterface"]["NetworkInterfaceId"]'; }
pub1=$(eni_in "$spub" 10.81.1.10 "$web") && pub2=$(eni_in "$spub" 10.81.1.11 "$web") &&
	priv=$(eni_in "$spriv" 10.81.2.10 "$web") && app=$(eni_in "$spriv" 10.81.2.20 "$web") &&
	out=$(eni_in "$spriv" 10.81.2.30 "$noout") && cc=$(eni_in "$sc" 10.81.3.10 "$web") &&
	b1=$(eni_in "$sb" 10.82.1.10 "$webb") && c1=$(eni_in "$scc" 10.83.1.10 "$webc") &&
	gone=$(eni_in "$spriv" 10.81.2.99 "$web") || bail "create-network-interface"
for x in pub1 pub2 priv out cc b1 c1; do plug "${!x}" "$x" >/dev/null || bail "plug $x"; done

# The internet gateway, an elastic IP on pub1, the public subnet's table.
igw=$(vpc create-internet-gateway | jq_ 'd["InternetGateway"]["InternetGatewayId"]') &&
	vpc attach-internet-gateway --internet-gateway-id "$igw" --vpc-id "$va" >/dev/null || bail "internet gateway"
read -r eip pubip <<<"$(eip_alloc)"
vpc associate-address --allocation-id "$eip" --network-interface-id "$pub1" >/dev/null || bail "associate-address"
mk_rtb() { vpc create-route-table --vpc-id "$1" | jq_ 'd["RouteTable"]["RouteTableId"]'; }
rpub=$(mk_rtb "$va") && rpriv=$(mk_rtb "$va") || bail "create-route-table"
vpc associate-route-table --route-table-id "$rpub" --subnet-id "$spub" >/dev/null &&
	vpc associate-route-table --route-table-id "$rpriv" --subnet-id "$spriv" >/dev/null || bail "associate-route-table"
route() { vpc create-route --route-table-id "$1" --destination-cidr-block "$2" "${@:3}" >/dev/null; }
route "$rpub" 0.0.0.0/0 --gateway-id "$igw" || bail "route to the igw"

# Peerings A-B and B-C, with routes both ways; A's private subnet also routes C's CIDR to B.
peer() {
	local x
	x=$(vpc create-vpc-peering-connection --vpc-id "$1" --peer-vpc-id "$2" | jq_ 'd["VpcPeeringConnection"]["VpcPeeringConnectionId"]') &&
		vpc accept-vpc-peering-connection --vpc-peering-connection-id "$x" >/dev/null && echo "$x"
}
pab=$(peer "$va" "$vb") && pbc=$(peer "$vb" "$vc") || bail "peering"
mb=$(main_rtb "$vb") && mc=$(main_rtb "$vc") && ma=$(main_rtb "$va") || bail "main route tables"
route "$rpriv" 10.82.0.0/16 --vpc-peering-connection-id "$pab" && route "$rpriv" 10.83.0.0/16 --vpc-peering-connection-id "$pab" &&
	route "$mb" 10.81.0.0/16 --vpc-peering-connection-id "$pab" && route "$mb" 10.83.0.0/16 --vpc-peering-connection-id "$pbc" &&
	route "$mc" 10.82.0.0/16 --vpc-peering-connection-id "$pbc" || bail "peering routes"
# A blackhole (its ENI deleted) and an appliance with its source/dest check on.
route "$rpriv" 10.99.0.0/16 --network-interface-id "$gone" && vpc delete-network-interface --network-interface-id "$gone" >/dev/null &&
	route "$rpriv" 10.98.0.0/16 --network-interface-id "$app" || bail "blackhole and appliance routes"

# Subnet C's ACL: out everything but tcp 443; in only tcp 80 and 22 (no ephemeral ports back).
acl=$(vpc create-network-acl --vpc-id "$va" | jq_ 'd["NetworkAcl"]["NetworkAclId"]') || bail "create-network-acl"
entry() { vpc create-network-acl-entry --network-acl-id "$acl" --rule-number "$1" --protocol "$2" --rule-action "$3" "$4" --cidr-block 0.0.0.0/0 "${@:5}" >/dev/null; }
entry 90 6 deny --egress --port-range From=443,To=443 && entry 100 -1 allow --egress &&
	entry 100 6 allow --ingress --port-range From=80,To=80 && entry 110 6 allow --ingress --port-range From=22,To=22 || bail "acl entries"
assoc=$(vpc describe-network-acls --filters "Name=association.subnet-id,Values=$sc" | jq_ '[a["NetworkAclAssociationId"] for n in d["NetworkAcls"] for a in n["Associations"] if a["SubnetId"] == "'"$sc"'"][0]')
vpc replace-network-acl-association --association-id "$assoc" --network-acl-id "$acl" >/dev/null || bail "acl association"

# ---------------------------------------------------------------- paths, analyses, proofs

PROVE='ResourceType=network-insights-path,Tags=[{Key=vpclab:prove,Value=true}]'
# analyse NAME EXPECT SOURCE PROTO PORT DEST-ARGS...: EXPECT is "found" or an explanation code.
analyse() {
	local name=$1 want=$2 src=$3 proto=$4 port=$5 pid an got agrees detail
	shift 5
	pid=$(vpc create-network-insights-path --source "$src" --protocol "$proto" --destination-port "$port" "$@" \
		--tag-specifications "$PROVE" | jq_ 'd["NetworkInsightsPath"]["NetworkInsightsPathId"]')
	an=$(vpc start-network-insights-analysis --network-insights-path-id "$pid")
	got=$(field "$an" "['NetworkInsightsAnalysis']")
	got=$(jq_ '"found" if d.get("NetworkPathFound") else (d.get("Explanations") or [{}])[0].get("ExplanationCode", "?") + ("" if d.get("Status") == "succeeded" else " " + d.get("Status", "?"))' <<<"$got")
	is "$got" "$want" "$name: $want"
	agrees=$(field "$an" "['NetworkInsightsAnalysis'].get('VpclabProof', {}).get('KernelAgrees')")
	detail=$(field "$an" "['NetworkInsightsAnalysis'].get('VpclabProof', {})")
	is "$agrees" true "$name: the packets agree ($(jq_ 'd.get("Detail", "")' <<<"$detail"))"
	LAST=$an
}

analyse "same VPC, tcp 80 allowed" found "$priv" tcp 80 --destination "$pub2"
like "$(field "$LAST" "['NetworkInsightsAnalysis']['ForwardPathComponents'][-1]['Component']['Id']")" "^$pub2\$" \
	"the forward path ends at the destination ENI"
is "$(field "$LAST" "['NetworkInsightsAnalysis']['ReturnPathComponents'][-1]['Component']['Id']")" "$priv" \
	"the return path ends at the source ENI"
like "$(field "$LAST" "['NetworkInsightsAnalysis']['ForwardPathComponents']")" '"SecurityGroupRule":\{"Cidr":"10.0.0.0/8","Direction":"ingress"' \
	"the hop of the destination's group names the ingress rule"
analyse "same VPC, tcp 8080: no ingress rule" ENI_SG_RULES_MISMATCH "$priv" tcp 8080 --destination "$pub2"
is "$(field "$LAST" "['NetworkInsightsAnalysis']['Explanations'][0]['Direction']")" ingress "the mismatch is inbound"
analyse "a group without egress rules" ENI_SG_RULES_MISMATCH "$out" tcp 80 --destination "$pub2"
is "$(field "$LAST" "['NetworkInsightsAnalysis']['Explanations'][0]['Direction']")" egress "the mismatch is outbound"
analyse "udp 5353 allowed (echoed in the destination)" found "$priv" udp 5353 --destination "$pub2"
analyse "NACL denies tcp 443 outbound" SUBNET_ACL_RESTRICTION "$cc" tcp 443 --destination "$pub2"
is "$(field "$LAST" "['NetworkInsightsAnalysis']['Explanations'][0]['AclRule']['RuleNumber']")/$(field "$LAST" "['NetworkInsightsAnalysis']['Explanations'][0]['Direction']")" \
	"90/egress" "the deny is rule 90, outbound"
analyse "NACL allows tcp 80 into subnet C" found "$priv" tcp 80 --destination "$cc"
analyse "NACL has no rule for tcp 8080 into C" SUBNET_ACL_RESTRICTION "$priv" tcp 8080 --destination "$cc"
is "$(field "$LAST" "['NetworkInsightsAnalysis']['Explanations'][0]['AclRule']['RuleNumber']")" 32767 "the deny is the * rule"
analyse "NACL denies only the return path" SUBNET_ACL_RESTRICTION "$cc" tcp 80 --destination "$priv"
is "$(field "$LAST" "['NetworkInsightsAnalysis']['Explanations'][0]['Acl']['Id']")/$(field "$LAST" "['NetworkInsightsAnalysis']['Explanations'][0]['Direction']")" \
	"$acl/ingress" "the return path is denied by C's ACL inbound"
analyse "over the peering A-B" found "$priv" tcp 80 --destination "$b1"
like "$(field "$LAST" "['NetworkInsightsAnalysis']['ForwardPathComponents']")" "\"Id\":\"$pab\"" "the forward path crosses the peering"
analyse "peering is not transitive (A to C through B)" NO_ROUTE_TO_DESTINATION "$priv" tcp 80 --destination "$c1"
analyse "no route to the internet from the private subnet" NO_ROUTE_TO_DESTINATION "$priv" tcp 80 --destination-ip "$HOST"
analyse "a blackhole route (its ENI is gone)" BAD_STATE_ROUTE "$priv" tcp 80 --destination-ip 10.99.0.5
analyse "through an appliance with its source/dest check on" ENI_SOURCE_DEST_CHECK_RESTRICTION "$priv" tcp 80 --destination-ip 10.98.0.5
analyse "internet gateway, no public IP" IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS "$pub2" tcp 80 --destination-ip "$HOST"
analyse "internet gateway with an elastic IP" found "$pub1" tcp 80 --destination-ip "$HOST"
like "$(field "$LAST" "['NetworkInsightsAnalysis']['ForwardPathComponents']")" "\"SourceAddresses\":\\[\"$pubip\"\\]" \
	"past the gateway the source is the elastic IP"
analyse "to the internet gateway itself" found "$pub1" tcp 80 --destination "$igw"
analyse "from the internet, tcp 8443 open to all" found "$igw" tcp 8443 --destination "$pub1"
analyse "from the internet, tcp 80 only from 10/8" ENI_SG_RULES_MISMATCH "$igw" tcp 80 --destination "$pub1"

# ---------------------------------------------------------------- describe, journal, explain

n=$(vpc describe-network-insights-paths | jq_ 'len(d["NetworkInsightsPaths"])')
is "$n" 18 "describe-network-insights-paths lists the 18 paths"
pid=$(vpc describe-network-insights-paths --filters "Name=destination,Values=$b1" | jq_ 'd["NetworkInsightsPaths"][0]["NetworkInsightsPathId"]')
is "$(vpc describe-network-insights-analyses --network-insights-path-id "$pid" | jq_ '[a["NetworkPathFound"] for a in d["NetworkInsightsAnalyses"]]')" true \
	"describe-network-insights-analyses --network-insights-path-id: that path's analysis"
is "$(vpc describe-network-insights-analyses --filters Name=path-found,Values=true | jq_ 'len(d["NetworkInsightsAnalyses"])')" 7 \
	"filter path-found=true: the 7 paths found"
stop_vpcd && start_vpcd || bail "restart"
is "$(vpc describe-network-insights-analyses | jq_ 'len(d["NetworkInsightsAnalyses"])')" 18 "analyses are journaled: 18 after a restart"

out=$(vpc explain --source "$cc" --destination "$pub2" --port 443 --protocol tcp)
like "$out" "^blocked: network ACL $acl \\(subnet $sc\\) rule 90 denies tcp 443 outbound to 10.81.1.11" \
	"explain names the deciding ACL rule in plain words"
out=$(vpc explain --source "$priv" --destination "$pub2" --port 80 --prove)
like "$out" "^reachable: tcp [0-9]+ -> 80; security group $web of $pub2 allows tcp" "explain: reachable, and the group rule that allows it"
like "$out" "proof: .* reached .*the kernel agrees with the model" "explain --prove: the kernel agrees"
out=$(vpc explain --source "$cc" --destination 10.81.2.10 --port 80 --prove)
like "$out" "^blocked on the way back: network ACL $acl \\(subnet $sc\\) rule \\* \\(32767\\) denies tcp 1024 inbound" \
	"explain: a return path blocked by the ACL's * rule"

# ---------------------------------------------------------------- errors change nothing

snapshot() {
	vpc describe-network-insights-paths | canon
	vpc describe-network-insights-analyses | canon
}
snapshot >"$T/before"
refused InvalidNetworkInterfaceID.NotFound CreateNetworkInsightsPath "an unknown source ENI" -- \
	create-network-insights-path --source eni-0123456789abcdef0 --destination "$pub2" --protocol tcp
refused InvalidInstanceID.NotFound CreateNetworkInsightsPath "an unknown instance" -- \
	create-network-insights-path --source i-0123456789abcdef0 --destination "$pub2" --protocol tcp
refused InvalidParameterValue CreateNetworkInsightsPath "protocol icmp" -- \
	create-network-insights-path --source "$priv" --destination "$pub2" --protocol icmp
refused InvalidParameterValue CreateNetworkInsightsPath "a port out of range" -- \
	create-network-insights-path --source "$priv" --destination "$pub2" --protocol tcp --destination-port 70000
refused MissingParameter CreateNetworkInsightsPath "no destination" -- \
	create-network-insights-path --source "$priv" --protocol tcp
refused InvalidNetworkInsightsPathId.NotFound StartNetworkInsightsAnalysis "an unknown path" -- \
	start-network-insights-analysis --network-insights-path-id nip-0123456789abcdef0
refused InvalidNetworkInsightsAnalysisId.NotFound DescribeNetworkInsightsAnalyses "an unknown analysis" -- \
	describe-network-insights-analyses --network-insights-analysis-ids nia-0123456789abcdef0
refused InvalidNetworkInsightsPathId.NotFound DeleteNetworkInsightsPath "deleting an unknown path" -- \
	delete-network-insights-path --network-insights-path-id nip-0123456789abcdef0
refused DependencyViolation DeleteNetworkInsightsPath "a path with analyses" -- \
	delete-network-insights-path --network-insights-path-id "$pid"
refused InvalidParameterValue Explain "explain, protocol icmp" -- \
	explain --source "$priv" --destination "$pub2" --port 80 --protocol icmp

aid=$(vpc describe-network-insights-analyses --network-insights-path-id "$pid" | jq_ 'd["NetworkInsightsAnalyses"][0]["NetworkInsightsAnalysisId"]')
vpc delete-network-insights-analysis --network-insights-analysis-id "$aid" >/dev/null &&
	vpc delete-network-insights-path --network-insights-path-id "$pid" >/dev/null
ok "delete the analysis, then its path" test $? -eq 0
is "$(vpc describe-network-insights-paths | jq_ 'len(d["NetworkInsightsPaths"])')" 17 "17 paths left"
