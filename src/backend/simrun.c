/*
 * simrun.c — see simrun.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <verdict/testeval.h>

#include "backend/simrun.h"

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

int
vd_simrun(const struct essim_scenario *s, const struct vd_config *cfg,
    struct vd_simrun_report *out, char *err, size_t errsz)
{
	return vd_simrun_hooked(s, cfg, NULL, out, err, errsz);
}

int
vd_simrun_hooked(const struct essim_scenario *s, const struct vd_config *cfg,
    const struct vd_simrun_hooks *hooks, struct vd_simrun_report *out,
    char *err, size_t errsz)
{
	bool hooked = false;
	struct essim_config kcfg;
	struct vd_testeval *te = NULL;
	struct vd_evaluator eval;
	struct vd_pipeline *p = NULL;
	struct vd_es *es = NULL;
	struct essim_workload *w = NULL;
	struct vd_stats *stats = out->stats;
	uint64_t t0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->stats = stats;
	essim_config_init(&kcfg);
	if ((rc = essim_kernel_init(&kcfg)) != 0) {
		snprintf(err, errsz, "simulator: %s", strerror(-rc));
		return rc;
	}
	rc = -ENOMEM;
	if ((te = vd_testeval_create()) == NULL ||
	    (es = vd_es_create(&rc)) == NULL) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	/* The scenario's stalls, through the core's test evaluator, unless
	 * the caller brings its own verdict logic. */
	vd_testeval_set_stall(te, s->stall_every, s->stall_ns);
	eval = vd_testeval_evaluator(te);
	if (hooks != NULL && hooks->eval != NULL)
		eval = *hooks->eval;
	p = vd_pipeline_create(cfg, &eval, vd_es_ops(), es, &rc);
	if (p == NULL) {
		vd_config_check(cfg, err, errsz);
		goto fail;
	}
	if ((rc = vd_pipeline_start(p)) != 0) {
		snprintf(
		    err, errsz, "cannot start the pipeline: %s", strerror(-rc));
		goto fail;
	}
	/* The processes exist before the clients, so the clients' default
	 * mute sets hold the system processes, as on a booted Mac. */
	if ((rc = essim_workload_create(s, &w)) != 0) {
		snprintf(err, errsz, "cannot create the workload: %s",
		    strerror(-rc));
		goto fail;
	}
	if ((rc = vd_es_start(es, p, err, errsz)) != 0)
		goto fail;
	if (hooks != NULL && hooks->started != NULL)
		hooks->started(hooks->ctx, p, es);
	hooked = true;
	t0 = vd_clock_ns();
	if ((rc = essim_workload_run(w)) != 0) {
		snprintf(
		    err, errsz, "cannot start the workload: %s", strerror(-rc));
		goto fail;
	}
	essim_workload_join(w);
	/* Every AUTH message settles by its deadline at the latest. */
	out->idle = essim_wait_idle(max_deadline(s) + 1000 * NS_PER_MS);
	out->elapsed_ns = vd_clock_ns() - t0;
	if (hooks != NULL && hooks->stopping != NULL)
		hooks->stopping(hooks->ctx);
	hooked = false;
	/* Order matters: no handler submits once quiesced, so stopping the
	 * pipeline answers everything still pending while the clients are
	 * alive; only then are they deleted. */
	vd_es_quiesce(es);
	vd_pipeline_stop(p);
	essim_client_report(vd_es_auth_client(es), &out->auth);
	essim_client_report(vd_es_notify_client(es), &out->notify);
	vd_es_stats(es, &out->es);
	vd_pipeline_stats(p, stats);
	essim_workload_report(w, &out->workload);
	rc = 0;
fail:
	if (hooked && hooks != NULL && hooks->stopping != NULL)
		hooks->stopping(hooks->ctx);
	if (es != NULL)
		vd_es_quiesce(es);
	if (p != NULL)
		vd_pipeline_stop(p);
	vd_es_destroy(es);
	vd_pipeline_destroy(p);
	if (w != NULL) {
		essim_workload_stop(w);
		essim_workload_destroy(w);
	}
	vd_testeval_destroy(te);
	essim_kernel_fini();
	return rc;
}
