/* libFuzzer target: a json-protocol (awsJson1_1, CloudWatch Logs) request through
 * api_json_match, then the params it built through api_rest_response as if they were a
 * result (the output walk), and the message through api_json_error. The input is the
 * X-Amz-Target header up to a newline (a first byte 0x00 alone: no header), then the body.
 * Built and run by tests/fuzz/run; its corpus is replayed by meson (tests/api/meson.build). */
#include "api.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct api_model *model;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = {0};
	json_t *params = NULL;
	const char *action = NULL;
	int r;

	if (!model && api_model_load_service("logs", &model, &e) < 0)
		abort();
	const uint8_t *nl = memchr(data, '\n', size);
	size_t tn = nl ? (size_t)(nl - data) : size;
	char *target = strndup((const char *)data, tn);
	if (!target)
		abort();
	const uint8_t *body = data + tn + (nl != NULL);
	size_t blen = size - tn - (nl != NULL);

	r = api_json_match(model, tn == 1 && data[0] == 0 ? NULL : target, body, blen, &action,
			   &params, &e);
	/* Every refusal carries a code and a message; success, an action and an object. */
	if (r < 0 && (!e.code[0] || !e.msg[0]))
		abort();
	if ((r == 0) != (params != NULL) || (r == 0) != (action != NULL))
		abort();
	if (params) {
		char *out = NULL;
		size_t len = 0;
		if (!json_is_object(params) || !api_model_has_action(model, action))
			abort();
		struct err e2 = {0};
		if (api_rest_response(model, action, params, &out, &len, &e2) == 0) {
			if (!out || strlen(out) != len)
				abort();
		} else if (!e2.code[0])
			abort();
		free(out);
		json_decref(params);
	}
	int status = 0;
	const char *code = NULL;
	char *doc = api_json_error(model, r < 0 ? e.code : "InvalidParameterException",
				   r < 0 ? e.msg : target, &status, &code);
	if (!doc || status < 400 || status > 599 || !code)
		abort();
	free(doc);
	free(target);
	return 0;
}
