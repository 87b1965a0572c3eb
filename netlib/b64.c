#include "b64.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *b64_encode(const void *data, size_t n)
{
	const unsigned char *p = data;
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		*o++ = alphabet[v >> 18 & 63];
		*o++ = alphabet[v >> 12 & 63];
		*o++ = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? alphabet[v & 63] : '=';
	}
	*o = 0;
	return out;
}

unsigned char *b64_decode(const char *s, size_t *ret_n)
{
	size_t len = strlen(s), n = 0, pad = 0;
	unsigned char *out = malloc(len / 4 * 3 + 4);
	uint32_t acc = 0;
	int bits = 0;
	if (!out)
		return NULL;
	for (const char *c = s; *c; c++) {
		if (*c == ' ' || *c == '\n' || *c == '\r' || *c == '\t')
			continue;
		if (*c == '=') {
			pad++;
			continue;
		}
		const char *k = pad ? NULL : memchr(alphabet, *c, 64);
		if (!k || !*c) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (uint32_t)(k - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	/* Leftover bits must be padding zeros, and at most two '='. */
	if (pad > 2 || bits >= 6 || (acc & ((1u << bits) - 1))) {
		free(out);
		return NULL;
	}
	out[n] = 0;
	*ret_n = n;
	return out;
}
