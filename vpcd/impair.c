/* Link impairment of one ENI (see impair.h): an nftables table that sends the address's packets
 * to an NFQUEUE queue, and a thread that holds each packet until its time.
 *
 * Why it is built this way:
 * - This kernel has no sch_netem and no `nft queue` expression (NFT_QUEUE off), but it has
 *   nft_compat, so the rule's verdict is the xt NFQUEUE target (revision 3, with the bypass
 *   flag so that packets pass while no one reads the queue: a killed daemon leaves a working
 *   network). libnftables' text syntax cannot say that, so the table is built with libnftnl
 *   and sent as one nfnetlink batch over a socket made inside the namespace.
 * - The queue is read through libmnl and libnetfilter_queue's message helpers, on a socket
 *   also made inside the namespace; verdicts may come in any order of packet ids, which is
 *   what lets a packet with a shorter delay overtake one with a longer one.
 * - The chains run at priority IMPAIR_PRIO, after vpcd's own tables (faults at -10, ACLs and
 *   security groups at filter): a packet they drop never takes the trip through user space,
 *   and the copies sent for duplication are copies of packets they accepted.
 * - Duplicates: a verdict cannot clone a packet, so the copy is sent through a raw socket
 *   (IP_HDRINCL) in the namespace, right after the original's verdict. The socket marks what
 *   it sends with IMPAIR_MARK and the rules skip that mark, so a copy is never queued again. */
#include "impair.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netfilter/xt_NFQUEUE.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include "cleanup.h"
#include "netns.h"

#define IMPAIR_PRIO 10		/* after `inet vpclab` (filter, 0) and the fault tables (-10) */
#define IMPAIR_MARK 0x56490000u /* on the copies the raw socket sends; the rules skip it */
#define QUEUE_BASE 0x5600u	/* queue numbers are picked in [BASE, BASE + SPAN) */
#define QUEUE_SPAN 0x1000u
#define QUEUE_KERNEL_MAX 16384	 /* the kernel's own bound (fail-open beyond), above HOLD_MAX */
#define RECV_BUF (0xffff + 4096) /* one packet message with a whole 64 KiB payload */
#define VERDICT_BUF (256 * 1024) /* verdicts gathered into one sendmsg */
#define BATCH_BUF (32 * 1024)

/* --- random choices: xoshiro256**, seeded through splitmix64 ----------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t s[4])
{
	uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
	return r;
}

static bool chance(uint64_t r, double pct)
{
	return (double)(r >> 11) * 0x1.0p-53 * 100.0 < pct;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- the impairment ------------------------------------------------------------------- */

enum { HELD_MOD = 1, HELD_DUP = 2 };

struct held {
	uint64_t due, seq; /* seq: packets due at the same time leave in arrival order */
	uint32_t id;
	uint32_t len;
	unsigned what;
	unsigned char *pkt; /* the payload to send (modified, or for the copy); NULL if neither */
};

struct impair {
	char table[96];
	struct impair_spec spec;
	struct mnl_socket *nft; /* nfnetlink, bound in the namespace: the table */
	struct mnl_socket *q;	/* nfnetlink, bound in the namespace: the queue */
	uint32_t nft_seq;
	int raw;     /* raw IPv4 socket in the namespace: the duplicates */
	int stop_fd; /* eventfd: impair_stop asks the thread to finish */
	pthread_t thread;
	bool thread_started;
	uint16_t queue;
	bool stopping;
	uint64_t rng[4];
	struct held *heap;
	size_t nheld;
	uint64_t order; /* arrival rank of held packets */
	uint32_t qseq;	/* of the queue's config messages */
	char *vbuf;	/* pending verdict messages */
	size_t vlen;
	char *rbuf;
	struct impair_stats st; /* written by the thread with atomics, read by anyone */
};

#define STAT_ADD(im, f, n) __atomic_fetch_add(&(im)->st.f, (n), __ATOMIC_RELAXED)

static bool heap_less(const struct held *a, const struct held *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_push(struct impair *im, struct held h)
{
	size_t i = im->nheld++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!heap_less(&h, &im->heap[p]))
			break;
		im->heap[i] = im->heap[p];
		i = p;
	}
	im->heap[i] = h;
	if (im->nheld > __atomic_load_n(&im->st.held_max, __ATOMIC_RELAXED))
		__atomic_store_n(&im->st.held_max, im->nheld, __ATOMIC_RELAXED);
}

static struct held heap_pop(struct impair *im)
{
	struct held top = im->heap[0], last = im->heap[--im->nheld];
	size_t i = 0, n = im->nheld;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && heap_less(&im->heap[c + 1], &im->heap[c]))
			c++;
		if (!heap_less(&im->heap[c], &last))
			break;
		im->heap[i] = im->heap[c];
		i = c;
	}
	if (n)
		im->heap[i] = last;
	return top;
}

/* --- netlink plumbing ----------------------------------------------------------------- */

static void mnl_closep(struct mnl_socket **s)
{
	if (*s)
		mnl_socket_close(*s);
}

/* A NETLINK_NETFILTER socket; made by the caller while inside the namespace. */
static struct mnl_socket *nf_socket(void)
{
	struct mnl_socket *s = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!s)
		return NULL;
	if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = errno;
		mnl_socket_close(s);
		errno = r;
		return NULL;
	}
	struct timeval tv = {.tv_sec = 2};
	setsockopt(mnl_socket_get_fd(s), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return s;
}

/* Reads replies until `want` acks (or errors) of messages with seq in [seq0, seq0 + n) have
 * come; returns the first error (negative errno) or 0. A reply on seq0 that is an error ends
 * the wait: for a batch that is its begin, answered only when the whole batch is refused or
 * its commit failed (that answer comes before the messages' acks, which then say nothing
 * more). Replies with a seq outside the range answer earlier requests on this socket (acks
 * left unread after such an early end) and are skipped. */
static int nl_acks(struct mnl_socket *s, uint32_t seq0, uint32_t n, unsigned want)
{
	char buf[8192];
	int first = 0;
	while (want > 0) {
		ssize_t len = mnl_socket_recvfrom(s, buf, sizeof(buf));
		if (len < 0) {
			/* SO_RCVTIMEO: the kernel always answers what it was sent, so silence
			 * is a fault of ours, not something to try again (not EAGAIN). */
			int r = errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
			return first ? first : r;
		}
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
		for (int left = (int)len; mnl_nlmsg_ok(nlh, left);
		     nlh = mnl_nlmsg_next(nlh, &left)) {
			if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_seq - seq0 >= n)
				continue;
			const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
			if (err->error && nlh->nlmsg_seq == seq0)
				return err->error;
			if (err->error && !first)
				first = err->error;
			want--;
		}
	}
	return first;
}

/* Enters the namespace `ns` for the socket() calls of the caller; returns the fd to hand to
 * netns_leave, or -errno. */
static int ns_enter(const char *ns, struct err *e)
{
	int fd = netns_open(ns);
	if (fd < 0)
		return err_setr(e, fd, "InternalError", "Cannot open the namespace '%s': %s", ns,
				strerror(-fd));
	int saved = netns_enter(fd);
	close(fd);
	if (saved < 0)
		return err_setr(e, saved, "InternalError", "Cannot enter the namespace '%s': %s",
				ns, strerror(-saved));
	return saved;
}

bool impair_table_name(const char *id, char buf[static 96])
{
	size_t n = strlen(id);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(id[i] == '-' || id[i] == '_' || (id[i] >= '0' && id[i] <= '9') ||
		      (id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z')))
			return false;
	snprintf(buf, 96, "vpclab_impair_%s", id);
	return true;
}

/* --- the table ------------------------------------------------------------------------ */

/* Each message is closed by batch_next once built, and only then: mnl_nlmsg_batch_next adds
 * the length found at the current slot, so a call on a slot not yet written (malloc'd, not
 * zeroed) would put whatever the heap held there into the batch. The kernel then refuses the
 * batch, or cannot even parse it and answers nothing at all. */
struct batch {
	struct mnl_nlmsg_batch *b;
	uint32_t seq0, seq;
	unsigned acks;
	bool overflow; /* a message did not fit: the batch is not sent */
	char buf[BATCH_BUF];
};

static void batch_next(struct batch *bt)
{
	if (!mnl_nlmsg_batch_next(bt->b))
		bt->overflow = true;
}

static void batch_begin(struct batch *bt, uint32_t seq)
{
	bt->b = mnl_nlmsg_batch_start(bt->buf, sizeof(bt->buf));
	bt->seq0 = bt->seq = seq;
	bt->acks = 0;
	bt->overflow = false;
	nftnl_batch_begin(mnl_nlmsg_batch_current(bt->b), bt->seq++);
	batch_next(bt);
}

static struct nlmsghdr *batch_msg(struct batch *bt, uint16_t type, uint16_t flags)
{
	bt->acks++;
	return nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(bt->b), type, NFPROTO_IPV4,
				     flags | NLM_F_ACK, bt->seq++);
}

/* Sends the batch (its messages each closed by batch_next) and waits for the answers. The
 * commit's own failure is an error on the begin, which nl_acks returns. */
static int batch_send(struct mnl_socket *s, struct batch *bt)
{
	nftnl_batch_end(mnl_nlmsg_batch_current(bt->b), bt->seq++);
	batch_next(bt);
	int r = 0;
	if (bt->overflow)
		r = -EMSGSIZE;
	else if (mnl_socket_sendto(s, mnl_nlmsg_batch_head(bt->b), mnl_nlmsg_batch_size(bt->b)) < 0)
		r = -errno;
	mnl_nlmsg_batch_stop(bt->b);
	bt->b = NULL;
	return r < 0 ? r : nl_acks(s, bt->seq0, bt->seq - bt->seq0, bt->acks);
}

static void table_msg(struct batch *bt, const char *name, uint16_t type, uint16_t flags)
{
	struct nftnl_table *t = nftnl_table_alloc();
	if (!t)
		abort();
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_IPV4);
	nftnl_table_nlmsg_build_payload(batch_msg(bt, type, flags), t);
	nftnl_table_free(t);
	batch_next(bt);
}

static void chain_msg(struct batch *bt, const char *table, const char *name, unsigned hook)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	if (!c)
		abort();
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, IMPAIR_PRIO);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nftnl_chain_nlmsg_build_payload(batch_msg(bt, NFT_MSG_NEWCHAIN, NLM_F_CREATE), c);
	nftnl_chain_free(c);
	batch_next(bt);
}

static void add_expr(struct nftnl_rule *r, struct nftnl_expr *x)
{
	if (!x)
		abort();
	nftnl_rule_add_expr(r, x);
}

static struct nftnl_expr *cmp_expr(uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *x = nftnl_expr_alloc("cmp");
	if (!x)
		abort();
	nftnl_expr_set_u32(x, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(x, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(x, NFTNL_EXPR_CMP_DATA, data, len);
	return x;
}

/* meta mark != IMPAIR_MARK  ip saddr|daddr ADDR  counter  NFQUEUE num QUEUE bypass */
static void rule_msg(struct batch *bt, const char *table, const char *chain, bool src,
		     uint32_t addr, uint16_t queue)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	if (!r)
		abort();
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_IPV4);

	struct nftnl_expr *x = nftnl_expr_alloc("meta");
	if (!x)
		abort();
	nftnl_expr_set_u32(x, NFTNL_EXPR_META_KEY, NFT_META_MARK);
	nftnl_expr_set_u32(x, NFTNL_EXPR_META_DREG, NFT_REG_1);
	add_expr(r, x);
	uint32_t mark = IMPAIR_MARK;
	add_expr(r, cmp_expr(NFT_CMP_NEQ, &mark, sizeof(mark)));

	x = nftnl_expr_alloc("payload");
	if (!x)
		abort();
	nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
	nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_OFFSET, src ? 12 : 16);
	nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_LEN, 4);
	nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	add_expr(r, x);
	add_expr(r, cmp_expr(NFT_CMP_EQ, &addr, sizeof(addr)));

	add_expr(r, nftnl_expr_alloc("counter"));

	x = nftnl_expr_alloc("target");
	if (!x)
		abort();
	/* libnftnl takes ownership of the info buffer (as iptables-nft's use shows). */
	struct xt_NFQ_info_v3 *info = calloc(1, sizeof(*info));
	if (!info)
		abort();
	info->queuenum = queue;
	info->queues_total = 1;
	info->flags = NFQ_FLAG_BYPASS;
	nftnl_expr_set_str(x, NFTNL_EXPR_TG_NAME, "NFQUEUE");
	nftnl_expr_set_u32(x, NFTNL_EXPR_TG_REV, 3);
	nftnl_expr_set(x, NFTNL_EXPR_TG_INFO, info, sizeof(*info));
	add_expr(r, x);

	nftnl_rule_nlmsg_build_payload(batch_msg(bt, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND),
				       r);
	nftnl_rule_free(r);
	batch_next(bt);
}

/* One transaction: the table of that name, if any, is replaced whole (add; delete; add is
 * nft's idiom for "replace", and leaves nothing changed if any step fails). */
static int table_create(struct impair *im, struct err *e)
{
	_cleanup_free_ struct batch *bt = malloc(sizeof(*bt));
	if (!bt)
		return err_setr(e, -ENOMEM, "InternalError", "Out of memory");
	unsigned dir = im->spec.dir ? im->spec.dir : IMPAIR_EGRESS;
	batch_begin(bt, im->nft_seq);
	table_msg(bt, im->table, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	table_msg(bt, im->table, NFT_MSG_DELTABLE, 0);
	table_msg(bt, im->table, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL);
	/* Bridged IPv4 between ENIs (br_netfilter) and routed IPv4 pass forward; what the VPC
	 * router itself answers (a ping to the subnet's .1) passes input, then output. */
	chain_msg(bt, im->table, "forward", NF_INET_FORWARD);
	if (dir & IMPAIR_EGRESS)
		chain_msg(bt, im->table, "input", NF_INET_LOCAL_IN);
	if (dir & IMPAIR_INGRESS)
		chain_msg(bt, im->table, "output", NF_INET_LOCAL_OUT);
	if (dir & IMPAIR_EGRESS) {
		rule_msg(bt, im->table, "forward", true, im->spec.addr, im->queue);
		rule_msg(bt, im->table, "input", true, im->spec.addr, im->queue);
	}
	if (dir & IMPAIR_INGRESS) {
		rule_msg(bt, im->table, "forward", false, im->spec.addr, im->queue);
		rule_msg(bt, im->table, "output", false, im->spec.addr, im->queue);
	}
	int r = batch_send(im->nft, bt);
	im->nft_seq = bt->seq;
	if (r < 0)
		return err_setr(e, r, "InternalError", "Cannot create the table 'ip %s': %s",
				im->table, strerror(-r));
	return 0;
}

static int table_delete(struct mnl_socket *s, uint32_t *seq, const char *table)
{
	_cleanup_free_ struct batch *bt = malloc(sizeof(*bt));
	if (!bt)
		return -ENOMEM;
	batch_begin(bt, *seq);
	table_msg(bt, table, NFT_MSG_DELTABLE, 0);
	int r = batch_send(s, bt);
	*seq = bt->seq;
	return r;
}

/* --- the queue ------------------------------------------------------------------------ */

static int queue_config(struct impair *im, uint16_t queue, bool bind)
{
	char buf[512];
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue);
	if (bind) {
		nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	} else {
		nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xffff);
		nfq_nlmsg_cfg_put_qmaxlen(nlh, QUEUE_KERNEL_MAX);
		/* Fail open: when the kernel's queue or our socket is full the packet passes
		 * instead of being dropped. No F_GSO: the kernel segments GSO packets before
		 * queueing them and completes partial checksums, so what we corrupt is caught. */
		mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_FAIL_OPEN));
		mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN));
	}
	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = ++im->qseq;
	if (mnl_socket_sendto(im->q, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	return nl_acks(im->q, nlh->nlmsg_seq, 1, 1);
}

/* Binds a free queue number, starting from one derived from the id, so that the same
 * impairment tends to get the same number. */
static int queue_bind(struct impair *im, const char *id, struct err *e)
{
	uint32_t h = 2166136261u;
	for (const char *p = id; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (unsigned i = 0; i < QUEUE_SPAN; i++) {
		uint16_t q = (uint16_t)(QUEUE_BASE + (h + i) % QUEUE_SPAN);
		int r = queue_config(im, q, true);
		if (r == -EBUSY || r == -EPERM)
			continue; /* bound by another socket */
		if (r < 0)
			return err_setr(e, r, "InternalError", "Cannot bind NFQUEUE %u: %s", q,
					strerror(-r));
		im->queue = q;
		im->st.queue = q;
		r = queue_config(im, q, false);
		if (r < 0)
			return err_setr(e, r, "InternalError", "Cannot configure NFQUEUE %u: %s", q,
					strerror(-r));
		return 0;
	}
	return err_setr(e, -EBUSY, "InternalError", "No free NFQUEUE number in the namespace");
}

static void verdicts_flush(struct impair *im)
{
	if (im->vlen && mnl_socket_sendto(im->q, im->vbuf, im->vlen) < 0)
		/* Nothing to do about it here: the kernel keeps such packets until the queue
		 * is unbound, and fails open on overflow meanwhile. */
		(void)0;
	im->vlen = 0;
}

static void verdict(struct impair *im, uint32_t id, const void *pkt, uint32_t len)
{
	size_t need = NLMSG_ALIGN(sizeof(struct nlmsghdr)) + 64 + (pkt ? MNL_ALIGN(len) + 8 : 0);
	if (VERDICT_BUF - im->vlen < need)
		verdicts_flush(im);
	struct nlmsghdr *nlh = nfq_nlmsg_put(im->vbuf + im->vlen, NFQNL_MSG_VERDICT, im->queue);
	nfq_nlmsg_verdict_put(nlh, (int)id, NF_ACCEPT);
	if (pkt)
		nfq_nlmsg_verdict_put_pkt(nlh, pkt, len);
	im->vlen += NLMSG_ALIGN(nlh->nlmsg_len);
}

static void release(struct impair *im, struct held *h)
{
	verdict(im, h->id, (h->what & HELD_MOD) ? h->pkt : NULL, h->len);
	if (h->what & HELD_DUP) {
		/* The original's verdict goes first, so the copy follows it. */
		verdicts_flush(im);
		const struct iphdr *ip = (const struct iphdr *)h->pkt;
		struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = ip->daddr};
		if (sendto(im->raw, h->pkt, h->len, 0, (struct sockaddr *)&to, sizeof(to)) ==
		    (ssize_t)h->len)
			STAT_ADD(im, duplicated, 1);
	}
	free(h->pkt);
	h->pkt = NULL;
}

/* The byte to flip: one of the L4 payload if there is one, else one of the L4 header; both
 * are covered by the L4 checksum (TCP, UDP with a checksum, ICMP). Returns -1 if none. */
static long corrupt_offset(const unsigned char *p, uint32_t len, uint64_t r)
{
	const struct iphdr *ip = (const struct iphdr *)p;
	uint32_t hl = ip->ihl * 4u, l4h = 0;
	if (len <= hl)
		return -1;
	if (!(ntohs(ip->frag_off) & 0x1fff)) {
		if (ip->protocol == IPPROTO_TCP && len >= hl + 20)
			l4h = (p[hl + 12] >> 4) * 4u;
		else if (ip->protocol == IPPROTO_UDP || ip->protocol == IPPROTO_ICMP)
			l4h = 8;
	}
	uint32_t start = hl + l4h < len ? hl + l4h : hl;
	return (long)(start + r % (len - start));
}

static void on_packet(struct impair *im, uint32_t id, const unsigned char *p, uint32_t len)
{
	STAT_ADD(im, packets, 1);
	const struct iphdr *ip = (const struct iphdr *)p;
	unsigned dir = im->spec.dir ? im->spec.dir : IMPAIR_EGRESS;
	if (im->stopping || len < sizeof(*ip) || ip->version != 4 || ip->ihl < 5) {
		verdict(im, id, NULL, 0);
		return;
	}
	if (!((dir & IMPAIR_EGRESS && ip->saddr == im->spec.addr) ||
	      (dir & IMPAIR_INGRESS && ip->daddr == im->spec.addr))) {
		/* A table left behind by a process that died may name this queue number. */
		STAT_ADD(im, foreign, 1);
		verdict(im, id, NULL, 0);
		return;
	}
	/* Five draws per packet whatever is used, so that the choices depend on the seed and
	 * the packet's rank only. */
	uint64_t r_reorder = rng_next(im->rng), r_dup = rng_next(im->rng),
		 r_corrupt = rng_next(im->rng), r_jitter = rng_next(im->rng),
		 r_pos = rng_next(im->rng);
	struct held h = {.id = id, .len = len, .seq = im->order++};
	int64_t delay = (int64_t)im->spec.delay_us * 1000;
	if (im->spec.jitter_us) {
		uint64_t j = (uint64_t)im->spec.jitter_us * 1000;
		delay += (int64_t)(r_jitter % (2 * j + 1)) - (int64_t)j;
	}
	if (delay < 0)
		delay = 0;
	if (delay > 0 && chance(r_reorder, im->spec.reorder_pct)) {
		delay = 0;
		STAT_ADD(im, reordered, 1);
	}
	bool dup = chance(r_dup, im->spec.duplicate_pct);
	long off = chance(r_corrupt, im->spec.corrupt_pct) ? corrupt_offset(p, len, r_pos) : -1;
	if (dup || off >= 0) {
		h.pkt = malloc(len);
		if (!h.pkt) {
			verdict(im, id, NULL, 0);
			return;
		}
		memcpy(h.pkt, p, len);
		if (off >= 0) {
			h.pkt[off] ^= 0xff;
			h.what |= HELD_MOD;
			STAT_ADD(im, corrupted, 1);
		}
		if (dup)
			h.what |= HELD_DUP;
	}
	if (delay > 0 && im->nheld >= IMPAIR_HOLD_MAX) {
		STAT_ADD(im, overflow, 1);
		delay = 0;
	}
	if (delay == 0) {
		release(im, &h);
		return;
	}
	STAT_ADD(im, delayed, 1);
	h.due = now_ns() + (uint64_t)delay;
	heap_push(im, h);
}

/* Reads what the socket holds now, without waiting. */
static void queue_read(struct impair *im)
{
	for (int i = 0; i < 256; i++) {
		ssize_t n = recv(mnl_socket_get_fd(im->q), im->rbuf, RECV_BUF, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == ENOBUFS)
				continue;
			return; /* EAGAIN */
		}
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)im->rbuf;
		for (int left = (int)n; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			/* NLMSG_ERROR here is the answer to a verdict for a packet that went (the
			 * queue was flushed): nothing to do. */
			if (NFNL_MSG_TYPE(nlh->nlmsg_type) != NFQNL_MSG_PACKET ||
			    NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_QUEUE)
				continue;
			struct nlattr *attr[NFQA_MAX + 1] = {0};
			if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR])
				continue;
			const struct nfqnl_msg_packet_hdr *ph =
			    mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
			uint32_t id = ntohl(ph->packet_id);
			if (!attr[NFQA_PAYLOAD]) {
				verdict(im, id, NULL, 0);
				continue;
			}
			on_packet(im, id, mnl_attr_get_payload(attr[NFQA_PAYLOAD]),
				  mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]));
		}
	}
}

static void *impair_thread(void *arg)
{
	struct impair *im = arg;
	/* Sub-millisecond wake-ups: the default slack of 50 us is fine, but ask for less. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	struct pollfd pfd[2] = {{.fd = mnl_socket_get_fd(im->q), .events = POLLIN},
				{.fd = im->stop_fd, .events = POLLIN}};
	for (;;) {
		uint64_t now = now_ns();
		while (im->nheld && im->heap[0].due <= now) {
			struct held h = heap_pop(im);
			release(im, &h);
		}
		verdicts_flush(im);
		struct timespec ts, *tmo = NULL;
		if (im->nheld) {
			uint64_t d = im->heap[0].due - now;
			ts.tv_sec = (time_t)(d / 1000000000ull);
			ts.tv_nsec = (long)(d % 1000000000ull);
			tmo = &ts;
		}
		if (ppoll(pfd, 2, tmo, NULL) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (pfd[0].revents & POLLIN)
			queue_read(im);
		verdicts_flush(im);
	}
	/* Stopping: the table is gone, so what comes now was queued before; release the held
	 * packets (as they are), then accept what is still arriving until the socket is quiet. */
	im->stopping = true;
	while (im->nheld) {
		struct held h = heap_pop(im);
		free(h.pkt);
		verdict(im, h.id, NULL, 0);
	}
	verdicts_flush(im);
	for (;;) {
		struct pollfd q = {.fd = mnl_socket_get_fd(im->q), .events = POLLIN};
		if (poll(&q, 1, 5) <= 0)
			break;
		queue_read(im);
		verdicts_flush(im);
	}
	return NULL;
}

/* --- the interface -------------------------------------------------------------------- */

static void impair_free(struct impair *im)
{
	if (!im)
		return;
	mnl_closep(&im->q);
	mnl_closep(&im->nft);
	if (im->raw >= 0)
		close(im->raw);
	if (im->stop_fd >= 0)
		close(im->stop_fd);
	for (size_t i = 0; i < im->nheld; i++)
		free(im->heap[i].pkt);
	free(im->heap);
	free(im->vbuf);
	free(im->rbuf);
	free(im);
}

static void impair_freep(struct impair **im)
{
	impair_free(*im);
}

static int sockets_open(struct impair *im, const char *ns, struct err *e)
{
	int saved = ns_enter(ns, e);
	if (saved < 0)
		return saved;
	int r = 0;
	const char *what = "netlink";
	im->nft = nf_socket();
	im->q = im->nft ? nf_socket() : NULL;
	if (!im->q)
		r = -errno;
	/* The raw socket only when there is something to duplicate: it needs CAP_NET_RAW, which
	 * the other impairments do not. */
	if (!r && im->spec.duplicate_pct > 0) {
		what = "raw (CAP_NET_RAW)";
		im->raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
		if (im->raw < 0)
			r = -errno;
	}
	netns_leave(saved);
	if (r < 0)
		return err_setr(e, r, "InternalError", "Cannot open a %s socket in '%s': %s", what,
				ns, strerror(-r));
	uint32_t mark = IMPAIR_MARK;
	int one = 1, size = 16 << 20;
	if (im->raw >= 0 && setsockopt(im->raw, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0)
		return err_setr(e, -errno, "InternalError", "SO_MARK: %s", strerror(errno));
	int qfd = mnl_socket_get_fd(im->q);
	/* A deep receive buffer for bursts; without NO_ENOBUFS an overrun would also surface
	 * as an error on the next recv (the packets themselves fail open). */
	setsockopt(qfd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	setsockopt(qfd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	return 0;
}

int impair_start(const char *ns, const char *id, const struct impair_spec *s, struct impair **ret,
		 struct err *e)
{
	char table[96];
	if (!impair_table_name(id, table))
		return err_set(e, "InvalidParameterValue", "The impairment ID '%s' is not valid",
			       id);
	if (s->dir > IMPAIR_BOTH || s->reorder_pct < 0 || s->reorder_pct > 100 ||
	    s->duplicate_pct < 0 || s->duplicate_pct > 100 || s->corrupt_pct < 0 ||
	    s->corrupt_pct > 100)
		return err_set(e, "InvalidParameterValue", "The impairment of '%s' is not valid",
			       id);
	if (s->delay_us > 60000000 || s->jitter_us > 60000000)
		return err_set(e, "InvalidParameterValue", "The delay of '%s' is over 60 s", id);

	_cleanup_(impair_freep) struct impair *im = calloc(1, sizeof(*im));
	if (!im)
		return err_setr(e, -ENOMEM, "InternalError", "Out of memory");
	im->raw = im->stop_fd = -1;
	snprintf(im->table, sizeof(im->table), "%s", table);
	im->spec = *s;
	uint64_t x = s->seed;
	for (int i = 0; i < 4; i++)
		im->rng[i] = splitmix64(&x);
	im->heap = calloc(IMPAIR_HOLD_MAX, sizeof(*im->heap));
	im->vbuf = malloc(VERDICT_BUF);
	im->rbuf = malloc(RECV_BUF);
	im->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (!im->heap || !im->vbuf || !im->rbuf || im->stop_fd < 0)
		return err_setr(e, -ENOMEM, "InternalError", "Out of memory");
	im->nft_seq = (uint32_t)time(NULL);

	int r = sockets_open(im, ns, e);
	if (r < 0)
		return r;
	r = queue_bind(im, id, e);
	if (r < 0)
		return r;
	r = pthread_create(&im->thread, NULL, impair_thread, im);
	if (r)
		return err_setr(e, -r, "InternalError", "Cannot start the impairment thread: %s",
				strerror(r));
	im->thread_started = true;
	pthread_setname_np(im->thread, "impair");
	r = table_create(im, e);
	if (r < 0) {
		uint64_t one = 1;
		if (write(im->stop_fd, &one, sizeof(one)) < 0)
			abort();
		pthread_join(im->thread, NULL);
		return r;
	}
	*ret = TAKE_PTR(im);
	return 0;
}

void impair_stop(struct impair *im)
{
	if (!im)
		return;
	/* The table first: from its commit on, no packet is queued any more. A namespace that
	 * is already gone took the table with it. */
	(void)table_delete(im->nft, &im->nft_seq, im->table);
	if (im->thread_started) {
		uint64_t one = 1;
		if (write(im->stop_fd, &one, sizeof(one)) < 0)
			abort();
		pthread_join(im->thread, NULL);
	}
	impair_free(im);
}

void impair_get_stats(const struct impair *im, struct impair_stats *ret)
{
#define LOAD(f) .f = __atomic_load_n(&im->st.f, __ATOMIC_RELAXED)
	*ret = (struct impair_stats){.queue = im->st.queue,
				     LOAD(packets),
				     LOAD(delayed),
				     LOAD(reordered),
				     LOAD(duplicated),
				     LOAD(corrupted),
				     LOAD(overflow),
				     LOAD(foreign),
				     LOAD(held_max)};
#undef LOAD
}

static struct mnl_socket *ns_socket(const char *ns, struct err *e)
{
	int saved = ns_enter(ns, e);
	if (saved < 0)
		return NULL;
	struct mnl_socket *s = nf_socket();
	int r = s ? 0 : -errno;
	netns_leave(saved);
	if (!s)
		err_setr(e, r, "InternalError", "Cannot open a netlink socket in '%s': %s", ns,
			 strerror(-r));
	return s;
}

bool impair_present(const char *ns, const char *id)
{
	char table[96], buf[8192];
	struct err e = {0};
	if (!impair_table_name(id, table))
		return false;
	_cleanup_(mnl_closep) struct mnl_socket *s = ns_socket(ns, &e);
	if (!s)
		return false;
	struct nftnl_table *t = nftnl_table_alloc();
	if (!t)
		abort();
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
	struct nlmsghdr *nlh =
	    nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_IPV4, NLM_F_ACK, 1);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	if (mnl_socket_sendto(s, nlh, nlh->nlmsg_len) < 0)
		return false;
	/* The answer is the table (then the ack) or an error. */
	ssize_t n = mnl_socket_recvfrom(s, buf, sizeof(buf));
	if (n < 0)
		return false;
	nlh = (struct nlmsghdr *)buf;
	if (!mnl_nlmsg_ok(nlh, (int)n))
		return false;
	if (nlh->nlmsg_type == NLMSG_ERROR)
		return ((const struct nlmsgerr *)mnl_nlmsg_get_payload(nlh))->error == 0;
	return NFNL_MSG_TYPE(nlh->nlmsg_type) == NFT_MSG_NEWTABLE;
}

int impair_remove(const char *ns, const char *id, struct err *e)
{
	char table[96];
	if (!impair_table_name(id, table))
		return err_set(e, "InvalidParameterValue", "The impairment ID '%s' is not valid",
			       id);
	_cleanup_(mnl_closep) struct mnl_socket *s = ns_socket(ns, e);
	if (!s)
		return -EIO;
	uint32_t seq = (uint32_t)time(NULL);
	int r = table_delete(s, &seq, table);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return err_setr(e, r, "InternalError",
				"Cannot delete the table 'ip %s' in '%s': %s", table, ns,
				strerror(-r));
	return 0;
}
