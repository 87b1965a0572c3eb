/* NAT gateways: a namespace of its own on a subnet, behind a requester-managed ENI, that
 * masquerades what private subnets route to it; its elastic IP is mapped 1:1 at the internet
 * gateway like any other public address. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "cleanup.h"
#include "netns.h"
#include "nft.h"
#include "vpcd.h"

static const struct filter_map nat_filters[] = {
	{"nat-gateway-id", "NatGatewayId"}, {"state", "State"},   {"subnet-id", "SubnetId"},
	{"vpc-id", "VpcId"},                {"connectivity-type", "ConnectivityType"},
	{NULL, NULL}};

void name_nat_ns(const char *nat_id, char buf[static 64]) { snprintf(buf, 64, "%s-%s", V->prefix, nat_id); }

int h_create_nat_gateway(struct req *rq, json_t **ret, struct err *e)
{
	const char *sid, *alloc, *conn;
	_cleanup_json_ json_t *tags = NULL;
	char id[ID_MAX], eni_id[ID_MAX], when[32];
	int r;
	if ((r = param_str(rq, "SubnetId", true, &sid, e)) < 0 ||
	    (r = param_str(rq, "AllocationId", false, &alloc, e)) < 0 ||
	    (r = param_str(rq, "ConnectivityType", false, &conn, e)) < 0)
		return r;
	if (conn && strcmp(conn, "public") != 0)
		return err_set(e, "UnsupportedOperation", "Only public NAT gateways are supported by vpclab");
	if (!alloc)
		return err_set(e, "MissingParameter", "The request must contain the parameter AllocationId");
	json_t *s = obj_find(rq, sid, "subnet", e);
	if (!s)
		return -EINVAL;
	json_t *eip = obj_find(rq, alloc, "eip", e);
	if (!eip)
		return -EINVAL;
	if (*jstr(eip, "AssociationId"))
		return err_set(e, "Resource.AlreadyAssociated", "Elastic IP address [%s] is already associated",
			       alloc);
	const char *vpc_id = jstr(s, "VpcId");
	if (!vpc_igw(vpc_id))
		return err_set(e, "Gateway.NotAttached", "Network %s has no Internet gateway attached", vpc_id);
	if ((r = param_tags(rq, "natgateway", &tags, e)) < 0)
		return r;
	new_id(&rq->txn, "nat", id);
	/* Its interface: a requester-managed ENI, made through the ordinary verb. */
	char desc[96];
	snprintf(desc, sizeof(desc), "Interface for NAT Gateway %s", id);
	json_t *saved = rq->params;
	rq->params = json_pack("{s:s, s:s}", "SubnetId", sid, "Description", desc);
	json_t *eni_out = NULL;
	r = h_create_network_interface(rq, &eni_out, e);
	json_decref(rq->params);
	rq->params = saved;
	if (r < 0)
		return r;
	snprintf(eni_id, sizeof(eni_id), "%s", jstr(json_object_get(eni_out, "NetworkInterface"), "NetworkInterfaceId"));
	json_decref(eni_out);
	json_t *eni = obj_edit(&rq->txn, eni_id);
	char ns[64];
	name_nat_ns(id, ns);
	json_object_set_new(eni, "InterfaceType", json_string("nat_gateway"));
	json_object_set_new(eni, "RequesterManaged", json_true());
	json_object_set_new(eni, "SourceDestCheck", json_false());
	json_object_set_new(eni, "Status", json_string("in-use"));
	json_object_set_new(eni, "Groups", json_array());
	json_object_set_new(eni, "_natgw", json_string(id));
	json_object_set_new(eni, "_plugged", json_string(ns));
	/* Map the address through the ordinary association path. */
	saved = rq->params;
	rq->params = json_pack("{s:s, s:s}", "AllocationId", alloc, "NetworkInterfaceId", eni_id);
	json_t *assoc = NULL;
	r = h_associate_address(rq, &assoc, e);
	json_decref(rq->params);
	rq->params = saved;
	if (r < 0)
		return r;
	json_decref(assoc);
	eni = obj_get(eni_id);
	time_iso(when);
	json_t *nat = json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s, s:b, s:s}], s:s, s:s, s:s, s:s, s:s, s:O}",
				"_type", "nat", "_region", rq->region, "CreateTime", when, "NatGatewayAddresses",
				"AllocationId", alloc, "NetworkInterfaceId", eni_id, "PrivateIp",
				jstr(eni, "PrivateIpAddress"), "PublicIp", jstr(obj_get(alloc), "PublicIp"),
				"IsPrimary", 1, "Status", "succeeded", "NatGatewayId", id, "State", "available",
				"SubnetId", sid, "VpcId", vpc_id, "ConnectivityType", "public", "Tags", tags);
	obj_put(&rq->txn, id, nat);
	txn_touch_vpc(&rq->txn, vpc_id);
	json_t *pub = obj_public(nat);
	/* AWS answers before the gateway is ready; here it is ready when the answer comes, but
	 * scripts written for AWS wait for "available", so the answer says "pending". */
	json_object_set_new(pub, "State", json_string("pending"));
	*ret = json_pack("{s:o}", "NatGateway", pub);
	return 0;
}

int h_describe_nat_gateways(struct req *rq, json_t **ret, struct err *e)
{
	json_t *list, *token = NULL;
	/* describe-nat-gateways names its filter list "Filter"; accept both spellings. */
	if (json_object_get(rq->params, "Filter") && !json_object_get(rq->params, "Filters"))
		json_object_set(rq->params, "Filters", json_object_get(rq->params, "Filter"));
	int r = describe(rq, "nat", "NatGatewayIds", "NatGatewayId", "NatGatewayNotFound",
			 "nat gateway ID", nat_filters, NULL, &list, &token, e);
	if (r < 0)
		return r;
	*ret = json_pack("{s:o, s:o*}", "NatGateways", list, "NextToken", token);
	return 0;
}

int h_delete_nat_gateway(struct req *rq, json_t **ret, struct err *e)
{
	const char *id;
	int r;
	if ((r = param_str(rq, "NatGatewayId", true, &id, e)) < 0)
		return r;
	json_t *nat = obj_get_type(id, "nat");
	if (!nat || strcmp(jstr(nat, "_region"), rq->region) != 0 || !strcmp(jstr(nat, "State"), "deleted"))
		return err_set(e, "NatGatewayNotFound", "NAT gateway %s was not found", id);
	const char *eni_id = jstr(json_array_get(json_object_get(nat, "NatGatewayAddresses"), 0), "NetworkInterfaceId");
	json_t *eni = obj_get(eni_id);
	if (eni) {
		eni_release_public(rq, eni);
		obj_del(&rq->txn, eni_id);
	}
	nat = obj_edit(&rq->txn, id);
	json_object_set_new(nat, "State", json_string("deleted"));
	char when[32];
	time_iso(when);
	json_object_set_new(nat, "DeleteTime", json_string(when));
	/* A deleted gateway stays listed, and goes with its VPC. */
	json_object_set_new(nat, "_owned_by_vpc", json_true());
	json_t *addr = json_array_get(json_object_get(nat, "NatGatewayAddresses"), 0);
	json_object_del(addr, "NetworkInterfaceId");
	json_object_set_new(addr, "Status", json_string("succeeded"));
	txn_touch_vpc(&rq->txn, jstr(nat, "VpcId"));
	*ret = json_pack("{s:s}", "NatGatewayId", id);
	return 0;
}

/* Kernel side, called from the VPC's sync before its ENIs: the gateway's namespace, forwarding
 * on and a masquerade for everything it forwards; its ENI's pair is then made into it like
 * any plugged ENI's. A deleted gateway's namespace goes. */
int natgw_sync(json_t *nat, struct err *e)
{
	char ns[64], rules[512];
	const char *id = jstr(nat, "NatGatewayId");
	json_t *addr = json_array_get(json_object_get(nat, "NatGatewayAddresses"), 0);
	json_t *eni = obj_get(jstr(addr, "NetworkInterfaceId"));
	struct nsh *h;
	bool created;
	int r;

	name_nat_ns(id, ns);
	if (!eni || strcmp(jstr(nat, "State"), "available") != 0) {
		nsh_forget(ns);
		json_object_del(V->nft_applied, ns);
		return netns_delete(ns) < 0 ? err_set(e, "InternalError", "cannot delete '%s'", ns) : 0;
	}
	if ((r = ns_prepare(ns, &created, e)) < 0 || (r = nsh_get(ns, true, &h, e)) < 0)
		return r;
	if (!created && json_object_get(V->nft_applied, ns))
		return 0;
	if ((r = ns_init(h, true, e)) < 0)
		return r;
	snprintf(rules, sizeof(rules),
		 "table ip natgw {}\ndelete table ip natgw\n"
		 "table ip natgw {\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
		 "\t\toifname \"eth0\" ip saddr != %s masquerade\n\t}\n}\n",
		 jstr(eni, "PrivateIpAddress"));
	if ((r = nft_apply(h, rules, e)) < 0)
		return r;
	json_object_set_new(V->nft_applied, ns, json_true());
	return 0;
}
