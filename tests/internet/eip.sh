#!/bin/bash
# Elastic IPs: associate, a refused re-association that changes nothing, a forced one that
# moves both directions at once, disassociate, release, the errors, and describe-addresses'
# filters.
. "$(dirname "$0")/inet_lib.sh"

inet_pool 198.18.128.0/18
start_vpcd || bail "vpcd does not start"

v=$(mk_vpc 10.21.0.0/16) && [ -n "$v" ] || bail "create-vpc"
s=$(mk_subnet "$v" 10.21.1.0/24) && [ -n "$s" ] || bail "create-subnet"
a=$(mk_eni "$s" 10.21.1.10) && [ -n "$a" ] || bail "eni a"
b=$(mk_eni "$s" 10.21.1.11) && [ -n "$b" ] || bail "eni b"
plug "$a" a && plug "$b" b || bail "plug"
igw=$(vpc create-internet-gateway | jq_ 'd["InternetGateway"]["InternetGatewayId"]') && [ -n "$igw" ] || bail "create-internet-gateway"
vpc attach-internet-gateway --internet-gateway-id "$igw" --vpc-id "$v" >/dev/null || bail "attach"
vpc create-route --route-table-id "$(main_rtb "$v")" --destination-cidr-block 0.0.0.0/0 --gateway-id "$igw" >/dev/null ||
	bail "create-route"
sg=$(default_sg "$v") && [ -n "$sg" ] || bail "default security group"
allow_in "$sg" icmp -1 0.0.0.0/0 && allow_in "$sg" tcp 8080-8081 0.0.0.0/0 || bail "authorize"
# A listener only in a (8081) and one only in b (8080) tell which ENI holds the address.
listen "${P}a" 8081 && listen "${P}b" 8080 || bail "listeners"
HOST=$(lab_host us-east-1) && [ -n "$HOST" ] || bail "describe-lab"

read -r eip pub <<<"$(eip_alloc)"
read -r eip2 pub2 <<<"$(eip_alloc)"
[ -n "$eip" ] && [ -n "$eip2" ] || bail "allocate-address"
isnt "$pub2" "$pub" "two allocations give two addresses ($pub, $pub2)"

assoc=$(vpc associate-address --allocation-id "$eip" --network-interface-id "$a" | jq_ 'd["AssociationId"]')
like "$assoc" '^eipassoc-' "associate-address $pub to a"
is "$(eip_field "$eip" NetworkInterfaceId)" "$a" "describe-addresses: associated with a"
is "$(eip_field "$eip" PrivateIpAddress)" 10.21.1.10 "describe-addresses: PrivateIpAddress 10.21.1.10"
is "$(curl_in "${P}a" "$HOST")" "$pub" "a reaches the internet host as $pub"
ok "b, without a public address, does not get out" no_curl "${P}b" "$HOST"
ok "the host reaches a's listener at $pub:8081" host_nc "$pub" 8081
ok "... and not b's at $pub:8080" host_no_nc "$pub" 8080

# Re-association without --allow-reassociation: refused, nothing changes.
fails_with Resource.AlreadyAssociated "associate-address to b without --allow-reassociation: Resource.AlreadyAssociated" \
	associate-address --allocation-id "$eip" --network-interface-id "$b"
is "$(eip_field "$eip" NetworkInterfaceId)" "$a" "... the address is still a's"
is "$(eip_field "$eip" AssociationId)" "$assoc" "... under the same association"
is "$(eni_public "$a")" "$pub" "... a's Association.PublicIp is unchanged"
is "$(eni_public "$b")" "" "... b has no Association"
is "$(curl_in "${P}a" "$HOST")" "$pub" "... a still gets out as $pub"
ok "... b still does not" no_curl "${P}b" "$HOST"
ok "... inbound still goes to a" host_nc "$pub" 8081

# ENI b already holding an EIP refuses another one too.
assoc2=$(vpc associate-address --allocation-id "$eip2" --network-interface-id "$b" | jq_ 'd["AssociationId"]')
like "$assoc2" '^eipassoc-' "associate-address $pub2 to b"
is "$(curl_in "${P}b" "$HOST")" "$pub2" "b gets out as $pub2"
fails_with Resource.AlreadyAssociated "associate-address $pub to b (which holds $pub2) without --allow-reassociation" \
	associate-address --allocation-id "$eip" --network-interface-id "$b"
ok "disassociate-address $pub2 from b" vpc disassociate-address --association-id "$assoc2"
is "$(eip_field "$eip2" AssociationId)" "" "describe-addresses: $pub2 has no association"
is "$(eni_public "$b")" "" "b has no Association"
ok "b no longer gets out" no_curl "${P}b" "$HOST"
fails_with InvalidAssociationID.NotFound "disassociating it again: InvalidAssociationID.NotFound" \
	disassociate-address --association-id "$assoc2"

# With --allow-reassociation both directions move to b at once.
assoc3=$(vpc associate-address --allocation-id "$eip" --network-interface-id "$b" --allow-reassociation |
	jq_ 'd["AssociationId"]')
like "$assoc3" '^eipassoc-' "associate-address to b with --allow-reassociation"
isnt "$assoc3" "$assoc" "... a new association ID"
is "$(curl_in "${P}b" "$HOST")" "$pub" "at once: b reaches the internet host as $pub"
ok "at once: a no longer gets out" no_curl "${P}a" "$HOST"
ok "at once: the host reaches b's listener at $pub:8080" host_nc "$pub" 8080
ok "at once: a's listener at $pub:8081 is no longer reachable" host_no_nc "$pub" 8081
ok "the host pings $pub (now b)" host_ping "$pub"
is "$(eip_field "$eip" NetworkInterfaceId)" "$b" "describe-addresses: associated with b"
is "$(eip_field "$eip" PrivateIpAddress)" 10.21.1.11 "describe-addresses: PrivateIpAddress 10.21.1.11"
is "$(eni_public "$b")" "$pub" "b's Association.PublicIp is $pub"
# And back to a (the first ENI in vpcd's order: its new mapping is computed before b's old one
# is removed, which a transaction must still apply as delete-then-add).
ok "associate-address back to a with --allow-reassociation" \
	vpc associate-address --allocation-id "$eip" --network-interface-id "$a" --allow-reassociation
is "$(curl_in "${P}a" "$HOST")" "$pub" "at once: a reaches the internet host as $pub again"
ok "at once: b no longer gets out" no_curl "${P}b" "$HOST"
assoc3=$(vpc associate-address --allocation-id "$eip" --network-interface-id "$b" --allow-reassociation |
	jq_ 'd["AssociationId"]')
like "$assoc3" '^eipassoc-' "and to b again"
is "$(curl_in "${P}b" "$HOST")" "$pub" "b is $pub again"
is "$(eni_public "$a")" "" "a's Association is gone"

# describe-addresses filters.
ids() { vpc describe-addresses "$@" | jq_ 'sorted(x["AllocationId"] for x in d["Addresses"])' | tr '\n' ' '; }
is "$(ids)" "$(printf '%s\n' "$eip" "$eip2" | sort | tr '\n' ' ')" "describe-addresses lists both"
is "$(ids --filters "Name=allocation-id,Values=$eip2")" "$eip2 " "filter allocation-id"
is "$(ids --filters "Name=public-ip,Values=$pub")" "$eip " "filter public-ip"
is "$(ids --public-ips "$pub2")" "$eip2 " "--public-ips"
is "$(ids --filters "Name=network-interface-id,Values=$b")" "$eip " "filter network-interface-id (b)"
is "$(ids --filters "Name=network-interface-id,Values=$a")" "" "filter network-interface-id (a): none"
is "$(ids --filters "Name=association-id,Values=$assoc3")" "$eip " "filter association-id"
fails_with InvalidAddress.NotFound "--public-ips of an address not allocated: InvalidAddress.NotFound" \
	describe-addresses --public-ips 198.18.143.250

# Release and the errors.
fails_with InvalidIPAddress.InUse "release-address while associated: InvalidIPAddress.InUse" \
	release-address --allocation-id "$eip"
is "$(eip_field "$eip" AssociationId)" "$assoc3" "... still associated"
is "$(curl_in "${P}b" "$HOST")" "$pub" "... and b still gets out"
ok "disassociate-address" vpc disassociate-address --association-id "$assoc3"
ok "b no longer gets out" no_curl "${P}b" "$HOST"
ok "the host's ping to $pub gets no reply" host_no_ping "$pub"
is "$(eni_public "$b")" "" "b's Association is gone"
ok "release-address" vpc release-address --allocation-id "$eip"
fails_with InvalidAllocationID.NotFound "describe-addresses of the released address: InvalidAllocationID.NotFound" \
	describe-addresses --allocation-ids "$eip"
fails_with InvalidAllocationID.NotFound "release-address again: InvalidAllocationID.NotFound" \
	release-address --allocation-id "$eip"
fails_with InvalidAllocationID.NotFound "associate-address of an unknown allocation: InvalidAllocationID.NotFound" \
	associate-address --allocation-id eipalloc-0123456789abcdef0 --network-interface-id "$a"
fails_with InvalidNetworkInterfaceID.NotFound "associate-address to an unknown ENI" \
	associate-address --allocation-id "$eip2" --network-interface-id eni-0123456789abcdef0
fails_with InvalidAllocationID.NotFound "the allocation is not visible from another region" \
	--region us-west-2 describe-addresses --allocation-ids "$eip2"
ok "release-address of the other one" vpc release-address --allocation-id "$eip2"
is "$(vpc describe-addresses | jq_ 'len(d["Addresses"])')" 0 "no addresses left"
