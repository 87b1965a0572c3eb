/* The live topology page, in the api front (http.c hands over every path under /topology of
 * the host's endpoint): GET /topology?token=T is the page (ec2d/topology.html, built in),
 * POST /topology/call?token=T {"Call", "Region", "Params"} is one of its data calls. The
 * front knows neither the token nor what the page may call: both go to the core as
 * TopologyRelay on the front's own RPC, which checks them (topology.c). A wrong token is 403. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "topology.h"

extern const char topology_page_html[]; /* topology_page.c, made from topology.html at build */

bool topology_path(const char *path)
{
	return !strncmp(path, "/topology", 9) && (path[9] == 0 || path[9] == '/');
}

bool topology_on(struct MHD_Connection *c, struct MHD_Daemon *host)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_DAEMON);
	if (!ci || !host)
		return false;
	const union MHD_DaemonInfo *mine =
	    MHD_get_daemon_info(ci->daemon, MHD_DAEMON_INFO_LISTEN_FD);
	const union MHD_DaemonInfo *theirs = MHD_get_daemon_info(host, MHD_DAEMON_INFO_LISTEN_FD);
	return ci->daemon == host || (mine && theirs && mine->listen_fd == theirs->listen_fd);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     char *body)
{
	if (!body)
		return MHD_NO;
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	/* Nothing from elsewhere: the page's script and style are its own, its data this origin's.
	 */
	MHD_add_response_header(
	    r, "Content-Security-Policy",
	    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
	    "connect-src 'self'; img-src data:; frame-ancestors 'none'");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	return reply(c, status, "text/plain; charset=utf-8", strdup(text));
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, json_t *doc)
{
	char *s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return reply(c, status, "application/json", s);
}

static enum MHD_Result reply_error(struct MHD_Connection *c, const struct err *e)
{
	unsigned status = !strcmp(e->code, "AccessDenied")	   ? 403
			  : !strcmp(e->code, "ServiceUnavailable") ? 503
								   : 400;
	return reply_json(c, status,
			  json_pack("{s:{s:s, s:s}}", "Error", "Code", e->code, "Message", e->msg));
}

/* token=HEX from the query string; anything else in it is ignored. */
static void query_token(const char *query, char out[static 65])
{
	*out = 0;
	for (const char *p = query; p && *p;) {
		const char *end = strchr(p, '&');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > 6 && !strncmp(p, "token=", 6)) {
			size_t t = n - 6;
			if (t < 65 && strspn(p + 6, "0123456789abcdef") >= t) {
				memcpy(out, p + 6, t);
				out[t] = 0;
			}
		}
		p = end ? end + 1 : NULL;
	}
}

enum MHD_Result topology_http(struct MHD_Connection *c, const char *method, const char *path,
			      const char *query, const char *body, size_t len,
			      topology_call_fn call)
{
	char tok[65];
	struct err e = {0};
	query_token(query, tok);
	bool page = !strcmp(path, "/topology") || !strcmp(path, "/topology/");
	if (!page && strcmp(path, "/topology/call"))
		return reply_text(c, 404, "404 Not Found\n");
	if (strcmp(method, page ? "GET" : "POST"))
		return reply_text(c, 405,
				  page ? "405 Method Not Allowed: GET the page\n"
				       : "405 Method Not Allowed: POST a call\n");

	_cleanup_json_ json_t *params = NULL, *res = NULL;
	const char *region = "us-east-1";
	if (page) {
		params = json_pack("{s:s, s:s}", "Token", tok, "Call", "Hello");
	} else {
		json_error_t je;
		_cleanup_json_ json_t *req =
		    json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
		json_t *p = json_object_get(req, "Params"), *rg = json_object_get(req, "Region");
		if (!json_is_object(req) || !json_is_string(json_object_get(req, "Call")) ||
		    (p && !json_is_object(p)) || (rg && !json_is_string(rg))) {
			err_set(&e, "InvalidParameterValue",
				"A call is {\"Call\": NAME, \"Region\": R, \"Params\": {...}}");
			return reply_error(c, &e);
		}
		if (rg)
			region = json_string_value(rg);
		params = json_pack("{s:s, s:O, s:s, s:o}", "Token", tok, "Call",
				   json_object_get(req, "Call"), "Region", region, "Params",
				   p ? json_incref(p) : json_object());
		if (call("TopologyRelay", region, params, &res, &e) < 0) {
			if (!err_isset(&e))
				err_set(&e, "InternalError", "the call failed");
			return reply_error(c, &e);
		}
		return reply_json(c, 200, json_pack("{s:O}", "Result", res ? res : json_null()));
	}
	if (call("TopologyRelay", region, params, &res, &e) < 0) {
		if (!strcmp(e.code, "AccessDenied"))
			return reply_text(c, 403,
					  "403 Forbidden: the page's URL carries a token: "
					  "`ec2d describe-lab` prints it (TopologyUrl)\n");
		char *msg = NULL;
		if (asprintf(&msg, "503 Service Unavailable: %s\n", e.msg) < 0)
			return MHD_NO;
		return reply(c, 503, "text/plain; charset=utf-8", msg);
	}
	return reply(c, 200, "text/html; charset=utf-8", strdup(topology_page_html));
}
