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
#include <verdict/pipeline.h>
#include <verdict/stats.h>

#include "backend/es.h"

struct vd_simrun_report {
	/* The simulated kernel's own books, per client. */
	struct essim_client_report auth;
	struct essim_client_report notify;
	struct essim_workload_report workload;
	struct vd_es_stats es;
	struct vd_stats *stats; /* the caller's buffer, filled at the end */
	uint64_t elapsed_ns;
	bool idle; /* every AUTH message settled before stop */
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
 * Called on the controlling thread: started() once the es backend answers
 * (the pipeline and backend may be queried from then on), stopping() before
 * they are stopped.  Either may be NULL.
 */
struct vd_simrun_hooks {
	void (*started)(void *ctx, struct vd_pipeline *p, struct vd_es *es);
	void (*stopping)(void *ctx);
	void *ctx;
	/* The verdict logic; NULL: the core's test evaluator, stalling as
	 * the scenario says. */
	const struct vd_evaluator *eval;
};

/* vd_simrun with hooks (NULL: none). */
int vd_simrun_hooked(const struct essim_scenario *s,
    const struct vd_config *cfg, const struct vd_simrun_hooks *hooks,
    struct vd_simrun_report *out, char *err, size_t errsz);

/* True when the kernel's books show a clean run: no client terminated, no
 * missed, late or duplicate answer, nothing left retained. */
bool vd_simrun_clean(const struct vd_simrun_report *r);

#endif
