/* The EC2 API inside every VPC with instances (docs/architecture.md, "The EC2 API inside a
 * VPC"): VPC_API_IP:80 in the VPC's namespace, which vpcd puts on its lo beside the metadata
 * service's address and which the VPC's resolver gives for ec2.<region>.amazonaws.com
 * (vpcd/dns.c). This is the core's half: it makes one listening socket per VPC inside the
 * namespace, keeps it (the api front's copy, sent again after a restart of the front) and
 * closes it when the VPC's metadata socket goes, so that both live exactly as long. The api
 * front (http.c) serves every socket with the same handler as the host's endpoint: the same
 * SigV4, the same credentials, the same dispatch. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "ec2d.h"
#include "front.h"
#include "log.h"

#define VPC_API_PORT 80
#define VPC_API_BACKLOG 64

/* vpc id -> the listening socket (fd), the front's copy. Under E->lock. */
static json_t *sockets;

/* A listening TCP socket on ip:port inside the VPC's namespace. The calling thread enters
 * the namespace just long enough to make it, as imds_ensure does. */
static int ns_listen(const char *vpc_id, const char *ip, unsigned port, struct err *e)
{
	char ns[128], path[160];
	snprintf(ns, sizeof(ns), "%s-%s", E->prefix, vpc_id);
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	int nsfd = open(path, O_RDONLY | O_CLOEXEC),
	    self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int fd = -1, r = 0;
	if (nsfd < 0 || self < 0) {
		r = err_set(e, "InternalError", "cannot open the namespace of %s", vpc_id);
		goto out;
	}
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		r = err_setr(e, -errno, "InternalError", "cannot enter the namespace of %s: %m",
			     vpc_id);
		goto out;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, ip, &sa.sin_addr);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, VPC_API_BACKLOG) < 0)
		r = err_setr(e, -errno, "InternalError", "cannot listen on %s:%u in %s: %m", ip,
			     port, vpc_id);
	if (setns(self, CLONE_NEWNET) < 0)
		abort(); /* a thread left in another namespace makes every later socket wrong */
out:
	if (r < 0 && fd >= 0)
		close(fd);
	if (nsfd >= 0)
		close(nsfd);
	if (self >= 0)
		close(self);
	return r < 0 ? r : fd;
}

/* Called with the lock held. */
int vpc_api_ensure(const char *vpc_id, struct err *e)
{
	if (!sockets && !(sockets = json_object()))
		return err_set(e, "InternalError", "out of memory");
	if (json_object_get(sockets, vpc_id))
		return 0;
	int fd = ns_listen(vpc_id, VPC_API_IP, VPC_API_PORT, e);
	if (fd < 0)
		return fd;
	if (json_object_set_new(sockets, vpc_id, json_integer(fd)) < 0) {
		close(fd);
		return err_set(e, "InternalError", "out of memory");
	}
	api_front_listen(vpc_id, fd);
	return 0;
}

/* Called with the lock held. The front closes its copy on "close"; the namespace can go once
 * both are closed. */
void vpc_api_release(const char *vpc_id)
{
	json_t *v = json_object_get(sockets, vpc_id);
	if (!v)
		return;
	api_front_listen(vpc_id, -1);
	close((int)json_integer_value(v));
	json_object_del(sockets, vpc_id);
}

/* Every socket again, to an api front that has just started (from its supervisor thread or
 * from http_start). */
void vpc_api_resend(struct front *f)
{
	char msg[64];
	const char *vpc;
	json_t *v;
	pthread_mutex_lock(&E->lock);
	json_object_foreach(sockets, vpc, v)
	{
		snprintf(msg, sizeof(msg), "listen %s", vpc);
		front_send(f, msg, (int)json_integer_value(v));
	}
	pthread_mutex_unlock(&E->lock);
}
