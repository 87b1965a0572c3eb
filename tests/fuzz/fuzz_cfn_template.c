/* libFuzzer target: a CloudFormation template (YAML or JSON) through cfn_template_parse and,
 * when it parses, cfn_template_check, cfn_parameters, cfn_conditions, cfn_deps and cfn_eval of
 * every resource's properties (ec2d/cfn_template.c). A refusal is a ValidationError with a
 * message; nothing may crash, leak or recurse without bound (aliases, nesting).
 * Built and run by tests/fuzz/run; the corpus is replayed by meson (tests/ec2). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cfn_template.h"
#include "jsonx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void refused(const struct err *e)
{
	if (strcmp(e->code, "ValidationError") || !e->msg[0])
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = {0};
	json_t *t = NULL, *vals = NULL, *conds = NULL, *g = NULL;
	if (size > CFN_FILE_MAX)
		return 0;
	if (cfn_template_parse((const char *)data, size, &t, &e) < 0) {
		refused(&e);
		return 0;
	}
	if (cfn_template_check(t, &e) < 0) {
		refused(&e);
		goto out;
	}
	json_t *given = json_object();
	if (cfn_parameters(t, given, &vals, &e) < 0) {
		json_decref(given);
		goto out;
	}
	json_decref(given);
	json_object_set_new(vals, "AWS::Region", json_string("us-east-1"));
	json_t *azs = json_pack("[s, s]", "us-east-1a", "us-east-1b");
	struct cfn_ctx ctx = {.params = vals, .mappings = json_object_get(t, "Mappings"), .azs = azs, .template = t};
	if (cfn_conditions(t, &ctx, &conds, &e) == 0 && cfn_deps(t, conds, &g, &e) == 0) {
		const char *id;
		json_t *r;
		ctx.conditions = conds;
		json_object_foreach(json_object_get(t, "Resources"), id, r)
		{
			json_t *v = NULL;
			err_clear(&e);
			if (cfn_eval(json_object_get(r, "Properties"), &ctx, &v, &e) == 0)
				json_decref(v);
		}
	}
	json_decref(azs);
out:
	json_decref(g);
	json_decref(conds);
	json_decref(vals);
	json_decref(t);
	return 0;
}
