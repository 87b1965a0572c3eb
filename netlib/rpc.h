/* The control protocol between a CLI and its daemon: one JSON object per line over AF_UNIX.
 *   request:  {"Action": "CreateVpc", "Region": "us-east-1", "Params": {...}}
 *   response: {"Result": {...}}  or  {"Error": {"Code": "...", "Message": "..."}}
 *   before the response, a daemon may send event lines: {"Progress": "..."} (shown on a
 *   terminal), {"Stdout"|"Stderr": "<base64>"} (exec's output)
 * Lines are bounded by RPC_MAX_LINE; the server drops a peer that sends more. */
#pragma once
#include <jansson.h>
#include "err.h"

#define RPC_MAX_LINE (16u << 20)

typedef void (*rpc_event_fn)(json_t *event, void *data);
/* A connection to a daemon's socket (fd, close-on-exec), or -errno with `e` set
 * (ServiceUnavailable when nothing listens there). */
int rpc_connect(const char *sock_path, struct err *e);
/* Sends req; passes each event line to on_event; returns the answer. */
int rpc_call_stream(const char *sock_path, json_t *req, rpc_event_fn on_event, void *data,
		    json_t **ret_result, struct err *e);
/* A daemon sends an event line before its answer. */
int rpc_send_event(int fd, json_t *ev);
/* Sends req, waits for the answer (progress events are shown on a terminal). A daemon-side error is returned as -EREMOTE with e filled. */
int rpc_call(const char *sock_path, json_t *req, json_t **ret_result, struct err *e);
/* Sends the answer line: the error if `e` is set, else the result (borrowed; NULL is {}). */
int rpc_send_response(int fd, json_t *result, const struct err *e);
/* Sends all n bytes (no SIGPIPE); 0 or -errno. */
int rpc_send_all(int fd, const char *b, size_t n);
/* The response line (newline-terminated, malloc'd) rpc_send_response sends; NULL on ENOMEM. */
char *rpc_response_line(json_t *result, const struct err *e);

/* A parsed request line. `doc` owns the rest; Region defaults to "us-east-1" and Params to {},
 * and both defaults are written into `doc`, so code that reads `doc` sees the same values. */
struct rpc_request {
	json_t *doc;
	const char *action;
	const char *region;
	json_t *params;
};
/* Parses and checks one request line (`buf`, `n` bytes, up to but not including its newline):
 * a JSON object whose Action is 1-64 letters and digits, whose Region, if given, is 1-32 of
 * [a-z0-9-] starting with a letter (it becomes part of kernel object names), and whose Params,
 * if given, is an object. On failure returns -EINVAL with `e` set (InvalidRequest or
 * InvalidParameterValue) and leaves *ret untouched. */
int rpc_parse_request(const char *buf, size_t n, struct rpc_request *ret, struct err *e);
void rpc_request_done(struct rpc_request *r);
