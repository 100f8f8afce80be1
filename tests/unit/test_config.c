/*
 * test_config.c — verdictd.conf parsing: values, every kind of bad input
 * (each error must name file:line), command-line overrides, reload diffs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <verdict/event.h>
#include <verdict/pipeline.h>

#include "daemon/config.h"

#define NS_PER_MS UINT64_C(1000000)

static char tmpdir[64];
static char paths[16][128];
static unsigned npaths;

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	npaths = 0;
}

static void
teardown(void)
{
	for (unsigned i = 0; i < npaths; i++)
		unlink(paths[i]);
	rmdir(tmpdir);
}

TestSuite(config, .init = setup, .fini = teardown);

/* Writes n bytes (the whole string when n is 0) to a new file. */
static const char *
write_bytes(const char *text, size_t n)
{
	char *path;
	FILE *fp;

	cr_assert_lt(npaths, sizeof(paths) / sizeof(paths[0]));
	path = paths[npaths];
	snprintf(path, sizeof(paths[0]), "%s/verdictd%u.conf", tmpdir, npaths);
	npaths++;
	if (n == 0)
		n = strlen(text);
	cr_assert_not_null(fp = fopen(path, "w"));
	cr_assert_eq(fwrite(text, 1, n, fp), n);
	cr_assert_eq(fclose(fp), 0);
	return path;
}

static const char *
write_file(const char *text)
{
	return write_bytes(text, 0);
}

/*
 * Loads text and expects it to fail on line `line` with a message that
 * starts with "path:line: " and contains each of the needles.
 */
static void
expect_error(const char *text, size_t n, int line, const char *needle,
    const char *needle2)
{
	char err[512], prefix[160];
	struct vd_conf c;
	const char *path = write_bytes(text, n);

	vd_conf_init(&c);
	cr_assert_eq(vd_conf_load(&c, path, err, sizeof(err)), -EINVAL,
	    "loading %s should fail", path);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	cr_assert_eq(strncmp(err, prefix, strlen(prefix)), 0,
	    "error \"%s\" should start with \"%s\"", err, prefix);
	if (needle != NULL)
		cr_assert_not_null(strstr(err, needle),
		    "error \"%s\" should mention \"%s\"", err, needle);
	if (needle2 != NULL)
		cr_assert_not_null(strstr(err, needle2),
		    "error \"%s\" should mention \"%s\"", err, needle2);
}

Test(config, good_file_parses_to_expected_values)
{
	const char *path = write_file("# a comment\n"
	                              "; another\n"
	                              "\n"
	                              "[pipeline]\n"
	                              "workers = 2\n"
	                              "ring_size = 4096   ; inline comment\n"
	                              "pool_size = 2048\n"
	                              "spin_us = 5\n"
	                              "tick_us = 500\n"
	                              "pin_workers = no\n"
	                              "[backend]\n"
	                              "name = gen\n"
	                              "[gen]\n"
	                              "rate = 20000\n"
	                              "duration = 3\n"
	                              "producers = 2\n"
	                              "types = auth.open, exec ,notify.close\n"
	                              "stall_every = 1000\n"
	                              "stall_ms = 1500\n"
	                              "deny_every = 7\n"
	                              "seed = 18446744073709551615\n"
	                              "short_every = 10\n"
	                              "short_ms = 30\n"
	                              "[auth.open]\n"
	                              "default = deny\n"
	                              "margin_fraction = 0.25\n"
	                              "margin_floor_ms = 60\n"
	                              "margin_ceiling_ms = 900\n"
	                              "budget_ms = 2000\n");
	struct vd_conf c, def;
	char err[512];

	vd_conf_init(&c);
	vd_conf_init(&def);
	cr_assert_eq(vd_conf_load(&c, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.pipe.workers, 2);
	cr_assert_eq(c.pipe.ring_size, 4096);
	cr_assert_eq(c.pipe.pool_size, 2048);
	cr_assert_eq(c.pipe.spin_ns, 5000);
	cr_assert_eq(c.pipe.tick_ns, 500000);
	cr_assert_eq(c.pipe.pin_workers, false);
	cr_assert_str_eq(c.backend, "gen");
	cr_assert_eq(c.gen.rate, 20000);
	cr_assert_eq(c.gen.duration_s, 3);
	cr_assert_eq(c.gen.producers, 2);
	cr_assert_eq(c.gen.types,
	    (1u << VD_AUTH_OPEN) | (1u << VD_AUTH_EXEC) |
	        (1u << VD_NOTIFY_CLOSE));
	cr_assert_eq(c.gen.stall_every, 1000);
	cr_assert_eq(c.gen.stall_ms, 1500);
	cr_assert_eq(c.gen.deny_every, 7);
	cr_assert_eq(c.gen.seed, UINT64_MAX);
	cr_assert_eq(c.gen.short_every, 10);
	cr_assert_eq(c.gen.short_ms, 30);
	cr_assert_eq(c.pipe.types[VD_AUTH_OPEN].default_verdict, VD_DENY);
	cr_assert_float_eq(
	    c.pipe.types[VD_AUTH_OPEN].margin_fraction, 0.25, 1e-12);
	cr_assert_eq(
	    c.pipe.types[VD_AUTH_OPEN].margin_floor_ns, 60 * NS_PER_MS);
	cr_assert_eq(
	    c.pipe.types[VD_AUTH_OPEN].margin_ceiling_ns, 900 * NS_PER_MS);
	cr_assert_eq(c.pipe.types[VD_AUTH_OPEN].budget_ns, 2000 * NS_PER_MS);
	/* Untouched types keep the defaults. */
	cr_assert_eq(
	    memcmp(&c.pipe.types[VD_AUTH_EXEC], &def.pipe.types[VD_AUTH_EXEC],
	        sizeof(struct vd_type_config)),
	    0);
	cr_assert_eq(vd_conf_check(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.pipe.multi_producer, "two producers need multi_producer");
}

Test(config, empty_file_keeps_defaults)
{
	const char *path = write_file("");
	struct vd_conf c, def;
	char err[256];

	vd_conf_init(&c);
	vd_conf_init(&def);
	cr_assert_eq(vd_conf_load(&c, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(memcmp(&c, &def, sizeof(c)), 0);
#ifdef __linux__
	/* The default backend, fanotify, needs something to mark. */
	cr_assert_str_eq(c.backend, "fanotify");
	cr_assert_eq(vd_conf_check(&c, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "[fanotify] paths"), "%s", err);
	cr_assert_eq(
	    vd_conf_set_arg(&c, "fanotify.paths=/srv/a", err, sizeof(err)), 0,
	    "%s", err);
#endif
	cr_assert_eq(vd_conf_check(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_not(c.pipe.multi_producer);
}

Test(config, fanotify_settings)
{
	char err[256], buf[VD_CONF_PATHS_MAX];
	const char *marks[8];
	struct vd_conf c;

	vd_conf_init(&c);
	cr_assert_eq(vd_conf_set_arg(&c, "fanotify.paths=/srv/a:/home/b c", err,
	                 sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(vd_conf_fan_paths(&c, buf, sizeof(buf), marks, 8), 2);
	cr_assert_str_eq(marks[0], "/srv/a");
	cr_assert_str_eq(marks[1], "/home/b c");
	cr_assert_eq(
	    vd_conf_set_arg(&c, "fanotify.mark=filesystem", err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(c.fan.mark, VD_FAN_MARK_FILESYSTEM);
	cr_assert_eq(
	    vd_conf_set_arg(&c, "fanotify.ignore_max=0", err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(c.fan.ignore_max, 0);

	/* Relative, empty and doubled separators are refused, and the
	 * value in force stays. */
	cr_assert_eq(
	    vd_conf_set_arg(&c, "fanotify.paths=srv", err, sizeof(err)),
	    -EINVAL);
	cr_assert_not_null(strstr(err, "absolute paths"), "%s", err);
	cr_assert_eq(
	    vd_conf_set_arg(&c, "fanotify.paths=/a::/b", err, sizeof(err)),
	    -EINVAL);
	cr_assert_eq(
	    vd_conf_set_arg(&c, "fanotify.paths=/a:", err, sizeof(err)),
	    -EINVAL);
	cr_assert_str_eq(c.fan.paths, "/srv/a:/home/b c");
	cr_assert_eq(
	    vd_conf_set_arg(&c, "fanotify.mark=recursive", err, sizeof(err)),
	    -EINVAL);
	cr_assert_not_null(
	    strstr(err, "directory, mount or filesystem"), "%s", err);
	cr_assert_eq(
	    vd_conf_set_arg(&c, "fanotify.proc_cache=1000", err, sizeof(err)),
	    -EINVAL);

	/* A test hook's name is a name, not a path. */
	cr_assert_eq(
	    vd_conf_set_arg(&c, "test.stall_name=a/b", err, sizeof(err)),
	    -EINVAL);
	cr_assert_eq(
	    vd_conf_set_arg(&c, "test.stall_name=slow.txt", err, sizeof(err)),
	    0, "%s", err);

	/* No permission type left to answer. */
	cr_assert_eq(vd_conf_set_arg(
	                 &c, "fanotify.types=notify.close", err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(vd_conf_check(&c, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "no permission event"), "%s", err);
}

/* "[fanotify]\npaths = " and n paths of len bytes each, the k-th (from 1)
 * of klen bytes, or relative when klen is 0; malloc'ed. */
static char *
paths_text(const char *head, unsigned n, size_t len, unsigned k, size_t klen)
{
	size_t cap = strlen(head) + (size_t)n * (len + klen + 2) + 2, o;
	char *text = malloc(cap);

	cr_assert_not_null(text);
	o = (size_t)snprintf(text, cap, "%s", head);
	for (unsigned i = 1; i <= n; i++) {
		size_t l = i == k ? klen : len;

		if (i > 1)
			text[o++] = ':';
		if (i == k && klen == 0) {
			memcpy(text + o, "srv", 3);
			o += 3;
			continue;
		}
		text[o] = '/';
		memset(text + o + 1, 'a' + (char)(i % 26), l - 1);
		o += l;
	}
	text[o++] = '\n';
	text[o] = '\0';
	return text;
}

/* The documented most: 64 paths of up to 1023 bytes, on one line. */
Test(config, fanotify_paths_up_to_64)
{
	const char *marks[VD_FAN_MARKS_MAX + 1], *path;
	char err[512], *text, *buf;
	struct vd_conf c;
	size_t n;

	cr_assert_not_null(buf = malloc(VD_CONF_PATHS_MAX));
	text = paths_text("[fanotify]\nmark = mount\npaths = ", 64, 1023, 0, 0);
	path = write_file(text);
	free(text);
	vd_conf_init(&c);
	cr_assert_eq(vd_conf_load(&c, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.fan.mark, VD_FAN_MARK_MOUNT);
	n = vd_conf_fan_paths(
	    &c, buf, VD_CONF_PATHS_MAX, marks, VD_FAN_MARKS_MAX + 1);
	cr_assert_eq(n, 64);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(strlen(marks[i]), 1023, "path %zu", i + 1);
		cr_assert_eq(marks[i][1], 'a' + (char)((i + 1) % 26));
	}

	/* The same through --set. */
	text = paths_text("fanotify.paths=", 64, 1023, 0, 0);
	text[strlen(text) - 1] = '\0';
	vd_conf_init(&c);
	cr_assert_eq(vd_conf_set_arg(&c, text, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(strlen(c.fan.paths), VD_CONF_PATHS_MAX - 1);
	free(text);

	/* One more path, one more byte, a relative path: each is named. */
	text = paths_text("[fanotify]\npaths = ", 65, 2, 0, 0);
	expect_error(text, 0, 2, "[fanotify] paths: more than 64 paths", NULL);
	free(text);
	text = paths_text("[fanotify]\n\npaths = ", 64, 1023, 3, 1024);
	expect_error(text, 0, 3,
	    "[fanotify] paths: path 3 is 1024 bytes long, more than 1023",
	    NULL);
	free(text);
	text = paths_text("[fanotify]\npaths = ", 4, 10, 2, 0);
	expect_error(
	    text, 0, 2, "expected absolute paths", "\"srv\" as path 2");
	free(text);
	free(buf);
}

Test(config, bom_crlf_and_indented_lines)
{
	/* An indented line is a line of its own, not a continuation. */
	const char *path = write_file("\xef\xbb\xbf[pipeline]\r\n"
	                              "workers = 3\r\n"
	                              "    ring_size = 64\r\n"
	                              "\tpool_size = 128\n");
	struct vd_conf c;
	char err[256];

	vd_conf_init(&c);
	cr_assert_eq(vd_conf_load(&c, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.pipe.workers, 3);
	cr_assert_eq(c.pipe.ring_size, 64);
	cr_assert_eq(c.pipe.pool_size, 128);
}

Test(config, type_groups)
{
	const char *path = write_file("[gen]\ntypes = all\n");
	struct vd_conf c;
	char err[256];

	vd_conf_init(&c);
	cr_assert_eq(vd_conf_load(&c, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.gen.types, (1u << VD_EVENT_TYPE_COUNT) - 1);
	cr_assert_eq(
	    vd_conf_set(&c, "gen", "types", "notify", err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(c.gen.types,
	    ((1u << VD_EVENT_TYPE_COUNT) - 1) &
	        ~((1u << VD_NOTIFY_TYPE_FIRST) - 1));
}

Test(config, unknown_key)
{
	expect_error("[pipeline]\nworkers = 1\nwrokers = 2\n", 0, 3,
	    "[pipeline] wrokers: unknown key", "workers");
}

Test(config, unknown_section)
{
	expect_error("[pipeline]\nworkers = 1\n[pipline]\n", 0, 3,
	    "unknown section [pipline]", NULL);
}

Test(config, notify_type_section)
{
	expect_error("[notify.close]\n", 0, 1, "NOTIFY", NULL);
}

Test(config, key_outside_section)
{
	expect_error("# top\nworkers = 1\n", 0, 2, "outside any section", NULL);
}

Test(config, syntax_error)
{
	expect_error("[gen]\nrate = 5\nthis line has no equals sign\n", 0, 3,
	    "syntax error", NULL);
	expect_error("[gen\nrate = 5\n", 0, 1, "']'", NULL);
}

Test(config, not_a_number)
{
	expect_error("[gen]\nrate = 12abc\n", 0, 2,
	    "[gen] rate: expected a number of events per second from 1 to "
	    "10000000",
	    "got \"12abc\"");
	expect_error("[gen]\nrate = 0x10\n", 0, 2, "got \"0x10\"", NULL);
	expect_error("[gen]\nrate = 1 000\n", 0, 2, "got \"1 000\"", NULL);
	expect_error("[gen]\nrate =\n", 0, 2, "got \"\"", NULL);
	expect_error("[gen]\nrate = +5\n", 0, 2, "got \"+5\"", NULL);
}

Test(config, negative)
{
	expect_error("[gen]\n\nrate = -5\n", 0, 3, "[gen] rate", "got \"-5\"");
	expect_error("[auth.open]\nbudget_ms = -1\n", 0, 2,
	    "[auth.open] budget_ms", NULL);
	expect_error("[auth.open]\nmargin_fraction = -0.1\n", 0, 2,
	    "margin_fraction", NULL);
}

Test(config, out_of_range)
{
	expect_error("[pipeline]\nworkers = 65\n", 0, 2,
	    "[pipeline] workers: expected a number of workers from 0 to 64",
	    "got \"65\"");
	expect_error("[gen]\nrate = 0\n", 0, 2, "from 1 to", NULL);
	expect_error(
	    "[gen]\nproducers = 100000\n", 0, 2, "[gen] producers", NULL);
	/* Past UINT64_MAX: strtoull's ERANGE, not a wrap. */
	expect_error(
	    "[gen]\nseed = 18446744073709551616\n", 0, 2, "[gen] seed", NULL);
	expect_error("[gen]\nstall_every = 99999999999999999999999\n", 0, 2,
	    "[gen] stall_every", NULL);
	expect_error("[auth.exec]\nmargin_fraction = 1\n", 0, 2,
	    "margin_fraction", NULL);
	expect_error("[auth.exec]\nmargin_fraction = 1e-1\n", 0, 2,
	    "got \"1e-1\"", NULL);
	expect_error(
	    "[auth.exec]\nmargin_fraction = nan\n", 0, 2, "got \"nan\"", NULL);
	expect_error(
	    "[auth.exec]\nmargin_fraction = .5\n", 0, 2, "got \".5\"", NULL);
	expect_error("[sim]\ntime_scale = 0.0001\n", 0, 2,
	    "[sim] time_scale: expected a factor from 0.001 to 1 (such as "
	    "0.01)",
	    NULL);
}

Test(config, ring_size_not_a_power_of_two)
{
	char err[512], want[256];
	struct vd_conf c;
	const char *path = write_file("[pipeline]\nring_size = 1000\n");

	vd_conf_init(&c);
	cr_assert_eq(vd_conf_load(&c, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want),
	    "%s:2: [pipeline] ring_size: expected a "
	    "power of two from 2 to 1048576, got \"1000\"",
	    path);
	cr_assert_str_eq(err, want);
	expect_error("[pipeline]\nring_size = 1\n", 0, 2, "got \"1\"", NULL);
	expect_error("[pipeline]\nring_size = 0\n", 0, 2, "got \"0\"", NULL);
}

Test(config, bad_verdict_and_bool_words)
{
	expect_error("[auth.open]\ndefault = maybe\n", 0, 2,
	    "[auth.open] default: expected allow or deny", "got \"maybe\"");
	expect_error(
	    "[auth.open]\ndefault = ALLOW\n", 0, 2, "allow or deny", NULL);
	expect_error("[pipeline]\npin_workers = 2\n", 0, 2, "yes or no", NULL);
	expect_error("[backend]\nname = inotify\n", 0, 2,
	    "[backend] name: expected a backend name (fanotify, es, sim or "
	    "gen)",
	    "got \"inotify\"");
	expect_error("[gen]\ntypes = auth.open, auth.bogus\n", 0, 2,
	    "[gen] types", "\"auth.bogus\"");
	expect_error("[gen]\ntypes = auth.open,,notify.close\n", 0, 2,
	    "[gen] types", NULL);
}

Test(config, invalid_utf8)
{
	expect_error("[gen]\nseed = 1\n; caf\xc3\xa9 is fine\nrate = 5 \xff\n",
	    0, 4, "invalid UTF-8", "0xff");
	/* An overlong '/' and a UTF-16 surrogate are invalid too. */
	expect_error("[gen]\n; \xc0\xaf\n", 0, 2, "invalid UTF-8", NULL);
	expect_error("[gen]\n; \xed\xa0\x80\n", 0, 2, "invalid UTF-8", NULL);
	/* Cut short by the end of the line. */
	expect_error("[gen]\n; \xe2\x82\n", 0, 2, "invalid UTF-8", NULL);
}

Test(config, control_characters)
{
	expect_error(
	    "[gen]\nrate = 1\x1b[2J\n", 0, 2, "control character", "0x1b");
	expect_error("[gen]\nrate = 1\rx\n", 0, 2, "control character", NULL);
	expect_error("[gen]\nrate\x7f = 1\n", 0, 2, "control character", NULL);
	expect_error("[gen]\nrate = 1\0002\n", 17, 2, "NUL", NULL);
}

Test(config, weird_value_is_quoted_safely)
{
	char err[512];
	struct vd_conf c;

	vd_conf_init(&c);
	cr_assert_eq(
	    vd_conf_set(&c, "gen", "rate", "1\x1b]0;x", err, sizeof(err)),
	    -EINVAL);
	cr_assert_null(strchr(err, '\x1b'), "escape echoed: %s", err);
	cr_assert_not_null(strstr(err, "\\x1b"), "%s", err);
}

/* A line is as long as its value needs; the value's limit is the one. */
Test(config, long_lines)
{
	char text[3000], name[1100];
	struct vd_conf c;
	char err[512];
	const char *path;

	memset(name, 'n', sizeof(name));
	name[0] = '/';
	name[1023] = '\0';
	snprintf(text, sizeof(text),
	    "; %0300d\n[policy]\nfile = %s   ; %0300d\n[gen]\nrate = 5\n", 0,
	    name, 0);
	path = write_file(text);
	vd_conf_init(&c);
	cr_assert_eq(vd_conf_load(&c, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(c.policy, name);
	cr_assert_eq(c.gen.rate, 5);

	name[1023] = 'n';
	name[1024] = '\0';
	snprintf(
	    text, sizeof(text), "[gen]\nrate = 5\n[policy]\nfile = %s\n", name);
	expect_error(text, 0, 4,
	    "[policy] file: expected a file name of 1 to "
	    "1023 bytes",
	    NULL);
}

Test(config, key_set_twice)
{
	expect_error("[gen]\nrate = 5\n[pipeline]\n[gen]\nrate = 6\n", 0, 5,
	    "set twice (first on line 2)", NULL);
	expect_error("[auth.open]\ndefault = deny\n[open]\ndefault = allow\n",
	    0, 4, "set twice", NULL);
}

Test(config, missing_file)
{
	char err[256], path[160];
	struct vd_conf c;

	snprintf(path, sizeof(path), "%s/does-not-exist.conf", tmpdir);
	vd_conf_init(&c);
	cr_assert_eq(vd_conf_load(&c, path, err, sizeof(err)), -ENOENT);
	cr_assert_not_null(strstr(err, path), "%s", err);
}

/* Expects path refused with rc and exactly "path: why". */
static void
expect_unreadable(const char *path, int rc, const char *why)
{
	char err[512], want[512];
	struct vd_conf c, before;

	vd_conf_init(&c);
	before = c;
	cr_assert_eq(vd_conf_load(&c, path, err, sizeof(err)), rc, "%s", err);
	snprintf(want, sizeof(want), "%s: %s", path, why);
	cr_assert_str_eq(err, want);
	cr_assert_eq(memcmp(&c, &before, sizeof(c)), 0);
}

/* A FIFO or a device is refused at once (the timeout fails a reader that
 * blocks on the FIFO, or reads /dev/zero until memory runs out), and so is
 * a file over 1 MiB. */
Test(config, files_that_are_not_configurations, .timeout = 10)
{
	char *fifo;
	const char *path;
	struct vd_conf c;
	char err[512];

	cr_assert_lt(npaths, sizeof(paths) / sizeof(paths[0]));
	fifo = paths[npaths++];
	snprintf(fifo, sizeof(paths[0]), "%s/fifo.conf", tmpdir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	expect_unreadable(fifo, -EINVAL, "not a regular file (a FIFO)");
	expect_unreadable(
	    "/dev/zero", -EINVAL, "not a regular file (a character device)");
	expect_unreadable(
	    tmpdir, -EISDIR, "is a directory, not a regular file");

	/* 1 MiB is the most. */
	path = write_file("[gen]\nrate = 5\n");
	cr_assert_eq(truncate(path, VD_CONF_FILE_MAX), 0);
	vd_conf_init(&c);
	cr_assert_eq(vd_conf_load(&c, path, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, ":3: unexpected NUL byte"), "%s", err);
	cr_assert_eq(truncate(path, VD_CONF_FILE_MAX + 1), 0);
	expect_unreadable(path, -EFBIG, "larger than 1 MiB");
}

Test(config, failed_load_leaves_config_unchanged)
{
	const char *path =
	    write_file("[pipeline]\nworkers = 1\nring_size = 3\n");
	struct vd_conf c, before;
	char err[256];

	vd_conf_init(&c);
	c.pipe.workers = 3;
	before = c;
	cr_assert_eq(vd_conf_load(&c, path, err, sizeof(err)), -EINVAL);
	cr_assert_eq(memcmp(&c, &before, sizeof(c)), 0);
}

Test(config, command_line_beats_file)
{
	const char *path = write_file("[pipeline]\nworkers = 2\n"
	                              "[auth.open]\ndefault = allow\n");
	struct vd_conf c;
	char err[256];

	vd_conf_init(&c);
	cr_assert_eq(vd_conf_load(&c, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.pipe.workers, 2);
	/* The order main() uses: file first, then the command line. */
	cr_assert_eq(
	    vd_conf_set(&c, "pipeline", "workers", "3", err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(
	    vd_conf_set_arg(&c, "auth.open.default=deny", err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(
	    vd_conf_set_arg(&c, "exec.budget_ms=250", err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(c.pipe.workers, 3);
	cr_assert_eq(c.pipe.types[VD_AUTH_OPEN].default_verdict, VD_DENY);
	cr_assert_eq(c.pipe.types[VD_AUTH_EXEC].budget_ns, 250 * NS_PER_MS);
}

Test(config, set_arg_errors)
{
	struct vd_conf c;
	char err[256];

	vd_conf_init(&c);
	cr_assert_eq(
	    vd_conf_set_arg(&c, "pipeline.workers", err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "SECTION.KEY=VALUE"), "%s", err);
	cr_assert_eq(
	    vd_conf_set_arg(&c, "workers=2", err, sizeof(err)), -EINVAL);
	cr_assert_eq(
	    vd_conf_set_arg(&c, "pipeline.=2", err, sizeof(err)), -EINVAL);
	cr_assert_eq(
	    vd_conf_set_arg(&c, "pipeline.bogus=2", err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "unknown key"), "%s", err);
	cr_assert_eq(
	    vd_conf_set_arg(&c, "auth.nope.default=deny", err, sizeof(err)),
	    -EINVAL);
	cr_assert_not_null(strstr(err, "unknown section"), "%s", err);
}

Test(config, whole_check)
{
	struct vd_conf c;
	char err[256];

	/* A floor below one timer tick is caught by vd_config_check. */
	vd_conf_init(&c);
	cr_assert_eq(vd_conf_set_arg(
	                 &c, "auth.open.margin_floor_ms=0", err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(vd_conf_check(&c, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "auth.open"), "%s", err);

	/* More events than the generator can judge. */
	vd_conf_init(&c);
	cr_assert_eq(vd_conf_set_arg(&c, "backend.name=gen", err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(vd_conf_set_arg(&c, "gen.rate=10000000", err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(
	    vd_conf_set_arg(&c, "gen.duration=86400", err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(vd_conf_check(&c, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "limit"), "%s", err);

	vd_conf_init(&c);
	cr_assert_eq(vd_conf_set_arg(&c, "backend.name=gen", err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(vd_conf_set_arg(&c, "gen.rate=2", err, sizeof(err)), 0);
	cr_assert_eq(
	    vd_conf_set_arg(&c, "gen.producers=3", err, sizeof(err)), 0);
	cr_assert_eq(vd_conf_check(&c, err, sizeof(err)), -EINVAL);
}

Test(config, reload_diff)
{
	struct vd_conf a, b;
	char names[256], err[256];

	vd_conf_init(&a);
	vd_conf_init(&b);
	cr_assert_eq(vd_conf_diff(&a, &b, true, names, sizeof(names)), 0);
	cr_assert_eq(vd_conf_diff(&a, &b, false, names, sizeof(names)), 0);
	cr_assert_str_eq(names, "");
	cr_assert_eq(
	    vd_conf_set_arg(&b, "gen.stall_every=10", err, sizeof(err)), 0);
	cr_assert_eq(
	    vd_conf_set_arg(&b, "auth.open.default=deny", err, sizeof(err)), 0);
	cr_assert_eq(
	    vd_conf_set_arg(&b, "pipeline.ring_size=64", err, sizeof(err)), 0);
	cr_assert_eq(vd_conf_diff(&a, &b, true, names, sizeof(names)), 2);
	cr_assert_str_eq(names, "gen.stall_every, auth.open.default");
	cr_assert_eq(vd_conf_diff(&a, &b, false, names, sizeof(names)), 1);
	cr_assert_str_eq(names, "pipeline.ring_size");
}
