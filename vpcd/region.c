#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "vpcd.h"

/* The public AWS regions and the zone names most accounts see. --config can replace this. */
static const struct region_def builtin_regions[] = {
	{"us-east-1", {"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"}, 6},
	{"us-east-2", {"us-east-2a", "us-east-2b", "us-east-2c"}, 3},
	{"us-west-1", {"us-west-1b", "us-west-1c"}, 2},
	{"us-west-2", {"us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"}, 4},
	{"af-south-1", {"af-south-1a", "af-south-1b", "af-south-1c"}, 3},
	{"ap-east-1", {"ap-east-1a", "ap-east-1b", "ap-east-1c"}, 3},
	{"ap-south-1", {"ap-south-1a", "ap-south-1b", "ap-south-1c"}, 3},
	{"ap-south-2", {"ap-south-2a", "ap-south-2b", "ap-south-2c"}, 3},
	{"ap-southeast-1", {"ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"}, 3},
	{"ap-southeast-2", {"ap-southeast-2a", "ap-southeast-2b", "ap-southeast-2c"}, 3},
	{"ap-southeast-3", {"ap-southeast-3a", "ap-southeast-3b", "ap-southeast-3c"}, 3},
	{"ap-southeast-4", {"ap-southeast-4a", "ap-southeast-4b", "ap-southeast-4c"}, 3},
	{"ap-northeast-1", {"ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"}, 3},
	{"ap-northeast-2", {"ap-northeast-2a", "ap-northeast-2b", "ap-northeast-2c", "ap-northeast-2d"}, 4},
	{"ap-northeast-3", {"ap-northeast-3a", "ap-northeast-3b", "ap-northeast-3c"}, 3},
	{"ca-central-1", {"ca-central-1a", "ca-central-1b", "ca-central-1d"}, 3},
	{"ca-west-1", {"ca-west-1a", "ca-west-1b", "ca-west-1c"}, 3},
	{"eu-central-1", {"eu-central-1a", "eu-central-1b", "eu-central-1c"}, 3},
	{"eu-central-2", {"eu-central-2a", "eu-central-2b", "eu-central-2c"}, 3},
	{"eu-west-1", {"eu-west-1a", "eu-west-1b", "eu-west-1c"}, 3},
	{"eu-west-2", {"eu-west-2a", "eu-west-2b", "eu-west-2c"}, 3},
	{"eu-west-3", {"eu-west-3a", "eu-west-3b", "eu-west-3c"}, 3},
	{"eu-south-1", {"eu-south-1a", "eu-south-1b", "eu-south-1c"}, 3},
	{"eu-south-2", {"eu-south-2a", "eu-south-2b", "eu-south-2c"}, 3},
	{"eu-north-1", {"eu-north-1a", "eu-north-1b", "eu-north-1c"}, 3},
	{"il-central-1", {"il-central-1a", "il-central-1b", "il-central-1c"}, 3},
	{"me-south-1", {"me-south-1a", "me-south-1b", "me-south-1c"}, 3},
	{"me-central-1", {"me-central-1a", "me-central-1b", "me-central-1c"}, 3},
	{"sa-east-1", {"sa-east-1a", "sa-east-1b", "sa-east-1c"}, 3},
};

static struct region_def *loaded;

const struct region_def *region_find(const char *name)
{
	if (!name)
		return NULL;
	for (int i = 0; i < V->nregions; i++)
		if (strcmp(V->regions[i].name, name) == 0)
			return &V->regions[i];
	return NULL;
}

/* Config: {"regions": [{"name": "lab-1", "zones": ["lab-1a", "lab-1b"]}],
 *          "default_vpc": false, "socket_group": "vpclab"} — every key optional. */
int regions_load_config(const char *path, struct err *e)
{
	V->regions = (struct region_def *)builtin_regions;
	V->nregions = (int)ARRAY_SIZE(builtin_regions);
	/* 198.18.0.0/15 is reserved for benchmarking (RFC 2544): never a real destination. */
	cidr_parse("198.18.0.0/15", &V->public_pool);
	V->region_pool_len = 20;
	if (!path || !*path)
		return 0;
	json_error_t je;
	_cleanup_json_ json_t *c = json_load_file(path, 0, &je);
	if (!c)
		return err_set(e, "InvalidParameterValue", "config '%s': %s (line %d)", path, je.text,
			       je.line);
	json_t *regs = json_object_get(c, "regions"), *r, *z;
	size_t i, j;
	if (json_is_boolean(json_object_get(c, "default_vpc")))
		V->default_vpc = json_is_true(json_object_get(c, "default_vpc"));
	json_t *plen = json_object_get(c, "region_pool_prefix");
	if (plen && (!json_is_integer(plen) || json_integer_value(plen) < 16 || json_integer_value(plen) > 24))
		return err_set(e, "InvalidParameterValue",
			       "config '%s': region_pool_prefix must be an integer from 16 to 24", path);
	if (plen)
		V->region_pool_len = (int)json_integer_value(plen);
	const char *pool = jstr(c, "public_pool");
	if (*pool && (cidr_parse(pool, &V->public_pool) < 0 || V->public_pool.len > V->region_pool_len))
		return err_set(e, "InvalidParameterValue",
			       "config '%s': public_pool '%s' must be a CIDR of /%d or larger", path, pool,
			       V->region_pool_len);
	const char *grp = jstr(c, "socket_group");
	if (*grp)
		snprintf(V->sock_group, sizeof(V->sock_group), "%s", grp);
	if (!json_is_array(regs))
		return 0;
	loaded = calloc(json_array_size(regs), sizeof(*loaded));
	json_array_foreach(regs, i, r)
	{
		const char *name = jstr(r, "name");
		if (!*name || strlen(name) >= sizeof(loaded[i].name))
			return err_set(e, "InvalidParameterValue", "config '%s': region %zu has no valid name",
				       path, i);
		snprintf(loaded[i].name, sizeof(loaded[i].name), "%s", name);
		json_array_foreach(json_object_get(r, "zones"), j, z)
		{
			if (j >= ARRAY_SIZE(loaded[i].zones) || !json_is_string(z))
				return err_set(e, "InvalidParameterValue",
					       "config '%s': region '%s' has too many or bad zones", path,
					       name);
			snprintf(loaded[i].zones[j], sizeof(loaded[i].zones[j]), "%s",
				 json_string_value(z));
			loaded[i].nzones = (int)j + 1;
		}
		if (loaded[i].nzones == 0)
			return err_set(e, "InvalidParameterValue", "config '%s': region '%s' has no zones",
				       path, name);
	}
	V->regions = loaded;
	V->nregions = (int)json_array_size(regs);
	return 0;
}

/* us-east-1a -> use1-az1 (the AZ ID scheme; letters map to numbers in order here). */
const char *zone_id(const char *zone, char buf[static 16])
{
	static const struct {
		const char *word, *abbr;
	} dirs[] = {{"northeast", "ne"}, {"southeast", "se"}, {"northwest", "nw"}, {"southwest", "sw"},
		    {"north", "n"},      {"south", "s"},      {"east", "e"},       {"west", "w"},
		    {"central", "c"}};
	char area[8] = "", dir[8] = "", num[8] = "";
	char letter = zone[strlen(zone) - 1];
	sscanf(zone, "%7[a-z]-", area);
	const char *rest = strchr(zone, '-');
	if (rest) {
		rest++;
		for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
			if (strncmp(rest, dirs[i].word, strlen(dirs[i].word)) == 0) {
				snprintf(dir, sizeof(dir), "%s", dirs[i].abbr);
				rest += strlen(dirs[i].word);
				break;
			}
		sscanf(rest, "-%7[0-9]", num);
	}
	snprintf(buf, 16, "%.3s%.3s%.3s-az%d", area, dir, num, letter >= 'a' ? letter - 'a' + 1 : 1);
	return buf;
}

int h_describe_regions(struct req *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *names = param_list(rq->params, "RegionNames");
	json_t *out = json_array(), *n;
	size_t i;
	(void)e;
	json_array_foreach(names, i, n) if (!region_find(json_string_value(n)))
	{
		json_decref(out);
		return err_set(e, "InvalidParameterValue", "Invalid region names: '%s'",
			       json_string_value(n) ?: "");
	}
	for (int r = 0; r < V->nregions; r++) {
		bool want = json_array_size(names) == 0;
		json_array_foreach(names, i, n) want |= strcmp(json_string_value(n), V->regions[r].name) == 0;
		if (!want)
			continue;
		char ep[96];
		snprintf(ep, sizeof(ep), "ec2.%s.amazonaws.com", V->regions[r].name);
		json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "Endpoint", ep, "RegionName",
						     V->regions[r].name, "OptInStatus",
						     "opt-in-not-required"));
	}
	*ret = json_pack("{s:o}", "Regions", out);
	return 0;
}

static const struct filter_map az_filters[] = {
	{"zone-name", "ZoneName"}, {"zone-id", "ZoneId"},     {"state", "State"},
	{"region-name", "RegionName"}, {"zone-type", "ZoneType"}, {"group-name", "GroupName"},
	{NULL, NULL}};

int h_describe_availability_zones(struct req *rq, json_t **ret, struct err *e)
{
	const struct region_def *rd = region_find(rq->region);
	_cleanup_json_ json_t *names = param_list(rq->params, "ZoneNames");
	_cleanup_json_ json_t *zids = param_list(rq->params, "ZoneIds");
	json_t *out = json_array();
	size_t i;
	json_t *n;
	(void)e;
	for (int z = 0; z < rd->nzones; z++) {
		char zid[16];
		zone_id(rd->zones[z], zid);
		bool want = json_array_size(names) == 0 && json_array_size(zids) == 0;
		json_array_foreach(names, i, n) want |= strcmp(json_string_value(n) ?: "", rd->zones[z]) == 0;
		json_array_foreach(zids, i, n) want |= strcmp(json_string_value(n) ?: "", zid) == 0;
		if (!want)
			continue;
		json_array_append_new(
			out, json_pack("{s:s, s:s, s:[], s:s, s:s, s:s, s:s, s:s, s:s}", "State",
				       "available", "OptInStatus", "opt-in-not-required", "Messages",
				       "RegionName", rd->name, "ZoneName", rd->zones[z], "ZoneId", zid,
				       "GroupName", rd->name, "NetworkBorderGroup", rd->name,
				       "ZoneType", "availability-zone"));
	}
	json_array_foreach(names, i, n)
	{
		bool found = false;
		for (int z = 0; z < rd->nzones; z++)
			found |= strcmp(json_string_value(n) ?: "", rd->zones[z]) == 0;
		if (!found) {
			json_decref(out);
			return err_set(e, "InvalidParameterValue", "The zone '%s' does not exist.",
				       json_string_value(n) ?: "");
		}
	}
	/* Filters apply to the listed zones. */
	_cleanup_json_ json_t *filters = param_list(rq->params, "Filters");
	if (json_array_size(filters)) {
		json_t *kept = json_array(), *z;
		json_array_foreach(out, i, z)
		{
			bool ok = true;
			size_t k;
			json_t *f;
			json_array_foreach(filters, k, f)
			{
				const struct filter_map *m = az_filters;
				while (m->name && strcmp(m->name, jstr(f, "Name")) != 0)
					m++;
				if (!m->name) {
					json_decref(out), json_decref(kept);
					return err_set(e, "InvalidParameterValue", "The filter '%s' is invalid",
						       jstr(f, "Name"));
				}
				_cleanup_json_ json_t *vals = param_list(f, "Values");
				bool any = false;
				size_t w;
				json_t *v;
				json_array_foreach(vals, w, v) any |= wildcard_match(json_string_value(v) ?: "",
										    jstr(z, m->path));
				ok &= any;
			}
			if (ok)
				json_array_append(kept, z);
		}
		json_decref(out);
		out = kept;
	}
	*ret = json_pack("{s:o}", "AvailabilityZones", out);
	return 0;
}

/* First use of a region: its namespace, and the default VPC with a default subnet per AZ, an
 * internet gateway and a default route to it. */
static int default_vpc_make(struct req *rq, const struct region_def *rd, char vpc[static ID_MAX], struct err *e);

int region_ensure(struct req *rq, struct err *e)
{
	char key[64];
	const struct region_def *rd = region_find(rq->region);
	int r;

	if (!rd)
		return err_set(e, "InvalidRegion", "The region '%s' does not exist or is not enabled",
			       rq->region);
	snprintf(key, sizeof(key), "region:%s", rq->region);
	if (obj_get(key))
		return 0;
	char dopt[ID_MAX];
	new_id(&rq->txn, "dopt", dopt);
	obj_put(&rq->txn, key, json_pack("{s:s, s:s, s:s, s:s}", "_type", "region", "_region",
					  rq->region, "RegionName", rq->region, "_dopt", dopt));
	r = sync_region(rq->region, NULL, e);
	if (r < 0)
		return r;
	if (!V->default_vpc)
		return 0;
	char vpc[ID_MAX];
	return default_vpc_make(rq, rd, vpc, e);
}

/* The region's default VPC, as AWS makes it: 172.31.0.0/16, one default /20 per zone with
 * public addresses on launch, an internet gateway attached and the main route table's default
 * route to it; the default group, ACL and DHCP options come with every VPC. */
static int default_vpc_make(struct req *rq, const struct region_def *rd, char vpc[static ID_MAX], struct err *e)
{
	char sub[ID_MAX];
	int r = vpc_create_obj(rq, "172.31.0.0/16", true, NULL, vpc, e);
	for (int z = 0; r == 0 && z < rd->nzones && z < 16; z++) {
		char cidr[CIDR_STRLEN];
		snprintf(cidr, sizeof(cidr), "172.31.%d.0/20", z * 16);
		r = subnet_create_obj(rq, vpc, cidr, rd->zones[z], true, NULL, sub, e);
	}
	if (r < 0)
		return r;
	/* As AWS makes it: an internet gateway attached, and the main route table's default
	 * route to it, so the default subnets' public addresses lead somewhere. */
	char igw[ID_MAX];
	igw_create_obj(rq, NULL, vpc, igw);
	json_t *main_rtb = vpc_main_route_table(vpc);
	if (!main_rtb)
		return err_set(e, "InternalError", "the default VPC %s has no main route table", vpc);
	json_t *rt = obj_edit(&rq->txn, jstr(main_rtb, "RouteTableId"));
	json_array_append_new(json_object_get(rt, "Routes"),
			      json_pack("{s:s, s:s, s:s}", "DestinationCidrBlock", "0.0.0.0/0",
					"GatewayId", igw, "Origin", "CreateRoute"));
	return 0;
}

static json_t *default_vpc_of(const char *region)
{
	const char *id;
	json_t *o;
	obj_foreach("vpc", region, id, o) if (json_is_true(json_object_get(o, "IsDefault"))) return o;
	return NULL;
}

/* CreateDefaultVpc: the default VPC again, after it was deleted. */
int h_create_default_vpc(struct req *rq, json_t **ret, struct err *e)
{
	const struct region_def *rd = region_find(rq->region);
	char vpc[ID_MAX];
	int r;
	if (default_vpc_of(rq->region))
		return err_set(e, "DefaultVpcAlreadyExists", "A Default VPC already exists for this account in this region.");
	if ((r = default_vpc_make(rq, rd, vpc, e)) < 0)
		return r;
	*ret = json_pack("{s:o}", "Vpc", obj_public(obj_get(vpc)));
	return 0;
}

/* CreateDefaultSubnet: a default /20 in a zone of the default VPC that has none; the zone's
 * own block (172.31.16*z.0/20) when it is free, else the first free /20 of the VPC. */
int h_create_default_subnet(struct req *rq, json_t **ret, struct err *e)
{
	const struct region_def *rd = region_find(rq->region);
	const char *az = NULL, *id;
	json_t *o;
	int r, zone = -1;
	if ((r = param_str(rq, "AvailabilityZone", true, &az, e)) < 0)
		return r;
	for (int z = 0; z < rd->nzones; z++)
		if (!strcmp(az, rd->zones[z]))
			zone = z;
	if (zone < 0)
		return err_set(e, "InvalidParameterValue", "Value (%s) for parameter availabilityZone is invalid.", az);
	if (json_is_true(json_object_get(rq->params, "Ipv6Native")))
		return err_set(e, "UnsupportedOperation", "IPv6-only subnets (Ipv6Native) are not supported by vpclab yet");
	json_t *vpc = default_vpc_of(rq->region);
	if (!vpc)
		return err_set(e, "DefaultVpcDoesNotExist", "No default VPC for this user");
	const char *vpc_id = jstr(vpc, "VpcId");
	obj_foreach_vpc("subnet", vpc_id, id, o) if (json_is_true(json_object_get(o, "DefaultForAz")) &&
						     !strcmp(jstr(o, "AvailabilityZone"), az)) return err_set(
	    e, "DefaultSubnetAlreadyExistsInAvailabilityZone", "The default subnet already exists in %s (%s).", az, id);
	char cidr[CIDR_STRLEN] = "";
	for (int k = 0; k < 16 && !*cidr; k++) {
		int blk = (zone + k) % 16;
		struct cidr want = {.addr = (172u << 24) | (31u << 16) | ((unsigned)blk * 16u << 8), .len = 20}, have;
		bool used = false;
		obj_foreach_vpc("subnet", vpc_id, id, o) used |= cidr_parse(jstr(o, "CidrBlock"), &have) == 0 &&
								 cidr_overlaps(&want, &have);
		if (!used)
			cidr_format(&want, cidr);
	}
	if (!*cidr)
		return err_set(e, "InsufficientFreeAddressesInSubnet", "The default VPC %s has no free /20 left", vpc_id);
	char sub[ID_MAX];
	if ((r = subnet_create_obj(rq, vpc_id, cidr, rd->zones[zone], true, NULL, sub, e)) < 0)
		return r;
	*ret = json_pack("{s:o}", "Subnet", obj_public(obj_get(sub)));
	return 0;
}
