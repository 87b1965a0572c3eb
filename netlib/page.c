#include "page.h"
#include <stdio.h>
#include <stdlib.h>

int page_params(json_t *params, long long *ret_max, long long *ret_start, struct err *e)
{
	json_t *m = json_object_get(params, "MaxResults"), *t = json_object_get(params, "NextToken");
	long long max = 0, start = 0;
	char *end;

	if (json_is_integer(m))
		max = json_integer_value(m);
	else if (json_is_string(m)) {
		const char *s = json_string_value(m);
		max = strtoll(s, &end, 10);
		if (!*s || *end)
			return err_set(e, "InvalidParameterValue",
				       "Value for parameter MaxResults must be an integer");
	} else if (m && !json_is_null(m))
		return err_set(e, "InvalidParameterValue",
			       "Value for parameter MaxResults must be an integer");
	if (max && (max < 5 || max > 1000))
		return err_set(e, "InvalidParameterValue",
			       "Value ( %lld ) for parameter maxResults is invalid. Expecting a value "
			       "between 5 and 1000.",
			       max);
	if (t && !json_is_null(t)) {
		const char *s = json_is_string(t) ? json_string_value(t) : "";
		start = strtoll(s, &end, 10);
		if (!*s || *end || start < 0 || *s == '+' || *s == '-' || *s == ' ')
			return err_set(e, "InvalidNextToken", "The token '%s' is invalid", s);
	}
	*ret_max = max, *ret_start = start;
	return 0;
}

json_t *page_token(long long next)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", next);
	return json_string(buf);
}

json_t *page_slice(json_t *all, long long max, long long start, json_t **ret_next)
{
	json_t *out = json_array();
	long long n = (long long)json_array_size(all);
	*ret_next = NULL;
	for (long long i = start; i < n; i++) {
		if (max && (long long)json_array_size(out) == max) {
			*ret_next = page_token(i);
			break;
		}
		json_array_append(out, json_array_get(all, (size_t)i));
	}
	return out;
}
