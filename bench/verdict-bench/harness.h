/*
 * harness.h — what verdict-bench's benchmarks share (harness.c): options,
 * the JSON line emitter, the cycle counter, the benchmark backend and the
 * pipeline driver.  Each benchmark is one file of bench/verdict-bench/;
 * main.c runs them.
 */
#ifndef VD_BENCH_HARNESS_H
#define VD_BENCH_HARNESS_H

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define BENCH_TSC 1
#endif

#ifdef VD_HAVE_SIM
#include "backend/sim/simrun.h"
#endif
#include <verdict/counters.h>
#include <verdict/verdict.h>

#include "core/ring.h"
#include "core/wheel.h"
#include "platform/platform.h"
#include "util/util.h"

#define NS_PER_S  1000000000ull
#define NS_PER_MS 1000000ull

#include "compare.h"
#include "prog.h"

/* Targets from the issue (a 2-core VM). */
/* The version of the JSON lines' fields (verdict-bench(1), OUTPUT):
 * bumped when a field is removed or changes meaning, not when one is
 * added. */
#define BENCH_SCHEMA 1

#define TARGET_SUBMIT_P99_NS  250
#define TARGET_THROUGHPUT_EPS 2000000.0
#define TARGET_LATENCY_P99_US 50.0

/* Which runs of deadlines have the CPU hog. */
enum hog_mode { HOG_BOTH, HOG_NONE, HOG_ONLY };

#define MAX_SCENARIO_OPTS 16

struct opts {
	const char *only; /* the last --only; NULL: the default run */
	bool quick;
	bool verbose;
	unsigned workers;
	double duration_s; /* latency and spin runs; deadlines when set */
	bool duration_set;
	/* deadlines */
	unsigned runs;
	bool runs_set;
	enum hog_mode hog;
	bool hog_set; /* --hog given: scenarios runs no hog unless asked */
	const char *scenarios[MAX_SCENARIO_OPTS];
	size_t nscenarios;
	uint64_t respond_delay_ms; /* test hook: verdictd answers late */
	/* test hook: each evaluation of the latency benchmarks spins this
	 * long (a deliberately slowed build, for --compare's test) */
	uint64_t eval_delay_ns;
	/* fanotify: where fapolicyd's package is extracted */
	const char *fapolicyd_root;
	/* the JSON lines: stdout, or --json FILE */
	FILE *json_out;
};

extern struct opts opt;

/* Some correctness check failed: exit 1. */
extern bool failed;

/*
 * A tiny emitter: keys are literals of ours, strings need no escaping
 * beyond what json_str does, numbers that are not finite become null.
 */
struct json {
	char buf[16384]; /* room for a series of a few hundred numbers */
	size_t len;
	bool first;
	uint64_t peak_rss_kib; /* 0: the process's own, at json_end;
	                          UINT64_MAX: none (another process ran it) */
};

/*
 * The progress line of a long run on standard error: what runs, for how
 * long, and events/s from count(ctx).  On a terminal one line, rewritten
 * at each tick (a second or more apart); elsewhere a line every 10 s, and
 * only with -v, so a log gets no surprise output.
 */
struct ticker {
	char what[128];
	uint64_t (*count)(void *ctx);
	void *ctx;
	uint64_t t0, last_ns, last_count, printed_ns;
	bool tty, shown;
	/* ticker_thread_*: ticks from a thread of its own */
	pthread_t th;
	_Atomic bool stop;
	bool threaded;
};

/*
 * Where the threads of a pipeline run: `workers` pinned workers (the core
 * pins them from the last CPU down) and the producer either left to the
 * scheduler (producer_cpu -1), or pinned to the first CPU, its own.  With as
 * many workers as CPUs the producer always shares a CPU with a worker; the
 * second layout is verdictd's default (usable CPUs - 1 workers, room for
 * the reader).
 */
struct layout {
	unsigned workers;
	bool pin_producer;
};

struct bk_worker {
	alignas(64) _Atomic uint64_t answers;
	struct vd_hist hist; /* written by this worker only */
};

struct bk {
	_Atomic uint8_t *seen; /* answers per message id */
	uint64_t *stamp;       /* submit time per id; NULL: no latency */
	uint64_t cap;
	unsigned nworkers;
	struct bk_worker *w;
	alignas(64) _Atomic uint64_t at_once; /* on a producer thread */
	alignas(64) _Atomic uint64_t other;   /* timer or controller */
	_Atomic uint64_t dup, bad_id;
};

struct prun {
	struct vd_pipeline *p;
	struct bk *bk;
	struct vd_config cfg;
};

/* Message ids [first, first + n) that were issued. */
struct id_range {
	uint64_t first, n;
};

/* Park and wake counts, so a warm-up can be subtracted from a run. */
struct wake_counts {
	uint64_t parks;   /* worker parks */
	uint64_t wakeups; /* worker wakes sent by producers */
	uint64_t timer;   /* timer thread wakeups */
};

/* Driving a pipeline                                                  */

static const char bench_path[] = "/usr/lib/x86_64-linux-gnu/libc.so.6";

enum sub_result {
	SUB_QUEUED,
	SUB_REFUSED_POOL,   /* event_get found the pool empty */
	SUB_REFUSED_SUBMIT, /* submit answered at once (ring full) */
};

static inline uint64_t
cyc_begin(void)
{
#ifdef BENCH_TSC
	uint64_t t;

	/* lfence: earlier instructions finish before the read... */
	_mm_lfence();
	t = __rdtsc();
	/* ...and the timed ones do not start before it. */
	_mm_lfence();
	return t;
#else
	return vd_clock_ns();
#endif
}

static inline uint64_t
cyc_end(void)
{
#ifdef BENCH_TSC
	unsigned aux;
	uint64_t t;

	/* rdtscp waits for the timed instructions; lfence keeps later ones
	 * from starting before the read. */
	t = __rdtscp(&aux);
	_mm_lfence();
	return t;
#else
	return vd_clock_ns();
#endif
}

/*
 * What a backend callback does: take an event, fill the fields a real
 * message would (handle, process identity, one path), submit.  Events
 * alternate between auth.open and auth.exec; pids come in runs of pid_run
 * consecutive ids so one process's events go to one shard in a row.
 */
/* Takes and fills message id's event; NULL when the pool was empty (the
 * message refused, answered with the default). */
static inline struct vd_event *
fill_one(struct vd_pipeline *p, uint64_t id, uint64_t arrival, unsigned pid_run)
{
	enum vd_event_type t = (id & 1) ? VD_AUTH_EXEC : VD_AUTH_OPEN;
	pid_t pid = 1000 + (pid_t)((id / pid_run) % 4093);
	struct vd_handle h;
	struct vd_event *ev;

	ev = vd_pipeline_event_get(p, t);
	if (ev == NULL) {
		memset(&h, 0, sizeof(h));
		h.id = id;
		h.fd = -1;
		vd_pipeline_refuse(p, t, &h);
		return NULL;
	}
	ev->handle.id = id;
	ev->arrival_ns = arrival;
	ev->proc.pid = pid;
	ev->proc.ppid = 1;
	ev->proc.uid = 1000;
	ev->proc.gid = 1000;
	memcpy(ev->target, bench_path, sizeof(bench_path));
	return ev;
}

static inline enum sub_result
submit_one(
    struct vd_pipeline *p, uint64_t id, uint64_t arrival, unsigned pid_run)
{
	struct vd_event *ev = fill_one(p, id, arrival, pid_run);

	if (ev == NULL)
		return SUB_REFUSED_POOL;
	return vd_pipeline_submit(p, ev) ? SUB_QUEUED : SUB_REFUSED_SUBMIT;
}

/* harness.c */
extern double cyc_per_ns;               /* the cycle counter's rate */
extern cpu_set_t startup_cpus;          /* the CPUs we may use, at start */
extern _Thread_local bool tls_producer; /* this thread submits */

bool bk_wait(const struct bk *b, uint64_t n, uint64_t timeout_ns);
bool prun_check(const struct prun *r, const struct vd_stats *s,
    const struct id_range *ranges, unsigned nranges);
/* An observer prun_start gives the pipeline (the decision log's). */
extern void (*prun_observer)(void *ctx, const struct vd_answer *a);
extern void *prun_observer_ctx;
/* prun_start's pipelines have an inline runner (the "pass" benchmark). */
extern bool prun_inline;

bool prun_start(struct prun *r, unsigned workers, unsigned pool, unsigned ring,
    uint64_t spin_ns, uint64_t cap, bool stamps, unsigned producers);
const char *cyc_name(void);
double cyc_to_ns(uint64_t c);
int cmp_u64(const void *a, const void *b);
int layout_pin_producer(const struct layout *l);
int pin_to(unsigned k);
struct layout layout_reader_cpu(void);
struct layout layout_shared(void);
uint64_t bk_worker_answers(const struct bk *b);
uint64_t cpu_ns(void);
uint64_t ru_cpu_ns(const struct rusage *ru);
uint64_t cyc_overhead(void);
uint64_t sorted_quantile(const uint64_t *v, size_t n, double q);
uint64_t xorshift(uint64_t *s);
unsigned ncpus(void);
void *xalloc(size_t n);
void *xalloc_aligned(size_t n);
void cyc_calibrate(void);
void json_begin(struct json *j, const char *bench);
void json_flag(struct json *j, const char *k, bool v);
void json_dbl(struct json *j, const char *k, double v, int prec);
void json_end(struct json *j, bool ok);
void json_i64(struct json *j, const char *k, int64_t v);
void json_arr_u64(struct json *j, const char *k, const uint64_t *v, size_t n);
void json_obj_begin(struct json *j, const char *k);
void json_obj_end(struct json *j);
void json_str(struct json *j, const char *k, const char *v);
void json_u64(struct json *j, const char *k, uint64_t v);
void json_wake_counts(struct json *j, const struct wake_counts *c,
    const struct wake_counts *base);
void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void progress_stats(const struct vd_stats *s);
void prun_destroy(struct prun *r);
void ticker_start(struct ticker *t, const char *what,
    uint64_t (*count)(void *ctx), void *ctx);
void ticker_tick(struct ticker *t);
void ticker_end(struct ticker *t);
/* The same, ticked by a thread of its own while this one works. */
void ticker_thread_start(struct ticker *t, const char *what,
    uint64_t (*count)(void *ctx), void *ctx);
void ticker_thread_end(struct ticker *t);
void sleep_ns(uint64_t ns);
void unpin(void);
void wake_counts_now(const struct vd_pipeline *p, struct wake_counts *c);
void wake_counts_of(const struct vd_stats *s, struct wake_counts *c);

#ifdef VD_HAVE_SIM
/* floor.c: the scenario against the floor, a minimal ES client that
 * answers ALLOW inline.  0, or -errno with a sentence in err. */
int floor_run(const struct essim_scenario *s, struct vd_simrun_report *out,
    char *err, size_t errsz);

/* deadlines.c, shared with scenarios.c. */
#define MAX_SCENARIOS 64
/* verdictd (the es backend and the pipeline, default configuration) on
 * the scenario.  0, or -errno with a sentence in err. */
int verdictd_run(const struct essim_scenario *s, struct vd_simrun_report *out,
    char *err, size_t errsz);
/* The scenario files: --scenario ones, or every shipped one. */
unsigned scenario_paths(char paths[][1024], unsigned max);
/* "steady" for ".../steady.scn". */
void scenario_name(char *dst, size_t dstsz, const char *path);
/* The CPU hog: two busy-loop children at nice 0, killed with us.  start:
 * false with a message, none left running. */
bool hog_start(void);
void hog_stop(void);
#endif

/* The benchmarks, one file each. */
void bench_deadlines(void);
void bench_es_flood(void);
void bench_fanotify(void);
void bench_latency(void);
void bench_pass(void);
void bench_query(void);
void bench_declog(void);
void bench_ring(void);
void bench_scenarios(void);
/* verdict-bench --scenario-child ...: one run of bench_scenarios. */
int scenarios_child(int argc, char **argv);
void bench_spin(void);
void bench_submit(void);
void bench_throughput(void);
void bench_wheel(void);

#endif
