/* `ec2d check`: a lab's check file (YAML, docs/checks.md) run against the running lab.
 * check_file.c parses and validates the file (no daemon, no I/O: the fuzz target's code);
 * check.c resolves the objects it names and runs each check. */
#pragma once
#include <jansson.h>
#include <stddef.h>
#include "err.h"

/* Exit codes of `ec2d check` (docs/checks.md). */
#define CHECK_EXIT_PASS 0
#define CHECK_EXIT_FAIL 1
#define CHECK_EXIT_BAD_FILE 2

#define CHECK_MAX 500

/* Parses a check file. On success *ret_checks is an array of objects, one per check, each
 * {"Kind", "Line", "Name", and its fields under their YAML keys, integers as integers, an
 * experiment's "during" as an array of reach checks}, every default filled in. On failure
 * `e` (code "InvalidCheckFile") names the line: "line 12: ...". */
int check_parse(const char *buf, size_t n, json_t **ret_checks, struct err *e);

/* The CLI verb (run in the CLI process). */
int cmd_check(int argc, char **argv);

struct ereq;
/* CheckReach, a core action: one connection attempt (tcp, http, udp, icmp) from an instance
 * or the region's internet test host to an address; the answer says whether it connected. */
int h_check_reach(struct ereq *rq, json_t **ret, struct err *e);
