/*
 * policyrt.c — the policy in force: epoch-protected reads, atomic swaps,
 * deferred frees.  See verdict/policy.h.
 *
 * The snapshot pointer is a C11 atomic (release on publish, acquire on
 * read), so ThreadSanitizer sees the snapshot's contents ordered.  The
 * grace period comes from ck_epoch, which TSan cannot see: the end of each
 * read section is annotated as a release on the runtime, and each free as
 * an acquire, the order the epoch guarantees.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <ck_epoch.h>

#include <verdict/policy.h>

#include "core/internal.h"
#include "core/ring.h"

struct retired {
	ck_epoch_entry_t entry;
	struct vd_policy *pol;
	struct vd_policy_runtime *rt;
};

/* A worker's epoch record and counters, on their own cache lines. */
struct slot {
	alignas(VD_CACHELINE) ck_epoch_record_t record;
	_Atomic uint64_t evaluations, matched, defaulted, truncated;
};

struct vd_policy_runtime {
	_Atomic(struct vd_policy *) cur;
	ck_epoch_t epoch;
	ck_epoch_record_t writer; /* the controlling thread's */
	unsigned nslots;
	struct slot *slots;
	_Atomic uint64_t generation;
	_Atomic uint64_t retired;
};

static void
add(_Atomic uint64_t *x)
{
	/* One writer per slot: a relaxed load and store, no locked add. */
	atomic_store_explicit(x,
	    atomic_load_explicit(x, memory_order_relaxed) + 1,
	    memory_order_relaxed);
}

static void
evaluate(void *ctx, unsigned worker, const struct vd_event *ev,
    struct vd_decision *out)
{
	struct vd_policy_runtime *rt = ctx;
	struct slot *s = &rt->slots[worker % rt->nslots];
	const struct vd_policy *pol;
	bool truncated = false;
	size_t rule = 0;

	ck_epoch_begin(&s->record, NULL);
	pol = atomic_load_explicit(&rt->cur, memory_order_acquire);
	if (pol != NULL)
		rule = vd_policy_eval(pol, ev, out, &truncated);
	VD_TSAN_RELEASE(rt);
	ck_epoch_end(&s->record, NULL);
	add(&s->evaluations);
	add(rule != 0 ? &s->matched : &s->defaulted);
	if (truncated)
		add(&s->truncated);
}

struct vd_policy_runtime *
vd_policy_runtime_create(struct vd_policy *pol, unsigned workers, int *err)
{
	struct vd_policy_runtime *rt;
	unsigned i;

	if ((rt = calloc(1, sizeof(*rt))) == NULL)
		goto fail;
	rt->nslots = workers != 0 ? workers : VD_MAX_WORKERS;
	rt->slots =
	    aligned_alloc(VD_CACHELINE, rt->nslots * sizeof(*rt->slots));
	if (rt->slots == NULL)
		goto fail;
	memset(rt->slots, 0, rt->nslots * sizeof(*rt->slots));
	ck_epoch_init(&rt->epoch);
	ck_epoch_register(&rt->epoch, &rt->writer, NULL);
	for (i = 0; i < rt->nslots; i++)
		ck_epoch_register(&rt->epoch, &rt->slots[i].record, NULL);
	atomic_store(&rt->cur, pol);
	atomic_store(&rt->generation, 1);
	*err = 0;
	return rt;
fail:
	if (rt != NULL)
		free(rt->slots);
	free(rt);
	*err = -ENOMEM;
	return NULL;
}

struct vd_evaluator
vd_policy_runtime_evaluator(struct vd_policy_runtime *rt)
{
	struct vd_evaluator e = {
		.evaluate = evaluate,
		.notify = NULL,
		.ctx = rt,
	};

	return e;
}

static void
reclaim(ck_epoch_entry_t *entry)
{
	struct retired *r = (struct retired *)(void *)((char *)entry -
	    offsetof(struct retired, entry));

	/* Every read section that could see r->pol has ended. */
	VD_TSAN_ACQUIRE(r->rt);
	atomic_fetch_sub(&r->rt->retired, 1);
	vd_policy_free(r->pol);
	free(r);
}

uint64_t
vd_policy_runtime_swap(struct vd_policy_runtime *rt, struct vd_policy *next)
{
	struct vd_policy *old;
	struct retired *r;

	old = atomic_exchange_explicit(&rt->cur, next, memory_order_acq_rel);
	atomic_fetch_add(&rt->generation, 1);
	if (old != NULL) {
		if ((r = malloc(sizeof(*r))) == NULL) {
			/* No memory to defer the free: keep the old snapshot
			 * forever rather than free it under a reader. */
			return atomic_load(&rt->generation);
		}
		r->pol = old;
		r->rt = rt;
		atomic_fetch_add(&rt->retired, 1);
		ck_epoch_call(&rt->writer, &r->entry, reclaim);
	}
	ck_epoch_poll(&rt->writer);
	return atomic_load(&rt->generation);
}

unsigned
vd_policy_runtime_poll(struct vd_policy_runtime *rt)
{
	ck_epoch_poll(&rt->writer);
	return (unsigned)atomic_load(&rt->retired);
}

void
vd_policy_runtime_stats(
    const struct vd_policy_runtime *rt, struct vd_policy_runtime_stats *out)
{
	const struct vd_policy *pol;
	unsigned i;

	memset(out, 0, sizeof(*out));
	out->generation = atomic_load(&rt->generation);
	pol = atomic_load_explicit(
	    &((struct vd_policy_runtime *)rt)->cur, memory_order_acquire);
	out->rules = pol != NULL ? vd_policy_rules(pol) : 0;
	for (i = 0; i < rt->nslots; i++) {
		out->evaluations += atomic_load_explicit(
		    &rt->slots[i].evaluations, memory_order_relaxed);
		out->matched += atomic_load_explicit(
		    &rt->slots[i].matched, memory_order_relaxed);
		out->defaulted += atomic_load_explicit(
		    &rt->slots[i].defaulted, memory_order_relaxed);
		out->truncated += atomic_load_explicit(
		    &rt->slots[i].truncated, memory_order_relaxed);
	}
	out->retired = atomic_load(&rt->retired);
}

void
vd_policy_runtime_destroy(struct vd_policy_runtime *rt)
{
	if (rt == NULL)
		return;
	/* The pipeline is stopped: no reader is left, so every pending
	 * free can run now. */
	ck_epoch_barrier(&rt->writer);
	vd_policy_free(atomic_load(&rt->cur));
	free(rt->slots);
	free(rt);
}
