/* An instance's libvirt domain: a container (lxc:///system) or a TCG/KVM VM (qemu:///system).
 * Domains are transient: ec2d's journal holds the instance, and its domain is made again from
 * it at every start. See docs/architecture.md, "Instances". */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libvirt/libvirt-lxc.h>
#include <libvirt/virterror.h>
#include <libxml/xmlwriter.h>
#include "cleanup.h"
#include "ec2d.h"
#include "log.h"

bool domain_lost;

void domain_name(const char *instance_id, char buf[static 64])
{
	snprintf(buf, 64, "%s-%s", E->prefix, instance_id);
}

/* Capabilities a container keeps none of: they would reach past its own namespaces (mounts
 * and cgroups, modules, raw devices, the clock, other processes). NET_ADMIN and NET_RAW stay:
 * they act on the container's own network namespace only (its DHCP client needs them), and
 * the VPC's anti-spoofing sets judge whatever it sends. */
const char *const domain_dropped_caps[] = {"sys_admin", "sys_module", "sys_rawio", "sys_time",
					   "sys_ptrace", "sys_boot", "mknod", "mac_admin",
					   "mac_override", "audit_control", "syslog", "sys_resource",
					   "sys_pacct", "sys_nice", "wake_alarm", "block_suspend",
					   "lease", "linux_immutable", "ipc_lock", "sys_tty_config",
					   NULL};

#define W(x) \
	if ((x) < 0) \
		goto fail
#define ELEM(name, text) W(xmlTextWriterWriteElement(w, BAD_CAST(name), BAD_CAST(text)))
#define START(name) W(xmlTextWriterStartElement(w, BAD_CAST(name)))
#define END() W(xmlTextWriterEndElement(w))
#define ATTR(name, value) W(xmlTextWriterWriteAttribute(w, BAD_CAST(name), BAD_CAST(value)))

char *domain_xml(const struct domain_spec *s)
{
	xmlBufferPtr buf = xmlBufferCreate();
	xmlTextWriterPtr w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;
	char num[32];
	bool vm = strcmp(s->kind, "qemu") == 0;
	char *out = NULL;

	if (!w)
		goto fail;
	xmlTextWriterSetIndent(w, 1);
	xmlTextWriterSetIndentString(w, BAD_CAST "  ");
	START("domain");
	ATTR("type", vm ? (s->kvm ? "kvm" : "qemu") : "lxc");
	ELEM("name", s->name);
	ELEM("uuid", s->uuid);
	START("memory");
	ATTR("unit", "MiB");
	snprintf(num, sizeof(num), "%lld", s->memory_mib);
	W(xmlTextWriterWriteString(w, BAD_CAST num));
	END();
	snprintf(num, sizeof(num), "%d", s->vcpus);
	ELEM("vcpu", num);
	START("os");
	if (vm) {
		START("type");
		ATTR("arch", "x86_64");
		ATTR("machine", "pc");
		W(xmlTextWriterWriteString(w, BAD_CAST "hvm"));
		END();
		ELEM("kernel", s->kernel);
		ELEM("initrd", s->initrd);
		ELEM("cmdline", s->cmdline);
	} else {
		ELEM("type", "exe");
		ELEM("init", s->init);
	}
	END();
	START("features");
	if (vm) {
		START("acpi");
		END();
	} else {
		/* Its own network namespace whatever the devices: never the host's. */
		START("privnet");
		END();
		START("capabilities");
		ATTR("policy", "default");
		for (const char *const *c = domain_dropped_caps; *c; c++) {
			START(*c);
			ATTR("state", "off");
			END();
		}
		END();
	}
	END();
	ELEM("on_poweroff", "destroy");
	ELEM("on_reboot", "restart");
	ELEM("on_crash", "destroy");
	if (vm) {
		/* QEMU runs as root so that it can use the lab's files as they are. */
		START("seclabel");
		ATTR("type", "static");
		ATTR("model", "dac");
		ATTR("relabel", "no");
		ELEM("label", "+0:+0");
		END();
	}
	START("devices");
	if (vm) {
		ELEM("emulator", "/usr/bin/qemu-system-x86_64");
	} else {
		START("filesystem");
		ATTR("type", "mount");
		START("source");
		ATTR("dir", s->root);
		END();
		START("target");
		ATTR("dir", "/");
		END();
		END();
	}
	/* libvirt makes the host-side link (veth or tap) under the ENI's port name without
	 * attaching it; vpcd moves it into the VPC namespace onto the subnet bridge. */
	START("interface");
	ATTR("type", "ethernet");
	START("mac");
	ATTR("address", s->mac);
	END();
	START("target");
	ATTR("dev", s->link);
	ATTR("managed", "yes");
	END();
	if (vm) {
		START("model");
		ATTR("type", "virtio");
		END();
	}
	END();
	if (vm) {
		START("serial");
		ATTR("type", "file");
		START("source");
		ATTR("path", s->console_log);
		ATTR("append", "on");
		END();
		START("target");
		ATTR("port", "0");
		END();
		END();
		START("channel");
		ATTR("type", "unix");
		START("source");
		ATTR("mode", "bind");
		ATTR("path", s->exec_sock);
		END();
		START("target");
		ATTR("type", "virtio");
		ATTR("name", "org.vpclab.exec");
		END();
		END();
		START("controller");
		ATTR("type", "usb");
		ATTR("model", "none");
		END();
		START("memballoon");
		ATTR("model", "none");
		END();
	} else {
		START("console");
		ATTR("type", "pty");
		END();
	}
	END(); /* devices */
	END(); /* domain */
	W(xmlTextWriterEndDocument(w));
	xmlFreeTextWriter(w);
	w = NULL;
	out = strdup((const char *)xmlBufferContent(buf));
fail:
	if (w)
		xmlFreeTextWriter(w);
	if (buf)
		xmlBufferFree(buf);
	return out;
}

/* --- libvirt connections ------------------------------------------------------------------ */

static void lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	(void)conn, (void)detail, (void)opaque;
	if (event == VIR_DOMAIN_EVENT_STOPPED || event == VIR_DOMAIN_EVENT_CRASHED)
		died_enqueue(virDomainGetName(dom));
}

static void conn_closed(virConnectPtr conn, int reason, void *opaque)
{
	(void)conn, (void)reason, (void)opaque;
	/* libvirtd went away. Nothing here may wait for the lock (this is libvirt's event
	 * thread): domain_conn() makes the connection again on next use, and the worker's
	 * refresh (server.c) finds the instances again. */
	domain_lost = true;
}

/* The connection for a kind of domain, opened on first use and again after libvirtd
 * restarted. Called with the lock held. */
virConnectPtr domain_conn(const char *kind, struct err *e)
{
	bool vm = strcmp(kind, "qemu") == 0;
	virConnectPtr *c = vm ? &E->qemu : &E->lxc;
	if (*c && virConnectIsAlive(*c) == 1)
		return *c;
	if (*c) {
		virConnectClose(*c);
		*c = NULL;
	}
	const char *uri = vm ? E->qemu_uri : E->lxc_uri;
	*c = virConnectOpen(uri);
	if (!*c) {
		err_set(e, "InternalError", "cannot connect to libvirt at '%s': %s (is libvirtd running? scripts/setup starts it)",
			uri, virGetLastErrorMessage());
		return NULL;
	}
	virConnectDomainEventRegisterAny(*c, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
					 VIR_DOMAIN_EVENT_CALLBACK(lifecycle), NULL, NULL);
	virConnectRegisterCloseCallback(*c, conn_closed, NULL, NULL);
	virConnectSetKeepAlive(*c, 5, 3);
	return *c;
}

static virDomainPtr lookup(json_t *inst)
{
	char name[64];
	struct err ignored = {0};
	virConnectPtr c = domain_conn(jstr(inst, "_kind"), &ignored);
	domain_name(jstr(inst, "InstanceId"), name);
	return c ? virDomainLookupByName(c, name) : NULL;
}

int domain_active(json_t *inst)
{
	char name[64];
	struct err ignored = {0};
	virConnectPtr c = domain_conn(jstr(inst, "_kind"), &ignored);
	if (!c)
		return -ENOTCONN;
	domain_name(jstr(inst, "InstanceId"), name);
	virDomainPtr d = virDomainLookupByName(c, name);
	if (!d)
		return 0;
	int a = virDomainIsActive(d);
	virDomainFree(d);
	return a == 1;
}

static void uuid_of(const char *id, char buf[static 37])
{
	/* Two FNV-1a hashes of prefix and instance ID: stable, and distinct between labs. */
	uint64_t h[2] = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull};
	for (int k = 0; k < 2; k++) {
		for (const char *p = E->prefix; *p; p++)
			h[k] = (h[k] ^ (unsigned char)*p) * 0x100000001b3ull;
		h[k] = (h[k] ^ '/') * 0x100000001b3ull;
		for (const char *p = id; *p; p++)
			h[k] = (h[k] ^ (unsigned char)*p) * 0x100000001b3ull;
	}
	snprintf(buf, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(h[0] >> 32),
		 (unsigned)(h[0] >> 16 & 0xffff), (unsigned)(h[0] & 0xffff), (unsigned)(h[1] >> 48),
		 (unsigned long long)(h[1] & 0xffffffffffffull));
}

/* Containers cannot set their own hostname (no SYS_ADMIN): ec2d sets the one DHCP gives
 * them, in the container's UTS namespace. */
static void set_hostname(virDomainPtr d, const char *hostname)
{
	int *fds = NULL, n = -1;
	/* Right after createXML libvirt may not know the container's init yet. */
	for (int i = 0; i < 100 && (n = virDomainLxcOpenNamespace(d, &fds, 0)) <= 0; i++)
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	if (n <= 0)
		return;
	char path[64], link[64];
	int uts = -1;
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[i]);
		ssize_t l = readlink(path, link, sizeof(link) - 1);
		if (l > 0 && (link[l] = 0, strncmp(link, "uts:", 4) == 0))
			uts = fds[i];
	}
	/* libvirt sets the domain name as hostname while it starts the container, and that can
	 * land after createXML returned: a detached grandchild keeps the right name in place for
	 * the first ten seconds, without holding up the launch. */
	size_t hl = strlen(hostname);
	pid_t pid = uts >= 0 ? fork() : -1;
	if (pid == 0) {
		if (setns(uts, CLONE_NEWUTS) < 0 || sethostname(hostname, hl) < 0)
			_exit(1);
		if (fork() != 0)
			_exit(0);
		/* It outlives the request: none of ec2d's descriptors (the state lock) stay. */
		close_range(0, ~0U, 0);
		for (int i = 0; i < 300; i++) {
			struct utsname u;
			if (uname(&u) == 0 && strcmp(u.nodename, hostname) != 0)
				sethostname(hostname, hl);
			nanosleep(&(struct timespec){0, i < 100 ? 10000000 : 50000000}, NULL);
		}
		_exit(0);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	for (int i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
}

/* KVM can run a few instructions and still fail real guests here (nested virtualization:
 * "emulation failure", the guest paused). So the first VM start boots the image itself under
 * KVM once, and KVM is used only if its init prints on the console within 20 s. */
static int kvm_guest_probe(virConnectPtr c, json_t *img)
{
	char name[64], link[16], log[600], sock[600], kernel[600], initrd[600];
	snprintf(name, sizeof(name), "%s-kvmprobe", E->prefix);
	snprintf(link, sizeof(link), "%skvmprobe", E->prefix);
	snprintf(log, sizeof(log), "%s/ec2d/kvmprobe.log", E->run_dir);
	snprintf(sock, sizeof(sock), "%s/ec2d/kvmprobe.sock", E->run_dir);
	snprintf(kernel, sizeof(kernel), "%s/%s", jstr(img, "_dir"), jstr(img, "Kernel"));
	snprintf(initrd, sizeof(initrd), "%s/%s", jstr(img, "_dir"), jstr(img, "Initrd"));
	struct domain_spec s = {.name = name, .kind = "qemu", .uuid = "6b766d70-726f-6265-0000-000000000001",
				.vcpus = 1, .memory_mib = 256, .mac = "02:00:00:00:00:fe", .link = link,
				.kernel = kernel, .initrd = initrd, .cmdline = jstr(img, "Cmdline"),
				.console_log = log, .exec_sock = sock, .kvm = true};
	_cleanup_free_ char *xml = domain_xml(&s);
	unlink(log);
	virDomainPtr d = xml ? virDomainCreateXML(c, xml, 0) : NULL;
	int ok = 0;
	for (int i = 0; d && i < 200 && !ok; i++) {
		int state, reason;
		if (virDomainGetState(d, &state, &reason, 0) < 0 || state != VIR_DOMAIN_RUNNING)
			break;
		nanosleep(&(struct timespec){0, 100000000}, NULL);
		FILE *f = fopen(log, "re");
		char line[512];
		while (f && fgets(line, sizeof(line), f))
			ok |= strstr(line, "vpclab-init:") != NULL;
		if (f)
			fclose(f);
	}
	if (d) {
		virDomainDestroy(d);
		virDomainFree(d);
	}
	unlink(log);
	log_msg("info", "KVM %s real guests here: VMs use %s", ok ? "runs" : "does not run",
		ok ? "KVM" : "TCG");
	return ok;
}

/* The answer holds until the host reboots: kept in /run, shared by every lab. */
#define KVM_PROBE_FILE "/run/vpclab-kvm-probe"
static int kvm_cached_probe(virConnectPtr c, json_t *img)
{
	FILE *f = fopen(KVM_PROBE_FILE, "re");
	int v = -1;
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	if (v == 0 || v == 1)
		return v;
	v = kvm_probe() && kvm_guest_probe(c, img);
	if ((f = fopen(KVM_PROBE_FILE, "we"))) {
		fprintf(f, "%d\n", v);
		fclose(f);
	}
	return v;
}

int domain_start(json_t *inst, struct err *e)
{
	const char *id = jstr(inst, "InstanceId"), *kind = jstr(inst, "_kind");
	char name[64], uuid[37], dir[512], root[600], log[600], sock[600];
	/* What the instance boots was fixed at launch (its copy of the image), so that a rebuilt
	 * image does not change, or strand, instances made from the old one. */
	const json_t *type = instance_type_get(jstr(inst, "InstanceType"));
	bool vm = strcmp(kind, "qemu") == 0;
	virConnectPtr c = domain_conn(kind, e);
	if (!c)
		return -ENOTCONN;
	domain_name(id, name);
	uuid_of(id, uuid);
	instance_dir(id, dir);
	snprintf(root, sizeof(root), "%s/rootfs", dir);
	snprintf(log, sizeof(log), "%s/console.log", dir);
	snprintf(sock, sizeof(sock), "%s/ec2d/%s.exec", E->run_dir, id);
	char kernel[600], initrd[600];
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", dir);
	snprintf(initrd, sizeof(initrd), "%s/initrd.img", dir);
	if (vm && E->kvm < 0) {
		json_t *img = image_get(jstr(inst, "ImageId"));
		E->kvm = img ? kvm_cached_probe(c, img) : 0;
	}
	json_t *vcpu = json_object_get(json_object_get((json_t *)type, "VCpuInfo"), "DefaultVCpus");
	json_t *mem = json_object_get(json_object_get((json_t *)type, "MemoryInfo"), "SizeInMiB");
	struct domain_spec s = {
		.name = name, .kind = kind, .uuid = uuid,
		.vcpus = (int)json_integer_value(vcpu), .memory_mib = json_integer_value(mem),
		.mac = jstr(inst, "_mac"), .link = jstr(inst, "_link"), .root = root,
		.init = *jstr(inst, "_init") ? jstr(inst, "_init") : "/sbin/init",
		.kernel = kernel, .initrd = initrd, .cmdline = jstr(inst, "_cmdline"),
		.console_log = log, .exec_sock = sock, .kvm = E->kvm == 1,
	};
	_cleanup_free_ char *xml = domain_xml(&s);
	if (!xml)
		return err_set(e, "InternalError", "cannot write the domain XML of '%s'", id);
	/* A leftover of a crash (made but never journaled as running) goes first. */
	virDomainPtr old = virDomainLookupByName(c, name);
	if (old) {
		virDomainDestroy(old);
		virDomainFree(old);
	}
	/* A marker in the console log: what comes after it is this boot's. */
	int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (lfd >= 0) {
		char when[32];
		time_iso(when);
		dprintf(lfd, "\n" CONSOLE_START_MARK "%s --\n", when);
		close(lfd);
	}
	virDomainPtr d = virDomainCreateXML(c, xml, 0);
	if (!d)
		return err_set(e, "InternalError", "libvirt could not start '%s': %s", name,
			       virGetLastErrorMessage());
	if (!vm)
		set_hostname(d, jstr(inst, "_hostname"));
	virDomainFree(d);
	/* The link exists now: vpcd puts it on the subnet bridge. */
	json_t *res = NULL;
	int r = vpc_call(jstr(inst, "_region"), "AdoptNetworkInterfaceLink",
			 json_pack("{s:s}", "NetworkInterfaceId", jstr(inst, "_eni")), &res, e);
	json_decref(res);
	if (r < 0) {
		struct err ignored = {0};
		domain_stop(inst, false, &ignored);
		return r;
	}
	if (!vm) {
		console_attach(inst);
		volumes_mount(inst);
	}
	return 0;
}

int domain_stop(json_t *inst, bool graceful, struct err *e)
{
	virDomainPtr d = lookup(inst);
	console_detach(jstr(inst, "InstanceId"));
	if (!d)
		return 0;
	/* A container's init ends on SIGTERM; the busybox VM has no ACPI daemon, so VMs are
	 * powered off. */
	if (graceful && strcmp(jstr(inst, "_kind"), "lxc") == 0 &&
	    virDomainShutdownFlags(d, VIR_DOMAIN_SHUTDOWN_SIGNAL) == 0) {
		for (int i = 0; i < 300 && virDomainIsActive(d) == 1; i++)
			nanosleep(&(struct timespec){0, 10000000}, NULL);
	}
	int r = 0;
	if (virDomainIsActive(d) == 1 && virDomainDestroy(d) < 0 && virDomainIsActive(d) == 1)
		r = err_set(e, "InternalError", "libvirt could not stop '%s': %s",
			    virDomainGetName(d), virGetLastErrorMessage());
	virDomainFree(d);
	return r;
}

/* A freeze: the domain suspended (a container's processes frozen, a VM's vCPUs stopped) and
 * resumed; its memory, addresses and connections stay. */
int domain_suspend(json_t *inst, bool suspend, struct err *e)
{
	virDomainPtr d = lookup(inst);
	if (!d)
		return err_set(e, "IncorrectInstanceState", "The instance '%s' has no running domain",
			       jstr(inst, "InstanceId"));
	int r = suspend ? virDomainSuspend(d) : virDomainResume(d);
	if (r < 0)
		r = err_set(e, "InternalError", "libvirt could not %s '%s': %s", suspend ? "suspend" : "resume",
			    virDomainGetName(d), virGetLastErrorMessage());
	virDomainFree(d);
	return r;
}

/* --- does KVM really run a guest here? ----------------------------------------------------
 * /dev/kvm can exist while guests hang (see ../shared/ARCHITECTURE.md). The probe runs four
 * bytes of real-mode code (out to a port, then hlt) in a child that is killed after 2 s. */
static int kvm_try(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return 1;
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return 2;
	unsigned char *mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 3;
	static const unsigned char code[] = {0xb0, 0x2a, 0xe6, 0x10, 0xf4}; /* mov al,42; out 0x10,al; hlt */
	memcpy(mem, code, sizeof(code));
	struct kvm_userspace_memory_region region = {.slot = 0, .guest_phys_addr = 0x1000,
						     .memory_size = 0x1000, .userspace_addr = (uintptr_t)mem};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return 4;
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vcpu < 0 || size <= 0)
		return 5;
	struct kvm_run *run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	struct kvm_sregs sregs;
	if (run == MAP_FAILED || ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return 6;
	sregs.cs.base = 0, sregs.cs.selector = 0;
	struct kvm_regs regs = {.rip = 0x1000, .rflags = 2};
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return 7;
	if (ioctl(vcpu, KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_IO ||
	    ((unsigned char *)run)[run->io.data_offset] != 42)
		return 8;
	return 0;
}

int kvm_probe(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0)
		_exit(kvm_try());
	int status = -1;
	for (int i = 0; i < 200; i++) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			return WIFEXITED(status) && WEXITSTATUS(status) == 0;
		nanosleep(&(struct timespec){0, 10000000}, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return 0;
}
