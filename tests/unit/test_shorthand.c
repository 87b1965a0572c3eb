/* netlib/shorthand.h: the aws CLI shorthand syntax, and JSON passed through. */
#include <string.h>
#include <jansson.h>
#include "shorthand.h"
#include "tap.h"

/* Parses `text` and compares with the JSON `want`. */
static void parses(const char *text, const char *want_text)
{
	struct err e = {0};
	json_t *got = NULL, *want = json_loads(want_text, JSON_DECODE_ANY, NULL);
	if (!want) {
		ok(false, "fixture '%s' is valid JSON", want_text);
		return;
	}
	int r = shorthand_parse(text, &got, &e);
	if (r < 0) {
		ok(false, "shorthand_parse('%s')", text);
		diag("  failed: %s: %s", e.code, e.msg);
	} else {
		is_json(got, want, "shorthand_parse('%s')", text);
	}
	json_decref(got);
	json_decref(want);
}

static void fails(const char *text)
{
	struct err e = {0};
	json_t *got = (json_t *)0x1;
	int r = shorthand_parse(text, &got, &e);
	ok(r < 0 && strcmp(e.code, "ParamValidation") == 0 && got == (json_t *)0x1 && e.msg[0],
	   "shorthand_parse('%s') fails with ParamValidation, out untouched", text);
	if (r >= 0)
		json_decref(got);
	else if (e.msg[0])
		diag("  message: %s", e.msg);
}

int main(void)
{
	/* The examples from the aws CLI documentation. */
	parses("Name=vpc-id,Values=vpc-1,vpc-2", "{\"Name\":\"vpc-id\",\"Values\":[\"vpc-1\",\"vpc-2\"]}");
	parses("ResourceType=vpc,Tags=[{Key=Name,Value=lab},{Key=env,Value=dev}]",
	       "{\"ResourceType\":\"vpc\",\"Tags\":[{\"Key\":\"Name\",\"Value\":\"lab\"},"
	       "{\"Key\":\"env\",\"Value\":\"dev\"}]}");
	parses("Key=a,Value=", "{\"Key\":\"a\",\"Value\":\"\"}");
	parses("Key=a,Value=\"x,y\"", "{\"Key\":\"a\",\"Value\":\"x,y\"}");
	parses("Key=a,Value='x,y'", "{\"Key\":\"a\",\"Value\":\"x,y\"}");
	parses("Key=a,Value=\"say \\\"hi\\\"\"", "{\"Key\":\"a\",\"Value\":\"say \\\"hi\\\"\"}");
	parses("Key=a,Value=x\\,y", "{\"Key\":\"a\",\"Value\":\"x,y\"}");

	/* Scalars stay strings; one value is a scalar, a [list] is always a list. */
	parses("Name=vpc-id,Values=vpc-1", "{\"Name\":\"vpc-id\",\"Values\":\"vpc-1\"}");
	parses("Name=vpc-id,Values=[vpc-1]", "{\"Name\":\"vpc-id\",\"Values\":[\"vpc-1\"]}");
	parses("Name=vpc-id,Values=[vpc-1,vpc-2]", "{\"Name\":\"vpc-id\",\"Values\":[\"vpc-1\",\"vpc-2\"]}");
	parses("Values=[]", "{\"Values\":[]}");
	parses("Value=true", "{\"Value\":\"true\"}");
	parses("MaxResults=5", "{\"MaxResults\":\"5\"}");
	parses("Values=a,b,c,Name=x", "{\"Values\":[\"a\",\"b\",\"c\"],\"Name\":\"x\"}");
	parses("Name=cidr-block,Values=10.0.*", "{\"Name\":\"cidr-block\",\"Values\":\"10.0.*\"}");
	parses("Name=tag:Name,Values=web", "{\"Name\":\"tag:Name\",\"Values\":\"web\"}");
	parses("Values=a=b", "{\"Values\":\"a=b\"}");

	/* Nesting */
	parses("A={B=1,C=[x,y]}", "{\"A\":{\"B\":\"1\",\"C\":[\"x\",\"y\"]}}");
	parses("Tags=[{Key=k,Value=}]", "{\"Tags\":[{\"Key\":\"k\",\"Value\":\"\"}]}");

	/* JSON is passed through as is, including non-string types. */
	parses("[{\"Name\":\"x\",\"Values\":[\"y\"]}]", "[{\"Name\":\"x\",\"Values\":[\"y\"]}]");
	parses("{\"Value\":true}", "{\"Value\":true}");
	parses("  {\"Value\": 5}", "{\"Value\":5}");

	/* Errors */
	fails("Name");
	fails("=x");
	fails("");
	fails("Tags=[a,b");
	fails("Tags=[{Key=a,Value=b}");
	fails("Tags=[{Key=a,Value=b]");
	fails("A={B=1");
	fails("Key=a,Value=\"open");
	fails("Key=a,Value=b]");
	fails("[{\"Name\":");
	fails("{not json}");

	/* Hostile input (found by fuzz_shorthand): bytes that are not UTF-8 in a value or a key,
	 * nesting past any EC2 parameter, and an overlong key are errors, not crashes or a value
	 * silently cut short. */
	fails("Name=v+\xab+1,vpc-2");
	fails("N\xabme=v");
	fails("A=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[x]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
	{
		char key[400], text[8200];
		memset(key, 'k', sizeof(key) - 1);
		key[sizeof(key) - 1] = 0;
		snprintf(text, sizeof(text), "%s=v", key);
		fails(text);
		/* A value longer than any fixed buffer comes through whole. */
		char val[6001];
		memset(val, 'v', sizeof(val) - 1);
		val[sizeof(val) - 1] = 0;
		snprintf(text, sizeof(text), "UserData=%s", val);
		json_t *got = NULL;
		struct err le = {0};
		int r = shorthand_parse(text, &got, &le);
		ok(r == 0 && strlen(json_string_value(json_object_get(got, "UserData")) ?: "") == 6000,
		   "a 6000-character value is kept whole");
		json_decref(got);
	}

	/* Error message names the input. */
	struct err e = {0};
	json_t *j = NULL;
	shorthand_parse("Name", &j, &e);
	ok(strstr(e.msg, "'Name'") != NULL, "error message quotes the input: %s", e.msg);
	return done();
}
