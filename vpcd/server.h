#pragma once
#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>
#include <jansson.h>
#include "cli.h"
#include "err.h"

struct server {
	int fd;
	char path[PATH_MAX];
	gid_t gid;
	bool have_group;
	const struct verb *verbs;
	size_t nverbs;
	bool one_sync_each; /* no group commit: each request's record is made durable alone */
};

int server_open(struct server *s, const char *path, const char *group, struct err *e);
int server_run(struct server *s);
/* Runs one request: a whole transaction, rolled back (model and kernel) if any step fails. */
int dispatch(const struct verb *verbs, size_t nverbs, json_t *req, json_t **ret, struct err *e);
