/* Base64 (RFC 4648, with padding), for user-data, console output and exec's output. */
#pragma once
#include <stddef.h>

/* Returns a NUL-terminated string (free it), or NULL on allocation failure. */
char *b64_encode(const void *data, size_t n);
/* Decodes s (whitespace ignored); returns the bytes, NUL-terminated (free them), and their
 * length in *ret_n; NULL if s is not base64. */
unsigned char *b64_decode(const char *s, size_t *ret_n);
