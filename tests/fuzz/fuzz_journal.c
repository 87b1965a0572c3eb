/* libFuzzer target: a journal image through store_replay. Whatever the bytes, replay either
 * applies whole records and reports a prefix that ends at a newline, or refuses with an
 * InternalError and applies nothing; and replaying the prefix it kept keeps all of it.
 * Built and run by tests/fuzz/run; the corpus is replayed by meson (tests/unit/meson.build). */
#include "store.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	json_t *objects = json_object(), *meta = json_object();
	struct err e = {0};
	size_t good = (size_t)-1;

	int r = store_replay(objects, meta, buf, size, &good, &e);
	if (r < 0) {
		if (strcmp(e.code, "InternalError") != 0 || json_object_size(objects) ||
		    json_object_size(meta) || good != (size_t)-1)
			abort();
	} else {
		if (good > size || (good && buf[good - 1] != '\n'))
			abort();
		json_t *o2 = json_object(), *m2 = json_object();
		size_t good2 = 0;
		if (store_replay(o2, m2, buf, good, &good2, &e) != 0 || good2 != good ||
		    !json_equal(o2, objects) || !json_equal(m2, meta))
			abort();
		json_decref(o2);
		json_decref(m2);
	}
	json_decref(objects);
	json_decref(meta);
	return 0;
}
