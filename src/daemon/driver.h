/*
 * driver.h — how verdictd runs a backend: one driver per backend, each in a
 * file of its own (drv_gen.c, drv_sim.c, drv_fanotify.c), registered in
 * drivers.c.  The daemon knows a backend only through this table and the
 * struct vd_backend (verdict/backend.h) the driver creates.
 *
 * A driver turns the daemon's configuration into the backend's own, says
 * what the backend's events carry for rules, and owns what is particular
 * to the backend in the daemon's life: the settings a reload changes, the
 * warnings of -n, and the report at the end of a run.
 *
 * Threads: the main thread only, except counters (through the backend).
 */
#ifndef VD_DAEMON_DRIVER_H
#define VD_DAEMON_DRIVER_H

#include <stdbool.h>
#include <stddef.h>

#include <verdict/backend.h>
#include <verdict/pipeline.h>
#include <verdict/policy.h>
#include <verdict/stats.h>

#include "daemon/config.h"

/* What a report needs to know of the run beyond the backend. */
struct vd_run_info {
	const struct vd_conf *conf;
	const struct vd_stats *stats; /* the pipeline's books at stop */
	bool json;
	/* "SIGTERM", "SIGINT"; NULL: the run ended by itself. */
	const char *stopped_by;
};

struct vd_driver {
	const char *name;
	/* What its events carry that rules may test (VD_POLICY_CAN_*). */
	unsigned policy_can;
	/* How often the run loop asks the backend's state, in ms. */
	int poll_ms;
	/* The pipeline's settings for this backend (NULL: c->pipe). */
	void (*pipeline_config)(const struct vd_conf *c, struct vd_config *out);
	/* Creates the backend.  0, or -errno with a sentence in msg; -EINVAL
	 * is a configuration error. */
	int (*create)(const struct vd_conf *c, struct vd_backend *b, char *msg,
	    size_t msgsz);
	/* The verdict logic to use when no policy is configured: true with
	 * *out filled, or false (NULL) for the policy runtime without a
	 * policy (each type's default). */
	bool (*evaluator)(void *bctx, struct vd_evaluator *out);
	/* The policy runtime in force, once, before start (the fanotify
	 * reader flushes its cache when a notify queue overflowed).  May be
	 * NULL. */
	void (*bind_runtime)(void *bctx, struct vd_policy_runtime *rt);
	/* Applies the live settings of c (start and each reload).  May be
	 * NULL. */
	void (*reconfigure)(void *bctx, const struct vd_conf *c, bool start);
	/* A one-line status once events are answered, for the log and the
	 * service manager; NULL: no log line. */
	void (*describe)(void *bctx, const struct vd_conf *c,
	    const struct vd_pipeline *p, char *buf, size_t bufsz);
	/* sha256= rules: the backend's own enricher (the simulator's files
	 * have no content to read); NULL: the file-digest reader,
	 * verdict/digest.h.  Only with VD_POLICY_CAN_SHA256. */
	void (*enricher)(void *bctx, struct vd_enricher *out);
	/* -n: warns about what the policy asks that this backend will never
	 * see; returns how many warnings.  May be NULL. */
	unsigned (*check)(const struct vd_conf *c, const struct vd_policy *pol);
	/* Prints the report of the run (after the backend's finish) and
	 * returns the exit status: 0 clean, 1 not.  NULL: no report, 0. */
	int (*report)(void *bctx, const struct vd_run_info *ri);
};

/* The driver of a backend by name, or NULL with why it is missing in msg
 * (not built in this verdictd, or unknown). */
const struct vd_driver *
vd_driver_find(const char *name, char *msg, size_t msgsz);

/*
 * For the ES drivers (sim, es), whose deadline profile comes from the
 * messages: the configuration's sizes, threads and default verdicts onto
 * cfg, which holds the profile.  One delivery thread per ES client: a
 * single producer per ring.
 */
void vd_driver_pipe_settings(const struct vd_conf *c, struct vd_config *cfg);

extern const struct vd_driver vd_driver_gen;
extern const struct vd_driver vd_driver_sim;
extern const struct vd_driver vd_driver_fanotify;
extern const struct vd_driver vd_driver_es;

#endif
