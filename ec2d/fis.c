/* AWS Fault Injection Service in the lab: experiment templates, experiments and the engine
 * that runs them. The api front (http.c, api/rest.c) speaks FIS's REST-JSON; these handlers
 * take the same parameter objects (botocore's member names) and answer FIS's shapes.
 *
 * A template and an experiment are records in ec2d's store (types "fis-template" and
 * "fis-experiment"), journaled like instances. Starting an experiment resolves its targets
 * at once (COUNT and PERCENT choose with the experiment's seed, drawn from ec2d's ID stream,
 * so the same lab and seed choose the same targets), then a thread runs its actions in
 * startAfter order. Each fault is real:
 *   instances   stop, reboot, terminate, crash (the domain destroyed), pause (suspended):
 *               through the same code as the EC2 actions, under ec2d's lock
 *   network     disrupt-connectivity, packet loss, a blackholed ENI: vpcd's faults
 *               (ApplyFault / ClearFaults, vpcd/fault.c), nftables in the VPC namespace
 *   API         errors on named actions for a share of the calls, and
 *               InsufficientInstanceCapacity for launches into named zones (fis_api_fault)
 *   AZ power    all of it for one zone, in one action
 * Every change of state is committed before it is acted on, so after a kill -9 the next ec2d
 * finds what was applied: fis_recover stops an interrupted experiment (state failed, the
 * reason given) and undoes every fault it had made. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cleanup.h"
#include "ec2d.h"
#include "log.h"

#define FIS_MAX_DURATION_MS (12LL * 3600 * 1000) /* FIS's own ceiling */
#define FIS_MAX_ACTIONS 20
#define FIS_MAX_TARGETS 20

enum kind { K_STOP, K_REBOOT, K_TERMINATE, K_CRASH, K_PAUSE, K_DISRUPT, K_LOSS, K_BLACKHOLE, K_RATE, K_PARTITION, K_IMPAIR,
	    K_ICE, K_API_INTERNAL, K_API_THROTTLE, K_API_UNAVAILABLE, K_WAIT, K_AZ_POWER };

struct param_def {
	const char *name, *desc;
	bool required;
};

struct action_def {
	const char *id, *desc;
	const char *target_key, *resource_type; /* NULL: takes no target */
	bool target_required;
	enum kind kind;
	struct param_def params[8]; /* NULL-terminated: at most 7 */
};

#define DURATION_P(req) {"duration", "How long the fault lasts, ISO 8601 (PT5S, PT1M30S)", req}

static const struct action_def action_defs[] = {
	{"aws:ec2:stop-instances", "Stop the target instances; start them again after a duration if given.",
	 "Instances", "aws:ec2:instance", true, K_STOP,
	 {{"startInstancesAfterDuration", "Start the instances again after this long (ISO 8601)", false},
	  {"completeIfInstancesTerminated", "Complete rather than fail if an instance is terminated", false}}},
	{"aws:ec2:reboot-instances", "Reboot the target instances.", "Instances", "aws:ec2:instance", true,
	 K_REBOOT, {{0}}},
	{"aws:ec2:terminate-instances", "Terminate the target instances.", "Instances", "aws:ec2:instance", true,
	 K_TERMINATE, {{0}}},
	{"vpclab:ec2:crash-instances",
	 "Kill the target instances' processes hard (no shutdown), as a host failure would; start them again after a duration if given.",
	 "Instances", "aws:ec2:instance", true, K_CRASH,
	 {{"startInstancesAfterDuration", "Start the instances again after this long (ISO 8601)", false}}},
	{"vpclab:ec2:pause-instances", "Freeze the target instances (suspended, not stopped; a container's link is cut too, as a paused VM is silent) for the duration.",
	 "Instances", "aws:ec2:instance", true, K_PAUSE, {DURATION_P(true)}},
	{"aws:network:disrupt-connectivity",
	 "Deny the traffic entering and leaving the target subnets for the duration; traffic within a subnet flows.",
	 "Subnets", "aws:ec2:subnet", true, K_DISRUPT,
	 {DURATION_P(true), {"scope", "all (default) or availability-zone (traffic to other zones' subnets)", false}}},
	{"vpclab:network:packet-loss", "Drop a share of the packets to and from the target subnets for the duration.",
	 "Subnets", "aws:ec2:subnet", true, K_LOSS,
	 {DURATION_P(true), {"lossPercent", "The share of packets dropped, 0 to 100 (fractions allowed)", true}}},
	{"vpclab:network:interface-packet-loss",
	 "Drop a share of the packets to and from the target network interfaces for the duration.",
	 "NetworkInterfaces", "vpclab:ec2:network-interface", true, K_LOSS,
	 {DURATION_P(true), {"lossPercent", "The share of packets dropped, 0 to 100 (fractions allowed)", true}}},
	{"vpclab:network:blackhole-interface", "Cut the target network interfaces' links for the duration.",
	 "NetworkInterfaces", "vpclab:ec2:network-interface", true, K_BLACKHOLE, {DURATION_P(true)}},
	{"vpclab:network:interface-rate-limit",
	 "Limit the rate towards the target network interfaces (a token bucket on their port) for the duration.",
	 "NetworkInterfaces", "vpclab:ec2:network-interface", true, K_RATE,
	 {DURATION_P(true), {"rateKbps", "The rate in kbit/s, 8 to 10000000", true}}},
	{"vpclab:network:interface-impairment",
	 "Delay (with jitter), reorder, duplicate or corrupt the packets of the target network interfaces for the duration.",
	 "NetworkInterfaces", "vpclab:ec2:network-interface", true, K_IMPAIR,
	 {DURATION_P(true), {"delayMilliseconds", "Added to each packet, 0 to 10000", false},
	  {"jitterMilliseconds", "The delay varies by up to this much either way", false},
	  {"reorderPercent", "This share of packets skips the delay: reordering", false},
	  {"duplicatePercent", "This share is sent twice", false},
	  {"corruptPercent", "This share has a byte flipped (the receiver drops it)", false},
	  {"direction", "egress (default: what the interface sends), ingress or both", false}}},
	{"vpclab:network:region-partition",
	 "Cut the backbone between the experiment's region and another for the duration: their internets no longer reach each other.",
	 NULL, NULL, false, K_PARTITION,
	 {DURATION_P(true), {"peerRegion", "The other region", true}}},
	{"aws:ec2:api-insufficient-instance-capacity-error",
	 "RunInstances into the given zones answers InsufficientInstanceCapacity for a share of the calls.",
	 "Roles", "aws:iam:role", false, K_ICE,
	 {DURATION_P(true),
	  {"availabilityZoneIdentifiers", "Comma-separated zone names the launches fail in", true},
	  {"percentage", "The share of the calls that fail, 1 to 100", true}}},
	{"aws:fis:inject-api-internal-error", "Named EC2 actions answer InternalError for a share of the calls.",
	 "Roles", "aws:iam:role", false, K_API_INTERNAL,
	 {DURATION_P(true), {"service", "ec2", true}, {"operations", "Comma-separated action names", true},
	  {"percentage", "The share of the calls that fail, 1 to 100", true}}},
	{"aws:fis:inject-api-throttle-error", "Named EC2 actions answer RequestLimitExceeded for a share of the calls.",
	 "Roles", "aws:iam:role", false, K_API_THROTTLE,
	 {DURATION_P(true), {"service", "ec2", true}, {"operations", "Comma-separated action names", true},
	  {"percentage", "The share of the calls that fail, 1 to 100", true}}},
	{"aws:fis:inject-api-unavailable-error", "Named EC2 actions answer Unavailable for a share of the calls.",
	 "Roles", "aws:iam:role", false, K_API_UNAVAILABLE,
	 {DURATION_P(true), {"service", "ec2", true}, {"operations", "Comma-separated action names", true},
	  {"percentage", "The share of the calls that fail, 1 to 100", true}}},
	{"aws:fis:wait", "Wait for the duration.", NULL, NULL, false, K_WAIT, {DURATION_P(true)}},
	{"vpclab:ec2:az-power-interruption",
	 "FIS's AZ power interruption in one action: the zone's instances stop (or are killed), its subnets lose all connectivity (so do NAT gateways in them), launches into it answer InsufficientInstanceCapacity; all recovered at the end.",
	 NULL, NULL, false, K_AZ_POWER,
	 {DURATION_P(true), {"availabilityZoneIdentifier", "The zone that loses power", true},
	  {"instanceStop", "stop (default: a clean shutdown) or kill (the processes killed hard)", false}}},
};

static const struct {
	const char *type, *desc;
} resource_types[] = {
	{"aws:ec2:instance", "EC2 instances of the lab (containers and VMs)"},
	{"aws:ec2:subnet", "Subnets of the lab's VPCs"},
	{"vpclab:ec2:network-interface", "Network interfaces (ENIs) of the lab"},
	{"aws:iam:role", "The role the workload calls with (the lab has one caller: any role ARN)"},
};

static const struct action_def *action_def(const char *id)
{
	for (size_t i = 0; i < sizeof(action_defs) / sizeof(action_defs[0]); i++)
		if (!strcmp(action_defs[i].id, id))
			return &action_defs[i];
	return NULL;
}

/* --- small things -------------------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static uint64_t mix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* FIS's IDs: EXT or EXP and 15 letters and digits, from ec2d's seeded ID stream. */
static void fis_id(const char *kind, char buf[static 24])
{
	static const char al[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
	uint64_t a = idgen_next(&E->ids), b = idgen_next(&E->ids);
	int n = snprintf(buf, 24, "%s", kind);
	for (int i = 0; i < 15; i++) {
		uint64_t *w = i < 8 ? &a : &b;
		buf[n++] = al[*w % 62];
		*w /= 62;
	}
	buf[n] = 0;
}

static void arn_of(const char *region, const char *kind, const char *id, char buf[static 160])
{
	snprintf(buf, 160, "arn:aws:fis:%s:%s:%s/%s", region, OWNER_ID, kind, id);
}

static const char *sval(json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "";
}

static int commit(const char *id, json_t *obj, struct err *e)
{
	_cleanup_json_ json_t *ch = json_pack("{s:O}", id, obj ? obj : json_null());
	return state_commit(ch, e);
}

static int verr(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int verr(struct err *e, const char *fmt, ...)
{
	char msg[sizeof(e->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(e, "ValidationException", "%s", msg);
}

/* ISO 8601 durations as FIS takes them: PT5S, PT1M30S, PT0.5S, PT2H, P1D. Milliseconds, or -1. */
long long fis_duration_ms(const char *s)
{
	if (!s || *s != 'P')
		return -1;
	const char *p = s + 1;
	bool t = false, any = false;
	double ms = 0;
	while (*p) {
		if (*p == 'T') {
			if (t)
				return -1;
			t = true, p++;
			continue;
		}
		char *end;
		if (*p < '0' || *p > '9')
			return -1;
		double v = strtod(p, &end);
		if (end == p || !isfinite(v) || v < 0)
			return -1;
		char unit = *end;
		bool frac = memchr(p, '.', (size_t)(end - p)) != NULL;
		if (frac && !(t && unit == 'S'))
			return -1;
		if (!t && unit == 'D')
			ms += v * 86400e3;
		else if (t && unit == 'H')
			ms += v * 3600e3;
		else if (t && unit == 'M')
			ms += v * 60e3;
		else if (t && unit == 'S')
			ms += v * 1e3;
		else
			return -1;
		if (ms > (double)FIS_MAX_DURATION_MS)
			return -1;
		any = true;
		p = end + 1;
	}
	return any && (!t || p[-1] != 'T') ? (long long)(ms + 0.5) : -1;
}

/* --- templates ----------------------------------------------------------------------------- */

static json_t *record_get(const char *type, const char *id, const char *region)
{
	json_t *o = json_object_get(store_objects(E->store), id ? id : "");
	if (!o || strcmp(jstr(o, "_type"), type) || strcmp(jstr(o, "_region"), region))
		return NULL;
	return o;
}

static json_t *public_of(json_t *o)
{
	json_t *pub = json_object(), *v;
	const char *k;
	json_object_foreach(o, k, v) if (k[0] != '_') json_object_set(pub, k, v);
	return pub;
}

static int check_tags(json_t *tags, struct err *e)
{
	const char *k;
	json_t *v;
	if (tags && !json_is_object(tags))
		return verr(e, "tags must be a map");
	if (json_object_size(tags) > 50)
		return verr(e, "At most 50 tags may be given");
	json_object_foreach(tags, k, v)
	{
		if (!*k || strlen(k) > 128 || !json_is_string(v) || strlen(json_string_value(v)) > 256)
			return verr(e, "Tag '%s': keys are 1 to 128 characters, values up to 256", k);
	}
	return 0;
}

/* COUNT(n) or PERCENT(n): writes n; ALL: n = -1. */
static int selection(const char *mode, bool *percent, long *n)
{
	char *end;
	*percent = false;
	if (!strcmp(mode, "ALL")) {
		*n = -1;
		return 0;
	}
	const char *p = !strncmp(mode, "COUNT(", 6) ? mode + 6 : !strncmp(mode, "PERCENT(", 8) ? mode + 8 : NULL;
	if (!p || *p < '0' || *p > '9')
		return -1;
	*percent = mode[0] == 'P';
	*n = strtol(p, &end, 10);
	if (strcmp(end, ")") || *n < 1 || (*percent && *n > 100))
		return -1;
	return 0;
}

static const char *resource_of_arn(const char *arn, const char *type)
{
	const char *want = !strcmp(type, "aws:ec2:instance") ? ":instance/"
			   : !strcmp(type, "aws:ec2:subnet") ? ":subnet/"
			   : !strcmp(type, "aws:iam:role")   ? ":role/"
							     : ":network-interface/";
	const char *p = strstr(arn, want);
	if (strncmp(arn, "arn:aws:", 8) || !p || !p[strlen(want)])
		return NULL;
	return p + strlen(want);
}

static int check_target(const char *name, json_t *t, struct err *e)
{
	const char *type = jstr(t, "resourceType"), *mode = jstr(t, "selectionMode");
	bool known = false, pct;
	long n;
	for (size_t i = 0; i < sizeof(resource_types) / sizeof(resource_types[0]); i++)
		known |= !strcmp(resource_types[i].type, type);
	if (!*type)
		return verr(e, "Target '%s' must have a resourceType", name);
	if (!known)
		return verr(e, "Target '%s' has resource type '%s', which is not supported", name, type);
	if (!*mode)
		return verr(e, "Target '%s' must have a selectionMode", name);
	if (selection(mode, &pct, &n) < 0)
		return verr(e, "Target '%s' has the selection mode '%s': use ALL, COUNT(n) or PERCENT(n)", name, mode);
	json_t *arns = json_object_get(t, "resourceArns"), *tags = json_object_get(t, "resourceTags");
	if (json_array_size(arns) && json_object_size(tags))
		return verr(e, "Target '%s': resourceArns and resourceTags cannot both be given", name);
	if (!json_array_size(arns) && !json_object_size(tags))
		return verr(e, "Target '%s' must have resourceArns or resourceTags", name);
	if (json_array_size(arns) > 5)
		return verr(e, "Target '%s' has more than 5 resourceArns", name);
	size_t i;
	json_t *v;
	json_array_foreach(arns, i, v) if (!resource_of_arn(sval(v), type))
		return verr(e, "Target '%s': '%s' is not the ARN of a %s", name,
			    json_is_string(v) ? json_string_value(v) : "?", type);
	json_array_foreach(json_object_get(t, "filters"), i, v)
	{
		if (!*jstr(v, "path") || !json_array_size(json_object_get(v, "values")))
			return verr(e, "Target '%s': a filter needs a path and values", name);
	}
	if (json_object_size(json_object_get(t, "parameters")))
		return verr(e, "Target '%s': resource type '%s' takes no parameters", name, type);
	return 0;
}

static int check_action(const char *name, json_t *a, json_t *targets, json_t *actions, struct err *e)
{
	const char *aid = jstr(a, "actionId");
	const struct action_def *d = action_def(aid);
	if (!*aid)
		return verr(e, "Action '%s' must have an actionId", name);
	if (!d)
		return verr(e, "Action '%s' has the action ID '%s', which does not exist (ListActions lists them)",
			    name, aid);
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(a, "parameters"), k, v)
	{
		bool ok = false;
		for (const struct param_def *p = d->params; p->name; p++)
			ok |= !strcmp(p->name, k);
		if (!ok)
			return verr(e, "Action '%s': '%s' is not a parameter of %s", name, k, aid);
		if (!json_is_string(v))
			return verr(e, "Action '%s': parameter '%s' must be a string", name, k);
	}
	json_t *ps = json_object_get(a, "parameters");
	for (const struct param_def *p = d->params; p->name; p++) {
		const char *val = jstr(ps, p->name);
		if (p->required && !*val)
			return verr(e, "Action '%s' lacks the required parameter '%s'", name, p->name);
		if (*val && (strstr(p->name, "uration")) && fis_duration_ms(val) < 0)
			return verr(e, "Action '%s': '%s' is not a duration (ISO 8601, e.g. PT5S, at most PT12H)",
				    name, val);
		if (*val && !strcmp(p->name, "percentage")) {
			char *end;
			long pc = strtol(val, &end, 10);
			if (*end || pc < 1 || pc > 100)
				return verr(e, "Action '%s': percentage '%s' must be an integer from 1 to 100", name, val);
		}
		if (*val && !strcmp(p->name, "lossPercent")) {
			char *end;
			double pc = strtod(val, &end);
			if (*end || !(pc > 0 && pc <= 100))
				return verr(e, "Action '%s': lossPercent '%s' must be a number above 0, at most 100", name, val);
		}
		if (*val && (strstr(p->name, "Milliseconds") || (strstr(p->name, "Percent") && strcmp(p->name, "lossPercent")))) {
			char *end;
			double num = strtod(val, &end);
			if (*end || !(num >= 0 && num <= (strstr(p->name, "Percent") ? 100 : 10000)))
				return verr(e, "Action '%s': %s '%s' must be a number from 0 to %s", name, p->name, val,
					    strstr(p->name, "Percent") ? "100" : "10000");
		}
		if (*val && !strcmp(p->name, "direction") && strcmp(val, "egress") && strcmp(val, "ingress") && strcmp(val, "both"))
			return verr(e, "Action '%s': direction '%s' must be egress, ingress or both", name, val);
		if (*val && !strcmp(p->name, "rateKbps")) {
			char *end;
			long long kb = strtoll(val, &end, 10);
			if (*end || kb < 8 || kb > 10000000)
				return verr(e, "Action '%s': rateKbps '%s' must be an integer from 8 to 10000000", name, val);
		}
		if (*val && !strcmp(p->name, "scope") && strcmp(val, "all") && strcmp(val, "availability-zone"))
			return verr(e, "Action '%s': scope '%s' is not supported: use all or availability-zone%s", name,
				    val, !strcmp(val, "prefix-list") ? " (the lab has no managed prefix lists)" : "");
		if (*val && !strcmp(p->name, "service") && strcmp(val, "ec2"))
			return verr(e, "Action '%s': service '%s' is not supported: only ec2", name, val);
		if (*val && !strcmp(p->name, "instanceStop") && strcmp(val, "stop") && strcmp(val, "kill"))
			return verr(e, "Action '%s': instanceStop '%s' must be stop or kill", name, val);
	}
	json_t *ts = json_object_get(a, "targets");
	json_object_foreach(ts, k, v)
	{
		if (!d->target_key || strcmp(k, d->target_key))
			return verr(e, "Action '%s': %s takes %s%s%s, not the target key '%s'", name, aid,
				    d->target_key ? "the target key '" : "no target", d->target_key ? d->target_key : "",
				    d->target_key ? "'" : "", k);
		json_t *t = json_object_get(targets, sval(v));
		if (!json_is_string(v) || !t)
			return verr(e, "Action '%s' names the target '%s', which the template does not have", name,
				    json_is_string(v) ? json_string_value(v) : "?");
		if (strcmp(jstr(t, "resourceType"), d->resource_type))
			return verr(e, "Action '%s': target '%s' is of type '%s', and %s needs '%s'", name,
				    json_string_value(v), jstr(t, "resourceType"), aid, d->resource_type);
	}
	if (d->target_required && !json_object_get(ts, d->target_key))
		return verr(e, "Action '%s': %s needs the target key '%s'", name, aid, d->target_key);
	size_t i;
	json_array_foreach(json_object_get(a, "startAfter"), i, v)
	{
		if (!json_is_string(v) || !json_object_get(actions, json_string_value(v)) ||
		    !strcmp(json_string_value(v), name))
			return verr(e, "Action '%s' starts after '%s', which is not another action of the template",
				    name, json_is_string(v) ? json_string_value(v) : "?");
	}
	return 0;
}

/* startAfter must not loop: each action's depth is found by following its predecessors. */
static int check_order(json_t *actions, struct err *e)
{
	const char *k;
	json_t *a;
	size_t n = json_object_size(actions);
	json_object_foreach(actions, k, a)
	{
		/* A walk longer than the number of actions has gone around a loop. */
		_cleanup_json_ json_t *todo = json_pack("[[s,i]]", k, 0);
		while (json_array_size(todo)) {
			json_t *top = json_array_get(todo, json_array_size(todo) - 1);
			const char *cur = json_string_value(json_array_get(top, 0));
			long long depth = json_integer_value(json_array_get(top, 1));
			_cleanup_json_ json_t *next = json_deep_copy(json_object_get(json_object_get(actions, cur), "startAfter"));
			json_array_remove(todo, json_array_size(todo) - 1);
			if (depth > (long long)n)
				return verr(e, "The actions' startAfter lists form a loop through '%s'", k);
			size_t i;
			json_t *v;
			json_array_foreach(next, i, v) json_array_append_new(todo, json_pack("[O,I]", v, depth + 1));
		}
	}
	return 0;
}

static int check_template(json_t *t, const char *region, struct err *e)
{
	json_t *targets = json_object_get(t, "targets"), *actions = json_object_get(t, "actions"), *v;
	const char *k;
	int r;
	if (!*jstr(t, "description"))
		return verr(e, "The template must have a description");
	if (!json_object_size(actions))
		return verr(e, "The template must have at least one action");
	if (json_object_size(actions) > FIS_MAX_ACTIONS || json_object_size(targets) > FIS_MAX_TARGETS)
		return err_set(e, "ServiceQuotaExceededException", "A template has at most %d actions and %d targets",
			       FIS_MAX_ACTIONS, FIS_MAX_TARGETS);
	if (!*jstr(t, "roleArn"))
		return verr(e, "The template must have a roleArn");
	json_object_foreach(targets, k, v) if ((r = check_target(k, v, e)) < 0) return r;
	json_object_foreach(actions, k, v) if ((r = check_action(k, v, targets, actions, e)) < 0) return r;
	if ((r = check_order(actions, e)) < 0)
		return r;
	size_t i;
	json_array_foreach(json_object_get(t, "stopConditions"), i, v)
	{
		const char *src = jstr(v, "source"), *val = jstr(v, "value"), *nm = strstr(val, ":alarm:");
		if (!strcmp(src, "none"))
			continue;
		if (strcmp(src, "aws:cloudwatch:alarm"))
			return verr(e, "The stop condition source '%s' is not supported: use none or aws:cloudwatch:alarm", src);
		/* A CloudWatch alarm is a probe's: arn:aws:cloudwatch:REGION:ACCOUNT:alarm:PROBE. */
		json_t *pb = nm && !strncmp(val, "arn:aws:cloudwatch:", 19) ? probe_get(region, nm + 7) : NULL;
		if (!pb || !json_integer_value(json_object_get(pb, "AlarmFailures")))
			return verr(e, "The stop condition's alarm '%s' does not exist (a probe with AlarmFailures makes one)", val);
	}
	if (!json_array_size(json_object_get(t, "stopConditions")))
		return verr(e, "The template must have stopConditions (source none for no condition)");
	return check_tags(json_object_get(t, "tags"), e);
}

static json_t *by_token(const char *type, const char *region, const char *token)
{
	const char *id;
	json_t *o;
	if (!*token)
		return NULL;
	json_object_foreach(store_objects(E->store), id, o)
	{
		if (!strcmp(jstr(o, "_type"), type) && !strcmp(jstr(o, "_region"), region) &&
		    !strcmp(jstr(o, "_clientToken"), token))
			return o;
	}
	return NULL;
}

static const char *const template_members[] = {"description", "targets", "actions", "stopConditions",
					       "roleArn", "tags", "logConfiguration", NULL};

int h_create_experiment_template(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *P = rq->params, *had;
	char id[24], arn[160];
	int r;
	if ((had = by_token("fis-template", rq->region, jstr(P, "clientToken")))) {
		*ret = json_pack("{s:o}", "experimentTemplate", public_of(had));
		return 0;
	}
	json_t *t = json_object();
	for (const char *const *m = template_members; *m; m++)
		if (json_object_get(P, *m))
			json_object_set(t, *m, json_object_get(P, *m));
	if (json_object_get(P, "logConfiguration")) {
		json_decref(t);
		return verr(e, "logConfiguration is not supported: experiments are reported by vpclab's own report");
	}
	if ((r = check_template(t, rq->region, e)) < 0) {
		json_decref(t);
		return r;
	}
	fis_id("EXT", id);
	arn_of(rq->region, "experiment-template", id, arn);
	double now = now_s();
	json_object_set_new(t, "id", json_string(id));
	json_object_set_new(t, "arn", json_string(arn));
	json_object_set_new(t, "creationTime", json_real(now));
	json_object_set_new(t, "lastUpdateTime", json_real(now));
	if (!json_object_get(t, "tags"))
		json_object_set_new(t, "tags", json_object());
	if (!json_object_get(t, "targets"))
		json_object_set_new(t, "targets", json_object());
	json_object_set_new(t, "_type", json_string("fis-template"));
	json_object_set_new(t, "_region", json_string(rq->region));
	json_object_set_new(t, "_clientToken", json_string(jstr(P, "clientToken")));
	/* The template's seed: every run of it chooses the same targets and fails the same calls. */
	char seed[20];
	snprintf(seed, sizeof(seed), "%016llx", (unsigned long long)idgen_next(&E->ids));
	json_object_set_new(t, "_seed", json_string(seed));
	if ((r = commit(id, t, e)) < 0) {
		json_decref(t);
		return r;
	}
	*ret = json_pack("{s:o}", "experimentTemplate", public_of(t));
	json_decref(t);
	return 0;
}

/* The record of type `type` the request's `id` names, or FIS's ResourceNotFoundException. */
static int named(struct ereq *rq, const char *type, const char *what, json_t **ret, struct err *e)
{
	const char *id = jstr(rq->params, "id");
	if (!(*ret = record_get(type, id, rq->region)))
		return err_set(e, "ResourceNotFoundException", "%s %s not found.", what, id);
	return 0;
}

static int template_of(struct ereq *rq, json_t **ret, struct err *e)
{
	return named(rq, "fis-template", "Experiment template", ret, e);
}

int h_get_experiment_template(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *t;
	int r = template_of(rq, &t, e);
	if (r == 0)
		*ret = json_pack("{s:o}", "experimentTemplate", public_of(t));
	return r;
}

int h_update_experiment_template(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *t;
	int r = template_of(rq, &t, e);
	if (r < 0)
		return r;
	if (json_object_get(rq->params, "logConfiguration"))
		return verr(e, "logConfiguration is not supported: experiments are reported by vpclab's own report");
	_cleanup_json_ json_t *nt = json_deep_copy(t);
	for (const char *const *m = template_members; *m; m++) {
		json_t *v = json_object_get(rq->params, *m);
		if (!v || !strcmp(*m, "tags"))
			continue;
		if (json_is_object(v) && (!strcmp(*m, "targets") || !strcmp(*m, "actions"))) {
			/* A map is updated entry by entry, as FIS does. */
			json_t *cur = json_object_get(nt, *m);
			json_object_update(cur, v);
		} else
			json_object_set(nt, *m, v);
	}
	if ((r = check_template(nt, rq->region, e)) < 0)
		return r;
	json_object_set_new(nt, "lastUpdateTime", json_real(now_s()));
	if ((r = commit(jstr(t, "id"), nt, e)) < 0)
		return r;
	*ret = json_pack("{s:o}", "experimentTemplate", public_of(nt));
	return 0;
}

int h_delete_experiment_template(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *t;
	int r = template_of(rq, &t, e);
	if (r < 0)
		return r;
	_cleanup_json_ json_t *keep = json_incref(t);
	_cleanup_free_ char *id = strdup(jstr(t, "id"));
	if ((r = commit(id, NULL, e)) < 0)
		return r;
	*ret = json_pack("{s:o}", "experimentTemplate", public_of(keep));
	return 0;
}

/* Records of a type in the region, sorted by creation, one page: maxResults and nextToken
 * (the index to go on from). */
static int page_of(struct ereq *rq, const char *type, json_t *(*summary)(json_t *), const char *key,
		   json_t **ret, struct err *e)
{
	json_t *mr = json_object_get(rq->params, "maxResults");
	long long max = mr ? json_integer_value(mr) : 100, from = 0;
	const char *tok = jstr(rq->params, "nextToken");
	if (mr && (max < 1 || max > 100))
		return verr(e, "maxResults must be 1 to 100");
	if (*tok) {
		char *end;
		from = strtoll(tok, &end, 10);
		if (*end || from < 0)
			return verr(e, "The nextToken '%s' is not valid", tok);
	}
	_cleanup_json_ json_t *all = json_array();
	const char *id;
	json_t *o;
	json_object_foreach(store_objects(E->store), id, o)
	{
		if (!strcmp(jstr(o, "_type"), type) && !strcmp(jstr(o, "_region"), rq->region))
			json_array_append(all, o);
	}
	/* Oldest first; ties by ID. */
	size_t n = json_array_size(all);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0; j--) {
			json_t *a = json_array_get(all, j - 1), *b = json_array_get(all, j);
			double ta = json_number_value(json_object_get(a, "creationTime"));
			double tb = json_number_value(json_object_get(b, "creationTime"));
			if (ta < tb || (ta == tb && strcmp(jstr(a, "id"), jstr(b, "id")) <= 0))
				break;
			json_incref(a);
			json_array_set(all, j - 1, b);
			json_array_set_new(all, j, a);
		}
	json_t *out = json_array();
	for (size_t i = (size_t)from; i < n && (long long)json_array_size(out) < max; i++)
		json_array_append_new(out, summary(json_array_get(all, i)));
	*ret = json_pack("{s:o}", key, out);
	if ((size_t)from + json_array_size(out) < n) {
		char next[32];
		snprintf(next, sizeof(next), "%zu", (size_t)from + json_array_size(out));
		json_object_set_new(*ret, "nextToken", json_string(next));
	}
	return 0;
}

static json_t *template_summary(json_t *t)
{
	return json_pack("{s:O, s:O, s:O, s:O, s:O}", "id", json_object_get(t, "id"), "description",
			 json_object_get(t, "description"), "creationTime", json_object_get(t, "creationTime"),
			 "lastUpdateTime", json_object_get(t, "lastUpdateTime"), "tags", json_object_get(t, "tags"));
}

int h_list_experiment_templates(struct ereq *rq, json_t **ret, struct err *e)
{
	return page_of(rq, "fis-template", template_summary, "experimentTemplates", ret, e);
}

/* --- the catalogue ------------------------------------------------------------------------- */

static json_t *action_json(const struct action_def *d, bool full)
{
	json_t *a = json_pack("{s:s, s:s, s:{}, s:{}}", "id", d->id, "description", d->desc, "targets", "tags");
	if (d->target_key)
		json_object_set_new(json_object_get(a, "targets"), d->target_key,
				    json_pack("{s:s}", "resourceType", d->resource_type));
	if (full) {
		json_t *ps = json_object();
		for (const struct param_def *p = d->params; p->name; p++)
			json_object_set_new(ps, p->name, json_pack("{s:s, s:b}", "description", p->desc, "required",
								  p->required));
		json_object_set_new(a, "parameters", ps);
	}
	return a;
}

int h_list_actions(struct ereq *rq, json_t **ret, struct err *e)
{
	(void)rq, (void)e;
	json_t *out = json_array();
	for (size_t i = 0; i < sizeof(action_defs) / sizeof(action_defs[0]); i++)
		json_array_append_new(out, action_json(&action_defs[i], false));
	*ret = json_pack("{s:o}", "actions", out);
	return 0;
}

int h_get_action(struct ereq *rq, json_t **ret, struct err *e)
{
	const struct action_def *d = action_def(jstr(rq->params, "id"));
	if (!d)
		return err_set(e, "ResourceNotFoundException", "Action %s not found.", jstr(rq->params, "id"));
	*ret = json_pack("{s:o}", "action", action_json(d, true));
	return 0;
}

int h_list_target_resource_types(struct ereq *rq, json_t **ret, struct err *e)
{
	(void)rq, (void)e;
	json_t *out = json_array();
	for (size_t i = 0; i < sizeof(resource_types) / sizeof(resource_types[0]); i++)
		json_array_append_new(out, json_pack("{s:s, s:s}", "resourceType", resource_types[i].type,
						     "description", resource_types[i].desc));
	*ret = json_pack("{s:o}", "targetResourceTypes", out);
	return 0;
}

int h_get_target_resource_type(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *t = jstr(rq->params, "resourceType");
	for (size_t i = 0; i < sizeof(resource_types) / sizeof(resource_types[0]); i++)
		if (!strcmp(resource_types[i].type, t)) {
			*ret = json_pack("{s:{s:s, s:s, s:{}}}", "targetResourceType", "resourceType", t,
					 "description", resource_types[i].desc, "parameters");
			return 0;
		}
	return err_set(e, "ResourceNotFoundException", "Target resource type %s not found.", t);
}

/* --- tags on templates and experiments ----------------------------------------------------- */

static json_t *by_arn(const char *region, const char *arn)
{
	const char *slash = strrchr(arn, '/');
	if (!slash)
		return NULL;
	json_t *o = record_get("fis-template", slash + 1, region);
	if (!o)
		o = record_get("fis-experiment", slash + 1, region);
	return o && !strcmp(jstr(o, "arn"), arn) ? o : NULL;
}

int h_tag_resource(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *o = by_arn(rq->region, jstr(rq->params, "resourceArn")), *tags = json_object_get(rq->params, "tags");
	int r;
	if (!o)
		return err_set(e, "ResourceNotFoundException", "Resource %s not found.", jstr(rq->params, "resourceArn"));
	_cleanup_json_ json_t *no = json_deep_copy(o);
	json_object_update(json_object_get(no, "tags"), tags);
	if ((r = check_tags(json_object_get(no, "tags"), e)) < 0 || (r = commit(jstr(o, "id"), no, e)) < 0)
		return r;
	*ret = json_object();
	return 0;
}

int h_untag_resource(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *o = by_arn(rq->region, jstr(rq->params, "resourceArn"));
	int r;
	if (!o)
		return err_set(e, "ResourceNotFoundException", "Resource %s not found.", jstr(rq->params, "resourceArn"));
	_cleanup_json_ json_t *no = json_deep_copy(o), *keys = jlist(rq->params, "tagKeys");
	size_t i;
	json_t *k;
	json_array_foreach(keys, i, k) json_object_del(json_object_get(no, "tags"), sval(k));
	if ((r = commit(jstr(o, "id"), no, e)) < 0)
		return r;
	*ret = json_object();
	return 0;
}

int h_list_tags_for_resource(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *o = by_arn(rq->region, jstr(rq->params, "resourceArn"));
	if (!o)
		return err_set(e, "ResourceNotFoundException", "Resource %s not found.", jstr(rq->params, "resourceArn"));
	*ret = json_pack("{s:O}", "tags", json_object_get(o, "tags"));
	return 0;
}

/* --- API faults: checked at every request (server.c) and at each launch (instance.c) ------- */

struct api_fault {
	char exp[24], action[96];
	enum kind kind;
	char ops[512]; /* ",RunInstances,DescribeVpcs," */
	char azs[512]; /* ",us-east-1a," (K_ICE) */
	int pct;
	uint64_t rng; /* the experiment's seed and the action's name: the same calls fail each run */
};

static pthread_mutex_t api_lock = PTHREAD_MUTEX_INITIALIZER;
static struct api_fault api_faults[64];
static size_t napi_faults;

static bool listed_in(const char *list, const char *name)
{
	char want[128];
	snprintf(want, sizeof(want), ",%s,", name);
	return strstr(list, want) != NULL;
}

static const char *const fis_actions[] = {
	"CreateExperimentTemplate", "GetExperimentTemplate", "UpdateExperimentTemplate", "DeleteExperimentTemplate",
	"ListExperimentTemplates", "StartExperiment", "GetExperiment", "StopExperiment", "ListExperiments",
	"ListActions", "GetAction", "ListTargetResourceTypes", "GetTargetResourceType", "TagResource",
	"UntagResource", "ListTagsForResource", "GetExperimentReport", "CreateProbe", "DescribeProbes", "DeleteProbe",
	NULL};

int fis_api_fault(const char *action, const char *az, struct err *e)
{
	int r = 0;
	/* The experiment's own controls are never failed: StopExperiment must always work. */
	for (const char *const *f = fis_actions; *f; f++)
		if (!strcmp(*f, action))
			return 0;
	pthread_mutex_lock(&api_lock);
	for (size_t i = 0; i < napi_faults && !r; i++) {
		struct api_fault *f = &api_faults[i];
		bool hit = f->kind == K_ICE ? az && !strcmp(action, "RunInstances") && listed_in(f->azs, az)
					    : !az && listed_in(f->ops, action);
		if (!hit || (int)(mix64(&f->rng) % 100) >= f->pct)
			continue;
		switch (f->kind) {
		case K_ICE:
			r = err_set(e, "InsufficientInstanceCapacity",
				    "We currently do not have sufficient capacity in the Availability Zone you requested (%s).",
				    az);
			break;
		case K_API_THROTTLE: r = err_set(e, "RequestLimitExceeded", "Request limit exceeded."); break;
		case K_API_UNAVAILABLE:
			r = err_set(e, "Unavailable", "The service is unavailable. Please try again shortly.");
			break;
		default:
			r = err_set(e, "InternalError", "An internal error has occurred");
			break;
		}
	}
	pthread_mutex_unlock(&api_lock);
	return r;
}

static int api_fault_add(const char *exp, const char *action, enum kind kind, const char *ops, const char *azs,
			 int pct, uint64_t seed, struct err *e)
{
	int r = 0;
	pthread_mutex_lock(&api_lock);
	if (napi_faults == sizeof(api_faults) / sizeof(api_faults[0])) {
		r = err_set(e, "ServiceQuotaExceededException", "At most %zu API faults can be active at once", napi_faults);
	} else {
		struct api_fault *f = &api_faults[napi_faults++];
		*f = (struct api_fault){.kind = kind, .pct = pct, .rng = seed};
		snprintf(f->exp, sizeof(f->exp), "%s", exp);
		snprintf(f->action, sizeof(f->action), "%s", action);
		/* "a, b" -> ",a,b," */
		char *dst[2] = {f->ops, f->azs};
		const char *src[2] = {ops, azs};
		for (int k = 0; k < 2; k++) {
			size_t n = 0, cap = sizeof(f->ops);
			dst[k][n++] = ',';
			for (const char *p = src[k] ? src[k] : ""; *p && n + 2 < cap; p++)
				if (*p != ' ')
					dst[k][n++] = *p;
			dst[k][n++] = ',';
			dst[k][n] = 0;
		}
	}
	pthread_mutex_unlock(&api_lock);
	return r;
}

static void api_fault_remove(const char *exp, const char *action)
{
	pthread_mutex_lock(&api_lock);
	for (size_t i = 0; i < napi_faults;) {
		if (!strcmp(api_faults[i].exp, exp) && (!action || !strcmp(api_faults[i].action, action)))
			api_faults[i] = api_faults[--napi_faults];
		else
			i++;
	}
	pthread_mutex_unlock(&api_lock);
}

/* The workload's calls while an experiment runs: [time ms, action, code or "OK"], for its report. */
#define CALL_LOG_MAX 20000
static struct {
	char exp[24];
	json_t *calls;
} call_logs[16];
static size_t ncall_logs;

void fis_api_record(const char *action, const char *code)
{
	for (const char *const *f = fis_actions; *f; f++)
		if (!strcmp(*f, action))
			return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	long long ms = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
	pthread_mutex_lock(&api_lock);
	for (size_t i = 0; i < ncall_logs; i++)
		if (json_array_size(call_logs[i].calls) < CALL_LOG_MAX)
			json_array_append_new(call_logs[i].calls, json_pack("[I, s, s]", ms, action, code && *code ? code : "OK"));
	pthread_mutex_unlock(&api_lock);
}

static void calls_begin(const char *exp)
{
	pthread_mutex_lock(&api_lock);
	if (ncall_logs < sizeof(call_logs) / sizeof(call_logs[0])) {
		snprintf(call_logs[ncall_logs].exp, sizeof(call_logs[0].exp), "%s", exp);
		call_logs[ncall_logs++].calls = json_array();
	}
	pthread_mutex_unlock(&api_lock);
}

static json_t *calls_end(const char *exp)
{
	json_t *calls = NULL;
	pthread_mutex_lock(&api_lock);
	for (size_t i = 0; i < ncall_logs; i++)
		if (!strcmp(call_logs[i].exp, exp)) {
			calls = call_logs[i].calls;
			call_logs[i] = call_logs[--ncall_logs];
			break;
		}
	pthread_mutex_unlock(&api_lock);
	return calls ? calls : json_array();
}

/* --- targets ------------------------------------------------------------------------------- */

/* Every resource of a type in the region, {id: object}, the object in EC2's shape (filters'
 * paths are its members: State.Name, Placement.AvailabilityZone, AvailabilityZone, VpcId...). */
static int candidates(const char *region, const char *type, json_t **ret, struct err *e)
{
	json_t *out = json_object(), *o, *res = NULL;
	const char *id;
	size_t i;
	int r = 0;
	if (!strcmp(type, "aws:ec2:instance")) {
		json_object_foreach(store_objects(E->store), id, o)
		{
			if (!strcmp(jstr(o, "_type"), "instance") && !strcmp(jstr(o, "_region"), region))
				json_object_set_new(out, id, public_of(o));
		}
	} else if (!strcmp(type, "aws:ec2:subnet") || !strcmp(type, "vpclab:ec2:network-interface")) {
		bool sn = !strcmp(type, "aws:ec2:subnet");
		if ((r = vpc_call(region, sn ? "DescribeSubnets" : "DescribeNetworkInterfaces", json_object(), &res, e)) < 0) {
			json_decref(out);
			return r;
		}
		json_array_foreach(json_object_get(res, sn ? "Subnets" : "NetworkInterfaces"), i, o)
			json_object_set(out, jstr(o, sn ? "SubnetId" : "NetworkInterfaceId"), o);
		json_decref(res);
	}
	*ret = out;
	return 0;
}

static bool tags_match(json_t *obj, json_t *want)
{
	const char *k;
	json_t *v;
	json_object_foreach(want, k, v)
	{
		bool found = false;
		size_t i;
		json_t *t;
		json_array_foreach(json_object_get(obj, json_object_get(obj, "Tags") ? "Tags" : "TagSet"), i, t)
			found |= !strcmp(jstr(t, "Key"), k) && !strcmp(jstr(t, "Value"), sval(v));
		if (!found)
			return false;
	}
	return true;
}

static bool filter_match(json_t *obj, json_t *f)
{
	_cleanup_free_ char *path = strdup(jstr(f, "path"));
	json_t *cur = obj;
	for (char *save = NULL, *seg = strtok_r(path, ".", &save); seg && cur; seg = strtok_r(NULL, ".", &save))
		cur = json_object_get(cur, seg);
	char val[64];
	if (json_is_string(cur))
		snprintf(val, sizeof(val), "%s", json_string_value(cur));
	else if (json_is_integer(cur))
		snprintf(val, sizeof(val), "%lld", (long long)json_integer_value(cur));
	else if (json_is_boolean(cur))
		snprintf(val, sizeof(val), "%s", json_is_true(cur) ? "true" : "false");
	else
		return false;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(f, "values"), i, v) if (!strcmp(sval(v), val)) return true;
	return false;
}

static int id_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The resources a target names, as a sorted list of IDs (role targets: their ARNs). */
static int resolve(const char *region, const char *name, json_t *t, uint64_t *rng, json_t **ret, struct err *e)
{
	const char *type = jstr(t, "resourceType");
	_cleanup_json_ json_t *all = NULL;
	json_t *arns = json_object_get(t, "resourceArns"), *v, *o;
	size_t i;
	int r;
	if (!strcmp(type, "aws:iam:role")) {
		*ret = json_deep_copy(arns ? arns : json_array());
		return 0;
	}
	if ((r = candidates(region, type, &all, e)) < 0)
		return r;
	_cleanup_json_ json_t *picked = json_object();
	if (json_array_size(arns)) {
		json_array_foreach(arns, i, v)
		{
			const char *rid = resource_of_arn(sval(v), type);
			if (!rid || !json_object_get(all, rid))
				return err_set(e, "ResourceNotFoundException",
					       "Target resolution failed: target '%s' names '%s', which does not exist", name,
					       sval(v));
			json_object_set(picked, rid, json_object_get(all, rid));
		}
	} else {
		const char *id;
		json_object_foreach(all, id, o) if (tags_match(o, json_object_get(t, "resourceTags")))
			json_object_set(picked, id, o);
	}
	/* Filters narrow it: every filter must hold (each with any of its values). */
	const char *id;
	json_t *tmp;
	json_object_foreach_safe(picked, tmp, id, o)
	{
		json_array_foreach(json_object_get(t, "filters"), i, v) if (!filter_match(o, v))
		{
			json_object_del(picked, id);
			break;
		}
	}
	size_t n = json_object_size(picked), k = 0;
	if (!n)
		return err_set(e, "ResourceNotFoundException", "Target resolution failed: target '%s' found no resources",
			       name);
	const char **ids = calloc(n, sizeof(*ids));
	json_object_foreach(picked, id, o) ids[k++] = id;
	qsort(ids, n, sizeof(*ids), id_cmp);
	bool pct;
	long want;
	selection(jstr(t, "selectionMode"), &pct, &want);
	size_t take = want < 0 ? n : pct ? (size_t)((double)n * (double)want / 100.0) : (size_t)want;
	if (take < 1)
		take = 1;
	if (take > n)
		take = n;
	/* A partial Fisher-Yates shuffle with the experiment's stream, then sorted again. */
	for (size_t j = 0; take < n && j < take; j++) {
		size_t pick = j + (size_t)(mix64(rng) % (n - j));
		const char *sw = ids[j];
		ids[j] = ids[pick], ids[pick] = sw;
	}
	qsort(ids, take, sizeof(*ids), id_cmp);
	json_t *out = json_array();
	for (size_t j = 0; j < take; j++)
		json_array_append_new(out, json_string(ids[j]));
	free(ids);
	*ret = out;
	return 0;
}

/* --- experiments --------------------------------------------------------------------------- */

static pthread_cond_t fis_cond = PTHREAD_COND_INITIALIZER;

static void event(json_t *x, json_t *ev)
{
	json_object_set_new(ev, "time", json_real(now_s()));
	json_array_append_new(json_object_get(x, "_events"), ev);
}

static void set_status(json_t *x, const char *status, const char *reason)
{
	json_object_set_new(x, "state", json_pack("{s:s, s:s}", "status", status, "reason", reason));
	event(x, json_pack("{s:s, s:s, s:s}", "type", "experiment", "status", status, "reason", reason));
}

static void action_status(json_t *x, const char *name, const char *status, const char *reason)
{
	json_t *a = json_object_get(json_object_get(x, "actions"), name);
	json_object_set_new(a, "state", json_pack("{s:s, s:s}", "status", status, "reason", reason));
	if (!strcmp(status, "running") || (!json_object_get(a, "startTime") && strcmp(status, "pending") &&
					    strcmp(status, "cancelled")))
		json_object_set_new(a, "startTime", json_real(now_s()));
	if (strcmp(status, "running") && strcmp(status, "pending") && strcmp(status, "initiating"))
		json_object_set_new(a, "endTime", json_real(now_s()));
	event(x, json_pack("{s:s, s:s, s:s, s:s}", "type", "action", "action", name, "status", status, "reason", reason));
}

static const char *param(json_t *a, const char *name)
{
	return jstr(json_object_get(a, "parameters"), name);
}

/* The action's targets: the IDs resolved at the start. */
static json_t *targets_of(json_t *x, json_t *a)
{
	const struct action_def *d = action_def(jstr(a, "actionId"));
	const char *tn = d && d->target_key ? jstr(json_object_get(a, "targets"), d->target_key) : "";
	return json_object_get(json_object_get(x, "_resolved"), tn);
}

/* An EC2 action on instances, as a client would call it (under the lock). */
static int instances_do(const char *region, ehandler_fn fn, const char *action, json_t *ids, bool force,
			struct err *e)
{
	if (!json_array_size(ids))
		return 0;
	_cleanup_json_ json_t *params = json_pack("{s:O, s:b}", "InstanceIds", ids, "Force", force);
	json_t *res = NULL;
	struct ereq rq = {.action = action, .region = region, .params = params, .fd = -1};
	int r = fn(&rq, &res, e);
	json_decref(res);
	return r;
}

/* The instances among `ids` in state `state`. */
static json_t *in_state(json_t *ids, const char *state)
{
	json_t *out = json_array(), *v;
	size_t i;
	json_array_foreach(ids, i, v)
	{
		json_t *inst = instance_get(sval(v));
		if (inst && !strcmp(jstr(json_object_get(inst, "State"), "Name"), state))
			json_array_append(out, v);
	}
	return out;
}

static void target_events(json_t *x, json_t *ids, const char *what)
{
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v)
	{
		json_t *inst = instance_get(sval(v));
		event(x, json_pack("{s:s, s:O, s:s, s:s}", "type", "target", "resource", v, "change", what, "state",
				   inst ? jstr(json_object_get(inst, "State"), "Name") : "gone"));
	}
}

static int faults_apply(json_t *x, json_t *applied, int ai, const char *kind, const char *key, json_t *ids,
			json_t *extra, struct err *e)
{
	const char *region = jstr(x, "_region"), *exp = jstr(x, "id");
	size_t i;
	json_t *v;
	json_t *fids = json_object_get(applied, "faults");
	json_array_foreach(ids, i, v)
	{
		char fid[64];
		snprintf(fid, sizeof(fid), "%s-%d-%zu", exp, ai, i);
		json_t *p = json_pack("{s:s, s:s, s:s, s:O}", "FaultId", fid, "ExperimentId", exp, "Kind", kind, key, v);
		json_object_update(p, extra);
		/* Committed before it is made: a crash in between is undone by the recovery. */
		json_array_append_new(fids, json_string(fid));
		struct err ig = {0};
		if (commit(exp, x, &ig) < 0) {
			json_decref(p);
			return err_set(e, ig.code, "%s", ig.msg);
		}
		json_t *res = NULL;
		int r = vpc_call(region, "ApplyFault", p, &res, e);
		json_decref(res);
		if (r < 0)
			return r;
		event(x, json_pack("{s:s, s:O, s:s, s:s}", "type", "target", "resource", v, "change", "fault", "state", kind));
	}
	return 0;
}

static int faults_clear(json_t *x, json_t *applied, struct err *e)
{
	json_t *fids = json_object_get(applied, "faults"), *res = NULL;
	if (!json_array_size(fids))
		return 0;
	int r = vpc_call(jstr(x, "_region"), "ClearFaults", json_pack("{s:O}", "FaultIds", fids), &res, e);
	json_decref(res);
	if (r == 0)
		json_array_clear(fids);
	return r;
}

static uint64_t action_seed(json_t *x, const char *name)
{
	uint64_t s = strtoull(jstr(x, "_seed"), NULL, 16);
	for (const char *p = name; *p; p++)
		s = (s ^ (unsigned char)*p) * 0x100000001b3ull;
	return s;
}

static int subnets_in(const char *region, const char *az, json_t **ret, struct err *e)
{
	json_t *res = NULL, *s;
	size_t i;
	int r = vpc_call(region, "DescribeSubnets",
			 json_pack("{s:[{s:s, s:[s]}]}", "Filters", "Name", "availability-zone", "Values", az), &res, e);
	if (r < 0)
		return r;
	*ret = json_array();
	json_array_foreach(json_object_get(res, "Subnets"), i, s)
		json_array_append_new(*ret, json_string(jstr(s, "SubnetId")));
	json_decref(res);
	return 0;
}

/* Starts one action: its fault made, what undoes it kept in x._applied[name]. Sets *lasts:
 * the action runs for that long (ms) before it is undone; 0 ends it now. */
static int apply(json_t *x, const char *name, int ai, long long *lasts, struct err *e)
{
	json_t *a = json_object_get(json_object_get(x, "actions"), name);
	const struct action_def *d = action_def(jstr(a, "actionId"));
	const char *region = jstr(x, "_region"), *exp = jstr(x, "id");
	json_t *ids = targets_of(x, a);
	json_t *applied = json_pack("{s:[], s:[], s:[], s:[]}", "faults", "restart", "resume", "api");
	json_object_set_new(json_object_get(x, "_applied"), name, applied);
	const char *dur = param(a, "duration"), *after = param(a, "startInstancesAfterDuration");
	*lasts = *dur ? fis_duration_ms(dur) : *after ? fis_duration_ms(after) : 0;
	int r = 0;
	switch (d->kind) {
	case K_STOP:
	case K_CRASH: {
		_cleanup_json_ json_t *running = in_state(ids, "running");
		if (*after)
			json_object_set(applied, "restart", running);
		if ((r = commit(exp, x, e)) < 0)
			return r;
		if (d->kind == K_STOP)
			r = instances_do(region, h_stop_instances, "StopInstances", running, false, e);
		else
			for (size_t i = 0; r == 0 && i < json_array_size(running); i++)
				r = instance_crash(instance_get(sval(json_array_get(running, i))), e);
		target_events(x, running, d->kind == K_STOP ? "stopped" : "crashed");
		break;
	}
	case K_REBOOT:
		r = instances_do(region, h_reboot_instances, "RebootInstances", ids, false, e);
		target_events(x, ids, "rebooted");
		break;
	case K_TERMINATE:
		r = instances_do(region, h_terminate_instances, "TerminateInstances", ids, false, e);
		target_events(x, ids, "terminated");
		break;
	case K_PAUSE: {
		_cleanup_json_ json_t *running = in_state(ids, "running");
		json_object_set(applied, "resume", running);
		if ((r = commit(exp, x, e)) < 0)
			return r;
		for (size_t i = 0; r == 0 && i < json_array_size(running); i++)
			r = instance_pause(instance_get(sval(json_array_get(running, i))), true, e);
		/* A frozen container's kernel would still answer ARP, ping and TCP handshakes (the
		 * namespace is not frozen with its processes): its link goes too, so that it is as
		 * silent as a paused VM. */
		_cleanup_json_ json_t *links = json_array(), *none = json_object();
		for (size_t i = 0; i < json_array_size(running); i++) {
			json_t *inst = instance_get(sval(json_array_get(running, i)));
			if (inst && !strcmp(jstr(inst, "_kind"), "lxc") && *jstr(inst, "_eni"))
				json_array_append_new(links, json_string(jstr(inst, "_eni")));
		}
		if (r == 0)
			r = faults_apply(x, applied, ai, "blackhole", "NetworkInterfaceId", links, none, e);
		target_events(x, running, "paused");
		break;
	}
	case K_DISRUPT: {
		_cleanup_json_ json_t *ex = json_pack("{s:s}", "Scope", *param(a, "scope") ? param(a, "scope") : "all");
		r = faults_apply(x, applied, ai, "disrupt-connectivity", "SubnetId", ids, ex, e);
		break;
	}
	case K_LOSS: {
		_cleanup_json_ json_t *ex = json_pack("{s:f}", "LossPercent", strtod(param(a, "lossPercent"), NULL));
		bool sn = !strcmp(d->target_key, "Subnets");
		r = faults_apply(x, applied, ai, "packet-loss", sn ? "SubnetId" : "NetworkInterfaceId", ids, ex, e);
		break;
	}
	case K_RATE: {
		_cleanup_json_ json_t *ex = json_pack("{s:I}", "RateKbps", (json_int_t)strtoll(param(a, "rateKbps"), NULL, 10));
		r = faults_apply(x, applied, ai, "rate-limit", "NetworkInterfaceId", ids, ex, e);
		break;
	}
	case K_IMPAIR: {
		/* vpcd's impair fault: milliseconds and percents as numbers. */
		static const char *const map[][2] = {{"delayMilliseconds", "DelayMs"}, {"jitterMilliseconds", "JitterMs"},
						     {"reorderPercent", "ReorderPercent"}, {"duplicatePercent", "DuplicatePercent"},
						     {"corruptPercent", "CorruptPercent"}};
		_cleanup_json_ json_t *ex = json_object();
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (*param(a, map[i][0]))
				json_object_set_new(ex, map[i][1], json_real(strtod(param(a, map[i][0]), NULL)));
		if (*param(a, "direction"))
			json_object_set_new(ex, "Direction", json_string(param(a, "direction")));
		r = faults_apply(x, applied, ai, "impair", "NetworkInterfaceId", ids, ex, e);
		break;
	}
	case K_PARTITION: {
		_cleanup_json_ json_t *peer = json_pack("[s]", param(a, "peerRegion")), *none = json_object();
		r = faults_apply(x, applied, ai, "partition", "PeerRegion", peer, none, e);
		break;
	}
	case K_BLACKHOLE: {
		_cleanup_json_ json_t *ex = json_object();
		r = faults_apply(x, applied, ai, "blackhole", "NetworkInterfaceId", ids, ex, e);
		break;
	}
	case K_ICE:
		r = api_fault_add(exp, name, d->kind, NULL, param(a, "availabilityZoneIdentifiers"),
				  atoi(param(a, "percentage")), action_seed(x, name), e);
		break;
	case K_API_INTERNAL:
	case K_API_THROTTLE:
	case K_API_UNAVAILABLE:
		r = api_fault_add(exp, name, d->kind, param(a, "operations"), NULL, atoi(param(a, "percentage")),
				  action_seed(x, name), e);
		break;
	case K_WAIT: break;
	case K_AZ_POWER: {
		const char *az = param(a, "availabilityZoneIdentifier");
		_cleanup_json_ json_t *all = NULL, *in_az = json_array(), *subnets = NULL, *ex = json_pack("{s:s}", "Scope", "all");
		const char *id;
		json_t *o;
		json_object_foreach(store_objects(E->store), id, o)
		{
			if (!strcmp(jstr(o, "_type"), "instance") && !strcmp(jstr(o, "_region"), region) &&
			    !strcmp(jstr(json_object_get(o, "Placement"), "AvailabilityZone"), az) &&
			    !strcmp(jstr(json_object_get(o, "State"), "Name"), "running"))
				json_array_append_new(in_az, json_string(id));
		}
		json_object_set(applied, "restart", in_az);
		if ((r = api_fault_add(exp, name, K_ICE, NULL, az, 100, 0, e)) < 0 || (r = subnets_in(region, az, &subnets, e)) < 0)
			break;
		/* The network first, as power going is instant for packets; then the instances. */
		if ((r = faults_apply(x, applied, ai, "disrupt-connectivity", "SubnetId", subnets, ex, e)) < 0)
			break;
		if ((r = commit(exp, x, e)) < 0)
			break;
		if (!strcmp(param(a, "instanceStop"), "kill"))
			for (size_t i = 0; r == 0 && i < json_array_size(in_az); i++)
				r = instance_crash(instance_get(sval(json_array_get(in_az, i))), e);
		else
			r = instances_do(region, h_stop_instances, "StopInstances", in_az, true, e);
		target_events(x, in_az, "power lost");
		break;
	}
	}
	return r;
}

/* Undoes an action: faults cleared, API faults gone, instances resumed and started again. A
 * step that fails stays in x._applied, for the caller to try again. */
static int revert(json_t *x, const char *name, struct err *e)
{
	json_t *applied = json_object_get(json_object_get(x, "_applied"), name);
	const char *region = jstr(x, "_region");
	int r = 0;
	if (!applied)
		return 0;
	api_fault_remove(jstr(x, "id"), name);
	if ((r = faults_clear(x, applied, e)) < 0)
		return r;
	json_t *resume = json_object_get(applied, "resume"), *restart = json_object_get(applied, "restart");
	for (size_t i = 0; i < json_array_size(resume); i++) {
		json_t *inst = instance_get(sval(json_array_get(resume, i)));
		if (inst && (r = instance_pause(inst, false, e)) < 0)
			return r;
	}
	target_events(x, resume, "resumed");
	json_array_clear(resume);
	_cleanup_json_ json_t *stopped = in_state(restart, "stopped");
	if ((r = instances_do(region, h_start_instances, "StartInstances", stopped, false, e)) < 0)
		return r;
	target_events(x, stopped, "started");
	json_array_clear(restart);
	return 0;
}

/* Undo with retries: vpcd may be restarting. The lock is let go between tries. */
static int revert_hard(json_t *x, const char *name, struct err *e)
{
	int r = 0;
	for (int i = 0; i < 120; i++) {
		*e = (struct err){0};
		if ((r = revert(x, name, e)) == 0)
			return 0;
		log_error("experiment %s: undoing action '%s': %s (trying again)", jstr(x, "id"), name, e->msg);
		pthread_mutex_unlock(&E->lock);
		nanosleep(&(struct timespec){0, 500000000}, NULL);
		pthread_mutex_lock(&E->lock);
	}
	return r;
}

static bool deps_done(json_t *actions, json_t *a)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(a, "startAfter"), i, v)
	{
		json_t *dep = json_object_get(actions, sval(v));
		if (strcmp(jstr(json_object_get(dep, "state"), "status"), "completed"))
			return false;
	}
	return true;
}

#define PROBE_LEAD_MS 500  /* probes before the first action: the baseline */
#define PROBE_TAIL_MS 2000 /* and after the last: the recovery */

/* Sleeps with the lock let go; StopExperiment wakes it. */
static void nap(long long ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000)
		ts.tv_sec++, ts.tv_nsec -= 1000000000;
	pthread_cond_timedwait(&fis_cond, &E->lock, &ts);
}

/* The stop condition an alarmed probe triggers, or NULL. */
static const char *stop_condition(json_t *x, const char *probe)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(x, "stopConditions"), i, v)
	{
		const char *nm = strstr(jstr(v, "value"), ":alarm:");
		if (!strcmp(jstr(v, "source"), "aws:cloudwatch:alarm") && nm && !strcmp(nm + 7, probe))
			return jstr(v, "value");
	}
	return NULL;
}

static void *engine(void *arg)
{
	_cleanup_free_ char *id = arg;
	struct err e = {0};
	pthread_mutex_lock(&E->lock);
	json_t *x = json_object_get(store_objects(E->store), id);
	json_incref(x);
	json_t *actions = json_object_get(x, "actions");
	_cleanup_json_ json_t *due = json_object(); /* running action -> monotonic ms it ends at */
	const char *name;
	json_t *a;
	bool failed = false;
	char why[1200] = "";
	struct probe_run *pr = NULL;
	bool alarms = false;
	calls_begin(id);
	if (*jstr(x, "_probes")) {
		if (probes_start(jstr(x, "_region"), jstr(x, "_probes"), strtoull(jstr(x, "_seed"), NULL, 16), &pr, &e) < 0) {
			snprintf(why, sizeof(why), "The probes cannot start: %s", e.msg);
			failed = true;
		} else {
			alarms = json_array_size(json_object_get(x, "stopConditions")) > 0;
			nap(PROBE_LEAD_MS);
		}
	}
	set_status(x, "running", "Experiment is running.");
	json_object_set_new(x, "startTime", json_real(now_s()));
	commit(id, x, &e);
	for (;;) {
		const char *al = alarms ? probes_alarmed(pr) : NULL, *sc = al ? stop_condition(x, al) : NULL;
		if (sc && !json_is_true(json_object_get(x, "_stop"))) {
			char msg[600];
			snprintf(msg, sizeof(msg), "Experiment stopped by the stop condition %s (probe %s failed).", sc, al);
			json_object_set_new(x, "_stop", json_true());
			json_object_set_new(x, "_stop_reason", json_string(msg));
			set_status(x, "stopping", msg);
			commit(id, x, &e);
		}
		bool stopping = json_is_true(json_object_get(x, "_stop"));
		/* Start what is ready: in name order, so the same template starts in the same order. */
		int ai = 0;
		json_object_foreach(actions, name, a)
		{
			ai++;
			if (stopping || failed || strcmp(jstr(json_object_get(a, "state"), "status"), "pending") ||
			    !deps_done(actions, a))
				continue;
			long long lasts = 0;
			action_status(x, name, "running", "");
			commit(id, x, &e);
			e = (struct err){0};
			if (apply(x, name, ai, &lasts, &e) < 0) {
				snprintf(why, sizeof(why), "Action '%s' failed: %s", name, e.msg);
				action_status(x, name, "failed", e.msg);
				struct err ig = {0};
				revert_hard(x, name, &ig);
				failed = true;
			} else
				json_object_set_new(due, name, json_integer(mono_ms() + lasts));
			commit(id, x, &e);
		}
		/* End what is due (everything, if stopping or failed). */
		long long now = mono_ms(), next = -1;
		_cleanup_json_ json_t *ending = json_array();
		json_t *v;
		json_object_foreach(due, name, v)
		{
			long long at = json_integer_value(v);
			if (at > now && !stopping && !failed)
				next = next < 0 || at < next ? at : next;
			else
				json_array_append_new(ending, json_pack("[s, b]", name, at > now));
		}
		size_t i;
		json_array_foreach(ending, i, v)
		{
			const char *n = json_string_value(json_array_get(v, 0));
			bool early = json_is_true(json_array_get(v, 1));
			e = (struct err){0};
			int r = revert_hard(x, n, &e);
			action_status(x, n, r < 0 ? "failed" : early ? "stopped" : "completed",
				      r < 0 ? e.msg : early ? "Action was stopped." : "Action completed.");
			json_object_del(due, n);
			commit(id, x, &e);
		}
		if (json_array_size(ending))
			continue; /* what waited on them may start now */
		bool ready = false;
		json_object_foreach(actions, name, a) ready |= !strcmp(jstr(json_object_get(a, "state"), "status"), "pending") &&
							  deps_done(actions, a);
		if (!json_object_size(due)) {
			if (!ready || stopping || failed)
				break;
			continue;
		}
		long long wait = next - mono_ms();
		if (alarms && wait > 10)
			wait = 10; /* an alarm is looked at every 10 ms */
		if (wait > 0)
			nap(wait);
	}
	bool stopped = json_is_true(json_object_get(x, "_stop"));
	json_object_foreach(actions, name, a)
	{
		if (!strcmp(jstr(json_object_get(a, "state"), "status"), "pending"))
			action_status(x, name, "cancelled", stopped ? "Experiment was stopped." : "Experiment ended before the action could start.");
	}
	json_object_set_new(x, "endTime", json_real(now_s()));
	if (failed)
		set_status(x, "failed", why);
	else if (stopped)
		set_status(x, "stopped", *jstr(x, "_stop_reason") ? jstr(x, "_stop_reason") : "Experiment was stopped.");
	else
		set_status(x, "completed", "Experiment completed.");
	e = (struct err){0};
	if (commit(id, x, &e) < 0)
		log_error("experiment %s: %s", id, e.msg);
	/* The probes go on a little, to see the recovery; then the report's measures are kept. */
	if (pr) {
		long long until = mono_ms() + PROBE_TAIL_MS;
		while (mono_ms() < until)
			nap(until - mono_ms());
		probes_stop(pr);
	}
	long long t0 = (long long)(json_number_value(json_object_get(x, "creationTime")) * 1000.0 + 0.5);
	json_object_set_new(x, "_report", json_pack("{s:o, s:o}", "Probes", probes_summary(pr, t0), "ApiCalls", calls_end(id)));
	probes_free(pr);
	e = (struct err){0};
	if (commit(id, x, &e) < 0)
		log_error("experiment %s: %s", id, e.msg);
	json_decref(x);
	pthread_mutex_unlock(&E->lock);
	return NULL;
}

static void engine_start(const char *id)
{
	pthread_t t;
	char *arg = strdup(id);
	if (pthread_create(&t, NULL, engine, arg) == 0)
		pthread_detach(t);
	else
		free(arg);
}

int h_start_experiment(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *P = rq->params, *had, *t;
	const char *tid = jstr(P, "experimentTemplateId");
	char id[24], arn[160], seed[20];
	int r;
	if ((had = by_token("fis-experiment", rq->region, jstr(P, "clientToken")))) {
		*ret = json_pack("{s:o}", "experiment", public_of(had));
		return 0;
	}
	if (!*tid)
		return verr(e, "experimentTemplateId is required");
	if (!(t = record_get("fis-template", tid, rq->region)))
		return err_set(e, "ResourceNotFoundException", "Experiment template %s not found.", tid);
	if ((r = check_tags(json_object_get(P, "tags"), e)) < 0)
		return r;
	fis_id("EXP", id);
	arn_of(rq->region, "experiment", id, arn);
	uint64_t s = *jstr(t, "_seed") ? strtoull(jstr(t, "_seed"), NULL, 16) : idgen_next(&E->ids), rng = s;
	snprintf(seed, sizeof(seed), "%016llx", (unsigned long long)s);
	json_t *x = json_pack("{s:s, s:s, s:s, s:O, s:O, s:O, s:O, s:f, s:O, s:s, s:s, s:s, s:s, s:{}, s:{}, s:[]}",
			      "id", id, "arn", arn, "experimentTemplateId", tid, "roleArn",
			      json_object_get(t, "roleArn"), "targets", json_object_get(t, "targets"), "stopConditions",
			      json_object_get(t, "stopConditions"), "tags",
			      json_object_get(P, "tags") ? json_object_get(P, "tags") : json_object_get(t, "tags"),
			      "creationTime", now_s(), "actions", json_object_get(t, "actions"), "_type",
			      "fis-experiment", "_region", rq->region, "_clientToken", jstr(P, "clientToken"), "_seed",
			      seed, "_resolved", "_applied", "_events");
	json_t *actions = json_deep_copy(json_object_get(x, "actions"));
	json_object_set_new(x, "actions", actions);
	const char *name;
	json_t *a;
	json_object_foreach(actions, name, a) json_object_set_new(a, "state", json_pack("{s:s, s:s}", "status", "pending", "reason", ""));
	set_status(x, "initiating", "Experiment is initiating.");
	/* The probes: the template's tag vpclab:probes, and those whose alarms are stop conditions. */
	char probes[1024];
	snprintf(probes, sizeof(probes), "%s", jstr(json_object_get(t, "tags"), "vpclab:probes"));
	size_t si;
	json_t *sv;
	json_array_foreach(json_object_get(t, "stopConditions"), si, sv)
	{
		const char *nm = strstr(jstr(sv, "value"), ":alarm:");
		if (nm && strlen(probes) + strlen(nm) + 2 < sizeof(probes) && !strstr(probes, nm + 7))
			snprintf(probes + strlen(probes), sizeof(probes) - strlen(probes), "%s%s", *probes ? "," : "", nm + 7);
	}
	json_object_set_new(x, "_probes", json_string(probes));
	/* Targets now, in name order, so that the stream of choices is the same each run. */
	json_t *tv;
	struct err why = {0};
	json_object_foreach(json_object_get(t, "targets"), name, tv)
	{
		json_t *ids = NULL;
		if (resolve(rq->region, name, tv, &rng, &ids, &why) < 0)
			break;
		json_object_set_new(json_object_get(x, "_resolved"), name, ids);
		json_t *arns = json_array(), *v;
		size_t i;
		const char *type = jstr(tv, "resourceType");
		json_array_foreach(ids, i, v)
		{
			char ra[160];
			if (!strcmp(type, "aws:iam:role"))
				snprintf(ra, sizeof(ra), "%s", sval(v));
			else
				snprintf(ra, sizeof(ra), "arn:aws:ec2:%s:%s:%s/%s", rq->region, OWNER_ID,
					 !strcmp(type, "aws:ec2:instance") ? "instance" : !strcmp(type, "aws:ec2:subnet") ? "subnet" : "network-interface",
					 sval(v));
			json_array_append_new(arns, json_string(ra));
		}
		event(x, json_pack("{s:s, s:s, s:o}", "type", "targets", "target", name, "resources", arns));
	}
	if (err_isset(&why)) {
		/* As FIS does: the experiment exists, failed, and nothing was applied. */
		json_object_foreach(actions, name, a) action_status(x, name, "cancelled", "Experiment failed to start.");
		json_object_set_new(x, "endTime", json_real(now_s()));
		set_status(x, "failed", why.msg);
	}
	if ((r = commit(id, x, e)) < 0) {
		json_decref(x);
		return r;
	}
	*ret = json_pack("{s:o}", "experiment", public_of(x));
	if (!err_isset(&why))
		engine_start(id);
	json_decref(x);
	return 0;
}

static int experiment_of(struct ereq *rq, json_t **ret, struct err *e)
{
	return named(rq, "fis-experiment", "Experiment", ret, e);
}

int h_get_experiment(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *x;
	int r = experiment_of(rq, &x, e);
	if (r == 0)
		*ret = json_pack("{s:o}", "experiment", public_of(x));
	return r;
}

int h_stop_experiment(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *x;
	int r = experiment_of(rq, &x, e);
	if (r < 0)
		return r;
	const char *st = jstr(json_object_get(x, "state"), "status");
	if (strcmp(st, "initiating") && strcmp(st, "running") && strcmp(st, "pending"))
		return err_set(e, "ValidationException", "Experiment %s is %s and cannot be stopped.", jstr(x, "id"), st);
	json_object_set_new(x, "_stop", json_true());
	set_status(x, "stopping", "Experiment is stopping.");
	if ((r = commit(jstr(x, "id"), x, e)) < 0)
		return r;
	pthread_cond_broadcast(&fis_cond);
	*ret = json_pack("{s:o}", "experiment", public_of(x));
	return 0;
}

static json_t *experiment_summary(json_t *x)
{
	return json_pack("{s:O, s:O, s:O, s:O, s:O}", "id", json_object_get(x, "id"), "experimentTemplateId",
			 json_object_get(x, "experimentTemplateId"), "state", json_object_get(x, "state"),
			 "creationTime", json_object_get(x, "creationTime"), "tags", json_object_get(x, "tags"));
}

int h_list_experiments(struct ereq *rq, json_t **ret, struct err *e)
{
	return page_of(rq, "fis-experiment", experiment_summary, "experiments", ret, e);
}

/* --- after a restart ----------------------------------------------------------------------- */

static void *recover_one(void *arg)
{
	_cleanup_free_ char *id = arg;
	pthread_mutex_lock(&E->lock);
	json_t *x = json_incref(json_object_get(store_objects(E->store), id));
	const char *name;
	json_t *a;
	struct err e = {0};
	bool clean = true;
	/* Every fault of the experiment, also one applied but not yet written in _applied. */
	for (int i = 0; i < 120; i++) {
		json_t *res = NULL;
		e = (struct err){0};
		if (vpc_call(jstr(x, "_region"), "ClearFaults", json_pack("{s:s}", "ExperimentId", id), &res, &e) == 0) {
			json_decref(res);
			break;
		}
		pthread_mutex_unlock(&E->lock);
		nanosleep(&(struct timespec){0, 500000000}, NULL);
		pthread_mutex_lock(&E->lock);
	}
	json_object_foreach(json_object_get(x, "_applied"), name, a)
	{
		e = (struct err){0};
		if (revert_hard(x, name, &e) < 0) {
			log_error("experiment %s: %s", id, e.msg);
			clean = false;
		}
	}
	json_object_foreach(json_object_get(x, "actions"), name, a)
	{
		const char *st = jstr(json_object_get(a, "state"), "status");
		if (!strcmp(st, "pending"))
			action_status(x, name, "cancelled", "Experiment was interrupted.");
		else if (!strcmp(st, "running") || !strcmp(st, "initiating") || !strcmp(st, "stopping"))
			action_status(x, name, "failed", "ec2d restarted while the action ran; it was undone.");
	}
	json_object_set_new(x, "endTime", json_real(now_s()));
	set_status(x, "failed", clean ? "ec2d restarted during the experiment: it was stopped and every fault removed."
				       : "ec2d restarted during the experiment: stopped, but a fault could not be undone (see ec2d's log).");
	e = (struct err){0};
	if (commit(id, x, &e) < 0)
		log_error("experiment %s: %s", id, e.msg);
	json_decref(x);
	pthread_mutex_unlock(&E->lock);
	return NULL;
}

void fis_recover(void)
{
	const char *id;
	json_t *o;
	json_object_foreach(store_objects(E->store), id, o)
	{
		const char *st = jstr(json_object_get(o, "state"), "status");
		if (strcmp(jstr(o, "_type"), "fis-experiment") ||
		    (strcmp(st, "pending") && strcmp(st, "initiating") && strcmp(st, "running") && strcmp(st, "stopping")))
			continue;
		pthread_t t;
		char *arg = strdup(id);
		if (pthread_create(&t, NULL, recover_one, arg) == 0)
			pthread_detach(t);
		else
			free(arg);
	}
}
