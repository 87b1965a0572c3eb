/* Named network namespaces, compatible with `ip netns`: a bind mount of the namespace at
 * /run/netns/NAME, with /run/netns itself a shared mount. Made in-process, no `ip` involved. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "err.h"

#define NETNS_DIR "/run/netns"

int netns_create(const char *name, struct err *e); /* idempotent */
int netns_delete(const char *name);                /* 0 if gone already */
bool netns_exists(const char *name);
/* SIGKILLs every process living in the named namespace (dnsmasq, a test's server...), so
 * that deleting the name really frees it. Returns how many. */
int netns_kill_procs(const char *name);
/* Returns an fd (O_CLOEXEC) or -errno. */
int netns_open(const char *name);
/* Calls fn(name, data) for every namespace whose name starts with prefix. */
int netns_list(const char *prefix, int (*fn)(const char *name, void *data), void *data);
/* Switches the calling thread into the namespace fd; returns an fd of the namespace left,
 * to hand to netns_leave(), or -errno. */
int netns_enter(int fd);
void netns_leave(int saved_fd);
/* Writes sysctls below /proc/sys of the namespace `fd`, with one trip into it:
 * kv[i][0] = path (like "net/ipv4/ip_forward"), kv[i][1] = value.
 * Returns 0, or -errno of the first that failed (its index in *ret_failed). */
int netns_sysctls(int fd, const char *const (*kv)[2], size_t n, size_t *ret_failed);
