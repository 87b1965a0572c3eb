/* The EC2 Query API over HTTP (libmicrohttpd), so that the aws CLI, boto3 and the SDKs drive
 * the lab with --endpoint-url; STS and IAM's identity calls on the same endpoint, told apart
 * by the SigV4 scope's service name. Every request is SigV4-verified; its form (POST body or query
 * string) becomes the same parameter object the CLI sends over the unix socket, and it goes to
 * the same dispatch (ec2d's actions, or vpcd's through its socket). The untrusted-input
 * parsing lives in ec2d/api/ (fuzzed); this file only moves bytes between MHD and it. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "api.h"
#include "cleanup.h"
#include "ec2d.h"
#include "log.h"

/* The headers of a signed EC2 request are a few KiB; the body is gathered apart, bounded by
 * API_FORM_MAX_BYTES. 512 connections of 256 KiB bound what clients can pin to 128 MiB. */
#define HTTP_MAX_CONNECTIONS 512
#define HTTP_CONNECTION_MEMORY (256 * 1024)

/* The services on the endpoint, by SigV4 signing name: EC2 goes to ec2d's dispatch, STS and
 * IAM to identity.c. */
static const char *const services[] = {"ec2", "sts", "iam", NULL};
#define NSERVICES (sizeof(services) / sizeof(services[0]) - 1)

struct http {
	struct MHD_Daemon *d;
	struct api_model *models[NSERVICES];
	struct api_creds *creds;
};

static struct http H;
char http_endpoint[96], http_credentials[600];

struct call {
	char *uri; /* raw, as received */
	char *body;
	size_t len;
	bool too_big, started;
};

static void *uri_logger(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)cls, (void)c;
	struct call *k = calloc(1, sizeof(*k));
	if (k)
		k->uri = strdup(uri);
	return k;
}

static void completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode t)
{
	(void)cls, (void)c, (void)t;
	struct call *k = *state;
	if (k) {
		free(k->uri);
		free(k->body);
		free(k);
	}
	*state = NULL;
}

struct hdrs {
	struct api_header *v;
	size_t n, cap;
};

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct hdrs *h = cls;
	(void)kind;
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 16;
		struct api_header *nv = realloc(h->v, h->cap * sizeof(*nv));
		if (!nv)
			return MHD_NO;
		h->v = nv;
	}
	h->v[h->n++] = (struct api_header){key, value ? value : ""};
	return MHD_YES;
}

static enum MHD_Result send_body(struct MHD_Connection *c, unsigned status, char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "text/xml;charset=UTF-8");
	MHD_add_response_header(r, "Server", "AmazonEC2");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, const struct api_model *m, const struct err *e,
				  const char *rid)
{
	char *x = api_xml_error_for(m, e->code, e->msg, rid);
	if (!x)
		return MHD_NO;
	return send_body(c, (unsigned)api_error_status(e->code), x, strlen(x));
}

static void request_id(char buf[static 37])
{
	unsigned char r[16] = {0};
	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		memset(r, 0x5a, sizeof(r));
	snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0],
		 r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
		 r[15]);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			      const char *version, const char *upload, size_t *upload_size, void **state)
{
	struct call *k = *state;
	(void)cls, (void)url, (void)version;
	if (!k)
		return MHD_NO;
	if (!k->started) {
		/* The headers: the body (if any) comes in the next calls, then a last one. */
		k->started = true;
		return MHD_YES;
	}
	if (*upload_size) {
		/* The body, whole, up to the form's bound. */
		if (k->len + *upload_size > API_FORM_MAX_BYTES) {
			k->too_big = true;
		} else {
			char *nb = realloc(k->body, k->len + *upload_size + 1);
			if (!nb)
				return MHD_NO;
			k->body = nb;
			memcpy(k->body + k->len, upload, *upload_size);
			k->len += *upload_size;
			k->body[k->len] = 0;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	char rid[37];
	struct err e = {0};
	const struct api_model *m = H.models[0]; /* EC2's error shape until the scope says otherwise */
	request_id(rid);
	if (k->too_big) {
		err_set(&e, "RequestEntityTooLarge", "The request body is larger than %u bytes", API_FORM_MAX_BYTES);
		return send_error(c, m, &e, rid);
	}
	if (strcmp(method, "POST") != 0 && strcmp(method, "GET") != 0) {
		err_set(&e, "InvalidHttpRequest", "The HTTP method '%s' is not supported: use POST or GET", method);
		return send_error(c, m, &e, rid);
	}
	const char *raw = k->uri ? k->uri : "/";
	const char *q = strchr(raw, '?');
	_cleanup_free_ char *path = q ? strndup(raw, (size_t)(q - raw)) : strdup(raw);
	const char *query = q ? q + 1 : "";

	struct hdrs h = {0};
	MHD_get_connection_values(c, MHD_HEADER_KIND, collect, &h);
	struct api_request req = {.method = method, .path = path, .query = query, .headers = h.v,
				  .nheaders = h.n, .body = k->body ? k->body : "", .body_len = k->len,
				  .now = time(NULL)};
	char region[32] = "", key[64] = "";
	int svc = -1;
	int r = api_sigv4_verify_any(H.creds, &req, services, &svc, region, key, &e);
	free(h.v);
	m = svc >= 0 ? H.models[svc] : H.models[0];
	if (r < 0 && svc > 0 && !strcmp(e.code, "AuthFailure"))
		/* What STS and IAM call an unknown access key. */
		err_set(&e, "InvalidClientTokenId", "The security token included in the request is invalid.");
	if (r < 0)
		return send_error(c, m, &e, rid);

	/* The form: the body of a POST, else the query string (minus the signature). */
	_cleanup_json_ json_t *kv = NULL, *params = NULL;
	const char *form = k->len ? k->body : query;
	size_t flen = k->len ? k->len : strlen(query);
	if (api_form_parse(form, flen, &kv, &e) < 0)
		return send_error(c, m, &e, rid);
	const char *action = json_string_value(json_object_get(kv, "Action"));
	if (!action) {
		err_set(&e, "MissingAction", "The request must contain the parameter Action");
		return send_error(c, m, &e, rid);
	}
	if (api_params_from_query(m, action, kv, &params, &e) < 0)
		return send_error(c, m, &e, rid);
	json_t *result = NULL;
	r = svc > 0 ? identity_call(services[svc], action, key, api_creds_profile(H.creds, key), params,
				    &result, &e)
		    : ec2d_dispatch(action, region, params, -1, &result, &e);
	if (r < 0) {
		if (!err_isset(&e))
			err_set(&e, "InternalError", "%s failed", action);
		return send_error(c, m, &e, rid);
	}
	char *xml = NULL;
	size_t xlen = 0;
	r = api_xml_response(m, action, result, rid, &xml, &xlen, &e);
	json_decref(result);
	if (r < 0)
		return send_error(c, m, &e, rid);
	return send_body(c, 200, xml, xlen);
}

int http_start(const char *listen, const char *creds_path, unsigned timeout, struct err *e)
{
	char host[64];
	unsigned port;
	const char *colon = strrchr(listen, ':');
	struct sockaddr_in sa = {.sin_family = AF_INET};
	if (!colon || (size_t)(colon - listen) >= sizeof(host) || sscanf(colon + 1, "%u", &port) != 1 ||
	    port > 65535)
		return err_set(e, "InvalidParameterValue", "--listen '%s': ADDRESS:PORT", listen);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return err_set(e, "InvalidParameterValue", "--listen '%s': '%s' is not an IPv4 address", listen, host);
	sa.sin_port = htons((uint16_t)port);
	int r;
	for (size_t i = 0; i < NSERVICES; i++)
		if ((r = api_model_load_service(services[i], &H.models[i], e)) < 0)
			return r;
	char path[600];
	if (creds_path && *creds_path) {
		r = api_creds_load(creds_path, &H.creds, e);
	} else {
		snprintf(path, sizeof(path), "%s/credentials", E->run_dir);
		r = api_creds_generate(path, &H.creds, e);
	}
	if (r < 0)
		return r;
	H.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY, 0, NULL, NULL,
			       handle, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_THREAD_POOL_SIZE, 4u,
			       MHD_OPTION_URI_LOG_CALLBACK, uri_logger, NULL,
			       MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
			       MHD_OPTION_CONNECTION_TIMEOUT, timeout,
			       MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
			       MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
			       MHD_OPTION_END);
	if (!H.d)
		return err_set(e, "InternalError", "cannot listen on %s: %m", listen);
	/* Port 0 picks a free port (tests): describe-lab tells which. */
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(H.d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(http_endpoint, sizeof(http_endpoint), "http://%s:%u", host, di ? di->port : port);
	snprintf(http_credentials, sizeof(http_credentials), "%s", creds_path && *creds_path ? creds_path : path);
	log_info("EC2 API on %s (credentials: %s)", http_endpoint, http_credentials);
	return 0;
}
