/*
 * compare.h — verdict-bench --compare OLD NEW, the regression gate
 * (compare.c).  Apart from harness.h: json-c, which compare.c reads the
 * JSON with, has names of its own (json_bool) that the harness's writer
 * also has.
 */
#ifndef VD_BENCH_COMPARE_H
#define VD_BENCH_COMPARE_H

#define EXIT_INPUT 3 /* --compare: a file unreadable or not comparable */

/* --compare's thresholds, as fractions (0.10: 10 %). */
struct compare_limits {
	double latency, throughput, cpu;
};

/* verdict-bench --compare OLD NEW: 0 none regressed, 1 some did (or a
 * correctness check failed in NEW), EXIT_INPUT a file could not be read
 * or compared. */
int bench_compare(
    const char *oldp, const char *newp, const struct compare_limits *lim);

#endif
