#include "cidr.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
