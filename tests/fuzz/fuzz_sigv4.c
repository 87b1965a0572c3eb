/* libFuzzer target: an HTTP request through api_sigv4_verify. The input is
 *   METHOD SP PATH[?QUERY] LF
 *   (Name: value LF)*
 *   LF
 *   BODY
 * and is checked at 2015-08-30T12:36:00Z against the key of AWS's SigV4 test vectors
 * (AKIDEXAMPLE), for service "ec2" and for the vectors' "service", so the seed corpus
 * (tests/fuzz/corpus/fuzz_sigv4: the vectors, botocore-signed EC2 requests) starts on the
 * paths where signatures match. An X-Amz-Security-Token header, and the input itself, also go
 * through api_session_check (the session token parser; a credential scope's ASIA key takes
 * the verification there too). Built and run by tests/fuzz/run. */
#include "api.h"
#include "internal.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEADERS 64
#define NOW 1440938160

static struct api_creds *creds;

static void load_creds(void)
{
	static const char text[] =
	    "[default]\naws_access_key_id = AKIDEXAMPLE\n"
	    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n";
	struct err e = {0};
	char path[64];
	int fd = memfd_create("creds", 0);
	if (fd < 0 || write(fd, text, sizeof(text) - 1) != (ssize_t)(sizeof(text) - 1))
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (api_creds_load(path, &creds, &e) < 0)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_header headers[MAX_HEADERS];
	struct api_request req = {.headers = headers, .now = NOW};
	char *buf, *p, *end, *nl, *sp, *q;
	char region[32], key[64];
	struct err e = {0};
	int r;

	if (!creds)
		load_creds();
	/* A NUL-terminated copy to cut into strings. */
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;
	end = buf + size;

	p = buf;
	nl = memchr(p, '\n', (size_t)(end - p));
	if (nl)
		*nl = 0;
	sp = strchr(p, ' ');
	req.method = p;
	req.path = "/";
	req.query = "";
	if (sp) {
		*sp = 0;
		req.path = sp + 1;
		q = strchr(sp + 1, '?');
		if (q) {
			*q = 0;
			req.query = q + 1;
		}
	}
	p = nl ? nl + 1 : end;
	while (p < end && req.nheaders < MAX_HEADERS) {
		char *colon;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == p) {
			p++;
			break;
		}
		if (nl)
			*nl = 0;
		colon = strchr(p, ':');
		if (colon) {
			*colon = 0;
			headers[req.nheaders].name = p;
			headers[req.nheaders].value = colon + 1 + (colon[1] == ' ');
			req.nheaders++;
		}
		p = nl ? nl + 1 : end;
	}
	req.body = p;
	req.body_len = (size_t)(end - p);

	for (int i = 0; i < 2; i++) {
		err_clear(&e);
		r = api_sigv4_verify_service(creds, &req, i ? "service" : "ec2", region, key, &e);
		if (r < 0 && (!e.code[0] || !e.msg[0]))
			abort();
		if (r == 0 && (strlen(region) >= 32 || strcmp(key, "AKIDEXAMPLE")))
			abort();
	}
	/* The token parser on its own: a header's value, and the whole input as a token. */
	for (size_t i = 0; i <= req.nheaders; i++) {
		struct api_session sess;
		char tok[API_SESSION_TOKEN_MAX + 2];
		const char *t = tok;
		if (i < req.nheaders) {
			if (strcasecmp(headers[i].name, "x-amz-security-token"))
				continue;
			t = headers[i].value;
		} else {
			size_t n = size < sizeof(tok) - 1 ? size : sizeof(tok) - 1;
			memcpy(tok, data, n);
			tok[n] = 0;
		}
		err_clear(&e);
		r = api_session_check(creds, "ASIAAAAAAAAAAAAAAAAA", t, NOW, &sess, &e);
		if (r < 0 && (strcmp(e.code, "AuthFailure") && strcmp(e.code, "RequestExpired")))
			abort();
		if (r == 0 && (strlen(sess.access_key) != 20 || strlen(sess.secret) != 40))
			abort();
	}
	free(buf);
	return 0;
}
