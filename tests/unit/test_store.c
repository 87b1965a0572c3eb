/* netlib/store.h: snapshot + journal, replay, torn and corrupt journals. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "store.h"
#include "tap.h"

static char dir[] = "/tmp/vpclab-ut-store-XXXXXX";

static void path_of(char *buf, const char *name) { snprintf(buf, PATH_MAX, "%s/%s", dir, name); }

static long long file_size(const char *name)
{
	char p[PATH_MAX];
	struct stat st;
	path_of(p, name);
	return stat(p, &st) < 0 ? -1 : (long long)st.st_size;
}

static bool file_exists(const char *name) { return file_size(name) >= 0; }

static void append_raw(const char *text)
{
	char p[PATH_MAX];
	path_of(p, "journal");
	int fd = open(p, O_WRONLY | O_APPEND);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		diag("cannot append to %s", p);
	if (fd >= 0)
		close(fd);
}

static void rm_rf(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[PATH_MAX];
	while (d && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		path_of(p, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

static struct store *reopen(struct store *s, const char *what)
{
	struct err e = {0};
	struct store *n = NULL;
	store_free(s);
	int r = store_open(dir, &n, &e);
	if (!ok(r == 0 && n, "reopen %s", what))
		diag("  %s: %s", e.code, e.msg);
	return n;
}

static int commit(struct store *s, const char *changes, const char *meta)
{
	struct err e = {0};
	json_t *c = json_loads(changes, 0, NULL), *m = meta ? json_loads(meta, 0, NULL) : NULL;
	int r = store_commit(s, c, m, &e);
	if (r < 0)
		diag("store_commit: %s: %s", e.code, e.msg);
	json_decref(c);
	json_decref(m);
	return r;
}

static bool objects_are(struct store *s, const char *want_text)
{
	json_t *want = json_loads(want_text, 0, NULL);
	bool r = is_json(store_objects(s), want, "objects are %s", want_text);
	json_decref(want);
	return r;
}

/* store_replay on every prefix of a three-record journal, and with every bit of the first two
 * records flipped: a prefix loads exactly its whole records; damage before the last record is
 * always refused and never applies anything. */
static void replay_every_cut_and_flip(const char *image, size_t n)
{
	size_t ends[3], k = 0, bad = 0, refused = 0;
	for (size_t i = 0; i < n && k < 3; i++)
		if (image[i] == '\n')
			ends[k++] = i + 1;
	if (!ok(k == 3 && ends[2] == n, "the journal image holds three whole records"))
		return;
	for (size_t cut = 0; cut <= n; cut++) {
		json_t *o = json_object(), *m = json_object();
		struct err e = {0};
		size_t good = 0, want = 0;
		for (size_t j = 0; j < 3; j++)
			if (ends[j] <= cut)
				want = ends[j];
		int r = store_replay(o, m, image, cut, &good, &e);
		size_t nrec = want == 0 ? 0 : want == ends[0] ? 1 : want == ends[1] ? 2 : 3;
		if (r != 0 || good != want || json_object_size(o) != nrec) {
			bad++;
			diag("cut at %zu: r=%d good=%zu want=%zu objects=%zu", cut, r, good, want,
			     json_object_size(o));
		}
		json_decref(o);
		json_decref(m);
	}
	is_int((long long)bad, 0, "each of %zu cuts loads exactly the whole records before it", n + 1);

	char *copy = malloc(n);
	bad = 0;
	for (size_t bit = 0; bit < ends[1] * 8; bit++) {
		json_t *o = json_object(), *m = json_object();
		struct err e = {0};
		size_t good = 0;
		memcpy(copy, image, n);
		copy[bit / 8] ^= (char)(1 << (bit % 8));
		int r = store_replay(o, m, copy, n, &good, &e);
		if (r == -EBADMSG && json_object_size(o) == 0 && strcmp(e.code, "InternalError") == 0)
			refused++;
		else {
			bad++;
			if (bad < 5)
				diag("flip of bit %zu: r=%d objects=%zu", bit, r, json_object_size(o));
		}
		json_decref(o);
		json_decref(m);
	}
	free(copy);
	is_int((long long)bad, 0, "all %zu single-bit flips before the last record are refused (%zu)",
	       ends[1] * 8, refused);
}

int main(void)
{
	struct err e = {0};
	struct store *s = NULL;

	if (!mkdtemp(dir)) {
		printf("1..0 # SKIP cannot create a temporary directory\n");
		return 77;
	}

	int r = store_open(dir, &s, &e);
	ok(r == 0 && s, "store_open on an empty directory");
	ok(s && json_object_size(store_objects(s)) == 0 && json_object_size(store_meta(s)) == 0,
	   "fresh store has no objects and empty meta");
	ok(file_exists("state.json"), "state.json written at open");
	is_int(file_size("journal"), 0, "journal exists and is empty after open");
	ok(!file_exists("state.json.tmp"), "no temporary snapshot left behind");

	/* Commit, then reopen sees it. */
	is_int(commit(s, "{\"vpc-1\": {\"CidrBlock\": \"10.0.0.0/16\"}}", "{\"ids\": \"0001\"}"), 0,
	       "commit vpc-1");
	ok(objects_are(s, "{\"vpc-1\": {\"CidrBlock\": \"10.0.0.0/16\"}}"), "live view has vpc-1");
	ok(file_size("journal") > 0, "the commit is in the journal");
	is_int(commit(s, "{\"subnet-1\": {\"VpcId\": \"vpc-1\"}}", "{\"other\": 5}"), 0,
	       "commit subnet-1 with another meta key");
	s = reopen(s, "after two commits");
	if (!s)
		goto out;
	ok(objects_are(s, "{\"vpc-1\": {\"CidrBlock\": \"10.0.0.0/16\"}, \"subnet-1\": {\"VpcId\": \"vpc-1\"}}"),
	   "both objects survive a reopen");
	json_t *want_meta = json_pack("{s:s, s:i}", "ids", "0001", "other", 5);
	is_json(store_meta(s), want_meta, "meta keys from both commits are merged");
	json_decref(want_meta);
	is_int(file_size("journal"), 0, "journal emptied by the snapshot at open");

	/* Snapshot content */
	char p[PATH_MAX];
	path_of(p, "state.json");
	json_t *snap = json_load_file(p, 0, NULL);
	ok(snap && json_integer_value(json_object_get(snap, "version")) == 1 &&
		   json_equal(json_object_get(snap, "objects"), store_objects(s)),
	   "state.json holds version 1 and the objects");
	json_decref(snap);

	/* Update and delete via null; meta overwrite of one key keeps the others. */
	is_int(commit(s, "{\"vpc-1\": {\"CidrBlock\": \"10.0.0.0/16\", \"Tags\": []}, \"subnet-1\": null}",
		      "{\"ids\": \"0002\"}"),
	       0, "commit: update vpc-1, delete subnet-1");
	ok(objects_are(s, "{\"vpc-1\": {\"CidrBlock\": \"10.0.0.0/16\", \"Tags\": []}}"),
	   "live view: subnet-1 gone");
	s = reopen(s, "after a delete");
	if (!s)
		goto out;
	ok(objects_are(s, "{\"vpc-1\": {\"CidrBlock\": \"10.0.0.0/16\", \"Tags\": []}}"),
	   "delete via null survives a reopen");
	want_meta = json_pack("{s:s, s:i}", "ids", "0002", "other", 5);
	is_json(store_meta(s), want_meta, "meta: updated key replaced, other key kept");
	json_decref(want_meta);
	is_int(commit(s, "{\"nothing-here\": null}", NULL), 0, "deleting an absent ID is harmless");

	/* A torn journal: a committed record, then a line that never got its newline. */
	is_int(commit(s, "{\"rtb-1\": {\"VpcId\": \"vpc-1\"}}", NULL), 0, "commit rtb-1");
	long long good_size = file_size("journal");
	store_free(s);
	s = NULL;
	append_raw("{\"changes\":{\"x\":");
	ok(file_size("journal") > good_size, "journal now ends in a torn record");
	s = reopen(NULL, "with a torn journal");
	if (!s)
		goto out;
	ok(objects_are(s, "{\"vpc-1\": {\"CidrBlock\": \"10.0.0.0/16\", \"Tags\": []}, \"rtb-1\": {\"VpcId\": \"vpc-1\"}}"),
	   "torn record ignored, the committed one before it kept");
	ok(!json_object_get(store_objects(s), "x"), "nothing of the torn record applied");
	is_int(file_size("journal"), 0, "journal truncated after open");

	/* A torn record that happens to be complete JSON up to the cut, still without newline. */
	store_free(s);
	s = NULL;
	append_raw("{\"changes\":{\"y\":{}}}");
	s = reopen(NULL, "with a complete-looking line lacking its newline");
	if (!s)
		goto out;
	ok(!json_object_get(store_objects(s), "y"), "a line without newline was never acknowledged: ignored");

	/* Garbage with acknowledged records after it is damage, not a torn write: refuse. */
	is_int(commit(s, "{\"eni-1\": {\"n\": 1}}", NULL), 0, "commit eni-1");
	store_free(s);
	s = NULL;
	append_raw("this is not json\n");
	append_raw("{\"changes\":{\"eni-2\":{\"n\":2}}}\n");
	long long corrupt_size = file_size("journal");
	err_clear(&e);
	r = store_open(dir, &s, &e);
	ok(r < 0 && !s, "store_open refuses garbage followed by records (r=%d)", r);
	is_str(e.code, "InternalError", "corrupt journal error code");
	ok(strstr(e.msg, "(record 2): it is not JSON") && strstr(e.msg, "move the journal aside"),
	   "the message names the offset and the way out: %s", e.msg);
	is_int(file_size("journal"), corrupt_size, "a refused journal is left as it was");

	/* A valid JSON line that is not a change record, with records after it: also refused. */
	path_of(p, "journal");
	is_int(truncate(p, 0), 0, "journal moved aside");
	append_raw("{\"changes\":{\"eni-3\":{}}}\n{\"changes\":[1]}\n{\"changes\":{\"eni-4\":{}}}\n");
	err_clear(&e);
	r = store_open(dir, &s, &e);
	ok(r < 0 && !s && strstr(e.msg, "record 2") && strstr(e.msg, "changes are not an object"),
	   "a record whose changes are not an object, mid-journal, is refused: %s", e.msg);

	/* The same bad record as the last line is a torn tail: dropped, the rest kept. */
	is_int(truncate(p, 0), 0, "journal emptied");
	append_raw("{\"changes\":{\"eni-3\":{}}}\n{\"changes\":[1]}\n");
	s = reopen(NULL, "with a bad last record");
	if (!s)
		goto out;
	ok(json_object_get(store_objects(s), "eni-3") && !json_object_get(store_objects(s), "eni-4"),
	   "records before a bad last line are replayed");

	/* A zero-filled tail (the file grew, the data never landed) is torn too. */
	is_int(commit(s, "{\"eni-7\": {}}", NULL), 0, "commit eni-7");
	store_free(s);
	s = NULL;
	{
		int fd = open(p, O_WRONLY | O_APPEND);
		static const char zeros[4096];
		ok(fd >= 0 && write(fd, zeros, sizeof(zeros)) == (ssize_t)sizeof(zeros),
		   "4096 zero bytes appended");
		if (fd >= 0)
			close(fd);
	}
	s = reopen(NULL, "with a zero-filled tail");
	if (!s)
		goto out;
	ok(json_object_get(store_objects(s), "eni-7") != NULL, "record before a zero tail kept");
	is_int(file_size("journal"), 0, "zero tail truncated, then compacted");

	/* A commit after recovery lands in a clean journal and replays. */
	is_int(commit(s, "{\"eni-5\": {}}", NULL), 0, "commit after recovery");
	s = reopen(s, "after a commit following recovery");
	if (!s)
		goto out;
	ok(json_object_get(store_objects(s), "eni-5") != NULL, "post-recovery commit replayed");

	/* store_compact by hand */
	is_int(commit(s, "{\"eni-6\": {}}", NULL), 0, "commit eni-6");
	ok(file_size("journal") > 0, "journal non-empty before compaction");
	is_int(store_compact(s, &e), 0, "store_compact");
	is_int(file_size("journal"), 0, "journal empty after compaction");
	ok(!file_exists("state.json.tmp"), "no temporary snapshot after compaction");
	s = reopen(s, "after compaction");
	if (!s)
		goto out;
	ok(json_object_get(store_objects(s), "eni-6") != NULL, "compacted object survives");

	/* Group commit: deferred commits are written and applied, made durable by one
	 * store_sync, and replayed like any others. */
	store_defer_sync(s, true);
	long long before = file_size("journal");
	is_int(commit(s, "{\"g-1\": {}}", NULL), 0, "deferred commit g-1");
	is_int(commit(s, "{\"g-2\": {}, \"g-1\": null}", NULL), 0, "deferred commit g-2, deleting g-1");
	ok(file_size("journal") > before, "deferred records are written at once");
	ok(json_object_get(store_objects(s), "g-2") && !json_object_get(store_objects(s), "g-1"),
	   "and applied to the live view");
	is_int(store_sync(s, &e), 0, "store_sync");
	is_int(store_sync(s, &e), 0, "store_sync with nothing written is harmless");
	ok(!store_broken(s), "the store is not broken");
	store_defer_sync(s, false);
	s = reopen(s, "after a group commit");
	if (!s)
		goto out;
	ok(json_object_get(store_objects(s), "g-2") && !json_object_get(store_objects(s), "g-1"),
	   "the group's records replay in order");

	/* A corrupt snapshot is an error, not an empty store. */
	store_free(s);
	s = NULL;
	path_of(p, "state.json");
	FILE *f = fopen(p, "w");
	if (f) {
		fputs("{\"objects\": [", f);
		fclose(f);
	}
	err_clear(&e);
	r = store_open(dir, &s, &e);
	ok(r < 0 && s == NULL, "store_open refuses a corrupt state.json (r=%d)", r);
	is_str(e.code, "InternalError", "corrupt snapshot error code");

	/* Three commits in a fresh journal, then the pure replay on its bytes. */
	store_free(s);
	s = NULL;
	path_of(p, "journal");
	is_int(truncate(p, 0), 0, "journal emptied for the replay checks");
	path_of(p, "state.json");
	unlink(p);
	s = reopen(NULL, "fresh, for the replay checks");
	if (!s)
		goto out;
	is_int(commit(s, "{\"a\": {\"n\": 1}}", "{\"seq\": 1}"), 0, "commit a");
	is_int(commit(s, "{\"b\": {\"s\": \"tab\\there\"}}", NULL), 0, "commit b (a tab in a value)");
	is_int(commit(s, "{\"c\": {}}", NULL), 0, "commit c");
	{
		path_of(p, "journal");
		FILE *jf = fopen(p, "rb");
		char image[4096];
		size_t n = jf ? fread(image, 1, sizeof(image), jf) : 0;
		if (jf)
			fclose(jf);
		ok(n > 0 && memchr(image, '\t', n), "journal lines carry a checksum field");
		replay_every_cut_and_flip(image, n);
	}

out:
	store_free(s);
	rm_rf();
	ok(access(dir, F_OK) < 0, "temporary directory removed");
	return done();
}
