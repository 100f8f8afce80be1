/*
 * baseline.c — the seed design (baseline.h), on the ES simulator.
 *
 * Written the way the seed was, not the way verdictd is: a mutex and
 * condition-variable work queue stands in for a GCD global concurrent
 * queue (threads on demand up to 64, then an unbounded FIFO), a timer
 * thread with a heap stands in for dispatch_after (it only enqueues the
 * block on the pool when the time comes), and the work items are blocks,
 * as the seed's were.  Measurement hooks (counters, the wait times) are the
 * only additions; they do not change what the design does.
 *
 * Sleeps (a stalled evaluation, hashing a file) wait on a condition
 * variable rather than nanosleep only so that teardown can cut them short:
 * while the run lasts they take their full time.
 */
#include <Block.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <EndpointSecurity/EndpointSecurity.h>
#include <mach/mach_time.h>

#include "baseline.h"
#include "util/errf.h"

#define NS_PER_S  UINT64_C(1000000000)
#define NS_PER_MS UINT64_C(1000000)

/* How often the run looks at the kernel's books for a termination. */
#define POLL_NS (5 * NS_PER_MS)

typedef void (^work_block_t)(void);

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static struct timespec
abs_ts(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / NS_PER_S),
		.tv_nsec = (long)(ns % NS_PER_S) };

	return ts;
}

static void
atomic_max(atomic_uint_fast64_t *m, uint64_t v)
{
	uint64_t cur = atomic_load_explicit(m, memory_order_relaxed);

	while (v > cur &&
	    !atomic_compare_exchange_weak_explicit(
	        m, &cur, v, memory_order_relaxed, memory_order_relaxed))
		continue;
}

/* --- the "global concurrent queue" ------------------------------------------
 */

struct work {
	struct work *next;
	work_block_t block; /* Block_copy'd; the pool releases it */
};

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t work_cv;  /* an item was queued, or exit */
	pthread_cond_t drain_cv; /* queue empty and nothing running */
	struct work *head, *tail;
	unsigned threads, idle, running;
	uint64_t depth;
	bool closing; /* new work runs inline on the caller */
	bool exiting; /* threads leave once the queue is empty */
	pthread_t tid[VD_BASELINE_POOL_MAX];

	/* Sleeps end early once closing. */
	pthread_mutex_t sleep_mu;
	pthread_cond_t sleep_cv;

	atomic_uint_fast64_t items, depth_max, threads_max;
};

static void *
pool_thread(void *arg)
{
	struct pool *p = arg;
	struct work *w;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->head == NULL && !p->exiting) {
			p->idle++;
			pthread_cond_wait(&p->work_cv, &p->mu);
			p->idle--;
		}
		if (p->head == NULL)
			break;
		w = p->head;
		if ((p->head = w->next) == NULL)
			p->tail = NULL;
		p->depth--;
		p->running++;
		pthread_mutex_unlock(&p->mu);
		w->block();
		Block_release(w->block);
		free(w);
		pthread_mutex_lock(&p->mu);
		p->running--;
		if (p->head == NULL && p->running == 0)
			pthread_cond_broadcast(&p->drain_cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static int
pool_init(struct pool *p)
{
	pthread_condattr_t ca;

	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work_cv, NULL);
	pthread_cond_init(&p->drain_cv, NULL);
	pthread_mutex_init(&p->sleep_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->sleep_cv, &ca);
	pthread_condattr_destroy(&ca);
	return 0;
}

/* Takes ownership of a Block_copy'd block (dispatch_async). */
static void
pool_submit(struct pool *p, work_block_t copied)
{
	struct work *w;

	pthread_mutex_lock(&p->mu);
	if (p->closing || (w = malloc(sizeof(*w))) == NULL) {
		pthread_mutex_unlock(&p->mu);
		copied();
		Block_release(copied);
		return;
	}
	w->block = copied;
	w->next = NULL;
	if (p->tail != NULL)
		p->tail->next = w;
	else
		p->head = w;
	p->tail = w;
	p->depth++;
	atomic_fetch_add_explicit(&p->items, 1, memory_order_relaxed);
	atomic_max(&p->depth_max, p->depth);
	if (p->idle > 0)
		pthread_cond_signal(&p->work_cv);
	/* No idle thread for it: grow, as GCD does for blocked threads. */
	if (p->depth > p->idle && p->threads < VD_BASELINE_POOL_MAX &&
	    pthread_create(&p->tid[p->threads], NULL, pool_thread, p) == 0) {
		p->threads++;
		atomic_store_explicit(
		    &p->threads_max, p->threads, memory_order_relaxed);
	}
	pthread_mutex_unlock(&p->mu);
}

static void
pool_async(struct pool *p, work_block_t block)
{
	pool_submit(p, Block_copy(block));
}

/* Sleeps ns, or less once the pool is closing. */
static void
pool_sleep(struct pool *p, uint64_t ns)
{
	struct timespec ts = abs_ts(mono_ns() + ns);

	pthread_mutex_lock(&p->sleep_mu);
	while (!p->closing &&
	    pthread_cond_timedwait(&p->sleep_cv, &p->sleep_mu, &ts) !=
	        ETIMEDOUT)
		continue;
	pthread_mutex_unlock(&p->sleep_mu);
}

/* From now on work runs inline and sleeps end; then waits for the queue. */
static void
pool_close(struct pool *p)
{
	pthread_mutex_lock(&p->sleep_mu);
	pthread_mutex_lock(&p->mu);
	p->closing = true;
	pthread_mutex_unlock(&p->mu);
	pthread_cond_broadcast(&p->sleep_cv);
	pthread_mutex_unlock(&p->sleep_mu);
}

static void
pool_drain(struct pool *p)
{
	pthread_mutex_lock(&p->mu);
	while (p->head != NULL || p->running > 0)
		pthread_cond_wait(&p->drain_cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

static void
pool_fini(struct pool *p)
{
	unsigned i, n;

	pthread_mutex_lock(&p->mu);
	p->exiting = true;
	n = p->threads;
	pthread_cond_broadcast(&p->work_cv);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < n; i++)
		pthread_join(p->tid[i], NULL);
	pthread_cond_destroy(&p->sleep_cv);
	pthread_mutex_destroy(&p->sleep_mu);
	pthread_cond_destroy(&p->drain_cv);
	pthread_cond_destroy(&p->work_cv);
	pthread_mutex_destroy(&p->mu);
}

/* --- "dispatch_after" onto the pool
 * ------------------------------------------- */

struct timer_ent {
	uint64_t when;
	work_block_t block; /* Block_copy'd */
};

struct timers {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* earlier expiry, or flush / exit */
	struct timer_ent *heap;
	size_t n, cap;
	bool closing; /* new timers fire at once */
	bool exiting;
	bool firing; /* the thread is handing a block to the pool */
	bool started;
	pthread_t tid;
	struct pool *pool;
};

static void
heap_up(struct timer_ent *h, size_t i)
{
	struct timer_ent e = h[i];

	while (i > 0 && h[(i - 1) / 2].when > e.when) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = e;
}

static void
heap_down(struct timer_ent *h, size_t n, size_t i)
{
	struct timer_ent e = h[i];
	size_t c;

	while ((c = 2 * i + 1) < n) {
		if (c + 1 < n && h[c + 1].when < h[c].when)
			c++;
		if (h[c].when >= e.when)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = e;
}

static struct timer_ent
heap_pop(struct timers *t)
{
	struct timer_ent top = t->heap[0];

	if (--t->n > 0) {
		t->heap[0] = t->heap[t->n];
		heap_down(t->heap, t->n, 0);
	}
	return top;
}

static void *
timer_thread(void *arg)
{
	struct timers *t = arg;
	struct timer_ent e;
	struct timespec ts;

	pthread_mutex_lock(&t->mu);
	while (!t->exiting) {
		if (t->n == 0) {
			pthread_cond_wait(&t->cv, &t->mu);
			continue;
		}
		if (t->heap[0].when > mono_ns() && !t->closing) {
			ts = abs_ts(t->heap[0].when);
			pthread_cond_timedwait(&t->cv, &t->mu, &ts);
			continue;
		}
		e = heap_pop(t);
		t->firing = true;
		pthread_mutex_unlock(&t->mu);
		/* The timer does not run the fallback: it queues it. */
		pool_submit(t->pool, e.block);
		pthread_mutex_lock(&t->mu);
		t->firing = false;
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

static int
timers_init(struct timers *t, struct pool *p)
{
	pthread_condattr_t ca;
	int rc;

	memset(t, 0, sizeof(*t));
	t->pool = p;
	pthread_mutex_init(&t->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((rc = pthread_create(&t->tid, NULL, timer_thread, t)) != 0)
		return -rc;
	t->started = true;
	return 0;
}

/* dispatch_after(when, pool, block). */
static void
timers_after(struct timers *t, uint64_t when, work_block_t block)
{
	struct timer_ent *h;
	size_t cap;

	pthread_mutex_lock(&t->mu);
	if (t->n == t->cap) {
		cap = t->cap == 0 ? 1024 : 2 * t->cap;
		if ((h = realloc(t->heap, cap * sizeof(*h))) == NULL) {
			pthread_mutex_unlock(&t->mu);
			/* No memory: fire now rather than lose the answer. */
			pool_async(t->pool, block);
			return;
		}
		t->heap = h;
		t->cap = cap;
	}
	t->heap[t->n].when = when;
	t->heap[t->n].block = Block_copy(block);
	heap_up(t->heap, t->n++);
	if (t->heap[0].when == when)
		pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

/* Fires every pending timer now (the pool runs them inline once closed). */
static void
timers_flush(struct timers *t)
{
	struct timespec ms = { 0, 1000000 };

	pthread_mutex_lock(&t->mu);
	t->closing = true;
	pthread_cond_signal(&t->cv);
	/* Until handed over: once the pool is closed, that means run. */
	while ((t->n > 0 || t->firing) && t->started) {
		pthread_mutex_unlock(&t->mu);
		nanosleep(&ms, NULL);
		pthread_mutex_lock(&t->mu);
	}
	pthread_mutex_unlock(&t->mu);
}

static void
timers_fini(struct timers *t)
{
	size_t i;

	if (t->started) {
		pthread_mutex_lock(&t->mu);
		t->exiting = true;
		pthread_cond_signal(&t->cv);
		pthread_mutex_unlock(&t->mu);
		pthread_join(t->tid, NULL);
	}
	for (i = 0; i < t->n; i++)
		Block_release(t->heap[i].block);
	free(t->heap);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
}

/* --- the extension
 * ------------------------------------------------------------ */

struct baseline {
	const struct essim_scenario *sc;
	struct pool pool;
	struct timers timers;
	es_client_t *client;
	mach_timebase_info_data_t tb;
	uint64_t margin_ns; /* "one second", scaled */

	atomic_uint_fast64_t evaluations, stalls, hashes;
	atomic_uint_fast64_t fallbacks_armed, fallbacks_run, fallback_answers;
	atomic_uint_fast64_t fallback_wait_max, auth_wait_max;
};

static es_respond_result_t
respond_allow(es_client_t *c, const es_message_t *msg)
{
	/* OPEN takes flags: all bits, so a cached answer covers any open. */
	if (msg->event_type == ES_EVENT_TYPE_AUTH_OPEN)
		return es_respond_flags_result(c, msg, UINT32_MAX, false);
	return es_respond_auth_result(c, msg, ES_AUTH_RESULT_ALLOW, false);
}

/* The seed's rule engine: allows everything, sometimes slowly. */
static void
evaluate(struct baseline *b)
{
	uint64_t n = 1 +
	    atomic_fetch_add_explicit(&b->evaluations, 1, memory_order_relaxed);

	if (b->sc->stall_every != 0 && n % b->sc->stall_every == 0) {
		atomic_fetch_add_explicit(&b->stalls, 1, memory_order_relaxed);
		pool_sleep(&b->pool, b->sc->stall_ns);
	}
}

/* Monotonic ns at which the fallback fires: deadline - "one second". */
static uint64_t
fallback_when(struct baseline *b, const es_message_t *msg)
{
	uint64_t now = mono_ns(), mnow = mach_absolute_time(), left;

	if (msg->deadline <= mnow)
		return now;
	left = (msg->deadline - mnow) * b->tb.numer / b->tb.denom;
	return left > b->margin_ns ? now + left - b->margin_ns : now;
}

static void
on_auth(struct baseline *b, es_client_t *c, const es_message_t *msg)
{
	uint64_t queued = mono_ns(), when;
	es_message_t *copy;

	es_retain_message(msg);
	pool_async(&b->pool, ^{
		atomic_max(&b->auth_wait_max, mono_ns() - queued);
		evaluate(b);
		respond_allow(c, msg);
		es_release_message(msg);
	});

	/* The safety net: answer ALLOW with a copy shortly before the
	 * deadline, whatever happened; a duplicate answer is ignored.  (The
	 * seed design copied messages, an API macOS 11 deprecated.) */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
	if ((copy = es_copy_message(msg)) == NULL)
		return;
	when = fallback_when(b, msg);
	atomic_fetch_add_explicit(&b->fallbacks_armed, 1, memory_order_relaxed);
	timers_after(&b->timers, when, ^{
		uint64_t now = mono_ns();

		atomic_fetch_add_explicit(
		    &b->fallbacks_run, 1, memory_order_relaxed);
		atomic_max(&b->fallback_wait_max, now > when ? now - when : 0);
		if (respond_allow(c, copy) == ES_RESPOND_RESULT_SUCCESS)
			atomic_fetch_add_explicit(
			    &b->fallback_answers, 1, memory_order_relaxed);
		es_free_message(copy);
	});
#pragma clang diagnostic pop
}

static void
on_close(struct baseline *b, const es_message_t *msg)
{
	bool modified = msg->event.close.modified;

	es_retain_message(msg);
	/* Unbounded async work: one item per close, on the same pool. */
	pool_async(&b->pool, ^{
		if (modified) {
			atomic_fetch_add_explicit(
			    &b->hashes, 1, memory_order_relaxed);
			pool_sleep(&b->pool, b->sc->hash_cost_ns);
		}
		es_release_message(msg);
	});
}

static void
fill_report(struct baseline *b, struct vd_baseline_report *out)
{
#define LD(f) atomic_load_explicit(&b->f, memory_order_relaxed)
	out->pool_threads = LD(pool.threads_max);
	out->queue_max = LD(pool.depth_max);
	out->work_items = LD(pool.items);
	out->evaluations = LD(evaluations);
	out->stalls = LD(stalls);
	out->hashes = LD(hashes);
	out->fallbacks_armed = LD(fallbacks_armed);
	out->fallbacks_run = LD(fallbacks_run);
	out->fallback_answers = LD(fallback_answers);
	out->fallback_wait_max_ns = LD(fallback_wait_max);
	out->auth_wait_max_ns = LD(auth_wait_max);
#undef LD
}

/* Records when the kernel is first seen to have terminated the client. */
static void
watch(struct baseline *b, struct vd_baseline_report *out, uint64_t start)
{
	struct essim_client_report r;

	if (out->terminated_after_ns == 0 &&
	    essim_client_report(b->client, &r) == 0 && r.terminated)
		out->terminated_after_ns = mono_ns() - start;
}

int
vd_baseline_run(const struct essim_scenario *s, struct vd_baseline_report *out,
    char *err, size_t errsz)
{
	struct essim_workload *w = NULL;
	struct essim_client_report after;
	es_event_type_t types[ESSIM_KIND_COUNT];
	es_new_client_result_t ncr;
	es_handler_block_t handler;
	struct baseline *b;
	uint64_t start, bound, until;
	int rc, k;

	memset(out, 0, sizeof(*out));
	if ((rc = essim_scenario_check(s, err, errsz)) != 0)
		return rc;
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		vd_errf(err, errsz, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	b->sc = s;
	mach_timebase_info(&b->tb);
	b->margin_ns = (uint64_t)((double)NS_PER_S * s->time_scale);
	pool_init(&b->pool);
	if ((rc = timers_init(&b->timers, &b->pool)) != 0) {
		vd_errf(err, errsz, "timer thread: %s", strerror(-rc));
		goto fail;
	}
	/* Processes first: a client's default mute set is taken at birth. */
	if ((rc = essim_workload_create(s, &w)) != 0) {
		vd_errf(err, errsz, "workload: %s", strerror(-rc));
		goto fail;
	}

	/* One handler, one client, for AUTH and NOTIFY alike. */
	handler = ^(es_client_t *c, const es_message_t *m) {
		if (m->action_type == ES_ACTION_TYPE_AUTH)
			on_auth(b, c, m);
		else if (m->event_type == ES_EVENT_TYPE_NOTIFY_CLOSE)
			on_close(b, m);
	};
	ncr = es_new_client(&b->client, handler);
	if (ncr != ES_NEW_CLIENT_RESULT_SUCCESS) {
		b->client = NULL;
		vd_errf(err, errsz, "es_new_client: result %d", (int)ncr);
		rc = -EPERM;
		goto fail;
	}
	/* One client for everything: the seed's first mistake. */
	for (k = 0; k < ESSIM_KIND_COUNT; k++)
		types[k] = essim_kind_type(k);
	if (es_subscribe(b->client, types, ESSIM_KIND_COUNT) !=
	    ES_RETURN_SUCCESS) {
		vd_errf(err, errsz, "es_subscribe failed");
		rc = -EINVAL;
		goto fail;
	}

	start = mono_ns();
	if ((rc = essim_workload_run(w)) != 0) {
		vd_errf(err, errsz, "workload thread: %s", strerror(-rc));
		goto fail;
	}
	while (!essim_workload_wait(w, POLL_NS))
		watch(b, out, start);
	essim_workload_join(w);

	/* Every AUTH answered or expired: bounded by the longest deadline. */
	bound = (s->ordinary_ns > s->system_max_ns ? s->ordinary_ns
	                                           : s->system_max_ns) +
	    NS_PER_S;
	until = mono_ns() + bound;
	while (!(out->idle = essim_wait_idle(POLL_NS)) && mono_ns() < until)
		watch(b, out, start);
	watch(b, out, start);
	essim_client_report(b->client, &out->kernel);
	essim_workload_report(w, &out->workload);
	fill_report(b, out);
	rc = 0;

fail:
	if (b->client != NULL) {
		/* No new deliveries; what is queued and delivered still comes
		 * through the handler, and runs inline once the pool closes. */
		es_unsubscribe_all(b->client);
		pool_close(&b->pool);
		timers_flush(&b->timers);
		pool_drain(&b->pool);
		es_delete_client(b->client);
		timers_flush(&b->timers);
		pool_drain(&b->pool);
		/* The kernel keeps a deleted client's books. */
		if (essim_client_report(b->client, &after) == 0)
			out->leaked = after.retained_now;
	}
	timers_fini(&b->timers);
	pool_close(&b->pool);
	pool_fini(&b->pool);
	essim_workload_destroy(w);
	free(b);
	return rc;
}
