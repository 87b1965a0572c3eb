/* Network faults for fault injection (ec2d's AWS FIS engine calls these): ApplyFault,
 * ClearFaults, DescribeFaults. A fault is a model object like any other (journaled before the
 * answer, re-applied at start, audited); its kernel side is one nftables chain per fault in
 * the tables `bridge vpclab_fault` and `inet vpclab_fault` of the VPC's namespace, or a tbf
 * qdisc on an ENI's port. The tables, hooks and priorities are described in
 * docs/architecture.md, "Faults". */
#include <arpa/inet.h>
#include <math.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/tbf.h>
#include <netlink/route/tc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "impair.h"
#include "log.h"
#include "nft.h"
#include "vpcd.h"

#define FAULT_TYPE "fault"
#define LOSS_MOD 10000 /* numgen's modulus: a loss resolution of 0.01 % */
#define BRIDGE_PRIO -300 /* before `bridge vpclab` (-200): a fault wins over the sdc check */
#define INET_PRIO -10    /* before `inet vpclab`'s forward chain (filter, 0): over ACLs and SGs */
#define RATE_MIN_KBPS 8
#define RATE_MAX_KBPS 10000000

/* What each VPC's fault tables were last applied as (vpc id -> text), so that a request that
 * changed no fault of a VPC costs no nftables call. */
static json_t *applied;
static json_t *rated; /* vpc id -> true: some port of the VPC may have a tbf of vpclab's */

enum fault_table { FT_NONE, FT_BRIDGE, FT_INET, FT_QDISC, FT_BACKBONE, FT_IMPAIR };

static const struct fault_kind {
	const char *name;
	enum fault_table table;
	const char *const *params; /* what the kind takes beyond FaultId, ExperimentId, Kind */
} kinds[] = {
	{"disrupt-connectivity", FT_INET, (const char *const[]){"SubnetId", "Scope", NULL}},
	{"packet-loss", FT_BRIDGE, (const char *const[]){"SubnetId", "NetworkInterfaceId", "LossPercent", NULL}},
	{"blackhole", FT_BRIDGE, (const char *const[]){"NetworkInterfaceId", NULL}},
	{"rate-limit", FT_QDISC, (const char *const[]){"NetworkInterfaceId", "RateKbps", NULL}},
	/* Between the request's region and PeerRegion: the backbone drops what crosses. */
	{"partition", FT_BACKBONE, (const char *const[]){"PeerRegion", NULL}},
	/* Delay, jitter, reordering, duplication, corruption: NFQUEUE and a thread (impair.c). */
	{"impair", FT_IMPAIR,
	 (const char *const[]){"NetworkInterfaceId", "DelayMs", "JitterMs", "ReorderPercent", "DuplicatePercent",
			       "CorruptPercent", "Direction", NULL}},
};

static const struct fault_kind *kind_find(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(kinds); i++)
		if (!strcmp(kinds[i].name, name))
			return &kinds[i];
	return NULL;
}

/* The model key of a fault. FaultIds are the caller's, and may end in another object's ID
 * (an FIS engine may well name a fault after its target): the index reserves the last 8
 * characters of every key as a kernel-name tail, so the key ends in a character no ID has. */
static void fault_key(const char *fault_id, char buf[static 80])
{
	snprintf(buf, 80, "fault:%s/", fault_id);
}

/* The fault's chain: its ID with '-' as '_' (one-to-one, as FaultIds have no '_'). */
static void fault_chain(const char *fault_id, char buf[static 80])
{
	snprintf(buf, 80, "f_%s", fault_id);
	for (char *p = buf; *p; p++)
		if (*p == '-')
			*p = '_';
}

/* A loss percentage in the numgen's steps (of LOSS_MOD), rounded; p is positive (no libm). */
static long long loss_steps(double p) { return (long long)(p * (LOSS_MOD / 100) + 0.5); }

static bool fault_id_valid(const char *id)
{
	size_t n = strlen(id);
	return n >= 1 && n <= 64 &&
	       strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n;
}

static const struct fault_kind *fault_kind_of(json_t *f) { return kind_find(jstr(f, "Kind")); }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The faults of a VPC, sorted by key (so the ruleset text does not depend on the index's
 * order); a malloc'd array of borrowed keys. */
static const char **vpc_faults(const char *vpc_id, size_t *ret_n)
{
	json_t *ix = json_object_get(json_object_get(V->by_vpc, vpc_id), FAULT_TYPE), *v;
	size_t n = 0;
	const char *id;
	const char **keys = malloc((json_object_size(ix) + 1) * sizeof(*keys));
	if (!keys)
		abort();
	json_object_foreach(ix, id, v) if (obj_get_type(id, FAULT_TYPE)) keys[n++] = id;
	qsort(keys, n, sizeof(*keys), cmp_str);
	*ret_n = n;
	return keys;
}

/* "{ "a", "b" }" of the ports of a subnet's ENIs, or "" if it has none. */
static void subnet_ports(FILE *f, const char *vpc_id, const char *subnet_id, bool *any)
{
	const char *id;
	json_t *eni;
	*any = false;
	obj_foreach_vpc("eni", vpc_id, id, eni) if (!strcmp(jstr(eni, "SubnetId"), subnet_id))
	{
		fprintf(f, "%s\"%s\"", *any ? ", " : "{ ", jstr(eni, "_port"));
		*any = true;
	}
	if (*any)
		fprintf(f, " }");
}

static void loss_verdict(FILE *f, long long n)
{
	if (n < LOSS_MOD)
		fprintf(f, " numgen random mod %d < %lld", LOSS_MOD, n);
	fprintf(f, " drop\n");
}

/* One fault's chain. Chains are jumped from every hook of their table and written to be right
 * in each: in the bridge family the input hook has no output port and the output hook no
 * input port, and a frame bridged between two ports of one subnet passes forward once. */
static void fault_chain_text(FILE *f, json_t *fault)
{
	const char *kind = jstr(fault, "Kind"), *vpc_id = jstr(fault, "VpcId");
	json_t *target = json_object_get(fault, "Target"), *params = json_object_get(fault, "Parameters");
	const char *sid = jstr(target, "SubnetId"), *eid = jstr(target, "NetworkInterfaceId");
	char chain[80];
	fault_chain(jstr(fault, "FaultId"), chain);
	fprintf(f, "\tchain %s {\n", chain);
	if (!strcmp(kind, "disrupt-connectivity")) {
		/* Routed traffic only: what stays within the bridge (and, with br_netfilter, shows
		 * here with the bridge as both interfaces) and what the VPC namespace itself
		 * answers (the router, DHCP, DNS at +2, the metadata service) never forwards. */
		const char *br = jstr(obj_get(sid), "_bridge");
		if (!strcmp(jstr(params, "Scope"), "availability-zone")) {
			const char *az = jstr(obj_get(sid), "AvailabilityZone"), *id;
			json_t *s;
			_cleanup_free_ char *others = NULL;
			size_t len = 0;
			FILE *o = open_memstream(&others, &len);
			bool any = false;
			obj_foreach_vpc("subnet", vpc_id, id, s) if (strcmp(jstr(s, "AvailabilityZone"), az) != 0)
			{
				fprintf(o, "%s\"%s\"", any ? ", " : "{ ", jstr(s, "_bridge"));
				any = true;
			}
			fprintf(o, "%s", any ? " }" : "");
			fclose(o);
			if (any)
				fprintf(f, "\t\tiifname \"%s\" oifname %s drop\n\t\toifname \"%s\" iifname %s drop\n", br,
					others, br, others);
		} else {
			fprintf(f, "\t\tiifname \"%s\" oifname != \"%s\" drop\n\t\toifname \"%s\" iifname != \"%s\" drop\n",
				br, br, br, br);
		}
	} else if (!strcmp(kind, "packet-loss") || !strcmp(kind, "blackhole")) {
		long long n = !strcmp(kind, "blackhole") ? LOSS_MOD
							: loss_steps(json_number_value(json_object_get(params, "LossPercent")));
		if (*eid) {
			const char *port = jstr(obj_get(eid), "_port");
			fprintf(f, "\t\tiifname \"%s\"", port);
			loss_verdict(f, n);
			fprintf(f, "\t\toifname \"%s\"", port);
			loss_verdict(f, n);
		} else {
			_cleanup_free_ char *ports = NULL;
			size_t len = 0;
			bool any;
			FILE *p = open_memstream(&ports, &len);
			subnet_ports(p, vpc_id, sid, &any);
			fclose(p);
			if (any) {
				/* Each frame of the subnet gets one draw: from one of its ports (forward,
				 * input), or to one from elsewhere (output: the router). */
				fprintf(f, "\t\tiifname %s", ports);
				loss_verdict(f, n);
				fprintf(f, "\t\tiifname != %s oifname %s", ports, ports);
				loss_verdict(f, n);
			}
		}
	}
	fprintf(f, "\t}\n");
}

/* The text that makes a VPC's fault tables exactly what its faults say: both tables removed,
 * then remade with their chains, in one transaction. "" if the VPC has no nftables fault. */
static char *vpc_fault_text(const char *vpc_id)
{
	size_t n, len = 0;
	const char **keys = vpc_faults(vpc_id, &n);
	char *text = NULL;
	FILE *f = open_memstream(&text, &len);
	static const struct {
		enum fault_table t;
		const char *family, *hooks[3];
		int prio;
	} tables[] = {{FT_BRIDGE, "bridge", {"forward", "input", "output"}, BRIDGE_PRIO},
		      {FT_INET, "inet", {"forward", NULL, NULL}, INET_PRIO}};
	for (size_t t = 0; t < ARRAY_SIZE(tables); t++) {
		bool any = false;
		for (size_t i = 0; i < n; i++) {
			json_t *fault = obj_get(keys[i]);
			const struct fault_kind *k = fault_kind_of(fault);
			if (!k || k->table != tables[t].t)
				continue;
			if (!any)
				fprintf(f, "table %s vpclab_fault {\n", tables[t].family);
			any = true;
			fault_chain_text(f, fault);
		}
		if (!any)
			continue;
		for (size_t h = 0; h < 3 && tables[t].hooks[h]; h++) {
			fprintf(f, "\tchain %s {\n\t\ttype filter hook %s priority %d; policy accept;\n",
				tables[t].hooks[h], tables[t].hooks[h], tables[t].prio);
			for (size_t i = 0; i < n; i++) {
				json_t *fault = obj_get(keys[i]);
				const struct fault_kind *k = fault_kind_of(fault);
				char chain[80];
				if (!k || k->table != tables[t].t)
					continue;
				fault_chain(jstr(fault, "FaultId"), chain);
				fprintf(f, "\t\tjump %s\n", chain);
			}
			fprintf(f, "\t}\n");
		}
		fprintf(f, "}\n");
	}
	fclose(f);
	free(keys);
	return text;
}

/* --- rate-limit: a tbf qdisc on the ENI's port ----------------------------------------- */

static void qdisc_putp(struct rtnl_qdisc **q)
{
	if (*q)
		rtnl_qdisc_put(*q);
}

static void cache_freep(struct nl_cache **c)
{
	if (*c)
		nl_cache_free(*c);
}

/* The rate each port of the VPC must be limited to (port -> kbps): the lowest of the ENI's
 * rate-limit faults. */
static json_t *wanted_rates(const char *vpc_id)
{
	size_t n;
	const char **keys = vpc_faults(vpc_id, &n);
	json_t *want = json_object();
	for (size_t i = 0; i < n; i++) {
		json_t *fault = obj_get(keys[i]);
		if (strcmp(jstr(fault, "Kind"), "rate-limit") != 0)
			continue;
		const char *port = jstr(obj_get(jstr(json_object_get(fault, "Target"), "NetworkInterfaceId")), "_port");
		json_int_t kbps = json_integer_value(json_object_get(json_object_get(fault, "Parameters"), "RateKbps"));
		json_t *had = json_object_get(want, port);
		if (!had || json_integer_value(had) > kbps)
			json_object_set_new(want, port, json_integer(kbps));
	}
	free(keys);
	return want;
}

static void tbf_params(json_int_t kbps, int *rate, int *burst, int *limit)
{
	/* Bytes per second; a burst of 10 ms (at least two full frames), a queue of 50 ms. */
	*rate = (int)(kbps * 1000 / 8);
	*burst = *rate / 100 > 3028 ? *rate / 100 : 3028;
	*limit = *rate / 20 + *burst;
}

/* Makes the ports' root qdiscs what `want` says: a tbf where a rate is wanted, and vpclab's
 * tbf removed where none is (only a tbf: a port has no other root qdisc of vpclab's). A port
 * that does not exist yet (an ENI not plugged) gets its qdisc when its link appears, as
 * every ENI change converges the faults of its VPC. */
static int sync_rates(struct nsh *h, const char *vpc_id, bool full, struct err *e)
{
	_cleanup_json_ json_t *want = wanted_rates(vpc_id);
	_cleanup_(cache_freep) struct nl_cache *cache = NULL;
	const char *id;
	json_t *eni;
	int r;
	if (!rated)
		rated = json_object();
	if (!full && json_object_size(want) == 0 && !json_object_get(rated, vpc_id))
		return 0;
	if ((r = rtnl_qdisc_alloc_cache(h->sk, &cache)) < 0)
		return err_setr(e, -EIO, "InternalError", "cannot list qdiscs of '%s': %s", h->name, nl_geterror(r));
	obj_foreach_vpc("eni", vpc_id, id, eni)
	{
		const char *port = jstr(eni, "_port");
		int ifindex = nl_link_index(h, port);
		if (ifindex < 0)
			continue;
		json_t *w = json_object_get(want, port);
		_cleanup_(qdisc_putp) struct rtnl_qdisc *have = rtnl_qdisc_get_by_parent(cache, ifindex, TC_H_ROOT);
		bool is_tbf = have && !strcmp(rtnl_tc_get_kind(TC_CAST(have)) ?: "", "tbf");
		int rate, burst, limit;
		if (w) {
			tbf_params(json_integer_value(w), &rate, &burst, &limit);
			if (is_tbf && rtnl_qdisc_tbf_get_rate(have) == rate)
				continue;
			_cleanup_(qdisc_putp) struct rtnl_qdisc *q = rtnl_qdisc_alloc();
			if (!q)
				return err_setr(e, -ENOMEM, "InternalError", "out of memory");
			rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
			rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
			if ((r = rtnl_tc_set_kind(TC_CAST(q), "tbf")) < 0)
				return err_setr(e, -EIO, "InternalError", "tbf: %s", nl_geterror(r));
			rtnl_qdisc_tbf_set_limit(q, limit);
			rtnl_qdisc_tbf_set_rate(q, rate, burst, 0);
			r = rtnl_qdisc_add(h->sk, q, NLM_F_CREATE | NLM_F_REPLACE);
			if (r < 0)
				return err_setr(e, -EIO, "InternalError", "cannot limit %s in '%s' to %lld kbit/s: %s", port,
						h->name, (long long)json_integer_value(w), nl_geterror(r));
		} else if (is_tbf && (r = rtnl_qdisc_delete(h->sk, have)) < 0) {
			return err_setr(e, -EIO, "InternalError", "cannot remove the tbf of %s in '%s': %s", port, h->name,
					nl_geterror(r));
		}
	}
	if (json_object_size(want))
		json_object_set_new(rated, vpc_id, json_true());
	else
		json_object_del(rated, vpc_id);
	return 0;
}

/* --- converging ------------------------------------------------------------------------ */

static int sync_impairs(const char *vpc_id, bool full, struct err *e);

int fault_sync(struct nsh *h, const char *vpc_id, bool full, struct err *e)
{
	_cleanup_free_ char *text = vpc_fault_text(vpc_id);
	json_t *last = json_object_get(applied, vpc_id);
	int r;
	if (!applied)
		applied = json_object();
	/* Nothing applied and nothing wanted needs no call, except in a full sync, which also
	 * removes tables left behind (by a daemon killed before it journaled their clear). */
	if (full || (last ? strcmp(json_string_value(last), text) != 0 : *text)) {
		_cleanup_free_ char *cmds = NULL;
		if (asprintf(&cmds,
			     "table bridge vpclab_fault {}\ndelete table bridge vpclab_fault\n"
			     "table inet vpclab_fault {}\ndelete table inet vpclab_fault\n%s",
			     text) < 0)
			return err_setr(e, -ENOMEM, "InternalError", "out of memory");
		if ((r = nft_apply(h, cmds, e)) < 0) {
			json_object_del(applied, vpc_id);
			return r;
		}
		if (*text)
			json_object_set_new(applied, vpc_id, json_string(text));
		else
			json_object_del(applied, vpc_id);
	}
	if ((r = sync_rates(h, vpc_id, full, e)) < 0)
		return r;
	return sync_impairs(vpc_id, full, e);
}

/* Running impairments: fault key -> their thread (impair.c), by VPC. */
struct running {
	char key[80], vpc[ID_MAX];
	struct impair *im;
	struct running *next;
};
static struct running *impairs;

static struct impair_spec impair_spec_of(json_t *fault, uint32_t addr)
{
	json_t *p = json_object_get(fault, "Parameters");
	const char *dir = jstr(p, "Direction");
	uint64_t seed = 0xcbf29ce484222325ull;
	for (const char *c = jstr(fault, "FaultId"); *c; c++)
		seed = (seed ^ (unsigned char)*c) * 0x100000001b3ull; /* the same fault, the same choices */
	return (struct impair_spec){.addr = addr,
				    .dir = !strcmp(dir, "both") ? IMPAIR_BOTH : !strcmp(dir, "ingress") ? IMPAIR_INGRESS : IMPAIR_EGRESS,
				    .delay_us = (unsigned)(json_number_value(json_object_get(p, "DelayMs")) * 1000),
				    .jitter_us = (unsigned)(json_number_value(json_object_get(p, "JitterMs")) * 1000),
				    .reorder_pct = json_number_value(json_object_get(p, "ReorderPercent")),
				    .duplicate_pct = json_number_value(json_object_get(p, "DuplicatePercent")),
				    .corrupt_pct = json_number_value(json_object_get(p, "CorruptPercent")),
				    .seed = seed};
}

/* Starts the VPC's impairments that are not running and stops those whose fault is gone;
 * `full` (the start, a repair): also starts again one whose table is missing, and one that
 * fails is logged and left (not running: the audit's drift) rather than failing the sync. */
static int sync_impairs(const char *vpc_id, bool full, struct err *e)
{
	size_t n;
	const char **keys = vpc_faults(vpc_id, &n);
	char ns[64];
	int r = 0;
	name_vpc_ns(vpc_id, ns);
	for (struct running **pp = &impairs; *pp;) {
		struct running *x = *pp;
		bool keep = false;
		for (size_t i = 0; i < n && !keep; i++)
			keep = !strcmp(keys[i], x->key);
		if (!strcmp(x->vpc, vpc_id) && (!keep || (full && !impair_present(ns, jstr(obj_get(x->key), "FaultId"))))) {
			impair_stop(x->im);
			*pp = x->next;
			free(x);
		} else
			pp = &x->next;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		json_t *f = obj_get(keys[i]);
		const struct fault_kind *k = fault_kind_of(f);
		bool on = false;
		if (!k || k->table != FT_IMPAIR)
			continue;
		for (struct running *x = impairs; x && !on; x = x->next)
			on = !strcmp(x->key, keys[i]);
		json_t *eni = obj_get(jstr(json_object_get(f, "Target"), "NetworkInterfaceId"));
		uint32_t addr;
		if (on || !eni || ip_parse(jstr(eni, "PrivateIpAddress"), &addr) < 0)
			continue;
		struct impair_spec spec = impair_spec_of(f, htonl(addr));
		struct running *x = calloc(1, sizeof(*x));
		if (!x)
			abort();
		snprintf(x->key, sizeof(x->key), "%s", keys[i]);
		snprintf(x->vpc, sizeof(x->vpc), "%s", vpc_id);
		struct err ie = {0};
		if ((r = impair_start(ns, jstr(f, "FaultId"), &spec, &x->im, full ? &ie : e)) < 0) {
			free(x);
			if (!full)
				break;
			/* At the start or a repair one impairment that cannot run must not stop
			 * the lab from coming up: it is said here, and the audit reports it. */
			log_error("fault %s: cannot start its impairment in %s: %s", jstr(f, "FaultId"), ns, ie.msg);
			r = 0;
			continue;
		}
		x->next = impairs;
		impairs = x;
	}
	free(keys);
	return r;
}

static bool has_line(const char *text, const char *line);

/* The backbone's fault table: one chain per partition, dropping what crosses between the two
 * regions' links, both ways. Remade whole when it changes (a lab has few). */
static char *backbone_text(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	const char *id;
	json_t *o;
	bool any = false;
	obj_foreach(FAULT_TYPE, NULL, id, o)
	{
		char a[16], b[16], chain[80];
		if (strcmp(jstr(o, "Kind"), "partition") ||
		    region_backbone_link(jstr(o, "_region"), a) < 0 ||
		    region_backbone_link(jstr(json_object_get(o, "Target"), "PeerRegion"), b) < 0)
			continue;
		if (!any)
			fprintf(f, "table inet vpclab_fault {\n");
		any = true;
		fault_chain(jstr(o, "FaultId"), chain);
		fprintf(f, "\tchain %s {\n\t\ttype filter hook forward priority %d; policy accept;\n"
			   "\t\tiifname \"%s\" oifname \"%s\" drop\n\t\tiifname \"%s\" oifname \"%s\" drop\n\t}\n",
			chain, INET_PRIO, a, b, b, a);
	}
	if (any)
		fprintf(f, "}\n");
	fclose(f);
	return text;
}

void fault_backbone_audit(struct nsh *bb, json_t *drifts, size_t *checked)
{
	_cleanup_free_ char *want = backbone_text(), *tables = NULL, *listing = NULL;
	struct err e = {0};
	char line[600];
	if (nft_list(bb, "list tables", &tables, &e) < 0)
		return;
	bool present = has_line(tables, "table inet vpclab_fault");
	if (present && nft_list(bb, "list table inet vpclab_fault", &listing, &e) < 0)
		listing = strdup("");
	const char *id;
	json_t *o;
	obj_foreach(FAULT_TYPE, NULL, id, o)
	{
		char chain[80], c1[96];
		if (strcmp(jstr(o, "Kind"), "partition"))
			continue;
		(*checked)++;
		fault_chain(jstr(o, "FaultId"), chain);
		snprintf(c1, sizeof(c1), "chain %s {", chain);
		if (!present || !has_line(listing, c1)) {
			snprintf(line, sizeof(line), "fault %s: chain %s of table inet vpclab_fault in %s is missing",
				 jstr(o, "FaultId"), chain, bb->name);
			json_array_append_new(drifts, json_string(line));
		}
	}
	if (present && !*want) {
		snprintf(line, sizeof(line), "the backbone: table inet vpclab_fault in %s is of no fault", bb->name);
		json_array_append_new(drifts, json_string(line));
	}
}

int fault_backbone_sync(struct nsh *bb, bool full, struct err *e)
{
	static char *last;
	_cleanup_free_ char *text = backbone_text();
	if (!full && last && !strcmp(last, text))
		return 0;
	if (!full && !last && !*text)
		return 0;
	_cleanup_free_ char *cmds = NULL;
	if (asprintf(&cmds, "table inet vpclab_fault {}\ndelete table inet vpclab_fault\n%s", text) < 0)
		return err_setr(e, -ENOMEM, "InternalError", "out of memory");
	int r = nft_apply(bb, cmds, e);
	free(last);
	last = r == 0 ? strdup(text) : NULL;
	return r;
}

void fault_forget(const char *vpc_id)
{
	/* The namespace is going: its impairments' sockets would keep it alive. */
	for (struct running **pp = &impairs; *pp;) {
		struct running *x = *pp;
		if (!strcmp(x->vpc, vpc_id)) {
			impair_stop(x->im);
			*pp = x->next;
			free(x);
		} else
			pp = &x->next;
	}
	json_object_del(applied, vpc_id);
	json_object_del(rated, vpc_id);
}

bool faults_only(json_t *changed)
{
	const char *id;
	json_t *old;
	if (!changed || json_object_size(changed) == 0)
		return false;
	json_object_foreach(changed, id, old)
	{
		json_t *cur = obj_get(id);
		if (strcmp(jstr(cur ? cur : old, "_type"), FAULT_TYPE) != 0)
			return false;
	}
	return true;
}

/* --- the model --------------------------------------------------------------------------- */

/* Where a fault's kernel objects are: what DescribeFaults shows and the audit checks. */
static json_t *fault_kernel(json_t *fault)
{
	const struct fault_kind *k = fault_kind_of(fault);
	char ns[64], chain[80];
	name_vpc_ns(jstr(fault, "VpcId"), ns);
	fault_chain(jstr(fault, "FaultId"), chain);
	if (k && k->table == FT_BACKBONE) {
		snprintf(ns, sizeof(ns), "%s-backbone", V->prefix);
		return json_pack("[{s:s, s:s, s:s, s:[s], s:i}]", "Namespace", ns, "Table", "inet vpclab_fault", "Chain",
				 chain, "Hooks", "forward", "Priority", INET_PRIO);
	}
	if (k && k->table == FT_IMPAIR) {
		char table[96];
		impair_table_name(jstr(fault, "FaultId"), table);
		return json_pack("[{s:s, s:s, s:s}]", "Namespace", ns, "Table", table, "Queue", "NFQUEUE, read by vpcd");
	}
	if (k && k->table == FT_QDISC) {
		json_t *eni = obj_get(jstr(json_object_get(fault, "Target"), "NetworkInterfaceId"));
		return json_pack("[{s:s, s:s, s:s, s:s}]", "Namespace", ns, "Qdisc", "tbf", "Parent", "root", "Link",
				 jstr(eni, "_port"));
	}
	bool bridge = k && k->table == FT_BRIDGE;
	json_t *hooks = bridge ? json_pack("[s, s, s]", "forward", "input", "output") : json_pack("[s]", "forward");
	return json_pack("[{s:s, s:s, s:s, s:o, s:i}]", "Namespace", ns, "Table",
			 bridge ? "bridge vpclab_fault" : "inet vpclab_fault", "Chain", chain, "Hooks", hooks,
			 "Priority", bridge ? BRIDGE_PRIO : INET_PRIO);
}

static json_t *fault_public(json_t *fault)
{
	json_t *pub = obj_public(fault);
	json_object_set_new(pub, "KernelObjects", fault_kernel(fault));
	return pub;
}

/* A number parameter given as a JSON number or a numeric string (the CLI sends strings). */
static int param_number(struct req *rq, const char *name, double *ret, struct err *e)
{
	json_t *v = json_object_get(rq->params, name);
	if (!v)
		return err_set(e, "MissingParameter", "The request must contain the parameter %s", name);
	if (json_is_number(v)) {
		*ret = json_number_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		char *end;
		const char *s = json_string_value(v);
		double d = strtod(s, &end);
		if (*s && !*end && isfinite(d)) {
			*ret = d;
			return 0;
		}
	}
	return err_set(e, "InvalidParameterValue", "Value for parameter %s must be a number", name);
}

/* The fault a request describes, validated, as it would be stored. */
/* An impairment's parameters: each optional, at least one of them doing something. */
static int impair_parse(struct req *rq, json_t *params, struct err *e)
{
	static const struct {
		const char *name;
		double max;
	} nums[] = {{"DelayMs", 10000}, {"JitterMs", 10000}, {"ReorderPercent", 100}, {"DuplicatePercent", 100},
		    {"CorruptPercent", 100}};
	bool any = false;
	int r;
	for (size_t i = 0; i < ARRAY_SIZE(nums); i++) {
		double v = 0;
		if (!json_object_get(rq->params, nums[i].name))
			continue;
		if ((r = param_number(rq, nums[i].name, &v, e)) < 0)
			return r;
		if (!(v >= 0 && v <= nums[i].max))
			return err_set(e, "InvalidParameterValue", "Value (%g) for parameter %s is invalid: 0 to %g", v,
				       nums[i].name, nums[i].max);
		any |= v > 0;
		json_object_set_new(params, nums[i].name, v == (double)(long long)v ? json_integer((long long)v) : json_real(v));
	}
	if (!any)
		return err_set(e, "InvalidParameterValue",
			       "An impair fault needs one of DelayMs, JitterMs, ReorderPercent, DuplicatePercent, CorruptPercent above 0");
	const char *dir = NULL;
	if ((r = param_str(rq, "Direction", false, &dir, e)) < 0)
		return r;
	if (dir && strcmp(dir, "egress") && strcmp(dir, "ingress") && strcmp(dir, "both"))
		return err_set(e, "InvalidParameterValue",
			       "Value (%s) for parameter Direction is invalid. Valid values: egress, ingress, both", dir);
	json_object_set_new(params, "Direction", json_string(dir ? dir : "egress"));
	return 0;
}

/* A partition: the region of the request and PeerRegion, both of the lab, not the same. */
static int partition_parse(struct req *rq, const char *fid, const char *exp, json_t **ret, struct err *e)
{
	const char *peer;
	int r;
	if ((r = param_str(rq, "PeerRegion", true, &peer, e)) < 0)
		return r;
	if (!region_find(peer))
		return err_set(e, "InvalidParameterValue", "Value (%s) for parameter PeerRegion is invalid: no such region",
			       peer);
	if (!strcmp(peer, rq->region))
		return err_set(e, "InvalidParameterValue", "A partition is between two regions: PeerRegion is %s itself",
			       peer);
	*ret = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:{}, s:s}", "_type", FAULT_TYPE, "_region", rq->region,
			 "FaultId", fid, "ExperimentId", exp, "Kind", "partition", "VpcId", "", "Target", "PeerRegion",
			 peer, "Parameters", "State", "active");
	return 0;
}

static int fault_parse(struct req *rq, json_t **ret, struct err *e)
{
	const char *fid, *exp, *kname, *sid, *eid, *scope;
	int r;
	if ((r = param_str(rq, "FaultId", true, &fid, e)) < 0 || (r = param_str(rq, "ExperimentId", true, &exp, e)) < 0 ||
	    (r = param_str(rq, "Kind", true, &kname, e)) < 0 || (r = param_str(rq, "SubnetId", false, &sid, e)) < 0 ||
	    (r = param_str(rq, "NetworkInterfaceId", false, &eid, e)) < 0 ||
	    (r = param_str(rq, "Scope", false, &scope, e)) < 0)
		return r;
	if (!fault_id_valid(fid))
		return err_set(e, "InvalidParameterValue",
			       "Value (%s) for parameter FaultId is invalid: 1 to 64 characters of [A-Za-z0-9-]", fid);
	if (!*exp || strlen(exp) > 128)
		return err_set(e, "InvalidParameterValue",
			       "Value (%s) for parameter ExperimentId is invalid: 1 to 128 characters", exp);
	const struct fault_kind *k = kind_find(kname);
	if (!k)
		return err_set(e, "InvalidParameterValue",
			       "Value (%s) for parameter Kind is invalid. Valid values: disrupt-connectivity, packet-loss, blackhole, rate-limit, partition, impair",
			       kname);
	const char *key;
	json_t *v;
	json_object_foreach(rq->params, key, v)
	{
		bool known = !strcmp(key, "FaultId") || !strcmp(key, "ExperimentId") || !strcmp(key, "Kind") ||
			     !strcmp(key, "DryRun");
		for (const char *const *p = k->params; *p && !known; p++)
			known = !strcmp(key, *p);
		if (!known)
			return err_set(e, "InvalidParameterValue", "The parameter %s does not apply to a %s fault", key,
				       kname);
	}
	if (k->table == FT_BACKBONE)
		return partition_parse(rq, fid, exp, ret, e);
	if (sid && eid)
		return err_set(e, "InvalidParameterCombination",
			       "A fault targets one of SubnetId and NetworkInterfaceId, not both");
	bool on_subnet = !strcmp(kname, "disrupt-connectivity") || (!strcmp(kname, "packet-loss") && sid);
	if (on_subnet && !sid)
		return err_set(e, "MissingParameter", "The request must contain the parameter SubnetId");
	if (!on_subnet && !eid)
		return err_set(e, "MissingParameter", "The request must contain the parameter NetworkInterfaceId");
	json_t *target = on_subnet ? obj_find(rq, sid, "subnet", e) : obj_find(rq, eid, "eni", e);
	if (!target)
		return -EINVAL;
	json_t *params = json_object();
	json_t *fault = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:o, s:s}", "_type", FAULT_TYPE, "_region",
				  rq->region, "FaultId", fid, "ExperimentId", exp, "Kind", kname, "VpcId",
				  jstr(target, "VpcId"), "Target", on_subnet ? "SubnetId" : "NetworkInterfaceId",
				  on_subnet ? sid : eid, "Parameters", params, "State", "active");
	if (!strcmp(kname, "disrupt-connectivity")) {
		if (scope && strcmp(scope, "all") != 0 && strcmp(scope, "availability-zone") != 0) {
			json_decref(fault);
			return err_set(e, "InvalidParameterValue",
				       "Value (%s) for parameter Scope is invalid. Valid values: all, availability-zone", scope);
		}
		json_object_set_new(params, "Scope", json_string(scope ? scope : "all"));
	} else if (!strcmp(kname, "packet-loss")) {
		double p = 0;
		if ((r = param_number(rq, "LossPercent", &p, e)) < 0) {
			json_decref(fault);
			return r;
		}
		if (!(p > 0 && p <= 100) || loss_steps(p) < 1) {
			json_decref(fault);
			return err_set(e, "InvalidParameterValue",
				       "Value (%g) for parameter LossPercent is invalid: more than 0 and at most 100, in steps of 0.01",
				       p);
		}
		/* Stored as the kernel applies it (0.01 % steps), whole numbers as integers. */
		long long steps = loss_steps(p);
		json_object_set_new(params, "LossPercent", steps % (LOSS_MOD / 100) == 0
								   ? json_integer(steps / (LOSS_MOD / 100))
								   : json_real((double)steps / (LOSS_MOD / 100)));
	} else if (!strcmp(kname, "rate-limit")) {
		long long kbps;
		if (!json_object_get(rq->params, "RateKbps")) {
			json_decref(fault);
			return err_set(e, "MissingParameter", "The request must contain the parameter RateKbps");
		}
		if ((r = param_int(rq, "RateKbps", 0, &kbps, e)) < 0) {
			json_decref(fault);
			return r;
		}
		if (kbps < RATE_MIN_KBPS || kbps > RATE_MAX_KBPS) {
			json_decref(fault);
			return err_set(e, "InvalidParameterValue",
				       "Value (%lld) for parameter RateKbps is invalid: %d to %d", kbps, RATE_MIN_KBPS,
				       RATE_MAX_KBPS);
		}
		json_object_set_new(params, "RateKbps", json_integer(kbps));
		json_object_set_new(params, "Direction", json_string("to-instance"));
	} else if (!strcmp(kname, "impair") && (r = impair_parse(rq, params, e)) < 0) {
		json_decref(fault);
		return r;
	}
	*ret = fault;
	return 0;
}

/* Two descriptions of a fault are the same request if everything but its state and time is. */
static bool fault_same(json_t *a, json_t *b)
{
	static const char *const keys[] = {"_region", "ExperimentId", "Kind", "VpcId", "Target", "Parameters"};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!json_equal(json_object_get(a, keys[i]), json_object_get(b, keys[i])))
			return false;
	return true;
}

int h_apply_fault(struct req *rq, json_t **ret, struct err *e)
{
	json_t *fault = NULL;
	char key[80], now[32];
	int r;
	if ((r = fault_parse(rq, &fault, e)) < 0)
		return r;
	fault_key(jstr(fault, "FaultId"), key);
	json_t *had = obj_get_type(key, FAULT_TYPE);
	if (had) {
		bool same = fault_same(had, fault);
		json_decref(fault);
		/* A retry of the same request succeeds and changes nothing. */
		if (!same)
			return err_set(e, "InvalidParameterValue", "The fault '%s' exists with other parameters",
				       jstr(had, "FaultId"));
		*ret = json_pack("{s:o}", "Fault", fault_public(had));
		return 0;
	}
	time_iso(now);
	json_object_set_new(fault, "CreateTime", json_string(now));
	obj_put(&rq->txn, key, fault);
	if (*jstr(fault, "VpcId"))
		txn_touch_vpc(&rq->txn, jstr(fault, "VpcId"));
	else
		txn_touch_region(&rq->txn, rq->region); /* a partition: the backbone's */
	*ret = json_pack("{s:o}", "Fault", fault_public(fault));
	return 0;
}

static void fault_drop(struct txn *t, const char *key)
{
	json_t *f = obj_get(key);
	if (*jstr(f, "VpcId"))
		txn_touch_vpc(t, jstr(f, "VpcId"));
	else
		txn_touch_region(t, jstr(f, "_region"));
	obj_del(t, key);
}

int h_clear_faults(struct req *rq, json_t **ret, struct err *e)
{
	const char *exp, *id;
	json_t *f, *v;
	size_t i;
	int r;
	if ((r = param_str(rq, "ExperimentId", false, &exp, e)) < 0)
		return r;
	_cleanup_json_ json_t *ids = param_list(rq->params, "FaultIds");
	if (!exp && !json_object_get(rq->params, "FaultIds"))
		return err_set(e, "MissingParameter", "The request must contain ExperimentId or FaultIds");
	_cleanup_json_ json_t *gone = json_object(); /* key -> true */
	json_array_foreach(ids, i, v)
	{
		char key[80];
		if (!json_is_string(v))
			return err_set(e, "InvalidParameterValue", "FaultIds must be strings");
		if (!fault_id_valid(json_string_value(v)))
			continue; /* no such fault can exist */
		fault_key(json_string_value(v), key);
		f = obj_get_type(key, FAULT_TYPE);
		if (f && !strcmp(jstr(f, "_region"), rq->region))
			json_object_set_new(gone, key, json_true());
	}
	if (exp)
		obj_foreach(FAULT_TYPE, rq->region, id, f) if (!strcmp(jstr(f, "ExperimentId"), exp))
			json_object_set_new(gone, id, json_true());
	json_object_foreach(gone, id, v) fault_drop(&rq->txn, id);
	*ret = json_pack("{s:I}", "Cleared", (json_int_t)json_object_size(gone));
	return 0;
}

int h_describe_faults(struct req *rq, json_t **ret, struct err *e)
{
	const char *exp, *id;
	json_t *f;
	int r;
	if ((r = param_str(rq, "ExperimentId", false, &exp, e)) < 0)
		return r;
	size_t n = 0;
	json_t *ix = json_object_get(V->by_type, FAULT_TYPE);
	const char **keys = malloc((json_object_size(ix) + 1) * sizeof(*keys));
	if (!keys)
		abort();
	obj_foreach(FAULT_TYPE, rq->region, id, f) if (!exp || !strcmp(jstr(f, "ExperimentId"), exp)) keys[n++] = id;
	qsort(keys, n, sizeof(*keys), cmp_str);
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, fault_public(obj_get(keys[i])));
	free(keys);
	*ret = json_pack("{s:o}", "Faults", list);
	return 0;
}

void fault_clear_target(struct txn *t, const char *target_id)
{
	_cleanup_json_ json_t *gone = json_array();
	const char *id;
	json_t *f, *v;
	size_t i;
	obj_foreach(FAULT_TYPE, NULL, id, f)
	{
		json_t *target = json_object_get(f, "Target");
		if (!strcmp(jstr(target, "SubnetId"), target_id) || !strcmp(jstr(target, "NetworkInterfaceId"), target_id))
			json_array_append_new(gone, json_string(id));
	}
	json_array_foreach(gone, i, v) fault_drop(t, json_string_value(v));
}

/* --- the audit --------------------------------------------------------------------------- */

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; p && (p = strstr(p, line)); p += n)
		if ((p == text || p[-1] == '\n' || p[-1] == '\t') && (p[n] == '\n' || p[n] == 0))
			return true;
	return false;
}

void fault_audit(struct nsh *h, const char *vpc_id, const char *tables, json_t *drifts, size_t *checked)
{
	size_t n;
	const char **keys = vpc_faults(vpc_id, &n);
	static const char *const names[] = {"bridge vpclab_fault", "inet vpclab_fault"};
	static const enum fault_table kinds_of[] = {FT_BRIDGE, FT_INET};
	char line[1400];
	for (size_t t = 0; t < ARRAY_SIZE(names); t++) {
		char want_line[64];
		snprintf(want_line, sizeof(want_line), "table %s", names[t]);
		bool present = has_line(tables, want_line);
		_cleanup_free_ char *listing = NULL;
		struct err e = {0};
		bool wanted = false;
		if (present) {
			char cmd[64];
			snprintf(cmd, sizeof(cmd), "list table %s", names[t]);
			if (nft_list(h, cmd, &listing, &e) < 0) {
				snprintf(line, sizeof(line), "%s: table %s in %s cannot be listed: %s", vpc_id, names[t], h->name,
					 e.msg);
				json_array_append_new(drifts, json_string(line));
				continue;
			}
		}
		for (size_t i = 0; i < n; i++) {
			json_t *fault = obj_get(keys[i]);
			const struct fault_kind *k = fault_kind_of(fault);
			char chain[80], c1[96], c2[96];
			if (!k || k->table != kinds_of[t])
				continue;
			wanted = true;
			(*checked)++;
			fault_chain(jstr(fault, "FaultId"), chain);
			snprintf(c1, sizeof(c1), "chain %s {", chain);
			snprintf(c2, sizeof(c2), "jump %s", chain);
			if (!present)
				snprintf(line, sizeof(line), "fault %s: table %s in %s is missing", jstr(fault, "FaultId"),
					 names[t], h->name);
			else if (!has_line(listing, c1) || !has_line(listing, c2))
				snprintf(line, sizeof(line), "fault %s: chain %s of table %s in %s is missing",
					 jstr(fault, "FaultId"), chain, names[t], h->name);
			else
				continue;
			json_array_append_new(drifts, json_string(line));
		}
		if (present && !wanted) {
			snprintf(line, sizeof(line), "%s: table %s in %s is of no fault", vpc_id, names[t], h->name);
			json_array_append_new(drifts, json_string(line));
		} else if (present) {
			/* Chains of faults that are gone. */
			for (const char *p = listing; (p = strstr(p, "\tchain f_")); p++) {
				char chain[80];
				if (sscanf(p, "\tchain %79s", chain) != 1)
					continue;
				bool known = false;
				for (size_t i = 0; i < n && !known; i++) {
					char c[80];
					fault_chain(jstr(obj_get(keys[i]), "FaultId"), c);
					known = !strcmp(c, chain);
				}
				if (!known) {
					snprintf(line, sizeof(line), "%s: chain %s of table %s in %s is of no fault", vpc_id,
						 chain, names[t], h->name);
					json_array_append_new(drifts, json_string(line));
				}
			}
		}
	}
	/* Impairments: their table (and vpcd's thread reading its queue). */
	for (size_t i = 0; i < n; i++) {
		json_t *fault = obj_get(keys[i]);
		const struct fault_kind *k = fault_kind_of(fault);
		bool on = false;
		if (!k || k->table != FT_IMPAIR)
			continue;
		(*checked)++;
		for (struct running *x = impairs; x && !on; x = x->next)
			on = !strcmp(x->key, keys[i]);
		if (!impair_present(h->name, jstr(fault, "FaultId")) || !on) {
			snprintf(line, sizeof(line), "fault %s: its impairment in %s is %s", jstr(fault, "FaultId"), h->name,
				 on ? "without its table" : "not running");
			json_array_append_new(drifts, json_string(line));
		}
	}
	/* Rate limits: the port's root qdisc, where the port exists. */
	_cleanup_json_ json_t *want = wanted_rates(vpc_id);
	if (json_object_size(want)) {
		_cleanup_(cache_freep) struct nl_cache *cache = NULL;
		if (rtnl_qdisc_alloc_cache(h->sk, &cache) == 0) {
			const char *port;
			json_t *w;
			json_object_foreach(want, port, w)
			{
				int ifindex = nl_link_index(h, port), rate, burst, limit;
				if (ifindex < 0)
					continue;
				(*checked)++;
				tbf_params(json_integer_value(w), &rate, &burst, &limit);
				_cleanup_(qdisc_putp) struct rtnl_qdisc *q = rtnl_qdisc_get_by_parent(cache, ifindex, TC_H_ROOT);
				if (!q || strcmp(rtnl_tc_get_kind(TC_CAST(q)) ?: "", "tbf") != 0 ||
				    rtnl_qdisc_tbf_get_rate(q) != rate) {
					snprintf(line, sizeof(line), "%s: the tbf of %lld kbit/s on %s in %s is missing", vpc_id,
						 (long long)json_integer_value(w), port, h->name);
					json_array_append_new(drifts, json_string(line));
				}
			}
		}
	}
	free(keys);
}
