/* An error as the user sees it: an EC2 error code and a message naming the offending value.
 * Library code fills one of these and returns a negative errno; the daemon reports it once. */
#pragma once
#include <stdarg.h>
#include <stdbool.h>

struct err {
	char code[64];
	char msg[1024];
};

/* Sets code and message (printf-style) and returns -EINVAL, so a caller can write
 * `return err_set(e, "InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id);` */
int err_set(struct err *e, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Same, with an explicit errno to return (negative). */
int err_setr(struct err *e, int r, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static inline bool err_isset(const struct err *e) { return e->code[0] != 0; }
static inline void err_clear(struct err *e) { e->code[0] = 0, e->msg[0] = 0; }
