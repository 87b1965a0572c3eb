/* rtnetlink through libnl-3, one socket per network namespace.
 *
 * A socket stays bound to the namespace it was created in, so a handle is made once per
 * namespace (entering it only for the socket() calls) and reused; nothing here changes the
 * calling thread's namespace for longer than that. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

struct nl_sock;
struct nft_ctx;

struct nsh {
	char *name;
	int fd;
	struct nl_sock *sk;
	bool with_nft; /* nft_apply and nft_list make a context for each call */
};
/* Moves a descriptor to 1024 or above if it can (see nsh_open); returns the one to use. */
int fd_move_high(int fd);
/* Raises the soft limit on open files to the hard one (a namespace and a socket per VPC). */
void fd_limit_raise(void);

int nsh_open(const char *name, bool with_nft, struct nsh **ret, struct err *e);
void nsh_free(struct nsh *h);

/* The ifindex of a link, or -ENODEV. */
int nl_link_index(struct nsh *h, const char *name);
int nl_link_mac(struct nsh *h, const char *name, char mac[static 18]);
/* A bridge with a fixed MAC derived from its name: left to itself, Linux gives a bridge the
 * lowest MAC of its ports, so the router's MAC would change whenever a port joins or leaves. */
int nl_bridge_add(struct nsh *h, const char *name, struct err *e);
/* Sets the bridge's MAC back to the one derived from its name, if it differs. */
int nl_bridge_fix_mac(struct nsh *h, const char *name, struct err *e);
/* A veth pair: `name` enslaved to `master` (ifindex, 0 for none) and up; `peer` down with
 * `peer_mac`, made directly in the namespace `peer_ns_fd` unless that is -1. (Making the peer
 * where it belongs is several times cheaper than moving it there afterwards.) */
int nl_veth_add(struct nsh *h, const char *name, int master, const char *peer, const char *peer_mac,
		int peer_ns_fd, struct err *e);
/* The ifindex of a link's master (0: none), or -ENODEV. */
int nl_link_master(struct nsh *h, const char *name);
int nl_link_set_master(struct nsh *h, const char *name, int master, struct err *e);
/* Moves a link (keeping its name) into the namespace ns_fd refers to. */
int nl_link_move(struct nsh *h, const char *name, int ns_fd, struct err *e);
int nl_link_del(struct nsh *h, const char *name, struct err *e);
int nl_link_up(struct nsh *h, const char *name, bool up, struct err *e);
int nl_addr_add(struct nsh *h, const char *ifname, uint32_t ip, uint8_t len, struct err *e);
/* Calls fn for every link whose name starts with prefix. */
int nl_link_foreach(struct nsh *h, const char *prefix, void (*fn)(const char *name, void *data),
		    void *data);

/* Routes made by vpclab carry this protocol number, so they can be told from others. */
#define NL_PROTO_VPCLAB 0x56

struct nl_route {
	uint32_t table;
	uint32_t dst;
	uint8_t len;
	uint8_t type; /* RTN_UNICAST, RTN_BLACKHOLE */
	uint32_t gw;  /* 0: none */
	int oif;      /* 0: none */
	uint32_t metric;
	uint32_t src; /* preferred source, 0: none */
};
int nl_route_add(struct nsh *h, const struct nl_route *rt, struct err *e); /* replaces */
int nl_route_del(struct nsh *h, const struct nl_route *rt, struct err *e);
/* Lists vpclab's routes (any table): fills *ret (malloc'd) and *n. */
int nl_route_list(struct nsh *h, struct nl_route **ret, size_t *n);

struct nl_rule {
	uint32_t prio;
	uint32_t table;
	uint32_t dst; /* with dst_len 0: any */
	uint8_t dst_len;
	char iif[16]; /* "": any */
};
int nl_rule_add(struct nsh *h, const struct nl_rule *rule, struct err *e);
int nl_rule_del(struct nsh *h, const struct nl_rule *rule, struct err *e);
/* Lists IPv4 rules with priority in [lo, hi]. */
int nl_rule_list(struct nsh *h, uint32_t lo, uint32_t hi, struct nl_rule **ret, size_t *n);

/* Makes vpclab's routes in `table` (all tables if 0) through `oif` (any link if 0) exactly
 * `want` (n entries): deletes the others, adds the missing. */
int nl_routes_converge(struct nsh *h, uint32_t table, int oif, const struct nl_route *want,
		       size_t n, struct err *e);
/* Adds ip/32 to a link (no prefix route). */
int nl_addr_add32(struct nsh *h, const char *ifname, uint32_t ip, struct err *e);
/* 1 if ifname has ip/len, 0 if not, <0 on error (no such link). */
int nl_addr_has(struct nsh *h, const char *ifname, uint32_t ip, uint8_t len);

/* Default route via gw on dev, in the main table, for a plugged namespace. */
int nl_default_route(struct nsh *h, const char *dev, uint32_t gw, struct err *e);
