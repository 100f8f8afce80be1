/*
 * config.h — verdictd's configuration: an INI file, then command-line
 * overrides, then one consistency check.
 *
 * struct vd_conf wraps the library's struct vd_config (the pipeline) with the
 * daemon's own settings (the backend and the load generator).  Every setting
 * has one name, "section.key" (per-type sections are named like the type:
 * "auth.open.default"), used alike by the file, by --set and by the reload
 * report, so the three can never disagree.
 *
 * A file is read whole (a regular file of at most VD_CONF_FILE_MAX bytes),
 * then line by line, so every error names file:line: the reader rejects
 * invalid UTF-8, control characters and unknown sections; the handler
 * rejects unknown or repeated keys and values out of range.  A file that
 * fails leaves the struct it was loaded into untouched.
 *
 * Single-threaded: the main thread only.
 */
#ifndef VD_DAEMON_CONFIG_H
#define VD_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <verdict/pipeline.h>

#include "backend/fanotify/fanotify.h"
#include "backend/gen/gen.h"

#define VD_CONF_BACKEND_MAX 16
/* Bytes of a configuration file. */
#define VD_CONF_FILE_MAX ((size_t)1 << 20)

#define VD_CONF_PATH_MAX 1024

/* The sim backend: a scenario run on the EndpointSecurity simulator. */
struct vd_conf_sim {
	char scenario[VD_CONF_PATH_MAX]; /* essim-scenario(5) file */
	double time_scale;   /* deadlines, stalls and margins x this */
	uint64_t duration_s; /* 0: the scenario's own */
};

/*
 * Bytes of the fanotify path list: room for its most paths
 * (VD_FAN_MARKS_MAX), each of the most bytes (VD_CONF_PATH_MAX - 1), with
 * a ':' or the NUL after each.  And of a test hook's file name.
 */
#define VD_CONF_PATHS_MAX (VD_FAN_MARKS_MAX * VD_CONF_PATH_MAX)
#define VD_CONF_NAME_MAX  256

/* The fanotify backend (Linux). */
struct vd_conf_fanotify {
	char paths[VD_CONF_PATHS_MAX]; /* absolute, ':'-separated */
	enum vd_fan_mark_kind mark;
	uint32_t types;       /* bit (1 << enum vd_event_type) */
	bool audit;           /* FAN_ENABLE_AUDIT */
	bool inline_answers;  /* the reader answers what it reads */
	unsigned ignore_max;  /* ignore marks; 0: none */
	unsigned proc_cache;  /* identities cached */
	uint64_t proc_ttl_ns; /* an identity is re-read after */
};

/*
 * Test hooks, for the integration tests and the tour: misbehaviour on
 * purpose, never for production.  stall_ms and block_worker change live.
 */
struct vd_conf_test {
	char stall_name[VD_CONF_NAME_MAX]; /* fnmatch pattern of names */
	uint64_t stall_ms;                 /* sleep this long first */
	bool block_worker; /* worker 0 blocks in its next evaluation */
	/* fanotify: FAN_AUDIT without FAN_ENABLE_AUDIT (refused, retried) */
	bool audit_without_init;
	/* fanotify: the reader sleeps this long once, at start and at each
	 * reload that sets it (its queues fill up) */
	uint64_t reader_pause_ms;
	/* A [test] section or a test.* setting was given at all: the hooks
	 * are installed (only then), and may change on reload. */
	bool hooks;
};

/* [policy] mode: enforce, or monitor (every deny allowed, logged as
 * would-deny). */
enum vd_conf_policy_mode { VD_POLICY_ENFORCE, VD_POLICY_MONITOR };

struct vd_conf {
	/* Only a policy will be checked: what the backend needs to run (paths
	 * to mark, a scenario) is not required. */
	bool policy_only;
	struct vd_config pipe;
	char backend[VD_CONF_BACKEND_MAX];
	struct vd_gen_config gen;
	struct vd_conf_sim sim;
	struct vd_conf_fanotify fan;
	struct vd_conf_test test;
	/* The control socket verdictctl talks to; "off": none. */
	char control_socket[VD_CONF_PATH_MAX];
	/* The rules file (verdict.rules(5)); empty: the test evaluator. */
	char policy[VD_CONF_PATH_MAX];
	uint8_t policy_mode; /* enum vd_conf_policy_mode */
	/* [log]: the decision log (decisions.h): off, stdout, journal or a
	 * file; every allow too; the queue's records. */
	char log_decisions[VD_CONF_PATH_MAX];
	bool log_allows;
	uint32_t log_queue;
	/* [digest]: sha256= rules (verdict/digest.h): the enrichment
	 * threads, the size cap, the cache's entries, and a test hook (a
	 * slow disk, per MiB read). */
	uint32_t enrich_threads;
	uint64_t digest_max_mib;
	uint32_t digest_cache;
	uint64_t digest_delay_ns;
};

/* Built-in defaults: vd_config_init(VD_PROFILE_FANOTIFY) plus ours; the
 * backend is fanotify on Linux, gen elsewhere. */
void vd_conf_init(struct vd_conf *c);

/*
 * Reads an INI file on top of *c (settings it does not mention keep their
 * value).  Does not run the consistency check (vd_conf_check), so that
 * command-line overrides can come first.  Returns 0; -ENOENT, -EACCES... when
 * the file cannot be read; -EINVAL when it is not a regular file (a FIFO, a
 * device: refused without blocking) and on the first bad line; -EFBIG when
 * it is larger than VD_CONF_FILE_MAX.  The message in err names the file
 * and line ("verdictd.conf:12: [pipeline] ring_size: expected ...", or
 * "verdictd.conf: not a regular file (a FIFO)").  On error *c is unchanged.
 */
int vd_conf_load(struct vd_conf *c, const char *path, char *err, size_t errsz);

/*
 * Sets one setting from text, the way a file line would.  section is
 * "pipeline", "backend", "gen", "sim", "fanotify", "test", "control",
 * "policy" or an AUTH type name ("auth.open", or "open").
 * Returns 0 or -EINVAL with "[section] key: expected ..., got ..." in err.
 */
int vd_conf_set(struct vd_conf *c, const char *section, const char *key,
    const char *value, char *err, size_t errsz);

/* The same from "section.key=value" (--set): the key is after the last dot. */
int vd_conf_set_arg(
    struct vd_conf *c, const char *assignment, char *err, size_t errsz);

/*
 * Derives what follows from other settings (several producers mean a
 * multi-producer pipeline) and checks the whole: vd_config_check(), then the
 * generator's limits.  Returns 0 or -EINVAL with a sentence in err.
 */
int vd_conf_check(struct vd_conf *c, char *err, size_t errsz);

/*
 * Compares two configurations setting by setting.  Counts the settings that
 * differ and that can (live true) or cannot (live false) change while the
 * daemon runs, and lists their names, comma-separated, in names (may be
 * NULL).  Live settings: the evaluator's gen.stall_every, gen.stall_ms and
 * gen.deny_every, the test hooks' test.stall_ms and test.block_worker, and
 * the per-type settings but the budget.
 */
unsigned vd_conf_diff(const struct vd_conf *a, const struct vd_conf *b,
    bool live, char *names, size_t namesz);

/*
 * Copies into dst every setting that can change while the daemon runs
 * (the live ones of vd_conf_diff), from src; the others stay dst's.
 */
void vd_conf_take_live(struct vd_conf *dst, const struct vd_conf *src);

/*
 * Splits fan.paths into its entries: fills paths[] (pointers into buf, a
 * copy) and returns how many, at most max.
 */
size_t vd_conf_fan_paths(const struct vd_conf *c, char *buf, size_t bufsz,
    const char **paths, size_t max);

#endif
