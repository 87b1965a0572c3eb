/* libFuzzer target: a rest-json (FIS) request through api_rest_match, then the params it
 * built through api_rest_response as if they were a result (of whatever the action's output
 * shape is, so mostly refused: that walk is what is fuzzed), and the message through
 * api_rest_error. The input is a method byte (GET, POST, PUT, PATCH, DELETE), the path up to
 * a newline, the query string up to a newline, and the body. Built and run by
 * tests/fuzz/run; its corpus is replayed by meson (tests/api/meson.build). */
#include "api.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
static struct api_model *model;

static void check_err(int r, const struct err *e)
{
	/* Every refusal carries a code and a message. */
	if (r < 0 && (!e->code[0] || !e->msg[0]))
		abort();
}

/* The next line of the input (NUL-terminated, newline excluded; a NUL byte inside ends the
 * C string early, as it would in the HTTP front), advancing *p. NULL when out of memory. */
static char *line(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	char *s = strndup((const char *)*p, n);
	*p += n + (nl != NULL);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = {0};
	json_t *params = NULL;
	const char *action = NULL;
	int r;

	if (!model && api_model_load_service("fis", &model, &e) < 0)
		abort();
	if (size < 1)
		return 0;
	const char *method = methods[data[0] % 5];
	const uint8_t *p = data + 1, *end = data + size;
	char *path = line(&p, end);
	char *query = line(&p, end);
	if (!path || !query)
		abort();

	r = api_rest_match(model, method, path, query, p, (size_t)(end - p), &action, &params, &e);
	check_err(r, &e);
	if ((r == 0) != (params != NULL) || (r == 0) != (action != NULL))
		abort();
	if (params) {
		char *body = NULL;
		size_t len = 0;
		if (!json_is_object(params) || !api_model_has_action(model, action))
			abort();
		err_clear(&e);
		r = api_rest_response(model, action, params, &body, &len, &e);
		check_err(r, &e);
		if (r == 0 && (!body || strlen(body) != len))
			abort();
		free(body);
	}
	{
		int status = 0;
		char *body = api_rest_error(model, e.code[0] ? e.code : query, path, &status);
		if (!body || status < 400 || status > 599)
			abort();
		free(body);
	}
	json_decref(params);
	free(path);
	free(query);
	return 0;
}
