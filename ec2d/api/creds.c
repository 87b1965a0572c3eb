/* Access keys: the AWS shared credentials file format, so `aws configure` files and the
 * ones ec2d writes are the same thing. */
#include "api.h"
#include "cleanup.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
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
