/* Shared between the files of the EC2 Query API codec; not part of its interface. */
#pragma once
#include <stdint.h>
#include "api.h"

/* The shape named `name`, or NULL. Borrowed from the model. */
const json_t *api_model_shape(const struct api_model *m, const char *name);
/* The shape of the operation's input or output (NULL if it has none). */
const json_t *api_model_input(const struct api_model *m, const char *action);
const json_t *api_model_output(const struct api_model *m, const char *action);
/* The operation's object in the model ({"name", "http": {"method", "requestUri"}, "input",
 * "output", "errors"}), or NULL. */
const json_t *api_model_operation(const struct api_model *m, const char *action);
/* A member's or list item's shape (the object {"shape": NAME, ...} points to). */
const json_t *api_model_ref_shape(const struct api_model *m, const json_t *ref);
/* The protocol is "query" (not EC2's own), its XML namespace, and an operation's resultWrapper
 * (NULL if none). */
bool api_model_query_protocol(const struct api_model *m);
const char *api_model_xmlns(const struct api_model *m);
const char *api_model_version(const struct api_model *m); /* apiVersion, e.g. 2011-06-15 */
/* The json protocol's X-Amz-Target prefix (CloudWatch Logs: Logs_20140328), "" if none. */
const char *api_model_target_prefix(const struct api_model *m);
const char *api_model_result_wrapper(const struct api_model *m, const char *action);
/* The "type" of a shape ("structure", "list", "string", ...), "" if missing. */
const char *api_shape_type(const json_t *shape);
/* api_sigv4_verify for another service name (AWS's test vectors sign for "service"). */
int api_sigv4_verify_service(const struct api_creds *c, const struct api_request *req,
			     const char *service, char ret_region[static 32],
			     char ret_access_key[static 64], struct err *e);

/* The length of the UTF-8 sequence at s[0..n) with its code point in *cp, or 0 if it is not
 * well-formed (overlong, a surrogate, past U+10FFFF, cut short). xml.c; rest.c uses it too. */
size_t api_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* The value of a hex digit, or -1 (percent-decoding in form.c and sigv4.c). */
static inline int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
