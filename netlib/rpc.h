/* The control protocol between a CLI and its daemon: one JSON object per line over AF_UNIX.
 *   request:  {"Action": "CreateVpc", "Region": "us-east-1", "Params": {...}}
 *   response: {"Result": {...}}  or  {"Error": {"Code": "...", "Message": "..."}}
 * Lines are bounded by RPC_MAX_LINE; the server drops a peer that sends more. */
#pragma once
#include <jansson.h>
#include "err.h"

#define RPC_MAX_LINE (16u << 20)

/* Sends req, waits for the answer. A daemon-side error is returned as -EREMOTE with e filled. */
int rpc_call(const char *sock_path, json_t *req, json_t **ret_result, struct err *e);
/* Builds the response line for a result (stolen) or an error. */
char *rpc_response(json_t *result, const struct err *e);
