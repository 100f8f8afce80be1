/*
 * digest.c — the file-digest enrichment (verdict/digest.h): SHA-256 of the
 * file an event names, read off the answering path, and its cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <verdict/counters.h>
#include <verdict/digest.h>
#include <verdict/pipeline.h>

#include "platform/platform.h"
#include "util/util.h"

#define WAYS     4
#define CHUNK    (128 * 1024)
#define MIB      (1024 * 1024)
#define NS_PER_S 1000000000ull

#ifdef __APPLE__
#define ST_CTIME(st) ((st)->st_ctimespec)
#define ST_MTIME(st) ((st)->st_mtimespec)
#else
#define ST_CTIME(st) ((st)->st_ctim)
#define ST_MTIME(st) ((st)->st_mtim)
#endif

/* What identifies one version of a file's content. */
struct fkey {
	uint64_t dev, ino, ctime_ns, mtime_ns, size;
};

struct dentry {
	bool valid;
	struct fkey k;
	uint8_t d[VD_SHA256_LEN];
};

struct vd_digest {
	struct vd_digest_config cfg;
	pthread_mutex_t mu; /* the cache */
	struct dentry *cache;
	uint64_t setmask;
	unsigned tick;
	_Atomic uint64_t hashed, bytes, hash_ns, hits, misses, evictions;
	_Atomic uint64_t invalidations;
	atomic_bool cancelled;
	/* Bumped by every forget: a digest read while it moved may be of
	 * the file before a write, and is not cached. */
	_Atomic uint64_t forgets;
	_Atomic uint64_t too_large, not_regular, changed, errors;
};

void
vd_digest_config_init(struct vd_digest_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_bytes = 256ull * MIB;
	c->cache = 4096;
}

struct vd_digest *
vd_digest_create(const struct vd_digest_config *c, int *err)
{
	struct vd_digest *d;

	if (c->max_bytes == 0 || (c->cache & (c->cache - 1)) != 0 ||
	    (c->cache != 0 && c->cache < WAYS)) {
		*err = -EINVAL;
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		goto nomem;
	d->cfg = *c;
	if (c->cache != 0) {
		if ((d->cache = calloc(c->cache, sizeof(*d->cache))) == NULL)
			goto nomem;
		d->setmask = c->cache / WAYS - 1;
	}
	pthread_mutex_init(&d->mu, NULL);
	*err = 0;
	return d;
nomem:
	free(d);
	*err = -ENOMEM;
	return NULL;
}

void
vd_digest_destroy(struct vd_digest *d)
{
	if (d == NULL)
		return;
	pthread_mutex_destroy(&d->mu);
	free(d->cache);
	free(d);
}

static uint64_t
ts_ns(struct timespec t)
{
	return (uint64_t)t.tv_sec * NS_PER_S + (uint64_t)t.tv_nsec;
}

static void
key_of(const struct stat *st, struct fkey *k)
{
	k->dev = (uint64_t)st->st_dev;
	k->ino = (uint64_t)st->st_ino;
	k->ctime_ns = ts_ns(ST_CTIME(st));
	k->mtime_ns = ts_ns(ST_MTIME(st));
	k->size = (uint64_t)st->st_size;
}

static bool
key_eq(const struct fkey *a, const struct fkey *b)
{
	return a->dev == b->dev && a->ino == b->ino &&
	    a->ctime_ns == b->ctime_ns && a->mtime_ns == b->mtime_ns &&
	    a->size == b->size;
}

static struct dentry *
set_of(struct vd_digest *d, const struct fkey *k)
{
	uint64_t h = k->dev * 0x9e3779b97f4a7c15ull ^ k->ino;

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return &d->cache[(h & d->setmask) * WAYS];
}

static bool
cache_get(struct vd_digest *d, const struct fkey *k, uint8_t out[32])
{
	struct dentry *s;
	bool found = false;
	unsigned i;

	if (d->cache == NULL)
		return false;
	pthread_mutex_lock(&d->mu);
	s = set_of(d, k);
	for (i = 0; i < WAYS; i++)
		if (s[i].valid && key_eq(&s[i].k, k)) {
			memcpy(out, s[i].d, VD_SHA256_LEN);
			found = true;
			break;
		}
	pthread_mutex_unlock(&d->mu);
	atomic_fetch_add_explicit(
	    found ? &d->hits : &d->misses, 1, memory_order_relaxed);
	return found;
}

static void
cache_put(struct vd_digest *d, const struct fkey *k, const uint8_t dg[32],
    uint64_t forgets)
{
	struct dentry *s, *e = NULL;
	unsigned i;

	if (d->cache == NULL)
		return;
	pthread_mutex_lock(&d->mu);
	/* A file forgotten while it was read: its digest may be of the
	 * content before the write. */
	if (atomic_load_explicit(&d->forgets, memory_order_relaxed) !=
	    forgets) {
		pthread_mutex_unlock(&d->mu);
		return;
	}
	s = set_of(d, k);
	/* The same file's older version, or a free way, or round robin. */
	for (i = 0; i < WAYS && e == NULL; i++)
		if (!s[i].valid ||
		    (s[i].k.dev == k->dev && s[i].k.ino == k->ino))
			e = &s[i];
	if (e == NULL) {
		e = &s[d->tick++ % WAYS];
		atomic_fetch_add_explicit(
		    &d->evictions, 1, memory_order_relaxed);
	}
	e->valid = true;
	e->k = *k;
	memcpy(e->d, dg, VD_SHA256_LEN);
	pthread_mutex_unlock(&d->mu);
}

/* Reads fd's `size` bytes from offset 0 into h; 0 or -errno (-ESTALE:
 * the file ended early or went on). */
static int
hash_fd(struct vd_digest *d, int fd, uint64_t size, struct vd_sha256 *h)
{
	char *buf = malloc(CHUNK);
	uint64_t off = 0, since_delay = 0;
	ssize_t n;
	int rc = 0;

	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		/* One byte past the size: a file that grew shows. */
		n = pread(fd, buf, CHUNK, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		if (atomic_load_explicit(&d->cancelled, memory_order_relaxed)) {
			rc = -ECANCELED;
			break;
		}
		if (off + (uint64_t)n > size) {
			rc = -ESTALE;
			break;
		}
		if (!vd_sha256_update(h, buf, (size_t)n)) {
			rc = -EIO;
			break;
		}
		off += (uint64_t)n;
		since_delay += (uint64_t)n;
		if (d->cfg.delay_ns_per_mib != 0 && since_delay >= MIB) {
			vd_sleep_until(vd_now_ns() +
			    d->cfg.delay_ns_per_mib * (since_delay / MIB));
			since_delay %= MIB;
		}
	}
	if (rc == 0 && off != size)
		rc = -ESTALE;
	atomic_fetch_add_explicit(&d->bytes, off, memory_order_relaxed);
	free(buf);
	return rc;
}

int
vd_digest_event(struct vd_digest *d, struct vd_event *ev, int fd)
{
	struct stat st, st2;
	struct fkey k, k2;
	struct vd_sha256 *h = NULL;
	uint64_t t0, forgets;
	int own = -1, rc;

	if (fd < 0) {
		if (ev->target_truncated || ev->target[0] != '/') {
			atomic_fetch_add(&d->errors, 1);
			return -ENAMETOOLONG;
		}
		/* Without the event's dev and ino, nothing shows that the
		 * file under this path is the one the event named. */
		if (ev->target_ino == 0) {
			atomic_fetch_add(&d->changed, 1);
			return -ESTALE;
		}
		/* Never open what is not a regular file: a device's open
		 * may do something. */
		if (lstat(ev->target, &st) != 0) {
			rc = -errno;
			atomic_fetch_add(&d->errors, 1);
			return rc;
		}
		if (!S_ISREG(st.st_mode)) {
			atomic_fetch_add(&d->not_regular, 1);
			return -EINVAL;
		}
		own = open(ev->target,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (own < 0) {
			rc = -errno;
			atomic_fetch_add(
			    rc == -ELOOP ? &d->not_regular : &d->errors, 1);
			return rc == -ELOOP ? -EINVAL : rc;
		}
		fd = own;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		atomic_fetch_add(&d->errors, 1);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		atomic_fetch_add(&d->not_regular, 1);
		goto out;
	}
	/* By path: the file the event named, not one put there since. */
	if (own >= 0 &&
	    ((uint64_t)st.st_dev != ev->target_dev ||
	        (uint64_t)st.st_ino != ev->target_ino)) {
		rc = -ESTALE;
		atomic_fetch_add(&d->changed, 1);
		goto out;
	}
	key_of(&st, &k);
	if (cache_get(d, &k, ev->sha256)) {
		ev->have |= VD_NEED_DIGEST;
		rc = 0;
		goto out;
	}
	if (k.size > d->cfg.max_bytes) {
		rc = -EFBIG;
		atomic_fetch_add(&d->too_large, 1);
		goto out;
	}
	if ((h = vd_sha256_new()) == NULL) {
		rc = -ENOMEM;
		atomic_fetch_add(&d->errors, 1);
		goto out;
	}
	t0 = vd_now_ns();
	forgets = atomic_load_explicit(&d->forgets, memory_order_relaxed);
	rc = hash_fd(d, fd, k.size, h);
	if (rc == 0 && fstat(fd, &st2) != 0)
		rc = -errno;
	if (rc == 0) {
		key_of(&st2, &k2);
		if (!key_eq(&k, &k2))
			rc = -ESTALE;
	}
	atomic_fetch_add(&d->hash_ns, vd_now_ns() - t0);
	if (rc == 0 && !vd_sha256_final(h, ev->sha256))
		rc = -EIO;
	if (rc != 0) {
		atomic_fetch_add(rc == -ESTALE ? &d->changed : &d->errors, 1);
		goto out;
	}
	atomic_fetch_add(&d->hashed, 1);
	cache_put(d, &k, ev->sha256, forgets);
	ev->have |= VD_NEED_DIGEST;
out:
	vd_sha256_free(h);
	if (own >= 0)
		close(own);
	return rc;
}

void
vd_digest_cancel(struct vd_digest *d)
{
	atomic_store(&d->cancelled, true);
}

void
vd_digest_forget(void *ctx, const struct vd_event *ev)
{
	struct vd_digest *d = ctx;
	struct fkey k = { 0 };
	struct dentry *s;
	unsigned i;

	if (d->cache == NULL || !ev->target_id)
		return;
	k.dev = ev->target_dev;
	k.ino = ev->target_ino;
	pthread_mutex_lock(&d->mu);
	atomic_fetch_add_explicit(&d->forgets, 1, memory_order_relaxed);
	s = set_of(d, &k);
	for (i = 0; i < WAYS; i++)
		if (s[i].valid && s[i].k.dev == k.dev && s[i].k.ino == k.ino) {
			s[i].valid = false;
			atomic_fetch_add_explicit(
			    &d->invalidations, 1, memory_order_relaxed);
		}
	pthread_mutex_unlock(&d->mu);
}

int
vd_digest_enrich(void *ctx, struct vd_event *ev, uint32_t needs, bool late)
{
	(void)late; /* a late digest still fills the cache */
	if (!(needs & VD_NEED_DIGEST))
		return 0;
	return vd_digest_event(ctx, ev, ev->handle.fd);
}

#define LD(x) atomic_load_explicit(&d->x, memory_order_relaxed)

void
vd_digest_stats(struct vd_digest *d, struct vd_digest_stats *out)
{
	out->hashed = LD(hashed);
	out->bytes = LD(bytes);
	out->hash_ns = LD(hash_ns);
	out->cache_hits = LD(hits);
	out->cache_misses = LD(misses);
	out->cache_evictions = LD(evictions);
	out->cache_invalidations = LD(invalidations);
	out->too_large = LD(too_large);
	out->not_regular = LD(not_regular);
	out->changed = LD(changed);
	out->errors = LD(errors);
}

void
vd_digest_counters(struct vd_digest *d,
    void (*emit)(void *ectx, const struct vd_ctr *c), void *ectx)
{
	struct vd_digest_stats s;
	size_t i;

	vd_digest_stats(d, &s);
	{
		const struct vd_ctr cs[] = {
			{ "digest.hashed", VD_CTR_COUNTER, "files",
			    "files read whole and hashed (SHA-256)",
			    (int64_t)s.hashed },
			{ "digest.bytes", VD_CTR_COUNTER, "bytes",
			    "bytes read to hash them", (int64_t)s.bytes },
			{ "digest.hash_us", VD_CTR_COUNTER, "us",
			    "time spent reading and hashing",
			    (int64_t)(s.hash_ns / 1000) },
			{ "digest.cache.hits", VD_CTR_COUNTER, "files",
			    "digests found in the cache",
			    (int64_t)s.cache_hits },
			{ "digest.cache.misses", VD_CTR_COUNTER, "files",
			    "digests looked up and not found",
			    (int64_t)s.cache_misses },
			{ "digest.cache.evictions", VD_CTR_COUNTER, "entries",
			    "cached digests replaced by others",
			    (int64_t)s.cache_evictions },
			{ "digest.cache.invalidations", VD_CTR_COUNTER,
			    "entries",
			    "cached digests dropped: the file was written",
			    (int64_t)s.cache_invalidations },
			{ "digest.too_large", VD_CTR_COUNTER, "files",
			    "files over the size cap: the default",
			    (int64_t)s.too_large },
			{ "digest.not_regular", VD_CTR_COUNTER, "files",
			    "FIFOs, devices, directories, symbolic links: the "
			    "default",
			    (int64_t)s.not_regular },
			{ "digest.changed", VD_CTR_COUNTER, "files",
			    "files that changed while read, or were not the "
			    "event's: the default, nothing cached",
			    (int64_t)s.changed },
			{ "digest.errors", VD_CTR_COUNTER, "files",
			    "files that could not be opened or read: the "
			    "default",
			    (int64_t)s.errors },
		};

		for (i = 0; i < sizeof(cs) / sizeof(cs[0]); i++)
			emit(ectx, &cs[i]);
	}
}
