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
 * ThreadSanitizer cannot see ck's fences (inline assembly, volatile
 * accesses), so under TSan the wrapper tells it about the happens-before edge
 * the ring provides: release on the ring before a push, acquire after a pop.
 * Races reported inside ck_ring_* itself are suppressed (tools/tsan.supp);
 * the rings are proven by the stamped multi-producer stress test instead.
 */
#ifndef VD_CORE_RING_H
#define VD_CORE_RING_H

#include <stdbool.h>
#include <stddef.h>

#include <ck_ring.h>

#if defined(__SANITIZE_THREAD__)
#define VD_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VD_TSAN 1
#endif
#endif

#ifdef VD_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define VD_TSAN_RELEASE(p) __tsan_release((void *)(p))
#define VD_TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#else
#define VD_TSAN_RELEASE(p) ((void)(p))
#define VD_TSAN_ACQUIRE(p) ((void)(p))
#endif

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
	VD_TSAN_RELEASE(r);
	return ck_ring_enqueue_mpsc(&r->ring, r->buf, item);
}

static inline bool
vd_ring_push_sp(struct vd_ring *r, void *item)
{
	VD_TSAN_RELEASE(r);
	return ck_ring_enqueue_spsc(&r->ring, r->buf, item);
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

	if (!ck_ring_dequeue_spsc(&r->ring, r->buf, &item))
		return NULL;
	VD_TSAN_ACQUIRE(r);
	return item;
}

/* Many producers, many consumers.  The pipeline uses none (its pools are
 * ck_stack free lists); test_ring.c keeps it honest. */
static inline bool
vd_ring_push_mpmc(struct vd_ring *r, void *item)
{
	VD_TSAN_RELEASE(r);
	return ck_ring_enqueue_mpmc(&r->ring, r->buf, item);
}

static inline void *
vd_ring_pop_mc(struct vd_ring *r)
{
	void *item;

	if (!ck_ring_dequeue_mpmc(&r->ring, r->buf, &item))
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
