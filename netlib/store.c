#include "store.h"
#include "cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COMPACT_AFTER 4096

struct store {
	char *dir;
	int journal_fd;
	unsigned journal_lines;
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

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0750) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0750) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static void apply_changes(struct store *s, json_t *changes, json_t *meta)
{
	const char *id;
	json_t *v;
	json_object_foreach(changes, id, v)
	{
		if (json_is_null(v))
			json_object_del(s->objects, id);
		else
			json_object_set(s->objects, id, v);
	}
	if (json_is_object(meta))
		json_object_update(s->meta, meta);
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

/* Replays journal lines; stops at the first incomplete or invalid one and truncates there. */
static int replay_journal(struct store *s, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size == 0)
		return 0;
	_cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	ssize_t n = pread(fd, buf, (size_t)st.st_size, 0);
	if (n != st.st_size)
		return n < 0 ? -errno : -EIO;
	buf[n] = 0;
	char *p = buf, *nl;
	while ((nl = strchr(p, '\n'))) {
		*nl = 0;
		json_t *rec = json_loads(p, 0, NULL);
		if (!rec || !json_is_object(json_object_get(rec, "changes"))) {
			json_decref(rec);
			break;
		}
		apply_changes(s, json_object_get(rec, "changes"), json_object_get(rec, "meta"));
		json_decref(rec);
		p = nl + 1;
	}
	if (p - buf != n && ftruncate(fd, p - buf) < 0)
		return -errno;
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
	return 0;
}

int store_open(const char *dir, struct store **ret, struct err *e)
{
	char path[PATH_MAX];
	struct store *s;
	int r;

	r = mkdir_p(dir);
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
	r = replay_journal(s, s->journal_fd);
	if (r == 0)
		r = store_compact(s, e);
	if (r < 0) {
		if (!err_isset(e))
			err_set(e, "InternalError", "cannot replay journal '%s': %s", path,
				strerror(-r));
		store_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int store_commit(struct store *s, json_t *changes, json_t *meta, struct err *e)
{
	_cleanup_json_ json_t *rec = json_pack("{s:O, s:O?}", "changes", changes, "meta", meta);
	_cleanup_free_ char *line = NULL;
	size_t n;
	int r;

	line = json_dumps(rec, JSON_COMPACT);
	if (!line)
		return err_setr(e, -ENOMEM, "InternalError", "cannot serialise a change");
	n = strlen(line);
	line = realloc(line, n + 2);
	line[n++] = '\n';
	line[n] = 0;
	struct stat st;
	if (fstat(s->journal_fd, &st) < 0)
		return err_setr(e, -errno, "InternalError", "cannot stat the journal: %m");
	r = write_all(s->journal_fd, line, n);
	if (r == 0 && fdatasync(s->journal_fd) < 0)
		r = -errno;
	if (r < 0) {
		/* Remove a partial line so the next commit does not follow garbage. */
		(void)!ftruncate(s->journal_fd, st.st_size);
		return err_setr(e, r, "InternalError", "cannot write the journal: %s", strerror(-r));
	}
	apply_changes(s, changes, meta);
	if (++s->journal_lines >= COMPACT_AFTER) {
		struct err ignored = {0};
		(void)store_compact(s, &ignored);
	}
	return 0;
}
