/*
 * test_pipeline.c — the pipeline end to end against the judging test
 * backend: who answers, how often, and before which deadline.
 */
#include "support/test.h"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <verdict/verdict.h>

#include "backend/gen/testeval.h"
#include "core/internal.h"

#include "support/testbackend.h"

#define MS 1000000ull

struct fixture {
	struct tb *tb;
	struct vd_testeval *te;
	struct vd_pipeline *p;
	struct vd_stats *st;
};

static void
setup(struct fixture *f, struct vd_config *cfg, uint64_t cap)
{
	struct vd_evaluator ev;
	int err = 0;

	f->tb = tb_create(cap, true);
	f->te = vd_testeval_create();
	f->st = malloc(sizeof(*f->st));
	cr_assert(f->tb != NULL && f->te != NULL && f->st != NULL);
	ev = vd_testeval_evaluator(f->te);
	f->p = vd_pipeline_create(cfg, &ev, &f->tb->ops, f->tb, &err);
	cr_assert(f->p != NULL, "create: %s", strerror(-err));
	cr_assert_eq(vd_pipeline_start(f->p), 0);
}

static void
teardown(struct fixture *f)
{
	vd_pipeline_destroy(f->p);
	vd_testeval_destroy(f->te);
	tb_destroy(f->tb);
	free(f->st);
}

static void
base_config(struct vd_config *cfg)
{
	vd_config_init(cfg, VD_PROFILE_FANOTIFY);
	cfg->workers = 2;
	cfg->pin_workers = false;
}

/* received = worker + default + arrival + dropped, for every type. */
static void
assert_books_close(const struct vd_stats *st)
{
	const struct vd_type_stats *ts;
	unsigned t;

	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++) {
		ts = &st->types[t];
		if (t < VD_AUTH_TYPE_COUNT)
			cr_assert_eq(ts->received,
			    ts->answered_worker + ts->answered_default +
			        ts->answered_arrival + ts->dropped,
			    "%s: received %llu != answered/dropped sum",
			    vd_event_type_name(t),
			    (unsigned long long)ts->received);
		else
			cr_assert_eq(ts->received, ts->processed + ts->dropped,
			    "%s: received != processed + dropped",
			    vd_event_type_name(t));
	}
}

Test(pipeline, config_defaults_follow_the_profiles)
{
	struct vd_config es, fan;
	char err[256];

	vd_config_init(&es, VD_PROFILE_ES);
	vd_config_init(&fan, VD_PROFILE_FANOTIFY);
	cr_assert_eq(vd_config_check(&es, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(vd_config_check(&fan, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(es.types[VD_AUTH_OPEN].margin_floor_ns, 1000 * MS);
	cr_assert_eq(es.types[VD_AUTH_OPEN].margin_ceiling_ns, 5000 * MS);
	cr_assert_eq(fan.types[VD_AUTH_OPEN].margin_floor_ns, 50 * MS);
	cr_assert_eq(fan.types[VD_AUTH_OPEN].budget_ns, 1000 * MS);
	cr_assert_float_eq(fan.types[VD_AUTH_EXEC].margin_fraction, 0.2, 1e-9);
	cr_assert_eq(es.types[VD_AUTH_EXEC].default_verdict, VD_ALLOW);
	cr_assert(vd_config_default_workers() >= 1);
	cr_assert(vd_config_default_workers() <= 4);
}

Test(pipeline, config_check_names_the_bad_value)
{
	struct vd_config cfg;
	char err[256];

	base_config(&cfg);
	cfg.ring_size = 1000;
	cr_assert_eq(vd_config_check(&cfg, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "ring_size") != NULL, "%s", err);

	base_config(&cfg);
	cfg.types[VD_AUTH_EXEC].margin_ceiling_ns = 1;
	cr_assert_eq(vd_config_check(&cfg, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "auth.exec") != NULL, "%s", err);

	base_config(&cfg);
	cfg.types[VD_AUTH_OPEN].margin_fraction = 1.5;
	cr_assert_eq(vd_config_check(&cfg, err, sizeof(err)), -EINVAL);

	base_config(&cfg);
	cfg.workers = VD_MAX_WORKERS + 1;
	cr_assert_eq(vd_config_check(&cfg, err, sizeof(err)), -EINVAL);
}

Test(pipeline, create_refuses_a_bad_config)
{
	struct vd_config cfg;
	struct tb *tb = tb_create(1, false);
	struct vd_testeval *te = vd_testeval_create();
	struct vd_evaluator ev = vd_testeval_evaluator(te);
	int err = 0;

	base_config(&cfg);
	cfg.pool_size = 0;
	cr_assert_null(vd_pipeline_create(&cfg, &ev, &tb->ops, tb, &err));
	cr_assert_eq(err, -EINVAL);
	vd_testeval_destroy(te);
	tb_destroy(tb);
}

Test(pipeline, event_type_names_round_trip)
{
	int t;

	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++)
		cr_assert_eq(vd_event_type_parse(vd_event_type_name(t)), t);
	cr_assert_eq(vd_event_type_parse("open"), VD_AUTH_OPEN);
	cr_assert_eq(vd_event_type_parse("auth.nope"), -1);
	cr_assert_null(vd_event_type_name(VD_EVENT_TYPE_COUNT));
}

Test(pipeline, fast_rules_are_answered_by_workers_once_in_time)
{
	struct vd_config cfg;
	struct fixture f;
	const uint64_t n = 20000;
	uint64_t i;

	base_config(&cfg);
	/* Answered boxes return to the pool on the timer's next tick; size
	 * the pool so this test is about who answers, not about the pool. */
	cfg.pool_size = 8192;
	setup(&f, &cfg, n);
	/* ... and a timer starved on a loaded machine recycles late: wait
	 * for it as the fanotify reader does, within the 800 ms below. */
	f.tb->pool_wait_ns = 200 * MS;
	vd_testeval_set_deny(f.te, 3);
	/*
	 * The budget is fanotify's default, 1 s: the timer would answer at
	 * 800 ms, so a worker has 800 ms for each event, a few microseconds
	 * of work behind at most 512 others.  Only a worker kept from its
	 * CPU for most of a second (ThreadSanitizer and a CPU hog together
	 * have not come near) would lose one to the timer.
	 */
	for (i = 0; i < n; i++) {
		/* Stay within the pools: this test is about who answers. */
		while (i - atomic_load(&f.tb->answers) > 512)
			sched_yield();
		tb_submit(f.tb, f.p, i % 2 ? VD_AUTH_OPEN : VD_AUTH_EXEC,
		    (pid_t)(100 + i % 50), 0, NULL);
	}
	cr_assert(tb_wait(f.tb, n, 5000 * MS), "answers: %llu of %llu",
	    (unsigned long long)atomic_load(&f.tb->answers),
	    (unsigned long long)n);
	cr_assert_eq(tb_count_not_once(f.tb, n), 0);
	cr_assert_eq(atomic_load(&f.tb->late), 0);
	cr_assert_eq(tb_count_by(f.tb, n, TB_WORKER), n,
	    "worker %llu timer %llu other %llu",
	    (unsigned long long)tb_count_by(f.tb, n, TB_WORKER),
	    (unsigned long long)tb_count_by(f.tb, n, TB_TIMER),
	    (unsigned long long)tb_count_by(f.tb, n, TB_OTHER));
	vd_pipeline_stop(f.p);
	vd_pipeline_stats(f.p, f.st);
	assert_books_close(f.st);
	cr_assert_eq(f.st->types[VD_AUTH_OPEN].answered_worker, n / 2);
	cr_assert_eq(f.st->types[VD_AUTH_EXEC].answered_worker, n / 2);
	cr_assert_eq(
	    f.st->types[VD_AUTH_OPEN].denied + f.st->types[VD_AUTH_EXEC].denied,
	    vd_testeval_evaluated(f.te) -
	        (f.st->types[VD_AUTH_OPEN].allowed +
	            f.st->types[VD_AUTH_EXEC].allowed));
	cr_assert(f.st->types[VD_AUTH_OPEN].denied > 0);
	cr_assert_eq(f.st->types[VD_AUTH_OPEN].latency.count, n / 2);
	cr_assert_eq(f.st->workers, 2);
	cr_assert_eq(f.st->worker[0].events + f.st->worker[1].events, n);
	teardown(&f);
}

Test(pipeline, stalled_rules_get_the_default_before_the_deadline)
{
	struct vd_config cfg;
	struct fixture f;
	const uint64_t n = 200;
	uint64_t i, by_timer;

	base_config(&cfg);
	cfg.types[VD_AUTH_OPEN].default_verdict = VD_DENY;
	setup(&f, &cfg, n);
	/*
	 * Every evaluation outlasts every deadline.  1 s deadlines: the
	 * margin is 20 %, so the timer answers 200 ms early, and may be that
	 * late (a thread waits 10-15 ms for a CPU at worst on a loaded 2-core
	 * machine) before an answer is late.
	 */
	vd_testeval_set_stall(f.te, 1, 2000 * MS);
	for (i = 0; i < n; i++)
		tb_submit(f.tb, f.p, VD_AUTH_OPEN, (pid_t)i, 1000 * MS, NULL);
	cr_assert(tb_wait(f.tb, n, 5000 * MS));
	cr_assert_eq(tb_count_not_once(f.tb, n), 0);
	cr_assert_eq(atomic_load(&f.tb->late), 0, "late answers: %llu",
	    (unsigned long long)atomic_load(&f.tb->late));
	by_timer = tb_count_by(f.tb, n, TB_TIMER);
	cr_assert_eq(
	    by_timer, n, "by timer: %llu", (unsigned long long)by_timer);
	for (i = 0; i < n; i++)
		cr_assert_eq(atomic_load(&f.tb->msgs[i].verdict), VD_DENY);
	vd_pipeline_stop(f.p);
	vd_pipeline_stats(f.p, f.st);
	assert_books_close(f.st);
	cr_assert_eq(f.st->types[VD_AUTH_OPEN].answered_default, n);
	cr_assert_eq(f.st->timer.fired, n);
	cr_assert(f.st->types[VD_AUTH_OPEN].margin_min_ns > 0);
	teardown(&f);
}

/* The test evaluator, with each event marked as read while it runs. */
struct marking {
	struct vd_evaluator inner;
	struct tb *tb;
};

static void
marking_evaluate(void *ctx, unsigned worker, const struct vd_event *ev,
    struct vd_decision *out)
{
	struct marking *m = ctx;
	struct tb_msg *msg = &m->tb->msgs[ev->handle.id];

	atomic_store(&msg->evaluating, 1);
	m->inner.evaluate(m->inner.ctx, worker, ev, out);
	atomic_store(&msg->evaluating, 0);
}

Test(pipeline, retire_comes_once_after_the_answer_and_the_evaluation)
{
	struct vd_config cfg;
	struct marking mk;
	struct vd_evaluator ev;
	struct vd_testeval *te;
	struct vd_pipeline *p;
	struct tb *tb;
	const uint64_t n = 64;
	uint64_t i, id;
	int err;

	base_config(&cfg);
	tb = tb_create(n + 1, false);
	te = vd_testeval_create();
	cr_assert(tb != NULL && te != NULL);
	/* Every evaluation outlasts its deadline: the timer answers while
	 * the worker still reads the event. */
	vd_testeval_set_stall(te, 1, 150 * MS);
	mk.inner = vd_testeval_evaluator(te);
	mk.tb = tb;
	ev = (struct vd_evaluator){ marking_evaluate, NULL, &mk };
	p = vd_pipeline_create(&cfg, &ev, &tb->ops, tb, &err);
	cr_assert_not_null(p);
	cr_assert_eq(vd_pipeline_start(p), 0);
	for (i = 0; i < n; i++)
		tb_submit(tb, p, VD_AUTH_OPEN, (pid_t)i, 60 * MS, NULL);
	/* An event refused for want of a box is retired too. */
	while (vd_pipeline_event_get(p, VD_AUTH_EXEC) != NULL)
		;
	id = tb_submit(tb, p, VD_AUTH_EXEC, 1, 0, NULL);
	cr_assert_eq(atomic_load(&tb->msgs[id].retired), 1);
	cr_assert(tb_wait(tb, n + 1, 3000 * MS));
	vd_pipeline_stop(p);
	for (i = 0; i <= n; i++)
		cr_assert_eq(atomic_load(&tb->msgs[i].retired), 1,
		    "event %llu retired %u times", (unsigned long long)i,
		    atomic_load(&tb->msgs[i].retired));
	cr_assert_eq(atomic_load(&tb->retire_early), 0);
	cr_assert_eq(atomic_load(&tb->retire_in_use), 0,
	    "retired while a worker still read it");
	cr_assert_eq(atomic_load(&tb->duplicates), 0);
	vd_pipeline_destroy(p);
	vd_testeval_destroy(te);
	tb_destroy(tb);
}

Test(pipeline, a_blocked_worker_does_not_delay_default_verdicts)
{
	struct vd_config cfg;
	struct fixture f;
	const uint64_t n = 50;
	uint64_t i;

	base_config(&cfg);
	cfg.workers = 1;
	setup(&f, &cfg, n);
	vd_testeval_block_worker(f.te, 0);
	/* 1 s deadlines: the timer answers 200 ms early, its margin for a
	 * late wake-up (as in the test above). */
	for (i = 0; i < n; i++)
		tb_submit(f.tb, f.p, VD_AUTH_EXEC, (pid_t)i, 1000 * MS, NULL);
	cr_assert(tb_wait(f.tb, n - 1, 5000 * MS));
	/* The first event is inside the blocked evaluation: the timer
	 * answered it too; every one, before its deadline. */
	cr_assert(tb_wait(f.tb, n, 5000 * MS));
	cr_assert_eq(tb_count_by(f.tb, n, TB_TIMER), n);
	cr_assert_eq(atomic_load(&f.tb->late), 0);
	cr_assert_eq(vd_testeval_inside(f.te), 1);
	vd_testeval_release(f.te);
	vd_pipeline_stop(f.p);
	cr_assert_eq(tb_count_not_once(f.tb, n), 0);
	cr_assert_eq(atomic_load(&f.tb->duplicates), 0);
	teardown(&f);
}

Test(pipeline, a_full_ring_answers_at_once_and_counts)
{
	struct vd_config cfg;
	struct fixture f;
	const uint64_t n = 64;
	uint64_t i, refused = 0, before;
	bool queued;

	base_config(&cfg);
	cfg.workers = 1;
	cfg.ring_size = 4; /* holds 3 */
	setup(&f, &cfg, n);
	vd_testeval_block_worker(f.te, 0);
	/* Let the worker take one event and block on it. */
	tb_submit(f.tb, f.p, VD_AUTH_OPEN, 1, 10000 * MS, NULL);
	while (vd_testeval_inside(f.te) == 0)
		sched_yield();
	for (i = 1; i < n; i++) {
		before = atomic_load(&f.tb->answers);
		tb_submit(f.tb, f.p, VD_AUTH_OPEN, 1, 10000 * MS, &queued);
		if (!queued) {
			refused++;
			/* Answered before submit returned. */
			cr_assert_eq(atomic_load(&f.tb->answers), before + 1);
			cr_assert_eq(
			    tb_count_by(f.tb, i + 1, TB_OTHER), refused);
		}
	}
	cr_assert_eq(refused, n - 1 - 3);
	vd_pipeline_stats(f.p, f.st);
	cr_assert_eq(f.st->types[VD_AUTH_OPEN].dropped, refused);
	cr_assert_eq(f.st->types[VD_AUTH_OPEN].ring_depth_max, 3);
	vd_testeval_release(f.te);
	cr_assert(tb_wait(f.tb, n, 2000 * MS));
	cr_assert_eq(tb_count_not_once(f.tb, n), 0);
	vd_pipeline_stop(f.p);
	vd_pipeline_stats(f.p, f.st);
	assert_books_close(f.st);
	teardown(&f);
}

Test(pipeline, an_empty_pool_refuses_with_the_default)
{
	struct vd_config cfg;
	struct fixture f;
	struct vd_event *held[8];
	uint64_t id;
	unsigned i;

	base_config(&cfg);
	cfg.pool_size = 8;
	cfg.types[VD_AUTH_OPEN].default_verdict = VD_DENY;
	setup(&f, &cfg, 16);
	for (i = 0; i < 8; i++)
		cr_assert_not_null(
		    held[i] = vd_pipeline_event_get(f.p, VD_AUTH_OPEN));
	cr_assert_null(vd_pipeline_event_get(f.p, VD_AUTH_OPEN));
	/* Other types have pools of their own. */
	cr_assert_not_null(
	    held[0] != NULL ? vd_pipeline_event_get(f.p, VD_AUTH_EXEC) : NULL);
	id = tb_submit(f.tb, f.p, VD_AUTH_OPEN, 7, 0, NULL);
	cr_assert_eq(atomic_load(&f.tb->msgs[id].answers), 1);
	cr_assert_eq(atomic_load(&f.tb->msgs[id].verdict), VD_DENY);
	vd_pipeline_stats(f.p, f.st);
	cr_assert_eq(f.st->types[VD_AUTH_OPEN].dropped_pool, 1);
	cr_assert_eq(f.st->types[VD_AUTH_OPEN].dropped, 1);
	/* Give them back through the pipeline so stop can account. */
	for (i = 0; i < 8; i++) {
		held[i]->handle.id = tb_new_id(f.tb, 0);
		vd_pipeline_submit(f.p, held[i]);
	}
	cr_assert(tb_wait(f.tb, 9, 2000 * MS));
	vd_pipeline_stop(f.p);
	teardown(&f);
}

Test(pipeline, a_budget_below_the_floor_is_answered_on_arrival)
{
	struct vd_config cfg;
	struct fixture f;
	bool queued = true;
	uint64_t id;

	base_config(&cfg);
	setup(&f, &cfg, 4);
	/* 30 ms left, floor 50 ms: no time to evaluate safely. */
	id = tb_submit(f.tb, f.p, VD_AUTH_OPEN, 1, 30 * MS, &queued);
	cr_assert(!queued);
	cr_assert_eq(atomic_load(&f.tb->msgs[id].answers), 1);
	cr_assert_eq(atomic_load(&f.tb->msgs[id].by), TB_OTHER);
	/* Already past its deadline on arrival: the same. */
	id = tb_new_id(f.tb, 0);
	{
		struct vd_event *ev = vd_pipeline_event_get(f.p, VD_AUTH_EXEC);
		ev->handle.id = id;
		ev->arrival_ns = tb_now_ns() - 2000 * MS;
		ev->deadline_ns = tb_now_ns() - 1000 * MS;
		cr_assert(!vd_pipeline_submit(f.p, ev));
	}
	cr_assert_eq(atomic_load(&f.tb->msgs[id].answers), 1);
	vd_pipeline_stats(f.p, f.st);
	cr_assert_eq(f.st->types[VD_AUTH_OPEN].answered_arrival, 1);
	cr_assert_eq(f.st->types[VD_AUTH_EXEC].answered_arrival, 1);
	cr_assert(f.st->types[VD_AUTH_EXEC].margin_min_ns < 0);
	vd_pipeline_stop(f.p);
	teardown(&f);
}

struct releaser {
	struct vd_testeval *te;
	uint64_t after_ns;
};

static void *
release_later(void *arg)
{
	struct releaser *r = arg;
	struct timespec ts = { 0, (long)r->after_ns };

	nanosleep(&ts, NULL);
	vd_testeval_release(r->te);
	return NULL;
}

Test(pipeline, stop_answers_everything_pending_with_the_default)
{
	struct vd_config cfg;
	struct fixture f;
	struct releaser r;
	pthread_t th;
	const uint64_t n = 100;
	uint64_t i;

	base_config(&cfg);
	cfg.workers = 1;
	cfg.types[VD_AUTH_OPEN].default_verdict = VD_DENY;
	setup(&f, &cfg, n);
	vd_testeval_block_worker(f.te, 0);
	for (i = 0; i < n; i++)
		tb_submit(f.tb, f.p, VD_AUTH_OPEN, 5, 60000 * MS, NULL);
	while (vd_testeval_inside(f.te) == 0)
		sched_yield();
	/*
	 * The release must come after the stop has begun, or the worker
	 * would evaluate the queued events itself.  This thread goes from
	 * here to the stop at once; 500 ms is over 30 times what a loaded
	 * 2-core machine keeps a thread from its CPU.
	 */
	r.te = f.te;
	r.after_ns = 500 * MS;
	pthread_create(&th, NULL, release_later, &r);
	vd_pipeline_stop(f.p);
	pthread_join(th, NULL);
	cr_assert_eq(atomic_load(&f.tb->answers), n);
	cr_assert_eq(tb_count_not_once(f.tb, n), 0);
	vd_pipeline_stats(f.p, f.st);
	assert_books_close(f.st);
	/* The blocked one finished its evaluation; the rest got the
	 * default at stop. */
	cr_assert_eq(f.st->types[VD_AUTH_OPEN].answered_worker, 1);
	cr_assert_eq(f.st->types[VD_AUTH_OPEN].shutdown, n - 1);
	cr_assert_eq(f.st->types[VD_AUTH_OPEN].denied, n - 1);
	/* After stop, submissions are answered at once. */
	{
		bool queued = true;
		uint64_t id = tb_submit(f.tb, f.p, VD_AUTH_OPEN, 5, 0, &queued);
		(void)id;
		cr_assert(!queued);
	}
	teardown(&f);
}

Test(pipeline, notify_events_go_to_the_serial_notify_thread)
{
	struct vd_config cfg;
	struct fixture f;
	const uint64_t n = 5000;
	uint64_t i;

	base_config(&cfg);
	setup(&f, &cfg, n);
	for (i = 0; i < n; i++)
		tb_submit(f.tb, f.p, i % 3 ? VD_NOTIFY_CLOSE : VD_NOTIFY_EXEC,
		    (pid_t)i, 0, NULL);
	cr_assert(tb_wait(f.tb, n, 5000 * MS));
	vd_pipeline_stop(f.p);
	cr_assert_eq(atomic_load(&f.tb->answers), 0);
	cr_assert_eq(atomic_load(&f.tb->releases), n);
	cr_assert_eq(tb_count_not_once(f.tb, n), 0);
	vd_pipeline_stats(f.p, f.st);
	assert_books_close(f.st);
	cr_assert_eq(vd_testeval_notified(f.te),
	    f.st->types[VD_NOTIFY_CLOSE].processed +
	        f.st->types[VD_NOTIFY_EXEC].processed);
	cr_assert_eq(f.st->types[VD_NOTIFY_CLOSE].processed +
	        f.st->types[VD_NOTIFY_CLOSE].dropped,
	    n - n / 3 - 1);
	teardown(&f);
}

Test(pipeline, one_process_events_stay_in_order_on_one_shard)
{
	struct vd_config cfg;
	struct fixture f;
	const uint64_t n = 3000;
	uint64_t i, prev = 0;

	base_config(&cfg);
	cfg.ring_size = 4096;
	cfg.pool_size = 4096;
	setup(&f, &cfg, n);
	for (i = 0; i < n; i++)
		tb_submit(f.tb, f.p, VD_AUTH_OPEN, 4242, 0, NULL);
	cr_assert(tb_wait(f.tb, n, 5000 * MS));
	vd_pipeline_stop(f.p);
	vd_pipeline_stats(f.p, f.st);
	/* A worker that holds one event over 1 ms (it did not get its CPU
	 * on a loaded machine) is passed by: then the order is not kept,
	 * and that is the price of not waiting behind it. */
	if (f.st->redirected != 0 || f.st->worker[0].stolen != 0 ||
	    f.st->worker[1].stolen != 0) {
		cr_log_info("a worker was stuck: order not judged");
		teardown(&f);
		return;
	}
	for (i = 0; i < n; i++) {
		uint64_t at = atomic_load(&f.tb->msgs[i].answered_ns);
		cr_assert(at >= prev,
		    "event %llu answered before its "
		    "predecessor",
		    (unsigned long long)i);
		prev = at;
	}
	cr_assert(f.st->worker[0].events == 0 || f.st->worker[1].events == 0);
	teardown(&f);
}

Test(pipeline, no_event_waits_behind_a_stuck_worker_while_another_is_free)
{
	struct vd_config cfg;
	struct fixture f;
	const uint64_t n = 200;
	uint64_t i;

	base_config(&cfg);
	setup(&f, &cfg, n);
	vd_testeval_block_worker(f.te, 0);
	/* 200 processes: about half of them belong to worker 0's shard.
	 * Worker 0 blocks inside the first event it takes; deadlines of a
	 * minute keep the timer out of it. */
	for (i = 0; i < n; i++)
		tb_submit(f.tb, f.p, VD_AUTH_OPEN, (pid_t)(1000 + i),
		    60000 * MS, NULL);
	/* Everything else is answered by worker 1: queued past the stuck
	 * worker, or taken from its rings.  The wait only bounds a hang:
	 * without either, half the events would wait for the release. */
	cr_assert(tb_wait(f.tb, n - 1, 20000 * MS),
	    "events waited behind the blocked worker");
	cr_assert_eq(vd_testeval_inside(f.te), 1);
	vd_testeval_release(f.te);
	cr_assert(tb_wait(f.tb, n, 5000 * MS));
	vd_pipeline_stop(f.p);
	vd_pipeline_stats(f.p, f.st);
	cr_assert_eq(tb_count_by(f.tb, n, TB_WORKER), n);
	cr_assert_eq(tb_count_not_once(f.tb, n), 0);
	cr_assert_eq(f.st->worker[1].events, n - 1);
	cr_assert(f.st->redirected + f.st->worker[1].stolen >= 1);
	assert_books_close(f.st);
	teardown(&f);
}

Test(pipeline, type_settings_change_live_and_bad_ones_are_refused)
{
	struct vd_config cfg;
	struct vd_type_config tc, now;
	struct fixture f;
	char err[256];
	uint64_t id;

	base_config(&cfg);
	setup(&f, &cfg, 8);
	/* 30 ms budget: answered on arrival with the default, at once. */
	id = tb_submit(f.tb, f.p, VD_AUTH_OPEN, 1, 30 * MS, NULL);
	cr_assert_eq(atomic_load(&f.tb->msgs[id].verdict), VD_ALLOW);

	vd_pipeline_type_config(f.p, VD_AUTH_OPEN, &tc);
	tc.default_verdict = VD_DENY;
	cr_assert_eq(
	    vd_pipeline_set_type(f.p, VD_AUTH_OPEN, &tc, err, sizeof(err)), 0,
	    "%s", err);
	id = tb_submit(f.tb, f.p, VD_AUTH_OPEN, 1, 30 * MS, NULL);
	cr_assert_eq(atomic_load(&f.tb->msgs[id].verdict), VD_DENY);

	/* A floor above the budget is refused whole; nothing changes. */
	tc.default_verdict = VD_ALLOW;
	tc.margin_floor_ns = tc.budget_ns + 1;
	tc.margin_ceiling_ns = tc.budget_ns + 1;
	cr_assert_eq(
	    vd_pipeline_set_type(f.p, VD_AUTH_OPEN, &tc, err, sizeof(err)),
	    -EINVAL);
	cr_assert(strstr(err, "auth.open") != NULL, "%s", err);
	vd_pipeline_type_config(f.p, VD_AUTH_OPEN, &now);
	cr_assert_eq(now.default_verdict, VD_DENY);
	cr_assert_eq(now.margin_floor_ns, 50 * MS);
	id = tb_submit(f.tb, f.p, VD_AUTH_OPEN, 1, 30 * MS, NULL);
	cr_assert_eq(atomic_load(&f.tb->msgs[id].verdict), VD_DENY);
	vd_pipeline_stop(f.p);
	teardown(&f);
}

/* The spin gate's tests: a one-worker pipeline, never started unless the
 * test starts it, and what it needs. */
struct gate_fx {
	struct vd_config cfg;
	struct vd_evaluator ev;
	struct vd_testeval *te;
	struct tb *tb;
	struct vd_stats *st;
};

static struct vd_pipeline *
gate_pipeline(struct gate_fx *f)
{
	struct vd_pipeline *p;
	int err = 0;

	p = vd_pipeline_create(&f->cfg, &f->ev, &f->tb->ops, f->tb, &err);
	cr_assert(p != NULL, "create: %s", strerror(-err));
	return p;
}

static void
gate_setup(struct gate_fx *f)
{
	f->te = vd_testeval_create();
	f->tb = tb_create(1, true);
	f->st = malloc(sizeof(*f->st));
	cr_assert(f->te != NULL && f->tb != NULL && f->st != NULL);
	vd_config_init(&f->cfg, VD_PROFILE_FANOTIFY);
	f->cfg.workers = 1;
	f->ev = vd_testeval_evaluator(f->te);
}

static void
gate_teardown(struct gate_fx *f)
{
	vd_testeval_destroy(f->te);
	tb_destroy(f->tb);
	free(f->st);
}

Test(pipeline, cpu_pressure_closes_the_spin_gate_and_backs_off)
{
	struct gate_fx f;
	struct vd_pipeline *p;
	uint64_t t = 1000 * MS, us = 1000;

	gate_setup(&f);
	p = gate_pipeline(&f);
	/* Judged by hand, whatever this kernel counts. */
	p->sg_pressure = true;
	/* The first reading: a baseline. */
	vd__spin_judge(p, t, us, VD_NO_READING, 0);
	cr_assert(vd__spin_open(p, t));
	/* 3 ms waited in 20 ms (15 %): handoffs, not contention. */
	t += 20 * MS;
	vd__spin_judge(p, t, us += 3000, VD_NO_READING, 0);
	cr_assert(vd__spin_open(p, t));
	/* 8 ms in 20 ms (40 %): closed for the back-off, 40 ms. */
	t += 20 * MS;
	vd__spin_judge(p, t, us += 8000, VD_NO_READING, 0);
	cr_assert(!vd__spin_open(p, t));
	cr_assert(!vd__spin_open(p, t + 39 * MS));
	cr_assert(vd__spin_open(p, t + 40 * MS));
	/* Again: the back-off doubled. */
	t += 20 * MS;
	vd__spin_judge(p, t, us += 8000, VD_NO_READING, 0);
	cr_assert(!vd__spin_open(p, t + 79 * MS));
	cr_assert(vd__spin_open(p, t + 80 * MS));
	/* A clean window that was partly closed proves nothing; one spent
	 * open halves the back-off (160 ms -> 80 ms). */
	t += 80 * MS;
	vd__spin_judge(p, t, us, VD_NO_READING, 0);
	t += 20 * MS;
	vd__spin_judge(p, t, us, VD_NO_READING, 0);
	t += 20 * MS;
	vd__spin_judge(p, t, us += 10000, VD_NO_READING, 0);
	cr_assert(!vd__spin_open(p, t + 79 * MS));
	cr_assert(vd__spin_open(p, t + 80 * MS));
	/* A reading long after the last one judges nothing. */
	t += 5000 * MS;
	vd__spin_judge(p, t, us += 1000000, VD_NO_READING, 0);
	cr_assert(vd__spin_open(p, t));
	vd_pipeline_stats(p, f.st);
	cr_assert_eq(f.st->spin.closed, 3);
	cr_assert_eq(f.st->spin.samples, 8);
	cr_assert(f.st->spin.pressure && f.st->spin.open);
	vd_pipeline_destroy(p);
	/* No spin configured: never open. */
	f.cfg.spin_ns = 0;
	p = gate_pipeline(&f);
	p->sg_pressure = true;
	cr_assert(!vd__spin_open(p, t));
	vd_pipeline_destroy(p);
	gate_teardown(&f);
}

/* Busy loops on every CPU wait for nobody (no pressure), yet leave no CPU
 * to spin on: the idle reading closes the gate until a reading finds one
 * again; the workers' own spinning counts as idle. */
Test(pipeline, no_idle_cpu_closes_the_spin_gate)
{
	struct gate_fx f;
	struct vd_pipeline *p;
	uint64_t t = 1000 * MS, idle = 5000000, spin = 0;

	gate_setup(&f);
	p = gate_pipeline(&f);
	cr_assert(p->sg_idle != NULL, "Linux counts idle time in /proc/stat");
	p->sg_pressure = false; /* the idle rule alone */
	vd__spin_judge(p, t, VD_NO_READING, idle, spin); /* a baseline */
	cr_assert(vd__spin_open(p, t));
	/* 150 ms idle in 100 ms: one and a half CPUs to spare. */
	t += 100 * MS;
	vd__spin_judge(p, t, VD_NO_READING, idle += 150000, spin);
	cr_assert(vd__spin_open(p, t));
	/* 20 ms: a fifth of a CPU.  Closed until the next reading is due,
	 * and a window more. */
	t += 100 * MS;
	vd__spin_judge(p, t, VD_NO_READING, idle += 20000, spin);
	cr_assert(!vd__spin_open(p, t));
	cr_assert(!vd__spin_open(p, t + 119 * MS));
	cr_assert(vd__spin_open(p, t + 120 * MS));
	/* 10 ms idle, but the workers spun 20 ms of it away: 30 ms. */
	t += 100 * MS;
	vd__spin_judge(p, t, VD_NO_READING, idle += 10000, spin += 20 * MS);
	cr_assert(vd__spin_open(p, t + 20 * MS));
	/* 24 ms: just under a quarter of a CPU. */
	t += 100 * MS;
	vd__spin_judge(p, t, VD_NO_READING, idle += 24000, spin);
	cr_assert(!vd__spin_open(p, t + 119 * MS));
	/* A reading long after the last one judges nothing. */
	t += 5000 * MS;
	vd__spin_judge(p, t, VD_NO_READING, idle, spin);
	cr_assert(vd__spin_open(p, t));
	vd_pipeline_stats(p, f.st);
	cr_assert_eq(f.st->spin.full, 2);
	cr_assert_eq(f.st->spin.closed, 0);
	vd_pipeline_destroy(p);
	/* Started: closed until its first readings can judge, two
	 * pressure windows on (readings may close it longer, never
	 * shorter). */
	p = gate_pipeline(&f);
	cr_assert_eq(vd_pipeline_start(p), 0);
	cr_assert(!vd__spin_open(p, p->start_ns));
	cr_assert(!vd__spin_open(p, p->start_ns + 39 * MS));
	vd_pipeline_stop(p);
	vd_pipeline_destroy(p);
	gate_teardown(&f);
}

/*
 * Under CPU pressure (the spin gate closed by it), a producer leaves the
 * wake-up of a parked worker to the timer's tick while the timer ticks;
 * without defer_wakes it wakes the worker itself.  Either way the worker
 * answers.  An event left unanswered in the inline runner's shard keeps
 * the timer ticking, as events in flight do (it sleeps for good only
 * once none is, and then producers wake at once).
 */
static void
deferred_run(bool defer, struct vd_stats *st)
{
	struct vd_config cfg;
	struct vd_evaluator ev;
	struct vd_testeval *te = vd_testeval_create();
	struct tb *tb = tb_create(64, true);
	struct vd_pipeline *p;
	struct vd_event *e;
	uint64_t id;
	int err = 0;

	base_config(&cfg);
	cfg.workers = 1;
	cfg.spin_ns = 0; /* the worker parks at once */
	cfg.inline_runner = true;
	cfg.defer_wakes = defer;
	ev = vd_testeval_evaluator(te);
	p = vd_pipeline_create(&cfg, &ev, &tb->ops, tb, &err);
	cr_assert(p != NULL, "create: %s", strerror(-err));
	/* Pressure as a hog makes it, and no reading to reopen the gate. */
	if (p->sg_fd >= 0)
		close(p->sg_fd);
	p->sg_fd = -1;
	p->sg_pressure = true;
	atomic_store(&p->sg_closed_until_ns, UINT64_MAX);
	cr_assert_eq(vd_pipeline_start(p), 0);
	/* In flight until stop: its timer fires in a minute. */
	e = vd_pipeline_event_get(p, VD_AUTH_OPEN);
	cr_assert(e != NULL);
	e->proc.pid = 99;
	e->arrival_ns = tb_now_ns();
	e->deadline_ns = e->arrival_ns + 60000 * MS;
	e->handle.id = tb_new_id(tb, e->deadline_ns);
	vd_pipeline_submit_inline(p, e);
	while (atomic_load(&p->workers[0].sl.parked) == 0 ||
	    atomic_load(&p->t_next_wake_ns) == UINT64_MAX)
		nanosleep(&(struct timespec){ 0, MS }, NULL);
	id = tb_submit(tb, p, VD_AUTH_OPEN, 100, 0, NULL);
	cr_assert(tb_wait(tb, 1, 5000 * MS), "no answer");
	cr_assert_eq(atomic_load(&tb->msgs[id].by), TB_WORKER);
	vd_pipeline_stop(p);
	vd_pipeline_stats(p, st);
	vd_pipeline_destroy(p);
	vd_testeval_destroy(te);
	tb_destroy(tb);
}

Test(pipeline, under_pressure_the_timer_wakes_parked_workers)
{
	struct vd_stats *st = malloc(sizeof(*st));

	cr_assert(st != NULL);
	deferred_run(true, st);
	cr_assert_eq(st->spin.deferred_wakes, 1);
	cr_assert_geq(st->spin.tick_wakes, 1);
	deferred_run(false, st);
	cr_assert_eq(st->spin.deferred_wakes, 0);
	cr_assert_eq(st->spin.tick_wakes, 0);
	cr_assert_geq(st->worker[0].wakeups, 1);
	free(st);
}

/* The inline runner: a producer thread that answers what it submits. */
struct runner {
	struct tb *tb;
	struct vd_pipeline *p;
	uint64_t n;
	unsigned answered;
};

static void *
runner_main(void *arg)
{
	struct runner *r = arg;
	struct vd_event *ev;
	uint64_t i;

	for (i = 0; i < r->n; i++) {
		ev = vd_pipeline_event_get(r->p, VD_AUTH_OPEN);
		cr_assert(ev != NULL);
		ev->proc.pid = (pid_t)(100 + i);
		ev->arrival_ns = tb_now_ns();
		ev->deadline_ns = ev->arrival_ns + 60000 * MS;
		ev->handle.id = tb_new_id(r->tb, ev->deadline_ns);
		vd_pipeline_submit_inline(r->p, ev);
	}
	r->answered = vd_pipeline_run_inline(r->p);
	return NULL;
}

static _Atomic unsigned stuck_calls;

static void
count_stuck(void *ctx)
{
	(void)ctx;
	atomic_fetch_add(&stuck_calls, 1);
}

Test(pipeline, the_inline_runner_answers_on_its_own_thread)
{
	struct vd_config cfg;
	struct fixture f;
	struct runner r;
	const uint64_t n = 100;

	base_config(&cfg);
	cfg.workers = 1;
	cfg.inline_runner = true;
	setup(&f, &cfg, n);
	cr_assert_eq(vd_pipeline_eval_slots(f.p), 2);
	r = (struct runner){ f.tb, f.p, n, 0 };
	runner_main(&r);
	/* Answered before run_inline returned, by this thread. */
	cr_assert_eq(r.answered, n);
	cr_assert(tb_wait(f.tb, n, 5000 * MS));
	vd_pipeline_stop(f.p);
	vd_pipeline_stats(f.p, f.st);
	cr_assert_eq(tb_count_not_once(f.tb, n), 0);
	cr_assert_eq(f.st->inline_runner.events, n);
	cr_assert_eq(f.st->worker[0].events, 0);
	cr_assert_eq(f.st->types[VD_AUTH_OPEN].answered_worker, n);
	assert_books_close(f.st);
	teardown(&f);
}

Test(pipeline, a_stuck_inline_runner_is_taken_over)
{
	struct vd_config cfg;
	struct vd_evaluator ev;
	struct vd_testeval *te = vd_testeval_create();
	struct tb *tb = tb_create(50, true);
	struct vd_stats *st = malloc(sizeof(*st));
	struct vd_pipeline *p;
	struct runner r;
	pthread_t th;
	const uint64_t n = 50;
	int err = 0;

	cr_assert(te != NULL && tb != NULL && st != NULL);
	base_config(&cfg);
	cfg.workers = 1;
	cfg.inline_runner = true;
	tb->ops.stuck = count_stuck;
	ev = vd_testeval_evaluator(te);
	p = vd_pipeline_create(&cfg, &ev, &tb->ops, tb, &err);
	cr_assert(p != NULL);
	cr_assert_eq(vd_pipeline_start(p), 0);
	/* The runner's slot is 1: it blocks in its first evaluation. */
	vd_testeval_block_worker(te, 1);
	r = (struct runner){ tb, p, n, 0 };
	cr_assert_eq(pthread_create(&th, NULL, runner_main, &r), 0);
	/* Worker 0 takes the other 49 from the runner's shard; the wait
	 * only bounds a hang (60 s deadlines keep the timer out). */
	cr_assert(tb_wait(tb, n - 1, 20000 * MS),
	    "events waited behind the stuck inline runner");
	cr_assert(vd_pipeline_inline_stuck(p));
	cr_assert(atomic_load(&stuck_calls) >= 1);
	vd_testeval_release(te);
	pthread_join(th, NULL);
	cr_assert(tb_wait(tb, n, 5000 * MS));
	cr_assert(!vd_pipeline_inline_stuck(p));
	vd_pipeline_stop(p);
	vd_pipeline_stats(p, st);
	/* Worker 0 answered 49; the runner (a thread of our own) one. */
	cr_assert_eq(tb_count_by(tb, n, TB_WORKER), n - 1);
	cr_assert_eq(tb_count_by(tb, n, TB_OTHER), 1);
	cr_assert_eq(tb_count_not_once(tb, n), 0);
	cr_assert_eq(st->inline_runner.events, 1);
	cr_assert_eq(st->worker[0].stolen, n - 1);
	cr_assert_eq(st->inline_stuck, 1);
	assert_books_close(st);
	vd_pipeline_destroy(p);
	vd_testeval_destroy(te);
	tb_destroy(tb);
	free(st);
}

/* Submits ev inline with a distant deadline and returns at once. */
static void
submit_one_inline(struct tb *tb, struct vd_pipeline *p, struct vd_event *ev)
{
	ev->proc.pid = 100;
	ev->arrival_ns = tb_now_ns();
	ev->deadline_ns = ev->arrival_ns + 60000 * MS;
	ev->handle.id = tb_new_id(tb, ev->deadline_ns);
	vd_pipeline_submit_inline(p, ev);
}

Test(pipeline, an_empty_pool_waits_only_for_answered_events)
{
	struct vd_config cfg;
	struct fixture f;
	struct vd_event *a, *b, *c;
	uint64_t sent = 0, w0;
	unsigned round, t;
	bool waited = false;

	base_config(&cfg);
	cfg.workers = 1;
	cfg.inline_runner = true;
	cfg.pool_size = 2;
	/* Ticks 100 ms apart: answered events stay in the cancel rings
	 * between two ticks unless something wakes the timer. */
	cfg.tick_ns = 100 * MS;
	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++)
		cfg.types[t].margin_floor_ns = 100 * MS;
	setup(&f, &cfg, 400);

	/* Both events held, none answered: nothing to recycle, no wait. */
	a = vd_pipeline_event_get(f.p, VD_AUTH_OPEN);
	b = vd_pipeline_event_get(f.p, VD_AUTH_OPEN);
	cr_assert(a != NULL && b != NULL);
	cr_assert_null(vd_pipeline_event_wait(f.p, VD_AUTH_OPEN, 100 * MS));
	vd_pipeline_stats(f.p, f.st);
	cr_assert_eq(f.st->pool_waits, 0);
	submit_one_inline(f.tb, f.p, a);
	submit_one_inline(f.tb, f.p, b);
	sent += 2;
	cr_assert_eq(vd_pipeline_run_inline(f.p), 2);

	/* Both answered: until the timer recycles them the pool is empty,
	 * and a wait wakes the timer and gets one.  Whether the timer
	 * (woken by the arms) drained the cancels already is a race: try
	 * rounds until one finds the pool empty. */
	for (round = 0; round < 100 && !waited; round++) {
		a = vd_pipeline_event_wait(f.p, VD_AUTH_OPEN, 1000 * MS);
		b = vd_pipeline_event_wait(f.p, VD_AUTH_OPEN, 1000 * MS);
		cr_assert(a != NULL && b != NULL, "round %u: no event", round);
		submit_one_inline(f.tb, f.p, a);
		submit_one_inline(f.tb, f.p, b);
		sent += 2;
		cr_assert_eq(vd_pipeline_run_inline(f.p), 2);
		if ((c = vd_pipeline_event_get(f.p, VD_AUTH_OPEN)) != NULL) {
			submit_one_inline(f.tb, f.p, c);
			sent++;
			cr_assert_eq(vd_pipeline_run_inline(f.p), 1);
			continue;
		}
		/* (The waits above may have waited too.) */
		vd_pipeline_stats(f.p, f.st);
		w0 = f.st->pool_waits;
		c = vd_pipeline_event_wait(f.p, VD_AUTH_OPEN, 1000 * MS);
		cr_assert_not_null(c, "the wait got no recycled event");
		vd_pipeline_stats(f.p, f.st);
		cr_assert_eq(f.st->pool_waits, w0 + 1);
		submit_one_inline(f.tb, f.p, c);
		sent++;
		cr_assert_eq(vd_pipeline_run_inline(f.p), 1);
		waited = true;
	}
	cr_assert(waited, "no round found the pool empty");
	cr_assert(tb_wait(f.tb, sent, 5000 * MS));
	vd_pipeline_stop(f.p);
	vd_pipeline_stats(f.p, f.st);
	cr_assert_eq(tb_count_not_once(f.tb, sent), 0);
	cr_assert_eq(f.st->types[VD_AUTH_OPEN].dropped_pool, 0);
	assert_books_close(f.st);
	teardown(&f);
}

Test(pipeline, progress_sees_one_evaluation_held_across_two_snapshots)
{
	struct vd_progress a, b;

	memset(&a, 0, sizeof(a));
	a.workers = 2;
	b = a;
	/* Idle workers, nothing queued: no one is stuck. */
	cr_assert_not(vd_progress_stuck(&a, &b));
	/* Worker 1 busy with other events in each snapshot: progress. */
	a.worker_since[1] = 5;
	b.worker_since[1] = 6;
	cr_assert_not(vd_progress_stuck(&a, &b));
	/* The same event in its hand in both, nothing queued behind it. */
	b.worker_since[1] = 5;
	cr_assert(vd_progress_stuck(&a, &b));
	/* Queued work and no events done: stuck, as before. */
	a.worker_since[1] = b.worker_since[1] = 0;
	a.worker_queued[0] = b.worker_queued[0] = true;
	a.worker_events[0] = b.worker_events[0] = 7;
	cr_assert(vd_progress_stuck(&a, &b));
	b.worker_events[0] = 8;
	cr_assert_not(vd_progress_stuck(&a, &b));
	/* The inline runner (the slot after the workers) holding one event. */
	a.workers = b.workers = 3;
	a.worker_since[2] = b.worker_since[2] = 9;
	cr_assert(vd_progress_stuck(&a, &b));
}
