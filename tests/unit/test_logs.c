/* CloudWatch Logs (vpcd/logs.c): the filter-pattern matcher, and the store through logs_put
 * and the handlers: concurrent writers, a reload (what a restart reads), a torn last line cut
 * off, bad input changing nothing. No root. */
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"
#include "vpcd.h"

struct vpcd *V;

static const char *const FLOW[] = {
    "2 123456789012 eni-0a1 10.0.1.10 10.0.2.9 40000 22 6 1 60 1700000000 1700000010 REJECT OK",
    "2 123456789012 eni-0a1 10.0.1.11 10.0.2.9 40001 443 6 2 120 1700000001 1700000011 ACCEPT OK",
    "2 123456789012 eni-0a1 10.0.1.12 10.0.2.9 40002 22 6 3 180 1700000002 1700000012 ACCEPT OK",
    "2 123456789012 eni-0a1 - - - - - - - 1700000003 1700000013 - NODATA",
};

/* Which of FLOW a pattern matches, as a bit mask; -1 if it does not compile. */
static int mask(const char *pattern)
{
	struct logs_filter *f = NULL;
	struct err e = {0};
	int m = 0;
	if (logs_filter_compile(pattern, &f, &e) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(FLOW) / sizeof(FLOW[0]); i++)
		if (logs_filter_match(f, FLOW[i], strlen(FLOW[i])))
			m |= 1 << i;
	logs_filter_free(f);
	return m;
}

static bool one(const char *pattern, const char *msg)
{
	struct logs_filter *f = NULL;
	struct err e = {0};
	if (logs_filter_compile(pattern, &f, &e) < 0)
		return false;
	bool r = logs_filter_match(f, msg, strlen(msg));
	logs_filter_free(f);
	return r;
}

static void refused(const char *pattern, const char *why)
{
	struct logs_filter *f = NULL;
	struct err e = {0};
	int r = logs_filter_compile(pattern, &f, &e);
	ok(r < 0 && !strcmp(e.code, "InvalidParameterException") && strstr(e.msg, why),
	   "refused: %s (%s: %s)", pattern, e.code, e.msg);
	logs_filter_free(f);
}

static void patterns(void)
{
	is_int(mask(""), 0xf, "empty pattern: everything");
	is_int(mask("   "), 0xf, "blank pattern: everything");
	is_int(mask("REJECT"), 0x1, "a term");
	is_int(mask("ACCEPT 10.0.1.12"), 0x4, "terms: all of them");
	is_int(mask("?REJECT ?NODATA"), 0x9, "?alternatives: any of them");
	is_int(mask("OK -REJECT"), 0x6, "-exclusion");
	is_int(mask("-\"10.0.1.1\""), 0x8, "-\"quoted\" exclusion");
	is_int(mask("\"22 6 3\""), 0x4, "a quoted term with spaces");
	is_int(mask("accept"), 0x0, "terms are case-sensitive");
	is_int(mask("[version, account, eni, source, destination, srcport, destport=\"22\", "
		    "protocol, packets, bytes, "
		    "windowstart, windowend, action=\"REJECT\", flowlogstatus]"),
	       0x1, "the flow log pattern of rejected SSH");
	is_int(mask("[v, a, e, s, d, sp, dp=22, ...]"), 0x5,
	       "a number: numeric equality, then ...");
	is_int(mask("[v, a, e, s, d, sp, dp=022, ...]"), 0x5, "numeric equality: 022 is 22");
	is_int(mask("[v, a, e, s, d, sp, dp!=22, ...]"), 0x2,
	       "!= on a number (a '-' field is no number)");
	is_int(mask("[..., packets>1, bytes, ws, we, action, status]"), 0x6,
	       "> after a leading ...");
	is_int(mask("[..., packets>=1, bytes<=60, ws, we, action, status]"), 0x1, ">= and <=");
	is_int(mask("[..., action=ACC*, status]"), 0x6, "* in a string value");
	is_int(mask("[..., action=*E*T, status]"), 0x7, "* twice");
	is_int(mask("[..., action!=ACC*, status]"), 0x9, "!= with *");
	is_int(mask("[v, a, e, s, d, sp, dp=22 || dp=443, ...]"), 0x7, "|| within a field");
	is_int(mask("[v, a, e, s, d, sp, dp>20 && dp<100, ...]"), 0x5, "&& within a field");
	is_int(mask("[v, a, e, s, d, sp, dp=443 || dp>20 && dp<23, ...]"), 0x7,
	       "&& binds tighter than ||");
	is_int(mask("[..., status=NODATA]"), 0x8, "the last field");
	is_int(mask("[a, b, c]"), 0x0, "three fields match no 14-field record");
	is_int(mask("[v, ..., action=REJECT, ..., status]"), 0x1, "two ellipses");
	is_int(mask("[...]"), 0xf, "[...]: everything");
	ok(one("[ip, user, ts, req, status=404, size]",
	       "1.2.3.4 - [10/Oct/2000:13:55:36 -0700] \"GET /x HTTP/1.0\" 404 7"),
	   "[...] and \"...\" in a message are one field each");
	ok(!one("[ip, user, ts, req, status=404, size]",
		"1.2.3.4 - [10/Oct/2000:13:55:36 -0700] \"GET /x HTTP/1.0\" 200 7"),
	   "... and the condition is on the right field");
	ok(one("[a, b=\"x y\"]", "1 \"x y\""), "a quoted value with a space");
	ok(one("[a, b=\"\"]", "1 \"\""), "an empty quoted value");
	ok(!one("[a, b>5]", "1 x"), "a numeric condition on text: false");
	refused("{ $.action = \"REJECT\" }", "JSON filter patterns");
	refused("%REJECT%", "regular expression");
	refused("[a, b", "'['");
	refused("[a, b=]", "no value");
	refused("[a, b~1]", "operator");
	refused("[a, b<abc]", "compare numbers");
	refused("[a, b=1 || c=2]", "must all name that field");
	refused("\"unclosed", "not closed");
	refused("REJECT ?", "without a term");
}

/* --- the store ---------------------------------------------------------------------------- */

struct writer {
	int id;
	int fails;
};

static void *write_many(void *arg)
{
	struct writer *w = arg;
	char stream[32], msg[64];
	snprintf(stream, sizeof(stream), "eni-%d", w->id);
	for (int i = 0; i < 50; i++) {
		struct err e = {0};
		snprintf(msg, sizeof(msg), "writer %d event %d", w->id, i);
		struct log_event ev = {1700000000000LL + i, msg};
		if (logs_put("us-east-1", "/flow", stream, &ev, 1, &e) < 0)
			w->fails++;
	}
	return NULL;
}

static json_t *call(handler_fn h, const char *params, struct err *e)
{
	struct req rq = {
	    .action = "x", .region = "us-east-1", .params = json_loads(params, 0, NULL)};
	json_t *ret = NULL;
	err_clear(e);
	if (h(&rq, &ret, e) < 0)
		ret = NULL;
	json_decref(rq.params);
	return ret;
}

static size_t events_of(const char *stream)
{
	struct err e = {0};
	char p[128];
	snprintf(
	    p, sizeof(p),
	    "{\"logGroupName\": \"/flow\", \"logStreamName\": \"%s\", \"startFromHead\": true}",
	    stream);
	json_t *r = call(h_get_log_events, p, &e);
	size_t n = json_array_size(json_object_get(r, "events"));
	json_decref(r);
	return n;
}

static void store(void)
{
	static struct vpcd v;
	char dir[] = "/tmp/vpclab-ut-logs-XXXXXX", cmd[128];
	struct err e = {0};
	pthread_t th[4];
	struct writer w[4];
	if (!mkdtemp(dir)) {
		ok(false, "a temporary state directory");
		return;
	}
	V = &v;
	snprintf(v.state_dir, sizeof(v.state_dir), "%s", dir);
	if (regions_load_config(NULL, &e) < 0)
		diag("regions: %s", e.msg);

	for (int i = 0; i < 4; i++) {
		w[i] = (struct writer){i, 0};
		pthread_create(&th[i], NULL, write_many, &w[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	is_int(w[0].fails + w[1].fails + w[2].fails + w[3].fails, 0,
	       "4 threads x 50 logs_put: none fails");
	is_int((long long)(events_of("eni-0") + events_of("eni-1") + events_of("eni-2") +
			   events_of("eni-3")),
	       200, "... and the 200 events are there");
	json_t *r = call(h_describe_log_streams, "{\"logGroupName\": \"/flow\"}", &e);
	is_int((long long)json_array_size(json_object_get(r, "logStreams")), 4,
	       "logs_put made the group and 4 streams");
	json_decref(r);

	logs_forget();
	is_int((long long)events_of("eni-2"), 50, "reloaded from the files: the events are there");

	/* A write torn by a crash: half a line at the end of a stream's file. */
	snprintf(cmd, sizeof(cmd),
		 "for f in %s/logs/us-east-1/g*/s*/events; do printf '17 1' >> $f; done", dir);
	ok(system(cmd) == 0, "a torn line appended to every stream's file");
	logs_forget();
	is_int((long long)events_of("eni-3"), 50, "the torn line is not an event");
	struct log_event ev = {1700000000999LL, "after the tear"};
	ok(logs_put("us-east-1", "/flow", "eni-3", &ev, 1, &e) == 0, "an append after the tear");
	logs_forget();
	is_int((long long)events_of("eni-3"), 51, "... reads back whole after another reload");

	/* Bad input changes nothing. */
	r = call(h_put_log_events,
		 "{\"logGroupName\": \"/flow\", \"logStreamName\": \"eni-0\", \"logEvents\": "
		 "[{\"timestamp\": 1700000000002, \"message\": \"b\"}, {\"timestamp\": "
		 "1700000000001, \"message\": \"a\"}]}",
		 &e);
	ok(!r && !strcmp(e.code, "InvalidParameterException"), "events out of order: %s", e.code);
	is_int((long long)events_of("eni-0"), 50, "... and none kept");
	r = call(h_create_log_group, "{\"logGroupName\": \"bad name\"}", &e);
	ok(!r && !strcmp(e.code, "InvalidParameterException"), "a bad group name: %s", e.code);
	r = call(h_describe_log_groups, "{}", &e);
	is_int((long long)json_array_size(json_object_get(r, "logGroups")), 1,
	       "... and no group made");
	json_decref(r);
	r = call(h_get_log_events, "{\"logGroupName\": \"/none\", \"logStreamName\": \"x\"}", &e);
	ok(!r && !strcmp(e.code, "ResourceNotFoundException") &&
	       !strcmp(e.msg, "The specified log group does not exist."),
	   "a group that does not exist: %s: %s", e.code, e.msg);
	r = call(h_delete_log_group, "{\"LogGroupName\": \"/flow\"}", &e);
	ok(r != NULL, "delete-log-group (the CLI's PascalCase member)");
	json_decref(r);
	logs_forget();
	r = call(h_describe_log_groups, "{}", &e);
	is_int((long long)json_array_size(json_object_get(r, "logGroups")), 0,
	       "deleted, also after a reload");
	json_decref(r);
	logs_forget();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		diag("cannot remove %s", dir);
}

int main(void)
{
	patterns();
	store();
	return done();
}
