/* Small jansson helpers both daemons read their objects and parameters with. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

/* The string member `key` of o, or "" (never NULL). */
const char *jstr(json_t *o, const char *key);
/* A list member: a JSON array as it is, one scalar wrapped, absent or null as []; a new
 * reference. */
json_t *jlist(json_t *o, const char *key);
/* Whether the array `list` holds the string s. */
bool jlist_has(json_t *list, const char *s);
