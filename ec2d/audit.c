/* AuditLab (`ec2d audit-lab [--repair]`): libvirt's domains against ec2d's model, as vpcd's
 * audit-lab (vpcd/audit.c) checks the kernel against vpcd's. Each drift is a line: a running
 * instance whose domain is missing or not running, a stopped or terminated instance whose
 * domain runs, a domain carrying the lab's prefix that no instance explains (stray). With
 * drifts (and a transient domain that is shut off yet still listed, which a libvirtd killed
 * during a shutdown leaves) the answer is the error KernelDrift listing them (the CLI exits non-zero); with
 * --repair each is converged to the model (the running instance's domain started again, with
 * its metadata service and its ENI's link; the others destroyed) and the lab audited again,
 * and the answer says what was repaired. Instances in the middle of a transition (pending,
 * stopping, shutting-down) are left to the transition. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "cleanup.h"
#include "ec2d.h"
#include "log.h"

struct audit {
	json_t *drifts; /* array of strings */
	size_t checked;
	bool repair;
	json_t *failed; /* repairs that failed: strings */
};

static void drift(struct audit *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void drift(struct audit *a, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	json_array_append_new(a->drifts, json_string(line));
}

static const char *state_name(json_t *inst)
{
	return jstr(json_object_get(inst, "State"), "Name");
}

static void repair_failed(struct audit *a, const char *id, struct err *e)
{
	json_array_append_new(a->failed, json_sprintf("%s: %s", id, e->msg));
}

static void audit_instance(struct audit *a, const char *id, json_t *inst, json_t *known)
{
	char name[64];
	const char *st = state_name(inst);
	domain_name(id, name);
	a->checked++;
	if (!strcmp(st, "pending") || !strcmp(st, "stopping") || !strcmp(st, "shutting-down")) {
		json_object_set_new(known, name, json_true());
		return;
	}
	int active = domain_active(inst);
	if (active < 0) {
		drift(a, "%s: libvirt (%s) does not answer", id, jstr(inst, "_kind"));
		return;
	}
	if (!strcmp(st, "running")) {
		json_object_set_new(known, name, json_true());
		if (active)
			return;
		drift(a, "%s: running, its domain %s is not running", id, name);
		if (a->repair) {
			struct err e = {0};
			if (imds_ensure(jstr(inst, "VpcId"), &e) < 0 || domain_start(inst, &e) < 0)
				repair_failed(a, id, &e);
		}
		return;
	}
	if (!strcmp(st, "stopped"))
		json_object_set_new(known, name, json_true());
	if (active) {
		drift(a, "%s: %s, its domain %s runs", id, st, name);
		if (a->repair) {
			struct err e = {0};
			if (domain_stop(inst, false, &e) < 0)
				repair_failed(a, id, &e);
		}
	}
}

void domain_drop_ghost(virDomainPtr d)
{
	if (virDomainUndefine(d) < 0)
		virDomainDestroy(d);
}

void domains_drop_ghosts(void)
{
	size_t pl = strlen(E->prefix);
	for (int k = 0; k < 2; k++) {
		struct err e = {0};
		virConnectPtr c = domain_conn(k ? "qemu" : "lxc", &e);
		virDomainPtr *doms = NULL;
		int n = c ? virConnectListAllDomains(c, &doms, VIR_CONNECT_LIST_DOMAINS_INACTIVE |
								    VIR_CONNECT_LIST_DOMAINS_TRANSIENT)
			  : 0;
		for (int i = 0; i < n; i++) {
			const char *name = virDomainGetName(doms[i]);
			if (!strncmp(name, E->prefix, pl) && name[pl] == '-' && !strncmp(name + pl + 1, "i-", 2)) {
				log_msg("warn", "domain %s: shut off but still listed by libvirt, dropping it", name);
				domain_drop_ghost(doms[i]);
			}
			virDomainFree(doms[i]);
		}
		free(doms);
	}
}

/* Domains named <prefix>-i-… (both drivers) that no live instance explains. */
static void audit_strays(struct audit *a, json_t *known)
{
	size_t pl = strlen(E->prefix);
	for (int k = 0; k < 2; k++) {
		struct err e = {0};
		virConnectPtr c = domain_conn(k ? "qemu" : "lxc", &e);
		if (!c)
			continue; /* no qemu driver: nothing of it to audit */
		virDomainPtr *doms = NULL;
		int n = virConnectListAllDomains(c, &doms, 0);
		for (int i = 0; i < n; i++) {
			const char *name = virDomainGetName(doms[i]);
			bool ours = !strncmp(name, E->prefix, pl) && name[pl] == '-' && !strncmp(name + pl + 1, "i-", 2);
			if (ours && virDomainIsActive(doms[i]) == 0 && virDomainIsPersistent(doms[i]) == 0) {
				/* Transient and shut off, yet listed: what libvirtd killed in the middle of a
				 * domain's shutdown leaves after its restart. */
				a->checked++;
				drift(a, "domain %s (%s): shut off but still listed by libvirt", name, k ? "qemu" : "lxc");
				if (a->repair)
					domain_drop_ghost(doms[i]);
			} else if (ours && !json_object_get(known, name)) {
				a->checked++;
				drift(a, "domain %s (%s): of no instance", name, k ? "qemu" : "lxc");
				if (a->repair) {
					if (virDomainIsActive(doms[i]) == 1 && virDomainDestroy(doms[i]) < 0) {
						struct err de = {0};
						err_set(&de, "InternalError", "cannot destroy the stray domain");
						repair_failed(a, name, &de);
					}
					if (virDomainIsPersistent(doms[i]) == 1)
						virDomainUndefine(doms[i]);
				}
			}
			virDomainFree(doms[i]);
		}
		free(doms);
	}
}

static void audit_all(struct audit *a)
{
	_cleanup_json_ json_t *known = json_object();
	const char *id;
	json_t *o;
	json_object_foreach(store_objects(E->store), id, o)
	{
		if (!strcmp(jstr(o, "_type"), "instance"))
			audit_instance(a, id, o, known);
	}
	audit_strays(a, known);
}

/* Under the lock (server.c): the model does not move while it is compared. */
int h_audit_lab(struct ereq *rq, json_t **ret, struct err *e)
{
	bool repair = json_is_true(json_object_get(rq->params, "Repair"));
	struct audit a = {json_array(), 0, repair, json_array()};
	audit_all(&a);
	json_t *repaired = NULL;
	if (repair && json_array_size(a.drifts)) {
		repaired = a.drifts;
		json_t *failed = a.failed;
		a = (struct audit){json_array(), 0, false, failed};
		audit_all(&a);
		json_t *s;
		size_t i;
		json_array_foreach(repaired, i, s) log_msg("info", "audit-lab: repaired %s", json_string_value(s));
	}
	if (json_array_size(a.drifts)) {
		_cleanup_free_ char *list = NULL;
		size_t n = 0, i;
		FILE *f = open_memstream(&list, &n);
		json_t *s;
		json_array_foreach(a.drifts, i, s) fprintf(f, "\n  %s", json_string_value(s));
		json_array_foreach(a.failed, i, s) fprintf(f, "\n  (repair failed: %s)", json_string_value(s));
		fclose(f);
		err_set(e, "KernelDrift", "%zu drift%s between the model and libvirt%s:%s", json_array_size(a.drifts),
			json_array_size(a.drifts) == 1 ? "" : "s", repaired ? " remain after the repair" : "", list);
		json_decref(a.drifts);
		json_decref(a.failed);
		json_decref(repaired);
		return -EIO;
	}
	json_decref(a.failed);
	*ret = json_pack("{s:I, s:o, s:o}", "Checked", (json_int_t)a.checked, "Drifts", a.drifts, "Repaired",
			 repaired ? repaired : json_array());
	return 0;
}
