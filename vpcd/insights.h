/* Path analysis, as Reachability Analyzer (vpcd/insights.c). */
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
