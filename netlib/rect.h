/* Unions of rectangles, made disjoint.
 *
 * nftables' concatenated interval sets (pipapo) refuse elements that nest inside each other,
 * while security group rules overlap all the time (tcp 22 from anywhere, tcp 0-1023 from the
 * VPC). The allowed region of one ENI for one protocol is a union of rectangles (key range ×
 * address range); this computes the same region as disjoint rectangles, which the set takes,
 * and a lookup costs the same whatever their number. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct rect {
	uint32_t k_lo, k_hi; /* inclusive: a port, protocol or ICMP type/code range */
	uint32_t a_lo, a_hi; /* inclusive address range */
};

/* Replaces *v (n entries, malloc'd) with disjoint rectangles covering the same points,
 * sorted by k_lo then a_lo, with equal neighbours along k merged. Returns 0 or -ENOMEM. */
int rect_disjoint(struct rect **v, size_t *n);
