/*
 * test_readfile.c — vd_file_read: a regular file is read whole; a FIFO, a
 * device, a directory and a file over the limit are refused at once (each
 * test has a timeout, so that a reader that blocks fails rather than hangs).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "util/readfile.h"

static char dir[64], file[128], fifo[128];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_readfile.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/file", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
}

static void
teardown(void)
{
	unlink(file);
	unlink(fifo);
	rmdir(dir);
}

TestSuite(readfile, .init = setup, .fini = teardown, .timeout = 10);

static void
write_n(const char *path, char c, size_t n)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s", path);
	for (size_t i = 0; i < n; i++)
		cr_assert_neq(fputc(c, f), EOF);
	cr_assert_eq(fclose(f), 0);
}

/* Expects vd_file_read(path, max) to fail with rc and a reason saying
 * what. */
static void
expect_refused(const char *path, size_t max, int rc, const char *what)
{
	char err[128] = "", *buf = (char *)1;
	size_t len = 1;

	cr_assert_eq(vd_file_read(path, max, &buf, &len, err, sizeof(err)), rc,
	    "%s: %s", path, err);
	cr_assert_null(buf);
	cr_assert_eq(len, 0);
	cr_assert_not_null(strstr(err, what), "\"%s\" lacks \"%s\"", err, what);
}

Test(readfile, a_regular_file_is_read_whole)
{
	char err[128], *buf;
	size_t len;

	write_n(file, 'x', 5000);
	cr_assert_eq(vd_file_read(file, 5000, &buf, &len, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(len, 5000);
	cr_assert_eq(strlen(buf), 5000, "not NUL-terminated");
	cr_assert_eq(buf[4999], 'x');
	free(buf);

	write_n(file, 'x', 0);
	cr_assert_eq(
	    vd_file_read(file, 10, &buf, &len, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(len, 0);
	cr_assert_str_eq(buf, "");
	free(buf);
}

Test(readfile, a_file_over_the_limit_is_refused)
{
	write_n(file, 'x', 1025);
	expect_refused(file, 1024, -EFBIG, "larger than 1 KiB");
	expect_refused(file, 1000, -EFBIG, "larger than 1000 bytes");
	/* By its size, before any byte is read. */
	cr_assert_eq(truncate(file, (off_t)(3 * VD_FILE_MIB) + 1), 0);
	expect_refused(file, 3 * VD_FILE_MIB, -EFBIG, "larger than 3 MiB");
}

#ifdef __linux__
Test(readfile, a_file_whose_size_says_nothing_is_bounded_while_read)
{
	char err[128], *buf;
	size_t len;

	/* A /proc file: a regular file of size 0 that has contents. */
	cr_assert_eq(vd_file_read("/proc/self/status", VD_FILE_MIB, &buf, &len,
	                 err, sizeof(err)),
	    0, "%s", err);
	cr_assert_gt(len, 16);
	cr_assert_not_null(strstr(buf, "Name:"));
	free(buf);
	expect_refused("/proc/self/status", 16, -EFBIG, "larger than 16 bytes");
}
#endif

Test(readfile, a_fifo_is_refused_without_blocking)
{
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	expect_refused(fifo, VD_FILE_MIB, -EINVAL, "not a regular file");
}

Test(readfile, a_device_is_refused)
{
	expect_refused("/dev/zero", VD_FILE_MIB, -EINVAL, "not a regular file");
	expect_refused("/dev/null", VD_FILE_MIB, -EINVAL, "not a regular file");
}

Test(readfile, a_directory_or_a_missing_file_is_refused)
{
	expect_refused(dir, VD_FILE_MIB, -EISDIR, "directory");
	expect_refused(file, VD_FILE_MIB, -ENOENT, strerror(ENOENT));
}
