/*
 * test_timer.c — the timer thread's arm / cancel / fire handling, driven
 * by hand on a pipeline that is not started, in every order the rings can
 * deliver them, including a cancel that overtakes its arm.  The judge is
 * the event pool: every box must come back exactly once, and only then.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>

#include <verdict/verdict.h>

#include "backend/gen/testeval.h"

#include "core/internal.h"
#include "support/testbackend.h"

#define POOL 4

struct fx {
	struct tb *tb;
	struct vd_testeval *te;
	struct vd_pipeline *p;
};

static void
fx_init(struct fx *f)
{
	struct vd_config cfg;
	struct vd_evaluator ev;
	int err;

	vd_config_init(&cfg, VD_PROFILE_FANOTIFY);
	cfg.workers = 1;
	cfg.pool_size = POOL;
	f->tb = tb_create(16, false);
	f->te = vd_testeval_create();
	ev = vd_testeval_evaluator(f->te);
	f->p = vd_pipeline_create(&cfg, &ev, &f->tb->ops, f->tb, &err);
	cr_assert_not_null(f->p);
}

static void
fx_fini(struct fx *f)
{
	vd_pipeline_destroy(f->p);
	vd_testeval_destroy(f->te);
	tb_destroy(f->tb);
}

/* A box as submit leaves it: pending, two references, armed far ahead. */
static struct vd_box *
in_flight(struct fx *f, uint64_t id)
{
	struct vd_event *ev = vd_pipeline_event_get(f->p, VD_AUTH_OPEN);
	struct vd_box *b = vd__box_of(ev);

	cr_assert_not_null(ev);
	ev->handle.id = id;
	b->tstate = VD_T_NONE;
	b->fire_ns = f->p->wheel->now * f->p->cfg.tick_ns + 1000000000ull;
	vd_wheel_node_init(&b->tnode);
	atomic_store(&b->state, VD_PENDING);
	atomic_store(&b->refs, 2);
	return b;
}

/* Every box of the pool is free: they can all be taken again. */
static unsigned
pool_free(struct fx *f)
{
	struct vd_event *held[POOL + 1];
	unsigned n = 0, i;

	while (n <= POOL &&
	    (held[n] = vd_pipeline_event_get(f->p, VD_AUTH_OPEN)) != NULL)
		n++;
	for (i = 0; i < n; i++)
		vd__pool_put(&f->p->pools[VD_AUTH_OPEN], vd__box_of(held[i]));
	return n;
}

static void
worker_wins(struct vd_box *b)
{
	uint32_t expect = VD_PENDING;

	cr_assert(
	    atomic_compare_exchange_strong(&b->state, &expect, VD_ANSWERED));
	/* The worker's reference now travels with its cancel. */
}

Test(timer, arm_then_cancel_unlinks_and_frees_once)
{
	struct fx f;
	struct vd_box *b;

	fx_init(&f);
	b = in_flight(&f, 1);
	vd__timer_arm(f.p, b);
	cr_assert_eq(vd_wheel_count(f.p->wheel), 1);
	worker_wins(b);
	vd__timer_cancel(f.p, b);
	cr_assert_eq(vd_wheel_count(f.p->wheel), 0);
	cr_assert_eq(atomic_load(&b->refs), 0);
	cr_assert_eq(pool_free(&f), POOL);
	cr_assert(vd_wheel_check(f.p->wheel));
	fx_fini(&f);
}

Test(timer, a_cancel_that_overtakes_its_arm_frees_once_when_the_arm_comes)
{
	struct fx f;
	struct vd_box *b;

	fx_init(&f);
	b = in_flight(&f, 1);
	worker_wins(b);
	vd__timer_cancel(f.p, b);
	/* The arm still holds its reference: the box is not free yet. */
	cr_assert_eq(atomic_load(&b->refs), 1);
	cr_assert_eq(pool_free(&f), POOL - 1);
	vd__timer_arm(f.p, b);
	cr_assert_eq(vd_wheel_count(f.p->wheel), 0, "armed after its cancel");
	cr_assert_eq(atomic_load(&b->refs), 0);
	cr_assert_eq(pool_free(&f), POOL);
	cr_assert_eq(atomic_load(&f.tb->answers), 0);
	fx_fini(&f);
}

Test(timer, a_fire_that_loses_the_race_does_not_answer)
{
	struct fx f;
	struct vd_box *b;

	fx_init(&f);
	b = in_flight(&f, 1);
	vd__timer_arm(f.p, b);
	worker_wins(b);
	/* The wheel expires it before the cancel arrives. */
	vd_wheel_del(f.p->wheel, &b->tnode);
	vd__timer_fire(f.p, b, 0, false);
	cr_assert_eq(atomic_load(&f.tb->answers), 0);
	cr_assert_eq(atomic_load(&b->refs), 1);
	vd__timer_cancel(f.p, b);
	cr_assert_eq(atomic_load(&b->refs), 0);
	cr_assert_eq(pool_free(&f), POOL);
	fx_fini(&f);
}

Test(timer, a_fire_that_wins_answers_with_the_default_once)
{
	struct fx f;
	struct vd_box *b;

	fx_init(&f);
	b = in_flight(&f, 3);
	vd__timer_arm(f.p, b);
	vd_wheel_del(f.p->wheel, &b->tnode);
	vd__timer_fire(f.p, b, 0, false);
	cr_assert_eq(atomic_load(&f.tb->answers), 1);
	cr_assert_eq(atomic_load(&f.tb->msgs[3].answers), 1);
	cr_assert_eq(atomic_load(&b->state), VD_ANSWERED);
	/* The worker still holds its reference (it will lose the CAS). */
	cr_assert_eq(atomic_load(&b->refs), 1);
	cr_assert_eq(pool_free(&f), POOL - 1);
	fx_fini(&f);
}
