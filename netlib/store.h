/* A crash-safe object store: a JSON snapshot plus an append-only journal.
 *
 * Objects are JSON objects keyed by ID. A commit appends one journal line holding every object
 * the transaction touched (its new value, or null when deleted) and the metadata, then
 * fdatasync()s; only then is the change acknowledged. A line is `<compact JSON>\t<crc32c>\n`
 * (lines without the tab, from before checksums, are read unchecked). Opening the store loads
 * the snapshot, replays the journal, writes a new snapshot atomically (temp file, fsync, rename,
 * fsync of the directory) and empties the journal.
 *
 * A bad last line is a write that never completed, never acknowledged: it is dropped. A bad
 * line with records after it is damage to acknowledged state: store_open refuses, naming the
 * byte offset, rather than silently losing what follows. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include "err.h"

struct store;

/* Makes PATH and each missing parent with MODE (as mkdir -p); 0 or -errno. */
int mkdir_p(const char *path, unsigned mode);

int store_open(const char *dir, struct store **ret, struct err *e);
void store_free(struct store *s);
/* Borrowed: the live objects ({id: object}) and the metadata object. */
json_t *store_objects(struct store *s);
json_t *store_meta(struct store *s);
/* Journals `changes` ({id: object-or-null}) and `meta`, then applies them to the live view.
 * On failure nothing is applied. */
int store_commit(struct store *s, json_t *changes, json_t *meta, struct err *e);
/* Parses a journal image `buf` (n bytes) and, only if it is whole, applies every record to
 * `objects` and `meta`. On success *ret_good is the length of the whole records (less than n
 * when the tail is torn). On corruption returns -EBADMSG with `e` set and applies nothing.
 * Pure: no I/O, so it is also the fuzz target for the journal. */
int store_replay(json_t *objects, json_t *meta, const char *buf, size_t n, size_t *ret_good,
		 struct err *e);
/* Group commit: while deferred, store_commit writes its record and applies it but does not
 * fdatasync; store_sync makes every record since durable with one fdatasync. A caller must
 * not acknowledge a deferred commit (nor answer anything that read its effect) before
 * store_sync succeeded. If it fails, the store is broken: every later commit fails until
 * the daemon restarts from what is on the disk. */
void store_defer_sync(struct store *s, bool defer);
int store_sync(struct store *s, struct err *e);
bool store_broken(struct store *s);
/* Writes a snapshot and truncates the journal. */
int store_compact(struct store *s, struct err *e);
