/*
 * prog.h — verdict-bench's name in its messages and its exit statuses,
 * for every file of it: harness.h includes it, and the files that only
 * read JSON back (compare.c, plot.c) include it alone.
 */
#ifndef VD_BENCH_PROG_H
#define VD_BENCH_PROG_H

/* How messages on stderr start. */
#define PROG "verdict-bench"

#define EXIT_CHECK 1 /* a benchmark's correctness check failed */
#define EXIT_INPUT 3 /* --compare, --plot: a file unreadable or not fit */

#endif
