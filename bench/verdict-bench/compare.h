/*
 * compare.h — verdict-bench --compare OLD NEW, the regression gate
 * (compare.c), and --plot (plot.c): reading runs' JSON lines back with
 * json-c.
 */
#ifndef VD_BENCH_COMPARE_H
#define VD_BENCH_COMPARE_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;

/* A file of verdict-bench's JSON lines, read with json-c. */
struct lines {
	struct json_object **v;
	size_t n;
};

/* 0, or -1 with file:line and why on standard error. */
int jsonl_read(const char *path, struct lines *out);
void jsonl_free(struct lines *l);
/* A line's "bench". */
const char *jsonl_bench(struct json_object *o);
/* A line's number k; 0 and *has false when it has none. */
double jsonl_num(struct json_object *o, const char *k, bool *has);

/* --compare's thresholds, as fractions (0.10: 10 %). */
struct compare_limits {
	double latency, throughput, cpu;
};

/* verdict-bench --compare OLD NEW: 0 none regressed, EXIT_CHECK some did
 * (or a correctness check failed in NEW), EXIT_INPUT (prog.h) a file could
 * not be read or compared. */
int bench_compare(
    const char *oldp, const char *newp, const struct compare_limits *lim);

/* verdict-bench --plot DIR FILE...: PNG plots of runs (plot.c), one line
 * per FILE; 0, EXIT_INPUT, or 1 when gnuplot failed. */
int bench_plot(const char *dir, char *const *files, int nfiles);

#endif
