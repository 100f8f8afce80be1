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
 *   allow exec all : target_team_id=%trusted   # the program run
 *   deny,audit exec uid=1000 : prefix=/tmp/
 *   allow,cache open exe_prefix=/usr/bin/ : suffix=.so
 *   default open allow                         # when nothing matches
 *
 * A rule is: decision[,audit][,cache][,monitor] type[,type...] subject... :
 * object...  (,monitor after deny only: allowed, flagged would_deny)
 * Subject conditions (all must hold; "all" for none): uid=, gid=, pid=,
 * exe=, exe_prefix=, comm=, team_id=, signing_id=, platform=yes|no,
 * cdhash=HEX.  Object conditions: path=, prefix=, suffix=, access=read|
 * write (AUTH_OPEN), target=, target_prefix= (the second path of rename,
 * link, clone, copyfile), target_team_id=, target_signing_id=,
 * target_platform=, target_cdhash= (AUTH_EXEC: the signature of the
 * program being run, vd_event.exec_sig; the subject's are its caller's).
 * A value may be %set (any of its members).
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
#define VD_POLICY_CAN_ACCESS 0x1u /* the opener's access mode (ES) */
#define VD_POLICY_CAN_TEAM_ID                                                  \
	0x2u /* team_id, signing_id, cdhash,                                   \
	        platform (ES) */
/* sha256=: the backend's events can be enriched with the file's digest
 * (vd_enricher, verdict/pipeline.h; VD_NEED_DIGEST). */
#define VD_POLICY_CAN_SHA256 0x4u

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
 * policy with any error is rejected whole.  Every file must be a regular
 * file (anything else is refused without blocking, -EINVAL), and the files
 * together may hold at most 16 MiB (-EINVAL).
 */
struct vd_policy *vd_policy_load(
    const char *path, unsigned can, struct vd_policy_error *err, int *rc);

/* The same from text in memory (`name` is used in messages). */
struct vd_policy *vd_policy_compile(const char *text, size_t len,
    const char *name, unsigned can, struct vd_policy_error *err, int *rc);

void vd_policy_free(struct vd_policy *pol);

/*
 * Monitor mode for the whole policy (policy.mode = monitor): every deny it
 * decides becomes an allow with would_deny set, as a deny,monitor rule's
 * does.  Set it before the policy is put in force; it then goes in and
 * out of force with the policy, atomically.
 */
void vd_policy_set_monitor(struct vd_policy *pol, bool on);

/* Where rule n (1-based, as vd_policy_eval returns it) was written: its
 * file's name, line and text up to any comment (neither NUL-terminated),
 * and its decision. */
struct vd_policy_rule_info {
	const char *file;
	size_t file_len;
	unsigned line;
	const char *text;
	size_t text_len;
	uint8_t verdict; /* enum vd_verdict */
	bool audit, monitor;
};

/* The policy's default line for type t, if it has one. */
bool vd_policy_default(
    const struct vd_policy *pol, enum vd_event_type t, uint8_t *verdict);

/* False when the policy has no rule n. */
bool vd_policy_rule_info(
    const struct vd_policy *pol, size_t n, struct vd_policy_rule_info *out);

/* Rules in the policy, all files included. */
size_t vd_policy_rules(const struct vd_policy *pol);

/*
 * True when a rule looks at the object's path (path=, prefix=, suffix=):
 * a backend that must work to learn the path (fanotify) skips it
 * otherwise.
 */
bool vd_policy_needs_path(const struct vd_policy *pol);

/* True when a rule has sha256=: an evaluation may defer its event
 * (vd_decision.needs = VD_NEED_DIGEST) until an enricher read the file. */
bool vd_policy_needs_digest(const struct vd_policy *pol);

/*
 * True when a rule looks at the executable or the command name (exe=,
 * exe_prefix=, comm=), which change on execve: a backend that caches
 * process identities must then notice an exec.
 */
bool vd_policy_needs_exe(const struct vd_policy *pol);

/*
 * True when a rule looks at what the process's identity gives beyond its
 * pid (uid=, gid=, exe=, exe_prefix=, comm=, and the code signing
 * conditions): a backend that must work to learn it (fanotify reads
 * /proc) skips it otherwise.  Without such a rule, every decision is the
 * same for every process.
 */
bool vd_policy_needs_process(const struct vd_policy *pol);

/*
 * Calls fn for every value of every path= (prefix false) and prefix=
 * (prefix true) condition, with its rule's 1-based number, so a backend
 * can tell which rules lie outside what it watches.  value is not
 * NUL-terminated: len bytes.
 */
void vd_policy_paths(const struct vd_policy *pol,
    void (*fn)(
        void *ctx, size_t rule, bool prefix, const char *value, size_t len),
    void *ctx);

/*
 * Decides for one AUTH event: fills *out (verdict, audit, cache, path_only,
 * open flags) from the first rule that matches, or the type's `default` line,
 * or leaves *out as given (the pipeline presets the type's default).
 * Returns the 1-based number of the rule that matched, 0 for a default.
 * Pure: memory only, no locks, no allocation, bounded time.  *truncated is
 * set when a path condition was skipped because the event's path was cut.
 * path_only is set when the answer is the same for every process: the
 * deciding rule (or the default) has no subject condition, and no earlier
 * rule whose object conditions match was passed over because of the
 * process.  A backend may then cache it per file for everyone.
 *
 * A sha256= condition needs the file's digest (ev->have & VD_NEED_DIGEST).
 * When the first rule that could decide has one and the event has no
 * digest, nothing is decided: out->needs = VD_NEED_DIGEST and 0 is
 * returned, and the pipeline defers the event to its enricher.  Rules
 * that need no digest never wait: a rule before it decides as usual.
 */
size_t vd_policy_eval(const struct vd_policy *pol, const struct vd_event *ev,
    struct vd_decision *out, bool *truncated);

/*
 * Explain: why the policy decides what it decides for one event.
 *
 * vd_policy_query_parse reads a query such as
 *   exec exe=/usr/bin/bash uid=1000 path=/tmp/x
 * into *ev: an event type as rules name them, then key=value words with
 * the keys of rule conditions that name one value of the event (uid=,
 * gid=, pid=, exe=, comm=, team_id=, signing_id=, platform=yes|no,
 * cdhash=, path=, target=, access=read|write|read,write,
 * target_team_id=, target_signing_id=, target_platform=,
 * target_cdhash=); a value may be double-quoted as in rules.  What is not
 * given is 0 or empty; comm= defaults to exe='s last component.  Returns
 * 0, or -EINVAL with the bad word named in err.
 *
 * vd_policy_explain decides as vd_policy_eval does (same *out, same
 * return) and calls step for each rule of the event's type in policy
 * order up to the one that decides: which it was, whether it matched,
 * and for one that did not, which condition failed and what the event
 * had instead (`why`, valid during the call).
 */
int vd_policy_query_parse(
    const char *query, struct vd_event *ev, char *err, size_t errsz);

/* VD_STEP_NEEDS: the rule's other conditions hold and it has sha256=,
 * which the event does not have: the evaluation defers (VD_NEED_DIGEST). */
enum { VD_STEP_NOMATCH, VD_STEP_MATCH, VD_STEP_UNDECIDED, VD_STEP_NEEDS };

struct vd_policy_step {
	size_t rule; /* 1-based */
	int result;  /* VD_STEP_* */
	const char *why;
};

size_t vd_policy_explain(const struct vd_policy *pol, const struct vd_event *ev,
    struct vd_decision *out,
    void (*step)(void *ctx, const struct vd_policy_step *s), void *ctx);

/*
 * The policy in force, for the pipeline: an evaluator that reads the
 * current snapshot inside an epoch section (ck_epoch, one record per
 * worker), and an atomic swap for reloads.  The old snapshot is freed
 * after a grace period with ck_epoch_call and ck_epoch_poll, never
 * ck_epoch_synchronize, so a stalled evaluation delays the free, never the
 * reload.
 *
 * Threads: the evaluator runs on the pipeline's workers; stats and flush
 * on any thread; swap, poll and destroy on one controlling thread, the
 * same one every time (ck_epoch's writer record is single-owner).
 *
 * Decision cache: each worker keeps its own bounded table (2-way set
 * associative; no lock, no allocation on the AUTH path) of the decisions
 * it computed for open, exec, access, unlink and truncate events whose
 * backend set target_id and whose path is whole.  The key is the type,
 * the file's (dev, ino, ctime), the process (pid, start time, uid, gid,
 * exe, comm, team and signing ids, cdhash, platform), the open flags, the
 * target path and the preset decision: every field a rule can read, the
 * strings as a seeded 64-bit hash.  Never cached: audited decisions
 * (logged each time) and decisions that met a truncated path.  A swap
 * invalidates every entry; the evaluator's notify() invalidates a file's
 * entries on a NOTIFY_WRITE or a NOTIFY_CLOSE of a modified file (by a
 * bucket of file epochs, which may invalidate a few other files too).
 */
struct vd_policy_runtime;

/* Entries per worker by default, and the most set_cache takes. */
#define VD_POLICY_CACHE_DEFAULT 4096
#define VD_POLICY_CACHE_MAX     (1u << 24)

/*
 * Takes ownership of pol (may be NULL: every event gets its type's
 * default).  workers: the pipeline's worker count (0: the most there can
 * be).  NULL and *err = -ENOMEM on failure.
 */
struct vd_policy_runtime *
vd_policy_runtime_create(struct vd_policy *pol, unsigned workers, int *err);

/*
 * Resizes every worker's decision cache to `entries` (rounded up to a
 * power of two, at least 2; 0 turns the cache off), emptying it.  The
 * runtime starts with VD_POLICY_CACHE_DEFAULT.  Only while no evaluation
 * runs: before vd_pipeline_start or after vd_pipeline_stop.  0, -EINVAL
 * (more than VD_POLICY_CACHE_MAX), -ENOMEM (the cache is then off).
 */
int vd_policy_runtime_set_cache(struct vd_policy_runtime *rt, size_t entries);

/* Entries per worker in force (0: off). */
size_t vd_policy_runtime_cache_entries(const struct vd_policy_runtime *rt);

/* The evaluator to give vd_pipeline_create (ctx is rt); its notify()
 * feeds the decision cache's invalidation, so a wrapper must pass the
 * NOTIFY batches on. */
struct vd_evaluator vd_policy_runtime_evaluator(struct vd_policy_runtime *rt);

/*
 * Also tells fn, on the notify thread, of each file written (NOTIFY_WRITE,
 * or a close after a write, with target_id set), whose cached decisions
 * it drops: for another cache keyed by the file (verdict/digest.h's).
 * Set before the pipeline starts.
 */
void vd_policy_runtime_on_write(struct vd_policy_runtime *rt,
    void (*fn)(void *ctx, const struct vd_event *ev), void *ctx);

/* Publishes next (owned from now on); the previous snapshot is freed once
 * no evaluation can use it.  Returns the new generation. */
uint64_t
vd_policy_runtime_swap(struct vd_policy_runtime *rt, struct vd_policy *next);

/*
 * Makes every cached decision stale, the policy unchanged (a notify
 * source lost events, so invalidations may be missing).  Any thread.
 */
void vd_policy_runtime_flush(struct vd_policy_runtime *rt);

/* Frees the snapshots whose grace period is over; cheap, never blocks.
 * Returns how many still wait. */
unsigned vd_policy_runtime_poll(struct vd_policy_runtime *rt);

struct vd_policy_runtime_stats {
	uint64_t generation;      /* policies put in force, the first is 1 */
	uint64_t rules;           /* in the policy in force */
	uint64_t evaluations;     /* the policy run, cache hits not included */
	uint64_t matched;         /* decided by a rule */
	uint64_t defaulted;       /* by a default line or the type's default */
	uint64_t truncated;       /* a path condition met a truncated path */
	uint64_t would_deny;      /* monitor mode: denies allowed */
	uint64_t retired;         /* old snapshots waiting for their grace */
	uint64_t cache_entries;   /* all workers' tables together */
	uint64_t cache_hits;      /* answered from the cache */
	uint64_t cache_misses;    /* looked up, then evaluated */
	uint64_t cache_evictions; /* a live entry replaced by another */
	uint64_t cache_invalidations; /* file epoch bumps by notify() */
	uint64_t cache_flushes;       /* vd_policy_runtime_flush calls */
};

/* Any thread. */
void vd_policy_runtime_stats(
    const struct vd_policy_runtime *rt, struct vd_policy_runtime_stats *out);

/* Calls fn with the policy in force (NULL: none), which stays valid
 * during the call; returns what fn does.  Any thread, one at a time. */
int vd_policy_runtime_with_policy(struct vd_policy_runtime *rt,
    int (*fn)(void *ctx, const struct vd_policy *pol), void *ctx);

/* Policies put in force so far, the first one included: a policy's
 * number.  Any thread. */
uint64_t vd_policy_runtime_generation(const struct vd_policy_runtime *rt);

/*
 * Rule n of the policy in force, if that is still policy number
 * `generation`: its "file:line" into at and its text into text (both
 * cut to fit).  False otherwise.  Any thread, one at a time.
 */
bool
vd_policy_runtime_rule_at(struct vd_policy_runtime *rt, uint64_t generation,
    size_t n, char *at, size_t atsz, char *text, size_t textsz);

/*
 * Calls fn for every rule of the policy in force, in order, with how many
 * decisions it made since that policy was put in force (cached ones
 * included); returns how many rules.  Reads without stopping a worker;
 * any thread (one at a time).
 */
size_t vd_policy_runtime_rule_hits(struct vd_policy_runtime *rt,
    void (*fn)(void *ctx, size_t rule, const struct vd_policy_rule_info *r,
        uint64_t hits),
    void *ctx);

/* After vd_pipeline_stop: frees everything.  NULL: no-op. */
void vd_policy_runtime_destroy(struct vd_policy_runtime *rt);

#ifdef __cplusplus
}
#endif
#endif
