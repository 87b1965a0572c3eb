/* Flow logs (vpcd/flowlog.c): CreateFlowLogs, DescribeFlowLogs, DeleteFlowLogs, and the
 * collector that turns the kernel's counts (conntrack accounting, NFLOG of rejected packets)
 * into records. */
#pragma once
#include <jansson.h>
#include "err.h"
struct req;
int h_create_flow_logs(struct req *, json_t **, struct err *);
int h_describe_flow_logs(struct req *, json_t **, struct err *);
int h_delete_flow_logs(struct req *, json_t **, struct err *);
