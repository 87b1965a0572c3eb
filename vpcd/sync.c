/* Converging kernel state with the model. See docs/architecture.md for the mapping. */
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "netns.h"
#include "vpcd.h"

#define RULE_PRIO_LOCAL 100
#define RULE_PRIO_SUBNET 1000
#define METRIC_LAST 0xffffffffu
#define IGW_REGION_SIDE 0xa9fe0001u /* 169.254.0.1, see internet.c */
#define IGW_VPC_SIDE 0xa9fe0002u
/* 169.254.169.249: ec2d's EC2 API inside the VPC (VPC_API_IP in ec2d/ec2d.h), which the VPC's
 * resolver gives for ec2.<region>.amazonaws.com (dns.c). */
#define EC2_API_ADDR 0xa9fea9f9u


void name_vpc_ns(const char *vpc_id, char buf[static 64]) { snprintf(buf, 64, "%s-%s", V->prefix, vpc_id); }
void name_region_ns(const char *region, char buf[static 64]) { snprintf(buf, 64, "%s-%s", V->prefix, region); }
void name_bridge(const char *id, char buf[static 16]) { snprintf(buf, 16, "%sb%s", V->prefix, id_tail(id)); }
void name_port(const char *id, char buf[static 16]) { snprintf(buf, 16, "%se%s", V->prefix, id_tail(id)); }

/* Namespace handles are cached by name for the daemon's life (a socket per namespace). */
int nsh_get(const char *ns, bool with_nft, struct nsh **ret, struct err *e)
{
	json_t *p = json_object_get(V->ns_cache, ns);
	if (p) {
		*ret = (struct nsh *)(uintptr_t)json_integer_value(p);
		return 0;
	}
	struct nsh *h;
	int r = nsh_open(ns, with_nft, &h, e);
	if (r < 0)
		return r;
	json_object_set_new(V->ns_cache, ns, json_integer((json_int_t)(uintptr_t)h));
	*ret = h;
	return 0;
}

void nsh_forget(const char *ns)
{
	json_t *p = json_object_get(V->ns_cache, ns);
	if (p)
		nsh_free((struct nsh *)(uintptr_t)json_integer_value(p));
	json_object_del(V->ns_cache, ns);
}

int ns_prepare(const char *ns, bool *created, struct err *e)
{
	*created = !netns_exists(ns);
	if (*created) {
		nsh_forget(ns);
		return netns_create(ns, e);
	}
	return 0;
}

/* A new VPC or region namespace: loopback up, IPv4 forwarding on, IPv6 off (vpclab is IPv4
 * only, and IPv6 autoconfiguration chatter would cross the bridges), no ICMP redirects (an
 * appliance route sends packets back out of the bridge they came in on). */
int ns_init(struct nsh *h, bool router, struct err *e)
{
	static const char *const sysctls[][2] = {
		{"net/ipv6/conf/all/disable_ipv6", "1"}, {"net/ipv6/conf/default/disable_ipv6", "1"},
		{"net/ipv4/conf/all/send_redirects", "0"}, {"net/ipv4/conf/default/send_redirects", "0"},
		{"net/ipv4/ip_forward", "1"}};
	int r = nl_link_up(h, "lo", true, e);
	if (r < 0)
		return r;
	size_t bad = 0;
	r = netns_sysctls(h->fd, sysctls, ARRAY_SIZE(sysctls) - (router ? 0 : 1), &bad);
	if (r < 0)
		return err_setr(e, r, "InternalError", "sysctl %s in '%s': %s",
				bad < ARRAY_SIZE(sysctls) ? sysctls[bad][0] : "?", h->name, strerror(-r));
	return 0;
}

struct names {
	json_t *set; /* name -> true */
};

static void collect_name(const char *name, void *data)
{
	json_object_set_new(((struct names *)data)->set, name, json_true());
}

bool rule_eq(const struct nl_rule *a, const struct nl_rule *b)
{
	return a->prio == b->prio && a->table == b->table && a->dst == b->dst &&
	       a->dst_len == b->dst_len && strcmp(a->iif, b->iif) == 0;
}

struct vec {
	void *v;
	size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 16;
		v->v = realloc(v->v, v->cap * v->size);
	}
	return (char *)v->v + v->size * v->n++;
}

void routing_want(struct nsh *h, json_t *vpc, struct nl_rule **rules, size_t *nrules, struct nl_route **routes,
		  size_t *nroutes)
{
	const char *vpc_id = jstr(vpc, "VpcId"), *id;
	json_t *o;
	struct cidr vc;
	struct vec want_rules = {.size = sizeof(struct nl_rule)};
	struct vec want_routes = {.size = sizeof(struct nl_route)};

	cidr_parse(jstr(vpc, "CidrBlock"), &vc);
	/* The `local` route: traffic to the VPC CIDR uses the connected routes of the bridges;
	 * addresses of the CIDR outside every subnet hit the blackhole. */
	*(struct nl_rule *)vec_push(&want_rules) =
		(struct nl_rule){.prio = RULE_PRIO_LOCAL, .table = RT_TABLE_MAIN, .dst = vc.addr, .dst_len = vc.len};
	*(struct nl_route *)vec_push(&want_routes) = (struct nl_route){
		.table = RT_TABLE_MAIN, .dst = vc.addr, .len = vc.len, .type = RTN_BLACKHOLE};
	obj_foreach_vpc("subnet", vpc_id, id, o)
	{
		if (strcmp(jstr(o, "VpcId"), vpc_id) != 0)
			continue;
		json_t *rt = subnet_route_table(id, vpc_id);
		struct nl_rule *ru = vec_push(&want_rules);
		*ru = (struct nl_rule){.prio = RULE_PRIO_SUBNET,
				       .table = (uint32_t)json_integer_value(json_object_get(rt, "_table"))};
		snprintf(ru->iif, sizeof(ru->iif), "%s", jstr(o, "_bridge"));
	}
	obj_foreach_vpc("rtb", vpc_id, id, o)
	{
		if (strcmp(jstr(o, "VpcId"), vpc_id) != 0)
			continue;
		uint32_t table = (uint32_t)json_integer_value(json_object_get(o, "_table"));
		/* No route: dropped, as in AWS. */
		*(struct nl_route *)vec_push(&want_routes) =
			(struct nl_route){.table = table, .type = RTN_BLACKHOLE, .metric = METRIC_LAST};
		size_t i;
		json_t *route;
		json_array_foreach(json_object_get(o, "Routes"), i, route)
		{
			struct cidr d;
			if (strcmp(jstr(route, "GatewayId"), "local") == 0 ||
			    cidr_parse(jstr(route, "DestinationCidrBlock"), &d) < 0)
				continue;
			struct nl_route *nr = vec_push(&want_routes);
			*nr = (struct nl_route){.table = table, .dst = d.addr, .len = d.len, .type = RTN_BLACKHOLE};
			json_t *eni = obj_get_type(jstr(route, "NetworkInterfaceId"), "eni");
			json_t *nat = obj_get_type(jstr(route, "NatGatewayId"), "nat");
			if (nat)
				eni = obj_get_type(jstr(json_array_get(json_object_get(nat, "NatGatewayAddresses"), 0),
							"NetworkInterfaceId"), "eni");
			json_t *igw = obj_get_type(jstr(route, "GatewayId"), "igw");
			if (igw && route_active(route, vpc_id)) {
				char g[16];
				snprintf(g, sizeof(g), "%sg%s", V->prefix, id_tail(jstr(igw, "InternetGatewayId")));
				int oif = nl_link_index(h, g);
				if (oif > 0)
					nr->type = RTN_UNICAST, nr->oif = oif, nr->gw = IGW_REGION_SIDE;
			}
			char plink[16];
			uint32_t peer_ip;
			json_t *pcx = obj_get_type(jstr(route, "VpcPeeringConnectionId"), "pcx");
			if (pcx && pcx_link(pcx, vpc_id, plink, &peer_ip, NULL)) {
				int oif = nl_link_index(h, plink);
				if (oif > 0)
					nr->type = RTN_UNICAST, nr->oif = oif, nr->gw = peer_ip;
			}
			if (eni && route_active(route, vpc_id)) {
				json_t *s = obj_get(jstr(eni, "SubnetId"));
				int oif = nl_link_index(h, jstr(s, "_bridge"));
				uint32_t gw;
				if (oif > 0 && ip_parse(jstr(eni, "PrivateIpAddress"), &gw) == 0)
					nr->type = RTN_UNICAST, nr->oif = oif, nr->gw = gw;
			}
			/* Other targets (gateways, peering) are routed by the features that own
			 * them; until then the route drops, like a blackhole. */
		}
	}
	*rules = want_rules.v, *nrules = want_rules.n;
	*routes = want_routes.v, *nroutes = want_routes.n;
}

static int sync_routing(struct nsh *h, json_t *vpc, struct err *e)
{
	struct vec want_rules = {.size = sizeof(struct nl_rule)};
	struct vec want_routes = {.size = sizeof(struct nl_route)};
	_cleanup_free_ struct nl_rule *have_rules = NULL;
	size_t nhr = 0;
	int r = 0;

	routing_want(h, vpc, (struct nl_rule **)&want_rules.v, &want_rules.n, (struct nl_route **)&want_routes.v,
		     &want_routes.n);
	if ((r = nl_rule_list(h, RULE_PRIO_LOCAL, RULE_PRIO_SUBNET + 999, &have_rules, &nhr)) < 0) {
		err_setr(e, r, "InternalError", "cannot list routing state of '%s'", h->name);
		goto out;
	}
	const struct nl_rule *wr = want_rules.v;
	const struct nl_route *wro = want_routes.v;
	for (size_t i = 0; i < nhr && r == 0; i++) {
		bool keep = false;
		for (size_t j = 0; j < want_rules.n && !keep; j++)
			keep = rule_eq(&have_rules[i], &wr[j]);
		if (!keep)
			r = nl_rule_del(h, &have_rules[i], e);
	}
	for (size_t j = 0; j < want_rules.n && r == 0; j++) {
		bool have = false;
		for (size_t i = 0; i < nhr && !have; i++)
			have = rule_eq(&have_rules[i], &wr[j]);
		if (!have)
			r = nl_rule_add(h, &wr[j], e);
	}
	if (r == 0)
		r = nl_routes_converge(h, 0, 0, wro, want_routes.n, e);
out:
	free(want_rules.v);
	free(want_routes.v);
	return r;
}

static int adopt_instance_link(struct nsh *h, json_t *eni, bool here, struct err *e);

json_t *changed_enis(json_t *changed, const char *vpc_id)
{
	if (!changed)
		return NULL;
	json_t *only = json_object(), *old;
	const char *id;
	json_object_foreach(changed, id, old)
	{
		json_t *cur = obj_get(id);
		const char *type = jstr(cur ? cur : old, "_type");
		if (!strcmp(type, "eip"))
			continue;
		if (strcmp(type, "eni") != 0) {
			json_decref(only);
			return NULL;
		}
		if (!vpc_id || !strcmp(jstr(cur, "VpcId"), vpc_id) || !strcmp(jstr(old, "VpcId"), vpc_id))
			json_object_set(only, id, old);
	}
	return only;
}

/* The links of the ENIs a request changed: made, adopted or removed one by one. */
static int sync_eni_links(struct nsh *h, json_t *only, struct err *e)
{
	const char *id;
	json_t *x;
	int r;
	json_object_foreach(only, id, x)
	{
		json_t *o = obj_get_type(id, "eni");
		char port[16];
		name_port(id, port);
		bool here = nl_link_index(h, port) >= 0;
		if (o && *jstr(o, "_instance")) {
			if ((r = adopt_instance_link(h, o, here, e)) < 0)
				return r;
			continue;
		}
		const char *target = o ? jstr(o, "_plugged") : "";
		if (!*target) {
			if (here && (r = nl_link_del(h, port, e)) < 0)
				return r;
			continue;
		}
		if (here)
			continue;
		if (netns_exists(target) && (r = eni_attach(h, o, target, e)) < 0)
			return r;
	}
	return 0;
}

int sync_vpc(const char *vpc_id, bool full, json_t *changed, struct err *e)
{
	char ns[64];
	json_t *vpc = obj_get_type(vpc_id, "vpc");
	struct nsh *h;
	bool created;
	const char *id;
	json_t *o;
	int r;

	name_vpc_ns(vpc_id, ns);
	if (!vpc) {
		/* Deleted (or rolled back before it was ever committed): the namespace goes, and
		 * with it every bridge, port and plugged peer in it. */
		dns_stop(vpc_id, -1);
		nsh_forget(ns);
		json_object_del(V->nft_applied, vpc_id);
		fault_forget(vpc_id);
		netns_kill_procs(ns);
		r = netns_delete(ns);
		return r < 0 ? err_setr(e, r, "InternalError", "cannot delete namespace '%s': %s", ns,
					strerror(-r))
			     : 0;
	}
	if ((r = ns_prepare(ns, &created, e)) < 0 || (r = nsh_get(ns, true, &h, e)) < 0)
		return r;
	if ((created || full) && ((r = ns_init(h, true, e)) < 0 ||
				  (r = nl_addr_add32(h, "lo", IMDS_ADDR, e)) < 0 ||
				  (r = nl_addr_add32(h, "lo", EC2_API_ADDR, e)) < 0))
		return r;
	/* A request that changed faults alone converges the fault tables: one nftables
	 * transaction between the request and the first packet it drops or lets through. */
	if (!created && !full && faults_only(changed))
		return fault_sync(h, vpc_id, false, e);
	/* A request that changed ENIs (and elastic IPs) alone converges those ENIs, at a cost
	 * that does not grow with the VPC; anything else converges the whole VPC. */
	_cleanup_json_ json_t *only = created || full ? NULL : changed_enis(changed, vpc_id);
	if (only) {
		/* Faults too: a subnet's fault names its ENIs' ports, and a rate limit needs the
		 * port a plug or an attachment just made. */
		if ((r = sync_eni_links(h, only, e)) < 0 || (r = sync_routing(h, vpc, e)) < 0 ||
		    (r = firewall_sync(h, vpc_id, false, only, e)) < 0 || (r = fault_sync(h, vpc_id, false, e)) < 0)
			return r;
		return dns_sync(h, vpc_id, only, e);
	}

	_cleanup_json_ json_t *present = json_object();
	struct names names = {present};
	if ((r = nl_link_foreach(h, V->prefix, collect_name, &names)) < 0)
		return err_setr(e, r, "InternalError", "cannot list links of '%s'", ns);
	_cleanup_json_ json_t *wanted = json_object();

	obj_foreach_vpc("subnet", vpc_id, id, o)
	{
		if (strcmp(jstr(o, "VpcId"), vpc_id) != 0)
			continue;
		const char *br = jstr(o, "_bridge");
		struct cidr c;
		cidr_parse(jstr(o, "CidrBlock"), &c);
		json_object_set_new(wanted, br, json_true());
		bool have = json_object_get(present, br) != NULL;
		if (!have && (r = nl_bridge_add(h, br, e)) < 0)
			return r;
		/* The router at +1, AmazonProvidedDNS at +2. */
		if ((!have || full) && ((r = nl_addr_add(h, br, subnet_router(&c), c.len, e)) < 0 ||
					(r = nl_addr_add(h, br, c.addr + 2, c.len, e)) < 0))
			return r;
		if (full && ((r = nl_link_up(h, br, true, e)) < 0 || (r = nl_bridge_fix_mac(h, br, e)) < 0))
			return r;
	}
	/* NAT gateways first: their namespace must exist before their ENI's pair is made. */
	obj_foreach_vpc("nat", vpc_id, id, o)
	{
		if ((r = natgw_sync(o, e)) < 0)
			return r;
	}
	/* A plugged ENI is a veth pair: the port on its subnet's bridge, the peer eth0 in the
	 * namespace it is plugged into. An unplugged ENI has no link. */
	obj_foreach_vpc("eni", vpc_id, id, o)
	{
		const char *port = jstr(o, "_port"), *target = jstr(o, "_plugged");
		json_t *s = obj_get(jstr(o, "SubnetId"));
		if (*jstr(o, "_instance")) {
			if ((r = adopt_instance_link(h, o, json_object_get(present, port) != NULL, e)) < 0)
				return r;
			json_object_set_new(wanted, port, json_true());
			continue;
		}
		if (!*target)
			continue;
		json_object_set_new(wanted, port, json_true());
		int master = nl_link_index(h, jstr(s, "_bridge"));
		if (master < 0)
			return err_setr(e, master, "InternalError", "no bridge for subnet '%s'", jstr(s, "SubnetId"));
		if (json_object_get(present, port)) {
			/* A bridge remade by this sync has lost its ports. */
			if (full && nl_link_master(h, port) != master &&
			    (r = nl_link_set_master(h, port, master, e)) < 0)
				return r;
			continue;
		}
		/* The pair is gone (its namespace was deleted, or the kernel state was lost): make
		 * it again if the namespace is there; if not, start-up marks the ENI unplugged. */
		if (netns_exists(target) && (r = eni_attach(h, o, target, e)) < 0)
			return r;
	}
	if ((r = pcx_sync(h, vpc_id, wanted, e)) < 0)
		return r;
	/* The internet gateway: a veth pair from this namespace to the region's. */
	json_t *igw = vpc_igw(vpc_id);
	if (igw) {
		char g[16], w[16], rns[64];
		struct nsh *rh;
		const char *tail = id_tail(jstr(igw, "InternetGatewayId"));
		snprintf(g, sizeof(g), "%sg%s", V->prefix, tail);
		snprintf(w, sizeof(w), "%sw%s", V->prefix, tail);
		name_region_ns(jstr(vpc, "_region"), rns);
		json_object_set_new(wanted, g, json_true());
		if ((r = nsh_get(rns, false, &rh, e)) < 0)
			return r;
		if (!json_object_get(present, g) || (full && nl_link_index(rh, w) < 0)) {
			struct err ignored = {0};
			nl_link_del(h, g, &ignored);
			nl_link_del(rh, w, &ignored);
			if ((r = nl_veth_add(h, g, 0, w, "02:00:00:00:00:03", rh->fd, e)) < 0)
				return r;
		}
		if ((r = nl_link_up(h, g, true, e)) < 0 || (r = nl_addr_add32(h, g, IGW_VPC_SIDE, e)) < 0 ||
		    (r = nl_link_up(rh, w, true, e)) < 0 || (r = nl_addr_add32(rh, w, IGW_REGION_SIDE, e)) < 0)
			return r;
	}
	/* Links carrying the prefix that the model does not explain are strays. */
	const char *name;
	json_t *v;
	json_object_foreach(present, name, v) if (!json_object_get(wanted, name))
	{
		if ((r = nl_link_del(h, name, e)) < 0)
			return r;
	}
	if ((r = sync_routing(h, vpc, e)) < 0 || (r = firewall_sync(h, vpc_id, full || created, NULL, e)) < 0 ||
	    (r = fault_sync(h, vpc_id, full || created, e)) < 0)
		return r;
	return dns_sync(h, vpc_id, NULL, e);
}

/* An instance's link is made by libvirt in the host namespace (a veth for a container, a tap
 * for a VM) and named after the ENI's port: it is moved here and put on the subnet bridge.
 * While the instance is stopped there is no link, and nothing to do. */
static int adopt_instance_link(struct nsh *h, json_t *eni, bool here, struct err *e)
{
	const char *port = jstr(eni, "_port");
	json_t *s = obj_get(jstr(eni, "SubnetId"));
	int r, master = nl_link_index(h, jstr(s, "_bridge"));
	if (master < 0)
		return err_setr(e, master, "InternalError", "no bridge for subnet '%s'", jstr(s, "SubnetId"));
	/* A new link in the host namespace wins over one of the same name here: that is the
	 * previous boot's, which the kernel may take a second or two to remove after its
	 * container's namespace went. */
	struct nsh *root;
	if ((r = nsh_get("", false, &root, e)) < 0)
		return r;
	if (nl_link_index(root, port) >= 0) {
		if (here && (r = nl_link_del(h, port, e)) < 0)
			return r;
		if ((r = nl_link_move(root, port, h->fd, e)) < 0)
			return r;
	} else if (!here) {
		return 0;
	}
	if (nl_link_master(h, port) != master && (r = nl_link_set_master(h, port, master, e)) < 0)
		return r;
	return nl_link_up(h, port, true, e);
}

static int expect_ns(const char *name, void *data)
{
	json_t *expected = data;
	if (!json_object_get(expected, name)) {
		nsh_forget(name);
		netns_kill_procs(name);
		netns_delete(name);
	}
	return 0;
}

int reconcile(struct err *e)
{
	_cleanup_json_ json_t *expected = json_object();
	char ns[64], pfx[16];
	const char *id;
	json_t *o;
	int r;

	obj_foreach("region", NULL, id, o)
	{
		name_region_ns(jstr(o, "RegionName"), ns);
		json_object_set_new(expected, ns, json_true());
	}
	if (json_object_size(expected)) {
		snprintf(ns, sizeof(ns), "%s-backbone", V->prefix);
		json_object_set_new(expected, ns, json_true());
	}
	obj_foreach("vpc", NULL, id, o)
	{
		name_vpc_ns(id, ns);
		json_object_set_new(expected, ns, json_true());
	}
	obj_foreach("nat", NULL, id, o) if (!strcmp(jstr(o, "State"), "available"))
	{
		name_nat_ns(id, ns);
		json_object_set_new(expected, ns, json_true());
	}
	snprintf(pfx, sizeof(pfx), "%s-", V->prefix);
	netns_list(pfx, expect_ns, expected);
	/* A VPC's internet gateway link ends in its region's namespace, so that must exist
	 * before the VPCs (after a teardown, or a reboot, none does). */
	obj_foreach("region", NULL, id, o)
	{
		bool created;
		name_region_ns(jstr(o, "RegionName"), ns);
		if ((r = ns_prepare(ns, &created, e)) < 0)
			return r;
	}
	obj_foreach("vpc", NULL, id, o)
	{
		if ((r = sync_vpc(id, true, NULL, e)) < 0)
			return r;
	}
	/* Regions last: their routes lead to the VPCs' gateway links. */
	obj_foreach("region", NULL, id, o)
	{
		if ((r = sync_region(jstr(o, "RegionName"), NULL, e)) < 0)
			return r;
	}
	return 0;
}

static int delete_ns(const char *name, void *data)
{
	(void)data;
	netns_kill_procs(name);
	return netns_delete(name) < 0 ? 0 : 0;
}

struct root_links {
	struct nsh *h;
	const char *prefix;
};

/* Host-side links are named <prefix><kind letter><8 hex digits>; nothing else is touched, so
 * that a prefix like "vl" never matches a host's "vlan0". */
static void delete_link(const char *name, void *data)
{
	struct root_links *rl = data;
	size_t p = strlen(rl->prefix);
	struct err ignored = {0};
	if (strlen(name) != p + 9 || name[p] < 'a' || name[p] > 'z' ||
	    strspn(name + p + 1, "0123456789abcdef") != 8)
		return;
	nl_link_del(rl->h, name, &ignored);
}

int teardown_prefix(const char *prefix, struct err *e)
{
	char pfx[16];
	struct nsh *root;
	int r;
	snprintf(pfx, sizeof(pfx), "%s-", prefix);
	r = netns_list(pfx, delete_ns, NULL);
	if (r < 0)
		return err_setr(e, r, "InternalError", "cannot list namespaces: %s", strerror(-r));
	/* Links in the host namespace carry the prefix too (region uplinks, once made). */
	if ((r = nsh_open("", false, &root, e)) < 0)
		return r;
	struct root_links rl = {root, prefix};
	nl_link_foreach(root, prefix, delete_link, &rl);
	nsh_free(root);
	return 0;
}
