/* Key pairs: CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair. A key pair is a
 * record in ec2d's store (type "key-pair"), named uniquely in its region; the private key of a
 * created one is returned once and never kept. An instance launched with --key-name keeps its
 * own copy of the public key (a deleted key pair does not take it away, as in EC2), served by
 * the metadata service at public-keys/0/openssh-key. Key formats: sshkey.c. */
#include <errno.h>
#include <string.h>
#include <openssl/crypto.h>
#include "b64.h"
#include "cleanup.h"
#include "ec2d.h"
#include "filter.h"
#include "sshkey.h"

json_t *keypair_by_name(const char *region, const char *name)
{
	const char *id;
	json_t *o;
	json_object_foreach(store_objects(E->store), id, o)
	{
		if (!strcmp(jstr(o, "_type"), "key-pair") && !strcmp(jstr(o, "_region"), region) &&
		    !strcmp(jstr(o, "KeyName"), name))
			return o;
	}
	return NULL;
}

json_t *keypair_get(const char *id)
{
	json_t *o = json_object_get(store_objects(E->store), id);
	return strcmp(jstr(o, "_type"), "key-pair") == 0 ? o : NULL;
}

static json_t *keypair_public(json_t *k, bool with_key)
{
	json_t *pub = json_object(), *v;
	const char *name;
	json_object_foreach(k, name, v) if (name[0] != '_' && (with_key || strcmp(name, "PublicKey")))
		json_object_set(pub, name, v);
	return pub;
}

/* KeyName: 1 to 255 ASCII characters, as EC2 takes it. */
static int check_name(const char *name, struct err *e)
{
	if (!*name)
		return err_set(e, "MissingParameter", "The request must contain the parameter KeyName");
	size_t n = strlen(name);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return err_set(e, "InvalidParameterValue",
				       "Value for parameter KeyName is invalid: it must be printable ASCII characters");
	if (n > 255)
		return err_set(e, "InvalidParameterValue",
			       "Value for parameter KeyName is invalid. Length exceeds maximum of 255 ASCII characters");
	return 0;
}

/* Records the key pair and answers as CreateKeyPair/ImportKeyPair do. */
static int add(struct ereq *rq, const char *name, struct sshkey *k, json_t *tags, json_t **ret, struct err *e)
{
	char id[ID_MAX], when[32];
	id_make(&E->ids, "key", id);
	time_iso(when);
	_cleanup_free_ char *line = NULL;
	if (asprintf(&line, "%s %s", k->openssh, name) < 0)
		return err_set(e, "InternalError", "out of memory");
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "_type", "key-pair", "_region",
			      rq->region, "KeyPairId", id, "KeyName", name, "KeyFingerprint", k->fingerprint,
			      "KeyType", k->type, "PublicKey", line, "CreateTime", when, "Tags", tags);
	_cleanup_json_ json_t *ch = json_pack("{s:o}", id, o);
	int r = state_commit(ch, e);
	if (r < 0)
		return r;
	*ret = json_pack("{s:s, s:s, s:s, s:O}", "KeyPairId", id, "KeyName", name, "KeyFingerprint",
			 k->fingerprint, "Tags", tags);
	return 0;
}

static int prepare(struct ereq *rq, const char **ret_name, json_t **ret_tags, struct err *e)
{
	const char *name = jstr(rq->params, "KeyName");
	int r;
	if ((r = check_name(name, e)) < 0 || (r = tag_specs_of(rq->params, "key-pair", ret_tags, e)) < 0)
		return r;
	if (keypair_by_name(rq->region, name)) /* *ret_tags is the caller's to drop */
		return err_set(e, "InvalidKeyPair.Duplicate", "The keypair '%s' already exists.", name);
	*ret_name = name;
	return 0;
}

int h_create_key_pair(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *name, *type = jstr(rq->params, "KeyType"), *format = jstr(rq->params, "KeyFormat");
	if (!*type)
		type = "rsa";
	if (strcmp(type, "rsa") && strcmp(type, "ed25519"))
		return err_set(e, "InvalidParameterValue",
			       "Value (%s) for parameter keyType is invalid. Valid values are rsa and ed25519", type);
	if (*format && strcmp(format, "pem"))
		return err_set(e, "InvalidParameterValue",
			       "Value (%s) for parameter keyFormat is invalid: vpclab writes pem keys only", format);
	_cleanup_json_ json_t *tags = NULL;
	int r = prepare(rq, &name, &tags, e);
	if (r < 0)
		return r;
	if (json_is_true(json_object_get(rq->params, "DryRun")))
		return err_set(e, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.");
	struct sshkey k;
	char *pem = NULL;
	if ((r = sshkey_create(type, &k, &pem)) < 0)
		return err_set(e, "InternalError", "the key pair could not be generated");
	if ((r = add(rq, name, &k, tags, ret, e)) == 0)
		json_object_set_new(*ret, "KeyMaterial", json_string(pem));
	OPENSSL_cleanse(pem, strlen(pem));
	free(pem);
	sshkey_clear(&k);
	return r;
}

int h_import_key_pair(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *name, *material = jstr(rq->params, "PublicKeyMaterial");
	_cleanup_json_ json_t *tags = NULL;
	int r = prepare(rq, &name, &tags, e);
	if (r < 0)
		return r;
	if (!*material)
		return err_set(e, "MissingParameter", "The request must contain the parameter PublicKeyMaterial");
	/* A blob: base64 on the wire, as botocore sends it. */
	size_t n;
	_cleanup_free_ unsigned char *raw = b64_decode(material, &n);
	if (!raw)
		return err_set(e, "InvalidParameterValue", "Value for parameter PublicKeyMaterial is not valid base64");
	struct sshkey k;
	char why[128];
	if (sshkey_import(raw, n, &k, why) < 0)
		return err_set(e, "InvalidKey.Format", "Key is not in valid OpenSSH public key format (%s)", why);
	if (json_is_true(json_object_get(rq->params, "DryRun"))) {
		sshkey_clear(&k);
		return err_set(e, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.");
	}
	r = add(rq, name, &k, tags, ret, e);
	sshkey_clear(&k);
	return r;
}

static const struct filter_map key_filters[] = {{"key-pair-id", "KeyPairId"},
						{"key-name", "KeyName"},
						{"fingerprint", "KeyFingerprint"},
						{"key-type", "KeyType"},
						{NULL, NULL}};

int h_describe_key_pairs(struct ereq *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *names = jlist(rq->params, "KeyNames");
	_cleanup_json_ json_t *ids = jlist(rq->params, "KeyPairIds");
	_cleanup_json_ json_t *filters = jlist(rq->params, "Filters");
	bool with_key = json_is_true(json_object_get(rq->params, "IncludePublicKey"));
	size_t i;
	json_t *v, *o;
	int r;
	if ((r = filters_check(filters, key_filters, e)) < 0)
		return r;
	/* Every name and ID asked for must exist, as EC2 answers. */
	json_array_foreach(names, i, v) if (!keypair_by_name(rq->region, json_string_value(v) ?: ""))
		return err_set(e, "InvalidKeyPair.NotFound", "The key pair '%s' does not exist",
			       json_string_value(v) ?: "");
	json_array_foreach(ids, i, v)
	{
		json_t *k = keypair_get(json_string_value(v) ?: "");
		if (!k || strcmp(jstr(k, "_region"), rq->region))
			return err_set(e, "InvalidKeyPair.NotFound", "The key pair ID '%s' does not exist",
				       json_string_value(v) ?: "");
	}
	json_t *out = json_array();
	const char *id;
	json_object_foreach(store_objects(E->store), id, o)
	{
		if (strcmp(jstr(o, "_type"), "key-pair") || strcmp(jstr(o, "_region"), rq->region) ||
		    (json_array_size(names) && !jlist_has(names, jstr(o, "KeyName"))) ||
		    (json_array_size(ids) && !jlist_has(ids, id)))
			continue;
		json_t *pub = keypair_public(o, with_key);
		if (filters_match(pub, filters, key_filters))
			json_array_append(out, pub);
		json_decref(pub);
	}
	*ret = json_pack("{s:o}", "KeyPairs", out);
	return 0;
}

int h_delete_key_pair(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *name = jstr(rq->params, "KeyName"), *id = jstr(rq->params, "KeyPairId");
	if (!*name && !*id)
		return err_set(e, "MissingParameter", "The request must contain the parameter KeyName or KeyPairId");
	json_t *k = *id ? keypair_get(id) : keypair_by_name(rq->region, name);
	if (k && strcmp(jstr(k, "_region"), rq->region))
		k = NULL;
	if (*id && !k)
		return err_set(e, "InvalidKeyPair.NotFound", "The key pair ID '%s' does not exist", id);
	if (k && *id && *name && strcmp(jstr(k, "KeyName"), name))
		return err_set(e, "InvalidParameterCombination",
			       "The key pair ID '%s' is not the key pair named '%s'", id, name);
	if (json_is_true(json_object_get(rq->params, "DryRun")))
		return err_set(e, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.");
	/* By name, a key pair that does not exist is deleted already: EC2 answers true. */
	if (!k) {
		*ret = json_pack("{s:b}", "Return", 1);
		return 0;
	}
	char kid[ID_MAX];
	snprintf(kid, sizeof(kid), "%s", jstr(k, "KeyPairId"));
	_cleanup_json_ json_t *ch = json_pack("{s:n}", kid);
	int r = state_commit(ch, e);
	if (r < 0)
		return r;
	*ret = json_pack("{s:b, s:s}", "Return", 1, "KeyPairId", kid);
	return 0;
}
