/*
 * verdict/event.h — the event that flows through the pipeline.
 *
 * A backend (ES, fanotify, the simulator, a load generator) turns each kernel
 * message into a struct vd_event taken from the pipeline's preallocated pool
 * for its type (vd_pipeline_event_get), fills it, and hands it over with
 * vd_pipeline_submit.  From then on the pipeline owns it: the backend sees it
 * again only through its respond callback, exactly once per AUTH event.
 *
 * Everything a rule may look at is copied into the event, so no kernel
 * message has to stay readable while a worker evaluates.  Paths that do not
 * fit VD_PATH_MAX are cut and flagged; a truncated path never matches a path
 * rule.
 */
#ifndef VERDICT_EVENT_H
#define VERDICT_EVENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes kept of each path, terminating NUL included. */
#define VD_PATH_MAX 1024
/* Bytes kept of a team or signing identifier (ES), NUL included. */
#define VD_ID_MAX 64
/* Bytes kept of a process's short name (comm), NUL included. */
#define VD_COMM_MAX 16
/* Bytes of backend_data: a file handle (MAX_HANDLE_SZ 128 and its
 * 8-byte header) and a filesystem id, with room to spare. */
#define VD_BACKEND_DATA_MAX 160

enum vd_action {
	VD_ACTION_AUTH,
	VD_ACTION_NOTIFY,
};

/*
 * Event types.  The AUTH types come first; vd_event_type_action() tells them
 * apart.  Names as the counters print them: "auth.open", "notify.close".
 */
enum vd_event_type {
	VD_AUTH_OPEN,
	VD_AUTH_EXEC,
	VD_AUTH_ACCESS, /* fanotify FAN_ACCESS_PERM; no ES counterpart */
	VD_AUTH_RENAME,
	VD_AUTH_UNLINK,
	VD_AUTH_CREATE,
	VD_AUTH_TRUNCATE,
	VD_AUTH_LINK,
	VD_AUTH_CLONE,
	VD_AUTH_COPYFILE,
	VD_AUTH_MOUNT,
	VD_AUTH_SIGNAL,
	VD_NOTIFY_CLOSE,
	VD_NOTIFY_EXEC,
	VD_NOTIFY_FORK,
	VD_NOTIFY_EXIT,
	VD_NOTIFY_WRITE,
	VD_NOTIFY_RENAME,
	VD_NOTIFY_UNLINK,
	VD_NOTIFY_CREATE,
	VD_EVENT_TYPE_COUNT
};

#define VD_AUTH_TYPE_COUNT   (VD_NOTIFY_CLOSE)
#define VD_NOTIFY_TYPE_FIRST (VD_NOTIFY_CLOSE)

enum vd_verdict {
	VD_ALLOW,
	VD_DENY,
};

/* Access intent of an open, where the backend reports it (ES does). */
#define VD_OPEN_READ  0x1u
#define VD_OPEN_WRITE 0x2u

/* How an AUTH event was answered; set once, by the winner. */
enum vd_answered_by {
	VD_BY_NONE,
	VD_BY_WORKER,   /* the evaluator's decision */
	VD_BY_TIMER,    /* default verdict at deadline - margin */
	VD_BY_ARRIVAL,  /* budget below the floor on arrival: default at once */
	VD_BY_DROP,     /* ring full or pool empty: default at once */
	VD_BY_SHUTDOWN, /* still pending at stop: default */
};

/*
 * What the backend needs to answer the kernel.  Opaque to the pipeline: an
 * ES message pointer, a fanotify fd, a simulator sequence number.
 */
struct vd_handle {
	void *ptr;
	uint64_t id;
	int fd;
};

/* A program's code signature, as Endpoint Security reports it. */
struct vd_signature {
	bool platform_binary;
	uint8_t cdhash[20];
	char team_id[VD_ID_MAX];
	char signing_id[VD_ID_MAX];
};

struct vd_process {
	pid_t pid;
	pid_t ppid;
	uid_t uid;
	gid_t gid;
	uint64_t start_time; /* with pid, a stable identity */
	bool platform_binary;
	bool exe_truncated;
	uint8_t cdhash[20];
	char comm[VD_COMM_MAX];
	char team_id[VD_ID_MAX];
	char signing_id[VD_ID_MAX];
	char exe[VD_PATH_MAX];
};

struct vd_event {
	/* Set by the pipeline when the event leaves the pool; do not touch. */
	uint16_t type;  /* enum vd_event_type */
	uint16_t shard; /* worker ring it went to */
	/* Filled by the backend. */
	uint32_t open_flags;  /* VD_OPEN_* for AUTH_OPEN */
	uint64_t arrival_ns;  /* monotonic; 0: the pipeline stamps it */
	uint64_t deadline_ns; /* monotonic; 0: arrival + the type's budget */
	struct vd_handle handle;
	bool target_truncated;
	bool target2_truncated;
	bool close_modified; /* NOTIFY_CLOSE: the file was written */
	/*
	 * What an enricher filled (VD_NEED_*, verdict/pipeline.h) for an
	 * evaluation that asked for it; 0 when the event leaves the pool.
	 * VD_NEED_DIGEST: sha256 is the SHA-256 of the file's content (the
	 * opened file, or the program an exec runs).
	 */
	uint32_t have;
	uint8_t sha256[32];
	/*
	 * The target file's identity, where the backend knows it (ES: the
	 * es_file_t's stat).  target_id false: unknown, and the policy
	 * runtime never caches the decision.  A backend sets it only when
	 * the identity pins one path (a single link), so a hard link under
	 * another name cannot share a cached decision.  target_ctime_ns is
	 * a change stamp, not necessarily finer than a second.
	 */
	bool target_id;
	/* Set whenever the backend knows them, target_id or not (ES: every
	 * file, hard links too); target_ino 0: unknown. */
	uint64_t target_dev;
	uint64_t target_ino;
	uint64_t target_ctime_ns;
	/*
	 * AUTH_EXEC and NOTIFY_EXEC: the signature of the program being run
	 * (ES: event.exec.target), where proc is the process calling exec.
	 * Zero where the backend does not know it (fanotify: its path is
	 * target).
	 */
	struct vd_signature exec_sig;
	struct vd_process proc;
	char target[VD_PATH_MAX];  /* object path */
	char target2[VD_PATH_MAX]; /* destination of rename/link/clone */
	/* The backend's own bytes, which neither the pipeline nor the rules
	 * read: what its prepare step needs that has no field above (a
	 * fanotify FID event's directory handle).  backend_len 0: none. */
	uint16_t backend_len;
	unsigned char backend_data[VD_BACKEND_DATA_MAX];
};

/* The "auth.open" style name of a type; NULL when out of range. */
const char *vd_event_type_name(enum vd_event_type t);
/* Parses "auth.open" (or "open" for the AUTH type); -1 when unknown. */
int vd_event_type_parse(const char *name);

static inline enum vd_action
vd_event_type_action(enum vd_event_type t)
{
	return t < VD_NOTIFY_TYPE_FIRST ? VD_ACTION_AUTH : VD_ACTION_NOTIFY;
}

/*
 * Copies a NUL-terminated string into a fixed buffer; returns true when it
 * had to be cut (the buffer then holds a NUL-terminated prefix).
 */
bool vd_copy_path(char *dst, size_t dstsz, const char *src, size_t srclen);

#ifdef __cplusplus
}
#endif
#endif
