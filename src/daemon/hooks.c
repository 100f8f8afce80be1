/*
 * hooks.c — test hooks around the verdict logic.  See hooks.h.
 *
 * Sleeping is what these hooks are for: they stand for a rule engine that
 * hangs.  They sleep in 1 ms steps so a release is seen quickly.
 */
#include <fnmatch.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/hooks.h"

#define NS_PER_MS UINT64_C(1000000)

struct vd_hooks {
	struct vd_evaluator inner;
	char stall_name[VD_CONF_NAME_MAX];
	_Atomic uint64_t stall_ns;
	_Atomic bool block;
	_Atomic int blocked; /* the evaluator slot that blocks, -1: none yet */
	_Atomic bool released;
	_Atomic uint64_t fired;
};

static void
nap_ms(void)
{
	struct timespec ts = { 0, 1000000 };

	nanosleep(&ts, NULL);
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

static void
hooks_evaluate(void *ctx, unsigned worker, const struct vd_event *ev,
    struct vd_decision *out)
{
	struct vd_hooks *h = ctx;
	uint64_t ns;

	if (atomic_load(&h->block) && !atomic_load(&h->released)) {
		int none = -1;

		/* The first slot to evaluate after block_worker was set:
		 * a worker, or the inline runner (the fanotify reader). */
		atomic_compare_exchange_strong(&h->blocked, &none, (int)worker);
		if (atomic_load(&h->blocked) == (int)worker) {
			atomic_fetch_add(&h->fired, 1);
			while (atomic_load(&h->block) &&
			    !atomic_load(&h->released))
				nap_ms();
		}
	}
	if (h->stall_name[0] != '\0' && !ev->target_truncated &&
	    fnmatch(h->stall_name, base_name(ev->target), 0) == 0 &&
	    (ns = atomic_load(&h->stall_ns)) != 0) {
		atomic_fetch_add(&h->fired, 1);
		for (uint64_t slept = 0;
		     slept < ns && !atomic_load(&h->released);
		     slept += NS_PER_MS)
			nap_ms();
	}
	if (h->inner.evaluate != NULL)
		h->inner.evaluate(h->inner.ctx, worker, ev, out);
}

static void
hooks_notify(void *ctx, const struct vd_event *const *evs, size_t n)
{
	struct vd_hooks *h = ctx;

	if (h->inner.notify != NULL)
		h->inner.notify(h->inner.ctx, evs, n);
}

struct vd_hooks *
vd_hooks_create(const struct vd_evaluator *inner, const struct vd_conf_test *t)
{
	struct vd_hooks *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->inner = *inner;
	atomic_init(&h->blocked, -1);
	memcpy(h->stall_name, t->stall_name, sizeof(h->stall_name));
	vd_hooks_set(h, t);
	return h;
}

struct vd_evaluator
vd_hooks_evaluator(struct vd_hooks *h)
{
	return (struct vd_evaluator){ hooks_evaluate, hooks_notify, h };
}

void
vd_hooks_set(struct vd_hooks *h, const struct vd_conf_test *t)
{
	atomic_store(&h->stall_ns, t->stall_ms * NS_PER_MS);
	if (!t->block_worker)
		atomic_store(&h->blocked, -1);
	atomic_store(&h->block, t->block_worker);
}

void
vd_hooks_release(struct vd_hooks *h)
{
	if (h != NULL)
		atomic_store(&h->released, true);
}

uint64_t
vd_hooks_fired(const struct vd_hooks *h)
{
	return atomic_load(&h->fired);
}

void
vd_hooks_destroy(struct vd_hooks *h)
{
	free(h);
}
