/* The instance metadata service: 169.254.169.254:80 inside every VPC namespace that has
 * instances (vpcd puts the address on the namespace's lo; traffic from a subnet reaches it
 * through the router). Two halves:
 * - the core (imds_ensure, h_imds_get, h_imds_token) makes one listening socket per VPC in
 *   its namespace and hands it to the front; it knows the instances and the IMDSv2 tokens;
 * - the front (imds_front_main, `ec2d front imds`, unprivileged: netlib/front.h) serves HTTP
 *   on those sockets, one libmicrohttpd daemon per VPC, and asks the core who is calling.
 * The caller is known by the VPC the socket is in and the packet's source address, which the
 * VPC's anti-spoofing sets make trustworthy: each instance sees only its own data. IMDSv1 and
 * IMDSv2 (PUT /latest/api/token) are both accepted, as with HttpTokens=optional. An instance
 * with an IAM instance profile gets its role's credentials under iam/, derived by the core
 * from the lab's master secret (api_session_derive), which never leaves it: the front sees
 * only the derived set. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "api.h"
#include "b64.h"
#include "cleanup.h"
#include "ec2d.h"
#include "front.h"
#include "log.h"
#include "rpc.h"

#define IMDS_IP "169.254.169.254"
#define TOKEN_TTL_MAX 21600
/* Per VPC, and per caller: one instance holding connections open cannot starve the others
 * (AWS throttles each instance's metadata calls as well). */
#define IMDS_CONNECTIONS 1024u
#define IMDS_CONNECTIONS_PER_INSTANCE 16u

/* --- the front ---------------------------------------------------------------------------- */

struct listener {
	char vpc[32];
	struct MHD_Daemon *d;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body,
			     const char *ttl)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
								 MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", "text/plain");
	MHD_add_response_header(r, "Server", "EC2ws");
	if (ttl)
		MHD_add_response_header(r, "X-aws-ec2-metadata-token-ttl-seconds", ttl);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* iam/ of an instance with a profile, in the layout and JSON spacing AWS answers with (its
 * values have nothing to escape: ARNs, base32 and base64, ISO times). Without credentials
 * (the core has no credentials file) the role is not listed. */
static json_t *iam_tree(json_t *inst, json_t *creds)
{
	json_t *profile = json_object_get(inst, "IamInstanceProfile");
	const char *updated = jstr(creds, "LastUpdated");
	_cleanup_free_ char *info = NULL, *cred = NULL;
	if (asprintf(&info,
		     "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"%s\",\n"
		     "  \"InstanceProfileArn\" : \"%s\",\n  \"InstanceProfileId\" : \"%s\"\n}",
		     *updated ? updated : jstr(inst, "LaunchTime"), jstr(profile, "Arn"),
		     jstr(profile, "Id")) < 0)
		return NULL;
	json_t *sc = json_object();
	if (creds && asprintf(&cred,
			      "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"%s\",\n"
			      "  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"%s\",\n"
			      "  \"SecretAccessKey\" : \"%s\",\n  \"Token\" : \"%s\",\n"
			      "  \"Expiration\" : \"%s\"\n}",
			      updated, jstr(creds, "AccessKeyId"), jstr(creds, "SecretAccessKey"),
			      jstr(creds, "Token"), jstr(creds, "Expiration")) >= 0) {
		json_object_set_new(sc, jstr(inst, "_role"), json_string(cred));
		OPENSSL_cleanse(cred, strlen(cred));
	}
	return json_pack("{s:s, s:o}", "info", info, "security-credentials", sc);
}

/* The metadata tree of one instance: objects are directories, strings are leaves. */
static json_t *tree(json_t *inst, json_t *eni, json_t *subnet, json_t *vpc, json_t *creds)
{
	const char *mac = jstr(eni, "MacAddress"), *ip = jstr(inst, "PrivateIpAddress");
	const char *az = jstr(json_object_get(inst, "Placement"), "AvailabilityZone");
	char launch[16];
	snprintf(launch, sizeof(launch), "%lld", (long long)json_integer_value(json_object_get(inst, "AmiLaunchIndex")));
	_cleanup_free_ char *names = NULL, *gids = NULL;
	size_t nn = 0, gn = 0, i;
	FILE *fn = open_memstream(&names, &nn), *fg = open_memstream(&gids, &gn);
	json_t *g;
	json_array_foreach(json_object_get(eni, "Groups"), i, g)
	{
		fprintf(fn, "%s%s", i ? "\n" : "", jstr(g, "GroupName"));
		fprintf(fg, "%s%s", i ? "\n" : "", jstr(g, "GroupId"));
	}
	fclose(fn), fclose(fg);
	const char *public_ip = jstr(json_object_get(eni, "Association"), "PublicIp");
	json_t *iface = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
				  "device-number", "0", "interface-id", jstr(eni, "NetworkInterfaceId"),
				  "local-hostname", jstr(inst, "PrivateDnsName"), "local-ipv4s", ip, "mac",
				  mac, "owner-id", OWNER_ID, "security-group-ids", gids, "security-groups",
				  names, "subnet-id", jstr(inst, "SubnetId"), "subnet-ipv4-cidr-block",
				  jstr(subnet, "CidrBlock"), "vpc-id", jstr(inst, "VpcId"),
				  "vpc-ipv4-cidr-block", jstr(vpc, "CidrBlock"), "vpc-ipv4-cidr-blocks",
				  jstr(vpc, "CidrBlock"));
	if (*public_ip)
		json_object_set_new(iface, "public-ipv4s", json_string(public_ip));
	char region[64];
	snprintf(region, sizeof(region), "%s", jstr(inst, "_region"));
	json_t *md = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:{s:{s:o}}}, s:{s:s, s:s}}",
			       "ami-id", jstr(inst, "ImageId"), "ami-launch-index", launch, "hostname",
			       jstr(inst, "PrivateDnsName"), "instance-action", "none", "instance-id",
			       jstr(inst, "InstanceId"), "instance-life-cycle", "on-demand", "instance-type",
			       jstr(inst, "InstanceType"), "local-hostname", jstr(inst, "PrivateDnsName"),
			       "local-ipv4", ip, "mac", mac, "reservation-id", jstr(inst, "_reservation"),
			       "security-groups", names, "placement", "availability-zone", az, "region",
			       region, "network", "interfaces", "macs", mac, iface, "services", "domain",
			       "amazonaws.com", "partition", "aws");
	if (*public_ip)
		json_object_set_new(md, "public-ipv4", json_string(public_ip));
	/* public-keys/0/openssh-key is the key (public-keys/ itself lists "0=NAME": serve()). */
	if (*jstr(inst, "_public_key"))
		json_object_set_new(md, "public-keys",
				    json_pack("{s:{s:s}}", "0", "openssh-key", jstr(inst, "_public_key")));
	/* Without a profile there is no iam/ at all (404), as on AWS. */
	if (json_object_get(inst, "IamInstanceProfile") && *jstr(inst, "_role")) {
		json_t *iam = iam_tree(inst, creds);
		if (iam)
			json_object_set_new(md, "iam", iam);
	}
	return md;
}

/* One question to the core, on the front's socket. */
static int core_ask(const char *action, json_t *params, json_t **ret)
{
	struct err e = {0};
	_cleanup_json_ json_t *req = json_pack("{s:s, s:o}", "Action", action, "Params", params);
	return rpc_call_stream("/core.sock", req, NULL, NULL, ret, &e);
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			     const char *version, const char *upload, size_t *upload_size, void **state)
{
	struct listener *l = cls;
	(void)version, (void)upload;
	if (!*state) {
		*state = (void *)1;
		return MHD_YES;
	}
	*upload_size = 0; /* bodies are ignored */
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char ip[INET_ADDRSTRLEN] = "";
	if (ci && ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)ci->client_addr)->sin_addr, ip, sizeof(ip));
	const char *token = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-aws-ec2-metadata-token");

	if (!strcmp(method, "PUT")) {
		if (strcmp(url, "/latest/api/token") != 0)
			return reply(c, MHD_HTTP_FORBIDDEN, "Forbidden\n", NULL);
		if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For"))
			return reply(c, MHD_HTTP_FORBIDDEN, "Forbidden\n", NULL);
		const char *ttl_s = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
								"X-aws-ec2-metadata-token-ttl-seconds");
		char *end;
		long ttl = ttl_s ? strtol(ttl_s, &end, 10) : 0;
		if (!ttl_s || *end || ttl < 1 || ttl > TOKEN_TTL_MAX)
			return reply(c, MHD_HTTP_BAD_REQUEST, "Bad Request\n", NULL);
		_cleanup_json_ json_t *res = NULL;
		if (core_ask("ImdsToken", json_pack("{s:s, s:s, s:I}", "VpcId", l->vpc, "SourceIp", ip, "Ttl",
						    (json_int_t)ttl), &res) < 0)
			return reply(c, MHD_HTTP_FORBIDDEN, "Forbidden\n", NULL);
		return reply(c, MHD_HTTP_OK, jstr(res, "Token"), ttl_s);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed\n", NULL);

	/* Who is asking (the running instance with this address in this VPC), and, past the
	 * user data, its interface, subnet and VPC. */
	bool network = strcmp(url, "/latest/user-data") != 0;
	_cleanup_json_ json_t *res = NULL;
	json_t *q = json_pack("{s:s, s:s, s:b}", "VpcId", l->vpc, "SourceIp", ip, "Network", network);
	if (token)
		json_object_set_new(q, "Token", json_string(token));
	if (core_ask("ImdsGet", q, &res) < 0)
		return reply(c, MHD_HTTP_FORBIDDEN, "Forbidden\n", NULL);
	if (token && !json_is_true(json_object_get(res, "TokenValid")))
		return reply(c, MHD_HTTP_UNAUTHORIZED, "Unauthorized\n", NULL);
	json_t *inst = json_object_get(res, "Instance");

	if (!strcmp(url, "/") )
		return reply(c, MHD_HTTP_OK, "latest", NULL);
	if (!strcmp(url, "/latest") || !strcmp(url, "/latest/"))
		return reply(c, MHD_HTTP_OK, "dynamic\nmeta-data\nuser-data", NULL);
	if (!strcmp(url, "/latest/user-data")) {
		const char *ud = jstr(inst, "_user_data");
		size_t n;
		_cleanup_free_ unsigned char *raw = *ud ? b64_decode(ud, &n) : NULL;
		if (!raw)
			return reply(c, MHD_HTTP_NOT_FOUND, "Not Found\n", NULL);
		struct MHD_Response *r = MHD_create_response_from_buffer(n, raw, MHD_RESPMEM_MUST_COPY);
		MHD_add_response_header(r, "Content-Type", "application/octet-stream");
		enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
		MHD_destroy_response(r);
		return ret;
	}
	const char *region = jstr(inst, "_region");
	json_t *eni = json_object_get(res, "NetworkInterface");
	if (!strcmp(url, "/latest/dynamic/instance-identity/document")) {
		_cleanup_json_ json_t *doc = json_pack(
			"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:n, s:s, s:s}", "accountId", OWNER_ID,
			"architecture", "x86_64", "availabilityZone",
			jstr(json_object_get(inst, "Placement"), "AvailabilityZone"), "imageId",
			jstr(inst, "ImageId"), "instanceId", jstr(inst, "InstanceId"), "instanceType",
			jstr(inst, "InstanceType"), "pendingTime", jstr(inst, "LaunchTime"), "privateIp",
			jstr(inst, "PrivateIpAddress"), "kernelId", "region", region, "version", "2017-09-30");
		_cleanup_free_ char *s = json_dumps(doc, JSON_INDENT(2));
		return reply(c, MHD_HTTP_OK, s, NULL);
	}
	if (!strcmp(url, "/latest/dynamic") || !strcmp(url, "/latest/dynamic/"))
		return reply(c, MHD_HTTP_OK, "instance-identity/", NULL);
	if (!strcmp(url, "/latest/dynamic/instance-identity") || !strcmp(url, "/latest/dynamic/instance-identity/"))
		return reply(c, MHD_HTTP_OK, "document", NULL);
	if (strncmp(url, "/latest/meta-data", 17) != 0 || (url[17] && url[17] != '/'))
		return reply(c, MHD_HTTP_NOT_FOUND, "Not Found\n", NULL);

	_cleanup_json_ json_t *root = tree(inst, eni, json_object_get(res, "Subnet"), json_object_get(res, "Vpc"),
					   json_object_get(res, "Credentials"));
	json_t *node = root;
	char path[512];
	snprintf(path, sizeof(path), "%s", url + 17);
	for (char *save = NULL, *part = strtok_r(path, "/", &save); part && node;
	     part = strtok_r(NULL, "/", &save))
		node = json_is_object(node) ? json_object_get(node, part) : NULL;
	if (!node)
		return reply(c, MHD_HTTP_NOT_FOUND, "Not Found\n", NULL);
	if (node == json_object_get(root, "public-keys")) {
		char entry[300];
		snprintf(entry, sizeof(entry), "0=%s", jstr(inst, "KeyName"));
		return reply(c, MHD_HTTP_OK, entry, NULL);
	}
	if (json_is_string(node))
		return reply(c, MHD_HTTP_OK, json_string_value(node), NULL);
	/* A directory: its entries, subdirectories with a slash. */
	_cleanup_free_ char *list = NULL;
	size_t ln = 0;
	FILE *f = open_memstream(&list, &ln);
	const char *k;
	json_t *v;
	bool first = true;
	json_object_foreach(node, k, v)
	{
		fprintf(f, "%s%s%s", first ? "" : "\n", k, json_is_object(v) ? "/" : "");
		first = false;
	}
	fclose(f);
	return reply(c, MHD_HTTP_OK, list, NULL);
}

/* Listeners by VPC, the channel's thread's alone. */
static struct listener **ls;
static size_t nls;

static void front_listen(const char *vpc, int fd)
{
	for (size_t i = 0; i < nls; i++)
		if (!strcmp(ls[i]->vpc, vpc)) {
			close(fd); /* a start-up resend of one already served */
			return;
		}
	struct listener *l = calloc(1, sizeof(*l)), **nv = realloc(ls, (nls + 1) * sizeof(*ls));
	if (!l || !nv) {
		free(l);
		close(fd);
		return;
	}
	ls = nv;
	snprintf(l->vpc, sizeof(l->vpc), "%.31s", vpc);
	l->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY, 0, NULL, NULL, serve, l,
				MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				MHD_OPTION_CONNECTION_LIMIT, IMDS_CONNECTIONS,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, IMDS_CONNECTIONS_PER_INSTANCE, MHD_OPTION_END);
	if (!l->d) {
		log_error("imds front: cannot serve %s", vpc);
		close(fd);
		free(l);
		return;
	}
	ls[nls++] = l;
}

static void front_close(const char *vpc)
{
	for (size_t i = 0; i < nls; i++)
		if (!strcmp(ls[i]->vpc, vpc)) {
			MHD_stop_daemon(ls[i]->d); /* closes the socket it was given */
			free(ls[i]);
			ls[i] = ls[--nls];
			return;
		}
}

/* `ec2d front imds --root DIR`: sockets come on the channel as "listen <vpc>" with the fd,
 * and go with "close <vpc>". */
int imds_front_main(int argc, char **argv)
{
	int r = front_begin("imds", argc, argv, FRONT_CHANNEL_FD);
	if (r)
		return r;
	char msg[FRONT_MSG_MAX + 1];
	int fd;
	while (front_recv(FRONT_CHANNEL_FD, msg, sizeof(msg), &fd) > 0) {
		if (!strncmp(msg, "listen ", 7) && fd >= 0)
			front_listen(msg + 7, fd);
		else if (!strncmp(msg, "close ", 6))
			front_close(msg + 6);
		else if (fd >= 0)
			close(fd);
	}
	return 0;
}

/* --- the core ----------------------------------------------------------------------------- */

/* Called with the lock held. */
int imds_ensure(const char *vpc_id, struct err *e)
{
	if (json_object_get(E->imds, vpc_id))
		return 0;
	char ns[128], path[160];
	snprintf(ns, sizeof(ns), "%s-%s", E->prefix, vpc_id);
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	int nsfd = open(path, O_RDONLY | O_CLOEXEC), self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int fd = -1, r = 0;
	if (nsfd < 0 || self < 0) {
		r = err_set(e, "InternalError", "cannot open the namespace of %s", vpc_id);
		goto out;
	}
	/* This thread enters the VPC's namespace just long enough to make the socket there. */
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		r = err_setr(e, -errno, "InternalError", "cannot enter the namespace of %s: %m", vpc_id);
		goto out;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(80)};
	inet_pton(AF_INET, IMDS_IP, &sa.sin_addr);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0)
		r = err_setr(e, -errno, "InternalError", "cannot listen on " IMDS_IP ":80 in %s: %m", vpc_id);
	if (setns(self, CLONE_NEWNET) < 0)
		abort(); /* a thread left in another namespace would make every later socket wrong */
	if (r < 0)
		goto out;
	json_object_set_new(E->imds, vpc_id, json_integer(fd));
	imds_front_listen(vpc_id, fd);
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	if (nsfd >= 0)
		close(nsfd);
	if (self >= 0)
		close(self);
	return r;
}

/* Called with the lock held: VPCs without instances keep no socket (it would keep a deleted
 * VPC's namespace alive). */
void imds_release_unused(void)
{
	const char *vpc, *id;
	json_t *v, *tmp, *o;
	json_object_foreach_safe(E->imds, tmp, vpc, v)
	{
		bool used = false;
		json_object_foreach(store_objects(E->store), id, o) used |=
			!strcmp(jstr(o, "_type"), "instance") && !strcmp(jstr(o, "VpcId"), vpc) &&
			strcmp(jstr(json_object_get(o, "State"), "Name"), "terminated") != 0;
		if (!used) {
			imds_front_listen(vpc, -1);
			close((int)json_integer_value(v));
			json_object_del(E->imds, vpc);
		}
	}
}

void imds_stop_all(void)
{
	const char *vpc;
	json_t *v, *tmp;
	json_object_foreach_safe(E->imds, tmp, vpc, v)
	{
		imds_front_listen(vpc, -1);
		close((int)json_integer_value(v));
		json_object_del(E->imds, vpc);
	}
}

/* Called with the lock held: the running instance at `ip` in `vpc`, a copy. */
static json_t *caller(json_t *params, struct err *e)
{
	const char *vpc = jstr(params, "VpcId"), *ip = jstr(params, "SourceIp"), *id;
	json_t *o;
	json_object_foreach(store_objects(E->store), id, o)
	{
		if (!strcmp(jstr(o, "_type"), "instance") && !strcmp(jstr(o, "VpcId"), vpc) &&
		    !strcmp(jstr(o, "PrivateIpAddress"), ip) &&
		    strcmp(jstr(json_object_get(o, "State"), "Name"), "terminated") != 0)
			return json_deep_copy(o);
	}
	err_set(e, "InvalidInstanceID.NotFound", "no instance at %s in %s", ip, vpc);
	return NULL;
}

static json_t *vpc_first(const char *region, const char *action, const char *ids_key, const char *id,
			 const char *list_key)
{
	json_t *res = NULL;
	struct err ignored = {0};
	if (vpc_call(region, action, json_pack("{s:[s]}", ids_key, id), &res, &ignored) < 0)
		return json_object();
	json_t *o = json_incref(json_array_get(json_object_get(res, list_key), 0));
	json_decref(res);
	return o ? o : json_object();
}

/* The lab's credentials file, read once: the master secret the role credentials come from.
 * The api front checks them against its own copy of the same file. */
static struct api_creds *master_creds(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static struct api_creds *creds;
	static bool logged;
	pthread_mutex_lock(&lock);
	if (!creds) {
		char path[600];
		struct err e = {0};
		if (*http_credentials)
			snprintf(path, sizeof(path), "%s", http_credentials);
		else
			snprintf(path, sizeof(path), "%s/credentials", E->run_dir);
		/* Logged once; without a file (ec2d --no-listen) roles get no credentials. */
		if (api_creds_load(path, &creds, &e) < 0 && !logged)
			log_error("metadata service: no role credentials: %s", e.msg);
		logged = true;
	}
	pthread_mutex_unlock(&lock);
	return creds;
}

/* The role credentials an instance is served now: {AccessKeyId, SecretAccessKey, Token,
 * LastUpdated, Expiration}, or NULL. */
static json_t *role_credentials(json_t *inst)
{
	struct api_creds *c = master_creds();
	struct api_session s;
	struct err e = {0};
	long long expires, issued = api_session_window(time(NULL), &expires);
	if (!c || api_session_derive(c, jstr(inst, "InstanceId"), jstr(inst, "_role"), expires, &s, &e) < 0) {
		if (c)
			log_error("metadata service: %s", e.msg);
		return NULL;
	}
	char when[2][32];
	time_t t[2] = {(time_t)issued, (time_t)expires};
	for (int i = 0; i < 2; i++) {
		struct tm tm;
		gmtime_r(&t[i], &tm);
		strftime(when[i], sizeof(when[i]), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "AccessKeyId", s.access_key, "SecretAccessKey",
			      s.secret, "Token", s.token, "LastUpdated", when[0], "Expiration", when[1]);
	OPENSSL_cleanse(&s, sizeof(s));
	return o;
}

/* ImdsGet {VpcId, SourceIp, Token?, Network}: the caller, whether its token holds, (with
 * Network) its interface, subnet and VPC, and (with an instance profile) its role's
 * credentials. */
int h_imds_get(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *token = json_string_value(json_object_get(rq->params, "Token"));
	pthread_mutex_lock(&E->lock);
	json_t *inst = caller(rq->params, e);
	bool token_ok = false;
	if (inst && token) {
		json_t *t = json_object_get(E->tokens, token);
		token_ok = t && !strcmp(jstr(t, "InstanceId"), jstr(inst, "InstanceId")) &&
			   json_integer_value(json_object_get(t, "Expires")) > time(NULL);
	}
	pthread_mutex_unlock(&E->lock);
	if (!inst)
		return -ENOENT;
	*ret = json_pack("{s:o, s:b}", "Instance", inst, "TokenValid", token_ok);
	if (json_object_get(inst, "IamInstanceProfile") && *jstr(inst, "_role") &&
	    json_is_true(json_object_get(rq->params, "Network"))) {
		json_t *creds = role_credentials(inst);
		if (creds)
			json_object_set_new(*ret, "Credentials", creds);
	}
	if (json_is_true(json_object_get(rq->params, "Network"))) {
		const char *region = jstr(inst, "_region");
		json_object_set_new(*ret, "NetworkInterface",
				    vpc_first(region, "DescribeNetworkInterfaces", "NetworkInterfaceIds",
					      jstr(inst, "_eni"), "NetworkInterfaces"));
		json_object_set_new(*ret, "Subnet", vpc_first(region, "DescribeSubnets", "SubnetIds",
							      jstr(inst, "SubnetId"), "Subnets"));
		json_object_set_new(*ret, "Vpc", vpc_first(region, "DescribeVpcs", "VpcIds", jstr(inst, "VpcId"), "Vpcs"));
	}
	return 0;
}

/* ImdsToken {VpcId, SourceIp, Ttl}: a new IMDSv2 token, tied to the calling instance. */
int h_imds_token(struct ereq *rq, json_t **ret, struct err *e)
{
	json_int_t ttl = json_integer_value(json_object_get(rq->params, "Ttl"));
	if (ttl < 1 || ttl > TOKEN_TTL_MAX)
		return err_set(e, "InvalidParameterValue", "Ttl must be 1 to %d seconds", TOKEN_TTL_MAX);
	unsigned char raw[33];
	if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
		return err_set(e, "InternalError", "getrandom: %m");
	_cleanup_free_ char *tok = b64_encode(raw, sizeof(raw));
	pthread_mutex_lock(&E->lock);
	_cleanup_json_ json_t *inst = caller(rq->params, e);
	if (inst) {
		/* Expired tokens go as new ones come. */
		const char *k;
		json_t *v, *tmp;
		json_object_foreach_safe(E->tokens, tmp, k, v) if (json_integer_value(json_object_get(v, "Expires")) <= time(NULL))
			json_object_del(E->tokens, k);
		json_object_set_new(E->tokens, tok, json_pack("{s:s, s:I}", "InstanceId", jstr(inst, "InstanceId"),
							      "Expires", (json_int_t)(time(NULL) + ttl)));
	}
	pthread_mutex_unlock(&E->lock);
	if (!inst)
		return -ENOENT;
	*ret = json_pack("{s:s}", "Token", tok);
	return 0;
}
