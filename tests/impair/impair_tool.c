/* A command line around vpcd/impair.c, for tests/impair/impair.sh and bench/impair:
 *
 *   impair_tool start NS ID ADDR [--delay-ms F] [--jitter-ms F] [--reorder PCT]
 *               [--duplicate PCT] [--corrupt PCT] [--seed N] [--dir egress|ingress|both]
 *       starts the impairment, prints "ready queue=N t_call=T0 t_ready=T1" (CLOCK_MONOTONIC
 *       seconds), waits for SIGTERM or SIGINT, stops it and prints "stopped t_stop=T2
 *       t_done=T3" and its counters.
 *   impair_tool present NS ID      exit 0 if the impairment's table is in NS, 1 if not
 *   impair_tool remove NS ID       deletes a table left behind */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "impair.h"

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
	fprintf(
	    stderr,
	    "usage: impair_tool start NS ID ADDR [--delay-ms F] [--jitter-ms F] [--reorder PCT]\n"
	    "                  [--duplicate PCT] [--corrupt PCT] [--seed N] [--dir "
	    "egress|ingress|both]\n"
	    "       impair_tool present NS ID\n"
	    "       impair_tool remove NS ID\n");
	return 2;
}

static int cmd_start(int argc, char **argv)
{
	struct impair_spec s = {0};
	if (argc < 5 || inet_pton(AF_INET, argv[4], &s.addr) != 1)
		return usage();
	for (int i = 5; i < argc; i++) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return usage();
		i++;
		if (!strcmp(k, "--delay-ms"))
			s.delay_us = (unsigned)(atof(v) * 1000);
		else if (!strcmp(k, "--jitter-ms"))
			s.jitter_us = (unsigned)(atof(v) * 1000);
		else if (!strcmp(k, "--reorder"))
			s.reorder_pct = atof(v);
		else if (!strcmp(k, "--duplicate"))
			s.duplicate_pct = atof(v);
		else if (!strcmp(k, "--corrupt"))
			s.corrupt_pct = atof(v);
		else if (!strcmp(k, "--seed"))
			s.seed = strtoull(v, NULL, 0);
		else if (!strcmp(k, "--dir"))
			s.dir = !strcmp(v, "ingress") ? IMPAIR_INGRESS
				: !strcmp(v, "both")  ? IMPAIR_BOTH
						      : IMPAIR_EGRESS;
		else
			return usage();
	}
	/* Blocked before the thread starts, so that it inherits the mask and sigwait gets them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	struct impair *im;
	struct err e = {0};
	double t0 = mono();
	if (impair_start(argv[2], argv[3], &s, &im, &e) < 0) {
		fprintf(stderr, "impair_tool: %s: %s\n", e.code, e.msg);
		return 1;
	}
	double t1 = mono();
	struct impair_stats st;
	impair_get_stats(im, &st);
	printf("ready queue=%u t_call=%.6f t_ready=%.6f\n", st.queue, t0, t1);
	fflush(stdout);
	int sig;
	sigwait(&set, &sig);
	impair_get_stats(im, &st);
	double t2 = mono();
	impair_stop(im);
	double t3 = mono();
	printf("stopped t_stop=%.6f t_done=%.6f packets=%llu delayed=%llu reordered=%llu "
	       "duplicated=%llu "
	       "corrupted=%llu overflow=%llu foreign=%llu held_max=%llu\n",
	       t2, t3, (unsigned long long)st.packets, (unsigned long long)st.delayed,
	       (unsigned long long)st.reordered, (unsigned long long)st.duplicated,
	       (unsigned long long)st.corrupted, (unsigned long long)st.overflow,
	       (unsigned long long)st.foreign, (unsigned long long)st.held_max);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "start"))
		return cmd_start(argc, argv);
	if (argc != 4)
		return usage();
	if (!strcmp(argv[1], "present"))
		return impair_present(argv[2], argv[3]) ? 0 : 1;
	if (!strcmp(argv[1], "remove")) {
		struct err e = {0};
		if (impair_remove(argv[2], argv[3], &e) < 0) {
			fprintf(stderr, "impair_tool: %s: %s\n", e.code, e.msg);
			return 1;
		}
		return 0;
	}
	return usage();
}
