/*
 * testeval.h — a built-in evaluator for tests, demos and benchmarks.
 *
 * It decides by arithmetic on the event (deny every deny_every-th event of a
 * process, by pid) and can misbehave on purpose, the way real rule engines
 * do: stall for a given time on a share of the events, or block one worker
 * until released.  It is the only evaluator allowed to sleep: it exists to
 * show that the pipeline answers in time when an evaluator does not.
 *
 * Setters may be called from any thread while the pipeline runs.
 */
#ifndef VD_BACKEND_GEN_TESTEVAL_H
#define VD_BACKEND_GEN_TESTEVAL_H

#include <stdint.h>

#include <verdict/pipeline.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vd_testeval;

/* NULL on allocation failure. */
struct vd_testeval *vd_testeval_create(void);
/* NULL is a no-op. */
void vd_testeval_destroy(struct vd_testeval *te);

/* The evaluator to give vd_pipeline_create (ctx is te). */
struct vd_evaluator vd_testeval_evaluator(struct vd_testeval *te);

/*
 * Stall every `every`-th evaluation (counted over all workers; 0: never) for
 * stall_ns nanoseconds.
 */
void vd_testeval_set_stall(
    struct vd_testeval *te, uint64_t every, uint64_t stall_ns);

/* Deny when (pid + handle id) % every == 0 (0: allow everything). */
void vd_testeval_set_deny(struct vd_testeval *te, uint64_t every);

/*
 * Block worker `worker` inside its next evaluation until
 * vd_testeval_release() (test hook for "a stuck worker").
 */
void vd_testeval_block_worker(struct vd_testeval *te, unsigned worker);
void vd_testeval_release(struct vd_testeval *te);

/* Evaluations so far, and NOTIFY events seen by notify(). */
uint64_t vd_testeval_evaluated(const struct vd_testeval *te);
uint64_t vd_testeval_notified(const struct vd_testeval *te);
/* Evaluations currently blocked or stalled. */
uint64_t vd_testeval_inside(const struct vd_testeval *te);

#ifdef __cplusplus
}
#endif
#endif
