/* ec2d's two unprivileged fronts (netlib/front.h): "api", the EC2/STS/IAM Query API and FIS's
 * REST-JSON (http.c), on the host's endpoint and inside every VPC with instances (vpc_api.c),
 * and "imds", the metadata service (imds.c). The core binds their sockets, keeps them across
 * a front's restart, and serves each front on a socket of its own inside the front's chroot
 * (<run-dir>/ec2d/front-<role>/core.sock, owned by the front's user, mode 0600): a front can
 * reach only its own, and the core answers there only the actions that front serves. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "api.h"
#include "cleanup.h"
#include "ec2d.h"
#include "front.h"
#include "log.h"

char http_endpoint[96], http_credentials[600];
struct front *api_front, *imds_front;
static uid_t front_uid;
static struct api_model *ec2_model, *fis_model, *logs_model, *cfn_model;

bool front_may(enum front_role role, const char *action)
{
	if (role == FRONT_IMDS)
		return !strcmp(action, "ImdsGet") || !strcmp(action, "ImdsToken");
	/* CloudWatch Logs' actions are vpcd's: ec2d_dispatch passes them on. */
	return api_model_has_action(ec2_model, action) || api_model_has_action(fis_model, action) ||
	       api_model_has_action(logs_model, action) ||
	       api_model_has_action(cfn_model, action) || /* CloudFormation: cfn.c */
	       !strcmp(action, "TopologyRelay"); /* the topology page's calls, checked in topology.c */
}

/* <run-dir>/ec2d/front-<role>: root's, 0755, empty but for the core's socket. */
static int front_dir(const char *role, char dir[static 512], struct err *e)
{
	snprintf(dir, 512, "%s/ec2d/front-%s", E->run_dir, role);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return err_setr(e, -errno, "InternalError", "cannot make '%s': %m", dir);
	if (chown(dir, 0, 0) < 0 || chmod(dir, 0755) < 0)
		return err_setr(e, -errno, "InternalError", "cannot own '%s': %m", dir);
	char sock[600];
	snprintf(sock, sizeof(sock), "%s/core.sock", dir);
	int lfd = server_listen(sock, e);
	if (lfd < 0)
		return lfd;
	if (chown(sock, front_uid, 0) < 0 || chmod(sock, 0600) < 0) {
		close(lfd);
		return err_setr(e, -errno, "InternalError", "cannot give '%s' to uid %u: %m", sock, (unsigned)front_uid);
	}
	return lfd;
}

static int fronts_init(struct err *e)
{
	if (ec2_model)
		return 0;
	gid_t gid;
	int r = front_user(&front_uid, &gid, e);
	if (r < 0 || (r = api_model_load_service("ec2", &ec2_model, e)) < 0 ||
	    (r = api_model_load_service("fis", &fis_model, e)) < 0 ||
	    (r = api_model_load_service("logs", &logs_model, e)) < 0 ||
	    (r = api_model_load_service("cloudformation", &cfn_model, e)) < 0)
		return r;
	return 0;
}

static int start(enum front_role role, const char *name, char *const argv[], const int *fds, size_t nfds,
		 front_started_fn on_start, struct front **ret, struct err *e)
{
	char dir[512];
	int r = fronts_init(e);
	int lfd = r < 0 ? r : front_dir(name, dir, e);
	if (lfd < 0)
		return lfd;
	server_start_front(lfd, role, front_uid);
	return front_start(name, argv, fds, nfds, on_start, NULL, ret, e);
}

/* --- api ---------------------------------------------------------------------------------- */

static int tcp_listen(const char *addr, char host[static 64], unsigned *port, struct err *e)
{
	const char *colon = strrchr(addr, ':');
	struct sockaddr_in sa = {.sin_family = AF_INET};
	if (!colon || (size_t)(colon - addr) >= 64 || sscanf(colon + 1, "%u", port) != 1 || *port > 65535)
		return err_set(e, "InvalidParameterValue", "--listen '%s': ADDRESS:PORT", addr);
	snprintf(host, 64, "%.*s", (int)(colon - addr), addr);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return err_set(e, "InvalidParameterValue", "--listen '%s': '%s' is not an IPv4 address", addr, host);
	sa.sin_port = htons((uint16_t)*port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 512) < 0) {
		int r = -errno;
		if (fd >= 0)
			close(fd);
		return err_setr(e, r, "InternalError", "cannot listen on %s: %s", addr, strerror(-r));
	}
	socklen_t sl = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		*port = ntohs(sa.sin_port); /* port 0 picks a free port (tests): describe-lab tells which */
	return fd;
}

/* Every VPC's API socket again, to an api front that has just started. */
static void api_resend(struct front *f, void *data)
{
	(void)data;
	vpc_api_resend(f);
}

/* Called with the lock held (vpc_api.c). */
void api_front_listen(const char *vpc, int fd)
{
	char msg[64];
	snprintf(msg, sizeof(msg), "%s %s", fd >= 0 ? "listen" : "close", vpc);
	if (api_front)
		front_send(api_front, msg, fd);
}

int http_start(const char *listen, const char *creds_path, unsigned timeout, struct err *e)
{
	char host[64], path[600], secs[16], root[600];
	unsigned port;
	int r;
	/* The file is checked here, so that a bad one stops ec2d at start, not a front later. */
	_cleanup_(api_creds_freep) struct api_creds *creds = NULL;
	if (creds_path && *creds_path) {
		snprintf(path, sizeof(path), "%s", creds_path);
		r = api_creds_load(path, &creds, e);
	} else {
		snprintf(path, sizeof(path), "%s/credentials", E->run_dir);
		r = api_creds_generate(path, &creds, e);
	}
	if (r < 0)
		return r;
	int cfd = open(path, O_RDONLY | O_CLOEXEC);
	if (cfd < 0)
		return err_setr(e, -errno, "InternalError", "cannot read credentials file '%s': %m", path);
	int lfd = tcp_listen(listen, host, &port, e);
	if (lfd < 0) {
		close(cfd);
		return lfd;
	}
	snprintf(secs, sizeof(secs), "%u", timeout);
	snprintf(root, sizeof(root), "%s/ec2d/front-api", E->run_dir);
	char *argv[] = {"ec2d", "front", "api", "--root", root, "--timeout", secs, NULL};
	int fds[] = {lfd, cfd};
	if ((r = start(FRONT_API, "api", argv, fds, 2, api_resend, &api_front, e)) < 0)
		return r;
	/* The VPCs that got their metadata socket before the API was up (the instances found
	 * again at start) get their API socket now; later ones with their metadata socket. */
	pthread_mutex_lock(&E->lock);
	const char *vpc;
	json_t *v;
	json_object_foreach(E->imds, vpc, v)
	{
		struct err why = {0};
		if (vpc_api_ensure(vpc, &why) < 0)
			log_error("no EC2 API inside %s: %s", vpc, why.msg);
	}
	pthread_mutex_unlock(&E->lock);
	snprintf(http_endpoint, sizeof(http_endpoint), "http://%s:%u", host, port);
	snprintf(http_credentials, sizeof(http_credentials), "%s", path);
	log_info("EC2 API on %s (credentials: %s), served by an unprivileged front (pid %d)", http_endpoint,
		 http_credentials, (int)front_pid(api_front));
	return 0;
}

/* --- imds --------------------------------------------------------------------------------- */

/* Every listener again, to a front that has just started. */
static void imds_resend(struct front *f, void *data)
{
	(void)data;
	pthread_mutex_lock(&E->lock);
	const char *vpc;
	json_t *v;
	char msg[64];
	json_object_foreach(E->imds, vpc, v)
	{
		snprintf(msg, sizeof(msg), "listen %s", vpc);
		front_send(f, msg, (int)json_integer_value(v));
	}
	pthread_mutex_unlock(&E->lock);
}

int imds_front_start(struct err *e)
{
	char root[600];
	snprintf(root, sizeof(root), "%s/ec2d/front-imds", E->run_dir);
	char *argv[] = {"ec2d", "front", "imds", "--root", root, NULL};
	int r = start(FRONT_IMDS, "imds", argv, NULL, 0, imds_resend, &imds_front, e);
	if (r == 0)
		log_info("metadata service served by an unprivileged front (pid %d)", (int)front_pid(imds_front));
	return r;
}

/* Called with the lock held. The VPC's EC2 API socket (vpc_api.c) comes and goes with its
 * metadata socket: the same VPCs need both, and either left open would keep a deleted VPC's
 * namespace alive. Without the API (--no-listen, or before http_start) there is no front to
 * serve it, and none is made. An API socket that cannot be made is logged and leaves the
 * launch alone: the instance runs, without the endpoint. */
void imds_front_listen(const char *vpc, int fd)
{
	char msg[64];
	snprintf(msg, sizeof(msg), "%s %s", fd >= 0 ? "listen" : "close", vpc);
	if (imds_front)
		front_send(imds_front, msg, fd);
	if (fd < 0) {
		vpc_api_release(vpc);
	} else if (api_front) {
		struct err why = {0};
		if (vpc_api_ensure(vpc, &why) < 0)
			log_error("no EC2 API inside %s: %s", vpc, why.msg);
	}
}

/* --- describe-lab ------------------------------------------------------------------------- */

json_t *fronts_describe(void)
{
	json_t *o = json_object();
	struct front *fs[] = {api_front, imds_front};
	const char *names[] = {"api", "imds"};
	for (size_t i = 0; i < 2; i++)
		if (fs[i])
			json_object_set_new(o, names[i], json_pack("{s:i, s:i, s:I}", "Pid", (int)front_pid(fs[i]),
								  "Restarts", (int)front_restarts(fs[i]),
								  "Uid", (json_int_t)front_uid));
	return o;
}
