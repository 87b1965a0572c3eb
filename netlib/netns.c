#include "netns.h"
#include "cleanup.h"
#include <dirent.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

static int netns_dir_ready(void)
{
	if (mkdir(NETNS_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	/* As iproute2 does: make /run/netns a shared mount (binding it onto itself the first
	 * time), so that namespaces mounted later propagate to other mount namespaces. */
	if (mount("", NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	if (mount(NETNS_DIR, NETNS_DIR, "none", MS_BIND | MS_REC, NULL) < 0)
		return -errno;
	if (mount("", NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) < 0)
		return -errno;
	return 0;
}

/* A file under /run/netns that is not a mounted namespace (left by a failed create) does not
 * count as one. */
static bool is_netns_fd(int fd)
{
	struct statfs sfs;
	return fstatfs(fd, &sfs) == 0 && sfs.f_type == NSFS_MAGIC;
}

bool netns_exists(const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd >= 0 && is_netns_fd(fd);
}

int netns_open(const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int netns_enter(int fd)
{
	int saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (saved < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET) < 0) {
		int r = -errno;
		close(saved);
		return r;
	}
	return saved;
}

void netns_leave(int saved)
{
	if (saved < 0)
		return;
	if (setns(saved, CLONE_NEWNET) < 0)
		abort(); /* continuing in the wrong namespace would corrupt the lab */
	close(saved);
}

int netns_create(const char *name, struct err *e)
{
	char path[PATH_MAX];
	int r, fd;

	snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
	if (netns_exists(name))
		return 0;
	r = netns_dir_ready();
	if (r < 0)
		return err_setr(e, r, "InternalError", "cannot prepare %s: %s", NETNS_DIR,
				strerror(-r));
	fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
	if (fd < 0)
		return err_setr(e, -errno, "InternalError", "cannot create '%s': %m", path);
	close(fd);

	_cleanup_close_ int saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (saved < 0)
		return err_setr(e, -errno, "InternalError", "cannot open own namespace: %m");
	if (unshare(CLONE_NEWNET) < 0) {
		r = -errno;
		unlink(path);
		return err_setr(e, r, "InternalError", "unshare(CLONE_NEWNET): %s", strerror(-r));
	}
	r = mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0 ? -errno : 0;
	if (setns(saved, CLONE_NEWNET) < 0)
		abort();
	if (r < 0) {
		unlink(path);
		return err_setr(e, r, "InternalError", "cannot bind namespace to '%s': %s", path,
				strerror(-r));
	}
	return 0;
}

int netns_delete(const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return -errno;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int netns_kill_procs(const char *name)
{
	char path[PATH_MAX], link[64], want[64];
	struct stat st;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	snprintf(want, sizeof(want), "net:[%llu]", (unsigned long long)st.st_ino);
	DIR *d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 1 || pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
		ssize_t l = readlink(path, link, sizeof(link) - 1);
		if (l < 0)
			continue;
		link[l] = 0;
		if (strcmp(link, want) == 0 && kill((pid_t)pid, SIGKILL) == 0)
			n++;
	}
	closedir(d);
	return n;
}

int netns_list(const char *prefix, int (*fn)(const char *name, void *data), void *data)
{
	DIR *d = opendir(NETNS_DIR);
	struct dirent *de;
	size_t n = strlen(prefix);
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strncmp(de->d_name, prefix, n) != 0)
			continue;
		r = fn(de->d_name, data);
		if (r < 0)
			break;
	}
	closedir(d);
	return r;
}

int netns_sysctls(int fd, const char *const (*kv)[2], size_t n, size_t *ret_failed)
{
	int fds[16], r = 0;
	size_t opened = 0;
	if (n > 16)
		return -E2BIG;
	int saved = netns_enter(fd);
	if (saved < 0)
		return saved;
	/* /proc/sys/net resolves against the namespace of the opener at open time. */
	for (; opened < n; opened++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "/proc/sys/%s", kv[opened][0]);
		fds[opened] = open(p, O_WRONLY | O_CLOEXEC);
		if (fds[opened] < 0) {
			r = -errno;
			break;
		}
	}
	netns_leave(saved);
	for (size_t i = 0; i < opened; i++) {
		if (r == 0 && write(fds[i], kv[i][1], strlen(kv[i][1])) < 0) {
			r = -errno;
			opened = i; /* report this one */
		}
		close(fds[i]);
	}
	if (r < 0 && ret_failed)
		*ret_failed = opened;
	return r;
}

