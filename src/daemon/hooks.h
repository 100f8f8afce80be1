/*
 * hooks.h — test hooks around the verdict logic: an evaluation of a file
 * with a given name stalls, or worker 0 blocks until released.  They exist
 * so the integration tests and the tour can show that a stuck rule or a
 * stuck worker never holds a real opener past its budget; verdictd.conf(5)
 * calls them [test] settings, never for production.
 *
 * Threads: the evaluator runs on the workers; the rest on the main thread.
 */
#ifndef VD_DAEMON_HOOKS_H
#define VD_DAEMON_HOOKS_H

#include <stdint.h>

#include <verdict/pipeline.h>

#include "daemon/config.h"

struct vd_hooks;

/* NULL on allocation failure.  inner is copied. */
struct vd_hooks *
vd_hooks_create(const struct vd_evaluator *inner, const struct vd_conf_test *t);

/* The evaluator to wrap around inner (ctx is h). */
struct vd_evaluator vd_hooks_evaluator(struct vd_hooks *h);

/* Applies the live settings (stall_ms, block_worker) of t. */
void vd_hooks_set(struct vd_hooks *h, const struct vd_conf_test *t);

/* Lets every blocked or stalled evaluation go, for good (before stop). */
void vd_hooks_release(struct vd_hooks *h);

/* Evaluations stalled or blocked so far. */
uint64_t vd_hooks_fired(const struct vd_hooks *h);

void vd_hooks_destroy(struct vd_hooks *h);

#endif
