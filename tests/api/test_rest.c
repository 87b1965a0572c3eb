/* The rest-json codec (ec2d/api/rest.c) on FIS's model without botocore: every operation's
 * route (method and path -> action, labels percent-decoded, query-string members), the body
 * checked against the input shape and each way it is refused, a response filtered by the
 * output shape (nested structures, maps, lists, timestamps), and the error bodies and
 * statuses. test_rest.py holds the same code up against botocore's own serializer and
 * parser. */
#include <jansson.h>
#include "api.h"
#include "cleanup.h"
#include "internal.h"
#include "../unit/tap.h"

static struct api_model *fis;

static json_t *J(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
	if (!v) {
		diag("bad JSON in test: %s: %s", text, je.text);
		abort();
	}
	return v;
}

static void route_ok(const char *method, const char *path, const char *query, const char *body,
		     const char *want_action, const char *want_params)
{
	_cleanup_json_ json_t *params = NULL, *want = J(want_params);
	const char *action = NULL;
	struct err e = {0};
	int r = api_rest_match(fis, method, path, query, body, body ? strlen(body) : 0, &action,
			       &params, &e);
	if (!ok(r == 0, "%s %s%s%s: matches", method, path, query && *query ? "?" : "",
		query ? query : ""))
		diag("  %s: %s", e.code, e.msg);
	is_str(action ? action : "(none)", want_action, "%s %s: is %s", method, path, want_action);
	is_json(params, want, "%s %s: params %s", method, path, want_params);
}

static void route_bad(const char *method, const char *path, const char *query, const char *body,
		      size_t len, const char *code, const char *needle, const char *desc)
{
	_cleanup_json_ json_t *params = NULL;
	const char *action = NULL;
	struct err e = {0};
	int r = api_rest_match(fis, method, path, query, body, len, &action, &params, &e);
	ok(r < 0 && !params && !action, "%s: refused", desc);
	is_str(e.code, code, "%s: code (%s)", desc, e.msg);
	if (needle && !ok(strstr(e.msg, needle) != NULL, "%s: the message names %s", desc, needle))
		diag("  message: %s", e.msg);
}

static void test_routes(void)
{
	route_ok(
	    "POST", "/experimentTemplates", "",
	    "{\"clientToken\":\"t1\",\"description\":\"d\",\"roleArn\":\"arn:aws:iam::1:role/r\","
	    "\"stopConditions\":[{\"source\":\"none\"}],\"actions\":{\"a1\":{\"actionId\":"
	    "\"aws:ec2:stop-instances\",\"parameters\":{\"startInstancesAfterDuration\":"
	    "\"PT1M\"},\"targets\":{\"Instances\":\"t\"}}},\"targets\":{\"t\":{\"resourceType\":"
	    "\"aws:ec2:instance\",\"resourceArns\":[\"arn:aws:ec2:us-east-1:1:instance/i-1\"],"
	    "\"selectionMode\":\"ALL\",\"filters\":[{\"path\":\"State.Name\",\"values\":"
	    "[\"running\"]}]}},\"tags\":{\"Name\":\"x\"}}",
	    "CreateExperimentTemplate",
	    "{\"clientToken\":\"t1\",\"description\":\"d\",\"roleArn\":\"arn:aws:iam::1:role/r\","
	    "\"stopConditions\":[{\"source\":\"none\"}],\"actions\":{\"a1\":{\"actionId\":"
	    "\"aws:ec2:stop-instances\",\"parameters\":{\"startInstancesAfterDuration\":"
	    "\"PT1M\"},\"targets\":{\"Instances\":\"t\"}}},\"targets\":{\"t\":{\"resourceType\":"
	    "\"aws:ec2:instance\",\"resourceArns\":[\"arn:aws:ec2:us-east-1:1:instance/i-1\"],"
	    "\"selectionMode\":\"ALL\",\"filters\":[{\"path\":\"State.Name\",\"values\":"
	    "[\"running\"]}]}},\"tags\":{\"Name\":\"x\"}}");
	route_ok("GET", "/experimentTemplates/EXT123", "", NULL, "GetExperimentTemplate",
		 "{\"id\":\"EXT123\"}");
	route_ok("GET", "/experimentTemplates", "maxResults=5&nextToken=abc%2Bdef", NULL,
		 "ListExperimentTemplates", "{\"maxResults\":5,\"nextToken\":\"abc+def\"}");
	route_ok("GET", "/experimentTemplates", NULL, NULL, "ListExperimentTemplates", "{}");
	route_ok("PATCH", "/experimentTemplates/EXT1", "", "{\"description\":\"new\"}",
		 "UpdateExperimentTemplate", "{\"id\":\"EXT1\",\"description\":\"new\"}");
	route_ok("DELETE", "/experimentTemplates/EXT1", "", NULL, "DeleteExperimentTemplate",
		 "{\"id\":\"EXT1\"}");
	route_ok("POST", "/experiments", "",
		 "{\"clientToken\":\"c\",\"experimentTemplateId\":\"EXT1\",\"tags\":{}}",
		 "StartExperiment",
		 "{\"clientToken\":\"c\",\"experimentTemplateId\":\"EXT1\",\"tags\":{}}");
	route_ok("GET", "/experiments/EXP1", "", NULL, "GetExperiment", "{\"id\":\"EXP1\"}");
	route_ok("GET", "/experiments", "maxResults=100", NULL, "ListExperiments",
		 "{\"maxResults\":100}");
	route_ok("DELETE", "/experiments/EXP1", "", NULL, "StopExperiment", "{\"id\":\"EXP1\"}");
	route_ok("GET", "/actions", "maxResults=1&nextToken=t", NULL, "ListActions",
		 "{\"maxResults\":1,\"nextToken\":\"t\"}");
	route_ok("GET", "/actions/aws%3Aec2%3Astop-instances", "", NULL, "GetAction",
		 "{\"id\":\"aws:ec2:stop-instances\"}");
	route_ok("GET", "/targetResourceTypes", "", NULL, "ListTargetResourceTypes", "{}");
	route_ok("GET", "/targetResourceTypes/aws%3Aec2%3Ainstance", "", NULL,
		 "GetTargetResourceType", "{\"resourceType\":\"aws:ec2:instance\"}");
	route_ok("POST", "/tags/arn%3Aaws%3Afis%3Aus-east-1%3A123456789012%3Aexperiment%2FEXP1", "",
		 "{\"tags\":{\"k\":\"v\",\"k2\":\"\"}}", "TagResource",
		 "{\"resourceArn\":\"arn:aws:fis:us-east-1:123456789012:experiment/EXP1\","
		 "\"tags\":{\"k\":\"v\",\"k2\":\"\"}}");
	route_ok("DELETE", "/tags/arn%3Aaws%3Afis%3A%3A1%3Aexperiment%2FE",
		 "tagKeys=k&tagKeys=k%202", NULL, "UntagResource",
		 "{\"resourceArn\":\"arn:aws:fis::1:experiment/E\",\"tagKeys\":[\"k\",\"k 2\"]}");
	route_ok("GET", "/tags/arn%3Aaws%3Afis%3A%3A1%3Aexperiment%2FE", "", NULL,
		 "ListTagsForResource", "{\"resourceArn\":\"arn:aws:fis::1:experiment/E\"}");

	/* What the route does not look at: query parameters no member names (a presigned
	 * request's), an empty object for a body, nulls. */
	route_ok("GET", "/experiments/E", "X-Amz-Date=20150830T123600Z&other", NULL,
		 "GetExperiment", "{\"id\":\"E\"}");
	route_ok("POST", "/experiments", "", "{}", "StartExperiment", "{}");
	route_ok("POST", "/experiments", "", " {\"tags\": null} ", "StartExperiment", "{}");
	route_ok("GET", "/experiments/E%2B1+2", "", NULL, "GetExperiment",
		 "{\"id\":\"E+1+2\"}"); /* '+' is a space only in a query */

	/* No operation. */
	route_bad("GET", "/nothing", "", NULL, 0, "UnknownOperationException", "/nothing",
		  "unknown path");
	route_bad("PUT", "/experiments", "", NULL, 0, "UnknownOperationException", NULL,
		  "known path, wrong method");
	route_bad("GET", "/experiments/", "", NULL, 0, "UnknownOperationException", NULL,
		  "empty label");
	route_bad("GET", "/experiments/a/b", "", NULL, 0, "UnknownOperationException", NULL,
		  "a label is one segment");
	route_bad("GET", "experiments", "", NULL, 0, "UnknownOperationException", NULL,
		  "no leading slash");
	route_bad("get", "/experiments", "", NULL, 0, "UnknownOperationException", NULL,
		  "method case");
	route_bad(NULL, NULL, NULL, NULL, 0, "UnknownOperationException", NULL, "no method");

	/* Labels and the query string. */
	route_bad("GET", "/experiments/a%zz", "", NULL, 0, "ValidationException", "a%zz",
		  "bad escape in a label");
	route_bad("GET", "/experiments/a%00", "", NULL, 0, "ValidationException", NULL,
		  "NUL in a label");
	route_bad("GET", "/experiments/%ff", "", NULL, 0, "ValidationException", "UTF-8",
		  "label not UTF-8");
	route_bad("GET", "/experiments", "maxResults=0", NULL, 0, "ValidationException",
		  "'maxResults'", "maxResults under the shape's min");
	route_bad("GET", "/experiments", "maxResults=101", NULL, 0, "ValidationException",
		  "'maxResults'", "maxResults over the shape's max");
	route_bad("GET", "/experiments", "maxResults=1x", NULL, 0, "ValidationException",
		  "'maxResults'", "maxResults not a number");
	route_bad("GET", "/experiments", "maxResults=+5", NULL, 0, "ValidationException",
		  "'maxResults'", "maxResults with a sign");
	route_bad("GET", "/experiments", "maxResults=", NULL, 0, "ValidationException",
		  "'maxResults'", "maxResults empty");
	route_bad("GET", "/experiments", "maxResults=99999999999999999999", NULL, 0,
		  "ValidationException", "'maxResults'", "maxResults past 64 bits");
	route_bad("GET", "/experiments", "nextToken=a&nextToken=b", NULL, 0, "ValidationException",
		  "'nextToken'", "a scalar given twice");
	route_bad("GET", "/experiments", "nextToken=%4", NULL, 0, "ValidationException", NULL,
		  "bad escape in the query");
}

static void test_bodies(void)
{
	const char *tpl = "/experimentTemplates";
#define BAD(body, needle, desc)                                                                    \
	route_bad("POST", tpl, "", body, strlen(body), "ValidationException", needle, desc)
	BAD("{\"nope\":1}", "'nope'", "unknown member");
	BAD("{\"targets\":{\"t\":{\"resourceType\":\"x\",\"bogus\":true}}}", "'targets.t.bogus'",
	    "unknown member in a nested structure (under a map)");
	BAD("{\"description\":5}", "'description'", "a number for a string");
	BAD("{\"description\":[\"x\"]}", "'description'", "a list for a string");
	BAD("{\"stopConditions\":{}}", "'stopConditions'", "an object for a list");
	BAD("{\"stopConditions\":[\"x\"]}", "'stopConditions[0]'",
	    "a string for a structure in a list");
	BAD("{\"stopConditions\":[null]}", "'stopConditions[0]'", "null in a list");
	BAD("{\"tags\":[]}", "'tags'", "a list for a map");
	BAD("{\"tags\":{\"k\":1}}", "'tags.k'", "a number for a map value");
	BAD("{\"actions\":{\"a\":{\"targets\":{\"x\":false}}}}", "'actions.a.targets.x'",
	    "deep in maps");
	BAD("{\"logConfiguration\":{\"logSchemaVersion\":\"1\"}}",
	    "'logConfiguration.logSchemaVersion'", "a string for an integer");
	BAD("{\"logConfiguration\":{\"logSchemaVersion\":1.5}}",
	    "'logConfiguration.logSchemaVersion'", "a real for an integer");
	BAD("{\"logConfiguration\":{\"logSchemaVersion\":4294967296}}",
	    "'logConfiguration.logSchemaVersion'", "an integer past 32 bits");
	BAD("{\"description\":\"a\",", "not valid JSON", "malformed JSON");
	BAD("{\"description\":\"a\",\"description\":\"b\"}", "not valid JSON", "duplicate member");
	BAD("[]", "not a JSON object", "an array for the body");
	BAD("\"x\"", "not valid JSON", "a string for the body");
	BAD("{\"description\":\"\\u0000\"}", "not valid JSON", "an escaped NUL");
	BAD(" ", "not valid JSON", "only blanks");
	route_bad("PUT", "/experiments", "", "x", 1, "UnknownOperationException", NULL,
		  "a body does not make a route");
	route_bad("GET", "/experiments/E", "", "{\"id\":\"E\"}", 10, "ValidationException", "'id'",
		  "a label's member in the body");
	route_bad("GET", "/experiments/E", "", "{\"x\":1}", 7, "ValidationException", "'x'",
		  "a body member an input without body members does not have");
	route_bad("POST", tpl, "", "{\"description\":\"a\0b\"}",
		  sizeof("{\"description\":\"a\0b\"}") - 1, "ValidationException", "not valid JSON",
		  "a raw NUL");

	/* Deep: 33 arrays is over the bound, whatever the shape; the error comes before the
	 * parse. */
	char deep[200] = "{\"stopConditions\":";
	size_t n = strlen(deep);
	for (int i = 0; i < 33; i++)
		deep[n++] = '[';
	deep[n] = 0;
	BAD(deep, "deep", "nested 34 deep");
	/* Brackets inside strings do not count. */
	route_ok("POST", "/experiments", "",
		 "{\"clientToken\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[\"}",
		 "StartExperiment",
		 "{\"clientToken\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[\"}");

	/* Over the size bound. */
	size_t big = API_FORM_MAX_BYTES + 1;
	char *s = malloc(big + 1);
	memset(s, ' ', big);
	s[0] = '{', s[big - 1] = '}', s[big] = 0;
	route_bad("POST", tpl, "", s, big, "ValidationException", "bytes", "a body over 1 MiB");
	s[big - 2] = '}', s[big - 1] = 0; /* exactly the bound */
	route_ok("POST", tpl, "", s, "CreateExperimentTemplate", "{}");
	free(s);
#undef BAD
}

static void response_is(const char *action, const char *result, const char *want, const char *desc)
{
	_cleanup_json_ json_t *res = result ? J(result) : NULL, *w = J(want), *got = NULL;
	_cleanup_free_ char *body = NULL;
	struct err e = {0};
	size_t len = 0;
	int r = api_rest_response(fis, action, res, &body, &len, &e);
	if (!ok(r == 0 && body && strlen(body) == len, "%s: %s: written", action, desc))
		diag("  %s: %s", e.code, e.msg);
	got = body ? json_loads(body, 0, NULL) : NULL;
	is_json(got, w, "%s: %s: %s", action, desc, want);
}

static void response_bad(const char *action, const char *result, const char *needle,
			 const char *desc)
{
	_cleanup_json_ json_t *res = J(result);
	_cleanup_free_ char *body = NULL;
	struct err e = {0};
	size_t len = 0;
	int r = api_rest_response(fis, action, res, &body, &len, &e);
	ok(r < 0 && !body, "%s: %s: refused", action, desc);
	is_str(e.code, "InternalError", "%s: %s: code", action, desc);
	if (!ok(strstr(e.msg, needle) != NULL, "%s: %s: the message names %s", action, desc,
		needle))
		diag("  message: %s", e.msg);
}

static void test_responses(void)
{
	response_is(
	    "GetExperiment",
	    "{\"experiment\":{\"id\":\"E\",\"_private\":{\"pid\":1},\"state\":{\"status\":"
	    "\"running\",\"reason\":null,\"_since\":3},\"targets\":{\"t\":{\"resourceType\":"
	    "\"aws:ec2:instance\",\"resourceArns\":[\"a\",null,\"b\"],\"_chosen\":[\"a\"]}},"
	    "\"actions\":{\"a1\":{\"actionId\":\"x\",\"parameters\":{\"p\":\"v\"},"
	    "\"startTime\":1795429230,\"endTime\":1795429230.5,\"state\":{\"status\":"
	    "\"completed\"}}},\"creationTime\":\"2026-11-23T10:20:30.000Z\",\"startTime\":"
	    "\"2026-11-23T10:20:30.250Z\",\"endTime\":\"2026-11-23T12:20:30+02:00\","
	    "\"tags\":{\"k\":\"v\",\"gone\":null}},\"_top\":1}",
	    "{\"experiment\":{\"id\":\"E\",\"state\":{\"status\":\"running\"},\"targets\":{"
	    "\"t\":{\"resourceType\":\"aws:ec2:instance\",\"resourceArns\":[\"a\",\"b\"]}},"
	    "\"actions\":{\"a1\":{\"actionId\":\"x\",\"parameters\":{\"p\":\"v\"},"
	    "\"startTime\":1795429230,\"endTime\":1795429230.5,\"state\":{\"status\":"
	    "\"completed\"}}},\"creationTime\":1795429230,\"startTime\":1795429230.25,"
	    "\"endTime\":1795429230,\"tags\":{\"k\":\"v\"}}}",
	    "nested structures, maps, lists and timestamps filtered by the shape");
	response_is(
	    "ListExperiments",
	    "{\"experiments\":[{\"id\":\"E\",\"creationTime\":0,\"tags\":{}}],\"nextToken\":null}",
	    "{\"experiments\":[{\"id\":\"E\",\"creationTime\":0,\"tags\":{}}]}", "a list");
	response_is("TagResource", "{}", "{}", "an empty output shape");
	response_is("UntagResource", NULL, "{}", "no result");
	response_is(
	    "GetExperimentTemplate",
	    "{\"experimentTemplate\":{\"id\":\"T\",\"logConfiguration\":{"
	    "\"logSchemaVersion\":2,\"cloudWatchLogsConfiguration\":{\"logGroupArn\":\"g\"}}}}",
	    "{\"experimentTemplate\":{\"id\":\"T\",\"logConfiguration\":{"
	    "\"logSchemaVersion\":2,\"cloudWatchLogsConfiguration\":{\"logGroupArn\":\"g\"}}}}",
	    "integers and nested structures");

	response_bad("GetExperiment", "{\"experiment\":{\"id\":5}}", "'experiment.id'",
		     "a number for a string");
	response_bad("GetExperiment", "{\"experiment\":{\"targets\":[]}}", "'experiment.targets'",
		     "a list for a map");
	response_bad("GetExperiment", "{\"experiment\":{\"creationTime\":\"yesterday\"}}",
		     "'experiment.creationTime'", "a time that is not ISO 8601");
	response_bad("GetExperiment",
		     "{\"experiment\":{\"creationTime\":\"2026-02-30T00:00:00Z\"}}",
		     "'experiment.creationTime'", "a day that does not exist");
	response_bad("GetExperiment", "{\"experiment\":{\"creationTime\":true}}",
		     "'experiment.creationTime'", "a boolean for a timestamp");
	response_bad("ListExperiments", "{\"experiments\":[{\"tags\":{\"k\":[1]}}]}",
		     "'experiments[0].tags.k'", "deep in a list and a map");
	response_bad("GetExperimentTemplate",
		     "{\"experimentTemplate\":{\"logConfiguration\":{\"logSchemaVersion\":\"2\"}}}",
		     "'experimentTemplate.logConfiguration.logSchemaVersion'",
		     "a string for an integer");
	{
		_cleanup_json_ json_t *res = J("[1]");
		char *body = NULL;
		struct err e = {0};
		ok(api_rest_response(fis, "GetExperiment", res, &body, NULL, &e) < 0 && !body,
		   "a result that is not an object is refused");
		ok(api_rest_response(fis, "DescribeVpcs", NULL, &body, NULL, &e) < 0 && !body,
		   "an action the model does not have is refused");
	}
}

static void error_is(const struct api_model *m, const char *code, int want_status)
{
	int status = 0;
	_cleanup_free_ char *body = api_rest_error(m, code, "it's \"bad\" \xff", &status);
	_cleanup_json_ json_t *got = body ? json_loads(body, 0, NULL) : NULL;
	_cleanup_json_ json_t *want = J("{\"message\":\"it's \\\"bad\\\" ?\"}");
	ok(status == want_status, "error %s: status %d (%d)", code, want_status, status);
	is_json(got, want, "error %s: body", code);
}

static void test_errors(void)
{
	error_is(fis, "ValidationException", 400);
	error_is(fis, "ResourceNotFoundException", 404);
	error_is(fis, "ConflictException", 409);
	error_is(fis, "ServiceQuotaExceededException", 402);
	error_is(fis, "UnknownOperationException", 404);
	error_is(fis, "UnrecognizedClientException", 403);
	error_is(fis, "SignatureDoesNotMatch", 403);
	error_is(fis, "InternalError", 500);
	error_is(fis, "ServiceUnavailable", 503);
	error_is(fis, "ThrottlingException", 400);
	error_is(fis, "ExperimentTemplate", 400); /* a shape, but not an error's */
	error_is(NULL, "ResourceNotFoundException", 400);
	{
		int status = 0;
		_cleanup_free_ char *body = api_rest_error(fis, NULL, NULL, &status);
		ok(body && !strcmp(body, "{\"message\":\"\"}") && status == 500,
		   "error without code or message: {\"message\":\"\"}, 500 (%s, %d)", body, status);
	}
}

int main(void)
{
	struct err e = {0};
	ok(api_model_load_service("fis", &fis, &e) == 0, "the fis model loads (%s)", e.msg);
	is_str(api_model_protocol(fis), "rest-json", "its protocol");
	is_str(api_model_service(fis), "fis", "its service");
	ok(api_model_action_count(fis) == 16, "16 actions (%zu)", api_model_action_count(fis));
	ok(api_model_has_action(fis, "CreateExperimentTemplate") &&
	       api_model_has_action(fis, "ListTagsForResource") &&
	       !api_model_has_action(fis, "DescribeVpcs"),
	   "has_action");
	{
		struct api_model *ec2 = NULL;
		_cleanup_json_ json_t *params = NULL;
		const char *action = NULL;
		ok(api_model_load_service("ec2", &ec2, &e) == 0 &&
		       api_rest_match(ec2, "GET", "/", "", NULL, 0, &action, &params, &e) < 0 &&
		       !strcmp(e.code, "InternalError"),
		   "api_rest_match refuses a model that is not rest-json");
		api_model_free(ec2);
	}
	test_routes();
	test_bodies();
	test_responses();
	test_errors();
	api_model_free(fis);
	return done();
}
