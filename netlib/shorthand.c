#include "shorthand.h"
#include "cleanup.h"
#include <ctype.h>
#include <string.h>

struct sp {
	const char *s;
	const char *start;
	struct err *e;
	int depth;
};

/* Deeper than any EC2 parameter; bounds the recursion on hostile input. */
#define MAX_DEPTH 32

static int sp_fail(struct sp *p, const char *what)
{
	return err_set(p->e, "ParamValidation",
		       "Error parsing parameter: %s at position %d in '%s'", what,
		       (int)(p->s - p->start), p->start);
}

static json_t *parse_value(struct sp *p);
static json_t *parse_struct(struct sp *p, char end);

static json_t *parse_scalar(struct sp *p)
{
	/* The value is never longer than the rest of the text. */
	_cleanup_free_ char *buf = malloc(strlen(p->s) + 1);
	size_t n = 0;
	if (!buf) {
		sp_fail(p, "out of memory");
		return NULL;
	}
	if (*p->s == '"' || *p->s == '\'') {
		char q = *p->s++;
		while (*p->s && *p->s != q) {
			if (*p->s == '\\' && p->s[1])
				p->s++;
			buf[n++] = *p->s++;
		}
		if (*p->s != q) {
			sp_fail(p, "unterminated quote");
			return NULL;
		}
		p->s++;
	} else {
		while (*p->s && !strchr(",]}", *p->s)) {
			if (*p->s == '\\' && p->s[1])
				p->s++;
			buf[n++] = *p->s++;
		}
		while (n && isspace((unsigned char)buf[n - 1]))
			n--;
	}
	json_t *v = json_stringn(buf, n);
	if (!v)
		sp_fail(p, "a value that is not UTF-8");
	return v;
}

static json_t *parse_list(struct sp *p)
{
	json_t *a = json_array();
	p->s++; /* '[' */
	while (*p->s == ' ')
		p->s++;
	if (*p->s == ']') {
		p->s++;
		return a;
	}
	for (;;) {
		json_t *v = parse_value(p);
		if (!v) {
			json_decref(a);
			return NULL;
		}
		json_array_append_new(a, v);
		if (*p->s == ',') {
			p->s++;
			continue;
		}
		if (*p->s == ']') {
			p->s++;
			return a;
		}
		sp_fail(p, "expected ',' or ']'");
		json_decref(a);
		return NULL;
	}
}

static json_t *parse_value(struct sp *p)
{
	json_t *v;
	while (*p->s == ' ')
		p->s++;
	if ((*p->s == '[' || *p->s == '{') && p->depth >= MAX_DEPTH) {
		sp_fail(p, "lists and structures nested too deeply");
		return NULL;
	}
	p->depth++;
	if (*p->s == '[')
		v = parse_list(p);
	else if (*p->s == '{') {
		p->s++;
		/* parse_struct(p, '}') returns only at a '}' */
		v = parse_struct(p, '}');
		if (v)
			p->s++;
	} else
		v = parse_scalar(p);
	p->depth--;
	return v;
}

/* True if the text at s looks like "key=" (so a comma before it ends the previous value). */
static int at_key(const char *s)
{
	const char *k = s;
	while (*k && (isalnum((unsigned char)*k) || *k == '_' || *k == '-' || *k == '.' || *k == ':'))
		k++;
	return k > s && *k == '=';
}

static json_t *parse_struct(struct sp *p, char end)
{
	json_t *o = json_object();
	for (;;) {
		char key[256];
		size_t n = 0;
		while (*p->s == ' ')
			p->s++;
		if (*p->s == end && end)
			return o;
		while (*p->s && *p->s != '=' && *p->s != ',' && *p->s != end) {
			if (n + 1 >= sizeof(key)) {
				sp_fail(p, "a key longer than 255 characters");
				json_decref(o);
				return NULL;
			}
			key[n++] = *p->s++;
		}
		key[n] = 0;
		if (*p->s != '=' || n == 0) {
			sp_fail(p, "expected key=value");
			json_decref(o);
			return NULL;
		}
		p->s++;
		json_t *v = parse_value(p);
		if (!v) {
			json_decref(o);
			return NULL;
		}
		/* Key=a,b,c: values continue until the next key= */
		if (*p->s == ',' && !at_key(p->s + 1) && !json_is_array(v)) {
			json_t *a = json_array();
			json_array_append_new(a, v);
			while (*p->s == ',' && !at_key(p->s + 1)) {
				p->s++;
				json_t *w = parse_value(p);
				if (!w) {
					json_decref(a), json_decref(o);
					return NULL;
				}
				json_array_append_new(a, w);
			}
			v = a;
		}
		if (json_object_set_new(o, key, v) < 0) {
			sp_fail(p, "a key that is not UTF-8");
			json_decref(o);
			return NULL;
		}
		if (*p->s == ',') {
			p->s++;
			continue;
		}
		if (*p->s == end)
			return o;
		sp_fail(p, "expected ','");
		json_decref(o);
		return NULL;
	}
}

int shorthand_parse(const char *text, json_t **ret, struct err *e)
{
	struct sp p = {text, text, e, 0};
	const char *t = text;
	while (isspace((unsigned char)*t))
		t++;
	if (*t == '[' || *t == '{') {
		json_error_t je;
		json_t *j = json_loads(t, JSON_DECODE_ANY, &je);
		if (!j)
			return err_set(e, "ParamValidation", "Error parsing parameter: invalid JSON: %s",
				       je.text);
		*ret = j;
		return 0;
	}
	json_t *o = parse_struct(&p, 0);
	if (!o)
		return -EINVAL;
	if (*p.s) {
		json_decref(o);
		return sp_fail(&p, "trailing text");
	}
	*ret = o;
	return 0;
}
