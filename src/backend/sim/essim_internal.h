/*
 * essim_internal.h — the simulated kernel's own structures, shared by
 * essim.c (kernel, processes, posting, deadlines, cache, reports),
 * essim_client.c (the ES client API and the delivery threads) and
 * essim_msg.c (building, copying and reference-counting messages).
 *
 * One mutex, essim__k.lock, guards the kernel state: the client list,
 * subscriptions, mute sets and books, the pending deadline heap, the
 * result cache and the process table.  Three paths stay off it, because a
 * user thread preempted while it holds a pthread mutex (a CPU hog takes
 * its CPU for a whole time slice) would otherwise stall what a kernel's
 * user threads never stall:
 *  - each client's queue has its own lock (qlock): the delivery thread
 *    takes no other to hand over a message, and posters wake it after
 *    they release K.lock;
 *  - an answer is accepted by a compare-and-swap of the message's state
 *    from PENDING, so "answered once, in time" is still judged exactly;
 *    its books (counters, cache, heap) are kept under K.lock at once when
 *    it is free, else by its next holder (K.deferred);
 *  - reference counting (messages and clients use atomics), so that a
 *    message retained by a client can be released from any thread, even
 *    after its client was deleted or the kernel was stopped.
 *
 * Lifetimes:
 *  - a process record lives until essim_kernel_fini();
 *  - a message is one self-contained allocation (header, es_message_t,
 *    then every es_process_t / es_file_t / string it points to), so it
 *    never points into kernel state and outlives anything it was built
 *    from; it holds a reference on its client;
 *  - a client is freed when the kernel's reference (dropped at fini) and
 *    every message's reference are gone, so es_release_message() after
 *    es_delete_client() or essim_kernel_fini() is safe;
 *  - the latency books (K.lat, K.series) live from one
 *    essim_kernel_init() to the next: fini keeps them for the reports.
 *
 * The latency books stay off the delivery path's locks too: the answer
 * histogram and the series are kept with the answer's other books under
 * K.lock; the handler's cost goes into its client's own histograms, which
 * only the delivery thread writes, and which that thread adds to the
 * kernel's under K.lock once, as it ends.
 */
#ifndef ESSIM_INTERNAL_H
#define ESSIM_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <essim.h>

/* macOS MAXPATHLEN: ES truncates longer paths and sets path_truncated. */
#define ESSIM_PATH_MAX 1024
/* Budget of an AUTH event posted with deadline_ns == 0. */
#define ESSIM_DEFAULT_DEADLINE_NS (15ull * 1000000000ull)
#define ESSIM_CACHE_MAX           65536u
#define ESSIM_CACHE_BUCKETS       16384u

#define ESSIM_MSG_MAGIC    0x65736d67u /* "esmg" */
#define ESSIM_CLIENT_MAGIC 0x6573636cu /* "escl" */

enum essim_kmsg_state {
	KMSG_NOTIFY,    /* no answer expected */
	KMSG_PENDING,   /* AUTH, in the deadline heap */
	KMSG_ANSWERED,  /* an answer was accepted */
	KMSG_EXPIRED,   /* its deadline passed unanswered: client killed */
	KMSG_ABANDONED, /* client killed or deleted first: kernel allowed */
};

/*
 * The kernel's header in front of every message, original or copy.  Its
 * size is a multiple of max_align_t, so the es_message_t follows it with
 * no padding and the header is found again by pointer arithmetic; strict
 * C11 forbids nesting es_message_t (it has a flexible array member) as a
 * struct member.
 */
struct essim_kmsg {
	alignas(max_align_t) uint32_t magic;
	bool is_copy;
	/* enum essim_kmsg_state.  PENDING leaves by a compare-and-swap:
	 * to ANSWERED without K.lock (respond), or under it. */
	_Atomic uint8_t state;
	atomic_uint refs;      /* every holder: queue, heap, handler, user */
	atomic_uint user_refs; /* es_retain_message / es_copy_message */
	uint64_t id;           /* kernel-wide; a copy carries the original's */
	struct es_client_s *client;
	struct essim_kmsg *orig; /* copies: the original (one reference) */
	struct essim_kmsg *qnext;
	size_t heap_idx;
	uint64_t post_ns;                 /* CLOCK_MONOTONIC, essim_post */
	uint64_t deadline_ns;             /* CLOCK_MONOTONIC; AUTH only */
	atomic_uint_least64_t deliver_ns; /* set by the delivery thread */
	/* An answer whose books wait for K.lock (essim__answers_drain). */
	struct essim_kmsg *dnext;
	uint64_t dnow;
	uint32_t dvalue;
	bool dflags_call, dcache, dallowed;
};

static inline es_message_t *
essim__kmsg_msg(struct essim_kmsg *k)
{
	return (es_message_t *)(void *)(k + 1);
}

static inline struct essim_kmsg *
essim__kmsg_of(const es_message_t *m)
{
	return (struct essim_kmsg *)(uintptr_t)m - 1;
}

/* Processes are told apart by (pid, pidversion), as ES does. */
static inline uint64_t
essim__tok_key(const audit_token_t *t)
{
	return (uint64_t)t->val[5] << 32 | t->val[7];
}

struct essim_kproc {
	struct essim_kproc *hnext; /* hash chain */
	struct essim_kproc *next;  /* registration order */
	uint64_t key;              /* pid << 32 | pidversion */
	bool default_muted;
	es_process_t proc;
	es_file_t exe;
	char strs[]; /* exe, signing id, team id */
};

struct essim_pmute {
	es_mute_path_type_t type;
	size_t len;
	char *path;
};

struct es_client_s {
	uint32_t magic;
	atomic_uint refs; /* the kernel's, plus one per live message */
	struct es_client_s *next;
	es_handler_block_t handler;
	pthread_t thread;
	/*
	 * The delivery queue has a lock of its own, as a kernel's per-client
	 * queue would: the delivery thread takes only this one for a message
	 * it delivers, so a thread preempted while it holds K.lock (posting,
	 * answering) does not hold up delivery.  Order: K.lock, then qlock.
	 */
	pthread_mutex_t qlock;
	pthread_cond_t cv; /* queue non-empty, or stop; with qlock */
	bool thread_started;
	bool deleted;    /* K.lock */
	bool terminated; /* K.lock */
	bool qstop;      /* qlock: deleted or terminated, the thread ends */
	struct essim_kmsg *qhead, *qtail; /* qlock */
	atomic_uint qlen; /* written under qlock, read for the bound */
	atomic_uint_least64_t auth_delivered, notify_delivered;
	/* The message whose handler runs now, NULL between handlers: the
	 * watchdog tells a handler still running from an unanswered one. */
	_Atomic(const struct essim_kmsg *) handling;
	bool subs[ES_EVENT_TYPE_LAST];
	uint64_t seq[ES_EVENT_TYPE_LAST];
	uint64_t gseq;
	/* Muted processes, sorted by (pid, pidversion). */
	audit_token_t *mutes;
	size_t nmutes, capmutes;
	struct essim_pmute *pmutes;
	size_t npmutes, cappmutes;
	/* All but retained_now and the delivered counts: K.lock. */
	struct essim_client_report rep;
	atomic_uint_least64_t retained;
	/* Time inside the handler, per AUTH / NOTIFY delivery: written by
	 * the delivery thread only, added to K.lat as it ends (if the
	 * kernel it was created in, K.gen, is still the latest). */
	uint64_t gen;
	struct vd_hist cb_auth, cb_notify;
};

struct essim_centry;

struct essim_kernel {
	pthread_mutex_t lock;
	bool running;
	bool stopping; /* fini in progress: no new clients or events */
	bool wd_stop;
	bool wd_hold; /* test hook: the watchdog sleeps through deadlines */
	struct essim_config cfg;
	pthread_cond_t wd_cv;   /* earliest deadline changed, or stop */
	pthread_cond_t idle_cv; /* the deadline heap became empty */
	pthread_t wd_thread;
	/* Every client since init, deleted ones too (for the books). */
	struct es_client_s *clients, **clients_tail;
	unsigned nlive;
	struct essim_kproc **ptab, *procs, **procs_tail;
	size_t pmask, nprocs;
	struct essim_centry **ctab;
	size_t ncache, chand;
	/* Pending AUTH messages, a binary min-heap on deadline_ns. */
	struct essim_kmsg **heap;
	size_t nheap, capheap;
	/* Answers accepted while K.lock was taken: their books are kept by
	 * the next holder.  A stack; each entry holds a reference. */
	_Atomic(struct essim_kmsg *) deferred;
	uint64_t next_id;
	uint64_t posts; /* essim_post calls accepted since init */
	uint32_t next_pidversion;
	uint64_t last_clear_ns;
	bool cleared;
	/* The latency books (essim_kernel_latency): reset by init, kept by
	 * fini.  lat.series points to series, allocated by init for the
	 * series_want_* in force then, freed by the next init. */
	uint64_t gen; /* counts inits */
	struct essim_latency lat;
	struct essim_series_bucket *series;
	uint64_t series_want_ns;
	size_t series_want_n;
};

extern struct essim_kernel essim__k;

/*
 * A message as essim_post() sees it before it is copied to each client:
 * its pointers lead into this structure, the posted event's strings and
 * the process record.  essim__msg_build() turns it into a self-contained
 * message per client.  The es_message_t itself is kept apart (it has a
 * flexible array member, so it cannot be a member here in C11).
 */
struct essim_tmpl {
	es_file_t f_target, f_dir2, f_aux;
	es_process_t p_target;
	struct essim_statfs sfs;
	es_thread_t thread;
	/* Target paths for TARGET_* muting; empty: not target-mutable. */
	const char *tpath[2];
	size_t ntpath;
	/* Scratch strings: not zeroed by essim__tmpl_init. */
	char aux_path[ESSIM_PATH_MAX];
	char name_buf[ESSIM_PATH_MAX];
	char joined[2 * ESSIM_PATH_MAX + 2];
};

/* essim.c */
/*
 * Test hook: while held, the watchdog does not fire, as when its wake-up
 * comes late on a loaded machine; the delivery thread and the respond
 * calls must then judge deadlines themselves.  Not part of essim.h.
 */
void essim__watchdog_hold(bool hold);
uint64_t essim__mono_ns(void);
uint64_t essim__ns_to_mach(uint64_t ns);
bool essim__heap_remove_locked(struct essim_kmsg *k);
void essim__answers_drain_locked(void);
void essim__answer_books_locked(struct essim_kmsg *o);
/* c missed k's deadline, found at now with k at stage: c is killed. */
void essim__terminate_locked(struct es_client_s *c, struct essim_kmsg *k,
    enum essim_kill_stage stage, uint64_t now);
void essim__abandon_locked(struct es_client_s *c);
bool essim__cacheable(es_event_type_t t);
void essim__cache_store_locked(const es_message_t *m, uint32_t flags);
void essim__cache_clear_locked(void);
void essim__idle_check_locked(void);
/* A delivery thread's handler times into the kernel's; takes K.lock. */
void essim__callback_books(struct es_client_s *c);

/* essim_msg.c */
int essim__tmpl_init(struct essim_tmpl *t, es_message_t *m,
    const struct essim_event *ev, const struct essim_kproc *p,
    es_action_type_t *action);
struct essim_kmsg *
essim__msg_build(const es_message_t *src, struct es_client_s *c);
void essim__kmsg_put(struct essim_kmsg *k);
void essim__client_put(struct es_client_s *c);
const char *essim__cache_target(const es_message_t *m);

/* essim_client.c */
bool essim__muted_locked(const struct es_client_s *c, const es_message_t *m,
    const struct essim_tmpl *t);

#endif
