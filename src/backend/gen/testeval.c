/*
 * testeval.c — the built-in test evaluator: decides by arithmetic, and
 * misbehaves on request (stalls, a blocked worker) so tests and demos can
 * show the deadline guarantee holding.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "backend/gen/testeval.h"

#include "platform/platform.h"

struct vd_testeval {
	_Atomic uint64_t stall_every;
	_Atomic uint64_t stall_ns;
	_Atomic uint64_t deny_every;
	_Atomic int block_worker; /* -1: none */
	_Atomic uint32_t release_seq;
	_Atomic uint64_t count;
	_Atomic uint64_t evaluated;
	_Atomic uint64_t notified;
	_Atomic uint64_t inside;
};

struct vd_testeval *
vd_testeval_create(void)
{
	struct vd_testeval *te = calloc(1, sizeof(*te));

	if (te != NULL)
		atomic_store(&te->block_worker, -1);
	return te;
}

void
vd_testeval_destroy(struct vd_testeval *te)
{
	free(te);
}

void
vd_testeval_set_stall(struct vd_testeval *te, uint64_t every, uint64_t stall_ns)
{
	atomic_store(&te->stall_ns, stall_ns);
	atomic_store(&te->stall_every, every);
}

void
vd_testeval_set_deny(struct vd_testeval *te, uint64_t every)
{
	atomic_store(&te->deny_every, every);
}

void
vd_testeval_block_worker(struct vd_testeval *te, unsigned worker)
{
	atomic_store(&te->block_worker, (int)worker);
}

void
vd_testeval_release(struct vd_testeval *te)
{
	atomic_store(&te->block_worker, -1);
	atomic_fetch_add(&te->release_seq, 1);
	vd_park_wake(&te->release_seq, 1 << 30);
}

uint64_t
vd_testeval_evaluated(const struct vd_testeval *te)
{
	return atomic_load(&te->evaluated);
}

uint64_t
vd_testeval_notified(const struct vd_testeval *te)
{
	return atomic_load(&te->notified);
}

uint64_t
vd_testeval_inside(const struct vd_testeval *te)
{
	return atomic_load(&te->inside);
}

static void
stall(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / 1000000000u),
		.tv_nsec = (long)(ns % 1000000000u),
	};

	while (nanosleep(&ts, &ts) != 0)
		;
}

static void
evaluate(void *ctx, unsigned worker, const struct vd_event *ev,
    struct vd_decision *out)
{
	struct vd_testeval *te = ctx;
	uint64_t n, every, deny;
	uint32_t seq;

	n = atomic_fetch_add_explicit(&te->count, 1, memory_order_relaxed) + 1;
	if (atomic_load_explicit(&te->block_worker, memory_order_acquire) ==
	    (int)worker) {
		atomic_fetch_add(&te->inside, 1);
		for (;;) {
			seq = atomic_load(&te->release_seq);
			if (atomic_load(&te->block_worker) != (int)worker)
				break;
			vd_park_wait(&te->release_seq, seq, UINT64_MAX);
		}
		atomic_fetch_sub(&te->inside, 1);
	}
	every = atomic_load_explicit(&te->stall_every, memory_order_relaxed);
	if (every != 0 && n % every == 0) {
		atomic_fetch_add(&te->inside, 1);
		stall(
		    atomic_load_explicit(&te->stall_ns, memory_order_relaxed));
		atomic_fetch_sub(&te->inside, 1);
	}
	deny = atomic_load_explicit(&te->deny_every, memory_order_relaxed);
	if (deny != 0 && ((uint64_t)ev->proc.pid + ev->handle.id) % deny == 0) {
		out->verdict = VD_DENY;
		out->open_flags = 0;
	} else {
		out->verdict = VD_ALLOW;
		out->open_flags = VD_OPEN_READ | VD_OPEN_WRITE;
	}
	atomic_fetch_add_explicit(&te->evaluated, 1, memory_order_relaxed);
}

static void
notify(void *ctx, const struct vd_event *const *evs, size_t n)
{
	struct vd_testeval *te = ctx;

	(void)evs;
	atomic_fetch_add_explicit(&te->notified, n, memory_order_relaxed);
}

struct vd_evaluator
vd_testeval_evaluator(struct vd_testeval *te)
{
	struct vd_evaluator e = {
		.evaluate = evaluate,
		.notify = notify,
		.ctx = te,
	};

	return e;
}
