/* netlib/cidr.h: parsing, formatting, containment, AWS reserved addresses and IPAM. */
#include <errno.h>
#include <string.h>
#include "cidr.h"
#include "tap.h"

static uint32_t ip(const char *s)
{
	uint32_t a = 0;
	if (ip_parse(s, &a) < 0) {
		diag("fixture address '%s' does not parse", s);
		abort();
	}
	return a;
}

static struct cidr cidr(const char *s)
{
	struct cidr c = {0};
	if (cidr_parse(s, &c) < 0) {
		diag("fixture CIDR '%s' does not parse", s);
		abort();
	}
	return c;
}

static void test_ip_parse(void)
{
	static const struct {
		const char *text;
		uint32_t want;
	} good[] = {
		{"0.0.0.0", 0},
		{"1.2.3.4", 0x01020304},
		{"10.0.0.1", 0x0a000001},
		{"255.255.255.255", 0xffffffff},
		{"192.168.100.200", 0xc0a864c8},
		{"100.64.0.10", 0x6440000a},
	};
	static const char *const bad[] = {
		"", "01.2.3.4", "1.02.3.4", "1.2.3.00", "00.0.0.0", "256.0.0.1", "1.2.3.256",
		"1.2.3", "1.2.3.", ".1.2.3", "1.2.3.4.5", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4x",
		"1.2.3.4/32", "1..3.4", "1.2.3.-4", "+1.2.3.4", "1.2.3.4\n", "0x1.2.3.4", "1000.0.0.1",
		"1.2.3.0004", "a.b.c.d",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint32_t a = 0xdeadbeef;
		int r = ip_parse(good[i].text, &a);
		ok(r == 0 && a == good[i].want, "ip_parse('%s') = %08x", good[i].text, good[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t a = 0xdeadbeef;
		int r = ip_parse(bad[i], &a);
		ok(r == -EINVAL && a == 0xdeadbeef, "ip_parse('%s') rejected, out-parameter untouched",
		   bad[i]);
	}
	uint32_t a = 7;
	ok(ip_parse(NULL, &a) == -EINVAL && a == 7, "ip_parse(NULL) rejected");
}

static void test_ip_format(void)
{
	char buf[IP_STRLEN];
	ip_format(0, buf);
	is_str(buf, "0.0.0.0", "ip_format(0)");
	ip_format(0xffffffff, buf);
	is_str(buf, "255.255.255.255", "ip_format(max) fits IP_STRLEN");
	ip_format(0x0a000105, buf);
	is_str(buf, "10.0.1.5", "ip_format(10.0.1.5)");
}

static void test_cidr_parse(void)
{
	static const struct {
		const char *text;
		uint32_t addr;
		uint8_t len;
	} good[] = {
		{"0.0.0.0/0", 0, 0},
		{"10.0.0.0/16", 0x0a000000, 16},
		{"10.0.0.0/8", 0x0a000000, 8},
		{"10.0.1.128/25", 0x0a000180, 25},
		{"192.168.0.7/32", 0xc0a80007, 32},
		{"255.255.255.255/32", 0xffffffff, 32},
		{"172.31.240.0/20", 0xac1ff000, 20},
		{"128.0.0.0/1", 0x80000000, 1},
	};
	static const char *const bad[] = {
		"10.0.0.1/16", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0", "/16", "10.0.0.0/016",
		"10.0.0.0/16 ", "10.0.0.0/16/1", "10.0.0.0/-1", "1.0.0.0/0", "10.0.1.0/23",
		"01.0.0.0/8", "10.0.0/24", "256.0.0.0/8", "10.0.0.0/1x", "10.0.0.0 /16",
		"10.0.0.0/100",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct cidr c = {.addr = 1, .len = 99};
		int r = cidr_parse(good[i].text, &c);
		ok(r == 0 && c.addr == good[i].addr && c.len == good[i].len, "cidr_parse('%s')",
		   good[i].text);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cidr c = {.addr = 1, .len = 99};
		int r = cidr_parse(bad[i], &c);
		ok(r == -EINVAL && c.addr == 1 && c.len == 99,
		   "cidr_parse('%s') rejected, out-parameter untouched", bad[i]);
	}
	struct cidr c = {0};
	ok(cidr_parse(NULL, &c) == -EINVAL, "cidr_parse(NULL) rejected");
}

static void test_cidr_format(void)
{
	static const char *const texts[] = {"0.0.0.0/0", "10.0.0.0/16", "10.0.1.128/25",
					    "255.255.255.255/32", "172.31.240.0/20"};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char buf[CIDR_STRLEN];
		struct cidr c = cidr(texts[i]);
		cidr_format(&c, buf);
		is_str(buf, texts[i], "cidr_format(cidr_parse('%s')) round trip", texts[i]);
	}
}

static void test_geometry(void)
{
	struct cidr all = cidr("0.0.0.0/0"), host = cidr("10.0.0.5/32"), s24 = cidr("10.0.1.0/24");
	is_int(cidr_mask(0), 0, "cidr_mask(0)");
	is_int(cidr_mask(1), 0x80000000, "cidr_mask(1)");
	is_int(cidr_mask(16), 0xffff0000, "cidr_mask(16)");
	is_int(cidr_mask(32), 0xffffffff, "cidr_mask(32)");
	is_int((long long)cidr_size(&all), 1LL << 32, "size of /0 is 2^32");
	is_int((long long)cidr_size(&host), 1, "size of /32 is 1");
	is_int((long long)cidr_size(&s24), 256, "size of /24 is 256");
	is_int(cidr_last(&all), 0xffffffff, "last of /0");
	is_int(cidr_last(&host), ip("10.0.0.5"), "last of /32 is itself");
	is_int(cidr_last(&s24), ip("10.0.1.255"), "last of 10.0.1.0/24");
	is_int(cidr_first(&s24), ip("10.0.1.0"), "first of 10.0.1.0/24");
}

static void test_contains(void)
{
	struct cidr vpc = cidr("10.0.0.0/16"), a = cidr("10.0.0.0/25"), b = cidr("10.0.0.128/25"),
		    c = cidr("10.0.0.0/24"), other = cidr("10.1.0.0/16"), wide = cidr("10.0.0.0/8"),
		    all = cidr("0.0.0.0/0"), h = cidr("10.0.255.255/32");

	ok(cidr_contains(&vpc, &vpc), "a CIDR contains itself");
	ok(cidr_contains(&vpc, &a), "10.0.0.0/16 contains 10.0.0.0/25");
	ok(cidr_contains(&vpc, &h), "10.0.0.0/16 contains its last /32");
	ok(!cidr_contains(&a, &vpc), "10.0.0.0/25 does not contain 10.0.0.0/16");
	ok(!cidr_contains(&vpc, &other), "10.0.0.0/16 does not contain 10.1.0.0/16");
	ok(!cidr_contains(&vpc, &wide), "a /16 does not contain the /8 around it");
	ok(cidr_contains(&all, &vpc), "0.0.0.0/0 contains everything");
	ok(cidr_contains(&all, &all), "0.0.0.0/0 contains itself");

	ok(cidr_contains_ip(&vpc, ip("10.0.0.0")), "network address is in the CIDR");
	ok(cidr_contains_ip(&vpc, ip("10.0.255.255")), "broadcast address is in the CIDR");
	ok(!cidr_contains_ip(&vpc, ip("10.1.0.0")), "first address after is not");
	ok(!cidr_contains_ip(&vpc, ip("9.255.255.255")), "last address before is not");
	ok(cidr_contains_ip(&all, ip("255.255.255.255")), "0.0.0.0/0 contains 255.255.255.255");
	ok(cidr_contains_ip(&h, ip("10.0.255.255")) && !cidr_contains_ip(&h, ip("10.0.255.254")),
	   "a /32 contains exactly one address");

	ok(!cidr_overlaps(&a, &b), "adjacent halves 10.0.0.0/25 and 10.0.0.128/25 do not overlap");
	ok(cidr_overlaps(&a, &c) && cidr_overlaps(&c, &a), "nested CIDRs overlap both ways");
	ok(cidr_overlaps(&b, &c), "upper half overlaps the /24");
	ok(cidr_overlaps(&a, &a), "a CIDR overlaps itself");
	ok(!cidr_overlaps(&vpc, &other) && !cidr_overlaps(&other, &vpc), "disjoint /16s");
	ok(cidr_overlaps(&all, &h) && cidr_overlaps(&h, &all), "0.0.0.0/0 overlaps a /32");
}

static void test_reserved(void)
{
	struct cidr s = cidr("10.0.1.0/24"), t = cidr("10.0.0.16/28");
	ok(subnet_ip_reserved(&s, ip("10.0.1.0")), "network address reserved");
	ok(subnet_ip_reserved(&s, ip("10.0.1.1")), "+1 (router) reserved");
	ok(subnet_ip_reserved(&s, ip("10.0.1.2")), "+2 (DNS) reserved");
	ok(subnet_ip_reserved(&s, ip("10.0.1.3")), "+3 (future) reserved");
	ok(!subnet_ip_reserved(&s, ip("10.0.1.4")), "+4 is the first usable");
	ok(!subnet_ip_reserved(&s, ip("10.0.1.254")), "broadcast-1 is usable");
	ok(subnet_ip_reserved(&s, ip("10.0.1.255")), "broadcast reserved");
	ok(!subnet_ip_reserved(&s, ip("10.0.0.255")), "the address just below the subnet is not "
						      "reported reserved (no wrap-around)");
	ok(subnet_ip_reserved(&t, ip("10.0.0.16")) && subnet_ip_reserved(&t, ip("10.0.0.19")) &&
		   !subnet_ip_reserved(&t, ip("10.0.0.20")) && !subnet_ip_reserved(&t, ip("10.0.0.30")) &&
		   subnet_ip_reserved(&t, ip("10.0.0.31")),
	   "a /28 not at offset 0: .16-.19 and .31 reserved, .20-.30 not");
	is_int(subnet_router(&t), ip("10.0.0.17"), "subnet_router is +1");
	is_int(subnet_dns(&t), ip("10.0.0.18"), "subnet_dns is +2");

	struct cidr s28 = cidr("10.0.0.0/28"), s16 = cidr("10.0.0.0/16"), s29 = cidr("10.0.0.0/29"),
		    s30 = cidr("10.0.0.0/30"), s32 = cidr("10.0.0.0/32");
	is_int((long long)subnet_usable(&s28), 11, "a /28 has 11 usable addresses");
	is_int((long long)subnet_usable(&s), 251, "a /24 has 251 usable addresses");
	is_int((long long)subnet_usable(&s16), 65531, "a /16 has 65531 usable addresses");
	is_int((long long)subnet_usable(&s29), 3, "a /29 has 3 usable addresses");
	is_int((long long)subnet_usable(&s30), 0, "a /30 has none");
	is_int((long long)subnet_usable(&s32), 0, "a /32 has none");
}

static void test_ipam(void)
{
	struct cidr s = cidr("10.0.1.0/24");
	uint32_t got = 0;
	int r;

	r = ipam_pick(&s, NULL, 0, &got);
	ok(r == 0 && got == ip("10.0.1.4"), "empty /24: first pick is .4");

	uint32_t used1[] = {ip("10.0.1.4")};
	r = ipam_pick(&s, used1, 1, &got);
	ok(r == 0 && got == ip("10.0.1.5"), "with .4 used: .5");

	uint32_t unordered[] = {ip("10.0.1.6"), ip("10.0.1.4"), ip("10.0.1.9"), ip("10.0.1.5")};
	r = ipam_pick(&s, unordered, 4, &got);
	ok(r == 0 && got == ip("10.0.1.7"), "used {.6,.4,.9,.5} in any order: .7");
	ok(unordered[0] == ip("10.0.1.6") && unordered[1] == ip("10.0.1.4"),
	   "the caller's array is not reordered");

	uint32_t gap[] = {ip("10.0.1.5"), ip("10.0.1.6")};
	r = ipam_pick(&s, gap, 2, &got);
	ok(r == 0 && got == ip("10.0.1.4"), "lowest free is picked even below used ones");

	uint32_t dups[] = {ip("10.0.1.4"), ip("10.0.1.4"), ip("10.0.1.5")};
	r = ipam_pick(&s, dups, 3, &got);
	ok(r == 0 && got == ip("10.0.1.6"), "duplicates in the used list are harmless");

	uint32_t foreign[] = {ip("10.0.1.1"), ip("10.0.1.2"), ip("192.168.0.4"), ip("10.0.0.4")};
	r = ipam_pick(&s, foreign, 4, &got);
	ok(r == 0 && got == ip("10.0.1.4"), "reserved and out-of-subnet used addresses are ignored");

	/* A /28 filled with its 11 usable addresses, in reverse order. */
	struct cidr s28 = cidr("10.0.0.16/28");
	uint32_t full[11];
	for (int i = 0; i < 11; i++)
		full[i] = ip("10.0.0.30") - (uint32_t)i;
	got = 0x12345678;
	r = ipam_pick(&s28, full, 11, &got);
	ok(r == -ENOSPC && got == 0x12345678, "/28 with 11 addresses used: -ENOSPC, out untouched");
	r = ipam_pick(&s28, full + 1, 10, &got);
	ok(r == 0 && got == ip("10.0.0.30"), "/28 with 10 used: the last usable (.30), never the "
					     "broadcast");

	/* Fill a /24 one pick at a time: 251 picks, then -ENOSPC. */
	uint32_t pool[260];
	size_t n = 0;
	bool seq = true;
	while (n < 260 && ipam_pick(&s, pool, n, &got) == 0) {
		seq &= got == ip("10.0.1.4") + (uint32_t)n;
		pool[n++] = got;
	}
	is_int((long long)n, 251, "a /24 yields exactly 251 addresses");
	ok(seq, "picked in ascending order .4 .. .254");

	struct cidr s29 = cidr("10.0.0.8/29");
	r = ipam_pick(&s29, NULL, 0, &got);
	ok(r == 0 && got == ip("10.0.0.12"), "/29: first pick is +4");
	uint32_t u29[] = {ip("10.0.0.12"), ip("10.0.0.13")};
	r = ipam_pick(&s29, u29, 2, &got);
	ok(r == 0 && got == ip("10.0.0.14"), "/29: third pick is +6");
	uint32_t f29[] = {ip("10.0.0.12"), ip("10.0.0.13"), ip("10.0.0.14")};
	r = ipam_pick(&s29, f29, 3, &got);
	is_int(r, -ENOSPC, "/29 with 3 used: -ENOSPC");

	static const char *const tiny[] = {"10.0.0.0/30", "10.0.0.4/31", "10.0.0.9/32"};
	for (size_t i = 0; i < 3; i++) {
		struct cidr t = cidr(tiny[i]);
		got = 0x12345678;
		r = ipam_pick(&t, NULL, 0, &got);
		ok(r == -ENOSPC && got == 0x12345678, "%s: nothing usable, -ENOSPC", tiny[i]);
	}
}

static void test_ipv6(void)
{
	static const struct {
		const char *text, *canon;
	} good[] = {
		{"fd00:1234:5600::/56", "fd00:1234:5600::/56"},
		{"FD00:1234:5600:0000::/56", "fd00:1234:5600::/56"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"::/0", "::/0"},
		{"fd00::1/128", "fd00::1/128"},
	};
	static const char *const bad[] = {"fd00::1/56", "fd00::/129", "fd00::", "fd00::/", "fd00::/056",
					  "fd00::/5x", "10.0.0.0/8", "fe80::1%eth0/64", "fd00:::/56", "", "/64"};
	struct cidr6 c;
	char buf[CIDR6_STRLEN];
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int r = cidr6_parse(good[i].text, &c);
		if (r == 0)
			cidr6_format(&c, buf);
		ok(r == 0 && !strcmp(buf, good[i].canon), "cidr6 '%s' parses and prints as %s", good[i].text,
		   good[i].canon);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(cidr6_parse(bad[i], &c) < 0, "cidr6 '%s' is refused", bad[i]);
	struct cidr6 pool, s56, s64, other;
	cidr6_parse("fd12:3456:7800::/40", &pool);
	ok(cidr6_nth(&pool, 56, 0, &s56) == 0 && (cidr6_format(&s56, buf), !strcmp(buf, "fd12:3456:7800::/56")),
	   "first /56 of a /40: %s", buf);
	ok(cidr6_nth(&pool, 56, 0xff01, &s56) == 0 && (cidr6_format(&s56, buf), !strcmp(buf, "fd12:3456:78ff:100::/56")),
	   "/56 number 0xff01: %s", buf);
	ok(cidr6_nth(&pool, 56, 0x10000, &s56) == -ERANGE, "/56 number 2^16 of a /40 is out of range");
	ok(cidr6_nth(&pool, 32, 0, &s56) == -ERANGE, "a shorter prefix is out of range");
	cidr6_nth(&pool, 56, 3, &s56);
	ok(cidr6_nth(&s56, 64, 0xff, &s64) == 0 && (cidr6_format(&s64, buf), !strcmp(buf, "fd12:3456:7800:3ff::/64")),
	   "last /64 of a /56: %s", buf);
	ok(cidr6_contains(&pool, &s56) && cidr6_contains(&s56, &s64) && !cidr6_contains(&s64, &s56),
	   "containment follows prefix length");
	cidr6_parse("fd12:3456:7800:400::/64", &other);
	ok(!cidr6_contains(&s56, &other) && !cidr6_overlaps(&s64, &other) && cidr6_overlaps(&pool, &other),
	   "a /64 of the next /56 is outside, overlaps only the pool");
	uint8_t a[16];
	char ab[IP6_STRLEN];
	cidr6_host(&s64, 4, a);
	ip6_format(a, ab);
	ok(!strcmp(ab, "fd12:3456:7800:3ff::4") && !subnet6_ip_reserved(&s64, a), "::4 is the first usable (%s)", ab);
	for (uint64_t h = 0; h < 4; h++) {
		cidr6_host(&s64, h, a);
		ok(subnet6_ip_reserved(&s64, a), "::%llu of a /64 is reserved", (unsigned long long)h);
	}
	cidr6_host(&s64, ~0ULL, a);
	ok(subnet6_ip_reserved(&s64, a), "the last address of a /64 is reserved");
	ip6_parse("fd12:3456:7800:400::9", a);
	ok(subnet6_ip_reserved(&s64, a) && !cidr6_contains_ip(&s64, a), "an address outside is not usable");
	ok(ip6_parse("fd00::1%lo", a) < 0 && ip6_parse("1.2.3.4", a) < 0, "zones and IPv4 text are refused");
}

int main(void)
{
	test_ip_parse();
	test_ip_format();
	test_cidr_parse();
	test_cidr_format();
	test_geometry();
	test_contains();
	test_reserved();
	test_ipam();
	test_ipv6();
	return done();
}
