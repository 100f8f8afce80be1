/*
 * test_enrich.c — deferred decisions: an evaluation that needs what only
 * I/O can tell goes to the enrichment threads with its timer armed, and
 * is answered exactly once, by them or by the timer; a full queue, a
 * failed enrichment and a pipeline without enricher answer the default.
 */
#include "support/test.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <verdict/verdict.h>

#include "support/testbackend.h"

#define MS 1000000ull

/*
 * The evaluator: without a digest it asks for one; with one, it denies
 * when the digest's first byte is odd; told it cannot have one
 * (VD_UNAVAILABLE), it denies, as an allow-list's last rule would.  The
 * enricher writes the event's pid into the digest, after stall_ms, and fails
 * for pids that fail_mod divides.
 */
struct ctx {
	_Atomic uint64_t asked, evaluated_with, evaluated_without, enriched,
	    late_calls;
	_Atomic unsigned stall_ms;
	_Atomic bool hold; /* enrich() waits while set */
	unsigned fail_mod; /* 0: never fails */
	bool never_enough; /* ask again, whatever it is told */
};

static void
evaluate(void *c, unsigned worker, const struct vd_event *ev,
    struct vd_decision *out)
{
	struct ctx *x = c;

	(void)worker;
	if (x->never_enough ||
	    !(ev->have & (VD_NEED_DIGEST | VD_UNAVAILABLE(VD_NEED_DIGEST)))) {
		atomic_fetch_add(&x->asked, 1);
		out->needs = VD_NEED_DIGEST;
		return;
	}
	if (!(ev->have & VD_NEED_DIGEST)) {
		atomic_fetch_add(&x->evaluated_without, 1);
		out->verdict = VD_DENY;
		return;
	}
	atomic_fetch_add(&x->evaluated_with, 1);
	out->verdict = (ev->sha256[0] & 1) ? VD_DENY : VD_ALLOW;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
enrich(void *c, struct vd_event *ev, uint32_t needs, bool late)
{
	struct ctx *x = c;

	cr_assert_eq(needs, VD_NEED_DIGEST);
	while (atomic_load(&x->hold))
		sleep_ms(1);
	if (atomic_load(&x->stall_ms) != 0)
		sleep_ms(atomic_load(&x->stall_ms));
	if (late)
		atomic_fetch_add(&x->late_calls, 1);
	if (x->fail_mod != 0 && ev->proc.pid % (pid_t)x->fail_mod == 0)
		return -EIO;
	memset(ev->sha256, 0, sizeof(ev->sha256));
	ev->sha256[0] = (uint8_t)ev->proc.pid;
	ev->have |= VD_NEED_DIGEST;
	atomic_fetch_add(&x->enriched, 1);
	return 0;
}

struct fixture {
	struct tb *tb;
	struct ctx x;
	struct vd_pipeline *p;
	struct vd_stats st;
};

static void
setup(struct fixture *f, unsigned threads, unsigned queue, bool enricher,
    uint64_t cap)
{
	struct vd_evaluator ev = { evaluate, NULL, &f->x };
	struct vd_enricher en = { enrich, &f->x };
	struct vd_config cfg;
	int err = 0;

	vd_config_init(&cfg, VD_PROFILE_FANOTIFY);
	cfg.workers = 2;
	cfg.pin_workers = false;
	cfg.enrich_threads = threads;
	cfg.enrich_queue = queue;
	f->tb = tb_create(cap, true);
	cr_assert_not_null(f->tb);
	f->p = vd_pipeline_create(&cfg, &ev, &f->tb->ops, f->tb, &err);
	cr_assert(f->p != NULL, "create: %s", strerror(-err));
	if (enricher)
		vd_pipeline_set_enricher(f->p, &en);
	cr_assert_eq(vd_pipeline_start(f->p), 0);
}

static void
finish(struct fixture *f)
{
	vd_pipeline_stop(f->p);
	vd_pipeline_stats(f->p, &f->st);
}

static void
teardown(struct fixture *f)
{
	vd_pipeline_destroy(f->p);
	tb_destroy(f->tb);
}

/* The books of deferral close: every request ended one way. */
static void
assert_enrich_books(const struct vd_enrich_stats *e)
{
	cr_assert_eq(e->requested, e->completed + e->failed,
	    "requested %llu, completed %llu, failed %llu",
	    (unsigned long long)e->requested, (unsigned long long)e->completed,
	    (unsigned long long)e->failed);
	cr_assert_eq(e->queue_depth, 0);
}

Test(enrich, deferred_events_are_enriched_evaluated_and_answered_once)
{
	static struct fixture f;
	const uint64_t n = 2000;
	uint64_t i, denies = 0;

	setup(&f, 1, 256, true, n);
	/* A timer starved on a loaded machine recycles answered events
	 * late: wait for one, as the fanotify reader does. */
	f.tb->pool_wait_ns = 200 * MS;
	for (i = 0; i < n; i++) {
		while (i - atomic_load(&f.tb->answers) > 128)
			sleep_ms(1);
		tb_submit(f.tb, f.p, VD_AUTH_EXEC, (pid_t)(100 + i), 0, NULL);
	}
	/* 1 s budgets: the timer would answer at 800 ms; the enrichment
	 * takes microseconds and 128 wait at most. */
	cr_assert(tb_wait(f.tb, n, 5000 * MS), "answers: %llu of %llu",
	    (unsigned long long)atomic_load(&f.tb->answers),
	    (unsigned long long)n);
	cr_assert_eq(tb_count_not_once(f.tb, n), 0);
	cr_assert_eq(tb_count_by(f.tb, n, TB_ENRICH), n,
	    "by the enrichment thread %llu, timer %llu",
	    (unsigned long long)tb_count_by(f.tb, n, TB_ENRICH),
	    (unsigned long long)tb_count_by(f.tb, n, TB_TIMER));
	for (i = 0; i < n; i++) {
		uint8_t want = ((100 + i) & 1) ? VD_DENY : VD_ALLOW;

		cr_assert_eq(atomic_load(&f.tb->msgs[i].verdict), want,
		    "message %llu: by %u, asked %llu, evaluated %llu",
		    (unsigned long long)i, atomic_load(&f.tb->msgs[i].by),
		    (unsigned long long)atomic_load(&f.x.asked),
		    (unsigned long long)atomic_load(&f.x.evaluated_with));
		denies += want == VD_DENY;
	}
	finish(&f);
	cr_assert_eq(f.st.enrich.threads, 1);
	cr_assert_eq(f.st.enrich.requested, n);
	cr_assert_eq(f.st.enrich.answered, n);
	cr_assert_eq(f.st.enrich.late + f.st.enrich.full +
	        f.st.enrich.undecided + f.st.enrich.unavailable,
	    0);
	cr_assert_eq(f.st.enrich.latency.count, n);
	cr_assert_eq(f.st.types[VD_AUTH_EXEC].answered_worker, n);
	cr_assert_eq(f.st.types[VD_AUTH_EXEC].denied, denies);
	cr_assert_eq(atomic_load(&f.x.evaluated_with), n);
	assert_enrich_books(&f.st.enrich);
	teardown(&f);
}

/* An enrichment slower than the deadline: the timer answers with the
 * default in time, the enrichment still ends (late), nothing twice. */
Test(enrich, a_slow_enrichment_loses_to_the_timer_and_is_counted_late)
{
	static struct fixture f;
	const uint64_t n = 20;
	uint64_t i;

	setup(&f, 2, 64, true, n);
	/* 100 ms budgets (the timer at 50 ms: the 50 ms floor), 300 ms
	 * enrichments: two threads get through 20 in 3 s. */
	atomic_store(&f.x.stall_ms, 300);
	for (i = 0; i < n; i++)
		tb_submit(f.tb, f.p, VD_AUTH_EXEC, (pid_t)(2 * i + 1), 100 * MS,
		    NULL);
	cr_assert(tb_wait(f.tb, n, 5000 * MS));
	cr_assert_eq(tb_count_not_once(f.tb, n), 0);
	cr_assert_eq(atomic_load(&f.tb->late), 0);
	cr_assert_eq(tb_count_by(f.tb, n, TB_TIMER), n);
	for (i = 0; i < n; i++)
		cr_assert_eq(atomic_load(&f.tb->msgs[i].verdict), VD_ALLOW,
		    "the default, though the digest would deny");
	/* Let the enrichments end (each counts itself before it returns;
	 * the stop waits for the thread's last one), then stop. */
	while (atomic_load(&f.x.enriched) < n)
		sleep_ms(10);
	cr_assert_geq(atomic_load(&f.x.late_calls), n - 2,
	    "enrich() is told when the timer answered first");
	finish(&f);
	cr_assert_eq(f.st.enrich.requested, n);
	cr_assert_eq(f.st.enrich.late, n);
	cr_assert_eq(f.st.enrich.answered, 0);
	cr_assert_eq(f.st.timer.fired, n);
	assert_enrich_books(&f.st.enrich);
	teardown(&f);
}

/* A full queue answers with the default at once, counted. */
Test(enrich, a_full_queue_answers_the_default_at_once)
{
	static struct fixture f;
	const uint64_t n = 40;
	uint64_t i, full;

	setup(&f, 1, 4, true, n);
	atomic_store(&f.x.hold, true);
	for (i = 0; i < n; i++)
		tb_submit(f.tb, f.p, VD_AUTH_EXEC, (pid_t)(2 * i + 1), 0, NULL);
	/* The thread holds one and the queue 3: the rest are answered at
	 * once by the workers. */
	cr_assert(tb_wait(f.tb, n - 4, 2000 * MS), "answers: %llu",
	    (unsigned long long)atomic_load(&f.tb->answers));
	full = tb_count_by(f.tb, n, TB_WORKER);
	cr_assert_geq(full, n - 4);
	atomic_store(&f.x.hold, false);
	cr_assert(tb_wait(f.tb, n, 5000 * MS));
	cr_assert_eq(tb_count_not_once(f.tb, n), 0);
	cr_assert_eq(tb_count_by(f.tb, n, TB_ENRICH), n - full);
	finish(&f);
	cr_assert_eq(f.st.enrich.full, full);
	cr_assert_eq(f.st.enrich.requested, n - full);
	assert_enrich_books(&f.st.enrich);
	teardown(&f);
}

/* A failed enrichment and a pipeline with no enricher: the rules decide
 * without the digest (here: deny); an evaluation that asks again anyway
 * gets the default.  Each counted. */
Test(enrich, failures_and_missing_enrichers_get_the_default)
{
	static struct fixture f, g, h;
	const uint64_t n = 30;
	uint64_t i;

	f.x.fail_mod = 3;
	setup(&f, 1, 64, true, n);
	for (i = 0; i < n; i++)
		tb_submit(f.tb, f.p, VD_AUTH_EXEC, (pid_t)(i + 1), 0, NULL);
	cr_assert(tb_wait(f.tb, n, 5000 * MS));
	cr_assert_eq(tb_count_not_once(f.tb, n), 0);
	for (i = 0; i < n; i++)
		if ((i + 1) % 3 == 0)
			cr_assert_eq(atomic_load(&f.tb->msgs[i].verdict),
			    VD_DENY, "a failure is decided without the digest");
	finish(&f);
	cr_assert_eq(f.st.enrich.failed, n / 3);
	cr_assert_eq(atomic_load(&f.x.evaluated_without), n / 3);
	cr_assert_eq(f.st.enrich.answered, n);
	assert_enrich_books(&f.st.enrich);
	teardown(&f);

	g.x.never_enough = true;
	setup(&g, 1, 64, true, n);
	for (i = 0; i < n; i++)
		tb_submit(g.tb, g.p, VD_AUTH_EXEC, (pid_t)(2 * i + 1), 0, NULL);
	cr_assert(tb_wait(g.tb, n, 5000 * MS));
	cr_assert_eq(tb_count_not_once(g.tb, n), 0);
	finish(&g);
	cr_assert_eq(g.st.enrich.undecided, n);
	for (i = 0; i < n; i++)
		cr_assert_eq(atomic_load(&g.tb->msgs[i].verdict), VD_ALLOW);
	teardown(&g);

	setup(&h, 0, 64, false, n);
	for (i = 0; i < n; i++)
		tb_submit(h.tb, h.p, VD_AUTH_EXEC, (pid_t)(2 * i + 2), 0, NULL);
	cr_assert(tb_wait(h.tb, n, 5000 * MS));
	cr_assert_eq(tb_count_by(h.tb, n, TB_WORKER), n);
	for (i = 0; i < n; i++)
		cr_assert_eq(atomic_load(&h.tb->msgs[i].verdict), VD_DENY,
		    "decided without the digest, on the worker");
	finish(&h);
	cr_assert_eq(h.st.enrich.unavailable, n);
	cr_assert_eq(h.st.enrich.threads, 0);
	teardown(&h);
}

/* At stop, what waits for enrichment is answered with the default, once. */
Test(enrich, stop_answers_what_waits_for_enrichment)
{
	static struct fixture f;
	const uint64_t n = 10;
	uint64_t i;

	setup(&f, 1, 64, true, n);
	atomic_store(&f.x.hold, true);
	for (i = 0; i < n; i++)
		tb_submit(f.tb, f.p, VD_AUTH_EXEC, (pid_t)(2 * i + 1), 0, NULL);
	/* Wait for all to be deferred, then release the held one while
	 * stopping. */
	while (vd_pipeline_stats(f.p, &f.st),
	    f.st.enrich.requested + f.st.enrich.full < n)
		sleep_ms(1);
	atomic_store(&f.x.hold, false);
	finish(&f);
	cr_assert_eq(atomic_load(&f.tb->answers), n);
	cr_assert_eq(tb_count_not_once(f.tb, n), 0);
	cr_assert_eq(f.st.types[VD_AUTH_EXEC].received,
	    f.st.types[VD_AUTH_EXEC].answered_worker +
	        f.st.types[VD_AUTH_EXEC].answered_default);
	cr_assert_eq(f.st.enrich.requested,
	    f.st.enrich.completed + f.st.enrich.failed + f.st.enrich.stopped,
	    "requested %llu, stopped %llu",
	    (unsigned long long)f.st.enrich.requested,
	    (unsigned long long)f.st.enrich.stopped);
	teardown(&f);
}
