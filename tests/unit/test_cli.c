/* netlib/cli.h: flags to EC2 parameters, against a local verb table. */
#include <jansson.h>
#include "cli.h"
#include "tap.h"

static const struct verb verbs[] = {
	{"create-vpc", "cidr-block! instance-tenancy amazon-provided-ipv6-cidr-block:b tag-specifications:L dry-run:b",
	 "create a VPC", NULL, NULL, false},
	{"describe-vpcs", "vpc-ids:l filters:L max-results:i next-token dry-run:b", "list VPCs", NULL,
	 NULL, false},
	{"modify-network-interface-attribute",
	 "network-interface-id! source-dest-check:B description:S groups:l", "modify an ENI", NULL,
	 NULL, false},
	{"create-tags", "resources!:l tags!:L", "add tags", NULL, NULL, false},
	{"describe-regions", "region-names:l all-regions:b", "regions", NULL, NULL, true},
};
#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

/* Runs cli_parse on a NULL-terminated argument list. */
static int run(const char *verb, json_t **ret, struct cli_global *g, struct err *e, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	va_start(ap, e);
	for (char *a; argc < 31 && (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	memset(g, 0, sizeof(*g));
	memset(e, 0, sizeof(*e));
	*ret = NULL;
	const struct verb *v = cli_find(verbs, NVERBS, verb);
	if (!v) {
		diag("no verb %s", verb);
		return -1;
	}
	return cli_parse(v, argc, argv, g, ret, e);
}

/* Asserts success and that the parameters equal `want_text`. */
static void parsed(int r, json_t *got, const struct err *e, const char *want_text, const char *what)
{
	json_t *want = json_loads(want_text, 0, NULL);
	if (r < 0) {
		ok(false, "%s", what);
		diag("  failed: %s: %s", e->code, e->msg);
	} else {
		is_json(got, want, "%s", what);
	}
	json_decref(want);
	json_decref(got);
}

/* Asserts a Usage error whose message contains `needle`. */
static void usage(int r, json_t *got, const struct err *e, const char *needle, const char *what)
{
	ok(r < 0 && got == NULL && strcmp(e->code, "Usage") == 0 && strstr(e->msg, needle),
	   "%s: Usage error mentioning '%s'", what, needle);
	if (r >= 0)
		json_decref(got);
	else
		diag("  message: %s", e->msg);
}

static void test_pascal(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"cidr-block", "CidrBlock"},
		{"dry-run", "DryRun"},
		{"vpc-ids", "VpcIds"},
		{"ipv4-ipam-pool-id", "Ipv4IpamPoolId"},
		{"private-ip-address", "PrivateIpAddress"},
		{"describe-network-interfaces", "DescribeNetworkInterfaces"},
		{"a", "A"},
		{"", ""},
		{"already", "Already"},
		{"double--dash", "DoubleDash"},
		{"-leading", "Leading"},
		{"trailing-", "Trailing"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[128];
		cli_pascal(cases[i].in, out, sizeof(out));
		is_str(out, cases[i].out, "cli_pascal('%s')", cases[i].in);
	}
	char small[5];
	cli_pascal("cidr-block", small, sizeof(small));
	is_str(small, "Cidr", "cli_pascal truncates to the buffer, NUL-terminated");
	char one[1] = {'x'};
	cli_pascal("abc", one, sizeof(one));
	is_str(one, "", "cli_pascal with a one-byte buffer gives an empty string");
}

static void test_find(void)
{
	ok(cli_find(verbs, NVERBS, "describe-vpcs") == &verbs[1], "cli_find finds a verb");
	ok(cli_find(verbs, NVERBS, "describe-vpc") == NULL, "cli_find: no prefix match");
	ok(cli_find(verbs, NVERBS, "DescribeVpcs") == NULL, "cli_find: the kebab name only");
}

static void test_parse(void)
{
	struct cli_global g;
	struct err e;
	json_t *p;
	int r;

	r = run("create-vpc", &p, &g, &e, "--cidr-block", "10.0.0.0/16", NULL);
	parsed(r, p, &e, "{\"CidrBlock\":\"10.0.0.0/16\"}", "--cidr-block -> CidrBlock");

	r = run("create-vpc", &p, &g, &e, "--cidr-block", "10.0.0.0/16", "--instance-tenancy",
		"default", "--dry-run", NULL);
	parsed(r, p, &e, "{\"CidrBlock\":\"10.0.0.0/16\",\"InstanceTenancy\":\"default\",\"DryRun\":true}",
	       "strings and a :b boolean");

	r = run("create-vpc", &p, &g, &e, "--no-dry-run", "--cidr-block", "10.0.0.0/16", NULL);
	parsed(r, p, &e, "{\"CidrBlock\":\"10.0.0.0/16\",\"DryRun\":false}", "--no-dry-run -> false");

	r = run("create-vpc", &p, &g, &e, "--cidr-block", "10.0.0.0/16",
		"--amazon-provided-ipv6-cidr-block", NULL);
	parsed(r, p, &e, "{\"CidrBlock\":\"10.0.0.0/16\",\"AmazonProvidedIpv6CidrBlock\":true}",
	       "long boolean flag");

	r = run("create-vpc", &p, &g, &e, "--no-cidr-block", "x", NULL);
	usage(r, p, &e, "--no-cidr-block", "--no- form of a string flag is unknown");

	r = run("modify-network-interface-attribute", &p, &g, &e, "--network-interface-id", "eni-1",
		"--no-source-dest-check", NULL);
	parsed(r, p, &e, "{\"NetworkInterfaceId\":\"eni-1\",\"SourceDestCheck\":{\"Value\":false}}",
	       ":B --no-source-dest-check -> {\"Value\": false}");

	r = run("modify-network-interface-attribute", &p, &g, &e, "--source-dest-check",
		"--network-interface-id", "eni-1", NULL);
	parsed(r, p, &e, "{\"NetworkInterfaceId\":\"eni-1\",\"SourceDestCheck\":{\"Value\":true}}",
	       ":B --source-dest-check -> {\"Value\": true}");

	r = run("modify-network-interface-attribute", &p, &g, &e, "--network-interface-id", "eni-1",
		"--description", "Value=web server", NULL);
	parsed(r, p, &e, "{\"NetworkInterfaceId\":\"eni-1\",\"Description\":{\"Value\":\"web server\"}}",
	       ":S shorthand structure");

	r = run("modify-network-interface-attribute", &p, &g, &e, "--network-interface-id", "eni-1",
		"--description", "{\"Value\":\"x\"}", NULL);
	parsed(r, p, &e, "{\"NetworkInterfaceId\":\"eni-1\",\"Description\":{\"Value\":\"x\"}}",
	       ":S JSON structure");

	r = run("modify-network-interface-attribute", &p, &g, &e, "--network-interface-id", "eni-1",
		"--description", "Value", NULL);
	usage(r, p, &e, "--description", ":S with bad shorthand names the flag");

	/* :l collects values until the next --flag */
	r = run("describe-vpcs", &p, &g, &e, "--vpc-ids", "vpc-1", "vpc-2", "vpc-3", "--dry-run", NULL);
	parsed(r, p, &e, "{\"VpcIds\":[\"vpc-1\",\"vpc-2\",\"vpc-3\"],\"DryRun\":true}",
	       ":l collects values until the next flag");

	r = run("describe-vpcs", &p, &g, &e, "--vpc-ids", "vpc-1", NULL);
	parsed(r, p, &e, "{\"VpcIds\":[\"vpc-1\"]}", ":l with one value is still a list");

	r = run("describe-vpcs", &p, &g, &e, "--vpc-ids", "--dry-run", NULL);
	usage(r, p, &e, "--vpc-ids", ":l with no value");

	r = run("describe-vpcs", &p, &g, &e, "--vpc-ids", NULL);
	usage(r, p, &e, "--vpc-ids", ":l at the end with no value");

	/* :L: shorthand per value, or one JSON list */
	r = run("describe-vpcs", &p, &g, &e, "--filters", "Name=vpc-id,Values=vpc-1,vpc-2",
		"Name=tag:Name,Values=lab", NULL);
	parsed(r, p, &e,
	       "{\"Filters\":[{\"Name\":\"vpc-id\",\"Values\":[\"vpc-1\",\"vpc-2\"]},"
	       "{\"Name\":\"tag:Name\",\"Values\":\"lab\"}]}",
	       ":L with two shorthand values");

	r = run("describe-vpcs", &p, &g, &e, "--filters",
		"[{\"Name\":\"vpc-id\",\"Values\":[\"vpc-1\"]},{\"Name\":\"state\",\"Values\":[\"available\"]}]",
		NULL);
	parsed(r, p, &e,
	       "{\"Filters\":[{\"Name\":\"vpc-id\",\"Values\":[\"vpc-1\"]},"
	       "{\"Name\":\"state\",\"Values\":[\"available\"]}]}",
	       ":L with one JSON list is flattened");

	r = run("describe-vpcs", &p, &g, &e, "--filters", "{\"Name\":\"vpc-id\",\"Values\":[\"v\"]}",
		NULL);
	parsed(r, p, &e, "{\"Filters\":[{\"Name\":\"vpc-id\",\"Values\":[\"v\"]}]}",
	       ":L with one JSON object");

	r = run("create-tags", &p, &g, &e, "--resources", "vpc-1", "subnet-2", "--tags",
		"Key=Name,Value=lab", "Key=env,Value=", NULL);
	parsed(r, p, &e,
	       "{\"Resources\":[\"vpc-1\",\"subnet-2\"],\"Tags\":[{\"Key\":\"Name\",\"Value\":\"lab\"},"
	       "{\"Key\":\"env\",\"Value\":\"\"}]}",
	       "create-tags: :l and :L together");

	r = run("create-vpc", &p, &g, &e, "--cidr-block", "10.0.0.0/16", "--tag-specifications",
		"ResourceType=vpc,Tags=[{Key=Name,Value=lab}]", NULL);
	parsed(r, p, &e,
	       "{\"CidrBlock\":\"10.0.0.0/16\",\"TagSpecifications\":[{\"ResourceType\":\"vpc\","
	       "\"Tags\":[{\"Key\":\"Name\",\"Value\":\"lab\"}]}]}",
	       "--tag-specifications shorthand");

	r = run("describe-vpcs", &p, &g, &e, "--filters", "Name=vpc-id,Values=[a", NULL);
	usage(r, p, &e, "--filters", ":L with bad shorthand names the flag");

	/* :i */
	r = run("describe-vpcs", &p, &g, &e, "--max-results", "5", "--next-token", "10", NULL);
	parsed(r, p, &e, "{\"MaxResults\":5,\"NextToken\":\"10\"}", ":i is a JSON integer, a string stays a string");

	r = run("describe-vpcs", &p, &g, &e, "--max-results", "-7", NULL);
	parsed(r, p, &e, "{\"MaxResults\":-7}", ":i accepts a negative integer (the server checks ranges)");

	r = run("describe-vpcs", &p, &g, &e, "--max-results", "5x", NULL);
	usage(r, p, &e, "'5x'", ":i rejects trailing junk");

	r = run("describe-vpcs", &p, &g, &e, "--max-results", "", NULL);
	usage(r, p, &e, "--max-results", ":i rejects an empty value");

	r = run("describe-vpcs", &p, &g, &e, "--max-results", "five", NULL);
	usage(r, p, &e, "'five'", ":i rejects words");

	r = run("describe-vpcs", &p, &g, &e, "--max-results", "99999999999999999999", NULL);
	ok(r < 0 && strcmp(e.code, "Usage") == 0,
	     ":i rejects an integer that does not fit in 64 bits");
	if (r == 0) {
		char *text = json_dumps(p, JSON_COMPACT);
		diag("  parsed as %s", text ? text : "");
		free(text);
		json_decref(p);
	}

	r = run("describe-vpcs", &p, &g, &e, "--max-results", NULL);
	usage(r, p, &e, "--max-results", "a value flag at the end with no value");

	/* Required flags */
	r = run("create-vpc", &p, &g, &e, "--dry-run", NULL);
	usage(r, p, &e, "--cidr-block", "missing required --cidr-block");
	ok(strstr(e.msg, "required") != NULL, "the message says it is required: %s", e.msg);

	r = run("create-tags", &p, &g, &e, NULL);
	usage(r, p, &e, "--resources, --tags", "both required flags are listed");

	r = run("create-vpc", &p, &g, &e, "--help", NULL);
	ok(r == 0 && g.help, "--help skips the required-flag check and sets help");
	json_decref(p);

	/* Unknown flags and stray words */
	r = run("create-vpc", &p, &g, &e, "--cidr-block", "10.0.0.0/16", "--bogus", "1", NULL);
	usage(r, p, &e, "--bogus", "unknown flag rejected");
	r = run("create-vpc", &p, &g, &e, "--cidr-block", "10.0.0.0/16", "stray", NULL);
	usage(r, p, &e, "stray", "stray positional argument rejected");
	r = run("describe-vpcs", &p, &g, &e, "--vpc-id", "vpc-1", NULL);
	usage(r, p, &e, "--vpc-id", "a prefix of a known flag is not that flag");
	r = run("create-vpc", &p, &g, &e, "--cidr", "10.0.0.0/16", NULL);
	usage(r, p, &e, "--cidr", "a prefix of --cidr-block is unknown");

	/* Globals */
	r = run("describe-vpcs", &p, &g, &e, "--region", "eu-west-1", "--run-dir", "/tmp/x",
		"--vpc-ids", "vpc-1", NULL);
	parsed(r, p, &e, "{\"VpcIds\":[\"vpc-1\"]}", "globals are not parameters");
	is_str(g.region, "eu-west-1", "--region captured");
	is_str(g.run_dir, "/tmp/x", "--run-dir captured");
	ok(!g.help, "help not set");

	r = run("describe-vpcs", &p, &g, &e, "--vpc-ids", "vpc-1", "--region", "us-west-2", NULL);
	parsed(r, p, &e, "{\"VpcIds\":[\"vpc-1\"]}", "a global after a list ends the list");
	is_str(g.region, "us-west-2", "--region after a list captured");

	r = run("describe-vpcs", &p, &g, &e, "--output", "json", "--no-cli-pager", "--debug", NULL);
	parsed(r, p, &e, "{}", "--output json, --no-cli-pager and --debug are accepted and ignored");
	ok(g.region == NULL && g.run_dir == NULL, "globals stay NULL when not given");

	r = run("describe-vpcs", &p, &g, &e, "--output", "text", NULL);
	usage(r, p, &e, "'text'", "--output other than json rejected");

	r = run("describe-vpcs", &p, &g, &e, "--region", NULL);
	usage(r, p, &e, "--region", "--region without a value");

	r = run("describe-regions", &p, &g, &e, NULL);
	parsed(r, p, &e, "{}", "no flags: empty parameters");
}

int main(void)
{
	test_pascal();
	test_find();
	test_parse();
	return done();
}
