#include "err.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

static void err_vset(struct err *e, const char *code, const char *fmt, va_list ap)
{
	if (!e)
		return;
	snprintf(e->code, sizeof(e->code), "%s", code);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

int err_set(struct err *e, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err_vset(e, code, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int err_setr(struct err *e, int r, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err_vset(e, code, fmt, ap);
	va_end(ap);
	return r < 0 ? r : -EIO;
}
