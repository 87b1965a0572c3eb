/* libFuzzer target: a control-socket request line through rpc_parse_request, the one parser
 * both daemons use. An accepted request has an Action of letters and digits, a Region fit for
 * a kernel object name and an object for Params; a refused one changes nothing.
 * Built and run by tests/fuzz/run; the corpus is replayed by meson (tests/unit/meson.build). */
#include "rpc.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rpc_request rq = {0};
	struct err e = {0};

	if (rpc_parse_request((const char *)data, size, &rq, &e) < 0) {
		if (rq.doc || !err_isset(&e))
			abort();
		return 0;
	}
	size_t na = strlen(rq.action), nr = strlen(rq.region);
	if (na < 1 || na > 64 || strspn(rq.action, "abcdefghijklmnopqrstuvwxyz"
						   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != na ||
	    nr < 1 || nr > 32 || strspn(rq.region, "abcdefghijklmnopqrstuvwxyz0123456789-") != nr ||
	    !(rq.region[0] >= 'a' && rq.region[0] <= 'z') || !json_is_object(rq.params) ||
	    json_object_get(rq.doc, "Params") != rq.params)
		abort();
	rpc_request_done(&rq);
	return 0;
}
