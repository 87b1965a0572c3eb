/* ec2d: the instance daemon of vpclab, and its own command-line client. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <libvirt/virterror.h>
#include "b64.h"
#include "caps.h"
#include "cleanup.h"
#include "cfn.h"
#include "check.h"
#include "cli.h"
#include "ec2d.h"
#include "log.h"
#include "nl.h"
#include "rpc.h"
#include "topology.h"

struct ec2d *E;
#define PIDFILE_FMT "/run/vpclab-ec2d-%s.pid"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int cmd_serve(int argc, char **argv);
static int cmd_teardown(int argc, char **argv);
static int cmd_exec(int argc, char **argv);
static int cmd_capture(int argc, char **argv);
static int cmd_front(int argc, char **argv);
static int prep_run_instances(json_t *params, struct err *e);
static int prep_import_key_pair(json_t *params, struct err *e);
static int prep_modify_instance_attribute(json_t *params, struct err *e);
static void show_console(json_t *result);
static int prep_fis(json_t *params, struct err *e);
static int prep_fis_token(json_t *params, struct err *e);
static int prep_report(json_t *params, struct err *e);
static void show_report(json_t *result);

static const struct verb verbs[] = {
	{"serve", NULL, "run the daemon in the foreground", cmd_serve, NULL, true},
	{"teardown", NULL, "remove every libvirt domain and file carrying a prefix", cmd_teardown, NULL, true},
	{"front", NULL, "(started by serve) an unprivileged front: api or imds", cmd_front, NULL, true},
	{"describe-lab", "", "the prefix, paths, libvirt and images in use", NULL, NULL, true},
	{"audit-lab", "repair:b", "compare libvirt's domains with the instances: each drift, non-zero exit on any; --repair converges",
	 NULL, NULL, true},
	{"run-instances",
	 "image-id instance-type count min-count:i max-count:i subnet-id private-ip-address security-group-ids:l user-data key-name client-token tag-specifications:L associate-public-ip-address:b no-associate-public-ip-address:b network-interfaces:L iam-instance-profile:S launch-template:S dry-run:b",
	 "launch instances (containers or VMs) into a subnet", NULL, NULL, false, prep_run_instances},
	{"describe-instances", "instance-ids:l filters:L max-results:i next-token dry-run:b",
	 "list instances by reservation", NULL, NULL},
	{"describe-instance-status",
	 "instance-ids:l filters:L include-all-instances:b max-results:i next-token dry-run:b",
	 "instance state and status checks", NULL, NULL},
	{"describe-instance-attribute", "instance-id! attribute! dry-run:b",
	 "one attribute of an instance (instanceType, groupSet, sourceDestCheck, userData, ...)", NULL, NULL},
	{"modify-instance-attribute",
	 "instance-id! attribute value instance-type user-data groups:l source-dest-check:b no-source-dest-check:b dry-run:b",
	 "change one attribute: instance type or user data (stopped), groups, source/dest check", NULL, NULL, false,
	 prep_modify_instance_attribute},
	{"stop-instances", "instance-ids!:l force:b hibernate:b dry-run:b", "stop instances (keep ENI and address)",
	 NULL, NULL},
	{"start-instances", "instance-ids!:l dry-run:b", "start stopped instances", NULL, NULL},
	{"reboot-instances", "instance-ids!:l dry-run:b", "reboot instances", NULL, NULL},
	{"terminate-instances", "instance-ids!:l dry-run:b", "terminate instances (ENI and domain go)",
	 NULL, NULL},
	{"get-console-output", "instance-id! latest:b dry-run:b", "the instance's console (last 64 KiB)",
	 NULL, NULL, false, NULL, show_console},
	{"describe-images", "image-ids:l owners:l executable-users:l filters:L include-deprecated:b dry-run:b",
	 "list the images built by images/build", NULL, NULL, true},
	{"describe-instance-types", "instance-types:l filters:L max-results:i next-token dry-run:b",
	 "list instance types", NULL, NULL, true},
	{"create-key-pair", "key-name! key-type key-format tag-specifications:L dry-run:b",
	 "make a key pair: the private key is in the answer (KeyMaterial), only there", NULL, NULL},
	{"import-key-pair", "key-name! public-key-material! tag-specifications:L dry-run:b",
	 "import a public key (OpenSSH, RFC 4716 or DER; fileb://PATH reads a file)", NULL, NULL, false,
	 prep_import_key_pair},
	{"describe-key-pairs", "key-names:l key-pair-ids:l filters:L include-public-key:b dry-run:b",
	 "list key pairs", NULL, NULL},
	{"delete-key-pair", "key-name key-pair-id dry-run:b", "delete a key pair (instances keep their key)",
	 NULL, NULL},
	{"create-volume", "availability-zone! size:i volume-type snapshot-id iops:i throughput:i encrypted:b tag-specifications:L dry-run:b",
	 "make a volume (a directory, mounted at /mnt/<device> in a container it is attached to)", NULL, NULL},
	{"describe-volumes", "volume-ids:l filters:L dry-run:b", "list volumes and their attachments", NULL, NULL},
	{"attach-volume", "volume-id! instance-id! device! dry-run:b", "attach a volume to a container (/dev/sdf: /mnt/sdf)", NULL, NULL},
	{"detach-volume", "volume-id! instance-id device force:b dry-run:b", "detach a volume", NULL, NULL},
	{"delete-volume", "volume-id! dry-run:b", "delete a volume and its files", NULL, NULL},
	{"create-launch-template",
	 "launch-template-name! version-description launch-template-data!:S tag-specifications:L client-token dry-run:b",
	 "make a launch template (its data as RunInstances' parameters; UserData in base64)", NULL, NULL},
	{"describe-launch-templates", "launch-template-ids:l launch-template-names:l filters:L dry-run:b",
	 "list launch templates", NULL, NULL},
	{"modify-launch-template", "launch-template-id launch-template-name default-version client-token dry-run:b",
	 "set a launch template's default version", NULL, NULL},
	{"delete-launch-template", "launch-template-id launch-template-name dry-run:b",
	 "delete a launch template and all its versions", NULL, NULL},
	{"create-launch-template-version",
	 "launch-template-id launch-template-name source-version version-description launch-template-data!:S client-token dry-run:b",
	 "a new version of a launch template (--source-version: that one's data, the given keys replaced)", NULL, NULL},
	{"describe-launch-template-versions",
	 "launch-template-id launch-template-name versions:l min-version max-version dry-run:b",
	 "a launch template's versions ($Latest, $Default or numbers)", NULL, NULL},
	{"delete-launch-template-versions", "launch-template-id launch-template-name versions!:l dry-run:b",
	 "delete versions of a launch template (not its default)", NULL, NULL},
	{"exec", NULL, "lab: run a command in an instance: exec --instance-id I -- CMD ARGS...", cmd_exec, NULL},
	{"capture", NULL, "lab: capture an instance's packets as pcap: capture --instance-id I [vpcd capture's flags]", cmd_capture, NULL, true},
/* FIS, as `aws fis` has it (fis.c); its members are camelCase: prep_fis renames the flags'. */
#define FIS_VERB(name, flags, summary, prep) {name, flags, summary, NULL, NULL, false, prep},
	FIS_VERB("create-experiment-template",
		 "description targets:S actions:S stop-conditions:L role-arn tags:S client-token cli-input-json",
		 "fis: make an experiment template (--cli-input-json file://t.json takes FIS's JSON)", prep_fis_token)
	FIS_VERB("get-experiment-template", "id!", "fis: one experiment template", prep_fis)
	FIS_VERB("update-experiment-template",
		 "id description targets:S actions:S stop-conditions:L role-arn cli-input-json",
		 "fis: change an experiment template", prep_fis)
	FIS_VERB("delete-experiment-template", "id!", "fis: delete an experiment template", prep_fis)
	FIS_VERB("list-experiment-templates", "max-results:i next-token", "fis: list experiment templates", prep_fis)
	FIS_VERB("start-experiment", "experiment-template-id tags:S client-token cli-input-json",
		 "fis: start an experiment from a template", prep_fis_token)
	FIS_VERB("get-experiment", "id!", "fis: an experiment, its actions' states and times", prep_fis)
	FIS_VERB("stop-experiment", "id!", "fis: stop an experiment: every fault undone now", prep_fis)
	FIS_VERB("list-experiments", "max-results:i next-token", "fis: list experiments", prep_fis)
	FIS_VERB("list-actions", "max-results:i next-token", "fis: the actions experiments can take", prep_fis)
	FIS_VERB("get-action", "id!", "fis: one action, its targets and parameters", prep_fis)
	FIS_VERB("list-target-resource-types", "max-results:i next-token", "fis: the target resource types", prep_fis)
	FIS_VERB("get-target-resource-type", "resource-type!", "fis: one target resource type", prep_fis)
	FIS_VERB("tag-resource", "resource-arn! tags!:S", "fis: tag a template or an experiment", prep_fis)
	FIS_VERB("untag-resource", "resource-arn! tag-keys:l", "fis: untag a template or an experiment", prep_fis)
	FIS_VERB("list-tags-for-resource", "resource-arn!", "fis: the tags of a template or an experiment", prep_fis)
	{"get-experiment-report", "id! svg-file", "lab: an experiment's report: events, outages, API calls (--svg-file: its timeline)",
	 NULL, NULL, false, prep_report, show_report},
	{"run-experiment", NULL, "lab: run a template N times (--repeat), keep the reports, medians and spreads", cmd_run_experiment, NULL},
	{"compare-experiment-reports", NULL, "lab: what differs between two reports but the measures", cmd_compare_reports, NULL, true},
	{"create-probe",
	 "probe-name! type! source target! port:i interval-ms:i timeout-ms:i path expect-status:i expect-body alarm-failures:i",
	 "lab: a probe experiments run (icmp, tcp, http, udp from host, internet, netns:NAME, instance:ID)", NULL, NULL},
	{"describe-probes", "probe-names:l", "lab: list probes", NULL, NULL},
	{"describe-topology", "format", "lab: the lab as it is now (--format json, dot or svg; docs/topology.md)", NULL, NULL, true, NULL, topology_present},
	{"delete-probe", "probe-name!", "lab: delete a probe", NULL, NULL},
#undef FIS_VERB
/* CloudFormation, as `aws cloudformation` has it (cfn.c); deploy waits and prints events. */
	{"deploy", NULL, "cloudformation: create or update a stack from --template-file F, wait, print its events", cmd_cfn_deploy, NULL},
	{"create-stack", "stack-name! template-body template-url parameters:L disable-rollback:b on-failure capabilities:l tags:L",
	 "cloudformation: make a stack (--template-body file://lab.yaml)", NULL, NULL, false, cfn_prep},
	{"update-stack", "stack-name! template-body template-url use-previous-template:b parameters:L disable-rollback:b capabilities:l tags:L",
	 "cloudformation: change a stack to a new template or parameters", NULL, NULL, false, cfn_prep},
	{"delete-stack", "stack-name!", "cloudformation: delete a stack and every resource it made", NULL, NULL},
	{"describe-stacks", "stack-name", "cloudformation: stacks, their status, parameters and outputs", NULL, NULL},
	{"describe-stack-events", "stack-name!", "cloudformation: a stack's events, newest first", NULL, NULL},
	{"describe-stack-resources", "stack-name logical-resource-id physical-resource-id", "cloudformation: a stack's resources", NULL, NULL},
	{"describe-stack-resource", "stack-name! logical-resource-id!", "cloudformation: one resource of a stack", NULL, NULL},
	{"list-stacks", "stack-status-filter:l", "cloudformation: every stack, also deleted ones", NULL, NULL},
	{"list-stack-resources", "stack-name!", "cloudformation: a stack's resources, in short", NULL, NULL},
	{"get-template", "stack-name! change-set-name", "cloudformation: a stack's template as it was given", NULL, NULL},
	{"get-template-summary", "stack-name template-body", "cloudformation: a template's parameters and resource types", NULL, NULL, false, cfn_prep},
	{"validate-template", "template-body template-url", "cloudformation: check a template (--template-body file://lab.yaml)", NULL, NULL, false, cfn_prep},
	{"create-change-set", "stack-name! change-set-name! template-body use-previous-template:b parameters:L change-set-type description capabilities:l",
	 "cloudformation: what a template would change, to look at before executing it", NULL, NULL, false, cfn_prep},
	{"describe-change-set", "change-set-name! stack-name", "cloudformation: a change set and its changes", NULL, NULL},
	{"execute-change-set", "change-set-name! stack-name disable-rollback:b", "cloudformation: apply a change set", NULL, NULL},
	{"delete-change-set", "change-set-name! stack-name", "cloudformation: drop a change set", NULL, NULL},
	{"list-change-sets", "stack-name!", "cloudformation: a stack's change sets", NULL, NULL},
	{"list-exports", "", "cloudformation: the stacks' exported outputs", NULL, NULL},
	{"check", NULL, "lab: run a lab's check file: check --check-file F [--stack-name S] [--format table|tap|json]", cmd_check, NULL},
/* The network verbs are vpcd's: this daemon passes them on. */
#define VPC_VERB(name, flags, summary, handler, global) {name, flags, summary, NULL, NULL, global},
#include "vpc_verbs.def"
#undef VPC_VERB
};

int h_describe_lab(struct ereq *rq, json_t **ret, struct err *e)
{
	(void)rq;
	char sock[512];
	snprintf(sock, sizeof(sock), "%s/ec2d.sock", E->run_dir);
	images_load(e);
	json_t *imgs = json_array(), *img;
	const char *id;
	json_object_foreach(E->images, id, img)
		json_array_append_new(imgs, json_pack("{s:s, s:s, s:s}", "ImageId", id, "Name", jstr(img, "Name"),
						      "Kind", jstr(img, "Kind")));
	*ret = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "Endpoint", http_endpoint,
			 "CredentialsFile", http_credentials, "Prefix", E->prefix, "StateDir",
			 E->state_dir, "RunDir", E->run_dir, "Socket", sock, "ImagesDir", E->images_dir,
			 "LxcUri", E->lxc_uri, "QemuUri", E->qemu_uri, "VmAccel",
			 E->kvm < 0 ? "not probed yet" : E->kvm ? "kvm" : "tcg", "Images", imgs);
	json_object_set_new(*ret, "Fronts", fronts_describe());
	if (*topology_url())
		json_object_set_new(*ret, "TopologyUrl", json_string(topology_url()));
	return 0;
}

/* --- what the aws CLI does on the client side --------------------------------------------- */

static char *read_value(const char *flag, const char *v, size_t *n, struct err *e)
{
	if (strncmp(v, "file://", 7) != 0 && strncmp(v, "fileb://", 8) != 0) {
		*n = strlen(v);
		return strdup(v);
	}
	const char *path = strchr(v, ':') + 3;
	FILE *f = fopen(path, "rb");
	if (!f) {
		err_set(e, "Usage", "Error parsing parameter '--%s': Unable to load paramfile %s: %m", flag, v);
		return NULL;
	}
	char *buf = NULL;
	size_t cap = 0;
	*n = 0;
	for (;;) {
		if (*n + 4096 > cap)
			buf = realloc(buf, cap = cap ? cap * 2 : 65536);
		size_t r = fread(buf + *n, 1, cap - *n, f);
		if (!r)
			break;
		*n += r;
	}
	fclose(f);
	return buf;
}

/* --count N or MIN:MAX; --user-data (text or file://) goes as base64; and
 * --associate-public-ip-address moves the subnet and groups into NetworkInterfaces[0]. */
static int prep_run_instances(json_t *p, struct err *e)
{
	const char *count = jstr(p, "Count");
	if (*count) {
		long lo, hi;
		char extra;
		int k = sscanf(count, "%ld:%ld%c", &lo, &hi, &extra);
		if (k == 1)
			hi = lo;
		if ((k != 1 && k != 2) || lo < 1 || hi < lo)
			return err_set(e, "Usage", "--count '%s': N or MIN:MAX", count);
		json_object_set_new(p, "MinCount", json_integer(lo));
		json_object_set_new(p, "MaxCount", json_integer(hi));
		json_object_del(p, "Count");
	}
	/* No count: one instance (the API itself requires both). */
	json_t *mn = json_object_get(p, "MinCount"), *mx = json_object_get(p, "MaxCount");
	if (!mn)
		json_object_set_new(p, "MinCount", mx ? json_incref(mx) : json_integer(1));
	if (!mx)
		json_object_set(p, "MaxCount", json_object_get(p, "MinCount"));
	const char *ud = jstr(p, "UserData");
	if (*ud) {
		size_t n;
		_cleanup_free_ char *raw = read_value("user-data", ud, &n, e);
		if (!raw)
			return -EINVAL;
		_cleanup_free_ char *b = b64_encode(raw, n);
		json_object_set_new(p, "UserData", json_string(b));
	}
	json_t *pub = json_object_get(p, "AssociatePublicIpAddress");
	if (json_is_true(json_object_get(p, "NoAssociatePublicIpAddress")))
		pub = json_false();
	if (pub) {
		json_t *ni = json_pack("{s:i, s:O}", "DeviceIndex", 0, "AssociatePublicIpAddress", pub);
		if (*jstr(p, "SubnetId"))
			json_object_set(ni, "SubnetId", json_object_get(p, "SubnetId"));
		if (json_object_get(p, "SecurityGroupIds"))
			json_object_set(ni, "Groups", json_object_get(p, "SecurityGroupIds"));
		if (*jstr(p, "PrivateIpAddress"))
			json_object_set(ni, "PrivateIpAddress", json_object_get(p, "PrivateIpAddress"));
		json_object_set_new(p, "NetworkInterfaces", json_pack("[o]", ni));
		json_object_del(p, "SubnetId");
		json_object_del(p, "SecurityGroupIds");
		json_object_del(p, "PrivateIpAddress");
	}
	json_object_del(p, "AssociatePublicIpAddress");
	json_object_del(p, "NoAssociatePublicIpAddress");
	return 0;
}

/* --public-key-material is a blob: the text or file goes as base64, as the aws CLI sends it. */
/* FIS's members are camelCase (experimentTemplateId), the CLI's flags make PascalCase; the
 * JSON of --cli-input-json (a file:// path or the text) is merged under them. */
static int prep_fis(json_t *p, struct err *e)
{
	_cleanup_json_ json_t *in = NULL;
	const char *k;
	json_t *v, *tmp;
	if (json_object_get(p, "CliInputJson")) {
		size_t n;
		_cleanup_free_ char *raw = read_value("cli-input-json", jstr(p, "CliInputJson"), &n, e);
		json_error_t je;
		if (!raw)
			return -EINVAL;
		if (!(in = json_loadb(raw, n, 0, &je)) || !json_is_object(in))
			return err_set(e, "Usage", "Error parsing parameter '--cli-input-json': Invalid JSON: %s",
				       in ? "not an object" : je.text);
		json_object_del(p, "CliInputJson");
	}
	json_object_foreach_safe(p, tmp, k, v)
	{
		char name[128];
		snprintf(name, sizeof(name), "%s", k);
		name[0] = (char)(name[0] >= 'A' && name[0] <= 'Z' ? name[0] - 'A' + 'a' : name[0]);
		if (strcmp(name, k)) {
			json_object_set(p, name, v);
			json_object_del(p, k);
		}
	}
	if (in)
		json_object_update_missing(p, in);
	return 0;
}

/* As the aws CLI fills FIS's idempotency token when none is given. */
static int prep_fis_token(json_t *p, struct err *e)
{
	int r = prep_fis(p, e);
	if (r == 0 && !json_object_get(p, "clientToken")) {
		unsigned char b[16];
		char tok[40];
		if (getrandom(b, sizeof(b), 0) != sizeof(b))
			return err_set(e, "InternalError", "getrandom: %m");
		for (int i = 0; i < 16; i++)
			snprintf(tok + 2 * i, 3, "%02x", b[i]);
		json_object_set_new(p, "clientToken", json_string(tok));
	}
	return r;
}

/* get-experiment-report --svg-file PATH: the timeline is asked for, and written there. */
static char report_svg_path[512];

static int prep_report(json_t *p, struct err *e)
{
	(void)e;
	if (json_object_get(p, "SvgFile")) {
		snprintf(report_svg_path, sizeof(report_svg_path), "%s", jstr(p, "SvgFile"));
		json_object_del(p, "SvgFile");
		json_object_set_new(p, "Svg", json_true());
	}
	return 0;
}

static void show_report(json_t *result)
{
	if (*report_svg_path) {
		FILE *f = fopen(report_svg_path, "w");
		if (!f || fputs(jstr(result, "Svg"), f) < 0)
			fprintf(stderr, "ec2d: cannot write '%s': %m\n", report_svg_path);
		if (f)
			fclose(f);
	}
	json_object_del(result, "Svg"); /* the answer printed is {"Report": ...} */
}

/* As the aws CLI sends them: --instance-type T (or Value=T, or its JSON) and --user-data
 * (a value or file://, sent in base64) as {"Value": ...}; --[no-]source-dest-check. */
static int prep_modify_instance_attribute(json_t *p, struct err *e)
{
	const char *t = jstr(p, "InstanceType");
	if (*t) {
		json_t *v = NULL;
		if (*t == '{')
			v = json_loads(t, 0, NULL);
		if (!json_is_object(v)) {
			json_decref(v);
			v = json_pack("{s:s}", "Value", strncmp(t, "Value=", 6) ? t : t + 6);
		}
		json_object_set_new(p, "InstanceType", v);
	}
	const char *ud = jstr(p, "UserData");
	if (json_object_get(p, "UserData")) {
		size_t n = 0;
		_cleanup_free_ char *raw = *ud ? read_value("user-data", ud, &n, e) : strdup("");
		if (!raw)
			return -EINVAL;
		_cleanup_free_ char *b = b64_encode(raw, n);
		json_object_set_new(p, "UserData", json_pack("{s:s}", "Value", b));
	}
	if (json_is_true(json_object_get(p, "NoSourceDestCheck")))
		json_object_set_new(p, "SourceDestCheck", json_pack("{s:b}", "Value", 0));
	else if (json_object_get(p, "SourceDestCheck"))
		json_object_set_new(p, "SourceDestCheck",
				    json_pack("{s:b}", "Value", json_is_true(json_object_get(p, "SourceDestCheck"))));
	json_object_del(p, "NoSourceDestCheck");
	(void)e;
	return 0;
}

static int prep_import_key_pair(json_t *p, struct err *e)
{
	size_t n;
	_cleanup_free_ char *raw = read_value("public-key-material", jstr(p, "PublicKeyMaterial"), &n, e);
	if (!raw)
		return -EINVAL;
	_cleanup_free_ char *b = b64_encode(raw, n);
	json_object_set_new(p, "PublicKeyMaterial", json_string(b));
	return 0;
}

/* botocore decodes the console output for its callers; so does this CLI. */
static void show_console(json_t *result)
{
	const char *out = jstr(result, "Output");
	size_t n;
	_cleanup_free_ unsigned char *raw = *out ? b64_decode(out, &n) : NULL;
	if (raw)
		json_object_set_new(result, "Output", json_stringn_nocheck((char *)raw, n));
}

/* --- exec: streams the command's output, exits with its status ---------------------------- */

static void exec_event(json_t *ev, void *data)
{
	(void)data;
	for (int k = 0; k < 2; k++) {
		const char *b = json_string_value(json_object_get(ev, k ? "Stderr" : "Stdout"));
		size_t n;
		_cleanup_free_ unsigned char *raw = b ? b64_decode(b, &n) : NULL;
		if (raw) {
			fwrite(raw, 1, n, k ? stderr : stdout);
			fflush(k ? stderr : stdout);
		}
	}
}

static int cmd_exec(int argc, char **argv)
{
	int dash = -1;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			dash = i;
			break;
		}
	static const struct verb v = {"exec", "instance-id!"};
	struct cli_global g = {0};
	struct err e = {0};
	_cleanup_json_ json_t *params = NULL, *result = NULL;
	if (cli_parse(&v, (dash < 0 ? argc : dash) - 1, argv + 1, &g, &params, &e) < 0)
		return cli_error("Exec", &e);
	if (g.help || dash < 0 || dash == argc - 1) {
		printf("usage: ec2d exec --instance-id I -- CMD [ARGS...]\n"
		       "Runs CMD in the instance, streams its output, and exits with its status.\n");
		return g.help ? 0 : EXIT_USAGE;
	}
	json_t *cmd = json_array();
	for (int i = dash + 1; i < argc; i++)
		json_array_append_new(cmd, json_string(argv[i]));
	json_object_set_new(params, "Command", cmd);
	char sock[512];
	cli_sock_path(&g, "ec2d.sock", sock, sizeof(sock));
	const char *region = g.region ?: getenv("AWS_DEFAULT_REGION") ?: getenv("AWS_REGION") ?: "us-east-1";
	_cleanup_json_ json_t *req = json_pack("{s:s, s:s, s:O}", "Action", "Exec", "Region", region, "Params", params);
	if (rpc_call_stream(sock, req, exec_event, NULL, &result, &e) < 0)
		return cli_error("Exec", &e);
	return (int)json_integer_value(json_object_get(result, "ExitCode"));
}

/* `ec2d capture`: the capture is vpcd's (vpcd/capture.c, docs/capture.md). An instance means
 * its ENI; every other flag is passed on to `vpcd capture`, found beside this binary (installed,
 * or in the build tree) or else on PATH. */
static int cmd_capture(int argc, char **argv)
{
	_cleanup_free_ char **args = calloc((size_t)argc + 4, sizeof(*args));
	const char *instance = NULL, *region = NULL, *run_dir = NULL;
	struct err e = {0};
	int k = 0;
	if (!args)
		return 1;
	args[k++] = "vpcd";
	args[k++] = "capture";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--instance-id") || !strncmp(a, "--instance-id=", 14)) {
			if (!a[13] && i + 1 >= argc) {
				err_set(&e, "Usage", "argument --instance-id: expected one argument");
				return cli_error("Capture", &e);
			}
			instance = a[13] ? a + 14 : argv[++i];
			continue;
		}
		if (!strcmp(a, "--help"))
			printf("ec2d capture --instance-id I [flags]: vpcd capture --network-interface-id (the "
			       "instance's ENI) with the same flags.\n\n");
		if (!strcmp(a, "--region") && i + 1 < argc)
			region = argv[i + 1];
		if (!strcmp(a, "--run-dir") && i + 1 < argc)
			run_dir = argv[i + 1];
		args[k++] = argv[i];
	}
	if (instance) {
		struct cli_global g = {.run_dir = run_dir};
		char sock[512];
		_cleanup_json_ json_t *result = NULL;
		cli_sock_path(&g, "ec2d.sock", sock, sizeof(sock));
		region = region ?: getenv("AWS_DEFAULT_REGION") ?: getenv("AWS_REGION") ?: "us-east-1";
		_cleanup_json_ json_t *req = json_pack("{s:s, s:s, s:{s:[s]}}", "Action", "DescribeInstances", "Region",
						       region, "Params", "InstanceIds", instance);
		if (rpc_call(sock, req, &result, &e) < 0)
			return cli_error("DescribeInstances", &e);
		json_t *inst = json_array_get(
			json_object_get(json_array_get(json_object_get(result, "Reservations"), 0), "Instances"), 0);
		const char *eni = jstr(json_array_get(json_object_get(inst, "NetworkInterfaces"), 0),
				       "NetworkInterfaceId");
		if (!*eni) {
			err_set(&e, "IncorrectInstanceState", "The instance '%s' has no network interface", instance);
			return cli_error("Capture", &e);
		}
		args[k++] = "--network-interface-id";
		args[k++] = strdupa(eni);
	}
	args[k] = NULL;
	fflush(stdout); /* the --help line, before exec drops the buffer */
	char self[4096], path[4096 + 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		char *slash = strrchr(self, '/');
		if (slash)
			*slash = 0;
		static const char *const rel[] = {"vpcd", "../vpcd/vpcd"};
		for (size_t i = 0; i < ARRAY_SIZE(rel); i++) {
			snprintf(path, sizeof(path), "%s/%s", self, rel[i]);
			if (access(path, X_OK) == 0)
				execv(path, args);
		}
	}
	execvp("vpcd", args);
	fprintf(stderr, "ec2d: capture: cannot run vpcd (beside %s, or on PATH): %m\n", n > 0 ? self : "ec2d");
	return 1;
}

/* --- serve --------------------------------------------------------------------------------- */

static int prefix_valid(const char *p)
{
	size_t n = strlen(p);
	return n >= 1 && n <= 4 && strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789") == n;
}

#define usage_fail(...) (fprintf(stderr, "ec2d: " __VA_ARGS__), fputc('\n', stderr), EXIT_USAGE)

static void quiet_libvirt(void *data, virErrorPtr err)
{
	(void)data, (void)err; /* errors are reported where they are handled */
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{"state-dir", 1, 0, 's'}, {"run-dir", 1, 0, 'r'}, {"prefix", 1, 0, 'p'},
		{"images-dir", 1, 0, 'i'}, {"lxc-uri", 1, 0, 'l'}, {"qemu-uri", 1, 0, 'q'},
		{"seed", 1, 0, 'S'},	  {"listen", 1, 0, 'L'},   {"credentials", 1, 0, 'C'},
		{"no-listen", 0, 0, 'N'}, {"http-timeout", 1, 0, 'T'}, {"help", 0, 0, 'h'},
		{"image-map", 1, 0, 'M'}, {"default-image", 1, 0, 'D'},
		{0, 0, 0, 0}};
	/* SYS_ADMIN and SYS_CHROOT: setns into VPC namespaces (the metadata service's sockets)
	 * and into containers (exec). NET_BIND_SERVICE: port 80 of the metadata service.
	 * CHOWN, FOWNER, DAC_OVERRIDE, DAC_READ_SEARCH, MKNOD: copying an image's root as it is.
	 * KILL: exec's commands. SETPCAP: exec'd commands get the containers' capability bounds. */
	static const cap_value_t needed[] = {CAP_SYS_ADMIN, CAP_SYS_CHROOT, CAP_NET_BIND_SERVICE, CAP_NET_RAW,
					     CAP_CHOWN, CAP_FOWNER, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
					     CAP_MKNOD, CAP_KILL, CAP_SETPCAP};
	struct ec2d d = {.kvm = -1, .lock = PTHREAD_MUTEX_INITIALIZER};
	struct err e = {0};
	const char *seed = NULL, *listen = "127.0.0.1:8787", *creds = NULL;
	unsigned http_timeout = 60;
	char path[600];
	int c, r;

	E = &d;
	snprintf(d.prefix, sizeof(d.prefix), "vl");
	snprintf(d.state_dir, sizeof(d.state_dir), "/var/lib/vpclab/ec2d");
	snprintf(d.run_dir, sizeof(d.run_dir), "%s", getenv("VPCLAB_RUN_DIR") ?: "/run/vpclab");
	snprintf(d.images_dir, sizeof(d.images_dir), "/var/lib/vpclab/images");
	snprintf(d.lxc_uri, sizeof(d.lxc_uri), "lxc:///system");
	snprintf(d.qemu_uri, sizeof(d.qemu_uri), "qemu:///system");
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': snprintf(d.state_dir, sizeof(d.state_dir), "%s", optarg); break;
		case 'r': snprintf(d.run_dir, sizeof(d.run_dir), "%s", optarg); break;
		case 'i': snprintf(d.images_dir, sizeof(d.images_dir), "%s", optarg); break;
		case 'l': snprintf(d.lxc_uri, sizeof(d.lxc_uri), "%s", optarg); break;
		case 'q': snprintf(d.qemu_uri, sizeof(d.qemu_uri), "%s", optarg); break;
		case 'p':
			if (!prefix_valid(optarg))
				return usage_fail("--prefix '%s': 1 to 4 characters of [a-z0-9]", optarg);
			snprintf(d.prefix, sizeof(d.prefix), "%s", optarg);
			break;
		case 'S': seed = optarg; break;
		case 'L': listen = optarg; break;
		case 'N': listen = NULL; break;
		case 'C': creds = optarg; break;
		case 'M': snprintf(d.image_map, sizeof(d.image_map), "%s", optarg); break;
		case 'D': snprintf(d.default_image, sizeof(d.default_image), "%s", optarg); break;
		case 'T': {
			char *end;
			unsigned long t = strtoul(optarg, &end, 10);
			if (!*optarg || *end || t < 1 || t > 3600)
				return usage_fail("--http-timeout '%s': 1 to 3600 seconds", optarg);
			http_timeout = (unsigned)t;
			break;
		}
		case 'h':
			printf("ec2d serve [--state-dir DIR] [--run-dir DIR] [--prefix P] [--images-dir DIR]\n"
			       "           [--lxc-uri URI] [--qemu-uri URI] [--seed N]\n"
			       "           [--listen ADDR:PORT | --no-listen] [--credentials FILE]\n"
			       "           [--http-timeout SECONDS] [--image-map FILE] [--default-image NAME]\n"
			       "The EC2 Query API listens on 127.0.0.1:8787 by default; without --credentials\n"
			       "a key pair is generated into <run-dir>/credentials (mode 0600). A connection\n"
			       "idle for --http-timeout seconds (default 60) is closed. --image-map maps public\n"
			       "AMI IDs and names to local images; --default-image names the image an unknown\n"
			       "AMI ID launches (off: InvalidAMIID.NotFound, as AWS). See docs/images.md.\n");
			return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_fail("unexpected argument '%s'", argv[optind]);
	if ((r = caps_require(needed, (int)ARRAY_SIZE(needed), &e)) < 0) {
		fprintf(stderr, "ec2d: %s\n", e.msg);
		return 1;
	}
	if ((mkdir(d.state_dir, 0750) < 0 && errno != EEXIST) || (r = store_open(d.state_dir, &d.store, &e)) < 0) {
		log_error("%s", err_isset(&e) ? e.msg : "cannot make the state directory");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/lock", d.state_dir);
	_cleanup_close_ int lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	int locked = -1;
	for (int i = 0; lock >= 0 && i < 100 && (locked = flock(lock, LOCK_EX | LOCK_NB)) < 0; i++)
		usleep(50 * 1000);
	if (lock < 0 || locked < 0) {
		log_error("state directory '%s' is in use by another ec2d", d.state_dir);
		return 1;
	}
	const char *had = jstr(store_meta(d.store), "prefix");
	if (*had && strcmp(had, d.prefix) != 0) {
		log_error("state directory '%s' belongs to prefix '%s', not '%s'", d.state_dir, had, d.prefix);
		return 1;
	}
	const char *ids = jstr(store_meta(d.store), "ids");
	if (*ids) {
		d.ids.state = strtoull(ids, NULL, 16);
	} else if (seed) {
		char *end;
		/* Not vpcd's stream: the same seed must not give the same IDs in both. */
		d.ids.state = strtoull(seed, &end, 0) ^ 0x6563326400000000ull;
		if (!*seed || *end)
			return usage_fail("--seed '%s' is not a number", seed);
	} else if (getrandom(&d.ids.state, sizeof(d.ids.state), 0) != sizeof(d.ids.state)) {
		log_error("getrandom: %m");
		return 1;
	}
	if (!*had) {
		_cleanup_json_ json_t *none = json_object();
		json_t *meta = store_meta(d.store);
		json_object_set_new(meta, "prefix", json_string(d.prefix));
		if (state_commit(none, &e) < 0) {
			log_error("%s", e.msg);
			return 1;
		}
	}
	fd_limit_raise();
	d.consoles = json_object();
	d.imds = json_object();
	d.tokens = json_object();
	snprintf(path, sizeof(path), "%s/ec2d", d.run_dir);
	if ((mkdir(d.run_dir, 0755) < 0 && errno != EEXIST) || (mkdir(path, 0750) < 0 && errno != EEXIST)) {
		log_error("cannot create run dir '%s': %m", path);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/ec2d.sock", d.run_dir);
	int lfd = server_listen(path, &e);
	if (lfd < 0) {
		log_error("%s", e.msg);
		return 1;
	}
	/* The event loop first: console streams and lifecycle events need it on every
	 * connection opened after this. */
	virSetErrorFunc(NULL, quiet_libvirt);
	virEventRegisterDefaultImpl();
	events_start();
	/* A command run by exec has what a container has: every capability but the dropped ones
	 * (guest.c drops those from its bounding set before it execs). */
	cap_value_t pass[CAP_LAST_CAP + 1];
	int npass = 0;
	for (cap_value_t v = 0; v <= CAP_LAST_CAP; v++) {
		char *name = cap_to_name(v);
		bool dropped = false;
		for (const char *const *dc = domain_dropped_caps; *dc && name; dc++)
			dropped |= strcmp(*dc, name + (strncmp(name, "cap_", 4) == 0 ? 4 : 0)) == 0;
		cap_free(name);
		if (!dropped)
			pass[npass++] = v;
	}
	if ((r = caps_keep(needed, (int)ARRAY_SIZE(needed), pass, npass, &e)) < 0) {
		log_error("%s", e.msg);
		return 1;
	}
	if ((r = images_load(&e)) < 0) {
		log_error("%s", e.msg);
		return 1;
	}
	if ((r = imds_front_start(&e)) < 0) {
		log_error("%s", e.msg);
		return 1;
	}
	pthread_mutex_lock(&d.lock);
	r = instances_reconcile(&e);
	pthread_mutex_unlock(&d.lock);
	if (r < 0) {
		log_error("%s", e.msg);
		return 1;
	}
	died_worker_start();
	fis_recover();
	cfn_recover(); /* stacks an earlier ec2d left mid-operation (cfn.c) */
	if (listen && (r = http_start(listen, creds, http_timeout, &e)) < 0) {
		log_error("%s", e.msg);
		return 1;
	}
	snprintf(path, sizeof(path), PIDFILE_FMT, d.prefix);
	FILE *pf = fopen(path, "we");
	if (pf) {
		fprintf(pf, "%ld\n", (long)getpid());
		fclose(pf);
	}
	signal(SIGPIPE, SIG_IGN);
	log_info("ec2d serving on %s/ec2d.sock (prefix '%s', images in %s)", d.run_dir, d.prefix, d.images_dir);
	server_run(lfd);
	return 0;
}

/* `ec2d front api|imds ...`: what serve starts for the untrusted bytes (fronts.c). */
static int cmd_front(int argc, char **argv)
{
	/* _exit: a front has nothing to flush, and LeakSanitizer cannot stop the world in a
	 * process whose seccomp filter refuses ptrace (the sanitizer build). */
	if (argc >= 2 && !strcmp(argv[1], "api"))
		_exit(http_front_main(argc - 1, argv + 1));
	if (argc >= 2 && !strcmp(argv[1], "imds"))
		_exit(imds_front_main(argc - 1, argv + 1));
	return usage_fail("front api|imds: started by ec2d serve, not by hand");
}

/* --- teardown ------------------------------------------------------------------------------ */

static int cmd_teardown(int argc, char **argv)
{
	static const struct option opts[] = {{"prefix", 1, 0, 'p'}, {"state-dir", 1, 0, 's'},
					     {"run-dir", 1, 0, 'r'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
	const char *prefix = NULL, *state = NULL, *run = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': prefix = optarg; break;
		case 's': state = optarg; break;
		case 'r': run = optarg; break;
		case 'h':
			printf("ec2d teardown --prefix P [--state-dir DIR] [--run-dir DIR]\n"
			       "Stops the lab's ec2d, destroys its domains (P-i-...), and removes its\n"
			       "instances' files and state when --state-dir is given.\n");
			return 0;
		default: return EXIT_USAGE;
		}
	}
	if (!prefix || !prefix_valid(prefix))
		return usage_fail("teardown needs --prefix P (1 to 4 characters of [a-z0-9])");
	struct err e = {0};
	int r = ec2d_teardown(prefix, state, &e);
	if (run) {
		char path[600];
		snprintf(path, sizeof(path), "%s/ec2d.sock", run);
		unlink(path);
	}
	if (r < 0) {
		fprintf(stderr, "ec2d: %s\n", e.msg);
		return 1;
	}
	return 0;
}

int ec2d_teardown(const char *prefix, const char *state_dir, struct err *e)
{
	char path[600];
	/* The daemon first, so that it does not restart what is being removed. */
	snprintf(path, sizeof(path), PIDFILE_FMT, prefix);
	FILE *pf = fopen(path, "re");
	long pid = 0;
	if (pf) {
		if (fscanf(pf, "%ld", &pid) != 1)
			pid = 0;
		fclose(pf);
		/* Only an ec2d: a stale file may name a pid reused by anything. */
		char comm[64] = "";
		snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
		FILE *cf = pid > 1 ? fopen(path, "re") : NULL;
		if (cf) {
			if (!fgets(comm, sizeof(comm), cf))
				comm[0] = 0;
			fclose(cf);
		}
		snprintf(path, sizeof(path), PIDFILE_FMT, prefix);
		if (strncmp(comm, "ec2d", 4) == 0 && kill((pid_t)pid, SIGKILL) == 0)
			for (int i = 0; i < 200 && kill((pid_t)pid, 0) == 0; i++)
				usleep(10000);
		unlink(path);
	}
	virSetErrorFunc(NULL, quiet_libvirt);
	static const char *const uris[] = {"lxc:///system", "qemu:///system"};
	size_t pl = strlen(prefix);
	int failed = 0;
	for (size_t k = 0; k < 2; k++) {
		/* libvirtd may be restarting (a test restarts it, a user may): wait for it rather
		 * than report a clean teardown while the lab's containers run on, to be found
		 * again by libvirtd when it is back. */
		virConnectPtr c = NULL;
		for (int i = 0; i < 100 && !(c = virConnectOpen(uris[k])); i++)
			usleep(100000);
		virDomainPtr *doms = NULL;
		int n = c ? virConnectListAllDomains(c, &doms, 0) : -1;
		if (n < 0) {
			failed = err_set(e, "InternalError", "libvirt (%s) does not answer: domains %s-i-... may be left",
					 uris[k], prefix);
			if (c)
				virConnectClose(c);
			continue;
		}
		for (int i = 0; i < n; i++) {
			const char *name = virDomainGetName(doms[i]);
			if (!strncmp(name, prefix, pl) && name[pl] == '-' && !strncmp(name + pl + 1, "i-", 2)) {
				if (virDomainIsActive(doms[i]) == 1)
					virDomainDestroy(doms[i]);
				if (virDomainIsPersistent(doms[i]) == 1 || virDomainIsActive(doms[i]) == 0)
					virDomainUndefine(doms[i]); /* a shut-off transient one left by libvirtd */
			}
			virDomainFree(doms[i]);
		}
		free(doms);
		virConnectClose(c);
	}
	/* The instances' files stay while their domains may run. */
	if (state_dir && !failed) {
		snprintf(path, sizeof(path), "%s/instances", state_dir);
		char *argv[] = {"rm", "-rf", "--one-file-system", path, NULL};
		pid_t p = fork();
		if (p == 0) {
			execv("/bin/rm", argv);
			_exit(127);
		}
		int st;
		waitpid(p, &st, 0);
		const char *files[] = {"state.json", "journal", "lock"};
		for (size_t i = 0; i < 3; i++) {
			snprintf(path, sizeof(path), "%s/%s", state_dir, files[i]);
			unlink(path);
		}
		rmdir(state_dir);
	}
	return failed;
}

int main(int argc, char **argv)
{
	return cli_main("ec2d", verbs, ARRAY_SIZE(verbs), "ec2d.sock", argc, argv);
}
