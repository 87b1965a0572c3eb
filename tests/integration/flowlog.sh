#!/bin/bash
# Flow logs (create-flow-logs, describe-flow-logs, delete-flow-logs; vpcd/flowlog.c), proved
# packet by packet. A VPC with subnets A and B and ENIs plugged into namespaces the test makes;
# flow logs to a directory laid out as S3 with a 1 s lab interval (tag
# vpclab:aggregation-interval). Pings and TCP between the ENIs must give AWS's records with the
# kernel's counts: ACCEPT both ways for an allowed ping; with B's network ACL denying ICMP out,
# an ACCEPT in and a REJECT out on B's ENI and nothing back on A's (stateless); a TCP SYN that
# B's security group refuses: REJECT on B, ACCEPT out on A (stateful). DHCP, the VPC's DNS, the
# metadata address and the router are never logged; an idle ENI gets NODATA; a REJECT-only
# log holds only REJECTs; a custom format gives the version 3-5 fields. Bad input answers
# EC2's codes and makes nothing; kill -9 keeps the logs going; deleting stops them; teardown
# leaves nothing.
. "$(dirname "$0")/lib.sh"

command -v busybox >/dev/null || bail "busybox is missing (scripts/setup installs busybox-static)"
command -v nc >/dev/null || bail "nc is missing"
start_vpcd || bail "vpcd does not start"
# okrc RC DESC / nokrc RC DESC: an assertion on an exit status already taken.
okrc() { _tap_result "$1" "$2"; }
nokrc() { if [ "$1" -eq 0 ]; then _tap_result 1 "$2"; else _tap_result 0 "$2"; fi; }

v=$(mk_vpc 10.7.0.0/16) && [ -n "$v" ] || bail "create-vpc"
sa=$(mk_subnet "$v" 10.7.1.0/24) && sb=$(mk_subnet "$v" 10.7.2.0/24) || bail "create-subnet"
a1=$(mk_eni "$sa" 10.7.1.10) && a2=$(mk_eni "$sa" 10.7.1.11) && b1=$(mk_eni "$sb" 10.7.2.10) ||
	bail "create-network-interface"
for x in a1 a2 b1; do plug "${!x}" "$x" >/dev/null || bail "plug $x"; done
A1=${P}a1 B1=${P}b1

LISTEN='import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(64)
while True: s.accept()[0].close()'
ip netns exec "$B1" python3 -c "$LISTEN" 5555 >/dev/null 2>&1 &
L1=$!
ip netns exec "$B1" python3 -c "$LISTEN" 6666 >/dev/null 2>&1 &
L2=$!
trap '_rc=$?; kill $L1 $L2 2>/dev/null; wait $L1 $L2 2>/dev/null; (exit $_rc); _cleanup' EXIT

S3=$STATE/s3/flows/lab
TAGS='ResourceType=vpc-flow-log,Tags=[{Key=vpclab:aggregation-interval,Value=1}]'
fl_all=$(vpc create-flow-logs --resource-type VPC --resource-ids "$v" --traffic-type ALL \
	--log-destination-type s3 --log-destination arn:aws:s3:::flows/lab \
	--tag-specifications "$TAGS" | jq_ 'd["FlowLogIds"][0]') && [ -n "$fl_all" ]
okrc $? "create-flow-logs on the VPC, ALL, to s3 ($fl_all)"
FMT='${version} ${vpc-id} ${subnet-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${tcp-flags} ${type} ${region} ${az-id} ${flow-direction} ${traffic-path} ${action} ${log-status}'
fl_v5=$(vpc create-flow-logs --resource-type NetworkInterface --resource-ids "$b1" --traffic-type ALL \
	--log-destination-type s3 --log-destination arn:aws:s3:::flows/v5 --log-format "$FMT" \
	--tag-specifications "$TAGS" | jq_ 'd["FlowLogIds"][0]') && [ -n "$fl_v5" ]
okrc $? "create-flow-logs on an ENI with a custom version 5 format"
fl_rej=$(vpc create-flow-logs --resource-type Subnet --resource-ids "$sb" --traffic-type REJECT \
	--log-destination-type s3 --log-destination arn:aws:s3:::flows/rej \
	--tag-specifications "$TAGS" | jq_ 'd["FlowLogIds"][0]') && [ -n "$fl_rej" ]
okrc $? "create-flow-logs on a subnet, REJECT only"
out=$(vpc describe-flow-logs --flow-log-ids "$fl_all")
is "$(jq_ 'd["FlowLogs"][0]["ResourceId"] + " " + d["FlowLogs"][0]["TrafficType"] + " " + d["FlowLogs"][0]["LogDestinationType"] + " " + d["FlowLogs"][0]["FlowLogStatus"] + " " + str(d["FlowLogs"][0]["MaxAggregationInterval"])' <<<"$out")" \
	"$v ALL s3 ACTIVE 600" "describe-flow-logs shows it as AWS does"
is "$(vpc describe-flow-logs --filter "Name=resource-id,Values=$sb" | jq_ '",".join(f["FlowLogId"] for f in d["FlowLogs"])')" \
	"$fl_rej" "describe-flow-logs --filter resource-id"
sleep 1.5 # the collector's first look: counts from before it are not logged

# records DIR: every record line of the S3 objects under DIR (their header lines dropped).
records() { find "$1" -name '*.log.gz' -print0 2>/dev/null | sort -z | xargs -0 -r zcat | grep -v '^version '; }
# sum DIR AWK-CONDITION: the packets (field 9 of the default format) of the matching records.
sum() { records "$1" | awk "$2 { n += \$9 } END { print n + 0 }"; }
# wait_sum DIR COND WANT: waits (up to 6 s) until the sum reaches WANT; prints the sum.
wait_sum() {
	local i n=0
	for i in $(seq 30); do
		n=$(sum "$1" "$2")
		[ "$n" -ge "$3" ] && break
		sleep 0.2
	done
	sleep 1.2 # one more window: nothing more may come
	sum "$1" "$2"
}

# 1. An allowed ping: ACCEPT both ways on both ENIs, counted by the kernel.
ip netns exec "$A1" ping -n -q -c 3 -i 0.2 -W 1 10.7.2.10 >/dev/null
is "$(wait_sum "$S3" "\$3 == \"$a1\" && \$4 == \"10.7.1.10\" && \$5 == \"10.7.2.10\" && \$8 == 1 && \$13 == \"ACCEPT\"" 3)" 3 \
	"ping: A's ENI logs 3 packets out, ACCEPT"
is "$(sum "$S3" "\$3 == \"$a1\" && \$4 == \"10.7.2.10\" && \$5 == \"10.7.1.10\" && \$8 == 1 && \$13 == \"ACCEPT\"")" 3 \
	"ping: A's ENI logs the 3 replies in, ACCEPT"
is "$(sum "$S3" "\$3 == \"$b1\" && \$4 == \"10.7.1.10\" && \$13 == \"ACCEPT\"")" 3 "ping: B's ENI logs the 3 requests in"
is "$(records "$S3" | awk -v e="$a1" '$3 == e && $4 == "10.7.1.10" && $8 == 1 { print $10 / $9; exit }')" 84 \
	"bytes are IP lengths (84 per 56-byte ping)"
rec=$(records "$S3" | awk -v e="$a1" '$3 == e && $8 == 1 { print; exit }')
like "$rec" "^2 123456789012 $a1 10\\.7\\.[12]\\.10 10\\.7\\.[12]\\.10 0 0 1 [0-9]+ [0-9]+ [0-9]{10} [0-9]{10} ACCEPT OK\$" \
	"a default record has the version 2 fields in AWS's order"
like "$(records "$S3" | awk -v e="$a2" '$3 == e { print; exit }')" "^2 123456789012 $a2 - - - - - - - [0-9]{10} [0-9]{10} - NODATA\$" \
	"an idle ENI gets NODATA records"

# 2. B's ACL denies ICMP out: the ping's requests are accepted in, the replies rejected out.
acl=$(vpc create-network-acl --vpc-id "$v" | jq_ 'd["NetworkAcl"]["NetworkAclId"]')
vpc create-network-acl-entry --network-acl-id "$acl" --rule-number 100 --protocol -1 --rule-action allow --ingress --cidr-block 0.0.0.0/0 >/dev/null &&
	vpc create-network-acl-entry --network-acl-id "$acl" --rule-number 90 --protocol 1 --rule-action deny --egress --cidr-block 0.0.0.0/0 --icmp-type-code Type=-1,Code=-1 >/dev/null &&
	vpc create-network-acl-entry --network-acl-id "$acl" --rule-number 100 --protocol -1 --rule-action allow --egress --cidr-block 0.0.0.0/0 >/dev/null
assoc=$(vpc describe-network-acls --filters "Name=association.subnet-id,Values=$sb" | jq_ '[a["NetworkAclAssociationId"] for n in d["NetworkAcls"] for a in n["Associations"] if a["SubnetId"] == "'"$sb"'"][0]')
vpc replace-network-acl-association --association-id "$assoc" --network-acl-id "$acl" >/dev/null
okrc $? "B's subnet gets an ACL that denies ICMP outbound"
base_in=$(sum "$S3" "\$3 == \"$b1\" && \$4 == \"10.7.1.10\" && \$8 == 1 && \$13 == \"ACCEPT\"")
base_back=$(sum "$S3" "\$3 == \"$a1\" && \$4 == \"10.7.2.10\" && \$8 == 1")
ip netns exec "$A1" ping -n -q -c 4 -i 0.2 -W 1 10.7.2.10 >/dev/null
is "$(wait_sum "$S3" "\$3 == \"$b1\" && \$4 == \"10.7.2.10\" && \$8 == 1 && \$13 == \"REJECT\"" 4)" 4 \
	"NACL: B's ENI logs the 4 replies out as REJECT"
is "$(($(sum "$S3" "\$3 == \"$b1\" && \$4 == \"10.7.1.10\" && \$8 == 1 && \$13 == \"ACCEPT\"") - base_in))" 4 \
	"NACL: and the 4 requests in as ACCEPT (a ping whose reply the ACL denies: ACCEPT and REJECT)"
is "$(sum "$S3" "\$3 == \"$b1\" && \$4 == \"10.7.2.10\" && \$8 == 1 && \$13 == \"ACCEPT\"")" 3 \
	"NACL: no rejected reply is counted as accepted (conntrack's count less the rejected)"
is "$(($(sum "$S3" "\$3 == \"$a1\" && \$4 == \"10.7.2.10\" && \$8 == 1") - base_back))" 0 \
	"NACL: A's ENI never saw a reply"
is "$(sum "$STATE/s3/flows/rej" "\$13 == \"REJECT\" && \$8 == 1")" 4 "the REJECT-only subnet log has the 4 rejects"
is "$(records "$STATE/s3/flows/rej" | awk '$13 == "ACCEPT"' | wc -l)" 0 "and no ACCEPT record"

# 3. A group on B that allows only TCP 5555 in: a SYN to 6666 is refused by B's group.
sg=$(vpc create-security-group --group-name web --description web --vpc-id "$v" | jq_ 'd["GroupId"]')
vpc authorize-security-group-ingress --group-id "$sg" --ip-permissions 'IpProtocol=tcp,FromPort=5555,ToPort=5555,IpRanges=[{CidrIp=0.0.0.0/0}]' >/dev/null &&
	vpc modify-network-interface-attribute --network-interface-id "$b1" --groups "$sg" >/dev/null
okrc $? "B's ENI is put in a group that allows TCP 5555 only"
ip netns exec "$A1" nc -z -w1 10.7.2.10 5555 >/dev/null 2>&1
okrc $? "TCP 5555 connects"
ip netns exec "$A1" nc -z -w1 10.7.2.10 6666 >/dev/null 2>&1
nokrc $? "TCP 6666 is refused by the group"
n=$(wait_sum "$S3" "\$3 == \"$b1\" && \$5 == \"10.7.2.10\" && \$7 == 6666 && \$13 == \"REJECT\"" 1)
okrc "$([ "$n" -ge 1 ] && echo 0 || echo 1)" "SG: B's ENI logs the SYNs to 6666 as REJECT ($n)"
okrc "$([ "$(sum "$S3" "\$3 == \"$a1\" && \$5 == \"10.7.2.10\" && \$7 == 6666 && \$13 == \"ACCEPT\"")" -ge 1 ] && echo 0 || echo 1)" \
	"SG: A's ENI logs them out as ACCEPT (they left A; B's group refused them)"
okrc "$([ "$(sum "$S3" "\$3 == \"$b1\" && \$4 == \"10.7.2.10\" && \$6 == 5555 && \$13 == \"ACCEPT\"")" -ge 1 ] && echo 0 || echo 1)" \
	"SG: the allowed connection's replies are logged on B, ACCEPT (stateful)"
v5=$(records "$STATE/s3/flows/v5" | awk '$8 == 5555 && $15 == "ingress" { print; exit }')
like "$v5" "^5 $v $sb $b1 10\\.7\\.1\\.10 10\\.7\\.2\\.10 [0-9]+ 5555 6 [0-9]+ [0-9]+ IPv4 us-east-1 use1-az[0-9] ingress - ACCEPT OK\$" \
	"the version 5 format: vpc, subnet, flags, type, region, az-id, direction ($v5)"
like "$(records "$STATE/s3/flows/v5" | awk '$6 == "10.7.1.10" && $15 == "egress" && $9 == 6 && $11 >= 18 { print $11, $16; exit }')" "^(18|19) 1$" \
	"SYN-ACK flags (18) and traffic-path 1 (within the VPC) on the way out"
ls "$S3/AWSLogs/123456789012/vpcflowlogs/us-east-1/$(date -u +%Y/%m/%d)/" | grep -q "^123456789012_vpcflowlogs_us-east-1_${fl_all}_[0-9]\{8\}T[0-9]\{4\}Z_[0-9a-f]\{8\}\.log\.gz\$"
okrc $? "objects are named and laid out as S3 delivers them"
is "$(find "$S3" -name '*.log.gz' | head -1 | xargs zcat | head -1)" \
	"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status" \
	"each object starts with the header line"

# 4. What AWS never logs: DHCP, the VPC's DNS, the metadata address, the router.
ip netns exec "$A1" busybox udhcpc -i eth0 -f -q -n -t 2 -T 1 -s /bin/true >/dev/null 2>&1
ip netns exec "$A1" busybox nslookup example.com 10.7.0.2 >/dev/null 2>&1
ip netns exec "$A1" nc -z -w1 169.254.169.254 80 >/dev/null 2>&1
ip netns exec "$A1" ping -n -q -c 2 -i 0.2 -W 1 10.7.1.1 >/dev/null 2>&1
sleep 2.5
unlogged='^(10\.7\.[0-9]+\.[0123]|169\.254\..*|0\.0\.0\.0|255\..*)$'
is "$(records "$S3" | awk -v re="$unlogged" '$4 ~ re || $5 ~ re' | tee "$T/unlogged" | wc -l)" 0 \
	"DHCP, DNS, metadata and the router's address are not logged" || diag "$(head -5 "$T/unlogged")"

# 5. Bad input: EC2's codes, exit 254, nothing made.
count() { vpc describe-flow-logs | jq_ 'len(d["FlowLogs"])'; }
snapshot() { vpc describe-flow-logs; }
snapshot >"$T/before"
before=$(count)
X=(--resource-type VPC --resource-ids "$v")
S=(--log-destination-type s3 --log-destination arn:aws:s3:::flows/x)
refused InvalidParameterValue CreateFlowLogs "a bad traffic type" -- create-flow-logs "${X[@]}" --traffic-type SOME "${S[@]}"
refused InvalidParameter CreateFlowLogs "an unknown format field" -- create-flow-logs "${X[@]}" --traffic-type ALL "${S[@]}" \
	--log-format '${version} ${nonsense}'
refused InvalidParameter CreateFlowLogs "s3 without a destination" -- create-flow-logs "${X[@]}" --traffic-type ALL --log-destination-type s3
refused InvalidParameter CreateFlowLogs "a log group without a role" -- create-flow-logs "${X[@]}" --traffic-type ALL --log-group-name g
refused InvalidParameter CreateFlowLogs "an interval of 30 s" -- create-flow-logs "${X[@]}" --traffic-type ALL "${S[@]}" \
	--max-aggregation-interval 30
refused InvalidParameter CreateFlowLogs "a bucket path out of the lab" -- create-flow-logs "${X[@]}" --traffic-type ALL \
	--log-destination-type s3 --log-destination 'arn:aws:s3:::../../etc'
refused MissingParameter CreateFlowLogs "no traffic type" -- create-flow-logs "${X[@]}" "${S[@]}"
is "$(vpc describe-flow-logs --flow-log-ids fl-0123456789abcdef0 | jq_ 'len(d["FlowLogs"])')" 0 \
	"describe-flow-logs of an unknown ID lists nothing (no error, as in EC2)"
is "$(vpc create-flow-logs --resource-type VPC --resource-ids vpc-0123456789abcdef0 --traffic-type ALL "${S[@]}" |
	jq_ 'd["Unsuccessful"][0]["Error"]["Code"]')" InvalidVpcID.NotFound "an unknown VPC is an Unsuccessful item"
is "$(vpc create-flow-logs "${X[@]}" --traffic-type ALL --log-destination-type s3 --log-destination arn:aws:s3:::flows/lab |
	jq_ 'd["Unsuccessful"][0]["Error"]["Code"]')" FlowLogAlreadyExists "the same flow log twice is FlowLogAlreadyExists"
is "$(vpc delete-flow-logs --flow-log-ids fl-0123456789abcdef0 | jq_ 'd["Unsuccessful"][0]["Error"]["Code"]')" \
	InvalidFlowLogId.NotFound "deleting an unknown flow log is an Unsuccessful item"
is "$(count)" "$before" "bad input made no flow log"

# 6. kill -9: the flow logs are kept and count again after the restart.
kill -9 "$VPCD_PID"
_reap_vpcd
start_vpcd || bail "vpcd does not restart"
is "$(count)" "$before" "after kill -9 and a restart the flow logs are there"
sleep 1.5
base=$(sum "$S3" "\$3 == \"$a1\" && \$5 == \"10.7.2.10\" && \$7 == 5555 && \$13 == \"ACCEPT\"")
for _ in 1 2 3; do ip netns exec "$A1" nc -z -w1 10.7.2.10 5555 >/dev/null 2>&1; done
n=$(wait_sum "$S3" "\$3 == \"$a1\" && \$5 == \"10.7.2.10\" && \$7 == 5555 && \$13 == \"ACCEPT\"" $((base + 3)))
okrc "$([ $((n - base)) -ge 3 ] && echo 0 || echo 1)" "and new flows are logged again ($((n - base)) packets out)"

# 7. Deleting a flow log stops it; deleting the ENI takes its flow log along.
vpc delete-flow-logs --flow-log-ids "$fl_all" | jq_ 'len(d["Unsuccessful"])' | grep -qx 0
okrc $? "delete-flow-logs"
sleep 1.5
files=$(find "$S3" -name '*.log.gz' | wc -l)
ip netns exec "$A1" ping -n -q -c 2 -i 0.2 -W 1 10.7.2.10 >/dev/null
sleep 2.5
is "$(find "$S3" -name '*.log.gz' | wc -l)" "$files" "no object is written after the delete"
vpc unplug-network-interface --network-interface-id "$b1" >/dev/null && vpc delete-network-interface --network-interface-id "$b1" >/dev/null
is "$(vpc describe-flow-logs --filter "Name=resource-id,Values=$b1" | jq_ 'len(d["FlowLogs"])')" 0 \
	"deleting an ENI deletes its flow log"

prove_paths 5555
stop_vpcd
ok "teardown" teardown_lab
is "$(netns_with_prefix "$P-" | tr '\n' ' ')" "" "teardown leaves no namespace of the lab"
