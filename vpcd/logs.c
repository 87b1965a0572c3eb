/* CloudWatch Logs, the part VPC flow logs need: log groups and streams per region, their
 * events, the actions on them, and CloudWatch's filter patterns (docs/logs.md).
 *
 * Where it lives. Log groups are a directory layout, not journaled model objects: the flow
 * log collector appends from a thread of its own (logs_put), and the model, its indexes and
 * its transactions are the main loop's alone. A group is a directory, a stream a directory
 * in it, each with a small JSON file of what AWS shows about it, and a stream's events an
 * append-only file of lines:
 *
 *   <state-dir>/logs/<region>/g<16 hex>/group.json     {"logGroupName", "creationTime",
 * "retentionInDays"} <state-dir>/logs/<region>/g<16 hex>/s<16 hex>/stream.json   {"logStreamName",
 * "creationTime"} <state-dir>/logs/<region>/g<16 hex>/s<16 hex>/events        TIMESTAMP INGESTION
 * SEQ "JSON message"\n
 *
 * (names are up to 512 characters, more than a file name holds, so directories are named by
 * a random number and the name is inside). A directory is made under a temporary name,
 * filled, fsynced and renamed into place, and its parent fsynced; it is deleted by a rename
 * to del-... (fsynced) before its files go. Events are written with one write() and an
 * fdatasync before the call returns: what was acknowledged survives kill -9, and a line
 * torn by a crash mid-write (never acknowledged) is cut off at the next load.
 *
 * Everything is held in memory as well (events sorted by timestamp, then by a sequence
 * number that is unique in the group): queries never read the files, which are read once,
 * at the first call after start. One mutex covers all of it and the files. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cleanup.h"
#include "log.h"
#include "vpcd.h"

#define BAD "InvalidParameterException"
#define NOTFOUND "ResourceNotFoundException"
#define EXISTS "ResourceAlreadyExistsException"
#define NAME_MAX_LEN 512
#define EVENT_MAX_BYTES 262144	/* an event, its 26 bytes of overhead counted */
#define BATCH_MAX_BYTES 1048576 /* a PutLogEvents batch, and an answer's events */
#define BATCH_MAX_EVENTS 10000
#define EVENT_OVERHEAD 26
#define DAY_MS (86400LL * 1000)

/* ---------------------------------------------------------------------------------------- */
/* Filter patterns                                                                          */
/* ---------------------------------------------------------------------------------------- */

enum term_kind { TERM_ALL, TERM_ANY, TERM_NOT };
enum cmp_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

struct term {
	char *text;
	enum term_kind kind;
};

struct cond {
	enum cmp_op op;
	bool numeric;
	double num;
	char *str;
	bool or_next; /* joined to the next condition by || (else &&) */
};

struct field {
	char *name;
	bool ellipsis;
	struct cond *conds;
	size_t nconds;
};

struct logs_filter {
	bool fields_form;
	struct term *terms;
	size_t nterms;
	struct field *fields;
	size_t nfields;
};

void logs_filter_free(struct logs_filter *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nterms; i++)
		free(f->terms[i].text);
	for (size_t i = 0; i < f->nfields; i++) {
		free(f->fields[i].name);
		for (size_t j = 0; j < f->fields[i].nconds; j++)
			free(f->fields[i].conds[j].str);
		free(f->fields[i].conds);
	}
	free(f->terms);
	free(f->fields);
	free(f);
}

static void filter_freep(struct logs_filter **f)
{
	logs_filter_free(*f);
}

static int bad_pattern(struct err *e, const char *pattern, const char *why)
{
	return err_set(e, BAD, "Invalid filter pattern '%.256s': %s", pattern, why);
}

/* A quoted string at *p ('"' first), its escapes (\" and \\) undone; *p moves past it. */
static char *read_quoted(const char **p)
{
	const char *s = *p + 1;
	size_t n = 0;
	char *out = malloc(strlen(s) + 1);
	if (!out)
		return NULL;
	while (*s && *s != '"') {
		if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
			s++;
		out[n++] = *s++;
	}
	if (*s != '"') {
		free(out);
		return NULL;
	}
	out[n] = 0;
	*p = s + 1;
	return out;
}

static int compile_terms(const char *pattern, struct logs_filter *f, struct err *e)
{
	const char *p = pattern;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		enum term_kind kind = TERM_ALL;
		if (*p == '?' || *p == '-') {
			kind = *p == '?' ? TERM_ANY : TERM_NOT;
			p++;
		}
		char *text;
		if (*p == '"') {
			if (!(text = read_quoted(&p)))
				return bad_pattern(e, pattern, "a quoted term is not closed");
		} else {
			size_t n = strcspn(p, " \t");
			if (n == 0)
				return bad_pattern(e, pattern, "'?' or '-' without a term");
			if (memchr(p, '"', n))
				return bad_pattern(e, pattern, "a quote inside an unquoted term");
			if (!(text = strndup(p, n)))
				return -ENOMEM;
			p += n;
		}
		struct term *nt = realloc(f->terms, (f->nterms + 1) * sizeof(*nt));
		if (!nt) {
			free(text);
			return -ENOMEM;
		}
		f->terms = nt;
		f->terms[f->nterms++] = (struct term){text, kind};
	}
	return 0;
}

static bool is_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.' || c == '$';
}

/* One condition of a field: NAME OP VALUE, at *p; the name must be the field's. */
static int parse_cond(const char **pp, struct field *fl, const char *pattern, struct err *e)
{
	const char *p = *pp;
	struct cond c = {0};
	size_t n = 0;
	while (is_name_char(p[n]))
		n++;
	if (n == 0)
		return bad_pattern(e, pattern, "a field has no name");
	if (!fl->name) {
		if (!(fl->name = strndup(p, n)))
			return -ENOMEM;
	} else if (strlen(fl->name) != n || strncmp(fl->name, p, n))
		return bad_pattern(e, pattern,
				   "the conditions of a field must all name that field");
	p += n;
	while (*p == ' ')
		p++;
	if (*p == ',' || !*p) {
		*pp = p;
		return 1; /* a name alone: any value */
	}
	if (p[0] == '!' && p[1] == '=')
		c.op = OP_NE, p += 2;
	else if (p[0] == '<' && p[1] == '=')
		c.op = OP_LE, p += 2;
	else if (p[0] == '>' && p[1] == '=')
		c.op = OP_GE, p += 2;
	else if (p[0] == '=')
		c.op = OP_EQ, p += 1 + (p[1] == '=');
	else if (p[0] == '<')
		c.op = OP_LT, p++;
	else if (p[0] == '>')
		c.op = OP_GT, p++;
	else
		return bad_pattern(e, pattern,
				   "a field's condition has no operator (=, !=, <, <=, >, >=)");
	while (*p == ' ')
		p++;
	if (*p == '"') {
		if (!(c.str = read_quoted(&p)))
			return bad_pattern(e, pattern, "a quoted value is not closed");
	} else {
		size_t vn = strcspn(p, " ,]&|");
		if (vn == 0)
			return bad_pattern(e, pattern, "a field's condition has no value");
		if (!(c.str = strndup(p, vn)))
			return -ENOMEM;
		char *end;
		errno = 0;
		double d = strtod(c.str, &end);
		if (!*end && !errno && isfinite(d) && !isspace((unsigned char)c.str[0]))
			c.numeric = true, c.num = d;
		p += vn;
	}
	if (!c.numeric && c.op != OP_EQ && c.op != OP_NE) {
		free(c.str);
		return bad_pattern(e, pattern, "<, <=, > and >= compare numbers");
	}
	struct cond *nc = realloc(fl->conds, (fl->nconds + 1) * sizeof(*nc));
	if (!nc) {
		free(c.str);
		return -ENOMEM;
	}
	fl->conds = nc;
	fl->conds[fl->nconds++] = c;
	*pp = p;
	return 0;
}

static int compile_fields(const char *pattern, const char *body, size_t len, struct logs_filter *f,
			  struct err *e)
{
	_cleanup_free_ char *text = strndup(body, len);
	const char *p = text;
	int r;
	if (!text)
		return -ENOMEM;
	for (;;) {
		while (*p == ' ')
			p++;
		struct field *nf = realloc(f->fields, (f->nfields + 1) * sizeof(*nf));
		if (!nf)
			return -ENOMEM;
		f->fields = nf;
		struct field *fl = &f->fields[f->nfields++];
		*fl = (struct field){0};
		if (!strncmp(p, "...", 3)) {
			fl->ellipsis = true;
			p += 3;
		} else {
			for (;;) {
				if ((r = parse_cond(&p, fl, pattern, e)) < 0)
					return r;
				while (*p == ' ')
					p++;
				if ((p[0] == '&' && p[1] == '&') || (p[0] == '|' && p[1] == '|')) {
					if (r == 1 || !fl->nconds)
						return bad_pattern(
						    e, pattern,
						    "&& or || after a field without a condition");
					fl->conds[fl->nconds - 1].or_next = p[0] == '|';
					p += 2;
					while (*p == ' ')
						p++;
					continue;
				}
				break;
			}
		}
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		if (*p != ',')
			return bad_pattern(e, pattern, "fields are separated by commas");
		p++;
	}
	if (f->nfields > 256)
		return bad_pattern(e, pattern, "more than 256 fields");
	return 0;
}

int logs_filter_compile(const char *pattern, struct logs_filter **ret, struct err *e)
{
	_cleanup_(filter_freep) struct logs_filter *f = calloc(1, sizeof(*f));
	const char *s = pattern ? pattern : "";
	size_t len;
	int r;
	if (!f)
		return err_setr(e, -ENOMEM, "ServiceUnavailableException", "out of memory");
	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len > 1024)
		return err_set(
		    e, BAD,
		    "1 validation error detected: Value at 'filterPattern' failed to satisfy "
		    "constraint: Member must have length less than or equal to 1024");
	if (len && s[0] == '{')
		return err_set(e, BAD,
			       "Invalid filter pattern '%.256s': JSON filter patterns ({ $.field = "
			       "value }) are not supported by this lab",
			       pattern);
	if (len && s[0] == '%')
		return err_set(e, BAD,
			       "Invalid filter pattern '%.256s': regular expression patterns "
			       "(%%...%%) are not supported by this lab",
			       pattern);
	if (len && s[0] == '[') {
		if (s[len - 1] != ']')
			return bad_pattern(e, pattern, "a '[' without its ']'");
		f->fields_form = true;
		r = compile_fields(pattern, s + 1, len - 2, f, e);
	} else {
		_cleanup_free_ char *t = strndup(s, len);
		r = t ? compile_terms(t, f, e) : -ENOMEM;
	}
	if (r == -ENOMEM)
		return err_setr(e, r, "ServiceUnavailableException", "out of memory");
	if (r < 0)
		return r;
	*ret = TAKE_PTR(f);
	return 0;
}

static bool contains(const char *msg, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	if (n == 0)
		return true;
	if (n > len)
		return false;
	return memmem(msg, len, needle, n) != NULL;
}

/* Glob with '*' (any run), over s[0..n). */
static bool glob(const char *pat, const char *s, size_t n)
{
	const char *star = NULL;
	size_t i = 0, mark = 0;
	while (i < n) {
		if (*pat == '*') {
			star = pat++;
			mark = i;
		} else if (*pat && *pat == s[i]) {
			pat++, i++;
		} else if (star) {
			pat = star + 1;
			i = ++mark;
		} else
			return false;
	}
	while (*pat == '*')
		pat++;
	return !*pat;
}

static bool cond_true(const struct cond *c, const char *v, size_t n)
{
	if (c->numeric) {
		char buf[64], *end;
		if (n == 0 || n >= sizeof(buf))
			return false;
		memcpy(buf, v, n);
		buf[n] = 0;
		errno = 0;
		double d = strtod(buf, &end);
		if (*end || errno || isspace((unsigned char)buf[0]))
			return false; /* not a number: no numeric condition holds */
		switch (c->op) {
		case OP_EQ:
			return d == c->num;
		case OP_NE:
			return d != c->num;
		case OP_LT:
			return d < c->num;
		case OP_LE:
			return d <= c->num;
		case OP_GT:
			return d > c->num;
		case OP_GE:
			return d >= c->num;
		}
		return false;
	}
	bool eq = glob(c->str, v, n);
	return c->op == OP_EQ ? eq : !eq;
}

/* The conditions of a field: && before ||, left to right. */
static bool field_true(const struct field *fl, const char *v, size_t n)
{
	bool any = false, all = true;
	for (size_t i = 0; i < fl->nconds; i++) {
		all = all && cond_true(&fl->conds[i], v, n);
		if (fl->conds[i].or_next || i + 1 == fl->nconds) {
			any = any || all;
			all = true;
		}
	}
	return fl->nconds == 0 || any;
}

struct span {
	const char *s;
	size_t n;
};

/* The message's space-delimited fields; "..." and [...] are one field each (without their
 * quotes or brackets). At most `max`; returns how many, or max + 1 if there are more. */
static size_t split_fields(const char *msg, size_t len, struct span *out, size_t max)
{
	size_t i = 0, k = 0;
	while (i < len) {
		while (i < len &&
		       (msg[i] == ' ' || msg[i] == '\t' || msg[i] == '\n' || msg[i] == '\r'))
			i++;
		if (i >= len)
			break;
		if (k == max)
			return max + 1;
		size_t start = i;
		char close = msg[i] == '"' ? '"' : msg[i] == '[' ? ']' : 0;
		if (close) {
			const char *end = memchr(msg + i + 1, close, len - i - 1);
			if (end) {
				out[k++] = (struct span){msg + i + 1, (size_t)(end - msg) - i - 1};
				i = (size_t)(end - msg) + 1;
				continue;
			}
		}
		while (i < len && msg[i] != ' ' && msg[i] != '\t' && msg[i] != '\n' &&
		       msg[i] != '\r')
			i++;
		out[k++] = (struct span){msg + start, i - start};
	}
	return k;
}

#define MAX_MSG_FIELDS 4096

static bool fields_match(const struct logs_filter *f, const char *msg, size_t len)
{
	struct span *fs = malloc(MAX_MSG_FIELDS * sizeof(*fs));
	size_t n, i = 0, j = 0, star = SIZE_MAX, mark = 0;
	bool ok = false;
	if (!fs)
		return false;
	n = split_fields(msg, len, fs, MAX_MSG_FIELDS);
	if (n > MAX_MSG_FIELDS)
		goto out;
	/* As a glob: "..." is '*', every other field one message field meeting its conditions;
	 * backtracking to the last "..." is enough. */
	while (j < n) {
		if (i < f->nfields && f->fields[i].ellipsis) {
			star = i++;
			mark = j;
		} else if (i < f->nfields && field_true(&f->fields[i], fs[j].s, fs[j].n)) {
			i++, j++;
		} else if (star != SIZE_MAX) {
			i = star + 1;
			j = ++mark;
		} else
			goto out;
	}
	while (i < f->nfields && f->fields[i].ellipsis)
		i++;
	ok = i == f->nfields;
out:
	free(fs);
	return ok;
}

bool logs_filter_match(const struct logs_filter *f, const char *msg, size_t len)
{
	if (!f)
		return true;
	if (f->fields_form)
		return fields_match(f, msg, len);
	bool any_seen = false, any_hit = false;
	for (size_t i = 0; i < f->nterms; i++) {
		const struct term *t = &f->terms[i];
		bool in = contains(msg, len, t->text);
		if (t->kind == TERM_ALL && !in)
			return false;
		if (t->kind == TERM_NOT && in)
			return false;
		if (t->kind == TERM_ANY) {
			any_seen = true;
			any_hit = any_hit || in;
		}
	}
	return !any_seen || any_hit;
}

/* ---------------------------------------------------------------------------------------- */
/* The store                                                                                */
/* ---------------------------------------------------------------------------------------- */

struct lev {
	int64_t ts, ingest;
	uint64_t seq;
	char *msg;
	size_t len;
};

struct lstream {
	char *name;
	char dir[PATH_MAX];
	int64_t creation;
	struct lev *ev;
	size_t nev, cap;
	int64_t first_ts, last_ts, last_ingest; /* 0: no events */
	int fd;					/* events file, for appends; -1 until needed */
};

struct lgroup {
	char *name;
	char region[32];
	char dir[PATH_MAX];
	int64_t creation;
	int retention; /* days, 0: never expire */
	uint64_t next_seq;
	uint64_t bytes;
	struct lstream **streams;
	size_t nstreams;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct lgroup **groups;
static size_t ngroups;
static bool loaded;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int io_err(struct err *e, int r, const char *what, const char *path)
{
	log_error("logs: %s '%s': %s", what, path, strerror(-r));
	return err_setr(e, r, "ServiceUnavailableException", "The log store could not %s '%s': %s",
			what, path, strerror(-r));
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static int write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w, n -= (size_t)w;
	}
	return 0;
}

/* dir/name holds `text` durably: a temporary file, fsynced, renamed over it, the directory
 * fsynced. */
static int write_durable(const char *dir, const char *name, const char *text)
{
	char tmp[PATH_MAX + 16], path[PATH_MAX + 16];
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640), r;
	if (fd < 0)
		return -errno;
	r = write_all(fd, text, strlen(text));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r == 0)
		r = fsync_path(dir);
	if (r < 0)
		unlink(tmp);
	return r;
}

/* Removes a directory and the files in it, and one level of directories below (a group's
 * streams). */
static void remove_tree(const char *path, int depth)
{
	DIR *d = opendir(path);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[PATH_MAX + 300];
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		if (unlink(p) < 0 && errno == EISDIR && depth > 0)
			remove_tree(p, depth - 1);
	}
	closedir(d);
	rmdir(path);
}

/* Deletes a directory durably: renamed to del-<name> (what a load after a crash removes). */
static int remove_durable(const char *path)
{
	char dead[PATH_MAX + 8], parent[PATH_MAX];
	const char *slash = strrchr(path, '/');
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
	snprintf(dead, sizeof(dead), "%s/del-%s", parent, slash + 1);
	if (rename(path, dead) < 0)
		return -errno;
	int r = fsync_path(parent);
	remove_tree(dead, 1);
	return r;
}

void logs_teardown(const char *state_dir)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/logs", state_dir) < (int)sizeof(path))
		remove_tree(path, 3); /* logs/<region>/g.../s.../files */
}

static void random_name(char prefix, char buf[static 18])
{
	uint64_t x = 0;
	if (getrandom(&x, sizeof(x), 0) != sizeof(x))
		x = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32);
	snprintf(buf, 18, "%c%016" PRIx64, prefix, x);
}

/* Makes <parent>/<prefix><random> with `file` holding `meta`, whole or not at all. */
static int make_dir_durable(const char *parent, char prefix, const char *file, const char *meta,
			    char ret_path[static PATH_MAX])
{
	char name[18], tmp[PATH_MAX], path[PATH_MAX];
	int r;
	random_name(prefix, name);
	snprintf(tmp, sizeof(tmp), "%s/tmp-%s", parent, name);
	snprintf(path, sizeof(path), "%s/%s", parent, name);
	if (mkdir(tmp, 0750) < 0)
		return -errno;
	if ((r = write_durable(tmp, file, meta)) < 0)
		goto fail;
	if (prefix == 's') {
		/* The events file exists from the start, so that an append never makes an entry. */
		char ev[PATH_MAX + 8];
		snprintf(ev, sizeof(ev), "%s/events", tmp);
		int fd = open(ev, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0 || fsync(fd) < 0) {
			r = -errno;
			if (fd >= 0)
				close(fd);
			goto fail;
		}
		close(fd);
		if ((r = fsync_path(tmp)) < 0)
			goto fail;
	}
	if (rename(tmp, path) < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = fsync_path(parent)) < 0)
		return r; /* in place, but maybe not durably: the caller reports it */
	snprintf(ret_path, PATH_MAX, "%s", path);
	return 0;
fail:
	remove_tree(tmp, 0);
	return r;
}

static void stream_free(struct lstream *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nev; i++)
		free(s->ev[i].msg);
	free(s->ev);
	if (s->fd >= 0)
		close(s->fd);
	free(s->name);
	free(s);
}

static void group_free(struct lgroup *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nstreams; i++)
		stream_free(g->streams[i]);
	free(g->streams);
	free(g->name);
	free(g);
}

void logs_forget(void)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < ngroups; i++)
		group_free(groups[i]);
	free(groups);
	groups = NULL, ngroups = 0, loaded = false;
	pthread_mutex_unlock(&lock);
}

static int key_cmp(int64_t ta, uint64_t sa, int64_t tb, uint64_t sb)
{
	return ta < tb ? -1 : ta > tb ? 1 : sa < sb ? -1 : sa > sb ? 1 : 0;
}

/* The first index whose (ts, seq) is greater than (ts, seq) given (after = true), or not
 * less (after = false). */
static size_t ev_bound(const struct lstream *s, int64_t ts, uint64_t seq, bool after)
{
	size_t lo = 0, hi = s->nev;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(s->ev[mid].ts, s->ev[mid].seq, ts, seq);
		if (after ? c <= 0 : c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Adds an event in its place (usually the end); takes msg. */
static int stream_insert(struct lgroup *g, struct lstream *s, struct lev ev)
{
	if (s->nev == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct lev *n = realloc(s->ev, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->ev = n, s->cap = cap;
	}
	size_t at =
	    s->nev && key_cmp(s->ev[s->nev - 1].ts, s->ev[s->nev - 1].seq, ev.ts, ev.seq) > 0
		? ev_bound(s, ev.ts, ev.seq, true)
		: s->nev;
	memmove(s->ev + at + 1, s->ev + at, (s->nev - at) * sizeof(*s->ev));
	s->ev[at] = ev;
	s->nev++;
	s->first_ts = s->ev[0].ts;
	s->last_ts = s->ev[s->nev - 1].ts;
	if (ev.ingest > s->last_ingest)
		s->last_ingest = ev.ingest;
	if (ev.seq >= g->next_seq)
		g->next_seq = ev.seq + 1;
	g->bytes += ev.len;
	return 0;
}

/* One events line: TIMESTAMP INGESTION SEQ "message"; -1 if it does not parse. */
static int parse_line(const char *line, size_t n, struct lev *ret)
{
	char head[96], *p, *end;
	size_t hn = 0;
	int spaces = 0;
	while (hn < n && hn < sizeof(head) - 1 && spaces < 3) {
		if (line[hn] == ' ')
			spaces++;
		head[hn] = line[hn];
		hn++;
	}
	if (spaces < 3)
		return -1;
	head[hn] = 0;
	p = head;
	errno = 0;
	ret->ts = strtoll(p, &end, 10);
	if (end == p || *end != ' ')
		return -1;
	p = end + 1;
	ret->ingest = strtoll(p, &end, 10);
	if (end == p || *end != ' ')
		return -1;
	p = end + 1;
	ret->seq = strtoull(p, &end, 10);
	if (end == p || *end != ' ' || errno)
		return -1;
	json_t *m = json_loadb(line + hn, n - hn, JSON_DECODE_ANY, NULL);
	if (!json_is_string(m)) {
		json_decref(m);
		return -1;
	}
	ret->len = json_string_length(m);
	ret->msg = malloc(ret->len + 1);
	if (ret->msg)
		memcpy(ret->msg, json_string_value(m), ret->len + 1);
	json_decref(m);
	return ret->msg ? 0 : -1;
}

static void load_events(struct lgroup *g, struct lstream *s)
{
	char path[PATH_MAX + 8];
	snprintf(path, sizeof(path), "%s/events", s->dir);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	char *buf = st.st_size > 0 ? malloc((size_t)st.st_size) : NULL;
	size_t len = 0;
	while (buf && len < (size_t)st.st_size) {
		ssize_t got = read(fd, buf + len, (size_t)st.st_size - len);
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	size_t off = 0, good = 0;
	while (buf && off < len) {
		char *nl = memchr(buf + off, '\n', len - off);
		struct lev ev;
		if (!nl)
			break; /* torn: never acknowledged */
		size_t n = (size_t)(nl - (buf + off));
		if (parse_line(buf + off, n, &ev) == 0 && stream_insert(g, s, ev) < 0)
			free(ev.msg);
		off += n + 1;
		good = off;
	}
	if (good < len) {
		log_warn("logs: %s: %zu bytes of a write that did not finish cut off", path,
			 len - good);
		if (ftruncate(fd, (off_t)good) < 0 || fdatasync(fd) < 0)
			log_error("logs: cannot cut '%s': %m", path);
	}
	free(buf);
	close(fd);
}

static json_t *load_json(const char *dir, const char *file)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return json_load_file(path, 0, NULL);
}

static bool is_our_dir(const char *name, char prefix)
{
	return name[0] == prefix && strlen(name) == 17 &&
	       strspn(name + 1, "0123456789abcdef") == 16;
}

/* Removes what a crash left half made (tmp-) or half deleted (del-). */
static bool leftover(const char *dir, const char *name)
{
	if (strncmp(name, "tmp-", 4) && strncmp(name, "del-", 4))
		return false;
	char p[PATH_MAX + 300];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	remove_tree(p, 1);
	return true;
}

static void load_group(const char *rdir, const char *region, const char *name)
{
	struct lgroup *g = calloc(1, sizeof(*g));
	struct dirent *de;
	if (!g)
		return;
	if (snprintf(g->dir, sizeof(g->dir), "%s/%s", rdir, name) >= (int)sizeof(g->dir) ||
	    snprintf(g->region, sizeof(g->region), "%s", region) >= (int)sizeof(g->region)) {
		free(g);
		return;
	}
	_cleanup_json_ json_t *meta = load_json(g->dir, "group.json");
	if (!json_is_string(json_object_get(meta, "logGroupName"))) {
		log_warn("logs: %s has no readable group.json: left alone", g->dir);
		free(g);
		return;
	}
	g->name = strdup(jstr(meta, "logGroupName"));
	g->creation = json_integer_value(json_object_get(meta, "creationTime"));
	g->retention = (int)json_integer_value(json_object_get(meta, "retentionInDays"));
	struct lgroup **ng = realloc(groups, (ngroups + 1) * sizeof(*ng));
	if (ng)
		groups = ng;
	if (!g->name || !ng) {
		group_free(g);
		return;
	}
	groups[ngroups++] = g;
	DIR *d = opendir(g->dir);
	while (d && (de = readdir(d))) {
		if (leftover(g->dir, de->d_name) || !is_our_dir(de->d_name, 's'))
			continue;
		struct lstream *s = calloc(1, sizeof(*s));
		struct lstream **ns = realloc(g->streams, (g->nstreams + 1) * sizeof(*ns));
		if (ns)
			g->streams = ns;
		if (!s || !ns) {
			free(s);
			continue;
		}
		s->fd = -1;
		if (snprintf(s->dir, sizeof(s->dir), "%s/%s", g->dir, de->d_name) >=
		    (int)sizeof(s->dir)) {
			free(s);
			continue;
		}
		_cleanup_json_ json_t *sm = load_json(s->dir, "stream.json");
		if (!json_is_string(json_object_get(sm, "logStreamName")) ||
		    !(s->name = strdup(jstr(sm, "logStreamName")))) {
			log_warn("logs: %s has no readable stream.json: left alone", s->dir);
			free(s);
			continue;
		}
		s->creation = json_integer_value(json_object_get(sm, "creationTime"));
		g->streams[g->nstreams++] = s;
		load_events(g, s);
	}
	if (d)
		closedir(d);
}

static void logs_dir(char buf[static PATH_MAX])
{
	snprintf(buf, PATH_MAX, "%s/logs", V ? V->state_dir : ".");
}

/* Reads the whole store once (lock held). */
static void ensure_loaded(void)
{
	char base[PATH_MAX];
	struct dirent *rde, *gde;
	if (loaded)
		return;
	loaded = true;
	logs_dir(base);
	DIR *rd = opendir(base);
	while (rd && (rde = readdir(rd))) {
		char rdir[PATH_MAX + 300];
		if (rde->d_name[0] == '.')
			continue;
		snprintf(rdir, sizeof(rdir), "%s/%s", base, rde->d_name);
		DIR *gd = opendir(rdir);
		while (gd && (gde = readdir(gd)))
			if (!leftover(rdir, gde->d_name) && is_our_dir(gde->d_name, 'g'))
				load_group(rdir, rde->d_name, gde->d_name);
		if (gd)
			closedir(gd);
	}
	if (rd)
		closedir(rd);
}

static struct lgroup *group_find(const char *region, const char *name)
{
	for (size_t i = 0; i < ngroups; i++)
		if (!strcmp(groups[i]->region, region) && !strcmp(groups[i]->name, name))
			return groups[i];
	return NULL;
}

static struct lstream *stream_find(struct lgroup *g, const char *name)
{
	for (size_t i = 0; i < g->nstreams; i++)
		if (!strcmp(g->streams[i]->name, name))
			return g->streams[i];
	return NULL;
}

static int group_meta_write(struct lgroup *g, int retention)
{
	_cleanup_json_ json_t *m = json_pack("{s:s, s:I}", "logGroupName", g->name, "creationTime",
					     (json_int_t)g->creation);
	if (retention)
		json_object_set_new(m, "retentionInDays", json_integer(retention));
	_cleanup_free_ char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
	if (!text)
		return -ENOMEM;
	return write_durable(g->dir, "group.json", text);
}

static int group_create(const char *region, const char *name, struct lgroup **ret, struct err *e)
{
	char base[PATH_MAX], rdir[PATH_MAX + 40], path[PATH_MAX];
	int64_t now = now_ms();
	int r;
	logs_dir(base);
	snprintf(rdir, sizeof(rdir), "%s/%s", base, region);
	if ((r = mkdir_p(rdir, 0750)) < 0)
		return io_err(e, r, "make", rdir);
	_cleanup_json_ json_t *m =
	    json_pack("{s:s, s:I}", "logGroupName", name, "creationTime", (json_int_t)now);
	_cleanup_free_ char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
	struct lgroup *g = calloc(1, sizeof(*g));
	struct lgroup **ng = realloc(groups, (ngroups + 1) * sizeof(*ng));
	if (ng)
		groups = ng;
	if (!text || !g || !ng || !(g->name = strdup(name))) {
		group_free(g);
		return err_setr(e, -ENOMEM, "ServiceUnavailableException", "out of memory");
	}
	if ((r = make_dir_durable(rdir, 'g', "group.json", text, path)) < 0) {
		group_free(g);
		return io_err(e, r, "make a log group in", rdir);
	}
	snprintf(g->dir, sizeof(g->dir), "%s", path);
	snprintf(g->region, sizeof(g->region), "%s", region);
	g->creation = now;
	groups[ngroups++] = g;
	*ret = g;
	return 0;
}

static int stream_create(struct lgroup *g, const char *name, struct lstream **ret, struct err *e)
{
	char path[PATH_MAX];
	int64_t now = now_ms();
	int r;
	_cleanup_json_ json_t *m =
	    json_pack("{s:s, s:I}", "logStreamName", name, "creationTime", (json_int_t)now);
	_cleanup_free_ char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
	struct lstream *s = calloc(1, sizeof(*s));
	struct lstream **ns = realloc(g->streams, (g->nstreams + 1) * sizeof(*ns));
	if (ns)
		g->streams = ns;
	if (!text || !s || !ns || !(s->name = strdup(name))) {
		if (s)
			free(s->name);
		free(s);
		return err_setr(e, -ENOMEM, "ServiceUnavailableException", "out of memory");
	}
	s->fd = -1;
	if ((r = make_dir_durable(g->dir, 's', "stream.json", text, path)) < 0) {
		free(s->name);
		free(s);
		return io_err(e, r, "make a log stream in", g->dir);
	}
	snprintf(s->dir, sizeof(s->dir), "%s", path);
	s->creation = now;
	g->streams[g->nstreams++] = s;
	*ret = s;
	return 0;
}

/* Appends events (already checked) durably, then to memory. On failure the file is cut back
 * to where it was and nothing is kept. */
static int stream_append(struct lgroup *g, struct lstream *s, const struct log_event *ev, size_t n,
			 struct err *e)
{
	char path[PATH_MAX + 8];
	int64_t now = now_ms();
	char *buf = NULL;
	size_t len = 0;
	int r = 0;
	snprintf(path, sizeof(path), "%s/events", s->dir);
	if (s->fd < 0 && (s->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) < 0)
		return io_err(e, -errno, "open", path);
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return err_setr(e, -ENOMEM, "ServiceUnavailableException", "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *m = json_string(ev[i].message);
		char *q = m ? json_dumps(m, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
		json_decref(m);
		if (!q) {
			fclose(f);
			free(buf);
			return err_set(e, BAD, "The message of log event %zu is not UTF-8", i);
		}
		fprintf(f, "%" PRId64 " %" PRId64 " %" PRIu64 " %s\n", ev[i].timestamp_ms, now,
			g->next_seq + i, q);
		free(q);
	}
	if (fclose(f) != 0) {
		free(buf);
		return err_setr(e, -ENOMEM, "ServiceUnavailableException", "out of memory");
	}
	struct stat st;
	off_t before = fstat(s->fd, &st) == 0 ? st.st_size : -1;
	r = write_all(s->fd, buf, len);
	if (r == 0 && fdatasync(s->fd) < 0)
		r = -errno;
	free(buf);
	if (r < 0) {
		if (before >= 0 && ftruncate(s->fd, before) == 0)
			(void)fdatasync(s->fd);
		return io_err(e, r, "append to", path);
	}
	uint64_t first = g->next_seq;
	for (size_t i = 0; i < n; i++) {
		size_t ml = strlen(ev[i].message);
		struct lev x = {ev[i].timestamp_ms, now, first + i, malloc(ml + 1), ml};
		if (!x.msg || stream_insert(g, s, x) < 0) {
			/* On the disk, not in memory until the next start: say so. */
			free(x.msg);
			log_error("logs: out of memory keeping events of '%s'", s->name);
			break;
		}
		memcpy(x.msg, ev[i].message, ml + 1);
	}
	g->next_seq = first + n;
	return 0;
}

static bool region_ok(const char *r)
{
	size_t n = r ? strlen(r) : 0;
	return n > 0 && n < 32 && strspn(r, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

int logs_put(const char *region, const char *group, const char *stream, const struct log_event *ev,
	     size_t n, struct err *e)
{
	struct lgroup *g;
	struct lstream *s;
	int r = 0;
	if (!region_ok(region))
		return err_set(e, BAD, "The region '%s' is not valid", region ? region : "");
	pthread_mutex_lock(&lock);
	ensure_loaded();
	g = group_find(region, group);
	if (!g)
		r = group_create(region, group, &g, e);
	s = r == 0 ? stream_find(g, stream) : NULL;
	if (r == 0 && !s)
		r = stream_create(g, stream, &s, e);
	if (r == 0 && n)
		r = stream_append(g, s, ev, n, e);
	pthread_mutex_unlock(&lock);
	return r;
}

/* ---------------------------------------------------------------------------------------- */
/* The actions                                                                              */
/* ---------------------------------------------------------------------------------------- */

/* A member by its logs-model name (logGroupName), or as the CLI sends it (LogGroupName). */
static json_t *member(struct req *rq, const char *name)
{
	json_t *v = json_object_get(rq->params, name);
	if (!v) {
		char pascal[64];
		snprintf(pascal, sizeof(pascal), "%s", name);
		pascal[0] = (char)toupper((unsigned char)pascal[0]);
		v = json_object_get(rq->params, pascal);
	}
	return json_is_null(v) ? NULL : v;
}

static int str_member(struct req *rq, const char *name, bool required, const char **ret,
		      struct err *e)
{
	json_t *v = member(rq, name);
	*ret = NULL;
	if (!v && required)
		return err_set(e, BAD,
			       "1 validation error detected: Value null at '%s' failed to satisfy "
			       "constraint: Member must not be null",
			       name);
	if (v && !json_is_string(v))
		return err_set(e, BAD, "The value of '%s' must be a string", name);
	if (v)
		*ret = json_string_value(v);
	return 0;
}

static int int_member(struct req *rq, const char *name, long long lo, long long hi, bool *ret_set,
		      long long *ret, struct err *e)
{
	json_t *v = member(rq, name);
	*ret_set = v != NULL;
	if (!v)
		return 0;
	long long x;
	if (json_is_integer(v))
		x = json_integer_value(v);
	else if (json_is_string(v) && *json_string_value(v)) {
		char *end;
		errno = 0;
		x = strtoll(json_string_value(v), &end, 10);
		if (*end || errno)
			return err_set(e, BAD, "The value '%s' of '%s' is not an integer",
				       json_string_value(v), name);
	} else
		return err_set(e, BAD, "The value of '%s' must be an integer", name);
	if (x < lo)
		return err_set(
		    e, BAD,
		    "1 validation error detected: Value '%lld' at '%s' failed to satisfy "
		    "constraint: Member must have value greater than or equal to %lld",
		    x, name, lo);
	if (x > hi)
		return err_set(
		    e, BAD,
		    "1 validation error detected: Value '%lld' at '%s' failed to satisfy "
		    "constraint: Member must have value less than or equal to %lld",
		    x, name, hi);
	*ret = x;
	return 0;
}

static int bool_member(struct req *rq, const char *name, bool *ret, struct err *e)
{
	json_t *v = member(rq, name);
	if (!v)
		return 0;
	if (json_is_boolean(v))
		*ret = json_is_true(v);
	else if (json_is_string(v) &&
		 (!strcmp(json_string_value(v), "true") || !strcmp(json_string_value(v), "false")))
		*ret = !strcmp(json_string_value(v), "true");
	else
		return err_set(e, BAD, "The value of '%s' must be true or false", name);
	return 0;
}

static int name_check(const char *what, const char *v, bool group, struct err *e)
{
	size_t n = strlen(v);
	if (n < 1)
		return err_set(e, BAD,
			       "1 validation error detected: Value '%s' at '%s' failed to satisfy "
			       "constraint: Member must have length greater than or equal to 1",
			       v, what);
	if (n > NAME_MAX_LEN)
		return err_set(
		    e, BAD,
		    "1 validation error detected: Value '%.64s...' at '%s' failed to satisfy "
		    "constraint: Member must have length less than or equal to 512",
		    v, what);
	if (group &&
	    strspn(v, ".-_/#ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != n)
		return err_set(
		    e, BAD,
		    "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: "
		    "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
		    v, what);
	if (!group && strpbrk(v, ":*"))
		return err_set(e, BAD,
			       "1 validation error detected: Value '%s' at '%s' failed to satisfy "
			       "constraint: Member must satisfy regular expression pattern: [^:*]*",
			       v, what);
	return 0;
}

/* The log group a request names: logGroupName, or logGroupIdentifier (a name or an ARN). */
static int group_name_param(struct req *rq, bool required, const char **ret, struct err *e)
{
	const char *name, *ident;
	int r;
	if ((r = str_member(rq, "logGroupName", false, &name, e)) < 0 ||
	    (r = str_member(rq, "logGroupIdentifier", false, &ident, e)) < 0)
		return r;
	if (name && ident)
		return err_set(e, BAD,
			       "LogGroup name and LogGroup ARN are mutually exclusive parameters.");
	if (ident) {
		/* arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*] */
		const char *p = strstr(ident, ":log-group:");
		if (!strncmp(ident, "arn:", 4) && p) {
			static __thread char buf[NAME_MAX_LEN + 1];
			snprintf(buf, sizeof(buf), "%s", p + 11);
			size_t n = strlen(buf);
			if (n >= 2 && !strcmp(buf + n - 2, ":*"))
				buf[n - 2] = 0;
			ident = buf;
		}
		name = ident;
	}
	if (!name && required)
		return err_set(e, BAD, "Should provide either name or ARN of the log group.");
	if (name &&
	    (r = name_check(ident ? "logGroupIdentifier" : "logGroupName", name, true, e)) < 0)
		return r;
	*ret = name;
	return 0;
}

static int group_notfound(struct err *e)
{
	return err_set(e, NOTFOUND, "The specified log group does not exist.");
}

static int stream_notfound(struct err *e)
{
	return err_set(e, NOTFOUND, "The specified log stream does not exist.");
}

static int region_check(struct req *rq, struct err *e)
{
	if (!region_find(rq->region))
		return err_set(e, BAD, "The region '%s' does not exist or is not enabled",
			       rq->region);
	return 0;
}

/* The group named by the request (lock held, store loaded). */
static int find_group(struct req *rq, struct lgroup **ret, struct err *e)
{
	const char *name = NULL;
	int r = region_check(rq, e);
	if (r < 0 || (r = group_name_param(rq, true, &name, e)) < 0)
		return r;
	if (!(*ret = group_find(rq->region, name)))
		return group_notfound(e);
	return 0;
}

static void group_arn(const struct lgroup *g, bool star, char *buf, size_t n)
{
	snprintf(buf, n, "arn:aws:logs:%s:%s:log-group:%s%s", g->region, OWNER_ID, g->name,
		 star ? ":*" : "");
}

static const int retention_days[] = {1,	  3,   5,   7,	 14,   30,   60,   90,	 120,  150,  180,
				     365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653};

static int retention_param(struct req *rq, int *ret, struct err *e)
{
	bool set;
	long long d;
	int r = int_member(rq, "retentionInDays", LLONG_MIN, LLONG_MAX, &set, &d, e);
	if (r < 0)
		return r;
	if (!set)
		return err_set(e, BAD,
			       "1 validation error detected: Value null at 'retentionInDays' "
			       "failed to satisfy constraint: Member must not be null");
	for (size_t i = 0; i < ARRAY_SIZE(retention_days); i++)
		if (d == retention_days[i]) {
			*ret = (int)d;
			return 0;
		}
	return err_set(
	    e, BAD,
	    "1 validation error detected: Value '%lld' at 'retentionInDays' failed to satisfy "
	    "constraint: Member must satisfy enum value set: [1, 3, 5, 7, 14, 30, 60, 90, 120, "
	    "150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]",
	    d);
}

/* Events older than the group's retention are gone, as far as anyone can see. */
static int64_t retention_cutoff(const struct lgroup *g, int64_t now)
{
	return g->retention ? now - (int64_t)g->retention * DAY_MS : INT64_MIN;
}

int h_create_log_group(struct req *rq, json_t **ret, struct err *e)
{
	const char *name, *kms, *cls;
	struct lgroup *g;
	int r = region_check(rq, e);
	if (r < 0 || (r = str_member(rq, "logGroupName", true, &name, e)) < 0 ||
	    (r = name_check("logGroupName", name, true, e)) < 0 ||
	    (r = str_member(rq, "kmsKeyId", false, &kms, e)) < 0 ||
	    (r = str_member(rq, "logGroupClass", false, &cls, e)) < 0)
		return r;
	if (kms)
		return err_set(e, BAD,
			       "This lab does not encrypt log groups: kmsKeyId '%s' cannot be used",
			       kms);
	if (cls && strcmp(cls, "STANDARD"))
		return err_set(e, BAD, "This lab has only the STANDARD log group class, not '%s'",
			       cls);
	pthread_mutex_lock(&lock);
	ensure_loaded();
	if (group_find(rq->region, name))
		r = err_set(e, EXISTS, "The specified log group already exists");
	else
		r = group_create(rq->region, name, &g, e);
	pthread_mutex_unlock(&lock);
	if (r == 0)
		*ret = json_object();
	return r;
}

int h_delete_log_group(struct req *rq, json_t **ret, struct err *e)
{
	struct lgroup *g;
	pthread_mutex_lock(&lock);
	ensure_loaded();
	int r = find_group(rq, &g, e);
	if (r == 0 && (r = remove_durable(g->dir)) < 0)
		r = io_err(e, r, "delete", g->dir);
	if (r == 0) {
		for (size_t i = 0; i < ngroups; i++)
			if (groups[i] == g)
				groups[i] = groups[--ngroups];
		group_free(g);
	}
	pthread_mutex_unlock(&lock);
	if (r == 0)
		*ret = json_object();
	return r;
}

static int cmp_group(const void *a, const void *b)
{
	return strcmp((*(struct lgroup *const *)a)->name, (*(struct lgroup *const *)b)->name);
}

static json_t *group_json(const struct lgroup *g)
{
	char arn[700], garn[700];
	group_arn(g, true, arn, sizeof(arn));
	group_arn(g, false, garn, sizeof(garn));
	json_t *o = json_pack("{s:s, s:I, s:i, s:s, s:I, s:s, s:s}", "logGroupName", g->name,
			      "creationTime", (json_int_t)g->creation, "metricFilterCount", 0,
			      "arn", arn, "storedBytes", (json_int_t)g->bytes, "logGroupClass",
			      "STANDARD", "logGroupArn", garn);
	if (o && g->retention)
		json_object_set_new(o, "retentionInDays", json_integer(g->retention));
	return o;
}

int h_describe_log_groups(struct req *rq, json_t **ret, struct err *e)
{
	const char *prefix, *pattern, *token;
	bool set;
	long long limit = 50;
	int r = region_check(rq, e);
	if (r < 0 || (r = str_member(rq, "logGroupNamePrefix", false, &prefix, e)) < 0 ||
	    (r = str_member(rq, "logGroupNamePattern", false, &pattern, e)) < 0 ||
	    (r = str_member(rq, "nextToken", false, &token, e)) < 0 ||
	    (r = int_member(rq, "limit", 1, 50, &set, &limit, e)) < 0)
		return r;
	if (!set)
		limit = 50;
	if (prefix && pattern)
		return err_set(e, BAD,
			       "LogGroup name prefix and LogGroup name pattern are mutually "
			       "exclusive parameters.");
	if (prefix && (r = name_check("logGroupNamePrefix", prefix, true, e)) < 0)
		return r;
	if (token && (strncmp(token, "g/", 2) || name_check("nextToken", token + 2, true, e) < 0))
		return err_set(e, BAD, "The specified nextToken is invalid.");
	pthread_mutex_lock(&lock);
	ensure_loaded();
	struct lgroup **sorted = calloc(ngroups + 1, sizeof(*sorted));
	size_t n = 0;
	for (size_t i = 0; sorted && i < ngroups; i++)
		if (!strcmp(groups[i]->region, rq->region))
			sorted[n++] = groups[i];
	if (sorted)
		qsort(sorted, n, sizeof(*sorted), cmp_group);
	json_t *list = json_array();
	const char *last = NULL;
	bool more = false;
	for (size_t i = 0; sorted && i < n; i++) {
		const struct lgroup *g = sorted[i];
		if (prefix && strncmp(g->name, prefix, strlen(prefix)))
			continue;
		if (pattern && !strstr(g->name, pattern))
			continue;
		if (token && strcmp(g->name, token + 2) <= 0)
			continue;
		if ((long long)json_array_size(list) == limit) {
			more = true;
			break;
		}
		json_array_append_new(list, group_json(g));
		last = g->name;
	}
	*ret = json_pack("{s:o}", "logGroups", list);
	if (more && last) {
		char *t = malloc(strlen(last) + 3);
		if (t) {
			sprintf(t, "g/%s", last);
			json_object_set_new(*ret, "nextToken", json_string(t));
			free(t);
		}
	}
	free(sorted);
	pthread_mutex_unlock(&lock);
	return 0;
}

int h_put_retention_policy(struct req *rq, json_t **ret, struct err *e)
{
	struct lgroup *g;
	int days = 0;
	int r = retention_param(rq, &days, e);
	if (r < 0)
		return r;
	pthread_mutex_lock(&lock);
	ensure_loaded();
	if ((r = find_group(rq, &g, e)) == 0 && (r = group_meta_write(g, days)) < 0)
		r = io_err(e, r, "write", g->dir);
	if (r == 0)
		g->retention = days;
	pthread_mutex_unlock(&lock);
	if (r == 0)
		*ret = json_object();
	return r;
}

int h_delete_retention_policy(struct req *rq, json_t **ret, struct err *e)
{
	struct lgroup *g;
	pthread_mutex_lock(&lock);
	ensure_loaded();
	int r = find_group(rq, &g, e);
	if (r == 0 && (r = group_meta_write(g, 0)) < 0)
		r = io_err(e, r, "write", g->dir);
	if (r == 0)
		g->retention = 0;
	pthread_mutex_unlock(&lock);
	if (r == 0)
		*ret = json_object();
	return r;
}

static int stream_name_param(struct req *rq, const char *name, bool required, const char **ret,
			     struct err *e)
{
	int r = str_member(rq, name, required, ret, e);
	if (r == 0 && *ret)
		r = name_check(name, *ret, false, e);
	return r;
}

int h_create_log_stream(struct req *rq, json_t **ret, struct err *e)
{
	const char *sname;
	struct lgroup *g;
	struct lstream *s;
	int r = stream_name_param(rq, "logStreamName", true, &sname, e);
	if (r < 0)
		return r;
	pthread_mutex_lock(&lock);
	ensure_loaded();
	if ((r = find_group(rq, &g, e)) == 0) {
		if (stream_find(g, sname))
			r = err_set(e, EXISTS, "The specified log stream already exists");
		else
			r = stream_create(g, sname, &s, e);
	}
	pthread_mutex_unlock(&lock);
	if (r == 0)
		*ret = json_object();
	return r;
}

int h_delete_log_stream(struct req *rq, json_t **ret, struct err *e)
{
	const char *sname;
	struct lgroup *g;
	struct lstream *s = NULL;
	int r = stream_name_param(rq, "logStreamName", true, &sname, e);
	if (r < 0)
		return r;
	pthread_mutex_lock(&lock);
	ensure_loaded();
	if ((r = find_group(rq, &g, e)) == 0 && !(s = stream_find(g, sname)))
		r = stream_notfound(e);
	if (r == 0 && (r = remove_durable(s->dir)) < 0)
		r = io_err(e, r, "delete", s->dir);
	if (r == 0) {
		for (size_t i = 0; i < g->nstreams; i++)
			if (g->streams[i] == s)
				g->streams[i] = g->streams[--g->nstreams];
		for (size_t i = 0; i < s->nev; i++)
			g->bytes -= s->ev[i].len;
		stream_free(s);
	}
	pthread_mutex_unlock(&lock);
	if (r == 0)
		*ret = json_object();
	return r;
}

static bool by_event_time;
static bool descending;

static int cmp_stream(const void *a, const void *b)
{
	const struct lstream *x = *(struct lstream *const *)a, *y = *(struct lstream *const *)b;
	int c = 0;
	if (by_event_time)
		c = x->last_ts < y->last_ts ? -1 : x->last_ts > y->last_ts;
	if (!c)
		c = strcmp(x->name, y->name);
	return descending ? -c : c;
}

static json_t *stream_json(const struct lgroup *g, const struct lstream *s)
{
	char arn[1300];
	snprintf(arn, sizeof(arn), "arn:aws:logs:%s:%s:log-group:%s:log-stream:%s", g->region,
		 OWNER_ID, g->name, s->name);
	/* storedBytes of a stream: always 0 since 2019, as AWS documents it. */
	json_t *o = json_pack("{s:s, s:I, s:s, s:i}", "logStreamName", s->name, "creationTime",
			      (json_int_t)s->creation, "arn", arn, "storedBytes", 0);
	if (o && s->nev) {
		char tok[32];
		json_object_set_new(o, "firstEventTimestamp", json_integer(s->first_ts));
		json_object_set_new(o, "lastEventTimestamp", json_integer(s->last_ts));
		json_object_set_new(o, "lastIngestionTime", json_integer(s->last_ingest));
		snprintf(tok, sizeof(tok), "%020zu", s->nev);
		json_object_set_new(o, "uploadSequenceToken", json_string(tok));
	}
	return o;
}

int h_describe_log_streams(struct req *rq, json_t **ret, struct err *e)
{
	const char *prefix, *order, *token;
	bool set, desc = false;
	long long limit = 50, offset = 0;
	struct lgroup *g;
	int r = stream_name_param(rq, "logStreamNamePrefix", false, &prefix, e);
	if (r < 0 || (r = str_member(rq, "orderBy", false, &order, e)) < 0 ||
	    (r = str_member(rq, "nextToken", false, &token, e)) < 0 ||
	    (r = bool_member(rq, "descending", &desc, e)) < 0 ||
	    (r = int_member(rq, "limit", 1, 50, &set, &limit, e)) < 0)
		return r;
	if (!set)
		limit = 50;
	if (order && strcmp(order, "LogStreamName") && strcmp(order, "LastEventTime"))
		return err_set(e, BAD,
			       "1 validation error detected: Value '%s' at 'orderBy' failed to "
			       "satisfy constraint: Member must satisfy enum value set: "
			       "[LogStreamName, LastEventTime]",
			       order);
	bool by_time = order && !strcmp(order, "LastEventTime");
	if (by_time && prefix)
		return err_set(e, BAD, "Cannot order by LastEventTime with a logStreamNamePrefix.");
	if (token) {
		char *end;
		errno = 0;
		offset = strncmp(token, "o/", 2) ? -1 : strtoll(token + 2, &end, 10);
		if (offset < 0 || errno || !token[2] || *end)
			return err_set(e, BAD, "The specified nextToken is invalid.");
	}
	pthread_mutex_lock(&lock);
	ensure_loaded();
	if ((r = find_group(rq, &g, e)) < 0) {
		pthread_mutex_unlock(&lock);
		return r;
	}
	struct lstream **sorted = calloc(g->nstreams + 1, sizeof(*sorted));
	size_t n = 0;
	for (size_t i = 0; sorted && i < g->nstreams; i++)
		if (!prefix || !strncmp(g->streams[i]->name, prefix, strlen(prefix)))
			sorted[n++] = g->streams[i];
	by_event_time = by_time, descending = desc;
	if (sorted)
		qsort(sorted, n, sizeof(*sorted), cmp_stream);
	json_t *list = json_array();
	for (size_t i = (size_t)offset; sorted && i < n && (long long)json_array_size(list) < limit;
	     i++)
		json_array_append_new(list, stream_json(g, sorted[i]));
	*ret = json_pack("{s:o}", "logStreams", list);
	if ((size_t)offset + json_array_size(list) < n) {
		char tok[32];
		snprintf(tok, sizeof(tok), "o/%zu", (size_t)offset + json_array_size(list));
		json_object_set_new(*ret, "nextToken", json_string(tok));
	}
	free(sorted);
	pthread_mutex_unlock(&lock);
	return 0;
}

/* The checks PutLogEvents makes of its events, in the order AWS makes them; fills ev[]
 * (messages borrowed from the request) and says which are too new, too old or expired. */
struct put_check {
	struct log_event *ev;
	size_t n;
	long long too_new_from, too_old_to, expired_to; /* -1: none */
};

static int put_events_param(struct req *rq, struct put_check *pc, struct err *e)
{
	json_t *list = member(rq, "logEvents"), *x;
	size_t i, bytes = 0;
	if (!list)
		return err_set(e, BAD,
			       "1 validation error detected: Value null at 'logEvents' failed to "
			       "satisfy constraint: Member must not be null");
	if (!json_is_array(list))
		return err_set(e, BAD, "The value of 'logEvents' must be a list");
	if (json_array_size(list) < 1)
		return err_set(
		    e, BAD,
		    "1 validation error detected: Value '[]' at 'logEvents' failed to satisfy "
		    "constraint: Member must have length greater than or equal to 1");
	if (json_array_size(list) > BATCH_MAX_EVENTS)
		return err_set(
		    e, BAD,
		    "1 validation error detected: Value at 'logEvents' failed to satisfy "
		    "constraint: Member must have length less than or equal to 10000");
	pc->n = json_array_size(list);
	pc->ev = calloc(pc->n, sizeof(*pc->ev));
	if (!pc->ev)
		return err_setr(e, -ENOMEM, "ServiceUnavailableException", "out of memory");
	json_array_foreach(list, i, x)
	{
		json_t *t = json_object_get(x, "timestamp"), *m = json_object_get(x, "message");
		if (!json_is_object(x))
			return err_set(e, BAD, "Log event %zu is not a structure", i + 1);
		if (!t || json_is_null(t))
			return err_set(e, BAD,
				       "1 validation error detected: Value null at "
				       "'logEvents.%zu.member.timestamp' failed to satisfy "
				       "constraint: Member must not be null",
				       i + 1);
		if (!m || json_is_null(m))
			return err_set(e, BAD,
				       "1 validation error detected: Value null at "
				       "'logEvents.%zu.member.message' failed to satisfy "
				       "constraint: Member must not be null",
				       i + 1);
		long long ts;
		if (json_is_integer(t))
			ts = json_integer_value(t);
		else if (json_is_string(t) && *json_string_value(t)) {
			char *end;
			errno = 0;
			ts = strtoll(json_string_value(t), &end, 10);
			if (*end || errno)
				return err_set(
				    e, BAD, "The timestamp '%s' of log event %zu is not an integer",
				    json_string_value(t), i + 1);
		} else
			return err_set(e, BAD, "The timestamp of log event %zu is not an integer",
				       i + 1);
		if (!json_is_string(m))
			return err_set(e, BAD, "The message of log event %zu is not a string",
				       i + 1);
		if (json_string_length(m) < 1)
			return err_set(
			    e, BAD,
			    "1 validation error detected: Value '' at "
			    "'logEvents.%zu.member.message' failed to satisfy constraint: Member "
			    "must have length greater than or equal to 1",
			    i + 1);
		if (strlen(json_string_value(m)) != json_string_length(m))
			return err_set(e, BAD, "The message of log event %zu has a NUL character",
				       i + 1);
		size_t sz = json_string_length(m) + EVENT_OVERHEAD;
		if (sz > EVENT_MAX_BYTES)
			return err_set(e, BAD, "Log event too large: %zu bytes exceeds limit of %d",
				       sz, EVENT_MAX_BYTES);
		bytes += sz;
		if (i && ts < pc->ev[i - 1].timestamp_ms)
			return err_set(e, BAD,
				       "Log events in a single PutLogEvents request must be in "
				       "chronological order.");
		pc->ev[i] = (struct log_event){ts, json_string_value(m)};
	}
	if (bytes > BATCH_MAX_BYTES)
		return err_set(e, BAD, "Upload too large: %zu bytes exceeds limit of %d", bytes,
			       BATCH_MAX_BYTES);
	if (pc->ev[pc->n - 1].timestamp_ms - pc->ev[0].timestamp_ms > DAY_MS)
		return err_set(e, BAD,
			       "The batch of log events in a single PutLogEvents request cannot "
			       "span more than 24 hours.");
	return 0;
}

int h_put_log_events(struct req *rq, json_t **ret, struct err *e)
{
	const char *sname, *token;
	struct put_check pc = {.too_new_from = -1, .too_old_to = -1, .expired_to = -1};
	struct lgroup *g = NULL;
	struct lstream *s = NULL;
	int64_t now = now_ms();
	int r = stream_name_param(rq, "logStreamName", true, &sname, e);
	if (r < 0 || (r = str_member(rq, "sequenceToken", false, &token, e)) < 0 ||
	    (r = put_events_param(rq, &pc, e)) < 0)
		goto out;
	pthread_mutex_lock(&lock);
	ensure_loaded();
	if ((r = find_group(rq, &g, e)) == 0 && !(s = stream_find(g, sname)))
		r = stream_notfound(e);
	if (r == 0) {
		/* Sorted: too old ones lead, too new ones trail. AWS takes the rest. */
		int64_t cutoff = retention_cutoff(g, now);
		size_t lo = 0, hi = pc.n;
		for (size_t i = 0; i < pc.n; i++) {
			int64_t ts = pc.ev[i].timestamp_ms;
			if (ts < now - 14 * DAY_MS)
				pc.too_old_to = (long long)i, lo = i + 1;
			else if (ts < cutoff)
				pc.expired_to = (long long)i, lo = i + 1;
			else if (ts > now + 2 * 3600 * 1000LL && hi == pc.n)
				pc.too_new_from = (long long)i, hi = i;
		}
		if (hi > lo)
			r = stream_append(g, s, pc.ev + lo, hi - lo, e);
	}
	if (r == 0) {
		char tok[32];
		snprintf(tok, sizeof(tok), "%020zu", s->nev);
		*ret = json_pack("{s:s}", "nextSequenceToken", tok);
		if (pc.too_new_from >= 0 || pc.too_old_to >= 0 || pc.expired_to >= 0) {
			json_t *info = json_object();
			if (pc.too_new_from >= 0)
				json_object_set_new(info, "tooNewLogEventStartIndex",
						    json_integer(pc.too_new_from));
			if (pc.too_old_to >= 0)
				json_object_set_new(info, "tooOldLogEventEndIndex",
						    json_integer(pc.too_old_to));
			if (pc.expired_to >= 0)
				json_object_set_new(info, "expiredLogEventEndIndex",
						    json_integer(pc.expired_to));
			json_object_set_new(*ret, "rejectedLogEventsInfo", info);
		}
	}
	pthread_mutex_unlock(&lock);
out:
	free(pc.ev);
	return r;
}

/* Tokens: a position between events, (timestamp, sequence), read as "strictly after" by a
 * forward token and "strictly before" by a backward one. */
static int token_parse(const char *t, char *ret_dir, int64_t *ret_ts, uint64_t *ret_seq,
		       struct err *e)
{
	char dir = 0, *end;
	long long ts;
	unsigned long long seq;
	if (t && (t[0] == 'f' || t[0] == 'b' || t[0] == 'n') && t[1] == '/') {
		dir = t[0];
		errno = 0;
		ts = strtoll(t + 2, &end, 10);
		if (end != t + 2 && *end == '/' && isdigit((unsigned char)end[1])) {
			const char *q = end + 1;
			seq = strtoull(q, &end, 10);
			if (!*end && !errno) {
				*ret_dir = dir, *ret_ts = ts, *ret_seq = seq;
				return 0;
			}
		}
	}
	return err_set(e, BAD, "The specified nextToken is invalid.");
}

static json_t *token_json(char dir, int64_t ts, uint64_t seq)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%c/%" PRId64 "/%" PRIu64, dir, ts, seq);
	return json_string(buf);
}

struct range {
	int64_t start, end; /* [start, end) */
};

static int range_param(struct req *rq, struct range *ret, struct err *e)
{
	bool s1, s2;
	long long a = 0, b = 0;
	int r;
	if ((r = int_member(rq, "startTime", 0, LLONG_MAX, &s1, &a, e)) < 0 ||
	    (r = int_member(rq, "endTime", 0, LLONG_MAX, &s2, &b, e)) < 0)
		return r;
	ret->start = s1 ? a : INT64_MIN;
	ret->end = s2 ? b : INT64_MAX;
	if (s1 && s2 && a > b)
		return err_set(e, BAD, "endTime (%lld) must not be before startTime (%lld)", b, a);
	return 0;
}

int h_get_log_events(struct req *rq, json_t **ret, struct err *e)
{
	const char *sname, *token;
	struct range rg;
	bool set, head = false;
	long long limit = 10000;
	struct lgroup *g;
	struct lstream *s = NULL;
	char dir = 0;
	int64_t tts = 0;
	uint64_t tseq = 0;
	int r = stream_name_param(rq, "logStreamName", true, &sname, e);
	if (r < 0 || (r = str_member(rq, "nextToken", false, &token, e)) < 0 ||
	    (r = bool_member(rq, "startFromHead", &head, e)) < 0 ||
	    (r = range_param(rq, &rg, e)) < 0 ||
	    (r = int_member(rq, "limit", 1, 10000, &set, &limit, e)) < 0 ||
	    (token && (r = token_parse(token, &dir, &tts, &tseq, e)) < 0))
		return r;
	if (dir == 'n')
		return err_set(e, BAD, "The specified nextToken is invalid.");
	pthread_mutex_lock(&lock);
	ensure_loaded();
	if ((r = find_group(rq, &g, e)) == 0 && !(s = stream_find(g, sname)))
		r = stream_notfound(e);
	if (r < 0) {
		pthread_mutex_unlock(&lock);
		return r;
	}
	int64_t start = rg.start, cut = retention_cutoff(g, now_ms());
	if (cut > start)
		start = cut;
	size_t lo = ev_bound(s, start, 0, false),
	       hi = rg.end == INT64_MAX ? s->nev : ev_bound(s, rg.end, 0, false);
	size_t from, to;
	if (hi < lo)
		hi = lo;
	if (dir == 'f' || (!dir && head)) {
		from = dir == 'f' ? ev_bound(s, tts, tseq, true) : lo;
		if (from < lo)
			from = lo;
		if (from > hi)
			from = hi;
		to = from;
		for (size_t bytes = 0; to < hi && (long long)(to - from) < limit; to++) {
			bytes += s->ev[to].len + EVENT_OVERHEAD;
			if (bytes > BATCH_MAX_BYTES && to > from)
				break;
		}
	} else {
		to = dir == 'b' ? ev_bound(s, tts, tseq, false) : hi;
		if (to > hi)
			to = hi;
		if (to < lo)
			to = lo;
		from = to;
		for (size_t bytes = 0; from > lo && (long long)(to - from) < limit; from--) {
			bytes += s->ev[from - 1].len + EVENT_OVERHEAD;
			if (bytes > BATCH_MAX_BYTES && from < to)
				break;
		}
	}
	json_t *list = json_array();
	for (size_t i = from; i < to; i++)
		json_array_append_new(list, json_pack("{s:I, s:s%, s:I}", "timestamp",
						      (json_int_t)s->ev[i].ts, "message",
						      s->ev[i].msg, s->ev[i].len, "ingestionTime",
						      (json_int_t)s->ev[i].ingest));
	json_t *fwd, *bwd;
	if (to > from) {
		fwd = token_json('f', s->ev[to - 1].ts, s->ev[to - 1].seq);
		bwd = token_json('b', s->ev[from].ts, s->ev[from].seq);
	} else if (token) {
		/* Nothing more that way: the same token again, which is where the aws CLI's
		 * paginator stops. */
		fwd = dir == 'f' ? json_string(token) : token_json('f', tts, tseq);
		bwd = dir == 'b' ? json_string(token) : token_json('b', tts, tseq);
	} else {
		int64_t at = from < s->nev ? s->ev[from].ts : start == INT64_MIN ? 0 : start;
		fwd = token_json('f', at - 1, UINT64_MAX);
		bwd = token_json('b', at, 0);
	}
	*ret = json_pack("{s:o, s:o, s:o}", "events", list, "nextForwardToken", fwd,
			 "nextBackwardToken", bwd);
	pthread_mutex_unlock(&lock);
	return 0;
}

struct hit {
	const struct lstream *s;
	const struct lev *ev;
};

static int cmp_hit(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;
	return key_cmp(x->ev->ts, x->ev->seq, y->ev->ts, y->ev->seq);
}

int h_filter_log_events(struct req *rq, json_t **ret, struct err *e)
{
	const char *prefix, *pattern, *token;
	struct range rg;
	bool set, interleaved = true;
	long long limit = 10000;
	struct lgroup *g;
	char dir = 0;
	int64_t tts = INT64_MIN;
	uint64_t tseq = 0;
	_cleanup_(filter_freep) struct logs_filter *f = NULL;
	_cleanup_json_ json_t *names = NULL;
	json_t *x;
	size_t i;
	int r = stream_name_param(rq, "logStreamNamePrefix", false, &prefix, e);
	if (r < 0 || (r = str_member(rq, "filterPattern", false, &pattern, e)) < 0 ||
	    (r = str_member(rq, "nextToken", false, &token, e)) < 0 ||
	    (r = range_param(rq, &rg, e)) < 0 ||
	    (r = bool_member(rq, "interleaved", &interleaved, e)) < 0 ||
	    (r = int_member(rq, "limit", 1, 10000, &set, &limit, e)) < 0 ||
	    (token && (r = token_parse(token, &dir, &tts, &tseq, e)) < 0))
		return r;
	if (token && dir != 'n')
		return err_set(e, BAD, "The specified nextToken is invalid.");
	x = member(rq, "logStreamNames");
	if (x && !json_is_array(x))
		return err_set(e, BAD, "The value of 'logStreamNames' must be a list");
	names = json_incref(x);
	if (names && prefix)
		return err_set(e, BAD,
			       "Cannot specify both logStreamNames and logStreamNamePrefix.");
	if (json_array_size(names) > 100)
		return err_set(
		    e, BAD,
		    "1 validation error detected: Value at 'logStreamNames' failed to satisfy "
		    "constraint: Member must have length less than or equal to 100");
	json_array_foreach(names, i, x)
	{
		if (!json_is_string(x))
			return err_set(e, BAD,
				       "The value of 'logStreamNames' must be a list of strings");
		if ((r = name_check("logStreamNames", json_string_value(x), false, e)) < 0)
			return r;
	}
	if (pattern && (r = logs_filter_compile(pattern, &f, e)) < 0)
		return r;
	pthread_mutex_lock(&lock);
	ensure_loaded();
	if ((r = find_group(rq, &g, e)) < 0) {
		pthread_mutex_unlock(&lock);
		return r;
	}
	int64_t start = rg.start, cut = retention_cutoff(g, now_ms());
	if (cut > start)
		start = cut;
	struct hit *hits = NULL;
	size_t nh = 0, cap = 0;
	json_t *searched = json_array();
	for (size_t k = 0; k < g->nstreams; k++) {
		const struct lstream *s = g->streams[k];
		bool wanted = !names && (!prefix || !strncmp(s->name, prefix, strlen(prefix)));
		json_array_foreach(names, i, x) wanted =
		    wanted || !strcmp(json_string_value(x), s->name);
		if (!wanted)
			continue;
		json_array_append_new(searched, json_pack("{s:s, s:b}", "logStreamName", s->name,
							  "searchedCompletely", true));
		size_t lo = ev_bound(s, start, 0, false);
		if (token) {
			size_t after = ev_bound(s, tts, tseq, true);
			if (after > lo)
				lo = after;
		}
		size_t hi = rg.end == INT64_MAX ? s->nev : ev_bound(s, rg.end, 0, false);
		for (size_t j = lo; j < hi; j++) {
			if (f && !logs_filter_match(f, s->ev[j].msg, s->ev[j].len))
				continue;
			if (nh == cap) {
				cap = cap ? cap * 2 : 256;
				struct hit *nhits = realloc(hits, cap * sizeof(*nhits));
				if (!nhits) {
					free(hits);
					json_decref(searched);
					pthread_mutex_unlock(&lock);
					return err_setr(e, -ENOMEM, "ServiceUnavailableException",
							"out of memory");
				}
				hits = nhits;
			}
			hits[nh++] = (struct hit){s, &s->ev[j]};
		}
	}
	if (nh)
		qsort(hits, nh, sizeof(*hits), cmp_hit);
	json_t *list = json_array();
	size_t taken = 0, bytes = 0;
	for (; taken < nh && (long long)taken < limit; taken++) {
		const struct hit *h = &hits[taken];
		char id[48];
		bytes += h->ev->len + EVENT_OVERHEAD;
		if (bytes > BATCH_MAX_BYTES && taken)
			break;
		/* Stable across calls and restarts: aws logs tail --follow tells events apart by
		 * it. */
		snprintf(id, sizeof(id), "%019" PRId64 "%020" PRIu64, h->ev->ts, h->ev->seq);
		json_array_append_new(list,
				      json_pack("{s:s, s:I, s:s%, s:I, s:s}", "logStreamName",
						h->s->name, "timestamp", (json_int_t)h->ev->ts,
						"message", h->ev->msg, h->ev->len, "ingestionTime",
						(json_int_t)h->ev->ingest, "eventId", id));
	}
	*ret = json_pack("{s:o, s:o}", "events", list, "searchedLogStreams", searched);
	if (taken < nh && taken > 0)
		json_object_set_new(
		    *ret, "nextToken",
		    token_json('n', hits[taken - 1].ev->ts, hits[taken - 1].ev->seq));
	free(hits);
	pthread_mutex_unlock(&lock);
	return 0;
}
