/* libFuzzer target: a query string or form body as a client sends it, through
 * api_form_parse and api_params_from_query for one of the actions of the EC2, STS and IAM
 * models (chosen by the first byte), then the params through the XML writer as if they were
 * a result, and the raw bytes through the service's error document. Built and run by
 * tests/fuzz/run. */
#include "api.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const services[] = {"ec2", "sts", "iam"};
static struct api_model *models[3];

static void check_err(int r, const struct err *e)
{
	/* Every refusal carries an EC2 code and a message. */
	if (r < 0 && (!e->code[0] || !e->msg[0]))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = {0};
	json_t *kv = NULL, *params = NULL;
	const char *action;
	int r;

	size_t total = 0;
	for (size_t i = 0; i < 3; i++) {
		if (!models[i] && api_model_load_service(services[i], &models[i], &e) < 0)
			abort();
		total += api_model_action_count(models[i]);
	}
	if (size < 1)
		return 0;
	size_t k = data[0] % total, s = 0;
	while (k >= api_model_action_count(models[s]))
		k -= api_model_action_count(models[s++]);
	struct api_model *model = models[s];
	action = api_model_action_name(model, k);

	r = api_form_parse((const char *)data + 1, size - 1, &kv, &e);
	check_err(r, &e);
	if (r == 0) {
		err_clear(&e);
		r = api_params_from_query(model, action, kv, &params, &e);
		check_err(r, &e);
		if ((r == 0) != (params != NULL))
			abort();
	}
	if (params) {
		char *xml = NULL;
		size_t len = 0;
		err_clear(&e);
		r = api_xml_response(model, action, params, "fuzz", &xml, &len, &e);
		check_err(r, &e);
		if (r == 0 && (!xml || strlen(xml) != len))
			abort();
		free(xml);
	}
	{
		char *msg = strndup((const char *)data + 1, size - 1);
		char *xml = msg ? api_xml_error_for(model, e.code[0] ? e.code : "X", msg, msg) : NULL;
		if (msg && !xml)
			abort();
		free(xml);
		free(msg);
	}
	json_decref(params);
	json_decref(kv);
	return 0;
}
