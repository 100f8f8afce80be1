/*
 * essim.c — the simulated EndpointSecurity kernel: its lifetime, the
 * process table, essim_post() (subscription, muting, the shared result
 * cache, the bounded per-client queues and sequence numbers), the
 * deadline heap and its watchdog thread, termination, essim_wait_idle()
 * and the books, latency books included; also Mach time and the libbsm
 * audit-token accessors.
 *
 * Deadlines are judged in CLOCK_MONOTONIC nanoseconds under the kernel
 * lock, in three places that agree: the watchdog (at the earliest pending
 * deadline), the delivery thread (a message whose deadline passed while it
 * was queued is never delivered) and the respond calls (an answer at or
 * after the deadline is NOT_FOUND even if the watchdog has not run yet,
 * since its wake-up can be late on a loaded machine).  The first of them
 * to see a pending AUTH message past its deadline terminates the client.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <mach/mach_time.h>

#include "essim_internal.h"

struct essim_kernel essim__k = { .lock = PTHREAD_MUTEX_INITIALIZER };
#define K essim__k

struct essim_centry {
	struct essim_centry *next;
	uint64_t hash;
	es_event_type_t type;
	uint32_t flags;
	size_t exe_len;
	char key[]; /* executable '\0' target '\0' */
};

/* ---- clocks and audit tokens ------------------------------------------- */

uint64_t
essim__mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ns x 3 / 125 without overflowing the product. */
uint64_t
essim__ns_to_mach(uint64_t ns)
{
	return ns / 125 * 3 + ns % 125 * 3 / 125;
}

static struct timespec
abs_ts(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000ull),
		.tv_nsec = (long)(ns % 1000000000ull) };
}

uint64_t
mach_absolute_time(void)
{
	return essim__ns_to_mach(essim__mono_ns());
}

kern_return_t
mach_timebase_info(mach_timebase_info_t info)
{
	if (info == NULL)
		return 4; /* KERN_INVALID_ARGUMENT */
	info->numer = 125;
	info->denom = 3;
	return KERN_SUCCESS;
}

pid_t
audit_token_to_pid(audit_token_t atoken)
{
	return (pid_t)atoken.val[5];
}

uid_t
audit_token_to_euid(audit_token_t atoken)
{
	return (uid_t)atoken.val[1];
}

int
audit_token_to_pidversion(audit_token_t atoken)
{
	return (int)atoken.val[7];
}

/* ---- lifetime ------------------------------------------------------------ */

void
essim_config_init(struct essim_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->queue_size = 4096;
	cfg->clear_cache_throttle_ns = 1000000000ull;
	cfg->max_clients = 16;
	cfg->new_client_result = ES_NEW_CLIENT_RESULT_SUCCESS;
	cfg->msg_version = ESSIM_MSG_VERSION_MAX;
}

static int
cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t attr;
	int rc;

	if ((rc = pthread_condattr_init(&attr)) != 0)
		return -rc;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
	return -rc;
}

static void *watchdog_main(void *arg);

/*
 * The latency books start afresh: the histograms zeroed, the series of
 * the size asked for allocated (calloc: zeroed).  The previous series is
 * freed here, not at fini, so a report can read it after fini.  False
 * when the series cannot be allocated (then there is none).
 */
static bool
latency_reset_locked(void)
{
	size_t n = K.series_want_n;

	K.gen++;
	memset(&K.lat, 0, sizeof K.lat);
	free(K.series);
	K.series = n != 0 ? calloc(n, sizeof *K.series) : NULL;
	if (K.series == NULL)
		return n == 0;
	K.lat.bucket_ns = K.series_want_ns;
	K.lat.nbuckets = n;
	K.lat.series = K.series;
	return true;
}

void
essim_latency_series(uint64_t bucket_ns, size_t nbuckets)
{
	if (bucket_ns == 0 || nbuckets == 0)
		bucket_ns = nbuckets = 0;
	if (nbuckets > ESSIM_SERIES_MAX)
		nbuckets = ESSIM_SERIES_MAX;
	pthread_mutex_lock(&K.lock);
	K.series_want_ns = bucket_ns;
	K.series_want_n = nbuckets;
	pthread_mutex_unlock(&K.lock);
}

int
essim_kernel_init(const struct essim_config *cfg)
{
	struct essim_config def;
	int rc;

	if (cfg == NULL) {
		essim_config_init(&def);
		cfg = &def;
	}
	if (cfg->queue_size == 0 || cfg->max_clients == 0 ||
	    cfg->msg_version < 1 || cfg->msg_version > ESSIM_MSG_VERSION_MAX)
		return -EINVAL;
	pthread_mutex_lock(&K.lock);
	if (K.running) {
		pthread_mutex_unlock(&K.lock);
		return -EBUSY;
	}
	K.cfg = *cfg;
	K.stopping = false;
	K.wd_stop = false;
	K.wd_hold = false;
	K.clients = NULL;
	K.clients_tail = &K.clients;
	K.nlive = 0;
	K.procs = NULL;
	K.procs_tail = &K.procs;
	K.nprocs = 0;
	K.pmask = 1023;
	K.ncache = 0;
	K.chand = 0;
	K.heap = NULL;
	K.nheap = K.capheap = 0;
	K.next_id = 0;
	K.posts = 0;
	K.next_pidversion = 0;
	K.last_clear_ns = 0;
	K.cleared = false;
	K.ptab = calloc(K.pmask + 1, sizeof *K.ptab);
	K.ctab = calloc(ESSIM_CACHE_BUCKETS, sizeof *K.ctab);
	rc = -ENOMEM;
	if (!latency_reset_locked() || K.ptab == NULL || K.ctab == NULL)
		goto fail;
	if ((rc = cond_init_mono(&K.wd_cv)) != 0)
		goto fail;
	if ((rc = cond_init_mono(&K.idle_cv)) != 0)
		goto fail_wd;
	/* The watchdog blocks on the lock until init returns. */
	if ((rc = -pthread_create(&K.wd_thread, NULL, watchdog_main, NULL)))
		goto fail_idle;
	/* Named before init returns: until the thread runs it would show
	 * its creator's name (a vd-worker-N, say) to whoever counts. */
	pthread_setname_np(K.wd_thread, "essim-watchdog");
	K.running = true;
	pthread_mutex_unlock(&K.lock);
	return 0;

fail_idle:
	pthread_cond_destroy(&K.idle_cv);
fail_wd:
	pthread_cond_destroy(&K.wd_cv);
fail:
	free(K.ctab);
	free(K.ptab);
	K.ctab = NULL;
	K.ptab = NULL;
	pthread_mutex_unlock(&K.lock);
	return rc;
}

void
essim_set_new_client_result(es_new_client_result_t r)
{
	pthread_mutex_lock(&K.lock);
	K.cfg.new_client_result = r;
	pthread_mutex_unlock(&K.lock);
}

void
essim_kernel_fini(void)
{
	struct es_client_s *c, *next;
	struct essim_kproc *p, *pn;

	pthread_mutex_lock(&K.lock);
	if (!K.running || K.stopping) {
		pthread_mutex_unlock(&K.lock);
		return;
	}
	K.stopping = true;
	pthread_mutex_unlock(&K.lock);

	/* es_delete_client joins each delivery thread: not under the lock.
	 * The list only grows at its tail and clients stay on it until the
	 * end, so walking it between deletes is safe. */
	for (;;) {
		pthread_mutex_lock(&K.lock);
		for (c = K.clients; c != NULL && c->deleted; c = c->next)
			;
		pthread_mutex_unlock(&K.lock);
		if (c == NULL)
			break;
		es_delete_client(c);
	}

	pthread_mutex_lock(&K.lock);
	K.wd_stop = true;
	pthread_cond_signal(&K.wd_cv);
	pthread_mutex_unlock(&K.lock);
	pthread_join(K.wd_thread, NULL);

	pthread_mutex_lock(&K.lock);
	essim__answers_drain_locked();
	essim__cache_clear_locked();
	free(K.ctab);
	K.ctab = NULL;
	for (p = K.procs; p != NULL; p = pn) {
		pn = p->next;
		free(p);
	}
	free(K.ptab);
	K.ptab = NULL;
	K.procs = NULL;
	K.nprocs = 0;
	free(K.heap); /* empty: every client was deleted */
	K.heap = NULL;
	K.nheap = K.capheap = 0;
	for (c = K.clients; c != NULL; c = next) {
		next = c->next;
		/* Messages still retained keep their client alive. */
		essim__client_put(c);
	}
	K.clients = NULL;
	K.clients_tail = &K.clients;
	pthread_cond_destroy(&K.wd_cv);
	pthread_cond_destroy(&K.idle_cv);
	K.running = false;
	K.stopping = false;
	pthread_mutex_unlock(&K.lock);
}

/* ---- processes ------------------------------------------------------------
 */

static size_t
pslot(uint64_t key, size_t mask)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & mask;
}

static struct essim_kproc *
proc_find_locked(const audit_token_t *t)
{
	uint64_t key = essim__tok_key(t);
	struct essim_kproc *p;

	for (p = K.ptab[pslot(key, K.pmask)]; p != NULL; p = p->hnext)
		if (p->key == key)
			return p;
	return NULL;
}

static void
proc_grow_locked(void)
{
	size_t mask = K.pmask * 2 + 1;
	struct essim_kproc **tab = calloc(mask + 1, sizeof *tab);

	if (tab == NULL)
		return; /* longer chains, still correct */
	for (struct essim_kproc *p = K.procs; p != NULL; p = p->next) {
		size_t i = pslot(p->key, mask);

		p->hnext = tab[i];
		tab[i] = p;
	}
	free(K.ptab);
	K.ptab = tab;
	K.pmask = mask;
}

static size_t
trunc_len(const char *s)
{
	size_t n = strlen(s);

	return n >= ESSIM_PATH_MAX ? ESSIM_PATH_MAX - 1 : n;
}

/* CS_VALID, CS_SIGNED and CS_PLATFORM_BINARY of <kern/cs_blobs.h>. */
#define ESSIM_CS_VALID           0x00000001u
#define ESSIM_CS_SIGNED          0x20000000u
#define ESSIM_CS_PLATFORM_BINARY 0x04000000u

int
essim_proc_add(const struct essim_proc *sp, audit_token_t *token)
{
	const char *sid, *tid;
	size_t elen, slen, tlen, i;
	struct essim_kproc *p, *pp, *parent = NULL;
	struct timeval tv;
	uint64_t h;
	char *s;

	if (sp == NULL || token == NULL || sp->exe == NULL)
		return -EINVAL;
	sid = sp->signing_id != NULL ? sp->signing_id : "";
	tid = sp->team_id != NULL ? sp->team_id : "";
	elen = trunc_len(sp->exe);
	slen = strlen(sid);
	tlen = strlen(tid);
	p = calloc(1, sizeof *p + elen + slen + tlen + 3);
	if (p == NULL)
		return -ENOMEM;
	s = p->strs;
	memcpy(s, sp->exe, elen);
	memcpy(s + elen + 1, sid, slen);
	memcpy(s + elen + slen + 2, tid, tlen);
	gettimeofday(&tv, NULL);

	p->default_muted = sp->default_muted;
	p->exe.path = (es_string_token_t){ elen, s };
	p->exe.path_truncated = elen < strlen(sp->exe);
	p->exe.stat.st_mode = S_IFREG | 0755;
	p->exe.stat.st_nlink = 1;
	p->exe.stat.st_uid = sp->uid;
	p->exe.stat.st_gid = sp->gid;
	h = 0xcbf29ce484222325ull;
	for (i = 0; i < elen; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	p->exe.stat.st_dev = 0x1000001;
	p->exe.stat.st_ino = (ino_t)h;
	for (i = 0; i < sizeof p->proc.cdhash; i++)
		p->proc.cdhash[i] = (uint8_t)(h >> (8 * (i % 8))) ^ (uint8_t)i;

	p->proc.ppid = sp->ppid;
	p->proc.original_ppid = sp->ppid;
	p->proc.group_id = sp->pid;
	p->proc.session_id = sp->pid;
	p->proc.is_platform_binary = sp->platform_binary;
	p->proc.is_es_client = false;
	if (sp->signing_id != NULL)
		p->proc.codesigning_flags = ESSIM_CS_VALID | ESSIM_CS_SIGNED;
	if (sp->platform_binary)
		p->proc.codesigning_flags |= ESSIM_CS_PLATFORM_BINARY;
	p->proc.signing_id = (es_string_token_t){ slen, s + elen + 1 };
	p->proc.team_id = (es_string_token_t){ tlen, s + elen + slen + 2 };
	p->proc.executable = &p->exe;
	p->proc.tty = NULL;
	p->proc.start_time = tv;

	pthread_mutex_lock(&K.lock);
	if (!K.running || K.stopping) {
		pthread_mutex_unlock(&K.lock);
		free(p);
		return -EINVAL;
	}
	/* Unique tokens: pidversion counts registrations kernel-wide. */
	p->proc.audit_token =
	    (audit_token_t){ { sp->uid, sp->uid, sp->gid, sp->uid, sp->gid,
		(unsigned)sp->pid, 100000, ++K.next_pidversion } };
	p->key = essim__tok_key(&p->proc.audit_token);
	p->proc.responsible_audit_token = p->proc.audit_token;
	for (pp = K.procs; pp != NULL; pp = pp->next)
		if (audit_token_to_pid(pp->proc.audit_token) == sp->ppid)
			parent = pp; /* the latest one registered */
	if (parent != NULL)
		p->proc.parent_audit_token = parent->proc.audit_token;
	else
		p->proc.parent_audit_token.val[5] = (unsigned)sp->ppid;
	if (K.nprocs >= 2 * (K.pmask + 1))
		proc_grow_locked();
	i = pslot(p->key, K.pmask);
	p->hnext = K.ptab[i];
	K.ptab[i] = p;
	*K.procs_tail = p;
	K.procs_tail = &p->next;
	K.nprocs++;
	*token = p->proc.audit_token;
	pthread_mutex_unlock(&K.lock);
	return 0;
}

/* ---- the result cache ------------------------------------------------------
 */

bool
essim__cacheable(es_event_type_t t)
{
	return t == ES_EVENT_TYPE_AUTH_OPEN || t == ES_EVENT_TYPE_AUTH_EXEC ||
	    t == ES_EVENT_TYPE_AUTH_MOUNT;
}

static uint64_t
cache_hash(es_event_type_t type, const char *exe, const char *target)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)type;
	const char *s;

	for (s = exe; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	h = (h ^ 0xff) * 0x100000001b3ull;
	for (s = target; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

/* The link that points at the entry, or at the NULL ending its chain. */
static struct essim_centry **
cache_link(
    es_event_type_t type, const char *exe, const char *target, uint64_t h)
{
	struct essim_centry **lp = &K.ctab[h & (ESSIM_CACHE_BUCKETS - 1)];

	for (; *lp != NULL; lp = &(*lp)->next) {
		struct essim_centry *e = *lp;

		if (e->hash == h && e->type == type &&
		    strcmp(e->key, exe) == 0 &&
		    strcmp(e->key + e->exe_len + 1, target) == 0)
			break;
	}
	return lp;
}

enum cache_answer { CACHE_MISS, CACHE_ALLOW, CACHE_DENY };

/* Whether, and how, the cache answers this AUTH event for every client. */
static enum cache_answer
cache_lookup_locked(const es_message_t *m)
{
	const char *target = essim__cache_target(m);
	const char *exe = m->process->executable->path.data;
	struct essim_centry *e;

	if (target == NULL)
		return CACHE_MISS;
	e = *cache_link(
	    m->event_type, exe, target, cache_hash(m->event_type, exe, target));
	if (e == NULL)
		return CACHE_MISS;
	/* OPEN passes only when every requested bit was authorized; any
	 * other open of the pair is denied from the cache, unasked (macOS
	 * 15's ESClient.h). */
	if (m->event_type == ES_EVENT_TYPE_AUTH_OPEN &&
	    ((uint32_t)m->event.open.fflag & ~e->flags) != 0)
		return CACHE_DENY;
	return CACHE_ALLOW;
}

static void
cache_evict_one_locked(void)
{
	struct essim_centry *e;

	for (;; K.chand = (K.chand + 1) & (ESSIM_CACHE_BUCKETS - 1)) {
		if ((e = K.ctab[K.chand]) != NULL) {
			K.ctab[K.chand] = e->next;
			free(e);
			K.ncache--;
			return;
		}
	}
}

void
essim__cache_store_locked(const es_message_t *m, uint32_t flags)
{
	const char *target = essim__cache_target(m);
	const char *exe = m->process->executable->path.data;
	struct essim_centry **lp, *e;
	size_t elen, tlen;
	uint64_t h;

	if (target == NULL || K.ctab == NULL)
		return;
	h = cache_hash(m->event_type, exe, target);
	lp = cache_link(m->event_type, exe, target, h);
	if (*lp != NULL) {
		(*lp)->flags = flags;
		return;
	}
	if (K.ncache >= ESSIM_CACHE_MAX) {
		cache_evict_one_locked();
		/* The eviction may have unlinked our chain's tail. */
		lp = cache_link(m->event_type, exe, target, h);
	}
	elen = strlen(exe);
	tlen = strlen(target);
	if ((e = malloc(sizeof *e + elen + tlen + 2)) == NULL)
		return; /* not cached: the client is asked again */
	e->next = NULL;
	e->hash = h;
	e->type = m->event_type;
	e->flags = flags;
	e->exe_len = elen;
	memcpy(e->key, exe, elen + 1);
	memcpy(e->key + elen + 1, target, tlen + 1);
	*lp = e;
	K.ncache++;
}

void
essim__cache_clear_locked(void)
{
	struct essim_centry *e, *n;

	if (K.ctab == NULL)
		return;
	for (size_t i = 0; i < ESSIM_CACHE_BUCKETS; i++) {
		for (e = K.ctab[i]; e != NULL; e = n) {
			n = e->next;
			free(e);
		}
		K.ctab[i] = NULL;
	}
	K.ncache = 0;
	K.chand = 0;
}

/* ---- the deadline heap -------------------------------------------------- */

static void
heap_set(size_t i, struct essim_kmsg *k)
{
	K.heap[i] = k;
	k->heap_idx = i;
}

static void
sift_up(size_t i)
{
	struct essim_kmsg *k = K.heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (K.heap[parent]->deadline_ns <= k->deadline_ns)
			break;
		heap_set(i, K.heap[parent]);
		i = parent;
	}
	heap_set(i, k);
}

static void
sift_down(size_t i)
{
	struct essim_kmsg *k = K.heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= K.nheap)
			break;
		if (c + 1 < K.nheap &&
		    K.heap[c + 1]->deadline_ns < K.heap[c]->deadline_ns)
			c++;
		if (k->deadline_ns <= K.heap[c]->deadline_ns)
			break;
		heap_set(i, K.heap[c]);
		i = c;
	}
	heap_set(i, k);
}

static int
heap_push_locked(struct essim_kmsg *k)
{
	if (K.nheap == K.capheap) {
		size_t cap = K.capheap != 0 ? 2 * K.capheap : 256;
		struct essim_kmsg **h = realloc(K.heap, cap * sizeof *h);

		if (h == NULL)
			return -ENOMEM;
		K.heap = h;
		K.capheap = cap;
	}
	K.heap[K.nheap++] = k;
	sift_up(K.nheap - 1);
	/* A new earliest deadline: the watchdog must wait less. */
	if (k->heap_idx == 0)
		pthread_cond_signal(&K.wd_cv);
	return 0;
}

void
essim__idle_check_locked(void)
{
	if (K.nheap == 0)
		pthread_cond_broadcast(&K.idle_cv);
}

/* Takes k out of the heap; false when it was not in it. */
bool
essim__heap_remove_locked(struct essim_kmsg *k)
{
	size_t i = k->heap_idx;
	struct essim_kmsg *last;

	if (i >= K.nheap || K.heap[i] != k)
		return false;
	last = K.heap[--K.nheap];
	k->heap_idx = SIZE_MAX;
	if (last != k) {
		heap_set(i, last);
		sift_down(i);
		sift_up(last->heap_idx);
	}
	essim__idle_check_locked();
	return true;
}

/* ---- the latency books ------------------------------------------------- */

/* The series' bucket of time t, the last one for any later time; NULL
 * when there is no series. */
static struct essim_series_bucket *
series_at_locked(uint64_t t)
{
	uint64_t i;

	if (K.lat.nbuckets == 0)
		return NULL;
	i = t > K.lat.t0_ns ? (t - K.lat.t0_ns) / K.lat.bucket_ns : 0;
	if (i >= K.lat.nbuckets)
		i = K.lat.nbuckets - 1;
	return &K.series[i];
}

static void
latency_answer_locked(const struct essim_kmsg *o)
{
	struct essim_series_bucket *b;
	uint64_t lat = o->dnow > o->post_ns ? o->dnow - o->post_ns : 0;

	vd_hist_record(&K.lat.answer, lat);
	if ((b = series_at_locked(o->dnow)) != NULL) {
		b->answered++;
		if (lat > b->latency_max_ns)
			b->latency_max_ns = lat;
	}
}

static void
latency_missed_locked(const struct essim_kmsg *k)
{
	struct essim_series_bucket *b = series_at_locked(k->deadline_ns);

	if (b != NULL)
		b->missed++;
}

/* An AUTH event posted at now with the deadline dl. */
static void
latency_budget_locked(uint64_t now, uint64_t dl)
{
	struct essim_series_bucket *b = series_at_locked(now);

	if (b != NULL && (b->budget_min_ns == 0 || dl - now < b->budget_min_ns))
		b->budget_min_ns = dl - now;
}

void
essim__callback_books(struct es_client_s *c)
{
	pthread_mutex_lock(&K.lock);
	/* A client of an earlier kernel (one that deleted itself from its
	 * handler ends on its own time) does not count in this one. */
	if (c->gen == K.gen) {
		vd_hist_merge(&K.lat.callback_auth, &c->cb_auth);
		vd_hist_merge(&K.lat.callback_notify, &c->cb_notify);
	}
	pthread_mutex_unlock(&K.lock);
}

int
essim_kernel_latency(struct essim_latency *out)
{
	if (out == NULL)
		return -EINVAL;
	pthread_mutex_lock(&K.lock);
	essim__answers_drain_locked();
	*out = K.lat;
	pthread_mutex_unlock(&K.lock);
	return 0;
}

/*
 * The books of an answer accepted by respond(): its client's counters,
 * the cache, and the heap (the watchdog or a termination may have taken
 * it out already, and put the heap's reference then).
 */
void
essim__answer_books_locked(struct essim_kmsg *o)
{
	struct es_client_s *c = o->client;
	const es_message_t *om = essim__kmsg_msg(o);
	uint64_t dlv =
	    atomic_load_explicit(&o->deliver_ns, memory_order_relaxed);

	c->rep.answered++;
	if (o->dallowed)
		c->rep.allowed++;
	else
		c->rep.denied++;
	if (o->deadline_ns - o->dnow < c->rep.slack_min_ns)
		c->rep.slack_min_ns = o->deadline_ns - o->dnow;
	if (dlv != 0 && o->dnow - dlv > c->rep.latency_max_ns)
		c->rep.latency_max_ns = o->dnow - dlv;
	latency_answer_locked(o);
	/*
	 * OPEN caches the authorized flags, which only ever pass later
	 * opens that this answer would have allowed; other types cache
	 * ALLOW only.  Nothing is cached from 0 flags.
	 */
	if (o->dcache && essim__cacheable(om->event_type) &&
	    (o->dflags_call ? o->dvalue != 0 : o->dallowed)) {
		essim__cache_store_locked(
		    om, o->dflags_call ? o->dvalue : UINT32_MAX);
		c->rep.cached++;
	}
	if (essim__heap_remove_locked(o))
		essim__kmsg_put(o); /* the heap's reference */
}

/* Keeps the books of every answer deferred by respond(). */
void
essim__answers_drain_locked(void)
{
	struct essim_kmsg *o, *next;

	o = atomic_exchange_explicit(&K.deferred, NULL, memory_order_acquire);
	for (; o != NULL; o = next) {
		next = o->dnext;
		essim__answer_books_locked(o);
		essim__kmsg_put(o); /* the list's reference */
	}
}

/*
 * Takes every pending AUTH message of c out of the heap (the kernel
 * allows them) and drops everything still queued to c.  kill: c was
 * terminated at now, so the messages whose deadline passed count as
 * missed and are EXPIRED; the rest are ABANDONED.
 */
static void
drop_client_msgs_locked(struct es_client_s *c, uint64_t now, bool kill)
{
	struct essim_kmsg *k;
	size_t i, j = 0;
	uint8_t st;

	for (i = 0; i < K.nheap; i++) {
		k = K.heap[i];
		if (k->client != c) {
			heap_set(j++, k);
			continue;
		}
		k->heap_idx = SIZE_MAX;
		/* An answer accepted before this stays answered: its
		 * books wait for the drain (the heap's reference goes). */
		st = KMSG_PENDING;
		if (kill && k->deadline_ns <= now) {
			if (atomic_compare_exchange_strong(
			        &k->state, &st, KMSG_EXPIRED)) {
				c->rep.missed++;
				latency_missed_locked(k);
			}
		} else {
			atomic_compare_exchange_strong(
			    &k->state, &st, KMSG_ABANDONED);
		}
		essim__kmsg_put(k); /* the heap's reference */
	}
	K.nheap = j;
	for (i = K.nheap / 2; i-- > 0;)
		sift_down(i);
	pthread_mutex_lock(&c->qlock);
	c->qstop = true;
	while ((k = c->qhead) != NULL) {
		c->qhead = k->qnext;
		essim__kmsg_put(k); /* the queue's reference */
	}
	c->qtail = NULL;
	atomic_store_explicit(&c->qlen, 0, memory_order_relaxed);
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->qlock);
	essim__idle_check_locked();
}

void
essim__terminate_locked(struct es_client_s *c, struct essim_kmsg *k,
    enum essim_kill_stage stage, uint64_t now)
{
	if (c->terminated || c->deleted)
		return;
	c->terminated = true;
	K.nlive--;
	c->rep.terminated = true;
	snprintf(c->rep.reason, sizeof c->rep.reason, "%s", ESSIM_CRASH_REASON);
	c->rep.kill_stage = stage;
	c->rep.kill_event = essim__kmsg_msg(k)->event_type;
	c->rep.kill_budget_ns = k->deadline_ns - k->post_ns;
	c->rep.kill_over_ns = now > k->deadline_ns ? now - k->deadline_ns : 0;
	drop_client_msgs_locked(c, now, true);
}

const char *
essim_kill_stage_name(enum essim_kill_stage s)
{
	switch (s) {
	case ESSIM_KILL_QUEUED:
		return "queued";
	case ESSIM_KILL_HANDLER:
		return "in handler";
	case ESSIM_KILL_UNANSWERED:
		return "unanswered";
	case ESSIM_KILL_LATE:
		return "answered late";
	case ESSIM_KILL_NONE:
		break;
	}
	return "";
}

void
essim__abandon_locked(struct es_client_s *c)
{
	drop_client_msgs_locked(c, 0, false);
}

/* Where a pending message is, as the watchdog finds it expired. */
static enum essim_kill_stage
watchdog_stage(const struct essim_kmsg *k)
{
	if (atomic_load_explicit(&k->deliver_ns, memory_order_relaxed) == 0)
		return ESSIM_KILL_QUEUED;
	if (atomic_load_explicit(&k->client->handling, memory_order_relaxed) ==
	    k)
		return ESSIM_KILL_HANDLER;
	return ESSIM_KILL_UNANSWERED;
}

static void *
watchdog_main(void *arg)
{
	struct timespec ts;
	struct essim_kmsg *top;
	uint64_t now;

	(void)arg;
	pthread_setname_np(pthread_self(), "essim-watchdog");
	pthread_mutex_lock(&K.lock);
	while (!K.wd_stop) {
		essim__answers_drain_locked();
		if (K.nheap == 0 || K.wd_hold) {
			pthread_cond_wait(&K.wd_cv, &K.lock);
			continue;
		}
		top = K.heap[0];
		now = essim__mono_ns();
		if (atomic_load(&top->state) != KMSG_PENDING) {
			/* Answered; its books are on their way. */
			essim__heap_remove_locked(top);
			essim__kmsg_put(top); /* the heap's reference */
			continue;
		}
		if (top->deadline_ns <= now) {
			/* Takes all of the client's messages off the heap. */
			essim__terminate_locked(
			    top->client, top, watchdog_stage(top), now);
			continue;
		}
		ts = abs_ts(top->deadline_ns);
		pthread_cond_timedwait(&K.wd_cv, &K.lock, &ts);
	}
	pthread_mutex_unlock(&K.lock);
	return NULL;
}

void
essim__watchdog_hold(bool hold)
{
	pthread_mutex_lock(&K.lock);
	K.wd_hold = hold;
	pthread_cond_signal(&K.wd_cv);
	pthread_mutex_unlock(&K.lock);
}

bool
essim_wait_idle(uint64_t timeout_ns)
{
	uint64_t end = essim__mono_ns() + timeout_ns, now;
	struct timespec ts;
	bool idle;

	pthread_mutex_lock(&K.lock);
	if (!K.running) {
		pthread_mutex_unlock(&K.lock);
		return true;
	}
	/* Every millisecond at least: an answer deferred just as the
	 * watchdog went to sleep may not have woken it. */
	for (;;) {
		essim__answers_drain_locked();
		now = essim__mono_ns();
		if (K.nheap == 0 || now >= end)
			break;
		ts = abs_ts(end - now < 1000000u ? end : now + 1000000u);
		pthread_cond_timedwait(&K.idle_cv, &K.lock, &ts);
	}
	idle = K.nheap == 0;
	pthread_mutex_unlock(&K.lock);
	return idle;
}

/* ---- posting ----------------------------------------------------------- */

static void
enqueue_locked(struct es_client_s *c, struct essim_kmsg *k)
{
	k->qnext = NULL;
	pthread_mutex_lock(&c->qlock);
	if (c->qtail != NULL)
		c->qtail->qnext = k;
	else
		c->qhead = k;
	c->qtail = k;
	atomic_fetch_add_explicit(&c->qlen, 1, memory_order_relaxed);
	pthread_mutex_unlock(&c->qlock);
}

/* Clients woken after a post, once K.lock is released. */
#define WAKE_MAX 8

int
essim_post(const struct essim_event *ev)
{
	struct essim_tmpl t;
	es_message_t m;
	struct essim_kproc *p;
	struct es_client_s *c;
	struct essim_kmsg *k;
	es_action_type_t action;
	uint64_t now, dl = 0;
	enum cache_answer hit = CACHE_MISS;
	struct es_client_s *wake[WAKE_MAX];
	size_t i, nwake = 0;
	int queued = 0;

	if (ev == NULL)
		return -EINVAL;
	pthread_mutex_lock(&K.lock);
	essim__answers_drain_locked();
	if (!K.running || K.stopping ||
	    (p = proc_find_locked(&ev->proc)) == NULL ||
	    essim__tmpl_init(&t, &m, ev, p, &action) != 0) {
		pthread_mutex_unlock(&K.lock);
		return -EINVAL;
	}
	now = essim__mono_ns();
	if (K.lat.t0_ns == 0)
		K.lat.t0_ns = now; /* the series counts from here */
	K.posts++;
	clock_gettime(CLOCK_REALTIME, &m.time);
	m.mach_time = essim__ns_to_mach(now);
	if (action == ES_ACTION_TYPE_AUTH) {
		dl = now +
		    (ev->deadline_ns != 0 ? ev->deadline_ns
		                          : ESSIM_DEFAULT_DEADLINE_NS);
		m.deadline = essim__ns_to_mach(dl);
		if (essim__cacheable(ev->type))
			hit = cache_lookup_locked(&m);
	}

	for (c = K.clients; c != NULL; c = c->next) {
		if (c->deleted || c->terminated || !c->subs[ev->type] ||
		    essim__muted_locked(c, &m, &t))
			continue;
		if (hit != CACHE_MISS) {
			/* The kernel answers from the cache: no message. */
			c->rep.cache_hits++;
			c->rep.cache_denied += hit == CACHE_DENY;
			continue;
		}
		/* Consumed even when dropped: the gap shows the drop. */
		m.seq_num = c->seq[ev->type]++;
		m.global_seq_num = c->gseq++;
		if (atomic_load_explicit(&c->qlen, memory_order_relaxed) >=
		        K.cfg.queue_size ||
		    (k = essim__msg_build(&m, c)) == NULL) {
			c->rep.kernel_drops++;
			continue;
		}
		k->id = ++K.next_id;
		k->post_ns = now;
		k->deadline_ns = dl;
		if (action == ES_ACTION_TYPE_AUTH) {
			memcpy(essim__kmsg_msg(k)->action.auth.reserved, &k->id,
			    sizeof k->id);
			k->state = KMSG_PENDING;
			atomic_fetch_add_explicit(
			    &k->refs, 1, memory_order_relaxed);
			if (heap_push_locked(k) != 0) {
				/* Allowed by the kernel, as a drop. */
				essim__kmsg_put(k);
				essim__kmsg_put(k);
				c->rep.kernel_drops++;
				continue;
			}
		}
		enqueue_locked(c, k);
		queued++;
		/*
		 * Woken after K.lock is released, as a kernel wakes a
		 * thread once it leaves its critical section: a delivery
		 * thread that preempts us at once must not find the lock
		 * still held.  The reference keeps c until then.
		 */
		if (nwake < WAKE_MAX) {
			atomic_fetch_add_explicit(
			    &c->refs, 1, memory_order_relaxed);
			wake[nwake++] = c;
		} else {
			pthread_cond_signal(&c->cv);
		}
	}
	if (action == ES_ACTION_TYPE_AUTH && queued > 0)
		latency_budget_locked(now, dl);
	pthread_mutex_unlock(&K.lock);
	for (i = 0; i < nwake; i++) {
		pthread_cond_signal(&wake[i]->cv);
		essim__client_put(wake[i]);
	}
	return queued;
}

/* ---- the books ------------------------------------------------------------
 */

uint64_t
essim_kernel_posted(void)
{
	uint64_t n;

	pthread_mutex_lock(&K.lock);
	n = K.posts;
	pthread_mutex_unlock(&K.lock);
	return n;
}

int
essim_client_report(const es_client_t *want, struct essim_client_report *out)
{
	struct es_client_s *c;

	pthread_mutex_lock(&K.lock);
	essim__answers_drain_locked();
	for (c = K.clients; c != NULL && c != want; c = c->next)
		;
	if (c == NULL || out == NULL) {
		pthread_mutex_unlock(&K.lock);
		return -ENOENT;
	}
	*out = c->rep;
	out->auth_delivered =
	    atomic_load_explicit(&c->auth_delivered, memory_order_relaxed);
	out->notify_delivered =
	    atomic_load_explicit(&c->notify_delivered, memory_order_relaxed);
	out->retained_now =
	    atomic_load_explicit(&c->retained, memory_order_relaxed);
	pthread_mutex_unlock(&K.lock);
	return 0;
}

void
essim_kernel_report(struct essim_client_report *out)
{
	struct es_client_s *c;

	memset(out, 0, sizeof *out);
	out->slack_min_ns = UINT64_MAX;
	pthread_mutex_lock(&K.lock);
	essim__answers_drain_locked();
	for (c = K.clients; c != NULL; c = c->next) {
		const struct essim_client_report *r = &c->rep;

		out->auth_delivered += atomic_load_explicit(
		    &c->auth_delivered, memory_order_relaxed);
		out->notify_delivered += atomic_load_explicit(
		    &c->notify_delivered, memory_order_relaxed);
		out->answered += r->answered;
		out->allowed += r->allowed;
		out->denied += r->denied;
		out->duplicates += r->duplicates;
		out->late += r->late;
		out->wrong_type += r->wrong_type;
		out->missed += r->missed;
		out->kernel_drops += r->kernel_drops;
		out->cache_hits += r->cache_hits;
		out->cache_denied += r->cache_denied;
		out->cached += r->cached;
		out->retained_now +=
		    atomic_load_explicit(&c->retained, memory_order_relaxed);
		if (r->slack_min_ns < out->slack_min_ns)
			out->slack_min_ns = r->slack_min_ns;
		if (r->latency_max_ns > out->latency_max_ns)
			out->latency_max_ns = r->latency_max_ns;
		if (r->terminated && !out->terminated) {
			out->terminated = true;
			memcpy(out->reason, r->reason, sizeof out->reason);
		}
	}
	pthread_mutex_unlock(&K.lock);
}
