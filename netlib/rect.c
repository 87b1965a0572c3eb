#include "rect.h"
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct ival {
	uint32_t lo, hi;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_ival(const void *a, const void *b)
{
	const struct ival *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int cmp_rect_klo(const void *a, const void *b)
{
	const struct rect *x = a, *y = b;
	return x->k_lo < y->k_lo ? -1 : x->k_lo > y->k_lo;
}

/* Merges overlapping or touching intervals in place; returns the new count. */
static size_t merge(struct ival *v, size_t n)
{
	size_t m = 0;
	qsort(v, n, sizeof(*v), cmp_ival);
	for (size_t i = 0; i < n; i++) {
		if (m && (uint64_t)v[i].lo <= (uint64_t)v[m - 1].hi + 1) {
			if (v[i].hi > v[m - 1].hi)
				v[m - 1].hi = v[i].hi;
		} else {
			v[m++] = v[i];
		}
	}
	return m;
}

int rect_disjoint(struct rect **pv, size_t *pn)
{
	struct rect *in = *pv, *out = NULL;
	size_t n = *pn, nout = 0, cap = 0, nb = 0;
	uint64_t *bp = NULL;
	size_t *active = NULL, nact = 0;
	struct ival *cur = NULL, *prev = NULL;
	size_t ncur = 0, nprev = 0;
	int r = -ENOMEM;

	if (n == 0)
		return 0;
	qsort(in, n, sizeof(*in), cmp_rect_klo);
	bp = malloc(2 * n * sizeof(*bp));
	active = malloc(n * sizeof(*active));
	cur = malloc(n * sizeof(*cur));
	prev = malloc(n * sizeof(*prev));
	if (!bp || !active || !cur || !prev)
		goto out;
	for (size_t i = 0; i < n; i++) {
		bp[nb++] = in[i].k_lo;
		bp[nb++] = (uint64_t)in[i].k_hi + 1;
	}
	qsort(bp, nb, sizeof(*bp), cmp_u64);

	/* Sweep along k: between two breakpoints the set of covering rectangles is constant. */
	size_t next = 0;
	for (size_t b = 0; b < nb;) {
		uint64_t lo = bp[b];
		while (b < nb && bp[b] == lo)
			b++;
		if (b == nb)
			break; /* the last breakpoint only closes intervals */
		uint64_t hi = bp[b] - 1;
		size_t k = 0;
		for (size_t i = 0; i < nact; i++)
			if (in[active[i]].k_hi >= lo)
				active[k++] = active[i];
		nact = k;
		while (next < n && in[next].k_lo <= lo) {
			if (in[next].k_hi >= lo)
				active[nact++] = next;
			next++;
		}
		ncur = 0;
		for (size_t i = 0; i < nact; i++)
			cur[ncur++] = (struct ival){in[active[i]].a_lo, in[active[i]].a_hi};
		ncur = merge(cur, ncur);
		/* The same address intervals as the slab just before: widen those rectangles. */
		bool same = ncur && ncur == nprev && memcmp(cur, prev, ncur * sizeof(*cur)) == 0 &&
			    (uint64_t)out[nout - 1].k_hi + 1 == lo;
		if (same) {
			for (size_t i = 0; i < ncur; i++)
				out[nout - ncur + i].k_hi = (uint32_t)hi;
		} else {
			for (size_t i = 0; i < ncur; i++) {
				if (nout == cap) {
					cap = cap ? cap * 2 : 64;
					struct rect *no = realloc(out, cap * sizeof(*out));
					if (!no)
						goto out;
					out = no;
				}
				out[nout++] = (struct rect){(uint32_t)lo, (uint32_t)hi, cur[i].lo, cur[i].hi};
			}
		}
		memcpy(prev, cur, ncur * sizeof(*cur));
		nprev = ncur;
	}
	free(in);
	*pv = out;
	*pn = nout;
	out = NULL;
	r = 0;
out:
	free(out);
	free(bp);
	free(active);
	free(cur);
	free(prev);
	return r;
}
