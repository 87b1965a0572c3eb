/* Network ACLs: the model and the EC2 verbs. Enforcement is in firewall.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "vpcd.h"

#define ACL_LAST_RULE 32767 /* the "*" rule that denies what nothing else matched */

static const struct filter_map acl_filters[] = {
	{"network-acl-id", "NetworkAclId"},
	{"vpc-id", "VpcId"},
	{"default", "IsDefault"},
	{"owner-id", "OwnerId"},
	{"association.association-id", "Associations.NetworkAclAssociationId"},
	{"association.network-acl-id", "Associations.NetworkAclId"},
	{"association.subnet-id", "Associations.SubnetId"},
	{"entry.cidr", "Entries.CidrBlock"},
	{"entry.egress", "Entries.Egress"},
	{"entry.protocol", "Entries.Protocol"},
	{"entry.rule-action", "Entries.RuleAction"},
	{"entry.rule-number", "Entries.RuleNumber"},
	{"entry.port-range.from", "Entries.PortRange.From"},
	{"entry.port-range.to", "Entries.PortRange.To"},
	{"entry.icmp.type", "Entries.IcmpTypeCode.Type"},
	{"entry.icmp.code", "Entries.IcmpTypeCode.Code"},
	{NULL, NULL}};

static json_t *entry_pack(int number, const char *proto, const char *action, bool egress,
			  const char *cidr)
{
	return json_pack("{s:s, s:b, s:s, s:s, s:i}", "CidrBlock", cidr, "Egress", egress, "Protocol",
			 proto, "RuleAction", action, "RuleNumber", number);
}

static json_t *acl_new(struct txn *t, const char *region, const char *vpc_id, bool is_default,
		       json_t *tags, char id[static ID_MAX])
{
	new_id(t, "acl", id);
	json_t *acl = json_pack("{s:s, s:s, s:[], s:[], s:b, s:s, s:o, s:s, s:s}", "_type", "acl",
				"_region", region, "Associations", "Entries", "IsDefault", is_default,
				"NetworkAclId", id, "Tags", tags ? json_incref(tags) : json_array(),
				"VpcId", vpc_id, "OwnerId", OWNER_ID);
	json_t *entries = json_object_get(acl, "Entries");
	for (int egress = 1; egress >= 0; egress--) {
		if (is_default)
			json_array_append_new(entries, entry_pack(100, "-1", "allow", egress, "0.0.0.0/0"));
		json_array_append_new(entries, entry_pack(ACL_LAST_RULE, "-1", "deny", egress, "0.0.0.0/0"));
	}
	if (is_default)
		json_object_set_new(acl, "_owned_by_vpc", json_true());
	obj_put(t, id, acl);
	return acl;
}

void acl_create_default(struct txn *t, const char *region, const char *vpc_id)
{
	char id[ID_MAX];
	acl_new(t, region, vpc_id, true, NULL, id);
}

json_t *vpc_default_acl(const char *vpc_id)
{
	const char *id;
	json_t *o;
	obj_foreach_vpc("acl", vpc_id, id, o) if (!strcmp(jstr(o, "VpcId"), vpc_id) &&
					    json_is_true(json_object_get(o, "IsDefault"))) return o;
	return NULL;
}

json_t *subnet_acl(const char *subnet_id)
{
	const char *id;
	json_t *o;
	obj_foreach_vpc("acl", jstr(obj_get(subnet_id), "VpcId"), id, o)
	{
		size_t i;
		json_t *a;
		json_array_foreach(json_object_get(o, "Associations"), i, a) if (
			!strcmp(jstr(a, "SubnetId"), subnet_id)) return o;
	}
	return NULL;
}

void acl_associate_default(struct txn *t, const char *vpc_id, const char *subnet_id)
{
	char assoc[ID_MAX];
	json_t *acl = vpc_default_acl(vpc_id);
	if (!acl)
		return;
	new_id(t, "aclassoc", assoc);
	acl = obj_edit(t, jstr(acl, "NetworkAclId"));
	json_array_append_new(json_object_get(acl, "Associations"),
			      json_pack("{s:s, s:s, s:s}", "NetworkAclAssociationId", assoc,
					"NetworkAclId", jstr(acl, "NetworkAclId"), "SubnetId", subnet_id));
}

void acl_disassociate(struct txn *t, const char *subnet_id)
{
	json_t *acl = subnet_acl(subnet_id), *a;
	size_t i;
	if (!acl)
		return;
	acl = obj_edit(t, jstr(acl, "NetworkAclId"));
	json_array_foreach(json_object_get(acl, "Associations"), i, a) if (!strcmp(jstr(a, "SubnetId"), subnet_id))
	{
		json_array_remove(json_object_get(acl, "Associations"), i);
		break;
	}
}

static int cmp_entries(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	json_int_t p = json_integer_value(json_object_get(x, "RuleNumber"));
	json_int_t q = json_integer_value(json_object_get(y, "RuleNumber"));
	return p < q ? -1 : p > q;
}

/* Entries in rule-number order, as evaluated (and as AWS lists them). */
void acl_sort(json_t *acl)
{
	json_t *entries = json_object_get(acl, "Entries");
	size_t n = json_array_size(entries);
	json_t **v = calloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(entries, i));
	qsort(v, n, sizeof(*v), cmp_entries);
	json_array_clear(entries);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(entries, v[i]);
	free(v);
}

int h_create_network_acl(struct req *rq, json_t **ret, struct err *e)
{
	const char *vpc_id;
	_cleanup_json_ json_t *tags = NULL;
	char id[ID_MAX];
	int r;
	if ((r = param_str(rq, "VpcId", true, &vpc_id, e)) < 0)
		return r;
	json_t *vpc = obj_find(rq, vpc_id, "vpc", e);
	if (!vpc)
		return -EINVAL;
	if ((r = param_tags(rq, "network-acl", &tags, e)) < 0)
		return r;
	acl_new(&rq->txn, rq->region, vpc_id, false, tags, id);
	txn_touch_vpc(&rq->txn, vpc_id);
	*ret = json_pack("{s:o}", "NetworkAcl", obj_public(obj_get(id)));
	return 0;
}

int h_delete_network_acl(struct req *rq, json_t **ret, struct err *e)
{
	const char *id;
	int r;
	if ((r = param_str(rq, "NetworkAclId", true, &id, e)) < 0)
		return r;
	json_t *acl = obj_find(rq, id, "acl", e);
	if (!acl)
		return -EINVAL;
	if (json_is_true(json_object_get(acl, "IsDefault")))
		return err_set(e, "InvalidParameterValue", "cannot delete default network ACL %s", id);
	if (json_array_size(json_object_get(acl, "Associations")))
		return err_set(e, "DependencyViolation",
			       "The network ACL '%s' has dependencies and cannot be deleted.", id);
	txn_touch_vpc(&rq->txn, jstr(acl, "VpcId"));
	obj_del(&rq->txn, id);
	*ret = json_object();
	return 0;
}

int h_describe_network_acls(struct req *rq, json_t **ret, struct err *e)
{
	json_t *list, *token = NULL;
	int r = describe(rq, "acl", "NetworkAclIds", "NetworkAclId", "InvalidNetworkAclID.NotFound",
			 "network ACL", acl_filters, NULL, &list, &token, e);
	if (r < 0)
		return r;
	*ret = json_pack("{s:o, s:o*}", "NetworkAcls", list, "NextToken", token);
	return 0;
}

static int proto_number(const char *p, char buf[static 8])
{
	if (!p)
		return -EINVAL;
	if (!strcasecmp(p, "tcp"))
		p = "6";
	else if (!strcasecmp(p, "udp"))
		p = "17";
	else if (!strcasecmp(p, "icmp"))
		p = "1";
	else if (!strcasecmp(p, "all"))
		p = "-1";
	char *end;
	long n = strtol(p, &end, 10);
	if (!*p || *end || n < -1 || n > 255)
		return -EINVAL;
	snprintf(buf, 8, "%ld", n);
	return 0;
}

/* mode 0: create, 1: replace */
static int entry_change(struct req *rq, json_t **ret, struct err *e, int mode)
{
	const char *id, *proto_s, *action, *cidr;
	long long number;
	int egress, ingress, r;
	char proto[8];
	struct cidr c;

	if ((r = param_str(rq, "NetworkAclId", true, &id, e)) < 0 ||
	    (r = param_int(rq, "RuleNumber", -1, &number, e)) < 0 ||
	    (r = param_str(rq, "Protocol", true, &proto_s, e)) < 0 ||
	    (r = param_str(rq, "RuleAction", true, &action, e)) < 0)
		return r;
	if (!json_object_get(rq->params, "RuleNumber"))
		return err_set(e, "MissingParameter", "The request must contain the parameter ruleNumber");
	param_bool(rq, "Egress", &egress);
	param_bool(rq, "Ingress", &ingress);
	if (egress < 0)
		egress = 0; /* --ingress, or neither: an inbound entry */
	(void)ingress;
	if ((r = param_str(rq, "CidrBlock", false, &cidr, e)) < 0)
		return r;
	if (!cidr) {
		if (json_object_get(rq->params, "Ipv6CidrBlock"))
			return err_set(e, "UnsupportedOperation", "IPv6 is not supported by vpclab");
		return err_set(e, "MissingParameter", "The request must contain the parameter cidrBlock");
	}
	json_t *acl = obj_find(rq, id, "acl", e);
	if (!acl)
		return -EINVAL;
	if (number < 1 || number > 32766)
		return err_set(e, "InvalidParameterValue",
			       "Value (%lld) for parameter ruleNumber is invalid. Rule number must be between 1 and 32766.",
			       number);
	if (proto_number(proto_s, proto) < 0)
		return err_set(e, "InvalidParameterValue",
			       "Value (%s) for parameter protocol is invalid.", proto_s);
	if (strcmp(action, "allow") && strcmp(action, "deny"))
		return err_set(e, "InvalidParameterValue",
			       "Value (%s) for parameter ruleAction is invalid. Expected allow or deny.", action);
	if (cidr_parse(cidr, &c) < 0)
		return err_set(e, "InvalidParameterValue",
			       "Value (%s) for parameter cidrBlock is invalid. This is not a valid CIDR block.", cidr);
	json_t *entry = entry_pack((int)number, proto, action, egress > 0, cidr);
	if (!strcmp(proto, "6") || !strcmp(proto, "17")) {
		json_t *pr = json_object_get(rq->params, "PortRange");
		long long from = -1, to = -1;
		char *end;
		json_t *f = json_object_get(pr, "From"), *t = json_object_get(pr, "To");
		if (json_is_integer(f)) from = json_integer_value(f);
		else if (json_is_string(f)) { from = strtoll(json_string_value(f), &end, 10); if (*end) from = -1; }
		if (json_is_integer(t)) to = json_integer_value(t);
		else if (json_is_string(t)) { to = strtoll(json_string_value(t), &end, 10); if (*end) to = -1; }
		if (!pr || from < 0 || to > 65535 || from > to) {
			json_decref(entry);
			return err_set(e, "InvalidParameterValue",
				       "TCP and UDP entries need a valid port range (From=0..65535,To=From..65535)");
		}
		json_object_set_new(entry, "PortRange", json_pack("{s:I, s:I}", "From", from, "To", to));
	} else if (!strcmp(proto, "1")) {
		json_t *ic = json_object_get(rq->params, "IcmpTypeCode");
		long long type = -1, code = -1;
		json_t *ty = json_object_get(ic, "Type"), *co = json_object_get(ic, "Code");
		if (json_is_integer(ty)) type = json_integer_value(ty);
		else if (json_is_string(ty)) type = strtoll(json_string_value(ty), NULL, 10);
		if (json_is_integer(co)) code = json_integer_value(co);
		else if (json_is_string(co)) code = strtoll(json_string_value(co), NULL, 10);
		if (!ic || type < -1 || type > 255 || code < -1 || code > 255) {
			json_decref(entry);
			return err_set(e, "InvalidParameterValue",
				       "ICMP entries need IcmpTypeCode with Type and Code between -1 and 255");
		}
		json_object_set_new(entry, "IcmpTypeCode", json_pack("{s:I, s:I}", "Code", code, "Type", type));
	}
	json_t *entries = json_object_get(acl, "Entries"), *x;
	size_t i;
	ssize_t at = -1;
	json_array_foreach(entries, i, x) if (json_integer_value(json_object_get(x, "RuleNumber")) == number &&
					      json_is_true(json_object_get(x, "Egress")) == (egress > 0)) at = (ssize_t)i;
	if (mode == 0 && at >= 0) {
		json_decref(entry);
		return err_set(e, "NetworkAclEntryAlreadyExists",
			       "The network acl entry identified by %lld already exists.", number);
	}
	if (mode == 1 && at < 0) {
		json_decref(entry);
		return err_set(e, "InvalidNetworkAclEntry.NotFound",
			       "The specified network ACL entry does not exist: rule %lld (%s) in %s", number,
			       egress > 0 ? "egress" : "ingress", id);
	}
	acl = obj_edit(&rq->txn, id);
	entries = json_object_get(acl, "Entries");
	if (at >= 0)
		json_array_set_new(entries, (size_t)at, entry);
	else
		json_array_append_new(entries, entry);
	acl_sort(acl);
	txn_touch_vpc(&rq->txn, jstr(acl, "VpcId"));
	*ret = json_object();
	return 0;
}

int h_create_network_acl_entry(struct req *rq, json_t **ret, struct err *e) { return entry_change(rq, ret, e, 0); }
int h_replace_network_acl_entry(struct req *rq, json_t **ret, struct err *e) { return entry_change(rq, ret, e, 1); }

int h_delete_network_acl_entry(struct req *rq, json_t **ret, struct err *e)
{
	const char *id;
	long long number;
	int egress, ingress, r;
	if ((r = param_str(rq, "NetworkAclId", true, &id, e)) < 0 ||
	    (r = param_int(rq, "RuleNumber", -1, &number, e)) < 0)
		return r;
	param_bool(rq, "Egress", &egress);
	param_bool(rq, "Ingress", &ingress);
	json_t *acl = obj_find(rq, id, "acl", e), *x;
	if (!acl)
		return -EINVAL;
	json_t *entries = json_object_get(acl, "Entries");
	size_t i;
	ssize_t at = -1;
	json_array_foreach(entries, i, x) if (json_integer_value(json_object_get(x, "RuleNumber")) == number &&
					      json_is_true(json_object_get(x, "Egress")) == (egress > 0)) at = (ssize_t)i;
	if (number == ACL_LAST_RULE)
		return err_set(e, "InvalidParameterValue", "The default rule %d cannot be deleted", ACL_LAST_RULE);
	if (at < 0)
		return err_set(e, "InvalidNetworkAclEntry.NotFound",
			       "The specified network ACL entry does not exist: rule %lld (%s) in %s", number,
			       egress > 0 ? "egress" : "ingress", id);
	acl = obj_edit(&rq->txn, id);
	json_array_remove(json_object_get(acl, "Entries"), (size_t)at);
	txn_touch_vpc(&rq->txn, jstr(acl, "VpcId"));
	*ret = json_object();
	return 0;
}

int h_replace_network_acl_association(struct req *rq, json_t **ret, struct err *e)
{
	const char *assoc, *acl_id, *id;
	json_t *o, *from = NULL;
	size_t idx = 0;
	char nid[ID_MAX];
	int r;
	if ((r = param_str(rq, "AssociationId", true, &assoc, e)) < 0 ||
	    (r = param_str(rq, "NetworkAclId", true, &acl_id, e)) < 0)
		return r;
	obj_foreach("acl", rq->region, id, o)
	{
		size_t i;
		json_t *a;
		json_array_foreach(json_object_get(o, "Associations"), i, a) if (
			!strcmp(jstr(a, "NetworkAclAssociationId"), assoc)) from = o, idx = i;
	}
	if (!from)
		return err_set(e, "InvalidAssociationID.NotFound", "The association ID '%s' does not exist", assoc);
	json_t *to = obj_find(rq, acl_id, "acl", e);
	if (!to)
		return -EINVAL;
	if (strcmp(jstr(to, "VpcId"), jstr(from, "VpcId")) != 0)
		return err_set(e, "InvalidParameterValue",
			       "Network ACL %s belongs to a different VPC than the association's subnet", acl_id);
	const char *sid = jstr(json_array_get(json_object_get(from, "Associations"), idx), "SubnetId");
	char subnet[ID_MAX];
	snprintf(subnet, sizeof(subnet), "%s", sid);
	from = obj_edit(&rq->txn, jstr(from, "NetworkAclId"));
	json_array_remove(json_object_get(from, "Associations"), idx);
	new_id(&rq->txn, "aclassoc", nid);
	to = obj_edit(&rq->txn, acl_id);
	json_array_append_new(json_object_get(to, "Associations"),
			      json_pack("{s:s, s:s, s:s}", "NetworkAclAssociationId", nid, "NetworkAclId",
					acl_id, "SubnetId", subnet));
	txn_touch_vpc(&rq->txn, jstr(to, "VpcId"));
	*ret = json_pack("{s:s}", "NewAssociationId", nid);
	return 0;
}
