/* Launch templates: CreateLaunchTemplate, DescribeLaunchTemplates, ModifyLaunchTemplate,
 * DeleteLaunchTemplate, CreateLaunchTemplateVersion, DescribeLaunchTemplateVersions,
 * DeleteLaunchTemplateVersions, and the template's data under RunInstances' own parameters.
 * A template is a record in ec2d's store (type "launch-template", journaled as instances and
 * key pairs are), named uniquely in its region, its versions in `_versions` by number. The data
 * is kept as given (RequestLaunchTemplateData); nothing becomes a kernel object until
 * RunInstances launches from it (docs/launch_templates.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "b64.h"
#include "cleanup.h"
#include "ec2d.h"
#include "filter.h"

#define CREATED_BY "arn:aws:iam::" OWNER_ID ":root"

static json_t *lt_by_name(const char *region, const char *name)
{
	const char *id;
	json_t *o;
	json_object_foreach(store_objects(E->store), id, o)
	{
		if (!strcmp(jstr(o, "_type"), "launch-template") && !strcmp(jstr(o, "_region"), region) &&
		    !strcmp(jstr(o, "LaunchTemplateName"), name))
			return o;
	}
	return NULL;
}

static json_t *lt_by_id(const char *region, const char *id)
{
	json_t *o = json_object_get(store_objects(E->store), id);
	if (strcmp(jstr(o, "_type"), "launch-template") || strcmp(jstr(o, "_region"), region))
		return NULL;
	return o;
}

/* LaunchTemplateName: 3 to 128 of a-zA-Z0-9().-/_, as EC2 takes it. */
static int check_name(const char *name, struct err *e)
{
	size_t n = strlen(name);
	bool good = n >= 3 && n <= 128;
	for (const char *p = name; good && *p; p++)
		good = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		       strchr("().-/_", *p);
	if (!good)
		return err_set(e, "InvalidLaunchTemplateName.MalformedException",
			       "A launch template name must be between 3 and 128 characters, and may contain letters, numbers, and the following characters: - ( ) . / _.' ('%s')",
			       name);
	return 0;
}

/* The template a request names by LaunchTemplateId or LaunchTemplateName (exactly one). */
static int lt_find(const char *region, json_t *params, json_t **ret, struct err *e)
{
	const char *id = jstr(params, "LaunchTemplateId"), *name = jstr(params, "LaunchTemplateName");
	if (*id && *name)
		return err_set(e, "InvalidParameterCombination",
			       "Both a launch template ID and a launch template name were specified. Specify only one.");
	if (!*id && !*name)
		return err_set(e, "MissingParameter",
			       "The request must contain the parameter LaunchTemplateName or LaunchTemplateId");
	json_t *lt;
	if (*id) {
		if (id_check(id, "lt") < 0)
			return err_set(e, "InvalidLaunchTemplateId.Malformed",
				       "The specified ID for the launch template is not valid: '%s'", id);
		if (!(lt = lt_by_id(region, id)))
			return err_set(e, "InvalidLaunchTemplateId.NotFound",
				       "The specified launch template, with template ID %s, does not exist.", id);
	} else if (!(lt = lt_by_name(region, name))) {
		return err_set(e, "InvalidLaunchTemplateName.NotFoundException",
			       "The specified launch template, with template name %s, does not exist.", name);
	}
	*ret = lt;
	return 0;
}

/* A version string ($Latest, $Default or a number) as a number; 0 if it is none. */
static long long version_number(json_t *lt, const char *v)
{
	if (!v || !*v || !strcmp(v, "$Default"))
		return json_integer_value(json_object_get(lt, "DefaultVersionNumber"));
	if (!strcmp(v, "$Latest"))
		return json_integer_value(json_object_get(lt, "LatestVersionNumber"));
	char *end;
	long long n = strtoll(v, &end, 10);
	return (*end || n < 1) ? 0 : n;
}

static json_t *version_get(json_t *lt, long long n)
{
	char key[24];
	snprintf(key, sizeof(key), "%lld", n);
	return json_object_get(json_object_get(lt, "_versions"), key);
}

static int version_find(json_t *lt, const char *v, json_t **ret, struct err *e)
{
	long long n = version_number(lt, v);
	json_t *ver = n ? version_get(lt, n) : NULL;
	if (!ver)
		return err_set(e, "InvalidLaunchTemplateId.VersionNotFound",
			       "Could not find launch template version '%s' for template %s.", v && *v ? v : "$Default",
			       jstr(lt, "LaunchTemplateId"));
	*ret = ver;
	return 0;
}

static json_t *lt_public(json_t *lt)
{
	json_t *pub = json_object(), *v;
	const char *k;
	json_object_foreach(lt, k, v) if (k[0] != '_') json_object_set(pub, k, v);
	return pub;
}

static json_t *version_public(json_t *lt, json_t *ver)
{
	json_t *pub = json_deep_copy(ver);
	json_object_set_new(pub, "LaunchTemplateId", json_string(jstr(lt, "LaunchTemplateId")));
	json_object_set_new(pub, "LaunchTemplateName", json_string(jstr(lt, "LaunchTemplateName")));
	json_object_set_new(pub, "DefaultVersion",
			    json_boolean(json_integer_value(json_object_get(ver, "VersionNumber")) ==
					 json_integer_value(json_object_get(lt, "DefaultVersionNumber"))));
	return pub;
}

/* The data's checks EC2 makes when it is stored: only shapes; IDs are checked at launch. */
static int check_data(json_t *data, struct err *e)
{
	if (!json_is_object(data))
		return err_set(e, "MissingParameter", "The request must contain the parameter LaunchTemplateData");
	const char *ud = jstr(data, "UserData");
	if (*ud) {
		size_t n;
		_cleanup_free_ unsigned char *raw = b64_decode(ud, &n);
		if (!raw)
			return err_set(e, "InvalidUserData.Malformed", "Invalid BASE64 encoding of user data.");
	}
	size_t i;
	json_t *ts;
	json_array_foreach(json_object_get(data, "TagSpecifications"), i, ts)
	{
		const char *rt = jstr(ts, "ResourceType");
		if (strcmp(rt, "instance") && strcmp(rt, "network-interface") && strcmp(rt, "volume"))
			return err_set(e, "InvalidParameterValue",
				       "'%s' is not a valid taggable resource type for this operation.", rt);
	}
	return 0;
}

static json_t *version_new(long long n, const char *desc, json_t *data)
{
	char when[32];
	time_iso(when);
	json_t *v = json_pack("{s:I, s:s, s:s, s:O}", "VersionNumber", (json_int_t)n, "CreateTime", when, "CreatedBy",
			      CREATED_BY, "LaunchTemplateData", data);
	if (desc && *desc)
		json_object_set_new(v, "VersionDescription", json_string(desc));
	return v;
}

static int commit_lt(const char *id, json_t *lt, struct err *e)
{
	_cleanup_json_ json_t *ch = json_object();
	json_object_set(ch, id, lt ? lt : json_null());
	return state_commit(ch, e);
}

static bool dry_run(struct ereq *rq)
{
	return json_is_true(json_object_get(rq->params, "DryRun"));
}

#define DRY_RUN(e) err_set(e, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")

int h_create_launch_template(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *name = jstr(rq->params, "LaunchTemplateName");
	json_t *data = json_object_get(rq->params, "LaunchTemplateData");
	_cleanup_json_ json_t *tags = NULL;
	int r;
	if (!*name)
		return err_set(e, "MissingParameter", "The request must contain the parameter LaunchTemplateName");
	if ((r = check_name(name, e)) < 0 || (r = check_data(data, e)) < 0 || (r = tag_specs_of(rq->params, "launch-template", &tags, e)) < 0)
		return r;
	if (lt_by_name(rq->region, name))
		return err_set(e, "InvalidLaunchTemplateName.AlreadyExistsException",
			       "Launch template name already in use: '%s'", name);
	if (dry_run(rq))
		return DRY_RUN(e);
	char id[ID_MAX], when[32];
	id_make(&E->ids, "lt", id);
	time_iso(when);
	_cleanup_json_ json_t *lt = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:O, s:{s:o}}", "_type", "launch-template", "_region",
		rq->region, "LaunchTemplateId", id, "LaunchTemplateName", name, "CreateTime", when, "CreatedBy",
		CREATED_BY, "DefaultVersionNumber", 1, "LatestVersionNumber", 1, "Tags", tags, "_versions", "1",
		version_new(1, jstr(rq->params, "VersionDescription"), data));
	if ((r = commit_lt(id, lt, e)) < 0)
		return r;
	*ret = json_pack("{s:o}", "LaunchTemplate", lt_public(lt));
	return 0;
}

static const struct filter_map lt_filters[] = {{"launch-template-name", "LaunchTemplateName"},
					       {"create-time", "CreateTime"},
					       {NULL, NULL}};

int h_describe_launch_templates(struct ereq *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *ids = jlist(rq->params, "LaunchTemplateIds");
	_cleanup_json_ json_t *names = jlist(rq->params, "LaunchTemplateNames");
	_cleanup_json_ json_t *filters = jlist(rq->params, "Filters");
	size_t i;
	json_t *v, *o;
	int r;
	if ((r = filters_check(filters, lt_filters, e)) < 0)
		return r;
	json_array_foreach(ids, i, v)
	{
		const char *id = json_string_value(v) ?: "";
		if (id_check(id, "lt") < 0)
			return err_set(e, "InvalidLaunchTemplateId.Malformed",
				       "The specified ID for the launch template is not valid: '%s'", id);
		if (!lt_by_id(rq->region, id))
			return err_set(e, "InvalidLaunchTemplateId.NotFound",
				       "The specified launch template, with template ID %s, does not exist.", id);
	}
	json_array_foreach(names, i, v) if (!lt_by_name(rq->region, json_string_value(v) ?: ""))
		return err_set(e, "InvalidLaunchTemplateName.NotFoundException",
			       "At least one of the launch templates specified in the request does not exist. ('%s')",
			       json_string_value(v) ?: "");
	if (dry_run(rq))
		return DRY_RUN(e);
	json_t *out = json_array();
	const char *id;
	json_object_foreach(store_objects(E->store), id, o)
	{
		if (strcmp(jstr(o, "_type"), "launch-template") || strcmp(jstr(o, "_region"), rq->region) ||
		    (json_array_size(ids) && !jlist_has(ids, id)) ||
		    (json_array_size(names) && !jlist_has(names, jstr(o, "LaunchTemplateName"))))
			continue;
		json_t *pub = lt_public(o);
		if (filters_match(pub, filters, lt_filters))
			json_array_append(out, pub);
		json_decref(pub);
	}
	*ret = json_pack("{s:o}", "LaunchTemplates", out);
	return 0;
}

int h_modify_launch_template(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *lt;
	int r;
	if ((r = lt_find(rq->region, rq->params, &lt, e)) < 0)
		return r;
	const char *dv = jstr(rq->params, "DefaultVersion");
	if (!*dv)
		dv = jstr(rq->params, "SetDefaultVersion");
	json_t *ver = NULL;
	if (*dv && (r = version_find(lt, dv, &ver, e)) < 0)
		return r;
	if (dry_run(rq))
		return DRY_RUN(e);
	_cleanup_json_ json_t *nlt = json_deep_copy(lt);
	if (ver)
		json_object_set(nlt, "DefaultVersionNumber", json_object_get(ver, "VersionNumber"));
	if ((r = commit_lt(jstr(nlt, "LaunchTemplateId"), nlt, e)) < 0)
		return r;
	*ret = json_pack("{s:o}", "LaunchTemplate", lt_public(nlt));
	return 0;
}

int h_delete_launch_template(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *lt;
	int r;
	if ((r = lt_find(rq->region, rq->params, &lt, e)) < 0)
		return r;
	if (dry_run(rq))
		return DRY_RUN(e);
	json_t *pub = lt_public(lt);
	char id[ID_MAX];
	snprintf(id, sizeof(id), "%s", jstr(lt, "LaunchTemplateId"));
	if ((r = commit_lt(id, NULL, e)) < 0) {
		json_decref(pub);
		return r;
	}
	*ret = json_pack("{s:o}", "LaunchTemplate", pub);
	return 0;
}

int h_create_launch_template_version(struct ereq *rq, json_t **ret, struct err *e)
{
	json_t *lt, *data = json_object_get(rq->params, "LaunchTemplateData");
	int r;
	if ((r = check_data(data, e)) < 0 || (r = lt_find(rq->region, rq->params, &lt, e)) < 0)
		return r;
	/* SourceVersion: the new version is that one's data with the given keys replaced. */
	_cleanup_json_ json_t *merged = NULL;
	const char *src = jstr(rq->params, "SourceVersion");
	if (*src) {
		json_t *sv;
		if ((r = version_find(lt, src, &sv, e)) < 0)
			return r;
		merged = json_deep_copy(json_object_get(sv, "LaunchTemplateData"));
		json_object_update(merged, data);
	} else {
		merged = json_incref(data);
	}
	if (dry_run(rq))
		return DRY_RUN(e);
	_cleanup_json_ json_t *nlt = json_deep_copy(lt);
	long long n = json_integer_value(json_object_get(lt, "LatestVersionNumber")) + 1;
	char key[24];
	snprintf(key, sizeof(key), "%lld", n);
	json_t *ver = version_new(n, jstr(rq->params, "VersionDescription"), merged);
	json_object_set_new(json_object_get(nlt, "_versions"), key, ver);
	json_object_set_new(nlt, "LatestVersionNumber", json_integer(n));
	if ((r = commit_lt(jstr(nlt, "LaunchTemplateId"), nlt, e)) < 0)
		return r;
	*ret = json_pack("{s:o}", "LaunchTemplateVersion", version_public(nlt, ver));
	return 0;
}

static int cmp_version(const void *a, const void *b)
{
	long long x = json_integer_value(json_object_get(*(json_t *const *)a, "VersionNumber"));
	long long y = json_integer_value(json_object_get(*(json_t *const *)b, "VersionNumber"));
	return (x > y) - (x < y);
}

int h_describe_launch_template_versions(struct ereq *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *versions = jlist(rq->params, "Versions");
	json_t *lt, *v;
	size_t i;
	int r;
	if ((r = lt_find(rq->region, rq->params, &lt, e)) < 0)
		return r;
	json_array_foreach(versions, i, v)
	{
		json_t *ver;
		if ((r = version_find(lt, json_string_value(v) ?: "", &ver, e)) < 0)
			return r;
	}
	const char *mins = jstr(rq->params, "MinVersion"), *maxs = jstr(rq->params, "MaxVersion");
	long long lo = *mins ? version_number(lt, mins) : 1, hi = *maxs ? version_number(lt, maxs) : (1LL << 62);
	if ((*mins && !lo) || (*maxs && !hi))
		return err_set(e, "InvalidParameterValue", "MinVersion and MaxVersion are version numbers ('%s', '%s')",
			       mins, maxs);
	if (dry_run(rq))
		return DRY_RUN(e);
	/* Sorted by number, each once (Versions may name one twice: $Latest and its number). */
	size_t n = json_object_size(json_object_get(lt, "_versions")), k = 0;
	json_t **all = calloc(n ? n : 1, sizeof(*all));
	if (!all)
		return err_set(e, "InternalError", "out of memory");
	const char *key;
	json_object_foreach(json_object_get(lt, "_versions"), key, v) all[k++] = v;
	qsort(all, k, sizeof(*all), cmp_version);
	json_t *out = json_array();
	for (i = 0; i < k; i++) {
		long long num = json_integer_value(json_object_get(all[i], "VersionNumber"));
		bool want = num >= lo && num <= hi;
		if (want && json_array_size(versions)) {
			size_t j;
			want = false;
			json_array_foreach(versions, j, v) want |= version_number(lt, json_string_value(v) ?: "") == num;
		}
		if (want)
			json_array_append_new(out, version_public(lt, all[i]));
	}
	free(all);
	*ret = json_pack("{s:o}", "LaunchTemplateVersions", out);
	return 0;
}

int h_delete_launch_template_versions(struct ereq *rq, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *versions = jlist(rq->params, "Versions");
	json_t *lt, *v;
	size_t i;
	int r;
	if (!json_array_size(versions))
		return err_set(e, "MissingParameter", "The request must contain the parameter LaunchTemplateVersion");
	if ((r = lt_find(rq->region, rq->params, &lt, e)) < 0)
		return r;
	if (dry_run(rq))
		return DRY_RUN(e);
	_cleanup_json_ json_t *nlt = json_deep_copy(lt);
	json_t *ok = json_array(), *bad = json_array();
	json_t *vs = json_object_get(nlt, "_versions");
	long long def = json_integer_value(json_object_get(nlt, "DefaultVersionNumber"));
	json_array_foreach(versions, i, v)
	{
		const char *s = json_string_value(v) ?: "";
		long long n = version_number(nlt, s);
		const char *code = NULL, *msg = NULL;
		char key[24];
		snprintf(key, sizeof(key), "%lld", n);
		if (!n || !json_object_get(vs, key))
			code = "launchTemplateVersionDoesNotExist", msg = "The specified launch template version does not exist.";
		else if (n == def)
			code = "launchTemplateVersionDoesNotExist",
			msg = "Cannot delete the default version of a launch template: delete the template, or set another version as the default first.";
		json_t *row = json_pack("{s:s, s:s}", "LaunchTemplateId", jstr(nlt, "LaunchTemplateId"), "LaunchTemplateName",
					jstr(nlt, "LaunchTemplateName"));
		if (n)
			json_object_set_new(row, "VersionNumber", json_integer(n));
		if (code) {
			json_object_set_new(row, "ResponseError", json_pack("{s:s, s:s}", "Code", code, "Message", msg));
			json_array_append_new(bad, row);
			continue;
		}
		json_object_del(vs, key);
		json_array_append_new(ok, row);
	}
	/* The latest version stays the highest number left (EC2 never reuses numbers: the counter
	 * is kept, so the next version continues after the deleted ones). */
	if (json_array_size(ok) && (r = commit_lt(jstr(nlt, "LaunchTemplateId"), nlt, e)) < 0) {
		json_decref(ok), json_decref(bad);
		return r;
	}
	*ret = json_pack("{s:o, s:o}", "SuccessfullyDeletedLaunchTemplateVersions", ok,
			 "UnsuccessfullyDeletedLaunchTemplateVersions", bad);
	return 0;
}

/* RunInstances' LaunchTemplate: the version's data under the request's own parameters. A
 * parameter the request gives replaces the template's whole (NetworkInterfaces included: the
 * interface checks of RunInstances then apply to the result, as in EC2, where a template's
 * interface and a request's SubnetId are InvalidParameterCombination); tags are merged by
 * resource type and key, the request's winning, and the instance is tagged
 * aws:ec2launchtemplate:id and :version as EC2 tags it. */
int launch_template_params(const char *region, json_t *params, json_t **ret, struct err *e)
{
	json_t *spec = json_object_get(params, "LaunchTemplate"), *lt, *ver;
	int r;
	if (!json_is_object(spec))
		return err_set(e, "InvalidParameterValue", "LaunchTemplate must name a launch template");
	if ((r = lt_find(region, spec, &lt, e)) < 0 || (r = version_find(lt, jstr(spec, "Version"), &ver, e)) < 0)
		return r;
	json_t *data = json_object_get(ver, "LaunchTemplateData");
	json_t *out = json_deep_copy(params), *v;
	const char *k;
	json_object_del(out, "LaunchTemplate");
	static const char *const keys[] = {"ImageId",  "InstanceType",      "KeyName",
					   "UserData", "SecurityGroupIds",  "NetworkInterfaces",
					   "IamInstanceProfile", NULL};
	for (const char *const *p = keys; *p; p++) {
		v = json_object_get(data, *p);
		if (v && !json_object_get(out, *p))
			json_object_set(out, *p, v);
	}
	/* Tags: resource type -> {key: value}, the template's first. */
	_cleanup_json_ json_t *bytype = json_object();
	json_t *lists[2] = {json_object_get(data, "TagSpecifications"), json_object_get(params, "TagSpecifications")};
	for (int l = 0; l < 2; l++) {
		size_t i, j;
		json_t *ts, *t;
		json_array_foreach(lists[l], i, ts)
		{
			const char *rt = jstr(ts, "ResourceType");
			if (!json_object_get(bytype, rt))
				json_object_set_new(bytype, rt, json_array());
			json_t *arr = json_object_get(bytype, rt);
			json_array_foreach(json_object_get(ts, "Tags"), j, t)
			{
				size_t m;
				json_t *old;
				json_array_foreach(arr, m, old) if (!strcmp(jstr(old, "Key"), jstr(t, "Key")))
				{
					json_array_remove(arr, m);
					break;
				}
				json_array_append(arr, t);
			}
		}
	}
	if (!json_object_get(bytype, "instance"))
		json_object_set_new(bytype, "instance", json_array());
	char num[24];
	snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(json_object_get(ver, "VersionNumber")));
	json_array_append_new(json_object_get(bytype, "instance"),
			      json_pack("{s:s, s:s}", "Key", "aws:ec2launchtemplate:id", "Value", jstr(lt, "LaunchTemplateId")));
	json_array_append_new(json_object_get(bytype, "instance"),
			      json_pack("{s:s, s:s}", "Key", "aws:ec2launchtemplate:version", "Value", num));
	json_t *specs = json_array();
	json_object_foreach(bytype, k, v) json_array_append_new(specs, json_pack("{s:s, s:O}", "ResourceType", k, "Tags", v));
	json_object_set_new(out, "TagSpecifications", specs);
	*ret = out;
	return 0;
}
