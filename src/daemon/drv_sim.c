/*
 * drv_sim.c — verdictd --backend sim: a scenario (essim-scenario(5)) on the
 * EndpointSecurity simulator, through the real es backend and the real
 * pipeline, until the scenario ends or a stopping signal.
 *
 * The report's last part is the simulated kernel's own books, not
 * verdictd's: whether the client was terminated, and how many answers were
 * missed, late or duplicated, as macOS would count them.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <verdict/stats.h>
#include <verdict/version.h>

#include "backend/sim/simrun.h"
#include "daemon/driver.h"
#include "daemon/report.h"
#include "platform/platform.h"
#include "util/util.h"

#define NS_PER_S 1000000000ull

/*
 * sha256= rules on the simulator, whose files have no content: a file's
 * content is taken to be its path, read in the scenario's hash_cost_us (a
 * slow disk) unless a digest of it is cached, so the rules go through the
 * same deferral, deadlines and counters as on a real backend.  One
 * simulator a process: its cost and cache are the driver's.
 */
#define SIM_CACHE 1024

static uint64_t sim_hash_cost_ns;
static pthread_mutex_t sim_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint64_t key; /* 0: empty */
	uint8_t d[VD_SHA256_LEN];
} sim_cache[SIM_CACHE];

static uint64_t
path_key(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	while (*s != '\0')
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	return h | 1;
}

static int
sim_enrich(void *ctx, struct vd_event *ev, uint32_t needs, bool late)
{
	uint64_t key = path_key(ev->target);
	struct vd_sha256 *h;
	bool hit;

	(void)ctx;
	(void)late;
	if (!(needs & VD_NEED_DIGEST))
		return 0;
	pthread_mutex_lock(&sim_mu);
	hit = sim_cache[key % SIM_CACHE].key == key;
	if (hit)
		memcpy(ev->sha256, sim_cache[key % SIM_CACHE].d, VD_SHA256_LEN);
	pthread_mutex_unlock(&sim_mu);
	if (!hit) {
		vd_sleep_until(vd_now_ns() + sim_hash_cost_ns);
		if ((h = vd_sha256_new()) == NULL)
			return -ENOMEM;
		if (!vd_sha256_update(h, ev->target, strlen(ev->target)) ||
		    !vd_sha256_final(h, ev->sha256)) {
			vd_sha256_free(h);
			return -EIO;
		}
		vd_sha256_free(h);
		pthread_mutex_lock(&sim_mu);
		sim_cache[key % SIM_CACHE].key = key;
		memcpy(sim_cache[key % SIM_CACHE].d, ev->sha256, VD_SHA256_LEN);
		pthread_mutex_unlock(&sim_mu);
	}
	ev->have |= VD_NEED_DIGEST;
	return 0;
}

static void
drv_enricher(void *bctx, struct vd_enricher *out)
{
	(void)bctx;
	out->enrich = sim_enrich;
	out->ctx = NULL;
}

static void
client_text(const char *name, const struct essim_client_report *r)
{
	printf("kernel: %s client: delivered %" PRIu64 " AUTH, %" PRIu64
	       " NOTIFY; answered %" PRIu64 " (allowed %" PRIu64
	       ", denied %" PRIu64 ")\n",
	    name, r->auth_delivered, r->notify_delivered, r->answered,
	    r->allowed, r->denied);
	printf("kernel: %s client: duplicates %" PRIu64 ", late %" PRIu64
	       ", missed %" PRIu64 ", wrong type %" PRIu64
	       ", kernel drops %" PRIu64 ", cache hits %" PRIu64
	       ", still retained %" PRIu64 "\n",
	    name, r->duplicates, r->late, r->missed, r->wrong_type,
	    r->kernel_drops, r->cache_hits, r->retained_now);
	if (r->slack_min_ns != UINT64_MAX && r->answered > 0)
		printf("kernel: %s client: closest answer %.3f ms before its "
		       "deadline\n",
		    name, (double)r->slack_min_ns / 1e6);
	printf("kernel: %s client terminated: %s%s%s\n", name,
	    r->terminated ? "YES (" : "no", r->terminated ? r->reason : "",
	    r->terminated ? ")" : "");
	if (r->terminated)
		printf("kernel: %s client: the message it missed: %s, budget "
		       "%.3f ms, %s, found %.3f ms past its deadline\n",
		    name, essim_type_name(r->kill_event),
		    (double)r->kill_budget_ns / 1e6,
		    essim_kill_stage_name(r->kill_stage),
		    (double)r->kill_over_ns / 1e6);
}

static void
client_json(const char *name, const struct essim_client_report *r)
{
	printf("\"%s\":{\"auth_delivered\":%" PRIu64
	       ",\"notify_delivered\":%" PRIu64 ",\"answered\":%" PRIu64
	       ",\"allowed\":%" PRIu64 ",\"denied\":%" PRIu64
	       ",\"duplicates\":%" PRIu64 ",\"late\":%" PRIu64
	       ",\"missed\":%" PRIu64 ",\"wrong_type\":%" PRIu64
	       ",\"kernel_drops\":%" PRIu64 ",\"cache_hits\":%" PRIu64
	       ",\"retained_now\":%" PRIu64 ",\"slack_min_ms\":",
	    name, r->auth_delivered, r->notify_delivered, r->answered,
	    r->allowed, r->denied, r->duplicates, r->late, r->missed,
	    r->wrong_type, r->kernel_drops, r->cache_hits, r->retained_now);
	if (r->slack_min_ns != UINT64_MAX && r->answered > 0)
		printf("%.3f", (double)r->slack_min_ns / 1e6);
	else
		printf("null");
	printf(",\"terminated\":%s,\"reason\":\"%s\",\"missed_message\":",
	    r->terminated ? "true" : "false", r->terminated ? r->reason : "");
	if (r->terminated)
		printf("{\"event\":\"%s\",\"stage\":\"%s\",\"budget_ms\":%.3f,"
		       "\"over_ms\":%.3f}}",
		    essim_type_name(r->kill_event),
		    essim_kill_stage_name(r->kill_stage),
		    (double)r->kill_budget_ns / 1e6,
		    (double)r->kill_over_ns / 1e6);
	else
		printf("null}");
}

static void
report_text(const struct vd_conf *c, const struct vd_simrun_report *r)
{
	const struct essim_workload_report *w = &r->workload;
	double secs = (double)r->elapsed_ns / 1e9;

	printf("verdictd %s: backend sim (es), scenario %s, time scale %g, "
	       "%u worker%s, %.2f s, %" PRIu64 " events posted\n",
	    VD_VERSION_STRING, c->sim.scenario, c->sim.time_scale,
	    r->stats->workers, r->stats->workers == 1 ? "" : "s", secs,
	    w->posted);
	vd_report_tables(r->stats);
	vd_report_es(&r->es);
	printf("workload: posted %" PRIu64 " (AUTH %" PRIu64 ", NOTIFY %" PRIu64
	       "), short deadlines %" PRIu64 ", bursts %" PRIu64 "\n",
	    w->posted, w->posted_auth, w->posted_notify, w->short_deadlines,
	    w->bursts);
	client_text("AUTH", &r->auth);
	client_text("NOTIFY", &r->notify);
	printf("result: %s\n",
	    vd_simrun_clean(r) ? "OK"
	                       : "FAILED (the kernel's books show missed, "
	                         "late or duplicate answers, or a terminated "
	                         "client)");
}

static void
report_json(const struct vd_conf *c, const struct vd_simrun_report *r)
{
	const struct essim_workload_report *w = &r->workload;

	printf("{\"version\":\"%s\",\"backend\":\"sim\",\"scenario\":\"",
	    VD_VERSION_STRING);
	/* The path as given; escape what JSON needs. */
	for (const char *p = c->sim.scenario; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			printf("\\u%04x", (unsigned char)*p);
		else
			putchar(*p);
	}
	printf("\",\"time_scale\":%g,\"workers\":%u,\"elapsed_s\":%.3f",
	    c->sim.time_scale, r->stats->workers, (double)r->elapsed_ns / 1e9);
	vd_report_json_tables(r->stats);
	vd_report_json_es(&r->es);
	printf(",\"workload\":{\"posted\":%" PRIu64 ",\"auth\":%" PRIu64
	       ",\"notify\":%" PRIu64 ",\"short_deadlines\":%" PRIu64
	       ",\"bursts\":%" PRIu64 "},\"kernel\":{",
	    w->posted, w->posted_auth, w->posted_notify, w->short_deadlines,
	    w->bursts);
	client_json("auth_client", &r->auth);
	printf(",");
	client_json("notify_client", &r->notify);
	printf("},\"ok\":%s}\n", vd_simrun_clean(r) ? "true" : "false");
}

/* The ES deadline profile scaled with the scenario's deadlines; the
 * pipeline's sizes, threads and default verdicts from the configuration.
 * Each ES client has one delivery thread: every ring has a single
 * producer. */
static void
drv_pipeline_config(const struct vd_conf *c, struct vd_config *cfg)
{
	vd_simrun_config(cfg, c->sim.time_scale);
	vd_driver_pipe_settings(c, cfg);
}

static int
drv_create(
    const struct vd_conf *c, struct vd_backend *b, char *msg, size_t msgsz)
{
	struct essim_scenario s;
	struct vd_simrun *r;
	int rc;

	essim_scenario_init(&s);
	if (essim_scenario_load(&s, c->sim.scenario, msg, msgsz) != 0)
		return -EINVAL;
	essim_scenario_scale(&s, c->sim.time_scale);
	sim_hash_cost_ns = s.hash_cost_ns;
	if (c->sim.duration_s != 0)
		essim_scenario_set_duration(&s, c->sim.duration_s * NS_PER_S);
	if ((rc = vd_simrun_create(&s, &r, msg, msgsz)) != 0)
		return rc == -EINVAL ? -EIO : rc;
	vd_simrun_backend(r, b);
	return 0;
}

static bool
drv_evaluator(void *bctx, struct vd_evaluator *out)
{
	*out = vd_simrun_evaluator(bctx);
	return true;
}

static int
drv_report(void *bctx, const struct vd_run_info *ri)
{
	struct vd_simrun_report r;

	r.stats = (struct vd_stats *)ri->stats;
	vd_simrun_report(bctx, &r);
	if (ri->json)
		report_json(ri->conf, &r);
	else
		report_text(ri->conf, &r);
	return vd_simrun_clean(&r) ? 0 : 1;
}

const struct vd_driver vd_driver_sim = {
	.name = "sim",
	.policy_can =
	    VD_POLICY_CAN_ACCESS | VD_POLICY_CAN_TEAM_ID | VD_POLICY_CAN_SHA256,
	.poll_ms = 10,
	.pipeline_config = drv_pipeline_config,
	.create = drv_create,
	.evaluator = drv_evaluator,
	.enricher = drv_enricher,
	.report = drv_report,
};
