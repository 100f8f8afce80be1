/*
 * drv_fanotify.c — verdictd on real fanotify events (Linux), as a service:
 * it answers until SIGTERM or SIGINT, or until the reader stops on a read
 * error (then the daemon exits 1 so the service manager restarts it).
 *
 * -n warns about each path rule that lies outside every mark: directory
 * marks are not recursive, and a rule no mark reports never sees an event.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/fanotify/fanotify.h"
#include "daemon/driver.h"
#include "daemon/log.h"
#include "daemon/report.h"
#include "util/util.h"

#define NS_PER_MS UINT64_C(1000000)

/* The fanotify settings of the configuration, for the backend. */
static void
fan_config(
    const struct vd_conf *c, struct vd_fan_config *fc, char *buf, size_t bufsz)
{
	vd_fan_config_init(fc);
	fc->types = c->fan.types;
	fc->mark = c->fan.mark;
	fc->npaths =
	    vd_conf_fan_paths(c, buf, bufsz, fc->paths, VD_FAN_MARKS_MAX);
	fc->audit = c->fan.audit;
	fc->inline_answers = c->fan.inline_answers;
	fc->audit_without_init = c->test.audit_without_init;
	fc->ignore_max = c->fan.ignore_max;
	fc->proc_cache = c->fan.proc_cache;
	fc->proc_ttl_ns = c->fan.proc_ttl_ns;
	/* The stall hook goes by the file's name; the decision log
	 * records the path, the process and its executable. */
	fc->read_procs = strcmp(c->log_decisions, "off") != 0;
	fc->read_paths = c->test.stall_name[0] != '\0' || fc->read_procs;
}

static int
drv_create(
    const struct vd_conf *c, struct vd_backend *b, char *msg, size_t msgsz)
{
	char paths[VD_CONF_PATHS_MAX];
	struct vd_fan_config fc;
	struct vd_fan *fan;
	int rc;

	fan_config(c, &fc, paths, sizeof(paths));
	if ((fan = vd_fan_create(&fc, &rc, msg, msgsz)) == NULL)
		return rc;
	vd_fan_backend(fan, b);
	return 0;
}

/* The reader lost notify events: the invalidations they carried are
 * unknown, so every cached decision goes. */
static void
on_overflow(void *ctx)
{
	vd_policy_runtime_flush(ctx);
}

/* The reader answers what it reads: the pipeline's inline runner, and a
 * standby reader that submits too while the runner is stuck. */
static void
drv_pipeline_config(const struct vd_conf *c, struct vd_config *cfg)
{
	*cfg = c->pipe;
	if (c->fan.inline_answers) {
		cfg->inline_runner = true;
		cfg->multi_producer = true;
	}
}

static void
drv_bind_runtime(void *bctx, struct vd_policy_runtime *rt)
{
	vd_fan_set_overflow(bctx, on_overflow, rt);
}

static void
drv_reconfigure(void *bctx, const struct vd_conf *c, bool start)
{
	(void)start;
	if (c->test.reader_pause_ms != 0)
		vd_fan_test_pause(bctx, c->test.reader_pause_ms * NS_PER_MS);
}

static void
drv_describe(void *bctx, const struct vd_conf *c, const struct vd_pipeline *p,
    char *buf, size_t bufsz)
{
	char paths[VD_CONF_PATHS_MAX];
	const char *list[VD_FAN_MARKS_MAX];
	size_t n =
	    vd_conf_fan_paths(c, paths, sizeof(paths), list, VD_FAN_MARKS_MAX);
	unsigned w = vd_pipeline_workers(p);

	(void)bctx;
	snprintf(buf, bufsz,
	    "answering fanotify events: %zu path%s (%s marks), %u worker%s", n,
	    n == 1 ? "" : "s", vd_fan_mark_name(c->fan.mark), w,
	    w == 1 ? "" : "s");
}

/* --- -n: path rules outside every mark ------------------------------- */

struct cover {
	const struct vd_conf *c;
	const char *paths[VD_FAN_MARKS_MAX];
	size_t npaths;
	unsigned outside;
};

/* Whether a path= (prefix false) or prefix= value can name a file the
 * mark at m (length mlen, no trailing '/') reports. */
static bool
mark_covers(const char *m, size_t mlen, enum vd_fan_mark_kind kind, bool prefix,
    const char *v, size_t len)
{
	bool under = (mlen == 1 && m[0] == '/') ||
	    (len > mlen && memcmp(v, m, mlen) == 0 && v[mlen] == '/');

	/* A prefix that lies above the mark covers what is below it. */
	if (prefix && (len <= mlen + 1) &&
	    memcmp(m, v, len < mlen ? len : mlen) == 0)
		return len <= mlen ? true : v[mlen] == '/';
	if (!under)
		return false;
	if (kind != VD_FAN_MARK_DIRECTORY)
		return true;
	/* Directory marks: the entries of m, one level, no deeper. */
	return memchr(v + mlen + 1, '/', len - mlen - 1) == NULL;
}

static void
cover_check(void *ctx, size_t rule, bool prefix, const char *v, size_t len)
{
	char val[VD_PATH_MAX], qv[VD_PATH_MAX], qp[VD_CONF_PATH_MAX],
	    qm[VD_CONF_PATHS_MAX];
	struct cover *cv = ctx;
	size_t i, mlen;

	for (i = 0; i < cv->npaths; i++) {
		mlen = strlen(cv->paths[i]);
		while (mlen > 1 && cv->paths[i][mlen - 1] == '/')
			mlen--;
		if (mark_covers(
		        cv->paths[i], mlen, cv->c->fan.mark, prefix, v, len))
			return;
	}
	cv->outside++;
	snprintf(val, sizeof(val), "%.*s", (int)len, v);
	vd_log_warnx("%s: rule %zu: %s=%s lies outside every fanotify mark "
	             "(%s, %s marks%s): it never sees an event",
	    vd_quote(qp, sizeof(qp), cv->c->policy), rule,
	    prefix ? "prefix" : "path", vd_quote(qv, sizeof(qv), val),
	    vd_quote(qm, sizeof(qm), cv->c->fan.paths),
	    vd_fan_mark_name(cv->c->fan.mark),
	    cv->c->fan.mark == VD_FAN_MARK_DIRECTORY
	        ? ", which are not recursive"
	        : "");
}

static unsigned
drv_check(const struct vd_conf *c, const struct vd_policy *pol)
{
	char buf[VD_CONF_PATHS_MAX];
	struct cover cv = { .c = c };

	cv.npaths =
	    vd_conf_fan_paths(c, buf, sizeof(buf), cv.paths, VD_FAN_MARKS_MAX);
	vd_policy_paths(pol, cover_check, &cv);
	return cv.outside;
}

/* --- the report at stop: the pipeline's books and the backend's ------ */

static int
drv_report(void *bctx, const struct vd_run_info *ri)
{
	struct vd_fan_stats fs;

	vd_fan_stats(bctx, &fs);
	vd_report_service_head("fanotify", ri->stats, ri->stopped_by, ri->json);
	if (ri->json) {
		printf(",\"fanotify\":{\"perm_events\":%" PRIu64
		       ",\"notify_events\":%" PRIu64 ",\"self_events\":%" PRIu64
		       ",\"write_errors\":%" PRIu64
		       ",\"write_failures\":%" PRIu64
		       ",\"ignore_added\":%" PRIu64 ",\"proc_hits\":%" PRIu64
		       ",\"proc_misses\":%" PRIu64 "}}\n",
		    fs.perm_events, fs.notify_events, fs.self_events,
		    fs.write_errors, fs.write_failures, fs.ignore_added,
		    fs.proc_hits, fs.proc_misses);
		return 0;
	}
	printf("fanotify: %" PRIu64 " permission events, %" PRIu64
	       " notify events, %" PRIu64 " of our own; %" PRIu64
	       " answers refused (%" PRIu64 " lost)\n",
	    fs.perm_events, fs.notify_events, fs.self_events, fs.write_errors,
	    fs.write_failures);
	printf("fanotify: %" PRIu64 " ignore marks added, %" PRIu64
	       " dropped; identities %" PRIu64 " cached, %" PRIu64
	       " read from /proc\n",
	    fs.ignore_added, fs.ignore_dropped, fs.proc_hits, fs.proc_misses);
	return 0;
}

const struct vd_driver vd_driver_fanotify = {
	.name = "fanotify",
	/* No access mode, no code-signing identity; digests, through the
	 * event's descriptor. */
	.policy_can = VD_POLICY_CAN_SHA256,
	.poll_ms = 1000,
	.pipeline_config = drv_pipeline_config,
	.create = drv_create,
	.bind_runtime = drv_bind_runtime,
	.reconfigure = drv_reconfigure,
	.describe = drv_describe,
	.check = drv_check,
	.report = drv_report,
};
