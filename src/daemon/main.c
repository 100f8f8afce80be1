/*
 * main.c — verdictd: options, configuration, signals, the run and its report.
 *
 * The main thread owns everything but the hot path: it builds the
 * configuration (built-in defaults, then the file, then the command line),
 * creates the pipeline and the backend, and then only waits — for the end of
 * the run or for a signal.  Signal handlers write the signal number into a
 * self-pipe and nothing else; the main thread reads it and does the work
 * (stop, or re-read the configuration).  The signals are blocked while the
 * pipeline and producer threads are created, so those threads inherit a mask
 * that keeps them out of it and only the main thread is interrupted.
 *
 * Exit status: 0 the run was clean, 1 a runtime failure or the backend saw a
 * duplicate, late or missing answer, 2 a usage or configuration error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <verdict/counters.h>
#include <verdict/event.h>
#include <verdict/pipeline.h>
#include <verdict/policy.h>
#include <verdict/stats.h>
#include <verdict/testeval.h>
#include <verdict/version.h>

#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/report.h"
#include "daemon/sim.h"
#ifdef VD_HAVE_SIM
#include "backend/simrun.h"
#endif
#include "daemon/gen.h"
#include "daemon/hooks.h"
#include "daemon/log.h"
#include "daemon/service.h"
#include "util/errf.h"
#include "util/procstat.h"
#ifdef VD_HAVE_FANOTIFY
#include "backend/fanotify.h"
#endif

#define EXIT_RUNTIME 1
#define EXIT_USAGE   2

#define NS_PER_SEC UINT64_C(1000000000)
#define NS_PER_MS  UINT64_C(1000000)

/* Time allowed past the longest deadline for the last answers to land. */
#define DRAIN_SLACK_NS (200 * NS_PER_MS)

/* Long options that only set a configuration value. */
enum {
	OPT_RING_SIZE = 256,
	OPT_POOL_SIZE,
	OPT_SPIN_US,
	OPT_TICK_US,
	OPT_PIN_WORKERS,
	OPT_STALL_EVERY,
	OPT_STALL_MS,
	OPT_DENY_EVERY,
	OPT_SEED,
	OPT_SHORT_EVERY,
	OPT_SHORT_MS,
	OPT_SCENARIO,
	OPT_TIME_SCALE,
	OPT_CONTROL_SOCKET,
	OPT_POLICY,
	OPT_CHECK_POLICY,
	OPT_WATCH,
	OPT_MARK,
};

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "config", required_argument, NULL, 'c' },
	{ "check", no_argument, NULL, 'n' },
	{ "json", no_argument, NULL, 'j' },
	{ "set", required_argument, NULL, 's' },
	{ "backend", required_argument, NULL, 'b' },
	{ "workers", required_argument, NULL, 'w' },
	{ "ring-size", required_argument, NULL, OPT_RING_SIZE },
	{ "pool-size", required_argument, NULL, OPT_POOL_SIZE },
	{ "spin-us", required_argument, NULL, OPT_SPIN_US },
	{ "tick-us", required_argument, NULL, OPT_TICK_US },
	{ "pin-workers", required_argument, NULL, OPT_PIN_WORKERS },
	{ "rate", required_argument, NULL, 'r' },
	{ "duration", required_argument, NULL, 'd' },
	{ "producers", required_argument, NULL, 'p' },
	{ "types", required_argument, NULL, 't' },
	{ "stall-every", required_argument, NULL, OPT_STALL_EVERY },
	{ "stall-ms", required_argument, NULL, OPT_STALL_MS },
	{ "deny-every", required_argument, NULL, OPT_DENY_EVERY },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "short-every", required_argument, NULL, OPT_SHORT_EVERY },
	{ "short-ms", required_argument, NULL, OPT_SHORT_MS },
	{ "scenario", required_argument, NULL, OPT_SCENARIO },
	{ "time-scale", required_argument, NULL, OPT_TIME_SCALE },
	{ "control-socket", required_argument, NULL, OPT_CONTROL_SOCKET },
	{ "policy", required_argument, NULL, OPT_POLICY },
	{ "check-policy", required_argument, NULL, OPT_CHECK_POLICY },
	{ "watch", required_argument, NULL, OPT_WATCH },
	{ "mark", required_argument, NULL, OPT_MARK },
	{ NULL, 0, NULL, 0 },
};
static const char short_opts[] = "b:c:d:hjnp:r:s:t:Vw:";

/* Which setting each value option sets. */
static const struct opt_setting {
	int val;
	const char *section;
	const char *key;
} opt_settings[] = {
	{ 'b', "backend", "name" },
	{ 'w', "pipeline", "workers" },
	{ OPT_RING_SIZE, "pipeline", "ring_size" },
	{ OPT_POOL_SIZE, "pipeline", "pool_size" },
	{ OPT_SPIN_US, "pipeline", "spin_us" },
	{ OPT_TICK_US, "pipeline", "tick_us" },
	{ OPT_PIN_WORKERS, "pipeline", "pin_workers" },
	{ 'r', "gen", "rate" },
	{ 'd', "gen", "duration" },
	{ 'p', "gen", "producers" },
	{ 't', "gen", "types" },
	{ OPT_STALL_EVERY, "gen", "stall_every" },
	{ OPT_STALL_MS, "gen", "stall_ms" },
	{ OPT_DENY_EVERY, "gen", "deny_every" },
	{ OPT_SEED, "gen", "seed" },
	{ OPT_SHORT_EVERY, "gen", "short_every" },
	{ OPT_SHORT_MS, "gen", "short_ms" },
	{ OPT_SCENARIO, "sim", "scenario" },
	{ OPT_TIME_SCALE, "sim", "time_scale" },
	{ OPT_CONTROL_SOCKET, "control", "socket" },
	{ OPT_POLICY, "policy", "file" },
	{ OPT_WATCH, "fanotify", "paths" },
	{ OPT_MARK, "fanotify", "mark" },
};
#define NOPT_SETTINGS (sizeof(opt_settings) / sizeof(opt_settings[0]))

/* A command-line setting, applied after the file (and again on reload). */
struct override {
	const char *opt;                   /* long option name, for messages */
	const struct opt_setting *setting; /* NULL: --set */
	const char *value;
};

struct daemon {
	const char *path; /* NULL: built-in defaults only */
	struct override *ov;
	size_t nov;
	bool json;
	struct vd_conf conf; /* in force */
	struct vd_testeval *te;
	struct vd_gen *gen;
	struct vd_pipeline *p;
	int stop_signal; /* what ended the run, 0: its duration */
	/* reload() from main or control; also guards the reload counts
	 * below, which the control thread reads. */
	pthread_mutex_t reload_lock;
	uint64_t generation; /* configurations loaded, from 1 */
	uint64_t reloads, reload_failures;
	uint64_t start_ns;
	/* Set by the main thread after the control thread started, read by
	 * that thread too. */
	_Atomic(struct vd_control *) ctl;
	struct vd_stats *ctl_stats;   /* the control thread's snapshot */
	void *es;                     /* struct vd_es, with the sim backend */
	struct vd_policy_runtime *rt; /* with a policy file */
	uint64_t policy_reloads, policy_reload_failures;
	struct vd_hooks *hooks; /* fanotify: the [test] hooks */
	struct vd_fan *fan;     /* the fanotify backend, while it runs */
	bool policy_paths;      /* the policy has path rules */
	bool policy_exe;        /* the policy has exe= or comm= rules */
};

static int sig_fds[2] = { -1, -1 };

static const char synopsis[] =
    "usage: verdictd [-hjnV] [-c file] [-b backend] [-s section.key=value]\n"
    "                [-w workers] [--ring-size n] [--pool-size n] [--spin-us "
    "us]\n"
    "                [--tick-us us] [--pin-workers yes|no] [-r rate] [-d "
    "seconds]\n"
    "                [-p producers] [-t types] [--stall-every n] [--stall-ms "
    "ms]\n"
    "                [--deny-every n] [--seed n] [--short-every n] [--short-ms "
    "ms]\n"
    "                [--scenario file] [--time-scale x] [--watch paths]\n"
    "                [--mark directory|mount|filesystem] [--policy file]\n"
    "                [--check-policy file] [--control-socket path]\n";

/* A usage error gets the synopsis on stderr; --help the whole text. */
static void
usage_error(void)
{
	fprintf(stderr, "%sTry 'verdictd --help' for more information.\n",
	    synopsis);
}

static void
usage(FILE *fp)
{
	fputs(synopsis, fp);
	fprintf(fp,
	    "\n"
	    "Answer permission events before their deadline; runs in the "
	    "foreground and\n"
	    "prints a report when the run ends (SIGTERM or SIGINT, or the "
	    "duration of\n"
	    "the gen and sim backends).\n"
	    "\n"
	    "  -c, --config FILE        read settings from FILE (see "
	    "verdictd.conf(5))\n"
	    "  -n, --check              check the configuration and exit\n"
	    "  -j, --json               print the final report as one JSON "
	    "object\n"
	    "  -s, --set SECTION.KEY=VALUE\n"
	    "                           set any setting, e.g. "
	    "auth.open.default=deny\n"
	    "  -b, --backend NAME       event source: fanotify (Linux, the "
	    "default there),\n"
	    "                           gen (the load generator) or sim (the "
	    "Endpoint-\n"
	    "                           Security simulator)\n"
	    "      --control-socket PATH\n"
	    "                           where verdictctl(8) connects; off: "
	    "none\n"
	    "      --policy FILE        decide with the rules in FILE "
	    "(verdict.rules(5))\n"
	    "      --check-policy FILE  check a rules file and exit\n"
	    "  -h, --help               print this help and exit\n"
	    "  -V, --version            print the version and exit\n"
	    "\n"
	    "pipeline:\n"
	    "  -w, --workers N          worker threads, 0: automatic (CPUs - "
	    "1, 1..4)\n"
	    "      --ring-size N        ring slots per type and worker, a "
	    "power of two\n"
	    "      --pool-size N        preallocated events per type\n"
	    "      --spin-us US         longest an idle worker spins before "
	    "parking\n"
	    "      --tick-us US         timer wheel resolution\n"
	    "      --pin-workers yes|no pin each worker to a CPU\n"
	    "\n"
	    "fanotify backend (root; see verdictd.conf(5) [fanotify]):\n"
	    "      --watch PATHS        mark these paths, ':'-separated "
	    "(absolute)\n"
	    "      --mark KIND          directory (its entries, not "
	    "recursive), mount or\n"
	    "                           filesystem\n"
	    "\n"
	    "gen backend:\n"
	    "  -r, --rate N             events per second, all producers "
	    "together\n"
	    "  -d, --duration S         seconds to generate events for\n"
	    "  -p, --producers N        producer threads\n"
	    "  -t, --types LIST         event types, e.g. "
	    "auth.open,auth.exec,notify.close\n"
	    "      --stall-every N      the evaluator stalls every N-th "
	    "evaluation (0: off)\n"
	    "      --stall-ms MS        for MS milliseconds\n"
	    "      --deny-every N       the evaluator denies when (pid + id) "
	    "%% N == 0\n"
	    "      --seed N             seed of the event mix and payloads\n"
	    "      --short-every N      every N-th AUTH event gets a short "
	    "deadline\n"
	    "      --short-ms MS        that deadline, in milliseconds after "
	    "arrival\n"
	    "\n"
	    "sim backend (the es backend on the EndpointSecurity "
	    "simulator):\n"
	    "      --scenario FILE      the workload, see essim-scenario(5)\n"
	    "      --time-scale X       deadlines, stalls and margins x X "
	    "(0.001..1)\n"
	    "  -d, --duration S         run for S seconds instead of the "
	    "scenario's\n"
	    "\n"
	    "Command-line settings override the file.  SIGHUP re-reads the "
	    "file.\n"
	    "Exit status: 0 clean run, 1 runtime failure or a duplicate, late "
	    "or missing\n"
	    "answer, 2 usage or configuration error.\n");
}

static uint64_t
now_ns(void)
{
	return vd_clock_ns();
}

/*
 * Defaults, then the file, then the command line, then the consistency
 * check: the same steps at start-up and on SIGHUP.
 */
static int
conf_build(struct vd_conf *c, const struct daemon *d, char *err, size_t errsz)
{
	char msg[512];
	int rc;

	vd_conf_init(c);
	if (d->path != NULL && (rc = vd_conf_load(c, d->path, err, errsz)) != 0)
		return rc;
	for (size_t i = 0; i < d->nov; i++) {
		const struct override *o = &d->ov[i];

		if (o->setting != NULL)
			rc = vd_conf_set(c, o->setting->section,
			    o->setting->key, o->value, msg, sizeof(msg));
		else
			rc = vd_conf_set_arg(c, o->value, msg, sizeof(msg));
		if (rc != 0) {
			snprintf(err, errsz, "--%s: %s", o->opt, msg);
			return rc;
		}
		/* -d is the run's length for either backend. */
		if (o->setting != NULL && o->setting->val == 'd' &&
		    c->sim.duration_s == 0)
			c->sim.duration_s = c->gen.duration_s;
	}
	if ((rc = vd_conf_check(c, msg, sizeof(msg))) != 0) {
		if (d->path != NULL)
			snprintf(err, errsz, "%s: %s", d->path, msg);
		else
			snprintf(err, errsz, "%s", msg);
		return rc;
	}
	return 0;
}

/* --- signals -------------------------------------------------------------- */

/* Async-signal-safe: one write.  A full pipe already holds a wake-up. */
static void
on_signal(int signo)
{
	int saved = errno;
	unsigned char b = (unsigned char)signo;
	ssize_t w;

	w = write(sig_fds[1], &b, 1);
	(void)w;
	errno = saved;
}

static int
signals_init(sigset_t *blocked, sigset_t *old)
{
	struct sigaction sa;
	int rc;

	/* pipe and fcntl rather than pipe2, which macOS lacks. */
	if (pipe(sig_fds) != 0) {
		vd_log_warn("pipe");
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		if (fcntl(sig_fds[i], F_SETFD, FD_CLOEXEC) != 0 ||
		    fcntl(sig_fds[i], F_SETFL, O_NONBLOCK) != 0) {
			vd_log_warn("fcntl");
			return -1;
		}
	}
	sigemptyset(blocked);
	sigaddset(blocked, SIGTERM);
	sigaddset(blocked, SIGINT);
	sigaddset(blocked, SIGHUP);
	/* Until the threads exist; see the top of the file. */
	if ((rc = pthread_sigmask(SIG_BLOCK, blocked, old)) != 0) {
		errno = rc;
		vd_log_warn("pthread_sigmask");
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGHUP, &sa, NULL) != 0) {
		vd_log_warn("sigaction");
		return -1;
	}
	/* A report to a closed pipe is an error to see, not a kill. */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

#define GOT_HUP  0x1
#define GOT_STOP 0x2

/*
 * Waits up to timeout_ms for signals and returns what arrived (GOT_*); the
 * last stopping signal goes to *stopsig.
 */
static int
signals_wait(int timeout_ms, int *stopsig)
{
	struct pollfd pfd = { .fd = sig_fds[0], .events = POLLIN };
	unsigned char buf[64];
	int got = 0;
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return 0; /* timeout, or EINTR: the byte is in the pipe */
	while ((n = read(sig_fds[0], buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == SIGHUP)
				got |= GOT_HUP;
			else {
				got |= GOT_STOP;
				*stopsig = buf[i];
			}
		}
	}
	return got;
}

/*
 * SIGHUP: re-read the file.  Settings that can change live are applied;
 * the others are only counted, since the pipeline would have to be rebuilt.
 * A file that fails keeps the running configuration.
 */
/* What a backend can enforce: gen and sim (ES) carry the opener's access
 * mode and the code-signing identity; fanotify carries neither. */
static unsigned
policy_can(const struct vd_conf *c)
{
	return strcmp(c->backend, "fanotify") == 0
	    ? 0
	    : VD_POLICY_CAN_ACCESS | VD_POLICY_CAN_TEAM_ID;
}

/* Loads and compiles a rules file; NULL with "file:line:col: why". */
static struct vd_policy *
policy_load(const struct vd_conf *c, const char *path, char *msg, size_t msgsz)
{
	struct vd_policy_error pe;
	struct vd_policy *pol;
	int rc;

	memset(&pe, 0, sizeof(pe));
	if ((pol = vd_policy_load(path, policy_can(c), &pe, &rc)) != NULL)
		return pol;
	if (pe.line > 0 && pe.column > 0)
		snprintf(msg, msgsz, "%s:%d:%d: %s", pe.file, pe.line,
		    pe.column, pe.msg);
	else if (pe.line > 0)
		snprintf(msg, msgsz, "%s:%d: %s", pe.file, pe.line, pe.msg);
	else
		snprintf(msg, msgsz, "%s: %s", pe.file[0] ? pe.file : path,
		    pe.msg[0] ? pe.msg : strerror(-rc));
	return NULL;
}

#ifdef VD_HAVE_FANOTIFY
/* Whether the fanotify backend must read each event's path: for path
 * rules, and for the stall hook, which goes by the file's name. */
static bool
fan_needs_path(const struct daemon *d, bool policy_paths)
{
	return policy_paths || d->conf.test.stall_name[0] != '\0';
}
#endif

/*
 * Puts a new policy in force.  On ES, decisions the kernel cached under
 * the old policy must go: es_clear_cache, retried for up to two seconds
 * while the kernel throttles it.  Never on the AUTH path.
 */
static void
policy_swap(struct daemon *d, struct vd_policy *pol)
{
	bool need_path = vd_policy_needs_path(pol);
	bool need_exe = vd_policy_needs_exe(pol);

	vd_policy_runtime_swap(d->rt, pol);
	d->policy_reloads++;
#ifdef VD_HAVE_FANOTIFY
	if (d->fan != NULL) {
		/* After the swap: decisions of the old policy must not stay
		 * in the kernel, and none made before now becomes one. */
		vd_fan_set_need_path(d->fan, fan_needs_path(d, need_path));
		vd_fan_set_need_exe(d->fan, need_exe);
		vd_fan_drop_ignores(d->fan);
	}
#else
	(void)need_path;
	(void)need_exe;
#endif
#ifdef VD_HAVE_SIM
	if (d->es != NULL) {
		struct timespec ts = { 0, 100000000 };
		int i, rc = -EAGAIN;

		for (i = 0; i < 20 && rc == -EAGAIN; i++) {
			if ((rc = vd_es_clear_cache(d->es)) == -EAGAIN)
				nanosleep(&ts, NULL);
		}
		if (rc != 0)
			vd_log_warnx("reload: es_clear_cache failed (%s): "
			             "the kernel may keep decisions of the "
			             "old policy cached",
			    rc == -EAGAIN ? "throttled" : strerror(-rc));
	}
#endif
}

/*
 * Re-reads the file (SIGHUP, verdictctl reload).  Settings that can change
 * live are applied; the others are only counted, since the pipeline would
 * have to be rebuilt.  A file that fails keeps the running configuration.
 * Returns 0 or an errno, with the outcome in one sentence in msg; the
 * caller logs it.  Serialized by reload_lock (main and control threads).
 */
static int
reload(struct daemon *d, char *msg, size_t msgsz)
{
	char err[640], live_names[256], restart_names[512];
	unsigned live, restart, refused = 0;
	struct vd_conf next;
	int rc = 0;

	pthread_mutex_lock(&d->reload_lock);
	vd_service_reloading();
	if (d->path == NULL) {
		snprintf(msg, msgsz,
		    "reload: started without -c, no "
		    "configuration file to re-read");
		rc = ENOENT;
		goto out;
	}
	if (conf_build(&next, d, err, sizeof(err)) != 0) {
		snprintf(msg, msgsz,
		    "reload: %s; keeping the running configuration", err);
		rc = EINVAL;
		goto out;
	}
	live =
	    vd_conf_diff(&d->conf, &next, true, live_names, sizeof(live_names));
	restart = vd_conf_diff(
	    &d->conf, &next, false, restart_names, sizeof(restart_names));
	if (live > 0) {
		for (unsigned t = 0; t < VD_EVENT_TYPE_COUNT; t++) {
			struct vd_type_config tc = next.pipe.types[t];

			/* The budget is not live: the generator stamps
			 * deadlines with the one it started with. */
			tc.budget_ns = d->conf.pipe.types[t].budget_ns;
			if (vd_pipeline_set_type(d->p, (enum vd_event_type)t,
			        &tc, err, sizeof(err)) != 0) {
				vd_log_warnx("reload: %s; keeping the running "
				             "%s settings",
				    err,
				    vd_event_type_name((enum vd_event_type)t));
				refused++;
				continue;
			}
			d->conf.pipe.types[t] = tc;
		}
		if (d->te != NULL) {
			vd_testeval_set_stall(d->te, next.gen.stall_every,
			    next.gen.stall_ms * NS_PER_MS);
			vd_testeval_set_deny(d->te, next.gen.deny_every);
		}
		if (d->hooks != NULL)
			vd_hooks_set(d->hooks, &next.test);
#ifdef VD_HAVE_FANOTIFY
		if (d->fan != NULL && next.test.reader_pause_ms != 0)
			vd_fan_test_pause(
			    d->fan, next.test.reader_pause_ms * NS_PER_MS);
#endif
		d->conf.test.reader_pause_ms = next.test.reader_pause_ms;
		d->conf.test.stall_ms = next.test.stall_ms;
		d->conf.test.block_worker = next.test.block_worker;
		d->conf.gen.stall_every = next.gen.stall_every;
		d->conf.gen.stall_ms = next.gen.stall_ms;
		d->conf.gen.deny_every = next.gen.deny_every;
	}
	if (next.policy[0] != '\0' && d->rt != NULL) {
		struct vd_policy *pol =
		    policy_load(&next, next.policy, err, sizeof(err));

		if (pol == NULL) {
			d->policy_reload_failures++;
			snprintf(msg, msgsz,
			    "reload: %s; keeping the running policy", err);
			rc = EINVAL;
			goto out;
		}
		policy_swap(d, pol);
	}
	d->generation++;
	snprintf(msg, msgsz,
	    "reload: configuration OK (generation %" PRIu64 "), %u setting%s "
	    "need%s a restart%s%s%s; %u applied%s%s%s%s",
	    d->generation, restart, restart == 1 ? "" : "s",
	    restart == 1 ? "s" : "", restart > 0 ? " (" : "",
	    restart > 0 ? restart_names : "", restart > 0 ? ")" : "", live,
	    live > 0 ? " (" : "", live > 0 ? live_names : "",
	    live > 0 ? ")" : "",
	    refused > 0 ? "; some per-type settings were refused" : "");
out:
	if (rc == 0)
		d->reloads++;
	else
		d->reload_failures++;
	vd_service_ready(msg);
	pthread_mutex_unlock(&d->reload_lock);
	return rc;
}

/* SIGHUP: reload and log the outcome. */
static void
reload_signal(struct daemon *d)
{
	char msg[1024];

	if (reload(d, msg, sizeof(msg)) == 0)
		vd_log_info("%s", msg);
	else
		vd_log_warnx("%s", msg);
}

/* --- the report ------------------------------------------------------------
 */

static const char *
signal_name(int signo)
{
	switch (signo) {
	case SIGTERM:
		return "SIGTERM";
	case SIGINT:
		return "SIGINT";
	default:
		return "a signal";
	}
}

static bool
report_ok(const struct vd_gen_report *g)
{
	return g->duplicates == 0 && g->late == 0 && g->unanswered == 0 &&
	    g->unreleased == 0 && g->unknown == 0;
}

static void
report_text(const struct daemon *d, const struct vd_stats *st,
    const struct vd_gen_report *g)
{
	double secs = (double)g->elapsed_ns / 1e9;

	printf("verdictd %s: backend %s, %u worker%s, %.2f s, %" PRIu64
	       " events (%.0f/s)",
	    VD_VERSION_STRING, d->conf.backend, st->workers,
	    st->workers == 1 ? "" : "s", secs, g->submitted,
	    secs > 0 ? (double)g->submitted / secs : 0.0);
	if (d->stop_signal != 0)
		printf(", stopped by %s", signal_name(d->stop_signal));
	printf("\n");

	vd_report_tables(st);

	printf("gen: submitted %" PRIu64 " (auth %" PRIu64 ", notify %" PRIu64
	       "), short deadlines %" PRIu64 ", refused (pool empty) %" PRIu64
	       "\n",
	    g->submitted, g->auth, g->notify, g->short_deadline, g->refused);
	printf("gen: answered %" PRIu64 " (allowed %" PRIu64 ", denied %" PRIu64
	       "), released %" PRIu64 "\n",
	    g->answered, g->allowed, g->denied, g->released);
	printf("gen: duplicates %" PRIu64 ", late %" PRIu64
	       ", unanswered %" PRIu64 ", unreleased %" PRIu64
	       ", unknown ids %" PRIu64 "\n",
	    g->duplicates, g->late, g->unanswered, g->unreleased, g->unknown);
	if (g->margin_min_ns != INT64_MAX)
		printf("gen: closest answer %.3f ms %s its deadline\n",
		    (double)(g->margin_min_ns < 0 ? -g->margin_min_ns
		                                  : g->margin_min_ns) /
		        1e6,
		    g->margin_min_ns < 0 ? "after" : "before");
	printf("result: %s\n",
	    report_ok(g) ? "OK"
	                 : "FAILED (duplicate, late or missing answers)");
}

static void
report_json(const struct daemon *d, const struct vd_stats *st,
    const struct vd_gen_report *g)
{
	printf("{\"version\":\"%s\",\"backend\":\"%s\",\"workers\":%u,"
	       "\"elapsed_s\":%.3f,\"stopped_by\":",
	    VD_VERSION_STRING, d->conf.backend, st->workers,
	    (double)g->elapsed_ns / 1e9);
	if (d->stop_signal != 0)
		printf("\"%s\"", signal_name(d->stop_signal));
	else
		printf("null");
	vd_report_json_tables(st);
	printf(",\"gen\":{\"submitted\":%" PRIu64 ",\"auth\":%" PRIu64
	       ",\"notify\":%" PRIu64 ",\"short_deadline\":%" PRIu64
	       ",\"refused\":%" PRIu64 ",\"answered\":%" PRIu64
	       ",\"allowed\":%" PRIu64 ",\"denied\":%" PRIu64
	       ",\"released\":%" PRIu64 ",\"duplicates\":%" PRIu64
	       ",\"late\":%" PRIu64 ",\"unanswered\":%" PRIu64
	       ",\"unreleased\":%" PRIu64 ",\"unknown\":%" PRIu64
	       ",\"margin_min_us\":",
	    g->submitted, g->auth, g->notify, g->short_deadline, g->refused,
	    g->answered, g->allowed, g->denied, g->released, g->duplicates,
	    g->late, g->unanswered, g->unreleased, g->unknown);
	if (g->margin_min_ns != INT64_MAX)
		printf("%.1f", (double)g->margin_min_ns / 1000.0);
	else
		printf("null");
	printf("},\"ok\":%s}\n", report_ok(g) ? "true" : "false");
}

#ifdef VD_HAVE_FANOTIFY
/* The fanotify service's report at stop: the pipeline's books and the
 * backend's. */
static void
report_fanotify(const struct daemon *d, const struct vd_stats *st)
{
	struct vd_fan_stats fs;

	vd_fan_stats(d->fan, &fs);
	if (d->json) {
		printf("{\"version\":\"%s\",\"backend\":\"fanotify\","
		       "\"workers\":%u,\"uptime_s\":%.3f,\"stopped_by\":",
		    VD_VERSION_STRING, st->workers,
		    (double)st->uptime_ns / 1e9);
		if (d->stop_signal != 0)
			printf("\"%s\"", signal_name(d->stop_signal));
		else
			printf("null");
		vd_report_json_tables(st);
		printf(",\"fanotify\":{\"perm_events\":%" PRIu64
		       ",\"notify_events\":%" PRIu64 ",\"self_events\":%" PRIu64
		       ",\"write_errors\":%" PRIu64
		       ",\"write_failures\":%" PRIu64
		       ",\"ignore_added\":%" PRIu64 ",\"proc_hits\":%" PRIu64
		       ",\"proc_misses\":%" PRIu64 "}}\n",
		    fs.perm_events, fs.notify_events, fs.self_events,
		    fs.write_errors, fs.write_failures, fs.ignore_added,
		    fs.proc_hits, fs.proc_misses);
		return;
	}
	printf("verdictd %s: backend fanotify, %u worker%s, %.2f s",
	    VD_VERSION_STRING, st->workers, st->workers == 1 ? "" : "s",
	    (double)st->uptime_ns / 1e9);
	if (d->stop_signal != 0)
		printf(", stopped by %s", signal_name(d->stop_signal));
	printf("\n");
	vd_report_tables(st);
	printf("fanotify: %" PRIu64 " permission events, %" PRIu64
	       " notify events, %" PRIu64 " of our own; %" PRIu64
	       " answers refused (%" PRIu64 " lost)\n",
	    fs.perm_events, fs.notify_events, fs.self_events, fs.write_errors,
	    fs.write_failures);
	printf("fanotify: %" PRIu64 " ignore marks added, %" PRIu64
	       " dropped; identities %" PRIu64 " cached, %" PRIu64
	       " read from /proc\n",
	    fs.ignore_added, fs.ignore_dropped, fs.proc_hits, fs.proc_misses);
	fflush(stdout);
}
#endif

/* --- the run ---------------------------------------------------------------
 */

/* The longest deadline an event of this run can have. */
static uint64_t
longest_budget(const struct daemon *d)
{
	const struct vd_config *pc = vd_pipeline_config(d->p);
	uint64_t max =
	    d->conf.gen.short_every != 0 ? d->conf.gen.short_ms * NS_PER_MS : 0;

	for (int t = 0; t < VD_AUTH_TYPE_COUNT; t++)
		if ((d->conf.gen.types & (UINT32_C(1) << t)) &&
		    pc->types[t].budget_ns > max)
			max = pc->types[t].budget_ns;
	return max;
}

/* Waits for the end of the run or a stopping signal, reloading on SIGHUP. */
static void
run_wait(struct daemon *d)
{
	uint64_t end = vd_gen_end_ns(d->gen), now, drain_end;
	int got, ms;

	while ((now = now_ns()) < end) {
		ms = (int)((end - now + NS_PER_MS - 1) / NS_PER_MS);
		got = signals_wait(ms > 1000 ? 1000 : ms, &d->stop_signal);
		if (got & GOT_HUP)
			reload_signal(d);
		/* Old policies are freed once their grace period ends. */
		if (d->rt != NULL)
			vd_policy_runtime_poll(d->rt);
		if (got & GOT_STOP)
			return;
	}
	/*
	 * The duration is over: let what is in flight be answered the normal
	 * way (by a worker or the timer) rather than all at once at stop, so
	 * the report shows the pipeline, not the shutdown.  A stopping signal
	 * cuts this short.
	 */
	vd_gen_stop(d->gen);
	drain_end = now_ns() + longest_budget(d) + DRAIN_SLACK_NS;
	while (vd_gen_pending(d->gen) > 0 && now_ns() < drain_end) {
		got = signals_wait(10, &d->stop_signal);
		if (got & GOT_HUP)
			reload_signal(d);
		if (got & GOT_STOP)
			return;
	}
}

/* --- the control socket (verdictctl) ---------------------------------------
 */

struct get_ctx {
	void (*emit)(void *ectx, const char *line, size_t len);
	void *ectx;
	size_t n;
};

static void
emit_ctr(void *ctx, const struct vd_ctr *c)
{
	struct get_ctx *g = ctx;
	char line[512];
	int n;

	g->n++;
	if (g->emit == NULL)
		return; /* only counting */
	n = snprintf(line, sizeof(line), "%s\t%s\t%s\t%" PRId64 "\t%s\n",
	    c->name, c->kind == VD_CTR_COUNTER ? "counter" : "gauge", c->unit,
	    c->value, c->help);
	if (n > 0 && (size_t)n < sizeof(line))
		g->emit(g->ectx, line, (size_t)n);
}

/* /proc/self/statm's resident pages, and the thread count of
 * /proc/self/stat, for the process.* gauges; 0 when unreadable. */
static void
process_usage(uint64_t *rss_bytes, uint64_t *threads)
{
	unsigned long long size, resident;
	const char *p;
	char buf[1024];
	FILE *f;

	*rss_bytes = *threads = 0;
	if ((f = fopen("/proc/self/statm", "r")) != NULL) {
		if (fscanf(f, "%llu %llu", &size, &resident) == 2)
			*rss_bytes = resident * (uint64_t)sysconf(_SC_PAGESIZE);
		fclose(f);
	}
	if ((f = fopen("/proc/self/stat", "r")) == NULL)
		return;
	/* Field 20 is num_threads. */
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = vd_proc_stat_field(buf, 20)) != NULL)
		*threads = strtoull(p, NULL, 10);
	fclose(f);
}

/* Emits those of the nc counters c[] that one of names selects (all of
 * them when n is 0). */
static void
emit_selected(struct get_ctx *g, const struct vd_ctr *c, size_t nc,
    const char *const *names, size_t n)
{
	size_t i, k;

	for (k = 0; k < nc; k++) {
		for (i = 0; i < n; i++)
			if (vd_counters_match(c[k].name, names[i]))
				break;
		if (n == 0 || i < n)
			emit_ctr(g, &c[k]);
	}
}

#ifdef VD_HAVE_SIM
/* backend.es.*: the es backend's own books. */
static void
es_counters(void *es, const char *const *names, size_t n, struct get_ctx *g)
{
	struct vd_es_stats st;
	char name[96];
	unsigned r;

	vd_es_stats(es, &st);
	struct vd_ctr c[] = {
		{ "backend.es.auth_messages", VD_CTR_COUNTER, "messages",
		    "messages the AUTH client was handed",
		    (int64_t)st.auth_messages },
		{ "backend.es.notify_messages", VD_CTR_COUNTER, "messages",
		    "messages the NOTIFY client was handed",
		    (int64_t)st.notify_messages },
		{ "backend.es.kernel_drops", VD_CTR_COUNTER, "messages",
		    "messages the kernel dropped, seen as global_seq_num gaps",
		    (int64_t)st.kernel_drops },
		{ "backend.es.retained", VD_CTR_COUNTER, "messages",
		    "messages retained until their answer",
		    (int64_t)st.retained },
		{ "backend.es.released", VD_CTR_COUNTER, "messages",
		    "retained messages released after their answer",
		    (int64_t)st.released },
		{ "backend.es.cached", VD_CTR_COUNTER, "answers",
		    "answers the kernel was allowed to cache",
		    (int64_t)st.cached },
		{ "backend.es.clear_cache_throttled", VD_CTR_COUNTER, "calls",
		    "es_clear_cache calls the kernel throttled",
		    (int64_t)st.clear_cache_throttled },
	};
	emit_selected(g, c, sizeof(c) / sizeof(c[0]), names, n);
	for (r = 1; r <= 5; r++) {
		struct vd_ctr e = { name, VD_CTR_COUNTER, "answers",
			"answers the kernel refused, by es_respond_result_t",
			(int64_t)st.respond_errors[r] };

		snprintf(name, sizeof(name), "backend.es.respond_errors.%s",
		    vd_es_respond_result_name(r));
		emit_selected(g, &e, 1, names, n);
	}
}
#endif

#ifdef VD_HAVE_FANOTIFY
/* backend.fanotify.*: the fanotify backend's own books. */
static void
fan_counters(
    struct vd_fan *fan, const char *const *names, size_t n, struct get_ctx *g)
{
	struct vd_fan_stats st;

	vd_fan_stats(fan, &st);
	struct vd_ctr c[] = {
		{ "backend.fanotify.perm_events", VD_CTR_COUNTER, "events",
		    "permission events read from the kernel",
		    (int64_t)st.perm_events },
		{ "backend.fanotify.notify_events", VD_CTR_COUNTER, "events",
		    "notify events read from the kernel",
		    (int64_t)st.notify_events },
		{ "backend.fanotify.reads", VD_CTR_COUNTER, "calls",
		    "read() calls that returned events", (int64_t)st.reads },
		{ "backend.fanotify.self_events", VD_CTR_COUNTER, "events",
		    "verdictd's own accesses, allowed at once",
		    (int64_t)st.self_events },
		{ "backend.fanotify.overflows", VD_CTR_COUNTER, "times",
		    "a notify group's queue overflowed",
		    (int64_t)st.overflows },
		{ "backend.fanotify.cache_flushes", VD_CTR_COUNTER, "times",
		    "decision caches flushed after an overflow",
		    (int64_t)st.cache_flushes },
		{ "backend.fanotify.fd_errors", VD_CTR_COUNTER, "events",
		    "permission events that came without a file descriptor",
		    (int64_t)st.fd_errors },
		{ "backend.fanotify.write_errors", VD_CTR_COUNTER, "answers",
		    "answers the kernel refused (then retried plain)",
		    (int64_t)st.write_errors },
		{ "backend.fanotify.write_failures", VD_CTR_COUNTER, "answers",
		    "answers whose plain retry failed too",
		    (int64_t)st.write_failures },
		{ "backend.fanotify.audited", VD_CTR_COUNTER, "answers",
		    "answers sent with FAN_AUDIT", (int64_t)st.audited },
		{ "backend.fanotify.proc.hits", VD_CTR_COUNTER, "events",
		    "process identities from the cache",
		    (int64_t)st.proc_hits },
		{ "backend.fanotify.proc.misses", VD_CTR_COUNTER, "events",
		    "process identities read from /proc",
		    (int64_t)st.proc_misses },
		{ "backend.fanotify.proc.exec_refreshes", VD_CTR_COUNTER,
		    "events", "identities re-read: the process exec'd since",
		    (int64_t)st.proc_exec_refresh },
		{ "backend.fanotify.proc.errors", VD_CTR_COUNTER, "events",
		    "identities /proc could not give (the process was gone)",
		    (int64_t)st.proc_errors },
		{ "backend.fanotify.paths_resolved", VD_CTR_COUNTER, "events",
		    "object paths read for the policy",
		    (int64_t)st.paths_resolved },
		{ "backend.fanotify.ignore.marks", VD_CTR_GAUGE, "marks",
		    "ignore marks in force", (int64_t)st.ignore_marks },
		{ "backend.fanotify.ignore.added", VD_CTR_COUNTER, "marks",
		    "ignore marks added for path-only allows",
		    (int64_t)st.ignore_added },
		{ "backend.fanotify.ignore.full", VD_CTR_COUNTER, "marks",
		    "ignore marks not added: fanotify.ignore_max reached",
		    (int64_t)st.ignore_full },
		{ "backend.fanotify.ignore.stale", VD_CTR_COUNTER, "marks",
		    "ignore marks not added: decided before a reload",
		    (int64_t)st.ignore_stale },
		{ "backend.fanotify.ignore.dropped", VD_CTR_COUNTER, "marks",
		    "ignore marks removed by reloads",
		    (int64_t)st.ignore_dropped },
		{ "backend.fanotify.ignore.errors", VD_CTR_COUNTER, "marks",
		    "ignore marks the kernel refused",
		    (int64_t)st.ignore_errors },
		{ "backend.fanotify.ignore.guarded", VD_CTR_COUNTER, "marks",
		    "ignore marks removed: the file was written, linked, "
		    "renamed or deleted",
		    (int64_t)st.ignore_guarded },
		{ "backend.fanotify.ignore.unlocked", VD_CTR_COUNTER, "marks",
		    "ignore marks not added: someone but root could rename or "
		    "link the file (or fs.protected_hardlinks is off)",
		    (int64_t)st.ignore_unlocked },
		{ "backend.fanotify.ignore.renamed", VD_CTR_COUNTER, "marks",
		    "ignore marks not added: the file was renamed or linked "
		    "while it was decided",
		    (int64_t)st.ignore_renamed },
	};
	emit_selected(g, c, sizeof(c) / sizeof(c[0]), names, n);
}
#endif

/* The daemon's own counters, after the pipeline's. */
static void
daemon_counters(
    struct daemon *d, const char *const *names, size_t n, struct get_ctx *g)
{
	struct vd_control_stats cs = { 0 };
	uint64_t rss, threads, gen, reloads, failures, preloads, pfailures;
	struct vd_ctr c[8];

	pthread_mutex_lock(&d->reload_lock);
	gen = d->generation;
	reloads = d->reloads;
	failures = d->reload_failures;
	preloads = d->policy_reloads;
	pfailures = d->policy_reload_failures;
	pthread_mutex_unlock(&d->reload_lock);
	process_usage(&rss, &threads);
	if (d->ctl != NULL)
		vd_control_get_stats(d->ctl, &cs);
	c[0] = (struct vd_ctr){ "process.uptime_s", VD_CTR_GAUGE, "s",
		"seconds since verdictd started",
		(int64_t)((vd_clock_ns() - d->start_ns) / 1000000000u) };
	c[1] = (struct vd_ctr){ "process.rss_bytes", VD_CTR_GAUGE, "bytes",
		"resident memory", (int64_t)rss };
	c[2] = (struct vd_ctr){ "process.threads", VD_CTR_GAUGE, "threads",
		"threads of the process", (int64_t)threads };
	c[3] = (struct vd_ctr){ "config.generation", VD_CTR_GAUGE, "count",
		"configurations loaded, the first one included", (int64_t)gen };
	c[4] = (struct vd_ctr){ "config.reloads", VD_CTR_COUNTER, "times",
		"reloads that succeeded", (int64_t)reloads };
	c[5] = (struct vd_ctr){ "config.reload_failures", VD_CTR_COUNTER,
		"times", "reloads refused (the running configuration stayed)",
		(int64_t)failures };
	c[6] = (struct vd_ctr){ "control.requests", VD_CTR_COUNTER, "requests",
		"control requests served", (int64_t)cs.requests };
	c[7] = (struct vd_ctr){ "control.errors", VD_CTR_COUNTER, "requests",
		"control requests refused as malformed or failed",
		(int64_t)cs.errors };
	emit_selected(g, c, sizeof(c) / sizeof(c[0]), names, n);
	if (d->rt != NULL) {
		struct vd_policy_runtime_stats ps;

		vd_policy_runtime_stats(d->rt, &ps);
		struct vd_ctr pc[] = {
			{ "policy.generation", VD_CTR_GAUGE, "count",
			    "policies put in force, the first one included",
			    (int64_t)ps.generation },
			{ "policy.rules", VD_CTR_GAUGE, "rules",
			    "rules in the policy in force", (int64_t)ps.rules },
			{ "policy.reloads", VD_CTR_COUNTER, "times",
			    "policy reloads that succeeded",
			    (int64_t)preloads },
			{ "policy.reload_failures", VD_CTR_COUNTER, "times",
			    "policy reloads refused (the running policy "
			    "stayed)",
			    (int64_t)pfailures },
			{ "policy.evaluations", VD_CTR_COUNTER, "events",
			    "events evaluated against the policy",
			    (int64_t)ps.evaluations },
			{ "policy.matched", VD_CTR_COUNTER, "events",
			    "decided by a rule", (int64_t)ps.matched },
			{ "policy.defaulted", VD_CTR_COUNTER, "events",
			    "decided by a default line or the type's default",
			    (int64_t)ps.defaulted },
			{ "policy.truncated", VD_CTR_COUNTER, "events",
			    "a path condition met a truncated path",
			    (int64_t)ps.truncated },
			{ "policy.retired", VD_CTR_GAUGE, "policies",
			    "old policies waiting for their grace period",
			    (int64_t)ps.retired },
			{ "policy.cache.hits", VD_CTR_COUNTER, "events",
			    "decisions answered from a worker's decision cache",
			    (int64_t)ps.cache_hits },
			{ "policy.cache.misses", VD_CTR_COUNTER, "events",
			    "cache lookups that found nothing usable",
			    (int64_t)ps.cache_misses },
			{ "policy.cache.evictions", VD_CTR_COUNTER, "entries",
			    "live entries replaced by newer decisions",
			    (int64_t)ps.cache_evictions },
			{ "policy.cache.invalidations", VD_CTR_COUNTER, "files",
			    "files whose cached decisions a close-after-write "
			    "or write dropped",
			    (int64_t)ps.cache_invalidations },
		};
		emit_selected(g, pc, sizeof(pc) / sizeof(pc[0]), names, n);
	}
#ifdef VD_HAVE_SIM
	if (d->es != NULL)
		es_counters(d->es, names, n, g);
#endif
#ifdef VD_HAVE_FANOTIFY
	if (d->fan != NULL)
		fan_counters(d->fan, names, n, g);
#endif
}

static void
count_only(void *ctx, const struct vd_ctr *c)
{
	(void)ctx;
	(void)c;
}

static int
ctl_get(void *ctx, const char *const *names, size_t n,
    void (*emit)(void *ectx, const char *line, size_t len), void *ectx,
    char *bad, size_t badsz)
{
	struct daemon *d = ctx;
	struct get_ctx g = { emit, ectx, 0 };
	size_t i;

	vd_pipeline_stats(d->p, d->ctl_stats);
	/* A requested name that matches nothing is an error, not silence;
	 * check each one before answering any. */
	for (i = 0; i < n; i++) {
		struct get_ctx probe = { NULL, NULL, 0 };

		if (vd_counters_walk(
		        d->ctl_stats, &names[i], 1, count_only, NULL) != 0)
			continue;
		daemon_counters(d, &names[i], 1, &probe);
		if (probe.n == 0) {
			snprintf(bad, badsz, "%s", names[i]);
			return -ENOENT;
		}
	}
	vd_counters_walk(d->ctl_stats, names, n, emit_ctr, &g);
	daemon_counters(d, names, n, &g);
	return 0;
}

/*
 * One word for an operator, worst first: "late" (an AUTH answer came after
 * its deadline: ES would have killed us), "dropping" (events answered with
 * the default without evaluation: ring full or pool empty), "defaults"
 * (evaluations too slow: the timer answered), or "ok".
 */
static const char *
health(const struct vd_stats *st)
{
	uint64_t dropped = 0, timer = 0;
	bool late = false;
	unsigned t;

	for (t = 0; t < VD_AUTH_TYPE_COUNT; t++) {
		const struct vd_type_stats *ts = &st->types[t];

		dropped += ts->dropped;
		timer += ts->answered_default - ts->shutdown;
		if (ts->margin_min_ns < 0)
			late = true;
	}
	if (late)
		return "late";
	if (dropped != 0)
		return "dropping";
	if (timer != 0)
		return "defaults";
	return "ok";
}

static size_t
ctl_status(void *ctx, char *buf, size_t bufsz)
{
	struct daemon *d = ctx;
	uint64_t gen;
	int n;

	pthread_mutex_lock(&d->reload_lock);
	gen = d->generation;
	pthread_mutex_unlock(&d->reload_lock);
	vd_pipeline_stats(d->p, d->ctl_stats);
	n = snprintf(buf, bufsz,
	    "version\t%s\nbackend\t%s\npid\t%ld\nuptime_s\t%" PRIu64
	    "\nconfig\t%s\nconfig_generation\t%" PRIu64
	    "\nworkers\t%u\nhealth\t%s\n",
	    VD_VERSION_STRING, d->conf.backend, (long)getpid(),
	    (vd_clock_ns() - d->start_ns) / 1000000000u,
	    d->path != NULL ? d->path : "(built-in defaults)", gen,
	    vd_pipeline_workers(d->p), health(d->ctl_stats));
	return n < 0 ? 0 : (size_t)n;
}

static int
ctl_reload(void *ctx, char *msg, size_t msgsz)
{
	struct daemon *d = ctx;
	int rc = reload(d, msg, msgsz);

	/* Logged here too, like a SIGHUP reload, for the journal. */
	if (rc == 0)
		vd_log_info("%s (verdictctl)", msg);
	else
		vd_log_warnx("%s (verdictctl)", msg);
	return -rc;
}

static const struct vd_control_ops ctl_ops = {
	.get = ctl_get,
	.status = ctl_status,
	.reload = ctl_reload,
};

/* Starts the control socket; a failure is reported, not fatal: the
 * daemon's job is answering events, and it still does. */
static void
control_start(struct daemon *d)
{
	char msg[512];
	int err;

	if (strcmp(d->conf.control_socket, "off") == 0)
		return;
	if ((d->ctl_stats = malloc(sizeof(*d->ctl_stats))) == NULL) {
		vd_log_warnx("control: %s", strerror(ENOMEM));
		return;
	}
	d->ctl = vd_control_start(
	    d->conf.control_socket, &ctl_ops, d, 0, &err, msg, sizeof(msg));
	if (d->ctl == NULL)
		vd_log_warnx("control socket %s: %s; running without it",
		    d->conf.control_socket, msg);
}

static void
control_stop(struct daemon *d)
{
	if (d->ctl != NULL)
		vd_control_stop(d->ctl);
	d->ctl = NULL;
	free(d->ctl_stats);
	d->ctl_stats = NULL;
}

#ifdef VD_HAVE_SIM
/* The sim backend's run: the control socket serves while it lasts. */
static void
sim_started(void *ctx, struct vd_pipeline *p, struct vd_es *es)
{
	struct daemon *d = ctx;

	d->p = p;
	d->es = es;
	control_start(d);
}

static void
sim_stopping(void *ctx)
{
	struct daemon *d = ctx;

	control_stop(d);
	d->es = NULL;
	d->p = NULL;
}
#endif

#ifdef VD_HAVE_FANOTIFY
static bool
fan_alive(void *ctx)
{
	return vd_fan_running(ctx);
}

static void
fan_overflow(void *ctx)
{
	vd_policy_runtime_flush(ctx);
}

/* The fanotify settings of the configuration, for the backend. */
static void
fan_config(
    const struct vd_conf *c, struct vd_fan_config *fc, char *buf, size_t bufsz)
{
	vd_fan_config_init(fc);
	fc->types = c->fan.types;
	fc->mark = c->fan.mark;
	fc->npaths =
	    vd_conf_fan_paths(c, buf, bufsz, fc->paths, VD_FAN_MARKS_MAX);
	fc->audit = c->fan.audit;
	fc->audit_without_init = c->test.audit_without_init;
	fc->ignore_max = c->fan.ignore_max;
	fc->proc_cache = c->fan.proc_cache;
	fc->proc_ttl_ns = c->fan.proc_ttl_ns;
}

/*
 * The service: answers real fanotify events until SIGTERM or SIGINT.
 * Stop order: the reader first (nothing new enters), then the pipeline
 * (everything read is answered: by its worker, or its default), then the
 * backend (marks removed, what the kernel still queued answered with its
 * default, groups closed).
 */
static int
run_fanotify(struct daemon *d, const struct vd_evaluator *policy_eval)
{
	char msg[640], paths[VD_CONF_PATHS_MAX];
	struct vd_fan_config fc;
	struct vd_evaluator inner, hooked, eval;
	struct vd_stats *st = NULL;
	sigset_t blocked, old;
	int rc, status = EXIT_RUNTIME, got;
	bool need_path;

	fan_config(&d->conf, &fc, paths, sizeof(paths));
	if ((d->fan = vd_fan_create(&fc, &rc, msg, sizeof(msg))) == NULL) {
		vd_log_warnx("%s", msg);
		return rc == -EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
	}
	if (policy_eval != NULL) {
		inner = *policy_eval;
	} else {
		/* No policy: everything is allowed (the test evaluator with
		 * nothing to deny), so the service only watches. */
		if ((d->te = vd_testeval_create()) == NULL) {
			vd_log_warnx("%s", strerror(ENOMEM));
			goto fail;
		}
		inner = vd_testeval_evaluator(d->te);
	}
	if ((d->hooks = vd_hooks_create(&inner, &d->conf.test)) == NULL) {
		vd_log_warnx("%s", strerror(ENOMEM));
		goto fail;
	}
	hooked = vd_hooks_evaluator(d->hooks);
	/* Paths are read only for rules (and hooks) that look at them. */
	need_path = fan_needs_path(d, d->rt != NULL && d->policy_paths);
	if (d->rt != NULL)
		vd_fan_set_overflow(d->fan, fan_overflow, d->rt);
	eval = vd_fan_evaluator(d->fan, &hooked, need_path);
	vd_fan_set_need_exe(d->fan, d->rt != NULL && d->policy_exe);
	if (signals_init(&blocked, &old) != 0)
		goto fail;
	if ((d->p = vd_pipeline_create(
	         &d->conf.pipe, &eval, vd_fan_ops(), d->fan, &rc)) == NULL) {
		vd_log_warnx("cannot create the pipeline: %s", strerror(-rc));
		goto fail;
	}
	if ((rc = vd_pipeline_start(d->p)) != 0) {
		vd_log_warnx("cannot start the pipeline: %s", strerror(-rc));
		goto fail;
	}
	if ((rc = vd_fan_start(d->fan, d->p, msg, sizeof(msg))) != 0) {
		vd_log_warnx("fanotify: %s", msg);
		status =
		    rc == -ENOENT || rc == -ENOTDIR ? EXIT_USAGE : EXIT_RUNTIME;
		goto fail;
	}
	if (d->conf.test.reader_pause_ms != 0)
		vd_fan_test_pause(
		    d->fan, d->conf.test.reader_pause_ms * NS_PER_MS);
	control_start(d);
	if ((rc = vd_service_watchdog_start(d->p, fan_alive, d->fan)) != 0)
		vd_log_warnx("watchdog: %s", strerror(-rc));
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	snprintf(msg, sizeof(msg),
	    "answering fanotify events: %zu path%s (%s marks), %u worker%s",
	    fc.npaths, fc.npaths == 1 ? "" : "s", vd_fan_mark_name(fc.mark),
	    vd_pipeline_workers(d->p),
	    vd_pipeline_workers(d->p) == 1 ? "" : "s");
	vd_log_info("%s", msg);
	vd_service_ready(msg);

	for (;;) {
		got = signals_wait(1000, &d->stop_signal);
		if (got & GOT_HUP)
			reload_signal(d);
		if (d->rt != NULL)
			vd_policy_runtime_poll(d->rt);
		if (got & GOT_STOP)
			break;
		if (!vd_fan_running(d->fan)) {
			vd_log_warnx("fanotify: the event reader stopped on a "
			             "read error; exiting so the service "
			             "manager restarts us");
			goto fail;
		}
	}
	vd_service_stopping();
	status = EXIT_SUCCESS;
fail:
	vd_service_watchdog_stop();
	/* A blocked or stalled test hook must not hold the stop. */
	vd_hooks_release(d->hooks);
	vd_fan_quiesce(d->fan);
	control_stop(d);
	if (d->p != NULL) {
		vd_pipeline_stop(d->p);
		if (status == EXIT_SUCCESS &&
		    (st = malloc(sizeof(*st))) != NULL) {
			vd_pipeline_stats(d->p, st);
			report_fanotify(d, st);
		}
	}
	/* Before the pipeline goes: the drain reads its default verdicts. */
	vd_fan_destroy(d->fan);
	d->fan = NULL;
	if (d->p != NULL)
		vd_pipeline_destroy(d->p);
	d->p = NULL;
	free(st);
	vd_hooks_destroy(d->hooks);
	d->hooks = NULL;
	if (d->te != NULL)
		vd_testeval_destroy(d->te);
	d->te = NULL;
	return status;
}
#endif

static int
run(struct daemon *d)
{
	struct vd_evaluator eval;
	struct vd_gen_report gr;
	struct vd_stats *st = NULL;
	sigset_t blocked, old;
	int rc, status = EXIT_RUNTIME;

	if (d->conf.policy[0] != '\0') {
		char msg[640];
		struct vd_policy *pol =
		    policy_load(&d->conf, d->conf.policy, msg, sizeof(msg));

		if (pol == NULL) {
			vd_log_warnx("%s", msg);
			return EXIT_USAGE;
		}
		d->policy_paths = vd_policy_needs_path(pol);
		d->policy_exe = vd_policy_needs_exe(pol);
		/* One cache and epoch record per worker the pipeline will
		 * really have. */
		if ((d->rt = vd_policy_runtime_create(pol,
		         d->conf.pipe.workers != 0
		             ? d->conf.pipe.workers
		             : vd_config_default_workers(),
		         &rc)) == NULL) {
			vd_policy_free(pol);
			vd_log_warnx("policy: %s", strerror(-rc));
			return EXIT_RUNTIME;
		}
		eval = vd_policy_runtime_evaluator(d->rt);
	}
	if (strcmp(d->conf.backend, "fanotify") == 0) {
#ifdef VD_HAVE_FANOTIFY
		rc = run_fanotify(d, d->rt != NULL ? &eval : NULL);
#else
		vd_log_warnx("the fanotify backend exists on Linux only");
		rc = EXIT_USAGE;
#endif
		vd_policy_runtime_destroy(d->rt);
		d->rt = NULL;
		return rc;
	}
	if (strcmp(d->conf.backend, "sim") == 0) {
#ifdef VD_HAVE_SIM
		struct vd_simrun_hooks hooks = { sim_started, sim_stopping, d,
			d->rt != NULL ? &eval : NULL };

		rc = vd_sim_main(&d->conf, d->json, &hooks);
		vd_policy_runtime_destroy(d->rt);
		d->rt = NULL;
		return rc;
#else
		vd_log_warnx("this verdictd was built without the sim backend "
		             "(it needs clang's blocks: build with CC=clang)");
		return EXIT_USAGE;
#endif
	}
	if (signals_init(&blocked, &old) != 0)
		goto fail;
	if ((d->te = vd_testeval_create()) == NULL) {
		vd_log_warnx(
		    "cannot create the evaluator: %s", strerror(ENOMEM));
		goto fail;
	}
	vd_testeval_set_stall(
	    d->te, d->conf.gen.stall_every, d->conf.gen.stall_ms * NS_PER_MS);
	vd_testeval_set_deny(d->te, d->conf.gen.deny_every);
	if ((d->gen = vd_gen_create(&d->conf.gen, &rc)) == NULL) {
		vd_log_warnx(
		    "cannot create the gen backend: %s", strerror(-rc));
		goto fail;
	}
	eval = vd_testeval_evaluator(d->te);
	if (d->rt != NULL)
		eval = vd_policy_runtime_evaluator(d->rt);
	if ((d->p = vd_pipeline_create(
	         &d->conf.pipe, &eval, vd_gen_ops(), d->gen, &rc)) == NULL) {
		vd_log_warnx("cannot create the pipeline: %s", strerror(-rc));
		goto fail;
	}
	if ((rc = vd_pipeline_start(d->p)) != 0) {
		vd_log_warnx("cannot start the pipeline: %s", strerror(-rc));
		goto fail;
	}
	if ((rc = vd_gen_start(d->gen, d->p)) != 0) {
		vd_log_warnx(
		    "cannot start the gen producers: %s", strerror(-rc));
		goto fail;
	}
	control_start(d);
	/* Threads exist with the signals blocked; let the main thread in. */
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	run_wait(d);

	/* Producers first, so nothing is submitted to a stopping pipeline. */
	vd_gen_stop(d->gen);
	control_stop(d);
	vd_pipeline_stop(d->p);
	if ((st = malloc(sizeof(*st))) == NULL) {
		vd_log_warnx("report: %s", strerror(ENOMEM));
		goto fail;
	}
	vd_pipeline_stats(d->p, st);
	vd_gen_report(d->gen, &gr);
	if (d->json)
		report_json(d, st, &gr);
	else
		report_text(d, st, &gr);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		vd_log_warn("report");
		goto fail;
	}
	status = report_ok(&gr) ? EXIT_SUCCESS : EXIT_RUNTIME;

fail:
	control_stop(d);
	free(st);
	/* Stop the producers before the pipeline they submit to goes away. */
	if (d->gen != NULL)
		vd_gen_stop(d->gen);
	if (d->p != NULL)
		vd_pipeline_destroy(d->p);
	vd_gen_destroy(d->gen);
	if (d->te != NULL)
		vd_testeval_destroy(d->te);
	/* After the pipeline: no evaluation is left to protect. */
	vd_policy_runtime_destroy(d->rt);
	d->rt = NULL;
	return status;
}

/* --- -n: path rules outside every fanotify mark ----------------------- */

struct cover {
	const struct vd_conf *c;
	const char *paths[64];
	size_t npaths;
	unsigned outside;
};

/* Whether a path= (prefix false) or prefix= value can name a file the
 * mark at m (length mlen, no trailing '/') reports. */
static bool
mark_covers(const char *m, size_t mlen, enum vd_fan_mark_kind kind, bool prefix,
    const char *v, size_t len)
{
	bool under = (mlen == 1 && m[0] == '/') ||
	    (len > mlen && memcmp(v, m, mlen) == 0 && v[mlen] == '/');

	/* A prefix that lies above the mark covers what is below it. */
	if (prefix && (len <= mlen + 1) &&
	    memcmp(m, v, len < mlen ? len : mlen) == 0)
		return len <= mlen ? true : v[mlen] == '/';
	if (!under)
		return false;
	if (kind != VD_FAN_MARK_DIRECTORY)
		return true;
	/* Directory marks: the entries of m, one level, no deeper. */
	return memchr(v + mlen + 1, '/', len - mlen - 1) == NULL;
}

static void
cover_check(void *ctx, size_t rule, bool prefix, const char *v, size_t len)
{
	char val[VD_PATH_MAX], qv[VD_PATH_MAX], qp[VD_CONF_PATH_MAX],
	    qm[VD_CONF_PATHS_MAX];
	struct cover *cv = ctx;
	size_t i, mlen;

	for (i = 0; i < cv->npaths; i++) {
		mlen = strlen(cv->paths[i]);
		while (mlen > 1 && cv->paths[i][mlen - 1] == '/')
			mlen--;
		if (mark_covers(
		        cv->paths[i], mlen, cv->c->fan.mark, prefix, v, len))
			return;
	}
	cv->outside++;
	snprintf(val, sizeof(val), "%.*s", (int)len, v);
	vd_log_warnx("%s: rule %zu: %s=%s lies outside every fanotify mark "
	             "(%s, %s marks%s): it never sees an event",
	    vd_quote(qp, sizeof(qp), cv->c->policy), rule,
	    prefix ? "prefix" : "path", vd_quote(qv, sizeof(qv), val),
	    vd_quote(qm, sizeof(qm), cv->c->fan.paths),
	    vd_fan_mark_name(cv->c->fan.mark),
	    cv->c->fan.mark == VD_FAN_MARK_DIRECTORY
	        ? ", which are not recursive"
	        : "");
}

/* Warns about each path rule no mark can report; returns how many. */
static unsigned
check_coverage(const struct vd_conf *c, const struct vd_policy *pol)
{
	char buf[VD_CONF_PATHS_MAX];
	struct cover cv = { .c = c };

	cv.npaths = vd_conf_fan_paths(c, buf, sizeof(buf), cv.paths, 64);
	vd_policy_paths(pol, cover_check, &cv);
	return cv.outside;
}

int
main(int argc, char *argv[])
{
	struct daemon d;
	bool check = false;
	const char *check_policy = NULL;
	char err[640];
	int ch, idx;

	memset(&d, 0, sizeof(d));
	pthread_mutex_init(&d.reload_lock, NULL);
	d.generation = 1;
	d.start_ns = vd_clock_ns();
	if ((d.ov = calloc((size_t)argc, sizeof(*d.ov))) == NULL) {
		vd_log_warn("calloc");
		return EXIT_RUNTIME;
	}
	while (
	    (ch = getopt_long(argc, argv, short_opts, long_opts, &idx)) != -1) {
		const struct opt_setting *s = NULL;
		const char *name = NULL;

		switch (ch) {
		case 'h':
			usage(stdout);
			free(d.ov);
			return fflush(stdout) == 0 ? EXIT_SUCCESS
			                           : EXIT_RUNTIME;
		case 'V':
			printf("verdictd %s\n", VD_VERSION_STRING);
			free(d.ov);
			return fflush(stdout) == 0 ? EXIT_SUCCESS
			                           : EXIT_RUNTIME;
		case 'c':
			d.path = optarg;
			continue;
		case 'n':
			check = true;
			continue;
		case OPT_CHECK_POLICY:
			check_policy = optarg;
			continue;
		case 'j':
			d.json = true;
			continue;
		case 's':
			d.ov[d.nov++] =
			    (struct override){ "set", NULL, optarg };
			continue;
		case '?':
			usage_error();
			free(d.ov);
			return EXIT_USAGE;
		default:
			break;
		}
		for (size_t i = 0; i < NOPT_SETTINGS; i++)
			if (opt_settings[i].val == ch)
				s = &opt_settings[i];
		for (size_t i = 0; long_opts[i].name != NULL; i++)
			if (long_opts[i].val == ch)
				name = long_opts[i].name;
		if (s == NULL || name == NULL) {
			usage_error();
			free(d.ov);
			return EXIT_USAGE;
		}
		d.ov[d.nov++] = (struct override){ name, s, optarg };
	}
	if (optind != argc) {
		vd_log_warnx("unexpected argument \"%s\"", argv[optind]);
		usage_error();
		free(d.ov);
		return EXIT_USAGE;
	}
	if (conf_build(&d.conf, &d, err, sizeof(err)) != 0) {
		vd_log_warnx("%s", err);
		free(d.ov);
		return EXIT_USAGE;
	}
	if (check_policy != NULL || (check && d.conf.policy[0] != '\0')) {
		const char *path = check_policy ? check_policy : d.conf.policy;
		struct vd_policy *pol =
		    policy_load(&d.conf, path, err, sizeof(err));

		if (pol == NULL) {
			vd_log_warnx("%s", err);
			free(d.ov);
			return EXIT_USAGE;
		}
		vd_log_info(
		    "policy %s OK: %zu rules", path, vd_policy_rules(pol));
		if (check && strcmp(d.conf.backend, "fanotify") == 0)
			(void)check_coverage(&d.conf, pol);
		vd_policy_free(pol);
		if (check_policy != NULL) {
			free(d.ov);
			return EXIT_SUCCESS;
		}
	}
	if (check) {
		vd_log_info("configuration OK");
		free(d.ov);
		return EXIT_SUCCESS;
	}
	ch = run(&d);
	free(d.ov);
	return ch;
}
