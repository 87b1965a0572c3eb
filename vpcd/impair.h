/* Link impairment of one ENI: delay with jitter, reordering, duplication and corruption of the
 * IPv4 packets of one address inside a VPC's namespace. This kernel has no sch_netem, so the
 * packets take a user-space path: an nftables table of the impairment's own sends them to an
 * NFQUEUE queue (the xt target through nft_compat), and a thread holds each one and gives its
 * verdict when its time comes. Measured on 2 cores (bench/impair): a ping through the queue
 * with delay 0 costs about 0.1 ms, TCP through it about 2 Gbit/s (every packet, GSO segmented,
 * takes the trip), and an impairment takes effect about 2 ms after impair_start is called.
 * Needs CAP_NET_ADMIN and CAP_SYS_ADMIN (setns), and CAP_NET_RAW when duplicate_pct > 0. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "err.h"

struct impair; /* one running impairment */

/* Which of the address's packets are impaired. The default, egress, is what netem on the
 * instance's own interface does (and what FIS's latency actions do): a ping to or from the
 * ENI shows the delay once. Both directions double it, as netem on both ends would. */
enum {
	IMPAIR_EGRESS = 1,  /* packets from the address */
	IMPAIR_INGRESS = 2, /* packets to the address */
	IMPAIR_BOTH = 3,
};

struct impair_spec {
	uint32_t addr;		      /* IPv4 (network order) of the ENI */
	unsigned dir;		      /* IMPAIR_EGRESS (also when 0), _INGRESS or _BOTH */
	unsigned delay_us, jitter_us; /* each packet held delay ± jitter (uniform, at least 0) */
	double reorder_pct;	      /* this share is sent at once (skips the delay): reordering */
	double duplicate_pct;	      /* this share is sent twice */
	double corrupt_pct;	      /* this share has one byte of its L4 segment flipped, the
				       * checksum left as it was: the receiver drops it */
	uint64_t seed;		      /* the random choices come from it: same seed, same choices */
};

struct impair_stats {
	unsigned queue;	     /* the NFQUEUE queue number */
	uint64_t packets;    /* packets read from the queue */
	uint64_t delayed;    /* held for a time > 0 */
	uint64_t reordered;  /* sent at once by reorder_pct */
	uint64_t duplicated; /* copies sent */
	uint64_t corrupted;
	uint64_t overflow; /* accepted at once because the hold queue was full */
	uint64_t foreign;  /* not the address's (another table's queue number): accepted at once */
	uint64_t held_max; /* the most packets held at one time */
};

#define IMPAIR_HOLD_MAX 10000 /* packets held at once; more are accepted at once, and counted */

/* Starts the impairment `id` ([A-Za-z0-9_-], at most 64) in the network namespace `ns` (a name
 * under /run/netns): the table `ip vpclab_impair_<id>` (replacing one of that name left
 * behind), and a thread that reads its queue. On failure nothing is left behind. */
int impair_start(const char *ns, const char *id, const struct impair_spec *s, struct impair **ret,
		 struct err *e);
/* Stops it: the table is deleted first (no packet is queued any more), then the packets held
 * and those still in flight are accepted, and the thread is joined. Accepts NULL. */
void impair_stop(struct impair *im);
void impair_get_stats(const struct impair *im, struct impair_stats *ret);
/* For the audit: whether the table of `id` is in `ns`. */
bool impair_present(const char *ns, const char *id);
/* For the reconcile: deletes the table of `id` left in `ns` by a process that died (its packets
 * pass meanwhile: the rule's bypass flag accepts them while no one reads the queue). 0 if the
 * table was not there. */
int impair_remove(const char *ns, const char *id, struct err *e);
/* The name of the table of `id`; false if `id` is not a valid one. */
bool impair_table_name(const char *id, char buf[static 96]);
