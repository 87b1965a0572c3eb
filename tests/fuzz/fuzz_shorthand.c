/* libFuzzer target: a CLI argument through shorthand_parse (the aws CLI's shorthand, or JSON).
 * It answers a value or a ParamValidation error, never both and never neither.
 * Built and run by tests/fuzz/run; the corpus is replayed by meson (tests/unit/meson.build). */
#include "shorthand.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	json_t *v = NULL;
	struct err e = {0};

	memcpy(text, data, size);
	text[size] = 0; /* an argv string ends at its first NUL, as here */
	int r = shorthand_parse(text, &v, &e);
	if (r == 0 ? !v || err_isset(&e) : v != NULL || strcmp(e.code, "ParamValidation") != 0)
		abort();
	json_decref(v);
	free(text);
	return 0;
}
