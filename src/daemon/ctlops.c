/*
 * ctlops.c — what verdictd answers on its control socket (control.h): the
 * counters by name (the pipeline's, the daemon's, the policy runtime's and
 * the backend's own), a status, and reloads, which it forwards to the main
 * thread (reload.c).  Everything here runs on the control thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <verdict/counters.h>
#include <verdict/version.h>

#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/decisions.h"
#include "daemon/log.h"
#include "util/util.h"

/* Makes the main loop look at the reload channel. */
static void (*main_wake)(void);

struct get_ctx {
	void (*emit)(void *ectx, const char *line, size_t len);
	void *ectx;
	size_t n;
};

static void
emit_ctr(void *ctx, const struct vd_ctr *c)
{
	struct get_ctx *g = ctx;
	char line[512];
	int n;

	g->n++;
	if (g->emit == NULL)
		return; /* only counting */
	n = snprintf(line, sizeof(line), "%s\t%s\t%s\t%" PRId64 "\t%s\n",
	    c->name, c->kind == VD_CTR_COUNTER ? "counter" : "gauge", c->unit,
	    c->value, c->help);
	if (n > 0 && (size_t)n < sizeof(line))
		g->emit(g->ectx, line, (size_t)n);
}

/* /proc/self/statm's resident pages, and the thread count of
 * /proc/self/stat, for the process.* gauges; 0 when unreadable. */
static void
process_usage(uint64_t *rss_bytes, uint64_t *threads)
{
	unsigned long long size, resident;
	const char *p;
	char buf[1024];
	FILE *f;

	*rss_bytes = *threads = 0;
	if ((f = fopen("/proc/self/statm", "r")) != NULL) {
		if (fscanf(f, "%llu %llu", &size, &resident) == 2)
			*rss_bytes = resident * (uint64_t)sysconf(_SC_PAGESIZE);
		fclose(f);
	}
	if ((f = fopen("/proc/self/stat", "r")) == NULL)
		return;
	/* Field 20 is num_threads. */
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = vd_proc_stat_field(buf, 20)) != NULL)
		*threads = strtoull(p, NULL, 10);
	fclose(f);
}

/* Emits those of the nc counters c[] that one of names selects (all of
 * them when n is 0). */
static void
emit_selected(struct get_ctx *g, const struct vd_ctr *c, size_t nc,
    const char *const *names, size_t n)
{
	size_t i, k;

	for (k = 0; k < nc; k++) {
		for (i = 0; i < n; i++)
			if (vd_counters_match(c[k].name, names[i]))
				break;
		if (n == 0 || i < n)
			emit_ctr(g, &c[k]);
	}
}

/* What a backend's counters() call emits into: one request's selection. */
struct sel {
	struct get_ctx *g;
	const char *const *names;
	size_t n;
};

static void
emit_one(void *ectx, const struct vd_ctr *c)
{
	struct sel *sl = ectx;

	emit_selected(sl->g, c, 1, sl->names, sl->n);
}

/* policy.rule.N.hits, its help the rule's file:line and text. */
static void
emit_rule_hits(
    void *ctx, size_t rule, const struct vd_policy_rule_info *r, uint64_t hits)
{
	char name[48], help[512];

	snprintf(name, sizeof(name), "policy.rule.%zu.hits", rule);
	snprintf(help, sizeof(help), "decisions by %.*s:%u: %.*s",
	    (int)(r->file_len > 200 ? 200 : r->file_len), r->file, r->line,
	    (int)(r->text_len > 250 ? 250 : r->text_len), r->text);
	emit_one(ctx,
	    &(struct vd_ctr){
	        name, VD_CTR_COUNTER, "events", help, (int64_t)hits });
}

/* The daemon's own counters, after the pipeline's. */
static void
daemon_counters(
    struct daemon *d, const char *const *names, size_t n, struct get_ctx *g)
{
	struct vd_control_stats cs = { 0 };
	uint64_t rss, threads, gen, reloads, failures, preloads, pfailures;
	struct vd_ctr c[8];

	pthread_mutex_lock(&d->books_lock);
	gen = d->generation;
	reloads = d->reloads;
	failures = d->reload_failures;
	preloads = d->policy_reloads;
	pfailures = d->policy_reload_failures;
	pthread_mutex_unlock(&d->books_lock);
	process_usage(&rss, &threads);
	if (d->ctl != NULL)
		vd_control_get_stats(d->ctl, &cs);
	c[0] = (struct vd_ctr){ "process.uptime_s", VD_CTR_GAUGE, "s",
		"seconds since verdictd started",
		(int64_t)((vd_clock_ns() - d->start_ns) / 1000000000u) };
	c[1] = (struct vd_ctr){ "process.rss_bytes", VD_CTR_GAUGE, "bytes",
		"resident memory", (int64_t)rss };
	c[2] = (struct vd_ctr){ "process.threads", VD_CTR_GAUGE, "threads",
		"threads of the process", (int64_t)threads };
	c[3] = (struct vd_ctr){ "config.generation", VD_CTR_GAUGE, "count",
		"configurations loaded, the first one included", (int64_t)gen };
	c[4] = (struct vd_ctr){ "config.reloads", VD_CTR_COUNTER, "times",
		"reloads that succeeded", (int64_t)reloads };
	c[5] = (struct vd_ctr){ "config.reload_failures", VD_CTR_COUNTER,
		"times", "reloads refused (the running configuration stayed)",
		(int64_t)failures };
	c[6] = (struct vd_ctr){ "control.requests", VD_CTR_COUNTER, "requests",
		"control requests served", (int64_t)cs.requests };
	c[7] = (struct vd_ctr){ "control.errors", VD_CTR_COUNTER, "requests",
		"control requests refused as malformed or failed",
		(int64_t)cs.errors };
	emit_selected(g, c, sizeof(c) / sizeof(c[0]), names, n);
	if (d->rt != NULL) {
		struct vd_policy_runtime_stats ps;

		vd_policy_runtime_stats(d->rt, &ps);
		struct vd_ctr pc[] = {
			{ "policy.generation", VD_CTR_GAUGE, "count",
			    "policies put in force, the first one included",
			    (int64_t)ps.generation },
			{ "policy.rules", VD_CTR_GAUGE, "rules",
			    "rules in the policy in force", (int64_t)ps.rules },
			{ "policy.reloads", VD_CTR_COUNTER, "times",
			    "policy reloads that succeeded",
			    (int64_t)preloads },
			{ "policy.reload_failures", VD_CTR_COUNTER, "times",
			    "policy reloads refused (the running policy "
			    "stayed)",
			    (int64_t)pfailures },
			{ "policy.evaluations", VD_CTR_COUNTER, "events",
			    "events evaluated against the policy",
			    (int64_t)ps.evaluations },
			{ "policy.matched", VD_CTR_COUNTER, "events",
			    "decided by a rule", (int64_t)ps.matched },
			{ "policy.defaulted", VD_CTR_COUNTER, "events",
			    "decided by a default line or the type's default",
			    (int64_t)ps.defaulted },
			{ "policy.truncated", VD_CTR_COUNTER, "events",
			    "a path condition met a truncated path",
			    (int64_t)ps.truncated },
			{ "policy.would_deny", VD_CTR_COUNTER, "events",
			    "monitor mode: denies allowed and logged as "
			    "would-deny",
			    (int64_t)ps.would_deny },
			{ "policy.retired", VD_CTR_GAUGE, "policies",
			    "old policies waiting for their grace period",
			    (int64_t)ps.retired },
			{ "policy.cache.hits", VD_CTR_COUNTER, "events",
			    "decisions answered from a worker's decision cache",
			    (int64_t)ps.cache_hits },
			{ "policy.cache.misses", VD_CTR_COUNTER, "events",
			    "cache lookups that found nothing usable",
			    (int64_t)ps.cache_misses },
			{ "policy.cache.evictions", VD_CTR_COUNTER, "entries",
			    "live entries replaced by newer decisions",
			    (int64_t)ps.cache_evictions },
			{ "policy.cache.invalidations", VD_CTR_COUNTER, "files",
			    "files whose cached decisions a close-after-write "
			    "or write dropped",
			    (int64_t)ps.cache_invalidations },
		};
		emit_selected(g, pc, sizeof(pc) / sizeof(pc[0]), names, n);
		struct sel sl = { g, names, n };
		vd_policy_runtime_rule_hits(d->rt, emit_rule_hits, &sl);
	}
	if (d->log != NULL) {
		struct vd_declog_stats ls;

		vd_declog_stats(d->log, &ls);
		struct vd_ctr lc[] = {
			{ "log.written", VD_CTR_COUNTER, "lines",
			    "decision log lines written", (int64_t)ls.written },
			{ "log.dropped", VD_CTR_COUNTER, "lines",
			    "decision log lines lost: the queue was full or "
			    "the write failed (never an answer)",
			    (int64_t)ls.dropped },
			{ "log.write_errors", VD_CTR_COUNTER, "writes",
			    "decision log writes that failed (a full disk)",
			    (int64_t)ls.write_errors },
			{ "log.queue", VD_CTR_GAUGE, "records",
			    "the decision log's queue", (int64_t)ls.queue_max },
		};
		emit_selected(g, lc, sizeof(lc) / sizeof(lc[0]), names, n);
	}
	if (d->digest != NULL) {
		struct sel sl = { g, names, n };

		vd_digest_counters(d->digest, emit_one, &sl);
	}
	if (d->b.counters != NULL) {
		struct sel sl = { g, names, n };

		d->b.counters(d->b.ctx, emit_one, &sl);
	}
}

static void
count_only(void *ctx, const struct vd_ctr *c)
{
	(void)ctx;
	(void)c;
}

static int
ctl_get(void *ctx, const char *const *names, size_t n,
    void (*emit)(void *ectx, const char *line, size_t len), void *ectx,
    char *bad, size_t badsz)
{
	struct daemon *d = ctx;
	struct get_ctx g = { emit, ectx, 0 };
	size_t i;

	vd_pipeline_stats(d->p, d->ctl_stats);
	/* A requested name that matches nothing is an error, not silence;
	 * check each one before answering any. */
	for (i = 0; i < n; i++) {
		struct get_ctx probe = { NULL, NULL, 0 };

		if (vd_counters_walk(
		        d->ctl_stats, &names[i], 1, count_only, NULL) != 0)
			continue;
		daemon_counters(d, &names[i], 1, &probe);
		if (probe.n == 0) {
			snprintf(bad, badsz, "%s", names[i]);
			return -ENOENT;
		}
	}
	vd_counters_walk(d->ctl_stats, names, n, emit_ctr, &g);
	daemon_counters(d, names, n, &g);
	return 0;
}

/*
 * One word for an operator, worst first: "late" (an AUTH answer came after
 * its deadline: ES would have killed us), "dropping" (events answered with
 * the default without evaluation: ring full or pool empty), "defaults"
 * (evaluations too slow: the timer answered), or "ok".
 */
static const char *
health(const struct vd_stats *st)
{
	uint64_t dropped = 0, timer = 0;
	bool late = false;
	unsigned t;

	for (t = 0; t < VD_AUTH_TYPE_COUNT; t++) {
		const struct vd_type_stats *ts = &st->types[t];

		dropped += ts->dropped;
		timer += ts->answered_default - ts->shutdown;
		if (ts->margin_min_ns < 0)
			late = true;
	}
	if (late)
		return "late";
	if (dropped != 0)
		return "dropping";
	if (timer != 0)
		return "defaults";
	return "ok";
}

static size_t
ctl_status(void *ctx, char *buf, size_t bufsz)
{
	struct daemon *d = ctx;
	uint64_t gen;
	int n;

	pthread_mutex_lock(&d->books_lock);
	gen = d->generation;
	pthread_mutex_unlock(&d->books_lock);
	vd_pipeline_stats(d->p, d->ctl_stats);
	n = snprintf(buf, bufsz,
	    "version\t%s\nbackend\t%s\npid\t%ld\nuptime_s\t%" PRIu64
	    "\nconfig\t%s\nconfig_generation\t%" PRIu64
	    "\nworkers\t%u\nhealth\t%s\n",
	    VD_VERSION_STRING, d->drv->name, (long)getpid(),
	    (vd_clock_ns() - d->start_ns) / 1000000000u,
	    d->path != NULL ? d->path : "(built-in defaults)", gen,
	    vd_pipeline_workers(d->p), health(d->ctl_stats));
	return n < 0 ? 0 : (size_t)n;
}

struct explain_call {
	struct daemon *d;
	const char *query;
	char *buf;
	size_t bufsz;
};

static int
explain_with(void *ctx, const struct vd_policy *pol)
{
	struct explain_call *x = ctx;
	uint8_t defaults[VD_EVENT_TYPE_COUNT];

	if (pol == NULL) {
		snprintf(x->buf, x->bufsz, "explain: no policy is in force");
		return -ENOENT;
	}
	/* The main thread replaces d->conf at a reload, under books_lock. */
	pthread_mutex_lock(&x->d->books_lock);
	vd_daemon_defaults(&x->d->conf, defaults);
	pthread_mutex_unlock(&x->d->books_lock);
	return vd_daemon_explain(defaults, pol, x->query, x->buf, x->bufsz);
}

/* EXPLAIN against the policy in force, on the control thread. */
static int
ctl_explain(void *ctx, const char *query, size_t qlen, char *buf, size_t bufsz)
{
	struct daemon *d = ctx;
	struct explain_call x = { d, NULL, buf, bufsz };
	char *q;
	int rc;

	if (d->rt == NULL) {
		snprintf(buf, bufsz,
		    "explain: verdictd runs without a policy ([policy] file): "
		    "the backend's own logic decides");
		return -ENOENT;
	}
	if ((q = strndup(query, qlen)) == NULL) {
		snprintf(buf, bufsz, "explain: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	x.query = q;
	rc = vd_policy_runtime_with_policy(d->rt, explain_with, &x);
	free(q);
	return rc;
}

static int
ctl_reload(void *ctx, char *msg, size_t msgsz)
{
	struct daemon *d = ctx;

	return vd_reload_chan_ask(&d->chan, main_wake, msg, msgsz);
}

static const struct vd_control_ops ctl_ops = {
	.get = ctl_get,
	.status = ctl_status,
	.reload = ctl_reload,
	.explain = ctl_explain,
};

/* Starts the control socket; a failure is reported, not fatal: the
 * daemon's job is answering events, and it still does. */
void
vd_daemon_control_start(struct daemon *d, void (*wake)(void))
{
	char msg[512];
	int err;

	main_wake = wake;
	if (strcmp(d->conf.control_socket, "off") == 0)
		return;
	if ((d->ctl_stats = malloc(sizeof(*d->ctl_stats))) == NULL) {
		vd_log_warnx("control: %s", strerror(ENOMEM));
		return;
	}
	d->ctl = vd_control_start(
	    d->conf.control_socket, &ctl_ops, d, 0, &err, msg, sizeof(msg));
	if (d->ctl == NULL)
		vd_log_warnx("control socket %s: %s; running without it",
		    d->conf.control_socket, msg);
}

void
vd_daemon_control_stop(struct daemon *d)
{
	if (d->ctl != NULL)
		vd_control_stop(d->ctl);
	d->ctl = NULL;
	free(d->ctl_stats);
	d->ctl_stats = NULL;
}
