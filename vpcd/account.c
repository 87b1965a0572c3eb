/* Account-level and retired EC2 calls that AWS still answers, answered as AWS answers them
 * today (docs/architecture.md, "Retired and account-level calls"): clients such as
 * Ansible's amazon.aws modules ask them before their real work. ClassicLink was retired with
 * EC2-Classic, so no VPC has it; the account is VPC-only, and its limits are the ones vpclab
 * enforces. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "cleanup.h"
#include "vpcd.h"

static const struct filter_map classic_link_filters[] = {
	{"is-classic-link-enabled", "ClassicLinkEnabled"},
	{NULL, NULL}};

static void classic_link(json_t *pub, json_t *o)
{
	json_t *tags = json_incref(json_object_get(pub, "Tags"));
	json_object_clear(pub);
	json_object_set_new(pub, "VpcId", json_string(jstr(o, "VpcId")));
	json_object_set_new(pub, "ClassicLinkEnabled", json_false());
	json_object_set_new(pub, "Tags", tags ? tags : json_array());
}

int h_describe_vpc_classic_link(struct req *rq, json_t **ret, struct err *e)
{
	return vpc_describe(rq, classic_link_filters, classic_link, false, ret, e);
}

static void classic_link_dns(json_t *pub, json_t *o)
{
	json_object_clear(pub);
	json_object_set_new(pub, "VpcId", json_string(jstr(o, "VpcId")));
	json_object_set_new(pub, "ClassicLinkDnsSupported", json_false());
}

int h_describe_vpc_classic_link_dns_support(struct req *rq, json_t **ret, struct err *e)
{
	static const struct filter_map none[] = {{NULL, NULL}};
	return vpc_describe(rq, none, classic_link_dns, true, ret, e);
}

/* The account's attributes, the limits vpclab holds to: max-instances is RunInstances' limit
 * (ec2d refuses more with InstanceLimitExceeded), max-elastic-ips EC2-Classic's (none). */
int h_describe_account_attributes(struct req *rq, json_t **ret, struct err *e)
{
	static const char *const names[] = {"supported-platforms", "vpc-max-security-groups-per-interface",
					    "max-elastic-ips", "max-instances", "vpc-max-elastic-ips",
					    "default-vpc"};
	_cleanup_json_ json_t *want = param_list(rq->params, "AttributeNames");
	size_t i;
	json_t *v;
	json_array_foreach(want, i, v)
	{
		bool known = false;
		for (size_t k = 0; k < ARRAY_SIZE(names); k++)
			known |= json_is_string(v) && !strcmp(json_string_value(v), names[k]);
		if (!known)
			return err_set(e, "InvalidParameterValue",
				       "Value (%s) for parameter attributeName is invalid. Unknown attribute.",
				       json_string_value(v) ?: "");
	}
	const char *default_vpc = "none", *id;
	json_t *o;
	obj_foreach("vpc", NULL, id, o) if (!strcmp(jstr(o, "_region"), rq->region) &&
					    json_is_true(json_object_get(o, "IsDefault"))) default_vpc = id;
	struct cidr pool;
	char eips[16] = "0", sgs[16];
	if (region_pool(rq->region, &pool) == 0 && pool.len < 32) {
		long long n = (1LL << (32 - pool.len)) - POOL_RESERVED - 1; /* less the broadcast */
		snprintf(eips, sizeof(eips), "%lld", n > 0 ? n : 0);
	}
	snprintf(sgs, sizeof(sgs), "%d", MAX_GROUPS_PER_ENI);
	const char *values[] = {"VPC", sgs, "0", "100", eips, default_vpc};
	json_t *out = json_array();
	for (size_t k = 0; k < ARRAY_SIZE(names); k++) {
		bool asked = json_array_size(want) == 0;
		json_array_foreach(want, i, v) asked |= !strcmp(json_string_value(v), names[k]);
		if (asked)
			json_array_append_new(out, json_pack("{s:s, s:[{s:s}]}", "AttributeName", names[k],
							     "AttributeValues", "AttributeValue", values[k]));
	}
	*ret = json_pack("{s:o}", "AccountAttributes", out);
	(void)e;
	return 0;
}
