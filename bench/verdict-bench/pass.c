/*
 * pass.c — verdict-bench pass: one pipeline pass with no thread hop, the
 * deterministic workload of the instruction-count gate (tools/icount).
 *
 * One producer takes, fills and submits each event into the inline
 * runner's shard and answers it at once on its own thread
 * (vd_pipeline_submit_inline, vd_pipeline_run_inline), as fanotify's
 * reader does: the submit, the timer's arm, the evaluation, the answer and
 * the cancel, with no worker woken.  pass_loop does exactly that and
 * nothing else, so callgrind can count it alone (--toggle-collect).
 */
#include "harness.h"

#define PASS_EVENTS 20000u

/* Not inlined: tools/icount counts the instructions inside it. */
__attribute__((noinline)) void pass_loop(struct vd_pipeline *p, uint64_t n);

__attribute__((noinline)) void
pass_loop(struct vd_pipeline *p, uint64_t n)
{
	struct vd_event *ev;
	uint64_t id;

	for (id = 0; id < n; id++) {
		if ((ev = fill_one(p, id, 0, 1)) == NULL)
			continue;
		vd_pipeline_submit_inline(p, ev);
		vd_pipeline_run_inline(p);
	}
}

void
bench_pass(void)
{
	uint64_t n = PASS_EVENTS, t0, t1;
	struct vd_stats *s;
	struct prun r;
	struct json j;
	bool ok;

	progress("pass: %" PRIu64 " events through the inline runner", n);
	prun_inline = true;
	/* A pool that never runs dry: boxes come back on the timer's tick. */
	if (!prun_start(&r, 1, 32768, 1024, 0, n, false, 1)) {
		prun_inline = false;
		return;
	}
	prun_inline = false;
	tls_producer = true;
	t0 = vd_clock_ns();
	pass_loop(r.p, n);
	t1 = vd_clock_ns();
	tls_producer = false;
	ok = bk_wait(r.bk, n, 10 * NS_PER_S);
	vd_pipeline_stop(r.p);
	s = xalloc(sizeof(*s));
	vd_pipeline_stats(r.p, s);
	if (!prun_check(&r, s, &(struct id_range){ 0, n }, 1))
		ok = false;
	json_begin(&j, "pass");
	json_u64(&j, "events", n);
	json_u64(&j, "inline_answered", s->inline_runner.events);
	json_dbl(&j, "ns_per_event", (double)(t1 - t0) / (double)n, 1);
	json_end(&j, ok);
	free(s);
	prun_destroy(&r);
}
