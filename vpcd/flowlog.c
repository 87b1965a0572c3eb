/* Flow logs (stub: being written). */
#include "vpcd.h"
#define STUB(f) int f(struct req *rq, json_t **ret, struct err *e) { (void)rq, (void)ret; return err_set(e, "InvalidAction", "not yet"); }
STUB(h_create_flow_logs)
STUB(h_describe_flow_logs)
STUB(h_delete_flow_logs)
