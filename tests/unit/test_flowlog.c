/* Flow log records (vpcd/flowlog_format.c): LogFormat parsing and its errors, records in the
 * default version 2 format and in a custom one with version 3-5 fields, NODATA, and the
 * parser of logged packets' headers (IPv4, TCP/UDP ports, AWS's TCP flag bits, fragments,
 * truncation). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include "flowlog.h"
#include "tap.h"

static char *record(const char *format, const struct fl_rec *r)
{
	int f[FL_MAX_FIELDS];
	size_t n;
	struct err e = {0};
	if (fl_format_parse(format, f, &n, &e) < 0)
		return strdup(e.msg);
	struct fl_rec x = *r;
	x.version = fl_format_version(f, n);
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	fl_format_record(f, n, &x, out);
	fclose(out);
	return buf;
}

static bool refused(const char *format, const char *want)
{
	int f[FL_MAX_FIELDS];
	size_t n;
	struct err e = {0};
	return fl_format_parse(format, f, &n, &e) < 0 && strcmp(e.code, "InvalidParameter") == 0 &&
	       strstr(e.msg, want) != NULL;
}

int main(void)
{
	struct fl_rec r = {.account = "123456789012", .eni_id = "eni-0a1b2c3d4e5f60718", .vpc_id = "vpc-01",
			   .subnet_id = "subnet-01", .instance_id = "", .region = "us-east-1", .az_id = "use1-az1",
			   .src = 0x0a000104, .dst = 0x0a000204, .sport = 40000, .dport = 443, .proto = 6,
			   .packets = 10, .bytes = 840, .start = 1700000000, .end = 1700000060,
			   .action = FL_ACCEPT, .tcp_flags = 3, .egress = true, .traffic_path = 1};
	char *s = record(NULL, &r);
	ok(!strcmp(s, "2 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.4 10.0.2.4 40000 443 6 10 840 1700000000 1700000060 ACCEPT OK"),
	   "the default format is version 2's fields in AWS's order: %s", s);
	free(s);
	r.action = FL_REJECT;
	s = record("", &r);
	ok(strstr(s, " REJECT OK") != NULL, "REJECT: %s", s);
	free(s);
	r.action = FL_NODATA;
	s = record(NULL, &r);
	ok(!strcmp(s, "2 123456789012 eni-0a1b2c3d4e5f60718 - - - - - - - 1700000000 1700000060 - NODATA"),
	   "NODATA keeps the identity and the window, '-' for the rest: %s", s);
	free(s);
	r.action = FL_ACCEPT;
	s = record("${version} ${vpc-id} ${subnet-id} ${instance-id} ${tcp-flags} ${type} ${pkt-srcaddr} ${pkt-dstaddr}", &r);
	ok(!strcmp(s, "3 vpc-01 subnet-01 - 3 IPv4 10.0.1.4 10.0.2.4"), "version 3 fields, '-' for no instance: %s", s);
	free(s);
	s = record("${version} ${region} ${az-id} ${sublocation-type} ${sublocation-id}", &r);
	ok(!strcmp(s, "4 us-east-1 use1-az1 - -"), "version 4 fields: %s", s);
	free(s);
	s = record("${version} ${flow-direction} ${traffic-path} ${pkt-src-aws-service}", &r);
	ok(!strcmp(s, "5 egress 1 -"), "version 5 fields: %s", s);
	free(s);
	r.egress = false;
	s = record("${flow-direction} ${traffic-path}", &r);
	ok(!strcmp(s, "ingress -"), "traffic-path only on egress: %s", s);
	free(s);
	r.proto = 1;
	s = record("${protocol} ${tcp-flags}", &r);
	ok(!strcmp(s, "1 0"), "tcp-flags is 0 for ICMP: %s", s);
	free(s);

	ok(refused("${version} ${nonsense}", "Unknown fields provided: nonsense"), "an unknown field is refused by name");
	ok(refused("${version", "unterminated"), "an unterminated field");
	ok(refused("version srcaddr", "${field}"), "bare words");
	ok(refused("${version}${srcaddr}", "separated by spaces"), "fields without a space");
	ok(refused("   ", "names no field"), "no field");
	{
		int f[FL_MAX_FIELDS];
		size_t n;
		struct err e = {0};
		ok(fl_format_parse(NULL, f, &n, &e) == 0 && n == 14 && fl_format_version(f, n) == 2, "default: 14 fields, version 2");
		char *h = NULL;
		size_t hl = 0;
		FILE *o = open_memstream(&h, &hl);
		fl_format_header(f, n, o);
		fclose(o);
		ok(!strcmp(h, "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"),
		   "the header line: %s", h);
		free(h);
	}

	/* Packets. */
	uint8_t syn[40] = {0x45, 0, 0, 60, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 1, 4, 10, 0, 2, 4,
			   0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x12, 0, 0, 0, 0, 0, 0};
	struct fl_pkt k;
	ok(fl_parse_packet(syn, sizeof(syn), &k) == 0 && k.src == 0x0a000104 && k.dst == 0x0a000204 && k.proto == 6 &&
		   k.sport == 40000 && k.dport == 443 && k.len == 60,
	   "a TCP packet: addresses, ports, IP length");
	ok(k.tcp_flags == 18, "SYN-ACK is AWS's 18 (got %u)", k.tcp_flags);
	syn[33] = 0x11; /* FIN-ACK: ACK is only kept with SYN */
	ok(fl_parse_packet(syn, sizeof(syn), &k) == 0 && k.tcp_flags == 1, "FIN-ACK is 1 (got %u)", k.tcp_flags);
	ok(fl_parse_packet(syn, 24, &k) == 0 && k.sport == 40000 && k.tcp_flags == 0, "a truncated TCP header: ports, no flags");
	syn[6] = 0x00, syn[7] = 0x10; /* a later fragment */
	ok(fl_parse_packet(syn, sizeof(syn), &k) == 0 && k.sport == 0 && k.dport == 0, "a later fragment has no ports");
	ok(fl_parse_packet(syn, 19, &k) == -EINVAL, "shorter than an IPv4 header: refused");
	syn[0] = 0x60;
	ok(fl_parse_packet(syn, sizeof(syn), &k) == -EINVAL, "not IPv4: refused");
	syn[0] = 0x4f;
	ok(fl_parse_packet(syn, sizeof(syn), &k) == -EINVAL, "a header length past the data: refused");
	return done();
}
