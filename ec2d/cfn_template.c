/* CloudFormation templates: parse, check, parameters, conditions, intrinsic functions and the
 * dependency graph, as pure functions (cfn_template.h). Error messages are CloudFormation's
 * own forms, code ValidationError. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "b64.h"
#include "cfn_template.h"
#include "cidr.h"
#include "cleanup.h"
#include "jsonx.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* Nesting and size bounds: an alias may repeat a subtree (YAML's "billion laughs"), and an
 * anchor may even name its own ancestor. */
#define MAX_DEPTH 64
#define MAX_NODES 200000

static int verr(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int verr(struct err *e, const char *fmt, ...)
{
	char msg[sizeof(e->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(e, "ValidationError", "%s", msg);
}

/* --- resource types ------------------------------------------------------------------------ */

#define R CFN_REQUIRED
#define U CFN_UPDATABLE
static const struct cfn_prop vpc_props[] = {{"CidrBlock", R}, {"EnableDnsHostnames", U}, {"EnableDnsSupport", U},
					    {"InstanceTenancy", U}, {"Tags", U}, {NULL, 0}};
static const char *const vpc_attrs[] = {"CidrBlock", "CidrBlockAssociations", "DefaultNetworkAcl",
					"DefaultSecurityGroup", "Ipv6CidrBlocks", "VpcId", NULL};
static const struct cfn_prop subnet_props[] = {{"VpcId", R}, {"CidrBlock", R}, {"AvailabilityZone", 0},
					       {"AvailabilityZoneId", 0}, {"MapPublicIpOnLaunch", U}, {"Tags", U},
					       {NULL, 0}};
static const char *const subnet_attrs[] = {"AvailabilityZone", "AvailabilityZoneId", "CidrBlock", "Ipv6CidrBlocks",
					   "NetworkAclAssociationId", "SubnetId", "VpcId", NULL};
static const struct cfn_prop rt_props[] = {{"VpcId", R}, {"Tags", U}, {NULL, 0}};
static const char *const rt_attrs[] = {"RouteTableId", NULL};
static const struct cfn_prop route_props[] = {{"RouteTableId", R}, {"DestinationCidrBlock", 0},
					      {"GatewayId", U}, {"NatGatewayId", U}, {"NetworkInterfaceId", U},
					      {"InstanceId", U}, {"VpcPeeringConnectionId", U}, {NULL, 0}};
static const char *const no_attrs[] = {NULL};
static const struct cfn_prop srta_props[] = {{"RouteTableId", R}, {"SubnetId", R}, {NULL, 0}};
static const char *const id_attrs[] = {"Id", NULL};
static const struct cfn_prop igw_props[] = {{"Tags", U}, {NULL, 0}};
static const char *const igw_attrs[] = {"InternetGatewayId", NULL};
static const struct cfn_prop attach_props[] = {{"VpcId", R}, {"InternetGatewayId", R}, {NULL, 0}};
static const struct cfn_prop eip_props[] = {{"Domain", 0}, {"InstanceId", U}, {"Tags", U}, {NULL, 0}};
static const char *const eip_attrs[] = {"AllocationId", "PublicIp", NULL};
static const struct cfn_prop eipa_props[] = {{"AllocationId", 0}, {"EIP", 0}, {"InstanceId", 0},
					     {"NetworkInterfaceId", 0}, {"PrivateIpAddress", 0}, {NULL, 0}};
static const struct cfn_prop nat_props[] = {{"SubnetId", R}, {"AllocationId", 0}, {"ConnectivityType", 0},
					    {"PrivateIpAddress", 0}, {"Tags", U}, {NULL, 0}};
static const char *const nat_attrs[] = {"NatGatewayId", NULL};
static const struct cfn_prop sg_props[] = {{"GroupDescription", R}, {"GroupName", 0}, {"VpcId", 0},
					   {"SecurityGroupIngress", U}, {"SecurityGroupEgress", U}, {"Tags", U},
					   {NULL, 0}};
static const char *const sg_attrs[] = {"GroupId", "VpcId", NULL};
static const struct cfn_prop sgi_props[] = {{"GroupId", 0}, {"GroupName", 0}, {"IpProtocol", R}, {"FromPort", 0},
					    {"ToPort", 0}, {"CidrIp", 0}, {"SourceSecurityGroupId", 0},
					    {"SourceSecurityGroupOwnerId", 0}, {"Description", 0}, {NULL, 0}};
static const struct cfn_prop sge_props[] = {{"GroupId", R}, {"IpProtocol", R}, {"FromPort", 0}, {"ToPort", 0},
					    {"CidrIp", 0}, {"DestinationSecurityGroupId", 0}, {"Description", 0},
					    {NULL, 0}};
static const struct cfn_prop nacl_props[] = {{"VpcId", R}, {"Tags", U}, {NULL, 0}};
static const struct cfn_prop nacle_props[] = {{"NetworkAclId", R}, {"RuleNumber", R}, {"Protocol", R | U},
					      {"RuleAction", R | U}, {"Egress", 0}, {"CidrBlock", U},
					      {"Icmp", U}, {"PortRange", U}, {NULL, 0}};
static const struct cfn_prop snacl_props[] = {{"SubnetId", R}, {"NetworkAclId", R}, {NULL, 0}};
static const char *const snacl_attrs[] = {"AssociationId", NULL};
static const struct cfn_prop pcx_props[] = {{"VpcId", R}, {"PeerVpcId", R}, {"PeerOwnerId", 0}, {"PeerRegion", 0},
					    {"Tags", U}, {NULL, 0}};
static const struct cfn_prop eni_props[] = {{"SubnetId", R}, {"Description", 0}, {"GroupSet", U},
					    {"PrivateIpAddress", 0}, {"SourceDestCheck", U}, {"Tags", U},
					    {NULL, 0}};
static const char *const eni_attrs[] = {"Id", "PrimaryPrivateIpAddress", "SecondaryPrivateIpAddresses", NULL};
static const struct cfn_prop enia_props[] = {{"InstanceId", R}, {"NetworkInterfaceId", R}, {"DeviceIndex", R},
					     {"DeleteOnTermination", 0}, {NULL, 0}};
static const struct cfn_prop inst_props[] = {{"ImageId", R}, {"InstanceType", 0}, {"SubnetId", 0},
					     {"NetworkInterfaces", 0}, {"SecurityGroupIds", 0}, {"UserData", 0},
					     {"KeyName", 0}, {"SourceDestCheck", U}, {"Tags", U},
					     {"PrivateIpAddress", 0}, {"AvailabilityZone", 0}, {NULL, 0}};
static const char *const inst_attrs[] = {"AvailabilityZone", "PrivateDnsName", "PrivateIp", "PublicDnsName",
					 "PublicIp", "InstanceId", NULL};
static const struct cfn_prop key_props[] = {{"KeyName", R}, {"KeyType", 0}, {"KeyFormat", 0},
					    {"PublicKeyMaterial", 0}, {"Tags", 0}, {NULL, 0}};
static const char *const key_attrs[] = {"KeyFingerprint", "KeyPairId", NULL};
static const struct cfn_prop fl_props[] = {{"ResourceId", R}, {"ResourceType", R}, {"TrafficType", 0},
					   {"LogDestinationType", 0}, {"LogDestination", 0}, {"LogGroupName", 0},
					   {"DeliverLogsPermissionArn", 0}, {"LogFormat", 0},
					   {"MaxAggregationInterval", 0}, {"Tags", U}, {NULL, 0}};
static const struct cfn_prop fis_props[] = {{"Description", R | U}, {"Targets", R | U}, {"Actions", U},
					    {"StopConditions", R | U}, {"RoleArn", R | U}, {"Tags", 0},
					    {NULL, 0}};
#undef R
#undef U

static const struct cfn_type types[] = {
	{"AWS::EC2::VPC", vpc_props, vpc_attrs},
	{"AWS::EC2::Subnet", subnet_props, subnet_attrs},
	{"AWS::EC2::RouteTable", rt_props, rt_attrs},
	{"AWS::EC2::Route", route_props, no_attrs},
	{"AWS::EC2::SubnetRouteTableAssociation", srta_props, id_attrs},
	{"AWS::EC2::InternetGateway", igw_props, igw_attrs},
	{"AWS::EC2::VPCGatewayAttachment", attach_props, no_attrs},
	{"AWS::EC2::EIP", eip_props, eip_attrs},
	{"AWS::EC2::EIPAssociation", eipa_props, id_attrs},
	{"AWS::EC2::NatGateway", nat_props, nat_attrs},
	{"AWS::EC2::SecurityGroup", sg_props, sg_attrs},
	{"AWS::EC2::SecurityGroupIngress", sgi_props, id_attrs},
	{"AWS::EC2::SecurityGroupEgress", sge_props, id_attrs},
	{"AWS::EC2::NetworkAcl", nacl_props, id_attrs},
	{"AWS::EC2::NetworkAclEntry", nacle_props, id_attrs},
	{"AWS::EC2::SubnetNetworkAclAssociation", snacl_props, snacl_attrs},
	{"AWS::EC2::VPCPeeringConnection", pcx_props, id_attrs},
	{"AWS::EC2::NetworkInterface", eni_props, eni_attrs},
	{"AWS::EC2::NetworkInterfaceAttachment", enia_props, id_attrs},
	{"AWS::EC2::Instance", inst_props, inst_attrs},
	{"AWS::EC2::KeyPair", key_props, key_attrs},
	{"AWS::EC2::FlowLog", fl_props, id_attrs},
	{"AWS::FIS::ExperimentTemplate", fis_props, id_attrs},
};

const struct cfn_type *cfn_type_get(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(types); i++)
		if (!strcmp(types[i].name, name))
			return &types[i];
	return NULL;
}

const struct cfn_prop *cfn_prop_get(const struct cfn_type *t, const char *name)
{
	for (const struct cfn_prop *p = t ? t->props : NULL; p && p->name; p++)
		if (!strcmp(p->name, name))
			return p;
	return NULL;
}

static bool has_attr(const struct cfn_type *t, const char *name)
{
	for (const char *const *a = t->attrs; *a; a++)
		if (!strcmp(*a, name))
			return true;
	return false;
}

/* --- YAML ---------------------------------------------------------------------------------- */

/* The short forms, by tag: `!GetAtt a.b` is also a scalar. */
static const char *const functions[] = {"Fn::Base64", "Fn::Cidr", "Fn::FindInMap", "Fn::GetAtt", "Fn::GetAZs",
					"Fn::ImportValue", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::Sub",
					"Fn::If", "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", NULL};

static bool is_function(const char *k)
{
	for (const char *const *f = functions; *f; f++)
		if (!strcmp(*f, k))
			return true;
	return false;
}

static json_t *plain_scalar(const char *s, size_t n)
{
	if (n == 0 || (n == 1 && s[0] == '~') || (n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4))))
		return json_null();
	if ((n == 4 && (!memcmp(s, "true", 4) || !memcmp(s, "True", 4))))
		return json_true();
	if ((n == 5 && (!memcmp(s, "false", 5) || !memcmp(s, "False", 5))))
		return json_false();
	/* A decimal integer without a leading zero (an account ID or 0755 stays a string). */
	size_t i = s[0] == '-' ? 1 : 0;
	bool num = i < n && n - i <= 15 && (s[i] != '0' || n - i == 1);
	for (size_t k = i; num && k < n; k++)
		num = isdigit((unsigned char)s[k]);
	if (num)
		return json_integer(strtoll(s, NULL, 10));
	return json_stringn(s, n);
}

struct conv {
	yaml_document_t *doc;
	size_t nodes;
	struct err *e;
};

static int node_json(struct conv *c, yaml_node_t *n, int depth, json_t **ret);

static int tagged(struct conv *c, yaml_node_t *n, const char *tag, json_t *v, json_t **ret)
{
	char fn[80];
	if (!strcmp(tag, "!Ref") || !strcmp(tag, "!Condition")) {
		if (!json_is_string(v)) {
			json_decref(v);
			return verr(c->e, "Template format error: YAML not well-formed. %s takes a string (line %zu, column %zu)",
				    tag, n->start_mark.line + 1, n->start_mark.column + 1);
		}
		*ret = json_pack("{s:o}", tag + 1, v);
		return 0;
	}
	if (!strcmp(tag, "!GetAtt") && json_is_string(v)) {
		const char *s = json_string_value(v), *dot = strchr(s, '.');
		json_t *l = dot ? json_pack("[s#, s]", s, (int)(dot - s), dot + 1) : json_pack("[O]", v);
		json_decref(v);
		*ret = json_pack("{s:o}", "Fn::GetAtt", l);
		return 0;
	}
	/* Every other local tag is a function's short form; an unknown one is reported by the
	 * check as CloudFormation reports an unknown function. */
	snprintf(fn, sizeof(fn), "Fn::%.70s", tag + 1);
	*ret = json_pack("{s:o}", fn, v);
	return 0;
}

static int node_json(struct conv *c, yaml_node_t *n, int depth, json_t **ret)
{
	if (!n || depth > MAX_DEPTH || ++c->nodes > MAX_NODES)
		return verr(c->e, "Template format error: YAML not well-formed. The document nests too deeply or is too large");
	const char *tag = n->tag ? (const char *)n->tag : "";
	bool local = tag[0] == '!' && tag[1];
	json_t *v = NULL;
	int r;
	switch (n->type) {
	case YAML_SCALAR_NODE: {
		const char *s = (const char *)n->data.scalar.value;
		size_t len = n->data.scalar.length;
		if (!local && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && (!*tag || !strcmp(tag, YAML_STR_TAG) ||
										     !strcmp(tag, YAML_DEFAULT_SCALAR_TAG)))
			v = plain_scalar(s, len);
		else if (!strcmp(tag, YAML_INT_TAG) || !strcmp(tag, YAML_BOOL_TAG) || !strcmp(tag, YAML_NULL_TAG))
			v = plain_scalar(s, len);
		else
			v = json_stringn(s, len);
		if (!v)
			return verr(c->e, "Template format error: YAML not well-formed. A scalar is not valid UTF-8 (line %zu, column %zu)",
				    n->start_mark.line + 1, n->start_mark.column + 1);
		break;
	}
	case YAML_SEQUENCE_NODE:
		v = json_array();
		for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
			json_t *x;
			if ((r = node_json(c, yaml_document_get_node(c->doc, *i), depth + 1, &x)) < 0) {
				json_decref(v);
				return r;
			}
			json_array_append_new(v, x);
		}
		break;
	case YAML_MAPPING_NODE:
		v = json_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
			json_t *x;
			if (!k || k->type != YAML_SCALAR_NODE) {
				json_decref(v);
				return verr(c->e, "Template format error: YAML not well-formed. A key is not a string (line %zu, column %zu)",
					    n->start_mark.line + 1, n->start_mark.column + 1);
			}
			_cleanup_free_ char *key = strndup((const char *)k->data.scalar.value, k->data.scalar.length);
			if (!key || strlen(key) != k->data.scalar.length || json_object_get(v, key)) {
				json_decref(v);
				return verr(c->e, "Template format error: YAML not well-formed. Duplicate or bad key '%s' (line %zu, column %zu)",
					    key ? key : "", k->start_mark.line + 1, k->start_mark.column + 1);
			}
			if ((r = node_json(c, yaml_document_get_node(c->doc, p->value), depth + 1, &x)) < 0) {
				json_decref(v);
				return r;
			}
			json_object_set_new(v, key, x);
		}
		break;
	default:
		return verr(c->e, "Template format error: YAML not well-formed.");
	}
	if (!local) {
		*ret = v;
		return 0;
	}
	return tagged(c, n, tag, v, ret);
}

int cfn_template_parse(const char *text, size_t n, json_t **ret, struct err *e)
{
	size_t i = 0;
	while (i < n && isspace((unsigned char)text[i]))
		i++;
	if (n == 0 || i == n)
		return verr(e, "Template format error: At least one Resources member must be defined.");
	json_t *t = NULL;
	if (text[i] == '{') {
		json_error_t je;
		t = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
		if (!t)
			return verr(e, "Template format error: JSON not well-formed. (line %d, column %d)", je.line, je.column);
	} else {
		yaml_parser_t p;
		yaml_document_t doc;
		if (!yaml_parser_initialize(&p))
			return err_set(e, "InternalFailure", "libyaml: out of memory");
		yaml_parser_set_input_string(&p, (const unsigned char *)text, n);
		if (!yaml_parser_load(&p, &doc)) {
			int r = verr(e, "Template format error: YAML not well-formed. (line %zu, column %zu)",
				     p.problem_mark.line + 1, p.problem_mark.column + 1);
			yaml_parser_delete(&p);
			return r;
		}
		struct conv c = {.doc = &doc, .e = e};
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		int r = root ? node_json(&c, root, 0, &t) : verr(e, "Template format error: At least one Resources member must be defined.");
		/* One document: a second is not a template. */
		yaml_document_t more;
		if (r == 0 && yaml_parser_load(&p, &more)) {
			if (yaml_document_get_root_node(&more))
				r = verr(e, "Template format error: YAML not well-formed. A template is one YAML document");
			yaml_document_delete(&more);
		}
		yaml_document_delete(&doc);
		yaml_parser_delete(&p);
		if (r < 0) {
			json_decref(t);
			return r;
		}
	}
	if (!json_is_object(t)) {
		json_decref(t);
		return verr(e, "Template format error: unsupported structure.");
	}
	*ret = t;
	return 0;
}

/* --- the checks ---------------------------------------------------------------------------- */

static const char *const pseudo[] = {"AWS::Region", "AWS::AccountId", "AWS::StackName", "AWS::StackId",
				     "AWS::NoValue", "AWS::Partition", "AWS::URLSuffix", "AWS::NotificationARNs",
				     NULL};

static bool is_pseudo(const char *s)
{
	for (const char *const *p = pseudo; *p; p++)
		if (!strcmp(*p, s))
			return true;
	return false;
}

/* The one key of an intrinsic function's object, or NULL. */
static const char *fn_key(json_t *v)
{
	if (!json_is_object(v) || json_object_size(v) != 1)
		return NULL;
	const char *k = json_object_iter_key(json_object_iter(v));
	return !strcmp(k, "Ref") || !strncmp(k, "Fn::", 4) || !strcmp(k, "Condition") ? k : NULL;
}

struct check {
	json_t *t;
	struct err *e;
	bool in_conditions; /* Condition is a function inside Conditions only (and Fn::If's names) */
};

static int unsupported(struct err *e, const char *k)
{
	return verr(e, "Template format error: Encountered unsupported function: %s Supported functions are: "
		       "[Fn::Base64, Fn::GetAtt, Fn::GetAZs, Fn::ImportValue, Fn::Join, Fn::Split, Fn::FindInMap, "
		       "Fn::Select, Ref, Fn::Equals, Fn::If, Fn::Not, Condition, Fn::And, Fn::Or, Fn::Contains, "
		       "Fn::EachMemberEquals, Fn::EachMemberIn, Fn::ValueOf, Fn::ValueOfAll, Fn::RefAll, Fn::Sub, "
		       "Fn::Cidr]",
		    k);
}

static int ref_ok(struct check *c, const char *name, const char *where)
{
	if (is_pseudo(name) || json_object_get(json_object_get(c->t, "Parameters"), name) ||
	    json_object_get(json_object_get(c->t, "Resources"), name))
		return 0;
	return verr(c->e, "Template format error: Unresolved resource dependencies [%s] in the %s block of the template",
		    name, where);
}

static int getatt_ok(struct check *c, const char *res, const char *attr, const char *where)
{
	json_t *r = json_object_get(json_object_get(c->t, "Resources"), res);
	if (!r)
		return verr(c->e, "Template format error: Unresolved resource dependencies [%s] in the %s block of the template",
			    res, where);
	const struct cfn_type *ty = cfn_type_get(jstr(r, "Type"));
	if (ty && !has_attr(ty, attr))
		return verr(c->e, "Template error: resource %s does not support attribute type %s in Fn::GetAtt", res, attr);
	return 0;
}

/* The ${...} of a Fn::Sub string: each one a variable of `vars`, a Ref or a GetAtt. */
static int sub_names(const char *s, int (*each)(void *arg, const char *name), void *arg)
{
	for (const char *p = s; (p = strstr(p, "${"));) {
		if (p[2] == '!') {
			p += 3;
			continue;
		}
		const char *end = strchr(p, '}');
		if (!end)
			break;
		char name[256];
		snprintf(name, sizeof(name), "%.*s", (int)(end - p - 2 < 255 ? end - p - 2 : 255), p + 2);
		int r = each(arg, name);
		if (r < 0)
			return r;
		p = end + 1;
	}
	return 0;
}

struct sub_check {
	struct check *c;
	json_t *vars;
	const char *where;
};

static int sub_check_one(void *arg, const char *name)
{
	struct sub_check *s = arg;
	if (json_object_get(s->vars, name))
		return 0;
	const char *dot = strchr(name, '.');
	if (dot && !is_pseudo(name)) {
		char res[256];
		snprintf(res, sizeof(res), "%.*s", (int)(dot - name), name);
		return getatt_ok(s->c, res, dot + 1, s->where);
	}
	return ref_ok(s->c, name, s->where);
}

static int check_value(struct check *c, json_t *v, const char *where, int depth);

static int nargs(struct check *c, const char *k, json_t *a, size_t min, size_t max)
{
	if (!json_is_array(a) || json_array_size(a) < min || json_array_size(a) > max)
		return verr(c->e, "Template error: %s takes %s%zu arguments", k, min == max ? "" : "at least ", min);
	return 0;
}

static int check_fn(struct check *c, const char *k, json_t *a, const char *where, int depth)
{
	int r;
	if (!strcmp(k, "Ref")) {
		if (!json_is_string(a))
			return verr(c->e, "Template format error: Every Ref object must have a single String value.");
		return ref_ok(c, json_string_value(a), where);
	}
	if (!strcmp(k, "Condition")) {
		if (!c->in_conditions)
			return unsupported(c->e, k);
		if (!json_is_string(a) || !json_object_get(json_object_get(c->t, "Conditions"), json_string_value(a)))
			return verr(c->e, "Template format error: Unresolved dependencies [%s]. Cannot reference resources in the Conditions block of the template",
				    json_is_string(a) ? json_string_value(a) : "?");
		return 0;
	}
	if (!is_function(k))
		return unsupported(c->e, k);
	if (!strcmp(k, "Fn::GetAtt")) {
		if (nargs(c, k, a, 2, 2) < 0 || !json_is_string(json_array_get(a, 0)))
			return verr(c->e, "Template error: every Fn::GetAtt object requires two non-empty parameters");
		if (!json_is_string(json_array_get(a, 1)))
			return check_value(c, json_array_get(a, 1), where, depth + 1);
		return getatt_ok(c, json_string_value(json_array_get(a, 0)), json_string_value(json_array_get(a, 1)), where);
	}
	if (!strcmp(k, "Fn::Sub")) {
		json_t *s = json_is_array(a) ? json_array_get(a, 0) : a, *vars = json_is_array(a) ? json_array_get(a, 1) : NULL;
		if (!json_is_string(s) || (json_is_array(a) && (json_array_size(a) != 2 || !json_is_object(vars))))
			return verr(c->e, "Template error: One or more Fn::Sub intrinsic functions don't specify expected arguments. "
					  "Specify a string as first argument, and an optional second argument to specify a mapping of values to replace in the string");
		if (vars && (r = check_value(c, vars, where, depth + 1)) < 0)
			return r;
		struct sub_check sc = {c, vars, where};
		return sub_names(json_string_value(s), sub_check_one, &sc);
	}
	if (!strcmp(k, "Fn::If")) {
		if (nargs(c, k, a, 3, 3) < 0 || !json_is_string(json_array_get(a, 0)))
			return verr(c->e, "Template error: Fn::If requires a list argument with three elements");
		const char *cn = json_string_value(json_array_get(a, 0));
		if (!json_object_get(json_object_get(c->t, "Conditions"), cn))
			return verr(c->e, "Template format error: Unresolved condition dependency %s in Fn::If", cn);
		if ((r = check_value(c, json_array_get(a, 1), where, depth + 1)) < 0)
			return r;
		return check_value(c, json_array_get(a, 2), where, depth + 1);
	}
	if (!strcmp(k, "Fn::Equals") && (r = nargs(c, k, a, 2, 2)) < 0)
		return r;
	if (!strcmp(k, "Fn::Not") && (r = nargs(c, k, a, 1, 1)) < 0)
		return r;
	if ((!strcmp(k, "Fn::And") || !strcmp(k, "Fn::Or")) && (r = nargs(c, k, a, 2, 10)) < 0)
		return r;
	if ((!strcmp(k, "Fn::Select") || !strcmp(k, "Fn::Join") || !strcmp(k, "Fn::Split")) && (r = nargs(c, k, a, 2, 2)) < 0)
		return r;
	if ((!strcmp(k, "Fn::FindInMap") || !strcmp(k, "Fn::Cidr")) && (r = nargs(c, k, a, 3, 3)) < 0)
		return r;
	if (!strcmp(k, "Fn::FindInMap") && json_is_string(json_array_get(a, 0)) &&
	    !json_object_get(json_object_get(c->t, "Mappings"), json_string_value(json_array_get(a, 0))))
		return verr(c->e, "Template error: Unable to get mapping for %s::...", json_string_value(json_array_get(a, 0)));
	if ((!strcmp(k, "Fn::Not") || !strcmp(k, "Fn::And") || !strcmp(k, "Fn::Or")) && !c->in_conditions) {
		/* Inside Fn::If's branches these are fine too: CloudFormation takes them anywhere a
		 * condition can be evaluated. */
	}
	return check_value(c, a, where, depth + 1);
}

static int check_value(struct check *c, json_t *v, const char *where, int depth)
{
	if (depth > MAX_DEPTH)
		return verr(c->e, "Template format error: the template nests too deeply");
	const char *k = fn_key(v);
	if (k)
		return check_fn(c, k, json_object_get(v, k), where, depth);
	int r;
	if (json_is_object(v)) {
		const char *key;
		json_t *x;
		json_object_foreach(v, key, x) if ((r = check_value(c, x, where, depth + 1)) < 0) return r;
	} else if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) if ((r = check_value(c, x, where, depth + 1)) < 0) return r;
	}
	return 0;
}

static const char *const param_types[] = {
	"String", "Number", "List<Number>", "CommaDelimitedList", "AWS::EC2::AvailabilityZone::Name",
	"AWS::EC2::Image::Id", "AWS::EC2::Instance::Id", "AWS::EC2::KeyPair::KeyName", "AWS::EC2::SecurityGroup::GroupName",
	"AWS::EC2::SecurityGroup::Id", "AWS::EC2::Subnet::Id", "AWS::EC2::Volume::Id", "AWS::EC2::VPC::Id",
	"List<AWS::EC2::AvailabilityZone::Name>", "List<AWS::EC2::Image::Id>", "List<AWS::EC2::Instance::Id>",
	"List<AWS::EC2::SecurityGroup::GroupName>", "List<AWS::EC2::SecurityGroup::Id>", "List<AWS::EC2::Subnet::Id>",
	"List<AWS::EC2::Volume::Id>", "List<AWS::EC2::VPC::Id>", "List<String>", NULL};

static int check_parameters(json_t *t, struct err *e)
{
	json_t *ps = json_object_get(t, "Parameters"), *p;
	const char *name;
	if (ps && !json_is_object(ps))
		return verr(e, "Template format error: Parameters must be an object");
	json_object_foreach(ps, name, p)
	{
		const char *ty = jstr(p, "Type");
		bool ok = false;
		for (const char *const *x = param_types; *x && !ok; x++)
			ok = !strcmp(*x, ty);
		if (!json_is_object(p) || !*ty)
			return verr(e, "Template format error: Every Parameters object must contain a Type member.");
		if (!ok)
			return verr(e, "Template format error: Unrecognized parameter type: %s", ty);
		json_t *av = json_object_get(p, "AllowedValues");
		if (av && !json_is_array(av))
			return verr(e, "Template format error: Every AllowedValues object in the Parameters block must be a list");
		if (json_object_get(json_object_get(t, "Resources"), name))
			return verr(e, "Template format error: Parameter %s has the name of a resource", name);
	}
	return 0;
}

/* The outgoing edges of one value: Ref and Fn::GetAtt to resources, ${} of Fn::Sub. */
struct edges {
	json_t *resources;
	json_t *out; /* {name: true} */
};

static int sub_edge(void *arg, const char *name)
{
	struct edges *g = arg;
	char res[256];
	const char *dot = strchr(name, '.');
	snprintf(res, sizeof(res), "%.*s", dot ? (int)(dot - name) : (int)strlen(name), name);
	if (json_object_get(g->resources, res))
		json_object_set_new(g->out, res, json_true());
	return 0;
}

static void collect(struct edges *g, json_t *v, int depth)
{
	if (depth > MAX_DEPTH)
		return;
	const char *k = fn_key(v);
	json_t *a = k ? json_object_get(v, k) : NULL;
	if (k && !strcmp(k, "Ref") && json_is_string(a) && json_object_get(g->resources, json_string_value(a)))
		json_object_set_new(g->out, json_string_value(a), json_true());
	if (k && !strcmp(k, "Fn::GetAtt") && json_is_string(json_array_get(a, 0)) &&
	    json_object_get(g->resources, json_string_value(json_array_get(a, 0))))
		json_object_set_new(g->out, json_string_value(json_array_get(a, 0)), json_true());
	if (k && !strcmp(k, "Fn::Sub")) {
		json_t *s = json_is_array(a) ? json_array_get(a, 0) : a, *vars = json_is_array(a) ? json_array_get(a, 1) : NULL;
		if (json_is_string(s)) {
			/* A variable of the map hides a resource of the same name. */
			_cleanup_json_ json_t *saved = json_deep_copy(g->out);
			sub_names(json_string_value(s), sub_edge, g);
			const char *vk;
			json_t *vv;
			json_object_foreach(vars, vk, vv) if (!json_object_get(saved, vk)) json_object_del(g->out, vk);
		}
	}
	const char *key;
	json_t *x;
	size_t i;
	if (json_is_object(v))
		json_object_foreach(v, key, x) collect(g, x, depth + 1);
	else if (json_is_array(v))
		json_array_foreach(v, i, x) collect(g, x, depth + 1);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int cfn_deps(json_t *t, json_t *conds, json_t **ret, struct err *e)
{
	json_t *res = json_object_get(t, "Resources"), *r;
	_cleanup_json_ json_t *g = json_object();
	const char *id;
	json_object_foreach(res, id, r)
	{
		const char *cn = jstr(r, "Condition");
		if (conds && *cn && !json_is_true(json_object_get(conds, cn)))
			continue;
		struct edges ed = {res, json_object()};
		collect(&ed, json_object_get(r, "Properties"), 0);
		json_t *dep = json_object_get(r, "DependsOn");
		if (json_is_string(dep))
			json_object_set_new(ed.out, json_string_value(dep), json_true());
		size_t i;
		json_t *x;
		json_array_foreach(dep, i, x) if (json_is_string(x)) json_object_set_new(ed.out, json_string_value(x), json_true());
		json_t *l = json_array();
		const char *d;
		json_object_foreach(ed.out, d, x)
		{
			json_t *dr = json_object_get(res, d);
			const char *dc = jstr(dr, "Condition");
			if (dr && !(conds && *dc && !json_is_true(json_object_get(conds, dc))))
				json_array_append_new(l, json_string(d));
		}
		json_decref(ed.out);
		json_object_set_new(g, id, l);
	}
	/* Kahn's algorithm both ways: what is left lies on a cycle or between two. */
	_cleanup_json_ json_t *left = json_deep_copy(g);
	for (bool more = true; more;) {
		more = false;
		void *it = json_object_iter(left);
		while (it) {
			const char *n = json_object_iter_key(it);
			json_t *l = json_object_iter_value(it);
			bool free_ = true, needed = false;
			size_t i;
			json_t *x;
			json_array_foreach(l, i, x) if (json_object_get(left, json_string_value(x)) && strcmp(json_string_value(x), n)) free_ = false;
			json_array_foreach(l, i, x) if (!strcmp(json_string_value(x), n)) free_ = false;
			const char *m;
			json_t *ml;
			json_object_foreach(left, m, ml)
			{
				json_array_foreach(ml, i, x) if (!strcmp(json_string_value(x), n)) needed = true;
			}
			it = json_object_iter_next(left, it);
			if (free_ || !needed) {
				json_object_del(left, n);
				more = true;
			}
		}
	}
	if (json_object_size(left)) {
		const char **names = calloc(json_object_size(left), sizeof(*names));
		size_t k = 0;
		const char *n;
		json_t *x;
		char list[700] = "";
		json_object_foreach(left, n, x) names[k++] = n;
		qsort(names, k, sizeof(*names), cmp_str);
		for (size_t i = 0; i < k; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", names[i]);
		free(names);
		return verr(e, "Template format error: Circular dependency between resources: [%s]", list);
	}
	*ret = TAKE_PTR(g);
	return 0;
}

static const char *const sections[] = {"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters",
				       "Mappings", "Conditions", "Transform", "Resources", "Outputs", "Rules", NULL};

int cfn_template_check(json_t *t, struct err *e)
{
	const char *k;
	json_t *v;
	int r;
	json_object_foreach(t, k, v)
	{
		bool ok = false;
		for (const char *const *s = sections; *s && !ok; s++)
			ok = !strcmp(*s, k);
		if (!ok)
			return verr(e, "Template format error: Invalid template property or properties [%s]", k);
	}
	json_t *ver = json_object_get(t, "AWSTemplateFormatVersion");
	if (ver && !(json_is_string(ver) && !strcmp(json_string_value(ver), "2010-09-09")))
		return verr(e, "Template format error: Unsupported template version: %s",
			    json_is_string(ver) ? json_string_value(ver) : "(not a string)");
	if (json_object_get(t, "Transform"))
		return verr(e, "Template format error: Transforms are not supported by vpclab: %s",
			    json_is_string(json_object_get(t, "Transform")) ? jstr(t, "Transform") : "(a list)");
	json_t *res = json_object_get(t, "Resources");
	if (!json_is_object(res) || json_object_size(res) == 0)
		return verr(e, "Template format error: At least one Resources member must be defined.");
	if ((r = check_parameters(t, e)) < 0)
		return r;
	json_t *maps = json_object_get(t, "Mappings");
	if (maps && !json_is_object(maps))
		return verr(e, "Template format error: Every Mappings member must be an object");
	json_object_foreach(maps, k, v) if (!json_is_object(v)) return verr(e, "Template format error: Every Mappings member %s must be a map", k);
	struct check c = {.t = t, .e = e, .in_conditions = true};
	json_t *conds = json_object_get(t, "Conditions");
	if (conds && !json_is_object(conds))
		return verr(e, "Template format error: Every Conditions member must be an object");
	json_object_foreach(conds, k, v) if ((r = check_value(&c, v, "Conditions", 0)) < 0) return r;
	/* Condition names used by Condition inside Conditions: a cycle there is an error too. */
	c.in_conditions = false;
	/* Unknown types first, all of them at once, as CloudFormation lists them. */
	char unknown[700] = "";
	json_object_foreach(res, k, v)
	{
		if (!json_is_object(v) || !json_is_string(json_object_get(v, "Type")))
			return verr(e, "Template format error: [/Resources/%s] Every Resources object must contain a Type member.", k);
		const char *ty = jstr(v, "Type");
		if (!cfn_type_get(ty) && !strstr(unknown, ty))
			snprintf(unknown + strlen(unknown), sizeof(unknown) - strlen(unknown), "%s%s", *unknown ? ", " : "", ty);
	}
	if (*unknown)
		return verr(e, "Template format error: Unrecognized resource types: [%s]", unknown);
	json_object_foreach(res, k, v)
	{
		const struct cfn_type *ty = cfn_type_get(jstr(v, "Type"));
		json_t *props = json_object_get(v, "Properties"), *pv;
		const char *pk, *mk;
		json_t *mv;
		json_object_foreach(v, mk, mv)
		{
			static const char *const members[] = {"Type", "Properties", "DependsOn", "Condition", "Metadata",
							      "DeletionPolicy", "UpdateReplacePolicy", "CreationPolicy",
							      "UpdatePolicy", NULL};
			bool ok = false;
			for (const char *const *m = members; *m && !ok; m++)
				ok = !strcmp(*m, mk);
			if (!ok)
				return verr(e, "Template format error: Invalid resource attribute %s in resource %s", mk, k);
		}
		if (props && !json_is_object(props))
			return verr(e, "Template format error: [/Resources/%s/Properties] Every Properties member must be an object", k);
		json_object_foreach(props, pk, pv) if (!cfn_prop_get(ty, pk)) return verr(e, "Template format error: Encountered unsupported property %s in resource %s (%s)", pk, k, ty->name);
		for (const struct cfn_prop *p = ty->props; p->name; p++)
			if ((p->flags & CFN_REQUIRED) && !json_object_get(props, p->name))
				return verr(e, "Template format error: Resource %s (%s) is missing required property %s", k, ty->name, p->name);
		char where[300];
		snprintf(where, sizeof(where), "Resources");
		if ((r = check_value(&c, props, where, 0)) < 0)
			return r;
		const char *cn = jstr(v, "Condition");
		if (json_object_get(v, "Condition") && !json_object_get(conds, cn))
			return verr(e, "Template format error: Unresolved condition dependency %s in Resources", cn);
		json_t *dep = json_object_get(v, "DependsOn"), *x;
		size_t i;
		if (dep && !json_is_string(dep) && !json_is_array(dep))
			return verr(e, "Template format error: DependsOn must be a string or a list of strings");
		if (json_is_string(dep) && !json_object_get(res, json_string_value(dep)))
			return verr(e, "Template format error: Unresolved resource dependencies [%s] in the Resources block of the template",
				    json_string_value(dep));
		json_array_foreach(dep, i, x) if (!json_is_string(x) || !json_object_get(res, json_string_value(x))) return verr(e, "Template format error: Unresolved resource dependencies [%s] in the Resources block of the template", json_is_string(x) ? json_string_value(x) : "?");
		const char *dp = jstr(v, "DeletionPolicy");
		if (*dp && strcmp(dp, "Delete") && strcmp(dp, "Retain"))
			return verr(e, "Template format error: Unrecognized DeletionPolicy %s for resource %s", dp, k);
	}
	json_t *outs = json_object_get(t, "Outputs");
	if (outs && !json_is_object(outs))
		return verr(e, "Template format error: Every Outputs member must be an object");
	json_object_foreach(outs, k, v)
	{
		if (!json_is_object(v) || !json_object_get(v, "Value"))
			return verr(e, "Template format error: Every Outputs member must contain a Value object");
		if ((r = check_value(&c, v, "Outputs", 0)) < 0)
			return r;
	}
	_cleanup_json_ json_t *g = NULL;
	return cfn_deps(t, NULL, &g, e);
}

/* --- parameters ---------------------------------------------------------------------------- */

static bool is_number(const char *s)
{
	char *end;
	if (!*s)
		return false;
	strtod(s, &end);
	return *end == 0;
}

int cfn_parameters(json_t *t, json_t *given, json_t **ret, struct err *e)
{
	json_t *ps = json_object_get(t, "Parameters"), *p, *gv;
	const char *name;
	_cleanup_json_ json_t *out = json_object();
	char missing[600] = "", extra[600] = "";
	json_object_foreach(given, name, gv) if (!json_object_get(ps, name)) snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), "%s%s", *extra ? ", " : "", name);
	if (*extra)
		return verr(e, "Parameters: [%s] do not exist in the template", extra);
	json_object_foreach(ps, name, p)
	{
		json_t *v = json_object_get(given, name);
		char buf[64];
		const char *s;
		if (!v)
			v = json_object_get(p, "Default");
		if (!v) {
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s", *missing ? ", " : "", name);
			continue;
		}
		if (json_is_integer(v))
			snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v)), s = buf;
		else if (json_is_real(v))
			snprintf(buf, sizeof(buf), "%g", json_real_value(v)), s = buf;
		else if (json_is_boolean(v))
			s = json_is_true(v) ? "true" : "false";
		else if (json_is_array(v)) {
			/* A list Default: CloudFormation takes the list's items. */
			_cleanup_free_ char *joined = NULL;
			size_t i;
			json_t *x;
			size_t n = 1;
			json_array_foreach(v, i, x) n += strlen(json_is_string(x) ? json_string_value(x) : "") + 1;
			joined = calloc(1, n);
			json_array_foreach(v, i, x) sprintf(joined + strlen(joined), "%s%s", i ? "," : "", json_is_string(x) ? json_string_value(x) : "");
			json_object_set_new(out, name, json_string(joined));
			continue;
		} else if (json_is_string(v))
			s = json_string_value(v);
		else
			return verr(e, "Template format error: Default of parameter %s must be a string", name);
		json_object_set_new(out, name, json_string(s));
	}
	if (*missing)
		return verr(e, "Parameters: [%s] must have values", missing);
	/* Types and constraints, then the lists. */
	json_object_foreach(ps, name, p)
	{
		const char *s = jstr(out, name), *ty = jstr(p, "Type");
		bool list = !strncmp(ty, "List<", 5) || !strcmp(ty, "CommaDelimitedList");
		json_t *av = json_object_get(p, "AllowedValues"), *x;
		size_t i;
		if (!strcmp(ty, "Number") && !is_number(s))
			return verr(e, "Parameter '%s' must be a number.", name);
		if (av && !list) {
			bool ok = false;
			json_array_foreach(av, i, x)
			{
				char b[64];
				const char *a = json_is_string(x) ? json_string_value(x) : NULL;
				if (json_is_integer(x))
					snprintf(b, sizeof(b), "%lld", (long long)json_integer_value(x)), a = b;
				if (a && !strcmp(a, s))
					ok = true;
			}
			if (!ok)
				return verr(e, "Parameter '%s' must be one of AllowedValues", name);
		}
		json_t *minl = json_object_get(p, "MinLength"), *maxl = json_object_get(p, "MaxLength");
		if ((json_is_integer(minl) && (long long)strlen(s) < json_integer_value(minl)) ||
		    (json_is_integer(maxl) && (long long)strlen(s) > json_integer_value(maxl)))
			return verr(e, "Parameter '%s' must contain %s %lld characters", name,
				    json_is_integer(minl) && (long long)strlen(s) < json_integer_value(minl) ? "at least" : "at most",
				    (long long)json_integer_value(json_is_integer(minl) && (long long)strlen(s) < json_integer_value(minl) ? minl : maxl));
		json_t *minv = json_object_get(p, "MinValue"), *maxv = json_object_get(p, "MaxValue");
		if (!strcmp(ty, "Number") && ((json_is_number(minv) && strtod(s, NULL) < json_number_value(minv)) ||
					      (json_is_number(maxv) && strtod(s, NULL) > json_number_value(maxv))))
			return verr(e, "Parameter '%s' must be a number %s %g.", name,
				    json_is_number(minv) && strtod(s, NULL) < json_number_value(minv) ? "not less than" : "not greater than",
				    json_is_number(minv) && strtod(s, NULL) < json_number_value(minv) ? json_number_value(minv) : json_number_value(maxv));
		if (list) {
			json_t *l = json_array();
			const char *q = s;
			while (*s) {
				const char *comma = strchr(q, ',');
				size_t n = comma ? (size_t)(comma - q) : strlen(q);
				json_array_append_new(l, json_stringn(q, n));
				if (!comma)
					break;
				q = comma + 1;
			}
			json_object_set_new(out, name, l);
		}
	}
	*ret = TAKE_PTR(out);
	return 0;
}

/* --- evaluation ---------------------------------------------------------------------------- */

static int eval(json_t *v, const struct cfn_ctx *ctx, int depth, json_t **ret, struct err *e);

static int eval_string(json_t *v, const struct cfn_ctx *ctx, int depth, const char *what, json_t **ret, struct err *e)
{
	json_t *x = NULL;
	int r = eval(v, ctx, depth, &x, e);
	if (r < 0)
		return r;
	if (json_is_integer(x)) {
		char b[32];
		snprintf(b, sizeof(b), "%lld", (long long)json_integer_value(x));
		json_decref(x);
		x = json_string(b);
	} else if (json_is_boolean(x)) {
		json_t *s = json_string(json_is_true(x) ? "true" : "false");
		json_decref(x);
		x = s;
	}
	if (!json_is_string(x)) {
		json_decref(x);
		return verr(e, "Template error: %s must be a string", what);
	}
	*ret = x;
	return 0;
}

static int condition_value(const char *name, const struct cfn_ctx *ctx, int depth, bool *ret, struct err *e)
{
	json_t *c = ctx->conditions ? json_object_get(ctx->conditions, name) : NULL;
	if (c) {
		*ret = json_is_true(c);
		return 0;
	}
	json_t *def = json_object_get(json_object_get(ctx->template, "Conditions"), name);
	if (!def)
		return verr(e, "Template format error: Unresolved condition dependency %s", name);
	if (depth > 16)
		return verr(e, "Template format error: Circular dependency between conditions: [%s]", name);
	json_t *x = NULL;
	int r = eval(def, ctx, depth + 1, &x, e);
	if (r < 0)
		return r;
	if (!json_is_boolean(x)) {
		json_decref(x);
		return verr(e, "Template format error: Condition %s must evaluate to true or false", name);
	}
	*ret = json_is_true(x);
	json_decref(x);
	return 0;
}

static int cond_arg(json_t *v, const struct cfn_ctx *ctx, int depth, bool *ret, struct err *e)
{
	json_t *x = NULL;
	int r = eval(v, ctx, depth, &x, e);
	if (r < 0)
		return r;
	if (!json_is_boolean(x) && !(json_is_string(x) && (!strcmp(json_string_value(x), "true") || !strcmp(json_string_value(x), "false")))) {
		json_decref(x);
		return verr(e, "Template error: Fn::And, Fn::Or and Fn::Not take conditions");
	}
	*ret = json_is_true(x) || (json_is_string(x) && !strcmp(json_string_value(x), "true"));
	json_decref(x);
	return 0;
}

static bool same(json_t *a, json_t *b)
{
	char x[64], y[64];
	if (json_equal(a, b))
		return true;
	/* "80" equals 80, "true" equals true: CloudFormation compares strings. */
	const char *sa = json_is_string(a) ? json_string_value(a) : NULL, *sb = json_is_string(b) ? json_string_value(b) : NULL;
	if (json_is_integer(a))
		snprintf(x, sizeof(x), "%lld", (long long)json_integer_value(a)), sa = x;
	if (json_is_boolean(a))
		sa = json_is_true(a) ? "true" : "false";
	if (json_is_integer(b))
		snprintf(y, sizeof(y), "%lld", (long long)json_integer_value(b)), sb = y;
	if (json_is_boolean(b))
		sb = json_is_true(b) ? "true" : "false";
	return sa && sb && !strcmp(sa, sb);
}

struct sub_out {
	const struct cfn_ctx *ctx;
	json_t *vars;
	char *buf;
	size_t len, cap;
	struct err *e;
};

static int append(struct sub_out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		size_t nc = (o->len + n + 1) * 2;
		char *nb = realloc(o->buf, nc);
		if (!nb)
			return err_set(o->e, "InternalFailure", "out of memory");
		o->buf = nb, o->cap = nc;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = 0;
	return 0;
}

static int sub_value(struct sub_out *o, const char *name, int depth)
{
	json_t *v = NULL;
	int r;
	json_t *var = json_object_get(o->vars, name);
	if (var)
		r = eval_string(var, o->ctx, depth, "A Fn::Sub variable", &v, o->e);
	else {
		const char *dot = is_pseudo(name) ? NULL : strchr(name, '.');
		_cleanup_json_ json_t *fn = NULL;
		if (dot)
			fn = json_pack("{s:[s#, s]}", "Fn::GetAtt", name, (int)(dot - name), dot + 1);
		else
			fn = json_pack("{s:s}", "Ref", name);
		r = eval_string(fn, o->ctx, depth, "A Fn::Sub variable", &v, o->e);
	}
	if (r < 0)
		return r;
	r = append(o, json_string_value(v), json_string_length(v));
	json_decref(v);
	return r;
}

static int eval_sub(json_t *a, const struct cfn_ctx *ctx, int depth, json_t **ret, struct err *e)
{
	json_t *s = json_is_array(a) ? json_array_get(a, 0) : a;
	struct sub_out o = {.ctx = ctx, .vars = json_is_array(a) ? json_array_get(a, 1) : NULL, .e = e};
	if (!json_is_string(s))
		return verr(e, "Template error: Fn::Sub takes a string");
	const char *p = json_string_value(s);
	int r = append(&o, "", 0);
	while (r == 0 && *p) {
		const char *d = strstr(p, "${");
		if (!d) {
			r = append(&o, p, strlen(p));
			break;
		}
		if ((r = append(&o, p, (size_t)(d - p))) < 0)
			break;
		if (d[2] == '!') {
			r = append(&o, "${", 2);
			p = d + 3;
			continue;
		}
		const char *end = strchr(d, '}');
		if (!end) {
			r = append(&o, d, strlen(d));
			break;
		}
		char name[256];
		snprintf(name, sizeof(name), "%.*s", (int)(end - d - 2 < 255 ? end - d - 2 : 255), d + 2);
		r = sub_value(&o, name, depth + 1);
		p = end + 1;
	}
	if (r == 0)
		*ret = json_string(o.buf);
	free(o.buf);
	return r;
}

int cfn_cidr(const char *block, long count, long bits, json_t **ret, struct err *e)
{
	struct cidr c;
	if (cidr_parse(block, &c) < 0)
		return verr(e, "Template error: Fn::Cidr's ipBlock '%s' is not a CIDR block", block);
	if (bits < 1 || bits > 32 - c.len || count < 1 || count > 256 || (uint64_t)count << bits > cidr_size(&c))
		return verr(e, "Template error: Fn::Cidr cannot make %ld blocks of %ld host bits out of '%s'", count, bits, block);
	json_t *l = json_array();
	for (long i = 0; i < count; i++) {
		struct cidr s = {.addr = c.addr + ((uint32_t)i << bits), .len = (uint8_t)(32 - bits)};
		char b[CIDR_STRLEN];
		cidr_format(&s, b);
		json_array_append_new(l, json_string(b));
	}
	*ret = l;
	return 0;
}

static long long int_of(json_t *v)
{
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v) && is_number(json_string_value(v)))
		return strtoll(json_string_value(v), NULL, 10);
	return -1;
}

static int eval_fn(const char *k, json_t *a, const struct cfn_ctx *ctx, int depth, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *x = NULL, *y = NULL, *z = NULL;
	int r;
	if (!strcmp(k, "Ref")) {
		const char *n = json_string_value(a);
		json_t *v;
		if (!n)
			return verr(e, "Template format error: Every Ref object must have a single String value.");
		if (!strcmp(n, "AWS::NoValue")) {
			*ret = NULL;
			return 0;
		}
		if ((v = json_object_get(ctx->params, n))) {
			*ret = json_deep_copy(v);
			return 0;
		}
		if ((v = json_object_get(json_object_get(ctx->resources, n), "Ref"))) {
			*ret = json_incref(v);
			return 0;
		}
		return verr(e, "Template format error: Unresolved resource dependencies [%s] in the Resources block of the template", n);
	}
	if (!strcmp(k, "Condition")) {
		bool b;
		if ((r = condition_value(json_string_value(a) ? json_string_value(a) : "", ctx, depth, &b, e)) < 0)
			return r;
		*ret = json_boolean(b);
		return 0;
	}
	if (!strcmp(k, "Fn::GetAtt")) {
		if ((r = eval_string(json_array_get(a, 1), ctx, depth + 1, "Fn::GetAtt's attribute", &y, e)) < 0)
			return r;
		const char *res = json_string_value(json_array_get(a, 0)), *attr = json_string_value(y);
		json_t *made = json_object_get(ctx->resources, res ? res : "");
		json_t *v = json_object_get(json_object_get(made, "Attrs"), attr);
		if (!made)
			return verr(e, "Template format error: Unresolved resource dependencies [%s] in the Resources block of the template",
				    res ? res : "");
		if (!v)
			return verr(e, "Template error: resource %s does not support attribute type %s in Fn::GetAtt", res, attr);
		*ret = json_deep_copy(v);
		return 0;
	}
	if (!strcmp(k, "Fn::Sub"))
		return eval_sub(a, ctx, depth, ret, e);
	if (!strcmp(k, "Fn::If")) {
		bool b;
		const char *cn = json_string_value(json_array_get(a, 0));
		if ((r = condition_value(cn ? cn : "", ctx, depth, &b, e)) < 0)
			return r;
		return eval(json_array_get(a, b ? 1 : 2), ctx, depth + 1, ret, e);
	}
	if (!strcmp(k, "Fn::Base64")) {
		if ((r = eval_string(a, ctx, depth + 1, "Fn::Base64's argument", &x, e)) < 0)
			return r;
		_cleanup_free_ char *b = b64_encode(json_string_value(x), json_string_length(x));
		if (!b)
			return err_set(e, "InternalFailure", "out of memory");
		*ret = json_string(b);
		return 0;
	}
	if (!strcmp(k, "Fn::GetAZs")) {
		*ret = json_deep_copy(ctx->azs ? ctx->azs : json_array());
		return *ret ? 0 : err_set(e, "InternalFailure", "out of memory");
	}
	if (!strcmp(k, "Fn::ImportValue")) {
		if ((r = eval_string(a, ctx, depth + 1, "Fn::ImportValue's argument", &x, e)) < 0)
			return r;
		json_t *v = json_object_get(ctx->exports, json_string_value(x));
		if (!v)
			return verr(e, "No export named %s found.", json_string_value(x));
		*ret = json_deep_copy(v);
		return 0;
	}
	if (!json_is_array(a))
		return verr(e, "Template error: %s takes a list", k);
	if (!strcmp(k, "Fn::Join")) {
		if ((r = eval_string(json_array_get(a, 0), ctx, depth + 1, "Fn::Join's delimiter", &x, e)) < 0 ||
		    (r = eval(json_array_get(a, 1), ctx, depth + 1, &y, e)) < 0)
			return r;
		if (!json_is_array(y))
			return verr(e, "Template error: every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of strings to be joined or a function that returns a list of strings (such as Fn::GetAZs) to be joined.");
		struct sub_out o = {.e = e};
		size_t i;
		json_t *it;
		r = append(&o, "", 0);
		json_array_foreach(y, i, it)
		{
			json_t *s = NULL;
			if (r == 0 && i)
				r = append(&o, json_string_value(x), json_string_length(x));
			if (r == 0 && (r = eval_string(it, ctx, depth + 1, "Fn::Join's items", &s, e)) == 0)
				r = append(&o, json_string_value(s), json_string_length(s));
			json_decref(s);
		}
		if (r == 0)
			*ret = json_string(o.buf);
		free(o.buf);
		return r;
	}
	if (!strcmp(k, "Fn::Select")) {
		if ((r = eval(json_array_get(a, 0), ctx, depth + 1, &x, e)) < 0 || (r = eval(json_array_get(a, 1), ctx, depth + 1, &y, e)) < 0)
			return r;
		long long i = int_of(x);
		if (!json_is_array(y) || i < 0 || (size_t)i >= json_array_size(y))
			return verr(e, "Template error: Fn::Select cannot select nonexistent value at index %lld", i);
		*ret = json_deep_copy(json_array_get(y, (size_t)i));
		return 0;
	}
	if (!strcmp(k, "Fn::Split")) {
		if ((r = eval_string(json_array_get(a, 0), ctx, depth + 1, "Fn::Split's delimiter", &x, e)) < 0 ||
		    (r = eval_string(json_array_get(a, 1), ctx, depth + 1, "Fn::Split's source", &y, e)) < 0)
			return r;
		const char *d = json_string_value(x), *s = json_string_value(y);
		size_t dl = strlen(d);
		if (!dl)
			return verr(e, "Template error: Fn::Split's delimiter is empty");
		json_t *l = json_array();
		for (;;) {
			const char *m = strstr(s, d);
			json_array_append_new(l, m ? json_stringn(s, (size_t)(m - s)) : json_string(s));
			if (!m)
				break;
			s = m + dl;
		}
		*ret = l;
		return 0;
	}
	if (!strcmp(k, "Fn::FindInMap")) {
		if ((r = eval_string(json_array_get(a, 0), ctx, depth + 1, "Fn::FindInMap's map", &x, e)) < 0 ||
		    (r = eval_string(json_array_get(a, 1), ctx, depth + 1, "Fn::FindInMap's key", &y, e)) < 0 ||
		    (r = eval_string(json_array_get(a, 2), ctx, depth + 1, "Fn::FindInMap's second key", &z, e)) < 0)
			return r;
		json_t *v = json_object_get(json_object_get(json_object_get(ctx->mappings, json_string_value(x)), json_string_value(y)),
					    json_string_value(z));
		if (!v)
			return verr(e, "Template error: Unable to get mapping for %s::%s::%s", json_string_value(x), json_string_value(y),
				    json_string_value(z));
		*ret = json_deep_copy(v);
		return 0;
	}
	if (!strcmp(k, "Fn::Cidr")) {
		if ((r = eval_string(json_array_get(a, 0), ctx, depth + 1, "Fn::Cidr's ipBlock", &x, e)) < 0 ||
		    (r = eval(json_array_get(a, 1), ctx, depth + 1, &y, e)) < 0 || (r = eval(json_array_get(a, 2), ctx, depth + 1, &z, e)) < 0)
			return r;
		return cfn_cidr(json_string_value(x), (long)int_of(y), (long)int_of(z), ret, e);
	}
	if (!strcmp(k, "Fn::Equals")) {
		if ((r = eval(json_array_get(a, 0), ctx, depth + 1, &x, e)) < 0 || (r = eval(json_array_get(a, 1), ctx, depth + 1, &y, e)) < 0)
			return r;
		*ret = json_boolean(same(x, y));
		return 0;
	}
	if (!strcmp(k, "Fn::Not") || !strcmp(k, "Fn::And") || !strcmp(k, "Fn::Or")) {
		bool and_ = !strcmp(k, "Fn::And"), acc = and_;
		size_t i;
		json_t *it;
		json_array_foreach(a, i, it)
		{
			bool b = false;
			if ((r = cond_arg(it, ctx, depth + 1, &b, e)) < 0)
				return r;
			acc = and_ ? acc && b : acc || b;
		}
		*ret = json_boolean(!strcmp(k, "Fn::Not") ? !acc : acc);
		return 0;
	}
	return unsupported(e, k);
}

static int eval(json_t *v, const struct cfn_ctx *ctx, int depth, json_t **ret, struct err *e)
{
	if (depth > MAX_DEPTH)
		return verr(e, "Template error: the template nests too deeply");
	const char *k = fn_key(v);
	int r;
	if (k)
		return eval_fn(k, json_object_get(v, k), ctx, depth, ret, e);
	if (json_is_object(v)) {
		json_t *o = json_object(), *x;
		const char *key;
		json_object_foreach(v, key, x)
		{
			json_t *y = NULL;
			if ((r = eval(x, ctx, depth + 1, &y, e)) < 0) {
				json_decref(o);
				return r;
			}
			if (y)
				json_object_set_new(o, key, y);
		}
		*ret = o;
		return 0;
	}
	if (json_is_array(v)) {
		json_t *l = json_array(), *x;
		size_t i;
		json_array_foreach(v, i, x)
		{
			json_t *y = NULL;
			if ((r = eval(x, ctx, depth + 1, &y, e)) < 0) {
				json_decref(l);
				return r;
			}
			if (y)
				json_array_append_new(l, y);
		}
		*ret = l;
		return 0;
	}
	*ret = json_incref(v);
	return 0;
}

int cfn_eval(json_t *v, const struct cfn_ctx *ctx, json_t **ret, struct err *e)
{
	return eval(v, ctx, 0, ret, e);
}

int cfn_conditions(json_t *t, const struct cfn_ctx *ctx, json_t **ret, struct err *e)
{
	json_t *conds = json_object_get(t, "Conditions"), *v;
	const char *name;
	_cleanup_json_ json_t *out = json_object();
	struct cfn_ctx c = *ctx;
	c.conditions = NULL;
	c.template = t;
	json_object_foreach(conds, name, v)
	{
		bool b;
		int r = condition_value(name, &c, 0, &b, e);
		if (r < 0)
			return r;
		json_object_set_new(out, name, json_boolean(b));
	}
	*ret = TAKE_PTR(out);
	return 0;
}
