/*
 * pipeline.c — submit, workers, the timer thread, the notify thread.
 *
 * See internal.h for the stages and the ownership of an event.  The hot
 * paths (submit, a worker's loop, the timer's loop) take no lock, make no
 * allocation and log nothing; they count.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <verdict/pipeline.h>
#include <verdict/stats.h>

#include "core/cells.h"
#include "core/internal.h"
#include "util/util.h"
#include "platform/platform.h"

#define NOTIFY_BATCH 64
#define WORKER_BATCH 16
/* vd_pipeline_event_wait looks for a recycled box this often. */
#define POOL_WAIT_STEP_NS 50000u

static _Atomic uint64_t pipeline_ids = 1;

/* ------------------------------------------------------------------ */
/* Configuration                                                       */

unsigned
vd_config_default_workers(void)
{
	unsigned n = vd_usable_cpus();

	n = n > 1 ? n - 1 : 1;
	return n > 4 ? 4 : n;
}

void
vd_config_init(struct vd_config *cfg, enum vd_profile profile)
{
	struct vd_type_config *tc;
	unsigned t;

	memset(cfg, 0, sizeof(*cfg));
	cfg->workers = 0;
	cfg->ring_size = 1024;
	cfg->pool_size = 1024;
	cfg->multi_producer = true;
	cfg->pin_workers = true;
	/* A spin must outlast the gap between two events of one waiting
	 * process to keep its CPU awake (an idle CPU halts, and waking it
	 * costs ~25 us): a fanotify round trip is ~50 us here. */
	cfg->spin_ns = profile == VD_PROFILE_FANOTIFY ? 200000 : 20000;
	cfg->defer_wakes = true;
	cfg->tick_ns = 1000000;
	cfg->enrich_threads = 0;
	cfg->enrich_queue = 256;
	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++) {
		tc = &cfg->types[t];
		/* Fail open: a deny by default on overload bricks the host. */
		tc->default_verdict = VD_ALLOW;
		tc->margin_fraction = 0.2;
		if (profile == VD_PROFILE_ES) {
			tc->margin_floor_ns = 1000000000u;
			tc->margin_ceiling_ns = 5000000000u;
			tc->budget_ns = 15000000000u;
		} else {
			tc->margin_floor_ns = 50000000u;
			tc->margin_ceiling_ns = 1000000000u;
			tc->budget_ns = 1000000000u;
		}
	}
}

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			if (errsz > 0)                                         \
				snprintf(err, errsz, __VA_ARGS__);             \
			return -EINVAL;                                        \
		}                                                              \
	} while (0)

static int
check_type(const struct vd_type_config *tc, enum vd_event_type t,
    uint64_t tick_ns, char *err, size_t errsz)
{
	const char *name = vd_event_type_name(t);

	CHECK(tc->default_verdict == VD_ALLOW || tc->default_verdict == VD_DENY,
	    "%s: default verdict must be allow or deny", name);
	CHECK(tc->margin_fraction >= 0 && tc->margin_fraction < 1,
	    "%s: margin_fraction must be at least 0 and below 1, got %g", name,
	    tc->margin_fraction);
	CHECK(tc->margin_floor_ns >= tick_ns,
	    "%s: margin floor (%llu ns) must be at least one timer tick "
	    "(%llu ns): the wheel may fire a tick early",
	    name, (unsigned long long)tc->margin_floor_ns,
	    (unsigned long long)tick_ns);
	CHECK(tc->margin_ceiling_ns >= tc->margin_floor_ns,
	    "%s: margin ceiling (%llu ns) is below its floor (%llu ns)", name,
	    (unsigned long long)tc->margin_ceiling_ns,
	    (unsigned long long)tc->margin_floor_ns);
	CHECK(tc->budget_ns > tc->margin_floor_ns &&
	        tc->budget_ns <= 3600000000000ull,
	    "%s: budget (%llu ns) must exceed the margin floor (%llu ns) and "
	    "be at most one hour",
	    name, (unsigned long long)tc->budget_ns,
	    (unsigned long long)tc->margin_floor_ns);
	return 0;
}

int
vd_config_check(const struct vd_config *cfg, char *err, size_t errsz)
{
	unsigned t;
	int rc;

	CHECK(cfg->workers <= VD_MAX_WORKERS, "workers: at most %d, got %u",
	    VD_MAX_WORKERS, cfg->workers);
	CHECK(cfg->ring_size >= 2 && cfg->ring_size <= (1u << 20) &&
	        (cfg->ring_size & (cfg->ring_size - 1)) == 0,
	    "ring_size: expected a power of two from 2 to 1048576, got %u",
	    cfg->ring_size);
	CHECK(cfg->pool_size >= 1 && cfg->pool_size <= (1u << 20),
	    "pool_size: expected 1 to 1048576, got %u", cfg->pool_size);
	CHECK(cfg->spin_ns <= 10000000u, "spin: at most 10 ms, got %llu ns",
	    (unsigned long long)cfg->spin_ns);
	CHECK(cfg->tick_ns >= 10000u && cfg->tick_ns <= 100000000u,
	    "tick: expected 10 us to 100 ms, got %llu ns",
	    (unsigned long long)cfg->tick_ns);
	CHECK(cfg->enrich_threads <= VD_ENRICH_MAX,
	    "enrich_threads: at most %d, got %u", VD_ENRICH_MAX,
	    cfg->enrich_threads);
	CHECK(cfg->enrich_threads == 0 ||
	        (cfg->enrich_queue >= 2 && cfg->enrich_queue <= 65536 &&
	            (cfg->enrich_queue & (cfg->enrich_queue - 1)) == 0),
	    "enrich_queue: expected a power of two from 2 to 65536, got %u",
	    cfg->enrich_queue);
	CHECK(cfg->workers + cfg->enrich_threads <= VD_MAX_WORKERS,
	    "workers and enrich_threads: at most %d together, got %u",
	    VD_MAX_WORKERS, cfg->workers + cfg->enrich_threads);
	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++)
		if ((rc = check_type(&cfg->types[t], (enum vd_event_type)t,
		         cfg->tick_ns, err, errsz)) != 0)
			return rc;
	return 0;
}

/*
 * Per-type settings that change while producers read them: each field is
 * its own relaxed atomic.  A reader may see a mix of the old and the new
 * set for one event; every mix is a valid setting (each was checked, and
 * the margin is clamped again where it is used).
 */
static void
live_store(struct vd_live_type *l, const struct vd_type_config *tc)
{
	uint64_t bits;

	memcpy(&bits, &tc->margin_fraction, sizeof(bits));
	atomic_store_explicit(&l->fraction_bits, bits, memory_order_relaxed);
	atomic_store_explicit(
	    &l->floor_ns, tc->margin_floor_ns, memory_order_relaxed);
	atomic_store_explicit(
	    &l->ceiling_ns, tc->margin_ceiling_ns, memory_order_relaxed);
	atomic_store_explicit(
	    &l->budget_ns, tc->budget_ns, memory_order_relaxed);
	atomic_store_explicit(
	    &l->default_verdict, tc->default_verdict, memory_order_relaxed);
}

static void
live_load(const struct vd_live_type *l, struct vd_type_config *tc)
{
	uint64_t bits =
	    atomic_load_explicit(&l->fraction_bits, memory_order_relaxed);

	memcpy(&tc->margin_fraction, &bits, sizeof(bits));
	tc->margin_floor_ns =
	    atomic_load_explicit(&l->floor_ns, memory_order_relaxed);
	tc->margin_ceiling_ns =
	    atomic_load_explicit(&l->ceiling_ns, memory_order_relaxed);
	tc->budget_ns =
	    atomic_load_explicit(&l->budget_ns, memory_order_relaxed);
	tc->default_verdict =
	    atomic_load_explicit(&l->default_verdict, memory_order_relaxed);
}

int
vd_pipeline_set_type(struct vd_pipeline *p, enum vd_event_type t,
    const struct vd_type_config *tc, char *err, size_t errsz)
{
	int rc;

	CHECK((unsigned)t < VD_EVENT_TYPE_COUNT, "no event type %d", (int)t);
	if ((rc = check_type(tc, t, p->cfg.tick_ns, err, errsz)) != 0)
		return rc;
	live_store(&p->live[t], tc);
	return 0;
}

void
vd_pipeline_type_config(const struct vd_pipeline *p, enum vd_event_type t,
    struct vd_type_config *out)
{
	live_load(&p->live[t], out);
}

/* ------------------------------------------------------------------ */
/* Rings and pools                                                     */

int
vd_ring_init(struct vd_ring *r, unsigned size)
{
	if (size < 2 || (size & (size - 1)) != 0)
		return -EINVAL;
	r->buf = calloc(size, sizeof(*r->buf));
	if (r->buf == NULL)
		return -ENOMEM;
	ck_ring_init(&r->ring, size);
	r->size = size;
	return 0;
}

void
vd_ring_fini(struct vd_ring *r)
{
	free(r->buf);
	r->buf = NULL;
}

static unsigned
pow2_above(unsigned n)
{
	unsigned s = 2;

	while (s <= n)
		s <<= 1;
	return s;
}

/*
 * Under ThreadSanitizer the stack's own accesses (the entries' links) go
 * unrecorded, and the edge ck_stack provides is stated per box: a put
 * releases the box, the get that pops that box acquires it, so everything
 * the last holder did with it happens before the next holder's use.
 */
struct vd_box *
vd__pool_get(struct vd_pool *pool)
{
	struct ck_stack_entry *e;
	struct vd_box *b;

	VD_TSAN_IGNORE_BEGIN();
	e = ck_stack_pop_mpmc(&pool->free);
	VD_TSAN_IGNORE_END();
	if (e == NULL)
		return NULL;
	b = (struct vd_box *)((char *)e - offsetof(struct vd_box, free));
	VD_TSAN_ACQUIRE(b);
	return b;
}

void
vd__pool_put(struct vd_pool *pool, struct vd_box *b)
{
	VD_TSAN_RELEASE(b);
	VD_TSAN_IGNORE_BEGIN();
	ck_stack_push_mpmc(&pool->free, &b->free);
	VD_TSAN_IGNORE_END();
}

static int
pool_init(struct vd_pool *pool, unsigned size)
{
	unsigned i;

	/* calloc of this size maps fresh pages: untouched events cost no
	 * resident memory until they are first used. */
	pool->boxes = calloc(size, sizeof(*pool->boxes));
	if (pool->boxes == NULL)
		return -ENOMEM;
	pool->size = size;
	ck_stack_init(&pool->free);
	/* ck keeps its ABA generation as a char * and adds 1 to it on each
	 * pop; starting from NULL that is an offset on a null pointer, which
	 * UBSan rightly reports.  Any other start value counts as well. */
	pool->free.generation = (char *)pool;
	/* Pushed in reverse, so the first boxes taken are the lowest. */
	for (i = size; i > 0; i--)
		vd__pool_put(pool, &pool->boxes[i - 1]);
	return 0;
}

static void
pool_fini(struct vd_pool *pool)
{
	free(pool->boxes);
	pool->boxes = NULL;
}

static inline void
box_put(struct vd_pipeline *p, struct vd_box *b)
{
	/* acq_rel: every earlier use of the box by the other holder happens
	 * before its return to the pool. */
	if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
		/* The last holder: nobody reads the event any more. */
		if (p->ops.retire != NULL && b->ev.type < VD_AUTH_TYPE_COUNT)
			p->ops.retire(p->bctx, b->ev.type, &b->ev.handle);
		vd__pool_put(&p->pools[b->ev.type], b);
	}
}

/* ------------------------------------------------------------------ */
/* Parking                                                             */

/*
 * Orders a producer's ring publishes before its reads of the consumers'
 * parked flag and next wake time (one fence covers both).
 */
static inline void
publish_fence(void)
{
	atomic_thread_fence(memory_order_seq_cst);
}

/*
 * The producer side of the park/wake handshake, which never loses a wake-up.
 * Called after the item is published in a ring and after a seq_cst fence
 * (publish_fence), which pairs with the fence in sleeper_park(): either we
 * see parked == 1, or the sleeper's recheck sees our item.
 */
static inline bool
sleeper_wake(struct vd_sleeper *s)
{
	if (atomic_load_explicit(&s->parked, memory_order_relaxed) == 0)
		return false;
	/* Only the producer that clears the flag pays for the syscall. */
	if (atomic_exchange_explicit(&s->parked, 0, memory_order_relaxed) == 0)
		return false;
	atomic_store_explicit(&s->wake_ns, vd_now_ns(), memory_order_relaxed);
	atomic_fetch_add_explicit(&s->seq, 1, memory_order_release);
	atomic_fetch_add_explicit(&s->wakeups, 1, memory_order_relaxed);
	vd_park_wake(&s->seq, 1);
	return true;
}

/*
 * The sleeper side: announce, fence, recheck, wait on the sequence number
 * read before announcing.  A wake between the recheck and the wait changes
 * the sequence number, so the wait returns at once.
 */
static void
sleeper_park(struct vd_sleeper *s, bool (*has_work)(void *), void *arg,
    uint64_t timeout_ns)
{
	uint32_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);

	atomic_store_explicit(&s->parked, 1, memory_order_relaxed);
	/* Orders parked = 1 before the recheck of the rings; pairs with the
	 * producer's publish_fence(). */
	atomic_thread_fence(memory_order_seq_cst);
	if (!has_work(arg))
		vd_park_wait(&s->seq, seq, timeout_ns);
	atomic_store_explicit(&s->parked, 0, memory_order_relaxed);
}

/*
 * Wake-ups on busy CPUs (vd_config.defer_wakes).  While the spin gate is
 * closed by readings (pressure, or no CPU idle), a producer leaves the
 * wake of a parked consumer to the timer's next tick
 * (timer_wake_deferred): on a CPU the delivering thread has to share, a
 * wake-up costs it a syscall and may put the wakee ahead of it, while
 * the event can wait a tick.  The timer ticks while AUTH events are in
 * flight; it sets t_next_wake_ns to UINT64_MAX before it sleeps for
 * good, and its park's recheck (timer_has_work) sees what waits for a
 * parked consumer.  So a producer
 * that published, fenced, and then read a value other than UINT64_MAX
 * leaves nothing behind: either the timer wakes at its tick, or it has
 * not parked yet and its recheck sees the work.
 */
#define DEFER_DEPTH_MAX 16u

/* The spin gate is judged by readings, not by the CPU count alone. */
static inline bool
gate_judged(const struct vd_pipeline *p)
{
	return p->sg_pressure || p->sg_idle != NULL;
}

static inline bool
gate_closed(const struct vd_pipeline *p, uint64_t now)
{
	return gate_judged(p) &&
	    now <
	    atomic_load_explicit(&p->sg_closed_until_ns, memory_order_relaxed);
}

/* The wake of ring r's consumer s, by a producer after publish_fence(). */
static inline void
producer_wake(struct vd_pipeline *p, struct vd_cells *c, struct vd_sleeper *s,
    const struct vd_ring *r, uint64_t now)
{
	if (p->cfg.defer_wakes && gate_closed(p, now) &&
	    vd_ring_depth(r) < DEFER_DEPTH_MAX &&
	    atomic_load_explicit(&p->t_next_wake_ns, memory_order_relaxed) !=
	        UINT64_MAX) {
		if (atomic_load_explicit(&s->parked, memory_order_relaxed))
			vd__cell_add(c, &c->deferred_wakes, 1);
		return;
	}
	sleeper_wake(s);
}

/* ------------------------------------------------------------------ */
/* Producers                                                           */

static _Thread_local struct {
	uint64_t pipeline_id;
	struct vd_cells *cells;
} tls_producer;

static struct vd_cells *
producer_cells(struct vd_pipeline *p)
{
	unsigned slot;

	if (tls_producer.pipeline_id == p->id)
		return tls_producer.cells;
	/* First submit from this thread: claim a private cell set, or share
	 * the overflow one when the slots are gone. */
	slot =
	    atomic_fetch_add_explicit(&p->pcells_used, 1, memory_order_acq_rel);
	if (slot >= VD_PRODUCER_SLOTS)
		slot = VD_PRODUCER_SLOTS;
	tls_producer.pipeline_id = p->id;
	tls_producer.cells = &p->pcells[slot];
	return tls_producer.cells;
}

static inline unsigned
shard_of(const struct vd_pipeline *p, pid_t pid)
{
	uint32_t h = (uint32_t)pid * 0x9e3779b1u;

	return (unsigned)(((uint64_t)h * p->nworkers) >> 32);
}

struct vd_event *
vd_pipeline_event_get(struct vd_pipeline *p, enum vd_event_type t)
{
	struct vd_box *b;
	struct vd_event *ev;

	if ((unsigned)t >= VD_EVENT_TYPE_COUNT)
		return NULL;
	b = vd__pool_get(&p->pools[t]);
	if (b == NULL)
		return NULL;
	ev = &b->ev;
	ev->type = (uint16_t)t;
	ev->shard = 0;
	ev->open_flags = 0;
	ev->arrival_ns = 0;
	ev->deadline_ns = 0;
	memset(&ev->handle, 0, sizeof(ev->handle));
	ev->handle.fd = -1;
	ev->target_truncated = ev->target2_truncated = false;
	ev->close_modified = false;
	ev->have = 0;
	b->deferred = false;
	/* ctime is read only when target_id is set; dev and ino, set by
	 * a backend that knows them even then (the digest reader checks a
	 * file it opens by path against them), are 0 when unknown. */
	ev->target_id = false;
	ev->target_dev = ev->target_ino = 0;
	memset(&ev->exec_sig, 0, offsetof(struct vd_signature, team_id));
	ev->exec_sig.team_id[0] = ev->exec_sig.signing_id[0] = '\0';
	memset(&ev->proc, 0, offsetof(struct vd_process, comm));
	ev->proc.comm[0] = ev->proc.team_id[0] = ev->proc.signing_id[0] = '\0';
	ev->proc.exe[0] = ev->target[0] = ev->target2[0] = '\0';
	return ev;
}

/* Answered boxes wait in the cancel rings for the timer to recycle. */
static bool
boxes_to_recycle(const struct vd_pipeline *p)
{
	unsigned i;

	for (i = 0; i < p->nslots; i++)
		if (vd_ring_depth(&p->workers[i].cancel) != 0)
			return true;
	return vd_ring_depth(&p->ctl_cancel) != 0;
}

static void timer_kick(struct vd_pipeline *p);

struct vd_event *
vd_pipeline_event_wait(
    struct vd_pipeline *p, enum vd_event_type t, uint64_t max_ns)
{
	struct vd_event *ev = vd_pipeline_event_get(p, t);
	uint64_t end;

	if (ev != NULL || (unsigned)t >= VD_EVENT_TYPE_COUNT ||
	    !boxes_to_recycle(p))
		return ev;
	atomic_fetch_add_explicit(&p->pool_waits, 1, memory_order_relaxed);
	end = vd_now_ns() + max_ns;
	do {
		timer_kick(p);
		vd_sleep_until(vd_now_ns() + POOL_WAIT_STEP_NS);
		if ((ev = vd_pipeline_event_get(p, t)) != NULL)
			return ev;
	} while (vd_now_ns() < end && boxes_to_recycle(p));
	return NULL;
}

static inline void
count_decision(const struct vd_cells *c, struct vd_type_cells *tc,
    const struct vd_decision *d)
{
	vd__cell_add(c, d->verdict == VD_DENY ? &tc->denied : &tc->allowed, 1);
	if (d->audit)
		vd__cell_add(c, &tc->audited, 1);
}

static inline void
default_decision(
    const struct vd_pipeline *p, enum vd_event_type t, struct vd_decision *d)
{
	d->verdict = atomic_load_explicit(
	    &p->live[t].default_verdict, memory_order_relaxed);
	d->audit = false;
	d->cache = false;
	d->path_only = false;
	d->would_deny = false;
	d->open_flags =
	    d->verdict == VD_ALLOW ? VD_OPEN_READ | VD_OPEN_WRITE : 0;
	d->rule = 0;
	d->needs = 0;
}

/*
 * Answers with the default at once; `kind` says why, for the counters.  The
 * latency histogram holds queued events only (submit_ns != 0): an answer
 * given inside submit says nothing about the pipeline's latency.
 */
/* Tells the observer, if any, of an answer just given. */
static inline void
observe(const struct vd_pipeline *p, enum vd_event_type t,
    const struct vd_event *ev, const struct vd_decision *d,
    enum vd_answered_by by, uint64_t now)
{
	struct vd_answer a;

	if (p->observer == NULL)
		return;
	a.ev = ev;
	a.type = t;
	a.d = d;
	a.by = (uint8_t)by;
	a.answer_ns = now;
	p->observer(p->observer_ctx, &a);
}

static void
answer_now(struct vd_pipeline *p, struct vd_cells *c, enum vd_event_type t,
    const struct vd_handle *h, const struct vd_event *ev, uint64_t submit_ns,
    uint64_t deadline_ns, _Atomic uint64_t *kind, enum vd_answered_by by)
{
	struct vd_type_cells *tc = &c->t[t];
	struct vd_decision d;
	uint64_t now;

	default_decision(p, t, &d);
	if (!p->ops.respond(p->bctx, t, h, &d))
		vd__cell_add(c, &tc->respond_errors, 1);
	now = deadline_ns != 0 || p->observer != NULL ? vd_now_ns() : 0;
	observe(p, t, ev, &d, by, now);
	vd__cell_add(c, kind, 1);
	count_decision(c, tc, &d);
	if (deadline_ns != 0) {
		if (submit_ns != 0)
			vd__hist_add(c, &tc->latency, now - submit_ns);
		vd__cell_min_i64(
		    &tc->margin_min_ns, (int64_t)(deadline_ns - now));
	}
}

void
vd_pipeline_refuse(
    struct vd_pipeline *p, enum vd_event_type t, const struct vd_handle *h)
{
	struct vd_cells *c = producer_cells(p);
	struct vd_type_cells *tc = &c->t[t];

	vd__cell_add(c, &tc->received, 1);
	vd__cell_add(c, &tc->dropped_pool, 1);
	if (vd_event_type_action(t) == VD_ACTION_NOTIFY) {
		vd__cell_add(c, &tc->dropped, 1);
		if (p->ops.release != NULL)
			p->ops.release(p->bctx, t, h);
		return;
	}
	answer_now(p, c, t, h, NULL, 0, 0, &tc->dropped, VD_BY_DROP);
	/* No event: nothing but this call saw the handle. */
	if (p->ops.retire != NULL)
		p->ops.retire(p->bctx, t, h);
}

static bool
submit_notify(
    struct vd_pipeline *p, struct vd_cells *c, struct vd_box *b, uint64_t now)
{
	enum vd_event_type t = b->ev.type;
	struct vd_type_cells *tc = &c->t[t];
	struct vd_ring *r = &p->rings[t][0];

	b->submit_ns = now;
	if (!atomic_load_explicit(&p->accepting, memory_order_relaxed) ||
	    !vd_ring_push(r, b, p->cfg.multi_producer)) {
		vd__cell_add(c, &tc->dropped, 1);
		if (p->ops.release != NULL)
			p->ops.release(p->bctx, t, &b->ev.handle);
		atomic_store_explicit(&b->refs, 1, memory_order_relaxed);
		box_put(p, b);
		return false;
	}
	vd__cell_max(&tc->ring_depth_max, vd_ring_depth(r));
	publish_fence();
	producer_wake(p, c, &p->nsl, r, now);
	return true;
}

/* Wakes the timer thread now, whatever its next wake time. */
static void
timer_kick(struct vd_pipeline *p)
{
	atomic_fetch_add_explicit(&p->tsl.seq, 1, memory_order_release);
	vd_park_wake(&p->tsl.seq, 1);
}

/* Tells the timer about an arm; wakes it only for an earlier expiry. */
static inline void
timer_poke(struct vd_pipeline *p, uint64_t fire_ns)
{
	uint64_t nw;

	/* After publish_fence(), which pairs with the fence before the
	 * timer's recheck of the arm ring. */
	nw = atomic_load_explicit(&p->t_next_wake_ns, memory_order_relaxed);
	while (fire_ns < nw) {
		if (atomic_compare_exchange_weak_explicit(&p->t_next_wake_ns,
		        &nw, fire_ns, memory_order_relaxed,
		        memory_order_relaxed)) {
			timer_kick(p);
			return;
		}
	}
}

/*
 * A worker is stuck when the event in its hand has taken longer than
 * STUCK_NS: an evaluation far beyond its bound, or a worker that does not
 * get its CPU.  Events are not queued behind it (shard_past_stuck) and idle
 * workers take what already waits in its rings (worker_steal).
 */
#define STUCK_NS 1000000u

static inline bool
worker_stuck(const struct vd_worker *w, uint64_t now)
{
	uint64_t since =
	    atomic_load_explicit(&w->sl.busy_since, memory_order_relaxed);

	return since != 0 && now > since + STUCK_NS;
}

/* The first worker after `shard` that is not stuck; `shard` if all are. */
static unsigned
shard_past_stuck(struct vd_pipeline *p, unsigned shard, uint64_t now)
{
	unsigned k, s;

	for (k = 1; k < p->nworkers; k++) {
		s = (shard + k) % p->nworkers;
		if (!worker_stuck(&p->workers[s], now)) {
			atomic_fetch_add_explicit(
			    &p->redirected, 1, memory_order_relaxed);
			return s;
		}
	}
	return shard;
}

/* Submits to a worker's shard, or (inl) to the inline runner's. */
static bool
submit(struct vd_pipeline *p, struct vd_event *ev, bool inl)
{
	struct vd_box *b = vd__box_of(ev);
	enum vd_event_type t = ev->type;
	struct vd_cells *c = producer_cells(p);
	struct vd_type_cells *tc = &c->t[t];
	struct vd_type_config tcfg_live, *tcfg = &tcfg_live;
	uint64_t now = vd_now_ns(), budget, margin, fire_ns;
	struct vd_ring *r;
	unsigned shard;

	vd__cell_add(c, &tc->received, 1);
	if (ev->arrival_ns == 0)
		ev->arrival_ns = now;
	if (vd_event_type_action(t) == VD_ACTION_NOTIFY)
		return submit_notify(p, c, b, now);
	live_load(&p->live[t], tcfg);

	if (ev->deadline_ns == 0)
		ev->deadline_ns = ev->arrival_ns + tcfg->budget_ns;
	b->submit_ns = now;
	budget = ev->deadline_ns > now ? ev->deadline_ns - now : 0;
	vd__cell_min_u64(&tc->budget_min_ns, budget ? budget : 1);
	margin = vd_type_margin(tcfg, budget);

	if (budget <= tcfg->margin_floor_ns) {
		answer_now(p, c, t, &ev->handle, ev, 0, ev->deadline_ns,
		    &tc->answered_arrival, VD_BY_ARRIVAL);
		goto release;
	}
	if (!atomic_load_explicit(&p->accepting, memory_order_relaxed))
		goto drop;

	if (inl) {
		shard = p->nworkers;
	} else {
		shard = shard_of(p, ev->proc.pid);
		if (p->nworkers > 1 && worker_stuck(&p->workers[shard], now))
			shard = shard_past_stuck(p, shard, now);
	}
	ev->shard = (uint16_t)shard;
	/* Kept in a local: once published, the box may be answered, freed
	 * and reused by another producer before we return. */
	fire_ns = ev->deadline_ns - margin;
	b->fire_ns = fire_ns;
	b->tstate = VD_T_NONE;
	vd_wheel_node_init(&b->tnode);
	atomic_store_explicit(&b->state, VD_PENDING, memory_order_relaxed);
	/* One reference for the worker path, one for the timer's arm. */
	atomic_store_explicit(&b->refs, 2, memory_order_relaxed);
	r = &p->rings[t][shard];
	/* The inline ring has one producer, the runner itself. */
	if (!vd_ring_push(r, b, p->cfg.multi_producer && !inl))
		goto drop;
	/* The arm ring holds the whole AUTH pool: it cannot be full. */
	vd_ring_push(&p->arm, b, p->cfg.multi_producer);
	publish_fence();
	/* The inline runner answers it next, on this thread. */
	if (!inl)
		producer_wake(p, c, &p->workers[shard].sl, r, now);
	timer_poke(p, fire_ns);
	vd__cell_max(&tc->ring_depth_max, vd_ring_depth(r));
	return true;

drop:
	answer_now(p, c, t, &ev->handle, ev, 0, ev->deadline_ns, &tc->dropped,
	    VD_BY_DROP);
release:
	atomic_store_explicit(&b->refs, 1, memory_order_relaxed);
	box_put(p, b);
	return false;
}

void
vd_pipeline_set_observer(struct vd_pipeline *p,
    void (*fn)(void *ctx, const struct vd_answer *a), void *ctx)
{
	p->observer = fn;
	p->observer_ctx = ctx;
}

bool
vd_pipeline_submit(struct vd_pipeline *p, struct vd_event *ev)
{
	return submit(p, ev, false);
}

bool
vd_pipeline_submit_inline(struct vd_pipeline *p, struct vd_event *ev)
{
	/* A NOTIFY event, or no runner: the ordinary way. */
	return submit(p, ev,
	    p->cfg.inline_runner &&
	        vd_event_type_action(ev->type) == VD_ACTION_AUTH);
}

/* ------------------------------------------------------------------ */
/* Workers                                                             */

/* Events wait in one of w's own rings. */
static bool
worker_own_work(const struct vd_worker *w)
{
	const struct vd_pipeline *p = w->p;
	unsigned t;

	for (t = 0; t < VD_AUTH_TYPE_COUNT; t++)
		if (vd_ring_depth(&p->rings[t][w->id]) != 0)
			return true;
	return false;
}

/* Another worker is stuck with events waiting behind it. */
static bool
worker_can_steal(const struct vd_worker *w, uint64_t now)
{
	const struct vd_pipeline *p = w->p;
	unsigned i;

	for (i = 0; i < p->nslots; i++)
		if (i != w->id && worker_stuck(&p->workers[i], now) &&
		    worker_own_work(&p->workers[i]))
			return true;
	return false;
}

static bool
worker_has_work(void *arg)
{
	const struct vd_worker *w = arg;
	const struct vd_pipeline *p = w->p;

	if (atomic_load_explicit(&p->stopping, memory_order_relaxed))
		return true;
	return worker_own_work(w) ||
	    (p->nslots > 1 && worker_can_steal(w, vd_now_ns()));
}

/*
 * What cannot be had is marked so (VD_UNAVAILABLE), and the rules decide
 * without it; an evaluation that still needs more gets the default.
 */
static void
decide_without(const struct vd_pipeline *p, unsigned slot, struct vd_event *ev,
    struct vd_decision *d)
{
	enum vd_event_type t = ev->type;

	ev->have |= VD_UNAVAILABLE(d->needs);
	default_decision(p, t, d);
	p->eval.evaluate(p->eval.ctx, slot, ev, d);
	if (d->needs != 0) {
		atomic_fetch_add_explicit(
		    &((struct vd_pipeline *)p)->e_undecided, 1,
		    memory_order_relaxed);
		default_decision(p, t, d);
	}
}

/*
 * Hands an event whose evaluation needs `needs` to the enrichment
 * threads, with the caller's reference; false when it cannot go (no
 * enricher, the queue full, or enriched once already): the caller answers
 * with the default.
 */
static bool
defer(struct vd_pipeline *p, struct vd_box *b, uint32_t needs)
{
	unsigned i;

	if (b->deferred)
		return false;
	if (p->nenrich == 0 || p->enricher.enrich == NULL) {
		atomic_fetch_add_explicit(
		    &p->e_unavailable, 1, memory_order_relaxed);
		return false;
	}
	b->deferred = true;
	b->needs = needs;
	b->defer_ns = vd_now_ns();
	if (!vd_ring_push_mp(&p->enrich_q, b)) {
		atomic_fetch_add_explicit(&p->e_full, 1, memory_order_relaxed);
		return false;
	}
	atomic_fetch_add_explicit(&p->e_requested, 1, memory_order_relaxed);
	publish_fence();
	/* One thread woken is enough; one another producer woke first
	 * does not count. */
	for (i = p->enrich_first; i < p->nslots; i++)
		if (sleeper_wake(&p->workers[i].sl))
			break;
	return true;
}

static uint64_t answer_won(struct vd_worker *w, struct vd_box *b,
    const struct vd_decision *d, bool decided, uint64_t cookie);

/* Evaluates and answers one event; returns the time it was done. */
static uint64_t
worker_answer(struct vd_worker *w, struct vd_box *b, uint64_t now)
{
	struct vd_pipeline *p = w->p;
	enum vd_event_type t = b->ev.type;
	struct vd_decision d;
	uint32_t expect = VD_PENDING;
	uint64_t cookie = 0;

	/* The timer may have answered it already: skip the evaluation. */
	if (atomic_load_explicit(&b->state, memory_order_acquire) !=
	    VD_PENDING) {
		box_put(p, b);
		return now;
	}
	/* Producers look at it to keep events from queueing behind us. */
	atomic_store_explicit(&w->sl.busy_since, now, memory_order_relaxed);
	/* The backend's I/O first, so the evaluation itself stays pure. */
	if (p->ops.prepare != NULL)
		cookie = p->ops.prepare(p->bctx, w->id, &b->ev);
	default_decision(p, t, &d);
	p->eval.evaluate(p->eval.ctx, w->id, &b->ev, &d);
	if (d.needs != 0) {
		if (defer(p, b, d.needs))
			return vd_now_ns(); /* our reference went with it */
		decide_without(p, w->id, &b->ev, &d);
	}
	if (!atomic_compare_exchange_strong_explicit(&b->state, &expect,
	        VD_ANSWERED, memory_order_acq_rel, memory_order_acquire)) {
		box_put(p, b); /* the timer won */
		return vd_now_ns();
	}
	return answer_won(w, b, &d, true, cookie);
}

/*
 * The answer of a slot that won the state word: respond, count, and hand
 * the slot's reference to the timer with the cancel.  decided: tell the
 * backend (a worker, which ran prepare()).
 */
static uint64_t
answer_won(struct vd_worker *w, struct vd_box *b, const struct vd_decision *d,
    bool decided, uint64_t cookie)
{
	struct vd_pipeline *p = w->p;
	enum vd_event_type t = b->ev.type;
	struct vd_cells *c = w->cells;
	struct vd_type_cells *tc = &c->t[t];
	uint64_t now;

	if (!p->ops.respond(p->bctx, t, &b->ev.handle, d))
		vd__cell_add(c, &tc->respond_errors, 1);
	/* One clock read for the latency and the observer. */
	now = vd_now_ns();
	observe(p, t, &b->ev, d, VD_BY_WORKER, now);
	vd__cell_add(c, &tc->answered_worker, 1);
	count_decision(c, tc, d);
	vd__hist_add(c, &tc->latency, now - b->submit_ns);
	vd__cell_min_i64(
	    &tc->margin_min_ns, (int64_t)(b->ev.deadline_ns - now));
	/* After the answer, off its latency; before the cancel, which may
	 * let the timer recycle the box. */
	if (decided && p->ops.decided != NULL)
		p->ops.decided(p->bctx, w->id, &b->ev, d, cookie);
	/* Our reference travels with the cancel: the timer drops it, so the
	 * box cannot be reused before the timer has seen the cancel. */
	vd_ring_push_sp(&w->cancel, b);
	/* Boxes wait in the cancel ring until the timer's next tick; under a
	 * heavy load, do not let them drain the pool meanwhile. */
	if ((++w->cancels & 31) == 0 &&
	    vd_ring_depth(&w->cancel) > w->cancel_kick &&
	    atomic_load_explicit(&p->t_next_wake_ns, memory_order_relaxed) != 0)
		timer_kick(p);
	return now;
}

static void
add_relaxed(_Atomic uint64_t *x, uint64_t n)
{
	atomic_store_explicit(x,
	    atomic_load_explicit(x, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

/*
 * Pinning that cannot trap a worker on a busy CPU: a worker woken from a
 * park that first runs CONTENDED_WAKE_NS after the wake-up was sent found
 * its CPU taken (an idle CPU wakes in tens of microseconds; a CPU hog
 * holds it for a scheduler tick, 4 ms).  It lets the scheduler place it
 * anywhere it may run, and pins itself again after a while (1 s, doubling
 * each time it has to leave, at most a minute).  From the wake-up, not
 * from the event's submission: a wake-up left to the timer's tick
 * (defer_wakes) comes late by design.
 */
#define CONTENDED_WAKE_NS 1000000u
#define REPIN_FIRST_NS    1000000000u
#define REPIN_MAX_NS      64000000000u

static void
worker_woken(struct vd_worker *w, uint64_t wake_ns, uint64_t now)
{
	struct vd_pipeline *p = w->p;

	if (!w->pinned || now < wake_ns + CONTENDED_WAKE_NS)
		return;
	if (vd_unpin_self(p->cpus, p->ncpus) != 0)
		return;
	w->pinned = false;
	w->repin_ns = now + w->repin_wait_ns;
	if (w->repin_wait_ns < REPIN_MAX_NS)
		w->repin_wait_ns *= 2;
	add_relaxed(&w->unpins, 1);
}

static void
worker_repin(struct vd_worker *w, uint64_t now)
{
	if (w->pinned || !w->p->cfg.pin_workers || now < w->repin_ns)
		return;
	w->pinned = vd_pin_self(w->pin_cpu) == 0;
	w->repin_ns = UINT64_MAX;
}

/* Pops the rings of worker `from` (w's own, or a stuck one's) and answers
 * up to WORKER_BATCH events of each type.  `wake_ns`: w just came back
 * from a park, woken at that time (0: not woken, or not by a wake-up). */
static unsigned
worker_drain(
    struct vd_worker *w, struct vd_worker *from, uint64_t now, uint64_t wake_ns)
{
	struct vd_pipeline *p = w->p;
	struct vd_box *b;
	unsigned t, k, n = 0;

	for (t = 0; t < VD_AUTH_TYPE_COUNT; t++) {
		for (k = 0; k < WORKER_BATCH; k++) {
			/* At stop, what is left gets the default instead. */
			if (atomic_load_explicit(
			        &p->stopping, memory_order_relaxed))
				return n;
			/* Many consumers: another worker may steal. */
			b = vd_ring_pop_mc(&p->rings[t][from->id]);
			if (b == NULL)
				break;
			if (wake_ns != 0 && n == 0)
				worker_woken(w, wake_ns, now);
			now = worker_answer(w, b, now);
			n++;
		}
	}
	return n;
}

/* Takes events waiting behind stuck workers. */
static unsigned
worker_steal(struct vd_worker *w, uint64_t now)
{
	struct vd_pipeline *p = w->p;
	unsigned i, n = 0, k;

	for (i = 0; i < p->nslots; i++)
		if (i != w->id && worker_stuck(&p->workers[i], now)) {
			k = worker_drain(w, &p->workers[i], now, 0);
			add_relaxed(&w->stolen, k);
			n += k;
		}
	return n;
}

/*
 * The spin gate.  A spinning worker holds a CPU that never goes idle, so
 * a thread waiting for a CPU elsewhere is not pulled over to it: on a
 * small host the spin can take the time the thread delivering events, or
 * the timer, needs.  Workers spin only while a CPU is left idle and
 * threads do not queue for the CPUs.  Two readings, taken by whichever
 * thread comes first (a worker about to spin, the timer's tick):
 *  - the CPUs' idle time (vd_cpu_idle_read: the CPUs this process may
 *    use), every SG_IDLE_WINDOW_NS: a window in which they were idle for
 *    less than SG_IDLE_PERMILLE of one CPU, the workers' own spinning
 *    counted as idle, closes the gate until the next reading says
 *    otherwise.  Busy loops on every CPU keep it closed whatever the
 *    pressure: they wait for nobody, yet a woken thread has to take a CPU
 *    from one of them;
 *  - the system's CPU pressure (the time runnable threads spent waiting),
 *    every SG_WINDOW_NS: a window in which threads waited more than
 *    SG_PRESSURE_PERMILLE of the time closes the gate for a back-off that
 *    doubles while the pressure lasts (at most SG_BACKOFF_MAX_NS) and
 *    halves again after a clean window of spinning.
 * The gate is closed from the start until the first readings judge.
 * Without either count (macOS, Linux without PSI or /proc) the gate is
 * open only where CPUs outnumber the workers by two: one CPU for the
 * producer, one for everything else.
 */
#define SG_WINDOW_NS      20000000u
#define SG_BACKOFF_MIN_NS 40000000u
#define SG_BACKOFF_MAX_NS 1000000000u
/* Measured on 2 CPUs: the handoffs of a busy event stream (a wake-up that
 * lands on a CPU still finishing something) come to 10-15 % at 20-30 k
 * events/s, with or without spinning; one CPU hog to 35-40 %, two to
 * 55-85 %. */
#define SG_PRESSURE_PERMILLE 250u
/* /proc/stat counts idle time in 10 ms steps: 100 ms windows (the first
 * one shorter, idle_window).  A quarter of a CPU: busy loops on every
 * CPU leave about none, while a host with room clears it well even when
 * a spinning worker's own evaluations, not counted, fill half its CPU. */
#define SG_IDLE_WINDOW_NS 100000000u
#define SG_IDLE_PERMILLE  250u
/* A longer gap between readings (nobody spun) judges nothing. */
#define SG_STALE_NS 1000000000u

bool
vd__spin_open(const struct vd_pipeline *p, uint64_t now)
{
	if (p->cfg.spin_ns == 0)
		return false;
	if (!gate_judged(p))
		return p->sg_static_open;
	return !gate_closed(p, now);
}

/* Closes the gate until at least t. */
static void
gate_close_until(struct vd_pipeline *p, uint64_t t)
{
	uint64_t cur =
	    atomic_load_explicit(&p->sg_closed_until_ns, memory_order_relaxed);

	/* One judge at a time (sg_busy), or the start: a plain store. */
	if (t > cur)
		atomic_store_explicit(
		    &p->sg_closed_until_ns, t, memory_order_relaxed);
}

/* Every worker's spinning so far, ns. */
static uint64_t
spin_total_ns(const struct vd_pipeline *p)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < p->nslots; i++)
		n += atomic_load_explicit(
		    &p->workers[i].spin_ns, memory_order_relaxed);
	return n;
}

static void
judge_pressure(struct vd_pipeline *p, uint64_t now, uint64_t us)
{
	uint64_t dt = now - p->sg_last_ns, waited_ns, closed_until;

	waited_ns = (us - p->sg_last_us) * 1000u;
	closed_until =
	    atomic_load_explicit(&p->sg_closed_until_ns, memory_order_relaxed);
	/* The start's own burst of new threads is no contention to back
	 * off from: judged from the first window after it. */
	if (p->sg_last_ns != 0 && dt < SG_STALE_NS &&
	    p->sg_last_ns >= p->sg_settled_ns) {
		if (waited_ns * 1000u > dt * SG_PRESSURE_PERMILLE) {
			gate_close_until(p, now + p->sg_backoff_ns);
			atomic_fetch_add_explicit(
			    &p->sg_closed, 1, memory_order_relaxed);
			if (p->sg_backoff_ns < SG_BACKOFF_MAX_NS)
				p->sg_backoff_ns *= 2;
		} else if (closed_until <= p->sg_last_ns &&
		    p->sg_backoff_ns > SG_BACKOFF_MIN_NS) {
			/* Spun the whole window, and nobody waited. */
			p->sg_backoff_ns /= 2;
		}
	}
	p->sg_last_ns = now;
	p->sg_last_us = us;
}

static void
judge_idle(
    struct vd_pipeline *p, uint64_t now, uint64_t idle_us, uint64_t spin_ns)
{
	uint64_t dt = now - p->sg_idle_last_ns, room_ns;

	if (p->sg_idle_last_ns != 0 && dt < SG_STALE_NS) {
		room_ns = idle_us > p->sg_idle_last_us
		    ? (idle_us - p->sg_idle_last_us) * 1000u
		    : 0;
		room_ns += spin_ns - p->sg_idle_last_spin_ns;
		if (room_ns * 1000u < dt * SG_IDLE_PERMILLE) {
			/* Until the next reading, and a window's slack. */
			gate_close_until(
			    p, now + SG_IDLE_WINDOW_NS + SG_WINDOW_NS);
			atomic_fetch_add_explicit(
			    &p->sg_full, 1, memory_order_relaxed);
		}
	}
	p->sg_idle_last_ns = now;
	p->sg_idle_last_us = idle_us;
	p->sg_idle_last_spin_ns = spin_ns;
}

void
vd__spin_judge(struct vd_pipeline *p, uint64_t now, uint64_t waited_us,
    uint64_t idle_us, uint64_t spin_ns)
{
	atomic_fetch_add_explicit(&p->sg_samples, 1, memory_order_relaxed);
	if (waited_us != VD_NO_READING)
		judge_pressure(p, now, waited_us);
	if (idle_us != VD_NO_READING)
		judge_idle(p, now, idle_us, spin_ns);
}

/* The first idle window after the start is one pressure window: coarse
 * (two 10 ms steps per CPU), but it tells busy loops on every CPU (no
 * step at all) from a host with room, and the gate opens or not soon. */
static uint64_t
idle_window(const struct vd_pipeline *p, uint64_t now)
{
	return now < p->sg_settled_ns ? SG_WINDOW_NS : SG_IDLE_WINDOW_NS;
}

/* Reads what is due, once per window, whichever thread comes first: a
 * worker about to spin, or the timer's tick (defer_wakes). */
static void
gate_sample(struct vd_pipeline *p, uint64_t now)
{
	uint64_t next, us = VD_NO_READING, idle = VD_NO_READING;

	if (!gate_judged(p))
		return;
	next = atomic_load_explicit(&p->sg_next_ns, memory_order_relaxed);
	if (now >= next &&
	    atomic_compare_exchange_strong_explicit(&p->sg_next_ns, &next,
	        now + SG_WINDOW_NS, memory_order_relaxed,
	        memory_order_relaxed) &&
	    !atomic_exchange_explicit(
	        &p->sg_busy, true, memory_order_acquire)) {
		/* One judge at a time (a reading can outlast a window); the
		 * flag orders each judge's state before the next. */
		if (p->sg_pressure && vd_cpu_pressure_read(p->sg_fd, &us) != 0)
			us = VD_NO_READING;
		if (p->sg_idle != NULL &&
		    now - p->sg_idle_last_ns >= idle_window(p, now) &&
		    vd_cpu_idle_read(p->sg_idle, &idle) != 0)
			idle = VD_NO_READING;
		if (us != VD_NO_READING || idle != VD_NO_READING)
			vd__spin_judge(p, now, us, idle, spin_total_ns(p));
		atomic_store_explicit(&p->sg_busy, false, memory_order_release);
	}
}

/*
 * At vd_pipeline_start, before any of its threads runs: the gate closed
 * until the first readings can judge (two pressure windows: the first
 * idle window is one), the idle time's baseline taken.  The start's own
 * burst of new threads (this process's, and its callers') is no
 * contention to back off from: pressure is judged only from the first
 * window that begins after that.
 */
static void
gate_start(struct vd_pipeline *p, uint64_t now)
{
	uint64_t idle = VD_NO_READING, until = now + 2 * SG_WINDOW_NS;

	if (!gate_judged(p))
		return;
	p->sg_settled_ns = until;
	if (p->sg_idle != NULL && vd_cpu_idle_read(p->sg_idle, &idle) == 0)
		vd__spin_judge(p, now, VD_NO_READING, idle, 0);
	atomic_store_explicit(
	    &p->sg_next_ns, now + SG_WINDOW_NS, memory_order_relaxed);
	gate_close_until(p, until);
}

static bool
spin_allowed(struct vd_pipeline *p, uint64_t now)
{
	gate_sample(p, now);
	return vd__spin_open(p, now);
}

/* A yield that returns later than this gave the CPU to another thread. */
#define YIELD_CONTENDED_NS 5000u

/* The calling pipeline thread takes class c; the first refusal is kept
 * for vd_pipeline_priority_error. */
static void
take_class(struct vd_pipeline *p, enum vd_thread_class c)
{
	int rc = vd_thread_class(c), none = 0;

	if (rc != 0)
		atomic_compare_exchange_strong(&p->prio_err, &none, rc);
}

int
vd_pipeline_priority_error(const struct vd_pipeline *p)
{
	return atomic_load(&((struct vd_pipeline *)p)->prio_err);
}

/*
 * Spins while events keep coming, up to w->spin_cur; true when work came.
 * Yields while spinning: where a producer shares this CPU it runs instead
 * of waiting for the spin to end; alone, yield returns at once.  A yield
 * that took long means another thread wanted this CPU: spinning would
 * only take its time, so it stops (and the next spin starts from 0).
 */
static bool
worker_spin(struct vd_worker *w, uint64_t t0)
{
	uint64_t spin_end = t0 + w->spin_cur, t1 = t0, y;
	bool got;

	atomic_fetch_add_explicit(&w->p->spinners, 1, memory_order_relaxed);
	while (!(got = worker_has_work(w)) && (t1 = vd_now_ns()) < spin_end) {
		vd_yield();
		y = vd_now_ns();
		if (y - t1 > YIELD_CONTENDED_NS) {
			w->spin_cur = 0;
			break;
		}
	}
	atomic_fetch_sub_explicit(&w->p->spinners, 1, memory_order_relaxed);
	add_relaxed(&w->spin_ns, vd_now_ns() - t0);
	return got;
}

static void *
worker_main(void *arg)
{
	struct vd_worker *w = arg;
	struct vd_pipeline *p = w->p;
	uint64_t max = p->cfg.spin_ns, t0, t1;
	uint64_t wake_ns = 0;
	unsigned n;
	char name[16];

	snprintf(name, sizeof(name), "vd-worker-%u", w->id);
	vd_thread_name(name);
	take_class(p, VD_THREAD_WORKER);
	/* From the last CPU down: CPU 0 usually takes the most interrupts,
	 * and an unpinned reader thread finds the first CPUs free. */
	w->pin_cpu = p->cpus[p->ncpus - 1 - w->id % p->ncpus];
	w->repin_wait_ns = REPIN_FIRST_NS;
	w->repin_ns = 0;
	worker_repin(w, 0);
	w->spin_cur = max;
	for (;;) {
		t0 = vd_now_ns();
		n = worker_drain(w, w, t0, wake_ns);
		wake_ns = 0;
		if (n == 0 && p->nslots > 1)
			n = worker_steal(w, t0);
		if (n != 0) {
			t1 = vd_now_ns();
			add_relaxed(&w->events, n);
			add_relaxed(&w->busy_ns, t1 - t0);
			continue;
		}
		/* Idle: not stuck, whatever producers last saw. */
		atomic_store_explicit(
		    &w->sl.busy_since, 0, memory_order_relaxed);
		if (atomic_load_explicit(&p->stopping, memory_order_acquire))
			break;
		/* Spin while events keep coming; park quickly once they
		 * stop. */
		if (w->spin_cur != 0 && spin_allowed(p, t0)) {
			if (worker_spin(w, t0)) {
				w->spin_cur = max;
				continue;
			}
			w->spin_cur /= 2;
		}
		add_relaxed(&w->parks, 1);
		t0 = vd_now_ns();
		worker_repin(w, t0);
		atomic_store_explicit(&w->sl.wake_ns, 0, memory_order_relaxed);
		sleeper_park(&w->sl, worker_has_work, w, UINT64_MAX);
		wake_ns =
		    atomic_load_explicit(&w->sl.wake_ns, memory_order_relaxed);
		/* Woken soon after parking: the load is back, spin longer. */
		if (vd_now_ns() - t0 < max) {
			w->spin_cur = w->spin_cur * 2 + max / 8;
			if (w->spin_cur > max)
				w->spin_cur = max;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Enrichment threads (deferred decisions)                             */

static bool
enrich_has_work(void *arg)
{
	const struct vd_worker *w = arg;
	const struct vd_pipeline *p = w->p;

	return atomic_load_explicit(&p->stopping, memory_order_relaxed) ||
	    vd_ring_depth(&((struct vd_pipeline *)p)->enrich_q) != 0;
}

static void
e_latency_add(struct vd_pipeline *p, uint64_t v)
{
	struct vd_hist_cell *h = &p->e_latency;

	atomic_fetch_add_explicit(
	    &h->b[vd_hist_bucket(v)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	vd__cell_max(&h->max, v);
}

/*
 * Enriches one deferred event, evaluates it again and answers it, unless
 * the timer answered first; drops the reference its worker handed over.
 */
static void
enrich_one(struct vd_worker *w, struct vd_box *b)
{
	struct vd_pipeline *p = w->p;
	enum vd_event_type t = b->ev.type;
	struct vd_decision d;
	uint32_t expect = VD_PENDING;
	bool late =
	    atomic_load_explicit(&b->state, memory_order_acquire) != VD_PENDING;
	int rc;

	rc = p->enricher.enrich(p->enricher.ctx, &b->ev, b->needs, late);
	e_latency_add(p, vd_now_ns() - b->defer_ns);
	atomic_fetch_add_explicit(
	    rc == 0 ? &p->e_completed : &p->e_failed, 1, memory_order_relaxed);
	if (late ||
	    atomic_load_explicit(&b->state, memory_order_acquire) !=
	        VD_PENDING) {
		atomic_fetch_add_explicit(&p->e_late, 1, memory_order_relaxed);
		box_put(p, b);
		return;
	}
	default_decision(p, t, &d);
	if (rc == 0)
		p->eval.evaluate(p->eval.ctx, w->id, &b->ev, &d);
	else
		d.needs = b->needs;
	/* Failed, or still short of something: decide without it. */
	if (d.needs != 0)
		decide_without(p, w->id, &b->ev, &d);
	if (!atomic_compare_exchange_strong_explicit(&b->state, &expect,
	        VD_ANSWERED, memory_order_acq_rel, memory_order_acquire)) {
		atomic_fetch_add_explicit(&p->e_late, 1, memory_order_relaxed);
		box_put(p, b); /* the timer won meanwhile */
		return;
	}
	atomic_fetch_add_explicit(&p->e_answered, 1, memory_order_relaxed);
	answer_won(w, b, &d, false, 0);
}

static void *
enrich_main(void *arg)
{
	struct vd_worker *w = arg;
	struct vd_pipeline *p = w->p;
	struct vd_box *b;
	char name[16];

	snprintf(name, sizeof(name), "vd-enrich-%u", w->id - p->enrich_first);
	vd_thread_name(name);
	take_class(p, VD_THREAD_BACKGROUND);
	/* At stop what waits stays for the timer: a digest of a large file
	 * must not hold the stop up. */
	while (!atomic_load_explicit(&p->stopping, memory_order_acquire)) {
		if ((b = vd_ring_pop_mc(&p->enrich_q)) != NULL) {
			enrich_one(w, b);
			add_relaxed(&w->events, 1);
			continue;
		}
		add_relaxed(&w->parks, 1);
		sleeper_park(&w->sl, enrich_has_work, w, UINT64_MAX);
	}
	return NULL;
}

void
vd_pipeline_set_enricher(struct vd_pipeline *p, const struct vd_enricher *e)
{
	if (e != NULL)
		p->enricher = *e;
	else
		memset(&p->enricher, 0, sizeof(p->enricher));
}

unsigned
vd_pipeline_run_inline(struct vd_pipeline *p)
{
	struct vd_worker *w = &p->workers[p->nworkers];
	uint64_t t0, t1;
	unsigned n = 0, k;

	if (!p->cfg.inline_runner)
		return 0;
	t0 = vd_now_ns();
	/* Until the ring is empty: nobody else answers it while we run. */
	while ((k = worker_drain(w, w, vd_now_ns(), 0)) != 0)
		n += k;
	atomic_store_explicit(&w->sl.busy_since, 0, memory_order_relaxed);
	if (n != 0) {
		t1 = vd_now_ns();
		add_relaxed(&w->events, n);
		add_relaxed(&w->busy_ns, t1 - t0);
	}
	return n;
}

bool
vd_pipeline_inline_stuck(const struct vd_pipeline *p)
{
	return p->cfg.inline_runner &&
	    worker_stuck(&p->workers[p->nworkers], vd_now_ns());
}

bool
vd_pipeline_spin_open(const struct vd_pipeline *p)
{
	return vd__spin_open(p, vd_now_ns());
}

bool
vd_pipeline_worker_spinning(const struct vd_pipeline *p)
{
	return atomic_load_explicit(&((struct vd_pipeline *)p)->spinners,
	           memory_order_relaxed) != 0;
}

unsigned
vd_pipeline_eval_slots(const struct vd_pipeline *p)
{
	return p->nslots;
}

/* ------------------------------------------------------------------ */
/* Timer thread                                                        */

#define box_of_node(n)                                                         \
	((struct vd_box *)((char *)(n)-offsetof(struct vd_box, tnode)))

void
vd__timer_arm(struct vd_pipeline *p, struct vd_box *b)
{
	if (b->tstate == VD_T_CANCELLED_EARLY) {
		b->tstate = VD_T_DONE;
		box_put(p, b);
		return;
	}
	b->tstate = VD_T_ARMED;
	vd__cell_add(p->tcells, &p->tcells->t_armed, 1);
	vd_wheel_add(p->wheel, &b->tnode, b->fire_ns / p->cfg.tick_ns);
}

void
vd__timer_cancel(struct vd_pipeline *p, struct vd_box *b)
{
	switch (b->tstate) {
	case VD_T_NONE:
		/* The cancel overtook its arm: the arm will drop its ref. */
		b->tstate = VD_T_CANCELLED_EARLY;
		break;
	case VD_T_ARMED:
		vd_wheel_del(p->wheel, &b->tnode);
		b->tstate = VD_T_DONE;
		vd__cell_add(p->tcells, &p->tcells->t_cancelled, 1);
		box_put(p, b); /* the arm's reference */
		break;
	default:
		break; /* fired already and lost the race */
	}
	box_put(p, b); /* the reference the cancel carried */
}

void
vd__timer_fire(
    struct vd_pipeline *p, struct vd_box *b, uint64_t now, bool shutdown)
{
	struct vd_cells *c = p->tcells;
	enum vd_event_type t = b->ev.type;
	struct vd_type_cells *tc = &c->t[t];
	uint32_t expect = VD_PENDING;

	b->tstate = VD_T_DONE;
	if (atomic_compare_exchange_strong_explicit(&b->state, &expect,
	        VD_ANSWERED, memory_order_acq_rel, memory_order_acquire)) {
		answer_now(p, c, t, &b->ev.handle, &b->ev, b->submit_ns,
		    b->ev.deadline_ns, &tc->answered_default,
		    shutdown ? VD_BY_SHUTDOWN : VD_BY_TIMER);
		if (shutdown)
			vd__cell_add(c, &tc->shutdown, 1);
		else
			vd__cell_add(c, &c->t_fired, 1);
		if (now > b->fire_ns)
			vd__cell_max(&c->t_late_max, now - b->fire_ns);
	} else {
		vd__cell_add(c, &c->t_lost, 1);
	}
	box_put(p, b); /* the arm's reference */
}

static bool
timer_drain(struct vd_pipeline *p)
{
	struct vd_box *b;
	unsigned i;
	bool any = false;

	/* Arms first, so most cancels find their arm on the wheel. */
	while ((b = vd_ring_pop_sc(&p->arm)) != NULL) {
		vd__timer_arm(p, b);
		any = true;
	}
	for (i = 0; i < p->nslots; i++)
		while ((b = vd_ring_pop_sc(&p->workers[i].cancel)) != NULL) {
			vd__timer_cancel(p, b);
			any = true;
		}
	while ((b = vd_ring_pop_sc(&p->ctl_cancel)) != NULL) {
		vd__timer_cancel(p, b);
		any = true;
	}
	return any;
}

static bool notify_has_work(void *arg);

static inline bool
waits_parked(struct vd_sleeper *s, bool has_work)
{
	return has_work &&
	    atomic_load_explicit(&s->parked, memory_order_relaxed) != 0;
}

/* A parked worker or notify thread has work: a producer left its wake-up
 * to us (defer_wakes). */
static bool
deferred_waiting(struct vd_pipeline *p)
{
	unsigned i;

	for (i = 0; i < p->nworkers; i++)
		if (waits_parked(
		        &p->workers[i].sl, worker_own_work(&p->workers[i])))
			return true;
	return waits_parked(&p->nsl, notify_has_work(p));
}

/* After publish_fence(): pairs with the fence of the consumer's park. */
static void
timer_wake_deferred(struct vd_pipeline *p)
{
	unsigned i, n = 0;

	for (i = 0; i < p->nworkers; i++)
		if (worker_own_work(&p->workers[i]) &&
		    sleeper_wake(&p->workers[i].sl))
			n++;
	if (notify_has_work(p) && sleeper_wake(&p->nsl))
		n++;
	if (n != 0)
		vd__cell_add(p->tcells, &p->tcells->t_tick_wakes, n);
}

static bool
timer_has_work(void *arg)
{
	struct vd_pipeline *p = arg;

	return vd_ring_depth(&p->arm) != 0 ||
	    atomic_load_explicit(&p->t_stopping, memory_order_relaxed) ||
	    (p->cfg.defer_wakes && gate_judged(p) && deferred_waiting(p));
}

/*
 * Events wait behind a stuck worker (one that producers no longer queue
 * to): wake a parked worker to take them (worker_steal).  Each tick while
 * events are in flight, so nothing waits more than a tick for a thief.
 */
static void
timer_unstick(struct vd_pipeline *p, uint64_t now)
{
	struct vd_worker *in;
	uint64_t since;
	unsigned i, j;

	/* The inline runner stuck is a producer that reads no more: the
	 * backend's standby takes over (once per event it is stuck on). */
	if (p->cfg.inline_runner) {
		in = &p->workers[p->nworkers];
		since = atomic_load_explicit(
		    &in->sl.busy_since, memory_order_relaxed);
		if (worker_stuck(in, now) && since != p->inline_reported) {
			p->inline_reported = since;
			add_relaxed(&p->inline_stuck, 1);
			if (p->ops.stuck != NULL)
				p->ops.stuck(p->bctx);
		}
	}
	for (i = 0; i < p->nslots; i++) {
		if (!worker_stuck(&p->workers[i], now) ||
		    !worker_own_work(&p->workers[i]))
			continue;
		/* Pairs with the fence in the thief's sleeper_park(): it
		 * sees the stuck rings, or we see it parked. */
		publish_fence();
		for (j = 0; j < p->nworkers; j++)
			if (j != i &&
			    atomic_load_explicit(&p->workers[j].sl.parked,
			        memory_order_relaxed) != 0) {
				sleeper_wake(&p->workers[j].sl);
				break;
			}
	}
}

static void *
timer_main(void *arg)
{
	struct vd_pipeline *p = arg;
	struct vd_wheel_node *n;
	uint64_t tick = p->cfg.tick_ns, now, wake, sleep_ns;
	unsigned quiet = 0;

	vd_thread_name("vd-timer");
	/* It answers when the workers cannot: above them. */
	take_class(p, VD_THREAD_DEADLINE);
	for (;;) {
		quiet = timer_drain(p) ? 0 : quiet + 1;
		now = vd_now_ns();
		vd_wheel_advance(p->wheel, now / tick);
		while ((n = vd_wheel_get(p->wheel)) != NULL)
			vd__timer_fire(p, box_of_node(n), now, false);
		if (p->nslots > 1)
			timer_unstick(p, now);
		if (p->cfg.defer_wakes && gate_judged(p)) {
			gate_sample(p, now);
			publish_fence();
			timer_wake_deferred(p);
		}
		if (atomic_load_explicit(&p->t_stopping, memory_order_acquire))
			break;
		/* While events are in flight, tick to drain cancels (boxes
		 * return to their pools within a tick).  Once the wheel is
		 * empty, keep ticking for two quiet ticks, so a steady trickle
		 * of events does not pay a wake-up each; then sleep until an
		 * arm wakes us. */
		if (vd_wheel_count(p->wheel) != 0 || quiet <= 2)
			wake = (now / tick + 1) * tick;
		else
			wake = UINT64_MAX;
		atomic_store_explicit(
		    &p->t_next_wake_ns, wake, memory_order_relaxed);
		sleep_ns = wake == UINT64_MAX ? UINT64_MAX : wake - now;
		sleeper_park(&p->tsl, timer_has_work, p, sleep_ns);
		atomic_store_explicit(
		    &p->t_next_wake_ns, 0, memory_order_relaxed);
		vd__cell_add(p->tcells, &p->tcells->t_wakeups, 1);
	}
	/* Stopping: everything still on the wheel gets its default now. */
	timer_drain(p);
	vd_wheel_advance(p->wheel, UINT64_MAX);
	now = vd_now_ns();
	while ((n = vd_wheel_get(p->wheel)) != NULL)
		vd__timer_fire(p, box_of_node(n), now, true);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Notify thread                                                       */

static bool
notify_has_work(void *arg)
{
	struct vd_pipeline *p = arg;
	unsigned t;

	if (atomic_load_explicit(&p->stopping, memory_order_relaxed))
		return true;
	for (t = VD_NOTIFY_TYPE_FIRST; t < VD_EVENT_TYPE_COUNT; t++)
		if (vd_ring_depth(&p->rings[t][0]) != 0)
			return true;
	return false;
}

static unsigned
notify_drain(struct vd_pipeline *p)
{
	struct vd_event *evs[NOTIFY_BATCH];
	struct vd_box *b;
	struct vd_cells *c = p->ncells;
	struct vd_type_cells *tc;
	unsigned t, n = 0, i;
	uint64_t now;

	for (t = VD_NOTIFY_TYPE_FIRST;
	     t < VD_EVENT_TYPE_COUNT && n < NOTIFY_BATCH; t++)
		while (n < NOTIFY_BATCH &&
		    (b = vd_ring_pop_sc(&p->rings[t][0])) != NULL)
			evs[n++] = &b->ev;
	if (n == 0)
		return 0;
	if (p->ops.prepare_notify != NULL)
		p->ops.prepare_notify(p->bctx, evs, n);
	if (p->eval.notify != NULL)
		p->eval.notify(
		    p->eval.ctx, (const struct vd_event *const *)evs, n);
	now = vd_now_ns();
	for (i = 0; i < n; i++) {
		b = vd__box_of(evs[i]);
		tc = &c->t[b->ev.type];
		vd__cell_add(c, &tc->processed, 1);
		vd__hist_add(c, &tc->latency, now - b->submit_ns);
		if (p->ops.release != NULL)
			p->ops.release(p->bctx, b->ev.type, &b->ev.handle);
		atomic_store_explicit(&b->refs, 1, memory_order_relaxed);
		box_put(p, b);
	}
	return n;
}

static void *
notify_main(void *arg)
{
	struct vd_pipeline *p = arg;

	vd_thread_name("vd-notify");
	/* NOTIFY waits for AUTH: below the workers. */
	take_class(p, VD_THREAD_BACKGROUND);
	for (;;) {
		if (notify_drain(p) != 0)
			continue;
		if (atomic_load_explicit(&p->stopping, memory_order_acquire))
			break;
		sleeper_park(&p->nsl, notify_has_work, p, UINT64_MAX);
	}
	while (notify_drain(p) != 0)
		;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */

struct vd_pipeline *
vd_pipeline_create(const struct vd_config *cfg, const struct vd_evaluator *eval,
    const struct vd_backend_ops *ops, void *backend_ctx, int *err)
{
	struct vd_pipeline *p;
	unsigned t, i, nrings, auth_total = 0;
	int rc = -ENOMEM;

	if (cfg == NULL || eval == NULL || eval->evaluate == NULL ||
	    ops == NULL || ops->respond == NULL ||
	    vd_config_check(cfg, NULL, 0) != 0) {
		*err = -EINVAL;
		return NULL;
	}
	p = aligned_alloc(VD_CACHELINE,
	    (sizeof(*p) + VD_CACHELINE - 1) / VD_CACHELINE * VD_CACHELINE);
	if (p == NULL)
		goto fail_nop;
	memset(p, 0, sizeof(*p));
	p->sg_fd = -1;
	p->cfg = *cfg;
	p->eval = *eval;
	p->ops = *ops;
	p->bctx = backend_ctx;
	p->id = atomic_fetch_add(&pipeline_ids, 1);
	p->nworkers = cfg->workers ? cfg->workers : vd_config_default_workers();
	p->cfg.workers = p->nworkers;
	/* The inline runner is one more slot, after the workers, and the
	 * enrichment threads the last ones. */
	p->enrich_first = p->nworkers + (cfg->inline_runner ? 1 : 0);
	p->nenrich = cfg->enrich_threads;
	p->nslots = p->enrich_first + p->nenrich;
	/* Captured now, so a caller that pins itself later (a reader thread)
	 * does not drag the workers onto its CPU. */
	p->ncpus = vd_cpu_list(p->cpus, VD_MAX_WORKERS);
	/* The spin gate: CPU pressure where the system counts it. */
	rc = vd_cpu_pressure_open();
	p->sg_fd = rc >= 0 ? rc : -1;
	p->sg_pressure = p->sg_fd >= 0;
	p->sg_static_open = vd_usable_cpus() >= p->nworkers + 2;
	p->sg_backoff_ns = SG_BACKOFF_MIN_NS;
	/* And whether a CPU is left idle: none, no spinning. */
	if (vd_cpu_idle_open(&p->sg_idle) != 0)
		p->sg_idle = NULL;
	rc = -ENOMEM;
	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++)
		live_store(&p->live[t], &cfg->types[t]);
	atomic_store(&p->t_next_wake_ns, UINT64_MAX);

	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++) {
		if ((rc = pool_init(&p->pools[t], cfg->pool_size)) != 0)
			goto fail;
		nrings = t < VD_AUTH_TYPE_COUNT ? p->nslots : 1;
		p->rings[t] = calloc(nrings, sizeof(struct vd_ring));
		if (p->rings[t] == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		for (i = 0; i < nrings; i++)
			if ((rc = vd_ring_init(
			         &p->rings[t][i], cfg->ring_size)) != 0)
				goto fail;
		if (t < VD_AUTH_TYPE_COUNT)
			auth_total += cfg->pool_size;
	}
	rc = -ENOMEM;
	p->workers =
	    aligned_alloc(VD_CACHELINE, p->nslots * sizeof(*p->workers));
	if (p->workers == NULL)
		goto fail;
	memset(p->workers, 0, p->nslots * sizeof(*p->workers));
	/* Every AUTH box in flight is at most once in each timer ring. */
	for (i = 0; i < p->nslots; i++) {
		p->workers[i].p = p;
		p->workers[i].id = i;
		p->workers[i].cancel_kick = cfg->pool_size / 4;
		if ((rc = vd_ring_init(
		         &p->workers[i].cancel, pow2_above(auth_total))) != 0)
			goto fail;
	}
	if ((rc = vd_ring_init(&p->arm, pow2_above(auth_total))) != 0 ||
	    (rc = vd_ring_init(&p->ctl_cancel, pow2_above(auth_total))) != 0 ||
	    (p->nenrich > 0 &&
	        (rc = vd_ring_init(&p->enrich_q, cfg->enrich_queue)) != 0))
		goto fail;
	rc = -ENOMEM;
	p->wheel = malloc(sizeof(*p->wheel));
	p->pcells = aligned_alloc(
	    VD_CACHELINE, (VD_PRODUCER_SLOTS + 1) * sizeof(struct vd_cells));
	p->wcells = aligned_alloc(
	    VD_CACHELINE, (p->nslots + 3) * sizeof(struct vd_cells));
	if (p->wheel == NULL || p->pcells == NULL || p->wcells == NULL)
		goto fail;
	memset(p->pcells, 0, (VD_PRODUCER_SLOTS + 1) * sizeof(struct vd_cells));
	memset(p->wcells, 0, (p->nslots + 3) * sizeof(struct vd_cells));
	for (i = 0; i <= VD_PRODUCER_SLOTS; i++)
		vd__cells_init(&p->pcells[i], i == VD_PRODUCER_SLOTS);
	for (i = 0; i < p->nslots + 3; i++)
		vd__cells_init(&p->wcells[i], false);
	/* The controller's cell is written at stop only, the producers'
	 * overflow cell by several threads. */
	p->tcells = &p->wcells[p->nslots];
	p->ncells = &p->wcells[p->nslots + 1];
	p->ccells = &p->wcells[p->nslots + 2];
	p->ccells->shared = true;
	for (i = 0; i < p->nslots; i++)
		p->workers[i].cells = &p->wcells[i];
	/* Started at start; set here so the timer logic works on a pipeline
	 * that is not running (tests drive it by hand). */
	vd_wheel_init(p->wheel, vd_now_ns() / p->cfg.tick_ns);
	*err = 0;
	return p;

fail:
	vd_pipeline_destroy(p);
fail_nop:
	*err = rc;
	return NULL;
}

int
vd_pipeline_start(struct vd_pipeline *p)
{
	unsigned i;
	int rc;

	if (p->started)
		return -EINVAL;
	p->started = true;
	p->start_ns = vd_now_ns();
	gate_start(p, p->start_ns);
	vd_wheel_init(p->wheel, p->start_ns / p->cfg.tick_ns);
	atomic_store(&p->accepting, true);
	if ((rc = pthread_create(&p->timer, NULL, timer_main, p)) != 0)
		goto fail;
	p->timer_started = true;
	if ((rc = pthread_create(&p->notifier, NULL, notify_main, p)) != 0)
		goto fail;
	p->notifier_started = true;
	for (i = 0; i < p->nworkers; i++) {
		rc = pthread_create(
		    &p->workers[i].thread, NULL, worker_main, &p->workers[i]);
		if (rc != 0)
			goto fail;
		p->workers[i].started = true;
	}
	for (i = p->enrich_first; p->enricher.enrich != NULL && i < p->nslots;
	     i++) {
		rc = pthread_create(
		    &p->workers[i].thread, NULL, enrich_main, &p->workers[i]);
		if (rc != 0)
			goto fail;
		p->workers[i].started = true;
	}
	return 0;
fail:
	vd_pipeline_stop(p);
	return -rc;
}

/* Controller, at stop: answers what is left in the AUTH rings. */
static void
drain_auth_rings(struct vd_pipeline *p)
{
	struct vd_box *b;
	uint32_t expect;
	unsigned t, i;

	for (t = 0; t < VD_AUTH_TYPE_COUNT; t++)
		for (i = 0; i < p->nslots; i++)
			while ((b = vd_ring_pop_mc(&p->rings[t][i])) != NULL) {
				expect = VD_PENDING;
				if (!atomic_compare_exchange_strong_explicit(
				        &b->state, &expect, VD_ANSWERED,
				        memory_order_acq_rel,
				        memory_order_acquire)) {
					box_put(p, b);
					continue;
				}
				answer_now(p, p->ccells, b->ev.type,
				    &b->ev.handle, &b->ev, b->submit_ns,
				    b->ev.deadline_ns,
				    &p->ccells->t[b->ev.type].answered_default,
				    VD_BY_SHUTDOWN);
				vd__cell_add(p->ccells,
				    &p->ccells->t[b->ev.type].shutdown, 1);
				vd_ring_push_sp(&p->ctl_cancel, b);
			}
}

/* Wakes a slot's thread (it sees `stopping`) and joins it. */
static void
slot_join(struct vd_worker *w)
{
	if (!w->started)
		return;
	atomic_store(&w->sl.parked, 0);
	atomic_fetch_add(&w->sl.seq, 1);
	vd_park_wake(&w->sl.seq, 1);
	pthread_join(w->thread, NULL);
	w->started = false;
}

void
vd_pipeline_stop(struct vd_pipeline *p)
{
	unsigned i;

	if (p->stopped || !p->started)
		return;
	p->stopped = true;
	atomic_store(&p->accepting, false);
	atomic_store(&p->stopping, true);
	for (i = 0; i < p->nworkers; i++)
		slot_join(&p->workers[i]);
	drain_auth_rings(p);
	/* The enrichment threads finish what they hold (its worker is gone;
	 * they may still answer it); what waits in their queue stays pending
	 * for the timer, which answers everything at its stop. */
	for (i = p->enrich_first; i < p->nslots; i++)
		slot_join(&p->workers[i]);
	if (p->nenrich > 0) {
		struct vd_box *b;

		while ((b = vd_ring_pop_mc(&p->enrich_q)) != NULL) {
			atomic_fetch_add_explicit(
			    &p->e_stopped, 1, memory_order_relaxed);
			box_put(p, b);
		}
	}
	if (p->notifier_started) {
		atomic_fetch_add(&p->nsl.seq, 1);
		vd_park_wake(&p->nsl.seq, 1);
		pthread_join(p->notifier, NULL);
		p->notifier_started = false;
	}
	if (p->timer_started) {
		atomic_store(&p->t_stopping, true);
		atomic_fetch_add(&p->tsl.seq, 1);
		vd_park_wake(&p->tsl.seq, 1);
		pthread_join(p->timer, NULL);
		p->timer_started = false;
	}
}

void
vd_pipeline_destroy(struct vd_pipeline *p)
{
	unsigned t, i, nrings;

	if (p == NULL)
		return;
	vd_pipeline_stop(p);
	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++) {
		pool_fini(&p->pools[t]);
		if (p->rings[t] == NULL)
			continue;
		nrings = t < VD_AUTH_TYPE_COUNT ? p->nslots : 1;
		for (i = 0; i < nrings; i++)
			vd_ring_fini(&p->rings[t][i]);
		free(p->rings[t]);
	}
	if (p->workers != NULL)
		for (i = 0; i < p->nslots; i++)
			vd_ring_fini(&p->workers[i].cancel);
	free(p->workers);
	vd_ring_fini(&p->arm);
	vd_ring_fini(&p->ctl_cancel);
	vd_ring_fini(&p->enrich_q);
	free(p->wheel);
	free(p->pcells);
	free(p->wcells);
	if (p->sg_fd >= 0)
		close(p->sg_fd);
	vd_cpu_idle_close(p->sg_idle);
	free(p);
}

uint64_t
vd_clock_ns(void)
{
	return vd_now_ns();
}

void
vd_pipeline_progress(const struct vd_pipeline *p, struct vd_progress *out)
{
	const struct vd_cells *c = p->tcells;
	unsigned i;

	memset(out, 0, sizeof(*out));
	out->workers = p->nslots;
	for (i = 0; i < p->nslots; i++) {
		out->worker_events[i] = atomic_load_explicit(
		    &p->workers[i].events, memory_order_relaxed);
		/* The inline runner counts its events when its run ends: its
		 * queue is no sign of a stall, only the event in its hand. */
		out->worker_queued[i] =
		    i < p->nworkers && worker_own_work(&p->workers[i]);
		out->worker_since[i] = atomic_load_explicit(
		    &p->workers[i].sl.busy_since, memory_order_relaxed);
	}
	out->timer_events =
	    atomic_load_explicit(&c->t_armed, memory_order_relaxed) +
	    atomic_load_explicit(&c->t_cancelled, memory_order_relaxed);
	out->timer_queued = vd_ring_depth(&p->arm) != 0;
}

bool
vd_progress_stuck(const struct vd_progress *a, const struct vd_progress *b)
{
	unsigned i;

	if (a->timer_queued && b->timer_queued &&
	    a->timer_events == b->timer_events)
		return true;
	for (i = 0; i < a->workers && i < b->workers; i++) {
		if (a->worker_queued[i] && b->worker_queued[i] &&
		    a->worker_events[i] == b->worker_events[i])
			return true;
		/* The same event in hand: nothing may be queued behind it
		 * (the inline runner answered the rest, or nothing came). */
		if (a->worker_since[i] != 0 &&
		    a->worker_since[i] == b->worker_since[i])
			return true;
	}
	return false;
}

unsigned
vd_pipeline_workers(const struct vd_pipeline *p)
{
	return p->nworkers;
}

const struct vd_config *
vd_pipeline_config(const struct vd_pipeline *p)
{
	return &p->cfg;
}
