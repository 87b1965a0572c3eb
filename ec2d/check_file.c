/* The check file's parser: YAML (libyaml) into one validated JSON object per check. A check
 * file comes from a student's directory, so everything is checked here, before any call is
 * made: unknown keys and kinds, types, ranges, choices, duplicate keys, and each error names
 * its line. The format is docs/checks.md; the table below is its source of truth. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "check.h"
#include "cleanup.h"
#include "jsonx.h"

#define CHECK_STR_MAX 1024

enum ftype {
	F_NAME,	 /* an object: logical ID, ID, Name tag (resolved by check.c) */
	F_STR,	 /* free text */
	F_PORT,	 /* 1-65535 */
	F_PORTS, /* N or N-M, 0-65535: stored as from-port / to-port */
	F_CIDR,	 /* a.b.c.d/n */
	F_INT,	 /* within lo..hi */
	F_BOOL,	 /* true/false/yes/no */
	F_ENUM,	 /* one of `choices` (space-separated); the first is the default */
	F_LIST,	 /* experiment's during: a list of reach checks */
};

struct field {
	const char *key;
	enum ftype type;
	bool required;
	const char *choices; /* F_ENUM: the choices, the default first */
	long lo, hi;	     /* F_INT */
};

struct kind {
	const char *name;
	struct field fields[14];
};

static const struct kind kinds[] = {
	{"reach",
	 {{"from", F_NAME, true},
	  {"to", F_NAME, true},
	  {"protocol", F_ENUM, false, "tcp icmp udp http"},
	  {"port", F_PORT},
	  {"expect", F_ENUM, false, "connect no-connect"},
	  {"via", F_NAME},
	  {"timeout", F_INT, false, NULL, 1, 30},
	  {"analysis", F_BOOL},
	  {"path", F_STR},
	  {"body", F_STR},
	  {NULL}}},
	{"route",
	 {{"route-table", F_NAME, true},
	  {"destination", F_CIDR, true},
	  {"via", F_ENUM, false,
	   "any local internet-gateway nat-gateway network-interface instance vpc-peering-connection blackhole"},
	  {"target", F_NAME},
	  {"expect", F_ENUM, false, "present absent"},
	  {NULL}}},
	{"security-group-rule",
	 {{"group", F_NAME, true},
	  {"direction", F_ENUM, false, "ingress egress"},
	  {"protocol", F_ENUM, false, "tcp udp icmp all"},
	  {"port", F_PORTS},
	  {"cidr", F_CIDR},
	  {"source-group", F_NAME},
	  {"expect", F_ENUM, false, "present absent"},
	  {NULL}}},
	{"nacl-entry",
	 {{"network-acl", F_NAME},
	  {"subnet", F_NAME},
	  {"direction", F_ENUM, false, "ingress egress"},
	  {"protocol", F_ENUM, false, "tcp udp icmp all"},
	  {"port", F_PORTS},
	  {"cidr", F_CIDR},
	  {"action", F_ENUM, false, "allow deny"},
	  {"rule-number", F_INT, false, NULL, 1, 32766},
	  {"expect", F_ENUM, false, "present absent"},
	  {NULL}}},
	{"service",
	 {{"instance", F_NAME, true},
	  {"port", F_PORT, true},
	  {"protocol", F_ENUM, false, "tcp http udp"},
	  {"expect", F_ENUM, false, "answers silent"},
	  {NULL}}},
	{"file",
	 {{"instance", F_NAME, true},
	  {"path", F_STR, true},
	  {"contains", F_STR},
	  {"expect", F_ENUM, false, "present absent"},
	  {NULL}}},
	{"peering",
	 {{"vpc", F_NAME, true}, {"peer-vpc", F_NAME, true}, {"expect", F_ENUM, false, "active absent"}, {NULL}}},
	{"experiment",
	 {{"template", F_NAME, true}, {"during", F_LIST, true}, {"wait", F_INT, false, NULL, 0, 60}, {NULL}}},
};

struct parse {
	yaml_document_t *doc;
	struct err *e;
};

static int line_of(yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

static int bad(struct parse *p, yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(struct parse *p, yaml_node_t *n, const char *fmt, ...)
{
	char msg[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(p->e, "InvalidCheckFile", "line %d: %s", n ? line_of(n) : 1, msg);
}

/* A scalar's text, or NULL (not a scalar, too long, or holding a NUL). */
static const char *scalar(yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.length > CHECK_STR_MAX ||
	    strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return NULL;
	return (const char *)n->data.scalar.value;
}

static bool choice(const char *choices, const char *v)
{
	size_t l = strlen(v);
	for (const char *c = choices; *c;) {
		size_t w = strcspn(c, " ");
		if (w == l && !strncmp(c, v, l))
			return true;
		c += w;
		c += *c == ' ';
	}
	return false;
}

static int number(const char *s, long lo, long hi, long *ret)
{
	char *end;
	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 6)
		return -EINVAL;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*ret = v;
	return 0;
}

static bool cidr_ok(const char *s)
{
	char a[32];
	const char *slash = strchr(s, '/');
	long len;
	struct in_addr in;
	if (!slash || (size_t)(slash - s) >= sizeof(a))
		return false;
	memcpy(a, s, (size_t)(slash - s));
	a[slash - s] = 0;
	return inet_pton(AF_INET, a, &in) == 1 && number(slash + 1, 0, 32, &len) == 0;
}

static int parse_check(struct parse *p, yaml_node_t *item, bool nested, json_t **ret);

static int parse_fields(struct parse *p, const struct kind *k, yaml_node_t *body, json_t *out)
{
	if (body->type != YAML_MAPPING_NODE)
		return bad(p, body, "the %s check's body must be a mapping of its fields", k->name);
	for (yaml_node_pair_t *pr = body->data.mapping.pairs.start; pr < body->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = yaml_document_get_node(p->doc, pr->key), *vn = yaml_document_get_node(p->doc, pr->value);
		const char *key = scalar(kn);
		if (!key)
			return bad(p, kn, "a key of the %s check must be a short text", k->name);
		const struct field *f = NULL;
		for (const struct field *g = k->fields; g->key; g++)
			if (!strcmp(g->key, key))
				f = g;
		if (!f)
			return bad(p, kn, "unknown field '%s' in a %s check", key, k->name);
		if (json_object_get(out, key) || (f->type == F_PORTS && json_object_get(out, "from-port")))
			return bad(p, kn, "the field '%s' is given twice", key);
		if (f->type == F_LIST) {
			if (!vn || vn->type != YAML_SEQUENCE_NODE || vn->data.sequence.items.start == vn->data.sequence.items.top)
				return bad(p, vn, "'%s' must be a non-empty list of reach checks", key);
			json_t *list = json_array();
			json_object_set_new(out, key, list);
			for (yaml_node_item_t *i = vn->data.sequence.items.start; i < vn->data.sequence.items.top; i++) {
				json_t *c;
				int r = parse_check(p, yaml_document_get_node(p->doc, *i), true, &c);
				if (r < 0)
					return r;
				json_array_append_new(list, c);
			}
			continue;
		}
		const char *v = scalar(vn);
		if (!v)
			return bad(p, vn, "the field '%s' must be a single value (at most 1024 characters)", key);
		long num, num2;
		switch (f->type) {
		case F_NAME:
			if (!*v || strlen(v) > 255)
				return bad(p, vn, "'%s' must name an object (1 to 255 characters)", key);
			json_object_set_new(out, key, json_string(v));
			break;
		case F_STR:
			json_object_set_new(out, key, json_string(v));
			break;
		case F_PORT:
			if (number(v, 1, 65535, &num) < 0)
				return bad(p, vn, "'%s' must be a port from 1 to 65535, not '%s'", key, v);
			json_object_set_new(out, key, json_integer(num));
			break;
		case F_PORTS: {
			char a[16];
			const char *dash = strchr(v, '-');
			size_t l = dash ? (size_t)(dash - v) : strlen(v);
			if (l >= sizeof(a))
				return bad(p, vn, "'%s' must be a port or a range N-M (0 to 65535), not '%s'", key, v);
			memcpy(a, v, l);
			a[l] = 0;
			if (number(a, 0, 65535, &num) < 0 || (dash ? number(dash + 1, 0, 65535, &num2) : (num2 = num, 0)) < 0 ||
			    num2 < num)
				return bad(p, vn, "'%s' must be a port or a range N-M (0 to 65535), not '%s'", key, v);
			json_object_set_new(out, "from-port", json_integer(num));
			json_object_set_new(out, "to-port", json_integer(num2));
			break;
		}
		case F_CIDR:
			if (!cidr_ok(v))
				return bad(p, vn, "'%s' must be an IPv4 CIDR block such as 10.0.0.0/16, not '%s'", key, v);
			json_object_set_new(out, key, json_string(v));
			break;
		case F_INT:
			if (number(v, f->lo, f->hi, &num) < 0) {
				char range[64];
				snprintf(range, sizeof(range), "%ld to %ld", f->lo, f->hi);
				return bad(p, vn, "'%s' must be a number from %s", key, range);
			}
			json_object_set_new(out, key, json_integer(num));
			break;
		case F_BOOL:
			if (!strcmp(v, "true") || !strcmp(v, "yes"))
				json_object_set_new(out, key, json_true());
			else if (!strcmp(v, "false") || !strcmp(v, "no"))
				json_object_set_new(out, key, json_false());
			else
				return bad(p, vn, "'%s' must be true or false, not '%s'", key, v);
			break;
		case F_ENUM:
			if (!choice(f->choices, v)) {
				char msg[300];
				snprintf(msg, sizeof(msg), "'%s' must be one of: %s", v, f->choices);
				return bad(p, vn, "%s (field '%s')", msg, key);
			}
			json_object_set_new(out, key, json_string(v));
			break;
		case F_LIST:
			break;
		}
	}
	/* Required fields, then the defaults. */
	for (const struct field *g = k->fields; g->key; g++) {
		bool has = json_object_get(out, g->key) || (g->type == F_PORTS && json_object_get(out, "from-port"));
		if (!has && g->required)
			return bad(p, body, "the %s check needs the field '%s'", k->name, g->key);
		if (!has && g->type == F_ENUM) {
			char def[64];
			snprintf(def, sizeof(def), "%.*s", (int)strcspn(g->choices, " "), g->choices);
			json_object_set_new(out, g->key, json_string(def));
		}
	}
	return 0;
}

static int parse_check(struct parse *p, yaml_node_t *item, bool nested, json_t **ret)
{
	if (!item || item->type != YAML_MAPPING_NODE)
		return bad(p, item, "%s must be a mapping: its kind (reach, route, ...) and optionally a name", nested ? "each check under 'during'" : "each check");
	_cleanup_json_ json_t *c = json_pack("{s:i}", "Line", line_of(item));
	const struct kind *k = NULL;
	yaml_node_t *body = NULL;
	for (yaml_node_pair_t *pr = item->data.mapping.pairs.start; pr < item->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = yaml_document_get_node(p->doc, pr->key), *vn = yaml_document_get_node(p->doc, pr->value);
		const char *key = scalar(kn);
		if (!key)
			return bad(p, kn, "a check's keys must be short texts");
		if (!strcmp(key, "name")) {
			const char *v = scalar(vn);
			if (!v || !*v || strlen(v) > 200)
				return bad(p, vn, "a check's name must be a text of 1 to 200 characters");
			if (json_object_get(c, "Name"))
				return bad(p, kn, "the field 'name' is given twice");
			json_object_set_new(c, "Name", json_string(v));
			continue;
		}
		const struct kind *f = NULL;
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (!strcmp(kinds[i].name, key))
				f = &kinds[i];
		if (!f)
			return bad(p, kn, "unknown check kind '%s' (reach, route, security-group-rule, nacl-entry, service, "
				   "file, peering, experiment)", key);
		if (k)
			return bad(p, kn, "a check has one kind: '%s' and '%s' are both given", k->name, key);
		if (nested && strcmp(key, "reach"))
			return bad(p, kn, "under 'during' only reach checks run, not '%s'", key);
		k = f, body = vn;
	}
	if (!k)
		return bad(p, item, "a check needs its kind: reach, route, security-group-rule, nacl-entry, service, file, "
			   "peering or experiment");
	json_object_set_new(c, "Kind", json_string(k->name));
	int r = parse_fields(p, k, body, c);
	if (r < 0)
		return r;
	const char *proto = jstr(c, "protocol");
	/* What the table cannot say: fields that depend on each other. */
	if (!strcmp(k->name, "reach") && strcmp(proto, "icmp") && !json_object_get(c, "port"))
		return bad(p, body, "a %s reach check needs a 'port'", proto);
	if (!strcmp(k->name, "security-group-rule") || !strcmp(k->name, "nacl-entry")) {
		if ((!strcmp(proto, "tcp") || !strcmp(proto, "udp")) && !json_object_get(c, "from-port"))
			return bad(p, body, "a %s rule check needs a 'port' (N or N-M)", proto);
		if (json_object_get(c, "cidr") && json_object_get(c, "source-group"))
			return bad(p, body, "give 'cidr' or 'source-group', not both");
		if (!json_object_get(c, "cidr") && !json_object_get(c, "source-group"))
			json_object_set_new(c, "cidr", json_string("0.0.0.0/0"));
	}
	if (!strcmp(k->name, "nacl-entry") && !json_object_get(c, "network-acl") == !json_object_get(c, "subnet"))
		return bad(p, body, "a nacl-entry check names its ACL with 'network-acl' or 'subnet' (one of them)");
	if (!strcmp(k->name, "experiment") && !json_object_get(c, "wait"))
		json_object_set_new(c, "wait", json_integer(3));
	*ret = TAKE_PTR(c);
	return 0;
}

static void yaml_doc_freep(yaml_document_t **d)
{
	if (*d)
		yaml_document_delete(*d);
}

int check_parse(const char *buf, size_t n, json_t **ret_checks, struct err *e)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct parse p = {.doc = &doc, .e = e};
	int r = 0;
	if (!yaml_parser_initialize(&parser))
		return err_set(e, "InvalidCheckFile", "line 1: out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, n);
	if (!yaml_parser_load(&parser, &doc)) {
		r = err_set(e, "InvalidCheckFile", "line %d: not YAML: %s%s%s", (int)parser.problem_mark.line + 1,
			    parser.problem ? parser.problem : "unreadable", parser.context ? " " : "",
			    parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return r;
	}
	_cleanup_(yaml_doc_freep) yaml_document_t *d = &doc;
	yaml_document_t extra;
	/* One document only: a second one would be silently ignored otherwise. */
	if (yaml_parser_load(&parser, &extra)) {
		bool more = yaml_document_get_root_node(&extra) != NULL;
		yaml_node_t *root2 = more ? yaml_document_get_root_node(&extra) : NULL;
		int l = root2 ? line_of(root2) : 1;
		yaml_document_delete(&extra);
		if (more) {
			yaml_parser_delete(&parser);
			return err_set(e, "InvalidCheckFile", "line %d: a check file holds one YAML document", l);
		}
	} else {
		r = err_set(e, "InvalidCheckFile", "line %d: not YAML: %s", (int)parser.problem_mark.line + 1,
			    parser.problem ? parser.problem : "unreadable");
		yaml_parser_delete(&parser);
		return r;
	}
	yaml_parser_delete(&parser);
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root || root->type != YAML_MAPPING_NODE)
		return bad(&p, root, "a check file is a mapping with a list 'checks:'");
	yaml_node_t *list = NULL;
	for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = yaml_document_get_node(&doc, pr->key), *vn = yaml_document_get_node(&doc, pr->value);
		const char *key = scalar(kn);
		if (key && !strcmp(key, "checks")) {
			if (list)
				return bad(&p, kn, "'checks' is given twice");
			list = vn;
		} else if (key && !strcmp(key, "description")) {
			if (!scalar(vn))
				return bad(&p, vn, "'description' must be a text");
		} else
			return bad(&p, kn, "unknown key '%s' at the top (checks, description)", key ? key : "?");
	}
	if (!list || list->type != YAML_SEQUENCE_NODE || list->data.sequence.items.start == list->data.sequence.items.top)
		return bad(&p, list ? list : root, "'checks' must be a non-empty list");
	if (list->data.sequence.items.top - list->data.sequence.items.start > CHECK_MAX)
		return bad(&p, list, "at most 500 checks in a file");
	_cleanup_json_ json_t *out = json_array();
	for (yaml_node_item_t *i = list->data.sequence.items.start; i < list->data.sequence.items.top; i++) {
		json_t *c;
		if ((r = parse_check(&p, yaml_document_get_node(&doc, *i), false, &c)) < 0)
			return r;
		json_array_append_new(out, c);
	}
	*ret_checks = TAKE_PTR(out);
	return 0;
}
