/* Unit: the check file's parser (ec2d/check_file.c): each kind with its defaults, and the
 * errors a student's file can hold, each naming its line. No daemon, no root. TAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "cleanup.h"
#include "jsonx.h"

static int n, failed;

static void ok(int cond, const char *what)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++n, what);
	failed += !cond;
}

/* Parses `yaml`; returns the checks (NULL on error, with the message in `msg`). */
static json_t *parse(const char *yaml, char *msg, size_t len)
{
	struct err e = {0};
	json_t *out = (json_t *)0x1;
	int r = check_parse(yaml, strlen(yaml), &out, &e);
	snprintf(msg, len, "%s", e.msg);
	if (r < 0) {
		if (out != (json_t *)0x1 || strcmp(e.code, "InvalidCheckFile"))
			return (json_t *)0x2; /* wrote its out-parameter on failure, or a wrong code */
		return NULL;
	}
	return out;
}

static void fails(const char *yaml, const char *want, const char *what)
{
	char msg[1024];
	json_t *c = parse(yaml, msg, sizeof(msg));
	int good = !c && strstr(msg, want) != NULL;
	ok(good, what);
	if (!good)
		printf("# wanted '%s', got '%s'\n", want, c ? "success" : msg);
	if (c && c != (json_t *)0x2)
		json_decref(c);
}

int main(void)
{
	char msg[1024];
	const char *good = "description: a lab\n"
			   "checks:\n"
			   "  - name: web answers\n"
			   "    reach: {from: internet, to: Web, port: 80}\n"
			   "  - reach:\n"
			   "      from: Private\n"
			   "      to: 10.0.1.5\n"
			   "      protocol: icmp\n"
			   "      expect: no-connect\n"
			   "  - route: {route-table: Rt, destination: 0.0.0.0/0, via: nat-gateway}\n"
			   "  - security-group-rule: {group: Web, port: 1024-65535, protocol: udp, direction: egress}\n"
			   "  - nacl-entry: {subnet: Pub, port: 80, rule-number: 100, action: deny, expect: absent}\n"
			   "  - service: {instance: Web, port: 80}\n"
			   "  - file: {instance: Web, path: /www/index.html, contains: hello}\n"
			   "  - peering: {vpc: A, peer-vpc: B}\n"
			   "  - experiment:\n"
			   "      template: CutA\n"
			   "      during:\n"
			   "        - reach: {from: internet, to: WebB, protocol: http, port: 80}\n";
	_cleanup_json_ json_t *c = parse(good, msg, sizeof(msg));
	ok(c && c != (json_t *)0x2 && json_array_size(c) == 9, "a file with every kind parses into one object per check");
	if (!c || c == (json_t *)0x2) {
		printf("# %s\n1..%d\n", msg, n);
		return 1;
	}
	json_t *r0 = json_array_get(c, 0), *r1 = json_array_get(c, 1), *rt = json_array_get(c, 2),
	       *sg = json_array_get(c, 3), *na = json_array_get(c, 4), *ex = json_array_get(c, 8);
	ok(!strcmp(jstr(r0, "Kind"), "reach") && !strcmp(jstr(r0, "Name"), "web answers") &&
		   json_integer_value(json_object_get(r0, "Line")) == 3,
	   "a check keeps its kind, name and line");
	ok(!strcmp(jstr(r0, "protocol"), "tcp") && !strcmp(jstr(r0, "expect"), "connect") &&
		   json_integer_value(json_object_get(r0, "port")) == 80,
	   "reach: protocol tcp and expect connect by default, the port an integer");
	ok(!strcmp(jstr(r1, "expect"), "no-connect") && !json_object_get(r1, "port") &&
		   json_integer_value(json_object_get(r1, "Line")) == 5,
	   "an icmp reach check needs no port; a block mapping's line is its first key's");
	ok(!strcmp(jstr(rt, "via"), "nat-gateway") && !strcmp(jstr(rt, "expect"), "present"), "route: via and expect");
	ok(json_integer_value(json_object_get(sg, "from-port")) == 1024 &&
		   json_integer_value(json_object_get(sg, "to-port")) == 65535 && !strcmp(jstr(sg, "cidr"), "0.0.0.0/0"),
	   "a port range becomes from-port/to-port; the peer defaults to 0.0.0.0/0");
	ok(json_integer_value(json_object_get(na, "rule-number")) == 100 && !strcmp(jstr(na, "direction"), "ingress"),
	   "nacl-entry: rule number, direction ingress by default");
	json_t *during = json_object_get(ex, "during");
	ok(json_array_size(during) == 1 && !strcmp(jstr(json_array_get(during, 0), "Kind"), "reach") &&
		   json_integer_value(json_object_get(ex, "wait")) == 3 &&
		   json_integer_value(json_object_get(json_array_get(during, 0), "Line")) == 19,
	   "experiment: its reach checks under during, with their own lines; wait 3 s by default");

	fails("checks:\n  - reach: {from: a, to: b, port: 80\n", "line 3: not YAML", "malformed YAML: an error naming the line");
	fails("checks:\n  - reach: {from: a, to: b, port: 80}\n  - pign: {from: a}\n",
	      "line 3: unknown check kind 'pign'", "an unknown kind names itself and its line");
	fails("checks:\n  - reach: {from: a, to: b, port: 80, colour: red}\n", "line 2: unknown field 'colour'",
	      "an unknown field");
	fails("checks:\n  - reach: {from: a, port: 80}\n", "needs the field 'to'", "a required field is missing");
	fails("checks:\n  - reach: {from: a, to: b}\n", "needs a 'port'", "a tcp reach without a port");
	fails("checks:\n  - reach: {from: a, to: b, port: 70000}\n", "line 2: 'port' must be a port from 1 to 65535",
	      "a port out of range");
	fails("checks:\n  - reach: {from: a, to: b, port: 80, expect: maybe}\n", "'maybe' must be one of: connect no-connect",
	      "a value not among the choices");
	fails("checks:\n  - route: {route-table: r, destination: 10.0.0.0/33}\n", "must be an IPv4 CIDR block",
	      "a bad CIDR");
	fails("checks:\n  - security-group-rule: {group: g, port: 90-80}\n", "a port or a range N-M", "a reversed port range");
	fails("checks:\n  - security-group-rule: {group: g, port: 80, cidr: 0.0.0.0/0, source-group: x}\n",
	      "not both", "cidr and source-group together");
	fails("checks:\n  - nacl-entry: {port: 80}\n", "'network-acl' or 'subnet'", "a nacl-entry without its ACL");
	fails("checks:\n  - reach: {from: a, to: b, port: 80}\n    route: {route-table: r, destination: 0.0.0.0/0}\n",
	      "line 3: a check has one kind", "two kinds in one check");
	fails("checks:\n  - experiment: {template: t, during: [{route: {route-table: r, destination: 0.0.0.0/0}}]}\n",
	      "only reach checks run", "only reach checks under during");
	fails("checks:\n  - reach: {from: a, from: b, to: c, port: 1}\n", "given twice", "a duplicate key");
	fails("checks: []\n", "non-empty list", "no checks");
	fails("- reach: {}\n", "line 1: a check file is a mapping", "a list at the top");
	fails("chekcs:\n  - reach: {from: a, to: b, port: 1}\n", "line 1: unknown key 'chekcs'", "a misspelt top key");
	fails("checks:\n  - reach: {from: a, to: b, port: 1}\n---\nchecks: []\n", "line 4: a check file holds one YAML document",
	      "a second document");
	fails("checks:\n  - reach: {from: [a], to: b, port: 1}\n", "must be a single value", "a list where a value goes");
	fails("checks:\n  - reach\n", "line 2: each check must be a mapping", "a check that is a bare word");
	fails("", "line 1: a check file is a mapping", "an empty file");
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}
