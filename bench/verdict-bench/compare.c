/*
 * compare.c — verdict-bench --compare OLD NEW: the regression gate.
 *
 * Both files hold verdict-bench's JSON lines (verdict-bench(1), OUTPUT).
 * The n-th line of a benchmark in NEW is compared with the n-th line of
 * that benchmark in OLD: the same options run the same configurations in
 * the same order, and a line whose configuration differs (workers, rate,
 * spin, ...) is an error, not a comparison.  Each figure the gate knows is
 * judged by its own rule:
 *
 *   latency percentiles (p50 .. p999, _us or _ns)   NEW/OLD <= 1 + latency
 *   throughput (events_per_s, events_per_s_min)     NEW/OLD >= 1 - throughput
 *   CPU (cpu_pct, *_ns_per_*)                       NEW/OLD <= 1 + cpu
 *   ratios to a reference of the same run (*_vs_floor)
 *                                                   NEW/OLD <= 1 + latency
 *                                (cpu_vs_floor: + cpu; events_per_s_vs_floor:
 *                                 >= 1 - throughput)
 *   misses, terminations, late, duplicates, errors, and "ok": false in NEW
 *                                                   fail whenever nonzero
 *
 * A line that carries ratios to its run's own reference is judged on
 * those, not on its absolute times: wall-clock figures move with the
 * machine's load, a ratio to a floor measured beside them much less.  A
 * line of another system (a peer of "system": "verdictd", such as the
 * floor or the seed design) is that reference, not verdictd: it is not
 * judged at all.
 *
 * Other figures (maxima, counts, settings) are printed by neither the gate
 * nor this table: one slow outlier must not fail a build.  The JSON is
 * read with json-c.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "compare.h"
#include "prog.h"
#include "util/util.h"

/* What the gate does with a figure. */
enum rule { R_NONE, R_LOWER, R_HIGHER, R_ZERO };
enum cls { C_LATENCY, C_THROUGHPUT, C_CPU, C_ABSOLUTE };

/* Settings: a line is compared only with one that ran the same way. */
static const char *const settings[] = { "workers", "rate", "spin_ns",
	"queriers", "batch", "period_us", "producers", "pool_size", "ring_size",
	"runs", "multi_producer", "scenario", "hog", "system", "k", "op",
	"schema" };

static bool
ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && strcmp(s + n - m, suf) == 0;
}

static enum rule
rule_of(const char *k, enum cls *c)
{
	static const char *const pcts[] = { "p50_", "p90_", "p99_", "p999_",
		"pipeline_p50_", "pipeline_p99_" };
	static const char *const zero[] = { "misses", "terminations", "late",
		"duplicates", "errors", "missed", "lost", "dup" };
	size_t i;

	if (ends_with(k, "_vs_floor")) {
		if (strncmp(k, "events_per_s", 12) == 0) {
			*c = C_THROUGHPUT;
			return R_HIGHER;
		}
		*c = strncmp(k, "cpu", 3) == 0 ? C_CPU : C_LATENCY;
		return R_LOWER;
	}
	for (i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		if (strncmp(k, pcts[i], strlen(pcts[i])) == 0 &&
		    (ends_with(k, "_us") || ends_with(k, "_ns")) &&
		    strchr(k + strlen(pcts[i]), '_') == NULL) {
			*c = C_LATENCY;
			return R_LOWER;
		}
	if (strcmp(k, "events_per_s") == 0 ||
	    strcmp(k, "events_per_s_min") == 0) {
		*c = C_THROUGHPUT;
		return R_HIGHER;
	}
	if (strcmp(k, "cpu_pct") == 0 || strstr(k, "_ns_per_") != NULL) {
		*c = C_CPU;
		return R_LOWER;
	}
	for (i = 0; i < sizeof(zero) / sizeof(zero[0]); i++)
		if (strcmp(k, zero[i]) == 0) {
			*c = C_ABSOLUTE;
			return R_ZERO;
		}
	return R_NONE;
}

/* Reads FILE's JSON lines (blank lines skipped).  0, or -1 with why on
 * standard error. */
int
jsonl_read(const char *path, struct lines *out)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	json_object *o;

	out->v = NULL;
	out->n = 0;
	if (f == NULL) {
		vd_cli_warnx(PROG, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (len == 1 && line[0] == '\n')
			continue;
		o = json_tokener_parse(line);
		if (o == NULL || !json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, "bench", NULL)) {
			vd_cli_warnx(PROG,
			    "%s:%zu: not a verdict-bench JSON line", path,
			    lineno);
			json_object_put(o);
			goto fail;
		}
		out->v = realloc(out->v, (out->n + 1) * sizeof(*out->v));
		if (out->v == NULL) {
			vd_cli_warnx(PROG, "out of memory");
			goto fail;
		}
		out->v[out->n++] = o;
	}
	free(line);
	fclose(f);
	if (out->n == 0) {
		vd_cli_warnx(PROG, "%s: no JSON lines", path);
		return -1;
	}
	return 0;
fail:
	free(line);
	fclose(f);
	return -1;
}

void
jsonl_free(struct lines *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		json_object_put(l->v[i]);
	free(l->v);
}

const char *
jsonl_bench(json_object *o)
{
	json_object *b;

	return json_object_object_get_ex(o, "bench", &b)
	    ? json_object_get_string(b)
	    : "?";
}

double
jsonl_num(json_object *o, const char *k, bool *has)
{
	json_object *v;

	*has = json_object_object_get_ex(o, k, &v) &&
	    (json_object_is_type(v, json_type_int) ||
	        json_object_is_type(v, json_type_double));
	return *has ? json_object_get_double(v) : 0;
}

/* The k-th line (0-based) of bench `name` in l, or NULL. */
static json_object *
nth_of(const struct lines *l, const char *name, size_t k)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(jsonl_bench(l->v[i]), name) == 0 && k-- == 0)
			return l->v[i];
	return NULL;
}

/* Whether a and b ran with the same settings; the first that differs in
 * *what. */
static bool
same_settings(json_object *a, json_object *b, const char **what)
{
	json_object *x, *y;
	size_t i;

	for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		bool hx = json_object_object_get_ex(a, settings[i], &x);
		bool hy = json_object_object_get_ex(b, settings[i], &y);

		if (hx != hy ||
		    (hx &&
		        strcmp(json_object_to_json_string(x),
		            json_object_to_json_string(y)) != 0)) {
			*what = settings[i];
			return false;
		}
	}
	return true;
}

struct verdicts {
	unsigned compared, regressed;
	char first[160];
};

static void
judge(struct verdicts *v, const char *bench, size_t k, const char *key,
    double o, double n, const struct compare_limits *lim, enum rule r,
    enum cls c)
{
	double ratio = o != 0 ? n / o : (n == 0 ? 1.0 : INFINITY);
	double limit = c == C_LATENCY ? 1 + lim->latency
	    : c == C_THROUGHPUT       ? 1 - lim->throughput
	    : c == C_CPU              ? 1 + lim->cpu
	                              : 0;
	char lim_s[16], ratio_s[16];
	bool bad;

	if (r == R_ZERO) {
		bad = n != 0;
		snprintf(lim_s, sizeof(lim_s), "= 0");
		ratio_s[0] = '\0';
	} else {
		bad = r == R_LOWER ? ratio > limit : ratio < limit;
		snprintf(lim_s, sizeof(lim_s), "%s %.2f",
		    r == R_LOWER ? "<=" : ">=", limit);
		snprintf(ratio_s, sizeof(ratio_s), "%.3f", ratio);
	}
	printf("%-12s %3zu  %-20s %12.6g %12.6g %8s %8s  %s\n", bench, k + 1,
	    key, o, n, ratio_s, lim_s,
	    !bad              ? "ok"
	        : r == R_ZERO ? "FAILED"
	                      : "REGRESSED");
	v->compared++;
	if (bad && v->regressed++ == 0)
		snprintf(v->first, sizeof(v->first), "%s #%zu %s", bench, k + 1,
		    key);
}

/* Judges every figure of one pair of lines; false when "ok" is false in
 * new (a correctness check failed in that run). */
static void
judge_pair(struct verdicts *v, json_object *old, json_object *new,
    const char *bench, size_t k, const struct compare_limits *lim)
{
	json_object *ov, *ok, *sys;
	bool ratios = false;
	enum rule r;
	enum cls c;

	/* A peer's line is the reference, not what the gate judges. */
	if (json_object_object_get_ex(new, "system", &sys) &&
	    strcmp(json_object_get_string(sys), "verdictd") != 0)
		return;
	json_object_object_foreach(new, k0, v0)
	{
		(void)v0;
		ratios |= ends_with(k0, "_vs_floor");
	}
	json_object_object_foreach(new, key, nv)
	{
		if (!json_object_is_type(nv, json_type_int) &&
		    !json_object_is_type(nv, json_type_double))
			continue;
		if ((r = rule_of(key, &c)) == R_NONE)
			continue;
		/* Judged on its ratios, not its absolute times. */
		if (ratios && c != C_ABSOLUTE && !ends_with(key, "_vs_floor"))
			continue;
		if (r != R_ZERO && !json_object_object_get_ex(old, key, &ov))
			continue;
		judge(v, bench, k, key,
		    r == R_ZERO ? 0 : json_object_get_double(ov),
		    json_object_get_double(nv), lim, r, c);
	}
	if (json_object_object_get_ex(new, "ok", &ok) &&
	    !json_object_get_boolean(ok)) {
		printf("%-12s %3zu  %-20s %12s %12s %8s %8s  FAILED\n", bench,
		    k + 1, "ok", "", "false", "", "true");
		v->compared++;
		if (v->regressed++ == 0)
			snprintf(v->first, sizeof(v->first), "%s #%zu ok",
			    bench, k + 1);
	}
}

int
bench_compare(
    const char *oldp, const char *newp, const struct compare_limits *lim)
{
	struct lines o, n;
	struct verdicts v = { 0, 0, "" };
	const char *what;
	int rc = EXIT_CHECK;
	size_t i, k, j;

	if (jsonl_read(oldp, &o) != 0)
		return EXIT_INPUT;
	if (jsonl_read(newp, &n) != 0) {
		jsonl_free(&o);
		return EXIT_INPUT;
	}
	printf("%-12s %3s  %-20s %12s %12s %8s %8s  %s\n", "bench", "#",
	    "figure", "old", "new", "ratio", "limit", "");
	for (i = 0; i < n.n; i++) {
		const char *b = jsonl_bench(n.v[i]);
		json_object *old;

		for (k = 0, j = 0; j < i; j++)
			k += strcmp(jsonl_bench(n.v[j]), b) == 0;
		if ((old = nth_of(&o, b, k)) == NULL) {
			vd_cli_warnx(PROG,
			    "--compare: %s has no %s line #%zu: compare runs "
			    "made with the same options",
			    oldp, b, k + 1);
			rc = EXIT_INPUT;
			goto out;
		}
		if (!same_settings(old, n.v[i], &what)) {
			vd_cli_warnx(PROG,
			    "--compare: %s line #%zu ran with another %s: "
			    "compare runs made with the same options",
			    b, k + 1, what);
			rc = EXIT_INPUT;
			goto out;
		}
		judge_pair(&v, old, n.v[i], b, k, lim);
	}
	if (v.regressed != 0) {
		printf("%u of %u figures regressed; the first: %s\n",
		    v.regressed, v.compared, v.first);
		rc = EXIT_CHECK;
	} else {
		printf("%u figures compared, none regressed\n", v.compared);
		rc = 0;
	}
out:
	jsonl_free(&o);
	jsonl_free(&n);
	return rc;
}
