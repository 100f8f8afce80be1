/*
 * fanotify.h — the Linux backend: real fanotify permission events.
 *
 * Two kinds of groups, mirroring the ES advice of one client for AUTH and
 * one for NOTIFY:
 *   - a FAN_CLASS_CONTENT group for the permission events (FAN_OPEN_PERM,
 *     FAN_OPEN_EXEC_PERM, FAN_ACCESS_PERM as configured), created with
 *     FAN_UNLIMITED_QUEUE (an overflowing permission queue is silently
 *     allowed by the kernel), FAN_UNLIMITED_MARKS (ignore marks), FAN_CLOEXEC,
 *     FAN_REPORT_PIDFD and, when asked, FAN_ENABLE_AUDIT;
 *   - FAN_CLASS_NOTIF groups for the notify events: one reporting file
 *     descriptors (close-write), one reporting directory file handles and
 *     names (create, delete, move), which the kernel refuses on mount marks.
 *
 * Marks: every configured path is a directory (its entries only: directory
 * marks are not recursive), a mount, or a whole filesystem.
 *
 * One reader thread is the "callback": it reads events in batches, fills a
 * vd_event per event (the process's identity from a bounded cache) and
 * submits it.  It never opens a watched file.  The object's path is
 * resolved later, on the worker (the prepare step), and only when the
 * policy needs it.  Events of the process the backend runs in are
 * allowed by the reader at once, without the pipeline (the daemon never
 * waits on itself): a test or benchmark must open watched files from
 * another process.  Every event fd is closed exactly once: by retire()
 * for permission events (after respond(), once no worker can read it;
 * an ignore mark keeps a dup of its own), by release() for notify
 * events.
 *
 * Life cycle (one controlling thread):
 *   vd_fan_create -> vd_pipeline_create(..., vd_fan_ops(), fan) ->
 *   vd_pipeline_start -> vd_fan_start -> ... -> vd_fan_quiesce ->
 *   vd_pipeline_stop -> vd_fan_finish -> vd_pipeline_destroy ->
 *   vd_fan_destroy
 * vd_fan_quiesce stops the reader; vd_pipeline_stop answers what it read;
 * vd_fan_finish removes the marks, answers what the kernel still queues
 * with each type's default, and closes the groups.
 */
#ifndef VD_BACKEND_FANOTIFY_H
#define VD_BACKEND_FANOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <verdict/backend.h>
#include <verdict/pipeline.h>

enum vd_fan_mark_kind {
	VD_FAN_MARK_DIRECTORY,  /* the directory and its entries, one level */
	VD_FAN_MARK_MOUNT,      /* the mount the path is on */
	VD_FAN_MARK_FILESYSTEM, /* the whole filesystem the path is on */
	VD_FAN_MARK_KINDS
};

/* "directory", "mount", "filesystem": the configuration's words. */
static inline const char *
vd_fan_mark_name(enum vd_fan_mark_kind k)
{
	static const char *const names[VD_FAN_MARK_KINDS] = {
		[VD_FAN_MARK_DIRECTORY] = "directory",
		[VD_FAN_MARK_MOUNT] = "mount",
		[VD_FAN_MARK_FILESYSTEM] = "filesystem",
	};

	return (unsigned)k < VD_FAN_MARK_KINDS ? names[k] : "?";
}

/* Most marked paths, and the most ignore marks. */
#define VD_FAN_MARKS_MAX  64
#define VD_FAN_IGNORE_MAX (1u << 16)

struct vd_fan_config {
	/* Bits (1 << enum vd_event_type): VD_AUTH_OPEN, VD_AUTH_EXEC,
	 * VD_AUTH_ACCESS; VD_NOTIFY_CLOSE (close-write), VD_NOTIFY_CREATE,
	 * VD_NOTIFY_UNLINK, VD_NOTIFY_RENAME. */
	uint32_t types;
	enum vd_fan_mark_kind mark;
	size_t npaths;
	const char *paths[VD_FAN_MARKS_MAX];
	bool audit; /* FAN_ENABLE_AUDIT: decisions may carry FAN_AUDIT */
	/* Test hook: audited decisions carry FAN_AUDIT even without
	 * FAN_ENABLE_AUDIT, so the kernel refuses them and the plain retry
	 * must answer. */
	bool audit_without_init;
	unsigned ignore_max; /* ignore marks kept at most; 0: none */
	/* Read every event's path, whether the policy reads paths or not
	 * (a test hook that goes by the file's name). */
	bool read_paths;
	/* Read every event's process identity and executable too (the
	 * decision log records them, whatever the policy reads). */
	bool read_procs;
	/* The reader answers the first events of each read itself (the
	 * pipeline's inline runner: create it with inline_runner and
	 * multi_producer), and a standby thread reads on while it is stuck
	 * in one.  Without: every event goes to a worker. */
	bool inline_answers;
	unsigned proc_cache;  /* process identities cached (power of two) */
	uint64_t proc_ttl_ns; /* an identity is re-read after this long */
};

/* Fills *c with the defaults: open and exec, close-write, directory marks,
 * 4096 ignore marks, 1024 identities kept for one second. */
void vd_fan_config_init(struct vd_fan_config *c);

/* The event types the backend can deliver. */
#define VD_FAN_TYPES                                                           \
	((UINT32_C(1) << VD_AUTH_OPEN) | (UINT32_C(1) << VD_AUTH_EXEC) |       \
	    (UINT32_C(1) << VD_AUTH_ACCESS) |                                  \
	    (UINT32_C(1) << VD_NOTIFY_CLOSE) |                                 \
	    (UINT32_C(1) << VD_NOTIFY_CREATE) |                                \
	    (UINT32_C(1) << VD_NOTIFY_UNLINK) |                                \
	    (UINT32_C(1) << VD_NOTIFY_RENAME))

/* The backend's own books (any thread may read them). */
struct vd_fan_stats {
	uint64_t perm_events;       /* permission events read */
	uint64_t notify_events;     /* notify events read, both groups */
	uint64_t reads;             /* read() calls that returned events */
	uint64_t overflows;         /* FAN_Q_OVERFLOW on a notify group */
	uint64_t cache_flushes;     /* decision cache flushed after one */
	uint64_t fd_errors;         /* events without a usable fd */
	uint64_t self_events;       /* our own accesses, allowed at once */
	uint64_t standby_takeovers; /* the reader stuck, the standby read */
	uint64_t write_errors;   /* refused, each retried as a plain verdict */
	uint64_t write_failures; /* the retry failed too (fd lost) */
	uint64_t audited;        /* responses sent with FAN_AUDIT */
	uint64_t audit_rules;    /* of those, with the rule's number */
	uint64_t proc_hits;      /* identities from the cache */
	uint64_t proc_misses;    /* read from /proc */
	uint64_t proc_exec_refresh; /* re-read: the executable changed */
	uint64_t proc_errors;       /* /proc unreadable (process gone) */
	uint64_t paths_resolved;    /* object paths read on a worker */
	uint64_t ignore_marks;      /* in force now */
	uint64_t ignore_added;      /* added since start */
	uint64_t ignore_full;       /* not added: the cap was reached */
	uint64_t ignore_stale;      /* not added: decided before a reload */
	uint64_t ignore_dropped;    /* removed by reloads */
	uint64_t ignore_errors;     /* fanotify_mark refused one */
	uint64_t ignore_guarded;    /* removed: the file was written, linked,
	                               renamed or deleted */
	uint64_t ignore_renamed;    /* not added: renamed or linked meanwhile */
	uint64_t ignore_unlocked;   /* not added: someone but root could
	                               rename or link the file */
};

struct vd_fan;

/*
 * Checks the configuration and allocates the backend.  NULL with *err =
 * -EINVAL (a sentence in msg), or -ENOMEM.
 */
struct vd_fan *
vd_fan_create(const struct vd_fan_config *c, int *err, char *msg, size_t msgsz);

/* The ops to give vd_pipeline_create, with `fan` as the backend context. */
const struct vd_backend_ops *vd_fan_ops(void);

/* Test hook: the reader sleeps ns once, at its next loop, so the kernel's
 * queues fill (a notify queue overflow).  Any thread. */
void vd_fan_test_pause(struct vd_fan *fan, uint64_t ns);

/*
 * fn(ctx) runs on the reader thread when a notify group overflowed: the
 * invalidations it lost are unknown, so flush what they guard (the policy
 * runtime's decision cache).  Before vd_fan_start.
 */
void vd_fan_set_overflow(struct vd_fan *fan, void (*fn)(void *ctx), void *ctx);

/*
 * Creates the groups, places the marks and starts the reader on a started
 * pipeline.  0, or -errno with a sentence in msg naming the path or the
 * call that failed ("/srv/x: fanotify_mark: No such file or directory").
 */
int vd_fan_start(
    struct vd_fan *fan, struct vd_pipeline *p, char *msg, size_t msgsz);

/*
 * Drops every ignore mark (a reload: decisions of the old policy must not
 * stay in the kernel), without touching the watch marks.  Decisions made
 * before the call never become ignore marks afterwards.  Call after the
 * new policy is in force.  Any thread but a pipeline thread.  Returns how
 * many were dropped.
 */
size_t vd_fan_drop_ignores(struct vd_fan *fan);

/* Stops the reader (events read are in the pipeline; the kernel keeps the
 * rest queued).  Idempotent. */
void vd_fan_quiesce(struct vd_fan *fan);

/* True while the reader runs (it stops by itself on a fatal read error). */
bool vd_fan_running(const struct vd_fan *fan);

void vd_fan_stats(const struct vd_fan *fan, struct vd_fan_stats *out);

/*
 * After vd_pipeline_stop, before vd_pipeline_destroy: removes the marks,
 * answers what the kernel still holds with each type's default verdict and
 * closes the groups.  NULL: no-op.
 */
void vd_fan_finish(struct vd_fan *fan);

/* Finishes if needed, and frees.  NULL: no-op. */
void vd_fan_destroy(struct vd_fan *fan);

/*
 * The backend as a program drives it (verdict/backend.h): the ops above
 * with prepare (the object's identity, and its path for path rules),
 * decided (ignore marks) and prepare_notify; state FAILED once the reader
 * stopped on a read error; a policy change sets what is read per event
 * and drops every ignore mark; counters backend.fanotify.*.
 */
void vd_fan_backend(struct vd_fan *fan, struct vd_backend *out);

#endif
