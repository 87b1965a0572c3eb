/* VPC flow logs, counted by the kernel.
 *
 * The model: a flow log is an object of type "flowlog" (fl-…) naming a VPC, a subnet or an
 * ENI, what to log (ACCEPT, REJECT, ALL), a format and a destination: a directory laid out as
 * S3 lays out a bucket (<state-dir>/s3/<bucket>/<prefix>/AWSLogs/…), or a CloudWatch Logs log
 * group (vpcd/logs.c), one stream per ENI.
 *
 * The counts come from the VPC namespace's kernel, never from the model and never from a
 * per-packet copy of accepted traffic:
 * - accepted flows: the `forward` chain of `inet vpclab` (firewall.c) gives every new flow
 *   it lets through the conntrack mark FLOWLOG_CT_MARK, so traffic to the router itself
 *   (DHCP, the VPC's DNS, the metadata service: what AWS never logs) is left out. Conntrack
 *   accounting counts packets and bytes per direction; the collector dumps the marked
 *   entries of the namespace once per tick and takes differences, and conntrack's destroy
 *   events give the last counts of flows that end between two dumps;
 * - rejected packets: every drop of a network ACL or security group chain is preceded by
 *   `log group 86 prefix "<where>"`, and the collector reads those packets' headers over
 *   NFLOG (batched by the kernel). A packet rejected on the way back of an accepted flow (a
 *   NACL is stateless) was counted by conntrack too; it is taken off that flow's ACCEPT.
 *
 * The collector is one thread. The main loop hands it a picture of the lab (the flow logs,
 * and who holds each address) after every change that matters, under a mutex; the thread
 * never reads the model. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_log/libnetfilter_log.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "cleanup.h"
#include "log.h"
#include "netns.h"
#include "vpcd.h"

/* ------------------------------------------------------------------ the API */

#define TAG_INTERVAL "vpclab:aggregation-interval"

static const struct filter_map fl_filters[] = {
	{"deliver-log-status", "DeliverLogsStatus"},
	{"log-destination-type", "LogDestinationType"},
	{"flow-log-id", "FlowLogId"},
	{"log-group-name", "LogGroupName"},
	{"resource-id", "ResourceId"},
	{"traffic-type", "TrafficType"},
	{NULL, NULL},
};

static void fl_decorate(json_t *pub, json_t *o)
{
	(void)o;
	json_object_del(pub, "VpcId");
}

/* The directory that stands for an S3 destination "arn:aws:s3:::bucket[/prefix]". */
static int s3_dir(const char *arn, char *buf, size_t n, struct err *e)
{
	static const char pre[] = "arn:aws:s3:::";
	if (strncmp(arn, pre, strlen(pre)) != 0 || !arn[strlen(pre)] || arn[strlen(pre)] == '/')
		return err_set(e, "InvalidParameter",
			       "LogDestination: '%s' is not a valid S3 bucket ARN (arn:aws:s3:::bucket[/prefix])", arn);
	const char *path = arn + strlen(pre);
	for (const char *c = path; *c; c++)
		if (!(isalnum((unsigned char)*c) || strchr("-._/", *c)) || (c[0] == '.' && c[1] == '.'))
			return err_set(e, "InvalidParameter", "LogDestination: '%s' is not a valid S3 bucket ARN", arn);
	int w = snprintf(buf, n, "%s/s3/%s", V->state_dir, path);
	while (w > 0 && buf[w - 1] == '/')
		buf[--w] = 0;
	return w > 0 && (size_t)w < n ? 0 : err_set(e, "InvalidParameter", "LogDestination is too long");
}

/* The interval a class waits for: MaxAggregationInterval, or the lab's shorter one from the tag. */
static long long interval_of(json_t *tags, long long max)
{
	size_t i;
	json_t *t;
	json_array_foreach(tags, i, t) if (!strcmp(jstr(t, "Key"), TAG_INTERVAL))
	{
		long long v = atoll(jstr(t, "Value"));
		if (v >= 1 && v <= 600)
			return v;
	}
	return max;
}

static json_t *unsuccessful(const char *resource, const char *code, const char *msg)
{
	return json_pack("{s:{s:s, s:s}, s:s}", "Error", "Code", code, "Message", msg, "ResourceId", resource);
}

int h_create_flow_logs(struct req *rq, json_t **ret, struct err *e)
{
	const char *rtype, *traffic, *dtype, *dest, *group, *perm, *format, *token;
	long long max;
	int fields[FL_MAX_FIELDS];
	size_t nfields;
	_cleanup_json_ json_t *tags = NULL;
	_cleanup_json_ json_t *ids = param_list(rq->params, "ResourceIds");
	int r;
	if ((r = param_str(rq, "ResourceType", true, &rtype, e)) < 0 ||
	    (r = param_str(rq, "TrafficType", false, &traffic, e)) < 0 ||
	    (r = param_str(rq, "LogDestinationType", false, &dtype, e)) < 0 ||
	    (r = param_str(rq, "LogDestination", false, &dest, e)) < 0 ||
	    (r = param_str(rq, "LogGroupName", false, &group, e)) < 0 ||
	    (r = param_str(rq, "DeliverLogsPermissionArn", false, &perm, e)) < 0 ||
	    (r = param_str(rq, "LogFormat", false, &format, e)) < 0 ||
	    (r = param_str(rq, "ClientToken", false, &token, e)) < 0 ||
	    (r = param_int(rq, "MaxAggregationInterval", 600, &max, e)) < 0)
		return r;
	if (!json_array_size(ids))
		return err_set(e, "MissingParameter", "The request must contain the parameter ResourceIds");
	const char *type = !strcmp(rtype, "VPC") ? "vpc" : !strcmp(rtype, "Subnet") ? "subnet"
			 : !strcmp(rtype, "NetworkInterface") ? "eni" : NULL;
	if (!type)
		return err_set(e, "InvalidParameterValue",
			       !strcmp(rtype, "TransitGateway") || !strcmp(rtype, "TransitGatewayAttachment")
				       ? "Resource type %s is not supported in vpclab (there are no transit gateways)"
				       : "Invalid value '%s' for ResourceType: VPC, Subnet or NetworkInterface", rtype);
	if (!traffic)
		return err_set(e, "MissingParameter", "The request must contain the parameter TrafficType");
	if (strcmp(traffic, "ACCEPT") && strcmp(traffic, "REJECT") && strcmp(traffic, "ALL"))
		return err_set(e, "InvalidParameterValue", "Invalid value '%s' for TrafficType: ACCEPT, REJECT or ALL", traffic);
	if (max != 60 && max != 600)
		return err_set(e, "InvalidParameter", "MaxAggregationInterval must be 60 or 600 seconds");
	if (!dtype)
		dtype = "cloud-watch-logs";
	if ((r = fl_format_parse(format, fields, &nfields, e)) < 0)
		return r;
	char dir[512] = "", gname[600] = "";
	json_t *dopts = json_object_get(rq->params, "DestinationOptions");
	if (!strcmp(dtype, "s3")) {
		if (!dest)
			return err_set(e, "InvalidParameter", "LogDestination can't be empty if LogDestinationType is s3.");
		if (group)
			return err_set(e, "InvalidParameter", "LogGroupName can't be set if LogDestinationType is s3.");
		if ((r = s3_dir(dest, dir, sizeof(dir), e)) < 0)
			return r;
		const char *ff = jstr(dopts, "FileFormat");
		if (*ff && strcmp(ff, "plain-text") != 0)
			return err_set(e, "InvalidParameterValue",
				       "FileFormat '%s' is not supported in vpclab: plain-text only", ff);
	} else if (!strcmp(dtype, "cloud-watch-logs")) {
		if (dopts)
			return err_set(e, "InvalidParameter", "DestinationOptions can only be used with LogDestinationType s3.");
		if (dest) {
			/* arn:aws:logs:region:account:log-group:NAME[:*] */
			const char *lg = strstr(dest, ":log-group:");
			if (strncmp(dest, "arn:aws:logs:", 13) != 0 || !lg || !lg[11])
				return err_set(e, "InvalidParameter", "LogDestination: '%s' is not a log group ARN", dest);
			snprintf(gname, sizeof(gname), "%s", lg + 11);
			size_t gl = strlen(gname);
			if (gl >= 2 && !strcmp(gname + gl - 2, ":*"))
				gname[gl - 2] = 0;
			if (group && strcmp(group, gname) != 0)
				return err_set(e, "InvalidParameter", "Please only provide LogGroupName or only provide LogDestination.");
		} else if (group) {
			snprintf(gname, sizeof(gname), "%s", group);
		} else {
			return err_set(e, "InvalidParameter", "LogDestination or LogGroupName must be provided.");
		}
		if (!perm || !*perm)
			return err_set(e, "InvalidParameter",
				       "DeliverLogsPermissionArn can't be empty if LogDestinationType is cloud-watch-logs.");
		if (!*gname || strlen(gname) > 512)
			return err_set(e, "InvalidParameter", "Invalid log group name '%s'", gname);
		for (const char *c = gname; *c; c++)
			if (!(isalnum((unsigned char)*c) || strchr("._-/#", *c)))
				return err_set(e, "InvalidParameter", "Invalid log group name '%s'", gname);
	} else if (!strcmp(dtype, "kinesis-data-firehose")) {
		return err_set(e, "InvalidParameterValue", "LogDestinationType kinesis-data-firehose is not supported in vpclab");
	} else {
		return err_set(e, "InvalidParameterValue",
			       "Invalid value '%s' for LogDestinationType: cloud-watch-logs or s3", dtype);
	}
	if ((r = param_tags(rq, "vpc-flow-log", &tags, e)) < 0)
		return r;
	if (!tags)
		tags = json_array();

	char when[32];
	time_iso(when);
	json_t *made = json_array(), *failed = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v)
	{
		const char *rid = json_string_value(v) ?: "";
		json_t *res = obj_get_type(rid, type);
		if (!res || strcmp(jstr(res, "_region"), rq->region) != 0) {
			const struct kind *k = kind_of_type(type);
			char msg[160];
			snprintf(msg, sizeof(msg), "The %s '%s' does not exist", k->noun, rid);
			json_array_append_new(failed, unsuccessful(rid, k->notfound, msg));
			continue;
		}
		const char *vpc_id = !strcmp(type, "vpc") ? rid : jstr(res, "VpcId");
		const char *fid;
		json_t *o;
		bool dup = false;
		obj_foreach_vpc("flowlog", vpc_id, fid, o) if (
			!strcmp(jstr(o, "ResourceId"), rid) && !strcmp(jstr(o, "LogDestinationType"), dtype) &&
			!strcmp(jstr(o, "TrafficType"), traffic) &&
			!strcmp(jstr(o, !strcmp(dtype, "s3") ? "LogDestination" : "LogGroupName"),
				!strcmp(dtype, "s3") ? dest : gname))
			dup = true;
		if (dup) {
			json_array_append_new(failed, unsuccessful(rid, "FlowLogAlreadyExists",
				"Error. There is an existing Flow Log with the same configuration and log destination."));
			continue;
		}
		char id[ID_MAX];
		new_id(&rq->txn, "fl", id);
		json_t *fl = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:O, s:s, s:b, s:I}",
				       "_type", "flowlog", "_region", rq->region, "FlowLogId", id, "CreationTime", when,
				       "DeliverLogsStatus", "SUCCESS", "FlowLogStatus", "ACTIVE", "ResourceId", rid,
				       "TrafficType", traffic, "LogDestinationType", dtype, "LogFormat",
				       format && *format ? format : FL_DEFAULT_FORMAT, "VpcId", vpc_id,
				       "MaxAggregationInterval", max, "Tags", tags,
				       "_resource_type", type, "_owned_by_vpc", 1, "_interval", interval_of(tags, max));
		if (!strcmp(dtype, "s3")) {
			json_object_set_new(fl, "LogDestination", json_string(dest));
			json_object_set_new(fl, "_dir", json_string(dir));
			json_object_set_new(fl, "DestinationOptions",
					    json_pack("{s:s, s:b, s:b}", "FileFormat", "plain-text",
						      "HiveCompatiblePartitions", json_is_true(json_object_get(dopts, "HiveCompatiblePartitions")),
						      "PerHourPartition", json_is_true(json_object_get(dopts, "PerHourPartition"))));
		} else {
			char arn[700];
			snprintf(arn, sizeof(arn), "arn:aws:logs:%s:%s:log-group:%s", rq->region, OWNER_ID, gname);
			json_object_set_new(fl, "LogGroupName", json_string(gname));
			json_object_set_new(fl, "LogDestination", json_string(arn));
			json_object_set_new(fl, "DeliverLogsPermissionArn", json_string(perm));
		}
		obj_put(&rq->txn, id, fl);
		json_array_append_new(made, json_string(id));
	}
	*ret = json_pack("{s:o, s:o}", "FlowLogIds", made, "Unsuccessful", failed);
	if (token)
		json_object_set_new(*ret, "ClientToken", json_string(token));
	return 0;
}

int h_describe_flow_logs(struct req *rq, json_t **ret, struct err *e)
{
	json_t *list, *token = NULL;
	/* EC2 calls this one's filters "Filter". */
	json_t *f = json_object_get(rq->params, "Filter");
	if (f && !json_object_get(rq->params, "Filters"))
		json_object_set(rq->params, "Filters", f);
	/* An ID that names no flow log is no error here, as in EC2: it matches nothing. */
	_cleanup_json_ json_t *ids = param_list(rq->params, "FlowLogIds");
	int r = describe(rq, "flowlog", NULL, "FlowLogId", NULL, "flow log", fl_filters, fl_decorate, &list, &token, e);
	if (r < 0)
		return r;
	if (json_array_size(ids)) {
		size_t i, j;
		json_t *fl, *v;
		json_array_foreach(list, i, fl)
		{
			bool want = false;
			json_array_foreach(ids, j, v) want |= !strcmp(jstr(fl, "FlowLogId"), json_string_value(v) ?: "");
			if (!want)
				json_array_remove(list, i--);
		}
	}
	*ret = json_pack("{s:o}", "FlowLogs", list);
	if (token)
		json_object_set_new(*ret, "NextToken", token);
	return 0;
}

int h_delete_flow_logs(struct req *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *ids = param_list(rq->params, "FlowLogIds");
	if (!json_array_size(ids))
		return err_set(e, "MissingParameter", "The request must contain the parameter FlowLogIds");
	json_t *failed = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v)
	{
		const char *id = json_string_value(v) ?: "";
		json_t *o = obj_get_type(id, "flowlog");
		if (!o || strcmp(jstr(o, "_region"), rq->region) != 0) {
			char msg[160];
			snprintf(msg, sizeof(msg), "Flow Log %s does not exist", id);
			json_array_append_new(failed, unsuccessful(id, "InvalidFlowLogId.NotFound", msg));
			continue;
		}
		obj_del(&rq->txn, id);
	}
	*ret = json_pack("{s:o}", "Unsuccessful", failed);
	return 0;
}

void flowlog_clear_target(struct txn *t, const char *resource_id)
{
	const char *id;
	json_t *o;
	_cleanup_json_ json_t *gone = json_array();
	obj_foreach("flowlog", NULL, id, o) if (!strcmp(jstr(o, "ResourceId"), resource_id))
		json_array_append_new(gone, json_string(id));
	size_t i;
	json_t *v;
	json_array_foreach(gone, i, v) obj_del(t, json_string_value(v));
}

/* ------------------------------------------------------------------ the lab, as the collector sees it */

/* The collector's picture: {vpc id: {"ns", "region", "cidrs": [..], "peers": [[cidr, path]],
 * "enis": {ip: {"id", "subnet", "instance", "az", "logs": [fl ids]}},
 * "logs": {fl id: {"traffic", "format", "dtype", "dir", "group", "interval", "hive", "hour",
 * "enis": [ips]}}}}. Built from the model on the main thread. */
static json_t *picture(void)
{
	json_t *all = json_object();
	const char *id;
	json_t *fl;
	obj_foreach("flowlog", NULL, id, fl)
	{
		const char *vpc_id = jstr(fl, "VpcId"), *rid = jstr(fl, "ResourceId");
		json_t *vpc = obj_get_type(vpc_id, "vpc");
		if (!vpc)
			continue;
		json_t *pv = json_object_get(all, vpc_id);
		if (!pv) {
			char ns[64];
			name_vpc_ns(vpc_id, ns);
			json_t *cidrs = json_array(), *peers = json_array();
			size_t i;
			json_t *a;
			json_array_foreach(json_object_get(vpc, "CidrBlockAssociationSet"), i, a)
				json_array_append_new(cidrs, json_string(jstr(a, "CidrBlock")));
			if (!json_array_size(cidrs))
				json_array_append_new(cidrs, json_string(jstr(vpc, "CidrBlock")));
			const char *pid;
			json_t *p;
			obj_foreach("pcx", NULL, pid, p)
			{
				json_t *rqi = json_object_get(p, "RequesterVpcInfo"), *aci = json_object_get(p, "AccepterVpcInfo");
				if (strcmp(jstr(json_object_get(p, "Status"), "Code"), "active") != 0)
					continue;
				json_t *other = !strcmp(jstr(rqi, "VpcId"), vpc_id) ? aci
					      : !strcmp(jstr(aci, "VpcId"), vpc_id) ? rqi : NULL;
				if (other) /* traffic-path 4: peering in the region, 5: across regions */
					json_array_append_new(peers, json_pack("[s, i]", jstr(other, "CidrBlock"),
						strcmp(jstr(rqi, "Region"), jstr(aci, "Region")) ? 5 : 4));
			}
			pv = json_pack("{s:s, s:s, s:o, s:o, s:{}, s:{}}", "ns", ns, "region", jstr(fl, "_region"),
				       "cidrs", cidrs, "peers", peers, "enis", "logs");
			json_object_set_new(all, vpc_id, pv);
		}
		json_t *enis = json_object_get(pv, "enis"), *covered = json_array();
		const char *eid;
		json_t *eni;
		obj_foreach_vpc("eni", vpc_id, eid, eni)
		{
			const char *type = jstr(fl, "_resource_type");
			if ((!strcmp(type, "eni") && strcmp(eid, rid) != 0) ||
			    (!strcmp(type, "subnet") && strcmp(jstr(eni, "SubnetId"), rid) != 0))
				continue;
			json_t *ips = json_array();
			size_t i;
			json_t *a;
			json_array_foreach(json_object_get(eni, "PrivateIpAddresses"), i, a)
				json_array_append_new(ips, json_string(jstr(a, "PrivateIpAddress")));
			if (!json_array_size(ips))
				json_array_append_new(ips, json_string(jstr(eni, "PrivateIpAddress")));
			json_array_foreach(ips, i, a)
			{
				const char *ip = json_string_value(a);
				json_t *pe = json_object_get(enis, ip);
				if (!pe) {
					char zid[16];
					pe = json_pack("{s:s, s:s, s:s, s:s, s:[]}", "id", eid, "subnet", jstr(eni, "SubnetId"),
						       "instance", jstr(json_object_get(eni, "Attachment"), "InstanceId"),
						       "az", zone_id(jstr(eni, "AvailabilityZone"), zid), "logs");
					json_object_set_new(enis, ip, pe);
				}
				json_array_append_new(json_object_get(pe, "logs"), json_string(id));
				json_array_append_new(covered, json_string(ip));
			}
			json_decref(ips);
		}
		json_t *l = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:b, s:o}", "traffic", jstr(fl, "TrafficType"),
				      "format", jstr(fl, "LogFormat"), "dtype", jstr(fl, "LogDestinationType"),
				      "dir", jstr(fl, "_dir"), "group", jstr(fl, "LogGroupName"),
				      "interval", json_integer_value(json_object_get(fl, "_interval")),
				      "hive", json_is_true(json_object_get(json_object_get(fl, "DestinationOptions"), "HiveCompatiblePartitions")),
				      "hour", json_is_true(json_object_get(json_object_get(fl, "DestinationOptions"), "PerHourPartition")),
				      "enis", covered);
		json_object_set_new(json_object_get(pv, "logs"), id, l);
	}
	return all;
}

bool flowlog_affected(json_t *undo)
{
	const char *id;
	json_t *v;
	json_t *any = json_object_get(V->by_type, "flowlog");
	json_object_foreach(undo, id, v)
	{
		if (!strncmp(id, "fl-", 3))
			return true;
		if (json_object_size(any) && (!strncmp(id, "eni-", 4) || !strncmp(id, "pcx-", 4) ||
					       !strncmp(id, "vpc-", 4) || !strncmp(id, "subnet-", 7)))
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------ the collector */

struct vstate {
	char vpc_id[ID_MAX];
	struct nflog_handle *lh;
	struct nflog_g_handle *gh;
	struct nfct_handle *ev, *dump;
	json_t *cfg;     /* this VPC's part of the picture (borrowed from C.pic) */
	uint64_t window_ns; /* CLOCK_REALTIME of the last dump: flows that began after it are new */
	struct ctent **ct; /* CT_BUCKETS chains */
	uint32_t gen;      /* dumps so far */
	json_t *rej;     /* "src dst sport dport proto" -> [pkts, bytes]: rejected since the last dump */
	bool primed;     /* a first dump has taken the counts that were there before */
	int64_t next_tick;
	struct vstate *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_t thread;
	bool running;
	int wake; /* eventfd */
	json_t *pending; /* a new picture for the thread */
	bool stop;
	/* The thread's own: */
	json_t *pic;
	json_t *acc; /* fl id -> {"start": t, "recs": {key: [..]}} */
	struct vstate *vpcs;
} C = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = -1};

void flowlog_refresh(void)
{
	if (!C.running)
		return;
	json_t *pic = picture();
	pthread_mutex_lock(&C.lock);
	json_decref(C.pending);
	C.pending = pic;
	pthread_mutex_unlock(&C.lock);
	uint64_t one = 1;
	if (write(C.wake, &one, sizeof(one)) < 0)
		log_error("flowlog: cannot wake the collector: %m");
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static bool in_cidr(uint32_t ip, const char *text)
{
	struct cidr c;
	return cidr_parse(text, &c) == 0 && cidr_contains_ip(&c, ip);
}

/* The traffic-path of an egress record towards `dst`. */
static int traffic_path(json_t *cfg, uint32_t dst)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(cfg, "cidrs"), i, c) if (in_cidr(dst, json_string_value(c)))
		return 1;
	json_array_foreach(json_object_get(cfg, "peers"), i, c) if (in_cidr(dst, json_string_value(json_array_get(c, 0))))
		return (int)json_integer_value(json_array_get(c, 1));
	return 8; /* through the internet gateway */
}

/* Adds what one ENI saw of a flow in one direction to each of its flow logs that wants it. */
static void observe_at(struct vstate *vs, uint32_t eni_ip, bool egress, enum fl_action act,
		       const struct fl_pkt *k, uint64_t pkts, uint64_t bytes, unsigned flags, int64_t when)
{
	char ip[IP_STRLEN];
	ip_format(eni_ip, ip);
	json_t *pe = json_object_get(json_object_get(vs->cfg, "enis"), ip);
	if (!pe || (!pkts && act != FL_NODATA))
		return;
	size_t i;
	json_t *lid;
	json_array_foreach(json_object_get(pe, "logs"), i, lid)
	{
		const char *fid = json_string_value(lid);
		json_t *l = json_object_get(json_object_get(vs->cfg, "logs"), fid);
		const char *tt = jstr(l, "traffic");
		if (!l || (!strcmp(tt, "ACCEPT") && act != FL_ACCEPT) || (!strcmp(tt, "REJECT") && act != FL_REJECT))
			continue;
		json_t *a = json_object_get(C.acc, fid);
		if (!a) {
			a = json_pack("{s:I, s:{}}", "start", (json_int_t)when, "recs");
			json_object_set_new(C.acc, fid, a);
		}
		char key[160];
		snprintf(key, sizeof(key), "%s %d %d %u %u %u %u %u", ip, egress, act, k->proto, k->src, k->dst,
			 k->sport, k->dport);
		json_t *recs = json_object_get(a, "recs"), *r = json_object_get(recs, key);
		if (!r) {
			r = json_pack("[I, I, I, I, I]", (json_int_t)0, (json_int_t)0, (json_int_t)0, (json_int_t)when,
				      (json_int_t)when);
			json_object_set_new(recs, key, r);
		}
		json_array_set_new(r, 0, json_integer(json_integer_value(json_array_get(r, 0)) + (json_int_t)pkts));
		json_array_set_new(r, 1, json_integer(json_integer_value(json_array_get(r, 1)) + (json_int_t)bytes));
		json_array_set_new(r, 2, json_integer(json_integer_value(json_array_get(r, 2)) | (json_int_t)flags));
		json_array_set_new(r, 4, json_integer(when));
	}
}

static void tuple_key(const struct fl_pkt *k, char buf[static 80])
{
	snprintf(buf, 80, "%u %u %u %u %u", k->src, k->dst, k->sport, k->dport, k->proto);
}

/* A direction of an accepted flow: both ENIs it touches see it (the sender's egress, the
 * receiver's ingress), less what was rejected of it since the last dump. */
static void observe_accept(struct vstate *vs, const struct fl_pkt *k, uint64_t pkts, uint64_t bytes,
			   unsigned flags, int64_t when)
{
	char key[80];
	tuple_key(k, key);
	json_t *rj = json_object_get(vs->rej, key);
	if (rj) {
		uint64_t rp = (uint64_t)json_integer_value(json_array_get(rj, 0));
		uint64_t rb = (uint64_t)json_integer_value(json_array_get(rj, 1));
		uint64_t tp = rp < pkts ? rp : pkts, tb = rb < bytes ? rb : bytes;
		pkts -= tp, bytes -= tb;
		json_array_set_new(rj, 0, json_integer((json_int_t)(rp - tp)));
		json_array_set_new(rj, 1, json_integer((json_int_t)(rb - tb)));
	}
	observe_at(vs, k->src, true, FL_ACCEPT, k, pkts, bytes, flags, when);
	observe_at(vs, k->dst, false, FL_ACCEPT, k, pkts, bytes, flags, when);
}

static unsigned ct_flags(const struct nf_conntrack *ct, bool fresh, bool reply)
{
	if (nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) != IPPROTO_TCP)
		return 0;
	unsigned f = fresh ? (reply ? 18 : 2) : 0;
	if (nfct_attr_is_set(ct, ATTR_TCP_STATE) && nfct_get_attr_u8(ct, ATTR_TCP_STATE) >= TCP_CONNTRACK_FIN_WAIT &&
	    nfct_get_attr_u8(ct, ATTR_TCP_STATE) <= TCP_CONNTRACK_CLOSE)
		f |= 1;
	return f;
}

/* What the collector last saw of each marked conntrack entry: its counters, so that a dump
 * gives each window's differences. (Dumping with NFCT_Q_DUMP_FILTER_RESET instead would keep
 * nothing here, but the kernel zeroes an entry's counters while filling the message, and an
 * entry that does not fit in one is sent again, zeroed, in the next: its counts are lost.)
 * Chained by conntrack ID; an entry no dump has seen for two ticks, and whose destroy event
 * was lost, is dropped. */
struct ctent {
	uint32_t id, gen;
	uint32_t src, dst, ports; /* conntrack IDs are 32-bit hashes: two live entries can share one */
	uint8_t proto;
	uint64_t c[4]; /* orig packets, orig bytes, reply packets, reply bytes */
	struct ctent *next;
};
#define CT_BUCKETS 65536

static struct ctent **ct_slot(struct vstate *vs, const struct ctent *k)
{
	struct ctent **pp = &vs->ct[(k->id * 2654435761u) % CT_BUCKETS];
	while (*pp && ((*pp)->id != k->id || (*pp)->src != k->src || (*pp)->dst != k->dst ||
		       (*pp)->ports != k->ports || (*pp)->proto != k->proto))
		pp = &(*pp)->next;
	return pp;
}

/* A conntrack entry's counts since the last look: `gone` for a destroy event. */
static void ct_seen(struct vstate *vs, const struct nf_conntrack *ct, bool gone)
{
	if (nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO) != AF_INET || !nfct_attr_is_set(ct, ATTR_MARK) ||
	    nfct_get_attr_u32(ct, ATTR_MARK) != FLOWLOG_CT_MARK)
		return;
	uint64_t now[4] = {nfct_get_attr_u64(ct, ATTR_ORIG_COUNTER_PACKETS), nfct_get_attr_u64(ct, ATTR_ORIG_COUNTER_BYTES),
			   nfct_get_attr_u64(ct, ATTR_REPL_COUNTER_PACKETS), nfct_get_attr_u64(ct, ATTR_REPL_COUNTER_BYTES)};
	uint64_t was[4] = {0};
	struct fl_pkt o = {.src = ntohl(nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC)),
			   .dst = ntohl(nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST)),
			   .proto = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO)};
	struct fl_pkt r = {.src = ntohl(nfct_get_attr_u32(ct, ATTR_REPL_IPV4_SRC)),
			   .dst = ntohl(nfct_get_attr_u32(ct, ATTR_REPL_IPV4_DST)), .proto = o.proto};
	if (o.proto == IPPROTO_TCP || o.proto == IPPROTO_UDP) {
		o.sport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
		o.dport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
		r.sport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
		r.dport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_DST));
	}
	struct ctent key = {.id = nfct_get_attr_u32(ct, ATTR_ID), .src = o.src, .dst = o.dst,
			    .ports = (uint32_t)o.sport << 16 | o.dport, .proto = o.proto};
	struct ctent **pp = ct_slot(vs, &key), *x = *pp;
	if (x)
		memcpy(was, x->c, sizeof(was));
	if (gone && x) {
		*pp = x->next;
		free(x);
	} else if (!gone) {
		if (!x && (x = calloc(1, sizeof(*x)))) {
			*x = key;
			*pp = x;
		}
		if (x) {
			memcpy(x->c, now, sizeof(now));
			x->gen = vs->gen;
		}
	}
	/* Before the first dump: counted before the collector looked, not this window's. A
	 * counter below what was seen is a reused ID: all of it is new. */
	if (!vs->primed && !gone)
		return;
	for (int i = 0; i < 4; i += 2)
		if (now[i] < was[i])
			was[i] = was[i + 1] = 0;
	if (now[0] == was[0] && now[2] == was[2])
		return;
	/* New in this window: its first packets were the SYN and the SYN-ACK, and the record
	 * starts with it; else with the window. */
	uint64_t began = nfct_attr_is_set(ct, ATTR_TIMESTAMP_START) ? nfct_get_attr_u64(ct, ATTR_TIMESTAMP_START) : 0;
	bool fresh = began >= vs->window_ns;
	int64_t first = (int64_t)((fresh ? began : vs->window_ns) / 1000000000u);
	if (now[0] > was[0])
		observe_accept(vs, &o, now[0] - was[0], now[1] - was[1], ct_flags(ct, fresh, false), first);
	if (now[2] > was[2])
		observe_accept(vs, &r, now[2] - was[2], now[3] - was[3], ct_flags(ct, fresh, true), first);
}

/* Drops the entries that the last dumps did not list (their destroy event was lost). */
static void ct_sweep(struct vstate *vs)
{
	for (size_t b = 0; b < CT_BUCKETS; b++)
		for (struct ctent **pp = &vs->ct[b]; *pp;) {
			struct ctent *x = *pp;
			if (vs->gen - x->gen >= 2) {
				*pp = x->next;
				free(x);
			} else {
				pp = &x->next;
			}
		}
}

static int ct_dump_cb(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
	(void)type;
	ct_seen(data, ct, false);
	return NFCT_CB_CONTINUE;
}

static int ct_event_cb(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
	if (type == NFCT_T_DESTROY)
		ct_seen(data, ct, false);
	return NFCT_CB_CONTINUE;
}

/* A rejected packet, from NFLOG. The prefix says where it was dropped: "fl:ne"/"fl:se" on the
 * way out of the sender (its subnet's ACL, its groups), "fl:ni"/"fl:si" on the way in. */
static int nflog_cb(struct nflog_g_handle *gh, struct nfgenmsg *nfmsg, struct nflog_data *nfa, void *data)
{
	(void)gh, (void)nfmsg;
	struct vstate *vs = data;
	char *payload = NULL;
	int n = nflog_get_payload(nfa, &payload);
	const char *prefix = nflog_get_prefix(nfa);
	struct fl_pkt k;
	if (n <= 0 || !prefix || strncmp(prefix, "fl:", 3) != 0 || fl_parse_packet((const uint8_t *)payload, (size_t)n, &k) < 0)
		return 0;
	bool out = prefix[4] == 'e';
	int64_t t = now_s();
	observe_at(vs, out ? k.src : k.dst, out, FL_REJECT, &k, 1, k.len, k.tcp_flags, t);
	/* Refused by the receiver's groups: it had left the sender, which logs it as accepted. */
	if (!strcmp(prefix, "fl:si"))
		observe_at(vs, k.src, true, FL_ACCEPT, &k, 1, k.len, k.tcp_flags, t);
	char key[80];
	tuple_key(&k, key);
	json_t *rj = json_object_get(vs->rej, key);
	if (!rj) {
		rj = json_pack("[I, I]", (json_int_t)0, (json_int_t)0);
		json_object_set_new(vs->rej, key, rj);
	}
	json_array_set_new(rj, 0, json_integer(json_integer_value(json_array_get(rj, 0)) + 1));
	json_array_set_new(rj, 1, json_integer(json_integer_value(json_array_get(rj, 1)) + k.len));
	return 0;
}

static void vstate_close(struct vstate *vs)
{
	if (vs->gh)
		nflog_unbind_group(vs->gh);
	if (vs->lh)
		nflog_close(vs->lh);
	if (vs->ev)
		nfct_close(vs->ev);
	if (vs->dump)
		nfct_close(vs->dump);
	json_decref(vs->rej);
	for (size_t b = 0; vs->ct && b < CT_BUCKETS; b++)
		while (vs->ct[b]) {
			struct ctent *x = vs->ct[b];
			vs->ct[b] = x->next;
			free(x);
		}
	free(vs->ct);
	free(vs);
}

/* Opens the VPC namespace's NFLOG group and conntrack sockets, from inside it, and turns on
 * conntrack's accounting and timestamps there (per namespace; flows that began before have
 * no counters). */
static struct vstate *vstate_open(const char *vpc_id, const char *ns)
{
	struct vstate *vs = calloc(1, sizeof(*vs));
	if (!vs)
		return NULL;
	snprintf(vs->vpc_id, sizeof(vs->vpc_id), "%s", vpc_id);
	vs->rej = json_object();
	vs->ct = calloc(CT_BUCKETS, sizeof(*vs->ct));
	int fd = netns_open(ns);
	if (fd < 0) {
		log_error("flowlog: %s: cannot open namespace %s: %s", vpc_id, ns, strerror(-fd));
		vstate_close(vs);
		return NULL;
	}
	static const char *const sysctls[][2] = {{"net/netfilter/nf_conntrack_acct", "1"},
						 {"net/netfilter/nf_conntrack_timestamp", "1"}};
	size_t bad;
	if (netns_sysctls(fd, sysctls, 2, &bad) < 0)
		log_error("flowlog: %s: cannot turn on conntrack accounting: %m", vpc_id);
	int saved = netns_enter(fd);
	close(fd);
	if (saved < 0) {
		vstate_close(vs);
		return NULL;
	}
	const char *what = "nflog";
	vs->lh = nflog_open();
	if (vs->lh && nflog_bind_pf(vs->lh, AF_INET) >= 0 &&
	    (vs->gh = nflog_bind_group(vs->lh, FLOWLOG_NFLOG_GROUP)) &&
	    nflog_set_mode(vs->gh, NFULNL_COPY_PACKET, 96) >= 0) {
		/* The kernel batches: up to 64 packets or 50 ms per message. */
		nflog_set_qthresh(vs->gh, 64);
		nflog_set_timeout(vs->gh, 5);
		nflog_callback_register(vs->gh, nflog_cb, vs);
		nfnl_rcvbufsiz(nflog_nfnlh(vs->lh), 4u << 20);
		what = "conntrack";
		vs->dump = nfct_open(CONNTRACK, 0);
		vs->ev = nfct_open(CONNTRACK, NF_NETLINK_CONNTRACK_DESTROY);
	}
	netns_leave(saved);
	if (!vs->dump || !vs->ev) {
		log_error("flowlog: %s: cannot open %s: %m", vpc_id, what);
		vstate_close(vs);
		return NULL;
	}
	nfct_callback_register(vs->dump, NFCT_T_ALL, ct_dump_cb, vs);
	nfct_callback_register(vs->ev, NFCT_T_DESTROY, ct_event_cb, vs);
	nfnl_rcvbufsiz(nfct_nfnlh(vs->ev), 4u << 20);
	fcntl(nfct_fd(vs->ev), F_SETFL, O_NONBLOCK);
	fcntl(nflog_fd(vs->lh), F_SETFL, O_NONBLOCK);
	return vs;
}

static void ct_dump(struct vstate *vs)
{
	struct nfct_filter_dump *f = nfct_filter_dump_create();
	if (!f)
		return;
	struct nfct_filter_dump_mark m = {.val = FLOWLOG_CT_MARK, .mask = 0xffffffff};
	nfct_filter_dump_set_attr(f, NFCT_FILTER_DUMP_MARK, &m);
	nfct_filter_dump_set_attr_u8(f, NFCT_FILTER_DUMP_L3NUM, AF_INET);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t start = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	vs->gen++;
	if (nfct_query(vs->dump, NFCT_Q_DUMP_FILTER, f) < 0)
		log_error("flowlog: %s: conntrack dump: %m", vs->vpc_id);
	nfct_filter_dump_destroy(f);
	ct_sweep(vs);
	vs->primed = true;
	vs->window_ns = start;
	json_object_clear(vs->rej);
}

static void drain(struct vstate *vs)
{
	char buf[65536];
	ssize_t n;
	while ((n = recv(nflog_fd(vs->lh), buf, sizeof(buf), 0)) > 0)
		nflog_handle_packet(vs->lh, buf, (int)n);
	while (nfct_catch(vs->ev) >= 0)
		;
}

struct line {
	char *eni, *text;
	int64_t start;
};

static int line_cmp(const void *a, const void *b)
{
	const struct line *x = a, *y = b;
	int c = strcmp(x->eni, y->eni);
	return c ? c : (x->start > y->start) - (x->start < y->start);
}

/* Writes one S3 object: <dir>/AWSLogs/<account>/vpcflowlogs/<region>/YYYY/MM/DD[/HH]/
 * <account>_vpcflowlogs_<region>_<fl id>_<YYYYMMDDTHHmmZ>_<hash>.log.gz, written aside and
 * renamed, so that a reader never sees half of it. */
static void write_s3(json_t *l, const char *fid, const char *region, int64_t t, const int *fields, size_t nf,
		     struct line *lines, size_t n)
{
	struct tm tm;
	time_t tt = (time_t)t;
	gmtime_r(&tt, &tm);
	char dir[1024], path[1400], tmp[1500];
	bool hive = json_is_true(json_object_get(l, "hive"));
	int w = hive ? snprintf(dir, sizeof(dir), "%s/AWSLogs/aws-account-id=%s/aws-service=vpcflowlogs/aws-region=%s/year=%04d/month=%02d/day=%02d",
				jstr(l, "dir"), OWNER_ID, region, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday)
		     : snprintf(dir, sizeof(dir), "%s/AWSLogs/%s/vpcflowlogs/%s/%04d/%02d/%02d", jstr(l, "dir"), OWNER_ID,
				region, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	if (json_is_true(json_object_get(l, "hour")) && w > 0 && (size_t)w < sizeof(dir))
		snprintf(dir + w, sizeof(dir) - (size_t)w, hive ? "/hour=%02d" : "/%02d", tm.tm_hour);
	if (mkdir_p(dir, 0755) < 0) {
		log_error("flowlog: %s: cannot make %s: %m", fid, dir);
		return;
	}
	static unsigned seq;
	snprintf(path, sizeof(path), "%s/%s_vpcflowlogs_%s_%s_%04d%02d%02dT%02d%02dZ_%08x.log.gz", dir, OWNER_ID, region,
		 fid, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		 (unsigned)(t * 2654435761u) ^ ++seq);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	gzFile gz = gzopen(tmp, "wb");
	if (!gz) {
		log_error("flowlog: %s: cannot write %s: %m", fid, tmp);
		return;
	}
	char *hdr = NULL;
	size_t hn = 0;
	FILE *hf = open_memstream(&hdr, &hn);
	fl_format_header(fields, nf, hf);
	fclose(hf);
	gzprintf(gz, "%s\n", hdr);
	free(hdr);
	for (size_t i = 0; i < n; i++)
		gzprintf(gz, "%s\n", lines[i].text);
	if (gzclose(gz) != Z_OK || rename(tmp, path) < 0)
		log_error("flowlog: %s: cannot write %s: %m", fid, path);
}

/* The end of a flow log's window: every record of it, and NODATA for the ENIs without one. */
static void flush_log(struct vstate *vs, const char *fid, json_t *l, int64_t now)
{
	json_t *a = json_object_get(C.acc, fid);
	int64_t start = a ? json_integer_value(json_object_get(a, "start")) : now - json_integer_value(json_object_get(l, "interval"));
	int fields[FL_MAX_FIELDS];
	size_t nf;
	struct err e = {0};
	if (fl_format_parse(jstr(l, "format"), fields, &nf, &e) < 0)
		return;
	json_t *recs = json_object_get(a, "recs"), *enis = json_object_get(vs->cfg, "enis");
	size_t cap = json_object_size(recs) + json_array_size(json_object_get(l, "enis")) + 1, n = 0;
	struct line *lines = calloc(cap, sizeof(*lines));
	json_t *seen = json_object();
	const char *key;
	json_t *r;
	const char *region = jstr(vs->cfg, "region");
	json_object_foreach(recs, key, r)
	{
		char ip[IP_STRLEN];
		int egress, act;
		unsigned proto, src, dst, sport, dport;
		if (sscanf(key, "%15s %d %d %u %u %u %u %u", ip, &egress, &act, &proto, &src, &dst, &sport, &dport) != 8)
			continue;
		json_t *pe = json_object_get(enis, ip);
		struct fl_rec rec = {.account = OWNER_ID, .eni_id = jstr(pe, "id"), .vpc_id = vs->vpc_id,
				     .subnet_id = jstr(pe, "subnet"), .instance_id = jstr(pe, "instance"),
				     .region = region, .az_id = jstr(pe, "az"), .src = src, .dst = dst,
				     .sport = (uint16_t)sport, .dport = (uint16_t)dport, .proto = (uint8_t)proto,
				     .packets = (uint64_t)json_integer_value(json_array_get(r, 0)),
				     .bytes = (uint64_t)json_integer_value(json_array_get(r, 1)),
				     .tcp_flags = (unsigned)json_integer_value(json_array_get(r, 2)),
				     .start = json_integer_value(json_array_get(r, 3)), .end = now,
				     .action = act, .egress = egress, .version = fl_format_version(fields, nf)};
		rec.traffic_path = egress ? traffic_path(vs->cfg, dst) : 0;
		if (!rec.packets)
			continue;
		size_t len = 0;
		FILE *f = open_memstream(&lines[n].text, &len);
		fl_format_record(fields, nf, &rec, f);
		fclose(f);
		lines[n].eni = strdup(rec.eni_id);
		lines[n++].start = rec.start;
		json_object_set_new(seen, rec.eni_id, json_true());
	}
	size_t i;
	json_t *ipv;
	json_array_foreach(json_object_get(l, "enis"), i, ipv)
	{
		json_t *pe = json_object_get(enis, json_string_value(ipv));
		if (!pe || json_object_get(seen, jstr(pe, "id")) || n == cap)
			continue;
		json_object_set_new(seen, jstr(pe, "id"), json_true());
		struct fl_rec rec = {.account = OWNER_ID, .eni_id = jstr(pe, "id"), .vpc_id = vs->vpc_id,
				     .subnet_id = jstr(pe, "subnet"), .instance_id = jstr(pe, "instance"),
				     .region = region, .az_id = jstr(pe, "az"), .start = start, .end = now,
				     .action = FL_NODATA, .version = fl_format_version(fields, nf)};
		size_t len = 0;
		FILE *f = open_memstream(&lines[n].text, &len);
		fl_format_record(fields, nf, &rec, f);
		fclose(f);
		lines[n].eni = strdup(rec.eni_id);
		lines[n++].start = start;
	}
	json_decref(seen);
	qsort(lines, n, sizeof(*lines), line_cmp);
	if (n && !strcmp(jstr(l, "dtype"), "s3")) {
		write_s3(l, fid, region, now, fields, nf, lines, n);
	} else if (n) {
		/* One stream per ENI, as AWS names them. */
		for (size_t b = 0, x; b < n; b = x) {
			for (x = b; x < n && !strcmp(lines[x].eni, lines[b].eni); x++)
				;
			struct log_event *ev = calloc(x - b, sizeof(*ev));
			for (size_t j = b; j < x; j++)
				ev[j - b] = (struct log_event){.timestamp_ms = lines[j].start * 1000, .message = lines[j].text};
			struct err pe = {0};
			if (ev && logs_put(region, jstr(l, "group"), lines[b].eni, ev, x - b, &pe) < 0)
				log_error("flowlog: %s: log group %s: %s", fid, jstr(l, "group"), pe.msg);
			free(ev);
		}
	}
	for (size_t j = 0; j < n; j++)
		free(lines[j].eni), free(lines[j].text);
	free(lines);
	json_object_set_new(C.acc, fid, json_pack("{s:I, s:{}}", "start", (json_int_t)now, "recs"));
}

/* Takes a new picture: VPCs that no longer log are closed, new ones opened. */
static void take_picture(json_t *pic)
{
	json_decref(C.pic);
	C.pic = pic;
	struct vstate **pp = &C.vpcs;
	while (*pp) {
		struct vstate *vs = *pp;
		vs->cfg = json_object_get(pic, vs->vpc_id);
		if (!vs->cfg) {
			*pp = vs->next;
			vstate_close(vs);
		} else {
			pp = &vs->next;
		}
	}
	const char *vid;
	json_t *cfg;
	json_object_foreach(pic, vid, cfg)
	{
		struct vstate *vs;
		for (vs = C.vpcs; vs && strcmp(vs->vpc_id, vid) != 0; vs = vs->next)
			;
		if (vs)
			continue;
		if (!(vs = vstate_open(vid, jstr(cfg, "ns"))))
			continue;
		vs->cfg = cfg;
		vs->next = C.vpcs;
		C.vpcs = vs;
		ct_dump(vs); /* the counts so far are not this window's */
	}
	/* Windows of flow logs that are gone. */
	const char *fid;
	json_t *x;
	void *tmp;
	json_object_foreach_safe(C.acc, tmp, fid, x)
	{
		bool live = false;
		json_object_foreach(pic, vid, cfg) if (json_object_get(json_object_get(cfg, "logs"), fid)) live = true;
		if (!live)
			json_object_del(C.acc, fid);
	}
}

static int64_t vpc_tick(struct vstate *vs)
{
	int64_t t = 600;
	const char *fid;
	json_t *l;
	json_object_foreach(json_object_get(vs->cfg, "logs"), fid, l)
	{
		int64_t i = json_integer_value(json_object_get(l, "interval"));
		if (i > 0 && i < t)
			t = i;
	}
	return t;
}

static void *collector(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&C.lock);
		json_t *pic = C.pending;
		C.pending = NULL;
		bool stop = C.stop;
		pthread_mutex_unlock(&C.lock);
		if (stop)
			break;
		if (pic)
			take_picture(pic);
		int64_t now = now_s(), next = now + 600;
		struct pollfd pfd[1 + 2 * 512];
		struct vstate *who[1 + 2 * 512];
		size_t n = 0;
		pfd[n++] = (struct pollfd){.fd = C.wake, .events = POLLIN};
		for (struct vstate *vs = C.vpcs; vs; vs = vs->next) {
			if (!vs->next_tick)
				vs->next_tick = now + vpc_tick(vs);
			if (vs->next_tick <= now) {
				drain(vs);
				ct_dump(vs);
				const char *fid;
				json_t *l;
				json_object_foreach(json_object_get(vs->cfg, "logs"), fid, l)
				{
					json_t *a = json_object_get(C.acc, fid);
					int64_t st = a ? json_integer_value(json_object_get(a, "start")) : 0;
					if (!a)
						json_object_set_new(C.acc, fid, json_pack("{s:I, s:{}}", "start", (json_int_t)now, "recs"));
					else if (st + json_integer_value(json_object_get(l, "interval")) <= now)
						flush_log(vs, fid, l, now);
				}
				vs->next_tick = now + vpc_tick(vs);
			}
			if (vs->next_tick < next)
				next = vs->next_tick;
			if (n + 2 <= sizeof(pfd) / sizeof(pfd[0])) {
				who[n] = vs, pfd[n++] = (struct pollfd){.fd = nflog_fd(vs->lh), .events = POLLIN};
				who[n] = vs, pfd[n++] = (struct pollfd){.fd = nfct_fd(vs->ev), .events = POLLIN};
			}
		}
		int wait_ms = (int)((next - now) * 1000);
		if (poll(pfd, n, wait_ms < 0 ? 0 : wait_ms) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents) {
			uint64_t v;
			if (read(C.wake, &v, sizeof(v)) < 0 && errno != EAGAIN)
				break;
		}
		for (size_t i = 1; i < n; i++)
			if (pfd[i].revents)
				drain(who[i]);
	}
	return NULL;
}

int flowlog_start(struct err *e)
{
	C.wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (C.wake < 0)
		return err_setr(e, -errno, "InternalError", "flowlog: eventfd: %m");
	C.acc = json_object();
	C.pending = picture();
	int r = pthread_create(&C.thread, NULL, collector, NULL);
	if (r)
		return err_setr(e, -r, "InternalError", "flowlog: cannot start the collector: %s", strerror(r));
	pthread_setname_np(C.thread, "flowlog");
	C.running = true;
	return 0;
}

void flowlog_stop(void)
{
	if (!C.running)
		return;
	pthread_mutex_lock(&C.lock);
	C.stop = true;
	pthread_mutex_unlock(&C.lock);
	uint64_t one = 1;
	if (write(C.wake, &one, sizeof(one)) < 0)
		log_error("flowlog: cannot stop the collector: %m");
	pthread_join(C.thread, NULL);
	C.running = false;
	while (C.vpcs) {
		struct vstate *vs = C.vpcs;
		C.vpcs = vs->next;
		vstate_close(vs);
	}
	json_decref(C.pic), json_decref(C.acc), json_decref(C.pending);
	C.pic = C.acc = C.pending = NULL;
	close(C.wake);
}
