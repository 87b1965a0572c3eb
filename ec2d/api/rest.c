/* rest-json, the protocol of FIS (and of AWS's newer services): the operation is named by
 * the HTTP method and path (http.requestUri, with {labels}), its input members come from
 * where the model says (location "uri", "querystring", else the JSON body), and the answer
 * is a JSON object of the output shape. What botocore's RestJSONSerializer writes is read
 * here, and what this writes its RestJSONParser reads (tests/api/test_rest.py).
 *
 * All of it parses untrusted input (fuzz_rest): nothing is trusted until it is checked
 * against the model, the body is bounded in size and nesting before jansson builds it, and
 * every walk is as deep as the shape at most. Body member names are the members'
 * locationName if they have one, else their name, as botocore serializes them.
 *
 * json (awsJson1_1, CloudWatch Logs) is the same body walk with the operation named by the
 * X-Amz-Target header instead of the path (api_json_match, fuzz_jsonproto). */
#include "internal.h"
#include "cleanup.h"
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LABELS 8
/* A result is the core's, but a walk down a recursive shape still needs a floor. */
#define MAX_RESULT_DEPTH 64

struct walk {
	const struct api_model *m;
	struct err *e;
	char path[512]; /* the member being read or written, for messages */
};

static const char *const json_type_names[] = {"an object", "an array", "a string", "an integer",
					      "a number",  "true",     "false",	   "null"};

static const char *type_name(const json_t *v)
{
	int t = json_typeof(v);
	return t >= 0 && t < (int)(sizeof(json_type_names) / sizeof(json_type_names[0]))
		   ? json_type_names[t]
		   : "?";
}

/* Appends ".name" (or "name" at the top, or "[i]" when name is NULL) to the path; returns
 * the old length, to cut back to. */
static size_t path_push(struct walk *w, const char *name, size_t i)
{
	size_t n = strlen(w->path);
	if (name)
		snprintf(w->path + n, sizeof(w->path) - n, "%s%.128s", n ? "." : "", name);
	else
		snprintf(w->path + n, sizeof(w->path) - n, "[%zu]", i);
	return n;
}

static int oom(struct walk *w)
{
	return err_setr(w->e, -ENOMEM, "InternalError", "Out of memory at '%s'", w->path);
}

/* Decodes s[0..n) into out (n + 1 bytes), NUL-terminated: %XX is a byte, '+' a space only
 * in a query string (botocore writes a space as %20 everywhere, a '+' as %2B). Returns the
 * length, or -1 on a bad escape or a NUL byte. */
static ssize_t pct_decode(const char *s, size_t n, bool plus, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '+' && plus)
			c = ' ';
		else if (c == '%') {
			int hi = n - i >= 3 ? hexval((unsigned char)s[i + 1]) : -1;
			int lo = n - i >= 3 ? hexval((unsigned char)s[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (c == 0)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = 0;
	return (ssize_t)o;
}

/* s[0..n) percent-decoded as a JSON string; NULL (and *e set) when it is not valid. */
static json_t *decoded_string(const char *s, size_t n, bool plus, const char *what, struct err *e)
{
	_cleanup_free_ char *buf = malloc(n + 1);
	ssize_t len;
	json_t *v;
	if (!buf) {
		err_setr(e, -ENOMEM, "InternalError", "Out of memory reading the %s", what);
		return NULL;
	}
	len = pct_decode(s, n, plus, buf);
	if (len < 0) {
		err_setr(e, -EINVAL, "ValidationException",
			 "The %s '%.*s' has a malformed %%-escape or a NUL byte", what,
			 (int)(n > 128 ? 128 : n), s);
		return NULL;
	}
	v = json_stringn(buf, (size_t)len);
	if (!v)
		err_setr(e, -EINVAL, "ValidationException", "The %s '%.*s' is not UTF-8", what,
			 (int)(n > 128 ? 128 : n), s);
	return v;
}

/* --- Values --- */

static bool is_text(const char *type)
{
	return !strcmp(type, "string") || !strcmp(type, "blob") || !strcmp(type, "character");
}

static int check_range(struct walk *w, const json_t *shape, const char *type, long long n)
{
	json_t *min = json_object_get(shape, "min"), *max = json_object_get(shape, "max");
	if (!strcmp(type, "integer") && (n < INT32_MIN || n > INT32_MAX))
		return err_setr(w->e, -ERANGE, "ValidationException",
				"The value %lld of '%s' is not a 32-bit integer", n, w->path);
	if ((json_is_integer(min) && n < json_integer_value(min)) ||
	    (json_is_integer(max) && n > json_integer_value(max)))
		return err_setr(
		    w->e, -ERANGE, "ValidationException",
		    "The value %lld of '%s' is not within [%lld, %lld]", n, w->path,
		    json_is_integer(min) ? (long long)json_integer_value(min) : LLONG_MIN,
		    json_is_integer(max) ? (long long)json_integer_value(max) : LLONG_MAX);
	return 0;
}

/* A label's or query parameter's text as the member's scalar. Timestamps stay text (the
 * handler decides), as in params.c. */
static int from_text(struct walk *w, const json_t *shape, json_t *text, json_t **ret)
{
	const char *type = api_shape_type(shape), *s = json_string_value(text);
	json_t *v;

	if (is_text(type) || !strcmp(type, "timestamp")) {
		*ret = json_incref(text);
		return 0;
	}
	if (!strcmp(type, "boolean")) {
		if (strcmp(s, "true") && strcmp(s, "false"))
			return err_setr(w->e, -EINVAL, "ValidationException",
					"The value '%.128s' of '%s' is not true or false", s,
					w->path);
		v = json_boolean(!strcmp(s, "true"));
	} else if (!strcmp(type, "integer") || !strcmp(type, "long")) {
		/* Decimal only: strtoll alone would take leading blanks and a '+'. */
		bool decimal =
		    isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1]));
		char *end = (char *)s;
		long long n = 0;
		int r;
		errno = 0;
		if (decimal)
			n = strtoll(s, &end, 10);
		if (!decimal || *end || errno)
			return err_setr(w->e, -EINVAL, "ValidationException",
					"The value '%.128s' of '%s' is not an integer", s, w->path);
		if ((r = check_range(w, shape, type, n)) < 0)
			return r;
		v = json_integer(n);
	} else if (!strcmp(type, "float") || !strcmp(type, "double")) {
		char *end = (char *)s;
		double d = NAN;
		errno = 0;
		if (s[0] && !isspace((unsigned char)s[0]))
			d = strtod(s, &end);
		if (end == s || *end || errno || !isfinite(d))
			return err_setr(w->e, -EINVAL, "ValidationException",
					"The value '%.128s' of '%s' is not a number", s, w->path);
		v = json_real(d);
	} else
		return err_setr(
		    w->e, -EOPNOTSUPP, "InternalError",
		    "The member '%s' has shape type '%s', which is not supported in a URI", w->path,
		    type);
	if (!v)
		return oom(w);
	*ret = v;
	return 0;
}

static int wrong_type(struct walk *w, const json_t *v, const char *type)
{
	return err_setr(w->e, -EINVAL, "ValidationException",
			"The member '%s' is %s where a %s is expected", w->path, type_name(v),
			type);
}

/* The member of structure `shape` whose body name is key, or NULL. Members that live in
 * the URI, the query or a header are not body members. */
static const char *body_member(const json_t *shape, const char *key, const json_t **ret_ref)
{
	const char *name;
	json_t *ref;
	json_object_foreach(json_object_get(shape, "members"), name, ref)
	{
		const char *loc = json_string_value(json_object_get(ref, "locationName"));
		if (json_object_get(ref, "location"))
			continue;
		if (!strcmp(loc ? loc : name, key)) {
			*ret_ref = ref;
			return name;
		}
	}
	return NULL;
}

/* A request body value checked against its shape, copied into *ret (keyed by member
 * names); JSON null members are left out. */
static int from_body(struct walk *w, const json_t *v, const json_t *shape, unsigned depth,
		     json_t **ret)
{
	const char *type = api_shape_type(shape);
	_cleanup_json_ json_t *out = NULL;
	const char *key;
	json_t *x;
	size_t i;
	int r;

	if (depth > API_REST_MAX_DEPTH)
		return err_setr(w->e, -ELOOP, "ValidationException",
				"The member '%s' is nested more than %d deep", w->path,
				API_REST_MAX_DEPTH);
	if (!strcmp(type, "structure")) {
		if (!json_is_object(v))
			return wrong_type(w, v, "structure");
		if (!(out = json_object()))
			return oom(w);
		json_object_foreach((json_t *)v, key, x)
		{
			const json_t *ref = NULL, *sub;
			const char *name = body_member(shape, key, &ref);
			size_t mark = path_push(w, key, 0);
			json_t *y;
			if (!name)
				return err_setr(w->e, -EINVAL, "ValidationException",
						"The member '%s' is not recognized", w->path);
			if (!(sub = api_model_ref_shape(w->m, ref)))
				return err_setr(w->e, -EINVAL, "InternalError",
						"The model has no shape for '%s'", w->path);
			if (!json_is_null(x)) {
				if ((r = from_body(w, x, sub, depth + 1, &y)) < 0)
					return r;
				if (json_object_set_new(out, name, y) < 0)
					return oom(w);
			}
			w->path[mark] = 0;
		}
	} else if (!strcmp(type, "list")) {
		const json_t *item = api_model_ref_shape(w->m, json_object_get(shape, "member"));
		if (!json_is_array(v))
			return wrong_type(w, v, "list");
		if (!item)
			return err_setr(w->e, -EINVAL, "InternalError",
					"The model has no item shape for '%s'", w->path);
		if (!(out = json_array()))
			return oom(w);
		json_array_foreach(v, i, x)
		{
			size_t mark = path_push(w, NULL, i);
			json_t *y;
			if ((r = from_body(w, x, item, depth + 1, &y)) < 0)
				return r;
			if (json_array_append_new(out, y) < 0)
				return oom(w);
			w->path[mark] = 0;
		}
	} else if (!strcmp(type, "map")) {
		const json_t *val = api_model_ref_shape(w->m, json_object_get(shape, "value"));
		if (!json_is_object(v))
			return wrong_type(w, v, "map");
		if (!val)
			return err_setr(w->e, -EINVAL, "InternalError",
					"The model has no value shape for '%s'", w->path);
		if (!(out = json_object()))
			return oom(w);
		json_object_foreach((json_t *)v, key, x)
		{
			size_t mark = path_push(w, key, 0);
			json_t *y;
			if ((r = from_body(w, x, val, depth + 1, &y)) < 0)
				return r;
			if (json_object_set_new(out, key, y) < 0)
				return oom(w);
			w->path[mark] = 0;
		}
	} else if (is_text(type)) {
		if (!json_is_string(v))
			return wrong_type(w, v, "string");
	} else if (!strcmp(type, "boolean")) {
		if (!json_is_boolean(v))
			return wrong_type(w, v, "boolean");
	} else if (!strcmp(type, "integer") || !strcmp(type, "long")) {
		if (!json_is_integer(v))
			return wrong_type(w, v, type);
		if ((r = check_range(w, shape, type, json_integer_value(v))) < 0)
			return r;
	} else if (!strcmp(type, "float") || !strcmp(type, "double")) {
		if (!json_is_number(v))
			return wrong_type(w, v, "number");
	} else if (!strcmp(type, "timestamp")) {
		/* botocore sends epoch seconds; ISO 8601 text is what a hand-made client sends. */
		if (!json_is_number(v) && !json_is_string(v))
			return wrong_type(w, v, "timestamp");
	} else
		return err_setr(w->e, -EOPNOTSUPP, "InternalError",
				"The member '%s' has shape type '%s', which is not supported",
				w->path, type);
	*ret = out ? TAKE_PTR(out) : json_incref((json_t *)v);
	return 0;
}

/* --- Requests --- */

/* Refuses, before jansson builds anything, a body nested deeper than the bound (jansson's
 * own is 2048, and each level costs it a stack frame and a json_t). */
static int check_depth(const char *s, size_t n, struct err *e)
{
	unsigned depth = 0;
	bool in_string = false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		} else if (c == '"')
			in_string = true;
		else if (c == '{' || c == '[') {
			if (++depth > API_REST_MAX_DEPTH)
				return err_setr(e, -ELOOP, "ValidationException",
						"The request body is nested more than %d deep",
						API_REST_MAX_DEPTH);
		} else if ((c == '}' || c == ']') && depth)
			depth--;
	}
	return 0;
}

/* The query string as an object name -> [values...], in their order. */
static int parse_query(const char *q, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *out = json_object();
	size_t len = q ? strlen(q) : 0, count = 0;

	if (!out)
		return err_setr(e, -ENOMEM, "InternalError",
				"Out of memory reading the query string");
	if (len > API_FORM_MAX_BYTES)
		return err_setr(e, -E2BIG, "ValidationException",
				"The query string is %zu bytes long, more than the %u allowed", len,
				API_FORM_MAX_BYTES);
	for (size_t i = 0; i < len;) {
		const char *seg = q + i, *amp = memchr(seg, '&', len - i), *eq;
		size_t seglen = amp ? (size_t)(amp - seg) : len - i, nlen;
		_cleanup_json_ json_t *name = NULL, *value = NULL;
		json_t *values;

		i += seglen + 1;
		if (seglen == 0)
			continue;
		if (++count > API_FORM_MAX_PARAMS)
			return err_setr(e, -E2BIG, "ValidationException",
					"The query string has more than %u parameters",
					API_FORM_MAX_PARAMS);
		eq = memchr(seg, '=', seglen);
		nlen = eq ? (size_t)(eq - seg) : seglen;
		if (!(name = decoded_string(seg, nlen, true, "query parameter name", e)) ||
		    !(value = decoded_string(eq ? eq + 1 : "", eq ? seglen - nlen - 1 : 0, true,
					     "query parameter value", e)))
			return -EINVAL;
		values = json_object_get(out, json_string_value(name));
		if (!values && (!(values = json_array()) ||
				json_object_set_new(out, json_string_value(name), values) < 0))
			return err_setr(e, -ENOMEM, "InternalError",
					"Out of memory reading the query string");
		if (json_array_append(values, value) < 0)
			return err_setr(e, -ENOMEM, "InternalError",
					"Out of memory reading the query string");
	}
	*ret = TAKE_PTR(out);
	return 0;
}

/* Whether the literal query part of a requestUri ("a&b=c") is all in the query. */
static bool query_has(const json_t *query, const char *lit)
{
	while (*lit) {
		size_t n = strcspn(lit, "&"), k = strcspn(lit, "=");
		char name[256];
		const json_t *values;
		bool found = false;
		size_t i;
		json_t *v;

		if (k > n)
			k = n;
		if (k >= sizeof(name))
			return false;
		memcpy(name, lit, k);
		name[k] = 0;
		values = json_object_get(query, name);
		json_array_foreach(values, i, v)
		{
			if (k == n || (json_string_length(v) == n - k - 1 &&
				       !memcmp(json_string_value(v), lit + k + 1, n - k - 1)))
				found = true;
		}
		if (!found && (k || n))
			return false;
		lit += n + (lit[n] == '&');
	}
	return true;
}

struct label {
	const char *name, *value; /* name in the template, value raw in the path */
	size_t name_len, value_len;
};

/* Matches path against the template tpl[0..tlen) segment by segment. Returns how many
 * literal segments matched (a template with more of them is the more specific), or -1.
 * A {label} is one non-empty segment, a {label+} the rest of the path. */
static int match_path(const char *tpl, size_t tlen, const char *path, struct label *lab,
		      size_t *ret_nlab)
{
	const char *t = tpl, *tend = tpl + tlen, *p = path;
	int literal = 0;
	size_t nlab = 0;

	if (tlen == 0 || t[0] != '/' || p[0] != '/')
		return -1;
	t++, p++;
	for (;;) {
		const char *ts = memchr(t, '/', (size_t)(tend - t)), *ps = strchr(p, '/');
		size_t tl = ts ? (size_t)(ts - t) : (size_t)(tend - t);
		size_t pl = ps ? (size_t)(ps - p) : strlen(p);

		if (tl >= 2 && t[0] == '{' && t[tl - 1] == '}') {
			bool greedy = tl >= 3 && t[tl - 2] == '+';
			if (nlab == MAX_LABELS || (greedy && ts))
				return -1;
			if (greedy) {
				pl = strlen(p);
				ps = NULL;
			}
			if (pl == 0)
				return -1;
			lab[nlab++] = (struct label){t + 1, p, tl - 2 - greedy, pl};
		} else {
			if (tl != pl || memcmp(t, p, tl))
				return -1;
			literal++;
		}
		if (!ts || !ps) {
			if (ts || ps)
				return -1;
			*ret_nlab = nlab;
			return literal;
		}
		t = ts + 1;
		p = ps + 1;
	}
}

/* The input member of location `where` named locationName `loc`[0..n), or NULL. */
static const char *located_member(const json_t *input, const char *where, const char *loc, size_t n,
				  const json_t **ret_ref)
{
	const char *name;
	json_t *ref;
	json_object_foreach(json_object_get(input, "members"), name, ref)
	{
		const char *l = json_string_value(json_object_get(ref, "locationName"));
		const char *w = json_string_value(json_object_get(ref, "location"));
		if (!w || strcmp(w, where))
			continue;
		if (!l)
			l = name;
		if (strlen(l) == n && !memcmp(l, loc, n)) {
			*ret_ref = ref;
			return name;
		}
	}
	return NULL;
}

/* The "uri" members, from the labels of the matched path. */
static int from_labels(struct walk *w, const json_t *input, const struct label *lab, size_t nlab,
		       json_t *params)
{
	for (size_t i = 0; i < nlab; i++) {
		const json_t *ref = NULL, *sub;
		const char *name = located_member(input, "uri", lab[i].name, lab[i].name_len, &ref);
		_cleanup_json_ json_t *text = NULL;
		json_t *v;
		int r;

		if (!name || !(sub = api_model_ref_shape(w->m, ref)))
			return err_setr(w->e, -EINVAL, "InternalError",
					"The model has no member for the label '%.*s'",
					(int)lab[i].name_len, lab[i].name);
		w->path[0] = 0;
		path_push(w, name, 0);
		if (!(text = decoded_string(lab[i].value, lab[i].value_len, false, "path segment",
					    w->e)))
			return -EINVAL;
		if ((r = from_text(w, sub, text, &v)) < 0)
			return r;
		if (json_object_set_new(params, name, v) < 0)
			return oom(w);
	}
	return 0;
}

/* The "querystring" members; parameters that no member names are left alone. */
static int from_query(struct walk *w, const json_t *input, const json_t *query, json_t *params)
{
	const char *name;
	json_t *ref;
	json_object_foreach(json_object_get(input, "members"), name, ref)
	{
		const char *where = json_string_value(json_object_get(ref, "location"));
		const char *loc = json_string_value(json_object_get(ref, "locationName"));
		const json_t *sub = api_model_ref_shape(w->m, ref), *values;
		const char *type = api_shape_type(sub);
		_cleanup_json_ json_t *v = NULL;
		json_t *x;
		size_t i;
		int r;

		if (!where || strcmp(where, "querystring"))
			continue;
		w->path[0] = 0;
		path_push(w, name, 0);
		if (!strcmp(type, "map"))
			return err_setr(
			    w->e, -EOPNOTSUPP, "InternalError",
			    "The member '%s' is a query-string map, which is not supported",
			    w->path);
		values = json_object_get(query, loc ? loc : name);
		if (!values)
			continue;
		if (!strcmp(type, "list")) {
			const json_t *item =
			    api_model_ref_shape(w->m, json_object_get(sub, "member"));
			if (!(v = json_array()))
				return oom(w);
			json_array_foreach(values, i, x)
			{
				json_t *y;
				if ((r = from_text(w, item, x, &y)) < 0)
					return r;
				if (json_array_append_new(v, y) < 0)
					return oom(w);
			}
		} else {
			if (json_array_size(values) != 1)
				return err_setr(w->e, -EINVAL, "ValidationException",
						"The query parameter '%s' is given more than once",
						loc ? loc : name);
			if ((r = from_text(w, sub, json_array_get(values, 0), &v)) < 0)
				return r;
		}
		if (json_object_set_new(params, name, TAKE_PTR(v)) < 0)
			return oom(w);
	}
	return 0;
}

int api_rest_match(const struct api_model *m, const char *method, const char *path,
		   const char *query, const void *body, size_t body_len, const char **ret_action,
		   json_t **ret_params, struct err *e)
{
	_cleanup_json_ json_t *q = NULL, *doc = NULL, *params = NULL;
	struct label lab[MAX_LABELS], best_lab[MAX_LABELS];
	size_t nlab = 0, best_nlab = 0;
	const char *action = NULL;
	struct walk w = {.m = m, .e = e};
	const json_t *input;
	int best = -1, r;

	if (!m || strcmp(api_model_protocol(m), "rest-json"))
		return err_setr(e, -EINVAL, "InternalError", "The model is not a rest-json one");
	if (body_len > API_FORM_MAX_BYTES)
		return err_setr(e, -E2BIG, "ValidationException",
				"The request body is %zu bytes long, more than the %u allowed",
				body_len, API_FORM_MAX_BYTES);
	if ((r = parse_query(query, &q, e)) < 0)
		return r;
	for (size_t i = 0; method && path && i < api_model_action_count(m); i++) {
		const char *name = api_model_action_name(m, i);
		const json_t *http = json_object_get(api_model_operation(m, name), "http");
		const char *want = json_string_value(json_object_get(http, "method"));
		const char *uri = json_string_value(json_object_get(http, "requestUri"));
		size_t tlen;
		int score;

		if (!want || !uri || strcmp(want, method))
			continue;
		tlen = strcspn(uri, "?");
		score = match_path(uri, tlen, path, lab, &nlab);
		if (score <= best || (uri[tlen] == '?' && !query_has(q, uri + tlen + 1)))
			continue;
		best = score;
		action = name;
		best_nlab = nlab;
		memcpy(best_lab, lab, nlab * sizeof(*lab));
	}
	if (!action)
		return err_setr(e, -ENOENT, "UnknownOperationException",
				"No operation matches '%.16s %.256s'", method ? method : "",
				path ? path : "");

	input = api_model_input(m, action);
	if (input && json_object_get(input, "payload"))
		return err_setr(e, -EOPNOTSUPP, "InternalError",
				"The input of '%s' has a payload member, which is not supported",
				action);
	if (body_len) {
		json_error_t je;
		if ((r = check_depth(body, body_len, e)) < 0)
			return r;
		doc = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &je);
		if (!doc)
			return err_setr(e, -EINVAL, "ValidationException",
					"The request body is not valid JSON: '%s' at byte %d",
					je.text, je.position);
		if (!json_is_object(doc))
			return err_setr(e, -EINVAL, "ValidationException",
					"The request body is %s, not a JSON object",
					type_name(doc));
	}
	if (input) {
		if (doc)
			r = from_body(&w, doc, input, 1, &params);
		else
			r = (params = json_object()) ? 0 : oom(&w);
		if (r < 0)
			return r;
		if ((r = from_labels(&w, input, best_lab, best_nlab, params)) < 0 ||
		    (r = from_query(&w, input, q, params)) < 0)
			return r;
	} else {
		/* An operation without input takes an empty body, or {}. */
		if (json_object_size(doc))
			return err_setr(
			    e, -EINVAL, "ValidationException",
			    "The operation '%s' takes no members, but the body has '%s'", action,
			    json_object_iter_key(json_object_iter(doc)));
		if (!(params = json_object()))
			return oom(&w);
	}
	*ret_action = action;
	*ret_params = TAKE_PTR(params);
	return 0;
}

/* --- Responses --- */

/* Parses a 2-digit or 4-digit decimal field. */
static bool digits(const char *s, size_t n, int *ret)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return true;
}

/* ISO 8601 as EC2 and botocore write it, YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM|+HHMM],
 * as seconds since the epoch; *ret_whole when there is no fraction. */
static bool iso8601(const char *s, double *ret, bool *ret_whole)
{
	struct tm tm = {0}, back;
	int Y, M, D, h, mi, sec, oh = 0, om = 0;
	double frac = 0;
	time_t t;

	if (strlen(s) < 19 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) ||
	    s[7] != '-' || !digits(s + 8, 2, &D) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s + 11, 2, &h) ||
	    s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
		return false;
	s += 19;
	if (*s == '.') {
		double scale = 0.1;
		if (!isdigit((unsigned char)*++s))
			return false;
		for (int n = 0; isdigit((unsigned char)*s); s++, n++, scale /= 10)
			if (n < 9)
				frac += (*s - '0') * scale;
	}
	if (*s == 'Z' || *s == 'z')
		s++;
	else if (*s == '+' || *s == '-') {
		int sign = *s++ == '-' ? -1 : 1;
		if (!digits(s, 2, &oh))
			return false;
		s += 2;
		s += *s == ':';
		if (!digits(s, 2, &om))
			return false;
		s += 2;
		oh *= sign, om *= sign;
	}
	if (*s || M < 1 || M > 12 || D < 1 || h > 23 || mi > 59 || sec > 59 || oh < -23 ||
	    oh > 23 || om < -59 || om > 59)
		return false;
	tm.tm_year = Y - 1900, tm.tm_mon = M - 1, tm.tm_mday = D;
	tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = sec;
	t = timegm(&tm);
	/* timegm makes Feb 31 into Mar 3; a date that does not come back is not one. */
	if (!gmtime_r(&t, &back) || back.tm_mday != D || back.tm_mon != M - 1)
		return false;
	*ret = (double)t - oh * 3600.0 - om * 60.0 + frac;
	*ret_whole = frac == 0;
	return true;
}

static int result_mismatch(struct walk *w, const json_t *v, const char *type)
{
	return err_setr(w->e, -EINVAL, "InternalError",
			"The result member '%s' is %s where the model wants a %s", w->path,
			type_name(v), type);
}

/* A result value written as its shape says, into *ret. */
static int to_body(struct walk *w, const json_t *v, const json_t *shape, unsigned depth,
		   json_t **ret)
{
	const char *type = api_shape_type(shape);
	_cleanup_json_ json_t *out = NULL;
	const char *key;
	json_t *x;
	size_t i;
	int r;

	if (depth > MAX_RESULT_DEPTH)
		return err_setr(w->e, -ELOOP, "InternalError",
				"The result member '%s' is nested more than %d deep", w->path,
				MAX_RESULT_DEPTH);
	if (!strcmp(type, "structure")) {
		json_t *ref;
		if (!json_is_object(v))
			return result_mismatch(w, v, "structure");
		if (!(out = json_object()))
			return oom(w);
		json_object_foreach(json_object_get(shape, "members"), key, ref)
		{
			const json_t *mv = json_object_get(v, key), *sub;
			const char *loc = json_string_value(json_object_get(ref, "locationName"));
			size_t mark;
			json_t *y;
			/* Header and status-code members are not in the body (FIS has none). */
			if (!mv || json_is_null(mv) || json_object_get(ref, "location"))
				continue;
			mark = path_push(w, key, 0);
			if (!(sub = api_model_ref_shape(w->m, ref)))
				return err_setr(w->e, -EINVAL, "InternalError",
						"The model has no shape for '%s'", w->path);
			if ((r = to_body(w, mv, sub, depth + 1, &y)) < 0)
				return r;
			if (json_object_set_new(out, loc ? loc : key, y) < 0)
				return oom(w);
			w->path[mark] = 0;
		}
	} else if (!strcmp(type, "list") || !strcmp(type, "map")) {
		bool list = !strcmp(type, "list");
		const json_t *sub =
		    api_model_ref_shape(w->m, json_object_get(shape, list ? "member" : "value"));
		if (list ? !json_is_array(v) : !json_is_object(v))
			return result_mismatch(w, v, type);
		if (!sub)
			return err_setr(w->e, -EINVAL, "InternalError",
					"The model has no item shape for '%s'", w->path);
		if (!(out = list ? json_array() : json_object()))
			return oom(w);
		if (list) {
			json_array_foreach(v, i, x)
			{
				size_t mark;
				json_t *y;
				if (json_is_null(x))
					continue;
				mark = path_push(w, NULL, i);
				if ((r = to_body(w, x, sub, depth + 1, &y)) < 0)
					return r;
				if (json_array_append_new(out, y) < 0)
					return oom(w);
				w->path[mark] = 0;
			}
		} else {
			json_object_foreach((json_t *)v, key, x)
			{
				size_t mark;
				json_t *y;
				if (json_is_null(x))
					continue;
				mark = path_push(w, key, 0);
				if ((r = to_body(w, x, sub, depth + 1, &y)) < 0)
					return r;
				if (json_object_set_new(out, key, y) < 0)
					return oom(w);
				w->path[mark] = 0;
			}
		}
	} else if (is_text(type)) {
		if (!json_is_string(v))
			return result_mismatch(w, v, type);
	} else if (!strcmp(type, "boolean")) {
		if (!json_is_boolean(v))
			return result_mismatch(w, v, type);
	} else if (!strcmp(type, "integer") || !strcmp(type, "long")) {
		if (!json_is_integer(v))
			return result_mismatch(w, v, type);
	} else if (!strcmp(type, "float") || !strcmp(type, "double")) {
		if (!json_is_number(v))
			return result_mismatch(w, v, type);
	} else if (!strcmp(type, "timestamp")) {
		/* Epoch seconds, what botocore's rest-json parser reads by default. */
		double t;
		bool whole;
		if (json_is_string(v)) {
			if (!iso8601(json_string_value(v), &t, &whole))
				return err_setr(
				    w->e, -EINVAL, "InternalError",
				    "The result member '%s' is '%.64s', not an ISO 8601 time",
				    w->path, json_string_value(v));
			out = whole && fabs(t) < 9e15 ? json_integer((json_int_t)t) : json_real(t);
			if (!out)
				return oom(w);
		} else if (!json_is_number(v))
			return result_mismatch(w, v, type);
	} else
		return err_setr(
		    w->e, -EOPNOTSUPP, "InternalError",
		    "The result member '%s' has shape type '%s', which is not supported", w->path,
		    type);
	*ret = out ? TAKE_PTR(out) : json_incref((json_t *)v);
	return 0;
}

int api_rest_response(const struct api_model *m, const char *action, json_t *result,
		      char **ret_body, size_t *ret_len, struct err *e)
{
	_cleanup_json_ json_t *out = NULL, *empty = NULL;
	struct walk w = {.m = m, .e = e};
	const json_t *output;
	char *text;
	int r;

	if (!m || !api_model_has_action(m, action))
		return err_setr(e, -EOPNOTSUPP, "InternalError", "There is no operation '%.128s'",
				action ? action : "");
	if (result && !json_is_object(result))
		return err_setr(e, -EINVAL, "InternalError", "The result of '%s' is not an object",
				action);
	output = api_model_output(m, action);
	if (!result && !(result = empty = json_object()))
		return oom(&w);
	if (output)
		r = to_body(&w, result, output, 1, &out);
	else
		r = (out = json_object()) ? 0 : oom(&w);
	if (r < 0)
		return r;
	text = json_dumps(out, JSON_COMPACT);
	if (!text)
		return oom(&w);
	*ret_body = text;
	if (ret_len)
		*ret_len = strlen(text);
	return 0;
}

/* --- Errors --- */

/* The length of the UTF-8 sequence at s (NUL-terminated), or 0 if it is not one. */
char *api_rest_error(const struct api_model *m, const char *code, const char *message,
		     int *ret_status)
{
	static const struct {
		const char *code;
		int status;
	} json_codes[] = {
	    {"UnknownOperationException", 404},
	    {"UnrecognizedClientException", 403},
	    {"AccessDeniedException", 403},
	    {"InvalidSignatureException", 403},
	};
	const json_t *shape = m && code ? api_model_shape(m, code) : NULL;
	const json_t *status = json_object_get(json_object_get(shape, "error"), "httpStatusCode");
	_cleanup_free_ char *clean = NULL;
	_cleanup_json_ json_t *doc = NULL;
	int st = -1;

	if (json_is_true(json_object_get(shape, "exception")))
		st = json_is_integer(status) && json_integer_value(status) >= 400 &&
			     json_integer_value(status) <= 599
			 ? (int)json_integer_value(status)
			 : 400;
	for (size_t i = 0; st < 0 && code && i < sizeof(json_codes) / sizeof(json_codes[0]); i++)
		if (!strcmp(code, json_codes[i].code))
			st = json_codes[i].status;
	if (st < 0)
		st = api_error_status(code ? code : "InternalError");

	/* A message may quote untrusted bytes cut at any length: what is not UTF-8 becomes '?'
	 * rather than losing the whole answer. */
	message = message ? message : "";
	if (!(clean = strdup(message)))
		return NULL;
	size_t left = strlen(clean);
	for (unsigned char *p = (unsigned char *)clean; *p;) {
		uint32_t c;
		size_t n = api_utf8_next(p, left, &c);
		left -= n ? n : 1;
		if (n)
			p += n;
		else
			*p++ = '?';
	}
	doc = json_pack("{s:s}", "message", clean);
	if (!doc)
		return NULL;
	*ret_status = st;
	return json_dumps(doc, JSON_COMPACT);
}

/* --- json (awsJson1_1) --- */

/* The operation is named by X-Amz-Target and the whole input is the body: the body walk of
 * rest-json is all there is to it. Its codes are those of the JSON services (and of
 * CloudWatch Logs, the one served): a body that does not read is a SerializationException,
 * a member that does not fit its shape an InvalidParameterException. */
int api_json_match(const struct api_model *m, const char *target, const void *body,
		   size_t body_len, const char **ret_action, json_t **ret_params, struct err *e)
{
	_cleanup_json_ json_t *doc = NULL, *params = NULL;
	struct walk w = {.m = m, .e = e};
	const char *prefix, *dot, *action = NULL;
	const json_t *input;
	int r;

	if (!m || strcmp(api_model_protocol(m), "json"))
		return err_setr(e, -EINVAL, "InternalError", "The model is not a json one");
	prefix = api_model_target_prefix(m);
	dot = target ? strrchr(target, '.') : NULL;
	if (dot && (size_t)(dot - target) == strlen(prefix) && !strncmp(target, prefix, strlen(prefix)))
		for (size_t i = 0; i < api_model_action_count(m) && !action; i++)
			if (!strcmp(api_model_action_name(m, i), dot + 1))
				action = api_model_action_name(m, i);
	if (!action)
		return err_setr(e, -ENOENT, "UnknownOperationException",
				target ? "The operation '%.256s' is not one this endpoint serves"
				       : "The request has no X-Amz-Target header%.0s",
				target ? target : "");
	if (body_len > API_FORM_MAX_BYTES)
		return err_setr(e, -E2BIG, "SerializationException",
				"The request body is %zu bytes long, more than the %u allowed",
				body_len, API_FORM_MAX_BYTES);
	if (body_len) {
		json_error_t je;
		if ((r = check_depth(body, body_len, e)) < 0) {
			snprintf(e->code, sizeof(e->code), "SerializationException");
			return r;
		}
		doc = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &je);
		if (!doc)
			return err_setr(e, -EINVAL, "SerializationException",
					"The request body is not valid JSON: '%s' at byte %d",
					je.text, je.position);
		if (!json_is_object(doc))
			return err_setr(e, -EINVAL, "SerializationException",
					"The request body is %s, not a JSON object",
					type_name(doc));
	}
	input = api_model_input(m, action);
	if (input && doc)
		r = from_body(&w, doc, input, 1, &params);
	else if (!input && json_object_size(doc))
		r = err_setr(e, -EINVAL, "InvalidParameterException",
			     "The operation '%s' takes no members, but the body has '%s'", action,
			     json_object_iter_key(json_object_iter(doc)));
	else
		r = (params = json_object()) ? 0 : oom(&w);
	if (r < 0) {
		if (!strcmp(e->code, "ValidationException"))
			snprintf(e->code, sizeof(e->code), "InvalidParameterException");
		return r;
	}
	*ret_action = action;
	*ret_params = TAKE_PTR(params);
	return 0;
}

char *api_json_error(const struct api_model *m, const char *code, const char *message,
		     int *ret_status, const char **ret_code)
{
	/* SigV4's EC2 codes (sigv4.c) as the JSON services name them. */
	static const struct {
		const char *from, *to;
	} renamed[] = {
	    {"SignatureDoesNotMatch", "InvalidSignatureException"},
	    {"RequestExpired", "InvalidSignatureException"},
	    {"IncompleteSignature", "IncompleteSignatureException"},
	    {"MissingAuthenticationToken", "MissingAuthenticationTokenException"},
	    {"AuthFailure", "UnrecognizedClientException"},
	    {"InvalidClientTokenId", "UnrecognizedClientException"},
	    {"MalformedQueryString", "SerializationException"},
	    {"RequestEntityTooLarge", "SerializationException"},
	    {"InvalidHttpRequest", "UnknownOperationException"},
	    {"ServiceUnavailable", "ServiceUnavailableException"},
	};
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char *plain = NULL;
	int status = 400;

	code = code && *code ? code : "InternalError";
	for (size_t i = 0; i < sizeof(renamed) / sizeof(renamed[0]); i++)
		if (!strcmp(code, renamed[i].from))
			code = renamed[i].to;
	/* The message cleaned of what is not UTF-8, as rest-json's. */
	if (!(plain = api_rest_error(m, code, message, &status)) || !(doc = json_loads(plain, 0, NULL)))
		return NULL;
	status = !strcmp(code, "InternalError") || !strcmp(code, "InternalFailure") ||
			 !strcmp(code, "ServiceUnavailableException")
		     ? 500
		     : 400;
	if (json_object_set_new(doc, "__type", json_string(code)) < 0)
		return NULL;
	*ret_status = status;
	if (ret_code)
		*ret_code = code;
	return json_dumps(doc, JSON_COMPACT);
}
