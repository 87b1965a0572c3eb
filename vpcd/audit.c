/* AuditLab (`vpcd audit-lab [--repair]`): the kernel against the model. Each drift is a line
 * naming the object and the kernel object: a namespace missing or stray (regions, the
 * backbone, VPCs, NAT gateways), a subnet's bridge or a plugged ENI's port missing, a stray
 * link with the lab's prefix in a VPC namespace, a bridge that is down, a VPC namespace
 * without its nftables tables, a VPC with subnets and no running dnsmasq, a fault whose table,
 * chain or qdisc is missing and a fault table or chain of no fault (fault.c). With drifts the
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
		a->checked++;
		json_object_set_new(wanted, port, json_true());
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
