/*
 * drv_gen.c — verdictd --backend gen: the in-process load generator, judged
 * from outside (gen.h), with the test evaluator's stalls and denials as the
 * verdict logic when no policy is given.
 *
 * The run lasts gen.duration seconds; then the producers stop and what is
 * in flight is answered the normal way (by a worker or the timer) rather
 * than all at once at stop, so the report shows the pipeline, not the
 * shutdown.  A stopping signal cuts either phase short.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <verdict/version.h>

#include "daemon/driver.h"
#include "backend/gen/gen.h"
#include "daemon/report.h"

#define NS_PER_MS UINT64_C(1000000)

/* Time allowed past the longest deadline for the last answers to land. */
#define DRAIN_SLACK_NS (200 * NS_PER_MS)

struct drv_gen {
	struct vd_gen *g;
	struct vd_testeval *te;
	struct vd_pipeline *p;
	uint32_t types;
	uint64_t short_ms;
	uint64_t short_every;
	uint64_t drain_end; /* 0: producers still run */
	struct vd_gen_report gr;
};

static int
gen_start(void *ctx, struct vd_pipeline *p, char *msg, size_t msgsz)
{
	struct drv_gen *dg = ctx;
	int rc;

	dg->p = p;
	if ((rc = vd_gen_start(dg->g, p)) != 0)
		snprintf(msg, msgsz, "cannot start the gen producers: %s",
		    strerror(-rc));
	return rc;
}

/* The longest deadline an event of this run can have. */
static uint64_t
longest_budget(const struct drv_gen *dg)
{
	const struct vd_config *pc = vd_pipeline_config(dg->p);
	uint64_t max = dg->short_every != 0 ? dg->short_ms * NS_PER_MS : 0;

	for (int t = 0; t < VD_AUTH_TYPE_COUNT; t++)
		if ((dg->types & (UINT32_C(1) << t)) &&
		    pc->types[t].budget_ns > max)
			max = pc->types[t].budget_ns;
	return max;
}

static enum vd_backend_state
gen_state(void *ctx)
{
	struct drv_gen *dg = ctx;
	uint64_t now = vd_clock_ns();

	if (dg->drain_end == 0) {
		if (now < vd_gen_end_ns(dg->g))
			return VD_BACKEND_RUNNING;
		vd_gen_stop(dg->g);
		dg->drain_end = now + longest_budget(dg) + DRAIN_SLACK_NS;
	}
	return vd_gen_pending(dg->g) > 0 && now < dg->drain_end
	    ? VD_BACKEND_RUNNING
	    : VD_BACKEND_DONE;
}

/* Producers first, so nothing is submitted to a stopping pipeline. */
static void
gen_quiesce(void *ctx)
{
	struct drv_gen *dg = ctx;

	vd_gen_stop(dg->g);
}

static void
gen_finish(void *ctx)
{
	struct drv_gen *dg = ctx;

	vd_gen_report(dg->g, &dg->gr);
}

static void
gen_destroy(void *ctx)
{
	struct drv_gen *dg = ctx;

	vd_gen_destroy(dg->g);
	if (dg->te != NULL)
		vd_testeval_destroy(dg->te);
	free(dg);
}

static int
drv_create(
    const struct vd_conf *c, struct vd_backend *b, char *msg, size_t msgsz)
{
	struct drv_gen *dg = calloc(1, sizeof(*dg));
	int rc = -ENOMEM;

	if (dg == NULL || (dg->te = vd_testeval_create()) == NULL) {
		snprintf(msg, msgsz, "cannot create the gen backend: %s",
		    strerror(ENOMEM));
		free(dg);
		return -ENOMEM;
	}
	if ((dg->g = vd_gen_create(&c->gen, &rc)) == NULL) {
		snprintf(msg, msgsz, "cannot create the gen backend: %s",
		    strerror(-rc));
		vd_testeval_destroy(dg->te);
		free(dg);
		return rc;
	}
	dg->types = c->gen.types;
	dg->short_ms = c->gen.short_ms;
	dg->short_every = c->gen.short_every;
	*b = (struct vd_backend){
		.ops = vd_gen_ops(),
		.ops_ctx = dg->g,
		.ctx = dg,
		.policy_can = vd_driver_gen.policy_can,
		.start = gen_start,
		.state = gen_state,
		.quiesce = gen_quiesce,
		.finish = gen_finish,
		.destroy = gen_destroy,
	};
	return 0;
}

static bool
drv_evaluator(void *bctx, struct vd_evaluator *out)
{
	struct drv_gen *dg = bctx;

	*out = vd_testeval_evaluator(dg->te);
	return true;
}

static void
drv_reconfigure(void *bctx, const struct vd_conf *c, bool start)
{
	struct drv_gen *dg = bctx;

	(void)start;
	vd_testeval_set_stall(
	    dg->te, c->gen.stall_every, c->gen.stall_ms * NS_PER_MS);
	vd_testeval_set_deny(dg->te, c->gen.deny_every);
}

static bool
report_ok(const struct vd_gen_report *g)
{
	return g->duplicates == 0 && g->late == 0 && g->unanswered == 0 &&
	    g->unreleased == 0 && g->unknown == 0;
}

static void
report_text(const struct vd_run_info *ri, const struct vd_gen_report *g)
{
	const struct vd_stats *st = ri->stats;
	double secs = (double)g->elapsed_ns / 1e9;

	printf("verdictd %s: backend gen, %u worker%s, %.2f s, %" PRIu64
	       " events (%.0f/s)",
	    VD_VERSION_STRING, st->workers, st->workers == 1 ? "" : "s", secs,
	    g->submitted, secs > 0 ? (double)g->submitted / secs : 0.0);
	if (ri->stopped_by != NULL)
		printf(", stopped by %s", ri->stopped_by);
	printf("\n");

	vd_report_tables(st);

	printf("gen: submitted %" PRIu64 " (auth %" PRIu64 ", notify %" PRIu64
	       "), short deadlines %" PRIu64 ", refused (pool empty) %" PRIu64
	       "\n",
	    g->submitted, g->auth, g->notify, g->short_deadline, g->refused);
	printf("gen: answered %" PRIu64 " (allowed %" PRIu64 ", denied %" PRIu64
	       "), released %" PRIu64 "\n",
	    g->answered, g->allowed, g->denied, g->released);
	printf("gen: duplicates %" PRIu64 ", late %" PRIu64
	       ", unanswered %" PRIu64 ", unreleased %" PRIu64
	       ", unknown ids %" PRIu64 "\n",
	    g->duplicates, g->late, g->unanswered, g->unreleased, g->unknown);
	if (g->margin_min_ns != INT64_MAX)
		printf("gen: closest answer %.3f ms %s its deadline\n",
		    (double)(g->margin_min_ns < 0 ? -g->margin_min_ns
		                                  : g->margin_min_ns) /
		        1e6,
		    g->margin_min_ns < 0 ? "after" : "before");
	printf("result: %s\n",
	    report_ok(g) ? "OK"
	                 : "FAILED (duplicate, late or missing answers)");
}

static void
report_json(const struct vd_run_info *ri, const struct vd_gen_report *g)
{
	const struct vd_stats *st = ri->stats;

	printf("{\"version\":\"%s\",\"backend\":\"gen\",\"workers\":%u,"
	       "\"elapsed_s\":%.3f,\"stopped_by\":",
	    VD_VERSION_STRING, st->workers, (double)g->elapsed_ns / 1e9);
	if (ri->stopped_by != NULL)
		printf("\"%s\"", ri->stopped_by);
	else
		printf("null");
	vd_report_json_tables(st);
	printf(",\"gen\":{\"submitted\":%" PRIu64 ",\"auth\":%" PRIu64
	       ",\"notify\":%" PRIu64 ",\"short_deadline\":%" PRIu64
	       ",\"refused\":%" PRIu64 ",\"answered\":%" PRIu64
	       ",\"allowed\":%" PRIu64 ",\"denied\":%" PRIu64
	       ",\"released\":%" PRIu64 ",\"duplicates\":%" PRIu64
	       ",\"late\":%" PRIu64 ",\"unanswered\":%" PRIu64
	       ",\"unreleased\":%" PRIu64 ",\"unknown\":%" PRIu64
	       ",\"margin_min_us\":",
	    g->submitted, g->auth, g->notify, g->short_deadline, g->refused,
	    g->answered, g->allowed, g->denied, g->released, g->duplicates,
	    g->late, g->unanswered, g->unreleased, g->unknown);
	if (g->margin_min_ns != INT64_MAX)
		printf("%.1f", (double)g->margin_min_ns / 1000.0);
	else
		printf("null");
	printf("},\"ok\":%s}\n", report_ok(g) ? "true" : "false");
}

static int
drv_report(void *bctx, const struct vd_run_info *ri)
{
	struct drv_gen *dg = bctx;

	if (ri->json)
		report_json(ri, &dg->gr);
	else
		report_text(ri, &dg->gr);
	return report_ok(&dg->gr) ? 0 : 1;
}

const struct vd_driver vd_driver_gen = {
	.name = "gen",
	/* Its events carry the opener's access mode and a code-signing
	 * identity, like ES's. */
	.policy_can = VD_POLICY_CAN_ACCESS | VD_POLICY_CAN_TEAM_ID,
	.poll_ms = 10,
	.create = drv_create,
	.evaluator = drv_evaluator,
	.reconfigure = drv_reconfigure,
	.report = drv_report,
};
