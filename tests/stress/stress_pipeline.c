/*
 * stress_pipeline.c — the races that matter, hammered with bounded counts.
 *
 *  - exactly once: workers and the timer race for the same events at the
 *    same instant (deadlines land while the event is queued or being
 *    evaluated), >= 1 M events, each answered exactly once according to
 *    the test backend's own books;
 *  - park/wake: a worker that parks at once, producers that submit one
 *    event and wait for its answer, so every submit hits the handshake;
 *    no event may wait for a wake-up that never comes.
 */
#include "support/test.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <verdict/verdict.h>

#include "backend/gen/testeval.h"

#include "platform/platform.h"
#include "support/testbackend.h"
#include "util/splitmix.h"

#ifndef VD_STRESS_SCALE
#define VD_STRESS_SCALE 10
#endif

#define US 1000ull
#define MS 1000000ull

/* An evaluator that takes 0..2 us, so queues build up behind bursts. */
static void
busy_eval(void *ctx, unsigned worker, const struct vd_event *ev,
    struct vd_decision *out)
{
	uint64_t end = vd_now_ns() + (ev->handle.id * 2654435761u) % 2000;

	(void)ctx;
	(void)worker;
	while (vd_now_ns() < end)
		vd_cpu_relax();
	out->verdict = ev->handle.id % 5 == 0 ? VD_DENY : VD_ALLOW;
}

struct race {
	struct tb *tb;
	struct vd_pipeline *p;
	uint64_t per_producer;
	unsigned id;
	pthread_barrier_t *start;
};

static void *
race_producer(void *a)
{
	struct race *r = a;
	uint64_t seed = 42 + r->id, i, budget;

	pthread_barrier_wait(r->start);
	for (i = 0; i < r->per_producer; i++) {
		/* Budgets just above the floor: the timer fires within 0..2 ms
		 * of submission, while bursts keep the workers 1-2 ms behind.
		 */
		budget = 200 * US + 1 + vd_splitmix64(&seed) % (2 * MS);
		tb_submit(r->tb, r->p, VD_AUTH_OPEN + (unsigned)(i % 2),
		    (pid_t)(vd_splitmix64(&seed) % 1000), budget, NULL);
		if (i % 256 == 255) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

Test(stress_pipeline, worker_and_timer_race_and_each_event_is_answered_once,
    .timeout = 300)
{
	const unsigned producers = 2;
	const uint64_t per = 50000ull * VD_STRESS_SCALE;
	const uint64_t n = per * producers;
	struct vd_evaluator ev = { .evaluate = busy_eval };
	pthread_barrier_t start;
	struct race r[2];
	pthread_t th[2];
	struct vd_config cfg;
	struct vd_pipeline *p;
	struct vd_stats *st = malloc(sizeof(*st));
	struct tb *tb = tb_create(n, true);
	uint64_t by_worker, by_timer, by_other;
	unsigned i, t;
	int err;

	cr_assert(st != NULL && tb != NULL);
	vd_config_init(&cfg, VD_PROFILE_FANOTIFY);
	cfg.workers = 2;
	cfg.pool_size = 4096;
	cfg.ring_size = 4096;
	cfg.tick_ns = 10 * US;
	for (t = 0; t < VD_AUTH_TYPE_COUNT; t++) {
		cfg.types[t].margin_fraction = 0;
		cfg.types[t].margin_floor_ns = 200 * US;
		cfg.types[t].margin_ceiling_ns = 200 * US;
	}
	p = vd_pipeline_create(&cfg, &ev, &tb->ops, tb, &err);
	cr_assert_not_null(p);
	cr_assert_eq(vd_pipeline_start(p), 0);
	pthread_barrier_init(&start, NULL, producers + 1);
	for (i = 0; i < producers; i++) {
		r[i] = (struct race){ tb, p, per, i, &start };
		pthread_create(&th[i], NULL, race_producer, &r[i]);
	}
	pthread_barrier_wait(&start);
	for (i = 0; i < producers; i++)
		pthread_join(th[i], NULL);
	cr_assert(tb_wait(tb, n, 60000 * MS), "answered %llu of %llu",
	    (unsigned long long)atomic_load(&tb->answers),
	    (unsigned long long)n);
	vd_pipeline_stop(p);

	cr_assert_eq(atomic_load(&tb->duplicates), 0);
	cr_assert_eq(atomic_load(&tb->bad_id), 0);
	cr_assert_eq(tb_count_not_once(tb, n), 0);
	by_worker = tb_count_by(tb, n, TB_WORKER);
	by_timer = tb_count_by(tb, n, TB_TIMER);
	by_other = tb_count_by(tb, n, TB_OTHER);
	cr_assert_eq(by_worker + by_timer + by_other, n);
	vd_pipeline_stats(p, st);
	cr_log_info("open: dropped %llu (pool %llu), arrival %llu",
	    (unsigned long long)st->types[VD_AUTH_OPEN].dropped,
	    (unsigned long long)st->types[VD_AUTH_OPEN].dropped_pool,
	    (unsigned long long)st->types[VD_AUTH_OPEN].answered_arrival);
	cr_log_info("worker %llu timer %llu other %llu, timer lost %llu",
	    (unsigned long long)by_worker, (unsigned long long)by_timer,
	    (unsigned long long)by_other, (unsigned long long)st->timer.lost);
	/*
	 * Both sides really raced.  Measured, the timer answers 4 % here and
	 * 1.4 % under ThreadSanitizer, the workers the rest but the refused:
	 * a slower machine shifts answers to the timer, and the bounds leave
	 * each side over ten times less than it got.
	 */
	cr_assert_gt(by_worker, n / 100);
	cr_assert_gt(by_timer, n / 1000);
	/* The pipeline's books agree with the backend's. */
	for (t = VD_AUTH_OPEN; t <= VD_AUTH_EXEC; t++) {
		const struct vd_type_stats *ts = &st->types[t];
		cr_assert_eq(ts->received,
		    ts->answered_worker + ts->answered_default +
		        ts->answered_arrival + ts->dropped);
	}
	cr_assert_eq(
	    st->types[VD_AUTH_OPEN].received + st->types[VD_AUTH_EXEC].received,
	    n);
	cr_assert_eq(st->types[VD_AUTH_OPEN].answered_worker +
	        st->types[VD_AUTH_EXEC].answered_worker,
	    by_worker);
	cr_assert_eq(st->timer.fired, by_timer);
	vd_pipeline_destroy(p);
	tb_destroy(tb);
	free(st);
}

struct pinger {
	struct tb *tb;
	struct vd_pipeline *p;
	uint64_t count;
	unsigned id;
	_Atomic uint64_t *stuck;
	pthread_barrier_t *start;
	_Atomic uint64_t *refused;
};

static void *
ping(void *a)
{
	struct pinger *g = a;
	uint64_t i, id, end, seed = 7 + g->id, pause;
	bool queued;

	pthread_barrier_wait(g->start);
	for (i = 0; i < g->count; i++) {
		id = tb_submit(
		    g->tb, g->p, VD_AUTH_OPEN, (pid_t)(g->id + 1), 0, &queued);
		/* A starved timer thread returns boxes late: the pool may run
		 * dry, and then submit answers at once (not a wake-up). */
		if (!queued)
			atomic_fetch_add(g->refused, 1);
		end = vd_now_ns() + 2000 * MS;
		while (atomic_load(&g->tb->msgs[id].answers) == 0) {
			if (vd_now_ns() > end) {
				atomic_fetch_add(g->stuck, 1);
				break;
			}
			sched_yield();
		}
		/* Vary the gap so submits land in every phase of the
		 * worker's park sequence. */
		pause = vd_splitmix64(&seed) % 4000;
		end = vd_now_ns() + pause;
		while (vd_now_ns() < end)
			vd_cpu_relax();
	}
	return NULL;
}

Test(stress_pipeline, park_and_wake_never_lose_a_wakeup, .timeout = 300)
{
	const unsigned producers = 2;
	const uint64_t per = 5000ull * VD_STRESS_SCALE;
	struct vd_testeval *te = vd_testeval_create();
	struct vd_evaluator ev = vd_testeval_evaluator(te);
	struct tb *tb = tb_create(per * producers, true);
	struct vd_stats *st = malloc(sizeof(*st));
	_Atomic uint64_t stuck = 0, refused = 0;
	pthread_barrier_t start;
	struct pinger g[2];
	pthread_t th[2];
	struct vd_config cfg;
	struct vd_pipeline *p;
	unsigned i;
	int err;

	vd_config_init(&cfg, VD_PROFILE_FANOTIFY);
	cfg.workers = 1;
	cfg.spin_ns = 0; /* park at once: every event goes through a wake */
	for (i = 0; i < VD_AUTH_TYPE_COUNT; i++)
		cfg.types[i].budget_ns = 60000 * MS;
	p = vd_pipeline_create(&cfg, &ev, &tb->ops, tb, &err);
	cr_assert_not_null(p);
	cr_assert_eq(vd_pipeline_start(p), 0);
	pthread_barrier_init(&start, NULL, producers + 1);
	for (i = 0; i < producers; i++) {
		g[i] =
		    (struct pinger){ tb, p, per, i, &stuck, &start, &refused };
		pthread_create(&th[i], NULL, ping, &g[i]);
	}
	pthread_barrier_wait(&start);
	for (i = 0; i < producers; i++)
		pthread_join(th[i], NULL);
	/* A lost wake-up leaves its event waiting until the 60 s budget; a
	 * slow one, on a loaded 2-core machine, tens of milliseconds: 2 s
	 * tells them apart. */
	cr_assert_eq(atomic_load(&stuck), 0,
	    "%llu events waited 2 s for a wake-up",
	    (unsigned long long)atomic_load(&stuck));
	vd_pipeline_stats(p, st);
	cr_assert_eq(
	    tb_count_by(tb, per * producers, TB_WORKER) + atomic_load(&refused),
	    per * producers, "by worker %llu, timer %llu, other %llu",
	    (unsigned long long)tb_count_by(tb, per * producers, TB_WORKER),
	    (unsigned long long)tb_count_by(tb, per * producers, TB_TIMER),
	    (unsigned long long)tb_count_by(tb, per * producers, TB_OTHER));
	cr_assert_eq(tb_count_by(tb, per * producers, TB_TIMER), 0);
	/* At most two events are in flight: the pool (1024) runs dry only
	 * if the timer thread, which returns the boxes, is kept from its
	 * CPU for about 1000 events' time, and then for a while.  None was
	 * refused in any run here, under ThreadSanitizer either. */
	cr_assert_lt(atomic_load(&refused), per / 10);
	cr_log_info("parks %llu wakeups %llu refused %llu",
	    (unsigned long long)st->worker[0].parks,
	    (unsigned long long)st->worker[0].wakeups,
	    (unsigned long long)atomic_load(&refused));
	/* The handshake really ran, many times: the worker parks as soon as
	 * it is idle, so more than half the events wake it (measured), five
	 * times the bound. */
	cr_assert_gt(st->worker[0].parks, per / 10);
	cr_assert_gt(st->worker[0].wakeups, per / 10);
	vd_pipeline_destroy(p);
	vd_testeval_destroy(te);
	tb_destroy(tb);
	free(st);
}
