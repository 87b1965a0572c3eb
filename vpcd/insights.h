/* Path analysis, as Reachability Analyzer (vpcd/insights.c, docs/insights.md). */
#pragma once
#include <jansson.h>
#include "err.h"
struct req;
int h_create_network_insights_path(struct req *, json_t **, struct err *);
int h_describe_network_insights_paths(struct req *, json_t **, struct err *);
int h_delete_network_insights_path(struct req *, json_t **, struct err *);
int h_start_network_insights_analysis(struct req *, json_t **, struct err *);
int h_describe_network_insights_analyses(struct req *, json_t **, struct err *);
int h_delete_network_insights_analysis(struct req *, json_t **, struct err *);
/* The lab verb `explain`: one analysis of an unsaved path, in plain words (and proven with
 * --prove). Nothing is stored. */
int h_explain(struct req *, json_t **, struct err *);
/* The CLI side of `explain`: prints the answer as sentences, and empties it. */
void insights_present(json_t *result);
