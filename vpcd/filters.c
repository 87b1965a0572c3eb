#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "vpcd.h"

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
		json_array_foreach(tags, i, t) if (strcmp(jstr(t, "Key"), name + 4) == 0)
			json_array_append_new(out, json_string(jstr(t, "Value")));
		return 0;
	}
	if (strcmp(name, "tag-key") == 0 || strcmp(name, "tag-value") == 0) {
		json_array_foreach(tags, i, t)
			json_array_append_new(out, json_string(jstr(t, name[4] == 'k' ? "Key" : "Value")));
		return 0;
	}
	for (; map && map->name; map++)
		if (strcmp(map->name, name) == 0) {
			collect(pub, map->path, out);
			return 0;
		}
	return -ENOENT;
}

static int filters_check(json_t *filters, const struct filter_map *map, struct err *e)
{
	size_t i;
	json_t *f;
	json_array_foreach(filters, i, f)
	{
		const char *name = jstr(f, "Name");
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

static bool filters_match(json_t *pub, json_t *filters, const struct filter_map *map)
{
	size_t i;
	json_t *f;
	json_array_foreach(filters, i, f)
	{
		_cleanup_json_ json_t *have = json_array();
		_cleanup_json_ json_t *want = param_list(f, "Values");
		filter_values(pub, jstr(f, "Name"), map, have);
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

int describe(struct req *rq, const char *type, const char *ids_param, const char *id_key,
	     const char *notfound_code, const char *notfound_name, const struct filter_map *map,
	     void (*decorate)(json_t *pub, json_t *o), json_t **ret, json_t **ret_token,
	     struct err *e)
{
	_cleanup_json_ json_t *ids = ids_param ? param_list(rq->params, ids_param) : json_array();
	_cleanup_json_ json_t *filters = param_list(rq->params, "Filters");
	_cleanup_json_ json_t *out = json_array();
	long long max, start = 0;
	const char *token = NULL, *id;
	size_t i;
	json_t *v, *o;
	int r;

	r = filters_check(filters, map, e);
	if (r < 0)
		return r;
	json_array_foreach(ids, i, v)
	{
		o = obj_get_type(json_string_value(v), type);
		if (!o || (strcmp(jstr(o, "_region"), rq->region) != 0 &&
			   strcmp(jstr(o, "_peer_region"), rq->region) != 0))
			return err_set(e, notfound_code, "The %s '%s' does not exist", notfound_name,
				       json_string_value(v) ?: "");
	}
	r = param_int(rq, "MaxResults", 0, &max, e);
	if (r < 0)
		return r;
	if (max && ids && json_array_size(ids))
		return err_set(e, "InvalidParameterCombination",
			       "The parameter %s cannot be used with the parameter maxResults",
			       ids_param);
	if (max && (max < 5 || max > 1000))
		return err_set(e, "InvalidParameterValue",
			       "Value ( %lld ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.",
			       max);
	if (param_str(rq, "NextToken", false, &token, e) < 0)
		return -EINVAL;
	if (token) {
		char *end;
		start = strtoll(token, &end, 10);
		if (!*token || *end || start < 0)
			return err_set(e, "InvalidNextToken", "The token '%s' is invalid", token);
	}
	long long seen = 0;
	json_t *next = NULL;
	obj_foreach(type, NULL, id, o)
	{
		/* An object belongs to its region; a peering also to its accepter's. */
		if (strcmp(jstr(o, "_region"), rq->region) != 0 && strcmp(jstr(o, "_peer_region"), rq->region) != 0)
			continue;
		if (json_array_size(ids)) {
			bool want = false;
			json_array_foreach(ids, i, v) want |= strcmp(json_string_value(v), id) == 0;
			if (!want)
				continue;
		}
		json_t *pub = obj_public(o);
		if (decorate)
			decorate(pub, o);
		if (!filters_match(pub, filters, map)) {
			json_decref(pub);
			continue;
		}
		if (seen++ < start) {
			json_decref(pub);
			continue;
		}
		if (max && (long long)json_array_size(out) >= max) {
			json_decref(pub);
			char buf[32];
			snprintf(buf, sizeof(buf), "%lld", seen - 1);
			next = json_string(buf);
			break;
		}
		json_array_append_new(out, pub);
	}
	(void)id_key;
	*ret = TAKE_PTR(out);
	if (ret_token)
		*ret_token = next;
	else
		json_decref(next);
	return 0;
}
