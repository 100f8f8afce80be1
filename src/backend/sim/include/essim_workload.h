/*
 * essim_workload.h — scenario files and the workload generator of the
 * EndpointSecurity simulator (libessim).
 *
 * A scenario (essim-scenario(5)) describes a load the way the kernel would
 * see it: how long and how fast, which event types in what proportions,
 * which processes and files, which deadlines (about 15 s for ordinary
 * processes, far shorter for system processes, most of which sit in the
 * default mute set), bursts, and how the evaluator of the client under test
 * should misbehave (stalls).  essim_scenario_load() parses one;
 * essim_workload_create() registers its processes with the simulated kernel
 * (essim_proc_add) and essim_workload_run() posts its events (essim_post)
 * from one generator thread, paced on absolute deadlines.
 *
 * Deterministic: for one scenario (seed included) the sequence of generated
 * events -- types, processes, paths, flags, deadlines -- and their number
 * are the same on every run; only the wall-clock time at which each one is
 * posted varies (a slow machine posts late, never fewer).
 * essim_workload_report.fingerprint hashes the sequence so that tests can
 * check it.
 *
 * Time scale: every deadline and the stall duration are multiplied by the
 * scenario's time_scale, so CI can run a 15 s deadline as about 150 ms
 * (time_scale = 0.01) while benchmarks run 1.0.  The first unscaled_ns of
 * a deadline (default 10 ms) are kept as they are: they stand for costs
 * that do not shrink with the clock (delivery, wake-ups).  Durations of the
 * run and of bursts, rates and the hashing cost are not scaled: they
 * describe the load, not the clock the client is judged by.
 *
 * Stalls are not the generator's doing: the scenario only carries the
 * values (stall_every, stall_ns) for the client under test to apply to its
 * own evaluator (vd_testeval_set_stall for verdictd; the baseline sleeps).
 *
 * What each event type carries in struct essim_event (all paths absolute):
 *   auth.open            target = file; fflag = FREAD or FREAD|FWRITE
 *   auth.exec, notify.exec  target = an executable
 *   auth.rename, auth.link, auth.clone, auth.copyfile, notify.rename
 *                        target = source file; target2 = destination
 *                        directory; name2 = destination file name
 *   auth.create, notify.create  target = the new file's full path;
 *                        target2 = its directory; name2 = its name
 *   auth.unlink, auth.truncate, notify.unlink, notify.write  target = file
 *   auth.mount           target = mount point (/Volumes/...);
 *                        target2 = device (/dev/diskNsM)
 *   auth.signal          target = executable of the signalled process
 *                        (a registered one); fflag = signal number
 *   notify.close         target = file; modified per close_modified;
 *                        fflag = FREAD, or FREAD|FWRITE when modified
 *   notify.fork, notify.exit  target = the process's own executable
 * deadline_ns is set for AUTH events only.  The strings live in the
 * generator's buffers until essim_post() returns.
 *
 * Threads: scenario functions on any one thread at a time.  A workload's
 * functions on the thread that created it, except essim_workload_wait()
 * and essim_workload_report(), which any thread may call while it runs.
 * One workload per kernel init: its pids are unique within the workload.
 */
#ifndef ESSIM_WORKLOAD_H
#define ESSIM_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <EndpointSecurity/EndpointSecurity.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The event types a scenario can mix, by verdictd's names. */
enum essim_kind {
	ESSIM_AUTH_OPEN,
	ESSIM_AUTH_EXEC,
	ESSIM_AUTH_RENAME,
	ESSIM_AUTH_UNLINK,
	ESSIM_AUTH_CREATE,
	ESSIM_AUTH_TRUNCATE,
	ESSIM_AUTH_LINK,
	ESSIM_AUTH_CLONE,
	ESSIM_AUTH_COPYFILE,
	ESSIM_AUTH_MOUNT,
	ESSIM_AUTH_SIGNAL,
	ESSIM_NOTIFY_CLOSE,
	ESSIM_NOTIFY_EXEC,
	ESSIM_NOTIFY_FORK,
	ESSIM_NOTIFY_EXIT,
	ESSIM_NOTIFY_WRITE,
	ESSIM_NOTIFY_RENAME,
	ESSIM_NOTIFY_UNLINK,
	ESSIM_NOTIFY_CREATE,
	ESSIM_KIND_COUNT
};

/* "auth.open" ...; NULL when out of range. */
const char *essim_kind_name(enum essim_kind k);
/* Whether a kind is an AUTH event (answered), not a NOTIFY one. */
bool essim_kind_is_auth(enum essim_kind k);
/* ES_EVENT_TYPE_AUTH_OPEN ...; ES_EVENT_TYPE_LAST when out of range. */
es_event_type_t essim_kind_type(enum essim_kind k);
/* The kind called name, or -EINVAL. */
int essim_kind_parse(const char *name);
/* The name of the kind an event type is ("auth.open" ...), or "unknown"
 * (a type no scenario posts). */
const char *essim_type_name(es_event_type_t t);

enum essim_spread {
	ESSIM_SPREAD_UNIFORM,
	ESSIM_SPREAD_LOG, /* log-uniform: each factor of ten, the same share */
};

/*
 * A parsed scenario.  Times are in ns.  The *_file fields keep the file's
 * values; their unsuffixed twins are the values in effect, scaled by
 * time_scale (deadlines beyond their first unscaled_ns) and recomputed by
 * essim_scenario_scale().  Clients read stall_every and stall_ns.
 */
struct essim_scenario {
	/* [run] */
	uint64_t duration_ns; /* not scaled */
	uint64_t seed;
	double time_scale; /* in effect */
	double time_scale_file;
	/* [load] */
	uint64_t rate; /* events per second, AUTH and NOTIFY together */
	/* [burst]; burst_every_ns == 0: no bursts */
	uint64_t burst_every_ns;
	uint64_t burst_length_ns;
	uint64_t burst_rate; /* events per second during a burst, in total */
	/* [mix] */
	uint32_t weight[ESSIM_KIND_COUNT];
	/* [processes] */
	uint32_t processes; /* ordinary ones */
	uint32_t system_processes;
	double system_share; /* of events made by system processes */
	double system_muted; /* of system processes in the default mute set */
	/* [files] */
	uint32_t files;
	double close_modified; /* of notify.close events with modified */
	uint64_t hash_cost_ns; /* reading a modified file in full; not scaled */
	/* [deadline]; AUTH events only */
	uint64_t ordinary_ns, ordinary_ns_file;
	uint64_t ordinary_jitter_ns, ordinary_jitter_ns_file;
	uint64_t system_min_ns, system_min_ns_file;
	uint64_t system_max_ns, system_max_ns_file;
	enum essim_spread system_spread;
	uint64_t unscaled_ns; /* the first ns of a deadline are not scaled */
	/* [stall]: for the client's evaluator; every == 0: never */
	uint64_t stall_every;
	uint64_t stall_ns, stall_ns_file;
};

/* Bytes of a scenario file. */
#define ESSIM_SCENARIO_FILE_MAX ((size_t)1 << 20)

/* Fills *s with the defaults listed in essim-scenario(5). */
void essim_scenario_init(struct essim_scenario *s);

/*
 * Loads a scenario file over the defaults (*s need not be initialised) and
 * applies its time_scale.  0, or -errno with a message in err:
 * "file:line: [section] key: what was expected, what was found".
 * -ENOENT, -EACCES ... (cannot open), -EINVAL (not a regular file, refused
 * without blocking; syntax, unknown section or key, value out of range,
 * inconsistent values), -EFBIG (larger than ESSIM_SCENARIO_FILE_MAX),
 * -ENOMEM.  On error *s is left as it was.
 */
int essim_scenario_load(
    struct essim_scenario *s, const char *path, char *err, size_t errsz);

/*
 * Sets the time scale (0 < time_scale <= 100) and rescales deadlines and
 * the stall from the file's values: scaling twice by 0.01 is 0.01, not
 * 0.0001.
 */
void essim_scenario_scale(struct essim_scenario *s, double time_scale);

/* Overrides the run's duration (ns, at least 1 ms). */
/* A deadline of the file, ns, scaled as essim_scenario_scale scales the
 * scenario's (a deadline below unscaled_ns is kept as is). */
uint64_t essim_scenario_deadline(const struct essim_scenario *s, uint64_t ns);

void essim_scenario_set_duration(struct essim_scenario *s, uint64_t ns);

/*
 * Checks the values' consistency (what essim_scenario_load checks after
 * parsing, for scenarios filled in by hand).  0, or -EINVAL with a message.
 */
int
essim_scenario_check(const struct essim_scenario *s, char *err, size_t errsz);

struct essim_workload;

/*
 * Checks the scenario, copies it, builds its processes and files and
 * registers the processes with the running kernel (essim_proc_add), the
 * system ones in the default mute set per system_muted.  Register them
 * before creating the clients under test: a client's default mute set is
 * taken when it is created.  0, -EINVAL (bad scenario), -ENOMEM, or the
 * error of essim_proc_add (no kernel running, for one).
 */
int essim_workload_create(
    const struct essim_scenario *s, struct essim_workload **out);

/*
 * Starts the generator thread: it posts the scenario's events for its
 * duration, then ends.  0, -EALREADY, or -errno from pthread_create.
 */
int essim_workload_run(struct essim_workload *w);

/* essim_workload_create() then essim_workload_run(). */
int essim_workload_start(
    const struct essim_scenario *s, struct essim_workload **out);

/*
 * Waits at most timeout_ns for the generator to end; true when it has (or
 * never ran).
 */
bool essim_workload_wait(struct essim_workload *w, uint64_t timeout_ns);

/* Waits for the generator to end by itself and joins it. */
void essim_workload_join(struct essim_workload *w);

/* Ends the generator early (at most one batch later) and joins it. */
void essim_workload_stop(struct essim_workload *w);

/* Asks the generator to end early and returns at once, for a thread other
 * than the one that joins it.  Any thread. */
void essim_workload_halt(struct essim_workload *w);

/* Stops it if it runs, then frees it.  NULL is a no-op. */
void essim_workload_destroy(struct essim_workload *w);

/* The generator's own books (the kernel keeps the clients'). */
struct essim_workload_report {
	uint64_t generated; /* events made */
	uint64_t posted;    /* accepted by essim_post (>= 0) */
	uint64_t posted_auth;
	uint64_t posted_notify;
	uint64_t post_errors;     /* essim_post < 0 */
	int first_error;          /* the first one's -errno, 0: none */
	uint64_t short_deadlines; /* AUTH posted by system processes */
	uint64_t short_delivered; /* of those, delivered to a client */
	uint64_t deliveries;      /* sum of essim_post returns */
	uint64_t undelivered;     /* posted to no client (muted, not
	                             subscribed, no client) */
	uint64_t by_kind[ESSIM_KIND_COUNT]; /* posted */
	uint64_t bursts;                    /* bursts begun */
	uint64_t lag_max_ns;  /* worst post time behind schedule */
	uint64_t elapsed_ns;  /* since the generator began */
	uint64_t fingerprint; /* FNV-1a of the generated sequence */
	bool finished;        /* the generator has ended */
};

/* Any thread, while it runs or after. */
void essim_workload_report(
    const struct essim_workload *w, struct essim_workload_report *out);

/* The scenario the workload runs (its own copy). */
const struct essim_scenario *
essim_workload_scenario(const struct essim_workload *w);

#ifdef __cplusplus
}
#endif
#endif
