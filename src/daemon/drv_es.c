/*
 * drv_es.c — verdictd on EndpointSecurity (macOS), as a system extension
 * or a root daemon: two ES clients, answering until SIGTERM or SIGINT.
 * Built on macOS only, against Apple's SDK (meson's darwin branch); the
 * same es backend runs on Linux under the simulator (drv_sim.c).
 *
 * Without a policy every type gets its configured default verdict.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "backend/es/es.h"
#include "daemon/driver.h"
#include "daemon/report.h"

/* The ES deadline profile: margins from each message's own deadline. */
static void
drv_pipeline_config(const struct vd_conf *c, struct vd_config *cfg)
{
	vd_config_init(cfg, VD_PROFILE_ES);
	vd_driver_pipe_settings(c, cfg);
}

static int
drv_create(
    const struct vd_conf *c, struct vd_backend *b, char *msg, size_t msgsz)
{
	struct vd_es *es;
	int rc;

	(void)c;
	if ((es = vd_es_create(&rc)) == NULL) {
		snprintf(msg, msgsz, "es backend: %s", strerror(-rc));
		return rc;
	}
	vd_es_backend(es, b);
	return 0;
}

static void
drv_describe(void *bctx, const struct vd_conf *c, const struct vd_pipeline *p,
    char *buf, size_t bufsz)
{
	unsigned w = vd_pipeline_workers(p);

	(void)bctx;
	(void)c;
	snprintf(buf, bufsz,
	    "answering EndpointSecurity events: %zu types, %u worker%s",
	    vd_es_ntypes, w, w == 1 ? "" : "s");
}

static int
drv_report(void *bctx, const struct vd_run_info *ri)
{
	struct vd_es_stats es;
	unsigned i;

	vd_es_stats(bctx, &es);
	vd_report_service_head("es", ri->stats, ri->stopped_by, ri->json);
	if (ri->json) {
		vd_report_json_es(&es);
		printf("}\n");
	} else {
		vd_report_es(&es);
		printf("es: %" PRIu64 " answers cached by the kernel; "
		       "es_clear_cache throttled %" PRIu64
		       " times, failed after %" PRIu64 " reloads\n",
		    es.cached, es.clear_cache_throttled, es.clear_cache_failed);
	}
	for (i = 1; i < 8; i++)
		if (es.respond_errors[i] != 0)
			return 1; /* the kernel refused answers: not clean */
	return 0;
}

const struct vd_driver vd_driver_es = {
	.name = "es",
	/* Digests by path, checked against the message's dev and ino
	 * (verdict/digest.h). */
	.policy_can = VD_POLICY_CAN_ACCESS | VD_POLICY_CAN_TEAM_ID |
	    VD_POLICY_CAN_SHA256,
	.poll_ms = 1000,
	.pipeline_config = drv_pipeline_config,
	.create = drv_create,
	.describe = drv_describe,
	.report = drv_report,
};
