/*
 * testbackend.h — an in-process backend that judges the pipeline.
 *
 * It plays the kernel's part: it keeps its own record of every message it
 * handed out (by handle id) and counts the answers it receives, so the tests
 * judge "exactly once" and "in time" from the backend's books, never from
 * the pipeline's own counters.  Which thread answered is read from the
 * thread's name (vd-worker-N, vd-timer, or anything else: a producer or the
 * controller).
 */
#ifndef VD_TEST_BACKEND_H
#define VD_TEST_BACKEND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <verdict/pipeline.h>

enum tb_by {
	TB_NONE,
	TB_WORKER,
	TB_TIMER,
	TB_OTHER,  /* a producer or the controller */
	TB_ENRICH, /* an enrichment thread (deferred decisions) */
};

struct tb_msg {
	_Atomic uint32_t answers;
	_Atomic uint32_t released;
	_Atomic uint32_t retired;    /* AUTH: retire() calls */
	_Atomic uint32_t evaluating; /* set by a test's evaluator wrapper */
	uint64_t deadline_ns;
	_Atomic uint64_t answered_ns;
	_Atomic uint8_t by;
	_Atomic uint8_t verdict;
};

struct tb {
	struct tb_msg *msgs;
	uint64_t cap;
	_Atomic uint64_t next_id;
	_Atomic uint64_t answers;
	_Atomic uint64_t duplicates;
	_Atomic uint64_t late;
	_Atomic uint64_t releases;
	_Atomic uint64_t retires;
	_Atomic uint64_t retire_early;  /* retired before it was answered */
	_Atomic uint64_t retire_in_use; /* retired while evaluating */
	_Atomic uint64_t bad_id;
	bool track_thread; /* read thread names (a syscall per answer) */
	/* Not 0: tb_submit waits up to this long for an answered event to
	 * return to the pool (vd_pipeline_event_wait) before it refuses. */
	uint64_t pool_wait_ns;
	struct vd_backend_ops ops;
};

struct tb *tb_create(uint64_t cap, bool track_thread);
void tb_destroy(struct tb *b);

/* A fresh message id with its deadline recorded. */
uint64_t tb_new_id(struct tb *b, uint64_t deadline_ns);

/*
 * Takes an event of type t, fills it (pid, paths, deadline) and submits it.
 * budget_ns 0: the pipeline's default budget.  Returns the message id.
 */
uint64_t tb_submit(struct tb *b, struct vd_pipeline *p, enum vd_event_type t,
    pid_t pid, uint64_t budget_ns, bool *queued);

/* Waits until `n` answers (AUTH) + releases (NOTIFY) arrived, up to
 * timeout_ns; true when they did. */
bool tb_wait(struct tb *b, uint64_t n, uint64_t timeout_ns);

/* Messages 0..n-1 each answered exactly once (AUTH) or released once. */
uint64_t tb_count_not_once(struct tb *b, uint64_t n);
uint64_t tb_count_by(struct tb *b, uint64_t n, enum tb_by by);

uint64_t tb_now_ns(void);

#endif
