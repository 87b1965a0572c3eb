/* The internet test host of each region: ICMP echo is the region namespace's own kernel;
 * HTTP on port 80 answers with the caller's source address (like checkip.amazonaws.com),
 * served by libmicrohttpd; TCP port 7 echoes. The core makes the sockets inside the region
 * namespace and hands them to the "inet" front (`vpcd front inet`, netlib/front.h), which
 * serves them without privilege: vpcd's netlink process reads no byte from a client. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cleanup.h"
#include "front.h"
#include "log.h"
#include "netns.h"
#include "vpcd.h"

#define ECHO_PORT 7
#define HTTP_PORT 80
#define MAX_HOSTS 64

/* In the core: each region's two sockets, kept to give a restarted front. */
struct host {
	char region[32];
	int http_fd, echo_fd;
};

static struct host hosts[MAX_HOSTS];
static int nhosts;
static pthread_mutex_t hosts_lock = PTHREAD_MUTEX_INITIALIZER;
static struct front *inet_front;

/* --- the front ---------------------------------------------------------------------------- */
static enum MHD_Result checkip(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **state)
{
	(void)cls, (void)url, (void)method, (void)version, (void)upload, (void)upload_size, (void)state;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char body[INET_ADDRSTRLEN + 2] = "unknown\n";
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ci->client_addr;
		inet_ntop(AF_INET, &sin->sin_addr, body, INET_ADDRSTRLEN);
		strcat(body, "\n");
	}
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(resp, "Content-Type", "text/plain");
	enum MHD_Result r = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return r;
}

static void *echo_loop(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	struct pollfd p[65];
	int n = 1;
	p[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
	for (;;) {
		if (poll(p, (nfds_t)n, -1) < 0)
			continue;
		for (int i = n - 1; i >= 1; i--) {
			if (!p[i].revents)
				continue;
			char buf[4096];
			ssize_t r = recv(p[i].fd, buf, sizeof(buf), 0);
			if (r <= 0 || send(p[i].fd, buf, (size_t)r, MSG_NOSIGNAL) < 0) {
				close(p[i].fd);
				p[i] = p[--n];
			}
		}
		if (p[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0 && n < 65)
				p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
			else if (fd >= 0)
				close(fd);
		}
	}
	return NULL;
}

/* `vpcd front inet --root DIR`: "http <region>" and "echo <region>" come with their
 * sockets; each is served until the core goes. */
int inet_front_main(int argc, char **argv)
{
	int r = front_begin("inet", argc, argv, FRONT_CHANNEL_FD);
	if (r)
		return r;
	char msg[FRONT_MSG_MAX + 1];
	int fd;
	while (front_recv(FRONT_CHANNEL_FD, msg, sizeof(msg), &fd) > 0) {
		pthread_t t;
		if (fd < 0)
			continue;
		if (!strncmp(msg, "http ", 5)) {
			if (!MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, checkip,
					      NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
					      MHD_OPTION_END)) {
				log_error("inet front: cannot serve HTTP for %s", msg + 5);
				close(fd);
			}
		} else if (!strncmp(msg, "echo ", 5) &&
			   pthread_create(&t, NULL, echo_loop, (void *)(intptr_t)fd) == 0) {
			pthread_detach(t);
		} else {
			close(fd);
		}
	}
	return 0;
}

/* --- the core ----------------------------------------------------------------------------- */

static int listen_in(int ns_fd, uint32_t ip, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(ip)};
	int one = 1, saved = netns_enter(ns_fd);
	if (saved < 0)
		return saved;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	netns_leave(saved);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static void send_host(struct front *f, const struct host *h)
{
	char msg[64];
	snprintf(msg, sizeof(msg), "http %s", h->region);
	front_send(f, msg, h->http_fd);
	snprintf(msg, sizeof(msg), "echo %s", h->region);
	front_send(f, msg, h->echo_fd);
}

/* Every host again, to a front that has just started. */
static void resend(struct front *f, void *data)
{
	(void)data;
	pthread_mutex_lock(&hosts_lock);
	for (int i = 0; i < nhosts; i++)
		send_host(f, &hosts[i]);
	pthread_mutex_unlock(&hosts_lock);
}

int inet_front_start(const char *run_dir, struct err *e)
{
	char root[600];
	snprintf(root, sizeof(root), "%s/front-inet", run_dir);
	if ((mkdir(root, 0755) < 0 && errno != EEXIST) || chown(root, 0, 0) < 0 || chmod(root, 0755) < 0)
		return err_setr(e, -errno, "InternalError", "cannot make '%s': %m", root);
	char *argv[] = {"vpcd", "front", "inet", "--root", root, NULL};
	int r = front_start("inet", argv, NULL, 0, resend, NULL, &inet_front, e);
	if (r == 0)
		log_info("internet test hosts served by an unprivileged front (pid %d)", (int)front_pid(inet_front));
	return r;
}

pid_t inet_front_pid(void)
{
	return inet_front ? front_pid(inet_front) : 0;
}

int inet_host_start(const char *region, int ns_fd, uint32_t ip, struct err *e)
{
	for (int i = 0; i < nhosts; i++)
		if (!strcmp(hosts[i].region, region))
			return 0;
	if (nhosts == MAX_HOSTS)
		return err_set(e, "InternalError", "too many regions with an internet host");
	struct host h = {0};
	snprintf(h.region, sizeof(h.region), "%s", region);
	h.http_fd = listen_in(ns_fd, ip, HTTP_PORT);
	if (h.http_fd < 0)
		return err_setr(e, h.http_fd, "InternalError", "internet host of %s: port %d: %s", region,
				HTTP_PORT, strerror(-h.http_fd));
	h.echo_fd = listen_in(ns_fd, ip, ECHO_PORT);
	if (h.echo_fd < 0) {
		close(h.http_fd);
		return err_setr(e, h.echo_fd, "InternalError", "internet host of %s: port %d: %s",
				region, ECHO_PORT, strerror(-h.echo_fd));
	}
	pthread_mutex_lock(&hosts_lock);
	hosts[nhosts++] = h;
	if (inet_front)
		send_host(inet_front, &h);
	pthread_mutex_unlock(&hosts_lock);
	return 0;
}

void inet_host_stop_all(void)
{
	pthread_mutex_lock(&hosts_lock);
	for (int i = 0; i < nhosts; i++)
		close(hosts[i].http_fd), close(hosts[i].echo_fd);
	nhosts = 0;
	pthread_mutex_unlock(&hosts_lock);
}
