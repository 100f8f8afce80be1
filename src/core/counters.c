/*
 * counters.c — the dotted name tree over a vd_stats snapshot.
 *
 * One table-free walk in a fixed order: per event type, then rings,
 * workers, timer and the deadline summary.  Names are built in a local
 * buffer; nothing is allocated.  verdictctl(8) documents every name: keep
 * the two in step.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <verdict/counters.h>

struct walk {
	const char *const *prefixes;
	size_t nprefixes;
	void (*emit)(void *ctx, const struct vd_ctr *c);
	void *ctx;
	size_t count;
};

bool
vd_counters_match(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);

	if (n == 0)
		return true;
	return strncmp(name, prefix, n) == 0 &&
	    (name[n] == '\0' || name[n] == '.');
}

static void
put(struct walk *w, const char *name, enum vd_ctr_kind kind, const char *unit,
    const char *help, int64_t value)
{
	struct vd_ctr c = { name, kind, unit, help, value };
	size_t i;

	if (w->nprefixes != 0) {
		for (i = 0; i < w->nprefixes; i++)
			if (vd_counters_match(name, w->prefixes[i]))
				break;
		if (i == w->nprefixes)
			return;
	}
	w->emit(w->ctx, &c);
	w->count++;
}

/* put() with the name made of a printf format. */
static void
putf(struct walk *w, enum vd_ctr_kind kind, const char *unit, const char *help,
    int64_t value, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void
putf(struct walk *w, enum vd_ctr_kind kind, const char *unit, const char *help,
    int64_t value, const char *fmt, ...)
{
	char name[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	put(w, name, kind, unit, help, value);
}

static int64_t
us(uint64_t ns)
{
	return (int64_t)(ns / 1000u);
}

static const char *const answer_help[2] = {
	"submit-to-answer latency at this quantile, since start",
	"longest submit-to-answer latency",
};
static const char *const enrich_help[2] = {
	"deferral-to-enriched latency at this quantile, since start",
	"longest deferral-to-enriched latency",
};

/* help: what the histogram measures, at a quantile and at its longest. */
static void
latency(struct walk *w, const char *t, const char *const help[2],
    const struct vd_hist *h)
{
	static const struct {
		const char *name;
		double q;
	} qs[] = {
		{ "p50", 0.5 },
		{ "p90", 0.9 },
		{ "p99", 0.99 },
		{ "p999", 0.999 },
	};
	size_t i;

	putf(w, VD_CTR_COUNTER, "events", "events in the latency histogram",
	    (int64_t)h->count, "%s.latency_us.count", t);
	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
		putf(w, VD_CTR_GAUGE, "us", help[0],
		    us(vd_hist_quantile(h, qs[i].q)), "%s.latency_us.%s", t,
		    qs[i].name);
	putf(
	    w, VD_CTR_GAUGE, "us", help[1], us(h->max), "%s.latency_us.max", t);
}

static void
auth_type(struct walk *w, const char *t, const struct vd_type_stats *s)
{
	putf(w, VD_CTR_COUNTER, "events", "events received from the backend",
	    (int64_t)s->received, "%s.received", t);
	putf(w, VD_CTR_COUNTER, "events",
	    "answered by a worker with the evaluator's verdict",
	    (int64_t)s->answered_worker, "%s.answered.worker", t);
	putf(w, VD_CTR_COUNTER, "events",
	    "answered with the default verdict by the timer or at stop",
	    (int64_t)s->answered_default, "%s.answered.default", t);
	putf(w, VD_CTR_COUNTER, "events",
	    "of answered.default: answered at stop", (int64_t)s->shutdown,
	    "%s.answered.shutdown", t);
	putf(w, VD_CTR_COUNTER, "events",
	    "answered on arrival: budget already below the margin floor",
	    (int64_t)s->answered_arrival, "%s.answered.arrival", t);
	putf(w, VD_CTR_COUNTER, "events",
	    "answered at once with the default: ring full, pool empty or "
	    "stopping",
	    (int64_t)s->dropped, "%s.dropped", t);
	putf(w, VD_CTR_COUNTER, "events", "of dropped: the pool was empty",
	    (int64_t)s->dropped_pool, "%s.dropped_pool", t);
	putf(w, VD_CTR_COUNTER, "events", "answers that allowed",
	    (int64_t)s->allowed, "%s.allowed", t);
	putf(w, VD_CTR_COUNTER, "events", "answers that denied",
	    (int64_t)s->denied, "%s.denied", t);
	putf(w, VD_CTR_COUNTER, "events", "answers marked for audit",
	    (int64_t)s->audited, "%s.audited", t);
	putf(w, VD_CTR_COUNTER, "events", "answers the kernel refused",
	    (int64_t)s->respond_errors, "%s.respond_errors", t);
	latency(w, t, answer_help, &s->latency);
	putf(w, VD_CTR_GAUGE, "us",
	    "shortest deadline budget seen on arrival (0: none yet)",
	    us(s->budget_min_ns), "%s.budget_us.min", t);
	putf(w, VD_CTR_GAUGE, "us",
	    "least time left before a deadline when answered; negative: late",
	    s->margin_min_ns / 1000, "%s.margin_us.min", t);
}

static void
notify_type(struct walk *w, const char *t, const struct vd_type_stats *s)
{
	putf(w, VD_CTR_COUNTER, "events", "events received from the backend",
	    (int64_t)s->received, "%s.received", t);
	putf(w, VD_CTR_COUNTER, "events",
	    "handed to the notify consumer in batches", (int64_t)s->processed,
	    "%s.processed", t);
	putf(w, VD_CTR_COUNTER, "events",
	    "not processed: ring full, pool empty or stopping",
	    (int64_t)s->dropped, "%s.dropped", t);
	putf(w, VD_CTR_COUNTER, "events", "of dropped: the pool was empty",
	    (int64_t)s->dropped_pool, "%s.dropped_pool", t);
	latency(w, t, answer_help, &s->latency);
}

size_t
vd_counters_walk(const struct vd_stats *st, const char *const *prefixes,
    size_t nprefixes, void (*emit)(void *ctx, const struct vd_ctr *c),
    void *ctx)
{
	struct walk w = { prefixes, nprefixes, emit, ctx, 0 };
	uint64_t budget_min = 0;
	int64_t margin_min = 0;
	bool any_margin = false;
	unsigned t, i;
	const char *name;

	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++) {
		const struct vd_type_stats *s = &st->types[t];

		name = vd_event_type_name((enum vd_event_type)t);
		if (t < VD_AUTH_TYPE_COUNT) {
			auth_type(&w, name, s);
			if (s->budget_min_ns != 0 &&
			    (budget_min == 0 || s->budget_min_ns < budget_min))
				budget_min = s->budget_min_ns;
			if (s->answered_worker + s->answered_default +
			        s->answered_arrival + s->dropped !=
			    0) {
				if (!any_margin ||
				    s->margin_min_ns < margin_min)
					margin_min = s->margin_min_ns;
				any_margin = true;
			}
		} else {
			notify_type(&w, name, s);
		}
	}
	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++) {
		name = vd_event_type_name((enum vd_event_type)t);
		putf(&w, VD_CTR_GAUGE, "events",
		    "events queued now, over all shards",
		    (int64_t)st->types[t].ring_depth, "ring.%s.depth", name);
		putf(&w, VD_CTR_GAUGE, "events",
		    "most events queued at once in one shard since start",
		    (int64_t)st->types[t].ring_depth_max, "ring.%s.depth_max",
		    name);
	}
	put(&w, "pipeline.workers", VD_CTR_GAUGE, "threads", "worker threads",
	    (int64_t)st->workers);
	put(&w, "pipeline.uptime_s", VD_CTR_GAUGE, "s",
	    "seconds since the pipeline started",
	    (int64_t)(st->uptime_ns / 1000000000u));
	for (i = 0; i < st->workers && i < VD_MAX_WORKERS; i++) {
		const struct vd_worker_stats *ws = &st->worker[i];

		putf(&w, VD_CTR_COUNTER, "events", "events this worker handled",
		    (int64_t)ws->events, "worker.%u.events", i);
		putf(&w, VD_CTR_COUNTER, "us",
		    "time spent evaluating and answering", us(ws->busy_ns),
		    "worker.%u.busy_us", i);
		putf(&w, VD_CTR_COUNTER, "us",
		    "time not spent evaluating: spinning, parked, or waiting "
		    "for the CPU",
		    us(st->uptime_ns > ws->busy_ns ? st->uptime_ns - ws->busy_ns
		                                   : 0),
		    "worker.%u.idle_us", i);
		putf(&w, VD_CTR_COUNTER, "times", "times the worker parked",
		    (int64_t)ws->parks, "worker.%u.parks", i);
		putf(&w, VD_CTR_COUNTER, "times",
		    "wake-ups producers sent to the parked worker",
		    (int64_t)ws->wakeups, "worker.%u.wakeups", i);
		putf(&w, VD_CTR_COUNTER, "us",
		    "time spent spinning for the next event (a CPU kept "
		    "busy)",
		    us(ws->spin_ns), "worker.%u.spin_us", i);
		putf(&w, VD_CTR_COUNTER, "events",
		    "events taken from a stuck worker's rings",
		    (int64_t)ws->stolen, "worker.%u.stolen", i);
		putf(&w, VD_CTR_COUNTER, "times",
		    "times the worker left its CPU, found contended",
		    (int64_t)ws->unpins, "worker.%u.unpins", i);
	}
	put(&w, "pipeline.inline.events", VD_CTR_COUNTER, "events",
	    "events the producer answered itself (the inline runner)",
	    (int64_t)st->inline_runner.events);
	put(&w, "pipeline.inline.busy_us", VD_CTR_COUNTER, "us",
	    "time the inline runner spent evaluating and answering",
	    us(st->inline_runner.busy_ns));
	put(&w, "pipeline.inline.stuck", VD_CTR_COUNTER, "times",
	    "times the inline runner held one event over 1 ms and a standby "
	    "took over",
	    (int64_t)st->inline_stuck);
	put(&w, "pipeline.redirected", VD_CTR_COUNTER, "events",
	    "AUTH events queued past a stuck worker", (int64_t)st->redirected);
	put(&w, "pipeline.pool_waits", VD_CTR_COUNTER, "times",
	    "producers that found the pool empty and waited for the timer to "
	    "recycle answered events",
	    (int64_t)st->pool_waits);
	put(&w, "pipeline.spin.open", VD_CTR_GAUGE, "bool",
	    "1 while idle workers may spin", st->spin.open ? 1 : 0);
	put(&w, "pipeline.spin.pressure", VD_CTR_GAUGE, "bool",
	    "1: the spin gate follows the system's CPU pressure; 0: it is "
	    "open only where CPUs outnumber the workers by two",
	    st->spin.pressure ? 1 : 0);
	put(&w, "pipeline.spin.closed", VD_CTR_COUNTER, "times",
	    "times threads waiting for a CPU closed the spin gate",
	    (int64_t)st->spin.closed);
	put(&w, "pipeline.spin.full", VD_CTR_COUNTER, "times",
	    "times the CPUs were found with less than a quarter of a CPU idle, "
	    "which closed the spin gate",
	    (int64_t)st->spin.full);
	put(&w, "pipeline.wakes.deferred", VD_CTR_COUNTER, "times",
	    "wake-ups of a parked worker or notify thread that producers left "
	    "to the timer's tick while the spin gate was closed (defer_wakes)",
	    (int64_t)st->spin.deferred_wakes);
	put(&w, "pipeline.wakes.by_tick", VD_CTR_COUNTER, "times",
	    "parked threads with work waiting that the timer woke "
	    "(defer_wakes)",
	    (int64_t)st->spin.tick_wakes);
	put(&w, "timer.armed", VD_CTR_COUNTER, "events",
	    "deadline timers put on the wheel", (int64_t)st->timer.armed);
	put(&w, "timer.fired", VD_CTR_COUNTER, "events",
	    "timers that expired and answered with the default",
	    (int64_t)st->timer.fired);
	put(&w, "timer.lost", VD_CTR_COUNTER, "events",
	    "timers that expired after a worker had answered",
	    (int64_t)st->timer.lost);
	put(&w, "timer.cancelled", VD_CTR_COUNTER, "events",
	    "timers taken off the wheel after a worker answered",
	    (int64_t)st->timer.cancelled);
	put(&w, "timer.wakeups", VD_CTR_COUNTER, "times",
	    "times the timer thread woke up", (int64_t)st->timer.wakeups);
	put(&w, "timer.lateness_us.max", VD_CTR_GAUGE, "us",
	    "latest a timer fired after its expiry",
	    us(st->timer.lateness_max_ns));
	put(&w, "enrich.threads", VD_CTR_GAUGE, "threads",
	    "enrichment threads running (deferred decisions; 0: none)",
	    st->enrich.threads);
	put(&w, "enrich.requested", VD_CTR_COUNTER, "events",
	    "events deferred to the enrichment threads",
	    (int64_t)st->enrich.requested);
	put(&w, "enrich.completed", VD_CTR_COUNTER, "events",
	    "enrichments that succeeded", (int64_t)st->enrich.completed);
	put(&w, "enrich.failed", VD_CTR_COUNTER, "events",
	    "enrichments that failed: the default answered",
	    (int64_t)st->enrich.failed);
	put(&w, "enrich.late", VD_CTR_COUNTER, "events",
	    "deferred events the timer answered before their enrichment "
	    "ended (what it learnt is kept)",
	    (int64_t)st->enrich.late);
	put(&w, "enrich.full", VD_CTR_COUNTER, "events",
	    "events that found the enrichment queue full: the default at once",
	    (int64_t)st->enrich.full);
	put(&w, "enrich.undecided", VD_CTR_COUNTER, "events",
	    "enriched events still undecided: the default",
	    (int64_t)st->enrich.undecided);
	put(&w, "enrich.unavailable", VD_CTR_COUNTER, "events",
	    "events that needed enriching with no enricher: the default",
	    (int64_t)st->enrich.unavailable);
	put(&w, "enrich.answered", VD_CTR_COUNTER, "events",
	    "deferred events answered by an enrichment thread",
	    (int64_t)st->enrich.answered);
	put(&w, "enrich.stopped", VD_CTR_COUNTER, "events",
	    "deferred events still queued at stop (the timer answered them)",
	    (int64_t)st->enrich.stopped);
	put(&w, "enrich.queue", VD_CTR_GAUGE, "events",
	    "deferred events waiting for an enrichment thread",
	    (int64_t)st->enrich.queue_depth);
	latency(&w, "enrich", enrich_help, &st->enrich.latency);
	put(&w, "deadline.budget_us.min", VD_CTR_GAUGE, "us",
	    "shortest deadline budget seen on arrival, any AUTH type (0: none)",
	    us(budget_min));
	put(&w, "deadline.margin_us.min", VD_CTR_GAUGE, "us",
	    "least time left before a deadline when answered, any AUTH type: "
	    "how close the daemon came to being killed",
	    margin_min / 1000);
	return w.count;
}
