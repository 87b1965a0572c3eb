/* The control socket and the request loop. One request runs at a time, start to finish
 * (validate, change the model, converge the kernel, journal), which is what makes concurrent
 * clients safe: each sees the state the previous request left. The requests that arrive
 * together (every line read in one turn of the loop) commit together: their journal records
 * are made durable by one fdatasync, and only then is any of them answered. */
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "cleanup.h"
#include "cli.h"
#include "log.h"
#include "netns.h"
#include "rpc.h"
#include "server.h"
#include "vpcd.h"

#define MAX_CLIENTS 128

struct client {
	int fd;
	struct ucred cred;
	char *buf;
	size_t len, cap;
	char *out; /* answers waiting for the journal to be durable */
	size_t outlen;
};

static volatile sig_atomic_t stopping;
static void on_signal(int sig) { (void)sig, stopping = 1; }

static bool peer_allowed(const struct ucred *c, gid_t group, bool have_group)
{
	if (c->uid == 0)
		return true;
	return have_group && c->gid == group;
}

static void resync(json_t *dirty)
{
	const char *id;
	json_t *v;
	json_object_foreach(dirty, id, v)
	{
		struct err e = {0};
		if (sync_vpc(id, true, NULL, &e) < 0)
			log_error("cannot restore kernel state of %s after a failed request: %s", id,
				  e.msg);
	}
}

int dispatch(const struct verb *verbs, size_t nverbs, json_t *req, json_t **ret, struct err *e)
{
	const char *action = jstr(req, "Action"), *region = jstr(req, "Region");
	json_t *params = json_object_get(req, "Params");
	const struct verb *v = NULL;
	char op[128];
	char region_key[64];
	int r;

	for (size_t i = 0; i < nverbs && !v; i++) {
		cli_pascal(verbs[i].name, op, sizeof(op));
		if (verbs[i].impl && strcmp(op, action) == 0)
			v = &verbs[i];
	}
	if (!v)
		return err_set(e, "InvalidAction", "The action '%s' is not valid for this web service.",
			       action);
	if (params && !json_is_object(params))
		return err_set(e, "InvalidParameterValue", "Params must be an object");
	struct req rq = {.action = action,
			 .region = region,
			 .params = params ? json_incref(params) : json_object()};

	snprintf(region_key, sizeof(region_key), "region:%s", region);
	bool region_new = !v->global && region_find(region) && !obj_get(region_key);
	int dry = 0;
	param_bool(&rq, "DryRun", &dry);

	r = v->global ? 0 : region_ensure(&rq, e);
	if (r == 0)
		r = ((handler_fn)v->impl)(&rq, ret, e);
	if (r == 0 && dry > 0) {
		json_decref(*ret);
		*ret = NULL;
		r = err_set(e, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.");
	} else if (r == 0) {
		if (region_new)
			r = sync_region(region, NULL, e);
		const char *id;
		json_t *x;
		json_object_foreach(rq.txn.dirty_vpcs, id, x) if (r == 0) r = sync_vpc(id, false, rq.txn.undo, e);
		json_object_foreach(rq.txn.dirty_regions, id, x) if (r == 0) r = sync_region(id, region_new ? NULL : rq.txn.undo, e);
		bool fl = r == 0 && flowlog_affected(rq.txn.undo);
		if (r == 0)
			r = txn_commit(&rq.txn, e);
		if (r == 0 && fl)
			flowlog_refresh();
		if (r < 0) {
			json_decref(*ret);
			*ret = NULL;
		}
	}
	if (r < 0) {
		json_t *dirty = json_incref(rq.txn.dirty_vpcs);
		json_t *regions = json_incref(rq.txn.dirty_regions);
		txn_rollback(&rq.txn);
		if (dry <= 0) {
			resync(dirty);
			const char *rid;
			json_t *x;
			json_object_foreach(regions, rid, x)
			{
				struct err ignored = {0};
				if (strcmp(rid, region) != 0 || !region_new)
					sync_region(rid, NULL, &ignored);
			}
		}
		json_decref(dirty);
		json_decref(regions);
		json_decref(rq.txn.dirty_regions);
		rq.txn.dirty_regions = NULL;
		if (region_new && dry <= 0) {
			char ns[64];
			name_region_ns(region, ns);
			nsh_forget(ns);
			netns_delete(ns);
		}
		json_decref(rq.txn.dirty_vpcs);
		rq.txn.dirty_vpcs = NULL;
		if (!err_isset(e))
			err_set(e, "InternalError", "request failed: %s", strerror(-r));
	}
	json_decref(rq.params);
	return r;
}

static void handle_line(struct server *s, struct client *c, const char *line, size_t len)
{
	struct err e = {0};
	json_t *result = NULL;
	struct rpc_request rq = {0};

	if (store_broken(V->store))
		err_set(&e, "InternalError",
			"the journal could not be made durable; restart vpcd to recover from the last acknowledged change");
	else if (!peer_allowed(&c->cred, s->gid, s->have_group))
		err_set(&e, "UnauthorizedOperation",
			"You are not authorized to perform this operation (uid %u is neither root nor in the socket's group).",
			(unsigned)c->cred.uid);
	else if (rpc_parse_request(line, len, &rq, &e) == 0 &&
		 dispatch(s->verbs, s->nverbs, rq.doc, &result, &e) < 0)
		log_info("%s (uid %u): %s: %s", rq.action, (unsigned)c->cred.uid, e.code, e.msg);
	rpc_request_done(&rq);
	_cleanup_free_ char *answer = rpc_response_line(err_isset(&e) ? NULL : result, &e);
	json_decref(result);
	size_t n = answer ? strlen(answer) : 0;
	char *out = answer ? realloc(c->out, c->outlen + n + 1) : NULL;
	if (!out) {
		log_error("out of memory for an answer to uid %u", (unsigned)c->cred.uid);
		return;
	}
	memcpy(out + c->outlen, answer, n + 1);
	c->out = out, c->outlen += n;
}

/* The end of a turn: one fdatasync for every request of it, then their answers. If the
 * journal cannot be made durable, none of them was: each gets the error instead. */
static void flush_answers(struct client *clients, int n)
{
	struct err e = {0};
	bool any = false;
	for (int i = 0; i < n && !any; i++)
		any = clients[i].outlen > 0;
	if (!any)
		return;
	int r = store_sync(V->store, &e);
	if (r < 0)
		log_error("%s", e.msg);
	for (int i = 0; i < n; i++) {
		struct client *c = &clients[i];
		if (!c->outlen)
			continue;
		if (r < 0) {
			/* As many error lines as answers. */
			_cleanup_free_ char *line = rpc_response_line(NULL, &e);
			for (char *p = c->out; line && (p = memchr(p, '\n', c->outlen - (size_t)(p - c->out))); p++)
				(void)rpc_send_all(c->fd, line, strlen(line));
		} else
			(void)rpc_send_all(c->fd, c->out, c->outlen);
		free(c->out);
		c->out = NULL, c->outlen = 0;
	}
}

int server_open(struct server *s, const char *path, const char *group, struct err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(e, "InvalidParameterValue", "socket path '%s' is too long", path);
	strcpy(sa.sun_path, path);
	s->have_group = false;
	if (group && *group) {
		struct group *g = getgrnam(group);
		if (!g)
			return err_set(e, "InvalidParameterValue", "socket group '%s' does not exist", group);
		s->gid = g->gr_gid;
		s->have_group = true;
	}
	/* A socket that answers belongs to a running daemon; one that does not is stale. */
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(probe);
		return err_set(e, "InvalidParameterValue",
			       "another daemon is already serving '%s'", path);
	}
	if (probe >= 0)
		close(probe);
	unlink(path);
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return err_setr(e, -errno, "InternalError", "cannot bind '%s': %m", path);
	if (chmod(path, 0660) < 0 || chown(path, 0, s->have_group ? s->gid : 0) < 0 ||
	    listen(s->fd, 64) < 0)
		return err_setr(e, -errno, "InternalError", "cannot set up '%s': %m", path);
	snprintf(s->path, sizeof(s->path), "%s", path);
	return 0;
}

int server_run(struct server *s)
{
	struct client clients[MAX_CLIENTS];
	enum { MAX_WATCHED = 4096 };
	static struct pollfd pfd[MAX_CLIENTS + 1 + MAX_WATCHED];
	int n = 0;

	signal(SIGPIPE, SIG_IGN);
	store_defer_sync(V->store, !s->one_sync_each);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!stopping) {
		pfd[0] = (struct pollfd){.fd = s->fd, .events = POLLIN};
		for (int i = 0; i < n; i++)
			pfd[i + 1] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
		size_t nw = dns_watch_fds(pfd + n + 1, MAX_WATCHED);
		if (poll(pfd, (nfds_t)n + 1 + nw, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %m");
			return -errno;
		}
		for (size_t i = 0; i < nw; i++)
			if (pfd[n + 1 + i].revents)
				dns_died(pfd[n + 1 + i].fd);
		for (int i = n - 1; i >= 0; i--) {
			struct client *c = &clients[i];
			if (!(pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (c->cap - c->len < 65536) {
				size_t cap = c->cap ? c->cap * 2 : 65536 * 2;
				char *nb = cap <= RPC_MAX_LINE * 2 ? realloc(c->buf, cap) : NULL;
				if (!nb)
					goto drop;
				c->buf = nb, c->cap = cap;
			}
			ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0)
				goto drop;
			c->len += (size_t)r;
			c->buf[c->len] = 0;
			char *nl;
			while ((nl = memchr(c->buf, '\n', c->len))) {
				*nl = 0;
				handle_line(s, c, c->buf, (size_t)(nl - c->buf));
				size_t used = (size_t)(nl - c->buf) + 1;
				memmove(c->buf, nl + 1, c->len - used);
				c->len -= used;
			}
			if (c->len > RPC_MAX_LINE)
				goto drop;
			continue;
drop:
			close(c->fd);
			free(c->buf);
			free(c->out);
			clients[i] = clients[--n];
		}
		flush_answers(clients, n);
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0)
				continue;
			struct client c = {.fd = fd};
			socklen_t len = sizeof(c.cred);
			struct timeval tv = {.tv_sec = 10};
			if (n >= MAX_CLIENTS || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c.cred, &len) < 0) {
				close(fd);
				continue;
			}
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			clients[n++] = c;
		}
	}
	flush_answers(clients, n);
	store_defer_sync(V->store, false);
	for (int i = 0; i < n; i++)
		close(clients[i].fd), free(clients[i].buf), free(clients[i].out);
	close(s->fd);
	unlink(s->path);
	return 0;
}
