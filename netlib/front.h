/* Privilege separation, in the shape of OpenBSD's vmd: the code that reads untrusted bytes
 * (HTTP, SigV4, a guest's metadata requests, the internet test host's clients) runs in a
 * "front", a child process that holds no capability, runs as its own user (vpclab, else
 * nobody), is chrooted into an empty directory and filtered by seccomp. The privileged core
 * makes every socket a front serves (binding port 80 inside a VPC's namespace needs setns and
 * CAP_NET_BIND_SERVICE) and hands it over on a SOCK_SEQPACKET channel with SCM_RIGHTS; a front
 * that needs the core's data asks over the core's size-bounded RPC, on a socket inside its
 * chroot. The core restarts a front that dies (backoff 0.1 s doubling to 5 s) and gives it
 * its sockets again.
 *
 * The child is this same binary, exec'd as `<argv0> front <role> ...`, with the channel on
 * fd 3 and the start-up fds on 4, 5, ... */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/capability.h>
#include <sys/types.h>
#include "err.h"

#define FRONT_CHANNEL_FD 3
#define FRONT_FIRST_FD 4
#define FRONT_MSG_MAX 512
#define FRONT_USER "vpclab"

/* What starting a front takes beyond what its core does: a core keeps these permitted (not
 * effective), and drops them from whatever else it execs (caps_child_bound_drop). */
#define FRONT_START_CAPS {CAP_SETUID, CAP_SETGID, CAP_SYS_CHROOT, CAP_SETPCAP}
#define FRONT_START_NCAPS 4

struct front;
typedef void (*front_started_fn)(struct front *f, void *data);

/* Starts `argv` (argv[0] is ignored: /proc/self/exe is exec'd) with the nfds fds of `fds` at
 * FRONT_FIRST_FD..., and a thread that restarts it when it exits; on_start runs after every
 * start (first included), from that thread or from the caller. The fds stay the caller's. */
int front_start(const char *name, char *const argv[], const int *fds, size_t nfds,
		front_started_fn on_start, void *data, struct front **ret, struct err *e);
/* Sends one message (at most FRONT_MSG_MAX bytes), with fd (or -1) attached. A message to a
 * front that is down is lost: on_start gives the next one what it must have. */
int front_send(struct front *f, const char *msg, int fd);
pid_t front_pid(struct front *f);
unsigned front_restarts(struct front *f);

/* --- in the front ------------------------------------------------------------------------ */
/* The uid and gid a front runs as: FRONT_USER's, else nobody's. */
int front_user(uid_t *uid, gid_t *gid, struct err *e);
/* Drops everything: closes fds above `keep_max`, chroots into `root`, leaves the groups,
 * becomes the front user, clears every capability set and the bounding set, sets
 * no_new_privs, dies with its parent (which must still be `parent`), and installs the seccomp
 * filter. Called once, before the first untrusted byte is read. */
int front_drop(const char *root, int keep_max, pid_t parent, struct err *e);
/* A front's start: `--root DIR` from argv (other options are the caller's), its parent from
 * the environment, then front_drop. 0, or the status to exit with, the reason logged. */
int front_begin(const char *name, int argc, char **argv, int keep_max);
/* Receives one message from the channel: its length (0 when the core has gone), *fd the
 * attached fd or -1. */
ssize_t front_recv(int chan, char *buf, size_t n, int *fd);
