/* Internet gateways and elastic IPs: the model and the EC2 verbs. The kernel side is in
 * sync.c (the gateway link and routes), firewall.c (1:1 NAT maps) and internet.c (the region's
 * routes to public addresses). */
#include <stdio.h>
#include <string.h>
#include "cleanup.h"
#include "vpcd.h"



static const struct filter_map igw_filters[] = {
	{"internet-gateway-id", "InternetGatewayId"},
	{"attachment.vpc-id", "Attachments.VpcId"},
	{"attachment.state", "Attachments.State"},
	{"owner-id", "OwnerId"},
	{NULL, NULL}};

static const struct filter_map eip_filters[] = {
	{"allocation-id", "AllocationId"},
	{"association-id", "AssociationId"},
	{"domain", "Domain"},
	{"network-interface-id", "NetworkInterfaceId"},
	{"network-interface-owner-id", "NetworkInterfaceOwnerId"},
	{"private-ip-address", "PrivateIpAddress"},
	{"public-ip", "PublicIp"},
	{"network-border-group", "NetworkBorderGroup"},
	{"instance-id", "InstanceId"},
	{NULL, NULL}};

/* An address mapped to an instance's ENI shows the instance, as EC2 shows it. */
static void eip_decorate(json_t *pub, json_t *o)
{
	const char *eni = jstr(o, "NetworkInterfaceId");
	const char *inst = *eni ? jstr(json_object_get(obj_get(eni), "Attachment"), "InstanceId") : "";
	if (*inst)
		json_object_set_new(pub, "InstanceId", json_string(inst));
}

const char *igw_vpc(json_t *igw) { return jstr(json_array_get(json_object_get(igw, "Attachments"), 0), "VpcId"); }

json_t *vpc_igw(const char *vpc_id)
{
	const char *id;
	json_t *o;
	obj_foreach("igw", NULL, id, o) if (!strcmp(igw_vpc(o), vpc_id)) return o;
	return NULL;
}

static bool vpc_has_public(const char *vpc_id)
{
	const char *id;
	json_t *o;
	obj_foreach_vpc("eni", vpc_id, id, o) if (!strcmp(jstr(o, "VpcId"), vpc_id) &&
					    json_object_get(o, "Association")) return true;
	return false;
}

void igw_create_obj(struct req *rq, json_t *tags, const char *vpc_id, char ret_id[ID_MAX])
{
	json_t *att = json_array();
	new_id(&rq->txn, "igw", ret_id);
	if (vpc_id) {
		json_array_append_new(att, json_pack("{s:s, s:s}", "State", "available", "VpcId", vpc_id));
		txn_touch_vpc(&rq->txn, vpc_id);
		txn_touch_region(&rq->txn, rq->region);
	}
	obj_put(&rq->txn, ret_id,
		json_pack("{s:s, s:s, s:o, s:s, s:s, s:o}", "_type", "igw", "_region", rq->region,
			  "Attachments", att, "InternetGatewayId", ret_id, "OwnerId", OWNER_ID,
			  "Tags", tags ? json_incref(tags) : json_array()));
}

int h_create_internet_gateway(struct req *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *tags = NULL;
	char id[ID_MAX];
	int r;
	if ((r = param_tags(rq, "internet-gateway", &tags, e)) < 0)
		return r;
	igw_create_obj(rq, tags, NULL, id);
	*ret = json_pack("{s:o}", "InternetGateway", obj_public(obj_get(id)));
	return 0;
}

int h_describe_internet_gateways(struct req *rq, json_t **ret, struct err *e)
{
	json_t *list, *token = NULL;
	int r = describe(rq, "igw", "InternetGatewayIds", "InternetGatewayId",
			 "InvalidInternetGatewayID.NotFound", "internetGateway ID", igw_filters, NULL,
			 &list, &token, e);
	if (r < 0)
		return r;
	*ret = json_pack("{s:o, s:o*}", "InternetGateways", list, "NextToken", token);
	return 0;
}

static int igw_vpc_params(struct req *rq, json_t **ret_igw, json_t **ret_vpc, struct err *e)
{
	const char *gid, *vid;
	int r;
	if ((r = param_str(rq, "InternetGatewayId", true, &gid, e)) < 0 ||
	    (r = param_str(rq, "VpcId", true, &vid, e)) < 0)
		return r;
	if (!(*ret_igw = obj_find(rq, gid, "igw", e)))
		return -EINVAL;
	if (!(*ret_vpc = obj_find(rq, vid, "vpc", e)))
		return -EINVAL;
	return 0;
}

int h_attach_internet_gateway(struct req *rq, json_t **ret, struct err *e)
{
	json_t *igw, *vpc;
	int r = igw_vpc_params(rq, &igw, &vpc, e);
	if (r < 0)
		return r;
	const char *gid = jstr(igw, "InternetGatewayId"), *vid = jstr(vpc, "VpcId");
	if (*igw_vpc(igw))
		return err_set(e, "Resource.AlreadyAssociated",
			       "resource %s is already attached to network %s", gid, igw_vpc(igw));
	json_t *other = vpc_igw(vid);
	if (other)
		return err_set(e, "Resource.AlreadyAssociated",
			       "network %s already has an internet gateway attached (%s)", vid,
			       jstr(other, "InternetGatewayId"));
	igw = obj_edit(&rq->txn, gid);
	json_array_append_new(json_object_get(igw, "Attachments"),
			      json_pack("{s:s, s:s}", "State", "available", "VpcId", vid));
	txn_touch_vpc(&rq->txn, vid);
	txn_touch_region(&rq->txn, rq->region);
	*ret = json_object();
	return 0;
}

int h_detach_internet_gateway(struct req *rq, json_t **ret, struct err *e)
{
	json_t *igw, *vpc;
	int r = igw_vpc_params(rq, &igw, &vpc, e);
	if (r < 0)
		return r;
	const char *gid = jstr(igw, "InternetGatewayId"), *vid = jstr(vpc, "VpcId");
	if (strcmp(igw_vpc(igw), vid) != 0)
		return err_set(e, "Gateway.NotAttached", "resource %s is not attached to network %s", gid, vid);
	if (vpc_has_public(vid))
		return err_set(e, "DependencyViolation",
			       "Network %s has some mapped public address(es). Please unmap those public address(es) before detaching the gateway.",
			       vid);
	igw = obj_edit(&rq->txn, gid);
	json_array_clear(json_object_get(igw, "Attachments"));
	txn_touch_vpc(&rq->txn, vid);
	txn_touch_region(&rq->txn, rq->region);
	*ret = json_object();
	return 0;
}

int h_delete_internet_gateway(struct req *rq, json_t **ret, struct err *e)
{
	const char *gid;
	int r;
	if ((r = param_str(rq, "InternetGatewayId", true, &gid, e)) < 0)
		return r;
	json_t *igw = obj_find(rq, gid, "igw", e);
	if (!igw)
		return -EINVAL;
	if (*igw_vpc(igw))
		return err_set(e, "DependencyViolation",
			       "The internetGateway '%s' has dependencies and cannot be deleted.", gid);
	obj_del(&rq->txn, gid);
	*ret = json_object();
	return 0;
}

/* Lowest free public address of the region's pool, past the reserved ones. */
static int pool_pick(struct req *rq, char buf[static IP_STRLEN], struct err *e)
{
	struct cidr pool;
	char scope[64];
	uint32_t a;
	if (region_pool(rq->region, &pool) < 0)
		return err_set(e, "InsufficientAddressCapacity", "There is no public address pool for %s", rq->region);
	snprintf(scope, sizeof(scope), "region:%s", rq->region);
	if (addr_pick(&rq->txn, scope, pool.addr + POOL_RESERVED, cidr_last(&pool) - 1, &a) < 0)
		return err_set(e, "AddressLimitExceeded", "The public address pool of %s is exhausted", rq->region);
	ip_format(a, buf);
	return 0;
}

static void public_dns(const char *region, const char *ip, char *buf, size_t n)
{
	char d[IP_STRLEN];
	snprintf(d, sizeof(d), "%s", ip);
	for (char *p = d; *p; p++)
		if (*p == '.')
			*p = '-';
	if (!strcmp(region, "us-east-1"))
		snprintf(buf, n, "ec2-%s.compute-1.amazonaws.com", d);
	else
		snprintf(buf, n, "ec2-%s.%s.compute.amazonaws.com", d, region);
}

/* Gives an ENI an automatic public address (MapPublicIpOnLaunch, AssociatePublicIpAddress). */
int eni_assign_public(struct req *rq, json_t *eni, struct err *e)
{
	char ip[IP_STRLEN], dns[96];
	int r = pool_pick(rq, ip, e);
	if (r < 0)
		return r;
	public_dns(rq->region, ip, dns, sizeof(dns));
	json_object_set_new(eni, "Association", json_pack("{s:s, s:s, s:s}", "IpOwnerId", "amazon",
							   "PublicDnsName", dns, "PublicIp", ip));
	return 0;
}

int h_allocate_address(struct req *rq, json_t **ret, struct err *e)
{
	const char *domain;
	_cleanup_json_ json_t *tags = NULL;
	char id[ID_MAX], ip[IP_STRLEN];
	int r;
	if ((r = param_str(rq, "Domain", false, &domain, e)) < 0)
		return r;
	if (domain && strcmp(domain, "vpc") != 0)
		return err_set(e, "InvalidParameterValue", "Value (%s) for parameter domain is invalid.", domain);
	if (json_object_get(rq->params, "Address") || json_object_get(rq->params, "PublicIpv4Pool"))
		return err_set(e, "UnsupportedOperation", "vpclab allocates addresses from its own pool only");
	if ((r = param_tags(rq, "elastic-ip", &tags, e)) < 0 || (r = pool_pick(rq, ip, e)) < 0)
		return r;
	new_id(&rq->txn, "eipalloc", id);
	json_t *eip = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "_type", "eip", "_region",
				rq->region, "PublicIp", ip, "AllocationId", id, "PublicIpv4Pool", "amazon",
				"NetworkBorderGroup", rq->region, "Domain", "vpc", "Tags", tags);
	obj_put(&rq->txn, id, eip);
	*ret = json_pack("{s:s, s:s, s:s, s:s, s:s}", "PublicIp", ip, "AllocationId", id,
			 "PublicIpv4Pool", "amazon", "NetworkBorderGroup", rq->region, "Domain", "vpc");
	return 0;
}

int h_describe_addresses(struct req *rq, json_t **ret, struct err *e)
{
	json_t *list;
	_cleanup_json_ json_t *ips = param_list(rq->params, "PublicIps");
	int r = describe(rq, "eip", "AllocationIds", "AllocationId", "InvalidAllocationID.NotFound",
			 "allocation ID", eip_filters, eip_decorate, &list, NULL, e);
	if (r < 0)
		return r;
	if (json_array_size(ips)) {
		json_t *kept = json_array(), *a, *p;
		size_t i, j;
		json_array_foreach(ips, j, p)
		{
			bool found = false;
			json_array_foreach(list, i, a) if (!strcmp(jstr(a, "PublicIp"), json_string_value(p) ?: ""))
			{
				json_array_append(kept, a);
				found = true;
			}
			if (!found) {
				json_decref(kept), json_decref(list);
				return err_set(e, "InvalidAddress.NotFound", "Address '%s' not found.",
					       json_string_value(p) ?: "");
			}
		}
		json_decref(list);
		list = kept;
	}
	*ret = json_pack("{s:o}", "Addresses", list);
	return 0;
}

static void eip_unmap(struct req *rq, json_t *eip)
{
	const char *eni_id = jstr(eip, "NetworkInterfaceId");
	json_t *eni = *eni_id ? obj_edit(&rq->txn, eni_id) : NULL;
	if (eni) {
		json_object_del(eni, "Association");
		txn_touch_vpc(&rq->txn, jstr(eni, "VpcId"));
	}
	eip = obj_edit(&rq->txn, jstr(eip, "AllocationId"));
	static const char *const keys[] = {"AssociationId", "NetworkInterfaceId", "NetworkInterfaceOwnerId",
					   "PrivateIpAddress", "InstanceId"};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		json_object_del(eip, keys[i]);
	txn_touch_region(&rq->txn, rq->region);
}

int h_associate_address(struct req *rq, json_t **ret, struct err *e)
{
	const char *alloc, *eni_id, *pip, *inst, *pubip;
	int allow = 0, r;
	char assoc[ID_MAX], dns[96];
	if ((r = param_str(rq, "AllocationId", false, &alloc, e)) < 0 ||
	    (r = param_str(rq, "PublicIp", false, &pubip, e)) < 0 ||
	    (r = param_str(rq, "NetworkInterfaceId", false, &eni_id, e)) < 0 ||
	    (r = param_str(rq, "PrivateIpAddress", false, &pip, e)) < 0 ||
	    (r = param_str(rq, "InstanceId", false, &inst, e)) < 0)
		return r;
	param_bool(rq, "AllowReassociation", &allow);
	if (inst)
		return err_set(e, "UnsupportedOperation", "Associate by --network-interface-id; instances arrive with ec2d");
	if (!alloc && pubip) {
		const char *id;
		json_t *o;
		obj_foreach("eip", rq->region, id, o) if (!strcmp(jstr(o, "PublicIp"), pubip)) alloc = id;
		if (!alloc)
			return err_set(e, "InvalidAddress.NotFound", "Address '%s' not found.", pubip);
	}
	if (!alloc)
		return err_set(e, "MissingParameter", "The request must contain the parameter allocationId");
	if (!eni_id)
		return err_set(e, "MissingParameter", "The request must contain the parameter networkInterfaceId");
	json_t *eip = obj_find(rq, alloc, "eip", e);
	if (!eip)
		return -EINVAL;
	json_t *eni = obj_find(rq, eni_id, "eni", e);
	if (!eni)
		return -EINVAL;
	if (pip && strcmp(pip, jstr(eni, "PrivateIpAddress")) != 0)
		return err_set(e, "InvalidParameterValue",
			       "The private IP address %s is not assigned to interface %s", pip, eni_id);
	if (!vpc_igw(jstr(eni, "VpcId")))
		return err_set(e, "Gateway.NotAttached", "Network %s is not attached to any internet gateway",
			       jstr(eni, "VpcId"));
	bool same = !strcmp(jstr(eip, "NetworkInterfaceId"), eni_id);
	if (*jstr(eip, "AssociationId") && !same && allow <= 0)
		return err_set(e, "Resource.AlreadyAssociated",
			       "resource %s is already associated with associate-id %s", alloc,
			       jstr(eip, "AssociationId"));
	json_t *has = json_object_get(eni, "Association");
	if (has && *jstr(has, "AllocationId") && !same && allow <= 0)
		return err_set(e, "Resource.AlreadyAssociated",
			       "interface %s already has the elastic IP %s associated", eni_id, jstr(has, "PublicIp"));
	/* Unmap the address from its old interface and the interface's old address, then map. */
	if (*jstr(eip, "AssociationId"))
		eip_unmap(rq, eip);
	if (has && *jstr(has, "AllocationId") && !same)
		eip_unmap(rq, obj_get(jstr(has, "AllocationId")));
	new_id(&rq->txn, "eipassoc", assoc);
	eip = obj_edit(&rq->txn, alloc);
	json_object_set_new(eip, "AssociationId", json_string(assoc));
	json_object_set_new(eip, "NetworkInterfaceId", json_string(eni_id));
	json_object_set_new(eip, "NetworkInterfaceOwnerId", json_string(OWNER_ID));
	json_object_set_new(eip, "PrivateIpAddress", json_string(jstr(eni, "PrivateIpAddress")));
	eni = obj_edit(&rq->txn, eni_id);
	public_dns(rq->region, jstr(eip, "PublicIp"), dns, sizeof(dns));
	json_object_set_new(eni, "Association",
			    json_pack("{s:s, s:s, s:s, s:s, s:s}", "IpOwnerId", OWNER_ID, "PublicDnsName", dns,
				      "PublicIp", jstr(eip, "PublicIp"), "AllocationId", alloc,
				      "AssociationId", assoc));
	txn_touch_vpc(&rq->txn, jstr(eni, "VpcId"));
	txn_touch_region(&rq->txn, rq->region);
	*ret = json_pack("{s:s}", "AssociationId", assoc);
	return 0;
}

int h_disassociate_address(struct req *rq, json_t **ret, struct err *e)
{
	const char *assoc, *id;
	json_t *o, *eip = NULL;
	int r;
	if ((r = param_str(rq, "AssociationId", true, &assoc, e)) < 0)
		return r;
	obj_foreach("eip", rq->region, id, o) if (!strcmp(jstr(o, "AssociationId"), assoc)) eip = o;
	if (!eip)
		return err_set(e, "InvalidAssociationID.NotFound", "The association ID '%s' does not exist", assoc);
	eip_unmap(rq, eip);
	*ret = json_object();
	return 0;
}

int h_release_address(struct req *rq, json_t **ret, struct err *e)
{
	const char *alloc;
	int r;
	if ((r = param_str(rq, "AllocationId", true, &alloc, e)) < 0)
		return r;
	json_t *eip = obj_find(rq, alloc, "eip", e);
	if (!eip)
		return -EINVAL;
	if (*jstr(eip, "AssociationId"))
		return err_set(e, "InvalidIPAddress.InUse", "Address %s is in use.", jstr(eip, "PublicIp"));
	obj_del(&rq->txn, alloc);
	*ret = json_object();
	return 0;
}

/* An ENI being deleted gives up its public address; an elastic IP is disassociated. */
void eni_release_public(struct req *rq, json_t *eni)
{
	const char *alloc = jstr(json_object_get(eni, "Association"), "AllocationId");
	if (*alloc && obj_get(alloc))
		eip_unmap(rq, obj_get(alloc));
	txn_touch_region(&rq->txn, rq->region);
}
