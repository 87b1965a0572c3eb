#include "caps.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static void cap_freep(cap_t *c)
{
	if (*c)
		cap_free(*c);
}

int caps_require(const cap_value_t *caps, int n, struct err *e)
{
	__attribute__((cleanup(cap_freep))) cap_t cur = cap_get_proc();
	char missing[256] = "";
	if (!cur)
		return err_setr(e, -errno, "InternalError", "cannot read capabilities: %m");
	for (int i = 0; i < n; i++) {
		cap_flag_value_t v = CAP_CLEAR;
		cap_get_flag(cur, caps[i], CAP_PERMITTED, &v);
		if (v != CAP_SET) {
			char *name = cap_to_name(caps[i]);
			size_t m = strlen(missing);
			snprintf(missing + m, sizeof(missing) - m, "%s%s", m ? ", " : "", name);
			cap_free(name);
		}
	}
	if (missing[0])
		return err_setr(e, -EPERM, "UnauthorizedOperation",
				"missing capabilities: %s (run as root, or grant them with setcap)",
				missing);
	return 0;
}

int caps_keep_only(const cap_value_t *caps, int n, struct err *e)
{
	return caps_keep(caps, n, NULL, 0, e);
}

int caps_keep(const cap_value_t *caps, int n, const cap_value_t *pass, int m, struct err *e)
{
	__attribute__((cleanup(cap_freep))) cap_t c = cap_init();
	if (!c)
		return -ENOMEM;
	/* Bounding set first: dropping from it needs CAP_SETPCAP, which goes next. */
	for (cap_value_t v = 0; v <= CAP_LAST_CAP; v++) {
		int keep = 0;
		for (int i = 0; i < n; i++)
			keep |= caps[i] == v;
		for (int i = 0; i < m; i++)
			keep |= pass[i] == v;
		if (!keep && cap_drop_bound(v) < 0 && errno != EINVAL)
			return err_setr(e, -errno, "InternalError", "cannot drop from bounding set: %m");
	}
	if (cap_set_flag(c, CAP_EFFECTIVE, n, caps, CAP_SET) < 0 ||
	    cap_set_flag(c, CAP_PERMITTED, n, caps, CAP_SET) < 0 ||
	    (m && cap_set_flag(c, CAP_PERMITTED, m, pass, CAP_SET) < 0) || cap_set_proc(c) < 0)
		return err_setr(e, -errno, "InternalError", "cannot set capabilities: %m");
	/* Keep them across nothing: no exec is expected, and none may inherit them. */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	return 0;
}

void caps_child_bound_drop(const cap_value_t *caps, int n)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) == 0) {
		d[CAP_SETPCAP / 32].effective |= 1u << (CAP_SETPCAP % 32);
		syscall(SYS_capset, &h, d);
	}
	for (int i = 0; i < n; i++)
		prctl(PR_CAPBSET_DROP, caps[i], 0, 0, 0);
}
