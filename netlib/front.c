#include "front.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "log.h"

#define FRONT_MAX_FDS 8
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define STEADY_S 10 /* a front up this long is back to the shortest backoff */

extern char **environ;

struct front {
	char name[32];
	char **argv, **envp;
	int fds[FRONT_MAX_FDS];
	size_t nfds;
	front_started_fn on_start;
	void *data;
	pthread_mutex_t lock;
	int chan;
	pid_t pid;
	unsigned restarts;
};

static char **strv_copy(char *const *v, const char *extra)
{
	size_t n = 0;
	while (v[n])
		n++;
	char **c = calloc(n + 2, sizeof(*c));
	if (!c)
		return NULL;
	for (size_t i = 0; i < n; i++)
		c[i] = strdup(v[i]);
	if (extra)
		c[n] = strdup(extra);
	return c;
}

/* fork and exec, touching only what is async-signal-safe in the child (this process has
 * threads). */
static int spawn(struct front *f, struct err *e)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return err_setr(e, -errno, "InternalError", "%s front: socketpair: %m", f->name);
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(sv[0]), close(sv[1]);
		return err_setr(e, r, "InternalError", "%s front: fork: %s", f->name, strerror(-r));
	}
	if (pid == 0) {
		/* Each fd to its place through a copy above them all, so that none overwrites
		 * another still to be moved; the copies are closed by front_drop. */
		int src[FRONT_MAX_FDS + 1], n = 0;
		src[n++] = fcntl(sv[1], F_DUPFD, 100);
		for (size_t i = 0; i < f->nfds; i++)
			src[n++] = fcntl(f->fds[i], F_DUPFD, 100);
		for (int i = 0; i < n; i++)
			if (src[i] < 0 || dup2(src[i], FRONT_CHANNEL_FD + i) < 0)
				_exit(126);
		execve("/proc/self/exe", f->argv, f->envp);
		_exit(127);
	}
	close(sv[1]);
	pthread_mutex_lock(&f->lock);
	if (f->chan >= 0)
		close(f->chan);
	f->chan = sv[0];
	f->pid = pid;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static void *supervise(void *arg)
{
	struct front *f = arg;
	unsigned backoff = BACKOFF_MIN_MS;
	for (;;) {
		time_t started = time(NULL);
		int st;
		pid_t p;
		while ((p = waitpid(f->pid, &st, 0)) < 0 && errno == EINTR)
			;
		if (p < 0) {
			log_error("%s front: waitpid: %m", f->name);
			return NULL;
		}
		if (WIFSIGNALED(st))
			log_error("%s front (pid %d) was killed by signal %d (%s): restarting it", f->name, (int)p,
				  WTERMSIG(st), strsignal(WTERMSIG(st)));
		else
			log_error("%s front (pid %d) exited with status %d: restarting it", f->name, (int)p,
				  WEXITSTATUS(st));
		if (time(NULL) - started >= STEADY_S)
			backoff = BACKOFF_MIN_MS;
		for (;;) {
			nanosleep(&(struct timespec){backoff / 1000, (long)(backoff % 1000) * 1000000L}, NULL);
			backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
			struct err e = {0};
			if (spawn(f, &e) == 0)
				break;
			log_error("%s", e.msg);
		}
		__atomic_add_fetch(&f->restarts, 1, __ATOMIC_RELAXED);
		if (f->on_start)
			f->on_start(f, f->data);
	}
	return NULL;
}

int front_start(const char *name, char *const argv[], const int *fds, size_t nfds,
		front_started_fn on_start, void *data, struct front **ret, struct err *e)
{
	if (nfds > FRONT_MAX_FDS)
		return err_set(e, "InternalError", "%s front: %zu fds, at most %d", name, nfds, FRONT_MAX_FDS);
	struct front *f = calloc(1, sizeof(*f));
	char parent[48];
	snprintf(parent, sizeof(parent), "VPCLAB_FRONT_PARENT=%ld", (long)getpid());
	if (!f || !(f->argv = strv_copy(argv, NULL)) || !(f->envp = strv_copy(environ, parent))) {
		free(f);
		return err_set(e, "InternalError", "%s front: out of memory", name);
	}
	snprintf(f->name, sizeof(f->name), "%s", name);
	for (size_t i = 0; i < nfds; i++)
		f->fds[i] = fds[i];
	f->nfds = nfds;
	f->on_start = on_start;
	f->data = data;
	f->chan = -1;
	pthread_mutex_init(&f->lock, NULL);
	int r = spawn(f, e);
	if (r < 0)
		return r; /* f is kept: nothing frees argv copies made for a daemon that will exit */
	if (on_start)
		on_start(f, data);
	pthread_t t;
	if ((r = pthread_create(&t, NULL, supervise, f)) != 0)
		return err_setr(e, -r, "InternalError", "%s front: cannot start its supervisor", name);
	pthread_detach(t);
	*ret = f;
	return 0;
}

int front_send(struct front *f, const char *msg, int fd)
{
	size_t n = strlen(msg);
	if (n > FRONT_MSG_MAX)
		return -EMSGSIZE;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {(void *)msg, n};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	pthread_mutex_lock(&f->lock);
	ssize_t w = sendmsg(f->chan, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	int r = w < 0 ? -errno : 0;
	pthread_mutex_unlock(&f->lock);
	return r;
}

pid_t front_pid(struct front *f)
{
	pthread_mutex_lock(&f->lock);
	pid_t p = f->pid;
	pthread_mutex_unlock(&f->lock);
	return p;
}

unsigned front_restarts(struct front *f)
{
	return __atomic_load_n(&f->restarts, __ATOMIC_RELAXED);
}

/* --- in the front ------------------------------------------------------------------------ */

int front_user(uid_t *uid, gid_t *gid, struct err *e)
{
	const struct passwd *pw = getpwnam(FRONT_USER);
	if (!pw)
		pw = getpwnam("nobody");
	if (!pw || pw->pw_uid == 0)
		return err_set(e, "InternalError", "neither user '%s' nor 'nobody' exists (scripts/setup makes '%s')",
			       FRONT_USER, FRONT_USER);
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* What no front needs and each would widen the kernel an attacker reaches: other processes,
 * namespaces, mounts, modules, keys, BPF, and the netlink and packet sockets. */
static int seccomp_install(struct err *e)
{
	static const int denied[] = {
		SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv),
		SCMP_SYS(process_vm_writev), SCMP_SYS(mount), SCMP_SYS(umount2), SCMP_SYS(pivot_root),
		SCMP_SYS(chroot), SCMP_SYS(setns), SCMP_SYS(unshare), SCMP_SYS(bpf),
		SCMP_SYS(perf_event_open), SCMP_SYS(init_module), SCMP_SYS(finit_module),
		SCMP_SYS(delete_module), SCMP_SYS(kexec_load), SCMP_SYS(kexec_file_load),
		SCMP_SYS(keyctl), SCMP_SYS(add_key), SCMP_SYS(request_key), SCMP_SYS(userfaultfd),
		SCMP_SYS(io_uring_setup), SCMP_SYS(swapon), SCMP_SYS(swapoff), SCMP_SYS(reboot),
		SCMP_SYS(personality), SCMP_SYS(open_by_handle_at), SCMP_SYS(name_to_handle_at),
		SCMP_SYS(setuid), SCMP_SYS(setgid), SCMP_SYS(setresuid), SCMP_SYS(setresgid),
		SCMP_SYS(setreuid), SCMP_SYS(setregid), SCMP_SYS(setgroups), SCMP_SYS(capset),
	};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int r = ctx ? 0 : -ENOMEM;
	for (size_t i = 0; r == 0 && i < sizeof(denied) / sizeof(denied[0]); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), denied[i], 0);
	static const int families[] = {AF_NETLINK, AF_PACKET};
	for (size_t i = 0; r == 0 && i < 2; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
				     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]));
	if (r == 0)
		r = seccomp_load(ctx);
	if (ctx)
		seccomp_release(ctx);
	return r < 0 ? err_setr(e, r, "InternalError", "seccomp: %s", strerror(-r)) : 0;
}

int front_drop(const char *root, int keep_max, pid_t parent, struct err *e)
{
	uid_t uid;
	gid_t gid;
	int r;
	if ((r = front_user(&uid, &gid, e)) < 0)
		return r;
	syscall(SYS_close_range, (unsigned)keep_max + 1, ~0u, 0u);
	if (chroot(root) < 0 || chdir("/") < 0)
		return err_setr(e, -errno, "InternalError", "chroot '%s': %m", root);
	for (cap_value_t v = 0; v <= CAP_LAST_CAP; v++)
		if (cap_drop_bound(v) < 0 && errno != EINVAL)
			return err_setr(e, -errno, "InternalError", "cannot drop from bounding set: %m");
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return err_setr(e, -errno, "InternalError", "cannot become uid %u: %m", (unsigned)uid);
	cap_t none = cap_init();
	r = none && cap_set_proc(none) == 0 ? 0 : -errno;
	cap_free(none);
	if (r < 0)
		return err_setr(e, r, "InternalError", "cannot clear capabilities: %s", strerror(-r));
	if (setuid(0) == 0)
		abort(); /* the drop did not hold */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return err_setr(e, -errno, "InternalError", "prctl: %m");
	/* The death signal is armed from here on: a parent gone before is seen now. */
	if (getppid() != parent)
		_exit(0);
	return seccomp_install(e);
}

int front_begin(const char *name, int argc, char **argv, int keep_max)
{
	const char *root = NULL, *parent = getenv("VPCLAB_FRONT_PARENT");
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--root"))
			root = argv[i + 1];
	if (!root || !parent) {
		log_error("%s front: started without --root or a parent", name);
		return 2;
	}
	struct err e = {0};
	if (front_drop(root, keep_max, (pid_t)atol(parent), &e) < 0) {
		log_error("%s front: %s", name, e.msg);
		return 1;
	}
	return 0;
}

ssize_t front_recv(int chan, char *buf, size_t n, int *fd)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {buf, n - 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b)};
	*fd = -1;
	ssize_t r;
	while ((r = recvmsg(chan, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (r < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	buf[r] = 0;
	return r;
}
