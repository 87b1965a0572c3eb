/* Probes: what the workload sees while an experiment breaks the lab. A probe is a record
 * (type "probe", CreateProbe / DescribeProbes / DeleteProbe, vpclab's own verbs) saying what to
 * send, from where, to what, how often: ICMP echo, a TCP connect, an HTTP GET (status and body
 * checked) or a UDP echo, from the host, the region's internet test host, a network namespace
 * of the user's, or a container instance, every N ms (10 ms works).
 *
 * An experiment runs the probes its template names in the tag `vpclab:probes` (comma-
 * separated), from half a second before its first action to a few seconds after its end. Each
 * probe is a thread that enters the source's network namespace (setns: its sockets are made
 * there), sends on an absolute schedule (a late tick is counted, never skipped silently) and
 * keeps every answer. A probe with AlarmFailures N is also a CloudWatch alarm for FIS's stop
 * conditions (arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME): N failures in a row stop the
 * experiment. At the end the answers become outages: first failed probe -> first good one
 * again, with the count of failed probes between. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <linux/filter.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <libvirt/libvirt-lxc.h>
#include <libvirt/virterror.h>
#include "cleanup.h"
#include "ec2d.h"
#include "log.h"

#define PROBE_MAX_INFLIGHT 512
#define PROBE_MAX_RESULTS 2000000 /* 5.5 hours at 10 ms */
#define PROBE_NAME_MAX 64

/* --- the records --------------------------------------------------------------------------- */

json_t *probe_get(const char *region, const char *name)
{
	char id[128];
	snprintf(id, sizeof(id), "probe:%s:%s", region, name);
	json_t *o = json_object_get(store_objects(E->store), id);
	return o && !strcmp(jstr(o, "_type"), "probe") ? o : NULL;
}

static json_t *public_probe(json_t *o)
{
	json_t *pub = json_object(), *v;
	const char *k;
	json_object_foreach(o, k, v) if (k[0] != '_') json_object_set(pub, k, v);
	return pub;
}

static long long int_param(json_t *p, const char *name, long long def)
{
	json_t *v = json_object_get(p, name);
	return json_is_integer(v) ? json_integer_value(v) : def;
}

int h_create_probe(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *P = rq->params;
	const char *name = jstr(P, "ProbeName"), *type = jstr(P, "Type"), *src = jstr(P, "Source"),
		   *target = jstr(P, "Target");
	long long port = int_param(P, "Port", 0), interval = int_param(P, "IntervalMs", 100),
		  timeout = int_param(P, "TimeoutMs", 0), alarm = int_param(P, "AlarmFailures", 0),
		  status = int_param(P, "ExpectStatus", 200);
	if (!*name || strlen(name) > PROBE_NAME_MAX || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != strlen(name))
		return err_set(e, "InvalidParameterValue", "ProbeName '%s' must be 1 to %d letters, digits, '-', '_' or '.'",
			       name, PROBE_NAME_MAX);
	if (probe_get(rq->region, name))
		return err_set(e, "InvalidParameterValue", "The probe '%s' already exists", name);
	if (strcmp(type, "icmp") && strcmp(type, "tcp") && strcmp(type, "http") && strcmp(type, "udp"))
		return err_set(e, "InvalidParameterValue", "Type '%s' must be icmp, tcp, http or udp", type);
	if (!*src)
		src = "host";
	if (strcmp(src, "host") && strcmp(src, "internet") && strncmp(src, "netns:", 6) && strncmp(src, "instance:", 9))
		return err_set(e, "InvalidParameterValue",
			       "Source '%s' must be host, internet, netns:NAME or instance:ID", src);
	if (!strncmp(src, "netns:", 6) && (!src[6] || strchr(src + 6, '/') || src[6] == '.'))
		return err_set(e, "InvalidParameterValue", "Source '%s': NAME is a network namespace in /run/netns", src);
	if (!*target)
		return err_set(e, "MissingParameter", "The request must contain the parameter Target");
	if (strcmp(type, "icmp") && (port < 1 || port > 65535))
		return err_set(e, "InvalidParameterValue", "Port %lld must be 1 to 65535 for a %s probe", port, type);
	if (interval < 10 || interval > 60000)
		return err_set(e, "InvalidParameterValue", "IntervalMs %lld must be 10 to 60000", interval);
	if (!timeout)
		timeout = interval < 1000 ? 1000 : interval;
	if (timeout < 1 || timeout > 60000)
		return err_set(e, "InvalidParameterValue", "TimeoutMs %lld must be 1 to 60000", timeout);
	if (alarm < 0 || alarm > 1000000)
		return err_set(e, "InvalidParameterValue", "AlarmFailures %lld must be 0 (no alarm) to 1000000", alarm);
	char id[128];
	snprintf(id, sizeof(id), "probe:%s:%s", rq->region, name);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:I, s:s, s:s}", "_type", "probe",
			      "_region", rq->region, "ProbeName", name, "Type", type, "Source", src, "Port", port,
			      "IntervalMs", interval, "TimeoutMs", timeout, "AlarmFailures", alarm, "Path",
			      *jstr(P, "Path") ? jstr(P, "Path") : "/", "ExpectStatus", status, "ExpectBody",
			      jstr(P, "ExpectBody"), "Target", target);
	if (alarm) {
		char arn[256];
		snprintf(arn, sizeof(arn), "arn:aws:cloudwatch:%s:%s:alarm:%s", rq->region, OWNER_ID, name);
		json_object_set_new(o, "AlarmArn", json_string(arn));
	}
	_cleanup_json_ json_t *ch = json_pack("{s:o}", id, o);
	int r = state_commit(ch, e);
	if (r == 0)
		*ret = json_pack("{s:o}", "Probe", public_probe(o));
	return r;
}

int h_describe_probes(struct ereq *rq, json_t **ret, struct err *e)
{
	(void)e;
	json_t *out = json_array(), *o;
	const char *id;
	_cleanup_json_ json_t *names = jlist(rq->params, "ProbeNames");
	json_object_foreach(store_objects(E->store), id, o)
	{
		if (strcmp(jstr(o, "_type"), "probe") || strcmp(jstr(o, "_region"), rq->region))
			continue;
		bool want = !json_array_size(names);
		size_t i;
		json_t *v;
		json_array_foreach(names, i, v) want |= !strcmp(json_string_value(v) ?: "", jstr(o, "ProbeName"));
		if (want)
			json_array_append_new(out, public_probe(o));
	}
	*ret = json_pack("{s:o}", "Probes", out);
	return 0;
}

int h_delete_probe(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *name = jstr(rq->params, "ProbeName");
	if (!probe_get(rq->region, name))
		return err_set(e, "InvalidParameterValue", "The probe '%s' does not exist", name);
	char id[128];
	snprintf(id, sizeof(id), "probe:%s:%s", rq->region, name);
	_cleanup_json_ json_t *ch = json_pack("{s:n}", id);
	int r = state_commit(ch, e);
	if (r == 0)
		*ret = json_pack("{s:b}", "Return", 1);
	return r;
}

/* --- running ------------------------------------------------------------------------------- */

struct result {
	long long at_ms; /* realtime, when sent */
	int rtt_us;      /* -1: failed */
};

struct prober {
	char name[PROBE_NAME_MAX + 1], type[8], path[256], body[256];
	int netns; /* -1: the host's */
	struct sockaddr_storage to;
	socklen_t tolen;
	long long interval, timeout;
	int expect, alarm;
	uint16_t ident;
	pthread_t thread;
	volatile bool stop;
	pthread_mutex_t lock;
	struct result *res;
	size_t n, cap;
	int streak; /* failures in a row, for the alarm */
	bool alarmed;
	long long late; /* ticks sent more than one interval late */
	char error[256];
};

struct probe_run {
	size_t n;
	struct prober *p;
};

static long long now_ms_real(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static long long now_us_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void record(struct prober *p, size_t slot, int rtt_us)
{
	pthread_mutex_lock(&p->lock);
	p->res[slot].rtt_us = rtt_us;
	pthread_mutex_unlock(&p->lock);
}

static uint16_t csum(const void *data, size_t len)
{
	const uint8_t *b = data;
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		s += (uint32_t)(b[len - 1] << 8);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

struct flight {
	size_t slot; /* in p->res */
	long long sent_us;
	int fd;        /* tcp/http: its own socket; -1 for icmp/udp */
	int phase;     /* http: 0 connecting, 1 reading */
	char buf[512];
	size_t got;
	uint16_t seq;
	bool used;
};

/* An HTTP answer: 1 good, 0 bad, -1 not whole yet. */
static int http_verdict(struct prober *p, struct flight *f, bool closed)
{
	f->buf[f->got < sizeof(f->buf) ? f->got : sizeof(f->buf) - 1] = 0;
	int status = 0;
	if (sscanf(f->buf, "HTTP/%*d.%*d %d", &status) != 1)
		return closed || f->got >= sizeof(f->buf) - 1 ? 0 : -1;
	if (status != p->expect)
		return 0;
	if (!*p->body)
		return 1;
	char *b = strstr(f->buf, "\r\n\r\n");
	if (b && strstr(b + 4, p->body))
		return 1;
	return closed || f->got >= sizeof(f->buf) - 1 ? 0 : -1;
}

static void finish(struct prober *p, struct flight *f, bool good)
{
	record(p, f->slot, good ? (int)(now_us_mono() - f->sent_us) : -1);
	pthread_mutex_lock(&p->lock);
	p->streak = good ? 0 : p->streak + 1;
	if (p->alarm && p->streak >= p->alarm)
		p->alarmed = true;
	pthread_mutex_unlock(&p->lock);
	if (f->fd >= 0)
		close(f->fd);
	f->used = false;
}

static void *prober_main(void *arg)
{
	struct prober *p = arg;
	struct flight *fl = calloc(PROBE_MAX_INFLIGHT, sizeof(*fl));
	struct pollfd *pfd = calloc(PROBE_MAX_INFLIGHT + 1, sizeof(*pfd));
	int shared = -1;
	uint16_t seq = 0;
	unsigned long long head = 0, tail = 0;
	if (p->netns >= 0 && setns(p->netns, CLONE_NEWNET) < 0) {
		snprintf(p->error, sizeof(p->error), "cannot enter the source's network namespace: %m");
		goto out;
	}
	if (!strcmp(p->type, "icmp") &&
	    (shared = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMP)) >= 0) {
		/* A raw socket sees every ICMP packet of the namespace: the kernel keeps only this
		 * probe's echo replies (type 0, its identifier), or 100 probes cost 100 x 100. */
		struct sock_filter code[] = {
			BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),		 /* x = IP header length */
			BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0),		 /* ICMP type */
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICMP_ECHOREPLY, 0, 3),
			BPF_STMT(BPF_LD | BPF_H | BPF_IND, 4),		 /* its identifier */
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, p->ident, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, 0xffff),
			BPF_STMT(BPF_RET | BPF_K, 0),
		};
		struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
		if (setsockopt(shared, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0) {
			close(shared);
			shared = -1;
		}
	}
	else if (!strcmp(p->type, "udp") && (shared = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) >= 0 &&
		 connect(shared, (struct sockaddr *)&p->to, p->tolen) < 0) {
		close(shared);
		shared = -1;
	}
	if ((!strcmp(p->type, "icmp") || !strcmp(p->type, "udp")) && shared < 0) {
		snprintf(p->error, sizeof(p->error), "cannot make the probe's socket: %m");
		goto out;
	}
	long long next = now_us_mono();
	while (!p->stop) {
		long long now = now_us_mono();
		if (now >= next) {
			/* A tick: one probe sent, its slot kept whatever comes back. */
			if (now - next > p->interval * 1000)
				p->late++;
			next += p->interval * 1000;
			if (next < now)
				next = now + p->interval * 1000; /* after a long stall, no burst to catch up */
			/* Flights are a ring in the order sent: [tail, head) holds every one in the air. */
			while (tail < head && !fl[tail % PROBE_MAX_INFLIGHT].used)
				tail++;
			struct flight *f = head - tail < PROBE_MAX_INFLIGHT ? &fl[head % PROBE_MAX_INFLIGHT] : NULL;
			if (f)
				head++;
			pthread_mutex_lock(&p->lock);
			if (f && p->n == p->cap && p->cap < PROBE_MAX_RESULTS) {
				size_t nc = p->cap ? p->cap * 2 : 4096;
				struct result *nr = realloc(p->res, nc * sizeof(*nr));
				if (nr)
					p->res = nr, p->cap = nc;
			}
			bool room = f && p->n < p->cap;
			if (room)
				p->res[p->n] = (struct result){now_ms_real(), -1};
			pthread_mutex_unlock(&p->lock);
			if (room) {
				*f = (struct flight){.slot = p->n, .sent_us = now, .fd = -1, .seq = ++seq, .used = true};
				pthread_mutex_lock(&p->lock);
				p->n++;
				pthread_mutex_unlock(&p->lock);
				int r = 0;
				if (!strcmp(p->type, "icmp")) {
					struct icmphdr h = {.type = ICMP_ECHO};
					uint8_t pkt[sizeof(h) + 8] = {0};
					h.un.echo.id = htons(p->ident);
					h.un.echo.sequence = htons(f->seq);
					memcpy(pkt, &h, sizeof(h));
					memcpy(pkt + sizeof(h), "vpclab!!", 8);
					((struct icmphdr *)pkt)->checksum = csum(pkt, sizeof(pkt));
					r = (int)sendto(shared, pkt, sizeof(pkt), 0, (struct sockaddr *)&p->to, p->tolen);
				} else if (!strcmp(p->type, "udp")) {
					char msg[32];
					int len = snprintf(msg, sizeof(msg), "vpclab %u", f->seq);
					r = (int)send(shared, msg, (size_t)len, 0);
				} else {
					f->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
					r = f->fd < 0 ? -1 : connect(f->fd, (struct sockaddr *)&p->to, p->tolen);
					if (r < 0 && errno == EINPROGRESS)
						r = 0;
				}
				if (r < 0)
					finish(p, f, false);
			}
		}
		/* Wait for answers until the next tick or the first timeout. */
		int np = 0, map[PROBE_MAX_INFLIGHT + 1];
		long long wake = next;
		if (shared >= 0)
			pfd[np] = (struct pollfd){.fd = shared, .events = POLLIN}, map[np++] = -1;
		long long tnow = now_us_mono();
		for (unsigned long long q = tail; q < head; q++) {
			int i = (int)(q % PROBE_MAX_INFLIGHT);
			if (!fl[i].used)
				continue;
			long long dl = fl[i].sent_us + p->timeout * 1000;
			if (dl <= tnow) {
				finish(p, &fl[i], false);
				continue;
			}
			if (dl < wake)
				wake = dl;
			if (fl[i].fd >= 0)
				pfd[np] = (struct pollfd){.fd = fl[i].fd, .events = fl[i].phase ? POLLIN : POLLOUT},
				map[np++] = i;
		}
		long long ms = (wake - now_us_mono() + 999) / 1000;
		int got = poll(pfd, (nfds_t)np, ms < 0 ? 0 : ms > 100 ? 100 : (int)ms);
		for (int k = 0; got > 0 && k < np; k++) {
			if (!pfd[k].revents)
				continue;
			if (map[k] < 0) {
				uint8_t buf[1500];
				ssize_t len;
				while ((len = recv(shared, buf, sizeof(buf), 0)) > 0) {
					uint16_t s = 0;
					if (!strcmp(p->type, "icmp")) {
						struct iphdr *ip = (struct iphdr *)buf;
						size_t hl = (size_t)ip->ihl * 4;
						if ((size_t)len < hl + sizeof(struct icmphdr))
							continue;
						struct icmphdr *h = (struct icmphdr *)(buf + hl);
						if (h->type != ICMP_ECHOREPLY || ntohs(h->un.echo.id) != p->ident)
							continue;
						s = ntohs(h->un.echo.sequence);
					} else {
						unsigned v;
						buf[len < (ssize_t)sizeof(buf) ? len : (ssize_t)sizeof(buf) - 1] = 0;
						if (sscanf((char *)buf, "vpclab %u", &v) != 1)
							continue;
						s = (uint16_t)v;
					}
					for (unsigned long long q = tail; q < head; q++) {
						struct flight *g = &fl[q % PROBE_MAX_INFLIGHT];
						if (g->used && g->seq == s && g->fd < 0)
							finish(p, g, true);
					}
				}
				continue;
			}
			struct flight *f = &fl[map[k]];
			if (!f->phase) {
				int err = 0;
				socklen_t el = sizeof(err);
				getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err || (pfd[k].revents & (POLLERR | POLLHUP))) {
					finish(p, f, false);
				} else if (!strcmp(p->type, "tcp")) {
					finish(p, f, true);
				} else {
					char req[512];
					char host[64] = "";
					inet_ntop(AF_INET, &((struct sockaddr_in *)&p->to)->sin_addr, host, sizeof(host));
					int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: vpclab-probe\r\n\r\n",
							 p->path, host);
					if (send(f->fd, req, (size_t)n, MSG_NOSIGNAL) != n)
						finish(p, f, false);
					else
						f->phase = 1;
				}
			} else {
				ssize_t len = recv(f->fd, f->buf + f->got, sizeof(f->buf) - 1 - f->got, 0);
				if (len > 0)
					f->got += (size_t)len;
				int v = http_verdict(p, f, len <= 0);
				if (v >= 0)
					finish(p, f, v == 1);
			}
		}
	}
	/* What is still in flight at the end is not counted: it had no time to answer. */
	for (int i = 0; i < PROBE_MAX_INFLIGHT; i++)
		if (fl[i].used) {
			if (fl[i].fd >= 0)
				close(fl[i].fd);
			pthread_mutex_lock(&p->lock);
			p->res[fl[i].slot].rtt_us = -2;
			pthread_mutex_unlock(&p->lock);
		}
out:
	if (shared >= 0)
		close(shared);
	free(fl);
	free(pfd);
	return NULL;
}

/* A running container instance's network namespace, as an open fd in *ret; under the lock.
 * `what` names the caller in the errors ("A probe runs", "A check sends"). */
int instance_netns(const char *region, const char *iid, const char *what, int *ret, struct err *e)
{
	*ret = -1;
	json_t *inst = instance_get(iid);
	if (!inst || strcmp(jstr(inst, "_region"), region))
		return err_set(e, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", iid);
	if (strcmp(jstr(inst, "_kind"), "lxc"))
		return err_set(e, "InvalidParameterValue", "%s from a container instance; '%s' is a VM", what, iid);
	char name[64];
	domain_name(iid, name);
	virConnectPtr c = domain_conn("lxc", e);
	virDomainPtr d = c ? virDomainLookupByName(c, name) : NULL;
	int *fds = NULL, n = d ? virDomainLxcOpenNamespace(d, &fds, 0) : -1;
	if (d)
		virDomainFree(d);
	for (int i = 0; i < n; i++) {
		char fdp[64], link[64];
		snprintf(fdp, sizeof(fdp), "/proc/self/fd/%d", fds[i]);
		ssize_t l = readlink(fdp, link, sizeof(link) - 1);
		if (*ret < 0 && l > 0 && (link[l] = 0, !strncmp(link, "net:", 4)))
			*ret = fds[i];
		else
			close(fds[i]);
	}
	free(fds);
	if (*ret < 0)
		return err_set(e, "IncorrectInstanceState", "The instance '%s' is not running", iid);
	return 0;
}

/* The network namespace a source names, as an open fd (-1 for the host's). */
static int source_ns(const char *region, const char *src, int *ret, struct err *e)
{
	char path[300];
	*ret = -1;
	if (!strcmp(src, "host"))
		return 0;
	if (!strcmp(src, "internet") || !strncmp(src, "netns:", 6)) {
		if (!strcmp(src, "internet"))
			snprintf(path, sizeof(path), "/run/netns/%s-%s", E->prefix, region);
		else
			snprintf(path, sizeof(path), "/run/netns/%s", src + 6);
		if ((*ret = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return err_set(e, "InvalidParameterValue", "The probe's source namespace '%s' does not exist", path);
		return 0;
	}
	return instance_netns(region, src + strlen("instance:"), "A probe runs", ret, e);
}

static int target_addr(json_t *o, struct sockaddr_storage *ss, socklen_t *len, struct err *e)
{
	struct addrinfo hints = {.ai_family = AF_INET}, *ai = NULL;
	char port[8];
	snprintf(port, sizeof(port), "%lld", (long long)json_integer_value(json_object_get(o, "Port")));
	int r = getaddrinfo(jstr(o, "Target"), port, &hints, &ai);
	if (r || !ai)
		return err_set(e, "InvalidParameterValue", "The probe '%s' cannot resolve '%s': %s", jstr(o, "ProbeName"),
			       jstr(o, "Target"), gai_strerror(r));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

void probes_stop(struct probe_run *pr)
{
	if (!pr)
		return;
	for (size_t i = 0; i < pr->n; i++) {
		pr->p[i].stop = true;
		if (pr->p[i].thread)
			pthread_join(pr->p[i].thread, NULL);
		if (pr->p[i].netns >= 0)
			close(pr->p[i].netns);
		pr->p[i].netns = -1, pr->p[i].thread = 0;
	}
}

void probes_free(struct probe_run *pr)
{
	if (!pr)
		return;
	probes_stop(pr);
	for (size_t i = 0; i < pr->n; i++) {
		free(pr->p[i].res);
		pthread_mutex_destroy(&pr->p[i].lock);
	}
	free(pr->p);
	free(pr);
}

int probes_start(const char *region, const char *names, uint64_t seed, struct probe_run **ret, struct err *e)
{
	_cleanup_free_ char *list = strdup(names ? names : "");
	struct probe_run *pr = calloc(1, sizeof(*pr));
	size_t cap = 0;
	int r = 0;
	/* The names, a trailing '*' matching every probe whose name starts so (sorted). */
	_cleanup_json_ json_t *want = json_array();
	for (char *save = NULL, *nm = strtok_r(list, ", ", &save); nm; nm = strtok_r(NULL, ", ", &save)) {
		size_t l = strlen(nm);
		if (!l || nm[l - 1] != '*') {
			json_array_append_new(want, json_string(nm));
			continue;
		}
		_cleanup_json_ json_t *m = json_array();
		const char *id;
		json_t *o;
		json_object_foreach(store_objects(E->store), id, o)
		{
			if (!strcmp(jstr(o, "_type"), "probe") && !strcmp(jstr(o, "_region"), region) &&
			    !strncmp(jstr(o, "ProbeName"), nm, l - 1))
				json_array_append_new(m, json_string(jstr(o, "ProbeName")));
		}
		for (size_t i = 1; i < json_array_size(m); i++)
			for (size_t j = i; j > 0 && strcmp(json_string_value(json_array_get(m, j - 1)),
							   json_string_value(json_array_get(m, j))) > 0; j--) {
				json_t *a = json_incref(json_array_get(m, j - 1));
				json_array_set(m, j - 1, json_array_get(m, j));
				json_array_set_new(m, j, a);
			}
		json_array_extend(want, m);
	}
	size_t wi;
	json_t *wv;
	json_array_foreach(want, wi, wv) {
		if (r < 0)
			break;
		const char *nm = json_string_value(wv);
		json_t *o = probe_get(region, nm);
		if (!o) {
			r = err_set(e, "ResourceNotFoundException", "The probe '%s' (tag vpclab:probes) does not exist", nm);
			break;
		}
		if (pr->n == cap) {
			cap = cap ? cap * 2 : 4;
			pr->p = realloc(pr->p, cap * sizeof(*pr->p));
		}
		struct prober *p = &pr->p[pr->n++];
		*p = (struct prober){.netns = -1, .interval = json_integer_value(json_object_get(o, "IntervalMs")),
				     .timeout = json_integer_value(json_object_get(o, "TimeoutMs")),
				     .expect = (int)json_integer_value(json_object_get(o, "ExpectStatus")),
				     .alarm = (int)json_integer_value(json_object_get(o, "AlarmFailures")),
				     .ident = (uint16_t)(seed + pr->n)}; /* distinct among the run's probes */
		pthread_mutex_init(&p->lock, NULL);
		snprintf(p->name, sizeof(p->name), "%s", nm);
		snprintf(p->type, sizeof(p->type), "%s", jstr(o, "Type"));
		snprintf(p->path, sizeof(p->path), "%s", jstr(o, "Path"));
		snprintf(p->body, sizeof(p->body), "%s", jstr(o, "ExpectBody"));
		if ((r = target_addr(o, &p->to, &p->tolen, e)) < 0 || (r = source_ns(region, jstr(o, "Source"), &p->netns, e)) < 0)
			break;
	}
	for (size_t i = 0; r == 0 && i < pr->n; i++)
		if (pthread_create(&pr->p[i].thread, NULL, prober_main, &pr->p[i]) != 0)
			r = err_set(e, "InternalError", "cannot start the probe '%s'", pr->p[i].name);
	if (r < 0) {
		probes_free(pr);
		return r;
	}
	*ret = pr;
	return 0;
}

/* The name of a probe whose alarm went off, or NULL. */
const char *probes_alarmed(struct probe_run *pr)
{
	for (size_t i = 0; pr && i < pr->n; i++) {
		pthread_mutex_lock(&pr->p[i].lock);
		bool a = pr->p[i].alarmed;
		pthread_mutex_unlock(&pr->p[i].lock);
		if (a)
			return pr->p[i].name;
	}
	return NULL;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Each probe's summary and outages, times in seconds from `t0_ms` (the experiment's start). */
json_t *probes_summary(struct probe_run *pr, long long t0_ms)
{
	json_t *out = json_object();
	for (size_t i = 0; pr && i < pr->n; i++) {
		struct prober *p = &pr->p[i];
		json_t *outages = json_array(), *cur = NULL;
		size_t sent = 0, failed = 0, nr = 0;
		int *rtts = calloc(p->n + 1, sizeof(int));
		pthread_mutex_lock(&p->lock);
		for (size_t k = 0; k < p->n; k++) {
			struct result *r = &p->res[k];
			if (r->rtt_us == -2)
				continue; /* no time to answer before the end */
			sent++;
			double at = (double)(r->at_ms - t0_ms) / 1000.0;
			if (r->rtt_us < 0) {
				failed++;
				if (!cur) {
					cur = json_pack("{s:f, s:n, s:n, s:i}", "Start", at, "End", "Duration", "Failed", 0);
					json_array_append_new(outages, cur);
				}
				json_object_set_new(cur, "Failed", json_integer(json_integer_value(json_object_get(cur, "Failed")) + 1));
			} else {
				rtts[nr++] = r->rtt_us;
				if (cur) {
					json_object_set_new(cur, "End", json_real(at));
					json_object_set_new(cur, "Duration",
							    json_real(at - json_real_value(json_object_get(cur, "Start"))));
					cur = NULL;
				}
			}
		}
		/* An outage still on at the end is open: measured to the last probe sent. */
		if (cur && p->n) {
			double last = (double)(p->res[p->n - 1].at_ms - t0_ms) / 1000.0;
			json_object_set_new(cur, "Open", json_true());
			json_object_set_new(cur, "Duration", json_real(last - json_real_value(json_object_get(cur, "Start"))));
		}
		pthread_mutex_unlock(&p->lock);
		qsort(rtts, nr, sizeof(int), cmp_int);
		json_t *s = json_pack("{s:s, s:I, s:I, s:I, s:o, s:I}", "Type", p->type, "IntervalMs", p->interval,
				      "Sent", (json_int_t)sent, "Failed", (json_int_t)failed, "Outages", outages, "LateTicks",
				      p->late);
		if (nr)
			json_object_set_new(s, "RttMsP50", json_real(rtts[nr / 2] / 1000.0));
		if (*p->error)
			json_object_set_new(s, "Error", json_string(p->error));
		free(rtts);
		json_object_set_new(out, p->name, s);
	}
	return out;
}
