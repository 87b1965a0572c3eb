/* CloudWatch Logs, the part flow logs need (vpcd/logs.c): log groups and streams whose
 * events are files under the state directory. */
#pragma once
#include <jansson.h>
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
