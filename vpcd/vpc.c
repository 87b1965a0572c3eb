#include <stdio.h>
#include <string.h>
#include "cleanup.h"
#include "vpcd.h"

static const struct filter_map vpc_filters[] = {
	{"vpc-id", "VpcId"},
	{"cidr", "CidrBlock"},
	{"cidr-block", "CidrBlock"},
	{"cidrBlock", "CidrBlock"},
	{"cidr-block-association.cidr-block", "CidrBlockAssociationSet.CidrBlock"},
	{"cidr-block-association.association-id", "CidrBlockAssociationSet.AssociationId"},
	{"cidr-block-association.state", "CidrBlockAssociationSet.CidrBlockState.State"},
	{"state", "State"},
	{"is-default", "IsDefault"},
	{"isDefault", "IsDefault"},
	{"owner-id", "OwnerId"},
	{"dhcp-options-id", "DhcpOptionsId"},
	{"instance-tenancy", "InstanceTenancy"},
	{NULL, NULL}};

json_t *vpc_main_route_table(const char *vpc_id)
{
	const char *id;
	json_t *o;
	obj_foreach_vpc("rtb", vpc_id, id, o)
	{
		if (strcmp(jstr(o, "VpcId"), vpc_id) != 0)
			continue;
		size_t i;
		json_t *a;
		json_array_foreach(json_object_get(o, "Associations"), i, a) if (json_is_true(
			json_object_get(a, "Main"))) return o;
	}
	return NULL;
}


int vpc_create_obj(struct req *rq, const char *cidr_text, bool is_default, json_t *tags,
		   char ret_id[static ID_MAX], struct err *e)
{
	char id[ID_MAX], assoc[ID_MAX], rtb[ID_MAX], ns[64];
	char key[64];
	snprintf(key, sizeof(key), "region:%s", rq->region);
	const char *dopt = jstr(obj_get(key), "_dopt");

	new_id(&rq->txn, "vpc", id);
	new_id(&rq->txn, "vpc-cidr-assoc", assoc);
	name_vpc_ns(id, ns);
	json_t *vpc = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[], s:[{s:s, s:s, s:{s:s}}], s:b, s:o}",
		"_type", "vpc", "_region", rq->region, "_ns", ns, "CidrBlock", cidr_text,
		"DhcpOptionsId", dopt, "State", "available", "VpcId", id, "OwnerId", OWNER_ID,
		"Ipv6CidrBlockAssociationSet", "CidrBlockAssociationSet", "AssociationId", assoc,
		"CidrBlock", cidr_text, "CidrBlockState", "State", "associated", "IsDefault",
		is_default, "Tags", tags ? json_incref(tags) : json_array());
	/* InstanceTenancy sits before IsDefault in AWS output; order is cosmetic. */
	json_object_set_new(vpc, "InstanceTenancy", json_string("default"));
	obj_put(&rq->txn, id, vpc);
	rtb_new(&rq->txn, rq->region, id, cidr_text, NULL, rtb);
	/* The main association. */
	char main_assoc[ID_MAX];
	new_id(&rq->txn, "rtbassoc", main_assoc);
	json_t *rt = obj_edit(&rq->txn, rtb);
	json_array_append_new(json_object_get(rt, "Associations"),
			      json_pack("{s:b, s:s, s:s, s:{s:s}}", "Main", 1, "RouteTableAssociationId",
					main_assoc, "RouteTableId", rtb, "AssociationState", "State",
					"associated"));
	sg_create_default(&rq->txn, rq->region, id);
	acl_create_default(&rq->txn, rq->region, id);
	txn_touch_vpc(&rq->txn, id);
	snprintf(ret_id, ID_MAX, "%s", id);
	(void)e;
	return 0;
}

int h_create_vpc(struct req *rq, json_t **ret, struct err *e)
{
	struct cidr c;
	const char *text, *tenancy;
	_cleanup_json_ json_t *tags = NULL;
	char id[ID_MAX];
	int r;

	if (json_object_get(rq->params, "Ipv4IpamPoolId") ||
	    json_object_get(rq->params, "AmazonProvidedIpv6CidrBlock"))
		return err_set(e, "UnsupportedOperation",
			       "IPAM pools and IPv6 CIDR blocks are not supported by vpclab");
	if ((r = param_cidr(rq, "CidrBlock", &c, &text, e)) < 0)
		return r;
	if (c.len < 16 || c.len > 28)
		return err_set(e, "InvalidVpc.Range", "The CIDR '%s' is invalid.", text);
	if ((r = param_str(rq, "InstanceTenancy", false, &tenancy, e)) < 0)
		return r;
	if (tenancy && strcmp(tenancy, "default") != 0 && strcmp(tenancy, "dedicated") != 0)
		return err_set(e, "InvalidParameterValue",
			       "Value (%s) for parameter instanceTenancy is invalid.", tenancy);
	if ((r = param_tags(rq, "vpc", &tags, e)) < 0)
		return r;
	if ((r = vpc_create_obj(rq, text, false, tags, id, e)) < 0)
		return r;
	if (tenancy)
		json_object_set_new(obj_get(id), "InstanceTenancy", json_string(tenancy));
	*ret = json_pack("{s:o}", "Vpc", obj_public(obj_get(id)));
	return 0;
}

int vpc_describe(struct req *rq, const struct filter_map *filters, void (*decorate)(json_t *pub, json_t *o),
		 bool paged, json_t **ret, struct err *e)
{
	json_t *list, *token = NULL;
	int r = describe(rq, "vpc", "VpcIds", "VpcId", "InvalidVpcID.NotFound", "vpc ID", filters, decorate,
			 &list, paged ? &token : NULL, e);
	if (r < 0)
		return r;
	*ret = json_pack("{s:o, s:o*}", "Vpcs", list, "NextToken", token);
	return 0;
}

int h_describe_vpcs(struct req *rq, json_t **ret, struct err *e)
{
	return vpc_describe(rq, vpc_filters, NULL, true, ret, e);
}

int h_delete_vpc(struct req *rq, json_t **ret, struct err *e)
{
	const char *vpc_id, *id;
	json_t *o;
	int r;

	if ((r = param_str(rq, "VpcId", true, &vpc_id, e)) < 0)
		return r;
	o = obj_find(rq, vpc_id, "vpc", e);
	if (!o)
		return -EINVAL;
	json_t *main_rtb = vpc_main_route_table(vpc_id);
	const char *pid;
	json_t *p;
	obj_foreach("pcx", NULL, pid, p)
	{
		const char *code = jstr(json_object_get(p, "Status"), "Code");
		if ((!strcmp(code, "active") || !strcmp(code, "pending-acceptance")) &&
		    (!strcmp(jstr(json_object_get(p, "RequesterVpcInfo"), "VpcId"), vpc_id) ||
		     !strcmp(jstr(json_object_get(p, "AccepterVpcInfo"), "VpcId"), vpc_id)))
			return err_set(e, "DependencyViolation",
				       "The vpc '%s' has dependencies and cannot be deleted (peering connection %s).",
				       vpc_id, pid);
	}
	if (vpc_igw(vpc_id))
		return err_set(e, "DependencyViolation",
			       "The vpc '%s' has dependencies and cannot be deleted (internet gateway %s is attached).",
			       vpc_id, jstr(vpc_igw(vpc_id), "InternetGatewayId"));
	json_object_foreach(store_objects(V->store), id, o)
	{
		if (strcmp(jstr(o, "VpcId"), vpc_id) != 0 || strcmp(jstr(o, "_type"), "vpc") == 0 ||
		    o == main_rtb)
			continue;
		/* Objects the VPC owns and removes with itself (default security group, default
		 * ACL) mark themselves _owned_by_vpc. */
		if (json_is_true(json_object_get(o, "_owned_by_vpc")))
			continue;
		return err_set(e, "DependencyViolation",
			       "The vpc '%s' has dependencies and cannot be deleted.", vpc_id);
	}
	/* Remove the VPC and what it owns. */
	_cleanup_json_ json_t *owned = json_array();
	json_object_foreach(store_objects(V->store), id, o) if (
		strcmp(jstr(o, "VpcId"), vpc_id) == 0 && strcmp(jstr(o, "_type"), "vpc") != 0)
		json_array_append_new(owned, json_string(id));
	size_t i;
	json_t *x;
	json_array_foreach(owned, i, x) obj_del(&rq->txn, json_string_value(x));
	obj_del(&rq->txn, vpc_id);
	txn_touch_vpc(&rq->txn, vpc_id);
	*ret = json_object();
	return 0;
}

/* DNS attributes. EnableDnsSupport (default on) is whether the VPC's resolver at subnet+2
 * answers; EnableDnsHostnames (default on only in a default VPC) is whether the public DNS
 * names of its ENIs resolve inside it. Both are what dnsmasq is told (dns.c). */
bool vpc_dns_support(const json_t *vpc)
{
	json_t *v = json_object_get(vpc, "_dns_support");
	return v ? json_is_true(v) : true;
}

bool vpc_dns_hostnames(const json_t *vpc)
{
	json_t *v = json_object_get(vpc, "_dns_hostnames");
	return v ? json_is_true(v) : json_is_true(json_object_get(vpc, "IsDefault"));
}

static const struct vpc_attr {
	const char *attribute, *member, *key;
} vpc_attrs[] = {
	{"enableDnsSupport", "EnableDnsSupport", "_dns_support"},
	{"enableDnsHostnames", "EnableDnsHostnames", "_dns_hostnames"},
	{"enableNetworkAddressUsageMetrics", "EnableNetworkAddressUsageMetrics", "_nau_metrics"},
};

static bool vpc_attr_value(const json_t *vpc, const struct vpc_attr *a)
{
	if (!strcmp(a->key, "_dns_support"))
		return vpc_dns_support(vpc);
	if (!strcmp(a->key, "_dns_hostnames"))
		return vpc_dns_hostnames(vpc);
	return json_is_true(json_object_get(vpc, a->key));
}

int h_describe_vpc_attribute(struct req *rq, json_t **ret, struct err *e)
{
	const char *vpc_id, *attr;
	int r;
	if ((r = param_str(rq, "VpcId", true, &vpc_id, e)) < 0 ||
	    (r = param_str(rq, "Attribute", true, &attr, e)) < 0)
		return r;
	json_t *vpc = obj_find(rq, vpc_id, "vpc", e);
	if (!vpc)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(vpc_attrs); i++)
		if (!strcmp(attr, vpc_attrs[i].attribute)) {
			*ret = json_pack("{s:s, s:{s:b}}", "VpcId", vpc_id, vpc_attrs[i].member, "Value",
					 vpc_attr_value(vpc, &vpc_attrs[i]));
			return 0;
		}
	return err_set(e, "InvalidParameterValue", "Value (%s) for parameter attribute is invalid. Unknown attribute.",
		       attr);
}

int h_modify_vpc_attribute(struct req *rq, json_t **ret, struct err *e)
{
	const char *vpc_id;
	const struct vpc_attr *which = NULL;
	int value = -1, r;
	if ((r = param_str(rq, "VpcId", true, &vpc_id, e)) < 0)
		return r;
	json_t *vpc = obj_find(rq, vpc_id, "vpc", e);
	if (!vpc)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(vpc_attrs); i++) {
		int v;
		param_bool(rq, vpc_attrs[i].member, &v);
		if (!json_object_get(rq->params, vpc_attrs[i].member))
			continue;
		if (which)
			return err_set(e, "InvalidParameterCombination",
				       "Fields for multiple attribute types specified: %s, %s", which->member,
				       vpc_attrs[i].member);
		if (v < 0)
			return err_set(e, "MissingParameter", "The request must contain the parameter %s.Value",
				       vpc_attrs[i].member);
		which = &vpc_attrs[i], value = v;
	}
	if (!which)
		return err_set(e, "MissingParameter",
			       "The request must contain one of EnableDnsSupport, EnableDnsHostnames or EnableNetworkAddressUsageMetrics");
	vpc = obj_edit(&rq->txn, vpc_id);
	json_object_set_new(vpc, which->key, json_boolean(value));
	txn_touch_vpc(&rq->txn, vpc_id);
	*ret = json_object();
	return 0;
}
