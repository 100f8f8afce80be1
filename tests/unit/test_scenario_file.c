/*
 * test_scenario_file.c — essim-scenario(5) files: the shipped ones load,
 * and every kind of mistake is refused with its file and line.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <essim_workload.h>

#ifndef VD_SCENARIO_DIR
#error "VD_SCENARIO_DIR must name bench/scenarios"
#endif

static char dir[64];

static void
mkdir_tmp(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vd-scn.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

/* Writes text to a file in the test's directory and loads it. */
static int
load_text(const char *text, char *err, size_t errsz)
{
	struct essim_scenario s;
	char path[128];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/t.scn", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	essim_scenario_init(&s);
	rc = essim_scenario_load(&s, path, err, errsz);
	unlink(path);
	return rc;
}

static void
assert_refused(const char *text, const char *where, const char *says)
{
	char err[512];

	cr_assert_lt(
	    load_text(text, err, sizeof(err)), 0, "accepted: %s", text);
	cr_assert(
	    strstr(err, where) != NULL, "\"%s\" lacks \"%s\"", err, where);
	cr_assert(strstr(err, says) != NULL, "\"%s\" lacks \"%s\"", err, says);
}

Test(scenario_file, the_shipped_scenarios_load)
{
	static const char *const names[] = { "steady", "burst",
		"short-deadlines", "notify-flood", "stall" };
	struct essim_scenario s;
	char path[512], err[512];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(
		    path, sizeof(path), "%s/%s.scn", VD_SCENARIO_DIR, names[i]);
		essim_scenario_init(&s);
		cr_assert_eq(essim_scenario_load(&s, path, err, sizeof(err)), 0,
		    "%s", err);
		cr_assert_gt(s.rate, 0);
		cr_assert_gt(s.duration_ns, 0);
	}
}

Test(scenario_file, time_scale_shrinks_deadlines_and_stalls)
{
	struct essim_scenario s;
	char path[512], err[512];
	uint64_t ordinary;

	snprintf(path, sizeof(path), "%s/stall.scn", VD_SCENARIO_DIR);
	essim_scenario_init(&s);
	cr_assert_eq(essim_scenario_load(&s, path, err, sizeof(err)), 0);
	ordinary = s.ordinary_ns;
	essim_scenario_scale(&s, 0.01);
	cr_assert_lt(s.ordinary_ns, ordinary / 50);
	cr_assert_lt(s.stall_ns, s.stall_ns_file / 50);
	/* Idempotent: scaling works from the file's values. */
	essim_scenario_scale(&s, 0.01);
	cr_assert_lt(s.ordinary_ns, ordinary / 50);
	cr_assert_gt(s.ordinary_ns, ordinary / 200);
}

Test(scenario_file, mistakes_are_refused_with_file_and_line, .init = mkdir_tmp)
{
	assert_refused(
	    "[run]\nduration_s = 10\n[nope]\n", "t.scn:3:", "unknown section");
	assert_refused(
	    "[run]\nduration_s = 10\nfrobs = 2\n", "t.scn:3:", "unknown key");
	assert_refused("[run]\nseed = 1\nseed = 2\n", "t.scn:3:", "set twice");
	assert_refused("[load]\nrate = -5\n", "t.scn:2:", "rate");
	assert_refused("[load]\nrate = 12abc\n", "t.scn:2:", "rate");
	assert_refused(
	    "[mix]\nauth.nope = 3\n", "t.scn:2:", "unknown event type");
	assert_refused("[run]\nseed = 1 \xff\n", "t.scn:2:", "invalid UTF-8");
	assert_refused(
	    "[run]\nseed\x01 = 1\n", "t.scn:2:", "control character");
	assert_refused("seed = 1\n", "t.scn:1:", "outside any section");
	assert_refused("[run]\njust words\n", "t.scn:2:", "syntax error");
	/* Decimals: digits, a point, digits; no sign, exponent or blank. */
	assert_refused("[run]\ntime_scale = .5\n", "t.scn:2:",
	    "[run] time_scale: expected a factor from 0.0001 to 100 (like "
	    "0.01), got \".5\"");
	assert_refused("[run]\ntime_scale = 5.\n", "t.scn:2:", "got \"5.\"");
	assert_refused("[run]\ntime_scale = 1e-2\n", "t.scn:2:", "1e-2");
	assert_refused("[files]\nclose_modified = 1.01\n",
	    "t.scn:2:", "expected a share from 0 to 1");
	assert_refused("[deadline]\nsystem_spread = log\n",
	    "t.scn:2:", "expected uniform or log-uniform, got \"log\"");
	/* A value is quoted, never echoed as is. */
	assert_refused("[load]\nrate = 5\"\n",
	    "t.scn:2:", "(digits only), got \"5\\x22\"");
	rmdir(dir);
}

Test(scenario_file, a_missing_file_is_named)
{
	struct essim_scenario s;
	char err[512];

	essim_scenario_init(&s);
	cr_assert_lt(
	    essim_scenario_load(&s, "/nonexistent/x.scn", err, sizeof(err)), 0);
	cr_assert(strstr(err, "/nonexistent/x.scn") != NULL, "%s", err);
}

/* Expects path refused with rc and exactly "path: why". */
static void
expect_unreadable(const char *path, int rc, const char *why)
{
	struct essim_scenario s;
	char err[512], want[512];

	essim_scenario_init(&s);
	cr_assert_eq(
	    essim_scenario_load(&s, path, err, sizeof(err)), rc, "%s", err);
	snprintf(want, sizeof(want), "%s: %s", path, why);
	cr_assert_str_eq(err, want);
}

/* A FIFO or a device is refused at once (the timeout fails a reader that
 * blocks on the FIFO), and so is a file over 1 MiB. */
Test(scenario_file, files_that_are_not_scenarios, .init = mkdir_tmp,
    .timeout = 10)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/fifo.scn", dir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	expect_unreadable(path, -EINVAL, "not a regular file (a FIFO)");
	unlink(path);
	expect_unreadable(
	    "/dev/zero", -EINVAL, "not a regular file (a character device)");

	snprintf(path, sizeof(path), "%s/big.scn", dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs("[run]\nseed = 1\n", f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(truncate(path, ESSIM_SCENARIO_FILE_MAX + 1), 0);
	expect_unreadable(path, -EFBIG, "larger than 1 MiB");
	unlink(path);
	rmdir(dir);
}
