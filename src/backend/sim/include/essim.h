/*
 * essim.h — the EndpointSecurity simulator's own control API (libessim).
 *
 * The ES API in <EndpointSecurity/EndpointSecurity.h> is what a client
 * sees.  This header is the other side: the simulated kernel that the
 * workload generator drives and the tests and run reports read.  Its
 * records are the kernel's, not the client's: "answered once, in time"
 * is judged here.
 *
 * The kernel is process-wide, as the real one is machine-wide: one
 * essim_kernel_init() ... essim_kernel_fini() at a time.
 *
 * Semantics enforced, those of EndpointSecurity on macOS:
 *  - per client, strictly serial in-order delivery on the client's own
 *    delivery thread; the next message is delivered when the handler
 *    returns; a message is valid after the handler returns only if
 *    retained (es_retain_message) or copied;
 *  - subscriptions and muting (process by audit token, path prefix or
 *    literal) decide which clients see an event; each new client starts
 *    with the default mute set (processes registered with default_muted);
 *  - a bounded queue per client: an AUTH message that does not fit is
 *    allowed by the kernel, counted as a kernel drop, and leaves a gap in
 *    seq_num / global_seq_num; seq_num counts per client and event type,
 *    global_seq_num per client;
 *  - an AUTH message not answered by its deadline terminates its client:
 *    delivery stops, the reason is recorded ("Namespace ENDPOINTSECURITY,
 *    Code 2, EndpointSecurity client terminated because it failed to
 *    respond to a message before its deadline");
 *  - a second answer returns ES_RESPOND_RESULT_ERR_DUPLICATE_RESPONSE, an
 *    answer after the deadline ES_RESPOND_RESULT_NOT_FOUND, the wrong call
 *    for the type (flags for non-OPEN, auth for OPEN, any for NOTIFY)
 *    ES_RESPOND_RESULT_ERR_EVENT_TYPE;
 *  - the result cache, shared by all clients, keyed on (executable path,
 *    target path), for AUTH_OPEN, AUTH_EXEC and AUTH_MOUNT only: an ALLOW
 *    answered with cache = true suppresses later AUTH events of that pair
 *    for every client; for OPEN the cache holds the authorized flags, and
 *    a later open whose fflag bits are not a subset of them is denied by
 *    the kernel from the cache, not delivered (macOS 15's rule); NOTIFY
 *    events still arrive; es_clear_cache empties it for everyone, and
 *    returns ES_CLEAR_CACHE_RESULT_ERR_THROTTLE when called again within
 *    the throttle interval;
 *  - every message carries the configured version, and the fields newer
 *    than it are poisoned (essim_config.msg_version);
 *  - es_new_client fails with the configured error when told to.
 */
#ifndef ESSIM_H
#define ESSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <EndpointSecurity/EndpointSecurity.h>
#include <verdict/stats.h> /* struct vd_hist */

#ifdef __cplusplus
extern "C" {
#endif

#define ESSIM_CRASH_REASON                                                 \
	"Namespace ENDPOINTSECURITY, Code 2, EndpointSecurity client "     \
	"terminated because it failed to respond to a message before its " \
	"deadline"

struct essim_config {
	uint32_t queue_size;            /* messages per client; default 4096 */
	uint64_t clear_cache_throttle_ns; /* default 1 s */
	unsigned max_clients;           /* default 16 */
	/* es_new_client returns this (SUCCESS: it works). */
	es_new_client_result_t new_client_result;
	/* es_message_t.version of every message, 1 to 6; default 6.  Fields
	 * newer than it are poisoned, as absent fields hold garbage on
	 * macOS: global_seq_num (4) reads ESSIM_ABSENT_U64, thread (4) is
	 * NULL, process start_time (3) reads ESSIM_ABSENT_U64's bits,
	 * seq_num (2) ESSIM_ABSENT_U64. */
	uint32_t msg_version;
};

#define ESSIM_MSG_VERSION_MAX 6
#define ESSIM_ABSENT_U64      0xa5a5a5a5a5a5a5a5ull

/* Fills *cfg with the defaults above. */
void essim_config_init(struct essim_config *cfg);

/* Starts the simulated kernel (its deadline watchdog thread).  0 or
 * -errno; -EBUSY if one is running. */
int essim_kernel_init(const struct essim_config *cfg);
/* Deletes every client left, stops the kernel, frees everything. */
void essim_kernel_fini(void);
/* Changes what es_new_client returns from now on. */
void essim_set_new_client_result(es_new_client_result_t r);

/* A simulated process.  Strings are copied. */
struct essim_proc {
	pid_t pid;
	pid_t ppid;
	uid_t uid;
	gid_t gid;
	const char *exe;
	const char *signing_id; /* NULL: none */
	const char *team_id;    /* NULL: none */
	bool platform_binary;
	bool default_muted; /* in every new client's default mute set */
};

/* Registers a process; its audit token (pid, pidversion) goes to *token.
 * 0, -ENOMEM, or -EINVAL (no exe, or no kernel running). */
int essim_proc_add(const struct essim_proc *p, audit_token_t *token);

/* One thing a process does, as the kernel sees it. */
struct essim_event {
	es_event_type_t type;   /* AUTH_* or NOTIFY_* */
	audit_token_t proc;     /* who does it (registered) */
	const char *target;     /* the file (or executable for EXEC) */
	const char *target2;    /* destination dir of rename/link/clone/copyfile */
	const char *name2;      /* destination file name of those */
	int32_t fflag;          /* AUTH_OPEN / NOTIFY_OPEN: FREAD|FWRITE */
	bool modified;          /* NOTIFY_CLOSE */
	uint64_t deadline_ns;   /* AUTH: budget from now, in ns */
};
/*
 * Per type (libessim): target is required except for SIGNAL, FORK and
 * EXIT; LINK, CLONE, COPYFILE need target2 and name2; RENAME needs target2
 * (with name2: a new path, without: an existing file).  CREATE: target is
 * the new file; its directory and name are target2 / name2 when given.
 * MOUNT: target is the mount point, target2 the device.  SIGNAL: target
 * is the signalled process's executable (matched to a registered
 * process), fflag the signal number (0: SIGTERM).  deadline_ns == 0
 * means 15 s.  Paths of 1024 bytes or more are truncated to 1023 and
 * reported with path_truncated set, as on macOS.
 */

/*
 * Posts an event to every subscribed, non-muting client.  Never blocks
 * (the simulated processes do not wait for the answer; the deadline is
 * what counts).  Returns the number of clients it was queued to, or
 * -EINVAL (unknown process or event type).
 */
int essim_post(const struct essim_event *ev);

/* Waits until no AUTH message of any live client is pending (answered,
 * expired or dropped), at most timeout_ns; true when reached. */
bool essim_wait_idle(uint64_t timeout_ns);

/*
 * Where the message that cost a client its life was when the kernel found
 * its deadline passed.  QUEUED is the host's doing as much as the
 * client's: the message never reached the handler (the delivering thread
 * did not get to it in time); the others are the client's own.
 */
enum essim_kill_stage {
	ESSIM_KILL_NONE,       /* not terminated */
	ESSIM_KILL_QUEUED,     /* still in the client's queue, undelivered */
	ESSIM_KILL_HANDLER,    /* its own handler was still running */
	ESSIM_KILL_UNANSWERED, /* delivered, the handler returned, no answer */
	ESSIM_KILL_LATE,       /* answered after its deadline */
};

/* "queued", "in handler", "unanswered", "answered late"; "" for NONE. */
const char *essim_kill_stage_name(enum essim_kill_stage s);

/* The kernel's books for one client. */
struct essim_client_report {
	uint64_t auth_delivered;    /* handed to the handler */
	uint64_t notify_delivered;
	uint64_t answered;          /* accepted answers (SUCCESS) */
	uint64_t allowed, denied;
	uint64_t duplicates;        /* ERR_DUPLICATE_RESPONSE returned */
	uint64_t late;              /* NOT_FOUND: answered after the deadline */
	uint64_t wrong_type;        /* ERR_EVENT_TYPE returned */
	uint64_t missed;            /* deadline passed with no answer */
	uint64_t kernel_drops;      /* queue full: allowed by the kernel */
	uint64_t cache_hits;        /* AUTH events suppressed by the cache */
	uint64_t cache_denied;      /* of those, opens the cache denied */
	uint64_t cached;            /* answers stored in the cache */
	uint64_t retained_now;      /* messages still retained or copied */
	uint64_t slack_min_ns;      /* least time left before a deadline
	                               when answered (UINT64_MAX: none) */
	uint64_t latency_max_ns;    /* delivery -> answer, worst */
	bool terminated;
	char reason[160];           /* ESSIM_CRASH_REASON when terminated */
	/* When terminated: the message whose deadline passed, where it
	 * was, its budget (post to deadline) and how long after its
	 * deadline the kernel judged it. */
	enum essim_kill_stage kill_stage;
	es_event_type_t kill_event;
	uint64_t kill_budget_ns;
	uint64_t kill_over_ns;
};

/* 0, or -ENOENT (no such client). */
int essim_client_report(const es_client_t *c, struct essim_client_report *out);

/* Kernel-wide totals: the sum over every client created since init,
 * deleted ones included. */
void essim_kernel_report(struct essim_client_report *out);

/* Events essim_post accepted since init (delivered or not): a progress
 * reading while a workload runs.  Any thread. */
uint64_t essim_kernel_posted(void);

/*
 * The kernel's latency books, the same for any client it judges: kept
 * from one essim_kernel_init() to the next, so still readable after
 * essim_kernel_fini().  Times are CLOCK_MONOTONIC nanoseconds; the
 * histograms are libverdict's (vd_hist_quantile in <verdict/stats.h>).
 *  - answer: every accepted AUTH answer, from the event's post (inside
 *    essim_post, the moment its deadline is counted from, when the
 *    process starts to wait) to the accepted answer: queueing, delivery
 *    and the client's own time;
 *  - callback_auth, callback_notify: the time the delivery thread spent
 *    inside the handler block per AUTH / NOTIFY message it delivered.
 *    A client's are added when its delivery thread ends (deleted or
 *    terminated; every client at essim_kernel_fini()), not before;
 *  - the series (essim_latency_series): fixed-width time buckets counted
 *    from the first essim_post() after init (t0_ns).  An answer counts
 *    in the bucket of its acceptance, a missed message in that of its
 *    deadline, a budget in that of its post; anything past the last
 *    bucket counts in the last.
 */
struct essim_series_bucket {
	uint64_t answered;       /* AUTH answers accepted */
	uint64_t latency_max_ns; /* post -> answer, the worst of those */
	uint64_t missed;         /* AUTH deadlines passed unanswered */
	uint64_t budget_min_ns;  /* deadline - post, least among the AUTH
	                            messages posted (0: none posted) */
};

struct essim_latency {
	struct vd_hist answer;          /* post -> accepted answer, AUTH */
	struct vd_hist callback_auth;   /* inside the handler, AUTH */
	struct vd_hist callback_notify; /* inside the handler, NOTIFY */
	uint64_t t0_ns; /* the first post since init (0: none yet) */
	uint64_t bucket_ns;
	size_t nbuckets; /* 0: no series */
	/* nbuckets entries, the simulator's own: valid until the next
	 * essim_kernel_init(); still counting while the kernel runs, so
	 * read them once the run settled or the kernel stopped. */
	const struct essim_series_bucket *series;
};

/* The most buckets a series may have (32 MiB of them). */
#define ESSIM_SERIES_MAX ((size_t)1 << 20)

/*
 * Keeps a series of nbuckets buckets of bucket_ns each from the next
 * essim_kernel_init() on, every init after it too, until called again.
 * nbuckets is capped at ESSIM_SERIES_MAX; 0 for either (the default):
 * no series.  The buckets are allocated by init (-ENOMEM if they cannot
 * be), never per message.
 */
void essim_latency_series(uint64_t bucket_ns, size_t nbuckets);

/* The latency books of every client since the last init, deleted and
 * terminated ones included (handler times once the delivery thread
 * ended, above), copied to *out: about 25 KiB, the series not copied.
 * Any time, also after essim_kernel_fini().  0, or -EINVAL (out NULL). */
int essim_kernel_latency(struct essim_latency *out);

#ifdef __cplusplus
}
#endif
#endif
