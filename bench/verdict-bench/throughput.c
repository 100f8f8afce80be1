/*
 * throughput.c — verdict-bench throughput: events/s through a running pipeline,
 * trivial rules.
 */
#include "harness.h"

/* ------------------------------------------------------------------ */
/* throughput                                                          */

/*
 * 64 consecutive ids share a pid, hence a worker, so the workers do not
 * write the same cache line of the backend's per-id array: with ids dealt
 * out one by one that false sharing would be measured, not the pipeline.
 */
#define TP_PID_RUN  64u
#define TP_POOL     65536u
#define TP_RING     65536u
#define TP_MAX_RATE 16000000u /* ids reserved per producer-second */

struct tp_producer {
	struct vd_pipeline *p;
	_Atomic bool *stop;
	pthread_barrier_t *start;
	uint64_t first, range;
	uint64_t issued, queued, refused_pool, refused_submit;
	bool hit_cap;
};

static void *
tp_producer_main(void *arg)
{
	struct tp_producer *pr = arg;
	uint64_t id = pr->first, end = pr->first + pr->range, k;
	uint64_t cnt[3] = { 0, 0, 0 };

	tls_producer = true;
	vd_thread_name("vb-producer");
	pthread_barrier_wait(pr->start);
	while (
	    id < end && !atomic_load_explicit(pr->stop, memory_order_relaxed))
		for (k = 0; k < 64 && id < end; k++, id++)
			cnt[submit_one(pr->p, id, 0, TP_PID_RUN)]++;
	pr->issued = id - pr->first;
	pr->hit_cap = id == end;
	pr->queued = cnt[SUB_QUEUED];
	pr->refused_pool = cnt[SUB_REFUSED_POOL];
	pr->refused_submit = cnt[SUB_REFUSED_SUBMIT];
	return NULL;
}

static void
bench_throughput_one(unsigned nprod, double duration_s)
{
	struct tp_producer pr[2];
	struct id_range ids[3];
	uint64_t issued = 0, queued = 0, rpool = 0, rsub = 0;
	uint64_t range, t0, t_prod, t_end, c0, c1, wa, wa0;
	struct wake_counts wc0 = { 0, 0, 0 }, wc;
	uint64_t warm_cap = 4 * (uint64_t)TP_POOL, warm = 0, warm_queued = 0;
	pthread_barrier_t start;
	pthread_t th[2];
	_Atomic bool stop = false;
	struct vd_stats *s;
	struct prun r;
	struct json j;
	double eps, elapsed;
	bool ok = true, cap = false;
	unsigned i, started = 0;

	progress("throughput: %u producer(s), %.1f s", nprod, duration_s);
	range = (uint64_t)(duration_s * TP_MAX_RATE) + 1;
	if (!prun_start(&r, opt.workers, TP_POOL, TP_RING, 20000,
	        warm_cap + nprod * range, false, nprod))
		return;
	/*
	 * Warm-up, not timed: take every box of both pools once, so the
	 * first-touch page faults of the lazily mapped pools (about 450 MB
	 * at this size) are not counted against the steady state.
	 */
	tls_producer = true;
	while (warm_queued < 2 * (uint64_t)TP_POOL && warm < warm_cap) {
		if (submit_one(r.p, warm++, 0, TP_PID_RUN) == SUB_QUEUED)
			warm_queued++;
		else
			sleep_ns(100000); /* let the timer recycle boxes */
	}
	tls_producer = false;
	ok = bk_wait(r.bk, warm, 30 * NS_PER_S);
	wa0 = bk_worker_answers(r.bk);
	wake_counts_now(r.p, &wc0);
	ids[nprod] = (struct id_range){ 0, warm };

	pthread_barrier_init(&start, NULL, nprod + 1);
	for (i = 0; i < nprod; i++) {
		pr[i] = (struct tp_producer){ .p = r.p,
			.stop = &stop,
			.start = &start,
			.first = warm_cap + i * range,
			.range = range };
		if (pthread_create(&th[i], NULL, tp_producer_main, &pr[i]) !=
		    0) {
			vd_cli_warnx(PROG, "pthread_create failed");
			exit(EXIT_CHECK);
		}
		started++;
	}
	c0 = cpu_ns();
	pthread_barrier_wait(&start);
	t0 = vd_clock_ns();
	vd_sleep_until(t0 + (uint64_t)(duration_s * (double)NS_PER_S));
	atomic_store(&stop, true);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	t_prod = vd_clock_ns();
	for (i = 0; i < nprod; i++) {
		issued += pr[i].issued;
		queued += pr[i].queued;
		rpool += pr[i].refused_pool;
		rsub += pr[i].refused_submit;
		cap |= pr[i].hit_cap;
		ids[i] = (struct id_range){ pr[i].first, pr[i].issued };
	}
	/* The queued tail still drains: elapsed ends at the last answer. */
	ok = bk_wait(r.bk, warm + issued, 30 * NS_PER_S) && ok;
	t_end = vd_clock_ns();
	c1 = cpu_ns();
	wa = bk_worker_answers(r.bk) - wa0;
	vd_pipeline_stop(r.p);
	s = xalloc(sizeof(*s));
	vd_pipeline_stats(r.p, s);
	if (!prun_check(&r, s, ids, nprod + 1))
		ok = false;
	wake_counts_of(s, &wc);
	progress_stats(s);
	elapsed = (double)(t_end - t0) / NS_PER_S;
	eps = (double)wa / elapsed;

	json_begin(&j, "throughput");
	json_u64(&j, "workers", opt.workers);
	json_flag(&j, "multi_producer", r.cfg.multi_producer);
	json_u64(&j, "producers", nprod);
	json_u64(&j, "pool_size", TP_POOL);
	json_u64(&j, "ring_size", TP_RING);
	json_dbl(&j, "duration_s", duration_s, 2);
	json_u64(&j, "warmup", warm);
	json_u64(&j, "submitted", issued);
	json_u64(&j, "queued", queued);
	json_u64(&j, "answered_worker", wa);
	json_u64(&j, "refused_pool", rpool);
	json_u64(&j, "refused_submit", rsub);
	json_u64(&j, "answered_other", atomic_load(&r.bk->other));
	json_flag(&j, "id_cap_hit", cap);
	json_dbl(&j, "elapsed_s", elapsed, 3);
	json_dbl(&j, "offered_per_s",
	    (double)issued / ((double)(t_prod - t0) / NS_PER_S), 0);
	json_dbl(&j, "events_per_s", eps, 0);
	json_dbl(
	    &j, "cpu_pct", 100.0 * (double)(c1 - c0) / (double)(t_end - t0), 1);
	/* The process's CPU (every thread) per event answered. */
	json_dbl(&j, "cpu_ns_per_event",
	    wa != 0 ? (double)(c1 - c0) / (double)wa : 0.0, 1);
	json_wake_counts(&j, &wc, &wc0);
	json_obj_begin(&j, "target");
	json_dbl(&j, "events_per_s_min", TARGET_THROUGHPUT_EPS, 0);
	json_obj_end(&j);
	json_flag(&j, "pass", eps >= TARGET_THROUGHPUT_EPS);
	json_end(&j, ok);

	free(s);
	pthread_barrier_destroy(&start);
	prun_destroy(&r);
}

void
bench_throughput(void)
{
	double d = opt.quick ? 0.5 : 2.0;

	bench_throughput_one(1, d);
	bench_throughput_one(2, d);
}
