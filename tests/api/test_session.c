/* Session credentials of an instance's role (api_session_derive, api_session_check) and the
 * SigV4 path that takes them: a request signed with the derived secret and carrying its token
 * verifies, for the header and the presigned form; a missing, altered, foreign, unsigned or
 * expired token is refused with EC2's code (STS's for STS). The requests are signed here, as
 * botocore signs them (the e2e test instance_profile.py does it with botocore itself). */
#include <jansson.h>
#include "api.h"
#include "cleanup.h"
#include "../unit/tap.h"
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/test-session-XXXXXX";

#define NOW 1767225600LL /* 2026-01-01T00:00:00Z */
#define HOST "127.0.0.1:8787"
#define BODY "Action=DescribeVpcs&Version=2016-11-15"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
}

static struct api_creds *load(const char *name, const char *text)
{
	char path[256];
	struct err e = {0};
	struct api_creds *c = NULL;
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	write_file(path, text);
	if (api_creds_load(path, &c, &e) < 0) {
		diag("cannot load %s: %s", name, e.msg);
		abort();
	}
	unlink(path);
	return c;
}

static void hexs(const unsigned char *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void hmac(const void *k, size_t kn, const char *m, unsigned char out[32])
{
	unsigned len = 32;
	HMAC(EVP_sha256(), k, (int)kn, (const unsigned char *)m, strlen(m), out, &len);
}

static void sha(const char *s, char out[65])
{
	unsigned char d[32];
	unsigned len = 32;
	EVP_Digest(s, strlen(s), d, &len, EVP_sha256(), NULL);
	hexs(d, 32, out);
}

/* The SigV4 signature of a request whose canonical query and headers are given whole. */
static void sign(const char *method, const char *cquery, const char *cheaders, const char *signed_names,
		 const char *body, const char *stamp, const char *service, const char *secret, char sig[65])
{
	char cr[4096], sts[512], h[65], k0[128], scope[128], day[9];
	unsigned char k[32];
	sha(body, h);
	snprintf(cr, sizeof(cr), "%s\n/\n%s\n%s\n%s\n%s", method, cquery, cheaders, signed_names, h);
	memcpy(day, stamp, 8);
	day[8] = 0;
	snprintf(scope, sizeof(scope), "%s/us-east-1/%s/aws4_request", day, service);
	sha(cr, h);
	snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", stamp, scope, h);
	snprintf(k0, sizeof(k0), "AWS4%s", secret);
	hmac(k0, strlen(k0), day, k);
	hmac(k, 32, "us-east-1", k);
	hmac(k, 32, service, k);
	hmac(k, 32, "aws4_request", k);
	hmac(k, 32, sts, k);
	hexs(k, 32, sig);
}

static void stamp_of(long long t, char out[17])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

struct signed_req {
	struct api_header h[5];
	size_t nh;
	char stamp[17], auth[512];
};

/* A POST as botocore's SigV4Auth makes it: host, x-amz-date and x-amz-security-token signed
 * (`sign_token` false leaves the token header unsigned). */
static void post(struct signed_req *r, const char *service, const char *key, const char *secret,
		 const char *token, bool sign_token, long long when)
{
	char cheaders[1024], sig[65];
	*r = (struct signed_req){0};
	stamp_of(when, r->stamp);
	snprintf(cheaders, sizeof(cheaders), "host:%s\nx-amz-date:%s\n%s%s%s", HOST, r->stamp,
		 token && sign_token ? "x-amz-security-token:" : "", token && sign_token ? token : "",
		 token && sign_token ? "\n" : "");
	const char *names = token && sign_token ? "host;x-amz-date;x-amz-security-token" : "host;x-amz-date";
	sign("POST", "", cheaders, names, BODY, r->stamp, service, secret, sig);
	snprintf(r->auth, sizeof(r->auth),
		 "AWS4-HMAC-SHA256 Credential=%s/%.8s/us-east-1/%s/aws4_request, SignedHeaders=%s, Signature=%s",
		 key, r->stamp, service, names, sig);
	r->h[r->nh++] = (struct api_header){"Host", HOST};
	r->h[r->nh++] = (struct api_header){"X-Amz-Date", r->stamp};
	if (token)
		r->h[r->nh++] = (struct api_header){"X-Amz-Security-Token", token};
	r->h[r->nh++] = (struct api_header){"Authorization", r->auth};
}

static int verify(const struct api_creds *c, const struct signed_req *r, const char *service, long long now,
		  char key[64], struct err *e)
{
	struct api_request req = {"POST", "/", "", r->h, r->nh, BODY, strlen(BODY), (time_t)now};
	const char *const services[] = {"ec2", "sts", "iam", "fis", NULL};
	char region[32];
	int which;
	(void)service;
	err_clear(e);
	return api_sigv4_verify_any(c, &req, services, &which, region, key, e);
}

static void test_names(void)
{
	ok(api_role_name_valid("web") && api_role_name_valid("a_b+c=d,e.f@g-h"), "role names: IAM's characters");
	char long_name[130];
	memset(long_name, 'a', 129);
	long_name[129] = 0;
	ok(!api_role_name_valid("") && !api_role_name_valid("a/b") && !api_role_name_valid("a|b") &&
	       !api_role_name_valid("a b") && !api_role_name_valid(long_name) && !api_role_name_valid(NULL),
	   "role names: empty, '/', '|', space, 129 characters refused");
	long_name[128] = 0;
	ok(api_role_name_valid(long_name), "role names: 128 characters accepted");
}

static void test_window(void)
{
	bool good = true;
	long long prev_exp = 0;
	int changes = 0;
	for (long long t = NOW; t < NOW + 2 * API_SESSION_TTL; t += 37) {
		long long exp, issued = api_session_window(t, &exp);
		good &= issued <= t && exp == issued + API_SESSION_TTL && exp - t > API_SESSION_REFRESH &&
			exp - t <= API_SESSION_TTL;
		changes += prev_exp && exp != prev_exp;
		prev_exp = exp;
	}
	ok(good, "window: issued before now, lasts %d s, more than %d s left whenever served",
	   API_SESSION_TTL, API_SESSION_REFRESH);
	ok(changes >= 2 && changes <= 3, "window: a new set a few times in 12 hours (%d)", changes);
}

static void test_derive(struct api_creds *c, struct api_creds *other)
{
	struct api_session a, b, x;
	struct err e = {0};
	ok(api_session_derive(c, "i-0123456789abcdef0", "web", NOW + 3600, &a, &e) == 0, "derive (%s)", e.msg);
	ok(strlen(a.access_key) == 20 && !strncmp(a.access_key, "ASIA", 4) &&
	       strspn(a.access_key + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == 16,
	   "AccessKeyId: ASIA and 16 base32 letters (%s)", a.access_key);
	ok(strlen(a.secret) == 40 &&
	       strspn(a.secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") == 40,
	   "SecretAccessKey: 40 base64 characters");
	ok(strlen(a.token) > 40 && strspn(a.token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
				       strlen(a.token),
	   "Token: base64url (%zu characters)", strlen(a.token));
	ok(api_session_derive(c, "i-0123456789abcdef0", "web", NOW + 3600, &b, &e) == 0 &&
	       !memcmp(&a, &b, sizeof(a)),
	   "derive: the same inputs, the same set (stateless)");
	ok(api_session_derive(c, "i-0123456789abcdef1", "web", NOW + 3600, &b, &e) == 0 &&
	       strcmp(a.access_key, b.access_key) && strcmp(a.secret, b.secret),
	   "derive: another instance, another key and secret");
	ok(api_session_derive(c, "i-0123456789abcdef0", "db", NOW + 3600, &b, &e) == 0 &&
	       strcmp(a.access_key, b.access_key),
	   "derive: another role, another key");
	ok(api_session_derive(c, "i-0123456789abcdef0", "web", NOW + 7200, &b, &e) == 0 &&
	       strcmp(a.access_key, b.access_key),
	   "derive: another expiry, another key");
	ok(api_session_derive(other, "i-0123456789abcdef0", "web", NOW + 3600, &b, &e) == 0 &&
	       strcmp(a.access_key, b.access_key) && strcmp(a.secret, b.secret),
	   "derive: another master secret, another set");
	ok(!strstr(a.secret, "wJalrXUtnFEMI") && !strstr(a.token, "wJalrXUtnFEMI"),
	   "the master secret is in neither the secret nor the token");
	ok(api_session_derive(c, "i-0|x", "web", NOW, &b, &e) < 0 && api_session_derive(c, "i-01", "a|b", NOW, &b, &e) < 0,
	   "derive: a '|' in the instance or role refused");

	ok(api_session_check(c, a.access_key, a.token, NOW, &x, &e) == 0, "check: the token holds (%s)", e.msg);
	ok(!strcmp(x.instance, "i-0123456789abcdef0") && !strcmp(x.role, "web") && x.expires == NOW + 3600 &&
	       !strcmp(x.secret, a.secret),
	   "check: instance, role, expiry and the secret to verify with");
	ok(api_session_check(c, a.access_key, a.token, NOW + 3599, &x, &e) == 0, "check: a second before expiry");
	is_int(api_session_check(c, a.access_key, a.token, NOW + 3600, &x, &e), -ETIME, "check: at expiry refused");
	is_str(e.code, "RequestExpired", "check: expired is RequestExpired (%s)", e.msg);
	ok(api_session_derive(c, "i-0123456789abcdef1", "web", NOW + 3600, &b, &e) == 0, "another instance's set");
	is_int(api_session_check(c, a.access_key, b.token, NOW, &x, &e), -EACCES, "check: another key's token refused");
	is_str(e.code, "AuthFailure", "check: another key's token is AuthFailure");
	is_int(api_session_check(other, a.access_key, a.token, NOW, &x, &e), -EACCES,
	       "check: against another master secret refused");
	is_int(api_session_check(c, a.access_key, NULL, NOW, &x, &e), -EACCES, "check: no token refused");
	is_str(e.code, "AuthFailure", "check: no token is AuthFailure");
	is_int(api_session_check(c, a.access_key, "", NOW, &x, &e), -EACCES, "check: empty token refused");
	is_int(api_session_check(c, a.access_key, "not base64url!", NOW, &x, &e), -EACCES, "check: garbage refused");

	/* Tampering: every single character changed; and a payload rewritten under the old MAC. */
	char t[API_SESSION_TOKEN_MAX + 2];
	bool all = true;
	for (size_t i = 0; i < strlen(a.token); i++) {
		snprintf(t, sizeof(t), "%s", a.token);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		all &= api_session_check(c, a.access_key, t, NOW, &x, &e) == -EACCES && !strcmp(e.code, "AuthFailure");
	}
	ok(all, "check: each character of the token changed, refused as AuthFailure");
	snprintf(t, sizeof(t), "%sA", a.token);
	is_int(api_session_check(c, a.access_key, t, NOW, &x, &e), -EACCES, "check: a character added refused");
	{
		/* Decode, give it a later expiry, encode again: the MAC no longer fits. */
		char raw[400] = {0}, forged[600];
		size_t n = 0;
		unsigned v = 0;
		int bits = 0;
		static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		for (const char *p = a.token; *p; p++) {
			v = v << 6 | (unsigned)(strchr(al, *p) - al);
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				raw[n++] = (char)(v >> bits & 255);
			}
		}
		char *exp = strstr(raw, "|web|");
		ok(exp && !strncmp(raw, "v1|i-0123456789abcdef0|web|", 27), "the token reads v1|instance|role|...: %.40s",
		   raw);
		if (exp)
			exp[5] = exp[5] == '9' ? '8' : '9'; /* the first digit of the expiry */
		size_t o = 0;
		for (size_t i = 0; i < n; i += 3) {
			unsigned w = (unsigned char)raw[i] << 16 | (i + 1 < n ? (unsigned char)raw[i + 1] << 8 : 0) |
				     (i + 2 < n ? (unsigned char)raw[i + 2] : 0);
			forged[o++] = al[w >> 18 & 63];
			forged[o++] = al[w >> 12 & 63];
			if (i + 1 < n)
				forged[o++] = al[w >> 6 & 63];
			if (i + 2 < n)
				forged[o++] = al[w & 63];
		}
		forged[o] = 0;
		is_int(api_session_check(c, a.access_key, forged, NOW, &x, &e), -EACCES,
		       "check: a later expiry written into the token refused");
		is_str(e.code, "AuthFailure", "check: a forged expiry is AuthFailure");
	}
}

static void test_sigv4(struct api_creds *c)
{
	struct api_session a, b, old;
	struct signed_req r;
	struct err e = {0};
	char key[64], inst[32], role[API_ROLE_MAX + 1];
	api_session_derive(c, "i-0123456789abcdef0", "web", NOW + 3600, &a, &e);
	api_session_derive(c, "i-0123456789abcdef1", "web", NOW + 3600, &b, &e);
	api_session_derive(c, "i-0123456789abcdef0", "web", NOW - 60, &old, &e);

	post(&r, "ec2", a.access_key, a.secret, a.token, true, NOW);
	is_int(verify(c, &r, "ec2", NOW, key, &e), 0, "sigv4: signed with the derived secret and the token (%s)", e.msg);
	is_str(key, a.access_key, "sigv4: the access key is the session's");
	ok(api_sigv4_session(a.access_key, inst, role) == 0 && !strcmp(inst, "i-0123456789abcdef0") &&
	       !strcmp(role, "web"),
	   "sigv4: the thread's last session names instance and role");
	ok(api_sigv4_session(b.access_key, inst, role) == -ENOENT, "sigv4: not for another key");

	post(&r, "ec2", a.access_key, a.secret, NULL, true, NOW);
	is_int(verify(c, &r, "ec2", NOW, key, &e), -EACCES, "sigv4: without the token refused");
	is_str(e.code, "AuthFailure", "sigv4: without the token: AuthFailure (%s)", e.msg);
	ok(api_sigv4_session(a.access_key, inst, role) == -ENOENT, "sigv4: a refused request leaves no session");

	post(&r, "ec2", a.access_key, a.secret, b.token, true, NOW);
	is_int(verify(c, &r, "ec2", NOW, key, &e), -EACCES, "sigv4: another key's token refused");
	is_str(e.code, "AuthFailure", "sigv4: another key's token: AuthFailure");

	char t[API_SESSION_TOKEN_MAX + 1];
	snprintf(t, sizeof(t), "%s", a.token);
	t[10] = t[10] == 'x' ? 'y' : 'x';
	post(&r, "ec2", a.access_key, a.secret, t, true, NOW);
	is_int(verify(c, &r, "ec2", NOW, key, &e), -EACCES, "sigv4: a tampered token refused");
	is_str(e.code, "AuthFailure", "sigv4: a tampered token: AuthFailure");

	post(&r, "ec2", a.access_key, a.secret, a.token, false, NOW);
	is_int(verify(c, &r, "ec2", NOW, key, &e), -EBADMSG, "sigv4: a token outside SignedHeaders refused");
	is_str(e.code, "IncompleteSignature", "sigv4: unsigned token: IncompleteSignature (%s)", e.msg);

	post(&r, "ec2", a.access_key, b.secret, a.token, true, NOW);
	is_int(verify(c, &r, "ec2", NOW, key, &e), -EACCES, "sigv4: signed with another secret refused");
	is_str(e.code, "SignatureDoesNotMatch", "sigv4: another secret: SignatureDoesNotMatch");

	post(&r, "ec2", old.access_key, old.secret, old.token, true, NOW);
	is_int(verify(c, &r, "ec2", NOW, key, &e), -ETIME, "sigv4: an expired token refused");
	is_str(e.code, "RequestExpired", "sigv4: expired, EC2: RequestExpired (%s)", e.msg);
	post(&r, "sts", old.access_key, old.secret, old.token, true, NOW);
	is_int(verify(c, &r, "sts", NOW, key, &e), -ETIME, "sigv4: an expired token refused by STS");
	is_str(e.code, "ExpiredToken", "sigv4: expired, STS: ExpiredToken (%s)", e.msg);
	post(&r, "sts", a.access_key, a.secret, a.token, true, NOW);
	is_int(verify(c, &r, "sts", NOW, key, &e), 0, "sigv4: STS takes the session too");

	/* A file key with a token header: the token is ignored (AWS's vectors sign one). */
	post(&r, "ec2", "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", a.token, true, NOW);
	is_int(verify(c, &r, "ec2", NOW, key, &e), 0, "sigv4: a long-term key with a token header verifies");
	ok(api_sigv4_session("AKIDEXAMPLE", inst, role) == -ENOENT, "sigv4: ... and is no session");

	/* Presigned: the token as X-Amz-Security-Token in the query, signed with the rest. */
	char stamp[17], cq[1024], q[1200], sig[65];
	stamp_of(NOW, stamp);
	snprintf(cq, sizeof(cq),
		 "Action=DescribeVpcs&Version=2016-11-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%s%%2F%.8s%%2Fus-east-1%%2Fec2%%2Faws4_request&X-Amz-Date=%s&X-Amz-Expires=300&X-Amz-Security-Token=%s&X-Amz-SignedHeaders=host",
		 a.access_key, stamp, stamp, a.token);
	char cheaders[128];
	snprintf(cheaders, sizeof(cheaders), "host:%s\n", HOST);
	sign("GET", cq, cheaders, "host", "", stamp, "ec2", a.secret, sig);
	snprintf(q, sizeof(q), "%s&X-Amz-Signature=%s", cq, sig);
	struct api_header hh[] = {{"Host", HOST}};
	struct api_request req = {"GET", "/", q, hh, 1, "", 0, (time_t)NOW};
	char region[32];
	is_int(api_sigv4_verify(c, &req, region, key, &e), 0, "sigv4 presigned: the token in the query (%s)", e.msg);
	char *tok = strstr(q, "X-Amz-Security-Token=") + 21;
	*tok = *tok == 'x' ? 'y' : 'x';
	is_int(api_sigv4_verify(c, &req, region, key, &e), -EACCES, "sigv4 presigned: a tampered token refused");
	is_str(e.code, "AuthFailure", "sigv4 presigned: tampered: AuthFailure");
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	struct api_creds *c = load("creds", "[default]\naws_access_key_id = AKIDEXAMPLE\n"
					     "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n"
					     "[other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = s2\n");
	struct api_creds *other = load("other", "[default]\naws_access_key_id = AKIDEXAMPLE\n"
						"aws_secret_access_key = another-secret\n");
	test_names();
	test_window();
	test_derive(c, other);
	test_sigv4(c);
	api_creds_free(c);
	api_creds_free(other);
	rmdir(tmpdir);
	return done();
}
