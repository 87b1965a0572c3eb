/* Tags. create-tags, delete-tags and describe-tags name resources of both daemons: instances and
 * key pairs are tagged here, everything else by vpcd, in one request. */
#include <stdbool.h>
#include <string.h>
#include "cleanup.h"
#include "ec2d.h"
#include "filter.h"
#include "page.h"
#include "tagset.h"

/* Splits Resources into ec2d's IDs (instances and key pairs, checked) and the rest (vpcd's). */
static int split(struct ereq *rq, json_t **ret_inst, json_t **ret_other, struct err *e)
{
	_cleanup_json_ json_t *res = jlist(rq->params, "Resources");
	json_t *inst = json_array(), *other = json_array(), *v;
	size_t i;
	json_array_foreach(res, i, v)
	{
		const char *id = json_string_value(v) ?: "";
		bool key = strncmp(id, "key-", 4) == 0;
		if (strncmp(id, "i-", 2) != 0 && !key) {
			json_array_append(other, v);
			continue;
		}
		json_t *o = key ? keypair_get(id) : instance_get(id);
		if (id_check(id, key ? "key" : "i") < 0 || !o || strcmp(jstr(o, "_region"), rq->region) != 0) {
			json_decref(inst), json_decref(other);
			if (id_check(id, key ? "key" : "i") < 0)
				return err_set(e, "InvalidID", "The ID '%s' is not valid", id);
			return key ? err_set(e, "InvalidKeyPair.NotFound", "The key pair ID '%s' does not exist", id)
				   : err_set(e, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id);
		}
		json_array_append(inst, v);
	}
	if (!json_array_size(res)) {
		json_decref(inst), json_decref(other);
		return err_set(e, "MissingParameter", "The request must contain the parameter Resources");
	}
	*ret_inst = inst, *ret_other = other;
	return 0;
}

static int change(struct ereq *rq, bool put, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *inst = NULL, *other = NULL;
	_cleanup_json_ json_t *tags = jlist(rq->params, "Tags");
	int r;
	if ((r = split(rq, &inst, &other, e)) < 0)
		return r;
	if (put && !json_array_size(tags))
		return err_set(e, "MissingParameter", "The request must contain the parameter Tags");
	size_t i;
	json_t *v, *t;
	json_array_foreach(tags, i, t) if (put && (!*jstr(t, "Key") || strncmp(jstr(t, "Key"), "aws:", 4) == 0))
		return err_set(e, "InvalidParameterValue", "Tag keys must be 1 to 128 characters and not start with 'aws:'");
	/* vpcd's part first: if it refuses, nothing has changed. */
	if (json_array_size(other)) {
		json_t *p = json_deep_copy(rq->params), *res = NULL;
		json_object_set(p, "Resources", other);
		if ((r = vpc_call(rq->region, put ? "CreateTags" : "DeleteTags", p, &res, e)) < 0)
			return r;
		json_decref(res);
	}
	if (json_is_true(json_object_get(rq->params, "DryRun")))
		return err_set(e, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.");
	_cleanup_json_ json_t *changes = json_object();
	json_array_foreach(inst, i, v)
	{
		json_t *o = json_deep_copy(json_object_get(store_objects(E->store), json_string_value(v)));
		json_t *have = json_object_get(o, "Tags");
		if (!json_is_array(have))
			json_object_set_new(o, "Tags", have = json_array());
		if (put ? tagset_put(have, tags) > 50 : (tagset_remove(have, tags), 0)) {
			json_decref(o);
			return err_set(e, "TagLimitExceeded", "The maximum number of tags (50) was exceeded for '%s'",
				       json_string_value(v));
		}
		json_object_set_new(changes, json_string_value(v), o);
	}
	if ((r = state_commit(changes, e)) < 0)
		return r;
	*ret = json_object();
	return 0;
}

int h_create_tags(struct ereq *rq, json_t **ret, struct err *e) { return change(rq, true, ret, e); }
int h_delete_tags(struct ereq *rq, json_t **ret, struct err *e) { return change(rq, false, ret, e); }

static const struct filter_map tag_filters[] = {{"resource-id", "ResourceId"},
						{"resource-type", "ResourceType"},
						{"key", "Key"},
						{"value", "Value"},
						{NULL, NULL}};

int h_describe_tags(struct ereq *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *filters = jlist(rq->params, "Filters");
	_cleanup_json_ json_t *res = NULL;
	long long max, start;
	int r;
	if ((r = filters_check(filters, tag_filters, e)) < 0 ||
	    (r = page_params(rq->params, &max, &start, e)) < 0)
		return r;
	/* vpcd's tags whole, then ec2d's own: one list, paged here. */
	json_t *p = json_deep_copy(rq->params);
	json_object_del(p, "MaxResults");
	json_object_del(p, "NextToken");
	if ((r = vpc_call(rq->region, "DescribeTags", p, &res, e)) < 0)
		return r;
	json_t *all = json_object_get(res, "Tags"), *o, *t;
	const char *id;
	size_t i;
	json_object_foreach(store_objects(E->store), id, o)
	{
		const char *type = jstr(o, "_type");
		if ((strcmp(type, "instance") && strcmp(type, "key-pair")) || strcmp(jstr(o, "_region"), rq->region))
			continue;
		json_array_foreach(json_object_get(o, "Tags"), i, t)
		{
			json_t *row = json_pack("{s:s, s:s, s:s, s:s}", "Key", jstr(t, "Key"), "ResourceId", id,
						"ResourceType", type, "Value", jstr(t, "Value"));
			if (filters_match(row, filters, tag_filters))
				json_array_append(all, row);
			json_decref(row);
		}
	}
	json_t *next = NULL, *page = page_slice(all, max, start, &next);
	*ret = json_pack("{s:o, s:o*}", "Tags", page, "NextToken", next);
	return 0;
}

int tag_specs_of(json_t *params, const char *type, json_t **ret, struct err *e)
{
	json_t *tags = json_array(), *ts, *t;
	size_t i, j;
	json_array_foreach(json_object_get(params, "TagSpecifications"), i, ts)
	{
		if (strcmp(jstr(ts, "ResourceType"), type) != 0) {
			json_decref(tags);
			return err_set(e, "InvalidParameterValue",
				       "'%s' is not a valid taggable resource type for this operation.",
				       jstr(ts, "ResourceType"));
		}
		json_array_foreach(json_object_get(ts, "Tags"), j, t)
		{
			if (!*jstr(t, "Key") || strncmp(jstr(t, "Key"), "aws:", 4) == 0) {
				json_decref(tags);
				return err_set(e, "InvalidParameterValue",
					       "Tag keys must be 1 to 128 characters and not start with 'aws:'");
			}
			json_array_append(tags, t);
		}
	}
	if (json_array_size(tags) > 50) {
		json_decref(tags);
		return err_set(e, "TagLimitExceeded", "The maximum number of tags (50) was exceeded");
	}
	*ret = tags;
	return 0;
}
