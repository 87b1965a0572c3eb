/* A region's simulated internet. See docs/architecture.md ("The simulated internet"). */
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include "cleanup.h"
#include "netns.h"
#include "vpcd.h"

/* Transit addresses: each point-to-point link uses the same pair (routes name the link), so
 * nothing here needs allocating. They come from 100.64.0.0/10, which never leaves the lab. */
#define BB_SIDE 0x647f0001u     /* 100.127.0.1: the backbone's end of a region link */
#define REGION_SIDE 0x647f0002u /* 100.127.0.2: the region's end */
#define HOST_SIDE 0x647fff01u   /* 100.127.255.1: the host's end of its link */
#define BB_HOST_SIDE 0x647fff02u
#define IGW_REGION 0xa9fe0001u /* 169.254.0.1: the region's end of an IGW link */
#define IGW_VPC 0xa9fe0002u    /* 169.254.0.2: the VPC's end */

static int region_index(const char *region)
{
	for (int i = 0; i < V->nregions; i++)
		if (!strcmp(V->regions[i].name, region))
			return i;
	return -1;
}

int region_pool(const char *region, struct cidr *ret)
{
	int i = region_index(region);
	uint64_t size = (uint64_t)1 << (32 - V->region_pool_len);
	if (i < 0 || (uint64_t)(i + 1) * size > cidr_size(&V->public_pool))
		return -ENOSPC;
	*ret = (struct cidr){.addr = V->public_pool.addr + (uint32_t)(i * size), .len = (uint8_t)V->region_pool_len};
	return 0;
}

uint32_t region_internet_host(const struct cidr *pool) { return pool->addr + 10; }

static void link_name(char buf[static 16], char kind, uint32_t n)
{
	snprintf(buf, 16, "%s%c%08x", V->prefix, kind, n);
}

int region_backbone_link(const char *region, char buf[static 16])
{
	int i = region_index(region);
	if (i < 0)
		return -1;
	link_name(buf, 'q', (uint32_t)i);
	return 0;
}

/* The backbone namespace and the host's link to it, made once. */
static int backbone_ensure(struct nsh **ret, struct err *e)
{
	char ns[64], host[16], peer[16];
	bool created;
	struct nsh *bb, *root;
	int r;

	snprintf(ns, sizeof(ns), "%s-backbone", V->prefix);
	if ((r = ns_prepare(ns, &created, e)) < 0 || (r = nsh_get(ns, true, &bb, e)) < 0)
		return r;
	if (created && (r = ns_init(bb, true, e)) < 0)
		return r;
	link_name(host, 'h', 0);
	link_name(peer, 'h', 1);
	if ((r = nsh_get("", false, &root, e)) < 0)
		return r;
	if (nl_link_index(bb, peer) < 0) {
		struct err ignored = {0};
		nl_link_del(root, host, &ignored);
		if ((r = nl_veth_add(root, host, 0, peer, "02:00:00:00:00:01", bb->fd, e)) < 0)
			return r;
	}
	if ((r = nl_link_up(root, host, true, e)) < 0 || (r = nl_addr_add32(root, host, HOST_SIDE, e)) < 0 ||
	    (r = nl_link_up(bb, peer, true, e)) < 0 || (r = nl_addr_add32(bb, peer, BB_HOST_SIDE, e)) < 0)
		return r;
	*ret = bb;
	return 0;
}

/* The host reaches every region's pool through the backbone; routes only via our link. */
static int host_routes(struct err *e)
{
	struct nsh *root;
	char host[16];
	struct nl_route want[64];
	size_t n = 0;
	const char *id;
	json_t *o;
	int r;

	if ((r = nsh_get("", false, &root, e)) < 0)
		return r;
	link_name(host, 'h', 0);
	int oif = nl_link_index(root, host);
	if (oif < 0)
		return err_setr(e, oif, "InternalError", "host link '%s' is missing", host);
	obj_foreach("region", NULL, id, o)
	{
		struct cidr pool;
		if (n < ARRAY_SIZE(want) && region_pool(jstr(o, "RegionName"), &pool) == 0)
			want[n++] = (struct nl_route){.table = RT_TABLE_MAIN, .dst = pool.addr, .len = pool.len,
						      .type = RTN_UNICAST, .gw = BB_HOST_SIDE, .oif = oif,
						      .src = HOST_SIDE};
	}
	return nl_routes_converge(root, RT_TABLE_MAIN, oif, want, n, e);
}

static int backbone_routes(struct nsh *bb, struct err *e)
{
	struct nl_route want[64];
	size_t n = 0;
	const char *id;
	json_t *o;
	char peer[16], q[16];
	link_name(peer, 'h', 1);
	want[n++] = (struct nl_route){.table = RT_TABLE_MAIN, .dst = HOST_SIDE, .len = 32,
				      .type = RTN_UNICAST, .oif = nl_link_index(bb, peer)};
	obj_foreach("region", NULL, id, o)
	{
		struct cidr pool;
		int i = region_index(jstr(o, "RegionName"));
		link_name(q, 'q', (uint32_t)i);
		int oif = nl_link_index(bb, q);
		if (oif > 0 && n < ARRAY_SIZE(want) && region_pool(jstr(o, "RegionName"), &pool) == 0)
			want[n++] = (struct nl_route){.table = RT_TABLE_MAIN, .dst = pool.addr,
						      .len = pool.len, .type = RTN_UNICAST,
						      .gw = REGION_SIDE, .oif = oif};
	}
	return nl_routes_converge(bb, RT_TABLE_MAIN, 0, want, n, e);
}

struct names_ctx {
	json_t *set;
};
static void add_name(const char *name, void *data) { json_object_set_new(((struct names_ctx *)data)->set, name, json_true()); }

/* The /32 route of an ENI's public address down its VPC's internet gateway link, if it has
 * both; returns false if not. */
static bool eni_public_route(struct nsh *h, json_t *eni, const char *region, struct nl_route *ret)
{
	uint32_t pub;
	json_t *igw = eni ? vpc_igw(jstr(eni, "VpcId")) : NULL;
	if (!igw || strcmp(jstr(eni, "_region"), region) != 0 ||
	    ip_parse(jstr(json_object_get(eni, "Association"), "PublicIp"), &pub) < 0)
		return false;
	char w[16];
	snprintf(w, sizeof(w), "%sw%s", V->prefix, id_tail(jstr(igw, "InternetGatewayId")));
	int oif = nl_link_index(h, w);
	if (oif < 0)
		return false;
	*ret = (struct nl_route){.table = RT_TABLE_MAIN, .dst = pub, .len = 32, .type = RTN_UNICAST,
				 .gw = IGW_VPC, .oif = oif};
	return true;
}

/* A request that changed ENIs and elastic IPs alone: only their public addresses' routes
 * change, deletions first (an address can move from one ENI to another in one request). */
static int region_eni_routes(struct nsh *h, const char *region, json_t *only, json_t *changed, struct err *e)
{
	struct {
		struct nl_route was, now;
		bool had, has;
	} *v = calloc(json_object_size(only) + 1, sizeof(*v));
	size_t n = 0;
	const char *id;
	json_t *x;
	int r = 0;
	if (!v)
		return -ENOMEM;
	json_object_foreach(only, id, x)
	{
		json_t *old = json_object_get(changed, id);
		v[n].had = json_is_object(old) && eni_public_route(h, old, region, &v[n].was);
		v[n].has = eni_public_route(h, obj_get_type(id, "eni"), region, &v[n].now);
		n++;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		bool kept = false; /* still routed, by this ENI or another of the request */
		for (size_t j = 0; j < n && v[i].had && !kept; j++)
			kept = v[j].has && v[j].now.dst == v[i].was.dst;
		if (v[i].had && !kept)
			r = nl_route_del(h, &v[i].was, e);
	}
	for (size_t i = 0; i < n && r == 0; i++)
		if (v[i].has && !(v[i].had && v[i].was.dst == v[i].now.dst && v[i].was.oif == v[i].now.oif))
			r = nl_route_add(h, &v[i].now, e);
	free(v);
	return r;
}

int sync_region(const char *region, json_t *changed, struct err *e)
{
	char ns[64], inet[16], up[16], down[16];
	struct cidr pool;
	struct nsh *h, *bb;
	bool created;
	int r, idx = region_index(region);

	if (idx < 0 || region_pool(region, &pool) < 0)
		return err_set(e, "InsufficientAddressCapacity",
			       "no public address pool for region '%s' in %s", region, "the configured public_pool");
	name_region_ns(region, ns);
	_cleanup_json_ json_t *only = changed ? changed_enis(changed, NULL) : NULL;
	if (only && netns_exists(ns) && nsh_get(ns, false, &h, e) == 0) {
		if (region_eni_routes(h, region, only, changed, e) == 0)
			return 0;
		/* Converge the whole region instead. */
		*e = (struct err){0};
	}
	if ((r = ns_prepare(ns, &created, e)) < 0 || (r = nsh_get(ns, false, &h, e)) < 0)
		return r;
	if ((r = ns_init(h, true, e)) < 0 || (r = backbone_ensure(&bb, e)) < 0)
		return r;

	/* The internet segment: the region's router and the test host on one bridge. */
	link_name(inet, 'i', 0);
	if (nl_link_index(h, inet) < 0 && (r = nl_bridge_add(h, inet, e)) < 0)
		return r;
	if ((r = nl_link_up(h, inet, true, e)) < 0 ||
	    (r = nl_addr_add(h, inet, pool.addr + 1, pool.len, e)) < 0 ||
	    (r = nl_addr_add(h, inet, region_internet_host(&pool), pool.len, e)) < 0)
		return r;
	/* The uplink to the backbone. */
	link_name(up, 'r', (uint32_t)idx);
	link_name(down, 'q', (uint32_t)idx);
	if (nl_link_index(h, up) < 0) {
		struct err ignored = {0};
		nl_link_del(bb, down, &ignored);
		if ((r = nl_veth_add(h, up, 0, down, "02:00:00:00:00:02", bb->fd, e)) < 0)
			return r;
	}
	if ((r = nl_link_up(h, up, true, e)) < 0 || (r = nl_addr_add32(h, up, REGION_SIDE, e)) < 0 ||
	    (r = nl_link_up(bb, down, true, e)) < 0 || (r = nl_addr_add32(bb, down, BB_SIDE, e)) < 0)
		return r;

	/* Routes: everything not ours goes to the backbone (which drops what it does not know);
	 * public addresses mapped in VPCs go down their internet gateway's link. */
	struct nl_route *want = NULL;
	size_t n = 0, cap = 0;
	const char *id;
	json_t *o;
	_cleanup_json_ json_t *links = json_object();
	json_object_set_new(links, inet, json_true());
	json_object_set_new(links, up, json_true());
#define PUSH(...)                                                                                  \
	do {                                                                                       \
		if (n == cap)                                                                      \
			want = realloc(want, (cap = cap ? cap * 2 : 16) * sizeof(*want));          \
		want[n++] = (struct nl_route){__VA_ARGS__};                                        \
	} while (0)
	PUSH(.table = RT_TABLE_MAIN, .type = RTN_UNICAST, .gw = BB_SIDE, .oif = nl_link_index(h, up));
	obj_foreach("igw", region, id, o)
	{
		const char *vpc_id = jstr(json_array_get(json_object_get(o, "Attachments"), 0), "VpcId");
		if (!*vpc_id || !obj_get(vpc_id))
			continue;
		char w[16];
		snprintf(w, sizeof(w), "%sw%s", V->prefix, id_tail(id));
		json_object_set_new(links, w, json_true());
		int oif = nl_link_index(h, w);
		if (oif < 0)
			continue; /* made by the VPC's sync, which runs first */
		const char *eid;
		json_t *eni;
		obj_foreach_vpc("eni", vpc_id, eid, eni)
		{
			uint32_t pub;
			const char *pip = jstr(json_object_get(eni, "Association"), "PublicIp");
			if (strcmp(jstr(eni, "VpcId"), vpc_id) != 0 || ip_parse(pip, &pub) < 0)
				continue;
			PUSH(.table = RT_TABLE_MAIN, .dst = pub, .len = 32, .type = RTN_UNICAST,
			     .gw = IGW_VPC, .oif = oif);
		}
	}
#undef PUSH
	r = nl_routes_converge(h, RT_TABLE_MAIN, 0, want, n, e);
	free(want);
	if (r < 0)
		return r;
	/* Stray links (a deleted gateway's end whose VPC namespace is gone). */
	_cleanup_json_ json_t *present = json_object();
	struct names_ctx nc = {present};
	nl_link_foreach(h, V->prefix, add_name, &nc);
	const char *name;
	json_t *v;
	json_object_foreach(present, name, v) if (!json_object_get(links, name) && (r = nl_link_del(h, name, e)) < 0) return r;

	if ((r = backbone_routes(bb, e)) < 0 || (r = host_routes(e)) < 0 ||
	    (r = fault_backbone_sync(bb, changed == NULL, e)) < 0)
		return r;
	return inet_host_start(region, h->fd, region_internet_host(&pool), e);
}
