/* IPv6 in the model (docs/ipv6.md): each region's pool of /56s, the VPCs' and subnets' IPv6
 * CIDR block associations, and the ENIs' IPv6 addresses. The kernel side is not built yet:
 * these objects live in the model and the API only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "vpcd.h"

#define VPC_IPV6_BLOCKS_MAX 5
#define ENI_IPV6_MAX 10

/* fd00:<32-bit FNV-1a of the region's name>::/40: ULA space, so nothing of it is routed
 * anywhere outside the lab, and the same region gets the same pool on every machine. */
void region_ipv6_pool(const char *region, struct cidr6 *ret)
{
	uint32_t h = 2166136261u;
	for (const char *p = region; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	memset(ret, 0, sizeof(*ret));
	ret->addr[0] = 0xfd;
	ret->addr[1] = (uint8_t)(h >> 24);
	ret->addr[2] = (uint8_t)(h >> 16);
	ret->addr[3] = (uint8_t)(h >> 8);
	ret->addr[4] = (uint8_t)h;
	ret->len = 40;
}

static bool block_live(json_t *a)
{
	const char *st = jstr(json_object_get(a, "Ipv6CidrBlockState"), "State");
	return !strcmp(st, "associated") || !strcmp(st, "associating");
}

/* The lowest /56 of the region's pool no VPC of the region holds. */
static int pool_pick(const char *region, struct cidr6 *ret)
{
	struct cidr6 pool, c;
	region_ipv6_pool(region, &pool);
	for (uint64_t n = 0; n < 65536; n++) {
		const char *id;
		json_t *o, *a;
		size_t i;
		bool used = false;
		cidr6_nth(&pool, 56, n, &c);
		obj_foreach("vpc", region, id, o)
		{
			json_array_foreach(json_object_get(o, "Ipv6CidrBlockAssociationSet"), i, a)
			{
				struct cidr6 b;
				if (block_live(a) && cidr6_parse(jstr(a, "Ipv6CidrBlock"), &b) == 0 && cidr6_overlaps(&b, &c))
					used = true;
			}
		}
		if (!used) {
			*ret = c;
			return 0;
		}
	}
	return -ENOSPC;
}

/* Adds an Amazon-provided /56 to a VPC being edited in the txn; the association as stored. */
int vpc_add_ipv6_block(struct req *rq, json_t *vpc, json_t **ret_assoc, struct err *e)
{
	struct cidr6 c;
	char assoc[ID_MAX], text[CIDR6_STRLEN];
	size_t i, n = 0;
	json_t *a;
	json_array_foreach(json_object_get(vpc, "Ipv6CidrBlockAssociationSet"), i, a) n += block_live(a);
	if (n >= VPC_IPV6_BLOCKS_MAX)
		return err_set(e, "CidrLimitExceeded",
			       "This network '%s' has met its maximum number of allowed CIDRs: %d",
			       jstr(vpc, "VpcId"), VPC_IPV6_BLOCKS_MAX);
	if (pool_pick(rq->region, &c) < 0)
		return err_set(e, "InsufficientCidrBlocks",
			       "The region '%s' has no free IPv6 CIDR block", rq->region);
	cidr6_format(&c, text);
	new_id(&rq->txn, "vpc-cidr-assoc", assoc);
	a = json_pack("{s:s, s:s, s:{s:s}, s:s, s:s, s:s, s:s}", "AssociationId", assoc, "Ipv6CidrBlock", text,
		      "Ipv6CidrBlockState", "State", "associated", "NetworkBorderGroup", rq->region, "Ipv6Pool",
		      "Amazon", "Ipv6AddressAttribute", "public", "IpSource", "amazon");
	json_array_append_new(json_object_get(vpc, "Ipv6CidrBlockAssociationSet"), a);
	*ret_assoc = a;
	return 0;
}

int h_associate_vpc_cidr_block(struct req *rq, json_t **ret, struct err *e)
{
	const char *vpc_id;
	int amazon, r;
	if ((r = param_str(rq, "VpcId", true, &vpc_id, e)) < 0)
		return r;
	if (!obj_find(rq, vpc_id, "vpc", e))
		return -EINVAL;
	param_bool(rq, "AmazonProvidedIpv6CidrBlock", &amazon);
	static const char *const pools[] = {"Ipv6Pool", "Ipv6CidrBlock", "Ipv6IpamPoolId", "Ipv4IpamPoolId",
					    "Ipv6NetmaskLength", "Ipv4NetmaskLength"};
	for (size_t i = 0; i < ARRAY_SIZE(pools); i++)
		if (json_object_get(rq->params, pools[i]))
			return err_set(e, "UnsupportedOperation",
				       "The parameter %s is not supported by vpclab (BYOIP and IPAM pools)", pools[i]);
	if (json_object_get(rq->params, "CidrBlock"))
		return err_set(e, "UnsupportedOperation",
			       "Secondary IPv4 CIDR blocks are not supported by vpclab");
	if (amazon <= 0)
		return err_set(e, "MissingParameter",
			       "Either 'cidrBlock' or 'amazonProvidedIpv6CidrBlock' or 'ipv6Pool' must be specified");
	const char *nbg;
	if ((r = param_str(rq, "Ipv6CidrBlockNetworkBorderGroup", false, &nbg, e)) < 0)
		return r;
	if (nbg && strcmp(nbg, rq->region) != 0)
		return err_set(e, "InvalidParameterValue",
			       "The network border group '%s' is invalid for region '%s'", nbg, rq->region);
	json_t *vpc = obj_edit(&rq->txn, vpc_id), *a;
	if ((r = vpc_add_ipv6_block(rq, vpc, &a, e)) < 0)
		return r;
	txn_touch_vpc(&rq->txn, vpc_id);
	json_t *shown = json_deep_copy(a);
	json_object_set_new(json_object_get(shown, "Ipv6CidrBlockState"), "State", json_string("associating"));
	*ret = json_pack("{s:o, s:s}", "Ipv6CidrBlockAssociation", shown, "VpcId", vpc_id);
	return 0;
}

/* The association with this ID in a VPC's or subnet's set; its index. */
static json_t *find_assoc(json_t *o, const char *set, const char *assoc_id, size_t *ret_i)
{
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(o, set), i, a) if (!strcmp(jstr(a, "AssociationId"), assoc_id))
	{
		*ret_i = i;
		return a;
	}
	return NULL;
}

int h_disassociate_vpc_cidr_block(struct req *rq, json_t **ret, struct err *e)
{
	const char *assoc_id, *id, *sid;
	json_t *o, *s, *a = NULL;
	size_t i = 0;
	int r;
	if ((r = param_str(rq, "AssociationId", true, &assoc_id, e)) < 0)
		return r;
	obj_foreach("vpc", rq->region, id, o)
	{
		json_t *p = json_object_get(o, "CidrBlockAssociationSet"), *x;
		size_t k;
		json_array_foreach(p, k, x) if (!strcmp(jstr(x, "AssociationId"), assoc_id))
			return err_set(e, "OperationNotPermitted",
				       "The vpc CIDR block with association ID %s may not be disassociated. It is the primary IPv4 CIDR block of the VPC",
				       assoc_id);
		if ((a = find_assoc(o, "Ipv6CidrBlockAssociationSet", assoc_id, &i)))
			break;
	}
	if (!a)
		return err_set(e, "InvalidVpcCidrBlockAssociationID.NotFound",
			       "The vpc CIDR block association ID '%s' does not exist", assoc_id);
	struct cidr6 block;
	cidr6_parse(jstr(a, "Ipv6CidrBlock"), &block);
	obj_foreach_vpc("subnet", id, sid, s)
	{
		size_t k;
		json_t *x;
		json_array_foreach(json_object_get(s, "Ipv6CidrBlockAssociationSet"), k, x)
		{
			struct cidr6 sc;
			if (cidr6_parse(jstr(x, "Ipv6CidrBlock"), &sc) == 0 && cidr6_contains(&block, &sc))
				return err_set(e, "DependencyViolation",
					       "The vpc CIDR block '%s' has dependencies and cannot be disassociated (subnet %s).",
					       jstr(a, "Ipv6CidrBlock"), sid);
		}
	}
	char vpc_id[ID_MAX];
	snprintf(vpc_id, sizeof(vpc_id), "%s", id);
	json_t *shown = json_deep_copy(a);
	json_object_set_new(json_object_get(shown, "Ipv6CidrBlockState"), "State", json_string("disassociating"));
	/* EC2 keeps a disassociated block listed for a while; vpclab drops it at once. */
	json_array_remove(json_object_get(obj_edit(&rq->txn, vpc_id), "Ipv6CidrBlockAssociationSet"), i);
	txn_touch_vpc(&rq->txn, vpc_id);
	*ret = json_pack("{s:o, s:s}", "Ipv6CidrBlockAssociation", shown, "VpcId", vpc_id);
	return 0;
}

/* A subnet's IPv6 block, checked against the VPC's blocks and its other subnets. */
static int subnet_ipv6_check(const char *vpc_id, const char *self, const char *text, struct err *e)
{
	struct cidr6 c;
	const char *sid;
	json_t *s, *a;
	size_t i;
	bool inside = false;
	if (cidr6_parse(text, &c) < 0)
		return err_set(e, "InvalidParameterValue", "Value (%s) for parameter ipv6CidrBlock is invalid.", text);
	json_array_foreach(json_object_get(obj_get(vpc_id), "Ipv6CidrBlockAssociationSet"), i, a)
	{
		struct cidr6 b;
		if (block_live(a) && cidr6_parse(jstr(a, "Ipv6CidrBlock"), &b) == 0 && cidr6_contains(&b, &c))
			inside = true;
	}
	if (c.len != 64 || !inside)
		return err_set(e, "InvalidSubnet.Range", "The IPv6 CIDR '%s' is invalid.", text);
	obj_foreach_vpc("subnet", vpc_id, sid, s)
	{
		if (self && !strcmp(sid, self))
			continue;
		json_array_foreach(json_object_get(s, "Ipv6CidrBlockAssociationSet"), i, a)
		{
			struct cidr6 o;
			if (cidr6_parse(jstr(a, "Ipv6CidrBlock"), &o) == 0 && cidr6_overlaps(&o, &c))
				return err_set(e, "InvalidSubnet.Conflict",
					       "The CIDR '%s' conflicts with another subnet", text);
		}
	}
	return 0;
}

int subnet_ipv6_validate(const char *vpc_id, const char *text, struct err *e)
{
	return subnet_ipv6_check(vpc_id, NULL, text, e);
}

/* Adds the block (validated) to a subnet being edited in the txn; the association as stored. */
json_t *subnet_add_ipv6_block(struct txn *t, json_t *subnet, const char *text)
{
	struct cidr6 c;
	char assoc[ID_MAX], canon[CIDR6_STRLEN];
	cidr6_parse(text, &c);
	cidr6_format(&c, canon);
	new_id(t, "subnet-cidr-assoc", assoc);
	json_t *a = json_pack("{s:s, s:s, s:{s:s}, s:s, s:s}", "AssociationId", assoc, "Ipv6CidrBlock", canon,
			      "Ipv6CidrBlockState", "State", "associated", "Ipv6AddressAttribute", "public",
			      "IpSource", "amazon");
	json_array_append_new(json_object_get(subnet, "Ipv6CidrBlockAssociationSet"), a);
	return a;
}

/* The subnet's IPv6 block, if it has one. */
bool subnet_ipv6_block(const json_t *subnet, struct cidr6 *ret)
{
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(subnet, "Ipv6CidrBlockAssociationSet"), i, a) if (
		block_live(a) && cidr6_parse(jstr(a, "Ipv6CidrBlock"), ret) == 0) return true;
	return false;
}

static bool eni_has_ipv6(const char *subnet_id, const char *vpc_id)
{
	const char *id;
	json_t *o;
	obj_foreach_vpc("eni", vpc_id, id, o) if (!strcmp(jstr(o, "SubnetId"), subnet_id) &&
						  json_array_size(json_object_get(o, "Ipv6Addresses")))
		return true;
	return false;
}

int h_associate_subnet_cidr_block(struct req *rq, json_t **ret, struct err *e)
{
	const char *sid, *text;
	struct cidr6 have;
	int r;
	if ((r = param_str(rq, "SubnetId", true, &sid, e)) < 0)
		return r;
	if (json_object_get(rq->params, "Ipv6IpamPoolId") || json_object_get(rq->params, "Ipv6NetmaskLength"))
		return err_set(e, "UnsupportedOperation", "IPAM pools are not supported by vpclab");
	if ((r = param_str(rq, "Ipv6CidrBlock", true, &text, e)) < 0)
		return r;
	json_t *s = obj_find(rq, sid, "subnet", e);
	if (!s)
		return -EINVAL;
	if (subnet_ipv6_block(s, &have)) {
		char h[CIDR6_STRLEN];
		cidr6_format(&have, h);
		return err_set(e, "InvalidParameterValue",
			       "The subnet '%s' already has the IPv6 CIDR block '%s' associated", sid, h);
	}
	const char *vpc_id = jstr(s, "VpcId");
	if ((r = subnet_ipv6_check(vpc_id, sid, text, e)) < 0)
		return r;
	json_t *a = subnet_add_ipv6_block(&rq->txn, obj_edit(&rq->txn, sid), text);
	txn_touch_vpc(&rq->txn, vpc_id);
	json_t *shown = json_deep_copy(a);
	json_object_set_new(json_object_get(shown, "Ipv6CidrBlockState"), "State", json_string("associating"));
	*ret = json_pack("{s:o, s:s}", "Ipv6CidrBlockAssociation", shown, "SubnetId", sid);
	return 0;
}

int h_disassociate_subnet_cidr_block(struct req *rq, json_t **ret, struct err *e)
{
	const char *assoc_id, *sid;
	json_t *s, *a = NULL;
	size_t i = 0;
	int r;
	if ((r = param_str(rq, "AssociationId", true, &assoc_id, e)) < 0)
		return r;
	obj_foreach("subnet", rq->region, sid, s) if ((a = find_assoc(s, "Ipv6CidrBlockAssociationSet", assoc_id, &i)))
		break;
	if (!a)
		return err_set(e, "InvalidSubnetCidrBlockAssociationID.NotFound",
			       "The subnet CIDR block association ID '%s' does not exist", assoc_id);
	char id[ID_MAX];
	snprintf(id, sizeof(id), "%s", sid);
	const char *vpc_id = jstr(s, "VpcId");
	if (eni_has_ipv6(id, vpc_id))
		return err_set(e, "DependencyViolation",
			       "The subnet CIDR block '%s' has network interfaces with IPv6 addresses in it and cannot be disassociated.",
			       jstr(a, "Ipv6CidrBlock"));
	json_t *shown = json_deep_copy(a);
	json_object_set_new(json_object_get(shown, "Ipv6CidrBlockState"), "State", json_string("disassociating"));
	s = obj_edit(&rq->txn, id);
	json_array_remove(json_object_get(s, "Ipv6CidrBlockAssociationSet"), i);
	json_object_set_new(s, "AssignIpv6AddressOnCreation", json_false());
	txn_touch_vpc(&rq->txn, jstr(s, "VpcId"));
	*ret = json_pack("{s:o, s:s}", "Ipv6CidrBlockAssociation", shown, "SubnetId", id);
	return 0;
}

/* --- ENI addresses --- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The low 64 bits of every IPv6 address the subnet's ENIs hold, sorted: one pass over the
 * ENIs, so picking an address costs a search per candidate, not a scan (bench/ipv6_control). */
static int subnet_ipv6_used(const char *subnet_id, const char *vpc_id, const struct cidr6 *c, uint64_t **ret,
			    size_t *ret_n)
{
	const char *id;
	json_t *o, *a;
	size_t i, n = 0, cap = 16;
	uint8_t b[16];
	uint64_t *v = malloc(cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	obj_foreach_vpc("eni", vpc_id, id, o)
	{
		if (strcmp(jstr(o, "SubnetId"), subnet_id) != 0)
			continue;
		json_array_foreach(json_object_get(o, "Ipv6Addresses"), i, a)
		{
			if (ip6_parse(jstr(a, "Ipv6Address"), b) < 0 || !cidr6_contains_ip(c, b))
				continue;
			if (n == cap) {
				uint64_t *nv = realloc(v, (cap *= 2) * sizeof(*v));
				if (!nv) {
					free(v);
					return -ENOMEM;
				}
				v = nv;
			}
			v[n++] = ip6_low64(b);
		}
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	*ret = v, *ret_n = n;
	return 0;
}

static bool ipv6_in_use(const uint64_t *used, size_t n, const uint8_t ip[static 16], json_t *also)
{
	uint64_t h = ip6_low64(ip);
	uint8_t b[16];
	size_t i;
	json_t *a;
	if (bsearch(&h, used, n, sizeof(*used), cmp_u64))
		return true;
	json_array_foreach(also, i, a) if (ip6_parse(json_string_value(a), b) == 0 && !memcmp(b, ip, 16)) return true;
	return false;
}

/* The text of one element of an Ipv6Addresses list: a string, or {"Ipv6Address": s}. */
static const char *addr_text(json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : jstr(v, "Ipv6Address");
}

/* Picks or checks the addresses for an ENI in `subnet`: `count` new ones (lowest free from ::4)
 * or the given list. On success *ret is a new array of canonical address strings. Changes
 * nothing. */
int eni_ipv6_choose(json_t *subnet, json_t *eni, long long count, json_t *given, json_t **ret, struct err *e)
{
	struct cidr6 c;
	const char *sid = jstr(subnet, "SubnetId"), *vpc_id = jstr(subnet, "VpcId");
	size_t have = json_array_size(json_object_get(eni, "Ipv6Addresses")), i;
	json_t *v;
	if (count > 0 && json_array_size(given))
		return err_set(e, "InvalidParameterCombination",
			       "You may specify Ipv6AddressCount or specific Ipv6Addresses, but not both");
	if (count < 0)
		return err_set(e, "InvalidParameterValue", "Value (%lld) for parameter ipv6AddressCount is invalid.", count);
	size_t want = count > 0 ? (size_t)count : json_array_size(given);
	if (want == 0)
		return err_set(e, "MissingParameter", "Either Ipv6AddressCount or Ipv6Addresses must be specified");
	if (!subnet_ipv6_block(subnet, &c))
		return err_set(e, "InvalidParameterValue",
			       "The subnet '%s' has no IPv6 CIDR block: IPv6 addresses cannot be assigned in it", sid);
	if (have + want > ENI_IPV6_MAX)
		return err_set(e, "InvalidParameterValue",
			       "The number of IPv6 addresses (%zu) exceeds the limit of %d for a network interface",
			       have + want, ENI_IPV6_MAX);
	_cleanup_json_ json_t *out = json_array();
	_cleanup_free_ uint64_t *used = NULL;
	size_t nused = 0;
	char text[IP6_STRLEN];
	uint8_t a[16];
	if (subnet_ipv6_used(sid, vpc_id, &c, &used, &nused) < 0)
		return err_set(e, "InternalError", "out of memory");
	json_array_foreach(given, i, v)
	{
		const char *t = addr_text(v);
		if (ip6_parse(t, a) < 0)
			return err_set(e, "InvalidParameterValue", "Value (%s) for parameter ipv6Addresses is invalid.", t);
		if (!cidr6_contains_ip(&c, a))
			return err_set(e, "InvalidParameterValue",
				       "Address %s does not fall within the subnet's address range", t);
		if (subnet6_ip_reserved(&c, a))
			return err_set(e, "InvalidParameterValue", "Address %s is in subnet's reserved address range", t);
		if (ipv6_in_use(used, nused, a, out))
			return err_set(e, "InvalidIPAddress.InUse", "The specified address '%s' is already in use.", t);
		ip6_format(a, text);
		json_array_append_new(out, json_string(text));
	}
	for (uint64_t h = 4; json_array_size(out) < want && h < 4 + 65536; h++) {
		cidr6_host(&c, h, a);
		if (ipv6_in_use(used, nused, a, out))
			continue;
		ip6_format(a, text);
		json_array_append_new(out, json_string(text));
	}
	if (json_array_size(out) < want)
		return err_set(e, "InsufficientFreeAddressesInSubnet",
			       "There are not enough free IPv6 addresses in subnet '%s'", sid);
	*ret = TAKE_PTR(out);
	return 0;
}

void eni_ipv6_add(json_t *eni, json_t *addrs)
{
	json_t *list = json_object_get(eni, "Ipv6Addresses"), *v;
	size_t i;
	if (!list) {
		list = json_array();
		json_object_set_new(eni, "Ipv6Addresses", list);
	}
	json_array_foreach(addrs, i, v)
		json_array_append_new(list, json_pack("{s:O, s:b}", "Ipv6Address", v, "IsPrimaryIpv6", 0));
}

int h_assign_ipv6_addresses(struct req *rq, json_t **ret, struct err *e)
{
	const char *id;
	long long count;
	int r;
	if ((r = param_str(rq, "NetworkInterfaceId", true, &id, e)) < 0 ||
	    (r = param_int(rq, "Ipv6AddressCount", 0, &count, e)) < 0)
		return r;
	if (json_object_get(rq->params, "Ipv6Prefixes") || json_object_get(rq->params, "Ipv6PrefixCount"))
		return err_set(e, "UnsupportedOperation", "IPv6 prefix delegation is not supported by vpclab");
	json_t *eni = obj_find(rq, id, "eni", e);
	if (!eni)
		return -EINVAL;
	_cleanup_json_ json_t *given = param_list(rq->params, "Ipv6Addresses"), *addrs = NULL;
	if ((r = eni_ipv6_choose(obj_get(jstr(eni, "SubnetId")), eni, count, given, &addrs, e)) < 0)
		return r;
	eni = obj_edit(&rq->txn, id);
	eni_ipv6_add(eni, addrs);
	txn_touch_vpc(&rq->txn, jstr(eni, "VpcId"));
	*ret = json_pack("{s:O, s:s, s:[]}", "AssignedIpv6Addresses", addrs, "NetworkInterfaceId", id,
			 "AssignedIpv6Prefixes");
	return 0;
}

int h_unassign_ipv6_addresses(struct req *rq, json_t **ret, struct err *e)
{
	const char *id;
	int r;
	if ((r = param_str(rq, "NetworkInterfaceId", true, &id, e)) < 0)
		return r;
	if (json_object_get(rq->params, "Ipv6Prefixes"))
		return err_set(e, "UnsupportedOperation", "IPv6 prefix delegation is not supported by vpclab");
	json_t *eni = obj_find(rq, id, "eni", e);
	if (!eni)
		return -EINVAL;
	_cleanup_json_ json_t *given = param_list(rq->params, "Ipv6Addresses");
	if (json_array_size(given) == 0)
		return err_set(e, "MissingParameter", "The request must contain the parameter ipv6Addresses");
	_cleanup_json_ json_t *keep = json_deep_copy(json_object_get(eni, "Ipv6Addresses")), *gone = json_array();
	if (!keep)
		keep = json_array();
	size_t i, k;
	json_t *v, *a;
	json_array_foreach(given, i, v)
	{
		uint8_t want[16], b[16];
		const char *t = addr_text(v);
		bool found = false;
		if (ip6_parse(t, want) < 0)
			return err_set(e, "InvalidParameterValue", "Value (%s) for parameter ipv6Addresses is invalid.", t);
		json_array_foreach(keep, k, a) if (ip6_parse(jstr(a, "Ipv6Address"), b) == 0 && !memcmp(b, want, 16))
		{
			json_array_append(gone, json_object_get(a, "Ipv6Address"));
			json_array_remove(keep, k);
			found = true;
			break;
		}
		if (!found)
			return err_set(e, "InvalidParameterValue",
				       "The address '%s' is not assigned to the network interface '%s'", t, id);
	}
	eni = obj_edit(&rq->txn, id);
	json_object_set(eni, "Ipv6Addresses", keep);
	txn_touch_vpc(&rq->txn, jstr(eni, "VpcId"));
	*ret = json_pack("{s:s, s:O, s:[]}", "NetworkInterfaceId", id, "UnassignedIpv6Addresses", gone,
			 "UnassignedIpv6Prefixes");
	return 0;
}

/* --- egress-only internet gateways (model only so far: docs/ipv6.md) --- */

static const struct filter_map eigw_filters[] = {
	{"egress-only-internet-gateway-id", "EgressOnlyInternetGatewayId"},
	{"attachment.state", "Attachments.State"},
	{"attachment.vpc-id", "Attachments.VpcId"},
	{NULL, NULL}};

json_t *vpc_eigw(const char *vpc_id)
{
	const char *id;
	json_t *o;
	obj_foreach("eigw", NULL, id, o) if (!strcmp(jstr(json_array_get(json_object_get(o, "Attachments"), 0), "VpcId"),
						   vpc_id)) return o;
	return NULL;
}

int h_create_egress_only_internet_gateway(struct req *rq, json_t **ret, struct err *e)
{
	const char *vpc_id, *token;
	_cleanup_json_ json_t *tags = NULL;
	char id[ID_MAX];
	int r;
	if ((r = param_str(rq, "VpcId", true, &vpc_id, e)) < 0 || (r = param_str(rq, "ClientToken", false, &token, e)) < 0)
		return r;
	if (!obj_find(rq, vpc_id, "vpc", e))
		return -EINVAL;
	if ((r = param_tags(rq, "egress-only-internet-gateway", &tags, e)) < 0)
		return r;
	new_id(&rq->txn, "eigw", id);
	obj_put(&rq->txn, id,
		json_pack("{s:s, s:s, s:[{s:s, s:s}], s:s, s:O}", "_type", "eigw", "_region", rq->region, "Attachments",
			  "State", "attached", "VpcId", vpc_id, "EgressOnlyInternetGatewayId", id, "Tags", tags));
	txn_touch_vpc(&rq->txn, vpc_id);
	*ret = json_pack("{s:o, s:s*}", "EgressOnlyInternetGateway", obj_public(obj_get(id)), "ClientToken", token);
	return 0;
}

int h_describe_egress_only_internet_gateways(struct req *rq, json_t **ret, struct err *e)
{
	json_t *list, *token = NULL;
	int r = describe(rq, "eigw", "EgressOnlyInternetGatewayIds", "EgressOnlyInternetGatewayId",
			 "InvalidEgressOnlyInternetGatewayId.NotFound", "egress-only internet gateway ID", eigw_filters,
			 NULL, &list, &token, e);
	if (r < 0)
		return r;
	*ret = json_pack("{s:o, s:o*}", "EgressOnlyInternetGateways", list, "NextToken", token);
	return 0;
}

int h_delete_egress_only_internet_gateway(struct req *rq, json_t **ret, struct err *e)
{
	const char *id;
	int r;
	if ((r = param_str(rq, "EgressOnlyInternetGatewayId", true, &id, e)) < 0)
		return r;
	json_t *g = obj_find(rq, id, "eigw", e);
	if (!g)
		return -EINVAL;
	txn_touch_vpc(&rq->txn, jstr(json_array_get(json_object_get(g, "Attachments"), 0), "VpcId"));
	obj_del(&rq->txn, id);
	*ret = json_pack("{s:b}", "ReturnCode", 1);
	return 0;
}
