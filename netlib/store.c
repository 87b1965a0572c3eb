#include "store.h"
#include "cleanup.h"
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COMPACT_AFTER 4096
#define COMPACT_MIN_BYTES (4u << 20)

struct store {
	char *dir;
	int journal_fd;
	unsigned journal_lines;
	size_t journal_bytes, snapshot_bytes;
	bool broken;
	bool deferred; /* commits are written, and made durable together by store_sync */
	bool unsynced; /* written since the last fdatasync */
	json_t *objects;
	json_t *meta;
};

json_t *store_objects(struct store *s) { return s->objects; }
json_t *store_meta(struct store *s) { return s->meta; }

void store_free(struct store *s)
{
	if (!s)
		return;
	if (s->journal_fd >= 0)
		close(s->journal_fd);
	json_decref(s->objects);
	json_decref(s->meta);
	free(s->dir);
	free(s);
}

int mkdir_p(const char *path, unsigned mode)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static void apply_changes(json_t *objects, json_t *live_meta, json_t *changes, json_t *meta)
{
	const char *id;
	json_t *v;
	json_object_foreach(changes, id, v)
	{
		if (json_is_null(v))
			json_object_del(objects, id);
		else
			json_object_set(objects, id, v);
	}
	if (json_is_object(meta))
		json_object_update(live_meta, meta);
}

static int write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += w, n -= (size_t)w;
	}
	return 0;
}

/* CRC-32C (Castagnoli), bitwise: a journal line is short and replay runs once per open. */
static uint32_t crc32c(const char *buf, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= (unsigned char)buf[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & -(c & 1u));
	}
	return ~c;
}

/* Checks one journal line (without its newline) and returns its record, or NULL with `why`. */
static json_t *parse_record(const char *line, size_t n, const char **why)
{
	const char *tab = memchr(line, '\t', n);
	size_t body = tab ? (size_t)(tab - line) : n;
	if (tab) {
		char want[9];
		if (n - body - 1 != 8) {
			*why = "its checksum field is not 8 hex digits";
			return NULL;
		}
		snprintf(want, sizeof(want), "%08x", crc32c(line, body));
		if (memcmp(want, tab + 1, 8) != 0) {
			*why = "its checksum does not match";
			return NULL;
		}
	}
	json_error_t je;
	json_t *rec = json_loadb(line, body, 0, &je);
	if (!rec) {
		*why = "it is not JSON";
		return NULL;
	}
	if (!json_is_object(json_object_get(rec, "changes"))) {
		json_decref(rec);
		*why = "its changes are not an object";
		return NULL;
	}
	json_t *meta = json_object_get(rec, "meta");
	if (meta && !json_is_object(meta) && !json_is_null(meta)) {
		json_decref(rec);
		*why = "its meta is not an object";
		return NULL;
	}
	return rec;
}

static bool all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int store_replay(json_t *objects, json_t *meta, const char *buf, size_t n, size_t *ret_good,
		 struct err *e)
{
	_cleanup_json_ json_t *recs = json_array();
	size_t p = 0;
	unsigned nr = 0;

	if (!recs)
		return err_setr(e, -ENOMEM, "InternalError", "out of memory replaying the journal");
	while (p < n) {
		const char *line = buf + p;
		const char *nl = memchr(line, '\n', n - p);
		size_t len = nl ? (size_t)(nl - line) : n - p;
		const char *why = "it has no newline";
		json_t *rec = nl ? parse_record(line, len, &why) : NULL;
		nr++;
		if (!rec) {
			/* A bad last line, or a zero-filled tail, is a write that never completed and
			 * so was never acknowledged. Anything after a bad line means a record that was
			 * acknowledged is damaged: refuse rather than silently drop what follows. */
			bool last = !nl || (size_t)(nl - buf) + 1 == n;
			const char *tab = memchr(line, '\t', len);
			if (last && tab && len - (size_t)(tab - line) > 9)
				why = "it runs past its checksum (a lost newline joined two records)";
			else if (last || all_zero(line, n - p))
				break;
			return err_setr(e, -EBADMSG, "InternalError",
					"the journal is corrupt at byte %zu (record %u): %s, and %zu "
					"bytes of records follow it; move the journal aside to start "
					"from the last snapshot",
					p, nr, why, n - p - len - (nl ? 1 : 0));
		}
		json_array_append_new(recs, rec);
		p += len + 1;
	}
	size_t i;
	json_t *rec;
	json_array_foreach(recs, i, rec)
		apply_changes(objects, meta, json_object_get(rec, "changes"), json_object_get(rec, "meta"));
	*ret_good = p;
	return 0;
}

/* Replays the journal file; truncates a torn tail, refuses a corrupt middle. */
static int replay_journal(struct store *s, int fd, const char *path, struct err *e)
{
	struct stat st;
	size_t good = 0;
	int r;

	if (fstat(fd, &st) < 0)
		return err_setr(e, -errno, "InternalError", "cannot stat journal '%s': %m", path);
	if (st.st_size == 0)
		return 0;
	_cleanup_free_ char *buf = malloc((size_t)st.st_size);
	if (!buf)
		return err_setr(e, -ENOMEM, "InternalError", "out of memory reading '%s'", path);
	ssize_t n = pread(fd, buf, (size_t)st.st_size, 0);
	if (n != st.st_size)
		return err_setr(e, n < 0 ? -errno : -EIO, "InternalError", "cannot read journal '%s'",
				path);
	r = store_replay(s->objects, s->meta, buf, (size_t)n, &good, e);
	if (r < 0) {
		char msg[sizeof(e->msg)];
		snprintf(msg, sizeof(msg), "%s", e->msg);
		return err_setr(e, r, "InternalError", "journal '%s': %s", path, msg);
	}
	if (good != (size_t)n && ftruncate(fd, (off_t)good) < 0)
		return err_setr(e, -errno, "InternalError", "cannot truncate journal '%s': %m", path);
	return 0;
}

int store_compact(struct store *s, struct err *e)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	_cleanup_json_ json_t *doc = json_pack("{s:i, s:O, s:O}", "version", 1, "meta", s->meta,
					       "objects", s->objects);
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int fd = -1, dfd = -1;
	int r;

	snprintf(path, sizeof(path), "%s/state.json", s->dir);
	snprintf(tmp, sizeof(tmp), "%s/state.json.tmp", s->dir);
	text = json_dumps(doc, JSON_COMPACT);
	if (!text)
		return err_setr(e, -ENOMEM, "InternalError", "cannot serialise the state");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return err_setr(e, -errno, "InternalError", "cannot write '%s': %m", tmp);
	r = write_all(fd, text, strlen(text));
	s->snapshot_bytes = strlen(text);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return err_setr(e, r, "InternalError", "cannot write '%s': %s", path, strerror(-r));
	}
	dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		fsync(dfd);
	if (ftruncate(s->journal_fd, 0) < 0 || fdatasync(s->journal_fd) < 0)
		return err_setr(e, -errno, "InternalError", "cannot truncate the journal: %m");
	s->journal_lines = 0;
	s->journal_bytes = 0;
	s->unsynced = false; /* the snapshot holds everything, durably */
	return 0;
}

int store_open(const char *dir, struct store **ret, struct err *e)
{
	char path[PATH_MAX];
	struct store *s;
	int r;

	r = mkdir_p(dir, 0750);
	if (r < 0)
		return err_setr(e, r, "InternalError", "cannot create state directory '%s': %s", dir,
				strerror(-r));
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->journal_fd = -1;
	s->dir = strdup(dir);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	if (access(path, F_OK) == 0) {
		json_error_t je;
		_cleanup_json_ json_t *doc = json_load_file(path, 0, &je);
		if (!doc || !json_is_object(json_object_get(doc, "objects"))) {
			store_free(s);
			return err_setr(e, -EBADMSG, "InternalError", "state file '%s' is corrupt: %s",
					path, doc ? "no objects" : je.text);
		}
		s->objects = json_incref(json_object_get(doc, "objects"));
		s->meta = json_incref(json_object_get(doc, "meta"));
	}
	if (!s->objects)
		s->objects = json_object();
	if (!json_is_object(s->meta)) {
		json_decref(s->meta);
		s->meta = json_object();
	}
	snprintf(path, sizeof(path), "%s/journal", dir);
	s->journal_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (s->journal_fd < 0) {
		r = -errno;
		store_free(s);
		return err_setr(e, r, "InternalError", "cannot open journal '%s': %s", path,
				strerror(-r));
	}
	r = replay_journal(s, s->journal_fd, path, e);
	if (r == 0)
		r = store_compact(s, e);
	if (r < 0) {
		store_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int store_commit(struct store *s, json_t *changes, json_t *meta, struct err *e)
{
	_cleanup_json_ json_t *rec = json_pack("{s:O, s:O?}", "changes", changes, "meta", meta);
	_cleanup_free_ char *body = NULL, *line = NULL;
	struct stat st;
	int r, n;

	if (s->broken)
		return err_setr(e, -EIO, "InternalError",
				"the journal could not be repaired after a failed write; restart the "
				"daemon to recover from the last acknowledged change");
	body = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
	if (!body)
		return err_setr(e, -ENOMEM, "InternalError", "cannot serialise a change");
	n = asprintf(&line, "%s\t%08x\n", body, crc32c(body, strlen(body)));
	if (n < 0) {
		line = NULL;
		return err_setr(e, -ENOMEM, "InternalError", "cannot serialise a change");
	}
	if (fstat(s->journal_fd, &st) < 0)
		return err_setr(e, -errno, "InternalError", "cannot stat the journal: %m");
	r = write_all(s->journal_fd, line, (size_t)n);
	if (r == 0 && !s->deferred && fdatasync(s->journal_fd) < 0)
		r = -errno;
	if (r < 0) {
		/* Remove a partial line so the next commit does not follow garbage; if even that
		 * fails, a later record would land after a damaged one, so refuse all commits. */
		if (ftruncate(s->journal_fd, st.st_size) < 0)
			s->broken = true;
		return err_setr(e, r, "InternalError", "cannot write the journal: %s", strerror(-r));
	}
	apply_changes(s->objects, s->meta, changes, meta);
	s->unsynced |= s->deferred;
	s->journal_bytes += (size_t)n;
	/* A snapshot once the journal outgrows it (and at least COMPACT_MIN_BYTES): its cost,
	 * spread over the records that filled the journal, stays the same per record whatever
	 * the size of the state. */
	if (++s->journal_lines >= COMPACT_AFTER &&
	    s->journal_bytes >= (s->snapshot_bytes > COMPACT_MIN_BYTES ? s->snapshot_bytes : COMPACT_MIN_BYTES)) {
		struct err ignored = {0};
		(void)store_compact(s, &ignored);
	}
	return 0;
}

void store_defer_sync(struct store *s, bool defer) { s->deferred = defer; }

int store_sync(struct store *s, struct err *e)
{
	if (!s->unsynced)
		return 0;
	s->unsynced = false;
	if (fdatasync(s->journal_fd) < 0) {
		/* What was written may or may not be on the disk: nothing after it can be
		 * acknowledged either. */
		int r = -errno;
		s->broken = true;
		return err_setr(e, r, "InternalError", "cannot make the journal durable: %s", strerror(-r));
	}
	return 0;
}

bool store_broken(struct store *s) { return s->broken; }
