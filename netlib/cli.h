/* The command-line front door shared by vpcd and ec2d: a static verb table, aws-style flags
 * turned into the EC2 parameter object, the answer printed as `aws ec2` prints it.
 *
 * A verb's `params` string lists its flags, space-separated, each `flag[!][:type]`:
 *   !  required
 *   s  string (default)          i  integer
 *   b  boolean (--x / --no-x)     B  attribute boolean: {"Value": bool} (--x / --no-x)
 *   l  list of strings (values until the next --flag)
 *   L  list of structures (shorthand per value, or one JSON list)
 *   S  one structure (shorthand or JSON)
 * The member name is the flag in PascalCase: --cidr-block -> CidrBlock. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "err.h"

#define EXIT_API_ERROR 254
#define EXIT_USAGE 252

struct verb {
	const char *name;
	const char *params;
	const char *summary;
	/* Local verbs (serve, teardown) run in the CLI process; NULL sends it to the daemon. */
	int (*run)(int argc, char **argv);
	/* The daemon's handler for this verb (opaque here). */
	const void *impl;
	/* Not tied to a region (no region is made on first use by it). */
	bool global;
	/* What the aws CLI does on the client side: encode a parameter before sending
	 * (user-data to base64), decode a result before printing (console output). */
	int (*prepare)(json_t *params, struct err *e);
	void (*present)(json_t *result);
};


struct cli_global {
	const char *region;
	const char *run_dir;
	bool help;
};

/* The socket path of the daemon named by the global options and environment. */
void cli_sock_path(const struct cli_global *g, const char *sock_name, char *buf, size_t n);
void cli_pascal(const char *kebab, char *out, size_t n);
const struct verb *cli_find(const struct verb *verbs, size_t n, const char *name);
/* Parses argv (after the verb) against the verb's spec. Usage errors set code "Usage". */
int cli_parse(const struct verb *v, int argc, char **argv, struct cli_global *g, json_t **ret_params,
	      struct err *e);
void cli_usage(const char *prog, const struct verb *verbs, size_t n);
void cli_verb_help(const char *prog, const struct verb *v);
/* Runs a whole command line: finds the verb, parses, calls the daemon at
 * <run-dir>/<sock_name>, prints the result. Returns the process exit code. */
int cli_main(const char *prog, const struct verb *verbs, size_t n, const char *sock_name, int argc,
	     char **argv);
/* Prints the aws-style error line and returns EXIT_API_ERROR (or EXIT_USAGE). */
int cli_error(const char *op, const struct err *e);
