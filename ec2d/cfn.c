/* CloudFormation stacks. A stack is one record in ec2d's store (type "cfn-stack"): its
 * template text, parameters, status, events, change sets and, per logical ID, the resource's
 * type, physical ID, status, the properties it was made with and its GetAtt attributes.
 * Resources are made by the lab's own actions through ec2d_dispatch, so each is made exactly
 * as the CLI and the API make it. An operation (create, update, delete, a rollback) runs on a
 * thread of its own; independent resources are made concurrently by up to CFN_WORKERS
 * threads. Every step is journaled before the next one depends on it: a resource's physical
 * ID is committed as soon as the call that made it answers, and its resolved properties (and
 * the tag vpclab:cloudformation, where the type takes tags) before the call, so that after a
 * kill -9 cfn_recover finds what a half-done step made and finishes the operation or rolls it
 * back. docs/cloudformation.md. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cfn.h"
#include "cfn_template.h"
#include "b64.h"
#include "cleanup.h"
#include "cli.h"
#include "ec2d.h"
#include "log.h"
#include "rpc.h"

#define CFN_WORKERS 4
#define TAG_KEY "vpclab:cloudformation"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* --- small helpers ------------------------------------------------------------------------- */

static void now_iso(char buf[static 32])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, 24, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 32 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}

static void uuid(char buf[static 37])
{
	unsigned char r[16] = {0};
	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		for (size_t i = 0; i < 16; i++)
			r[i] = (unsigned char)idgen_next(&E->ids);
	r[6] = (r[6] & 0x0f) | 0x40, r[8] = (r[8] & 0x3f) | 0x80;
	snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
		 r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

static int verr(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int verr(struct err *e, const char *fmt, ...)
{
	char msg[sizeof(e->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(e, "ValidationError", "%s", msg);
}

/* Under the lock. */
static int save(json_t *s, struct err *e)
{
	_cleanup_json_ json_t *ch = json_pack("{s:O}", jstr(s, "_key"), s);
	return state_commit(ch, e);
}

static void save_or_log(json_t *s)
{
	struct err e = {0};
	if (save(s, &e) < 0)
		log_error("stack %s: %s", jstr(s, "StackName"), e.msg);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

static bool in_progress(const char *status)
{
	return ends_with(status, "_IN_PROGRESS");
}

/* The live stack a name or ID names in the region (deleted ones by ID only). Under the lock. */
static json_t *stack_find(const char *region, const char *name)
{
	const char *k;
	json_t *o;
	if (!name || !*name)
		return NULL;
	json_object_foreach(store_objects(E->store), k, o)
	{
		if (strcmp(jstr(o, "_type"), "cfn-stack") || strcmp(jstr(o, "_region"), region))
			continue;
		if (!strcmp(jstr(o, "StackId"), name))
			return o;
		if (!strcmp(jstr(o, "StackName"), name) && strcmp(jstr(o, "StackStatus"), "DELETE_COMPLETE"))
			return o;
	}
	return NULL;
}

static int no_stack(struct err *e, const char *name)
{
	return verr(e, "Stack with id %s does not exist", name);
}

static void event(json_t *s, const char *logical, const char *phys, const char *type, const char *status,
		  const char *reason, json_t *props)
{
	char id[37], t[32];
	uuid(id);
	now_iso(t);
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "StackId", jstr(s, "StackId"), "EventId", id,
			       "StackName", jstr(s, "StackName"), "LogicalResourceId", logical, "PhysicalResourceId",
			       phys ? phys : "", "ResourceType", type, "Timestamp", t, "ResourceStatus", status);
	if (reason && *reason)
		json_object_set_new(ev, "ResourceStatusReason", json_string(reason));
	if (props) {
		_cleanup_free_ char *p = json_dumps(props, JSON_COMPACT | JSON_SORT_KEYS);
		if (p)
			json_object_set_new(ev, "ResourceProperties", json_string(p));
	}
	json_t *evs = json_object_get(s, "_events");
	if (!evs)
		json_object_set_new(s, "_events", evs = json_array());
	json_array_append_new(evs, ev);
	/* The lab keeps the last 2000: a long-lived stack's journal record stays bounded. */
	while (json_array_size(evs) > 2000)
		json_array_remove(evs, 0);
}

static void stack_status(json_t *s, const char *status, const char *reason)
{
	char t[32];
	now_iso(t);
	json_object_set_new(s, "StackStatus", json_string(status));
	if (reason && *reason)
		json_object_set_new(s, "StackStatusReason", json_string(reason));
	else
		json_object_del(s, "StackStatusReason");
	event(s, jstr(s, "StackName"), jstr(s, "StackId"), "AWS::CloudFormation::Stack", status, reason, NULL);
}

/* --- the operation and its context --------------------------------------------------------- */

struct op {
	char key[64];
	char region[32];
	char stack_uuid[40];
	json_t *stack; /* the record (a reference), changed under E->lock only */
	json_t *tmpl;  /* the template being applied (parsed) */
	json_t *conds;
	json_t *params; /* the values of parameters and pseudo parameters */
	json_t *azs;
};

static void op_free(struct op *o)
{
	if (!o)
		return;
	json_decref(o->stack);
	json_decref(o->tmpl);
	json_decref(o->conds);
	json_decref(o->params);
	json_decref(o->azs);
	free(o);
}

static json_t *exports_all(const char *region)
{
	json_t *out = json_object(), *o;
	const char *k;
	json_object_foreach(store_objects(E->store), k, o)
	{
		if (strcmp(jstr(o, "_type"), "cfn-stack") || strcmp(jstr(o, "_region"), region) ||
		    !strcmp(jstr(o, "StackStatus"), "DELETE_COMPLETE"))
			continue;
		size_t i;
		json_t *x;
		json_array_foreach(json_object_get(o, "Outputs"), i, x) if (*jstr(x, "ExportName")) json_object_set(out, jstr(x, "ExportName"), json_object_get(x, "OutputValue"));
	}
	return out;
}

/* The made resources as Fn::GetAtt and Ref see them. Under the lock. */
static json_t *made_of(json_t *stack)
{
	json_t *out = json_object(), *r;
	const char *id;
	json_object_foreach(json_object_get(stack, "_resources"), id, r)
	{
		if (!*jstr(r, "PhysicalResourceId") || ends_with(jstr(r, "ResourceStatus"), "_FAILED") ||
		    !strcmp(jstr(r, "ResourceStatus"), "DELETE_COMPLETE"))
			continue;
		json_object_set_new(out, id, json_pack("{s:O, s:O}", "Ref", json_object_get(r, "_ref") ?: json_object_get(r, "PhysicalResourceId"),
						       "Attrs", json_object_get(r, "_attrs") ?: json_object()));
	}
	return out;
}

static int azs_of(const char *region, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *res = NULL, *p = json_object();
	int r = ec2d_dispatch("DescribeAvailabilityZones", region, p, -1, &res, e);
	if (r < 0)
		return r;
	json_t *l = json_array(), *z;
	size_t i;
	json_array_foreach(json_object_get(res, "AvailabilityZones"), i, z) json_array_append_new(l, json_string(jstr(z, "ZoneName")));
	*ret = l;
	return 0;
}

static json_t *pseudo_params(const char *region, const char *name, const char *id)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[]}", "AWS::Region", region, "AWS::AccountId", OWNER_ID,
			 "AWS::StackName", name, "AWS::StackId", id, "AWS::Partition", "aws", "AWS::URLSuffix",
			 "amazonaws.com", "AWS::NotificationARNs");
}

/* A template's text checked and parsed; given parameters ({k: v}) resolved; conditions. */
static int prepare(const char *region, const char *name, const char *id, const char *body, json_t *given,
		   json_t **ret_t, json_t **ret_params, json_t **ret_conds, json_t **ret_azs, struct err *e)
{
	_cleanup_json_ json_t *t = NULL, *vals = NULL, *azs = NULL, *conds = NULL;
	int r;
	if ((r = cfn_template_parse(body, strlen(body), &t, e)) < 0 || (r = cfn_template_check(t, e)) < 0 ||
	    (r = cfn_parameters(t, given, &vals, e)) < 0 || (r = azs_of(region, &azs, e)) < 0)
		return r;
	_cleanup_json_ json_t *ps = pseudo_params(region, name, id);
	json_object_update(vals, ps);
	struct cfn_ctx ctx = {.params = vals, .mappings = json_object_get(t, "Mappings"), .azs = azs, .template = t};
	if ((r = cfn_conditions(t, &ctx, &conds, e)) < 0)
		return r;
	*ret_t = TAKE_PTR(t);
	if (ret_params)
		*ret_params = TAKE_PTR(vals);
	if (ret_conds)
		*ret_conds = TAKE_PTR(conds);
	if (ret_azs)
		*ret_azs = TAKE_PTR(azs);
	return 0;
}

/* The properties of resource `id` evaluated against what is made. Under the lock. */
static int resolve_props(struct op *o, const char *id, json_t **ret, struct err *e)
{
	json_t *def = json_object_get(json_object_get(o->tmpl, "Resources"), id);
	_cleanup_json_ json_t *made = made_of(o->stack), *ex = exports_all(o->region);
	struct cfn_ctx ctx = {.params = o->params, .conditions = o->conds, .mappings = json_object_get(o->tmpl, "Mappings"),
			      .resources = made, .azs = o->azs, .exports = ex, .template = o->tmpl};
	json_t *p = json_object_get(def, "Properties");
	if (!p) {
		*ret = json_object();
		return 0;
	}
	int r = cfn_eval(p, &ctx, ret, e);
	if (r == 0 && !*ret)
		*ret = json_object();
	return r;
}

/* --- resource providers -------------------------------------------------------------------- */

/* One resource's step: the operation, the logical ID, the type, its resolved properties. */
struct rc {
	struct op *o;
	const char *id;
	const char *type;
	json_t *props;
	char tag[128]; /* the value of TAG_KEY on what this step makes */
};

static int call(struct rc *c, const char *action, json_t *params, json_t **ret, struct err *e)
{
	json_t *res = NULL;
	int r = ec2d_dispatch(action, c->o->region, params, -1, &res, e);
	json_decref(params);
	if (r < 0 && !err_isset(e))
		err_set(e, "InternalFailure", "%s failed", action);
	if (r == 0 && ret)
		*ret = res;
	else
		json_decref(res);
	return r;
}

static bool not_found(const struct err *e)
{
	return strstr(e->code, "NotFound") || strstr(e->code, ".Malformed") || !strcmp(e->code, "InvalidAssociationID.NotFound");
}

/* The physical ID, journaled at once: what the next step builds on survives a kill -9. */
static void made(struct rc *c, const char *phys)
{
	pthread_mutex_lock(&E->lock);
	json_t *r = json_object_get(json_object_get(c->o->stack, "_resources"), c->id);
	if (r) {
		json_object_set_new(r, "PhysicalResourceId", json_string(phys));
		save_or_log(c->o->stack);
	}
	pthread_mutex_unlock(&E->lock);
}

static json_t *pv(struct rc *c, const char *k)
{
	return json_object_get(c->props, k);
}

static const char *ps(struct rc *c, const char *k)
{
	return jstr(c->props, k);
}

/* Tags as TagSpecifications, with the stack's own tag. */
static json_t *tag_specs(struct rc *c, const char *rtype)
{
	json_t *tags = json_array(), *t;
	size_t i;
	json_array_foreach(pv(c, "Tags"), i, t) json_array_append_new(tags, json_pack("{s:s, s:s}", "Key", jstr(t, "Key"), "Value", jstr(t, "Value")));
	json_array_append_new(tags, json_pack("{s:s, s:s}", "Key", TAG_KEY, "Value", c->tag));
	return json_pack("[{s:s, s:o}]", "ResourceType", rtype, "Tags", tags);
}

static void copy(json_t *to, struct rc *c, const char *from, const char *as)
{
	json_t *v = pv(c, from);
	if (v)
		json_object_set(to, as ? as : from, v);
}

static json_t *to_string(json_t *v)
{
	char b[32];
	if (json_is_integer(v)) {
		snprintf(b, sizeof(b), "%lld", (long long)json_integer_value(v));
		return json_string(b);
	}
	return json_incref(v);
}

static json_t *to_int(json_t *v)
{
	if (json_is_string(v))
		return json_integer(strtoll(json_string_value(v), NULL, 10));
	return json_incref(v);
}

static json_t *to_bool(json_t *v)
{
	if (json_is_string(v))
		return json_boolean(!strcasecmp(json_string_value(v), "true"));
	return json_incref(v);
}

/* The ID found by the stack's tag, for a step a kill -9 interrupted. */
static int find_by_tag(struct rc *c, const char *action, const char *list, const char *idkey, char out[static 64],
		       struct err *e)
{
	json_t *res = NULL, *x;
	size_t i;
	char filter[80];
	snprintf(filter, sizeof(filter), "tag:%s", TAG_KEY);
	out[0] = 0;
	int r = call(c, action, json_pack("{s:[{s:s, s:[s]}]}", "Filters", "Name", filter, "Values", c->tag), &res, e);
	if (r < 0)
		return r;
	json_t *l = json_object_get(res, list);
	if (!strcmp(list, "Reservations"))
		l = json_object_get(json_array_get(l, 0), "Instances");
	json_array_foreach(l, i, x)
	{
		const char *st = jstr(json_object_get(x, "State"), "Name");
		if (!strcmp(st, "terminated") || !strcmp(jstr(x, "State"), "deleted"))
			continue;
		snprintf(out, 64, "%s", jstr(x, idkey));
	}
	json_decref(res);
	return 0;
}

/* Calls a Create action and puts the new object's ID (RES.OBJ.IDKEY) in phys. */
static int call_id(struct rc *c, const char *action, json_t *params, const char *obj, const char *idkey, char phys[static 64],
		   struct err *e)
{
	json_t *res = NULL;
	int r = call(c, action, params, &res, e);
	if (r < 0)
		return r;
	snprintf(phys, 64, "%s", jstr(json_object_get(res, obj), idkey));
	json_decref(res);
	return 0;
}

/* The ID of a resource to remove: its physical ID, or, when a crash came between making it
 * and journaling the ID, the one the stack's tag finds ("" when there is none). */
static int phys_or_tagged(struct rc *c, const char *phys, const char *action, const char *list, const char *idkey,
			  char id[static 64], struct err *e)
{
	snprintf(id, 64, "%s", phys);
	return *id ? 0 : find_by_tag(c, action, list, idkey, id, e);
}

static int add_tags(struct rc *c, const char *phys, json_t *tags, struct err *e)
{
	if (!json_array_size(tags))
		return 0;
	return call(c, "CreateTags", json_pack("{s:[s], s:O}", "Resources", phys, "Tags", tags), NULL, e);
}

/* Tags changed in place: the removed keys deleted, the rest written. */
static int retag(struct rc *c, const char *phys, json_t *old, struct err *e)
{
	json_t *gone = json_array(), *t, *n;
	size_t i, j;
	json_array_foreach(json_object_get(old, "Tags"), i, t)
	{
		bool kept = false;
		json_array_foreach(pv(c, "Tags"), j, n) if (!strcmp(jstr(n, "Key"), jstr(t, "Key"))) kept = true;
		if (!kept)
			json_array_append_new(gone, json_pack("{s:s}", "Key", jstr(t, "Key")));
	}
	int r = 0;
	if (json_array_size(gone))
		r = call(c, "DeleteTags", json_pack("{s:[s], s:O}", "Resources", phys, "Tags", gone), NULL, e);
	json_decref(gone);
	return r < 0 ? r : add_tags(c, phys, pv(c, "Tags"), e);
}

struct provider {
	const char *type;
	/* Makes it: *ret_ref (what Ref gives, default the physical ID) and *ret_attrs. */
	int (*create)(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e);
	/* Removes `phys` ("" if the step that made it was cut short: find it by props or tag). */
	int (*remove)(struct rc *c, const char *phys, struct err *e);
	/* In place, from the properties `old` (NULL: every change replaces). */
	int (*update)(struct rc *c, const char *phys, json_t *old, json_t **ret_attrs, struct err *e);
};

/* VPC */
static int vpc_attrs(struct rc *c, const char *id, json_t **ret, struct err *e)
{
	json_t *res = NULL;
	char f[40];
	int r = call(c, "DescribeVpcs", json_pack("{s:[s]}", "VpcIds", id), &res, e);
	if (r < 0)
		return r;
	json_t *v = json_array_get(json_object_get(res, "Vpcs"), 0);
	json_t *a = json_pack("{s:s, s:s, s:[], s:[]}", "VpcId", id, "CidrBlock", jstr(v, "CidrBlock"), "Ipv6CidrBlocks",
			      "CidrBlockAssociations");
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(v, "CidrBlockAssociationSet"), i, x) json_array_append_new(json_object_get(a, "CidrBlockAssociations"), json_string(jstr(x, "AssociationId")));
	json_decref(res);
	res = NULL;
	snprintf(f, sizeof(f), "%s", id);
	if (call(c, "DescribeSecurityGroups", json_pack("{s:[{s:s, s:[s]}, {s:s, s:[s]}]}", "Filters", "Name", "vpc-id", "Values", f,
							 "Name", "group-name", "Values", "default"),
		 &res, e) == 0)
		json_object_set_new(a, "DefaultSecurityGroup",
				    json_string(jstr(json_array_get(json_object_get(res, "SecurityGroups"), 0), "GroupId")));
	json_decref(res);
	res = NULL;
	if (call(c, "DescribeNetworkAcls", json_pack("{s:[{s:s, s:[s]}, {s:s, s:[s]}]}", "Filters", "Name", "vpc-id", "Values", f,
						      "Name", "default", "Values", "true"),
		 &res, e) == 0)
		json_object_set_new(a, "DefaultNetworkAcl",
				    json_string(jstr(json_array_get(json_object_get(res, "NetworkAcls"), 0), "NetworkAclId")));
	json_decref(res);
	err_clear(e);
	*ret = a;
	return 0;
}

static int vpc_dns(struct rc *c, const char *id, json_t *old, struct err *e)
{
	static const char *const attrs[] = {"EnableDnsSupport", "EnableDnsHostnames"};
	for (size_t i = 0; i < 2; i++) {
		json_t *v = pv(c, attrs[i]);
		if (!v || (old && json_equal(v, json_object_get(old, attrs[i]))))
			continue;
		_cleanup_json_ json_t *b = to_bool(v);
		int r = call(c, "ModifyVpcAttribute", json_pack("{s:s, s:{s:O}}", "VpcId", id, attrs[i], "Value", b), NULL, e);
		if (r < 0)
			return r;
	}
	return 0;
}

static int vpc_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	json_t *p = json_pack("{s:o}", "TagSpecifications", tag_specs(c, "vpc"));
	copy(p, c, "CidrBlock", NULL);
	copy(p, c, "InstanceTenancy", NULL);
	int r = call_id(c, "CreateVpc", p, "Vpc", "VpcId", phys, e);
	if (r < 0)
		return r;
	made(c, phys);
	if ((r = vpc_dns(c, phys, NULL, e)) < 0)
		return r;
	return vpc_attrs(c, phys, ret_attrs, e);
}

static int vpc_remove(struct rc *c, const char *phys, struct err *e)
{
	char id[64];
	if (phys_or_tagged(c, phys, "DescribeVpcs", "Vpcs", "VpcId", id, e) < 0)
		return -1;
	return *id ? call(c, "DeleteVpc", json_pack("{s:s}", "VpcId", id), NULL, e) : 0;
}

static int vpc_update(struct rc *c, const char *phys, json_t *old, json_t **ret_attrs, struct err *e)
{
	int r;
	if ((r = vpc_dns(c, phys, old, e)) < 0 || (r = retag(c, phys, old, e)) < 0)
		return r;
	return vpc_attrs(c, phys, ret_attrs, e);
}

/* Subnet */
static int subnet_attrs(struct rc *c, const char *id, json_t **ret, struct err *e)
{
	json_t *res = NULL;
	int r = call(c, "DescribeSubnets", json_pack("{s:[s]}", "SubnetIds", id), &res, e);
	if (r < 0)
		return r;
	json_t *s = json_array_get(json_object_get(res, "Subnets"), 0);
	*ret = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[]}", "SubnetId", id, "AvailabilityZone", jstr(s, "AvailabilityZone"),
			 "AvailabilityZoneId", jstr(s, "AvailabilityZoneId"), "CidrBlock", jstr(s, "CidrBlock"), "VpcId",
			 jstr(s, "VpcId"), "Ipv6CidrBlocks");
	json_decref(res);
	res = NULL;
	if (call(c, "DescribeNetworkAcls", json_pack("{s:[{s:s, s:[s]}]}", "Filters", "Name", "association.subnet-id", "Values", id), &res, e) == 0) {
		size_t i;
		json_t *a;
		json_array_foreach(json_object_get(json_array_get(json_object_get(res, "NetworkAcls"), 0), "Associations"), i, a) if (!strcmp(jstr(a, "SubnetId"), id)) json_object_set_new(*ret, "NetworkAclAssociationId", json_string(jstr(a, "NetworkAclAssociationId")));
	}
	json_decref(res);
	err_clear(e);
	return 0;
}

static int subnet_public(struct rc *c, const char *id, json_t *old, struct err *e)
{
	json_t *v = pv(c, "MapPublicIpOnLaunch");
	if (!v && !(old && json_object_get(old, "MapPublicIpOnLaunch")))
		return 0;
	if (old && json_equal(v, json_object_get(old, "MapPublicIpOnLaunch")))
		return 0;
	_cleanup_json_ json_t *b = v ? to_bool(v) : json_false();
	return call(c, "ModifySubnetAttribute", json_pack("{s:s, s:{s:O}}", "SubnetId", id, "MapPublicIpOnLaunch", "Value", b), NULL, e);
}

static int subnet_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	json_t *p = json_pack("{s:o}", "TagSpecifications", tag_specs(c, "subnet"));
	copy(p, c, "VpcId", NULL);
	copy(p, c, "CidrBlock", NULL);
	copy(p, c, "AvailabilityZone", NULL);
	copy(p, c, "AvailabilityZoneId", NULL);
	int r = call_id(c, "CreateSubnet", p, "Subnet", "SubnetId", phys, e);
	if (r < 0)
		return r;
	made(c, phys);
	if ((r = subnet_public(c, phys, NULL, e)) < 0)
		return r;
	return subnet_attrs(c, phys, ret_attrs, e);
}

static int subnet_remove(struct rc *c, const char *phys, struct err *e)
{
	char id[64];
	if (phys_or_tagged(c, phys, "DescribeSubnets", "Subnets", "SubnetId", id, e) < 0)
		return -1;
	return *id ? call(c, "DeleteSubnet", json_pack("{s:s}", "SubnetId", id), NULL, e) : 0;
}

static int subnet_update(struct rc *c, const char *phys, json_t *old, json_t **ret_attrs, struct err *e)
{
	int r;
	if ((r = subnet_public(c, phys, old, e)) < 0 || (r = retag(c, phys, old, e)) < 0)
		return r;
	return subnet_attrs(c, phys, ret_attrs, e);
}

/* The simple ones: one create call, an ID at a path of its answer, one delete call. */
struct simple {
	const char *type, *create, *tag_type, *obj, *idkey, *describe, *list, *remove, *remove_key;
	const char *const *props;
};

static const char *const rt_p[] = {"VpcId", NULL};
static const char *const none_p[] = {NULL};
static const struct simple simples[] = {
	{"AWS::EC2::RouteTable", "CreateRouteTable", "route-table", "RouteTable", "RouteTableId", "DescribeRouteTables",
	 "RouteTables", "DeleteRouteTable", "RouteTableId", rt_p},
	{"AWS::EC2::InternetGateway", "CreateInternetGateway", "internet-gateway", "InternetGateway", "InternetGatewayId",
	 "DescribeInternetGateways", "InternetGateways", "DeleteInternetGateway", "InternetGatewayId", none_p},
	{"AWS::EC2::NetworkAcl", "CreateNetworkAcl", "network-acl", "NetworkAcl", "NetworkAclId", "DescribeNetworkAcls",
	 "NetworkAcls", "DeleteNetworkAcl", "NetworkAclId", rt_p},
};

static const struct simple *simple_of(const char *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(simples); i++)
		if (!strcmp(simples[i].type, type))
			return &simples[i];
	return NULL;
}

static int simple_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	const struct simple *s = simple_of(c->type);
	json_t *p = json_pack("{s:o}", "TagSpecifications", tag_specs(c, s->tag_type));
	for (const char *const *k = s->props; *k; k++)
		copy(p, c, *k, NULL);
	int r = call_id(c, s->create, p, s->obj, s->idkey, phys, e);
	if (r < 0)
		return r;
	*ret_attrs = json_pack("{s:s, s:s}", s->idkey, phys, "Id", phys);
	return 0;
}

static int simple_remove(struct rc *c, const char *phys, struct err *e)
{
	const struct simple *s = simple_of(c->type);
	char id[64];
	if (phys_or_tagged(c, phys, s->describe, s->list, s->idkey, id, e) < 0)
		return -1;
	if (!*id)
		return 0;
	if (!strcmp(c->type, "AWS::EC2::InternetGateway")) {
		/* An attachment the template no longer names (a half-done step) goes with it. */
		json_t *res = NULL, *a;
		size_t i;
		if (call(c, "DescribeInternetGateways", json_pack("{s:[s]}", "InternetGatewayIds", id), &res, e) == 0)
			json_array_foreach(json_object_get(json_array_get(json_object_get(res, "InternetGateways"), 0), "Attachments"), i, a)
				call(c, "DetachInternetGateway", json_pack("{s:s, s:s}", "InternetGatewayId", id, "VpcId", jstr(a, "VpcId")), NULL, e);
		json_decref(res);
		err_clear(e);
	}
	return call(c, s->remove, json_pack("{s:s}", s->remove_key, id), NULL, e);
}

static int tags_update(struct rc *c, const char *phys, json_t *old, json_t **ret_attrs, struct err *e)
{
	(void)ret_attrs;
	return retag(c, phys, old, e);
}

/* Route: its ID is the table and destination. */
static const char *const route_targets[] = {"GatewayId", "NatGatewayId", "NetworkInterfaceId", "InstanceId",
					    "VpcPeeringConnectionId", NULL};

static json_t *route_params(struct rc *c)
{
	json_t *p = json_object();
	copy(p, c, "RouteTableId", NULL);
	copy(p, c, "DestinationCidrBlock", NULL);
	for (const char *const *k = route_targets; *k; k++)
		copy(p, c, *k, NULL);
	return p;
}

static int route_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	int r = call(c, "CreateRoute", route_params(c), NULL, e);
	if (r < 0)
		return r;
	snprintf(phys, 64, "%s|%s", ps(c, "RouteTableId"), ps(c, "DestinationCidrBlock"));
	*ret_attrs = json_object();
	return 0;
}

static int route_remove(struct rc *c, const char *phys, struct err *e)
{
	(void)phys;
	return call(c, "DeleteRoute", json_pack("{s:s, s:s}", "RouteTableId", ps(c, "RouteTableId"), "DestinationCidrBlock",
					       ps(c, "DestinationCidrBlock")),
		    NULL, e);
}

static int route_update(struct rc *c, const char *phys, json_t *old, json_t **ret_attrs, struct err *e)
{
	(void)phys, (void)old, (void)ret_attrs;
	return call(c, "ReplaceRoute", route_params(c), NULL, e);
}

/* SubnetRouteTableAssociation */
static int srta_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	json_t *res = NULL;
	int r = call(c, "AssociateRouteTable", json_pack("{s:s, s:s}", "SubnetId", ps(c, "SubnetId"), "RouteTableId", ps(c, "RouteTableId")),
		     &res, e);
	if (r < 0)
		return r;
	snprintf(phys, 64, "%s", jstr(res, "AssociationId"));
	json_decref(res);
	*ret_attrs = json_pack("{s:s}", "Id", phys);
	return 0;
}

static int srta_remove(struct rc *c, const char *phys, struct err *e)
{
	char id[64];
	snprintf(id, sizeof(id), "%s", phys);
	if (!*id) {
		json_t *res = NULL, *a;
		size_t i;
		if (call(c, "DescribeRouteTables", json_pack("{s:[s]}", "RouteTableIds", ps(c, "RouteTableId")), &res, e) < 0)
			return not_found(e) ? (err_clear(e), 0) : -1;
		json_array_foreach(json_object_get(json_array_get(json_object_get(res, "RouteTables"), 0), "Associations"), i, a) if (!strcmp(jstr(a, "SubnetId"), ps(c, "SubnetId"))) snprintf(id, sizeof(id), "%s", jstr(a, "RouteTableAssociationId"));
		json_decref(res);
		if (!*id)
			return 0;
	}
	return call(c, "DisassociateRouteTable", json_pack("{s:s}", "AssociationId", id), NULL, e);
}

/* VPCGatewayAttachment */
static int attach_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	int r = call(c, "AttachInternetGateway", json_pack("{s:s, s:s}", "InternetGatewayId", ps(c, "InternetGatewayId"), "VpcId", ps(c, "VpcId")),
		     NULL, e);
	if (r < 0)
		return r;
	snprintf(phys, 64, "IGW|%s", ps(c, "VpcId"));
	*ret_attrs = json_object();
	return 0;
}

static int attach_remove(struct rc *c, const char *phys, struct err *e)
{
	(void)phys;
	int r = call(c, "DetachInternetGateway", json_pack("{s:s, s:s}", "InternetGatewayId", ps(c, "InternetGatewayId"), "VpcId", ps(c, "VpcId")),
		     NULL, e);
	if (r < 0 && !strcmp(e->code, "Gateway.NotAttached"))
		return err_clear(e), 0;
	return r;
}

/* EIP: Ref is the public address. */
static int eip_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	json_t *res = NULL;
	int r = call(c, "AllocateAddress", json_pack("{s:s, s:o}", "Domain", "vpc", "TagSpecifications", tag_specs(c, "elastic-ip")), &res, e);
	if (r < 0)
		return r;
	snprintf(phys, 64, "%s", jstr(res, "PublicIp"));
	*ret_attrs = json_pack("{s:s, s:s}", "AllocationId", jstr(res, "AllocationId"), "PublicIp", jstr(res, "PublicIp"));
	json_decref(res);
	made(c, phys);
	if (*ps(c, "InstanceId"))
		r = call(c, "AssociateAddress",
			 json_pack("{s:s, s:s}", "AllocationId", jstr(*ret_attrs, "AllocationId"), "InstanceId", ps(c, "InstanceId")), NULL, e);
	return r;
}

static int eip_remove(struct rc *c, const char *phys, struct err *e)
{
	json_t *res = NULL;
	int r;
	char filter[80];
	snprintf(filter, sizeof(filter), "tag:%s", TAG_KEY);
	if (*phys)
		r = call(c, "DescribeAddresses", json_pack("{s:[s]}", "PublicIps", phys), &res, e);
	else
		r = call(c, "DescribeAddresses", json_pack("{s:[{s:s, s:[s]}]}", "Filters", "Name", filter, "Values", c->tag), &res, e);
	if (r < 0)
		return not_found(e) ? (err_clear(e), 0) : r;
	json_t *a = json_array_get(json_object_get(res, "Addresses"), 0);
	if (a && *jstr(a, "AssociationId"))
		call(c, "DisassociateAddress", json_pack("{s:s}", "AssociationId", jstr(a, "AssociationId")), NULL, e), err_clear(e);
	r = a ? call(c, "ReleaseAddress", json_pack("{s:s}", "AllocationId", jstr(a, "AllocationId")), NULL, e) : 0;
	json_decref(res);
	return r;
}

/* EIPAssociation */
static int eipa_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	json_t *res = NULL, *p = json_object();
	copy(p, c, "AllocationId", NULL);
	copy(p, c, "EIP", "PublicIp");
	copy(p, c, "InstanceId", NULL);
	copy(p, c, "NetworkInterfaceId", NULL);
	copy(p, c, "PrivateIpAddress", NULL);
	int r = call(c, "AssociateAddress", p, &res, e);
	if (r < 0)
		return r;
	snprintf(phys, 64, "%s", jstr(res, "AssociationId"));
	json_decref(res);
	*ret_attrs = json_pack("{s:s}", "Id", phys);
	return 0;
}

static int eipa_remove(struct rc *c, const char *phys, struct err *e)
{
	if (!*phys) {
		/* Whatever is associated with the address now. */
		json_t *res = NULL;
		json_t *p = *ps(c, "AllocationId") ? json_pack("{s:[s]}", "AllocationIds", ps(c, "AllocationId"))
						    : json_pack("{s:[s]}", "PublicIps", ps(c, "EIP"));
		if (call(c, "DescribeAddresses", p, &res, e) < 0)
			return not_found(e) ? (err_clear(e), 0) : -1;
		const char *a = jstr(json_array_get(json_object_get(res, "Addresses"), 0), "AssociationId");
		int r = *a ? call(c, "DisassociateAddress", json_pack("{s:s}", "AssociationId", a), NULL, e) : 0;
		json_decref(res);
		return r;
	}
	return call(c, "DisassociateAddress", json_pack("{s:s}", "AssociationId", phys), NULL, e);
}

/* NatGateway */
static int nat_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	json_t *p = json_pack("{s:o}", "TagSpecifications", tag_specs(c, "natgateway"));
	copy(p, c, "SubnetId", NULL);
	copy(p, c, "AllocationId", NULL);
	copy(p, c, "ConnectivityType", NULL);
	copy(p, c, "PrivateIpAddress", NULL);
	int r = call_id(c, "CreateNatGateway", p, "NatGateway", "NatGatewayId", phys, e);
	if (r < 0)
		return r;
	*ret_attrs = json_pack("{s:s}", "NatGatewayId", phys);
	return 0;
}

static int nat_remove(struct rc *c, const char *phys, struct err *e)
{
	char id[64];
	if (phys_or_tagged(c, phys, "DescribeNatGateways", "NatGateways", "NatGatewayId", id, e) < 0)
		return -1;
	if (!*id)
		return 0;
	int r = call(c, "DeleteNatGateway", json_pack("{s:s}", "NatGatewayId", id), NULL, e);
	if (r < 0)
		return r;
	/* As CloudFormation does: done once it is deleted, so its address can be released. */
	for (int i = 0; i < 300; i++) {
		json_t *res = NULL;
		if (call(c, "DescribeNatGateways", json_pack("{s:[s]}", "NatGatewayIds", id), &res, e) < 0)
			return not_found(e) ? (err_clear(e), 0) : -1;
		const char *st = jstr(json_array_get(json_object_get(res, "NatGateways"), 0), "State");
		bool gone = !*st || !strcmp(st, "deleted");
		json_decref(res);
		if (gone)
			return 0;
		nanosleep(&(struct timespec){0, 100000000}, NULL);
	}
	return err_set(e, "InternalFailure", "NAT gateway %s was not deleted within 30 s", id);
}

/* Security groups: CloudFormation's rule into EC2's IpPermission. */
static json_t *perm_of(json_t *rule, bool egress)
{
	json_t *p = json_object(), *v;
	json_t *proto = to_string(json_object_get(rule, "IpProtocol"));
	json_object_set_new(p, "IpProtocol", proto ? proto : json_string("-1"));
	if ((v = json_object_get(rule, "FromPort")))
		json_object_set_new(p, "FromPort", to_int(v));
	if ((v = json_object_get(rule, "ToPort")))
		json_object_set_new(p, "ToPort", to_int(v));
	const char *d = jstr(rule, "Description");
	if (*jstr(rule, "CidrIp"))
		json_object_set_new(p, "IpRanges", *d ? json_pack("[{s:s, s:s}]", "CidrIp", jstr(rule, "CidrIp"), "Description", d)
						     : json_pack("[{s:s}]", "CidrIp", jstr(rule, "CidrIp")));
	const char *g = jstr(rule, egress ? "DestinationSecurityGroupId" : "SourceSecurityGroupId");
	if (*g)
		json_object_set_new(p, "UserIdGroupPairs", *d ? json_pack("[{s:s, s:s}]", "GroupId", g, "Description", d)
							      : json_pack("[{s:s}]", "GroupId", g));
	return p;
}

static int sg_rules(struct rc *c, const char *id, json_t *rules, bool egress, bool revoke, struct err *e)
{
	size_t i;
	json_t *x;
	json_array_foreach(rules, i, x)
	{
		const char *a = revoke ? (egress ? "RevokeSecurityGroupEgress" : "RevokeSecurityGroupIngress")
				       : (egress ? "AuthorizeSecurityGroupEgress" : "AuthorizeSecurityGroupIngress");
		int r = call(c, a, json_pack("{s:s, s:[o]}", "GroupId", id, "IpPermissions", perm_of(x, egress)), NULL, e);
		if (r < 0 && !(revoke && not_found(e)))
			return r;
		err_clear(e);
	}
	return 0;
}

static json_t *allow_all(void)
{
	return json_pack("[{s:s, s:s}]", "IpProtocol", "-1", "CidrIp", "0.0.0.0/0");
}

static int sg_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	char name[256];
	json_t *res = NULL;
	if (*ps(c, "GroupName"))
		snprintf(name, sizeof(name), "%s", ps(c, "GroupName"));
	else
		snprintf(name, sizeof(name), "%s-%s-%.12s", jstr(c->o->stack, "StackName"), c->id, c->tag + strlen(c->tag) - 12);
	json_t *p = json_pack("{s:s, s:s, s:o}", "GroupName", name, "Description", ps(c, "GroupDescription"), "TagSpecifications",
			      tag_specs(c, "security-group"));
	copy(p, c, "VpcId", NULL);
	int r = call(c, "CreateSecurityGroup", p, &res, e);
	if (r < 0)
		return r;
	snprintf(phys, 64, "%s", jstr(res, "GroupId"));
	json_decref(res);
	made(c, phys);
	*ret_attrs = json_pack("{s:s, s:s}", "GroupId", phys, "VpcId", ps(c, "VpcId"));
	if ((r = sg_rules(c, phys, pv(c, "SecurityGroupIngress"), false, false, e)) < 0)
		return r;
	if (pv(c, "SecurityGroupEgress")) {
		/* Rules given: the default allow-all egress goes, as CloudFormation does. */
		_cleanup_json_ json_t *all = allow_all();
		if ((r = sg_rules(c, phys, all, true, true, e)) < 0)
			return r;
		return sg_rules(c, phys, pv(c, "SecurityGroupEgress"), true, false, e);
	}
	return 0;
}

static int sg_remove(struct rc *c, const char *phys, struct err *e)
{
	char id[64];
	if (phys_or_tagged(c, phys, "DescribeSecurityGroups", "SecurityGroups", "GroupId", id, e) < 0)
		return -1;
	if (!*id)
		return 0;
	/* An instance being terminated may still hold it for a moment. */
	for (int i = 0;; i++) {
		int r = call(c, "DeleteSecurityGroup", json_pack("{s:s}", "GroupId", id), NULL, e);
		if (r == 0 || strcmp(e->code, "DependencyViolation") || i == 50)
			return r;
		err_clear(e);
		nanosleep(&(struct timespec){0, 200000000}, NULL);
	}
}

/* The rules of `a` not in `b`. */
static json_t *minus(json_t *a, json_t *b)
{
	json_t *out = json_array(), *x, *y;
	size_t i, j;
	json_array_foreach(a, i, x)
	{
		bool in = false;
		json_array_foreach(b, j, y) if (json_equal(x, y)) in = true;
		if (!in)
			json_array_append(out, x);
	}
	return out;
}

static int sg_update(struct rc *c, const char *phys, json_t *old, json_t **ret_attrs, struct err *e)
{
	int r;
	static const char *const keys[] = {"SecurityGroupIngress", "SecurityGroupEgress"};
	for (int k = 0; k < 2; k++) {
		json_t *o = json_object_get(old, keys[k]), *n = pv(c, keys[k]);
		_cleanup_json_ json_t *dflt = allow_all();
		if (k == 1 && !o)
			o = dflt;
		if (k == 1 && !n)
			n = dflt;
		_cleanup_json_ json_t *gone = minus(o, n), *added = minus(n, o);
		if ((r = sg_rules(c, phys, gone, k == 1, true, e)) < 0 || (r = sg_rules(c, phys, added, k == 1, false, e)) < 0)
			return r;
	}
	if ((r = retag(c, phys, old, e)) < 0)
		return r;
	*ret_attrs = json_pack("{s:s, s:s}", "GroupId", phys, "VpcId", ps(c, "VpcId"));
	return 0;
}

/* SecurityGroupIngress / Egress: the rule is its own ID. */
static int sgr_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	bool egress = !strcmp(c->type, "AWS::EC2::SecurityGroupEgress");
	json_t *res = NULL;
	int r = call(c, egress ? "AuthorizeSecurityGroupEgress" : "AuthorizeSecurityGroupIngress",
		     json_pack("{s:s, s:[o]}", "GroupId", ps(c, "GroupId"), "IpPermissions", perm_of(c->props, egress)), &res, e);
	if (r < 0)
		return r;
	const char *rid = jstr(json_array_get(json_object_get(res, "SecurityGroupRules"), 0), "SecurityGroupRuleId");
	snprintf(phys, 64, "%s", *rid ? rid : ps(c, "GroupId"));
	json_decref(res);
	*ret_attrs = json_pack("{s:s}", "Id", phys);
	return 0;
}

static int sgr_remove(struct rc *c, const char *phys, struct err *e)
{
	(void)phys;
	bool egress = !strcmp(c->type, "AWS::EC2::SecurityGroupEgress");
	_cleanup_json_ json_t *one = json_pack("[O]", c->props);
	return sg_rules(c, ps(c, "GroupId"), one, egress, true, e);
}

/* NetworkAclEntry */
static json_t *nacle_params(struct rc *c)
{
	json_t *p = json_object(), *v;
	copy(p, c, "NetworkAclId", NULL);
	json_object_set_new(p, "RuleNumber", to_int(pv(c, "RuleNumber")));
	json_object_set_new(p, "Protocol", to_string(pv(c, "Protocol")));
	copy(p, c, "RuleAction", NULL);
	json_object_set_new(p, "Egress", pv(c, "Egress") ? to_bool(pv(c, "Egress")) : json_false());
	copy(p, c, "CidrBlock", NULL);
	if ((v = pv(c, "PortRange")))
		json_object_set_new(p, "PortRange", json_pack("{s:o, s:o}", "From", to_int(json_object_get(v, "From")), "To",
							      to_int(json_object_get(v, "To"))));
	if ((v = pv(c, "Icmp")))
		json_object_set_new(p, "IcmpTypeCode", json_pack("{s:o, s:o}", "Type", to_int(json_object_get(v, "Type") ?: json_integer(-1)),
								 "Code", to_int(json_object_get(v, "Code") ?: json_integer(-1))));
	return p;
}

static int nacle_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	json_t *p = nacle_params(c);
	snprintf(phys, 64, "%s|%s|%lld", ps(c, "NetworkAclId"), json_is_true(json_object_get(p, "Egress")) ? "true" : "false",
		 (long long)json_integer_value(json_object_get(p, "RuleNumber")));
	int r = call(c, "CreateNetworkAclEntry", p, NULL, e);
	if (r < 0)
		return r;
	*ret_attrs = json_pack("{s:s}", "Id", phys);
	return 0;
}

static int nacle_remove(struct rc *c, const char *phys, struct err *e)
{
	(void)phys;
	json_t *p = nacle_params(c);
	int r = call(c, "DeleteNetworkAclEntry", json_pack("{s:O, s:O, s:O}", "NetworkAclId", json_object_get(p, "NetworkAclId"),
							    "RuleNumber", json_object_get(p, "RuleNumber"), "Egress", json_object_get(p, "Egress")),
		     NULL, e);
	json_decref(p);
	return r;
}

static int nacle_update(struct rc *c, const char *phys, json_t *old, json_t **ret_attrs, struct err *e)
{
	(void)old;
	*ret_attrs = json_pack("{s:s}", "Id", phys);
	return call(c, "ReplaceNetworkAclEntry", nacle_params(c), NULL, e);
}

/* SubnetNetworkAclAssociation: the subnet's association moved to the ACL; removing it moves
 * the subnet back to its VPC's default ACL. */
static int subnet_acl_assoc(struct rc *c, const char *subnet, char ret_assoc[static 64], char ret_vpc[static 32], struct err *e)
{
	json_t *res = NULL, *acl, *a;
	size_t i, j;
	ret_assoc[0] = 0;
	int r = call(c, "DescribeNetworkAcls", json_pack("{s:[{s:s, s:[s]}]}", "Filters", "Name", "association.subnet-id", "Values", subnet), &res, e);
	if (r < 0)
		return r;
	json_array_foreach(json_object_get(res, "NetworkAcls"), i, acl)
	{
		json_array_foreach(json_object_get(acl, "Associations"), j, a) if (!strcmp(jstr(a, "SubnetId"), subnet))
		{
			snprintf(ret_assoc, 64, "%s", jstr(a, "NetworkAclAssociationId"));
			snprintf(ret_vpc, 32, "%s", jstr(acl, "VpcId"));
		}
	}
	json_decref(res);
	return 0;
}

static int snacl_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	char assoc[64], vpc[32];
	json_t *res = NULL;
	int r = subnet_acl_assoc(c, ps(c, "SubnetId"), assoc, vpc, e);
	if (r < 0)
		return r;
	if (!*assoc)
		return err_set(e, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", ps(c, "SubnetId"));
	if ((r = call(c, "ReplaceNetworkAclAssociation", json_pack("{s:s, s:s}", "AssociationId", assoc, "NetworkAclId", ps(c, "NetworkAclId")),
		      &res, e)) < 0)
		return r;
	snprintf(phys, 64, "%s", jstr(res, "NewAssociationId"));
	json_decref(res);
	*ret_attrs = json_pack("{s:s}", "AssociationId", phys);
	return 0;
}

static int snacl_remove(struct rc *c, const char *phys, struct err *e)
{
	(void)phys;
	char assoc[64], vpc[32] = "";
	json_t *res = NULL;
	int r = subnet_acl_assoc(c, ps(c, "SubnetId"), assoc, vpc, e);
	if (r < 0 || !*assoc)
		return r;
	if ((r = call(c, "DescribeNetworkAcls", json_pack("{s:[{s:s, s:[s]}, {s:s, s:[s]}]}", "Filters", "Name", "vpc-id", "Values", vpc,
							   "Name", "default", "Values", "true"),
		      &res, e)) < 0)
		return r;
	const char *dflt = jstr(json_array_get(json_object_get(res, "NetworkAcls"), 0), "NetworkAclId");
	r = *dflt ? call(c, "ReplaceNetworkAclAssociation", json_pack("{s:s, s:s}", "AssociationId", assoc, "NetworkAclId", dflt), NULL, e) : 0;
	json_decref(res);
	return r;
}

/* VPCPeeringConnection: accepted at once, as CloudFormation does within one account. */
static int pcx_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	json_t *res = NULL, *p = json_pack("{s:o}", "TagSpecifications", tag_specs(c, "vpc-peering-connection"));
	copy(p, c, "VpcId", NULL);
	copy(p, c, "PeerVpcId", NULL);
	copy(p, c, "PeerRegion", NULL);
	copy(p, c, "PeerOwnerId", NULL);
	int r = call_id(c, "CreateVpcPeeringConnection", p, "VpcPeeringConnection", "VpcPeeringConnectionId", phys, e);
	if (r < 0)
		return r;
	made(c, phys);
	*ret_attrs = json_pack("{s:s}", "Id", phys);
	const char *peer = *ps(c, "PeerRegion") ? ps(c, "PeerRegion") : c->o->region;
	res = NULL;
	r = ec2d_dispatch("AcceptVpcPeeringConnection", peer, json_pack("{s:s}", "VpcPeeringConnectionId", phys), -1, &res, e);
	json_decref(res);
	return r;
}

static int pcx_remove(struct rc *c, const char *phys, struct err *e)
{
	char id[64];
	if (phys_or_tagged(c, phys, "DescribeVpcPeeringConnections", "VpcPeeringConnections", "VpcPeeringConnectionId", id, e) < 0)
		return -1;
	return *id ? call(c, "DeleteVpcPeeringConnection", json_pack("{s:s}", "VpcPeeringConnectionId", id), NULL, e) : 0;
}

/* NetworkInterface */
static int eni_sdc(struct rc *c, const char *id, json_t *old, struct err *e)
{
	json_t *v = pv(c, "SourceDestCheck");
	if (!v || (old && json_equal(v, json_object_get(old, "SourceDestCheck"))))
		return 0;
	_cleanup_json_ json_t *b = to_bool(v);
	return call(c, "ModifyNetworkInterfaceAttribute", json_pack("{s:s, s:{s:O}}", "NetworkInterfaceId", id, "SourceDestCheck", "Value", b),
		    NULL, e);
}

static int eni_attrs(struct rc *c, const char *id, json_t **ret, struct err *e)
{
	json_t *res = NULL;
	int r = call(c, "DescribeNetworkInterfaces", json_pack("{s:[s]}", "NetworkInterfaceIds", id), &res, e);
	if (r < 0)
		return r;
	json_t *n = json_array_get(json_object_get(res, "NetworkInterfaces"), 0), *a;
	*ret = json_pack("{s:s, s:s, s:[]}", "Id", id, "PrimaryPrivateIpAddress", jstr(n, "PrivateIpAddress"), "SecondaryPrivateIpAddresses");
	size_t i;
	json_array_foreach(json_object_get(n, "PrivateIpAddresses"), i, a) if (!json_is_true(json_object_get(a, "Primary"))) json_array_append_new(json_object_get(*ret, "SecondaryPrivateIpAddresses"), json_string(jstr(a, "PrivateIpAddress")));
	json_decref(res);
	return 0;
}

static int eni_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	json_t *p = json_pack("{s:o}", "TagSpecifications", tag_specs(c, "network-interface"));
	copy(p, c, "SubnetId", NULL);
	copy(p, c, "Description", NULL);
	copy(p, c, "GroupSet", "Groups");
	copy(p, c, "PrivateIpAddress", NULL);
	int r = call_id(c, "CreateNetworkInterface", p, "NetworkInterface", "NetworkInterfaceId", phys, e);
	if (r < 0)
		return r;
	made(c, phys);
	if ((r = eni_sdc(c, phys, NULL, e)) < 0)
		return r;
	return eni_attrs(c, phys, ret_attrs, e);
}

static int eni_remove(struct rc *c, const char *phys, struct err *e)
{
	char id[64];
	if (phys_or_tagged(c, phys, "DescribeNetworkInterfaces", "NetworkInterfaces", "NetworkInterfaceId", id, e) < 0)
		return -1;
	return *id ? call(c, "DeleteNetworkInterface", json_pack("{s:s}", "NetworkInterfaceId", id), NULL, e) : 0;
}

static int eni_update(struct rc *c, const char *phys, json_t *old, json_t **ret_attrs, struct err *e)
{
	int r;
	if (!json_equal(pv(c, "GroupSet"), json_object_get(old, "GroupSet")) &&
	    (r = call(c, "ModifyNetworkInterfaceAttribute", json_pack("{s:s, s:O}", "NetworkInterfaceId", phys, "Groups", pv(c, "GroupSet") ?: json_array()),
		      NULL, e)) < 0)
		return r;
	if ((r = eni_sdc(c, phys, old, e)) < 0 || (r = retag(c, phys, old, e)) < 0)
		return r;
	return eni_attrs(c, phys, ret_attrs, e);
}

/* NetworkInterfaceAttachment */
static int enia_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	json_t *res = NULL;
	int r = call(c, "AttachNetworkInterface",
		     json_pack("{s:s, s:s, s:o}", "InstanceId", ps(c, "InstanceId"), "NetworkInterfaceId", ps(c, "NetworkInterfaceId"),
			       "DeviceIndex", to_int(pv(c, "DeviceIndex"))),
		     &res, e);
	if (r < 0)
		return r;
	snprintf(phys, 64, "%s", jstr(res, "AttachmentId"));
	json_decref(res);
	*ret_attrs = json_pack("{s:s}", "Id", phys);
	return 0;
}

static int enia_remove(struct rc *c, const char *phys, struct err *e)
{
	char id[64];
	snprintf(id, sizeof(id), "%s", phys);
	if (!*id) {
		json_t *res = NULL;
		if (call(c, "DescribeNetworkInterfaces", json_pack("{s:[s]}", "NetworkInterfaceIds", ps(c, "NetworkInterfaceId")), &res, e) < 0)
			return not_found(e) ? (err_clear(e), 0) : -1;
		snprintf(id, sizeof(id), "%s",
			 jstr(json_object_get(json_array_get(json_object_get(res, "NetworkInterfaces"), 0), "Attachment"), "AttachmentId"));
		json_decref(res);
		if (!*id)
			return 0;
	}
	int r = call(c, "DetachNetworkInterface", json_pack("{s:s, s:b}", "AttachmentId", id, "Force", 1), NULL, e);
	if (r < 0 && strstr(e->code, "NotFound"))
		return err_clear(e), 0;
	return r;
}

/* Instance: done once it runs, as CloudFormation's instance is. */
static int inst_describe(struct rc *c, const char *id, json_t **ret, struct err *e)
{
	json_t *res = NULL;
	int r = call(c, "DescribeInstances", json_pack("{s:[s]}", "InstanceIds", id), &res, e);
	if (r < 0)
		return r;
	*ret = json_incref(json_array_get(json_object_get(json_array_get(json_object_get(res, "Reservations"), 0), "Instances"), 0));
	json_decref(res);
	return 0;
}

static json_t *inst_attrs(json_t *i)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "InstanceId", jstr(i, "InstanceId"), "AvailabilityZone",
			 jstr(json_object_get(i, "Placement"), "AvailabilityZone"), "PrivateIp", jstr(i, "PrivateIpAddress"),
			 "PublicIp", jstr(i, "PublicIpAddress"), "PrivateDnsName", jstr(i, "PrivateDnsName"), "PublicDnsName",
			 jstr(i, "PublicDnsName"));
}

static int inst_sdc(struct rc *c, json_t *inst, json_t *old, struct err *e)
{
	json_t *v = pv(c, "SourceDestCheck");
	if (!v || (old && json_equal(v, json_object_get(old, "SourceDestCheck"))))
		return 0;
	const char *eni = jstr(json_array_get(json_object_get(inst, "NetworkInterfaces"), 0), "NetworkInterfaceId");
	_cleanup_json_ json_t *b = to_bool(v);
	return call(c, "ModifyNetworkInterfaceAttribute", json_pack("{s:s, s:{s:O}}", "NetworkInterfaceId", eni, "SourceDestCheck", "Value", b),
		    NULL, e);
}

static int inst_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	json_t *res = NULL, *p = json_pack("{s:i, s:i, s:s, s:o}", "MinCount", 1, "MaxCount", 1, "ClientToken", c->tag,
					   "TagSpecifications", tag_specs(c, "instance"));
	copy(p, c, "ImageId", NULL);
	copy(p, c, "InstanceType", NULL);
	copy(p, c, "SubnetId", NULL);
	copy(p, c, "SecurityGroupIds", NULL);
	copy(p, c, "UserData", NULL);
	copy(p, c, "KeyName", NULL);
	copy(p, c, "PrivateIpAddress", NULL);
	if (*ps(c, "AvailabilityZone"))
		json_object_set_new(p, "Placement", json_pack("{s:s}", "AvailabilityZone", ps(c, "AvailabilityZone")));
	json_t *nis = pv(c, "NetworkInterfaces"), *ni;
	size_t i;
	if (nis) {
		json_t *l = json_array();
		json_array_foreach(nis, i, ni)
		{
			json_t *x = json_deep_copy(ni);
			if (json_object_get(x, "GroupSet")) {
				json_object_set(x, "Groups", json_object_get(x, "GroupSet"));
				json_object_del(x, "GroupSet");
			}
			const char *ints[] = {"DeviceIndex"}, *bools[] = {"AssociatePublicIpAddress", "DeleteOnTermination"};
			for (size_t k = 0; k < 1; k++)
				if (json_object_get(x, ints[k]))
					json_object_set_new(x, ints[k], to_int(json_object_get(x, ints[k])));
			for (size_t k = 0; k < 2; k++)
				if (json_object_get(x, bools[k]))
					json_object_set_new(x, bools[k], to_bool(json_object_get(x, bools[k])));
			json_array_append_new(l, x);
		}
		json_object_set_new(p, "NetworkInterfaces", l);
	}
	int r = call(c, "RunInstances", p, &res, e);
	if (r < 0)
		return r;
	snprintf(phys, 64, "%s", jstr(json_array_get(json_object_get(res, "Instances"), 0), "InstanceId"));
	json_decref(res);
	made(c, phys);
	json_t *inst = NULL;
	for (int k = 0; k < 600; k++) {
		json_decref(inst);
		inst = NULL;
		if ((r = inst_describe(c, phys, &inst, e)) < 0)
			return r;
		const char *st = jstr(json_object_get(inst, "State"), "Name");
		if (!strcmp(st, "running"))
			break;
		if (strcmp(st, "pending")) {
			json_decref(inst);
			return err_set(e, "InvalidInstanceState", "Instance %s is %s, not running", phys, st);
		}
		nanosleep(&(struct timespec){0, 200000000}, NULL);
	}
	if ((r = inst_sdc(c, inst, NULL, e)) == 0)
		*ret_attrs = inst_attrs(inst);
	json_decref(inst);
	return r;
}

static int inst_remove(struct rc *c, const char *phys, struct err *e)
{
	char id[64];
	if (phys_or_tagged(c, phys, "DescribeInstances", "Reservations", "InstanceId", id, e) < 0)
		return -1;
	if (!*id)
		return 0;
	int r = call(c, "TerminateInstances", json_pack("{s:[s]}", "InstanceIds", id), NULL, e);
	if (r < 0)
		return r;
	for (int k = 0; k < 600; k++) {
		json_t *inst = NULL;
		if (inst_describe(c, id, &inst, e) < 0)
			return not_found(e) ? (err_clear(e), 0) : -1;
		bool gone = !inst || !strcmp(jstr(json_object_get(inst, "State"), "Name"), "terminated");
		json_decref(inst);
		if (gone)
			return 0;
		nanosleep(&(struct timespec){0, 200000000}, NULL);
	}
	return err_set(e, "InternalFailure", "instance %s did not terminate within 120 s", id);
}

static int inst_update(struct rc *c, const char *phys, json_t *old, json_t **ret_attrs, struct err *e)
{
	json_t *inst = NULL;
	int r = inst_describe(c, phys, &inst, e);
	if (r == 0 && (r = inst_sdc(c, inst, old, e)) == 0 && (r = retag(c, phys, old, e)) == 0)
		*ret_attrs = inst_attrs(inst);
	json_decref(inst);
	return r;
}

/* KeyPair: Ref is the name. */
static int key_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	json_t *res = NULL, *p = json_pack("{s:o}", "TagSpecifications", tag_specs(c, "key-pair"));
	copy(p, c, "KeyName", NULL);
	bool import = pv(c, "PublicKeyMaterial");
	if (import) {
		/* The API's blob: base64 of the key's text. */
		_cleanup_free_ char *b = b64_encode(ps(c, "PublicKeyMaterial"), strlen(ps(c, "PublicKeyMaterial")));
		json_object_set_new(p, "PublicKeyMaterial", json_string(b ? b : ""));
	} else {
		copy(p, c, "KeyType", NULL);
		copy(p, c, "KeyFormat", NULL);
	}
	int r = call(c, import ? "ImportKeyPair" : "CreateKeyPair", p, &res, e);
	if (r < 0)
		return r;
	snprintf(phys, 64, "%s", jstr(res, "KeyName"));
	*ret_attrs = json_pack("{s:s, s:s}", "KeyPairId", jstr(res, "KeyPairId"), "KeyFingerprint", jstr(res, "KeyFingerprint"));
	json_decref(res);
	return 0;
}

static int key_remove(struct rc *c, const char *phys, struct err *e)
{
	return call(c, "DeleteKeyPair", json_pack("{s:s}", "KeyName", *phys ? phys : ps(c, "KeyName")), NULL, e);
}

/* FlowLog */
static int fl_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	json_t *res = NULL, *p = json_pack("{s:[s], s:s, s:o}", "ResourceIds", ps(c, "ResourceId"), "ClientToken", c->tag,
					   "TagSpecifications", tag_specs(c, "vpc-flow-log"));
	copy(p, c, "ResourceType", NULL);
	copy(p, c, "TrafficType", NULL);
	copy(p, c, "LogDestinationType", NULL);
	copy(p, c, "LogDestination", NULL);
	copy(p, c, "LogGroupName", NULL);
	copy(p, c, "DeliverLogsPermissionArn", NULL);
	copy(p, c, "LogFormat", NULL);
	if (pv(c, "MaxAggregationInterval"))
		json_object_set_new(p, "MaxAggregationInterval", to_int(pv(c, "MaxAggregationInterval")));
	int r = call(c, "CreateFlowLogs", p, &res, e);
	if (r < 0)
		return r;
	json_t *un = json_array_get(json_object_get(res, "Unsuccessful"), 0);
	if (un) {
		r = err_set(e, jstr(json_object_get(un, "Error"), "Code"), "%s", jstr(json_object_get(un, "Error"), "Message"));
		json_decref(res);
		return r;
	}
	snprintf(phys, 64, "%s", json_string_value(json_array_get(json_object_get(res, "FlowLogIds"), 0)) ?: "");
	json_decref(res);
	*ret_attrs = json_pack("{s:s}", "Id", phys);
	return 0;
}

static int fl_remove(struct rc *c, const char *phys, struct err *e)
{
	char id[64];
	if (phys_or_tagged(c, phys, "DescribeFlowLogs", "FlowLogs", "FlowLogId", id, e) < 0)
		return -1;
	if (!*id)
		return 0;
	json_t *res = NULL;
	int r = call(c, "DeleteFlowLogs", json_pack("{s:[s]}", "FlowLogIds", id), &res, e);
	json_decref(res);
	return r;
}

/* AWS::FIS::ExperimentTemplate: CloudFormation's PascalCase into FIS's camelCase, map keys
 * (target and action names, tags, parameters) left as they are. */
static json_t *camel(json_t *v, int depth)
{
	static const char *const maps[] = {"targets", "actions", "tags", "parameters", "resourceTags", NULL};
	if (json_is_array(v)) {
		json_t *l = json_array(), *x;
		size_t i;
		json_array_foreach(v, i, x) json_array_append_new(l, camel(x, depth + 1));
		return l;
	}
	if (!json_is_object(v) || depth > 16)
		return json_incref(v);
	json_t *o = json_object(), *x;
	const char *k;
	json_object_foreach(v, k, x)
	{
		char ck[128];
		snprintf(ck, sizeof(ck), "%s", k);
		ck[0] = (char)tolower((unsigned char)ck[0]);
		bool map = false;
		for (const char *const *m = maps; *m; m++)
			map = map || !strcmp(*m, ck);
		if (map && json_is_object(x)) {
			json_t *mo = json_object(), *y;
			const char *mk;
			json_object_foreach(x, mk, y) json_object_set_new(mo, mk, !strcmp(ck, "tags") || !strcmp(ck, "parameters") || !strcmp(ck, "resourceTags") ? json_incref(y) : camel(y, depth + 1));
			json_object_set_new(o, ck, mo);
		} else
			json_object_set_new(o, ck, camel(x, depth + 1));
	}
	return o;
}

static int fis_create(struct rc *c, char phys[static 64], json_t **ret_attrs, struct err *e)
{
	json_t *p = camel(c->props, 0);
	json_object_set_new(p, "clientToken", json_string(c->tag));
	int r = call_id(c, "CreateExperimentTemplate", p, "experimentTemplate", "id", phys, e);
	if (r < 0)
		return r;
	*ret_attrs = json_pack("{s:s}", "Id", phys);
	return 0;
}

static int fis_remove(struct rc *c, const char *phys, struct err *e)
{
	char id[64];
	snprintf(id, sizeof(id), "%s", phys);
	if (!*id) {
		/* The client token finds a template a cut-short step made. */
		json_t *res = NULL, *p = camel(c->props, 0);
		json_object_set_new(p, "clientToken", json_string(c->tag));
		if (call(c, "CreateExperimentTemplate", p, &res, e) < 0)
			return err_clear(e), 0;
		snprintf(id, sizeof(id), "%s", jstr(json_object_get(res, "experimentTemplate"), "id"));
		json_decref(res);
	}
	int r = call(c, "DeleteExperimentTemplate", json_pack("{s:s}", "id", id), NULL, e);
	if (r < 0 && !strcmp(e->code, "ResourceNotFoundException"))
		return err_clear(e), 0;
	return r;
}

static int fis_update(struct rc *c, const char *phys, json_t *old, json_t **ret_attrs, struct err *e)
{
	(void)old;
	json_t *p = camel(c->props, 0);
	json_object_del(p, "tags");
	json_object_set_new(p, "id", json_string(phys));
	*ret_attrs = json_pack("{s:s}", "Id", phys);
	return call(c, "UpdateExperimentTemplate", p, NULL, e);
}

static const struct provider providers[] = {
	{"AWS::EC2::VPC", vpc_create, vpc_remove, vpc_update},
	{"AWS::EC2::Subnet", subnet_create, subnet_remove, subnet_update},
	{"AWS::EC2::RouteTable", simple_create, simple_remove, tags_update},
	{"AWS::EC2::Route", route_create, route_remove, route_update},
	{"AWS::EC2::SubnetRouteTableAssociation", srta_create, srta_remove, NULL},
	{"AWS::EC2::InternetGateway", simple_create, simple_remove, tags_update},
	{"AWS::EC2::VPCGatewayAttachment", attach_create, attach_remove, NULL},
	{"AWS::EC2::EIP", eip_create, eip_remove, NULL},
	{"AWS::EC2::EIPAssociation", eipa_create, eipa_remove, NULL},
	{"AWS::EC2::NatGateway", nat_create, nat_remove, tags_update},
	{"AWS::EC2::SecurityGroup", sg_create, sg_remove, sg_update},
	{"AWS::EC2::SecurityGroupIngress", sgr_create, sgr_remove, NULL},
	{"AWS::EC2::SecurityGroupEgress", sgr_create, sgr_remove, NULL},
	{"AWS::EC2::NetworkAcl", simple_create, simple_remove, tags_update},
	{"AWS::EC2::NetworkAclEntry", nacle_create, nacle_remove, nacle_update},
	{"AWS::EC2::SubnetNetworkAclAssociation", snacl_create, snacl_remove, NULL},
	{"AWS::EC2::VPCPeeringConnection", pcx_create, pcx_remove, tags_update},
	{"AWS::EC2::NetworkInterface", eni_create, eni_remove, eni_update},
	{"AWS::EC2::NetworkInterfaceAttachment", enia_create, enia_remove, NULL},
	{"AWS::EC2::Instance", inst_create, inst_remove, inst_update},
	{"AWS::EC2::KeyPair", key_create, key_remove, NULL},
	{"AWS::EC2::FlowLog", fl_create, fl_remove, tags_update},
	{"AWS::FIS::ExperimentTemplate", fis_create, fis_remove, fis_update},
};

static const struct provider *provider_of(const char *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(providers); i++)
		if (!strcmp(providers[i].type, type))
			return &providers[i];
	return NULL;
}

/* In place when every changed property is one AWS updates without replacement. */
static bool in_place(const char *type, json_t *old, json_t *new)
{
	const struct provider *p = provider_of(type);
	const struct cfn_type *t = cfn_type_get(type);
	if (!p || !p->update || !t)
		return false;
	const char *k;
	json_t *v;
	json_object_foreach(new, k, v)
	{
		const struct cfn_prop *pr = cfn_prop_get(t, k);
		if (!json_equal(v, json_object_get(old, k)) && !(pr && (pr->flags & CFN_UPDATABLE)))
			return false;
	}
	json_object_foreach(old, k, v)
	{
		const struct cfn_prop *pr = cfn_prop_get(t, k);
		if (!json_object_get(new, k) && !(pr && (pr->flags & CFN_UPDATABLE)))
			return false;
	}
	return true;
}

/* --- steps --------------------------------------------------------------------------------- */

static json_t *res_of(struct op *o, const char *id)
{
	return json_object_get(json_object_get(o->stack, "_resources"), id);
}

static void tag_value(struct op *o, const char *id, int attempt, char buf[static 128])
{
	snprintf(buf, 128, "%s/%.60s/%d", o->stack_uuid, id, attempt);
}

/* Makes resource `id` (a new one, or the replacement of one: then the old physical ID moves
 * to _old for the cleanup). */
static int step_create(struct op *o, const char *id, bool replacing)
{
	struct err e = {0};
	json_t *props = NULL;
	pthread_mutex_lock(&E->lock);
	json_t *def = json_object_get(json_object_get(o->tmpl, "Resources"), id);
	const char *type = jstr(def, "Type");
	json_t *r = res_of(o, id);
	int attempt = r ? (int)json_integer_value(json_object_get(r, "_attempt")) + 1 : 1;
	int rc = resolve_props(o, id, &props, &e);
	const char *verb = replacing ? "UPDATE" : "CREATE";
	char st[40];
	if (!r) {
		r = json_object();
		json_object_set_new(json_object_get(o->stack, "_resources"), id, r);
	}
	if (replacing) {
		json_t *old = json_pack("{s:O, s:O, s:O, s:O}", "PhysicalResourceId", json_object_get(r, "PhysicalResourceId"), "_props",
					json_object_get(r, "_props") ?: json_object(), "_tag", json_object_get(r, "_tag") ?: json_string(""),
					"ResourceType", json_object_get(r, "ResourceType"));
		json_t *olds = json_object_get(o->stack, "_old");
		if (!olds)
			json_object_set_new(o->stack, "_old", olds = json_array());
		json_array_append_new(olds, json_pack("{s:s, s:o}", "LogicalResourceId", id, "Resource", old));
	}
	char tag[128];
	tag_value(o, id, attempt, tag);
	char t[32];
	now_iso(t);
	json_object_set_new(r, "ResourceType", json_string(type));
	json_object_set_new(r, "PhysicalResourceId", json_string(""));
	json_object_set_new(r, "_attempt", json_integer(attempt));
	json_object_set_new(r, "_tag", json_string(tag));
	json_object_set_new(r, "_props", props ? json_incref(props) : json_object());
	json_object_set_new(r, "Timestamp", json_string(t));
	snprintf(st, sizeof(st), "%s_IN_PROGRESS", verb);
	json_object_set_new(r, "ResourceStatus", json_string(st));
	json_object_del(r, "ResourceStatusReason");
	json_object_del(r, "_attrs");
	event(o->stack, id, NULL, type, st,
	      replacing ? "Requested update requires the creation of a new physical resource; hence creating one." : NULL, NULL);
	if (rc == 0)
		event(o->stack, id, NULL, type, st, "Resource creation Initiated", props);
	save_or_log(o->stack);
	pthread_mutex_unlock(&E->lock);

	char phys[64] = "";
	json_t *attrs = NULL;
	struct rc c = {.o = o, .id = id, .type = type, .props = props};
	snprintf(c.tag, sizeof(c.tag), "%s", tag);
	if (rc == 0)
		rc = provider_of(type)->create(&c, phys, &attrs, &e);

	pthread_mutex_lock(&E->lock);
	now_iso(t);
	json_object_set_new(r, "Timestamp", json_string(t));
	if (*phys)
		json_object_set_new(r, "PhysicalResourceId", json_string(phys));
	if (rc == 0) {
		snprintf(st, sizeof(st), "%s_COMPLETE", verb);
		json_object_set_new(r, "_attrs", attrs ? attrs : json_object());
		json_object_set_new(r, "ResourceStatus", json_string(st));
		event(o->stack, id, phys, type, st, NULL, props);
	} else {
		char why[1200];
		snprintf(why, sizeof(why), "%s (Service: AmazonEC2; Error Code: %s)", e.msg, e.code);
		json_decref(attrs);
		snprintf(st, sizeof(st), "%s_FAILED", verb);
		json_object_set_new(r, "ResourceStatus", json_string(st));
		json_object_set_new(r, "ResourceStatusReason", json_string(why));
		event(o->stack, id, phys, type, st, why, props);
	}
	save_or_log(o->stack);
	pthread_mutex_unlock(&E->lock);
	json_decref(props);
	return rc;
}

/* Removes a resource record `r` (of the stack's _resources, or of _old) with `what` as its
 * logical ID in events. */
static int remove_one(struct op *o, const char *id, json_t *r, bool record)
{
	struct err e = {0};
	pthread_mutex_lock(&E->lock);
	const char *type = jstr(r, "ResourceType");
	char phys[64], t[32];
	snprintf(phys, sizeof(phys), "%s", jstr(r, "PhysicalResourceId"));
	json_t *props = json_incref(json_object_get(r, "_props"));
	struct rc c = {.o = o, .id = id, .type = type, .props = props};
	snprintf(c.tag, sizeof(c.tag), "%s", jstr(r, "_tag"));
	bool never = !strcmp(jstr(r, "ResourceStatus"), "DELETE_COMPLETE") || (!*phys && !*c.tag);
	if (!never) {
		if (record) {
			json_object_set_new(r, "ResourceStatus", json_string("DELETE_IN_PROGRESS"));
			now_iso(t);
			json_object_set_new(r, "Timestamp", json_string(t));
		}
		event(o->stack, id, phys, type, "DELETE_IN_PROGRESS", NULL, NULL);
		save_or_log(o->stack);
	}
	pthread_mutex_unlock(&E->lock);
	int rc = 0;
	const struct provider *p = provider_of(type);
	/* What a dependency held (an instance's ENI released just after it terminated, a NAT
	 * gateway's namespace) goes within seconds: CloudFormation retries too. */
	for (int i = 0; !never && p && i < 100; i++) {
		err_clear(&e);
		rc = p->remove(&c, phys, &e);
		if (rc < 0 && not_found(&e))
			rc = 0;
		if (rc == 0 || strcmp(e.code, "DependencyViolation"))
			break;
		nanosleep(&(struct timespec){0, 300000000}, NULL);
	}
	pthread_mutex_lock(&E->lock);
	if (!never) {
		char why[1200] = "";
		if (rc < 0)
			snprintf(why, sizeof(why), "%s (Service: AmazonEC2; Error Code: %s)", e.msg, e.code);
		const char *st = rc == 0 ? "DELETE_COMPLETE" : "DELETE_FAILED";
		if (record) {
			json_object_set_new(r, "ResourceStatus", json_string(st));
			if (*why)
				json_object_set_new(r, "ResourceStatusReason", json_string(why));
			now_iso(t);
			json_object_set_new(r, "Timestamp", json_string(t));
		}
		event(o->stack, id, phys, type, st, why, NULL);
		save_or_log(o->stack);
	}
	pthread_mutex_unlock(&E->lock);
	json_decref(props);
	return rc;
}

/* Updates `id` in place, or replaces it, or leaves it: its properties evaluated now. */
static int step_update(struct op *o, const char *id)
{
	struct err e = {0};
	json_t *props = NULL;
	pthread_mutex_lock(&E->lock);
	json_t *r = res_of(o, id);
	json_t *def = json_object_get(json_object_get(o->tmpl, "Resources"), id);
	const char *type = jstr(def, "Type");
	bool fresh = !r || !*jstr(r, "PhysicalResourceId") || strcmp(jstr(r, "ResourceType"), type) ||
		     ends_with(jstr(r, "ResourceStatus"), "_FAILED");
	int rc = fresh ? 0 : resolve_props(o, id, &props, &e);
	json_t *old = r ? json_incref(json_object_get(r, "_props")) : NULL;
	bool same = rc == 0 && !fresh && json_equal(props, old);
	bool inplace = rc == 0 && !fresh && !same && in_place(type, old, props);
	char phys[64];
	snprintf(phys, sizeof(phys), "%s", r ? jstr(r, "PhysicalResourceId") : "");
	if (inplace) {
		char t[32];
		now_iso(t);
		json_object_set_new(r, "ResourceStatus", json_string("UPDATE_IN_PROGRESS"));
		json_object_set_new(r, "Timestamp", json_string(t));
		event(o->stack, id, phys, type, "UPDATE_IN_PROGRESS", NULL, props);
		save_or_log(o->stack);
	}
	pthread_mutex_unlock(&E->lock);
	if (rc < 0 && !fresh) {
		pthread_mutex_lock(&E->lock);
		char why[1200];
		snprintf(why, sizeof(why), "%s", e.msg);
		json_object_set_new(r, "ResourceStatus", json_string("UPDATE_FAILED"));
		json_object_set_new(r, "ResourceStatusReason", json_string(why));
		event(o->stack, id, phys, type, "UPDATE_FAILED", why, NULL);
		save_or_log(o->stack);
		pthread_mutex_unlock(&E->lock);
		json_decref(old);
		return rc;
	}
	if (same) {
		json_decref(props);
		json_decref(old);
		return 0;
	}
	if (!inplace) {
		json_decref(props);
		json_decref(old);
		return step_create(o, id, !fresh);
	}
	json_t *attrs = NULL;
	struct rc c = {.o = o, .id = id, .type = type, .props = props};
	snprintf(c.tag, sizeof(c.tag), "%s", jstr(r, "_tag"));
	rc = provider_of(type)->update(&c, phys, old, &attrs, &e);
	pthread_mutex_lock(&E->lock);
	char t[32];
	now_iso(t);
	json_object_set_new(r, "Timestamp", json_string(t));
	if (rc == 0) {
		json_object_set_new(r, "_props", json_incref(props));
		if (attrs)
			json_object_set_new(r, "_attrs", attrs);
		json_object_set_new(r, "ResourceStatus", json_string("UPDATE_COMPLETE"));
		event(o->stack, id, phys, type, "UPDATE_COMPLETE", NULL, props);
	} else {
		char why[1200];
		snprintf(why, sizeof(why), "%s (Service: AmazonEC2; Error Code: %s)", e.msg, e.code);
		json_decref(attrs);
		/* What was applied is unknown: the record keeps the properties that were asked
		 * for, so a rollback puts back every one of the old. */
		json_object_set_new(r, "_props", json_incref(props));
		json_object_set_new(r, "ResourceStatus", json_string("UPDATE_FAILED"));
		json_object_set_new(r, "ResourceStatusReason", json_string(why));
		event(o->stack, id, phys, type, "UPDATE_FAILED", why, props);
	}
	save_or_log(o->stack);
	pthread_mutex_unlock(&E->lock);
	json_decref(props);
	json_decref(old);
	return rc;
}

/* --- running a plan: each step once its dependencies are done, CFN_WORKERS at a time -------- */

enum { S_CREATE, S_UPDATE, S_DELETE };

struct plan {
	pthread_mutex_t m;
	pthread_cond_t c;
	json_t *graph; /* id -> [ids it waits for] */
	json_t *state; /* id -> 0 waiting, 1 running, 2 done, 3 failed */
	int running, kind;
	bool failed;
	struct op *o;
};

struct task {
	struct plan *p;
	char id[256];
};

static void *task_run(void *arg)
{
	struct task *t = arg;
	struct plan *p = t->p;
	int r;
	if (p->kind == S_CREATE)
		r = step_create(p->o, t->id, false);
	else if (p->kind == S_UPDATE)
		r = step_update(p->o, t->id);
	else {
		pthread_mutex_lock(&E->lock);
		json_t *res = json_incref(res_of(p->o, t->id));
		pthread_mutex_unlock(&E->lock);
		r = res ? remove_one(p->o, t->id, res, true) : 0;
		json_decref(res);
	}
	pthread_mutex_lock(&p->m);
	json_object_set_new(p->state, t->id, json_integer(r == 0 ? 2 : 3));
	if (r < 0)
		p->failed = true;
	p->running--;
	pthread_cond_signal(&p->c);
	pthread_mutex_unlock(&p->m);
	free(t);
	return NULL;
}

static int plan_run(struct op *o, json_t *graph, int kind)
{
	struct plan p = {.m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER, .graph = graph,
			 .state = json_object(), .kind = kind, .o = o};
	const char *id;
	json_t *deps;
	json_object_foreach(graph, id, deps) json_object_set_new(p.state, id, json_integer(0));
	pthread_mutex_lock(&p.m);
	for (;;) {
		bool launched = false;
		if (!p.failed)
			json_object_foreach(graph, id, deps)
			{
				if (p.running >= CFN_WORKERS)
					break;
				if (json_integer_value(json_object_get(p.state, id)) != 0)
					continue;
				bool ready = true;
				size_t i;
				json_t *d;
				json_array_foreach(deps, i, d)
				{
					json_t *s = json_object_get(p.state, json_string_value(d));
					if (s && json_integer_value(s) != 2)
						ready = false;
				}
				if (!ready)
					continue;
				struct task *t = calloc(1, sizeof(*t));
				pthread_t th;
				if (!t) {
					p.failed = true;
					break;
				}
				t->p = &p;
				snprintf(t->id, sizeof(t->id), "%s", id);
				json_object_set_new(p.state, id, json_integer(1));
				p.running++;
				if (pthread_create(&th, NULL, task_run, t) != 0) {
					p.running--;
					json_object_set_new(p.state, id, json_integer(3));
					p.failed = true;
					free(t);
					break;
				}
				pthread_detach(th);
				launched = true;
			}
		if (p.running == 0 && !launched) {
			bool left = false;
			json_object_foreach(graph, id, deps) if (json_integer_value(json_object_get(p.state, id)) == 0) left = true;
			if (p.failed || !left)
				break;
			/* Waiting on something outside the plan that never comes: a bug. */
			p.failed = true;
			break;
		}
		pthread_cond_wait(&p.c, &p.m);
	}
	pthread_mutex_unlock(&p.m);
	bool failed = p.failed;
	json_decref(p.state);
	return failed ? -1 : 0;
}

/* The reverse of a graph, limited to the ids of `only` (NULL: all). */
static json_t *reversed(json_t *g, json_t *only)
{
	json_t *out = json_object(), *deps, *d;
	const char *id;
	size_t i;
	json_object_foreach(g, id, deps) if (!only || json_object_get(only, id)) json_object_set_new(out, id, json_array());
	json_object_foreach(g, id, deps)
	{
		if (!json_object_get(out, id))
			continue;
		json_array_foreach(deps, i, d) if (json_object_get(out, json_string_value(d))) json_array_append_new(json_object_get(out, json_string_value(d)), json_string(id));
	}
	return out;
}

/* The dependency graph of the stack's stored resources (from the template they were made
 * with), for deleting them: every recorded resource, also one the template no longer has. */
static json_t *stored_graph(json_t *stack, json_t *tmpl)
{
	json_t *g = NULL, *r;
	struct err e = {0};
	const char *id;
	if (!tmpl || cfn_deps(tmpl, NULL, &g, &e) < 0)
		g = json_object();
	json_object_foreach(json_object_get(stack, "_resources"), id, r) if (!json_object_get(g, id)) json_object_set_new(g, id, json_array());
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(g, tmp, k, v) if (!json_object_get(json_object_get(stack, "_resources"), k)) json_object_del(g, k);
	return g;
}

/* --- operations ---------------------------------------------------------------------------- */

static void outputs(struct op *o)
{
	json_t *outs = json_object_get(o->tmpl, "Outputs"), *v;
	const char *k;
	_cleanup_json_ json_t *made = made_of(o->stack), *ex = exports_all(o->region);
	struct cfn_ctx ctx = {.params = o->params, .conditions = o->conds, .mappings = json_object_get(o->tmpl, "Mappings"),
			      .resources = made, .azs = o->azs, .exports = ex, .template = o->tmpl};
	json_t *l = json_array();
	json_object_foreach(outs, k, v)
	{
		const char *cn = jstr(v, "Condition");
		if (*cn && !json_is_true(json_object_get(o->conds, cn)))
			continue;
		struct err e = {0};
		json_t *val = NULL, *name = NULL;
		if (cfn_eval(json_object_get(v, "Value"), &ctx, &val, &e) < 0 || !val)
			continue;
		json_t *sv = val;
		if (json_is_array(val)) {
			/* A list output is its items joined with commas, as CloudFormation shows it. */
			_cleanup_json_ json_t *j = json_pack("{s:[s, O]}", "Fn::Join", ",", val);
			json_t *s = NULL;
			cfn_eval(j, &ctx, &s, &e);
			sv = s ? s : json_string("");
			json_decref(val);
		} else if (!json_is_string(val)) {
			char *d = json_dumps(val, JSON_ENCODE_ANY);
			sv = json_string(d ? d : "");
			free(d);
			json_decref(val);
		}
		json_t *out = json_pack("{s:s, s:o}", "OutputKey", k, "OutputValue", sv);
		if (*jstr(v, "Description"))
			json_object_set_new(out, "Description", json_string(jstr(v, "Description")));
		json_t *exn = json_object_get(json_object_get(v, "Export"), "Name");
		if (exn && cfn_eval(exn, &ctx, &name, &e) == 0 && json_is_string(name))
			json_object_set_new(out, "ExportName", json_incref(name));
		json_decref(name);
		json_array_append_new(l, out);
	}
	json_object_set_new(o->stack, "Outputs", l);
}

static void finish(struct op *o, const char *status, const char *reason)
{
	char t[32];
	now_iso(t);
	stack_status(o->stack, status, reason);
	if (!strcmp(status, "DELETE_COMPLETE"))
		json_object_set_new(o->stack, "DeletionTime", json_string(t));
	json_object_del(o->stack, "_op");
	save_or_log(o->stack);
}

static int op_load(struct op *o, const char *body, json_t *given)
{
	struct err e = {0};
	json_t *sv = o->stack;
	return prepare(o->region, jstr(sv, "StackName"), jstr(sv, "StackId"), body, given, &o->tmpl, &o->params, &o->conds, &o->azs, &e);
}

/* Deletes every recorded resource in reverse order: a rollback of a create, or a delete. */
static int delete_all(struct op *o, json_t *tmpl)
{
	pthread_mutex_lock(&E->lock);
	_cleanup_json_ json_t *g = stored_graph(o->stack, tmpl);
	_cleanup_json_ json_t *rg = reversed(g, NULL);
	pthread_mutex_unlock(&E->lock);
	return plan_run(o, rg, S_DELETE);
}

static void drop_deleted(struct op *o)
{
	json_t *res = json_object_get(o->stack, "_resources"), *r;
	const char *id;
	void *tmp;
	json_object_foreach_safe(res, tmp, id, r) if (!strcmp(jstr(r, "ResourceStatus"), "DELETE_COMPLETE") || (!*jstr(r, "PhysicalResourceId") && !*jstr(r, "_tag"))) json_object_del(res, id);
}

static void run_rollback_create(struct op *o)
{
	pthread_mutex_lock(&E->lock);
	if (strcmp(jstr(o->stack, "StackStatus"), "ROLLBACK_IN_PROGRESS")) {
		stack_status(o->stack, "ROLLBACK_IN_PROGRESS",
			     "The following resource(s) failed to create. Rollback requested by user.");
		save_or_log(o->stack);
	}
	pthread_mutex_unlock(&E->lock);
	int r = delete_all(o, o->tmpl);
	pthread_mutex_lock(&E->lock);
	if (r == 0)
		drop_deleted(o);
	finish(o, r == 0 ? "ROLLBACK_COMPLETE" : "ROLLBACK_FAILED", NULL);
	pthread_mutex_unlock(&E->lock);
}

static void run_create(struct op *o)
{
	_cleanup_json_ json_t *g = NULL;
	struct err e = {0};
	pthread_mutex_lock(&E->lock);
	int r = cfn_deps(o->tmpl, o->conds, &g, &e);
	pthread_mutex_unlock(&E->lock);
	if (r == 0)
		r = plan_run(o, g, S_CREATE);
	pthread_mutex_lock(&E->lock);
	if (r == 0) {
		outputs(o);
		finish(o, "CREATE_COMPLETE", NULL);
		pthread_mutex_unlock(&E->lock);
		return;
	}
	if (json_is_true(json_object_get(o->stack, "DisableRollback"))) {
		finish(o, "CREATE_FAILED", "The following resource(s) failed to create. ");
		pthread_mutex_unlock(&E->lock);
		return;
	}
	pthread_mutex_unlock(&E->lock);
	run_rollback_create(o);
}

static void run_delete(struct op *o)
{
	int r = delete_all(o, o->tmpl);
	pthread_mutex_lock(&E->lock);
	if (r == 0) {
		drop_deleted(o);
		json_object_set_new(o->stack, "Outputs", json_array());
		finish(o, "DELETE_COMPLETE", NULL);
	} else
		finish(o, "DELETE_FAILED", "The following resource(s) failed to delete.");
	pthread_mutex_unlock(&E->lock);
}

/* The cleanup of an update: replaced physical resources (_old) and the resources the new
 * template no longer has, in reverse order of the old template. */
static int cleanup(struct op *o, json_t *old_tmpl, bool rollback)
{
	pthread_mutex_lock(&E->lock);
	json_t *res = json_object_get(o->stack, "_resources"), *r;
	json_t *keep = json_object_get(o->tmpl, "Resources");
	_cleanup_json_ json_t *gone = json_object();
	const char *id;
	json_object_foreach(res, id, r)
	{
		const char *cn = jstr(json_object_get(keep, id), "Condition");
		if (!json_object_get(keep, id) || (*cn && !json_is_true(json_object_get(o->conds, cn))))
			json_object_set_new(gone, id, json_true());
	}
	json_t *olds = json_incref(json_object_get(o->stack, "_old"));
	_cleanup_json_ json_t *g = stored_graph(o->stack, old_tmpl);
	_cleanup_json_ json_t *rg = reversed(g, gone);
	pthread_mutex_unlock(&E->lock);
	int rc = 0;
	size_t i;
	json_t *x;
	/* Replaced ones first (their dependents already point at the new ones). */
	json_array_foreach(olds, i, x) if (remove_one(o, jstr(x, "LogicalResourceId"), json_object_get(x, "Resource"), false) < 0) rc = -1;
	json_decref(olds);
	if (plan_run(o, rg, S_DELETE) < 0)
		rc = -1;
	pthread_mutex_lock(&E->lock);
	json_object_del(o->stack, "_old");
	json_object_foreach(gone, id, x)
	{
		json_t *rr = json_object_get(res, id);
		if (rr && !strcmp(jstr(rr, "ResourceStatus"), "DELETE_COMPLETE"))
			json_object_del(res, id);
	}
	drop_deleted(o);
	save_or_log(o->stack);
	pthread_mutex_unlock(&E->lock);
	(void)rollback;
	return rc;
}

static void run_update_rollback(struct op *o);

static void run_update(struct op *o)
{
	_cleanup_json_ json_t *g = NULL;
	struct err e = {0};
	pthread_mutex_lock(&E->lock);
	int r = cfn_deps(o->tmpl, o->conds, &g, &e);
	pthread_mutex_unlock(&E->lock);
	if (r == 0)
		r = plan_run(o, g, S_UPDATE);
	if (r < 0) {
		pthread_mutex_lock(&E->lock);
		if (json_is_true(json_object_get(o->stack, "DisableRollback"))) {
			finish(o, "UPDATE_FAILED", "The following resource(s) failed to update.");
			pthread_mutex_unlock(&E->lock);
			return;
		}
		pthread_mutex_unlock(&E->lock);
		run_update_rollback(o);
		return;
	}
	pthread_mutex_lock(&E->lock);
	outputs(o);
	stack_status(o->stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", NULL);
	save_or_log(o->stack);
	_cleanup_json_ json_t *prev = json_deep_copy(json_object_get(json_object_get(o->stack, "_op"), "Prev"));
	pthread_mutex_unlock(&E->lock);
	_cleanup_json_ json_t *old_t = NULL;
	if (cfn_template_parse(jstr(prev, "TemplateBody"), strlen(jstr(prev, "TemplateBody")), &old_t, &e) < 0)
		old_t = NULL;
	cleanup(o, old_t, false);
	pthread_mutex_lock(&E->lock);
	finish(o, "UPDATE_COMPLETE", NULL);
	pthread_mutex_unlock(&E->lock);
}

/* Puts the previous template and parameters back: resources it has that changed are updated
 * or made again from it; resources made for the failed update go in the cleanup. */
static void run_update_rollback(struct op *o)
{
	pthread_mutex_lock(&E->lock);
	if (strcmp(jstr(o->stack, "StackStatus"), "UPDATE_ROLLBACK_IN_PROGRESS")) {
		stack_status(o->stack, "UPDATE_ROLLBACK_IN_PROGRESS", "The following resource(s) failed to update.");
		save_or_log(o->stack);
	}
	json_t *prev = json_deep_copy(json_object_get(json_object_get(o->stack, "_op"), "Prev"));
	json_t *failed_t = json_incref(o->tmpl);
	pthread_mutex_unlock(&E->lock);
	json_decref(o->tmpl), json_decref(o->params), json_decref(o->conds), json_decref(o->azs);
	o->tmpl = o->params = o->conds = o->azs = NULL;
	int r = op_load(o, jstr(prev, "TemplateBody"), json_object_get(prev, "Given"));
	_cleanup_json_ json_t *g = NULL;
	struct err e = {0};
	if (r == 0)
		r = cfn_deps(o->tmpl, o->conds, &g, &e);
	if (r == 0) {
		/* The replacements the failed update made are dropped from _old's point of view:
		 * the old physical resources come back, the new ones are cleaned up. */
		pthread_mutex_lock(&E->lock);
		json_t *res = json_object_get(o->stack, "_resources"), *olds = json_object_get(o->stack, "_old"), *x;
		size_t i;
		json_t *swapped = json_array();
		json_array_foreach(olds, i, x)
		{
			const char *id = jstr(x, "LogicalResourceId");
			json_t *cur = json_object_get(res, id), *back = json_deep_copy(json_object_get(x, "Resource"));
			if (cur)
				json_array_append_new(swapped, json_pack("{s:s, s:O}", "LogicalResourceId", id, "Resource", cur));
			char t[32];
			now_iso(t);
			json_object_set_new(back, "ResourceStatus", json_string("UPDATE_COMPLETE"));
			json_object_set_new(back, "Timestamp", json_string(t));
			json_object_set_new(res, id, back);
		}
		json_object_set_new(o->stack, "_old", swapped);
		save_or_log(o->stack);
		pthread_mutex_unlock(&E->lock);
		r = plan_run(o, g, S_UPDATE);
	}
	pthread_mutex_lock(&E->lock);
	stack_status(o->stack, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", NULL);
	json_object_set_new(o->stack, "_template", json_string(jstr(prev, "TemplateBody")));
	json_object_set(o->stack, "_given", json_object_get(prev, "Given"));
	json_object_set(o->stack, "Parameters", json_object_get(prev, "Parameters"));
	save_or_log(o->stack);
	pthread_mutex_unlock(&E->lock);
	if (cleanup(o, failed_t, true) < 0)
		r = -1;
	pthread_mutex_lock(&E->lock);
	outputs(o);
	finish(o, r == 0 ? "UPDATE_ROLLBACK_COMPLETE" : "UPDATE_ROLLBACK_FAILED", NULL);
	pthread_mutex_unlock(&E->lock);
	json_decref(prev);
	json_decref(failed_t);
}

/* The operation thread: what _op says, from where the record is. */
static void *op_thread(void *arg)
{
	struct op *o = arg;
	pthread_mutex_lock(&E->lock);
	json_t *opj = json_deep_copy(json_object_get(o->stack, "_op"));
	const char *status = jstr(o->stack, "StackStatus");
	char st[64];
	snprintf(st, sizeof(st), "%s", status);
	_cleanup_free_ char *body = strdup(jstr(o->stack, "_template"));
	json_t *given = json_deep_copy(json_object_get(o->stack, "_given"));
	pthread_mutex_unlock(&E->lock);
	if (op_load(o, body ? body : "", given) < 0 && strcmp(st, "DELETE_IN_PROGRESS")) {
		/* The stored template no longer loads (it did when the operation began): only
		 * a delete can go on. */
		pthread_mutex_lock(&E->lock);
		finish(o, ends_with(st, "ROLLBACK_IN_PROGRESS") ? "ROLLBACK_FAILED" : "CREATE_FAILED", "The stored template does not load.");
		pthread_mutex_unlock(&E->lock);
	} else if (!strcmp(st, "CREATE_IN_PROGRESS"))
		json_is_true(json_object_get(opj, "Recovered")) ? run_rollback_create(o) : run_create(o);
	else if (!strcmp(st, "ROLLBACK_IN_PROGRESS"))
		run_rollback_create(o);
	else if (!strcmp(st, "DELETE_IN_PROGRESS"))
		run_delete(o);
	else if (!strcmp(st, "UPDATE_IN_PROGRESS"))
		json_is_true(json_object_get(opj, "Recovered")) ? run_update_rollback(o) : run_update(o);
	else if (!strcmp(st, "UPDATE_ROLLBACK_IN_PROGRESS") || !strcmp(st, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"))
		run_update_rollback(o);
	else if (!strcmp(st, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")) {
		json_t *prev = json_object_get(opj, "Prev");
		json_t *old_t = NULL;
		struct err e = {0};
		if (cfn_template_parse(jstr(prev, "TemplateBody"), strlen(jstr(prev, "TemplateBody")), &old_t, &e) < 0)
			old_t = NULL;
		cleanup(o, old_t, false);
		json_decref(old_t);
		pthread_mutex_lock(&E->lock);
		finish(o, "UPDATE_COMPLETE", NULL);
		pthread_mutex_unlock(&E->lock);
	}
	json_decref(opj);
	json_decref(given);
	pthread_mutex_lock(&E->lock);
	json_object_del(o->stack, "_running");
	pthread_mutex_unlock(&E->lock);
	op_free(o);
	return NULL;
}

/* Starts the operation the record's status and _op name. Under the lock. */
static int op_start(json_t *stack, struct err *e)
{
	struct op *o = calloc(1, sizeof(*o));
	if (!o)
		return err_set(e, "InternalFailure", "out of memory");
	snprintf(o->key, sizeof(o->key), "%s", jstr(stack, "_key"));
	snprintf(o->region, sizeof(o->region), "%s", jstr(stack, "_region"));
	const char *sid = jstr(stack, "StackId"), *slash = strrchr(sid, '/');
	snprintf(o->stack_uuid, sizeof(o->stack_uuid), "%s", slash ? slash + 1 : sid);
	o->stack = json_incref(stack);
	json_object_set_new(stack, "_running", json_true());
	pthread_t t;
	if (pthread_create(&t, NULL, op_thread, o) != 0) {
		json_object_del(stack, "_running");
		op_free(o);
		return err_set(e, "InternalFailure", "cannot start the stack's operation");
	}
	pthread_detach(t);
	return 0;
}

void cfn_recover(void)
{
	const char *k;
	json_t *o;
	pthread_mutex_lock(&E->lock);
	json_object_foreach(store_objects(E->store), k, o)
	{
		if (strcmp(jstr(o, "_type"), "cfn-stack") || !in_progress(jstr(o, "StackStatus")) ||
		    !strcmp(jstr(o, "StackStatus"), "REVIEW_IN_PROGRESS"))
			continue;
		/* A create or update cut short is rolled back, as CloudFormation would on a
		 * failure; a delete, a rollback or a cleanup goes on. */
		json_t *opj = json_object_get(o, "_op");
		if (!opj)
			json_object_set_new(o, "_op", opj = json_object());
		json_object_set_new(opj, "Recovered", json_true());
		log_info("stack %s: %s when ec2d stopped; finishing it", jstr(o, "StackName"), jstr(o, "StackStatus"));
		struct err e = {0};
		save_or_log(o);
		if (op_start(o, &e) < 0)
			log_error("stack %s: %s", jstr(o, "StackName"), e.msg);
	}
	pthread_mutex_unlock(&E->lock);
}

/* --- the API ------------------------------------------------------------------------------- */

/* The given parameters ({key: value}) of a request's Parameters list; UsePreviousValue from
 * `prev` ({key: value}). */
static int given_of(json_t *list, json_t *stack, json_t **ret, struct err *e)
{
	json_t *out = json_object(), *x, *prev = json_object_get(stack, "_given");
	size_t i;
	json_array_foreach(list, i, x)
	{
		const char *k = jstr(x, "ParameterKey");
		if (json_is_true(json_object_get(x, "UsePreviousValue"))) {
			json_t *pv_ = json_object_get(prev, k), *y;
			size_t j;
			bool declared = false;
			json_array_foreach(json_object_get(stack, "Parameters"), j, y) if (!strcmp(jstr(y, "ParameterKey"), k)) declared = true;
			if (!pv_ && declared)
				continue; /* it had its Default: it keeps it */
			if (!pv_) {
				json_decref(out);
				return verr(e, "Invalid input for parameter key %s. Cannot specify usePreviousValue as true for a parameter key not in the previous template", k);
			}
			json_object_set(out, k, pv_);
		} else if (json_object_get(x, "ParameterValue"))
			json_object_set_new(out, k, json_string(jstr(x, "ParameterValue")));
	}
	*ret = out;
	return 0;
}

static json_t *public_params(json_t *t, json_t *vals)
{
	json_t *l = json_array(), *p;
	const char *k;
	json_object_foreach(json_object_get(t, "Parameters"), k, p)
	{
		json_t *v = json_object_get(vals, k);
		char *s = NULL;
		if (json_is_array(v)) {
			size_t i, n = 1;
			json_t *x;
			json_array_foreach(v, i, x) n += json_string_length(x) + 1;
			s = calloc(1, n);
			json_array_foreach(v, i, x) if (s) sprintf(s + strlen(s), "%s%s", i ? "," : "", json_string_value(x));
		}
		const char *val = s ? s : json_is_string(v) ? json_string_value(v) : "";
		bool noecho = json_is_true(json_object_get(p, "NoEcho")) ||
			      (json_is_string(json_object_get(p, "NoEcho")) && !strcasecmp(jstr(p, "NoEcho"), "true"));
		json_array_append_new(l, json_pack("{s:s, s:s}", "ParameterKey", k, "ParameterValue", noecho ? "****" : val));
		free(s);
	}
	return l;
}

static const char *body_of(json_t *P, struct err *e)
{
	if (*jstr(P, "TemplateURL") && !*jstr(P, "TemplateBody")) {
		verr(e, "TemplateURL is not supported by vpclab: give the template as TemplateBody");
		return NULL;
	}
	const char *b = jstr(P, "TemplateBody");
	if (!*b) {
		verr(e, "Either Template URL or Template Body must be specified.");
		return NULL;
	}
	if (strlen(b) > CFN_FILE_MAX) {
		verr(e, "1 validation error detected: Value at 'templateBody' failed to satisfy constraint: Member must have length less than or equal to %d",
		     CFN_FILE_MAX);
		return NULL;
	}
	return b;
}

static bool name_ok(const char *n)
{
	size_t l = strlen(n);
	if (l == 0 || l > 128 || !((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= 'A' && n[0] <= 'Z')))
		return false;
	for (size_t i = 0; i < l; i++)
		if (!(isalnum((unsigned char)n[i]) || n[i] == '-'))
			return false;
	return true;
}

/* A new stack record (not yet committed). */
static json_t *stack_new(const char *region, const char *name, json_t *P)
{
	char id[37], arn[256], t[32], key[64];
	uuid(id);
	now_iso(t);
	snprintf(arn, sizeof(arn), "arn:aws:cloudformation:%s:%s:stack/%s/%s", region, OWNER_ID, name, id);
	snprintf(key, sizeof(key), "stack/%s", id);
	json_t *s = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:[], s:{}, s:[], s:[], s:{}}", "_type", "cfn-stack", "_region",
			      region, "_key", key, "StackId", arn, "StackName", name, "CreationTime", t, "StackStatus", "REVIEW_IN_PROGRESS",
			      "DisableRollback", json_is_true(json_object_get(P, "DisableRollback")) ||
						 !strcmp(jstr(P, "OnFailure"), "DO_NOTHING"),
			      "Outputs", "_resources", "_events", "Parameters", "_changesets");
	json_object_set(s, "Tags", json_object_get(P, "Tags") ?: json_array());
	json_object_set(s, "Capabilities", json_object_get(P, "Capabilities") ?: json_array());
	return s;
}

/* Checks the body and parameters, sets the record to the new operation (status, template,
 * parameters, the previous ones in _op.Prev) and starts it. Under the lock. */
static int begin(json_t *s, const char *region, const char *body, json_t *given, const char *status, json_t *tmpl_vals_out,
		 struct err *e)
{
	(void)tmpl_vals_out;
	_cleanup_json_ json_t *t = NULL, *vals = NULL;
	int r = prepare(region, jstr(s, "StackName"), jstr(s, "StackId"), body, given, &t, &vals, NULL, NULL, e);
	if (r < 0)
		return r;
	json_t *prev = json_pack("{s:s, s:O, s:O}", "TemplateBody", jstr(s, "_template"), "Given", json_object_get(s, "_given") ?: json_object(),
				 "Parameters", json_object_get(s, "Parameters") ?: json_array());
	json_object_set_new(s, "_op", json_pack("{s:o}", "Prev", prev));
	json_object_set_new(s, "_template", json_string(body));
	json_object_set(s, "_given", given);
	json_object_set_new(s, "Parameters", public_params(t, vals));
	json_t *d = json_object_get(t, "Description");
	if (json_is_string(d))
		json_object_set(s, "Description", d);
	if (!strcmp(status, "UPDATE_IN_PROGRESS")) {
		char now[32];
		now_iso(now);
		json_object_set_new(s, "LastUpdatedTime", json_string(now));
	}
	stack_status(s, status, !strcmp(status, "CREATE_IN_PROGRESS") ? "User Initiated" : NULL);
	if ((r = save(s, e)) < 0)
		return r;
	return op_start(s, e);
}

static int busy(json_t *s, const char *what, struct err *e)
{
	return verr(e, "Stack:%s is in %s state and can not be %s.", jstr(s, "StackId"), jstr(s, "StackStatus"), what);
}

/* The stack in the request, with the lock held on success. */
int h_cfn_create_stack(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *P = rq->params;
	const char *name = jstr(P, "StackName"), *body = body_of(P, e);
	if (!name_ok(name))
		return verr(e, "1 validation error detected: Value '%s' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*",
			    name);
	if (!body)
		return -EINVAL;
	_cleanup_json_ json_t *given = NULL;
	int r = given_of(json_object_get(P, "Parameters"), NULL, &given, e);
	if (r < 0)
		return r;
	pthread_mutex_lock(&E->lock);
	if (stack_find(rq->region, name)) {
		pthread_mutex_unlock(&E->lock);
		return err_set(e, "AlreadyExistsException", "Stack [%s] already exists", name);
	}
	_cleanup_json_ json_t *s = stack_new(rq->region, name, P);
	/* Checked before anything is kept: a bad template makes no stack. */
	_cleanup_json_ json_t *t = NULL;
	pthread_mutex_unlock(&E->lock);
	r = prepare(rq->region, name, jstr(s, "StackId"), body, given, &t, NULL, NULL, NULL, e);
	if (r < 0)
		return r;
	pthread_mutex_lock(&E->lock);
	if (stack_find(rq->region, name))
		r = err_set(e, "AlreadyExistsException", "Stack [%s] already exists", name);
	else
		r = begin(s, rq->region, body, given, "CREATE_IN_PROGRESS", NULL, e);
	if (r == 0)
		*ret = json_pack("{s:s}", "StackId", jstr(s, "StackId"));
	pthread_mutex_unlock(&E->lock);
	return r;
}

static bool settled(const char *st)
{
	return !in_progress(st) && strcmp(st, "ROLLBACK_COMPLETE") && strcmp(st, "ROLLBACK_FAILED") && strcmp(st, "CREATE_FAILED") &&
	       strcmp(st, "DELETE_FAILED") && strcmp(st, "DELETE_COMPLETE");
}

/* A change from the stored template and parameters: "No updates are to be performed." when
 * there is none. */
static bool unchanged(json_t *s, const char *body, json_t *given)
{
	return !strcmp(jstr(s, "_template"), body) && json_equal(json_object_get(s, "_given") ?: json_object(), given);
}

int h_cfn_update_stack(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *P = rq->params;
	const char *name = jstr(P, "StackName");
	pthread_mutex_lock(&E->lock);
	json_t *s = stack_find(rq->region, name);
	int r;
	if (!s)
		r = no_stack(e, name);
	else if (!settled(jstr(s, "StackStatus")) || json_object_get(s, "_running"))
		r = busy(s, "updated", e);
	else {
		_cleanup_json_ json_t *given = NULL;
		const char *body = json_is_true(json_object_get(P, "UsePreviousTemplate")) ? jstr(s, "_template") : body_of(P, e);
		_cleanup_free_ char *b = body ? strdup(body) : NULL;
		if (!b)
			r = -EINVAL;
		else if ((r = given_of(json_object_get(P, "Parameters"), s, &given, e)) < 0)
			;
		else if (unchanged(s, b, given))
			r = verr(e, "No updates are to be performed.");
		else {
			if (json_object_get(P, "DisableRollback"))
				json_object_set_new(s, "DisableRollback", json_boolean(json_is_true(json_object_get(P, "DisableRollback"))));
			json_t *keep = json_deep_copy(s);
			if ((r = begin(s, rq->region, b, given, "UPDATE_IN_PROGRESS", NULL, e)) < 0 && !json_object_get(s, "_running"))
				json_object_update(s, keep); /* nothing changes on a bad template */
			json_decref(keep);
			if (r == 0)
				*ret = json_pack("{s:s}", "StackId", jstr(s, "StackId"));
		}
	}
	pthread_mutex_unlock(&E->lock);
	return r;
}

int h_cfn_delete_stack(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *name = jstr(rq->params, "StackName");
	pthread_mutex_lock(&E->lock);
	json_t *s = stack_find(rq->region, name);
	int r = 0;
	if (!s || !strcmp(jstr(s, "StackStatus"), "DELETE_COMPLETE") || !strcmp(jstr(s, "StackStatus"), "DELETE_IN_PROGRESS")) {
		/* As CloudFormation: deleting a stack that is not there succeeds. */
	} else if ((in_progress(jstr(s, "StackStatus")) && strcmp(jstr(s, "StackStatus"), "REVIEW_IN_PROGRESS")) || json_object_get(s, "_running"))
		r = busy(s, "deleted", e);
	else {
		if (!strcmp(jstr(s, "StackStatus"), "REVIEW_IN_PROGRESS")) {
			json_object_set_new(s, "_resources", json_object());
		}
		json_object_set_new(s, "_op", json_object());
		stack_status(s, "DELETE_IN_PROGRESS", "User Initiated");
		if ((r = save(s, e)) == 0)
			r = op_start(s, e);
	}
	if (r == 0)
		*ret = json_object();
	pthread_mutex_unlock(&E->lock);
	return r;
}

static json_t *stack_public(json_t *s)
{
	json_t *o = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:[], s:b, s:{s:s}}", "StackId", json_object_get(s, "StackId"),
			      "StackName", json_object_get(s, "StackName"), "Parameters", json_object_get(s, "Parameters"),
			      "CreationTime", json_object_get(s, "CreationTime"), "StackStatus", json_object_get(s, "StackStatus"),
			      "DisableRollback", json_object_get(s, "DisableRollback"), "Outputs", json_object_get(s, "Outputs"),
			      "Tags", json_object_get(s, "Tags"), "NotificationARNs", "EnableTerminationProtection", 0,
			      "DriftInformation", "StackDriftStatus", "NOT_CHECKED");
	static const char *const opt[] = {"Description", "LastUpdatedTime", "DeletionTime", "StackStatusReason", "Capabilities", NULL};
	for (const char *const *k = opt; *k; k++)
		if (json_object_get(s, *k))
			json_object_set(o, *k, json_object_get(s, *k));
	return o;
}

int h_cfn_describe_stacks(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *name = jstr(rq->params, "StackName");
	json_t *l = json_array(), *o;
	const char *k;
	pthread_mutex_lock(&E->lock);
	if (*name) {
		json_t *s = stack_find(rq->region, name);
		if (s)
			json_array_append_new(l, stack_public(s));
	} else
		json_object_foreach(store_objects(E->store), k, o) if (!strcmp(jstr(o, "_type"), "cfn-stack") && !strcmp(jstr(o, "_region"), rq->region) && strcmp(jstr(o, "StackStatus"), "DELETE_COMPLETE")) json_array_append_new(l, stack_public(o));
	pthread_mutex_unlock(&E->lock);
	if (*name && !json_array_size(l)) {
		json_decref(l);
		return no_stack(e, name);
	}
	*ret = json_pack("{s:o}", "Stacks", l);
	return 0;
}

/* The stack a request names, as a deep copy. */
static int stack_copy(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *name = jstr(rq->params, "StackName");
	pthread_mutex_lock(&E->lock);
	json_t *s = stack_find(rq->region, name);
	*ret = s ? json_deep_copy(s) : NULL;
	pthread_mutex_unlock(&E->lock);
	return s ? 0 : no_stack(e, name);
}

int h_cfn_describe_stack_events(struct ereq *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *s = NULL;
	int r = stack_copy(rq, &s, e);
	if (r < 0)
		return r;
	json_t *evs = json_object_get(s, "_events"), *l = json_array();
	for (size_t i = json_array_size(evs); i-- > 0;)
		json_array_append(l, json_array_get(evs, i));
	*ret = json_pack("{s:o}", "StackEvents", l);
	return 0;
}

static json_t *resource_public(json_t *s, const char *id, json_t *r, bool detail)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s}}", "LogicalResourceId", id, "PhysicalResourceId",
			      jstr(r, "PhysicalResourceId"), "ResourceType", jstr(r, "ResourceType"), detail ? "LastUpdatedTimestamp" : "Timestamp",
			      jstr(r, "Timestamp"), "ResourceStatus", jstr(r, "ResourceStatus"), "DriftInformation",
			      "StackResourceDriftStatus", "NOT_CHECKED");
	if (*jstr(r, "ResourceStatusReason"))
		json_object_set_new(o, "ResourceStatusReason", json_string(jstr(r, "ResourceStatusReason")));
	if (s) {
		json_object_set_new(o, "StackName", json_string(jstr(s, "StackName")));
		json_object_set_new(o, "StackId", json_string(jstr(s, "StackId")));
	}
	return o;
}

int h_cfn_describe_stack_resources(struct ereq *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *s = NULL;
	const char *phys = jstr(rq->params, "PhysicalResourceId"), *lid = jstr(rq->params, "LogicalResourceId");
	int r;
	if (!*jstr(rq->params, "StackName") && *phys) {
		/* The stack that holds the physical resource. */
		const char *k;
		json_t *o, *x;
		pthread_mutex_lock(&E->lock);
		json_object_foreach(store_objects(E->store), k, o)
		{
			const char *id;
			if (strcmp(jstr(o, "_type"), "cfn-stack") || strcmp(jstr(o, "_region"), rq->region))
				continue;
			json_object_foreach(json_object_get(o, "_resources"), id, x) if (!strcmp(jstr(x, "PhysicalResourceId"), phys) && !s) s = json_deep_copy(o);
		}
		pthread_mutex_unlock(&E->lock);
		if (!s)
			return verr(e, "Stack for %s does not exist", phys);
	} else if ((r = stack_copy(rq, &s, e)) < 0)
		return r;
	json_t *l = json_array(), *x;
	const char *id;
	json_object_foreach(json_object_get(s, "_resources"), id, x) if ((!*lid || !strcmp(lid, id)) && (!*phys || !strcmp(phys, jstr(x, "PhysicalResourceId")))) json_array_append_new(l, resource_public(s, id, x, false));
	*ret = json_pack("{s:o}", "StackResources", l);
	return 0;
}

int h_cfn_describe_stack_resource(struct ereq *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *s = NULL;
	int r = stack_copy(rq, &s, e);
	if (r < 0)
		return r;
	const char *lid = jstr(rq->params, "LogicalResourceId");
	json_t *x = json_object_get(json_object_get(s, "_resources"), lid);
	if (!x)
		return verr(e, "Resource %s does not exist for stack %s", lid, jstr(s, "StackName"));
	json_t *d = resource_public(s, lid, x, true);
	json_object_set_new(d, "Metadata", json_string("{}"));
	*ret = json_pack("{s:o}", "StackResourceDetail", d);
	return 0;
}

int h_cfn_list_stacks(struct ereq *rq, json_t **ret, struct err *e)
{
	(void)e;
	json_t *want = json_object_get(rq->params, "StackStatusFilter"), *l = json_array(), *o, *x;
	const char *k;
	pthread_mutex_lock(&E->lock);
	json_object_foreach(store_objects(E->store), k, o)
	{
		if (strcmp(jstr(o, "_type"), "cfn-stack") || strcmp(jstr(o, "_region"), rq->region))
			continue;
		bool ok = !json_array_size(want);
		size_t i;
		json_array_foreach(want, i, x) if (!strcmp(json_string_value(x) ?: "", jstr(o, "StackStatus"))) ok = true;
		if (!ok)
			continue;
		json_t *sm = json_pack("{s:O, s:O, s:O, s:O, s:{s:s}}", "StackId", json_object_get(o, "StackId"), "StackName",
				       json_object_get(o, "StackName"), "CreationTime", json_object_get(o, "CreationTime"), "StackStatus",
				       json_object_get(o, "StackStatus"), "DriftInformation", "StackDriftStatus", "NOT_CHECKED");
		static const char *const opt[] = {"LastUpdatedTime", "DeletionTime", "StackStatusReason", NULL};
		for (const char *const *kk = opt; *kk; kk++)
			if (json_object_get(o, *kk))
				json_object_set(sm, *kk, json_object_get(o, *kk));
		if (json_object_get(o, "Description"))
			json_object_set(sm, "TemplateDescription", json_object_get(o, "Description"));
		json_array_append_new(l, sm);
	}
	pthread_mutex_unlock(&E->lock);
	*ret = json_pack("{s:o}", "StackSummaries", l);
	return 0;
}

int h_cfn_list_stack_resources(struct ereq *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *s = NULL;
	int r = stack_copy(rq, &s, e);
	if (r < 0)
		return r;
	json_t *l = json_array(), *x;
	const char *id;
	json_object_foreach(json_object_get(s, "_resources"), id, x) json_array_append_new(l, resource_public(NULL, id, x, true));
	*ret = json_pack("{s:o}", "StackResourceSummaries", l);
	return 0;
}

int h_cfn_get_template(struct ereq *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *s = NULL;
	const char *cs = jstr(rq->params, "ChangeSetName");
	int r = stack_copy(rq, &s, e);
	if (r < 0)
		return r;
	const char *body = jstr(s, "_template");
	if (*cs) {
		json_t *c = json_object_get(json_object_get(s, "_changesets"), cs);
		if (!c)
			return err_set(e, "ChangeSetNotFound", "ChangeSet [%s] does not exist", cs);
		body = jstr(c, "_template");
	}
	*ret = json_pack("{s:s, s:[s, s]}", "TemplateBody", body, "StagesAvailable", "Original", "Processed");
	return 0;
}

static json_t *declared_params(json_t *t, bool summary)
{
	json_t *l = json_array(), *p;
	const char *k;
	json_object_foreach(json_object_get(t, "Parameters"), k, p)
	{
		json_t *x = json_pack("{s:s, s:b}", "ParameterKey", k, "NoEcho",
				      json_is_true(json_object_get(p, "NoEcho")) || !strcasecmp(jstr(p, "NoEcho"), "true"));
		json_t *d = json_object_get(p, "Default");
		if (d)
			json_object_set_new(x, "DefaultValue", to_string(d));
		if (json_is_string(json_object_get(p, "Description")))
			json_object_set(x, "Description", json_object_get(p, "Description"));
		if (summary) {
			json_object_set(x, "ParameterType", json_object_get(p, "Type"));
			if (json_object_get(p, "AllowedValues")) {
				json_t *av = json_array(), *v;
				size_t i;
				json_array_foreach(json_object_get(p, "AllowedValues"), i, v) json_array_append_new(av, to_string(v));
				json_object_set_new(x, "ParameterConstraints", json_pack("{s:o}", "AllowedValues", av));
			}
		}
		json_array_append_new(l, x);
	}
	return l;
}

static int check_body(const char *region, const char *body, json_t **ret, struct err *e)
{
	int r = cfn_template_parse(body, strlen(body), ret, e);
	if (r == 0 && (r = cfn_template_check(*ret, e)) < 0) {
		json_decref(*ret);
		*ret = NULL;
	}
	(void)region;
	return r;
}

int h_cfn_validate_template(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *body = body_of(rq->params, e);
	_cleanup_json_ json_t *t = NULL;
	int r;
	if (!body)
		return -EINVAL;
	if ((r = check_body(rq->region, body, &t, e)) < 0)
		return r;
	*ret = json_pack("{s:o, s:[], s:[]}", "Parameters", declared_params(t, false), "Capabilities", "DeclaredTransforms");
	if (json_is_string(json_object_get(t, "Description")))
		json_object_set(*ret, "Description", json_object_get(t, "Description"));
	return 0;
}

int h_cfn_get_template_summary(struct ereq *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *s = NULL, *t = NULL;
	const char *body;
	int r;
	if (*jstr(rq->params, "StackName")) {
		if ((r = stack_copy(rq, &s, e)) < 0)
			return r;
		body = jstr(s, "_template");
	} else if (!(body = body_of(rq->params, e)))
		return -EINVAL;
	if ((r = check_body(rq->region, body, &t, e)) < 0)
		return r;
	json_t *types = json_array(), *x;
	const char *k;
	json_object_foreach(json_object_get(t, "Resources"), k, x)
	{
		bool seen = false;
		size_t i;
		json_t *y;
		json_array_foreach(types, i, y) if (!strcmp(json_string_value(y), jstr(x, "Type"))) seen = true;
		if (!seen)
			json_array_append_new(types, json_string(jstr(x, "Type")));
	}
	*ret = json_pack("{s:o, s:o, s:s, s:[], s:[]}", "Parameters", declared_params(t, true), "ResourceTypes", types, "Version",
			 "2010-09-09", "Capabilities", "DeclaredTransforms");
	if (json_is_string(json_object_get(t, "Description")))
		json_object_set(*ret, "Description", json_object_get(t, "Description"));
	return 0;
}

/* --- change sets --------------------------------------------------------------------------- */

/* What executing the template would do to the stack: CloudFormation's Changes. The
 * properties are compared as evaluated against the stack's resources now; one that cannot be
 * evaluated yet (it names a resource being added or replaced) is a Conditional change. */
static json_t *changes_of(json_t *s, json_t *t, json_t *vals, json_t *conds, json_t *azs)
{
	json_t *l = json_array(), *def, *r;
	const char *id;
	_cleanup_json_ json_t *made = made_of(s), *ex = exports_all(jstr(s, "_region"));
	struct cfn_ctx ctx = {.params = vals, .conditions = conds, .mappings = json_object_get(t, "Mappings"), .resources = made,
			      .azs = azs, .exports = ex, .template = t};
	json_t *res = json_object_get(s, "_resources");
	json_object_foreach(json_object_get(t, "Resources"), id, def)
	{
		const char *cn = jstr(def, "Condition");
		if (*cn && !json_is_true(json_object_get(conds, cn)))
			continue;
		r = json_object_get(res, id);
		const char *type = jstr(def, "Type");
		if (!r || strcmp(jstr(r, "ResourceType"), type)) {
			json_array_append_new(l, json_pack("{s:s, s:{s:s, s:s, s:s, s:[], s:[]}}", "Type", "Resource", "ResourceChange", "Action", "Add",
							   "LogicalResourceId", id, "ResourceType", type, "Scope", "Details"));
			continue;
		}
		json_t *props = NULL;
		struct err e = {0};
		const char *repl = NULL;
		if (cfn_eval(json_object_get(def, "Properties") ?: json_object(), &ctx, &props, &e) < 0)
			repl = "Conditional";
		else if (!json_equal(props ?: json_object(), json_object_get(r, "_props")))
			repl = in_place(type, json_object_get(r, "_props"), props) ? "False" : "True";
		json_decref(props);
		if (repl)
			json_array_append_new(l, json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:s, s:[s], s:[]}}", "Type", "Resource", "ResourceChange",
							   "Action", "Modify", "LogicalResourceId", id, "PhysicalResourceId",
							   jstr(r, "PhysicalResourceId"), "ResourceType", type, "Replacement", repl, "Scope",
							   "Properties", "Details"));
	}
	json_object_foreach(res, id, r)
	{
		json_t *d = json_object_get(json_object_get(t, "Resources"), id);
		const char *cn = jstr(d, "Condition");
		if (!d || (*cn && !json_is_true(json_object_get(conds, cn))))
			json_array_append_new(l, json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:[], s:[]}}", "Type", "Resource", "ResourceChange", "Action",
							   "Remove", "LogicalResourceId", id, "PhysicalResourceId", jstr(r, "PhysicalResourceId"),
							   "ResourceType", jstr(r, "ResourceType"), "Scope", "Details"));
	}
	return l;
}

static json_t *changeset_find(json_t *s, const char *name)
{
	const char *k;
	json_t *c;
	if (!s)
		return NULL;
	json_object_foreach(json_object_get(s, "_changesets"), k, c) if (!strcmp(k, name) || !strcmp(jstr(c, "ChangeSetId"), name)) return c;
	return NULL;
}

/* The stack of a change-set call: by StackName, or by the change set's ARN alone. */
static json_t *changeset_stack(const char *region, const char *stack, const char *cs)
{
	if (*stack)
		return stack_find(region, stack);
	const char *k;
	json_t *o;
	json_object_foreach(store_objects(E->store), k, o) if (!strcmp(jstr(o, "_type"), "cfn-stack") && changeset_find(o, cs)) return o;
	return NULL;
}

int h_cfn_create_change_set(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *P = rq->params;
	const char *name = jstr(P, "StackName"), *csname = jstr(P, "ChangeSetName"), *type = jstr(P, "ChangeSetType");
	int r;
	if (!*type)
		type = "UPDATE";
	if (!name_ok(name))
		return verr(e, "1 validation error detected: Value '%s' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*",
			    name);
	if (!name_ok(csname))
		return verr(e, "1 validation error detected: Value '%s' at 'changeSetName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*",
			    csname);
	if (strcmp(type, "CREATE") && strcmp(type, "UPDATE"))
		return verr(e, "ChangeSetType %s is not supported: CREATE or UPDATE", type);
	pthread_mutex_lock(&E->lock);
	json_t *s = stack_find(rq->region, name);
	_cleanup_json_ json_t *fresh = NULL, *given = NULL, *t = NULL, *vals = NULL, *conds = NULL, *azs = NULL;
	const char *body = NULL;
	_cleanup_free_ char *b = NULL;
	if (!strcmp(type, "CREATE")) {
		if (s && strcmp(jstr(s, "StackStatus"), "REVIEW_IN_PROGRESS")) {
			pthread_mutex_unlock(&E->lock);
			return err_set(e, "AlreadyExistsException", "Stack [%s] already exists and cannot be created again with the changeSet [%s].",
				       name, csname);
		}
		if (!s)
			s = fresh = stack_new(rq->region, name, P);
	} else if (!s) {
		pthread_mutex_unlock(&E->lock);
		return no_stack(e, name);
	} else if (!strcmp(jstr(s, "StackStatus"), "REVIEW_IN_PROGRESS")) {
		pthread_mutex_unlock(&E->lock);
		return verr(e, "Stack:%s is in REVIEW_IN_PROGRESS state and can not be updated.", jstr(s, "StackId"));
	}
	if (changeset_find(s, csname)) {
		pthread_mutex_unlock(&E->lock);
		return err_set(e, "AlreadyExistsException", "ChangeSet %s already exists", csname);
	}
	body = json_is_true(json_object_get(P, "UsePreviousTemplate")) ? jstr(s, "_template") : body_of(P, e);
	b = body ? strdup(body) : NULL;
	r = b ? given_of(json_object_get(P, "Parameters"), s, &given, e) : -EINVAL;
	_cleanup_json_ json_t *snap = r == 0 ? json_deep_copy(s) : NULL;
	pthread_mutex_unlock(&E->lock);
	if (r < 0)
		return r;
	r = prepare(rq->region, name, jstr(snap, "StackId"), b, given, &t, &vals, &conds, &azs, e);
	if (r < 0)
		return r;
	char id[37], arn[300], now[32];
	uuid(id);
	now_iso(now);
	snprintf(arn, sizeof(arn), "arn:aws:cloudformation:%s:%s:changeSet/%s/%s", rq->region, OWNER_ID, csname, id);
	json_t *changes = changes_of(snap, t, vals, conds, azs);
	bool none = !strcmp(type, "UPDATE") && unchanged(snap, b, given);
	json_t *cs = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:O, s:s}", "ChangeSetName", csname, "ChangeSetId", arn,
			       "StackId", jstr(snap, "StackId"), "StackName", name, "CreationTime", now, "ExecutionStatus",
			       none ? "UNAVAILABLE" : "AVAILABLE", "Status", none ? "FAILED" : "CREATE_COMPLETE", "Changes", changes,
			       "Parameters", public_params(t, vals), "_template", b, "_given", given, "_type", type);
	if (none)
		json_object_set_new(cs, "StatusReason", json_string("The submitted information didn't contain changes. Submit different information to create a change set."));
	if (*jstr(P, "Description"))
		json_object_set_new(cs, "Description", json_string(jstr(P, "Description")));
	if (json_object_get(P, "Capabilities"))
		json_object_set(cs, "Capabilities", json_object_get(P, "Capabilities"));
	pthread_mutex_lock(&E->lock);
	s = fresh ? (stack_find(rq->region, name) ? NULL : fresh) : stack_find(rq->region, name);
	if (!s || strcmp(jstr(s, "StackId"), jstr(snap, "StackId")))
		r = err_set(e, "AlreadyExistsException", "Stack [%s] changed while the change set was made", name);
	else {
		if (fresh)
			stack_status(s, "REVIEW_IN_PROGRESS", "User Initiated");
		json_object_set_new(json_object_get(s, "_changesets"), csname, cs);
		cs = NULL;
		if ((r = save(s, e)) == 0)
			*ret = json_pack("{s:s, s:s}", "Id", arn, "StackId", jstr(s, "StackId"));
	}
	pthread_mutex_unlock(&E->lock);
	json_decref(cs);
	return r;
}

static json_t *changeset_public(json_t *c, bool full)
{
	json_t *o = json_deep_copy(c);
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(o, tmp, k, v) if (k[0] == '_') json_object_del(o, k);
	if (!full) {
		json_object_del(o, "Changes");
		json_object_del(o, "Parameters");
		json_object_del(o, "Capabilities");
	} else {
		json_object_set_new(o, "NotificationARNs", json_array());
		json_object_set_new(o, "RollbackConfiguration", json_object());
		json_object_set_new(o, "IncludeNestedStacks", json_false());
	}
	return o;
}

static int changeset_of(struct ereq *rq, json_t **ret_stack, json_t **ret_cs, struct err *e)
{
	const char *cs = jstr(rq->params, "ChangeSetName"), *st = jstr(rq->params, "StackName");
	json_t *s = changeset_stack(rq->region, st, cs);
	json_t *c = changeset_find(s, cs);
	if (!c)
		return err_set(e, "ChangeSetNotFound", "ChangeSet [%s] does not exist", cs);
	*ret_stack = s, *ret_cs = c;
	return 0;
}

int h_cfn_describe_change_set(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *s, *c;
	pthread_mutex_lock(&E->lock);
	int r = changeset_of(rq, &s, &c, e);
	if (r == 0)
		*ret = changeset_public(c, true);
	pthread_mutex_unlock(&E->lock);
	return r;
}

int h_cfn_list_change_sets(struct ereq *rq, json_t **ret, struct err *e)
{
	pthread_mutex_lock(&E->lock);
	json_t *s = stack_find(rq->region, jstr(rq->params, "StackName")), *c;
	const char *k;
	if (!s) {
		pthread_mutex_unlock(&E->lock);
		return no_stack(e, jstr(rq->params, "StackName"));
	}
	json_t *l = json_array();
	json_object_foreach(json_object_get(s, "_changesets"), k, c) json_array_append_new(l, changeset_public(c, false));
	pthread_mutex_unlock(&E->lock);
	*ret = json_pack("{s:o}", "Summaries", l);
	return 0;
}

int h_cfn_delete_change_set(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *s, *c;
	pthread_mutex_lock(&E->lock);
	int r = changeset_of(rq, &s, &c, e);
	if (r == 0 && !strcmp(jstr(c, "ExecutionStatus"), "EXECUTE_IN_PROGRESS"))
		r = err_set(e, "InvalidChangeSetStatus", "Cannot delete ChangeSet in status EXECUTE_IN_PROGRESS");
	if (r == 0) {
		json_object_del(json_object_get(s, "_changesets"), jstr(c, "ChangeSetName"));
		/* A stack that only ever had this change set goes with it. */
		if (!strcmp(jstr(s, "StackStatus"), "REVIEW_IN_PROGRESS") && !json_object_size(json_object_get(s, "_changesets"))) {
			_cleanup_json_ json_t *ch = json_pack("{s:n}", jstr(s, "_key"));
			r = state_commit(ch, e);
		} else
			r = save(s, e);
	}
	if (r == 0)
		*ret = json_object();
	pthread_mutex_unlock(&E->lock);
	return r;
}

/* How long ExecuteChangeSet waits for its operation before answering, so that a waiter's
 * first DescribeStacks (aws cloudformation deploy polls every 30 s) already sees it done. */
#define EXECUTE_WAIT_S 25

int h_cfn_execute_change_set(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *s, *c;
	pthread_mutex_lock(&E->lock);
	int r = changeset_of(rq, &s, &c, e);
	const char *st = r == 0 ? jstr(s, "StackStatus") : "";
	if (r == 0 && strcmp(jstr(c, "ExecutionStatus"), "AVAILABLE"))
		r = err_set(e, "InvalidChangeSetStatus", "ChangeSet [%s] cannot be executed in its current status of [%s]",
			    jstr(c, "ChangeSetId"), jstr(c, "ExecutionStatus"));
	else if (r == 0 && ((!settled(st) && strcmp(st, "REVIEW_IN_PROGRESS")) || json_object_get(s, "_running")))
		r = busy(s, "updated", e);
	json_t *held = NULL;
	if (r == 0) {
		bool create = !strcmp(st, "REVIEW_IN_PROGRESS");
		_cleanup_free_ char *b = strdup(jstr(c, "_template"));
		_cleanup_json_ json_t *given = json_incref(json_object_get(c, "_given"));
		if (json_object_get(rq->params, "DisableRollback"))
			json_object_set_new(s, "DisableRollback", json_boolean(json_is_true(json_object_get(rq->params, "DisableRollback"))));
		json_object_set_new(c, "ExecutionStatus", json_string("EXECUTE_COMPLETE"));
		/* Every other change set of the stack is now out of date. */
		const char *k;
		json_t *o;
		json_object_foreach(json_object_get(s, "_changesets"), k, o) if (o != c) json_object_set_new(o, "ExecutionStatus", json_string("OBSOLETE"));
		pthread_mutex_unlock(&E->lock);
		/* The template is checked again: the lab (its zones) may have changed since. */
		pthread_mutex_lock(&E->lock);
		r = begin(s, rq->region, b, given, create ? "CREATE_IN_PROGRESS" : "UPDATE_IN_PROGRESS", NULL, e);
		json_object_del(json_object_get(s, "_changesets"), jstr(c, "ChangeSetName"));
		if (r == 0)
			save_or_log(s), held = json_incref(s);
	}
	pthread_mutex_unlock(&E->lock);
	if (r == 0) {
		for (int i = 0; i < EXECUTE_WAIT_S * 10; i++) {
			pthread_mutex_lock(&E->lock);
			bool running = json_object_get(held, "_running") != NULL;
			pthread_mutex_unlock(&E->lock);
			if (!running)
				break;
			nanosleep(&(struct timespec){0, 100000000}, NULL);
		}
		*ret = json_object();
	}
	json_decref(held);
	return r;
}

int h_cfn_list_exports(struct ereq *rq, json_t **ret, struct err *e)
{
	(void)e;
	json_t *l = json_array(), *o, *x;
	const char *k;
	size_t i;
	pthread_mutex_lock(&E->lock);
	json_object_foreach(store_objects(E->store), k, o)
	{
		if (strcmp(jstr(o, "_type"), "cfn-stack") || strcmp(jstr(o, "_region"), rq->region) ||
		    !strcmp(jstr(o, "StackStatus"), "DELETE_COMPLETE"))
			continue;
		json_array_foreach(json_object_get(o, "Outputs"), i, x) if (*jstr(x, "ExportName")) json_array_append_new(l, json_pack("{s:s, s:s, s:s}", "ExportingStackId", jstr(o, "StackId"), "Name", jstr(x, "ExportName"), "Value", jstr(x, "OutputValue")));
	}
	pthread_mutex_unlock(&E->lock);
	*ret = json_pack("{s:o}", "Exports", l);
	return 0;
}

/* --- the CLI ------------------------------------------------------------------------------- */

static int read_file(const char *path, char **ret, struct err *e)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return err_set(e, "Usage", "cannot read the template '%s': %m", path);
	char *buf = malloc(CFN_FILE_MAX + 2);
	size_t n = buf ? fread(buf, 1, CFN_FILE_MAX + 1, f) : 0;
	fclose(f);
	if (!buf)
		return err_set(e, "Usage", "out of memory");
	if (n > CFN_FILE_MAX) {
		free(buf);
		return verr(e, "Template '%s' is larger than %d bytes", path, CFN_FILE_MAX);
	}
	buf[n] = 0;
	*ret = buf;
	return 0;
}

/* --template-body file://F as the aws CLI reads it; --parameters ParameterKey=..,... is
 * the shorthand cli_parse already turns into structures. */
int cfn_prep(json_t *params, struct err *e)
{
	const char *b = jstr(params, "TemplateBody");
	if (!strncmp(b, "file://", 7)) {
		char *text = NULL;
		int r = read_file(b + 7, &text, e);
		if (r < 0)
			return r;
		json_object_set_new(params, "TemplateBody", json_string(text));
		free(text);
		if (!json_object_get(params, "TemplateBody"))
			return verr(e, "Template format error: the template is not UTF-8");
	}
	return 0;
}

static int ccall(const char *sock, const char *region, const char *action, json_t *params, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *req = json_pack("{s:s, s:s, s:o}", "Action", action, "Region", region, "Params", params);
	json_t *res = NULL;
	int r = rpc_call_stream(sock, req, NULL, NULL, &res, e);
	if (r < 0 && !err_isset(e))
		err_set(e, "ServiceUnavailable", "ec2d does not answer at '%s'", sock);
	if (r == 0 && ret)
		*ret = res;
	else
		json_decref(res);
	return r;
}

static void print_event(json_t *ev)
{
	const char *t = jstr(ev, "Timestamp");
	printf("%-24s %-45s %-38s %-28s %s\n", t, jstr(ev, "ResourceStatus"), jstr(ev, "ResourceType"), jstr(ev, "LogicalResourceId"),
	       jstr(ev, "ResourceStatusReason"));
	fflush(stdout);
}

/* `ec2d deploy --template-file F --stack-name S [--parameter-overrides K=V ...]
 * [--disable-rollback]`: creates or updates the stack, prints its events as they come, and
 * exits 0 once it is CREATE_COMPLETE or UPDATE_COMPLETE (or there was nothing to change). */
int cmd_cfn_deploy(int argc, char **argv)
{
	static const struct verb v = {"deploy", "template-file! stack-name! parameter-overrides:l disable-rollback:b no-fail-on-empty-changeset:b"};
	struct cli_global g = {0};
	struct err e = {0};
	_cleanup_json_ json_t *params = NULL;
	if (cli_parse(&v, argc - 1, argv + 1, &g, &params, &e) < 0)
		return cli_error("Deploy", &e);
	if (g.help) {
		printf("usage: ec2d deploy --template-file F --stack-name S [--parameter-overrides K=V ...] [--disable-rollback]\n"
		       "Creates the stack S from the template F (YAML or JSON), or updates it, printing its events as\n"
		       "they happen; exits 0 once it is complete (or had nothing to change), non-zero on a failure.\n"
		       "docs/cloudformation.md lists the resource types and functions templates may use.\n");
		return 0;
	}
	char sock[512];
	cli_sock_path(&g, "ec2d.sock", sock, sizeof(sock));
	const char *region = g.region ?: getenv("AWS_DEFAULT_REGION") ?: getenv("AWS_REGION") ?: "us-east-1";
	const char *name = jstr(params, "StackName");
	_cleanup_free_ char *body = NULL;
	if (read_file(jstr(params, "TemplateFile"), &body, &e) < 0)
		return cli_error("Deploy", &e);
	json_t *plist = json_array(), *x;
	size_t i;
	json_array_foreach(json_object_get(params, "ParameterOverrides"), i, x)
	{
		const char *kv = json_string_value(x), *eq = kv ? strchr(kv, '=') : NULL;
		if (!eq) {
			json_decref(plist);
			err_set(&e, "Usage", "--parameter-overrides takes KEY=VALUE, not '%s'", kv ? kv : "");
			return cli_error("Deploy", &e);
		}
		json_array_append_new(plist, json_pack("{s:s#, s:s}", "ParameterKey", kv, (int)(eq - kv), "ParameterValue", eq + 1));
	}
	bool dr = json_is_true(json_object_get(params, "DisableRollback"));
	/* Existing: an update; the parameters not given keep their values. */
	json_t *res = NULL;
	bool exists = ccall(sock, region, "DescribeStacks", json_pack("{s:s}", "StackName", name), &res, &e) == 0;
	if (!exists && strcmp(e.code, "ValidationError")) {
		json_decref(plist);
		return cli_error("DescribeStacks", &e);
	}
	const char *st0 = exists ? jstr(json_array_get(json_object_get(res, "Stacks"), 0), "StackStatus") : "";
	if (exists && !strcmp(st0, "ROLLBACK_COMPLETE")) {
		/* As aws cloudformation deploy: a stack that never came up cannot be updated. */
		json_decref(res);
		json_decref(plist);
		err_set(&e, "ValidationError", "Stack:%s is in ROLLBACK_COMPLETE state and can not be updated. Delete it first.", name);
		return cli_error("Deploy", &e);
	}
	if (exists && !strcmp(st0, "REVIEW_IN_PROGRESS"))
		exists = false;
	json_decref(res);
	err_clear(&e);
	size_t seen = 0;
	res = NULL;
	if (exists && ccall(sock, region, "DescribeStackEvents", json_pack("{s:s}", "StackName", name), &res, &e) == 0)
		seen = json_array_size(json_object_get(res, "StackEvents"));
	json_decref(res);
	res = NULL;
	json_t *p = json_pack("{s:s, s:s, s:o, s:b}", "StackName", name, "TemplateBody", body, "Parameters", plist, "DisableRollback", dr);
	int r = ccall(sock, region, exists ? "UpdateStack" : "CreateStack", p, &res, &e);
	if (r < 0) {
		if (exists && strstr(e.msg, "No updates are to be performed")) {
			printf("No changes to deploy. Stack %s is up to date\n", name);
			return 0;
		}
		return cli_error(exists ? "UpdateStack" : "CreateStack", &e);
	}
	_cleanup_free_ char *sid = strdup(jstr(res, "StackId"));
	json_decref(res);
	printf("Waiting for stack create/update to complete\n");
	fflush(stdout);
	for (;;) {
		res = NULL;
		if (ccall(sock, region, "DescribeStackEvents", json_pack("{s:s}", "StackName", sid), &res, &e) < 0)
			return cli_error("DescribeStackEvents", &e);
		json_t *evs = json_object_get(res, "StackEvents");
		size_t n = json_array_size(evs);
		for (size_t k = n > seen ? n - seen : 0; k-- > 0;)
			print_event(json_array_get(evs, k));
		seen = n > seen ? n : seen;
		json_decref(res);
		res = NULL;
		if (ccall(sock, region, "DescribeStacks", json_pack("{s:s}", "StackName", sid), &res, &e) < 0)
			return cli_error("DescribeStacks", &e);
		json_t *s = json_array_get(json_object_get(res, "Stacks"), 0);
		char st[64];
		snprintf(st, sizeof(st), "%s", jstr(s, "StackStatus"));
		bool done = !in_progress(st);
		if (done) {
			/* The events written with the last status. */
			json_t *more = NULL;
			if (ccall(sock, region, "DescribeStackEvents", json_pack("{s:s}", "StackName", sid), &more, &e) == 0) {
				json_t *ev2 = json_object_get(more, "StackEvents");
				size_t n2 = json_array_size(ev2);
				for (size_t k = n2 > seen ? n2 - seen : 0; k-- > 0;)
					print_event(json_array_get(ev2, k));
			}
			json_decref(more);
			int rc = 0;
			if (!strcmp(st, "CREATE_COMPLETE") || !strcmp(st, "UPDATE_COMPLETE")) {
				printf("Successfully created/updated stack - %s\n", name);
				json_t *o;
				json_array_foreach(json_object_get(s, "Outputs"), i, o) printf("Output %s = %s\n", jstr(o, "OutputKey"), jstr(o, "OutputValue"));
			} else {
				fprintf(stderr, "Failed to create/update the stack %s: it is %s%s%s\n", name, st,
					*jstr(s, "StackStatusReason") ? ": " : "", jstr(s, "StackStatusReason"));
				rc = EXIT_API_ERROR;
			}
			json_decref(res);
			return rc;
		}
		json_decref(res);
		nanosleep(&(struct timespec){0, 250000000}, NULL);
	}
}
