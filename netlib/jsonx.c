#include "jsonx.h"
#include <string.h>

const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

json_t *jlist(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (json_is_array(v))
		return json_incref(v);
	json_t *a = json_array();
	if (v && !json_is_null(v))
		json_array_append(a, v);
	return a;
}

bool jlist_has(json_t *list, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) if (!strcmp(json_string_value(v) ?: "", s)) return true;
	return false;
}
