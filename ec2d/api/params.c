/* EC2 query parameters -> the params object, the reverse of botocore's EC2Serializer:
 *   structure member  Prefix.Name, Name = queryName, else locationName with its first letter
 *                     uppercased, else the member name
 *   list item         Prefix.N, N from 1 (EC2 lists are never flattened or "member"-wrapped)
 * and of its QuerySerializer for the services of protocol "query" (STS, IAM): a member is
 * its locationName or its name as it is, a list item Prefix.member.N unless the list is
 * flattened (maps are not read: no action served has one in its input).
 *   scalar            the text; booleans true/false, numbers in decimal
 * Each parameter name is walked segment by segment down the input shape into a tree whose
 * lists are objects keyed by index; finish() then turns those into arrays ordered by index.
 * Nothing here trusts the name: a segment that fits no member, index or scalar is an unknown
 * parameter, and the walk is as deep as the shape at most. */
#include "internal.h"
#include "cleanup.h"
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_INDEX_DIGITS 9

static int unknown(struct err *e, const char *key)
{
	return err_setr(e, -EINVAL, "UnknownParameter", "The parameter '%.128s' is not recognized",
			key);
}

static bool ignored(const char *key)
{
	return !strcmp(key, "Action") || !strcmp(key, "Version") || !strncasecmp(key, "X-Amz-", 6);
}

/* The member of structure `shape` serialized as seg[0..n), or NULL. */
static const char *find_member(const json_t *shape, const char *seg, size_t n, bool query,
			       const json_t **ret_ref)
{
	const char *name;
	json_t *ref;
	json_object_foreach(json_object_get(shape, "members"), name, ref)
	{
		const char *q = json_string_value(json_object_get(ref, "queryName"));
		const char *loc = json_string_value(json_object_get(ref, "locationName"));
		bool match;
		if (query) {
			const char *want = loc && loc[0] ? loc : name;
			match = strlen(want) == n && !memcmp(want, seg, n);
		} else if (q)
			match = strlen(q) == n && !memcmp(q, seg, n);
		else if (loc && loc[0])
			match = strlen(loc) == n &&
				toupper((unsigned char)loc[0]) == (unsigned char)seg[0] &&
				!memcmp(loc + 1, seg + 1, n - 1);
		else
			match = strlen(name) == n && !memcmp(name, seg, n);
		if (match) {
			*ret_ref = ref;
			return name;
		}
	}
	return NULL;
}

/* A list index: 1 to 999999999 in decimal without leading zeros. */
static bool valid_index(const char *seg, size_t n)
{
	if (n == 0 || n > MAX_INDEX_DIGITS || seg[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++)
		if (seg[i] < '0' || seg[i] > '9')
			return false;
	return true;
}

static bool is_container(const char *type)
{
	return !strcmp(type, "structure") || !strcmp(type, "list");
}

static int scalar(const json_t *shape, const char *key, const char *s, json_t **ret, struct err *e)
{
	const char *type = api_shape_type(shape);
	json_t *v = NULL;

	if (!strcmp(type, "boolean")) {
		if (!strcasecmp(s, "true"))
			v = json_true();
		else if (!strcasecmp(s, "false"))
			v = json_false();
		else
			return err_setr(
			    e, -EINVAL, "InvalidParameterValue",
			    "The value '%.128s' for parameter '%.128s' is not a boolean "
			    "(true or false)",
			    s, key);
	} else if (!strcmp(type, "integer") || !strcmp(type, "long")) {
		char *end;
		long long n;
		bool is_long = !strcmp(type, "long");
		errno = 0;
		n = *s && !isspace((unsigned char)*s) ? strtoll(s, &end, 10) : 0;
		if (!*s || isspace((unsigned char)*s) || *end || errno ||
		    (!is_long && (n < INT32_MIN || n > INT32_MAX)))
			return err_setr(e, -EINVAL, "InvalidParameterValue",
					"The value '%.128s' for parameter '%.128s' is not %s", s,
					key, is_long ? "a 64-bit integer" : "a 32-bit integer");
		v = json_integer(n);
	} else if (!strcmp(type, "float") || !strcmp(type, "double")) {
		char *end;
		double d;
		errno = 0;
		d = *s && !isspace((unsigned char)*s) ? strtod(s, &end) : NAN;
		if (!*s || isspace((unsigned char)*s) || *end || errno || !isfinite(d))
			return err_setr(e, -EINVAL, "InvalidParameterValue",
					"The value '%.128s' for parameter '%.128s' is not a number",
					s, key);
		v = json_real(d);
	} else if (!strcmp(type, "string") || !strcmp(type, "timestamp") || !strcmp(type, "blob") ||
		   !strcmp(type, "character")) {
		/* Timestamps stay ISO 8601 text and blobs base64 text: the handler decides. */
		v = json_string(s);
	} else
		return unknown(e, key);
	if (!v)
		return err_setr(e, -ENOMEM, "InternalError", "Out of memory reading '%.128s'", key);
	*ret = v;
	return 0;
}

/* Puts one parameter into the tree rooted at `root` (input shape `shape`). */
static int insert(const struct api_model *m, json_t *root, const json_t *shape, const char *key,
		  const char *value, struct err *e)
{
	json_t *node = root;
	const json_t *sh = shape;
	const char *p = key;

	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		const char *type = api_shape_type(sh);
		const json_t *child_shape, *ref;
		char index[MAX_INDEX_DIGITS + 1];
		const char *slot; /* the key in `node` */
		json_t *child;
		int r;

		if (n == 0)
			return unknown(e, key);
		if (!strcmp(type, "structure")) {
			slot = find_member(sh, p, n, api_model_query_protocol(m), &ref);
			if (!slot)
				return unknown(e, key);
		} else if (!strcmp(type, "list")) {
			/* The query protocol wraps list items: Name.member.N. */
			if (api_model_query_protocol(m) && !json_is_true(json_object_get(sh, "flattened"))) {
				if (n != 6 || memcmp(p, "member", 6) || !dot)
					return unknown(e, key);
				p = dot + 1;
				dot = strchr(p, '.');
				n = dot ? (size_t)(dot - p) : strlen(p);
			}
			if (!valid_index(p, n))
				return unknown(e, key);
			memcpy(index, p, n);
			index[n] = 0;
			slot = index;
			ref = json_object_get(sh, "member");
		} else
			return unknown(e, key);
		child_shape = api_model_ref_shape(m, ref);
		if (!child_shape)
			return err_setr(e, -EINVAL, "InternalError",
					"The EC2 model has no shape for '%.128s'", key);

		if (!dot) {
			_cleanup_json_ json_t *v = NULL;
			/* botocore's QuerySerializer sends an empty list as "Name=" (aws
			 * cloudformation deploy's Capabilities and Tags): an empty list. */
			if (api_model_query_protocol(m) && !*value && !json_object_get(node, slot) &&
			    !strcmp(api_shape_type(child_shape), "list"))
				return json_object_set_new(node, slot, json_object()) < 0 ? -ENOMEM : 0;
			if (is_container(api_shape_type(child_shape)) ||
			    json_object_get(node, slot))
				return unknown(e, key);
			r = scalar(child_shape, key, value, &v, e);
			if (r < 0)
				return r;
			if (json_object_set_new(node, slot, TAKE_PTR(v)) < 0)
				return err_setr(e, -ENOMEM, "InternalError",
						"Out of memory reading '%.128s'", key);
			return 0;
		}
		if (!is_container(api_shape_type(child_shape)))
			return unknown(e, key);
		child = json_object_get(node, slot);
		if (!child) {
			child = json_object();
			if (!child || json_object_set_new(node, slot, child) < 0)
				return err_setr(e, -ENOMEM, "InternalError",
						"Out of memory reading '%.128s'", key);
		}
		node = child;
		sh = child_shape;
		p = dot + 1;
	}
}

static int cmp_index(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t lx = strlen(x), ly = strlen(y);
	/* Canonical decimals: the shorter is smaller, equal lengths compare as text. */
	return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x, y);
}

/* The tree below `node` with its lists made arrays; NULL when out of memory. */
static json_t *finish(const struct api_model *m, json_t *node, const json_t *shape)
{
	const char *type = api_shape_type(shape);
	const char *k;
	json_t *v;

	if (!strcmp(type, "structure")) {
		_cleanup_json_ json_t *out = json_object();
		const json_t *members = json_object_get(shape, "members");
		if (!out)
			return NULL;
		json_object_foreach(node, k, v)
		{
			json_t *sub =
			    finish(m, v, api_model_ref_shape(m, json_object_get(members, k)));
			if (!sub || json_object_set_new(out, k, sub) < 0)
				return NULL;
		}
		return TAKE_PTR(out);
	}
	if (!strcmp(type, "list")) {
		_cleanup_json_ json_t *out = json_array();
		const json_t *item = api_model_ref_shape(m, json_object_get(shape, "member"));
		size_t n = json_object_size(node), i = 0;
		_cleanup_free_ const char **keys = calloc(n ? n : 1, sizeof(*keys));
		if (!out || !keys)
			return NULL;
		json_object_foreach(node, k, v) keys[i++] = k;
		qsort(keys, n, sizeof(*keys), cmp_index);
		for (i = 0; i < n; i++) {
			json_t *sub = finish(m, json_object_get(node, keys[i]), item);
			if (!sub || json_array_append_new(out, sub) < 0)
				return NULL;
		}
		return TAKE_PTR(out);
	}
	return json_incref(node);
}

int api_params_from_query(const struct api_model *m, const char *action, json_t *kv,
			  json_t **ret_params, struct err *e)
{
	_cleanup_json_ json_t *tree = NULL, *params = NULL;
	const json_t *input;
	const char *key;
	json_t *value;

	if (!api_model_has_action(m, action) && api_model_query_protocol(m))
		return err_setr(e, -EOPNOTSUPP, "InvalidAction", "Could not find operation %.128s for version %s",
				action ? action : "", api_model_version(m));
	if (!api_model_has_action(m, action))
		return err_setr(e, -EOPNOTSUPP, "InvalidAction",
				"The action '%.128s' is not valid for this web service",
				action ? action : "");
	if (!json_is_object(kv))
		return err_setr(e, -EINVAL, "InternalError",
				"The query parameters are not an object");
	input = api_model_input(m, action);
	tree = json_object();
	if (!tree)
		return err_setr(e, -ENOMEM, "InternalError",
				"Out of memory reading the parameters");

	json_object_foreach(kv, key, value)
	{
		int r;
		if (ignored(key))
			continue;
		if (!json_is_string(value))
			return err_setr(e, -EINVAL, "InvalidParameterValue",
					"The value of parameter '%.128s' is not a string", key);
		if (!input)
			return unknown(e, key);
		r = insert(m, tree, input, key, json_string_value(value), e);
		if (r < 0)
			return r;
	}
	params = input ? finish(m, tree, input) : json_incref(tree);
	if (!params)
		return err_setr(e, -ENOMEM, "InternalError",
				"Out of memory reading the parameters");
	*ret_params = TAKE_PTR(params);
	return 0;
}
