/* Packet capture (vpcd/capture.c, docs/capture.md).
 *
 * The daemon only says where to look: describe-capture-point names the namespace and the
 * interface of an ENI, a subnet, an internet or NAT gateway or a peering. The capture itself
 * runs in the CLI process (`vpcd capture`), which enters that namespace and reads the
 * interface with libpcap, so that no packet passes through the daemon. */
#pragma once
#include <jansson.h>
#include "err.h"

struct req;

/* DescribeCapturePoint: exactly one of NetworkInterfaceId, SubnetId, InternetGatewayId,
 * NatGatewayId, VpcPeeringConnectionId (a peering may name the side with VpcId); answers
 * {Namespace, Interface, ResourceId, VpcId}. */
int h_describe_capture_point(struct req *rq, json_t **ret, struct err *e);

/* `vpcd capture ...` (argv[0] is the verb): asks the daemon for the capture point, then
 * captures there as pcap to a file or standard output. Returns the exit code. */
int cmd_capture(int argc, char **argv);

/* The flags of `vpcd capture`, for its --help and its parser. */
#define CAPTURE_FLAGS                                                                              \
	"network-interface-id subnet-id internet-gateway-id nat-gateway-id "                       \
	"vpc-peering-connection-id vpc-id filter count:i duration output-file snaplen:i"
