/* IPv4 addresses and prefixes, and address management inside a subnet. Addresses are kept in
 * host byte order. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IP_STRLEN 16
#define CIDR_STRLEN 32

struct cidr {
	uint32_t addr;
	uint8_t len;
};

/* Strict dotted quad: four decimal octets, no leading zeros beyond "0", nothing after. */
int ip_parse(const char *s, uint32_t *ret);
void ip_format(uint32_t a, char buf[static IP_STRLEN]);
/* "a.b.c.d/n"; the host bits must be zero (AWS rejects 10.0.0.1/16 as a CIDR block). */
int cidr_parse(const char *s, struct cidr *ret);
void cidr_format(const struct cidr *c, char buf[static CIDR_STRLEN]);
uint32_t cidr_mask(uint8_t len);
static inline uint32_t cidr_first(const struct cidr *c) { return c->addr; }
uint32_t cidr_last(const struct cidr *c);
uint64_t cidr_size(const struct cidr *c);
bool cidr_contains(const struct cidr *outer, const struct cidr *inner);
bool cidr_contains_ip(const struct cidr *c, uint32_t ip);
bool cidr_overlaps(const struct cidr *a, const struct cidr *b);

/* AWS reserves the network address, +1 (router), +2 (DNS), +3 (future) and the broadcast. */
bool subnet_ip_reserved(const struct cidr *subnet, uint32_t ip);
static inline uint32_t subnet_router(const struct cidr *s) { return s->addr + 1; }
static inline uint32_t subnet_dns(const struct cidr *s) { return s->addr + 2; }
/* Usable addresses of a subnet (its size less the five reserved ones). */
uint64_t subnet_usable(const struct cidr *subnet);

/* Lowest free, non-reserved address of `subnet` not in `used` (n entries, any order).
 * Returns 0 and sets *ret, or -ENOSPC. */
int ipam_pick(const struct cidr *subnet, const uint32_t *used, size_t n, uint32_t *ret);

/* IPv6. Addresses are 16 bytes in network order; text is always printed in RFC 5952 form
 * (what inet_ntop gives), which is also how AWS prints them. */
#define IP6_STRLEN 46
#define CIDR6_STRLEN 50

struct cidr6 {
	uint8_t addr[16];
	uint8_t len;
};

/* Any RFC 4291 text form (inet_pton), no zone, nothing after. */
int ip6_parse(const char *s, uint8_t ret[static 16]);
void ip6_format(const uint8_t a[static 16], char buf[static IP6_STRLEN]);
/* "addr/n", n 0..128; the host bits must be zero. */
int cidr6_parse(const char *s, struct cidr6 *ret);
void cidr6_format(const struct cidr6 *c, char buf[static CIDR6_STRLEN]);
bool cidr6_contains(const struct cidr6 *outer, const struct cidr6 *inner);
bool cidr6_contains_ip(const struct cidr6 *c, const uint8_t ip[static 16]);
bool cidr6_overlaps(const struct cidr6 *a, const struct cidr6 *b);
/* The n-th prefix of length `len` inside `outer` (len >= outer->len, n below 2^(len-outer->len),
 * at most 2^64). Returns 0, or -ERANGE. */
int cidr6_nth(const struct cidr6 *outer, uint8_t len, uint64_t n, struct cidr6 *ret);
/* The address at offset `host` (the low 64 bits) of a /64 or longer prefix. */
void cidr6_host(const struct cidr6 *c, uint64_t host, uint8_t ret[static 16]);
/* The low 64 bits of an address. */
uint64_t ip6_low64(const uint8_t a[static 16]);
/* AWS reserves the first four addresses and the last one of an IPv6 subnet too. */
bool subnet6_ip_reserved(const struct cidr6 *subnet, const uint8_t ip[static 16]);
