#include <stdio.h>
#include <stdlib.h>
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
	{"ipv6-cidr-block-association.ipv6-cidr-block", "Ipv6CidrBlockAssociationSet.Ipv6CidrBlock"},
	{"ipv6-cidr-block-association.association-id", "Ipv6CidrBlockAssociationSet.AssociationId"},
	{"ipv6-cidr-block-association.state", "Ipv6CidrBlockAssociationSet.Ipv6CidrBlockState.State"},
	{"ipv6-cidr-block-association.ipv6-pool", "Ipv6CidrBlockAssociationSet.Ipv6Pool"},
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

	int ipv6;
	const char *nbg;
	static const char *const pools[] = {"Ipv4IpamPoolId", "Ipv6IpamPoolId", "Ipv6Pool", "Ipv6CidrBlock",
					    "Ipv4NetmaskLength", "Ipv6NetmaskLength"};
	for (size_t i = 0; i < ARRAY_SIZE(pools); i++)
		if (json_object_get(rq->params, pools[i]))
			return err_set(e, "UnsupportedOperation",
				       "The parameter %s is not supported by vpclab (BYOIP and IPAM pools)", pools[i]);
	param_bool(rq, "AmazonProvidedIpv6CidrBlock", &ipv6);
	if ((r = param_str(rq, "Ipv6CidrBlockNetworkBorderGroup", false, &nbg, e)) < 0)
		return r;
	if (nbg && ipv6 <= 0)
		return err_set(e, "InvalidParameterCombination",
			       "Ipv6CidrBlockNetworkBorderGroup requires AmazonProvidedIpv6CidrBlock");
	if (nbg && strcmp(nbg, rq->region) != 0)
		return err_set(e, "InvalidParameterValue",
			       "The network border group '%s' is invalid for region '%s'", nbg, rq->region);
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
	if (ipv6 > 0) {
		json_t *a;
		if ((r = vpc_add_ipv6_block(rq, obj_get(id), &a, e)) < 0)
			return r;
	}
	json_t *pub = obj_public(obj_get(id));
	if (ipv6 > 0) { /* shown as associating, as EC2 answers; it is associated at once here */
		json_t *set = json_deep_copy(json_object_get(pub, "Ipv6CidrBlockAssociationSet"));
		json_object_set_new(json_object_get(json_array_get(set, 0), "Ipv6CidrBlockState"), "State",
				    json_string("associating"));
		json_object_set_new(pub, "Ipv6CidrBlockAssociationSet", set);
	}
	*ret = json_pack("{s:o}", "Vpc", pub);
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
	if (vpc_eigw(vpc_id))
		return err_set(e, "DependencyViolation",
			       "The vpc '%s' has dependencies and cannot be deleted (egress-only internet gateway %s).",
			       vpc_id, jstr(vpc_eigw(vpc_id), "EgressOnlyInternetGatewayId"));
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

/* DHCP options sets (dopt-): what the VPC's dnsmasq hands out with each lease (dns.c). Each
 * region has a default set, the `_dopt` of its region object, which every new VPC names; it
 * is made in the model on the first call of these verbs, and until then dnsmasq gives AWS's
 * defaults for it. "default" (associated by AssociateDhcpOptions) is no set at all. */
static const struct filter_map dopt_filters[] = {
	{"dhcp-options-id", "DhcpOptionsId"},
	{"key", "DhcpConfigurations.Key"},
	{"value", "DhcpConfigurations.Values.Value"},
	{"owner-id", "OwnerId"},
	{NULL, NULL}};

static json_t *dopt_config(const char *key, json_t *values)
{
	return json_pack("{s:s, s:o}", "Key", key, "Values", values);
}

static void dopt_ensure_default(struct req *rq)
{
	char key[64], domain[64];
	snprintf(key, sizeof(key), "region:%s", rq->region);
	const char *id = jstr(obj_get(key), "_dopt");
	if (strncmp(id, "dopt-", 5) != 0 || obj_get(id))
		return;
	json_t *cfg = json_pack("[o, o]",
				dopt_config("domain-name", json_pack("[{s:s}]", "Value", dns_domain(rq->region, domain))),
				dopt_config("domain-name-servers", json_pack("[{s:s}]", "Value", "AmazonProvidedDNS")));
	char copy[ID_MAX];
	snprintf(copy, sizeof(copy), "%s", id);
	obj_put(&rq->txn, copy,
		json_pack("{s:s, s:s, s:o, s:s, s:s, s:[]}", "_type", "dopt", "_region", rq->region,
			  "DhcpConfigurations", cfg, "DhcpOptionsId", copy, "OwnerId", OWNER_ID, "Tags"));
}

static bool domain_ok(const char *d)
{
	size_t n = strlen(d);
	if (n == 0 || n > 255)
		return false;
	for (const char *p = d; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '.' || *p == ' '))
			return false;
	return true;
}

/* One DhcpConfigurations entry, checked as EC2 checks it; its values as stored. */
static int dopt_values(const char *k, json_t *values, json_t **ret, struct err *e)
{
	static const char *const keys[] = {"domain-name", "domain-name-servers", "ntp-servers",
					   "netbios-name-servers", "netbios-node-type",
					   "ipv6-address-preferred-lease-time"};
	size_t kind = ARRAY_SIZE(keys), i;
	json_t *v;
	for (size_t j = 0; j < ARRAY_SIZE(keys); j++)
		if (!strcmp(k, keys[j]))
			kind = j;
	if (kind == ARRAY_SIZE(keys))
		return err_set(e, "InvalidParameterValue", "Value (%s) for parameter name is invalid. Unknown DHCP option", k);
	if (json_array_size(values) == 0)
		return err_set(e, "InvalidParameterValue", "Value for DHCP option '%s' is missing", k);
	size_t max = kind == 0 || kind >= 4 ? 1 : 4;
	if (json_array_size(values) > max)
		return err_set(e, "InvalidParameterValue",
			       "DHCP option '%s' takes at most %zu value%s", k, max, max > 1 ? "s" : "");
	_cleanup_json_ json_t *out = json_array();
	json_array_foreach(values, i, v)
	{
		const char *x = json_is_string(v) ? json_string_value(v) : jstr(v, "Value");
		uint32_t ip;
		bool ok;
		if (kind == 0)
			ok = domain_ok(x);
		else if (kind == 4)
			ok = !strcmp(x, "1") || !strcmp(x, "2") || !strcmp(x, "4") || !strcmp(x, "8");
		else if (kind == 5) {
			char *end;
			long long n = strtoll(x, &end, 10);
			ok = *x && !*end && n >= 140 && n <= 2147483647;
		} else
			ok = ip_parse(x, &ip) == 0 || (kind == 1 && !strcmp(x, "AmazonProvidedDNS"));
		if (!ok)
			return err_set(e, "InvalidParameterValue",
				       "Value (%s) for parameter value is invalid. Invalid value for DHCP option '%s'", x, k);
		json_array_append_new(out, json_pack("{s:s}", "Value", x));
	}
	*ret = TAKE_PTR(out);
	return 0;
}

int h_create_dhcp_options(struct req *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *confs = param_list(rq->params, "DhcpConfigurations");
	_cleanup_json_ json_t *tags = NULL, *cfg = json_array();
	json_t *c, *have;
	size_t i, j;
	char id[ID_MAX];
	int r;
	if (json_array_size(confs) == 0)
		return err_set(e, "MissingParameter", "The request must contain the parameter dhcpConfiguration");
	json_array_foreach(confs, i, c)
	{
		const char *k = jstr(c, "Key");
		_cleanup_json_ json_t *vals = param_list(c, "Values");
		json_t *stored = NULL;
		if (!*k)
			return err_set(e, "MissingParameter", "The request must contain the parameter dhcpConfiguration.%zu.key", i + 1);
		json_array_foreach(cfg, j, have) if (!strcmp(jstr(have, "Key"), k))
			return err_set(e, "InvalidParameterValue", "DHCP option '%s' is given more than once", k);
		if ((r = dopt_values(k, vals, &stored, e)) < 0)
			return r;
		json_array_append_new(cfg, dopt_config(k, stored));
	}
	if ((r = param_tags(rq, "dhcp-options", &tags, e)) < 0)
		return r;
	dopt_ensure_default(rq);
	new_id(&rq->txn, "dopt", id);
	obj_put(&rq->txn, id,
		json_pack("{s:s, s:s, s:O, s:s, s:s, s:O}", "_type", "dopt", "_region", rq->region,
			  "DhcpConfigurations", cfg, "DhcpOptionsId", id, "OwnerId", OWNER_ID, "Tags", tags));
	*ret = json_pack("{s:o}", "DhcpOptions", obj_public(obj_get(id)));
	return 0;
}

int h_describe_dhcp_options(struct req *rq, json_t **ret, struct err *e)
{
	json_t *list, *token = NULL;
	dopt_ensure_default(rq);
	int r = describe(rq, "dopt", "DhcpOptionsIds", "DhcpOptionsId", "InvalidDhcpOptionID.NotFound",
			 "dhcp options ID", dopt_filters, NULL, &list, &token, e);
	if (r < 0)
		return r;
	*ret = json_pack("{s:o, s:o*}", "DhcpOptions", list, "NextToken", token);
	return 0;
}

int h_delete_dhcp_options(struct req *rq, json_t **ret, struct err *e)
{
	const char *id, *vid;
	json_t *o;
	char key[64];
	int r;
	if ((r = param_str(rq, "DhcpOptionsId", true, &id, e)) < 0)
		return r;
	dopt_ensure_default(rq);
	if (!obj_find(rq, id, "dopt", e))
		return -EINVAL;
	obj_foreach("vpc", rq->region, vid, o) if (!strcmp(jstr(o, "DhcpOptionsId"), id))
		return err_set(e, "DependencyViolation",
			       "The dhcpOptions '%s' has dependencies and cannot be deleted (associated with %s).", id, vid);
	/* The region's default set gone, new VPCs have none. */
	snprintf(key, sizeof(key), "region:%s", rq->region);
	if (!strcmp(jstr(obj_get(key), "_dopt"), id))
		json_object_set_new(obj_edit(&rq->txn, key), "_dopt", json_string("default"));
	obj_del(&rq->txn, id);
	*ret = json_object();
	return 0;
}

int h_associate_dhcp_options(struct req *rq, json_t **ret, struct err *e)
{
	const char *id, *vpc_id;
	int r;
	if ((r = param_str(rq, "DhcpOptionsId", true, &id, e)) < 0 ||
	    (r = param_str(rq, "VpcId", true, &vpc_id, e)) < 0)
		return r;
	dopt_ensure_default(rq);
	if (strcmp(id, "default") != 0 && !obj_find(rq, id, "dopt", e))
		return -EINVAL;
	json_t *vpc = obj_find(rq, vpc_id, "vpc", e);
	if (!vpc)
		return -EINVAL;
	if (strcmp(jstr(vpc, "DhcpOptionsId"), id) != 0) {
		json_object_set_new(obj_edit(&rq->txn, vpc_id), "DhcpOptionsId", json_string(id));
		txn_touch_vpc(&rq->txn, vpc_id);
	}
	*ret = json_object();
	return 0;
}
