/*
 * test_log.c — the daemon's log lines: plain on a terminal or a file,
 * with sd-daemon priority prefixes when stderr is the journal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "daemon/log.h"

static char path[64];
static int saved_stderr = -1;

/* stderr goes to a fresh file, until captured() reads it back. */
static void
setup(void)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/test_log.XXXXXX");
	cr_assert_geq(fd = mkstemp(path), 0);
	cr_assert_geq(saved_stderr = dup(STDERR_FILENO), 0);
	cr_assert_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	unsetenv("JOURNAL_STREAM");
}

static void
teardown(void)
{
	if (saved_stderr >= 0) {
		dup2(saved_stderr, STDERR_FILENO);
		close(saved_stderr);
		saved_stderr = -1;
	}
	unlink(path);
}

TestSuite(log, .init = setup, .fini = teardown);

static const char *
captured(void)
{
	static char buf[4096];
	FILE *fp;
	size_t n;

	cr_assert_not_null(fp = fopen(path, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* JOURNAL_STREAM naming stderr, or (other) another inode. */
static void
set_journal(int other)
{
	struct stat st;
	char v[64];

	cr_assert_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino + (other ? 1 : 0));
	cr_assert_eq(setenv("JOURNAL_STREAM", v, 1), 0);
}

static void
log_each(void)
{
	vd_log_info("ready, %d marks", 3);
	vd_log_warnx("odd");
	errno = ENOENT;
	vd_log_warn("open %s", "x");
	vd_log_errx("fatal");
	errno = EACCES;
	vd_log_err("bind");
	cr_assert_eq(errno, EACCES, "errno survives");
	vd_log(VD_LOG_INFO, "generic");
}

Test(log, plain_without_the_journal)
{
	log_each();
	cr_assert_str_eq(captured(),
	    "verdictd: ready, 3 marks\n"
	    "verdictd: odd\n"
	    "verdictd: open x: No such file or directory\n"
	    "verdictd: fatal\n"
	    "verdictd: bind: Permission denied\n"
	    "verdictd: generic\n");
}

Test(log, priority_prefixes_on_the_journal)
{
	set_journal(0);
	log_each();
	cr_assert_str_eq(captured(),
	    "<6>verdictd: ready, 3 marks\n"
	    "<4>verdictd: odd\n"
	    "<4>verdictd: open x: No such file or directory\n"
	    "<3>verdictd: fatal\n"
	    "<3>verdictd: bind: Permission denied\n"
	    "<6>verdictd: generic\n");
}

/* A child that inherited JOURNAL_STREAM with stderr elsewhere. */
Test(log, plain_when_the_journal_is_another_stream)
{
	set_journal(1);
	vd_log_info("hello");
	cr_assert_str_eq(captured(), "verdictd: hello\n");
	cr_assert_eq(setenv("JOURNAL_STREAM", "garbage", 1), 0);
	vd_log_info("hello");
	cr_assert_str_eq(captured(), "verdictd: hello\nverdictd: hello\n");
}

/* A long message is cut, and still ends the line. */
Test(log, long_lines_are_cut_and_terminated)
{
	static char big[3000];
	const char *out;

	set_journal(0);
	memset(big, 'a', sizeof(big) - 1);
	vd_log_warnx("%s", big);
	out = captured();
	cr_assert_eq(strlen(out), 1023, "%zu", strlen(out));
	cr_assert_eq(strncmp(out, "<4>verdictd: aaa", 16), 0);
	cr_assert_eq(out[1022], '\n');
}
