/* CloudWatch Logs, the part flow logs need (vpcd/logs.c): log groups and streams whose
 * events are files under the state directory (docs/logs.md). */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
struct req;
struct log_event {
	int64_t timestamp_ms; /* the event's time */
	const char *message;
};
/* Makes the group (and its stream) if missing and appends the events durably, in order.
 * Callable from any thread. */
int logs_put(const char *region, const char *group, const char *stream, const struct log_event *ev,
	     size_t n, struct err *e);

/* The actions (camelCase members as the logs model has them; the CLI's PascalCase ones are
 * read too). */
int h_create_log_group(struct req *, json_t **, struct err *);
int h_delete_log_group(struct req *, json_t **, struct err *);
int h_describe_log_groups(struct req *, json_t **, struct err *);
int h_create_log_stream(struct req *, json_t **, struct err *);
int h_delete_log_stream(struct req *, json_t **, struct err *);
int h_describe_log_streams(struct req *, json_t **, struct err *);
int h_put_log_events(struct req *, json_t **, struct err *);
int h_get_log_events(struct req *, json_t **, struct err *);
int h_filter_log_events(struct req *, json_t **, struct err *);
int h_put_retention_policy(struct req *, json_t **, struct err *);
int h_delete_retention_policy(struct req *, json_t **, struct err *);

/* CloudWatch Logs' filter patterns: "" (everything); terms (all must be in the message),
 * "quoted terms", ?alternatives (one of them), -exclusions; and the space-delimited form
 * [name, name=value, name!=value, name<n, ..., ...] with numeric comparisons and * in string
 * values, && and || within a field. JSON patterns ({ $.x = ... }) are refused. Errors are
 * InvalidParameterException naming the pattern. */
struct logs_filter;
int logs_filter_compile(const char *pattern, struct logs_filter **ret, struct err *e);
bool logs_filter_match(const struct logs_filter *f, const char *msg, size_t len);
void logs_filter_free(struct logs_filter *f);
/* Drops what is held in memory (the files stay): the next call loads them again, as a
 * restarted vpcd would (tests). */
void logs_forget(void);
/* Removes every log group of a state directory (`vpcd teardown --state-dir`). */
void logs_teardown(const char *state_dir);
