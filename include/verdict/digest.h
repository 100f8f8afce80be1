/*
 * verdict/digest.h — the file-digest enrichment: the SHA-256 of the file an
 * AUTH event names, for sha256= rules (VD_NEED_DIGEST), read by the
 * pipeline's enrichment threads (vd_enricher, verdict/pipeline.h), never on
 * the answering path, with a bounded cache.
 *
 * The file is read through the event's own descriptor when it has one
 * (fanotify: ev->handle.fd, with pread, so its offset does not move), or
 * else opened by path (Endpoint Security) with O_NOFOLLOW and checked to be
 * the file the event named (its device and inode, when the backend set
 * target_id): never through a path an attacker could swap between a check
 * and the read.  Before and after the read the file's ctime, mtime and size
 * are compared: a file that changed while it was read gets no digest.
 * Files over max_bytes, FIFOs, devices and directories get none either;
 * each case is counted, and the event is decided without a digest
 * (VD_UNAVAILABLE, verdict/pipeline.h).
 *
 * The cache is keyed by (dev, ino, ctime, mtime, size): a write to the
 * file moves its ctime, so a stale digest is never found again; and a file
 * the NOTIFY path saw written is forgotten (vd_digest_forget), for file
 * systems whose times are too coarse to show every write.
 *
 * Threads: vd_digest_event, vd_digest_enrich and vd_digest_stats on any
 * thread, concurrently (the cache takes a mutex, held for a lookup or an
 * insert, never for a read of the file); create and destroy on one.
 */
#ifndef VERDICT_DIGEST_H
#define VERDICT_DIGEST_H

#include <stdbool.h>
#include <stdint.h>

#include <verdict/event.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vd_ctr;

struct vd_digest_config {
	uint64_t max_bytes; /* larger files are not read (default 256 MiB) */
	unsigned cache;     /* entries, a power of two; 0: no cache */
	/* Test hook: a slow disk, this long per MiB read (0: none). */
	uint64_t delay_ns_per_mib;
};

void vd_digest_config_init(struct vd_digest_config *c);

struct vd_digest;

/* NULL and *err = -EINVAL (a bad config) or -ENOMEM. */
struct vd_digest *vd_digest_create(const struct vd_digest_config *c, int *err);
void vd_digest_destroy(struct vd_digest *d);

/*
 * Fills ev->sha256 and sets VD_NEED_DIGEST in ev->have: read through fd
 * when fd >= 0, else by ev->target.  0, or -errno: -EFBIG over max_bytes,
 * -EINVAL not a regular file, -ESTALE changed while read or not the
 * event's file, -ENAMETOOLONG a truncated path, or open(2)'s and read(2)'s.
 */
int vd_digest_event(struct vd_digest *d, struct vd_event *ev, int fd);

/*
 * Forgets the digest of the file ev names (target_dev, target_ino, when
 * target_id): for vd_policy_runtime_on_write, on the notify thread, so a
 * file written is hashed again even where its times are too coarse to
 * change (counted as digest.cache.invalidations).
 */
void vd_digest_forget(void *ctx, const struct vd_event *ev);

/*
 * Makes every read in progress, and every later one, stop at its next
 * chunk with -ECANCELED: call it before vd_pipeline_stop, so a large
 * file does not hold the stop up (a read the kernel itself blocks, on a
 * hung network file system, still does).  Any thread.
 */
void vd_digest_cancel(struct vd_digest *d);

/* vd_enricher.enrich over vd_digest_event (ctx: the vd_digest), reading
 * through ev->handle.fd. */
int vd_digest_enrich(void *ctx, struct vd_event *ev, uint32_t needs, bool late);

struct vd_digest_stats {
	uint64_t hashed;       /* files read whole and hashed */
	uint64_t bytes;        /* read to hash them */
	uint64_t hash_ns;      /* spent reading and hashing */
	uint64_t cache_hits;   /* digests found in the cache */
	uint64_t cache_misses; /* looked up and not found */
	uint64_t cache_evictions;
	uint64_t cache_invalidations; /* dropped: the file was written */
	uint64_t too_large;           /* over max_bytes */
	uint64_t not_regular;         /* FIFOs, devices, directories, links */
	uint64_t changed; /* moved while read, or not the event's file */
	uint64_t errors;  /* open or read failed */
};

void vd_digest_stats(struct vd_digest *d, struct vd_digest_stats *out);

/* Emits the counters, named digest.* (verdictctl(8)). */
void vd_digest_counters(struct vd_digest *d,
    void (*emit)(void *ectx, const struct vd_ctr *c), void *ectx);

#ifdef __cplusplus
}
#endif

#endif
