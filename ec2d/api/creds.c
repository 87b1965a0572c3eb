/* Access keys: the AWS shared credentials file format, so `aws configure` files and the
 * ones ec2d writes are the same thing. */
#include "api.h"
#include "cleanup.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>

#define CREDS_MAX_BYTES (1u << 20)

struct cred {
	char *profile, *id, *secret;
};

struct api_creds {
	struct cred *v;
	size_t n;
};

static void cred_clear(struct cred *c)
{
	free(c->profile);
	free(c->id);
	if (c->secret) {
		OPENSSL_cleanse(c->secret, strlen(c->secret));
		free(c->secret);
	}
	*c = (struct cred){0};
}

void api_creds_free(struct api_creds *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		cred_clear(&c->v[i]);
	free(c->v);
	free(c);
}

const char *api_creds_secret(const struct api_creds *c, const char *access_key)
{
	for (size_t i = 0; c && access_key && i < c->n; i++)
		if (!strcmp(c->v[i].id, access_key))
			return c->v[i].secret;
	return NULL;
}

const char *api_creds_profile(const struct api_creds *c, const char *access_key)
{
	for (size_t i = 0; c && access_key && i < c->n; i++)
		if (!strcmp(c->v[i].id, access_key))
			return c->v[i].profile;
	return NULL;
}

const char *api_creds_first_key(const struct api_creds *c)
{
	return c && c->n ? c->v[0].id : NULL;
}

static char *trim(char *s)
{
	char *end;
	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = 0;
	return s;
}

/* An access key id must fit the credential scope: printable, no '/', under 64 bytes. */
static bool valid_key_id(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63)
		return false;
	for (; *s; s++)
		if (*s == '/' || !isgraph((unsigned char)*s))
			return false;
	return true;
}

/* Ends the profile being read: keeps it if it has both halves. */
static int profile_end(struct api_creds *c, struct cred *cur, const char *path, struct err *e)
{
	struct cred *v;
	if (!cur->profile || !cur->id || !cur->secret) {
		cred_clear(cur);
		return 0;
	}
	if (!valid_key_id(cur->id)) {
		int r = err_setr(e, -EINVAL, "InternalError",
				 "The aws_access_key_id of profile '%s' in '%s' is not usable",
				 cur->profile, path);
		cred_clear(cur);
		return r;
	}
	if (!cur->secret[0] || api_creds_secret(c, cur->id)) {
		cred_clear(cur); /* an empty secret, or the key id already given */
		return 0;
	}
	v = realloc(c->v, (c->n + 1) * sizeof(*v));
	if (!v) {
		cred_clear(cur);
		return err_setr(e, -ENOMEM, "InternalError", "Out of memory reading '%s'", path);
	}
	c->v = v;
	c->v[c->n++] = *cur;
	*cur = (struct cred){0};
	return 0;
}

static int set_field(char **field, const char *value, const char *path, struct err *e)
{
	char *s = strdup(value);
	if (!s)
		return err_setr(e, -ENOMEM, "InternalError", "Out of memory reading '%s'", path);
	if (*field) {
		OPENSSL_cleanse(*field, strlen(*field));
		free(*field);
	}
	*field = s;
	return 0;
}

static int parse(struct api_creds *c, char *text, const char *path, struct err *e)
{
	struct cred cur = {0};
	unsigned lineno = 0;
	char *next = text;
	bool nested = false; /* after "s3 =": indented lines are its sub-settings */
	int r = 0;

	while (next) {
		char *line = next, *s, *eq, *nl = strchr(line, '\n');
		next = nl ? nl + 1 : NULL;
		if (nl)
			*nl = 0;
		lineno++;
		s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		/* Indented lines under a key with an empty value ("s3 =") are its nested
		 * settings, nothing of ours; any other indentation is only whitespace. */
		if (nested && (line[0] == ' ' || line[0] == '\t'))
			continue;
		nested = false;
		if (*s == '[') {
			char *close = strchr(s, ']');
			if (!close)
				goto bad;
			*close = 0;
			r = profile_end(c, &cur, path, e);
			if (r < 0)
				goto out;
			r = set_field(&cur.profile, trim(s + 1), path, e);
			if (r < 0)
				goto out;
			continue;
		}
		eq = strchr(s, '=');
		if (!eq)
			goto bad;
		*eq = 0;
		nested = !*trim(eq + 1);
		if (!cur.profile)
			continue;
		if (!strcasecmp(trim(s), "aws_access_key_id"))
			r = set_field(&cur.id, trim(eq + 1), path, e);
		else if (!strcasecmp(trim(s), "aws_secret_access_key"))
			r = set_field(&cur.secret, trim(eq + 1), path, e);
		if (r < 0)
			goto out;
	}
	r = profile_end(c, &cur, path, e);
	goto out;
bad:
	r = err_setr(e, -EINVAL, "InternalError", "Line %u of credentials file '%s' does not parse",
		     lineno, path);
out:
	cred_clear(&cur);
	return r;
}

int api_creds_load(const char *path, struct api_creds **ret, struct err *e)
{
	_cleanup_(api_creds_freep) struct api_creds *c = NULL;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL;
	struct stat st;
	size_t got = 0;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0)
		return err_setr(e, -errno, "InternalError", "Cannot read credentials file '%s': %m",
				path);
	if (!S_ISREG(st.st_mode) || st.st_size > CREDS_MAX_BYTES)
		return err_setr(e, -EFBIG, "InternalError",
				"Credentials file '%s' is not a regular file under 1 MiB", path);
	text = malloc((size_t)st.st_size + 1);
	c = calloc(1, sizeof(*c));
	if (!text || !c)
		return err_setr(e, -ENOMEM, "InternalError", "Out of memory reading '%s'", path);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_setr(e, -errno, "InternalError",
					"Cannot read credentials file '%s': %m", path);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	text[got] = 0;
	if (memchr(text, 0, got))
		return err_setr(e, -EINVAL, "InternalError",
				"Credentials file '%s' contains a NUL byte", path);
	r = parse(c, text, path, e);
	OPENSSL_cleanse(text, got);
	if (r < 0)
		return r;
	if (c->n == 0)
		return err_setr(e, -ENOKEY, "InternalError",
				"Credentials file '%s' has no profile with aws_access_key_id and "
				"aws_secret_access_key",
				path);
	*ret = TAKE_PTR(c);
	return 0;
}

static int random_chars(char *out, size_t n, const char *alphabet, unsigned mask)
{
	unsigned char buf[64];
	size_t got = 0;
	if (n > sizeof(buf))
		return -EINVAL;
	while (got < n) {
		ssize_t r = getrandom(buf + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		got += (size_t)r;
	}
	/* The alphabets have 32 or 64 letters: masking keeps every letter equally likely. */
	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[buf[i] & mask];
	out[n] = 0;
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int api_creds_generate(const char *path, struct api_creds **ret, struct err *e)
{
	static const char base32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	static const char base64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	char id[21], secret[41], text[160];
	int r, n;

	r = api_creds_load(path, ret, e);
	if (r != -ENOENT)
		return r;
	if (e)
		err_clear(e);

	memcpy(id, "AKIA", 4);
	r = random_chars(id + 4, 16, base32, 31);
	if (r >= 0)
		r = random_chars(secret, 40, base64, 63);
	if (r < 0)
		return err_setr(e, r, "InternalError", "getrandom: %s", strerror(-r));
	n = snprintf(text, sizeof(text),
		     "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", id, secret);
	OPENSSL_cleanse(secret, sizeof(secret));

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		tmp = NULL;
		r = err_setr(e, -ENOMEM, "InternalError", "Out of memory writing '%s'", path);
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = err_setr(e, -errno, "InternalError", "Cannot create '%s': %m", tmp);
		goto out;
	}
	r = fchmod(fd, 0600) < 0 ? -errno : write_all(fd, text, (size_t)n);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0) {
		errno = -r;
		r = err_setr(e, r, "InternalError", "Cannot write '%s': %m", tmp);
		unlink(tmp);
		goto out;
	}
	/* link() does not replace: if another ec2d won the race, its keys are the ones. */
	if (link(tmp, path) < 0 && errno != EEXIST) {
		if ((errno == EPERM || errno == ENOTSUP) && rename(tmp, path) == 0)
			goto load;
		r = err_setr(e, -errno, "InternalError", "Cannot create '%s': %m", path);
		unlink(tmp);
		goto out;
	}
	unlink(tmp);
load:
	r = api_creds_load(path, ret, e);
out:
	OPENSSL_cleanse(text, sizeof(text));
	return r;
}

/* --- Session credentials (api.h; the format: docs/architecture.md, "The metadata service") --- */

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

bool api_role_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > API_ROLE_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_+=,.@-", *s))
			return false;
	return true;
}

static bool instance_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 31)
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '-')
			return false;
	return true;
}

long long api_session_window(long long now, long long *ret_expires)
{
	/* Windows of TTL - REFRESH seconds: the set of a window is served from its start until
	 * REFRESH seconds before it expires, when the next window's set takes over. Windows are
	 * the same for every instance, so the answer needs no state. */
	long long w = API_SESSION_TTL - API_SESSION_REFRESH;
	long long issued = now - ((now % w) + w) % w;
	*ret_expires = issued + API_SESSION_TTL;
	return issued;
}

static const char *master_secret(const struct api_creds *c)
{
	return api_creds_secret(c, api_creds_first_key(c));
}

static int mac(const char *master, const char *msg, size_t n, unsigned char out[32])
{
	unsigned len = 0;
	if (!HMAC(EVP_sha256(), master, (int)strlen(master), (const unsigned char *)msg, n, out,
		  &len) ||
	    len != 32)
		return -EIO;
	return 0;
}

/* Unpadded base64 of `alphabet` (standard or URL-safe); out has room for 4 * ceil(n/3) + 1. */
static size_t b64_write(const unsigned char *d, size_t n, const char *alphabet, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0) |
			     (i + 2 < n ? d[i + 2] : 0);
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		if (i + 1 < n)
			out[o++] = alphabet[v >> 6 & 63];
		if (i + 2 < n)
			out[o++] = alphabet[v & 63];
	}
	out[o] = 0;
	return o;
}

/* Strict unpadded base64url: only its alphabet, no length that no encoding has, and unused
 * bits zero (so one token has one spelling). Returns the length, -1 if not one. */
static long b64url_read(const char *s, size_t n, unsigned char *out, size_t cap)
{
	unsigned v = 0;
	int bits = 0;
	size_t o = 0;
	if (n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *p = s[i] ? strchr(b64url_alphabet, s[i]) : NULL;
		if (!p)
			return -1;
		v = (v << 6 | (unsigned)(p - b64url_alphabet)) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap)
				return -1;
			out[o++] = (unsigned char)(v >> bits);
		}
	}
	if (bits && (v & ((1u << bits) - 1)))
		return -1;
	return (long)o;
}

/* "v1|instance|role|expires|AccessKeyId", the part of the token its HMAC covers. */
static int token_payload(const char *instance, const char *role, long long expires,
			 const char *access_key, char out[static 256])
{
	int n = snprintf(out, 256, "v1|%s|%s|%lld|%s", instance, role, expires, access_key);
	return n > 0 && n < 256 ? n : -ENAMETOOLONG;
}

int api_session_derive(const struct api_creds *c, const char *instance, const char *role,
		       long long expires, struct api_session *ret, struct err *e)
{
	const char *master = master_secret(c);
	struct api_session s = {.expires = expires};
	unsigned char h[32], tok[256 + 1 + 43];
	char msg[256], b64[45];
	int n, r;

	if (!master)
		return err_setr(e, -ENOKEY, "InternalError", "No credentials to derive a session from");
	if (!instance_valid(instance) || !api_role_name_valid(role) || expires < 0)
		return err_setr(e, -EINVAL, "InternalError", "No session for '%.64s' as '%.64s'",
				instance, role);
	snprintf(s.instance, sizeof(s.instance), "%s", instance);
	snprintf(s.role, sizeof(s.role), "%s", role);

	/* AccessKeyId: ASIA and the base32 of 10 bytes of HMAC(master, "key|i|role|expires"). */
	n = snprintf(msg, sizeof(msg), "key|%s|%s|%lld", instance, role, expires);
	if ((r = mac(master, msg, (size_t)n, h)) < 0)
		goto fail;
	memcpy(s.access_key, "ASIA", 4);
	for (int i = 0; i < 16; i++) {
		int bit = i * 5, byte = bit / 8, off = bit % 8;
		unsigned v = (unsigned)h[byte] << 8 | h[byte + 1];
		s.access_key[4 + i] = b32_alphabet[(v >> (11 - off)) & 31];
	}
	s.access_key[20] = 0;

	/* SecretAccessKey: 40 characters of the base64 of HMAC(master, "secret|AccessKeyId"). */
	n = snprintf(msg, sizeof(msg), "secret|%s", s.access_key);
	if ((r = mac(master, msg, (size_t)n, h)) < 0)
		goto fail;
	b64_write(h, 32, b64_alphabet, b64);
	memcpy(s.secret, b64, 40);
	s.secret[40] = 0;

	/* Token: base64url of "payload|base64url(HMAC(master, payload))". */
	if ((n = token_payload(instance, role, expires, s.access_key, msg)) < 0) {
		r = n;
		goto fail;
	}
	if ((r = mac(master, msg, (size_t)n, h)) < 0)
		goto fail;
	memcpy(tok, msg, (size_t)n);
	tok[n] = '|';
	n += 1 + (int)b64_write(h, 32, b64url_alphabet, (char *)tok + n + 1);
	if ((size_t)(n + 2) / 3 * 4 > API_SESSION_TOKEN_MAX) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	b64_write(tok, (size_t)n, b64url_alphabet, s.token);
	*ret = s;
	r = 0;
fail:
	OPENSSL_cleanse(h, sizeof(h));
	OPENSSL_cleanse(b64, sizeof(b64));
	OPENSSL_cleanse(&s, sizeof(s));
	if (r < 0)
		return err_setr(e, r, "InternalError", "Cannot derive a session: %s", strerror(-r));
	return 0;
}

int api_session_check(const struct api_creds *c, const char *access_key, const char *token,
		      long long now, struct api_session *ret, struct err *e)
{
	static const char invalid[] = "AWS was not able to validate the provided access credentials";
	unsigned char raw[API_SESSION_TOKEN_MAX], h[32];
	char *field[6], *end, want[44];
	struct api_session s;
	long long expires;
	size_t n = token ? strlen(token) : 0;
	long len;
	int nf = 0, r;

	if (!token || n == 0 || n > API_SESSION_TOKEN_MAX || !access_key)
		return err_setr(e, -EACCES, "AuthFailure", "%s", invalid);
	len = b64url_read(token, n, raw, sizeof(raw) - 1);
	if (len < 0 || memchr(raw, 0, (size_t)len))
		return err_setr(e, -EACCES, "AuthFailure", "%s", invalid);
	raw[len] = 0;
	/* v1 | instance | role | expires | AccessKeyId | mac: no field may hold a '|'. */
	for (char *p = (char *)raw;; p++) {
		if (nf == 6)
			return err_setr(e, -EACCES, "AuthFailure", "%s", invalid);
		field[nf++] = p;
		p = strchr(p, '|');
		if (!p)
			break;
		*p = 0;
	}
	if (nf != 6 || strcmp(field[0], "v1") || !instance_valid(field[1]) ||
	    !api_role_name_valid(field[2]) || !isdigit((unsigned char)field[3][0]) ||
	    strlen(field[3]) > 12 || strlen(field[5]) != 43)
		return err_setr(e, -EACCES, "AuthFailure", "%s", invalid);
	errno = 0;
	expires = strtoll(field[3], &end, 10);
	if (errno || *end)
		return err_setr(e, -EACCES, "AuthFailure", "%s", invalid);
	/* Derive again from what the token names: the MAC and the key must be the ones made. */
	if (api_session_derive(c, field[1], field[2], expires, &s, NULL) < 0)
		return err_setr(e, -EACCES, "AuthFailure", "%s", invalid);
	{
		char msg[256];
		int m = token_payload(field[1], field[2], expires, field[4], msg);
		r = m < 0 ? m : mac(master_secret(c), msg, (size_t)m, h);
	}
	if (r == 0)
		b64_write(h, 32, b64url_alphabet, want);
	/* Both compared whole, whatever the first says, so the time tells nothing. */
	bool good = r == 0 && strlen(field[4]) == 20 && strlen(access_key) == 20;
	good &= r == 0 && CRYPTO_memcmp(want, field[5], 43) == 0;
	good &= strlen(field[4]) == 20 && CRYPTO_memcmp(field[4], s.access_key, 20) == 0;
	good &= strlen(access_key) == 20 && CRYPTO_memcmp(access_key, s.access_key, 20) == 0;
	OPENSSL_cleanse(h, sizeof(h));
	if (!good) {
		OPENSSL_cleanse(&s, sizeof(s));
		return err_setr(e, -EACCES, "AuthFailure", "%s", invalid);
	}
	if (now >= expires) {
		OPENSSL_cleanse(&s, sizeof(s));
		return err_setr(e, -ETIME, "RequestExpired", "Request has expired.");
	}
	*ret = s;
	OPENSSL_cleanse(&s, sizeof(s));
	return 0;
}
