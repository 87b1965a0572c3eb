/* application/x-www-form-urlencoded, as the aws CLI and boto3 send EC2 requests (the POST
 * body; a GET carries the same text as its query string). */
#include "api.h"
#include "internal.h"
#include "cleanup.h"
#include <errno.h>
#include <string.h>

/* Decodes s[0..n) into out (at least n bytes); returns the decoded length, or -1 on a bad
 * escape and -2 on a NUL byte. */
static ssize_t decode(const char *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '+')
			c = ' ';
		else if (c == '%') {
			int hi, lo;
			if (n - i < 3)
				return -1;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (c == 0)
			return -2;
		out[o++] = (char)c;
	}
	return (ssize_t)o;
}

int api_form_parse(const char *s, size_t len, json_t **ret_kv, struct err *e)
{
	_cleanup_json_ json_t *kv = NULL;
	_cleanup_free_ char *name = NULL, *value = NULL;
	size_t count = 0;

	if (len > API_FORM_MAX_BYTES)
		return err_setr(e, -E2BIG, "MalformedQueryString",
				"The query string is %zu bytes long, more than the %u allowed", len,
				API_FORM_MAX_BYTES);
	kv = json_object();
	name = malloc(len + 1);
	value = malloc(len + 1);
	if (!kv || !name || !value)
		return err_setr(e, -ENOMEM, "InternalError",
				"Out of memory parsing the query string");

	for (size_t i = 0; i < len;) {
		const char *seg = s + i, *amp = memchr(seg, '&', len - i), *eq;
		size_t seglen = amp ? (size_t)(amp - seg) : len - i;
		size_t nlen, vlen;
		ssize_t r;
		json_t *v;

		i += seglen + 1;
		if (seglen == 0)
			continue;
		if (++count > API_FORM_MAX_PARAMS)
			return err_setr(e, -E2BIG, "MalformedQueryString",
					"The query string has more than %u parameters",
					API_FORM_MAX_PARAMS);
		eq = memchr(seg, '=', seglen);
		nlen = eq ? (size_t)(eq - seg) : seglen;
		vlen = eq ? seglen - nlen - 1 : 0;

		r = decode(seg, nlen, name);
		if (r < 0)
			return err_setr(e, -EBADMSG, "MalformedQueryString",
					r == -2
					    ? "The parameter name '%.*s' contains a NUL byte"
					    : "The parameter name '%.*s' has a malformed %%-escape",
					(int)(nlen > 128 ? 128 : nlen), seg);
		nlen = (size_t)r;
		name[nlen] = 0;
		r = eq ? decode(eq + 1, vlen, value) : 0;
		if (r < 0)
			return err_setr(
			    e, -EBADMSG, "MalformedQueryString",
			    r == -2 ? "The value of parameter '%.128s' contains a NUL byte"
				    : "The value of parameter '%.128s' has a malformed %%-escape",
			    name);
		vlen = (size_t)r;

		if (json_object_getn(kv, name, nlen))
			return err_setr(e, -EBADMSG, "MalformedQueryString",
					"The parameter '%.128s' is given more than once", name);
		v = json_stringn(value, vlen);
		if (!v)
			return err_setr(e, -EBADMSG, "MalformedQueryString",
					"The value of parameter '%.128s' is not UTF-8", name);
		if (json_object_setn_new(kv, name, nlen, v) < 0)
			return err_setr(e, -EBADMSG, "MalformedQueryString",
					"The parameter name '%.128s' is not UTF-8", name);
	}
	*ret_kv = TAKE_PTR(kv);
	return 0;
}
