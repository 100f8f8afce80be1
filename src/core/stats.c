/*
 * stats.c — histograms and the sum of every thread's cells.
 */
#include <stdatomic.h>
#include <string.h>

#include <verdict/stats.h>

#include "core/cells.h"
#include "core/internal.h"
#include "platform/platform.h"

unsigned
vd_hist_bucket(uint64_t v)
{
	unsigned msb, shift;

	if (v < VD_HIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - VD_HIST_SUB_BITS;
	return (shift + 1) * VD_HIST_SUB +
	    (unsigned)((v >> shift) & (VD_HIST_SUB - 1));
}

uint64_t
vd_hist_bucket_high(unsigned b)
{
	unsigned shift;
	uint64_t low;

	if (b < VD_HIST_SUB)
		return b;
	shift = b / VD_HIST_SUB - 1;
	low = (uint64_t)(VD_HIST_SUB + b % VD_HIST_SUB) << shift;
	return low + (((uint64_t)1 << shift) - 1);
}

void
vd_hist_record(struct vd_hist *h, uint64_t v)
{
	h->b[vd_hist_bucket(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

void
vd_hist_merge(struct vd_hist *dst, const struct vd_hist *src)
{
	unsigned b;

	if (src->count == 0)
		return;
	dst->count += src->count;
	if (src->max > dst->max)
		dst->max = src->max;
	for (b = 0; b < VD_HIST_BUCKETS; b++)
		dst->b[b] += src->b[b];
}

uint64_t
vd_hist_quantile(const struct vd_hist *h, double q)
{
	uint64_t rank, seen = 0, hi;
	unsigned b;

	if (h->count == 0)
		return 0;
	if (q <= 0)
		q = 0;
	if (q >= 1)
		return h->max;
	rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	if (rank == 0)
		rank = 1;
	for (b = 0; b < VD_HIST_BUCKETS; b++) {
		seen += h->b[b];
		if (seen >= rank) {
			hi = vd_hist_bucket_high(b);
			return hi < h->max ? hi : h->max;
		}
	}
	return h->max;
}

void
vd__cells_init(struct vd_cells *c, bool shared)
{
	unsigned t;

	c->shared = shared;
	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++)
		atomic_store_explicit(
		    &c->t[t].margin_min_ns, INT64_MAX, memory_order_relaxed);
}

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static void
hist_load(struct vd_hist *h, const struct vd_hist_cell *c)
{
	unsigned b;

	h->count = LD(c->count);
	h->max = LD(c->max);
	for (b = 0; b < VD_HIST_BUCKETS; b++)
		h->b[b] = LD(c->b[b]);
}

static void
sum_cells(struct vd_stats *out, const struct vd_cells *c)
{
	const struct vd_type_cells *tc;
	struct vd_type_stats *ts;
	uint64_t v;
	int64_t m;
	unsigned t, b;

	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++) {
		tc = &c->t[t];
		ts = &out->types[t];
		ts->received += LD(tc->received);
		ts->answered_worker += LD(tc->answered_worker);
		ts->answered_default += LD(tc->answered_default);
		ts->answered_arrival += LD(tc->answered_arrival);
		ts->dropped += LD(tc->dropped);
		ts->dropped_pool += LD(tc->dropped_pool);
		ts->shutdown += LD(tc->shutdown);
		ts->processed += LD(tc->processed);
		ts->allowed += LD(tc->allowed);
		ts->denied += LD(tc->denied);
		ts->audited += LD(tc->audited);
		ts->respond_errors += LD(tc->respond_errors);
		v = LD(tc->ring_depth_max);
		if (v > ts->ring_depth_max)
			ts->ring_depth_max = v;
		v = LD(tc->budget_min_ns);
		if (v != 0 && (ts->budget_min_ns == 0 || v < ts->budget_min_ns))
			ts->budget_min_ns = v;
		m = LD(tc->margin_min_ns);
		if (m < ts->margin_min_ns)
			ts->margin_min_ns = m;
		if (LD(tc->latency.count) == 0)
			continue;
		ts->latency.count += LD(tc->latency.count);
		v = LD(tc->latency.max);
		if (v > ts->latency.max)
			ts->latency.max = v;
		for (b = 0; b < VD_HIST_BUCKETS; b++)
			ts->latency.b[b] += LD(tc->latency.b[b]);
	}
	out->timer.armed += LD(c->t_armed);
	out->timer.fired += LD(c->t_fired);
	out->timer.lost += LD(c->t_lost);
	out->timer.cancelled += LD(c->t_cancelled);
	out->timer.wakeups += LD(c->t_wakeups);
	out->spin.deferred_wakes += LD(c->deferred_wakes);
	out->spin.tick_wakes += LD(c->t_tick_wakes);
	v = LD(c->t_late_max);
	if (v > out->timer.lateness_max_ns)
		out->timer.lateness_max_ns = v;
}

void
vd_pipeline_stats(const struct vd_pipeline *p, struct vd_stats *out)
{
	unsigned i, t, used;

	memset(out, 0, sizeof(*out));
	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++)
		out->types[t].margin_min_ns = INT64_MAX;
	used = atomic_load_explicit(&p->pcells_used, memory_order_acquire);
	if (used > VD_PRODUCER_SLOTS)
		used = VD_PRODUCER_SLOTS;
	for (i = 0; i < used; i++)
		sum_cells(out, &p->pcells[i]);
	sum_cells(out, &p->pcells[VD_PRODUCER_SLOTS]);
	for (i = 0; i < p->nslots; i++)
		sum_cells(out, &p->wcells[i]);
	sum_cells(out, p->tcells);
	sum_cells(out, p->ncells);
	sum_cells(out, p->ccells);
	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++) {
		unsigned shards = t < VD_AUTH_TYPE_COUNT ? p->nslots : 1;

		if (out->types[t].margin_min_ns == INT64_MAX)
			out->types[t].margin_min_ns = 0;
		/* A racy snapshot, as any gauge read from outside is. */
		for (i = 0; i < shards; i++)
			out->types[t].ring_depth +=
			    vd_ring_depth(&p->rings[t][i]);
	}
	out->workers = p->nworkers;
	for (i = 0; i < p->nworkers && i < VD_MAX_WORKERS; i++) {
		out->worker[i].events = LD(p->workers[i].events);
		out->worker[i].parks = LD(p->workers[i].parks);
		out->worker[i].busy_ns = LD(p->workers[i].busy_ns);
		out->worker[i].wakeups = LD(p->workers[i].sl.wakeups);
		out->worker[i].spin_ns = LD(p->workers[i].spin_ns);
		out->worker[i].stolen = LD(p->workers[i].stolen);
		out->worker[i].unpins = LD(p->workers[i].unpins);
	}
	out->spin.pressure = p->sg_pressure;
	out->spin.open = vd__spin_open(p, vd_now_ns());
	out->spin.closed = LD(p->sg_closed);
	out->spin.full = LD(p->sg_full);
	out->spin.samples = LD(p->sg_samples);
	out->redirected = LD(p->redirected);
	out->pool_waits = LD(p->pool_waits);
	out->has_inline = p->cfg.inline_runner;
	if (out->has_inline) {
		const struct vd_worker *w = &p->workers[p->nworkers];

		out->inline_runner.events = LD(w->events);
		out->inline_runner.busy_ns = LD(w->busy_ns);
		out->inline_stuck = LD(p->inline_stuck);
	}
	out->enrich.threads = p->enricher.enrich != NULL ? p->nenrich : 0;
	out->enrich.requested = LD(p->e_requested);
	out->enrich.completed = LD(p->e_completed);
	out->enrich.failed = LD(p->e_failed);
	out->enrich.late = LD(p->e_late);
	out->enrich.full = LD(p->e_full);
	out->enrich.undecided = LD(p->e_undecided);
	out->enrich.unavailable = LD(p->e_unavailable);
	out->enrich.answered = LD(p->e_answered);
	out->enrich.stopped = LD(p->e_stopped);
	out->enrich.queue_depth =
	    p->nenrich > 0 ? vd_ring_depth((struct vd_ring *)&p->enrich_q) : 0;
	hist_load(&out->enrich.latency, &p->e_latency);
	out->uptime_ns = p->start_ns ? vd_now_ns() - p->start_ns : 0;
}
