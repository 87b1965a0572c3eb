/* libFuzzer target: a packet as NFLOG hands it to the flow log collector (a guest's bytes)
 * through fl_parse_packet, then written as a record in every field of the version 5 format.
 * It answers a packet whose header fields lie inside the input, or -EINVAL, and never reads
 * past the input. Built and run by tests/fuzz/run; the corpus is replayed by meson. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "flowlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly `size` bytes, so that ASan sees any read past it. */
	uint8_t *p = malloc(size ? size : 1);
	memcpy(p, data, size);
	struct fl_pkt k;
	int r = fl_parse_packet(p, size, &k);
	if (r != 0 && r != -EINVAL)
		abort();
	if (r == 0) {
		if (size < 20 || (k.tcp_flags & ~(1u | 2u | 4u | 16u)) || ((k.tcp_flags & 16) && !(k.tcp_flags & 2)))
			abort();
		int f[FL_MAX_FIELDS];
		size_t n;
		struct err e = {0};
		if (fl_format_parse("${version} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${tcp-flags} "
				    "${flow-direction} ${traffic-path} ${action} ${log-status}", f, &n, &e) < 0)
			abort();
		struct fl_rec rec = {.src = k.src, .dst = k.dst, .sport = k.sport, .dport = k.dport, .proto = k.proto,
				     .packets = 1, .bytes = k.len, .action = FL_REJECT, .tcp_flags = k.tcp_flags,
				     .version = 5};
		FILE *out = fopen("/dev/null", "w");
		fl_format_record(f, n, &rec, out);
		fclose(out);
	}
	free(p);
	return 0;
}
