/* Path analysis, as AWS Reachability Analyzer: network insights paths and analyses as model
 * objects, an analysis that walks the model as the kernel of docs/architecture.md would, and
 * (beyond AWS) a proof that sends the flow through the real dataplane. docs/insights.md says
 * what is analysed and what is left out. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "cleanup.h"
#include "netns.h"
#include "vpcd.h"

#define EPHEMERAL_LO 1024 /* source ports an analysis tries when none are given (as AWS) */
#define EPHEMERAL_HI 65535
#define MAX_SEGMENTS 8  /* VPCs, NAT gateways and gateways one path may cross */
#define MAX_CANDIDATES 64
#define PROVE_TAG "vpclab:prove"
#define PROOF_TIMEOUT_MS 1000

static const struct filter_map path_filters[] = {
	{"source", "Source"},
	{"destination", "Destination"},
	{"protocol", "Protocol"},
	{"destination-port", "DestinationPort"},
	{"filter-at-source.source-address", "FilterAtSource.SourceAddress"},
	{"filter-at-source.destination-address", "FilterAtSource.DestinationAddress"},
	{"filter-at-destination.source-address", "FilterAtDestination.SourceAddress"},
	{"filter-at-destination.destination-address", "FilterAtDestination.DestinationAddress"},
	{NULL, NULL}};

static const struct filter_map analysis_filters[] = {
	{"path-found", "NetworkPathFound"},
	{"status", "Status"},
	{"network-insights-path-id", "NetworkInsightsPathId"},
	{NULL, NULL}};

/* ------------------------------------------------------------------ the packet and the walk */

struct pkt {
	uint32_t src, dst;
	int proto; /* 6 or 17 */
	uint32_t sport_lo, sport_hi, dport;
};

enum outcome { O_BLOCKED, O_ENI, O_IGW, O_PCX, O_NAT };

struct out {
	enum outcome kind;
	json_t *obj; /* the ENI, gateway or peering reached (borrowed) */
};

struct an {
	const char *region;
	json_t *list; /* the path components being written (forward or return) */
	json_t *expl; /* explanations */
	int seq;
	bool reply;  /* the return path: security groups pass it (conntrack) */
	char why[512];   /* the first failure, in plain words */
	char allow[512]; /* what let the flow in at the destination, in plain words */
	uint32_t cands[MAX_CANDIDATES]; /* port boundaries of the rules met (see port_search) */
	int ncands;
};

static const char *proto_name(int p) { return p == 6 ? "tcp" : p == 17 ? "udp" : "?"; }

static void cand_add(struct an *a, long long port)
{
	if (port < 0 || port > 65535 || a->ncands >= MAX_CANDIDATES)
		return;
	for (int i = 0; i < a->ncands; i++)
		if (a->cands[i] == (uint32_t)port)
			return;
	a->cands[a->ncands++] = (uint32_t)port;
}

static void arn_of(const char *region, const char *id, char *buf, size_t n)
{
	const struct kind *k = kind_of_id(id);
	snprintf(buf, n, "arn:aws:ec2:%s:%s:%s/%s", region, OWNER_ID, k ? k->resource_type : "resource", id);
}

static json_t *comp(struct an *a, const char *id)
{
	char arn[160];
	arn_of(a->region, id, arn, sizeof(arn));
	return json_pack("{s:s, s:s}", "Id", id, "Arn", arn);
}

/* A new path component for `id` (borrowed, in the list). */
static json_t *hop(struct an *a, const char *id)
{
	json_t *h = json_pack("{s:i, s:o}", "SequenceNumber", ++a->seq, "Component", comp(a, id));
	json_array_append_new(a->list, h);
	return h;
}

static json_t *port_range(long long from, long long to)
{
	return json_pack("{s:I, s:I}", "From", (json_int_t)from, "To", (json_int_t)to);
}

static json_t *header(const struct pkt *p, bool reply)
{
	char s[IP_STRLEN], d[IP_STRLEN], pr[8];
	ip_format(p->src, s), ip_format(p->dst, d);
	snprintf(pr, sizeof(pr), "%d", p->proto);
	/* Going out the source ports are a range; coming back they are the destination's. */
	json_t *sp = reply ? port_range(p->dport, p->dport) : port_range(p->sport_lo, p->sport_hi);
	json_t *dp = reply ? port_range(p->sport_lo, p->sport_hi) : port_range(p->dport, p->dport);
	return json_pack("{s:[s], s:[o], s:s, s:[s], s:[o]}", "DestinationAddresses", d, "DestinationPortRanges", dp,
			 "Protocol", pr, "SourceAddresses", s, "SourcePortRanges", sp);
}

static void fail(struct an *a, const char *code, json_t *fields, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail(struct an *a, const char *code, json_t *fields, const char *fmt, ...)
{
	json_object_set_new(fields, "ExplanationCode", json_string(code));
	json_array_append_new(a->expl, fields);
	if (!a->why[0]) {
		va_list ap;
		int n = snprintf(a->why, sizeof(a->why), "%s", a->reply ? "blocked on the way back: " : "blocked: ");
		va_start(ap, fmt);
		vsnprintf(a->why + n, sizeof(a->why) - (size_t)n, fmt, ap);
		va_end(ap);
	}
}

/* ------------------------------------------------------------------ model look-ups */

static bool cidr_has(const char *text, uint32_t ip)
{
	struct cidr c;
	return cidr_parse(text, &c) == 0 && cidr_contains_ip(&c, ip);
}

static json_t *subnet_of_ip(const char *vpc_id, uint32_t ip)
{
	const char *id;
	json_t *o;
	obj_foreach_vpc("subnet", vpc_id, id, o) if (cidr_has(jstr(o, "CidrBlock"), ip)) return o;
	return NULL;
}

/* The ENI holding `ip` in the VPC, through the address index. */
static json_t *eni_by_ip(const char *vpc_id, uint32_t ip)
{
	json_t *s = subnet_of_ip(vpc_id, ip);
	char key[96], a[IP_STRLEN];
	if (!s)
		return NULL;
	ip_format(ip, a);
	snprintf(key, sizeof(key), "%s %s", jstr(s, "SubnetId"), a);
	return obj_get_type(jstr(V->addr_owner, key), "eni");
}

static uint32_t eni_ip(json_t *eni)
{
	uint32_t ip = 0;
	ip_parse(jstr(eni, "PrivateIpAddress"), &ip);
	return ip;
}

static bool is_natgw_eni(json_t *eni) { return !strcmp(jstr(eni, "InterfaceType"), "nat_gateway"); }

/* The ENI of an instance, through the ENIs' attachments (ec2d keeps the instances). */
static json_t *instance_eni(const char *instance_id, const char *region)
{
	const char *id;
	json_t *o;
	obj_foreach("eni", region, id, o) if (!strcmp(jstr(json_object_get(o, "Attachment"), "InstanceId"), instance_id)) return o;
	return NULL;
}

static json_t *internet_host_of(const char *region, uint32_t *ret)
{
	struct cidr pool;
	if (region_pool(region, &pool) < 0)
		return NULL;
	*ret = region_internet_host(&pool);
	return json_true();
}

/* ------------------------------------------------------------------ rules */

/* A network ACL's verdict, first match in rule-number order (firewall.c's chain). */
static json_t *acl_match(struct an *a, json_t *acl, bool egress, uint32_t peer, int proto, uint32_t port)
{
	json_t *best = NULL, *entry;
	size_t i;
	json_array_foreach(json_object_get(acl, "Entries"), i, entry)
	{
		long long num = json_integer_value(json_object_get(entry, "RuleNumber"));
		if (json_is_true(json_object_get(entry, "Egress")) != egress || num >= 32767)
			continue;
		const char *pr = jstr(entry, "Protocol");
		if (strcmp(pr, "-1") != 0 && atoi(pr) != proto)
			continue;
		if (!cidr_has(jstr(entry, "CidrBlock"), peer))
			continue;
		if (atoi(pr) == 6 || atoi(pr) == 17) {
			json_t *r = json_object_get(entry, "PortRange");
			long long from = json_integer_value(json_object_get(r, "From"));
			long long to = json_integer_value(json_object_get(r, "To"));
			cand_add(a, from), cand_add(a, to + 1);
			if ((long long)port < from || (long long)port > to)
				continue;
		}
		if (!best || num < json_integer_value(json_object_get(best, "RuleNumber")))
			best = entry;
	}
	return best;
}

static json_t *acl_rule_json(json_t *entry, bool egress)
{
	if (!entry)
		return json_pack("{s:s, s:b, s:s, s:s, s:i}", "Cidr", "0.0.0.0/0", "Egress", egress, "Protocol", "-1",
				 "RuleAction", "deny", "RuleNumber", 32767);
	json_t *r = json_pack("{s:s, s:b, s:s, s:s, s:I}", "Cidr", jstr(entry, "CidrBlock"), "Egress", egress,
			      "Protocol", jstr(entry, "Protocol"), "RuleAction", jstr(entry, "RuleAction"),
			      "RuleNumber", json_integer_value(json_object_get(entry, "RuleNumber")));
	json_t *pr = json_object_get(entry, "PortRange");
	if (pr)
		json_object_set(r, "PortRange", pr);
	return r;
}

/* Passes the packet through the subnet's network ACL in one direction; false if it is
 * dropped (the explanation is written). */
static bool acl_pass(struct an *a, const struct pkt *p, json_t *subnet, json_t *vpc, bool egress)
{
	json_t *acl = subnet_acl(jstr(subnet, "SubnetId"));
	if (!acl)
		return true; /* no ACL, no chain: the kernel passes it */
	uint32_t peer = egress ? p->dst : p->src;
	uint32_t port = a->reply ? p->sport_lo : p->dport;
	json_t *entry = acl_match(a, acl, egress, peer, p->proto, port);
	bool allow = entry && !strcmp(jstr(entry, "RuleAction"), "allow");
	json_t *h = hop(a, jstr(acl, "NetworkAclId"));
	json_object_set_new(h, "AclRule", acl_rule_json(entry, egress));
	if (allow)
		return true;
	json_t *f = json_pack("{s:o, s:o, s:s, s:o, s:o}", "Acl", comp(a, jstr(acl, "NetworkAclId")), "AclRule",
			      acl_rule_json(entry, egress), "Direction", egress ? "egress" : "ingress", "Subnet",
			      comp(a, jstr(subnet, "SubnetId")), "Vpc", comp(a, jstr(vpc, "VpcId")));
	char num[16];
	if (entry)
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(json_object_get(entry, "RuleNumber")));
	else
		snprintf(num, sizeof(num), "* (32767)");
	char peer_s[IP_STRLEN];
	ip_format(peer, peer_s);
	fail(a, "SUBNET_ACL_RESTRICTION", f, "network ACL %s (subnet %s) rule %s denies %s %u %s %s %s",
	     jstr(acl, "NetworkAclId"), jstr(subnet, "SubnetId"), num, proto_name(p->proto), port,
	     egress ? "outbound" : "inbound", egress ? "to" : "from", peer_s);
	return false;
}

/* Whether a security group rule (the model's _rules entry) matches, as firewall.c's sets do. */
static bool sg_rule_match(struct an *a, json_t *r, uint32_t peer, int proto, uint32_t port, const char *vpc_id)
{
	const char *pr = jstr(r, "Proto");
	if (!strcmp(pr, "tcp") || !strcmp(pr, "udp")) {
		if ((pr[0] == 't') != (proto == 6))
			return false;
		long long from = json_integer_value(json_object_get(r, "From"));
		long long to = json_integer_value(json_object_get(r, "To"));
		cand_add(a, from), cand_add(a, to + 1);
		if ((long long)port < from || (long long)port > to)
			return false;
	} else if (!strcmp(pr, "icmp")) {
		return false;
	} else if (strcmp(pr, "-1") != 0 && atoi(pr) != proto) {
		return false;
	}
	if (*jstr(r, "Cidr"))
		return cidr_has(jstr(r, "Cidr"), peer);
	/* A group reference: the peer's groups by number, in this VPC only (the slot maps). */
	json_t *pe = eni_by_ip(vpc_id, peer), *g;
	size_t i;
	if (!pe || is_natgw_eni(pe))
		return false;
	json_array_foreach(json_object_get(pe, "Groups"), i, g) if (i < MAX_GROUPS_PER_ENI &&
								    !strcmp(jstr(g, "GroupId"), jstr(r, "Group"))) return true;
	return false;
}

static bool sg_pass(struct an *a, const struct pkt *p, json_t *eni, json_t *vpc, bool egress)
{
	const char *vpc_id = jstr(vpc, "VpcId");
	uint32_t peer = egress ? p->dst : p->src;
	json_t *g, *r;
	size_t i, j;
	json_array_foreach(json_object_get(eni, "Groups"), i, g)
	{
		json_t *sg = obj_get(jstr(g, "GroupId"));
		json_array_foreach(json_object_get(sg, "_rules"), j, r)
		{
			if (json_is_true(json_object_get(r, "Egress")) != egress ||
			    !sg_rule_match(a, r, peer, p->proto, p->dport, vpc_id))
				continue;
			json_t *h = hop(a, jstr(sg, "GroupId"));
			json_t *rule = json_pack("{s:s, s:s, s:s}", "Direction", egress ? "egress" : "ingress",
						 "SecurityGroupId", jstr(sg, "GroupId"), "Protocol", jstr(r, "Proto"));
			if (*jstr(r, "Cidr"))
				json_object_set_new(rule, "Cidr", json_string(jstr(r, "Cidr")));
			if (!strcmp(jstr(r, "Proto"), "tcp") || !strcmp(jstr(r, "Proto"), "udp"))
				json_object_set_new(rule, "PortRange",
						    port_range(json_integer_value(json_object_get(r, "From")),
							       json_integer_value(json_object_get(r, "To"))));
			json_object_set_new(h, "SecurityGroupRule", rule);
			if (!egress) {
				char what[96];
				if (*jstr(r, "Cidr"))
					snprintf(what, sizeof(what), "from %s", jstr(r, "Cidr"));
				else
					snprintf(what, sizeof(what), "from members of %s", jstr(r, "Group"));
				snprintf(a->allow, sizeof(a->allow), "security group %s of %s allows %s inbound %s",
					 jstr(sg, "GroupId"), jstr(eni, "NetworkInterfaceId"),
					 !strcmp(jstr(r, "Proto"), "-1") ? "all traffic" : jstr(r, "Proto"), what);
			}
			return true;
		}
	}
	json_t *groups = json_array();
	json_array_foreach(json_object_get(eni, "Groups"), i, g) json_array_append_new(groups, comp(a, jstr(g, "GroupId")));
	json_t *f = json_pack("{s:s, s:o, s:o, s:o, s:o}", "Direction", egress ? "egress" : "ingress",
			      "NetworkInterface", comp(a, jstr(eni, "NetworkInterfaceId")), "SecurityGroups", groups,
			      "Subnet", comp(a, jstr(eni, "SubnetId")), "Vpc", comp(a, vpc_id));
	char peer_s[IP_STRLEN];
	ip_format(peer, peer_s);
	fail(a, "ENI_SG_RULES_MISMATCH", f, "no security group of %s allows %s %u %s %s %s",
	     jstr(eni, "NetworkInterfaceId"), proto_name(p->proto), p->dport, egress ? "outbound" : "inbound",
	     egress ? "to" : "from", peer_s);
	return false;
}

static json_t *route_json(json_t *route, bool active)
{
	json_t *r = json_pack("{s:s, s:s, s:s}", "DestinationCidr", jstr(route, "DestinationCidrBlock"), "Origin",
			      *jstr(route, "Origin") ? jstr(route, "Origin") : "CreateRoute", "State",
			      active ? "active" : "blackhole");
	const char *key, *t = route_target(route, &key);
	if (*t)
		json_object_set_new(r, key, json_string(t));
	return r;
}

static json_t *local_route(json_t *rtb)
{
	json_t *r;
	size_t i;
	json_array_foreach(json_object_get(rtb, "Routes"), i, r) if (!strcmp(jstr(r, "GatewayId"), "local")) return r;
	return NULL;
}

/* Longest prefix match among a table's routes (the `local` one is the priority-100 rule). */
static json_t *route_lookup(json_t *rtb, uint32_t dst)
{
	json_t *r, *best = NULL;
	int best_len = -1;
	size_t i;
	json_array_foreach(json_object_get(rtb, "Routes"), i, r)
	{
		struct cidr c;
		if (!strcmp(jstr(r, "GatewayId"), "local") || cidr_parse(jstr(r, "DestinationCidrBlock"), &c) < 0 ||
		    !cidr_contains_ip(&c, dst) || c.len <= best_len)
			continue;
		best = r, best_len = c.len;
	}
	return best;
}

/* ------------------------------------------------------------------ one VPC namespace */

/* What the VPC namespace does with the packet: it enters from `from_subnet`'s bridge (NULL:
 * from a gateway or peering link, routed by the main table), is routed, then meets the forward
 * chain of `inet vpclab` (the public-address check, the ACLs, conntrack, the groups) and the
 * bridge's source/dest check. Components are written in that order. */
static void walk_vpc(struct an *a, const struct pkt *p, json_t *vpc, json_t *from_subnet, const char *via,
		     struct out *o)
{
	const char *vpc_id = jstr(vpc, "VpcId");
	json_t *to_subnet = NULL, *to_eni = NULL, *target = NULL, *rtb = NULL;
	char dst_s[IP_STRLEN], src_s[IP_STRLEN];
	ip_format(p->dst, dst_s), ip_format(p->src, src_s);
	o->kind = O_BLOCKED, o->obj = NULL;
	if (from_subnet)
		rtb = subnet_route_table(jstr(from_subnet, "SubnetId"), vpc_id);

	if (cidr_has(jstr(vpc, "CidrBlock"), p->dst)) {
		json_t *local = rtb ? local_route(rtb) : NULL;
		if (rtb && local)
			json_object_set_new(hop(a, jstr(rtb, "RouteTableId")), "RouteTableRoute", route_json(local, true));
		to_subnet = subnet_of_ip(vpc_id, p->dst);
		to_eni = to_subnet ? eni_by_ip(vpc_id, p->dst) : NULL;
		if (!to_eni) {
			fail(a, "NO_ROUTE_TO_DESTINATION",
			     json_pack("{s:s, s:o}", "Address", dst_s, "Vpc", comp(a, vpc_id)),
			     "no network interface of %s holds %s%s", vpc_id, dst_s,
			     to_subnet ? "" : " (it is in no subnet: the main table's blackhole)");
			return;
		}
	} else if (!rtb) {
		/* From a peering or gateway link the main table knows only the VPC: not transitive. */
		fail(a, "NO_ROUTE_TO_DESTINATION",
		     json_pack("{s:s, s:o, s:o}", "Address", dst_s, "Vpc", comp(a, vpc_id), "Component", comp(a, via)),
		     "traffic that enters %s through %s is routed by the VPC's main table, which reaches only %s, not %s",
		     vpc_id, via, jstr(vpc, "CidrBlock"), dst_s);
		return;
	} else {
		json_t *route = route_lookup(rtb, p->dst);
		if (!route) {
			fail(a, "NO_ROUTE_TO_DESTINATION",
			     json_pack("{s:s, s:o, s:o, s:o}", "Address", dst_s, "RouteTable", comp(a, jstr(rtb, "RouteTableId")),
				       "Subnet", comp(a, jstr(from_subnet, "SubnetId")), "Vpc", comp(a, vpc_id)),
			     "route table %s (subnet %s) has no route to %s", jstr(rtb, "RouteTableId"),
			     jstr(from_subnet, "SubnetId"), dst_s);
			return;
		}
		bool active = route_active(route, vpc_id);
		json_object_set_new(hop(a, jstr(rtb, "RouteTableId")), "RouteTableRoute", route_json(route, active));
		const char *tid = route_target(route, NULL);
		if (!active) {
			fail(a, "BAD_STATE_ROUTE",
			     json_pack("{s:o, s:o, s:o, s:o}", "RouteTable", comp(a, jstr(rtb, "RouteTableId")), "RouteTableRoute",
				       route_json(route, false), "Subnet", comp(a, jstr(from_subnet, "SubnetId")), "Vpc",
				       comp(a, vpc_id)),
			     "the route %s to %s in %s is a blackhole (its target is gone or not attached)",
			     jstr(route, "DestinationCidrBlock"), tid, jstr(rtb, "RouteTableId"));
			return;
		}
		target = obj_get(tid);
		const char *type = jstr(target, "_type");
		if (!strcmp(type, "nat")) {
			to_eni = obj_get(jstr(json_array_get(json_object_get(target, "NatGatewayAddresses"), 0), "NetworkInterfaceId"));
			to_subnet = obj_get(jstr(target, "SubnetId"));
		} else if (!strcmp(type, "eni")) {
			to_eni = target;
			to_subnet = obj_get(jstr(target, "SubnetId"));
		}
	}
	const char *ttype = jstr(target, "_type");
	json_t *src_eni = eni_by_ip(vpc_id, p->src);
	/* The forward chain, in its order. */
	if (!strcmp(ttype, "igw")) {
		const char *pub = jstr(json_object_get(src_eni, "Association"), "PublicIp");
		if (!*pub) {
			json_t *f = json_pack("{s:o, s:o, s:s}", "InternetGateway", comp(a, jstr(target, "InternetGatewayId")),
					      "Vpc", comp(a, vpc_id), "Address", src_s);
			if (src_eni)
				json_object_set_new(f, "NetworkInterface", comp(a, jstr(src_eni, "NetworkInterfaceId")));
			fail(a, "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS", f,
			     "%s has no public IP, and internet gateway %s drops what %s sends out",
			     src_eni ? jstr(src_eni, "NetworkInterfaceId") : src_s, jstr(target, "InternetGatewayId"), src_s);
			return;
		}
	}
	if (from_subnet && to_subnet != from_subnet && !acl_pass(a, p, from_subnet, vpc, true))
		return;
	if (to_subnet && to_subnet != from_subnet && !acl_pass(a, p, to_subnet, vpc, false))
		return;
	if (!a->reply) {
		if (src_eni && !is_natgw_eni(src_eni) && !sg_pass(a, p, src_eni, vpc, true))
			return;
		json_t *dst_eni = cidr_has(jstr(vpc, "CidrBlock"), p->dst) ? eni_by_ip(vpc_id, p->dst) : NULL;
		if (dst_eni && !is_natgw_eni(dst_eni) && !sg_pass(a, p, dst_eni, vpc, false))
			return;
	}
	if (to_eni && eni_ip(to_eni) != p->dst && json_is_true(json_object_get(to_eni, "SourceDestCheck"))) {
		fail(a, "ENI_SOURCE_DEST_CHECK_RESTRICTION",
		     json_pack("{s:o, s:o, s:s}", "NetworkInterface", comp(a, jstr(to_eni, "NetworkInterfaceId")), "Vpc",
			       comp(a, vpc_id), "Address", dst_s),
		     "the source/destination check of %s drops packets for %s (it is not the interface's address)",
		     jstr(to_eni, "NetworkInterfaceId"), dst_s);
		return;
	}
	if (!strcmp(ttype, "igw"))
		o->kind = O_IGW, o->obj = target;
	else if (!strcmp(ttype, "pcx"))
		o->kind = O_PCX, o->obj = target;
	else if (!strcmp(ttype, "nat"))
		o->kind = O_NAT, o->obj = target;
	else
		o->kind = O_ENI, o->obj = to_eni;
}

/* ------------------------------------------------------------------ the whole path */

/* What a path resolves to at analysis time. */
struct ends {
	json_t *src_eni;   /* the source ENI, or NULL for a gateway source */
	json_t *src_igw;   /* an internet gateway as source: the internet host sends */
	uint32_t src_ip;
	json_t *dst_obj;   /* the destination component (ENI, gateway, peering), or NULL for an IP */
	json_t *dst_eni;   /* the ENI expected to receive (a NAT gateway's for a NAT gateway) */
	uint32_t dst_ip;
	bool dst_internet; /* the destination is outside the lab's VPCs: reached past a gateway */
	int proto;
	uint32_t sport_lo, sport_hi, dport_lo, dport_hi;
};

static void add_eni_hop(struct an *a, json_t *eni, const struct pkt *p, bool inbound)
{
	json_t *h = hop(a, jstr(eni, "NetworkInterfaceId"));
	json_object_set_new(h, "Subnet", comp(a, jstr(eni, "SubnetId")));
	json_object_set_new(h, "Vpc", comp(a, jstr(eni, "VpcId")));
	json_object_set_new(h, inbound ? "InboundHeader" : "OutboundHeader", header(p, a->reply));
}

/* Walks from the first VPC to the end; true if the packet gets where it is going. `p` is
 * updated as gateways rewrite it. */
static bool walk(struct an *a, struct pkt *p, json_t *vpc, json_t *from_subnet, const char *via, const struct ends *x,
		 json_t *want_eni, uint32_t want_ip, bool want_internet, uint32_t orig_src)
{
	for (int seg = 0; seg < MAX_SEGMENTS; seg++) {
		struct out o;
		walk_vpc(a, p, vpc, from_subnet, via, &o);
		switch (o.kind) {
		case O_BLOCKED:
			return false;
		case O_ENI:
			if (is_natgw_eni(o.obj) && eni_ip(o.obj) == p->dst && a->reply) {
				/* The reply reaches the NAT gateway that masqueraded the request. */
				json_t *nat = obj_get(jstr(o.obj, "_natgw"));
				hop(a, nat ? jstr(nat, "NatGatewayId") : jstr(o.obj, "NetworkInterfaceId"));
				p->dst = orig_src;
				from_subnet = obj_get(jstr(o.obj, "SubnetId"));
				via = jstr(o.obj, "NetworkInterfaceId");
				continue;
			}
			add_eni_hop(a, o.obj, p, true);
			if (o.obj == want_eni || (!want_eni && eni_ip(o.obj) == want_ip))
				return true;
			if (eni_ip(o.obj) == p->dst) {
				/* Delivered, but not to the ENI the path names (the address is another's). */
				fail(a, "NO_ROUTE_TO_DESTINATION",
				     json_pack("{s:o}", "Component", comp(a, jstr(o.obj, "NetworkInterfaceId"))),
				     "the packet is delivered to %s, not to the destination", jstr(o.obj, "NetworkInterfaceId"));
				return false;
			}
			/* An appliance (source/dest check off): it is assumed to forward. */
			from_subnet = obj_get(jstr(o.obj, "SubnetId"));
			via = jstr(o.obj, "NetworkInterfaceId");
			continue;
		case O_NAT: {
			json_t *h = hop(a, jstr(o.obj, "NatGatewayId"));
			json_object_set_new(h, "InboundHeader", header(p, a->reply));
			json_t *addr = json_array_get(json_object_get(o.obj, "NatGatewayAddresses"), 0);
			ip_parse(jstr(addr, "PrivateIp"), &p->src);
			json_object_set_new(h, "OutboundHeader", header(p, a->reply));
			if (x && x->dst_obj == o.obj && !a->reply)
				return true;
			from_subnet = obj_get(jstr(o.obj, "SubnetId"));
			via = jstr(o.obj, "NatGatewayId");
			continue;
		}
		case O_IGW: {
			json_t *h = hop(a, jstr(o.obj, "InternetGatewayId"));
			json_object_set_new(h, "InboundHeader", header(p, a->reply));
			json_t *eni = eni_by_ip(jstr(vpc, "VpcId"), p->src);
			ip_parse(jstr(json_object_get(eni, "Association"), "PublicIp"), &p->src);
			json_object_set_new(h, "OutboundHeader", header(p, a->reply));
			if (x && x->dst_obj == o.obj && !a->reply)
				return true;
			if (want_internet)
				return true;
			char d[IP_STRLEN];
			ip_format(p->dst, d);
			fail(a, "NO_ROUTE_TO_DESTINATION", json_pack("{s:s, s:o}", "Address", d, "Component", comp(a, jstr(o.obj, "InternetGatewayId"))),
			     "the packet for %s leaves through internet gateway %s and does not come back into the lab's VPCs",
			     d, jstr(o.obj, "InternetGatewayId"));
			return false;
		}
		case O_PCX: {
			hop(a, jstr(o.obj, "VpcPeeringConnectionId"));
			if (x && x->dst_obj == o.obj && !a->reply)
				return true;
			const char *r = jstr(json_object_get(o.obj, "RequesterVpcInfo"), "VpcId");
			const char *acc = jstr(json_object_get(o.obj, "AccepterVpcInfo"), "VpcId");
			vpc = obj_get(!strcmp(r, jstr(vpc, "VpcId")) ? acc : r);
			if (!vpc)
				return false;
			from_subnet = NULL;
			via = jstr(o.obj, "VpcPeeringConnectionId");
			continue;
		}
		}
	}
	fail(a, "NO_ROUTE_TO_DESTINATION", json_object(), "the path crosses more than %d VPCs and gateways", MAX_SEGMENTS);
	return false;
}

struct result {
	bool found;
	json_t *fwd, *ret, *expl;
	char why[512], allow[512];
	uint32_t sport, dport; /* the ports the analysis settled on (the proof uses them) */
	uint32_t dst_ip;
	bool dst_internet;
};

static void result_free(struct result *r)
{
	json_decref(r->fwd), json_decref(r->ret), json_decref(r->expl);
}

/* One analysis with fixed ports; `ret_cands` collects the rules' port boundaries. */
static bool analyse_once(const char *region, const struct ends *x, uint32_t sport, uint32_t dport, struct result *res,
			 struct an *cand_fwd, struct an *cand_ret)
{
	struct an a = {.region = region, .list = json_array(), .expl = json_array()};
	struct pkt p = {.src = x->src_ip, .dst = x->dst_ip, .proto = x->proto, .sport_lo = sport, .sport_hi = sport, .dport = dport};
	json_t *vpc, *from_subnet = NULL;
	const char *via = "";
	bool ok;

	if (x->src_eni) {
		vpc = obj_get(jstr(x->src_eni, "VpcId"));
		from_subnet = obj_get(jstr(x->src_eni, "SubnetId"));
		add_eni_hop(&a, x->src_eni, &p, false);
	} else {
		/* From the internet: the gateway maps the public address to the private one. */
		vpc = obj_get(igw_vpc(x->src_igw));
		json_t *h = hop(&a, jstr(x->src_igw, "InternetGatewayId"));
		json_object_set_new(h, "InboundHeader", header(&p, false));
		const char *pub = jstr(json_object_get(x->dst_eni, "Association"), "PublicIp");
		if (!x->dst_eni || !*pub || !vpc || strcmp(jstr(x->dst_eni, "VpcId"), jstr(vpc, "VpcId")) != 0) {
			char d[IP_STRLEN];
			ip_format(p.dst, d);
			fail(&a, "NO_ROUTE_TO_DESTINATION",
			     json_pack("{s:s, s:o}", "Address", d, "InternetGateway", comp(&a, jstr(x->src_igw, "InternetGatewayId"))),
			     "%s has no public IP behind internet gateway %s: nothing on the internet can address it",
			     x->dst_eni ? jstr(x->dst_eni, "NetworkInterfaceId") : d, jstr(x->src_igw, "InternetGatewayId"));
			vpc = NULL;
		} else {
			ip_parse(pub, &p.dst);
			json_object_set_new(h, "InboundHeader", header(&p, false));
			p.dst = eni_ip(x->dst_eni);
		}
		json_object_set_new(h, "OutboundHeader", header(&p, false));
		via = jstr(x->src_igw, "InternetGatewayId");
	}
	ok = vpc && walk(&a, &p, vpc, from_subnet, via, x, x->dst_obj && x->dst_eni ? x->dst_eni : NULL, p.dst,
			 x->dst_internet, x->src_ip);
	if (!vpc && !a.why[0])
		fail(&a, "BAD_STATE", json_object(), "the source is in no VPC (a detached gateway?)");
	memcpy(cand_fwd->cands, a.cands, sizeof(a.cands)), cand_fwd->ncands = a.ncands;
	res->fwd = a.list, res->expl = a.expl, res->ret = json_array();
	snprintf(res->allow, sizeof(res->allow), "%s", a.allow);
	snprintf(res->why, sizeof(res->why), "%s", a.why);
	if (!ok)
		return false;
	/* The way back: from what received the packet, to the address it came from as seen there. */
	bool stops_at_component = x->dst_obj && !x->dst_eni && !x->dst_internet;
	if (stops_at_component)
		return true; /* a gateway or peering as destination: nothing answers */
	struct an b = {.region = region, .list = res->ret, .expl = a.expl, .seq = 0, .reply = true};
	struct pkt q = {.src = p.dst, .dst = p.src, .proto = p.proto, .sport_lo = sport, .sport_hi = sport, .dport = dport};
	json_t *rvpc, *rsub = NULL;
	const char *rvia = "";
	if (x->dst_internet) {
		/* The answer comes back to the public address through the same gateway. */
		json_t *eni = x->src_eni;
		json_t *igw = NULL;
		/* The last internet gateway of the forward path. */
		size_t i;
		json_t *c;
		json_array_foreach(res->fwd, i, c) if (!strncmp(jstr(json_object_get(c, "Component"), "Id"), "igw-", 4)) igw = c;
		json_t *gw = obj_get(jstr(json_object_get(igw, "Component"), "Id"));
		rvpc = obj_get(igw_vpc(gw));
		json_t *h = hop(&b, jstr(gw, "InternetGatewayId"));
		json_object_set_new(h, "InboundHeader", header(&q, true));
		/* Whose public address: the NAT gateway's or the source's. */
		json_t *nat = NULL;
		json_array_foreach(res->fwd, i, c) if (!strncmp(jstr(json_object_get(c, "Component"), "Id"), "nat-", 4)) nat = obj_get(jstr(json_object_get(c, "Component"), "Id"));
		if (nat)
			ip_parse(jstr(json_array_get(json_object_get(nat, "NatGatewayAddresses"), 0), "PrivateIp"), &q.dst);
		else
			q.dst = eni_ip(eni);
		json_object_set_new(h, "OutboundHeader", header(&q, true));
		rvia = jstr(gw, "InternetGatewayId");
	} else {
		json_t *d = x->dst_eni;
		rvpc = obj_get(jstr(d, "VpcId"));
		rsub = obj_get(jstr(d, "SubnetId"));
		add_eni_hop(&b, d, &q, false);
	}
	bool back = walk(&b, &q, rvpc, rsub, rvia, NULL, x->src_eni, x->src_ip, x->src_igw != NULL, x->src_ip);
	memcpy(cand_ret->cands, b.cands, sizeof(b.cands)), cand_ret->ncands = b.ncands;
	if (!back)
		snprintf(res->why, sizeof(res->why), "%s", b.why);
	return back;
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return a < b ? -1 : a > b;
}

/* The analysis: there is a path if some source port in the range and some destination port
 * in its range get there and back. The rules met give the boundaries where a verdict can
 * change; each is tried (the first that works is kept, else the first try's answer). */
static void analyse(const char *region, const struct ends *x, struct result *res)
{
	struct an cf = {0}, cr = {0};
	uint32_t dports[MAX_CANDIDATES + 1], sports[MAX_CANDIDATES + 1];
	int nd = 0, ns = 0;
	*res = (struct result){0};
	res->dst_ip = x->dst_ip, res->dst_internet = x->dst_internet;
	res->sport = x->sport_lo, res->dport = x->dport_lo;
	res->found = analyse_once(region, x, x->sport_lo, x->dport_lo, res, &cf, &cr);
	if (res->found)
		return;
	dports[nd++] = x->dport_lo;
	for (int i = 0; i < cf.ncands; i++)
		if (cf.cands[i] > x->dport_lo && cf.cands[i] <= x->dport_hi)
			dports[nd++] = cf.cands[i];
	sports[ns++] = x->sport_lo;
	for (int i = 0; i < cr.ncands; i++)
		if (cr.cands[i] > x->sport_lo && cr.cands[i] <= x->sport_hi)
			sports[ns++] = cr.cands[i];
	qsort(dports, (size_t)nd, sizeof(*dports), cmp_u32);
	qsort(sports, (size_t)ns, sizeof(*sports), cmp_u32);
	for (int i = 0; i < nd; i++)
		for (int j = 0; j < ns; j++) {
			if (i == 0 && j == 0)
				continue;
			struct result t = {0};
			struct an tf = {0}, tr = {0};
			t.dst_ip = x->dst_ip, t.dst_internet = x->dst_internet;
			if (analyse_once(region, x, sports[j], dports[i], &t, &tf, &tr)) {
				result_free(res);
				*res = t;
				res->found = true, res->sport = sports[j], res->dport = dports[i];
				return;
			}
			result_free(&t);
		}
}

/* ------------------------------------------------------------------ resolving a path */

static int resolve_eni_like(struct req *rq, const char *id, json_t **ret_eni, json_t **ret_obj, struct err *e)
{
	*ret_eni = NULL, *ret_obj = NULL;
	if (!strncmp(id, "eni-", 4)) {
		json_t *o = obj_find(rq, id, "eni", e);
		if (!o)
			return -ENOENT;
		*ret_eni = *ret_obj = o;
		return 0;
	}
	if (!strncmp(id, "i-", 2)) {
		json_t *o = instance_eni(id, rq->region);
		if (!o)
			return err_set(e, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id);
		*ret_eni = *ret_obj = o;
		return 0;
	}
	if (!strncmp(id, "igw-", 4)) {
		json_t *o = obj_find(rq, id, "igw", e);
		if (!o)
			return -ENOENT;
		*ret_obj = o;
		return 0;
	}
	if (!strncmp(id, "nat-", 4)) {
		json_t *o = obj_find(rq, id, "nat", e);
		if (!o)
			return -ENOENT;
		*ret_obj = o;
		*ret_eni = obj_get(jstr(json_array_get(json_object_get(o, "NatGatewayAddresses"), 0), "NetworkInterfaceId"));
		return 0;
	}
	if (!strncmp(id, "pcx-", 4)) {
		json_t *o = obj_find(rq, id, "pcx", e);
		if (!o)
			return -ENOENT;
		*ret_obj = o;
		return 0;
	}
	return err_set(e, "InvalidParameterValue",
		       "The resource '%s' is not supported: a path's ends are network interfaces, instances, internet gateways, NAT gateways, peering connections or an IP address",
		       id);
}

static int port_param(json_t *filter, const char *member, uint32_t *lo, uint32_t *hi, struct err *e)
{
	json_t *r = json_object_get(filter, member);
	if (!r)
		return 0;
	json_t *f = json_object_get(r, "FromPort"), *t = json_object_get(r, "ToPort");
	long long from = f ? (json_is_integer(f) ? json_integer_value(f) : atoll(json_string_value(f) ?: "-1")) : (long long)*lo;
	long long to = t ? (json_is_integer(t) ? json_integer_value(t) : atoll(json_string_value(t) ?: "-1")) : (long long)*hi;
	if (from < 0 || to > 65535 || from > to)
		return err_set(e, "InvalidParameterValue", "The port range '%lld-%lld' is not valid", from, to);
	*lo = (uint32_t)from, *hi = (uint32_t)to;
	return 0;
}

/* The ends of a stored path as they are now. */
static int path_ends(struct req *rq, json_t *path, struct ends *x, struct err *e)
{
	const char *src = jstr(path, "Source"), *dst = jstr(path, "Destination");
	json_t *obj;
	int r;
	*x = (struct ends){0};
	x->proto = !strcmp(jstr(path, "Protocol"), "udp") ? 17 : 6;
	x->sport_lo = EPHEMERAL_LO, x->sport_hi = EPHEMERAL_HI;
	json_t *dp = json_object_get(path, "DestinationPort");
	x->dport_lo = dp ? (uint32_t)json_integer_value(dp) : 0;
	x->dport_hi = dp ? x->dport_lo : 65535;
	if ((r = port_param(json_object_get(path, "FilterAtSource"), "SourcePortRange", &x->sport_lo, &x->sport_hi, e)) < 0 ||
	    (r = port_param(json_object_get(path, "FilterAtDestination"), "DestinationPortRange", &x->dport_lo, &x->dport_hi, e)) < 0)
		return r;
	if (!dp && !json_object_get(json_object_get(path, "FilterAtDestination"), "DestinationPortRange"))
		x->dport_lo = 1;
	if ((r = resolve_eni_like(rq, src, &x->src_eni, &obj, e)) < 0)
		return r;
	if (!x->src_eni && !strncmp(src, "igw-", 4)) {
		x->src_igw = obj;
		if (!internet_host_of(rq->region, &x->src_ip))
			return err_set(e, "InvalidParameterValue", "The region has no internet");
		if (*jstr(path, "SourceIp"))
			ip_parse(jstr(path, "SourceIp"), &x->src_ip);
	} else if (!x->src_eni) {
		return err_set(e, "InvalidParameterValue",
			       "The source '%s' is not supported: sources are network interfaces, instances and internet gateways", src);
	} else {
		x->src_ip = eni_ip(x->src_eni);
	}
	if (*dst) {
		if ((r = resolve_eni_like(rq, dst, &x->dst_eni, &x->dst_obj, e)) < 0)
			return r;
		if (x->dst_eni)
			x->dst_ip = eni_ip(x->dst_eni);
		if (!strncmp(dst, "igw-", 4)) {
			x->dst_internet = true;
			internet_host_of(rq->region, &x->dst_ip);
		}
	}
	if (*jstr(path, "DestinationIp")) {
		ip_parse(jstr(path, "DestinationIp"), &x->dst_ip);
		if (!*dst) {
			/* An address: an ENI of the lab if one holds it, else somewhere past a gateway. */
			json_t *vpc_src = obj_get(jstr(x->src_eni, "VpcId"));
			const char *vid;
			json_t *v;
			x->dst_internet = true;
			if (vpc_src && cidr_has(jstr(vpc_src, "CidrBlock"), x->dst_ip))
				x->dst_eni = eni_by_ip(jstr(vpc_src, "VpcId"), x->dst_ip), x->dst_internet = false;
			else
				obj_foreach("vpc", rq->region, vid, v) if (cidr_has(jstr(v, "CidrBlock"), x->dst_ip))
				{
					x->dst_eni = eni_by_ip(vid, x->dst_ip), x->dst_internet = false;
					break;
				}
			if (!x->dst_internet && !x->dst_eni)
				x->dst_eni = NULL; /* an address in a VPC that no ENI holds: the walk says so */
		}
	}
	if (!x->dst_ip && !x->dst_obj)
		return err_set(e, "InvalidParameterValue", "The path needs a destination or a destination IP");
	if (x->dst_obj && !x->dst_eni && !x->dst_internet && !x->dst_ip) {
		/* A peering as destination: an address in the peer VPC to aim at. */
		return err_set(e, "InvalidParameterValue", "A path to '%s' needs a DestinationIp", dst);
	}
	return 0;
}

/* ------------------------------------------------------------------ the proof */

/* The namespace the source can send from: a plugged ENI's, a container's (its port's veth
 * peer), or the region's (the internet host, for a gateway source). -1 if none, with why. */
static int source_netns(struct ends *x, const char *region, char *why, size_t n, bool *ret_bind_src)
{
	*ret_bind_src = false;
	if (x->src_igw) {
		char ns[64];
		name_region_ns(region, ns);
		*ret_bind_src = true;
		int fd = netns_open(ns);
		if (fd < 0)
			snprintf(why, n, "the region's namespace %s cannot be opened", ns);
		return fd;
	}
	const char *plugged = jstr(x->src_eni, "_plugged");
	if (*plugged) {
		int fd = netns_open(plugged);
		if (fd < 0)
			snprintf(why, n, "the namespace %s of %s cannot be opened", plugged, jstr(x->src_eni, "NetworkInterfaceId"));
		return fd;
	}
	if (*jstr(x->src_eni, "_instance"))
		snprintf(why, n, "%s belongs to instance %s; vpcd sends only from plugged interfaces (see docs/insights.md)",
			 jstr(x->src_eni, "NetworkInterfaceId"), jstr(x->src_eni, "_instance"));
	else if (is_natgw_eni(x->src_eni))
		snprintf(why, n, "a NAT gateway does not start flows");
	else
		snprintf(why, n, "%s is not plugged into a namespace (plug-network-interface)", jstr(x->src_eni, "NetworkInterfaceId"));
	return -1;
}

static int sock_in(int nsfd, int type)
{
	int saved = netns_enter(nsfd);
	if (saved < 0)
		return saved;
	int s = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int err = errno;
	netns_leave(saved);
	return s < 0 ? -err : s;
}

static struct sockaddr_in sin_of(uint32_t ip, uint32_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(ip)};
	return a;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends the flow from the source and says whether the kernel let it there and back. */
static json_t *prove(struct ends *x, const struct result *res, const char *region)
{
	char why[256] = "", detail[512] = "", dst_s[IP_STRLEN], sent[128];
	bool bind_src, reached = false, conclusive = true;
	uint32_t dst_ip = res->dst_ip;
	/* From the internet the flow is sent to the destination's public address. */
	if (x->src_igw && x->dst_eni && ip_parse(jstr(json_object_get(x->dst_eni, "Association"), "PublicIp"), &dst_ip) < 0)
		return json_pack("{s:s, s:b, s:n, s:n, s:s}", "Sent", "", "Possible", 0, "Reached", "KernelAgrees",
				 "Detail", "the destination has no public address to send to from the internet");
	ip_format(dst_ip, dst_s);
	snprintf(sent, sizeof(sent), "%s %u -> %s:%u", proto_name(x->proto), res->sport, dst_s, res->dport);
	_cleanup_close_ int nsfd = source_netns(x, region, why, sizeof(why), &bind_src);
	if (nsfd < 0)
		return json_pack("{s:s, s:b, s:n, s:n, s:s}", "Sent", "", "Possible", 0, "Reached", "KernelAgrees",
				 "Detail", why);
	_cleanup_close_ int s = sock_in(nsfd, x->proto == 6 ? SOCK_STREAM : SOCK_DGRAM);
	_cleanup_close_ int ds = -1;
	if (s < 0)
		return json_pack("{s:s, s:b, s:n, s:n, s:s}", "Sent", "", "Possible", 0, "Reached", "KernelAgrees",
				 "Detail", "no socket in the source namespace");
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in me = sin_of(bind_src ? x->src_ip : 0, res->sport), to = sin_of(dst_ip, res->dport);
	if (bind(s, (struct sockaddr *)&me, sizeof(me)) < 0)
		return json_pack("{s:s, s:b, s:n, s:n, s:s}", "Sent", sent, "Possible", 0, "Reached", "KernelAgrees",
				 "Detail", "the source port is in use in the source namespace");
	long long t0 = now_ms();
	if (x->proto == 6) {
		/* A listener of the proof's own in the destination's namespace, when vpcd can enter
		 * it and the port is free there: then only a connection that this listener accepts
		 * counts, and not an answer from another host that holds the same address (a
		 * source in an overlapping VPC reaches its own 10.0.1.10, not the other VPC's). */
		const char *dns = jstr(x->dst_eni, "_plugged");
		_cleanup_close_ int dfd = *dns && dst_ip == eni_ip(x->dst_eni) ? netns_open(dns) : -1;
		if (dfd >= 0 && (ds = sock_in(dfd, SOCK_STREAM)) >= 0) {
			struct sockaddr_in any = sin_of(0, res->dport);
			setsockopt(ds, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (bind(ds, (struct sockaddr *)&any, sizeof(any)) < 0 || listen(ds, 4) < 0)
				close(ds), ds = -1;
		}
		int r = connect(s, (struct sockaddr *)&to, sizeof(to));
		int err = r == 0 ? 0 : errno;
		if (err == EINPROGRESS) {
			struct pollfd pfd = {.fd = s, .events = POLLOUT};
			int n = poll(&pfd, 1, PROOF_TIMEOUT_MS);
			socklen_t len = sizeof(err);
			if (n <= 0)
				err = ETIMEDOUT;
			else
				getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
		}
		reached = err == 0 || err == ECONNREFUSED;
		bool elsewhere = false;
		if (ds >= 0) {
			struct pollfd lp = {.fd = ds, .events = POLLIN};
			elsewhere = reached && !(err == 0 && poll(&lp, 1, 100) > 0);
			reached = reached && !elsewhere;
		}
		snprintf(detail, sizeof(detail), "%s after %lld ms",
			 elsewhere ? "answered, but not by the destination (another host holds its address on this path)" :
			 err == 0 ? (ds >= 0 ? "SYN-ACK: the proof's listener at the destination accepted" : "SYN-ACK: connected") :
			 err == ECONNREFUSED ? "RST: the destination answered (no listener)" :
			 err == ETIMEDOUT ? "no answer (the SYN or its answer was dropped)" : strerror(err), now_ms() - t0);
	} else {
		/* UDP: an echo at the destination when vpcd can enter its namespace; else an answer
		 * or an ICMP port unreachable, and silence proves nothing. */
		const char *dns = jstr(x->dst_eni, "_plugged");
		_cleanup_close_ int dfd = *dns && dst_ip == eni_ip(x->dst_eni) ? netns_open(dns) : -1;
		if (dfd >= 0 && (ds = sock_in(dfd, SOCK_DGRAM)) >= 0) {
			struct sockaddr_in any = sin_of(0, res->dport);
			setsockopt(ds, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (bind(ds, (struct sockaddr *)&any, sizeof(any)) < 0)
				close(ds), ds = -1;
		}
		connect(s, (struct sockaddr *)&to, sizeof(to));
		(void)!send(s, "vpclab-proof", 12, 0);
		char buf[64];
		if (ds >= 0) {
			struct pollfd pfd = {.fd = ds, .events = POLLIN};
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			if (poll(&pfd, 1, PROOF_TIMEOUT_MS) > 0 &&
			    recvfrom(ds, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl) > 0)
				(void)!sendto(ds, buf, 12, 0, (struct sockaddr *)&from, fl);
			else
				snprintf(detail, sizeof(detail), "the datagram did not arrive");
		}
		struct pollfd pfd = {.fd = s, .events = POLLIN};
		if (!detail[0]) {
			ssize_t n = poll(&pfd, 1, PROOF_TIMEOUT_MS) > 0 ? recv(s, buf, sizeof(buf), 0) : -1;
			int err = n < 0 ? errno : 0;
			reached = n >= 0 || err == ECONNREFUSED;
			if (ds < 0 && !reached)
				conclusive = false;
			snprintf(detail, sizeof(detail), "%s after %lld ms",
				 n >= 0 ? (ds >= 0 ? "the echo came back" : "an answer came back") :
				 err == ECONNREFUSED ? "ICMP port unreachable: the destination answered" :
				 ds >= 0 ? "the datagram arrived, its echo did not come back" : "no answer (UDP: silence proves nothing)",
				 now_ms() - t0);
		}
	}
	if (!conclusive)
		return json_pack("{s:s, s:b, s:n, s:n, s:s}", "Sent", sent, "Possible", 1, "Reached", "KernelAgrees",
				 "Detail", detail);
	bool agrees = reached == res->found;
	json_t *p = json_pack("{s:s, s:b, s:b, s:b, s:s}", "Sent", sent, "Possible", 1, "Reached", reached,
			      "KernelAgrees", agrees, "Detail", detail);
	if (!agrees)
		json_object_set_new(p, "Bug", json_string("the model and the kernel disagree: a vpclab bug, please report it"));
	return p;
}

/* ------------------------------------------------------------------ handlers */

static bool tags_say_prove(json_t *tags)
{
	json_t *t;
	size_t i;
	json_array_foreach(tags, i, t) if (!strcmp(jstr(t, "Key"), PROVE_TAG) && strcasecmp(jstr(t, "Value"), "false") != 0) return true;
	return false;
}

static int check_ip(struct req *rq, const char *name, struct err *e)
{
	const char *s = NULL;
	uint32_t ip;
	param_str(rq, name, false, &s, e);
	if (s && ip_parse(s, &ip) < 0)
		return err_set(e, "InvalidParameterValue", "The IP address '%s' of %s is not valid", s, name);
	return 0;
}

/* The path object from the request's parameters, checked; not stored. */
static int path_from_params(struct req *rq, json_t **ret, struct err *e)
{
	const char *src, *dst = NULL, *proto;
	long long port = -1;
	int r;
	if ((r = param_str(rq, "Source", true, &src, e)) < 0 || (r = param_str(rq, "Protocol", true, &proto, e)) < 0 ||
	    (r = param_str(rq, "Destination", false, &dst, e)) < 0 ||
	    (r = param_int(rq, "DestinationPort", -1, &port, e)) < 0)
		return r;
	if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)
		return err_set(e, "InvalidParameterValue", "Value (%s) for parameter protocol is invalid. Valid values: tcp, udp", proto);
	if (json_object_get(rq->params, "DestinationPort") && (port < 0 || port > 65535))
		return err_set(e, "InvalidParameterValue", "Value (%lld) for parameter destinationPort is invalid", port);
	if ((r = check_ip(rq, "SourceIp", e)) < 0 || (r = check_ip(rq, "DestinationIp", e)) < 0)
		return r;
	if ((!dst || !*dst) && !json_object_get(rq->params, "DestinationIp"))
		return err_set(e, "MissingParameter", "The request must contain the parameter Destination or DestinationIp");
	json_t *eni, *obj;
	if ((r = resolve_eni_like(rq, src, &eni, &obj, e)) < 0)
		return r;
	if (!eni && strncmp(src, "igw-", 4) != 0)
		return err_set(e, "InvalidParameterValue",
			       "The source '%s' is not supported: sources are network interfaces, instances and internet gateways", src);
	if (dst && *dst && (r = resolve_eni_like(rq, dst, &eni, &obj, e)) < 0)
		return r;
	if (dst && !strncmp(dst, "pcx-", 4) && !json_object_get(rq->params, "DestinationIp"))
		return err_set(e, "InvalidParameterValue", "A path to '%s' needs a DestinationIp", dst);
	json_t *path = json_pack("{s:s, s:s}", "Source", src, "Protocol", proto);
	if (dst && *dst)
		json_object_set_new(path, "Destination", json_string(dst));
	const char *keys[] = {"SourceIp", "DestinationIp"};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (*jstr(rq->params, keys[i]))
			json_object_set_new(path, keys[i], json_string(jstr(rq->params, keys[i])));
	if (port >= 0)
		json_object_set_new(path, "DestinationPort", json_integer(port));
	const char *filters[] = {"FilterAtSource", "FilterAtDestination"};
	for (size_t i = 0; i < ARRAY_SIZE(filters); i++) {
		json_t *f = json_object_get(rq->params, filters[i]);
		if (!f)
			continue;
		if (!json_is_object(f)) {
			json_decref(path);
			return err_set(e, "InvalidParameterValue", "%s must be a structure", filters[i]);
		}
		uint32_t lo = 0, hi = 65535;
		if ((r = port_param(f, "SourcePortRange", &lo, &hi, e)) < 0 || (r = port_param(f, "DestinationPortRange", &lo, &hi, e)) < 0) {
			json_decref(path);
			return r;
		}
		json_object_set(path, filters[i], f);
	}
	*ret = path;
	return 0;
}

int h_create_network_insights_path(struct req *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *tags = NULL;
	json_t *path;
	const char *token = NULL;
	char id[ID_MAX], arn[160], when[32];
	int r;
	param_str(rq, "ClientToken", false, &token, e);
	if (token && *token) {
		const char *oid;
		json_t *o;
		obj_foreach("insightspath", rq->region, oid, o) if (!strcmp(jstr(o, "_token"), token))
		{
			*ret = json_pack("{s:o}", "NetworkInsightsPath", obj_public(o));
			return 0;
		}
	}
	if ((r = path_from_params(rq, &path, e)) < 0)
		return r;
	if ((r = param_tags(rq, "network-insights-path", &tags, e)) < 0) {
		json_decref(path);
		return r;
	}
	new_id(&rq->txn, "nip", id);
	arn_of(rq->region, id, arn, sizeof(arn));
	time_iso(when);
	json_object_set_new(path, "_type", json_string("insightspath"));
	json_object_set_new(path, "_region", json_string(rq->region));
	if (token && *token)
		json_object_set_new(path, "_token", json_string(token));
	json_object_set_new(path, "NetworkInsightsPathId", json_string(id));
	json_object_set_new(path, "NetworkInsightsPathArn", json_string(arn));
	json_object_set_new(path, "CreatedDate", json_string(when));
	json_object_set(path, "Tags", tags);
	const char *ends[][2] = {{"Source", "SourceArn"}, {"Destination", "DestinationArn"}};
	for (size_t i = 0; i < ARRAY_SIZE(ends); i++)
		if (*jstr(path, ends[i][0])) {
			char a[160];
			arn_of(rq->region, jstr(path, ends[i][0]), a, sizeof(a));
			json_object_set_new(path, ends[i][1], json_string(a));
		}
	obj_put(&rq->txn, id, path);
	*ret = json_pack("{s:o}", "NetworkInsightsPath", obj_public(obj_get(id)));
	return 0;
}

int h_describe_network_insights_paths(struct req *rq, json_t **ret, struct err *e)
{
	json_t *list, *token = NULL;
	int r = describe(rq, "insightspath", "NetworkInsightsPathIds", "NetworkInsightsPathId",
			 "InvalidNetworkInsightsPathId.NotFound", "network insights path ID", path_filters, NULL, &list,
			 &token, e);
	if (r < 0)
		return r;
	*ret = json_pack("{s:o, s:o*}", "NetworkInsightsPaths", list, "NextToken", token);
	return 0;
}

int h_delete_network_insights_path(struct req *rq, json_t **ret, struct err *e)
{
	json_t *path = param_obj(rq, "NetworkInsightsPathId", "insightspath", e);
	if (!path)
		return -ENOENT;
	const char *id = jstr(path, "NetworkInsightsPathId"), *aid;
	json_t *o;
	/* As in AWS, a path with analyses cannot go before them. */
	obj_foreach("insightsanalysis", rq->region, aid, o) if (!strcmp(jstr(o, "NetworkInsightsPathId"), id))
		return err_set(e, "DependencyViolation",
			       "The network insights path '%s' has analyses (%s); delete them first", id, aid);
	*ret = json_pack("{s:s}", "NetworkInsightsPathId", id);
	obj_del(&rq->txn, id);
	return 0;
}

/* The analysis of `path` as an AWS NetworkInsightsAnalysis (without ID), proven if asked. */
static json_t *run_analysis(struct req *rq, json_t *path, bool want_proof, struct result *res, struct ends *x,
			    bool *ret_ok)
{
	struct err pe = {0};
	char when[32];
	time_iso(when);
	json_t *an = json_pack("{s:s, s:s}", "NetworkInsightsPathId", jstr(path, "NetworkInsightsPathId"), "StartDate", when);
	*ret_ok = false;
	if (path_ends(rq, path, x, &pe) < 0) {
		/* Something the path names is gone: the analysis fails, as AWS's does. */
		json_object_set_new(an, "Status", json_string("failed"));
		json_object_set_new(an, "StatusMessage", json_string(pe.msg));
		return an;
	}
	analyse(rq->region, x, res);
	*ret_ok = true;
	json_object_set_new(an, "Status", json_string("succeeded"));
	json_object_set_new(an, "NetworkPathFound", json_boolean(res->found));
	json_object_set(an, "ForwardPathComponents", res->fwd);
	if (res->found)
		json_object_set(an, "ReturnPathComponents", res->ret);
	if (!res->found)
		json_object_set(an, "Explanations", res->expl);
	if (want_proof)
		json_object_set_new(an, "VpclabProof", prove(x, res, rq->region));
	return an;
}

int h_start_network_insights_analysis(struct req *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *tags = NULL;
	char id[ID_MAX], arn[160];
	struct result res = {0};
	struct ends x;
	bool ok;
	int r;
	json_t *path = param_obj(rq, "NetworkInsightsPathId", "insightspath", e);
	if (!path)
		return -ENOENT;
	if ((r = param_tags(rq, "network-insights-analysis", &tags, e)) < 0)
		return r;
	const char *lists[] = {"AdditionalAccounts", "FilterInArns", "FilterOutArns"};
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		_cleanup_json_ json_t *l = param_list(rq->params, lists[i]);
		if (json_array_size(l))
			return err_set(e, "InvalidParameterValue", "%s is not supported by vpclab (one account, no filters)", lists[i]);
	}
	int dry = 0;
	param_bool(rq, "DryRun", &dry);
	bool proof = dry <= 0 && (tags_say_prove(json_object_get(path, "Tags")) || tags_say_prove(tags));
	json_t *an = run_analysis(rq, path, proof, &res, &x, &ok);
	if (ok)
		result_free(&res);
	new_id(&rq->txn, "nia", id);
	arn_of(rq->region, id, arn, sizeof(arn));
	json_object_set_new(an, "NetworkInsightsAnalysisId", json_string(id));
	json_object_set_new(an, "NetworkInsightsAnalysisArn", json_string(arn));
	json_object_set(an, "Tags", tags);
	json_object_set_new(an, "_type", json_string("insightsanalysis"));
	json_object_set_new(an, "_region", json_string(rq->region));
	obj_put(&rq->txn, id, an);
	*ret = json_pack("{s:o}", "NetworkInsightsAnalysis", obj_public(obj_get(id)));
	return 0;
}

int h_describe_network_insights_analyses(struct req *rq, json_t **ret, struct err *e)
{
	json_t *list, *token = NULL;
	const char *pid = NULL;
	param_str(rq, "NetworkInsightsPathId", false, &pid, e);
	if (pid && *pid && !obj_find(rq, pid, "insightspath", e))
		return -ENOENT;
	json_t *saved = rq->params;
	if (pid && *pid) {
		/* The path ID is one more filter. */
		rq->params = json_deep_copy(saved);
		json_t *f = param_list(rq->params, "Filters");
		json_array_append_new(f, json_pack("{s:s, s:[s]}", "Name", "network-insights-path-id", "Values", pid));
		json_object_set_new(rq->params, "Filters", f);
	}
	int r = describe(rq, "insightsanalysis", "NetworkInsightsAnalysisIds", "NetworkInsightsAnalysisId",
			 "InvalidNetworkInsightsAnalysisId.NotFound", "network insights analysis ID", analysis_filters,
			 NULL, &list, &token, e);
	if (rq->params != saved) {
		json_decref(rq->params);
		rq->params = saved;
	}
	if (r < 0)
		return r;
	*ret = json_pack("{s:o, s:o*}", "NetworkInsightsAnalyses", list, "NextToken", token);
	return 0;
}

int h_delete_network_insights_analysis(struct req *rq, json_t **ret, struct err *e)
{
	json_t *an = param_obj(rq, "NetworkInsightsAnalysisId", "insightsanalysis", e);
	if (!an)
		return -ENOENT;
	*ret = json_pack("{s:s}", "NetworkInsightsAnalysisId", jstr(an, "NetworkInsightsAnalysisId"));
	obj_del(&rq->txn, jstr(an, "NetworkInsightsAnalysisId"));
	return 0;
}

/* ------------------------------------------------------------------ explain (lab verb) */

static void words(json_t *lines, json_t *components)
{
	json_t *c;
	size_t i;
	json_array_foreach(components, i, c)
	{
		char line[512];
		const char *id = jstr(json_object_get(c, "Component"), "Id");
		json_t *acl = json_object_get(c, "AclRule"), *sg = json_object_get(c, "SecurityGroupRule");
		json_t *rt = json_object_get(c, "RouteTableRoute");
		int n = snprintf(line, sizeof(line), "%2lld %s", (long long)json_integer_value(json_object_get(c, "SequenceNumber")), id);
		if (acl)
			snprintf(line + n, sizeof(line) - (size_t)n, ": rule %lld %s %s (%s, %s)",
				 (long long)json_integer_value(json_object_get(acl, "RuleNumber")), jstr(acl, "RuleAction"),
				 jstr(acl, "Cidr"), json_is_true(json_object_get(acl, "Egress")) ? "outbound" : "inbound",
				 !strcmp(jstr(acl, "Protocol"), "-1") ? "all protocols" : jstr(acl, "Protocol"));
		else if (sg)
			snprintf(line + n, sizeof(line) - (size_t)n, ": %s %s %s %s", jstr(sg, "Direction"),
				 jstr(sg, "Protocol"), *jstr(sg, "Cidr") ? jstr(sg, "Cidr") : "(group)",
				 "allowed");
		else if (rt) {
			const char *key = NULL, *t = "";
			const char *keys[] = {"GatewayId", "NatGatewayId", "NetworkInterfaceId", "VpcPeeringConnectionId"};
			for (size_t k = 0; k < ARRAY_SIZE(keys) && !*t; k++)
				t = jstr(rt, keys[k]), key = keys[k];
			(void)key;
			snprintf(line + n, sizeof(line) - (size_t)n, ": route %s -> %s (%s)", jstr(rt, "DestinationCidr"), t,
				 jstr(rt, "State"));
		} else if (json_object_get(c, "Subnet"))
			snprintf(line + n, sizeof(line) - (size_t)n, " (subnet %s)",
				 jstr(json_object_get(c, "Subnet"), "Id"));
		json_array_append_new(lines, json_string(line));
	}
}

int h_explain(struct req *rq, json_t **ret, struct err *e)
{
	const char *dst = NULL;
	int r, prove_flag = 0;
	param_str(rq, "Destination", false, &dst, e);
	_cleanup_json_ json_t *params = json_deep_copy(rq->params);
	uint32_t ip;
	if (dst && ip_parse(dst, &ip) == 0) {
		json_object_set_new(params, "DestinationIp", json_string(dst));
		json_object_del(params, "Destination");
	}
	if (!json_object_get(params, "Protocol"))
		json_object_set_new(params, "Protocol", json_string("tcp"));
	json_t *port = json_object_get(params, "Port");
	if (port)
		json_object_set(params, "DestinationPort", port);
	json_t *saved = rq->params;
	rq->params = params;
	json_t *path = NULL;
	r = path_from_params(rq, &path, e);
	param_bool(rq, "Prove", &prove_flag);
	rq->params = saved;
	if (r < 0)
		return r;
	struct result res = {0};
	struct ends x;
	bool ok;
	json_t *an = run_analysis(rq, path, prove_flag > 0, &res, &x, &ok);
	json_decref(path);
	if (!ok) {
		json_decref(an);
		return err_set(e, "InvalidParameterValue", "%s", jstr(an, "StatusMessage"));
	}
	json_t *fwd = json_array(), *back = json_array();
	words(fwd, res.fwd);
	words(back, res.ret);
	char verdict[700];
	if (res.found)
		snprintf(verdict, sizeof(verdict), "reachable: %s %u -> %u%s%s", proto_name(x.proto), res.sport, res.dport,
			 res.allow[0] ? "; " : "", res.allow);
	else
		snprintf(verdict, sizeof(verdict), "%s", res.why[0] ? res.why : "blocked");
	json_t *out = json_pack("{s:b, s:s, s:o, s:o, s:O}", "NetworkPathFound", res.found, "Verdict", verdict, "Forward",
				fwd, "Return", back, "Analysis", an);
	json_t *proof = json_object_get(an, "VpclabProof");
	if (proof)
		json_object_set(out, "VpclabProof", proof);
	json_decref(an);
	result_free(&res);
	*ret = out;
	return 0;
}

void insights_present(json_t *result)
{
	json_t *l;
	size_t i;
	if (!json_is_object(result) || !json_object_get(result, "Verdict"))
		return;
	printf("%s\n", jstr(result, "Verdict"));
	printf("forward:\n");
	json_array_foreach(json_object_get(result, "Forward"), i, l) printf("  %s\n", json_string_value(l));
	if (json_array_size(json_object_get(result, "Return"))) {
		printf("return:\n");
		json_array_foreach(json_object_get(result, "Return"), i, l) printf("  %s\n", json_string_value(l));
	}
	json_t *p = json_object_get(result, "VpclabProof");
	if (p) {
		if (!json_is_true(json_object_get(p, "Possible")))
			printf("proof: not possible: %s\n", jstr(p, "Detail"));
		else if (json_is_null(json_object_get(p, "Reached")))
			printf("proof: %s: inconclusive: %s\n", jstr(p, "Sent"), jstr(p, "Detail"));
		else
			printf("proof: %s: %s (%s); the kernel %s the model%s\n", jstr(p, "Sent"),
			       json_is_true(json_object_get(p, "Reached")) ? "reached" : "not reached", jstr(p, "Detail"),
			       json_is_true(json_object_get(p, "KernelAgrees")) ? "agrees with" : "DISAGREES with",
			       json_is_true(json_object_get(p, "KernelAgrees")) ? "" : " (a vpclab bug)");
	}
	fflush(stdout);
	json_object_clear(result);
}
