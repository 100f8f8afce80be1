/*
 * fanotify-bench.c — what a fanotify permission listener costs an open(2).
 *
 * K opener threads (in a child process) open(2) and close(2) 64 small
 * files of a private directory in a loop, each open timed on its own with
 * CLOCK_MONOTONIC, under six listeners, side by side (fanotify-bench(1)
 * has the details), on a tmpfs of the program's own mount namespace:
 *
 *   none             no listener: the floor
 *   minimal          the least a listener can do: one thread reads a
 *                    batch, allows each event, closes its fd
 *   verdictd-park    verdictd's fanotify backend and pipeline as verdictd
 *                    runs them (the reader answers inline), workers
 *                    parking at once (spin_ns 0), no ignore marks, an
 *                    allow-all policy (fapolicyd's rule)
 *   verdictd-paths   the same with a prefix= rule: each event's path read
 *   verdictd-spin    the same with the profile's adaptive spinning (a
 *                    read goes to a worker that is spinning)
 *   verdictd-hop     adaptive spinning, every event to a worker (the
 *                    reader answers none: fanotify.inline = no)
 *   verdictd-ignore  the same with ignore marks: after the first round
 *                    the kernel answers the repeated opens itself
 *   fapolicyd        fapolicyd(8), when installed: permissive, one
 *                    allow-all rule, a process of its own in this
 *                    namespace that watches ramfs mounts: the same
 *                    files on a ramfs of ours, the one ramfs there
 *
 * With --op exec, each thread instead runs a program in a loop
 * (posix_spawn(3) and waitpid(2), each pair timed): a copy of /bin/true
 * on the same filesystem, so every exec is a FAN_OPEN_EXEC_PERM and a
 * FAN_OPEN_PERM event for the listener (see "Openers").
 *
 * Every (listener, K) cell gets a listener of its own, set up before and
 * torn down completely after it, so no cell inherits another's marks,
 * threads or caches.  The opens of a short warm-up are not measured.  The
 * openers run in a child process (see "Openers" below for why).
 *
 * Signals: SIGINT, SIGTERM and SIGHUP are blocked in every thread (the
 * mask is set before the first thread starts) and taken synchronously by
 * the main thread with sigtimedwait(2) while it waits out a cell.  So no
 * thread of the backend ever sees EINTR from a signal of ours, and the
 * run stops between two opens with every listener torn down in order and
 * the directory removed.  Should the process die anyway, the kernel
 * allows whatever its fanotify groups still hold when it closes them.
 *
 * Output: a table and the target checks, or with --json one JSON object
 * per cell and per target on lines of their own.  A missed
 * target does not change the exit status.  Exit 77 when not root or when
 * the kernel offers no fanotify permission events, 2 on a usage error, 1
 * when a listener failed or an open (an exec) did.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <verdict/backend.h>
#include <verdict/pipeline.h>
#include <verdict/policy.h>
#include <verdict/stats.h>
#include <verdict/version.h>

#include "backend/fanotify/fanotify.h"
#include "util/cli.h"

#define NS_PER_S  1000000000ull
#define WARMUP_NS (200 * 1000000ull)

#define NFILES       64          /* files the openers cycle over */
#define OPENERS_MAX  256         /* largest K */
#define NK_MAX       16          /* entries of -k */
#define ROUNDS_MAX   16          /* -r */
#define MINIMAL_BUF  (64 * 1024) /* the minimal listener's read buffer */
#define MINIMAL_MASK (FAN_OPEN_PERM | FAN_EVENT_ON_CHILD)
#define EXEC_PROG    "/bin/true" /* what --op exec copies and runs */

#define EXIT_FAIL 1
#define EXIT_SKIP 77 /* the automake/meson convention for "skipped" */

/* How messages on stderr start. */
#define PROG "fanotify-bench"

/* ------------------------------------------------------------------ */
/* Options and shared state                                            */

enum lkind {
	L_NONE,
	L_MINIMAL,
	L_PARK,
	L_PATHS,
	L_SPIN,
	L_HOP,
	L_IGNORE,
	L_FAPD,
	L_COUNT
};

/* What the openers do: open(2) and close(2) a file, or run a program. */
enum op { OP_OPEN, OP_EXEC };

struct opts {
	enum op op;
	double duration_s;
	unsigned rounds;
	unsigned nk;
	unsigned k[NK_MAX];
	bool run[L_COUNT];
	bool json;
	int hog_cpu; /* -1: no CPU hog */
};

static struct opts opt = {
	.duration_s = 1,
	.rounds = 3,
	.hog_cpu = -1,
};

/* The words of the output: what a measured operation is. */
static const char *
op_name(void)
{
	return opt.op == OP_EXEC ? "exec" : "open";
}

/* The minimal listener's mark mask (and the probe's): with --op exec,
 * exec permission events too, as any listener that guards execs has. */
static uint64_t
minimal_mask(void)
{
	return MINIMAL_MASK | (opt.op == OP_EXEC ? FAN_OPEN_EXEC_PERM : 0);
}

/* --hog: a busy loop pinned to one CPU for the whole run, the child of a
 * process that dies with us (PR_SET_PDEATHSIG) and is killed at exit. */
static pid_t hog_pid = -1;

static void
hog_stop(void)
{
	if (hog_pid > 0) {
		kill(hog_pid, SIGKILL);
		waitpid(hog_pid, NULL, 0);
		hog_pid = -1;
	}
}

static int
hog_start(int cpu)
{
	cpu_set_t one;
	pid_t parent = getpid();

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	hog_pid = fork();
	if (hog_pid < 0) {
		vd_cli_warnx(PROG, "--hog: fork: %s", strerror(errno));
		return -1;
	}
	if (hog_pid == 0) {
		volatile unsigned long spin = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		if (sched_setaffinity(0, sizeof(one), &one) != 0)
			_exit(1);
		/* The bench runs at whatever nice it was given: the hog at
		 * 0, like an ordinary busy process. */
		setpriority(PRIO_PROCESS, 0, 0);
		for (;;)
			spin++;
	}
	return 0;
}

/* The private directory and its files (realpath'd: the policy's prefix
 * must match the path the backend reads back from the event's fd). */
/* A directory of NFILES files, on a filesystem of its own when it can. */
struct fdir {
	char path[PATH_MAX];
	char files[NFILES][PATH_MAX + 8];
	char prog[PATH_MAX + 8]; /* --op exec: the copy of EXEC_PROG */
	bool made;
	bool mounted;   /* its filesystem is mounted on it, in our namespace */
	bool prog_made; /* prog is there */
};

static struct fdir tdir, rdir; /* tmpfs: every listener's; ramfs: fapolicyd's */
#define dir (tdir.path)
/* The files the openers of the current cell open, the program they run. */
static char (*paths)[PATH_MAX + 8];
static const char *prog;

/* SIGINT, SIGTERM, SIGHUP: blocked everywhere, taken by the main thread. */
static sigset_t stopsigs;
static int caught;

/* One (listener, K) cell. */
struct result {
	bool done;
	unsigned k;
	uint64_t opens;  /* measured opens */
	uint64_t errors; /* opens that failed, warm-up included */
	int first_errno; /* 0: an exec whose program failed (first_status) */
	int first_status;
	uint64_t sum_ns;
	uint64_t elapsed_ns;
	uint64_t cpu_ns; /* the listener's CPU time over the measured part */
	struct vd_hist hist;
	/* verdictd cells */
	bool have_fan;
	struct vd_fan_stats fan;
	uint64_t answered_worker;
	uint64_t answered_default; /* timer or stop: the policy never ran */
	uint64_t dropped;
};

/*
 * Each round runs every cell once, in the same order, so the machine's
 * drift (this is a shared VM) touches every listener alike; a cell's
 * line adds its rounds up, and a target is the median of its per-round
 * ratios.
 */
static struct result rounds[ROUNDS_MAX][L_COUNT][NK_MAX];
static struct result results[L_COUNT][NK_MAX]; /* the rounds, merged */
static bool failed; /* a listener or an open failed: exit 1 */

/*
 * Waits ns nanoseconds, or less when a stop signal comes: returns true
 * then (and from then on).
 */
static bool
wait_ns(uint64_t ns)
{
	uint64_t end = vd_clock_ns() + ns, t;
	struct timespec ts;
	int sig;

	while (caught == 0 && (t = vd_clock_ns()) < end) {
		ts.tv_sec = (time_t)((end - t) / NS_PER_S);
		ts.tv_nsec = (long)((end - t) % NS_PER_S);
		sig = sigtimedwait(&stopsigs, NULL, &ts);
		if (sig > 0)
			caught = sig;
		/* -1: EAGAIN (time is up) or EINTR (another signal). */
	}
	return caught != 0;
}

/* Takes a stop signal already pending, without waiting. */
static bool
stop_pending(void)
{
	struct timespec ts = { 0, 0 };
	int sig;

	if (caught == 0 && (sig = sigtimedwait(&stopsigs, NULL, &ts)) > 0)
		caught = sig;
	return caught != 0;
}

static void
remove_fdir(struct fdir *d)
{
	unsigned i;

	if (!d->made)
		return;
	for (i = 0; i < NFILES; i++)
		(void)unlink(d->files[i]);
	if (d->prog_made && unlink(d->prog) == 0)
		d->prog_made = false;
	if (d->mounted && umount2(d->path, MNT_DETACH) == 0)
		d->mounted = false;
	if (rmdir(d->path) != 0)
		vd_cli_warnx(PROG, "rmdir %s: %s", d->path, strerror(errno));
	d->made = false;
}

static void
remove_dir(void)
{
	remove_fdir(&rdir);
	remove_fdir(&tdir);
}

/*
 * Runs the rest of the program in a mount namespace of its own, private
 * (nothing mounted here propagates to the host): the directory becomes a
 * tmpfs mount only this process and its children see, fapolicyd's a
 * ramfs, and its overlays stay here.  Without it (the kernel refuses),
 * the directory is a plain one in /tmp, and fapolicyd is skipped.
 */
static bool private_ns;

static void
enter_private_ns(void)
{
	if (unshare(CLONE_NEWNS) != 0) {
		vd_cli_warnx(PROG,
		    "unshare(CLONE_NEWNS): %s: the directory "
		    "stays on /tmp's filesystem",
		    strerror(errno));
		return;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		/* A namespace that still shares with the host is no use. */
		vd_cli_warnx(PROG, "making / private: %s", strerror(errno));
		return;
	}
	private_ns = true;
}

/* Copies from to to, made with mode; 0, or -1 with errno set. */
static int
copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	ssize_t n;
	int in, out, rc = 0;

	if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			rc = -1;
			break;
		}
	if (n < 0)
		rc = -1;
	close(in);
	if (close(out) != 0)
		rc = -1;
	return rc;
}

/* Makes d in /tmp, with fstype mounted on it when in our namespace (and
 * required: fstype must then be mounted), and its files: NFILES of them,
 * and with --op exec a copy of EXEC_PROG. */
static int
make_fdir(struct fdir *d, const char *fstype, bool required)
{
	char tmpl[] = "/tmp/vd-fbench.XXXXXX";
	char data[512];
	unsigned i;
	int fd;

	if (mkdtemp(tmpl) == NULL) {
		vd_cli_warnx(PROG, "mkdtemp %s: %s", tmpl, strerror(errno));
		return -1;
	}
	if (realpath(tmpl, d->path) == NULL) {
		vd_cli_warnx(PROG, "realpath %s: %s", tmpl, strerror(errno));
		(void)rmdir(tmpl);
		return -1;
	}
	d->made = true;
	if (private_ns &&
	    mount(fstype, d->path, fstype, MS_NOSUID | MS_NODEV, "mode=0755") ==
	        0)
		d->mounted = true;
	else if (required)
		return -1;
	memset(data, 'x', sizeof(data));
	for (i = 0; i < NFILES; i++) {
		snprintf(
		    d->files[i], sizeof(d->files[i]), "%s/f%02u", d->path, i);
		fd = open(
		    d->files[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 ||
		    write(fd, data, sizeof(data)) != (ssize_t)sizeof(data)) {
			vd_cli_warnx(
			    PROG, "%s: %s", d->files[i], strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	}
	if (opt.op != OP_EXEC)
		return 0;
	/* Only the executable is here: its loader and libraries stay on
	 * the host's filesystems, which no listener marks.  Closed before
	 * any exec, so no exec meets ETXTBSY. */
	snprintf(d->prog, sizeof(d->prog), "%s/true", d->path);
	d->prog_made = true;
	if (copy_file(EXEC_PROG, d->prog, 0755) != 0) {
		vd_cli_warnx(PROG, "copying %s to %s: %s", EXEC_PROG, d->prog,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Whether this kernel gives us permission events on the directory at all:
 * a group of the content class and an open-permission mark, at once
 * removed.  Returns 0, or -errno with the failing call in msg.
 */
static int
probe_fanotify(char *msg, size_t msgsz)
{
	int fd, rc = 0;

	fd = fanotify_init(
	    FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(msg, msgsz, "fanotify_init: %s", strerror(errno));
		return rc;
	}
	if (fanotify_mark(fd, FAN_MARK_ADD, minimal_mask(), AT_FDCWD, dir) !=
	    0) {
		rc = -errno;
		snprintf(
		    msg, msgsz, "%s: fanotify_mark: %s", dir, strerror(errno));
	}
	close(fd);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Openers                                                             */

/*
 * The openers run in a child process, forked for each cell while this
 * process has no thread but its main one (before the listener starts): the
 * fanotify backend answers its own process's events at once, without
 * the pipeline (a daemon never waits on itself), so openers in this
 * process would not measure verdictd at all.  A real opener is another
 * process anyway.  Parent and child share one anonymous mapping: the
 * phase, written by the parent, and each opener's counters, written by
 * its thread and read by the parent after the child has exited.
 *
 * With --op exec, an "open" is an exec: the thread posix_spawn(3)s the
 * copy of EXEC_PROG on the cell's filesystem (argv "true", an empty
 * environment) and waitpid(2)s for it, timed from before the spawn to
 * after the reap.  The kernel opens the executable for exec: a
 * FAN_OPEN_EXEC_PERM event, then a FAN_OPEN_PERM one, for whoever marks
 * them; the loader and libc come from the host's filesystems, unmarked.
 * A spawn that fails, or a program that does not exit with 0, is a
 * failed exec.  Each thread reaps what it spawned before it spawns again
 * or ends.  The programs inherit the stop signals blocked (a ^C at the
 * terminal stops the run between two execs; it does not fail one).  The
 * child is then a process group of its own, its programs' too: should
 * the child have to be killed, its group goes with it, and this process,
 * their subreaper (PR_SET_CHILD_SUBREAPER), reaps the orphans (see
 * reap_strays()).
 */
enum { PH_WAIT, PH_WARMUP, PH_MEASURE, PH_STOP };

struct opener {
	_Alignas(64) pthread_t thr;
	unsigned first; /* file it starts with */
	uint64_t opens;
	uint64_t errors;
	int first_errno;  /* 0: an exec whose program failed (first_status) */
	int first_status; /* that program's wait status */
	uint64_t sum_ns;
	uint64_t last_ns; /* end of its last measured open */
	struct vd_hist hist;
};

struct cell_shm {
	_Alignas(64) _Atomic int phase; /* the parent's */
	_Atomic bool abort;             /* the child's: an opener failed */
	int err;                        /* why, -errno */
	unsigned k;
	struct opener o[];
};

static struct cell_shm *shm;
static size_t shm_size;

/*
 * --op exec: runs prog once and reaps it.  0; or an errno value (the
 * spawn or the wait failed), or -1 with the status in *status (the
 * program failed).
 */
static int
run_prog(int *status)
{
	static char *const argv[] = { "true", NULL };
	static char *const envp[] = { NULL };
	pid_t pid, r;
	int rc;

	if ((rc = posix_spawn(&pid, prog, NULL, NULL, argv, envp)) != 0)
		return rc;
	while ((r = waitpid(pid, status, 0)) < 0 && errno == EINTR)
		continue;
	if (r < 0)
		return errno; /* not ours: cannot happen */
	return WIFEXITED(*status) && WEXITSTATUS(*status) == 0 ? 0 : -1;
}

static void *
opener_main(void *arg)
{
	const struct timespec nap = { 0, 100000 };
	struct opener *o = arg;
	unsigned i = o->first;
	uint64_t t1, t2;
	int ph, fd, rc, status = 0;

	while (atomic_load_explicit(&shm->phase, memory_order_acquire) ==
	        PH_WAIT &&
	    !atomic_load_explicit(&shm->abort, memory_order_relaxed))
		nanosleep(&nap, NULL);
	/* acquire: pairs with the parent's release of PH_MEASURE, so an
	 * open counted as measured started after the cell's t0. */
	while ((ph = atomic_load_explicit(&shm->phase, memory_order_acquire)) !=
	        PH_STOP &&
	    !atomic_load_explicit(&shm->abort, memory_order_relaxed)) {
		if (opt.op == OP_EXEC) {
			t1 = vd_clock_ns();
			rc = run_prog(&status);
			t2 = vd_clock_ns();
		} else {
			t1 = vd_clock_ns();
			fd = open(paths[i], O_RDONLY | O_CLOEXEC);
			t2 = vd_clock_ns();
			rc = fd >= 0 ? 0 : errno;
			if (fd >= 0)
				close(fd);
		}
		if (rc != 0 && o->errors++ == 0) {
			o->first_errno = rc > 0 ? rc : 0;
			o->first_status = status;
		}
		if (++i == NFILES)
			i = 0;
		if (ph != PH_MEASURE || rc != 0)
			continue;
		vd_hist_record(&o->hist, t2 - t1);
		o->sum_ns += t2 - t1;
		o->opens++;
		o->last_ns = t2;
	}
	return NULL;
}

static void __attribute__((noreturn)) child_main(pid_t parent)
{
	unsigned i, started;
	int rc = 0;

	/* Never outlive the parent (SIGKILL cannot be blocked). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(EXIT_FAIL);
	/* --op exec: a group of its own (the parent makes it too:
	 * whichever comes first), which its programs inherit. */
	if (opt.op == OP_EXEC)
		(void)setpgid(0, 0);
	for (started = 0; started < shm->k; started++) {
		rc = pthread_create(
		    &shm->o[started].thr, NULL, opener_main, &shm->o[started]);
		if (rc != 0) {
			shm->err = -rc;
			atomic_store(&shm->abort, true);
			break;
		}
	}
	for (i = 0; i < started; i++)
		pthread_join(shm->o[i].thr, NULL);
	_exit(rc == 0 ? 0 : EXIT_FAIL);
}

/*
 * Maps the shared state for K openers and forks the child that runs
 * them; they wait for the first phase.  The child's pid, or -errno.
 */
static pid_t
openers_fork(unsigned k)
{
	pid_t parent = getpid(), pid;
	unsigned i;

	shm_size = sizeof(*shm) + k * sizeof(shm->o[0]);
	shm = mmap(NULL, shm_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED) {
		shm = NULL;
		return -errno;
	}
	/* Fresh anonymous pages are zero: PH_WAIT, no abort, counters 0. */
	shm->k = k;
	for (i = 0; i < k; i++)
		shm->o[i].first = i * NFILES / k % NFILES; /* spread them */
	fflush(NULL); /* nothing buffered is written twice */
	if ((pid = fork()) < 0) {
		pid = -errno;
		munmap(shm, shm_size);
		shm = NULL;
		return pid;
	}
	if (pid == 0)
		child_main(parent);
	/* EACCES or ESRCH: the child made it, or died already. */
	if (opt.op == OP_EXEC)
		(void)setpgid(pid, pid);
	return pid;
}

/*
 * Waits up to timeout_ns (UINT64_MAX: for ever) for the child; true when
 * it was reaped (its status in *status).  A stop signal does not shorten
 * the wait.
 */
static bool
openers_reap(pid_t pid, uint64_t timeout_ns, int *status)
{
	const struct timespec nap = { 0, 1000000 };
	uint64_t end =
	    timeout_ns == UINT64_MAX ? UINT64_MAX : vd_clock_ns() + timeout_ns;
	pid_t r;

	for (;;) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return true;
		if (r < 0 && errno != EINTR)
			return true; /* not ours to wait for any more */
		if (vd_clock_ns() >= end)
			return false;
		nanosleep(&nap, NULL);
	}
}

/*
 * The listener's CPU time, from a process CPU clock: ours
 * (CLOCK_PROCESS_CPUTIME_ID: every thread of this process, the listener's
 * and this main thread's, which only sleeps; not the openers', who live in
 * the child) or another process's (clock_getcpuclockid).  In nanoseconds,
 * user and system alike; 0 when the clock cannot be read.
 */
static uint64_t
cpu_clock_ns(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/*
 * Runs the child's openers through the warm-up and the measured part;
 * the listener is in place.  Returns when they have been told to stop:
 * t0 and end bracket the measured part.
 */
static void
openers_run(clockid_t cpu, uint64_t *t0, uint64_t *end, uint64_t *cpu_ns)
{
	uint64_t c0;

	atomic_store_explicit(&shm->phase, PH_WARMUP, memory_order_release);
	(void)wait_ns(WARMUP_NS);
	c0 = cpu_clock_ns(cpu);
	*t0 = vd_clock_ns();
	/* release: the openers see PH_MEASURE only after t0. */
	atomic_store_explicit(&shm->phase, PH_MEASURE, memory_order_release);
	(void)wait_ns((uint64_t)(opt.duration_s * (double)NS_PER_S));
	*end = vd_clock_ns();
	*cpu_ns = cpu_clock_ns(cpu) - c0;
	atomic_store_explicit(&shm->phase, PH_STOP, memory_order_release);
}

/* Sums the openers into *r (after the child has exited), beside the
 * listener's counters already there. */
static void
openers_collect(uint64_t t0, uint64_t end, struct result *r)
{
	const struct opener *o;
	unsigned i;

	r->k = shm->k;
	for (i = 0; i < shm->k; i++) {
		o = &shm->o[i];
		r->opens += o->opens;
		r->sum_ns += o->sum_ns;
		if (o->errors > 0 && r->errors == 0) {
			r->first_errno = o->first_errno;
			r->first_status = o->first_status;
		}
		r->errors += o->errors;
		if (o->last_ns > end)
			end = o->last_ns;
		vd_hist_merge(&r->hist, &o->hist);
	}
	r->elapsed_ns = end > t0 ? end - t0 : 0;
}

static void
openers_unmap(void)
{
	if (shm != NULL)
		munmap(shm, shm_size);
	shm = NULL;
}

/* ------------------------------------------------------------------ */
/* Listeners, behind one table                                         */

struct lctx {
	char msg[512];
	clockid_t cpu_clock; /* the listener's CPU time (start may set it) */
	/* minimal */
	int mfan;
	int efd;
	void *buf;
	pthread_t thr;
	int thr_errno;         /* the reader's fatal error, 0 if none */
	uint64_t write_errors; /* responses the kernel refused */
	/* verdictd */
	struct vd_policy_runtime *rt;
	struct vd_fan *fan;
	struct vd_pipeline *p;
	struct vd_stats *stats;
	/* fapolicyd */
	pid_t pid;
	int status;
};

struct listener {
	const char *name;
	/* 0, or -errno with a sentence in c->msg. */
	int (*start)(struct lctx *c, const struct listener *l);
	/* Tears everything down; the listener's own counters go to *r.
	 * 0, or -1 when it failed during the cell (a sentence in c->msg). */
	int (*stop)(struct lctx *c, struct result *r);
	bool park;   /* verdictd: workers park at once (spin_ns 0) */
	bool ignore; /* verdictd: ignore marks */
	bool hop;    /* verdictd: every event to a worker, none inline */
	bool paths;  /* verdictd: a prefix= rule, so each event's path is
	                read; else allow-all, as fapolicyd's rule */
};

static int
none_start(struct lctx *c, const struct listener *l)
{
	(void)c;
	(void)l;
	return 0;
}

static int
none_stop(struct lctx *c, struct result *r)
{
	(void)c;
	(void)r;
	return 0;
}

/*
 * The minimal listener's reader.  On a fatal error it closes the group
 * itself: the kernel then allows what the group holds and the openers go
 * on unwatched, rather than wait for an answer nobody will give.
 */
static void *
minimal_main(void *arg)
{
	struct lctx *c = arg;
	struct pollfd pfd[2] = {
		{ .fd = c->mfan, .events = POLLIN },
		{ .fd = c->efd, .events = POLLIN },
	};
	struct fanotify_response resp;
	const struct fanotify_event_metadata *m;
	ssize_t n;

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			goto fatal;
		}
		if (pfd[0].revents & POLLIN) {
			n = read(c->mfan, c->buf, MINIMAL_BUF);
			if (n < 0) {
				if (errno == EINTR || errno == EAGAIN)
					continue;
				goto fatal;
			}
			for (m = c->buf; FAN_EVENT_OK(m, n);
			     m = FAN_EVENT_NEXT(m, n)) {
				if (m->vers != FANOTIFY_METADATA_VERSION) {
					errno = EPROTO;
					goto fatal;
				}
				if (m->fd < 0)
					continue;
				/* One event per bit: an exec gives an
				 * exec event, then an open event. */
				if (m->mask &
				    (FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM)) {
					resp.fd = m->fd;
					resp.response = FAN_ALLOW;
					if (write(
					        c->mfan, &resp, sizeof(resp)) !=
					    (ssize_t)sizeof(resp))
						c->write_errors++;
				}
				close(m->fd);
			}
		} else if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			errno = EIO;
			goto fatal;
		}
		if (pfd[1].revents & POLLIN)
			return NULL;
	}
fatal:
	c->thr_errno = errno;
	close(c->mfan);
	c->mfan = -1;
	return NULL;
}

static int
minimal_start(struct lctx *c, const struct listener *l)
{
	int rc;

	(void)l;
	c->mfan = c->efd = -1;
	c->mfan =
	    fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_UNLIMITED_QUEUE,
	        O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (c->mfan < 0) {
		rc = -errno;
		snprintf(c->msg, sizeof(c->msg), "fanotify_init: %s",
		    strerror(errno));
		goto fail;
	}
	if (fanotify_mark(
	        c->mfan, FAN_MARK_ADD, minimal_mask(), AT_FDCWD, dir) != 0) {
		rc = -errno;
		snprintf(c->msg, sizeof(c->msg), "%s: fanotify_mark: %s", dir,
		    strerror(errno));
		goto fail;
	}
	if ((c->efd = eventfd(0, EFD_CLOEXEC)) < 0) {
		rc = -errno;
		snprintf(
		    c->msg, sizeof(c->msg), "eventfd: %s", strerror(errno));
		goto fail;
	}
	/* Aligned for struct fanotify_event_metadata, and page aligned. */
	if ((c->buf = aligned_alloc(4096, MINIMAL_BUF)) == NULL) {
		rc = -ENOMEM;
		snprintf(c->msg, sizeof(c->msg), "out of memory");
		goto fail;
	}
	if ((rc = -pthread_create(&c->thr, NULL, minimal_main, c)) != 0) {
		snprintf(c->msg, sizeof(c->msg), "pthread_create: %s",
		    strerror(-rc));
		goto fail;
	}
	return 0;
fail:
	free(c->buf);
	c->buf = NULL;
	if (c->efd >= 0)
		close(c->efd);
	if (c->mfan >= 0)
		close(c->mfan);
	return rc;
}

static int
minimal_stop(struct lctx *c, struct result *r)
{
	uint64_t one = 1;
	int rc = 0;

	(void)r;
	while (write(c->efd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
		if (errno != EINTR) {
			/* The reader would never stop: closing its group
			 * from here is the way left (it allows all). */
			vd_cli_warnx(
			    PROG, "eventfd write: %s", strerror(errno));
			abort();
		}
	}
	pthread_join(c->thr, NULL);
	if (c->mfan >= 0) {
		/* Remove the mark first so no event comes between. */
		(void)fanotify_mark(
		    c->mfan, FAN_MARK_REMOVE, minimal_mask(), AT_FDCWD, dir);
		close(c->mfan);
	} else {
		snprintf(c->msg, sizeof(c->msg), "reader: %s",
		    strerror(c->thr_errno));
		rc = -1;
	}
	if (c->write_errors > 0 && rc == 0) {
		snprintf(c->msg, sizeof(c->msg),
		    "the kernel refused %" PRIu64 " responses",
		    c->write_errors);
		rc = -1;
	}
	close(c->efd);
	free(c->buf);
	c->buf = NULL;
	return rc;
}

/* Tears a verdictd listener down in the order fanotify.h gives; every
 * part may be NULL.  Counters first, when asked. */
static void
verdictd_teardown(struct lctx *c, struct result *r)
{
	const struct vd_type_stats *ts;
	int t;

	if (c->fan != NULL)
		vd_fan_quiesce(c->fan);
	if (c->p != NULL)
		vd_pipeline_stop(c->p);
	if (r != NULL && c->fan != NULL && c->p != NULL) {
		vd_fan_stats(c->fan, &r->fan);
		r->have_fan = true;
		vd_pipeline_stats(c->p, c->stats);
		/* Open and exec (an exec is one event of each). */
		for (t = VD_AUTH_OPEN; t <= VD_AUTH_EXEC; t++) {
			ts = &c->stats->types[t];
			r->answered_worker += ts->answered_worker;
			r->answered_default += ts->answered_default;
			r->dropped += ts->dropped;
		}
	}
	vd_fan_destroy(c->fan);
	c->fan = NULL;
	vd_pipeline_destroy(c->p);
	c->p = NULL;
	vd_policy_runtime_destroy(c->rt);
	c->rt = NULL;
	free(c->stats);
	c->stats = NULL;
}

static int
verdictd_start(struct lctx *c, const struct listener *l)
{
	struct vd_config cfg;
	struct vd_fan_config fc;
	struct vd_backend b;
	struct vd_evaluator inner;
	struct vd_policy_error perr;
	struct vd_policy *pol;
	char text[2 * PATH_MAX + 64], obj[PATH_MAX + 16];
	unsigned workers;
	int len, rc;

	c->rt = NULL;
	c->fan = NULL;
	c->p = NULL;
	if ((c->stats = malloc(sizeof(*c->stats))) == NULL) {
		snprintf(c->msg, sizeof(c->msg), "out of memory");
		return -ENOMEM;
	}

	vd_config_init(&cfg, VD_PROFILE_FANOTIFY);
	/* The reader answers inline, a standby submits while it is stuck
	 * (as verdictd runs it); or one reader thread submits. */
	cfg.inline_runner = !l->hop;
	cfg.multi_producer = !l->hop;
	if (l->park)
		cfg.spin_ns = 0;
	workers = cfg.workers != 0 ? cfg.workers : vd_config_default_workers();
	workers += cfg.inline_runner ? 1 : 0; /* evaluator slots */

	/* With --op exec, the exec and the open of the program: each is
	 * an event of its own, and the backend marks what fc.types says,
	 * whatever the policy's rules.  Without a path in a rule, the
	 * backend reads no path (as verdictd does for such a policy). */
	if (l->paths)
		snprintf(obj, sizeof(obj), "prefix=%s/", dir);
	else
		snprintf(obj, sizeof(obj), "all");
	len = snprintf(text, sizeof(text), "allow open all : %s\n", obj);
	if (opt.op == OP_EXEC)
		len += snprintf(text + len, sizeof(text) - (size_t)len,
		    "allow exec all : %s\n", obj);
	memset(&perr, 0, sizeof(perr));
	pol = vd_policy_compile(
	    text, (size_t)len, "fanotify-bench", 0, &perr, &rc);
	if (pol == NULL) {
		snprintf(c->msg, sizeof(c->msg), "policy: %s:%d:%d: %s",
		    perr.file, perr.line, perr.column, perr.msg);
		goto fail;
	}
	if ((c->rt = vd_policy_runtime_create(pol, workers, &rc)) == NULL) {
		vd_policy_free(pol);
		snprintf(c->msg, sizeof(c->msg), "policy runtime: %s",
		    strerror(-rc));
		goto fail;
	}
	inner = vd_policy_runtime_evaluator(c->rt);

	vd_fan_config_init(&fc);
	fc.types = UINT32_C(1) << VD_AUTH_OPEN;
	if (opt.op == OP_EXEC)
		fc.types |= UINT32_C(1) << VD_AUTH_EXEC;
	fc.mark = VD_FAN_MARK_DIRECTORY;
	fc.paths[0] = dir;
	fc.npaths = 1;
	if (!l->ignore)
		fc.ignore_max = 0;
	fc.inline_answers = !l->hop;
	fc.read_paths = l->paths; /* what the policy's prefix= rule reads */
	if ((c->fan = vd_fan_create(&fc, &rc, c->msg, sizeof(c->msg))) ==
	    NULL) {
		if (rc != -EINVAL)
			snprintf(c->msg, sizeof(c->msg), "vd_fan_create: %s",
			    strerror(-rc));
		goto fail;
	}
	/* As verdictd does before the backend starts: what the policy
	 * reads decides what the backend reads per event. */
	vd_fan_backend(c->fan, &b);
	if ((rc = b.policy_changed(b.ctx, pol, c->msg, sizeof(c->msg))) != 0)
		goto fail;
	c->p = vd_pipeline_create(&cfg, &inner, vd_fan_ops(), c->fan, &rc);
	if (c->p == NULL) {
		snprintf(c->msg, sizeof(c->msg), "vd_pipeline_create: %s",
		    strerror(-rc));
		goto fail;
	}
	if ((rc = vd_pipeline_start(c->p)) != 0) {
		snprintf(c->msg, sizeof(c->msg), "vd_pipeline_start: %s",
		    strerror(-rc));
		goto fail;
	}
	if ((rc = vd_fan_start(c->fan, c->p, c->msg, sizeof(c->msg))) != 0)
		goto fail;
	return 0;
fail:
	verdictd_teardown(c, NULL);
	return rc < 0 ? rc : -EINVAL;
}

static int
verdictd_stop(struct lctx *c, struct result *r)
{
	bool ran = vd_fan_running(c->fan);

	verdictd_teardown(c, r);
	if (!ran) {
		snprintf(c->msg, sizeof(c->msg),
		    "the backend's reader stopped during the run");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* fapolicyd, in this process's mount namespace                        */

/*
 * fapolicyd marks every mount of the filesystem types in its watch_fs,
 * and reads its configuration from fixed paths (/etc/fapolicyd,
 * /var/lib/fapolicyd, /run, /usr/share/fapolicyd).  So it runs only in
 * this process's private mount namespace (see enter_private_ns()), on
 * its own copy of the files (rdir), the one ramfs mount there, with
 * watch_fs = ramfs.  tmpfs, the other listeners' filesystem, would not
 * do: the namespace holds copies of the host's tmpfs mounts.  Those
 * paths are overlays, private to the namespace, whose upper layers live
 * on a tmpfs of ours: the host's files are never written.  It gets an
 * allow-all rule, permissive mode, and the package's defaults otherwise,
 * and is stopped by its pid.
 */
static const char *fapd_root = "/"; /* where the package's files are */
static int fapd_state = 0;          /* 0: not set up, 1: ready, -1: not */
static char fapd_why[512];          /* why not */
static char fapd_dir[PATH_MAX];     /* the tmpfs of its overlays */
static char fapd_bin[PATH_MAX];
static const char *const fapd_over[] = { "/etc", "/var/lib", "/run",
	"/usr/share" };
static bool fapd_mounted[sizeof(fapd_over) / sizeof(fapd_over[0])];
static bool fapd_dir_mounted;

/* Ramfs mounts this namespace sees; *ours: one of them is the directory. */
static unsigned
ramfs_mounts(bool *ours)
{
	char line[PATH_MAX + 256], mnt[PATH_MAX], type[64];
	unsigned n = 0;
	FILE *f = fopen("/proc/self/mounts", "re");

	*ours = false;
	if (f == NULL)
		return UINT_MAX;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%*s %4095s %63s", mnt, type) != 2)
			continue;
		if (strcmp(type, "ramfs") != 0)
			continue;
		n++;
		if (strcmp(mnt, rdir.path) == 0)
			*ours = true;
	}
	fclose(f);
	return n;
}

static int
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(text);
	bool ok;

	if (fd < 0)
		return -1;
	ok = write(fd, text, len) == (ssize_t)len;
	return close(fd) == 0 && ok ? 0 : -1;
}

static void
fapd_teardown(void)
{
	size_t i;

	for (i = 0; i < sizeof(fapd_over) / sizeof(fapd_over[0]); i++)
		if (fapd_mounted[i] && umount2(fapd_over[i], MNT_DETACH) == 0)
			fapd_mounted[i] = false;
	if (fapd_dir_mounted && umount2(fapd_dir, MNT_DETACH) == 0)
		fapd_dir_mounted = false;
	if (fapd_dir[0] != '\0' && !fapd_dir_mounted) {
		(void)rmdir(fapd_dir);
		fapd_dir[0] = '\0';
	}
}

#define FAPD_FAIL(...)                                                         \
	do {                                                                   \
		snprintf(fapd_why, sizeof(fapd_why), __VA_ARGS__);             \
		fapd_state = -1;                                               \
		return -1;                                                     \
	} while (0)

/* Sets fapolicyd's world up once; 0, or -1 with the reason in fapd_why. */
static int
fapd_setup(void)
{
	static const char conf[] =
	    "permissive = 1\n"
	    "nice_val = 14\n"
	    "q_size = 640\n"
	    "uid = 0\n"
	    "gid = 0\n"
	    "do_stat_report = 0\n"
	    "detailed_report = 0\n"
	    "db_max_size = 50\n"
	    "subj_cache_size = 1549\n"
	    "obj_cache_size = 8191\n"
	    "watch_fs = ramfs\n"
	    "trust = file\n"
	    "integrity = none\n"
	    "syslog_format = rule,dec,perm,auid,pid,exe,:,path,ftype,trust\n"
	    "rpm_sha256_only = 0\n"
	    "allow_filesystem_mark = 0\n";
	static const char rules[] = "allow perm=any all : all\n";
	/* integrity = none: the digest is not checked; sha256 of "". */
	static const char trust[] = "/nonexistent/vd-fbench 0 "
	                            "e3b0c44298fc1c149afbf4c8996fb924"
	                            "27ae41e4649b934ca495991b7852b855\n";
	static const char *const dirs[] = { "/etc/fapolicyd",
		"/etc/fapolicyd/rules.d", "/var/lib/fapolicyd",
		"/run/fapolicyd", "/usr/share/fapolicyd" };
	char from[PATH_MAX + 64], opts[3 * PATH_MAX + 64];
	char up[PATH_MAX + 16], wk[PATH_MAX + 16];
	const char *root = strcmp(fapd_root, "/") == 0 ? "" : fapd_root;
	unsigned nramfs;
	bool ours;
	size_t i;

	if (fapd_state != 0)
		return fapd_state > 0 ? 0 : -1;
	snprintf(fapd_bin, sizeof(fapd_bin), "%s/usr/sbin/fapolicyd", root);
	if (access(fapd_bin, X_OK) != 0)
		FAPD_FAIL("not installed (%s: %s)", fapd_bin, strerror(errno));
	if (!private_ns)
		FAPD_FAIL("no private mount namespace");
	if (make_fdir(&rdir, "ramfs", true) != 0)
		FAPD_FAIL("no ramfs of its own");
	/* The one mount it may mark: watch_fs = ramfs finds only ours. */
	if ((nramfs = ramfs_mounts(&ours)) != 1 || !ours)
		FAPD_FAIL("%u ramfs mounts in this namespace, not just %s",
		    nramfs, rdir.path);
	strcpy(fapd_dir, "/tmp/vd-fbench-fapd.XXXXXX");
	if (mkdtemp(fapd_dir) == NULL) {
		fapd_dir[0] = '\0';
		FAPD_FAIL("mkdtemp: %s", strerror(errno));
	}
	if (mount("tmpfs", fapd_dir, "tmpfs", MS_NOSUID | MS_NODEV,
	        "mode=0700") != 0)
		FAPD_FAIL("%s: mount tmpfs: %s", fapd_dir, strerror(errno));
	fapd_dir_mounted = true;
	for (i = 0; i < sizeof(fapd_over) / sizeof(fapd_over[0]); i++) {
		snprintf(up, sizeof(up), "%s/u%zu", fapd_dir, i);
		snprintf(wk, sizeof(wk), "%s/w%zu", fapd_dir, i);
		if (mkdir(up, 0755) != 0 || mkdir(wk, 0700) != 0)
			FAPD_FAIL("mkdir %s: %s", up, strerror(errno));
		snprintf(opts, sizeof(opts),
		    "lowerdir=%s,upperdir=%s,workdir=%s", fapd_over[i], up, wk);
		if (mount("overlay", fapd_over[i], "overlay", 0, opts) != 0)
			FAPD_FAIL("%s: mount overlay: %s", fapd_over[i],
			    strerror(errno));
		fapd_mounted[i] = true;
	}
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (mkdir(dirs[i], 0755) != 0 && errno != EEXIST)
			FAPD_FAIL("mkdir %s: %s", dirs[i], strerror(errno));
	if (write_file("/etc/fapolicyd/fapolicyd.conf", conf) != 0 ||
	    write_file("/etc/fapolicyd/fapolicyd.rules", rules) != 0 ||
	    write_file("/etc/fapolicyd/compiled.rules", rules) != 0 ||
	    write_file("/etc/fapolicyd/fapolicyd.trust", trust) != 0)
		FAPD_FAIL("writing /etc/fapolicyd: %s", strerror(errno));
	if (root[0] != '\0') {
		snprintf(from, sizeof(from),
		    "%s/usr/share/fapolicyd/fapolicyd-magic.mgc", root);
		if (copy_file(from, "/usr/share/fapolicyd/fapolicyd-magic.mgc",
		        0644) != 0)
			FAPD_FAIL("%s: %s", from, strerror(errno));
	}
	fapd_state = 1;
	return 0;
}

#undef FAPD_FAIL

/* True once the process holds a fanotify group with a mount mark. */
static bool
fapd_marked(pid_t pid)
{
	char path[64], line[256];
	bool found = false;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo", (int)pid);
	if ((d = opendir(path)) == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL) {
		char p[sizeof(path) + 300];
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		if ((f = fopen(p, "re")) == NULL)
			continue;
		while (!found && fgets(line, sizeof(line), f) != NULL)
			found = strncmp(line, "fanotify mnt_id:", 16) == 0;
		fclose(f);
	}
	closedir(d);
	return found;
}

static void
fapd_kill(struct lctx *c)
{
	const struct timespec nap = { 0, 10000000 };
	int status, i;

	if (c->pid <= 0)
		return;
	/* SIGTERM: it removes its marks and closes its group; the kernel
	 * allows whatever the group still held. */
	(void)kill(c->pid, SIGTERM);
	for (i = 0; i < 1000; i++) {
		if (waitpid(c->pid, &status, WNOHANG) == c->pid)
			goto reaped;
		nanosleep(&nap, NULL);
	}
	vd_cli_warnx(PROG,
	    "fapolicyd (pid %d) ignored SIGTERM for 10 s: "
	    "killing it",
	    (int)c->pid);
	(void)kill(c->pid, SIGKILL);
	(void)waitpid(c->pid, &status, 0);
reaped:
	c->status = status;
	c->pid = 0;
}

static int
fapd_start(struct lctx *c, const struct listener *l)
{
	const struct timespec nap = { 0, 10000000 };
	char logpath[PATH_MAX + 32];
	int i, status, logfd;
	clockid_t clk;

	(void)l;
	if (fapd_setup() != 0) {
		snprintf(c->msg, sizeof(c->msg), "%s", fapd_why);
		return -ENOENT;
	}
	snprintf(logpath, sizeof(logpath), "%s/fapolicyd.log", fapd_dir);
	logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0) {
		snprintf(
		    c->msg, sizeof(c->msg), "%s: %s", logpath, strerror(errno));
		return -errno;
	}
	fflush(NULL);
	if ((c->pid = fork()) < 0) {
		snprintf(c->msg, sizeof(c->msg), "fork: %s", strerror(errno));
		close(logfd);
		return -errno;
	}
	if (c->pid == 0) {
		char *const argv[] = { "fapolicyd", "--debug-deny",
			"--permissive", NULL };
		int nul = open("/dev/null", O_RDONLY);

		/* Dies with us; takes SIGTERM (our mask is inherited). */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		(void)sigprocmask(SIG_UNBLOCK, &stopsigs, NULL);
		(void)setpgid(0, 0);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(logfd, 1) < 0 ||
		    dup2(logfd, 2) < 0)
			_exit(127);
		execv(fapd_bin, argv);
		_exit(127);
	}
	close(logfd);
	/* Ready once its mount mark is in place (10 s at most: it builds
	 * its trust database first). */
	for (i = 0; i < 1000 && !fapd_marked(c->pid); i++) {
		if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
			c->pid = 0;
			snprintf(c->msg, sizeof(c->msg),
			    "fapolicyd exited at start (status 0x%x); see %s",
			    (unsigned)status, logpath);
			return -ECHILD;
		}
		nanosleep(&nap, NULL);
	}
	if (i == 1000) {
		fapd_kill(c);
		snprintf(c->msg, sizeof(c->msg),
		    "fapolicyd placed no mount mark within 10 s; see %s",
		    logpath);
		return -ETIMEDOUT;
	}
	if (clock_getcpuclockid(c->pid, &clk) == 0)
		c->cpu_clock = clk;
	return 0;
}

static int
fapd_stop(struct lctx *c, struct result *r)
{
	(void)r;
	fapd_kill(c);
	if (!WIFEXITED(c->status) || WEXITSTATUS(c->status) != 0) {
		snprintf(c->msg, sizeof(c->msg),
		    "fapolicyd ended with status 0x%x; see %s/fapolicyd.log",
		    (unsigned)c->status, fapd_dir);
		return -1;
	}
	return 0;
}

static const struct listener listeners[L_COUNT] = {
	[L_NONE] = { "none", none_start, none_stop },
	[L_MINIMAL] = { "minimal", minimal_start, minimal_stop },
	[L_PARK] = { "verdictd-park", verdictd_start, verdictd_stop,
	    .park = true },
	[L_PATHS] = { "verdictd-paths", verdictd_start, verdictd_stop,
	    .park = true, .paths = true },
	[L_SPIN] = { "verdictd-spin", verdictd_start, verdictd_stop },
	[L_HOP] = { "verdictd-hop", verdictd_start, verdictd_stop, .hop = true },
	[L_IGNORE] = { "verdictd-ignore", verdictd_start, verdictd_stop,
	    .ignore = true, .paths = true },
	[L_FAPD] = { "fapolicyd", fapd_start, fapd_stop },
};

/*
 * --op exec, after the openers' child of process group pgid was reaped
 * and the listener is down: reaps the programs it left behind (it was
 * killed, or died), which came to us, their subreaper.  Without a
 * listener they end at once; after 5 s they are killed.  How many.
 */
static unsigned
reap_strays(pid_t pgid)
{
	const struct timespec nap = { 0, 1000000 };
	uint64_t end = vd_clock_ns() + 5 * NS_PER_S;
	bool killed = false;
	unsigned n = 0;
	pid_t r;

	for (;;) {
		r = waitpid(-pgid, NULL, WNOHANG);
		if (r > 0) {
			n++;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return n; /* ECHILD: none left */
		/* Safe: a member still lives, so the group id is not
		 * free for another process. */
		if (!killed && vd_clock_ns() >= end) {
			(void)kill(-pgid, SIGKILL);
			killed = true;
		}
		nanosleep(&nap, NULL);
	}
}

/* Why the first open or exec failed. */
static const char *
first_error(const struct result *r, char *buf, size_t bufsz)
{
	if (r->first_errno != 0)
		return strerror(r->first_errno);
	if (WIFSIGNALED(r->first_status))
		snprintf(buf, bufsz, "the program (%s) was killed by %s", prog,
		    strsignal(WTERMSIG(r->first_status)));
	else
		snprintf(buf, bufsz, "the program (%s) exited with %d", prog,
		    WEXITSTATUS(r->first_status));
	return buf;
}

/*
 * One cell: the openers' child forked, the listener up, the openers run,
 * the child reaped, the listener down.  False on a failure (said).
 */
static bool
run_cell(enum lkind lk, unsigned k, struct result *r)
{
	const struct listener *l = &listeners[lk];
	struct lctx c;
	uint64_t t0 = 0, end = 0;
	bool ok = true, reaped;
	char why[PATH_MAX + 128];
	unsigned strays;
	int status = 0;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	memset(&c, 0, sizeof(c));
	c.cpu_clock = CLOCK_PROCESS_CPUTIME_ID;
	paths = lk == L_FAPD ? rdir.files : tdir.files;
	prog = lk == L_FAPD ? rdir.prog : tdir.prog;
	if ((pid = openers_fork(k)) < 0) {
		vd_cli_warnx(PROG, "%s K=%u: cannot start the openers: %s",
		    l->name, k, strerror(-pid));
		return false;
	}
	if (l->start(&c, l) != 0) {
		vd_cli_warnx(PROG, "%s: cannot start: %s", l->name, c.msg);
		atomic_store(&shm->phase, PH_STOP);
		(void)openers_reap(pid, UINT64_MAX, &status);
		openers_unmap();
		return false;
	}
	openers_run(c.cpu_clock, &t0, &end, &r->cpu_ns);
	/*
	 * Every open in flight is answered before the listener goes: an
	 * opener still blocked after a while means the listener stopped
	 * answering; tearing it down answers (or allows) what it holds.
	 */
	if (!(reaped = openers_reap(pid, 5 * NS_PER_S, &status)))
		vd_cli_warnx(PROG,
		    "%s K=%u: openers still blocked 5 s after the end, "
		    "tearing the listener down",
		    l->name, k);
	if (l->stop(&c, r) != 0) {
		vd_cli_warnx(PROG, "%s K=%u: %s", l->name, k, c.msg);
		ok = false;
	}
	if (!reaped && !openers_reap(pid, 5 * NS_PER_S, &status)) {
		/* --op exec: its group, the programs it runs too (it is
		 * not reaped yet, so the group id is still its own; without
		 * --op exec there is no such group: ESRCH). */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		(void)openers_reap(pid, UINT64_MAX, &status);
		ok = false;
	}
	if (opt.op == OP_EXEC && (strays = reap_strays(pid)) > 0) {
		vd_cli_warnx(PROG,
		    "%s K=%u: reaped %u programs the openers left behind",
		    l->name, k, strays);
		ok = false;
	}
	openers_collect(t0, end, r);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		vd_cli_warnx(PROG, "%s K=%u: the openers' process failed: %s",
		    l->name, k,
		    shm->err != 0             ? strerror(-shm->err)
		        : WIFSIGNALED(status) ? strsignal(WTERMSIG(status))
		                              : "exit status");
		ok = false;
	}
	openers_unmap();
	if (!reaped)
		ok = false;
	if (r->errors > 0) {
		vd_cli_warnx(PROG,
		    "%s K=%u: %" PRIu64 " %ss failed, the first with: %s",
		    l->name, k, r->errors, op_name(),
		    first_error(r, why, sizeof(why)));
		ok = false;
	}
	r->done = ok && caught == 0;
	return ok;
}

/* Adds the rounds of each cell up into results[][]. */
static void
merge_rounds(unsigned nrounds)
{
	unsigned l, i, n;

	for (l = 0; l < L_COUNT; l++)
		for (i = 0; i < opt.nk; i++) {
			struct result *m = &results[l][i];

			memset(m, 0, sizeof(*m));
			m->k = opt.k[i];
			m->done = nrounds > 0;
			for (n = 0; n < nrounds; n++) {
				const struct result *r = &rounds[n][l][i];

				if (!r->done) {
					m->done = false;
					continue;
				}
				m->opens += r->opens;
				m->errors += r->errors;
				m->sum_ns += r->sum_ns;
				m->elapsed_ns += r->elapsed_ns;
				m->cpu_ns += r->cpu_ns;
				vd_hist_merge(&m->hist, &r->hist);
				/* The backend's books: the last round's. */
				m->have_fan = r->have_fan;
				m->fan = r->fan;
				m->answered_worker += r->answered_worker;
				m->answered_default += r->answered_default;
				m->dropped += r->dropped;
			}
		}
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

static double
mean_ns(const struct result *r)
{
	return r->opens > 0 ? (double)r->sum_ns / (double)r->opens : 0;
}

static double
opens_per_s(const struct result *r)
{
	return r->elapsed_ns > 0
	    ? (double)r->opens * (double)NS_PER_S / (double)r->elapsed_ns
	    : 0;
}

/* The listener's CPU time per measured open, in ns. */
static double
cpu_per_open_ns(const struct result *r)
{
	return r->opens > 0 ? (double)r->cpu_ns / (double)r->opens : 0;
}

static void
print_table(void)
{
	const struct result *r;
	bool any_fan = false;
	unsigned l, i;

	/* "opens", "opens/s", "cpu µs/open", or the same with "exec". */
	printf("listener          K      %ss   mean µs    p50 µs    p99 µs"
	       "      %ss/s  cpu µs/%s\n",
	    op_name(), op_name(), op_name());
	for (l = 0; l < L_COUNT; l++) {
		for (i = 0; i < opt.nk; i++) {
			r = &results[l][i];
			if (!r->done)
				continue;
			printf("%-15s %3u %10" PRIu64
			       " %9.2f %9.2f %9.2f %12.0f %12.2f\n",
			    listeners[l].name, r->k, r->opens, mean_ns(r) / 1e3,
			    (double)vd_hist_quantile(&r->hist, 0.5) / 1e3,
			    (double)vd_hist_quantile(&r->hist, 0.99) / 1e3,
			    opens_per_s(r), cpu_per_open_ns(r) / 1e3);
			any_fan |= r->have_fan;
		}
	}
	if (!any_fan)
		return;
	printf("\nverdictd backend, per cell (warm-up included):\n"
	       "listener          K  perm_events ignore_added ignore_marks"
	       "   by_worker  by_default\n");
	for (l = 0; l < L_COUNT; l++) {
		for (i = 0; i < opt.nk; i++) {
			r = &results[l][i];
			if (!r->done || !r->have_fan)
				continue;
			printf("%-15s %3u %12" PRIu64 " %12" PRIu64
			       " %12" PRIu64 " %11" PRIu64 " %11" PRIu64 "\n",
			    listeners[l].name, r->k, r->fan.perm_events,
			    r->fan.ignore_added, r->fan.ignore_marks,
			    r->answered_worker, r->answered_default);
		}
	}
}

static void
print_json_cells(void)
{
	const struct result *r;
	unsigned l, i;

	for (l = 0; l < L_COUNT; l++) {
		for (i = 0; i < opt.nk; i++) {
			r = &results[l][i];
			if (!r->done)
				continue;
			/* "opens" and the like count execs too: "op"
			 * says which. */
			printf("{\"listener\":\"%s\",\"op\":\"%s\",\"k\":%u,"
			       "\"opens\":%" PRIu64
			       ",\"mean_ns\":%.1f,\"p50_ns\":%" PRIu64
			       ",\"p99_ns\":%" PRIu64 ",\"opens_per_s\":%.0f"
			       ",\"cpu_ns_per_open\":%.1f",
			    listeners[l].name, op_name(), r->k, r->opens,
			    mean_ns(r), vd_hist_quantile(&r->hist, 0.5),
			    vd_hist_quantile(&r->hist, 0.99), opens_per_s(r),
			    cpu_per_open_ns(r));
			if (r->have_fan)
				printf(",\"perm_events\":%" PRIu64
				       ",\"ignore_added\":%" PRIu64
				       ",\"ignore_marks\":%" PRIu64
				       ",\"answered_worker\":%" PRIu64
				       ",\"answered_default\":%" PRIu64
				       ",\"dropped\":%" PRIu64,
				    r->fan.perm_events, r->fan.ignore_added,
				    r->fan.ignore_marks, r->answered_worker,
				    r->answered_default, r->dropped);
			printf("}\n");
		}
	}
}

/*
 * The targets: listener a against listener b at K = k, on p50 or CPU per
 * open (a / b at most limit) or throughput (a / b at least limit).
 */
enum metric { M_P50, M_TPUT, M_CPU };

struct target {
	const char *id;
	enum lkind a, b;
	unsigned k;
	enum metric m;
	double limit;
};

static const struct target targets[] = {
	{ "park_p50_k1_vs_minimal", L_PARK, L_MINIMAL, 1, M_P50, 1.25 },
	{ "spin_p50_k1_vs_minimal", L_SPIN, L_MINIMAL, 1, M_P50, 1.0 },
	{ "spin_tput_k8_vs_minimal", L_SPIN, L_MINIMAL, 8, M_TPUT, 0.9 },
	{ "park_tput_k8_vs_minimal", L_PARK, L_MINIMAL, 8, M_TPUT, 0.9 },
	{ "spin_cpu_k8_vs_minimal", L_SPIN, L_MINIMAL, 8, M_CPU, 1.5 },
	{ "park_cpu_k8_vs_minimal", L_PARK, L_MINIMAL, 8, M_CPU, 1.5 },
	{ "spin_tput_k8_vs_fapolicyd", L_SPIN, L_FAPD, 8, M_TPUT, 1.3 },
	{ "park_tput_k8_vs_fapolicyd", L_PARK, L_FAPD, 8, M_TPUT, 1.3 },
	{ "ignore_p50_k1_vs_none", L_IGNORE, L_NONE, 1, M_P50, 1.5 },
};

#define NTARGETS (sizeof(targets) / sizeof(targets[0]))

static const struct result *
find_cell_in(struct result (*set)[NK_MAX], enum lkind l, unsigned k)
{
	unsigned i;

	for (i = 0; i < opt.nk; i++)
		if (set[l][i].done && set[l][i].k == k)
			return &set[l][i];
	return NULL;
}

static const struct result *
find_cell(enum lkind l, unsigned k)
{
	return find_cell_in(results, l, k);
}

static double
target_value(const struct target *t, const struct result *r)
{
	switch (t->m) {
	case M_TPUT:
		return opens_per_s(r);
	case M_CPU:
		return cpu_per_open_ns(r);
	case M_P50:
		break;
	}
	return (double)vd_hist_quantile(&r->hist, 0.5);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median over the rounds of a / b for target t; false when no
 * round has both cells. */
static bool
target_ratio(const struct target *t, unsigned nrounds, double *ratio)
{
	double r[ROUNDS_MAX];
	unsigned n, m = 0;

	for (n = 0; n < nrounds; n++) {
		const struct result *a = find_cell_in(rounds[n], t->a, t->k);
		const struct result *b = find_cell_in(rounds[n], t->b, t->k);
		double vb;

		if (a == NULL || b == NULL || (vb = target_value(t, b)) <= 0)
			continue;
		r[m++] = target_value(t, a) / vb;
	}
	if (m == 0)
		return false;
	qsort(r, m, sizeof(r[0]), cmp_double);
	*ratio = m % 2 ? r[m / 2] : (r[m / 2 - 1] + r[m / 2]) / 2;
	return true;
}

static unsigned rounds_done;

/* "p50", "opens/s", "cpu/open"; "execs/s", "cpu/exec" with --op exec. */
static const char *
metric_name(enum metric m)
{
	static char buf[32];

	switch (m) {
	case M_TPUT:
		snprintf(buf, sizeof(buf), "%ss/s", op_name());
		return buf;
	case M_CPU:
		snprintf(buf, sizeof(buf), "cpu/%s", op_name());
		return buf;
	case M_P50:
		break;
	}
	return "p50";
}

static void
print_targets(void)
{
	const struct target *t;
	const struct result *a, *b;
	double va, vb, ratio;
	bool pass;
	size_t i;

	/* With --op exec: the same checks on the exec cells, their ids
	 * ending in "_exec" (the lines' "op" is the comparison). */
	if (!opt.json)
		printf("\ntargets%s (informational; ratio: the median of %u "
		       "round%s):\n",
		    opt.op == OP_EXEC ? " for execs" : "", rounds_done,
		    rounds_done == 1 ? "" : "s");
	for (i = 0; i < NTARGETS; i++) {
		t = &targets[i];
		a = find_cell(t->a, t->k);
		b = find_cell(t->b, t->k);
		if (a == NULL || b == NULL ||
		    !target_ratio(t, rounds_done, &ratio)) {
			if (!opt.json)
				printf("  SKIP  %s %s at K=%u %s %.2f x %s: "
				       "not measured\n",
				    listeners[t->a].name, metric_name(t->m),
				    t->k,
				    t->m == M_TPUT ? ">=" : "<=", t->limit,
				    listeners[t->b].name);
			continue;
		}
		/* The merged cells for the record; the ratio is the median
		 * of the rounds'. */
		va = target_value(t, a);
		vb = target_value(t, b);
		pass = t->m == M_TPUT ? ratio >= t->limit : ratio <= t->limit;
		if (opt.json) {
			printf("{\"target\":\"%s%s\",\"ratio\":%.3f,"
			       "\"limit\":%.2f,\"op\":\"%s\",\"pass\":%s}\n",
			    t->id, opt.op == OP_EXEC ? "_exec" : "", ratio,
			    t->limit, t->m == M_TPUT ? ">=" : "<=",
			    pass ? "true" : "false");
		} else if (t->m == M_TPUT) {
			printf("  %s  %s %s at K=%u >= %.2f x %s: "
			       "%.0f vs %.0f, ratio %.2f\n",
			    pass ? "PASS" : "MISS", listeners[t->a].name,
			    metric_name(t->m), t->k, t->limit,
			    listeners[t->b].name, va, vb, ratio);
		} else {
			printf("  %s  %s %s at K=%u <= %.2f x %s: "
			       "%.2f vs %.2f µs, ratio %.2f\n",
			    pass ? "PASS" : "MISS", listeners[t->a].name,
			    metric_name(t->m), t->k, t->limit,
			    listeners[t->b].name, va / 1e3, vb / 1e3, ratio);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Main                                                                */

static const char synopsis[] =
    "usage: fanotify-bench [-hV] [--json] [-d seconds] [-r rounds] [-k list] "
    "[-l list]\n"
    "                      [--op open|exec] [--fapolicyd-root dir] "
    "[--hog cpu]\n";

static void
usage(FILE *f)
{
	fputs(synopsis, f);
	fputs("  -d, --duration SECS   measured time per cell and round, 0.01 "
	      "to 3600\n"
	      "                        (default 1)\n"
	      "  -r, --rounds N        rounds over every cell, 1 to 16 "
	      "(default 3)\n"
	      "  -k, --openers LIST    concurrent openers, e.g. 1,8 "
	      "(default 1,8)\n"
	      "  -l, --listeners LIST  none,minimal,verdictd-park,"
	      "verdictd-paths,\n"
	      "                        verdictd-spin,verdictd-hop,"
	      "verdictd-ignore,\n"
	      "                        fapolicyd "
	      "(default "
	      "all)\n"
	      "      --op open|exec    what the openers time: open(2) and "
	      "close a file,\n"
	      "                        or spawn and reap a program on the "
	      "watched\n"
	      "                        filesystem (default open)\n"
	      "      --fapolicyd-root DIR  where fapolicyd's package is "
	      "installed or\n"
	      "                        extracted (default /)\n"
	      "      --hog CPU         a busy loop pinned to CPU for the "
	      "whole run\n"
	      "      --json            one JSON line per cell and target\n"
	      "  -h, --help            this text\n"
	      "  -V, --version         print the version\n"
	      "Needs root; see fanotify-bench(1).\n",
	    f);
}

static void
parse_openers(const char *arg)
{
	char buf[256], *s, *tok, *save, *end;
	unsigned long ul;
	unsigned i;

	if (strlen(arg) >= sizeof(buf))
		exit(vd_cli_usage_error(
		    PROG, synopsis, "--openers: list too long"));
	strcpy(buf, arg);
	opt.nk = 0;
	for (s = buf; (tok = strtok_r(s, ",", &save)) != NULL; s = NULL) {
		errno = 0;
		ul = strtoul(tok, &end, 10);
		if (errno != 0 || end == tok || *end != '\0' || ul < 1 ||
		    ul > OPENERS_MAX || tok[0] == '-' || tok[0] == '+')
			exit(vd_cli_usage_error(PROG, synopsis,
			    "--openers: expected 1 to %u, got \"%s\"",
			    OPENERS_MAX, tok));
		for (i = 0; i < opt.nk; i++)
			if (opt.k[i] == ul)
				exit(vd_cli_usage_error(PROG, synopsis,
				    "--openers: %lu given twice", ul));
		if (opt.nk == NK_MAX)
			exit(vd_cli_usage_error(PROG, synopsis,
			    "--openers: at most %u values", NK_MAX));
		opt.k[opt.nk++] = (unsigned)ul;
	}
	if (opt.nk == 0)
		exit(vd_cli_usage_error(
		    PROG, synopsis, "--openers: empty list"));
}

static void
parse_listeners(const char *arg)
{
	char buf[256], *s, *tok, *save;
	unsigned l;
	bool any = false;

	if (strlen(arg) >= sizeof(buf))
		exit(vd_cli_usage_error(
		    PROG, synopsis, "--listeners: list too long"));
	strcpy(buf, arg);
	memset(opt.run, 0, sizeof(opt.run));
	for (s = buf; (tok = strtok_r(s, ",", &save)) != NULL; s = NULL) {
		for (l = 0; l < L_COUNT; l++)
			if (strcmp(tok, listeners[l].name) == 0)
				break;
		if (l == L_COUNT)
			exit(vd_cli_usage_error(PROG, synopsis,
			    "--listeners: unknown listener \"%s\" (none, "
			    "minimal, verdictd-park, verdictd-paths, "
			    "verdictd-spin, verdictd-hop, "
			    "verdictd-ignore, fapolicyd)",
			    tok));
		opt.run[l] = true;
		any = true;
	}
	if (!any)
		exit(vd_cli_usage_error(
		    PROG, synopsis, "--listeners: empty list"));
}

int
main(int argc, char **argv)
{
	enum { OPT_JSON = 256, OPT_FAPD_ROOT, OPT_HOG, OPT_OP };
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "duration", required_argument, NULL, 'd' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "openers", required_argument, NULL, 'k' },
		{ "listeners", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "fapolicyd-root", required_argument, NULL, OPT_FAPD_ROOT },
		{ "hog", required_argument, NULL, OPT_HOG },
		{ "op", required_argument, NULL, OPT_OP },
		{ NULL, 0, NULL, 0 },
	};
	char msg[512], *end;
	unsigned l, i, n;
	int c, rc;

	opt.nk = 2;
	opt.k[0] = 1;
	opt.k[1] = 8;
	for (l = 0; l < L_COUNT; l++)
		opt.run[l] = true;
	while (
	    (c = getopt_long(argc, argv, "hVd:k:l:r:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s %s\n", PROG, VD_VERSION_STRING);
			return 0;
		case 'd':
			errno = 0;
			opt.duration_s = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(opt.duration_s >= 0.01 && opt.duration_s <= 3600))
				return vd_cli_usage_error(PROG, synopsis,
				    "--duration: expected 0.01 to 3600 "
				    "seconds, got \"%s\"",
				    optarg);
			break;
		case 'r': {
			unsigned long ul;

			errno = 0;
			ul = strtoul(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    optarg[0] == '-' || ul < 1 || ul > ROUNDS_MAX)
				return vd_cli_usage_error(PROG, synopsis,
				    "--rounds: expected 1 to %d, got \"%s\"",
				    ROUNDS_MAX, optarg);
			opt.rounds = (unsigned)ul;
			break;
		}
		case 'k':
			parse_openers(optarg);
			break;
		case 'l':
			parse_listeners(optarg);
			break;
		case OPT_JSON:
			opt.json = true;
			break;
		case OPT_FAPD_ROOT:
			if (optarg[0] != '/')
				return vd_cli_usage_error(PROG, synopsis,
				    "--fapolicyd-root: expected an absolute "
				    "path, got \"%s\"",
				    optarg);
			fapd_root = optarg;
			break;
		case OPT_OP:
			if (strcmp(optarg, "open") == 0)
				opt.op = OP_OPEN;
			else if (strcmp(optarg, "exec") == 0)
				opt.op = OP_EXEC;
			else
				return vd_cli_usage_error(PROG, synopsis,
				    "--op: expected open or exec, got \"%s\"",
				    optarg);
			break;
		case OPT_HOG: {
			unsigned long ul;

			errno = 0;
			ul = strtoul(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    optarg[0] == '-' || ul >= CPU_SETSIZE)
				return vd_cli_usage_error(PROG, synopsis,
				    "--hog: expected a CPU number, got \"%s\"",
				    optarg);
			opt.hog_cpu = (int)ul;
			break;
		}
		default:
			return vd_cli_usage_error(PROG, synopsis, NULL);
		}
	}
	if (optind != argc)
		return vd_cli_usage_error(
		    PROG, synopsis, "unexpected argument: %s", argv[optind]);

	if (geteuid() != 0) {
		vd_cli_warnx(PROG,
		    "needs root (fanotify permission events need "
		    "CAP_SYS_ADMIN): skipped");
		return EXIT_SKIP;
	}

	/* Before any thread exists, so that every thread inherits it. */
	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGINT);
	sigaddset(&stopsigs, SIGTERM);
	sigaddset(&stopsigs, SIGHUP);
	if ((rc = pthread_sigmask(SIG_BLOCK, &stopsigs, NULL)) != 0) {
		vd_cli_warnx(PROG, "pthread_sigmask: %s", strerror(rc));
		return EXIT_FAIL;
	}
	/* A closed stdout gives EPIPE, not death with the directory left. */
	signal(SIGPIPE, SIG_IGN);
	/* --op exec: the programs of a killed openers' child come to us,
	 * not to init, and are reaped (reap_strays()). */
	if (opt.op == OP_EXEC && prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
		vd_cli_warnx(
		    PROG, "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
		return EXIT_FAIL;
	}

	enter_private_ns();
	if (atexit(remove_dir) != 0 || atexit(fapd_teardown) != 0 ||
	    make_fdir(&tdir, "tmpfs", false) != 0) {
		remove_dir();
		return EXIT_FAIL;
	}
	if (opt.run[L_FAPD] && fapd_setup() != 0) {
		vd_cli_warnx(
		    PROG, "fapolicyd: %s: its cells are skipped", fapd_why);
		opt.run[L_FAPD] = false;
	}
	if ((rc = probe_fanotify(msg, sizeof(msg))) != 0) {
		vd_cli_warnx(PROG,
		    "fanotify permission events unsupported here (%s): "
		    "skipped",
		    msg);
		return EXIT_SKIP;
	}

	if (opt.hog_cpu >= 0) {
		if (atexit(hog_stop) != 0 || hog_start(opt.hog_cpu) != 0)
			return EXIT_FAIL;
	}
	for (n = 0; n < opt.rounds && !stop_pending(); n++) {
		for (l = 0; l < L_COUNT && !stop_pending(); l++) {
			if (!opt.run[l])
				continue;
			for (i = 0; i < opt.nk && !stop_pending(); i++) {
				if (!run_cell((enum lkind)l, opt.k[i],
				        &rounds[n][l][i]))
					failed = true;
			}
		}
		if (!stop_pending())
			rounds_done = n + 1;
	}
	merge_rounds(rounds_done);

	if (opt.json) {
		print_json_cells();
	} else {
		print_table();
	}
	print_targets();
	fflush(stdout);

	hog_stop();
	if (caught != 0) {
		/* Every listener is down; leave as the signal asked. */
		vd_cli_warnx(PROG, "interrupted by %s", strsignal(caught));
		fapd_teardown();
		remove_dir();
		signal(caught, SIG_DFL);
		raise(caught);
		pthread_sigmask(SIG_UNBLOCK, &stopsigs, NULL);
		return EXIT_FAIL;
	}
	return failed ? EXIT_FAIL : 0;
}
