/*
 * verdict/counters.h — the pipeline's counters as a tree of dotted,
 * sysctl-style names: "auth.open.received", "auth.open.latency_us.p99",
 * "ring.auth.open.depth_max", "deadline.margin_us.min".
 *
 * vd_counters_walk() turns a vd_stats snapshot into named values, in a
 * fixed order, calling emit() for each one whose name equals or lies under
 * one of the prefixes asked for.  The set of names is static for a given
 * build and worker count (types with no traffic are listed too), so tools
 * and dashboards can rely on them; verdictctl(8) documents each one.
 *
 * Any thread; the walk itself allocates nothing and takes no lock.
 */
#ifndef VERDICT_COUNTERS_H
#define VERDICT_COUNTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <verdict/stats.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How a value behaves over time: a counter only grows (rates make
 * sense), a gauge goes up and down. */
enum vd_ctr_kind {
	VD_CTR_COUNTER,
	VD_CTR_GAUGE,
};

struct vd_ctr {
	const char *name; /* "auth.open.received" */
	enum vd_ctr_kind kind;
	const char *unit; /* "events", "us", "bytes", "s", ... */
	const char *help; /* one sentence */
	int64_t value;
};

/*
 * Calls emit(ctx, c) for each counter of the snapshot whose name equals
 * one of prefixes[0..nprefixes-1] or starts with it followed by a dot
 * (nprefixes == 0: every counter).  The name lives only during the call.
 * Returns how many were emitted.
 */
size_t vd_counters_walk(const struct vd_stats *st, const char *const *prefixes,
    size_t nprefixes, void (*emit)(void *ctx, const struct vd_ctr *c),
    void *ctx);

/* True when name equals prefix or lies under it ("auth" covers
 * "auth.open.received", not "authx"). */
bool vd_counters_match(const char *name, const char *prefix);

#ifdef __cplusplus
}
#endif
#endif
