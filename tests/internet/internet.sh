#!/bin/bash
# The regions' closed simulated internet: describe-lab's pools and internet hosts, the host's
# link and routes, the internet hosts of two regions answering the host, an ENI of one region
# reaching the other region's internet host over the backbone, nothing routed to the outside,
# and nothing left in the root namespace after teardown.
. "$(dirname "$0")/inet_lib.sh"

inet_pool 198.19.64.0/18
start_vpcd || bail "vpcd does not start"
HL=$(HOSTLINK)

is "$(vpc describe-lab | jq_ 'len(d["Regions"])')" 0 "describe-lab: no region in use yet"
ok "no host link $HL before any region is in use" test ! -e "/sys/class/net/$HL"

v=$(mk_vpc 10.61.0.0/16) && [ -n "$v" ] || bail "create-vpc us-east-1"
w=$(rvpc us-west-2 create-vpc --cidr-block 10.62.0.0/16 | jq_ 'd["Vpc"]["VpcId"]') && [ -n "$w" ] || bail "create-vpc us-west-2"

is "$(vpc describe-lab | jq_ 'sorted(r["RegionName"] for r in d["Regions"])' | tr '\n' ' ')" "us-east-1 us-west-2 " \
	"describe-lab: us-east-1 and us-west-2 in use"
is "$(lab_pool us-east-1)" 198.19.64.0/20 "us-east-1's PublicIpPool is the first /20 of public_pool"
is "$(lab_pool us-west-2)" 198.19.112.0/20 "us-west-2's is the fourth (region-table order)"
H1=$(lab_host us-east-1)
H2=$(lab_host us-west-2)
is "$H1 $H2" "198.19.64.10 198.19.112.10" "InternetHost.PublicIp is pool + 10 in each"
is "$(vpc describe-lab | jq_ 'str(next(r["InternetHost"]["TcpPorts"] for r in d["Regions"]))')" "[80, 7]" "InternetHost.TcpPorts [80, 7]"
for r in us-east-1 us-west-2; do
	ns=$(vpc describe-lab | jq_ "next(x['Namespace'] for x in d['Regions'] if x['RegionName'] == '$r')")
	is "$ns" "$P-$r" "$r's namespace is $P-$r"
	ok "$ns exists" test -e "/run/netns/$ns"
done
ok "the backbone namespace $P-backbone exists" test -e "/run/netns/$P-backbone"

# The host's side: one link, one route per pool in use, nothing else.
ok "the host link $HL exists" test -e "/sys/class/net/$HL"
is "$(ip -o -4 addr show dev "$HL" | awk '{print $4}')" 100.127.255.1/32 "it holds 100.127.255.1/32"
is "$(ip -4 route show dev "$HL" | awk '{print $1}' | sort | tr '\n' ' ')" "198.19.112.0/20 198.19.64.0/20 " \
	"the host routes exactly the two pools in use through it"
is "$(ip -4 route show dev "$HL" | grep -c default)" 0 "... and no default route"
is "$(ip route | grep -c "$P" )" 2 "ip route names $P twice"

# Both internet hosts answer the host.
ok "the host pings us-east-1's internet host $H1" host_ping "$H1"
ok "the host pings us-west-2's internet host $H2" host_ping "$H2"
is "$(host_curl "$H1")" 100.127.255.1 "HTTP from the host to $H1 shows the host link's address"
is "$(host_curl "$H2")" 100.127.255.1 "HTTP from the host to $H2 too"
ok "TCP echo on $H2 port 7 answers the host" host_nc "$H2" 7
ok "port 81 is closed on the internet host" host_no_nc "$H1" 81
ok "an unused address of the pool (198.19.64.200) does not answer" host_no_ping 198.19.64.200

# An ENI with an EIP in us-east-1 reaches us-west-2's internet host over the backbone.
s=$(mk_subnet "$v" 10.61.1.0/24) && [ -n "$s" ] || bail "create-subnet"
e=$(mk_eni "$s" 10.61.1.10) && [ -n "$e" ] || bail "eni"
plug "$e" e || bail "plug"
igw=$(vpc create-internet-gateway | jq_ 'd["InternetGateway"]["InternetGatewayId"]') && [ -n "$igw" ] || bail "igw"
vpc attach-internet-gateway --internet-gateway-id "$igw" --vpc-id "$v" >/dev/null || bail "attach"
vpc create-route --route-table-id "$(main_rtb "$v")" --destination-cidr-block 0.0.0.0/0 --gateway-id "$igw" >/dev/null ||
	bail "create-route"
read -r eip pub <<<"$(eip_alloc)"
vpc associate-address --allocation-id "$eip" --network-interface-id "$e" >/dev/null || bail "associate-address"
allow_in "$(default_sg "$v")" icmp -1 0.0.0.0/0 || bail "authorize icmp"
is "$(curl_in "${P}e" "$H2")" "$pub" "the us-east-1 ENI reaches us-west-2's internet host as its EIP $pub"
ok "it pings us-west-2's internet host" ping_ok "${P}e" "$H2"
ok "its TCP echo to us-west-2's internet host comes back" echo_in "${P}e" "$H2"
is "$(curl_in "${P}e" "$H1")" "$pub" "and its own region's internet host as well"
ok "the host pings the EIP $pub" host_ping "$pub"

# Nothing is routed to the outside.
nok "from the ENI, TEST-NET-2 198.51.100.1 gets no reply" ping_once "${P}e" 198.51.100.1
nok "nor an address of a pool no region uses (198.19.96.10, us-west-1's)" ping_once "${P}e" 198.19.96.10
is "$(ip -n "$P-backbone" -4 route show | grep -c '^default')" 0 "$P-backbone has no default route"
nok "$P-backbone has no route to 198.51.100.1" ip -n "$P-backbone" route get 198.51.100.1
like "$(ip -n "$P-us-east-1" -4 route show default)" "via 100\.127\.0\.1 dev ${P}r" \
	"$P-us-east-1's default route leads only to the backbone"
nok "$P-backbone has no address outside 100.64.0.0/10" \
	grep -qv '^100\.' <<<"$(ip -n "$P-backbone" -o -4 addr show | awk '$2 != "lo" {print $4}')"

# Teardown.
stop_vpcd
ok "vpcd teardown --prefix $P --state-dir" teardown_lab
ok "no link $HL remains" test ! -e "/sys/class/net/$HL"
is "$(ip route | grep -c "$P")" 0 "no route naming $P remains in the root namespace"
is "$(ip route | grep -cE '^198\.19\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.')" 0 "no route into 198.19.64.0/18 remains"
is "$(netns_with_prefix "$P-" | tr '\n' ' ')" "" "no $P-… namespace remains"
is "$(links_with_prefix "" "$P" | tr '\n' ' ')" "" "no link named $P… remains in the root namespace"
