/* EC2 Filters: Name/Values pairs matched against an object's public JSON, with * and ?
 * wildcards, tag:KEY, tag-key and tag-value. */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include "cleanup.h"
#include "filter.h"

static const char *fjstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key)) ?: "";
}

static json_t *values_of(json_t *f)
{
	json_t *v = json_object_get(f, "Values");
	if (json_is_array(v))
		return json_incref(v);
	json_t *a = json_array();
	if (v)
		json_array_append(a, v);
	return a;
}

int wildcard_match(const char *pattern, const char *s)
{
	/* EC2 filters take * and ? as wildcards; nothing else is special. */
	char buf[1024];
	size_t j = 0;
	for (const char *p = pattern; *p && j + 2 < sizeof(buf); p++) {
		if (*p == '[' || *p == ']' || *p == '\\')
			buf[j++] = '\\';
		buf[j++] = *p;
	}
	buf[j] = 0;
	return fnmatch(buf, s, 0) == 0;
}

static void scalar_str(json_t *v, char *buf, size_t n)
{
	if (json_is_string(v))
		snprintf(buf, n, "%s", json_string_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, n, "%s", json_is_true(v) ? "true" : "false");
	else if (json_is_integer(v))
		snprintf(buf, n, "%lld", (long long)json_integer_value(v));
	else
		buf[0] = 0;
}

/* Collects the leaf values at a dotted path, traversing arrays. */
static void collect(json_t *v, const char *path, json_t *out)
{
	if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) collect(x, path, out);
		return;
	}
	if (!*path) {
		char buf[512];
		if (json_is_object(v))
			return;
		scalar_str(v, buf, sizeof(buf));
		json_array_append_new(out, json_string(buf));
		return;
	}
	size_t n = strcspn(path, ".");
	char key[128];
	snprintf(key, sizeof(key), "%.*s", (int)n, path);
	json_t *child = json_object_get(v, key);
	if (child)
		collect(child, path[n] ? path + n + 1 : "", out);
}

static int filter_values(json_t *pub, const char *name, const struct filter_map *map, json_t *out)
{
	json_t *tags = json_object_get(pub, "Tags") ?: json_object_get(pub, "TagSet");
	size_t i;
	json_t *t;
	if (strncmp(name, "tag:", 4) == 0) {
		json_array_foreach(tags, i, t) if (strcmp(fjstr(t, "Key"), name + 4) == 0)
			json_array_append_new(out, json_string(fjstr(t, "Value")));
		return 0;
	}
	if (strcmp(name, "tag-key") == 0 || strcmp(name, "tag-value") == 0) {
		json_array_foreach(tags, i, t)
			json_array_append_new(out, json_string(fjstr(t, name[4] == 'k' ? "Key" : "Value")));
		return 0;
	}
	for (; map && map->name; map++)
		if (strcmp(map->name, name) == 0) {
			collect(pub, map->path, out);
			return 0;
		}
	return -ENOENT;
}

int filters_check(json_t *filters, const struct filter_map *map, struct err *e)
{
	size_t i;
	json_t *f;
	json_array_foreach(filters, i, f)
	{
		const char *name = fjstr(f, "Name");
		if (!json_is_object(f) || !*name)
			return err_set(e, "InvalidParameterValue", "A filter needs a Name");
		if (strncmp(name, "tag:", 4) == 0 || !strcmp(name, "tag-key") ||
		    !strcmp(name, "tag-value"))
			continue;
		const struct filter_map *m = map;
		while (m && m->name && strcmp(m->name, name) != 0)
			m++;
		if (!m || !m->name)
			return err_set(e, "InvalidParameterValue", "The filter '%s' is invalid", name);
	}
	return 0;
}

bool filters_match(json_t *pub, json_t *filters, const struct filter_map *map)
{
	size_t i;
	json_t *f;
	json_array_foreach(filters, i, f)
	{
		_cleanup_json_ json_t *have = json_array();
		_cleanup_json_ json_t *want = values_of(f);
		filter_values(pub, fjstr(f, "Name"), map, have);
		bool any = false;
		size_t a, b;
		json_t *h, *w;
		json_array_foreach(want, a, w)
		{
			char ws[512];
			scalar_str(w, ws, sizeof(ws));
			json_array_foreach(have, b, h) if (wildcard_match(ws, json_string_value(h)))
			{
				any = true;
				break;
			}
			if (any)
				break;
		}
		if (!any)
			return false;
	}
	return true;
}

