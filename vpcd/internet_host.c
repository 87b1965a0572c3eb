/* The internet test host of each region: ICMP echo is the region namespace's own kernel;
 * HTTP on port 80 answers with the caller's source address (like checkip.amazonaws.com),
 * served by libmicrohttpd; TCP port 7 echoes. The sockets are made inside the region
 * namespace and served by threads, so they keep working whatever namespace the main thread
 * is in. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "cleanup.h"
#include "netns.h"
#include "vpcd.h"

#define ECHO_PORT 7
#define HTTP_PORT 80
#define MAX_HOSTS 64

struct host {
	char region[32];
	struct MHD_Daemon *httpd;
	int echo_fd;
	pthread_t echo_thread;
};

static struct host hosts[MAX_HOSTS];
static int nhosts;

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
	struct host *h = arg;
	struct pollfd p[65];
	int n = 1;
	p[0] = (struct pollfd){.fd = h->echo_fd, .events = POLLIN};
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
			int fd = accept4(h->echo_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0 && n < 65)
				p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
			else if (fd >= 0)
				close(fd);
		}
	}
	return NULL;
}

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

int inet_host_start(const char *region, int ns_fd, uint32_t ip, struct err *e)
{
	for (int i = 0; i < nhosts; i++)
		if (!strcmp(hosts[i].region, region))
			return 0;
	if (nhosts == MAX_HOSTS)
		return err_set(e, "InternalError", "too many regions with an internet host");
	struct host *h = &hosts[nhosts];
	int http = listen_in(ns_fd, ip, HTTP_PORT);
	if (http < 0)
		return err_setr(e, http, "InternalError", "internet host of %s: port %d: %s", region,
				HTTP_PORT, strerror(-http));
	h->echo_fd = listen_in(ns_fd, ip, ECHO_PORT);
	if (h->echo_fd < 0) {
		close(http);
		return err_setr(e, h->echo_fd, "InternalError", "internet host of %s: port %d: %s",
				region, ECHO_PORT, strerror(-h->echo_fd));
	}
	h->httpd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL,
				    checkip, NULL, MHD_OPTION_LISTEN_SOCKET, http,
				    MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!h->httpd || pthread_create(&h->echo_thread, NULL, echo_loop, h) != 0) {
		if (h->httpd)
			MHD_stop_daemon(h->httpd);
		else
			close(http);
		close(h->echo_fd);
		return err_set(e, "InternalError", "internet host of %s: cannot start its services", region);
	}
	pthread_detach(h->echo_thread);
	snprintf(h->region, sizeof(h->region), "%s", region);
	nhosts++;
	return 0;
}

void inet_host_stop_all(void)
{
	for (int i = 0; i < nhosts; i++)
		if (hosts[i].httpd)
			MHD_stop_daemon(hosts[i].httpd);
	nhosts = 0;
}
