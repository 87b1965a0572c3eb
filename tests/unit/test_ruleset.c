/* Golden file: the nftables ruleset vpc_ruleset() produces for a fixed VPC spec.
 *
 * The spec (seed 42): VPC 10.0.0.0/16; subnets 10.0.1.0/24 and 10.0.2.0/24; ENIs 10.0.1.4 and
 * 10.0.1.10 in the first, 10.0.2.4 in the second, source/destination check off on 10.0.1.10.
 * When the ruleset changes on purpose, regenerate with
 *   UPDATE_GOLDEN=1 meson test -C build test_ruleset
 * and review the diff of tests/unit/golden/ruleset-basic.nft before committing it. */
#include <dirent.h>
#include <limits.h>
#include <unistd.h>
#include <jansson.h>
#include "vpcd.h"
#include "tap.h"

#ifndef GOLDEN_DIR
#error "GOLDEN_DIR must name tests/unit/golden"
#endif

struct vpcd *V;
static struct vpcd lab;
static char dir[] = "/tmp/vpclab-ut-ruleset-XXXXXX";
static char sdc_off[ID_MAX]; /* the ENI with source/destination check off */

static void rm_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[PATH_MAX];
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
			unlink(p);
		}
	if (d)
		closedir(d);
	rmdir(dir);
}

/* One handler call as dispatch() makes it, minus the kernel; steals params. */
static json_t *run(handler_fn h, const char *what, json_t *params)
{
	struct req rq = {.action = what, .region = "us-east-1", .params = params};
	struct err e = {0};
	json_t *ret = NULL;
	if (h(&rq, &ret, &e) < 0 || txn_commit(&rq.txn, &e) < 0) {
		ok(false, "%s", what);
		diag("  %s: %s", e.code, e.msg);
		txn_rollback(&rq.txn);
		json_decref(rq.txn.dirty_vpcs);
		json_decref(ret);
		ret = NULL;
	}
	json_decref(params);
	return ret;
}

static void copy_id(json_t *r, const char *obj, const char *key, char out[static ID_MAX])
{
	const char *s = json_string_value(json_object_get(json_object_get(r, obj), key));
	snprintf(out, ID_MAX, "%s", s ? s : "");
	json_decref(r);
}

static bool build(char vpc[static ID_MAX])
{
	struct err e = {0};
	struct txn t = {0};
	char s1[ID_MAX], s2[ID_MAX], eni[ID_MAX];

	snprintf(lab.prefix, sizeof(lab.prefix), "ut");
	lab.default_vpc = false;
	V = &lab;
	if (regions_load_config(NULL, &e) < 0 || store_open(dir, &lab.store, &e) < 0) {
		diag("setup: %s: %s", e.code, e.msg);
		return false;
	}
	lab.ids.state = 42;
	lab.ns_cache = json_object();
	lab.nft_applied = json_object();
	obj_put(&t, "region:us-east-1",
		json_pack("{s:s,s:s,s:s,s:s}", "_type", "region", "_region", "us-east-1", "RegionName",
			  "us-east-1", "_dopt", "dopt-0123456789abcdef0"));
	if (txn_commit(&t, &e) < 0)
		return false;

	copy_id(run(h_create_vpc, "CreateVpc", json_pack("{s:s}", "CidrBlock", "10.0.0.0/16")), "Vpc",
		"VpcId", vpc);
	copy_id(run(h_create_subnet, "CreateSubnet",
		    json_pack("{s:s, s:s}", "VpcId", vpc, "CidrBlock", "10.0.1.0/24")),
		"Subnet", "SubnetId", s1);
	copy_id(run(h_create_subnet, "CreateSubnet",
		    json_pack("{s:s, s:s}", "VpcId", vpc, "CidrBlock", "10.0.2.0/24")),
		"Subnet", "SubnetId", s2);
	copy_id(run(h_create_network_interface, "CreateNetworkInterface",
		    json_pack("{s:s}", "SubnetId", s1)),
		"NetworkInterface", "NetworkInterfaceId", eni);
	copy_id(run(h_create_network_interface, "CreateNetworkInterface",
		    json_pack("{s:s, s:s}", "SubnetId", s1, "PrivateIpAddress", "10.0.1.10")),
		"NetworkInterface", "NetworkInterfaceId", eni);
	json_decref(run(h_modify_network_interface_attribute, "ModifyNetworkInterfaceAttribute",
			json_pack("{s:s, s:{s:b}}", "NetworkInterfaceId", eni, "SourceDestCheck",
				  "Value", 0)));
	snprintf(sdc_off, sizeof(sdc_off), "%s", eni);
	copy_id(run(h_create_network_interface, "CreateNetworkInterface",
		    json_pack("{s:s}", "SubnetId", s2)),
		"NetworkInterface", "NetworkInterfaceId", eni);
	return vpc[0] && eni[0];
}



int main(void)
{
	const char *golden = GOLDEN_DIR "/ruleset-basic.nft";
	char vpc[ID_MAX] = "";
	const char *update = getenv("UPDATE_GOLDEN");

	if (!mkdtemp(dir)) {
		printf("1..0 # SKIP cannot create a temporary directory\n");
		return 77;
	}
	ok(build(vpc), "the VPC spec builds (%s)", vpc);
	char *text = vpc_ruleset(vpc);
	ok(text && *text, "vpc_ruleset returns text");
	char *again = vpc_ruleset(vpc);
	ok(text && again && strcmp(text, again) == 0, "vpc_ruleset is a pure function of the model");
	free(again);

	if (update && *update && strcmp(update, "0") != 0) {
		FILE *f = fopen(golden, "w");
		bool wrote = f && fputs(text ? text : "", f) >= 0;
		if (f)
			wrote &= fclose(f) == 0;
		ok(wrote, "UPDATE_GOLDEN: wrote %s", golden);
	} else {
		char *want = slurp(golden);
		if (!want) {
			ok(false, "golden file %s is readable (run with UPDATE_GOLDEN=1 to create it)", golden);
		} else if (!ok(text && strcmp(text, want) == 0, "ruleset matches %s byte for byte", golden)) {
			show_difference(text ? text : "", want);
		}
		free(want);
	}
	/* Spot checks that hold whatever the rest of the ruleset looks like. */
	ok(text && strstr(text, "10.0.1.4") && strstr(text, "10.0.1.10") && strstr(text, "10.0.2.4"),
	   "the three ENI addresses appear");
	char port[16];
	name_port(sdc_off, port);
	const char *ports = text ? strstr(text, "set sdc_ports {") : NULL;
	const char *end = ports ? strchr(ports, '}') : NULL;
	const char *hit = ports ? strstr(ports, port) : NULL;
	ok(end && (!hit || hit > end), "the ENI with source/dest check off (%s) is not in sdc_ports",
	   port);
	ok(text && strstr(text, port), "but its port is still named in the ruleset");
	free(text);

	store_free(lab.store);
	json_decref(lab.ns_cache);
	json_decref(lab.nft_applied);
	rm_dir();
	return done();
}
