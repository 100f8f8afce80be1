/*
 * deadlines.c — verdict-bench deadlines: a deadline torture run, verdictd
 * against the floor on the simulator (issue 11, item 5).
 *
 * Every scenario (the .scn files of bench/scenarios, or --scenario ones)
 * at full time scale, without and with a CPU hog (two busy-loop child
 * processes at nice 0), --runs times each.  Each run plays the scenario,
 * same seed, through a fresh simulated kernel twice: once against verdictd
 * (the es backend and the pipeline through the simrun API, as `verdictd
 * --backend sim` runs them, default configuration) and once against the
 * floor (floor.c: one ES client answering ALLOW inline).  The kernel's
 * books judge both: terminations, missed and late answers, least slack.
 *
 * The gate: a scenario and hog cell where verdictd was terminated or
 * missed a deadline in any run while the floor never did fails (exit 1).
 * Where the floor missed too, the machine could not keep the deadlines,
 * and the cell says so without failing.
 *
 * Long (20 runs by default), so not part of the default run: only with
 * --only deadlines.  Progress goes to stderr, then a table of every cell.
 */
#include <glob.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#ifdef VD_HAVE_SIM

#define HOG_PROCS 2
#define POLL_NS   (10 * NS_PER_MS) /* as verdictd's sim driver */

enum { SYS_VERDICTD, SYS_FLOOR, SYS_COUNT };

static const char *const sys_name[SYS_COUNT] = { "verdictd", "floor" };

/* One cell's books over its runs, per system. */
struct tally {
	unsigned runs;   /* that ran to the end */
	unsigned errors; /* that could not run */
	unsigned terminations;
	unsigned killed_queued; /* of those: the message never delivered */
	uint64_t missed, late;
	uint64_t posted_auth; /* by the workload: the same for both */
	uint64_t auth_delivered, answered, kernel_drops;
	uint64_t slack_min_ns; /* UINT64_MAX: no answer */
};

struct cell {
	char name[64];
	bool hog;
	struct tally t[SYS_COUNT];
	bool gate_fail;
};

/* ------------------------------------------------------------------ */
/* The CPU hog                                                         */

/*
 * Written before the children can run and read by the signal handler,
 * which kills them on SIGINT and SIGTERM before dying of the signal.
 * The children also die with us (PR_SET_PDEATHSIG) whatever kills us.
 */
static volatile pid_t hog_pid[HOG_PROCS];

static void
hog_kill(void)
{
	unsigned i;

	for (i = 0; i < HOG_PROCS; i++)
		if (hog_pid[i] > 0)
			kill(hog_pid[i], SIGKILL);
}

static void
on_stop_signal(int sig)
{
	hog_kill();
	signal(sig, SIG_DFL);
	raise(sig); /* delivered when the handler returns */
}

void
hog_stop(void)
{
	unsigned i;

	hog_kill();
	for (i = 0; i < HOG_PROCS; i++) {
		if (hog_pid[i] <= 0)
			continue;
		while (waitpid(hog_pid[i], NULL, 0) < 0 && errno == EINTR)
			continue;
		hog_pid[i] = 0;
	}
}

static _Noreturn void
hog_child(pid_t parent)
{
	volatile uint64_t spin = 0;

	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	prctl(PR_SET_NAME, "vd-bench-hog");
	/* Die with the bench, even if it died before this line. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(1);
	for (;;)
		spin++;
}

/* Two busy loops at nice 0.  False with a message, none left running. */
bool
hog_start(void)
{
	pid_t parent = getpid(), pid;
	sigset_t stop, old;
	unsigned i;

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	for (i = 0; i < HOG_PROCS; i++) {
		/* No stop signal between the fork and the pid's record. */
		sigprocmask(SIG_BLOCK, &stop, &old);
		pid = fork();
		if (pid == 0) {
			sigprocmask(SIG_SETMASK, &old, NULL);
			hog_child(parent);
		}
		if (pid > 0)
			hog_pid[i] = pid;
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (pid < 0) {
			vd_cli_warnx(PROG,
			    "deadlines: cannot fork the CPU hog: %s",
			    strerror(errno));
			hog_stop();
			return false;
		}
		if (setpriority(PRIO_PROCESS, (id_t)pid, 0) != 0) {
			vd_cli_warnx(PROG,
			    "deadlines: cannot set the CPU hog's nice value "
			    "to 0: %s",
			    strerror(errno));
			hog_stop();
			return false;
		}
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* One run of each system                                              */

/* The test hook --respond-delay-ms: verdictd answers that much later. */
static const struct vd_backend_ops *delayed_ops;

static bool
delayed_respond(void *ctx, enum vd_event_type t, const struct vd_handle *h,
    const struct vd_decision *d)
{
	sleep_ns(opt.respond_delay_ms * NS_PER_MS);
	return delayed_ops->respond(ctx, t, h, d);
}

/* verdictd on the scenario, in the phases of verdictd's run loop. */
int
verdictd_run(const struct essim_scenario *s, struct vd_simrun_report *out,
    char *err, size_t errsz)
{
	struct vd_pipeline *p = NULL;
	struct vd_backend_ops ops;
	struct vd_evaluator eval;
	struct vd_config cfg;
	struct vd_simrun *r;
	struct vd_backend b;
	int rc;

	vd_simrun_config(&cfg, 1.0);
	cfg.multi_producer = false; /* one delivery thread per ES client */
	if ((rc = vd_simrun_create(s, &r, err, errsz)) != 0)
		return rc;
	vd_simrun_backend(r, &b);
	ops = *b.ops;
	if (opt.respond_delay_ms != 0) {
		delayed_ops = b.ops;
		ops.respond = delayed_respond;
	}
	eval = vd_simrun_evaluator(r);
	if ((p = vd_pipeline_create(&cfg, &eval, &ops, b.ops_ctx, &rc)) ==
	    NULL) {
		vd_config_check(&cfg, err, errsz);
		goto out;
	}
	if ((rc = vd_pipeline_start(p)) != 0) {
		snprintf(
		    err, errsz, "cannot start the pipeline: %s", strerror(-rc));
		goto out;
	}
	if ((rc = b.start(b.ctx, p, err, errsz)) != 0)
		goto out;
	while (b.state(b.ctx) != VD_BACKEND_DONE)
		sleep_ns(POLL_NS);
out:
	b.quiesce(b.ctx);
	if (p != NULL)
		vd_pipeline_stop(p);
	b.finish(b.ctx);
	if (rc == 0) {
		vd_pipeline_stats(p, out->stats);
		vd_simrun_report(r, out);
	}
	vd_pipeline_destroy(p);
	b.destroy(b.ctx);
	return rc;
}

static void
tally_add(struct tally *t, const struct vd_simrun_report *r)
{
	const struct essim_client_report *a = &r->auth;

	t->runs++;
	t->terminations += a->terminated;
	t->killed_queued += a->terminated && a->kill_stage == ESSIM_KILL_QUEUED;
	t->missed += a->missed;
	t->late += a->late;
	t->posted_auth += r->workload.posted_auth;
	t->auth_delivered += a->auth_delivered;
	t->answered += a->answered;
	t->kernel_drops += a->kernel_drops;
	if (a->slack_min_ns < t->slack_min_ns)
		t->slack_min_ns = a->slack_min_ns;
}

static uint64_t
posted_now(void *ctx)
{
	(void)ctx;
	return essim_kernel_posted();
}

static void
run_one(unsigned sys, const struct essim_scenario *s, struct tally *t,
    struct vd_simrun_report *r, const char *name)
{
	struct ticker tk;
	char err[512], what[128], why[128] = "";
	int rc;

	snprintf(what, sizeof(what), "deadlines: %s, %s", name, sys_name[sys]);
	ticker_thread_start(&tk, what, posted_now, NULL);
	rc = sys == SYS_VERDICTD ? verdictd_run(s, r, err, sizeof(err))
	                         : floor_run(s, r, err, sizeof(err));
	ticker_thread_end(&tk);
	if (rc != 0) {
		vd_cli_warnx(
		    PROG, "deadlines: %s, %s: %s", name, sys_name[sys], err);
		t->errors++;
		return;
	}
	tally_add(t, r);
	if (!opt.verbose)
		return;
	if (r->auth.terminated)
		snprintf(why, sizeof(why), " (%s, budget %.3f ms, %s)",
		    essim_type_name(r->auth.kill_event),
		    (double)r->auth.kill_budget_ns / 1e6,
		    essim_kill_stage_name(r->auth.kill_stage));
	progress("deadlines: %s: %s %s%s, missed %" PRIu64 ", late %" PRIu64
	         ", AUTH %" PRIu64,
	    name, sys_name[sys], r->auth.terminated ? "terminated" : "survived",
	    why, r->auth.missed, r->auth.late, r->auth.auth_delivered);
}

/* ------------------------------------------------------------------ */
/* Cells, the gate, the output                                         */

static bool
tally_clean(const struct tally *t)
{
	return t->terminations == 0 && t->missed == 0;
}

static void
cell_json(const struct cell *c, const struct essim_scenario *s, unsigned sys)
{
	const struct tally *t = &c->t[sys];
	struct json j;

	json_begin(&j, "deadlines");
	json_str(&j, "scenario", c->name);
	json_flag(&j, "hog", c->hog);
	json_str(&j, "system", sys_name[sys]);
	json_dbl(&j, "duration_s", (double)s->duration_ns / 1e9, 2);
	json_u64(&j, "runs", t->runs);
	json_u64(&j, "errors", t->errors);
	json_u64(&j, "terminations", t->terminations);
	json_u64(&j, "terminations_queued", t->killed_queued);
	json_u64(&j, "misses", t->missed);
	json_u64(&j, "late", t->late);
	json_dbl(&j, "slack_min_ms",
	    t->slack_min_ns == UINT64_MAX ? NAN : (double)t->slack_min_ns / 1e6,
	    3);
	json_u64(&j, "posted_auth", t->posted_auth);
	json_u64(&j, "auth_delivered", t->auth_delivered);
	json_u64(&j, "answered", t->answered);
	json_u64(&j, "kernel_drops", t->kernel_drops);
	if (sys == SYS_VERDICTD) {
		json_flag(&j, "floor_clean", tally_clean(&c->t[SYS_FLOOR]));
		json_flag(&j, "gate_fail", c->gate_fail);
	}
	json_end(&j, t->errors == 0 && !(sys == SYS_VERDICTD && c->gate_fail));
}

/* The table's last column, on verdictd's line. */
static const char *
gate_word(const struct cell *c, unsigned sys)
{
	if (sys != SYS_VERDICTD)
		return "";
	if (c->gate_fail)
		return "FAIL";
	if (!tally_clean(&c->t[SYS_VERDICTD]))
		return "floor missed too";
	return "ok";
}

static void
table(const struct cell *cells, unsigned n)
{
	const struct tally *t;
	char slack[32];
	unsigned i, sys;

	fprintf(stderr, "\n%-18s %-4s %-9s %5s %11s %7s %9s %7s %15s  %s\n",
	    "scenario", "hog", "system", "runs", "terminated", "queued",
	    "missed", "late", "least slack ms", "gate");
	for (i = 0; i < n; i++) {
		for (sys = 0; sys < SYS_COUNT; sys++) {
			t = &cells[i].t[sys];
			if (t->slack_min_ns == UINT64_MAX)
				snprintf(slack, sizeof(slack), "-");
			else
				snprintf(slack, sizeof(slack), "%.3f",
				    (double)t->slack_min_ns / 1e6);
			fprintf(stderr,
			    "%-18s %-4s %-9s %5u %11u %7u %9" PRIu64
			    " %7" PRIu64 " %15s  %s\n",
			    cells[i].name, cells[i].hog ? "yes" : "no",
			    sys_name[sys], t->runs, t->terminations,
			    t->killed_queued, t->missed, t->late, slack,
			    gate_word(&cells[i], sys));
			if (t->errors != 0)
				fprintf(stderr,
				    "%-18s %-4s %-9s %u runs failed\n", "", "",
				    "", t->errors);
		}
	}
}

/* The scenario files: --scenario, or every shipped one. */
unsigned
scenario_paths(char paths[][1024], unsigned max)
{
	glob_t g;
	unsigned n = 0;
	size_t i;

	if (opt.nscenarios != 0) {
		for (i = 0; i < opt.nscenarios && n < max; i++) {
			if (strchr(opt.scenarios[i], '/') != NULL)
				snprintf(
				    paths[n++], 1024, "%s", opt.scenarios[i]);
			else
				snprintf(paths[n++], 1024, "%s/%s.scn",
				    VD_SCENARIO_DIR, opt.scenarios[i]);
		}
		return n;
	}
	if (glob(VD_SCENARIO_DIR "/*.scn", 0, NULL, &g) != 0) {
		vd_cli_warnx(
		    PROG, "deadlines: no scenario in %s", VD_SCENARIO_DIR);
		return 0;
	}
	for (i = 0; i < g.gl_pathc && n < max; i++)
		snprintf(paths[n++], 1024, "%s", g.gl_pathv[i]);
	globfree(&g);
	return n;
}

/* "steady" for ".../steady.scn". */
void
scenario_name(char *dst, size_t dstsz, const char *path)
{
	const char *base = strrchr(path, '/');
	size_t len;

	base = base != NULL ? base + 1 : path;
	len = strlen(base);
	if (len > 4 && strcmp(base + len - 4, ".scn") == 0)
		len -= 4;
	snprintf(dst, dstsz, "%.*s", (int)len, base);
}

void
bench_deadlines(void)
{
	static char paths[MAX_SCENARIOS][1024];
	static struct cell cells[MAX_SCENARIOS * 2];
	struct essim_scenario s;
	struct vd_simrun_report r;
	struct sigaction sa;
	unsigned np, nc = 0, i, h, run, sys;
	char err[512];
	uint64_t t0 = vd_clock_ns();
	struct cell *c;

	if ((np = scenario_paths(paths, MAX_SCENARIOS)) == 0) {
		failed = true;
		return;
	}
	if ((r.stats = malloc(sizeof(*r.stats))) == NULL) {
		vd_cli_warnx(PROG, "deadlines: out of memory");
		failed = true;
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	for (i = 0; i < np; i++) {
		essim_scenario_init(&s);
		if (essim_scenario_load(&s, paths[i], err, sizeof(err)) != 0) {
			vd_cli_warnx(PROG, "deadlines: %s", err);
			failed = true;
			continue;
		}
		essim_scenario_scale(&s, 1.0);
		if (opt.duration_set)
			essim_scenario_set_duration(
			    &s, (uint64_t)(opt.duration_s * 1e9));
		for (h = 0; h < 2; h++) {
			if ((h == 0 && opt.hog == HOG_ONLY) ||
			    (h == 1 && opt.hog == HOG_NONE))
				continue;
			c = &cells[nc++];
			memset(c, 0, sizeof(*c));
			scenario_name(c->name, sizeof(c->name), paths[i]);
			c->hog = h == 1;
			for (sys = 0; sys < SYS_COUNT; sys++)
				c->t[sys].slack_min_ns = UINT64_MAX;
			if (c->hog && !hog_start()) {
				c->t[SYS_VERDICTD].errors = opt.runs;
				c->t[SYS_FLOOR].errors = opt.runs;
				for (sys = 0; sys < SYS_COUNT; sys++)
					cell_json(c, &s, sys);
				continue;
			}
			for (run = 0; run < opt.runs; run++) {
				vd_cli_warnx(PROG,
				    "deadlines: %s (%.0f s), %s, run %u/%u",
				    c->name, (double)s.duration_ns / 1e9,
				    c->hog ? "CPU hog" : "no hog", run + 1,
				    opt.runs);
				for (sys = 0; sys < SYS_COUNT; sys++)
					run_one(
					    sys, &s, &c->t[sys], &r, c->name);
			}
			hog_stop();
			c->gate_fail = !tally_clean(&c->t[SYS_VERDICTD]) &&
			    tally_clean(&c->t[SYS_FLOOR]) &&
			    c->t[SYS_FLOOR].runs != 0;
			for (sys = 0; sys < SYS_COUNT; sys++)
				cell_json(c, &s, sys);
		}
	}
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	free(r.stats);
	table(cells, nc);
	fprintf(stderr, "deadlines: %u cells, %u runs each, %.0f s\n", nc,
	    opt.runs, (double)(vd_clock_ns() - t0) / 1e9);
}
#endif
