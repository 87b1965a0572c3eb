/* libFuzzer target: a lab's check file (a student's YAML) through check_parse (ec2d/check_file.c).
 * An accepted file is a non-empty array of checks, each with its kind and a line number within
 * the input; a refused one gives InvalidCheckFile and a message naming a line, and leaves the
 * out-parameter alone. Built and run by tests/fuzz/run; the corpus is replayed by meson
 * (ec2d's tests). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "jsonx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = {0};
	json_t *checks = NULL;
	if (check_parse((const char *)data, size, &checks, &e) < 0) {
		if (checks || strcmp(e.code, "InvalidCheckFile") || strncmp(e.msg, "line ", 5))
			abort();
		return 0;
	}
	/* YAML's line breaks: LF, CR (a CR LF pair is one), NEL (C2 85), LS and PS (E2 80 A8/A9). */
	size_t i, lines = 1;
	for (size_t k = 0; k < size; k++)
		lines += data[k] == '\n' || (data[k] == '\r' && (k + 1 == size || data[k + 1] != '\n')) ||
			 data[k] == 0x85 || data[k] == 0xa8 || data[k] == 0xa9;
	json_t *c;
	if (!json_is_array(checks) || !json_array_size(checks))
		abort();
	json_array_foreach(checks, i, c) {
		json_int_t l = json_integer_value(json_object_get(c, "Line"));
		if (!*jstr(c, "Kind") || l < 1 || (size_t)l > lines)
			abort();
	}
	json_decref(checks);
	return 0;
}
