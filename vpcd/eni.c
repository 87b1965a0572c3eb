#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/rtnetlink.h>
#include "cleanup.h"
#include "netns.h"
#include "vpcd.h"

static const struct filter_map eni_filters[] = {
	{"network-interface-id", "NetworkInterfaceId"},
	{"subnet-id", "SubnetId"},
	{"vpc-id", "VpcId"},
	{"availability-zone", "AvailabilityZone"},
	{"private-ip-address", "PrivateIpAddress"},
	{"addresses.private-ip-address", "PrivateIpAddresses.PrivateIpAddress"},
	{"addresses.primary", "PrivateIpAddresses.Primary"},
	{"private-dns-name", "PrivateDnsName"},
	{"mac-address", "MacAddress"},
	{"status", "Status"},
	{"attachment.attachment-id", "Attachment.AttachmentId"},
	{"attachment.instance-id", "Attachment.InstanceId"},
	{"attachment.status", "Attachment.Status"},
	{"attachment.device-index", "Attachment.DeviceIndex"},
	{"source-dest-check", "SourceDestCheck"},
	{"description", "Description"},
	{"owner-id", "OwnerId"},
	{"interface-type", "InterfaceType"},
	{"requester-managed", "RequesterManaged"},
	{"group-id", "Groups.GroupId"},
	{"group-name", "Groups.GroupName"},
	{"attachment.instance-id", "Attachment.InstanceId"},
	{"attachment.status", "Attachment.Status"},
	{"association.public-ip", "Association.PublicIp"},
	{"association.allocation-id", "Association.AllocationId"},
	{"association.association-id", "Association.AssociationId"},
	{"ipv6-addresses.ipv6-address", "Ipv6Addresses.Ipv6Address"},
	{NULL, NULL}};

int eni_used_ips(const char *subnet_id, uint32_t **ret, size_t *n)
{
	const char *id;
	json_t *o;
	size_t cap = 16, k = 0;
	uint32_t *v = malloc(cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	const char *vpc_id = jstr(obj_get(subnet_id), "VpcId");
	obj_foreach_vpc("eni", vpc_id, id, o)
	{
		uint32_t ip;
		if (strcmp(jstr(o, "SubnetId"), subnet_id) != 0 ||
		    ip_parse(jstr(o, "PrivateIpAddress"), &ip) < 0)
			continue;
		if (k == cap) {
			cap *= 2;
			uint32_t *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		v[k++] = ip;
	}
	*ret = v, *n = k;
	return 0;
}

static void dns_name(const char *region, const char *ip, char *buf, size_t n)
{
	char dashed[IP_STRLEN];
	snprintf(dashed, sizeof(dashed), "%s", ip);
	for (char *p = dashed; *p; p++)
		if (*p == '.')
			*p = '-';
	if (strcmp(region, "us-east-1") == 0)
		snprintf(buf, n, "ip-%s.ec2.internal", dashed);
	else
		snprintf(buf, n, "ip-%s.%s.compute.internal", dashed, region);
}

static void eni_decorate(json_t *pub, json_t *o)
{
	(void)o;
	/* describe-network-interfaces calls the tag list TagSet. */
	json_t *tags = json_object_get(pub, "Tags");
	json_object_set_new(pub, "TagSet", tags ? json_incref(tags) : json_array());
	json_object_del(pub, "Tags");
}

int h_create_network_interface(struct req *rq, json_t **ret, struct err *e)
{
	const char *sid, *ipt, *desc, *itype;
	_cleanup_json_ json_t *tags = NULL;
	struct cidr c;
	uint32_t ip;
	char id[ID_MAX], mac[MAC_STRLEN], ipbuf[IP_STRLEN], dns[96], port[16];
	int r;

	if ((r = param_str(rq, "SubnetId", true, &sid, e)) < 0 ||
	    (r = param_str(rq, "PrivateIpAddress", false, &ipt, e)) < 0 ||
	    (r = param_str(rq, "Description", false, &desc, e)) < 0 ||
	    (r = param_str(rq, "InterfaceType", false, &itype, e)) < 0)
		return r;
	json_t *s = obj_find(rq, sid, "subnet", e);
	if (!s)
		return -EINVAL;
	if (itype)
		return err_set(e, "InvalidParameterValue",
			       "Value (%s) for parameter interfaceType is not supported by vpclab", itype);
	cidr_parse(jstr(s, "CidrBlock"), &c);
	if (ipt) {
		if (ip_parse(ipt, &ip) < 0)
			return err_set(e, "InvalidParameterValue",
				       "Value (%s) for parameter privateIpAddress is invalid.", ipt);
		if (!cidr_contains_ip(&c, ip))
			return err_set(e, "InvalidParameterValue",
				       "Address %s does not fall within the subnet's address range", ipt);
		if (subnet_ip_reserved(&c, ip))
			return err_set(e, "InvalidParameterValue",
				       "Address %s is in subnet's reserved address range", ipt);
		if (addr_in_use(&rq->txn, sid, ip))
			return err_set(e, "InvalidIPAddress.InUse",
				       "The specified address '%s' is already in use.", ipt);
	} else if (cidr_size(&c) < 8 || addr_pick(&rq->txn, sid, c.addr + 4, cidr_last(&c) - 1, &ip) < 0) {
		return err_set(e, "InsufficientFreeAddressesInSubnet",
			       "There are not enough free addresses in subnet '%s' to satisfy the requested number of instances.",
			       sid);
	}
	_cleanup_json_ json_t *gids = param_list(rq->params, "Groups"), *groups = NULL;
	if ((r = sg_eni_groups(rq, jstr(s, "VpcId"), gids, &groups, e)) < 0)
		return r;
	/* IPv6: the addresses asked for, or one if the subnet assigns them on creation. */
	long long v6count;
	_cleanup_json_ json_t *v6given = param_list(rq->params, "Ipv6Addresses"), *v6 = NULL;
	if ((r = param_int(rq, "Ipv6AddressCount", -1, &v6count, e)) < 0)
		return r;
	if (json_object_get(rq->params, "Ipv6AddressCount") && v6count < 0)
		return err_set(e, "InvalidParameterValue", "Value (%lld) for parameter ipv6AddressCount is invalid.", v6count);
	if (json_object_get(rq->params, "Ipv6Prefixes") || json_object_get(rq->params, "Ipv6PrefixCount"))
		return err_set(e, "UnsupportedOperation", "IPv6 prefix delegation is not supported by vpclab");
	if (v6count < 0 && !json_array_size(v6given) && json_is_true(json_object_get(s, "AssignIpv6AddressOnCreation")))
		v6count = 1;
	if ((v6count > 0 || json_array_size(v6given)) &&
	    (r = eni_ipv6_choose(s, NULL, v6count > 0 ? v6count : 0, v6given, &v6, e)) < 0)
		return r;
	if ((r = param_tags(rq, "network-interface", &tags, e)) < 0)
		return r;
	ip_format(ip, ipbuf);
	new_id(&rq->txn, "eni", id);
	mac_make(&V->ids, mac);
	dns_name(rq->region, ipbuf, dns, sizeof(dns));
	name_port(id, port);
	json_t *eni = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:[], s:s, s:s, s:s, s:s, s:s, s:[{s:b, s:s, s:s}], s:b, s:b, s:s, s:s, s:o}",
		"_type", "eni", "_region", rq->region, "_port", port,
		"AvailabilityZone", jstr(s, "AvailabilityZone"), "Description", desc ? desc : "",
		"InterfaceType", "interface", "Groups", json_incref(groups), "MacAddress", mac, "Ipv6Addresses",
		"NetworkInterfaceId", id, "OwnerId", OWNER_ID, "PrivateDnsName", dns,
		"PrivateIpAddress", ipbuf, "Status", "available", "PrivateIpAddresses", "Primary", 1,
		"PrivateDnsName", dns, "PrivateIpAddress", ipbuf, "RequesterManaged", 0,
		"SourceDestCheck", 1, "SubnetId", sid, "VpcId", jstr(s, "VpcId"), "Tags",
		json_incref(tags));
	if (v6)
		eni_ipv6_add(eni, v6);
	int public_ip;
	param_bool(rq, "AssociatePublicIpAddress", &public_ip);
	if (public_ip > 0 && (r = eni_assign_public(rq, eni, e)) < 0) {
		json_decref(eni);
		return r;
	}
	obj_put(&rq->txn, id, eni);
	txn_touch_vpc(&rq->txn, jstr(s, "VpcId"));
	if (public_ip > 0)
		txn_touch_region(&rq->txn, rq->region);
	json_t *pub = obj_public(eni);
	eni_decorate(pub, eni);
	*ret = json_pack("{s:o}", "NetworkInterface", pub);
	return 0;
}

int h_describe_network_interfaces(struct req *rq, json_t **ret, struct err *e)
{
	json_t *list, *token = NULL;
	int r = describe(rq, "eni", "NetworkInterfaceIds", "NetworkInterfaceId",
			 "InvalidNetworkInterfaceID.NotFound", "networkInterface ID", eni_filters,
			 eni_decorate, &list, &token, e);
	if (r < 0)
		return r;
	*ret = json_pack("{s:o, s:o*}", "NetworkInterfaces", list, "NextToken", token);
	return 0;
}

int h_delete_network_interface(struct req *rq, json_t **ret, struct err *e)
{
	const char *id;
	int r;
	if ((r = param_str(rq, "NetworkInterfaceId", true, &id, e)) < 0)
		return r;
	json_t *eni = obj_find(rq, id, "eni", e);
	if (!eni)
		return -EINVAL;
	if (strcmp(jstr(eni, "Status"), "in-use") == 0)
		return err_set(e, "InvalidNetworkInterface.InUse",
			       "Interface: [%s] in use.", id);
	eni_release_public(rq, eni);
	/* Its faults go with it: ec2d deletes an instance's ENI when it terminates, which a
	 * fault in force must not prevent. */
	fault_clear_target(&rq->txn, id);
	flowlog_clear_target(&rq->txn, id);
	txn_touch_vpc(&rq->txn, jstr(eni, "VpcId"));
	obj_del(&rq->txn, id);
	*ret = json_object();
	return 0;
}

int h_modify_network_interface_attribute(struct req *rq, json_t **ret, struct err *e)
{
	const char *id;
	int sdc, r;
	if ((r = param_str(rq, "NetworkInterfaceId", true, &id, e)) < 0)
		return r;
	json_t *eni = obj_find(rq, id, "eni", e);
	if (!eni)
		return -EINVAL;
	param_bool(rq, "SourceDestCheck", &sdc);
	json_t *desc = json_object_get(rq->params, "Description");
	_cleanup_json_ json_t *groups = NULL;
	if (json_object_get(rq->params, "Groups")) {
		_cleanup_json_ json_t *gids = param_list(rq->params, "Groups");
		if (json_array_size(gids) == 0)
			return err_set(e, "MissingParameter", "--groups needs at least one group ID");
		if ((r = sg_eni_groups(rq, jstr(eni, "VpcId"), gids, &groups, e)) < 0)
			return r;
	}
	if (sdc < 0 && !desc && !groups)
		return err_set(e, "MissingParameter",
			       "The request must contain exactly one attribute to modify");
	eni = obj_edit(&rq->txn, id);
	if (sdc >= 0)
		json_object_set_new(eni, "SourceDestCheck", json_boolean(sdc));
	if (groups)
		json_object_set(eni, "Groups", groups);
	if (desc) {
		json_t *v = json_is_object(desc) ? json_object_get(desc, "Value") : desc;
		json_object_set_new(eni, "Description",
				    json_string(json_is_string(v) ? json_string_value(v) : ""));
	}
	txn_touch_vpc(&rq->txn, jstr(eni, "VpcId"));
	*ret = json_object();
	return 0;
}

int eni_attach(struct nsh *vns, json_t *eni, const char *target_ns, struct err *e)
{
	json_t *s = obj_get(jstr(eni, "SubnetId"));
	struct nsh *target = NULL;
	struct cidr c;
	uint32_t ip;
	int r, master = nl_link_index(vns, jstr(s, "_bridge"));

	if (master < 0)
		return err_setr(e, master, "InternalError", "no bridge for subnet '%s'", jstr(s, "SubnetId"));
	cidr_parse(jstr(s, "CidrBlock"), &c);
	ip_parse(jstr(eni, "PrivateIpAddress"), &ip);
	if ((r = nsh_open(target_ns, false, &target, e)) < 0)
		return r;
	if (nl_link_index(target, "eth0") > 0) {
		nsh_free(target);
		return err_set(e, "InvalidParameterValue", "The network namespace '%s' already has an eth0",
			       target_ns);
	}
	r = nl_veth_add(vns, jstr(eni, "_port"), master, "eth0", jstr(eni, "MacAddress"), target->fd, e);
	if (r == 0) {
		if ((r = nl_link_up(target, "lo", true, e)) == 0 &&
		    (r = nl_link_up(target, "eth0", true, e)) == 0 &&
		    (r = nl_addr_add(target, "eth0", ip, c.len, e)) == 0)
			r = nl_default_route(target, "eth0", subnet_router(&c), e);
		if (r < 0) {
			struct err ignored = {0};
			nl_link_del(vns, jstr(eni, "_port"), &ignored);
		}
	}
	nsh_free(target);
	return r;
}

/* Plugging configures a namespace the user owns; the handler does it (the VPC sync then finds
 * the port in place), and removes the pair if any step fails. */
int h_plug_network_interface(struct req *rq, json_t **ret, struct err *e)
{
	const char *id, *netns;
	struct nsh *vns;
	int r;

	if ((r = param_str(rq, "NetworkInterfaceId", true, &id, e)) < 0 ||
	    (r = param_str(rq, "Netns", true, &netns, e)) < 0)
		return r;
	json_t *eni = obj_find(rq, id, "eni", e);
	if (!eni)
		return -EINVAL;
	if (strcmp(jstr(eni, "Status"), "in-use") == 0)
		return err_set(e, "InvalidNetworkInterface.InUse", "Interface: [%s] in use.", id);
	if (!*netns || strchr(netns, '/') || strcmp(netns, ".") == 0 || strcmp(netns, "..") == 0 ||
	    !netns_exists(netns))
		return err_set(e, "InvalidParameterValue",
			       "The network namespace '%s' does not exist (create it with 'ip netns add')",
			       netns);
	if (strncmp(netns, V->prefix, strlen(V->prefix)) == 0 && netns[strlen(V->prefix)] == '-')
		return err_set(e, "InvalidParameterValue",
			       "The network namespace '%s' belongs to vpclab itself", netns);
	json_t *vpc = obj_get(jstr(eni, "VpcId"));
	if ((r = nsh_get(jstr(vpc, "_ns"), true, &vns, e)) < 0 || (r = eni_attach(vns, eni, netns, e)) < 0)
		return r;
	eni = obj_edit(&rq->txn, id);
	json_object_set_new(eni, "_plugged", json_string(netns));
	json_object_set_new(eni, "Status", json_string("in-use"));
	/* If a later step of this request fails, the rollback's sync removes the new port. */
	txn_touch_vpc(&rq->txn, jstr(eni, "VpcId"));
	*ret = json_object();
	return 0;
}

int h_unplug_network_interface(struct req *rq, json_t **ret, struct err *e)
{
	const char *id;
	int r;
	if ((r = param_str(rq, "NetworkInterfaceId", true, &id, e)) < 0)
		return r;
	json_t *eni = obj_find(rq, id, "eni", e);
	if (!eni)
		return -EINVAL;
	if (!*jstr(eni, "_plugged") || *jstr(eni, "_natgw"))
		return err_set(e, "InvalidNetworkInterface.NotPlugged",
			       "The network interface '%s' is not plugged into a namespace", id);
	/* The sync deletes the port, and the peer in the user's namespace goes with it. */
	eni = obj_edit(&rq->txn, id);
	json_object_del(eni, "_plugged");
	json_object_set_new(eni, "Status", json_string("available"));
	txn_touch_vpc(&rq->txn, jstr(eni, "VpcId"));
	*ret = json_object();
	return 0;
}

/* Attaching an ENI to an instance records the attachment; the instance's link is made by
 * libvirt (ec2d) and adopted by the VPC sync, here and whenever ec2d starts the instance
 * again (adopt-network-interface-link). */
int h_attach_network_interface(struct req *rq, json_t **ret, struct err *e)
{
	const char *id, *instance;
	long long index;
	char att[ID_MAX], when[32];
	int r;

	if ((r = param_str(rq, "NetworkInterfaceId", true, &id, e)) < 0 ||
	    (r = param_str(rq, "InstanceId", true, &instance, e)) < 0 ||
	    (r = param_int(rq, "DeviceIndex", -1, &index, e)) < 0)
		return r;
	if (index < 0)
		return err_set(e, "MissingParameter", "The request must contain the parameter DeviceIndex");
	if (index > 0)
		return err_set(e, "InvalidParameterValue",
			       "Device index '%lld' is not supported: instances have one network interface", index);
	if (id_check(instance, "i") < 0)
		return err_set(e, "InvalidInstanceID.Malformed", "Invalid id: \"%s\"", instance);
	json_t *eni = obj_find(rq, id, "eni", e);
	if (!eni)
		return -EINVAL;
	if (strcmp(jstr(eni, "Status"), "in-use") == 0)
		return err_set(e, "InvalidNetworkInterface.InUse", "Interface: [%s] in use.", id);
	new_id(&rq->txn, "eni-attach", att);
	time_iso(when);
	eni = obj_edit(&rq->txn, id);
	json_object_set_new(eni, "Attachment",
			    json_pack("{s:s, s:s, s:s, s:s, s:I, s:i, s:s, s:b}", "AttachmentId", att,
				      "AttachTime", when, "InstanceId", instance, "InstanceOwnerId",
				      OWNER_ID, "DeviceIndex", (json_int_t)index, "NetworkCardIndex", 0,
				      "Status", "attached", "DeleteOnTermination",
				      json_is_true(json_object_get(rq->params, "DeleteOnTermination"))));
	json_object_set_new(eni, "_instance", json_string(instance));
	json_object_set_new(eni, "Status", json_string("in-use"));
	txn_touch_vpc(&rq->txn, jstr(eni, "VpcId"));
	*ret = json_pack("{s:s, s:i}", "AttachmentId", att, "NetworkCardIndex", 0);
	return 0;
}

static json_t *eni_by_attachment(struct req *rq, const char *att, const char **ret_id)
{
	const char *id;
	json_t *o;
	obj_foreach("eni", rq->region, id, o)
	{
		if (strcmp(jstr(json_object_get(o, "Attachment"), "AttachmentId"), att) == 0) {
			*ret_id = id;
			return o;
		}
	}
	return NULL;
}

int h_detach_network_interface(struct req *rq, json_t **ret, struct err *e)
{
	const char *att, *id = NULL;
	int r;
	if ((r = param_str(rq, "AttachmentId", true, &att, e)) < 0)
		return r;
	json_t *eni = eni_by_attachment(rq, att, &id);
	if (!eni)
		return err_set(e, "InvalidAttachmentID.NotFound",
			       "The attachment ID '%s' does not exist", att);
	/* The sync deletes the port; the instance's end goes with it. */
	eni = obj_edit(&rq->txn, id);
	json_object_del(eni, "Attachment");
	json_object_del(eni, "_instance");
	json_object_set_new(eni, "Status", json_string("available"));
	txn_touch_vpc(&rq->txn, jstr(eni, "VpcId"));
	*ret = json_object();
	return 0;
}

int h_adopt_network_interface_link(struct req *rq, json_t **ret, struct err *e)
{
	json_t *eni = param_obj(rq, "NetworkInterfaceId", "eni", e);
	if (!eni)
		return -EINVAL;
	if (!*jstr(eni, "_instance"))
		return err_set(e, "InvalidNetworkInterface.NotAttached",
			       "The network interface '%s' is not attached to an instance",
			       jstr(eni, "NetworkInterfaceId"));
	/* The link is not model state: the VPC's sync adopts it. */
	txn_touch_vpc(&rq->txn, jstr(eni, "VpcId"));
	*ret = json_object();
	return 0;
}
