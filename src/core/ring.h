/*
 * ring.h — bounded pointer rings on Concurrency Kit's ck_ring (internal).
 *
 * A thin wrapper, not a rewrite: the concurrency contract is in the name
 * (vd_ring_push_mp: many producers; vd_ring_push_sp: exactly one;
 * vd_ring_pop_sc: exactly one consumer; vd_ring_pop_mc: many).  A ring of
 * size N holds N - 1 items (ck_ring keeps one slot empty).  Pushes and pops
 * never block: a full ring refuses the push, an empty one the pop.
 *
 * ck_ring's MPSC enqueue is reserve -> write -> commit; a producer preempted
 * inside that window makes later producers wait for its commit, so the window
 * is a single pointer store.
 *
 * ThreadSanitizer sees neither ck's fences nor the order they give the
 * ring's own slots (util/tsan.h), so under TSan each push and pop runs with
 * access recording off, and the wrapper states the edge the ring provides
 * for the items' contents: release on the ring before a push, acquire on it
 * after a pop.  That edge is coarser than ck's, which orders a pop only
 * after the push of the item it took: an acquire also covers pushes begun
 * and not yet committed, or refused.  So it may hide a race, never report
 * one that is not there.  The rings themselves are proven by the stamped
 * multi-producer stress test.
 */
#ifndef VD_CORE_RING_H
#define VD_CORE_RING_H

#include <stdbool.h>
#include <stddef.h>

#include <ck_ring.h>

#include "util/util.h"

struct vd_ring {
	struct ck_ring ring; /* producer and consumer indices on their own
	                        cache lines (ck's layout) */
	struct ck_ring_buffer *buf;
	unsigned size;
};

/* size: power of two >= 2.  0, -EINVAL or -ENOMEM. */
int vd_ring_init(struct vd_ring *r, unsigned size);
void vd_ring_fini(struct vd_ring *r);

static inline bool
vd_ring_push_mp(struct vd_ring *r, void *item)
{
	bool ok;

	VD_TSAN_RELEASE(r);
	VD_TSAN_IGNORE_BEGIN();
	ok = ck_ring_enqueue_mpsc(&r->ring, r->buf, item);
	VD_TSAN_IGNORE_END();
	return ok;
}

static inline bool
vd_ring_push_sp(struct vd_ring *r, void *item)
{
	bool ok;

	VD_TSAN_RELEASE(r);
	VD_TSAN_IGNORE_BEGIN();
	ok = ck_ring_enqueue_spsc(&r->ring, r->buf, item);
	VD_TSAN_IGNORE_END();
	return ok;
}

/* Single- or multi-producer push, as the ring's owner configured it. */
static inline bool
vd_ring_push(struct vd_ring *r, void *item, bool mp)
{
	return mp ? vd_ring_push_mp(r, item) : vd_ring_push_sp(r, item);
}

static inline void *
vd_ring_pop_sc(struct vd_ring *r)
{
	void *item;
	bool ok;

	VD_TSAN_IGNORE_BEGIN();
	ok = ck_ring_dequeue_spsc(&r->ring, r->buf, &item);
	VD_TSAN_IGNORE_END();
	if (!ok)
		return NULL;
	VD_TSAN_ACQUIRE(r);
	return item;
}

/* Many producers, many consumers.  The pipeline uses none (its pools are
 * ck_stack free lists); test_ring.c keeps it honest. */
static inline bool
vd_ring_push_mpmc(struct vd_ring *r, void *item)
{
	bool ok;

	VD_TSAN_RELEASE(r);
	VD_TSAN_IGNORE_BEGIN();
	ok = ck_ring_enqueue_mpmc(&r->ring, r->buf, item);
	VD_TSAN_IGNORE_END();
	return ok;
}

static inline void *
vd_ring_pop_mc(struct vd_ring *r)
{
	void *item;
	bool ok;

	VD_TSAN_IGNORE_BEGIN();
	ok = ck_ring_dequeue_mpmc(&r->ring, r->buf, &item);
	VD_TSAN_IGNORE_END();
	if (!ok)
		return NULL;
	VD_TSAN_ACQUIRE(r);
	return item;
}

/* Items in the ring now (a racy snapshot when others run). */
static inline unsigned
vd_ring_depth(const struct vd_ring *r)
{
	return ck_ring_size(&r->ring);
}

/* Items it can hold: size - 1. */
static inline unsigned
vd_ring_capacity(const struct vd_ring *r)
{
	return r->size - 1;
}

#endif
