/* `ec2d check --check-file F [--stack-name S] [--format table|tap|json]`: a lab's check file
 * (docs/checks.md) run against the running lab, one line of pass/fail with its reason per
 * check.
 *
 * Where it runs: in the CLI process. The check file is a student's input, and the daemon
 * parses no YAML from a client (its untrusted bytes are read by fronts, ARCHITECTURE.md): the
 * CLI parses and validates the file (check_file.c), resolves what it names, and asks the
 * daemon only ordinary questions over its socket: the Describe* calls any client makes,
 * DescribeStackResources, Exec (a command in an instance: files, counters) and one small
 * core action of its own, CheckReach (below), for the packets. So a check needs no more
 * privilege than the socket, and a malformed file changes nothing: it is refused before the
 * first call.
 *
 * CheckReach runs in the daemon because sending a packet from inside a container needs its
 * network namespace (libvirt's LXC namespace fds, setns), which the daemon holds, as probes
 * do (probe.c). It takes a handful of checked values (source, type, address, port, timeout)
 * and makes one connection attempt from a thread of its own inside that namespace. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <libvirt/libvirt-lxc.h>
#include "b64.h"
#include "check.h"
#include "cleanup.h"
#include "cli.h"
#include "ec2d.h"
#include "jsonx.h"
#include "rpc.h"

/* --- CheckReach: one attempt, in the daemon ------------------------------------------------ */

struct attempt {
	int netns; /* -1: the daemon's own */
	char type[8];
	struct sockaddr_in to;
	long long timeout_ms;
	char path[256], body[256];
	bool connected;
	char detail[300];
};

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static uint16_t icmp_csum(const void *data, size_t len)
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

/* Waits for `events` on fd until the deadline: 1 ready, 0 timed out. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, 1, (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return 0;
	}
}

static void attempt_icmp(struct attempt *a, long long deadline)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMP);
	uint16_t id;
	if (fd < 0) {
		snprintf(a->detail, sizeof(a->detail), "cannot make an ICMP socket: %s", strerror(errno));
		return;
	}
	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = (uint16_t)getpid();
	/* Three echo requests spread over the time allowed: the first may wait for ARP. */
	long long step = (deadline - mono_ms()) / 3;
	for (uint16_t seq = 1; seq <= 3 && !a->connected; seq++) {
		uint8_t pkt[sizeof(struct icmphdr) + 8] = {0};
		struct icmphdr *h = (struct icmphdr *)pkt;
		h->type = ICMP_ECHO;
		h->un.echo.id = htons(id);
		h->un.echo.sequence = htons(seq);
		memcpy(pkt + sizeof(*h), "vpclab:c", 8);
		h->checksum = icmp_csum(pkt, sizeof(pkt));
		sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&a->to, sizeof(a->to));
		long long until = seq == 3 ? deadline : mono_ms() + step;
		while (!a->connected && wait_fd(fd, POLLIN, until)) {
			uint8_t buf[1500];
			ssize_t n;
			while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
				struct iphdr *ip = (struct iphdr *)buf;
				size_t hl = (size_t)ip->ihl * 4;
				if ((size_t)n < hl + sizeof(struct icmphdr) || ip->saddr != a->to.sin_addr.s_addr)
					continue;
				struct icmphdr *r = (struct icmphdr *)(buf + hl);
				if (r->type == ICMP_ECHOREPLY && ntohs(r->un.echo.id) == id)
					a->connected = true;
			}
		}
	}
	snprintf(a->detail, sizeof(a->detail), "%s", a->connected ? "echo reply" : "no echo reply");
}

static void attempt_tcp(struct attempt *a, long long deadline)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&a->to, sizeof(a->to)) < 0 && errno != EINPROGRESS)) {
		snprintf(a->detail, sizeof(a->detail), "connect: %s", strerror(errno));
		return;
	}
	if (!wait_fd(fd, POLLOUT, deadline)) {
		snprintf(a->detail, sizeof(a->detail), "no answer (timed out after %lld ms)", a->timeout_ms);
		return;
	}
	int err = 0;
	socklen_t el = sizeof(err);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err) {
		snprintf(a->detail, sizeof(a->detail), "%s", err == ECONNREFUSED ? "connection refused (reset)"
							     : err == EHOSTUNREACH ? "host unreachable (ICMP)"
										     : strerror(err));
		return;
	}
	if (strcmp(a->type, "http")) {
		a->connected = true;
		snprintf(a->detail, sizeof(a->detail), "connected");
		return;
	}
	char req[512], host[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &a->to.sin_addr, host, sizeof(host));
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: vpclab-check\r\n\r\n",
			 *a->path ? a->path : "/", host);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		snprintf(a->detail, sizeof(a->detail), "connected, but the request could not be sent");
		return;
	}
	char buf[4096];
	size_t got = 0;
	while (got < sizeof(buf) - 1 && wait_fd(fd, POLLIN, deadline)) {
		ssize_t l = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (l <= 0)
			break;
		got += (size_t)l;
	}
	buf[got] = 0;
	int status = 0;
	if (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1) {
		snprintf(a->detail, sizeof(a->detail), "connected, but no HTTP answer");
		return;
	}
	char *b = strstr(buf, "\r\n\r\n");
	if (*a->body && !(b && strstr(b + 4, a->body))) {
		snprintf(a->detail, sizeof(a->detail), "HTTP %d, but the page does not contain '%s'", status, a->body);
		return;
	}
	a->connected = status >= 200 && status < 400;
	snprintf(a->detail, sizeof(a->detail), "HTTP %d%s%s%s", status, *a->body ? ", page contains '" : "", a->body,
		 *a->body ? "'" : "");
}

static void attempt_udp(struct attempt *a, long long deadline)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a->to, sizeof(a->to)) < 0) {
		snprintf(a->detail, sizeof(a->detail), "udp socket: %s", strerror(errno));
		return;
	}
	long long step = (deadline - mono_ms()) / 3;
	for (int i = 1; i <= 3; i++) {
		send(fd, "vpclab check\n", 13, 0);
		if (wait_fd(fd, POLLIN, i == 3 ? deadline : mono_ms() + step)) {
			char buf[512];
			if (recv(fd, buf, sizeof(buf), 0) >= 0) {
				a->connected = true;
				snprintf(a->detail, sizeof(a->detail), "answered");
			} else
				snprintf(a->detail, sizeof(a->detail), "%s",
					 errno == ECONNREFUSED ? "port unreachable (ICMP)" : strerror(errno));
			return;
		}
	}
	snprintf(a->detail, sizeof(a->detail), "no answer (timed out after %lld ms)", a->timeout_ms);
}

static void *attempt_main(void *arg)
{
	struct attempt *a = arg;
	/* Its own thread: setns changes only this thread's namespace, and the thread ends here. */
	if (a->netns >= 0 && setns(a->netns, CLONE_NEWNET) < 0) {
		snprintf(a->detail, sizeof(a->detail), "cannot enter the source's network namespace: %s", strerror(errno));
		return NULL;
	}
	long long deadline = mono_ms() + a->timeout_ms;
	if (!strcmp(a->type, "icmp"))
		attempt_icmp(a, deadline);
	else if (!strcmp(a->type, "udp"))
		attempt_udp(a, deadline);
	else
		attempt_tcp(a, deadline);
	return NULL;
}

/* The network namespace of a source (internet, instance:ID), as an fd; under the lock. */
static int source_netns(const char *region, const char *src, int *ret, struct err *e)
{
	char path[300];
	if (!strcmp(src, "internet")) {
		snprintf(path, sizeof(path), "/run/netns/%s-%s", E->prefix, region);
		if ((*ret = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return err_set(e, "InvalidParameterValue", "The region's internet namespace '%s' does not exist", path);
		return 0;
	}
	return instance_netns(region, src + strlen("instance:"), "A check sends", ret, e);
}

int h_check_reach(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *P = rq->params;
	const char *src = jstr(P, "Source"), *type = jstr(P, "Type"), *target = jstr(P, "Target");
	json_t *jp = json_object_get(P, "Port"), *jt = json_object_get(P, "TimeoutMs");
	long long port = json_is_integer(jp) ? json_integer_value(jp) : 0,
		  timeout = json_is_integer(jt) ? json_integer_value(jt) : 3000;
	struct attempt a = {.netns = -1, .timeout_ms = timeout, .to = {.sin_family = AF_INET}};
	if (strcmp(type, "tcp") && strcmp(type, "http") && strcmp(type, "udp") && strcmp(type, "icmp"))
		return err_set(e, "InvalidParameterValue", "Type '%s' must be tcp, http, udp or icmp", type);
	if (strcmp(src, "internet") && strncmp(src, "instance:", 9))
		return err_set(e, "InvalidParameterValue", "Source '%s' must be internet or instance:ID", src);
	if (inet_pton(AF_INET, target, &a.to.sin_addr) != 1)
		return err_set(e, "InvalidParameterValue", "Target '%s' must be an IPv4 address", target);
	if (strcmp(type, "icmp") && (port < 1 || port > 65535))
		return err_set(e, "InvalidParameterValue", "Port %lld must be 1 to 65535", port);
	if (timeout < 100 || timeout > 30000)
		return err_set(e, "InvalidParameterValue", "TimeoutMs %lld must be 100 to 30000", timeout);
	if (strlen(jstr(P, "Path")) >= sizeof(a.path) || strlen(jstr(P, "ExpectBody")) >= sizeof(a.body))
		return err_set(e, "InvalidParameterValue", "Path and ExpectBody are at most 255 characters");
	a.to.sin_port = htons((uint16_t)port);
	snprintf(a.type, sizeof(a.type), "%s", type);
	snprintf(a.path, sizeof(a.path), "%s", jstr(P, "Path"));
	snprintf(a.body, sizeof(a.body), "%s", jstr(P, "ExpectBody"));
	pthread_mutex_lock(&E->lock);
	int r = source_netns(rq->region, src, &a.netns, e);
	pthread_mutex_unlock(&E->lock);
	if (r < 0)
		return r;
	pthread_t t;
	if (pthread_create(&t, NULL, attempt_main, &a) != 0) {
		close(a.netns);
		return err_set(e, "InternalError", "cannot start the check's thread");
	}
	pthread_join(t, NULL);
	close(a.netns);
	*ret = json_pack("{s:b, s:s}", "Connected", a.connected, "Detail", a.detail);
	return 0;
}

/* --- the CLI side: resolve, run, report ------------------------------------------------------ */

struct ctx {
	char sock[512], vpcd_sock[512];
	const char *region, *stack;
	json_t *stack_ids; /* logical ID -> physical ID */
	char internet_ip[INET_ADDRSTRLEN];
};

/* One call to ec2d (which passes vpcd's actions on). `params` is stolen. */
static int call(struct ctx *c, const char *action, json_t *params, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *req = json_pack("{s:s, s:s, s:o}", "Action", action, "Region", c->region, "Params",
					       params ? params : json_object());
	return rpc_call_stream(c->sock, req, NULL, NULL, ret, e);
}

struct exec_out {
	char *buf;
	size_t n;
};

static void exec_collect(json_t *ev, void *data)
{
	struct exec_out *o = data;
	const char *b = json_string_value(json_object_get(ev, "Stdout"));
	size_t n;
	_cleanup_free_ unsigned char *raw = b ? b64_decode(b, &n) : NULL;
	if (!raw || o->n + n > 1 << 20)
		return;
	char *nb = realloc(o->buf, o->n + n + 1);
	if (!nb)
		return;
	memcpy(nb + o->n, raw, n);
	o->buf = nb, o->n += n;
	o->buf[o->n] = 0;
}

/* Runs a command in an instance: its exit status and stdout (NUL-terminated, caller frees). */
static int run_in(struct ctx *c, const char *iid, json_t *argv, int *ret_status, char **ret_out, struct err *e)
{
	struct exec_out o = {0};
	_cleanup_json_ json_t *req = json_pack("{s:s, s:s, s:{s:s, s:o}}", "Action", "Exec", "Region", c->region, "Params",
					       "InstanceId", iid, "Command", argv), *res = NULL;
	int r = rpc_call_stream(c->sock, req, exec_collect, &o, &res, e);
	if (r < 0) {
		free(o.buf);
		return r;
	}
	*ret_status = (int)json_integer_value(json_object_get(res, "ExitCode"));
	*ret_out = o.buf ? o.buf : strdup("");
	return 0;
}

static bool is_ipv4(const char *s)
{
	struct in_addr a;
	return inet_pton(AF_INET, s, &a) == 1;
}

static bool id_shaped(const char *s, const char *prefix)
{
	size_t l = strlen(prefix);
	return !strncmp(s, prefix, l) && s[l] && strspn(s + l, "0123456789abcdef") == strlen(s + l);
}

/* What an object reference may be, per field. */
enum want { W_INSTANCE_OR_ENI, W_TARGET, W_RTB, W_SG, W_ACL, W_SUBNET, W_VPC, W_EXT, W_ANY };

static const struct lookup {
	const char *prefix, *action, *list, *idkey;
} lookups[] = {
	{"i-", "DescribeInstances", "Reservations", "InstanceId"},
	{"eni-", "DescribeNetworkInterfaces", "NetworkInterfaces", "NetworkInterfaceId"},
	{"rtb-", "DescribeRouteTables", "RouteTables", "RouteTableId"},
	{"sg-", "DescribeSecurityGroups", "SecurityGroups", "GroupId"},
	{"acl-", "DescribeNetworkAcls", "NetworkAcls", "NetworkAclId"},
	{"subnet-", "DescribeSubnets", "Subnets", "SubnetId"},
	{"vpc-", "DescribeVpcs", "Vpcs", "VpcId"},
	{"igw-", "DescribeInternetGateways", "InternetGateways", "InternetGatewayId"},
	{"nat-", "DescribeNatGateways", "NatGateways", "NatGatewayId"},
	{"pcx-", "DescribeVpcPeeringConnections", "VpcPeeringConnections", "VpcPeeringConnectionId"},
};

static bool wanted(enum want w, const char *prefix)
{
	switch (w) {
	case W_INSTANCE_OR_ENI:
		return !strcmp(prefix, "i-") || !strcmp(prefix, "eni-");
	case W_TARGET:
		return !strcmp(prefix, "i-") || !strcmp(prefix, "eni-") || !strcmp(prefix, "igw-") ||
		       !strcmp(prefix, "nat-") || !strcmp(prefix, "pcx-");
	case W_RTB:
		return !strcmp(prefix, "rtb-");
	case W_SG:
		return !strcmp(prefix, "sg-");
	case W_ACL:
		return !strcmp(prefix, "acl-");
	case W_SUBNET:
		return !strcmp(prefix, "subnet-");
	case W_VPC:
		return !strcmp(prefix, "vpc-");
	case W_EXT:
		return false;
	case W_ANY:
		return true;
	}
	return false;
}

/* An object with tag Name=`name` among one kind's objects: its ID or NULL. */
static const char *by_name_tag(struct ctx *c, const struct lookup *l, const char *name, json_t **keep, struct err *e)
{
	json_t *res = NULL;
	_cleanup_json_ json_t *p = json_pack("{s:[{s:s, s:[s]}]}", "Filters", "Name", "tag:Name", "Values", name);
	if (call(c, l->action, json_incref(p), &res, e) < 0) {
		err_clear(e);
		return NULL;
	}
	*keep = res;
	json_t *list = json_object_get(res, l->list), *o;
	size_t i;
	json_array_foreach(list, i, o) {
		if (!strcmp(l->prefix, "i-")) {
			json_t *inst;
			size_t k;
			json_array_foreach(json_object_get(o, "Instances"), k, inst) {
				const char *st = jstr(json_object_get(inst, "State"), "Name");
				if (strcmp(st, "terminated") && strcmp(st, "shutting-down"))
					return jstr(inst, "InstanceId");
			}
			continue;
		}
		if (!strcmp(l->prefix, "pcx-") && strcmp(jstr(json_object_get(o, "Status"), "Code"), "active"))
			continue;
		return jstr(o, l->idkey);
	}
	return NULL;
}

/* A name in the check file to an ID: "internet", an address (targets), a logical ID of the
 * stack, an ID as it is, or a Name tag (a security group also by its group name). */
static int resolve(struct ctx *c, json_t *chk, const char *key, enum want w, char *out, size_t n, struct err *e)
{
	const char *name = jstr(chk, key);
	int line = (int)json_integer_value(json_object_get(chk, "Line"));
	if (!*name)
		return 0;
	if ((!strcmp(key, "from") || !strcmp(key, "to")) && !strcmp(name, "internet")) {
		snprintf(out, n, "internet");
		return 0;
	}
	if (!strcmp(key, "to") && is_ipv4(name)) {
		snprintf(out, n, "%s", name);
		return 0;
	}
	const char *phys = c->stack_ids ? json_string_value(json_object_get(c->stack_ids, name)) : NULL;
	if (phys) {
		snprintf(out, n, "%s", phys);
		return 0;
	}
	for (size_t i = 0; i < sizeof(lookups) / sizeof(lookups[0]); i++)
		if (wanted(w, lookups[i].prefix) && id_shaped(name, lookups[i].prefix)) {
			snprintf(out, n, "%s", name);
			return 0;
		}
	if (w == W_EXT && !strncmp(name, "EXT", 3)) {
		snprintf(out, n, "%s", name);
		return 0;
	}
	for (size_t i = 0; i < sizeof(lookups) / sizeof(lookups[0]); i++) {
		if (!wanted(w, lookups[i].prefix))
			continue;
		_cleanup_json_ json_t *keep = NULL;
		const char *id = by_name_tag(c, &lookups[i], name, &keep, e);
		if (!id && w == W_SG) {
			json_decref(keep);
			keep = NULL;
			json_t *res = NULL;
			if (call(c, "DescribeSecurityGroups",
				 json_pack("{s:[{s:s, s:[s]}]}", "Filters", "Name", "group-name", "Values", name), &res, e) == 0) {
				keep = res;
				id = jstr(json_array_get(json_object_get(res, "SecurityGroups"), 0), "GroupId");
				id = *id ? id : NULL;
			} else
				err_clear(e);
		}
		if (id) {
			snprintf(out, n, "%s", id);
			return 0;
		}
	}
	if (w == W_EXT) {
		json_t *res = NULL;
		if (call(c, "ListExperimentTemplates", NULL, &res, e) == 0) {
			_cleanup_json_ json_t *keep = res;
			json_t *t;
			size_t i;
			json_array_foreach(json_object_get(res, "experimentTemplates"), i, t)
				if (!strcmp(jstr(json_object_get(t, "tags"), "Name"), name)) {
					snprintf(out, n, "%s", jstr(t, "id"));
					return 0;
				}
		} else
			err_clear(e);
	}
	if (c->stack)
		return err_set(e, "InvalidCheckFile",
			       "line %d: '%s' (field '%s') is not a logical ID of the stack '%s', an ID, or a Name tag", line,
			       name, key, c->stack);
	return err_set(e, "InvalidCheckFile", "line %d: '%s' (field '%s') is not an ID or a Name tag in the lab", line, name,
		       key);
}

static const struct {
	const char *kind, *key;
	enum want w;
} refs[] = {
	{"reach", "from", W_INSTANCE_OR_ENI},
	{"reach", "to", W_INSTANCE_OR_ENI},
	{"reach", "via", W_INSTANCE_OR_ENI},
	{"route", "route-table", W_RTB},
	{"route", "target", W_TARGET},
	{"security-group-rule", "group", W_SG},
	{"security-group-rule", "source-group", W_SG},
	{"nacl-entry", "network-acl", W_ACL},
	{"nacl-entry", "subnet", W_SUBNET},
	{"service", "instance", W_INSTANCE_OR_ENI},
	{"file", "instance", W_INSTANCE_OR_ENI},
	{"peering", "vpc", W_VPC},
	{"peering", "peer-vpc", W_VPC},
	{"experiment", "template", W_EXT},
};

/* Every name of every check resolved into "Ids" {key: id}, before anything runs. */
static int resolve_all(struct ctx *c, json_t *checks, struct err *e)
{
	size_t i;
	json_t *chk;
	json_array_foreach(checks, i, chk) {
		json_t *ids = json_object();
		json_object_set_new(chk, "Ids", ids);
		for (size_t k = 0; k < sizeof(refs) / sizeof(refs[0]); k++) {
			char id[128] = "";
			if (strcmp(refs[k].kind, jstr(chk, "Kind")))
				continue;
			int r = resolve(c, chk, refs[k].key, refs[k].w, id, sizeof(id), e);
			if (r < 0)
				return r;
			if (*id)
				json_object_set_new(ids, refs[k].key, json_string(id));
		}
		json_t *during = json_object_get(chk, "during");
		if (during) {
			int r = resolve_all(c, during, e);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static const char *idof(json_t *chk, const char *key)
{
	return jstr(json_object_get(chk, "Ids"), key);
}

/* An instance (or an ENI) as what a reach check needs: the instance that sends, its ENI,
 * private and public addresses. */
struct end {
	char instance[64], eni[64], vpc[64], private_ip[INET_ADDRSTRLEN], public_ip[INET_ADDRSTRLEN];
};

static int end_of(struct ctx *c, const char *id, struct end *ret, struct err *e)
{
	*ret = (struct end){0};
	json_t *res = NULL;
	int r;
	if (!strncmp(id, "eni-", 4)) {
		if ((r = call(c, "DescribeNetworkInterfaces", json_pack("{s:[s]}", "NetworkInterfaceIds", id), &res, e)) < 0)
			return r;
		json_t *eni = json_array_get(json_object_get(res, "NetworkInterfaces"), 0);
		snprintf(ret->instance, sizeof(ret->instance), "%s", jstr(json_object_get(eni, "Attachment"), "InstanceId"));
		snprintf(ret->eni, sizeof(ret->eni), "%s", id);
		snprintf(ret->vpc, sizeof(ret->vpc), "%s", jstr(eni, "VpcId"));
		snprintf(ret->private_ip, sizeof(ret->private_ip), "%s", jstr(eni, "PrivateIpAddress"));
		snprintf(ret->public_ip, sizeof(ret->public_ip), "%s", jstr(json_object_get(eni, "Association"), "PublicIp"));
		json_decref(res);
		return 0;
	}
	if ((r = call(c, "DescribeInstances", json_pack("{s:[s]}", "InstanceIds", id), &res, e)) < 0)
		return r;
	json_t *inst = json_array_get(json_object_get(json_array_get(json_object_get(res, "Reservations"), 0), "Instances"), 0);
	snprintf(ret->instance, sizeof(ret->instance), "%s", id);
	snprintf(ret->eni, sizeof(ret->eni), "%s",
		 jstr(json_array_get(json_object_get(inst, "NetworkInterfaces"), 0), "NetworkInterfaceId"));
	snprintf(ret->vpc, sizeof(ret->vpc), "%s", jstr(inst, "VpcId"));
	snprintf(ret->private_ip, sizeof(ret->private_ip), "%s", jstr(inst, "PrivateIpAddress"));
	snprintf(ret->public_ip, sizeof(ret->public_ip), "%s", jstr(inst, "PublicIpAddress"));
	json_decref(res);
	return 0;
}

/* The appliance's forwarded-packet counter (Ip ForwDatagrams of /proc/net/snmp, in its own
 * network namespace), or -1. */
static long long forwarded_count(struct ctx *c, const char *iid)
{
	int st;
	_cleanup_free_ char *out = NULL;
	struct err e = {0};
	if (run_in(c, iid, json_pack("[s, s]", "cat", "/proc/net/snmp"), &st, &out, &e) < 0 || st)
		return -1;
	char *names = strstr(out, "Ip: "), *vals = names ? strstr(names + 4, "Ip: ") : NULL;
	if (!vals)
		return -1;
	int col = -1, k = 0;
	for (char *s = names + 4; *s && *s != '\n'; k++) {
		size_t w = strcspn(s, " \n");
		if (w == 13 && !strncmp(s, "ForwDatagrams", 13))
			col = k;
		s += w;
		s += *s == ' ';
	}
	if (col < 0)
		return -1;
	char *s = vals + 4;
	for (k = 0; k < col && *s && *s != '\n'; k++) {
		s += strcspn(s, " \n");
		s += *s == ' ';
	}
	return strtoll(s, NULL, 10);
}

struct result {
	bool pass;
	char reason[900];
};

static void reason(struct result *res, bool pass, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reason(struct result *res, bool pass, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
	res->pass = pass;
}

static void run_reach(struct ctx *c, json_t *chk, struct result *res)
{
	struct err e = {0};
	const char *from = idof(chk, "from"), *to = idof(chk, "to"), *via = idof(chk, "via"), *proto = jstr(chk, "protocol");
	bool want = !strcmp(jstr(chk, "expect"), "connect");
	struct end src = {0}, dst = {0};
	char source[96], target[INET_ADDRSTRLEN];
	if (!strcmp(from, "internet"))
		snprintf(source, sizeof(source), "internet");
	else {
		if (end_of(c, from, &src, &e) < 0)
			return reason(res, false, "the source: %s", e.msg);
		if (!*src.instance)
			return reason(res, false, "the source '%s' is not attached to an instance", from);
		snprintf(source, sizeof(source), "instance:%s", src.instance);
	}
	if (!strcmp(to, "internet"))
		snprintf(target, sizeof(target), "%s", c->internet_ip);
	else if (is_ipv4(to))
		snprintf(target, sizeof(target), "%s", to);
	else {
		if (end_of(c, to, &dst, &e) < 0)
			return reason(res, false, "the target: %s", e.msg);
		const char *ip = !strcmp(from, "internet") ? dst.public_ip : dst.private_ip;
		if (!*ip && !strcmp(from, "internet"))
			return reason(res, !want, "%s has no public IP address: nothing from the internet reaches it%s", to,
				      want ? "" : " (as expected)");
		snprintf(target, sizeof(target), "%s", ip);
	}
	if (!*target)
		return reason(res, false, "no address to send to for '%s'", jstr(chk, "to"));
	long long before = via && *via ? forwarded_count(c, via) : 0;
	json_t *p = json_pack("{s:s, s:s, s:s, s:I}", "Source", source, "Type", proto, "Target", target, "TimeoutMs",
			      (json_int_t)(json_object_get(chk, "timeout") ? json_integer_value(json_object_get(chk, "timeout")) * 1000 : 3000));
	if (json_object_get(chk, "port"))
		json_object_set(p, "Port", json_object_get(chk, "port"));
	if (*jstr(chk, "path"))
		json_object_set_new(p, "Path", json_string(jstr(chk, "path")));
	if (*jstr(chk, "body"))
		json_object_set_new(p, "ExpectBody", json_string(jstr(chk, "body")));
	json_t *ans = NULL;
	if (call(c, "CheckReach", p, &ans, &e) < 0)
		return reason(res, false, "%s: %s", e.code, e.msg);
	_cleanup_json_ json_t *keep = ans;
	bool got = json_is_true(json_object_get(ans, "Connected"));
	char what[200];
	snprintf(what, sizeof(what), "%s %s%s%s", proto, target, strcmp(proto, "icmp") ? ":" : "",
		 strcmp(proto, "icmp") ? jstr(chk, "port") : "");
	if (json_object_get(chk, "port") && strcmp(proto, "icmp"))
		snprintf(what, sizeof(what), "%s %s:%lld", proto, target, (long long)json_integer_value(json_object_get(chk, "port")));
	snprintf(res->reason, sizeof(res->reason), "%s: %s", what, jstr(ans, "Detail"));
	res->pass = got == want;
	if (!res->pass)
		snprintf(res->reason, sizeof(res->reason), "%s: %s, but it must %s", what, jstr(ans, "Detail"),
			 want ? "connect" : "not connect");
	if (res->pass && via && *via && want) {
		long long after = forwarded_count(c, via);
		if (before < 0 || after < 0)
			reason(res, false, "%s: connected, but the forwarding counter of '%s' cannot be read", what, via);
		else if (after <= before)
			reason(res, false, "%s: connected, but not through '%s' (it forwarded no packet)", what, via);
		else {
			size_t l = strlen(res->reason);
			snprintf(res->reason + l, sizeof(res->reason) - l, ", through %s (%lld packets forwarded)", via,
				 after - before);
		}
	}
	/* The model's answer beside the packets' (vpcd's path analysis), when asked for. */
	if (json_is_true(json_object_get(chk, "analysis")) && (!strcmp(proto, "tcp") || !strcmp(proto, "udp")) && *src.eni) {
		json_t *x = NULL;
		json_t *q = json_pack("{s:s, s:s, s:s, s:O}", "Source", src.eni, "Destination", *dst.eni ? dst.eni : target,
				      "Protocol", proto, "Port", json_object_get(chk, "port"));
		size_t l = strlen(res->reason);
		if (call(c, "Explain", q, &x, &e) == 0) {
			bool model = json_is_true(json_object_get(x, "NetworkPathFound"));
			snprintf(res->reason + l, sizeof(res->reason) - l, "; path analysis: %s%s", jstr(x, "Verdict"),
				 model == got ? "" : " (the model disagrees with the packets)");
			json_decref(x);
		} else
			snprintf(res->reason + l, sizeof(res->reason) - l, "; path analysis: %s", e.msg);
	}
}

/* A route's target kind as the check file names it. */
static const char *route_kind(json_t *rt)
{
	if (!strcmp(jstr(rt, "State"), "blackhole"))
		return "blackhole";
	const char *g = jstr(rt, "GatewayId");
	if (!strcmp(g, "local"))
		return "local";
	if (!strncmp(g, "igw-", 4))
		return "internet-gateway";
	if (*jstr(rt, "NatGatewayId"))
		return "nat-gateway";
	if (*jstr(rt, "VpcPeeringConnectionId"))
		return "vpc-peering-connection";
	if (*jstr(rt, "InstanceId"))
		return "instance";
	if (*jstr(rt, "NetworkInterfaceId"))
		return "network-interface";
	return "other";
}

static const char *route_target(json_t *rt)
{
	const char *keys[] = {"NatGatewayId", "VpcPeeringConnectionId", "InstanceId", "NetworkInterfaceId", "GatewayId"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (*jstr(rt, keys[i]))
			return jstr(rt, keys[i]);
	return "?";
}

static void run_route(struct ctx *c, json_t *chk, struct result *res)
{
	struct err e = {0};
	const char *rtb = idof(chk, "route-table"), *dest = jstr(chk, "destination"), *via = jstr(chk, "via"),
		   *target = idof(chk, "target");
	bool want = !strcmp(jstr(chk, "expect"), "present");
	json_t *ans = NULL;
	if (call(c, "DescribeRouteTables", json_pack("{s:[s]}", "RouteTableIds", rtb), &ans, &e) < 0)
		return reason(res, false, "%s: %s", e.code, e.msg);
	_cleanup_json_ json_t *keep = ans;
	json_t *rt;
	size_t i;
	json_array_foreach(json_object_get(json_array_get(json_object_get(ans, "RouteTables"), 0), "Routes"), i, rt) {
		if (strcmp(jstr(rt, "DestinationCidrBlock"), dest))
			continue;
		const char *kind = route_kind(rt), *tid = route_target(rt);
		/* A route to an instance is a route to its network interface (vpcd knows ENIs). */
		bool eni_kind = !strcmp(kind, "instance") || !strcmp(kind, "network-interface");
		bool kind_ok = !strcmp(via, "any") || !strcmp(via, kind) ||
			       (eni_kind && (!strcmp(via, "network-interface") || !strcmp(via, "instance")));
		bool target_ok = !*target || !strcmp(target, tid) || !strcmp(target, jstr(rt, "NetworkInterfaceId")) ||
				 !strcmp(target, jstr(rt, "InstanceId"));
		struct end te;
		if (!target_ok && !strncmp(target, "i-", 2) && end_of(c, target, &te, &e) == 0)
			target_ok = !strcmp(te.eni, jstr(rt, "NetworkInterfaceId"));
		if (kind_ok && target_ok)
			return reason(res, want, "%s has %s via %s (%s)%s", rtb, dest, tid, kind,
				      want ? "" : ", which must not be there");
		return reason(res, !want, "%s routes %s via %s (%s), not via %s%s%s", rtb, dest, tid, kind,
			      *target ? target : via, *target ? "" : "", want ? "" : " (as required)");
	}
	reason(res, !want, "%s has no route to %s%s", rtb, dest, want ? "" : " (as required)");
}

static int proto_num(const char *p)
{
	return !strcmp(p, "tcp") || !strcmp(p, "6") ? 6 : !strcmp(p, "udp") || !strcmp(p, "17") ? 17 :
	       !strcmp(p, "icmp") || !strcmp(p, "1") ? 1 : !strcmp(p, "-1") || !strcmp(p, "all") ? -1 : 256;
}

static bool cidr_parse(const char *s, uint32_t *addr, int *len)
{
	char a[32];
	const char *slash = strchr(s, '/');
	struct in_addr in;
	if (!slash || (size_t)(slash - s) >= sizeof(a))
		return false;
	memcpy(a, s, (size_t)(slash - s));
	a[slash - s] = 0;
	if (inet_pton(AF_INET, a, &in) != 1)
		return false;
	*len = atoi(slash + 1);
	*addr = ntohl(in.s_addr);
	return *len >= 0 && *len <= 32;
}

/* Whether CIDR `outer` holds all of `inner`. */
static bool cidr_holds(const char *outer, const char *inner)
{
	uint32_t a, b;
	int la, lb;
	if (!cidr_parse(outer, &a, &la) || !cidr_parse(inner, &b, &lb) || la > lb)
		return false;
	uint32_t m = la ? ~0u << (32 - la) : 0;
	return (a & m) == (b & m);
}

static bool cidr_meets(const char *x, const char *y)
{
	return cidr_holds(x, y) || cidr_holds(y, x);
}

static void run_sg_rule(struct ctx *c, json_t *chk, struct result *res)
{
	struct err e = {0};
	const char *sg = idof(chk, "group"), *peer_sg = idof(chk, "source-group"), *cidr = jstr(chk, "cidr");
	bool egress = !strcmp(jstr(chk, "direction"), "egress"), want = !strcmp(jstr(chk, "expect"), "present");
	int proto = proto_num(jstr(chk, "protocol"));
	long long from = json_integer_value(json_object_get(chk, "from-port")),
		  to = json_object_get(chk, "to-port") ? json_integer_value(json_object_get(chk, "to-port")) : -1;
	json_t *ans = NULL;
	if (call(c, "DescribeSecurityGroups", json_pack("{s:[s]}", "GroupIds", sg), &ans, &e) < 0)
		return reason(res, false, "%s: %s", e.code, e.msg);
	_cleanup_json_ json_t *keep = ans;
	json_t *g = json_array_get(json_object_get(ans, "SecurityGroups"), 0), *perm;
	size_t i;
	char what[200];
	snprintf(what, sizeof(what), "%s %s %s%s%s from %s", sg, egress ? "egress" : "ingress", jstr(chk, "protocol"),
		 json_object_get(chk, "from-port") ? " " : "", json_object_get(chk, "from-port") ? "ports" : "",
		 *peer_sg ? peer_sg : cidr);
	if (json_object_get(chk, "from-port"))
		snprintf(what, sizeof(what), "%s %s %s %lld-%lld %s %s", sg, egress ? "egress" : "ingress",
			 jstr(chk, "protocol"), from, to, egress ? "to" : "from", *peer_sg ? peer_sg : cidr);
	json_array_foreach(json_object_get(g, egress ? "IpPermissionsEgress" : "IpPermissions"), i, perm) {
		int rp = proto_num(jstr(perm, "IpProtocol"));
		if (rp != -1 && rp != proto)
			continue;
		if (rp != -1 && (proto == 6 || proto == 17)) {
			long long rf = json_integer_value(json_object_get(perm, "FromPort")),
				  rt = json_integer_value(json_object_get(perm, "ToPort"));
			if (rf > from || rt < to)
				continue;
		}
		json_t *x;
		size_t k;
		bool peer = false;
		if (*peer_sg) {
			json_array_foreach(json_object_get(perm, "UserIdGroupPairs"), k, x) if (!strcmp(jstr(x, "GroupId"), peer_sg))
				peer = true;
		} else {
			json_array_foreach(json_object_get(perm, "IpRanges"), k, x) if (cidr_holds(jstr(x, "CidrIp"), cidr))
				peer = true;
		}
		if (peer)
			return reason(res, want, "a rule allows %s%s", what, want ? "" : ", which must not be allowed");
	}
	reason(res, !want, "no rule allows %s%s", what, want ? "" : " (as required)");
}

static int cmp_rule(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "RuleNumber")),
		   y = json_integer_value(json_object_get(*(json_t *const *)b, "RuleNumber"));
	return x < y ? -1 : x > y;
}

static void run_nacl(struct ctx *c, json_t *chk, struct result *res)
{
	struct err e = {0};
	const char *acl = idof(chk, "network-acl"), *subnet = idof(chk, "subnet"), *cidr = jstr(chk, "cidr"),
		   *action = jstr(chk, "action");
	bool egress = !strcmp(jstr(chk, "direction"), "egress"), want = !strcmp(jstr(chk, "expect"), "present");
	int proto = proto_num(jstr(chk, "protocol"));
	long long from = json_integer_value(json_object_get(chk, "from-port")),
		  to = json_object_get(chk, "to-port") ? json_integer_value(json_object_get(chk, "to-port")) : -1,
		  number = json_object_get(chk, "rule-number") ? json_integer_value(json_object_get(chk, "rule-number")) : 0;
	json_t *ans = NULL;
	json_t *q = *acl ? json_pack("{s:[s]}", "NetworkAclIds", acl)
			 : json_pack("{s:[{s:s, s:[s]}]}", "Filters", "Name", "association.subnet-id", "Values", subnet);
	if (call(c, "DescribeNetworkAcls", q, &ans, &e) < 0)
		return reason(res, false, "%s: %s", e.code, e.msg);
	_cleanup_json_ json_t *keep = ans;
	json_t *a = json_array_get(json_object_get(ans, "NetworkAcls"), 0), *en;
	if (!a)
		return reason(res, false, "no network ACL for '%s'", *acl ? acl : subnet);
	const char *aid = jstr(a, "NetworkAclId");
	char what[200];
	snprintf(what, sizeof(what), "%s %s %s %s", egress ? "egress" : "ingress", action, jstr(chk, "protocol"),
		 egress ? "to" : "from");
	if (json_object_get(chk, "from-port"))
		snprintf(what, sizeof(what), "%s %s %s %lld-%lld %s %s", egress ? "egress" : "ingress", action,
			 jstr(chk, "protocol"), from, to, egress ? "to" : "from", cidr);
	else
		snprintf(what, sizeof(what), "%s %s %s %s %s", egress ? "egress" : "ingress", action, jstr(chk, "protocol"),
			 egress ? "to" : "from", cidr);
	/* First match in rule-number order, as the ACL is evaluated. */
	json_t *sorted[64];
	size_t n = 0, i;
	json_array_foreach(json_object_get(a, "Entries"), i, en) if (n < 64 && json_is_true(json_object_get(en, "Egress")) == egress)
		sorted[n++] = en;
	qsort(sorted, n, sizeof(*sorted), cmp_rule);
	for (i = 0; i < n; i++) {
		en = sorted[i];
		json_int_t rn = json_integer_value(json_object_get(en, "RuleNumber"));
		int rp = proto_num(jstr(en, "Protocol"));
		if (number && rn != number)
			continue;
		if ((rp != -1 && rp != proto) || !cidr_meets(jstr(en, "CidrBlock"), cidr))
			continue;
		json_t *pr = json_object_get(en, "PortRange");
		long long rf = pr ? json_integer_value(json_object_get(pr, "From")) : 0,
			  rt = pr ? json_integer_value(json_object_get(pr, "To")) : 65535;
		bool ports = rp == -1 || !(proto == 6 || proto == 17) || (rf <= from && rt >= to);
		bool meets = rp == -1 || !(proto == 6 || proto == 17) || (rf <= to && rt >= from);
		if (!meets)
			continue;
		bool covers = ports && cidr_holds(jstr(en, "CidrBlock"), cidr);
		const char *ra = jstr(en, "RuleAction");
		char rule[16];
		snprintf(rule, sizeof(rule), rn == 32767 ? "*" : "%lld", (long long)rn);
		if (!strcmp(ra, action) && covers)
			return reason(res, want, "%s: rule %s %s it%s", aid, rule, ra, want ? "" : ", which must not be so");
		if (strcmp(ra, action))
			return reason(res, !want, "%s: rule %s (%s %s %s %lld-%lld) matches first and %ss it%s", aid, rule, ra,
				      jstr(en, "Protocol"), jstr(en, "CidrBlock"), rf, rt, ra, want ? "" : " (as required)");
	}
	reason(res, !want, "%s: no entry %ss %s%s", aid, action, what, want ? "" : " (as required)");
}

static void run_service(struct ctx *c, json_t *chk, struct result *res)
{
	struct err e = {0};
	struct end me;
	bool want = !strcmp(jstr(chk, "expect"), "answers");
	if (end_of(c, idof(chk, "instance"), &me, &e) < 0)
		return reason(res, false, "%s", e.msg);
	/* From the instance to its own address: the service answers on its interface, as a
	 * client would reach it, whatever the groups and ACLs between. */
	json_t *ans = NULL;
	if (call(c, "CheckReach",
		 json_pack("{s:s+, s:s, s:s, s:O, s:i}", "Source", "instance:", me.instance, "Type", jstr(chk, "protocol"),
			   "Target", me.private_ip, "Port", json_object_get(chk, "port"), "TimeoutMs", 2000),
		 &ans, &e) < 0)
		return reason(res, false, "%s: %s", e.code, e.msg);
	bool got = json_is_true(json_object_get(ans, "Connected"));
	reason(res, got == want, "%s port %lld on %s: %s%s", jstr(chk, "protocol"),
	       (long long)json_integer_value(json_object_get(chk, "port")), me.private_ip, jstr(ans, "Detail"),
	       got == want ? "" : want ? ", but a service must answer" : ", but nothing may answer there");
	json_decref(ans);
}

static void run_file(struct ctx *c, json_t *chk, struct result *res)
{
	struct err e = {0};
	struct end me;
	int st;
	_cleanup_free_ char *out = NULL;
	const char *path = jstr(chk, "path"), *text = jstr(chk, "contains");
	bool want = !strcmp(jstr(chk, "expect"), "present");
	if (end_of(c, idof(chk, "instance"), &me, &e) < 0)
		return reason(res, false, "%s", e.msg);
	if (run_in(c, me.instance, json_pack("[s, s, s]", "cat", "--", path), &st, &out, &e) < 0)
		return reason(res, false, "%s: %s", e.code, e.msg);
	bool has = st == 0 && (!*text || strstr(out, text));
	if (st)
		return reason(res, !want, "%s has no readable file %s%s", me.instance, path, want ? "" : " (as required)");
	if (*text)
		return reason(res, has == want, "%s:%s %s '%s'%s", me.instance, path, has ? "contains" : "does not contain",
			      text, has == want ? "" : want ? "" : ", which it must not");
	reason(res, want, "%s:%s exists%s", me.instance, path, want ? "" : ", which it must not");
}

static void run_peering(struct ctx *c, json_t *chk, struct result *res)
{
	struct err e = {0};
	const char *a = idof(chk, "vpc"), *b = idof(chk, "peer-vpc");
	bool want = !strcmp(jstr(chk, "expect"), "active");
	json_t *ans = NULL, *p;
	size_t i;
	if (call(c, "DescribeVpcPeeringConnections", NULL, &ans, &e) < 0)
		return reason(res, false, "%s: %s", e.code, e.msg);
	_cleanup_json_ json_t *keep = ans;
	json_array_foreach(json_object_get(ans, "VpcPeeringConnections"), i, p) {
		const char *r = jstr(json_object_get(p, "RequesterVpcInfo"), "VpcId"),
			   *x = jstr(json_object_get(p, "AccepterVpcInfo"), "VpcId");
		if (((!strcmp(r, a) && !strcmp(x, b)) || (!strcmp(r, b) && !strcmp(x, a))) &&
		    !strcmp(jstr(json_object_get(p, "Status"), "Code"), "active"))
			return reason(res, want, "%s peers %s with %s%s", jstr(p, "VpcPeeringConnectionId"), a, b,
				      want ? "" : ", which must not be");
	}
	reason(res, !want, "no active peering between %s and %s%s", a, b, want ? "" : " (as required)");
}

struct line {
	int line;
	char name[300];
	struct result res;
};

struct report {
	struct line *l;
	size_t n, cap;
};

static void add(struct report *rep, json_t *chk, const char *prefix, struct result *res)
{
	if (rep->n == rep->cap) {
		size_t nc = rep->cap ? rep->cap * 2 : 16;
		struct line *nl = realloc(rep->l, nc * sizeof(*nl));
		if (!nl)
			return;
		rep->l = nl, rep->cap = nc;
	}
	struct line *l = &rep->l[rep->n++];
	l->line = (int)json_integer_value(json_object_get(chk, "Line"));
	const char *k = jstr(chk, "Kind"), *nm = jstr(chk, "Name");
	char def[300];
	if (!strcmp(k, "reach"))
		snprintf(def, sizeof(def), "%s %s -> %s %s%s%s", jstr(chk, "expect"), jstr(chk, "from"), jstr(chk, "to"),
			 jstr(chk, "protocol"), json_object_get(chk, "port") ? "/" : "", "");
	else
		snprintf(def, sizeof(def), "%s", k);
	if (!strcmp(k, "reach") && json_object_get(chk, "port")) {
		size_t len = strlen(def);
		snprintf(def + len, sizeof(def) - len, "%lld", (long long)json_integer_value(json_object_get(chk, "port")));
	}
	snprintf(l->name, sizeof(l->name), "%s%s", prefix, *nm ? nm : def);
	l->res = *res;
}

static void run_experiment(struct ctx *c, json_t *chk, struct report *rep)
{
	struct err e = {0};
	struct result res = {0};
	const char *tid = idof(chk, "template");
	char token[40];
	uint64_t rnd = 0;
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint64_t)time(NULL);
	snprintf(token, sizeof(token), "check-%016llx", (unsigned long long)rnd);
	json_t *ans = NULL;
	if (call(c, "StartExperiment", json_pack("{s:s, s:s}", "experimentTemplateId", tid, "clientToken", token), &ans, &e) < 0) {
		reason(&res, false, "the experiment did not start: %s: %s", e.code, e.msg);
		return add(rep, chk, "", &res);
	}
	char xid[64];
	snprintf(xid, sizeof(xid), "%s", jstr(json_object_get(ans, "experiment"), "id"));
	json_decref(ans);
	/* Running, then the time the faults take to bite, then the packets. */
	char status[32] = "";
	for (int i = 0; i < 300; i++) {
		ans = NULL;
		if (call(c, "GetExperiment", json_pack("{s:s}", "id", xid), &ans, &e) < 0)
			break;
		snprintf(status, sizeof(status), "%s", jstr(json_object_get(json_object_get(ans, "experiment"), "state"), "status"));
		json_decref(ans);
		if (strcmp(status, "pending") && strcmp(status, "initiating"))
			break;
		usleep(100000);
	}
	bool running = !strcmp(status, "running");
	if (running)
		sleep((unsigned)json_integer_value(json_object_get(chk, "wait")));
	json_t *sub;
	size_t i;
	char prefix[300];
	snprintf(prefix, sizeof(prefix), "%s: ", *jstr(chk, "Name") ? jstr(chk, "Name") : xid);
	json_array_foreach(json_object_get(chk, "during"), i, sub) {
		struct result r = {0};
		if (running)
			run_reach(c, sub, &r);
		else
			reason(&r, false, "the experiment %s is %s, not running", xid, *status ? status : "unknown");
		add(rep, sub, prefix, &r);
	}
	/* The lab is given back: the experiment stopped, its faults undone, before the next check. */
	ans = NULL;
	if (call(c, "StopExperiment", json_pack("{s:s}", "id", xid), &ans, &e) < 0)
		err_clear(&e);
	json_decref(ans);
	for (int k = 0; k < 600; k++) {
		ans = NULL;
		if (call(c, "GetExperiment", json_pack("{s:s}", "id", xid), &ans, &e) < 0)
			break;
		snprintf(status, sizeof(status), "%s", jstr(json_object_get(json_object_get(ans, "experiment"), "state"), "status"));
		json_decref(ans);
		if (!strcmp(status, "stopped") || !strcmp(status, "completed") || !strcmp(status, "failed"))
			break;
		usleep(100000);
	}
	reason(&res, running, "experiment %s from %s %s, and is now %s", xid, tid, running ? "ran" : "did not run", status);
	add(rep, chk, "", &res);
}

static void print_report(struct report *rep, const char *format, const char *file)
{
	size_t failed = 0;
	for (size_t i = 0; i < rep->n; i++)
		failed += !rep->l[i].res.pass;
	if (!strcmp(format, "json")) {
		_cleanup_json_ json_t *list = json_array();
		for (size_t i = 0; i < rep->n; i++)
			json_array_append_new(list, json_pack("{s:i, s:s, s:s, s:i, s:b, s:s}", "Number", (int)i + 1, "Name",
							      rep->l[i].name, "File", file, "Line", rep->l[i].line,
							      "Passed", rep->l[i].res.pass, "Reason", rep->l[i].res.reason));
		_cleanup_json_ json_t *out = json_pack("{s:b, s:I, s:I, s:O}", "Passed", failed == 0, "Total", (json_int_t)rep->n,
						       "Failed", (json_int_t)failed, "Checks", list);
		char *s = json_dumps(out, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
		printf("%s\n", s);
		free(s);
		return;
	}
	if (!strcmp(format, "tap")) {
		printf("1..%zu\n", rep->n);
		for (size_t i = 0; i < rep->n; i++)
			printf("%sok %zu - %s (%s:%d)\n# %s\n", rep->l[i].res.pass ? "" : "not ", i + 1, rep->l[i].name, file,
			       rep->l[i].line, rep->l[i].res.reason);
		return;
	}
	int w = 5;
	for (size_t i = 0; i < rep->n; i++)
		if ((int)strlen(rep->l[i].name) > w)
			w = (int)strlen(rep->l[i].name) > 60 ? 60 : (int)strlen(rep->l[i].name);
	printf("%-3s %-6s %-5s %-*s %s\n", "#", "RESULT", "LINE", w, "CHECK", "REASON");
	for (size_t i = 0; i < rep->n; i++)
		printf("%-3zu %-6s %-5d %-*.*s %s\n", i + 1, rep->l[i].res.pass ? "pass" : "FAIL", rep->l[i].line, w, w,
		       rep->l[i].name, rep->l[i].res.reason);
	printf("%zu of %zu checks passed\n", rep->n - failed, rep->n);
}

int cmd_check(int argc, char **argv)
{
	static const struct verb v = {"check", "check-file! stack-name format"};
	struct cli_global g = {0};
	struct err e = {0};
	_cleanup_json_ json_t *params = NULL, *checks = NULL;
	if (cli_parse(&v, argc - 1, argv + 1, &g, &params, &e) < 0 && !g.help)
		return cli_error("Check", &e);
	if (g.help) {
		printf("usage: ec2d check --check-file F [--stack-name S] [--format table|tap|json]\n"
		       "Runs a lab's check file (docs/checks.md) against the running lab: one line per check,\n"
		       "pass or fail with its reason. Names are the stack's logical IDs (--stack-name), IDs or\n"
		       "Name tags. Exit: 0 every check passed, 1 a check failed, 2 the check file is malformed\n"
		       "or names an unknown object (nothing is run), 252 usage, 254 an API error.\n");
		return 0;
	}
	const char *file = jstr(params, "CheckFile"), *stack = jstr(params, "StackName"),
		   *format = *jstr(params, "Format") ? jstr(params, "Format") : "table";
	if (strcmp(format, "table") && strcmp(format, "tap") && strcmp(format, "json")) {
		fprintf(stderr, "ec2d check: --format '%s' must be table, tap or json\n", format);
		return EXIT_USAGE;
	}
	FILE *f = fopen(file, "re");
	if (!f) {
		fprintf(stderr, "ec2d check: cannot read the check file '%s': %s\n", file, strerror(errno));
		return CHECK_EXIT_BAD_FILE;
	}
	_cleanup_free_ char *buf = malloc(1 << 20);
	size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
	bool big = buf && n == (1 << 20) - 1 && fgetc(f) != EOF;
	fclose(f);
	if (!buf || big) {
		fprintf(stderr, "ec2d check: %s: the check file is larger than 1 MiB\n", file);
		return CHECK_EXIT_BAD_FILE;
	}
	if (check_parse(buf, n, &checks, &e) < 0) {
		fprintf(stderr, "ec2d check: %s:%s\n", file, e.msg + 5); /* "file:12: ..." from "line 12: ..." */
		return CHECK_EXIT_BAD_FILE;
	}
	struct ctx c = {.region = g.region ?: getenv("AWS_DEFAULT_REGION") ?: getenv("AWS_REGION") ?: "us-east-1",
			.stack = *stack ? stack : NULL};
	cli_sock_path(&g, "ec2d.sock", c.sock, sizeof(c.sock));
	cli_sock_path(&g, "vpcd.sock", c.vpcd_sock, sizeof(c.vpcd_sock));
	/* The internet test host's address, from vpcd's describe-lab. */
	json_t *lab = NULL, *reg;
	size_t i;
	_cleanup_json_ json_t *lreq = json_pack("{s:s, s:s, s:{}}", "Action", "DescribeLab", "Region", c.region, "Params");
	if (rpc_call_stream(c.vpcd_sock, lreq, NULL, NULL, &lab, &e) < 0)
		return cli_error("Check", &e);
	json_array_foreach(json_object_get(lab, "Regions"), i, reg) if (!strcmp(jstr(reg, "RegionName"), c.region))
		snprintf(c.internet_ip, sizeof(c.internet_ip), "%s", jstr(json_object_get(reg, "InternetHost"), "PublicIp"));
	json_decref(lab);
	_cleanup_json_ json_t *stack_ids = NULL;
	if (c.stack) {
		json_t *res = NULL, *sr;
		if (call(&c, "DescribeStackResources", json_pack("{s:s}", "StackName", c.stack), &res, &e) < 0)
			return cli_error("DescribeStackResources", &e);
		stack_ids = json_object();
		json_array_foreach(json_object_get(res, "StackResources"), i, sr)
			if (*jstr(sr, "PhysicalResourceId"))
				json_object_set_new(stack_ids, jstr(sr, "LogicalResourceId"), json_string(jstr(sr, "PhysicalResourceId")));
		json_decref(res);
		c.stack_ids = stack_ids;
	}
	if (resolve_all(&c, checks, &e) < 0) {
		if (strcmp(e.code, "InvalidCheckFile"))
			return cli_error("Check", &e);
		fprintf(stderr, "ec2d check: %s:%s\n", file, e.msg + 5);
		return CHECK_EXIT_BAD_FILE;
	}
	struct report rep = {0};
	json_t *chk;
	json_array_foreach(checks, i, chk) {
		struct result res = {0};
		const char *k = jstr(chk, "Kind");
		if (!strcmp(k, "experiment")) {
			run_experiment(&c, chk, &rep);
			continue;
		}
		if (!strcmp(k, "reach"))
			run_reach(&c, chk, &res);
		else if (!strcmp(k, "route"))
			run_route(&c, chk, &res);
		else if (!strcmp(k, "security-group-rule"))
			run_sg_rule(&c, chk, &res);
		else if (!strcmp(k, "nacl-entry"))
			run_nacl(&c, chk, &res);
		else if (!strcmp(k, "service"))
			run_service(&c, chk, &res);
		else if (!strcmp(k, "file"))
			run_file(&c, chk, &res);
		else if (!strcmp(k, "peering"))
			run_peering(&c, chk, &res);
		add(&rep, chk, "", &res);
	}
	print_report(&rep, format, file);
	bool all = rep.n > 0;
	for (size_t k = 0; k < rep.n; k++)
		all = all && rep.l[k].res.pass;
	free(rep.l);
	return all ? CHECK_EXIT_PASS : CHECK_EXIT_FAIL;
}
