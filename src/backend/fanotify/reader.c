/*
 * reader.c — the reader thread, the fanotify backend's "callback": it reads
 * the groups in batches, fills a vd_event per permission or notify event
 * (the process's identity from identity.c) and submits it.  It never opens
 * a watched file and never waits on a worker.
 */
#include "backend/fanotify/internal.h"

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
int
vd__fan_info_pidfd(const struct fanotify_event_metadata *md)
{
	const struct fanotify_event_info_header *ih =
	    info_find(md, FAN_EVENT_INFO_TYPE_PIDFD);

	return ih != NULL
	    ? ((const struct fanotify_event_info_pidfd *)(const void *)ih)
	          ->pidfd
	    : -1;
}

/* The event type of a permission event. */
enum vd_event_type
vd__fan_perm_type(const struct fanotify_event_metadata *md)
{
	return (md->mask & FAN_OPEN_EXEC_PERM) ? VD_AUTH_EXEC
	    : (md->mask & FAN_ACCESS_PERM)     ? VD_AUTH_ACCESS
	                                       : VD_AUTH_OPEN;
}

/* Submits one permission event: inline (the reader answers it after the
 * read, vd_pipeline_run_inline) or to a worker.  True when inline. */
static bool
read_perm_event(
    struct vd_fan *fan, const struct fanotify_event_metadata *md, bool inl)
{
	bool queued = false;
	enum vd_event_type t;
	struct vd_event *ev;
	int pidfd = vd__fan_info_pidfd(md);

	bump(&fan->perm_events);
	if (md->fd < 0) {
		/* Nothing to answer with: the kernel decides alone. */
		bump(&fan->fd_errors);
		goto out;
	}
	t = vd__fan_perm_type(md);
	if (md->pid == fan->self) {
		/* Our own access (a reload reading a watched file): the
		 * daemon never waits on itself. */
		bump(&fan->self_events);
		(void)vd__fan_write_response(fan, md->fd, FAN_ALLOW);
		close(md->fd);
		goto out;
	}
	/* The kernel sets no deadline: when answered events only wait for
	 * the timer to recycle them, wait for one rather than answer by the
	 * default (20 ms of the 1 s budget). */
	if ((ev = vd_pipeline_event_wait(fan->p, t, POOL_WAIT_NS)) == NULL) {
		struct vd_handle h = { NULL, 0, md->fd };

		vd_pipeline_refuse(fan->p, t, &h);
		goto out;
	}
	clear_event(ev, md->fd);
	if (atomic_load_explicit(&fan->need_proc, memory_order_relaxed)) {
		/* The standby reader looks identities up too. */
		pthread_mutex_lock(&fan->proc_lock);
		vd__fan_proc_lookup(fan, md->pid, pidfd, &ev->proc);
		pthread_mutex_unlock(&fan->proc_lock);
	} else {
		/* No rule reads more of the process than its pid. */
		memset(&ev->proc, 0, offsetof(struct vd_process, exe) + 1);
		ev->proc.pid = md->pid;
	}
	if (inl)
		queued = vd_pipeline_submit_inline(fan->p, ev);
	else
		vd_pipeline_submit(fan->p, ev);
out:
	if (pidfd >= 0)
		close(pidfd);
	return queued;
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
		vd__fan_ignore_guard(fan, NULL);
		return;
	}
	fid = (const void *)info_find(md, FAN_EVENT_INFO_TYPE_FID);
	if (fid != NULL)
		vd__fan_ignore_guard(
		    fan, (const struct file_handle *)(const void *)fid->handle);
}

enum group { G_PERM, G_NOTIFY, G_GUARD };

/*
 * Whether the reader answers a read's permission events itself.  Inline
 * costs no wake-up and no second thread: the way on a busy host and for a
 * batch.  A lone event on an idle host goes to a worker when workers may
 * spin: the worker then spins for the next one, its CPU awake, and a
 * process opening files one after the other gets each answer sooner than
 * a sleeping reader could give it (at the CPU the spin costs).  A worker
 * spinning now takes the read whatever its size: it is awake already.
 */
static bool
answer_inline(const struct vd_fan *fan, const unsigned char *buf, ssize_t n)
{
	const struct fanotify_event_metadata *md = (const void *)buf;
	unsigned events = 0;

	if (vd_pipeline_worker_spinning(fan->p))
		return false;
	for (; FAN_EVENT_OK(md, n) && events < 2; md = FAN_EVENT_NEXT(md, n))
		events++;
	return events > 1 || !vd_pipeline_spin_open(fan->p);
}

/*
 * One read of a group into buf; -1 on a fatal error, 0 when empty, else 1.
 * Permission events: with inline answers (the reader's own reads, not the
 * standby's) the first INLINE_MAX of the read are answered here, after
 * the read, on this thread; the rest go to the workers.
 */
static int
read_group(
    struct vd_fan *fan, int fd, enum group g, unsigned char *buf, bool inl)
{
	const struct fanotify_event_metadata *md;
	unsigned inlined = 0;
	ssize_t n;

	n = read(fd, buf, READ_BUF);
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
	if (inl && g == G_PERM)
		inl = answer_inline(fan, buf, n);
	md = (const void *)buf;
	for (; FAN_EVENT_OK(md, n); md = FAN_EVENT_NEXT(md, n)) {
		if (md->vers != FANOTIFY_METADATA_VERSION)
			return -1;
		if (g == G_PERM)
			inlined += read_perm_event(
			    fan, md, inl && inlined < INLINE_MAX);
		else if (g == G_NOTIFY)
			read_notify_event(fan, md);
		else
			read_guard_event(fan, md);
	}
	if (inlined != 0)
		vd_pipeline_run_inline(fan->p);
	return 1;
}

void *
vd__fan_reader_main(void *arg)
{
	struct vd_fan *fan = arg;
	struct pollfd pfd[5];
	nfds_t n = 0, i;
	int rc, k;

	vd_thread_name("vd-fan-reader");
	/* Delivery must keep up, and every opener waits on it: above the
	 * workers, with the timer (a refusal is the pipeline's to report:
	 * its timer asks for the same). */
	(void)vd_thread_class(VD_THREAD_DEADLINE);
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
			if ((rc = read_group(fan, fan->perm_fd, G_PERM,
			         fan->buf, fan->cfg.inline_answers)) < 0)
				goto fatal;
			if (rc == 0)
				break;
		}
		for (i = 2; i < n; i++)
			if (pfd[i].revents & POLLIN)
				if (read_group(fan, pfd[i].fd,
				        pfd[i].fd == fan->guard_fd ? G_GUARD
				                                   : G_NOTIFY,
				        fan->buf, false) < 0)
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

/*
 * The standby reader: while the reader is stuck answering an event inline
 * (the pipeline's timer saw it hold one over 1 ms and called stuck()), it
 * reads the permission group on and hands what it reads to the workers,
 * so no opener waits on the stuck evaluation; back to sleep once the
 * reader is free again.
 */
void *
vd__fan_standby_main(void *arg)
{
	struct vd_fan *fan = arg;
	struct pollfd pfd[2];
	uint64_t v;
	int rc;

	vd_thread_name("vd-fan-standby");
	(void)vd_thread_class(VD_THREAD_DEADLINE);
	for (;;) {
		pfd[0] =
		    (struct pollfd){ .fd = fan->stop_fd, .events = POLLIN };
		pfd[1] =
		    (struct pollfd){ .fd = fan->standby_fd, .events = POLLIN };
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & POLLIN)
			break;
		if (!(pfd[1].revents & POLLIN) ||
		    read(fan->standby_fd, &v, sizeof(v)) != sizeof(v))
			continue;
		bump(&fan->standby_takeovers);
		pfd[1] =
		    (struct pollfd){ .fd = fan->perm_fd, .events = POLLIN };
		while (vd_pipeline_inline_stuck(fan->p)) {
			/* 1 ms: how soon it sees the reader free again. */
			if (poll(pfd, 2, 1) < 0 && errno != EINTR)
				goto out;
			if (pfd[0].revents & POLLIN)
				goto out;
			if (!(pfd[1].revents & POLLIN))
				continue;
			if ((rc = read_group(fan, fan->perm_fd, G_PERM,
			         fan->sbuf, false)) < 0) {
				atomic_store(&fan->running, false);
				goto out;
			}
		}
	}
out:
	return NULL;
}
