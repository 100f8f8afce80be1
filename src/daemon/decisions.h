/*
 * decisions.h — the decision log: one JSON object a line for every deny,
 * every audited answer and every monitor-mode would-deny (every allow too
 * with log.allows), written by a thread of its own from a bounded queue
 * the answering threads copy into without blocking.  The schema is in
 * verdictd(8), DECISION LOG.
 *
 * Threads: vd_declog_observe on any answering thread (the pipeline's
 * observer); everything else on the main thread.
 */
#ifndef VD_DAEMON_DECISIONS_H
#define VD_DAEMON_DECISIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <verdict/pipeline.h>
#include <verdict/policy.h>

#define VD_DECLOG_SCHEMA 1

struct vd_declog;

struct vd_declog_stats {
	uint64_t written; /* lines */
	uint64_t dropped; /* the queue was full, or the write failed */
	uint64_t write_errors;
	uint64_t queue_max; /* records */
	uint64_t cpu_ns;    /* the writer thread's, once stopped */
};

/*
 * Opens target ("stdout", "journal" or a file name, appended to) with a
 * queue of `queue` records (a power of 2); rt names the deciding rules
 * (NULL: none).  NULL with why in err.
 */
struct vd_declog *vd_declog_open(const char *target, bool allows,
    unsigned queue, struct vd_policy_runtime *rt, char *err, size_t errsz);

/* Starts the writer thread.  0 or -errno. */
int vd_declog_start(struct vd_declog *l);

/* The pipeline's observer (vd_pipeline_set_observer), l as ctx. */
void vd_declog_observe(void *ctx, const struct vd_answer *a);

/*
 * Opens target anew (logrotate's SIGHUP or SIGUSR1, or a reload) and
 * takes allows; on an error the old target stays and err says why.
 */
int vd_declog_reopen(struct vd_declog *l, const char *target, bool allows,
    char *err, size_t errsz);

void vd_declog_stats(const struct vd_declog *l, struct vd_declog_stats *out);

/* Writes what is queued and stops the thread (the stats stay). */
void vd_declog_stop(struct vd_declog *l);

/* Writes what is queued, stops the thread, closes.  NULL: no-op. */
void vd_declog_close(struct vd_declog *l);

/* One record as its JSON line into buf (for the tests); its length. */
size_t vd_declog_format_test(const struct vd_answer *a, uint64_t generation,
    const char *rule_at, const char *rule_text, char *buf, size_t bufsz);

#endif
