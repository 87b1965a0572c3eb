#include <stdio.h>
#include <string.h>
#include "cleanup.h"
#include "tagset.h"
#include "page.h"
#include "vpcd.h"

static int check_resources(struct req *rq, json_t *res, struct err *e)
{
	size_t i;
	json_t *r;
	if (json_array_size(res) == 0)
		return err_set(e, "MissingParameter", "The request must contain the parameter resourceIdSet");
	json_array_foreach(res, i, r)
	{
		const char *id = json_string_value(r) ?: "";
		const struct kind *k = kind_of_id(id);
		if (!k)
			return err_set(e, "InvalidID", "The ID '%s' is not valid", id);
		if (!obj_find(rq, id, k->type, e))
			return -EINVAL;
	}
	return 0;
}

int h_create_tags(struct req *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *res = param_list(rq->params, "Resources");
	_cleanup_json_ json_t *tags = param_list(rq->params, "Tags");
	size_t i;
	json_t *r;
	int rc;
	if ((rc = check_resources(rq, res, e)) < 0 || (rc = tags_validate(tags, e)) < 0)
		return rc;
	json_array_foreach(res, i, r)
	{
		json_t *o = obj_edit(&rq->txn, json_string_value(r));
		json_t *have = json_object_get(o, "Tags");
		if (!have) {
			have = json_array();
			json_object_set_new(o, "Tags", have);
		}
		if (tagset_put(have, tags) > 50)
			return err_set(e, "TagLimitExceeded",
				       "The maximum number of tags (50) was exceeded for '%s'",
				       json_string_value(r));
	}
	*ret = json_object();
	return 0;
}

int h_delete_tags(struct req *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *res = param_list(rq->params, "Resources");
	_cleanup_json_ json_t *tags = param_list(rq->params, "Tags");
	size_t i;
	json_t *r;
	int rc;
	if ((rc = check_resources(rq, res, e)) < 0)
		return rc;
	json_array_foreach(res, i, r)
	{
		json_t *o = obj_edit(&rq->txn, json_string_value(r));
		tagset_remove(json_object_get(o, "Tags"), tags);
	}
	*ret = json_object();
	return 0;
}

static const struct filter_map tag_filters[] = {{"resource-id", "ResourceId"},
						{"resource-type", "ResourceType"},
						{"key", "Key"},
						{"value", "Value"},
						{NULL, NULL}};

int h_describe_tags(struct req *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *filters = param_list(rq->params, "Filters");
	json_t *out = json_array(), *o, *f, *t;
	const char *id;
	size_t i, j;
	long long max, start;

	if (page_params(rq->params, &max, &start, e) < 0) {
		json_decref(out);
		return -EINVAL;
	}
	json_array_foreach(filters, i, f)
	{
		const struct filter_map *m = tag_filters;
		while (m->name && strcmp(m->name, jstr(f, "Name")) != 0)
			m++;
		if (!m->name) {
			json_decref(out);
			return err_set(e, "InvalidParameterValue", "The filter '%s' is invalid",
				       jstr(f, "Name"));
		}
	}
	json_object_foreach(store_objects(V->store), id, o)
	{
		const struct kind *k = kind_of_id(id);
		if (!k || strcmp(jstr(o, "_region"), rq->region) != 0)
			continue;
		json_array_foreach(json_object_get(o, "Tags"), i, t)
		{
			json_t *row = json_pack("{s:s, s:s, s:s, s:s}", "Key", jstr(t, "Key"),
						"ResourceId", id, "ResourceType", k->resource_type, "Value",
						jstr(t, "Value"));
			bool ok = true;
			json_array_foreach(filters, j, f)
			{
				const struct filter_map *m = tag_filters;
				while (strcmp(m->name, jstr(f, "Name")) != 0)
					m++;
				_cleanup_json_ json_t *vals = param_list(f, "Values");
				bool any = false;
				size_t w;
				json_t *v;
				json_array_foreach(vals, w, v) any |=
					wildcard_match(json_string_value(v) ?: "", jstr(row, m->path));
				ok &= any;
			}
			if (ok)
				json_array_append_new(out, row);
			else
				json_decref(row);
		}
	}
	json_t *next = NULL, *page = page_slice(out, max, start, &next);
	json_decref(out);
	*ret = json_pack("{s:o, s:o*}", "Tags", page, "NextToken", next);
	return 0;
}
