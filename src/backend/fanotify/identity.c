/*
 * identity.c — process identities for the fanotify reader: exe, comm,
 * uid, gid, ppid and start time from /proc/<pid>, in a bounded cache keyed
 * by pid and checked on every event against the event's pidfd, so a
 * reused pid never inherits an identity.  The reader's alone.
 */
#include "backend/fanotify/internal.h"

/* --- process identity --------------------------------------------------- */

/* Reads a small /proc file relative to /proc; bytes read, or -1. */
static ssize_t
proc_read(int procfd, const char *name, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	if ((fd = openat(procfd, name, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* Fills *pr from /proc/<pid>: stat (comm, ppid, start time), status (uid,
 * gid), exe.  False when the process is gone. */
static bool
proc_fill(struct vd_fan *fan, pid_t pid, struct vd_process *pr)
{
	char name[64], buf[1024], *s, *e;
	const char *f;
	ssize_t n;

	memset(pr, 0, sizeof(*pr));
	pr->pid = pid;
	snprintf(name, sizeof(name), "%d/stat", (int)pid);
	if ((n = proc_read(fan->proc_fd, name, buf, sizeof(buf))) <= 0)
		return false;
	/* "pid (comm) state ppid ...": comm may hold spaces and ')'. */
	if ((s = strchr(buf, '(')) == NULL || (e = strrchr(buf, ')')) == NULL ||
	    e < s)
		return false;
	vd_copy_path(pr->comm, sizeof(pr->comm), s + 1, (size_t)(e - s - 1));
	/* Field 4 is the ppid, 22 the start time. */
	if ((f = vd_proc_stat_field(buf, 4)) != NULL)
		pr->ppid = (pid_t)strtol(f, NULL, 10);
	if ((f = vd_proc_stat_field(buf, 22)) != NULL)
		pr->start_time = strtoull(f, NULL, 10);
	snprintf(name, sizeof(name), "%d/status", (int)pid);
	if (proc_read(fan->proc_fd, name, buf, sizeof(buf)) > 0) {
		if ((s = strstr(buf, "\nUid:")) != NULL)
			pr->uid = (uid_t)strtoul(s + 5, NULL, 10);
		if ((s = strstr(buf, "\nGid:")) != NULL)
			pr->gid = (gid_t)strtoul(s + 5, NULL, 10);
	}
	snprintf(name, sizeof(name), "%d/exe", (int)pid);
	n = readlinkat(fan->proc_fd, name, pr->exe, sizeof(pr->exe) - 1);
	if (n < 0)
		n = 0; /* a kernel thread, or no permission */
	pr->exe[n] = '\0';
	pr->exe_truncated = (size_t)n >= sizeof(pr->exe) - 1;
	return true;
}

/* The identity of /proc/<pid>/exe (stat follows the link; it opens
 * nothing); false when the process is gone or has no executable. */
static bool
exe_identity(struct vd_fan *fan, pid_t pid, uint64_t *dev, uint64_t *ino)
{
	char name[64];
	struct stat st;

	snprintf(name, sizeof(name), "%d/exe", (int)pid);
	if (fstatat(fan->proc_fd, name, &st, 0) != 0)
		return false;
	*dev = (uint64_t)st.st_dev;
	*ino = (uint64_t)st.st_ino;
	return true;
}

/*
 * The identity of the process behind an event, keyed by (pid, start time):
 * an entry is used only while its pidfs inode matches the event's pidfd
 * (so a reused pid never inherits it), it is younger than the TTL (uid and
 * comm can change without an exec), and, when the policy looks at the
 * executable or the command name, /proc/<pid>/exe is still the file it
 * was read with: an execve keeps the pid and the start time, and the exec
 * of a file outside every mark produces no event of ours.
 */
void
vd__fan_proc_lookup(
    struct vd_fan *fan, pid_t pid, int pidfd, struct vd_process *out)
{
	uint32_t h = ((uint32_t)pid * 2654435761u) >> 7;
	struct pent *e = &fan->cache[h & fan->cmask];
	uint64_t now = vd_now_ns(), ino = 0, xdev = 0, xino = 0;
	bool xknown = false;
	struct stat st;

	if (pidfd >= 0 && fstat(pidfd, &st) == 0)
		ino = (uint64_t)st.st_ino;
	if (e->valid && e->proc.pid == pid && ino != 0 && e->pidino == ino &&
	    now - e->filled_ns < fan->cfg.proc_ttl_ns) {
		if (!atomic_load_explicit(
		        &fan->need_exe, memory_order_relaxed)) {
			bump(&fan->proc_hits);
			goto copy;
		}
		xknown = exe_identity(fan, pid, &xdev, &xino);
		if (xknown && e->exe_known && xdev == e->exe_dev &&
		    xino == e->exe_ino) {
			bump(&fan->proc_hits);
			goto copy;
		}
		bump(&fan->proc_exec_refresh);
	} else {
		bump(&fan->proc_misses);
		xknown = exe_identity(fan, pid, &xdev, &xino);
	}
	if (!proc_fill(fan, pid, &e->proc)) {
		bump(&fan->proc_errors);
		e->valid = false;
		memset(out, 0, sizeof(*out));
		out->pid = pid;
		return;
	}
	/* Read before the fill: an exec in between shows as a change on
	 * the next event, never as a stale match. */
	e->exe_known = xknown;
	e->exe_dev = xdev;
	e->exe_ino = xino;
	e->valid = true;
	e->pidino = ino;
	e->filled_ns = now;
copy:
	memcpy(out, &e->proc, offsetof(struct vd_process, exe));
	memcpy(
	    out->exe, e->proc.exe, strnlen(e->proc.exe, VD_PATH_MAX - 1) + 1);
}
