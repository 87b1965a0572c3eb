/* netlib/page.h: MaxResults and NextToken, and the page they cut. */
#include <string.h>
#include <jansson.h>
#include "page.h"
#include "tap.h"

static void refused(const char *params, const char *code)
{
	json_t *p = json_loads(params, 0, NULL);
	long long max = -7, start = -7;
	struct err e = {0};
	int r = page_params(p, &max, &start, &e);
	ok(r < 0 && strcmp(e.code, code) == 0 && max == -7 && start == -7,
	   "%s: %s, out-parameters untouched", params, code);
	json_decref(p);
}

int main(void)
{
	long long max = -1, start = -1;
	struct err e = {0};
	json_t *p = json_object();
	is_int(page_params(p, &max, &start, &e), 0, "no MaxResults, no NextToken");
	ok(max == 0 && start == 0, "everything, from the start");
	json_decref(p);
	p = json_pack("{s:s, s:s}", "MaxResults", "5", "NextToken", "10");
	is_int(page_params(p, &max, &start, &e), 0, "MaxResults as a string (the CLI's form)");
	ok(max == 5 && start == 10, "max 5 from 10");
	json_decref(p);
	refused("{\"MaxResults\": 4}", "InvalidParameterValue");
	refused("{\"MaxResults\": 1001}", "InvalidParameterValue");
	refused("{\"MaxResults\": \"five\"}", "InvalidParameterValue");
	refused("{\"MaxResults\": [5]}", "InvalidParameterValue");
	refused("{\"NextToken\": \"\"}", "InvalidNextToken");
	refused("{\"NextToken\": \"-1\"}", "InvalidNextToken");
	refused("{\"NextToken\": \"12x\"}", "InvalidNextToken");
	refused("{\"NextToken\": 3}", "InvalidNextToken");

	/* 12 items in pages of 5: 5, 5, 2, each item once, the last page without a token. */
	json_t *all = json_array();
	for (int i = 0; i < 12; i++)
		json_array_append_new(all, json_integer(i));
	json_t *seen = json_array(), *next = NULL;
	int pages = 0;
	long long at = 0;
	bool sizes_ok = true;
	do {
		json_t *page = page_slice(all, 5, at, &next);
		size_t want = pages < 2 ? 5 : 2;
		sizes_ok &= json_array_size(page) == want;
		json_array_extend(seen, page);
		json_decref(page);
		pages++;
		if (next) {
			json_t *q = json_pack("{s:O}", "NextToken", next);
			long long m;
			sizes_ok &= page_params(q, &m, &at, &e) == 0;
			json_decref(q);
			json_decref(next);
		}
	} while (next && pages < 10);
	is_int(pages, 3, "three pages");
	ok(sizes_ok, "of 5, 5 and 2, each token accepted");
	is_json(seen, all, "every item once, in order");
	json_t *whole = page_slice(all, 0, 0, &next);
	ok(json_equal(whole, all) && !next, "max 0: one page, no token");
	json_decref(whole);
	json_t *past = page_slice(all, 5, 40, &next);
	ok(json_array_size(past) == 0 && !next, "a token past the end: an empty last page");
	json_decref(past);
	json_decref(seen);
	json_decref(all);
	return done();
}
