/*
 * baseline.h — the seed design that verdictd replaces, run on the ES
 * simulator so that its failure can be shown and measured.
 *
 * It is the extension whose crash started the project, rebuilt faithfully,
 * bad parts included (README.md, "EndpointSecurity without a Mac", sets
 * the two side by side):
 *  - ONE ES client for AUTH and NOTIFY;
 *  - the handler retains each AUTH message and dispatches its evaluation to
 *    a concurrent pool that, like a GCD global queue, creates threads on
 *    demand up to 64 (GCD's soft limit) and then queues without bound;
 *  - the evaluation can stall (the scenario's [stall]: every N-th
 *    evaluation sleeps, scaled), then answers ALLOW and releases;
 *  - per AUTH message, a fallback timer copies the message and answers
 *    ALLOW "one second before the deadline" (scaled), ignoring the
 *    duplicate-response error; like dispatch_after onto a concurrent queue,
 *    the timer only enqueues the fallback on the same pool when it fires,
 *    so when the pool is saturated the fallbacks wait in line too;
 *  - every NOTIFY_CLOSE dispatches a work item on the same pool that hashes
 *    the file when it was modified (the scenario's hash_cost_us of
 *    simulated I/O, not scaled): a notify flood fills the pool and the AUTH
 *    work queues behind it.
 * The simulated kernel is the judge: its books for the client say whether
 * it was terminated for a missed deadline.
 *
 * Threads: vd_baseline_run on one thread; it creates and joins the rest.
 */
#ifndef VD_BENCH_BASELINE_H
#define VD_BENCH_BASELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <essim.h>
#include <essim_workload.h>

/* GCD's soft limit on a global concurrent queue's threads. */
#define VD_BASELINE_POOL_MAX 64

struct vd_baseline_report {
	struct essim_client_report kernel;     /* the kernel's books */
	struct essim_workload_report workload; /* what was posted */
	bool idle;                    /* no AUTH pending when the run ended */
	uint64_t terminated_after_ns; /* workload start to the client's
	                                 termination (0: not terminated) */
	uint64_t leaked;              /* messages still retained or copied
	                                 after the pool drained */
	uint64_t pool_threads;        /* threads created (<= 64) */
	uint64_t queue_max;           /* deepest the pool's queue got */
	uint64_t work_items;          /* dispatched to the pool */
	uint64_t evaluations;
	uint64_t stalls; /* evaluations that stalled */
	uint64_t hashes; /* modified closes hashed */
	uint64_t fallbacks_armed;
	uint64_t fallbacks_run;
	uint64_t fallback_answers;     /* fallbacks whose ALLOW was accepted */
	uint64_t fallback_wait_max_ns; /* timer fired -> fallback ran, worst:
	                                  time spent queued in the pool */
	uint64_t auth_wait_max_ns;     /* AUTH dispatched -> evaluation began */
};

/*
 * Runs scenario s against the baseline: creates the workload (registering
 * its processes), one ES client subscribed to every AUTH and NOTIFY type of
 * the mix, runs the workload to its end, waits (bounded by the longest
 * deadline plus a second) until the kernel has no AUTH pending, reads the
 * kernel's report for the client, then tears everything down.  The caller
 * initialises and finalises the simulated kernel around it.
 *
 * 0 whether or not the client survived (see out->kernel.terminated), or
 * -errno with a message in err: -EINVAL (bad scenario), -ENOMEM, -EPERM
 * (es_new_client refused; the message names its result), -errno from
 * pthread_create.
 */
int vd_baseline_run(const struct essim_scenario *s,
    struct vd_baseline_report *out, char *err, size_t errsz);

#endif
