/* The EC2 Query API codec of ec2d: what turns an HTTP request from the aws CLI or boto3 into
 * the parameter object the handlers take, and a result object back into EC2's XML.
 *
 * Parameter and result objects are JSON shaped like botocore's EC2 model members (CreateVpc:
 * {"CidrBlock": ..., "TagSpecifications": [...]}), the same objects vpcd's CLI builds and
 * prints. The model is a subset of botocore's service-2.json (actions.txt, gen-model.py)
 * compiled into the library. Everything here parses untrusted input and is fuzzed
 * (tests/fuzz/). Functions return 0 or a negative errno and fill a struct err with an EC2
 * error code and a message naming the offending value in quotes. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "err.h"

/* Bounds on a query string or form body. */
#define API_FORM_MAX_BYTES (1u << 20)
#define API_FORM_MAX_PARAMS 10000u

/* --- The model --- */
struct api_model;

/* EC2's model. */
int api_model_load(struct api_model **ret, struct err *e);
/* The model of a service by its SigV4 name: "ec2" (protocol ec2), "sts" or "iam" (protocol
 * query: members by their own names, lists as member.N, answers in <XResult> with
 * <ResponseMetadata>, errors as <ErrorResponse>), "fis" (protocol rest-json: the api_rest_*
 * functions below). */
int api_model_load_service(const char *service, struct api_model **ret, struct err *e);
const char *api_model_service(const struct api_model *m);
/* botocore's name of the model's protocol: "ec2", "query" or "rest-json" (FIS). */
const char *api_model_protocol(const struct api_model *m);
void api_model_free(struct api_model *m);
static inline void api_model_freep(struct api_model **m)
{
	api_model_free(*m);
}
bool api_model_has_action(const struct api_model *m, const char *action);
/* The actions in the model, sorted by name: i from 0 to api_model_action_count() - 1. */
size_t api_model_action_count(const struct api_model *m);
const char *api_model_action_name(const struct api_model *m, size_t i);

/* --- Requests --- */

/* Parses application/x-www-form-urlencoded text (a POST body or a raw query string: '&'
 * separated name=value, '+' is a space, %XX a byte) into an object name -> string. A bad
 * escape, a NUL byte, text that is not UTF-8, a name given twice or more than the bounds
 * above: MalformedQueryString. *ret_kv is owned by the caller. */
int api_form_parse(const char *s, size_t len, json_t **ret_kv, struct err *e);

/* Turns EC2 query parameters (VpcId.1, Filter.1.Name, Filter.1.Value.1, DryRun, ...) into
 * the params object of `action`, keyed by botocore member names (VpcIds, Filters[{Name,
 * Values}], DryRun), the way botocore's EC2Serializer makes them, in reverse. List items
 * come in the order of their index; indexes may have gaps. Action, Version and X-Amz-*
 * are ignored. An unknown action is InvalidAction, an unknown parameter UnknownParameter,
 * a bad integer, boolean or number InvalidParameterValue. Required members are not checked
 * (the handlers do that). kv is not changed. */
int api_params_from_query(const struct api_model *m, const char *action, json_t *kv,
			  json_t **ret_params, struct err *e);

/* --- Responses --- */

/* Writes the XML EC2 answers `action` with: <?xml ...?>\n<{Action}Response xmlns=...>
 * <requestId>...</requestId> and the members of `result` that the output shape has, in the
 * shape's order, named by their locationName; lists as <name><item>...</item></name>.
 * An action without an output shape answers <return>true</return>. A result member of the
 * wrong JSON type is InternalError (a handler bug); JSON null counts as absent. Characters
 * XML 1.0 cannot carry (control characters, U+FFFE, U+FFFF) are written as U+FFFD.
 * *ret_xml is NUL-terminated and owned by the caller. */
int api_xml_response(const struct api_model *m, const char *action, json_t *result,
		     const char *request_id, char **ret_xml, size_t *ret_len, struct err *e);
/* EC2's error document: <Response><Errors><Error><Code/><Message/></Error></Errors>
 * <RequestID/></Response>. NULL only when out of memory. */
char *api_xml_error(const char *code, const char *message, const char *request_id);
/* The error document of the model's service: EC2's above, or the query protocol's
 * <ErrorResponse><Error><Type>Sender|Receiver</Type><Code/><Message/></Error><RequestId/>
 * </ErrorResponse> (m NULL: EC2's). NULL only when out of memory. */
char *api_xml_error_for(const struct api_model *m, const char *code, const char *message,
			const char *request_id);
/* The HTTP status EC2 sends with an error code: 400 for client errors, 401 AuthFailure,
 * 403 SignatureDoesNotMatch/MissingAuthenticationToken/UnauthorizedOperation/AccessDenied,
 * 404 MalformedQueryString (as AWS documents it) and IAM's NoSuchEntity, 412 DryRunOperation, 500 InternalError and
 * the Insufficient*Capacity codes, 503 Unavailable/RequestLimitExceeded. */
int api_error_status(const char *code);

/* --- rest-json (FIS) --- */

/* Bound on the nesting of a rest-json request body. */
#define API_REST_MAX_DEPTH 32

/* Finds the operation of a rest-json model whose http.method and http.requestUri match
 * `method` and `path` (percent-encoded, as received, without the query; a {label} is one
 * segment, percent-decoded; a {label+} the rest of the path), and builds its params object
 * keyed by botocore member names: the "uri" members from the labels, the "querystring" ones
 * from `query` (raw, after '?'; "" or NULL for none; lists as repeated names; names no
 * member has, such as a presigned request's X-Amz-*, are ignored), and all others from the
 * JSON object in body[0..body_len) (empty: {}), checked against the input shape: unknown
 * members and values of the wrong JSON type are refused, nested structures, lists and maps
 * included; JSON null is an absent member. Integers are range-checked against the shape's
 * min and max. Required members are not checked (the handlers do that).
 *   UnknownOperationException (404)  no operation has that method and path
 *   ValidationException (400)        malformed JSON or escape, a bad type, an unknown
 *                                    member, a bad integer, nested deeper than
 *                                    API_REST_MAX_DEPTH, a body over API_FORM_MAX_BYTES
 * *ret_action is borrowed from the model; *ret_params is the caller's. */
int api_rest_match(const struct api_model *m, const char *method, const char *path,
		   const char *query, const void *body, size_t body_len, const char **ret_action,
		   json_t **ret_params, struct err *e);
/* Writes the JSON body `action` answers with: the members of `result` its output shape has,
 * recursively (members a shape does not have are left out, so a result may carry private
 * fields), JSON null counting as absent; timestamps (seconds since the epoch as a JSON
 * number, or ISO 8601 text) as epoch seconds. An action without an output shape answers {}.
 * A result member of the wrong JSON type is InternalError (a handler bug). *ret_body is
 * NUL-terminated and the caller's. */
int api_rest_response(const struct api_model *m, const char *action, json_t *result,
		      char **ret_body, size_t *ret_len, struct err *e);
/* The error body {"message": MESSAGE} and, in *ret_status, the HTTP status of `code`: the
 * model's error shape's httpStatusCode (FIS: ValidationException 400, ResourceNotFound-
 * Exception 404, ConflictException 409, ServiceQuotaExceededException 402), the JSON
 * services' UnknownOperationException 404, UnrecognizedClientException and
 * AccessDeniedException 403, else api_error_status(). The code itself goes in the
 * x-amzn-ErrorType header (the HTTP front's part). m may be NULL. NULL only when out of
 * memory. */
char *api_rest_error(const struct api_model *m, const char *code, const char *message,
		     int *ret_status);

/* --- json (awsJson1_1: CloudWatch Logs) --- */

/* The operation of a json-protocol model named by the X-Amz-Target header `target`
 * ("<targetPrefix>.<Operation>"), and its params object from the JSON object in
 * body[0..body_len) (empty: {}), checked against the input shape as api_rest_match checks a
 * body (unknown members, wrong JSON types, integers out of the shape's range, nesting).
 *   UnknownOperationException   no target, another prefix, an operation the model lacks
 *   SerializationException      a body over API_FORM_MAX_BYTES, nested deeper than
 *                               API_REST_MAX_DEPTH, not JSON, not an object
 *   InvalidParameterException   a member the shape does not have or of the wrong type
 * Required members are not checked (the handlers do that). *ret_action is borrowed from the
 * model; *ret_params is the caller's. Answers are written with api_rest_response. */
int api_json_match(const struct api_model *m, const char *target, const void *body,
		   size_t body_len, const char **ret_action, json_t **ret_params, struct err *e);
/* The json protocol's error body {"__type": CODE, "message": MESSAGE} and its HTTP status
 * (400 for the model's errors and the client's, 500 for InternalError and
 * ServiceUnavailableException). SigV4's EC2-style codes become the JSON services' own
 * (SignatureDoesNotMatch: InvalidSignatureException, ...), in *ret_code (static text or
 * `code`), which the HTTP front puts in x-amzn-ErrorType. NULL only when out of memory. */
char *api_json_error(const struct api_model *m, const char *code, const char *message,
		     int *ret_status, const char **ret_code);

/* --- Credentials and SigV4 --- */

/* Access key id -> secret, from an AWS credentials file (several profiles). */
struct api_creds;

/* Reads an AWS credentials file: [profile] sections with aws_access_key_id and
 * aws_secret_access_key (other keys ignored), '#' and ';' comment lines, blank lines,
 * whitespace around names and values. A file without a usable profile is an error. */
int api_creds_load(const char *path, struct api_creds **ret, struct err *e);
/* Loads `path` if it exists; otherwise makes a random AKIA... id (20 characters) and a
 * 40-character secret, writes them as [default] with mode 0600 (a temporary file linked
 * into place, so a reader never sees half a file and a concurrent writer never loses),
 * and returns them. */
int api_creds_generate(const char *path, struct api_creds **ret, struct err *e);
void api_creds_free(struct api_creds *c);
static inline void api_creds_freep(struct api_creds **c)
{
	api_creds_free(*c);
}
/* The secret of an access key id, or NULL. */
const char *api_creds_secret(const struct api_creds *c, const char *access_key);
/* The profile (section name) an access key id is in, or NULL. */
const char *api_creds_profile(const struct api_creds *c, const char *access_key);
/* The first profile's access key id (the [default] one that api_creds_generate writes). */
const char *api_creds_first_key(const struct api_creds *c);

/* --- Session credentials: an instance's role (IAM instance profiles) ---
 *
 * The lab has no STS: the temporary credentials the metadata service hands an instance are
 * derived from the master secret (the first profile's secret, api_creds_first_key), so that
 * the api front checks them with nothing but the credentials file it already has, and the
 * core and the front agree without talking. The derivation and the token's format are in
 * docs/architecture.md ("The metadata service"). */
#define API_SESSION_TTL 21600	/* seconds a set lasts, as EC2's do */
#define API_SESSION_REFRESH 900 /* a new set is served when this much of the old one is left */
#define API_SESSION_TOKEN_MAX 512
#define API_ROLE_MAX 128

struct api_session {
	char instance[32];
	char role[API_ROLE_MAX + 1];
	long long expires; /* seconds since the epoch */
	char access_key[21]; /* ASIA and 16 base32 letters */
	char secret[41];
	char token[API_SESSION_TOKEN_MAX + 1];
};

/* An IAM role or instance profile name: 1 to 128 of [A-Za-z0-9_+=,.@-]. */
bool api_role_name_valid(const char *s);
/* The set served at `now`: issued at the returned time, expiring API_SESSION_TTL later, so
 * that between API_SESSION_TTL and API_SESSION_REFRESH of it is always left. */
long long api_session_window(long long now, long long *ret_expires);
/* The credentials of `role` on `instance` ([a-z0-9-]{1,31}) expiring at `expires`. The same
 * inputs give the same set (no state). *ret holds a secret: OPENSSL_cleanse it after use. */
int api_session_derive(const struct api_creds *c, const char *instance, const char *role,
		       long long expires, struct api_session *ret, struct err *e);
/* Checks a session token (X-Amz-Security-Token, untrusted) presented with `access_key`: its
 * HMAC under the master secret, that it was issued for that key, that it has not expired.
 * On success fills *ret (its secret is the one to check the signature with).
 *   AuthFailure (-EACCES)   no token, one that does not parse, a forged or altered one, one
 *                           issued for another key
 *   RequestExpired (-ETIME) past its expiry (what EC2 answers for expired credentials)
 * Comparisons take the same time wherever the values differ. */
int api_session_check(const struct api_creds *c, const char *access_key, const char *token,
		      long long now, struct api_session *ret, struct err *e);

struct api_header {
	const char *name, *value;
};

struct api_request {
	const char *method;
	const char *path;  /* as received, percent-encoded, without the query */
	const char *query; /* raw query string after '?', may be "" */
	const struct api_header *headers;
	size_t nheaders;
	const void *body;
	size_t body_len;
	time_t now;
};

#define API_SIGV4_SKEW 900 /* seconds either way, as AWS allows */

/* Verifies an AWS Signature Version 4 for service "ec2", in the Authorization header
 * (AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...; with X-Amz-Date or
 * Date) or in the query string (X-Amz-Algorithm, -Credential, -Date, -Expires,
 * -SignedHeaders, -Signature). On success writes the region and access key id of the
 * credential scope. The codes are EC2's:
 *   MissingAuthenticationToken (403)  no signature at all
 *   IncompleteSignature (400)         malformed Authorization or X-Amz-* parameters; an
 *                                     X-Amz-Security-Token header not among the signed ones
 *   AuthFailure (401)                 unknown access key id; a session key (ASIA...)
 *                                     without a valid X-Amz-Security-Token (the header, or
 *                                     the presigned query parameter): api_session_check
 *   RequestExpired (400)              date more than 15 minutes off, or past X-Amz-Expires;
 *                                     a session token past its expiry (for STS and IAM
 *                                     ExpiredToken, for FIS ExpiredTokenException)
 *   SignatureDoesNotMatch (403)       wrong signature, scope not ec2/aws4_request, scope
 *                                     date not the request's, payload hash header wrong
 *   MalformedQueryString (404)        a query string with a bad %-escape or over the bounds
 * The comparison of signatures takes the same time wherever they differ. */
int api_sigv4_verify(const struct api_creds *c, const struct api_request *req,
		     char ret_region[static 32], char ret_access_key[static 64], struct err *e);
/* The same for whichever of `services` (NULL-terminated SigV4 service names) the credential
 * scope names: *ret_service is its index, set as soon as the scope is read (so also when a
 * later check fails; -1 before). A scope naming none of them is SignatureDoesNotMatch, with
 * the first one named as the right one. */
int api_sigv4_verify_any(const struct api_creds *c, const struct api_request *req,
			 const char *const *services, int *ret_service, char ret_region[static 32],
			 char ret_access_key[static 64], struct err *e);

/* The instance and role of the session credentials that the calling thread's last
 * successful api_sigv4_verify* accepted, if that request was signed with `access_key`: 0, or
 * -ENOENT (a key of the credentials file, or another request). For what runs after the
 * verification on the same thread: STS GetCallerIdentity in the api front (identity.c). */
int api_sigv4_session(const char *access_key, char ret_instance[static 32],
		      char ret_role[static API_ROLE_MAX + 1]);
