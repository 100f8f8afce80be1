/*
 * daemon.h — verdictd's state, shared by the files of the daemon:
 *
 *   main.c      options, -n and --check-policy, then the run
 *   options.c   the command line and the configuration it builds
 *   run.c       the one run loop: signals, reloads, the backend's state
 *   reload.c    re-reading the configuration and the policy
 *   ctlops.c    what the control socket answers (counters, status)
 *
 * Threads.  The main thread owns everything: it builds the configuration,
 * creates the backend (through its driver, driver.h), the policy runtime
 * and the pipeline, and then runs the loop.  Every reload runs on it,
 * whether SIGHUP or `verdictctl reload` asked: the control thread only
 * forwards the request and waits for the answer (reload.c), so the policy
 * runtime's writer side (swap, poll) has one thread, as ck_epoch needs.
 * The control thread reads the books below under books_lock, and the
 * pipeline, policy runtime and backend counters, which any thread may.
 */
#ifndef VD_DAEMON_DAEMON_H
#define VD_DAEMON_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <verdict/backend.h>
#include <verdict/digest.h>
#include <verdict/pipeline.h>
#include <verdict/policy.h>
#include <verdict/stats.h>

#include "daemon/config.h"
#include "daemon/driver.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE   2

struct vd_control;
struct vd_hooks;

/* A command-line setting, applied after the file (and again on reload). */
struct override {
	const char *opt;           /* long option name, for messages */
	const char *section, *key; /* NULL: --set section.key=value */
	const char *value;
	bool also_sim_duration; /* -d: the run's length on either backend */
};

/* A reload asked by the control thread, answered by the main thread. */
struct reload_chan {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t asked, answered; /* request numbers */
	bool closed;              /* the daemon stops: no more answers */
	int rc;
	char msg[1024];
};

struct daemon {
	const char *path; /* NULL: built-in defaults only */
	struct override *ov;
	size_t nov;
	bool json;
	bool policy_only;    /* --check-policy: nothing will run */
	const char *explain; /* --explain QUERY */
	struct vd_conf conf; /* in force */
	uint64_t start_ns;

	const struct vd_driver *drv;
	struct vd_backend b;
	bool have_backend;
	struct vd_policy_runtime *rt; /* NULL: the backend's own logic */
	struct vd_declog *log;        /* NULL: no decision log */
	struct vd_digest *digest;     /* the file-digest reader, or NULL */
	struct vd_enricher enricher;  /* enrich NULL: no sha256= rules */
	struct vd_hooks *hooks;       /* NULL: no [test] hooks */
	struct vd_pipeline *p;
	int stop_signal; /* what ended the run, 0: the backend's end */

	/* The books the control thread reads. */
	pthread_mutex_t books_lock;
	uint64_t generation; /* configurations loaded, from 1 */
	uint64_t reloads, reload_failures;
	uint64_t policy_reloads, policy_reload_failures;

	struct reload_chan chan;
	_Atomic(struct vd_control *) ctl;
	struct vd_stats *ctl_stats; /* the control thread's snapshot */
};

/* options.c */
/* Parses argv into d (overrides, path, json) and the -n / --check-policy
 * requests.  Returns -1 to go on, or the exit status. */
int vd_options_parse(struct daemon *d, int argc, char *argv[], bool *check,
    const char **check_policy);
/* Defaults, then the file, then the command line, then the consistency
 * check: the same steps at start-up and on reload.  0 or -errno. */
int vd_conf_build(
    struct vd_conf *c, const struct daemon *d, char *err, size_t errsz);

/* reload.c */
/* Loads and compiles a rules file for a backend that can enforce `can`;
 * NULL with "file:line:col: why" in msg. */
struct vd_policy *vd_daemon_policy_load(const struct vd_conf *conf,
    const char *path, unsigned can, char *msg, size_t msgsz);

/* Bytes an explanation may take. */
#define EXPLAIN_MAX (256 * 1024)

/*
 * explain.c: the explanation of query under pol into buf (bufsz bytes,
 * NUL-terminated) and its length, or -EINVAL (a malformed query) or
 * -ENOMEM with a one-line message in buf.  defaults: each event type's
 * configured default verdict (vd_daemon_defaults), what decides when no
 * rule does.
 */
int vd_daemon_explain(const uint8_t defaults[VD_EVENT_TYPE_COUNT],
    const struct vd_policy *pol, const char *query, char *buf, size_t bufsz);
/* The default verdict of each event type in conf, for explain. */
void vd_daemon_defaults(
    const struct vd_conf *conf, uint8_t defaults[VD_EVENT_TYPE_COUNT]);
/* Re-reads the configuration and the policy; main thread.  0 or -errno,
 * with the outcome in one sentence in msg. */
int vd_daemon_reload(struct daemon *d, char *msg, size_t msgsz);
void vd_reload_chan_init(struct reload_chan *ch);
/* Control thread: asks the main loop for a reload and waits for it.
 * wake() makes the main loop look (a byte on its self-pipe). */
int vd_reload_chan_ask(
    struct reload_chan *ch, void (*wake)(void), char *msg, size_t msgsz);
/* Main thread: runs a reload asked for, if any, and answers it. */
void vd_reload_chan_serve(struct daemon *d);
/* Main thread, at stop: every request still waiting gets -ESHUTDOWN. */
void vd_reload_chan_close(struct reload_chan *ch);

/* ctlops.c */
void vd_daemon_control_start(struct daemon *d, void (*wake)(void));
void vd_daemon_control_stop(struct daemon *d);

/* run.c */
int vd_daemon_run(struct daemon *d);

#endif
