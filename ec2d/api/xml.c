/* EC2's XML answers, and those of the query-protocol services (STS, IAM), written with
 * libxml2's xmlTextWriter from a result object and the action's output shape (botocore's
 * EC2QueryParser and QueryParser read them back: tests/api/). */
#include "internal.h"
#include "cleanup.h"
#include <errno.h>
#include <inttypes.h>
#include <libxml/xmlwriter.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EC2_XMLNS "http://ec2.amazonaws.com/doc/2016-11-15/"

static void writer_freep(xmlTextWriterPtr *w)
{
	if (*w)
		xmlFreeTextWriter(*w);
}

static void buffer_freep(xmlBufferPtr *b)
{
	if (*b)
		xmlBufferFree(*b);
}

/* Decodes one UTF-8 sequence at s[0..n); returns its length and the code point, or 0 if the
 * bytes are not UTF-8 (overlong forms and surrogates included). */
size_t api_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, c = s[0] & 0x1f, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, c = s[0] & 0x0f, min = 0x800;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, c = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static bool xml_char(uint32_t c)
{
	return c == 0x9 || c == 0xa || c == 0xd || (c >= 0x20 && c <= 0xd7ff) ||
	       (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
}

/* s[0..n) as text XML 1.0 can carry: what is not UTF-8 or not an XML character becomes
 * U+FFFD. NULL when out of memory. */
static char *xml_text(const char *s, size_t n)
{
	char *out = malloc(n * 3 + 1), *o = out;
	const unsigned char *p = (const unsigned char *)s;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		uint32_t c;
		size_t len = api_utf8_next(p + i, n - i, &c);
		if (len && xml_char(c)) {
			memcpy(o, p + i, len);
			o += len;
			i += len;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i += len ? len : 1;
		}
	}
	*o = 0;
	return out;
}

static int write_text_element(xmlTextWriterPtr w, const char *name, const char *s, size_t n)
{
	_cleanup_free_ char *text = xml_text(s, n);
	if (!text)
		return -ENOMEM;
	return xmlTextWriterWriteElement(w, BAD_CAST name, BAD_CAST text) < 0 ? -ENOMEM : 0;
}

struct writer {
	const struct api_model *m;
	bool query; /* list items are <member>, not <item> */
	xmlTextWriterPtr w;
	struct err *e;
	char path[512]; /* where in the result we are, for messages */
};

static int mismatch(struct writer *c, const json_t *v, const char *type)
{
	static const char *const names[] = {"an object", "an array", "a string", "an integer",
					    "a number",	 "true",     "false",	 "null"};
	int t = json_typeof(v);
	return err_setr(c->e, -EINVAL, "InternalError",
			"The result member '%s' is %s where the model wants a %s", c->path,
			t >= 0 && t < (int)(sizeof(names) / sizeof(names[0])) ? names[t] : "?",
			type);
}

/* The shortest decimal that reads back as d. */
static void format_double(double d, char *buf, size_t n)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, n, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

static int write_value(struct writer *c, const char *elem, const json_t *v, const json_t *shape);

static int write_members(struct writer *c, const json_t *obj, const json_t *shape)
{
	size_t plen = strlen(c->path);
	const char *name;
	json_t *ref;

	json_object_foreach(json_object_get(shape, "members"), name, ref)
	{
		const json_t *v = json_object_get(obj, name);
		const char *loc = json_string_value(json_object_get(ref, "locationName"));
		const json_t *sub = api_model_ref_shape(c->m, ref);
		int r;
		if (!v || json_is_null(v) || !sub)
			continue;
		snprintf(c->path + plen, sizeof(c->path) - plen, "%s%s", plen ? "." : "", name);
		r = write_value(c, loc ? loc : name, v, sub);
		if (r < 0)
			return r;
	}
	c->path[plen] = 0;
	return 0;
}

static int write_list(struct writer *c, const char *elem, const json_t *v, const json_t *shape)
{
	const json_t *ref = json_object_get(shape, "member");
	const json_t *item = api_model_ref_shape(c->m, ref);
	const char *item_name = json_string_value(json_object_get(ref, "locationName"));
	bool flat = json_is_true(json_object_get(shape, "flattened"));
	size_t plen = strlen(c->path), i;
	json_t *x;

	if (!json_is_array(v))
		return mismatch(c, v, "list");
	if (!item)
		return err_setr(c->e, -EINVAL, "InternalError",
				"The EC2 model has no item shape for '%s'", c->path);
	if (flat && item_name)
		elem = item_name;
	if (!flat && xmlTextWriterStartElement(c->w, BAD_CAST elem) < 0)
		return -ENOMEM;
	json_array_foreach(v, i, x)
	{
		int r;
		if (json_is_null(x))
			continue;
		snprintf(c->path + plen, sizeof(c->path) - plen, "[%zu]", i);
		r = write_value(c, flat ? elem : item_name ? item_name : c->query ? "member" : "item", x, item);
		if (r < 0)
			return r;
	}
	c->path[plen] = 0;
	if (!flat && xmlTextWriterEndElement(c->w) < 0)
		return -ENOMEM;
	return 0;
}

static int write_value(struct writer *c, const char *elem, const json_t *v, const json_t *shape)
{
	const char *type = api_shape_type(shape);
	char buf[64];

	if (!strcmp(type, "structure")) {
		int r;
		if (!json_is_object(v))
			return mismatch(c, v, "structure");
		if (xmlTextWriterStartElement(c->w, BAD_CAST elem) < 0)
			return -ENOMEM;
		r = write_members(c, v, shape);
		if (r < 0)
			return r;
		return xmlTextWriterEndElement(c->w) < 0 ? -ENOMEM : 0;
	}
	if (!strcmp(type, "list"))
		return write_list(c, elem, v, shape);
	if (!strcmp(type, "boolean")) {
		if (!json_is_boolean(v))
			return mismatch(c, v, "boolean");
		return write_text_element(c->w, elem, json_is_true(v) ? "true" : "false",
					  json_is_true(v) ? 4 : 5);
	}
	if (!strcmp(type, "integer") || !strcmp(type, "long")) {
		if (!json_is_integer(v))
			return mismatch(c, v, type);
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return write_text_element(c->w, elem, buf, strlen(buf));
	}
	if (!strcmp(type, "float") || !strcmp(type, "double")) {
		if (!json_is_number(v))
			return mismatch(c, v, type);
		if (json_is_integer(v))
			snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		else
			format_double(json_real_value(v), buf, sizeof(buf));
		return write_text_element(c->w, elem, buf, strlen(buf));
	}
	if (!strcmp(type, "timestamp") && json_is_integer(v)) {
		/* Seconds since the epoch, written the ISO 8601 way EC2 does. */
		time_t t = (time_t)json_integer_value(v);
		struct tm tm;
		if (!gmtime_r(&t, &tm) ||
		    !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S.000Z", &tm))
			return mismatch(c, v, type);
		return write_text_element(c->w, elem, buf, strlen(buf));
	}
	if (!strcmp(type, "string") || !strcmp(type, "timestamp") || !strcmp(type, "blob") ||
	    !strcmp(type, "character")) {
		if (!json_is_string(v))
			return mismatch(c, v, type);
		return write_text_element(c->w, elem, json_string_value(v), json_string_length(v));
	}
	return err_setr(c->e, -EOPNOTSUPP, "InternalError",
			"The result member '%s' has shape type '%s', which is not supported",
			c->path, type);
}

/* Takes the writer's text out of `buf` as a NUL-terminated string of the caller's. */
static int take_buffer(xmlBufferPtr buf, char **ret, size_t *ret_len)
{
	size_t n = (size_t)xmlBufferLength(buf);
	char *s = malloc(n + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, xmlBufferContent(buf), n);
	s[n] = 0;
	*ret = s;
	if (ret_len)
		*ret_len = n;
	return 0;
}

int api_xml_response(const struct api_model *m, const char *action, json_t *result,
		     const char *request_id, char **ret_xml, size_t *ret_len, struct err *e)
{
	_cleanup_(buffer_freep) xmlBufferPtr buf = NULL;
	struct writer c = {.m = m, .e = e};
	const json_t *output;
	char root[160];
	int r;

	if (!api_model_has_action(m, action))
		return err_setr(e, -EOPNOTSUPP, "InvalidAction",
				"The action '%.128s' is not valid for this web service",
				action ? action : "");
	if (result && !json_is_object(result))
		return err_setr(e, -EINVAL, "InternalError", "The result of '%s' is not an object",
				action);
	output = api_model_output(m, action);
	snprintf(root, sizeof(root), "%sResponse", action);
	c.query = api_model_query_protocol(m);

	buf = xmlBufferCreate();
	c.w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;
	if (!c.w)
		goto oom;
	if (xmlTextWriterStartDocument(c.w, "1.0", "UTF-8", NULL) < 0 ||
	    xmlTextWriterStartElement(c.w, BAD_CAST root) < 0 ||
	    xmlTextWriterWriteAttribute(c.w, BAD_CAST "xmlns",
					BAD_CAST (c.query ? api_model_xmlns(m) : EC2_XMLNS)) < 0)
		goto oom;
	if (c.query) {
		/* <XResult> (the operation's resultWrapper) holds the members; the request ID
		 * comes after it, in <ResponseMetadata>. */
		const char *wrap = api_model_result_wrapper(m, action);
		r = 0;
		if (output && wrap) {
			if (xmlTextWriterStartElement(c.w, BAD_CAST wrap) < 0)
				goto oom;
			r = write_members(&c, result, output);
			if (r == 0 && xmlTextWriterEndElement(c.w) < 0)
				goto oom;
		}
		if (r == 0 && (xmlTextWriterStartElement(c.w, BAD_CAST "ResponseMetadata") < 0 ||
			       write_text_element(c.w, "RequestId", request_id ? request_id : "",
						  request_id ? strlen(request_id) : 0) < 0 ||
			       xmlTextWriterEndElement(c.w) < 0))
			goto oom;
	} else {
		r = write_text_element(c.w, "requestId", request_id ? request_id : "",
				       request_id ? strlen(request_id) : 0);
		if (r < 0)
			goto oom;
		if (!output)
			r = write_text_element(c.w, "return", "true", 4);
		else
			r = write_members(&c, result, output);
	}
	if (r == -ENOMEM)
		goto oom;
	if (r < 0) {
		xmlFreeTextWriter(c.w);
		return r;
	}
	if (xmlTextWriterEndDocument(c.w) < 0)
		goto oom;
	xmlFreeTextWriter(c.w); /* flushes into buf */
	c.w = NULL;
	if (take_buffer(buf, ret_xml, ret_len) < 0)
		goto oom;
	return 0;
oom:
	writer_freep(&c.w);
	return err_setr(e, -ENOMEM, "InternalError", "Out of memory writing the '%s' response",
			action);
}

char *api_xml_error(const char *code, const char *message, const char *request_id)
{
	return api_xml_error_for(NULL, code, message, request_id);
}

/* EC2's <Response><Errors><Error>..</Error></Errors><RequestID/>, or the query protocol's
 * <ErrorResponse xmlns><Error><Type/>..</Error><RequestId/> (STS, IAM). */
char *api_xml_error_for(const struct api_model *m, const char *code, const char *message,
			const char *request_id)
{
	_cleanup_(buffer_freep) xmlBufferPtr buf = xmlBufferCreate();
	_cleanup_(writer_freep) xmlTextWriterPtr w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;
	bool query = m && api_model_query_protocol(m);
	char *out = NULL;

	code = code ? code : query ? "InternalFailure" : "InternalError";
	message = message ? message : "";
	request_id = request_id ? request_id : "";
	const char *type = api_error_status(code) >= 500 ? "Receiver" : "Sender";
	if (!w || xmlTextWriterStartDocument(w, "1.0", "UTF-8", NULL) < 0)
		return NULL;
	if (query ? xmlTextWriterStartElement(w, BAD_CAST "ErrorResponse") < 0 ||
			    xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns", BAD_CAST api_model_xmlns(m)) < 0
		  : xmlTextWriterStartElement(w, BAD_CAST "Response") < 0 ||
			    xmlTextWriterStartElement(w, BAD_CAST "Errors") < 0)
		return NULL;
	if (xmlTextWriterStartElement(w, BAD_CAST "Error") < 0 ||
	    (query && write_text_element(w, "Type", type, strlen(type)) < 0) ||
	    write_text_element(w, "Code", code, strlen(code)) < 0 ||
	    write_text_element(w, "Message", message, strlen(message)) < 0 ||
	    xmlTextWriterEndElement(w) < 0 || (!query && xmlTextWriterEndElement(w) < 0) ||
	    write_text_element(w, query ? "RequestId" : "RequestID", request_id, strlen(request_id)) < 0 ||
	    xmlTextWriterEndDocument(w) < 0)
		return NULL;
	xmlFreeTextWriter(TAKE_PTR(w));
	if (take_buffer(buf, &out, NULL) < 0)
		return NULL;
	return out;
}

int api_error_status(const char *code)
{
	static const struct {
		const char *code;
		int status;
	} table[] = {
	    {"AuthFailure", 401},
	    {"SignatureDoesNotMatch", 403},
	    {"MissingAuthenticationToken", 403},
	    {"UnauthorizedOperation", 403},
	    {"InvalidClientTokenId", 403},
	    {"ExpiredToken", 403},
	    {"OptInRequired", 403},
	    {"AccessDenied", 403},
	    {"MalformedQueryString", 404},
	    {"NoSuchEntity", 404},
	    {"DryRunOperation", 412},
	    {"RequestEntityTooLarge", 413},
	    {"InternalError", 500},
	    {"InternalFailure", 500},
	    {"ServerInternal", 500},
	    {"InsufficientAddressCapacity", 500},
	    {"InsufficientCapacity", 500},
	    {"InsufficientInstanceCapacity", 500},
	    {"InsufficientHostCapacity", 500},
	    {"InsufficientReservedInstanceCapacity", 500},
	    {"Unavailable", 503},
	    {"ServiceUnavailable", 503},
	    {"RequestLimitExceeded", 503},
	};
	if (!code)
		return 500;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strcmp(code, table[i].code))
			return table[i].status;
	return 400;
}
