/* A minimal TAP producer for the unit tests (meson runs them with protocol: 'tap').
 *
 * The plan is printed by done() after the last assertion ("1..N" at the end is valid TAP), so
 * a test that dies half-way has no plan and fails instead of passing short. plan(n) may be
 * called first when the count is fixed; done() then also checks it.
 *
 * todo() marks one assertion that shows a known bug: it prints "not ok N - desc # TODO why"
 * and does not fail the run; when the bug is fixed the line becomes "ok ... # TODO", which
 * meson reports as an unexpected pass, so the marker gets removed.
 *
 * Include <jansson.h> before this file to get is_json(). */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count, tap_failed, tap_planned = -1;

static inline void plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

static inline void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void diag(const char *fmt, ...)
{
	va_list ap;
	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static inline bool tap_vresult(bool cond, const char *todo, const char *fmt, va_list ap)
{
	char desc[1024];
	printf("%s %d - ", cond ? "ok" : "not ok", ++tap_count);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	/* A newline would end the line and '#' would start a directive: escape both. */
	for (const char *p = desc; *p; p++) {
		if (*p == '\n')
			fputs("\\n", stdout);
		else if (*p == '#')
			fputs("\\#", stdout);
		else
			putchar(*p);
	}
	if (todo)
		printf(" # TODO %s", todo);
	fputc('\n', stdout);
	fflush(stdout);
	if (!cond && !todo)
		tap_failed++;
	return cond;
}

static inline bool ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline bool ok(bool cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_vresult(cond, NULL, fmt, ap);
	va_end(ap);
	return cond;
}

/* An assertion that documents a known bug (see the header comment). */
static inline bool todo(bool cond, const char *why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline bool todo(bool cond, const char *why, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_vresult(cond, why, fmt, ap);
	va_end(ap);
	return cond;
}

static inline bool is_int(long long got, long long want, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline bool is_int(long long got, long long want, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bool r = tap_vresult(got == want, NULL, fmt, ap);
	va_end(ap);
	if (!r)
		diag("  got: %lld, expected: %lld", got, want);
	return r;
}

/* NULL only equals NULL. */
static inline bool is_str(const char *got, const char *want, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline bool is_str(const char *got, const char *want, const char *fmt, ...)
{
	va_list ap;
	bool same = got && want ? strcmp(got, want) == 0 : got == want;
	va_start(ap, fmt);
	bool r = tap_vresult(same, NULL, fmt, ap);
	va_end(ap);
	if (!r)
		diag("  got: '%s', expected: '%s'", got ? got : "(null)", want ? want : "(null)");
	return r;
}

#ifdef JANSSON_H
/* Structural equality; both are borrowed. Prints both sides on failure. */
static inline bool is_json(json_t *got, json_t *want, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline bool is_json(json_t *got, json_t *want, const char *fmt, ...)
{
	va_list ap;
	bool same = got && want ? json_equal(got, want) : got == want;
	va_start(ap, fmt);
	bool r = tap_vresult(same, NULL, fmt, ap);
	va_end(ap);
	if (!r) {
		char *g = got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
		char *w = want ? json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
		diag("  got: %s", g ? g : "(null)");
		diag("  expected: %s", w ? w : "(null)");
		free(g);
		free(w);
	}
	return r;
}
#endif

/* Prints the plan if none was given and returns the exit status: nonzero if any assertion
 * (other than a todo) failed or the count does not match the plan. */
static inline int done(void)
{
	if (tap_planned < 0)
		printf("1..%d\n", tap_count);
	else if (tap_planned != tap_count) {
		diag("planned %d tests but ran %d", tap_planned, tap_count);
		return 1;
	}
	if (tap_failed)
		diag("%d of %d tests failed", tap_failed, tap_count);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

/* Golden files: a whole file read as text (NULL if it cannot be opened), and the first line
 * where two texts differ, as diagnostics. */
static inline char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t cap = 0, len = 0, n;
	char chunk[4096];
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			buf = realloc(buf, cap);
		}
		memcpy(buf + len, chunk, n);
		len += n;
	}
	fclose(f);
	if (!buf)
		buf = calloc(1, 1);
	else
		buf[len] = 0;
	return buf;
}

static inline void show_difference(const char *got, const char *want)
{
	int line = 1;
	const char *g = got, *w = want;
	while (*g && *g == *w) {
		if (*g == '\n')
			line++;
		g++, w++;
	}
	const char *gl = g, *wl = w;
	while (gl > got && gl[-1] != '\n')
		gl--;
	while (wl > want && wl[-1] != '\n')
		wl--;
	diag("first difference at line %d:", line);
	diag("  got:      %.*s", (int)strcspn(gl, "\n"), gl);
	diag("  expected: %.*s", (int)strcspn(wl, "\n"), wl);
	diag("regenerate with UPDATE_GOLDEN=1 if the change is intended");
}
