/*
 * test_wheel.c — the timing wheel against a brute-force model, plus the
 * edge cases a model run is unlikely to hit: exact firing ticks, level
 * boundaries, the ends of the tick range, cancellation in every state.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/wheel.h"
#include "util/splitmix.h"

struct timer {
	struct vd_wheel_node node;
	uint64_t expires; /* the model's copy */
	bool armed;       /* the model: linked in the wheel */
	unsigned fired;
};

static struct timer *
timer_of(struct vd_wheel_node *n)
{
	return (
	    struct timer *)(void *)((char *)n - offsetof(struct timer, node));
}

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static void
arm(struct vd_wheel *w, struct timer *t, uint64_t expires)
{
	vd_wheel_add(w, &t->node, expires);
	t->expires = expires;
	t->armed = true;
}

/*
 * Drains the expired list after an advance from `prev` to w->now: each timer
 * must be armed, due, not due before this advance (unless it was armed
 * already expired, which `late_ok` allows), and come out once.
 */
static unsigned
drain(struct vd_wheel *w, uint64_t prev, bool late_ok)
{
	struct vd_wheel_node *n;
	struct timer *t;
	unsigned got = 0;

	while ((n = vd_wheel_get(w)) != NULL) {
		t = timer_of(n);
		cr_assert(t->armed, "fired a timer that is not armed");
		cr_assert(!vd_wheel_node_linked(n), "got node still linked");
		cr_assert(t->expires <= w->now,
		    "fired early: expires %" PRIu64 " now %" PRIu64, t->expires,
		    w->now);
		if (!late_ok)
			cr_assert(t->expires > prev,
			    "fired late: expires %" PRIu64
			    " previous now %" PRIu64,
			    t->expires, prev);
		t->armed = false;
		t->fired++;
		got++;
	}
	return got;
}

/* A jump for the model run, biased towards digit boundaries. */
static uint64_t
random_target(uint64_t *s, uint64_t now)
{
	uint64_t r = vd_splitmix64(s), span;
	unsigned k;

	switch (r % 10) {
	case 0:
		return sat_add(now, 1 + vd_splitmix64(s) % 3);
	case 1:
		return sat_add(now, vd_splitmix64(s) % 64);
	case 2:
		return sat_add(now, vd_splitmix64(s) % 4096);
	case 3:
		/* onto, just before or just after a boundary of level k */
		k = 1 + (unsigned)(vd_splitmix64(s) % 10);
		span = (uint64_t)1 << (6 * k);
		return sat_add(now | (span - 1), vd_splitmix64(s) % 3);
	case 4:
		return sat_add(now, (uint64_t)1 << 40);
	case 5:
		/* up to 2^48, so runs from low starts stay off the ceiling */
		return sat_add(
		    now, vd_splitmix64(s) >> (16 + vd_splitmix64(s) % 48));
	case 6:
		/* backwards: ignored */
		return now == UINT64_MAX ? now
		                         : now - vd_splitmix64(s) % (now + 1);
	case 7:
		return now;
	default:
		return sat_add(now, vd_splitmix64(s) % (1u << 20));
	}
}

static uint64_t
random_expiry(uint64_t *s, uint64_t now)
{
	uint64_t r = vd_splitmix64(s);

	switch (r % 8) {
	case 0:
		return now; /* already due */
	case 1:
		return now - vd_splitmix64(s) % (now < 1000 ? now + 1 : 1000);
	case 2:
		return sat_add(now, 1 + vd_splitmix64(s) % 64);
	case 3:
		return sat_add(now, vd_splitmix64(s) % 5000);
	case 4:
		return sat_add(
		    now, vd_splitmix64(s) >> (vd_splitmix64(s) % 64));
	case 5:
		return sat_add(now,
		    ((uint64_t)1 << (6 * (vd_splitmix64(s) % 11))) - 1 +
		        vd_splitmix64(s) % 3);
	default:
		return sat_add(now, vd_splitmix64(s) % (1u << 22));
	}
}

static void
model_run(uint64_t seed, uint64_t start, unsigned ops)
{
	enum { N = 256 };
	static struct timer tm[N];
	struct vd_wheel w;
	struct timer *t;
	uint64_t s = seed, prev, target, min, next;
	unsigned i, op, armed, r;

	memset(tm, 0, sizeof(tm));
	for (i = 0; i < N; i++)
		vd_wheel_node_init(&tm[i].node);
	vd_wheel_init(&w, start);
	for (op = 0; op < ops; op++) {
		r = (unsigned)(vd_splitmix64(&s) % 10);
		t = &tm[vd_splitmix64(&s) % N];
		if (r < 4) {
			if (!t->armed)
				arm(&w, t, random_expiry(&s, w.now));
		} else if (r < 6) {
			vd_wheel_del(&w, &t->node);
			t->armed = false;
		} else {
			prev = w.now;
			target = random_target(&s, w.now);
			vd_wheel_advance(&w, target);
			cr_assert_eq(w.now, target > prev ? target : prev,
			    "seed %" PRIu64 " op %u: time", seed, op);
			armed = 0;
			for (i = 0; i < N; i++)
				if (tm[i].armed && tm[i].expires <= w.now)
					armed++;
			if (armed > 0)
				cr_assert_eq(vd_wheel_next(&w), 0,
				    "seed %" PRIu64 " op %u: due but next() "
				    "not 0",
				    seed, op);
			/* armed-already-expired timers may predate prev */
			drain(&w, prev, true);
		}

		armed = 0;
		min = UINT64_MAX;
		for (i = 0; i < N; i++) {
			cr_assert_eq(vd_wheel_node_linked(&tm[i].node),
			    tm[i].armed, "seed %" PRIu64 " op %u: linked", seed,
			    op);
			if (!tm[i].armed)
				continue;
			armed++;
			if (tm[i].expires < min)
				min = tm[i].expires;
			if (r >= 6)
				cr_assert(tm[i].expires > w.now,
				    "seed %" PRIu64 " op %u: timer at %" PRIu64
				    " not fired by %" PRIu64,
				    seed, op, tm[i].expires, w.now);
		}
		cr_assert_eq(vd_wheel_count(&w), armed,
		    "seed %" PRIu64 " op %u: count", seed, op);
		cr_assert(vd_wheel_check(&w), "seed %" PRIu64 " op %u: check",
		    seed, op);
		next = vd_wheel_next(&w);
		if (armed == 0)
			cr_assert_eq(next, UINT64_MAX);
		else if (min <= w.now)
			cr_assert_eq(
			    next, 0, "seed %" PRIu64 " op %u: next", seed, op);
		else
			cr_assert(next >= 1 && next <= min - w.now,
			    "seed %" PRIu64 " op %u: next %" PRIu64
			    " earliest in %" PRIu64,
			    seed, op, next, min - w.now);
	}
}

Test(wheel, matches_model_randomized)
{
	model_run(1, 0, 40000);
	model_run(2, 12345, 40000);
	model_run(3, (uint64_t)1 << 50, 40000);
	model_run(4, ((uint64_t)1 << 36) - 5, 40000);
	/* near the top, so the coarsest levels and saturation get used */
	model_run(5, UINT64_MAX - ((uint64_t)1 << 52), 40000);
	model_run(6, UINT64_MAX - 100000, 20000);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

Test(wheel, fires_exactly_on_the_tick)
{
	enum { N = 5000 };
	static struct timer tm[N];
	static uint64_t sorted[N];
	const uint64_t start = ((uint64_t)1 << 36) - 70000;
	const uint64_t span = 150000;
	struct vd_wheel w;
	struct vd_wheel_node *n;
	uint64_t s = 7, now, next;
	size_t i, first = 0;

	vd_wheel_init(&w, start);
	for (i = 0; i < N; i++) {
		vd_wheel_node_init(&tm[i].node);
		arm(&w, &tm[i], start + 1 + vd_splitmix64(&s) % span);
		sorted[i] = tm[i].expires;
	}
	qsort(sorted, N, sizeof(sorted[0]), cmp_u64);
	for (now = start + 1; now <= start + span; now++) {
		vd_wheel_advance(&w, now);
		while ((n = vd_wheel_get(&w)) != NULL) {
			cr_assert_eq(timer_of(n)->expires, now,
			    "timer at %" PRIu64 " fired at %" PRIu64,
			    timer_of(n)->expires, now);
			timer_of(n)->fired++;
		}
		while (first < N && sorted[first] <= now)
			first++;
		next = vd_wheel_next(&w);
		if (first == N)
			cr_assert_eq(next, UINT64_MAX);
		else
			cr_assert(next >= 1 && next <= sorted[first] - now,
			    "next %" PRIu64 " at %" PRIu64
			    ", earliest %" PRIu64,
			    next, now, sorted[first]);
	}
	for (i = 0; i < N; i++)
		cr_assert_eq(tm[i].fired, 1);
	cr_assert_eq(vd_wheel_count(&w), 0);
	cr_assert(vd_wheel_check(&w));
}

Test(wheel, already_expired_comes_out_without_advance)
{
	struct timer a, b, c, d;
	struct vd_wheel w;

	vd_wheel_init(&w, 5000);
	vd_wheel_node_init(&a.node);
	vd_wheel_node_init(&b.node);
	vd_wheel_node_init(&c.node);
	vd_wheel_node_init(&d.node);
	arm(&w, &a, 5000); /* == now */
	arm(&w, &b, 4999);
	arm(&w, &c, 0);
	arm(&w, &d, 5001); /* not yet */
	cr_assert_eq(vd_wheel_count(&w), 4);
	cr_assert(vd_wheel_check(&w));
	cr_assert_eq(vd_wheel_next(&w), 0);
	cr_assert_eq(vd_wheel_get(&w), &a.node);
	cr_assert_eq(vd_wheel_get(&w), &b.node);
	cr_assert_eq(vd_wheel_get(&w), &c.node);
	cr_assert_null(vd_wheel_get(&w));
	cr_assert(!vd_wheel_node_linked(&a.node));
	cr_assert(!vd_wheel_node_linked(&c.node));
	cr_assert(vd_wheel_node_linked(&d.node));
	cr_assert_eq(vd_wheel_count(&w), 1);
	cr_assert_eq(vd_wheel_next(&w), 1);
	cr_assert(vd_wheel_check(&w));

	/* The same after time has moved: an expiry equal to the new now. */
	vd_wheel_advance(&w, 9000);
	cr_assert_eq(vd_wheel_get(&w), &d.node);
	arm(&w, &a, 9000);
	cr_assert_eq(vd_wheel_get(&w), &a.node);
	cr_assert_null(vd_wheel_get(&w));
	cr_assert_eq(vd_wheel_count(&w), 0);
}

Test(wheel, cancel_in_every_state)
{
	struct timer a, b, c;
	struct vd_wheel w;

	vd_wheel_init(&w, 100);
	vd_wheel_node_init(&a.node);
	vd_wheel_node_init(&b.node);
	vd_wheel_node_init(&c.node);

	/* Never armed: a no-op, twice. */
	vd_wheel_del(&w, &a.node);
	vd_wheel_del(&w, &a.node);
	cr_assert_eq(vd_wheel_count(&w), 0);
	cr_assert(vd_wheel_check(&w));

	/* Pending, sharing a slot with another timer. */
	arm(&w, &a, 100 + 5000);
	arm(&w, &b, 100 + 5000);
	arm(&w, &c, 100 + 3 * 4096); /* another slot at the same level */
	vd_wheel_del(&w, &a.node);
	cr_assert(!vd_wheel_node_linked(&a.node));
	cr_assert_eq(vd_wheel_count(&w), 2);
	cr_assert(vd_wheel_check(&w));
	vd_wheel_del(&w, &a.node);
	cr_assert_eq(vd_wheel_count(&w), 2);

	/* Pending, last in its slot: the pending bit must go with it. */
	vd_wheel_del(&w, &c.node);
	cr_assert(vd_wheel_check(&w));
	vd_wheel_advance(&w, 100 + 4 * 4096);
	cr_assert_eq(vd_wheel_get(&w), &b.node);
	cr_assert_null(vd_wheel_get(&w));

	/* Expired but not yet collected. */
	arm(&w, &a, w.now + 10);
	arm(&w, &b, w.now + 10);
	arm(&w, &c, w.now + 10);
	vd_wheel_advance(&w, w.now + 10);
	cr_assert_eq(vd_wheel_count(&w), 3);
	vd_wheel_del(&w, &b.node);
	cr_assert(!vd_wheel_node_linked(&b.node));
	cr_assert_eq(vd_wheel_count(&w), 2);
	cr_assert(vd_wheel_check(&w));
	cr_assert_eq(vd_wheel_get(&w), &a.node);
	vd_wheel_del(&w, &c.node);
	cr_assert_null(vd_wheel_get(&w));
	cr_assert_eq(vd_wheel_next(&w), UINT64_MAX);

	/* Collected: deleting it again is a no-op. */
	vd_wheel_del(&w, &a.node);
	cr_assert_eq(vd_wheel_count(&w), 0);

	/* Re-arm after cancel: fires once, at the new time only. */
	arm(&w, &a, w.now + 100);
	vd_wheel_del(&w, &a.node);
	arm(&w, &a, w.now + 300);
	vd_wheel_advance(&w, w.now + 299);
	cr_assert_null(vd_wheel_get(&w));
	vd_wheel_advance(&w, w.now + 1);
	cr_assert_eq(vd_wheel_get(&w), &a.node);
	cr_assert_null(vd_wheel_get(&w));
	cr_assert(vd_wheel_check(&w));
}

Test(wheel, million_timers_fire_once_at_the_right_advance)
{
	enum { N = 1000000 };
	struct timer *tm = calloc(N, sizeof(*tm));
	struct vd_wheel w;
	uint64_t s = 42, prev, step, fired = 0, last = 0;
	unsigned adv = 0;
	size_t i;

	cr_assert_not_null(tm);
	vd_wheel_init(&w, 0);
	for (i = 0; i < N; i++) {
		vd_wheel_node_init(&tm[i].node);
		/* roughly uniform in magnitude over 1 .. 2^40 */
		arm(&w, &tm[i],
		    1 + (vd_splitmix64(&s) >> (24 + vd_splitmix64(&s) % 40)));
		if (tm[i].expires > last)
			last = tm[i].expires;
	}
	cr_assert_eq(vd_wheel_count(&w), N);
	cr_assert(vd_wheel_check(&w));
	while (w.now < last) {
		prev = w.now;
		/* steps grow with time, so every magnitude gets ~100 */
		step = 1 + vd_splitmix64(&s) % (prev / 16 + 64);
		vd_wheel_advance(&w, prev + step);
		fired += drain(&w, prev, false);
		cr_assert_eq(vd_wheel_count(&w), N - fired);
		if (++adv % 200 == 0)
			cr_assert(vd_wheel_check(&w));
	}
	cr_assert_eq(fired, N);
	cr_assert(vd_wheel_check(&w));
	for (i = 0; i < N; i++)
		cr_assert_eq(
		    tm[i].fired, 1, "timer %zu fired %u times", i, tm[i].fired);
	free(tm);
}

/*
 * Advances tick by tick up to `tick_until`, then through every expiry and
 * its neighbours; each timer must come out exactly when now == its expiry.
 */
static void
run_exact(uint64_t start, const uint64_t *exp, size_t n, uint64_t tick_until)
{
	struct timer *tm = calloc(n, sizeof(*tm));
	uint64_t *pts = calloc(3 * n, sizeof(*pts));
	struct vd_wheel_node *node;
	struct vd_wheel w;
	uint64_t now;
	size_t i, np = 0;

	cr_assert(tm != NULL && pts != NULL);
	vd_wheel_init(&w, start);
	for (i = 0; i < n; i++) {
		vd_wheel_node_init(&tm[i].node);
		arm(&w, &tm[i], exp[i]);
		pts[np++] = exp[i] - 1;
		pts[np++] = exp[i];
		pts[np++] = sat_add(exp[i], 1);
	}
	qsort(pts, np, sizeof(pts[0]), cmp_u64);
	cr_assert(vd_wheel_check(&w));

	for (now = start + 1, i = 0;; now++) {
		if (now > tick_until || now == 0) {
			while (i < np && pts[i] <= w.now)
				i++;
			if (i == np)
				break;
			now = pts[i];
		}
		vd_wheel_advance(&w, now);
		while ((node = vd_wheel_get(&w)) != NULL) {
			cr_assert_eq(timer_of(node)->expires, now,
			    "timer at %" PRIu64 " fired at %" PRIu64,
			    timer_of(node)->expires, now);
			timer_of(node)->fired++;
		}
		cr_assert(vd_wheel_check(&w), "check at %" PRIu64, now);
	}
	for (i = 0; i < n; i++)
		cr_assert_eq(tm[i].fired, 1, "timer at %" PRIu64 " fired %u",
		    tm[i].expires, tm[i].fired);
	cr_assert_eq(vd_wheel_count(&w), 0);
	free(tm);
	free(pts);
}

Test(wheel, cascades_across_level_boundaries)
{
	static const uint64_t e[] = {
		1,
		2,
		62,
		63,
		64,
		65,
		127,
		128,
		129,
		4095,
		4096,
		4097,
		4096 + 63,
		4096 + 64,
		8191,
		8192,
		(1u << 18) - 1,
		1u << 18,
		(1u << 18) + 1,
		(1u << 24) - 1,
		1u << 24,
		(1u << 24) + 1,
		((uint64_t)1 << 30) - 1,
		((uint64_t)1 << 30) + 5,
		((uint64_t)1 << 36) + 4096 + 64 + 1,
		((uint64_t)1 << 42) - 1,
		((uint64_t)1 << 48) + 3,
		(uint64_t)1 << 54,
		((uint64_t)1 << 60) + 1,
		(uint64_t)1 << 63,
		UINT64_MAX - 1,
		UINT64_MAX,
	};
	uint64_t off[sizeof(e) / sizeof(e[0])];
	const uint64_t base = ((uint64_t)1 << 30) - 3;
	size_t i, n = sizeof(e) / sizeof(e[0]);

	/* from 0, every tick through 2^18 + 2 */
	run_exact(0, e, n, (1u << 18) + 2);

	/* the same shape from a start just below a level-5 boundary */
	for (i = 0; i < n; i++)
		off[i] = sat_add(base, e[i]);
	off[n - 1] = UINT64_MAX - 2;
	off[n - 2] = UINT64_MAX - 3;
	run_exact(base, off, n, base + 5000);
}

Test(wheel, time_jumps)
{
	enum { N = 3 * 64 + 2 };
	static struct timer tm[N];
	struct vd_wheel w;
	struct timer last, t;
	size_t i, n = 0;
	unsigned k;

	/* 0 -> UINT64_MAX - 1 fires everything at every level at once. */
	vd_wheel_init(&w, 0);
	for (i = 0; i < N; i++)
		vd_wheel_node_init(&tm[i].node);
	for (k = 0; k < 64; k++) {
		arm(&w, &tm[n++], (uint64_t)1 << k);
		arm(&w, &tm[n++], ((uint64_t)1 << k) + 1);
		arm(&w, &tm[n++], (((uint64_t)1 << k) - 1) | 1);
	}
	arm(&w, &tm[n++], UINT64_MAX - 2);
	arm(&w, &tm[n++], UINT64_MAX - 1);
	vd_wheel_node_init(&last.node);
	arm(&w, &last, UINT64_MAX);
	cr_assert(vd_wheel_check(&w));
	vd_wheel_advance(&w, UINT64_MAX - 1);
	cr_assert_eq(drain(&w, 0, false), n);
	for (i = 0; i < n; i++)
		cr_assert_eq(tm[i].fired, 1);
	cr_assert_eq(vd_wheel_count(&w), 1);
	cr_assert(vd_wheel_check(&w));
	cr_assert_eq(vd_wheel_next(&w), 1);

	/* Backwards is ignored, and so is standing still. */
	vd_wheel_advance(&w, 5);
	vd_wheel_advance(&w, UINT64_MAX - 1);
	cr_assert_eq(w.now, UINT64_MAX - 1);
	cr_assert_null(vd_wheel_get(&w));
	cr_assert(vd_wheel_check(&w));
	vd_wheel_advance(&w, UINT64_MAX);
	cr_assert_eq(vd_wheel_get(&w), &last.node);
	cr_assert_eq(vd_wheel_count(&w), 0);

	/*
	 * A jump shorter than a full turn of digit 1 (4089 < 4096 ticks)
	 * that still takes digit 1 all the way round, from 5 back to 5:
	 * every level-1 slot is due, not none.
	 */
	vd_wheel_init(&w, 5 * 64 + 10);
	vd_wheel_node_init(&t.node);
	arm(&w, &t, 7 * 64);
	vd_wheel_advance(&w, 64 * 64 + 5 * 64 + 3);
	cr_assert_eq(vd_wheel_get(&w), &t.node, "missed across a turn");
	cr_assert(vd_wheel_check(&w));

	/* Backwards from the middle, with a timer between. */
	vd_wheel_init(&w, 1000);
	arm(&w, &t, 2000);
	vd_wheel_advance(&w, 500);
	cr_assert_eq(w.now, 1000);
	cr_assert_null(vd_wheel_get(&w));
	vd_wheel_advance(&w, 1999);
	vd_wheel_advance(&w, 0);
	cr_assert_null(vd_wheel_get(&w));
	vd_wheel_advance(&w, 2000);
	cr_assert_eq(vd_wheel_get(&w), &t.node);
}

Test(wheel, starts_at_a_large_time)
{
	static const uint64_t off[] = {
		1,
		63,
		64,
		65,
		4096,
		1u << 20,
		(uint64_t)1 << 36,
		(uint64_t)1 << 49,
		((uint64_t)1 << 50) + 7,
	};
	const uint64_t base = (uint64_t)1 << 50;
	uint64_t e[sizeof(off) / sizeof(off[0])];
	struct timer past;
	struct vd_wheel w;
	size_t i;

	vd_wheel_init(&w, base);
	vd_wheel_node_init(&past.node);
	arm(&w, &past, base - 1);
	cr_assert_eq(vd_wheel_get(&w), &past.node);

	for (i = 0; i < sizeof(off) / sizeof(off[0]); i++)
		e[i] = base + off[i];
	run_exact(base, e, sizeof(e) / sizeof(e[0]), base + 200);
}

Test(wheel, next_is_never_late)
{
	static const uint64_t nows[] = {
		0,
		1,
		63,
		64,
		4095,
		4096 + 17,
		123456789,
		((uint64_t)1 << 50) + 17,
		UINT64_MAX - ((uint64_t)1 << 41),
	};
	static const uint64_t ks[] = {
		1,
		2,
		63,
		64,
		65,
		4095,
		4096,
		4097,
		262143,
		1000003,
		(uint64_t)1 << 40,
		((uint64_t)1 << 40) + 12345,
	};
	struct vd_wheel w;
	struct timer t;
	uint64_t now, e, nx, s = 99;
	size_t a, b;
	unsigned steps;

	vd_wheel_init(&w, 77);
	vd_wheel_node_init(&t.node);
	cr_assert_eq(vd_wheel_next(&w), UINT64_MAX);
	arm(&w, &t, 77);
	cr_assert_eq(vd_wheel_next(&w), 0);
	cr_assert_eq(vd_wheel_get(&w), &t.node);
	cr_assert_eq(vd_wheel_next(&w), UINT64_MAX);

	for (a = 0; a < sizeof(nows) / sizeof(nows[0]) + 20; a++) {
		for (b = 0; b < sizeof(ks) / sizeof(ks[0]) + 20; b++) {
			now = a < sizeof(nows) / sizeof(nows[0])
			    ? nows[a]
			    : vd_splitmix64(&s) >> (vd_splitmix64(&s) % 64);
			e = sat_add(now,
			    b < sizeof(ks) / sizeof(ks[0]) ? ks[b]
			                                   : 1 +
			            (vd_splitmix64(&s) >>
			                (vd_splitmix64(&s) % 64)));
			if (e == now)
				continue;
			vd_wheel_init(&w, now);
			arm(&w, &t, e);
			nx = vd_wheel_next(&w);
			cr_assert(nx >= 1 && nx <= e - now,
			    "now %" PRIu64 " k %" PRIu64 ": next %" PRIu64, now,
			    e - now, nx);
			/* Sleeping for next() each time lands on e exactly. */
			for (steps = 0; w.now < e; steps++) {
				nx = vd_wheel_next(&w);
				cr_assert(nx >= 1 && nx <= e - w.now,
				    "overshoot: now %" PRIu64 " next %" PRIu64
				    " expiry %" PRIu64,
				    w.now, nx, e);
				cr_assert_null(vd_wheel_get(&w));
				vd_wheel_advance(&w, w.now + nx);
				cr_assert(steps < 2 * VD_WHEEL_LEVELS,
				    "too many wake-ups for one timer");
			}
			cr_assert_eq(vd_wheel_next(&w), 0);
			cr_assert_eq(vd_wheel_get(&w), &t.node);
		}
	}
}

Test(wheel, check_detects_corruption)
{
	struct timer a, b, c;
	struct vd_wheel w;
	struct vd_wheel_node *saved;
	uint64_t v;

	vd_wheel_init(&w, 1000);
	vd_wheel_node_init(&a.node);
	vd_wheel_node_init(&b.node);
	vd_wheel_node_init(&c.node);
	arm(&w, &a, 1000 + 5000);
	arm(&w, &b, 1000 + 5000);
	arm(&w, &c, 999);
	cr_assert(vd_wheel_check(&w));

	w.pending[0] ^= 1;
	cr_assert(!vd_wheel_check(&w), "stray pending bit");
	w.pending[0] ^= 1;

	v = a.node.expires;
	/* a sits at level 2, slot 1 */
	a.node.expires = 1000 + (1u << 18);
	cr_assert(!vd_wheel_check(&w), "node in the wrong level");
	a.node.expires = 1000 + 5000 + 4096;
	cr_assert(!vd_wheel_check(&w), "node in the wrong slot");
	a.node.expires = 1000;
	cr_assert(!vd_wheel_check(&w), "expired node on a slot");
	a.node.expires = v;

	c.node.expires = 1001;
	cr_assert(!vd_wheel_check(&w), "unexpired node on expired list");
	c.node.expires = 999;

	w.count++;
	cr_assert(!vd_wheel_check(&w), "count");
	w.count--;

	saved = a.node.prev;
	a.node.prev = &a.node;
	cr_assert(!vd_wheel_check(&w), "asymmetric links");
	a.node.prev = saved;

	cr_assert(vd_wheel_check(&w));
}
