/* AmazonProvidedDNS and DHCP: one dnsmasq per VPC namespace (docs/architecture.md, "DHCP and
 * DNS"). It hands each ENI its address by MAC (static leases only: an unknown MAC gets nothing),
 * with the hostname ip-a-b-c-d, the router at subnet+1 and the resolver at subnet+2, and it
 * answers ip-a-b-c-d.<domain> for every ENI of the VPC (and, with EnableDnsHostnames, their
 * public DNS names), and ec2.<region>.amazonaws.com with the address of the EC2 API inside the
 * VPC; with EnableDnsSupport off it answers nothing. vpcd writes its files and starts it, or
 * restarts it when an ENI goes or changes or a subnet changes; a new ENI's files dnsmasq reads
 * by itself. */
#include <dirent.h>
#include <errno.h>
#include <sys/syscall.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "caps.h"
#include "cleanup.h"
#include "front.h"
#include "log.h"
#include "vpcd.h"

#define DNSMASQ "/usr/sbin/dnsmasq"
/* ec2d's EC2 API inside the VPC (VPC_API_IP in ec2d/ec2d.h; sync.c puts it on the namespace's
 * lo). */
#define EC2_API_IP "169.254.169.249"

static void dns_dir(const char *vpc_id, char buf[static 512])
{
	snprintf(buf, 512, "%s/dns/%s", V->run_dir, vpc_id);
}

const char *dns_domain(const char *region, char buf[static 64])
{
	if (strcmp(region, "us-east-1") == 0)
		snprintf(buf, 64, "ec2.internal");
	else
		snprintf(buf, 64, "%s.compute.internal", region);
	return buf;
}

/* Writes path if its content differs; returns 1 if written, 0 if unchanged, <0 on error. */
static int write_if_changed(const char *path, const char *text)
{
	size_t n = strlen(text);
	FILE *f = fopen(path, "re");
	if (f) {
		char *old = malloc(n + 2);
		size_t got = old ? fread(old, 1, n + 1, f) : 0;
		fclose(f);
		bool same = old && got == n && memcmp(old, text, n) == 0;
		free(old);
		if (same)
			return 0;
	}
	char tmp[600];
	/* Hidden: dnsmasq reads every file that appears in its host directories, except those
	 * whose names start with a dot. */
	const char *base = strrchr(path, '/');
	snprintf(tmp, sizeof(tmp), "%.*s.%s.tmp", base ? (int)(base - path + 1) : 0, path, base ? base + 1 : path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	bool ok = fwrite(text, 1, n, f) == n;
	ok = (fclose(f) == 0) && ok;
	if (!ok || rename(tmp, path) < 0) {
		unlink(tmp);
		return -EIO;
	}
	return 1;
}

/* The running dnsmasq of this namespace, or 0. */
static pid_t running_pid(const char *dir, int ns_fd)
{
	char path[600], buf[64], link[64];
	struct stat st;
	snprintf(path, sizeof(path), "%s/pid", dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	long pid = 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid <= 1 || kill((pid_t)pid, 0) < 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	f = fopen(path, "re");
	if (!f || !fgets(buf, sizeof(buf), f) || strncmp(buf, "dnsmasq", 7) != 0) {
		if (f)
			fclose(f);
		return 0;
	}
	fclose(f);
	/* A recycled pid in another namespace is not ours. */
	snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
	ssize_t l = readlink(path, link, sizeof(link) - 1);
	if (l < 0 || fstat(ns_fd, &st) < 0)
		return 0;
	link[l] = 0;
	snprintf(buf, sizeof(buf), "net:[%llu]", (unsigned long long)st.st_ino);
	return strcmp(buf, link) == 0 ? (pid_t)pid : 0;
}

/* Gone, or a zombie: dnsmasq detached itself, so its exit is reaped by pid 1, which may take
 * its time (a second and more here). */
static bool exited(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return true;
	bool z = fgets(buf, sizeof(buf), f) && strrchr(buf, ')') && strrchr(buf, ')')[2] == 'Z';
	fclose(f);
	return z;
}

static void stop_pid(pid_t pid)
{
	if (pid <= 1 || kill(pid, SIGTERM) < 0)
		return;
	for (int i = 0; i < 200 && !exited(pid); i++)
		nanosleep(&(struct timespec){0, 2000000}, NULL);
	if (!exited(pid))
		kill(pid, SIGKILL);
}

/* --- a dnsmasq that dies is started again ------------------------------------------------ */

/* Each VPC's running dnsmasq, by a pidfd that polls readable when it exits: vpcd's loop
 * (server.c) polls them and calls dns_died(), which starts it again through a sync of the
 * VPC. A dnsmasq vpcd stops itself is unwatched first. */
#define WATCH_MAX 4096
static struct watch {
	char vpc[32];
	int fd;
} watches[WATCH_MAX];
static size_t nwatches;

static void unwatch(const char *vpc_id)
{
	for (size_t i = 0; i < nwatches; i++)
		if (!strcmp(watches[i].vpc, vpc_id)) {
			close(watches[i].fd);
			watches[i] = watches[--nwatches];
			return;
		}
}

static void watch(const char *vpc_id, pid_t pid)
{
	unwatch(vpc_id);
	int fd = pid > 1 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	if (fd < 0 || nwatches == WATCH_MAX) {
		if (fd >= 0)
			close(fd);
		log_error("dnsmasq of %s (pid %d) is not watched: %m", vpc_id, (int)pid);
		return;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	snprintf(watches[nwatches].vpc, sizeof(watches[0].vpc), "%.31s", vpc_id);
	watches[nwatches++].fd = fd;
}

size_t dns_watch_fds(struct pollfd *pfd, size_t max)
{
	size_t n = nwatches < max ? nwatches : max;
	for (size_t i = 0; i < n; i++)
		pfd[i] = (struct pollfd){.fd = watches[i].fd, .events = POLLIN};
	return n;
}

bool dns_running(const char *vpc_id, struct nsh *h)
{
	char dir[512];
	dns_dir(vpc_id, dir);
	return running_pid(dir, h->fd) != 0;
}

void dns_died(int fd)
{
	char vpc[32] = "";
	for (size_t i = 0; i < nwatches; i++)
		if (watches[i].fd == fd)
			memcpy(vpc, watches[i].vpc, sizeof(vpc));
	if (!*vpc)
		return;
	unwatch(vpc);
	if (!obj_get_type(vpc, "vpc"))
		return;
	log_error("the dnsmasq of %s died: starting it again", vpc);
	struct err e = {0};
	if (sync_vpc(vpc, false, NULL, &e) < 0)
		log_error("cannot start the dnsmasq of %s again: %s", vpc, e.msg);
}

static int start(const char *dir, int ns_fd, struct err *e)
{
	char conf[600];
	snprintf(conf, sizeof(conf), "--conf-file=%s/conf", dir);
	pid_t pid = fork();
	if (pid < 0)
		return err_setr(e, -errno, "InternalError", "cannot fork dnsmasq: %m");
	if (pid == 0) {
		/* Only async-signal-safe calls here: vpcd has threads. */
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0)
			dup2(null, 0), dup2(null, 1);
		if (setns(ns_fd, CLONE_NEWNET) < 0)
			_exit(126);
		static const cap_value_t front_caps[] = FRONT_START_CAPS;
		caps_child_bound_drop(front_caps, FRONT_START_NCAPS);
		execl(DNSMASQ, "dnsmasq", conf, (char *)NULL);
		_exit(127);
	}
	int status;
	/* dnsmasq daemonizes: its first process exits once the server is listening, with a
	 * non-zero status if it could not start. */
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_setr(e, -errno, "InternalError", "cannot wait for dnsmasq: %m");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return err_set(e, "InternalError", "dnsmasq failed to start (status %d); see %s/log",
			       WIFEXITED(status) ? WEXITSTATUS(status) : -1, dir);
	return 0;
}

/* One file per ENI, named by its ID, in each: its names, and its DHCP lease. dnsmasq reads
 * new and changed files by itself (inotify); it forgets a removed or changed file's records
 * only when it rereads them all. */
/* And one per subnet, named by its ID: its DHCP options, by the tag of its bridge. A subnet
 * gone leaves options for a tag nothing carries any more, which is harmless. */
#define OPTS_DIR "dhcp-opts.d"
static const char *const all_dirs[] = {"hosts.d", "dhcp-hosts.d", OPTS_DIR};
#define N_HOST_DIRS 2 /* the ENIs' directories: the first two */

/* Empties the files of `path` that `keep` (name -> anything) does not hold, or with `keep`
 * NULL removes those already empty; returns how many files it changed. Files are emptied
 * while dnsmasq runs and removed only before it starts, so that it never reads a file that
 * vanished. */
static int sweep_dir(const char *path, json_t *keep, struct err *e)
{
	DIR *d = opendir(path);
	struct dirent *de;
	struct stat st;
	char f[1024];
	int n = 0, x;
	if (!d)
		return errno == ENOENT ? 0 : err_setr(e, -errno, "InternalError", "cannot read '%s': %m", path);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
		if (!keep) {
			if (stat(f, &st) == 0 && st.st_size == 0)
				n += unlink(f) == 0;
		} else if (!json_object_get(keep, de->d_name)) {
			if ((x = write_if_changed(f, "")) < 0) {
				closedir(d);
				return err_setr(e, x, "InternalError", "cannot write '%s'", f);
			}
			n += x;
		}
	}
	closedir(d);
	return n;
}

/* An ENI's two files: its names (and, with EnableDnsHostnames, its public DNS name, which
 * inside the VPC is the private address) and its static lease. */
static void eni_host_files(json_t *vpc, json_t *eni, const char *domain, char hosts[static 256], char dhcp[static 160])
{
	char host[32];
	const char *ip = jstr(eni, "PrivateIpAddress");
	const char *pub = jstr(json_object_get(eni, "Association"), "PublicDnsName");
	snprintf(host, sizeof(host), "ip-%s", ip);
	for (char *p = host; *p; p++)
		if (*p == '.')
			*p = '-';
	int n = snprintf(hosts, 256, "%s %s.%s %s\n", ip, host, domain, host);
	if (*pub && vpc_dns_hostnames(vpc) && n > 0 && n < 256)
		snprintf(hosts + n, 256 - (size_t)n, "%s %s\n", ip, pub);
	snprintf(dhcp, 160, "%s,set:%s,%s,%s,1h\n", jstr(eni, "MacAddress"),
		 jstr(obj_get(jstr(eni, "SubnetId")), "_bridge"), ip, host);
}

/* Writes (or, `eni` NULL, empties) one ENI's files. Sets changed[i] when the file of
 * all_dirs[i] replaced or emptied another (a new file sets nothing). */
static int eni_host_write(const char *dir, json_t *vpc, const char *id, json_t *eni, const char *domain,
			  bool changed[static 2], struct err *e)
{
	char hosts[256], dhcp[160], path[700];
	const char *text[2] = {hosts, dhcp};
	if (eni)
		eni_host_files(vpc, eni, domain, hosts, dhcp);
	for (size_t i = 0; i < N_HOST_DIRS; i++) {
		snprintf(path, sizeof(path), "%s/%s/%s", dir, all_dirs[i], id);
		bool existed = access(path, F_OK) == 0;
		if (!eni && !existed)
			continue;
		int x = write_if_changed(path, eni ? text[i] : "");
		if (x < 0)
			return err_setr(e, x, "InternalError", "cannot write '%s'", path);
		changed[i] |= x && existed;
	}
	return 0;
}

/* Removes the emptied files of every directory: only while no dnsmasq runs. */
static void sweep_emptied(const char *dir)
{
	char path[600];
	for (size_t i = 0; i < ARRAY_SIZE(all_dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, all_dirs[i]);
		sweep_dir(path, NULL, NULL);
	}
}

void dns_stop(const char *vpc_id, int ns_fd)
{
	char dir[512], path[600];
	dns_dir(vpc_id, dir);
	unwatch(vpc_id);
	if (ns_fd >= 0)
		stop_pid(running_pid(dir, ns_fd));
	const char *files[] = {"conf", "pid", "log"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	for (size_t i = 0; i < ARRAY_SIZE(all_dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, all_dirs[i]);
		_cleanup_json_ json_t *none = json_object();
		sweep_dir(path, none, NULL);
		sweep_dir(path, NULL, NULL);
		rmdir(path);
	}
	rmdir(dir);
}

/* The options of the VPC's DHCP options set (vpc.c), appended to a subnet's options file
 * `text`: its bridge `br`, AmazonProvidedDNS at `resolver` (subnet + 2). A VPC whose set is
 * the region's default one that the model has not made yet gets AWS's defaults (the region's
 * domain name and AmazonProvidedDNS); a VPC with "default" (no set) gets neither; a set gets
 * what it says, and an option it lacks is sent empty (dnsmasq would send its own address as
 * the name server, and `domain` as the domain name). */
static void dhcp_options_text(json_t *vpc, const char *br, const char *resolver, const char *domain,
			      json_t *text)
{
	const char *dopt_id = jstr(vpc, "DhcpOptionsId");
	json_t *dopt = obj_get_type(dopt_id, "dopt");
	_cleanup_free_ char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	if (!f)
		abort();
	fputs(json_string_value(text), f);
	static const struct {
		const char *key, *option;
	} map[] = {
		{"domain-name", "option:domain-name"},
		{"domain-name-servers", "option:dns-server"},
		{"ntp-servers", "option:ntp-server"},
		{"netbios-name-servers", "option:netbios-ns"},
		{"netbios-node-type", "option:netbios-nodetype"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		json_t *values = NULL, *c, *v;
		size_t j;
		bool amazon_default = !dopt && strcmp(dopt_id, "default") != 0;
		json_array_foreach(json_object_get(dopt, "DhcpConfigurations"), j, c) if (!strcmp(jstr(c, "Key"), map[i].key))
			values = json_object_get(c, "Values");
		/* Those dnsmasq sends by itself are sent empty if the set lacks them; the others are
		 * not sent. */
		if (i >= 2 && !json_array_size(values))
			continue;
		fprintf(f, "tag:%s,%s", br, map[i].option);
		if (amazon_default && i == 0)
			fprintf(f, ",%s", domain);
		else if (amazon_default && i == 1)
			fprintf(f, ",%s", resolver);
		json_array_foreach(values, j, v)
		{
			const char *x = jstr(v, "Value");
			/* domain-name: one value, its domains separated by spaces, sent as they are. */
			if (i == 0)
				fprintf(f, ",\"%s\"", x);
			else
				fprintf(f, ",%s", !strcmp(x, "AmazonProvidedDNS") ? resolver : x);
		}
		fputc('\n', f);
	}
	fclose(f);
	json_string_set(text, buf);
}

int dns_sync(struct nsh *h, const char *vpc_id, json_t *only, struct err *e)
{
	char dir[512], path[600], domain[64], a[IP_STRLEN], b[IP_STRLEN], mask[IP_STRLEN];
	json_t *vpc = obj_get(vpc_id), *o;
	const char *id;
	int nsub = 0, r;

	dns_domain(jstr(vpc, "_region"), domain);
	dns_dir(vpc_id, dir);
	_cleanup_free_ char *conf = NULL;
	_cleanup_json_ json_t *opts = json_object();
	size_t cn = 0;
	FILE *cf = open_memstream(&conf, &cn);
	if (!cf)
		abort();
	/* The configuration depends on the VPC alone: one static range over the VPC's CIDR serves
	 * every subnet bridge (interface=<prefix>b*), and each subnet's netmask, router (+1),
	 * resolver (+2) and broadcast come from the options file by the tag its hosts carry. */
	struct cidr vc;
	cidr_parse(jstr(vpc, "CidrBlock"), &vc);
	ip_format(vc.addr, a);
	ip_format(vc.len ? ~0u << (32 - vc.len) : 0, mask);
	fprintf(cf,
		"# written by vpcd for %s: AmazonProvidedDNS and DHCP\n"
		"user=root\ngroup=\npid-file=%s/pid\nlog-facility=%s/log\n"
		"no-resolv\nno-hosts\nno-poll\nbind-dynamic\nexcept-interface=lo\ninterface=%sb*\n"
		"domain=%s\nlocal=/%s/\nhostsdir=%s/hosts.d\ndhcp-hostsdir=%s/dhcp-hosts.d\n"
		"dhcp-optsdir=%s/" OPTS_DIR "\ndhcp-range=%s,static,%s,1h\n"
		"dhcp-authoritative\nleasefile-ro\nno-ping\n",
		vpc_id, dir, dir, V->prefix, domain, domain, dir, dir, dir, a, mask);
	/* The regional EC2 endpoint is the one inside the VPC, as with an interface VPC endpoint
	 * and private DNS: an instance reaches the API with no internet gateway. Its zone is
	 * local, so that an AAAA query gets "no data". */
	fprintf(cf, "host-record=ec2.%s.amazonaws.com," EC2_API_IP "\nlocal=/ec2.%s.amazonaws.com/\n",
		jstr(vpc, "_region"), jstr(vpc, "_region"));
	/* EnableDnsSupport off: DHCP only, nothing answers on port 53. */
	if (!vpc_dns_support(vpc))
		fprintf(cf, "port=0\n");
	/* The zone of the public DNS names (gateway.c names them) is answered here, so that a
	 * query for a type the hosts file lacks (AAAA) gets "no such data", not "refused". */
	if (vpc_dns_hostnames(vpc)) {
		if (!strcmp(jstr(vpc, "_region"), "us-east-1"))
			fprintf(cf, "local=/compute-1.amazonaws.com/\n");
		else
			fprintf(cf, "local=/%s.compute.amazonaws.com/\n", jstr(vpc, "_region"));
	}
	obj_foreach_vpc("subnet", vpc_id, id, o)
	{
		struct cidr c;
		char r1[IP_STRLEN], bc[IP_STRLEN];
		cidr_parse(jstr(o, "CidrBlock"), &c);
		uint32_t m = c.len ? ~0u << (32 - c.len) : 0;
		ip_format(m, mask);
		ip_format(c.addr + 1, r1);
		ip_format(c.addr + 2, b);
		ip_format(c.addr | ~m, bc);
		const char *br = jstr(o, "_bridge");
		/* The broadcast address has no name in dnsmasq: option 28. */
		json_t *text = json_sprintf("tag:%s,option:netmask,%s\ntag:%s,option:router,%s\ntag:%s,28,%s\n",
					    br, mask, br, r1, br, bc);
		dhcp_options_text(vpc, br, b, domain, text);
		json_object_set_new(opts, id, text);
		nsub++;
	}
	fclose(cf);

	if (nsub == 0) {
		dns_stop(vpc_id, h->fd);
		return 0;
	}
	snprintf(path, sizeof(path), "%s/dns", V->run_dir);
	if ((mkdir(path, 0755) < 0 && errno != EEXIST) || (mkdir(dir, 0755) < 0 && errno != EEXIST))
		return err_setr(e, -errno, "InternalError", "cannot make '%s': %m", dir);
	for (size_t i = 0; i < ARRAY_SIZE(all_dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, all_dirs[i]);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return err_setr(e, -errno, "InternalError", "cannot make '%s': %m", path);
	}
	int changed_conf, x;
	bool changed_opts = false, replaced[2] = {false, false};
	snprintf(path, sizeof(path), "%s/conf", dir);
	if ((changed_conf = write_if_changed(path, conf)) < 0)
		return err_setr(e, changed_conf, "InternalError", "cannot write '%s'", path);
	json_t *text;
	json_object_foreach(opts, id, text)
	{
		snprintf(path, sizeof(path), "%s/" OPTS_DIR "/%s", dir, id);
		bool existed = access(path, F_OK) == 0;
		if ((x = write_if_changed(path, json_string_value(text))) < 0)
			return err_setr(e, x, "InternalError", "cannot write '%s'", path);
		changed_opts |= x && existed;
	}
	snprintf(path, sizeof(path), "%s/" OPTS_DIR, dir);
	if ((x = sweep_dir(path, opts, e)) < 0)
		return x;

	pid_t pid = running_pid(dir, h->fd);
	/* The ENIs: those the request changed, or (a new configuration, no dnsmasq running, or a
	 * whole sync) all of them, and the files of ENIs gone emptied. */
	if (changed_conf || !pid)
		only = NULL;
	if (only) {
		json_t *old;
		json_object_foreach(only, id, old)
		{
			json_t *eni = obj_get_type(id, "eni");
			if (eni && strcmp(jstr(eni, "VpcId"), vpc_id) != 0)
				eni = NULL;
			if ((r = eni_host_write(dir, vpc, id, eni, domain, replaced, e)) < 0)
				return r;
		}
	} else {
		_cleanup_json_ json_t *keep = json_object();
		obj_foreach_vpc("eni", vpc_id, id, o)
		{
			json_object_set_new(keep, id, json_true());
			if ((r = eni_host_write(dir, vpc, id, o, domain, replaced, e)) < 0)
				return r;
		}
		for (size_t i = 0; i < N_HOST_DIRS; i++) {
			snprintf(path, sizeof(path), "%s/%s", dir, all_dirs[i]);
			if ((x = sweep_dir(path, keep, e)) < 0)
				return x;
			replaced[i] |= x > 0;
		}
	}
	/* A new ENI needs nothing: dnsmasq reads its files by itself. A changed or removed one
	 * means a restart: dnsmasq keeps the leases it gave in memory (even with no lease file),
	 * and would refuse a freed address to a new MAC as "leased to" the old one; it forgets
	 * what a file no longer says only when it rereads them all (and a SIGHUP, once dnsmasq
	 * has given a lease and read a file of these directories by itself, ends it: dnsmasq
	 * 2.90). A new subnet, like a new ENI, needs nothing; a subnet gone, nothing either. */
	if (pid && (changed_conf || changed_opts || replaced[0] || replaced[1])) {
		unwatch(vpc_id);
		stop_pid(pid);
		pid = 0;
	}
	if (!pid) {
		sweep_emptied(dir);
		if ((r = start(dir, h->fd, e)) < 0)
			return r;
		pid = running_pid(dir, h->fd);
	}
	/* Watched once it runs: after a start, or the first sync that finds it (vpcd restarted). */
	bool watched = false;
	for (size_t i = 0; i < nwatches; i++)
		watched |= !strcmp(watches[i].vpc, vpc_id);
	if (!watched)
		watch(vpc_id, pid);
	return 0;
}
