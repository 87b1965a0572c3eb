#include "rpc.h"
#include "cleanup.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

static int write_all(int fd, const char *b, size_t n)
{
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w, n -= (size_t)w;
	}
	return 0;
}

int rpc_call_stream(const char *sock_path, json_t *req, rpc_event_fn on_event, void *data,
		    json_t **ret_result, struct err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *line = NULL, *buf = NULL;
	size_t len = 0, cap = 0;
	int r;

	if (strlen(sock_path) >= sizeof(sa.sun_path))
		return err_set(e, "InvalidParameterValue", "socket path '%s' is too long", sock_path);
	strcpy(sa.sun_path, sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return err_setr(e, -errno, "ServiceUnavailable",
				"cannot reach the daemon at '%s': %m (is it running? see --run-dir)",
				sock_path);
	line = json_dumps(req, JSON_COMPACT);
	if (!line)
		return -ENOMEM;
	r = write_all(fd, line, strlen(line));
	if (r == 0)
		r = write_all(fd, "\n", 1);
	if (r < 0)
		return err_setr(e, r, "ServiceUnavailable", "cannot send to '%s': %s", sock_path,
				strerror(-r));
	for (;;) {
		char *nl = buf ? memchr(buf, '\n', len) : NULL;
		if (nl) {
			/* One whole line: an event (progress, output) or the answer. */
			*nl = 0;
			json_error_t je;
			_cleanup_json_ json_t *resp = json_loads(buf, 0, &je);
			size_t used = (size_t)(nl - buf) + 1;
			memmove(buf, nl + 1, len - used);
			len -= used;
			if (!resp)
				return err_set(e, "InternalError", "bad answer from the daemon: %s", je.text);
			json_t *er = json_object_get(resp, "Error");
			if (er) {
				err_set(e, json_string_value(json_object_get(er, "Code")) ?: "InternalError",
					"%s", json_string_value(json_object_get(er, "Message")) ?: "");
				return -EREMOTE;
			}
			json_t *res = json_object_get(resp, "Result");
			if (res) {
				*ret_result = json_incref(res);
				return 0;
			}
			if (on_event)
				on_event(resp, data);
			continue;
		}
		if (cap - len < 65536) {
			if (cap >= RPC_MAX_LINE * 2)
				return err_set(e, "InternalError", "the daemon's answer is too long");
			cap = cap ? cap * 2 : 65536 * 2;
			char *nb = realloc(buf, cap);
			if (!nb)
				return -ENOMEM;
			buf = nb;
		}
		ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	return err_setr(e, -ECONNRESET, "ServiceUnavailable",
			"the daemon at '%s' closed the connection without answering", sock_path);
}

/* Progress lines go to a terminal, and nowhere otherwise. */
static void print_progress(json_t *ev, void *data)
{
	(void)data;
	const char *p = json_string_value(json_object_get(ev, "Progress"));
	if (p && isatty(2))
		fprintf(stderr, "\r\033[K%s", p);
}

int rpc_call(const char *sock_path, json_t *req, json_t **ret_result, struct err *e)
{
	int r = rpc_call_stream(sock_path, req, print_progress, NULL, ret_result, e);
	if (isatty(2))
		fprintf(stderr, "\r\033[K");
	return r;
}

int rpc_send_event(int fd, json_t *ev)
{
	char *s = json_dumps(ev, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	int r = write_all(fd, s, strlen(s));
	if (r == 0)
		r = write_all(fd, "\n", 1);
	free(s);
	return r;
}

char *rpc_response(json_t *result, const struct err *e)
{
	json_t *resp;
	if (e && err_isset(e))
		resp = json_pack("{s:{s:s, s:s}}", "Error", "Code", e->code, "Message", e->msg);
	else
		resp = json_pack("{s:o}", "Result", result ? result : json_object());
	char *s = json_dumps(resp, JSON_COMPACT);
	json_decref(resp);
	return s;
}
