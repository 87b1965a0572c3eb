/* Security groups: the model and the EC2 verbs. Enforcement is in firewall.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "vpcd.h"

/* AWS's default quotas: 60 inbound and 60 outbound rules per group, 2,500 groups per region.
 * Like AWS's, they can be raised: the config's "quotas" object, {"rules_per_security_group":
 * N, "security_groups_per_region": N} (bench/sg_scale raises the first). */
#define RULES_PER_GROUP 60
#define GROUPS_PER_REGION 2500

static long long quota(const char *name, long long dflt)
{
	static json_t *quotas;
	static bool loaded;
	if (!loaded) {
		loaded = true;
		_cleanup_json_ json_t *c = *V->config_path ? json_load_file(V->config_path, 0, NULL) : NULL;
		json_t *q = json_object_get(c, "quotas");
		if (json_is_object(q))
			quotas = json_incref(q);
	}
	json_t *v = json_object_get(quotas, name);
	return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : dflt;
}

/* EC2's rule descriptions: up to 255 characters of a fixed set. */
static int desc_check(const char *d, struct err *e)
{
	static const char ok[] = " ._-:/()#,@[]+=&;{}!$*";
	size_t n = 0;
	for (const char *p = d ? d : ""; *p; p++, n++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr(ok, *p)))
			n = 256;
	if (n > 255)
		return err_set(e, "InvalidParameterValue",
			       "Invalid rule description '%s'. Valid descriptions are strings less than 256 characters from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*",
			       d);
	return 0;
}

static void sg_arn(json_t *sg, char buf[static 128])
{
	snprintf(buf, 128, "arn:aws:ec2:%s:%s:security-group/%s", jstr(sg, "_region"), OWNER_ID,
		 jstr(sg, "GroupId"));
}

static const struct filter_map sg_filters[] = {
	{"group-id", "GroupId"},
	{"group-name", "GroupName"},
	{"vpc-id", "VpcId"},
	{"description", "Description"},
	{"owner-id", "OwnerId"},
	{"ip-permission.protocol", "IpPermissions.IpProtocol"},
	{"ip-permission.from-port", "IpPermissions.FromPort"},
	{"ip-permission.to-port", "IpPermissions.ToPort"},
	{"ip-permission.cidr", "IpPermissions.IpRanges.CidrIp"},
	{"ip-permission.group-id", "IpPermissions.UserIdGroupPairs.GroupId"},
	{"egress.ip-permission.protocol", "IpPermissionsEgress.IpProtocol"},
	{"egress.ip-permission.from-port", "IpPermissionsEgress.FromPort"},
	{"egress.ip-permission.to-port", "IpPermissionsEgress.ToPort"},
	{"egress.ip-permission.cidr", "IpPermissionsEgress.IpRanges.CidrIp"},
	{"egress.ip-permission.group-id", "IpPermissionsEgress.UserIdGroupPairs.GroupId"},
	{NULL, NULL}};

static const struct filter_map sgr_filters[] = {
	{"group-id", "GroupId"}, {"security-group-rule-id", "SecurityGroupRuleId"}, {NULL, NULL}};

/* A group's revision: the firewall recomputes its members' elements when it changes. */
static void sg_bump(json_t *sg)
{
	json_object_set_new(sg, "_rev", json_integer(json_integer_value(json_object_get(sg, "_rev")) + 1));
}

json_t *vpc_default_sg(const char *vpc_id)
{
	const char *id;
	json_t *o;
	obj_foreach_vpc("sg", vpc_id, id, o) if (strcmp(jstr(o, "VpcId"), vpc_id) == 0 &&
					   strcmp(jstr(o, "GroupName"), "default") == 0) return o;
	return NULL;
}

static json_t *sg_by_name(const char *vpc_id, const char *name)
{
	const char *id;
	json_t *o;
	obj_foreach_vpc("sg", vpc_id, id, o) if (strcmp(jstr(o, "VpcId"), vpc_id) == 0 &&
					   strcmp(jstr(o, "GroupName"), name) == 0) return o;
	return NULL;
}

static json_t *rule_new(struct txn *t, bool egress, const char *proto, int from, int to,
			const char *cidr, const char *group, const char *desc)
{
	char id[ID_MAX];
	new_id(t, "sgr", id);
	json_t *r = json_pack("{s:s, s:b, s:s, s:i, s:i}", "Id", id, "Egress", egress, "Proto", proto,
			      "From", from, "To", to);
	if (cidr)
		json_object_set_new(r, "Cidr", json_string(cidr));
	if (group)
		json_object_set_new(r, "Group", json_string(group));
	if (desc && *desc)
		json_object_set_new(r, "Desc", json_string(desc));
	return r;
}

static json_t *sg_new(struct txn *t, const char *region, const char *vpc_id, const char *name,
		      const char *desc, json_t *tags, char id[static ID_MAX])
{
	/* A number per group within its VPC, the key of group references in nftables. */
	int num = 1;
	for (bool used = true; used; num += used) {
		const char *oid;
		json_t *o;
		used = false;
		obj_foreach_vpc("sg", vpc_id, oid, o) if (json_integer_value(json_object_get(o, "_num")) == num)
		{
			used = true;
			break;
		}
	}
	new_id(t, "sg", id);
	json_t *sg = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:[]}", "_num", num, "_type", "sg",
			       "_region", region, "GroupId", id, "GroupName", name, "Description",
			       desc, "VpcId", vpc_id, "OwnerId", OWNER_ID, "Tags",
			       tags ? json_incref(tags) : json_array(), "_rules");
	/* A new group allows all outbound traffic, as in AWS. */
	json_array_append_new(json_object_get(sg, "_rules"),
			      rule_new(t, true, "-1", -1, -1, "0.0.0.0/0", NULL, NULL));
	obj_put(t, id, sg);
	return sg;
}

/* The default group of a new VPC: members reach each other, everything goes out. */
void sg_create_default(struct txn *t, const char *region, const char *vpc_id)
{
	char id[ID_MAX];
	json_t *sg = sg_new(t, region, vpc_id, "default", "default VPC security group", NULL, id);
	json_object_set_new(sg, "_owned_by_vpc", json_true());
	json_array_append_new(json_object_get(sg, "_rules"),
			      rule_new(t, false, "-1", -1, -1, NULL, id, NULL));
}

/* Public shape of a rule, as describe-security-group-rules prints it. */
static json_t *rule_public(json_t *sg, json_t *r)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:s, s:i, s:i}", "SecurityGroupRuleId",
			      jstr(r, "Id"), "GroupId", jstr(sg, "GroupId"), "GroupOwnerId", OWNER_ID,
			      "IsEgress", json_is_true(json_object_get(r, "Egress")), "IpProtocol",
			      jstr(r, "Proto"), "FromPort",
			      (int)json_integer_value(json_object_get(r, "From")), "ToPort",
			      (int)json_integer_value(json_object_get(r, "To")));
	if (*jstr(r, "Cidr"))
		json_object_set_new(o, "CidrIpv4", json_string(jstr(r, "Cidr")));
	else
		json_object_set_new(o, "ReferencedGroupInfo",
				    json_pack("{s:s, s:s}", "GroupId", jstr(r, "Group"), "UserId",
					      OWNER_ID));
	if (*jstr(r, "Desc"))
		json_object_set_new(o, "Description", json_string(jstr(r, "Desc")));
	json_object_set_new(o, "Tags", json_array());
	return o;
}

/* IpPermissions: rules grouped by (protocol, ports), as describe-security-groups prints. */
static json_t *permissions(json_t *sg, bool egress)
{
	json_t *out = json_array(), *r;
	size_t i;
	json_array_foreach(json_object_get(sg, "_rules"), i, r)
	{
		if (json_is_true(json_object_get(r, "Egress")) != egress)
			continue;
		const char *proto = jstr(r, "Proto");
		json_int_t from = json_integer_value(json_object_get(r, "From"));
		json_int_t to = json_integer_value(json_object_get(r, "To"));
		json_t *perm = NULL, *p;
		size_t j;
		json_array_foreach(out, j, p)
		{
			if (strcmp(jstr(p, "IpProtocol"), proto) != 0)
				continue;
			if (strcmp(proto, "-1") != 0 &&
			    (json_integer_value(json_object_get(p, "FromPort")) != from ||
			     json_integer_value(json_object_get(p, "ToPort")) != to))
				continue;
			perm = p;
			break;
		}
		if (!perm) {
			perm = json_pack("{s:s, s:[], s:[], s:[], s:[]}", "IpProtocol", proto, "IpRanges",
					 "Ipv6Ranges", "PrefixListIds", "UserIdGroupPairs");
			if (strcmp(proto, "-1") != 0) {
				json_object_set_new(perm, "FromPort", json_integer(from));
				json_object_set_new(perm, "ToPort", json_integer(to));
			}
			json_array_append_new(out, perm);
		}
		if (*jstr(r, "Cidr")) {
			json_t *range = json_pack("{s:s}", "CidrIp", jstr(r, "Cidr"));
			if (*jstr(r, "Desc"))
				json_object_set_new(range, "Description", json_string(jstr(r, "Desc")));
			json_array_append_new(json_object_get(perm, "IpRanges"), range);
		} else {
			json_t *pair = json_pack("{s:s, s:s}", "GroupId", jstr(r, "Group"), "UserId",
						 OWNER_ID);
			if (*jstr(r, "Desc"))
				json_object_set_new(pair, "Description", json_string(jstr(r, "Desc")));
			json_array_append_new(json_object_get(perm, "UserIdGroupPairs"), pair);
		}
	}
	return out;
}

static void sg_decorate(json_t *pub, json_t *o)
{
	char arn[128];
	sg_arn(o, arn);
	json_object_set_new(pub, "SecurityGroupArn", json_string(arn));
	json_object_set_new(pub, "IpPermissions", permissions(o, false));
	json_object_set_new(pub, "IpPermissionsEgress", permissions(o, true));
}

static int int_of(json_t *v, int dflt, bool *ok)
{
	if (!v)
		return dflt;
	if (json_is_integer(v))
		return (int)json_integer_value(v);
	if (json_is_string(v)) {
		char *end;
		long n = strtol(json_string_value(v), &end, 10);
		if (*json_string_value(v) && !*end)
			return (int)n;
	}
	*ok = false;
	return dflt;
}

/* Normalises a protocol as EC2 stores it: tcp, udp, icmp, -1, or a number. */
static int proto_norm(const char *p, char buf[static 8])
{
	if (!p || !*p)
		return -EINVAL;
	if (!strcasecmp(p, "tcp") || !strcmp(p, "6"))
		snprintf(buf, 8, "tcp");
	else if (!strcasecmp(p, "udp") || !strcmp(p, "17"))
		snprintf(buf, 8, "udp");
	else if (!strcasecmp(p, "icmp") || !strcmp(p, "1"))
		snprintf(buf, 8, "icmp");
	else if (!strcmp(p, "-1") || !strcasecmp(p, "all"))
		snprintf(buf, 8, "-1");
	else {
		char *end;
		long n = strtol(p, &end, 10);
		if (*end || n < 0 || n > 255)
			return -EINVAL;
		snprintf(buf, 8, "%ld", n);
	}
	return 0;
}

/* Flat rules (appended to `out`) from a list of IpPermissions. Group references must name
 * groups of the same VPC. */
static int perms_to_rules(struct req *rq, json_t *sg, bool egress, bool for_revoke, json_t *perms,
			  json_t *out, struct err *e)
{
	json_t *p;
	size_t i;
	int r;
	json_array_foreach(perms, i, p)
	{
		char proto[8];
		bool ok = true;
		if (!json_is_object(p) || proto_norm(jstr(p, "IpProtocol"), proto) < 0)
			return err_set(e, "InvalidParameterValue",
				       "Invalid value '%s' for IP protocol. Unknown protocol.",
				       jstr(p, "IpProtocol"));
		int from = int_of(json_object_get(p, "FromPort"), -1, &ok);
		int to = int_of(json_object_get(p, "ToPort"), -1, &ok);
		if (!strcmp(proto, "tcp") || !strcmp(proto, "udp")) {
			if (!ok || from < 0 || to > 65535 || from > to || !json_object_get(p, "FromPort"))
				return err_set(e, "InvalidParameterValue",
					       "Invalid TCP/UDP port range: from %d to %d", from, to);
		} else if (!strcmp(proto, "icmp")) {
			if (!ok || from < -1 || from > 255 || to < -1 || to > 255)
				return err_set(e, "InvalidParameterValue",
					       "Invalid ICMP type %d or code %d", from, to);
		} else {
			from = to = -1; /* ports mean nothing here; EC2 stores -1 */
		}
		_cleanup_json_ json_t *ranges = param_list(p, "IpRanges");
		_cleanup_json_ json_t *pairs = param_list(p, "UserIdGroupPairs");
		size_t n = json_array_size(ranges) + json_array_size(pairs), j;
		json_t *x;
		if (json_array_size(json_object_get(p, "Ipv6Ranges")) ||
		    json_array_size(json_object_get(p, "PrefixListIds")))
			return err_set(e, "UnsupportedOperation",
				       "IPv6 ranges and prefix lists are not supported by vpclab");
		if (n == 0)
			return err_set(e, "MissingParameter",
				       "Each permission needs an IpRanges or UserIdGroupPairs entry");
		json_array_foreach(ranges, j, x)
		{
			struct cidr c;
			const char *cidr = json_is_string(x) ? json_string_value(x) : jstr(x, "CidrIp");
			if (cidr_parse(cidr, &c) < 0)
				return err_set(e, "InvalidParameterValue", "CIDR block %s is malformed", cidr);
			if ((r = desc_check(jstr(x, "Description"), e)) < 0)
				return r;
			json_array_append_new(out, rule_new(&rq->txn, egress, proto, from, to, cidr, NULL,
							    jstr(x, "Description")));
		}
		json_array_foreach(pairs, j, x)
		{
			const char *gid = jstr(x, "GroupId"), *uid = jstr(x, "UserId");
			json_t *ref = *gid ? obj_find(rq, gid, "sg", NULL) : NULL;
			if (!ref && *jstr(x, "GroupName"))
				ref = sg_by_name(jstr(sg, "VpcId"), jstr(x, "GroupName"));
			/* One account in a lab: another's group does not exist. */
			if (*uid && strcmp(uid, OWNER_ID) != 0)
				ref = NULL;
			if (!ref || strcmp(jstr(ref, "VpcId"), jstr(sg, "VpcId")) != 0) {
				if (for_revoke && !ref)
					return err_set(e, "InvalidPermission.NotFound",
						       "The specified rule does not exist in this security group.");
				return err_set(e, "InvalidGroup.NotFound",
					       "The security group '%s' does not exist in VPC '%s'",
					       *gid ? gid : jstr(x, "GroupName"), jstr(sg, "VpcId"));
			}
			if ((r = desc_check(jstr(x, "Description"), e)) < 0)
				return r;
			json_array_append_new(out, rule_new(&rq->txn, egress, proto, from, to, NULL,
							    jstr(ref, "GroupId"), jstr(x, "Description")));
		}
	}
	return 0;
}

/* Reads IpPermissions (or the --protocol/--port/--cidr/--source-group shorthand, or EC2's flat
 * IpProtocol/FromPort/ToPort/CidrIp/SourceSecurityGroupName form) into flat rules. */
static int parse_permissions(struct req *rq, json_t *sg, bool egress, bool for_revoke,
			     json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *perms = param_list(rq->params, "IpPermissions");
	_cleanup_json_ json_t *out = json_array();
	const char *sproto, *sport, *scidr, *sgroup, *sowner;
	int r;

	if ((r = param_str(rq, "Protocol", false, &sproto, e)) < 0 ||
	    (r = param_str(rq, "Port", false, &sport, e)) < 0 ||
	    (r = param_str(rq, "Cidr", false, &scidr, e)) < 0 ||
	    (r = param_str(rq, "SourceGroup", false, &sgroup, e)) < 0 ||
	    (r = param_str(rq, "GroupOwner", false, &sowner, e)) < 0)
		return r;
	if (sproto || sport || scidr || sgroup) {
		if (json_array_size(perms))
			return err_set(e, "InvalidParameterCombination",
				       "--ip-permissions cannot be combined with --protocol, --port, --cidr or --source-group");
		json_t *perm = json_pack("{s:s}", "IpProtocol", sproto ? sproto : "");
		if (sport) {
			int a = -1, b = -1;
			if (sscanf(sport, "%d-%d", &a, &b) == 2 || sscanf(sport, "%d", &a) == 1) {
				if (b == -1 || !strchr(sport + 1, '-'))
					b = a;
			}
			json_object_set_new(perm, "FromPort", json_integer(a));
			json_object_set_new(perm, "ToPort", json_integer(b));
		}
		if (scidr)
			json_object_set_new(perm, "IpRanges", json_pack("[{s:s}]", "CidrIp", scidr));
		/* As the aws CLI reads --source-group: an ID, or else a name. */
		if (sgroup)
			json_object_set_new(perm, "UserIdGroupPairs",
					    json_pack("[{s:s, s:s}]", strncmp(sgroup, "sg-", 3) ? "GroupName" : "GroupId",
						      sgroup, "UserId", sowner ? sowner : OWNER_ID));
		json_array_append_new(perms, perm);
	}
	/* EC2's flat form, which SDK code uses widely: IpProtocol, FromPort, ToPort and CidrIp make
	 * one permission; SourceSecurityGroupName (and SourceSecurityGroupOwnerId) without a
	 * protocol grants full TCP, UDP and ICMP access from that group, as EC2 does. */
	json_t *fl = rq->params;
	const char *fproto, *fcidr, *fgroup, *fowner;
	if ((r = param_str(rq, "IpProtocol", false, &fproto, e)) < 0 ||
	    (r = param_str(rq, "CidrIp", false, &fcidr, e)) < 0 ||
	    (r = param_str(rq, "SourceSecurityGroupName", false, &fgroup, e)) < 0 ||
	    (r = param_str(rq, "SourceSecurityGroupOwnerId", false, &fowner, e)) < 0)
		return r;
	if (fproto || fcidr || fgroup || fowner || json_object_get(fl, "FromPort") ||
	    json_object_get(fl, "ToPort")) {
		if (json_array_size(perms))
			return err_set(e, "InvalidParameterCombination",
				       "The parameter 'ipPermissions' may not be used in combination with 'ipProtocol', 'fromPort', 'toPort', 'cidrIp', 'sourceSecurityGroupName' or 'sourceSecurityGroupOwnerId'");
		if (fcidr && fgroup)
			return err_set(e, "InvalidParameterCombination",
				       "You may not specify a referenced group and a CIDR IP address range in the same permission");
		if (fowner && !fgroup)
			return err_set(e, "MissingParameter",
				       "The request must contain the parameter sourceSecurityGroupName when sourceSecurityGroupOwnerId is given");
		if (fgroup && !fproto && !json_object_get(fl, "FromPort") && !json_object_get(fl, "ToPort")) {
			static const char *const full[][3] = {{"tcp", "0", "65535"}, {"udp", "0", "65535"}, {"icmp", "-1", "-1"}};
			for (size_t k = 0; k < ARRAY_SIZE(full); k++)
				json_array_append_new(perms, json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}]}", "IpProtocol",
								       full[k][0], "FromPort", full[k][1], "ToPort",
								       full[k][2], "UserIdGroupPairs", "GroupName",
								       fgroup, "UserId", fowner ? fowner : OWNER_ID));
		} else {
			json_t *perm = json_pack("{s:s}", "IpProtocol", fproto ? fproto : "");
			if (json_object_get(fl, "FromPort"))
				json_object_set(perm, "FromPort", json_object_get(fl, "FromPort"));
			if (json_object_get(fl, "ToPort"))
				json_object_set(perm, "ToPort", json_object_get(fl, "ToPort"));
			if (fcidr)
				json_object_set_new(perm, "IpRanges", json_pack("[{s:s}]", "CidrIp", fcidr));
			if (fgroup)
				json_object_set_new(perm, "UserIdGroupPairs",
						    json_pack("[{s:s, s:s}]", "GroupName", fgroup, "UserId",
							      fowner ? fowner : OWNER_ID));
			json_array_append_new(perms, perm);
		}
	}
	if (json_array_size(perms) == 0)
		return err_set(e, "MissingParameter",
			       "The request must contain the parameter ipPermissions");
	if ((r = perms_to_rules(rq, sg, egress, for_revoke, perms, out, e)) < 0)
		return r;
	*ret = TAKE_PTR(out);
	return 0;
}

/* A rule's identity: two rules with the same key are the same rule. */
static void rule_key(json_t *r, char *buf, size_t n)
{
	snprintf(buf, n, "%d|%s|%lld|%lld|%s|%s", json_is_true(json_object_get(r, "Egress")),
		 jstr(r, "Proto"), (long long)json_integer_value(json_object_get(r, "From")),
		 (long long)json_integer_value(json_object_get(r, "To")), jstr(r, "Cidr"),
		 jstr(r, "Group"));
}

/* Index of the group's rules by key: {key: index}. */
static json_t *rule_index(json_t *sg)
{
	json_t *idx = json_object(), *r;
	size_t i;
	char key[256];
	json_array_foreach(json_object_get(sg, "_rules"), i, r)
	{
		rule_key(r, key, sizeof(key));
		json_object_set_new(idx, key, json_integer((json_int_t)i));
	}
	return idx;
}

static void rule_text(json_t *r, char *buf, size_t n)
{
	snprintf(buf, n, "peer: %s, %s, from port: %lld, to port: %lld, ALLOW",
		 *jstr(r, "Cidr") ? jstr(r, "Cidr") : jstr(r, "Group"),
		 !strcmp(jstr(r, "Proto"), "-1") ? "ALL" : jstr(r, "Proto"),
		 (long long)json_integer_value(json_object_get(r, "From")),
		 (long long)json_integer_value(json_object_get(r, "To")));
}

static json_t *group_param(struct req *rq, struct err *e)
{
	const char *gid, *name;
	if (param_str(rq, "GroupId", false, &gid, e) < 0 || param_str(rq, "GroupName", false, &name, e) < 0)
		return NULL;
	if (gid)
		return obj_find(rq, gid, "sg", e);
	if (name) {
		/* By name: groups of the region's default VPC, as EC2-Classic-era scripts expect. */
		const char *id;
		json_t *o;
		obj_foreach("vpc", rq->region, id, o) if (json_is_true(json_object_get(o, "IsDefault")))
		{
			json_t *sg = sg_by_name(id, name);
			if (sg)
				return sg;
		}
		err_set(e, "InvalidGroup.NotFound",
			"The security group '%s' does not exist in default VPC", name);
		return NULL;
	}
	err_set(e, "MissingParameter", "The request must contain the parameter groupId or groupName");
	return NULL;
}

static int authorize_rules(struct req *rq, json_t **ret, struct err *e, bool egress)
{
	json_t *sg = group_param(rq, e), *rules = NULL, *r, *have;
	size_t i, j;
	int rc;
	if (!sg)
		return -EINVAL;
	if ((rc = parse_permissions(rq, sg, egress, false, &rules, e)) < 0)
		return rc;
	json_t *existing = json_object_get(sg, "_rules");
	_cleanup_json_ json_t *idx = rule_index(sg);
	size_t same_dir = 0;
	json_array_foreach(existing, j, have) same_dir += json_is_true(json_object_get(have, "Egress")) == egress;
	json_array_foreach(rules, i, r)
	{
		char key[256];
		rule_key(r, key, sizeof(key));
		if (json_object_get(idx, key)) {
			char text[256];
			rule_text(r, text, sizeof(text));
			json_decref(rules);
			return err_set(e, "InvalidPermission.Duplicate",
				       "the specified rule \"%s\" already exists", text);
		}
		json_object_set_new(idx, key, json_integer(-1));
	}
	if ((long long)(same_dir + json_array_size(rules)) > quota("rules_per_security_group", RULES_PER_GROUP)) {
		json_decref(rules);
		return err_set(e, "RulesPerSecurityGroupLimitExceeded",
			       "The maximum number of rules per security group has been reached (%lld %s rules).",
			       quota("rules_per_security_group", RULES_PER_GROUP), egress ? "outbound" : "inbound");
	}
	sg = obj_edit(&rq->txn, jstr(sg, "GroupId"));
	json_array_extend(json_object_get(sg, "_rules"), rules);
	sg_bump(sg);
	json_t *pub = json_array();
	json_array_foreach(rules, i, r) json_array_append_new(pub, rule_public(sg, r));
	json_decref(rules);
	txn_touch_vpc(&rq->txn, jstr(sg, "VpcId"));
	*ret = json_pack("{s:b, s:o}", "Return", 1, "SecurityGroupRules", pub);
	return 0;
}

static int revoke_rules(struct req *rq, json_t **ret, struct err *e, bool egress)
{
	json_t *sg = group_param(rq, e), *rules = NULL, *r, *have;
	_cleanup_json_ json_t *ids = NULL;
	size_t i, j;
	int rc;
	if (!sg)
		return -EINVAL;
	ids = param_list(rq->params, "SecurityGroupRuleIds");
	json_t *existing = json_object_get(sg, "_rules");
	_cleanup_json_ json_t *drop = json_array();
	if (json_array_size(ids)) {
		json_array_foreach(ids, i, r)
		{
			bool found = false;
			json_array_foreach(existing, j, have) if (!strcmp(jstr(have, "Id"), json_string_value(r) ?: "") &&
								  json_is_true(json_object_get(have, "Egress")) == egress)
			{
				json_array_append_new(drop, json_integer((json_int_t)j));
				found = true;
			}
			if (!found)
				return err_set(e, "InvalidSecurityGroupRuleId.NotFound",
					       "The security group rule ID '%s' does not exist",
					       json_string_value(r) ?: "");
		}
	} else {
		if ((rc = parse_permissions(rq, sg, egress, true, &rules, e)) < 0)
			return rc;
		_cleanup_json_ json_t *idx = rule_index(sg);
		json_array_foreach(rules, i, r)
		{
			char key[256];
			rule_key(r, key, sizeof(key));
			json_t *at = json_object_get(idx, key);
			if (at)
				json_array_append_new(drop, json_integer(json_integer_value(at)));
			if (!at) {
				json_decref(rules);
				return err_set(e, "InvalidPermission.NotFound",
					       "The specified rule does not exist in this security group.");
			}
		}
		json_decref(rules);
	}
	sg = obj_edit(&rq->txn, jstr(sg, "GroupId"));
	existing = json_object_get(sg, "_rules");
	/* Rebuild the list without the dropped indexes. */
	size_t n = json_array_size(existing);
	char *gone = calloc(n ? n : 1, 1);
	json_array_foreach(drop, i, r) gone[json_integer_value(r)] = 1;
	json_t *kept = json_array();
	json_array_foreach(existing, i, r) if (!gone[i]) json_array_append(kept, r);
	free(gone);
	json_object_set_new(sg, "_rules", kept);
	sg_bump(sg);
	txn_touch_vpc(&rq->txn, jstr(sg, "VpcId"));
	*ret = json_pack("{s:b}", "Return", 1);
	return 0;
}

int h_authorize_security_group_ingress(struct req *rq, json_t **ret, struct err *e) { return authorize_rules(rq, ret, e, false); }
int h_authorize_security_group_egress(struct req *rq, json_t **ret, struct err *e) { return authorize_rules(rq, ret, e, true); }
int h_revoke_security_group_ingress(struct req *rq, json_t **ret, struct err *e) { return revoke_rules(rq, ret, e, false); }
int h_revoke_security_group_egress(struct req *rq, json_t **ret, struct err *e) { return revoke_rules(rq, ret, e, true); }

int h_create_security_group(struct req *rq, json_t **ret, struct err *e)
{
	const char *name, *desc, *vpc_id;
	_cleanup_json_ json_t *tags = NULL;
	char id[ID_MAX];
	int r;
	if ((r = param_str(rq, "GroupName", true, &name, e)) < 0 ||
	    (r = param_str(rq, "Description", true, &desc, e)) < 0 ||
	    (r = param_str(rq, "VpcId", false, &vpc_id, e)) < 0)
		return r;
	if (!vpc_id) {
		const char *vid;
		json_t *o;
		obj_foreach("vpc", rq->region, vid, o) if (json_is_true(json_object_get(o, "IsDefault")))
			vpc_id = vid;
		if (!vpc_id)
			return err_set(e, "VPCIdNotSpecified", "No default VPC for this user");
	}
	json_t *vpc = obj_find(rq, vpc_id, "vpc", e);
	if (!vpc)
		return -EINVAL;
	if (!*name || strlen(name) > 255 || !strncasecmp(name, "sg-", 3))
		return err_set(e, "InvalidParameterValue",
			       "Invalid value '%s' for groupName. It may not be empty, longer than 255 characters, or start with sg-",
			       name);
	if (strlen(desc) > 255)
		return err_set(e, "InvalidParameterValue", "Invalid value for GroupDescription: too long");
	if (sg_by_name(vpc_id, name))
		return err_set(e, "InvalidGroup.Duplicate",
			       "The security group '%s' already exists for VPC '%s'", name, vpc_id);
	if ((r = param_tags(rq, "security-group", &tags, e)) < 0)
		return r;
	long long groups = 0;
	const char *oid;
	json_t *o;
	obj_foreach("sg", rq->region, oid, o) groups++;
	if (groups >= quota("security_groups_per_region", GROUPS_PER_REGION))
		return err_set(e, "SecurityGroupLimitExceeded",
			       "The maximum number of security groups has been reached (%lld in region '%s').",
			       quota("security_groups_per_region", GROUPS_PER_REGION), rq->region);
	char arn[128];
	sg_arn(sg_new(&rq->txn, rq->region, vpc_id, name, desc, tags, id), arn);
	txn_touch_vpc(&rq->txn, vpc_id);
	*ret = json_pack("{s:s}", "GroupId", id);
	if (json_array_size(tags))
		json_object_set(*ret, "Tags", tags);
	json_object_set_new(*ret, "SecurityGroupArn", json_string(arn));
	return 0;
}

int h_delete_security_group(struct req *rq, json_t **ret, struct err *e)
{
	json_t *sg = group_param(rq, e), *o;
	const char *id;
	if (!sg)
		return -EINVAL;
	const char *gid = jstr(sg, "GroupId");
	if (!strcmp(jstr(sg, "GroupName"), "default"))
		return err_set(e, "CannotDelete",
			       "the specified group: \"%s\" name: \"default\" cannot be deleted by a user", gid);
	obj_foreach_vpc("eni", jstr(sg, "VpcId"), id, o)
	{
		size_t i;
		json_t *g;
		json_array_foreach(json_object_get(o, "Groups"), i, g) if (!strcmp(jstr(g, "GroupId"), gid))
			return err_set(e, "DependencyViolation", "resource %s has a dependent object", gid);
	}
	obj_foreach_vpc("sg", jstr(sg, "VpcId"), id, o)
	{
		size_t i;
		json_t *r;
		if (o == sg)
			continue;
		json_array_foreach(json_object_get(o, "_rules"), i, r) if (!strcmp(jstr(r, "Group"), gid))
			return err_set(e, "DependencyViolation",
				       "resource %s has a dependent object (referenced by %s)", gid, id);
	}
	txn_touch_vpc(&rq->txn, jstr(sg, "VpcId"));
	obj_del(&rq->txn, gid);
	*ret = json_object();
	return 0;
}

int h_describe_security_groups(struct req *rq, json_t **ret, struct err *e)
{
	json_t *list, *token = NULL;
	_cleanup_json_ json_t *names = param_list(rq->params, "GroupNames");
	int r = describe(rq, "sg", "GroupIds", "GroupId", "InvalidGroup.NotFound", "security group",
			 sg_filters, sg_decorate, &list, &token, e);
	if (r < 0)
		return r;
	if (json_array_size(names)) {
		json_t *kept = json_array(), *g, *n;
		size_t i, j;
		json_array_foreach(names, j, n)
		{
			bool found = false;
			json_array_foreach(list, i, g) if (!strcmp(jstr(g, "GroupName"), json_string_value(n) ?: ""))
			{
				json_array_append(kept, g);
				found = true;
			}
			if (!found) {
				json_decref(kept), json_decref(list), json_decref(token);
				return err_set(e, "InvalidGroup.NotFound",
					       "The security group '%s' does not exist", json_string_value(n) ?: "");
			}
		}
		json_decref(list);
		list = kept;
	}
	*ret = json_pack("{s:o, s:o*}", "SecurityGroups", list, "NextToken", token);
	return 0;
}

int h_describe_security_group_rules(struct req *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *ids = param_list(rq->params, "SecurityGroupRuleIds");
	_cleanup_json_ json_t *filters = param_list(rq->params, "Filters");
	json_t *out = json_array(), *sg, *r, *f, *x;
	const char *id;
	size_t i, j, k;
	json_array_foreach(filters, i, f)
	{
		const struct filter_map *m = sgr_filters;
		while (m->name && strcmp(m->name, jstr(f, "Name")) != 0)
			m++;
		if (!m->name && strncmp(jstr(f, "Name"), "tag:", 4) != 0) {
			json_decref(out);
			return err_set(e, "InvalidParameterValue", "The filter '%s' is invalid", jstr(f, "Name"));
		}
	}
	obj_foreach("sg", rq->region, id, sg)
	{
		json_array_foreach(json_object_get(sg, "_rules"), i, r)
		{
			json_t *pub = rule_public(sg, r);
			bool ok = json_array_size(ids) == 0;
			json_array_foreach(ids, j, x) ok |= !strcmp(json_string_value(x) ?: "", jstr(r, "Id"));
			json_array_foreach(filters, j, f)
			{
				const struct filter_map *m = sgr_filters;
				while (m->name && strcmp(m->name, jstr(f, "Name")) != 0)
					m++;
				if (!m->name) {
					ok = false; /* rules carry no tags */
					continue;
				}
				_cleanup_json_ json_t *vals = param_list(f, "Values");
				bool any = false;
				json_array_foreach(vals, k, x) any |= wildcard_match(json_string_value(x) ?: "", jstr(pub, m->path));
				ok &= any;
			}
			if (ok)
				json_array_append_new(out, pub);
			else
				json_decref(pub);
		}
	}
	json_array_foreach(ids, j, x)
	{
		bool found = false;
		json_array_foreach(out, i, r) found |= !strcmp(jstr(r, "SecurityGroupRuleId"), json_string_value(x) ?: "");
		if (!found) {
			json_decref(out);
			return err_set(e, "InvalidSecurityGroupRuleId.NotFound",
				       "The security group rule ID '%s' does not exist", json_string_value(x) ?: "");
		}
	}
	*ret = json_pack("{s:o}", "SecurityGroupRules", out);
	return 0;
}

/* The index of the rule `rid` in `rules` (of direction `egress`, or either if egress < 0). */
static long rule_at(json_t *rules, const char *rid, int egress)
{
	json_t *r;
	size_t i;
	json_array_foreach(rules, i, r) if (!strcmp(jstr(r, "Id"), rid) &&
					    (egress < 0 || json_is_true(json_object_get(r, "Egress")) == egress))
		return (long)i;
	return -1;
}

/* Two rules of one group with the same key would be one rule twice. */
static int rules_unique(json_t *rules, struct err *e)
{
	_cleanup_json_ json_t *seen = json_object();
	json_t *r;
	size_t i;
	char key[256], text[256];
	json_array_foreach(rules, i, r)
	{
		rule_key(r, key, sizeof(key));
		if (json_object_get(seen, key)) {
			rule_text(r, text, sizeof(text));
			return err_set(e, "InvalidPermission.Duplicate",
				       "the specified rule \"%s\" already exists", text);
		}
		json_object_set_new(seen, key, json_true());
	}
	return 0;
}

/* ModifySecurityGroupRules: each rule named by its ID is replaced in place (same ID, same
 * direction), and the firewall applies the difference in one transaction. */
int h_modify_security_group_rules(struct req *rq, json_t **ret, struct err *e)
{
	json_t *sg = param_obj(rq, "GroupId", "sg", e), *up;
	size_t i;
	int r;
	if (!sg)
		return -EINVAL;
	_cleanup_json_ json_t *ups = param_list(rq->params, "SecurityGroupRules");
	if (json_array_size(ups) == 0)
		return err_set(e, "MissingParameter", "The request must contain the parameter SecurityGroupRules");
	_cleanup_json_ json_t *rules = json_deep_copy(json_object_get(sg, "_rules"));
	json_array_foreach(ups, i, up)
	{
		const char *rid = jstr(up, "SecurityGroupRuleId");
		json_t *rr = json_object_get(up, "SecurityGroupRule");
		if (!*rid)
			return err_set(e, "MissingParameter", "The request must contain the parameter SecurityGroupRuleId");
		long k = rule_at(rules, rid, -1);
		if (k < 0)
			return err_set(e, "InvalidSecurityGroupRuleId.NotFound",
				       "The security group rule ID '%s' does not exist in security group '%s'", rid,
				       jstr(sg, "GroupId"));
		if (!json_is_object(rr))
			return err_set(e, "MissingParameter", "The request must contain the parameter SecurityGroupRule");
		if (*jstr(rr, "CidrIpv6") || *jstr(rr, "PrefixListId"))
			return err_set(e, "UnsupportedOperation",
				       "IPv6 ranges and prefix lists are not supported by vpclab");
		const char *cidr = jstr(rr, "CidrIpv4"), *ref = jstr(rr, "ReferencedGroupId");
		if (*cidr && *ref)
			return err_set(e, "InvalidParameterCombination",
				       "You may not specify a referenced group and a CIDR IP address range in the same rule");
		if (!*cidr && !*ref)
			return err_set(e, "MissingParameter",
				       "The request must contain one of the parameters CidrIpv4, CidrIpv6, PrefixListId or ReferencedGroupId");
		json_t *old = json_array_get(rules, (size_t)k);
		bool egress = json_is_true(json_object_get(old, "Egress"));
		json_t *peer = json_pack("{s:s}", *cidr ? "CidrIp" : "GroupId", *cidr ? cidr : ref);
		if (json_object_get(rr, "Description"))
			json_object_set(peer, "Description", json_object_get(rr, "Description"));
		_cleanup_json_ json_t *perms = json_pack("[{s:s, s:[o]}]", "IpProtocol", jstr(rr, "IpProtocol"),
							 *cidr ? "IpRanges" : "UserIdGroupPairs", peer);
		json_t *perm = json_array_get(perms, 0);
		if (json_object_get(rr, "FromPort"))
			json_object_set(perm, "FromPort", json_object_get(rr, "FromPort"));
		if (json_object_get(rr, "ToPort"))
			json_object_set(perm, "ToPort", json_object_get(rr, "ToPort"));
		_cleanup_json_ json_t *one = json_array();
		if ((r = perms_to_rules(rq, sg, egress, false, perms, one, e)) < 0)
			return r;
		json_t *nr = json_array_get(one, 0);
		json_object_set(nr, "Id", json_object_get(old, "Id"));
		json_array_set(rules, (size_t)k, nr);
	}
	if ((r = rules_unique(rules, e)) < 0)
		return r;
	sg = obj_edit(&rq->txn, jstr(sg, "GroupId"));
	json_object_set(sg, "_rules", rules);
	sg_bump(sg);
	txn_touch_vpc(&rq->txn, jstr(sg, "VpcId"));
	*ret = json_pack("{s:b}", "Return", 1);
	return 0;
}

/* UpdateSecurityGroupRuleDescriptions{Ingress,Egress}: by rule ID, or by IpPermissions whose
 * ranges and pairs carry the new descriptions. Descriptions are not in the ruleset: nothing is
 * applied. */
static int update_descriptions(struct req *rq, json_t **ret, struct err *e, bool egress)
{
	json_t *sg = group_param(rq, e), *x;
	size_t i;
	int r;
	if (!sg)
		return -EINVAL;
	_cleanup_json_ json_t *descs = param_list(rq->params, "SecurityGroupRuleDescriptions");
	_cleanup_json_ json_t *perms = param_list(rq->params, "IpPermissions");
	if (json_array_size(descs) && json_array_size(perms))
		return err_set(e, "InvalidParameterCombination",
			       "The parameter 'ipPermissions' may not be used in combination with 'securityGroupRuleDescriptions'");
	if (!json_array_size(descs) && !json_array_size(perms))
		return err_set(e, "MissingParameter",
			       "The request must contain the parameter ipPermissions or securityGroupRuleDescriptions");
	_cleanup_json_ json_t *rules = json_deep_copy(json_object_get(sg, "_rules"));
	_cleanup_json_ json_t *want = json_array();
	if (json_array_size(perms) && (r = perms_to_rules(rq, sg, egress, true, perms, want, e)) < 0)
		return r;
	_cleanup_json_ json_t *idx = rule_index(sg);
	json_array_foreach(json_array_size(descs) ? descs : want, i, x)
	{
		long k;
		const char *desc;
		if (json_array_size(descs)) {
			const char *rid = jstr(x, "SecurityGroupRuleId");
			if (!*rid)
				return err_set(e, "MissingParameter",
					       "The request must contain the parameter SecurityGroupRuleId");
			if ((k = rule_at(rules, rid, egress)) < 0)
				return err_set(e, "InvalidSecurityGroupRuleId.NotFound",
					       "The security group rule ID '%s' does not exist in security group '%s'",
					       rid, jstr(sg, "GroupId"));
			desc = jstr(x, "Description");
			if ((r = desc_check(desc, e)) < 0)
				return r;
		} else {
			char key[256];
			rule_key(x, key, sizeof(key));
			json_t *at = json_object_get(idx, key);
			if (!at)
				return err_set(e, "InvalidPermission.NotFound",
					       "The specified rule does not exist in this security group.");
			k = (long)json_integer_value(at);
			desc = jstr(x, "Desc");
		}
		json_t *rule = json_array_get(rules, (size_t)k);
		if (*desc)
			json_object_set_new(rule, "Desc", json_string(desc));
		else
			json_object_del(rule, "Desc");
	}
	sg = obj_edit(&rq->txn, jstr(sg, "GroupId"));
	json_object_set(sg, "_rules", rules);
	*ret = json_pack("{s:b}", "Return", 1);
	return 0;
}

int h_update_security_group_rule_descriptions_ingress(struct req *rq, json_t **ret, struct err *e)
{
	return update_descriptions(rq, ret, e, false);
}

int h_update_security_group_rule_descriptions_egress(struct req *rq, json_t **ret, struct err *e)
{
	return update_descriptions(rq, ret, e, true);
}

/* ENI membership: validates a Groups list (IDs) for an ENI in vpc_id; returns the
 * [{GroupName, GroupId}] list to store. Empty input means the VPC's default group. */
int sg_eni_groups(struct req *rq, const char *vpc_id, json_t *ids, json_t **ret, struct err *e)
{
	json_t *out = json_array(), *x;
	size_t i;
	if (json_array_size(ids) > MAX_GROUPS_PER_ENI) {
		json_decref(out);
		return err_set(e, "SecurityGroupsPerInterfaceLimitExceeded",
			       "The maximum number of security groups per interface (%d) has been reached.",
			       MAX_GROUPS_PER_ENI);
	}
	json_array_foreach(ids, i, x)
	{
		const char *gid = json_string_value(x) ?: "";
		json_t *sg = obj_find(rq, gid, "sg", e);
		if (!sg || strcmp(jstr(sg, "VpcId"), vpc_id) != 0) {
			json_decref(out);
			if (sg)
				return err_set(e, "InvalidParameterValue",
					       "Security group %s and subnet belong to different networks.", gid);
			return -EINVAL;
		}
		bool dup = false;
		size_t j;
		json_t *y;
		json_array_foreach(out, j, y) dup |= !strcmp(jstr(y, "GroupId"), gid);
		if (!dup)
			json_array_append_new(out, json_pack("{s:s, s:s}", "GroupName", jstr(sg, "GroupName"),
							     "GroupId", gid));
	}
	if (json_array_size(out) == 0) {
		json_t *sg = vpc_default_sg(vpc_id);
		if (sg)
			json_array_append_new(out, json_pack("{s:s, s:s}", "GroupName", "default", "GroupId",
							     jstr(sg, "GroupId")));
	}
	*ret = out;
	return 0;
}
