/* A command-line driver of the EC2 Query API codec, for the python tests that hold it up
 * against botocore (test_params.py, test_xml.py, test_sigv4.py):
 *   api_tool actions                       the model's actions, one a line
 *   api_tool form < TEXT                   api_form_parse -> {"name": "value"}
 *   api_tool params ACTION < TEXT          api_form_parse + api_params_from_query -> params
 *   api_tool xml ACTION [REQUEST_ID] < JSON   api_xml_response
 *   api_tool error CODE MESSAGE [REQUEST_ID]  api_xml_error
 *   api_tool status CODE                   api_error_status
 *   api_tool sigv4 CREDS [SERVICE] < JSON  api_sigv4_verify; the request is
 *        {"method", "path", "query", "headers": [[name, value]...], "body_hex", "now"}
 *   api_tool creds PATH | creds-generate PATH   -> {"FirstKey": ..., "Secret": ...}
 *   api_tool rest-match METHOD PATH QUERY < BODY   api_rest_match -> {"Action", "Params"}
 *   api_tool rest-response ACTION < JSON   api_rest_response (the body as written)
 *   api_tool rest-error CODE MESSAGE       api_rest_error -> {"Status", "Body"}
 * The model is API_SERVICE's (ec2, sts, iam, fis; ec2 when unset).
 * JSON answers are compact with sorted keys; an error prints {"Error": {"Code", "Message"}}
 * and exits 1. */
#include "api.h"
#include "cleanup.h"
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_all(FILE *f, size_t *ret_len)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
		if (len + 1 == cap) {
			char *b = realloc(buf, cap *= 2);
			if (!b)
				free(buf);
			buf = b;
		}
	}
	if (buf)
		buf[len] = 0;
	*ret_len = len;
	return buf;
}

static int print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (!s)
		return 1;
	puts(s);
	free(s);
	return 0;
}

static int fail(const struct err *e)
{
	_cleanup_json_ json_t *v =
	    json_pack("{s:{s:s,s:s}}", "Error", "Code", e->code, "Message", e->msg);
	print_json(v);
	return 1;
}

static int unhex(const char *s, unsigned char **ret, size_t *ret_len)
{
	size_t n = strlen(s);
	unsigned char *out = malloc(n / 2 + 1);
	if (!out || n % 2) {
		free(out);
		return -1;
	}
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1) {
			free(out);
			return -1;
		}
		out[i] = (unsigned char)v;
	}
	*ret = out;
	*ret_len = n / 2;
	return 0;
}

static int cmd_sigv4(const char *creds_path, const char *service)
{
	_cleanup_(api_creds_freep) struct api_creds *creds = NULL;
	_cleanup_json_ json_t *req = NULL;
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ struct api_header *headers = NULL;
	_cleanup_free_ unsigned char *body = NULL;
	struct api_request r = {0};
	struct err e = {0};
	char region[32], key[64];
	json_error_t je;
	json_t *h;
	size_t len, i;

	if (api_creds_load(creds_path, &creds, &e) < 0)
		return fail(&e);
	text = read_all(stdin, &len);
	req = text ? json_loadb(text, len, 0, &je) : NULL;
	if (!req) {
		fprintf(stderr, "api_tool: bad request JSON: %s\n", text ? je.text : "read");
		return 2;
	}
	r.method = json_string_value(json_object_get(req, "method"));
	r.path = json_string_value(json_object_get(req, "path"));
	r.query = json_string_value(json_object_get(req, "query"));
	r.now = (time_t)json_integer_value(json_object_get(req, "now"));
	r.nheaders = json_array_size(json_object_get(req, "headers"));
	headers = calloc(r.nheaders + 1, sizeof(*headers));
	if (!headers)
		return 2;
	json_array_foreach(json_object_get(req, "headers"), i, h)
	{
		headers[i].name = json_string_value(json_array_get(h, 0));
		headers[i].value = json_string_value(json_array_get(h, 1));
	}
	r.headers = headers;
	if (unhex(json_string_value(json_object_get(req, "body_hex")) ?: "", &body, &len) < 0)
		return 2;
	r.body = body;
	r.body_len = len;
	if (api_sigv4_verify_service(creds, &r, service, region, key, &e) < 0)
		return fail(&e);
	_cleanup_json_ json_t *out = json_pack("{s:s,s:s}", "Region", region, "AccessKey", key);
	return print_json(out);
}

static int cmd_creds(const char *path, bool generate)
{
	_cleanup_(api_creds_freep) struct api_creds *creds = NULL;
	struct err e = {0};
	const char *key;
	if ((generate ? api_creds_generate(path, &creds, &e) : api_creds_load(path, &creds, &e)) <
	    0)
		return fail(&e);
	key = api_creds_first_key(creds);
	_cleanup_json_ json_t *out =
	    json_pack("{s:s,s:s}", "FirstKey", key, "Secret", api_creds_secret(creds, key));
	return print_json(out);
}

int main(int argc, char **argv)
{
	_cleanup_(api_model_freep) struct api_model *m = NULL;
	_cleanup_free_ char *text = NULL;
	struct err e = {0};
	size_t len;
	const char *cmd = argc > 1 ? argv[1] : "";

	if (!strcmp(cmd, "status") && argc == 3) {
		printf("%d\n", api_error_status(argv[2]));
		return 0;
	}
	const char *service = getenv("API_SERVICE") ?: "ec2";
	if (!strcmp(cmd, "error") && (argc == 4 || argc == 5)) {
		if (api_model_load_service(service, &m, &e) < 0)
			return fail(&e);
		_cleanup_free_ char *xml =
		    api_xml_error_for(m, argv[2], argv[3], argc == 5 ? argv[4] : "");
		if (!xml)
			return 2;
		fputs(xml, stdout);
		return 0;
	}
	if (!strcmp(cmd, "sigv4") && (argc == 3 || argc == 4))
		return cmd_sigv4(argv[2], argc == 4 ? argv[3] : "ec2");
	if ((!strcmp(cmd, "creds") || !strcmp(cmd, "creds-generate")) && argc == 3)
		return cmd_creds(argv[2], !strcmp(cmd, "creds-generate"));

	if (api_model_load_service(service, &m, &e) < 0)
		return fail(&e);
	if (!strcmp(cmd, "actions") && argc == 2) {
		for (size_t i = 0; i < api_model_action_count(m); i++)
			puts(api_model_action_name(m, i));
		return 0;
	}
	if ((!strcmp(cmd, "form") && argc == 2) || (!strcmp(cmd, "params") && argc == 3)) {
		_cleanup_json_ json_t *kv = NULL, *params = NULL;
		text = read_all(stdin, &len);
		if (!text)
			return 2;
		if (api_form_parse(text, len, &kv, &e) < 0)
			return fail(&e);
		if (argc == 2)
			return print_json(kv);
		if (api_params_from_query(m, argv[2], kv, &params, &e) < 0)
			return fail(&e);
		return print_json(params);
	}
	if (!strcmp(cmd, "xml") && (argc == 3 || argc == 4)) {
		_cleanup_json_ json_t *result = NULL;
		_cleanup_free_ char *xml = NULL;
		json_error_t je;
		text = read_all(stdin, &len);
		result = text ? json_loadb(text, len, 0, &je) : NULL;
		if (!result) {
			fprintf(stderr, "api_tool: bad result JSON: %s\n", text ? je.text : "read");
			return 2;
		}
		if (api_xml_response(m, argv[2], result, argc == 4 ? argv[3] : "", &xml, &len, &e) <
		    0)
			return fail(&e);
		fwrite(xml, 1, len, stdout);
		return 0;
	}
	if (!strcmp(cmd, "rest-match") && argc == 5) {
		_cleanup_json_ json_t *params = NULL, *out = NULL;
		const char *action = NULL;
		text = read_all(stdin, &len);
		if (!text)
			return 2;
		if (api_rest_match(m, argv[2], argv[3], argv[4], text, len, &action, &params, &e) < 0)
			return fail(&e);
		out = json_pack("{s:s,s:O}", "Action", action, "Params", params);
		return print_json(out);
	}
	if (!strcmp(cmd, "rest-response") && argc == 3) {
		_cleanup_json_ json_t *result = NULL;
		_cleanup_free_ char *body = NULL;
		json_error_t je;
		text = read_all(stdin, &len);
		result = text ? json_loadb(text, len, 0, &je) : NULL;
		if (!result) {
			fprintf(stderr, "api_tool: bad result JSON: %s\n", text ? je.text : "read");
			return 2;
		}
		if (api_rest_response(m, argv[2], result, &body, &len, &e) < 0)
			return fail(&e);
		fwrite(body, 1, len, stdout);
		return 0;
	}
	if (!strcmp(cmd, "rest-error") && argc == 4) {
		int status = 0;
		_cleanup_free_ char *body = api_rest_error(m, argv[2], argv[3], &status);
		_cleanup_json_ json_t *out = body ? json_pack("{s:i,s:s}", "Status", status, "Body", body) : NULL;
		return out ? print_json(out) : 2;
	}
	fprintf(stderr, "usage: api_tool actions|form|params ACTION|xml ACTION [ID]|error CODE MSG "
			"[ID]|status CODE|sigv4 CREDS [SERVICE]|creds PATH|creds-generate PATH|"
			"rest-match METHOD PATH QUERY|rest-response ACTION|rest-error CODE MSG\n");
	return 2;
}
