/*
 * es.h — the EndpointSecurity backend (internal to verdictd and its tests).
 *
 * Two ES clients, mirroring Apple's advice: one for AUTH events, one for
 * NOTIFY events, each muting verdictd's own executable.  The handler blocks
 * only retain the message, copy it into a vd_event and submit it; answers
 * go back through es_respond_flags_result (AUTH_OPEN) or
 * es_respond_auth_result, compared with ES_RESPOND_RESULT_SUCCESS.  Only an
 * ALLOW that the decision marks cacheable and not audited is ever cached.
 *
 * The same source builds against Apple's SDK on macOS and against the
 * simulator (libessim) on Linux.
 *
 * Life cycle (one controlling thread):
 *   vd_es_create -> vd_pipeline_create(..., vd_es_ops(), es) ->
 *   vd_pipeline_start -> vd_es_start -> ... -> vd_es_quiesce ->
 *   vd_pipeline_stop -> vd_es_destroy
 * vd_es_quiesce stops new events and waits until no handler is inside the
 * pipeline, so stopping the pipeline afterwards answers everything.
 */
#ifndef VD_BACKEND_ES_H
#define VD_BACKEND_ES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <verdict/backend.h>
#include <verdict/pipeline.h>

struct vd_es;

/* Counters of the backend itself (any thread may read them). */
struct vd_es_stats {
	uint64_t auth_messages;     /* handed to us by the AUTH client */
	uint64_t notify_messages;   /* by the NOTIFY client */
	uint64_t unknown_type;      /* event types we did not subscribe to */
	uint64_t kernel_drops;      /* gaps in global_seq_num, both clients */
	uint64_t respond_errors[8]; /* by es_respond_result_t value */
	uint64_t retained;          /* es_retain_message calls */
	uint64_t released;          /* es_release_message calls */
	uint64_t cached;            /* answers sent with cache = true */
	uint64_t clear_cache_throttled;
	uint64_t clear_cache_failed; /* gave up after retries (a reload) */
};

/* The AUTH and NOTIFY event types verdictd subscribes to. */
extern const enum vd_event_type vd_es_types[];
extern const size_t vd_es_ntypes;

/* Allocates the backend.  NULL and *err = -ENOMEM. */
struct vd_es *vd_es_create(int *err);

/* The ops to give vd_pipeline_create, with `es` as the backend context. */
const struct vd_backend_ops *vd_es_ops(void);

/*
 * Creates the two clients, mutes our own executable, subscribes.  0, or
 * -errno with a sentence in err naming the es_new_client_result_t (e.g.
 * "es_new_client: ES_NEW_CLIENT_RESULT_ERR_NOT_PERMITTED: grant Full Disk
 * Access").
 */
int
vd_es_start(struct vd_es *es, struct vd_pipeline *p, char *err, size_t errsz);

/* Unsubscribes both clients and waits until no handler is submitting. */
void vd_es_quiesce(struct vd_es *es);

/*
 * Clears the kernel's result cache (after a policy reload).  0, -EAGAIN
 * when the kernel throttled the call (retry later), -EIO otherwise.
 */
int vd_es_clear_cache(struct vd_es *es);

/* The clients, for the simulator's reports (NULL before start). */
void *vd_es_auth_client(const struct vd_es *es);
void *vd_es_notify_client(const struct vd_es *es);

void vd_es_stats(const struct vd_es *es, struct vd_es_stats *out);

/* Deletes the clients (after vd_pipeline_stop).  NULL: no-op. */
void vd_es_finish(struct vd_es *es);

/* Deletes the clients if still there, and frees.  NULL: no-op. */
void vd_es_destroy(struct vd_es *es);

/*
 * The backend as a program drives it (verdict/backend.h): start, quiesce,
 * finish and destroy as above; a policy change clears the kernel's cache
 * (retried while throttled); counters backend.es.*.
 */
void vd_es_backend(struct vd_es *es, struct vd_backend *out);

/* The name of an es_respond_result_t value, for reports. */
const char *vd_es_respond_result_name(unsigned r);

#endif
