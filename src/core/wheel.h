/*
 * wheel.h — a hierarchical timing wheel (internal; owned by one thread).
 *
 * Time is in abstract ticks and is always passed in: the wheel never reads a
 * clock, so tests drive it by hand.  Arm and cancel are O(1); advancing moves
 * every timer whose expiry is <= now onto the expired list, cascading timers
 * from coarser levels on the way.  The caller converts nanoseconds to ticks
 * rounding down, so a timer fires at most one tick early and never late
 * relative to the advance that passes its expiry.
 *
 * Levels of 64 slots (6 bits each); 11 levels cover every 64-bit tick value,
 * so there is no overflow list.  A 64-bit bitmap per level tells which slots
 * hold timers, which makes vd_wheel_next() a handful of bit scans.
 *
 * Not thread-safe: one owner thread calls everything.
 */
#ifndef VD_CORE_WHEEL_H
#define VD_CORE_WHEEL_H

#include <stdbool.h>
#include <stdint.h>

#define VD_WHEEL_BITS   6
#define VD_WHEEL_SLOTS  (1u << VD_WHEEL_BITS)
#define VD_WHEEL_LEVELS 11

/* Embedded in whatever is timed; the owner recovers it with containerof. */
struct vd_wheel_node {
	struct vd_wheel_node *next;
	struct vd_wheel_node *prev;
	uint64_t expires;
	int8_t level; /* -1: on the expired list; -2: not linked */
	uint8_t slot;
};

struct vd_wheel_list {
	struct vd_wheel_node *head;
};

struct vd_wheel {
	uint64_t now;
	uint64_t count; /* linked timers, expired list included */
	uint64_t pending[VD_WHEEL_LEVELS];
	struct vd_wheel_list slots[VD_WHEEL_LEVELS][VD_WHEEL_SLOTS];
	struct vd_wheel_list expired;
};

/* Empties the wheel and sets its time. */
void vd_wheel_init(struct vd_wheel *w, uint64_t now);

/* Marks a node as not linked (so vd_wheel_del on it is a no-op). */
void vd_wheel_node_init(struct vd_wheel_node *n);

/*
 * Arms n to expire at tick `expires`.  An expiry <= the wheel's time goes
 * straight onto the expired list.  n must not be linked.
 */
void
vd_wheel_add(struct vd_wheel *w, struct vd_wheel_node *n, uint64_t expires);

/* Unlinks n wherever it is (slot or expired list); no-op if not linked. */
void vd_wheel_del(struct vd_wheel *w, struct vd_wheel_node *n);

static inline bool
vd_wheel_node_linked(const struct vd_wheel_node *n)
{
	return n->level != -2;
}

/*
 * Moves time to `now` (a smaller value than the current time is ignored) and
 * moves every timer with expires <= now onto the expired list.
 */
void vd_wheel_advance(struct vd_wheel *w, uint64_t now);

/* Pops one node off the expired list (unlinked), or NULL. */
struct vd_wheel_node *vd_wheel_get(struct vd_wheel *w);

/*
 * Ticks from the wheel's time until the next advance that may expire
 * something: 0 when the expired list is not empty, UINT64_MAX when the wheel
 * is empty.  Never later than the earliest expiry (it may be earlier, when a
 * coarse level needs cascading first).
 */
uint64_t vd_wheel_next(const struct vd_wheel *w);

/* Number of linked timers. */
static inline uint64_t
vd_wheel_count(const struct vd_wheel *w)
{
	return w->count;
}

/*
 * Consistency walk for tests: every node is in the slot its expiry and the
 * wheel's time say, bitmaps match non-empty slots, links are symmetric,
 * nothing on a slot has expired, the count matches.  O(timers).
 */
bool vd_wheel_check(const struct vd_wheel *w);

#endif
