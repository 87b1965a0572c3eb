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
/* Sends req; passes each event line to on_event; returns the answer. */
int rpc_call_stream(const char *sock_path, json_t *req, rpc_event_fn on_event, void *data,
		    json_t **ret_result, struct err *e);
/* A daemon sends an event line before its answer. */
int rpc_send_event(int fd, json_t *ev);
/* Sends req, waits for the answer (progress events are shown on a terminal). A daemon-side error is returned as -EREMOTE with e filled. */
int rpc_call(const char *sock_path, json_t *req, json_t **ret_result, struct err *e);
/* Builds the response line for a result (stolen) or an error. */
char *rpc_response(json_t *result, const struct err *e);
