/* netlib/ids.h: deterministic AWS-shaped IDs and MACs. */
#include <ctype.h>
#include <errno.h>
#include "ids.h"
#include "tap.h"

static bool all_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	return true;
}

static bool mac_shaped(const char *m)
{
	if (strlen(m) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2 ? m[i] != ':' : !all_lower_hex(m + i, 1))
			return false;
	}
	return true;
}

static void test_determinism(void)
{
	struct idgen a = {.state = 42}, b = {.state = 42}, c = {.state = 43};
	char ia[ID_MAX], ib[ID_MAX], ic[ID_MAX], ma[MAC_STRLEN], mb[MAC_STRLEN], mc[MAC_STRLEN];
	bool same = true, differ = false;

	/* Interleave kinds and MACs: the stream position, not the kind, decides the value. */
	for (int i = 0; i < 20; i++) {
		const char *kind = i % 3 == 0 ? "vpc" : i % 3 == 1 ? "subnet" : "eni";
		id_make(&a, kind, ia);
		id_make(&b, kind, ib);
		id_make(&c, kind, ic);
		mac_make(&a, ma);
		mac_make(&b, mb);
		mac_make(&c, mc);
		same &= strcmp(ia, ib) == 0 && strcmp(ma, mb) == 0;
		differ |= strcmp(ia, ic) != 0;
		differ |= strcmp(ma, mc) != 0;
	}
	ok(same, "same seed: same sequence of IDs and MACs");
	is_int((long long)a.state, (long long)b.state, "same seed: same stream position afterwards");
	ok(differ, "different seeds: different IDs");

	struct idgen d = {.state = 42}, e = {.state = 43};
	char x[ID_MAX], y[ID_MAX];
	id_make(&d, "vpc", x);
	id_make(&e, "vpc", y);
	ok(strcmp(x, y) != 0, "seeds 42 and 43 differ on the very first ID (%s vs %s)", x, y);

	/* The state is the whole generator: restoring it replays the same ID (txn rollback). */
	struct idgen f = {.state = 42};
	uint64_t saved = f.state;
	id_make(&f, "vpc", x);
	f.state = saved;
	id_make(&f, "vpc", y);
	is_str(y, x, "restoring the state replays the same ID");

	/* Each ID consumes two steps of the stream, each MAC one. */
	struct idgen g = {.state = 7}, h = {.state = 7};
	id_make(&g, "vpc", x);
	idgen_next(&h);
	idgen_next(&h);
	is_int((long long)g.state, (long long)h.state, "id_make advances the stream by two steps");
	mac_make(&g, ma);
	idgen_next(&h);
	is_int((long long)g.state, (long long)h.state, "mac_make advances the stream by one step");

	/* splitmix64 reference values (Vigna's splitmix64.c with x = 0). */
	struct idgen z = {.state = 0};
	is_int((long long)idgen_next(&z), (long long)0xe220a8397b1dcdafULL, "splitmix64(0) #1");
	is_int((long long)idgen_next(&z), (long long)0x6e789e6aa1b965f4ULL, "splitmix64(0) #2");
}

static void test_shapes(void)
{
	struct idgen g = {.state = 42};
	char id[ID_MAX], mac[MAC_STRLEN];
	bool ids_ok = true, macs_ok = true, first_nonzero_seen = false;

	for (int i = 0; i < 200; i++) {
		id_make(&g, "vpc", id);
		ids_ok &= strlen(id) == 4 + 17 && strncmp(id, "vpc-", 4) == 0 && all_lower_hex(id + 4, 17);
		first_nonzero_seen |= id[4] != '0';
		mac_make(&g, mac);
		macs_ok &= strncmp(mac, "02:", 3) == 0 && mac_shaped(mac);
	}
	ok(ids_ok, "200 IDs are 'vpc-' + 17 lowercase hex digits");
	ok(first_nonzero_seen, "the 17th digit varies (not always zero-padded)");
	ok(macs_ok, "200 MACs are 02:xx:xx:xx:xx:xx (17 chars, locally administered)");

	id_make(&g, "vpc-cidr-assoc", id);
	ok(strlen(id) == strlen("vpc-cidr-assoc-") + 17 && strncmp(id, "vpc-cidr-assoc-", 15) == 0,
	   "multi-dash kind keeps its 17 hex digits (%s)", id);
	id_make(&g, "i", id);
	ok(strlen(id) == 19 && id[0] == 'i' && id[1] == '-', "short kind 'i' (%s)", id);
	ok(id_check(id, "i") == 0, "id_make output passes id_check");
}

static void test_id_check(void)
{
	static const struct {
		const char *id, *kind;
		int want;
	} cases[] = {
		{"vpc-0123456789abcdef0", "vpc", 0},
		{"vpc-12345678", "vpc", 0},
		{"subnet-0a1b2c3d4e5f60718", "subnet", 0},
		{"vpc-cidr-assoc-0123456789abcdef0", "vpc-cidr-assoc", 0},
		{"vpc-1234567", "vpc", -EINVAL},               /* 7 digits */
		{"vpc-0123456789abcdef01", "vpc", -EINVAL},    /* 18 digits */
		{"vpc-0123456789ABCDEF0", "vpc", -EINVAL},     /* upper case */
		{"vpc-0123456789abcdefg", "vpc", -EINVAL},     /* not hex */
		{"vpc-", "vpc", -EINVAL},
		{"vpc", "vpc", -EINVAL},
		{"", "vpc", -EINVAL},
		{"vpc0123456789abcdef0", "vpc", -EINVAL},      /* no dash */
		{"subnet-0123456789abcdef0", "vpc", -EINVAL},  /* other kind */
		{"vpcx-0123456789abcdef0", "vpc", -EINVAL},    /* kind is a prefix */
		{"vpc-cidr-assoc-0123456789abcdef0", "vpc", -EINVAL},
		{"vpc-01234567 ", "vpc", -EINVAL},
		{"vpc- 1234567", "vpc", -EINVAL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(id_check(cases[i].id, cases[i].kind), cases[i].want, "id_check('%s', '%s')",
		       cases[i].id, cases[i].kind);
	is_int(id_check(NULL, "vpc"), -EINVAL, "id_check(NULL) rejected");
}

static void test_id_tail(void)
{
	is_str(id_tail("vpc-0123456789abcdef0"), "9abcdef0", "id_tail: last 8 hex digits");
	is_str(id_tail("eni-12345678"), "12345678", "id_tail of a short ID");
	is_str(id_tail("abc"), "abc", "id_tail of a string shorter than 8 is the whole string");
	is_str(id_tail("12345678"), "12345678", "id_tail of exactly 8 characters");
	const char *s = "vpc-0123456789abcdef0";
	ok(id_tail(s) == s + strlen(s) - 8, "id_tail points into its argument");
}

int main(void)
{
	test_determinism();
	test_shapes();
	test_id_check();
	test_id_tail();
	return done();
}
