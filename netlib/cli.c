#include "cli.h"
#include "cleanup.h"
#include "rpc.h"
#include "shorthand.h"
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_pascal(const char *kebab, char *out, size_t n)
{
	size_t j = 0;
	bool up = true;
	for (const char *p = kebab; *p && j + 1 < n; p++) {
		if (*p == '-') {
			up = true;
			continue;
		}
		out[j++] = up ? (char)toupper((unsigned char)*p) : *p;
		up = false;
	}
	out[j] = 0;
}

const struct verb *cli_find(const struct verb *verbs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

struct spec {
	char flag[64];
	char type;
	bool required;
};

/* Finds `flag` (without dashes) in the verb's spec. */
static bool spec_find(const char *params, const char *flag, struct spec *ret)
{
	const char *p = params ? params : "";
	while (*p) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (!n)
			break;
		struct spec s = {.type = 's'};
		size_t k = strcspn(p, "!: ");
		if (k >= sizeof(s.flag))
			k = sizeof(s.flag) - 1;
		memcpy(s.flag, p, k);
		s.flag[k] = 0;
		for (size_t i = k; i < n; i++) {
			if (p[i] == '!')
				s.required = true;
			else if (p[i] == ':' && i + 1 < n)
				s.type = p[i + 1];
		}
		if (strcmp(s.flag, flag) == 0) {
			*ret = s;
			return true;
		}
		p += n;
	}
	return false;
}

#define usage_err(e, ...) err_set(e, "Usage", __VA_ARGS__)

int cli_parse(const struct verb *v, int argc, char **argv, struct cli_global *g, json_t **ret_params,
	      struct err *e)
{
	_cleanup_json_ json_t *params = json_object();
	int i = 0;

	while (i < argc) {
		const char *a = argv[i];
		struct spec s;
		bool neg = false;
		char member[128];

		if (strcmp(a, "--help") == 0 || strcmp(a, "help") == 0) {
			g->help = true;
			i++;
			continue;
		}
		if (strncmp(a, "--", 2) != 0)
			return usage_err(e, "Unknown options: %s", a);
		a += 2;
		/* --flag=value, as the aws CLI takes it: split into two arguments. */
		char flagbuf[128];
		const char *eq = strchr(a, '=');
		if (eq && (size_t)(eq - a) < sizeof(flagbuf)) {
			snprintf(flagbuf, sizeof(flagbuf), "%.*s", (int)(eq - a), a);
			argv[i] = (char *)eq + 1;
			a = flagbuf;
			i--; /* the value is now argv[i + 1] */
		}
		if (strcmp(a, "region") == 0 || strcmp(a, "run-dir") == 0 || strcmp(a, "output") == 0 ||
		    strcmp(a, "endpoint-url") == 0 || strcmp(a, "profile") == 0) {
			if (i + 1 >= argc)
				return usage_err(e, "argument --%s: expected one argument", a);
			if (strcmp(a, "region") == 0)
				g->region = argv[i + 1];
			else if (strcmp(a, "run-dir") == 0)
				g->run_dir = argv[i + 1];
			else if (strcmp(a, "output") == 0 && strcmp(argv[i + 1], "json") != 0)
				return usage_err(e, "--output '%s': only json is supported", argv[i + 1]);
			i += 2;
			continue;
		}
		if (strcmp(a, "no-cli-pager") == 0 || strcmp(a, "debug") == 0) {
			i++;
			continue;
		}
		if (!spec_find(v->params, a, &s)) {
			if (strncmp(a, "no-", 3) == 0 && spec_find(v->params, a + 3, &s) &&
			    (s.type == 'b' || s.type == 'B'))
				neg = true;
			else
				return usage_err(e, "Unknown options: --%s", a);
		}
		cli_pascal(s.flag, member, sizeof(member));
		i++;
		switch (s.type) {
		case 'b':
			json_object_set_new(params, member, json_boolean(!neg));
			break;
		case 'B':
			json_object_set_new(params, member, json_pack("{s:b}", "Value", !neg));
			break;
		case 'l':
		case 'L': {
			json_t *list = json_array();
			json_object_set_new(params, member, list);
			if (i >= argc || strncmp(argv[i], "--", 2) == 0)
				return usage_err(e, "argument --%s: expected at least one argument", s.flag);
			for (; i < argc && strncmp(argv[i], "--", 2) != 0; i++) {
				if (s.type == 'l') {
					json_array_append_new(list, json_string(argv[i]));
					continue;
				}
				json_t *item;
				if (shorthand_parse(argv[i], &item, e) < 0) {
					char msg[sizeof(e->msg)];
					snprintf(msg, sizeof(msg), "%s", e->msg);
					err_set(e, "Usage", "Error parsing parameter '--%s': %s", s.flag, msg);
					return -EINVAL;
				}
				if (json_is_array(item))
					json_array_extend(list, item);
				else
					json_array_append(list, item);
				json_decref(item);
			}
			break;
		}
		default: {
			if (i >= argc)
				return usage_err(e, "argument --%s: expected one argument", s.flag);
			const char *val = argv[i++];
			if (s.type == 'i') {
				char *end;
				errno = 0;
				long long n = strtoll(val, &end, 10);
				if (!*val || *end || errno == ERANGE)
					return err_set(e, "Usage", "argument --%s: invalid integer '%s'", s.flag,
						       val);
				json_object_set_new(params, member, json_integer(n));
			} else if (s.type == 'S') {
				json_t *item;
				if (shorthand_parse(val, &item, e) < 0) {
					char msg[sizeof(e->msg)];
					snprintf(msg, sizeof(msg), "%s", e->msg);
					err_set(e, "Usage", "Error parsing parameter '--%s': %s", s.flag, msg);
					return -EINVAL;
				}
				json_object_set_new(params, member, item);
			} else {
				json_object_set_new(params, member, json_string(val));
			}
		}
		}
	}
	if (!g->help) {
		/* Required flags, named as the aws CLI names them. */
		const char *p = v->params ? v->params : "";
		char missing[512] = "";
		while (*p) {
			while (*p == ' ')
				p++;
			size_t n = strcspn(p, " ");
			if (!n)
				break;
			if (memchr(p, '!', n)) {
				char flag[64], member[128];
				size_t k = strcspn(p, "!: ");
				snprintf(flag, sizeof(flag), "%.*s", (int)k, p);
				cli_pascal(flag, member, sizeof(member));
				if (!json_object_get(params, member)) {
					size_t m = strlen(missing);
					snprintf(missing + m, sizeof(missing) - m, "%s--%s", m ? ", " : "",
						 flag);
				}
			}
			p += n;
		}
		if (missing[0])
			return usage_err(e, "the following arguments are required: %s", missing);
	}
	*ret_params = TAKE_PTR(params);
	return 0;
}

void cli_usage(const char *prog, const struct verb *verbs, size_t n)
{
	printf("usage: %s VERB [--region R] [--run-dir DIR] [flags]\n\nVerbs:\n", prog);
	for (size_t i = 0; i < n; i++)
		printf("  %-36s %s\n", verbs[i].name, verbs[i].summary);
	printf("\n'%s VERB --help' lists a verb's flags. Flags and output follow 'aws ec2'.\n", prog);
}

void cli_verb_help(const char *prog, const struct verb *v)
{
	printf("%s %s: %s\n", prog, v->name, v->summary);
	const char *p = v->params ? v->params : "";
	if (*p)
		printf("\nFlags:\n");
	while (*p) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (!n)
			break;
		size_t k = strcspn(p, "!: ");
		const char *t = memchr(p, ':', n);
		const char *kind = "STRING";
		switch (t ? t[1] : 's') {
		case 'i': kind = "INTEGER"; break;
		case 'b':
		case 'B': kind = "| --no-..."; break;
		case 'l': kind = "VALUE..."; break;
		case 'L': kind = "SHORTHAND|JSON..."; break;
		case 'S': kind = "SHORTHAND|JSON"; break;
		}
		printf("  --%.*s %s%s\n", (int)k, p, kind, memchr(p, '!', n) ? "  (required)" : "");
		p += n;
	}
	printf("\nGlobal: --region R (or AWS_DEFAULT_REGION), --run-dir DIR (or VPCLAB_RUN_DIR)\n");
}

int cli_error(const char *op, const struct err *e)
{
	if (strcmp(e->code, "Usage") == 0) {
		fprintf(stderr, "usage: see --help\n\nerror: %s\n", e->msg);
		return EXIT_USAGE;
	}
	fprintf(stderr, "\nAn error occurred (%s) when calling the %s operation: %s\n", e->code, op,
		e->msg);
	return EXIT_API_ERROR;
}

void cli_sock_path(const struct cli_global *g, const char *sock_name, char *buf, size_t n)
{
	const char *dir = g->run_dir ?: getenv("VPCLAB_RUN_DIR") ?: "/run/vpclab";
	snprintf(buf, n, "%s/%s", dir, sock_name);
}

int cli_main(const char *prog, const struct verb *verbs, size_t n, const char *sock_name, int argc,
	     char **argv)
{
	struct err e = {0};
	struct cli_global g = {0};
	_cleanup_json_ json_t *params = NULL, *result = NULL, *req = NULL;
	char op[128], sock[PATH_MAX];
	const struct verb *v;

	/* Global options may come before the verb, as in `aws --region R ec2 VERB`: move them
	 * behind it. */
	_cleanup_free_ char **args = calloc((size_t)argc + 1, sizeof(*args));
	int k = 1, lead = 1;
	if (!args)
		return EXIT_API_ERROR;
	args[0] = argv[0];
	while (lead + 1 < argc && (!strcmp(argv[lead], "--region") || !strcmp(argv[lead], "--run-dir") ||
				   !strcmp(argv[lead], "--output") || !strcmp(argv[lead], "--endpoint-url") ||
				   !strcmp(argv[lead], "--profile")))
		lead += 2;
	/* Right after the verb, so that everything after a `--` stays untouched (exec). */
	if (lead < argc)
		args[k++] = argv[lead];
	for (int i = 1; i < lead; i++)
		args[k++] = argv[i];
	for (int i = lead + 1; i < argc; i++)
		args[k++] = argv[i];
	argv = args;
	if (lead == argc)
		argc = 1; /* only global options: no verb */
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		cli_usage(prog, verbs, n);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	v = cli_find(verbs, n, argv[1]);
	if (!v) {
		fprintf(stderr, "%s: error: argument operation: Invalid choice '%s' (see '%s --help')\n",
			prog, argv[1], prog);
		return EXIT_USAGE;
	}
	if (v->run)
		return v->run(argc - 1, argv + 1);
	cli_pascal(v->name, op, sizeof(op));
	if (cli_parse(v, argc - 2, argv + 2, &g, &params, &e) < 0)
		return cli_error(op, &e);
	if (g.help) {
		cli_verb_help(prog, v);
		return 0;
	}
	if (!g.region)
		g.region = getenv("AWS_DEFAULT_REGION") ?: getenv("AWS_REGION") ?: "us-east-1";
	cli_sock_path(&g, sock_name, sock, sizeof(sock));
	if (v->prepare && v->prepare(params, &e) < 0)
		return cli_error(op, &e);
	req = json_pack("{s:s, s:s, s:O}", "Action", op, "Region", g.region, "Params", params);
	if (rpc_call(sock, req, &result, &e) < 0)
		return cli_error(op, &e);
	if (v->present)
		v->present(result);
	if (json_object_size(result) > 0) {
		json_dumpf(result, stdout, JSON_INDENT(4) | JSON_REAL_PRECISION(15));
		putchar('\n');
	}
	return 0;
}
