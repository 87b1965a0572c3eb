/* libFuzzer target: ImportKeyPair's public key material through sshkey_import (OpenSSH lines,
 * RFC 4716 blocks, DER raw, base64 or PEM). An accepted key is rsa of a size EC2 takes or
 * ed25519, held as an OpenSSH line that parses again to the same key; a refused one says why.
 * Built and run by tests/fuzz/run; the corpus is replayed by meson (ec2d's tests). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sshkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sshkey k, again;
	char why[128];
	if (sshkey_import(data, size, &k, why) < 0) {
		if (!why[0] || k.openssh)
			abort();
		return 0;
	}
	bool rsa = !strcmp(k.type, "rsa");
	if ((!rsa && strcmp(k.type, "ed25519")) || !k.openssh || !k.fingerprint[0] ||
	    (rsa && k.bits != 1024 && k.bits != 2048 && k.bits != 3072 && k.bits != 4096) ||
	    strncmp(k.openssh, rsa ? "ssh-rsa " : "ssh-ed25519 ", rsa ? 8 : 12))
		abort();
	/* The line it is held as is itself accepted, as the same key. */
	if (sshkey_import(k.openssh, strlen(k.openssh), &again, why) < 0 || strcmp(again.openssh, k.openssh) ||
	    strcmp(again.fingerprint, k.fingerprint))
		abort();
	sshkey_clear(&again);
	sshkey_clear(&k);
	return 0;
}
