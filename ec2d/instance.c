/* Instances: launch, the lifecycle of AWS states, describe, console and exec. An instance is a
 * journaled record, an ENI from vpcd, a directory (the container's root, the console log) and,
 * while it runs, a libvirt domain. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/sha.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "api.h"
#include "b64.h"
#include "cleanup.h"
#include "ec2d.h"
#include "filter.h"
#include "page.h"
#include "log.h"
#include "rpc.h"

extern char **environ;

enum { PENDING = 0, RUNNING = 16, SHUTTING_DOWN = 32, TERMINATED = 48, STOPPING = 64, STOPPED = 80 };

static int state_code(const char *name)
{
	static const struct {
		const char *n;
		int c;
	} s[] = {{"pending", PENDING},	 {"running", RUNNING},	 {"shutting-down", SHUTTING_DOWN},
		 {"terminated", TERMINATED}, {"stopping", STOPPING}, {"stopped", STOPPED}};
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		if (strcmp(s[i].n, name) == 0)
			return s[i].c;
	return -1;
}

static json_t *state_json(const char *name)
{
	return json_pack("{s:i, s:s}", "Code", state_code(name), "Name", name);
}

static const char *state_of(json_t *inst)
{
	return jstr(json_object_get(inst, "State"), "Name");
}

void instance_dir(const char *id, char buf[static 512])
{
	snprintf(buf, 512, "%s/instances/%s", E->state_dir, id);
}

json_t *instance_get(const char *id)
{
	json_t *o = json_object_get(store_objects(E->store), id);
	return strcmp(jstr(o, "_type"), "instance") == 0 ? o : NULL;
}

/* Commits one instance's new value (NULL: deleted). */
static int commit_one(const char *id, json_t *obj, struct err *e)
{
	_cleanup_json_ json_t *ch = json_object();
	json_object_set(ch, id, obj ? obj : json_null());
	return state_commit(ch, e);
}

static void set_state(json_t *inst, const char *name, const char *reason)
{
	json_object_set_new(inst, "State", state_json(name));
	if (reason)
		json_object_set_new(inst, "StateTransitionReason", json_string(reason));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	remove(path);
	return 0;
}

static void remove_tree(const char *path)
{
	nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
}

static int copy_tree(const char *from, const char *to, struct err *e)
{
	/* cp keeps owners, modes, links and device nodes of an image as they are. */
	char *argv[] = {"cp", "-a", "--reflink=auto", (char *)from, (char *)to, NULL};
	pid_t pid;
	int st;
	if (posix_spawn(&pid, "/bin/cp", NULL, NULL, argv, environ) != 0)
		return err_set(e, "InternalError", "cannot run cp");
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return err_set(e, "InternalError", "cannot copy the image root '%s' to '%s'", from, to);
	return 0;
}

/* Undoes whatever part of a launch exists: the domain, the directory, the ENI. */
static void instance_discard(json_t *inst)
{
	struct err ignored = {0};
	char dir[512];
	const char *id = jstr(inst, "InstanceId");
	domain_stop(inst, false, &ignored);
	instance_dir(id, dir);
	remove_tree(dir);
	/* The ENI by its attachment (it may exist without the record knowing it yet). */
	json_t *res = NULL;
	if (vpc_call(jstr(inst, "_region"), "DescribeNetworkInterfaces",
		     json_pack("{s:[{s:s, s:[s]}]}", "Filters", "Name", "attachment.instance-id", "Values", id),
		     &res, &ignored) == 0) {
		size_t i;
		json_t *eni;
		json_array_foreach(json_object_get(res, "NetworkInterfaces"), i, eni)
		{
			json_t *x = NULL;
			vpc_call(jstr(inst, "_region"), "DetachNetworkInterface",
				 json_pack("{s:s, s:b}", "AttachmentId",
					   jstr(json_object_get(eni, "Attachment"), "AttachmentId"), "Force", 1),
				 &x, &ignored);
			json_decref(x);
			x = NULL;
			vpc_call(jstr(inst, "_region"), "DeleteNetworkInterface",
				 json_pack("{s:s}", "NetworkInterfaceId", jstr(eni, "NetworkInterfaceId")), &x,
				 &ignored);
			json_decref(x);
		}
	}
	json_decref(res);
}

/* --- run-instances -------------------------------------------------------------------------- */

struct launch {
	const char *region, *image_id, *type, *subnet_id, *private_ip, *user_data, *key_name, *public_key;
	json_t *profile; /* {Arn, Id} of the IAM instance profile, or NULL */
	const char *role;
	json_t *image, *subnet, *groups, *tags, *public_ip;
	const char *reservation, *client_token;
	int index;
};

static int default_subnet(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *res = NULL;
	int r = vpc_call(rq->region, "DescribeSubnets",
			 json_pack("{s:[{s:s, s:[s]}]}", "Filters", "Name", "default-for-az", "Values", "true"),
			 &res, e);
	if (r < 0)
		return r;
	json_t *best = NULL, *s;
	size_t i;
	json_array_foreach(json_object_get(res, "Subnets"), i, s)
	{
		if (!best || strcmp(jstr(s, "AvailabilityZone"), jstr(best, "AvailabilityZone")) < 0)
			best = s;
	}
	if (!best) {
		json_decref(res);
		return err_set(e, "VPCIdNotSpecified", "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.");
	}
	*ret = json_incref(best);
	json_decref(res);
	return 0;
}

static void hostname_of(const char *ip, char buf[static 32])
{
	snprintf(buf, 32, "ip-%s", ip);
	for (char *p = buf; *p; p++)
		if (*p == '.')
			*p = '-';
}

static const char *dns_domain(const char *region, char buf[static 64])
{
	snprintf(buf, 64, "%s", strcmp(region, "us-east-1") == 0 ? "ec2.internal" : "");
	if (!*buf)
		snprintf(buf, 64, "%s.compute.internal", region);
	return buf;
}

/* IamInstanceProfile {Name} or {Arn}: the lab has no IAM, so any well-formed profile of the
 * lab's account exists, and its role has the profile's name (what the console's "create role"
 * makes). Its ID is derived from the name, so the same profile has the same ID everywhere. */
static int instance_profile(json_t *spec, json_t **ret, char role[static API_ROLE_MAX + 1], struct err *e)
{
	static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	const char *name = jstr(spec, "Name"), *arn = jstr(spec, "Arn");
	char prefix[64], buf[300], id[32], msg[API_ROLE_MAX + 24];
	unsigned char h[SHA256_DIGEST_LENGTH];

	if (*name && *arn)
		return err_set(e, "InvalidParameterCombination",
			       "The parameter 'iamInstanceProfile.name' may not be used in combination with 'iamInstanceProfile.arn'");
	if (*arn) {
		/* arn:aws:iam::ACCOUNT:instance-profile/[PATH/]NAME */
		snprintf(prefix, sizeof(prefix), "arn:aws:iam::%s:instance-profile/", OWNER_ID);
		const char *rest = strncmp(arn, prefix, strlen(prefix)) ? NULL : arn + strlen(prefix);
		const char *slash = rest ? strrchr(rest, '/') : NULL;
		name = slash ? slash + 1 : rest;
		bool path_ok = rest && strlen(arn) < sizeof(buf);
		for (const char *p = rest; path_ok && p < name; p++)
			path_ok = strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+=,.@-/", *p);
		if (!path_ok || !api_role_name_valid(name))
			return err_set(e, "InvalidParameterValue",
				       "Value (%s) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN",
				       arn);
		snprintf(buf, sizeof(buf), "%s", arn);
	} else {
		if (!api_role_name_valid(name))
			return err_set(e, "InvalidParameterValue",
				       "Value (%s) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name",
				       name);
		snprintf(buf, sizeof(buf), "arn:aws:iam::%s:instance-profile/%s", OWNER_ID, name);
	}
	int n = snprintf(msg, sizeof(msg), "instance-profile|%s", name);
	SHA256((const unsigned char *)msg, (size_t)n, h);
	memcpy(id, "AIPA", 4);
	for (int i = 0; i < 17; i++)
		id[4 + i] = alnum[h[i] % 36];
	id[21] = 0;
	snprintf(role, API_ROLE_MAX + 1, "%s", name);
	*ret = json_pack("{s:s, s:s}", "Arn", buf, "Id", id);
	return 0;
}

static int launch_one(struct ereq *rq, struct launch *L, json_t **ret_inst, struct err *e)
{
	char id[ID_MAX], when[32], host[32], dom[64], fqdn[128], dir[512], link[16];
	const char *kind = jstr(L->image, "Kind");
	json_t *res = NULL;
	int r;

	id_make(&E->ids, "i", id);
	time_iso(when);
	/* The record first, as pending: a crash from here on is undone at the next start. */
	json_t *inst = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:i, s:s, s:s, s:O, s:s}",
				 "_type", "instance", "_region", L->region, "_kind", kind, "_reservation",
				 L->reservation, "InstanceId", id, "ImageId", L->image_id, "InstanceType", L->type,
				 "State", state_json("pending"), "LaunchTime", when, "AmiLaunchIndex", L->index,
				 "SubnetId", jstr(L->subnet, "SubnetId"), "VpcId", jstr(L->subnet, "VpcId"),
				 "Tags", L->tags, "StateTransitionReason", "");
	json_object_set_new(inst, "Placement", json_pack("{s:s, s:s, s:s}", "AvailabilityZone",
							 jstr(L->subnet, "AvailabilityZone"), "GroupName", "",
							 "Tenancy", "default"));
	if (L->user_data)
		json_object_set_new(inst, "_user_data", json_string(L->user_data));
	if (L->client_token)
		json_object_set_new(inst, "ClientToken", json_string(L->client_token));
	if (L->key_name)
		json_object_set_new(inst, "KeyName", json_string(L->key_name));
	if (L->public_key)
		json_object_set_new(inst, "_public_key", json_string(L->public_key));
	if (L->profile) {
		/* The metadata service hands the role's credentials out (imds.c). */
		json_object_set(inst, "IamInstanceProfile", L->profile);
		json_object_set_new(inst, "_role", json_string(L->role));
	}
	if ((r = commit_one(id, inst, e)) < 0) {
		json_decref(inst);
		return r;
	}
	inst = instance_get(id);

	/* The ENI, attached at once. */
	json_t *p = json_pack("{s:s, s:s}", "SubnetId", jstr(L->subnet, "SubnetId"), "Description", "");
	if (L->private_ip)
		json_object_set_new(p, "PrivateIpAddress", json_string(L->private_ip));
	if (json_array_size(L->groups))
		json_object_set(p, "Groups", L->groups);
	if (L->public_ip)
		json_object_set(p, "AssociatePublicIpAddress", L->public_ip);
	if ((r = vpc_call(L->region, "CreateNetworkInterface", p, &res, e)) < 0)
		goto fail;
	json_t *eni = json_object_get(res, "NetworkInterface");
	const char *eni_id = jstr(eni, "NetworkInterfaceId"), *ip = jstr(eni, "PrivateIpAddress");
	json_t *att = NULL;
	if ((r = vpc_call(L->region, "AttachNetworkInterface",
			  json_pack("{s:s, s:s, s:i, s:b}", "NetworkInterfaceId", eni_id, "InstanceId", id,
				    "DeviceIndex", 0, "DeleteOnTermination", 1),
			  &att, e)) < 0) {
		struct err ignored = {0};
		json_t *x = NULL;
		vpc_call(L->region, "DeleteNetworkInterface", json_pack("{s:s}", "NetworkInterfaceId", eni_id),
			 &x, &ignored);
		json_decref(x);
		goto fail;
	}
	json_decref(att);
	hostname_of(ip, host);
	snprintf(fqdn, sizeof(fqdn), "%s.%s", host, dns_domain(L->region, dom));
	snprintf(link, sizeof(link), "%se%s", E->prefix, id_tail(eni_id));
	json_object_set_new(inst, "_eni", json_string(eni_id));
	json_object_set_new(inst, "_mac", json_string(jstr(eni, "MacAddress")));
	json_object_set_new(inst, "_link", json_string(link));
	json_object_set_new(inst, "_hostname", json_string(host));
	json_object_set_new(inst, "PrivateIpAddress", json_string(ip));
	json_object_set_new(inst, "PrivateDnsName", json_string(fqdn));

	instance_dir(id, dir);
	char parent[600];
	snprintf(parent, sizeof(parent), "%s/instances", E->state_dir);
	mkdir(parent, 0755);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		r = err_setr(e, -errno, "InternalError", "cannot make '%s': %m", dir);
		goto fail;
	}
	/* The instance's own copy of the image: a container's root, a VM's kernel and initrd
	 * (hard links when the file system allows). */
	if (strcmp(kind, "lxc") == 0) {
		char from[600], to[600];
		snprintf(from, sizeof(from), "%s/rootfs", jstr(L->image, "_dir"));
		snprintf(to, sizeof(to), "%s/rootfs", dir);
		if ((r = copy_tree(from, to, e)) < 0)
			goto fail;
		json_object_set_new(inst, "_init", json_string(*jstr(L->image, "Init") ? jstr(L->image, "Init") : "/sbin/init"));
	} else {
		static const char *const files[][2] = {{"Kernel", "vmlinuz"}, {"Initrd", "initrd.img"}};
		for (int k = 0; k < 2; k++) {
			char from[600], to[600];
			snprintf(from, sizeof(from), "%s/%s", jstr(L->image, "_dir"), jstr(L->image, files[k][0]));
			snprintf(to, sizeof(to), "%s/%s", dir, files[k][1]);
			if (linkat(AT_FDCWD, from, AT_FDCWD, to, 0) < 0 && (r = copy_tree(from, to, e)) < 0)
				goto fail;
		}
		json_object_set_new(inst, "_cmdline", json_string(jstr(L->image, "Cmdline")));
	}
	if ((r = imds_ensure(jstr(inst, "VpcId"), e)) < 0 || (r = domain_start(inst, e)) < 0)
		goto fail;
	set_state(inst, "running", NULL);
	if ((r = commit_one(id, inst, e)) < 0)
		goto fail;
	json_decref(res);
	*ret_inst = inst;
	return 0;
fail:
	json_decref(res);
	instance_discard(inst);
	struct err ignored = {0};
	commit_one(id, NULL, &ignored);
	return r;
}

/* The instance as describe-instances prints it, with its ENI's live view from vpcd. */
static json_t *instance_public(json_t *inst, json_t *eni)
{
	json_t *pub = json_object(), *v;
	const char *k;
	json_object_foreach(inst, k, v) if (k[0] != '_') json_object_set(pub, k, v);
	const json_t *type = instance_type_get(jstr(inst, "InstanceType"));
	json_t *vc = json_object_get((json_t *)type, "VCpuInfo");
	json_object_set_new(pub, "Architecture", json_string("x86_64"));
	json_object_set_new(pub, "Hypervisor", json_string("xen"));
	json_object_set_new(pub, "VirtualizationType", json_string("hvm"));
	json_object_set_new(pub, "RootDeviceType", json_string("ebs"));
	json_object_set_new(pub, "RootDeviceName", json_string("/dev/xvda"));
	json_object_set_new(pub, "PlatformDetails", json_string("Linux/UNIX"));
	json_object_set_new(pub, "EbsOptimized", json_false());
	json_object_set_new(pub, "EnaSupport", json_true());
	json_object_set_new(pub, "ProductCodes", json_array());
	json_object_set_new(pub, "BlockDeviceMappings", json_array());
	json_object_set_new(pub, "PublicDnsName", json_string(""));
	json_object_set_new(pub, "Monitoring", json_pack("{s:s}", "State", "disabled"));
	json_object_set_new(pub, "CpuOptions",
			    json_pack("{s:O, s:O}", "CoreCount", json_object_get(vc, "DefaultCores"),
				      "ThreadsPerCore", json_object_get(vc, "DefaultThreadsPerCore")));
	json_object_set_new(pub, "MetadataOptions",
			    json_pack("{s:s, s:s, s:i, s:s}", "State", "applied", "HttpTokens", "optional",
				      "HttpPutResponseHopLimit", 1, "HttpEndpoint", "enabled"));
	if (json_array_size(json_object_get(pub, "Tags")) == 0)
		json_object_del(pub, "Tags");
	if (!eni)
		return pub;
	json_t *groups = json_object_get(eni, "Groups") ?: json_array();
	json_object_set(pub, "SecurityGroups", groups);
	json_object_set(pub, "SourceDestCheck", json_object_get(eni, "SourceDestCheck"));
	json_t *assoc = json_object_get(eni, "Association");
	if (assoc && *jstr(assoc, "PublicIp"))
		json_object_set(pub, "PublicIpAddress", json_object_get(assoc, "PublicIp"));
	json_t *ni = json_object();
	static const char *const keep[] = {"Attachment", "Association", "Description", "Groups",
					   "MacAddress", "NetworkInterfaceId", "OwnerId",
					   "PrivateDnsName", "PrivateIpAddress", "PrivateIpAddresses",
					   "SourceDestCheck", "Status", "SubnetId", "VpcId",
					   "InterfaceType", NULL};
	for (const char *const *kk = keep; *kk; kk++)
		if ((v = json_object_get(eni, *kk)))
			json_object_set(ni, *kk, v);
	json_object_set_new(pub, "NetworkInterfaces", json_pack("[o]", ni));
	return pub;
}

/* ENIs of the region's instances, by instance ID. */
static json_t *enis_by_instance(const char *region)
{
	json_t *res = NULL, *out = json_object(), *eni;
	struct err ignored = {0};
	size_t i;
	if (vpc_call(region, "DescribeNetworkInterfaces",
		     json_pack("{s:[{s:s, s:[s]}]}", "Filters", "Name", "attachment.instance-id", "Values", "i-*"),
		     &res, &ignored) < 0)
		return out;
	json_array_foreach(json_object_get(res, "NetworkInterfaces"), i, eni)
		json_object_set(out, jstr(json_object_get(eni, "Attachment"), "InstanceId"), eni);
	json_decref(res);
	return out;
}

static json_t *reservation_json(const char *rid, json_t *instances)
{
	return json_pack("{s:s, s:s, s:[], s:o}", "ReservationId", rid, "OwnerId", OWNER_ID, "Groups",
			 "Instances", instances);
}

static int run_instances(struct ereq *rq, json_t **ret, struct err *e)
{
	struct launch L = {.region = rq->region};
	json_t *P = rq->params;
	long long min = json_integer_value(json_object_get(P, "MinCount"));
	long long max = json_integer_value(json_object_get(P, "MaxCount"));
	_cleanup_json_ json_t *subnet = NULL, *groups = NULL, *tags = json_array(), *profile = NULL;
	char rid[ID_MAX], role[API_ROLE_MAX + 1];

	L.image_id = jstr(P, "ImageId");
	L.type = *jstr(P, "InstanceType") ? jstr(P, "InstanceType") : "t3.micro";
	L.subnet_id = jstr(P, "SubnetId");
	L.private_ip = *jstr(P, "PrivateIpAddress") ? jstr(P, "PrivateIpAddress") : NULL;
	L.key_name = *jstr(P, "KeyName") ? jstr(P, "KeyName") : NULL;
	L.client_token = *jstr(P, "ClientToken") ? jstr(P, "ClientToken") : NULL;
	groups = jlist(P, "SecurityGroupIds");
	/* NetworkInterfaces[0] (what `aws ec2 run-instances --associate-public-ip-address` sends). */
	json_t *ni = json_array_get(json_object_get(P, "NetworkInterfaces"), 0);
	if (ni) {
		/* As EC2: the interface's settings are given in one place, not in both. */
		if (*L.subnet_id)
			return err_set(e, "InvalidParameterCombination",
				       "Network interfaces and an instance-level subnet ID may not be specified on the same request");
		if (json_array_size(groups))
			return err_set(e, "InvalidParameterCombination",
				       "Network interfaces and an instance-level security groups may not be specified on the same request");
		if (L.private_ip)
			return err_set(e, "InvalidParameterCombination",
				       "Network interfaces and an instance-level private IP address may not be specified on the same request");
		if (json_integer_value(json_object_get(ni, "DeviceIndex")) != 0 ||
		    json_array_size(json_object_get(P, "NetworkInterfaces")) > 1)
			return err_set(e, "InvalidParameterValue", "Only device index 0 is supported: instances have one network interface");
		if (*jstr(ni, "NetworkInterfaceId")) {
			/* An existing interface: EC2's errors for a wrong one; a right one is not supported. */
			json_t *res = NULL;
			int rr = vpc_call(rq->region, "DescribeNetworkInterfaces",
					  json_pack("{s:[s]}", "NetworkInterfaceIds", jstr(ni, "NetworkInterfaceId")), &res, e);
			if (rr < 0)
				return rr;
			bool in_use = !strcmp(
				jstr(json_array_get(json_object_get(res, "NetworkInterfaces"), 0), "Status"), "in-use");
			json_decref(res);
			if (in_use)
				return err_set(e, "InvalidNetworkInterface.InUse", "Interface: [%s] in use.",
					       jstr(ni, "NetworkInterfaceId"));
			return err_set(e, "UnsupportedOperation",
				       "vpclab launches instances with a new network interface, not an existing one");
		}
		if (*jstr(ni, "SubnetId"))
			L.subnet_id = jstr(ni, "SubnetId");
		if (*jstr(ni, "PrivateIpAddress"))
			L.private_ip = jstr(ni, "PrivateIpAddress");
		if (json_object_get(ni, "Groups")) {
			json_decref(groups);
			groups = jlist(ni, "Groups");
		}
		L.public_ip = json_object_get(ni, "AssociatePublicIpAddress");
	}
	if (!*L.image_id)
		return err_set(e, "MissingParameter", "The request must contain the parameter ImageId");
	if (id_check(L.image_id, "ami") < 0)
		return err_set(e, "InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", L.image_id);
	images_load(e);
	if (!(L.image = image_get(L.image_id)))
		return err_set(e, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", L.image_id);
	if (!instance_type_get(L.type))
		return err_set(e, "InvalidParameterValue", "Invalid value '%s' for InstanceType.", L.type);
	/* The instance keeps its own copy of the public key: deleting the key pair later leaves it. */
	json_t *key = L.key_name ? keypair_by_name(rq->region, L.key_name) : NULL;
	if (L.key_name && !key)
		return err_set(e, "InvalidKeyPair.NotFound", "The key pair '%s' does not exist", L.key_name);
	L.public_key = key ? jstr(key, "PublicKey") : NULL;
	json_t *ip_spec = json_object_get(P, "IamInstanceProfile");
	if (ip_spec && (*jstr(ip_spec, "Name") || *jstr(ip_spec, "Arn"))) {
		int rr = instance_profile(ip_spec, &profile, role, e);
		if (rr < 0)
			return rr;
		L.profile = profile;
		L.role = role;
	}
	/* Both are required (the aws CLI's --count sends both; so does ec2d's CLI). */
	if (!json_object_get(P, "MinCount"))
		return err_set(e, "MissingParameter", "The request must contain the parameter MinCount");
	if (!json_object_get(P, "MaxCount"))
		return err_set(e, "MissingParameter", "The request must contain the parameter MaxCount");
	if (min < 1 || max < 1 || min > max)
		return err_set(e, "InvalidParameterValue",
			       "MinCount (%lld) and MaxCount (%lld) must be at least 1, and MinCount no more than MaxCount",
			       min, max);
	if (max > 100)
		return err_set(e, "InstanceLimitExceeded",
			       "You have requested more instances (%lld) than your current instance limit of 100 allows",
			       max);
	if (L.private_ip && max > 1)
		return err_set(e, "InvalidParameterCombination",
			       "Cannot specify the private IP address '%s' for more than one instance", L.private_ip);
	const char *ud = jstr(P, "UserData");
	if (*ud) {
		size_t n;
		_cleanup_free_ unsigned char *raw = b64_decode(ud, &n);
		if (!raw)
			return err_set(e, "InvalidParameterValue", "Invalid BASE64 encoding of user data.");
		if (n > 16384)
			return err_set(e, "InvalidParameterValue", "User data is limited to 16384 bytes");
		L.user_data = ud;
	}
	/* Tags for the instance (other resource types are accepted and not applied). */
	size_t i;
	json_t *ts;
	json_array_foreach(json_object_get(P, "TagSpecifications"), i, ts)
	{
		const char *rt = jstr(ts, "ResourceType");
		if (strcmp(rt, "instance") && strcmp(rt, "network-interface") && strcmp(rt, "volume"))
			return err_set(e, "InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", rt);
		if (strcmp(rt, "instance") == 0 && json_is_array(json_object_get(ts, "Tags")))
			json_array_extend(tags, json_object_get(ts, "Tags"));
	}
	L.tags = tags;
	/* Idempotency: the same ClientToken returns the first call's reservation. */
	json_t *tokens = json_object_get(store_meta(E->store), "client_tokens");
	json_t *seen = L.client_token ? json_object_get(tokens, L.client_token) : NULL;
	if (seen) {
		json_t *want = json_deep_copy(P), *had = json_object_get(seen, "Params");
		json_object_del(want, "DryRun");
		bool same = json_equal(want, had);
		json_decref(want);
		if (!same)
			return err_set(e, "IdempotentParameterMismatch",
				       "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).");
		json_t *list = json_array(), *v;
		_cleanup_json_ json_t *enis = enis_by_instance(rq->region);
		json_array_foreach(json_object_get(seen, "Instances"), i, v)
		{
			json_t *inst = instance_get(json_string_value(v));
			if (inst)
				json_array_append_new(list, instance_public(inst, json_object_get(enis, json_string_value(v))));
		}
		*ret = reservation_json(jstr(seen, "ReservationId"), list);
		return 0;
	}
	int r;
	if (*L.subnet_id) {
		json_t *res = NULL;
		if ((r = vpc_call(rq->region, "DescribeSubnets", json_pack("{s:[s]}", "SubnetIds", L.subnet_id),
				  &res, e)) < 0)
			return r;
		subnet = json_incref(json_array_get(json_object_get(res, "Subnets"), 0));
		json_decref(res);
	} else if ((r = default_subnet(rq, &subnet, e)) < 0) {
		return r;
	}
	L.subnet = subnet;
	L.groups = groups;
	if ((r = fis_api_fault("RunInstances", jstr(subnet, "AvailabilityZone"), e)) < 0)
		return r;
	if (!L.public_ip && json_is_true(json_object_get(subnet, "MapPublicIpOnLaunch")))
		L.public_ip = json_true();
	if (json_is_true(json_object_get(P, "DryRun")))
		return err_set(e, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.");

	id_make(&E->ids, "r", rid);
	L.reservation = rid;
	json_t *launched = json_array();
	for (long long k = 0; k < max; k++) {
		json_t *inst = NULL;
		struct err le = {0};
		L.index = (int)k;
		if (max >= 5 && rq->fd >= 0) {
			char msg[96];
			snprintf(msg, sizeof(msg), "launching %lld of %lld instances", k + 1, max);
			_cleanup_json_ json_t *ev = json_pack("{s:s}", "Progress", msg);
			rpc_send_event(rq->fd, ev);
		}
		if ((r = launch_one(rq, &L, &inst, &le)) < 0) {
			/* Fewer than asked is a success once MinCount are running. */
			if (k >= min && !strcmp(le.code, "InsufficientFreeAddressesInSubnet"))
				break;
			size_t j;
			json_t *v;
			json_array_foreach(launched, j, v)
			{
				const char *lid = json_string_value(v);
				instance_discard(instance_get(lid));
				struct err ignored = {0};
				commit_one(lid, NULL, &ignored);
			}
			json_decref(launched);
			*e = le;
			return r;
		}
		json_array_append_new(launched, json_string(jstr(inst, "InstanceId")));
	}
	if (L.client_token) {
		json_t *want = json_deep_copy(P);
		json_object_del(want, "DryRun");
		json_t *meta = json_deep_copy(store_meta(E->store));
		if (!json_object_get(meta, "client_tokens"))
			json_object_set_new(meta, "client_tokens", json_object());
		json_object_set_new(json_object_get(meta, "client_tokens"), L.client_token,
				    json_pack("{s:s, s:O, s:o}", "ReservationId", rid, "Instances", launched,
					      "Params", want));
		_cleanup_json_ json_t *none = json_object();
		store_commit(E->store, none, meta, e);
		json_decref(meta);
	}
	json_t *list = json_array(), *v;
	_cleanup_json_ json_t *enis = enis_by_instance(rq->region);
	json_array_foreach(launched, i, v)
	{
		json_t *pub = instance_public(instance_get(json_string_value(v)),
					      json_object_get(enis, json_string_value(v)));
		/* As EC2 answers: the launch is under way. */
		json_object_set_new(pub, "State", state_json("pending"));
		json_array_append_new(list, pub);
	}
	json_decref(launched);
	*ret = reservation_json(rid, list);
	return 0;
}

/* RunInstances, from the request's parameters or (LaunchTemplate) the template's data under them. */
int h_run_instances(struct ereq *rq, json_t **ret, struct err *e)
{
	if (!json_object_get(rq->params, "LaunchTemplate"))
		return run_instances(rq, ret, e);
	json_t *given = rq->params, *merged = NULL;
	int r = launch_template_params(rq->region, given, &merged, e);
	if (r < 0)
		return r;
	rq->params = merged;
	r = run_instances(rq, ret, e);
	rq->params = given;
	json_decref(merged);
	return r;
}

/* --- describe --------------------------------------------------------------------------------- */

static const struct filter_map instance_filters[] = {
	{"instance-id", "InstanceId"},
	{"instance-state-name", "State.Name"},
	{"instance-state-code", "State.Code"},
	{"instance-type", "InstanceType"},
	{"image-id", "ImageId"},
	{"subnet-id", "SubnetId"},
	{"vpc-id", "VpcId"},
	{"private-ip-address", "PrivateIpAddress"},
	{"ip-address", "PublicIpAddress"},
	{"private-dns-name", "PrivateDnsName"},
	{"availability-zone", "Placement.AvailabilityZone"},
	{"reservation-id", "ReservationId"},
	{"key-name", "KeyName"},
	{"launch-time", "LaunchTime"},
	{"architecture", "Architecture"},
	{"client-token", "ClientToken"},
	{"network-interface.network-interface-id", "NetworkInterfaces.NetworkInterfaceId"},
	{"network-interface.mac-address", "NetworkInterfaces.MacAddress"},
	{"instance.group-id", "SecurityGroups.GroupId"},
	{"instance.group-name", "SecurityGroups.GroupName"},
	{"tenancy", "Placement.Tenancy"},
	{"iam-instance-profile.arn", "IamInstanceProfile.Arn"},
	{"iam-instance-profile.id", "IamInstanceProfile.Id"},
	{NULL, NULL}};

static int check_ids(struct ereq *rq, json_t *ids, struct err *e)
{
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v)
	{
		const char *id = json_string_value(v) ?: "";
		if (id_check(id, "i") < 0)
			return err_set(e, "InvalidInstanceID.Malformed", "Invalid id: \"%s\"", id);
		json_t *inst = instance_get(id);
		if (!inst || strcmp(jstr(inst, "_region"), rq->region) != 0)
			return err_set(e, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id);
	}
	return 0;
}

/* No IDs asked for: every one. */
static bool listed(json_t *ids, const char *id) { return !json_array_size(ids) || jlist_has(ids, id); }

/* The region's instances that pass the IDs, filters and page, as public objects. */
static int select_instances(struct ereq *rq, const struct filter_map *map, json_t **ret,
			    json_t **ret_token, struct err *e)
{
	_cleanup_json_ json_t *ids = jlist(rq->params, "InstanceIds");
	_cleanup_json_ json_t *filters = jlist(rq->params, "Filters");
	long long max, start, seen = 0;
	int r;
	if ((r = check_ids(rq, ids, e)) < 0 || (r = filters_check(filters, map, e)) < 0 ||
	    (r = page_params(rq->params, &max, &start, e)) < 0)
		return r;
	if (max && json_array_size(ids))
		return err_set(e, "InvalidParameterCombination",
			       "The parameter instancesSet cannot be used with the parameter maxResults");
	_cleanup_json_ json_t *enis = enis_by_instance(rq->region);
	json_t *out = json_array(), *o;
	const char *id;
	*ret_token = NULL;
	json_object_foreach(store_objects(E->store), id, o)
	{
		if (strcmp(jstr(o, "_type"), "instance") || strcmp(jstr(o, "_region"), rq->region) ||
		    !listed(ids, id) || !strcmp(state_of(o), "pending"))
			continue;
		json_t *pub = instance_public(o, json_object_get(enis, id));
		json_object_set_new(pub, "ReservationId", json_string(jstr(o, "_reservation")));
		if (!filters_match(pub, filters, map) || seen++ < start) {
			json_decref(pub);
			continue;
		}
		if (max && (long long)json_array_size(out) == max) {
			*ret_token = page_token(seen - 1);
			json_decref(pub);
			break;
		}
		json_array_append_new(out, pub);
	}
	*ret = out;
	return 0;
}

int h_describe_instances(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *list, *token = NULL, *pub;
	int r = select_instances(rq, instance_filters, &list, &token, e);
	if (r < 0)
		return r;
	/* Grouped by reservation, in launch order. */
	json_t *res = json_array(), *by = json_object();
	size_t i;
	json_array_foreach(list, i, pub)
	{
		const char *rid = jstr(pub, "ReservationId");
		json_t *rv = json_object_get(by, rid);
		if (!rv) {
			rv = reservation_json(rid, json_array());
			json_array_append_new(res, rv);
			json_object_set(by, rid, rv);
		}
		json_object_del(pub, "ReservationId");
		json_array_append(json_object_get(rv, "Instances"), pub);
	}
	json_decref(by);
	json_decref(list);
	*ret = json_pack("{s:o}", "Reservations", res);
	if (token)
		json_object_set_new(*ret, "NextToken", token);
	return 0;
}

/* "initializing" until the guest's init says it is ready on the console, as EC2's status
 * checks pass some time after the instance runs. */
static bool guest_ready(json_t *inst)
{
	char *buf;
	size_t n;
	if (console_read(inst, &buf, &n) < 0 || !buf)
		return false;
	const char *boot = NULL, *p = buf;
	/* Only this boot counts: after the last start marker (domain_start writes it). */
	while ((p = memmem(p, n - (size_t)(p - buf), CONSOLE_START_MARK, strlen(CONSOLE_START_MARK))))
		boot = p++;
	bool ok = memmem(boot ? boot : buf, n - (size_t)((boot ? boot : buf) - buf), "vpclab-init: ready", 18) != NULL;
	free(buf);
	return ok;
}

static const struct filter_map status_filters[] = {
	{"availability-zone", "AvailabilityZone"},
	{"instance-state-name", "InstanceState.Name"},
	{"instance-state-code", "InstanceState.Code"},
	{"instance-status.status", "InstanceStatus.Status"},
	{"system-status.status", "SystemStatus.Status"},
	{NULL, NULL}};

int h_describe_instance_status(struct ereq *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *ids = jlist(rq->params, "InstanceIds");
	_cleanup_json_ json_t *filters = jlist(rq->params, "Filters");
	bool all = json_is_true(json_object_get(rq->params, "IncludeAllInstances"));
	int r;
	if ((r = check_ids(rq, ids, e)) < 0 || (r = filters_check(filters, status_filters, e)) < 0)
		return r;
	json_t *out = json_array(), *o;
	const char *id;
	json_object_foreach(store_objects(E->store), id, o)
	{
		if (strcmp(jstr(o, "_type"), "instance") || strcmp(jstr(o, "_region"), rq->region) ||
		    !listed(ids, id) || !strcmp(state_of(o), "pending"))
			continue;
		bool running = strcmp(state_of(o), "running") == 0;
		if (!running && !all)
			continue;
		const char *st = !running ? "not-applicable" : guest_ready(o) ? "ok" : "initializing";
		const char *reach = !running ? "not-applicable" : !strcmp(st, "ok") ? "passed" : "initializing";
		json_t *s = json_pack("{s:s, s:s, s:O, s:{s:s, s:[{s:s, s:s}]}, s:{s:s, s:[{s:s, s:s}]}}",
				      "InstanceId", id, "AvailabilityZone",
				      jstr(json_object_get(o, "Placement"), "AvailabilityZone"), "InstanceState",
				      json_object_get(o, "State"), "InstanceStatus", "Status", st, "Details",
				      "Name", "reachability", "Status", reach, "SystemStatus", "Status",
				      running ? "ok" : "not-applicable", "Details", "Name", "reachability",
				      "Status", running ? "passed" : "not-applicable");
		if (filters_match(s, filters, status_filters))
			json_array_append(out, s);
		json_decref(s);
	}
	*ret = json_pack("{s:o}", "InstanceStatuses", out);
	return 0;
}

/* --- lifecycle -------------------------------------------------------------------------------- */

typedef int (*transition_fn)(json_t *inst, struct ereq *rq, struct err *e);

/* Applies a transition to every listed instance after checking them all: either every
 * instance is in a state that allows it, or nothing happens. */
static int transition(struct ereq *rq, const char *out_key, const char *const *allowed,
		      const char *const *noop, const char *shown, transition_fn fn, json_t **ret,
		      struct err *e)
{
	_cleanup_json_ json_t *ids = jlist(rq->params, "InstanceIds");
	size_t i;
	json_t *v;
	int r;
	if (!json_array_size(ids))
		return err_set(e, "MissingParameter", "The request must contain the parameter InstanceIds");
	if ((r = check_ids(rq, ids, e)) < 0)
		return r;
	json_array_foreach(ids, i, v)
	{
		json_t *inst = instance_get(json_string_value(v));
		const char *st = state_of(inst);
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			ok |= !strcmp(*a, st);
		for (const char *const *a = noop; *a; a++)
			ok |= !strcmp(*a, st);
		if (!ok)
			return err_set(e, "IncorrectInstanceState",
				       "The instance '%s' is not in a state from which it can be %s.",
				       json_string_value(v), !out_key                  ? "rebooted"
							     : !strcmp(out_key, "StoppingInstances") ? "stopped"
							     : !strcmp(out_key, "StartingInstances") ? "started"
											     : "terminated");
	}
	if (json_is_true(json_object_get(rq->params, "DryRun")))
		return err_set(e, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.");
	json_t *out = json_array();
	int first = 0;
	json_array_foreach(ids, i, v)
	{
		json_t *inst = instance_get(json_string_value(v));
		_cleanup_json_ json_t *prev = json_deep_copy(json_object_get(inst, "State"));
		bool skip = false;
		for (const char *const *a = noop; *a; a++)
			skip |= !strcmp(*a, state_of(inst));
		if (!skip && (r = fn(inst, rq, e)) < 0) {
			if (!first)
				first = r;
			break;
		}
		json_array_append_new(out, json_pack("{s:s, s:o, s:O}", "InstanceId", json_string_value(v),
						     "CurrentState",
						     skip ? json_deep_copy(prev) : state_json(shown),
						     "PreviousState", prev));
	}
	if (first < 0) {
		json_decref(out);
		return first;
	}
	*ret = out_key ? json_pack("{s:o}", out_key, out) : (json_decref(out), json_object());
	return 0;
}

static int do_stop(json_t *inst, struct ereq *rq, struct err *e)
{
	int r;
	bool force = json_is_true(json_object_get(rq->params, "Force"));
	set_state(inst, "stopping", "User initiated");
	if ((r = commit_one(jstr(inst, "InstanceId"), inst, e)) < 0 || (r = domain_stop(inst, !force, e)) < 0)
		return r;
	set_state(inst, "stopped", "User initiated");
	return commit_one(jstr(inst, "InstanceId"), inst, e);
}

static int do_start(json_t *inst, struct ereq *rq, struct err *e)
{
	(void)rq;
	int r;
	if ((r = imds_ensure(jstr(inst, "VpcId"), e)) < 0 || (r = domain_start(inst, e)) < 0)
		return r;
	set_state(inst, "running", "");
	return commit_one(jstr(inst, "InstanceId"), inst, e);
}

static int do_reboot(json_t *inst, struct ereq *rq, struct err *e)
{
	(void)rq;
	int r;
	/* A reboot keeps everything (ENI, address, the container's files): the domain is made
	 * again, from the instance's own copy of its image. */
	if ((r = domain_stop(inst, true, e)) < 0)
		return r;
	return domain_start(inst, e);
}

static int do_terminate(json_t *inst, struct ereq *rq, struct err *e)
{
	(void)rq;
	int r;
	set_state(inst, "shutting-down", "User initiated");
	if ((r = commit_one(jstr(inst, "InstanceId"), inst, e)) < 0)
		return r;
	instance_discard(inst);
	json_object_del(inst, "_eni");
	json_object_del(inst, "PrivateIpAddress");
	set_state(inst, "terminated", "User initiated");
	r = commit_one(jstr(inst, "InstanceId"), inst, e);
	volumes_release(jstr(inst, "InstanceId"));
	imds_release_unused();
	return r;
}

/* A host failure: the domain destroyed with no shutdown, the instance stopped as EC2 shows an
 * instance whose host failed. Started again by StartInstances. */
int instance_crash(json_t *inst, struct err *e)
{
	int r;
	if (!inst || strcmp(state_of(inst), "running"))
		return 0;
	if ((r = domain_stop(inst, false, e)) < 0)
		return r;
	set_state(inst, "stopped", "Server.InternalError: Internal error on the host (vpclab fault)");
	return commit_one(jstr(inst, "InstanceId"), inst, e);
}

/* A freeze: the state stays running, as EC2 would show an instance that stopped answering. */
int instance_pause(json_t *inst, bool pause, struct err *e)
{
	if (!inst || strcmp(state_of(inst), "running"))
		return 0;
	return domain_suspend(inst, pause, e);
}

int h_stop_instances(struct ereq *rq, json_t **ret, struct err *e)
{
	static const char *const ok[] = {"running", NULL}, *const noop[] = {"stopped", NULL};
	return transition(rq, "StoppingInstances", ok, noop, "stopping", do_stop, ret, e);
}

int h_start_instances(struct ereq *rq, json_t **ret, struct err *e)
{
	static const char *const ok[] = {"stopped", NULL}, *const noop[] = {"running", NULL};
	return transition(rq, "StartingInstances", ok, noop, "pending", do_start, ret, e);
}

int h_reboot_instances(struct ereq *rq, json_t **ret, struct err *e)
{
	static const char *const ok[] = {"running", NULL}, *const noop[] = {NULL};
	return transition(rq, NULL, ok, noop, "running", do_reboot, ret, e);
}

int h_terminate_instances(struct ereq *rq, json_t **ret, struct err *e)
{
	static const char *const ok[] = {"running", "stopped", "stopping", NULL},
				  *const noop[] = {"terminated", NULL};
	return transition(rq, "TerminatingInstances", ok, noop, "shutting-down", do_terminate, ret, e);
}

int h_get_console_output(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *id = jstr(rq->params, "InstanceId");
	_cleanup_json_ json_t *ids = json_pack("[s]", id);
	int r;
	if (!*id)
		return err_set(e, "MissingParameter", "The request must contain the parameter InstanceId");
	if ((r = check_ids(rq, ids, e)) < 0)
		return r;
	char *buf, when[32];
	size_t n;
	console_read(instance_get(id), &buf, &n);
	time_iso(when);
	*ret = json_pack("{s:s, s:s}", "InstanceId", id, "Timestamp", when);
	if (buf && n) {
		char *b = b64_encode(buf, n);
		json_object_set_new(*ret, "Output", json_string(b));
		free(b);
	}
	free(buf);
	return 0;
}

/* Runs without the lock (see server.c): the command may take long. */
int h_exec(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *id = jstr(rq->params, "InstanceId");
	_cleanup_json_ json_t *argv = jlist(rq->params, "Command");
	_cleanup_json_ json_t *ids = json_pack("[s]", id);
	int r, status = 0;
	if (!json_array_size(argv))
		return err_set(e, "MissingParameter", "exec needs a command after --");
	pthread_mutex_lock(&E->lock);
	json_t *inst = NULL;
	if ((r = check_ids(rq, ids, e)) == 0) {
		inst = json_deep_copy(instance_get(id));
		if (strcmp(state_of(inst), "running") != 0) {
			log_info("exec in %s: the instance is %s", id, state_of(inst));
			r = err_set(e, "IncorrectInstanceState", "The instance '%s' is not running", id);
		}
	}
	pthread_mutex_unlock(&E->lock);
	if (r == 0)
		r = guest_exec(inst, argv, rq->fd, &status, e);
	json_decref(inst);
	if (r < 0)
		return r;
	*ret = json_pack("{s:i}", "ExitCode", status);
	return 0;
}

/* Instances have one network interface, at device index 0, from launch to termination. */
int h_attach_network_interface(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *id = jstr(rq->params, "InstanceId");
	_cleanup_json_ json_t *ids = json_pack("[s]", id);
	int r;
	(void)ret;
	if (!*id)
		return err_set(e, "MissingParameter", "The request must contain the parameter InstanceId");
	if (!*jstr(rq->params, "NetworkInterfaceId"))
		return err_set(e, "MissingParameter", "The request must contain the parameter NetworkInterfaceId");
	if (!json_object_get(rq->params, "DeviceIndex"))
		return err_set(e, "MissingParameter", "The request must contain the parameter DeviceIndex");
	if ((r = check_ids(rq, ids, e)) < 0)
		return r;
	/* The interface must exist and be free before the index is looked at, as in EC2. */
	json_t *res = NULL;
	if ((r = vpc_call(rq->region, "DescribeNetworkInterfaces",
			  json_pack("{s:[s]}", "NetworkInterfaceIds", jstr(rq->params, "NetworkInterfaceId")), &res,
			  e)) < 0)
		return r;
	bool in_use = !strcmp(jstr(json_array_get(json_object_get(res, "NetworkInterfaces"), 0), "Status"), "in-use");
	json_decref(res);
	if (in_use)
		return err_set(e, "InvalidNetworkInterface.InUse", "Interface: [%s] in use.",
			       jstr(rq->params, "NetworkInterfaceId"));
	return err_set(e, "InvalidParameterValue",
		       "Instance '%s' already has its network interface at device index 0; vpclab instances have one",
		       id);
}

/* An instance's primary interface stays until it is terminated, as in EC2. */
int h_detach_network_interface(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *att = jstr(rq->params, "AttachmentId");
	json_t *res = NULL;
	int r;
	if (!*att)
		return err_set(e, "MissingParameter", "The request must contain the parameter AttachmentId");
	if ((r = vpc_call(rq->region, "DescribeNetworkInterfaces",
			  json_pack("{s:[{s:s, s:[s]}]}", "Filters", "Name", "attachment.attachment-id", "Values", att),
			  &res, e)) < 0)
		return r;
	json_t *eni = json_array_get(json_object_get(res, "NetworkInterfaces"), 0);
	char inst[ID_MAX];
	snprintf(inst, sizeof(inst), "%s", jstr(json_object_get(eni, "Attachment"), "InstanceId"));
	bool primary = eni && instance_get(inst) &&
		       json_integer_value(json_object_get(json_object_get(eni, "Attachment"), "DeviceIndex")) == 0;
	json_decref(res);
	if (primary)
		return err_set(e, "OperationNotPermitted",
			       "The network interface at device index 0 of instance '%s' cannot be detached", inst);
	return vpc_call(rq->region, "DetachNetworkInterface", json_deep_copy(rq->params), ret, e);
}

/* --- after a crash or restart --------------------------------------------------------------- */

int instances_reconcile(struct err *e)
{
	const char *id;
	json_t *o, *tmp;
	json_t *objs = store_objects(E->store);
	_cleanup_json_ json_t *known = json_object();
	int r;
	json_object_foreach_safe(objs, tmp, id, o)
	{
		if (strcmp(jstr(o, "_type"), "instance") != 0)
			continue;
		const char *st = state_of(o);
		char name[64];
		domain_name(id, name);
		json_object_set_new(known, name, json_true());
		if (!strcmp(st, "pending")) {
			/* A launch that was never acknowledged. */
			log_msg("warn", "%s: launch interrupted, undoing it", id);
			instance_discard(o);
			if ((r = commit_one(id, NULL, e)) < 0)
				return r;
			continue;
		}
		if (!strcmp(st, "shutting-down")) {
			if ((r = do_terminate(o, NULL, e)) < 0)
				return r;
			continue;
		}
		int active = domain_active(o);
		if (active < 0)
			return err_set(e, "InternalError", "cannot reach libvirt to find the instances again");
		if (!strcmp(st, "running") && active) {
			if ((r = imds_ensure(jstr(o, "VpcId"), e)) < 0)
				return r;
			console_attach(o);
			/* vpcd may have been restarted meanwhile: make sure the link is on its bridge. */
			json_t *x = NULL;
			struct err ignored = {0};
			vpc_call(jstr(o, "_region"), "AdoptNetworkInterfaceLink",
				 json_pack("{s:s}", "NetworkInterfaceId", jstr(o, "_eni")), &x, &ignored);
			json_decref(x);
		} else if (!strcmp(st, "running") || !strcmp(st, "stopping")) {
			/* A stop cut short by the crash is finished; a guest that died is stopped. */
			struct err ignored = {0};
			if (active)
				domain_stop(o, false, &ignored);
			set_state(o, "stopped", !strcmp(st, "running")
							? "Client.InstanceInitiatedShutdown: Instance initiated shutdown"
							: "User initiated");
			if ((r = commit_one(id, o, e)) < 0)
				return r;
		} else if (active) {
			struct err ignored = {0};
			domain_stop(o, false, &ignored);
		}
	}
	/* Domains carrying the prefix that no instance explains. */
	for (int k = 0; k < 2; k++) {
		struct err ignored = {0};
		virConnectPtr c = domain_conn(k ? "qemu" : "lxc", &ignored);
		virDomainPtr *doms = NULL;
		int n = c ? virConnectListAllDomains(c, &doms, 0) : 0;
		for (int i = 0; i < n; i++) {
			const char *name = virDomainGetName(doms[i]);
			size_t pl = strlen(E->prefix);
			if (!strncmp(name, E->prefix, pl) && name[pl] == '-' && !strncmp(name + pl + 1, "i-", 2) &&
			    !json_object_get(known, name))
				virDomainDestroy(doms[i]);
			virDomainFree(doms[i]);
		}
		free(doms);
	}
	return 0;
}

/* From the libvirt event thread, through the queue in server.c: a domain stopped. If ec2d
 * did not stop it, the guest shut itself down or died: the instance is stopped. */
void instance_died(const char *name)
{
	size_t pl = strlen(E->prefix);
	if (strncmp(name, E->prefix, pl) != 0 || name[pl] != '-')
		return;
	json_t *inst = instance_get(name + pl + 1);
	if (!inst || strcmp(state_of(inst), "running") != 0 || domain_active(inst) != 0)
		return;
	struct err ignored = {0};
	console_detach(jstr(inst, "InstanceId"));
	set_state(inst, "stopped", "Client.InstanceInitiatedShutdown: Instance initiated shutdown");
	commit_one(jstr(inst, "InstanceId"), inst, &ignored);
}

void instances_refresh(void)
{
	if (!domain_lost)
		return;
	const char *id;
	json_t *o;
	json_object_foreach(store_objects(E->store), id, o)
	{
		if (strcmp(jstr(o, "_type"), "instance") || strcmp(state_of(o), "running"))
			continue;
		int active = domain_active(o);
		if (active < 0)
			return; /* libvirtd is not back yet: try again at the next tick */
		if (!active) {
			char name[64];
			domain_name(id, name);
			instance_died(name);
		} else {
			console_attach(o);
		}
	}
	domains_drop_ghosts();
	domain_lost = false;
	log_msg("info", "libvirt connection made again; instances found again");
}

/* One attribute of an instance, as DescribeInstanceAttribute answers it: from the instance
 * and its ENI's live view, the same sources describe-instances prints. The attributes vpclab
 * has no way to change answer their fixed value (no termination or stop protection, a stop
 * on shutdown from inside, no kernel or ramdisk of their own, no block devices). */
int h_describe_instance_attribute(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *id = json_string_value(json_object_get(rq->params, "InstanceId"));
	const char *attr = json_string_value(json_object_get(rq->params, "Attribute"));
	if (!id)
		return err_set(e, "MissingParameter", "The request must contain the parameter InstanceId");
	if (!attr)
		return err_set(e, "MissingParameter", "The request must contain the parameter Attribute");
	_cleanup_json_ json_t *ids = json_pack("[s]", id);
	int r = check_ids(rq, ids, e);
	if (r < 0)
		return r;
	_cleanup_json_ json_t *enis = enis_by_instance(rq->region);
	_cleanup_json_ json_t *pub = instance_public(instance_get(id), json_object_get(enis, id));
	json_t *inst = instance_get(id);
	json_t *out = json_pack("{s:s}", "InstanceId", id), *v = NULL;
	const char *member = NULL;
	if (!strcmp(attr, "instanceType"))
		member = "InstanceType", v = json_pack("{s:s}", "Value", jstr(inst, "InstanceType"));
	else if (!strcmp(attr, "kernel"))
		member = "KernelId", v = json_object();
	else if (!strcmp(attr, "ramdisk"))
		member = "RamdiskId", v = json_object();
	else if (!strcmp(attr, "userData"))
		member = "UserData", v = *jstr(inst, "_user_data") ? json_pack("{s:s}", "Value", jstr(inst, "_user_data"))
								   : json_object();
	else if (!strcmp(attr, "disableApiTermination"))
		member = "DisableApiTermination", v = json_pack("{s:b}", "Value", 0);
	else if (!strcmp(attr, "disableApiStop"))
		member = "DisableApiStop", v = json_pack("{s:b}", "Value", 0);
	else if (!strcmp(attr, "instanceInitiatedShutdownBehavior"))
		member = "InstanceInitiatedShutdownBehavior", v = json_pack("{s:s}", "Value", "stop");
	else if (!strcmp(attr, "rootDeviceName"))
		member = "RootDeviceName", v = json_pack("{s:O}", "Value", json_object_get(pub, "RootDeviceName"));
	else if (!strcmp(attr, "blockDeviceMapping"))
		member = "BlockDeviceMappings", v = json_array();
	else if (!strcmp(attr, "productCodes"))
		member = "ProductCodes", v = json_array();
	else if (!strcmp(attr, "sourceDestCheck"))
		member = "SourceDestCheck",
		v = json_pack("{s:b}", "Value", !json_is_false(json_object_get(pub, "SourceDestCheck")));
	else if (!strcmp(attr, "groupSet"))
		member = "Groups", v = json_incref(json_object_get(pub, "SecurityGroups") ?: json_array());
	else if (!strcmp(attr, "ebsOptimized"))
		member = "EbsOptimized", v = json_pack("{s:b}", "Value", 0);
	else if (!strcmp(attr, "sriovNetSupport"))
		member = "SriovNetSupport", v = json_object();
	else if (!strcmp(attr, "enaSupport"))
		member = "EnaSupport", v = json_pack("{s:b}", "Value", 1);
	else if (!strcmp(attr, "enclaveOptions"))
		member = "EnclaveOptions", v = json_pack("{s:b}", "Enabled", 0);
	if (!member) {
		json_decref(out);
		return err_set(e, "InvalidParameterValue",
			       "Value (%s) for parameter attribute is invalid. Unknown attribute.", attr);
	}
	json_object_set_new(out, member, v);
	*ret = out;
	return 0;
}

/* An AttributeValue/AttributeBooleanValue member ({"Value": x}) or a bare value, as a string;
 * NULL if absent. */
static json_t *attr_value(json_t *params, const char *member)
{
	json_t *v = json_object_get(params, member);
	return json_is_object(v) ? json_object_get(v, "Value") : v;
}

static int bool_value(json_t *v)
{
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_string(v) && !strcasecmp(json_string_value(v), "true"))
		return 1;
	if (json_is_string(v) && !strcasecmp(json_string_value(v), "false"))
		return 0;
	return -1;
}

/* ModifyInstanceAttribute: one attribute a call, by its member (InstanceType, UserData, Groups,
 * SourceDestCheck) or by Attribute and Value. The instance type and user data change only
 * while the instance is stopped (the next start builds the domain from the type; the guest
 * reads the new user data from the metadata service); groups and source/dest check are its
 * ENI's, changed by vpcd in the firewall at once. */
int h_modify_instance_attribute(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *P = rq->params;
	const char *id = jstr(P, "InstanceId"), *attr = jstr(P, "Attribute");
	if (!*id)
		return err_set(e, "MissingParameter", "The request must contain the parameter InstanceId");
	static const struct {
		const char *attr, *member;
	} names[] = {{"instanceType", "InstanceType"},
		     {"userData", "UserData"},
		     {"groupSet", "Groups"},
		     {"sourceDestCheck", "SourceDestCheck"},
		     {"kernel", "Kernel"},
		     {"ramdisk", "Ramdisk"},
		     {"disableApiTermination", "DisableApiTermination"},
		     {"disableApiStop", "DisableApiStop"},
		     {"instanceInitiatedShutdownBehavior", "InstanceInitiatedShutdownBehavior"},
		     {"blockDeviceMapping", "BlockDeviceMappings"},
		     {"ebsOptimized", "EbsOptimized"},
		     {"sriovNetSupport", "SriovNetSupport"},
		     {"enaSupport", "EnaSupport"}};
	const char *which = NULL;
	json_t *value = NULL;
	int given = 0;
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		if (json_object_get(P, names[k].member))
			given++, which = names[k].attr,
				 value = !strcmp(names[k].member, "Groups") ? json_object_get(P, "Groups")
									   : attr_value(P, names[k].member);
	}
	if (*attr) {
		bool known = false;
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			known |= !strcmp(names[k].attr, attr);
		if (!known)
			return err_set(e, "InvalidParameterValue",
				       "Value (%s) for parameter attribute is invalid. Unknown attribute.", attr);
		given++, which = attr, value = json_object_get(P, "Value");
	}
	if (given == 0)
		return err_set(e, "MissingParameter", "The request must contain exactly one attribute to modify");
	if (given > 1)
		return err_set(e, "InvalidParameterCombination", "Only one attribute can be modified at a time");
	_cleanup_json_ json_t *ids = json_pack("[s]", id);
	int r = check_ids(rq, ids, e);
	if (r < 0)
		return r;
	json_t *inst = instance_get(id);
	const char *st = state_of(inst);
	if (!strcmp(st, "terminated") || !strcmp(st, "shutting-down"))
		return err_set(e, "IncorrectInstanceState", "The instance '%s' is not in a state from which it can be modified.", id);
	bool dry = json_is_true(json_object_get(P, "DryRun"));
	if (!strcmp(which, "instanceType") || !strcmp(which, "userData")) {
		const char *s = json_string_value(value);
		if (!s || (!*s && !strcmp(which, "instanceType")))
			return err_set(e, "InvalidParameterValue", "Value for parameter %s is missing or not a string", which);
		if (!strcmp(which, "instanceType") && !instance_type_get(s))
			return err_set(e, "InvalidParameterValue", "Invalid value '%s' for InstanceType.", s);
		if (!strcmp(which, "userData")) {
			size_t n;
			_cleanup_free_ unsigned char *raw = b64_decode(s, &n);
			if (!raw)
				return err_set(e, "InvalidParameterValue", "Invalid BASE64 encoding of user data.");
			if (n > 16384)
				return err_set(e, "InvalidParameterValue", "User data is limited to 16384 bytes");
		}
		if (strcmp(st, "stopped"))
			return err_set(e, "IncorrectInstanceState", "The instance '%s' is not in the 'stopped' state.", id);
		if (dry)
			return err_set(e, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.");
		_cleanup_json_ json_t *ninst = json_deep_copy(inst);
		if (!strcmp(which, "instanceType"))
			json_object_set_new(ninst, "InstanceType", json_string(s));
		else if (*s)
			json_object_set_new(ninst, "_user_data", json_string(s));
		else
			json_object_del(ninst, "_user_data");
		if ((r = commit_one(id, ninst, e)) < 0)
			return r;
		*ret = json_object();
		return 0;
	}
	if (!strcmp(which, "groupSet") || !strcmp(which, "sourceDestCheck")) {
		json_t *p = json_pack("{s:s}", "NetworkInterfaceId", jstr(inst, "_eni"));
		if (!strcmp(which, "groupSet")) {
			_cleanup_json_ json_t *g = json_is_array(value) ? json_incref(value) : json_pack("[O]", value ?: json_null());
			json_object_set(p, "Groups", g);
		} else {
			int b = bool_value(value);
			if (b < 0) {
				json_decref(p);
				return err_set(e, "InvalidParameterValue", "Value for parameter SourceDestCheck must be true or false");
			}
			json_object_set_new(p, "SourceDestCheck", json_pack("{s:b}", "Value", b));
		}
		if (dry) {
			json_decref(p);
			return err_set(e, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.");
		}
		json_t *res = NULL;
		if ((r = vpc_call(rq->region, "ModifyNetworkInterfaceAttribute", p, &res, e)) < 0)
			return r;
		json_decref(res);
		*ret = json_object();
		return 0;
	}
	return err_set(e, "UnsupportedOperation", "vpclab does not change the attribute '%s' of an instance", which);
}
