#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "vpcd.h"

static const struct filter_map subnet_filters[] = {
	{"subnet-id", "SubnetId"},
	{"subnet-arn", "SubnetArn"},
	{"vpc-id", "VpcId"},
	{"availability-zone", "AvailabilityZone"},
	{"availabilityZone", "AvailabilityZone"},
	{"availability-zone-id", "AvailabilityZoneId"},
	{"cidr", "CidrBlock"},
	{"cidr-block", "CidrBlock"},
	{"cidrBlock", "CidrBlock"},
	{"state", "State"},
	{"default-for-az", "DefaultForAz"},
	{"defaultForAz", "DefaultForAz"},
	{"map-public-ip-on-launch", "MapPublicIpOnLaunch"},
	{"available-ip-address-count", "AvailableIpAddressCount"},
	{"owner-id", "OwnerId"},
	{"ipv6-cidr-block-association.ipv6-cidr-block", "Ipv6CidrBlockAssociationSet.Ipv6CidrBlock"},
	{"ipv6-cidr-block-association.association-id", "Ipv6CidrBlockAssociationSet.AssociationId"},
	{"ipv6-cidr-block-association.state", "Ipv6CidrBlockAssociationSet.Ipv6CidrBlockState.State"},
	{"assign-ipv6-address-on-creation", "AssignIpv6AddressOnCreation"},
	{"ipv6-native", "Ipv6Native"},
	{NULL, NULL}};

static void subnet_decorate(json_t *pub, json_t *o)
{
	struct cidr c;
	size_t n = 0;
	_cleanup_free_ uint32_t *used = NULL;
	if (cidr_parse(jstr(o, "CidrBlock"), &c) < 0)
		return;
	eni_used_ips(jstr(o, "SubnetId"), &used, &n);
	json_object_set_new(pub, "AvailableIpAddressCount",
			    json_integer((json_int_t)(subnet_usable(&c) - n)));
}

int subnet_create_obj(struct req *rq, const char *vpc_id, const char *cidr_text, const char *az,
		      bool is_default, json_t *tags, char ret_id[static ID_MAX], struct err *e)
{
	char id[ID_MAX], arn[128], br[16], zid[16];
	(void)e;
	new_id(&rq->txn, "subnet", id);
	name_bridge(id, br);
	snprintf(arn, sizeof(arn), "arn:aws:ec2:%s:%s:subnet/%s", rq->region, OWNER_ID, id);
	json_t *s = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:b, s:b, s:b, s:s, s:s, s:b, s:[], s:s, s:s, s:b, s:b, s:{s:s, s:b, s:b}, s:o}",
		"_type", "subnet", "_region", rq->region, "_bridge", br, "AvailabilityZone", az,
		"AvailabilityZoneId", zone_id(az, zid), "CidrBlock", cidr_text,
		"AvailableIpAddressCount", 0, "State", "available", "DefaultForAz", is_default,
		"MapPublicIpOnLaunch", is_default, "MapCustomerOwnedIpOnLaunch", 0, "SubnetId", id,
		"VpcId", vpc_id, "AssignIpv6AddressOnCreation", 0, "Ipv6CidrBlockAssociationSet",
		"OwnerId", OWNER_ID, "SubnetArn", arn, "EnableDns64", 0, "Ipv6Native", 0,
		"PrivateDnsNameOptionsOnLaunch", "HostnameType", "ip-name",
		"EnableResourceNameDnsARecord", 0, "EnableResourceNameDnsAAAARecord", 0, "Tags",
		tags ? json_incref(tags) : json_array());
	json_object_del(s, "AvailableIpAddressCount"); /* derived on output */
	obj_put(&rq->txn, id, s);
	acl_associate_default(&rq->txn, vpc_id, id);
	txn_touch_vpc(&rq->txn, vpc_id);
	snprintf(ret_id, ID_MAX, "%s", id);
	return 0;
}

int h_create_subnet(struct req *rq, json_t **ret, struct err *e)
{
	const char *vpc_id, *text, *az, *azid, *id, *v6;
	int native;
	struct cidr c, vc;
	_cleanup_json_ json_t *tags = NULL;
	const struct region_def *rd = region_find(rq->region);
	char sid[ID_MAX], zid[16];
	json_t *vpc, *o;
	int r;

	param_bool(rq, "Ipv6Native", &native);
	if (native > 0)
		return err_set(e, "UnsupportedOperation", "IPv6-only subnets (Ipv6Native) are not supported by vpclab yet");
	if ((r = param_str(rq, "VpcId", true, &vpc_id, e)) < 0 ||
	    (r = param_cidr(rq, "CidrBlock", &c, &text, e)) < 0 ||
	    (r = param_str(rq, "AvailabilityZone", false, &az, e)) < 0 ||
	    (r = param_str(rq, "AvailabilityZoneId", false, &azid, e)) < 0 ||
	    (r = param_str(rq, "Ipv6CidrBlock", false, &v6, e)) < 0)
		return r;
	if (json_object_get(rq->params, "Ipv6IpamPoolId") || json_object_get(rq->params, "Ipv4IpamPoolId"))
		return err_set(e, "UnsupportedOperation", "IPAM pools are not supported by vpclab");
	vpc = obj_find(rq, vpc_id, "vpc", e);
	if (!vpc)
		return -EINVAL;
	if (v6 && (r = subnet_ipv6_validate(vpc_id, v6, e)) < 0)
		return r;
	cidr_parse(jstr(vpc, "CidrBlock"), &vc);
	if (c.len < 16 || c.len > 28 || !cidr_contains(&vc, &c))
		return err_set(e, "InvalidSubnet.Range", "The CIDR '%s' is invalid.", text);
	obj_foreach_vpc("subnet", vpc_id, id, o)
	{
		struct cidr oc;
		if (strcmp(jstr(o, "VpcId"), vpc_id) != 0 || cidr_parse(jstr(o, "CidrBlock"), &oc) < 0)
			continue;
		if (cidr_overlaps(&c, &oc))
			return err_set(e, "InvalidSubnet.Conflict",
				       "The CIDR '%s' conflicts with another subnet", text);
	}
	if (az && azid)
		return err_set(e, "InvalidParameterCombination",
			       "Only one of availabilityZone and availabilityZoneId may be given");
	const char *zone = NULL;
	for (int z = 0; z < rd->nzones; z++) {
		if ((az && strcmp(az, rd->zones[z]) == 0) ||
		    (azid && strcmp(azid, zone_id(rd->zones[z], zid)) == 0))
			zone = rd->zones[z];
	}
	if ((az || azid) && !zone) {
		char list[512] = "";
		for (int z = 0; z < rd->nzones; z++) {
			size_t m = strlen(list);
			snprintf(list + m, sizeof(list) - m, "%s%s", z ? ", " : "", rd->zones[z]);
		}
		return err_set(e, "InvalidParameterValue",
			       "Value (%s) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: %s.",
			       az ? az : azid, list);
	}
	if (!zone) {
		/* Spread subnets over zones in order, as a deterministic stand-in for AWS's pick. */
		int n = 0;
		obj_foreach_vpc("subnet", vpc_id, id, o) n += strcmp(jstr(o, "VpcId"), vpc_id) == 0;
		zone = rd->zones[n % rd->nzones];
	}
	if ((r = param_tags(rq, "subnet", &tags, e)) < 0)
		return r;
	if ((r = subnet_create_obj(rq, vpc_id, text, zone, false, tags, sid, e)) < 0)
		return r;
	if (v6)
		subnet_add_ipv6_block(&rq->txn, obj_get(sid), v6);
	json_t *pub = obj_public(obj_get(sid));
	subnet_decorate(pub, obj_get(sid));
	*ret = json_pack("{s:o}", "Subnet", pub);
	return 0;
}

int h_describe_subnets(struct req *rq, json_t **ret, struct err *e)
{
	json_t *list, *token = NULL;
	int r = describe(rq, "subnet", "SubnetIds", "SubnetId", "InvalidSubnetID.NotFound",
			 "subnet ID", subnet_filters, subnet_decorate, &list, &token, e);
	if (r < 0)
		return r;
	*ret = json_pack("{s:o, s:o*}", "Subnets", list, "NextToken", token);
	return 0;
}

int h_delete_subnet(struct req *rq, json_t **ret, struct err *e)
{
	const char *sid, *id;
	json_t *s, *o;
	int r;
	if ((r = param_str(rq, "SubnetId", true, &sid, e)) < 0)
		return r;
	s = obj_find(rq, sid, "subnet", e);
	if (!s)
		return -EINVAL;
	json_object_foreach(store_objects(V->store), id, o)
	{
		/* A deleted NAT gateway stays listed (state deleted) for a while, as in EC2, but
		 * no longer holds its subnet. */
		if (strcmp(jstr(o, "SubnetId"), sid) == 0 && o != s && strcmp(jstr(o, "State"), "deleted") != 0)
			return err_set(e, "DependencyViolation",
				       "The subnet '%s' has dependencies and cannot be deleted.", sid);
	}
	/* Explicit route table associations go with the subnet. */
	obj_foreach_vpc("rtb", jstr(s, "VpcId"), id, o)
	{
		json_t *assocs = json_object_get(o, "Associations"), *a;
		size_t i;
		json_array_foreach(assocs, i, a) if (strcmp(jstr(a, "SubnetId"), sid) == 0)
		{
			json_t *rt = obj_edit(&rq->txn, id);
			json_array_remove(json_object_get(rt, "Associations"), i);
			break;
		}
	}
	acl_disassociate(&rq->txn, sid);
	/* Its faults go with it (an FIS experiment's target gone), rather than refusing. */
	fault_clear_target(&rq->txn, sid);
	flowlog_clear_target(&rq->txn, sid);
	txn_touch_vpc(&rq->txn, jstr(s, "VpcId"));
	obj_del(&rq->txn, sid);
	*ret = json_object();
	return 0;
}

/* Subnet attributes. MapPublicIpOnLaunch is what instances launched into the subnet get (an
 * automatic public address on their ENI); vpclab takes the others AWS knows only to refuse
 * them clearly. */
int h_modify_subnet_attribute(struct req *rq, json_t **ret, struct err *e)
{
	const char *sid;
	int map, v6, r;
	if ((r = param_str(rq, "SubnetId", true, &sid, e)) < 0)
		return r;
	json_t *s = obj_find(rq, sid, "subnet", e);
	if (!s)
		return -EINVAL;
	param_bool(rq, "MapPublicIpOnLaunch", &map);
	param_bool(rq, "AssignIpv6AddressOnCreation", &v6);
	static const char *const other[] = {"MapCustomerOwnedIpOnLaunch",
					    "EnableDns64", "PrivateDnsHostnameTypeOnLaunch",
					    "EnableResourceNameDnsARecordOnLaunch", "EnableLniAtDeviceIndex"};
	for (size_t i = 0; i < ARRAY_SIZE(other); i++)
		if (json_object_get(rq->params, other[i]))
			return err_set(e, "UnsupportedOperation", "The attribute %s is not supported by vpclab",
				       other[i]);
	if ((map < 0) == (v6 < 0))
		return err_set(e, "MissingParameter", "The request must contain exactly one attribute to modify");
	struct cidr6 block;
	if (v6 > 0 && !subnet_ipv6_block(s, &block))
		return err_set(e, "InvalidParameterValue",
			       "The subnet '%s' has no IPv6 CIDR block: AssignIpv6AddressOnCreation cannot be set", sid);
	s = obj_edit(&rq->txn, sid);
	if (map >= 0)
		json_object_set_new(s, "MapPublicIpOnLaunch", json_boolean(map));
	else
		json_object_set_new(s, "AssignIpv6AddressOnCreation", json_boolean(v6));
	*ret = json_object();
	return 0;
}
