/* Paging of describe calls, as EC2 does it: MaxResults 5 to 1000 (0 or absent: everything),
 * NextToken an opaque string (here the decimal index of the next item in the call's stable
 * order). One implementation for vpcd's and ec2d's describe calls. */
#pragma once
#include <jansson.h>
#include "err.h"

/* Reads MaxResults and NextToken from `params`. MaxResults may be a JSON integer or a decimal
 * string (the CLI's JSON and the Query API's form both reach here). On failure
 * InvalidParameterValue or InvalidNextToken, and the out-parameters are untouched. */
int page_params(json_t *params, long long *ret_max, long long *ret_start, struct err *e);
/* The page of `all` (borrowed) from `start`, at most `max` items (0: all): a new array, and in
 * *ret_next a new token string for the rest, or NULL when this is the last page. */
json_t *page_slice(json_t *all, long long max, long long start, json_t **ret_next);
/* The token that resumes at index `next`. */
json_t *page_token(long long next);
