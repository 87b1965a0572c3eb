#!/bin/sh
# The failover watchdog, run in its own instance (user data): it checks the web server behind
# the elastic IP every 200 ms, and after 3 failures in a row moves the address to the other
# web server with the EC2 API, as an instance does on AWS: the endpoint
# ec2.us-east-1.amazonaws.com inside the VPC, and the credentials of the instance's role from
# the metadata service (vpclab-aws reads them there, as the SDKs do).
# Filled in by examples/failover/run: ALLOC, the two servers' addresses and ENIs.
# User data runs before the instance is ready: the watchdog goes on in the background.
if [ -z "${WATCHDOG_BG:-}" ]; then
	WATCHDOG_BG=1 setsid sh "$0" </dev/null >/dev/null 2>&1 &
	exit 0
fi
ALLOC=@ALLOC@
PRIMARY_IP=@PRIMARY_IP@ PRIMARY_ENI=@PRIMARY_ENI@
STANDBY_IP=@STANDBY_IP@ STANDBY_ENI=@STANDBY_ENI@
log() { echo "watchdog: $*" >/dev/console 2>/dev/null || echo "watchdog: $*"; }
# Who holds the address, from the API (again every 5 s: someone else may move it too).
holder() {
	vpclab-aws ec2 DescribeAddresses AllocationId.1="$ALLOC" 2>/dev/null |
		sed -n 's:.*<networkInterfaceId>\(eni-[0-9a-f]*\)</networkInterfaceId>.*:\1:p' | head -n 1
}
set_active() {
	if [ "$1" = "$STANDBY_ENI" ]; then
		active_ip=$STANDBY_IP other_ip=$PRIMARY_IP other_eni=$PRIMARY_ENI
	else
		active_ip=$PRIMARY_IP other_ip=$STANDBY_IP other_eni=$STANDBY_ENI
	fi
}
set_active "$(holder)"
fails=0 ticks=0
log "watching $active_ip"
while :; do
	ticks=$((ticks + 1))
	if [ $((ticks % 25)) -eq 0 ] && [ "$fails" -eq 0 ]; then
		h=$(holder)
		[ -z "$h" ] || set_active "$h"
	fi
	if timeout 1 wget -q -O /dev/null "http://$active_ip/" 2>/dev/null; then
		fails=0
	else
		fails=$((fails + 1))
	fi
	if [ "$fails" -eq 3 ]; then
		log "$active_ip failed 3 times; $other_ip: $(timeout 1 wget -q -O - "http://$other_ip/" 2>&1 | head -c 80)"
	fi
	if [ "$fails" -ge 3 ] && timeout 1 wget -q -O /dev/null "http://$other_ip/" 2>/dev/null; then
		if out=$(vpclab-aws ec2 AssociateAddress AllocationId="$ALLOC" NetworkInterfaceId="$other_eni" \
			AllowReassociation=true 2>&1); then
			log "moved $ALLOC to $other_eni ($other_ip)"
			set_active "$other_eni"
			fails=0
		else
			log "AssociateAddress: $out"
		fi
	fi
	sleep 0.2
done
