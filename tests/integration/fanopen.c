/*
 * fanopen.c — the opener of the fanotify integration test: opens (or
 * executes) files from several processes and counts how each attempt
 * ended, so the test can compare what the openers saw with the daemon's
 * books.
 *
 * usage: fanopen [-tx] [-k procs] [-n opens] [-u file] file...
 *   -k procs  child processes, each doing the opens (default 1)
 *   -n opens  opens per child, cycling over the files (default 1)
 *   -u file   after its opens, each child goes on until file exists, so
 *             a test can keep the load up for as long as it needs
 *   -x        fork and execve each file (no arguments) instead of open
 *   -t        print the longest single attempt to stderr, "max_us=N"
 * Prints "ok=N eperm=N other=N"; exits 0 when other is 0, 1 otherwise,
 * 2 on a usage error.  With -x, EACCES counts with EPERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* One child's books, sent to the parent in one write (< PIPE_BUF). */
struct tally {
	uint64_t ok, eperm, other;
	uint64_t max_us;
	int first_errno; /* the first errno counted in other, 0: none */
	int first_file;  /* the file it came with */
};

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: fanopen [-tx] [-k procs] [-n opens] [-u file] file...\n");
	exit(2);
}

static unsigned long
number(const char *s, unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > max)
		usage();
	return v;
}

/* Runs the file in a grandchild; 0 when the execve succeeded, else its
 * errno (reported through a close-on-exec pipe). */
static int
try_exec(const char *file)
{
	char *const argv[] = { (char *)file, NULL };
	int fds[2], err = 0, status;
	ssize_t n;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return errno;
	if ((pid = fork()) < 0) {
		err = errno;
		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (pid == 0) {
		close(fds[0]);
		execve(file, argv, environ);
		err = errno;
		if (write(fds[1], &err, sizeof(err)) != sizeof(err))
			(void)0;
		_exit(127);
	}
	close(fds[1]);
	do
		n = read(fds[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(fds[0]);
	if (n != sizeof(err))
		err = 0; /* the pipe closed on exec: it ran */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return err;
}

/* With -u, after a child's opens: true once `until` exists (looked for
 * every 16th open); without it, at once. */
static bool
done(const char *until, unsigned long i)
{
	return until == NULL || (i % 16 == 0 && access(until, F_OK) == 0);
}

/* One child: its opens (and more, with -u), then its tally down the
 * pipe. */
static void
child(int wfd, unsigned idx, unsigned long opens, const char *until, bool exec,
    char **files, int nfiles)
{
	struct tally t;
	unsigned long i;

	memset(&t, 0, sizeof(t));
	for (i = 0; i < opens || !done(until, i); i++) {
		/* Children start at different files: concurrent opens of
		 * different inodes as well as of the same ones. */
		int f = (int)((idx + i) % (unsigned long)nfiles);
		uint64_t t0 = now_us(), dt;
		int err = 0, fd;

		if (exec) {
			err = try_exec(files[f]);
		} else if ((fd = open(files[f], O_RDONLY | O_CLOEXEC)) < 0) {
			err = errno;
		} else {
			close(fd);
		}
		dt = now_us() - t0;
		if (dt > t.max_us)
			t.max_us = dt;
		if (err == 0) {
			t.ok++;
		} else if (err == EPERM || (exec && err == EACCES)) {
			t.eperm++;
		} else {
			if (t.other++ == 0) {
				t.first_errno = err;
				t.first_file = f;
			}
		}
	}
	if (write(wfd, &t, sizeof(t)) != sizeof(t))
		_exit(1);
	_exit(0);
}

int
main(int argc, char **argv)
{
	unsigned long procs = 1, opens = 1, i, got = 0, started = 0;
	uint64_t ok = 0, eperm = 0, other = 0, max_us = 0;
	bool exec = false, timing = false;
	const char *until = NULL;
	int fds[2], ch, nfiles, status, first_errno = 0, first_file = 0;
	struct tally t;
	ssize_t n;
	pid_t pid;

	while ((ch = getopt(argc, argv, "k:n:tu:x")) != -1) {
		switch (ch) {
		case 'k':
			procs = number(optarg, 1024);
			break;
		case 'n':
			opens = number(optarg, 100000000);
			break;
		case 't':
			timing = true;
			break;
		case 'u':
			until = optarg;
			break;
		case 'x':
			exec = true;
			break;
		default:
			usage();
		}
	}
	argv += optind;
	if ((nfiles = argc - optind) < 1)
		usage();
	if (pipe2(fds, O_CLOEXEC) != 0) {
		perror("fanopen: pipe");
		return 1;
	}
	for (i = 0; i < procs; i++) {
		if ((pid = fork()) < 0) {
			perror("fanopen: fork");
			/* The ones started still report; the rest are lost. */
			other += (procs - i) * opens;
			break;
		}
		if (pid == 0) {
			close(fds[0]);
			child(fds[1], (unsigned)i, opens, until, exec, argv,
			    nfiles);
		}
		started++;
	}
	close(fds[1]);
	for (;;) {
		n = read(fds[0], &t, sizeof(t));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(t))
			break;
		got++;
		ok += t.ok;
		eperm += t.eperm;
		other += t.other;
		if (t.max_us > max_us)
			max_us = t.max_us;
		if (t.other > 0 && first_errno == 0) {
			first_errno = t.first_errno;
			first_file = t.first_file;
		}
	}
	close(fds[0]);
	while (wait(&status) > 0 || errno == EINTR)
		;
	if (got < started) {
		/* A child died before it reported: its opens are unknown. */
		fprintf(stderr, "fanopen: %lu of %lu children did not report\n",
		    started - got, started);
		other += (started - got) * opens;
	}
	if (first_errno != 0)
		fprintf(stderr, "fanopen: %s: %s\n", argv[first_file],
		    strerror(first_errno));
	printf("ok=%" PRIu64 " eperm=%" PRIu64 " other=%" PRIu64 "\n", ok,
	    eperm, other);
	if (timing)
		fprintf(stderr, "max_us=%" PRIu64 "\n", max_us);
	return other == 0 ? 0 : 1;
}
