/*
 * essim_client.c — the ES client API of the simulator: creating and
 * deleting clients, each with its own serial delivery thread,
 * subscriptions, muting, the two respond calls (where "once, in time, the
 * right call for the type" is judged) and es_clear_cache().
 *
 * Threads: the handler block runs only on its client's delivery thread,
 * named "essim-deliver"; nothing else here calls client code.  That
 * thread times each handler call into its client's own histograms, and
 * hands them to the kernel's latency books as it ends.  Every
 * function may be called from any thread, including handlers;
 * es_delete_client() called from the client's own handler detaches the
 * delivery thread instead of joining it (Apple's API forbids that call;
 * here it does not deadlock).
 */
#include <Block.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "essim_internal.h"

#define K essim__k

static bool
client_ok(const es_client_t *c)
{
	return c != NULL && c->magic == ESSIM_CLIENT_MAGIC;
}

/* ---- delivery ---------------------------------------------------------- */

/*
 * k's deadline passed while it was queued, or while its handler ran:
 * unless it was answered or its client is gone already, the kernel kills
 * the client, before it delivers anything more.  True when it did.
 */
static bool
kill_if_pending(struct es_client_s *c, struct essim_kmsg *k,
    enum essim_kill_stage stage, uint64_t now)
{
	bool pending;

	pthread_mutex_lock(&K.lock);
	pending = k->state == KMSG_PENDING;
	if (pending)
		essim__terminate_locked(c, k, stage, now);
	pthread_mutex_unlock(&K.lock);
	return pending;
}

static void *
deliver_main(void *arg)
{
	struct es_client_s *c = arg;
	struct essim_kmsg *k;
	uint64_t now, end;
	bool auth;

	/* First, so that no client code ever runs under the creator's
	 * name (threads inherit it). */
	pthread_setname_np(pthread_self(), "essim-deliver");
	for (;;) {
		pthread_mutex_lock(&c->qlock);
		while (!c->qstop && c->qhead == NULL)
			pthread_cond_wait(&c->cv, &c->qlock);
		if (c->qstop) {
			pthread_mutex_unlock(&c->qlock);
			break;
		}
		k = c->qhead;
		c->qhead = k->qnext;
		if (c->qhead == NULL)
			c->qtail = NULL;
		atomic_fetch_sub_explicit(&c->qlen, 1, memory_order_relaxed);
		pthread_mutex_unlock(&c->qlock);
		auth = essim__kmsg_msg(k)->action_type == ES_ACTION_TYPE_AUTH;
		now = essim__mono_ns();
		if (auth && now >= k->deadline_ns &&
		    kill_if_pending(c, k, ESSIM_KILL_QUEUED, now)) {
			essim__kmsg_put(k);
			break;
		}
		atomic_store_explicit(
		    &k->deliver_ns, now, memory_order_relaxed);
		atomic_fetch_add_explicit(
		    auth ? &c->auth_delivered : &c->notify_delivered, 1,
		    memory_order_relaxed);

		atomic_store_explicit(&c->handling, k, memory_order_relaxed);
		c->handler(c, essim__kmsg_msg(k));
		atomic_store_explicit(&c->handling, NULL, memory_order_relaxed);
		end = essim__mono_ns();
		vd_hist_record(auth ? &c->cb_auth : &c->cb_notify, end - now);
		/* A handler that outlived its message's deadline without an
		 * answer: killed now, whether or not the watchdog ran. */
		if (auth && atomic_load(&k->state) == KMSG_PENDING &&
		    end >= k->deadline_ns &&
		    kill_if_pending(c, k, ESSIM_KILL_HANDLER, end)) {
			essim__kmsg_put(k);
			break;
		}
		/* The queue's reference was the handler's: the message is
		 * valid after this only if retained or still pending. */
		essim__kmsg_put(k);
	}
	/* Nothing is delivered after this: the block's captures go. */
	Block_release(c->handler);
	c->handler = NULL;
	essim__callback_books(c);
	essim__client_put(c);
	return NULL;
}

/* ---- muting ------------------------------------------------------------- */

/* Index of the first muted token >= key. */
static size_t
mute_lower_bound(const struct es_client_s *c, uint64_t key)
{
	size_t lo = 0, hi = c->nmutes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (essim__tok_key(&c->mutes[mid]) < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool
mute_has(const struct es_client_s *c, uint64_t key)
{
	size_t i = mute_lower_bound(c, key);

	return i < c->nmutes && essim__tok_key(&c->mutes[i]) == key;
}

static int
mute_insert_locked(struct es_client_s *c, const audit_token_t *t)
{
	uint64_t key = essim__tok_key(t);
	size_t i = mute_lower_bound(c, key);

	if (i < c->nmutes && essim__tok_key(&c->mutes[i]) == key)
		return 0;
	if (c->nmutes == c->capmutes) {
		size_t cap = c->capmutes != 0 ? 2 * c->capmutes : 16;
		audit_token_t *m = realloc(c->mutes, cap * sizeof *m);

		if (m == NULL)
			return -ENOMEM;
		c->mutes = m;
		c->capmutes = cap;
	}
	memmove(
	    &c->mutes[i + 1], &c->mutes[i], (c->nmutes - i) * sizeof *c->mutes);
	c->mutes[i] = *t;
	c->nmutes++;
	return 0;
}

static bool
pmute_match(const struct essim_pmute *pm, const char *path, bool prefix)
{
	if (prefix)
		return strncmp(path, pm->path, pm->len) == 0;
	return strcmp(path, pm->path) == 0;
}

/*
 * Whether c does not get this event: its process is muted, its
 * executable path is muted, or every one of its target paths is muted
 * (Apple: an event with several target paths, a rename for one, is
 * suppressed only if all of them are muted).
 */
bool
essim__muted_locked(const struct es_client_s *c, const es_message_t *m,
    const struct essim_tmpl *t)
{
	const char *exe = m->process->executable->path.data;
	bool targets = false;
	size_t i, j;

	if (mute_has(c, essim__tok_key(&m->process->audit_token)))
		return true;
	for (i = 0; i < c->npmutes; i++) {
		const struct essim_pmute *pm = &c->pmutes[i];

		switch (pm->type) {
		case ES_MUTE_PATH_TYPE_PREFIX:
		case ES_MUTE_PATH_TYPE_LITERAL:
			if (pmute_match(
			        pm, exe, pm->type == ES_MUTE_PATH_TYPE_PREFIX))
				return true;
			break;
		default:
			targets = true;
			break;
		}
	}
	if (!targets || t->ntpath == 0)
		return false;
	for (j = 0; j < t->ntpath; j++) {
		bool hit = false;

		for (i = 0; i < c->npmutes && !hit; i++) {
			const struct essim_pmute *pm = &c->pmutes[i];

			if (pm->type == ES_MUTE_PATH_TYPE_TARGET_PREFIX ||
			    pm->type == ES_MUTE_PATH_TYPE_TARGET_LITERAL)
				hit = pmute_match(pm, t->tpath[j],
				    pm->type ==
				        ES_MUTE_PATH_TYPE_TARGET_PREFIX);
		}
		if (!hit)
			return false;
	}
	return true;
}

/* ---- clients ----------------------------------------------------------- */

static void
client_free_unstarted(struct es_client_s *c)
{
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->qlock);
	free(c->mutes);
	free(c);
}

es_new_client_result_t
es_new_client(es_client_t **client, es_handler_block_t handler)
{
	struct es_client_s *c;
	es_new_client_result_t r = ES_NEW_CLIENT_RESULT_SUCCESS;
	struct essim_kproc *p;

	if (client == NULL)
		return ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT;
	*client = NULL;
	if (handler == NULL)
		return ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT;
	if ((c = calloc(1, sizeof *c)) == NULL)
		return ES_NEW_CLIENT_RESULT_ERR_INTERNAL;
	if (pthread_cond_init(&c->cv, NULL) != 0) {
		free(c);
		return ES_NEW_CLIENT_RESULT_ERR_INTERNAL;
	}
	if (pthread_mutex_init(&c->qlock, NULL) != 0) {
		pthread_cond_destroy(&c->cv);
		free(c);
		return ES_NEW_CLIENT_RESULT_ERR_INTERNAL;
	}
	c->magic = ESSIM_CLIENT_MAGIC;
	/* The kernel's reference and the delivery thread's. */
	atomic_init(&c->refs, 2);
	atomic_init(&c->retained, 0);
	c->rep.slack_min_ns = UINT64_MAX;

	pthread_mutex_lock(&K.lock);
	if (!K.running || K.stopping)
		r = ES_NEW_CLIENT_RESULT_ERR_INTERNAL;
	else if (K.cfg.new_client_result != ES_NEW_CLIENT_RESULT_SUCCESS)
		r = K.cfg.new_client_result;
	else if (K.nlive >= K.cfg.max_clients)
		r = ES_NEW_CLIENT_RESULT_ERR_TOO_MANY_CLIENTS;
	for (p = K.procs; r == ES_NEW_CLIENT_RESULT_SUCCESS && p != NULL;
	     p = p->next)
		if (p->default_muted &&
		    mute_insert_locked(c, &p->proc.audit_token) != 0)
			r = ES_NEW_CLIENT_RESULT_ERR_INTERNAL;
	if (r == ES_NEW_CLIENT_RESULT_SUCCESS) {
		c->handler = Block_copy(handler);
		/* The thread waits for the lock before it looks at c. */
		if (pthread_create(&c->thread, NULL, deliver_main, c) != 0) {
			Block_release(c->handler);
			r = ES_NEW_CLIENT_RESULT_ERR_INTERNAL;
		} else {
			/* Before es_new_client returns, not only when the
			 * thread first runs: see deliver_main. */
			pthread_setname_np(c->thread, "essim-deliver");
		}
	}
	if (r != ES_NEW_CLIENT_RESULT_SUCCESS) {
		pthread_mutex_unlock(&K.lock);
		client_free_unstarted(c);
		return r;
	}
	c->thread_started = true;
	c->gen = K.gen;
	*K.clients_tail = c;
	K.clients_tail = &c->next;
	K.nlive++;
	pthread_mutex_unlock(&K.lock);
	*client = c;
	return ES_NEW_CLIENT_RESULT_SUCCESS;
}

es_return_t
es_delete_client(es_client_t *c)
{
	bool self;

	if (!client_ok(c))
		return ES_RETURN_ERROR;
	pthread_mutex_lock(&K.lock);
	if (c->deleted) {
		pthread_mutex_unlock(&K.lock);
		return ES_RETURN_ERROR;
	}
	if (!c->terminated)
		K.nlive--;
	c->deleted = true;
	/* Its pending AUTH messages are allowed by the kernel, not missed. */
	essim__abandon_locked(c);
	self = pthread_equal(pthread_self(), c->thread);
	pthread_mutex_unlock(&K.lock);
	if (self)
		pthread_detach(c->thread);
	else
		pthread_join(c->thread, NULL);
	return ES_RETURN_SUCCESS;
}

/* A client that can still be configured: created, not deleted or killed. */
static bool
client_live_locked(const es_client_t *c)
{
	return K.running && !c->deleted && !c->terminated;
}

static es_return_t
subs_set(es_client_t *c, const es_event_type_t *events, uint32_t n, bool on)
{
	uint32_t i;

	if (!client_ok(c) || events == NULL || n == 0)
		return ES_RETURN_ERROR;
	for (i = 0; i < n; i++)
		if ((unsigned)events[i] >= ES_EVENT_TYPE_LAST)
			return ES_RETURN_ERROR;
	pthread_mutex_lock(&K.lock);
	if (!client_live_locked(c)) {
		pthread_mutex_unlock(&K.lock);
		return ES_RETURN_ERROR;
	}
	for (i = 0; i < n; i++)
		c->subs[events[i]] = on;
	pthread_mutex_unlock(&K.lock);
	return ES_RETURN_SUCCESS;
}

es_return_t
es_subscribe(es_client_t *c, const es_event_type_t *events, uint32_t n)
{
	return subs_set(c, events, n, true);
}

es_return_t
es_unsubscribe(es_client_t *c, const es_event_type_t *events, uint32_t n)
{
	return subs_set(c, events, n, false);
}

es_return_t
es_unsubscribe_all(es_client_t *c)
{
	if (!client_ok(c))
		return ES_RETURN_ERROR;
	pthread_mutex_lock(&K.lock);
	if (!client_live_locked(c)) {
		pthread_mutex_unlock(&K.lock);
		return ES_RETURN_ERROR;
	}
	memset(c->subs, 0, sizeof c->subs);
	pthread_mutex_unlock(&K.lock);
	return ES_RETURN_SUCCESS;
}

es_return_t
es_mute_process(es_client_t *c, const audit_token_t *t)
{
	int rc;

	if (!client_ok(c) || t == NULL)
		return ES_RETURN_ERROR;
	pthread_mutex_lock(&K.lock);
	rc = client_live_locked(c) ? mute_insert_locked(c, t) : -ESRCH;
	pthread_mutex_unlock(&K.lock);
	return rc == 0 ? ES_RETURN_SUCCESS : ES_RETURN_ERROR;
}

/* Unmuting what is not muted has no effect (Apple: the mute set is a
 * set), and succeeds. */
es_return_t
es_unmute_process(es_client_t *c, const audit_token_t *t)
{
	uint64_t key;
	size_t i;

	if (!client_ok(c) || t == NULL)
		return ES_RETURN_ERROR;
	key = essim__tok_key(t);
	pthread_mutex_lock(&K.lock);
	if (!client_live_locked(c)) {
		pthread_mutex_unlock(&K.lock);
		return ES_RETURN_ERROR;
	}
	i = mute_lower_bound(c, key);
	if (i < c->nmutes && essim__tok_key(&c->mutes[i]) == key) {
		memmove(&c->mutes[i], &c->mutes[i + 1],
		    (c->nmutes - i - 1) * sizeof *c->mutes);
		c->nmutes--;
	}
	pthread_mutex_unlock(&K.lock);
	return ES_RETURN_SUCCESS;
}

es_return_t
es_muted_processes(es_client_t *c, size_t *count, audit_token_t **tokens)
{
	audit_token_t *a;
	size_t n;

	if (!client_ok(c) || count == NULL || tokens == NULL)
		return ES_RETURN_ERROR;
	*count = 0;
	*tokens = NULL;
	pthread_mutex_lock(&K.lock);
	if (!client_live_locked(c)) {
		pthread_mutex_unlock(&K.lock);
		return ES_RETURN_ERROR;
	}
	n = c->nmutes;
	/* Never NULL on success, even when empty: the caller frees it. */
	a = malloc((n != 0 ? n : 1) * sizeof *a);
	if (a != NULL && n != 0)
		memcpy(a, c->mutes, n * sizeof *a);
	pthread_mutex_unlock(&K.lock);
	if (a == NULL)
		return ES_RETURN_ERROR;
	*count = n;
	*tokens = a;
	return ES_RETURN_SUCCESS;
}

static bool
mute_type_ok(es_mute_path_type_t type)
{
	return type == ES_MUTE_PATH_TYPE_PREFIX ||
	    type == ES_MUTE_PATH_TYPE_LITERAL ||
	    type == ES_MUTE_PATH_TYPE_TARGET_PREFIX ||
	    type == ES_MUTE_PATH_TYPE_TARGET_LITERAL;
}

/* The entry (type, path) of c's path mutes, or c->npmutes. */
static size_t
pmute_find(
    const struct es_client_s *c, const char *path, es_mute_path_type_t type)
{
	size_t i;

	for (i = 0; i < c->npmutes; i++)
		if (c->pmutes[i].type == type &&
		    strcmp(c->pmutes[i].path, path) == 0)
			break;
	return i;
}

es_return_t
es_mute_path(es_client_t *c, const char *path, es_mute_path_type_t type)
{
	struct essim_pmute *pm;
	es_return_t r = ES_RETURN_ERROR;
	char *dup;

	if (!client_ok(c) || path == NULL || !mute_type_ok(type))
		return ES_RETURN_ERROR;
	if ((dup = strdup(path)) == NULL)
		return ES_RETURN_ERROR;
	pthread_mutex_lock(&K.lock);
	if (!client_live_locked(c))
		goto out;
	if (pmute_find(c, path, type) < c->npmutes) {
		r = ES_RETURN_SUCCESS;
		goto out;
	}
	if (c->npmutes == c->cappmutes) {
		size_t cap = c->cappmutes != 0 ? 2 * c->cappmutes : 8;

		if ((pm = realloc(c->pmutes, cap * sizeof *pm)) == NULL)
			goto out;
		c->pmutes = pm;
		c->cappmutes = cap;
	}
	c->pmutes[c->npmutes++] =
	    (struct essim_pmute){ type, strlen(dup), dup };
	dup = NULL;
	r = ES_RETURN_SUCCESS;
out:
	pthread_mutex_unlock(&K.lock);
	free(dup);
	return r;
}

es_return_t
es_unmute_path(es_client_t *c, const char *path, es_mute_path_type_t type)
{
	size_t i;

	if (!client_ok(c) || path == NULL || !mute_type_ok(type))
		return ES_RETURN_ERROR;
	pthread_mutex_lock(&K.lock);
	if (!client_live_locked(c)) {
		pthread_mutex_unlock(&K.lock);
		return ES_RETURN_ERROR;
	}
	/* Exact entries only: prefixes do not apply to modifications. */
	if ((i = pmute_find(c, path, type)) < c->npmutes) {
		free(c->pmutes[i].path);
		c->pmutes[i] = c->pmutes[--c->npmutes];
	}
	pthread_mutex_unlock(&K.lock);
	return ES_RETURN_SUCCESS;
}

/* ---- answers --------------------------------------------------------------
 */

/*
 * An accepted answer's books: kept now when K.lock is free, else left on
 * K.deferred for its next holder (the watchdog is told), so that a thread
 * preempted while it holds K.lock never holds up an answer, as no user
 * thread holds up a kernel's.
 */
static void
answer_books(struct essim_kmsg *o)
{
	struct essim_kmsg *head;

	if (pthread_mutex_trylock(&K.lock) == 0) {
		essim__answers_drain_locked();
		essim__answer_books_locked(o);
		pthread_mutex_unlock(&K.lock);
		return;
	}
	atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
	head = atomic_load_explicit(&K.deferred, memory_order_relaxed);
	do
		o->dnext = head;
	while (!atomic_compare_exchange_weak_explicit(
	    &K.deferred, &head, o, memory_order_release, memory_order_relaxed));
	pthread_cond_signal(&K.wd_cv);
}

/*
 * The kernel's judgement of one answer, in this order: the right client,
 * the right call for the type, already answered, past its deadline.  A
 * copy's answer is the original's.  The answer itself takes no lock: a
 * compare-and-swap from PENDING accepts it; the rest, and every refusal,
 * is book-keeping.
 */
static es_respond_result_t
respond(es_client_t *c, const es_message_t *msg, bool flags_call,
    uint32_t value, bool cache)
{
	struct essim_kmsg *k, *o;
	const es_message_t *om;
	es_respond_result_t r;
	uint8_t st = KMSG_PENDING;
	uint64_t now;

	if (!client_ok(c) || msg == NULL)
		return ES_RESPOND_RESULT_ERR_INVALID_ARGUMENT;
	k = essim__kmsg_of(msg);
	if (k->magic != ESSIM_MSG_MAGIC)
		return ES_RESPOND_RESULT_ERR_INVALID_ARGUMENT;
	o = k->is_copy ? k->orig : k;
	om = essim__kmsg_msg(o);

	/* Fixed since the post: client, type, deadline. */
	now = essim__mono_ns();
	if (o->client == c && om->action_type == ES_ACTION_TYPE_AUTH &&
	    flags_call == (om->event_type == ES_EVENT_TYPE_AUTH_OPEN) &&
	    (flags_call || value == ES_AUTH_RESULT_ALLOW ||
	        value == ES_AUTH_RESULT_DENY) &&
	    now < o->deadline_ns &&
	    atomic_compare_exchange_strong(&o->state, &st, KMSG_ANSWERED)) {
		o->dnow = now;
		o->dvalue = value;
		o->dflags_call = flags_call;
		o->dcache = cache;
		o->dallowed = flags_call
		    ? ((uint32_t)om->event.open.fflag & ~value) == 0
		    : value == ES_AUTH_RESULT_ALLOW;
		answer_books(o);
		return ES_RESPOND_RESULT_SUCCESS;
	}

	pthread_mutex_lock(&K.lock);
	if (o->client != c) {
		r = ES_RESPOND_RESULT_ERR_INVALID_ARGUMENT;
	} else if (om->action_type != ES_ACTION_TYPE_AUTH ||
	    flags_call != (om->event_type == ES_EVENT_TYPE_AUTH_OPEN)) {
		r = ES_RESPOND_RESULT_ERR_EVENT_TYPE;
		c->rep.wrong_type++;
	} else if (!flags_call && value != ES_AUTH_RESULT_ALLOW &&
	    value != ES_AUTH_RESULT_DENY) {
		r = ES_RESPOND_RESULT_ERR_INVALID_ARGUMENT;
	} else if (atomic_load(&o->state) == KMSG_ANSWERED) {
		r = ES_RESPOND_RESULT_ERR_DUPLICATE_RESPONSE;
		c->rep.duplicates++;
	} else if (atomic_load(&o->state) != KMSG_PENDING) {
		/* Expired, or its client killed or deleted before. */
		r = ES_RESPOND_RESULT_NOT_FOUND;
		if (!c->deleted)
			c->rep.late++;
	} else {
		/* Past its deadline, and the watchdog has not run yet:
		 * judged here. */
		essim__terminate_locked(c, o, ESSIM_KILL_LATE, now);
		r = ES_RESPOND_RESULT_NOT_FOUND;
		c->rep.late++;
	}
	pthread_mutex_unlock(&K.lock);
	return r;
}

es_respond_result_t
es_respond_auth_result(es_client_t *c, const es_message_t *msg,
    es_auth_result_t result, bool cache)
{
	return respond(c, msg, false, (uint32_t)result, cache);
}

es_respond_result_t
es_respond_flags_result(es_client_t *c, const es_message_t *msg,
    uint32_t authorized_flags, bool cache)
{
	return respond(c, msg, true, authorized_flags, cache);
}

es_clear_cache_result_t
es_clear_cache(es_client_t *c)
{
	es_clear_cache_result_t r;
	uint64_t now;

	if (!client_ok(c))
		return ES_CLEAR_CACHE_RESULT_ERR_INTERNAL;
	pthread_mutex_lock(&K.lock);
	now = essim__mono_ns();
	if (!client_live_locked(c)) {
		r = ES_CLEAR_CACHE_RESULT_ERR_INTERNAL;
	} else if (K.cleared &&
	    now - K.last_clear_ns < K.cfg.clear_cache_throttle_ns) {
		/* Kernel-wide: the cache is shared by every client. */
		r = ES_CLEAR_CACHE_RESULT_ERR_THROTTLE;
	} else {
		essim__cache_clear_locked();
		K.cleared = true;
		K.last_clear_ns = now;
		r = ES_CLEAR_CACHE_RESULT_SUCCESS;
	}
	pthread_mutex_unlock(&K.lock);
	return r;
}
