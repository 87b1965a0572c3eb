#include <time.h>
#include "ids.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

uint64_t idgen_next(struct idgen *g)
{
	uint64_t z = (g->state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void id_make(struct idgen *g, const char *kind, char buf[static ID_MAX])
{
	uint64_t a = idgen_next(g), b = idgen_next(g);
	/* 17 hex digits: one from b, sixteen from a; the first is never 0-padded away. */
	snprintf(buf, ID_MAX, "%s-%01x%016llx", kind, (unsigned)(b & 0xf), (unsigned long long)a);
}

void mac_make(struct idgen *g, char buf[static MAC_STRLEN])
{
	uint64_t a = idgen_next(g);
	snprintf(buf, MAC_STRLEN, "02:%02x:%02x:%02x:%02x:%02x", (unsigned)(a >> 32) & 255,
		 (unsigned)(a >> 24) & 255, (unsigned)(a >> 16) & 255, (unsigned)(a >> 8) & 255,
		 (unsigned)a & 255);
}

const char *id_tail(const char *id)
{
	size_t n = strlen(id);
	return n > 8 ? id + n - 8 : id;
}

int id_check(const char *id, const char *kind)
{
	size_t k = strlen(kind), n;
	if (!id || strncmp(id, kind, k) != 0 || id[k] != '-')
		return -EINVAL;
	id += k + 1;
	n = strlen(id);
	if (n < 8 || n > 17 || strspn(id, "0123456789abcdef") != n)
		return -EINVAL;
	return 0;
}

void time_iso(char buf[static 32])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}
