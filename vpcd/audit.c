/* AuditLab (`vpcd audit-lab [--repair]`): the kernel against the model. Each drift is a line
 * naming the object and the kernel object: a namespace missing or stray (regions, the
 * backbone, VPCs, NAT gateways), a subnet's bridge or a plugged ENI's port missing, a stray
 * link with the lab's prefix in a VPC namespace, a bridge that is down, a VPC namespace
 * without its nftables tables, a VPC with subnets and no running dnsmasq, a fault whose table,
 * chain or qdisc is missing and a fault table or chain of no fault (fault.c), a subnet's
 * bridge without its router or DNS address, the namespace's lo without the metadata or the
 * in-VPC API address, a policy rule (a subnet's route table association, the VPC's local
 * rule) missing or of no object, and a route missing or of no object in each route table
 * (named by its route table; the routes and rules wanted are sync.c's own), and an ENI's
 * anti-spoofing element missing from the bridge table's sets. With drifts the
 * answer is the error KernelDrift, whose message lists them (the CLI exits non-zero); with
 * --repair the lab is reconciled (as at vpcd's start) and audited again, and the answer says
 * what was repaired. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "cleanup.h"
#include "netns.h"
#include "nft.h"
#include "nl.h"
#include <linux/rtnetlink.h>
#include "vpcd.h"

struct audit {
	json_t *drifts; /* array of strings */
	size_t checked;
};

static void drift(struct audit *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void drift(struct audit *a, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	json_array_append_new(a->drifts, json_string(line));
}

static int stray_ns(const char *name, void *data)
{
	void **d = data;
	struct audit *a = d[0];
	json_t *expected = d[1];
	if (!json_object_get(expected, name))
		drift(a, "namespace %s: in the kernel, of no object", name);
	return 0;
}

static void collect(const char *name, void *data)
{
	json_object_set_new(data, name, json_true());
}

/* A whole line of `list tables`: "table bridge vpclab" is also the start of the fault
 * table's line, which must not stand in for it. */
static bool has_table(const char *tables, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = tables; (p = strstr(p, line)); p += n)
		if ((p == tables || p[-1] == '\n') && (p[n] == '\n' || p[n] == 0))
			return true;
	return false;
}

/* The route table (rtb-…) whose kernel table is `table`, or "main". */
static const char *table_name(const char *vpc_id, uint32_t table)
{
	const char *id;
	json_t *o;
	if (table == RT_TABLE_MAIN)
		return "main";
	obj_foreach_vpc("rtb", vpc_id, id, o) if ((uint32_t)json_integer_value(json_object_get(o, "_table")) == table)
		return id;
	return "no route table";
}

static void route_text(const struct nl_route *r, char buf[static 160])
{
	char d[IP_STRLEN], g[IP_STRLEN];
	ip_format(r->dst, d);
	ip_format(r->gw, g);
	snprintf(buf, 160, "%s%s/%u%s%s oif %d metric %u", r->type == RTN_BLACKHOLE ? "blackhole " : "", d, r->len,
		 r->gw ? " via " : "", r->gw ? g : "", r->oif, r->metric);
}

static bool route_same(const struct nl_route *a, const struct nl_route *b)
{
	return a->table == b->table && a->dst == b->dst && a->len == b->len && a->type == b->type && a->gw == b->gw &&
	       a->oif == b->oif && a->metric == b->metric && a->src == b->src;
}

/* Addresses, rules and routes of a VPC namespace against what sync.c makes of the model. */
static void audit_routing(struct audit *a, struct nsh *h, json_t *vpc, const char *ns)
{
	const char *vpc_id = jstr(vpc, "VpcId"), *id;
	json_t *o;
	char ip[IP_STRLEN];
	obj_foreach_vpc("subnet", vpc_id, id, o)
	{
		struct cidr c;
		if (cidr_parse(jstr(o, "CidrBlock"), &c) < 0)
			continue;
		uint32_t want[2] = {subnet_router(&c), subnet_dns(&c)};
		for (int k = 0; k < 2; k++) {
			a->checked++;
			if (nl_addr_has(h, jstr(o, "_bridge"), want[k], c.len) == 0) {
				ip_format(want[k], ip);
				drift(a, "%s: bridge %s in %s lacks its %s address %s/%u", id, jstr(o, "_bridge"), ns,
				      k ? "DNS" : "router", ip, c.len);
			}
		}
	}
	static const uint32_t lo_addrs[] = {0xa9fea9feu, 0xa9fea9f9u}; /* metadata, in-VPC API */
	for (int k = 0; k < 2; k++) {
		a->checked++;
		if (nl_addr_has(h, "lo", lo_addrs[k], 32) != 1) {
			ip_format(lo_addrs[k], ip);
			drift(a, "%s: lo in %s lacks %s/32 (the %s)", vpc_id, ns, ip, k ? "in-VPC API" : "metadata service");
		}
	}
	struct nl_rule *wr = NULL, *hr = NULL;
	struct nl_route *wro = NULL, *hro = NULL;
	size_t nwr = 0, nwro = 0, nhr = 0, nhro = 0;
	routing_want(h, vpc, &wr, &nwr, &wro, &nwro);
	if (nl_rule_list(h, 100, 1999, &hr, &nhr) < 0 || nl_route_list(h, &hro, &nhro) < 0) {
		drift(a, "%s: the rules or routes of %s cannot be listed", vpc_id, ns);
		goto out;
	}
	for (size_t j = 0; j < nwr; j++) {
		bool have = false;
		a->checked++;
		for (size_t i = 0; i < nhr && !have; i++)
			have = rule_eq(&hr[i], &wr[j]);
		if (!have) {
			ip_format(wr[j].dst, ip);
			drift(a, "%s: rule %u%s%s%s%s lookup %u (%s) is missing in %s", vpc_id, wr[j].prio,
			      *wr[j].iif ? " iif " : "", wr[j].iif, wr[j].dst_len ? " to " : "", wr[j].dst_len ? ip : "",
			      wr[j].table, table_name(vpc_id, wr[j].table), ns);
		}
	}
	for (size_t i = 0; i < nhr; i++) {
		bool want = false;
		for (size_t j = 0; j < nwr && !want; j++)
			want = rule_eq(&hr[i], &wr[j]);
		if (!want)
			drift(a, "%s: rule %u%s%s lookup %u in %s is of no object", vpc_id, hr[i].prio,
			      *hr[i].iif ? " iif " : "", hr[i].iif, hr[i].table, ns);
	}
	char rt[160];
	for (size_t j = 0; j < nwro; j++) {
		bool have = false;
		a->checked++;
		for (size_t i = 0; i < nhro && !have; i++)
			have = route_same(&hro[i], &wro[j]);
		if (!have) {
			route_text(&wro[j], rt);
			drift(a, "%s: route %s of %s (table %u) is missing in %s", vpc_id, rt,
			      table_name(vpc_id, wro[j].table), wro[j].table, ns);
		}
	}
	for (size_t i = 0; i < nhro; i++) {
		bool want = false;
		for (size_t j = 0; j < nwro && !want; j++)
			want = route_same(&hro[i], &wro[j]);
		if (!want) {
			route_text(&hro[i], rt);
			drift(a, "%s: route %s in table %u (%s) of %s is of no object", vpc_id, rt, hro[i].table,
			      table_name(vpc_id, hro[i].table), ns);
		}
	}
out:
	free(wr), free(hr), free(wro), free(hro);
}

/* The anti-spoofing elements every ENI must have in the bridge table (as firewall.c's
 * eni_elements makes them): its port in eni_ports (no DHCP answers from guests), port . MAC .
 * address in sdc_src and port . address in sdc_dst, and, with source/dest check on, its port
 * in sdc_ports. Each is asked of the kernel with `get element`. */
static void audit_eni_sets(struct audit *a, struct nsh *h, const char *vpc_id, const char *ns)
{
	const char *id;
	json_t *o;
	obj_foreach_vpc("eni", vpc_id, id, o)
	{
		const char *port = jstr(o, "_port"), *ip = jstr(o, "PrivateIpAddress");
		if (!*port || !*ip)
			continue;
		char el[4][200];
		const char *set[4] = {"eni_ports", "sdc_src", "sdc_dst", "sdc_ports"};
		snprintf(el[0], sizeof(el[0]), "\"%s\"", port);
		snprintf(el[1], sizeof(el[1]), "\"%s\" . %s . %s", port, jstr(o, "MacAddress"), ip);
		snprintf(el[2], sizeof(el[2]), "\"%s\" . %s", port, ip);
		snprintf(el[3], sizeof(el[3]), "\"%s\"", port);
		int n = json_is_true(json_object_get(o, "SourceDestCheck")) ? 4 : 3;
		for (int k = 0; k < n; k++) {
			char cmd[1024];
			_cleanup_free_ char *out = NULL;
			struct err e = {0};
			a->checked++;
			snprintf(cmd, sizeof(cmd), "get element bridge vpclab %s { %s }", set[k], el[k]);
			if (nft_list(h, cmd, &out, &e) < 0)
				drift(a, "%s: element { %s } is missing from set bridge %s in %s", id, el[k], set[k], ns);
		}
	}
}

static void audit_vpc(struct audit *a, const char *vpc_id)
{
	char ns[64];
	name_vpc_ns(vpc_id, ns);
	if (!netns_exists(ns))
		return; /* reported with the namespaces */
	struct nsh *h;
	struct err e = {0};
	if (nsh_get(ns, true, &h, &e) < 0) {
		drift(a, "%s: namespace %s cannot be opened: %s", vpc_id, ns, e.msg);
		return;
	}
	_cleanup_json_ json_t *present = json_object(), *wanted = json_object();
	nl_link_foreach(h, V->prefix, collect, present);
	const char *id;
	json_t *o;
	size_t subnets = 0;
	obj_foreach_vpc("subnet", vpc_id, id, o)
	{
		const char *br = jstr(o, "_bridge");
		subnets++, a->checked++;
		json_object_set_new(wanted, br, json_true());
		if (!json_object_get(present, br))
			drift(a, "%s: bridge %s in %s is missing", id, br, ns);
	}
	obj_foreach_vpc("eni", vpc_id, id, o)
	{
		const char *port = jstr(o, "_port");
		if (!*jstr(o, "_instance") && !*jstr(o, "_plugged"))
			continue; /* an unplugged ENI has no link */
		json_object_set_new(wanted, port, json_true());
		/* An instance's link is libvirt's and exists only while the instance runs, which
		 * vpcd does not know: ec2d's audit-lab checks the domain. */
		if (*jstr(o, "_instance"))
			continue;
		a->checked++;
		if (!json_object_get(present, port))
			drift(a, "%s: port %s in %s is missing", id, port, ns);
	}
	const char *name;
	json_t *v;
	json_object_foreach(present, name, v)
	{
		/* The VPC's own gateway and peering links carry the prefix too: only bridges and
		 * ENI ports (<prefix>b…, <prefix>e…) are judged here. */
		size_t pl = strlen(V->prefix);
		if ((name[pl] == 'b' || name[pl] == 'e') && !json_object_get(wanted, name))
			drift(a, "%s: link %s in %s is of no object", vpc_id, name, ns);
	}
	_cleanup_free_ char *tables = NULL;
	a->checked++;
	if (nft_list(h, "list tables", &tables, &e) < 0)
		drift(a, "%s: the nftables tables of %s cannot be listed: %s", vpc_id, ns, e.msg);
	else if (!has_table(tables, "table bridge vpclab") || !has_table(tables, "table inet vpclab"))
		drift(a, "%s: %s lacks its nftables tables (it has: %s)", vpc_id, ns, *tables ? tables : "none");
	if (tables)
		fault_audit(h, vpc_id, tables, a->drifts, &a->checked);
	if (tables && has_table(tables, "table bridge vpclab"))
		audit_eni_sets(a, h, vpc_id, ns);
	audit_routing(a, h, obj_get(vpc_id), ns);
	if (subnets) {
		a->checked++;
		if (!dns_running(vpc_id, h))
			drift(a, "%s: no dnsmasq runs for its %zu subnet%s", vpc_id, subnets, subnets == 1 ? "" : "s");
	}
}

static void audit_all(struct audit *a)
{
	_cleanup_json_ json_t *expected = json_object();
	char ns[64], pfx[16];
	const char *id;
	json_t *o;
	obj_foreach("region", NULL, id, o)
	{
		name_region_ns(jstr(o, "RegionName"), ns);
		json_object_set_new(expected, ns, json_string(jstr(o, "RegionName")));
	}
	if (json_object_size(expected)) {
		snprintf(ns, sizeof(ns), "%s-backbone", V->prefix);
		json_object_set_new(expected, ns, json_string("the backbone"));
	}
	obj_foreach("vpc", NULL, id, o)
	{
		name_vpc_ns(id, ns);
		json_object_set_new(expected, ns, json_string(id));
	}
	obj_foreach("nat", NULL, id, o) if (!strcmp(jstr(o, "State"), "available"))
	{
		name_nat_ns(id, ns);
		json_object_set_new(expected, ns, json_string(id));
	}
	const char *name;
	json_t *v;
	json_object_foreach(expected, name, v)
	{
		a->checked++;
		if (!netns_exists(name))
			drift(a, "%s: namespace %s is missing", json_string_value(v), name);
	}
	snprintf(pfx, sizeof(pfx), "%s-", V->prefix);
	void *d[] = {a, expected};
	netns_list(pfx, stray_ns, d);
	/* Partitions between regions live in the backbone. */
	struct nsh *bb;
	struct err ignored = {0};
	snprintf(ns, sizeof(ns), "%s-backbone", V->prefix);
	if (netns_exists(ns) && nsh_get(ns, true, &bb, &ignored) == 0)
		fault_backbone_audit(bb, a->drifts, &a->checked);
	obj_foreach("vpc", NULL, id, o) audit_vpc(a, id);
}

int h_audit_lab(struct req *rq, json_t **ret, struct err *e)
{
	struct audit a = {json_array(), 0};
	audit_all(&a);
	json_t *repaired = NULL;
	if (json_array_size(a.drifts) && json_is_true(json_object_get(rq->params, "Repair"))) {
		int r = reconcile(e);
		if (r < 0) {
			json_decref(a.drifts);
			return r;
		}
		repaired = a.drifts;
		a = (struct audit){json_array(), 0};
		audit_all(&a);
	}
	if (json_array_size(a.drifts)) {
		_cleanup_free_ char *list = NULL;
		size_t n = 0, i;
		FILE *f = open_memstream(&list, &n);
		json_t *s;
		json_array_foreach(a.drifts, i, s) fprintf(f, "\n  %s", json_string_value(s));
		fclose(f);
		err_set(e, "KernelDrift", "%zu drift%s between the model and the kernel%s:%s", json_array_size(a.drifts),
			json_array_size(a.drifts) == 1 ? "" : "s", repaired ? " remain after the repair" : "", list);
		json_decref(a.drifts);
		json_decref(repaired);
		return -EIO;
	}
	*ret = json_pack("{s:I, s:o, s:o}", "Checked", (json_int_t)a.checked, "Drifts", a.drifts, "Repaired",
			 repaired ? repaired : json_array());
	return 0;
}
