/*
 * runtime.c — the policy in force: epoch-protected reads, atomic swaps,
 * deferred frees.  See verdict/policy.h.
 *
 * The snapshot pointer is a C11 atomic (release on publish, acquire on
 * read), so ThreadSanitizer sees the snapshot's contents ordered.  The
 * grace period comes from ck_epoch, which TSan cannot see (util/tsan.h):
 * ck_epoch_poll dispatches a retired snapshot only once it has seen every
 * record outside the read sections that could have loaded it.  So the end
 * of each read section releases its worker's record, and the free acquires
 * every record: each evaluation that could read the snapshot happens
 * before its free.  The writer's own edge, from ck_epoch_call to the
 * dispatch, is not annotated: ck gives none, a record being one thread's,
 * so swap and poll must run on one thread, and TSan reports it if not.
 *
 * The decision cache is one table per worker, written and read by that
 * worker only, so the AUTH path takes no lock and shares no cache line.
 * What other threads change is read through two atomics: the generation
 * (a reload makes every entry stale) and a shared array of file epochs
 * (the notify thread bumps the one a written file hashes to).  An entry
 * remembers both as they were before its evaluation, so a change during
 * the evaluation makes it stale rather than hiding the change.
 *
 * The key holds every event field vd_policy_eval reads: the type, the
 * open flags, pid, uid and the process's start time compared exactly; the
 * target path, gid, exe, comm, team and signing ids, cdhash, platform and
 * the preset decision folded into a 64-bit hash seeded per runtime, as
 * the entries have no room for the strings.  The file's (dev, ino, ctime)
 * are compared exactly too: the policy reads no file content today, but
 * a rule that ever does must not inherit a decision about other bytes.
 * Types with a second path (rename, link, clone, copyfile) and mount and
 * signal are not cached: their key would need that path too.
 */
#include <errno.h>
#include <stdalign.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ck_epoch.h>

#include <verdict/policy.h>

#include "platform/platform.h"
#include "rules/policy_internal.h"
#include "util/util.h"

struct retired {
	ck_epoch_entry_t entry;
	struct vd_policy *pol;
	struct vd_policy_runtime *rt;
};

/* Two ways per set: a hot file does not lose its entry to one other. */
#define WAYS 2
/* File epochs: a power of two; a bump invalidates the files that share
 * the bucket too, which costs a miss, never a wrong answer. */
#define FILE_EPOCHS 4096u

/* One cached decision.  valid false: never filled. */
struct centry {
	uint64_t hash; /* the whole key, the strings included */
	uint64_t dev, ino, ctime_ns, start_time;
	uint64_t gen; /* the generation it was computed under */
	int32_t pid;
	uint32_t uid;
	uint32_t open_flags; /* the event's, not the decision's */
	uint32_t fepoch;     /* the file's epoch before the evaluation */
	uint16_t type;
	bool valid;
	struct vd_decision d;
};

/* A worker's epoch record, counters and cache, on their own cache lines.
 * Only that worker writes any of it (set_cache aside, which runs when no
 * worker does). */
struct slot {
	alignas(VD_CACHELINE) ck_epoch_record_t record;
	_Atomic uint64_t evaluations, matched, defaulted, truncated;
	_Atomic uint64_t would_deny;
	_Atomic uint64_t cache_hits, cache_misses, cache_evictions;
	struct centry *cache; /* nsets * WAYS entries; NULL: no cache */
	uint32_t setmask;     /* nsets - 1 */
	uint32_t tick;        /* picks the way to evict */
};

struct vd_policy_runtime {
	_Atomic(struct vd_policy *) cur;
	ck_epoch_t epoch;
	ck_epoch_record_t writer; /* the controlling thread's */
	/* vd_policy_runtime_rule_hits' reader, from any thread, one at a
	 * time. */
	pthread_mutex_t hits_mu;
	ck_epoch_record_t hits_rec;
	unsigned nslots;
	struct slot *slots;
	_Atomic uint64_t generation;
	/* What cache entries are tagged with: bumped by every swap and
	 * every flush. */
	_Atomic uint64_t cache_gen;
	_Atomic uint64_t flushes;
	_Atomic uint64_t retired;
	/* The rule count of cur, for stats: another thread may not read cur
	 * itself outside an epoch section, since a swap may free it. */
	_Atomic uint64_t rules;
	uint64_t seed;   /* keys the cache's hash */
	size_t centries; /* per worker; 0: no cache */
	/* Written by the notify thread only. */
	alignas(VD_CACHELINE) _Atomic uint64_t cache_invalidations;
	/* Told of each file written (vd_policy_runtime_on_write). */
	void (*on_write)(void *ctx, const struct vd_event *ev);
	void *on_write_ctx;
	alignas(VD_CACHELINE) _Atomic uint32_t fepoch[FILE_EPOCHS];
};

static void
add(_Atomic uint64_t *x)
{
	/* One writer per slot: a relaxed load and store, no locked add. */
	atomic_store_explicit(x,
	    atomic_load_explicit(x, memory_order_relaxed) + 1,
	    memory_order_relaxed);
}

static inline uint64_t
mix(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 31);
}

static inline uint64_t
finish(uint64_t h)
{
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	return h ^ (h >> 31);
}

/* The bytes up to the first NUL or max, length included, so "ab" + "c"
 * and "a" + "bc" differ. */
static uint64_t
mix_str(uint64_t h, const char *s, size_t max)
{
	size_t n = strnlen(s, max), len = n;
	uint64_t w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = mix(h, w);
	}
	w = 0;
	memcpy(&w, s, n);
	return mix(mix(h, w), len);
}

static uint64_t
key_hash(const struct vd_policy_runtime *rt, const struct vd_event *ev,
    const struct vd_decision *preset)
{
	const struct vd_process *p = &ev->proc;
	uint64_t h = rt->seed, w;

	h = mix(h, ev->type | (uint64_t)ev->open_flags << 16);
	h = mix(h, ev->target_dev);
	h = mix(h, ev->target_ino);
	h = mix(h, ev->target_ctime_ns);
	h = mix(h, (uint32_t)p->pid | (uint64_t)(uint32_t)p->uid << 32);
	h = mix(h, p->start_time);
	h = mix(h,
	    (uint32_t)p->gid | (uint64_t)p->platform_binary << 32 |
	        (uint64_t)p->exe_truncated << 33);
	/* Without a rule the policy leaves the preset: part of the key. */
	h = mix(h,
	    preset->verdict | (uint64_t)preset->audit << 8 |
	        (uint64_t)preset->cache << 9 |
	        (uint64_t)preset->open_flags << 32);
	memcpy(&w, p->cdhash, 8);
	h = mix(h, w);
	memcpy(&w, p->cdhash + 8, 8);
	h = mix(h, w);
	w = 0;
	memcpy(&w, p->cdhash + 16, 4);
	h = mix(h, w);
	h = mix_str(h, ev->target, VD_PATH_MAX);
	h = mix_str(h, p->exe, VD_PATH_MAX);
	h = mix_str(h, p->comm, VD_COMM_MAX);
	h = mix_str(h, p->team_id, VD_ID_MAX);
	h = mix_str(h, p->signing_id, VD_ID_MAX);
	return finish(h);
}

static inline unsigned
fepoch_index(const struct vd_event *ev)
{
	return (unsigned)finish(mix(ev->target_dev, ev->target_ino)) &
	    (FILE_EPOCHS - 1);
}

static inline bool
cacheable_type(unsigned t)
{
	switch (t) {
	case VD_AUTH_OPEN:
	case VD_AUTH_EXEC:
	case VD_AUTH_ACCESS:
	case VD_AUTH_UNLINK:
	case VD_AUTH_TRUNCATE:
		return true;
	default:
		return false;
	}
}

static inline bool
key_eq(const struct centry *e, uint64_t h, const struct vd_event *ev)
{
	return e->valid && e->hash == h && e->type == ev->type &&
	    e->dev == ev->target_dev && e->ino == ev->target_ino &&
	    e->ctime_ns == ev->target_ctime_ns && e->pid == ev->proc.pid &&
	    e->uid == (uint32_t)ev->proc.uid &&
	    e->start_time == ev->proc.start_time &&
	    e->open_flags == ev->open_flags;
}

/* Rows of hit counters beyond this many counters share one row. */
#define HITS_MAX (1u << 22)

/* Gives pol its hit counters before it is published; without memory it
 * goes uncounted. */
static void
hits_alloc(struct vd_policy *pol, unsigned nslots)
{
	size_t n;

	if (pol == NULL || pol->hits != NULL || pol->nrules == 0)
		return;
	pol->hit_stride = pol->nrules * nslots <= HITS_MAX ? nslots : 1;
	n = pol->nrules * pol->hit_stride;
	pol->hits = calloc(n, sizeof(*pol->hits));
}

static inline void
hit(const struct vd_policy *pol, unsigned worker, uint32_t rule)
{
	if (pol != NULL && pol->hits != NULL && rule != 0 &&
	    rule <= pol->nrules)
		atomic_fetch_add_explicit(
		    &pol->hits[(size_t)(worker % pol->hit_stride) *
		            pol->nrules +
		        rule - 1],
		    1, memory_order_relaxed);
}

static void
evaluate(void *ctx, unsigned worker, const struct vd_event *ev,
    struct vd_decision *out)
{
	struct vd_policy_runtime *rt = ctx;
	struct slot *s = &rt->slots[worker % rt->nslots];
	const struct vd_policy *pol;
	struct centry *set = NULL, *e = NULL;
	bool truncated = false;
	size_t rule = 0;
	uint64_t h = 0, gen = 0;
	uint32_t fe = 0;
	unsigned i;

	/*
	 * A worker beyond nslots shares its slot: its table would be
	 * written by two threads, so it goes without.
	 */
	if (s->cache != NULL && worker < rt->nslots && ev->target_id &&
	    !ev->target_truncated && cacheable_type(ev->type)) {
		/* The generation before the snapshot: an entry is never
		 * tagged newer than the policy that computed it. */
		gen =
		    atomic_load_explicit(&rt->cache_gen, memory_order_acquire);
		fe = atomic_load_explicit(
		    &rt->fepoch[fepoch_index(ev)], memory_order_acquire);
		h = key_hash(rt, ev, out);
		set = &s->cache[(h & s->setmask) * WAYS];
		for (i = 0; i < WAYS; i++) {
			if (!key_eq(&set[i], h, ev))
				continue;
			if (set[i].gen == gen && set[i].fepoch == fe) {
				*out = set[i].d;
				add(&s->cache_hits);
				if (out->rule != 0) {
					ck_epoch_begin(&s->record, NULL);
					hit(atomic_load_explicit(
					        &rt->cur, memory_order_acquire),
					    worker, out->rule);
					VD_TSAN_RELEASE(&s->record);
					ck_epoch_end(&s->record, NULL);
				}
				return;
			}
			e = &set[i]; /* stale: refill in place */
			break;
		}
		add(&s->cache_misses);
	}
	ck_epoch_begin(&s->record, NULL);
	pol = atomic_load_explicit(&rt->cur, memory_order_acquire);
	if (pol != NULL) {
		rule = vd_policy_eval(pol, ev, out, &truncated);
		hit(pol, worker, (uint32_t)rule);
	}
	/* What this section read of the snapshot, before its end is
	 * published to the reclaimer. */
	VD_TSAN_RELEASE(&s->record);
	ck_epoch_end(&s->record, NULL);
	/* Not decided yet: deferred for the file's digest, and evaluated
	 * again (and counted, and cached) once it has one. */
	if (out->needs != 0)
		return;
	add(&s->evaluations);
	add(rule != 0 ? &s->matched : &s->defaulted);
	if (truncated)
		add(&s->truncated);
	if (out->would_deny)
		add(&s->would_deny);
	/* An audited or would-deny decision is logged each time; one that
	 * met a cut path is not the policy's answer for that file. */
	if (set == NULL || out->audit || out->would_deny || truncated)
		return;
	if (e == NULL) {
		for (i = 0; i < WAYS && e == NULL; i++)
			if (!set[i].valid || set[i].gen != gen)
				e = &set[i];
		if (e == NULL) {
			e = &set[s->tick++ % WAYS];
			add(&s->cache_evictions);
		}
	}
	e->hash = h;
	e->dev = ev->target_dev;
	e->ino = ev->target_ino;
	e->ctime_ns = ev->target_ctime_ns;
	e->start_time = ev->proc.start_time;
	e->gen = gen;
	e->pid = ev->proc.pid;
	e->uid = (uint32_t)ev->proc.uid;
	e->open_flags = ev->open_flags;
	e->fepoch = fe;
	e->type = ev->type;
	e->valid = true;
	e->d = *out;
}

/*
 * On the notify thread: a file written and closed (or written) may now
 * warrant another answer once rules look at more than its name; its
 * entries, in every worker's table, become stale at once.
 */
static void
notify(void *ctx, const struct vd_event *const *evs, size_t n)
{
	struct vd_policy_runtime *rt = ctx;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct vd_event *ev = evs[i];

		if (!ev->target_id)
			continue;
		if (!(ev->type == VD_NOTIFY_WRITE ||
		        (ev->type == VD_NOTIFY_CLOSE && ev->close_modified)))
			continue;
		atomic_fetch_add_explicit(
		    &rt->fepoch[fepoch_index(ev)], 1, memory_order_release);
		add(&rt->cache_invalidations);
		if (rt->on_write != NULL)
			rt->on_write(rt->on_write_ctx, ev);
	}
}

void
vd_policy_runtime_on_write(struct vd_policy_runtime *rt,
    void (*fn)(void *ctx, const struct vd_event *ev), void *ctx)
{
	rt->on_write = fn;
	rt->on_write_ctx = ctx;
}

int
vd_policy_runtime_set_cache(struct vd_policy_runtime *rt, size_t entries)
{
	size_t nsets = 1, i;
	struct centry *t;

	if (entries > VD_POLICY_CACHE_MAX)
		return -EINVAL;
	if (entries != 0) {
		while (nsets * WAYS < entries)
			nsets <<= 1;
	}
	for (i = 0; i < rt->nslots; i++) {
		free(rt->slots[i].cache);
		rt->slots[i].cache = NULL;
		rt->slots[i].setmask = 0;
	}
	rt->centries = 0;
	if (entries == 0)
		return 0;
	for (i = 0; i < rt->nslots; i++) {
		if ((t = calloc(nsets * WAYS, sizeof(*t))) == NULL) {
			vd_policy_runtime_set_cache(rt, 0);
			return -ENOMEM;
		}
		rt->slots[i].cache = t;
		rt->slots[i].setmask = (uint32_t)(nsets - 1);
	}
	rt->centries = nsets * WAYS;
	return 0;
}

size_t
vd_policy_runtime_cache_entries(const struct vd_policy_runtime *rt)
{
	return rt->centries;
}

int
vd_policy_runtime_with_policy(struct vd_policy_runtime *rt,
    int (*fn)(void *ctx, const struct vd_policy *pol), void *ctx)
{
	int rc;

	pthread_mutex_lock(&rt->hits_mu);
	ck_epoch_begin(&rt->hits_rec, NULL);
	rc = fn(ctx, atomic_load_explicit(&rt->cur, memory_order_acquire));
	VD_TSAN_RELEASE(&rt->hits_rec);
	ck_epoch_end(&rt->hits_rec, NULL);
	pthread_mutex_unlock(&rt->hits_mu);
	return rc;
}

uint64_t
vd_policy_runtime_generation(const struct vd_policy_runtime *rt)
{
	return atomic_load_explicit(
	    &((struct vd_policy_runtime *)rt)->generation,
	    memory_order_acquire);
}

/* vd_policy_runtime_rule_at's question and answer. */
struct rule_at {
	struct vd_policy_runtime *rt;
	uint64_t generation;
	size_t n;
	char *at, *text;
	size_t atsz, textsz;
};

static int
rule_at_with(void *ctx, const struct vd_policy *pol)
{
	struct rule_at *q = ctx;
	struct vd_policy_rule_info ri;

	/* The generation after the snapshot: a swap between the two makes
	 * them differ, and the rule is not named. */
	if (atomic_load_explicit(&q->rt->generation, memory_order_acquire) !=
	        q->generation ||
	    !vd_policy_rule_info(pol, q->n, &ri))
		return 0;
	snprintf(q->at, q->atsz, "%.*s:%u", (int)ri.file_len, ri.file, ri.line);
	snprintf(q->text, q->textsz, "%.*s", (int)ri.text_len, ri.text);
	return 1;
}

bool
vd_policy_runtime_rule_at(struct vd_policy_runtime *rt, uint64_t generation,
    size_t n, char *at, size_t atsz, char *text, size_t textsz)
{
	struct rule_at q = { rt, generation, n, at, text, atsz, textsz };

	return vd_policy_runtime_with_policy(rt, rule_at_with, &q) == 1;
}

/* vd_policy_runtime_rule_hits' callback. */
struct rule_hits {
	void (*fn)(void *ctx, size_t rule, const struct vd_policy_rule_info *r,
	    uint64_t hits);
	void *ctx;
};

static int
rule_hits_with(void *ctx, const struct vd_policy *pol)
{
	struct rule_hits *q = ctx;
	struct vd_policy_rule_info info;
	uint64_t sum;
	size_t i;
	unsigned k;

	for (i = 1; pol != NULL && vd_policy_rule_info(pol, i, &info); i++) {
		for (sum = 0, k = 0; pol->hits != NULL && k < pol->hit_stride;
		     k++)
			sum += atomic_load_explicit(
			    &pol->hits[(size_t)k * pol->nrules + i - 1],
			    memory_order_relaxed);
		q->fn(q->ctx, i, &info, sum);
	}
	return (int)(i - 1);
}

size_t
vd_policy_runtime_rule_hits(struct vd_policy_runtime *rt,
    void (*fn)(void *ctx, size_t rule, const struct vd_policy_rule_info *r,
        uint64_t hits),
    void *ctx)
{
	struct rule_hits q = { fn, ctx };

	return (size_t)vd_policy_runtime_with_policy(rt, rule_hits_with, &q);
}

struct vd_policy_runtime *
vd_policy_runtime_create(struct vd_policy *pol, unsigned workers, int *err)
{
	struct vd_policy_runtime *rt;
	unsigned i;

	/* aligned: the notify thread's fields have their own lines. */
	if ((rt = aligned_alloc(VD_CACHELINE, sizeof(*rt))) == NULL)
		goto fail;
	memset(rt, 0, sizeof(*rt));
	rt->nslots = workers != 0 ? workers : VD_MAX_WORKERS;
	rt->slots =
	    aligned_alloc(VD_CACHELINE, rt->nslots * sizeof(*rt->slots));
	if (rt->slots == NULL)
		goto fail;
	memset(rt->slots, 0, rt->nslots * sizeof(*rt->slots));
	ck_epoch_init(&rt->epoch);
	ck_epoch_register(&rt->epoch, &rt->writer, NULL);
	ck_epoch_register(&rt->epoch, &rt->hits_rec, NULL);
	pthread_mutex_init(&rt->hits_mu, NULL);
	hits_alloc(pol, rt->nslots);
	for (i = 0; i < rt->nslots; i++)
		ck_epoch_register(&rt->epoch, &rt->slots[i].record, NULL);
	/* Not secret against a local reader of our memory, only against
	 * a remote guess; it keeps crafted names from colliding by design. */
	rt->seed = finish(
	    vd_clock_ns() ^ (uint64_t)(uintptr_t)rt ^ (uint64_t)getpid() << 32);
	if (vd_policy_runtime_set_cache(rt, VD_POLICY_CACHE_DEFAULT) != 0)
		goto fail;
	atomic_store(&rt->rules, pol != NULL ? vd_policy_rules(pol) : 0);
	atomic_store(&rt->cur, pol);
	atomic_store(&rt->generation, 1);
	atomic_store(&rt->cache_gen, 1);
	*err = 0;
	return rt;
fail:
	if (rt != NULL && rt->slots != NULL) {
		for (i = 0; i < rt->nslots; i++)
			free(rt->slots[i].cache);
	}
	if (rt != NULL)
		free(rt->slots);
	free(rt);
	*err = -ENOMEM;
	return NULL;
}

struct vd_evaluator
vd_policy_runtime_evaluator(struct vd_policy_runtime *rt)
{
	struct vd_evaluator e = {
		.evaluate = evaluate,
		.notify = notify,
		.ctx = rt,
	};

	return e;
}

static void
reclaim(ck_epoch_entry_t *entry)
{
	struct retired *r = (struct retired *)(void *)((char *)entry -
	    offsetof(struct retired, entry));
	unsigned i;

	/* Every read section that could see r->pol has ended, on every
	 * record: the poll that called us saw them all. */
	for (i = 0; i < r->rt->nslots; i++)
		VD_TSAN_ACQUIRE(&r->rt->slots[i].record);
	VD_TSAN_ACQUIRE(&r->rt->hits_rec);
	atomic_fetch_sub(&r->rt->retired, 1);
	vd_policy_free(r->pol);
	free(r);
}

uint64_t
vd_policy_runtime_swap(struct vd_policy_runtime *rt, struct vd_policy *next)
{
	struct vd_policy *old;
	struct retired *r;

	hits_alloc(next, rt->nslots);
	atomic_store(&rt->rules, next != NULL ? vd_policy_rules(next) : 0);
	old = atomic_exchange_explicit(&rt->cur, next, memory_order_acq_rel);
	atomic_fetch_add(&rt->generation, 1);
	atomic_fetch_add(&rt->cache_gen, 1);
	if (old != NULL) {
		if ((r = malloc(sizeof(*r))) == NULL) {
			/* No memory to defer the free: keep the old snapshot
			 * forever rather than free it under a reader. */
			return atomic_load(&rt->generation);
		}
		r->pol = old;
		r->rt = rt;
		atomic_fetch_add(&rt->retired, 1);
		ck_epoch_call(&rt->writer, &r->entry, reclaim);
	}
	ck_epoch_poll(&rt->writer);
	return atomic_load(&rt->generation);
}

void
vd_policy_runtime_flush(struct vd_policy_runtime *rt)
{
	atomic_fetch_add(&rt->cache_gen, 1);
	atomic_fetch_add_explicit(&rt->flushes, 1, memory_order_relaxed);
}

unsigned
vd_policy_runtime_poll(struct vd_policy_runtime *rt)
{
	ck_epoch_poll(&rt->writer);
	return (unsigned)atomic_load(&rt->retired);
}

void
vd_policy_runtime_stats(
    const struct vd_policy_runtime *rt, struct vd_policy_runtime_stats *out)
{
	unsigned i;

	memset(out, 0, sizeof(*out));
	out->generation = atomic_load(&rt->generation);
	out->cache_flushes = atomic_load(&rt->flushes);
	out->rules = atomic_load(&rt->rules);
	for (i = 0; i < rt->nslots; i++) {
		out->evaluations += atomic_load_explicit(
		    &rt->slots[i].evaluations, memory_order_relaxed);
		out->matched += atomic_load_explicit(
		    &rt->slots[i].matched, memory_order_relaxed);
		out->defaulted += atomic_load_explicit(
		    &rt->slots[i].defaulted, memory_order_relaxed);
		out->truncated += atomic_load_explicit(
		    &rt->slots[i].truncated, memory_order_relaxed);
		out->would_deny += atomic_load_explicit(
		    &rt->slots[i].would_deny, memory_order_relaxed);
		out->cache_hits += atomic_load_explicit(
		    &rt->slots[i].cache_hits, memory_order_relaxed);
		out->cache_misses += atomic_load_explicit(
		    &rt->slots[i].cache_misses, memory_order_relaxed);
		out->cache_evictions += atomic_load_explicit(
		    &rt->slots[i].cache_evictions, memory_order_relaxed);
	}
	out->cache_invalidations = atomic_load_explicit(
	    &rt->cache_invalidations, memory_order_relaxed);
	out->cache_entries = rt->centries * rt->nslots;
	out->retired = atomic_load(&rt->retired);
}

void
vd_policy_runtime_destroy(struct vd_policy_runtime *rt)
{
	if (rt == NULL)
		return;
	/* The pipeline is stopped: no reader is left, so every pending
	 * free can run now. */
	ck_epoch_barrier(&rt->writer);
	vd_policy_free(atomic_load(&rt->cur));
	vd_policy_runtime_set_cache(rt, 0);
	free(rt->slots);
	free(rt);
}
