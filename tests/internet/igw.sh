#!/bin/bash
# Internet gateways: an ENI with an elastic IP in a subnet routed 0.0.0.0/0 to an attached
# gateway reaches the region's internet host with its EIP as source and is reachable at its EIP;
# an ENI without a public address is not; an automatic public IP works the same; without the
# default route nothing passes; the gateway's refusals (NotAttached, DependencyViolation,
# AlreadyAssociated) and the blackhole a detached gateway leaves.
. "$(dirname "$0")/inet_lib.sh"

inet_pool 198.18.64.0/18
start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.11.0.0/16) && [ -n "$v" ] || bail "create-vpc"
s=$(mk_subnet "$v" 10.11.1.0/24) && [ -n "$s" ] || bail "create-subnet"
a=$(mk_eni "$s" 10.11.1.10) && [ -n "$a" ] || bail "eni a"
n=$(mk_eni "$s" 10.11.1.11) && [ -n "$n" ] || bail "eni n"
plug "$a" a && plug "$n" n || bail "plug"
rt=$(main_rtb "$v") && [ -n "$rt" ] || bail "main route table"
sg=$(default_sg "$v") && [ -n "$sg" ] || bail "default security group"
HOST=$(lab_host us-east-1)
is "$HOST" 198.18.64.10 "describe-lab: us-east-1's internet host is pool + 10"

read -r eip pub <<<"$(eip_alloc)"
[ -n "$eip" ] && [ -n "$pub" ] || bail "allocate-address"
like "$pub" '^198\.18\.(6[4-9]|7[0-9])\.[0-9]+$' "the EIP $pub comes from us-east-1's pool 198.18.64.0/20"

fails_with Gateway.NotAttached "associate-address in a VPC without an internet gateway: Gateway.NotAttached" \
	associate-address --allocation-id "$eip" --network-interface-id "$a"
is "$(eip_field "$eip" AssociationId)" "" "... and the address stays unassociated"

igw=$(vpc create-internet-gateway | jq_ 'd["InternetGateway"]["InternetGatewayId"]') && [ -n "$igw" ] || bail "create-internet-gateway"
igw2=$(vpc create-internet-gateway | jq_ 'd["InternetGateway"]["InternetGatewayId"]') && [ -n "$igw2" ] || bail "create-internet-gateway 2"
ok "attach-internet-gateway" vpc attach-internet-gateway --internet-gateway-id "$igw" --vpc-id "$v"
is "$(vpc describe-internet-gateways --internet-gateway-ids "$igw" | jq_ 'd["InternetGateways"][0]["Attachments"]')" \
	"[{\"State\":\"available\",\"VpcId\":\"$v\"}]" "describe-internet-gateways: attached to $v, available"
fails_with Resource.AlreadyAssociated "attaching a second gateway to the VPC: Resource.AlreadyAssociated" \
	attach-internet-gateway --internet-gateway-id "$igw2" --vpc-id "$v"
is "$(vpc describe-internet-gateways --internet-gateway-ids "$igw2" | jq_ 'len(d["InternetGateways"][0]["Attachments"])')" \
	0 "... and the second gateway stays detached"

assoc=$(vpc associate-address --allocation-id "$eip" --network-interface-id "$a" | jq_ 'd["AssociationId"]')
like "$assoc" '^eipassoc-' "associate-address to a: $assoc"
is "$(eni_public "$a")" "$pub" "a's Association.PublicIp is the EIP"

# Without a default route nothing passes, either way.
is "$(route_state "$rt" 0.0.0.0/0)" none "no 0.0.0.0/0 route yet"
allow_in "$sg" icmp -1 0.0.0.0/0 || bail "authorize icmp"
ok "no default route: a cannot reach the internet host" no_curl "${P}a" "$HOST"
ok "no default route: the host's ping to a's EIP gets no reply" host_no_ping "$pub"

vpc create-route --route-table-id "$rt" --destination-cidr-block 0.0.0.0/0 --gateway-id "$igw" >/dev/null ||
	bail "create-route 0.0.0.0/0 -> igw"
is "$(route_state "$rt" 0.0.0.0/0)" active "0.0.0.0/0 -> $igw is active"

is "$(curl_in "${P}a" "$HOST")" "$pub" "a reaches the internet host over HTTP and is seen as its EIP"
ok "a's TCP echo to the internet host comes back" echo_in "${P}a" "$HOST"
ok "a pings the internet host" ping_ok "${P}a" "$HOST"
ok "n (no public address) cannot reach the internet host over HTTP" no_curl "${P}n" "$HOST"
nok "n (no public address) cannot ping the internet host" ping_once "${P}n" "$HOST"

# Inbound: the security group decides.
ok "the host pings a at its EIP (icmp allowed)" host_ping "$pub"
listen "${P}a" 8080 || bail "listener in a"
ok "port 8080 not in a's group yet: the host cannot connect to $pub:8080" host_no_nc "$pub" 8080
allow_in "$sg" tcp 8080 0.0.0.0/0 || bail "authorize tcp 8080"
ok "after authorizing tcp 8080: the host connects to a's listener at $pub:8080" host_nc "$pub" 8080
ok "the host routes a's EIP $pub through the lab's host link" via_lab "$pub"

# An automatic public IP.
c_out=$(vpc create-network-interface --subnet-id "$s" --private-ip-address 10.11.1.12 --associate-public-ip-address) ||
	bail "create-network-interface --associate-public-ip-address"
c=$(jq_ 'd["NetworkInterface"]["NetworkInterfaceId"]' <<<"$c_out")
cpub=$(jq_ '(d["NetworkInterface"].get("Association") or {}).get("PublicIp", "")' <<<"$c_out")
like "$cpub" '^198\.18\.(6[4-9]|7[0-9])\.[0-9]+$' "--associate-public-ip-address: Association.PublicIp $cpub from the pool"
isnt "$cpub" "$pub" "... not the EIP"
is "$(eni_public "$c")" "$cpub" "describe-network-interfaces shows the same public IP"
plug "$c" c || bail "plug c"
is "$(curl_in "${P}c" "$HOST")" "$cpub" "c reaches the internet host, seen as its public IP"
ok "the host pings c at $cpub" host_ping "$cpub"

# Detaching is refused while public addresses are mapped.
fails_with DependencyViolation "detach-internet-gateway with mapped public addresses: DependencyViolation" \
	detach-internet-gateway --internet-gateway-id "$igw" --vpc-id "$v"
is "$(curl_in "${P}a" "$HOST")" "$pub" "... and a still gets out"

# A VPC with an attached gateway cannot be deleted; detached, it can.
v2=$(mk_vpc 10.12.0.0/16) && [ -n "$v2" ] || bail "create-vpc 2"
ok "attach the second gateway to an empty VPC" vpc attach-internet-gateway --internet-gateway-id "$igw2" --vpc-id "$v2"
fails_with Gateway.NotAttached "detaching a gateway from a VPC it is not attached to: Gateway.NotAttached" \
	detach-internet-gateway --internet-gateway-id "$igw" --vpc-id "$v2"
fails_with DependencyViolation "delete-vpc with an attached gateway: DependencyViolation" delete-vpc --vpc-id "$v2"
fails_with DependencyViolation "delete-internet-gateway while attached: DependencyViolation" \
	delete-internet-gateway --internet-gateway-id "$igw2"
ok "detach it" vpc detach-internet-gateway --internet-gateway-id "$igw2" --vpc-id "$v2"
ok "then delete-vpc succeeds" vpc delete-vpc --vpc-id "$v2"
ok "and delete-internet-gateway" vpc delete-internet-gateway --internet-gateway-id "$igw2"

# Unmap every public address, then detach: the default route becomes a blackhole.
ok "disassociate-address a's EIP" vpc disassociate-address --association-id "$assoc"
ok "unplug c" vpc unplug-network-interface --network-interface-id "$c"
ok "delete c (its automatic public IP goes with it)" vpc delete-network-interface --network-interface-id "$c"
ok "detach-internet-gateway now succeeds" vpc detach-internet-gateway --internet-gateway-id "$igw" --vpc-id "$v"
is "$(route_state "$rt" 0.0.0.0/0)" blackhole "after detach, 0.0.0.0/0 -> $igw is a blackhole"
ok "after detach, a cannot reach the internet host" no_curl "${P}a" "$HOST"
fails_with Gateway.NotAttached "associate-address after the detach: Gateway.NotAttached" \
	associate-address --allocation-id "$eip" --network-interface-id "$a"
ok "release-address" vpc release-address --allocation-id "$eip"

# The subnet attribute that decides whether launched instances get a public address.
is "$(vpc describe-subnets --subnet-ids "$s" | jq_ 'd["Subnets"][0]["MapPublicIpOnLaunch"]')" false \
	"a new subnet does not map public IPs on launch"
ok "modify-subnet-attribute --map-public-ip-on-launch" vpc modify-subnet-attribute --subnet-id "$s" --map-public-ip-on-launch
is "$(vpc describe-subnets --subnet-ids "$s" | jq_ 'd["Subnets"][0]["MapPublicIpOnLaunch"]')" true \
	"describe-subnets shows MapPublicIpOnLaunch true"
ok "--no-map-public-ip-on-launch" vpc modify-subnet-attribute --subnet-id "$s" --no-map-public-ip-on-launch
is "$(vpc describe-subnets --subnet-ids "$s" | jq_ 'd["Subnets"][0]["MapPublicIpOnLaunch"]')" false \
	"and back to false"
