/* A crash-safe object store: a JSON snapshot plus an append-only journal.
 *
 * Objects are JSON objects keyed by ID. A commit appends one journal line holding every object
 * the transaction touched (its new value, or null when deleted) and the metadata, then
 * fdatasync()s; only then is the change acknowledged. Opening the store loads the snapshot,
 * replays the journal up to the first torn or unparsable line (a line that never completed
 * was never acknowledged), writes a new snapshot atomically (temp file, fsync, rename, fsync of
 * the directory) and empties the journal. */
#pragma once
#include <jansson.h>
#include "err.h"

struct store;

int store_open(const char *dir, struct store **ret, struct err *e);
void store_free(struct store *s);
/* Borrowed: the live objects ({id: object}) and the metadata object. */
json_t *store_objects(struct store *s);
json_t *store_meta(struct store *s);
/* Journals `changes` ({id: object-or-null}) and `meta`, then applies them to the live view.
 * On failure nothing is applied. */
int store_commit(struct store *s, json_t *changes, json_t *meta, struct err *e);
/* Writes a snapshot and truncates the journal. */
int store_compact(struct store *s, struct err *e);
