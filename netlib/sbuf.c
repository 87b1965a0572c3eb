#include "sbuf.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int w = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (w < 0)
			return;
		if (b->s && (size_t)w < b->cap - b->len) {
			b->len += (size_t)w;
			return;
		}
		size_t cap = (b->cap + (size_t)w + 1) * 2;
		char *ns = realloc(b->s, cap);
		if (!ns)
			abort();
		b->s = ns, b->cap = cap;
	}
}

void sb_xml(struct sbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			sb_printf(b, "&lt;");
		else if (*s == '>')
			sb_printf(b, "&gt;");
		else if (*s == '&')
			sb_printf(b, "&amp;");
		else if (*s == '"')
			sb_printf(b, "&quot;");
		else if ((unsigned char)*s >= 0x20 || *s == '\t' || *s == '\n')
			sb_printf(b, "%c", *s);
	}
}
