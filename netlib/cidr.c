#include "cidr.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

static int parse_dec(const char **p, unsigned max, unsigned *ret)
{
	const char *s = *p;
	unsigned v = 0;
	int n = 0;

	while (*s >= '0' && *s <= '9') {
		if (n > 0 && v == 0)
			return -EINVAL; /* leading zero */
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max || ++n > 3)
			return -EINVAL;
		s++;
	}
	if (n == 0)
		return -EINVAL;
	*p = s;
	*ret = v;
	return 0;
}

static int ip_parse_prefix(const char **p, uint32_t *ret)
{
	uint32_t a = 0;
	for (int i = 0; i < 4; i++) {
		unsigned o;
		if (i > 0) {
			if (**p != '.')
				return -EINVAL;
			(*p)++;
		}
		if (parse_dec(p, 255, &o) < 0)
			return -EINVAL;
		a = a << 8 | o;
	}
	*ret = a;
	return 0;
}

int ip_parse(const char *s, uint32_t *ret)
{
	uint32_t a;
	if (!s || ip_parse_prefix(&s, &a) < 0 || *s)
		return -EINVAL;
	*ret = a;
	return 0;
}

void ip_format(uint32_t a, char buf[static IP_STRLEN])
{
	snprintf(buf, IP_STRLEN, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

uint32_t cidr_mask(uint8_t len) { return len == 0 ? 0 : ~(uint32_t)0 << (32 - len); }

int cidr_parse(const char *s, struct cidr *ret)
{
	uint32_t a;
	unsigned len;
	if (!s || ip_parse_prefix(&s, &a) < 0 || *s++ != '/' || parse_dec(&s, 32, &len) < 0 || *s)
		return -EINVAL;
	if (a & ~cidr_mask((uint8_t)len))
		return -EINVAL;
	*ret = (struct cidr){.addr = a, .len = (uint8_t)len};
	return 0;
}

void cidr_format(const struct cidr *c, char buf[static CIDR_STRLEN])
{
	char ip[IP_STRLEN];
	ip_format(c->addr, ip);
	snprintf(buf, CIDR_STRLEN, "%s/%u", ip, c->len);
}

uint32_t cidr_last(const struct cidr *c) { return c->addr | ~cidr_mask(c->len); }
uint64_t cidr_size(const struct cidr *c) { return (uint64_t)1 << (32 - c->len); }

bool cidr_contains_ip(const struct cidr *c, uint32_t ip)
{
	return (ip & cidr_mask(c->len)) == c->addr;
}

bool cidr_contains(const struct cidr *outer, const struct cidr *inner)
{
	return inner->len >= outer->len && cidr_contains_ip(outer, inner->addr);
}

bool cidr_overlaps(const struct cidr *a, const struct cidr *b)
{
	return cidr_contains(a, b) || cidr_contains(b, a);
}

bool subnet_ip_reserved(const struct cidr *s, uint32_t ip)
{
	return ip - s->addr <= 3 || ip == cidr_last(s);
}

uint64_t subnet_usable(const struct cidr *s)
{
	uint64_t n = cidr_size(s);
	return n > 5 ? n - 5 : 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int ipam_pick(const struct cidr *subnet, const uint32_t *used, size_t n, uint32_t *ret)
{
	uint32_t *sorted = NULL;
	uint32_t cand = subnet->addr + 4, last = cidr_last(subnet);

	if (n) {
		sorted = malloc(n * sizeof(*sorted));
		if (!sorted)
			return -ENOMEM;
		memcpy(sorted, used, n * sizeof(*sorted));
		qsort(sorted, n, sizeof(*sorted), cmp_u32);
	}
	for (size_t i = 0; i < n && cand < last; i++) {
		if (sorted[i] < cand)
			continue;
		if (sorted[i] > cand)
			break;
		cand++;
	}
	free(sorted);
	if (cidr_size(subnet) < 8 || cand >= last)
		return -ENOSPC;
	*ret = cand;
	return 0;
}

int ip6_parse(const char *s, uint8_t ret[static 16])
{
	uint8_t a[16];
	if (!s || !*s || strlen(s) >= IP6_STRLEN || strchr(s, '%') || inet_pton(AF_INET6, s, a) != 1)
		return -EINVAL;
	memcpy(ret, a, 16);
	return 0;
}

void ip6_format(const uint8_t a[static 16], char buf[static IP6_STRLEN])
{
	if (!inet_ntop(AF_INET6, a, buf, IP6_STRLEN))
		snprintf(buf, IP6_STRLEN, "::");
}

static bool prefix6_eq(const uint8_t *a, const uint8_t *b, unsigned len)
{
	unsigned bytes = len / 8, bits = len % 8;
	if (memcmp(a, b, bytes) != 0)
		return false;
	if (bits == 0)
		return true;
	uint8_t m = (uint8_t)(0xff << (8 - bits));
	return (a[bytes] & m) == (b[bytes] & m);
}

int cidr6_parse(const char *s, struct cidr6 *ret)
{
	char addr[IP6_STRLEN];
	const char *slash = s ? strchr(s, '/') : NULL;
	uint8_t a[16];
	unsigned len;
	if (!slash || (size_t)(slash - s) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = 0;
	const char *p = slash + 1;
	if (ip6_parse(addr, a) < 0 || parse_dec(&p, 128, &len) < 0 || *p)
		return -EINVAL;
	/* Host bits zero: the address masked to len equals itself. */
	uint8_t masked[16];
	memcpy(masked, a, 16);
	for (unsigned i = 0; i < 128; i++)
		if (i >= len)
			masked[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	if (memcmp(masked, a, 16) != 0)
		return -EINVAL;
	memcpy(ret->addr, a, 16);
	ret->len = (uint8_t)len;
	return 0;
}

void cidr6_format(const struct cidr6 *c, char buf[static CIDR6_STRLEN])
{
	char a[IP6_STRLEN];
	ip6_format(c->addr, a);
	snprintf(buf, CIDR6_STRLEN, "%s/%u", a, c->len);
}

bool cidr6_contains(const struct cidr6 *outer, const struct cidr6 *inner)
{
	return inner->len >= outer->len && prefix6_eq(outer->addr, inner->addr, outer->len);
}

bool cidr6_contains_ip(const struct cidr6 *c, const uint8_t ip[static 16])
{
	return prefix6_eq(c->addr, ip, c->len);
}

bool cidr6_overlaps(const struct cidr6 *a, const struct cidr6 *b)
{
	return prefix6_eq(a->addr, b->addr, a->len < b->len ? a->len : b->len);
}

int cidr6_nth(const struct cidr6 *outer, uint8_t len, uint64_t n, struct cidr6 *ret)
{
	unsigned bits = (unsigned)len - outer->len;
	if (len < outer->len || len > 128 || bits > 64 || (bits < 64 && n >> bits))
		return -ERANGE;
	struct cidr6 c = *outer;
	/* Add n at bit position len-1 (counting from the top), carrying upwards. */
	for (unsigned i = 0; i < bits; i++) {
		unsigned pos = len - 1 - i;
		if (n >> i & 1)
			c.addr[pos / 8] |= (uint8_t)(0x80 >> (pos % 8));
	}
	c.len = len;
	*ret = c;
	return 0;
}

uint64_t ip6_low64(const uint8_t a[static 16])
{
	uint64_t v = 0;
	for (int i = 8; i < 16; i++)
		v = v << 8 | a[i];
	return v;
}

void cidr6_host(const struct cidr6 *c, uint64_t host, uint8_t ret[static 16])
{
	memcpy(ret, c->addr, 16);
	for (int i = 15; i >= 8; i--, host >>= 8)
		ret[i] |= (uint8_t)(host & 0xff);
}

bool subnet6_ip_reserved(const struct cidr6 *subnet, const uint8_t ip[static 16])
{
	if (!cidr6_contains_ip(subnet, ip) || subnet->len < 64)
		return true;
	uint64_t h = ip6_low64(ip), mask = subnet->len == 128 ? 0 : (~0ULL >> (subnet->len - 64));
	h &= mask;
	return h < 4 || h == mask;
}
