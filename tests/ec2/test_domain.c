/* domain_xml(): the libvirt XML of an instance's domain, for a container (lxc) and a VM (qemu).
 *
 * - byte for byte against golden files in tests/ec2/golden/ (when the XML changes on purpose,
 *   regenerate with  UPDATE_GOLDEN=1 meson test -C build test_domain  and review the diff);
 * - well-formed, and accepted by libvirt: libvirt's test driver (test:///default, no daemon,
 *   no root) defines each domain with VIR_DOMAIN_DEFINE_VALIDATE, which checks it against
 *   libvirt's RelaxNG schema, and libvirt's own dump of the defined domain is read back (so a
 *   capability name libvirt does not know, or an element it drops, shows);
 * - properties: every capability in domain_dropped_caps is there with state='off' (and libcap
 *   knows it as cap_<name>: exec drops the same list through cap_from_name, which skips a name
 *   it does not know silently), the ENI's MAC and port name are on the interface, and paths holding XML's
 *   special characters are escaped and come back unchanged. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <sys/capability.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include "ec2d.h"
#include "../unit/tap.h"

#ifndef GOLDEN_DIR
#error "GOLDEN_DIR must name tests/ec2/golden"
#endif

/* ec2d.h declares E (main.c defines it in the daemon). domain_xml() reads nothing from it,
 * but the library's other objects refer to it. */
struct ec2d *E;
static struct ec2d lab;

/* Defined in ec2d/main.c beside the verb table; server.c's action table refers to it. */
int h_describe_lab(struct ereq *rq, json_t **ret, struct err *e)
{
	(void)rq, (void)ret;
	return err_set(e, "InternalError", "not in the unit test");
}

#define ID "i-0123456789abcdef0"
#define DIR "/var/lib/vpclab/ec2d/instances/" ID

static const struct domain_spec lxc_spec = {
	.name = "ut-" ID,
	.kind = "lxc",
	.uuid = "0b4c2c3e-5d6f-4a1b-8c9d-0e1f2a3b4c5d",
	.vcpus = 2,
	.memory_mib = 1024,
	.mac = "02:3a:5c:7e:91:b2",
	.link = "ute0abcdef1",
	.root = DIR "/rootfs",
	.init = "/sbin/init",
};

static const struct domain_spec qemu_spec = {
	.name = "ut-i-0fedcba9876543210",
	.kind = "qemu",
	.uuid = "9a8b7c6d-5e4f-4321-8fed-cba987654321",
	.vcpus = 1,
	.memory_mib = 512,
	.mac = "02:11:22:33:44:55",
	.link = "ute12345678",
	.kernel = "/var/lib/vpclab/images/busybox-vm/vmlinuz",
	.initrd = "/var/lib/vpclab/images/busybox-vm/initrd.img",
	.cmdline = "console=ttyS0 panic=-1 quiet",
	.console_log = "/var/lib/vpclab/ec2d/instances/i-0fedcba9876543210/console.log",
	.exec_sock = "/run/vpclab/ec2d/i-0fedcba9876543210.exec",
	.kvm = false,
};



static void golden(const char *file, const char *text)
{
	char path[PATH_MAX];
	const char *update = getenv("UPDATE_GOLDEN");
	snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR, file);
	if (update && *update && strcmp(update, "0") != 0) {
		FILE *f = fopen(path, "w");
		bool wrote = f && fputs(text ? text : "", f) >= 0;
		if (f)
			wrote &= fclose(f) == 0;
		ok(wrote, "UPDATE_GOLDEN: wrote %s", path);
		return;
	}
	char *want = slurp(path);
	if (!want)
		ok(false, "golden file %s is readable (run with UPDATE_GOLDEN=1 to create it)", path);
	else if (!ok(text && strcmp(text, want) == 0, "%s matches byte for byte", file))
		show_difference(text ? text : "", want);
	free(want);
}

/* --- XPath over a parsed document ---------------------------------------------------------- */

static xmlDocPtr parse(const char *text)
{
	return text ? xmlReadMemory(text, (int)strlen(text), "domain.xml", NULL,
				    XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
					    XML_PARSE_NOWARNING)
		    : NULL;
}

/* The number of nodes EXPR selects. */
static int count(xmlDocPtr doc, const char *expr)
{
	if (!doc)
		return -1;
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathObjectPtr o = ctx ? xmlXPathEvalExpression(BAD_CAST expr, ctx) : NULL;
	int n = o && o->nodesetval ? o->nodesetval->nodeNr : o ? 0 : -1;
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return n;
}

/* The string value of EXPR (string(...)); caller frees. */
static char *value(xmlDocPtr doc, const char *expr)
{
	if (!doc)
		return NULL;
	char full[512];
	snprintf(full, sizeof(full), "string(%s)", expr);
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathObjectPtr o = ctx ? xmlXPathEvalExpression(BAD_CAST full, ctx) : NULL;
	char *s = o && o->stringval ? strdup((const char *)o->stringval) : NULL;
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return s;
}

static void is_value(xmlDocPtr doc, const char *expr, const char *want, const char *what)
{
	char *got = value(doc, expr);
	is_str(got, want, "%s: %s", what, expr);
	free(got);
}

/* Every dropped capability once, state='off', under <capabilities policy='default'>. */
static void caps_off(xmlDocPtr doc, const char *what)
{
	int n = 0, missing = 0;
	char expr[256];
	for (const char *const *c = domain_dropped_caps; *c; c++, n++) {
		snprintf(expr, sizeof(expr), "/domain/features/capabilities[@policy='default']/%s[@state='off']", *c);
		if (count(doc, expr) != 1) {
			diag("  %s: no <%s state='off'/>", what, *c);
			missing++;
		}
	}
	ok(n > 0 && missing == 0, "%s: all %d dropped capabilities are there with state='off'", what, n);
	is_int(count(doc, "/domain/features/capabilities/*"), n,
	       "%s: and nothing else under <capabilities>", what);
}

static void interface(xmlDocPtr doc, const struct domain_spec *s, const char *what)
{
	is_int(count(doc, "/domain/devices/interface"), 1, "%s: one interface", what);
	is_value(doc, "/domain/devices/interface/@type", "ethernet", what);
	is_value(doc, "/domain/devices/interface/mac/@address", s->mac, what);
	is_value(doc, "/domain/devices/interface/target/@dev", s->link, what);
	is_value(doc, "/domain/devices/interface/target/@managed", "yes", what);
}

/* --- libvirt's test driver ------------------------------------------------------------------ */

static virConnectPtr conn;

static void quiet(void *data, virErrorPtr err)
{
	(void)data, (void)err;
}

/* Defines the XML with schema validation; returns libvirt's own XML of the result (or NULL). */
static char *define(const char *xml, const char *what)
{
	if (!conn) {
		ok(false, "%s: defined by libvirt's test driver (no connection)", what);
		return NULL;
	}
	virDomainPtr d = virDomainDefineXMLFlags(conn, xml, VIR_DOMAIN_DEFINE_VALIDATE);
	if (!ok(d != NULL, "%s: libvirt's test driver defines it (schema-validated)", what)) {
		diag("  libvirt: %s", virGetLastErrorMessage());
		return NULL;
	}
	char *dump = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
	virDomainUndefine(d);
	virDomainFree(d);
	return dump;
}

static void check_lxc(void)
{
	const char *what = "lxc";
	char *xml = domain_xml(&lxc_spec), *again = domain_xml(&lxc_spec);
	ok(xml && *xml, "lxc: domain_xml returns text");
	ok(xml && again && strcmp(xml, again) == 0, "lxc: a pure function of the spec");
	free(again);
	golden("lxc.xml", xml);
	xmlDocPtr doc = parse(xml);
	ok(doc != NULL, "lxc: well-formed XML");
	is_value(doc, "/domain/@type", "lxc", what);
	is_value(doc, "/domain/name", lxc_spec.name, what);
	is_value(doc, "/domain/uuid", lxc_spec.uuid, what);
	is_value(doc, "/domain/memory[@unit='MiB']", "1024", what);
	is_value(doc, "/domain/vcpu", "2", what);
	is_value(doc, "/domain/os/type", "exe", what);
	is_value(doc, "/domain/os/init", "/sbin/init", what);
	is_value(doc, "/domain/devices/filesystem[@type='mount']/source/@dir", lxc_spec.root, what);
	is_value(doc, "/domain/devices/filesystem[@type='mount']/target/@dir", "/", what);
	is_int(count(doc, "/domain/devices/console[@type='pty']"), 1, "lxc: a pty console (ec2d drains it)");
	is_int(count(doc, "/domain/os/kernel | /domain/devices/emulator | /domain/seclabel"), 0,
	       "lxc: no kernel, emulator or seclabel");
	caps_off(doc, what);
	interface(doc, &lxc_spec, what);
	xmlFreeDoc(doc);

	char *dump = define(xml, what);
	xmlDocPtr back = parse(dump);
	ok(back != NULL, "lxc: libvirt's dump of the defined domain parses");
	is_value(back, "/domain/@type", "lxc", "lxc as libvirt keeps it");
	caps_off(back, "lxc as libvirt keeps it");
	interface(back, &lxc_spec, "lxc as libvirt keeps it");
	is_value(back, "/domain/devices/filesystem/source/@dir", lxc_spec.root, "lxc as libvirt keeps it");
	is_value(back, "/domain/memory[@unit='KiB']", "1048576", "lxc as libvirt keeps it");
	xmlFreeDoc(back);
	free(dump);
	free(xml);
}

static void check_qemu(void)
{
	const char *what = "qemu";
	char *xml = domain_xml(&qemu_spec), *again = domain_xml(&qemu_spec);
	ok(xml && *xml, "qemu: domain_xml returns text");
	ok(xml && again && strcmp(xml, again) == 0, "qemu: a pure function of the spec");
	free(again);
	golden("qemu.xml", xml);
	xmlDocPtr doc = parse(xml);
	ok(doc != NULL, "qemu: well-formed XML");
	is_value(doc, "/domain/@type", "qemu", "qemu (TCG)");
	is_value(doc, "/domain/name", qemu_spec.name, what);
	is_value(doc, "/domain/memory[@unit='MiB']", "512", what);
	is_value(doc, "/domain/vcpu", "1", what);
	is_value(doc, "/domain/os/type[@arch='x86_64']", "hvm", what);
	is_value(doc, "/domain/os/kernel", qemu_spec.kernel, what);
	is_value(doc, "/domain/os/initrd", qemu_spec.initrd, what);
	is_value(doc, "/domain/os/cmdline", qemu_spec.cmdline, what);
	is_value(doc, "/domain/devices/serial[@type='file']/source/@path", qemu_spec.console_log, what);
	is_value(doc, "/domain/devices/channel[@type='unix']/source/@path", qemu_spec.exec_sock, what);
	is_value(doc, "/domain/devices/channel/target[@type='virtio']/@name", "org.vpclab.exec", what);
	is_value(doc, "/domain/devices/interface/model/@type", "virtio", what);
	is_int(count(doc, "/domain/features/capabilities | /domain/devices/filesystem"), 0,
	       "qemu: no container capabilities or filesystem");
	interface(doc, &qemu_spec, what);
	xmlFreeDoc(doc);

	struct domain_spec kvm = qemu_spec;
	kvm.kvm = true;
	char *kx = domain_xml(&kvm);
	doc = parse(kx);
	is_value(doc, "/domain/@type", "kvm", "qemu with KVM");
	/* Only the domain type differs. */
	char *t = kx ? strstr(kx, "type=\"kvm\"") : NULL, *as_tcg = NULL;
	if (t && asprintf(&as_tcg, "%.*stype=\"qemu\"%s", (int)(t - kx), kx, t + 10) < 0)
		as_tcg = NULL;
	ok(as_tcg && xml && strcmp(as_tcg, xml) == 0, "qemu with KVM: only the domain type differs from TCG");
	free(as_tcg);
	xmlFreeDoc(doc);
	free(kx);

	char *dump = define(xml, what);
	xmlDocPtr back = parse(dump);
	ok(back != NULL, "qemu: libvirt's dump of the defined domain parses");
	interface(back, &qemu_spec, "qemu as libvirt keeps it");
	is_value(back, "/domain/os/kernel", qemu_spec.kernel, "qemu as libvirt keeps it");
	is_value(back, "/domain/devices/channel/source/@path", qemu_spec.exec_sock, "qemu as libvirt keeps it");
	is_value(back, "/domain/devices/serial/source/@path", qemu_spec.console_log, "qemu as libvirt keeps it");
	xmlFreeDoc(back);
	free(dump);
	free(xml);
}

/* Paths and command lines with every character XML treats specially. */
static void check_escaping(void)
{
	static const char nasty[] = "/srv/a&b/<c>/\"d\"/'e'/f]]>g";
	struct domain_spec l = lxc_spec, q = qemu_spec;
	l.root = nasty;
	l.init = "/sbin/init&<x>";
	q.kernel = nasty;
	q.cmdline = "console=ttyS0 a=\"b c\" d<e & f>g";
	q.console_log = "/tmp/x&y/console.log";
	char *lx = domain_xml(&l), *qx = domain_xml(&q);
	ok(lx && strstr(lx, "/srv/a&amp;b/&lt;c&gt;/") && !strstr(lx, "<c>") && !strstr(lx, "a&b"),
	   "lxc: & and < in the root path are escaped");
	ok(qx && strstr(qx, "d&lt;e &amp; f&gt;g") && !strstr(qx, "d<e"),
	   "qemu: & and < in the kernel command line are escaped");
	xmlDocPtr ld = parse(lx), qd = parse(qx);
	ok(ld && qd, "both still parse");
	is_value(ld, "/domain/devices/filesystem/source/@dir", nasty, "lxc root with special characters");
	is_value(ld, "/domain/os/init", "/sbin/init&<x>", "lxc init with special characters");
	is_value(qd, "/domain/os/kernel", nasty, "qemu kernel with special characters");
	is_value(qd, "/domain/os/cmdline", q.cmdline, "qemu cmdline with special characters");
	is_value(qd, "/domain/devices/serial/source/@path", q.console_log, "qemu console log path");
	xmlFreeDoc(ld);
	xmlFreeDoc(qd);

	char *dump = define(lx, "lxc with special characters");
	xmlDocPtr back = parse(dump);
	is_value(back, "/domain/devices/filesystem/source/@dir", nasty, "libvirt keeps the escaped root");
	xmlFreeDoc(back);
	free(dump);
	free(lx);
	free(qx);
}

static void check_cap_list(void)
{
	/* The ones the confinement integration test looks at, and libcap's view of each. */
	static const char *const must[] = {"sys_admin", "sys_module", "mknod", "sys_rawio",
					   "sys_ptrace", "sys_time", "sys_boot", NULL};
	int n = 0, unknown = 0;
	for (const char *const *c = domain_dropped_caps; *c; c++, n++) {
		cap_value_t v;
		char name[64];
		snprintf(name, sizeof(name), "cap_%s", *c);
		if (cap_from_name(name, &v) != 0) {
			diag("  libcap does not know '%s'", *c);
			unknown++;
		}
	}
	ok(n > 0 && unknown == 0, "libcap knows all %d dropped capabilities as cap_<name>", n);
	for (const char *const *m = must; *m; m++) {
		bool found = false;
		for (const char *const *c = domain_dropped_caps; *c; c++)
			found |= strcmp(*c, *m) == 0;
		ok(found, "%s is dropped", *m);
	}
	/* The container's DHCP client needs these, in its own network namespace. */
	for (const char *const *c = domain_dropped_caps; *c; c++)
		if (!strcmp(*c, "net_admin") || !strcmp(*c, "net_raw"))
			ok(false, "%s must stay (the container's udhcpc needs it)", *c);
}

int main(void)
{
	snprintf(lab.prefix, sizeof(lab.prefix), "ut");
	snprintf(lab.state_dir, sizeof(lab.state_dir), "/nonexistent/ut-state");
	snprintf(lab.run_dir, sizeof(lab.run_dir), "/nonexistent/ut-run");
	snprintf(lab.images_dir, sizeof(lab.images_dir), "/nonexistent/ut-images");
	lab.kvm = -1;
	E = &lab;
	xmlInitParser();
	virSetErrorFunc(NULL, quiet);
	conn = virConnectOpen("test:///default");
	if (!conn)
		diag("cannot open libvirt's test driver: %s", virGetLastErrorMessage());

	check_cap_list();
	check_lxc();
	check_qemu();
	check_escaping();

	if (conn)
		virConnectClose(conn);
	xmlCleanupParser();
	return done();
}
