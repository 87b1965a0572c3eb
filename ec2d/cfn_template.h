/* CloudFormation templates as pure functions (cfn_template.c): YAML (libyaml's document API,
 * the short-form tags turned into their long forms) or JSON into one JSON tree; the checks
 * CloudFormation makes before anything is made (sections, resource types and properties,
 * intrinsic functions, references, dependency cycles); parameters and conditions; the
 * evaluation of intrinsic functions against what is made so far; the dependency graph. No
 * I/O, no lock: the stacks (cfn.c) call these, the unit tests and the fuzz target too.
 * docs/cloudformation.md lists what is supported. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "err.h"

/* What CloudFormation takes in a TemplateBody; a template file given to `ec2d deploy` may be
 * as large as one CloudFormation reads from S3. */
#define CFN_BODY_MAX 51200
#define CFN_FILE_MAX 460800

enum {
	CFN_REQUIRED = 1,  /* the resource cannot be made without it */
	CFN_UPDATABLE = 2, /* a change is made in place (no replacement), as AWS documents it */
};

struct cfn_prop {
	const char *name;
	unsigned flags;
};

struct cfn_type {
	const char *name;
	const struct cfn_prop *props; /* ends with {NULL} */
	const char *const *attrs;     /* Fn::GetAtt attributes; ends with NULL */
};

const struct cfn_type *cfn_type_get(const char *name);
const struct cfn_prop *cfn_prop_get(const struct cfn_type *t, const char *name);

/* YAML or JSON text (not NUL-terminated) into the template's JSON tree. Errors are
 * CloudFormation's ValidationError ("Template format error: YAML not well-formed. ..."). */
int cfn_template_parse(const char *text, size_t n, json_t **ret, struct err *e);

/* Every static check: sections, Parameters' declarations, Mappings, Conditions, resource
 * types and properties, intrinsic functions and their arguments' shapes, Ref/GetAtt/Sub
 * targets, DependsOn, cycles, Outputs. */
int cfn_template_check(json_t *t, struct err *e);

/* The values of the template's parameters: `given` ({key: string}) over the Defaults, checked
 * against Type and AllowedValues; List<...> and CommaDelimitedList become arrays. */
int cfn_parameters(json_t *t, json_t *given, json_t **ret, struct err *e);

/* What intrinsic functions are evaluated against. Borrowed. */
struct cfn_ctx {
	json_t *params;     /* parameter and pseudo-parameter name -> value */
	json_t *conditions; /* condition name -> bool (NULL while the conditions are evaluated) */
	json_t *mappings;
	json_t *resources; /* logical ID -> {"Ref": physical ID, "Attrs": {name: value}} */
	json_t *azs;       /* Fn::GetAZs' answer */
	json_t *exports;   /* export name -> value (Fn::ImportValue) */
	json_t *template;  /* for Condition names inside Conditions */
};

/* Every condition of the template, evaluated: {name: true|false}. */
int cfn_conditions(json_t *t, const struct cfn_ctx *ctx, json_t **ret, struct err *e);
/* `v` with every intrinsic function evaluated. *ret is NULL when `v` is Ref AWS::NoValue
 * (the caller drops the member). */
int cfn_eval(json_t *v, const struct cfn_ctx *ctx, json_t **ret, struct err *e);
/* The resources whose Condition holds (conds NULL: every one), each with the logical IDs it
 * depends on among those: {id: [ids]}. A cycle is CloudFormation's ValidationError. */
int cfn_deps(json_t *t, json_t *conds, json_t **ret, struct err *e);
/* Fn::Cidr: `count` blocks of 2^bits addresses out of `block`. */
int cfn_cidr(const char *block, long count, long bits, json_t **ret, struct err *e);
