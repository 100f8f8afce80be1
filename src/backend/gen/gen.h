/*
 * gen.h — the in-process load generator backend (--backend gen).
 *
 * N producer threads submit synthetic events (a few hundred fake processes,
 * their executables and target paths) at a steady total rate for a fixed
 * duration, over a configured mix of event types.  Each event's handle.id is
 * a global sequence number; the generator keeps one slot per id, sized for
 * rate x duration up front, holding the deadline it stamped on the event and
 * an atomic count of the answers it got.  So it judges the pipeline the way a
 * kernel would, from outside: an AUTH id answered twice, answered after its
 * deadline, or never answered, and a NOTIFY id released twice or never.
 *
 * Threads: vd_gen_create, vd_gen_start, vd_gen_stop, vd_gen_report and
 * vd_gen_destroy on the controlling thread; the ops' respond and release on
 * any pipeline thread (atomics only, never blocking); vd_gen_pending on any.
 */
#ifndef VD_BACKEND_GEN_H
#define VD_BACKEND_GEN_H

#include <stdbool.h>
#include <stdint.h>

#include <verdict/pipeline.h>

#include "backend/gen/testeval.h"

/* Most events one run of the generator may produce (its per-event table). */
#define VD_GEN_EVENTS_MAX (UINT64_C(1) << 25)

/* The generator's settings ([gen] in verdictd.conf(5)). */
struct vd_gen_config {
	uint64_t rate;       /* events per second, all producers together */
	uint64_t duration_s; /* how long producers run */
	unsigned producers;  /* producer threads */
	uint64_t
	    stall_every;     /* evaluator: stall every n-th evaluation, 0 off */
	uint64_t stall_ms;   /* evaluator: for this long */
	uint64_t deny_every; /* evaluator: deny when (pid + id) % n == 0 */
	uint64_t seed;       /* event mix and payload */
	uint64_t
	    short_every;   /* every n-th event gets a short deadline, 0 off */
	uint64_t short_ms; /* that deadline, from arrival */
	uint32_t types;    /* bit (1 << enum vd_event_type) per type */
};

struct vd_gen;

/* The generator's own view of a run. */
struct vd_gen_report {
	uint64_t elapsed_ns;     /* producers' start to the last one's end */
	uint64_t submitted;      /* events made, AUTH + NOTIFY */
	uint64_t auth;           /* of which AUTH */
	uint64_t notify;         /* of which NOTIFY */
	uint64_t short_deadline; /* AUTH events given a short deadline */
	uint64_t refused;        /* pool empty: vd_pipeline_refuse */
	uint64_t answered;       /* AUTH ids answered (first answers) */
	uint64_t allowed;
	uint64_t denied;
	uint64_t released;     /* NOTIFY ids released (first releases) */
	uint64_t duplicates;   /* second and later answers or releases */
	uint64_t late;         /* answered after the stamped deadline */
	uint64_t unanswered;   /* AUTH ids never answered */
	uint64_t unreleased;   /* NOTIFY ids never released */
	uint64_t unknown;      /* answers for ids never issued */
	int64_t margin_min_ns; /* least time left before a deadline when
	                          answered (INT64_MAX: no answer) */
};

/*
 * Allocates the generator and its per-id table (rate x duration slots).
 * Returns NULL with *err = -EINVAL (more than VD_GEN_EVENTS_MAX events,
 * no type) or -ENOMEM.
 */
struct vd_gen *vd_gen_create(const struct vd_gen_config *cfg, int *err);

/* The backend ops to give vd_pipeline_create, with the vd_gen as ctx. */
const struct vd_backend_ops *vd_gen_ops(void);

/*
 * Starts the producers on a started pipeline.  Deadlines are stamped from
 * the pipeline's configuration (each type's budget).  0 or -errno from
 * pthread_create (producers already started are stopped).
 */
int vd_gen_start(struct vd_gen *g, struct vd_pipeline *p);

/* Monotonic time at which the producers stop by themselves. */
uint64_t vd_gen_end_ns(const struct vd_gen *g);

/* Stops the producers (early, if they still run) and joins them. */
void vd_gen_stop(struct vd_gen *g);

/*
 * Events submitted and not yet answered or released, as far as the
 * generator can tell; meaningful once the producers are stopped.
 */
uint64_t vd_gen_pending(const struct vd_gen *g);

/*
 * Fills *r.  Call after vd_gen_stop and vd_pipeline_stop: the unanswered
 * and unreleased counts walk the whole table.
 */
void vd_gen_report(const struct vd_gen *g, struct vd_gen_report *r);

/* Stops the producers if needed and frees everything. */
void vd_gen_destroy(struct vd_gen *g);

#endif
