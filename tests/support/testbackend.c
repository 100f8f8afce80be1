/*
 * testbackend.c — see testbackend.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "testbackend.h"

uint64_t
tb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static enum tb_by
who(void)
{
	char name[17] = { 0 };

	prctl(PR_GET_NAME, name, 0, 0, 0);
	if (strncmp(name, "vd-worker-", 10) == 0)
		return TB_WORKER;
	if (strcmp(name, "vd-timer") == 0)
		return TB_TIMER;
	if (strncmp(name, "vd-enrich-", 10) == 0)
		return TB_ENRICH;
	return TB_OTHER;
}

static bool
tb_respond(void *ctx, enum vd_event_type type, const struct vd_handle *h,
    const struct vd_decision *d)
{
	struct tb *b = ctx;
	struct tb_msg *m;
	uint64_t now = tb_now_ns();

	(void)type;
	if (h->id >= b->cap) {
		atomic_fetch_add(&b->bad_id, 1);
		return false;
	}
	m = &b->msgs[h->id];
	if (atomic_fetch_add(&m->answers, 1) != 0) {
		atomic_fetch_add(&b->duplicates, 1);
		return false; /* as the kernel would: ERR_DUPLICATE_RESPONSE */
	}
	atomic_store(&m->answered_ns, now);
	atomic_store(&m->verdict, d->verdict);
	if (b->track_thread)
		atomic_store(&m->by, (uint8_t)who());
	if (m->deadline_ns != 0 && now > m->deadline_ns)
		atomic_fetch_add(&b->late, 1);
	atomic_fetch_add(&b->answers, 1);
	return true;
}

static void
tb_release(void *ctx, enum vd_event_type type, const struct vd_handle *h)
{
	struct tb *b = ctx;

	(void)type;
	if (h->id >= b->cap) {
		atomic_fetch_add(&b->bad_id, 1);
		return;
	}
	if (atomic_fetch_add(&b->msgs[h->id].released, 1) != 0)
		atomic_fetch_add(&b->duplicates, 1);
	atomic_fetch_add(&b->releases, 1);
}

/* Like a fanotify descriptor's close: only once, only after the answer,
 * only when no evaluation can read the event any more. */
static void
tb_retire(void *ctx, enum vd_event_type type, const struct vd_handle *h)
{
	struct tb *b = ctx;
	struct tb_msg *m;

	(void)type;
	if (h->id >= b->cap) {
		atomic_fetch_add(&b->bad_id, 1);
		return;
	}
	m = &b->msgs[h->id];
	if (atomic_fetch_add(&m->retired, 1) != 0)
		atomic_fetch_add(&b->duplicates, 1);
	if (atomic_load(&m->answers) == 0)
		atomic_fetch_add(&b->retire_early, 1);
	if (atomic_load(&m->evaluating) != 0)
		atomic_fetch_add(&b->retire_in_use, 1);
	atomic_fetch_add(&b->retires, 1);
}

struct tb *
tb_create(uint64_t cap, bool track_thread)
{
	struct tb *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->msgs = calloc(cap, sizeof(*b->msgs));
	if (b->msgs == NULL) {
		free(b);
		return NULL;
	}
	b->cap = cap;
	b->track_thread = track_thread;
	b->ops.name = "test";
	b->ops.respond = tb_respond;
	b->ops.release = tb_release;
	b->ops.retire = tb_retire;
	return b;
}

void
tb_destroy(struct tb *b)
{
	if (b == NULL)
		return;
	free(b->msgs);
	free(b);
}

uint64_t
tb_new_id(struct tb *b, uint64_t deadline_ns)
{
	uint64_t id = atomic_fetch_add(&b->next_id, 1);

	if (id < b->cap)
		b->msgs[id].deadline_ns = deadline_ns;
	return id;
}

uint64_t
tb_submit(struct tb *b, struct vd_pipeline *p, enum vd_event_type t, pid_t pid,
    uint64_t budget_ns, bool *queued)
{
	const struct vd_config *cfg = vd_pipeline_config(p);
	uint64_t now = tb_now_ns(), deadline, id;
	struct vd_handle h = { 0 };
	struct vd_event *ev;
	bool q;

	deadline = now + (budget_ns ? budget_ns : cfg->types[t].budget_ns);
	id = tb_new_id(
	    b, vd_event_type_action(t) == VD_ACTION_AUTH ? deadline : 0);
	ev = b->pool_wait_ns != 0
	    ? vd_pipeline_event_wait(p, t, b->pool_wait_ns)
	    : vd_pipeline_event_get(p, t);
	if (ev == NULL) {
		h.id = id;
		vd_pipeline_refuse(p, t, &h);
		if (queued != NULL)
			*queued = false;
		return id;
	}
	ev->handle.id = id;
	ev->arrival_ns = now;
	ev->deadline_ns = deadline;
	ev->proc.pid = pid;
	ev->proc.uid = 1000;
	snprintf(ev->proc.exe, sizeof(ev->proc.exe), "/usr/bin/test%d",
	    (int)(pid % 7));
	snprintf(ev->target, sizeof(ev->target), "/tmp/file%llu",
	    (unsigned long long)(id % 1000));
	q = vd_pipeline_submit(p, ev);
	if (queued != NULL)
		*queued = q;
	return id;
}

bool
tb_wait(struct tb *b, uint64_t n, uint64_t timeout_ns)
{
	uint64_t end = tb_now_ns() + timeout_ns;
	struct timespec ts = { 0, 200000 };

	while (atomic_load(&b->answers) + atomic_load(&b->releases) < n) {
		if (tb_now_ns() > end)
			return false;
		nanosleep(&ts, NULL);
	}
	return true;
}

uint64_t
tb_count_not_once(struct tb *b, uint64_t n)
{
	uint64_t i, bad = 0;

	for (i = 0; i < n && i < b->cap; i++)
		if (atomic_load(&b->msgs[i].answers) +
		        atomic_load(&b->msgs[i].released) !=
		    1)
			bad++;
	return bad;
}

uint64_t
tb_count_by(struct tb *b, uint64_t n, enum tb_by by)
{
	uint64_t i, c = 0;

	for (i = 0; i < n && i < b->cap; i++)
		if (atomic_load(&b->msgs[i].by) == by)
			c++;
	return c;
}
