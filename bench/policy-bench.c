/*
 * policy-bench.c — the policy evaluator's cost against the number of
 * rules: one JSON line per configuration, as verdict-bench prints.
 *
 * Each configuration generates a policy shaped like a real one: exact
 * paths (a list of secrets), directory prefixes, extensions (suffixes),
 * a quarter of the rules narrowed to an executable, and a few rules with
 * no path condition, which every event has to look at.  It reports the
 * compile time, the snapshot's size, and the latency of vd_policy_eval
 * over random events, half of which hit a generated path and half miss.
 * The target is the same for every size: the index is meant to make the
 * cost depend on the path, not on the number of rules.
 *
 * Each evaluation is timed on its own with CLOCK_MONOTONIC; the median
 * cost of an empty pair of clock reads is measured and subtracted.
 *
 * Usage: policy-bench [events]     (default 1000000 per configuration)
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <verdict/pipeline.h>
#include <verdict/policy.h>

#include "rules/policy_internal.h"
#include "util/splitmix.h"

#define P99_TARGET_NS 1000

static const char *const exts[] = { ".key", ".pem", ".so", ".dylib", ".db",
	".plist", ".sqlite", ".p12" };

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct buf {
	char *p;
	size_t len, cap;
};

static void
put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#include <stdarg.h>

static void
put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len)
			break;
		b->cap = b->cap ? b->cap * 2 : 1 << 16;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	b->len += (size_t)n;
}

/* A path under one of the generated trees: user u, app a, file f. */
static void
gen_path(
    char *out, size_t n, unsigned u, unsigned a, unsigned f, const char *ext)
{
	snprintf(out, n, "/Users/u%u/Library/Application Support/app%u/f%u%s",
	    u, a, f, ext);
}

static void
run(size_t nrules, size_t nev)
{
	struct buf text = { 0 };
	struct vd_policy_error err;
	struct vd_policy *pol;
	struct vd_event *ev;
	/* s: a fixed splitmix64 seed, the same policy and events each run */
	uint64_t s = 1, t0, compile_ns, *lat, ovh, hits = 0;
	unsigned span = (unsigned)(nrules / 4 + 1);
	size_t i;
	int rc;

	put(&text, "default open,exec,unlink allow\n");
	/* A few rules with no path condition: every event checks them. */
	put(&text, "deny open uid=4242 : all\n");
	put(&text, "allow exec exe_prefix=/System/ : all\n");
	put(&text, "deny unlink exe=/usr/bin/shred : all\n");
	for (i = 0; i < nrules - 3 && nrules > 3; i++) {
		unsigned r = (unsigned)(vd_splitmix64(&s) % 100);
		unsigned u = (unsigned)(vd_splitmix64(&s) % span),
		         a = (unsigned)(vd_splitmix64(&s) %
		             (nrules < 1000 ? 4 : 64));
		char path[256], subj[64];

		if (vd_splitmix64(&s) % 4 == 0)
			snprintf(subj, sizeof(subj), "exe=/usr/bin/tool%u",
			    (unsigned)(vd_splitmix64(&s) % 32));
		else
			snprintf(subj, sizeof(subj), "all");
		if (r < 45) {
			gen_path(path, sizeof(path), u, a,
			    (unsigned)(vd_splitmix64(&s) % 16),
			    exts[vd_splitmix64(&s) % 8]);
			put(&text, "deny open %s : path=\"%s\"\n", subj, path);
		} else if (r < 80) {
			put(&text,
			    "deny,audit open,unlink %s : prefix=\"/Users/u%u/"
			    "Library/Application Support/app%u/\"\n",
			    subj, u, a);
		} else if (r < 90) {
			put(&text, "allow,cache open %s : suffix=%u%s\n", subj,
			    u % 100, exts[vd_splitmix64(&s) % 8]);
		} else {
			put(&text,
			    "deny exec %s : prefix=/Users/u%u/Downloads/\n",
			    subj, u);
		}
	}
	t0 = vd_clock_ns();
	pol = vd_policy_compile(text.p, text.len, "bench.rules",
	    VD_POLICY_CAN_ACCESS | VD_POLICY_CAN_TEAM_ID, &err, &rc);
	compile_ns = vd_clock_ns() - t0;
	if (pol == NULL) {
		fprintf(stderr, "%s:%d:%d: %s\n", err.file, err.line,
		    err.column, err.msg);
		exit(1);
	}
	ev = calloc(1, sizeof(*ev));
	lat = calloc(nev, sizeof(*lat));
	if (ev == NULL || lat == NULL) {
		perror("calloc");
		exit(1);
	}
	/* The median cost of an empty pair of clock reads. */
	for (i = 0; i < 10001; i++) {
		uint64_t a = vd_clock_ns();

		lat[i] = vd_clock_ns() - a;
	}
	qsort(lat, 10001, sizeof(*lat), cmp_u64);
	ovh = lat[5000];
	for (i = 0; i < nev; i++) {
		static const uint16_t types[] = { VD_AUTH_OPEN, VD_AUTH_OPEN,
			VD_AUTH_EXEC, VD_AUTH_UNLINK };
		/* Half inside the generated trees (hits and near misses),
		 * half in users no rule names. */
		unsigned u = (unsigned)(vd_splitmix64(&s) % span) +
		    (vd_splitmix64(&s) % 2 ? 0 : span);
		struct vd_decision d = { VD_ALLOW, false, false, 0 };
		bool trunc;
		size_t r;

		ev->type = types[vd_splitmix64(&s) % 4];
		ev->proc.uid = 501;
		snprintf(ev->proc.exe, sizeof(ev->proc.exe), "/usr/bin/tool%u",
		    (unsigned)(vd_splitmix64(&s) % 40));
		gen_path(ev->target, sizeof(ev->target), u,
		    (unsigned)(vd_splitmix64(&s) % (nrules < 1000 ? 4 : 64)),
		    (unsigned)(vd_splitmix64(&s) % 16),
		    exts[vd_splitmix64(&s) % 8]);
		t0 = vd_clock_ns();
		r = vd_policy_eval(pol, ev, &d, &trunc);
		lat[i] = vd_clock_ns() - t0;
		lat[i] = lat[i] > ovh ? lat[i] - ovh : 0;
		hits += r != 0;
	}
	qsort(lat, nev, sizeof(*lat), cmp_u64);
	printf("{\"bench\":\"policy_eval\",\"rules\":%zu,\"compile_ms\":%.3f,"
	       "\"snapshot_bytes\":%zu,\"events\":%zu,\"hit_ratio\":%.3f,"
	       "\"eval_p50_ns\":%" PRIu64 ",\"eval_p99_ns\":%" PRIu64
	       ",\"eval_max_ns\":%" PRIu64 ",\"timer\":\"clock_gettime\","
	       "\"timer_overhead_ns\":%" PRIu64 ","
	       "\"target\":{\"p99_ns_max\":%d},\"pass\":%s}\n",
	    vd_policy_rules(pol), (double)compile_ns / 1e6,
	    vd__policy_bytes(pol), nev, (double)hits / (double)nev,
	    lat[nev / 2], lat[nev * 99 / 100], lat[nev - 1], ovh, P99_TARGET_NS,
	    lat[nev * 99 / 100] <= P99_TARGET_NS ? "true" : "false");
	fflush(stdout);
	vd_policy_free(pol);
	free(ev);
	free(lat);
	free(text.p);
}

int
main(int argc, char **argv)
{
	static const size_t sizes[] = { 10, 1000, 100000 };
	size_t nev = 1000000, only = 0, i;

	/* policy-bench [EVENTS [RULES]]: RULES, one of the sizes, alone
	 * (tools/icount counts one size at a time). */
	if (argc > 1)
		nev = strtoull(argv[1], NULL, 10);
	if (nev < 10001)
		nev = 10001;
	if (argc > 2)
		only = strtoull(argv[2], NULL, 10);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (only == 0 || only == sizes[i])
			run(sizes[i], nev);
	return 0;
}
