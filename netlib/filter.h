/* EC2 Filters (see filter.c). */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include "err.h"

struct filter_map {
	const char *name;
	const char *path; /* dotted path in the public object; arrays are traversed */
};

int wildcard_match(const char *pattern, const char *s);
/* Every filter names a known filter (or a tag one); InvalidParameterValue otherwise. */
int filters_check(json_t *filters, const struct filter_map *map, struct err *e);
/* Every filter has a value matching one of the object's values at its path. */
bool filters_match(json_t *pub, json_t *filters, const struct filter_map *map);
