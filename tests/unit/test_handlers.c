/* vpcd handlers against an in-memory model: AWS validation, error codes, describe filters and
 * paging, rollback. Handlers only change the model through a txn; the kernel is converged by
 * dispatch() (vpcd/server.c), which is never called here, so nothing needs root.
 *
 * `test_handlers --dump-shapes` prints one JSON object per line, {"op": ..., "output": ...},
 * for test_shapes.py to check against botocore's EC2 model. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include "vpcd.h"
#include "tap.h"

/* vpcd's main.c owns this global; the tests provide their own. */
struct vpcd *V;

#define DOPT "dopt-0123456789abcdef0"
#define REGION "us-east-1"

struct lab {
	struct vpcd v;
	char dir[64];
};

/* A fresh model in a temporary state directory, seed 42, with the us-east-1 region record
 * made by hand (region_ensure would create the region namespace). */
static bool lab_open(struct lab *l)
{
	struct err e = {0};
	struct txn t = {0};

	memset(l, 0, sizeof(*l));
	snprintf(l->dir, sizeof(l->dir), "/tmp/vpclab-ut-handlers-XXXXXX");
	if (!mkdtemp(l->dir))
		return false;
	V = &l->v;
	snprintf(V->prefix, sizeof(V->prefix), "ut");
	V->default_vpc = false;
	if (regions_load_config(NULL, &e) < 0 || store_open(l->dir, &V->store, &e) < 0) {
		diag("lab setup: %s: %s", e.code, e.msg);
		return false;
	}
	V->ids.state = 42;
	V->ns_cache = json_object();
	V->nft_applied = json_object();
	obj_put(&t, "region:" REGION,
		json_pack("{s:s,s:s,s:s,s:s}", "_type", "region", "_region", REGION, "RegionName",
			  REGION, "_dopt", DOPT));
	if (txn_commit(&t, &e) < 0) {
		diag("lab setup: %s: %s", e.code, e.msg);
		return false;
	}
	return true;
}

static void rm_state_dir(const char *dir)
{
	char p[PATH_MAX];
	DIR *d;
	struct dirent *de;

	if ((d = opendir(dir))) {
		while ((de = readdir(d)))
			if (de->d_name[0] != '.') {
				snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
				unlink(p);
			}
		closedir(d);
	}
	rmdir(dir);
}

static void lab_close(struct lab *l)
{
	store_free(l->v.store);
	json_decref(l->v.ns_cache);
	json_decref(l->v.nft_applied);
	struct vpcd *was = V;
	V = &l->v;
	model_index_free();
	V = was;
	l->v.store = NULL;
	rm_state_dir(l->dir);
	if (V == &l->v)
		V = NULL;
}

/* Runs one handler as dispatch() would, minus the kernel: commit on success, roll back on
 * failure. Steals params. */
static int call(handler_fn h, const char *action, json_t *params, json_t **ret, struct err *e)
{
	struct req rq = {.action = action, .region = REGION, .params = params ? params : json_object()};
	int r;

	memset(e, 0, sizeof(*e));
	*ret = NULL;
	r = h(&rq, ret, e);
	if (r == 0) {
		r = txn_commit(&rq.txn, e);
		if (r < 0) {
			json_decref(*ret);
			*ret = NULL;
		}
	} else {
		txn_rollback(&rq.txn);
		json_decref(rq.txn.dirty_vpcs);
	}
	json_decref(rq.params);
	return r;
}

/* A call that must succeed; a failure is reported as a failed assertion. Returns the result
 * (owned), or NULL. */
static json_t *must(handler_fn h, const char *action, json_t *params)
{
	struct err e;
	json_t *ret;
	if (call(h, action, params, &ret, &e) < 0) {
		ok(false, "%s succeeds", action);
		diag("  %s: %s", e.code, e.msg);
		return NULL;
	}
	return ret;
}

static char *model_dump(void)
{
	return json_dumps(store_objects(V->store), JSON_COMPACT | JSON_SORT_KEYS);
}

/* A call that must fail with `code` and leave the model and the ID stream as they were. */
static bool fails(handler_fn h, const char *action, json_t *params, const char *code,
		  const char *what)
{
	struct err e;
	json_t *ret;
	char *before = model_dump();
	uint64_t ids = V->ids.state;
	int r = call(h, action, params, &ret, &e);
	char *after = model_dump();
	bool same = before && after && strcmp(before, after) == 0 && ids == V->ids.state;
	bool res = ok(r < 0 && strcmp(e.code, code) == 0 && same, "%s: %s -> %s", action, what, code);
	if (!res) {
		diag("  r=%d, got %s: %s", r, r < 0 ? e.code : "(success)", r < 0 ? e.msg : "");
		if (!same)
			diag("  the model or the ID stream changed");
	}
	if (r == 0)
		json_decref(ret);
	free(before);
	free(after);
	return res;
}

/* Dotted path into a JSON value; numeric components index arrays. Borrowed. */
static json_t *jp(json_t *o, const char *path)
{
	char key[128];
	while (o && *path) {
		size_t n = strcspn(path, ".");
		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		char *end;
		long idx = strtol(key, &end, 10);
		if (json_is_array(o) && *key && !*end)
			o = json_array_get(o, (size_t)idx);
		else
			o = json_object_get(o, key);
		path += n + (path[n] == '.');
	}
	return o;
}

static const char *js(json_t *o, const char *path) { return json_string_value(jp(o, path)); }

/* ID of the created object, copied (results are freed right away). */
static void id_from(json_t *res, const char *path, char out[static ID_MAX])
{
	snprintf(out, ID_MAX, "%s", js(res, path) ? js(res, path) : "");
}

static json_t *vpc_params(const char *cidr) { return json_pack("{s:s}", "CidrBlock", cidr); }

static json_t *tagged(const char *rtype, const char *key, const char *value)
{
	return json_pack("[{s:s, s:[{s:s, s:s}]}]", "ResourceType", rtype, "Tags", "Key", key,
			 "Value", value);
}

static bool create_vpc(const char *cidr, char id[static ID_MAX])
{
	json_t *r = must(h_create_vpc, "CreateVpc", vpc_params(cidr));
	id_from(r, "Vpc.VpcId", id);
	json_decref(r);
	return r != NULL;
}

static bool create_subnet(const char *vpc, const char *cidr, char id[static ID_MAX])
{
	json_t *r = must(h_create_subnet, "CreateSubnet",
			 json_pack("{s:s, s:s}", "VpcId", vpc, "CidrBlock", cidr));
	id_from(r, "Subnet.SubnetId", id);
	json_decref(r);
	return r != NULL;
}

static bool create_eni(const char *subnet, const char *ip, char id[static ID_MAX])
{
	json_t *p = json_pack("{s:s}", "SubnetId", subnet);
	if (ip)
		json_object_set_new(p, "PrivateIpAddress", json_string(ip));
	json_t *r = must(h_create_network_interface, "CreateNetworkInterface", p);
	id_from(r, "NetworkInterface.NetworkInterfaceId", id);
	json_decref(r);
	return r != NULL;
}

/* Describe with one filter; returns the list under `key` (owned result in *keep). */
static json_t *describe1(handler_fn h, const char *action, const char *key, const char *fname,
			 const char *fvalue, json_t **keep)
{
	json_t *p = json_pack("{s:[{s:s, s:[s]}]}", "Filters", "Name", fname, "Values", fvalue);
	*keep = must(h, action, p);
	return json_object_get(*keep, key);
}

/* The main route table of a VPC, found through describe-route-tables. */
static bool main_rtb(const char *vpc, char out[static ID_MAX])
{
	json_t *keep;
	json_t *p = json_pack("{s:[{s:s, s:[s]}, {s:s, s:[s]}]}", "Filters", "Name", "vpc-id",
			      "Values", vpc, "Name", "association.main", "Values", "true");
	keep = must(h_describe_route_tables, "DescribeRouteTables", p);
	json_t *list = json_object_get(keep, "RouteTables");
	bool one = json_array_size(list) == 1;
	id_from(json_array_get(list, 0), "RouteTableId", out);
	json_decref(keep);
	return one;
}

static void test_vpc(void)
{
	json_t *r;
	char vpc[ID_MAX];

	r = must(h_create_vpc, "CreateVpc", vpc_params("10.0.0.0/16"));
	id_from(r, "Vpc.VpcId", vpc);
	ok(id_check(vpc, "vpc") == 0 && strlen(vpc) == 21, "CreateVpc returns an AWS-shaped VpcId (%s)", vpc);
	is_str(js(r, "Vpc.CidrBlock"), "10.0.0.0/16", "Vpc.CidrBlock");
	is_str(js(r, "Vpc.State"), "available", "Vpc.State");
	is_str(js(r, "Vpc.DhcpOptionsId"), DOPT, "Vpc.DhcpOptionsId comes from the region");
	is_str(js(r, "Vpc.InstanceTenancy"), "default", "Vpc.InstanceTenancy defaults to default");
	is_str(js(r, "Vpc.OwnerId"), OWNER_ID, "Vpc.OwnerId");
	ok(json_is_false(jp(r, "Vpc.IsDefault")), "Vpc.IsDefault is false");
	is_str(js(r, "Vpc.CidrBlockAssociationSet.0.CidrBlock"), "10.0.0.0/16",
	       "CidrBlockAssociationSet[0].CidrBlock");
	is_str(js(r, "Vpc.CidrBlockAssociationSet.0.CidrBlockState.State"), "associated",
	       "CidrBlockAssociationSet[0] associated");
	ok(id_check(js(r, "Vpc.CidrBlockAssociationSet.0.AssociationId") ?: "", "vpc-cidr-assoc") == 0,
	   "association ID is vpc-cidr-assoc-...");
	ok(jp(r, "Vpc.Tags") == NULL, "no Tags key when there are no tags (as AWS prints it)");
	json_decref(r);

	/* The main route table came with it. */
	char rtb[ID_MAX];
	ok(main_rtb(vpc, rtb) && id_check(rtb, "rtb") == 0, "the VPC has exactly one main route table");
	r = must(h_describe_route_tables, "DescribeRouteTables",
		 json_pack("{s:[s]}", "RouteTableIds", rtb));
	json_t *want_routes = json_pack("[{s:s, s:s, s:s, s:s}]", "DestinationCidrBlock",
					"10.0.0.0/16", "GatewayId", "local", "Origin",
					"CreateRouteTable", "State", "active");
	is_json(jp(r, "RouteTables.0.Routes"), want_routes, "main table: only the local route, active");
	json_decref(want_routes);
	ok(json_is_true(jp(r, "RouteTables.0.Associations.0.Main")) &&
		   jp(r, "RouteTables.0.Associations.0.SubnetId") == NULL,
	   "main association has Main true and no SubnetId");
	is_str(js(r, "RouteTables.0.Associations.0.AssociationState.State"), "associated",
	       "main association state");
	is_str(js(r, "RouteTables.0.VpcId"), vpc, "route table VpcId");
	json_decref(r);

	/* Range and syntax */
	fails(h_create_vpc, "CreateVpc", vpc_params("10.0.0.0/15"), "InvalidVpc.Range", "/15");
	fails(h_create_vpc, "CreateVpc", vpc_params("10.0.0.0/29"), "InvalidVpc.Range", "/29");
	fails(h_create_vpc, "CreateVpc", vpc_params("0.0.0.0/0"), "InvalidVpc.Range", "/0");
	fails(h_create_vpc, "CreateVpc", vpc_params("10.0.0.1/16"), "InvalidParameterValue",
	      "host bits set");
	fails(h_create_vpc, "CreateVpc", vpc_params("10.0.0.0/16x"), "InvalidParameterValue",
	      "junk after the prefix length");
	fails(h_create_vpc, "CreateVpc", json_object(), "MissingParameter", "no CidrBlock");
	fails(h_create_vpc, "CreateVpc", json_pack("{s:i}", "CidrBlock", 5), "InvalidParameterValue",
	      "CidrBlock not a string");
	fails(h_create_vpc, "CreateVpc",
	      json_pack("{s:s, s:s}", "CidrBlock", "10.0.0.0/16", "InstanceTenancy", "host"),
	      "InvalidParameterValue", "tenancy 'host'");
	fails(h_create_vpc, "CreateVpc",
	      json_pack("{s:s, s:s}", "CidrBlock", "10.0.0.0/16", "Ipv4IpamPoolId", "ipam-pool-0123"),
	      "UnsupportedOperation", "an IPAM pool");
	fails(h_create_vpc, "CreateVpc",
	      json_pack("{s:s, s:o}", "CidrBlock", "10.0.0.0/16", "TagSpecifications",
			tagged("subnet", "Name", "x")),
	      "InvalidParameterValue", "tag specification for another resource type");
	fails(h_create_vpc, "CreateVpc",
	      json_pack("{s:s, s:o}", "CidrBlock", "10.0.0.0/16", "TagSpecifications",
			tagged("vpc", "aws:reserved", "x")),
	      "InvalidParameterValue", "tag key starting with aws:");

	char a[ID_MAX], b[ID_MAX];
	ok(create_vpc("10.1.0.0/16", a), "CreateVpc /16 (the largest) accepted");
	ok(create_vpc("10.2.0.0/28", b), "CreateVpc /28 (the smallest) accepted");
	ok(create_vpc("10.0.0.0/16", a), "overlapping VPCs are allowed, as in AWS");

	r = must(h_create_vpc, "CreateVpc",
		 json_pack("{s:s, s:s}", "CidrBlock", "10.3.0.0/16", "InstanceTenancy", "dedicated"));
	is_str(js(r, "Vpc.InstanceTenancy"), "dedicated", "InstanceTenancy dedicated kept");
	json_decref(r);
}

static void test_subnets(void)
{
	char vpc[ID_MAX], s1[ID_MAX], s2[ID_MAX], other[ID_MAX];
	json_t *r;

	create_vpc("10.10.0.0/16", vpc);
	create_vpc("10.20.0.0/16", other);
	r = must(h_create_subnet, "CreateSubnet",
		 json_pack("{s:s, s:s}", "VpcId", vpc, "CidrBlock", "10.10.1.0/24"));
	id_from(r, "Subnet.SubnetId", s1);
	ok(id_check(s1, "subnet") == 0, "CreateSubnet returns a subnet ID (%s)", s1);
	is_str(js(r, "Subnet.VpcId"), vpc, "Subnet.VpcId");
	is_str(js(r, "Subnet.CidrBlock"), "10.10.1.0/24", "Subnet.CidrBlock");
	is_int(json_integer_value(jp(r, "Subnet.AvailableIpAddressCount")), 251,
	       "a new /24 has 251 available addresses");
	is_str(js(r, "Subnet.AvailabilityZone"), "us-east-1a", "first subnet of a VPC in the first AZ");
	is_str(js(r, "Subnet.AvailabilityZoneId"), "use1-az1", "its zone ID");
	is_str(js(r, "Subnet.State"), "available", "Subnet.State");
	ok(json_is_false(jp(r, "Subnet.DefaultForAz")) && json_is_false(jp(r, "Subnet.MapPublicIpOnLaunch")),
	   "not default for AZ, no public IPs");
	char arn[160];
	snprintf(arn, sizeof(arn), "arn:aws:ec2:us-east-1:" OWNER_ID ":subnet/%s", s1);
	is_str(js(r, "Subnet.SubnetArn"), arn, "Subnet.SubnetArn");
	json_decref(r);

	r = must(h_create_subnet, "CreateSubnet",
		 json_pack("{s:s, s:s}", "VpcId", vpc, "CidrBlock", "10.10.2.0/28"));
	id_from(r, "Subnet.SubnetId", s2);
	is_str(js(r, "Subnet.AvailabilityZone"), "us-east-1b", "second subnet spread to the second AZ");
	is_int(json_integer_value(jp(r, "Subnet.AvailableIpAddressCount")), 11,
	       "a new /28 has 11 available addresses");
	json_decref(r);

	r = must(h_create_subnet, "CreateSubnet",
		 json_pack("{s:s, s:s, s:s}", "VpcId", vpc, "CidrBlock", "10.10.3.0/24",
			   "AvailabilityZone", "us-east-1c"));
	is_str(js(r, "Subnet.AvailabilityZone"), "us-east-1c", "explicit AvailabilityZone");
	json_decref(r);
	r = must(h_create_subnet, "CreateSubnet",
		 json_pack("{s:s, s:s, s:s}", "VpcId", vpc, "CidrBlock", "10.10.4.0/24",
			   "AvailabilityZoneId", "use1-az6"));
	is_str(js(r, "Subnet.AvailabilityZone"), "us-east-1f", "AvailabilityZoneId use1-az6 -> us-east-1f");
	json_decref(r);

#define SUBNET(v, c) json_pack("{s:s, s:s}", "VpcId", v, "CidrBlock", c)
	fails(h_create_subnet, "CreateSubnet", SUBNET(vpc, "10.11.0.0/24"), "InvalidSubnet.Range",
	      "outside the VPC");
	fails(h_create_subnet, "CreateSubnet", SUBNET(vpc, "10.0.0.0/8"), "InvalidSubnet.Range",
	      "larger than the VPC");
	fails(h_create_subnet, "CreateSubnet", SUBNET(vpc, "10.10.5.0/29"), "InvalidSubnet.Range",
	      "/29 is too small");
	fails(h_create_subnet, "CreateSubnet", SUBNET(vpc, "10.10.1.0/24"), "InvalidSubnet.Conflict",
	      "same CIDR as an existing subnet");
	fails(h_create_subnet, "CreateSubnet", SUBNET(vpc, "10.10.1.128/25"), "InvalidSubnet.Conflict",
	      "inside an existing subnet");
	fails(h_create_subnet, "CreateSubnet", SUBNET(vpc, "10.10.0.0/22"), "InvalidSubnet.Conflict",
	      "around existing subnets");
	fails(h_create_subnet, "CreateSubnet", SUBNET(vpc, "10.10.2.8/29"), "InvalidSubnet.Range",
	      "/29 inside a /28 (range checked first)");
	fails(h_create_subnet, "CreateSubnet", SUBNET("vpc-0000000000000000a", "10.10.9.0/24"),
	      "InvalidVpcID.NotFound", "unknown VPC");
	fails(h_create_subnet, "CreateSubnet", SUBNET(s1, "10.10.9.0/24"), "InvalidVpcID.NotFound",
	      "a subnet ID where a VPC ID belongs");
	fails(h_create_subnet, "CreateSubnet", SUBNET(vpc, "10.10.9.1/24"), "InvalidParameterValue",
	      "host bits set");
	fails(h_create_subnet, "CreateSubnet", json_pack("{s:s}", "CidrBlock", "10.10.9.0/24"),
	      "MissingParameter", "no VpcId");
	fails(h_create_subnet, "CreateSubnet",
	      json_pack("{s:s, s:s, s:s}", "VpcId", vpc, "CidrBlock", "10.10.9.0/24",
			"AvailabilityZone", "us-west-2a"),
	      "InvalidParameterValue", "zone of another region");
	fails(h_create_subnet, "CreateSubnet",
	      json_pack("{s:s, s:s, s:s, s:s}", "VpcId", vpc, "CidrBlock", "10.10.9.0/24",
			"AvailabilityZone", "us-east-1a", "AvailabilityZoneId", "use1-az1"),
	      "InvalidParameterCombination", "zone name and zone ID together");
	ok(create_subnet(other, "10.20.1.0/24", s2), "the same subnet layout in another VPC is fine");
	ok(create_subnet(other, "10.20.0.0/24", s2), "an adjacent subnet is fine");

	/* Filters */
	json_t *keep, *list;
	list = describe1(h_describe_subnets, "DescribeSubnets", "Subnets", "vpc-id", vpc, &keep);
	is_int((long long)json_array_size(list), 4, "vpc-id filter: the VPC's 4 subnets");
	json_decref(keep);
	list = describe1(h_describe_subnets, "DescribeSubnets", "Subnets", "cidr-block", "10.10.*",
			 &keep);
	is_int((long long)json_array_size(list), 4, "cidr-block 10.10.* wildcard");
	json_decref(keep);
	list = describe1(h_describe_subnets, "DescribeSubnets", "Subnets", "availability-zone",
			 "us-east-1?", &keep);
	is_int((long long)json_array_size(list), 6, "availability-zone with ? wildcard");
	json_decref(keep);
	list = describe1(h_describe_subnets, "DescribeSubnets", "Subnets", "available-ip-address-count",
			 "11", &keep);
	is_int((long long)json_array_size(list), 1, "filter on the derived AvailableIpAddressCount");
	json_decref(keep);
	fails(h_describe_subnets, "DescribeSubnets",
	      json_pack("{s:[{s:s, s:[s]}]}", "Filters", "Name", "no-such-filter", "Values", "x"),
	      "InvalidParameterValue", "unknown filter name");
	fails(h_describe_subnets, "DescribeSubnets",
	      json_pack("{s:[s]}", "SubnetIds", "subnet-0000000000000000a"), "InvalidSubnetID.NotFound",
	      "unknown subnet ID");
}

static void test_enis(void)
{
	char vpc[ID_MAX], s24[ID_MAX], s28[ID_MAX], eni[ID_MAX], x[ID_MAX];
	json_t *r;

	create_vpc("10.30.0.0/16", vpc);
	create_subnet(vpc, "10.30.1.0/24", s24);
	create_subnet(vpc, "10.30.2.0/28", s28);

	r = must(h_create_network_interface, "CreateNetworkInterface",
		 json_pack("{s:s, s:s}", "SubnetId", s24, "Description", "web"));
	id_from(r, "NetworkInterface.NetworkInterfaceId", eni);
	ok(id_check(eni, "eni") == 0, "CreateNetworkInterface returns an ENI ID (%s)", eni);
	is_str(js(r, "NetworkInterface.PrivateIpAddress"), "10.30.1.4",
	       "first address after the four reserved");
	is_str(js(r, "NetworkInterface.PrivateIpAddresses.0.PrivateIpAddress"), "10.30.1.4",
	       "PrivateIpAddresses[0]");
	ok(json_is_true(jp(r, "NetworkInterface.PrivateIpAddresses.0.Primary")), "it is the primary");
	is_str(js(r, "NetworkInterface.PrivateDnsName"), "ip-10-30-1-4.ec2.internal",
	       "us-east-1 private DNS name");
	is_str(js(r, "NetworkInterface.Description"), "web", "Description");
	is_str(js(r, "NetworkInterface.Status"), "available", "Status available");
	is_str(js(r, "NetworkInterface.SubnetId"), s24, "SubnetId");
	is_str(js(r, "NetworkInterface.VpcId"), vpc, "VpcId");
	is_str(js(r, "NetworkInterface.AvailabilityZone"), "us-east-1a", "AZ of its subnet");
	is_str(js(r, "NetworkInterface.InterfaceType"), "interface", "InterfaceType");
	ok(json_is_true(jp(r, "NetworkInterface.SourceDestCheck")), "SourceDestCheck on by default");
	const char *mac = js(r, "NetworkInterface.MacAddress");
	ok(mac && strlen(mac) == 17 && strncmp(mac, "02:", 3) == 0, "MacAddress 02:... (%s)",
	   mac ? mac : "null");
	json_t *tagset = jp(r, "NetworkInterface.TagSet");
	ok(json_is_array(tagset) && json_array_size(tagset) == 0 && !jp(r, "NetworkInterface.Tags"),
	   "ENIs carry TagSet (empty), not Tags");
	/* A value only the result holds must have one reference, or freeing the result leaks it. */
	ok(tagset && tagset->refcount == 1, "the empty TagSet is owned by the result alone (refcount %zu)",
	     tagset ? (size_t)tagset->refcount : 0);
	json_decref(r);

	r = must(h_create_network_interface, "CreateNetworkInterface",
		 json_pack("{s:s, s:s}", "SubnetId", s24, "PrivateIpAddress", "10.30.1.10"));
	is_str(js(r, "NetworkInterface.PrivateIpAddress"), "10.30.1.10", "explicit address kept");
	json_decref(r);
	r = must(h_create_network_interface, "CreateNetworkInterface",
		 json_pack("{s:s}", "SubnetId", s24));
	is_str(js(r, "NetworkInterface.PrivateIpAddress"), "10.30.1.5", "next pick is .5");
	is_str(js(r, "NetworkInterface.Description"), "", "Description defaults to empty");
	json_decref(r);

#define ENI(s, ip) json_pack("{s:s, s:s}", "SubnetId", s, "PrivateIpAddress", ip)
	static const char *const reserved[] = {"10.30.1.0", "10.30.1.1", "10.30.1.2", "10.30.1.3",
					       "10.30.1.255"};
	for (size_t i = 0; i < 5; i++)
		fails(h_create_network_interface, "CreateNetworkInterface", ENI(s24, reserved[i]),
		      "InvalidParameterValue", reserved[i]);
	fails(h_create_network_interface, "CreateNetworkInterface", ENI(s24, "10.30.2.4"),
	      "InvalidParameterValue", "address of another subnet");
	fails(h_create_network_interface, "CreateNetworkInterface", ENI(s24, "10.30.1.010"),
	      "InvalidParameterValue", "address with a leading zero");
	fails(h_create_network_interface, "CreateNetworkInterface", ENI(s24, "10.30.1.10"),
	      "InvalidIPAddress.InUse", "duplicate address");
	fails(h_create_network_interface, "CreateNetworkInterface", ENI(s24, "10.30.1.4"),
	      "InvalidIPAddress.InUse", "address picked earlier");
	fails(h_create_network_interface, "CreateNetworkInterface",
	      json_pack("{s:s}", "SubnetId", "subnet-0000000000000000a"), "InvalidSubnetID.NotFound",
	      "unknown subnet");
	fails(h_create_network_interface, "CreateNetworkInterface", json_object(), "MissingParameter",
	      "no SubnetId");
	fails(h_create_network_interface, "CreateNetworkInterface",
	      json_pack("{s:s, s:s}", "SubnetId", s24, "InterfaceType", "efa"),
	      "InvalidParameterValue", "unsupported interface type");

	/* Fill the /28: 11 ENIs, the 12th fails. */
	int made = 0;
	bool seq = true;
	char third[ID_MAX] = "";
	for (int i = 0; i < 11; i++) {
		r = must(h_create_network_interface, "CreateNetworkInterface",
			 json_pack("{s:s}", "SubnetId", s28));
		if (i == 3)
			snprintf(third, sizeof(third), "%s", js(r, "NetworkInterface.NetworkInterfaceId") ?: "");
		char want[IP_STRLEN];
		snprintf(want, sizeof(want), "10.30.2.%d", 4 + i);
		seq &= r && strcmp(js(r, "NetworkInterface.PrivateIpAddress") ?: "", want) == 0;
		made += r != NULL;
		json_decref(r);
	}
	is_int(made, 11, "11 ENIs fit in a /28");
	ok(seq, "their addresses are .4 to .14 in order");
	fails(h_create_network_interface, "CreateNetworkInterface", json_pack("{s:s}", "SubnetId", s28),
	      "InsufficientFreeAddressesInSubnet", "12th ENI in a /28");
	fails(h_create_network_interface, "CreateNetworkInterface", ENI(s28, "10.30.2.15"),
	      "InvalidParameterValue", "broadcast of a full /28");
	/* A freed address is the lowest free one again; a request that fails after picking it
	 * leaves it free. */
	json_decref(must(h_delete_network_interface, "DeleteNetworkInterface",
			 json_pack("{s:s}", "NetworkInterfaceId", third)));
	fails(h_create_network_interface, "CreateNetworkInterface",
	      json_pack("{s:s, s:[s]}", "SubnetId", s28, "Groups", "sg-0000000000000000a"),
	      "InvalidGroup.NotFound", "unknown group, after the address was picked");
	r = must(h_create_network_interface, "CreateNetworkInterface", json_pack("{s:s}", "SubnetId", s28));
	is_str(js(r, "NetworkInterface.PrivateIpAddress"), "10.30.2.7", "the freed address is picked again");
	json_decref(r);
	fails(h_create_network_interface, "CreateNetworkInterface", json_pack("{s:s}", "SubnetId", s28),
	      "InsufficientFreeAddressesInSubnet", "full again");

	r = must(h_describe_subnets, "DescribeSubnets", json_pack("{s:[s, s]}", "SubnetIds", s24, s28));
	json_t *list = json_object_get(r, "Subnets");
	long long c24 = -1, c28 = -1;
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *s = json_array_get(list, i);
		long long n = json_integer_value(json_object_get(s, "AvailableIpAddressCount"));
		if (strcmp(js(s, "SubnetId") ?: "", s24) == 0)
			c24 = n;
		if (strcmp(js(s, "SubnetId") ?: "", s28) == 0)
			c28 = n;
	}
	is_int(c24, 248, "the /24 with 3 ENIs has 248 available addresses");
	is_int(c28, 0, "the full /28 has 0");
	json_decref(r);

	/* Modify, describe, delete */
	r = must(h_modify_network_interface_attribute, "ModifyNetworkInterfaceAttribute",
		 json_pack("{s:s, s:{s:b}}", "NetworkInterfaceId", eni, "SourceDestCheck", "Value", 0));
	json_decref(r);
	r = must(h_describe_network_interfaces, "DescribeNetworkInterfaces",
		 json_pack("{s:[s]}", "NetworkInterfaceIds", eni));
	is_int((long long)json_array_size(jp(r, "NetworkInterfaces")), 1, "describe one ENI by ID");
	ok(json_is_false(jp(r, "NetworkInterfaces.0.SourceDestCheck")),
	   "SourceDestCheck {Value: false} applied");
	json_decref(r);
	fails(h_modify_network_interface_attribute, "ModifyNetworkInterfaceAttribute",
	      json_pack("{s:s}", "NetworkInterfaceId", eni), "MissingParameter", "no attribute");

	json_t *keep;
	list = describe1(h_describe_network_interfaces, "DescribeNetworkInterfaces",
			 "NetworkInterfaces", "private-ip-address", "10.30.1.10", &keep);
	is_int((long long)json_array_size(list), 1, "private-ip-address filter");
	json_decref(keep);
	list = describe1(h_describe_network_interfaces, "DescribeNetworkInterfaces",
			 "NetworkInterfaces", "subnet-id", s28, &keep);
	is_int((long long)json_array_size(list), 11, "subnet-id filter");
	json_decref(keep);
	list = describe1(h_describe_network_interfaces, "DescribeNetworkInterfaces",
			 "NetworkInterfaces", "source-dest-check", "false", &keep);
	is_int((long long)json_array_size(list), 1, "boolean filter source-dest-check=false");
	json_decref(keep);

	fails(h_delete_subnet, "DeleteSubnet", json_pack("{s:s}", "SubnetId", s24),
	      "DependencyViolation", "subnet with ENIs");
	r = must(h_delete_network_interface, "DeleteNetworkInterface",
		 json_pack("{s:s}", "NetworkInterfaceId", eni));
	json_decref(r);
	ok(obj_get(eni) == NULL, "DeleteNetworkInterface removes the ENI");
	fails(h_delete_network_interface, "DeleteNetworkInterface",
	      json_pack("{s:s}", "NetworkInterfaceId", eni), "InvalidNetworkInterfaceID.NotFound",
	      "deleted ENI");
	ok(create_eni(s24, "10.30.1.4", x), "a deleted ENI's address can be reused");
	fails(h_describe_network_interfaces, "DescribeNetworkInterfaces",
	      json_pack("{s:[s]}", "NetworkInterfaceIds", "eni-0000000000000000a"),
	      "InvalidNetworkInterfaceID.NotFound", "unknown ENI");
}

/* CreateRoute for an existing destination and ReplaceRoute for an absent one, reporting each
 * error as "code|message" lines. Run in a child process (route_messages) because the message
 * is formatted from freed memory: in-process, an ASan build would stop the whole test here. */
static int route_errors_child(void)
{
	struct lab l;
	char vpc[ID_MAX], sub[ID_MAX], eni[ID_MAX];
	struct err e;
	json_t *r;
	if (!lab_open(&l))
		return 1;
	/* The parent removes the state directory if this process dies before lab_close. */
	printf("%s\n", l.dir);
	fflush(stdout);
	create_vpc("10.0.0.0/16", vpc);
	create_subnet(vpc, "10.0.1.0/24", sub);
	create_eni(sub, NULL, eni);
	char rtb[ID_MAX];
	r = must(h_create_route_table, "CreateRouteTable", json_pack("{s:s}", "VpcId", vpc));
	id_from(r, "RouteTable.RouteTableId", rtb);
	json_decref(r);
	json_t *route = json_pack("{s:s, s:s, s:s}", "RouteTableId", rtb, "DestinationCidrBlock",
				  "0.0.0.0/0", "NetworkInterfaceId", eni);
	json_decref(must(h_create_route, "CreateRoute", json_incref(route)));
	if (call(h_create_route, "CreateRoute", route, &r, &e) == 0)
		json_decref(r);
	printf("%s|%s\n", e.code, e.msg);
	if (call(h_replace_route, "ReplaceRoute",
		 json_pack("{s:s, s:s, s:s}", "RouteTableId", rtb, "DestinationCidrBlock",
			   "172.16.0.0/12", "NetworkInterfaceId", eni),
		 &r, &e) == 0)
		json_decref(r);
	printf("%s|%s\n", e.code, e.msg);
	lab_close(&l);
	return 0;
}

static void route_messages(void)
{
	char self[PATH_MAX], cmd[PATH_MAX + 128], dir[PATH_MAX] = "", a[1200] = "", b[1200] = "";
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		ok(false, "readlink /proc/self/exe");
		return;
	}
	self[n] = 0;
	/* Without tcache, and with freed memory overwritten, a read after free shows. */
	snprintf(cmd, sizeof(cmd),
		 "GLIBC_TUNABLES=glibc.malloc.tcache_count=0 MALLOC_PERTURB_=165 '%s' --route-errors 2>&1",
		 self);
	fflush(stdout);
	FILE *p = popen(cmd, "r");
	if (p) {
		if (!fgets(dir, sizeof(dir), p) || !fgets(a, sizeof(a), p) || !fgets(b, sizeof(b), p))
			diag("  child output ended early");
		pclose(p);
	}
	dir[strcspn(dir, "\n")] = 0;
	if (strncmp(dir, "/tmp/vpclab-ut-handlers-", 24) == 0)
		rm_state_dir(dir);
	a[strcspn(a, "\n")] = 0;
	b[strcspn(b, "\n")] = 0;
	/* Under ASan a read after free stops the child, which then prints the report instead. */
	ok(strncmp(a, "RouteAlreadyExists|", 19) == 0,
	   "CreateRoute: same destination again -> RouteAlreadyExists");
	ok(strcmp(a, "RouteAlreadyExists|The route identified by 0.0.0.0/0 already exists.") == 0,
	     "RouteAlreadyExists message names the destination");
	if (strcmp(a, "RouteAlreadyExists|The route identified by 0.0.0.0/0 already exists.") != 0)
		diag("  child said: %s", a);
	ok(strncmp(b, "InvalidRoute.NotFound|", 22) == 0,
	   "ReplaceRoute: absent route -> InvalidRoute.NotFound");
	ok(strstr(b, " 172.16.0.0/12 ") != NULL,
	     "InvalidRoute.NotFound message names the destination");
	if (!strstr(b, " 172.16.0.0/12 "))
		diag("  child said: %s", b);
}

static void test_route_tables(void)
{
	char vpc[ID_MAX], vpc2[ID_MAX], s1[ID_MAX], s2[ID_MAX], eni[ID_MAX], eni2[ID_MAX];
	char rtb[ID_MAX], mainrt[ID_MAX], assoc[ID_MAX];
	json_t *r, *keep, *list;

	create_vpc("10.40.0.0/16", vpc);
	create_vpc("10.41.0.0/16", vpc2);
	create_subnet(vpc, "10.40.1.0/24", s1);
	create_subnet(vpc, "10.40.2.0/24", s2);
	create_eni(s1, NULL, eni);
	char s3[ID_MAX];
	create_subnet(vpc2, "10.41.1.0/24", s3);
	create_eni(s3, NULL, eni2);
	main_rtb(vpc, mainrt);

	r = must(h_create_route_table, "CreateRouteTable",
		 json_pack("{s:s, s:o}", "VpcId", vpc, "TagSpecifications",
			   tagged("route-table", "Name", "private")));
	id_from(r, "RouteTable.RouteTableId", rtb);
	ok(id_check(rtb, "rtb") == 0, "CreateRouteTable returns a route table ID");
	is_int((long long)json_array_size(jp(r, "RouteTable.Associations")), 0, "no associations");
	is_str(js(r, "RouteTable.Routes.0.GatewayId"), "local", "it has the local route");
	is_str(js(r, "RouteTable.Routes.0.State"), "active", "local route active");
	is_str(js(r, "RouteTable.Tags.0.Value"), "private", "tags from TagSpecifications");
	json_decref(r);
	fails(h_create_route_table, "CreateRouteTable", json_pack("{s:s}", "VpcId", "vpc-0000000000000000a"),
	      "InvalidVpcID.NotFound", "unknown VPC");

	/* Associations */
	r = must(h_associate_route_table, "AssociateRouteTable",
		 json_pack("{s:s, s:s}", "RouteTableId", rtb, "SubnetId", s1));
	id_from(r, "AssociationId", assoc);
	ok(id_check(assoc, "rtbassoc") == 0, "AssociateRouteTable returns rtbassoc-...");
	is_str(js(r, "AssociationState.State"), "associated", "association state");
	json_decref(r);
	fails(h_associate_route_table, "AssociateRouteTable",
	      json_pack("{s:s, s:s}", "RouteTableId", rtb, "SubnetId", s1),
	      "Resource.AlreadyAssociated", "same table and subnet again");
	fails(h_associate_route_table, "AssociateRouteTable",
	      json_pack("{s:s, s:s}", "RouteTableId", mainrt, "SubnetId", s1),
	      "Resource.AlreadyAssociated", "another table for an associated subnet");
	fails(h_associate_route_table, "AssociateRouteTable",
	      json_pack("{s:s, s:s}", "RouteTableId", rtb, "SubnetId", s3), "InvalidParameterValue",
	      "subnet of another VPC");
	fails(h_associate_route_table, "AssociateRouteTable",
	      json_pack("{s:s, s:s}", "RouteTableId", "rtb-0000000000000000a", "SubnetId", s2),
	      "InvalidRouteTableID.NotFound", "unknown route table");
	fails(h_associate_route_table, "AssociateRouteTable",
	      json_pack("{s:s, s:s}", "RouteTableId", rtb, "SubnetId", "subnet-0000000000000000a"),
	      "InvalidSubnetID.NotFound", "unknown subnet");
	fails(h_associate_route_table, "AssociateRouteTable", json_pack("{s:s}", "RouteTableId", rtb),
	      "MissingParameter", "no SubnetId");

	list = describe1(h_describe_route_tables, "DescribeRouteTables", "RouteTables",
			 "association.subnet-id", s1, &keep);
	ok(json_array_size(list) == 1 && strcmp(js(list, "0.RouteTableId") ?: "", rtb) == 0,
	   "association.subnet-id finds the associated table");
	json_decref(keep);
	list = describe1(h_describe_route_tables, "DescribeRouteTables", "RouteTables",
			 "association.main", "true", &keep);
	bool all_main = json_array_size(list) > 0;
	for (size_t i = 0; i < json_array_size(list); i++)
		all_main &= strcmp(js(json_array_get(list, i), "RouteTableId") ?: "", rtb) != 0;
	ok(all_main, "association.main=true excludes the custom table");
	json_decref(keep);
	list = describe1(h_describe_route_tables, "DescribeRouteTables", "RouteTables", "tag:Name",
			 "priv*", &keep);
	ok(json_array_size(list) == 1 && strcmp(js(list, "0.RouteTableId") ?: "", rtb) == 0,
	   "tag:Name filter with a wildcard");
	json_decref(keep);

	/* Dependencies */
	fails(h_delete_route_table, "DeleteRouteTable", json_pack("{s:s}", "RouteTableId", mainrt),
	      "DependencyViolation", "main route table");
	fails(h_delete_route_table, "DeleteRouteTable", json_pack("{s:s}", "RouteTableId", rtb),
	      "DependencyViolation", "table with a subnet association");
	fails(h_delete_vpc, "DeleteVpc", json_pack("{s:s}", "VpcId", vpc), "DependencyViolation",
	      "VPC with subnets");
	fails(h_disassociate_route_table, "DisassociateRouteTable",
	      json_pack("{s:s}", "AssociationId", "rtbassoc-0000000000000000a"),
	      "InvalidAssociationID.NotFound", "unknown association");
	r = must(h_describe_route_tables, "DescribeRouteTables",
		 json_pack("{s:[s]}", "RouteTableIds", mainrt));
	char main_assoc[ID_MAX];
	id_from(r, "RouteTables.0.Associations.0.RouteTableAssociationId", main_assoc);
	json_decref(r);
	fails(h_disassociate_route_table, "DisassociateRouteTable",
	      json_pack("{s:s}", "AssociationId", main_assoc), "InvalidParameterValue",
	      "the main association");

	/* Routes */
	r = must(h_create_route, "CreateRoute",
		 json_pack("{s:s, s:s, s:s}", "RouteTableId", rtb, "DestinationCidrBlock", "0.0.0.0/0",
			   "NetworkInterfaceId", eni));
	ok(json_is_true(jp(r, "Return")), "CreateRoute returns Return: true");
	json_decref(r);
#define ROUTE(t, d, k, v) json_pack("{s:s, s:s, s:s}", "RouteTableId", t, "DestinationCidrBlock", d, k, v)
	route_messages(); /* RouteAlreadyExists, in a child: see there */
	fails(h_create_route, "CreateRoute", ROUTE(rtb, "10.40.0.0/16", "NetworkInterfaceId", eni),
	      "InvalidParameterValue", "the VPC CIDR (the local route's destination)");
	fails(h_create_route, "CreateRoute", ROUTE(rtb, "192.168.0.0/16", "GatewayId", "local"),
	      "InvalidParameterValue", "GatewayId local");
	fails(h_create_route, "CreateRoute",
	      ROUTE(rtb, "192.168.0.0/16", "NetworkInterfaceId", "eni-0000000000000000a"),
	      "InvalidNetworkInterfaceID.NotFound", "unknown ENI target");
	fails(h_create_route, "CreateRoute", ROUTE(rtb, "192.168.0.0/16", "NetworkInterfaceId", eni2),
	      "InvalidParameterValue", "ENI of another VPC");
	fails(h_create_route, "CreateRoute",
	      ROUTE(rtb, "192.168.0.0/16", "GatewayId", "igw-0000000000000000a"),
	      "InvalidGatewayID.NotFound", "unknown gateway");
	fails(h_create_route, "CreateRoute",
	      ROUTE(rtb, "192.168.0.0/16", "NatGatewayId", "nat-0000000000000000a"),
	      "InvalidNatGatewayID.NotFound", "unknown NAT gateway");
	fails(h_create_route, "CreateRoute",
	      ROUTE(rtb, "192.168.0.0/16", "VpcPeeringConnectionId", "pcx-0000000000000000a"),
	      "InvalidVpcPeeringConnectionID.NotFound", "unknown peering connection");
	fails(h_create_route, "CreateRoute",
	      ROUTE("rtb-0000000000000000a", "192.168.0.0/16", "NetworkInterfaceId", eni),
	      "InvalidRouteTableID.NotFound", "unknown route table");
	fails(h_create_route, "CreateRoute", ROUTE(rtb, "192.168.0.1/16", "NetworkInterfaceId", eni),
	      "InvalidParameterValue", "destination with host bits");
	fails(h_create_route, "CreateRoute",
	      json_pack("{s:s, s:s}", "RouteTableId", rtb, "DestinationCidrBlock", "192.168.0.0/16"),
	      "MissingParameter", "no target");
	fails(h_create_route, "CreateRoute",
	      json_pack("{s:s, s:s, s:s, s:s}", "RouteTableId", rtb, "DestinationCidrBlock",
			"192.168.0.0/16", "NetworkInterfaceId", eni, "GatewayId", "igw-0000000000000000a"),
	      "InvalidParameterCombination", "two targets");
	fails(h_create_route, "CreateRoute",
	      json_pack("{s:s, s:s}", "RouteTableId", rtb, "NetworkInterfaceId", eni), "MissingParameter",
	      "no destination");
	/* A target must be of its kind: another existing object is not a gateway. */
	fails(h_create_route, "CreateRoute", ROUTE(rtb, "172.16.0.0/12", "GatewayId", vpc2),
	      "InvalidGatewayID.NotFound", "GatewayId naming a VPC");
	struct err e;
	json_t *res;
	int rc = call(h_create_route, "CreateRoute", ROUTE(rtb, "172.16.0.0/12", "NatGatewayId", vpc2),
		      &res, &e);
	ok(rc < 0 && strcmp(e.code, "InvalidNatGatewayID.NotFound") == 0,
	     "CreateRoute with NatGatewayId = a VPC ID -> InvalidNatGatewayID.NotFound");
	if (rc == 0) {
		diag("  accepted: the table now routes 172.16.0.0/12 to NAT gateway '%s'", vpc2);
		json_decref(res);
		json_decref(must(h_delete_route, "DeleteRoute",
				 json_pack("{s:s, s:s}", "RouteTableId", rtb, "DestinationCidrBlock",
					   "172.16.0.0/12")));
	}

	fails(h_delete_route, "DeleteRoute",
	      json_pack("{s:s, s:s}", "RouteTableId", rtb, "DestinationCidrBlock", "10.40.0.0/16"),
	      "InvalidParameterValue", "the local route");
	fails(h_delete_route, "DeleteRoute",
	      json_pack("{s:s, s:s}", "RouteTableId", rtb, "DestinationCidrBlock", "172.16.0.0/12"),
	      "InvalidRoute.NotFound", "absent route");

	r = must(h_describe_route_tables, "DescribeRouteTables", json_pack("{s:[s]}", "RouteTableIds", rtb));
	json_t *want = json_pack("[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}]", "DestinationCidrBlock",
				 "10.40.0.0/16", "GatewayId", "local", "Origin", "CreateRouteTable",
				 "State", "active", "DestinationCidrBlock", "0.0.0.0/0",
				 "NetworkInterfaceId", eni, "Origin", "CreateRoute", "State", "active");
	is_json(jp(r, "RouteTables.0.Routes"), want, "route to an existing ENI is active");
	json_decref(want);
	json_decref(r);

	list = describe1(h_describe_route_tables, "DescribeRouteTables", "RouteTables",
			 "route.network-interface-id", eni, &keep);
	is_int((long long)json_array_size(list), 1, "route.network-interface-id filter");
	json_decref(keep);

	/* Delete the target: the route stays, as a blackhole. */
	json_decref(must(h_delete_network_interface, "DeleteNetworkInterface",
			 json_pack("{s:s}", "NetworkInterfaceId", eni)));
	r = must(h_describe_route_tables, "DescribeRouteTables", json_pack("{s:[s]}", "RouteTableIds", rtb));
	is_str(js(r, "RouteTables.0.Routes.1.NetworkInterfaceId"), eni, "the route to the deleted ENI remains");
	is_str(js(r, "RouteTables.0.Routes.1.State"), "blackhole", "and its State is blackhole");
	is_str(js(r, "RouteTables.0.Routes.0.State"), "active", "the local route stays active");
	json_decref(r);
	list = describe1(h_describe_route_tables, "DescribeRouteTables", "RouteTables", "route.state",
			 "blackhole", &keep);
	is_int((long long)json_array_size(list), 1, "route.state=blackhole filter");
	json_decref(keep);

	/* Replace the blackhole's target, then delete the route. */
	char eni3[ID_MAX];
	create_eni(s2, NULL, eni3);
	json_decref(must(h_replace_route, "ReplaceRoute", ROUTE(rtb, "0.0.0.0/0", "NetworkInterfaceId", eni3)));
	r = must(h_describe_route_tables, "DescribeRouteTables", json_pack("{s:[s]}", "RouteTableIds", rtb));
	ok(strcmp(js(r, "RouteTables.0.Routes.1.NetworkInterfaceId") ?: "", eni3) == 0 &&
		   strcmp(js(r, "RouteTables.0.Routes.1.State") ?: "", "active") == 0,
	   "ReplaceRoute points the route at a new ENI: active again");
	json_decref(r);
	json_decref(must(h_delete_route, "DeleteRoute",
			 json_pack("{s:s, s:s}", "RouteTableId", rtb, "DestinationCidrBlock", "0.0.0.0/0")));
	r = must(h_describe_route_tables, "DescribeRouteTables", json_pack("{s:[s]}", "RouteTableIds", rtb));
	is_int((long long)json_array_size(jp(r, "RouteTables.0.Routes")), 1, "DeleteRoute leaves the local route");
	json_decref(r);

	/* Replace the main association: the custom table becomes main. */
	r = must(h_replace_route_table_association, "ReplaceRouteTableAssociation",
		 json_pack("{s:s, s:s}", "AssociationId", main_assoc, "RouteTableId", rtb));
	ok(id_check(js(r, "NewAssociationId") ?: "", "rtbassoc") == 0, "a new association ID");
	json_decref(r);
	char newmain[ID_MAX];
	ok(main_rtb(vpc, newmain) && strcmp(newmain, rtb) == 0, "the custom table is now main");
	json_decref(must(h_delete_route_table, "DeleteRouteTable", json_pack("{s:s}", "RouteTableId", mainrt)));
	ok(obj_get(mainrt) == NULL, "the former main table, unassociated, can be deleted");

	/* Delete subnets, then the VPC and everything it owns. */
	json_decref(must(h_delete_network_interface, "DeleteNetworkInterface",
			 json_pack("{s:s}", "NetworkInterfaceId", eni3)));
	json_decref(must(h_delete_subnet, "DeleteSubnet", json_pack("{s:s}", "SubnetId", s1)));
	r = must(h_describe_route_tables, "DescribeRouteTables", json_pack("{s:[s]}", "RouteTableIds", rtb));
	bool gone = true;
	for (size_t i = 0; i < json_array_size(jp(r, "RouteTables.0.Associations")); i++)
		gone &= strcmp(js(json_array_get(jp(r, "RouteTables.0.Associations"), i), "SubnetId") ?: "",
			       s1) != 0;
	ok(gone, "DeleteSubnet removes the subnet's explicit association");
	json_decref(r);
	json_decref(must(h_delete_subnet, "DeleteSubnet", json_pack("{s:s}", "SubnetId", s2)));
	json_decref(must(h_delete_vpc, "DeleteVpc", json_pack("{s:s}", "VpcId", vpc)));
	ok(obj_get(vpc) == NULL && obj_get(rtb) == NULL, "DeleteVpc removes the VPC and its main table");
	fails(h_delete_vpc, "DeleteVpc", json_pack("{s:s}", "VpcId", vpc), "InvalidVpcID.NotFound",
	      "deleted VPC");
	fails(h_describe_route_tables, "DescribeRouteTables", json_pack("{s:[s]}", "RouteTableIds", rtb),
	      "InvalidRouteTableID.NotFound", "deleted table");
}

static void test_filters_and_paging(void)
{
	char ids[7][ID_MAX];
	json_t *r, *keep, *list;

	for (int i = 0; i < 7; i++) {
		char cidr[32];
		snprintf(cidr, sizeof(cidr), "10.%d.0.0/16", 100 + i);
		r = must(h_create_vpc, "CreateVpc",
			 json_pack("{s:s, s:o}", "CidrBlock", cidr, "TagSpecifications",
				   tagged("vpc", "page", i == 3 ? "odd-one" : "yes")));
		id_from(r, "Vpc.VpcId", ids[i]);
		json_decref(r);
	}
	list = describe1(h_describe_vpcs, "DescribeVpcs", "Vpcs", "vpc-id", ids[2], &keep);
	ok(json_array_size(list) == 1 && strcmp(js(list, "0.VpcId") ?: "", ids[2]) == 0, "vpc-id filter");
	json_decref(keep);
	list = describe1(h_describe_vpcs, "DescribeVpcs", "Vpcs", "tag:page", "yes", &keep);
	is_int((long long)json_array_size(list), 6, "tag:page=yes");
	json_decref(keep);
	list = describe1(h_describe_vpcs, "DescribeVpcs", "Vpcs", "cidr-block", "10.10?.*", &keep);
	is_int((long long)json_array_size(list), 7, "cidr-block 10.10?.* matches 10.100-10.106 only");
	json_decref(keep);
	list = describe1(h_describe_vpcs, "DescribeVpcs", "Vpcs", "cidr-block", "10.0.*", &keep);
	bool only = json_array_size(list) > 0;
	for (size_t i = 0; i < json_array_size(list); i++)
		only &= strncmp(js(json_array_get(list, i), "CidrBlock") ?: "", "10.0.", 5) == 0;
	ok(only, "cidr-block 10.0.* matches only 10.0.x.x VPCs (%zu)", json_array_size(list));
	json_decref(keep);
	list = describe1(h_describe_vpcs, "DescribeVpcs", "Vpcs", "tag-key", "page", &keep);
	is_int((long long)json_array_size(list), 7, "tag-key filter");
	json_decref(keep);
	list = describe1(h_describe_vpcs, "DescribeVpcs", "Vpcs", "is-default", "false", &keep);
	ok(json_array_size(list) >= 7, "is-default=false (boolean as text)");
	json_decref(keep);

	/* Two values of one filter are OR, two filters are AND. */
	keep = must(h_describe_vpcs, "DescribeVpcs",
		    json_pack("{s:[{s:s, s:[s, s]}, {s:s, s:[s]}]}", "Filters", "Name", "vpc-id",
			      "Values", ids[0], ids[3], "Name", "tag:page", "Values", "yes"));
	list = json_object_get(keep, "Vpcs");
	ok(json_array_size(list) == 1 && strcmp(js(list, "0.VpcId") ?: "", ids[0]) == 0,
	   "values OR, filters AND");
	json_decref(keep);

	/* Paging over the 6+1 tagged VPCs with MaxResults 5. */
	json_t *filters = json_pack("[{s:s, s:[s]}]", "Name", "tag-key", "Values", "page");
	json_t *p1 = must(h_describe_vpcs, "DescribeVpcs",
			  json_pack("{s:O, s:i}", "Filters", filters, "MaxResults", 5));
	is_int((long long)json_array_size(jp(p1, "Vpcs")), 5, "page 1 has 5 VPCs");
	const char *token = js(p1, "NextToken");
	ok(token && *token, "page 1 has a NextToken");
	json_t *p2 = must(h_describe_vpcs, "DescribeVpcs",
			  json_pack("{s:O, s:i, s:s}", "Filters", filters, "MaxResults", 5, "NextToken",
				    token ? token : ""));
	is_int((long long)json_array_size(jp(p2, "Vpcs")), 2, "page 2 has the other 2");
	ok(jp(p2, "NextToken") == NULL, "the last page has no NextToken");
	bool seen[7] = {0}, dup = false;
	for (int pg = 0; pg < 2; pg++) {
		json_t *l = jp(pg ? p2 : p1, "Vpcs");
		for (size_t i = 0; i < json_array_size(l); i++)
			for (int k = 0; k < 7; k++)
				if (strcmp(js(json_array_get(l, i), "VpcId") ?: "", ids[k]) == 0) {
					dup |= seen[k];
					seen[k] = true;
				}
	}
	bool all = true;
	for (int k = 0; k < 7; k++)
		all &= seen[k];
	ok(all && !dup, "the two pages hold each of the 7 VPCs exactly once, in creation order");
	ok(strcmp(js(p1, "Vpcs.0.VpcId") ?: "", ids[0]) == 0 &&
		   strcmp(js(p2, "Vpcs.1.VpcId") ?: "", ids[6]) == 0,
	   "order is creation order");
	json_decref(p1);
	json_decref(p2);

	json_t *exact = must(h_describe_vpcs, "DescribeVpcs",
			     json_pack("{s:[{s:s, s:[s]}], s:i}", "Filters", "Name", "tag:page",
				       "Values", "yes", "MaxResults", 6));
	ok(json_array_size(jp(exact, "Vpcs")) == 6 && !jp(exact, "NextToken"),
	   "exactly MaxResults matches: no NextToken");
	json_decref(exact);

	fails(h_describe_vpcs, "DescribeVpcs",
	      json_pack("{s:O, s:i}", "Filters", filters, "MaxResults", 4), "InvalidParameterValue",
	      "MaxResults 4");
	fails(h_describe_vpcs, "DescribeVpcs",
	      json_pack("{s:O, s:i}", "Filters", filters, "MaxResults", 1001), "InvalidParameterValue",
	      "MaxResults 1001");
	fails(h_describe_vpcs, "DescribeVpcs", json_pack("{s:[s], s:i}", "VpcIds", ids[0], "MaxResults", 5),
	      "InvalidParameterCombination", "VpcIds with MaxResults");
	fails(h_describe_vpcs, "DescribeVpcs", json_pack("{s:s}", "NextToken", "abc"),
	      "InvalidNextToken", "garbage NextToken");
	fails(h_describe_vpcs, "DescribeVpcs", json_pack("{s:s}", "NextToken", "-1"),
	      "InvalidNextToken", "negative NextToken");
	fails(h_describe_vpcs, "DescribeVpcs", json_pack("{s:[s]}", "VpcIds", "vpc-0000000000000000a"),
	      "InvalidVpcID.NotFound", "unknown VPC ID");
	fails(h_describe_vpcs, "DescribeVpcs",
	      json_pack("{s:[s, s]}", "VpcIds", ids[0], "vpc-0000000000000000b"),
	      "InvalidVpcID.NotFound", "one known and one unknown VPC ID");
	fails(h_describe_vpcs, "DescribeVpcs", json_pack("{s:[{s:s}]}", "Filters", "Values", "x"),
	      "InvalidParameterValue", "filter without a Name");
	json_decref(filters);

	r = must(h_describe_vpcs, "DescribeVpcs", json_pack("{s:s}", "VpcIds", ids[1]));
	ok(json_array_size(jp(r, "Vpcs")) == 1, "VpcIds as a single string");
	json_decref(r);

	/* Tags */
	r = must(h_create_tags, "CreateTags",
		 json_pack("{s:[s, s], s:[{s:s, s:s}]}", "Resources", ids[0], ids[1], "Tags", "Key",
			   "Name", "Value", "lab"));
	json_decref(r);
	list = describe1(h_describe_vpcs, "DescribeVpcs", "Vpcs", "tag:Name", "lab", &keep);
	is_int((long long)json_array_size(list), 2, "CreateTags then tag:Name=lab");
	json_decref(keep);
	r = must(h_create_tags, "CreateTags",
		 json_pack("{s:[s], s:[{s:s, s:s}]}", "Resources", ids[0], "Tags", "Key", "Name",
			   "Value", "lab2"));
	json_decref(r);
	r = must(h_describe_vpcs, "DescribeVpcs", json_pack("{s:[s]}", "VpcIds", ids[0]));
	json_t *want = json_pack("[{s:s, s:s}, {s:s, s:s}]", "Key", "page", "Value", "yes", "Key",
				 "Name", "Value", "lab2");
	is_json(jp(r, "Vpcs.0.Tags"), want, "CreateTags overwrites a key's value, keeps the others");
	json_decref(want);
	json_decref(r);
	list = describe1(h_describe_tags, "DescribeTags", "Tags", "resource-id", ids[0], &keep);
	want = json_pack("[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}]", "Key", "page", "ResourceId",
			 ids[0], "ResourceType", "vpc", "Value", "yes", "Key", "Name", "ResourceId",
			 ids[0], "ResourceType", "vpc", "Value", "lab2");
	is_json(list, want, "DescribeTags resource-id");
	json_decref(want);
	json_decref(keep);
	r = must(h_delete_tags, "DeleteTags",
		 json_pack("{s:[s], s:[{s:s, s:s}]}", "Resources", ids[0], "Tags", "Key", "Name",
			   "Value", "wrong-value"));
	json_decref(r);
	list = describe1(h_describe_tags, "DescribeTags", "Tags", "resource-id", ids[0], &keep);
	is_int((long long)json_array_size(list), 2, "DeleteTags with a non-matching value keeps the tag");
	json_decref(keep);
	r = must(h_delete_tags, "DeleteTags",
		 json_pack("{s:[s], s:[{s:s}]}", "Resources", ids[0], "Tags", "Key", "Name"));
	json_decref(r);
	list = describe1(h_describe_tags, "DescribeTags", "Tags", "resource-id", ids[0], &keep);
	is_int((long long)json_array_size(list), 1, "DeleteTags by key alone removes it");
	json_decref(keep);
	fails(h_create_tags, "CreateTags",
	      json_pack("{s:[s], s:[{s:s, s:s}]}", "Resources", "vpc-0000000000000000a", "Tags", "Key",
			"a", "Value", "b"),
	      "InvalidVpcID.NotFound", "unknown resource");
	fails(h_create_tags, "CreateTags",
	      json_pack("{s:[s], s:[{s:s, s:s}]}", "Resources", "foo-1", "Tags", "Key", "a", "Value", "b"),
	      "InvalidID", "malformed resource ID");
	fails(h_create_tags, "CreateTags",
	      json_pack("{s:[s], s:[{s:s, s:s}]}", "Resources", ids[0], "Tags", "Key", "", "Value", "b"),
	      "InvalidParameterValue", "empty tag key");
	fails(h_describe_tags, "DescribeTags",
	      json_pack("{s:[{s:s, s:[s]}]}", "Filters", "Name", "bogus", "Values", "x"),
	      "InvalidParameterValue", "unknown filter");
}

/* A request that changed objects before failing is rolled back whole. */
static void test_rollback(struct lab *l)
{
	char a[ID_MAX], b[ID_MAX];
	json_t *r;
	struct err e;

	create_vpc("10.60.0.0/16", a);
	create_vpc("10.61.0.0/16", b);
	/* b gets 45 tags; adding 10 to [a, b] edits a, then fails on b (55 > 50). */
	json_t *many = json_array(), *ten = json_array();
	for (int i = 0; i < 45; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%d", i);
		json_array_append_new(many, json_pack("{s:s, s:s}", "Key", k, "Value", "v"));
	}
	for (int i = 0; i < 10; i++) {
		char k[16];
		snprintf(k, sizeof(k), "n%d", i);
		json_array_append_new(ten, json_pack("{s:s, s:s}", "Key", k, "Value", "v"));
	}
	json_decref(must(h_create_tags, "CreateTags",
			 json_pack("{s:[s], s:o}", "Resources", b, "Tags", many)));
	fails(h_create_tags, "CreateTags", json_pack("{s:[s, s], s:O}", "Resources", a, b, "Tags", ten),
	      "TagLimitExceeded", "51+ tags on the second resource after editing the first");
	ok(json_object_get(obj_get(a), "Tags") && json_array_size(json_object_get(obj_get(a), "Tags")) == 0,
	   "the first resource's tags were rolled back");
	json_decref(ten);

	/* A successful handler whose txn is rolled back (as dispatch does when the kernel step
	 * fails) leaves no trace, and the ID stream rewinds: the retry gets the same ID. */
	char *before = model_dump();
	uint64_t ids = V->ids.state;
	struct req rq = {.action = "CreateVpc", .region = REGION, .params = vpc_params("10.62.0.0/16")};
	memset(&e, 0, sizeof(e));
	r = NULL;
	int rc = h_create_vpc(&rq, &r, &e);
	char first[ID_MAX];
	id_from(r, "Vpc.VpcId", first);
	json_decref(r);
	txn_rollback(&rq.txn);
	json_decref(rq.txn.dirty_vpcs);
	json_decref(rq.params);
	char *after = model_dump();
	ok(rc == 0 && before && after && strcmp(before, after) == 0, "rolled-back CreateVpc leaves the model as it was");
	is_int((long long)V->ids.state, (long long)ids, "and rewinds the ID stream");
	free(before);
	free(after);
	char again[ID_MAX];
	create_vpc("10.62.0.0/16", again);
	is_str(again, first, "the retry gets the same VPC ID");

	/* Committed state is what a restart sees. */
	char *live = model_dump();
	store_free(V->store);
	V->store = NULL;
	rc = store_open(l->dir, &V->store, &e);
	if (rc == 0)
		model_index_all();
	char *reread = rc == 0 ? model_dump() : NULL;
	ok(reread && live && strcmp(live, reread) == 0, "the journal replays to the same model");
	free(live);
	free(reread);
}

/* Requests with wrongly typed members must fail cleanly, not crash the daemon. */
static void test_robustness(void)
{
	fails(h_describe_vpcs, "DescribeVpcs", json_pack("{s:[i]}", "VpcIds", 5), "InvalidVpcID.NotFound",
	      "a number as VPC ID");
	fails(h_create_tags, "CreateTags", json_pack("{s:[i], s:[{s:s}]}", "Resources", 5, "Tags", "Key", "a"),
	      "InvalidID", "a number as resource ID");
	fails(h_describe_availability_zones, "DescribeAvailabilityZones",
	      json_pack("{s:[i]}", "ZoneNames", 5), "InvalidParameterValue", "a number as zone name");

	/* DescribeRegions with a non-string region name, in a child in case it crashes. */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		struct err e;
		json_t *r;
		int rc = call(h_describe_regions, "DescribeRegions", json_pack("{s:[i]}", "RegionNames", 5),
			      &r, &e);
		_exit(rc < 0 && strcmp(e.code, "InvalidParameterValue") == 0 ? 0 : 1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	     "DescribeRegions RegionNames=[5] -> InvalidParameterValue (child %s %d)",
	     WIFSIGNALED(st) ? "killed by signal" : "exited", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

static void test_regions(void)
{
	json_t *r = must(h_describe_regions, "DescribeRegions", NULL);
	json_t *list = json_object_get(r, "Regions");
	is_int((long long)json_array_size(list), 29, "29 built-in regions");
	is_str(js(list, "0.RegionName"), "us-east-1", "first is us-east-1");
	is_str(js(list, "0.Endpoint"), "ec2.us-east-1.amazonaws.com", "its endpoint");
	is_str(js(list, "0.OptInStatus"), "opt-in-not-required", "OptInStatus");
	json_decref(r);
	r = must(h_describe_regions, "DescribeRegions",
		 json_pack("{s:[s, s]}", "RegionNames", "eu-west-1", "ap-south-1"));
	is_int((long long)json_array_size(jp(r, "Regions")), 2, "RegionNames selects two");
	json_decref(r);
	fails(h_describe_regions, "DescribeRegions", json_pack("{s:[s]}", "RegionNames", "mars-north-1"),
	      "InvalidParameterValue", "unknown region");

	r = must(h_describe_availability_zones, "DescribeAvailabilityZones", NULL);
	list = json_object_get(r, "AvailabilityZones");
	is_int((long long)json_array_size(list), 6, "us-east-1 has 6 zones");
	is_str(js(list, "0.ZoneName"), "us-east-1a", "first zone");
	is_str(js(list, "0.ZoneId"), "use1-az1", "its zone ID");
	is_str(js(list, "5.ZoneId"), "use1-az6", "sixth zone ID");
	is_str(js(list, "0.RegionName"), REGION, "RegionName");
	is_str(js(list, "0.State"), "available", "State");
	json_decref(r);
	r = must(h_describe_availability_zones, "DescribeAvailabilityZones",
		 json_pack("{s:[{s:s, s:[s]}]}", "Filters", "Name", "zone-id", "Values", "use1-az2"));
	ok(json_array_size(jp(r, "AvailabilityZones")) == 1 &&
		   strcmp(js(r, "AvailabilityZones.0.ZoneName") ?: "", "us-east-1b") == 0,
	   "zone-id filter");
	json_decref(r);
	fails(h_describe_availability_zones, "DescribeAvailabilityZones",
	      json_pack("{s:[s]}", "ZoneNames", "us-east-1z"), "InvalidParameterValue", "unknown zone");

	char buf[16];
	is_str(zone_id("eu-west-1a", buf), "euw1-az1", "zone_id eu-west-1a");
	is_str(zone_id("ap-southeast-2c", buf), "apse2-az3", "zone_id ap-southeast-2c");
	is_str(zone_id("ca-central-1d", buf), "cac1-az4", "zone_id ca-central-1d");
}

/* The same requests against a fresh store with the same seed give the same IDs. */
static void build_basic(char out[6][ID_MAX])
{
	create_vpc("10.0.0.0/16", out[0]);
	create_subnet(out[0], "10.0.1.0/24", out[1]);
	create_eni(out[1], NULL, out[2]);
	json_t *r = must(h_create_route_table, "CreateRouteTable", json_pack("{s:s}", "VpcId", out[0]));
	id_from(r, "RouteTable.RouteTableId", out[3]);
	json_decref(r);
	create_subnet(out[0], "10.0.2.0/24", out[4]);
	r = must(h_describe_network_interfaces, "DescribeNetworkInterfaces",
		 json_pack("{s:[s]}", "NetworkInterfaceIds", out[2]));
	id_from(r, "NetworkInterfaces.0.MacAddress", out[5]);
	json_decref(r);
}

static void test_determinism(void)
{
	struct lab a, b;
	char ia[6][ID_MAX], ib[6][ID_MAX];
	if (!lab_open(&a)) {
		ok(false, "second lab");
		return;
	}
	build_basic(ia);
	char *dump_a = model_dump();
	lab_close(&a);
	if (!lab_open(&b)) {
		ok(false, "third lab");
		free(dump_a);
		return;
	}
	build_basic(ib);
	char *dump_b = model_dump();
	lab_close(&b);
	bool same = true;
	for (int i = 0; i < 6; i++) {
		same &= ia[i][0] && strcmp(ia[i], ib[i]) == 0;
		diag("  %s", ia[i]);
	}
	ok(same, "two fresh stores with seed 42: identical VPC, subnet, ENI, route table IDs and MAC");
	ok(dump_a && dump_b && strcmp(dump_a, dump_b) == 0, "and identical models");
	free(dump_a);
	free(dump_b);
}

/* For test_shapes.py: the outputs of the operations it checks, one JSON line each. */
/* IPv6 in the model: the region's pool of /56s, VPC and subnet blocks, ENI addresses. */
static void test_ipv6(void)
{
	char vpc[ID_MAX], vpc2[ID_MAX], s1[ID_MAX], s2[ID_MAX], s4[ID_MAX], eni[ID_MAX], eni2[ID_MAX];
	char assoc[ID_MAX], sassoc[ID_MAX], b56[64], b56b[64], n64[80], n64b[80], want[80];
	json_t *r;

	r = must(h_create_vpc, "CreateVpc",
		 json_pack("{s:s, s:b}", "CidrBlock", "10.60.0.0/16", "AmazonProvidedIpv6CidrBlock", 1));
	id_from(r, "Vpc.VpcId", vpc);
	const char *blk = js(r, "Vpc.Ipv6CidrBlockAssociationSet.0.Ipv6CidrBlock");
	snprintf(b56, sizeof(b56), "%s", blk ? blk : "");
	struct cidr6 c56, pool;
	region_ipv6_pool(REGION, &pool);
	ok(cidr6_parse(b56, &c56) == 0 && c56.len == 56 && cidr6_contains(&pool, &c56) && c56.addr[0] == 0xfd,
	   "CreateVpc AmazonProvidedIpv6CidrBlock: a /56 of the region's ULA pool (%s)", b56);
	is_str(js(r, "Vpc.Ipv6CidrBlockAssociationSet.0.Ipv6CidrBlockState.State"), "associating",
	       "CreateVpc answers the block associating");
	is_str(js(r, "Vpc.Ipv6CidrBlockAssociationSet.0.NetworkBorderGroup"), REGION, "NetworkBorderGroup is the region");
	is_str(js(r, "Vpc.Ipv6CidrBlockAssociationSet.0.Ipv6Pool"), "Amazon", "Ipv6Pool Amazon");
	id_from(r, "Vpc.Ipv6CidrBlockAssociationSet.0.AssociationId", assoc);
	ok(!strncmp(assoc, "vpc-cidr-assoc-", 15), "its association ID (%s)", assoc);
	json_decref(r);
	json_t *keep;
	json_t *l = describe1(h_describe_vpcs, "DescribeVpcs", "Vpcs", "ipv6-cidr-block-association.ipv6-cidr-block", b56, &keep);
	ok(json_array_size(l) == 1 && !strcmp(js(json_array_get(l, 0), "VpcId"), vpc) &&
		   !strcmp(js(json_array_get(l, 0), "Ipv6CidrBlockAssociationSet.0.Ipv6CidrBlockState.State"), "associated"),
	   "DescribeVpcs finds it by its IPv6 block, associated");
	json_decref(keep);

	/* A second VPC gets the next /56; AssociateVpcCidrBlock on an IPv4-only VPC. */
	create_vpc("10.61.0.0/16", vpc2);
	r = must(h_associate_vpc_cidr_block, "AssociateVpcCidrBlock",
		 json_pack("{s:s, s:b}", "VpcId", vpc2, "AmazonProvidedIpv6CidrBlock", 1));
	blk = js(r, "Ipv6CidrBlockAssociation.Ipv6CidrBlock");
	snprintf(b56b, sizeof(b56b), "%s", blk ? blk : "");
	struct cidr6 c56b, want56;
	cidr6_nth(&pool, 56, 1, &want56);
	/* The pool's first /56s are free (no other VPC of this model has IPv6): the first VPC got
	 * number 0, this one number 1. */
	cidr6_nth(&pool, 56, 0, &c56b);
	ok(!memcmp(&c56b, &c56, sizeof(c56)), "the first VPC got the pool's first /56");
	ok(cidr6_parse(b56b, &c56b) == 0 && !memcmp(&c56b, &want56, sizeof(c56b)),
	   "AssociateVpcCidrBlock: the next /56 of the pool (%s)", b56b);
	is_str(js(r, "Ipv6CidrBlockAssociation.Ipv6CidrBlockState.State"), "associating", "answered associating");
	is_str(js(r, "VpcId"), vpc2, "VpcId");
	char assoc2[ID_MAX];
	id_from(r, "Ipv6CidrBlockAssociation.AssociationId", assoc2);
	json_decref(r);

	fails(h_associate_vpc_cidr_block, "AssociateVpcCidrBlock", json_pack("{s:s}", "VpcId", vpc2),
	      "MissingParameter", "neither a block nor AmazonProvidedIpv6CidrBlock");
	fails(h_associate_vpc_cidr_block, "AssociateVpcCidrBlock",
	      json_pack("{s:s, s:b}", "VpcId", "vpc-0000000000000000a", "AmazonProvidedIpv6CidrBlock", 1),
	      "InvalidVpcID.NotFound", "an unknown VPC");
	fails(h_associate_vpc_cidr_block, "AssociateVpcCidrBlock",
	      json_pack("{s:s, s:s, s:s}", "VpcId", vpc2, "Ipv6Pool", "ipv6pool-ec2-0123", "Ipv6CidrBlock", "2001:db8::/56"),
	      "UnsupportedOperation", "a BYOIP pool");
	fails(h_associate_vpc_cidr_block, "AssociateVpcCidrBlock",
	      json_pack("{s:s, s:b, s:s}", "VpcId", vpc2, "AmazonProvidedIpv6CidrBlock", 1,
			"Ipv6CidrBlockNetworkBorderGroup", "us-west-2"),
	      "InvalidParameterValue", "another region's border group");
	for (int i = 0; i < 4; i++)
		json_decref(must(h_associate_vpc_cidr_block, "AssociateVpcCidrBlock",
				 json_pack("{s:s, s:b}", "VpcId", vpc2, "AmazonProvidedIpv6CidrBlock", 1)));
	fails(h_associate_vpc_cidr_block, "AssociateVpcCidrBlock",
	      json_pack("{s:s, s:b}", "VpcId", vpc2, "AmazonProvidedIpv6CidrBlock", 1), "CidrLimitExceeded",
	      "a sixth IPv6 block");
	fails(h_create_vpc, "CreateVpc",
	      json_pack("{s:s, s:s}", "CidrBlock", "10.62.0.0/16", "Ipv6CidrBlockNetworkBorderGroup", REGION),
	      "InvalidParameterCombination", "a border group without AmazonProvidedIpv6CidrBlock");
	fails(h_create_vpc, "CreateVpc",
	      json_pack("{s:s, s:s, s:s}", "CidrBlock", "10.62.0.0/16", "Ipv6Pool", "ipv6pool-ec2-1", "Ipv6CidrBlock",
			"2001:db8::/56"),
	      "UnsupportedOperation", "CreateVpc from a BYOIP pool");

	/* Subnets: a /64 inside the VPC's /56. */
	cidr6_nth(&c56, 64, 1, &want56);
	cidr6_format(&want56, n64);
	r = must(h_create_subnet, "CreateSubnet",
		 json_pack("{s:s, s:s, s:s}", "VpcId", vpc, "CidrBlock", "10.60.1.0/24", "Ipv6CidrBlock", n64));
	id_from(r, "Subnet.SubnetId", s1);
	is_str(js(r, "Subnet.Ipv6CidrBlockAssociationSet.0.Ipv6CidrBlock"), n64, "CreateSubnet Ipv6CidrBlock %s", n64);
	is_str(js(r, "Subnet.Ipv6CidrBlockAssociationSet.0.Ipv6CidrBlockState.State"), "associated", "associated");
	ok(!strncmp(js(r, "Subnet.Ipv6CidrBlockAssociationSet.0.AssociationId") ?: "", "subnet-cidr-assoc-", 18),
	   "a subnet-cidr-assoc- ID");
	json_decref(r);
	cidr6_nth(&c56, 64, 2, &want56);
	cidr6_format(&want56, n64b);
	char wider[80], other_vpc64[80], host_bits[80];
	snprintf(wider, sizeof(wider), "%s", b56);
	cidr6_nth(&c56b, 64, 0, &want56);
	cidr6_format(&want56, other_vpc64);
	snprintf(host_bits, sizeof(host_bits), "%.*s1/64", (int)(strlen(n64b) - 3), n64b);
#define SUBNET6(v, c4, c6) json_pack("{s:s, s:s, s:s}", "VpcId", v, "CidrBlock", c4, "Ipv6CidrBlock", c6)
	fails(h_create_subnet, "CreateSubnet", SUBNET6(vpc, "10.60.2.0/24", n64), "InvalidSubnet.Conflict",
	      "the same /64 twice");
	fails(h_create_subnet, "CreateSubnet", SUBNET6(vpc, "10.60.2.0/24", wider), "InvalidSubnet.Range",
	      "a /56 for a subnet");
	fails(h_create_subnet, "CreateSubnet", SUBNET6(vpc, "10.60.2.0/24", other_vpc64), "InvalidSubnet.Range",
	      "a /64 of another VPC's block");
	fails(h_create_subnet, "CreateSubnet", SUBNET6(vpc, "10.60.2.0/24", "2001:db8::/64"), "InvalidSubnet.Range",
	      "a /64 outside the VPC");
	fails(h_create_subnet, "CreateSubnet", SUBNET6(vpc, "10.60.2.0/24", host_bits), "InvalidParameterValue",
	      "host bits set");
	fails(h_create_subnet, "CreateSubnet", SUBNET6(vpc, "10.60.2.0/24", "fd00::zz/64"), "InvalidParameterValue",
	      "not an address");
	fails(h_create_subnet, "CreateSubnet",
	      json_pack("{s:s, s:s, s:b}", "VpcId", vpc, "Ipv6CidrBlock", n64b, "Ipv6Native", 1),
	      "UnsupportedOperation", "an IPv6-only subnet");
	create_subnet(vpc, "10.60.2.0/24", s2);
	r = must(h_associate_subnet_cidr_block, "AssociateSubnetCidrBlock",
		 json_pack("{s:s, s:s}", "SubnetId", s2, "Ipv6CidrBlock", n64b));
	is_str(js(r, "Ipv6CidrBlockAssociation.Ipv6CidrBlock"), n64b, "AssociateSubnetCidrBlock");
	is_str(js(r, "Ipv6CidrBlockAssociation.Ipv6CidrBlockState.State"), "associating", "answered associating");
	is_str(js(r, "SubnetId"), s2, "SubnetId");
	id_from(r, "Ipv6CidrBlockAssociation.AssociationId", sassoc);
	json_decref(r);
	fails(h_associate_subnet_cidr_block, "AssociateSubnetCidrBlock",
	      json_pack("{s:s, s:s}", "SubnetId", s2, "Ipv6CidrBlock", n64b), "InvalidParameterValue",
	      "a second block on a subnet");
	create_subnet(vpc, "10.60.4.0/24", s4);
	fails(h_associate_subnet_cidr_block, "AssociateSubnetCidrBlock",
	      json_pack("{s:s, s:s}", "SubnetId", s4, "Ipv6CidrBlock", n64b), "InvalidSubnet.Conflict",
	      "another subnet's /64");
	fails(h_associate_subnet_cidr_block, "AssociateSubnetCidrBlock", json_pack("{s:s}", "SubnetId", s4),
	      "MissingParameter", "no Ipv6CidrBlock");
	fails(h_disassociate_vpc_cidr_block, "DisassociateVpcCidrBlock", json_pack("{s:s}", "AssociationId", assoc),
	      "DependencyViolation", "a VPC block with subnets in it");

	/* AssignIpv6AddressOnCreation */
	fails(h_modify_subnet_attribute, "ModifySubnetAttribute",
	      json_pack("{s:s, s:{s:b}}", "SubnetId", s4, "AssignIpv6AddressOnCreation", "Value", 1),
	      "InvalidParameterValue", "AssignIpv6AddressOnCreation on a subnet without IPv6");
	fails(h_modify_subnet_attribute, "ModifySubnetAttribute",
	      json_pack("{s:s, s:{s:b}, s:{s:b}}", "SubnetId", s1, "AssignIpv6AddressOnCreation", "Value", 1,
			"MapPublicIpOnLaunch", "Value", 1),
	      "MissingParameter", "two attributes at once");
	json_decref(must(h_modify_subnet_attribute, "ModifySubnetAttribute",
			 json_pack("{s:s, s:{s:b}}", "SubnetId", s1, "AssignIpv6AddressOnCreation", "Value", 1)));
	l = describe1(h_describe_subnets, "DescribeSubnets", "Subnets", "assign-ipv6-address-on-creation", "true", &keep);
	ok(json_array_size(l) == 1 && !strcmp(js(json_array_get(l, 0), "SubnetId"), s1),
	   "ModifySubnetAttribute AssignIpv6AddressOnCreation: DescribeSubnets shows it");
	json_decref(keep);

	/* ENIs */
	r = must(h_create_network_interface, "CreateNetworkInterface", json_pack("{s:s}", "SubnetId", s1));
	id_from(r, "NetworkInterface.NetworkInterfaceId", eni);
	uint8_t a[16];
	char at[IP6_STRLEN];
	struct cidr6 c64;
	cidr6_parse(n64, &c64);
	cidr6_host(&c64, 4, a);
	ip6_format(a, at);
	ok(json_array_size(jp(r, "NetworkInterface.Ipv6Addresses")) == 1 &&
		   !strcmp(js(r, "NetworkInterface.Ipv6Addresses.0.Ipv6Address") ?: "", at),
	   "an ENI in a subnet that assigns on creation gets ::4 (%s)", at);
	json_decref(r);
	r = must(h_create_network_interface, "CreateNetworkInterface",
		 json_pack("{s:s, s:i}", "SubnetId", s1, "Ipv6AddressCount", 2));
	id_from(r, "NetworkInterface.NetworkInterfaceId", eni2);
	cidr6_host(&c64, 6, a);
	ip6_format(a, at);
	ok(json_array_size(jp(r, "NetworkInterface.Ipv6Addresses")) == 2 &&
		   !strcmp(js(r, "NetworkInterface.Ipv6Addresses.1.Ipv6Address") ?: "", at),
	   "Ipv6AddressCount 2: ::5 and ::6");
	json_decref(r);
	cidr6_host(&c64, 0x99, a);
	ip6_format(a, want);
	r = must(h_assign_ipv6_addresses, "AssignIpv6Addresses",
		 json_pack("{s:s, s:[s]}", "NetworkInterfaceId", eni, "Ipv6Addresses", want));
	is_str(js(r, "AssignedIpv6Addresses.0"), want, "AssignIpv6Addresses a given address");
	json_decref(r);
	r = must(h_assign_ipv6_addresses, "AssignIpv6Addresses",
		 json_pack("{s:s, s:i}", "NetworkInterfaceId", eni, "Ipv6AddressCount", 1));
	cidr6_host(&c64, 7, a);
	ip6_format(a, at);
	is_str(js(r, "AssignedIpv6Addresses.0"), at, "AssignIpv6Addresses count 1: the next free");
	json_decref(r);
	l = describe1(h_describe_network_interfaces, "DescribeNetworkInterfaces", "NetworkInterfaces",
		      "ipv6-addresses.ipv6-address", want, &keep);
	ok(json_array_size(l) == 1 && !strcmp(js(json_array_get(l, 0), "NetworkInterfaceId"), eni) &&
		   json_array_size(jp(json_array_get(l, 0), "Ipv6Addresses")) == 3,
	   "DescribeNetworkInterfaces: the ENI by its IPv6 address, with three");
	json_decref(keep);
	char reserved[80], outside[80];
	cidr6_host(&c64, 2, a);
	ip6_format(a, reserved);
	cidr6_nth(&c56, 64, 9, &want56);
	cidr6_host(&want56, 9, a);
	ip6_format(a, outside);
#define ASSIGN(id, addr) json_pack("{s:s, s:[s]}", "NetworkInterfaceId", id, "Ipv6Addresses", addr)
	fails(h_assign_ipv6_addresses, "AssignIpv6Addresses", ASSIGN(eni2, want), "InvalidIPAddress.InUse",
	      "another ENI's address");
	fails(h_assign_ipv6_addresses, "AssignIpv6Addresses", ASSIGN(eni2, reserved), "InvalidParameterValue",
	      "a reserved address (::2)");
	fails(h_assign_ipv6_addresses, "AssignIpv6Addresses", ASSIGN(eni2, outside), "InvalidParameterValue",
	      "an address outside the subnet");
	fails(h_assign_ipv6_addresses, "AssignIpv6Addresses", ASSIGN(eni2, "10.60.1.9"), "InvalidParameterValue",
	      "an IPv4 address");
	fails(h_assign_ipv6_addresses, "AssignIpv6Addresses",
	      json_pack("{s:s, s:i, s:[s]}", "NetworkInterfaceId", eni2, "Ipv6AddressCount", 1, "Ipv6Addresses", outside),
	      "InvalidParameterCombination", "a count and addresses");
	fails(h_assign_ipv6_addresses, "AssignIpv6Addresses", json_pack("{s:s}", "NetworkInterfaceId", eni2),
	      "MissingParameter", "neither a count nor addresses");
	fails(h_assign_ipv6_addresses, "AssignIpv6Addresses",
	      json_pack("{s:s, s:i}", "NetworkInterfaceId", eni2, "Ipv6AddressCount", 9), "InvalidParameterValue",
	      "more than ten on one ENI");
	fails(h_assign_ipv6_addresses, "AssignIpv6Addresses",
	      json_pack("{s:s, s:i}", "NetworkInterfaceId", "eni-0000000000000000a", "Ipv6AddressCount", 1),
	      "InvalidNetworkInterfaceID.NotFound", "an unknown ENI");
	fails(h_create_network_interface, "CreateNetworkInterface",
	      json_pack("{s:s, s:i}", "SubnetId", s4, "Ipv6AddressCount", 1), "InvalidParameterValue",
	      "IPv6 addresses in a subnet without an IPv6 block");
	fails(h_create_network_interface, "CreateNetworkInterface",
	      json_pack("{s:s, s:i}", "SubnetId", s1, "Ipv6AddressCount", -1), "InvalidParameterValue",
	      "a negative Ipv6AddressCount");
	fails(h_create_network_interface, "CreateNetworkInterface",
	      json_pack("{s:s, s:[{s:s}]}", "SubnetId", s1, "Ipv6Addresses", "Ipv6Address", want), "InvalidIPAddress.InUse",
	      "CreateNetworkInterface with an address in use");
	fails(h_unassign_ipv6_addresses, "UnassignIpv6Addresses", ASSIGN(eni2, want), "InvalidParameterValue",
	      "an address the ENI does not hold");
	fails(h_unassign_ipv6_addresses, "UnassignIpv6Addresses", json_pack("{s:s}", "NetworkInterfaceId", eni2),
	      "MissingParameter", "no addresses");
	fails(h_disassociate_subnet_cidr_block, "DisassociateSubnetCidrBlock",
	      json_pack("{s:s}", "AssociationId", js(obj_get(s1), "Ipv6CidrBlockAssociationSet.0.AssociationId")),
	      "DependencyViolation", "a subnet block with ENI addresses in it");
	r = must(h_unassign_ipv6_addresses, "UnassignIpv6Addresses", ASSIGN(eni, want));
	is_str(js(r, "UnassignedIpv6Addresses.0"), want, "UnassignIpv6Addresses");
	json_decref(r);
	ok(json_array_size(json_object_get(obj_get(eni), "Ipv6Addresses")) == 2, "the ENI keeps the other two");
	r = must(h_create_network_interface, "CreateNetworkInterface",
		 json_pack("{s:s, s:[{s:s}]}", "SubnetId", s1, "Ipv6Addresses", "Ipv6Address", want));
	is_str(js(r, "NetworkInterface.Ipv6Addresses.0.Ipv6Address"), want, "a freed address can be given again");
	json_decref(r);

	/* Disassociation */
	fails(h_disassociate_vpc_cidr_block, "DisassociateVpcCidrBlock",
	      json_pack("{s:s}", "AssociationId", js(obj_get(vpc), "CidrBlockAssociationSet.0.AssociationId")),
	      "OperationNotPermitted", "the primary IPv4 block");
	fails(h_disassociate_vpc_cidr_block, "DisassociateVpcCidrBlock",
	      json_pack("{s:s}", "AssociationId", "vpc-cidr-assoc-0000000000000000a"),
	      "InvalidVpcCidrBlockAssociationID.NotFound", "an unknown association");
	fails(h_disassociate_subnet_cidr_block, "DisassociateSubnetCidrBlock",
	      json_pack("{s:s}", "AssociationId", "subnet-cidr-assoc-0000000000000000a"),
	      "InvalidSubnetCidrBlockAssociationID.NotFound", "an unknown subnet association");
	r = must(h_disassociate_subnet_cidr_block, "DisassociateSubnetCidrBlock",
		 json_pack("{s:s}", "AssociationId", sassoc));
	is_str(js(r, "Ipv6CidrBlockAssociation.Ipv6CidrBlockState.State"), "disassociating",
	       "DisassociateSubnetCidrBlock answers disassociating");
	json_decref(r);
	ok(json_array_size(json_object_get(obj_get(s2), "Ipv6CidrBlockAssociationSet")) == 0, "the subnet has no IPv6 block");
	r = must(h_disassociate_vpc_cidr_block, "DisassociateVpcCidrBlock", json_pack("{s:s}", "AssociationId", assoc2));
	is_str(js(r, "Ipv6CidrBlockAssociation.Ipv6CidrBlockState.State"), "disassociating",
	       "DisassociateVpcCidrBlock answers disassociating");
	is_str(js(r, "VpcId"), vpc2, "VpcId");
	json_decref(r);
	r = must(h_associate_vpc_cidr_block, "AssociateVpcCidrBlock",
		 json_pack("{s:s, s:b}", "VpcId", vpc2, "AmazonProvidedIpv6CidrBlock", 1));
	is_str(js(r, "Ipv6CidrBlockAssociation.Ipv6CidrBlock"), b56b, "a freed /56 is handed out again");
	json_decref(r);

	/* Egress-only internet gateways */
	char eigw[ID_MAX];
	r = must(h_create_egress_only_internet_gateway, "CreateEgressOnlyInternetGateway",
		 json_pack("{s:s, s:o}", "VpcId", vpc2, "TagSpecifications", tagged("egress-only-internet-gateway", "Name", "out")));
	id_from(r, "EgressOnlyInternetGateway.EgressOnlyInternetGatewayId", eigw);
	ok(id_check(eigw, "eigw") == 0, "CreateEgressOnlyInternetGateway: an eigw- ID (%s)", eigw);
	is_str(js(r, "EgressOnlyInternetGateway.Attachments.0.State"), "attached", "attached");
	is_str(js(r, "EgressOnlyInternetGateway.Attachments.0.VpcId"), vpc2, "to its VPC");
	is_str(js(r, "EgressOnlyInternetGateway.Tags.0.Value"), "out", "tagged");
	json_decref(r);
	l = describe1(h_describe_egress_only_internet_gateways, "DescribeEgressOnlyInternetGateways",
		      "EgressOnlyInternetGateways", "attachment.vpc-id", vpc2, &keep);
	ok(json_array_size(l) == 1 && !strcmp(js(json_array_get(l, 0), "EgressOnlyInternetGatewayId"), eigw),
	   "DescribeEgressOnlyInternetGateways by attachment.vpc-id");
	json_decref(keep);
	fails(h_create_egress_only_internet_gateway, "CreateEgressOnlyInternetGateway", json_object(), "MissingParameter",
	      "no VpcId");
	fails(h_create_egress_only_internet_gateway, "CreateEgressOnlyInternetGateway",
	      json_pack("{s:s}", "VpcId", "vpc-0000000000000000a"), "InvalidVpcID.NotFound", "an unknown VPC");
	fails(h_describe_egress_only_internet_gateways, "DescribeEgressOnlyInternetGateways",
	      json_pack("{s:[s]}", "EgressOnlyInternetGatewayIds", "eigw-0000000000000000a"),
	      "InvalidEgressOnlyInternetGatewayId.NotFound", "an unknown gateway");
	fails(h_delete_vpc, "DeleteVpc", json_pack("{s:s}", "VpcId", vpc2), "DependencyViolation",
	      "a VPC with an egress-only gateway");
	r = must(h_delete_egress_only_internet_gateway, "DeleteEgressOnlyInternetGateway",
		 json_pack("{s:s}", "EgressOnlyInternetGatewayId", eigw));
	ok(json_is_true(jp(r, "ReturnCode")), "DeleteEgressOnlyInternetGateway: ReturnCode true");
	json_decref(r);
	fails(h_delete_egress_only_internet_gateway, "DeleteEgressOnlyInternetGateway",
	      json_pack("{s:s}", "EgressOnlyInternetGatewayId", eigw), "InvalidEgressOnlyInternetGatewayId.NotFound",
	      "a deleted gateway");
	json_decref(must(h_delete_vpc, "DeleteVpc", json_pack("{s:s}", "VpcId", vpc2)));
	ok(!obj_get(vpc2), "then the VPC (with IPv6 blocks) deletes");
}

static void emit(const char *op, json_t *out)
{
	json_t *line = json_pack("{s:s, s:o}", "op", op, "output", out ? out : json_null());
	char *s = json_dumps(line, JSON_COMPACT);
	puts(s ? s : "{}");
	free(s);
	json_decref(line);
}

static int dump_shapes(void)
{
	struct lab l;
	char vpc[ID_MAX], sub[ID_MAX], eni[ID_MAX], rtb[ID_MAX];
	json_t *r;
	if (!lab_open(&l))
		return 1;
	r = must(h_create_vpc, "CreateVpc",
		 json_pack("{s:s, s:o}", "CidrBlock", "10.0.0.0/16", "TagSpecifications",
			   tagged("vpc", "Name", "lab")));
	id_from(r, "Vpc.VpcId", vpc);
	emit("CreateVpc", r);
	r = must(h_create_subnet, "CreateSubnet",
		 json_pack("{s:s, s:s, s:o}", "VpcId", vpc, "CidrBlock", "10.0.1.0/24",
			   "TagSpecifications", tagged("subnet", "Name", "web")));
	id_from(r, "Subnet.SubnetId", sub);
	emit("CreateSubnet", r);
	r = must(h_create_network_interface, "CreateNetworkInterface",
		 json_pack("{s:s, s:s}", "SubnetId", sub, "Description", "web"));
	id_from(r, "NetworkInterface.NetworkInterfaceId", eni);
	emit("CreateNetworkInterface", r);
	json_decref(must(h_create_tags, "CreateTags",
			 json_pack("{s:[s], s:[{s:s, s:s}]}", "Resources", eni, "Tags", "Key", "role",
				   "Value", "web")));
	r = must(h_create_route_table, "CreateRouteTable",
		 json_pack("{s:s, s:o}", "VpcId", vpc, "TagSpecifications",
			   tagged("route-table", "Name", "private")));
	id_from(r, "RouteTable.RouteTableId", rtb);
	emit("CreateRouteTable", r);
	emit("AssociateRouteTable", must(h_associate_route_table, "AssociateRouteTable",
					 json_pack("{s:s, s:s}", "RouteTableId", rtb, "SubnetId", sub)));
	emit("CreateRoute", must(h_create_route, "CreateRoute",
				 json_pack("{s:s, s:s, s:s}", "RouteTableId", rtb,
					   "DestinationCidrBlock", "0.0.0.0/0", "NetworkInterfaceId", eni)));
	{
		char v6[ID_MAX], s6[ID_MAX], e6[ID_MAX], b[80];
		struct cidr6 c, n;
		r = must(h_create_vpc, "CreateVpc",
			 json_pack("{s:s, s:b}", "CidrBlock", "10.1.0.0/16", "AmazonProvidedIpv6CidrBlock", 1));
		id_from(r, "Vpc.VpcId", v6);
		cidr6_parse(js(r, "Vpc.Ipv6CidrBlockAssociationSet.0.Ipv6CidrBlock"), &c);
		emit("CreateVpc", r);
		emit("AssociateVpcCidrBlock", must(h_associate_vpc_cidr_block, "AssociateVpcCidrBlock",
						   json_pack("{s:s, s:b}", "VpcId", v6, "AmazonProvidedIpv6CidrBlock", 1)));
		cidr6_nth(&c, 64, 0, &n);
		cidr6_format(&n, b);
		r = must(h_create_subnet, "CreateSubnet",
			 json_pack("{s:s, s:s, s:s}", "VpcId", v6, "CidrBlock", "10.1.1.0/24", "Ipv6CidrBlock", b));
		id_from(r, "Subnet.SubnetId", s6);
		emit("CreateSubnet", r);
		r = must(h_create_network_interface, "CreateNetworkInterface",
			 json_pack("{s:s, s:i}", "SubnetId", s6, "Ipv6AddressCount", 1));
		id_from(r, "NetworkInterface.NetworkInterfaceId", e6);
		emit("CreateNetworkInterface", r);
		emit("AssignIpv6Addresses", must(h_assign_ipv6_addresses, "AssignIpv6Addresses",
						 json_pack("{s:s, s:i}", "NetworkInterfaceId", e6, "Ipv6AddressCount", 1)));
		emit("CreateEgressOnlyInternetGateway",
		     must(h_create_egress_only_internet_gateway, "CreateEgressOnlyInternetGateway", json_pack("{s:s}", "VpcId", v6)));
		emit("DescribeEgressOnlyInternetGateways",
		     must(h_describe_egress_only_internet_gateways, "DescribeEgressOnlyInternetGateways", NULL));
	}
	emit("DescribeVpcs", must(h_describe_vpcs, "DescribeVpcs", NULL));
	emit("DescribeSubnets", must(h_describe_subnets, "DescribeSubnets", NULL));
	emit("DescribeRouteTables", must(h_describe_route_tables, "DescribeRouteTables", NULL));
	emit("DescribeNetworkInterfaces",
	     must(h_describe_network_interfaces, "DescribeNetworkInterfaces", NULL));
	emit("DescribeRegions", must(h_describe_regions, "DescribeRegions", NULL));
	emit("DescribeAvailabilityZones",
	     must(h_describe_availability_zones, "DescribeAvailabilityZones", NULL));
	emit("DescribeTags", must(h_describe_tags, "DescribeTags", NULL));
	emit("DescribeSecurityGroups", must(h_describe_security_groups, "DescribeSecurityGroups", NULL));
	emit("DescribeSecurityGroupRules",
	     must(h_describe_security_group_rules, "DescribeSecurityGroupRules", NULL));
	emit("DescribeNetworkAcls", must(h_describe_network_acls, "DescribeNetworkAcls", NULL));
	emit("DescribeVpcs", must(h_describe_vpcs, "DescribeVpcs",
				  json_pack("{s:[{s:s, s:[s]}], s:i}", "Filters", "Name", "state",
					    "Values", "available", "MaxResults", 5)));
	json_t *p1 = NULL;
	for (int i = 0; i < 6; i++) {
		char c[32];
		snprintf(c, sizeof(c), "10.%d.0.0/16", 200 + i);
		json_decref(must(h_create_vpc, "CreateVpc", vpc_params(c)));
	}
	p1 = must(h_describe_vpcs, "DescribeVpcs", json_pack("{s:i}", "MaxResults", 5));
	emit("DescribeVpcs", p1);
	lab_close(&l);
	return tap_failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct lab l;

	if (argc > 1 && strcmp(argv[1], "--dump-shapes") == 0)
		return dump_shapes();
	if (argc > 1 && strcmp(argv[1], "--route-errors") == 0)
		return route_errors_child();
	if (!lab_open(&l)) {
		printf("1..0 # SKIP cannot set up a lab store\n");
		return 77;
	}
	test_vpc();
	test_subnets();
	test_enis();
	test_route_tables();
	test_filters_and_paging();
	test_rollback(&l);
	test_robustness();
	test_regions();
	test_ipv6();
	lab_close(&l);
	test_determinism();
	return done();
}
