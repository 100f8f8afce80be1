/*
 * harness.c — verdict-bench's shared parts: small helpers, the cycle
 * counter, one JSON line, the benchmark backend (respond() checks off each
 * message id exactly once and counts who answered) and the pipeline
 * driver.  See harness.h.
 */
#include <unistd.h>

#include "harness.h"

struct opts opt = {
	.workers = 2,
	.duration_s = 5,
	.runs = 20,
};

bool failed;

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

void
progress(const char *fmt, ...)
{
	va_list ap;

	if (!opt.verbose)
		return;
	va_start(ap, fmt);
	vd_cli_vwarnx(PROG, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* The progress line                                                   */

#define TICK_TTY_NS (1 * NS_PER_S)
#define TICK_LOG_NS (10 * NS_PER_S)

void
ticker_start(
    struct ticker *t, const char *what, uint64_t (*count)(void *ctx), void *ctx)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->what, sizeof(t->what), "%s", what);
	t->count = count;
	t->ctx = ctx;
	t->t0 = t->last_ns = t->printed_ns = vd_clock_ns();
	t->tty = isatty(STDERR_FILENO) == 1;
}

void
ticker_tick(struct ticker *t)
{
	uint64_t now = vd_clock_ns(), n, dt;
	double eps;

	if (!t->tty && !opt.verbose)
		return;
	if (now - t->printed_ns < (t->tty ? TICK_TTY_NS : TICK_LOG_NS))
		return;
	n = t->count != NULL ? t->count(t->ctx) : 0;
	dt = now - t->last_ns;
	eps = dt != 0 && n >= t->last_count
	    ? (double)(n - t->last_count) * 1e9 / (double)dt
	    : 0;
	fprintf(stderr, "%s%s: %s: %.0f s, %.0f events/s%s",
	    t->tty ? "\r\033[K" : "", PROG, t->what,
	    (double)(now - t->t0) / 1e9, eps, t->tty ? "" : "\n");
	t->last_ns = t->printed_ns = now;
	t->last_count = n;
	t->shown = true;
}

void
ticker_end(struct ticker *t)
{
	/* A terminal's line is wiped: the results follow on their own. */
	if (t->tty && t->shown)
		fputs("\r\033[K", stderr);
}

static void *
ticker_main(void *arg)
{
	struct ticker *t = arg;

	while (!atomic_load_explicit(&t->stop, memory_order_relaxed)) {
		sleep_ns(NS_PER_S / 4);
		ticker_tick(t);
	}
	return NULL;
}

void
ticker_thread_start(
    struct ticker *t, const char *what, uint64_t (*count)(void *ctx), void *ctx)
{
	ticker_start(t, what, count, ctx);
	atomic_store(&t->stop, false);
	/* Nothing to print: no thread to wake four times a second. */
	t->threaded = (t->tty || opt.verbose) &&
	    pthread_create(&t->th, NULL, ticker_main, t) == 0;
}

void
ticker_thread_end(struct ticker *t)
{
	if (t->threaded) {
		atomic_store(&t->stop, true);
		pthread_join(t->th, NULL);
	}
	ticker_end(t);
}

void
sleep_ns(uint64_t ns)
{
	vd_sleep_until(vd_clock_ns() + ns);
}

/* The user + system CPU time of a struct rusage, ns. */
uint64_t
ru_cpu_ns(const struct rusage *ru)
{
	return ((uint64_t)ru->ru_utime.tv_sec + (uint64_t)ru->ru_stime.tv_sec) *
	    NS_PER_S +
	    ((uint64_t)ru->ru_utime.tv_usec + (uint64_t)ru->ru_stime.tv_usec) *
	    1000u;
}

/* User + system CPU time of the whole process, ns. */
uint64_t
cpu_ns(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru_cpu_ns(&ru) : 0;
}

uint64_t
xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

void *
xalloc(size_t n)
{
	void *p = calloc(1, n);

	if (p == NULL) {
		vd_cli_warnx(PROG, "out of memory (%zu bytes)", n);
		exit(EXIT_CHECK);
	}
	return p;
}

/* Cache-line aligned and zeroed. */
void *
xalloc_aligned(size_t n)
{
	size_t sz = (n + 63) / 64 * 64;
	void *p = aligned_alloc(64, sz);

	if (p == NULL) {
		vd_cli_warnx(PROG, "out of memory (%zu bytes)", n);
		exit(EXIT_CHECK);
	}
	memset(p, 0, sz);
	return p;
}

int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Quantile q of a sorted array (nearest rank). */
uint64_t
sorted_quantile(const uint64_t *v, size_t n, double q)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)ceil(q * (double)n);
	if (k == 0)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

/* ------------------------------------------------------------------ */
/* Cycle counter                                                       */

/*
 * Timing a ~100 ns call with clock_gettime would add a clock read of about
 * the same size on each side, so the submit benchmark reads the TSC
 * (invariant on anything this runs on: constant_tsc, nonstop_tsc), fenced so
 * the timed instructions stay between the two reads, and converts with a
 * rate calibrated against CLOCK_MONOTONIC.  The cost of an empty pair of
 * reads is measured and reported, and subtracted from the quantiles.
 */
double cyc_per_ns = 1.0;

const char *
cyc_name(void)
{
#ifdef BENCH_TSC
	return "rdtsc";
#else
	return "clock_gettime";
#endif
}

void
cyc_calibrate(void)
{
#ifdef BENCH_TSC
	uint64_t t0, t1, c0, c1;

	t0 = vd_clock_ns();
	c0 = cyc_begin();
	sleep_ns(opt.quick ? 20 * NS_PER_MS : 100 * NS_PER_MS);
	t1 = vd_clock_ns();
	c1 = cyc_end();
	cyc_per_ns = (double)(c1 - c0) / (double)(t1 - t0);
#endif
}

/* Median cost of an empty begin/end pair, in cycles. */
uint64_t
cyc_overhead(void)
{
	enum { N = 100001 };
	uint64_t *v = xalloc(N * sizeof(*v)), c0, r;
	size_t i;

	for (i = 0; i < N; i++) {
		c0 = cyc_begin();
		v[i] = cyc_end() - c0;
	}
	qsort(v, N, sizeof(*v), cmp_u64);
	r = v[N / 2];
	free(v);
	return r;
}

double
cyc_to_ns(uint64_t c)
{
	return (double)c / cyc_per_ns;
}

/* ------------------------------------------------------------------ */
/* One JSON line                                                       */

static void json_raw(struct json *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
json_raw(struct json *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (j->len >= sizeof(j->buf))
		return;
	va_start(ap, fmt);
	n = vsnprintf(j->buf + j->len, sizeof(j->buf) - j->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		j->len += (size_t)n;
}

static void
json_key(struct json *j, const char *k)
{
	json_raw(j, "%s\"%s\":", j->first ? "" : ",", k);
	j->first = false;
}

void
json_str(struct json *j, const char *k, const char *v)
{
	const char *s;

	json_key(j, k);
	json_raw(j, "\"");
	for (s = v; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			json_raw(j, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			json_raw(j, "\\u%04x", (unsigned)*s);
		else
			json_raw(j, "%c", *s);
	}
	json_raw(j, "\"");
}

void
json_begin(struct json *j, const char *bench)
{
	j->len = 0;
	j->first = true;
	j->peak_rss_kib = 0;
	json_raw(j, "{");
	json_str(j, "bench", bench);
	json_u64(j, "schema", BENCH_SCHEMA);
}

void
json_u64(struct json *j, const char *k, uint64_t v)
{
	json_key(j, k);
	json_raw(j, "%" PRIu64, v);
}

void
json_i64(struct json *j, const char *k, int64_t v)
{
	json_key(j, k);
	json_raw(j, "%" PRId64, v);
}

void
json_dbl(struct json *j, const char *k, double v, int prec)
{
	json_key(j, k);
	if (isfinite(v))
		json_raw(j, "%.*f", prec, v);
	else
		json_raw(j, "null");
}

void
json_flag(struct json *j, const char *k, bool v)
{
	json_key(j, k);
	json_raw(j, "%s", v ? "true" : "false");
}

void
json_arr_u64(struct json *j, const char *k, const uint64_t *v, size_t n)
{
	size_t i;

	json_key(j, k);
	json_raw(j, "[");
	for (i = 0; i < n; i++)
		json_raw(j, "%s%" PRIu64, i ? "," : "", v[i]);
	json_raw(j, "]");
}

void
json_obj_begin(struct json *j, const char *k)
{
	json_key(j, k);
	json_raw(j, "{");
	j->first = true;
}

void
json_obj_end(struct json *j)
{
	json_raw(j, "}");
	j->first = false;
}

/* "ok" closes every line; a false one makes the run exit 1. */
void
json_end(struct json *j, bool ok)
{
	struct rusage ru;

	/* The process's peak resident set so far (Linux: KiB), unless the
	 * line is a child's run and carries the child's. */
	if (j->peak_rss_kib == UINT64_MAX)
		; /* another process ran it, and did not say */
	else if (j->peak_rss_kib != 0)
		json_u64(j, "peak_rss_kib", j->peak_rss_kib);
	else if (getrusage(RUSAGE_SELF, &ru) == 0)
		json_u64(j, "peak_rss_kib", (uint64_t)ru.ru_maxrss);
	json_flag(j, "ok", ok);
	json_raw(j, "}");
	if (!ok)
		failed = true;
	if (j->len >= sizeof(j->buf)) {
		vd_cli_warnx(PROG, "JSON line too long");
		failed = true;
		return;
	}
	fputs(j->buf, opt.json_out != NULL ? opt.json_out : stdout);
	fputc('\n', opt.json_out != NULL ? opt.json_out : stdout);
	fflush(opt.json_out != NULL ? opt.json_out : stdout);
}

/* The CPUs the process started with: threads inherit their creator's
 * affinity, so pinning must not start from a pinned thread's mask. */
cpu_set_t startup_cpus;

/* Pins the calling thread to the k-th CPU of startup_cpus; returns the
 * CPU's number, or -1. */
int
pin_to(unsigned k)
{
	cpu_set_t one;
	unsigned i, seen = 0;

	for (i = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &startup_cpus))
			continue;
		if (seen++ == k)
			break;
	}
	if (i == CPU_SETSIZE)
		return -1;
	CPU_ZERO(&one);
	CPU_SET(i, &one);
	if (pthread_setaffinity_np(pthread_self(), sizeof(one), &one) != 0)
		return -1;
	return (int)i;
}

/* Back to every CPU: pipelines started later inherit our mask. */
void
unpin(void)
{
	(void)pthread_setaffinity_np(
	    pthread_self(), sizeof(startup_cpus), &startup_cpus);
}

unsigned
ncpus(void)
{
	return (unsigned)CPU_COUNT(&startup_cpus);
}

struct layout
layout_shared(void)
{
	return (struct layout){ opt.workers, false };
}

struct layout
layout_reader_cpu(void)
{
	unsigned n = ncpus();

	return (struct layout){ n > 1 ? n - 1 : 1, true };
}

/* Call after the pipeline started; returns the producer's CPU or -1. */
int
layout_pin_producer(const struct layout *l)
{
	return l->pin_producer ? pin_to(0) : -1;
}

/* ------------------------------------------------------------------ */
/* The benchmark backend                                               */

/* Worker index + 1 on a worker thread, set by the evaluator; 0 elsewhere. */
static _Thread_local unsigned tls_worker;
/* Set on threads that submit: answers given there are "at once". */
_Thread_local bool tls_producer;

static bool
bk_respond(void *ctx, enum vd_event_type type, const struct vd_handle *h,
    const struct vd_decision *d)
{
	struct bk *b = ctx;
	struct bk_worker *w;
	uint64_t id = h->id;

	(void)type;
	(void)d;
	if (id >= b->cap) {
		atomic_fetch_add_explicit(&b->bad_id, 1, memory_order_relaxed);
		return false;
	}
	if (atomic_fetch_add_explicit(&b->seen[id], 1, memory_order_relaxed) !=
	    0) {
		atomic_fetch_add_explicit(&b->dup, 1, memory_order_relaxed);
		return false; /* as the kernel would refuse a second answer */
	}
	if (tls_worker != 0 && tls_worker <= b->nworkers) {
		w = &b->w[tls_worker - 1];
		/* Each worker counts in its own line: a shared counter would
		 * measure the backend's cache traffic, not the pipeline. */
		atomic_fetch_add_explicit(&w->answers, 1, memory_order_relaxed);
		if (b->stamp != NULL)
			vd_hist_record(&w->hist, vd_clock_ns() - b->stamp[id]);
	} else if (tls_producer) {
		atomic_fetch_add_explicit(&b->at_once, 1, memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&b->other, 1, memory_order_relaxed);
	}
	return true;
}

static void
bk_release(void *ctx, enum vd_event_type type, const struct vd_handle *h)
{
	(void)ctx;
	(void)type;
	(void)h;
}

/* Trivial rules: allow everything, and tell respond() who we are. */
static void
eval_allow(void *ctx, unsigned worker, const struct vd_event *ev,
    struct vd_decision *out)
{
	(void)ctx;
	(void)ev;
	tls_worker = worker + 1;
	out->verdict = VD_ALLOW;
	if (opt.eval_delay_ns != 0) {
		/* --eval-delay-us: a slower build's evaluation, on the CPU. */
		uint64_t end = vd_clock_ns() + opt.eval_delay_ns;

		while (vd_clock_ns() < end)
			;
	}
}

static const struct vd_backend_ops bk_ops = {
	.name = "bench",
	.respond = bk_respond,
	.release = bk_release,
};

static const struct vd_evaluator eval_trivial = {
	.evaluate = eval_allow,
	.notify = NULL,
	.ctx = NULL,
};

static struct bk *
bk_create(uint64_t cap, unsigned nworkers, bool stamps)
{
	struct bk *b = xalloc_aligned(sizeof(*b));

	b->cap = cap;
	b->nworkers = nworkers;
	b->seen = xalloc(cap * sizeof(*b->seen));
	b->stamp = stamps ? xalloc(cap * sizeof(*b->stamp)) : NULL;
	b->w = xalloc_aligned(nworkers * sizeof(*b->w));
	return b;
}

static void
bk_destroy(struct bk *b)
{
	free(b->seen);
	free(b->stamp);
	free(b->w);
	free(b);
}

uint64_t
bk_worker_answers(const struct bk *b)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < b->nworkers; i++)
		n += atomic_load_explicit(
		    &b->w[i].answers, memory_order_relaxed);
	return n;
}

static uint64_t
bk_answers(const struct bk *b)
{
	return bk_worker_answers(b) +
	    atomic_load_explicit(&b->at_once, memory_order_relaxed) +
	    atomic_load_explicit(&b->other, memory_order_relaxed);
}

/* Ids in [first, first + n) answered a number of times other than once. */
static uint64_t
bk_not_once(const struct bk *b, uint64_t first, uint64_t n)
{
	uint64_t i, bad = 0;

	for (i = first; i < first + n && i < b->cap; i++)
		if (atomic_load_explicit(&b->seen[i], memory_order_relaxed) !=
		    1)
			bad++;
	return bad;
}

/* Waits until n answers arrived; false after timeout_ns. */
bool
bk_wait(const struct bk *b, uint64_t n, uint64_t timeout_ns)
{
	uint64_t end = vd_clock_ns() + timeout_ns;

	while (bk_answers(b) < n) {
		if (vd_clock_ns() > end)
			return false;
		sleep_ns(20000);
	}
	return true;
}

/* ------------------------------------------------------------------ */

bool prun_inline;
void (*prun_observer)(void *ctx, const struct vd_answer *a);
void *prun_observer_ctx;

bool
prun_start(struct prun *r, unsigned workers, unsigned pool, unsigned ring,
    uint64_t spin_ns, uint64_t cap, bool stamps, unsigned producers)
{
	int err;

	vd_config_init(&r->cfg, VD_PROFILE_FANOTIFY);
	/* One submitting thread: the rings' cheaper single-producer mode,
	 * as a backend with one reader thread would configure it. */
	r->cfg.multi_producer = producers > 1;
	r->cfg.workers = workers;
	r->cfg.pool_size = pool;
	r->cfg.ring_size = ring;
	r->cfg.spin_ns = spin_ns;
	r->cfg.inline_runner = prun_inline;
	r->bk = bk_create(cap, workers, stamps);
	r->p = vd_pipeline_create(&r->cfg, &eval_trivial, &bk_ops, r->bk, &err);
	if (r->p == NULL) {
		vd_cli_warnx(PROG, "vd_pipeline_create: %s", strerror(-err));
		bk_destroy(r->bk);
		failed = true;
		return false;
	}
	vd_pipeline_set_observer(r->p, prun_observer, prun_observer_ctx);
	if ((err = vd_pipeline_start(r->p)) != 0) {
		vd_cli_warnx(PROG, "vd_pipeline_start: %s", strerror(-err));
		vd_pipeline_destroy(r->p);
		bk_destroy(r->bk);
		failed = true;
		return false;
	}
	return true;
}

void
prun_destroy(struct prun *r)
{
	vd_pipeline_destroy(r->p);
	bk_destroy(r->bk);
}

/*
 * The books: the backend saw each issued id exactly once, no duplicate, no
 * unknown id, and the pipeline's own counters agree on how many its workers
 * answered.
 */
bool
prun_check(const struct prun *r, const struct vd_stats *s,
    const struct id_range *ranges, unsigned nranges)
{
	uint64_t not_once = 0, total = 0, pw = 0;
	unsigned i, t;
	bool ok;

	for (i = 0; i < nranges; i++) {
		not_once += bk_not_once(r->bk, ranges[i].first, ranges[i].n);
		total += ranges[i].n;
	}
	for (t = 0; t < VD_AUTH_TYPE_COUNT; t++)
		pw += s->types[t].answered_worker;
	/* The pipeline counts the inline runner's answers as workers'; the
	 * backend sees them on the producer's thread. */
	if (r->cfg.inline_runner)
		pw -= s->inline_runner.events;
	ok = not_once == 0 && atomic_load(&r->bk->dup) == 0 &&
	    atomic_load(&r->bk->bad_id) == 0 && bk_answers(r->bk) == total &&
	    pw == bk_worker_answers(r->bk);
	if (!ok)
		vd_cli_warnx(PROG,
		    "books do not close: %" PRIu64
		    " ids not answered exactly once, %" PRIu64 " duplicates, "
		    "%" PRIu64 " unknown ids, %" PRIu64 " answers for %" PRIu64
		    " events, pipeline says %" PRIu64
		    " by workers, backend %" PRIu64,
		    not_once, atomic_load(&r->bk->dup),
		    atomic_load(&r->bk->bad_id), bk_answers(r->bk), total, pw,
		    bk_worker_answers(r->bk));
	return ok;
}

void
wake_counts_of(const struct vd_stats *s, struct wake_counts *c)
{
	unsigned i;

	c->parks = c->wakeups = 0;
	for (i = 0; i < s->workers && i < VD_MAX_WORKERS; i++) {
		c->parks += s->worker[i].parks;
		c->wakeups += s->worker[i].wakeups;
	}
	c->timer = s->timer.wakeups;
}

/* Takes a snapshot of a running pipeline's counts. */
void
wake_counts_now(const struct vd_pipeline *p, struct wake_counts *c)
{
	struct vd_stats *s = xalloc(sizeof(*s));

	vd_pipeline_stats(p, s);
	wake_counts_of(s, c);
	free(s);
}

void
json_wake_counts(
    struct json *j, const struct wake_counts *c, const struct wake_counts *base)
{
	json_u64(j, "worker_parks", c->parks - base->parks);
	json_u64(j, "worker_wakeups", c->wakeups - base->wakeups);
	json_u64(j, "timer_wakeups", c->timer - base->timer);
}

/* With -v, the pipeline's own view of a run, on stderr. */
void
progress_stats(const struct vd_stats *s)
{
	const struct vd_type_stats *ts;
	unsigned t, i;

	if (!opt.verbose)
		return;
	for (t = 0; t < VD_AUTH_TYPE_COUNT; t++) {
		ts = &s->types[t];
		if (ts->received == 0)
			continue;
		progress("  %s: received %" PRIu64 ", worker %" PRIu64
		         ", default %" PRIu64 ", dropped %" PRIu64
		         " (pool %" PRIu64 "), ring depth max %" PRIu64,
		    vd_event_type_name((enum vd_event_type)t), ts->received,
		    ts->answered_worker, ts->answered_default, ts->dropped,
		    ts->dropped_pool, ts->ring_depth_max);
	}
	for (i = 0; i < s->workers && i < VD_MAX_WORKERS; i++)
		progress("  worker %u: events %" PRIu64 ", parks %" PRIu64
		         ", wakeups %" PRIu64 ", busy %.1f ms",
		    i, s->worker[i].events, s->worker[i].parks,
		    s->worker[i].wakeups, (double)s->worker[i].busy_ns / 1e6);
	progress("  timer: armed %" PRIu64 ", fired %" PRIu64
	         ", cancelled %" PRIu64 ", wakeups %" PRIu64
	         ", late max %.1f us",
	    s->timer.armed, s->timer.fired, s->timer.cancelled,
	    s->timer.wakeups, (double)s->timer.lateness_max_ns / 1e3);
}
