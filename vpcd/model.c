#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "cleanup.h"
#include "vpcd.h"


json_t *obj_get(const char *id) { return id ? json_object_get(store_objects(V->store), id) : NULL; }

json_t *obj_get_type(const char *id, const char *type)
{
	json_t *o = obj_get(id);
	return o && strcmp(jstr(o, "_type"), type) == 0 ? o : NULL;
}

/* The address index: which object holds each address, by scope (a subnet's private
 * addresses, a region's public ones), so that checking and picking an address costs the same
 * in an empty lab as in a full one. An object's addresses can change in place (an ENI's
 * public address), so the index follows an object whenever it is refreshed: for every object
 * a request touched, before each pick and at commit and rollback. Keys are "scope address". */
#define ADDR_KEY 96

/* Every index of the model, for making and freeing them together. */
#define MODEL_INDEXES {&V->by_vpc, &V->by_type, &V->tails, &V->addr_owner, &V->addr_held, &V->addr_hint}

static void indexes_ready(void)
{
	json_t **ix[] = MODEL_INDEXES;
	for (size_t i = 0; i < ARRAY_SIZE(ix); i++)
		if (!*ix[i])
			*ix[i] = json_object();
}

static int addr_keys(json_t *o, char keys[2][ADDR_KEY])
{
	const char *type = jstr(o, "_type");
	int n = 0;
	if (!strcmp(type, "eni")) {
		json_t *as = json_object_get(o, "Association");
		if (*jstr(o, "PrivateIpAddress"))
			snprintf(keys[n++], ADDR_KEY, "%s %s", jstr(o, "SubnetId"), jstr(o, "PrivateIpAddress"));
		/* An elastic IP's address is held by the address itself. */
		if (*jstr(as, "PublicIp") && !*jstr(as, "AllocationId"))
			snprintf(keys[n++], ADDR_KEY, "region:%s %s", jstr(o, "_region"), jstr(as, "PublicIp"));
	} else if (!strcmp(type, "eip") && *jstr(o, "PublicIp")) {
		snprintf(keys[n++], ADDR_KEY, "region:%s %s", jstr(o, "_region"), jstr(o, "PublicIp"));
	}
	return n;
}

/* A freed address: the scope's lowest free address may now be lower. */
static void addr_freed(const char *key)
{
	char scope[ADDR_KEY];
	uint32_t ip;
	const char *sp = strchr(key, ' ');
	if (!sp || ip_parse(sp + 1, &ip) < 0)
		return;
	snprintf(scope, sizeof(scope), "%.*s", (int)(sp - key), key);
	json_t *hint = json_object_get(V->addr_hint, scope);
	if (hint && (uint32_t)json_integer_value(hint) > ip)
		json_object_set_new(V->addr_hint, scope, json_integer(ip));
}

static void addr_refresh(const char *id)
{
	char keys[2][ADDR_KEY];
	indexes_ready();
	int n = addr_keys(obj_get(id), keys);
	json_t *held = json_object_get(V->addr_held, id), *v;
	const char *k;
	void *tmp;
	json_object_foreach_safe(held, tmp, k, v)
	{
		bool keep = false;
		for (int i = 0; i < n && !keep; i++)
			keep = !strcmp(keys[i], k);
		if (keep)
			continue;
		if (!strcmp(jstr(V->addr_owner, k), id)) {
			json_object_del(V->addr_owner, k);
			addr_freed(k);
		}
		json_object_del(held, k);
	}
	for (int i = 0; i < n; i++) {
		if (!held) {
			held = json_object();
			json_object_set_new(V->addr_held, id, held);
		}
		json_object_set_new(held, keys[i], json_true());
		json_object_set_new(V->addr_owner, keys[i], json_string(id));
	}
	if (held && json_object_size(held) == 0)
		json_object_del(V->addr_held, id);
}

static void addr_refresh_txn(struct txn *t)
{
	const char *id;
	json_t *v;
	json_object_foreach(t->undo, id, v) addr_refresh(id);
}

bool addr_in_use(struct txn *t, const char *scope, uint32_t ip)
{
	char key[ADDR_KEY], a[IP_STRLEN];
	addr_refresh_txn(t);
	ip_format(ip, a);
	snprintf(key, sizeof(key), "%s %s", scope, a);
	return json_object_get(V->addr_owner, key) != NULL;
}

int addr_pick(struct txn *t, const char *scope, uint32_t lo, uint32_t hi, uint32_t *ret)
{
	char key[ADDR_KEY], a[IP_STRLEN];
	addr_refresh_txn(t);
	json_t *hint = json_object_get(V->addr_hint, scope);
	uint64_t c = hint && (uint32_t)json_integer_value(hint) > lo ? (uint32_t)json_integer_value(hint) : lo;
	for (; c <= hi; c++) {
		ip_format((uint32_t)c, a);
		snprintf(key, sizeof(key), "%s %s", scope, a);
		if (!json_object_get(V->addr_owner, key))
			break;
	}
	/* Every address below c is held (this request's picks included: a rollback frees
	 * them, and lowers the hint again). */
	json_object_set_new(V->addr_hint, scope, json_integer(c));
	if (c > hi)
		return -ENOSPC;
	*ret = (uint32_t)c;
	return 0;
}

static json_t *set_in(json_t *parent, const char *key)
{
	json_t *set = json_object_get(parent, key);
	if (!set) {
		set = json_object();
		json_object_set_new(parent, key, set);
	}
	return set;
}

/* Keeps the indexes in step with a change of object `id` from `old` to `new` (either NULL). */
static void index_update(const char *id, json_t *old, json_t *new)
{
	const char *ov = jstr(old, "VpcId"), *nv = jstr(new, "VpcId");
	const char *ot = jstr(old, "_type"), *nt = jstr(new, "_type");
	indexes_ready();
	if (*ov && (strcmp(ov, nv) != 0 || strcmp(ot, nt) != 0))
		json_object_del(json_object_get(json_object_get(V->by_vpc, ov), ot), id);
	if (*nv)
		json_object_set_new(set_in(set_in(V->by_vpc, nv), nt), id, json_true());
	if (*ot && strcmp(ot, nt) != 0)
		json_object_del(json_object_get(V->by_type, ot), id);
	if (*nt)
		json_object_set_new(set_in(V->by_type, nt), id, json_true());
	if (!new)
		json_object_del(V->tails, id_tail(id));
	else
		json_object_set_new(V->tails, id_tail(id), json_true());
}

void model_index_free(void)
{
	json_t **ix[] = MODEL_INDEXES;
	for (size_t i = 0; i < ARRAY_SIZE(ix); i++) {
		json_decref(*ix[i]);
		*ix[i] = NULL;
	}
}

void model_index_all(void)
{
	const char *id;
	json_t *o;
	model_index_free();
	indexes_ready();
	json_object_foreach(store_objects(V->store), id, o)
	{
		index_update(id, NULL, o);
		addr_refresh(id);
	}
}

static void txn_remember(struct txn *t, const char *id)
{
	if (!t->undo)
		t->undo = json_object();
	if (json_object_get(t->undo, id))
		return;
	json_t *cur = obj_get(id);
	json_object_set_new(t->undo, id, cur ? json_deep_copy(cur) : json_null());
}

json_t *obj_edit(struct txn *t, const char *id)
{
	if (!obj_get(id))
		return NULL;
	txn_remember(t, id);
	return obj_get(id);
}

void obj_put(struct txn *t, const char *id, json_t *obj)
{
	txn_remember(t, id);
	index_update(id, obj_get(id), obj);
	json_object_set_new(store_objects(V->store), id, obj);
}

void obj_del(struct txn *t, const char *id)
{
	txn_remember(t, id);
	index_update(id, obj_get(id), NULL);
	json_object_del(store_objects(V->store), id);
}

void txn_touch_vpc(struct txn *t, const char *vpc_id)
{
	if (!t->dirty_vpcs)
		t->dirty_vpcs = json_object();
	json_object_set_new(t->dirty_vpcs, vpc_id, json_true());
}

void txn_touch_region(struct txn *t, const char *region)
{
	if (!t->dirty_regions)
		t->dirty_regions = json_object();
	json_object_set_new(t->dirty_regions, region, json_true());
}

void new_id(struct txn *t, const char *kind, char buf[static ID_MAX])
{
	if (!t->ids_used) {
		t->ids_used = true;
		t->ids_before = V->ids.state;
	}
	for (;;) {
		id_make(&V->ids, kind, buf);
		/* Kernel names use the last 8 hex digits: keep them unique across all objects. The
		 * tail is reserved at once, so that two IDs of one request differ too. */
		if (!json_object_get(V->tails, id_tail(buf))) {
			json_object_set_new(V->tails, id_tail(buf), json_true());
			return;
		}
	}
}

static void meta_ids(json_t *meta)
{
	char hex[32];
	snprintf(hex, sizeof(hex), "%016" PRIx64, V->ids.state);
	json_object_set_new(meta, "ids", json_string(hex));
}

int txn_commit(struct txn *t, struct err *e)
{
	_cleanup_json_ json_t *changes = json_object(), *meta = json_object();
	const char *id;
	json_t *v;
	int r;

	json_object_foreach(t->undo, id, v)
	{
		json_t *cur = obj_get(id);
		json_object_set(changes, id, cur ? cur : json_null());
	}
	meta_ids(meta);
	if (json_object_size(changes) == 0 && !t->ids_used)
		goto done;
	/* store_commit applies the changes to the live view, which already holds them. */
	r = store_commit(V->store, changes, meta, e);
	if (r < 0)
		return r;
done:
	addr_refresh_txn(t);
	json_decref(t->undo);
	json_decref(t->dirty_vpcs);
	json_decref(t->dirty_regions);
	t->undo = t->dirty_vpcs = t->dirty_regions = NULL;
	return 0;
}

void txn_rollback(struct txn *t)
{
	const char *id;
	json_t *v;
	json_object_foreach(t->undo, id, v)
	{
		index_update(id, obj_get(id), json_is_null(v) ? NULL : v);
		if (json_is_null(v))
			json_object_del(store_objects(V->store), id);
		else
			json_object_set(store_objects(V->store), id, v);
	}
	addr_refresh_txn(t);
	if (t->ids_used)
		V->ids.state = t->ids_before;
	json_decref(t->undo);
	t->undo = NULL;
	t->ids_used = false;
}

json_t *obj_public(json_t *o)
{
	json_t *p = json_object();
	const char *k, *type = jstr(o, "_type");
	json_t *v;
	/* EC2 sends an empty tag set for these (clients index Tags without looking), and none
	 * for the others. */
	bool empty_tags = !strcmp(type, "rtb") || !strcmp(type, "acl") || !strcmp(type, "igw");
	json_object_foreach(o, k, v)
	{
		if (k[0] == '_')
			continue;
		if ((strcmp(k, "Tags") == 0 || strcmp(k, "TagSet") == 0) && json_array_size(v) == 0 && !empty_tags)
			continue;
		/* Shared, not copied (most of a describe's time went to copying): callers replace
		 * members, never change them in place. */
		json_object_set(p, k, v);
	}
	return p;
}

/* Every kind of object: its ID prefix, its type in the model, its resource type for tags, and
 * how EC2 says it does not exist. */
static const struct kind kinds[] = {
	{"vpc-", "vpc", "vpc", "InvalidVpcID.NotFound", "vpc ID"},
	{"subnet-", "subnet", "subnet", "InvalidSubnetID.NotFound", "subnet ID"},
	{"rtb-", "rtb", "route-table", "InvalidRouteTableID.NotFound", "routeTable ID"},
	{"eni-", "eni", "network-interface", "InvalidNetworkInterfaceID.NotFound", "networkInterface ID"},
	{"igw-", "igw", "internet-gateway", "InvalidInternetGatewayID.NotFound", "internetGateway ID"},
	{"eigw-", "eigw", "egress-only-internet-gateway", "InvalidEgressOnlyInternetGatewayId.NotFound",
	 "egress-only internet gateway ID"},
	{"eipalloc-", "eip", "elastic-ip", "InvalidAllocationID.NotFound", "allocation ID"},
	{"nat-", "nat", "natgateway", "NatGatewayNotFound", "nat gateway ID"},
	{"pcx-", "pcx", "vpc-peering-connection", "InvalidVpcPeeringConnectionID.NotFound",
	 "vpcPeeringConnection ID"},
	{"sg-", "sg", "security-group", "InvalidGroup.NotFound", "security group"},
	{"acl-", "acl", "network-acl", "InvalidNetworkAclID.NotFound", "network ACL"},
	{"i-", "instance", "instance", "InvalidInstanceID.NotFound", "instance ID"},
	{"dopt-", "dopt", "dhcp-options", "InvalidDhcpOptionID.NotFound", "dhcp options ID"},
	{"fl-", "flowlog", "vpc-flow-log", "InvalidFlowLogId.NotFound", "flow log ID"},
	{"nip-", "insightspath", "network-insights-path", "InvalidNetworkInsightsPathId.NotFound",
	 "network insights path ID"},
	{"nia-", "insightsanalysis", "network-insights-analysis",
	 "InvalidNetworkInsightsAnalysisId.NotFound", "network insights analysis ID"},
};

const struct kind *kind_of_id(const char *id)
{
	for (size_t i = 0; id && i < ARRAY_SIZE(kinds); i++)
		if (!strncmp(id, kinds[i].prefix, strlen(kinds[i].prefix)))
			return &kinds[i];
	return NULL;
}

const struct kind *kind_of_type(const char *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (!strcmp(type, kinds[i].type))
			return &kinds[i];
	return NULL;
}

int kind_notfound(const struct kind *k, const char *id, struct err *e)
{
	return err_set(e, k->notfound, "The %s '%s' does not exist", k->noun, id ? id : "");
}

json_t *obj_find(struct req *rq, const char *id, const char *type, struct err *e)
{
	json_t *o = obj_get_type(id, type);
	/* An object belongs to its region; a peering also to its accepter's. */
	if (o && (!strcmp(jstr(o, "_region"), rq->region) || !strcmp(jstr(o, "_peer_region"), rq->region)))
		return o;
	if (e)
		kind_notfound(kind_of_type(type), id, e);
	return NULL;
}

json_t *param_obj(struct req *rq, const char *name, const char *type, struct err *e)
{
	const char *id;
	if (param_str(rq, name, true, &id, e) < 0)
		return NULL;
	return obj_find(rq, id, type, e);
}
