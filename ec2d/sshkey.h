/* SSH keys as EC2's key pairs hold them: what ImportKeyPair takes (an OpenSSH public key line,
 * an RFC 4716 block, or a DER SubjectPublicKeyInfo, raw, base64 or PEM), what CreateKeyPair
 * makes (rsa 2048 as a PKCS#1 PEM, ed25519 as an OpenSSH private key), and the fingerprint EC2
 * prints for each:
 *   created rsa:   SHA-1 of the PKCS#8 DER private key, colon-separated hex
 *   imported rsa:  MD5 of the DER public key (RFC 4716 section 4), colon-separated hex
 *   ed25519:       SHA-256 of the OpenSSH public key blob, base64 (with padding)
 * Pure: no I/O and no state, so the parser is also a fuzz target (tests/fuzz/fuzz_sshkey.c). */
#pragma once
#include <stddef.h>

struct sshkey {
	char type[8];	      /* EC2's KeyType: "rsa" or "ed25519" */
	int bits;
	char *openssh;	      /* "ssh-rsa AAAA…", no comment; owned */
	char fingerprint[64];
};

/* Parses n bytes of public key material. 0, or -EINVAL with why[] saying what is wrong (an
 * unknown format, a key type EC2 does not take, an RSA size other than 1024/2048/3072/4096). */
int sshkey_import(const void *buf, size_t n, struct sshkey *k, char why[static 128]);
/* A new key of `type` ("rsa" or "ed25519"); *ret_pem is the private key as EC2 returns it. */
int sshkey_create(const char *type, struct sshkey *k, char **ret_pem);
void sshkey_clear(struct sshkey *k);
