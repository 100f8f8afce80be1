/*
 * verdict/policy.h — the policy language: a rules file compiled into an
 * immutable snapshot that evaluates an event in memory, at a cost that
 * depends on the path's length, not on the number of rules.
 *
 * Language (verdict.rules(5) has the whole grammar and examples):
 *
 *   # comment
 *   %trusted = ABCDE12345, FGHIJ67890          # a named set
 *   include rules.d                            # *.rules, in name order
 *   deny open exe=/usr/bin/curl : path=/etc/shadow
 *   deny open all : prefix=/srv/secrets/ access=write
 *   allow exec team_id=%trusted : all
 *   deny,audit exec uid=1000 : prefix=/tmp/
 *   allow,cache open exe_prefix=/usr/bin/ : suffix=.so
 *   default open allow                         # when nothing matches
 *
 * A rule is: decision[,audit][,cache] type[,type...] subject... : object...
 * Subject conditions (all must hold; "all" for none): uid=, gid=, pid=,
 * exe=, exe_prefix=, comm=, team_id=, signing_id=, platform=yes|no,
 * cdhash=HEX.  Object conditions: path=, prefix=, suffix=, access=read|
 * write (AUTH_OPEN), target=, target_prefix= (the second path of rename,
 * link, clone, copyfile).  A value may be %set (any of its members).
 * First match wins.  A truncated path never matches a path condition: the
 * event gets its type's default, counted as truncated.
 *
 * Threads: compile on any thread; a compiled policy is immutable and may
 * be evaluated by any number of threads at once; free it only when no
 * evaluation can still use it (the pipeline's reload does that with
 * ck_epoch).
 */
#ifndef VERDICT_POLICY_H
#define VERDICT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <verdict/event.h>
#include <verdict/pipeline.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vd_policy;

/* What the backend can enforce: rules that need more are refused at load
 * with an error that says why. */
#define VD_POLICY_CAN_ACCESS  0x1u /* the opener's access mode (ES) */
#define VD_POLICY_CAN_TEAM_ID 0x2u /* team_id, signing_id, cdhash,
                                      platform (ES) */

struct vd_policy_error {
	char file[256];
	int line;   /* 1-based; 0: not about a line */
	int column; /* 1-based; 0: not about a column */
	char msg[256];
};

/*
 * Reads and compiles a rules file (and what it includes).  `can` says what
 * the backend can enforce (VD_POLICY_CAN_*).  Returns the policy, or NULL
 * with the first error in *err (file, line, column and what was expected)
 * and *rc = -EINVAL (bad policy), -ENOENT/-EACCES (a file), -ENOMEM.  A
 * policy with any error is rejected whole.
 */
struct vd_policy *vd_policy_load(const char *path, unsigned can,
    struct vd_policy_error *err, int *rc);

/* The same from text in memory (`name` is used in messages). */
struct vd_policy *vd_policy_compile(const char *text, size_t len,
    const char *name, unsigned can, struct vd_policy_error *err, int *rc);

void vd_policy_free(struct vd_policy *pol);

/* Rules in the policy, all files included. */
size_t vd_policy_rules(const struct vd_policy *pol);

/*
 * Decides for one AUTH event: fills *out (verdict, audit, cache, open
 * flags) from the first rule that matches, or the type's `default` line,
 * or leaves *out as given (the pipeline presets the type's default).
 * Returns the 1-based number of the rule that matched, 0 for a default.
 * Pure: memory only, no locks, no allocation, bounded time.  *truncated is
 * set when a path condition was skipped because the event's path was cut.
 */
size_t vd_policy_eval(const struct vd_policy *pol, const struct vd_event *ev,
    struct vd_decision *out, bool *truncated);

/*
 * The policy in force, for the pipeline: an evaluator that reads the
 * current snapshot inside an epoch section (ck_epoch, one record per
 * worker), and an atomic swap for reloads.  The old snapshot is freed
 * after a grace period with ck_epoch_call and ck_epoch_poll, never
 * ck_epoch_synchronize, so a stalled evaluation delays the free, never the
 * reload.
 *
 * Threads: the evaluator runs on the pipeline's workers; everything else
 * on one controlling thread.
 */
struct vd_policy_runtime;

/*
 * Takes ownership of pol (may be NULL: every event gets its type's
 * default).  workers: the pipeline's worker count (0: the most there can
 * be).  NULL and *err = -ENOMEM on failure.
 */
struct vd_policy_runtime *vd_policy_runtime_create(struct vd_policy *pol,
    unsigned workers, int *err);

/* The evaluator to give vd_pipeline_create (ctx is rt). */
struct vd_evaluator vd_policy_runtime_evaluator(struct vd_policy_runtime *rt);

/* Publishes next (owned from now on); the previous snapshot is freed once
 * no evaluation can use it.  Returns the new generation. */
uint64_t vd_policy_runtime_swap(struct vd_policy_runtime *rt,
    struct vd_policy *next);

/* Frees the snapshots whose grace period is over; cheap, never blocks.
 * Returns how many still wait. */
unsigned vd_policy_runtime_poll(struct vd_policy_runtime *rt);

struct vd_policy_runtime_stats {
	uint64_t generation;   /* policies put in force, the first is 1 */
	uint64_t rules;        /* in the policy in force */
	uint64_t evaluations;
	uint64_t matched;      /* decided by a rule */
	uint64_t defaulted;    /* by a default line or the type's default */
	uint64_t truncated;    /* a path condition met a truncated path */
	uint64_t retired;      /* old snapshots waiting for their grace */
};

/* Any thread. */
void vd_policy_runtime_stats(const struct vd_policy_runtime *rt,
    struct vd_policy_runtime_stats *out);

/* After vd_pipeline_stop: frees everything.  NULL: no-op. */
void vd_policy_runtime_destroy(struct vd_policy_runtime *rt);

#ifdef __cplusplus
}
#endif
#endif
