/*
 * run.c — the run: one loop for every backend.
 *
 * Set-up: the backend (through its driver), the policy runtime (or the
 * backend's own verdict logic when no policy is given), the [test] hooks
 * when asked for, the pipeline, then the backend's start, the control
 * socket and the watchdog.  The signals are blocked while the threads are
 * created, so they inherit a mask that keeps them out of it and only the
 * main thread is interrupted.
 *
 * The loop then only waits: for a signal (the handlers write the signal
 * number into a self-pipe and nothing else), for a reload asked on the
 * control socket (a 0 byte on the same pipe), or for the backend to end
 * (a generator's duration, a scenario) or fail (the fanotify reader).  It
 * runs every reload and frees old policies whose grace period ended, all
 * on this one thread.
 *
 * Stop order: the backend's producers first (nothing new enters), then
 * the pipeline (everything submitted is answered: by its worker, or its
 * default), then the backend's finish (what the kernel still holds gets
 * its default; marks, groups, clients go), the report, and the frees.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <verdict/pipeline.h>
#include <verdict/policy.h>

#include "daemon/daemon.h"
#include "daemon/decisions.h"
#include "daemon/hooks.h"
#include "daemon/log.h"
#include "daemon/service.h"

static int sig_fds[2] = { -1, -1 };

/* The byte that asks for a look at the reload channel: no signal is 0. */
#define WAKE_RELOAD 0

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

static void
wake_for_reload(void)
{
	on_signal(WAKE_RELOAD);
}

/* 0 or -errno. */
static int
signals_init(sigset_t *blocked, sigset_t *old)
{
	struct sigaction sa;
	int rc;

	/* pipe and fcntl rather than pipe2, which macOS lacks. */
	if (pipe(sig_fds) != 0) {
		rc = -errno;
		vd_log_err("pipe");
		return rc;
	}
	for (int i = 0; i < 2; i++) {
		if (fcntl(sig_fds[i], F_SETFD, FD_CLOEXEC) != 0 ||
		    fcntl(sig_fds[i], F_SETFL, O_NONBLOCK) != 0) {
			rc = -errno;
			vd_log_err("fcntl");
			return rc;
		}
	}
	sigemptyset(blocked);
	sigaddset(blocked, SIGTERM);
	sigaddset(blocked, SIGINT);
	sigaddset(blocked, SIGHUP);
	sigaddset(blocked, SIGUSR1);
	/* Until the threads exist; see the top of the file. */
	if ((rc = pthread_sigmask(SIG_BLOCK, blocked, old)) != 0) {
		errno = rc;
		vd_log_err("pthread_sigmask");
		return -rc;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGHUP, &sa, NULL) != 0 ||
	    sigaction(SIGUSR1, &sa, NULL) != 0) {
		rc = -errno;
		vd_log_err("sigaction");
		return rc;
	}
	/* A report to a closed pipe is an error to see, not a kill. */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

static void
signals_fini(void)
{
	for (int i = 0; i < 2; i++) {
		if (sig_fds[i] >= 0)
			close(sig_fds[i]);
		sig_fds[i] = -1;
	}
}

#define GOT_HUP    0x1
#define GOT_STOP   0x2
#define GOT_RELOAD 0x4
#define GOT_USR1   0x8

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
			if (buf[i] == WAKE_RELOAD)
				got |= GOT_RELOAD;
			else if (buf[i] == SIGHUP)
				got |= GOT_HUP;
			else if (buf[i] == SIGUSR1)
				got |= GOT_USR1;
			else {
				got |= GOT_STOP;
				*stopsig = buf[i];
			}
		}
	}
	return got;
}

/* SIGUSR1: the decision log's file opened anew (logrotate). */
static void
reopen_log(struct daemon *d)
{
	char msg[640];

	if (d->log == NULL)
		return;
	if (vd_declog_reopen(d->log, d->conf.log_decisions, d->conf.log_allows,
	        msg, sizeof(msg)) != 0)
		vd_log_warnx("SIGUSR1: %s; the decision log stays where it "
		             "was",
		    msg);
	else
		vd_log_info("SIGUSR1: decision log reopened");
}

static void
reload_signal(struct daemon *d)
{
	char msg[1024];

	if (vd_daemon_reload(d, msg, sizeof(msg)) == 0)
		vd_log_info("%s", msg);
	else
		vd_log_warnx("%s", msg);
}

/* Until a stopping signal, or the backend's end; EXIT_SUCCESS, or
 * EXIT_RUNTIME when the backend failed. */
static int
loop(struct daemon *d)
{
	enum vd_backend_state st;
	int got;

	for (;;) {
		got = signals_wait(d->drv->poll_ms, &d->stop_signal);
		if (got & GOT_HUP)
			reload_signal(d);
		if (got & GOT_USR1)
			reopen_log(d);
		vd_reload_chan_serve(d);
		/* Old policies are freed once their grace period ends. */
		if (d->rt != NULL)
			vd_policy_runtime_poll(d->rt);
		if (got & GOT_STOP)
			return EXIT_SUCCESS;
		st = d->b.state != NULL ? d->b.state(d->b.ctx)
		                        : VD_BACKEND_RUNNING;
		if (st == VD_BACKEND_DONE)
			return EXIT_SUCCESS;
		if (st == VD_BACKEND_FAILED) {
			vd_log_errx("%s: the backend stopped on an error; "
			            "exiting so the service manager restarts "
			            "us",
			    d->drv->name);
			return EXIT_RUNTIME;
		}
	}
}

static const char *
stopped_by(int signo)
{
	return signo == 0      ? NULL
	    : signo == SIGTERM ? "SIGTERM"
	    : signo == SIGINT  ? "SIGINT"
	                       : "a signal";
}

static bool
backend_alive(void *ctx)
{
	struct daemon *d = ctx;

	return d->b.state == NULL || d->b.state(d->b.ctx) != VD_BACKEND_FAILED;
}

/* The verdict logic: the policy, the backend's own, or each type's
 * default; wrapped in the [test] hooks when the configuration has any.
 * 0, or an exit status. */
static int
evaluator(struct daemon *d, struct vd_evaluator *eval, unsigned workers)
{
	struct vd_policy *pol = NULL;
	char msg[640];
	int rc;

	if (d->conf.policy[0] != '\0' &&
	    (pol = vd_daemon_policy_load(&d->conf, d->conf.policy,
	         d->drv->policy_can, msg, sizeof(msg))) == NULL) {
		vd_log_errx("%s", msg);
		return EXIT_USAGE;
	}
	if (pol == NULL && d->drv->evaluator != NULL &&
	    d->drv->evaluator(d->b.ctx, eval)) {
		/* The backend's own logic (a generator's, a scenario's). */
	} else {
		/* One cache and epoch record per worker the pipeline will
		 * really have.  Without a policy, every event gets its
		 * type's default. */
		if ((d->rt = vd_policy_runtime_create(pol, workers, &rc)) ==
		    NULL) {
			vd_policy_free(pol);
			vd_log_errx("policy: %s", strerror(-rc));
			return EXIT_RUNTIME;
		}
		*eval = vd_policy_runtime_evaluator(d->rt);
		if (d->drv->bind_runtime != NULL)
			d->drv->bind_runtime(d->b.ctx, d->rt);
	}
	if (d->b.policy_changed != NULL &&
	    d->b.policy_changed(d->b.ctx, pol, msg, sizeof(msg)) != 0)
		vd_log_warnx("%s", msg);
	if (d->conf.test.hooks) {
		if ((d->hooks = vd_hooks_create(eval, &d->conf.test)) == NULL) {
			vd_log_errx("%s", strerror(ENOMEM));
			return EXIT_RUNTIME;
		}
		*eval = vd_hooks_evaluator(d->hooks);
	}
	return 0;
}

/*
 * sha256= rules: a backend whose events can carry a file's digest gets the
 * enrichment threads and the digest reader (verdict/digest.h); others
 * none, and refuse such rules at load.  0, or an exit status.
 */
static int
digests(struct daemon *d, struct vd_config *pc)
{
	struct vd_digest_config dc;
	int rc;

	pc->enrich_threads = 0;
	if (!(d->drv->policy_can & VD_POLICY_CAN_SHA256) ||
	    d->conf.enrich_threads == 0)
		return 0;
	pc->enrich_threads = d->conf.enrich_threads;
	if (d->drv->enricher != NULL) {
		d->drv->enricher(d->b.ctx, &d->enricher);
		return 0;
	}
	vd_digest_config_init(&dc);
	dc.max_bytes = d->conf.digest_max_mib << 20;
	dc.cache = d->conf.digest_cache;
	dc.delay_ns_per_mib = d->conf.digest_delay_ns;
	if ((d->digest = vd_digest_create(&dc, &rc)) == NULL) {
		vd_log_errx("digest: %s", strerror(-rc));
		return rc == -EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
	}
	d->enricher = (struct vd_enricher){ vd_digest_enrich, d->digest };
	return 0;
}

/* A written file's digest goes with its cached decisions. */
static void
forget_written(struct daemon *d)
{
	if (d->digest != NULL && d->rt != NULL)
		vd_policy_runtime_on_write(d->rt, vd_digest_forget, d->digest);
}

int
vd_daemon_run(struct daemon *d)
{
	struct vd_config pc;
	struct vd_evaluator eval;
	struct vd_stats *st = NULL;
	sigset_t blocked, old;
	bool started = false;
	char msg[640];
	int rc, status = EXIT_RUNTIME;

	if ((d->drv = vd_driver_find(d->conf.backend, msg, sizeof(msg))) ==
	    NULL) {
		vd_log_errx("%s", msg);
		return EXIT_USAGE;
	}
	if (d->drv->pipeline_config != NULL)
		d->drv->pipeline_config(&d->conf, &pc);
	else
		pc = d->conf.pipe;
	if ((rc = d->drv->create(&d->conf, &d->b, msg, sizeof(msg))) != 0) {
		vd_log_errx("%s", msg);
		return rc == -EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
	}
	d->have_backend = true;
	if ((status = digests(d, &pc)) != 0)
		goto out;
	/* One evaluator slot per worker, one for an inline runner, one per
	 * enrichment thread. */
	if ((status = evaluator(d, &eval,
	         (pc.workers != 0 ? pc.workers : vd_config_default_workers()) +
	             (pc.inline_runner ? 1 : 0) + pc.enrich_threads)) != 0)
		goto out;
	status = EXIT_RUNTIME;
	if (signals_init(&blocked, &old) != 0)
		goto out;
	if ((d->p = vd_pipeline_create(
	         &pc, &eval, d->b.ops, d->b.ops_ctx, &rc)) == NULL) {
		vd_config_check(&pc, msg, sizeof(msg));
		vd_log_errx("cannot create the pipeline: %s",
		    rc == -EINVAL ? msg : strerror(-rc));
		goto out;
	}
	if (strcmp(d->conf.log_decisions, "off") != 0) {
		if ((d->log = vd_declog_open(d->conf.log_decisions,
		         d->conf.log_allows, d->conf.log_queue, d->rt, msg,
		         sizeof(msg))) == NULL) {
			vd_log_errx("%s", msg);
			status = EXIT_USAGE;
			goto out;
		}
		if ((rc = vd_declog_start(d->log)) != 0) {
			vd_log_errx("decision log: %s", strerror(-rc));
			goto out;
		}
		vd_pipeline_set_observer(d->p, vd_declog_observe, d->log);
	}
	if (d->enricher.enrich != NULL)
		vd_pipeline_set_enricher(d->p, &d->enricher);
	forget_written(d);
	if ((rc = vd_pipeline_start(d->p)) != 0) {
		vd_log_errx("cannot start the pipeline: %s", strerror(-rc));
		goto out;
	}
	if (d->drv->reconfigure != NULL)
		d->drv->reconfigure(d->b.ctx, &d->conf, true);
	if ((rc = d->b.start(d->b.ctx, d->p, msg, sizeof(msg))) != 0) {
		vd_log_errx("%s: %s", d->drv->name, msg);
		status = rc == -ENOENT || rc == -ENOTDIR || rc == -EINVAL
		    ? EXIT_USAGE
		    : EXIT_RUNTIME;
		goto out;
	}
	started = true;
	if ((rc = vd_pipeline_priority_error(d->p)) != 0)
		vd_log_warnx("thread priorities: %s; the timer and the reader "
		             "run at the workers' priority, NOTIFY processing "
		             "may run at theirs (give verdictd CAP_SYS_NICE)",
		    strerror(-rc));
	vd_daemon_control_start(d, wake_for_reload);
	if ((rc = vd_service_watchdog_start(d->p, backend_alive, d)) != 0)
		vd_log_warnx("watchdog: %s", strerror(-rc));
	/* Threads exist with the signals blocked; let the main thread in. */
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (d->drv->describe != NULL) {
		d->drv->describe(d->b.ctx, &d->conf, d->p, msg, sizeof(msg));
		vd_log_info("%s", msg);
		vd_service_ready(msg);
	} else {
		vd_service_ready(d->drv->name);
	}

	status = loop(d);
	vd_service_stopping();
out:
	vd_reload_chan_close(&d->chan);
	vd_service_watchdog_stop();
	/* A blocked or stalled test hook must not hold the stop. */
	vd_hooks_release(d->hooks);
	if (d->have_backend && d->b.quiesce != NULL)
		d->b.quiesce(d->b.ctx);
	vd_daemon_control_stop(d);
	/* A digest being read must not hold the stop up. */
	if (d->digest != NULL)
		vd_digest_cancel(d->digest);
	if (d->p != NULL)
		vd_pipeline_stop(d->p);
	/* Before the pipeline goes: the backend's drain reads its
	 * default verdicts. */
	if (d->have_backend && d->b.finish != NULL)
		d->b.finish(d->b.ctx);
	if (started && d->drv->report != NULL && status == EXIT_SUCCESS) {
		if ((st = malloc(sizeof(*st))) == NULL) {
			vd_log_errx("report: %s", strerror(ENOMEM));
			status = EXIT_RUNTIME;
		} else {
			struct vd_run_info ri = { &d->conf, st, d->json,
				stopped_by(d->stop_signal) };

			vd_pipeline_stats(d->p, st);
			status = d->drv->report(d->b.ctx, &ri);
			if (fflush(stdout) != 0 || ferror(stdout)) {
				vd_log_err("report");
				status = EXIT_RUNTIME;
			}
		}
	}
	free(st);
	vd_pipeline_destroy(d->p);
	d->p = NULL;
	/* After the pipeline: no answer is left to log, no file to hash. */
	vd_declog_close(d->log);
	d->log = NULL;
	vd_digest_destroy(d->digest);
	d->digest = NULL;
	if (d->have_backend && d->b.destroy != NULL)
		d->b.destroy(d->b.ctx);
	d->have_backend = false;
	vd_hooks_destroy(d->hooks);
	d->hooks = NULL;
	/* After the pipeline: no evaluation is left to protect. */
	vd_policy_runtime_destroy(d->rt);
	d->rt = NULL;
	signals_fini();
	return status;
}
