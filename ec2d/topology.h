/* The lab's topology (topology.c): DescribeTopology in JSON, Graphviz dot or SVG, and the live
 * page on the API endpoint (topology_http.c, in the api front). docs/topology.md. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <microhttpd.h>
#include "ec2d.h"

/* Core: DescribeTopology {Format: json|dot|svg, Since: revision}, and TopologyRelay {Token,
 * Call, Region, Params}: the page's calls, from the api front, checked against the token and a
 * fixed list of actions. Both unlocked: they call ec2d_dispatch, which locks. */
int h_describe_topology(struct ereq *rq, json_t **ret, struct err *e);
int h_topology_relay(struct ereq *rq, json_t **ret, struct err *e);
/* The page's URL with its token ("" without an endpoint), for describe-lab. */
const char *topology_url(void);
/* The CLI's side of describe-topology: dot and svg print as text, json as JSON. */
void topology_present(json_t *result);

/* api front: the request of a path under /topology on the host's endpoint. */
typedef int (*topology_call_fn)(const char *action, const char *region, json_t *params,
				json_t **ret, struct err *e);
bool topology_path(const char *path);
/* Whether connection c came in on daemon host's socket (its thread pool's workers are
 * daemons of their own), not on a VPC's endpoint. */
bool topology_on(struct MHD_Connection *c, struct MHD_Daemon *host);
enum MHD_Result topology_http(struct MHD_Connection *c, const char *method, const char *path,
			      const char *query, const char *body, size_t len,
			      topology_call_fn call);
