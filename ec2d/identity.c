/* Who the caller is: STS GetCallerIdentity and the IAM calls clients use to find their
 * account (GetUser, ListAccountAliases), on the EC2 endpoint under their own SigV4 service
 * names. Each profile of the credentials file is one IAM user of the lab's one account
 * (OWNER_ID, the owner everything else shows): [default] is the user "vpclab", another
 * profile the user of its name. The user ID is derived from the access key, so it is the same
 * across restarts; the user's creation date is the credentials file's. A session key of an
 * instance's role (api_session_check) is that role assumed by the instance, as on AWS: its
 * role and instance come from the token the signature check has just read. */
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include "api.h"
#include "ec2d.h"

static void user_of(const char *profile, char name[static 64])
{
	snprintf(name, 64, "%s", !profile || !strcmp(profile, "default") ? "vpclab" : profile);
}

/* AIDA and 17 characters of base32 of the key's SHA-256, as IAM user IDs look. */
static void user_id(const char *access_key, char buf[static 32])
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	unsigned char h[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)access_key, strlen(access_key), h);
	memcpy(buf, "AIDA", 4);
	for (int i = 0; i < 17; i++)
		buf[4 + i] = b32[h[i] & 31];
	buf[21] = 0;
}

/* AROA and 17 characters of base32 of the role name's SHA-256, as IAM role IDs look: the
 * same for a role whichever instance has it. */
static void role_id(const char *role, char buf[static 32])
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	unsigned char h[SHA256_DIGEST_LENGTH];
	char msg[API_ROLE_MAX + 8];
	int n = snprintf(msg, sizeof(msg), "role|%s", role);
	SHA256((const unsigned char *)msg, (size_t)n, h);
	memcpy(buf, "AROA", 4);
	for (int i = 0; i < 17; i++)
		buf[4 + i] = b32[h[i] & 31];
	buf[21] = 0;
}

/* The caller is an instance's role (an assumed-role session): 1 when the action is not one
 * that depends on who asks. */
static int session_call(const char *service, const char *action, const char *instance,
			const char *role, json_t *params, json_t **ret, struct err *e)
{
	char rid[32], uid[200], arn[300];
	role_id(role, rid);
	snprintf(uid, sizeof(uid), "%s:%s", rid, instance);
	snprintf(arn, sizeof(arn), "arn:aws:sts::%s:assumed-role/%s/%s", OWNER_ID, role, instance);
	if (!strcmp(service, "sts") && !strcmp(action, "GetCallerIdentity")) {
		*ret = json_pack("{s:s, s:s, s:s}", "UserId", uid, "Account", OWNER_ID, "Arn", arn);
		return 0;
	}
	if (!strcmp(service, "iam") && !strcmp(action, "GetUser")) {
		/* IAM's answers to a role: it has no user of its own, and no policy of the lab's
		 * lets it read another's. */
		const char *want = json_string_value(json_object_get(params, "UserName"));
		if (!want)
			return err_set(e, "ValidationError",
				       "Must specify userName when calling with non-User credentials");
		return err_set(e, "AccessDenied",
			       "User: %s is not authorized to perform: iam:GetUser on resource: user %s",
			       arn, want);
	}
	return 1;
}

int identity_call(const char *service, const char *action, const char *access_key, const char *profile,
		  long long created, json_t *params, json_t **ret, struct err *e)
{
	char name[64], uid[32], arn[160], instance[32], role[API_ROLE_MAX + 1];
	if (!profile && api_sigv4_session(access_key, instance, role) == 0) {
		int r = session_call(service, action, instance, role, params, ret, e);
		if (r <= 0)
			return r;
	}
	user_of(profile, name);
	user_id(access_key, uid);
	snprintf(arn, sizeof(arn), "arn:aws:iam::%s:user/%s", OWNER_ID, name);
	if (!strcmp(service, "sts") && !strcmp(action, "GetCallerIdentity")) {
		*ret = json_pack("{s:s, s:s, s:s}", "UserId", uid, "Account", OWNER_ID, "Arn", arn);
		return 0;
	}
	if (!strcmp(service, "iam") && !strcmp(action, "GetUser")) {
		const char *want = json_string_value(json_object_get(params, "UserName"));
		if (want && strcmp(want, name))
			return err_set(e, "NoSuchEntity", "The user with name %s cannot be found.", want);
		*ret = json_pack("{s:{s:s, s:s, s:s, s:s, s:I}}", "User", "Path", "/", "UserName", name,
				 "UserId", uid, "Arn", arn, "CreateDate", (json_int_t)created);
		return 0;
	}
	if (!strcmp(service, "iam") && !strcmp(action, "ListAccountAliases")) {
		*ret = json_pack("{s:[], s:b}", "AccountAliases", "IsTruncated", 0);
		return 0;
	}
	return err_set(e, "InvalidAction", "Could not find operation %s", action);
}
