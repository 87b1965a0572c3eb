#include "nl.h"
#include "cleanup.h"
#include "netns.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <string.h>

static void rtnl_link_putp(struct rtnl_link **l)
{
	if (*l)
		rtnl_link_put(*l);
}
static void nl_addr_putp(struct nl_addr **a)
{
	if (*a)
		nl_addr_put(*a);
}
static void nl_cache_freep(struct nl_cache **c)
{
	if (*c)
		nl_cache_free(*c);
}
static void rtnl_route_putp(struct rtnl_route **r)
{
	if (*r)
		rtnl_route_put(*r);
}
static void rtnl_rule_putp(struct rtnl_rule **r)
{
	if (*r)
		rtnl_rule_put(*r);
}
static void rtnl_addr_putp(struct rtnl_addr **a)
{
	if (*a)
		rtnl_addr_put(*a);
}
#define _cleanup_link_ _cleanup_(rtnl_link_putp)
#define _cleanup_addr_ _cleanup_(nl_addr_putp)
#define _cleanup_cache_ _cleanup_(nl_cache_freep)

/* libnl returns its own error numbers; map the ones callers act on back to errno. */
static int nlerr(int r)
{
	switch (-r) {
	case NLE_EXIST: return -EEXIST;
	case NLE_OBJ_NOTFOUND:
	case NLE_NODEV: return -ENODEV;
	case NLE_PERM: return -EPERM;
	case NLE_NOMEM: return -ENOMEM;
	case NLE_BUSY: return -EBUSY;
	default: return -EIO;
	}
}

static int fail(struct err *e, int r, const char *what, const char *name)
{
	return err_setr(e, nlerr(r), "InternalError", "netlink: %s '%s': %s", what, name,
			nl_geterror(r));
}

int fd_move_high(int fd)
{
	int hi = fd >= 0 && fd < 1024 ? fcntl(fd, F_DUPFD_CLOEXEC, 1024) : -1;
	if (hi < 0)
		return fd;
	close(fd);
	return hi;
}

void fd_limit_raise(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

void nsh_free(struct nsh *h)
{
	if (!h)
		return;
	if (h->sk)
		nl_socket_free(h->sk);
	if (h->fd >= 0)
		close(h->fd);
	free(h->name);
	free(h);
}

int nsh_open(const char *name, bool with_nft, struct nsh **ret, struct err *e)
{
	struct nsh *h = calloc(1, sizeof(*h));
	int saved, r = 0;

	if (!h)
		return -ENOMEM;
	h->name = strdup(name);
	h->fd = name[0] ? netns_open(name) : open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (h->fd < 0) {
		r = h->fd;
		nsh_free(h);
		return err_setr(e, r, "InternalError", "cannot open namespace '%s': %s", name,
				strerror(-r));
	}
	saved = netns_enter(h->fd);
	if (saved < 0) {
		nsh_free(h);
		return err_setr(e, saved, "InternalError", "cannot enter namespace '%s': %s", name,
				strerror(-saved));
	}
	/* The cached descriptors (namespace, netlink) live above 1023: libnftables waits on its
	 * own socket with select(), which aborts on a descriptor past FD_SETSIZE, so the low
	 * numbers stay free for it (a lab of 1,000 VPCs holds 2,000 of these). */
	h->fd = fd_move_high(h->fd);
	h->sk = nl_socket_alloc();
	int s = h->sk ? socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE) : -1;
	struct sockaddr_nl local = {.nl_family = AF_NETLINK};
	if (s >= 0)
		s = fd_move_high(s);
	if (s < 0 || bind(s, (struct sockaddr *)&local, sizeof(local)) < 0 ||
	    (r = nl_socket_set_fd(h->sk, NETLINK_ROUTE, s)) < 0) {
		if (s >= 0)
			close(s);
		nl_socket_free(h->sk);
		h->sk = NULL;
	}
	h->with_nft = with_nft;
	netns_leave(saved);
	if (!h->sk) {
		nsh_free(h);
		return err_setr(e, -ENOMEM, "InternalError", "cannot open netlink in '%s'", name);
	}
	nl_socket_set_buffer_size(h->sk, 1 << 20, 1 << 20);
	*ret = h;
	return 0;
}

static struct nl_addr *ip4_addr(uint32_t ip, uint8_t len)
{
	uint32_t be = htonl(ip);
	struct nl_addr *a = nl_addr_build(AF_INET, &be, 4);
	if (a)
		nl_addr_set_prefixlen(a, len);
	return a;
}

static uint32_t addr_ip4(struct nl_addr *a)
{
	uint32_t be = 0;
	if (a && nl_addr_get_family(a) == AF_INET && nl_addr_get_len(a) == 4)
		memcpy(&be, nl_addr_get_binary_addr(a), 4);
	return ntohl(be);
}

int nl_link_index(struct nsh *h, const char *name)
{
	_cleanup_link_ struct rtnl_link *l = NULL;
	int r = rtnl_link_get_kernel(h->sk, 0, name, &l);
	if (r < 0)
		return -ENODEV;
	return rtnl_link_get_ifindex(l);
}

int nl_link_master(struct nsh *h, const char *name)
{
	_cleanup_link_ struct rtnl_link *l = NULL;
	if (rtnl_link_get_kernel(h->sk, 0, name, &l) < 0)
		return -ENODEV;
	return rtnl_link_get_master(l);
}

int nl_link_mac(struct nsh *h, const char *name, char mac[static 18])
{
	_cleanup_link_ struct rtnl_link *l = NULL;
	if (rtnl_link_get_kernel(h->sk, 0, name, &l) < 0)
		return -ENODEV;
	nl_addr2str(rtnl_link_get_addr(l), mac, 18);
	return 0;
}

static int link_change(struct nsh *h, const char *name, struct rtnl_link *chg, struct err *e,
		       const char *what);

static void bridge_mac(const char *name, char mac[static 18])
{
	uint32_t h = 2166136261u; /* FNV-1a of the name: stable, and distinct enough per lab */
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(mac, 18, "02:b0:%02x:%02x:%02x:%02x", h >> 24, (h >> 16) & 255, (h >> 8) & 255, h & 255);
}

int nl_bridge_fix_mac(struct nsh *h, const char *name, struct err *e)
{
	char want[18], have[18];
	_cleanup_link_ struct rtnl_link *c = rtnl_link_alloc();
	_cleanup_addr_ struct nl_addr *mac = NULL;
	bridge_mac(name, want);
	if (nl_link_mac(h, name, have) == 0 && strcasecmp(have, want) == 0)
		return 0;
	if (!c || nl_addr_parse(want, AF_LLC, &mac) < 0)
		return -ENOMEM;
	rtnl_link_set_addr(c, mac);
	return link_change(h, name, c, e, "set the MAC of");
}

int nl_bridge_add(struct nsh *h, const char *name, struct err *e)
{
	_cleanup_link_ struct rtnl_link *l = rtnl_link_bridge_alloc();
	_cleanup_addr_ struct nl_addr *mac = NULL;
	char m[18];
	int r;
	if (!l)
		return -ENOMEM;
	bridge_mac(name, m);
	if (nl_addr_parse(m, AF_LLC, &mac) < 0)
		return -ENOMEM;
	rtnl_link_set_addr(l, mac);
	rtnl_link_set_name(l, name);
	rtnl_link_set_flags(l, IFF_UP);
	r = rtnl_link_add(h->sk, l, NLM_F_CREATE | NLM_F_EXCL);
	return r < 0 ? fail(e, r, "create bridge", name) : 0;
}

static int parse_mac(const char *mac, struct nl_addr **ret)
{
	return nl_addr_parse(mac, AF_LLC, ret) < 0 ? -EINVAL : 0;
}

int nl_veth_add(struct nsh *h, const char *name, int master, const char *peer, const char *peer_mac,
		int peer_ns_fd, struct err *e)
{
	_cleanup_link_ struct rtnl_link *l = rtnl_link_veth_alloc();
	_cleanup_addr_ struct nl_addr *mac = NULL;
	struct rtnl_link *p;
	int r;

	if (!l)
		return -ENOMEM;
	if (parse_mac(peer_mac, &mac) < 0)
		return err_set(e, "InternalError", "bad MAC '%s'", peer_mac);
	rtnl_link_set_name(l, name);
	rtnl_link_set_flags(l, IFF_UP);
	if (master > 0)
		rtnl_link_set_master(l, master);
	p = rtnl_link_veth_get_peer(l);
	rtnl_link_set_name(p, peer);
	rtnl_link_set_addr(p, mac);
	if (peer_ns_fd >= 0)
		rtnl_link_set_ns_fd(p, peer_ns_fd);
	rtnl_link_put(p);
	r = rtnl_link_add(h->sk, l, NLM_F_CREATE | NLM_F_EXCL);
	return r < 0 ? fail(e, r, "create veth", name) : 0;
}

int nl_link_del(struct nsh *h, const char *name, struct err *e)
{
	_cleanup_link_ struct rtnl_link *l = rtnl_link_alloc();
	int r;
	if (!l)
		return -ENOMEM;
	rtnl_link_set_name(l, name);
	r = rtnl_link_delete(h->sk, l);
	if (r < 0 && nlerr(r) == -ENODEV)
		return 0;
	return r < 0 ? fail(e, r, "delete link", name) : 0;
}

static int link_change(struct nsh *h, const char *name, struct rtnl_link *chg, struct err *e,
		       const char *what)
{
	_cleanup_link_ struct rtnl_link *l = NULL;
	int r = rtnl_link_get_kernel(h->sk, 0, name, &l);
	if (r < 0)
		return fail(e, r, what, name);
	r = rtnl_link_change(h->sk, l, chg, 0);
	return r < 0 ? fail(e, r, what, name) : 0;
}

int nl_link_up(struct nsh *h, const char *name, bool up, struct err *e)
{
	_cleanup_link_ struct rtnl_link *c = rtnl_link_alloc();
	if (!c)
		return -ENOMEM;
	if (up)
		rtnl_link_set_flags(c, IFF_UP);
	else
		rtnl_link_unset_flags(c, IFF_UP);
	return link_change(h, name, c, e, "set link state of");
}

int nl_link_set_master(struct nsh *h, const char *name, int master, struct err *e)
{
	_cleanup_link_ struct rtnl_link *c = rtnl_link_alloc();
	if (!c)
		return -ENOMEM;
	rtnl_link_set_master(c, master);
	rtnl_link_set_flags(c, IFF_UP);
	return link_change(h, name, c, e, "set master of");
}

int nl_link_move(struct nsh *h, const char *name, int ns_fd, struct err *e)
{
	_cleanup_link_ struct rtnl_link *c = rtnl_link_alloc();
	if (!c)
		return -ENOMEM;
	rtnl_link_set_ns_fd(c, ns_fd);
	return link_change(h, name, c, e, "move link");
}

int nl_addr_add(struct nsh *h, const char *ifname, uint32_t ip, uint8_t len, struct err *e)
{
	_cleanup_(rtnl_addr_putp) struct rtnl_addr *a = rtnl_addr_alloc();
	_cleanup_addr_ struct nl_addr *local = ip4_addr(ip, len);
	int idx = nl_link_index(h, ifname), r;

	if (!a || !local)
		return -ENOMEM;
	if (idx < 0)
		return err_setr(e, idx, "InternalError", "no link '%s' for an address", ifname);
	rtnl_addr_set_ifindex(a, idx);
	rtnl_addr_set_local(a, local);
	rtnl_addr_set_prefixlen(a, len);
	r = rtnl_addr_add(h->sk, a, NLM_F_REPLACE);
	return r < 0 && nlerr(r) != -EEXIST ? fail(e, r, "add address on", ifname) : 0;
}

struct foreach_ctx {
	const char *prefix;
	void (*fn)(const char *name, void *data);
	void *data;
};

static void link_cb(struct nl_object *o, void *arg)
{
	struct foreach_ctx *c = arg;
	const char *name = rtnl_link_get_name((struct rtnl_link *)o);
	if (name && strncmp(name, c->prefix, strlen(c->prefix)) == 0)
		c->fn(name, c->data);
}

int nl_link_foreach(struct nsh *h, const char *prefix, void (*fn)(const char *name, void *data),
		    void *data)
{
	_cleanup_cache_ struct nl_cache *cache = NULL;
	struct foreach_ctx c = {prefix, fn, data};
	int r = rtnl_link_alloc_cache(h->sk, AF_UNSPEC, &cache);
	if (r < 0)
		return nlerr(r);
	nl_cache_foreach(cache, link_cb, &c);
	return 0;
}

static struct rtnl_route *route_build(const struct nl_route *rt)
{
	struct rtnl_route *r = rtnl_route_alloc();
	struct nl_addr *dst = ip4_addr(rt->dst, rt->len);
	if (!r || !dst) {
		if (r)
			rtnl_route_put(r);
		if (dst)
			nl_addr_put(dst);
		return NULL;
	}
	rtnl_route_set_family(r, AF_INET);
	rtnl_route_set_table(r, rt->table);
	rtnl_route_set_dst(r, dst);
	nl_addr_put(dst);
	rtnl_route_set_type(r, rt->type);
	rtnl_route_set_protocol(r, NL_PROTO_VPCLAB);
	rtnl_route_set_priority(r, rt->metric);
	if (rt->src) {
		struct nl_addr *src = ip4_addr(rt->src, 32);
		rtnl_route_set_pref_src(r, src);
		nl_addr_put(src);
	}
	if (rt->type == RTN_UNICAST) {
		struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
		rtnl_route_set_scope(r, rt->gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
		rtnl_route_nh_set_ifindex(nh, rt->oif);
		if (rt->gw) {
			struct nl_addr *gw = ip4_addr(rt->gw, 32);
			rtnl_route_nh_set_gateway(nh, gw);
			rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
			nl_addr_put(gw);
		}
		rtnl_route_add_nexthop(r, nh);
	} else {
		rtnl_route_set_scope(r, RT_SCOPE_UNIVERSE);
	}
	return r;
}

static void route_name(const struct nl_route *rt, char *buf, size_t n)
{
	char ip[16];
	uint32_t be = htonl(rt->dst);
	inet_ntop(AF_INET, &be, ip, sizeof(ip));
	snprintf(buf, n, "%s/%u table %u", ip, rt->len, rt->table);
}

int nl_route_add(struct nsh *h, const struct nl_route *rt, struct err *e)
{
	_cleanup_(rtnl_route_putp) struct rtnl_route *r = route_build(rt);
	char name[64];
	int ret;
	if (!r)
		return -ENOMEM;
	ret = rtnl_route_add(h->sk, r, NLM_F_CREATE | NLM_F_REPLACE);
	route_name(rt, name, sizeof(name));
	return ret < 0 ? fail(e, ret, "add route", name) : 0;
}

int nl_route_del(struct nsh *h, const struct nl_route *rt, struct err *e)
{
	_cleanup_(rtnl_route_putp) struct rtnl_route *r = route_build(rt);
	char name[64];
	int ret;
	if (!r)
		return -ENOMEM;
	ret = rtnl_route_delete(h->sk, r, 0);
	if (ret < 0 && nlerr(ret) == -ENODEV)
		return 0;
	route_name(rt, name, sizeof(name));
	return ret < 0 ? fail(e, ret, "delete route", name) : 0;
}

struct route_list {
	struct nl_route *v;
	size_t n, cap;
	int err;
};

static void route_cb(struct nl_object *o, void *arg)
{
	struct route_list *l = arg;
	struct rtnl_route *r = (struct rtnl_route *)o;
	struct nl_route rt = {0};

	if (rtnl_route_get_family(r) != AF_INET || rtnl_route_get_protocol(r) != NL_PROTO_VPCLAB)
		return;
	rt.table = rtnl_route_get_table(r);
	rt.dst = addr_ip4(rtnl_route_get_dst(r));
	rt.len = (uint8_t)nl_addr_get_prefixlen(rtnl_route_get_dst(r));
	rt.type = rtnl_route_get_type(r);
	rt.metric = rtnl_route_get_priority(r);
	rt.src = addr_ip4(rtnl_route_get_pref_src(r));
	if (rtnl_route_get_nnexthops(r) > 0) {
		struct rtnl_nexthop *nh = rtnl_route_nexthop_n(r, 0);
		rt.oif = rtnl_route_nh_get_ifindex(nh);
		rt.gw = addr_ip4(rtnl_route_nh_get_gateway(nh));
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct nl_route *v = realloc(l->v, cap * sizeof(*v));
		if (!v) {
			l->err = -ENOMEM;
			return;
		}
		l->v = v, l->cap = cap;
	}
	l->v[l->n++] = rt;
}

int nl_route_list(struct nsh *h, struct nl_route **ret, size_t *n)
{
	_cleanup_cache_ struct nl_cache *cache = NULL;
	struct route_list l = {0};
	int r = rtnl_route_alloc_cache(h->sk, AF_INET, 0, &cache);
	if (r < 0)
		return nlerr(r);
	nl_cache_foreach(cache, route_cb, &l);
	if (l.err) {
		free(l.v);
		return l.err;
	}
	*ret = l.v, *n = l.n;
	return 0;
}

static struct rtnl_rule *rule_build(const struct nl_rule *ru)
{
	struct rtnl_rule *r = rtnl_rule_alloc();
	if (!r)
		return NULL;
	rtnl_rule_set_family(r, AF_INET);
	rtnl_rule_set_prio(r, ru->prio);
	rtnl_rule_set_table(r, ru->table);
	rtnl_rule_set_action(r, FR_ACT_TO_TBL);
	if (ru->iif[0])
		rtnl_rule_set_iif(r, ru->iif);
	if (ru->dst_len) {
		struct nl_addr *a = ip4_addr(ru->dst, ru->dst_len);
		rtnl_rule_set_dst(r, a);
		nl_addr_put(a);
	}
	return r;
}

int nl_rule_add(struct nsh *h, const struct nl_rule *ru, struct err *e)
{
	_cleanup_(rtnl_rule_putp) struct rtnl_rule *r = rule_build(ru);
	int ret;
	if (!r)
		return -ENOMEM;
	ret = rtnl_rule_add(h->sk, r, NLM_F_CREATE);
	return ret < 0 && nlerr(ret) != -EEXIST ? fail(e, ret, "add rule for", ru->iif) : 0;
}

int nl_rule_del(struct nsh *h, const struct nl_rule *ru, struct err *e)
{
	_cleanup_(rtnl_rule_putp) struct rtnl_rule *r = rule_build(ru);
	int ret;
	if (!r)
		return -ENOMEM;
	ret = rtnl_rule_delete(h->sk, r, 0);
	if (ret < 0 && nlerr(ret) == -ENODEV)
		return 0;
	return ret < 0 ? fail(e, ret, "delete rule for", ru->iif) : 0;
}

struct rule_list {
	struct nl_rule *v;
	size_t n, cap;
	uint32_t lo, hi;
	int err;
};

static void rule_cb(struct nl_object *o, void *arg)
{
	struct rule_list *l = arg;
	struct rtnl_rule *r = (struct rtnl_rule *)o;
	struct nl_rule ru = {0};
	const char *iif;

	if (rtnl_rule_get_family(r) != AF_INET)
		return;
	ru.prio = rtnl_rule_get_prio(r);
	if (ru.prio < l->lo || ru.prio > l->hi)
		return;
	ru.table = rtnl_rule_get_table(r);
	if (rtnl_rule_get_dst(r)) {
		ru.dst = addr_ip4(rtnl_rule_get_dst(r));
		ru.dst_len = (uint8_t)nl_addr_get_prefixlen(rtnl_rule_get_dst(r));
	}
	iif = rtnl_rule_get_iif(r);
	if (iif)
		snprintf(ru.iif, sizeof(ru.iif), "%s", iif);
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct nl_rule *v = realloc(l->v, cap * sizeof(*v));
		if (!v) {
			l->err = -ENOMEM;
			return;
		}
		l->v = v, l->cap = cap;
	}
	l->v[l->n++] = ru;
}

int nl_rule_list(struct nsh *h, uint32_t lo, uint32_t hi, struct nl_rule **ret, size_t *n)
{
	_cleanup_cache_ struct nl_cache *cache = NULL;
	struct rule_list l = {.lo = lo, .hi = hi};
	int r = rtnl_rule_alloc_cache(h->sk, AF_INET, &cache);
	if (r < 0)
		return nlerr(r);
	nl_cache_foreach(cache, rule_cb, &l);
	if (l.err) {
		free(l.v);
		return l.err;
	}
	*ret = l.v, *n = l.n;
	return 0;
}

int nl_default_route(struct nsh *h, const char *dev, uint32_t gw, struct err *e)
{
	struct nl_route rt = {.table = RT_TABLE_MAIN, .type = RTN_UNICAST, .gw = gw};
	rt.oif = nl_link_index(h, dev);
	if (rt.oif < 0)
		return err_setr(e, rt.oif, "InternalError", "no link '%s'", dev);
	return nl_route_add(h, &rt, e);
}

static int route_cmp(const void *x, const void *y)
{
	const struct nl_route *a = x, *b = y;
#define CMP(f)                                                                                     \
	if (a->f != b->f)                                                                          \
		return a->f < b->f ? -1 : 1;
	CMP(table) CMP(dst) CMP(len) CMP(type) CMP(gw) CMP(oif) CMP(metric) CMP(src)
#undef CMP
	return 0;
}

int nl_routes_converge(struct nsh *h, uint32_t table, int oif, const struct nl_route *want,
		       size_t n, struct err *e)
{
	struct nl_route *have = NULL, *w = NULL;
	size_t nh = 0, i = 0, j = 0, k = 0;
	int r = nl_route_list(h, &have, &nh);
	if (r < 0)
		return err_setr(e, r, "InternalError", "cannot list routes of '%s'", h->name);
	/* Only the routes in scope (this table, this link) are ours to converge. */
	for (size_t x = 0; x < nh; x++)
		if ((!table || have[x].table == table) && (!oif || have[x].oif == oif))
			have[k++] = have[x];
	nh = k;
	w = malloc((n ? n : 1) * sizeof(*w));
	if (!w) {
		free(have);
		return -ENOMEM;
	}
	/* Sorted, a merge finds the extra and the missing in O(n log n): a region may hold a
	 * route per public address, thousands of them. (No NULL to memcpy or qsort, even for
	 * zero entries: that is undefined.) */
	if (n) {
		memcpy(w, want, n * sizeof(*w));
		qsort(w, n, sizeof(*w), route_cmp);
	}
	if (nh)
		qsort(have, nh, sizeof(*have), route_cmp);
	/* Two passes, deletions first, so that an added route never meets a stale twin. */
	for (int pass = 0; pass < 2 && r == 0; pass++) {
		for (i = j = 0; r == 0 && (i < nh || j < n);) {
			int c = i == nh ? 1 : j == n ? -1 : route_cmp(&have[i], &w[j]);
			if (c == 0)
				i++, j++;
			else if (c < 0)
				r = pass == 0 ? nl_route_del(h, &have[i++], e) : (i++, 0);
			else
				r = pass == 1 ? nl_route_add(h, &w[j++], e) : (j++, 0);
		}
	}
	free(have);
	free(w);
	return r;
}

int nl_addr_add32(struct nsh *h, const char *ifname, uint32_t ip, struct err *e)
{
	_cleanup_(rtnl_addr_putp) struct rtnl_addr *a = rtnl_addr_alloc();
	_cleanup_addr_ struct nl_addr *local = ip4_addr(ip, 32);
	int idx = nl_link_index(h, ifname), r;
	if (!a || !local)
		return -ENOMEM;
	if (idx < 0)
		return err_setr(e, idx, "InternalError", "no link '%s' for an address", ifname);
	rtnl_addr_set_ifindex(a, idx);
	rtnl_addr_set_local(a, local);
	rtnl_addr_set_prefixlen(a, 32);
	r = rtnl_addr_add(h->sk, a, NLM_F_REPLACE);
	return r < 0 && nlerr(r) != -EEXIST ? fail(e, r, "add address on", ifname) : 0;
}

struct addr_find {
	int ifindex;
	uint32_t ip;
	uint8_t len;
	bool found;
};

static void addr_cb(struct nl_object *o, void *arg)
{
	struct addr_find *f = arg;
	struct rtnl_addr *a = (struct rtnl_addr *)o;
	struct nl_addr *l = rtnl_addr_get_local(a);
	if (rtnl_addr_get_ifindex(a) != f->ifindex || !l || nl_addr_get_family(l) != AF_INET ||
	    nl_addr_get_len(l) != 4 || rtnl_addr_get_prefixlen(a) != f->len)
		return;
	uint32_t ip;
	memcpy(&ip, nl_addr_get_binary_addr(l), 4);
	if (ntohl(ip) == f->ip)
		f->found = true;
}

int nl_addr_has(struct nsh *h, const char *ifname, uint32_t ip, uint8_t len)
{
	_cleanup_cache_ struct nl_cache *cache = NULL;
	struct addr_find f = {nl_link_index(h, ifname), ip, len, false};
	if (f.ifindex < 0)
		return f.ifindex;
	int r = rtnl_addr_alloc_cache(h->sk, &cache);
	if (r < 0)
		return nlerr(r);
	nl_cache_foreach(cache, addr_cb, &f);
	return f.found;
}
