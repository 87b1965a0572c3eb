#include "tagset.h"
#include <string.h>

static const char *s(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)) ?: ""; }

size_t tagset_put(json_t *have, json_t *tags)
{
	size_t j, x;
	json_t *t, *h;
	json_array_foreach(tags, j, t)
	{
		json_array_foreach(have, x, h) if (strcmp(s(h, "Key"), s(t, "Key")) == 0)
		{
			json_array_remove(have, x);
			break;
		}
		json_array_append_new(have, json_pack("{s:s, s:s}", "Key", s(t, "Key"), "Value", s(t, "Value")));
	}
	return json_array_size(have);
}

void tagset_remove(json_t *have, json_t *tags)
{
	size_t j, x;
	json_t *t, *h;
	if (json_array_size(tags) == 0) {
		json_array_clear(have);
		return;
	}
	json_array_foreach(tags, j, t)
	{
		json_t *val = json_object_get(t, "Value");
		json_array_foreach(have, x, h)
		{
			if (strcmp(s(h, "Key"), s(t, "Key")) != 0)
				continue;
			if (!val || strcmp(s(h, "Value"), json_string_value(val) ?: "") == 0)
				json_array_remove(have, x);
			break;
		}
	}
}
