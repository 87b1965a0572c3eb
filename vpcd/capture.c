/* Packet capture: where (the daemon's describe-capture-point) and how (`vpcd capture`, in the
 * CLI process). What each capture point sees is written in docs/capture.md. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "capture.h"
#include "cleanup.h"
#include "cli.h"
#include "netns.h"
#include "rpc.h"
#include "vpcd.h"

/* ---------------------------------------------------------------- the daemon: where */

static const char *const targets[] = {"NetworkInterfaceId", "SubnetId", "InternetGatewayId",
				      "NatGatewayId", "VpcPeeringConnectionId"};

static int point(const char *ns, const char *ifname, const char *id, const char *vpc_id,
		 json_t **ret)
{
	*ret = json_pack("{s:s, s:s, s:s, s:s}", "Namespace", ns, "Interface", ifname, "ResourceId",
			 id, "VpcId", vpc_id);
	return *ret ? 0 : -ENOMEM;
}

static int point_eni(struct req *rq, const char *id, json_t **ret, struct err *e)
{
	json_t *eni = obj_find(rq, id, "eni", e);
	if (!eni)
		return -ENOENT;
	/* Only a plugged ENI, a NAT gateway's or an instance's has a port on the bridge. */
	if (!*jstr(eni, "_plugged") && !*jstr(eni, "_instance"))
		return err_set(e, "IncorrectState",
			       "The network interface '%s' has no link to capture on: plug it "
			       "(plug-network-interface) or attach it to an instance",
			       id);
	json_t *vpc = obj_get(jstr(eni, "VpcId"));
	return point(jstr(vpc, "_ns"), jstr(eni, "_port"), id, jstr(eni, "VpcId"), ret);
}

static int point_subnet(struct req *rq, const char *id, json_t **ret, struct err *e)
{
	json_t *s = obj_find(rq, id, "subnet", e);
	if (!s)
		return -ENOENT;
	json_t *vpc = obj_get(jstr(s, "VpcId"));
	return point(jstr(vpc, "_ns"), jstr(s, "_bridge"), id, jstr(s, "VpcId"), ret);
}

static int point_igw(struct req *rq, const char *id, json_t **ret, struct err *e)
{
	json_t *igw = obj_find(rq, id, "igw", e);
	if (!igw)
		return -ENOENT;
	const char *vpc_id = igw_vpc(igw);
	if (!*vpc_id)
		return err_set(
		    e, "Gateway.NotAttached",
		    "The internet gateway '%s' is not attached to a VPC: nothing to capture on",
		    id);
	char ns[64], link[16];
	name_vpc_ns(vpc_id, ns);
	snprintf(link, sizeof(link), "%sg%s", V->prefix, id_tail(id));
	return point(ns, link, id, vpc_id, ret);
}

static int point_nat(struct req *rq, const char *id, json_t **ret, struct err *e)
{
	json_t *nat = obj_find(rq, id, "nat", e);
	if (!nat)
		return -ENOENT;
	if (!strcmp(jstr(nat, "State"), "deleted"))
		return kind_notfound(kind_of_type("nat"), id, e);
	if (strcmp(jstr(nat, "State"), "available") != 0)
		return err_set(e, "IncorrectState", "The NAT gateway '%s' is '%s', not available",
			       id, jstr(nat, "State"));
	char ns[64];
	name_nat_ns(id, ns);
	return point(ns, "eth0", id, jstr(nat, "VpcId"), ret);
}

static int point_pcx(struct req *rq, const char *id, json_t **ret, struct err *e)
{
	json_t *pcx = obj_find(rq, id, "pcx", e);
	const char *vpc_id = NULL;
	if (!pcx)
		return -ENOENT;
	const char *req_vpc = jstr(json_object_get(pcx, "RequesterVpcInfo"), "VpcId");
	const char *acc_vpc = jstr(json_object_get(pcx, "AccepterVpcInfo"), "VpcId");
	if (param_str(rq, "VpcId", false, &vpc_id, e) < 0)
		return -EINVAL;
	if (vpc_id && strcmp(vpc_id, req_vpc) != 0 && strcmp(vpc_id, acc_vpc) != 0)
		return err_set(
		    e, "InvalidParameterValue",
		    "The VPC '%s' is neither side of the peering connection '%s' (%s, %s)", vpc_id,
		    id, req_vpc, acc_vpc);
	/* By default the side in the request's region, the requester's if both are. */
	if (!vpc_id)
		vpc_id = !strcmp(jstr(pcx, "_region"), rq->region) ? req_vpc : acc_vpc;
	char ns[64], link[16];
	if (!pcx_link(pcx, vpc_id, link, NULL, NULL))
		return err_set(e, "IncorrectState",
			       "The peering connection '%s' is '%s', not active", id,
			       jstr(json_object_get(pcx, "Status"), "Code"));
	name_vpc_ns(vpc_id, ns);
	return point(ns, link, id, vpc_id, ret);
}

int h_describe_capture_point(struct req *rq, json_t **ret, struct err *e)
{
	static int (*const fns[])(struct req *, const char *, json_t **, struct err *) = {
	    point_eni, point_subnet, point_igw, point_nat, point_pcx};
	size_t which = ARRAY_SIZE(targets), n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(targets); i++)
		if (json_object_get(rq->params, targets[i]))
			which = i, n++;
	if (n == 0)
		return err_set(
		    e, "MissingParameter",
		    "The request must contain one of the parameters NetworkInterfaceId, SubnetId, "
		    "InternetGatewayId, NatGatewayId or VpcPeeringConnectionId");
	if (n > 1)
		return err_set(
		    e, "InvalidParameterCombination",
		    "Only one of NetworkInterfaceId, SubnetId, InternetGatewayId, NatGatewayId and "
		    "VpcPeeringConnectionId may be given");
	const char *id;
	int r;
	if ((r = param_str(rq, targets[which], true, &id, e)) < 0)
		return r;
	return fns[which](rq, id, ret, e);
}

/* ---------------------------------------------------------------- the CLI: how */

struct capture {
	const char *output; /* "-": standard output */
	const char *filter;
	long long count; /* 0: no limit */
	double duration; /* 0: no limit */
	int snaplen;
	pcap_t *pcap;
	pcap_dumper_t *dumper;
	long long captured;
	bool write_failed;
	int write_errno;
};

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig)
{
	stop_signal = sig;
}

#define DEFAULT_SNAPLEN 262144

static void pcap_closep(pcap_t **p)
{
	if (*p)
		pcap_close(*p);
}

/* Checks the options, the filter included, before anything is asked or opened. */
static int capture_options(json_t *params, struct capture *c, struct err *e)
{
	json_t *v;
	c->output = jstr(params, "OutputFile");
	if (!*c->output)
		c->output = "-";
	c->filter = jstr(params, "Filter");
	c->snaplen = DEFAULT_SNAPLEN;
	if ((v = json_object_get(params, "Count"))) {
		c->count = json_integer_value(v);
		if (c->count < 1)
			return err_set(e, "InvalidParameterValue",
				       "--count '%lld': must be 1 or more", c->count);
	}
	if ((v = json_object_get(params, "Snaplen"))) {
		long long n = json_integer_value(v);
		if (n < 1 || n > DEFAULT_SNAPLEN)
			return err_set(e, "InvalidParameterValue",
				       "--snaplen '%lld': must be 1 to %d", n, DEFAULT_SNAPLEN);
		c->snaplen = (int)n;
	}
	if ((v = json_object_get(params, "Duration"))) {
		const char *s = json_string_value(v);
		char *end;
		errno = 0;
		c->duration = strtod(s, &end);
		if (!*s || *end || errno || !isfinite(c->duration) || c->duration <= 0 ||
		    c->duration > 1e9)
			return err_set(e, "InvalidParameterValue",
				       "--duration '%s': must be a number of seconds above 0", s);
	}
	if (!strcmp(c->output, "-") && isatty(STDOUT_FILENO))
		return err_set(e, "InvalidParameterValue",
			       "refusing to write pcap to a terminal: pipe it (| tcpdump -r -) or "
			       "use --output-file");
	/* Every interface here is Ethernet (veth, bridge): a dead handle compiles as the live one
	 * will, so a bad filter is refused before anything starts. */
	_cleanup_(pcap_closep) pcap_t *dead = pcap_open_dead(DLT_EN10MB, c->snaplen);
	struct bpf_program prog;
	if (!dead)
		return err_set(e, "InternalError", "pcap_open_dead failed");
	if (pcap_compile(dead, &prog, c->filter, 1, PCAP_NETMASK_UNKNOWN) < 0)
		return err_set(e, "InvalidParameterValue", "The filter '%s' is not valid: %s",
			       c->filter, pcap_geterr(dead));
	pcap_freecode(&prog);
	return 0;
}

static int denied(struct err *e, const char *what)
{
	return err_setr(e, -EPERM, "UnauthorizedOperation",
			"capture must run as root (it enters the lab's namespace "
			"and opens a packet socket: CAP_SYS_ADMIN and CAP_NET_RAW): %s",
			what);
}

/* Enters the namespace and opens the interface there, filter set: nothing is written yet. */
static int capture_open(struct capture *c, const char *ns, const char *ifname, struct err *e)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "", what[PCAP_ERRBUF_SIZE + 128];
	_cleanup_close_ int fd = netns_open(ns);
	if (fd < 0)
		return err_setr(e, fd, "InternalError", "cannot open the namespace '%s': %s", ns,
				strerror(-fd));
	/* The process stays there: the packet socket belongs to the namespace it is made in. */
	int saved = netns_enter(fd);
	if (saved < 0) {
		snprintf(what, sizeof(what), "setns into '%s': %s", ns, strerror(-saved));
		return saved == -EPERM ? denied(e, what)
				       : err_setr(e, saved, "InternalError", "%s", what);
	}
	close(saved);
	_cleanup_(pcap_closep) pcap_t *p = pcap_create(ifname, errbuf);
	if (!p)
		return err_set(e, "InternalError", "pcap_create '%s': %s", ifname, errbuf);
	pcap_set_snaplen(p, c->snaplen);
	/* Promiscuous, as tcpdump is: on a subnet's bridge that is what makes frames between two
	 * of its ports visible (the bridge passes a copy up). */
	pcap_set_promisc(p, 1);
	pcap_set_immediate_mode(p, 1);
	int r = pcap_activate(p);
	if (r == PCAP_ERROR_PERM_DENIED || r == PCAP_ERROR_PROMISC_PERM_DENIED) {
		snprintf(what, sizeof(what), "%s", pcap_geterr(p));
		return denied(e, what);
	}
	if (r == PCAP_ERROR_NO_SUCH_DEVICE)
		return err_set(e, "IncorrectState",
			       "The interface '%s' is not in the namespace '%s' (an instance that "
			       "is not running?)",
			       ifname, ns);
	if (r < 0)
		return err_set(e, "InternalError", "pcap_activate '%s' in '%s': %s", ifname, ns,
			       pcap_geterr(p));
	struct bpf_program prog;
	if (pcap_compile(p, &prog, c->filter, 1, PCAP_NETMASK_UNKNOWN) < 0)
		return err_set(e, "InvalidParameterValue", "The filter '%s' is not valid: %s",
			       c->filter, pcap_geterr(p));
	r = pcap_setfilter(p, &prog);
	pcap_freecode(&prog);
	if (r < 0)
		return err_set(e, "InternalError", "pcap_setfilter: %s", pcap_geterr(p));
	if (pcap_setnonblock(p, 1, errbuf) < 0)
		return err_set(e, "InternalError", "pcap_setnonblock: %s", errbuf);
	c->pcap = TAKE_PTR(p);
	return 0;
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct capture *c = (struct capture *)user;
	if (c->write_failed)
		return;
	pcap_dump((u_char *)c->dumper, h, bytes);
	/* Per packet, so that a reader at the other end of a pipe sees it live. */
	if (pcap_dump_flush(c->dumper) < 0 || ferror(pcap_dump_file(c->dumper))) {
		c->write_failed = true;
		c->write_errno = errno;
		pcap_breakloop(c->pcap);
		return;
	}
	c->captured++;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads until the count, the duration, a signal or a closed output. Returns 0 on a clean stop. */
static int capture_loop(struct capture *c, int out_fd, bool out_is_pipe)
{
	struct pollfd pfd[2] = {{.fd = pcap_get_selectable_fd(c->pcap), .events = POLLIN},
				{.fd = out_fd, .events = 0}};
	double end = c->duration > 0 ? now_s() + c->duration : 0;
	sigset_t waitmask;
	sigprocmask(SIG_BLOCK, NULL, &waitmask);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGTERM);
	while (!stop_signal && (!c->count || c->captured < c->count)) {
		long long left_n = c->count ? c->count - c->captured : -1;
		int n = pcap_dispatch(c->pcap, left_n > INT_MAX ? INT_MAX : (int)left_n, on_packet,
				      (u_char *)c);
		if (c->write_failed)
			break;
		if (n == PCAP_ERROR) {
			fprintf(stderr, "vpcd: capture: %s\n", pcap_geterr(c->pcap));
			return -EIO;
		}
		if (n > 0)
			continue;
		struct timespec ts = {1, 0}, *tsp = &ts;
		if (end) {
			double left = end - now_s();
			if (left <= 0)
				break;
			if (left < 1) {
				ts.tv_sec = 0;
				ts.tv_nsec = (long)(left * 1e9);
			}
		}
		/* A pipe whose reader is gone shows POLLERR on our end: stop even without traffic.
		 */
		int r = ppoll(pfd, out_is_pipe ? 2 : 1, tsp, &waitmask);
		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "vpcd: capture: poll: %m\n");
			return -errno;
		}
		if (r > 0 && out_is_pipe && (pfd[1].revents & (POLLERR | POLLHUP)))
			break;
	}
	if (c->write_failed && c->write_errno != EPIPE) {
		fprintf(stderr, "vpcd: capture: writing '%s': %s\n", c->output,
			strerror(c->write_errno));
		return -c->write_errno;
	}
	return 0;
}

int cmd_capture(int argc, char **argv)
{
	static const struct verb self = {
	    "capture", CAPTURE_FLAGS,
	    "lab: capture packets as pcap at an ENI, subnet, internet or NAT gateway, or peering "
	    "(docs/capture.md)"};
	struct cli_global g = {0};
	struct capture c = {0};
	struct err e = {0};
	_cleanup_json_ json_t *params = NULL, *req = NULL, *where = NULL;
	char sock[PATH_MAX];
	int r;

	if (cli_parse(&self, argc - 1, argv + 1, &g, &params, &e) < 0)
		return cli_error("Capture", &e);
	if (g.help) {
		cli_verb_help("vpcd", &self);
		printf(
		    "\n--filter EXPR: a pcap-filter(7) expression; --duration SECONDS (decimals "
		    "allowed);\n"
		    "--output-file PATH, or - for standard output (the default; not a terminal).\n"
		    "Stops at --count, --duration, SIGINT/SIGTERM or a closed pipe; needs root.\n");
		return 0;
	}
	if (capture_options(params, &c, &e) < 0)
		return cli_error("Capture", &e);
	if (!g.region)
		g.region = getenv("AWS_DEFAULT_REGION") ?: getenv("AWS_REGION") ?: "us-east-1";
	/* The daemon checks the target (exactly one, known, with a link). */
	json_t *ask = json_object();
	for (size_t i = 0; i < ARRAY_SIZE(targets); i++)
		if (json_object_get(params, targets[i]))
			json_object_set(ask, targets[i], json_object_get(params, targets[i]));
	if (json_object_get(params, "VpcId"))
		json_object_set(ask, "VpcId", json_object_get(params, "VpcId"));
	req = json_pack("{s:s, s:s, s:o}", "Action", "DescribeCapturePoint", "Region", g.region,
			"Params", ask);
	cli_sock_path(&g, "vpcd.sock", sock, sizeof(sock));
	if (rpc_call(sock, req, &where, &e) < 0)
		return cli_error("DescribeCapturePoint", &e);
	const char *ns = jstr(where, "Namespace"), *ifname = jstr(where, "Interface");

	/* SIGINT and SIGTERM end the capture; they are let through only while it waits. */
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, NULL);
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (capture_open(&c, ns, ifname, &e) < 0)
		return cli_error("Capture", &e);
	_cleanup_(pcap_closep) pcap_t *p = c.pcap;
	/* The output last: a refused capture leaves no file behind. */
	FILE *out = !strcmp(c.output, "-") ? stdout : fopen(c.output, "wbe");
	if (!out) {
		err_set(&e, "InvalidParameterValue", "cannot open --output-file '%s': %s", c.output,
			strerror(errno));
		return cli_error("Capture", &e);
	}
	struct stat st;
	bool out_is_pipe =
	    fstat(fileno(out), &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
	c.dumper = pcap_dump_fopen(p, out);
	if (!c.dumper) {
		fprintf(stderr, "vpcd: capture: %s\n", pcap_geterr(p));
		if (out != stdout)
			fclose(out);
		return 1;
	}
	/* The file header at once: a reader (tcpdump -r -, wireshark -k -i -) starts with it. */
	if (pcap_dump_flush(c.dumper) < 0) {
		c.write_failed = true;
		c.write_errno = errno;
	}
	fprintf(stderr,
		"vpcd: capturing on %s in %s (%s), link-type EN10MB, snapshot length %d bytes\n",
		ifname, ns, jstr(where, "ResourceId"), c.snaplen);
	r = c.write_failed && c.write_errno != EPIPE ? -c.write_errno : 0;
	if (!c.write_failed)
		r = capture_loop(&c, fileno(out), out_is_pipe);
	else if (r < 0)
		fprintf(stderr, "vpcd: capture: writing '%s': %s\n", c.output,
			strerror(c.write_errno));
	struct pcap_stat ps;
	bool have_stats = pcap_stats(p, &ps) == 0;
	/* pcap_dump_close closes the FILE, stdout included: nothing is printed on it after. */
	pcap_dump_close(c.dumper);
	fprintf(stderr, "%lld packet%s captured\n", c.captured, c.captured == 1 ? "" : "s");
	if (have_stats && ps.ps_drop)
		fprintf(stderr, "%u packet%s dropped by kernel\n", ps.ps_drop,
			ps.ps_drop == 1 ? "" : "s");
	return r < 0 ? 1 : 0;
}
