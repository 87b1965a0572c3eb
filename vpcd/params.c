#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vpcd.h"

int param_str(struct req *rq, const char *name, bool required, const char **ret, struct err *e)
{
	json_t *v = json_object_get(rq->params, name);
	if (!v || json_is_null(v)) {
		if (required)
			return err_set(e, "MissingParameter",
				       "The request must contain the parameter %s", name);
		*ret = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return err_set(e, "InvalidParameterValue", "Value for parameter %s must be a string",
			       name);
	*ret = json_string_value(v);
	return 0;
}

static int bool_of(json_t *v)
{
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_string(v))
		return strcasecmp(json_string_value(v), "true") == 0;
	if (json_is_object(v)) /* {"Value": x}, the AttributeBooleanValue shape */
		return bool_of(json_object_get(v, "Value"));
	return -1;
}

int param_bool(struct req *rq, const char *name, int *ret)
{
	json_t *v = json_object_get(rq->params, name);
	*ret = v ? bool_of(v) : -1;
	return 0;
}

int param_int(struct req *rq, const char *name, long long dflt, long long *ret, struct err *e)
{
	json_t *v = json_object_get(rq->params, name);
	if (!v) {
		*ret = dflt;
		return 0;
	}
	if (json_is_integer(v)) {
		*ret = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		char *end;
		long long n = strtoll(json_string_value(v), &end, 10);
		if (*json_string_value(v) && !*end) {
			*ret = n;
			return 0;
		}
	}
	return err_set(e, "InvalidParameterValue", "Value for parameter %s must be an integer", name);
}

json_t *param_list(json_t *params, const char *name) { return jlist(params, name); }

int param_cidr(struct req *rq, const char *name, struct cidr *ret, const char **ret_text,
	       struct err *e)
{
	const char *s;
	int r = param_str(rq, name, true, &s, e);
	if (r < 0)
		return r;
	if (cidr_parse(s, ret) < 0)
		return err_set(e, "InvalidParameterValue",
			       "Value (%s) for parameter cidrBlock is invalid. This is not a valid CIDR block.",
			       s);
	if (ret_text)
		*ret_text = s;
	return 0;
}

int tags_validate(json_t *tags, struct err *e)
{
	size_t i;
	json_t *t;
	if (!json_is_array(tags))
		return err_set(e, "InvalidParameterValue", "Tags must be a list");
	if (json_array_size(tags) > 50)
		return err_set(e, "TagLimitExceeded", "The maximum number of tags (50) was exceeded");
	json_array_foreach(tags, i, t)
	{
		json_t *k = json_object_get(t, "Key"), *v = json_object_get(t, "Value");
		if (!json_is_string(k) || json_string_length(k) == 0)
			return err_set(e, "InvalidParameterValue", "Tag keys must be non-empty strings");
		if (json_string_length(k) > 128)
			return err_set(e, "InvalidParameterValue",
				       "Tag key exceeds the maximum length of 128 characters");
		if (strncasecmp(json_string_value(k), "aws:", 4) == 0)
			return err_set(e, "InvalidParameterValue",
				       "Tag keys starting with 'aws:' are reserved for internal use");
		if (v && !json_is_string(v))
			return err_set(e, "InvalidParameterValue", "Tag values must be strings");
		if (v && json_string_length(v) > 256)
			return err_set(e, "InvalidParameterValue",
				       "Tag value exceeds the maximum length of 256 characters");
	}
	return 0;
}

/* Tags as stored: [{Key, Value}], last duplicate key wins. */
static json_t *tags_normalise(json_t *tags)
{
	json_t *out = json_array(), *t;
	size_t i;
	json_array_foreach(tags, i, t)
	{
		const char *k = jstr(t, "Key");
		json_t *x;
		size_t j;
		json_array_foreach(out, j, x) if (strcmp(jstr(x, "Key"), k) == 0)
		{
			json_array_remove(out, j);
			break;
		}
		json_array_append_new(out, json_pack("{s:s, s:s}", "Key", k, "Value", jstr(t, "Value")));
	}
	return out;
}

int param_tags(struct req *rq, const char *resource_type, json_t **ret, struct err *e)
{
	json_t *specs = param_list(rq->params, "TagSpecifications"), *s;
	json_t *all = json_array();
	size_t i;
	int r = 0;

	json_array_foreach(specs, i, s)
	{
		const char *rt = jstr(s, "ResourceType");
		if (strcmp(rt, resource_type) != 0) {
			r = err_set(e, "InvalidParameterValue",
				    "'%s' is not a valid taggable resource type for this operation.",
				    rt);
			break;
		}
		json_t *tags = param_list(s, "Tags");
		r = tags_validate(tags, e);
		if (r == 0)
			json_array_extend(all, tags);
		json_decref(tags);
		if (r < 0)
			break;
	}
	json_decref(specs);
	if (r < 0) {
		json_decref(all);
		return r;
	}
	*ret = tags_normalise(all);
	json_decref(all);
	return 0;
}
