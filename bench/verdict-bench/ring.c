/*
 * ring.c — verdict-bench ring: vd_ring against a mutex-protected array queue.
 */
#include "harness.h"

/* ------------------------------------------------------------------ */
/* ring: vd_ring against a mutex queue                                 */

struct queue_ops {
	const char *name;
	void *(*create)(unsigned size);
	void (*destroy)(void *q);
	bool (*push)(void *q, void *item);
	void *(*pop)(void *q);
};

static void *
ckq_create(unsigned size)
{
	struct vd_ring *r = xalloc_aligned(sizeof(*r));

	if (vd_ring_init(r, size) != 0) {
		free(r);
		return NULL;
	}
	return r;
}

static void
ckq_destroy(void *q)
{
	vd_ring_fini(q);
	free(q);
}

static bool
ckq_push_sp(void *q, void *item)
{
	return vd_ring_push_sp(q, item);
}

static bool
ckq_push_mp(void *q, void *item)
{
	return vd_ring_push_mp(q, item);
}

static void *
ckq_pop_sc(void *q)
{
	return vd_ring_pop_sc(q);
}

/* The obvious alternative: an array under one pthread mutex. */
struct mutexq {
	pthread_mutex_t lock;
	void **items;
	unsigned mask;
	unsigned head, tail; /* free-running */
};

static void *
mq_create(unsigned size)
{
	struct mutexq *m = xalloc_aligned(sizeof(*m));

	pthread_mutex_init(&m->lock, NULL);
	m->items = xalloc(size * sizeof(*m->items));
	m->mask = size - 1;
	return m;
}

static void
mq_destroy(void *q)
{
	struct mutexq *m = q;

	pthread_mutex_destroy(&m->lock);
	free(m->items);
	free(m);
}

static bool
mq_push(void *q, void *item)
{
	struct mutexq *m = q;
	bool ok = false;

	pthread_mutex_lock(&m->lock);
	/* Like ck_ring, hold size - 1 items. */
	if (m->tail - m->head < m->mask) {
		m->items[m->tail++ & m->mask] = item;
		ok = true;
	}
	pthread_mutex_unlock(&m->lock);
	return ok;
}

static void *
mq_pop(void *q)
{
	struct mutexq *m = q;
	void *item = NULL;

	pthread_mutex_lock(&m->lock);
	if (m->head != m->tail)
		item = m->items[m->head++ & m->mask];
	pthread_mutex_unlock(&m->lock);
	return item;
}

static const struct queue_ops queue_impls[] = {
	{ "ck_spsc", ckq_create, ckq_destroy, ckq_push_sp, ckq_pop_sc },
	{ "ck_mpsc", ckq_create, ckq_destroy, ckq_push_mp, ckq_pop_sc },
	{ "mutex", mq_create, mq_destroy, mq_push, mq_pop },
};

#define RING_SIZE 1024

/* Items are 1, 2, 3...: never NULL, and their order is checked. */
static inline void *
item_of(uint64_t i)
{
	return (void *)(uintptr_t)(i + 1);
}

/* One thread: push `batch` items, pop them, repeat; ns per push+pop. */
static bool
ring_one_thread(const struct queue_ops *o, void *q, uint64_t pairs,
    unsigned batch, double *ns)
{
	uint64_t i, k, t0;
	bool ok = true;

	t0 = vd_clock_ns();
	for (i = 0; i < pairs; i += batch) {
		for (k = 0; k < batch; k++)
			ok &= o->push(q, item_of(i + k));
		for (k = 0; k < batch; k++)
			ok &= o->pop(q) == item_of(i + k);
	}
	*ns = (double)(vd_clock_ns() - t0) / (double)pairs;
	return ok && o->pop(q) == NULL;
}

struct ring2 {
	const struct queue_ops *o;
	void *q;
	uint64_t n;
	pthread_barrier_t *start;
	bool ok;
};

static void *
ring2_producer(void *arg)
{
	struct ring2 *a = arg;
	uint64_t i;

	(void)pin_to(0);
	pthread_barrier_wait(a->start);
	for (i = 0; i < a->n; i++)
		while (!a->o->push(a->q, item_of(i)))
			vd_cpu_relax();
	return NULL;
}

/* Producer on CPU 0, consumer (this thread) on CPU 1; ns per item. */
static bool
ring_two_threads(const struct queue_ops *o, void *q, uint64_t n, double *ns)
{
	pthread_barrier_t start;
	struct ring2 a = { o, q, n, &start, true };
	pthread_t th;
	uint64_t i, t0;
	void *item;
	bool ok = true;

	(void)pin_to(1);
	pthread_barrier_init(&start, NULL, 2);
	if (pthread_create(&th, NULL, ring2_producer, &a) != 0) {
		pthread_barrier_destroy(&start);
		return false;
	}
	pthread_barrier_wait(&start);
	t0 = vd_clock_ns();
	for (i = 0; i < n; i++) {
		while ((item = o->pop(q)) == NULL)
			vd_cpu_relax();
		ok &= item == item_of(i);
	}
	*ns = (double)(vd_clock_ns() - t0) / (double)n;
	pthread_join(th, NULL);
	pthread_barrier_destroy(&start);
	unpin();
	return ok && o->pop(q) == NULL;
}

void
bench_ring(void)
{
	static const unsigned batches[] = { 1, 32 };
	uint64_t pairs = opt.quick ? 1000000 : 10000000;
	uint64_t items = opt.quick ? 500000 : 4000000;
	const struct queue_ops *o;
	struct json j;
	size_t i, b;
	double ns;
	bool ok;
	void *q;

	for (i = 0; i < sizeof(queue_impls) / sizeof(queue_impls[0]); i++) {
		o = &queue_impls[i];
		for (b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
			progress("ring: %s, one thread, batch %u", o->name,
			    batches[b]);
			if ((q = o->create(RING_SIZE)) == NULL) {
				failed = true;
				continue;
			}
			ok = ring_one_thread(o, q, pairs, batches[b], &ns);
			o->destroy(q);
			json_begin(&j, "ring");
			json_str(&j, "impl", o->name);
			json_u64(&j, "threads", 1);
			json_u64(&j, "batch", batches[b]);
			json_u64(&j, "size", RING_SIZE);
			json_u64(&j, "pairs", pairs);
			json_dbl(&j, "ns_per_pair", ns, 2);
			json_end(&j, ok);
		}
		if (ncpus() < 2)
			continue;
		progress("ring: %s, two threads", o->name);
		if ((q = o->create(RING_SIZE)) == NULL) {
			failed = true;
			continue;
		}
		ok = ring_two_threads(o, q, items, &ns);
		o->destroy(q);
		json_begin(&j, "ring");
		json_str(&j, "impl", o->name);
		json_u64(&j, "threads", 2);
		json_u64(&j, "batch", 0);
		json_u64(&j, "size", RING_SIZE);
		json_u64(&j, "pairs", items);
		json_dbl(&j, "ns_per_pair", ns, 2);
		json_end(&j, ok);
	}
}
