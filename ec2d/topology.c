/* DescribeTopology: the lab as it is now, from vpcd's Describe* answers and ec2d's own
 * instances, as one JSON document (the data), Graphviz dot text, or an SVG that ec2d lays out
 * itself (regions, then VPCs, then subnets as nested boxes; ENIs and instances inside their
 * subnet; gateways on their VPC's edge; peerings as lines). Its revision is a hash of the
 * JSON, so a page polls for a change cheaply. TopologyRelay is the live page's way in
 * (topology_http.c): a token made at start, and a fixed list of read actions plus the path
 * analysis calls. docs/topology.md. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "cleanup.h"
#include "sbuf.h"
#include "ec2d.h"
#include "log.h"
#include "topology.h"

/* --- the token ---------------------------------------------------------------------------- */

static char token[33];
static pthread_once_t token_once = PTHREAD_ONCE_INIT;

static void token_make(void)
{
	unsigned char r[16];
	if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
		log_error("topology: no random token (%m): the page stays shut");
		return;
	}
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(token + 2 * i, 3, "%02x", r[i]);
}

const char *topology_url(void)
{
	static char url[256];
	pthread_once(&token_once, token_make);
	if (!*http_endpoint || !*token)
		return "";
	snprintf(url, sizeof(url), "%s/topology?token=%s", http_endpoint, token);
	return url;
}

/* Constant time, so that the answer's time tells nothing of the token. */
static bool token_ok(const char *t)
{
	pthread_once(&token_once, token_make);
	size_t n = strlen(token);
	if (!n || !t || strlen(t) != n)
		return false;
	unsigned char d = 0;
	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(t[i] ^ token[i]);
	return d == 0;
}

/* --- text --------------------------------------------------------------------------------- */


/* A dot quoted string's inside. */
static void dq(struct sbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			sb_printf(b, "\\%c", *s);
		else if (*s == '\n')
			sb_printf(b, "\\n");
		else if ((unsigned char)*s >= 0x20)
			sb_printf(b, "%c", *s);
	}
}

/* --- gathering ---------------------------------------------------------------------------- */

/* vpcd's answer to a Describe action: its array under KEY (a new reference). */
static json_t *fetch(const char *region, const char *action, const char *key, struct err *e)
{
	json_t *res = NULL;
	if (vpc_call(region, action, json_object(), &res, e) < 0)
		return NULL;
	json_t *a = json_incref(json_object_get(res, key));
	json_decref(res);
	if (!json_is_array(a)) {
		json_decref(a);
		a = json_array();
	}
	return a;
}

static json_t *find_by(json_t *arr, const char *key, const char *val)
{
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o) if (!strcmp(jstr(o, key), val)) return o;
	return NULL;
}

static const char *tag_name(json_t *o)
{
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(o, "Tags"), i,
			   t) if (!strcmp(jstr(t, "Key"), "Name")) return jstr(t, "Value");
	return "";
}

static const char *proto_name(const char *p)
{
	if (!strcmp(p, "-1"))
		return "all";
	if (!strcmp(p, "6"))
		return "tcp";
	if (!strcmp(p, "17"))
		return "udp";
	if (!strcmp(p, "1"))
		return "icmp";
	return p;
}

static void ports(char *buf, size_t n, json_t *from, json_t *to, const char *proto)
{
	if (!strcmp(proto, "all") || !json_is_integer(from) || json_integer_value(from) < 0) {
		*buf = 0;
		return;
	}
	long long f = json_integer_value(from),
		  t = json_is_integer(to) ? json_integer_value(to) : f;
	if (f == t)
		snprintf(buf, n, " %lld", f);
	else
		snprintf(buf, n, " %lld-%lld", f, t);
}

/* "tcp 22 from 0.0.0.0/0", one string a peer, of a group's permissions. */
static json_t *perm_strings(json_t *perms, bool egress)
{
	json_t *out = json_array(), *p, *x;
	size_t i, j;
	json_array_foreach(perms, i, p)
	{
		const char *proto = proto_name(jstr(p, "IpProtocol"));
		char pr[48];
		ports(pr, sizeof(pr), json_object_get(p, "FromPort"), json_object_get(p, "ToPort"),
		      proto);
		const char *dir = egress ? "to" : "from";
		static const char *const peers[][2] = {{"IpRanges", "CidrIp"},
						       {"Ipv6Ranges", "CidrIpv6"},
						       {"UserIdGroupPairs", "GroupId"},
						       {"PrefixListIds", "PrefixListId"}};
		for (size_t k = 0; k < 4; k++)
			json_array_foreach(json_object_get(p, peers[k][0]), j, x)
			{
				char s[160];
				snprintf(s, sizeof(s), "%s%s %s %s", proto, pr, dir,
					 jstr(x, peers[k][1]));
				json_array_append_new(out, json_string(s));
			}
	}
	return out;
}

static const char *route_target(json_t *r)
{
	static const char *const keys[] = {
	    "GatewayId",  "NatGatewayId",     "VpcPeeringConnectionId",	     "NetworkInterfaceId",
	    "InstanceId", "TransitGatewayId", "EgressOnlyInternetGatewayId", "LocalGatewayId",
	    NULL};
	for (const char *const *k = keys; *k; k++)
		if (*jstr(r, *k))
			return jstr(r, *k);
	return "";
}

/* The route table of a subnet: its explicit association, else its VPC's main table. */
static json_t *subnet_table(json_t *rtbs, const char *vpc, const char *subnet)
{
	size_t i, j;
	json_t *t, *a, *main_t = NULL;
	json_array_foreach(rtbs, i, t)
	{
		if (strcmp(jstr(t, "VpcId"), vpc))
			continue;
		json_array_foreach(json_object_get(t, "Associations"), j, a)
		{
			if (!strcmp(jstr(a, "SubnetId"), subnet))
				return t;
			if (json_is_true(json_object_get(a, "Main")))
				main_t = t;
		}
	}
	return main_t;
}

static bool table_public(json_t *t)
{
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(t, "Routes"), i,
			   r) if (!strcmp(jstr(r, "DestinationCidrBlock"), "0.0.0.0/0") &&
				  !strncmp(jstr(r, "GatewayId"), "igw-", 4) &&
				  strcmp(jstr(r, "State"), "blackhole")) return true;
	return false;
}

static json_t *route_tables_of(json_t *rtbs, const char *vpc)
{
	json_t *out = json_array(), *t, *a, *r;
	size_t i, j;
	json_array_foreach(rtbs, i, t)
	{
		if (strcmp(jstr(t, "VpcId"), vpc))
			continue;
		json_t *subs = json_array(), *routes = json_array();
		bool main_t = false;
		json_array_foreach(json_object_get(t, "Associations"), j, a)
		{
			if (json_is_true(json_object_get(a, "Main")))
				main_t = true;
			else if (*jstr(a, "SubnetId"))
				json_array_append_new(subs, json_string(jstr(a, "SubnetId")));
		}
		json_array_foreach(json_object_get(t, "Routes"), j, r)
		{
			const char *dst = *jstr(r, "DestinationCidrBlock")
					      ? jstr(r, "DestinationCidrBlock")
					  : *jstr(r, "DestinationIpv6CidrBlock")
					      ? jstr(r, "DestinationIpv6CidrBlock")
					      : jstr(r, "DestinationPrefixListId");
			json_array_append_new(routes, json_pack("{s:s, s:s, s:s}", "Destination",
								dst, "Target", route_target(r),
								"State", jstr(r, "State")));
		}
		json_array_append_new(out, json_pack("{s:s, s:b, s:o, s:o}", "RouteTableId",
						     jstr(t, "RouteTableId"), "Main", main_t,
						     "Subnets", subs, "Routes", routes));
	}
	return out;
}

static json_t *acls_of(json_t *acls, const char *vpc)
{
	json_t *out = json_array(), *n, *x;
	size_t i, j;
	json_array_foreach(acls, i, n)
	{
		if (strcmp(jstr(n, "VpcId"), vpc))
			continue;
		json_t *subs = json_array(), *entries = json_array();
		json_array_foreach(json_object_get(n, "Associations"), j, x)
		    json_array_append_new(subs, json_string(jstr(x, "SubnetId")));
		json_array_foreach(json_object_get(n, "Entries"), j, x)
		{
			const char *proto = proto_name(jstr(x, "Protocol"));
			json_t *pr = json_object_get(x, "PortRange");
			char p[48], s[200];
			ports(p, sizeof(p), json_object_get(pr, "From"), json_object_get(pr, "To"),
			      proto);
			json_t *num = json_object_get(x, "RuleNumber");
			char rn[16];
			if (json_integer_value(num) == 32767)
				snprintf(rn, sizeof(rn), "*");
			else
				snprintf(rn, sizeof(rn), "%lld",
					 (long long)json_integer_value(num));
			snprintf(s, sizeof(s), "%s %s %s %s%s %s", rn,
				 json_is_true(json_object_get(x, "Egress")) ? "out" : "in",
				 jstr(x, "RuleAction"), proto, p,
				 *jstr(x, "CidrBlock") ? jstr(x, "CidrBlock")
						       : jstr(x, "Ipv6CidrBlock"));
			json_array_append_new(entries, json_string(s));
		}
		json_array_append_new(out, json_pack("{s:s, s:b, s:o, s:o}", "NetworkAclId",
						     jstr(n, "NetworkAclId"), "IsDefault",
						     json_is_true(json_object_get(n, "IsDefault")),
						     "Subnets", subs, "Entries", entries));
	}
	return out;
}

static const char *acl_of_subnet(json_t *acls, const char *subnet)
{
	size_t i, j;
	json_t *n, *a;
	json_array_foreach(acls, i, n) json_array_foreach(
	    json_object_get(n, "Associations"), j,
	    a) if (!strcmp(jstr(a, "SubnetId"), subnet)) return jstr(n, "NetworkAclId");
	return "";
}

static json_t *eni_json(json_t *n, json_t *instances)
{
	json_t *groups = json_array(), *g, *ins;
	size_t i, j;
	json_array_foreach(json_object_get(n, "Groups"), i, g)
	    json_array_append_new(groups, json_pack("{s:s, s:s}", "GroupId", jstr(g, "GroupId"),
						    "GroupName", jstr(g, "GroupName")));
	const char *id = jstr(n, "NetworkInterfaceId");
	const char *inst = jstr(json_object_get(n, "Attachment"), "InstanceId");
	json_array_foreach(instances, i, ins)
	{
		json_t *x;
		json_array_foreach(json_object_get(ins, "NetworkInterfaces"), j,
				   x) if (!strcmp(jstr(x, "NetworkInterfaceId"), id)) inst =
		    jstr(ins, "InstanceId");
	}
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "NetworkInterfaceId", id,
			      "PrivateIpAddress", jstr(n, "PrivateIpAddress"), "Status",
			      jstr(n, "Status"), "InterfaceType",
			      *jstr(n, "InterfaceType") ? jstr(n, "InterfaceType") : "interface",
			      "Description", jstr(n, "Description"), "SecurityGroups", groups);
	json_t *assoc = json_object_get(n, "Association");
	if (*jstr(assoc, "PublicIp"))
		json_object_set_new(o, "PublicIp", json_string(jstr(assoc, "PublicIp")));
	if (*jstr(assoc, "AllocationId"))
		json_object_set_new(o, "AllocationId", json_string(jstr(assoc, "AllocationId")));
	if (*inst)
		json_object_set_new(o, "InstanceId", json_string(inst));
	return o;
}

static json_t *instance_json(json_t *i)
{
	json_t *enis = json_array(), *x;
	size_t k;
	json_array_foreach(json_object_get(i, "NetworkInterfaces"), k, x)
	    json_array_append_new(enis, json_string(jstr(x, "NetworkInterfaceId")));
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "InstanceId", jstr(i, "InstanceId"),
		      "State", jstr(json_object_get(i, "State"), "Name"), "InstanceType",
		      jstr(i, "InstanceType"), "ImageId", jstr(i, "ImageId"), "PrivateIpAddress",
		      jstr(i, "PrivateIpAddress"), "Name", tag_name(i), "NetworkInterfaces", enis);
	if (*jstr(i, "PublicIpAddress"))
		json_object_set_new(o, "PublicIpAddress", json_string(jstr(i, "PublicIpAddress")));
	return o;
}

static int instances_of(const char *region, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *params = json_object(), *res = NULL;
	if (ec2d_dispatch("DescribeInstances", region, params, -1, &res, e) < 0)
		return -EIO;
	json_t *out = json_array(), *r, *i;
	size_t k, l;
	json_array_foreach(json_object_get(res, "Reservations"), k, r)
	    json_array_foreach(json_object_get(r, "Instances"), l, i) json_array_append(out, i);
	*ret = out;
	return 0;
}

static void peering_add(json_t *peerings, json_t *p)
{
	const char *id = jstr(p, "VpcPeeringConnectionId");
	const char *status = jstr(json_object_get(p, "Status"), "Code");
	if (find_by(peerings, "VpcPeeringConnectionId", id) || !strcmp(status, "deleted") ||
	    !strcmp(status, "rejected") || !strcmp(status, "failed") || !strcmp(status, "expired"))
		return;
	json_t *rq = json_object_get(p, "RequesterVpcInfo"),
	       *ac = json_object_get(p, "AccepterVpcInfo");
	json_array_append_new(peerings,
			      json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}}",
					"VpcPeeringConnectionId", id, "Status", status, "Requester",
					"VpcId", jstr(rq, "VpcId"), "Region", jstr(rq, "Region"),
					"CidrBlock", jstr(rq, "CidrBlock"), "Accepter", "VpcId",
					jstr(ac, "VpcId"), "Region", jstr(ac, "Region"),
					"CidrBlock", jstr(ac, "CidrBlock")));
}

/* One region: its AZs in use and its VPCs, each with everything in it. */
static int region_build(const char *region, json_t *peerings, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *vpcs = fetch(region, "DescribeVpcs", "Vpcs", e);
	if (!vpcs)
		return -EIO;
	if (json_array_size(vpcs) == 0) {
		*ret = json_pack("{s:s, s:[], s:[]}", "RegionName", region, "AvailabilityZones",
				 "Vpcs");
		return 0;
	}
	_cleanup_json_ json_t *subnets = fetch(region, "DescribeSubnets", "Subnets", e);
	_cleanup_json_ json_t *rtbs =
	    subnets ? fetch(region, "DescribeRouteTables", "RouteTables", e) : NULL;
	_cleanup_json_ json_t *igws =
	    rtbs ? fetch(region, "DescribeInternetGateways", "InternetGateways", e) : NULL;
	_cleanup_json_ json_t *nats =
	    igws ? fetch(region, "DescribeNatGateways", "NatGateways", e) : NULL;
	_cleanup_json_ json_t *pcxs =
	    nats ? fetch(region, "DescribeVpcPeeringConnections", "VpcPeeringConnections", e)
		 : NULL;
	_cleanup_json_ json_t *enis =
	    pcxs ? fetch(region, "DescribeNetworkInterfaces", "NetworkInterfaces", e) : NULL;
	_cleanup_json_ json_t *sgs =
	    enis ? fetch(region, "DescribeSecurityGroups", "SecurityGroups", e) : NULL;
	_cleanup_json_ json_t *acls =
	    sgs ? fetch(region, "DescribeNetworkAcls", "NetworkAcls", e) : NULL;
	_cleanup_json_ json_t *insts = NULL;
	if (!acls || instances_of(region, &insts, e) < 0)
		return -EIO;

	json_t *out_vpcs = json_array(), *azs = json_array(), *v, *x, *y;
	size_t i, j, k;
	json_array_foreach(pcxs, i, x) peering_add(peerings, x);
	json_array_foreach(vpcs, i, v)
	{
		const char *vid = jstr(v, "VpcId");
		json_t *gws = json_array(), *ngws = json_array(), *groups = json_array(),
		       *subs = json_array();
		json_array_foreach(igws, j, x) json_array_foreach(
		    json_object_get(x, "Attachments"), k, y) if (!strcmp(jstr(y, "VpcId"), vid))
		    json_array_append_new(gws, json_pack("{s:s, s:s}", "InternetGatewayId",
							 jstr(x, "InternetGatewayId"), "State",
							 jstr(y, "State")));
		json_array_foreach(nats, j, x)
		{
			const char *st = jstr(x, "State");
			if (strcmp(jstr(x, "VpcId"), vid) || !strcmp(st, "deleted"))
				continue;
			json_t *a = json_array_get(json_object_get(x, "NatGatewayAddresses"), 0);
			json_array_append_new(
			    ngws, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "NatGatewayId",
					    jstr(x, "NatGatewayId"), "SubnetId",
					    jstr(x, "SubnetId"), "State", st, "PublicIp",
					    jstr(a, "PublicIp"), "PrivateIp", jstr(a, "PrivateIp"),
					    "NetworkInterfaceId", jstr(a, "NetworkInterfaceId")));
		}
		json_array_foreach(sgs, j, x)
		{
			if (strcmp(jstr(x, "VpcId"), vid))
				continue;
			json_array_append_new(
			    groups,
			    json_pack(
				"{s:s, s:s, s:o, s:o}", "GroupId", jstr(x, "GroupId"), "GroupName",
				jstr(x, "GroupName"), "Ingress",
				perm_strings(json_object_get(x, "IpPermissions"), false), "Egress",
				perm_strings(json_object_get(x, "IpPermissionsEgress"), true)));
		}
		json_t *s;
		json_array_foreach(subnets, j, s)
		{
			if (strcmp(jstr(s, "VpcId"), vid))
				continue;
			const char *sid = jstr(s, "SubnetId"), *az = jstr(s, "AvailabilityZone");
			json_t *t = subnet_table(rtbs, vid, sid), *ne = json_array(),
			       *ni = json_array();
			json_array_foreach(enis, k, x) if (!strcmp(jstr(x, "SubnetId"), sid))
			    json_array_append_new(ne, eni_json(x, insts));
			json_array_foreach(insts, k, x) if (!strcmp(jstr(x, "SubnetId"), sid))
			    json_array_append_new(ni, instance_json(x));
			json_array_append_new(
			    subs,
			    json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:o, s:o}",
				      "SubnetId", sid, "CidrBlock", jstr(s, "CidrBlock"),
				      "AvailabilityZone", az, "AvailabilityZoneId",
				      jstr(s, "AvailabilityZoneId"), "Name", tag_name(s), "Public",
				      table_public(t), "RouteTableId", jstr(t, "RouteTableId"),
				      "NetworkAclId", acl_of_subnet(acls, sid), "NetworkInterfaces",
				      ne, "Instances", ni));
			json_t *zone = find_by(azs, "ZoneName", az);
			if (!zone) {
				zone = json_pack("{s:s, s:s, s:[]}", "ZoneName", az, "ZoneId",
						 jstr(s, "AvailabilityZoneId"), "Subnets");
				json_array_append_new(azs, zone);
			}
			json_array_append_new(json_object_get(zone, "Subnets"), json_string(sid));
		}
		json_array_append_new(
		    out_vpcs,
		    json_pack("{s:s, s:s, s:s, s:b, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "VpcId",
			      vid, "CidrBlock", jstr(v, "CidrBlock"), "Name", tag_name(v),
			      "IsDefault", json_is_true(json_object_get(v, "IsDefault")), "State",
			      jstr(v, "State"), "InternetGateways", gws, "NatGateways", ngws,
			      "RouteTables", route_tables_of(rtbs, vid), "SecurityGroups", groups,
			      "NetworkAcls", acls_of(acls, vid), "Subnets", subs));
	}
	*ret = json_pack("{s:s, s:o, s:o}", "RegionName", region, "AvailabilityZones", azs, "Vpcs",
			 out_vpcs);
	return 0;
}

/* The regions in use are those vpcd has made (describe-lab): asking the others would make them. */
static int topology_build(json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *lab = NULL;
	if (vpc_call("us-east-1", "DescribeLab", json_object(), &lab, e) < 0)
		return -EIO;
	json_t *regions = json_array(), *peerings = json_array(), *r;
	size_t i;
	json_array_foreach(json_object_get(lab, "Regions"), i, r)
	{
		json_t *one = NULL;
		if (region_build(jstr(r, "RegionName"), peerings, &one, e) < 0) {
			json_decref(regions);
			json_decref(peerings);
			return -EIO;
		}
		json_array_append_new(regions, one);
	}
	*ret = json_pack("{s:o, s:o}", "Regions", regions, "Peerings", peerings);
	return 0;
}

/* FNV-1a of the sorted, compact JSON: changes whenever anything drawn changes. */
static void revision_of(json_t *t, char out[static 17])
{
	_cleanup_free_ char *s = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS);
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const char *p = s ? s : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* --- dot ---------------------------------------------------------------------------------- */

static void dot_node(struct sbuf *b, int ind, const char *id, const char *shape, const char *label)
{
	sb_printf(b, "%*s\"", ind, "");
	dq(b, id);
	sb_printf(b, "\" [shape=%s, label=\"", shape);
	dq(b, label);
	sb_printf(b, "\"];\n");
}

static void dot_cluster(struct sbuf *b, int ind, const char *id, const char *label, const char *color)
{
	sb_printf(b, "%*ssubgraph \"cluster_", ind, "");
	dq(b, id);
	sb_printf(b, "\" {\n%*slabel=\"", ind + 2, "");
	dq(b, label);
	sb_printf(b, "\";\n%*scolor=\"%s\";\n", ind + 2, "", color);
}

static char *topology_dot(json_t *t)
{
	struct sbuf b = {0};
	json_t *r, *v, *s, *x, *y;
	size_t i, j, k, l;
	char label[512];
	sb_printf(&b, "digraph topology {\n  compound=true;\n  rankdir=TB;\n  node [fontsize=10, "
		"fontname=\"monospace\"];\n");
	json_array_foreach(json_object_get(t, "Regions"), i, r)
	{
		dot_cluster(&b, 2, jstr(r, "RegionName"), jstr(r, "RegionName"), "#8a99a8");
		json_array_foreach(json_object_get(r, "Vpcs"), j, v)
		{
			const char *vid = jstr(v, "VpcId");
			snprintf(label, sizeof(label), "%s %s%s%s", vid, jstr(v, "CidrBlock"),
				 *jstr(v, "Name") ? " " : "", jstr(v, "Name"));
			dot_cluster(&b, 4, vid, label, "#3c8d40");
			/* The VPC's own node: what peerings and gateways attach to. */
			dot_node(&b, 6, vid, "point", vid);
			json_array_foreach(json_object_get(v, "InternetGateways"), k, x)
			{
				dot_node(&b, 6, jstr(x, "InternetGatewayId"), "house",
					 jstr(x, "InternetGatewayId"));
				sb_printf(&b, "      \"");
				dq(&b, jstr(x, "InternetGatewayId"));
				sb_printf(&b, "\" -> \"");
				dq(&b, vid);
				sb_printf(&b, "\" [dir=none];\n");
			}
			json_array_foreach(json_object_get(v, "RouteTables"), k, x)
			{
				struct sbuf rl = {0};
				sb_printf(&rl, "%s%s", jstr(x, "RouteTableId"),
				    json_is_true(json_object_get(x, "Main")) ? " (main)" : "");
				json_array_foreach(json_object_get(x, "Routes"), l, y) sb_printf(
				    &rl, "\n%s -> %s", jstr(y, "Destination"), jstr(y, "Target"));
				dot_node(&b, 6, jstr(x, "RouteTableId"), "note", rl.s ? rl.s : "");
				free(rl.s);
			}
			json_array_foreach(json_object_get(v, "Subnets"), k, s)
			{
				const char *sid = jstr(s, "SubnetId");
				snprintf(label, sizeof(label), "%s %s %s %s", sid,
					 jstr(s, "CidrBlock"), jstr(s, "AvailabilityZone"),
					 json_is_true(json_object_get(s, "Public")) ? "public"
										    : "private");
				dot_cluster(&b, 6, sid, label,
					    json_is_true(json_object_get(s, "Public")) ? "#2b6cb0"
										       : "#b7791f");
				dot_node(&b, 8, sid, "point", sid);
				json_array_foreach(json_object_get(s, "NetworkInterfaces"), l, x)
				{
					snprintf(label, sizeof(label), "%s\n%s%s%s",
						 jstr(x, "NetworkInterfaceId"),
						 jstr(x, "PrivateIpAddress"),
						 *jstr(x, "PublicIp") ? "\n" : "",
						 jstr(x, "PublicIp"));
					dot_node(&b, 8, jstr(x, "NetworkInterfaceId"), "box",
						 label);
				}
				json_array_foreach(json_object_get(s, "Instances"), l, x)
				{
					snprintf(label, sizeof(label), "%s\n%s %s",
						 jstr(x, "InstanceId"), jstr(x, "InstanceType"),
						 jstr(x, "State"));
					dot_node(&b, 8, jstr(x, "InstanceId"), "component", label);
					size_t m;
					json_t *n;
					json_array_foreach(json_object_get(x, "NetworkInterfaces"),
							   m, n)
					{
						sb_printf(&b, "        \"");
						dq(&b, jstr(x, "InstanceId"));
						sb_printf(&b, "\" -> \"");
						dq(&b, json_string_value(n) ?: "");
						sb_printf(&b, "\";\n");
					}
				}
				json_array_foreach(json_object_get(v, "NatGateways"), l,
						   x) if (!strcmp(jstr(x, "SubnetId"), sid))
				{
					snprintf(label, sizeof(label), "%s\n%s",
						 jstr(x, "NatGatewayId"), jstr(x, "PublicIp"));
					dot_node(&b, 8, jstr(x, "NatGatewayId"), "invhouse", label);
				}
				sb_printf(&b, "      }\n");
				if (*jstr(s, "RouteTableId")) {
					sb_printf(&b, "      \"");
					dq(&b, sid);
					sb_printf(&b, "\" -> \"");
					dq(&b, jstr(s, "RouteTableId"));
					sb_printf(&b, "\" [style=dotted, arrowhead=none];\n");
				}
			}
			sb_printf(&b, "    }\n");
		}
		sb_printf(&b, "  }\n");
	}
	json_array_foreach(json_object_get(t, "Peerings"), i, x)
	{
		sb_printf(&b, "  \"");
		dq(&b, jstr(json_object_get(x, "Requester"), "VpcId"));
		sb_printf(&b, "\" -> \"");
		dq(&b, jstr(json_object_get(x, "Accepter"), "VpcId"));
		sb_printf(&b, "\" [dir=none, style=dashed, label=\"");
		dq(&b, jstr(x, "VpcPeeringConnectionId"));
		sb_printf(&b, " %s\"];\n", jstr(x, "Status"));
	}
	sb_printf(&b, "}\n");
	return b.s;
}

/* --- svg ---------------------------------------------------------------------------------- */

#define PAD 12
#define SUB_W 340
#define ROW 20
#define LINE 14
#define CHAR_W 6.7 /* monospace at 11 px, near enough for boxes around IDs */
#define REGION_HEAD 40
#define VPC_HEAD 46
#define SUB_HEAD 42
#define VPC_GAP 70

static bool drawn(json_t *inst)
{
	return strcmp(jstr(inst, "State"), "terminated") != 0;
}

static bool eni_of_drawn_instance(json_t *s, json_t *eni)
{
	json_t *i = find_by(json_object_get(s, "Instances"), "InstanceId", jstr(eni, "InstanceId"));
	return i && drawn(i);
}

static int subnet_rows(json_t *s)
{
	int n = 0;
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(s, "NetworkInterfaces"), i, x) n++;
	json_array_foreach(json_object_get(s, "Instances"), i, x) n += drawn(x);
	return n;
}

static double subnet_h(json_t *s)
{
	return SUB_HEAD + subnet_rows(s) * ROW + 8;
}

static int vpc_cols(json_t *v)
{
	size_t n = json_array_size(json_object_get(v, "Subnets"));
	return n == 0 ? 1 : n < 3 ? (int)n : 3;
}

static double chip_w(const char *id)
{
	return 14 + strlen(id) * CHAR_W;
}

static double vpc_chips_w(json_t *v)
{
	double w = 0;
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(v, "InternetGateways"), i, x) w +=
	    chip_w(jstr(x, "InternetGatewayId")) + 8;
	json_array_foreach(json_object_get(v, "NatGateways"), i, x) w +=
	    chip_w(jstr(x, "NatGatewayId")) + 8;
	return w;
}

static int vpc_rt_lines(json_t *v)
{
	int n = 0;
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(v, "RouteTables"), i, x) n +=
	    1 + (int)json_array_size(json_object_get(x, "Routes"));
	return n;
}

static double vpc_w(json_t *v)
{
	double w = PAD + vpc_cols(v) * (SUB_W + PAD);
	double head = 40 +
		      (strlen(jstr(v, "VpcId")) + strlen(jstr(v, "CidrBlock")) +
		       strlen(jstr(v, "Name")) + 2) *
			  7.2 +
		      vpc_chips_w(v);
	return fmax(fmax(w, head), 440);
}

static double vpc_h(json_t *v)
{
	json_t *subs = json_object_get(v, "Subnets");
	int cols = vpc_cols(v);
	double h = VPC_HEAD;
	for (size_t r = 0; r * (size_t)cols < json_array_size(subs); r++) {
		double row = 0;
		for (size_t c = 0; c < (size_t)cols && r * cols + c < json_array_size(subs); c++)
			row = fmax(row, subnet_h(json_array_get(subs, r * cols + c)));
		h += row + PAD;
	}
	return h + 6 + vpc_rt_lines(v) * LINE + PAD;
}

struct vpos {
	const char *id;
	double x, y, w, h;
	double band; /* below the region's VPCs: where its peerings run */
	size_t region;
};

/* Peerings with both VPCs in region r: their lines run in a band under its VPCs. */
static size_t region_peerings(json_t *t, json_t *r)
{
	size_t n = 0, i;
	json_t *p, *vpcs = json_object_get(r, "Vpcs");
	json_array_foreach(json_object_get(t, "Peerings"), i, p) n +=
	    find_by(vpcs, "VpcId", jstr(json_object_get(p, "Requester"), "VpcId")) &&
	    find_by(vpcs, "VpcId", jstr(json_object_get(p, "Accepter"), "VpcId"));
	return n;
}

#define PEER_ROW 22

static void svg_text(struct sbuf *b, double x, double y, const char *attrs, const char *text)
{
	sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\"%s%s>", x, y, *attrs ? " " : "", attrs);
	sb_xml(b, text);
	sb_printf(b, "</text>");
}

static void svg_chip(struct sbuf *b, const char *cls, const char *id, double x, double y,
		     const char *fill, const char *stroke, const char *tip)
{
	sb_printf(b, "<g class=\"%s\" data-id=\"", cls);
	sb_xml(b, id);
	sb_printf(b, "\"><title>");
	sb_xml(b, tip);
	sb_printf(b,
	    "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"22\" rx=\"11\" "
	    "fill=\"%s\" stroke=\"%s\"/>",
	    x, y, chip_w(id), fill, stroke);
	svg_text(b, x + 7, y + 15, "font-family=\"monospace\" font-size=\"11\"", id);
	sb_printf(b, "</g>\n");
}

static const char *state_fill(const char *state)
{
	if (!strcmp(state, "running"))
		return "#c6f6d5";
	if (!strcmp(state, "pending"))
		return "#fefcbf";
	if (!strcmp(state, "stopped") || !strcmp(state, "stopping"))
		return "#e2e8f0";
	return "#fed7d7";
}

static void svg_eni(struct sbuf *b, json_t *n, double x, double y, double w)
{
	char line[256], tip[1024];
	const char *pub = jstr(n, "PublicIp");
	snprintf(line, sizeof(line), "%s %s%s%s%s", jstr(n, "NetworkInterfaceId"),
		 jstr(n, "PrivateIpAddress"), *pub ? " \xe2\x87\x84 " : "", pub,
		 strcmp(jstr(n, "InterfaceType"), "interface") ? " (nat)" : "");
	size_t off = (size_t)snprintf(tip, sizeof(tip), "%s %s", jstr(n, "NetworkInterfaceId"),
				      jstr(n, "Status"));
	size_t i;
	json_t *g;
	json_array_foreach(json_object_get(n, "SecurityGroups"), i, g) if (off < sizeof(tip)) off +=
	    (size_t)snprintf(tip + off, sizeof(tip) - off, "%s%s (%s)",
			     i ? ", " : "\nsecurity groups: ", jstr(g, "GroupId"),
			     jstr(g, "GroupName"));
	sb_printf(b, "<g class=\"eni\" data-id=\"");
	sb_xml(b, jstr(n, "NetworkInterfaceId"));
	sb_printf(b, "\" cursor=\"pointer\"><title>");
	sb_xml(b, tip);
	sb_printf(b,
	    "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" rx=\"3\" "
	    "fill=\"#ffffff\" "
	    "stroke=\"#718096\"/>",
	    x, y + 1, w, ROW - 3);
	svg_text(b, x + 6, y + 13, "font-family=\"monospace\" font-size=\"11\"", line);
	sb_printf(b, "</g>\n");
}

static void svg_subnet(struct sbuf *b, json_t *s, double x, double y)
{
	bool pub = json_is_true(json_object_get(s, "Public"));
	double h = subnet_h(s), ry = y + SUB_HEAD;
	char line[256];
	sb_printf(b, "<g class=\"subnet %s\" data-id=\"", pub ? "public" : "private");
	sb_xml(b, jstr(s, "SubnetId"));
	sb_printf(b,
	    "\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" rx=\"6\" fill=\"%s\" "
	    "stroke=\"%s\"/>",
	    x, y, SUB_W, h, pub ? "#e8f1fb" : "#fff7e6", pub ? "#2b6cb0" : "#b7791f");
	snprintf(line, sizeof(line), "%s %s%s%s", jstr(s, "SubnetId"), pub ? "public" : "private",
		 *jstr(s, "Name") ? " " : "", jstr(s, "Name"));
	svg_text(b, x + 8, y + 16, "font-weight=\"bold\"", line);
	snprintf(line, sizeof(line), "%s  %s  %s", jstr(s, "CidrBlock"),
		 jstr(s, "AvailabilityZone"), jstr(s, "NetworkAclId"));
	svg_text(b, x + 8, y + 32, "font-size=\"11\"", line);
	size_t i, j;
	json_t *n, *in;
	json_array_foreach(json_object_get(s, "Instances"), i, in)
	{
		if (!drawn(in))
			continue;
		int nrows = 1;
		json_array_foreach(json_object_get(s, "NetworkInterfaces"), j, n) nrows +=
		    !strcmp(jstr(n, "InstanceId"), jstr(in, "InstanceId"));
		sb_printf(b, "<g class=\"instance\" data-id=\"");
		sb_xml(b, jstr(in, "InstanceId"));
		sb_printf(b, "\" data-state=\"");
		sb_xml(b, jstr(in, "State"));
		sb_printf(b,
		    "\" cursor=\"pointer\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" "
		    "rx=\"4\" fill=\"%s\" "
		    "stroke=\"#2f855a\"/>",
		    x + 6, ry, SUB_W - 12, nrows * ROW, state_fill(jstr(in, "State")));
		snprintf(line, sizeof(line), "%s %s %s%s%s", jstr(in, "InstanceId"),
			 jstr(in, "InstanceType"), jstr(in, "State"), *jstr(in, "Name") ? " " : "",
			 jstr(in, "Name"));
		svg_text(b, x + 12, ry + 14,
			 "font-family=\"monospace\" font-size=\"11\" font-weight=\"bold\"", line);
		sb_printf(b, "</g>\n");
		ry += ROW;
		json_array_foreach(json_object_get(s, "NetworkInterfaces"), j,
				   n) if (!strcmp(jstr(n, "InstanceId"), jstr(in, "InstanceId")))
		{
			svg_eni(b, n, x + 18, ry, SUB_W - 30);
			ry += ROW;
		}
	}
	json_array_foreach(json_object_get(s, "NetworkInterfaces"), j,
			   n) if (!eni_of_drawn_instance(s, n))
	{
		svg_eni(b, n, x + 6, ry, SUB_W - 12);
		ry += ROW;
	}
	sb_printf(b, "</g>\n");
}

static void svg_vpc(struct sbuf *b, json_t *v, double x, double y, struct vpos *pos)
{
	double w = vpc_w(v), h = vpc_h(v);
	char line[256];
	pos->id = jstr(v, "VpcId"), pos->x = x, pos->y = y, pos->w = w, pos->h = h;
	sb_printf(b, "<g class=\"vpc\" data-id=\"");
	sb_xml(b, jstr(v, "VpcId"));
	sb_printf(b,
	    "\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"8\" "
	    "fill=\"#eef7ee\" "
	    "stroke=\"#3c8d40\" stroke-width=\"1.5\"/>",
	    x, y, w, h);
	snprintf(line, sizeof(line), "%s %s%s%s", jstr(v, "VpcId"), jstr(v, "CidrBlock"),
		 *jstr(v, "Name") ? " " : "", jstr(v, "Name"));
	svg_text(b, x + 10, y + 24, "font-weight=\"bold\" font-size=\"13\"", line);
	json_t *subs = json_object_get(v, "Subnets"), *s, *x1, *x2;
	int cols = vpc_cols(v);
	double sy = y + VPC_HEAD;
	/* Subnet tops, for the NAT gateways' lines. */
	size_t nsub = json_array_size(subs);
	double *tops = calloc(nsub ? nsub * 2 : 1, sizeof(double));
	if (!tops)
		abort();
	for (size_t r = 0; r * (size_t)cols < nsub; r++) {
		double row = 0;
		for (size_t c = 0; c < (size_t)cols && r * cols + c < nsub; c++) {
			s = json_array_get(subs, r * cols + c);
			double sx = x + PAD + c * (SUB_W + PAD);
			svg_subnet(b, s, sx, sy);
			tops[2 * (r * cols + c)] = sx + SUB_W / 2.0,
					     tops[2 * (r * cols + c) + 1] = sy;
			row = fmax(row, subnet_h(s));
		}
		sy += row + PAD;
	}
	/* Route tables under the subnets. */
	size_t i, j;
	sy += 4;
	json_array_foreach(json_object_get(v, "RouteTables"), i, x1)
	{
		sb_printf(b, "<g class=\"route-table\" data-id=\"");
		sb_xml(b, jstr(x1, "RouteTableId"));
		sb_printf(b, "\">");
		struct sbuf l = {0};
		sb_printf(&l, "%s%s", jstr(x1, "RouteTableId"),
		    json_is_true(json_object_get(x1, "Main")) ? " (main)" : "");
		json_array_foreach(json_object_get(x1, "Subnets"), j, x2)
		    sb_printf(&l, "%s%s", j ? ", " : ": ", json_string_value(x2) ?: "");
		svg_text(b, x + 10, sy + 11,
			 "font-family=\"monospace\" font-size=\"11\" font-weight=\"bold\"", l.s);
		free(l.s);
		sy += LINE;
		json_array_foreach(json_object_get(x1, "Routes"), j, x2)
		{
			snprintf(line, sizeof(line), "%-18s \xe2\x86\x92 %s%s%s",
				 jstr(x2, "Destination"), jstr(x2, "Target"),
				 strcmp(jstr(x2, "State"), "active") ? " " : "",
				 strcmp(jstr(x2, "State"), "active") ? jstr(x2, "State") : "");
			svg_text(
			    b, x + 22, sy + 11,
			    "font-family=\"monospace\" font-size=\"11\" xml:space=\"preserve\"",
			    line);
			sy += LINE;
		}
		sb_printf(b, "</g>\n");
	}
	/* Gateways on the top edge, from the right. */
	double cx = x + w - 12;
	json_array_foreach(json_object_get(v, "InternetGateways"), i, x1)
	{
		const char *id = jstr(x1, "InternetGatewayId");
		cx -= chip_w(id);
		snprintf(line, sizeof(line), "internet gateway %s, %s", id, jstr(x1, "State"));
		svg_chip(b, "igw", id, cx, y - 11, "#fde68a", "#92400e", line);
		cx -= 8;
	}
	json_array_foreach(json_object_get(v, "NatGateways"), i, x1)
	{
		const char *id = jstr(x1, "NatGatewayId");
		cx -= chip_w(id);
		for (size_t k = 0; k < nsub; k++)
			if (!strcmp(jstr(json_array_get(subs, k), "SubnetId"),
				    jstr(x1, "SubnetId")))
				sb_printf(b,
				    "<line class=\"nat-link\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
				    "y2=\"%.1f\" stroke=\"#6b46c1\" "
				    "stroke-dasharray=\"3 3\"/>\n",
				    cx + chip_w(id) / 2, y + 11, tops[2 * k], tops[2 * k + 1]);
		snprintf(line, sizeof(line), "NAT gateway %s in %s, %s %s (%s)", id,
			 jstr(x1, "SubnetId"), jstr(x1, "PublicIp"), jstr(x1, "PrivateIp"),
			 jstr(x1, "State"));
		svg_chip(b, "natgw", id, cx, y - 11, "#e9d8fd", "#6b46c1", line);
		cx -= 8;
	}
	free(tops);
	sb_printf(b, "</g>\n");
}

static char *topology_svg(json_t *t, const char *rev)
{
	json_t *regions = json_object_get(t, "Regions"), *r, *v;
	size_t i, j, nv = 0;
	double W = 600, H = PAD;
	json_array_foreach(regions, i, r)
	{
		double rw = PAD, rh = 0;
		json_array_foreach(json_object_get(r, "Vpcs"), j, v)
		{
			rw += vpc_w(v) + VPC_GAP;
			rh = fmax(rh, vpc_h(v));
			nv++;
		}
		W = fmax(W, rw - VPC_GAP + 2 * PAD + PAD);
		H += REGION_HEAD + fmax(rh, 20) + PAD + PAD + region_peerings(t, r) * PEER_ROW;
	}
	if (!json_array_size(regions))
		H += 40;
	struct sbuf b = {0};
	struct vpos *pos = calloc(nv ? nv : 1, sizeof(*pos));
	if (!pos)
		abort();
	sb_printf(&b,
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"topology\" data-revision=\"%s\" "
	    "width=\"%.0f\" "
	    "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" "
	    "font-size=\"12\">\n",
	    rev, W, H, W, H);
	sb_printf(&b, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", W, H);
	if (!json_array_size(regions))
		svg_text(&b, PAD, 30, "", "no region in use yet");
	double y = PAD;
	size_t np = 0;
	json_array_foreach(regions, i, r)
	{
		double rw = PAD, rh = 0;
		json_array_foreach(json_object_get(r, "Vpcs"), j, v)
		{
			rw += vpc_w(v) + VPC_GAP;
			rh = fmax(rh, vpc_h(v));
		}
		rw = fmax(rw - VPC_GAP + PAD, 300);
		double band = y + REGION_HEAD + fmax(rh, 20) + 4;
		rh = REGION_HEAD + fmax(rh, 20) + PAD + region_peerings(t, r) * PEER_ROW;
		sb_printf(&b, "<g class=\"region\" data-id=\"");
		sb_xml(&b, jstr(r, "RegionName"));
		sb_printf(&b,
		    "\"><rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"10\" "
		    "fill=\"#f4f6f8\" "
		    "stroke=\"#8a99a8\" stroke-width=\"1.5\"/>",
		    PAD, y, rw, rh);
		struct sbuf l = {0};
		sb_printf(&l, "%s", jstr(r, "RegionName"));
		size_t k;
		json_t *z;
		json_array_foreach(json_object_get(r, "AvailabilityZones"), k, z)
		    sb_printf(&l, "%s%s", k ? ", " : "  zones: ", jstr(z, "ZoneName"));
		svg_text(&b, PAD + 10, y + 20, "font-weight=\"bold\" font-size=\"14\"", l.s);
		free(l.s);
		if (!json_array_size(json_object_get(r, "Vpcs")))
			svg_text(&b, PAD + 10, y + 44, "fill=\"#718096\"", "no VPC");
		double x = 2 * PAD;
		json_array_foreach(json_object_get(r, "Vpcs"), j, v)
		{
			pos[np].band = band, pos[np].region = i;
			svg_vpc(&b, v, x, y + REGION_HEAD, &pos[np++]);
			x += vpc_w(v) + VPC_GAP;
		}
		sb_printf(&b, "</g>\n");
		y += rh + PAD;
	}
	/* Peerings last, over the boxes. */
	json_t *p;
	size_t *used = calloc(json_array_size(regions) + 1, sizeof(*used));
	if (!used)
		abort();
	json_array_foreach(json_object_get(t, "Peerings"), i, p)
	{
		struct vpos *a = NULL, *c = NULL;
		for (size_t k = 0; k < np; k++) {
			if (!strcmp(pos[k].id, jstr(json_object_get(p, "Requester"), "VpcId")))
				a = &pos[k];
			if (!strcmp(pos[k].id, jstr(json_object_get(p, "Accepter"), "VpcId")))
				c = &pos[k];
		}
		if (!a || !c || a == c)
			continue;
		const char *st = jstr(p, "Status");
		char line[160], path[256];
		double mx, my;
		snprintf(line, sizeof(line), "%s %s", jstr(p, "VpcPeeringConnectionId"), st);
		if (a->region == c->region) {
			/* Down from each VPC's bottom into the band under the region's VPCs, and
			 * across. */
			double by = a->band + PEER_ROW * (double)used[a->region]++ + PEER_ROW / 2.0;
			double x1 = a->x + a->w / 2, x2 = c->x + c->w / 2;
			snprintf(path, sizeof(path), "M %.1f %.1f V %.1f H %.1f V %.1f", x1,
				 a->y + a->h, by, x2, c->y + c->h);
			mx = (x1 + x2) / 2, my = by;
		} else {
			/* Another region: from the bottom of the upper VPC to the top of the lower.
			 */
			if (a->y > c->y) {
				struct vpos *sw = a;
				a = c, c = sw;
			}
			double x1 = a->x + a->w / 2, y1 = a->y + a->h, x2 = c->x + c->w / 2,
			       y2 = c->y;
			snprintf(path, sizeof(path), "M %.1f %.1f L %.1f %.1f", x1, y1, x2, y2);
			mx = (x1 + x2) / 2, my = (y1 + y2) / 2;
		}
		sb_printf(&b, "<g class=\"peering\" data-id=\"");
		sb_xml(&b, jstr(p, "VpcPeeringConnectionId"));
		sb_printf(&b,
		    "\"><path d=\"%s\" fill=\"none\" stroke=\"#c05621\" stroke-width=\"2.5\"%s/>",
		    path, strcmp(st, "active") ? " stroke-dasharray=\"6 4\"" : "");
		sb_printf(&b,
		    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"16\" fill=\"#fffaf0\" "
		    "stroke=\"#c05621\" rx=\"3\"/>",
		    mx - strlen(line) * 3.1 - 4, my - 8, strlen(line) * 6.2 + 8);
		svg_text(&b, mx, my + 4,
			 "text-anchor=\"middle\" font-family=\"monospace\" font-size=\"10\"", line);
		sb_printf(&b, "</g>\n");
	}
	sb_printf(&b, "</svg>\n");
	free(used);
	free(pos);
	return b.s;
}

/* --- the actions -------------------------------------------------------------------------- */

int h_describe_topology(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *fmt =
	    json_object_get(rq->params, "Format") ? jstr(rq->params, "Format") : "json";
	if (strcmp(fmt, "json") && strcmp(fmt, "dot") && strcmp(fmt, "svg"))
		return err_set(e, "InvalidParameterValue",
			       "Invalid value '%s' for Format: json, dot or svg", fmt);
	json_t *since = json_object_get(rq->params, "Since");
	if (since && !json_is_string(since))
		return err_set(e, "InvalidParameterValue", "Since is a revision, a string");
	_cleanup_json_ json_t *t = NULL;
	if (topology_build(&t, e) < 0) {
		if (!err_isset(e))
			err_set(e, "InternalError", "the topology cannot be gathered");
		return -EIO;
	}
	char rev[17];
	revision_of(t, rev);
	if (since && !strcmp(json_string_value(since), rev)) {
		*ret = json_pack("{s:s, s:b}", "Revision", rev, "Unchanged", true);
		return 0;
	}
	if (!strcmp(fmt, "json")) {
		*ret = json_pack("{s:s, s:O}", "Revision", rev, "Topology", t);
		return 0;
	}
	char *text = !strcmp(fmt, "dot") ? topology_dot(t) : topology_svg(t, rev);
	*ret = json_pack("{s:s, s:s}", "Revision", rev, !strcmp(fmt, "dot") ? "Dot" : "Svg",
			 text ? text : "");
	/* The page draws the SVG and reads the objects' details from the data beside it. */
	if (json_is_true(json_object_get(rq->params, "WithData")))
		json_object_set(*ret, "Topology", t);
	free(text);
	return 0;
}

/* What the page may ask, through the api front: reads, and the path analysis. */
static const char *const relay_calls[] = {"DescribeTopology",
					  "DescribeNetworkInterfaces",
					  "DescribeSecurityGroups",
					  "DescribeSecurityGroupRules",
					  "DescribeNetworkAcls",
					  "DescribeSubnets",
					  "DescribeVpcs",
					  "DescribeRouteTables",
					  "DescribeInstances",
					  "DescribeFlowLogs",
					  "DescribeLogGroups",
					  "DescribeLogStreams",
					  "GetLogEvents",
					  "FilterLogEvents",
					  "CreateNetworkInsightsPath",
					  "StartNetworkInsightsAnalysis",
					  "DescribeNetworkInsightsPaths",
					  "DescribeNetworkInsightsAnalyses",
					  NULL};

int h_topology_relay(struct ereq *rq, json_t **ret, struct err *e)
{
	if (!token_ok(json_string_value(json_object_get(rq->params, "Token"))))
		return err_set(e, "AccessDenied", "The topology page's token is missing or wrong");
	const char *call = jstr(rq->params, "Call");
	if (!strcmp(call, "Hello")) {
		*ret = json_object();
		return 0;
	}
	const char *const *c;
	for (c = relay_calls; *c && strcmp(*c, call); c++)
		;
	if (!*c)
		return err_set(e, "InvalidAction", "The topology page may not call '%s'", call);
	const char *region =
	    json_object_get(rq->params, "Region") ? jstr(rq->params, "Region") : rq->region;
	size_t n = strlen(region);
	if (n == 0 || n > 31 || strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
		return err_set(e, "InvalidParameterValue", "Invalid region '%s'", region);
	json_t *p = json_object_get(rq->params, "Params");
	if (p && !json_is_object(p))
		return err_set(e, "InvalidParameterValue", "Params is an object");
	_cleanup_json_ json_t *params = p ? json_deep_copy(p) : json_object();
	if (!params)
		return err_set(e, "InternalError", "out of memory");
	return ec2d_dispatch(call, region, params, -1, ret, e);
}

/* describe-topology --format dot|svg prints the text alone. */
void topology_present(json_t *result)
{
	const char *text = json_object_get(result, "Svg")   ? jstr(result, "Svg")
			   : json_object_get(result, "Dot") ? jstr(result, "Dot")
							    : NULL;
	if (!text)
		return;
	fputs(text, stdout);
	json_object_clear(result);
}
