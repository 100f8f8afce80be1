/*
 * simrun.c — see simrun.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/gen/gen.h"

#include "backend/sim/simrun.h"

#define NS_PER_MS 1000000ull

void
vd_simrun_config(struct vd_config *cfg, double time_scale)
{
	struct vd_type_config *tc;
	unsigned t;

	vd_config_init(cfg, VD_PROFILE_ES);
	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++) {
		tc = &cfg->types[t];
		tc->margin_floor_ns =
		    (uint64_t)((double)tc->margin_floor_ns * time_scale);
		tc->margin_ceiling_ns =
		    (uint64_t)((double)tc->margin_ceiling_ns * time_scale);
		tc->budget_ns = (uint64_t)((double)tc->budget_ns * time_scale);
	}
	/* The wheel may fire a tick early: keep a tick within the floor. */
	while (cfg->tick_ns > cfg->types[0].margin_floor_ns &&
	    cfg->tick_ns > 10000)
		cfg->tick_ns /= 2;
}

bool
vd_simrun_clean(const struct vd_simrun_report *r)
{
	return !r->auth.terminated && !r->notify.terminated &&
	    r->auth.missed == 0 && r->auth.late == 0 &&
	    r->auth.duplicates == 0 && r->auth.wrong_type == 0 &&
	    r->auth.retained_now == 0 && r->es.retained == r->es.released;
}

/* The longest deadline the scenario gives an AUTH message. */
static uint64_t
max_deadline(const struct essim_scenario *s)
{
	uint64_t ordinary = s->ordinary_ns + s->ordinary_jitter_ns;

	return ordinary > s->system_max_ns ? ordinary : s->system_max_ns;
}

struct vd_simrun {
	struct essim_scenario s;
	struct vd_testeval *te;
	struct vd_es *es;
	struct essim_workload *w;
	struct vd_backend es_b; /* the es backend we wrap */
	pthread_t runner;
	bool runner_started;
	_Atomic bool done;
	bool kernel_up;
	uint64_t t0, elapsed_ns;
	bool idle;
	/* The kernel's books, read by finish. */
	struct essim_client_report auth, notify;
	struct essim_workload_report workload;
	struct vd_es_stats es_stats;
	struct essim_latency latency;
};

static void simrun_free(struct vd_simrun *r);

int
vd_simrun_create(const struct essim_scenario *s, struct vd_simrun **out,
    char *err, size_t errsz)
{
	struct essim_config kcfg;
	struct vd_simrun *r;
	int rc;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	r->s = *s;
	essim_config_init(&kcfg);
	if ((rc = essim_kernel_init(&kcfg)) != 0) {
		snprintf(err, errsz, "simulator: %s", strerror(-rc));
		free(r);
		return rc;
	}
	r->kernel_up = true;
	rc = -ENOMEM;
	if ((r->te = vd_testeval_create()) == NULL ||
	    (r->es = vd_es_create(&rc)) == NULL) {
		snprintf(err, errsz, "out of memory");
		simrun_free(r);
		return rc;
	}
	/* The scenario's stalls, through the core's test evaluator. */
	vd_testeval_set_stall(r->te, s->stall_every, s->stall_ns);
	vd_es_backend(r->es, &r->es_b);
	*out = r;
	return 0;
}

struct vd_evaluator
vd_simrun_evaluator(struct vd_simrun *r)
{
	return vd_testeval_evaluator(r->te);
}

/* The workload to its end, then until every AUTH message settled (by its
 * deadline at the latest): whether they all did. */
static bool
settle(const struct essim_scenario *s, struct essim_workload *w)
{
	essim_workload_join(w);
	return essim_wait_idle(max_deadline(s) + 1000 * NS_PER_MS);
}

/* The runner: settles the run in the background. */
static void *
runner_main(void *arg)
{
	struct vd_simrun *r = arg;

	r->idle = settle(&r->s, r->w);
	r->elapsed_ns = vd_clock_ns() - r->t0;
	atomic_store(&r->done, true);
	return NULL;
}

static int
run_start(void *ctx, struct vd_pipeline *p, char *err, size_t errsz)
{
	struct vd_simrun *r = ctx;
	int rc;

	/* The processes exist before the clients, so the clients' default
	 * mute sets hold the system processes, as on a booted Mac. */
	if ((rc = essim_workload_create(&r->s, &r->w)) != 0) {
		snprintf(err, errsz, "cannot create the workload: %s",
		    strerror(-rc));
		return rc;
	}
	if ((rc = vd_es_start(r->es, p, err, errsz)) != 0)
		return rc;
	r->t0 = vd_clock_ns();
	if ((rc = essim_workload_run(r->w)) != 0) {
		snprintf(
		    err, errsz, "cannot start the workload: %s", strerror(-rc));
		return rc;
	}
	if ((rc = pthread_create(&r->runner, NULL, runner_main, r)) != 0) {
		essim_workload_stop(r->w);
		snprintf(err, errsz, "pthread_create: %s", strerror(rc));
		return -rc;
	}
	r->runner_started = true;
	return 0;
}

static enum vd_backend_state
run_state(void *ctx)
{
	struct vd_simrun *r = ctx;

	return atomic_load(&r->done) ? VD_BACKEND_DONE : VD_BACKEND_RUNNING;
}

/* Order matters: no handler submits once quiesced, so stopping the
 * pipeline next answers everything still pending while the clients are
 * alive; only finish deletes them. */
static void
run_quiesce(void *ctx)
{
	struct vd_simrun *r = ctx;

	if (r->runner_started) {
		/* Early (a signal): the workload stops posting; what it
		 * posted still settles. */
		if (!atomic_load(&r->done))
			essim_workload_halt(r->w);
		pthread_join(r->runner, NULL);
		r->runner_started = false;
	}
	vd_es_quiesce(r->es);
}

static void
run_finish(void *ctx)
{
	struct vd_simrun *r = ctx;

	run_quiesce(r);
	if (vd_es_auth_client(r->es) != NULL) {
		essim_client_report(vd_es_auth_client(r->es), &r->auth);
		essim_client_report(vd_es_notify_client(r->es), &r->notify);
	}
	vd_es_stats(r->es, &r->es_stats);
	if (r->w != NULL)
		essim_workload_report(r->w, &r->workload);
	vd_es_finish(r->es);
	/* The clients are deleted: their handler times are in. */
	essim_kernel_latency(&r->latency);
}

static void
run_destroy(void *ctx)
{
	simrun_free(ctx);
}

static int
run_policy_changed(
    void *ctx, const struct vd_policy *pol, char *msg, size_t msgsz)
{
	struct vd_simrun *r = ctx;

	return r->es_b.policy_changed(r->es, pol, msg, msgsz);
}

static void
run_counters(
    void *ctx, void (*emit)(void *ectx, const struct vd_ctr *c), void *ectx)
{
	struct vd_simrun *r = ctx;

	r->es_b.counters(r->es, emit, ectx);
}

void
vd_simrun_backend(struct vd_simrun *r, struct vd_backend *out)
{
	*out = (struct vd_backend){
		.ops = r->es_b.ops,
		.ops_ctx = r->es, /* the pipeline talks to es itself */
		.ctx = r,
		.policy_can = r->es_b.policy_can,
		.start = run_start,
		.state = run_state,
		.quiesce = run_quiesce,
		.finish = run_finish,
		.destroy = run_destroy,
		.policy_changed = run_policy_changed,
		.counters = run_counters,
	};
}
void
vd_simrun_report(const struct vd_simrun *r, struct vd_simrun_report *out)
{
	struct vd_stats *stats = out->stats;

	memset(out, 0, sizeof(*out));
	out->stats = stats;
	out->auth = r->auth;
	out->notify = r->notify;
	out->workload = r->workload;
	out->es = r->es_stats;
	out->elapsed_ns = r->elapsed_ns;
	out->idle = r->idle;
	out->latency = r->latency;
}

/* Waits for the runner: the whole scenario, not cut short. */
static void
simrun_wait(struct vd_simrun *r)
{
	if (r->runner_started) {
		pthread_join(r->runner, NULL);
		r->runner_started = false;
	}
}

static void
simrun_free(struct vd_simrun *r)
{
	if (r == NULL)
		return;
	if (r->runner_started)
		run_quiesce(r);
	vd_es_destroy(r->es);
	if (r->w != NULL) {
		essim_workload_stop(r->w);
		essim_workload_destroy(r->w);
	}
	vd_testeval_destroy(r->te);
	if (r->kernel_up)
		essim_kernel_fini();
	free(r);
}

int
vd_simrun(const struct essim_scenario *s, const struct vd_config *cfg,
    struct vd_simrun_report *out, char *err, size_t errsz)
{
	struct vd_simrun *r;
	struct vd_backend b;
	struct vd_evaluator eval;
	struct vd_pipeline *p = NULL;
	struct vd_stats *stats = out->stats;
	int rc;

	memset(out, 0, sizeof(*out));
	out->stats = stats;

	if ((rc = vd_simrun_create(s, &r, err, errsz)) != 0)
		return rc;
	vd_simrun_backend(r, &b);
	eval = vd_simrun_evaluator(r);
	if ((p = vd_pipeline_create(cfg, &eval, b.ops, b.ops_ctx, &rc)) ==
	    NULL) {
		vd_config_check(cfg, err, errsz);
		goto out;
	}
	if ((rc = vd_pipeline_start(p)) != 0) {
		snprintf(
		    err, errsz, "cannot start the pipeline: %s", strerror(-rc));
		goto out;
	}
	if ((rc = b.start(b.ctx, p, err, errsz)) != 0)
		goto out;
	simrun_wait(r);
	rc = 0;
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

int
vd_simrun_client(const struct essim_scenario *s,
    const struct vd_simrun_client *c, struct vd_simrun_report *out, char *err,
    size_t errsz)
{
	struct vd_stats *stats = out->stats;
	struct essim_workload *w = NULL;
	struct essim_config kcfg;
	bool started = false;
	uint64_t t0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->stats = stats;
	essim_config_init(&kcfg);
	if ((rc = essim_kernel_init(&kcfg)) != 0) {
		snprintf(err, errsz, "simulator: %s", strerror(-rc));
		return rc;
	}
	/* The processes exist before the client, as in run_start. */
	if ((rc = essim_workload_create(s, &w)) != 0) {
		snprintf(err, errsz, "cannot create the workload: %s",
		    strerror(-rc));
		goto out;
	}
	if ((rc = c->start(c->ctx, err, errsz)) != 0)
		goto out;
	started = true;
	t0 = vd_clock_ns();
	if ((rc = essim_workload_run(w)) != 0) {
		snprintf(
		    err, errsz, "cannot start the workload: %s", strerror(-rc));
		goto out;
	}
	out->idle = settle(s, w);
	out->elapsed_ns = vd_clock_ns() - t0;
	essim_workload_report(w, &out->workload);
out:
	if (started)
		c->finish(c->ctx, &out->auth, &out->notify);
	essim_workload_destroy(w);
	essim_kernel_fini();
	/* After fini: every client's handler times are in. */
	essim_kernel_latency(&out->latency);
	return rc;
}
