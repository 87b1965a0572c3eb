#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "filter.h"
#include "page.h"
#include "vpcd.h"

int describe(struct req *rq, const char *type, const char *ids_param, const char *id_key,
	     const char *notfound_code, const char *notfound_name, const struct filter_map *map,
	     void (*decorate)(json_t *pub, json_t *o), json_t **ret, json_t **ret_token,
	     struct err *e)
{
	_cleanup_json_ json_t *ids = ids_param ? param_list(rq->params, ids_param) : json_array();
	_cleanup_json_ json_t *filters = param_list(rq->params, "Filters");
	_cleanup_json_ json_t *out = json_array();
	long long max, start = 0;
	const char *id;
	size_t i;
	json_t *v, *o;
	int r;

	r = filters_check(filters, map, e);
	if (r < 0)
		return r;
	json_array_foreach(ids, i, v)
	{
		o = obj_get_type(json_string_value(v), type);
		if (!o || (strcmp(jstr(o, "_region"), rq->region) != 0 &&
			   strcmp(jstr(o, "_peer_region"), rq->region) != 0))
			return err_set(e, notfound_code, "The %s '%s' does not exist", notfound_name,
				       json_string_value(v) ?: "");
	}
	r = page_params(rq->params, &max, &start, e);
	if (r < 0)
		return r;
	if (max && ids && json_array_size(ids))
		return err_set(e, "InvalidParameterCombination",
			       "The parameter %s cannot be used with the parameter maxResults",
			       ids_param);
	long long seen = 0;
	json_t *next = NULL;
	obj_foreach(type, NULL, id, o)
	{
		/* An object belongs to its region; a peering also to its accepter's. */
		if (strcmp(jstr(o, "_region"), rq->region) != 0 && strcmp(jstr(o, "_peer_region"), rq->region) != 0)
			continue;
		if (json_array_size(ids)) {
			bool want = false;
			json_array_foreach(ids, i, v) want |= strcmp(json_string_value(v), id) == 0;
			if (!want)
				continue;
		}
		json_t *pub = obj_public(o);
		if (decorate)
			decorate(pub, o);
		if (!filters_match(pub, filters, map)) {
			json_decref(pub);
			continue;
		}
		if (seen++ < start) {
			json_decref(pub);
			continue;
		}
		if (max && (long long)json_array_size(out) >= max) {
			json_decref(pub);
			next = page_token(seen - 1);
			break;
		}
		json_array_append_new(out, pub);
	}
	(void)id_key;
	*ret = TAKE_PTR(out);
	if (ret_token)
		*ret_token = next;
	else
		json_decref(next);
	return 0;
}
