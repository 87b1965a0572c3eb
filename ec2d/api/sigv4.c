/* AWS Signature Version 4, the receiving side (for service "ec2"; AWS's published test
 * vectors use "service", hence api_sigv4_verify_service). The canonical request is
 * built exactly as botocore's SigV4Auth builds it (auth.py): the path with dot segments and
 * repeated slashes removed and then percent-encoded again, the query parameters decoded,
 * re-encoded with only A-Z a-z 0-9 - _ . ~ left bare and sorted, the signed headers
 * lowercased with their values trimmed and inner whitespace runs made one space (several
 * headers of one name joined by ','), and the SHA-256 of the body. A session key of an
 * instance's role (ASIA...) is not in the credentials file: its secret comes from the session
 * token it is sent with (api_session_check in creds.c). */
#include "internal.h"
#include "cleanup.h"
#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define TERMINATOR "aws4_request"
#define MAX_SIGNED_HEADERS 128
#define MAX_EXPIRES 604800 /* a week, AWS's limit on presigned requests */

static const char MSG_MISMATCH[] =
    "The request signature we calculated does not match the signature you provided. Check "
    "your AWS Secret Access Key and signing method. Consult the service documentation for "
    "details.";

struct param {
	char *key, *value; /* decoded; may hold NUL bytes */
	size_t klen, vlen;
	char *enc; /* "key=value" SigV4-encoded */
};

struct params {
	struct param *v;
	size_t n;
};

static void params_clear(struct params *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].key);
		free(p->v[i].value);
		free(p->v[i].enc);
	}
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

static void memstream_closep(FILE **f)
{
	if (*f)
		fclose(*f);
}

/* Percent-decodes s[0..n) into a new buffer ('+' stays '+', as SigV4 reads it). */
static int pct_decode(const char *s, size_t n, char **ret, size_t *ret_len)
{
	char *out = malloc(n + 1);
	size_t o = 0;
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi = n - i >= 3 ? hexval((unsigned char)s[i + 1]) : -1;
			int lo = n - i >= 3 ? hexval((unsigned char)s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				free(out);
				return -EBADMSG;
			}
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			out[o++] = s[i];
	}
	out[o] = 0;
	*ret = out;
	*ret_len = o;
	return 0;
}

static bool unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

/* Writes s[0..n) percent-encoded, upper-case hex, `keep` left bare besides the unreserved. */
static void pct_encode(FILE *f, const char *s, size_t n, char keep)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c) || (keep && c == (unsigned char)keep))
			fputc(c, f);
		else
			fprintf(f, "%%%02X", c);
	}
}

static int parse_query(const char *q, struct params *ret)
{
	struct params p = {0};
	size_t len = strlen(q);
	int r = 0;

	if (len > API_FORM_MAX_BYTES)
		return -E2BIG;
	for (size_t i = 0; i < len;) {
		const char *seg = q + i, *amp = memchr(seg, '&', len - i), *eq;
		size_t seglen = amp ? (size_t)(amp - seg) : len - i, nlen;
		struct param *x, *v;
		FILE *f;
		size_t enclen;

		i += seglen + 1;
		if (seglen == 0)
			continue;
		if (p.n >= API_FORM_MAX_PARAMS) {
			r = -E2BIG;
			goto fail;
		}
		v = realloc(p.v, (p.n + 1) * sizeof(*v));
		if (!v) {
			r = -ENOMEM;
			goto fail;
		}
		p.v = v;
		x = &p.v[p.n];
		*x = (struct param){0};
		eq = memchr(seg, '=', seglen);
		nlen = eq ? (size_t)(eq - seg) : seglen;
		r = pct_decode(seg, nlen, &x->key, &x->klen);
		if (r < 0)
			goto fail;
		p.n++;
		r = eq ? pct_decode(eq + 1, seglen - nlen - 1, &x->value, &x->vlen)
		       : pct_decode("", 0, &x->value, &x->vlen);
		if (r < 0)
			goto fail;
		f = open_memstream(&x->enc, &enclen);
		if (!f) {
			r = -ENOMEM;
			goto fail;
		}
		pct_encode(f, x->key, x->klen, 0);
		fputc('=', f);
		pct_encode(f, x->value, x->vlen, 0);
		if (fclose(f) != 0) {
			r = -ENOMEM;
			goto fail;
		}
	}
	*ret = p;
	return 0;
fail:
	params_clear(&p);
	return r;
}

/* Query parameter `key` (exact name), NULL if absent; *dup if it is repeated. */
static const struct param *query_get(const struct params *p, const char *key, bool *dup)
{
	const struct param *found = NULL;
	size_t n = strlen(key);
	for (size_t i = 0; i < p->n; i++) {
		if (p->v[i].klen != n || memcmp(p->v[i].key, key, n))
			continue;
		if (found && dup)
			*dup = true;
		if (!found)
			found = &p->v[i];
	}
	return found;
}

static int cmp_enc(const void *a, const void *b)
{
	const struct param *x = a, *y = b;
	/* Sorting "key=value" as a whole would put "a-b=" before "a=": sort key, then value. */
	size_t kx = strcspn(x->enc, "="), ky = strcspn(y->enc, "=");
	int c = memcmp(x->enc, y->enc, kx < ky ? kx : ky);
	if (c)
		return c;
	if (kx != ky)
		return kx < ky ? -1 : 1;
	return strcmp(x->enc + kx, y->enc + ky);
}

static const char *header_get(const struct api_request *req, const char *name, size_t *count)
{
	const char *found = NULL;
	size_t n = 0;
	for (size_t i = 0; i < req->nheaders; i++) {
		if (!req->headers[i].name || strcasecmp(req->headers[i].name, name))
			continue;
		if (!found)
			found = req->headers[i].value ? req->headers[i].value : "";
		n++;
	}
	if (count)
		*count = n;
	return found;
}

static bool space(unsigned char c)
{
	/* What Python's str.split() splits on, in ASCII (botocore's _header_value). */
	return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

static void write_trimmed(FILE *f, const char *v)
{
	bool first = true;
	while (*v) {
		const char *start;
		while (*v && space((unsigned char)*v))
			v++;
		if (!*v)
			break;
		start = v;
		while (*v && !space((unsigned char)*v))
			v++;
		if (!first)
			fputc(' ', f);
		fwrite(start, 1, (size_t)(v - start), f);
		first = false;
	}
}

/* botocore's remove_dot_segments: no ".", no "..", no empty segments; keeps a leading and
 * (when anything is left) a trailing slash; "" is "/". */
static void write_path(FILE *f, const char *path)
{
	size_t n = strlen(path), nseg = 0;
	_cleanup_free_ const char **seg = NULL;
	_cleanup_free_ size_t *seglen = NULL;

	if (n == 0) {
		fputc('/', f);
		return;
	}
	seg = calloc(n / 2 + 2, sizeof(*seg));
	seglen = calloc(n / 2 + 2, sizeof(*seglen));
	if (!seg || !seglen) {
		fputc('\x01', f); /* cannot match: the signature check fails */
		return;
	}
	for (const char *p = path; p <= path + n;) {
		const char *slash = memchr(p, '/', (size_t)(path + n - p));
		size_t l = slash ? (size_t)(slash - p) : (size_t)(path + n - p);
		if (l == 2 && p[0] == '.' && p[1] == '.') {
			if (nseg)
				nseg--;
		} else if (l && !(l == 1 && p[0] == '.')) {
			seg[nseg] = p;
			seglen[nseg++] = l;
		}
		p += l + 1;
	}
	if (path[0] == '/')
		fputc('/', f);
	for (size_t i = 0; i < nseg; i++) {
		if (i)
			fputc('/', f);
		pct_encode(f, seg[i], seglen[i], 0);
	}
	if (path[n - 1] == '/' && nseg)
		fputc('/', f);
}

static void hex(const unsigned char *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = 0;
}

static int sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char d[32];
	unsigned len = 0;
	if (!EVP_Digest(data ? data : "", n, d, &len, EVP_sha256(), NULL) || len != 32)
		return -EIO;
	hex(d, 32, out);
	return 0;
}

static int hmac(const void *key, size_t klen, const char *msg, size_t mlen, unsigned char out[32])
{
	unsigned len = 0;
	if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out, &len) ||
	    len != 32)
		return -EIO;
	return 0;
}

/* YYYYMMDD'T'HHMMSS'Z' -> seconds since the epoch. */
static bool parse_amz_date(const char *s, time_t *ret)
{
	struct tm tm = {0};
	const char *end;
	time_t t;
	if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
		return false;
	for (int i = 0; i < 15; i++)
		if (i != 8 && !isdigit((unsigned char)s[i]))
			return false;
	end = strptime(s, "%Y%m%dT%H%M%SZ", &tm);
	if (!end || *end)
		return false;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return false;
	/* timegm normalises 20260231: only a date that reads back the same is one. */
	{
		struct tm back;
		char buf[17];
		if (!gmtime_r(&t, &back) ||
		    strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &back) != 16 || strcmp(buf, s))
			return false;
	}
	*ret = t;
	return true;
}

/* An RFC 7231 Date header ("Mon, 23 Nov 2026 10:00:00 GMT"), which botocore sends instead of
 * X-Amz-Date when the request had one (as email.utils.formatdate writes it: "-0000"). */
static bool parse_http_date(const char *s, time_t *ret)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S", &tm);
	time_t t;
	if (!end || (strcmp(end, " GMT") && strcmp(end, " UTC") && strcmp(end, " +0000") &&
		     strcmp(end, " -0000")))
		return false;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return false;
	*ret = t;
	return true;
}

struct auth {
	char *credential, *signed_headers, *signature; /* owned */
	const char *date;			       /* the header or query value */
	time_t t;
	char stamp[17];	   /* the date as YYYYMMDD'T'HHMMSS'Z' */
	long long expires; /* query form; -1 in the header form */
};

static void auth_clear(struct auth *a)
{
	free(a->credential);
	free(a->signed_headers);
	free(a->signature);
}

/* "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." */
static int parse_authorization(const char *h, struct auth *a, struct err *e)
{
	const char *p = h;
	size_t alen = strlen(ALGORITHM);

	if (strncmp(p, ALGORITHM, alen) || (p[alen] != ' ' && p[alen] != '\t'))
		return err_setr(e, -EBADMSG, "IncompleteSignature",
				"The Authorization header '%.32s' is not %s", h, ALGORITHM);
	p += alen;
	while (*p) {
		const char *comma, *eq;
		size_t n;
		char **slot;
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		eq = memchr(p, '=', n);
		if (!eq)
			return err_setr(
			    e, -EBADMSG, "IncompleteSignature",
			    "Authorization header component '%.*s' is not a key=value pair",
			    (int)(n > 64 ? 64 : n), p);
		if ((size_t)(eq - p) == 10 && !memcmp(p, "Credential", 10))
			slot = &a->credential;
		else if ((size_t)(eq - p) == 13 && !memcmp(p, "SignedHeaders", 13))
			slot = &a->signed_headers;
		else if ((size_t)(eq - p) == 9 && !memcmp(p, "Signature", 9))
			slot = &a->signature;
		else
			return err_setr(e, -EBADMSG, "IncompleteSignature",
					"Authorization header component '%.*s' is not known",
					(int)(eq - p > 64 ? 64 : eq - p), p);
		if (*slot)
			return err_setr(e, -EBADMSG, "IncompleteSignature",
					"Authorization header component '%.*s' is given twice",
					(int)(eq - p), p);
		*slot = strndup(eq + 1, n - (size_t)(eq + 1 - p));
		if (!*slot)
			return err_setr(e, -ENOMEM, "InternalError",
					"Out of memory checking the signature");
		p += comma ? (size_t)(comma - p) : strlen(p);
	}
	if (!a->credential)
		return err_setr(e, -EBADMSG, "IncompleteSignature",
				"Authorization header requires 'Credential' parameter");
	if (!a->signed_headers)
		return err_setr(e, -EBADMSG, "IncompleteSignature",
				"Authorization header requires 'SignedHeaders' parameter");
	if (!a->signature)
		return err_setr(e, -EBADMSG, "IncompleteSignature",
				"Authorization header requires 'Signature' parameter");
	return 0;
}

static int query_auth(const struct params *q, struct auth *a, struct err *e)
{
	static const char *const names[] = {"X-Amz-Algorithm",	   "X-Amz-Credential",
					    "X-Amz-Date",	   "X-Amz-Expires",
					    "X-Amz-SignedHeaders", "X-Amz-Signature"};
	const char *v[6];
	char *end;

	for (size_t i = 0; i < 6; i++) {
		bool dup = false;
		const struct param *x = query_get(q, names[i], &dup);
		if (!x)
			return err_setr(e, -EBADMSG, "IncompleteSignature",
					"The query string requires the '%s' parameter", names[i]);
		if (dup || strlen(x->value) != x->vlen)
			return err_setr(
			    e, -EBADMSG, "IncompleteSignature",
			    "The query parameter '%s' is given twice or holds a NUL byte",
			    names[i]);
		v[i] = x->value;
	}
	if (strcmp(v[0], ALGORITHM))
		return err_setr(e, -EBADMSG, "IncompleteSignature",
				"X-Amz-Algorithm '%.64s' is not %s", v[0], ALGORITHM);
	errno = 0;
	a->expires = isdigit((unsigned char)v[3][0]) ? strtoll(v[3], &end, 10) : -1;
	if (a->expires < 1 || a->expires > MAX_EXPIRES || errno || *end)
		return err_setr(e, -EBADMSG, "IncompleteSignature",
				"X-Amz-Expires '%.32s' is not a number of seconds from 1 to %d",
				v[3], MAX_EXPIRES);
	a->credential = strdup(v[1]);
	a->signed_headers = strdup(v[4]);
	a->signature = strdup(v[5]);
	a->date = v[2];
	if (!a->credential || !a->signed_headers || !a->signature)
		return err_setr(e, -ENOMEM, "InternalError",
				"Out of memory checking the signature");
	return 0;
}

static bool valid_region(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 31)
		return false;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-'))
			return false;
	return true;
}

/* The canonical request and its string to sign, into *ret (owned). */
static int string_to_sign(const struct api_request *req, const struct params *q, bool query_form,
			  const struct auth *a, const char *names[], size_t nnames,
			  const char *payload, const char *scope, char **ret)
{
	_cleanup_free_ char *cr = NULL, *sts = NULL;
	_cleanup_free_ struct param *sorted = NULL;
	_cleanup_(memstream_closep) FILE *f = NULL;
	size_t crlen = 0, stslen = 0, ns = 0;
	char crhash[65];
	bool first = true;

	f = open_memstream(&cr, &crlen);
	if (!f)
		return -ENOMEM;
	fprintf(f, "%s\n", req->method ? req->method : "");
	write_path(f, req->path ? req->path : "");
	fputc('\n', f);

	sorted = calloc(q->n ? q->n : 1, sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	for (size_t i = 0; i < q->n; i++)
		if (!(query_form && q->v[i].klen == 15 &&
		      !memcmp(q->v[i].key, "X-Amz-Signature", 15)))
			sorted[ns++] = q->v[i];
	qsort(sorted, ns, sizeof(*sorted), cmp_enc);
	for (size_t i = 0; i < ns; i++) {
		fputs(first ? "" : "&", f);
		fputs(sorted[i].enc, f);
		first = false;
	}
	fputc('\n', f);

	for (size_t i = 0; i < nnames; i++) {
		bool any = false;
		fprintf(f, "%s:", names[i]);
		for (size_t j = 0; j < req->nheaders; j++) {
			if (!req->headers[j].name || strcasecmp(req->headers[j].name, names[i]))
				continue;
			if (any)
				fputc(',', f);
			write_trimmed(f, req->headers[j].value ? req->headers[j].value : "");
			any = true;
		}
		fputc('\n', f);
	}
	fprintf(f, "\n%s\n%s", a->signed_headers, payload);
	if (fclose(TAKE_PTR(f)) != 0)
		return -ENOMEM;
	if (sha256_hex(cr, crlen, crhash) < 0)
		return -EIO;

	f = open_memstream(&sts, &stslen);
	if (!f)
		return -ENOMEM;
	fprintf(f, "%s\n%s\n%s\n%s", ALGORITHM, a->stamp, scope, crhash);
	if (fclose(TAKE_PTR(f)) != 0)
		return -ENOMEM;
	*ret = TAKE_PTR(sts);
	return 0;
}

/* The session the calling thread last accepted (api_sigv4_session), without its secret. */
static __thread struct {
	bool set;
	char access_key[21], instance[32], role[API_ROLE_MAX + 1];
} last_session;

static void session_cleanse(struct api_session *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
}

/* The session token of a session key (ASIA...): in the header form the X-Amz-Security-Token
 * header (botocore signs it; the check that it is signed comes with SignedHeaders below), in
 * the presigned form the query parameter (signed as every parameter is). The errors are
 * EC2's; an expired token is STS's and IAM's ExpiredToken, FIS's ExpiredTokenException. */
static int session_of(const struct api_creds *creds, const struct api_request *req,
		      const struct params *q, bool query_form, const char *access_key,
		      const char *service, struct api_session *ret, struct err *e)
{
	const char *token = NULL;
	size_t count = 0;
	int r;

	if (query_form) {
		bool dup = false;
		const struct param *x = query_get(q, "X-Amz-Security-Token", &dup);
		if (x && !dup && strlen(x->value) == x->vlen)
			token = x->value;
	} else {
		token = header_get(req, "x-amz-security-token", &count);
		if (count > 1)
			token = NULL;
	}
	r = api_session_check(creds, access_key, token, req->now, ret, e);
	if (r == -ETIME && service && !strcmp(service, "fis"))
		return err_setr(e, r, "ExpiredTokenException",
				"The security token included in the request is expired");
	if (r == -ETIME && service && strcmp(service, "ec2"))
		return err_setr(e, r, "ExpiredToken",
				"The security token included in the request is expired");
	return r;
}

static int verify(const struct api_creds *creds, const struct api_request *req,
		  const struct params *q, bool query_form, struct auth *a, const char *const *services,
		  int *ret_service, char *region, char *access_key, struct err *e)
{
	const char *service = NULL;
	_cleanup_free_ char *cred = strdup(a->credential), *sts = NULL;
	_cleanup_free_ char *names_buf = strdup(a->signed_headers);
	const char *parts[5], *names[MAX_SIGNED_HEADERS], *secret, *hdr;
	size_t nparts = 0, nnames = 0, count;
	char payload[65], scope[160], sig[65];
	unsigned char k[32];
	bool has_host = false, has_token = false;
	_cleanup_free_ char *ksecret = NULL;
	_cleanup_(session_cleanse) struct api_session session = {0};
	bool is_session = false;
	int r;

	if (!cred || !names_buf)
		return err_setr(e, -ENOMEM, "InternalError",
				"Out of memory checking the signature");

	/* Credential=AKID/YYYYMMDD/region/ec2/aws4_request */
	for (char *p = cred, *slash;; p = slash + 1) {
		slash = strchr(p, '/');
		if (nparts == 5) {
			nparts++;
			break;
		}
		parts[nparts++] = p;
		if (!slash)
			break;
		*slash = 0;
	}
	if (nparts != 5 || !parts[0][0] || !parts[1][0] || !parts[2][0] || !parts[3][0] ||
	    !parts[4][0])
		return err_setr(e, -EBADMSG, "IncompleteSignature",
				"Credential must have exactly 5 slash-delimited elements, e.g. "
				"keyid/date/region/service/term, got '%.128s'",
				a->credential);
	/* Which service, known early so that the errors after this point take its shape. */
	for (int i = 0; services[i] && !service; i++)
		if (!strcmp(parts[3], services[i]))
			service = services[i], *ret_service = i;
	secret = strlen(parts[0]) > 63 ? NULL : api_creds_secret(creds, parts[0]);
	/* A key of the file is long-term: a token sent with it is ignored (AWS's test vectors
	 * sign one with theirs). A session key is good only with the token it was made with. */
	if (!secret && !strncmp(parts[0], "ASIA", 4)) {
		r = session_of(creds, req, q, query_form, parts[0], service, &session, e);
		if (r < 0)
			return r;
		secret = session.secret;
		is_session = true;
	}
	if (!secret)
		return err_setr(e, -EACCES, "AuthFailure",
				"AWS was not able to validate the provided access credentials");

	/* The date: X-Amz-Date (header or query), else the Date header. */
	if (!query_form) {
		hdr = header_get(req, "x-amz-date", &count);
		if (hdr && count > 1)
			return err_setr(e, -EBADMSG, "IncompleteSignature",
					"The X-Amz-Date header is given %zu times", count);
		a->date = hdr;
		if (!hdr) {
			hdr = header_get(req, "date", &count);
			if (!hdr)
				return err_setr(
				    e, -EBADMSG, "IncompleteSignature",
				    "Authorization header requires existence of either a "
				    "'X-Amz-Date' or a 'Date' header");
			if (count > 1 || !parse_http_date(hdr, &a->t))
				return err_setr(e, -EBADMSG, "IncompleteSignature",
						"The Date header '%.64s' is not an HTTP date", hdr);
			struct tm tm;
			gmtime_r(&a->t, &tm);
			strftime(a->stamp, sizeof(a->stamp), "%Y%m%dT%H%M%SZ", &tm);
		}
	}
	if (a->date) {
		if (!parse_amz_date(a->date, &a->t))
			return err_setr(e, -EBADMSG, "IncompleteSignature",
					"The X-Amz-Date '%.64s' is not YYYYMMDD'T'HHMMSS'Z'",
					a->date);
		memcpy(a->stamp, a->date, 17);
	}

	if (!service)
		return err_setr(e, -EACCES, "SignatureDoesNotMatch",
				"Credential should be scoped to correct service: '%s'", services[0]);
	if (strcmp(parts[4], TERMINATOR))
		return err_setr(
		    e, -EACCES, "SignatureDoesNotMatch",
		    "Credential should be scoped with a valid terminator: '%s', not '%.64s'",
		    TERMINATOR, parts[4]);
	if (strlen(parts[1]) != 8 || memcmp(parts[1], a->stamp, 8))
		return err_setr(
		    e, -EACCES, "SignatureDoesNotMatch",
		    "Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
		    "of date from HTTP: '%.32s' != '%.8s'",
		    parts[1], a->stamp);
	if (!valid_region(parts[2]))
		return err_setr(e, -EACCES, "SignatureDoesNotMatch",
				"Credential should be scoped to a valid region, not '%.64s'",
				parts[2]);

	/* Time: 15 minutes either way; a presigned request until its X-Amz-Expires. */
	if (req->now > a->t + (query_form ? a->expires : API_SIGV4_SKEW) ||
	    req->now < a->t - API_SIGV4_SKEW)
		return err_setr(e, -ETIME, "RequestExpired",
				"Request has expired: the request date '%s' is outside the allowed "
				"window",
				a->stamp);

	/* SignedHeaders=host;x-amz-date: sorted names, ';' between, host among them. */
	for (char *p = names_buf, *semi;; p = semi + 1) {
		semi = strchr(p, ';');
		if (semi)
			*semi = 0;
		if (!*p || nnames == MAX_SIGNED_HEADERS)
			return err_setr(e, -EBADMSG, "IncompleteSignature",
					"SignedHeaders '%.128s' is not a list of header names",
					a->signed_headers);
		if (!strcmp(p, "host"))
			has_host = true;
		if (!strcmp(p, "x-amz-security-token"))
			has_token = true;
		names[nnames++] = p;
		if (!semi)
			break;
	}
	if (!has_host)
		return err_setr(e, -EBADMSG, "IncompleteSignature",
				"'Host' must be a 'SignedHeader' in the AWS Authorization");
	/* Else a token could be swapped for another of the same key under the same signature. */
	if (is_session && !query_form && !has_token)
		return err_setr(e, -EBADMSG, "IncompleteSignature",
				"'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS "
				"Authorization");

	r = sha256_hex(req->body, req->body_len, payload);
	if (r < 0)
		return err_setr(e, r, "InternalError", "SHA-256 failed");
	hdr = header_get(req, "x-amz-content-sha256", &count);
	if (hdr && (count > 1 || strcmp(hdr, payload)))
		return err_setr(
		    e, -EACCES, "SignatureDoesNotMatch",
		    "The provided 'x-amz-content-sha256' header does not match what was "
		    "computed");

	snprintf(scope, sizeof(scope), "%s/%s/%s/%s", parts[1], parts[2], service, TERMINATOR);
	r = string_to_sign(req, q, query_form, a, names, nnames, payload, scope, &sts);
	if (r < 0)
		return err_setr(e, r, "InternalError", "Out of memory checking the signature");

	/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region), service), "aws4_request")
	 */
	if (asprintf(&ksecret, "AWS4%s", secret) < 0) {
		ksecret = NULL;
		return err_setr(e, -ENOMEM, "InternalError",
				"Out of memory checking the signature");
	}
	r = hmac(ksecret, strlen(ksecret), parts[1], 8, k);
	OPENSSL_cleanse(ksecret, strlen(ksecret));
	if (r >= 0)
		r = hmac(k, 32, parts[2], strlen(parts[2]), k);
	if (r >= 0)
		r = hmac(k, 32, service, strlen(service), k);
	if (r >= 0)
		r = hmac(k, 32, TERMINATOR, strlen(TERMINATOR), k);
	if (r >= 0)
		r = hmac(k, 32, sts, strlen(sts), k);
	if (r < 0)
		return err_setr(e, r, "InternalError", "HMAC-SHA256 failed");
	hex(k, 32, sig);
	OPENSSL_cleanse(k, sizeof(k));
	if (strlen(a->signature) != 64 || CRYPTO_memcmp(sig, a->signature, 64) != 0)
		return err_setr(e, -EACCES, "SignatureDoesNotMatch", "%s", MSG_MISMATCH);

	snprintf(region, 32, "%s", parts[2]);
	snprintf(access_key, 64, "%s", parts[0]);
	if (is_session) {
		last_session.set = true;
		memcpy(last_session.access_key, session.access_key, sizeof(last_session.access_key));
		memcpy(last_session.instance, session.instance, sizeof(last_session.instance));
		memcpy(last_session.role, session.role, sizeof(last_session.role));
	}
	return 0;
}

int api_sigv4_session(const char *access_key, char ret_instance[static 32],
		      char ret_role[static API_ROLE_MAX + 1])
{
	if (!last_session.set || !access_key || strcmp(access_key, last_session.access_key))
		return -ENOENT;
	memcpy(ret_instance, last_session.instance, 32);
	memcpy(ret_role, last_session.role, API_ROLE_MAX + 1);
	return 0;
}

int api_sigv4_verify(const struct api_creds *creds, const struct api_request *req,
		     char ret_region[static 32], char ret_access_key[static 64], struct err *e)
{
	return api_sigv4_verify_service(creds, req, "ec2", ret_region, ret_access_key, e);
}

int api_sigv4_verify_service(const struct api_creds *creds, const struct api_request *req,
			     const char *service, char ret_region[static 32],
			     char ret_access_key[static 64], struct err *e)
{
	const char *const one[] = {service, NULL};
	int which;
	return api_sigv4_verify_any(creds, req, one, &which, ret_region, ret_access_key, e);
}

int api_sigv4_verify_any(const struct api_creds *creds, const struct api_request *req,
			 const char *const *services, int *ret_service, char ret_region[static 32],
			 char ret_access_key[static 64], struct err *e)
{
	struct params q = {0};
	struct auth a = {.expires = -1};
	const char *authz;
	size_t nauth;
	char region[32], key[64];
	int r;

	*ret_service = -1;
	last_session.set = false;
	r = parse_query(req->query ? req->query : "", &q);
	if (r == -ENOMEM)
		return err_setr(e, r, "InternalError", "Out of memory checking the signature");
	if (r < 0)
		return err_setr(
		    e, r, "MalformedQueryString",
		    "The query string does not parse (a malformed %%-escape, or too long)");

	authz = header_get(req, "authorization", &nauth);
	if (nauth > 1)
		r = err_setr(e, -EBADMSG, "IncompleteSignature",
			     "The Authorization header is given %zu times", nauth);
	else if (authz && query_get(&q, "X-Amz-Algorithm", NULL))
		r = err_setr(e, -EBADMSG, "IncompleteSignature",
			     "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
			     "parameter or the Authorization header should be specified");
	else if (authz)
		r = parse_authorization(authz, &a, e);
	else if (query_get(&q, "X-Amz-Algorithm", NULL) ||
		 query_get(&q, "X-Amz-Credential", NULL) || query_get(&q, "X-Amz-Signature", NULL))
		r = query_auth(&q, &a, e);
	else
		r = err_setr(
		    e, -EACCES, "MissingAuthenticationToken",
		    "The request must contain either a valid (registered) AWS access key ID "
		    "or X.509 certificate");
	if (r >= 0)
		r = verify(creds, req, &q, !authz, &a, services, ret_service, region, key, e);
	auth_clear(&a);
	params_clear(&q);
	if (r < 0)
		return r;
	memcpy(ret_region, region, 32);
	memcpy(ret_access_key, key, 64);
	return 0;
}
