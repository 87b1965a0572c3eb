/* The models: botocore's shapes for the actions in actions.txt (EC2, model.json) and
 * actions-sts.txt, actions-iam.txt, actions-fis.txt (model-sts.json, model-iam.json,
 * model-fis.json), compiled in (embedded by embed.py). Shapes are looked up by name in the parsed JSON; nothing is copied
 * out of it, so every shape pointer lives as long as the model. */
#include "internal.h"
#include "cleanup.h"
#include <errno.h>
#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>

extern const unsigned char api_model_json[], api_model_sts_json[], api_model_iam_json[],
    api_model_fis_json[], api_model_logs_json[], api_model_cloudformation_json[];
extern const size_t api_model_json_len, api_model_sts_json_len, api_model_iam_json_len,
    api_model_fis_json_len, api_model_logs_json_len, api_model_cloudformation_json_len;

/* The services, by SigV4 signing name, each with its part of botocore's model. */
static const struct {
	const char *name;
	const unsigned char *json;
	const size_t *len;
} services[] = {
	{"ec2", api_model_json, &api_model_json_len},
	{"sts", api_model_sts_json, &api_model_sts_json_len},
	{"iam", api_model_iam_json, &api_model_iam_json_len},
	{"fis", api_model_fis_json, &api_model_fis_json_len},
	{"logs", api_model_logs_json, &api_model_logs_json_len}, /* actions-logs.txt */
	{"cloudformation", api_model_cloudformation_json, &api_model_cloudformation_json_len}, /* actions-cloudformation.txt */
};

struct api_model {
	json_t *root;
	json_t *operations;
	json_t *shapes;
	const char **actions; /* sorted, borrowed from `operations` */
	size_t nactions;
	const char *service, *protocol, *xmlns;
};

void api_model_free(struct api_model *m)
{
	if (!m)
		return;
	free(m->actions);
	json_decref(m->root);
	free(m);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int api_model_load(struct api_model **ret, struct err *e)
{
	return api_model_load_service("ec2", ret, e);
}

int api_model_load_service(const char *service, struct api_model **ret, struct err *e)
{
	_cleanup_(api_model_freep) struct api_model *m = calloc(1, sizeof(*m));
	json_error_t je;
	const char *name;
	json_t *op;
	size_t i = 0, s;

	for (s = 0; s < sizeof(services) / sizeof(services[0]); s++)
		if (!strcmp(services[s].name, service))
			break;
	if (s == sizeof(services) / sizeof(services[0]))
		return err_setr(e, -ENOENT, "InternalError", "There is no model of the service '%s'", service);
	if (!m)
		return err_setr(e, -ENOMEM, "InternalError", "Out of memory loading the %s model", service);
	/* libxml2 wants its one-time set-up done before threads use it; the daemon loads the
	 * models once, early. */
	xmlInitParser();
	m->root = json_loadb((const char *)services[s].json, *services[s].len, 0, &je);
	if (!m->root)
		return err_setr(e, -EINVAL, "InternalError",
				"The embedded %s model does not parse: '%s'", service, je.text);
	m->operations = json_object_get(m->root, "operations");
	m->shapes = json_object_get(m->root, "shapes");
	json_t *meta = json_object_get(m->root, "metadata");
	m->service = services[s].name;
	m->protocol = json_string_value(json_object_get(meta, "protocol"));
	m->xmlns = json_string_value(json_object_get(meta, "xmlNamespace"));
	/* rest-json (FIS) and json (CloudWatch Logs) have no XML namespace: their answers are
	 * JSON (rest.c). */
	bool json = m->protocol && (!strcmp(m->protocol, "rest-json") || !strcmp(m->protocol, "json"));
	if (!json_is_object(m->operations) || !json_is_object(m->shapes) || !m->protocol ||
	    (strcmp(m->protocol, "ec2") && strcmp(m->protocol, "query") && !json) ||
	    (!m->xmlns && !json))
		return err_setr(e, -EINVAL, "InternalError",
				"The embedded %s model has no 'operations', 'shapes', or a protocol this codec writes",
				service);
	m->nactions = json_object_size(m->operations);
	m->actions = calloc(m->nactions ? m->nactions : 1, sizeof(*m->actions));
	if (!m->actions)
		return err_setr(e, -ENOMEM, "InternalError", "Out of memory loading the %s model", service);
	json_object_foreach(m->operations, name, op) m->actions[i++] = name;
	qsort(m->actions, m->nactions, sizeof(*m->actions), cmp_str);
	*ret = TAKE_PTR(m);
	return 0;
}

const char *api_model_service(const struct api_model *m)
{
	return m->service;
}

bool api_model_query_protocol(const struct api_model *m)
{
	return !strcmp(m->protocol, "query");
}

const char *api_model_protocol(const struct api_model *m)
{
	return m->protocol;
}

const char *api_model_version(const struct api_model *m)
{
	const char *v = json_string_value(json_object_get(json_object_get(m->root, "metadata"), "apiVersion"));
	return v ? v : "";
}

const char *api_model_target_prefix(const struct api_model *m)
{
	const char *v = json_string_value(json_object_get(json_object_get(m->root, "metadata"), "targetPrefix"));
	return v ? v : "";
}

const char *api_model_xmlns(const struct api_model *m)
{
	return m->xmlns ? m->xmlns : "";
}

const char *api_model_result_wrapper(const struct api_model *m, const char *action)
{
	json_t *out = json_object_get(json_object_get(m->operations, action), "output");
	return json_string_value(json_object_get(out, "resultWrapper"));
}

bool api_model_has_action(const struct api_model *m, const char *action)
{
	return action && json_is_object(json_object_get(m->operations, action));
}

size_t api_model_action_count(const struct api_model *m)
{
	return m->nactions;
}

const char *api_model_action_name(const struct api_model *m, size_t i)
{
	return i < m->nactions ? m->actions[i] : NULL;
}

const json_t *api_model_operation(const struct api_model *m, const char *action)
{
	const json_t *op = action ? json_object_get(m->operations, action) : NULL;
	return json_is_object(op) ? op : NULL;
}

const json_t *api_model_shape(const struct api_model *m, const char *name)
{
	const json_t *s = name ? json_object_get(m->shapes, name) : NULL;
	return json_is_object(s) ? s : NULL;
}

const json_t *api_model_ref_shape(const struct api_model *m, const json_t *ref)
{
	return api_model_shape(m, json_string_value(json_object_get(ref, "shape")));
}

static const json_t *op_shape(const struct api_model *m, const char *action, const char *io)
{
	if (!action)
		return NULL;
	return api_model_ref_shape(m, json_object_get(json_object_get(m->operations, action), io));
}

const json_t *api_model_input(const struct api_model *m, const char *action)
{
	return op_shape(m, action, "input");
}

const json_t *api_model_output(const struct api_model *m, const char *action)
{
	return op_shape(m, action, "output");
}

const char *api_shape_type(const json_t *shape)
{
	const char *t = json_string_value(json_object_get(shape, "type"));
	return t ? t : "";
}
