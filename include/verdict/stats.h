/*
 * verdict/stats.h — the pipeline's counters, summed into a snapshot.
 *
 * Every thread that touches an event (producers, workers, the timer, the
 * notify thread) writes its own cache-line padded cells with relaxed atomics;
 * vd_pipeline_stats() sums them without taking any lock the AUTH path takes.
 * The books close: for every type,
 *   received = answered_worker + answered_default + answered_arrival + dropped
 * once the pipeline is quiescent (NOTIFY: received = processed + dropped).
 * answered_default counts the timer's default verdicts and those given at
 * stop (the latter also in `shutdown`).
 *
 * Latencies are log-linear histograms (HdrHistogram-style, 1/16 relative
 * precision) of submit -> answer, in nanoseconds, of the events that were
 * queued (answered by a worker, the timer, or at stop); events answered
 * inside submit (dropped, budget too short) are not in them.
 */
#ifndef VERDICT_STATS_H
#define VERDICT_STATS_H

#include <stdint.h>

#include <verdict/event.h>
#include <verdict/pipeline.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VD_HIST_SUB_BITS 4
#define VD_HIST_SUB      (1u << VD_HIST_SUB_BITS)
#define VD_HIST_BUCKETS  (64 * VD_HIST_SUB)

struct vd_hist {
	uint64_t count;
	uint64_t max;
	uint64_t b[VD_HIST_BUCKETS];
};

struct vd_type_stats {
	uint64_t received;
	uint64_t answered_worker;
	uint64_t answered_default; /* timer, or pipeline stop */
	uint64_t answered_arrival; /* budget below the floor on arrival */
	uint64_t dropped;          /* ring full, pool empty, or stopping */
	uint64_t dropped_pool;     /* of which: pool empty */
	uint64_t shutdown;         /* of answered_default: at stop */
	uint64_t processed;        /* NOTIFY: handed to notify() */
	uint64_t allowed;
	uint64_t denied;
	uint64_t audited;
	uint64_t respond_errors; /* backend refused an answer */
	uint64_t ring_depth_max; /* high-water mark over its shards */
	uint64_t ring_depth;     /* queued now, over its shards */
	uint64_t budget_min_ns;  /* shortest deadline budget on arrival */
	int64_t margin_min_ns;   /* least time left before the deadline
	                            when answered (negative: late) */
	struct vd_hist latency;  /* submit -> answer, ns */
};

struct vd_worker_stats {
	uint64_t events;
	uint64_t parks;
	uint64_t wakeups; /* wakes sent to this worker by producers */
	uint64_t busy_ns; /* time spent evaluating and answering */
	uint64_t spin_ns; /* time spent spinning for the next event */
	uint64_t stolen;  /* events taken from a stuck worker's ring */
	uint64_t unpins;  /* times it left its CPU, found contended */
};

/* The spin gate: whether idle workers may spin (vd_config.spin_ns). */
struct vd_spin_stats {
	bool pressure;    /* judged from the system's CPU pressure; false:
	                     spinning only when CPUs outnumber the workers
	                     by two */
	bool open;        /* workers may spin now */
	uint64_t closed;  /* times CPU pressure closed it */
	uint64_t full;    /* times it found no CPU idle, and closed */
	uint64_t samples; /* pressure readings */
	/* vd_config.defer_wakes: wake-ups producers left to the timer while
	 * the gate was closed, and those the timer then sent. */
	uint64_t deferred_wakes;
	uint64_t tick_wakes;
};

struct vd_timer_stats {
	uint64_t armed;
	uint64_t fired; /* expired, won the race, answered default */
	uint64_t lost;  /* expired but a worker had answered already */
	uint64_t cancelled;
	uint64_t lateness_max_ns; /* fired after its expiry by at most */
	uint64_t wakeups;
};

/* Deferred decisions (vd_enricher, verdict/pipeline.h). */
struct vd_enrich_stats {
	unsigned threads;
	/* requested = completed + failed + stopped, once stopped */
	uint64_t requested;   /* events deferred to the enrichment threads */
	uint64_t completed;   /* enrich() returned 0 */
	uint64_t failed;      /* enrich() failed: decided without it */
	uint64_t late;        /* the timer answered first */
	uint64_t full;        /* the queue was full: decided without it */
	uint64_t undecided;   /* still undecided without it: the default */
	uint64_t unavailable; /* no enricher: decided without it */
	uint64_t answered;    /* answered by an enrichment thread */
	uint64_t stopped; /* still queued at stop: the timer answered them */
	uint64_t queue_depth;   /* waiting now */
	struct vd_hist latency; /* deferral -> enrich() done, ns */
};

struct vd_stats {
	uint64_t uptime_ns;
	unsigned workers;
	struct vd_type_stats types[VD_EVENT_TYPE_COUNT];
	struct vd_worker_stats worker[VD_MAX_WORKERS];
	struct vd_timer_stats timer;
	struct vd_spin_stats spin;
	uint64_t redirected; /* AUTH events sent past a stuck worker */
	uint64_t pool_waits; /* producers that waited for a recycled event */
	/* The inline runner (vd_config.inline_runner): what it answered,
	 * and how often the timer found it stuck. */
	bool has_inline;
	struct vd_worker_stats inline_runner;
	uint64_t inline_stuck;
	struct vd_enrich_stats enrich;
};

/*
 * Sums every thread's cells into *out (about 200 KiB: allocate it, do not put
 * it on a small stack).  Any thread, any time.
 */
void vd_pipeline_stats(const struct vd_pipeline *p, struct vd_stats *out);

/* Value at quantile q (0..1) of a histogram, 0 when empty. */
uint64_t vd_hist_quantile(const struct vd_hist *h, double q);
/* Adds one value (single writer; relaxed). */
void vd_hist_record(struct vd_hist *h, uint64_t v);
/* Adds every value of src to dst (src unchanged). */
void vd_hist_merge(struct vd_hist *dst, const struct vd_hist *src);
/* The bucket a value falls in, and the highest value of a bucket. */
unsigned vd_hist_bucket(uint64_t v);
uint64_t vd_hist_bucket_high(unsigned b);

#ifdef __cplusplus
}
#endif
#endif
