/*
 * simrun.h — one scenario, end to end, on the EndpointSecurity simulator:
 * the simulated kernel, the workload it generates, the real es backend
 * and the real pipeline.  Used by `verdictd --backend sim` and by the
 * scenario tests, so both judge the same run the same way.
 */
#ifndef VD_BACKEND_SIMRUN_H
#define VD_BACKEND_SIMRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <essim.h>
#include <essim_workload.h>
#include <verdict/backend.h>
#include <verdict/pipeline.h>
#include <verdict/stats.h>

#include "backend/es/es.h"

struct vd_simrun_report {
	/* The simulated kernel's own books, per client. */
	struct essim_client_report auth;
	struct essim_client_report notify;
	struct essim_workload_report workload;
	struct vd_es_stats es;
	struct vd_stats *stats; /* the caller's buffer, filled at the end */
	uint64_t elapsed_ns;
	bool idle; /* every AUTH message settled before stop */
	/* The kernel's latency books of the run, every client's (essim.h:
	 * answer latency, handler time, the series if essim_latency_series
	 * asked for one; the series stays valid until the next run). */
	struct essim_latency latency;
};

/*
 * The ES deadline profile with every margin and budget multiplied by
 * time_scale (a scenario run 100x faster needs margins 100x smaller, or
 * every event would arrive below the floor), the timer tick shrunk to fit.
 */
void vd_simrun_config(struct vd_config *cfg, double time_scale);

/*
 * Runs the scenario (already scaled) with configuration cfg: starts the
 * kernel, the pipeline, the es backend and the workload; waits for the
 * workload and for every AUTH message to settle; stops everything in the
 * order that answers all that is pending.  `stats` must point to a
 * struct vd_stats.  0, or -errno with a sentence in err.
 */
int vd_simrun(const struct essim_scenario *s, const struct vd_config *cfg,
    struct vd_simrun_report *out, char *err, size_t errsz);

/*
 * The same run in phases, for a program with its own run loop (verdictd):
 *
 *   vd_simrun_create -> vd_simrun_backend(r, &b) ->
 *   vd_pipeline_create(cfg, eval, b.ops, b.ops_ctx) -> vd_pipeline_start ->
 *   b.start -> ... until b.state is DONE (or a signal) ... -> b.quiesce ->
 *   vd_pipeline_stop -> b.finish -> vd_simrun_report ->
 *   vd_pipeline_destroy -> b.destroy
 *
 * create sets up the simulated kernel and the es backend; start creates
 * the scenario's processes, the es clients, and runs the workload on a
 * thread of its own; state is DONE once the workload ended and every AUTH
 * message settled; quiesce stops the workload early and the clients'
 * handlers; finish reads the kernel's books and deletes the clients;
 * destroy frees (and shuts the simulated kernel down).  One run at a
 * time per process: the simulated kernel is global.
 */
struct vd_simrun;

int vd_simrun_create(const struct essim_scenario *s, struct vd_simrun **out,
    char *err, size_t errsz);

void vd_simrun_backend(struct vd_simrun *r, struct vd_backend *out);

/* The scenario's own verdict logic: the core's test evaluator, stalling as
 * the scenario says. */
struct vd_evaluator vd_simrun_evaluator(struct vd_simrun *r);

/* After finish and vd_pipeline_stats(p, out->stats): the kernel's books
 * (latency books included, as finish read them), the workload's and the
 * es backend's. */
void vd_simrun_report(const struct vd_simrun *r, struct vd_simrun_report *out);

/*
 * Another ES client in the es backend's place, for a benchmark that
 * judges verdictd against it (verdict-bench's floor): the same run as
 * vd_simrun -- a fresh simulated kernel, the scenario's processes before
 * the clients, the workload, the wait until every AUTH message settled,
 * the kernel's books, latency books included -- with no pipeline.  start
 * creates and subscribes
 * the client(s): 0, or -errno with a sentence in err.  finish, called
 * after start succeeded, once the run settled or failed: reads the
 * kernel's books of its client(s) into auth and notify (the same client
 * twice if it has one), then deletes them.
 */
struct vd_simrun_client {
	void *ctx;
	int (*start)(void *ctx, char *err, size_t errsz);
	void (*finish)(void *ctx, struct essim_client_report *auth,
	    struct essim_client_report *notify);
};

/* Runs the scenario with client c; out->stats is not touched and out->es
 * stays zero.  0, or -errno with a sentence in err. */
int vd_simrun_client(const struct essim_scenario *s,
    const struct vd_simrun_client *c, struct vd_simrun_report *out, char *err,
    size_t errsz);

/* True when the kernel's books show a clean run: no client terminated, no
 * missed, late or duplicate answer, nothing left retained. */
bool vd_simrun_clean(const struct vd_simrun_report *r);

#endif
