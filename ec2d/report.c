/* An experiment's report, and the CLI verbs that run and compare experiments.
 *
 * GetExperimentReport (vpclab's own action) gives, from the experiment's record: every event
 * in the order the engine made it (targets chosen, actions' states, targets' state changes,
 * faults made), each action's start and end, each probe's outages, and the workload's API
 * calls while it ran; times are seconds from the experiment's creation. With Svg it also
 * draws the timeline: a lane per action (its band) and per probe (its outages in red).
 *
 * What two runs of one template with one seed must share is everything but what is measured:
 * `ec2d compare-experiment-reports` drops the measures (times, durations, counts of probes and
 * calls) and prints what else differs; `ec2d run-experiment --repeat N` runs a template N
 * times, keeps each report, checks that they agree, and gives each measure's median and
 * spread. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cleanup.h"
#include "sbuf.h"
#include "cli.h"
#include "ec2d.h"
#include "rpc.h"

static double rel(json_t *v, double t0)
{
	return round((json_number_value(v) - t0) * 1000.0) / 1000.0;
}

static json_t *report_of(json_t *x)
{
	double t0 = json_number_value(json_object_get(x, "creationTime"));
	json_t *events = json_array(), *ev, *actions = json_object(), *a;
	size_t i;
	const char *name, *k;
	json_array_foreach(json_object_get(x, "_events"), i, ev)
	{
		json_t *o = json_pack("{s:I, s:f}", "Seq", (json_int_t)i, "At", rel(json_object_get(ev, "time"), t0)), *v;
		json_object_foreach(ev, k, v)
		{
			char key[64];
			snprintf(key, sizeof(key), "%s", k);
			key[0] = (char)(key[0] >= 'a' && key[0] <= 'z' ? key[0] - 'a' + 'A' : key[0]);
			if (strcmp(k, "time"))
				json_object_set(o, key, v); /* the report's members are PascalCase */
		}
		json_array_append_new(events, o);
	}
	json_object_foreach(json_object_get(x, "actions"), name, a)
	{
		json_t *o = json_pack("{s:O, s:O}", "ActionId", json_object_get(a, "actionId"), "Status",
				      json_object_get(json_object_get(a, "state"), "status"));
		if (json_object_get(a, "startTime"))
			json_object_set_new(o, "Start", json_real(rel(json_object_get(a, "startTime"), t0)));
		if (json_object_get(a, "endTime"))
			json_object_set_new(o, "End", json_real(rel(json_object_get(a, "endTime"), t0)));
		json_object_set_new(actions, name, o);
	}
	json_t *rep = json_object_get(x, "_report");
	json_t *calls = json_array(), *by = json_object(), *c;
	long long failed = 0;
	json_array_foreach(json_object_get(rep, "ApiCalls"), i, c)
	{
		const char *act = json_string_value(json_array_get(c, 1)), *code = json_string_value(json_array_get(c, 2));
		double at = round(((double)json_integer_value(json_array_get(c, 0)) / 1000.0 - t0) * 1000.0) / 1000.0;
		if (i < 1000)
			json_array_append_new(calls, json_pack("{s:f, s:s, s:s}", "At", at, "Action", act, "Code", code));
		json_t *per = json_object_get(by, act);
		if (!per)
			json_object_set_new(by, act, per = json_object());
		json_object_set_new(per, code, json_integer(json_integer_value(json_object_get(per, code)) + 1));
		failed += strcmp(code, "OK") != 0;
	}
	json_t *probes = json_deep_copy(json_object_get(rep, "Probes") ?: json_object()), *p;
	json_object_foreach(probes, name, p)
	{
		size_t n = json_array_size(json_object_get(p, "Outages"));
		char verdict[64];
		snprintf(verdict, sizeof(verdict), n ? "%zu outage%s" : "no outage", n, n == 1 ? "" : "s");
		json_object_set_new(p, "Verdict", json_string(verdict));
	}
	json_t *out = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:o, s:o, s:o, s:{s:I, s:I, s:o, s:o}, s:b}", "ExperimentId",
				json_object_get(x, "id"), "ExperimentTemplateId", json_object_get(x, "experimentTemplateId"),
				"Status", json_object_get(json_object_get(x, "state"), "status"), "Reason",
				json_object_get(json_object_get(x, "state"), "reason"), "Seed", json_object_get(x, "_seed"),
				"Targets", json_object_get(x, "_resolved"), "Actions", actions, "Events", events, "Probes",
				probes, "ApiCalls", "Total", (json_int_t)json_array_size(json_object_get(rep, "ApiCalls")),
				"Failed", (json_int_t)failed, "ByAction", by, "Calls", calls, "Final", rep != NULL);
	if (json_object_get(x, "endTime"))
		json_object_set_new(out, "End", json_real(rel(json_object_get(x, "endTime"), t0)));
	return out;
}

/* --- the timeline -------------------------------------------------------------------------- */


#define SVG_W 1000
#define SVG_LEFT 270
#define SVG_LANE 34

static char *report_svg(json_t *r)
{
	struct sbuf b = {0};
	json_t *actions = json_object_get(r, "Actions"), *probes = json_object_get(r, "Probes"), *v, *o;
	const char *name;
	size_t i;
	double end = json_number_value(json_object_get(r, "End")) + 2.0;
	json_object_foreach(probes, name, v) json_array_foreach(json_object_get(v, "Outages"), i, o)
	{
		double e = json_number_value(json_object_get(o, "End"));
		if (e > end)
			end = e;
	}
	if (end < 1)
		end = 1;
	size_t lanes = json_object_size(actions) + json_object_size(probes);
	int h = 70 + (int)lanes * SVG_LANE + 40;
	double sx = (SVG_W - SVG_LEFT - 20) / end;
	sb_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		"font-family=\"sans-serif\" font-size=\"12\">\n", SVG_W, h, SVG_W, h);
	sb_printf(&b, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">");
	sb_xml(&b, jstr(r, "ExperimentId"));
	sb_printf(&b, " (");
	sb_xml(&b, jstr(r, "ExperimentTemplateId"));
	sb_printf(&b, "): ");
	sb_xml(&b, jstr(r, "Status"));
	sb_printf(&b, "</text>\n<text x=\"10\" y=\"38\" fill=\"#555\">");
	sb_xml(&b, jstr(r, "Reason"));
	sb_printf(&b, "</text>\n");
	/* The time axis, a tick every "nice" step. */
	double step = end <= 10 ? 1 : end <= 30 ? 5 : end <= 120 ? 10 : end <= 600 ? 60 : 300;
	int axis = 60 + (int)lanes * SVG_LANE;
	for (double t = 0; t <= end + 1e-9; t += step) {
		double x = SVG_LEFT + t * sx;
		sb_printf(&b, "<line class=\"tick\" x1=\"%.1f\" y1=\"50\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
			"<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%gs</text>\n", x, x, axis, x, axis + 16, t);
	}
	int y = 56;
	json_object_foreach(actions, name, v)
	{
		double s = json_number_value(json_object_get(v, "Start")), e = json_object_get(v, "End") ? json_number_value(json_object_get(v, "End")) : s;
		sb_printf(&b, "<g class=\"action\" data-name=\"");
		sb_xml(&b, name);
		/* The name, and under it the action ID, small: the left column is wide enough for
		 * FIS's longest IDs. */
		sb_printf(&b, "\"><text x=\"10\" y=\"%d\">", y + 14);
		sb_xml(&b, name);
		sb_printf(&b, "</text><text x=\"10\" y=\"%d\" font-size=\"10\" fill=\"#777\">", y + 27);
		sb_xml(&b, jstr(v, "ActionId"));
		sb_printf(&b, "</text>");
		if (json_object_get(v, "Start"))
			sb_printf(&b, "<rect class=\"band\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#f0a030\" opacity=\"0.8\"><title>%s %.3f-%.3f s</title></rect>",
			    SVG_LEFT + s * sx, y + 4, fmax((e - s) * sx, 2), SVG_LANE - 10, jstr(v, "Status"), s, e);
		sb_printf(&b, "</g>\n");
		y += SVG_LANE;
	}
	json_object_foreach(probes, name, v)
	{
		sb_printf(&b, "<g class=\"probe\" data-name=\"");
		sb_xml(&b, name);
		sb_printf(&b, "\"><text x=\"10\" y=\"%d\">", y + 14);
		sb_xml(&b, name);
		sb_printf(&b, "</text><text x=\"10\" y=\"%d\" font-size=\"10\" fill=\"#777\">", y + 27);
		sb_xml(&b, jstr(v, "Type"));
		sb_printf(&b, ", ");
		sb_xml(&b, jstr(v, "Verdict"));
		sb_printf(&b, "</text><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#4caf50\" opacity=\"0.35\"/>",
		    SVG_LEFT, y + 4, end * sx, SVG_LANE - 10);
		json_array_foreach(json_object_get(v, "Outages"), i, o)
		{
			double s = json_number_value(json_object_get(o, "Start"));
			double e = json_is_number(json_object_get(o, "End")) ? json_number_value(json_object_get(o, "End")) : end;
			sb_printf(&b, "<rect class=\"outage\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#d32f2f\"><title>outage %.3f-%.3f s, %lld failed</title></rect>",
			    SVG_LEFT + s * sx, y + 4, fmax((e - s) * sx, 1.5), SVG_LANE - 10, s, e,
			    (long long)json_integer_value(json_object_get(o, "Failed")));
		}
		sb_printf(&b, "</g>\n");
		y += SVG_LANE;
	}
	sb_printf(&b, "</svg>\n");
	return b.s;
}

int h_get_experiment_report(struct ereq *rq, json_t **ret, struct err *e)
{
	const char *id = jstr(rq->params, "Id");
	json_t *x = json_object_get(store_objects(E->store), id);
	if (!x || strcmp(jstr(x, "_type"), "fis-experiment") || strcmp(jstr(x, "_region"), rq->region))
		return err_set(e, "ResourceNotFoundException", "Experiment %s not found.", id);
	json_t *r = report_of(x);
	*ret = json_pack("{s:o}", "Report", r);
	if (json_is_true(json_object_get(rq->params, "Svg"))) {
		char *svg = report_svg(r);
		json_object_set_new(*ret, "Svg", json_string(svg));
		free(svg);
	}
	return 0;
}

/* --- the CLI: run N times, compare ----------------------------------------------------------- */

/* What two runs must share: the report without its measures. */
static json_t *essence(json_t *r)
{
	json_t *out = json_pack("{s:O, s:O, s:O, s:O, s:O}", "ExperimentTemplateId", json_object_get(r, "ExperimentTemplateId"),
				"Status", json_object_get(r, "Status"), "Reason", json_object_get(r, "Reason"), "Seed",
				json_object_get(r, "Seed"), "Targets", json_object_get(r, "Targets"));
	json_t *acts = json_object(), *events = json_array(), *probes = json_object(), *calls = json_object(), *v, *w;
	const char *k, *k2;
	size_t i;
	json_object_foreach(json_object_get(r, "Actions"), k, v)
		json_object_set_new(acts, k, json_pack("{s:O, s:O}", "ActionId", json_object_get(v, "ActionId"), "Status",
						       json_object_get(v, "Status")));
	json_array_foreach(json_object_get(r, "Events"), i, v)
	{
		json_t *ev = json_deep_copy(v);
		json_object_del(ev, "At");
		json_array_append_new(events, ev);
	}
	json_object_foreach(json_object_get(r, "Probes"), k, v)
		json_object_set_new(probes, k, json_pack("{s:O, s:O}", "Type", json_object_get(v, "Type"), "Verdict",
							 json_object_get(v, "Verdict")));
	json_object_foreach(json_object_get(json_object_get(r, "ApiCalls"), "ByAction"), k, v)
	{
		json_t *codes = json_array();
		json_object_foreach(v, k2, w) json_array_append_new(codes, json_string(k2));
		json_object_set_new(calls, k, codes);
	}
	json_object_set_new(out, "Actions", acts);
	json_object_set_new(out, "Events", events);
	json_object_set_new(out, "Probes", probes);
	json_object_set_new(out, "ApiCalls", calls);
	return out;
}

static void differ(json_t *a, json_t *b, const char *path, json_t *out)
{
	char sub[512];
	if (json_array_size(out) >= 100)
		return;
	if (json_is_object(a) && json_is_object(b)) {
		const char *k;
		json_t *v;
		json_object_foreach(a, k, v)
		{
			snprintf(sub, sizeof(sub), "%s.%s", path, k);
			differ(v, json_object_get(b, k), sub, out);
		}
		json_object_foreach(b, k, v) if (!json_object_get(a, k))
		{
			snprintf(sub, sizeof(sub), "%s.%s", path, k);
			differ(NULL, v, sub, out);
		}
		return;
	}
	if (json_is_array(a) && json_is_array(b)) {
		size_t n = json_array_size(a) > json_array_size(b) ? json_array_size(a) : json_array_size(b);
		for (size_t i = 0; i < n; i++) {
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			differ(json_array_get(a, i), json_array_get(b, i), sub, out);
		}
		return;
	}
	if (json_equal(a, b) || (!a && !b))
		return;
	_cleanup_free_ char *sa = a ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("(absent)");
	_cleanup_free_ char *sb_ = b ? json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("(absent)");
	char line[1200];
	snprintf(line, sizeof(line), "%s: %.500s != %.500s", path[0] ? path + 1 : "(report)", sa, sb_);
	json_array_append_new(out, json_string(line));
}

static json_t *load_report(const char *path, struct err *e)
{
	json_error_t je;
	json_t *r = json_load_file(path, 0, &je);
	if (!r) {
		err_set(e, "Usage", "cannot read the report '%s': %s", path, je.text);
		return NULL;
	}
	/* A file of get-experiment-report's answer, or of the report alone. */
	if (json_object_get(r, "Report")) {
		json_t *in = json_incref(json_object_get(r, "Report"));
		json_decref(r);
		r = in;
	}
	return r;
}

int cmd_compare_reports(int argc, char **argv)
{
	static const struct verb v = {"compare-experiment-reports", "reports!:l"};
	struct cli_global g = {0};
	struct err e = {0};
	_cleanup_json_ json_t *params = NULL;
	if (cli_parse(&v, argc - 1, argv + 1, &g, &params, &e) < 0)
		return cli_error("CompareExperimentReports", &e);
	json_t *paths = json_object_get(params, "Reports");
	if (json_array_size(paths) != 2) {
		err_set(&e, "Usage", "--reports takes two report files");
		return cli_error("CompareExperimentReports", &e);
	}
	_cleanup_json_ json_t *a = load_report(json_string_value(json_array_get(paths, 0)), &e);
	_cleanup_json_ json_t *b = a ? load_report(json_string_value(json_array_get(paths, 1)), &e) : NULL;
	if (!a || !b)
		return cli_error("CompareExperimentReports", &e);
	_cleanup_json_ json_t *ea = essence(a), *eb = essence(b), *diffs = json_array();
	differ(ea, eb, "", diffs);
	_cleanup_json_ json_t *out = json_pack("{s:b, s:O}", "Same", json_array_size(diffs) == 0, "Differences", diffs);
	json_dumpf(out, stdout, JSON_INDENT(4) | JSON_REAL_PRECISION(15));
	putchar('\n');
	return json_array_size(diffs) ? 1 : 0;
}

static int call(const char *sock, const char *region, const char *action, json_t *params, json_t **ret, struct err *e)
{
	_cleanup_json_ json_t *req = json_pack("{s:s, s:s, s:o}", "Action", action, "Region", region, "Params", params);
	return rpc_call_stream(sock, req, NULL, NULL, ret, e);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The measures of one report: name -> seconds. */
static void measures(json_t *r, json_t *into)
{
	const char *k;
	json_t *v, *o;
	size_t i;
	char key[256];
	json_object_foreach(json_object_get(r, "Actions"), k, v)
	{
		if (!json_object_get(v, "End"))
			continue;
		snprintf(key, sizeof(key), "action %s: seconds", k);
		json_t *l = json_object_get(into, key);
		if (!l)
			json_object_set_new(into, key, l = json_array());
		json_array_append_new(l, json_real(json_number_value(json_object_get(v, "End")) -
						   json_number_value(json_object_get(v, "Start"))));
	}
	json_object_foreach(json_object_get(r, "Probes"), k, v)
	{
		double total = 0, failed = 0;
		json_array_foreach(json_object_get(v, "Outages"), i, o)
		{
			total += json_number_value(json_object_get(o, "Duration"));
			failed += (double)json_integer_value(json_object_get(o, "Failed"));
		}
		snprintf(key, sizeof(key), "probe %s: outage seconds", k);
		json_t *l = json_object_get(into, key);
		if (!l)
			json_object_set_new(into, key, l = json_array());
		json_array_append_new(l, json_real(total));
		snprintf(key, sizeof(key), "probe %s: failed probes", k);
		if (!(l = json_object_get(into, key)))
			json_object_set_new(into, key, l = json_array());
		json_array_append_new(l, json_real(failed));
	}
}

int cmd_run_experiment(int argc, char **argv)
{
	static const struct verb v = {"run-experiment", "experiment-template-id! repeat:i report-dir svg:b"};
	struct cli_global g = {0};
	struct err e = {0};
	_cleanup_json_ json_t *params = NULL;
	if (cli_parse(&v, argc - 1, argv + 1, &g, &params, &e) < 0)
		return cli_error("RunExperiment", &e);
	if (g.help) {
		printf("usage: ec2d run-experiment --experiment-template-id EXT... [--repeat N] [--report-dir DIR] [--svg]\n"
		       "Runs the template N times, one after the other; writes each report (and its timeline) to DIR;\n"
		       "prints whether the runs agree (compare-experiment-reports) and each measure's median and spread.\n");
		return 0;
	}
	json_t *rp = json_object_get(params, "Repeat");
	long long n = rp ? json_integer_value(rp) : 1;
	const char *tid = jstr(params, "ExperimentTemplateId"), *dir = jstr(params, "ReportDir");
	bool svg = json_is_true(json_object_get(params, "Svg"));
	if (n < 1 || n > 1000) {
		err_set(&e, "Usage", "--repeat %lld must be 1 to 1000", n);
		return cli_error("RunExperiment", &e);
	}
	if (*dir && mkdir(dir, 0755) < 0 && errno != EEXIST) {
		err_set(&e, "Usage", "cannot make the report directory '%s': %m", dir);
		return cli_error("RunExperiment", &e);
	}
	char sock[512];
	cli_sock_path(&g, "ec2d.sock", sock, sizeof(sock));
	const char *region = g.region ?: getenv("AWS_DEFAULT_REGION") ?: getenv("AWS_REGION") ?: "us-east-1";
	_cleanup_json_ json_t *runs = json_array(), *first = NULL, *diffs = json_array(), *meas = json_object();
	for (long long i = 0; i < n; i++) {
		json_t *res = NULL;
		char token[64];
		snprintf(token, sizeof(token), "run-experiment-%ld-%lld-%lld", (long)getpid(), (long long)time(NULL), i);
		if (call(sock, region, "StartExperiment", json_pack("{s:s, s:s}", "experimentTemplateId", tid, "clientToken", token),
			 &res, &e) < 0)
			return cli_error("StartExperiment", &e);
		_cleanup_free_ char *xid = strdup(jstr(json_object_get(res, "experiment"), "id"));
		json_decref(res);
		json_t *rep = NULL;
		for (;;) {
			res = NULL;
			if (call(sock, region, "GetExperimentReport", json_pack("{s:s, s:b}", "Id", xid, "Svg", svg), &res, &e) < 0)
				return cli_error("GetExperimentReport", &e);
			if (json_is_true(json_object_get(json_object_get(res, "Report"), "Final"))) {
				rep = res;
				break;
			}
			json_decref(res);
			nanosleep(&(struct timespec){0, 200000000}, NULL);
		}
		json_t *r = json_object_get(rep, "Report");
		json_t *run = json_pack("{s:s, s:O}", "ExperimentId", xid, "Status", json_object_get(r, "Status"));
		if (*dir) {
			char path[700];
			snprintf(path, sizeof(path), "%s/%s.json", dir, xid);
			if (json_dump_file(r, path, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) == 0)
				json_object_set_new(run, "Report", json_string(path));
			if (svg) {
				snprintf(path, sizeof(path), "%s/%s.svg", dir, xid);
				FILE *f = fopen(path, "w");
				if (f) {
					fputs(jstr(rep, "Svg"), f);
					fclose(f);
					json_object_set_new(run, "Timeline", json_string(path));
				}
			}
		}
		json_array_append_new(runs, run);
		measures(r, meas);
		_cleanup_json_ json_t *ess = essence(r);
		if (!first)
			first = json_incref(ess);
		else {
			char at[64];
			snprintf(at, sizeof(at), "run %lld", i + 1);
			json_t *d = json_array();
			differ(first, ess, "", d);
			size_t k;
			json_t *line;
			json_array_foreach(d, k, line)
			{
				char msg[1300];
				snprintf(msg, sizeof(msg), "%s: %s", at, json_string_value(line));
				json_array_append_new(diffs, json_string(msg));
			}
			json_decref(d);
		}
		json_decref(rep);
	}
	json_t *stats = json_object(), *l;
	const char *k;
	json_object_foreach(meas, k, l)
	{
		size_t m = json_array_size(l);
		double *vals = calloc(m, sizeof(double));
		for (size_t j = 0; j < m; j++)
			vals[j] = json_number_value(json_array_get(l, j));
		qsort(vals, m, sizeof(double), cmp_double);
		double med = m % 2 ? vals[m / 2] : (vals[m / 2 - 1] + vals[m / 2]) / 2;
		json_object_set_new(stats, k, json_pack("{s:f, s:f, s:f, s:f}", "Median", round(med * 1000) / 1000, "Min",
							round(vals[0] * 1000) / 1000, "Max", round(vals[m - 1] * 1000) / 1000,
							"Spread", round((vals[m - 1] - vals[0]) * 1000) / 1000));
		free(vals);
	}
	_cleanup_json_ json_t *out = json_pack("{s:O, s:b, s:O, s:o}", "Runs", runs, "Identical", json_array_size(diffs) == 0,
					       "Differences", diffs, "Measures", stats);
	json_dumpf(out, stdout, JSON_INDENT(4) | JSON_REAL_PRECISION(15));
	putchar('\n');
	return json_array_size(diffs) ? 1 : 0;
}
