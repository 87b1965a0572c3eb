/* A growing string: printf into it, and XML-escape into it. Allocation failure aborts, as
 * jansson's does for us elsewhere. Start with `struct sbuf b = {0};`, take b.s (NULL when
 * nothing was written) and free it. */
#pragma once
#include <stddef.h>

struct sbuf {
	char *s;
	size_t len, cap;
};

void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* XML text and attribute values: <, >, & and " escaped; control characters other than tab
 * and newline (which XML 1.0 does not allow) dropped. */
void sb_xml(struct sbuf *b, const char *s);
