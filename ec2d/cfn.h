/* CloudFormation stacks (cfn.c): the Query API's actions on ec2d's socket, the engine that
 * makes a stack's resources through ec2d_dispatch, and `ec2d deploy`. docs/cloudformation.md. */
#pragma once
#include <jansson.h>
#include "ec2d.h"

int h_cfn_create_stack(struct ereq *, json_t **, struct err *);
int h_cfn_update_stack(struct ereq *, json_t **, struct err *);
int h_cfn_delete_stack(struct ereq *, json_t **, struct err *);
int h_cfn_describe_stacks(struct ereq *, json_t **, struct err *);
int h_cfn_describe_stack_events(struct ereq *, json_t **, struct err *);
int h_cfn_describe_stack_resources(struct ereq *, json_t **, struct err *);
int h_cfn_describe_stack_resource(struct ereq *, json_t **, struct err *);
int h_cfn_list_stacks(struct ereq *, json_t **, struct err *);
int h_cfn_list_stack_resources(struct ereq *, json_t **, struct err *);
int h_cfn_get_template(struct ereq *, json_t **, struct err *);
int h_cfn_get_template_summary(struct ereq *, json_t **, struct err *);
int h_cfn_validate_template(struct ereq *, json_t **, struct err *);
int h_cfn_create_change_set(struct ereq *, json_t **, struct err *);
int h_cfn_describe_change_set(struct ereq *, json_t **, struct err *);
int h_cfn_execute_change_set(struct ereq *, json_t **, struct err *);
int h_cfn_delete_change_set(struct ereq *, json_t **, struct err *);
int h_cfn_list_change_sets(struct ereq *, json_t **, struct err *);
int h_cfn_list_exports(struct ereq *, json_t **, struct err *);
/* At start: every stack operation a previous ec2d left running is finished or rolled back. */
void cfn_recover(void);
/* The CLI: `ec2d deploy ...`, and --template-body file://F read on the client side. */
int cmd_cfn_deploy(int argc, char **argv);
int cfn_prep(json_t *params, struct err *e);
