/* netlib/rpc.h: the request line both daemons parse, and the answer line they send. */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <jansson.h>
#include "rpc.h"
#include "tap.h"

static void refused(const char *line, const char *code, const char *what)
{
	struct rpc_request rq = {0};
	struct err e = {0};
	int r = rpc_parse_request(line, strlen(line), &rq, &e);
	if (!ok(r < 0 && !rq.doc && strcmp(e.code, code) == 0, "%s: %s", what, code))
		diag("  r=%d code=%s msg=%s", r, e.code, e.msg);
}

/* The answer line rpc_send_response writes, parsed back. */
static json_t *answer(json_t *result, const struct err *e)
{
	int sv[2];
	char buf[4096] = "";
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return NULL;
	int r = rpc_send_response(sv[0], result, e);
	ssize_t n = r == 0 ? read(sv[1], buf, sizeof(buf) - 1) : -1;
	close(sv[0]);
	close(sv[1]);
	if (n <= 0 || buf[n - 1] != '\n')
		return NULL;
	return json_loadb(buf, (size_t)n - 1, 0, NULL);
}

int main(void)
{
	struct rpc_request rq = {0};
	struct err e = {0};
	const char *line = "{\"Action\":\"DescribeVpcs\"}\n{\"Action\":\"next\"}";

	/* Only the first line is parsed: the length stops at its newline. */
	is_int(rpc_parse_request(line, strchr(line, '\n') - line, &rq, &e), 0,
	       "a request with only an Action parses");
	is_str(rq.action, "DescribeVpcs", "its Action");
	is_str(rq.region, "us-east-1", "Region defaults to us-east-1");
	ok(json_is_object(rq.params) && json_object_size(rq.params) == 0, "Params defaults to {}");
	ok(json_object_get(rq.doc, "Params") == rq.params &&
	       strcmp(json_string_value(json_object_get(rq.doc, "Region")), "us-east-1") == 0,
	   "the defaults are written into the document dispatch reads");
	rpc_request_done(&rq);
	ok(!rq.doc && !rq.action, "rpc_request_done clears the request");

	line = "{\"Action\":\"CreateVpc\",\"Region\":\"lab-1\",\"Params\":{\"CidrBlock\":\"10.0.0.0/16\"}}";
	is_int(rpc_parse_request(line, strlen(line), &rq, &e), 0, "a configured region parses");
	is_str(rq.region, "lab-1", "its Region");
	rpc_request_done(&rq);

	refused("not json", "InvalidRequest", "text that is not JSON");
	refused("[1]", "InvalidRequest", "JSON that is not an object");
	refused("{}", "InvalidRequest", "no Action");
	refused("{\"Action\":\"\"}", "InvalidRequest", "an empty Action");
	refused("{\"Action\":\"Describe Vpcs\"}", "InvalidRequest", "an Action with a space");
	refused("{\"Action\":\"CreateVpc\",\"Region\":\"../../etc\"}", "InvalidParameterValue",
		"a Region that would escape a namespace name");
	refused("{\"Action\":\"CreateVpc\",\"Region\":\"\"}", "InvalidParameterValue", "an empty Region");
	refused("{\"Action\":\"CreateVpc\",\"Region\":\"US-EAST-1\"}", "InvalidParameterValue",
		"an uppercase Region");
	refused("{\"Action\":\"CreateVpc\",\"Region\":\"a23456789012345678901234567890123\"}",
		"InvalidParameterValue", "a 33-character Region");
	refused("{\"Action\":\"CreateVpc\",\"Region\":1}", "InvalidParameterValue", "a Region that is a number");
	refused("{\"Action\":\"CreateVpc\",\"Params\":[1]}", "InvalidRequest", "Params that are a list");
	refused("{\"Action\":\"CreateVpc\"}{\"x\":1}", "InvalidRequest", "two documents on one line");

	/* Answers. */
	json_t *res = json_pack("{s:s}", "VpcId", "vpc-1");
	json_t *got = answer(res, NULL);
	json_t *want = json_pack("{s:{s:s}}", "Result", "VpcId", "vpc-1");
	is_json(got, want, "a result answers {\"Result\": ...} and the result stays the caller's");
	ok(res->refcount == 1, "the result is borrowed, not stolen");
	json_decref(got), json_decref(want), json_decref(res);
	got = answer(NULL, NULL);
	want = json_pack("{s:{}}", "Result");
	is_json(got, want, "no result answers {\"Result\": {}}");
	json_decref(got), json_decref(want);
	err_set(&e, "InvalidVpcID.NotFound", "The vpc ID 'vpc-\xff' does not exist");
	got = answer(NULL, &e);
	want = json_pack("{s:{s:s, s:s}}", "Error", "Code", "InvalidVpcID.NotFound", "Message",
			 "The vpc ID 'vpc-?' does not exist");
	is_json(got, want, "an error quoting bytes that are not UTF-8 still gets an answer");
	json_decref(got), json_decref(want);
	return done();
}
