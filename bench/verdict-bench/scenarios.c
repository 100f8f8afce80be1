/*
 * scenarios.c — verdict-bench scenarios: each simulator scenario played on
 * the same load and seed by verdictd and by what a user would run instead,
 * every one judged by the simulated kernel alike.
 *
 *   verdictd  the es backend and the pipeline (simrun, default
 *             configuration), as `verdictd --backend sim` runs them
 *   floor     the least an ES client can do: ALLOW inline in its handler
 *             (floor.c); the reference each verdictd figure is a ratio to
 *   seed      the design verdictd replaces: one client, a 64-thread pool,
 *             fallback timers on that pool (bench/baseline)
 *
 * Each run is a child process of its own, so its CPU time and peak RSS are
 * that system's alone, with the simulated kernel and the workload that
 * drives it: the floor's CPU per event is what the simulator itself costs.
 * The child sends its books back through a pipe.  From the kernel's books:
 * answers, misses, late and duplicate answers, termination, kernel drops;
 * from its latency records (essim_kernel_latency): answer latency from the
 * event's post to the accepted answer (what the process waiting sees),
 * the handler's own time per AUTH message (the callback's cost), and a
 * series of 200 time buckets over the run (the plot of latency over time,
 * verdict-bench --plot).  verdictd's line adds who answered (its worker,
 * its timer, on arrival) and its p50/p99/p999 as ratios to the floor's.
 *
 * -d sets each scenario's length (default 5 s, quick 1 s); the run lasts
 * until every AUTH message settled, so a stalled one keeps it going until
 * its deadline.  -s picks scenarios (default: every shipped one).
 */
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#ifdef VD_HAVE_SIM
#include "../baseline/baseline.h"

#define SERIES_N 200

enum { SYS_VERDICTD, SYS_FLOOR, SYS_SEED, SYS_COUNT };

static const char *const sys_name[SYS_COUNT] = { "verdictd", "floor", "seed" };

/* What a child sends back: plain data, no pointers. */
struct books {
	int rc;
	char err[256];
	struct essim_client_report auth; /* the AUTH client's */
	struct essim_workload_report workload;
	struct vd_hist answer, callback, callback_notify;
	uint64_t bucket_ns;
	struct essim_series_bucket series[SERIES_N];
	/* verdictd's own */
	uint64_t by_worker, by_default, by_arrival, dropped;
	/* the child's rusage, filled by the parent */
	uint64_t cpu_ns, peak_rss_kib, elapsed_ns;
};

/* The kernel's latency books (essim_kernel_latency) into b. */
static void
books_latency(struct books *b)
{
	struct essim_latency l;
	size_t i;

	if (essim_kernel_latency(&l) != 0)
		return;
	b->answer = l.answer;
	b->callback = l.callback_auth;
	b->callback_notify = l.callback_notify;
	b->bucket_ns = l.bucket_ns;
	for (i = 0; i < l.nbuckets && i < SERIES_N; i++)
		b->series[i] = l.series[i];
}

/* In the child: one system on the scenario, its books into b. */
static void
child_run(unsigned sys, const struct essim_scenario *s, struct books *b)
{
	struct vd_simrun_report r;
	struct vd_baseline_report br;
	struct essim_config kcfg;
	unsigned t;

	memset(&r, 0, sizeof(r));
	switch (sys) {
	case SYS_VERDICTD:
		if ((r.stats = malloc(sizeof(*r.stats))) == NULL) {
			b->rc = -ENOMEM;
			snprintf(b->err, sizeof(b->err), "out of memory");
			return;
		}
		b->rc = verdictd_run(s, &r, b->err, sizeof(b->err));
		for (t = 0; b->rc == 0 && t < VD_AUTH_TYPE_COUNT; t++) {
			b->by_worker += r.stats->types[t].answered_worker;
			b->by_default += r.stats->types[t].answered_default;
			b->by_arrival += r.stats->types[t].answered_arrival;
			b->dropped += r.stats->types[t].dropped;
		}
		free(r.stats);
		break;
	case SYS_FLOOR:
		b->rc = floor_run(s, &r, b->err, sizeof(b->err));
		break;
	default:
		/* The seed runs in a kernel it does not start itself. */
		memset(&br, 0, sizeof(br));
		essim_config_init(&kcfg);
		if ((b->rc = essim_kernel_init(&kcfg)) != 0) {
			snprintf(b->err, sizeof(b->err),
			    "cannot start the simulated kernel: %s",
			    strerror(-b->rc));
			return;
		}
		b->rc = vd_baseline_run(s, &br, b->err, sizeof(b->err));
		essim_kernel_fini();
		r.auth = br.kernel;
		r.workload = br.workload;
		break;
	}
	if (b->rc != 0)
		return;
	b->auth = r.auth;
	b->workload = r.workload;
	books_latency(b);
}

static bool
write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Reads n bytes, printing the progress line while it waits. */
static bool
read_all(int fd, void *buf, size_t n, struct ticker *tk)
{
	char *p = buf;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t r;
	int k;

	while (n > 0) {
		k = poll(&pfd, 1, 1000);
		if (k < 0 && errno != EINTR)
			return false;
		ticker_tick(tk);
		if (k <= 0)
			continue;
		r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

/*
 * Live count of posted events, for the progress line: the child writes it
 * into a memfd it inherits (PROGRESS_FD) and the parent maps too.
 */
static _Atomic uint64_t *live_posted;
static int progress_fd = -1;

#define BOOKS_FD    3
#define PROGRESS_FD 4
#define CHILD_FLAG  "--scenario-child"

static uint64_t
posted_now(void *ctx)
{
	(void)ctx;
	return live_posted != NULL
	    ? atomic_load_explicit(live_posted, memory_order_relaxed)
	    : 0;
}

static void *
posted_pump(void *arg)
{
	_Atomic bool *stop = arg;

	while (!atomic_load_explicit(stop, memory_order_relaxed)) {
		atomic_store_explicit(
		    live_posted, essim_kernel_posted(), memory_order_relaxed);
		sleep_ns(250 * NS_PER_MS);
	}
	return NULL;
}

/* The scenario at path at full time scale, duration_ns long, with the
 * series over it; 0, or -errno with a sentence in err. */
static int
scenario_setup(struct essim_scenario *s, const char *path, uint64_t duration_ns,
    char *err, size_t errsz)
{
	uint64_t horizon;
	int rc;

	essim_scenario_init(s);
	if ((rc = essim_scenario_load(s, path, err, errsz)) != 0)
		return rc;
	essim_scenario_scale(s, 1.0);
	essim_scenario_set_duration(s, duration_ns);
	/* The series covers the run and the longest deadline after it: a
	 * stalled event settles by then. */
	horizon =
	    s->duration_ns + s->ordinary_ns + s->ordinary_jitter_ns + NS_PER_S;
	essim_latency_series(horizon / SERIES_N, SERIES_N);
	return 0;
}

/*
 * The child: verdict-bench --scenario-child SYS PATH DURATION_NS, run by
 * run_child() in a fresh image (a fork alone would carry the parent's
 * memory into the child's peak RSS).  Its books go to BOOKS_FD.
 */
int
scenarios_child(int argc, char **argv)
{
	static struct books b;
	struct essim_scenario s;
	_Atomic bool stop = false;
	pthread_t th;
	bool pump = false;
	unsigned sys;

	if (argc != 5 || (sys = (unsigned)atoi(argv[2])) >= SYS_COUNT)
		return EXIT_INPUT;
	memset(&b, 0, sizeof(b));
	live_posted = mmap(NULL, sizeof(*live_posted), PROT_READ | PROT_WRITE,
	    MAP_SHARED, PROGRESS_FD, 0);
	if (live_posted == MAP_FAILED)
		live_posted = NULL;
	b.rc = scenario_setup(
	    &s, argv[3], strtoull(argv[4], NULL, 10), b.err, sizeof(b.err));
	if (b.rc == 0) {
		pump = live_posted != NULL &&
		    pthread_create(&th, NULL, posted_pump, &stop) == 0;
		child_run(sys, &s, &b);
	}
	if (pump) {
		atomic_store(&stop, true);
		pthread_join(th, NULL);
	}
	return write_all(BOOKS_FD, &b, sizeof(b)) ? 0 : 1;
}

/* One system, one scenario, in a child process of its own. */
static void
run_child(unsigned sys, const char *path, uint64_t duration_ns,
    const char *name, struct books *b)
{
	char what[128], sys_s[16], dur_s[32];
	struct rusage ru;
	struct ticker tk;
	int fds[2], status;
	pid_t pid;
	uint64_t t0;

	memset(b, 0, sizeof(*b));
	if (pipe(fds) != 0) {
		b->rc = -errno;
		snprintf(b->err, sizeof(b->err), "pipe: %s", strerror(errno));
		return;
	}
	atomic_store(live_posted, 0);
	snprintf(sys_s, sizeof(sys_s), "%u", sys);
	snprintf(dur_s, sizeof(dur_s), "%" PRIu64, duration_ns);
	fflush(NULL);
	t0 = vd_clock_ns();
	pid = fork();
	if (pid < 0) {
		b->rc = -errno;
		snprintf(b->err, sizeof(b->err), "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		if (dup2(fds[1], BOOKS_FD) < 0 ||
		    dup2(progress_fd, PROGRESS_FD) < 0)
			_exit(126);
		execl("/proc/self/exe", PROG, CHILD_FLAG, sys_s, path, dur_s,
		    (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	snprintf(what, sizeof(what), "scenarios: %s, %s", name, sys_name[sys]);
	ticker_start(&tk, what, posted_now, NULL);
	if (!read_all(fds[0], b, sizeof(*b), &tk)) {
		memset(b, 0, sizeof(*b));
		b->rc = -EIO;
		snprintf(b->err, sizeof(b->err),
		    "the child died before it sent its books");
	}
	ticker_end(&tk);
	close(fds[0]);
	while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
		continue;
	b->elapsed_ns = vd_clock_ns() - t0;
	b->cpu_ns = ru_cpu_ns(&ru);
	b->peak_rss_kib = (uint64_t)ru.ru_maxrss;
	if (b->rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		b->rc = -EIO;
		snprintf(b->err, sizeof(b->err), "the child failed (status %d)",
		    status);
	}
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

static double
us_q(const struct vd_hist *h, double q)
{
	return (double)vd_hist_quantile(h, q) / 1e3;
}

static double
ratio(double a, double b)
{
	return b > 0 ? a / b : NAN;
}

/* The margin verdictd's timer keeps before a deadline of budget ns. */
static uint64_t
margin_of(uint64_t budget)
{
	struct vd_config cfg;

	vd_simrun_config(&cfg, 1.0);
	return vd_type_margin(&cfg.types[VD_AUTH_OPEN], budget);
}

static void
json_series(struct json *j, const struct books *b)
{
	uint64_t v[SERIES_N];
	size_t i;

	json_dbl(j, "series_bucket_ms", (double)b->bucket_ns / 1e6, 3);
	for (i = 0; i < SERIES_N; i++)
		v[i] = (b->series[i].latency_max_ns + 999) / 1000;
	json_arr_u64(j, "series_max_us", v, SERIES_N);
	for (i = 0; i < SERIES_N; i++)
		v[i] = b->series[i].answered;
	json_arr_u64(j, "series_answered", v, SERIES_N);
	for (i = 0; i < SERIES_N; i++)
		v[i] = b->series[i].missed;
	json_arr_u64(j, "series_missed", v, SERIES_N);
}

static void
line(const char *name, const struct essim_scenario *s, bool hog, unsigned sys,
    const struct books *b, const struct books *floor)
{
	uint64_t events, budget;
	struct json j;

	json_begin(&j, "scenarios");
	json_str(&j, "scenario", name);
	json_flag(&j, "hog", hog);
	json_str(&j, "system", sys_name[sys]);
	json_dbl(&j, "duration_s", (double)s->duration_ns / 1e9, 2);
	if (b->rc != 0) {
		json_str(&j, "error", b->err);
		json_u64(&j, "errors", 1);
		json_end(&j, false);
		return;
	}
	events = b->workload.posted;
	json_u64(&j, "posted_auth", b->workload.posted_auth);
	json_u64(&j, "posted_notify", b->workload.posted_notify);
	json_u64(&j, "auth_delivered", b->auth.auth_delivered);
	json_u64(&j, "answered", b->auth.answered);
	if (sys == SYS_VERDICTD) {
		json_u64(&j, "by_worker", b->by_worker);
		json_u64(&j, "by_default", b->by_default);
		json_u64(&j, "by_arrival", b->by_arrival);
		json_u64(&j, "dropped", b->dropped);
	}
	json_u64(&j, "kernel_drops", b->auth.kernel_drops);
	/* A peer's misses are its own result, not a failure of this run:
	 * --compare gates verdictd's names only. */
	if (sys == SYS_VERDICTD) {
		json_u64(&j, "terminations", b->auth.terminated);
		json_u64(&j, "misses", b->auth.missed);
		json_u64(&j, "late", b->auth.late);
		json_u64(&j, "duplicates", b->auth.duplicates);
	} else {
		json_u64(&j, "peer_terminated", b->auth.terminated);
		json_u64(&j, "peer_missed", b->auth.missed);
		json_u64(&j, "peer_late", b->auth.late);
		json_u64(&j, "peer_duplicates", b->auth.duplicates);
	}
	json_dbl(&j, "p50_us", us_q(&b->answer, 0.5), 1);
	json_dbl(&j, "p90_us", us_q(&b->answer, 0.9), 1);
	json_dbl(&j, "p99_us", us_q(&b->answer, 0.99), 1);
	json_dbl(&j, "p999_us", us_q(&b->answer, 0.999), 1);
	json_dbl(&j, "max_us", (double)b->answer.max / 1e3, 1);
	json_u64(&j, "callback_p50_ns", vd_hist_quantile(&b->callback, 0.5));
	json_u64(&j, "callback_p99_ns", vd_hist_quantile(&b->callback, 0.99));
	json_u64(&j, "notify_callback_p50_ns",
	    vd_hist_quantile(&b->callback_notify, 0.5));
	json_dbl(&j, "cpu_ns_per_event",
	    events ? (double)b->cpu_ns / (double)events : 0, 0);
	json_dbl(&j, "elapsed_s", (double)b->elapsed_ns / 1e9, 2);
	if (sys == SYS_VERDICTD && floor != NULL && floor->rc == 0) {
		json_dbl(&j, "p50_vs_floor",
		    ratio(us_q(&b->answer, 0.5), us_q(&floor->answer, 0.5)), 3);
		json_dbl(&j, "p99_vs_floor",
		    ratio(us_q(&b->answer, 0.99), us_q(&floor->answer, 0.99)),
		    3);
		json_dbl(&j, "p999_vs_floor",
		    ratio(us_q(&b->answer, 0.999), us_q(&floor->answer, 0.999)),
		    3);
		json_dbl(&j, "cpu_vs_floor",
		    ratio((double)b->cpu_ns, (double)floor->cpu_ns), 3);
	}
	budget = s->ordinary_ns > s->ordinary_jitter_ns
	    ? s->ordinary_ns - s->ordinary_jitter_ns
	    : s->ordinary_ns;
	json_dbl(&j, "deadline_ms", (double)budget / 1e6, 1);
	json_dbl(&j, "margin_ms", (double)margin_of(budget) / 1e6, 1);
	json_series(&j, b);
	j.peak_rss_kib = b->peak_rss_kib;
	/* verdictd terminated, or a miss, breaks its one promise. */
	json_end(&j,
	    sys != SYS_VERDICTD ||
	        (!b->auth.terminated && b->auth.missed == 0 &&
	            b->auth.duplicates == 0));
}

static void
table_row(const char *name, bool hog, unsigned sys, const struct books *b,
    bool header)
{
	if (header)
		fprintf(stderr,
		    "\n%-16s %-3s %-8s %9s %6s %6s %9s %9s %9s %10s %9s %9s "
		    "%8s\n",
		    "scenario", "hog", "system", "AUTH", "missed", "killed",
		    "p50 µs", "p99 µs", "p999 µs", "max ms", "cb p50 ns",
		    "CPU ns/ev", "RSS MiB");
	if (b->rc != 0) {
		fprintf(stderr, "%-16s %-3s %-8s failed: %s\n", name,
		    hog ? "yes" : "no", sys_name[sys], b->err);
		return;
	}
	fprintf(stderr,
	    "%-16s %-3s %-8s %9" PRIu64 " %6" PRIu64
	    " %6s %9.1f %9.1f %9.1f %10.1f %9" PRIu64 " %9.0f %8.1f\n",
	    name, hog ? "yes" : "no", sys_name[sys], b->auth.auth_delivered,
	    b->auth.missed, b->auth.terminated ? "yes" : "no",
	    us_q(&b->answer, 0.5), us_q(&b->answer, 0.99),
	    us_q(&b->answer, 0.999), (double)b->answer.max / 1e6,
	    vd_hist_quantile(&b->callback, 0.5),
	    b->workload.posted ? (double)b->cpu_ns / (double)b->workload.posted
	                       : 0,
	    (double)b->peak_rss_kib / 1024.0);
}

/* Quick runs leave out the scenarios whose stalls last seconds. */
static bool
quick_skips(const char *name)
{
	return opt.quick && opt.nscenarios == 0 &&
	    strcmp(name, "steady") != 0 && strcmp(name, "burst") != 0;
}

void
bench_scenarios(void)
{
	static char paths[MAX_SCENARIOS][1024];
	static struct books bk[SYS_COUNT];
	struct essim_scenario s;
	unsigned np, i, sys, h;
	uint64_t duration_ns;
	char err[512], name[64];
	bool header = true;

	if ((np = scenario_paths(paths, MAX_SCENARIOS)) == 0) {
		failed = true;
		return;
	}
	progress_fd = memfd_create("vd-bench-progress", 0);
	if (progress_fd < 0 || ftruncate(progress_fd, sizeof(*live_posted)) ||
	    (live_posted = mmap(NULL, sizeof(*live_posted),
	         PROT_READ | PROT_WRITE, MAP_SHARED, progress_fd, 0)) ==
	        MAP_FAILED) {
		vd_cli_warnx(PROG, "scenarios: memfd: %s", strerror(errno));
		if (progress_fd >= 0)
			close(progress_fd);
		live_posted = NULL;
		failed = true;
		return;
	}
	duration_ns = (uint64_t)((opt.duration_set   ? opt.duration_s
	                                 : opt.quick ? 1.0
	                                             : 5.0) *
	    1e9);
	for (i = 0; i < np; i++) {
		scenario_name(name, sizeof(name), paths[i]);
		if (quick_skips(name))
			continue;
		/* Checked here too, so a broken file is one message. */
		if (scenario_setup(
		        &s, paths[i], duration_ns, err, sizeof(err)) != 0) {
			vd_cli_warnx(PROG, "scenarios: %s", err);
			failed = true;
			continue;
		}
		/* Without --hog, no hog; --hog both: without, then with. */
		for (h = 0; h < 2; h++) {
			if (h == 0 ? opt.hog_set && opt.hog == HOG_ONLY
			           : !opt.hog_set || opt.hog == HOG_NONE)
				continue;
			if (h == 1 && !hog_start()) {
				failed = true;
				continue;
			}
			for (sys = 0; sys < SYS_COUNT; sys++)
				run_child(
				    sys, paths[i], duration_ns, name, &bk[sys]);
			if (h == 1)
				hog_stop();
			for (sys = 0; sys < SYS_COUNT; sys++) {
				line(name, &s, h == 1, sys, &bk[sys],
				    &bk[SYS_FLOOR]);
				table_row(name, h == 1, sys, &bk[sys], header);
				header = false;
			}
		}
	}
	munmap(live_posted, sizeof(*live_posted));
	live_posted = NULL;
	close(progress_fd);
}
#endif
