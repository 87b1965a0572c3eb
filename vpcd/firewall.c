/* Security groups and network ACLs as nftables in the VPC namespace, and the source/dest
 * check in the bridge family. The layout is described in docs/architecture.md. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "nft.h"
#include "rect.h"
#include "vpcd.h"

struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (b->s && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			abort();
	}
}

static bool in_vpc(json_t *o, const char *vpc_id) { return !strcmp(jstr(o, "VpcId"), vpc_id); }

/* --- the bridge table: per-port source/destination check ------------------------------ */

static void bridge_table(struct sbuf *b, const char *vpc_id)
{
	(void)vpc_id;
	sb_printf(b, "table bridge vpclab {\n"
		     "\tset sdc_ports {\n\t\ttype ifname\n\t}\n"
		     "\tset eni_ports {\n\t\ttype ifname\n\t}\n"
		     "\tset sdc_src {\n\t\ttype ifname . ether_addr . ipv4_addr\n\t}\n"
		     "\tset sdc_dst {\n\t\ttype ifname . ipv4_addr\n\t}\n");
	sb_printf(b, "\tchain from_eni {\n"
		     "\t\tether type ip iifname . ether saddr . ip saddr @sdc_src return\n"
		     "\t\tether type arp iifname . arp saddr ether . arp saddr ip @sdc_src return\n"
		     "\t\tether type arp arp saddr ip 0.0.0.0 return\n"
		     "\t\tether type ip ip saddr 0.0.0.0 udp sport 68 udp dport 67 return\n"
		     "\t\tdrop\n"
		     "\t}\n"
		     "\tchain to_eni {\n"
		     "\t\tether type ip oifname . ip daddr @sdc_dst return\n"
		     "\t\tether type ip ip daddr { 255.255.255.255, 224.0.0.0/4 } return\n"
		     "\t\tether type arp return\n"
		     "\t\tether type ip udp sport 67 udp dport 68 return\n"
		     "\t\tdrop\n"
		     "\t}\n"
		     "\tchain forward {\n"
		     "\t\ttype filter hook forward priority -200; policy accept;\n"
		     "\t\tiifname @eni_ports ether type ip udp sport 67 udp dport 68 drop\n"
		     "\t\tiifname @sdc_ports jump from_eni\n"
		     "\t\toifname @sdc_ports jump to_eni\n"
		     "\t}\n"
		     "\tchain input {\n"
		     "\t\ttype filter hook input priority -200; policy accept;\n"
		     "\t\tiifname @eni_ports ether type ip udp sport 67 udp dport 68 drop\n"
		     "\t\tiifname @sdc_ports jump from_eni\n"
		     "\t}\n"
		     "\tchain output {\n"
		     "\t\ttype filter hook output priority -200; policy accept;\n"
		     "\t\toifname @sdc_ports jump to_eni\n"
		     "\t}\n"
		     "}\n");
}

/* --- the inet table: network ACLs, then security groups -------------------------------- */

/* Sets and maps whose elements are applied as differences (the rest is the skeleton). */
static const char *const sg_sets[] = {
	"inet sg_enis",    "inet in_l4",    "inet in_icmp",     "inet in_proto",  "inet eg_l4",
	"inet eg_icmp",    "inet eg_proto", "inet public_ok",   "inet eip_dnat",  "inet eip_snat",
	"inet intra_subnet", "inet nacl_in", "inet nacl_eg",    "bridge sdc_ports", "bridge sdc_src", "bridge eni_ports",
	"bridge sdc_dst",  "inet gslot1",   "inet gslot2",      "inet gslot3",    "inet gslot4",
	"inet gslot5",     "inet in_grp_l4", "inet in_grp_icmp", "inet in_grp_proto",
	"inet eg_grp_l4",  "inet eg_grp_icmp", "inet eg_grp_proto"};

#define GROUP_SLOTS 5 /* groups per ENI */

static void nacl_rule(struct sbuf *b, json_t *entry, bool egress)
{
	const char *cidr = jstr(entry, "CidrBlock"), *proto = jstr(entry, "Protocol");
	sb_printf(b, "\t\t");
	if (strcmp(cidr, "0.0.0.0/0") != 0)
		sb_printf(b, "ip %s %s ", egress ? "daddr" : "saddr", cidr);
	if (strcmp(proto, "-1") != 0)
		sb_printf(b, "meta l4proto %d ", atoi(proto));
	if (!strcmp(proto, "6") || !strcmp(proto, "17")) {
		json_t *pr = json_object_get(entry, "PortRange");
		long long from = json_integer_value(json_object_get(pr, "From"));
		long long to = json_integer_value(json_object_get(pr, "To"));
		if (from == to)
			sb_printf(b, "th dport %lld ", from);
		else if (from != 0 || to != 65535)
			sb_printf(b, "th dport %lld-%lld ", from, to);
	} else if (!strcmp(proto, "1")) {
		json_t *ic = json_object_get(entry, "IcmpTypeCode");
		long long type = json_integer_value(json_object_get(ic, "Type"));
		long long code = json_integer_value(json_object_get(ic, "Code"));
		if (type >= 0)
			sb_printf(b, "icmp type %lld ", type);
		if (code >= 0)
			sb_printf(b, "icmp code %lld ", code);
	}
	if (!strcmp(jstr(entry, "RuleAction"), "allow"))
		sb_printf(b, "return\n");
	else
		sb_printf(b, "log prefix \"fl:n%s\" group %d drop\n", egress ? "e" : "i", FLOWLOG_NFLOG_GROUP);
}

/* Everything of the inet table but the security group elements. */
static void inet_skeleton(struct sbuf *b, const char *vpc_id)
{
	const char *id;
	json_t *o;

	sb_printf(b, "table inet vpclab {\n"
		     "\tset sg_enis {\n\t\ttype ipv4_addr\n\t}\n"
		     "\tset in_l4 {\n\t\ttype ipv4_addr . inet_proto . inet_service . ipv4_addr\n\t\tflags interval\n\t}\n"
		     "\tset in_icmp {\n\t\ttype ipv4_addr . icmp_type . icmp_code . ipv4_addr\n\t\tflags interval\n\t}\n"
		     "\tset in_proto {\n\t\ttype ipv4_addr . inet_proto . ipv4_addr\n\t\tflags interval\n\t}\n"
		     "\tset eg_l4 {\n\t\ttype ipv4_addr . inet_proto . inet_service . ipv4_addr\n\t\tflags interval\n\t}\n"
		     "\tset eg_icmp {\n\t\ttype ipv4_addr . icmp_type . icmp_code . ipv4_addr\n\t\tflags interval\n\t}\n"
		     "\tset eg_proto {\n\t\ttype ipv4_addr . inet_proto . ipv4_addr\n\t\tflags interval\n\t}\n"
		     /* Group references: each ENI's groups by number in five slot maps, and rules
		      * keyed on the group number (put in the packet mark by a slot lookup). */
		     "\tmap gslot1 {\n\t\ttype ipv4_addr : mark\n\t}\n"
		     "\tmap gslot2 {\n\t\ttype ipv4_addr : mark\n\t}\n"
		     "\tmap gslot3 {\n\t\ttype ipv4_addr : mark\n\t}\n"
		     "\tmap gslot4 {\n\t\ttype ipv4_addr : mark\n\t}\n"
		     "\tmap gslot5 {\n\t\ttype ipv4_addr : mark\n\t}\n"
		     "\tset in_grp_l4 {\n\t\ttype ipv4_addr . inet_proto . inet_service . mark\n\t\tflags interval\n\t}\n"
		     "\tset in_grp_icmp {\n\t\ttype ipv4_addr . icmp_type . icmp_code . mark\n\t\tflags interval\n\t}\n"
		     "\tset in_grp_proto {\n\t\ttype ipv4_addr . inet_proto . mark\n\t\tflags interval\n\t}\n"
		     "\tset eg_grp_l4 {\n\t\ttype ipv4_addr . inet_proto . inet_service . mark\n\t\tflags interval\n\t}\n"
		     "\tset eg_grp_icmp {\n\t\ttype ipv4_addr . icmp_type . icmp_code . mark\n\t\tflags interval\n\t}\n"
		     "\tset eg_grp_proto {\n\t\ttype ipv4_addr . inet_proto . mark\n\t\tflags interval\n\t}\n"
		     "\tset public_ok {\n\t\ttype ipv4_addr\n\t}\n"
		     "\tmap eip_dnat {\n\t\ttype ipv4_addr : ipv4_addr\n\t}\n"
		     "\tmap eip_snat {\n\t\ttype ipv4_addr : ipv4_addr\n\t}\n");
	/* The internet gateway link, if one is attached. */
	json_t *igw = vpc_igw(vpc_id);
	sb_printf(b, "\tset igw_links {\n\t\ttype ifname\n");
	if (igw)
		sb_printf(b, "\t\telements = { \"%sg%s\" }\n", V->prefix, id_tail(jstr(igw, "InternetGatewayId")));
	sb_printf(b, "\t}\n");
	/* Network ACLs: one chain per ACL and direction, in rule-number order. */
	obj_foreach_vpc("acl", vpc_id, id, o)
	{
		if (!in_vpc(o, vpc_id))
			continue;
		for (int egress = 0; egress < 2; egress++) {
			sb_printf(b, "\tchain nacl_%s_%s {\n", id_tail(id), egress ? "eg" : "in");
			size_t i;
			json_t *entry;
			json_array_foreach(json_object_get(o, "Entries"), i, entry)
			{
				if (json_is_true(json_object_get(entry, "Egress")) != egress ||
				    json_integer_value(json_object_get(entry, "RuleNumber")) >= 32767)
					continue;
				nacl_rule(b, entry, egress);
			}
			/* Rejected packets go to the flow logs' collector (flowlog.c) over NFLOG. */
			sb_printf(b, "\t\tlog prefix \"fl:n%s\" group %d drop\n\t}\n", egress ? "e" : "i",
				  FLOWLOG_NFLOG_GROUP);
		}
	}
	/* Subnet bridge -> its ACL's chains (elements are applied as differences); traffic
	 * within one bridge skips ACLs. */
	sb_printf(b, "\tset intra_subnet {\n\t\ttype ifname . ifname\n\t}\n"
		     "\tmap nacl_in {\n\t\ttype ifname : verdict\n\t}\n"
		     "\tmap nacl_eg {\n\t\ttype ifname : verdict\n\t}\n");
	sb_printf(b, "\tchain nacl {\n"
		     "\t\tiifname vmap @nacl_eg\n"
		     "\t\toifname vmap @nacl_in\n"
		     "\t}\n"
		     );
	for (int egress = 1; egress >= 0; egress--) {
		const char *me = egress ? "saddr" : "daddr", *peer = egress ? "daddr" : "saddr";
		const char *d = egress ? "eg" : "in";
		sb_printf(b, "\tchain sg_%s {\n", egress ? "egress" : "ingress");
		sb_printf(b, "\t\tip %s . meta l4proto . th dport . ip %s @%s_l4 return\n", me, peer, d);
		sb_printf(b, "\t\tip %s . icmp type . icmp code . ip %s @%s_icmp return\n", me, peer, d);
		sb_printf(b, "\t\tip %s . meta l4proto . ip %s @%s_proto return\n", me, peer, d);
		for (int slot = 1; slot <= GROUP_SLOTS; slot++) {
			sb_printf(b, "\t\tmeta mark set 0\n\t\tmeta mark set ip %s map @gslot%d\n", peer, slot);
			sb_printf(b, "\t\tip %s . meta l4proto . th dport . meta mark @%s_grp_l4 return\n", me, d);
			sb_printf(b, "\t\tip %s . icmp type . icmp code . meta mark @%s_grp_icmp return\n", me, d);
			sb_printf(b, "\t\tip %s . meta l4proto . meta mark @%s_grp_proto return\n", me, d);
		}
		sb_printf(b, "\t\tlog prefix \"fl:s%s\" group %d drop\n\t}\n", egress ? "e" : "i",
			  FLOWLOG_NFLOG_GROUP);
	}
	sb_printf(b, 
		     /* 1:1 NAT of public addresses, stateless so that moving an address
		      * moves both directions with the next packet. Inbound it runs before
		      * conntrack (-200), so flows are tracked on private addresses. */
		     "\tchain igw_in {\n"
		     "\t\ttype filter hook prerouting priority -310; policy accept;\n"
		     "\t\tiifname @igw_links ip daddr set ip daddr map @eip_dnat\n"
		     "\t}\n"
		     "\tchain igw_out {\n"
		     "\t\ttype filter hook postrouting priority 310; policy accept;\n"
		     "\t\toifname @igw_links ip saddr set ip saddr map @eip_snat\n"
		     "\t}\n"
		     "\tchain forward {\n"
		     "\t\ttype filter hook forward priority filter; policy accept;\n"
		     "\t\toifname @igw_links ip saddr != @public_ok drop\n"
		     "\t\tiifname @igw_links oifname @igw_links drop\n"
		     "\t\tiifname . oifname != @intra_subnet jump nacl\n"
		     "\t\tct state established,related accept\n"
		     "\t\tip saddr @sg_enis jump sg_egress\n"
		     "\t\tip daddr @sg_enis jump sg_ingress\n"
		     /* A new flow let through: what flow logs count (flowlog.c). */
		     "\t\tct mark set 0x56\n"
		     "\t}\n"
		     "}\n");
}

/* Rectangles of one ENI, one direction, one protocol class. */
struct rects {
	struct rect *v;
	size_t n, cap;
};

static void rects_add(struct rects *r, uint32_t klo, uint32_t khi, uint32_t alo, uint32_t ahi)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
		if (!r->v)
			abort();
	}
	r->v[r->n++] = (struct rect){klo, khi, alo, ahi};
}

static void fmt_ip(uint32_t a, char buf[static IP_STRLEN]) { ip_format(a, buf); }

static void fmt_range(char *buf, size_t n, uint32_t lo, uint32_t hi, bool ip)
{
	char a[IP_STRLEN], b[IP_STRLEN];
	if (ip) {
		fmt_ip(lo, a), fmt_ip(hi, b);
		if (lo == hi)
			snprintf(buf, n, "%s", a);
		else
			snprintf(buf, n, "%s-%s", a, b);
	} else if (lo == hi) {
		snprintf(buf, n, "%u", lo);
	} else {
		snprintf(buf, n, "%u-%u", lo, hi);
	}
}

static void add_elem(json_t *sets, const char *set, const char *elem)
{
	json_t *s = json_object_get(sets, set);
	json_object_set_new(s, elem, json_true());
}

/* Emits the disjoint elements of one class into `set`; `proto` < 0 for icmp/proto sets. */
static void emit(json_t *sets, const char *set, const char *eni_ip, int proto, struct rects *r,
		 int kind)
{
	char elem[160], k[32], a[40];
	/* Sets whose last field is a group number (a mark) rather than an address. */
	bool mark = strstr(set, "_grp_") != NULL;
	if (rect_disjoint(&r->v, &r->n) < 0)
		abort();
	for (size_t i = 0; i < r->n; i++) {
		struct rect *x = &r->v[i];
		if (mark) /* always a range: nftables 1.0.6 cannot delete an element of an interval
			   * set that has no range in it when a field is host-endian (mark) */
			snprintf(a, sizeof(a), "%u-%u", x->a_lo, x->a_hi);
		else
			fmt_range(a, sizeof(a), x->a_lo, x->a_hi, true);
		if (kind == 0) { /* l4: proto . port . addr */
			fmt_range(k, sizeof(k), x->k_lo, x->k_hi, false);
			snprintf(elem, sizeof(elem), "%s . %d . %s . %s", eni_ip, proto, k, a);
			add_elem(sets, set, elem);
		} else if (kind == 2) { /* proto . addr */
			fmt_range(k, sizeof(k), x->k_lo, x->k_hi, false);
			snprintf(elem, sizeof(elem), "%s . %s . %s", eni_ip, k, a);
			add_elem(sets, set, elem);
		} else { /* icmp: a 16-bit type<<8|code range, cut into type x code rectangles */
			uint32_t t1 = x->k_lo >> 8, c1 = x->k_lo & 255, t2 = x->k_hi >> 8, c2 = x->k_hi & 255;
			char tr[16], cr[16];
			struct {
				uint32_t tlo, thi, clo, chi;
			} parts[3];
			int np = 0;
			if (t1 == t2) {
				parts[np++] = (typeof(parts[0])){t1, t1, c1, c2};
			} else {
				uint32_t mid_lo = t1, mid_hi = t2;
				if (c1 != 0)
					parts[np++] = (typeof(parts[0])){t1, t1, c1, 255}, mid_lo = t1 + 1;
				if (c2 != 255)
					mid_hi = t2 - 1;
				if (mid_lo <= mid_hi)
					parts[np++] = (typeof(parts[0])){mid_lo, mid_hi, 0, 255};
				if (c2 != 255)
					parts[np++] = (typeof(parts[0])){t2, t2, 0, c2};
			}
			for (int p = 0; p < np; p++) {
				fmt_range(tr, sizeof(tr), parts[p].tlo, parts[p].thi, false);
				fmt_range(cr, sizeof(cr), parts[p].clo, parts[p].chi, false);
				snprintf(elem, sizeof(elem), "%s . %s . %s . %s", eni_ip, tr, cr, a);
				add_elem(sets, set, elem);
			}
		}
	}
	free(r->v);
	*r = (struct rects){0};
}

static uint32_t group_num(json_t *sg)
{
	return (uint32_t)json_integer_value(json_object_get(sg, "_num"));
}

/* The security group set elements of a VPC: {set: {element: true}}. */
static json_t *new_sets(void)
{
	json_t *sets = json_object();
	for (size_t i = 0; i < ARRAY_SIZE(sg_sets); i++)
		json_object_set_new(sets, sg_sets[i], json_object());
	return sets;
}

/* The elements one ENI contributes: its source/dest check entries, its public mapping, its
 * security group rules and its group slots. Every one of them starts with the ENI's own
 * port or address, so no two ENIs' elements ever collide or nest. */
static void eni_elements(json_t *sets, json_t *eni)
{
	const char *ip = jstr(eni, "PrivateIpAddress"), *port = jstr(eni, "_port");
	const char *pub = jstr(json_object_get(eni, "Association"), "PublicIp");
	char el[160];
	/* Every ENI's port: only the VPC's own dnsmasq (on the bridge, never behind an ENI)
	 * answers DHCP, so a guest's offers and acks are dropped, source/dest check or not. */
	snprintf(el, sizeof(el), "\"%s\"", port);
	add_elem(sets, "bridge eni_ports", el);
	if (json_is_true(json_object_get(eni, "SourceDestCheck")))
		add_elem(sets, "bridge sdc_ports", el);
	snprintf(el, sizeof(el), "\"%s\" . %s . %s", port, jstr(eni, "MacAddress"), ip);
	add_elem(sets, "bridge sdc_src", el);
	snprintf(el, sizeof(el), "\"%s\" . %s", port, ip);
	add_elem(sets, "bridge sdc_dst", el);
	if (*pub) {
		add_elem(sets, "inet public_ok", ip);
		snprintf(el, sizeof(el), "%s : %s", pub, ip);
		add_elem(sets, "inet eip_dnat", el);
		snprintf(el, sizeof(el), "%s : %s", ip, pub);
		add_elem(sets, "inet eip_snat", el);
	}
	if (!strcmp(jstr(eni, "InterfaceType"), "nat_gateway"))
		return; /* security groups do not apply to a NAT gateway's interface */
	add_elem(sets, "inet sg_enis", ip);
	for (int egress = 0; egress < 2; egress++) {
		struct rects tcp = {0}, udp = {0}, icmp = {0}, proto = {0};
		struct rects gtcp = {0}, gudp = {0}, gicmp = {0}, gproto = {0};
		size_t gi;
		json_t *g;
		json_array_foreach(json_object_get(eni, "Groups"), gi, g)
		{
			json_t *sg = obj_get(jstr(g, "GroupId")), *r;
			size_t ri;
			json_array_foreach(json_object_get(sg, "_rules"), ri, r)
			{
				if (json_is_true(json_object_get(r, "Egress")) != egress)
					continue;
				const char *p = jstr(r, "Proto");
				long long from = json_integer_value(json_object_get(r, "From"));
				long long to = json_integer_value(json_object_get(r, "To"));
				struct rects *dst;
				uint32_t klo, khi;
				bool by_group = !*jstr(r, "Cidr");
				if (!strcmp(p, "tcp") || !strcmp(p, "udp")) {
					dst = p[0] == 't' ? (by_group ? &gtcp : &tcp) : (by_group ? &gudp : &udp);
					klo = (uint32_t)from, khi = (uint32_t)to;
				} else if (!strcmp(p, "icmp")) {
					dst = by_group ? &gicmp : &icmp;
					if (from < 0)
						klo = 0, khi = 0xffff;
					else if (to < 0)
						klo = (uint32_t)from << 8, khi = (uint32_t)from << 8 | 255;
					else
						klo = khi = (uint32_t)(from << 8 | to);
				} else {
					dst = by_group ? &gproto : &proto;
					klo = !strcmp(p, "-1") ? 0 : (uint32_t)atoi(p);
					khi = !strcmp(p, "-1") ? 255 : klo;
				}
				struct cidr c;
				if (*jstr(r, "Cidr") && cidr_parse(jstr(r, "Cidr"), &c) == 0) {
					rects_add(dst, klo, khi, cidr_first(&c), cidr_last(&c));
					continue;
				}
				/* A group reference is keyed on the group's number; membership is
				 * the slot maps, so it follows joins and leaves at once. */
				uint32_t num = group_num(obj_get(jstr(r, "Group")));
				if (num)
					rects_add(dst, klo, khi, num, num);
			}
		}
		const char *l4 = egress ? "inet eg_l4" : "inet in_l4";
		emit(sets, l4, ip, 6, &tcp, 0);
		emit(sets, l4, ip, 17, &udp, 0);
		emit(sets, egress ? "inet eg_icmp" : "inet in_icmp", ip, -1, &icmp, 1);
		emit(sets, egress ? "inet eg_proto" : "inet in_proto", ip, -1, &proto, 2);
		const char *gl4 = egress ? "inet eg_grp_l4" : "inet in_grp_l4";
		emit(sets, gl4, ip, 6, &gtcp, 0);
		emit(sets, gl4, ip, 17, &gudp, 0);
		emit(sets, egress ? "inet eg_grp_icmp" : "inet in_grp_icmp", ip, -1, &gicmp, 1);
		emit(sets, egress ? "inet eg_grp_proto" : "inet in_grp_proto", ip, -1, &gproto, 2);
	}
	/* The slot maps: this ENI's groups by number. */
	size_t gi;
	json_t *g;
	json_array_foreach(json_object_get(eni, "Groups"), gi, g)
	{
		char m[64], slot[32];
		uint32_t num = group_num(obj_get(jstr(g, "GroupId")));
		if (!num || gi >= GROUP_SLOTS)
			continue;
		snprintf(slot, sizeof(slot), "inet gslot%zu", gi + 1);
		snprintf(m, sizeof(m), "%s : %u", ip, num);
		add_elem(sets, slot, m);
	}
}

/* The elements of the VPC's subnets: traffic within a bridge, and each subnet's ACL. */
static void subnet_elements(json_t *sets, const char *vpc_id)
{
	const char *id;
	json_t *o;
	char el[160];
	obj_foreach_vpc("subnet", vpc_id, id, o)
	{
		const char *br = jstr(o, "_bridge");
		json_t *acl = subnet_acl(id);
		snprintf(el, sizeof(el), "\"%s\" . \"%s\"", br, br);
		add_elem(sets, "inet intra_subnet", el);
		if (!acl)
			continue;
		for (int egress = 0; egress < 2; egress++) {
			snprintf(el, sizeof(el), "\"%s\" : jump nacl_%s_%s", br, id_tail(jstr(acl, "NetworkAclId")),
				 egress ? "eg" : "in");
			add_elem(sets, egress ? "inet nacl_eg" : "inet nacl_in", el);
		}
	}
}

/* What an ENI's elements depend on, as one string: when it is unchanged, so are they. A
 * group's rules are represented by its revision, bumped on every change to them. */
static void eni_signature(json_t *eni, struct sbuf *b)
{
	size_t i;
	json_t *g;
	b->len = 0;
	sb_printf(b, "%s|%s|%s|%d|%s|%s|", jstr(eni, "PrivateIpAddress"), jstr(eni, "_port"),
		  jstr(eni, "MacAddress"), json_is_true(json_object_get(eni, "SourceDestCheck")),
		  jstr(json_object_get(eni, "Association"), "PublicIp"), jstr(eni, "InterfaceType"));
	json_array_foreach(json_object_get(eni, "Groups"), i, g)
	{
		json_t *sg = obj_get(jstr(g, "GroupId"));
		sb_printf(b, "%s:%lld:%lld,", jstr(g, "GroupId"), (long long)json_integer_value(json_object_get(sg, "_rev")),
			  (long long)json_integer_value(json_object_get(sg, "_num")));
	}
}

static json_t *sg_elements(const char *vpc_id)
{
	json_t *sets = new_sets(), *eni;
	const char *id;
	obj_foreach_vpc("eni", vpc_id, id, eni) eni_elements(sets, eni);
	subnet_elements(sets, vpc_id);
	return sets;
}

static void elements_text(struct sbuf *b, const char *verb, const char *set, json_t *elems)
{
	const char *k;
	json_t *v;
	int n = 0;
	char family[16], name[48];
	if (json_object_size(elems) == 0 || sscanf(set, "%15s %47s", family, name) != 2)
		return;
	json_object_foreach(elems, k, v)
	{
		if (n % 512 == 0)
			sb_printf(b, "%s%s element %s vpclab %s { ", n ? " }\n" : "", verb, family, name);
		else
			sb_printf(b, ", ");
		sb_printf(b, "%s", k);
		n++;
	}
	sb_printf(b, " }\n");
}

/* The whole ruleset of a VPC as text: what a full apply loads (and the golden files show). */
char *vpc_ruleset(const char *vpc_id)
{
	struct sbuf b = {0};
	_cleanup_json_ json_t *sets = sg_elements(vpc_id);
	bridge_table(&b, vpc_id);
	inet_skeleton(&b, vpc_id);
	for (size_t i = 0; i < ARRAY_SIZE(sg_sets); i++)
		elements_text(&b, "add", sg_sets[i], json_object_get(sets, sg_sets[i]));
	return b.s;
}

/* Appends the commands that turn `had` into `want` (both {set: {element: true}}): deletions
 * to `del`, additions to `add`. All deletions of a transaction go before all its additions:
 * a map key can move from one ENI to another (an elastic IP), and a pipapo set refuses an
 * element nested in one not yet deleted. */
static void diff_sets(struct sbuf *del, struct sbuf *add, json_t *had, json_t *want)
{
	for (size_t i = 0; i < ARRAY_SIZE(sg_sets); i++) {
		json_t *w = json_object_get(want, sg_sets[i]), *h = json_object_get(had, sg_sets[i]);
		_cleanup_json_ json_t *d = json_object(), *a = json_object();
		const char *k;
		json_t *v;
		json_object_foreach(h, k, v) if (!json_object_get(w, k)) json_object_set(d, k, v);
		json_object_foreach(w, k, v) if (!json_object_get(h, k)) json_object_set(a, k, v);
		elements_text(del, "delete", sg_sets[i], d);
		elements_text(add, "add", sg_sets[i], a);
	}
}

/* Converges one ENI's elements with the cache `enis` (id -> {sig, sets}), appending the
 * differences to the commands; `eni` NULL: the ENI is gone, and so go its elements. */
static void eni_converge(json_t *enis, const char *id, json_t *eni, struct sbuf *sig, struct sbuf *del,
			 struct sbuf *add)
{
	json_t *had = json_object_get(enis, id);
	json_t *sets = new_sets();
	if (eni) {
		eni_signature(eni, sig);
		if (had && !strcmp(jstr(had, "sig"), sig->s)) {
			json_decref(sets);
			return;
		}
		eni_elements(sets, eni);
	}
	diff_sets(del, add, json_object_get(had, "sets"), sets);
	if (eni)
		json_object_set_new(enis, id, json_pack("{s:s, s:o}", "sig", sig->s, "sets", sets));
	else {
		json_decref(sets);
		json_object_del(enis, id);
	}
}

/* The cache of what is applied, per VPC: the two table skeletons, each ENI's signature and
 * elements, and the subnets' elements. A change recomputes only the ENIs whose signature
 * changed, or only the ENIs it names (`only`), so its cost follows the change, not the size
 * of the VPC. */
int firewall_sync(struct nsh *h, const char *vpc_id, bool full, json_t *only, struct err *e)
{
	struct sbuf bridge = {0}, skel = {0}, cmd = {0}, sig = {0}, adds = {0};
	json_t *last = json_object_get(V->nft_applied, vpc_id);
	_cleanup_json_ json_t *enis = NULL, *subnets = new_sets();
	const char *id;
	json_t *eni;
	int r;

	bridge_table(&bridge, vpc_id);
	inet_skeleton(&skel, vpc_id);
	subnet_elements(subnets, vpc_id);
	bool whole = full || !last || strcmp(jstr(last, "bridge"), bridge.s) != 0 ||
		     strcmp(jstr(last, "skeleton"), skel.s) != 0;

	sb_printf(&cmd, "%s", "");
	if (whole)
		/* Both tables remade whole, with all their elements, in this one transaction, so
		 * that no packet sees them half-built. */
		sb_printf(&cmd, "table bridge vpclab {}\ndelete table bridge vpclab\n%s"
				"table inet vpclab {}\ndelete table inet vpclab\n%s",
			  bridge.s, skel.s);
	if (!whole && only) {
		/* The cache is changed in place: if the apply fails, it is dropped whole. */
		enis = json_incref(json_object_get(last, "enis"));
		json_t *x;
		json_object_foreach(only, id, x)
		{
			eni = obj_get_type(id, "eni");
			eni_converge(enis, id, eni && !strcmp(jstr(eni, "VpcId"), vpc_id) ? eni : NULL, &sig, &cmd, &adds);
		}
	} else {
		json_t *had_enis = whole ? NULL : json_object_get(last, "enis"), *had;
		enis = json_object();
		obj_foreach_vpc("eni", vpc_id, id, eni)
		{
			had = json_object_get(had_enis, id);
			if (had)
				json_object_set(enis, id, had);
			eni_converge(enis, id, eni, &sig, &cmd, &adds);
		}
		/* ENIs gone since: their elements go too. */
		json_object_foreach(had_enis, id, had) if (!json_object_get(enis, id))
		{
			_cleanup_json_ json_t *none = new_sets();
			diff_sets(&cmd, &adds, json_object_get(had, "sets"), none);
		}
	}
	diff_sets(&cmd, &adds, whole ? NULL : json_object_get(last, "subnets"), subnets);
	if (adds.len)
		sb_printf(&cmd, "%s", adds.s);
	r = cmd.len ? nft_apply(h, cmd.s, e) : 0;
	if (r == 0)
		json_object_set_new(V->nft_applied, vpc_id,
				    json_pack("{s:s, s:s, s:O, s:O}", "bridge", bridge.s, "skeleton", skel.s,
					      "enis", enis, "subnets", subnets));
	else
		json_object_del(V->nft_applied, vpc_id);
	free(bridge.s);
	free(skel.s);
	free(cmd.s);
	free(adds.s);
	free(sig.s);
	return r;
}
