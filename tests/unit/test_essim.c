/*
 * test_essim.c — the EndpointSecurity simulator: the kernel's rules as a
 * client sees them (deadline kill and its reason text, one answer per
 * message, the right respond call per type, flags, the shared result
 * cache, muting, bounded queues and sequence gaps, serial delivery,
 * message lifetimes, es_new_client errors, essim_wait_idle) and the
 * kernel's books, its latency books too.
 *
 * Each test starts and stops its own kernel.  A recording handler copies
 * what it is shown into a struct rec and answers according to its mode.
 * Timing margins are wide: these VMs have two noisy cores.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fcntl.h>
#include <time.h>
#include <unistd.h>

#include <EndpointSecurity/EndpointSecurity.h>
#include <bsm/libbsm.h>
#include <essim.h>
#include <mach/mach_time.h>

#include "backend/sim/essim_internal.h" /* essim__watchdog_hold */

/* The deprecated calls are part of the simulated API, tested here. */
#pragma clang diagnostic ignored "-Wdeprecated-declarations"

#define MS     1000000ull
#define MAXREC 64
#define LONG   (10000 * MS) /* a deadline no test reaches */
/*
 * A deadline a test waits out: the delivery thread must hand the message
 * over, and the test act on it, before it passes.  On a loaded 2-core
 * machine a thread can wait 10-15 ms for a CPU; 200 ms leaves over ten
 * times that.  PAST sleeps beyond it (a sleep only ever lasts longer).
 * Deadlines meant to pass unanswered may be shorter.
 */
#define SHORT (200 * MS)
#define PAST  (SHORT + 100 * MS)

enum mode {
	M_NONE,        /* never answer */
	M_ALLOW,       /* ALLOW / r->flags, not cached */
	M_ALLOW_CACHE, /* the same, cache = true */
	M_DENY,        /* DENY / 0 */
	M_DENY_CACHE,
	M_RETAIN, /* retain, answer nothing: the test answers */
	M_COPY,   /* es_copy_message, answer nothing */
};

struct entry {
	es_event_type_t type;
	es_action_type_t action;
	uint64_t seq, gseq;
	char path[64];
	pid_t pid;
	int32_t fflag;
	const es_message_t *msg; /* M_RETAIN: retained; M_COPY: the copy */
	pthread_t thread;
	char tname[16];
	uint64_t t_in, t_out;
	es_respond_result_t res;
};

struct rec {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n;    /* handler entered */
	int done; /* handler returned */
	struct entry e[MAXREC];
	enum mode mode;
	uint32_t flags; /* the answer to AUTH_OPEN */
	uint64_t sleep_ns;
	atomic_bool gate_closed; /* the handler waits while set */
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull),
		(long)(ns % 1000000000ull) };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static const char *
msg_path(const es_message_t *m)
{
	switch (m->event_type) {
	case ES_EVENT_TYPE_AUTH_OPEN:
	case ES_EVENT_TYPE_NOTIFY_OPEN:
		return m->event.open.file->path.data;
	case ES_EVENT_TYPE_AUTH_EXEC:
	case ES_EVENT_TYPE_NOTIFY_EXEC:
		return m->event.exec.target->executable->path.data;
	case ES_EVENT_TYPE_NOTIFY_WRITE:
		return m->event.write.target->path.data;
	case ES_EVENT_TYPE_AUTH_UNLINK:
	case ES_EVENT_TYPE_NOTIFY_UNLINK:
		return m->event.unlink.target->path.data;
	case ES_EVENT_TYPE_AUTH_MOUNT:
		return m->event.mount.statfs->f_mntonname;
	default:
		return "";
	}
}

static struct rec *
rec_new(enum mode mode)
{
	struct rec *r = calloc(1, sizeof *r);

	cr_assert_not_null(r);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->mode = mode;
	r->flags = UINT32_MAX;
	atomic_init(&r->gate_closed, false);
	return r;
}

static void
rec_free(struct rec *r)
{
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

static void
rec_handle(struct rec *r, es_client_t *c, const es_message_t *m)
{
	uint64_t t_in = now_ns();
	es_respond_result_t res = ES_RESPOND_RESULT_SUCCESS;
	bool cache = r->mode == M_ALLOW_CACHE || r->mode == M_DENY_CACHE;
	bool allow = r->mode == M_ALLOW || r->mode == M_ALLOW_CACHE;
	struct entry *e;

	pthread_mutex_lock(&r->mu);
	e = &r->e[r->n < MAXREC ? r->n : MAXREC - 1];
	memset(e, 0, sizeof *e);
	e->type = m->event_type;
	e->action = m->action_type;
	e->seq = m->seq_num;
	e->gseq = m->global_seq_num;
	snprintf(e->path, sizeof e->path, "%s", msg_path(m));
	e->pid = audit_token_to_pid(m->process->audit_token);
	if (m->event_type == ES_EVENT_TYPE_AUTH_OPEN)
		e->fflag = m->event.open.fflag;
	e->thread = pthread_self();
	pthread_getname_np(pthread_self(), e->tname, sizeof e->tname);
	e->t_in = t_in;
	if (r->mode == M_RETAIN) {
		es_retain_message(m);
		e->msg = m;
	} else if (r->mode == M_COPY) {
		e->msg = es_copy_message(m);
	}
	r->n++;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);

	while (atomic_load(&r->gate_closed))
		sleep_ns(MS);
	if (r->sleep_ns != 0)
		sleep_ns(r->sleep_ns);
	if (m->action_type == ES_ACTION_TYPE_AUTH &&
	    (allow || r->mode == M_DENY || r->mode == M_DENY_CACHE)) {
		if (m->event_type == ES_EVENT_TYPE_AUTH_OPEN)
			res = es_respond_flags_result(
			    c, m, allow ? r->flags : 0, cache);
		else
			res = es_respond_auth_result(c, m,
			    allow ? ES_AUTH_RESULT_ALLOW : ES_AUTH_RESULT_DENY,
			    cache);
	}

	pthread_mutex_lock(&r->mu);
	e->res = res;
	e->t_out = now_ns();
	r->done++;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static bool
rec_wait(struct rec *r, int *counter, int n, uint64_t timeout_ms)
{
	uint64_t end = now_ns() + timeout_ms * MS;
	struct timespec ts;
	bool ok;

	pthread_mutex_lock(&r->mu);
	while (*counter < n && now_ns() < end) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 5 * (long)MS;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->cv, &r->mu, &ts);
	}
	ok = *counter >= n;
	pthread_mutex_unlock(&r->mu);
	return ok;
}

/* The handler was entered n times. */
static bool
wait_in(struct rec *r, int n)
{
	return rec_wait(r, &r->n, n, 3000);
}

/* The handler returned n times. */
static bool
wait_done(struct rec *r, int n)
{
	return rec_wait(r, &r->done, n, 3000);
}

static int
rec_count(struct rec *r)
{
	int n;

	pthread_mutex_lock(&r->mu);
	n = r->n;
	pthread_mutex_unlock(&r->mu);
	return n;
}

static void
kinit(const struct essim_config *cfg)
{
	cr_assert_eq(essim_kernel_init(cfg), 0);
}

static audit_token_t
proc(pid_t pid, const char *exe, bool default_muted)
{
	struct essim_proc p = {
		.pid = pid,
		.ppid = 1,
		.uid = 501,
		.gid = 20,
		.exe = exe,
		.signing_id = "com.example.test",
		.team_id = "TEAMID1234",
		.default_muted = default_muted,
	};
	audit_token_t t;

	cr_assert_eq(essim_proc_add(&p, &t), 0);
	return t;
}

static es_client_t *
client(struct rec *r, const es_event_type_t *types, uint32_t n)
{
	es_handler_block_t h = ^(es_client_t *cl, const es_message_t *m) {
		rec_handle(r, cl, m);
	};
	es_client_t *c = NULL;

	cr_assert_eq(es_new_client(&c, h), ES_NEW_CLIENT_RESULT_SUCCESS);
	cr_assert_not_null(c);
	cr_assert_eq(es_subscribe(c, types, n), ES_RETURN_SUCCESS);
	return c;
}

static int
post(es_event_type_t type, audit_token_t who, const char *target, int32_t fflag,
    uint64_t deadline_ns)
{
	struct essim_event ev = {
		.type = type,
		.proc = who,
		.target = target,
		.fflag = fflag,
		.deadline_ns = deadline_ns,
	};

	return essim_post(&ev);
}

static struct essim_client_report
report(const es_client_t *c)
{
	struct essim_client_report rep;

	cr_assert_eq(essim_client_report(c, &rep), 0);
	return rep;
}

static bool
wait_terminated(const es_client_t *c, uint64_t timeout_ms)
{
	uint64_t end = now_ns() + timeout_ms * MS;

	while (!report(c).terminated)
		if (now_ns() > end)
			return false;
		else
			sleep_ns(MS);
	return true;
}

/* ---- deadlines and answers ------------------------------------------------
 */

Test(essim, deadline_miss_terminates_with_reason_and_stops_delivery)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_OPEN,
		ES_EVENT_TYPE_NOTIFY_WRITE };
	struct rec *r = rec_new(M_NONE);
	struct essim_client_report rep, all;
	audit_token_t p;
	es_client_t *c;

	kinit(NULL);
	p = proc(100, "/usr/bin/slow", false);
	c = client(r, types, 2);
	r->sleep_ns = PAST; /* outlives the first deadline */
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_OPEN, p, "/a", FREAD, SHORT), 1);
	cr_assert(wait_in(r, 1));
	/* Queued behind the stuck handler: dropped at the kill. */
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_OPEN, p, "/b", FREAD, LONG), 1);
	cr_assert_eq(post(ES_EVENT_TYPE_NOTIFY_WRITE, p, "/c", 0, 0), 1);
	cr_assert(wait_terminated(c, 2000));

	rep = report(c);
	cr_assert_str_eq(rep.reason, ESSIM_CRASH_REASON);
	cr_assert_str_eq(rep.reason,
	    "Namespace ENDPOINTSECURITY, Code 2, EndpointSecurity client "
	    "terminated because it failed to respond to a message before "
	    "its deadline");
	cr_assert_eq(rep.missed, 1);
	/* The message it missed, and where: its handler still ran. */
	cr_assert_eq(rep.kill_stage, ESSIM_KILL_HANDLER);
	cr_assert_str_eq(essim_kill_stage_name(rep.kill_stage), "in handler");
	cr_assert_eq(rep.kill_event, ES_EVENT_TYPE_AUTH_OPEN);
	cr_assert_eq(rep.kill_budget_ns, SHORT);
	cr_assert_lt(rep.kill_over_ns, PAST);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_OPEN, p, "/d", FREAD, LONG), 0);
	cr_assert_eq(post(ES_EVENT_TYPE_NOTIFY_WRITE, p, "/e", 0, 0), 0);
	cr_assert(wait_done(r, 1));
	sleep_ns(100 * MS);
	cr_assert_eq(rec_count(r), 1, "delivered after the kill");
	rep = report(c);
	cr_assert_eq(rep.auth_delivered, 1);
	cr_assert_eq(rep.notify_delivered, 0);
	cr_assert(essim_wait_idle(0));
	essim_kernel_report(&all);
	cr_assert(all.terminated);
	cr_assert_str_eq(all.reason, ESSIM_CRASH_REASON);
	cr_assert_eq(es_subscribe(c, types, 1), ES_RETURN_ERROR);
	cr_assert_eq(es_delete_client(c), ES_RETURN_SUCCESS);
	essim_kernel_fini();
	rec_free(r);
}

Test(essim, duplicate_answer_is_rejected)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_EXEC };
	struct rec *r = rec_new(M_RETAIN);
	struct essim_client_report rep;
	const es_message_t *m;
	es_client_t *c;
	audit_token_t p;

	kinit(NULL);
	p = proc(100, "/bin/zsh", false);
	c = client(r, types, 1);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ls", 0, LONG), 1);
	cr_assert(wait_in(r, 1));
	m = r->e[0].msg;
	cr_assert_eq(es_respond_auth_result(c, m, ES_AUTH_RESULT_ALLOW, false),
	    ES_RESPOND_RESULT_SUCCESS);
	cr_assert_eq(es_respond_auth_result(c, m, ES_AUTH_RESULT_ALLOW, false),
	    ES_RESPOND_RESULT_ERR_DUPLICATE_RESPONSE);
	cr_assert_eq(es_respond_auth_result(c, m, ES_AUTH_RESULT_DENY, false),
	    ES_RESPOND_RESULT_ERR_DUPLICATE_RESPONSE);
	rep = report(c);
	cr_assert_eq(rep.answered, 1);
	cr_assert_eq(rep.allowed, 1);
	cr_assert_eq(rep.denied, 0);
	cr_assert_eq(rep.duplicates, 2);
	cr_assert_lt(rep.slack_min_ns, LONG);
	cr_assert_gt(rep.slack_min_ns, LONG / 2);
	es_release_message(m);
	essim_kernel_fini();
	rec_free(r);
}

Test(essim, late_answer_is_not_found)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_EXEC };
	struct rec *r = rec_new(M_RETAIN);
	struct essim_client_report rep;
	es_client_t *c;
	audit_token_t p;

	kinit(NULL);
	p = proc(100, "/bin/zsh", false);
	c = client(r, types, 1);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ls", 0, SHORT), 1);
	cr_assert(wait_in(r, 1));
	sleep_ns(PAST);
	cr_assert_eq(
	    es_respond_auth_result(c, r->e[0].msg, ES_AUTH_RESULT_ALLOW, false),
	    ES_RESPOND_RESULT_NOT_FOUND);
	rep = report(c);
	cr_assert_eq(rep.late, 1);
	cr_assert_eq(rep.missed, 1);
	cr_assert_eq(rep.answered, 0);
	cr_assert(rep.terminated);
	/* The watchdog found it delivered, its handler long returned. */
	cr_assert_eq(rep.kill_stage, ESSIM_KILL_UNANSWERED);
	cr_assert_eq(rep.kill_event, ES_EVENT_TYPE_AUTH_EXEC);
	cr_assert_eq(rep.kill_budget_ns, SHORT);
	es_release_message(r->e[0].msg);
	essim_kernel_fini();
	rec_free(r);
}

/* The watchdog may wake late: the answer is still judged by the clock. */
Test(essim, late_answer_is_judged_without_the_watchdog)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_EXEC };
	struct rec *r = rec_new(M_RETAIN);
	struct essim_client_report rep;
	es_client_t *c;
	audit_token_t p;

	kinit(NULL);
	essim__watchdog_hold(true);
	p = proc(100, "/bin/zsh", false);
	c = client(r, types, 1);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ls", 0, SHORT), 1);
	cr_assert(wait_in(r, 1));
	sleep_ns(PAST);
	cr_assert(!report(c).terminated, "the watchdog was held");
	cr_assert_eq(
	    es_respond_auth_result(c, r->e[0].msg, ES_AUTH_RESULT_ALLOW, false),
	    ES_RESPOND_RESULT_NOT_FOUND);
	rep = report(c);
	cr_assert(rep.terminated);
	cr_assert_str_eq(rep.reason, ESSIM_CRASH_REASON);
	cr_assert_eq(rep.kill_stage, ESSIM_KILL_LATE);
	cr_assert_geq(rep.kill_over_ns, PAST - SHORT);
	cr_assert_eq(rep.late, 1);
	cr_assert_eq(rep.missed, 1);
	cr_assert_eq(rep.answered, 0);
	es_release_message(r->e[0].msg);
	essim__watchdog_hold(false);
	essim_kernel_fini();
	rec_free(r);
}

/* A message whose deadline passed in the queue is never delivered. */
Test(essim, expired_in_queue_is_not_delivered)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_EXEC };
	struct rec *r = rec_new(M_ALLOW);
	struct essim_client_report rep;
	es_client_t *c;
	audit_token_t p;

	kinit(NULL);
	essim__watchdog_hold(true);
	p = proc(100, "/bin/zsh", false);
	c = client(r, types, 1);
	atomic_store(&r->gate_closed, true);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/a", 0, LONG), 1);
	cr_assert(wait_in(r, 1));
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/b", 0, 30 * MS), 1);
	sleep_ns(80 * MS);
	atomic_store(&r->gate_closed, false);
	cr_assert(wait_done(r, 1));
	cr_assert(wait_terminated(c, 2000));
	sleep_ns(50 * MS);
	cr_assert_eq(rec_count(r), 1, "an expired message was delivered");
	rep = report(c);
	cr_assert_eq(rep.auth_delivered, 1);
	cr_assert_eq(rep.missed, 1);
	/* Found in the queue when the gate opened, 80 ms after its post. */
	cr_assert_eq(rep.kill_stage, ESSIM_KILL_QUEUED);
	cr_assert_str_eq(essim_kill_stage_name(rep.kill_stage), "queued");
	cr_assert_eq(rep.kill_budget_ns, 30 * MS);
	cr_assert_geq(rep.kill_over_ns, 50 * MS);
	/* The first was answered in time, before the kill. */
	cr_assert_eq(r->e[0].res, ES_RESPOND_RESULT_SUCCESS);
	cr_assert_eq(rep.answered, 1);
	essim__watchdog_hold(false);
	essim_kernel_fini();
	rec_free(r);
}

/* Answers a retained message from its own thread. */
struct answerer {
	es_client_t *c;
	const es_message_t *msg;
	_Atomic es_respond_result_t res;
	atomic_bool done;
};

static void *
answerer_main(void *arg)
{
	struct answerer *a = arg;

	atomic_store(&a->res,
	    es_respond_auth_result(a->c, a->msg, ES_AUTH_RESULT_ALLOW, false));
	atomic_store(&a->done, true);
	return NULL;
}

/*
 * A thread that holds the kernel's lock (one preempted while it posts or
 * keeps the books) holds up neither delivery nor an answer: a queue has a
 * lock of its own, and an answer is accepted without the kernel's lock,
 * its books kept once the lock is free.  Before, both waited for it.
 */
Test(essim, neither_delivery_nor_answers_wait_for_the_kernel_lock)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_EXEC };
	struct rec *r = rec_new(M_RETAIN);
	struct answerer a[2];
	pthread_t th[2];
	es_client_t *c;
	audit_token_t p;
	uint64_t end;
	int i;

	kinit(NULL);
	p = proc(100, "/bin/zsh", false);
	c = client(r, types, 1);
	atomic_store(&r->gate_closed, true);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/a", 0, LONG), 1);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/b", 0, LONG), 1);
	cr_assert(wait_in(r, 1));

	pthread_mutex_lock(&essim__k.lock);
	atomic_store(&r->gate_closed, false);
	cr_assert(wait_in(r, 2), "the second message waited for the lock");
	for (i = 0; i < 2; i++) {
		a[i] = (struct answerer){ .c = c, .msg = r->e[i].msg };
		cr_assert_eq(
		    pthread_create(&th[i], NULL, answerer_main, &a[i]), 0);
	}
	/* 2 s: far beyond a thread's wait for a CPU on a loaded VM. */
	end = now_ns() + 2000 * MS;
	while ((!atomic_load(&a[0].done) || !atomic_load(&a[1].done)) &&
	    now_ns() < end)
		sleep_ns(1 * MS);
	for (i = 0; i < 2; i++)
		cr_assert(atomic_load(&a[i].done),
		    "answer %d waited for the kernel's lock", i);
	pthread_mutex_unlock(&essim__k.lock);
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(atomic_load(&a[i].res), ES_RESPOND_RESULT_SUCCESS);
	}
	/* The books caught up once the lock was free. */
	cr_assert(essim_wait_idle(2000 * MS));
	cr_assert_eq(report(c).answered, 2);
	cr_assert_eq(
	    es_respond_auth_result(c, r->e[0].msg, ES_AUTH_RESULT_ALLOW, false),
	    ES_RESPOND_RESULT_ERR_DUPLICATE_RESPONSE);
	for (i = 0; i < 2; i++)
		es_release_message(r->e[i].msg);
	essim_kernel_fini();
	rec_free(r);
}

Test(essim, wrong_respond_call_is_event_type_error)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_OPEN,
		ES_EVENT_TYPE_AUTH_EXEC, ES_EVENT_TYPE_NOTIFY_EXEC };
	struct rec *r = rec_new(M_RETAIN);
	struct essim_client_report rep;
	const es_message_t *open, *exec, *note;
	es_client_t *c;
	audit_token_t p;

	kinit(NULL);
	p = proc(100, "/bin/zsh", false);
	c = client(r, types, 3);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_OPEN, p, "/f", FREAD, LONG), 1);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ls", 0, LONG), 1);
	cr_assert_eq(post(ES_EVENT_TYPE_NOTIFY_EXEC, p, "/bin/ls", 0, 0), 1);
	cr_assert(wait_in(r, 3));
	open = r->e[0].msg;
	exec = r->e[1].msg;
	note = r->e[2].msg;
	cr_assert_eq(open->event_type, ES_EVENT_TYPE_AUTH_OPEN);
	cr_assert_eq(exec->event_type, ES_EVENT_TYPE_AUTH_EXEC);
	cr_assert_eq(note->action_type, ES_ACTION_TYPE_NOTIFY);

	cr_assert_eq(
	    es_respond_auth_result(c, open, ES_AUTH_RESULT_ALLOW, false),
	    ES_RESPOND_RESULT_ERR_EVENT_TYPE);
	cr_assert_eq(es_respond_flags_result(c, exec, UINT32_MAX, false),
	    ES_RESPOND_RESULT_ERR_EVENT_TYPE);
	cr_assert_eq(
	    es_respond_auth_result(c, note, ES_AUTH_RESULT_ALLOW, false),
	    ES_RESPOND_RESULT_ERR_EVENT_TYPE);
	cr_assert_eq(es_respond_flags_result(c, note, UINT32_MAX, false),
	    ES_RESPOND_RESULT_ERR_EVENT_TYPE);
	/* The wrong call did not count as the answer. */
	cr_assert_eq(es_respond_flags_result(c, open, UINT32_MAX, false),
	    ES_RESPOND_RESULT_SUCCESS);
	cr_assert_eq(
	    es_respond_auth_result(c, exec, ES_AUTH_RESULT_ALLOW, false),
	    ES_RESPOND_RESULT_SUCCESS);
	rep = report(c);
	cr_assert_eq(rep.wrong_type, 4);
	cr_assert_eq(rep.answered, 2);
	for (int i = 0; i < 3; i++)
		es_release_message(r->e[i].msg);
	essim_kernel_fini();
	rec_free(r);
}

Test(essim, flags_answer_allows_only_when_all_requested_bits_are_granted)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_OPEN };
	struct {
		int32_t fflag;
		uint32_t answer;
		bool allowed;
	} cases[] = {
		{ FREAD | FWRITE, FREAD, false },
		{ FREAD, FREAD | FWRITE, true },
		{ FREAD, 0, false },
		{ FREAD | FWRITE, UINT32_MAX, true },
		{ FWRITE, FWRITE, true },
	};
	struct rec *r = rec_new(M_RETAIN);
	struct essim_client_report rep;
	uint64_t allowed = 0;
	es_client_t *c;
	audit_token_t p;
	char path[32];
	int n = (int)(sizeof cases / sizeof cases[0]);

	kinit(NULL);
	p = proc(100, "/bin/cat", false);
	c = client(r, types, 1);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof path, "/file%d", i);
		cr_assert_eq(post(ES_EVENT_TYPE_AUTH_OPEN, p, path,
		                 cases[i].fflag, LONG),
		    1);
	}
	cr_assert(wait_in(r, n));
	for (int i = 0; i < n; i++) {
		cr_assert_eq(r->e[i].fflag, cases[i].fflag);
		cr_assert_eq(es_respond_flags_result(
		                 c, r->e[i].msg, cases[i].answer, false),
		    ES_RESPOND_RESULT_SUCCESS);
		allowed += cases[i].allowed;
		rep = report(c);
		cr_assert_eq(rep.allowed, allowed, "case %d", i);
		es_release_message(r->e[i].msg);
	}
	cr_assert_eq(rep.denied, (uint64_t)n - allowed);
	essim_kernel_fini();
	rec_free(r);
}

Test(essim, answer_with_another_client_is_invalid_argument)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_EXEC };
	struct rec *ra = rec_new(M_RETAIN), *rb = rec_new(M_ALLOW);
	es_client_t *a, *b;
	audit_token_t p;

	kinit(NULL);
	p = proc(100, "/bin/zsh", false);
	a = client(ra, types, 1);
	b = client(rb, types, 1);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ls", 0, LONG), 2);
	cr_assert(wait_in(ra, 1));
	cr_assert_eq(es_respond_auth_result(
	                 b, ra->e[0].msg, ES_AUTH_RESULT_ALLOW, false),
	    ES_RESPOND_RESULT_ERR_INVALID_ARGUMENT);
	cr_assert_eq(es_respond_auth_result(
	                 a, ra->e[0].msg, ES_AUTH_RESULT_ALLOW, false),
	    ES_RESPOND_RESULT_SUCCESS);
	cr_assert(essim_wait_idle(2000 * MS));
	es_release_message(ra->e[0].msg);
	essim_kernel_fini();
	rec_free(ra);
	rec_free(rb);
}

/* ---- the result cache ---------------------------------------------------- */

Test(essim, cache_suppresses_auth_for_every_client_but_not_notify)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_EXEC,
		ES_EVENT_TYPE_NOTIFY_EXEC };
	struct rec *ra = rec_new(M_ALLOW_CACHE), *rb = rec_new(M_ALLOW);
	es_client_t *a, *b;
	audit_token_t p, p2;

	kinit(NULL);
	p = proc(100, "/bin/zsh", false);
	p2 = proc(101, "/bin/zsh", false); /* the key is the executable */
	a = client(ra, types, 2);
	b = client(rb, types, 2);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ls", 0, LONG), 2);
	cr_assert(wait_done(ra, 1));
	cr_assert(wait_done(rb, 1));
	cr_assert_eq(ra->e[0].res, ES_RESPOND_RESULT_SUCCESS);
	cr_assert_eq(report(a).cached, 1);
	cr_assert_eq(report(b).cached, 0);

	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ls", 0, LONG), 0);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p2, "/bin/ls", 0, LONG), 0);
	cr_assert_eq(report(a).cache_hits, 2);
	cr_assert_eq(report(b).cache_hits, 2);
	/* The NOTIFY counterpart still arrives, other pairs too. */
	cr_assert_eq(post(ES_EVENT_TYPE_NOTIFY_EXEC, p, "/bin/ls", 0, 0), 2);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ps", 0, LONG), 2);
	cr_assert(wait_done(ra, 3));
	cr_assert(wait_done(rb, 3));
	cr_assert_eq(ra->e[1].type, ES_EVENT_TYPE_NOTIFY_EXEC);
	cr_assert_str_eq(ra->e[2].path, "/bin/ps");
	cr_assert_eq(report(a).auth_delivered, 2);
	cr_assert_eq(report(b).auth_delivered, 2);
	essim_kernel_fini();
	rec_free(ra);
	rec_free(rb);
}

Test(essim, cache_denies_an_open_whose_flags_are_not_a_subset)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_OPEN };
	struct rec *ra = rec_new(M_ALLOW_CACHE), *rb = rec_new(M_ALLOW);
	struct essim_client_report k;
	es_client_t *a, *b;
	audit_token_t p;

	kinit(NULL);
	p = proc(100, "/bin/cat", false);
	a = client(ra, types, 1);
	b = client(rb, types, 1);
	ra->flags = FREAD;
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_OPEN, p, "/f", FREAD, LONG), 2);
	cr_assert(wait_done(ra, 1));
	cr_assert(wait_done(rb, 1));
	cr_assert_eq(report(a).cached, 1);
	/* A subset passes from the cache; a superset is denied from it, for
	 * every client, and reaches none: not even b, which never cached. */
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_OPEN, p, "/f", FREAD, LONG), 0);
	cr_assert_eq(
	    post(ES_EVENT_TYPE_AUTH_OPEN, p, "/f", FREAD | FWRITE, LONG), 0);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_OPEN, p, "/f", FWRITE, LONG), 0);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_OPEN, p, "/g", FREAD, LONG), 2);
	cr_assert(wait_done(ra, 2));
	cr_assert_str_eq(ra->e[1].path, "/g");
	cr_assert_eq(report(a).cache_hits, 3);
	cr_assert_eq(report(a).cache_denied, 2);
	cr_assert_eq(report(b).cache_denied, 2);
	cr_assert_eq(report(a).denied, 0);
	essim_kernel_report(&k);
	cr_assert_eq(k.cache_denied, 4);
	essim_kernel_fini();
	rec_free(ra);
	rec_free(rb);
}

Test(essim, cache_of_all_flags_passes_every_open)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_OPEN };
	struct rec *r = rec_new(M_ALLOW_CACHE);
	es_client_t *c;
	audit_token_t p;

	kinit(NULL);
	p = proc(100, "/bin/cat", false);
	c = client(r, types, 1);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_OPEN, p, "/f", FREAD, LONG), 1);
	cr_assert(wait_done(r, 1));
	cr_assert_eq(
	    post(ES_EVENT_TYPE_AUTH_OPEN, p, "/f", FREAD | FWRITE, LONG), 0);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_OPEN, p, "/f", FWRITE, LONG), 0);
	cr_assert_eq(report(c).cache_hits, 2);
	cr_assert_eq(report(c).cache_denied, 0);
	essim_kernel_fini();
	rec_free(r);
}

Test(essim, cache_holds_only_open_exec_and_mount)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_UNLINK,
		ES_EVENT_TYPE_AUTH_MOUNT };
	struct rec *r = rec_new(M_ALLOW_CACHE);
	es_client_t *c;
	audit_token_t p;

	kinit(NULL);
	p = proc(100, "/bin/rm", false);
	c = client(r, types, 2);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_UNLINK, p, "/f", 0, LONG), 1);
	cr_assert(wait_done(r, 1));
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_UNLINK, p, "/f", 0, LONG), 1);
	cr_assert(wait_done(r, 2));
	cr_assert_eq(report(c).cached, 0);
	cr_assert_eq(
	    post(ES_EVENT_TYPE_AUTH_MOUNT, p, "/Volumes/X", 0, LONG), 1);
	cr_assert(wait_done(r, 3));
	cr_assert_eq(report(c).cached, 1);
	cr_assert_eq(
	    post(ES_EVENT_TYPE_AUTH_MOUNT, p, "/Volumes/X", 0, LONG), 0);
	cr_assert_eq(report(c).cache_hits, 1);
	essim_kernel_fini();
	rec_free(r);
}

Test(essim, deny_is_never_cached)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_EXEC,
		ES_EVENT_TYPE_AUTH_OPEN };
	struct rec *r = rec_new(M_DENY_CACHE);
	es_client_t *c;
	audit_token_t p;

	kinit(NULL);
	p = proc(100, "/bin/zsh", false);
	c = client(r, types, 2);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(
		    post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/x", 0, LONG), 1,
		    "round %d", i);
		cr_assert_eq(
		    post(ES_EVENT_TYPE_AUTH_OPEN, p, "/f", FREAD, LONG), 1,
		    "round %d", i);
		cr_assert(wait_done(r, 2 * (i + 1)));
	}
	cr_assert_eq(report(c).cached, 0);
	cr_assert_eq(report(c).denied, 4);
	cr_assert_eq(report(c).cache_hits, 0);
	essim_kernel_fini();
	rec_free(r);
}

Test(essim, clear_cache_empties_it_and_is_throttled)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_EXEC };
	struct rec *r = rec_new(M_ALLOW_CACHE);
	struct essim_config cfg;
	es_client_t *c;
	audit_token_t p;

	essim_config_init(&cfg);
	/* The second clear comes one delivery after the first: 300 ms is
	 * over ten times what that takes on a loaded machine. */
	cfg.clear_cache_throttle_ns = 300 * MS;
	kinit(&cfg);
	p = proc(100, "/bin/zsh", false);
	c = client(r, types, 1);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/x", 0, LONG), 1);
	cr_assert(wait_done(r, 1));
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/x", 0, LONG), 0);
	cr_assert_eq(es_clear_cache(c), ES_CLEAR_CACHE_RESULT_SUCCESS);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/x", 0, LONG), 1);
	cr_assert(wait_done(r, 2));
	cr_assert_eq(es_clear_cache(c), ES_CLEAR_CACHE_RESULT_ERR_THROTTLE);
	/* Throttled: nothing was cleared. */
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/x", 0, LONG), 0);
	sleep_ns(400 * MS);
	cr_assert_eq(es_clear_cache(c), ES_CLEAR_CACHE_RESULT_SUCCESS);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/x", 0, LONG), 1);
	cr_assert(wait_done(r, 3));
	essim_kernel_fini();
	rec_free(r);
}

/* ---- muting ------------------------------------------------------------- */

static bool
token_eq(const audit_token_t *a, const audit_token_t *b)
{
	return memcmp(a, b, sizeof *a) == 0;
}

Test(essim, new_clients_start_with_the_default_mute_set)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_NOTIFY_WRITE };
	struct rec *r = rec_new(M_NONE), *r2 = rec_new(M_NONE);
	audit_token_t sys, usr, *list;
	es_client_t *c, *c2;
	size_t n;

	kinit(NULL);
	sys = proc(50, "/usr/libexec/logd", true);
	usr = proc(100, "/bin/zsh", false);
	c = client(r, types, 1);
	cr_assert_eq(es_muted_processes(c, &n, &list), ES_RETURN_SUCCESS);
	cr_assert_eq(n, 1);
	cr_assert(token_eq(&list[0], &sys));
	free(list);
	cr_assert_eq(post(ES_EVENT_TYPE_NOTIFY_WRITE, sys, "/f", 0, 0), 0);
	cr_assert_eq(post(ES_EVENT_TYPE_NOTIFY_WRITE, usr, "/f", 0, 0), 1);
	cr_assert_eq(es_unmute_process(c, &sys), ES_RETURN_SUCCESS);
	cr_assert_eq(post(ES_EVENT_TYPE_NOTIFY_WRITE, sys, "/f", 0, 0), 1);
	/* The set is per client: a new one starts from the default. */
	c2 = client(r2, types, 1);
	cr_assert_eq(es_muted_processes(c2, &n, &list), ES_RETURN_SUCCESS);
	cr_assert_eq(n, 1);
	free(list);
	cr_assert_eq(post(ES_EVENT_TYPE_NOTIFY_WRITE, sys, "/f", 0, 0), 1);
	cr_assert(wait_in(r, 3));
	essim_kernel_fini();
	rec_free(r);
	rec_free(r2);
}

Test(essim, mute_process_matches_pid_and_pidversion)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_NOTIFY_WRITE };
	struct rec *r = rec_new(M_NONE);
	audit_token_t t1, t2, *list;
	es_client_t *c;
	size_t n;

	kinit(NULL);
	t1 = proc(500, "/bin/a", false);
	t2 = proc(500, "/bin/b", false); /* the pid, reused */
	cr_assert_eq(audit_token_to_pid(t1), 500);
	cr_assert_eq(audit_token_to_pid(t2), 500);
	cr_assert_eq(audit_token_to_euid(t1), 501);
	cr_assert_neq(
	    audit_token_to_pidversion(t1), audit_token_to_pidversion(t2));
	c = client(r, types, 1);
	cr_assert_eq(es_mute_process(c, &t1), ES_RETURN_SUCCESS);
	cr_assert_eq(es_mute_process(c, &t1), ES_RETURN_SUCCESS);
	cr_assert_eq(es_muted_processes(c, &n, &list), ES_RETURN_SUCCESS);
	cr_assert_eq(n, 1);
	cr_assert(token_eq(&list[0], &t1));
	free(list);
	cr_assert_eq(post(ES_EVENT_TYPE_NOTIFY_WRITE, t1, "/f", 0, 0), 0);
	cr_assert_eq(post(ES_EVENT_TYPE_NOTIFY_WRITE, t2, "/f", 0, 0), 1);
	cr_assert_eq(es_unmute_process(c, &t1), ES_RETURN_SUCCESS);
	cr_assert_eq(es_muted_processes(c, &n, &list), ES_RETURN_SUCCESS);
	cr_assert_eq(n, 0);
	free(list);
	cr_assert_eq(post(ES_EVENT_TYPE_NOTIFY_WRITE, t1, "/f", 0, 0), 1);
	cr_assert(wait_in(r, 2));
	essim_kernel_fini();
	rec_free(r);
}

static int
post_rename(
    audit_token_t who, const char *from, const char *dir, const char *name)
{
	struct essim_event ev = {
		.type = ES_EVENT_TYPE_NOTIFY_RENAME,
		.proc = who,
		.target = from,
		.target2 = dir,
		.name2 = name,
	};

	return essim_post(&ev);
}

Test(essim, mute_path_prefix_literal_and_target)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_NOTIFY_WRITE,
		ES_EVENT_TYPE_NOTIFY_RENAME };
	es_event_type_t w = ES_EVENT_TYPE_NOTIFY_WRITE;
	struct rec *r = rec_new(M_NONE);
	audit_token_t ls, lsof, sh, app;
	es_client_t *c;

	kinit(NULL);
	ls = proc(10, "/usr/bin/ls", false);
	lsof = proc(11, "/usr/bin/lsof", false);
	sh = proc(12, "/bin/sh", false);
	app = proc(13, "/Applications/App", false);
	c = client(r, types, 2);

	cr_assert_eq(es_mute_path(c, "/usr/bin/ls", ES_MUTE_PATH_TYPE_LITERAL),
	    ES_RETURN_SUCCESS);
	cr_assert_eq(es_mute_path(c, "/bin/", ES_MUTE_PATH_TYPE_PREFIX),
	    ES_RETURN_SUCCESS);
	cr_assert_eq(es_mute_path(c, "/tmp/", ES_MUTE_PATH_TYPE_TARGET_PREFIX),
	    ES_RETURN_SUCCESS);
	cr_assert_eq(
	    es_mute_path(c, "/etc/passwd", ES_MUTE_PATH_TYPE_TARGET_LITERAL),
	    ES_RETURN_SUCCESS);
	cr_assert_eq(post(w, ls, "/var/x", 0, 0), 0);
	cr_assert_eq(post(w, lsof, "/var/x", 0, 0), 1);
	cr_assert_eq(post(w, sh, "/var/x", 0, 0), 0);
	cr_assert_eq(post(w, app, "/tmp/x", 0, 0), 0);
	cr_assert_eq(post(w, app, "/var/x", 0, 0), 1);
	cr_assert_eq(post(w, app, "/etc/passwd", 0, 0), 0);
	cr_assert_eq(post(w, app, "/etc/passwd2", 0, 0), 1);
	/* Several targets: muted only when all of them are. */
	cr_assert_eq(post_rename(app, "/tmp/a", "/var", "b"), 1);
	cr_assert_eq(post_rename(app, "/tmp/a", "/tmp", "b"), 0);

	cr_assert_eq(es_unmute_path(c, "/bin/", ES_MUTE_PATH_TYPE_PREFIX),
	    ES_RETURN_SUCCESS);
	/* An entry that is not there: no effect. */
	cr_assert_eq(es_unmute_path(c, "/usr/", ES_MUTE_PATH_TYPE_PREFIX),
	    ES_RETURN_SUCCESS);
	cr_assert_eq(post(w, sh, "/var/x", 0, 0), 1);
	cr_assert_eq(post(w, ls, "/var/x", 0, 0), 0);
	cr_assert(wait_in(r, 5));
	essim_kernel_fini();
	rec_free(r);
}

/* ---- queues and delivery --------------------------------------------------
 */

Test(essim, queue_overflow_allows_drops_and_leaves_seq_gaps)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_OPEN,
		ES_EVENT_TYPE_NOTIFY_WRITE };
	es_event_type_t o = ES_EVENT_TYPE_AUTH_OPEN;
	es_event_type_t w = ES_EVENT_TYPE_NOTIFY_WRITE;
	struct {
		es_event_type_t type;
		uint64_t seq, gseq;
	} want[] = {
		{ o, 0, 0 },
		{ o, 1, 1 },
		{ w, 0, 2 },
		/* dropped: OPEN 2 / 3, WRITE 1 / 4 */
		{ o, 3, 5 },
		{ w, 2, 6 },
	};
	struct rec *r = rec_new(M_ALLOW);
	struct essim_config cfg;
	es_client_t *c;
	audit_token_t p;

	essim_config_init(&cfg);
	cfg.queue_size = 2;
	kinit(&cfg);
	p = proc(100, "/bin/cat", false);
	c = client(r, types, 2);
	atomic_store(&r->gate_closed, true);
	cr_assert_eq(post(o, p, "/0", FREAD, LONG), 1);
	cr_assert(wait_in(r, 1)); /* held in the handler */
	cr_assert_eq(post(o, p, "/1", FREAD, LONG), 1);
	cr_assert_eq(post(w, p, "/2", 0, 0), 1);
	cr_assert_eq(post(o, p, "/3", FREAD, LONG), 0);
	cr_assert_eq(post(w, p, "/4", 0, 0), 0);
	cr_assert_eq(report(c).kernel_drops, 2);
	/* The dropped AUTH is allowed by the kernel, not pending. */
	atomic_store(&r->gate_closed, false);
	cr_assert(wait_done(r, 3));
	cr_assert_eq(post(o, p, "/5", FREAD, LONG), 1);
	cr_assert_eq(post(w, p, "/6", 0, 0), 1);
	cr_assert(wait_done(r, 5));
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(r->e[i].type, want[i].type, "message %d", i);
		cr_assert_eq(r->e[i].seq, want[i].seq, "message %d", i);
		cr_assert_eq(r->e[i].gseq, want[i].gseq, "message %d", i);
	}
	cr_assert(essim_wait_idle(1000 * MS));
	cr_assert_eq(report(c).missed, 0);
	cr_assert_eq(report(c).answered, 3);
	essim_kernel_fini();
	rec_free(r);
}

Test(essim, delivery_is_serial_in_order_on_one_named_thread)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_OPEN,
		ES_EVENT_TYPE_NOTIFY_WRITE };
	struct rec *r = rec_new(M_ALLOW);
	es_client_t *c;
	audit_token_t p;
	char path[16];
	int n = 8;

	kinit(NULL);
	p = proc(100, "/bin/cat", false);
	c = client(r, types, 2);
	r->sleep_ns = 15 * MS;
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof path, "/f%d", i);
		cr_assert_eq(post(i % 2 ? ES_EVENT_TYPE_NOTIFY_WRITE
		                        : ES_EVENT_TYPE_AUTH_OPEN,
		                 p, path, FREAD, LONG),
		    1);
	}
	cr_assert(wait_done(r, n));
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof path, "/f%d", i);
		cr_assert_str_eq(r->e[i].path, path, "order");
		cr_assert_eq(r->e[i].gseq, (uint64_t)i);
		cr_assert_eq(r->e[i].seq, (uint64_t)i / 2);
		cr_assert(pthread_equal(r->e[i].thread, r->e[0].thread));
		cr_assert_str_eq(r->e[i].tname, "essim-deliver");
		if (i > 0)
			cr_assert_geq(r->e[i].t_in, r->e[i - 1].t_out,
			    "message %d delivered before the handler of %d "
			    "returned",
			    i, i - 1);
	}
	cr_assert(!pthread_equal(r->e[0].thread, pthread_self()));
	cr_assert_eq(report(c).auth_delivered, 4);
	cr_assert_eq(report(c).notify_delivered, 4);
	essim_kernel_fini();
	rec_free(r);
}

static bool
thread_named(const char *name)
{
	char path[300], comm[32];
	struct dirent *d;
	bool found = false;
	DIR *dir = opendir("/proc/self/task");
	FILE *f;

	cr_assert_not_null(dir);
	while (!found && (d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(
		    path, sizeof path, "/proc/self/task/%s/comm", d->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(comm, sizeof comm, f) != NULL) {
			comm[strcspn(comm, "\n")] = '\0';
			found = strcmp(comm, name) == 0;
		}
		fclose(f);
	}
	closedir(dir);
	return found;
}

Test(essim, kernel_threads_are_named)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_NOTIFY_WRITE };
	struct rec *r = rec_new(M_NONE);
	audit_token_t p;

	/* A creator's name must not leak into the kernel's threads. */
	pthread_setname_np(pthread_self(), "vd-worker-0");
	kinit(NULL);
	p = proc(100, "/bin/cat", false);
	client(r, types, 1);
	cr_assert_eq(post(ES_EVENT_TYPE_NOTIFY_WRITE, p, "/f", 0, 0), 1);
	cr_assert(wait_done(r, 1));
	cr_assert_str_eq(r->e[0].tname, "essim-deliver");
	cr_assert(thread_named("essim-watchdog"));
	cr_assert(thread_named("essim-deliver"));
	essim_kernel_fini();
	rec_free(r);
}

/* ---- message lifetimes ----------------------------------------------------
 */

Test(essim, retained_message_outlives_handler_and_termination)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_OPEN };
	struct rec *r = rec_new(M_RETAIN);
	const es_message_t *m;
	es_client_t *c;
	audit_token_t p;

	kinit(NULL);
	p = proc(100, "/usr/bin/reader", false);
	c = client(r, types, 1);
	cr_assert_eq(
	    post(ES_EVENT_TYPE_AUTH_OPEN, p, "/data/secret", FREAD, 40 * MS),
	    1);
	cr_assert(wait_done(r, 1));
	cr_assert(wait_terminated(c, 2000));
	m = r->e[0].msg;
	cr_assert_str_eq(m->event.open.file->path.data, "/data/secret");
	cr_assert_str_eq(m->process->executable->path.data, "/usr/bin/reader");
	cr_assert_eq(report(c).retained_now, 1);
	es_retain_message(m);
	cr_assert_eq(report(c).retained_now, 2);
	es_release_message(m);
	cr_assert_str_eq(m->event.open.file->path.data, "/data/secret");
	es_release_message(m);
	cr_assert_eq(report(c).retained_now, 0);
	essim_kernel_fini();
	rec_free(r);
}

Test(essim, retained_message_outlives_delete_and_fini)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_EXEC };
	struct rec *r = rec_new(M_RETAIN);
	struct essim_client_report rep;
	const es_message_t *m;
	es_client_t *c;
	audit_token_t p;

	kinit(NULL);
	p = proc(100, "/bin/zsh", false);
	c = client(r, types, 1);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ls", 0, SHORT), 1);
	cr_assert(wait_done(r, 1));
	m = r->e[0].msg;
	/* Deleting the client allows its pending message: not a miss. */
	cr_assert_eq(es_delete_client(c), ES_RETURN_SUCCESS);
	cr_assert_eq(es_delete_client(c), ES_RETURN_ERROR);
	cr_assert(essim_wait_idle(0));
	sleep_ns(PAST);
	rep = report(c);
	cr_assert_eq(rep.missed, 0);
	cr_assert(!rep.terminated);
	cr_assert_eq(es_respond_auth_result(c, m, ES_AUTH_RESULT_ALLOW, false),
	    ES_RESPOND_RESULT_NOT_FOUND);
	cr_assert_eq(report(c).late, 0);
	essim_kernel_fini();
	cr_assert_str_eq(
	    m->event.exec.target->executable->path.data, "/bin/ls");
	es_release_message(m);
	rec_free(r);
}

Test(essim, copy_answer_counts_as_the_original_answer)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_EXEC };
	struct rec *r = rec_new(M_COPY);
	struct essim_client_report rep;
	es_message_t *copy;
	es_client_t *c;
	audit_token_t p;

	kinit(NULL);
	p = proc(100, "/bin/zsh", false);
	c = client(r, types, 1);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ls", 0, SHORT), 1);
	cr_assert(wait_done(r, 1));
	copy = (es_message_t *)(uintptr_t)r->e[0].msg;
	cr_assert_not_null(copy);
	cr_assert_str_eq(
	    copy->event.exec.target->executable->path.data, "/bin/ls");
	cr_assert_eq(copy->seq_num, r->e[0].seq);
	cr_assert_eq(report(c).retained_now, 1);
	cr_assert_eq(
	    es_respond_auth_result(c, copy, ES_AUTH_RESULT_ALLOW, false),
	    ES_RESPOND_RESULT_SUCCESS);
	cr_assert(essim_wait_idle(0), "the original is still pending");
	cr_assert_eq(
	    es_respond_auth_result(c, copy, ES_AUTH_RESULT_ALLOW, false),
	    ES_RESPOND_RESULT_ERR_DUPLICATE_RESPONSE);
	sleep_ns(PAST); /* past the deadline */
	rep = report(c);
	cr_assert(!rep.terminated);
	cr_assert_eq(rep.missed, 0);
	cr_assert_eq(rep.answered, 1);
	cr_assert_eq(rep.duplicates, 1);
	es_free_message(copy);
	cr_assert_eq(report(c).retained_now, 0);
	essim_kernel_fini();
	rec_free(r);
}

Test(essim, copies_are_deep)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_NOTIFY_RENAME,
		ES_EVENT_TYPE_NOTIFY_UNLINK, ES_EVENT_TYPE_NOTIFY_CREATE,
		ES_EVENT_TYPE_AUTH_SIGNAL, ES_EVENT_TYPE_AUTH_LINK };
	struct rec *r = rec_new(M_COPY);
	struct essim_event ev;
	const es_message_t *m;
	audit_token_t p, victim;
	char longpath[2000];

	kinit(NULL);
	p = proc(100, "/bin/zsh", false);
	victim = proc(200, "/usr/bin/victim", false);
	client(r, types, 5);
	ev = (struct essim_event){ .type = ES_EVENT_TYPE_NOTIFY_RENAME,
		.proc = p,
		.target = "/a/old",
		.target2 = "/b",
		.name2 = "new" };
	cr_assert_eq(essim_post(&ev), 1);
	memset(longpath, 'x', sizeof longpath - 1);
	longpath[0] = '/';
	longpath[sizeof longpath - 1] = '\0';
	ev = (struct essim_event){ .type = ES_EVENT_TYPE_NOTIFY_UNLINK,
		.proc = p,
		.target = longpath };
	cr_assert_eq(essim_post(&ev), 1);
	ev = (struct essim_event){ .type = ES_EVENT_TYPE_NOTIFY_CREATE,
		.proc = p,
		.target = "/dir/file" };
	cr_assert_eq(essim_post(&ev), 1);
	ev = (struct essim_event){ .type = ES_EVENT_TYPE_AUTH_SIGNAL,
		.proc = p,
		.target = "/usr/bin/victim",
		.fflag = 9,
		.deadline_ns = LONG };
	cr_assert_eq(essim_post(&ev), 1);
	/* LINK needs its destination. */
	ev = (struct essim_event){
		.type = ES_EVENT_TYPE_AUTH_LINK, .proc = p, .target = "/a"
	};
	cr_assert_eq(essim_post(&ev), -EINVAL);
	cr_assert(wait_done(r, 4));
	/* The kernel's reference is gone: only the copies remain. */
	essim_kernel_fini();

	m = r->e[0].msg;
	cr_assert_str_eq(m->event.rename.source->path.data, "/a/old");
	cr_assert_eq(
	    m->event.rename.destination_type, ES_DESTINATION_TYPE_NEW_PATH);
	cr_assert_str_eq(
	    m->event.rename.destination.new_path.dir->path.data, "/b");
	cr_assert_str_eq(
	    m->event.rename.destination.new_path.filename.data, "new");
	m = r->e[1].msg;
	cr_assert(m->event.unlink.target->path_truncated);
	cr_assert_eq(m->event.unlink.target->path.length, 1023);
	cr_assert_eq(strlen(m->event.unlink.target->path.data), 1023);
	m = r->e[2].msg;
	cr_assert_str_eq(
	    m->event.create.destination.new_path.dir->path.data, "/dir");
	cr_assert_str_eq(
	    m->event.create.destination.new_path.filename.data, "file");
	m = r->e[3].msg;
	cr_assert_eq(m->event.signal.sig, 9);
	cr_assert(token_eq(&m->event.signal.target->audit_token, &victim));
	cr_assert_str_eq(
	    m->event.signal.target->executable->path.data, "/usr/bin/victim");
	for (int i = 0; i < 4; i++)
		es_free_message((es_message_t *)(uintptr_t)r->e[i].msg);
	rec_free(r);
}

Test(essim, message_fields_and_mach_time)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_OPEN };
	struct rec *r = rec_new(M_RETAIN);
	mach_timebase_info_data_t tb;
	struct timespec rt;
	const es_message_t *m;
	uint64_t t0, t1;
	audit_token_t p;

	cr_assert_eq(mach_timebase_info(&tb), KERN_SUCCESS);
	cr_assert_eq(tb.numer, 125);
	cr_assert_eq(tb.denom, 3);
	t0 = mach_absolute_time();
	sleep_ns(50 * MS);
	t1 = mach_absolute_time();
	/* 24 MHz: 50 ms is 1.2 M ticks (a loaded VM may oversleep). */
	cr_assert_geq(t1 - t0, 1200000);
	cr_assert_lt(t1 - t0, 1200000 * 20);

	kinit(NULL);
	p = proc(4242, "/bin/cat", false);
	client(r, types, 1);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_OPEN, p, "/etc/hosts",
	                 FREAD | FWRITE, 2000 * MS),
	    1);
	cr_assert(wait_in(r, 1));
	m = r->e[0].msg;
	cr_assert_eq(m->version, 6);
	cr_assert_eq(m->action_type, ES_ACTION_TYPE_AUTH);
	cr_assert_eq(m->event_type, ES_EVENT_TYPE_AUTH_OPEN);
	cr_assert_eq(m->event.open.fflag, FREAD | FWRITE);
	cr_assert_str_eq(m->event.open.file->path.data, "/etc/hosts");
	cr_assert(!m->event.open.file->path_truncated);
	cr_assert_eq(audit_token_to_pid(m->process->audit_token), 4242);
	cr_assert(token_eq(&m->process->audit_token, &p));
	cr_assert_str_eq(m->process->executable->path.data, "/bin/cat");
	cr_assert_str_eq(m->process->signing_id.data, "com.example.test");
	cr_assert_not_null(m->thread);
	/* The budget in Mach ticks: 2 s x 3 / 125, give or take rounding. */
	cr_assert_geq(m->deadline - m->mach_time, 48000000 - 1);
	cr_assert_leq(m->deadline - m->mach_time, 48000000 + 1);
	cr_assert_leq(m->mach_time, mach_absolute_time());
	clock_gettime(CLOCK_REALTIME, &rt);
	cr_assert_leq(m->time.tv_sec, rt.tv_sec);
	cr_assert_geq(m->time.tv_sec, rt.tv_sec - 5);
	es_release_message(m);
	essim_kernel_fini();
	rec_free(r);
}

/* Fields newer than the message's version are poisoned, as on macOS they
 * are garbage; those a version has are there. */
Test(essim, older_message_versions_lack_the_newer_fields)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_OPEN };
	struct essim_config cfg;
	const es_message_t *m;
	audit_token_t p;

	essim_config_init(&cfg);
	cr_assert_eq(cfg.msg_version, 6);
	cfg.msg_version = 0;
	cr_assert_eq(essim_kernel_init(&cfg), -EINVAL);
	cfg.msg_version = 7;
	cr_assert_eq(essim_kernel_init(&cfg), -EINVAL);
	for (uint32_t v = 1; v <= 6; v++) {
		struct rec *r = rec_new(M_RETAIN);
		es_message_t *copy;
		es_client_t *c;

		cfg.msg_version = v;
		kinit(&cfg);
		p = proc(4242, "/bin/cat", false);
		c = client(r, types, 1);
		cr_assert_eq(
		    post(ES_EVENT_TYPE_AUTH_OPEN, p, "/etc/hosts", FREAD, LONG),
		    1);
		cr_assert(wait_in(r, 1));
		m = r->e[0].msg;
		cr_assert_eq(m->version, v);
		/* What every version has. */
		cr_assert_str_eq(m->event.open.file->path.data, "/etc/hosts");
		cr_assert_eq(audit_token_to_pid(m->process->audit_token), 4242);
		cr_assert_eq(m->seq_num == ESSIM_ABSENT_U64, v < 2, "v%u", v);
		cr_assert_eq(
		    (uint64_t)m->process->start_time.tv_sec == ESSIM_ABSENT_U64,
		    v < 3, "v%u", v);
		cr_assert_eq(
		    m->global_seq_num == ESSIM_ABSENT_U64, v < 4, "v%u", v);
		cr_assert_eq(m->thread == NULL, v < 4, "v%u", v);
		/* A copy is the same message, of the same version. */
		copy = es_copy_message(m);
		cr_assert_not_null(copy);
		cr_assert_eq(copy->version, v);
		cr_assert_eq(copy->global_seq_num, m->global_seq_num);
		es_free_message(copy);
		cr_assert_eq(es_respond_flags_result(c, m, UINT32_MAX, false),
		    ES_RESPOND_RESULT_SUCCESS);
		es_release_message(m);
		essim_kernel_fini();
		rec_free(r);
	}
}

/* ---- clients ------------------------------------------------------------ */

Test(essim, new_client_fails_with_each_configured_error)
{
	es_new_client_result_t errs[] = {
		ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT,
		ES_NEW_CLIENT_RESULT_ERR_INTERNAL,
		ES_NEW_CLIENT_RESULT_ERR_NOT_ENTITLED,
		ES_NEW_CLIENT_RESULT_ERR_NOT_PERMITTED,
		ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED,
		ES_NEW_CLIENT_RESULT_ERR_TOO_MANY_CLIENTS,
	};
	es_handler_block_t h = ^(es_client_t *cl, const es_message_t *m) {
		(void)cl;
		(void)m;
	};
	es_client_t **volatile no_client = NULL;
	es_handler_block_t volatile no_handler = NULL;
	struct essim_config cfg;
	es_client_t *c;

	essim_config_init(&cfg);
	cfg.new_client_result = ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED;
	kinit(&cfg);
	c = (es_client_t *)1;
	cr_assert_eq(
	    es_new_client(&c, h), ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED);
	cr_assert_null(c);
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
		essim_set_new_client_result(errs[i]);
		c = (es_client_t *)1;
		cr_assert_eq(es_new_client(&c, h), errs[i], "error %zu", i);
		cr_assert_null(c);
	}
	essim_set_new_client_result(ES_NEW_CLIENT_RESULT_SUCCESS);
	/* Through variables: the prototypes say _Nonnull. */
	cr_assert_eq(es_new_client(no_client, h),
	    ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT);
	cr_assert_eq(es_new_client(&c, no_handler),
	    ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT);
	cr_assert_eq(es_new_client(&c, h), ES_NEW_CLIENT_RESULT_SUCCESS);
	cr_assert_not_null(c);
	cr_assert_eq(es_delete_client(c), ES_RETURN_SUCCESS);
	essim_kernel_fini();
}

Test(essim, max_clients_is_enforced)
{
	es_handler_block_t h = ^(es_client_t *cl, const es_message_t *m) {
		(void)cl;
		(void)m;
	};
	struct essim_config cfg;
	es_client_t *a, *b, *c;

	essim_config_init(&cfg);
	cfg.max_clients = 2;
	kinit(&cfg);
	cr_assert_eq(es_new_client(&a, h), ES_NEW_CLIENT_RESULT_SUCCESS);
	cr_assert_eq(es_new_client(&b, h), ES_NEW_CLIENT_RESULT_SUCCESS);
	cr_assert_eq(
	    es_new_client(&c, h), ES_NEW_CLIENT_RESULT_ERR_TOO_MANY_CLIENTS);
	cr_assert_eq(es_delete_client(a), ES_RETURN_SUCCESS);
	cr_assert_eq(es_new_client(&c, h), ES_NEW_CLIENT_RESULT_SUCCESS);
	cr_assert_eq(essim_kernel_init(NULL), -EBUSY);
	essim_kernel_fini();
	/* Not running: no client. */
	cr_assert_eq(es_new_client(&c, h), ES_NEW_CLIENT_RESULT_ERR_INTERNAL);
	kinit(NULL);
	essim_kernel_fini();
}

Test(essim, subscriptions_select_events)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_NOTIFY_WRITE,
		ES_EVENT_TYPE_NOTIFY_EXIT };
	es_event_type_t bad = ES_EVENT_TYPE_LAST;
	struct rec *r = rec_new(M_NONE);
	struct essim_event ev;
	es_client_t *c;
	audit_token_t p, ghost = { { 0 } };

	kinit(NULL);
	p = proc(100, "/bin/cat", false);
	c = client(r, types, 2);
	cr_assert_eq(es_subscribe(c, &bad, 1), ES_RETURN_ERROR);
	cr_assert_eq(post(ES_EVENT_TYPE_NOTIFY_WRITE, p, "/f", 0, 0), 1);
	cr_assert_eq(post(ES_EVENT_TYPE_NOTIFY_UNLINK, p, "/f", 0, 0), 0);
	cr_assert_eq(es_unsubscribe(c, types, 1), ES_RETURN_SUCCESS);
	cr_assert_eq(post(ES_EVENT_TYPE_NOTIFY_WRITE, p, "/f", 0, 0), 0);
	ev = (struct essim_event){ .type = ES_EVENT_TYPE_NOTIFY_EXIT,
		.proc = p };
	cr_assert_eq(essim_post(&ev), 1);
	cr_assert_eq(es_unsubscribe_all(c), ES_RETURN_SUCCESS);
	cr_assert_eq(essim_post(&ev), 0);
	/* Outside what the kernel generates: fine, never fires. */
	bad = ES_EVENT_TYPE_NOTIFY_KEXTLOAD;
	cr_assert_eq(es_subscribe(c, &bad, 1), ES_RETURN_SUCCESS);
	cr_assert_eq(
	    post(ES_EVENT_TYPE_NOTIFY_KEXTLOAD, p, "/k", 0, 0), -EINVAL);
	cr_assert_eq(
	    post(ES_EVENT_TYPE_NOTIFY_WRITE, ghost, "/f", 0, 0), -EINVAL);
	cr_assert(wait_in(r, 2));
	essim_kernel_fini();
	rec_free(r);
}

Test(essim, wait_idle_waits_for_pending_auth)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_EXEC,
		ES_EVENT_TYPE_NOTIFY_EXEC };
	struct rec *r = rec_new(M_RETAIN);
	es_client_t *c;
	audit_token_t p;
	uint64_t t0;

	kinit(NULL);
	p = proc(100, "/bin/zsh", false);
	c = client(r, types, 2);
	cr_assert(essim_wait_idle(0));
	cr_assert_eq(post(ES_EVENT_TYPE_NOTIFY_EXEC, p, "/bin/ls", 0, 0), 1);
	cr_assert(essim_wait_idle(0), "NOTIFY is never pending");
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ls", 0, LONG), 1);
	cr_assert(wait_in(r, 2));
	t0 = now_ns();
	cr_assert(!essim_wait_idle(50 * MS));
	cr_assert_geq(now_ns() - t0, 40 * MS);
	cr_assert_eq(
	    es_respond_auth_result(c, r->e[1].msg, ES_AUTH_RESULT_ALLOW, false),
	    ES_RESPOND_RESULT_SUCCESS);
	cr_assert(essim_wait_idle(2000 * MS));
	es_release_message(r->e[0].msg);
	es_release_message(r->e[1].msg);
	essim_kernel_fini();
	rec_free(r);
}

Test(essim, kernel_report_sums_every_client)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_EXEC };
	struct rec *ra = rec_new(M_ALLOW), *rb = rec_new(M_DENY);
	struct essim_client_report all;
	es_client_t *a, *b;
	audit_token_t p;

	kinit(NULL);
	p = proc(100, "/bin/zsh", false);
	a = client(ra, types, 1);
	b = client(rb, types, 1);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ls", 0, LONG), 2);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ps", 0, LONG), 2);
	cr_assert(essim_wait_idle(3000 * MS));
	cr_assert(wait_done(ra, 2));
	cr_assert(wait_done(rb, 2));
	cr_assert_eq(es_delete_client(b), ES_RETURN_SUCCESS);
	cr_assert_eq(essim_client_report(b, &all), 0, "kept after delete");
	essim_kernel_report(&all);
	cr_assert_eq(all.auth_delivered, 4);
	cr_assert_eq(all.answered, 4);
	cr_assert_eq(all.allowed, 2);
	cr_assert_eq(all.denied, 2);
	cr_assert_eq(all.missed, 0);
	cr_assert(!all.terminated);
	cr_assert_lt(all.slack_min_ns, LONG);
	cr_assert_gt(all.slack_min_ns, LONG / 2);
	cr_assert_lt(all.latency_max_ns, LONG / 2);
	cr_assert_eq(essim_client_report((es_client_t *)&all, &all), -ENOENT);
	(void)a;
	essim_kernel_fini();
	rec_free(ra);
	rec_free(rb);
}

/* ---- the latency books ----------------------------------------------------
 */

static struct essim_latency *
latency(void)
{
	struct essim_latency *l = malloc(sizeof *l);

	cr_assert_not_null(l);
	cr_assert_eq(essim_kernel_latency(l), 0);
	return l;
}

#define P50(h) vd_hist_quantile(&(h), 0.5)

/*
 * One kernel per client, each read after its fini: one whose handler
 * sleeps 2 ms before it answers, twenty AUTH events posted at once (the
 * later ones wait in the queue, so its answer p50 is about 20 ms), and
 * one that answers inline, one event at a time.  The margins hold on a
 * loaded 2-core machine: the inline client's handler p50 must stay under
 * a quarter of the sleeper's (>= 2 ms, so under 0.5 ms at least: its
 * handler takes microseconds), its answer p50 under half the sleeper's
 * (a thread's wake-up, not twenty queued handlers).
 */
Test(essim, latency_times_the_handler_and_the_answer)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_EXEC,
		ES_EVENT_TYPE_NOTIFY_EXEC };
	struct essim_latency *slow, *fast, *l;
	struct essim_client_report all;
	struct rec *r;
	es_client_t *c;
	audit_token_t p;
	int i;

	r = rec_new(M_ALLOW);
	r->sleep_ns = 2 * MS;
	kinit(NULL);
	p = proc(100, "/bin/zsh", false);
	c = client(r, types, 2);
	for (i = 0; i < 20; i++)
		cr_assert_eq(
		    post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ls", 0, LONG), 1);
	for (i = 0; i < 4; i++)
		cr_assert_eq(
		    post(ES_EVENT_TYPE_NOTIFY_EXEC, p, "/bin/ls", 0, 0), 1);
	cr_assert(wait_done(r, 24));
	cr_assert(essim_wait_idle(3000 * MS));
	l = latency();
	cr_assert_eq(l->answer.count, 20, "answers count while it runs");
	cr_assert_eq(
	    l->callback_auth.count, 0, "handler times only at its end");
	free(l);
	cr_assert_eq(es_delete_client(c), ES_RETURN_SUCCESS);
	l = latency();
	cr_assert_eq(l->callback_auth.count, 20, "added at the delete");
	free(l);
	essim_kernel_report(&all);
	essim_kernel_fini();
	slow = latency();
	cr_assert_eq(slow->answer.count, all.answered);
	cr_assert_eq(slow->callback_auth.count, 20);
	cr_assert_eq(slow->callback_notify.count, 4);
	cr_assert_geq(P50(slow->callback_auth), 2 * MS);
	cr_assert_geq(P50(slow->callback_notify), 2 * MS);
	cr_assert_geq(P50(slow->answer), 2 * MS);
	/* Post -> answer holds the wait in the queue: the last one waited
	 * for the nineteen handlers before it. */
	cr_assert_geq(slow->answer.max, 20 * 2 * MS);
	cr_assert_geq(slow->answer.max, slow->callback_auth.max);
	rec_free(r);

	r = rec_new(M_ALLOW);
	kinit(NULL);
	l = latency();
	cr_assert_eq(l->answer.count, 0, "reset by init");
	cr_assert_eq(l->callback_auth.count, 0);
	cr_assert_eq(l->callback_notify.count, 0);
	free(l);
	p = proc(100, "/bin/zsh", false);
	c = client(r, types, 2);
	for (i = 0; i < 20; i++) {
		cr_assert_eq(
		    post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ls", 0, LONG), 1);
		cr_assert(wait_done(r, i + 1));
	}
	for (i = 0; i < 4; i++)
		cr_assert_eq(
		    post(ES_EVENT_TYPE_NOTIFY_EXEC, p, "/bin/ls", 0, 0), 1);
	cr_assert(wait_done(r, 24));
	cr_assert(essim_wait_idle(3000 * MS));
	essim_kernel_fini();
	fast = latency();
	cr_assert_eq(fast->answer.count, 20);
	cr_assert_eq(fast->callback_auth.count, 20);
	cr_assert_eq(fast->callback_notify.count, 4);
	cr_assert_lt(4 * P50(fast->callback_auth), P50(slow->callback_auth),
	    "inline handler p50 %llu ns, sleeping one %llu ns",
	    (unsigned long long)P50(fast->callback_auth),
	    (unsigned long long)P50(slow->callback_auth));
	cr_assert_lt(
	    4 * P50(fast->callback_notify), P50(slow->callback_notify));
	cr_assert_lt(2 * P50(fast->answer), P50(slow->answer),
	    "inline answer p50 %llu ns, sleeping one %llu ns",
	    (unsigned long long)P50(fast->answer),
	    (unsigned long long)P50(slow->answer));
	free(fast);
	free(slow);
	rec_free(r);
}

/*
 * 20 ms buckets from the first post.  Client a answers inline, b never:
 * three events with a 100 ms budget (b misses the first at t0 + 100 ms,
 * bucket 5, and is killed), then two with a long budget once b is dead,
 * then one more past the series' end, which counts in the last bucket.
 * Per bucket the answers and misses add up to the kernel's totals.
 */
Test(essim, latency_series_adds_up_to_the_books)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_EXEC };
	struct rec *ra = rec_new(M_ALLOW), *rb = rec_new(M_NONE);
	const uint64_t width = 20 * MS, budget = 100 * MS;
	const size_t n = 16;
	struct essim_client_report all;
	struct essim_latency *l;
	uint64_t answered = 0, missed = 0, t0;
	bool long_seen = false;
	es_client_t *a, *b;
	audit_token_t p;
	size_t i;

	essim_latency_series(width, n);
	kinit(NULL);
	p = proc(100, "/bin/zsh", false);
	a = client(ra, types, 1);
	b = client(rb, types, 1);
	l = latency();
	cr_assert_eq(l->nbuckets, n);
	cr_assert_eq(l->bucket_ns, width);
	cr_assert_not_null(l->series);
	cr_assert_eq(l->t0_ns, 0, "nothing posted yet");
	free(l);
	t0 = now_ns();
	for (i = 0; i < 3; i++)
		cr_assert_eq(
		    post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ls", 0, budget), 2);
	cr_assert(wait_terminated(b, 2000));
	cr_assert(wait_done(ra, 3));
	for (i = 0; i < 2; i++)
		cr_assert_eq(
		    post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ls", 0, LONG), 1);
	cr_assert(wait_done(ra, 5));
	/* Past the series' end: the last bucket. */
	while (now_ns() - t0 < n * width + 20 * MS)
		sleep_ns(10 * MS);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ls", 0, LONG), 1);
	cr_assert(wait_done(ra, 6));
	cr_assert(essim_wait_idle(3000 * MS));
	essim_kernel_report(&all);
	cr_assert_eq(all.answered, 6);
	cr_assert_geq(all.missed, 1);
	essim_kernel_fini();

	l = latency();
	cr_assert_geq(l->t0_ns, t0);
	cr_assert_eq(l->nbuckets, n);
	cr_assert_eq(l->answer.count, all.answered);
	for (i = 0; i < n; i++) {
		const struct essim_series_bucket *bk = &l->series[i];

		answered += bk->answered;
		missed += bk->missed;
		if (bk->answered == 0)
			cr_assert_eq(bk->latency_max_ns, 0);
		else
			cr_assert_leq(bk->latency_max_ns, l->answer.max);
		cr_assert(bk->budget_min_ns == 0 ||
		        bk->budget_min_ns == budget ||
		        bk->budget_min_ns == LONG,
		    "bucket %zu: budget %llu", i,
		    (unsigned long long)bk->budget_min_ns);
		if (i > 0 && bk->budget_min_ns == LONG)
			long_seen = true;
	}
	cr_assert_eq(answered, all.answered);
	cr_assert_eq(missed, all.missed);
	cr_assert_eq(l->series[0].budget_min_ns, budget, "the first post");
	cr_assert_geq(l->series[budget / width].missed, 1,
	    "the first deadline, t0 + 100 ms, in bucket 5");
	cr_assert(long_seen);
	cr_assert_geq(l->series[n - 1].answered, 1, "late answers: the last");
	cr_assert_eq(l->series[n - 1].budget_min_ns, LONG);
	free(l);
	(void)a;
	essim_latency_series(0, 0);
	rec_free(ra);
	rec_free(rb);
}

Test(essim, latency_books_outlive_fini_until_the_next_init)
{
	es_event_type_t types[] = { ES_EVENT_TYPE_AUTH_EXEC };
	struct rec *r = rec_new(M_ALLOW);
	struct essim_latency *l;
	uint64_t answered = 0;
	audit_token_t p;
	size_t i;

	cr_assert_eq(essim_kernel_latency(NULL), -EINVAL);
	essim_latency_series(10 * MS, 4);
	kinit(NULL);
	p = proc(100, "/bin/zsh", false);
	(void)client(r, types, 1);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ls", 0, LONG), 1);
	cr_assert_eq(post(ES_EVENT_TYPE_AUTH_EXEC, p, "/bin/ps", 0, LONG), 1);
	cr_assert(wait_done(r, 2));
	cr_assert(essim_wait_idle(3000 * MS));
	essim_kernel_fini(); /* deletes the client */

	l = latency();
	cr_assert_eq(l->answer.count, 2);
	cr_assert_eq(l->callback_auth.count, 2);
	cr_assert_neq(l->t0_ns, 0);
	cr_assert_eq(l->nbuckets, 4);
	for (i = 0; i < l->nbuckets; i++)
		answered += l->series[i].answered;
	cr_assert_eq(answered, 2);
	free(l);

	/* No series from the next init on; the books start afresh. */
	essim_latency_series(0, 0);
	kinit(NULL);
	l = latency();
	cr_assert_eq(l->answer.count, 0);
	cr_assert_eq(l->callback_auth.count, 0);
	cr_assert_eq(l->t0_ns, 0);
	cr_assert_eq(l->nbuckets, 0);
	cr_assert_null(l->series);
	free(l);
	essim_kernel_fini();

	/* A width without buckets is no series either; too many are
	 * capped. */
	essim_latency_series(10 * MS, 0);
	kinit(NULL);
	l = latency();
	cr_assert_eq(l->nbuckets, 0);
	cr_assert_null(l->series);
	free(l);
	essim_kernel_fini();
	essim_latency_series(1, SIZE_MAX);
	kinit(NULL);
	l = latency();
	cr_assert_eq(l->nbuckets, ESSIM_SERIES_MAX);
	cr_assert_not_null(l->series);
	cr_assert_eq(l->series[ESSIM_SERIES_MAX - 1].answered, 0);
	free(l);
	essim_kernel_fini();
	essim_latency_series(0, 0);
	rec_free(r);
}
