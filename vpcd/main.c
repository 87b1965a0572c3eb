/* vpcd: the network daemon of vpclab, and its own command-line client. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include "capture.h"
#include "caps.h"
#include "cleanup.h"
#include "cli.h"
#include "front.h"
#include "log.h"
#include "netns.h"
#include "server.h"
#include "vpcd.h"

struct vpcd *V;
#define PIDFILE_FMT "/run/vpclab-%s.pid"
static int cmd_serve(int argc, char **argv);
static int cmd_teardown(int argc, char **argv);
static int cmd_front(int argc, char **argv);

#define H(f) .impl = (const void *)(f)
static const struct verb verbs[] = {
	{"serve", NULL, "run the daemon in the foreground", cmd_serve, NULL, true},
	{"teardown", NULL, "remove every kernel object carrying a prefix", cmd_teardown, NULL, true},
	{"front", NULL, "(started by serve) the internet test hosts' unprivileged front", cmd_front, NULL, true},
	{"describe-lab", "", "the prefix, paths and regions in use", NULL, H(h_describe_lab), .global = true},
	{"audit-lab", "repair:b", "compare the kernel with the model: each drift, non-zero exit on any; --repair converges",
	 NULL, H(h_audit_lab), .global = true},
	/* Fault injection (vpclab's own, for ec2d's FIS engine; docs/architecture.md, "Faults"). */
	{"apply-fault", "fault-id! experiment-id! kind! subnet-id network-interface-id scope loss-percent rate-kbps peer-region delay-ms jitter-ms reorder-percent duplicate-percent corrupt-percent direction dry-run:b",
	 "inject a network fault: disrupt-connectivity, packet-loss, blackhole, rate-limit, partition, impair (delay, jitter, reorder, duplicate, corrupt)", NULL, H(h_apply_fault)},
	{"clear-faults", "experiment-id fault-ids:l dry-run:b", "remove faults (of an experiment, or by ID)", NULL,
	 H(h_clear_faults)},
	{"describe-faults", "experiment-id", "list the faults in force, with their kernel objects", NULL,
	 H(h_describe_faults)},
	{"explain", "source! destination port:i protocol destination-ip prove:b", "lab: why a flow is allowed or blocked, in plain words (Reachability Analyzer; --prove sends it)", NULL, H(h_explain), .present = insights_present},
	/* Packet capture (vpcd/capture.c, docs/capture.md): the daemon names the place, the CLI captures. */
	{"capture", CAPTURE_FLAGS, "lab: capture packets as pcap at an ENI, subnet, internet or NAT gateway, or peering",
	 cmd_capture, NULL, true},
	{"describe-capture-point", "network-interface-id subnet-id internet-gateway-id nat-gateway-id vpc-peering-connection-id vpc-id",
	 "lab: the namespace and interface a capture of an object reads", NULL, H(h_describe_capture_point), .global = true},
#define VPC_VERB(name, flags, summary, handler, global) {name, flags, summary, NULL, H(handler), global},
#include "vpc_verbs.def"
#undef VPC_VERB
};

int h_describe_lab(struct req *rq, json_t **ret, struct err *e)
{
	json_t *regions = json_array();
	const char *id;
	json_t *o;
	char sock[512];
	(void)rq, (void)e;
	obj_foreach("region", NULL, id, o)
	{
		char ns[64];
		const char *name = jstr(o, "RegionName");
		int vpcs = 0;
		const char *vid;
		json_t *v;
		obj_foreach("vpc", name, vid, v) vpcs++;
		name_region_ns(name, ns);
		struct cidr pool;
		char pool_s[CIDR_STRLEN] = "", host[IP_STRLEN] = "";
		if (region_pool(name, &pool) == 0) {
			cidr_format(&pool, pool_s);
			ip_format(region_internet_host(&pool), host);
		}
		json_array_append_new(regions, json_pack("{s:s, s:s, s:i, s:s, s:{s:s, s:[i, i]}}", "RegionName", name,
							 "Namespace", ns, "VpcCount", vpcs, "PublicIpPool", pool_s,
							 "InternetHost", "PublicIp", host, "TcpPorts", 80, 7));
	}
	snprintf(sock, sizeof(sock), "%s/vpcd.sock", V->run_dir);
	*ret = json_pack("{s:s, s:s, s:s, s:s, s:o}", "Prefix", V->prefix, "StateDir", V->state_dir,
			 "RunDir", V->run_dir, "Socket", sock, "Regions", regions);
	return 0;
}

static int prefix_valid(const char *p)
{
	size_t n = strlen(p);
	return n >= 1 && n <= LAB_PREFIX_MAX && strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789") == n;
}

#define usage_fail(...) (fprintf(stderr, "vpcd: " __VA_ARGS__), fputc('\n', stderr), EXIT_USAGE)

/* Startup repair of the model: an ENI plugged into a namespace that no longer exists is
 * unplugged (its veth pair died with the namespace). */
static int unplug_orphans(struct err *e)
{
	struct txn t = {0};
	const char *id;
	json_t *o;
	obj_foreach("eni", NULL, id, o)
	{
		const char *ns = jstr(o, "_plugged");
		if (*ns && !netns_exists(ns) && !*jstr(o, "_natgw")) {
			json_t *x = obj_edit(&t, id);
			json_object_del(x, "_plugged");
			json_object_set_new(x, "Status", json_string("available"));
			log_warn("%s was plugged into '%s', which is gone: now unplugged", id, ns);
		}
	}
	return txn_commit(&t, e);
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {{"state-dir", 1, 0, 's'}, {"run-dir", 1, 0, 'r'},
					     {"prefix", 1, 0, 'p'},    {"config", 1, 0, 'c'},
					     {"seed", 1, 0, 'S'},      {"help", 0, 0, 'h'},
					     {"no-group-commit", 0, 0, 'G'}, {0, 0, 0, 0}};
	/* NET_ADMIN: links, routes, rules, nftables. SYS_ADMIN: unshare, setns, the bind mounts
	 * of /run/netns. NET_BIND_SERVICE: the internet test host's ports 80 and 7. */
	/* NET_RAW: an impairment's duplicates are sent on a raw socket (impair.c). */
	static const cap_value_t needed[] = {CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_NET_BIND_SERVICE, CAP_NET_RAW};
	struct vpcd v = {.default_vpc = true};
	struct server srv = {.verbs = verbs, .nverbs = ARRAY_SIZE(verbs)};
	struct err e = {0};
	const char *seed = NULL;
	char path[600];
	int c, r;

	V = &v;
	/* Every nftables apply makes a libnftables context, whose cache allocates 128 KiB
	 * hash heads per table (about 2 MiB for a VPC's tables) and frees them again: above
	 * the default mmap threshold each is a fresh mapping, and first-touch page faults made
	 * 7-9 of the ~10 ms of a fault's apply here (bench/fault_latency). Kept in the heap,
	 * they are reused. */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	snprintf(v.prefix, sizeof(v.prefix), "vl");
	snprintf(v.state_dir, sizeof(v.state_dir), "/var/lib/vpclab/vpcd");
	snprintf(v.run_dir, sizeof(v.run_dir), "%s", getenv("VPCLAB_RUN_DIR") ?: "/run/vpclab");
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': snprintf(v.state_dir, sizeof(v.state_dir), "%s", optarg); break;
		case 'r': snprintf(v.run_dir, sizeof(v.run_dir), "%s", optarg); break;
		case 'p':
			if (!prefix_valid(optarg))
				return usage_fail("--prefix '%s': 1 to 4 characters of [a-z0-9]", optarg);
			snprintf(v.prefix, sizeof(v.prefix), "%s", optarg);
			break;
		case 'c': snprintf(v.config_path, sizeof(v.config_path), "%s", optarg); break;
		case 'S': seed = optarg; break;
		case 'G': srv.one_sync_each = true; break;
		case 'h':
			printf("vpcd serve [--state-dir DIR] [--run-dir DIR] [--prefix P] [--config FILE] [--seed N]\n"
			       "           [--no-group-commit]   (one fdatasync per request: the baseline of bench/group_commit)\n");
			return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_fail("unexpected argument '%s'", argv[optind]);
	if ((r = caps_require(needed, (int)ARRAY_SIZE(needed), &e)) < 0) {
		fprintf(stderr, "vpcd: %s\n", e.msg);
		return 1;
	}
	fd_limit_raise();
	v.ns_cache = json_object();
	v.nft_applied = json_object();
	if ((r = regions_load_config(v.config_path, &e)) < 0 ||
	    (r = store_open(v.state_dir, &v.store, &e)) < 0) {
		log_error("%s", e.msg);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/lock", v.state_dir);
	_cleanup_close_ int lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	/* A daemon killed a moment ago may still hold the lock while it exits: wait up to 5 s. */
	int locked = -1;
	for (int i = 0; lock >= 0 && i < 100 && (locked = flock(lock, LOCK_EX | LOCK_NB)) < 0; i++)
		usleep(50 * 1000);
	if (lock < 0 || locked < 0) {
		log_error("state directory '%s' is in use by another vpcd", v.state_dir);
		return 1;
	}
	/* Lab prefixes must not change under a state directory: kernel names derive from it. */
	const char *had = jstr(store_meta(v.store), "prefix");
	if (*had && strcmp(had, v.prefix) != 0) {
		log_error("state directory '%s' belongs to prefix '%s', not '%s'", v.state_dir, had,
			  v.prefix);
		return 1;
	}
	const char *ids = jstr(store_meta(v.store), "ids");
	if (*ids) {
		v.ids.state = strtoull(ids, NULL, 16);
	} else if (seed) {
		char *end;
		v.ids.state = strtoull(seed, &end, 0);
		if (!*seed || *end)
			return usage_fail("--seed '%s' is not a number", seed);
	} else if (getrandom(&v.ids.state, sizeof(v.ids.state), 0) != sizeof(v.ids.state)) {
		log_error("getrandom: %m");
		return 1;
	}
	if (!*had) {
		_cleanup_json_ json_t *meta = json_pack("{s:s}", "prefix", v.prefix);
		_cleanup_json_ json_t *none = json_object();
		char hex[32];
		snprintf(hex, sizeof(hex), "%016" PRIx64, v.ids.state);
		json_object_set_new(meta, "ids", json_string(hex));
		if (store_commit(v.store, none, meta, &e) < 0) {
			log_error("%s", e.msg);
			return 1;
		}
	}
	/* Socket first (chown needs privileges the daemon then drops), then the drop, then the
	 * reconciliation: threads it starts (the test hosts) inherit only the kept capabilities,
	 * since cap_set_proc changes the calling thread alone. Clients that connect meanwhile wait
	 * in the listen queue. */
	if (mkdir(v.run_dir, 0755) < 0 && errno != EEXIST) {
		log_error("cannot create run dir '%s': %m", v.run_dir);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/vpcd.sock", v.run_dir);
	if ((r = server_open(&srv, path, v.sock_group, &e)) < 0) {
		log_error("%s", e.msg);
		return 1;
	}
	/* SETUID, SETGID, SYS_CHROOT and SETPCAP are kept out of the effective set, for the
	 * front alone: what it needs to drop to its user, each time it is (re)started. */
	static const cap_value_t front_caps[] = FRONT_START_CAPS;
	if ((r = caps_keep(needed, (int)ARRAY_SIZE(needed), front_caps, (int)ARRAY_SIZE(front_caps), &e)) < 0 ||
	    (r = inet_front_start(v.run_dir, &e)) < 0) {
		log_error("%s", e.msg);
		return 1;
	}
	model_index_all();
	if ((r = unplug_orphans(&e)) < 0 || (r = reconcile(&e)) < 0) {
		log_error("reconcile: %s", e.msg);
		unlink(path);
		return 1;
	}
	/* The pid file lets `vpcd teardown --prefix P` find the daemon of a lab: its sockets in the
	 * lab's namespaces would keep them alive after their names are gone. */
	char pidfile[64];
	snprintf(pidfile, sizeof(pidfile), PIDFILE_FMT, v.prefix);
	FILE *pf = fopen(pidfile, "w");
	if (pf) {
		fprintf(pf, "%d\n", (int)getpid());
		fclose(pf);
	}
	log_info("vpcd serving on %s (prefix '%s', state %s, %zu objects)", path, v.prefix,
		 v.state_dir, json_object_size(store_objects(v.store)));
	if ((r = flowlog_start(&e)) < 0) {
		log_error("%s", e.msg);
		unlink(path);
		return 1;
	}
	r = server_run(&srv);
	flowlog_stop();
	inet_host_stop_all();
	unlink(pidfile);
	log_info("vpcd stopped");
	store_free(v.store);
	const char *k;
	json_t *x;
	json_object_foreach(v.ns_cache, k, x) nsh_free((struct nsh *)(uintptr_t)json_integer_value(x));
	json_decref(v.ns_cache);
	json_decref(v.nft_applied);
	model_index_free();
	return r < 0 ? 1 : 0;
}

/* Stops the daemon serving `prefix`, if one runs (SIGTERM, then up to 5 s). */
static void stop_daemon(const char *prefix)
{
	char pidfile[64], comm[64] = "", path[64];
	int pid = 0;
	snprintf(pidfile, sizeof(pidfile), PIDFILE_FMT, prefix);
	FILE *f = fopen(pidfile, "r");
	if (!f)
		return;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = pid > 1 ? fopen(path, "r") : NULL;
	if (f) {
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
	}
	/* Only a vpcd: a stale pid file may name some other process by now. */
	if (strncmp(comm, "vpcd", 4) == 0 && kill(pid, SIGTERM) == 0) {
		fprintf(stderr, "vpcd: teardown: stopping the daemon of prefix '%s' (pid %d)\n", prefix, pid);
		for (int i = 0; i < 100 && kill(pid, 0) == 0; i++)
			usleep(50 * 1000);
	}
	unlink(pidfile);
}

/* `vpcd front inet ...`: what serve starts for the test hosts' clients (internet_host.c). */
static int cmd_front(int argc, char **argv)
{
	/* _exit: as ec2d's fronts (LeakSanitizer cannot run under their seccomp filter). */
	if (argc >= 2 && !strcmp(argv[1], "inet"))
		_exit(inet_front_main(argc - 1, argv + 1));
	fprintf(stderr, "vpcd: front inet: started by vpcd serve, not by hand\n");
	return EXIT_USAGE;
}

static int cmd_teardown(int argc, char **argv)
{
	static const struct option opts[] = {{"prefix", 1, 0, 'p'}, {"state-dir", 1, 0, 's'},
					     {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
	struct vpcd v = {0};
	const char *prefix = NULL, *state = NULL;
	struct err e = {0};
	int c;
	V = &v;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': prefix = optarg; break;
		case 's': state = optarg; break;
		case 'h':
			printf("vpcd teardown --prefix P [--state-dir DIR]\n"
			       "Stops the daemon serving the prefix, if one runs, and removes every namespace\n"
			       "and host link carrying the prefix; with --state-dir, also the saved state, so\n"
			       "that the lab does not come back at the next start.\n");
			return 0;
		default: return EXIT_USAGE;
		}
	}
	if (!prefix)
		return usage_fail("teardown: %s", "the following arguments are required: --prefix");
	if (!prefix_valid(prefix))
		return usage_fail("--prefix '%s': 1 to 4 characters of [a-z0-9]", prefix);
	snprintf(v.prefix, sizeof(v.prefix), "%s", prefix);
	stop_daemon(prefix);
	if (teardown_prefix(prefix, &e) < 0) {
		fprintf(stderr, "vpcd: teardown: %s\n", e.msg);
		return 1;
	}
	if (state) {
		char p[600];
		static const char *const files[] = {"state.json", "state.json.tmp", "journal", "lock"};
		for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
			snprintf(p, sizeof(p), "%s/%s", state, files[i]);
			unlink(p);
		}
		logs_teardown(state);
		rmdir(state);
	}
	return 0;
}

int main(int argc, char **argv)
{
	return cli_main("vpcd", verbs, ARRAY_SIZE(verbs), "vpcd.sock", argc, argv);
}
