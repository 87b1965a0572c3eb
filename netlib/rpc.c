#include "rpc.h"
#include "cleanup.h"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define DIGITS "0123456789"
#define ALNUM LOWER "ABCDEFGHIJKLMNOPQRSTUVWXYZ" DIGITS

int rpc_send_all(int fd, const char *b, size_t n)
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

int rpc_connect(const char *sock_path, struct err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock_path) >= sizeof(sa.sun_path))
		return err_set(e, "InvalidParameterValue", "socket path '%s' is too long", sock_path);
	strcpy(sa.sun_path, sock_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = err_setr(e, -errno, "ServiceUnavailable",
				 "cannot reach the daemon at '%s': %m (is it running? see --run-dir)", sock_path);
		if (fd >= 0)
			close(fd);
		return r;
	}
	return fd;
}

int rpc_call_stream(const char *sock_path, json_t *req, rpc_event_fn on_event, void *data,
		    json_t **ret_result, struct err *e)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *line = NULL, *buf = NULL;
	size_t len = 0, cap = 0;
	int r;

	if ((fd = rpc_connect(sock_path, e)) < 0)
		return fd;
	line = json_dumps(req, JSON_COMPACT);
	if (!line)
		return -ENOMEM;
	r = rpc_send_all(fd, line, strlen(line));
	if (r == 0)
		r = rpc_send_all(fd, "\n", 1);
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

static int send_line(int fd, json_t *doc)
{
	_cleanup_free_ char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	if (!s)
		return -ENOMEM;
	size_t n = strlen(s);
	s[n] = '\n'; /* over the NUL: the buffer is sent by length */
	return rpc_send_all(fd, s, n + 1);
}

int rpc_send_event(int fd, json_t *ev) { return send_line(fd, ev); }

char *rpc_response_line(json_t *result, const struct err *e)
{
	_cleanup_json_ json_t *resp = NULL;
	if (e && err_isset(e)) {
		resp = json_pack("{s:{s:s, s:s}}", "Error", "Code", e->code, "Message", e->msg);
		if (!resp) {
			/* A message cut inside a UTF-8 sequence, or quoting bytes that are not
			 * UTF-8, still gets an answer: the bytes jansson refuses become '?'. */
			char code[sizeof(e->code)], msg[sizeof(e->msg)];
			snprintf(code, sizeof(code), "%s", e->code);
			snprintf(msg, sizeof(msg), "%s", e->msg);
			for (char *c = code; *c; c++)
				*c = (unsigned char)*c >= 0x80 ? '?' : *c;
			for (char *c = msg; *c; c++)
				*c = (unsigned char)*c >= 0x80 ? '?' : *c;
			resp = json_pack("{s:{s:s, s:s}}", "Error", "Code", code, "Message", msg);
		}
	} else
		resp = json_pack("{s:o}", "Result", result ? json_incref(result) : json_object());
	char *line = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
	char *withnl = line ? realloc(line, strlen(line) + 2) : NULL;
	if (!withnl) {
		free(line);
		return NULL;
	}
	strcat(withnl, "\n");
	return withnl;
}

int rpc_send_response(int fd, json_t *result, const struct err *e)
{
	_cleanup_free_ char *line = rpc_response_line(result, e);
	return line ? rpc_send_all(fd, line, strlen(line)) : -ENOMEM;
}

/* 1 to max characters: the first from `first`, the rest from `rest`. */
static bool name_ok(const char *s, size_t max, const char *first, const char *rest)
{
	size_t n = strlen(s);
	if (n < 1 || n > max || !strchr(first, s[0]))
		return false;
	return strspn(s + 1, rest) == n - 1;
}

int rpc_parse_request(const char *buf, size_t n, struct rpc_request *ret, struct err *e)
{
	json_error_t je;
	_cleanup_json_ json_t *doc = json_loadb(buf, n, 0, &je);

	if (!json_is_object(doc))
		return err_set(e, "InvalidRequest", "The request is not a JSON object: %s",
			       doc ? "wrong type" : je.text);
	json_t *action = json_object_get(doc, "Action"), *region = json_object_get(doc, "Region"),
	       *params = json_object_get(doc, "Params");
	if (!json_is_string(action) ||
	    !name_ok(json_string_value(action), 64, ALNUM, ALNUM))
		return err_set(e, "InvalidRequest",
			       "The request's Action must be 1 to 64 letters and digits");
	if (region && (!json_is_string(region) ||
		       !name_ok(json_string_value(region), 32, LOWER, LOWER DIGITS "-")))
		return err_set(e, "InvalidParameterValue",
			       "The region must be 1 to 32 lowercase letters, digits and hyphens, "
			       "starting with a letter");
	if (params && !json_is_object(params))
		return err_set(e, "InvalidRequest", "The request's Params must be an object");
	if (!region)
		json_object_set_new(doc, "Region", json_string("us-east-1"));
	if (!params)
		json_object_set_new(doc, "Params", json_object());
	ret->action = json_string_value(json_object_get(doc, "Action"));
	ret->region = json_string_value(json_object_get(doc, "Region"));
	ret->params = json_object_get(doc, "Params");
	ret->doc = TAKE_PTR(doc);
	return 0;
}

void rpc_request_done(struct rpc_request *r)
{
	json_decref(r->doc);
	*r = (struct rpc_request){0};
}
