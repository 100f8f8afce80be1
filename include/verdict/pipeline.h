/*
 * verdict/pipeline.h — the core pipeline: pools, rings, workers, timer.
 *
 * A backend callback takes an event from the type's pool, fills it, and
 * submits it.  Submitting never blocks, takes no lock and never allocates:
 * the event is armed on the timer thread's wheel (through a ring) and pushed
 * into the ring of its type for one worker shard, chosen by a stable hash of
 * the pid so one process's events stay in order.  No event waits behind
 * another's evaluation while a worker is free: a worker that has held one
 * event for over a millisecond is stuck, producers queue past it to the
 * next worker, and idle workers take what already waits in its rings (then
 * one process's events may be answered out of order).  A fixed set of
 * workers pop events, call the evaluator and answer through the backend's
 * respond callback.  The timer thread answers any AUTH event still pending at
 * deadline - margin with the type's default verdict.  Worker and timer race
 * on a per-event state word; only the winner responds, so every AUTH event is
 * answered exactly once.  NOTIFY events go through their own rings to one
 * serial notify thread and are never answered.
 *
 * Threads:
 *   - vd_pipeline_event_get, vd_pipeline_submit, vd_pipeline_refuse: any
 *     producer thread (backend callbacks), concurrently, after start.  With
 *     cfg.multi_producer false exactly one thread may call them.
 *   - vd_pipeline_stats: any thread, any time after create.
 *   - everything else: one controlling thread.
 *
 * Return convention: 0 or -errno for fallible calls; bool for hot-path calls.
 */
#ifndef VERDICT_PIPELINE_H
#define VERDICT_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <verdict/backend.h>
#include <verdict/event.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VD_MAX_WORKERS 64
/* Enrichment threads (vd_config.enrich_threads) at most. */
#define VD_ENRICH_MAX 8

/* What an evaluator decides for one AUTH event. */
struct vd_decision {
	uint8_t verdict; /* enum vd_verdict */
	bool audit;      /* log it (off the AUTH path) / FAN_AUDIT */
	bool cache;      /* the backend may let the kernel cache it */
	/* The verdict depends on the object's path alone, the same for every
	 * process (set by the policy): a kernel-side cache keyed by the file
	 * (a fanotify ignore mark) may hold it for everyone. */
	bool path_only;
	/* Monitor mode: the policy would deny, and allows (verdict ALLOW);
	 * never cached, logged each time, like audit. */
	bool would_deny;
	uint32_t open_flags; /* AUTH_OPEN on ES: authorized VD_OPEN_* bits */
	/* The 1-based rule that decided (vd_policy_eval), 0: a default. */
	uint32_t rule;
	/* Not decided yet: the evaluation needs these (VD_NEED_*), which
	 * the event does not have (ev->have).  The rest of the decision is
	 * ignored; the pipeline defers the event (vd_enricher). */
	uint32_t needs;
};

/* What an evaluation may need that a worker must not fetch (I/O). */
#define VD_NEED_DIGEST 0x1u /* ev->sha256 */
/* In ev->have: what the pipeline could not get for the event (the file
 * unreadable, over the size cap, changed while read; the queue full; no
 * enricher).  The evaluation then decides without it: a condition on it
 * does not hold. */
#define VD_UNAVAILABLE(need) ((uint32_t)(need) << 16)

/*
 * The verdict logic.  evaluate() runs on worker `worker` (0 .. workers-1,
 * and `workers` for the inline runner: vd_pipeline_eval_slots()) for each
 * AUTH event, after the backend's prepare() step did whatever I/O
 * the event needs (verdict/backend.h); it must be pure: memory only, no
 * I/O, no locks, no allocation, bounded time.  *out arrives preset to the
 * type's default. notify() runs on the single notify thread with a batch of
 * NOTIFY events; it may be NULL.  Events are valid only during the call.
 */
struct vd_evaluator {
	void (*evaluate)(void *ctx, unsigned worker, const struct vd_event *ev,
	    struct vd_decision *out);
	void (*notify)(void *ctx, const struct vd_event *const *evs, size_t n);
	void *ctx;
};

/* Per-type settings. */
struct vd_type_config {
	uint8_t default_verdict; /* enum vd_verdict, when nothing decides */
	double margin_fraction;  /* margin = clamp(fraction x budget, ...) */
	uint64_t margin_floor_ns;
	uint64_t margin_ceiling_ns;
	uint64_t budget_ns; /* deadline when the backend gives none */
};

/* The margin before a deadline budget_ns away at which the timer answers
 * an event of this type by default. */
static inline uint64_t
vd_type_margin(const struct vd_type_config *t, uint64_t budget_ns)
{
	uint64_t m = (uint64_t)(t->margin_fraction * (double)budget_ns);

	if (m < t->margin_floor_ns)
		m = t->margin_floor_ns;
	if (m > t->margin_ceiling_ns)
		m = t->margin_ceiling_ns;
	return m;
}

/*
 * Deadline profiles: the default verdict is sent at deadline - margin,
 * margin = clamp(fraction x budget, floor, ceiling), per event type.
 */
enum vd_profile {
	VD_PROFILE_ES,       /* 20 %, clamped to 1 s .. 5 s; spin 20 us */
	VD_PROFILE_FANOTIFY, /* 20 % of a 1 s budget, floor 50 ms; spin
	                        200 us */
};

struct vd_config {
	unsigned workers;    /* 0: usable CPUs - 1, at least 1, at most 4 */
	unsigned ring_size;  /* per type and shard, power of two >= 2 */
	unsigned pool_size;  /* events per type */
	bool multi_producer; /* several threads submit concurrently */
	/* Pin each worker to a CPU, from the last one down.  A worker that
	 * finds its CPU taken (woken, it first runs over 1 ms after its event
	 * came: a CPU hog holds it for a scheduler tick) leaves it for the
	 * scheduler's choice, and pins itself again after 1 s, doubling up
	 * to a minute each time it has to leave. */
	bool pin_workers;
	/* Longest an idle worker spins before parking.  The spin adapts:
	 * it halves while nothing comes, grows back when events come soon
	 * after a park, and stops at once when a yield shows another thread
	 * wants the CPU (spinning would only take its time).  A spinning
	 * worker keeps a CPU from going idle, so a thread waiting for a CPU
	 * elsewhere is not moved to it: workers spin only while the system's
	 * CPU pressure (Linux PSI: time runnable threads waited) stays under
	 * 25 % over 20 ms windows, and not at all for a back-off (40 ms,
	 * doubling while the pressure lasts, at most 1 s) after a window
	 * above.  Where the system keeps no such count (macOS, Linux without
	 * PSI) they spin only if CPUs outnumber the workers by two. */
	uint64_t spin_ns;
	/* While that pressure keeps the spin gate closed (judged whether or
	 * not workers spin), a producer does not wake a parked worker or the
	 * notify thread for its event: the timer does, at its next tick.  The
	 * thread delivering events then makes no wake-up call and puts no
	 * thread of ours ahead of itself on a CPU it has to share; the event
	 * waits at most one tick, and every margin is at least one.  A ring
	 * 16 deep, or a timer that is not ticking, wakes at once; without a
	 * pressure count producers always wake at once. */
	bool defer_wakes;
	uint64_t tick_ns; /* timer wheel resolution */
	/* One producer may answer its own AUTH events (see
	 * vd_pipeline_submit_inline): the evaluator gets one slot more. */
	bool inline_runner;
	/* Deferred decisions (vd_enricher): threads that enrich deferred
	 * events (0: none; events that need enriching get the default, and
	 * each an evaluator slot after the workers and the inline runner),
	 * and how many deferred events may wait for them (a power of two;
	 * a full queue answers with the default at once). */
	unsigned enrich_threads;
	unsigned enrich_queue;
	struct vd_type_config types[VD_EVENT_TYPE_COUNT];
};

/* Fills *cfg with the defaults of a deadline profile. */
void vd_config_init(struct vd_config *cfg, enum vd_profile profile);

/*
 * Checks a configuration.  Returns 0, or -EINVAL with a sentence saying which
 * value is wrong and why written to err (errsz bytes, may be 0).
 */
int vd_config_check(const struct vd_config *cfg, char *err, size_t errsz);

/* The worker count 0 resolves to on this machine. */
unsigned vd_config_default_workers(void);

struct vd_pipeline;

/*
 * Allocates everything the pipeline will ever use: pools, rings, wheel,
 * counters.  Returns NULL and sets *err to -EINVAL (bad config, see
 * vd_config_check) or -ENOMEM.
 */
struct vd_pipeline *
vd_pipeline_create(const struct vd_config *cfg, const struct vd_evaluator *eval,
    const struct vd_backend_ops *ops, void *backend_ctx, int *err);

/* Starts workers, the notify thread and the timer.  0, -EAGAIN, -EINVAL. */
int vd_pipeline_start(struct vd_pipeline *p);

struct vd_answer {
	const struct vd_event *ev; /* NULL: refused before it had one */
	enum vd_event_type type;
	const struct vd_decision *d;
	uint8_t by;         /* enum vd_answered_by */
	uint64_t answer_ns; /* vd's monotonic clock, as ev->arrival_ns */
};

/*
 * Called on the answering thread right after every AUTH answer, with what
 * is valid only during the call: the place for a decision log's producer
 * side.  It runs on the AUTH path, so it must be as pure as evaluate():
 * copy into a bounded ring, never block.  Set before vd_pipeline_start;
 * NULL: none.
 */
void vd_pipeline_set_observer(struct vd_pipeline *p,
    void (*fn)(void *ctx, const struct vd_answer *a), void *ctx);

/*
 * Deferred decisions.  An evaluation that cannot decide without something
 * only I/O can get (a file's digest) says so in vd_decision.needs instead
 * of deciding.  The worker then hands the event, still pending and with
 * its timer armed, to a bounded queue; an enrichment thread (a class below
 * the workers) calls enrich(), which fills the event (ev->have, and the
 * fields it names), evaluates it again with what it now has and answers
 * it.  If the deadline comes first, the timer answers with the default as
 * for any event, and enrich() still runs, with late true, so that what it
 * learns (a digest cache) serves the next event; its answer is then
 * dropped.  Exactly once holds: the enrichment thread answers through the
 * same state word as a worker and the timer.
 *
 * enrich() may do bounded I/O; the event's handle stays valid until it
 * returns.  It returns 0, or -errno (enrich.failed).  When what was needed
 * cannot be had, the event is evaluated once more with
 * VD_UNAVAILABLE(needs) in ev->have, and the rules decide without it (a
 * condition on it does not hold: an allow-list's later deny denies): after
 * a failed enrichment, on the enrichment thread; at once, on the worker,
 * when the queue is full (enrich.full) or no enricher is set
 * (enrich.unavailable).  Only what still needs more after that gets the
 * type's default (enrich.undecided).  Set before vd_pipeline_start, with
 * cfg.enrich_threads > 0.
 */
struct vd_enricher {
	int (*enrich)(
	    void *ctx, struct vd_event *ev, uint32_t needs, bool late);
	void *ctx;
};
void
vd_pipeline_set_enricher(struct vd_pipeline *p, const struct vd_enricher *e);

/*
 * Stops cleanly: refuses new events (answered at once with the default),
 * waits for evaluations in progress, answers everything still pending with
 * its default verdict, hands the remaining NOTIFY events to notify(), joins
 * all threads.  Stop the backend's producers first.  Idempotent.
 */
void vd_pipeline_stop(struct vd_pipeline *p);

/* Frees everything; stops first if needed.  NULL is a no-op. */
void vd_pipeline_destroy(struct vd_pipeline *p);

/*
 * The pipeline's clock, in nanoseconds: the one arrival_ns and deadline_ns
 * are read against (CLOCK_MONOTONIC on Linux, Mach absolute time on macOS).
 */
uint64_t vd_clock_ns(void);

/*
 * Changes a type's default verdict, margins and budget while the pipeline
 * runs (a configuration reload).  Events already queued keep the timer they
 * were armed with; new events use the new settings.  Any thread.  0, or
 * -EINVAL with the reason in err (as vd_config_check) and nothing changed.
 */
int vd_pipeline_set_type(struct vd_pipeline *p, enum vd_event_type t,
    const struct vd_type_config *tc, char *err, size_t errsz);

/* The settings of type t in force now. */
void vd_pipeline_type_config(const struct vd_pipeline *p, enum vd_event_type t,
    struct vd_type_config *out);

/*
 * Liveness, for a watchdog: whether each worker and the timer thread have
 * work waiting, and how much they have done.  Two snapshots taken some
 * time apart show a thread stuck when it had work waiting in both and did
 * nothing in between (vd_progress_stuck).  Any thread, cheap.
 */
struct vd_progress {
	/* Evaluator slots: the workers, then the inline runner if any. */
	unsigned workers;
	uint64_t worker_events[VD_MAX_WORKERS + 1];
	bool worker_queued[VD_MAX_WORKERS + 1];
	/* When each slot took the event in its hand (0: idle); the same in
	 * both snapshots is one evaluation that outlasted the interval. */
	uint64_t worker_since[VD_MAX_WORKERS + 1];
	uint64_t timer_events; /* timers armed and cancelled */
	bool timer_queued;     /* arms waiting for the timer thread */
};

void vd_pipeline_progress(const struct vd_pipeline *p, struct vd_progress *out);

/* True when some thread had work in both a (earlier) and b and made no
 * progress between them, or held the same event in both. */
bool
vd_progress_stuck(const struct vd_progress *a, const struct vd_progress *b);

/*
 * Thread classes.  The timer thread runs above the workers and the notify
 * thread below them (Linux: nice -5 and +10 relative to the creating
 * thread, raising needs CAP_SYS_NICE; macOS: QoS user-interactive,
 * user-initiated for the workers, utility), so a busy notify stream or a
 * busy worker never takes the CPU the answer of last resort needs.
 * Returns 0, or the -errno of the first thread that could not take its
 * class (-EPERM: it kept its priority).  Any thread, after start.
 */
int vd_pipeline_priority_error(const struct vd_pipeline *p);

/* The resolved number of workers. */
unsigned vd_pipeline_workers(const struct vd_pipeline *p);
/* The configuration the pipeline was created with (workers resolved); the
 * per-type settings in force are vd_pipeline_type_config()'s. */
const struct vd_config *vd_pipeline_config(const struct vd_pipeline *p);

/*
 * Hot path.  Takes a zeroed-header event of type t from its pool, or NULL
 * when the pool is empty: then call vd_pipeline_refuse().  The event's
 * payload (paths, process) is not cleared: the backend sets every field it
 * uses, and must clear the *_truncated flags and strings it does not set.
 */
struct vd_event *
vd_pipeline_event_get(struct vd_pipeline *p, enum vd_event_type t);

/*
 * As vd_pipeline_event_get, but when the pool is empty while answered
 * events wait for the timer to recycle them (it does so each tick, and a
 * starved timer can fall behind), wakes the timer and waits for one, up
 * to max_ns.  For a backend whose kernel sets no deadline (fanotify): a
 * short wait beats answering by the default.  Counted in
 * pipeline.pool_waits.
 */
struct vd_event *vd_pipeline_event_wait(
    struct vd_pipeline *p, enum vd_event_type t, uint64_t max_ns);

/*
 * Hot path.  Hands the event to the pipeline.  Returns true when it was
 * queued; false when it was answered at once with the default verdict (ring
 * full, budget already below the margin floor, pipeline stopping).  Either
 * way the pipeline owns the event now.
 */
bool vd_pipeline_submit(struct vd_pipeline *p, struct vd_event *ev);

/*
 * Run to completion, for a producer that may answer (fanotify's reader:
 * its queue is the kernel's, nobody waits on it but the openers it would
 * answer).  With cfg.inline_runner, one producer thread submits with
 * vd_pipeline_submit_inline() into the inline runner's shard (armed like
 * any other event, no worker woken) and then answers what it submitted
 * with vd_pipeline_run_inline(), on its own thread: no hop to a worker, no
 * wake-up.  Its evaluator slot is `workers`.  If it holds one event for
 * over 1 ms it is stuck: workers take what waits in its shard, the timer
 * answers the event in its hand by the deadline as always, and the timer
 * calls the backend's stuck() so that a standby producer reads on
 * (vd_pipeline_inline_stuck() says when to stop).  Only that one thread
 * may call vd_pipeline_submit_inline and vd_pipeline_run_inline; without
 * cfg.inline_runner they are vd_pipeline_submit and a no-op.  Returns:
 * as vd_pipeline_submit; events answered; whether it is stuck now.
 */
bool vd_pipeline_submit_inline(struct vd_pipeline *p, struct vd_event *ev);
unsigned vd_pipeline_run_inline(struct vd_pipeline *p);
bool vd_pipeline_inline_stuck(const struct vd_pipeline *p);

/*
 * Hints for a producer choosing between inline and a worker (any thread):
 * a worker is spinning now (an event submitted to it costs no wake-up and
 * is answered sooner than by a thread that has to wake); workers may spin
 * now (the spin gate of vd_config.spin_ns is open).
 */
bool vd_pipeline_worker_spinning(const struct vd_pipeline *p);
bool vd_pipeline_spin_open(const struct vd_pipeline *p);

/* Evaluator slots: workers, plus one for the inline runner. */
unsigned vd_pipeline_eval_slots(const struct vd_pipeline *p);

/*
 * Hot path.  Answers a message at once with the default verdict of type t,
 * without an event (the pool was empty), and counts it as dropped.  For a
 * NOTIFY type it only counts and releases.
 */
void vd_pipeline_refuse(
    struct vd_pipeline *p, enum vd_event_type t, const struct vd_handle *h);

#ifdef __cplusplus
}
#endif
#endif
