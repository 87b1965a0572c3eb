/* Path analysis (stub: being written). */
#include "vpcd.h"
#define STUB(f) int f(struct req *rq, json_t **ret, struct err *e) { (void)rq, (void)ret; return err_set(e, "InvalidAction", "not yet"); }
STUB(h_create_network_insights_path)
STUB(h_describe_network_insights_paths)
STUB(h_delete_network_insights_path)
STUB(h_start_network_insights_analysis)
STUB(h_describe_network_insights_analyses)
STUB(h_delete_network_insights_analysis)
