/*
 * gen.c — the load generator backend: producers, fake payloads, and the
 * respond/release callbacks that judge the pipeline from outside.
 *
 * The judge must not lean on the pipeline's own bookkeeping, so the
 * generator stamps each event's arrival and deadline itself (arrival + the
 * type's budget, or the short deadline) and records the deadline in the
 * event's slot before submitting: the pipeline may answer, and recycle the
 * event, before vd_pipeline_submit even returns.
 */
#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <verdict/event.h>
#include <verdict/pipeline.h>

#include "backend/gen/gen.h"
#include "platform/platform.h"
#include "util/util.h"

#define NS_PER_SEC UINT64_C(1000000000)
#define NS_PER_MS  UINT64_C(1000000)

#define GEN_NPROCS   320  /* fake processes */
#define GEN_NPATHS   1024 /* fake target paths */
#define GEN_BURST    1024 /* most events between two looks at the clock */
#define GEN_BATCH_HZ 1000 /* a producer wakes about this often */
#define GEN_START_NS (2 * NS_PER_MS) /* so every producer starts together */

/* One per event id. */
struct gen_slot {
	_Atomic uint64_t deadline_ns; /* as stamped; 0 for NOTIFY */
	_Atomic uint32_t answers;     /* respond or release calls */
	_Atomic uint32_t type; /* enum vd_event_type + 1; 0: not issued */
};

struct gen_proc {
	pid_t pid;
	pid_t ppid;
	uid_t uid;
	gid_t gid;
	uint64_t start_time;
	unsigned exe; /* index into gen_exes */
	bool platform;
};

struct gen_path {
	char s[96];
	size_t len;
};

struct gen_producer {
	struct vd_gen *g;
	pthread_t thread;
	uint64_t rate; /* its share of gen.rate */
	uint64_t rng;
	/* Written by the producer, read after it is joined. */
	uint64_t submitted;
	uint64_t auth;
	uint64_t notify;
	uint64_t short_deadline;
	uint64_t refused;
	uint64_t last_ns;
};

/* Written by pipeline threads in respond/release. */
struct gen_counters {
	alignas(64) _Atomic uint64_t answered;
	_Atomic uint64_t allowed;
	_Atomic uint64_t denied;
	_Atomic uint64_t released;
	_Atomic uint64_t duplicates;
	_Atomic uint64_t late;
	_Atomic uint64_t unknown;
	_Atomic int64_t margin_min_ns;
};

struct vd_gen {
	struct vd_gen_config cfg;
	struct vd_pipeline *p;
	struct gen_slot *slots;
	uint64_t cap;                     /* slots */
	alignas(64) _Atomic uint64_t seq; /* next id */
	_Atomic bool stop;
	struct gen_counters c;
	uint64_t start_ns, end_ns;
	uint64_t budget_ns[VD_EVENT_TYPE_COUNT];
	uint64_t short_ns;
	unsigned types[VD_EVENT_TYPE_COUNT];
	unsigned ntypes;
	unsigned nproducers;
	unsigned started; /* producer threads running */
	struct gen_producer *producers;
	struct gen_proc procs[GEN_NPROCS];
	struct gen_path paths[GEN_NPATHS];
};

static const char *const gen_exes[] = {
	"/usr/bin/bash",
	"/usr/bin/python3",
	"/usr/bin/git",
	"/usr/bin/make",
	"/usr/bin/cc",
	"/usr/lib/systemd/systemd-journald",
	"/usr/sbin/sshd",
	"/usr/bin/vim",
	"/usr/bin/rsync",
	"/usr/bin/tar",
	"/usr/lib/firefox/firefox",
	"/opt/app/bin/server",
};
#define GEN_NEXES (sizeof(gen_exes) / sizeof(gen_exes[0]))

static const char *const gen_dirs[] = {
	"/home/alice/src/project",
	"/home/bob/.cache/thumbnails",
	"/etc",
	"/var/log",
	"/tmp/build",
	"/usr/share/doc",
	"/srv/data/shared",
	"/usr/lib/x86_64-linux-gnu",
};
static const char *const gen_exts[] = { "c", "h", "conf", "log", "so", "txt",
	"json", "py" };

/* Deadlines are read against the pipeline's own clock. */
static uint64_t
gen_now(void)
{
	return vd_clock_ns();
}

/* xorshift64*: cheap, and good enough to pick payloads. */
static uint64_t
gen_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(0x2545f4914f6cdd1d);
}

static void
gen_payload_init(struct vd_gen *g)
{
	uint64_t x = g->cfg.seed;

	for (unsigned i = 0; i < GEN_NPROCS; i++) {
		struct gen_proc *pr = &g->procs[i];
		uint64_t r = vd_splitmix64(&x);

		pr->pid = (pid_t)(1000 + i * 7 + (r & 3));
		pr->ppid = i == 0 ? 1 : g->procs[(r >> 8) % i].pid;
		pr->uid =
		    (r >> 20) % 4 == 0 ? 0 : (uid_t)(1000 + (r >> 24) % 3);
		pr->gid = pr->uid;
		pr->start_time =
		    UINT64_C(1700000000) * NS_PER_SEC + r % NS_PER_SEC;
		pr->exe = (unsigned)((r >> 32) % GEN_NEXES);
		pr->platform = pr->exe < 10;
	}
	for (unsigned i = 0; i < GEN_NPATHS; i++) {
		uint64_t r = vd_splitmix64(&x);
		int n;

		n = snprintf(g->paths[i].s, sizeof(g->paths[i].s),
		    "%s/f%04u.%s",
		    gen_dirs[r % (sizeof(gen_dirs) / sizeof(gen_dirs[0]))], i,
		    gen_exts[(r >> 8) %
		        (sizeof(gen_exts) / sizeof(gen_exts[0]))]);
		g->paths[i].len = n > 0 ? (size_t)n : 0;
	}
}

static const char *
gen_basename(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

/*
 * Fills every payload field of an event: pool events come back with the
 * last user's payload (pipeline.h), so nothing may be left over.
 */
static void
gen_fill(const struct vd_gen *g, struct vd_event *ev, enum vd_event_type t,
    uint64_t r)
{
	const struct gen_proc *pr = &g->procs[r % GEN_NPROCS];
	const struct gen_path *tp = &g->paths[(r >> 12) % GEN_NPATHS];
	const char *exe = gen_exes[pr->exe];
	struct vd_process *proc = &ev->proc;

	ev->open_flags = 0;
	if (t == VD_AUTH_OPEN)
		ev->open_flags =
		    (r >> 40) & 1 ? VD_OPEN_READ | VD_OPEN_WRITE : VD_OPEN_READ;
	ev->close_modified = t == VD_NOTIFY_CLOSE && ((r >> 41) & 1);

	proc->pid = pr->pid;
	proc->ppid = pr->ppid;
	proc->uid = pr->uid;
	proc->gid = pr->gid;
	proc->start_time = pr->start_time;
	proc->platform_binary = pr->platform;
	memset(proc->cdhash, 0, sizeof(proc->cdhash));
	memcpy(proc->cdhash, &pr->start_time, sizeof(pr->start_time));
	vd_copy_path(proc->comm, sizeof(proc->comm), gen_basename(exe),
	    strlen(gen_basename(exe)));
	proc->team_id[0] = '\0';
	vd_copy_path(proc->signing_id, sizeof(proc->signing_id), proc->comm,
	    strlen(proc->comm));
	proc->exe_truncated =
	    vd_copy_path(proc->exe, sizeof(proc->exe), exe, strlen(exe));

	if (t == VD_AUTH_EXEC || t == VD_NOTIFY_EXEC) {
		const char *img = gen_exes[(r >> 44) % GEN_NEXES];

		ev->target_truncated = vd_copy_path(
		    ev->target, sizeof(ev->target), img, strlen(img));
	} else
		ev->target_truncated = vd_copy_path(
		    ev->target, sizeof(ev->target), tp->s, tp->len);

	switch (t) {
	case VD_AUTH_RENAME:
	case VD_AUTH_LINK:
	case VD_AUTH_CLONE:
	case VD_AUTH_COPYFILE:
	case VD_NOTIFY_RENAME:
		ev->target2_truncated = vd_copy_path(
		    ev->target2, sizeof(ev->target2), tp->s, tp->len);
		if (!ev->target2_truncated && tp->len + 4 < sizeof(ev->target2))
			memcpy(ev->target2 + tp->len, ".new", 5);
		break;
	default:
		ev->target2[0] = '\0';
		ev->target2_truncated = false;
		break;
	}
}

/* Events a producer of rate r should have made t ns after the start. */
static uint64_t
gen_due(uint64_t r, uint64_t t)
{
	/* Split so that neither product overflows (t < 86401 s, r <= 1e7). */
	return (t / NS_PER_SEC) * r + (t % NS_PER_SEC) * r / NS_PER_SEC;
}

/* When the k-th event of a producer of rate r is due, from the start. */
static uint64_t
gen_when(uint64_t r, uint64_t k)
{
	return (k / r) * NS_PER_SEC + (k % r) * NS_PER_SEC / r;
}

static void
gen_one(struct vd_gen *g, struct gen_producer *pp)
{
	uint64_t r = gen_rand(&pp->rng);
	enum vd_event_type t =
	    (enum vd_event_type)g->types[(r >> 50) % g->ntypes];
	bool auth = vd_event_type_action(t) == VD_ACTION_AUTH;
	struct vd_handle h = { .ptr = NULL, .fd = -1 };
	uint64_t id, now, deadline = 0;
	struct vd_event *ev;
	struct gen_slot *s;

	id = atomic_fetch_add_explicit(&g->seq, 1, memory_order_relaxed);
	if (id >= g->cap) {
		/* Cannot happen: the shares add up to cap.  Never overrun. */
		atomic_store_explicit(&g->stop, true, memory_order_relaxed);
		return;
	}
	h.id = id;
	s = &g->slots[id];
	ev = vd_pipeline_event_get(g->p, t);
	now = gen_now();
	if (auth) {
		if (g->cfg.short_every != 0 &&
		    id % g->cfg.short_every == g->cfg.short_every - 1) {
			deadline = now + g->short_ns;
			pp->short_deadline++;
		} else
			deadline = now + g->budget_ns[t];
		pp->auth++;
	} else
		pp->notify++;
	pp->submitted++;
	/*
	 * Recorded before the pipeline sees the id: respond may run on
	 * another thread before submit returns.  Relaxed is enough: the
	 * pipeline's hand-off from this thread to the responder orders it,
	 * and the value stands alone.
	 */
	atomic_store_explicit(&s->deadline_ns, deadline, memory_order_relaxed);
	atomic_store_explicit(&s->type, (uint32_t)t + 1, memory_order_relaxed);
	if (ev == NULL) {
		pp->refused++;
		vd_pipeline_refuse(g->p, t, &h);
		return;
	}
	gen_fill(g, ev, t, r);
	ev->handle = h;
	ev->arrival_ns = now;
	ev->deadline_ns = deadline;
	vd_pipeline_submit(g->p, ev);
}

static void *
gen_producer_main(void *arg)
{
	struct gen_producer *pp = arg;
	struct vd_gen *g = pp->g;
	uint64_t total = pp->rate * g->cfg.duration_s, made = 0;
	uint64_t batch = pp->rate / GEN_BATCH_HZ, due, now, next;

	if (batch == 0)
		batch = 1;
	vd_sleep_until(g->start_ns);
	while (!atomic_load_explicit(&g->stop, memory_order_relaxed)) {
		now = gen_now();
		due = gen_due(pp->rate, now - g->start_ns);
		if (due > total)
			due = total;
		/* A bounded burst, so a stop request is seen soon. */
		for (uint64_t n = 0; made < due && n < GEN_BURST; n++, made++)
			gen_one(g, pp);
		if (made >= total || now >= g->end_ns)
			break;
		if (made < due)
			continue; /* behind schedule: catch up, no sleep */
		next = g->start_ns + gen_when(pp->rate, made + batch);
		vd_sleep_until(next < g->end_ns ? next : g->end_ns);
	}
	pp->last_ns = gen_now();
	return NULL;
}

static bool
gen_respond(void *ctx, enum vd_event_type type, const struct vd_handle *h,
    const struct vd_decision *d)
{
	struct vd_gen *g = ctx;
	uint64_t now = gen_now(), deadline;
	struct gen_slot *s;
	int64_t margin, min;

	(void)type;
	if (h->id >= g->cap ||
	    atomic_load_explicit(&g->slots[h->id].type, memory_order_relaxed) ==
	        0) {
		atomic_fetch_add_explicit(
		    &g->c.unknown, 1, memory_order_relaxed);
		return false;
	}
	s = &g->slots[h->id];
	if (atomic_fetch_add_explicit(&s->answers, 1, memory_order_relaxed) !=
	    0) {
		/* A kernel refuses a second answer; so do we. */
		atomic_fetch_add_explicit(
		    &g->c.duplicates, 1, memory_order_relaxed);
		return false;
	}
	deadline = atomic_load_explicit(&s->deadline_ns, memory_order_relaxed);
	if (now > deadline)
		atomic_fetch_add_explicit(&g->c.late, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&g->c.answered, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(
	    d->verdict == VD_DENY ? &g->c.denied : &g->c.allowed, 1,
	    memory_order_relaxed);
	margin = (int64_t)(deadline - now);
	min = atomic_load_explicit(&g->c.margin_min_ns, memory_order_relaxed);
	while (margin < min &&
	    !atomic_compare_exchange_weak_explicit(&g->c.margin_min_ns, &min,
	        margin, memory_order_relaxed, memory_order_relaxed))
		continue;
	return true;
}

static void
gen_release(void *ctx, enum vd_event_type type, const struct vd_handle *h)
{
	struct vd_gen *g = ctx;
	struct gen_slot *s;

	(void)type;
	if (h->id >= g->cap ||
	    atomic_load_explicit(&g->slots[h->id].type, memory_order_relaxed) ==
	        0) {
		atomic_fetch_add_explicit(
		    &g->c.unknown, 1, memory_order_relaxed);
		return;
	}
	s = &g->slots[h->id];
	if (atomic_fetch_add_explicit(&s->answers, 1, memory_order_relaxed) !=
	    0) {
		atomic_fetch_add_explicit(
		    &g->c.duplicates, 1, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&g->c.released, 1, memory_order_relaxed);
}

static const struct vd_backend_ops gen_ops = {
	.name = "gen",
	.respond = gen_respond,
	.release = gen_release,
};

const struct vd_backend_ops *
vd_gen_ops(void)
{
	return &gen_ops;
}

struct vd_gen *
vd_gen_create(const struct vd_gen_config *cfg, int *err)
{
	struct vd_gen *g = NULL;
	uint64_t cap;
	int error;

	if (cfg->rate == 0 || cfg->duration_s == 0 || cfg->producers == 0 ||
	    cfg->producers > cfg->rate || cfg->types == 0) {
		error = -EINVAL;
		goto fail;
	}
	/* Checked before multiplying: both are range-checked by config.c. */
	if (cfg->rate > VD_GEN_EVENTS_MAX ||
	    cfg->duration_s > VD_GEN_EVENTS_MAX ||
	    (cap = cfg->rate * cfg->duration_s) > VD_GEN_EVENTS_MAX) {
		error = -EINVAL;
		goto fail;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		error = -ENOMEM;
		goto fail;
	}
	g->cfg = *cfg;
	g->cap = cap;
	g->nproducers = cfg->producers;
	g->short_ns = cfg->short_ms * NS_PER_MS;
	atomic_init(&g->seq, 0);
	atomic_init(&g->stop, false);
	atomic_init(&g->c.margin_min_ns, INT64_MAX);
	for (unsigned t = 0; t < VD_EVENT_TYPE_COUNT; t++)
		if (cfg->types & (UINT32_C(1) << t))
			g->types[g->ntypes++] = t;
	/* Zeroed pages: only the slots a run uses get touched. */
	if ((g->slots = calloc(cap, sizeof(*g->slots))) == NULL ||
	    (g->producers = calloc(g->nproducers, sizeof(*g->producers))) ==
	        NULL) {
		error = -ENOMEM;
		goto fail;
	}
	gen_payload_init(g);
	*err = 0;
	return g;

fail:
	if (g != NULL) {
		free(g->producers);
		free(g->slots);
		free(g);
	}
	*err = error;
	return NULL;
}

int
vd_gen_start(struct vd_gen *g, struct vd_pipeline *p)
{
	const struct vd_config *pc = vd_pipeline_config(p);
	uint64_t x = g->cfg.seed ^ UINT64_C(0x5eed);
	int rc;

	g->p = p;
	for (unsigned t = 0; t < VD_EVENT_TYPE_COUNT; t++)
		g->budget_ns[t] = pc->types[t].budget_ns;
	g->start_ns = gen_now() + GEN_START_NS;
	g->end_ns = g->start_ns + g->cfg.duration_s * NS_PER_SEC;
	for (unsigned i = 0; i < g->nproducers; i++) {
		struct gen_producer *pp = &g->producers[i];

		pp->g = g;
		/* The first producers take the remainder of the division. */
		pp->rate = g->cfg.rate / g->nproducers +
		    (i < g->cfg.rate % g->nproducers ? 1 : 0);
		do
			pp->rng = vd_splitmix64(&x);
		while (pp->rng == 0); /* xorshift's one bad state */
		if ((rc = pthread_create(
		         &pp->thread, NULL, gen_producer_main, pp)) != 0) {
			vd_gen_stop(g);
			return -rc;
		}
		g->started++;
	}
	return 0;
}

uint64_t
vd_gen_end_ns(const struct vd_gen *g)
{
	return g->end_ns;
}

void
vd_gen_stop(struct vd_gen *g)
{
	atomic_store_explicit(&g->stop, true, memory_order_relaxed);
	/* Producers sleep at most until the end time, or one batch. */
	for (unsigned i = 0; i < g->started; i++)
		pthread_join(g->producers[i].thread, NULL);
	g->started = 0;
}

uint64_t
vd_gen_pending(const struct vd_gen *g)
{
	uint64_t issued, done;

	issued = atomic_load_explicit(&g->seq, memory_order_relaxed);
	if (issued > g->cap)
		issued = g->cap;
	done = atomic_load_explicit(&g->c.answered, memory_order_relaxed) +
	    atomic_load_explicit(&g->c.released, memory_order_relaxed);
	return issued > done ? issued - done : 0;
}

void
vd_gen_report(const struct vd_gen *g, struct vd_gen_report *r)
{
	uint64_t issued, last = 0;

	memset(r, 0, sizeof(*r));
	for (unsigned i = 0; i < g->nproducers; i++) {
		const struct gen_producer *pp = &g->producers[i];

		r->submitted += pp->submitted;
		r->auth += pp->auth;
		r->notify += pp->notify;
		r->short_deadline += pp->short_deadline;
		r->refused += pp->refused;
		if (pp->last_ns > last)
			last = pp->last_ns;
	}
	r->elapsed_ns = last > g->start_ns ? last - g->start_ns : 0;
	r->answered = atomic_load(&g->c.answered);
	r->allowed = atomic_load(&g->c.allowed);
	r->denied = atomic_load(&g->c.denied);
	r->released = atomic_load(&g->c.released);
	r->duplicates = atomic_load(&g->c.duplicates);
	r->late = atomic_load(&g->c.late);
	r->unknown = atomic_load(&g->c.unknown);
	r->margin_min_ns = atomic_load(&g->c.margin_min_ns);
	issued = atomic_load(&g->seq);
	if (issued > g->cap)
		issued = g->cap;
	for (uint64_t id = 0; id < issued; id++) {
		const struct gen_slot *s = &g->slots[id];
		uint32_t t =
		    atomic_load_explicit(&s->type, memory_order_relaxed);

		if (t == 0 ||
		    atomic_load_explicit(&s->answers, memory_order_relaxed) !=
		        0)
			continue;
		if (vd_event_type_action((enum vd_event_type)(t - 1)) ==
		    VD_ACTION_AUTH)
			r->unanswered++;
		else
			r->unreleased++;
	}
}

void
vd_gen_destroy(struct vd_gen *g)
{
	if (g == NULL)
		return;
	vd_gen_stop(g);
	free(g->producers);
	free(g->slots);
	free(g);
}
