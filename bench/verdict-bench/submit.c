/*
 * submit.c — verdict-bench submit: the backend callback's cost: event_get +
 * fill + submit, each call timed on its own with a calibrated TSC.
 */
#include "harness.h"

/* ------------------------------------------------------------------ */
/* submit                                                              */

static void
bench_submit_one(struct layout l, unsigned pool, unsigned ring)
{
	const unsigned batch = 256;
	const uint64_t period = 512000; /* 256 per 512 us: 500 k/s */
	uint64_t calls = opt.quick ? 200000 : 1000000;
	uint64_t warmup = 2 * (uint64_t)pool + batch;
	uint64_t *v, i, k, c0, c1, over, t0, cnt[3] = { 0, 0, 0 };
	uint64_t n;
	struct wake_counts wc0 = { 0, 0, 0 }, wc;
	enum sub_result res;
	struct vd_stats *s;
	struct prun r;
	struct json j;
	double p99;
	int cpu;
	bool ok;

	progress("submit: %u workers%s, pool %u, ring %u, %" PRIu64 " calls",
	    l.workers, l.pin_producer ? ", producer pinned" : "", pool, ring,
	    calls);
	over = cyc_overhead();
	n = warmup + calls;
	if (!prun_start(&r, l.workers, pool, ring, 20000, n, false, 1))
		return;
	cpu = layout_pin_producer(&l);
	v = xalloc(calls * sizeof(*v));
	tls_producer = true;
	t0 = vd_clock_ns();
	/*
	 * Paced so the pipeline keeps up: the pool never runs dry and the
	 * number measured is the call, not a refusal.  The first `warmup`
	 * calls are not timed: they take every box of both pools once, so
	 * first-touch page faults of the lazily mapped pools are not counted
	 * as the cost of a call.
	 */
	for (i = 0, k = 0; i < warmup + calls; k++) {
		vd_sleep_until(t0 + k * period);
		for (n = 0; n < batch && i < warmup + calls; n++, i++) {
			c0 = cyc_begin();
			res = submit_one(r.p, i, 0, 1);
			c1 = cyc_end();
			if (i + 1 == warmup)
				wake_counts_now(r.p, &wc0);
			if (i < warmup)
				continue;
			v[i - warmup] = c1 - c0;
			cnt[res]++;
		}
	}
	tls_producer = false;
	unpin();
	ok = bk_wait(r.bk, warmup + calls, 10 * NS_PER_S);
	vd_pipeline_stop(r.p);
	s = xalloc(sizeof(*s));
	vd_pipeline_stats(r.p, s);
	if (!prun_check(&r, s, &(struct id_range){ 0, warmup + calls }, 1))
		ok = false;
	wake_counts_of(s, &wc);
	progress_stats(s);

	for (i = 0; i < calls; i++)
		v[i] = v[i] > over ? v[i] - over : 0;
	qsort(v, calls, sizeof(*v), cmp_u64);
	p99 = cyc_to_ns(sorted_quantile(v, calls, 0.99));

	json_begin(&j, "submit");
	json_u64(&j, "workers", l.workers);
	json_flag(&j, "multi_producer", r.cfg.multi_producer);
	json_i64(&j, "producer_cpu", cpu);
	json_u64(&j, "pool_size", pool);
	json_u64(&j, "ring_size", ring);
	json_u64(&j, "rate", NS_PER_S * batch / period);
	json_u64(&j, "batch", batch);
	json_u64(&j, "warmup", warmup);
	json_u64(&j, "calls", calls);
	json_u64(&j, "queued", cnt[SUB_QUEUED]);
	json_u64(&j, "refused_pool", cnt[SUB_REFUSED_POOL]);
	json_u64(&j, "refused_submit", cnt[SUB_REFUSED_SUBMIT]);
	json_str(&j, "clock", cyc_name());
	json_dbl(&j, "clock_ghz", cyc_per_ns, 3);
	json_dbl(&j, "clock_overhead_ns", cyc_to_ns(over), 1);
	json_dbl(&j, "p50_ns", cyc_to_ns(sorted_quantile(v, calls, 0.5)), 1);
	json_dbl(&j, "p90_ns", cyc_to_ns(sorted_quantile(v, calls, 0.9)), 1);
	json_dbl(&j, "p99_ns", p99, 1);
	json_dbl(&j, "p999_ns", cyc_to_ns(sorted_quantile(v, calls, 0.999)), 1);
	json_dbl(&j, "max_ns", cyc_to_ns(v[calls - 1]), 1);
	json_wake_counts(&j, &wc, &wc0);
	json_obj_begin(&j, "target");
	json_u64(&j, "p99_ns_max", TARGET_SUBMIT_P99_NS);
	json_obj_end(&j);
	json_flag(&j, "pass", p99 <= TARGET_SUBMIT_P99_NS);
	json_end(&j, ok);

	free(s);
	free(v);
	prun_destroy(&r);
}

void
bench_submit(void)
{
	/*
	 * The configuration; the same with a small pool (the pool's
	 * free list is FIFO, so a large pool cycles through cold boxes); and
	 * the producer on a CPU of its own, so no worker preempts it.
	 */
	bench_submit_one(layout_shared(), 16384, 16384);
	bench_submit_one(layout_shared(), 1024, 16384);
	if (ncpus() > 1)
		bench_submit_one(layout_reader_cpu(), 16384, 16384);
}
