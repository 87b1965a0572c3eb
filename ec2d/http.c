/* The api front (`ec2d front api`, netlib/front.h): the EC2 Query API over HTTP
 * (libmicrohttpd), so that the aws CLI, boto3 and the SDKs drive the lab with --endpoint-url;
 * STS and IAM's identity calls on the same endpoint, and FIS (rest-json: the method and
 * path name the operation, JSON in and out), told apart by the SigV4 scope's service
 * name. It runs without privilege, on the sockets and credentials the core gave it: the host's
 * endpoint at start, and one inside each VPC with instances as they come (vpc_api.c). Every
 * request is SigV4-verified; its form (POST body or query string) becomes the same parameter
 * object the CLI sends, and goes to the core over the RPC of its own socket (/core.sock in its
 * chroot). The untrusted-input parsing lives in ec2d/api/ (fuzzed); this file only moves
 * bytes between MHD, it and the core. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "api.h"
#include "cleanup.h"
#include "ec2d.h"
#include "front.h"
#include "log.h"
#include "rpc.h"
#include "topology.h"

/* The headers of a signed EC2 request are a few KiB; the body is gathered apart, bounded by
 * API_FORM_MAX_BYTES. 512 connections of 256 KiB bound what clients can pin to 128 MiB. */
#define HTTP_MAX_CONNECTIONS 512
#define HTTP_CONNECTION_MEMORY (256 * 1024)
/* Inside a VPC (vpc_api.c): fewer, and a bound per caller, so that one instance holding
 * connections open cannot shut the others of its VPC out (as for the metadata service). Two
 * threads, so that one slow call (a launch) does not hold every other caller of the VPC. */
#define VPC_CONNECTIONS 64u
#define VPC_CONNECTIONS_PER_INSTANCE 16u
#define VPC_THREADS 2u

/* The services on the endpoint, by SigV4 signing name: EC2 and FIS go to the core's dispatch
 * (their action names do not collide), STS and IAM to identity.c; CloudWatch Logs (json
 * protocol) to the core too, which passes it on to vpcd (docs/logs.md). */
static const char *const services[] = {"ec2", "sts", "iam", "fis", "logs", "cloudformation", NULL};
#define NSERVICES (sizeof(services) / sizeof(services[0]) - 1)

struct http {
	struct MHD_Daemon *d;
	struct api_model *models[NSERVICES];
	struct api_creds *creds;
	long long created; /* the credentials file's mtime: the IAM user's CreateDate */
	unsigned timeout;  /* seconds a connection may be idle */
};

static struct http H;

/* An EC2 or FIS action, done by the core. */
static int core_call(const char *action, const char *region, json_t *params, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *req = json_pack("{s:s, s:s, s:O}", "Action", action, "Region", region,
					       "Params", params);
	int r = rpc_call_stream("/core.sock", req, NULL, NULL, ret, e);
	if (r < 0 && r != -EREMOTE) {
		struct err why = *e;
		err_set(e, "ServiceUnavailable", "ec2d's core does not answer (%s)",
			err_isset(&why) ? why.msg : strerror(-r));
	}
	return r;
}

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

static bool rest_json(const struct api_model *m)
{
	return !strcmp(api_model_protocol(m), "rest-json");
}

/* A JSON answer (rest-json) carries its request ID in a header, and an error's code in
 * x-amzn-ErrorType (where botocore's RestJSONParser reads it). */
static enum MHD_Result send_response(struct MHD_Connection *c, unsigned status, char *body,
				     size_t len, bool json, const char *rid, const char *error_code)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	if (json) {
		MHD_add_response_header(r, "Content-Type", "application/json");
		MHD_add_response_header(r, "x-amzn-RequestId", rid);
		if (error_code)
			MHD_add_response_header(r, "x-amzn-ErrorType", error_code);
	} else {
		MHD_add_response_header(r, "Content-Type", "text/xml;charset=UTF-8");
		MHD_add_response_header(r, "Server", "AmazonEC2");
	}
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_body(struct MHD_Connection *c, unsigned status, char *body, size_t len)
{
	return send_response(c, status, body, len, false, NULL, NULL);
}

static enum MHD_Result send_error(struct MHD_Connection *c, const struct api_model *m, const struct err *e,
				  const char *rid)
{
	if (m && !strcmp(api_model_protocol(m), "json")) {
		int status = 500;
		const char *code = NULL;
		char *j = api_json_error(m, e->code, e->msg, &status, &code);
		if (!j)
			return MHD_NO;
		return send_response(c, (unsigned)status, j, strlen(j), true, rid, code);
	}
	if (m && rest_json(m)) {
		int status = 500;
		char *j = api_rest_error(m, e->code, e->msg, &status);
		if (!j)
			return MHD_NO;
		return send_response(c, (unsigned)status, j, strlen(j), true, rid, e->code);
	}
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

/* A verified rest-json (FIS) request: method and path name the operation, the core does it. */
static enum MHD_Result handle_rest(struct MHD_Connection *c, const struct api_model *m,
				   const struct api_request *req, const char *region,
				   const char *rid)
{
	_cleanup_json_ json_t *params = NULL, *result = NULL;
	struct err e = {0};
	const char *action = NULL;
	char *body = NULL;
	size_t len = 0;

	if (api_rest_match(m, req->method, req->path, req->query, req->body, req->body_len, &action,
			   &params, &e) < 0)
		return send_error(c, m, &e, rid);
	if (core_call(action, region, params, &result, &e) < 0) {
		if (!err_isset(&e))
			err_set(&e, "InternalError", "%s failed", action);
		return send_error(c, m, &e, rid);
	}
	if (api_rest_response(m, action, result, &body, &len, &e) < 0)
		return send_error(c, m, &e, rid);
	return send_response(c, 200, body, len, true, rid, NULL);
}

/* A verified json-protocol (CloudWatch Logs) request: POST /, X-Amz-Target names the
 * operation, the body is its input; the core passes it on to vpcd. */
static enum MHD_Result handle_json(struct MHD_Connection *c, const struct api_model *m,
				   const struct api_request *req, const char *region,
				   const char *rid)
{
	_cleanup_json_ json_t *params = NULL, *result = NULL;
	const char *target = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Amz-Target");
	struct err e = {0};
	const char *action = NULL;
	char *body = NULL;
	size_t len = 0;

	if (strcmp(req->method, "POST") || strcmp(req->path, "/"))
		target = NULL; /* UnknownOperationException, as the service answers */
	if (api_json_match(m, target, req->body, req->body_len, &action, &params, &e) < 0 ||
	    core_call(action, region, params, &result, &e) < 0 ||
	    api_rest_response(m, action, result, &body, &len, &e) < 0) {
		if (!err_isset(&e))
			err_set(&e, "InternalError", "%s failed", action ? action : "the request");
		return send_error(c, m, &e, rid);
	}
	return send_response(c, 200, body, len, true, rid, NULL);
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
	/* PUT, PATCH and DELETE are FIS's (rest-json) only: which service a request is for is
	 * known once its signature's scope is read, below. */
	bool post_get = !strcmp(method, "POST") || !strcmp(method, "GET");
	if (!post_get && strcmp(method, "PUT") && strcmp(method, "PATCH") &&
	    strcmp(method, "DELETE")) {
		err_set(&e, "InvalidHttpRequest", "The HTTP method '%s' is not supported: use POST or GET", method);
		return send_error(c, m, &e, rid);
	}
	const char *raw = k->uri ? k->uri : "/";
	const char *q = strchr(raw, '?');
	_cleanup_free_ char *path = q ? strndup(raw, (size_t)(q - raw)) : strdup(raw);
	const char *query = q ? q + 1 : "";
	/* The topology page, on the host's endpoint only, behind its token (topology_http.c). */
	if (topology_path(path) && topology_on(c, H.d))
		return topology_http(c, method, path, query, k->body, k->len, core_call);

	struct hdrs h = {0};
	MHD_get_connection_values(c, MHD_HEADER_KIND, collect, &h);
	struct api_request req = {.method = method, .path = path, .query = query, .headers = h.v,
				  .nheaders = h.n, .body = k->body ? k->body : "", .body_len = k->len,
				  .now = time(NULL)};
	char region[32] = "", key[64] = "";
	int svc = -1;
	int r = api_sigv4_verify_any(H.creds, &req, services, &svc, region, key, &e);
	free(h.v);
	req.headers = NULL, req.nheaders = 0; /* nothing past the signature reads them */
	m = svc >= 0 ? H.models[svc] : H.models[0];
	if (!post_get && !rest_json(m)) {
		/* EC2, STS and IAM answer any other method as they did before FIS was here,
		 * whatever the signature. */
		err_set(&e, "InvalidHttpRequest",
			"The HTTP method '%s' is not supported: use POST or GET", method);
		return send_error(c, H.models[0], &e, rid);
	}
	if (r < 0 && svc > 0 && !strcmp(e.code, "AuthFailure"))
		/* What STS and IAM call an unknown access key, and what JSON services do. */
		err_set(&e, rest_json(m) ? "UnrecognizedClientException" : "InvalidClientTokenId",
			"The security token included in the request is invalid.");
	if (r < 0)
		return send_error(c, m, &e, rid);
	if (rest_json(m))
		return handle_rest(c, m, &req, region, rid);
	if (!strcmp(api_model_protocol(m), "json"))
		return handle_json(c, m, &req, region, rid);

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
	/* CloudFormation (query protocol) is the core's (cfn.c), like EC2. */
	bool identity = svc > 0 && strcmp(services[svc], "cloudformation");
	r = identity ? identity_call(services[svc], action, key, api_creds_profile(H.creds, key), H.created,
				    params, &result, &e)
		    : core_call(action, region, params, &result, &e);
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

/* A daemon on one listening socket (it owns it from here), with the request handler above. */
static struct MHD_Daemon *serve(int fd, unsigned threads, unsigned connections, unsigned per_ip)
{
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY, 0, NULL, NULL,
				handle, NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
				MHD_OPTION_URI_LOG_CALLBACK, uri_logger, NULL, MHD_OPTION_NOTIFY_COMPLETED,
				completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, H.timeout,
				MHD_OPTION_CONNECTION_LIMIT, connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				per_ip, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
				MHD_OPTION_END);
}

/* The endpoint inside each VPC (vpc_api.c), by VPC: the channel's thread's alone. */
struct vpc_listener {
	char vpc[32];
	struct MHD_Daemon *d;
};
static struct vpc_listener **vls;
static size_t nvls;

static void vpc_listen(const char *vpc, int fd)
{
	for (size_t i = 0; i < nvls; i++)
		if (!strcmp(vls[i]->vpc, vpc)) {
			close(fd); /* a start-up resend of one already served */
			return;
		}
	struct vpc_listener *l = calloc(1, sizeof(*l)), **nv = realloc(vls, (nvls + 1) * sizeof(*vls));
	if (nv)
		vls = nv;
	if (!l || !nv) {
		free(l);
		close(fd);
		return;
	}
	snprintf(l->vpc, sizeof(l->vpc), "%.31s", vpc);
	l->d = serve(fd, VPC_THREADS, VPC_CONNECTIONS, VPC_CONNECTIONS_PER_INSTANCE);
	if (!l->d) {
		log_error("api front: cannot serve the EC2 API inside %s", vpc);
		close(fd);
		free(l);
		return;
	}
	vls[nvls++] = l;
}

static void vpc_close(const char *vpc)
{
	for (size_t i = 0; i < nvls; i++)
		if (!strcmp(vls[i]->vpc, vpc)) {
			MHD_stop_daemon(vls[i]->d); /* closes the socket it was given */
			free(vls[i]);
			vls[i] = vls[--nvls];
			return;
		}
}

/* `ec2d front api --root DIR --timeout S`: the listening socket on FRONT_FIRST_FD, the
 * credentials file on the next. */
int http_front_main(int argc, char **argv)
{
	static const struct option opts[] = {{"root", 1, 0, 'r'}, {"timeout", 1, 0, 't'}, {0, 0, 0, 0}};
	const char *root = NULL;
	unsigned timeout = 60;
	int c, r;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'r')
			root = optarg;
		else if (c == 't')
			timeout = (unsigned)strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	struct err e = {0};
	char creds[64];
	struct stat st;
	snprintf(creds, sizeof(creds), "/proc/self/fd/%d", FRONT_FIRST_FD + 1);
	if (!root) {
		log_error("api front: started without --root");
		return 2;
	}
	if ((r = api_creds_load(creds, &H.creds, &e)) < 0)
		goto fail;
	H.created = fstat(FRONT_FIRST_FD + 1, &st) == 0 ? (long long)st.st_mtime : 0;
	for (size_t i = 0; i < NSERVICES; i++)
		if ((r = api_model_load_service(services[i], &H.models[i], &e)) < 0)
			goto fail;
	if ((r = front_begin("api", argc, argv, FRONT_FIRST_FD)))
		return r;
	H.timeout = timeout;
	H.d = serve(FRONT_FIRST_FD, 4, HTTP_MAX_CONNECTIONS, 0);
	if (!H.d) {
		err_set(&e, "InternalError", "api front: libmicrohttpd does not start: %m");
		goto fail;
	}
	/* Until the core goes (its end of the channel closes): the VPCs' sockets come as
	 * "listen <vpc>" with the fd, and go with "close <vpc>". */
	char msg[FRONT_MSG_MAX + 1];
	int fd;
	while (front_recv(FRONT_CHANNEL_FD, msg, sizeof(msg), &fd) > 0) {
		if (!strncmp(msg, "listen ", 7) && fd >= 0)
			vpc_listen(msg + 7, fd);
		else if (!strncmp(msg, "close ", 6))
			vpc_close(msg + 6);
		else if (fd >= 0)
			close(fd);
	}
	MHD_stop_daemon(H.d);
	return 0;
fail:
	log_error("api front: %s", e.msg);
	return 1;
}
