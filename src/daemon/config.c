/*
 * config.c — verdictd.conf: INI (util/inifile.h), strict values, file:line
 * errors.
 *
 * One table (conf_keys, rows of util/keys.h) declares every setting: its
 * section, key, type, range, unit and whether it can change while the
 * daemon runs.  The file parser, --set, the error messages, the reload
 * diff and what a reload applies all read it, so a new setting is one row
 * here (and one entry in verdictd.conf.5).
 *
 * The reader checks each line (encoding, control characters, section
 * names) and tells the handler its number.  A line has no length limit of
 * its own (the file has, VD_CONF_FILE_MAX): a value's limit is its type's.
 * An indented "key = value" is an ordinary line, not a continuation of the
 * previous value.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <verdict/event.h>
#include <verdict/pipeline.h>

#include "daemon/config.h"
#include "proto/proto.h" /* VD_CTL_DEFAULT_PATH */
#include "util/util.h"

#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_US UINT64_C(1000)

/* Default event mix of the generator. */
#define GEN_TYPES_DEFAULT                                                      \
	((UINT32_C(1) << VD_AUTH_OPEN) | (UINT32_C(1) << VD_AUTH_EXEC) |       \
	    (UINT32_C(1) << VD_NOTIFY_CLOSE))

_Static_assert(VD_EVENT_TYPE_COUNT <= 32, "gen.types is a 32-bit mask");

#define CONF(m) VD_KEY_FIELD(struct vd_conf, m)
/* The per-type sections' rows: fields of struct vd_type_config. */
#define TYPE(m) VD_KEY_FIELD(struct vd_type_config, m)

static bool
parse_types(const char *value, void *field, char *why, size_t whysz);
static bool
parse_paths(const char *value, void *field, char *why, size_t whysz);
static bool parse_mark(const char *value, void *field, char *why, size_t whysz);

static const char *const backend_words[] = { "fanotify", "es", "sim", "gen",
	NULL };
/* Indexed by enum vd_verdict. */
static const char *const verdict_words[] = { "allow", "deny", NULL };
static const char *const policy_mode_words[] = { "enforce", "monitor", NULL };
_Static_assert(VD_POLICY_ENFORCE == 0 && VD_POLICY_MONITOR == 1,
    "policy_mode_words[] order");
_Static_assert(VD_ALLOW == 0 && VD_DENY == 1, "verdict_words[] order");

/*
 * Sections and keys in the order "unknown key" messages list them.
 * VD_KEY_LIVE: can change on SIGHUP.
 */
static const struct vd_key conf_keys[] = {
	VD_KEY("pipeline", "workers", VD_KEY_UINT, CONF(pipe.workers),
	    .max = VD_MAX_WORKERS, .what = "a number of workers"),
	VD_KEY("pipeline", "ring_size", VD_KEY_UINT, CONF(pipe.ring_size),
	    .min = 2, .max = 1048576, .what = "a power of two",
	    .flags = VD_KEY_POW2),
	VD_KEY("pipeline", "pool_size", VD_KEY_UINT, CONF(pipe.pool_size),
	    .min = 1, .max = 65536, .what = "a number of events"),
	VD_KEY("pipeline", "spin_us", VD_KEY_DURATION, CONF(pipe.spin_ns),
	    .max = 10000, .scale = NS_PER_US,
	    .what = "a number of microseconds"),
	VD_KEY("pipeline", "tick_us", VD_KEY_DURATION, CONF(pipe.tick_ns),
	    .min = 10, .max = 100000, .scale = NS_PER_US,
	    .what = "a number of microseconds"),
	VD_KEY("pipeline", "pin_workers", VD_KEY_BOOL, CONF(pipe.pin_workers)),
	VD_KEY("pipeline", "defer_wakes", VD_KEY_BOOL, CONF(pipe.defer_wakes)),
	VD_KEY("backend", "name", VD_KEY_STRING, CONF(backend),
	    .words = backend_words,
	    .what = "a backend name (fanotify, es, sim or gen)"),
	VD_KEY("gen", "rate", VD_KEY_UINT, CONF(gen.rate), .min = 1,
	    .max = 10000000, .what = "a number of events per second"),
	VD_KEY("gen", "duration", VD_KEY_UINT, CONF(gen.duration_s), .min = 1,
	    .max = 86400, .what = "a number of seconds"),
	VD_KEY("gen", "producers", VD_KEY_UINT, CONF(gen.producers), .min = 1,
	    .max = 64, .what = "a number of threads"),
	VD_KEY("gen", "stall_every", VD_KEY_UINT, CONF(gen.stall_every),
	    .max = 1000000000, .what = "a count", .flags = VD_KEY_LIVE),
	VD_KEY("gen", "stall_ms", VD_KEY_UINT, CONF(gen.stall_ms),
	    .max = 600000, .what = "a number of milliseconds",
	    .flags = VD_KEY_LIVE),
	VD_KEY("gen", "deny_every", VD_KEY_UINT, CONF(gen.deny_every),
	    .max = 1000000000, .what = "a count", .flags = VD_KEY_LIVE),
	VD_KEY("gen", "seed", VD_KEY_UINT, CONF(gen.seed), .max = UINT64_MAX,
	    .what = "a number"),
	VD_KEY("gen", "short_every", VD_KEY_UINT, CONF(gen.short_every),
	    .max = 1000000000, .what = "a count"),
	VD_KEY("gen", "short_ms", VD_KEY_UINT, CONF(gen.short_ms), .min = 1,
	    .max = 600000, .what = "a number of milliseconds"),
	VD_KEY(
	    "gen", "types", VD_KEY_FUNC, CONF(gen.types), .parse = parse_types),
	VD_KEY("policy", "file", VD_KEY_STRING, CONF(policy),
	    .what = "a file name"),
	/* Goes in force with the policy, which every reload re-reads. */
	VD_KEY("policy", "mode", VD_KEY_ENUM, CONF(policy_mode),
	    .words = policy_mode_words, .flags = VD_KEY_LIVE),
	/* Reopened on every reload and on SIGUSR1 (logrotate). */
	VD_KEY("log", "decisions", VD_KEY_STRING, CONF(log_decisions),
	    .what = "off, stdout, journal or a file name",
	    .flags = VD_KEY_LIVE),
	VD_KEY("log", "allows", VD_KEY_BOOL, CONF(log_allows),
	    .flags = VD_KEY_LIVE),
	VD_KEY("log", "queue", VD_KEY_UINT, CONF(log_queue), .min = 2,
	    .max = 1048576, .what = "a power of two", .flags = VD_KEY_POW2),
	VD_KEY("digest", "threads", VD_KEY_UINT, CONF(enrich_threads),
	    .min = 0, .max = VD_ENRICH_MAX),
	VD_KEY("digest", "max_mib", VD_KEY_UINT, CONF(digest_max_mib),
	    .min = 1, .max = 1048576, .what = "a size in MiB"),
	VD_KEY("digest", "cache", VD_KEY_UINT, CONF(digest_cache), .min = 4,
	    .max = 1048576, .what = "a power of two", .flags = VD_KEY_POW2),
	VD_KEY("test", "digest_delay_ms_per_mib", VD_KEY_DURATION,
	    CONF(digest_delay_ns), .scale = 1000000, .max = 10000,
	    .what = "a number of milliseconds"),
	VD_KEY("control", "socket", VD_KEY_STRING, CONF(control_socket),
	    .what = "a file name"),
	VD_KEY("sim", "scenario", VD_KEY_STRING, CONF(sim.scenario),
	    .what = "a file name"),
	/* Faster than 1000x, deadlines fall below what the machine's
	 * scheduling can meet; slower than real time makes no sense. */
	VD_KEY("sim", "time_scale", VD_KEY_DOUBLE, CONF(sim.time_scale),
	    .dmin = 0.001, .dmax = 1, .what = "a factor",
	    .hint = "such as 0.01"),
	VD_KEY("sim", "duration", VD_KEY_UINT, CONF(sim.duration_s),
	    .max = 86400, .what = "a number of seconds (0: the scenario's)"),
	VD_KEY("fanotify", "paths", VD_KEY_FUNC, CONF(fan.paths),
	    .parse = parse_paths),
	VD_KEY("fanotify", "mark", VD_KEY_FUNC, CONF(fan.mark),
	    .parse = parse_mark),
	VD_KEY("fanotify", "types", VD_KEY_FUNC, CONF(fan.types),
	    .parse = parse_types),
	VD_KEY("fanotify", "audit", VD_KEY_BOOL, CONF(fan.audit)),
	VD_KEY("fanotify", "inline", VD_KEY_BOOL, CONF(fan.inline_answers)),
	VD_KEY("fanotify", "ignore_max", VD_KEY_UINT, CONF(fan.ignore_max),
	    .max = 65536, .what = "a number of ignore marks"),
	VD_KEY("fanotify", "proc_cache", VD_KEY_UINT, CONF(fan.proc_cache),
	    .min = 2, .max = 1048576, .what = "a power of two",
	    .flags = VD_KEY_POW2),
	VD_KEY("fanotify", "proc_ttl_ms", VD_KEY_DURATION,
	    CONF(fan.proc_ttl_ns), .min = 1, .max = 60000, .scale = NS_PER_MS,
	    .what = "a number of milliseconds"),
	VD_KEY("test", "stall_name", VD_KEY_STRING, CONF(test.stall_name),
	    .what = "a file name", .flags = VD_KEY_NOSLASH),
	VD_KEY("test", "stall_ms", VD_KEY_UINT, CONF(test.stall_ms),
	    .max = 600000, .what = "a number of milliseconds",
	    .flags = VD_KEY_LIVE),
	VD_KEY("test", "block_worker", VD_KEY_BOOL, CONF(test.block_worker),
	    .flags = VD_KEY_LIVE),
	VD_KEY("test", "reader_pause_ms", VD_KEY_UINT,
	    CONF(test.reader_pause_ms), .max = 60000,
	    .what = "a number of milliseconds", .flags = VD_KEY_LIVE),
	VD_KEY("test", "audit_without_init", VD_KEY_BOOL,
	    CONF(test.audit_without_init)),
	/* [auth.open] and the other AUTH types (section NULL).  These apply
	 * live (vd_pipeline_set_type), but the budget. */
	VD_KEY(NULL, "default", VD_KEY_ENUM, TYPE(default_verdict),
	    .words = verdict_words, .flags = VD_KEY_LIVE),
	/* A margin of the whole budget would answer on arrival. */
	VD_KEY(NULL, "margin_fraction", VD_KEY_DOUBLE, TYPE(margin_fraction),
	    .dmax = 1, .what = "a decimal fraction", .hint = "such as 0.2",
	    .flags = VD_KEY_BELOW | VD_KEY_LIVE),
	VD_KEY(NULL, "margin_floor_ms", VD_KEY_DURATION, TYPE(margin_floor_ns),
	    .max = 600000, .scale = NS_PER_MS,
	    .what = "a number of milliseconds", .flags = VD_KEY_LIVE),
	VD_KEY(NULL, "margin_ceiling_ms", VD_KEY_DURATION,
	    TYPE(margin_ceiling_ns), .max = 600000, .scale = NS_PER_MS,
	    .what = "a number of milliseconds", .flags = VD_KEY_LIVE),
	VD_KEY(NULL, "budget_ms", VD_KEY_DURATION, TYPE(budget_ns), .min = 1,
	    .max = 600000, .scale = NS_PER_MS,
	    .what = "a number of milliseconds"),
};

#define CONF_NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

/*
 * Resolves a section name: *type is -1 for a section with rows of its
 * own, or the AUTH type a per-type section is named after.  Returns false
 * when unknown.
 */
static bool
section_lookup(const char *section, int *type)
{
	int t;

	if (vd_key_names(conf_keys, CONF_NKEYS, section, NULL, 0) > 0) {
		*type = -1;
		return true;
	}
	t = vd_event_type_parse(section);
	if (t < 0 ||
	    vd_event_type_action((enum vd_event_type)t) != VD_ACTION_AUTH)
		return false;
	*type = t;
	return true;
}

static void
section_error(const char *section, char *err, size_t errsz)
{
	char q[96];
	int t = vd_event_type_parse(section);

	if (t >= 0)
		vd_errf(err, errsz,
		    "[%s]: %s is a NOTIFY type, which has no "
		    "settings (only AUTH types do)",
		    vd_quote(q, sizeof(q), section), section);
	else
		vd_errf(err, errsz,
		    "unknown section [%s] (expected pipeline, "
		    "backend, gen, sim, fanotify, control, policy, log, test, "
		    "or an "
		    "AUTH event type such as auth.open)",
		    vd_quote(q, sizeof(q), section));
}

/* The row of key in a section: *type as section_lookup() set it. */
static const struct vd_key *
key_lookup(int type, const char *section, const char *name)
{
	return vd_key_find(
	    conf_keys, CONF_NKEYS, type < 0 ? section : NULL, name);
}

static void
key_error(
    int type, const char *section, const char *name, char *err, size_t errsz)
{
	char list[256], q[96];

	vd_key_names(conf_keys, CONF_NKEYS, type < 0 ? section : NULL, list,
	    sizeof(list));
	vd_errf(err, errsz, "[%s] %s: unknown key (expected one of: %s)",
	    section, vd_quote(q, sizeof(q), name), list);
}

/*
 * A comma-separated list of type names, or the words "all", "auth" (every
 * AUTH type) and "notify" (every NOTIFY type).  Blanks around names are
 * allowed.  On error, the offending name goes to bad.
 */
static bool
type_list(const char *s, uint32_t *out, char *bad, size_t badsz)
{
	uint32_t mask = 0;
	const char *p = s;

	for (;;) {
		char name[48];
		const char *start, *end;
		size_t n;
		int t;

		while (*p == ' ' || *p == '\t')
			p++;
		start = p;
		while (*p != '\0' && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		n = (size_t)(end - start);
		if (n == 0 || n >= sizeof(name)) {
			snprintf(bad, badsz, "%.*s", (int)n, start);
			return false;
		}
		memcpy(name, start, n);
		name[n] = '\0';
		if (strcmp(name, "all") == 0)
			mask |= (UINT32_C(1) << VD_EVENT_TYPE_COUNT) - 1;
		else if (strcmp(name, "auth") == 0)
			mask |= (UINT32_C(1) << VD_AUTH_TYPE_COUNT) - 1;
		else if (strcmp(name, "notify") == 0)
			mask |= ((UINT32_C(1) << VD_EVENT_TYPE_COUNT) - 1) &
			    ~((UINT32_C(1) << VD_NOTIFY_TYPE_FIRST) - 1);
		else if ((t = vd_event_type_parse(name)) >= 0)
			mask |= UINT32_C(1) << t;
		else {
			snprintf(bad, badsz, "%s", name);
			return false;
		}
		if (*p == '\0')
			break;
		p++; /* the comma */
	}
	*out = mask;
	return true;
}

/* [gen] and [fanotify] types: a uint32_t, bit (1 << enum vd_event_type). */
static bool
parse_types(const char *value, void *field, char *why, size_t whysz)
{
	char bad[64], qb[96], qv[96];
	uint32_t mask;

	if (!type_list(value, &mask, bad, sizeof(bad))) {
		snprintf(why, whysz,
		    "expected a comma-separated list of event types (such as "
		    "auth.open,auth.exec,notify.close, or all, auth, notify), "
		    "got \"%s\" in \"%s\"",
		    vd_quote(qb, sizeof(qb), bad),
		    vd_quote(qv, sizeof(qv), value));
		return false;
	}
	memcpy(field, &mask, sizeof(mask));
	return true;
}

/*
 * fanotify.paths: absolute paths separated by ':', each at most
 * VD_CONF_PATH_MAX - 1 bytes, no empty entry, at most VD_FAN_MARKS_MAX of
 * them (which VD_CONF_PATHS_MAX holds).  An error says which path is
 * wrong.  The field is char[VD_CONF_PATHS_MAX], zero-filled after the list.
 */
_Static_assert(VD_CONF_PATHS_MAX >= VD_FAN_MARKS_MAX * VD_CONF_PATH_MAX,
    "fanotify.paths holds its most paths, each of the most bytes");

static bool
parse_paths(const char *value, void *field, char *why, size_t whysz)
{
	const char *p = value, *end;
	size_t n, count = 0, len = strlen(value);
	char raw[VD_CONF_PATH_MAX], q[96];

	for (;;) {
		end = strchr(p, ':');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (++count > VD_FAN_MARKS_MAX) {
			snprintf(
			    why, whysz, "more than %d paths", VD_FAN_MARKS_MAX);
			return false;
		}
		if (n == 0 || p[0] != '/') {
			snprintf(raw, sizeof(raw), "%.*s",
			    (int)(n < sizeof(raw) ? n : sizeof(raw) - 1), p);
			snprintf(why, whysz,
			    "expected absolute paths separated by ':' (such as "
			    "/srv/data:/home), got \"%s\" as path %zu",
			    vd_quote(q, sizeof(q), raw), count);
			return false;
		}
		if (n >= VD_CONF_PATH_MAX) {
			snprintf(why, whysz,
			    "path %zu is %zu bytes long, more than %d", count,
			    n, VD_CONF_PATH_MAX - 1);
			return false;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	memset(field, 0, VD_CONF_PATHS_MAX);
	memcpy(field, value, len);
	return true;
}

/* fanotify.mark: an enum vd_fan_mark_kind, by vd_fan_mark_name(). */
static bool
parse_mark(const char *value, void *field, char *why, size_t whysz)
{
	enum vd_fan_mark_kind m;
	char q[96];

	for (m = VD_FAN_MARK_DIRECTORY; m < VD_FAN_MARK_KINDS; m++)
		if (strcmp(value, vd_fan_mark_name(m)) == 0) {
			memcpy(field, &m, sizeof(m));
			return true;
		}
	snprintf(why, whysz,
	    "expected directory, mount or filesystem, got \"%s\"",
	    vd_quote(q, sizeof(q), value));
	return false;
}

size_t
vd_conf_fan_paths(const struct vd_conf *c, char *buf, size_t bufsz,
    const char **paths, size_t max)
{
	size_t n = 0;
	char *p, *save = NULL;

	snprintf(buf, bufsz, "%s", c->fan.paths);
	for (p = strtok_r(buf, ":", &save); p != NULL && n < max;
	     p = strtok_r(NULL, ":", &save))
		paths[n++] = p;
	return n;
}

/* What a row's field is in: struct vd_conf, or for a per-type row the
 * struct vd_type_config of the section's type. */
static void *
key_base(struct vd_conf *c, const struct vd_key *k, int type)
{
	return k->section == NULL ? (void *)&c->pipe.types[type] : (void *)c;
}

void
vd_conf_init(struct vd_conf *c)
{
	memset(c, 0, sizeof(*c));
	vd_config_init(&c->pipe, VD_PROFILE_FANOTIFY);
#if defined(__linux__)
	snprintf(c->backend, sizeof(c->backend), "fanotify");
#elif defined(__APPLE__)
	snprintf(c->backend, sizeof(c->backend), "es");
#else
	snprintf(c->backend, sizeof(c->backend), "gen");
#endif
	c->gen.rate = 10000;
	c->gen.duration_s = 10;
	c->gen.producers = 1;
	c->gen.stall_every = 0;
	c->gen.stall_ms = 0;
	c->gen.deny_every = 0;
	c->gen.seed = 1;
	c->gen.short_every = 0;
	c->gen.short_ms = 100;
	c->gen.types = GEN_TYPES_DEFAULT;
	c->sim.time_scale = 1.0;
	c->fan.mark = VD_FAN_MARK_DIRECTORY;
	c->fan.types = (UINT32_C(1) << VD_AUTH_OPEN) |
	    (UINT32_C(1) << VD_AUTH_EXEC) | (UINT32_C(1) << VD_NOTIFY_CLOSE);
	c->fan.ignore_max = 4096;
	c->fan.inline_answers = true;
	c->fan.proc_cache = 1024;
	c->fan.proc_ttl_ns = 1000 * NS_PER_MS;
	snprintf(c->control_socket, sizeof(c->control_socket), "%s",
	    VD_CTL_DEFAULT_PATH);
	snprintf(c->log_decisions, sizeof(c->log_decisions), "off");
	c->log_queue = 4096;
	c->enrich_threads = 1;
	c->digest_max_mib = 256;
	c->digest_cache = 4096;
}

int
vd_conf_set(struct vd_conf *c, const char *section, const char *key,
    const char *value, char *err, size_t errsz)
{
	const struct vd_key *k;
	int type;

	if (!section_lookup(section, &type)) {
		section_error(section, err, errsz);
		return -EINVAL;
	}
	if ((k = key_lookup(type, section, key)) == NULL) {
		key_error(type, section, key, err, errsz);
		return -EINVAL;
	}
	if (strcmp(section, "test") == 0)
		c->test.hooks = true;
	return vd_key_set(k, key_base(c, k, type), section, value, err, errsz);
}

int
vd_conf_set_arg(
    struct vd_conf *c, const char *assignment, char *err, size_t errsz)
{
	char buf[256], q[96];
	const char *eq;
	char *dot;
	size_t n;

	/* The name is copied; the value, as long as its kind allows (a
	 * list of paths), is not. */
	if ((eq = strchr(assignment, '=')) == NULL ||
	    (n = (size_t)(eq - assignment)) >= sizeof(buf))
		goto bad;
	memcpy(buf, assignment, n);
	buf[n] = '\0';
	/* Section names contain dots (auth.open), keys never do. */
	if ((dot = strrchr(buf, '.')) == NULL || dot == buf || dot[1] == '\0')
		goto bad;
	*dot = '\0';
	return vd_conf_set(c, buf, dot + 1, eq + 1, err, errsz);

bad:
	vd_errf(err, errsz,
	    "expected SECTION.KEY=VALUE (such as "
	    "auth.open.default=deny), got \"%s\"",
	    vd_quote(q, sizeof(q), assignment));
	return -EINVAL;
}

/* --- the file ------------------------------------------------------------ */

struct conf_load {
	struct vd_conf conf; /* working copy, committed on success */
	/* Line each setting was first set on, to catch repeated keys. */
	int seen[CONF_NKEYS][VD_AUTH_TYPE_COUNT];
};

/* A [section] header: known, even when no key follows. */
static bool
load_section(void *ctx, struct vd_ini *ini, const char *name)
{
	char msg[256];
	int type;

	if (section_lookup(name, &type)) {
		if (strcmp(name, "test") == 0)
			((struct conf_load *)ctx)->conf.test.hooks = true;
		return true;
	}
	section_error(name, msg, sizeof(msg));
	vd_ini_fail(ini, -EINVAL, "%s", msg);
	return false;
}

static int
load_key(void *ctx, struct vd_ini *ini, const char *section, const char *name,
    const char *value)
{
	struct conf_load *l = ctx;
	const struct vd_key *k;
	char msg[512];
	int type, *seen;

	if (*section == '\0') {
		vd_ini_fail(ini, -EINVAL,
		    "%s: key outside any section (a [section] "
		    "line must come first)",
		    name);
		return 0;
	}
	/* The reader checked the header already. */
	if (!section_lookup(section, &type)) {
		section_error(section, msg, sizeof(msg));
		vd_ini_fail(ini, -EINVAL, "%s", msg);
		return 0;
	}
	if ((k = key_lookup(type, section, name)) == NULL) {
		key_error(type, section, name, msg, sizeof(msg));
		vd_ini_fail(ini, -EINVAL, "%s", msg);
		return 0;
	}
	seen = &l->seen[k - conf_keys][type < 0 ? 0 : type];
	if (*seen != 0) {
		vd_ini_fail(ini, -EINVAL,
		    "[%s] %s: set twice (first on line %d)", section, name,
		    *seen);
		return 0;
	}
	*seen = ini->line;
	if (vd_key_set(k, key_base(&l->conf, k, type), section, value, msg,
	        sizeof(msg)) != 0) {
		vd_ini_fail(ini, -EINVAL, "%s", msg);
		return 0;
	}
	return 1;
}

int
vd_conf_load(struct vd_conf *c, const char *path, char *err, size_t errsz)
{
	struct conf_load *l;
	int rc;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		vd_errf(err, errsz, "%s: %s", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	l->conf = *c;
	rc = vd_ini_parse(
	    path, VD_CONF_FILE_MAX, load_section, load_key, l, err, errsz);
	if (rc == 0)
		*c = l->conf;
	free(l);
	return rc;
}

/* --- whole-configuration checks ----------------------------------------- */

int
vd_conf_check(struct vd_conf *c, char *err, size_t errsz)
{
	uint64_t events;
	int rc;

	/* Several producer threads submit concurrently. */
	c->pipe.multi_producer = c->gen.producers > 1;
	if ((rc = vd_config_check(&c->pipe, err, errsz)) != 0)
		return rc;
	if (strcmp(c->backend, "sim") == 0 && c->sim.scenario[0] == '\0' &&
	    !c->policy_only) {
		vd_errf(err, errsz,
		    "[sim] scenario: the sim backend needs a scenario file "
		    "(--scenario FILE; see essim-scenario(5))");
		return -EINVAL;
	}
	if (strcmp(c->backend, "fanotify") == 0) {
		if (c->fan.paths[0] == '\0' && !c->policy_only) {
			vd_errf(err, errsz,
			    "[fanotify] paths: the fanotify backend needs at "
			    "least one path to mark (--watch PATH, or paths = "
			    "/srv/data:/home)");
			return -EINVAL;
		}
		if ((c->fan.types &
		        ((UINT32_C(1) << VD_AUTH_OPEN) |
		            (UINT32_C(1) << VD_AUTH_EXEC) |
		            (UINT32_C(1) << VD_AUTH_ACCESS))) == 0) {
			vd_errf(err, errsz,
			    "[fanotify] types: no permission event (auth.open, "
			    "auth.exec or auth.access) to answer");
			return -EINVAL;
		}
	}
	if (strcmp(c->backend, "gen") == 0) {
		events = c->gen.rate * c->gen.duration_s;
		if (events > VD_GEN_EVENTS_MAX) {
			vd_errf(err, errsz,
			    "[gen] rate x duration is %" PRIu64
			    " events, more than the generator's limit of "
			    "%" PRIu64 "; lower rate or duration",
			    events, VD_GEN_EVENTS_MAX);
			return -EINVAL;
		}
		if (c->gen.producers > c->gen.rate) {
			vd_errf(err, errsz,
			    "[gen] producers (%u) is more than rate "
			    "(%" PRIu64 "): each producer needs at least one "
			    "event per second",
			    c->gen.producers, c->gen.rate);
			return -EINVAL;
		}
		if (c->gen.types == 0) {
			vd_errf(err, errsz,
			    "[gen] types: no event type to generate");
			return -EINVAL;
		}
	}
	return 0;
}

void
vd_conf_take_live(struct vd_conf *dst, const struct vd_conf *src)
{
	for (size_t i = 0; i < CONF_NKEYS; i++) {
		const struct vd_key *k = &conf_keys[i];

		if ((k->flags & VD_KEY_LIVE) == 0)
			continue;
		if (k->section != NULL) {
			memcpy((char *)dst + k->off, (const char *)src + k->off,
			    k->size);
			continue;
		}
		for (int t = 0; t < VD_AUTH_TYPE_COUNT; t++)
			memcpy((char *)&dst->pipe.types[t] + k->off,
			    (const char *)&src->pipe.types[t] + k->off,
			    k->size);
	}
}

static void
diff_name(
    char *names, size_t namesz, size_t *o, const char *section, const char *key)
{
	int n;

	if (names == NULL || namesz == 0 || *o >= namesz)
		return;
	n = snprintf(names + *o, namesz - *o, "%s%s.%s", *o == 0 ? "" : ", ",
	    section, key);
	if (n > 0)
		*o += (size_t)n;
}

unsigned
vd_conf_diff(const struct vd_conf *a, const struct vd_conf *b, bool live,
    char *names, size_t namesz)
{
	unsigned count = 0;
	size_t o = 0;

	if (names != NULL && namesz > 0)
		names[0] = '\0';
	for (size_t i = 0; i < CONF_NKEYS; i++) {
		const struct vd_key *k = &conf_keys[i];

		if (((k->flags & VD_KEY_LIVE) != 0) != live)
			continue;
		if (k->section != NULL) {
			if (!vd_key_equal(k, a, b)) {
				count++;
				diff_name(
				    names, namesz, &o, k->section, k->name);
			}
			continue;
		}
		for (int t = 0; t < VD_AUTH_TYPE_COUNT; t++) {
			if (vd_key_equal(
			        k, &a->pipe.types[t], &b->pipe.types[t]))
				continue;
			count++;
			diff_name(names, namesz, &o,
			    vd_event_type_name((enum vd_event_type)t), k->name);
		}
	}
	return count;
}
