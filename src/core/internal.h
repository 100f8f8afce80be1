/*
 * internal.h — the pipeline's private structures (not installed).
 *
 * The stages, as data:
 *
 *   producer (backend callback)      vd_pipeline_submit
 *     ├─ AUTH ──▶ ring[type][shard] ──▶ worker[shard] ──▶ evaluate ──▶ respond
 *     │    └────▶ arm ring ──▶ timer thread: wheel ──▶ respond (default)
 *     │                 ▲ cancel ring[worker] ◀── worker that won the race
 *     └─ NOTIFY ─▶ nring[type] ──▶ notify thread (batches) ──▶ notify()
 *   counters: one padded cell set per thread, summed by vd_pipeline_stats
 *
 * Ownership of an AUTH event (struct vd_box) is counted: it starts with two
 * references, one travelling with the event through its worker ring, one
 * held by the timer (the arm).  The worker that wins the state word hands its
 * reference to the timer inside the cancel; whoever drops the last reference
 * returns the box to its pool.
 */
#ifndef VD_CORE_INTERNAL_H
#define VD_CORE_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include <verdict/pipeline.h>
#include <verdict/stats.h>

#include <ck_stack.h>
#include <stddef.h>

#include "core/ring.h"
#include "core/wheel.h"
#include "platform/platform.h"

enum vd_state {
	VD_PENDING,
	VD_ANSWERED,
};

/* Timer-thread view of a box; only the timer thread reads or writes it
 * after the arm is pushed. */
enum vd_tstate {
	VD_T_NONE,            /* arm not seen yet */
	VD_T_ARMED,           /* on the wheel */
	VD_T_CANCELLED_EARLY, /* the cancel overtook its arm */
	VD_T_DONE,            /* fired or cancelled */
};

/*
 * The bookkeeping sits in front of the event, on the cache lines submit
 * touches anyway (the event's header follows it); the paths come last.
 */
struct vd_box {
	struct ck_stack_entry free; /* link in the pool's free stack */
	_Atomic uint32_t state;
	_Atomic uint32_t refs;
	uint8_t tstate;
	bool deferred;  /* went to the enrichment threads once */
	uint32_t needs; /* what it went for (VD_NEED_*) */
	uint64_t submit_ns;
	uint64_t defer_ns;
	uint64_t fire_ns;
	struct vd_wheel_node tnode;
	struct vd_event ev; /* the backend's pointer */
};

#define vd__box_of(e)                                                          \
	((struct vd_box *)((char *)(e)-offsetof(struct vd_box, ev)))

/*
 * A pool is a lock-free LIFO (ck_stack, ABA-safe through a generation
 * counter and a double-width CAS): the box freed last is taken first, so
 * the boxes in use stay few and warm in the cache whatever the pool size.
 */
struct vd_pool {
	alignas(16) struct ck_stack free;
	struct vd_box *boxes;
	unsigned size;
};

/* Counter cells of one type, written by one thread (or, when `shared`, by
 * several, with atomic adds). */
struct vd_hist_cell {
	_Atomic uint64_t count;
	_Atomic uint64_t max;
	_Atomic uint64_t b[VD_HIST_BUCKETS];
};

struct vd_type_cells {
	_Atomic uint64_t received;
	_Atomic uint64_t answered_worker;
	_Atomic uint64_t answered_default;
	_Atomic uint64_t answered_arrival;
	_Atomic uint64_t dropped;
	_Atomic uint64_t dropped_pool;
	_Atomic uint64_t shutdown;
	_Atomic uint64_t processed;
	_Atomic uint64_t allowed;
	_Atomic uint64_t denied;
	_Atomic uint64_t audited;
	_Atomic uint64_t respond_errors;
	_Atomic uint64_t ring_depth_max;
	_Atomic uint64_t budget_min_ns; /* 0: none seen */
	_Atomic int64_t margin_min_ns;  /* INT64_MAX: none seen */
	struct vd_hist_cell latency;
};

struct vd_cells {
	alignas(VD_CACHELINE) bool shared;
	struct vd_type_cells t[VD_EVENT_TYPE_COUNT];
	/* timer thread only */
	_Atomic uint64_t t_armed, t_fired, t_lost, t_cancelled, t_late_max,
	    t_wakeups, t_tick_wakes;
	/* producers: wake-ups left to the timer's tick (defer_wakes) */
	_Atomic uint64_t deferred_wakes;
};

/* A thread that parks on a futex word and is woken by producers. */
struct vd_sleeper {
	alignas(VD_CACHELINE) _Atomic uint32_t parked;
	_Atomic uint32_t seq;
	_Atomic uint64_t wakeups;
	/* Workers: when the event in hand was taken (0: none).  On the line
	 * producers read anyway, so a look costs no extra miss. */
	_Atomic uint64_t busy_since;
	/* When the last wake-up was sent (0: none since the sleeper took
	 * it): how long the woken thread then waited for a CPU. */
	_Atomic uint64_t wake_ns;
	char pad[VD_CACHELINE - 2 * sizeof(uint32_t) - 3 * sizeof(uint64_t)];
};

struct vd_worker {
	struct vd_sleeper sl;
	alignas(VD_CACHELINE) struct vd_pipeline *p;
	pthread_t thread;
	unsigned id;
	bool started;
	struct vd_cells *cells;
	struct vd_ring cancel; /* SPSC: this worker -> timer */
	uint64_t spin_cur;
	unsigned cancels;     /* pushed, for the every-32nd depth check */
	unsigned cancel_kick; /* depth at which the timer is woken early */
	/* Pinning: the CPU it is pinned to, when it may pin again after
	 * leaving a contended CPU, and how long it waits next time. */
	bool pinned;
	unsigned pin_cpu;
	uint64_t repin_ns, repin_wait_ns;
	_Atomic uint64_t events, parks, busy_ns, spin_ns, stolen, unpins;
};

#define VD_PRODUCER_SLOTS 32

/* Per-type settings that vd_pipeline_set_type() may change while
 * producers read them. */
struct vd_live_type {
	_Atomic uint64_t fraction_bits; /* a double's bits */
	_Atomic uint64_t floor_ns;
	_Atomic uint64_t ceiling_ns;
	_Atomic uint64_t budget_ns;
	_Atomic uint8_t default_verdict;
};

struct vd_pipeline {
	struct vd_config cfg;
	struct vd_evaluator eval;
	void (*observer)(void *ctx, const struct vd_answer *a);
	void *observer_ctx;
	struct vd_backend_ops ops;
	void *bctx;
	uint64_t id; /* distinguishes pipelines in thread-local caches */
	uint64_t start_ns;
	unsigned nworkers;
	unsigned nslots; /* workers, and the inline runner's slot last */
	unsigned ncpus;  /* the creating thread's CPUs, for pinning */
	unsigned cpus[VD_MAX_WORKERS];

	/* The first error a pipeline thread got taking its class
	 * (vd_thread_class), 0: none. */
	_Atomic int prio_err;

	/* The spin gate (pipeline.c, spin_allowed): the system's CPU
	 * pressure and the CPUs' idle time, read by one thread at a time,
	 * the one that moves sg_next_ns; -1 and NULL: neither is counted,
	 * spin only where CPUs outnumber the workers by two. */
	int sg_fd;
	bool sg_pressure; /* judged by pressure (sg_fd) */
	bool sg_static_open;
	struct vd_cpu_idle *sg_idle; /* judged by idle time, if not NULL */
	alignas(VD_CACHELINE) _Atomic uint64_t sg_next_ns;
	_Atomic uint64_t sg_closed_until_ns;
	_Atomic bool sg_busy; /* a worker is judging a reading */
	_Atomic uint64_t sg_closed, sg_samples, redirected;
	_Atomic uint64_t pool_waits; /* vd_pipeline_event_wait waited */
	_Atomic uint32_t spinners;   /* workers spinning now */
	/* The inline runner: stuck episodes seen by the timer, and the
	 * busy_since of the last one it reported (timer only). */
	_Atomic uint64_t inline_stuck;
	uint64_t inline_reported;
	uint64_t sg_last_ns, sg_last_us, sg_backoff_ns;
	uint64_t sg_idle_last_ns, sg_idle_last_us, sg_idle_last_spin_ns;
	uint64_t sg_settled_ns;   /* pressure judged from windows after it */
	_Atomic uint64_t sg_full; /* times no idle CPU closed the gate */

	alignas(VD_CACHELINE) _Atomic bool accepting;
	_Atomic bool stopping;   /* workers and notify thread: leave */
	_Atomic bool t_stopping; /* timer: fire everything and leave */
	bool started, stopped;

	struct vd_live_type live[VD_EVENT_TYPE_COUNT];
	struct vd_pool pools[VD_EVENT_TYPE_COUNT];
	/* AUTH: rings[type][shard]; NOTIFY: rings[type][0]. */
	struct vd_ring *rings[VD_EVENT_TYPE_COUNT];

	struct vd_worker *workers;
	/* Deferred decisions: the enrichment threads are the slots from
	 * enrich_first on (after the workers and the inline runner); their
	 * queue takes boxes from any worker, with the worker's reference. */
	unsigned enrich_first, nenrich;
	struct vd_enricher enricher;
	struct vd_ring enrich_q;
	alignas(VD_CACHELINE) _Atomic uint64_t e_requested,
	    e_completed, e_failed, e_late, e_full, e_undecided, e_unavailable,
	    e_answered, e_stopped;
	struct vd_hist_cell e_latency; /* deferral -> enriched, atomic adds */

	/* Timer thread. */
	struct vd_sleeper tsl;
	alignas(VD_CACHELINE) _Atomic uint64_t t_next_wake_ns;
	struct vd_ring arm;        /* producers -> timer */
	struct vd_ring ctl_cancel; /* controller -> timer, at stop */
	struct vd_wheel *wheel;
	pthread_t timer;
	bool timer_started;

	/* Notify thread. */
	struct vd_sleeper nsl;
	pthread_t notifier;
	bool notifier_started;

	/* Counter cells: producers' slots, then one shared overflow cell. */
	struct vd_cells *pcells; /* VD_PRODUCER_SLOTS + 1 */
	_Atomic unsigned pcells_used;
	struct vd_cells *wcells; /* one per worker */
	struct vd_cells *tcells; /* timer */
	struct vd_cells *ncells; /* notify */
	struct vd_cells *ccells; /* controller: stop, refuse after stop */
};

/*
 * The timer thread's handling of one box (exposed for tests, which drive
 * them by hand on a pipeline that is not started): an arm puts it on the
 * wheel, a cancel takes it off, both in any order; a fire answers with the
 * default if the state word is still PENDING.  Each drops the reference
 * its message carried.
 */
/* Takes a box out of / returns it to its pool (any thread). */
struct vd_box *vd__pool_get(struct vd_pool *pool);
void vd__pool_put(struct vd_pool *pool, struct vd_box *b);

/* The spin gate: whether idle workers may spin at time now (stats), and
 * its judgement of readings taken at time now (tests drive it by hand):
 * waited_us, the CPU pressure, and idle_us, the CPUs' idle time (both
 * since boot, VD_NO_READING for none), with spin_ns, the workers'
 * spinning so far. */
#define VD_NO_READING UINT64_MAX
bool vd__spin_open(const struct vd_pipeline *p, uint64_t now);
void vd__spin_judge(struct vd_pipeline *p, uint64_t now, uint64_t waited_us,
    uint64_t idle_us, uint64_t spin_ns);

void vd__timer_arm(struct vd_pipeline *p, struct vd_box *b);
void vd__timer_cancel(struct vd_pipeline *p, struct vd_box *b);
void vd__timer_fire(
    struct vd_pipeline *p, struct vd_box *b, uint64_t now, bool shutdown);

#endif
