#include <stdio.h>
#include <string.h>
#include "cleanup.h"
#include "vpcd.h"

static const struct filter_map rtb_filters[] = {
	{"route-table-id", "RouteTableId"},
	{"vpc-id", "VpcId"},
	{"owner-id", "OwnerId"},
	{"association.main", "Associations.Main"},
	{"association.subnet-id", "Associations.SubnetId"},
	{"association.route-table-id", "Associations.RouteTableId"},
	{"association.route-table-association-id", "Associations.RouteTableAssociationId"},
	{"association.association-state", "Associations.AssociationState.State"},
	{"route.destination-cidr-block", "Routes.DestinationCidrBlock"},
	{"route.gateway-id", "Routes.GatewayId"},
	{"route.network-interface-id", "Routes.NetworkInterfaceId"},
	{"route.nat-gateway-id", "Routes.NatGatewayId"},
	{"route.vpc-peering-connection-id", "Routes.VpcPeeringConnectionId"},
	{"route.instance-id", "Routes.InstanceId"},
	{"route.origin", "Routes.Origin"},
	{"route.state", "Routes.State"},
	{NULL, NULL}};

/* Route targets that name another object; a route whose target is gone is a blackhole. */
static const char *const target_keys[] = {"NetworkInterfaceId", "NatGatewayId", "GatewayId",
					  "VpcPeeringConnectionId", "InstanceId"};

const char *route_target(json_t *route, const char **ret_key)
{
	for (size_t i = 0; i < ARRAY_SIZE(target_keys); i++) {
		const char *v = jstr(route, target_keys[i]);
		if (*v) {
			if (ret_key)
				*ret_key = target_keys[i];
			return v;
		}
	}
	return "";
}

bool route_active(json_t *route, const char *vpc_id)
{
	const char *t = route_target(route, NULL);
	json_t *o = obj_get(t);
	if (!strcmp(t, "local"))
		return true;
	/* A gateway counts only while it is attached to the route's VPC. */
	if (o && !strcmp(jstr(o, "_type"), "igw"))
		return !strcmp(igw_vpc(o), vpc_id);
	if (o && !strcmp(jstr(o, "_type"), "nat"))
		return !strcmp(jstr(o, "State"), "available");
	if (o && !strcmp(jstr(o, "_type"), "pcx")) {
		char link[16];
		return pcx_link(o, vpc_id, link, NULL, NULL);
	}
	return o != NULL;
}

static void rtb_decorate(json_t *pub, json_t *o)
{
	size_t i;
	json_t *rt, *routes = json_deep_copy(json_object_get(pub, "Routes")) ?: json_array();
	/* A copy: the public object shares its members with the stored one (obj_public). */
	json_object_set_new(pub, "Routes", routes);
	json_array_foreach(routes, i, rt)
		json_object_set_new(rt, "State", json_string(route_active(rt, jstr(o, "VpcId")) ? "active" : "blackhole"));
}

json_t *rtb_new(struct txn *t, const char *region, const char *vpc_id, const char *vpc_cidr,
		json_t *tags, char id[static ID_MAX])
{
	new_id(t, "rtb", id);
	/* Kernel table numbers are per VPC namespace: the lowest free one from 1000. */
	int table = 1000;
	for (bool used = true; used; table += used) {
		const char *oid;
		json_t *o;
		used = false;
		obj_foreach_vpc("rtb", vpc_id, oid, o) if (strcmp(jstr(o, "VpcId"), vpc_id) == 0 &&
						     json_integer_value(json_object_get(o, "_table")) == table)
		{
			used = true;
			break;
		}
	}
	json_t *rt = json_pack("{s:s, s:s, s:i, s:[], s:[], s:s, s:[{s:s, s:s, s:s}], s:o, s:s, s:s}",
			       "_type", "rtb", "_region", region, "_table", table, "Associations",
			       "PropagatingVgws", "RouteTableId", id, "Routes",
			       "DestinationCidrBlock", vpc_cidr, "GatewayId", "local", "Origin",
			       "CreateRouteTable", "Tags", tags ? json_incref(tags) : json_array(),
			       "VpcId", vpc_id, "OwnerId", OWNER_ID);
	obj_put(t, id, rt);
	return rt;
}

int h_create_route_table(struct req *rq, json_t **ret, struct err *e)
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
	if ((r = param_tags(rq, "route-table", &tags, e)) < 0)
		return r;
	rtb_new(&rq->txn, rq->region, vpc_id, jstr(vpc, "CidrBlock"), tags, id);
	txn_touch_vpc(&rq->txn, vpc_id);
	json_t *pub = obj_public(obj_get(id));
	rtb_decorate(pub, obj_get(id));
	*ret = json_pack("{s:o}", "RouteTable", pub);
	return 0;
}

int h_describe_route_tables(struct req *rq, json_t **ret, struct err *e)
{
	json_t *list, *token = NULL;
	int r = describe(rq, "rtb", "RouteTableIds", "RouteTableId", "InvalidRouteTableID.NotFound",
			 "routeTable ID", rtb_filters, rtb_decorate, &list, &token, e);
	if (r < 0)
		return r;
	*ret = json_pack("{s:o, s:o*}", "RouteTables", list, "NextToken", token);
	return 0;
}

int h_delete_route_table(struct req *rq, json_t **ret, struct err *e)
{
	const char *id;
	int r;
	if ((r = param_str(rq, "RouteTableId", true, &id, e)) < 0)
		return r;
	json_t *rt = obj_find(rq, id, "rtb", e);
	if (!rt)
		return -EINVAL;
	if (json_array_size(json_object_get(rt, "Associations")))
		return err_set(e, "DependencyViolation",
			       "The routeTable '%s' has dependencies and cannot be deleted.", id);
	txn_touch_vpc(&rq->txn, jstr(rt, "VpcId"));
	obj_del(&rq->txn, id);
	*ret = json_object();
	return 0;
}

/* Finds an association by ID: returns its route table and index. */
static json_t *find_assoc(const char *assoc_id, size_t *ret_i)
{
	const char *id;
	json_t *o;
	obj_foreach("rtb", NULL, id, o)
	{
		size_t i;
		json_t *a;
		json_array_foreach(json_object_get(o, "Associations"), i, a) if (
			strcmp(jstr(a, "RouteTableAssociationId"), assoc_id) == 0)
		{
			*ret_i = i;
			return o;
		}
	}
	return NULL;
}

int h_associate_route_table(struct req *rq, json_t **ret, struct err *e)
{
	const char *rtb_id, *sid, *gw, *id;
	json_t *o;
	char assoc[ID_MAX];
	int r;
	if ((r = param_str(rq, "RouteTableId", true, &rtb_id, e)) < 0 ||
	    (r = param_str(rq, "SubnetId", false, &sid, e)) < 0 ||
	    (r = param_str(rq, "GatewayId", false, &gw, e)) < 0)
		return r;
	if (gw)
		return err_set(e, "UnsupportedOperation",
			       "Gateway route table associations are not supported by vpclab");
	if (!sid)
		return err_set(e, "MissingParameter", "The request must contain the parameter SubnetId");
	json_t *rt = obj_find(rq, rtb_id, "rtb", e);
	if (!rt)
		return -EINVAL;
	json_t *s = obj_find(rq, sid, "subnet", e);
	if (!s)
		return -EINVAL;
	if (strcmp(jstr(s, "VpcId"), jstr(rt, "VpcId")) != 0)
		return err_set(e, "InvalidParameterValue",
			       "Route table %s and subnet %s belong to different networks", rtb_id, sid);
	obj_foreach_vpc("rtb", jstr(rt, "VpcId"), id, o)
	{
		size_t i;
		json_t *a;
		json_array_foreach(json_object_get(o, "Associations"), i, a) if (
			strcmp(jstr(a, "SubnetId"), sid) == 0) return err_set(e,
									      "Resource.AlreadyAssociated",
									      "the specified association for route table %s conflicts with an existing association",
									      rtb_id);
	}
	new_id(&rq->txn, "rtbassoc", assoc);
	rt = obj_edit(&rq->txn, rtb_id);
	json_array_append_new(json_object_get(rt, "Associations"),
			      json_pack("{s:b, s:s, s:s, s:s, s:{s:s}}", "Main", 0,
					"RouteTableAssociationId", assoc, "RouteTableId", rtb_id,
					"SubnetId", sid, "AssociationState", "State", "associated"));
	txn_touch_vpc(&rq->txn, jstr(rt, "VpcId"));
	*ret = json_pack("{s:s, s:{s:s}}", "AssociationId", assoc, "AssociationState", "State",
			 "associated");
	return 0;
}

int h_disassociate_route_table(struct req *rq, json_t **ret, struct err *e)
{
	const char *assoc;
	size_t i;
	int r;
	if ((r = param_str(rq, "AssociationId", true, &assoc, e)) < 0)
		return r;
	json_t *rt = find_assoc(assoc, &i);
	if (!rt || strcmp(jstr(rt, "_region"), rq->region) != 0)
		return err_set(e, "InvalidAssociationID.NotFound",
			       "The association ID '%s' does not exist", assoc);
	if (json_is_true(json_object_get(json_array_get(json_object_get(rt, "Associations"), i),
					 "Main")))
		return err_set(e, "InvalidParameterValue",
			       "cannot disassociate the main route table association %s", assoc);
	rt = obj_edit(&rq->txn, jstr(rt, "RouteTableId"));
	json_array_remove(json_object_get(rt, "Associations"), i);
	txn_touch_vpc(&rq->txn, jstr(rt, "VpcId"));
	*ret = json_object();
	return 0;
}

int h_replace_route_table_association(struct req *rq, json_t **ret, struct err *e)
{
	const char *assoc, *rtb_id;
	char nid[ID_MAX];
	size_t i;
	int r;
	if ((r = param_str(rq, "AssociationId", true, &assoc, e)) < 0 ||
	    (r = param_str(rq, "RouteTableId", true, &rtb_id, e)) < 0)
		return r;
	json_t *old = find_assoc(assoc, &i);
	if (!old || strcmp(jstr(old, "_region"), rq->region) != 0)
		return err_set(e, "InvalidAssociationID.NotFound",
			       "The association ID '%s' does not exist", assoc);
	json_t *rt = obj_find(rq, rtb_id, "rtb", e);
	if (!rt)
		return -EINVAL;
	if (strcmp(jstr(rt, "VpcId"), jstr(old, "VpcId")) != 0)
		return err_set(e, "InvalidParameterValue",
			       "Route table %s belongs to a different network", rtb_id);
	json_t *a = json_deep_copy(json_array_get(json_object_get(old, "Associations"), i));
	old = obj_edit(&rq->txn, jstr(old, "RouteTableId"));
	json_array_remove(json_object_get(old, "Associations"), i);
	new_id(&rq->txn, "rtbassoc", nid);
	json_object_set_new(a, "RouteTableAssociationId", json_string(nid));
	json_object_set_new(a, "RouteTableId", json_string(rtb_id));
	rt = obj_edit(&rq->txn, rtb_id);
	json_array_append_new(json_object_get(rt, "Associations"), a);
	txn_touch_vpc(&rq->txn, jstr(rt, "VpcId"));
	*ret = json_pack("{s:s, s:{s:s}}", "NewAssociationId", nid, "AssociationState", "State",
			 "associated");
	return 0;
}

/* Validates a route's destination and target; fills *ret_route with a new route object. */
static int route_parse(struct req *rq, json_t *rt, json_t **ret_route, struct cidr *ret_dst,
		       struct err *e)
{
	const char *dst, *k = NULL, *target = NULL;
	int given = 0, r;
	struct cidr d, vc;
	static const char *const params[] = {"NetworkInterfaceId", "GatewayId", "NatGatewayId",
					     "VpcPeeringConnectionId", "InstanceId"};

	if ((r = param_str(rq, "DestinationCidrBlock", false, &dst, e)) < 0)
		return r;
	if (!dst) {
		if (json_object_get(rq->params, "DestinationIpv6CidrBlock") ||
		    json_object_get(rq->params, "DestinationPrefixListId"))
			return err_set(e, "UnsupportedOperation",
				       "IPv6 and prefix-list destinations are not supported by vpclab");
		return err_set(e, "MissingParameter",
			       "The request must contain the parameter destinationCidrBlock");
	}
	if (cidr_parse(dst, &d) < 0)
		return err_set(e, "InvalidParameterValue",
			       "Value (%s) for parameter destinationCidrBlock is invalid. This is not a valid CIDR block.",
			       dst);
	for (size_t i = 0; i < ARRAY_SIZE(params); i++) {
		const char *v;
		if ((r = param_str(rq, params[i], false, &v, e)) < 0)
			return r;
		if (v)
			given++, k = params[i], target = v;
	}
	if (given != 1)
		return err_set(e, given ? "InvalidParameterCombination" : "MissingParameter",
			       "The request must contain exactly one of gatewayId, natGatewayId, networkInterfaceId, vpcPeeringConnectionId or instanceId");
	cidr_parse(jstr(obj_get(jstr(rt, "VpcId")), "CidrBlock"), &vc);
	if (strcmp(k, "NetworkInterfaceId") == 0) {
		json_t *eni = obj_find(rq, target, "eni", e);
		if (!eni)
			return -EINVAL;
		if (strcmp(jstr(eni, "VpcId"), jstr(rt, "VpcId")) != 0)
			return err_set(e, "InvalidParameterValue",
				       "Network interface %s and route table %s belong to different networks",
				       target, jstr(rt, "RouteTableId"));
	} else if (strcmp(k, "GatewayId") == 0 && strcmp(target, "local") == 0) {
		return err_set(e, "InvalidParameterValue",
			       "The gateway 'local' can only be the target of the VPC's local route");
	} else if (strcmp(k, "GatewayId") == 0 && obj_get_type(target, "igw")) {
		if (strcmp(igw_vpc(obj_get(target)), jstr(rt, "VpcId")) != 0)
			return err_set(e, "InvalidParameterValue",
				       "route table %s and network gateway %s belong to different networks",
				       jstr(rt, "RouteTableId"), target);
	} else if (strcmp(k, "VpcPeeringConnectionId") == 0 && obj_get_type(target, "pcx")) {
		json_t *p = obj_get(target);
		const char *v = jstr(rt, "VpcId");
		if (strcmp(jstr(json_object_get(p, "RequesterVpcInfo"), "VpcId"), v) != 0 &&
		    strcmp(jstr(json_object_get(p, "AccepterVpcInfo"), "VpcId"), v) != 0)
			return err_set(e, "InvalidParameterValue",
				       "route table %s and peering connection %s belong to different networks",
				       jstr(rt, "RouteTableId"), target);
	} else if ((strcmp(k, "GatewayId") == 0 && !obj_get_type(target, "igw")) ||
		   (strcmp(k, "NatGatewayId") == 0 && !obj_get_type(target, "nat")) ||
		   (strcmp(k, "VpcPeeringConnectionId") == 0 && !obj_get_type(target, "pcx")) ||
		   strcmp(k, "InstanceId") == 0) {
		static const struct {
			const char *key, *code, *name;
		} nf[] = {{"GatewayId", "InvalidGatewayID.NotFound", "gateway ID"},
			  {"NatGatewayId", "InvalidNatGatewayID.NotFound", "nat gateway ID"},
			  {"VpcPeeringConnectionId", "InvalidVpcPeeringConnectionID.NotFound",
			   "vpcPeeringConnection ID"},
			  {"InstanceId", "InvalidInstanceID.NotFound", "instance ID"}};
		for (size_t i = 0; i < ARRAY_SIZE(nf); i++)
			if (strcmp(nf[i].key, k) == 0)
				return err_set(e, nf[i].code, "The %s '%s' does not exist", nf[i].name,
					       target);
	}
	if (cidr_contains(&vc, &d))
		return err_set(e, "InvalidParameterValue",
			       "The destination CIDR block %s is equal to or more specific than one of this VPC's CIDR blocks.",
			       dst);
	*ret_route = json_pack("{s:s, s:s, s:s}", "DestinationCidrBlock", dst, k, target, "Origin",
			       "CreateRoute");
	*ret_dst = d;
	return 0;
}

static ssize_t route_index(json_t *rt, const char *dst)
{
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(rt, "Routes"), i, x) if (
		strcmp(jstr(x, "DestinationCidrBlock"), dst) == 0) return (ssize_t)i;
	return -1;
}

static int route_change(struct req *rq, json_t **ret, struct err *e, int mode)
{
	const char *rtb_id, *dst_text;
	json_t *route = NULL;
	struct cidr d;
	int r;
	if ((r = param_str(rq, "RouteTableId", true, &rtb_id, e)) < 0)
		return r;
	json_t *rt = obj_find(rq, rtb_id, "rtb", e);
	if (!rt)
		return -EINVAL;
	if (mode == 2) { /* delete */
		if ((r = param_str(rq, "DestinationCidrBlock", true, &dst_text, e)) < 0)
			return r;
		ssize_t i = route_index(rt, dst_text);
		if (i < 0)
			return err_set(e, "InvalidRoute.NotFound",
				       "no route with destination-cidr-block %s in route table %s",
				       dst_text, rtb_id);
		if (strcmp(jstr(json_array_get(json_object_get(rt, "Routes"), (size_t)i), "GatewayId"),
			   "local") == 0)
			return err_set(e, "InvalidParameterValue",
				       "cannot remove local route %s in route table %s", dst_text, rtb_id);
		rt = obj_edit(&rq->txn, rtb_id);
		json_array_remove(json_object_get(rt, "Routes"), (size_t)i);
		txn_touch_vpc(&rq->txn, jstr(rt, "VpcId"));
		*ret = json_object();
		return 0;
	}
	if ((r = route_parse(rq, rt, &route, &d, e)) < 0)
		return r;
	char dst[CIDR_STRLEN];
	snprintf(dst, sizeof(dst), "%s", jstr(route, "DestinationCidrBlock"));
	ssize_t i = route_index(rt, dst);
	if (mode == 0 && i >= 0) {
		json_decref(route);
		return err_set(e, "RouteAlreadyExists",
			       "The route identified by %s already exists.", dst);
	}
	if (mode == 1 && i < 0) {
		json_decref(route);
		return err_set(e, "InvalidRoute.NotFound",
			       "no route with destination-cidr-block %s in route table %s", dst, rtb_id);
	}
	if (mode == 1)
		json_object_set_new(route, "Origin", json_string("CreateRoute"));
	rt = obj_edit(&rq->txn, rtb_id);
	if (i >= 0)
		json_array_set_new(json_object_get(rt, "Routes"), (size_t)i, route);
	else
		json_array_append_new(json_object_get(rt, "Routes"), route);
	txn_touch_vpc(&rq->txn, jstr(rt, "VpcId"));
	*ret = mode == 0 ? json_pack("{s:b}", "Return", 1) : json_object();
	return 0;
}

int h_create_route(struct req *rq, json_t **ret, struct err *e) { return route_change(rq, ret, e, 0); }
int h_replace_route(struct req *rq, json_t **ret, struct err *e) { return route_change(rq, ret, e, 1); }
int h_delete_route(struct req *rq, json_t **ret, struct err *e) { return route_change(rq, ret, e, 2); }

json_t *subnet_route_table(const char *subnet_id, const char *vpc_id)
{
	const char *id;
	json_t *o;
	obj_foreach_vpc("rtb", vpc_id, id, o)
	{
		size_t i;
		json_t *a;
		json_array_foreach(json_object_get(o, "Associations"), i, a) if (
			strcmp(jstr(a, "SubnetId"), subnet_id) == 0) return o;
	}
	return vpc_main_route_table(vpc_id);
}
