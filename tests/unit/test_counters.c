/*
 * test_counters.c — the counter name tree: exact values from a known run,
 * prefix selection, and the names, kinds and units held stable against a
 * committed list (tests/data/counters.names): a rename breaks dashboards,
 * so it has to be a deliberate change to that file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <verdict/verdict.h>

#include "backend/gen/testeval.h"

#include "support/test.h"
#include "support/testbackend.h"

#ifndef VD_TEST_DATA
#error "VD_TEST_DATA must name tests/data"
#endif

#define MS 1000000ull

struct collect {
	char *text;
	size_t len, cap;
	size_t n;
	int64_t last;
};

static void
collect(void *ctx, const struct vd_ctr *c)
{
	struct collect *k = ctx;
	char line[512];
	int n;

	n = snprintf(line, sizeof(line), "%s %s %s\n", c->name,
	    c->kind == VD_CTR_COUNTER ? "counter" : "gauge", c->unit);
	if (k->len + (size_t)n + 1 > k->cap) {
		k->cap = (k->cap + (size_t)n + 1) * 2;
		k->text = realloc(k->text, k->cap);
		cr_assert_not_null(k->text);
	}
	memcpy(k->text + k->len, line, (size_t)n + 1);
	k->len += (size_t)n;
	k->n++;
	k->last = c->value;
	/* Every counter documents itself. */
	cr_assert(
	    c->help != NULL && c->help[0] != '\0', "%s: no help", c->name);
	cr_assert(
	    strchr(c->help, '\t') == NULL && strchr(c->help, '\n') == NULL);
}

/* The value of exactly one named counter. */
static int64_t
value_of(const struct vd_stats *st, const char *name)
{
	struct collect k = { 0 };
	const char *names[] = { name };

	vd_counters_walk(st, names, 1, collect, &k);
	cr_assert_eq(k.n, 1, "%s: %zu matches", name, k.n);
	free(k.text);
	return k.last;
}

Test(counters, names_kinds_and_units_are_stable)
{
	struct vd_stats *st = calloc(1, sizeof(*st));
	struct collect k = { 0 };
	char path[512], *golden;
	FILE *f;
	long n;

	st->workers = 2;
	vd_counters_walk(st, NULL, 0, collect, &k);
	snprintf(path, sizeof(path), "%s/counters.names", VD_TEST_DATA);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	golden = calloc(1, (size_t)n + 1);
	cr_assert_eq(fread(golden, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	cr_assert_str_eq(k.text, golden,
	    "the counter names changed: update %s (and verdictctl(8)) on "
	    "purpose",
	    path);
	free(golden);
	free(k.text);
	free(st);
}

Test(counters, prefixes_select_whole_subtrees)
{
	struct vd_stats *st = calloc(1, sizeof(*st));
	struct collect all = { 0 }, open = { 0 }, auth = { 0 }, none = { 0 };
	const char *p_open[] = { "auth.open" };
	const char *p_auth[] = { "auth" };
	const char *p_none[] = { "auth.ope" };

	st->workers = 1;
	vd_counters_walk(st, NULL, 0, collect, &all);
	vd_counters_walk(st, p_open, 1, collect, &open);
	vd_counters_walk(st, p_auth, 1, collect, &auth);
	cr_assert_eq(vd_counters_walk(st, p_none, 1, collect, &none), 0);
	cr_assert_gt(open.n, 10);
	cr_assert_eq(auth.n, open.n * VD_AUTH_TYPE_COUNT);
	cr_assert_lt(auth.n, all.n);
	cr_assert(
	    strstr(open.text, "auth.open.received counter events") != NULL);
	cr_assert(strstr(open.text, "auth.exec") == NULL);
	cr_assert(vd_counters_match("auth.open.latency_us.p99", "auth.open"));
	cr_assert(!vd_counters_match("auth.openx.received", "auth.open"));
	cr_assert(vd_counters_match("timer.fired", "timer.fired"));
	free(all.text);
	free(open.text);
	free(auth.text);
	free(st);
}

Test(counters, values_match_a_known_run_exactly)
{
	struct vd_config cfg;
	struct tb *tb = tb_create(1000, false);
	struct vd_testeval *te = vd_testeval_create();
	struct vd_evaluator ev = vd_testeval_evaluator(te);
	struct vd_stats *st = malloc(sizeof(*st));
	struct vd_pipeline *p;
	uint64_t i;
	int err;

	vd_config_init(&cfg, VD_PROFILE_FANOTIFY);
	cfg.workers = 1;
	cfg.pin_workers = false;
	p = vd_pipeline_create(&cfg, &ev, &tb->ops, tb, &err);
	cr_assert_not_null(p);
	cr_assert_eq(vd_pipeline_start(p), 0);
	vd_testeval_set_deny(te, 4);
	/* fanotify's 1 s budget: the worker has 800 ms, before the timer
	 * would answer, for 300 evaluations of a few microseconds. */
	for (i = 0; i < 300; i++)
		tb_submit(tb, p, VD_AUTH_OPEN, 7, 0, NULL);
	for (i = 0; i < 50; i++)
		tb_submit(tb, p, VD_AUTH_EXEC, 7, 30 * MS, NULL);
	for (i = 0; i < 120; i++)
		tb_submit(tb, p, VD_NOTIFY_CLOSE, 7, 0, NULL);
	cr_assert(tb_wait(tb, 470, 5000 * MS));
	vd_pipeline_stop(p);
	vd_pipeline_stats(p, st);
	cr_assert_eq(value_of(st, "auth.open.received"), 300);
	cr_assert_eq(value_of(st, "auth.open.answered.worker"), 300);
	cr_assert_eq(value_of(st, "auth.open.answered.default"), 0);
	cr_assert_eq(value_of(st, "auth.open.allowed") +
	        value_of(st, "auth.open.denied"),
	    300);
	cr_assert_eq(value_of(st, "auth.open.latency_us.count"), 300);
	/* 30 ms budgets, below the 50 ms floor: answered on arrival. */
	cr_assert_eq(value_of(st, "auth.exec.received"), 50);
	cr_assert_eq(value_of(st, "auth.exec.answered.arrival"), 50);
	cr_assert_eq(value_of(st, "auth.exec.answered.worker"), 0);
	cr_assert_eq(value_of(st, "notify.close.received"), 120);
	cr_assert_eq(value_of(st, "notify.close.processed"), 120);
	cr_assert_eq(value_of(st, "worker.0.events"), 300);
	cr_assert_eq(value_of(st, "timer.armed"), 300);
	cr_assert_eq(value_of(st, "timer.fired"), 0);
	cr_assert_eq(value_of(st, "ring.auth.open.depth"), 0);
	cr_assert_gt(value_of(st, "deadline.margin_us.min"), 0);
	cr_assert_leq(value_of(st, "deadline.budget_us.min"), 30000);
	cr_assert_eq(value_of(st, "pipeline.workers"), 1);
	vd_pipeline_destroy(p);
	vd_testeval_destroy(te);
	tb_destroy(tb);
	free(st);
}

/* Merging two histograms gives what recording every value in one would. */
Test(counters, a_merged_histogram_equals_one_that_recorded_everything)
{
	struct vd_hist *a = calloc(3, sizeof(*a)), *b = a + 1, *all = a + 2;
	uint64_t v;
	unsigned i;

	cr_assert_not_null(a);
	for (i = 0; i < 1000; i++) {
		v = (uint64_t)i * i * 37 + 5;
		vd_hist_record(i % 3 == 0 ? a : b, v);
		vd_hist_record(all, v);
	}
	vd_hist_merge(a, b);
	cr_assert_eq(a->count, 1000);
	cr_assert_eq(a->max, all->max);
	cr_assert_eq(memcmp(a->b, all->b, sizeof(a->b)), 0);
	cr_assert_eq(vd_hist_quantile(a, 0.99), vd_hist_quantile(all, 0.99));
	/* An empty source changes nothing. */
	memset(b, 0, sizeof(*b));
	vd_hist_merge(a, b);
	cr_assert_eq(a->count, 1000);
	free(a);
}
