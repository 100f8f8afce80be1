/*
 * wheel.c — hierarchical timing wheel.
 *
 * Placement rule: a timer lives at the level of the highest 6-bit digit in
 * which its expiry differs from the wheel's time, in the slot named by its
 * expiry's digit at that level.  So at level L every timer shares the
 * wheel's digits above L and has digit L strictly greater than the wheel's.
 * Advancing time past (or onto) a slot's digit at level L is exactly when the
 * timers in it may have expired or need a finer level, so they are taken
 * out and placed again against the new time.  vd_wheel_check() verifies this
 * invariant; the rest of the file relies on it.
 *
 * Every list (each slot and the expired list) is circular, with head->prev
 * the tail: that gives O(1) unlink, O(1) FIFO append and O(1) splicing.
 */
#include <assert.h>
#include <stddef.h>

#include "core/wheel.h"

#define DIGIT_MASK ((uint64_t)VD_WHEEL_SLOTS - 1)

static unsigned
level_shift(int level)
{
	return (unsigned)level * VD_WHEEL_BITS;
}

/* Only meaningful for e != now. */
static int
level_for(uint64_t e, uint64_t now)
{
	return (63 - __builtin_clzll(e ^ now)) / VD_WHEEL_BITS;
}

static unsigned
digit(uint64_t t, int level)
{
	return (unsigned)((t >> level_shift(level)) & DIGIT_MASK);
}

static uint64_t
rotl64(uint64_t x, unsigned r)
{
	r &= 63;
	return r == 0 ? x : (x << r) | (x >> (64 - r));
}

static uint64_t
rotr64(uint64_t x, unsigned r)
{
	r &= 63;
	return r == 0 ? x : (x >> r) | (x << (64 - r));
}

static void
list_append(struct vd_wheel_list *l, struct vd_wheel_node *n)
{
	struct vd_wheel_node *h = l->head;

	if (h == NULL) {
		n->next = n;
		n->prev = n;
		l->head = n;
		return;
	}
	n->next = h;
	n->prev = h->prev;
	h->prev->next = n;
	h->prev = n;
}

static void
list_remove(struct vd_wheel_list *l, struct vd_wheel_node *n)
{
	if (n->next == n) {
		l->head = NULL;
	} else {
		n->prev->next = n->next;
		n->next->prev = n->prev;
		if (l->head == n)
			l->head = n->next;
	}
	n->next = NULL;
	n->prev = NULL;
}

/* Appends all of src to the circular list *dst and leaves src empty. */
static void
list_splice(struct vd_wheel_node **dst, struct vd_wheel_list *src)
{
	struct vd_wheel_node *a = *dst, *b = src->head, *atail, *btail;

	src->head = NULL;
	if (b == NULL)
		return;
	if (a == NULL) {
		*dst = b;
		return;
	}
	atail = a->prev;
	btail = b->prev;
	atail->next = b;
	b->prev = atail;
	btail->next = a;
	a->prev = btail;
}

/* Links n by the placement rule; the count is the caller's business. */
static void
place(struct vd_wheel *w, struct vd_wheel_node *n)
{
	int level;
	unsigned slot;

	if (n->expires <= w->now) {
		n->level = -1;
		n->slot = 0;
		list_append(&w->expired, n);
		return;
	}
	level = level_for(n->expires, w->now);
	slot = digit(n->expires, level);
	n->level = (int8_t)level;
	n->slot = (uint8_t)slot;
	list_append(&w->slots[level][slot], n);
	w->pending[level] |= (uint64_t)1 << slot;
}

void
vd_wheel_init(struct vd_wheel *w, uint64_t now)
{
	int l;
	unsigned s;

	w->now = now;
	w->count = 0;
	for (l = 0; l < VD_WHEEL_LEVELS; l++) {
		w->pending[l] = 0;
		for (s = 0; s < VD_WHEEL_SLOTS; s++)
			w->slots[l][s].head = NULL;
	}
	w->expired.head = NULL;
}

void
vd_wheel_node_init(struct vd_wheel_node *n)
{
	n->next = NULL;
	n->prev = NULL;
	n->expires = 0;
	n->level = -2;
	n->slot = 0;
}

void
vd_wheel_add(struct vd_wheel *w, struct vd_wheel_node *n, uint64_t expires)
{
	assert(!vd_wheel_node_linked(n));
	n->expires = expires;
	place(w, n);
	w->count++;
}

void
vd_wheel_del(struct vd_wheel *w, struct vd_wheel_node *n)
{
	struct vd_wheel_list *l;

	if (!vd_wheel_node_linked(n))
		return;
	l = n->level == -1 ? &w->expired : &w->slots[n->level][n->slot];
	list_remove(l, n);
	if (n->level >= 0 && l->head == NULL)
		w->pending[n->level] &= ~((uint64_t)1 << n->slot);
	n->level = -2;
	w->count--;
}

void
vd_wheel_advance(struct vd_wheel *w, uint64_t now)
{
	struct vd_wheel_node *todo = NULL, *n, *next;
	uint64_t from, to, due, mask;
	unsigned shift, slot;
	int l;

	if (now <= w->now)
		return;
	for (l = 0; l < VD_WHEEL_LEVELS; l++) {
		shift = level_shift(l);
		/*
		 * Digit L takes every value of (from, to] mod 64 on the way.
		 * Comparing the shifted times rather than shifting the
		 * difference matters: 5*64+10 -> 64*64+5*64+3 differs by
		 * less than 64*64, yet digit 1 went all the way round.
		 */
		from = w->now >> shift;
		to = now >> shift;
		if (from == to)
			break; /* so are all coarser digits */
		if (to - from >= VD_WHEEL_SLOTS)
			mask = ~(uint64_t)0;
		else
			mask = rotl64(((uint64_t)1 << (to - from)) - 1,
			    (unsigned)(from + 1));
		due = w->pending[l] & mask;
		w->pending[l] &= ~mask;
		while (due != 0) {
			slot = (unsigned)__builtin_ctzll(due);
			due &= due - 1;
			list_splice(&todo, &w->slots[l][slot]);
		}
	}
	w->now = now;
	if (todo == NULL)
		return;
	todo->prev->next = NULL;
	for (n = todo; n != NULL; n = next) {
		next = n->next;
		place(w, n);
	}
}

struct vd_wheel_node *
vd_wheel_get(struct vd_wheel *w)
{
	struct vd_wheel_node *n = w->expired.head;

	if (n == NULL)
		return NULL;
	list_remove(&w->expired, n);
	n->level = -2;
	w->count--;
	return n;
}

uint64_t
vd_wheel_next(const struct vd_wheel *w)
{
	uint64_t best = UINT64_MAX, p, delta, d;
	unsigned shift, c;
	int l;

	if (w->expired.head != NULL)
		return 0;
	for (l = 0; l < VD_WHEEL_LEVELS; l++) {
		p = w->pending[l];
		if (p == 0)
			continue;
		shift = level_shift(l);
		c = digit(w->now, l);
		/*
		 * Distance in slots to the first pending slot after the
		 * current digit, going round: 1..64.  The placement rule
		 * keeps pending slots above the current digit, so this never
		 * wraps in practice, but measured this way the answer stays
		 * early rather than late if it did.
		 */
		d = (uint64_t)__builtin_ctzll(rotr64(p, c + 1)) + 1;
		if (d > (UINT64_MAX >> shift))
			continue; /* past the end of time: no timer there */
		/*
		 * Time enters that slot with the lower digits at zero; every
		 * timer in it expires then or later.
		 */
		delta = (d << shift) - (w->now & (((uint64_t)1 << shift) - 1));
		if (delta < best)
			best = delta;
	}
	return best;
}

/*
 * Walks one circular list; *seen bounds the walk by the count so a corrupt
 * cycle that skips the head cannot loop forever.
 */
static bool
check_list(const struct vd_wheel *w, const struct vd_wheel_node *head,
    int level, unsigned slot, uint64_t *seen)
{
	const struct vd_wheel_node *n = head;

	if (head == NULL)
		return true;
	do {
		if (++*seen > w->count)
			return false;
		if (n->next == NULL || n->prev == NULL)
			return false;
		if (n->next->prev != n || n->prev->next != n)
			return false;
		if (n->level != level)
			return false;
		if (level == -1) {
			if (n->expires > w->now)
				return false;
		} else {
			if (n->slot != slot || n->expires <= w->now)
				return false;
			if (level_for(n->expires, w->now) != level ||
			    digit(n->expires, level) != slot)
				return false;
		}
		n = n->next;
	} while (n != head);
	return true;
}

bool
vd_wheel_check(const struct vd_wheel *w)
{
	uint64_t seen = 0;
	bool bit;
	unsigned s;
	int l;

	for (l = 0; l < VD_WHEEL_LEVELS; l++) {
		for (s = 0; s < VD_WHEEL_SLOTS; s++) {
			bit = (w->pending[l] >> s) & 1;
			if (bit != (w->slots[l][s].head != NULL))
				return false;
			if (!check_list(w, w->slots[l][s].head, l, s, &seen))
				return false;
		}
	}
	if (!check_list(w, w->expired.head, -1, 0, &seen))
		return false;
	return seen == w->count;
}
