/* The aws CLI's shorthand syntax for structured parameters:
 *   Name=vpc-id,Values=vpc-1,vpc-2
 *   ResourceType=vpc,Tags=[{Key=Name,Value=lab}]
 * and plain JSON when the text starts with '[' or '{'. Scalars stay strings; a key followed by
 * several comma-separated values (or a [list]) becomes an array. */
#pragma once
#include <jansson.h>
#include "err.h"

int shorthand_parse(const char *text, json_t **ret, struct err *e);
