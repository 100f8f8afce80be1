/*
 * test_policyrt.c — the policy in force under reloads: swaps while workers
 * evaluate, old snapshots freed only after their grace period (ASan and
 * TSan watch for a use after free), every answer from a whole policy.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <verdict/policy.h>
#include <verdict/verdict.h>

#include "support/test.h"
#include "support/testbackend.h"

#define MS 1000000ull

/* A denies /a/, allows the rest; B denies /b/, allows the rest. */
static const char pol_a[] = "deny open all : prefix=/a/\n";
static const char pol_b[] = "allow open all : prefix=/a/\n"
                            "deny open all : prefix=/b/\n";

static struct vd_policy *
compile(const char *text)
{
	struct vd_policy_error pe;
	struct vd_policy *p;
	int rc;

	p = vd_policy_compile(text, strlen(text), "test.rules",
	    VD_POLICY_CAN_ACCESS | VD_POLICY_CAN_TEAM_ID, &pe, &rc);
	cr_assert_not_null(
	    p, "%s:%d:%d: %s", pe.file, pe.line, pe.column, pe.msg);
	return p;
}

struct load {
	struct tb *tb;
	struct vd_pipeline *p;
	uint64_t n;
	_Atomic bool done;
};

static const char *const paths[] = { "/a/x", "/b/y", "/c/z" };

static void *
producer(void *arg)
{
	struct load *l = arg;
	struct vd_event *ev;
	uint64_t i, id;

	for (i = 0; i < l->n; i++) {
		/* Stay within the pool. */
		while (i - atomic_load(&l->tb->answers) > 256)
			sched_yield();
		id = tb_new_id(l->tb, 0);
		if ((ev = vd_pipeline_event_get(l->p, VD_AUTH_OPEN)) == NULL) {
			struct vd_handle h = { .id = id, .fd = -1 };

			vd_pipeline_refuse(l->p, VD_AUTH_OPEN, &h);
			continue;
		}
		ev->handle.id = id;
		ev->proc.pid = (pid_t)(i % 97);
		ev->open_flags = VD_OPEN_READ;
		strcpy(ev->target, paths[id % 3]);
		vd_pipeline_submit(l->p, ev);
	}
	atomic_store(&l->done, true);
	return NULL;
}

Test(policyrt, reload_under_load_answers_from_whole_policies, .timeout = 120)
{
	const uint64_t n = 60000;
	struct vd_policy_runtime_stats st;
	struct vd_policy_runtime *rt;
	struct vd_evaluator ev;
	struct vd_config cfg;
	struct load l = { 0 };
	pthread_t th;
	uint64_t i, swaps = 0, gen = 1;
	int err;

	l.tb = tb_create(n, false);
	l.n = n;
	rt = vd_policy_runtime_create(compile(pol_a), 2, &err);
	cr_assert_not_null(rt);
	ev = vd_policy_runtime_evaluator(rt);
	vd_config_init(&cfg, VD_PROFILE_FANOTIFY);
	cfg.workers = 2;
	cfg.pin_workers = false;
	cfg.pool_size = 4096;
	l.p = vd_pipeline_create(&cfg, &ev, &l.tb->ops, l.tb, &err);
	cr_assert_not_null(l.p);
	cr_assert_eq(vd_pipeline_start(l.p), 0);
	pthread_create(&th, NULL, producer, &l);
	/* Swap as fast as we can compile while the workers evaluate. */
	while (!atomic_load(&l.done)) {
		gen = vd_policy_runtime_swap(
		    rt, compile(swaps % 2 == 0 ? pol_b : pol_a));
		swaps++;
		vd_policy_runtime_poll(rt);
	}
	pthread_join(th, NULL);
	cr_assert(tb_wait(l.tb, n, 10000 * MS));
	vd_pipeline_stop(l.p);
	cr_assert_eq(tb_count_not_once(l.tb, n), 0);
	cr_assert_gt(swaps, 10, "too few reloads to mean anything");
	cr_assert_eq(gen, swaps + 1);
	for (i = 0; i < n; i++) {
		/* /c/z is allowed by both policies; /a/x and /b/y by one of
		 * them: anything else came from no whole policy. */
		if (i % 3 == 2)
			cr_assert_eq(atomic_load(&l.tb->msgs[i].verdict),
			    VD_ALLOW, "event %llu", (unsigned long long)i);
	}
	/* Nobody evaluates any more: every retired policy can go. */
	for (i = 0; i < 1000 && vd_policy_runtime_poll(rt) != 0; i++)
		sched_yield();
	vd_policy_runtime_stats(rt, &st);
	cr_assert_eq(st.retired, 0, "%llu policies never freed",
	    (unsigned long long)st.retired);
	cr_assert_eq(st.generation, swaps + 1);
	cr_assert_eq(st.evaluations, st.matched + st.defaulted);
	cr_assert_gt(st.matched, 0);
	vd_pipeline_destroy(l.p);
	vd_policy_runtime_destroy(rt);
	tb_destroy(l.tb);
}

Test(policyrt, a_runtime_without_policy_leaves_the_default)
{
	struct vd_policy_runtime *rt;
	struct vd_evaluator ev;
	struct vd_decision d = { .verdict = VD_DENY };
	struct vd_event *e = calloc(1, sizeof(*e));
	int err;

	rt = vd_policy_runtime_create(NULL, 1, &err);
	cr_assert_not_null(rt);
	ev = vd_policy_runtime_evaluator(rt);
	e->type = VD_AUTH_OPEN;
	strcpy(e->target, "/a/x");
	ev.evaluate(ev.ctx, 0, e, &d);
	cr_assert_eq(d.verdict, VD_DENY);
	vd_policy_runtime_swap(rt, compile(pol_b));
	d.verdict = VD_DENY;
	ev.evaluate(ev.ctx, 0, e, &d);
	cr_assert_eq(d.verdict, VD_ALLOW);
	vd_policy_runtime_destroy(rt);
	free(e);
}
