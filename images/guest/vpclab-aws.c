/* vpclab-aws: the smallest `aws ec2` there is, for scripts inside an instance (a failover
 * watchdog that moves an elastic IP, for one). A static binary in the busybox images
 * (images/build), so it needs no Python, no TLS and no shared library:
 *
 *   vpclab-aws ec2 ACTION [Name=Value ...]
 *
 * sends one EC2 Query request (the parameters as EC2 takes them on the wire: InstanceId.1=...,
 * Filter.1.Name=...), signed with SigV4, as a POST form over plain HTTP/1.1, and prints the
 * response body (XML) on stdout. The endpoint is $AWS_ENDPOINT_URL_EC2, $AWS_ENDPOINT_URL, or
 * http://ec2.<region>.amazonaws.com, which inside a vpclab VPC is the EC2 API of the lab
 * (docs/architecture.md, "The EC2 API inside a VPC"). The region is $AWS_REGION,
 * $AWS_DEFAULT_REGION or the metadata service's placement/region; the credentials are
 * $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY (and $AWS_SESSION_TOKEN), or the instance role's
 * from the metadata service (IMDSv2 when it gives a token, else IMDSv1), unless
 * $AWS_EC2_METADATA_DISABLED=true.
 *
 * Exit status as the aws CLI's: 0 HTTP 200; 254 any other answer, with "An error occurred
 * (Code) when calling the ACTION operation: Message" on stderr; 252 usage; 253 no region or
 * no credentials; 255 the endpoint cannot be reached or its answer is not HTTP.
 *
 * Everything read from the network (the HTTP answers, the metadata's JSON) is untrusted: reads
 * are bounded, the parsing is minimal, and nothing from it reaches a header or a path without
 * being checked. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define EXIT_SERVICE 254
#define EXIT_USAGE 252
#define EXIT_CONFIG 253
#define EXIT_OTHER 255

#define IMDS_HOST "169.254.169.254"
#define API_VERSION "2016-11-15"
#define HEAD_MAX (64 * 1024)		/* an answer's status line and headers */
#define API_BODY_MAX (32 * 1024 * 1024) /* a DescribeInstances of a large lab */
#define IMDS_BODY_MAX (64 * 1024)
#define API_TIMEOUT_S 30
#define IMDS_TIMEOUT_S 2
#define KEY_MAX 128
#define SECRET_MAX 128
#define TOKEN_MAX 4096

static const char *prog = "vpclab-aws";

static void fail(int status, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void fail(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(status);
}

/* A growing string; out of memory ends the program (it is a short-lived client). */
struct buf {
	char *s;
	size_t n, cap;
};

static void buf_add(struct buf *b, const char *p, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (!s)
			fail(EXIT_OTHER, "out of memory");
		b->s = s, b->cap = cap;
	}
	memcpy(b->s + b->n, p, n);
	b->n += n;
	b->s[b->n] = 0;
}

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		fail(EXIT_OTHER, "internal: a line too long");
	buf_add(b, tmp, (size_t)n);
}

/* RFC 3986 unreserved characters stay, every other byte is %XX: the encoding SigV4 signs. */
static void buf_urlenc(struct buf *b, const char *s, size_t n)
{
	static const char hexd[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			buf_add(b, (const char *)&c, 1);
		} else {
			char e[3] = {'%', hexd[c >> 4], hexd[c & 15]};
			buf_add(b, e, 3);
		}
	}
}

/* Printable ASCII without spaces: what may go into a header value or a path unquoted. */
static bool token_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] >= 127)
			return false;
	return true;
}

static bool chars_in(const char *s, size_t max, const char *allowed)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z') &&
		    !(s[i] >= '0' && s[i] <= '9') && !strchr(allowed, s[i]))
			return false;
	return true;
}

/* --- HTTP/1.1 over a plain socket -------------------------------------------------------- */

struct answer {
	int status;
	char *body; /* NUL-terminated (the body itself may hold NULs) */
	size_t len;
};

static int connect_to(const char *host, const char *port, int timeout_s, char *why, size_t whyn)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL,
			*a;
	int r = getaddrinfo(host, port, &hints, &res);
	if (r != 0) {
		snprintf(why, whyn, "cannot resolve '%s': %s", host, gai_strerror(r));
		return -1;
	}
	int fd = -1, err = 0;
	/* SO_SNDTIMEO bounds connect() too (Linux). */
	struct timeval tv = {.tv_sec = timeout_s};
	for (a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
			err = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(why, whyn, "cannot connect to %s port %s: %s", host, port,
			 err == EINPROGRESS || err == EAGAIN ? "timed out" : strerror(err));
	return fd;
}

/* The value of header `name` in the header block [h, end), or NULL; *n its length. */
static const char *header(const char *h, const char *end, const char *name, size_t *n)
{
	size_t nl = strlen(name);
	for (const char *line = h; line < end;) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			eol = end;
		if ((size_t)(eol - line) > nl && !strncasecmp(line, name, nl) && line[nl] == ':') {
			const char *v = line + nl + 1, *ve = eol;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			*n = (size_t)(ve - v);
			return v;
		}
		line = eol + 1;
	}
	return NULL;
}

static int digit(char c, int base)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (base == 16 && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (base == 16 && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A number in `base` (10 or 16) of at most 10 digits, all of [p, p+n). */
static bool parse_size(const char *p, size_t n, int base, size_t *ret)
{
	size_t v = 0;
	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		int d = digit(p[i], base);
		if (d < 0)
			return false;
		v = v * (size_t)base + (size_t)d;
	}
	*ret = v;
	return true;
}

/* Decodes a chunked body in place (it only shrinks). Chunk extensions and trailers are
 * skipped; any malformation is an error. */
static bool dechunk(char *b, size_t n, size_t *ret)
{
	size_t in = 0, out = 0;
	for (;;) {
		char *eol = memchr(b + in, '\n', n - in);
		if (!eol)
			return false;
		size_t ll = (size_t)(eol - (b + in)), sl = 0, size;
		while (sl < ll && b[in + sl] != ';' && b[in + sl] != '\r')
			sl++;
		if (!parse_size(b + in, sl, 16, &size))
			return false;
		in += ll + 1;
		if (size == 0)
			break;
		if (size > n - in)
			return false;
		memmove(b + out, b + in, size);
		out += size, in += size;
		if (in < n && b[in] == '\r')
			in++;
		if (in >= n || b[in] != '\n')
			return false;
		in++;
	}
	b[out] = 0;
	*ret = out;
	return true;
}

/* One request ("Connection: close"), the whole answer read, at most body_max bytes of body.
 * 0, or -1 with the reason in why. */
static int http(const char *host, const char *port, const char *request, size_t reqlen,
		size_t body_max, int timeout_s, struct answer *ret, char *why, size_t whyn)
{
	int fd = connect_to(host, port, timeout_s, why, whyn);
	if (fd < 0)
		return -1;
	for (size_t off = 0; off < reqlen;) {
		ssize_t w = send(fd, request + off, reqlen - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(why, whyn, "cannot send to %s: %s", host, strerror(errno));
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	size_t cap = HEAD_MAX + body_max, n = 0;
	char *b = malloc(cap + 1);
	if (!b)
		fail(EXIT_OTHER, "out of memory");
	for (;;) {
		if (n == cap) {
			snprintf(why, whyn, "the answer of %s is larger than %zu bytes", host, cap);
			goto bad;
		}
		ssize_t r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, whyn, "cannot read from %s: %s", host,
				 errno == EAGAIN ? "timed out" : strerror(errno));
			goto bad;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	fd = -1;
	b[n] = 0;
	char *hend = NULL;
	for (size_t i = 0; i + 3 < n && i < HEAD_MAX; i++)
		if (!memcmp(b + i, "\r\n\r\n", 4)) {
			hend = b + i + 2;
			break;
		}
	int status = 0;
	if (!hend || strncmp(b, "HTTP/1.", 7) != 0 || n < 12 || b[8] != ' ' ||
	    sscanf(b + 9, "%3d", &status) != 1 || status < 100 || status > 599) {
		snprintf(why, whyn, "the answer of %s is not HTTP", host);
		goto bad;
	}
	char *body = hend + 2;
	size_t len = n - (size_t)(body - b), vl, cl;
	const char *v = header(b, hend, "Transfer-Encoding", &vl);
	if (v && !(vl == 7 && !strncasecmp(v, "chunked", 7))) {
		snprintf(why, whyn, "the answer of %s has a transfer coding it cannot read", host);
		goto bad;
	}
	if (v) {
		if (!dechunk(body, len, &len)) {
			snprintf(why, whyn, "the answer of %s has a malformed chunked body", host);
			goto bad;
		}
	} else if ((v = header(b, hend, "Content-Length", &vl))) {
		if (!parse_size(v, vl, 10, &cl) || cl > len) {
			snprintf(why, whyn, "the answer of %s is shorter than its Content-Length",
				 host);
			goto bad;
		}
		len = cl;
	}
	if (len > body_max) {
		snprintf(why, whyn, "the answer of %s is larger than %zu bytes", host, body_max);
		goto bad;
	}
	memmove(b, body, len);
	b[len] = 0;
	ret->status = status;
	ret->body = b;
	ret->len = len;
	return 0;
bad:
	if (fd >= 0)
		close(fd);
	free(b);
	return -1;
}

/* --- the metadata service ------------------------------------------------------------------ */

static char imds_token[128];
static bool imds_token_tried;

/* GET path from the metadata service: the body of a 200, else NULL (*status the answer's, 0 if
 * none). An IMDSv2 token is asked for once; a service that does not give one is asked in v1. */
static char *imds_get(const char *path, int *status)
{
	char req[1024], why[256];
	struct answer a;
	*status = 0;
	if (!imds_token_tried) {
		imds_token_tried = true;
		int n = snprintf(req, sizeof(req),
				 "PUT /latest/api/token HTTP/1.1\r\nHost: " IMDS_HOST "\r\n"
				 "X-aws-ec2-metadata-token-ttl-seconds: 60\r\nContent-Length: 0\r\n"
				 "Connection: close\r\n\r\n");
		if (http(IMDS_HOST, "80", req, (size_t)n, IMDS_BODY_MAX, IMDS_TIMEOUT_S, &a, why,
			 sizeof(why)) < 0)
			return NULL; /* nothing answers: no metadata service at all */
		if (a.status == 200 && strlen(a.body) == a.len &&
		    token_ok(a.body, sizeof(imds_token) - 1))
			snprintf(imds_token, sizeof(imds_token), "%s", a.body);
		free(a.body);
	}
	int n = snprintf(
	    req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: " IMDS_HOST "\r\n%s%s%sConnection: close\r\n\r\n", path,
	    *imds_token ? "X-aws-ec2-metadata-token: " : "", imds_token, *imds_token ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(req))
		return NULL;
	if (http(IMDS_HOST, "80", req, (size_t)n, IMDS_BODY_MAX, IMDS_TIMEOUT_S, &a, why,
		 sizeof(why)) < 0)
		return NULL;
	*status = a.status;
	if (a.status != 200 || strlen(a.body) != a.len) {
		free(a.body);
		return NULL;
	}
	return a.body;
}

static bool imds_disabled(void)
{
	const char *d = getenv("AWS_EC2_METADATA_DISABLED");
	return d && !strcasecmp(d, "true");
}

/* --- the role's credentials: a minimal JSON reader ----------------------------------------- */

struct json {
	const char *p, *end;
};

static void json_ws(struct json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* A string at j->p into out (cap bytes with the NUL), or skipped with out NULL. Escapes are
 * read; a \u escape, a control character or a value too long is an error when kept (the
 * values kept are ASCII tokens), and only checked when skipped. */
static bool json_string(struct json *j, char *out, size_t cap)
{
	size_t n = 0;
	if (j->p >= j->end || *j->p != '"')
		return false;
	j->p++;
	while (j->p < j->end && *j->p != '"') {
		char c = *j->p++;
		if ((unsigned char)c < 0x20)
			return false;
		if (c == '\\') {
			if (j->p >= j->end)
				return false;
			char x = *j->p++;
			const char *esc = strchr("\"\\/bfnrt", x);
			if (x == 'u') {
				if (out || j->end - j->p < 4)
					return false;
				for (int i = 0; i < 4; i++, j->p++)
					if (!strchr("0123456789abcdefABCDEF", *j->p))
						return false;
				continue;
			}
			if (!esc || !x)
				return false;
			c = "\"\\/\b\f\n\r\t"[esc - "\"\\/bfnrt"];
		}
		if (out) {
			if (n + 1 >= cap)
				return false;
			out[n++] = c;
		}
	}
	if (j->p >= j->end)
		return false;
	j->p++;
	if (out)
		out[n] = 0;
	return true;
}

/* Any value, skipped; nesting at most `depth` deep. */
static bool json_skip(struct json *j, int depth)
{
	json_ws(j);
	if (j->p >= j->end || depth <= 0)
		return false;
	char c = *j->p;
	if (c == '"')
		return json_string(j, NULL, 0);
	if (c == '{' || c == '[') {
		char end = c == '{' ? '}' : ']';
		j->p++;
		json_ws(j);
		if (j->p < j->end && *j->p == end) {
			j->p++;
			return true;
		}
		for (;;) {
			if (c == '{') {
				json_ws(j);
				if (!json_string(j, NULL, 0))
					return false;
				json_ws(j);
				if (j->p >= j->end || *j->p++ != ':')
					return false;
			}
			if (!json_skip(j, depth - 1))
				return false;
			json_ws(j);
			if (j->p >= j->end)
				return false;
			if (*j->p == end) {
				j->p++;
				return true;
			}
			if (*j->p++ != ',')
				return false;
		}
	}
	/* A number, true, false or null: its characters, at least one. */
	const char *start = j->p;
	while (j->p < j->end && *j->p && strchr("0123456789+-.eEtruefalsn", *j->p))
		j->p++;
	return j->p > start;
}

struct creds {
	char key[KEY_MAX + 1], secret[SECRET_MAX + 1], token[TOKEN_MAX + 1];
};

/* {"Code": "Success", "AccessKeyId": ..., "SecretAccessKey": ..., "Token": ..., ...}: the
 * three values, each a header-safe token; any other member is skipped. */
static bool creds_parse(const char *s, size_t n, struct creds *c, char *code, size_t coden)
{
	struct json j = {s, s + n};
	char name[64];
	const struct {
		const char *name;
		char *dst;
		size_t cap;
	} keep[] = {{"AccessKeyId", c->key, sizeof(c->key)},
		    {"SecretAccessKey", c->secret, sizeof(c->secret)},
		    {"Token", c->token, sizeof(c->token)},
		    {"Code", code, coden}};
#define NKEEP (sizeof(keep) / sizeof(keep[0]))
	*code = 0;
	json_ws(&j);
	if (j.p >= j.end || *j.p++ != '{')
		return false;
	for (;;) {
		json_ws(&j);
		const char *at = j.p;
		if (!json_string(&j, name, sizeof(name))) {
			/* A name too long for us is one we do not want: skip it as any other. */
			j.p = at;
			if (!json_string(&j, NULL, 0))
				return false;
			*name = 0;
		}
		json_ws(&j);
		if (j.p >= j.end || *j.p++ != ':')
			return false;
		json_ws(&j);
		size_t k = 0;
		while (k < NKEEP && strcmp(name, keep[k].name) != 0)
			k++;
		if (k < NKEEP ? !json_string(&j, keep[k].dst, keep[k].cap) : !json_skip(&j, 16))
			return false;
		json_ws(&j);
		if (j.p >= j.end)
			return false;
		if (*j.p == '}')
			break;
		if (*j.p++ != ',')
			return false;
	}
	return token_ok(c->key, KEY_MAX) && token_ok(c->secret, SECRET_MAX) &&
	       (!*c->token || token_ok(c->token, TOKEN_MAX));
}

static void creds_from_imds(struct creds *c)
{
	int st;
	if (imds_disabled())
		fail(EXIT_CONFIG, "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
				  "(AWS_EC2_METADATA_DISABLED is set)");
	char *list = imds_get("/latest/meta-data/iam/security-credentials/", &st);
	if (!list)
		fail(EXIT_CONFIG,
		     st == 404 ? "no credentials: the instance has no IAM role, and "
				 "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"
		     : st      ? "no credentials: the metadata service answered %d for the role"
			  : "no credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not "
			    "set, "
			    "and the metadata service does not answer",
		     st);
	/* The role is the first line; it goes into a path, so its characters are checked. */
	list[strcspn(list, "\r\n")] = 0;
	if (!chars_in(list, 128, "_+=,.@-"))
		fail(EXIT_CONFIG, "no credentials: the metadata service names no valid role");
	char path[256];
	snprintf(path, sizeof(path), "/latest/meta-data/iam/security-credentials/%s", list);
	free(list);
	char *doc = imds_get(path, &st);
	if (!doc)
		fail(EXIT_CONFIG,
		     "no credentials: the metadata service answered %d for the role's credentials",
		     st);
	char code[64];
	bool ok = creds_parse(doc, strlen(doc), c, code, sizeof(code));
	OPENSSL_cleanse(doc, strlen(doc));
	free(doc);
	if (!ok)
		fail(EXIT_CONFIG, "no credentials: the role's credentials from the metadata "
				  "service do not parse");
	if (*code && strcmp(code, "Success") != 0)
		fail(EXIT_CONFIG, "no credentials: the metadata service says '%s'", code);
}

static void creds_load(struct creds *c)
{
	const char *k = getenv("AWS_ACCESS_KEY_ID"), *s = getenv("AWS_SECRET_ACCESS_KEY");
	const char *t = getenv("AWS_SESSION_TOKEN");
	if ((k && *k) || (s && *s)) {
		if (!k || !s || !token_ok(k, KEY_MAX) || !token_ok(s, SECRET_MAX))
			fail(EXIT_CONFIG, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: both, "
					  "printable, without spaces");
		if (t && *t && !token_ok(t, TOKEN_MAX))
			fail(EXIT_CONFIG,
			     "AWS_SESSION_TOKEN: printable, without spaces, at most %d bytes",
			     TOKEN_MAX);
		snprintf(c->key, sizeof(c->key), "%s", k);
		snprintf(c->secret, sizeof(c->secret), "%s", s);
		snprintf(c->token, sizeof(c->token), "%s", t ? t : "");
		return;
	}
	creds_from_imds(c);
}

static void region_load(char region[static 33])
{
	const char *r = getenv("AWS_REGION");
	if (!r || !*r)
		r = getenv("AWS_DEFAULT_REGION");
	if (r && *r) {
		if (!chars_in(r, 32, "-"))
			fail(EXIT_CONFIG, "the region '%.40s' is not a region name", r);
		snprintf(region, 33, "%s", r);
		return;
	}
	int st;
	char *got = imds_disabled() ? NULL : imds_get("/latest/meta-data/placement/region", &st);
	if (!got)
		fail(EXIT_CONFIG, "no region: set AWS_REGION (the metadata service does not say)");
	if (!chars_in(got, 32, "-"))
		fail(EXIT_CONFIG, "no region: the metadata service's is not a region name");
	snprintf(region, 33, "%s", got);
	free(got);
}

/* --- SigV4 --------------------------------------------------------------------------------- */

static void hexs(const unsigned char *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void sha256_hex(const char *s, size_t n, char out[static 65])
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)s, n, d);
	hexs(d, sizeof(d), out);
}

static void hmac(const void *key, size_t kn, const char *msg, unsigned char out[static 32])
{
	unsigned int n = 32;
	if (!HMAC(EVP_sha256(), key, (int)kn, (const unsigned char *)msg, strlen(msg), out, &n))
		fail(EXIT_OTHER, "HMAC-SHA256 failed");
}

/* The Authorization header's value for a POST of `body` to host/path. */
static void sigv4(const struct creds *c, const char *region, const char *host, const char *path,
		  const char *amzdate, const char *ctype, const char *body, size_t blen,
		  struct buf *auth)
{
	char bh[65], ch[65], date[9];
	snprintf(date, sizeof(date), "%.8s", amzdate);
	sha256_hex(body, blen, bh);
	const char *signed_headers = *c->token ? "content-type;host;x-amz-date;x-amz-security-token"
					       : "content-type;host;x-amz-date";
	struct buf cr = {0}, sts = {0};
	buf_printf(&cr, "POST\n%s\n\ncontent-type:%s\nhost:%s\nx-amz-date:%s\n", path, ctype, host,
		   amzdate);
	if (*c->token) {
		buf_add(&cr, "x-amz-security-token:", 21);
		buf_add(&cr, c->token, strlen(c->token));
		buf_add(&cr, "\n", 1);
	}
	buf_printf(&cr, "\n%s\n%s", signed_headers, bh);
	sha256_hex(cr.s, cr.n, ch);
	buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/ec2/aws4_request\n%s", amzdate, date, region,
		   ch);
	unsigned char k[32];
	char ksecret[SECRET_MAX + 5], sig[65];
	snprintf(ksecret, sizeof(ksecret), "AWS4%s", c->secret);
	hmac(ksecret, strlen(ksecret), date, k);
	OPENSSL_cleanse(ksecret, sizeof(ksecret));
	hmac(k, 32, region, k);
	hmac(k, 32, "ec2", k);
	hmac(k, 32, "aws4_request", k);
	hmac(k, 32, sts.s, k);
	hexs(k, 32, sig);
	OPENSSL_cleanse(k, sizeof(k));
	buf_printf(
	    auth,
	    "AWS4-HMAC-SHA256 Credential=%s/%s/%s/ec2/aws4_request, SignedHeaders=%s, Signature=%s",
	    c->key, date, region, signed_headers, sig);
	free(cr.s);
	free(sts.s);
}

/* --- the endpoint -------------------------------------------------------------------------- */

struct endpoint {
	char host[256]; /* as in the Host header: with the port when it is not 80 */
	char name[256], port[6], path[256];
};

static void endpoint_parse(const char *url, struct endpoint *ep)
{
	if (!strncmp(url, "https://", 8))
		fail(EXIT_USAGE, "'%.200s': this client speaks plain HTTP only (http://...)", url);
	if (strncmp(url, "http://", 7) != 0)
		fail(EXIT_USAGE, "'%.200s' is not an http:// URL", url);
	const char *h = url + 7, *slash = strchr(h, '/');
	size_t hl = slash ? (size_t)(slash - h) : strlen(h);
	if (hl == 0 || hl >= sizeof(ep->host))
		fail(EXIT_USAGE, "'%.200s': no host", url);
	snprintf(ep->host, sizeof(ep->host), "%.*s", (int)hl, h);
	snprintf(ep->path, sizeof(ep->path), "%s", slash && *slash ? slash : "/");
	/* The path is signed as it is: only characters that need no encoding. */
	if (!chars_in(ep->path, sizeof(ep->path) - 1, "/-_.~"))
		fail(EXIT_USAGE, "'%.200s': a path of letters, digits and -_.~/ only", url);
	const char *colon = strrchr(ep->host, ':');
	snprintf(ep->name, sizeof(ep->name), "%.*s", colon ? (int)(colon - ep->host) : (int)hl,
		 ep->host);
	snprintf(ep->port, sizeof(ep->port), "%s", colon ? colon + 1 : "80");
	size_t port;
	if (!chars_in(ep->name, sizeof(ep->name) - 1, "-.") ||
	    !parse_size(ep->port, strlen(ep->port), 10, &port) || port == 0 || port > 65535)
		fail(EXIT_USAGE,
		     "'%.200s': http://HOST[:PORT][/PATH], HOST a name or an IPv4 address", url);
	if (port == 80)
		snprintf(ep->host, sizeof(ep->host), "%s", ep->name);
}

/* The first <tag>...</tag> of an XML error document, entities undone, or "". */
static void xml_text(const char *body, size_t len, const char *tag, char *out, size_t cap)
{
	char otag[32], ctag[32];
	snprintf(otag, sizeof(otag), "<%s>", tag);
	snprintf(ctag, sizeof(ctag), "</%s>", tag);
	*out = 0;
	const char *a = memmem(body, len, otag, strlen(otag));
	if (!a)
		return;
	a += strlen(otag);
	const char *b = memmem(a, len - (size_t)(a - body), ctag, strlen(ctag));
	if (!b)
		return;
	static const char *const ent[][2] = {
	    {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}, {"&quot;", "\""}, {"&apos;", "'"}};
	size_t n = 0;
	while (a < b && n + 1 < cap) {
		bool done = false;
		for (size_t i = 0; i < sizeof(ent) / sizeof(ent[0]) && !done; i++) {
			size_t el = strlen(ent[i][0]);
			if ((size_t)(b - a) >= el && !memcmp(a, ent[i][0], el)) {
				out[n++] = ent[i][1][0];
				a += el;
				done = true;
			}
		}
		if (!done) {
			/* Printable text only: a hostile answer writes no escape sequence on a
			 * terminal. */
			unsigned char c = (unsigned char)*a++;
			out[n++] = c < ' ' || c == 127 ? ' ' : (char)c;
		}
	}
	out[n] = 0;
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: %s ec2 ACTION [Name=Value ...]\n"
	    "  One EC2 Query API call, parameters as EC2 takes them on the wire, e.g.\n"
	    "    %s ec2 DescribeInstances InstanceId.1=i-0123456789abcdef0\n"
	    "    %s ec2 AssociateAddress AllocationId=eipalloc-... NetworkInterfaceId=eni-... "
	    "AllowReassociation=true\n"
	    "  Prints the XML answer. Endpoint: $AWS_ENDPOINT_URL_EC2, $AWS_ENDPOINT_URL or\n"
	    "  http://ec2.REGION.amazonaws.com; region: $AWS_REGION or the metadata service's;\n"
	    "  credentials: $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY[/$AWS_SESSION_TOKEN] or the\n"
	    "  instance role's. Exit 0, 254 (an error answer), 252 (usage), 253 (no region or\n"
	    "  credentials), 255 (no answer).\n",
	    prog, prog, prog);
}

int main(int argc, char **argv)
{
	if (argc == 2 &&
	    (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
		usage(stdout);
		return 0;
	}
	if (argc < 3 || strcmp(argv[1], "ec2") != 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *action = argv[2];
	if (!chars_in(action, 128, ""))
		fail(EXIT_USAGE, "'%.200s' is not an action name", action);

	/* The form: Action, Version (unless given), then the parameters in their order. */
	struct buf body = {0};
	bool version = false;
	buf_add(&body, "Action=", 7);
	buf_urlenc(&body, action, strlen(action));
	for (int i = 3; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		if (!eq || eq == argv[i])
			fail(EXIT_USAGE, "'%.200s': parameters are Name=Value", argv[i]);
		if ((size_t)(eq - argv[i]) == 6 && !strncmp(argv[i], "Action", 6))
			fail(EXIT_USAGE, "the action is the second argument, not a parameter");
		version |= (size_t)(eq - argv[i]) == 7 && !strncmp(argv[i], "Version", 7);
		buf_add(&body, "&", 1);
		buf_urlenc(&body, argv[i], (size_t)(eq - argv[i]));
		buf_add(&body, "=", 1);
		buf_urlenc(&body, eq + 1, strlen(eq + 1));
	}
	if (!version)
		buf_add(&body, "&Version=" API_VERSION, strlen("&Version=" API_VERSION));

	char region[33], url[300];
	struct endpoint ep;
	region_load(region);
	const char *eu = getenv("AWS_ENDPOINT_URL_EC2");
	if (!eu || !*eu)
		eu = getenv("AWS_ENDPOINT_URL");
	if (!eu || !*eu) {
		snprintf(url, sizeof(url), "http://ec2.%s.amazonaws.com", region);
		eu = url;
	}
	endpoint_parse(eu, &ep);
	struct creds c = {0};
	creds_load(&c);

	char amzdate[17];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(amzdate, sizeof(amzdate), "%Y%m%dT%H%M%SZ", &tm);
	const char *ctype = "application/x-www-form-urlencoded; charset=utf-8";
	struct buf auth = {0}, req = {0};
	sigv4(&c, region, ep.host, ep.path, amzdate, ctype, body.s, body.n, &auth);
	buf_printf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nX-Amz-Date: %s\r\n",
		   ep.path, ep.host, ctype, amzdate);
	if (*c.token) {
		buf_add(&req, "X-Amz-Security-Token: ", 22);
		buf_add(&req, c.token, strlen(c.token));
		buf_add(&req, "\r\n", 2);
	}
	buf_printf(&req,
		   "Authorization: %s\r\nUser-Agent: vpclab-aws/1\r\nContent-Length: "
		   "%zu\r\nConnection: close\r\n\r\n",
		   auth.s, body.n);
	buf_add(&req, body.s, body.n);
	OPENSSL_cleanse(&c, sizeof(c));

	struct answer a;
	char why[512];
	if (http(ep.name, ep.port, req.s, req.n, API_BODY_MAX, API_TIMEOUT_S, &a, why,
		 sizeof(why)) < 0)
		fail(EXIT_OTHER, "%s", why);
	if (a.status == 200) {
		fwrite(a.body, 1, a.len, stdout);
		if (a.len && a.body[a.len - 1] != '\n')
			fputc('\n', stdout);
		return fflush(stdout) == 0 ? 0 : EXIT_OTHER;
	}
	char code[256], msg[2048];
	xml_text(a.body, a.len, "Code", code, sizeof(code));
	xml_text(a.body, a.len, "Message", msg, sizeof(msg));
	if (*code)
		fprintf(stderr, "\nAn error occurred (%s) when calling the %s operation: %s\n",
			code, action, msg);
	else
		fprintf(stderr, "\nAn error occurred (%d) when calling the %s operation\n",
			a.status, action);
	return EXIT_SERVICE;
}
