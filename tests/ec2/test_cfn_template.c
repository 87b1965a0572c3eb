/* Unit: CloudFormation templates (ec2d/cfn_template.c): YAML short and long forms and JSON
 * parse to the same tree; every intrinsic function evaluates as AWS documents it; parameters
 * (types, AllowedValues, defaults, lists); conditions; the dependency graph and its cycles; and
 * each malformed template refused with CloudFormation's ValidationError message. No daemon. TAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfn_template.h"
#include "cleanup.h"
#include "jsonx.h"

static int n, failed;

static void ok(int cond, const char *what)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++n, what);
	failed += !cond;
}

static json_t *parse(const char *text)
{
	struct err e = {0};
	json_t *t = NULL;
	if (cfn_template_parse(text, strlen(text), &t, &e) < 0) {
		printf("# parse: %s\n", e.msg);
		return NULL;
	}
	return t;
}

/* The template is refused (parse or check) with `want` in the message. */
static void refused(const char *text, const char *want, const char *what)
{
	struct err e = {0};
	json_t *t = NULL;
	int r = cfn_template_parse(text, strlen(text), &t, &e);
	if (r == 0)
		r = cfn_template_check(t, &e);
	int good = r < 0 && !strcmp(e.code, "ValidationError") && strstr(e.msg, want);
	ok(good, what);
	if (!good)
		printf("# wanted '%s', got %s '%s'\n", want, r < 0 ? e.code : "success", e.msg);
	json_decref(t);
}

/* `expr` (a YAML value) evaluated with P=a,b and the made resource V (vpc-1, CidrBlock). */
static json_t *eval(const char *expr)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "Parameters:\n  P: {Type: CommaDelimitedList, Default: 'a,b'}\n  N: {Type: Number, Default: 3}\n"
		 "Mappings:\n  M: {k1: {k2: found}}\nConditions:\n  Yes: !Equals [1, 1]\n  No: !Not [!Condition Yes]\n"
		 "Resources:\n  V:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: 10.0.0.0/16\n"
		 "Outputs:\n  O:\n    Value: %s\n",
		 expr);
	_cleanup_json_ json_t *t = parse(text), *vals = NULL, *conds = NULL, *res = NULL, *azs = NULL;
	struct err e = {0};
	json_t *v = NULL;
	if (!t || cfn_template_check(t, &e) < 0 || cfn_parameters(t, NULL, &vals, &e) < 0) {
		printf("# %s\n", e.msg);
		return NULL;
	}
	json_object_set_new(vals, "AWS::Region", json_string("us-east-1"));
	json_object_set_new(vals, "AWS::StackName", json_string("s"));
	res = json_pack("{s:{s:s, s:{s:s}}}", "V", "Ref", "vpc-1", "Attrs", "CidrBlock", "10.0.0.0/16");
	azs = json_pack("[s, s]", "us-east-1a", "us-east-1b");
	struct cfn_ctx ctx = {.params = vals, .mappings = json_object_get(t, "Mappings"), .resources = res, .azs = azs, .template = t};
	if (cfn_conditions(t, &ctx, &conds, &e) < 0) {
		printf("# %s\n", e.msg);
		return NULL;
	}
	ctx.conditions = conds;
	json_t *expr_v = json_object_get(json_object_get(json_object_get(t, "Outputs"), "O"), "Value");
	if (cfn_eval(expr_v, &ctx, &v, &e) < 0) {
		printf("# %s\n", e.msg);
		return NULL;
	}
	return v ? v : json_string("<NoValue>");
}

static void evals(const char *expr, const char *want_json, const char *what)
{
	_cleanup_json_ json_t *v = eval(expr), *want = json_loads(want_json, JSON_DECODE_ANY, NULL);
	int good = v && want && json_equal(v, want);
	ok(good, what);
	if (!good) {
		char *s = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
		printf("# %s: wanted %s, got %s\n", expr, want_json, s ? s : "(error)");
		free(s);
	}
}

int main(void)
{
	/* Short forms and long forms, YAML and JSON: one tree. */
	_cleanup_json_ json_t *a = parse("R: !GetAtt V.CidrBlock\nS: !Sub '${V}'\nT: !Ref V\n");
	_cleanup_json_ json_t *b = parse("R: {'Fn::GetAtt': [V, CidrBlock]}\nS: {'Fn::Sub': '${V}'}\nT: {Ref: V}\n");
	_cleanup_json_ json_t *c = parse("{\"R\": {\"Fn::GetAtt\": [\"V\", \"CidrBlock\"]}, \"S\": {\"Fn::Sub\": \"${V}\"}, \"T\": {\"Ref\": \"V\"}}");
	ok(a && b && c && json_equal(a, b) && json_equal(b, c), "short forms, long forms and JSON parse alike");
	_cleanup_json_ json_t *sc = parse("a: 80\nb: '80'\nc: true\nd: 0755\ne: 123456789012\nf: ~\n");
	ok(sc && json_integer_value(json_object_get(sc, "a")) == 80 && json_is_string(json_object_get(sc, "b")) &&
	       json_is_true(json_object_get(sc, "c")) && json_is_string(json_object_get(sc, "d")) &&
	       json_is_integer(json_object_get(sc, "e")) && json_is_null(json_object_get(sc, "f")),
	   "YAML scalars: plain integers and booleans typed, quoted ones and leading zeros strings");

	evals("!Ref V", "\"vpc-1\"", "Ref of a resource: its physical ID");
	evals("!Ref AWS::Region", "\"us-east-1\"", "Ref of a pseudo parameter");
	evals("!Ref P", "[\"a\", \"b\"]", "Ref of a CommaDelimitedList: a list");
	evals("!GetAtt V.CidrBlock", "\"10.0.0.0/16\"", "Fn::GetAtt");
	evals("!Sub '${AWS::StackName}-${V}-${V.CidrBlock}-${!Literal}'", "\"s-vpc-1-10.0.0.0/16-${Literal}\"",
	      "Fn::Sub: pseudo parameters, Ref, GetAtt and ${!Literal}");
	evals("!Sub ['${x}/${N}', {x: !Ref V}]", "\"vpc-1/3\"", "Fn::Sub with a variable map");
	evals("!Select [1, !GetAZs '']", "\"us-east-1b\"", "Fn::Select of Fn::GetAZs");
	evals("!Cidr [10.0.0.0/16, 3, 8]", "[\"10.0.0.0/24\", \"10.0.1.0/24\", \"10.0.2.0/24\"]", "Fn::Cidr");
	evals("!Join [':', [a, !Ref V, 3]]", "\"a:vpc-1:3\"", "Fn::Join");
	evals("!Join [',', !Ref P]", "\"a,b\"", "Fn::Join of a list parameter");
	evals("!Split [',', 'x,y,,z']", "[\"x\", \"y\", \"\", \"z\"]", "Fn::Split");
	evals("!If [Yes, y, n]", "\"y\"", "Fn::If on a true condition");
	evals("!If [No, y, !Ref AWS::NoValue]", "\"<NoValue>\"", "Fn::If to AWS::NoValue drops the value");
	evals("!FindInMap [M, k1, k2]", "\"found\"", "Fn::FindInMap");
	evals("!Base64 'hi'", "\"aGk=\"", "Fn::Base64");
	evals("!Equals [80, '80']", "true", "Fn::Equals compares as strings");
	evals("!And [!Equals [a, a], !Or [!Equals [a, b], !Not [!Equals [a, b]]]]", "true", "Fn::And, Fn::Or, Fn::Not");

	/* Parameters */
	_cleanup_json_ json_t *pt = parse("Parameters:\n  E: {Type: String, AllowedValues: [dev, prod], Default: dev}\n"
					  "  C: {Type: Number}\nResources:\n  I: {Type: AWS::EC2::InternetGateway}\n");
	struct err e = {0};
	json_t *vals = NULL;
	_cleanup_json_ json_t *g1 = json_pack("{s:s}", "C", "5"), *g2 = json_pack("{s:s, s:s}", "C", "5", "E", "qa"),
			      *g3 = json_pack("{s:s}", "C", "five"), *g4 = json_object(), *g5 = json_pack("{s:s, s:s}", "C", "1", "Z", "x");
	ok(cfn_parameters(pt, g1, &vals, &e) == 0 && !strcmp(jstr(vals, "E"), "dev") && !strcmp(jstr(vals, "C"), "5"),
	   "parameters: a value given and a Default");
	json_decref(vals);
	ok(cfn_parameters(pt, g2, &vals, &e) < 0 && strstr(e.msg, "Parameter 'E' must be one of AllowedValues"), "AllowedValues");
	ok(cfn_parameters(pt, g3, &vals, &e) < 0 && strstr(e.msg, "Parameter 'C' must be a number."), "Number");
	ok(cfn_parameters(pt, g4, &vals, &e) < 0 && strstr(e.msg, "Parameters: [C] must have values"), "a missing value");
	ok(cfn_parameters(pt, g5, &vals, &e) < 0 && strstr(e.msg, "Parameters: [Z] do not exist in the template"),
	   "a value for no parameter");

	/* The dependency graph. */
	_cleanup_json_ json_t *dt = parse("Resources:\n  V: {Type: AWS::EC2::VPC, Properties: {CidrBlock: 10.0.0.0/16}}\n"
					  "  S: {Type: AWS::EC2::Subnet, Properties: {VpcId: !Ref V, CidrBlock: !Sub '${V.CidrBlock}'}}\n"
					  "  I: {Type: AWS::EC2::InternetGateway, DependsOn: [S]}\n"), *gr = NULL;
	ok(dt && cfn_deps(dt, NULL, &gr, &e) == 0 && json_array_size(json_object_get(gr, "V")) == 0 &&
	       !strcmp(json_string_value(json_array_get(json_object_get(gr, "S"), 0)), "V") &&
	       !strcmp(json_string_value(json_array_get(json_object_get(gr, "I"), 0)), "S"),
	   "dependencies from Ref, Fn::Sub's GetAtt and DependsOn");

	/* Malformed templates: CloudFormation's messages. */
	refused("Resources:\n  A: [1, 2\n", "Template format error: YAML not well-formed. (line", "bad YAML");
	refused("{\"Resources\": ", "Template format error: JSON not well-formed.", "bad JSON");
	refused("Resources:\n  X: {Type: AWS::X::Y}\n  Z: {Type: AWS::Q::R}\n", "Unrecognized resource types: [AWS::X::Y, AWS::Q::R]",
		"unknown resource types, all named");
	refused("Resources:\n  V: {Type: AWS::EC2::VPC, Properties: {CidrBlock: !Frob x}}\n", "Encountered unsupported function: Fn::Frob",
		"an unknown short-form function");
	refused("Resources:\n  V: {Type: AWS::EC2::VPC, Properties: {CidrBlock: {'Fn::Frob': x}}}\n", "Encountered unsupported function: Fn::Frob",
		"an unknown long-form function");
	refused("Resources:\n  A: {Type: AWS::EC2::VPC, Properties: {CidrBlock: !GetAtt B.InternetGatewayId}}\n"
		"  B: {Type: AWS::EC2::InternetGateway, DependsOn: C}\n  C: {Type: AWS::EC2::RouteTable, Properties: {VpcId: !Ref A}}\n"
		"  D: {Type: AWS::EC2::InternetGateway, DependsOn: A}\n",
		"Circular dependency between resources: [A, B, C]", "a cycle, its members named (not those hanging off it)");
	refused("Resources:\n  V: {Type: AWS::EC2::VPC, Properties: {CidrBlock: x, Colour: red}}\n", "Encountered unsupported property Colour",
		"an unsupported property");
	refused("Resources:\n  V: {Type: AWS::EC2::VPC}\n", "missing required property CidrBlock", "a missing required property");
	refused("Resources:\n  V: {Type: AWS::EC2::VPC, Properties: {CidrBlock: !Ref Nope}}\n",
		"Unresolved resource dependencies [Nope] in the Resources block of the template", "a Ref to nothing");
	refused("Resources:\n  V: {Type: AWS::EC2::VPC, Properties: {CidrBlock: !GetAtt V.Colour}}\n", "does not support attribute type Colour",
		"a GetAtt of an attribute the type does not have");
	refused("Parameters:\n  P: {Type: Strin}\nResources:\n  I: {Type: AWS::EC2::InternetGateway}\n", "Unrecognized parameter type: Strin",
		"a bad parameter type");
	refused("Foo: 1\nResources:\n  I: {Type: AWS::EC2::InternetGateway}\n", "Invalid template property or properties [Foo]",
		"an unknown section");
	refused("Description: x\n", "At least one Resources member must be defined.", "no resources");
	refused("a: &a [*a]\n", "nests too deeply", "an alias of its own ancestor");
	refused("a: &a [x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c]\n"
		"e: &e [*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f]\n",
		"too large", "billion laughs");

	_cleanup_json_ json_t *cidr = NULL;
	ok(cfn_cidr("10.0.0.0/24", 2, 9, &cidr, &e) < 0, "Fn::Cidr refuses blocks larger than the range");
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}
