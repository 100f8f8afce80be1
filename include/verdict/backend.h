/*
 * verdict/backend.h — what a backend is to the pipeline and to a program
 * that runs one.
 *
 * A backend turns kernel messages (EndpointSecurity, fanotify, a simulator,
 * a load generator) into events and answers the kernel.  It has two faces:
 *
 *   - struct vd_backend_ops, the pipeline's view: respond, release and
 *     retire, and two optional steps around the verdict logic.  prepare()
 *     runs on the worker before the evaluator and does the backend's I/O
 *     (the object's path from a descriptor, the file's identity), so the
 *     evaluator itself stays pure: it reads a const event and memory only.
 *     decided() runs after the worker's answer reached the kernel and may
 *     leave a kernel-side cache entry (a fanotify ignore mark).
 *
 *   - struct vd_backend, a program's view of a running backend: start,
 *     state, quiesce, finish, destroy, what rules it can enforce, what it
 *     must hear when the policy changes, and its own counters.  A daemon
 *     holds one and needs to know nothing else of the backend, in the tree
 *     or out of it.
 *
 * Threads: the ops run on pipeline threads as each says; every function of
 * struct vd_backend runs on the one controlling thread, except counters()
 * (any thread).
 */
#ifndef VERDICT_BACKEND_H
#define VERDICT_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <verdict/event.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vd_ctr;
struct vd_decision;
struct vd_pipeline;
struct vd_policy;

/*
 * The pipeline's side.  respond() is called exactly once per AUTH event (by
 * a worker, the timer thread, or a producer answering at once), and must
 * release whatever the handle holds.  It must not block.  It returns false
 * when the kernel refused the answer (counted as a respond error).
 * release() (may be NULL) is called once for each NOTIFY event when the
 * pipeline is done with it.  retire() (may be NULL) is called once for each
 * AUTH event after respond(), when no pipeline thread can read the event
 * any more: a worker may still be preparing or evaluating an event the
 * timer has answered, so what prepare() reads through the handle (a
 * fanotify event's descriptor) must stay valid until retire().  Any
 * pipeline or producer thread; none may block.
 *
 * prepare() (may be NULL) runs on worker `worker` before the evaluator,
 * for each AUTH event still pending.  It may fill the event's fields that
 * the reader left for later (target, target_id, ...) and nothing else:
 * the timer may answer the event meanwhile, reading only its type and
 * handle.  Its result is a cookie handed back to decided().  It may do
 * I/O; it must be bounded.
 *
 * decided() (may be NULL) runs on the same worker after the worker's
 * decision was answered (never when the timer won), with prepare()'s
 * cookie.  The event is read-only.
 *
 * prepare_notify() (may be NULL) runs on the notify thread with a batch of
 * NOTIFY events before the evaluator's notify(), and may fill them.
 *
 * stuck() (may be NULL) runs on the timer thread when the inline runner
 * (vd_pipeline_run_inline, verdict/pipeline.h) has held one event for over
 * 1 ms, once per such event: the producer that runs inline reads nothing
 * while it is stuck, and a standby must take over.  It must not block
 * (wake a thread and return).
 */
struct vd_backend_ops {
	const char *name;
	bool (*respond)(void *ctx, enum vd_event_type type,
	    const struct vd_handle *h, const struct vd_decision *d);
	void (*release)(
	    void *ctx, enum vd_event_type type, const struct vd_handle *h);
	void (*retire)(
	    void *ctx, enum vd_event_type type, const struct vd_handle *h);
	uint64_t (*prepare)(void *ctx, unsigned worker, struct vd_event *ev);
	void (*decided)(void *ctx, unsigned worker, const struct vd_event *ev,
	    const struct vd_decision *d, uint64_t cookie);
	void (*prepare_notify)(
	    void *ctx, struct vd_event *const *evs, size_t n);
	void (*stuck)(void *ctx);
};

/* Where a started backend stands. */
enum vd_backend_state {
	VD_BACKEND_RUNNING,
	VD_BACKEND_DONE,   /* its workload ended (a generator, a scenario) */
	VD_BACKEND_FAILED, /* its source broke (a read error): stop */
};

/*
 * A backend instance, as a program drives it.  The program creates the
 * backend (each backend has its own constructor and configuration), then:
 *
 *   vd_pipeline_create(cfg, eval, b->ops, b->ops_ctx) -> vd_pipeline_start ->
 *   b->start -> ... b->state ... -> b->quiesce -> vd_pipeline_stop ->
 *   b->finish -> vd_pipeline_destroy -> b->destroy
 *
 * quiesce() stops new events (producers, readers, clients' handlers);
 * vd_pipeline_stop() answers what was submitted; finish() answers what the
 * kernel still holds and releases what the backend keeps (marks, groups,
 * clients).  Function pointers may be NULL where the backend has nothing
 * to do.
 */
struct vd_backend {
	/* What to give vd_pipeline_create: the ops and their context. */
	const struct vd_backend_ops *ops;
	void *ops_ctx;
	/* The context of the functions below. */
	void *ctx;
	/* What its events carry that rules may test (VD_POLICY_CAN_*). */
	unsigned policy_can;
	/* Starts delivering on a started pipeline.  0, or -errno with a
	 * sentence in msg. */
	int (*start)(void *ctx, struct vd_pipeline *p, char *msg, size_t msgsz);
	enum vd_backend_state (*state)(void *ctx);
	void (*quiesce)(void *ctx);
	void (*finish)(void *ctx);
	void (*destroy)(void *ctx);
	/* A new policy is in force (pol may be NULL: none): decisions the
	 * kernel caches for the old one must go, and what the backend reads
	 * per event may change.  Also called once before start.  0, or
	 * -errno with a sentence in msg (the policy stays in force). */
	int (*policy_changed)(
	    void *ctx, const struct vd_policy *pol, char *msg, size_t msgsz);
	/* Emits the backend's own counters, named backend.<name>.*. */
	void (*counters)(void *ctx,
	    void (*emit)(void *ectx, const struct vd_ctr *c), void *ectx);
};

#ifdef __cplusplus
}
#endif
#endif
