/*
 * fanotify.c — the Linux backend.  See fanotify.h.
 *
 * Threads and what each may do:
 *   - the reader: read() the groups, fill events, submit.  Its only other
 *     syscalls are fstat() and close() of each event's pidfd; on a miss of
 *     the identity cache, reads of /proc/<pid>; the answer to an event it
 *     cannot queue or that is our own; and, on a guard event, removing
 *     ignore marks.  It never opens a watched file, never logs.
 *   - workers: prepare() reads the event fd's identity (fstat) and, for
 *     path rules, its path (readlink); then the policy; respond() writes
 *     one answer; then decided() may add an ignore mark for an allow that
 *     pins the path (ignore_add()).
 *   - the timer: respond() only.
 *   - whichever of them drops an AUTH event last: retire() closes its fd,
 *     so that a worker the timer overtook can still read it.
 *   - the notify thread: prepare_notify() does fstat()/readlink() of
 *     notify fds and open_by_handle_at(O_PATH) for the FID group; then
 *     release().
 * Answering takes no lock it could wait on: respond() takes none, and a
 * worker only ever trylocks the ignore table's mutex (the reader and a
 * reload lock it).
 *
 * Our own process's permission events (a reload reading a watched policy
 * file) are allowed by the reader at once: the daemon never waits on
 * itself, whatever the workers are doing.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <verdict/backend.h>
#include <verdict/counters.h>
#include <verdict/pipeline.h>
#include <verdict/policy.h>

#include "backend/fanotify/fanotify.h"
#include "platform/platform.h"
#include "util/util.h"

#define NS_PER_SEC UINT64_C(1000000000)

/* Bytes per read(): about 1800 permission events with their pidfd. */
#define READ_BUF (64 * 1024)
/* Reads of the permission group between two looks at the others. */
#define PERM_READS_MAX 8
/* Bytes of a file handle kept for a FID event (MAX_HANDLE_SZ is 128). */
#define FH_MAX 128

#ifndef FAN_REPORT_PIDFD
#define FAN_REPORT_PIDFD          0x00000080
#define FAN_EVENT_INFO_TYPE_PIDFD 4
struct fanotify_event_info_pidfd {
	struct fanotify_event_info_header hdr;
	__s32 pidfd;
};
#endif

/* One cached process identity; written and read by the reader only. */
struct pent {
	bool valid;
	bool exe_known;            /* exe_dev and exe_ino were read */
	uint64_t pidino;           /* pidfs inode of the process, 0: unknown */
	uint64_t filled_ns;        /* when it was read from /proc */
	uint64_t exe_dev, exe_ino; /* the executable it was read with */
	struct vd_process proc;
};

/* A kept ignore mark: our descriptor of its inode, its mask, and the
 * inode's file handle (how the guard group names it). */
struct ign {
	int fd;
	uint64_t mask;
	union {
		struct file_handle h;
		unsigned char b[sizeof(struct file_handle) + FH_MAX];
	} fh;
};

/*
 * What makes the guard group report an ignored inode: a write (the kernel
 * drops the ignore mark itself; we drop our entry), a new or removed link
 * and other attribute changes, a rename, a deletion.  After a rename or a
 * new link the inode has a path the decision was not about.
 */
#define GUARD_MASK (FAN_MODIFY | FAN_ATTRIB | FAN_MOVE_SELF | FAN_DELETE_SELF)

/* A marked path, kept open (O_PATH) to resolve FID events on its fs. */
struct markpath {
	int fd;
	fsid_t fsid;
};

struct vd_fan {
	struct vd_fan_config cfg;
	char *paths[VD_FAN_MARKS_MAX]; /* our copies */
	struct markpath mp[VD_FAN_MARKS_MAX];
	struct vd_pipeline *p;
	_Atomic bool need_path;
	_Atomic bool need_exe;
	_Atomic uint64_t pause_ns; /* test hook: the reader sleeps once */
	void (*overflow)(void *ctx);
	void *overflow_ctx;
	int perm_fd, notif_fd, fid_fd, guard_fd, stop_fd, proc_fd, selffd_fd;
	bool hardlinks_protected; /* fs.protected_hardlinks = 1 */
	pid_t self;
	pthread_t reader;
	bool reader_started;
	_Atomic bool running;
	/* The reader's own. */
	struct pent *cache;
	uint32_t cmask;
	unsigned char *buf;
	/* Ignore marks: the epoch a decision must carry to become one. */
	_Atomic uint64_t ignore_epoch;
	pthread_mutex_t ign_lock;
	struct ign *ign;
	size_t nign;
	/* Books. */
	alignas(64) _Atomic uint64_t perm_events, notify_events, reads;
	_Atomic uint64_t overflows, cache_flushes, fd_errors, self_events;
	_Atomic uint64_t proc_hits, proc_misses, proc_exec_refresh, proc_errors;
	alignas(64) _Atomic uint64_t write_errors, write_failures, audited,
	    paths_resolved;
	_Atomic uint64_t ignore_guarded, ignore_renamed, ignore_unlocked;
	_Atomic uint64_t ignore_marks, ignore_added, ignore_full, ignore_stale,
	    ignore_dropped, ignore_errors;
};

static inline void
bump(_Atomic uint64_t *x)
{
	atomic_fetch_add_explicit(x, 1, memory_order_relaxed);
}

static inline uint64_t
get(const _Atomic uint64_t *x)
{
	return atomic_load_explicit(x, memory_order_relaxed);
}

void
vd_fan_config_init(struct vd_fan_config *c)
{
	memset(c, 0, sizeof(*c));
	c->types = (UINT32_C(1) << VD_AUTH_OPEN) |
	    (UINT32_C(1) << VD_AUTH_EXEC) | (UINT32_C(1) << VD_NOTIFY_CLOSE);
	c->mark = VD_FAN_MARK_DIRECTORY;
	c->ignore_max = 4096;
	c->proc_cache = 1024;
	c->proc_ttl_ns = NS_PER_SEC;
}

/* The kernel's mask bit for a permission type. */
static uint64_t
perm_mask(enum vd_event_type t)
{
	switch (t) {
	case VD_AUTH_OPEN:
		return FAN_OPEN_PERM;
	case VD_AUTH_EXEC:
		return FAN_OPEN_EXEC_PERM;
	case VD_AUTH_ACCESS:
		return FAN_ACCESS_PERM;
	default:
		return 0;
	}
}

#define BIT(t) (UINT32_C(1) << (t))
#define FID_TYPES                                                              \
	(BIT(VD_NOTIFY_CREATE) | BIT(VD_NOTIFY_UNLINK) | BIT(VD_NOTIFY_RENAME))
#define PERM_TYPES (BIT(VD_AUTH_OPEN) | BIT(VD_AUTH_EXEC) | BIT(VD_AUTH_ACCESS))

struct vd_fan *
vd_fan_create(const struct vd_fan_config *c, int *err, char *msg, size_t msgsz)
{
	struct vd_fan *fan;
	size_t i;

#define FAIL(...)                                                              \
	do {                                                                   \
		snprintf(msg, msgsz, __VA_ARGS__);                             \
		*err = -EINVAL;                                                \
		return NULL;                                                   \
	} while (0)
	if ((c->types & ~VD_FAN_TYPES) != 0)
		FAIL("fanotify delivers only auth.open, auth.exec, "
		     "auth.access and notify.close, notify.create, "
		     "notify.unlink, notify.rename");
	if ((c->types & PERM_TYPES) == 0)
		FAIL("fanotify: no permission event type (open, exec or "
		     "access) to answer");
	if (c->npaths == 0)
		FAIL("fanotify: no path to mark (set fanotify.paths)");
	if (c->npaths > VD_FAN_MARKS_MAX)
		FAIL("fanotify: %zu paths, at most %d", c->npaths,
		    VD_FAN_MARKS_MAX);
	if ((unsigned)c->mark >= VD_FAN_MARK_KINDS)
		FAIL("fanotify: mark kind %u: expected directory, mount or "
		     "filesystem",
		    (unsigned)c->mark);
	if ((c->types & FID_TYPES) && c->mark == VD_FAN_MARK_MOUNT)
		FAIL("fanotify: notify.create, notify.unlink and "
		     "notify.rename need directory or filesystem marks "
		     "(the kernel refuses them on mount marks)");
	if (c->ignore_max > VD_FAN_IGNORE_MAX)
		FAIL("fanotify: ignore_max %u, at most %u", c->ignore_max,
		    VD_FAN_IGNORE_MAX);
	if (c->proc_cache < 2 || c->proc_cache > (1u << 20) ||
	    (c->proc_cache & (c->proc_cache - 1)) != 0)
		FAIL("fanotify: proc_cache %u: expected a power of two from "
		     "2 to 1048576",
		    c->proc_cache);
	for (i = 0; i < c->npaths; i++)
		if (c->paths[i] == NULL || c->paths[i][0] != '/')
			FAIL("fanotify: path %zu: expected an absolute path",
			    i + 1);
#undef FAIL
	if ((fan = calloc(1, sizeof(*fan))) == NULL)
		goto nomem;
	fan->cfg = *c;
	fan->perm_fd = fan->notif_fd = fan->fid_fd = fan->guard_fd =
	    fan->stop_fd = fan->proc_fd = fan->selffd_fd = -1;
	for (i = 0; i < VD_FAN_MARKS_MAX; i++)
		fan->mp[i].fd = -1;
	for (i = 0; i < c->npaths; i++) {
		if ((fan->paths[i] = strdup(c->paths[i])) == NULL)
			goto nomem;
		fan->cfg.paths[i] = fan->paths[i];
	}
	fan->cmask = c->proc_cache - 1;
	fan->cache = calloc(c->proc_cache, sizeof(*fan->cache));
	fan->buf = aligned_alloc(64, READ_BUF);
	fan->ign =
	    c->ignore_max ? calloc(c->ignore_max, sizeof(*fan->ign)) : NULL;
	if (fan->cache == NULL || fan->buf == NULL ||
	    (c->ignore_max && fan->ign == NULL))
		goto nomem;
	pthread_mutex_init(&fan->ign_lock, NULL);
	atomic_init(&fan->ignore_epoch, 1);
	fan->self = getpid();
	atomic_store(&fan->need_path, c->read_paths);
	*err = 0;
	return fan;
nomem:
	vd_fan_destroy(fan);
	snprintf(msg, msgsz, "%s", strerror(ENOMEM));
	*err = -ENOMEM;
	return NULL;
}

void
vd_fan_test_pause(struct vd_fan *fan, uint64_t ns)
{
	atomic_store(&fan->pause_ns, ns);
}

void
vd_fan_set_overflow(struct vd_fan *fan, void (*fn)(void *ctx), void *ctx)
{
	fan->overflow = fn;
	fan->overflow_ctx = ctx;
}

/* The path of the file behind one of our descriptors, as readlink(2)
 * gives it: relative to /proc/self/fd, opened once, so each call skips
 * the walk down to it. */
static ssize_t
fd_path(const struct vd_fan *fan, int fd, char *buf, size_t size)
{
	char name[16];

	snprintf(name, sizeof(name), "%d", fd);
	return readlinkat(fan->selffd_fd, name, buf, size);
}

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
static void
proc_lookup(struct vd_fan *fan, pid_t pid, int pidfd, struct vd_process *out)
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

/* --- answering ------------------------------------------------------------
 */

/* One response per write; a refused one is retried as a plain verdict. */
static bool
write_response(struct vd_fan *fan, int fd, uint32_t response)
{
	struct fanotify_response r = { .fd = fd, .response = response };

	if (write(fan->perm_fd, &r, sizeof(r)) == (ssize_t)sizeof(r)) {
		if (response & FAN_AUDIT)
			bump(&fan->audited);
		return true;
	}
	bump(&fan->write_errors);
	r.response = response & (FAN_ALLOW | FAN_DENY);
	if (write(fan->perm_fd, &r, sizeof(r)) == (ssize_t)sizeof(r))
		return true;
	bump(&fan->write_failures);
	return false;
}

static bool
fan_respond(void *ctx, enum vd_event_type t, const struct vd_handle *h,
    const struct vd_decision *d)
{
	struct vd_fan *fan = ctx;
	uint32_t response = d->verdict == VD_ALLOW ? FAN_ALLOW : FAN_DENY;
	bool ok;

	if (d->audit && (fan->cfg.audit || fan->cfg.audit_without_init))
		response |= FAN_AUDIT;
	(void)t;
	ok = write_response(fan, h->fd, response);
	/* The descriptor stays open until retire: a worker may still be
	 * reading it for an evaluation the timer has overtaken. */
	return ok;
}

static void
fan_retire(void *ctx, enum vd_event_type t, const struct vd_handle *h)
{
	(void)ctx;
	(void)t;
	close(h->fd);
}

static void
fan_release(void *ctx, enum vd_event_type t, const struct vd_handle *h)
{
	(void)ctx;
	(void)t;
	if (h->fd >= 0)
		close(h->fd);
}

static bool
same_inode(const struct ign *e, const struct file_handle *fh)
{
	return e->fh.h.handle_type == fh->handle_type &&
	    e->fh.h.handle_bytes == fh->handle_bytes &&
	    memcmp(e->fh.h.f_handle, fh->f_handle, fh->handle_bytes) == 0;
}

/* The entry for this inode and mask, or (mask 0) for this inode with
 * another index than `skip`; NULL when none.  Caller holds ign_lock. */
static struct ign *
ignore_find(struct vd_fan *fan, const struct file_handle *fh, uint64_t mask,
    size_t skip)
{
	size_t i;

	for (i = 0; i < fan->nign; i++)
		if (i != skip && same_inode(&fan->ign[i], fh) &&
		    (mask == 0 || fan->ign[i].mask == mask))
			return &fan->ign[i];
	return NULL;
}

/* Removes entry i: its ignore mark, its guard mark (unless another entry
 * guards the same inode), its descriptor.  The caller holds ign_lock; the
 * last entry takes its place. */
static void
ignore_remove(struct vd_fan *fan, size_t i)
{
	struct ign *e = &fan->ign[i];

	/* ENOENT: the kernel dropped it already (the file was written). */
	(void)fanotify_mark(fan->perm_fd,
	    FAN_MARK_REMOVE | FAN_MARK_IGNORED_MASK, e->mask, e->fd, NULL);
	if (ignore_find(fan, &e->fh.h, 0, i) == NULL)
		(void)fanotify_mark(
		    fan->guard_fd, FAN_MARK_REMOVE, GUARD_MASK, e->fd, NULL);
	close(e->fd);
	*e = fan->ign[--fan->nign];
	atomic_store_explicit(
	    &fan->ignore_marks, fan->nign, memory_order_relaxed);
}

/*
 * True when no process but root's can give the file another path: the
 * file is root's and not writable by others (so, with
 * fs.protected_hardlinks, nobody else can link it), and at every step up
 * to "/" the directory is root's and either writable by root alone or
 * sticky with a root-owned entry (so nobody else can rename the file or
 * any directory above it).  Renames by root are caught by the guard
 * group, after the fact; those by anyone else would race it, so their
 * files get no ignore mark at all.
 */
static bool
path_locked(const struct vd_fan *fan, const struct stat *file, const char *path)
{
	char dir[VD_PATH_MAX];
	uid_t entry_uid = file->st_uid;
	struct stat st;
	char *slash;

	if (!fan->hardlinks_protected || file->st_uid != 0 ||
	    (file->st_mode & (S_IWGRP | S_IWOTH)) != 0 || path[0] != '/')
		return false;
	snprintf(dir, sizeof(dir), "%s", path);
	while ((slash = strrchr(dir, '/')) != NULL) {
		if (slash == dir)
			slash[1] = '\0'; /* "/" itself */
		else
			*slash = '\0';
		/* A directory: lstat looks it up, it opens nothing. */
		if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
		    st.st_uid != 0)
			return false;
		if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
		    !((st.st_mode & S_ISVTX) && entry_uid == 0))
			return false;
		if (dir[1] == '\0')
			return true;
		entry_uid = st.st_uid;
	}
	return false;
}

/*
 * Called on a worker after the policy allowed an event for everyone
 * (path_only), before the answer: puts an ignore mark on the inode.
 * The guard mark comes first, so a rename from then on is reported; the
 * path and link count are read again after both marks, so a rename
 * before them is seen too.  Never waits: if a reload or the reader holds
 * the table, the mark is simply not added.
 */
static void
ignore_add(struct vd_fan *fan, const struct vd_event *ev, uint64_t epoch)
{
	uint64_t mask = perm_mask((enum vd_event_type)ev->type);
	char now[VD_PATH_MAX];
	struct stat st;
	struct ign *e;
	ssize_t n;
	int mount_id, fd = -1;

	if (pthread_mutex_trylock(&fan->ign_lock) != 0) {
		bump(&fan->ignore_stale);
		return;
	}
	if (epoch != atomic_load(&fan->ignore_epoch)) {
		bump(&fan->ignore_stale); /* decided under the old policy */
		goto out;
	}
	if (fan->nign >= fan->cfg.ignore_max) {
		bump(&fan->ignore_full);
		goto out;
	}
	/* Only a path nobody but root can change (a decision about the path
	 * alone is about that path). */
	if (atomic_load(&fan->need_path) &&
	    (fstat(ev->handle.fd, &st) != 0 ||
	        !path_locked(fan, &st, ev->target))) {
		bump(&fan->ignore_unlocked);
		goto out;
	}
	e = &fan->ign[fan->nign];
	e->fh.h.handle_bytes = FH_MAX;
	if ((fd = dup(ev->handle.fd)) < 0 ||
	    name_to_handle_at(fd, "", &e->fh.h, &mount_id, AT_EMPTY_PATH) != 0)
		goto error;
	/* Events for one file decided in parallel: one mark is enough. */
	if (ignore_find(fan, &e->fh.h, mask, SIZE_MAX) != NULL) {
		close(fd);
		goto out;
	}
	if (fanotify_mark(fan->guard_fd, FAN_MARK_ADD, GUARD_MASK, fd, NULL) !=
	    0)
		goto error;
	if (fanotify_mark(fan->perm_fd, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK,
	        mask, fd, NULL) != 0) {
		(void)fanotify_mark(
		    fan->guard_fd, FAN_MARK_REMOVE, GUARD_MASK, fd, NULL);
		goto error;
	}
	/* Still the path and the only link the decision was about? */
	n = fd_path(fan, fd, now, sizeof(now) - 1);
	if (n < 0 || fstat(fd, &st) != 0 || st.st_nlink != 1 ||
	    (atomic_load(&fan->need_path) &&
	        (strncmp(now, ev->target, (size_t)n) != 0 ||
	            ev->target[n] != '\0'))) {
		e->fd = fd;
		e->mask = mask;
		fan->nign++;
		ignore_remove(fan, fan->nign - 1);
		bump(&fan->ignore_renamed);
		goto out;
	}
	e->fd = fd;
	e->mask = mask;
	fan->nign++;
	atomic_store_explicit(
	    &fan->ignore_marks, fan->nign, memory_order_relaxed);
	bump(&fan->ignore_added);
	goto out;
error:
	bump(&fan->ignore_errors);
	if (fd >= 0)
		close(fd);
out:
	pthread_mutex_unlock(&fan->ign_lock);
}

/*
 * The reader, on a guard event: the inode behind fh was written, linked,
 * renamed or deleted; its ignore marks go (all of them on an overflow,
 * fh NULL, since a rename may have been lost).
 */
static void
ignore_guard_event(struct vd_fan *fan, const struct file_handle *fh)
{
	size_t i;

	pthread_mutex_lock(&fan->ign_lock);
	for (i = fan->nign; i-- > 0;)
		if (fh == NULL || same_inode(&fan->ign[i], fh)) {
			ignore_remove(fan, i);
			bump(&fan->ignore_guarded);
		}
	pthread_mutex_unlock(&fan->ign_lock);
}

size_t
vd_fan_drop_ignores(struct vd_fan *fan)
{
	size_t n;

	pthread_mutex_lock(&fan->ign_lock);
	/* First the epoch: a decision made before this point, answered
	 * after it, no longer becomes a mark. */
	atomic_fetch_add(&fan->ignore_epoch, 1);
	n = fan->nign;
	while (fan->nign > 0)
		ignore_remove(fan, fan->nign - 1);
	atomic_fetch_add(&fan->ignore_dropped, n);
	pthread_mutex_unlock(&fan->ign_lock);
	return n;
}

/* --- the evaluator wrapper (workers, notify thread) ---------------------- */

/* Reads the path and identity of the file behind fd into ev. */
static void
resolve_fd(struct vd_fan *fan, struct vd_event *ev, int fd, bool path)
{
	struct stat st;
	ssize_t n;

	ev->target_id = false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1) {
		/* One link: the identity pins one path. */
		ev->target_id = true;
		ev->target_dev = (uint64_t)st.st_dev;
		ev->target_ino = (uint64_t)st.st_ino;
		ev->target_ctime_ns = (uint64_t)st.st_ctim.tv_sec * NS_PER_SEC +
		    (uint64_t)st.st_ctim.tv_nsec;
	}
	if (!path)
		return;
	n = fd_path(fan, fd, ev->target, VD_PATH_MAX - 1);
	if (n < 0) {
		/* No path we can trust: never matches a path rule. */
		ev->target[0] = '\0';
		ev->target_truncated = true;
		return;
	}
	ev->target[n] = '\0';
	ev->target_truncated = (size_t)n >= VD_PATH_MAX - 1;
	bump(&fan->paths_resolved);
}

/* Worker, before the policy: the object's identity, and its path when
 * the policy reads paths.  The cookie is the ignore epoch the decision is
 * made under (see vd_fan_drop_ignores), read before the policy is. */
static uint64_t
fan_prepare(void *ctx, unsigned worker, struct vd_event *ev)
{
	struct vd_fan *fan = ctx;
	uint64_t epoch = atomic_load(&fan->ignore_epoch);

	(void)worker;
	resolve_fd(fan, ev, ev->handle.fd, atomic_load(&fan->need_path));
	return epoch;
}

/* Worker, after its ALLOW reached the kernel: a decision about the path
 * alone becomes an ignore mark, when the inode pins the path. */
static void
fan_decided(void *ctx, unsigned worker, const struct vd_event *ev,
    const struct vd_decision *d, uint64_t epoch)
{
	struct vd_fan *fan = ctx;

	(void)worker;
	if (d->verdict == VD_ALLOW && d->path_only && ev->target_id &&
	    !ev->target_truncated && fan->guard_fd >= 0)
		ignore_add(fan, ev, epoch);
}

/* FID events: the reader left the name in target and the directory's
 * fsid and handle in backend_data; make target "dir/name". */
static void
resolve_fid(struct vd_fan *fan, struct vd_event *ev)
{
	char name[256], dir[VD_PATH_MAX];
	struct file_handle *fh;
	fsid_t fsid;
	ssize_t n;
	size_t i;
	int fd = -1;

	memcpy(&fsid, ev->backend_data, sizeof(fsid));
	fh = (struct file_handle *)(void *)(ev->backend_data + sizeof(fsid));
	vd_copy_path(name, sizeof(name), ev->target, strlen(ev->target));
	for (i = 0; i < fan->cfg.npaths && fd < 0; i++)
		if (fan->mp[i].fd >= 0 &&
		    memcmp(&fan->mp[i].fsid, &fsid, sizeof(fsid)) == 0)
			fd = open_by_handle_at(
			    fan->mp[i].fd, fh, O_PATH | O_CLOEXEC);
	ev->backend_len = 0;
	if (fd < 0) {
		/* The directory is gone: keep the bare name. */
		ev->target_truncated = true;
		return;
	}
	n = fd_path(fan, fd, dir, sizeof(dir) - 1);
	close(fd);
	if (n < 0) {
		ev->target_truncated = true;
		return;
	}
	dir[n] = '\0';
	n = snprintf(ev->target, VD_PATH_MAX, "%s/%s", dir, name);
	ev->target_truncated = n < 0 || n >= VD_PATH_MAX;
}

/* Notify thread: close-write events get the file's identity (the
 * decision cache's invalidation), FID events their path. */
static void
fan_prepare_notify(void *ctx, struct vd_event *const *evs, size_t n)
{
	struct vd_fan *fan = ctx;
	size_t i;

	for (i = 0; i < n; i++) {
		struct vd_event *ev = evs[i];

		if (ev->type == VD_NOTIFY_CLOSE && ev->handle.fd >= 0)
			resolve_fd(fan, ev, ev->handle.fd,
			    atomic_load(&fan->need_path));
		else if (ev->backend_len != 0)
			resolve_fid(fan, ev);
	}
}

static const struct vd_backend_ops fan_ops = {
	.name = "fanotify",
	.respond = fan_respond,
	.release = fan_release,
	.retire = fan_retire,
	.prepare = fan_prepare,
	.decided = fan_decided,
	.prepare_notify = fan_prepare_notify,
};

const struct vd_backend_ops *
vd_fan_ops(void)
{
	return &fan_ops;
}

/* --- the reader ----------------------------------------------------------
 */

static void
clear_event(struct vd_event *ev, int fd)
{
	ev->open_flags = 0;
	ev->arrival_ns = 0;
	ev->deadline_ns = 0;
	ev->handle = (struct vd_handle){ NULL, 0, fd };
	ev->target_truncated = ev->target2_truncated = false;
	ev->close_modified = false;
	ev->target_id = false;
	ev->target[0] = ev->target2[0] = '\0';
	ev->backend_len = 0;
}

/* The event's info record of a type, or NULL. */
static const struct fanotify_event_info_header *
info_find(const struct fanotify_event_metadata *md, uint8_t type)
{
	size_t off = md->metadata_len;

	while (
	    off + sizeof(struct fanotify_event_info_header) <= md->event_len) {
		const struct fanotify_event_info_header *ih =
		    (const void *)((const char *)md + off);

		if (ih->len == 0)
			break;
		if (ih->info_type == type)
			return ih;
		off += ih->len;
	}
	return NULL;
}

/* The event's pidfd, or -1. */
static int
info_pidfd(const struct fanotify_event_metadata *md)
{
	const struct fanotify_event_info_header *ih =
	    info_find(md, FAN_EVENT_INFO_TYPE_PIDFD);

	return ih != NULL
	    ? ((const struct fanotify_event_info_pidfd *)(const void *)ih)
	          ->pidfd
	    : -1;
}

/* The event type of a permission event. */
static enum vd_event_type
perm_type(const struct fanotify_event_metadata *md)
{
	return (md->mask & FAN_OPEN_EXEC_PERM) ? VD_AUTH_EXEC
	    : (md->mask & FAN_ACCESS_PERM)     ? VD_AUTH_ACCESS
	                                       : VD_AUTH_OPEN;
}

static void
read_perm_event(struct vd_fan *fan, const struct fanotify_event_metadata *md)
{
	enum vd_event_type t;
	struct vd_event *ev;
	int pidfd = info_pidfd(md);

	bump(&fan->perm_events);
	if (md->fd < 0) {
		/* Nothing to answer with: the kernel decides alone. */
		bump(&fan->fd_errors);
		goto out;
	}
	t = perm_type(md);
	if (md->pid == fan->self) {
		/* Our own access (a reload reading a watched file): the
		 * daemon never waits on itself. */
		bump(&fan->self_events);
		(void)write_response(fan, md->fd, FAN_ALLOW);
		close(md->fd);
		goto out;
	}
	if ((ev = vd_pipeline_event_get(fan->p, t)) == NULL) {
		struct vd_handle h = { NULL, 0, md->fd };

		vd_pipeline_refuse(fan->p, t, &h);
		goto out;
	}
	clear_event(ev, md->fd);
	proc_lookup(fan, md->pid, pidfd, &ev->proc);
	vd_pipeline_submit(fan->p, ev);
out:
	if (pidfd >= 0)
		close(pidfd);
}

static void
submit_notify(struct vd_fan *fan, enum vd_event_type t, int fd,
    const struct fanotify_event_info_fid *fid, pid_t pid)
{
	struct vd_event *ev;

	if ((fan->cfg.types & BIT(t)) == 0)
		goto release;
	if ((ev = vd_pipeline_event_get(fan->p, t)) == NULL) {
		struct vd_handle h = { NULL, 0, fd };

		vd_pipeline_refuse(fan->p, t, &h);
		return;
	}
	clear_event(ev, fd);
	memset(&ev->proc, 0, offsetof(struct vd_process, exe) + 1);
	ev->proc.pid = pid;
	if (t == VD_NOTIFY_CLOSE)
		ev->close_modified = true;
	if (fid != NULL) {
		const struct file_handle *fh =
		    (const struct file_handle *)(const void *)fid->handle;
		size_t fhlen = sizeof(*fh) + fh->handle_bytes;
		const char *name = (const char *)fid->handle + fhlen;

		if (fhlen <= sizeof(*fh) + FH_MAX) {
			/* Resolved on the notify thread (resolve_fid). */
			memcpy(ev->backend_data, &fid->fsid, sizeof(fid->fsid));
			memcpy(ev->backend_data + sizeof(fid->fsid), fh, fhlen);
			ev->backend_len = (uint16_t)(sizeof(fid->fsid) + fhlen);
			vd_copy_path(
			    ev->target, VD_PATH_MAX, name, strnlen(name, 255));
		}
	}
	vd_pipeline_submit(fan->p, ev);
	return;
release:
	if (fd >= 0)
		close(fd);
}

static void
read_notify_event(struct vd_fan *fan, const struct fanotify_event_metadata *md)
{
	const struct fanotify_event_info_fid *fid = NULL;

	if (md->mask & FAN_Q_OVERFLOW) {
		/* Invalidations may be lost: flush what they guard. */
		bump(&fan->overflows);
		if (fan->overflow != NULL) {
			fan->overflow(fan->overflow_ctx);
			bump(&fan->cache_flushes);
		}
		if (md->fd >= 0)
			close(md->fd);
		return;
	}
	bump(&fan->notify_events);
	fid = (const void *)info_find(md, FAN_EVENT_INFO_TYPE_DFID_NAME);
	if (md->mask & FAN_CLOSE_WRITE) {
		submit_notify(fan, VD_NOTIFY_CLOSE, md->fd, NULL, md->pid);
		return;
	}
	if (md->fd >= 0)
		close(md->fd);
	if (fid == NULL)
		return;
	/* The kernel merges dirent events on one name: one event each. */
	if (md->mask & FAN_CREATE)
		submit_notify(fan, VD_NOTIFY_CREATE, -1, fid, md->pid);
	if (md->mask & FAN_DELETE)
		submit_notify(fan, VD_NOTIFY_UNLINK, -1, fid, md->pid);
	if (md->mask & (FAN_MOVED_FROM | FAN_MOVED_TO))
		submit_notify(fan, VD_NOTIFY_RENAME, -1, fid, md->pid);
}

/* The guard group: an ignored inode changed (see GUARD_MASK). */
static void
read_guard_event(struct vd_fan *fan, const struct fanotify_event_metadata *md)
{
	const struct fanotify_event_info_fid *fid = NULL;

	if (md->mask & FAN_Q_OVERFLOW) {
		/* A rename may be lost: no ignore mark can be trusted. */
		bump(&fan->overflows);
		ignore_guard_event(fan, NULL);
		return;
	}
	fid = (const void *)info_find(md, FAN_EVENT_INFO_TYPE_FID);
	if (fid != NULL)
		ignore_guard_event(
		    fan, (const struct file_handle *)(const void *)fid->handle);
}

enum group { G_PERM, G_NOTIFY, G_GUARD };

/* One read of a group; -1 on a fatal error, 0 when empty, else 1. */
static int
read_group(struct vd_fan *fan, int fd, enum group g)
{
	const struct fanotify_event_metadata *md;
	ssize_t n;

	n = read(fd, fan->buf, READ_BUF);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		/* No descriptor for the event: the kernel has answered it
		 * (a permission event is denied); the next ones may fit. */
		if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
			bump(&fan->fd_errors);
			return 0;
		}
		return -1;
	}
	if (n == 0)
		return 0;
	bump(&fan->reads);
	md = (const void *)fan->buf;
	for (; FAN_EVENT_OK(md, n); md = FAN_EVENT_NEXT(md, n)) {
		if (md->vers != FANOTIFY_METADATA_VERSION)
			return -1;
		if (g == G_PERM)
			read_perm_event(fan, md);
		else if (g == G_NOTIFY)
			read_notify_event(fan, md);
		else
			read_guard_event(fan, md);
	}
	return 1;
}

static void *
reader_main(void *arg)
{
	struct vd_fan *fan = arg;
	struct pollfd pfd[5];
	nfds_t n = 0, i;
	int rc, k;

	vd_thread_name("vd-fan-reader");
	pfd[n++] = (struct pollfd){ .fd = fan->stop_fd, .events = POLLIN };
	pfd[n++] = (struct pollfd){ .fd = fan->perm_fd, .events = POLLIN };
	if (fan->notif_fd >= 0)
		pfd[n++] =
		    (struct pollfd){ .fd = fan->notif_fd, .events = POLLIN };
	if (fan->fid_fd >= 0)
		pfd[n++] =
		    (struct pollfd){ .fd = fan->fid_fd, .events = POLLIN };
	if (fan->guard_fd >= 0)
		pfd[n++] =
		    (struct pollfd){ .fd = fan->guard_fd, .events = POLLIN };
	for (;;) {
		uint64_t pause = atomic_exchange(&fan->pause_ns, 0);

		if (pause != 0) {
			/* Test hook: a reader that falls behind. */
			struct timespec ts = { (time_t)(pause / NS_PER_SEC),
				(long)(pause % NS_PER_SEC) };

			nanosleep(&ts, NULL);
		}
		/* Permission events first, and until the queue is empty
		 * (bounded, so notify events are not starved). */
		for (k = 0; k < PERM_READS_MAX; k++) {
			if ((rc = read_group(fan, fan->perm_fd, G_PERM)) < 0)
				goto fatal;
			if (rc == 0)
				break;
		}
		for (i = 2; i < n; i++)
			if (pfd[i].revents & POLLIN)
				if (read_group(fan, pfd[i].fd,
				        pfd[i].fd == fan->guard_fd
				            ? G_GUARD
				            : G_NOTIFY) < 0)
					goto fatal;
		if (k == PERM_READS_MAX)
			continue;
		if (poll(pfd, n, -1) < 0 && errno != EINTR)
			goto fatal;
		if (pfd[0].revents & POLLIN)
			break;
	}
	atomic_store(&fan->running, false);
	return NULL;
fatal:
	atomic_store(&fan->running, false);
	return NULL;
}

/* --- start and stop --------------------------------------------------------
 */

static int
mark_all(struct vd_fan *fan, int gfd, uint64_t mask, bool children,
    const char *what, char *msg, size_t msgsz)
{
	unsigned flags = FAN_MARK_ADD;
	char q[VD_PATH_MAX];
	size_t i;

	switch (fan->cfg.mark) {
	case VD_FAN_MARK_DIRECTORY:
		flags |= FAN_MARK_ONLYDIR;
		if (children)
			mask |= FAN_EVENT_ON_CHILD;
		break;
	case VD_FAN_MARK_MOUNT:
		flags |= FAN_MARK_MOUNT;
		break;
	case VD_FAN_MARK_FILESYSTEM:
		flags |= FAN_MARK_FILESYSTEM;
		break;
	case VD_FAN_MARK_KINDS:
		break; /* refused by vd_fan_create */
	}
	for (i = 0; i < fan->cfg.npaths; i++)
		if (fanotify_mark(
		        gfd, flags, mask, AT_FDCWD, fan->cfg.paths[i]) != 0) {
			int e = errno;

			snprintf(msg, msgsz,
			    "%s: fanotify_mark (%s mark, %s): %s",
			    vd_quote(q, sizeof(q), fan->cfg.paths[i]),
			    vd_fan_mark_name(fan->cfg.mark), what, strerror(e));
			return -e;
		}
	return 0;
}

static int
fail_errno(char *msg, size_t msgsz, const char *what)
{
	int e = errno;

	snprintf(msg, msgsz, "%s: %s%s", what, strerror(e),
	    e == EPERM ? " (fanotify needs CAP_SYS_ADMIN: run as root)" : "");
	return -e;
}

/* Enough descriptors for every event in flight and every ignore mark. */
static void
raise_nofile(const struct vd_fan *fan)
{
	const struct vd_config *pc = vd_pipeline_config(fan->p);
	rlim_t need = (rlim_t)pc->pool_size * VD_EVENT_TYPE_COUNT +
	    fan->cfg.ignore_max + 256;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need
	    ? need
	    : rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}

int
vd_fan_start(struct vd_fan *fan, struct vd_pipeline *p, char *msg, size_t msgsz)
{
	unsigned init = FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK |
	    FAN_UNLIMITED_QUEUE | FAN_UNLIMITED_MARKS;
	unsigned evflags = O_RDONLY | O_LARGEFILE | O_CLOEXEC;
	uint64_t mask = 0;
	size_t i;
	int rc;

	fan->p = p;
	raise_nofile(fan);
	for (i = 0; i < VD_AUTH_TYPE_COUNT; i++)
		if (fan->cfg.types & BIT(i))
			mask |= perm_mask((enum vd_event_type)i);
	if ((fan->proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC)) <
	    0)
		return fail_errno(msg, msgsz, "/proc");
	if ((fan->selffd_fd = open(
	         "/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return fail_errno(msg, msgsz, "/proc/self/fd");
	if (fan->cfg.audit)
		init |= FAN_ENABLE_AUDIT;
	fan->perm_fd = fanotify_init(init | FAN_REPORT_PIDFD, evflags);
	if (fan->perm_fd < 0 && errno == EINVAL) {
		/* Before Linux 5.15: identities are then re-read on every
		 * event (no pidfd to tell a reused pid). */
		fan->perm_fd = fanotify_init(init, evflags);
	}
	if (fan->perm_fd < 0)
		return fail_errno(msg, msgsz,
		    fan->cfg.audit ? "fanotify_init (FAN_CLASS_CONTENT, "
		                     "FAN_ENABLE_AUDIT)"
		                   : "fanotify_init (FAN_CLASS_CONTENT)");
	if ((rc = mark_all(fan, fan->perm_fd, mask, true, "permission events",
	         msg, msgsz)) != 0)
		return rc;
	if (fan->cfg.types & BIT(VD_NOTIFY_CLOSE)) {
		fan->notif_fd = fanotify_init(
		    FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK, evflags);
		if (fan->notif_fd < 0)
			return fail_errno(
			    msg, msgsz, "fanotify_init (FAN_CLASS_NOTIF)");
		if ((rc = mark_all(fan, fan->notif_fd, FAN_CLOSE_WRITE, true,
		         "close-write", msg, msgsz)) != 0)
			return rc;
	}
	if (fan->cfg.types & FID_TYPES) {
		fan->fid_fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC |
		        FAN_NONBLOCK | FAN_REPORT_DFID_NAME,
		    evflags);
		if (fan->fid_fd < 0)
			return fail_errno(msg, msgsz,
			    "fanotify_init (FAN_CLASS_NOTIF, "
			    "FAN_REPORT_DFID_NAME)");
		if ((rc = mark_all(fan, fan->fid_fd,
		         FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM |
		             FAN_MOVED_TO | FAN_ONDIR,
		         false, "create/delete/move", msg, msgsz)) != 0)
			return rc;
		for (i = 0; i < fan->cfg.npaths; i++) {
			struct statfs sf;

			fan->mp[i].fd =
			    open(fan->cfg.paths[i], O_PATH | O_CLOEXEC);
			if (fan->mp[i].fd >= 0 &&
			    fstatfs(fan->mp[i].fd, &sf) == 0)
				fan->mp[i].fsid = sf.f_fsid;
		}
	}
	{
		char b[8] = "";
		ssize_t k;
		int pfd = open(
		    "/proc/sys/fs/protected_hardlinks", O_RDONLY | O_CLOEXEC);

		if (pfd >= 0) {
			k = read(pfd, b, sizeof(b) - 1);
			fan->hardlinks_protected = k > 0 && b[0] == '1';
			close(pfd);
		}
	}
	if (fan->cfg.ignore_max > 0) {
		/* Ignore marks are kept only with a guard (see GUARD_MASK);
		 * without FID groups (before Linux 5.1) there are none. */
		fan->guard_fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC |
		        FAN_NONBLOCK | FAN_REPORT_FID | FAN_UNLIMITED_MARKS,
		    evflags);
	}
	if ((fan->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return fail_errno(msg, msgsz, "eventfd");
	atomic_store(&fan->running, true);
	if ((rc = pthread_create(&fan->reader, NULL, reader_main, fan)) != 0) {
		atomic_store(&fan->running, false);
		snprintf(msg, msgsz, "pthread_create: %s", strerror(rc));
		return -rc;
	}
	fan->reader_started = true;
	return 0;
}

void
vd_fan_quiesce(struct vd_fan *fan)
{
	uint64_t one = 1;

	if (fan == NULL || !fan->reader_started)
		return;
	if (write(fan->stop_fd, &one, sizeof(one)) != sizeof(one))
		(void)0; /* an eventfd write cannot fail here */
	pthread_join(fan->reader, NULL);
	fan->reader_started = false;
	atomic_store(&fan->running, false);
}

bool
vd_fan_running(const struct vd_fan *fan)
{
	return atomic_load(&fan->running);
}

static void
closefd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* After the marks are gone: what the kernel still queues gets the default
 * of its type, so no opener is left waiting for a closed group. */
static void
drain(struct vd_fan *fan)
{
	const struct fanotify_event_metadata *md;
	struct vd_type_config tc;
	enum vd_event_type t;
	ssize_t n;

	while ((n = read(fan->perm_fd, fan->buf, READ_BUF)) > 0) {
		md = (const void *)fan->buf;
		for (; FAN_EVENT_OK(md, n); md = FAN_EVENT_NEXT(md, n)) {
			int pidfd = info_pidfd(md);

			if (pidfd >= 0)
				close(pidfd);
			if (md->fd < 0)
				continue;
			t = perm_type(md);
			vd_pipeline_type_config(fan->p, t, &tc);
			write_response(fan, md->fd,
			    tc.default_verdict == VD_ALLOW ? FAN_ALLOW
			                                   : FAN_DENY);
			close(md->fd);
		}
	}
}

void
vd_fan_finish(struct vd_fan *fan)
{
	size_t i;

	if (fan == NULL)
		return;
	vd_fan_quiesce(fan);
	if (fan->perm_fd >= 0) {
		static const unsigned kinds[] = { 0, FAN_MARK_MOUNT,
			FAN_MARK_FILESYSTEM };

		if (fan->ign != NULL)
			vd_fan_drop_ignores(fan);
		for (i = 0; i < 3; i++)
			(void)fanotify_mark(fan->perm_fd,
			    FAN_MARK_FLUSH | kinds[i], 0, AT_FDCWD, NULL);
		if (fan->p != NULL)
			drain(fan);
		close(fan->perm_fd);
		fan->perm_fd = -1;
	}
	closefd(&fan->notif_fd);
	closefd(&fan->fid_fd);
	closefd(&fan->guard_fd);
	closefd(&fan->stop_fd);
	closefd(&fan->proc_fd);
	closefd(&fan->selffd_fd);
	for (i = 0; i < VD_FAN_MARKS_MAX; i++)
		closefd(&fan->mp[i].fd);
}

void
vd_fan_destroy(struct vd_fan *fan)
{
	size_t i;

	if (fan == NULL)
		return;
	vd_fan_finish(fan);
	for (i = 0; i < VD_FAN_MARKS_MAX; i++)
		free(fan->paths[i]);
	if (fan->ign != NULL)
		pthread_mutex_destroy(&fan->ign_lock);
	free(fan->ign);
	free(fan->buf);
	free(fan->cache);
	free(fan);
}

void
vd_fan_stats(const struct vd_fan *fan, struct vd_fan_stats *o)
{
	memset(o, 0, sizeof(*o));
	o->perm_events = get(&fan->perm_events);
	o->notify_events = get(&fan->notify_events);
	o->reads = get(&fan->reads);
	o->overflows = get(&fan->overflows);
	o->cache_flushes = get(&fan->cache_flushes);
	o->fd_errors = get(&fan->fd_errors);
	o->self_events = get(&fan->self_events);
	o->write_errors = get(&fan->write_errors);
	o->write_failures = get(&fan->write_failures);
	o->audited = get(&fan->audited);
	o->proc_hits = get(&fan->proc_hits);
	o->proc_misses = get(&fan->proc_misses);
	o->proc_exec_refresh = get(&fan->proc_exec_refresh);
	o->proc_errors = get(&fan->proc_errors);
	o->paths_resolved = get(&fan->paths_resolved);
	o->ignore_marks = get(&fan->ignore_marks);
	o->ignore_added = get(&fan->ignore_added);
	o->ignore_full = get(&fan->ignore_full);
	o->ignore_stale = get(&fan->ignore_stale);
	o->ignore_dropped = get(&fan->ignore_dropped);
	o->ignore_errors = get(&fan->ignore_errors);
	o->ignore_guarded = get(&fan->ignore_guarded);
	o->ignore_renamed = get(&fan->ignore_renamed);
	o->ignore_unlocked = get(&fan->ignore_unlocked);
}

/* --- as a struct vd_backend ---------------------------------------------- */

static int
b_start(void *ctx, struct vd_pipeline *p, char *msg, size_t msgsz)
{
	return vd_fan_start(ctx, p, msg, msgsz);
}

static enum vd_backend_state
b_state(void *ctx)
{
	return vd_fan_running(ctx) ? VD_BACKEND_RUNNING : VD_BACKEND_FAILED;
}

static void
b_quiesce(void *ctx)
{
	vd_fan_quiesce(ctx);
}

static void
b_finish(void *ctx)
{
	vd_fan_finish(ctx);
}

static void
b_destroy(void *ctx)
{
	vd_fan_destroy(ctx);
}

/* Paths and executables are read only for rules that look at them; no
 * decision of the old policy stays in the kernel as an ignore mark. */
static int
b_policy_changed(
    void *ctx, const struct vd_policy *pol, char *msg, size_t msgsz)
{
	struct vd_fan *fan = ctx;

	(void)msg;
	(void)msgsz;
	atomic_store(&fan->need_path,
	    fan->cfg.read_paths || (pol != NULL && vd_policy_needs_path(pol)));
	atomic_store(&fan->need_exe, pol != NULL && vd_policy_needs_exe(pol));
	if (fan->ign != NULL)
		vd_fan_drop_ignores(fan);
	return 0;
}

static void
b_counters(
    void *ctx, void (*emit)(void *ectx, const struct vd_ctr *c), void *ectx)
{
	struct vd_fan_stats st;

	vd_fan_stats(ctx, &st);
	const struct vd_ctr c[] = {
		{ "backend.fanotify.perm_events", VD_CTR_COUNTER, "events",
		    "permission events read from the kernel",
		    (int64_t)st.perm_events },
		{ "backend.fanotify.notify_events", VD_CTR_COUNTER, "events",
		    "notify events read from the kernel",
		    (int64_t)st.notify_events },
		{ "backend.fanotify.reads", VD_CTR_COUNTER, "calls",
		    "read() calls that returned events", (int64_t)st.reads },
		{ "backend.fanotify.self_events", VD_CTR_COUNTER, "events",
		    "verdictd's own accesses, allowed at once",
		    (int64_t)st.self_events },
		{ "backend.fanotify.overflows", VD_CTR_COUNTER, "times",
		    "a notify group's queue overflowed",
		    (int64_t)st.overflows },
		{ "backend.fanotify.cache_flushes", VD_CTR_COUNTER, "times",
		    "decision caches flushed after an overflow",
		    (int64_t)st.cache_flushes },
		{ "backend.fanotify.fd_errors", VD_CTR_COUNTER, "events",
		    "permission events that came without a file descriptor",
		    (int64_t)st.fd_errors },
		{ "backend.fanotify.write_errors", VD_CTR_COUNTER, "answers",
		    "answers the kernel refused (then retried plain)",
		    (int64_t)st.write_errors },
		{ "backend.fanotify.write_failures", VD_CTR_COUNTER, "answers",
		    "answers whose plain retry failed too",
		    (int64_t)st.write_failures },
		{ "backend.fanotify.audited", VD_CTR_COUNTER, "answers",
		    "answers sent with FAN_AUDIT", (int64_t)st.audited },
		{ "backend.fanotify.proc.hits", VD_CTR_COUNTER, "events",
		    "process identities from the cache",
		    (int64_t)st.proc_hits },
		{ "backend.fanotify.proc.misses", VD_CTR_COUNTER, "events",
		    "process identities read from /proc",
		    (int64_t)st.proc_misses },
		{ "backend.fanotify.proc.exec_refreshes", VD_CTR_COUNTER,
		    "events", "identities re-read: the process exec'd since",
		    (int64_t)st.proc_exec_refresh },
		{ "backend.fanotify.proc.errors", VD_CTR_COUNTER, "events",
		    "identities /proc could not give (the process was gone)",
		    (int64_t)st.proc_errors },
		{ "backend.fanotify.paths_resolved", VD_CTR_COUNTER, "events",
		    "object paths read for the policy",
		    (int64_t)st.paths_resolved },
		{ "backend.fanotify.ignore.marks", VD_CTR_GAUGE, "marks",
		    "ignore marks in force", (int64_t)st.ignore_marks },
		{ "backend.fanotify.ignore.added", VD_CTR_COUNTER, "marks",
		    "ignore marks added for path-only allows",
		    (int64_t)st.ignore_added },
		{ "backend.fanotify.ignore.full", VD_CTR_COUNTER, "marks",
		    "ignore marks not added: fanotify.ignore_max reached",
		    (int64_t)st.ignore_full },
		{ "backend.fanotify.ignore.stale", VD_CTR_COUNTER, "marks",
		    "ignore marks not added: decided before a reload",
		    (int64_t)st.ignore_stale },
		{ "backend.fanotify.ignore.dropped", VD_CTR_COUNTER, "marks",
		    "ignore marks removed by reloads",
		    (int64_t)st.ignore_dropped },
		{ "backend.fanotify.ignore.errors", VD_CTR_COUNTER, "marks",
		    "ignore marks the kernel refused",
		    (int64_t)st.ignore_errors },
		{ "backend.fanotify.ignore.guarded", VD_CTR_COUNTER, "marks",
		    "ignore marks removed: the file was written, linked, "
		    "renamed or deleted",
		    (int64_t)st.ignore_guarded },
		{ "backend.fanotify.ignore.unlocked", VD_CTR_COUNTER, "marks",
		    "ignore marks not added: someone but root could rename or "
		    "link the file (or fs.protected_hardlinks is off)",
		    (int64_t)st.ignore_unlocked },
		{ "backend.fanotify.ignore.renamed", VD_CTR_COUNTER, "marks",
		    "ignore marks not added: the file was renamed or linked "
		    "while it was decided",
		    (int64_t)st.ignore_renamed },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		emit(ectx, &c[i]);
}

void
vd_fan_backend(struct vd_fan *fan, struct vd_backend *out)
{
	*out = (struct vd_backend){
		.ops = &fan_ops,
		.ops_ctx = fan,
		.ctx = fan,
		.policy_can = 0, /* no access mode, no code signing */
		.start = b_start,
		.state = b_state,
		.quiesce = b_quiesce,
		.finish = b_finish,
		.destroy = b_destroy,
		.policy_changed = b_policy_changed,
		.counters = b_counters,
	};
}
