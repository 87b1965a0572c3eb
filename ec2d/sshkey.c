/* SSH key formats and EC2's fingerprints (see sshkey.h). The wire format of an OpenSSH key is
 * RFC 4253 section 6.6: uint32-length-prefixed strings and mpints. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include "b64.h"
#include "cleanup.h"
#include "sshkey.h"

#define WHY(...) (snprintf(why, 128, __VA_ARGS__), -EINVAL)
#define NOKEY(...) (snprintf(why, 128, __VA_ARGS__), (EVP_PKEY *)NULL)

/* ---------------------------------------------------------------- the wire format */

struct rd {
	const unsigned char *p;
	size_t n;
};

static bool get_u32(struct rd *r, uint32_t *v)
{
	if (r->n < 4)
		return false;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4, r->n -= 4;
	return true;
}

static bool get_str(struct rd *r, const unsigned char **s, size_t *len)
{
	uint32_t l;
	if (!get_u32(r, &l) || l > r->n)
		return false;
	*s = r->p, *len = l;
	r->p += l, r->n -= l;
	return true;
}

static bool str_is(const unsigned char *s, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(s, want, len) == 0;
}

static void put_u32(FILE *f, uint32_t v)
{
	unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};
	fwrite(b, 1, 4, f);
}

static void put_str(FILE *f, const void *s, size_t len)
{
	put_u32(f, (uint32_t)len);
	fwrite(s, 1, len, f);
}

/* An mpint: big-endian, with a leading zero byte when the top bit is set (never negative here). */
static void put_mpint(FILE *f, const BIGNUM *bn)
{
	int len = BN_num_bytes(bn);
	unsigned char *b = malloc((size_t)len + 1);
	if (!b)
		return;
	b[0] = 0;
	BN_bn2bin(bn, b + 1);
	bool pad = len > 0 && (b[1] & 0x80);
	put_str(f, pad ? b : b + 1, (size_t)len + pad);
	free(b);
}

/* The OpenSSH public blob of an RSA or ED25519 key (*ret_n bytes), or NULL. */
static unsigned char *public_blob(EVP_PKEY *pk, size_t *ret_n)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	if (!f)
		return NULL;
	bool ok = true;
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA) {
		BIGNUM *bn_n = NULL, *bn_e = NULL;
		ok = EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &bn_n) &&
		     EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &bn_e);
		if (ok) {
			put_str(f, "ssh-rsa", 7);
			put_mpint(f, bn_e);
			put_mpint(f, bn_n);
		}
		BN_free(bn_n), BN_free(bn_e);
	} else {
		unsigned char raw[32];
		size_t rl = sizeof(raw);
		ok = EVP_PKEY_get_raw_public_key(pk, raw, &rl) == 1 && rl == 32;
		if (ok) {
			put_str(f, "ssh-ed25519", 11);
			put_str(f, raw, 32);
		}
	}
	if (fclose(f) != 0 || !ok) {
		free(buf);
		return NULL;
	}
	*ret_n = n;
	return (unsigned char *)buf;
}

/* ---------------------------------------------------------------- fingerprints */

static void hex_colons(const unsigned char *d, unsigned n, char out[static 64])
{
	size_t o = 0;
	for (unsigned i = 0; i < n && o + 3 < 64; i++)
		o += (size_t)snprintf(out + o, 64 - o, "%s%02x", i ? ":" : "", d[i]);
}

static int digest_of(const char *md, const void *data, size_t n, unsigned char out[static 64], unsigned *len)
{
	return EVP_Digest(data, n, out, len, EVP_get_digestbyname(md), NULL) == 1 ? 0 : -EIO;
}

/* Fills k from a key EC2 takes (rsa of a usual size, ed25519). `created` chooses the RSA
 * fingerprint: of the private key for CreateKeyPair, of the public key for ImportKeyPair. */
static int describe(EVP_PKEY *pk, bool created, struct sshkey *k, char why[static 128])
{
	unsigned char d[64];
	unsigned dl = 0;
	memset(k, 0, sizeof(*k));
	int id = EVP_PKEY_get_base_id(pk);
	if (id == EVP_PKEY_RSA) {
		k->bits = EVP_PKEY_get_bits(pk);
		if (k->bits != 1024 && k->bits != 2048 && k->bits != 3072 && k->bits != 4096)
			return WHY("an RSA key of %d bits; EC2 takes 1024, 2048, 3072 or 4096", k->bits);
		/* A public exponent of at least 3 and an odd modulus, or the key is no RSA key (and
		 * e = 0 would not even survive being written as an mpint and read back). */
		BIGNUM *bn_n = NULL, *bn_e = NULL;
		bool sane = EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &bn_n) &&
			    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &bn_e) && BN_is_odd(bn_n) &&
			    BN_is_odd(bn_e) && BN_num_bits(bn_e) >= 2;
		BN_free(bn_n), BN_free(bn_e);
		if (!sane)
			return WHY("an RSA key whose numbers are invalid (an even modulus, or an exponent below 3 or even)");
		snprintf(k->type, sizeof(k->type), "rsa");
		unsigned char *der = NULL;
		int n;
		if (created) {
			PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(pk);
			n = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
			PKCS8_PRIV_KEY_INFO_free(p8);
		} else {
			n = i2d_PUBKEY(pk, &der);
		}
		int r = n > 0 ? digest_of(created ? "SHA1" : "MD5", der, (size_t)n, d, &dl) : -EIO;
		OPENSSL_free(der);
		if (r < 0)
			return WHY("the key cannot be encoded");
		hex_colons(d, dl, k->fingerprint);
	} else if (id == EVP_PKEY_ED25519) {
		k->bits = 256;
		snprintf(k->type, sizeof(k->type), "ed25519");
	} else {
		return WHY("a key of a type EC2 does not take (rsa or ed25519)");
	}
	size_t bn = 0;
	_cleanup_free_ unsigned char *blob = public_blob(pk, &bn);
	if (!blob)
		return WHY("the key cannot be encoded");
	if (id == EVP_PKEY_ED25519) {
		if (digest_of("SHA256", blob, bn, d, &dl) < 0)
			return WHY("the key cannot be encoded");
		_cleanup_free_ char *b = b64_encode(d, dl);
		snprintf(k->fingerprint, sizeof(k->fingerprint), "%s", b ? b : "");
	}
	_cleanup_free_ char *b = b64_encode(blob, bn);
	if (!b || asprintf(&k->openssh, "%s %s", id == EVP_PKEY_RSA ? "ssh-rsa" : "ssh-ed25519", b) < 0) {
		k->openssh = NULL;
		return WHY("out of memory");
	}
	return 0;
}

/* ---------------------------------------------------------------- import */

static EVP_PKEY *rsa_from(const unsigned char *e, size_t el, const unsigned char *n, size_t nl)
{
	/* mpints: a set top bit would be negative. */
	if (!el || !nl || (e[0] & 0x80) || (n[0] & 0x80))
		return NULL;
	EVP_PKEY *pk = NULL;
	BIGNUM *bn_e = BN_bin2bn(e, (int)el, NULL), *bn_n = BN_bin2bn(n, (int)nl, NULL);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (bn_e && bn_n && bld && ctx && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) && (params = OSSL_PARAM_BLD_to_param(bld)) &&
	    EVP_PKEY_fromdata_init(ctx) == 1)
		if (EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
			pk = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_e), BN_free(bn_n);
	return pk;
}

/* An OpenSSH public blob, all of it; `want` is the type named outside it (or NULL). */
static EVP_PKEY *from_blob(const unsigned char *blob, size_t n, const char *want, char why[static 128])
{
	struct rd r = {blob, n};
	const unsigned char *t, *a, *b;
	size_t tl, al, bl;
	if (!get_str(&r, &t, &tl))
		return NOKEY("the key's data is cut short");
	if (want && !str_is(t, tl, want))
		return NOKEY("the key's data is of another type than '%s'", want);
	EVP_PKEY *pk = NULL;
	if (str_is(t, tl, "ssh-rsa")) {
		if (!get_str(&r, &a, &al) || !get_str(&r, &b, &bl) || r.n)
			return NOKEY("the RSA key's data is malformed");
		if (!(pk = rsa_from(a, al, b, bl)))
			return NOKEY("the RSA key's numbers are invalid");
	} else if (str_is(t, tl, "ssh-ed25519")) {
		if (!get_str(&r, &a, &al) || al != 32 || r.n)
			return NOKEY("the ED25519 key's data is malformed");
		if (!(pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, a, 32)))
			return NOKEY("the ED25519 key is invalid");
	} else {
		return NOKEY("a key of a type EC2 does not take (ssh-rsa or ssh-ed25519)");
	}
	return pk;
}

static EVP_PKEY *from_der(const unsigned char *der, size_t n)
{
	const unsigned char *p = der;
	EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)n);
	if (pk && p == der + n)
		return pk;
	EVP_PKEY_free(pk);
	p = der; /* PKCS#1 RSAPublicKey */
	pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)n);
	if (pk && p == der + n)
		return pk;
	EVP_PKEY_free(pk);
	return NULL;
}

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	return s;
}

/* RFC 4716: header lines ("Tag: value", continued by a trailing backslash), then base64. */
static EVP_PKEY *from_rfc4716(const char *s, char why[static 128])
{
	const char *end = strstr(s, "---- END SSH2 PUBLIC KEY ----");
	if (!end)
		return NOKEY("the RFC 4716 block has no END line");
	s = strchr(s, '\n');
	if (!s || s >= end)
		return NOKEY("the RFC 4716 block is empty");
	_cleanup_free_ char *body = calloc(1, (size_t)(end - s) + 1);
	if (!body)
		return NOKEY("out of memory");
	size_t bn = 0;
	bool cont = false;
	for (const char *line = s + 1; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t len = (size_t)((nl ? nl : end) - line);
		while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
			len--;
		bool header = cont || memchr(line, ':', len);
		cont = header && len && line[len - 1] == '\\';
		if (!header) {
			memcpy(body + bn, line, len);
			bn += len;
		}
		line = nl ? nl + 1 : end;
	}
	body[bn] = 0;
	size_t n;
	_cleanup_free_ unsigned char *blob = b64_decode(body, &n);
	if (!blob)
		return NOKEY("the RFC 4716 block is not base64");
	return from_blob(blob, n, NULL, why);
}

/* PEM "PUBLIC KEY" or "RSA PUBLIC KEY": base64 DER between the markers. */
static EVP_PKEY *from_pem(const char *s, char why[static 128])
{
	const char *body = strstr(s, "-----\n") ?: strstr(s, "-----\r\n");
	const char *end = body ? strstr(body + 5, "-----END ") : NULL;
	if (!end)
		return NOKEY("the PEM block has no END line");
	body = strchr(body, '\n') + 1;
	_cleanup_free_ char *b = strndup(body, (size_t)(end - body));
	size_t n;
	_cleanup_free_ unsigned char *der = b ? b64_decode(b, &n) : NULL;
	EVP_PKEY *pk = der ? from_der(der, n) : NULL;
	if (!pk)
		return NOKEY("the PEM block is not a DER public key");
	return pk;
}

int sshkey_import(const void *buf, size_t n, struct sshkey *k, char why[static 128])
{
	memset(k, 0, sizeof(*k));
	why[0] = 0;
	if (n == 0)
		return WHY("the key material is empty");
	if (n > 16384)
		return WHY("the key material is longer than 16384 bytes");
	EVP_PKEY *pk = NULL;
	/* Binary DER first: it may hold NUL bytes, which no text format does. */
	if (memchr(buf, 0, n) || ((const unsigned char *)buf)[0] == 0x30)
		pk = from_der(buf, n);
	if (!pk) {
		if (memchr(buf, 0, n))
			return WHY("the key material is neither text nor a DER public key");
		_cleanup_free_ char *text = strndup(buf, n);
		if (!text)
			return WHY("out of memory");
		const char *s = skip_ws(text);
		size_t wl = strcspn(s, " \t");
		if (!strncmp(s, "---- BEGIN SSH2 PUBLIC KEY ----", 31)) {
			pk = from_rfc4716(s, why);
		} else if (!strncmp(s, "-----BEGIN PUBLIC KEY-----", 26) ||
			   !strncmp(s, "-----BEGIN RSA PUBLIC KEY-----", 30)) {
			pk = from_pem(s, why);
		} else if (s[wl] == ' ' || s[wl] == '\t') {
			/* OpenSSH: TYPE BASE64 [COMMENT] */
			_cleanup_free_ char *type = strndup(s, wl);
			const char *b = skip_ws(s + wl);
			_cleanup_free_ char *b64 = strndup(b, strcspn(b, " \t\r\n"));
			size_t bl;
			_cleanup_free_ unsigned char *blob = b64 && *b64 ? b64_decode(b64, &bl) : NULL;
			if (!type || !blob)
				return WHY("the key's second field is not base64");
			if (strcmp(type, "ssh-rsa") && strcmp(type, "ssh-ed25519"))
				return WHY("a '%.40s' key; EC2 takes ssh-rsa and ssh-ed25519", type);
			pk = from_blob(blob, bl, type, why);
		} else {
			/* Base64 text of a DER public key. */
			size_t dl;
			_cleanup_free_ unsigned char *der = b64_decode(s, &dl);
			if (!der || !(pk = from_der(der, dl)))
				return WHY("not an OpenSSH, RFC 4716 or DER public key");
		}
		if (!pk)
			return -EINVAL;
	}
	int r = describe(pk, false, k, why);
	EVP_PKEY_free(pk);
	if (r < 0)
		sshkey_clear(k);
	return r;
}

/* ---------------------------------------------------------------- create */

/* The OpenSSH private key format (PROTOCOL.key in OpenSSH's tree), unencrypted. */
static char *openssh_private(EVP_PKEY *pk)
{
	unsigned char seed[32], pub[32];
	size_t sl = sizeof(seed), pl = sizeof(pub);
	if (EVP_PKEY_get_raw_private_key(pk, seed, &sl) != 1 || EVP_PKEY_get_raw_public_key(pk, pub, &pl) != 1)
		return NULL;
	size_t bn = 0;
	_cleanup_free_ unsigned char *blob = public_blob(pk, &bn);
	char *priv = NULL, *all = NULL;
	size_t privn = 0, alln = 0;
	uint32_t check;
	if (!blob || RAND_bytes((unsigned char *)&check, sizeof(check)) != 1)
		return NULL;
	FILE *f = open_memstream(&priv, &privn);
	if (!f)
		return NULL;
	put_u32(f, check);
	put_u32(f, check);
	put_str(f, "ssh-ed25519", 11);
	put_str(f, pub, 32);
	unsigned char both[64];
	memcpy(both, seed, 32);
	memcpy(both + 32, pub, 32);
	put_str(f, both, 64);
	put_str(f, "", 0);
	OPENSSL_cleanse(both, sizeof(both));
	OPENSSL_cleanse(seed, sizeof(seed));
	fflush(f);
	for (unsigned char pad = 1; privn % 8; pad++) {
		fputc(pad, f);
		fflush(f);
	}
	fclose(f);
	if (!priv)
		return NULL;
	f = open_memstream(&all, &alln);
	if (f) {
		fwrite("openssh-key-v1", 1, 15, f); /* with its NUL */
		put_str(f, "none", 4);
		put_str(f, "none", 4);
		put_str(f, "", 0);
		put_u32(f, 1);
		put_str(f, blob, bn);
		put_str(f, priv, privn);
		fclose(f);
	}
	OPENSSL_cleanse(priv, privn);
	free(priv);
	if (!all)
		return NULL;
	_cleanup_free_ char *b = b64_encode(all, alln);
	OPENSSL_cleanse(all, alln);
	free(all);
	if (!b)
		return NULL;
	/* 70 columns, as ssh-keygen writes it. */
	char *pem = NULL;
	size_t pemn = 0;
	f = open_memstream(&pem, &pemn);
	if (!f)
		return NULL;
	fputs("-----BEGIN OPENSSH PRIVATE KEY-----\n", f);
	for (size_t i = 0, l = strlen(b); i < l; i += 70)
		fprintf(f, "%.70s\n", b + i);
	fputs("-----END OPENSSH PRIVATE KEY-----\n", f);
	fclose(f);
	OPENSSL_cleanse(b, strlen(b));
	return pem;
}

static char *rsa_private(EVP_PKEY *pk)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL;
	if (bio && PEM_write_bio_PrivateKey_traditional(bio, pk, NULL, NULL, 0, NULL, NULL) == 1) {
		char *p;
		long n = BIO_get_mem_data(bio, &p);
		pem = n > 0 ? strndup(p, (size_t)n) : NULL;
	}
	BIO_free_all(bio);
	return pem;
}

int sshkey_create(const char *type, struct sshkey *k, char **ret_pem)
{
	char why[128];
	bool rsa = strcmp(type, "rsa") == 0;
	memset(k, 0, sizeof(*k));
	if (!rsa && strcmp(type, "ed25519") != 0)
		return -EINVAL;
	EVP_PKEY *pk = rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048) : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!pk)
		return -EIO;
	int r = describe(pk, true, k, why);
	char *pem = r == 0 ? (rsa ? rsa_private(pk) : openssh_private(pk)) : NULL;
	EVP_PKEY_free(pk);
	if (!pem) {
		sshkey_clear(k);
		return -EIO;
	}
	*ret_pem = pem;
	return 0;
}

void sshkey_clear(struct sshkey *k)
{
	free(k->openssh);
	memset(k, 0, sizeof(*k));
}
