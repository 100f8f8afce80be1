/*
 * es_flood.c — verdict-bench es_flood: AUTH latency with and without a NOTIFY
 * flood, on the simulator.
 */
#include "harness.h"

/* ------------------------------------------------------------------ */
/* es_flood: AUTH latency with and without a NOTIFY flood (simulator)  */

#ifdef VD_HAVE_SIM
/*
 * The notify-flood scenario at full time scale through the real es
 * backend on the simulator, twice: as shipped (NOTIFY at about 10x the
 * AUTH rate), and with the NOTIFY weights zeroed and the rate lowered so
 * the AUTH rate stays the same.  Only ordinary processes, so every AUTH
 * event is evaluated by a worker.  The target: AUTH p99 at most 2x apart.
 */
static bool
es_flood_run(bool flood, uint64_t *p99_ns, uint64_t *p50_ns,
    struct vd_simrun_report *r, struct essim_scenario *s)
{
	char path[1024], err[512];
	struct vd_config cfg;
	struct vd_hist *h;
	uint64_t auth_w = 0, all_w = 0;
	unsigned k, t, b;

	snprintf(path, sizeof(path), "%s/notify-flood.scn", VD_SCENARIO_DIR);
	essim_scenario_init(s);
	if (essim_scenario_load(s, path, err, sizeof(err)) != 0) {
		vd_cli_warnx(PROG, "%s", err);
		return false;
	}
	essim_scenario_set_duration(s, (uint64_t)(opt.duration_s * 1e9));
	s->system_share = 0;
	for (k = 0; k < ESSIM_KIND_COUNT; k++) {
		all_w += s->weight[k];
		if (k < ESSIM_NOTIFY_CLOSE)
			auth_w += s->weight[k];
	}
	if (!flood) {
		for (k = ESSIM_NOTIFY_CLOSE; k < ESSIM_KIND_COUNT; k++)
			s->weight[k] = 0;
		s->rate = s->rate * auth_w / all_w;
	}
	vd_simrun_config(&cfg, 1.0);
	cfg.workers = opt.workers;
	cfg.multi_producer = false;
	if ((r->stats = malloc(sizeof(*r->stats))) == NULL ||
	    (h = calloc(1, sizeof(*h))) == NULL) {
		free(r->stats);
		return false;
	}
	if (vd_simrun(s, &cfg, r, err, sizeof(err)) != 0) {
		vd_cli_warnx(PROG, "%s", err);
		free(r->stats);
		free(h);
		return false;
	}
	for (t = 0; t < VD_AUTH_TYPE_COUNT; t++) {
		const struct vd_hist *th = &r->stats->types[t].latency;

		h->count += th->count;
		if (th->max > h->max)
			h->max = th->max;
		for (b = 0; b < VD_HIST_BUCKETS; b++)
			h->b[b] += th->b[b];
	}
	*p99_ns = vd_hist_quantile(h, 0.99);
	*p50_ns = vd_hist_quantile(h, 0.5);
	free(h);
	return vd_simrun_clean(r);
}

void
bench_es_flood(void)
{
	struct vd_simrun_report quiet, flood;
	struct essim_scenario sq, sf;
	uint64_t q99, q50, f99, f50;
	struct json j;
	bool ok;

	progress("es_flood: quiet, then flood, %.1f s each", opt.duration_s);
	ok = es_flood_run(false, &q99, &q50, &quiet, &sq);
	ok = es_flood_run(true, &f99, &f50, &flood, &sf) && ok;
	json_begin(&j, "es_flood");
	json_u64(&j, "workers", opt.workers);
	json_dbl(&j, "duration_s", opt.duration_s, 2);
	json_u64(&j, "quiet_rate", sq.rate);
	json_u64(&j, "flood_rate", sf.rate);
	json_u64(&j, "quiet_auth", quiet.workload.posted_auth);
	json_u64(&j, "flood_auth", flood.workload.posted_auth);
	json_u64(&j, "flood_notify", flood.workload.posted_notify);
	json_dbl(&j, "quiet_auth_p50_us", (double)q50 / 1e3, 2);
	json_dbl(&j, "quiet_auth_p99_us", (double)q99 / 1e3, 2);
	json_dbl(&j, "flood_auth_p50_us", (double)f50 / 1e3, 2);
	json_dbl(&j, "flood_auth_p99_us", (double)f99 / 1e3, 2);
	json_dbl(&j, "p99_ratio", q99 ? (double)f99 / (double)q99 : 0, 2);
	json_flag(
	    &j, "terminated", quiet.auth.terminated || flood.auth.terminated);
	json_obj_begin(&j, "target");
	json_dbl(&j, "p99_ratio_max", 2, 0);
	json_obj_end(&j);
	json_flag(&j, "pass", q99 != 0 && f99 <= 2 * q99);
	free(quiet.stats);
	free(flood.stats);
	json_end(&j, ok);
}
#endif
