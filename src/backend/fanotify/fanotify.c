/*
 * fanotify.c — the Linux backend.  See fanotify.h.
 *
 * Threads and what each may do:
 *   - the reader: read() the groups, fill events, submit.  Its only other
 *     syscalls, when the policy reads process identities, are fstat() and
 *     close() of each event's pidfd (pidfds are asked for only then) and,
 *     on a miss of the identity cache, reads of /proc/<pid>; the answer
 *     to an event it cannot queue or that is our own; and, on a guard
 *     event, removing ignore marks.  It never opens a watched file, never logs.
 *   - workers: prepare() reads the event fd's identity (fstat) and, for
 *     path rules, its path (readlink); then the policy; respond() writes
 *     one answer; then decided() may add an ignore mark for an allow that
 *     pins the path (vd__fan_ignore_add()).
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

#include "backend/fanotify/internal.h"

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
	c->inline_answers = true;
}

/* The kernel's mask bit for a permission type. */
uint64_t
vd__fan_perm_mask(enum vd_event_type t)
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
	    fan->stop_fd = fan->proc_fd = fan->selffd_fd = fan->standby_fd = -1;
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
	fan->sbuf = c->inline_answers ? aligned_alloc(64, READ_BUF) : NULL;
	fan->ign =
	    c->ignore_max ? calloc(c->ignore_max, sizeof(*fan->ign)) : NULL;
	if (fan->cache == NULL || fan->buf == NULL ||
	    (c->inline_answers && fan->sbuf == NULL) ||
	    (c->ignore_max && fan->ign == NULL))
		goto nomem;
	pthread_mutex_init(&fan->ign_lock, NULL);
	pthread_mutex_init(&fan->proc_lock, NULL);
	atomic_init(&fan->ignore_epoch, 1);
	fan->self = getpid();
	atomic_store(&fan->need_path, c->read_paths);
	/* Until a policy says otherwise (b_policy_changed). */
	atomic_store(&fan->need_proc, true);
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
ssize_t
vd__fan_fd_path(const struct vd_fan *fan, int fd, char *buf, size_t size)
{
	char name[16];

	snprintf(name, sizeof(name), "%d", fd);
	return readlinkat(fan->selffd_fd, name, buf, size);
}

/* --- answering ------------------------------------------------------------
 */

/* One response per write; a refused one is retried as a plain verdict. */
bool
vd__fan_write_response(struct vd_fan *fan, int fd, uint32_t response)
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

/* Linux 6.3's; Debian 12's headers are older. */
#ifndef FAN_INFO
#define FAN_INFO 0x20
#endif
#ifndef FAN_RESPONSE_INFO_AUDIT_RULE
#define FAN_RESPONSE_INFO_AUDIT_RULE 1
#endif
#define FAN_TRUST_UNKNOWN 2

/* A response with the audit rule record, as <linux/fanotify.h> lays it. */
struct response_rule {
	struct fanotify_response r;
	uint8_t type, pad;
	uint16_t len;
	uint32_t rule_number, subj_trust, obj_trust;
};
_Static_assert(sizeof(struct response_rule) == 24, "the kernel's layout");

/*
 * An audited answer with the deciding rule's number, so that auditd's
 * FANOTIFY record names it; false when the kernel refuses it (before
 * 6.3), which then goes without for good.
 */
static bool
write_rule_response(
    struct vd_fan *fan, int fd, uint32_t response, uint32_t rule)
{
	struct response_rule rr = {
		.r = { .fd = fd, .response = response | FAN_INFO },
		.type = FAN_RESPONSE_INFO_AUDIT_RULE,
		.len = (uint16_t)(sizeof(rr) - sizeof(rr.r)),
		.rule_number = rule,
		.subj_trust = FAN_TRUST_UNKNOWN,
		.obj_trust = FAN_TRUST_UNKNOWN,
	};

	if (write(fan->perm_fd, &rr, sizeof(rr)) == (ssize_t)sizeof(rr)) {
		bump(&fan->audited);
		bump(&fan->audit_rules);
		return true;
	}
	atomic_store(&fan->no_rule_info, true);
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
	if ((response & FAN_AUDIT) && d->rule != 0 &&
	    !atomic_load_explicit(&fan->no_rule_info, memory_order_relaxed) &&
	    write_rule_response(fan, h->fd, response, d->rule))
		return true;
	ok = vd__fan_write_response(fan, h->fd, response);
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
	n = vd__fan_fd_path(fan, fd, ev->target, VD_PATH_MAX - 1);
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
		vd__fan_ignore_add(fan, ev, epoch);
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
	n = vd__fan_fd_path(fan, fd, dir, sizeof(dir) - 1);
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

/* Timer thread: the reader is stuck answering inline; wake the standby. */
static void
fan_stuck(void *ctx)
{
	struct vd_fan *fan = ctx;
	uint64_t one = 1;

	if (fan->standby_fd >= 0 &&
	    write(fan->standby_fd, &one, sizeof(one)) != sizeof(one))
		(void)0; /* the counter is already set: it is awake */
}

static const struct vd_backend_ops fan_ops = {
	.name = "fanotify",
	.respond = fan_respond,
	.release = fan_release,
	.retire = fan_retire,
	.prepare = fan_prepare,
	.decided = fan_decided,
	.prepare_notify = fan_prepare_notify,
	.stuck = fan_stuck,
};

const struct vd_backend_ops *
vd_fan_ops(void)
{
	return &fan_ops;
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
			mask |= vd__fan_perm_mask((enum vd_event_type)i);
	if ((fan->proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC)) <
	    0)
		return fail_errno(msg, msgsz, "/proc");
	if ((fan->selffd_fd = open(
	         "/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return fail_errno(msg, msgsz, "/proc/self/fd");
	if (fan->cfg.audit)
		init |= FAN_ENABLE_AUDIT;
	/* A pidfd costs the kernel a pidfs file per event, and us an fstat
	 * and a close: asked for only when the policy reads identities. */
	fan->pidfds = atomic_load(&fan->need_proc);
	if (fan->pidfds)
		fan->perm_fd = fanotify_init(init | FAN_REPORT_PIDFD, evflags);
	if (!fan->pidfds || (fan->perm_fd < 0 && errno == EINVAL)) {
		/* Before Linux 5.15, or for a policy that reads only pids:
		 * identities are then re-read on every event (no pidfd to
		 * tell a reused pid), should a reload ask for them. */
		fan->pidfds = false;
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
	if (fan->cfg.inline_answers &&
	    (fan->standby_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return fail_errno(msg, msgsz, "eventfd");
	atomic_store(&fan->running, true);
	if ((rc = pthread_create(
	         &fan->reader, NULL, vd__fan_reader_main, fan)) != 0) {
		atomic_store(&fan->running, false);
		snprintf(msg, msgsz, "pthread_create: %s", strerror(rc));
		return -rc;
	}
	fan->reader_started = true;
	if (fan->cfg.inline_answers) {
		if ((rc = pthread_create(&fan->standby, NULL,
		         vd__fan_standby_main, fan)) != 0) {
			vd_fan_quiesce(fan);
			snprintf(
			    msg, msgsz, "pthread_create: %s", strerror(rc));
			return -rc;
		}
		fan->standby_started = true;
	}
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
	if (fan->standby_started) {
		pthread_join(fan->standby, NULL);
		fan->standby_started = false;
	}
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
			int pidfd = vd__fan_info_pidfd(md);

			if (pidfd >= 0)
				close(pidfd);
			if (md->fd < 0)
				continue;
			t = vd__fan_perm_type(md);
			vd_pipeline_type_config(fan->p, t, &tc);
			vd__fan_write_response(fan, md->fd,
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
	closefd(&fan->standby_fd);
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
	free(fan->sbuf);
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
	o->standby_takeovers = get(&fan->standby_takeovers);
	o->write_errors = get(&fan->write_errors);
	o->write_failures = get(&fan->write_failures);
	o->audited = get(&fan->audited);
	o->audit_rules = get(&fan->audit_rules);
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
	bool proc;

	atomic_store(&fan->need_path,
	    fan->cfg.read_paths || (pol != NULL && vd_policy_needs_path(pol)));
	atomic_store(&fan->need_exe,
	    fan->cfg.read_procs || (pol != NULL && vd_policy_needs_exe(pol)));
	/* Without a policy the evaluator is not ours to know: read it. */
	proc = fan->cfg.read_procs || pol == NULL ||
	    vd_policy_needs_process(pol);
	atomic_store(&fan->need_proc, proc);
	if (fan->ign != NULL)
		vd_fan_drop_ignores(fan);
	if (proc && fan->perm_fd >= 0 && !fan->pidfds) {
		/* The group's flags are fixed at start: correct, but slow. */
		snprintf(msg, msgsz,
		    "fanotify: the policy reads process identities (uid=, "
		    "gid=, exe=, comm=) and the backend started without "
		    "pidfds: each event's identity is read from /proc until "
		    "verdictd restarts");
		return -ENOTSUP;
	}
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
		{ "backend.fanotify.standby_takeovers", VD_CTR_COUNTER, "times",
		    "times the reader was stuck answering and the standby "
		    "read on",
		    (int64_t)st.standby_takeovers },
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
		{ "backend.fanotify.audit_rules", VD_CTR_COUNTER, "answers",
		    "of those, with the deciding rule's number for auditd "
		    "(FAN_RESPONSE_INFO_AUDIT_RULE)",
		    (int64_t)st.audit_rules },
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
		/* No access mode, no code signing; digests through the
		 * event's descriptor (verdict/digest.h). */
		.policy_can = VD_POLICY_CAN_SHA256,
		.start = b_start,
		.state = b_state,
		.quiesce = b_quiesce,
		.finish = b_finish,
		.destroy = b_destroy,
		.policy_changed = b_policy_changed,
		.counters = b_counters,
	};
}
