/* VPC peering: a veth pair between two VPC namespaces (of any regions). Traffic arriving
 * from a peer is routed by the VPC's main table, which knows only the VPC's own CIDR, so
 * peering is not transitive and never reaches a gateway: no edge-to-edge routing. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "cleanup.h"
#include "vpcd.h"

/* Each peering's link gets its own /30 from 169.254.64.0/18 (a VPC may be the requester of
 * one peering and the accepter of another, so the two ends cannot reuse one pair). */
#define PCX_NET 0xa9fe4000u
#define PCX_MAX 4096

static const struct filter_map pcx_filters[] = {
	{"vpc-peering-connection-id", "VpcPeeringConnectionId"},
	{"status-code", "Status.Code"},
	{"requester-vpc-info.vpc-id", "RequesterVpcInfo.VpcId"},
	{"requester-vpc-info.cidr-block", "RequesterVpcInfo.CidrBlock"},
	{"accepter-vpc-info.vpc-id", "AccepterVpcInfo.VpcId"},
	{"accepter-vpc-info.cidr-block", "AccepterVpcInfo.CidrBlock"},
	{NULL, NULL}};

static json_t *vpc_info(json_t *vpc)
{
	return json_pack("{s:s, s:[{s:s}], s:s, s:s, s:s}", "CidrBlock", jstr(vpc, "CidrBlock"),
			 "CidrBlockSet", "CidrBlock", jstr(vpc, "CidrBlock"), "OwnerId", OWNER_ID,
			 "VpcId", jstr(vpc, "VpcId"), "Region", jstr(vpc, "_region"));
}

static void set_status(json_t *pcx, const char *code, const char *msg)
{
	json_object_set_new(pcx, "Status", json_pack("{s:s, s:s}", "Code", code, "Message", msg));
}

int h_create_vpc_peering_connection(struct req *rq, json_t **ret, struct err *e)
{
	const char *vid, *pid, *peer_region, *owner;
	_cleanup_json_ json_t *tags = NULL;
	char id[ID_MAX], when[32];
	int r;
	if ((r = param_str(rq, "VpcId", true, &vid, e)) < 0 || (r = param_str(rq, "PeerVpcId", true, &pid, e)) < 0 ||
	    (r = param_str(rq, "PeerRegion", false, &peer_region, e)) < 0 ||
	    (r = param_str(rq, "PeerOwnerId", false, &owner, e)) < 0)
		return r;
	if (!peer_region)
		peer_region = rq->region;
	if (!region_find(peer_region))
		return err_set(e, "InvalidRegion", "The region '%s' does not exist", peer_region);
	if (owner && strcmp(owner, OWNER_ID) != 0)
		return err_set(e, "InvalidParameterValue", "vpclab has one account, %s", OWNER_ID);
	json_t *vpc = obj_get_type(vid, "vpc"), *peer = obj_get_type(pid, "vpc");
	if (!vpc || strcmp(jstr(vpc, "_region"), rq->region) != 0)
		return err_set(e, "InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vid);
	if (!peer || strcmp(jstr(peer, "_region"), peer_region) != 0)
		return err_set(e, "InvalidVpcID.NotFound", "The vpc ID '%s' does not exist in %s", pid, peer_region);
	if (!strcmp(vid, pid))
		return err_set(e, "InvalidParameterValue", "A VPC cannot be peered with itself");
	const char *oid;
	json_t *o;
	obj_foreach("pcx", NULL, oid, o)
	{
		const char *code = jstr(json_object_get(o, "Status"), "Code");
		const char *a = jstr(json_object_get(o, "RequesterVpcInfo"), "VpcId");
		const char *b = jstr(json_object_get(o, "AccepterVpcInfo"), "VpcId");
		if (((!strcmp(a, vid) && !strcmp(b, pid)) || (!strcmp(a, pid) && !strcmp(b, vid))) &&
		    (!strcmp(code, "active") || !strcmp(code, "pending-acceptance")))
			return err_set(e, "VpcPeeringConnectionAlreadyExists",
				       "A peering connection between %s and %s already exists (%s)", vid, pid, oid);
	}
	if ((r = param_tags(rq, "vpc-peering-connection", &tags, e)) < 0)
		return r;
	new_id(&rq->txn, "pcx", id);
	time_t t = time(NULL) + 7 * 24 * 3600;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	int link = 0;
	for (bool used = true; used && link < PCX_MAX; link += used) {
		used = false;
		obj_foreach("pcx", NULL, oid, o) if (json_integer_value(json_object_get(o, "_link")) == link)
		{
			used = true;
			break;
		}
	}
	if (link >= PCX_MAX)
		return err_set(e, "VpcPeeringConnectionLimitExceeded", "vpclab holds at most %d peerings", PCX_MAX);
	json_t *pcx = json_pack("{s:i, s:s, s:s, s:s, s:o, s:s, s:o, s:O, s:s}", "_link", link, "_type", "pcx", "_region", rq->region,
				"_peer_region", peer_region, "AccepterVpcInfo", vpc_info(peer), "ExpirationTime",
				when, "RequesterVpcInfo", vpc_info(vpc), "Tags", tags, "VpcPeeringConnectionId", id);
	struct cidr a, b;
	cidr_parse(jstr(vpc, "CidrBlock"), &a);
	cidr_parse(jstr(peer, "CidrBlock"), &b);
	/* AWS accepts the request and then fails it; so does vpclab. */
	if (cidr_overlaps(&a, &b))
		set_status(pcx, "failed", "Overlapping CIDR blocks");
	else
		set_status(pcx, "pending-acceptance", "Pending Acceptance by " OWNER_ID);
	obj_put(&rq->txn, id, pcx);
	json_t *pub = obj_public(pcx);
	set_status(pub, "initiating-request", "Initiating Request to " OWNER_ID);
	*ret = json_pack("{s:o}", "VpcPeeringConnection", pub);
	return 0;
}

static int transition(struct req *rq, json_t **ret, struct err *e, const char *to)
{
	const char *id;
	int r;
	if ((r = param_str(rq, "VpcPeeringConnectionId", true, &id, e)) < 0)
		return r;
	json_t *pcx = obj_find(rq, id, "pcx", e);
	if (!pcx)
		return -EINVAL;
	const char *code = jstr(json_object_get(pcx, "Status"), "Code");
	bool ok = !strcmp(to, "deleted") ? (!strcmp(code, "active") || !strcmp(code, "pending-acceptance"))
					  : !strcmp(code, "pending-acceptance");
	if (ok && strcmp(to, "deleted") != 0 && strcmp(jstr(pcx, "_peer_region"), rq->region) != 0)
		return err_set(e, "OperationNotPermitted",
			       "The peering connection %s must be %s in the accepter's region, %s", id,
			       !strcmp(to, "active") ? "accepted" : "rejected", jstr(pcx, "_peer_region"));
	if (!ok)
		return err_set(e, "InvalidStateTransition",
			       "Invalid state transition for %s, attempted to transition from %s to %s", id, code, to);
	pcx = obj_edit(&rq->txn, id);
	if (!strcmp(to, "active"))
		set_status(pcx, "active", "Active");
	else if (!strcmp(to, "rejected"))
		set_status(pcx, "rejected", "Rejected by " OWNER_ID);
	else
		set_status(pcx, "deleted", "Deleted by " OWNER_ID);
	txn_touch_vpc(&rq->txn, jstr(json_object_get(pcx, "RequesterVpcInfo"), "VpcId"));
	txn_touch_vpc(&rq->txn, jstr(json_object_get(pcx, "AccepterVpcInfo"), "VpcId"));
	if (!strcmp(to, "active"))
		*ret = json_pack("{s:o}", "VpcPeeringConnection", obj_public(pcx));
	else
		*ret = json_pack("{s:b}", "Return", 1);
	return 0;
}

int h_accept_vpc_peering_connection(struct req *rq, json_t **ret, struct err *e) { return transition(rq, ret, e, "active"); }
int h_reject_vpc_peering_connection(struct req *rq, json_t **ret, struct err *e) { return transition(rq, ret, e, "rejected"); }
int h_delete_vpc_peering_connection(struct req *rq, json_t **ret, struct err *e) { return transition(rq, ret, e, "deleted"); }

int h_describe_vpc_peering_connections(struct req *rq, json_t **ret, struct err *e)
{
	json_t *list, *token = NULL;
	int r = describe(rq, "pcx", "VpcPeeringConnectionIds", "VpcPeeringConnectionId",
			 "InvalidVpcPeeringConnectionID.NotFound", "vpcPeeringConnection ID", pcx_filters, NULL,
			 &list, &token, e);
	if (r < 0)
		return r;
	*ret = json_pack("{s:o, s:o*}", "VpcPeeringConnections", list, "NextToken", token);
	return 0;
}

/* The peering of `vpc_id`, if active: its link name, and the far end's address. */
bool pcx_link(json_t *pcx, const char *vpc_id, char link[static 16], uint32_t *ret_peer_ip, uint32_t *ret_own_ip)
{
	if (!pcx || strcmp(jstr(json_object_get(pcx, "Status"), "Code"), "active") != 0)
		return false;
	bool req = !strcmp(jstr(json_object_get(pcx, "RequesterVpcInfo"), "VpcId"), vpc_id);
	bool acc = !strcmp(jstr(json_object_get(pcx, "AccepterVpcInfo"), "VpcId"), vpc_id);
	if (!req && !acc)
		return false;
	snprintf(link, 16, "%sx%s", V->prefix, id_tail(jstr(pcx, "VpcPeeringConnectionId")));
	uint32_t base = PCX_NET + (uint32_t)json_integer_value(json_object_get(pcx, "_link")) * 4;
	if (ret_peer_ip)
		*ret_peer_ip = req ? base + 2 : base + 1;
	if (ret_own_ip)
		*ret_own_ip = req ? base + 1 : base + 2;
	return true;
}

/* Kernel side, from the VPC sync: both ends of every active peering of this VPC. */
int pcx_sync(struct nsh *h, const char *vpc_id, json_t *wanted, struct err *e)
{
	const char *id;
	json_t *o;
	int r;
	obj_foreach("pcx", NULL, id, o)
	{
		char link[16], other_ns[64];
		uint32_t peer_ip, own_ip;
		struct nsh *oh;
		if (!pcx_link(o, vpc_id, link, &peer_ip, &own_ip))
			continue;
		const char *a = jstr(json_object_get(o, "RequesterVpcInfo"), "VpcId");
		const char *b = jstr(json_object_get(o, "AccepterVpcInfo"), "VpcId");
		const char *other = !strcmp(a, vpc_id) ? b : a;
		if (!obj_get(other))
			continue;
		json_object_set_new(wanted, link, json_true());
		name_vpc_ns(other, other_ns);
		if ((r = nsh_get(other_ns, true, &oh, e)) < 0)
			return r;
		if (nl_link_index(h, link) < 0 || nl_link_index(oh, link) < 0) {
			struct err ignored = {0};
			nl_link_del(h, link, &ignored);
			nl_link_del(oh, link, &ignored);
			if ((r = nl_veth_add(h, link, 0, link, "02:00:00:00:00:04", oh->fd, e)) < 0)
				return r;
		}
		if ((r = nl_link_up(h, link, true, e)) < 0 || (r = nl_addr_add32(h, link, own_ip, e)) < 0 ||
		    (r = nl_link_up(oh, link, true, e)) < 0 || (r = nl_addr_add32(oh, link, peer_ip, e)) < 0)
			return r;
	}
	return 0;
}
