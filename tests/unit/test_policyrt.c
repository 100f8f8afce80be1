/*
 * test_policyrt.c — the policy in force under reloads: swaps while workers
 * evaluate, old snapshots freed only after their grace period (ASan and
 * TSan watch for a use after free), every answer from a whole policy.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
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
	_Atomic uint64_t swaps; /* by the controller, so far */
	_Atomic bool done;
};

/* Swaps the producer waits for along its way: however the two threads'
 * speeds compare, the reloads are spread over the whole load. */
#define MIN_SWAPS 20

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
		while (atomic_load(&l->swaps) < i * MIN_SWAPS / l->n)
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
		atomic_store(&l.swaps, swaps);
		vd_policy_runtime_poll(rt);
	}
	pthread_join(th, NULL);
	cr_assert(tb_wait(l.tb, n, 10000 * MS));
	vd_pipeline_stop(l.p);
	cr_assert_eq(tb_count_not_once(l.tb, n), 0);
	cr_assert(swaps >= MIN_SWAPS - 1, "too few reloads to mean anything");
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

/*
 * The epoch alone, without the pipeline (and without the decision cache,
 * which answers repeats outside any read section): two evaluator threads
 * in read sections back to back, and one controller thread that swaps
 * and polls, as the daemon's reload does.  Every retired snapshot must be
 * freed while the evaluators still run, each free after every evaluation
 * that could have read it (under ThreadSanitizer, through the annotated
 * epoch edges; under ASan, no use after free).
 */
struct evaluator {
	pthread_t th;
	struct vd_evaluator ev;
	unsigned worker;
	_Atomic bool *stop;
	_Atomic uint64_t evaluations;
	_Atomic uint64_t wrong; /* answers that no whole policy gives */
};

static void *
evaluator_main(void *arg)
{
	struct evaluator *x = arg;
	struct vd_event *e[3];
	struct vd_decision d;
	uint64_t i;
	unsigned k;

	for (k = 0; k < 3; k++) {
		if ((e[k] = calloc(1, sizeof(*e[k]))) == NULL)
			abort();
		e[k]->type = VD_AUTH_OPEN;
		e[k]->open_flags = VD_OPEN_READ;
		e[k]->proc.pid = (pid_t)(100 + x->worker);
		strcpy(e[k]->target, paths[k]);
	}
	for (i = 0; !atomic_load_explicit(x->stop, memory_order_relaxed); i++) {
		d = (struct vd_decision){ .verdict = VD_ALLOW };
		x->ev.evaluate(x->ev.ctx, x->worker, e[i % 3], &d);
		/* /c/z: no rule in either policy, the preset stays. */
		if (i % 3 == 2 && d.verdict != VD_ALLOW)
			atomic_fetch_add(&x->wrong, 1);
		atomic_fetch_add_explicit(
		    &x->evaluations, 1, memory_order_relaxed);
	}
	for (k = 0; k < 3; k++)
		free(e[k]);
	return NULL;
}

Test(policyrt, epoch_frees_retired_policies_while_workers_evaluate,
    .timeout = 120)
{
	const unsigned swaps = 200;
	struct vd_policy_runtime_stats st;
	struct vd_policy_runtime *rt;
	struct evaluator x[2];
	_Atomic bool stop = false;
	uint64_t t0, before;
	unsigned i, k, left;
	int err;

	rt = vd_policy_runtime_create(compile(pol_a), 2, &err);
	cr_assert_not_null(rt);
	/* Every evaluation a read section. */
	cr_assert_eq(vd_policy_runtime_set_cache(rt, 0), 0);
	for (k = 0; k < 2; k++) {
		x[k].ev = vd_policy_runtime_evaluator(rt);
		x[k].worker = k;
		x[k].stop = &stop;
		atomic_init(&x[k].evaluations, 0);
		atomic_init(&x[k].wrong, 0);
		cr_assert_eq(
		    pthread_create(&x[k].th, NULL, evaluator_main, &x[k]), 0);
	}
	/* Both read the first snapshot before it is retired. */
	for (k = 0; k < 2; k++) {
		while (atomic_load(&x[k].evaluations) == 0)
			sched_yield();
	}
	/* The controller: this thread alone swaps and polls. */
	for (i = 0; i < swaps; i++) {
		vd_policy_runtime_swap(rt, compile(i % 2 == 0 ? pol_b : pol_a));
		vd_policy_runtime_poll(rt);
	}
	/*
	 * Grace periods end as the evaluators leave their sections: wait
	 * for the last free (not for a time) while they still run.  The
	 * 30 s bound only turns a hang into a failure.
	 */
	t0 = vd_clock_ns();
	while ((left = vd_policy_runtime_poll(rt)) != 0 &&
	    vd_clock_ns() - t0 < 30000 * MS)
		sched_yield();
	before =
	    atomic_load(&x[0].evaluations) + atomic_load(&x[1].evaluations);
	atomic_store(&stop, true);
	for (k = 0; k < 2; k++)
		pthread_join(x[k].th, NULL);
	cr_assert_eq(left, 0, "%u retired policies never freed", left);
	vd_policy_runtime_stats(rt, &st);
	cr_assert_eq(st.generation, swaps + 1);
	cr_assert_eq(st.retired, 0);
	cr_assert_eq(st.cache_hits, 0);
	cr_assert_eq(st.evaluations,
	    atomic_load(&x[0].evaluations) + atomic_load(&x[1].evaluations));
	cr_assert_gt(before, 2, "the evaluators never ran");
	for (k = 0; k < 2; k++)
		cr_assert_eq(atomic_load(&x[k].wrong), 0,
		    "worker %u: an answer from no whole policy", k);
	vd_policy_runtime_destroy(rt);
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

/* --- the decision cache --------------------------------------------- */

static const char pol_cache[] = "deny open all : prefix=/a/\n"
                                "deny,audit open all : prefix=/loud/\n"
                                "allow open all : all\n";

/* An open of `path` with a known identity, as the es backend fills it. */
static struct vd_event *
cache_event(const char *path)
{
	struct vd_event *e = calloc(1, sizeof(*e));

	cr_assert_not_null(e);
	e->type = VD_AUTH_OPEN;
	e->open_flags = VD_OPEN_READ;
	e->proc.pid = 100;
	e->proc.uid = 501;
	e->proc.start_time = 12345;
	strcpy(e->proc.exe, "/usr/bin/cat");
	strcpy(e->target, path);
	e->target_id = true;
	e->target_dev = 7;
	e->target_ino = 4242;
	e->target_ctime_ns = 1000000000ull;
	return e;
}

static struct vd_decision
decide(struct vd_evaluator *ev, const struct vd_event *e)
{
	struct vd_decision d = { .verdict = VD_ALLOW };

	ev->evaluate(ev->ctx, 0, e, &d);
	return d;
}

static struct vd_policy_runtime_stats
cstats(struct vd_policy_runtime *rt)
{
	struct vd_policy_runtime_stats st;

	vd_policy_runtime_stats(rt, &st);
	return st;
}

Test(policyrt, cache_answers_a_repeated_event_from_the_table)
{
	struct vd_policy_runtime *rt;
	struct vd_evaluator ev;
	struct vd_event *e = cache_event("/a/x");
	struct vd_decision d;
	int err;

	rt = vd_policy_runtime_create(compile(pol_cache), 1, &err);
	cr_assert_not_null(rt);
	cr_assert_eq(
	    vd_policy_runtime_cache_entries(rt), VD_POLICY_CACHE_DEFAULT);
	ev = vd_policy_runtime_evaluator(rt);
	cr_assert_not_null(ev.notify);
	d = decide(&ev, e);
	cr_assert_eq(d.verdict, VD_DENY);
	cr_assert_eq(cstats(rt).cache_misses, 1);
	cr_assert_eq(cstats(rt).cache_hits, 0);
	d = decide(&ev, e);
	cr_assert_eq(d.verdict, VD_DENY);
	cr_assert_eq(cstats(rt).cache_hits, 1);
	cr_assert_eq(cstats(rt).evaluations, 1, "a hit ran the policy");
	vd_policy_runtime_destroy(rt);
	free(e);
}

Test(policyrt, cache_misses_when_any_key_field_differs)
{
	struct vd_policy_runtime *rt;
	struct vd_evaluator ev;
	struct vd_event *e = cache_event("/c/x");
	uint64_t misses;
	int err, k;

	rt = vd_policy_runtime_create(compile(pol_cache), 1, &err);
	cr_assert_not_null(rt);
	ev = vd_policy_runtime_evaluator(rt);
	for (k = 0; k < 8; k++) {
		struct vd_event *f = cache_event("/c/x");

		decide(&ev, e); /* base in the table */
		misses = cstats(rt).cache_misses;
		switch (k) {
		case 0:
			f->proc.pid = 101;
			break;
		case 1:
			f->proc.start_time = 12346;
			break;
		case 2:
			f->open_flags = VD_OPEN_WRITE;
			break;
		case 3:
			f->target_ctime_ns += 1000000000ull;
			break;
		case 4:
			f->proc.uid = 0;
			break;
		case 5:
			/* Same inode, another name: a rename. */
			strcpy(f->target, "/a/x");
			break;
		case 6:
			/* The same process after an exec. */
			strcpy(f->proc.exe, "/usr/bin/curl");
			break;
		case 7:
			f->target_ino = 4243;
			break;
		}
		decide(&ev, f);
		cr_assert_eq(
		    cstats(rt).cache_misses, misses + 1, "field %d", k);
		free(f);
	}
	/* The renamed file got its own answer, not the cached allow. */
	{
		struct vd_event *f = cache_event("/a/x");

		cr_assert_eq(decide(&ev, f).verdict, VD_DENY);
		free(f);
	}
	vd_policy_runtime_destroy(rt);
	free(e);
}

Test(policyrt, cache_is_invalidated_by_a_reload)
{
	struct vd_policy_runtime *rt;
	struct vd_evaluator ev;
	struct vd_event *e = cache_event("/a/x");
	int err;

	rt = vd_policy_runtime_create(compile(pol_cache), 1, &err);
	cr_assert_not_null(rt);
	ev = vd_policy_runtime_evaluator(rt);
	cr_assert_eq(decide(&ev, e).verdict, VD_DENY);
	cr_assert_eq(decide(&ev, e).verdict, VD_DENY);
	cr_assert_eq(cstats(rt).cache_hits, 1);
	vd_policy_runtime_swap(rt, compile(pol_b)); /* allows /a/ */
	cr_assert_eq(decide(&ev, e).verdict, VD_ALLOW);
	cr_assert_eq(cstats(rt).cache_hits, 1);
	cr_assert_eq(cstats(rt).cache_misses, 2);
	cr_assert_eq(decide(&ev, e).verdict, VD_ALLOW);
	cr_assert_eq(cstats(rt).cache_hits, 2);
	vd_policy_runtime_destroy(rt);
	free(e);
}

Test(policyrt, cache_is_emptied_by_a_flush_policy_unchanged)
{
	struct vd_policy_runtime *rt;
	struct vd_evaluator ev;
	struct vd_event *e = cache_event("/a/x");
	int err;

	rt = vd_policy_runtime_create(compile(pol_cache), 1, &err);
	cr_assert_not_null(rt);
	ev = vd_policy_runtime_evaluator(rt);
	cr_assert_eq(decide(&ev, e).verdict, VD_DENY);
	cr_assert_eq(decide(&ev, e).verdict, VD_DENY);
	cr_assert_eq(cstats(rt).cache_hits, 1);
	vd_policy_runtime_flush(rt);
	cr_assert_eq(cstats(rt).cache_flushes, 1);
	cr_assert_eq(cstats(rt).generation, 1, "a flush is not a reload");
	cr_assert_eq(decide(&ev, e).verdict, VD_DENY);
	cr_assert_eq(cstats(rt).cache_hits, 1, "a flushed entry answered");
	cr_assert_eq(cstats(rt).evaluations, 2);
	cr_assert_eq(decide(&ev, e).verdict, VD_DENY);
	cr_assert_eq(cstats(rt).cache_hits, 2);
	vd_policy_runtime_destroy(rt);
	free(e);
}

/* vd_policy_runtime_on_write's hook: counts the files it hears of. */
static void
count_write(void *ctx, const struct vd_event *ev)
{
	(void)ev;
	(*(unsigned *)ctx)++;
}

Test(policyrt, cache_is_invalidated_by_a_close_after_write)
{
	struct vd_policy_runtime *rt;
	struct vd_evaluator ev;
	struct vd_event *e = cache_event("/a/x");
	struct vd_event *c = cache_event("/a/x");
	const struct vd_event *batch[1] = { c };
	unsigned written = 0;
	int err;

	rt = vd_policy_runtime_create(compile(pol_cache), 1, &err);
	cr_assert_not_null(rt);
	vd_policy_runtime_on_write(rt, count_write, &written);
	ev = vd_policy_runtime_evaluator(rt);
	decide(&ev, e);
	decide(&ev, e);
	cr_assert_eq(cstats(rt).cache_hits, 1);
	/* A close without a write changes nothing. */
	c->type = VD_NOTIFY_CLOSE;
	c->close_modified = false;
	ev.notify(ev.ctx, batch, 1);
	cr_assert_eq(cstats(rt).cache_invalidations, 0);
	decide(&ev, e);
	cr_assert_eq(cstats(rt).cache_hits, 2);
	/* Nor does one of a file of unknown identity. */
	c->close_modified = true;
	c->target_id = false;
	ev.notify(ev.ctx, batch, 1);
	cr_assert_eq(cstats(rt).cache_invalidations, 0);
	c->target_id = true;
	ev.notify(ev.ctx, batch, 1);
	cr_assert_eq(cstats(rt).cache_invalidations, 1);
	cr_assert_eq(decide(&ev, e).verdict, VD_DENY);
	cr_assert_eq(cstats(rt).cache_hits, 2);
	cr_assert_eq(cstats(rt).cache_misses, 2);
	decide(&ev, e);
	cr_assert_eq(cstats(rt).cache_hits, 3);
	/* A write invalidates as well. */
	c->type = VD_NOTIFY_WRITE;
	c->close_modified = false;
	ev.notify(ev.ctx, batch, 1);
	cr_assert_eq(cstats(rt).cache_invalidations, 2);
	decide(&ev, e);
	cr_assert_eq(cstats(rt).cache_misses, 3);
	cr_assert_eq(written, 2, "the hook hears of each invalidation only");
	vd_policy_runtime_destroy(rt);
	free(e);
	free(c);
}

Test(policyrt, cache_keeps_no_audited_truncated_or_anonymous_decision)
{
	struct vd_policy_runtime *rt;
	struct vd_evaluator ev;
	struct vd_event *loud = cache_event("/loud/x");
	struct vd_event *anon = cache_event("/a/x");
	struct vd_event *cut = cache_event("/a/x");
	struct vd_event *ren = cache_event("/a/x");
	int err, i;

	rt = vd_policy_runtime_create(compile(pol_cache), 1, &err);
	cr_assert_not_null(rt);
	ev = vd_policy_runtime_evaluator(rt);
	anon->target_id = false;
	cut->target_truncated = true;
	ren->type = VD_AUTH_RENAME; /* has a second path */
	for (i = 0; i < 3; i++) {
		struct vd_decision d = decide(&ev, loud);

		cr_assert_eq(d.verdict, VD_DENY);
		cr_assert(d.audit, "audit lost on pass %d", i);
		decide(&ev, anon);
		decide(&ev, cut);
		decide(&ev, ren);
	}
	cr_assert_eq(cstats(rt).cache_hits, 0);
	/* Only the audited one was looked up. */
	cr_assert_eq(cstats(rt).cache_misses, 3);
	cr_assert_eq(cstats(rt).evaluations, 12);
	vd_policy_runtime_destroy(rt);
	free(loud);
	free(anon);
	free(cut);
	free(ren);
}

Test(policyrt, cache_full_table_evicts_and_counts)
{
	struct vd_policy_runtime *rt;
	struct vd_evaluator ev;
	struct vd_policy_runtime_stats st;
	struct vd_event *e = cache_event("/c/x");
	const unsigned n = 64;
	unsigned i;
	int err;

	rt = vd_policy_runtime_create(compile(pol_cache), 1, &err);
	cr_assert_not_null(rt);
	cr_assert_eq(vd_policy_runtime_set_cache(rt, 5), 0);
	cr_assert_eq(vd_policy_runtime_cache_entries(rt), 8);
	cr_assert_eq(
	    vd_policy_runtime_set_cache(rt, VD_POLICY_CACHE_MAX + 1), -EINVAL);
	cr_assert_eq(vd_policy_runtime_set_cache(rt, 8), 0);
	ev = vd_policy_runtime_evaluator(rt);
	for (i = 0; i < n; i++) {
		e->target_ino = 1000 + i;
		decide(&ev, e);
	}
	st = cstats(rt);
	cr_assert_eq(st.cache_misses, n);
	/* 8 entries: everything after the table filled up evicted one
	 * (at least n - 8; a set fills later when the hash is uneven). */
	cr_assert_gt(st.cache_evictions, n - 8 - 8 - 1);
	cr_assert_lt(st.cache_evictions, n - 1);
	cr_assert_eq(st.cache_entries, 8);
	/* The last one is still there. */
	decide(&ev, e);
	cr_assert_eq(cstats(rt).cache_hits, 1);
	/* Off: no lookups at all. */
	cr_assert_eq(vd_policy_runtime_set_cache(rt, 0), 0);
	decide(&ev, e);
	decide(&ev, e);
	cr_assert_eq(cstats(rt).cache_hits, 1);
	cr_assert_eq(cstats(rt).cache_misses, n);
	vd_policy_runtime_destroy(rt);
	free(e);
}

struct hits {
	uint64_t h[8];
	unsigned line[8];
	size_t n;
};

static void
hits_cb(
    void *ctx, size_t rule, const struct vd_policy_rule_info *r, uint64_t hits)
{
	struct hits *x = ctx;

	cr_assert_lt(rule - 1, 8);
	x->h[rule - 1] = hits;
	x->line[rule - 1] = r->line;
	x->n++;
}

/* Every decision counts for its rule, cached ones too; a reload starts
 * the new policy's counts from 0.  Would-denies are counted. */
Test(policyrt, rule_hits_count_every_decision_cached_or_not)
{
	struct vd_policy_runtime *rt;
	struct vd_evaluator ev;
	struct vd_event *e = cache_event("/a/x");
	struct hits x = { 0 };
	int err, i;

	rt = vd_policy_runtime_create(
	    compile("deny open all : prefix=/a/\n"
	            "deny,monitor open all : prefix=/m/\n"
	            "allow open all : all\n"),
	    1, &err);
	cr_assert_not_null(rt);
	ev = vd_policy_runtime_evaluator(rt);
	for (i = 0; i < 5; i++)
		cr_assert_eq(decide(&ev, e).verdict, VD_DENY);
	cr_assert_eq(cstats(rt).cache_hits, 4, "the hits came from the cache");
	strcpy(e->target, "/m/x");
	e->target_ino++;
	for (i = 0; i < 3; i++)
		cr_assert(decide(&ev, e).would_deny);
	cr_assert_eq(cstats(rt).would_deny, 3, "each would-deny evaluated");
	strcpy(e->target, "/z");
	e->target_ino++;
	decide(&ev, e);
	cr_assert_eq(vd_policy_runtime_rule_hits(rt, hits_cb, &x), 3);
	cr_assert_eq(x.h[0], 5);
	cr_assert_eq(x.h[1], 3);
	cr_assert_eq(x.h[2], 1);
	cr_assert(x.line[0] == 1 && x.line[1] == 2 && x.line[2] == 3);
	vd_policy_runtime_swap(rt, compile("allow open all : all\n"));
	memset(&x, 0, sizeof(x));
	cr_assert_eq(vd_policy_runtime_rule_hits(rt, hits_cb, &x), 1);
	cr_assert_eq(x.h[0], 0);
	decide(&ev, e);
	memset(&x, 0, sizeof(x));
	vd_policy_runtime_rule_hits(rt, hits_cb, &x);
	cr_assert_eq(x.h[0], 1);
	vd_policy_runtime_destroy(rt);
	free(e);
}
