#!/bin/bash
# The instance metadata service at 169.254.169.254, asked from inside the instances with
# busybox wget and nc: IMDSv1 paths, user-data, IMDSv2 tokens (PUT, then GET with the token; a
# bad token and another instance's token are refused with 401), each instance sees only its
# own data and cannot pose as another, a namespace that is no instance is refused, and
# public-ipv4 appears once an elastic IP is mapped to the instance's ENI (and is the address
# the simulated internet sees).
. "$(dirname "$0")/ec2_lib.sh"

need_image busybox
start_vpcd || bail "vpcd does not start"
start_ec2d || bail "ec2d does not start"
AMI=$(image_id busybox) && [ -n "$AMI" ] || bail "describe-images does not list busybox"

v=$(mk_vpc 10.44.0.0/16 imds) && [ -n "$v" ] || bail "create-vpc"
s1=$(vpc create-subnet --vpc-id "$v" --cidr-block 10.44.1.0/24 --availability-zone us-east-1a | jq -r .Subnet.SubnetId)
s2=$(vpc create-subnet --vpc-id "$v" --cidr-block 10.44.2.0/24 --availability-zone us-east-1b | jq -r .Subnet.SubnetId)
[ -n "$s1" ] && [ -n "$s2" ] || bail "create-subnet"
sg_a=$(vpc create-security-group --vpc-id "$v" --group-name imds-a --description "imds a" | jq -r .GroupId)
sg_def=$(vpc describe-security-groups --filters "Name=vpc-id,Values=$v" Name=group-name,Values=default |
	jq -r '.SecurityGroups[0].GroupId')

printf '#!/bin/sh\necho A > /root/ud-ran\n' >"$T/ud-a"
A=$(launch --image-id "$AMI" --subnet-id "$s1" --instance-type t3.small --security-group-ids "$sg_a" "$sg_def" \
	--user-data "file://$T/ud-a") && [ -n "$A" ] || bail "run-instances A"
B=$(launch --image-id "$AMI" --subnet-id "$s2" --user-data 'plain text, not a script') && [ -n "$B" ] || bail "run-instances B"
wait_ready "$A" 60 || bail "$A not ready"
wait_ready "$B" 60 || bail "$B not ready"
IP_A=$(instance_ip "$A")
IP_B=$(instance_ip "$B")
ENI_A=$(eni_of "$A")
MAC_A=$(eni_field "$ENI_A" MacAddress)
MAC_B=$(eni_field "$(eni_of "$B")" MacAddress)

# md I PATH: IMDSv1 GET of /latest/PATH from inside I (busybox wget).
md() { iexec "$1" wget -q -O - "http://169.254.169.254/latest/$2"; }

# http I REQUEST: sends REQUEST (printf format, \r\n line ends) to 169.254.169.254:80 from
# inside I with busybox nc; prints the whole response (CRs removed).
http() { iexec "$1" sh -c "printf '$2' | nc 169.254.169.254 80" | tr -d '\r'; }
status_of() { head -1 <<<"$1" | awk '{print $2}'; }
body_of() { sed '1,/^$/d' <<<"$1"; }

# ---------------------------------------------------------------- IMDSv1
is "$(md "$A" meta-data/instance-id)" "$A" "instance-id"
is "$(md "$A" meta-data/ami-id)" "$AMI" "ami-id"
is "$(md "$A" meta-data/instance-type)" t3.small "instance-type"
is "$(md "$A" meta-data/local-ipv4)" "$IP_A" "local-ipv4"
is "$(md "$A" meta-data/local-hostname)" "$(hostname_of_ip "$IP_A").ec2.internal" "local-hostname"
is "$(md "$A" meta-data/mac)" "$MAC_A" "mac"
is "$(md "$A" meta-data/placement/availability-zone)" us-east-1a "placement/availability-zone"
is "$(md "$A" meta-data/placement/region)" us-east-1 "placement/region"
is "$(md "$A" "meta-data/network/interfaces/macs/$MAC_A/subnet-id")" "$s1" "network/interfaces/macs/<mac>/subnet-id"
is "$(md "$A" "meta-data/network/interfaces/macs/$MAC_A/interface-id")" "$ENI_A" "network/interfaces/macs/<mac>/interface-id"
is "$(md "$A" "meta-data/network/interfaces/macs/$MAC_A/vpc-ipv4-cidr-block")" 10.44.0.0/16 "network/interfaces/macs/<mac>/vpc-ipv4-cidr-block"
is "$(md "$A" meta-data/security-groups | sort | tr '\n' ' ')" "default imds-a " "security-groups: the names of both groups"
is "$(md "$A" "meta-data/network/interfaces/macs/$MAC_A/security-group-ids" | sort | tr '\n' ' ')" \
	"$(printf '%s\n' "$sg_a" "$sg_def" | sort | tr '\n' ' ')" "security-group-ids"
is "$(md "$A" user-data)" "$(cat "$T/ud-a")" "user-data: the script, byte for byte"
is "$(iexec "$A" cat /root/ud-ran)" A "and the init ran it"
like "$(md "$A" meta-data/)" '^ami-id$' "meta-data/ lists ami-id"
like "$(md "$A" meta-data/)" '^placement/$' "and the directory placement/"
is "$(md "$A" dynamic/instance-identity/document | jq -r '[.instanceId, .region, .privateIp, .availabilityZone] | join(" ")')" \
	"$A us-east-1 $IP_A us-east-1a" "instance-identity/document"
r=$(http "$A" 'GET /latest/meta-data/no-such-thing HTTP/1.0\r\n\r\n')
is "$(status_of "$r")" 404 "an unknown path is 404"
r=$(http "$A" 'GET /latest/meta-data/public-ipv4 HTTP/1.0\r\n\r\n')
is "$(status_of "$r")" 404 "public-ipv4 is 404 without a public address"

# Each instance its own.
is "$(md "$B" meta-data/instance-id)" "$B" "$B gets its own instance-id"
is "$(md "$B" meta-data/local-ipv4)" "$IP_B" "its own local-ipv4"
is "$(md "$B" meta-data/placement/availability-zone)" us-east-1b "its own zone"
is "$(md "$B" meta-data/mac)" "$MAC_B" "its own mac"
is "$(md "$B" user-data)" "plain text, not a script" "its own user-data"
is "$(md "$B" meta-data/security-groups)" default "its own groups"
r=$(http "$B" "GET /latest/meta-data/network/interfaces/macs/$MAC_A/subnet-id HTTP/1.0\\r\\n\\r\\n")
is "$(status_of "$r")" 404 "$B cannot read $A's interface by its MAC"

# ---------------------------------------------------------------- IMDSv2
r=$(http "$A" 'PUT /latest/api/token HTTP/1.0\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n')
is "$(status_of "$r")" 200 "PUT /latest/api/token: 200"
TOK_A=$(body_of "$r")
like "$TOK_A" '^[A-Za-z0-9+/=_-]{20,}$' "a token comes back"
like "$r" 'X-aws-ec2-metadata-token-ttl-seconds: 60' "with its TTL"
r=$(http "$A" "GET /latest/meta-data/instance-id HTTP/1.0\\r\\nX-aws-ec2-metadata-token: $TOK_A\\r\\n\\r\\n")
is "$(status_of "$r") $(body_of "$r")" "200 $A" "GET with the token: 200, the instance-id"
is "$(iexec "$A" wget -q -O - --header "X-aws-ec2-metadata-token: $TOK_A" http://169.254.169.254/latest/meta-data/local-ipv4)" \
	"$IP_A" "busybox wget with the token header"
r=$(http "$A" 'GET /latest/meta-data/instance-id HTTP/1.0\r\nX-aws-ec2-metadata-token: AAAAnotatoken\r\n\r\n')
is "$(status_of "$r")" 401 "a bad token: 401"
r=$(http "$B" "GET /latest/meta-data/instance-id HTTP/1.0\\r\\nX-aws-ec2-metadata-token: $TOK_A\\r\\n\\r\\n")
is "$(status_of "$r")" 401 "$A's token used from $B: 401"
r=$(http "$A" 'PUT /latest/api/token HTTP/1.0\r\n\r\n')
is "$(status_of "$r")" 400 "PUT without a TTL: 400"
r=$(http "$A" 'PUT /latest/api/token HTTP/1.0\r\nX-aws-ec2-metadata-token-ttl-seconds: 21601\r\n\r\n')
is "$(status_of "$r")" 400 "PUT with a TTL over 6 hours: 400"
r=$(http "$A" 'PUT /latest/api/token HTTP/1.0\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n')
is "$(status_of "$r")" 403 "PUT through a proxy (X-Forwarded-For): 403"
r=$(http "$A" 'PUT /latest/api/token HTTP/1.0\r\nX-aws-ec2-metadata-token-ttl-seconds: 1\r\n\r\n')
TOK_SHORT=$(body_of "$r")
sleep 2.1
r=$(http "$A" "GET /latest/meta-data/instance-id HTTP/1.0\\r\\nX-aws-ec2-metadata-token: $TOK_SHORT\\r\\n\\r\\n")
is "$(status_of "$r")" 401 "an expired token: 401"

# ---------------------------------------------------------------- who may ask
# The VPC's own namespace (no instance has its address): 403.
VNS=$(vpc_ns "$v")
is "$(ip netns exec "$VNS" curl -s -o /dev/null -w '%{http_code}' -m 3 http://169.254.169.254/latest/meta-data/instance-id)" \
	403 "from the VPC namespace (no instance): 403"
# An ENI that is no instance's, plugged into a namespace of the test: 403.
e=$(mk_eni "$s1") && plug "$e" eni || bail "plug"
is "$(ip netns exec "${P}eni" curl -s -o /dev/null -w '%{http_code}' -m 3 http://169.254.169.254/latest/meta-data/instance-id)" \
	403 "from an ENI that is no instance's: 403"
# A forging B's address: the source/destination check drops it before the service sees it.
in_netns "$A" ip addr add "$IP_B/32" dev eth0 || bail "add $IP_B to $A's eth0"
got=$(in_netns "$A" curl -s -m 3 --interface "$IP_B" http://169.254.169.254/latest/meta-data/instance-id)
isnt "$got" "$B" "$A cannot pose as $B with $B's address"
in_netns "$A" ip addr del "$IP_B/32" dev eth0

# ---------------------------------------------------------------- public-ipv4
igw=$(vpc create-internet-gateway | jq -r .InternetGateway.InternetGatewayId)
vpc attach-internet-gateway --internet-gateway-id "$igw" --vpc-id "$v" >/dev/null || bail "attach-internet-gateway"
rtb=$(vpc describe-route-tables --filters "Name=vpc-id,Values=$v" | jq -r '.RouteTables[0].RouteTableId')
vpc create-route --route-table-id "$rtb" --destination-cidr-block 0.0.0.0/0 --gateway-id "$igw" >/dev/null ||
	bail "create-route"
alloc=$(vpc allocate-address --domain vpc) || bail "allocate-address"
EIP=$(jq -r .PublicIp <<<"$alloc")
vpc associate-address --allocation-id "$(jq -r .AllocationId <<<"$alloc")" --network-interface-id "$ENI_A" >/dev/null ||
	bail "associate-address"
is "$(md "$A" meta-data/public-ipv4)" "$EIP" "public-ipv4 is the elastic IP once associated"
is "$(md "$A" "meta-data/network/interfaces/macs/$MAC_A/public-ipv4s")" "$EIP" "and network/interfaces/macs/<mac>/public-ipv4s"
r=$(http "$B" 'GET /latest/meta-data/public-ipv4 HTTP/1.0\r\n\r\n')
is "$(status_of "$r")" 404 "$B still has none"
is "$(inst_field "$A" .PublicIpAddress)" "$EIP" "describe-instances: PublicIpAddress"
HOST=$(vpc describe-lab | jq -r '.Regions[] | select(.RegionName == "us-east-1") | .InternetHost.PublicIp')
is "$(iexec "$A" timeout 5 wget -q -O - "http://$HOST/" | tr -d '\r\n ')" "$EIP" \
	"the internet test host sees $A's requests come from public-ipv4"

# The usual aws form, --instance-id, through ec2d (which knows the instance's ENI): the
# address moves to B.
ec2_try associate-address --allocation-id "$(jq -r .AllocationId <<<"$alloc")" --instance-id "$B" --allow-reassociation
is "$RC" 0 "associate-address --instance-id $B through ec2d"
is "$(md "$B" meta-data/public-ipv4)" "$EIP" "$B's public-ipv4 is now the elastic IP"
r=$(http "$A" 'GET /latest/meta-data/public-ipv4 HTTP/1.0\r\n\r\n')
is "$(status_of "$r")" 404 "and $A has none any more"
