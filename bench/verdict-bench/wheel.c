/*
 * wheel.c — verdict-bench wheel: the timing wheel against a binary min-heap.
 */
#include "harness.h"

/* ------------------------------------------------------------------ */
/* wheel: the timing wheel against a binary heap                       */

/* One node type serves both, so both touch the same memory. */
struct tnode {
	struct vd_wheel_node wn;
	uint64_t expires;
	unsigned hidx; /* heap position; HEAP_NONE when not in the heap */
};

#define HEAP_NONE UINT32_MAX

struct timer_ops {
	const char *name;
	void *(*create)(unsigned cap, uint64_t now);
	void (*destroy)(void *t);
	void (*add)(void *t, struct tnode *n, uint64_t expires);
	void (*del)(void *t, struct tnode *n);
	void (*advance)(void *t, uint64_t now);
	struct tnode *(*get)(void *t); /* an expired node, or NULL */
	uint64_t (*count)(const void *t);
	bool (*check)(const void *t);
};

static void *
tw_create(unsigned cap, uint64_t now)
{
	struct vd_wheel *w = xalloc_aligned(sizeof(*w));

	(void)cap;
	vd_wheel_init(w, now);
	return w;
}

static void
tw_destroy(void *t)
{
	free(t);
}

static void
tw_add(void *t, struct tnode *n, uint64_t expires)
{
	n->expires = expires;
	vd_wheel_add(t, &n->wn, expires);
}

static void
tw_del(void *t, struct tnode *n)
{
	vd_wheel_del(t, &n->wn);
}

static void
tw_advance(void *t, uint64_t now)
{
	vd_wheel_advance(t, now);
}

static struct tnode *
tw_get(void *t)
{
	struct vd_wheel_node *n = vd_wheel_get(t);

	return n == NULL
	    ? NULL
	    : (struct tnode *)((char *)n - offsetof(struct tnode, wn));
}

static uint64_t
tw_count(const void *t)
{
	return vd_wheel_count(t);
}

static bool
tw_check(const void *t)
{
	return vd_wheel_check(t);
}

/* A binary min-heap on expiry; each node knows its index, so cancel is
 * O(log n) rather than a search. */
struct heap {
	struct tnode **a;
	unsigned n, cap;
	uint64_t now;
};

static void *
th_create(unsigned cap, uint64_t now)
{
	struct heap *h = xalloc_aligned(sizeof(*h));

	h->a = xalloc((size_t)cap * sizeof(*h->a));
	h->cap = cap;
	h->now = now;
	return h;
}

static void
th_destroy(void *t)
{
	struct heap *h = t;

	free(h->a);
	free(h);
}

static void
heap_up(struct heap *h, unsigned i)
{
	struct tnode *n = h->a[i];
	unsigned parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (h->a[parent]->expires <= n->expires)
			break;
		h->a[i] = h->a[parent];
		h->a[i]->hidx = i;
		i = parent;
	}
	h->a[i] = n;
	n->hidx = i;
}

static void
heap_down(struct heap *h, unsigned i)
{
	struct tnode *n = h->a[i];
	unsigned c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->a[c + 1]->expires < h->a[c]->expires)
			c++;
		if (n->expires <= h->a[c]->expires)
			break;
		h->a[i] = h->a[c];
		h->a[i]->hidx = i;
		i = c;
	}
	h->a[i] = n;
	n->hidx = i;
}

static void
th_add(void *t, struct tnode *n, uint64_t expires)
{
	struct heap *h = t;

	/* The benchmark sizes the heap; overflow is a bug of ours. */
	if (h->n == h->cap)
		abort();
	n->expires = expires;
	h->a[h->n++] = n;
	heap_up(h, h->n - 1);
}

static void
th_del(void *t, struct tnode *n)
{
	struct heap *h = t;
	unsigned i = n->hidx;
	struct tnode *last;

	if (i == HEAP_NONE)
		return;
	n->hidx = HEAP_NONE;
	last = h->a[--h->n];
	if (i == h->n)
		return;
	h->a[i] = last;
	last->hidx = i;
	if (i > 0 && h->a[(i - 1) / 2]->expires > last->expires)
		heap_up(h, i);
	else
		heap_down(h, i);
}

static void
th_advance(void *t, uint64_t now)
{
	struct heap *h = t;

	if (now > h->now)
		h->now = now;
}

static struct tnode *
th_get(void *t)
{
	struct heap *h = t;
	struct tnode *n;

	if (h->n == 0 || h->a[0]->expires > h->now)
		return NULL;
	n = h->a[0];
	th_del(h, n);
	return n;
}

static uint64_t
th_count(const void *t)
{
	return ((const struct heap *)t)->n;
}

static bool
th_check(const void *t)
{
	const struct heap *h = t;
	unsigned i;

	for (i = 0; i < h->n; i++) {
		if (h->a[i]->hidx != i)
			return false;
		if (i > 0 && h->a[(i - 1) / 2]->expires > h->a[i]->expires)
			return false;
	}
	return true;
}

static const struct timer_ops timer_impls[] = {
	{ "wheel", tw_create, tw_destroy, tw_add, tw_del, tw_advance, tw_get,
	    tw_count, tw_check },
	{ "heap", th_create, th_destroy, th_add, th_del, th_advance, th_get,
	    th_count, th_check },
};

#define WHEEL_SPREAD 15000u /* ticks of 1 ms: 1 ms .. 15 s */
#define WHEEL_BATCH  256u   /* armed, then cancelled in arrival order */
#define WHEEL_START  1000000u

static void
tnodes_init(struct tnode *nodes, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		vd_wheel_node_init(&nodes[i].wn);
		nodes[i].hidx = HEAP_NONE;
	}
}

static void
wheel_arm_cancel(const struct timer_ops *o, unsigned armed, uint64_t pairs)
{
	enum { NEXP = 4096 };
	struct tnode *nodes, *batch;
	uint64_t exp[NEXP], seed = 0x2545f4914f6cdd1dull, i, k, t0;
	double ns;
	struct json j;
	bool ok;
	void *t;

	progress("wheel: %s, arm+cancel with %u armed", o->name, armed);
	nodes = xalloc((armed + WHEEL_BATCH) * sizeof(*nodes));
	tnodes_init(nodes, armed + WHEEL_BATCH);
	batch = nodes + armed;
	t = o->create(armed + WHEEL_BATCH, WHEEL_START);
	for (i = 0; i < armed; i++)
		o->add(t, &nodes[i],
		    WHEEL_START + 1 + xorshift(&seed) % WHEEL_SPREAD);
	/* Random expiries drawn up front keep the PRNG out of the timing. */
	for (i = 0; i < NEXP; i++)
		exp[i] = WHEEL_START + 1 + xorshift(&seed) % WHEEL_SPREAD;
	pairs = (pairs + WHEEL_BATCH - 1) / WHEEL_BATCH * WHEEL_BATCH;

	t0 = vd_clock_ns();
	for (i = 0; i < pairs; i += WHEEL_BATCH) {
		for (k = 0; k < WHEEL_BATCH; k++)
			o->add(t, &batch[k], exp[(i + k) % NEXP]);
		for (k = 0; k < WHEEL_BATCH; k++)
			o->del(t, &batch[k]);
	}
	ns = (double)(vd_clock_ns() - t0) / (double)pairs;
	ok = o->count(t) == armed && o->check(t);

	json_begin(&j, "wheel");
	json_str(&j, "impl", o->name);
	json_str(&j, "op", "arm_cancel");
	json_u64(&j, "armed", armed);
	json_u64(&j, "spread_ticks", WHEEL_SPREAD);
	json_u64(&j, "batch", WHEEL_BATCH);
	json_u64(&j, "pairs", pairs);
	json_dbl(&j, "ns_per_pair", ns, 2);
	json_end(&j, ok);
	o->destroy(t);
	free(nodes);
}

/*
 * Time moves one tick at a time through the whole spread, and every timer
 * must come out on exactly the tick it was armed for (a tick-by-tick
 * advance leaves no room to be early or late).
 */
static void
wheel_advance(const struct timer_ops *o, unsigned armed)
{
	struct tnode *nodes, *n;
	uint64_t seed = 0x9e3779b97f4a7c15ull, i, t0, ns, now, got = 0;
	uint64_t wrong = 0;
	struct json j;
	void *t;

	progress("wheel: %s, advance with %u armed", o->name, armed);
	nodes = xalloc(armed * sizeof(*nodes));
	tnodes_init(nodes, armed);
	t = o->create(armed, WHEEL_START);
	for (i = 0; i < armed; i++)
		o->add(t, &nodes[i],
		    WHEEL_START + 1 + xorshift(&seed) % WHEEL_SPREAD);

	t0 = vd_clock_ns();
	for (now = WHEEL_START + 1; now <= WHEEL_START + WHEEL_SPREAD; now++) {
		o->advance(t, now);
		while ((n = o->get(t)) != NULL) {
			wrong += n->expires != now;
			got++;
		}
	}
	ns = vd_clock_ns() - t0;

	json_begin(&j, "wheel");
	json_str(&j, "impl", o->name);
	json_str(&j, "op", "advance");
	json_u64(&j, "armed", armed);
	json_u64(&j, "spread_ticks", WHEEL_SPREAD);
	json_u64(&j, "ticks", WHEEL_SPREAD);
	json_u64(&j, "expired", got);
	json_dbl(&j, "ns_per_tick", (double)ns / WHEEL_SPREAD, 1);
	json_dbl(&j, "ns_per_expiry", armed ? (double)ns / armed : 0, 2);
	json_end(&j, got == armed && wrong == 0 && o->count(t) == 0);
	o->destroy(t);
	free(nodes);
}

void
bench_wheel(void)
{
	static const unsigned armed[] = { 1000, 100000 };
	uint64_t pairs = opt.quick ? 500000 : 4000000;
	size_t i, a;

	for (a = 0; a < sizeof(armed) / sizeof(armed[0]); a++)
		for (i = 0; i < sizeof(timer_impls) / sizeof(timer_impls[0]);
		     i++)
			wheel_arm_cancel(&timer_impls[i], armed[a], pairs);
	for (a = 0; a < sizeof(armed) / sizeof(armed[0]); a++)
		for (i = 0; i < sizeof(timer_impls) / sizeof(timer_impls[0]);
		     i++)
			wheel_advance(&timer_impls[i], armed[a]);
}
