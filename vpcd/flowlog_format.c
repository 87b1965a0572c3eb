/* Flow log records: the LogFormat fields, a record written in a format, and the headers of
 * a logged packet (untrusted bytes, from a guest, through NFLOG). Pure: flowlog.c uses it,
 * tests/unit/test_flowlog.c checks it, tests/fuzz/fuzz_flowpkt.c fuzzes the packet parser. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "cidr.h"
#include "flowlog.h"

/* ------------------------------------------------------------------ formats and records */

static const struct {
	const char *name;
	int version;
} field_def[FL_NFIELDS] = {
	[FL_VERSION] = {"version", 2},           [FL_ACCOUNT_ID] = {"account-id", 2},
	[FL_INTERFACE_ID] = {"interface-id", 2}, [FL_SRCADDR] = {"srcaddr", 2},
	[FL_DSTADDR] = {"dstaddr", 2},           [FL_SRCPORT] = {"srcport", 2},
	[FL_DSTPORT] = {"dstport", 2},           [FL_PROTOCOL] = {"protocol", 2},
	[FL_PACKETS] = {"packets", 2},           [FL_BYTES] = {"bytes", 2},
	[FL_START] = {"start", 2},               [FL_END] = {"end", 2},
	[FL_ACTION] = {"action", 2},             [FL_LOG_STATUS] = {"log-status", 2},
	[FL_VPC_ID] = {"vpc-id", 3},             [FL_SUBNET_ID] = {"subnet-id", 3},
	[FL_INSTANCE_ID] = {"instance-id", 3},   [FL_TCP_FLAGS] = {"tcp-flags", 3},
	[FL_TYPE] = {"type", 3},                 [FL_PKT_SRCADDR] = {"pkt-srcaddr", 3},
	[FL_PKT_DSTADDR] = {"pkt-dstaddr", 3},   [FL_REGION] = {"region", 4},
	[FL_AZ_ID] = {"az-id", 4},               [FL_SUBLOCATION_TYPE] = {"sublocation-type", 4},
	[FL_SUBLOCATION_ID] = {"sublocation-id", 4},
	[FL_PKT_SRC_AWS_SERVICE] = {"pkt-src-aws-service", 5},
	[FL_PKT_DST_AWS_SERVICE] = {"pkt-dst-aws-service", 5},
	[FL_FLOW_DIRECTION] = {"flow-direction", 5}, [FL_TRAFFIC_PATH] = {"traffic-path", 5},
};

const char FL_DEFAULT_FORMAT[] =
	"${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} "
	"${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}";

int fl_format_parse(const char *text, int fields[FL_MAX_FIELDS], size_t *n, struct err *e)
{
	const char *p = text && *text ? text : FL_DEFAULT_FORMAT;
	*n = 0;
	while (*p) {
		if (*p == ' ') {
			p++;
			continue;
		}
		if (strncmp(p, "${", 2) != 0)
			return err_set(e, "InvalidParameter",
				       "LogFormat must be a space-separated list of ${field} names, at '%.20s'", p);
		const char *end = strchr(p + 2, '}');
		if (!end)
			return err_set(e, "InvalidParameter", "LogFormat has an unterminated field at '%.20s'", p);
		size_t len = (size_t)(end - p - 2);
		int f = -1;
		for (int i = 0; i < FL_NFIELDS; i++)
			if (strlen(field_def[i].name) == len && !strncmp(field_def[i].name, p + 2, len))
				f = i;
		if (f < 0)
			return err_set(e, "InvalidParameter", "Unknown fields provided: %.*s", (int)len, p + 2);
		if (*n == FL_MAX_FIELDS)
			return err_set(e, "InvalidParameter", "LogFormat has more than %d fields", FL_MAX_FIELDS);
		fields[(*n)++] = f;
		p = end + 1;
		if (*p && *p != ' ')
			return err_set(e, "InvalidParameter", "LogFormat fields must be separated by spaces");
	}
	if (*n == 0)
		return err_set(e, "InvalidParameter", "LogFormat names no field");
	return 0;
}

void fl_format_header(const int *fields, size_t n, FILE *out)
{
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? " " : "", field_def[fields[i]].name);
}

int fl_format_version(const int *fields, size_t n)
{
	int v = 2;
	for (size_t i = 0; i < n; i++)
		if (field_def[fields[i]].version > v)
			v = field_def[fields[i]].version;
	return v;
}

static void put_ip(FILE *out, uint32_t ip)
{
	char b[IP_STRLEN];
	ip_format(ip, b);
	fputs(b, out);
}

static void put_str(FILE *out, const char *s)
{
	fputs(s && *s ? s : "-", out);
}

void fl_format_record(const int *fields, size_t n, const struct fl_rec *r, FILE *out)
{
	bool nodata = r->action == FL_NODATA;
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(' ', out);
		int f = fields[i];
		/* A NODATA record has the identity and the window, and "-" for the rest. */
		if (nodata && f != FL_VERSION && f != FL_ACCOUNT_ID && f != FL_INTERFACE_ID &&
		    f != FL_START && f != FL_END && f != FL_LOG_STATUS && f != FL_VPC_ID &&
		    f != FL_SUBNET_ID && f != FL_INSTANCE_ID && f != FL_REGION && f != FL_AZ_ID) {
			fputc('-', out);
			continue;
		}
		switch (f) {
		case FL_VERSION: fprintf(out, "%d", r->version); break;
		case FL_ACCOUNT_ID: put_str(out, r->account); break;
		case FL_INTERFACE_ID: put_str(out, r->eni_id); break;
		case FL_SRCADDR:
		case FL_PKT_SRCADDR: put_ip(out, r->src); break;
		case FL_DSTADDR:
		case FL_PKT_DSTADDR: put_ip(out, r->dst); break;
		case FL_SRCPORT: fprintf(out, "%u", r->sport); break;
		case FL_DSTPORT: fprintf(out, "%u", r->dport); break;
		case FL_PROTOCOL: fprintf(out, "%u", r->proto); break;
		case FL_PACKETS: fprintf(out, "%" PRIu64, r->packets); break;
		case FL_BYTES: fprintf(out, "%" PRIu64, r->bytes); break;
		case FL_START: fprintf(out, "%" PRId64, r->start); break;
		case FL_END: fprintf(out, "%" PRId64, r->end); break;
		case FL_ACTION: fputs(r->action == FL_REJECT ? "REJECT" : "ACCEPT", out); break;
		case FL_LOG_STATUS: fputs(nodata ? "NODATA" : "OK", out); break;
		case FL_VPC_ID: put_str(out, r->vpc_id); break;
		case FL_SUBNET_ID: put_str(out, r->subnet_id); break;
		case FL_INSTANCE_ID: put_str(out, r->instance_id); break;
		case FL_TCP_FLAGS: fprintf(out, "%u", r->proto == 6 ? r->tcp_flags : 0); break;
		case FL_TYPE: fputs("IPv4", out); break;
		case FL_REGION: put_str(out, r->region); break;
		case FL_AZ_ID: put_str(out, r->az_id); break;
		case FL_FLOW_DIRECTION: fputs(r->egress ? "egress" : "ingress", out); break;
		case FL_TRAFFIC_PATH:
			if (r->egress && r->traffic_path > 0)
				fprintf(out, "%d", r->traffic_path);
			else
				fputc('-', out);
			break;
		default: fputc('-', out); break; /* sublocation, AWS service names: none here */
		}
	}
}

int fl_parse_packet(const uint8_t *p, size_t n, struct fl_pkt *ret)
{
	*ret = (struct fl_pkt){0};
	if (n < 20 || (p[0] >> 4) != 4)
		return -EINVAL;
	size_t ihl = (size_t)(p[0] & 15) * 4;
	if (ihl < 20 || ihl > n)
		return -EINVAL;
	ret->len = (uint16_t)(p[2] << 8 | p[3]);
	ret->proto = p[9];
	ret->src = (uint32_t)p[12] << 24 | (uint32_t)p[13] << 16 | (uint32_t)p[14] << 8 | p[15];
	ret->dst = (uint32_t)p[16] << 24 | (uint32_t)p[17] << 16 | (uint32_t)p[18] << 8 | p[19];
	/* Ports only from a first fragment (later ones carry no L4 header). */
	bool first = ((p[6] & 0x1f) << 8 | p[7]) == 0;
	const uint8_t *l4 = p + ihl;
	size_t l4n = n - ihl;
	if (first && (ret->proto == 6 || ret->proto == 17) && l4n >= 4) {
		ret->sport = (uint16_t)(l4[0] << 8 | l4[1]);
		ret->dport = (uint16_t)(l4[2] << 8 | l4[3]);
		/* AWS's bits: FIN 1, SYN 2, RST 4, and ACK (16) only with SYN (SYN-ACK, 18). */
		if (ret->proto == 6 && l4n >= 14)
			ret->tcp_flags = (uint8_t)((l4[13] & 7) | ((l4[13] & 2) ? (l4[13] & 16) : 0));
	}
	return 0;
}

