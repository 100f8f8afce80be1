/*
 * test_es.c — the es backend on the simulator, one behaviour at a time:
 * what it copies, how it answers (flags for AUTH_OPEN, auth results
 * otherwise), what it lets the kernel cache, how it reports es_new_client
 * failures, how it counts kernel drops, and that it mutes itself.  The
 * judge is the simulated kernel's books.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fcntl.h>
#include <unistd.h>

#include "backend/es/es.h"
#include "platform/platform.h"
#include <essim.h>
#include <verdict/policy.h>
#include <verdict/verdict.h>

#include "backend/gen/testeval.h"

#define MS 1000000ull

/* An evaluator with a fixed answer, that keeps a copy of the last event. */
struct fixed {
	struct vd_decision d;
	struct vd_event last;
	_Atomic uint64_t seen;
};

static void
fixed_eval(void *ctx, unsigned worker, const struct vd_event *ev,
    struct vd_decision *out)
{
	struct fixed *f = ctx;

	(void)worker;
	*out = f->d;
	f->last = *ev;
	atomic_fetch_add(&f->seen, 1);
}

struct rig {
	struct fixed f;
	struct vd_pipeline *p;
	struct vd_es *es;
	audit_token_t proc;
};

/* With override non-NULL, that evaluator decides instead of d. */
static void
rig_up_kernel(struct rig *r, const struct essim_config *kcfg,
    struct vd_decision d, const struct vd_evaluator *override)
{
	struct vd_config cfg;
	struct vd_evaluator ev = { .evaluate = fixed_eval, .ctx = &r->f };
	struct essim_proc pr = {
		.pid = 4242,
		.ppid = 1,
		.uid = 501,
		.exe = "/Applications/Editor.app/Contents/MacOS/Editor",
		.team_id = "ABCDE12345",
		.signing_id = "com.example.editor",
	};
	char err[256];
	int rc;

	memset(r, 0, sizeof(*r));
	r->f.d = d;
	if (override != NULL)
		ev = *override;
	cr_assert_eq(essim_kernel_init(kcfg), 0);
	cr_assert_eq(essim_proc_add(&pr, &r->proc), 0);
	vd_config_init(&cfg, VD_PROFILE_ES);
	cfg.workers = 1;
	cfg.multi_producer = false;
	r->es = vd_es_create(&rc);
	cr_assert_not_null(r->es);
	r->p = vd_pipeline_create(&cfg, &ev, vd_es_ops(), r->es, &rc);
	cr_assert_not_null(r->p);
	cr_assert_eq(vd_pipeline_start(r->p), 0);
	cr_assert_eq(vd_es_start(r->es, r->p, err, sizeof(err)), 0, "%s", err);
}

static void
rig_up_eval(struct rig *r, uint32_t queue_size, struct vd_decision d,
    const struct vd_evaluator *override)
{
	struct essim_config kcfg;

	essim_config_init(&kcfg);
	if (queue_size != 0)
		kcfg.queue_size = queue_size;
	rig_up_kernel(r, &kcfg, d, override);
}

static void
rig_up(struct rig *r, uint32_t queue_size, struct vd_decision d)
{
	rig_up_eval(r, queue_size, d, NULL);
}

static void
rig_down(struct rig *r, struct essim_client_report *auth)
{
	cr_assert(essim_wait_idle(5000 * MS));
	vd_es_quiesce(r->es);
	vd_pipeline_stop(r->p);
	if (auth != NULL)
		essim_client_report(vd_es_auth_client(r->es), auth);
	vd_es_destroy(r->es);
	vd_pipeline_destroy(r->p);
	essim_kernel_fini();
}

static void
post(const struct rig *r, es_event_type_t type, const char *target,
    int32_t fflag)
{
	struct essim_event ev = {
		.type = type,
		.proc = r->proc,
		.target = target,
		.target2 = "/Users/alice/Archive",
		.name2 = "moved.txt",
		.fflag = fflag,
		.deadline_ns = 15000 * MS,
	};

	cr_assert_geq(essim_post(&ev), 0);
}

static const struct vd_decision allow = { .verdict = VD_ALLOW,
	.open_flags = VD_OPEN_READ | VD_OPEN_WRITE };

Test(es, the_event_carries_the_process_and_the_paths)
{
	struct essim_client_report k;
	struct rig r;

	rig_up(&r, 0, allow);
	post(&r, ES_EVENT_TYPE_AUTH_RENAME, "/Users/alice/notes.txt", 0);
	cr_assert(essim_wait_idle(5000 * MS));
	cr_assert_eq(atomic_load(&r.f.seen), 1);
	cr_assert_eq(r.f.last.type, VD_AUTH_RENAME);
	cr_assert_eq(r.f.last.proc.pid, 4242);
	cr_assert_eq(r.f.last.proc.uid, 501);
	cr_assert_str_eq(r.f.last.proc.exe,
	    "/Applications/Editor.app/Contents/MacOS/Editor");
	cr_assert_str_eq(r.f.last.proc.comm, "Editor");
	cr_assert_str_eq(r.f.last.proc.team_id, "ABCDE12345");
	cr_assert_str_eq(r.f.last.proc.signing_id, "com.example.editor");
	cr_assert_str_eq(r.f.last.target, "/Users/alice/notes.txt");
	cr_assert_str_eq(r.f.last.target2, "/Users/alice/Archive/moved.txt");
	cr_assert(!r.f.last.target_truncated);
	/* The deadline came from the message, through the timebase. */
	cr_assert_gt(r.f.last.deadline_ns, r.f.last.arrival_ns + 14000 * MS);
	cr_assert_lt(r.f.last.deadline_ns, r.f.last.arrival_ns + 16000 * MS);
	rig_down(&r, &k);
	cr_assert_eq(k.answered, 1);
	cr_assert_eq(k.allowed, 1);
	cr_assert_eq(k.wrong_type, 0);
}

Test(es, the_event_carries_the_file_identity_for_the_decision_cache)
{
	struct essim_client_report k;
	struct rig r;
	uint64_t ino;

	rig_up(&r, 0, allow);
	post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/Users/alice/notes.txt", FREAD);
	cr_assert(essim_wait_idle(5000 * MS));
	cr_assert(r.f.last.target_id);
	cr_assert_eq(r.f.last.target_dev, 0x1000001);
	cr_assert_neq(r.f.last.target_ino, 0);
	ino = r.f.last.target_ino;
	/* The same file: the same identity; another: another. */
	post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/Users/alice/notes.txt", FREAD);
	cr_assert(essim_wait_idle(5000 * MS));
	cr_assert(r.f.last.target_id);
	cr_assert_eq(r.f.last.target_ino, ino);
	post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/Users/alice/other.txt", FREAD);
	cr_assert(essim_wait_idle(5000 * MS));
	cr_assert_neq(r.f.last.target_ino, ino);
	/* A rename has two paths: no identity, never cached. */
	post(&r, ES_EVENT_TYPE_AUTH_RENAME, "/Users/alice/notes.txt", 0);
	cr_assert(essim_wait_idle(5000 * MS));
	cr_assert_eq(r.f.last.type, VD_AUTH_RENAME);
	cr_assert(!r.f.last.target_id);
	rig_down(&r, &k);
	cr_assert_eq(k.answered, 4);
}

Test(es, opens_are_answered_with_flags_and_read_only_refuses_writes)
{
	struct essim_client_report k;
	struct vd_decision ro = { .verdict = VD_ALLOW,
		.open_flags = VD_OPEN_READ };
	struct rig r;

	rig_up(&r, 0, ro);
	post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/Users/alice/a.txt", FREAD);
	post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/Users/alice/b.txt", FREAD | FWRITE);
	rig_down(&r, &k);
	/* A read-only allow authorizes FREAD: the write open is refused. */
	cr_assert_eq(k.answered, 2);
	cr_assert_eq(k.wrong_type, 0);
	cr_assert_eq(k.allowed, 1);
	cr_assert_eq(k.denied, 1);
}

Test(es, only_cacheable_unaudited_allows_are_cached)
{
	struct essim_client_report k;
	struct vd_decision d = { .verdict = VD_ALLOW,
		.open_flags = VD_OPEN_READ | VD_OPEN_WRITE,
		.cache = true };
	struct vd_es_stats st;
	struct rig r;

	rig_up(&r, 0, d);
	post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/Users/alice/c.txt", FREAD);
	cr_assert(essim_wait_idle(5000 * MS));
	/* Cached: the same open does not come back to any client. */
	post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/Users/alice/c.txt", FREAD);
	cr_assert(essim_wait_idle(5000 * MS));
	cr_assert_eq(atomic_load(&r.f.seen), 1);
	/* An audited allow and a deny are never passed as cacheable. */
	r.f.d.audit = true;
	post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/Users/alice/d.txt", FREAD);
	cr_assert(essim_wait_idle(5000 * MS));
	post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/Users/alice/d.txt", FREAD);
	cr_assert(essim_wait_idle(5000 * MS));
	r.f.d.audit = false;
	r.f.d.verdict = VD_DENY;
	post(&r, ES_EVENT_TYPE_AUTH_EXEC, "/usr/bin/true", 0);
	cr_assert(essim_wait_idle(5000 * MS));
	post(&r, ES_EVENT_TYPE_AUTH_EXEC, "/usr/bin/true", 0);
	cr_assert(essim_wait_idle(5000 * MS));
	cr_assert_eq(atomic_load(&r.f.seen), 5);
	vd_es_stats(r.es, &st);
	cr_assert_eq(st.cached, 1);
	rig_down(&r, &k);
	cr_assert_eq(k.cached, 1);
	cr_assert_eq(k.cache_hits, 1);
}

/*
 * The kernel denies from its cache a later open of the pair whose flags
 * are not a subset of the cached ones, unasked: a read-only allow cached
 * as FREAD would deny every later write open of the file without
 * verdictd seeing it (uncounted, unaudited, and wrong once a reload
 * allows writing).  Only an allow of all bits is cached.
 */
Test(es, a_read_only_allow_is_never_cached)
{
	struct essim_client_report k;
	struct vd_decision ro = {
		.verdict = VD_ALLOW, .open_flags = VD_OPEN_READ, .cache = true
	};
	struct vd_es_stats st;
	struct rig r;

	rig_up(&r, 0, ro);
	post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/Users/alice/r.txt", FREAD);
	cr_assert(essim_wait_idle(5000 * MS));
	post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/Users/alice/r.txt", FREAD | FWRITE);
	cr_assert(essim_wait_idle(5000 * MS));
	post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/Users/alice/r.txt", FREAD);
	cr_assert(essim_wait_idle(5000 * MS));
	/* Every open reached verdictd; the write was denied by its answer. */
	cr_assert_eq(atomic_load(&r.f.seen), 3);
	vd_es_stats(r.es, &st);
	cr_assert_eq(st.cached, 0);
	rig_down(&r, &k);
	cr_assert_eq(k.cached, 0);
	cr_assert_eq(k.cache_hits, 0);
	cr_assert_eq(k.answered, 3);
	cr_assert_eq(k.allowed, 2);
	cr_assert_eq(k.denied, 1);
}

/* A full allow, cached, passes every later open of the pair. */
Test(es, a_cached_full_allow_passes_later_writes)
{
	struct essim_client_report k;
	struct vd_decision d = { .verdict = VD_ALLOW,
		.open_flags = VD_OPEN_READ | VD_OPEN_WRITE,
		.cache = true };
	struct rig r;

	rig_up(&r, 0, d);
	post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/Users/alice/w.txt", FREAD);
	cr_assert(essim_wait_idle(5000 * MS));
	post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/Users/alice/w.txt", FREAD | FWRITE);
	cr_assert(essim_wait_idle(5000 * MS));
	cr_assert_eq(atomic_load(&r.f.seen), 1);
	rig_down(&r, &k);
	cr_assert_eq(k.cached, 1);
	cr_assert_eq(k.cache_hits, 1);
	cr_assert_eq(k.cache_denied, 0);
}

/*
 * Messages older than version 4 have no global_seq_num, older than 3 no
 * process start time: the backend neither counts drops from garbage nor
 * reads a start time that is not there, and still gives each message an
 * id of its own.
 */
Test(es, older_messages_are_read_by_their_version)
{
	struct essim_client_report k;
	struct essim_config kcfg;
	struct vd_es_stats st;
	struct rig r;

	for (uint32_t v = 2; v <= 6; v++) {
		essim_config_init(&kcfg);
		kcfg.msg_version = v;
		rig_up_kernel(&r, &kcfg, allow, NULL);
		post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/Users/alice/a.txt", FREAD);
		cr_assert(essim_wait_idle(5000 * MS));
		cr_assert_eq(r.f.last.proc.start_time == 0, v < 3, "v%u", v);
		cr_assert_eq(r.f.last.handle.id, v < 4 ? 1 : 0, "v%u", v);
		post(&r, ES_EVENT_TYPE_AUTH_EXEC, "/usr/bin/true", 0);
		cr_assert(essim_wait_idle(5000 * MS));
		cr_assert_eq(r.f.last.handle.id, v < 4 ? 2 : 1, "v%u", v);
		vd_es_stats(r.es, &st);
		cr_assert_eq(st.kernel_drops, 0, "v%u", v);
		cr_assert_eq(st.auth_messages, 2, "v%u", v);
		rig_down(&r, &k);
		cr_assert_eq(k.answered, 2, "v%u", v);
		cr_assert_eq(k.kernel_drops, 0, "v%u", v);
	}
}

Test(es, clear_cache_is_retried_when_throttled)
{
	struct rig r;

	rig_up(&r, 0, allow);
	cr_assert_eq(vd_es_clear_cache(r.es), 0);
	/* The kernel throttles a second clear right after the first. */
	cr_assert_eq(vd_es_clear_cache(r.es), -EAGAIN);
	rig_down(&r, NULL);
}

Test(es, new_client_failures_are_explained)
{
	static const struct {
		es_new_client_result_t r;
		const char *says;
	} cases[] = {
		{ ES_NEW_CLIENT_RESULT_ERR_NOT_PERMITTED, "Full Disk Access" },
		{ ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED, "root" },
		{ ES_NEW_CLIENT_RESULT_ERR_NOT_ENTITLED,
		    "com.apple.developer.endpoint-security.client" },
		{ ES_NEW_CLIENT_RESULT_ERR_TOO_MANY_CLIENTS, "TOO_MANY" },
		{ ES_NEW_CLIENT_RESULT_ERR_INTERNAL, "INTERNAL" },
	};
	struct essim_config kcfg;
	struct vd_config cfg;
	struct vd_testeval *te = vd_testeval_create();
	struct vd_evaluator ev = vd_testeval_evaluator(te);
	char err[256];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vd_es *es;
		struct vd_pipeline *p;

		essim_config_init(&kcfg);
		kcfg.new_client_result = cases[i].r;
		cr_assert_eq(essim_kernel_init(&kcfg), 0);
		vd_config_init(&cfg, VD_PROFILE_ES);
		cfg.workers = 1;
		es = vd_es_create(&rc);
		p = vd_pipeline_create(&cfg, &ev, vd_es_ops(), es, &rc);
		cr_assert_not_null(p);
		cr_assert_eq(vd_pipeline_start(p), 0);
		err[0] = '\0';
		rc = vd_es_start(es, p, err, sizeof(err));
		cr_assert_lt(rc, 0);
		cr_assert(strstr(err, cases[i].says) != NULL, "%s", err);
		vd_pipeline_stop(p);
		vd_es_destroy(es);
		vd_pipeline_destroy(p);
		essim_kernel_fini();
	}
	vd_testeval_destroy(te);
}

Test(es, kernel_drops_are_counted_from_sequence_gaps)
{
	struct essim_client_report k;
	struct vd_es_stats st;
	struct rig r;
	int i;

	/* A two-message kernel queue and a burst: the kernel drops (and
	 * allows) what does not fit; the backend sees only the gaps. */
	rig_up(&r, 2, allow);
	for (i = 0; i < 2000; i++)
		post(&r, ES_EVENT_TYPE_AUTH_UNLINK, "/private/tmp/x", 0);
	cr_assert(essim_wait_idle(5000 * MS));
	vd_es_stats(r.es, &st);
	rig_down(&r, &k);
	cr_assert_gt(k.kernel_drops, 0, "the burst did not overflow");
	/* Drops after the last delivered message leave no gap to see. */
	cr_assert_leq(st.kernel_drops, k.kernel_drops);
	cr_assert_geq(
	    st.kernel_drops + 2000 - k.auth_delivered - k.kernel_drops, 0);
	cr_assert_eq(k.auth_delivered + k.kernel_drops, 2000);
	cr_assert_eq(st.auth_messages, k.auth_delivered);
	cr_assert_eq(k.answered, k.auth_delivered);
}

Test(es, our_own_executable_is_muted)
{
	struct essim_client_report k;
	struct essim_proc self = { .pid = getpid(), .ppid = 1 };
	audit_token_t tok;
	struct essim_event ev = { .type = ES_EVENT_TYPE_AUTH_OPEN,
		.target = "/etc/hosts",
		.fflag = FREAD,
		.deadline_ns = 15000 * MS };
	char exe[1024];
	struct rig r;

	cr_assert_eq(vd_self_exe(exe, sizeof(exe)), 0);
	self.exe = exe;
	rig_up(&r, 0, allow);
	cr_assert_eq(essim_proc_add(&self, &tok), 0);
	ev.proc = tok;
	/* Delivered to no client: both mute our path. */
	cr_assert_eq(essim_post(&ev), 0);
	post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/etc/hosts", FREAD);
	rig_down(&r, &k);
	cr_assert_eq(k.auth_delivered, 1);
}

Test(es, policy_access_rules_become_flags_answers)
{
	static const char text[] =
	    "deny open all : prefix=/Users/alice/ access=write\n"
	    "allow open all : all\n";
	struct essim_client_report k;
	struct vd_policy_error pe;
	struct vd_policy_runtime *rt;
	struct vd_policy *pol;
	struct vd_evaluator ev;
	struct rig r;
	int rc;

	pol = vd_policy_compile(text, sizeof(text) - 1, "t.rules",
	    VD_POLICY_CAN_ACCESS | VD_POLICY_CAN_TEAM_ID, &pe, &rc);
	cr_assert_not_null(pol, "%s", pe.msg);
	rt = vd_policy_runtime_create(pol, 1, &rc);
	cr_assert_not_null(rt);
	ev = vd_policy_runtime_evaluator(rt);
	rig_up_eval(&r, 0, allow, &ev);
	/* Reading is allowed, writing refused, through the flags answer. */
	post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/Users/alice/a.txt", FREAD);
	post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/Users/alice/b.txt", FREAD | FWRITE);
	post(&r, ES_EVENT_TYPE_AUTH_OPEN, "/private/tmp/c.txt", FREAD | FWRITE);
	rig_down(&r, &k);
	cr_assert_eq(k.answered, 3);
	cr_assert_eq(k.wrong_type, 0);
	cr_assert_eq(k.allowed, 2);
	cr_assert_eq(k.denied, 1);
	vd_policy_runtime_destroy(rt);
}

/* Posts an AUTH_EXEC of target by who. */
static void
post_exec(audit_token_t who, const char *target)
{
	struct essim_event ev = {
		.type = ES_EVENT_TYPE_AUTH_EXEC,
		.proc = who,
		.target = target,
		.deadline_ns = 15000 * MS,
	};

	cr_assert_geq(essim_post(&ev), 0);
}

static struct essim_client_report
books_now(const struct rig *r)
{
	struct essim_client_report k;

	cr_assert(essim_wait_idle(5000 * MS));
	cr_assert_eq(essim_client_report(vd_es_auth_client(r->es), &k), 0);
	return k;
}

/*
 * target_team_id= and its kin judge the program being run (the exec
 * target), team_id= and its kin the process calling exec: a trusted app
 * launching an untrusted program is denied, an untrusted one launching a
 * trusted program allowed, and a subject rule still reads the caller.
 */
Test(es, exec_signature_rules_judge_the_program_run_not_its_caller)
{
	static const char text[] =
	    "deny exec team_id=BADBADBAD0 : "
	    "target_signing_id=com.example.gone\n"
	    "allow exec all : target_team_id=ABCDE12345 target_platform=no\n"
	    "deny exec all : all\n";
	static const char editor[] =
	    "/Applications/Editor.app/Contents/MacOS/Editor";
	struct essim_proc untrusted = {
		.pid = 5000,
		.ppid = 1,
		.uid = 501,
		.exe = "/Users/alice/Downloads/tool",
		.team_id = "BADBADBAD0",
		.signing_id = "com.example.tool",
	};
	struct essim_proc gone = {
		.pid = 5001,
		.ppid = 1,
		.uid = 501,
		.exe = "/Applications/Gone.app/Contents/MacOS/Gone",
		.team_id = "ABCDE12345",
		.signing_id = "com.example.gone",
	};
	struct essim_client_report k;
	struct vd_policy_error pe;
	struct vd_policy_runtime *rt;
	struct vd_policy *pol;
	struct vd_evaluator ev;
	audit_token_t bad, tok;
	struct rig r;
	int rc;

	pol = vd_policy_compile(text, sizeof(text) - 1, "t.rules",
	    VD_POLICY_CAN_ACCESS | VD_POLICY_CAN_TEAM_ID, &pe, &rc);
	cr_assert_not_null(pol, "%s", pe.msg);
	rt = vd_policy_runtime_create(pol, 1, &rc);
	cr_assert_not_null(rt);
	ev = vd_policy_runtime_evaluator(rt);
	rig_up_eval(&r, 0, allow, &ev);
	cr_assert_eq(essim_proc_add(&untrusted, &bad), 0);
	cr_assert_eq(essim_proc_add(&gone, &tok), 0);

	/* The trusted editor (team ABCDE12345) runs the untrusted tool. */
	post_exec(r.proc, untrusted.exe);
	k = books_now(&r);
	cr_assert_eq(k.denied, 1, "the caller's team allowed the program");
	cr_assert_eq(k.allowed, 0);
	/* The untrusted tool runs the trusted editor. */
	post_exec(bad, editor);
	k = books_now(&r);
	cr_assert_eq(k.allowed, 1, "the caller's team denied the program");
	cr_assert_eq(k.denied, 1);
	/* Subject and target together: the tool may not run Gone, whose
	 * team would otherwise allow it; the editor may. */
	post_exec(bad, gone.exe);
	k = books_now(&r);
	cr_assert_eq(k.denied, 2);
	post_exec(r.proc, gone.exe);
	k = books_now(&r);
	cr_assert_eq(k.allowed, 2);
	/* A program no process was registered with is unsigned. */
	post_exec(r.proc, "/tmp/unknown");
	k = books_now(&r);
	cr_assert_eq(k.denied, 3);
	cr_assert_eq(k.answered, 5);
	rig_down(&r, NULL);
	vd_policy_runtime_destroy(rt);
}
