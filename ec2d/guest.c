/* Inside the guests: the console of containers (drained into the instance's console.log; a
 * VM's serial port writes that file itself) and exec. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sys/capability.h>
#include <libvirt/libvirt-lxc.h>
#include <libvirt/virterror.h>
#include "b64.h"
#include "cleanup.h"
#include "ec2d.h"
#include "log.h"
#include "rpc.h"

#define CONSOLE_MAX (64 * 1024) /* what get-console-output returns, as EC2 */

struct drain {
	virStreamPtr st;
	int fd;
	char id[32];
};

static void drain_free(void *opaque)
{
	struct drain *d = opaque;
	if (d->fd >= 0)
		close(d->fd);
	virStreamFree(d->st);
	free(d);
}

static void drain_cb(virStreamPtr st, int events, void *opaque)
{
	struct drain *d = opaque;
	char buf[4096];
	for (;;) {
		int n = virStreamRecv(st, buf, sizeof(buf));
		if (n > 0) {
			if (write(d->fd, buf, (size_t)n) < 0)
				break;
			continue;
		}
		if (n == -2)
			return; /* nothing more for now */
		break;
	}
	(void)events;
	/* End of the console (the domain stopped) or an error: stop draining. */
	virStreamEventRemoveCallback(st);
	virStreamAbort(st);
}

/* Called with the lock held. */
void console_attach(json_t *inst)
{
	const char *id = jstr(inst, "InstanceId");
	char name[64], path[600], dir[512];
	struct err ignored = {0};
	if (strcmp(jstr(inst, "_kind"), "lxc") != 0)
		return;
	console_detach(id);
	virConnectPtr c = domain_conn("lxc", &ignored);
	domain_name(id, name);
	virDomainPtr dom = c ? virDomainLookupByName(c, name) : NULL;
	if (!dom)
		return;
	struct drain *d = calloc(1, sizeof(*d));
	instance_dir(id, dir);
	snprintf(path, sizeof(path), "%s/console.log", dir);
	d->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	d->st = virStreamNew(c, VIR_STREAM_NONBLOCK);
	snprintf(d->id, sizeof(d->id), "%s", id);
	if (d->fd < 0 || !d->st || virDomainOpenConsole(dom, NULL, d->st, 0) < 0 ||
	    virStreamEventAddCallback(d->st, VIR_STREAM_EVENT_READABLE | VIR_STREAM_EVENT_HANGUP |
						     VIR_STREAM_EVENT_ERROR,
				      drain_cb, d, drain_free) < 0) {
		log_msg("warn", "%s: cannot drain the console: %s", id, virGetLastErrorMessage());
		drain_free(d);
	} else {
		virStreamRef(d->st); /* one reference for E->consoles */
		json_object_set_new(E->consoles, id, json_integer((json_int_t)(uintptr_t)d->st));
	}
	virDomainFree(dom);
}

void console_detach(const char *id)
{
	json_t *p = json_object_get(E->consoles, id);
	if (!p)
		return;
	virStreamPtr st = (virStreamPtr)(uintptr_t)json_integer_value(p);
	virStreamEventRemoveCallback(st);
	virStreamAbort(st);
	virStreamFree(st);
	json_object_del(E->consoles, id);
}

int console_read(json_t *inst, char **ret, size_t *ret_n)
{
	char dir[512], path[600];
	instance_dir(jstr(inst, "InstanceId"), dir);
	snprintf(path, sizeof(path), "%s/console.log", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	*ret = NULL, *ret_n = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -errno;
	}
	off_t from = st.st_size > CONSOLE_MAX ? st.st_size - CONSOLE_MAX : 0;
	char *buf = malloc((size_t)(st.st_size - from) + 1);
	ssize_t n = buf ? pread(fd, buf, (size_t)(st.st_size - from), from) : -1;
	close(fd);
	if (n < 0) {
		free(buf);
		return -EIO;
	}
	*ret = buf, *ret_n = (size_t)n;
	return 0;
}

/* --- the libvirt event loop: console streams and lifecycle events ------------------------ */

static void *event_loop(void *arg)
{
	(void)arg;
	for (;;)
		virEventRunDefaultImpl();
	return NULL;
}

void events_start(void)
{
	pthread_t t;
	pthread_create(&t, NULL, event_loop, NULL);
	pthread_detach(t);
}

/* --- exec ---------------------------------------------------------------------------------- */

static int send_output(int client, const char *stream, const char *buf, size_t n)
{
	_cleanup_free_ char *b = b64_encode(buf, n);
	_cleanup_json_ json_t *ev = json_pack("{s:s}", stream, b ? b : "");
	return rpc_send_event(client, ev);
}

/* A container: a child enters the container's namespaces (libvirt hands them over as file
 * descriptors) and forks the command there, with the container's capability bounds. */
static int exec_lxc(json_t *inst, json_t *argv, int client, int *ret_status, struct err *e)
{
	char name[64];
	domain_name(jstr(inst, "InstanceId"), name);
	int *fds = NULL, nfds = -1;
	/* A second try: libvirt's answer can fail once while its connection is made again. */
	for (int attempt = 0; attempt < 2 && nfds <= 0; attempt++) {
		if (attempt)
			usleep(200 * 1000);
		pthread_mutex_lock(&E->lock);
		virConnectPtr c = domain_conn("lxc", e);
		virDomainPtr d = c ? virDomainLookupByName(c, name) : NULL;
		nfds = d ? virDomainLxcOpenNamespace(d, &fds, 0) : -1;
		if (nfds <= 0)
			log_warn("exec in %s: %s namespaces: %s", jstr(inst, "InstanceId"),
				 d ? "cannot open the domain's" : "no domain, no",
				 virGetLastErrorMessage());
		if (d)
			virDomainFree(d);
		pthread_mutex_unlock(&E->lock);
	}
	if (nfds <= 0)
		return err_set(e, "IncorrectInstanceState", "The instance '%s' is not running",
			       jstr(inst, "InstanceId"));
	/* The mount namespace goes last: after it, /proc paths are the container's. */
	int order[16], no = 0, mnt = -1;
	for (int i = 0; i < nfds && no < 15; i++) {
		char path[64], link[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[i]);
		ssize_t l = readlink(path, link, sizeof(link) - 1);
		if (l > 0 && (link[l] = 0, strncmp(link, "mnt:", 4) == 0))
			mnt = fds[i];
		else if (l > 0 && strncmp(link, "user:", 5) != 0)
			order[no++] = fds[i];
	}
	if (mnt >= 0)
		order[no++] = mnt;

	size_t argc = json_array_size(argv);
	char **args = calloc(argc + 5, sizeof(*args));
	args[0] = "sh", args[1] = "-c", args[2] = "exec \"$@\"", args[3] = "sh";
	for (size_t i = 0; i < argc; i++)
		args[4 + i] = (char *)json_string_value(json_array_get(argv, i));
	char *env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
		       "TERM=dumb", "USER=root", NULL};
	int drop[64], ndrop = 0;
	for (const char *const *cap = domain_dropped_caps; *cap && ndrop < 64; cap++) {
		cap_value_t v;
		char cname[40];
		snprintf(cname, sizeof(cname), "cap_%s", *cap);
		if (cap_from_name(cname, &v) == 0)
			drop[ndrop++] = v;
	}
	int out[2], errp[2], pidp[2];
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(pidp, O_CLOEXEC) < 0)
		return err_setr(e, -errno, "InternalError", "pipe: %m");
	pid_t pid = fork();
	if (pid == 0) {
		/* Only system calls from here: ec2d has threads. */
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0), dup2(out[1], 1), dup2(errp[1], 2);
		for (int i = 0; i < no; i++)
			if (setns(order[i], 0) < 0)
				_exit(125);
		if (chdir("/") < 0)
			_exit(125);
		/* Nothing of ec2d's stays open here (its state lock above all: a restart of ec2d
		 * must not wait for a command to end), but the pid pipe, as fd 3. */
		if (dup2(pidp[1], 3) < 0)
			_exit(125);
		close_range(4, ~0U, 0);
		pid_t inner = fork(); /* the pid namespace applies to children */
		if (inner == 0) {
			close(3);
			/* Its own process group, so that the command and what it starts can be
			 * killed together. */
			setpgid(0, 0);
			for (int i = 0; i < ndrop; i++)
				prctl(PR_CAPBSET_DROP, drop[i], 0, 0, 0);
			execve("/bin/sh", args, env);
			_exit(127);
		}
		/* Its pid as the host sees it, for ec2d to kill the group if the client leaves. */
		if (inner > 0 && write(3, &inner, sizeof(inner)) < 0)
			kill(inner, SIGKILL);
		int st = 0;
		while (inner > 0 && waitpid(inner, &st, 0) < 0 && errno == EINTR)
			;
		_exit(inner < 0 ? 126 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
	close(out[1]), close(errp[1]), close(pidp[1]);
	pid_t inner = 0;
	if (pid > 0 && read(pidp[0], &inner, sizeof(inner)) != sizeof(inner))
		inner = 0;
	close(pidp[0]);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	free(fds);
	free(args);
	if (pid < 0) {
		close(out[0]), close(errp[0]);
		return err_setr(e, -errno, "InternalError", "fork: %m");
	}
	struct pollfd p[3] = {{out[0], POLLIN, 0}, {errp[0], POLLIN, 0}, {client, POLLRDHUP, 0}};
	int open_fds = 2;
	bool gone = false;
	while (open_fds > 0 && !gone) {
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char buf[16384];
			ssize_t n = read(p[i].fd, buf, sizeof(buf));
			if (n > 0) {
				if (send_output(client, i ? "Stderr" : "Stdout", buf, (size_t)n) < 0)
					gone = true;
			} else if (n == 0 || errno != EINTR) {
				close(p[i].fd);
				p[i].fd = -1;
				open_fds--;
			}
		}
		/* The client went away (ctrl-C): the command goes too. */
		if (p[2].revents & (POLLRDHUP | POLLHUP | POLLERR))
			gone = true;
	}
	if (gone) {
		if (inner > 0)
			kill(-inner, SIGKILL);
		kill(pid, SIGKILL);
	}
	for (int i = 0; i < 2; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 0;
}

/* A VM: the guest's exec agent on a virtio-serial port (images/README.md, "exec"). */
static int exec_vm(json_t *inst, json_t *argv, int client, int *ret_status, struct err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char path[600];
	snprintf(path, sizeof(path), "%s/ec2d/%s.exec", E->run_dir, jstr(inst, "InstanceId"));
	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(e, "InternalError", "the exec socket path '%s' is too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* The command as one shell string, each word single-quoted. */
	char *cmd = NULL;
	size_t cn = 0;
	FILE *f = open_memstream(&cmd, &cn);
	size_t i;
	json_t *a;
	json_array_foreach(argv, i, a)
	{
		fputs(i ? " '" : "'", f);
		for (const char *p = json_string_value(a); *p; p++)
			*p == '\'' ? fputs("'\\''", f) : fputc(*p, f);
		fputc('\'', f);
	}
	fclose(f);
	_cleanup_free_ char *b = b64_encode(cmd, cn);
	free(cmd);
	int fd = -1;
	/* QEMU takes one connection at a time on the channel: wait for a concurrent exec. */
	for (int tries = 0; tries < 500; tries++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
		nanosleep(&(struct timespec){0, 20000000}, NULL);
	}
	if (fd < 0)
		return err_set(e, "IncorrectInstanceState", "The exec channel of '%s' does not answer",
			       jstr(inst, "InstanceId"));
	char id[32];
	snprintf(id, sizeof(id), "%ld", (long)time(NULL));
	dprintf(fd, "EXEC %s %s\n", id, b);
	/* Lines from the agent; the client going away (ctrl-C) ends the wait. */
	char buf[65536];
	size_t len = 0;
	int r = err_set(e, "InternalError", "the exec agent of '%s' closed the channel", jstr(inst, "InstanceId"));
	bool done = false;
	while (!done) {
		struct pollfd p[2] = {{fd, POLLIN, 0}, {client, POLLRDHUP, 0}};
		if (poll(p, client >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (client >= 0 && (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR)))
			break;
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		char *nl;
		while (!done && (nl = memchr(buf, '\n', len))) {
			*nl = 0;
			char kind[8], rid[32];
			int off = 0;
			if (sscanf(buf, "%7s %31s %n", kind, rid, &off) >= 2 && strcmp(rid, id) == 0) {
				buf[strcspn(buf, "\r")] = 0;
				if (strcmp(kind, "OUT") == 0) {
					size_t dn;
					_cleanup_free_ unsigned char *data = b64_decode(buf + off, &dn);
					if (data && send_output(client, "Stdout", (char *)data, dn) < 0)
						done = true;
				} else if (strcmp(kind, "EXIT") == 0) {
					*ret_status = atoi(buf + off);
					err_clear(e);
					r = 0;
					done = true;
				}
			}
			size_t used = (size_t)(nl - buf) + 1;
			memmove(buf, nl + 1, len - used);
			len -= used;
		}
		if (len == sizeof(buf) - 1)
			len = 0; /* a line too long to be the protocol's */
	}
	close(fd);
	return r;
}

int guest_exec(json_t *inst, json_t *argv, int client, int *ret_status, struct err *e)
{
	if (strcmp(jstr(inst, "_kind"), "qemu") == 0)
		return exec_vm(inst, argv, client, ret_status, e);
	return exec_lxc(inst, argv, client, ret_status, e);
}
