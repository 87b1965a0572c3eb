/* Flow logs (vpcd/flowlog.c): CreateFlowLogs, DescribeFlowLogs, DeleteFlowLogs, and the
 * collector that turns the kernel's counts (conntrack accounting, NFLOG of rejected packets)
 * into records in AWS's format. docs/flowlogs.md describes both. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "err.h"
struct req;
struct txn;
int h_create_flow_logs(struct req *, json_t **, struct err *);
int h_describe_flow_logs(struct req *, json_t **, struct err *);
int h_delete_flow_logs(struct req *, json_t **, struct err *);

/* The collector thread: started once the model is loaded, stopped before the store closes. */
int flowlog_start(struct err *e);
void flowlog_stop(void);
/* Whether a request's changes (its undo record) can change what the flow logs cover; if so,
 * flowlog_refresh() after the commit hands the collector a new picture of the lab. */
bool flowlog_affected(json_t *undo);
void flowlog_refresh(void);
/* Deletes, in the transaction, the flow logs of a subnet or an ENI being deleted. */
void flowlog_clear_target(struct txn *t, const char *resource_id);

/* The NFLOG group the rulesets log rejected packets to (vpcd/firewall.c), and the conntrack
 * mark that accepted, forwarded flows get (what AWS would log: not DHCP, DNS or metadata). */
#define FLOWLOG_NFLOG_GROUP 86
#define FLOWLOG_CT_MARK 0x56

/* The parts below are pure, for the tests and the fuzzer. */
enum fl_field {
	FL_VERSION, FL_ACCOUNT_ID, FL_INTERFACE_ID, FL_SRCADDR, FL_DSTADDR, FL_SRCPORT, FL_DSTPORT,
	FL_PROTOCOL, FL_PACKETS, FL_BYTES, FL_START, FL_END, FL_ACTION, FL_LOG_STATUS,
	FL_VPC_ID, FL_SUBNET_ID, FL_INSTANCE_ID, FL_TCP_FLAGS, FL_TYPE, FL_PKT_SRCADDR,
	FL_PKT_DSTADDR, FL_REGION, FL_AZ_ID, FL_SUBLOCATION_TYPE, FL_SUBLOCATION_ID,
	FL_PKT_SRC_AWS_SERVICE, FL_PKT_DST_AWS_SERVICE, FL_FLOW_DIRECTION, FL_TRAFFIC_PATH,
	FL_NFIELDS
};
#define FL_MAX_FIELDS 64
extern const char FL_DEFAULT_FORMAT[];
/* Parses a LogFormat ("${version} ${srcaddr} ..."); NULL or "" is the default (version 2). */
int fl_format_parse(const char *text, int fields[FL_MAX_FIELDS], size_t *n, struct err *e);
/* The field names of a format, space-separated (the header line of an S3 file). */
void fl_format_header(const int *fields, size_t n, FILE *out);

enum fl_action { FL_ACCEPT, FL_REJECT, FL_NODATA };
struct fl_rec {
	const char *account, *eni_id, *vpc_id, *subnet_id, *instance_id, *region, *az_id;
	uint32_t src, dst; /* host order */
	uint16_t sport, dport;
	uint8_t proto;
	uint64_t packets, bytes;
	int64_t start, end;
	enum fl_action action;
	unsigned tcp_flags;
	bool egress;
	int traffic_path; /* 0: none ("-") */
	int version;      /* of the format: the highest version of its fields */
};
int fl_format_version(const int *fields, size_t n);
void fl_format_record(const int *fields, size_t n, const struct fl_rec *r, FILE *out);

/* A packet as NFLOG hands it over (untrusted bytes from a guest): the IPv4 header and the
 * start of the L4 header. -EINVAL if it is not an IPv4 packet this can describe. */
struct fl_pkt {
	uint32_t src, dst; /* host order */
	uint16_t sport, dport, len;
	uint8_t proto, tcp_flags;
};
int fl_parse_packet(const uint8_t *p, size_t n, struct fl_pkt *ret);
