/*
 * internal.h — what the files of the fanotify backend share: the backend's
 * state (struct vd_fan), its books, and the few functions one file calls
 * in another.  fanotify.h is the folder's public header; nothing outside
 * src/backend/fanotify includes this one.
 *
 *   fanotify.c  life cycle, answers, prepare/decided, the vd_backend
 *   reader.c    the reader thread: reads the groups, fills and submits
 *   identity.c  process identities from /proc, cached per pid
 *   ignore.c    ignore marks for path-only allows, and their guards
 */
#ifndef VD_BACKEND_FANOTIFY_INTERNAL_H
#define VD_BACKEND_FANOTIFY_INTERNAL_H

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
/* Events of one read the reader answers itself (inline answers); the
 * rest of a large read go to the workers, on other CPUs. */
#define INLINE_MAX 16
/* How long a read waits for a recycled event before the default answers
 * (vd_pipeline_event_wait). */
#define POOL_WAIT_NS 20000000u
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
	/* The policy reads the process's identity (not only its pid). */
	_Atomic bool need_proc;
	bool pidfds;               /* the permission group reports pidfds */
	_Atomic uint64_t pause_ns; /* test hook: the reader sleeps once */
	void (*overflow)(void *ctx);
	void *overflow_ctx;
	int perm_fd, notif_fd, fid_fd, guard_fd, stop_fd, proc_fd, selffd_fd;
	bool hardlinks_protected; /* fs.protected_hardlinks = 1 */
	pid_t self;
	pthread_t reader;
	bool reader_started;
	/* The standby reader (inline answers): woken through standby_fd by
	 * the pipeline's stuck(), its own read buffer. */
	int standby_fd;
	pthread_t standby;
	bool standby_started;
	unsigned char *sbuf;
	/* The identity cache, shared by the reader and the standby. */
	pthread_mutex_t proc_lock;
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
	_Atomic uint64_t overflows, cache_flushes, fd_errors, self_events,
	    standby_takeovers;
	_Atomic uint64_t proc_hits, proc_misses, proc_exec_refresh, proc_errors;
	alignas(64) _Atomic uint64_t write_errors, write_failures, audited,
	    paths_resolved, audit_rules;
	/* The kernel refused FAN_RESPONSE_INFO_AUDIT_RULE (before 6.3):
	 * audited answers go without the rule number. */
	atomic_bool no_rule_info;
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

#define BIT(t) (UINT32_C(1) << (t))
#define FID_TYPES                                                              \
	(BIT(VD_NOTIFY_CREATE) | BIT(VD_NOTIFY_UNLINK) | BIT(VD_NOTIFY_RENAME))
#define PERM_TYPES (BIT(VD_AUTH_OPEN) | BIT(VD_AUTH_EXEC) | BIT(VD_AUTH_ACCESS))

/* fanotify.c */
uint64_t vd__fan_perm_mask(enum vd_event_type t);
ssize_t
vd__fan_fd_path(const struct vd_fan *fan, int fd, char *buf, size_t size);
bool vd__fan_write_response(struct vd_fan *fan, int fd, uint32_t response);

/* identity.c: the reader's identity of pid (pidfd: the event's, or -1). */
void vd__fan_proc_lookup(
    struct vd_fan *fan, pid_t pid, int pidfd, struct vd_process *out);

/* ignore.c */
void vd__fan_ignore_add(
    struct vd_fan *fan, const struct vd_event *ev, uint64_t epoch);
void vd__fan_ignore_guard(struct vd_fan *fan, const struct file_handle *fh);

/* reader.c */
void *vd__fan_reader_main(void *arg);
void *vd__fan_standby_main(void *arg);
int vd__fan_info_pidfd(const struct fanotify_event_metadata *md);
enum vd_event_type vd__fan_perm_type(const struct fanotify_event_metadata *md);

#endif
