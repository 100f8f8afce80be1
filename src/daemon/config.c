/*
 * config.c — verdictd.conf: INI (util/inifile.h), strict values, file:line
 * errors.
 *
 * One table (conf_keys) declares every setting: its section, key, kind,
 * range, unit and whether it can change while the daemon runs.  The file
 * parser, --set, the error messages and the reload diff all read it, so a new
 * setting is one line here (and one in verdictd.conf.5).
 *
 * The reader checks each line (encoding, control characters, section
 * names) and tells the handler its number.  A line has no length limit of
 * its own (the file has, VD_CONF_FILE_MAX): a value's limit is its kind's.
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
#include "util/errf.h"
#include "util/inifile.h"

#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_US UINT64_C(1000)

/* Default event mix of the generator. */
#define GEN_TYPES_DEFAULT                                                      \
	((UINT32_C(1) << VD_AUTH_OPEN) | (UINT32_C(1) << VD_AUTH_EXEC) |       \
	    (UINT32_C(1) << VD_NOTIFY_CLOSE))

_Static_assert(VD_EVENT_TYPE_COUNT <= 32, "gen.types is a 32-bit mask");

enum conf_scope {
	SCOPE_PIPELINE,
	SCOPE_BACKEND,
	SCOPE_GEN,
	SCOPE_SIM,
	SCOPE_CONTROL,
	SCOPE_POLICY,
	SCOPE_FANOTIFY,
	SCOPE_TEST,
	SCOPE_TYPE, /* [auth.open] and the other AUTH types */
};

enum conf_kind {
	KIND_UINT,     /* unsigned */
	KIND_POW2,     /* unsigned, a power of two */
	KIND_U64,      /* uint64_t, text value x scale */
	KIND_BOOL,     /* bool: yes or no */
	KIND_VERDICT,  /* uint8_t: allow or deny */
	KIND_FRACTION, /* double from 0 to 1 */
	KIND_BACKEND,  /* char[VD_CONF_BACKEND_MAX] */
	KIND_TYPES,    /* uint32_t mask of event types */
	KIND_PATH,     /* char[VD_CONF_PATH_MAX] */
	KIND_SCALE,    /* double from 0.001 to 1 */
	KIND_PATHS, /* char[VD_CONF_PATHS_MAX]: absolute paths, ':' between */
	KIND_MARK,  /* enum vd_fan_mark_kind */
	KIND_NAME,  /* char[VD_CONF_NAME_MAX]: a file name, no '/' */
};

struct conf_key {
	enum conf_scope scope;
	const char *name;
	enum conf_kind kind;
	size_t off;        /* in struct vd_conf; SCOPE_TYPE: vd_type_config */
	uint64_t min, max; /* in the unit of the text */
	uint64_t scale;    /* KIND_U64: text unit -> stored unit */
	const char *unit;  /* for messages: "a number of milliseconds" */
	bool live;         /* can change on SIGHUP */
};

#define PIPE(f) (offsetof(struct vd_conf, pipe) + offsetof(struct vd_config, f))
#define GEN(f)  (offsetof(struct vd_conf, gen) + offsetof(struct vd_conf_gen, f))
#define TYPE(f) offsetof(struct vd_type_config, f)
#define SIM(f)  (offsetof(struct vd_conf, sim) + offsetof(struct vd_conf_sim, f))
#define FAN(f)                                                                 \
	(offsetof(struct vd_conf, fan) + offsetof(struct vd_conf_fanotify, f))
#define TEST(f)                                                                \
	(offsetof(struct vd_conf, test) + offsetof(struct vd_conf_test, f))

static const struct conf_key conf_keys[] = {
	{ SCOPE_PIPELINE, "workers", KIND_UINT, PIPE(workers), 0,
	    VD_MAX_WORKERS, 1, "a number of workers", false },
	{ SCOPE_PIPELINE, "ring_size", KIND_POW2, PIPE(ring_size), 2, 1048576,
	    1, "a power of two", false },
	{ SCOPE_PIPELINE, "pool_size", KIND_UINT, PIPE(pool_size), 1, 65536, 1,
	    "a number of events", false },
	{ SCOPE_PIPELINE, "spin_us", KIND_U64, PIPE(spin_ns), 0, 10000,
	    NS_PER_US, "a number of microseconds", false },
	{ SCOPE_PIPELINE, "tick_us", KIND_U64, PIPE(tick_ns), 10, 100000,
	    NS_PER_US, "a number of microseconds", false },
	{ SCOPE_PIPELINE, "pin_workers", KIND_BOOL, PIPE(pin_workers), 0, 0, 1,
	    NULL, false },
	{ SCOPE_BACKEND, "name", KIND_BACKEND,
	    offsetof(struct vd_conf, backend), 0, 0, 1, NULL, false },
	{ SCOPE_GEN, "rate", KIND_U64, GEN(rate), 1, 10000000, 1,
	    "a number of events per second", false },
	{ SCOPE_GEN, "duration", KIND_U64, GEN(duration_s), 1, 86400, 1,
	    "a number of seconds", false },
	{ SCOPE_GEN, "producers", KIND_UINT, GEN(producers), 1, 64, 1,
	    "a number of threads", false },
	{ SCOPE_GEN, "stall_every", KIND_U64, GEN(stall_every), 0, 1000000000,
	    1, "a count", true },
	{ SCOPE_GEN, "stall_ms", KIND_U64, GEN(stall_ms), 0, 600000, 1,
	    "a number of milliseconds", true },
	{ SCOPE_GEN, "deny_every", KIND_U64, GEN(deny_every), 0, 1000000000, 1,
	    "a count", true },
	{ SCOPE_GEN, "seed", KIND_U64, GEN(seed), 0, UINT64_MAX, 1, "a number",
	    false },
	{ SCOPE_GEN, "short_every", KIND_U64, GEN(short_every), 0, 1000000000,
	    1, "a count", false },
	{ SCOPE_GEN, "short_ms", KIND_U64, GEN(short_ms), 1, 600000, 1,
	    "a number of milliseconds", false },
	{ SCOPE_GEN, "types", KIND_TYPES, GEN(types), 0, 0, 1, NULL, false },
	{ SCOPE_POLICY, "file", KIND_PATH, offsetof(struct vd_conf, policy), 0,
	    0, 1, NULL, false },
	{ SCOPE_CONTROL, "socket", KIND_PATH,
	    offsetof(struct vd_conf, control_socket), 0, 0, 1, NULL, false },
	{ SCOPE_SIM, "scenario", KIND_PATH, SIM(scenario), 0, 0, 1, NULL,
	    false },
	{ SCOPE_SIM, "time_scale", KIND_SCALE, SIM(time_scale), 0, 1, 1, NULL,
	    false },
	{ SCOPE_SIM, "duration", KIND_U64, SIM(duration_s), 0, 86400, 1,
	    "a number of seconds (0: the scenario's)", false },
	{ SCOPE_FANOTIFY, "paths", KIND_PATHS, FAN(paths), 0, 0, 1, NULL,
	    false },
	{ SCOPE_FANOTIFY, "mark", KIND_MARK, FAN(mark), 0, 0, 1, NULL, false },
	{ SCOPE_FANOTIFY, "types", KIND_TYPES, FAN(types), 0, 0, 1, NULL,
	    false },
	{ SCOPE_FANOTIFY, "audit", KIND_BOOL, FAN(audit), 0, 0, 1, NULL,
	    false },
	{ SCOPE_FANOTIFY, "ignore_max", KIND_UINT, FAN(ignore_max), 0, 65536, 1,
	    "a number of ignore marks", false },
	{ SCOPE_FANOTIFY, "proc_cache", KIND_POW2, FAN(proc_cache), 2, 1048576,
	    1, "a power of two", false },
	{ SCOPE_FANOTIFY, "proc_ttl_ms", KIND_U64, FAN(proc_ttl_ns), 1, 60000,
	    NS_PER_MS, "a number of milliseconds", false },
	{ SCOPE_TEST, "stall_name", KIND_NAME, TEST(stall_name), 0, 0, 1, NULL,
	    false },
	{ SCOPE_TEST, "stall_ms", KIND_U64, TEST(stall_ms), 0, 600000, 1,
	    "a number of milliseconds", true },
	{ SCOPE_TEST, "block_worker", KIND_BOOL, TEST(block_worker), 0, 0, 1,
	    NULL, true },
	{ SCOPE_TEST, "reader_pause_ms", KIND_U64, TEST(reader_pause_ms), 0,
	    60000, 1, "a number of milliseconds", true },
	{ SCOPE_TEST, "audit_without_init", KIND_BOOL, TEST(audit_without_init),
	    0, 0, 1, NULL, false },
	/* Per-type settings apply live (vd_pipeline_set_type). */
	{ SCOPE_TYPE, "default", KIND_VERDICT, TYPE(default_verdict), 0, 0, 1,
	    NULL, true },
	{ SCOPE_TYPE, "margin_fraction", KIND_FRACTION, TYPE(margin_fraction),
	    0, 1, 1, NULL, true },
	{ SCOPE_TYPE, "margin_floor_ms", KIND_U64, TYPE(margin_floor_ns), 0,
	    600000, NS_PER_MS, "a number of milliseconds", true },
	{ SCOPE_TYPE, "margin_ceiling_ms", KIND_U64, TYPE(margin_ceiling_ns), 0,
	    600000, NS_PER_MS, "a number of milliseconds", true },
	{ SCOPE_TYPE, "budget_ms", KIND_U64, TYPE(budget_ns), 1, 600000,
	    NS_PER_MS, "a number of milliseconds", false },
};

#define CONF_NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

static const char *const scope_names[] = {
	[SCOPE_PIPELINE] = "pipeline",
	[SCOPE_BACKEND] = "backend",
	[SCOPE_SIM] = "sim",
	[SCOPE_CONTROL] = "control",
	[SCOPE_POLICY] = "policy",
	[SCOPE_GEN] = "gen",
	[SCOPE_FANOTIFY] = "fanotify",
	[SCOPE_TEST] = "test",
};

/*
 * Resolves a section name: sets *scope and, for a type section, *type.
 * Returns false when unknown.
 */
static bool
section_lookup(const char *section, enum conf_scope *scope, int *type)
{
	int t;

	for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]);
	     i++) {
		if (strcmp(section, scope_names[i]) == 0) {
			*scope = (enum conf_scope)i;
			*type = 0;
			return true;
		}
	}
	t = vd_event_type_parse(section);
	if (t < 0 ||
	    vd_event_type_action((enum vd_event_type)t) != VD_ACTION_AUTH)
		return false;
	*scope = SCOPE_TYPE;
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
		    "backend, gen, sim, fanotify, control, policy, test, or an "
		    "AUTH event type such as auth.open)",
		    vd_quote(q, sizeof(q), section));
}

static const struct conf_key *
key_lookup(enum conf_scope scope, const char *name)
{
	for (size_t i = 0; i < CONF_NKEYS; i++)
		if (conf_keys[i].scope == scope &&
		    strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	return NULL;
}

static void
key_error(enum conf_scope scope, const char *section, const char *name,
    char *err, size_t errsz)
{
	char list[256], q[96];
	size_t o = 0;

	list[0] = '\0';
	for (size_t i = 0; i < CONF_NKEYS; i++) {
		if (conf_keys[i].scope != scope)
			continue;
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
		    o == 0 ? "" : ", ", conf_keys[i].name);
		if (o >= sizeof(list))
			break;
	}
	vd_errf(err, errsz, "[%s] %s: unknown key (expected one of: %s)",
	    section, vd_quote(q, sizeof(q), name), list);
}

/* Strict unsigned decimal: digits only, no sign, no blanks, no overflow. */
static bool
parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

/* Strict decimal fraction: digits, at most one point; no sign, exponent. */
static bool
parse_fraction(const char *s, double *out)
{
	size_t digits = 0, points = 0;
	char *end;
	double v;

	for (const char *p = s; *p != '\0'; p++) {
		if (*p >= '0' && *p <= '9')
			digits++;
		else if (*p == '.')
			points++;
		else
			return false;
	}
	if (digits == 0 || points > 1)
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

static bool
parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0) {
		*out = true;
		return true;
	}
	if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0) {
		*out = false;
		return true;
	}
	return false;
}

/*
 * A comma-separated list of type names, or the words "all", "auth" (every
 * AUTH type) and "notify" (every NOTIFY type).  Blanks around names are
 * allowed.  On error, the offending name goes to bad.
 */
static bool
parse_types(const char *s, uint32_t *out, char *bad, size_t badsz)
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

/*
 * fanotify.paths: absolute paths separated by ':', each at most
 * VD_CONF_PATH_MAX - 1 bytes, no empty entry, at most VD_FAN_MARKS_MAX of
 * them (which VD_CONF_PATHS_MAX holds).  An error says which path is wrong.
 */
_Static_assert(VD_CONF_PATHS_MAX >= VD_FAN_MARKS_MAX * VD_CONF_PATH_MAX,
    "fanotify.paths holds its most paths, each of the most bytes");

static int
set_paths(char *field, const char *section, const char *key, const char *value,
    char *err, size_t errsz)
{
	const char *p = value, *end;
	size_t n, count = 0;
	char raw[VD_CONF_PATH_MAX], q[96];

	for (;;) {
		end = strchr(p, ':');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (++count > VD_FAN_MARKS_MAX) {
			vd_errf(err, errsz, "[%s] %s: more than %d paths",
			    section, key, VD_FAN_MARKS_MAX);
			return -EINVAL;
		}
		if (n == 0 || p[0] != '/') {
			snprintf(raw, sizeof(raw), "%.*s",
			    (int)(n < sizeof(raw) ? n : sizeof(raw) - 1), p);
			vd_errf(err, errsz,
			    "[%s] %s: expected absolute paths separated by "
			    "':' (such as /srv/data:/home), got \"%s\" as "
			    "path %zu",
			    section, key, vd_quote(q, sizeof(q), raw), count);
			return -EINVAL;
		}
		if (n >= VD_CONF_PATH_MAX) {
			vd_errf(err, errsz,
			    "[%s] %s: path %zu is %zu bytes long, more than %d",
			    section, key, count, n, VD_CONF_PATH_MAX - 1);
			return -EINVAL;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	snprintf(field, VD_CONF_PATHS_MAX, "%s", value);
	return 0;
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

/*
 * Sets one key of one scope.  base is struct vd_conf, or for SCOPE_TYPE the
 * struct vd_type_config of the section's type.  The message has no
 * location: the caller adds "file:line: " or names the option.
 */
static int
key_set(const struct conf_key *k, void *base, const char *section,
    const char *value, char *err, size_t errsz)
{
	char *field = (char *)base + k->off;
	char q[96], bad[64];
	enum vd_fan_mark_kind m;
	uint64_t v;
	double d;
	bool b;
	uint32_t mask;

	switch (k->kind) {
	case KIND_UINT:
	case KIND_POW2:
	case KIND_U64:
		if (!parse_u64(value, &v) || v < k->min || v > k->max ||
		    (k->kind == KIND_POW2 && (v & (v - 1)) != 0))
			goto range;
		if (k->kind == KIND_U64)
			*(uint64_t *)(void *)field = v * k->scale;
		else
			*(unsigned *)(void *)field = (unsigned)v;
		return 0;
	case KIND_BOOL:
		if (!parse_bool(value, &b)) {
			vd_errf(err, errsz,
			    "[%s] %s: expected yes or no, got \"%s\"", section,
			    k->name, vd_quote(q, sizeof(q), value));
			return -EINVAL;
		}
		*(bool *)(void *)field = b;
		return 0;
	case KIND_VERDICT:
		if (strcmp(value, "allow") == 0)
			*(uint8_t *)field = VD_ALLOW;
		else if (strcmp(value, "deny") == 0)
			*(uint8_t *)field = VD_DENY;
		else {
			vd_errf(err, errsz,
			    "[%s] %s: expected allow or deny, got "
			    "\"%s\"",
			    section, k->name, vd_quote(q, sizeof(q), value));
			return -EINVAL;
		}
		return 0;
	case KIND_FRACTION:
		/* A margin of the whole budget would answer on arrival. */
		if (!parse_fraction(value, &d) || d < (double)k->min ||
		    d >= (double)k->max) {
			vd_errf(err, errsz,
			    "[%s] %s: expected a decimal fraction "
			    "from %" PRIu64 " to below %" PRIu64 " (such as "
			    "0.2), got \"%s\"",
			    section, k->name, k->min, k->max,
			    vd_quote(q, sizeof(q), value));
			return -EINVAL;
		}
		*(double *)(void *)field = d;
		return 0;
	case KIND_BACKEND:
		if (strcmp(value, "gen") != 0 && strcmp(value, "sim") != 0 &&
		    strcmp(value, "fanotify") != 0) {
			vd_errf(err, errsz,
			    "[%s] %s: expected a backend name "
			    "(fanotify, sim or gen), got \"%s\"",
			    section, k->name, vd_quote(q, sizeof(q), value));
			return -EINVAL;
		}
		snprintf(field, VD_CONF_BACKEND_MAX, "%s", value);
		return 0;
	case KIND_PATH:
		if (value[0] == '\0' || strlen(value) >= VD_CONF_PATH_MAX) {
			vd_errf(err, errsz,
			    "[%s] %s: expected a file name of 1 to %d bytes",
			    section, k->name, VD_CONF_PATH_MAX - 1);
			return -EINVAL;
		}
		snprintf(field, VD_CONF_PATH_MAX, "%s", value);
		return 0;
	case KIND_PATHS:
		return set_paths(field, section, k->name, value, err, errsz);
	case KIND_MARK:
		for (m = VD_FAN_MARK_DIRECTORY; m < VD_FAN_MARK_KINDS; m++)
			if (strcmp(value, vd_fan_mark_name(m)) == 0) {
				*(enum vd_fan_mark_kind *)(void *)field = m;
				return 0;
			}
		vd_errf(err, errsz,
		    "[%s] %s: expected directory, mount or filesystem, got "
		    "\"%s\"",
		    section, k->name, vd_quote(q, sizeof(q), value));
		return -EINVAL;
	case KIND_NAME:
		if (value[0] == '\0' || strlen(value) >= VD_CONF_NAME_MAX ||
		    strchr(value, '/') != NULL) {
			vd_errf(err, errsz,
			    "[%s] %s: expected a file name of 1 to %d bytes "
			    "without '/', got \"%s\"",
			    section, k->name, VD_CONF_NAME_MAX - 1,
			    vd_quote(q, sizeof(q), value));
			return -EINVAL;
		}
		snprintf(field, VD_CONF_NAME_MAX, "%s", value);
		return 0;
	case KIND_SCALE:
		/* Faster than 1000x, deadlines fall below what the machine's
		 * scheduling can meet; slower than real time makes no sense. */
		if (!parse_fraction(value, &d) || d < 0.001 || d > 1) {
			vd_errf(err, errsz,
			    "[%s] %s: expected a factor from 0.001 to 1 "
			    "(such as 0.01), got \"%s\"",
			    section, k->name, vd_quote(q, sizeof(q), value));
			return -EINVAL;
		}
		*(double *)(void *)field = d;
		return 0;
	case KIND_TYPES:
		if (!parse_types(value, &mask, bad, sizeof(bad))) {
			vd_errf(err, errsz,
			    "[%s] %s: expected a comma-separated "
			    "list of event types (such as auth.open,auth.exec,"
			    "notify.close, or all, auth, notify), got \"%s\" "
			    "in "
			    "\"%s\"",
			    section, k->name, vd_quote(q, sizeof(q), bad),
			    value);
			return -EINVAL;
		}
		*(uint32_t *)(void *)field = mask;
		return 0;
	}
	return -EINVAL;

range:
	vd_errf(err, errsz,
	    "[%s] %s: expected %s from %" PRIu64 " to %" PRIu64 ", got \"%s\"",
	    section, k->name, k->unit, k->min, k->max,
	    vd_quote(q, sizeof(q), value));
	return -EINVAL;
}

static void *
key_base(struct vd_conf *c, const struct conf_key *k, int type)
{
	return k->scope == SCOPE_TYPE ? (void *)&c->pipe.types[type]
	                              : (void *)c;
}

void
vd_conf_init(struct vd_conf *c)
{
	memset(c, 0, sizeof(*c));
	vd_config_init(&c->pipe, VD_PROFILE_FANOTIFY);
#ifdef __linux__
	snprintf(c->backend, sizeof(c->backend), "fanotify");
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
	c->fan.proc_cache = 1024;
	c->fan.proc_ttl_ns = 1000 * NS_PER_MS;
	snprintf(c->control_socket, sizeof(c->control_socket), "%s",
	    "/run/verdictd.sock");
}

int
vd_conf_set(struct vd_conf *c, const char *section, const char *key,
    const char *value, char *err, size_t errsz)
{
	const struct conf_key *k;
	enum conf_scope scope;
	int type;

	if (!section_lookup(section, &scope, &type)) {
		section_error(section, err, errsz);
		return -EINVAL;
	}
	if ((k = key_lookup(scope, key)) == NULL) {
		key_error(scope, section, key, err, errsz);
		return -EINVAL;
	}
	if (scope == SCOPE_TEST)
		c->test.hooks = true;
	return key_set(k, key_base(c, k, type), section, value, err, errsz);
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
	enum conf_scope scope;
	char msg[256];
	int type;

	if (section_lookup(name, &scope, &type)) {
		if (scope == SCOPE_TEST)
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
	const struct conf_key *k;
	enum conf_scope scope;
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
	if (!section_lookup(section, &scope, &type)) {
		section_error(section, msg, sizeof(msg));
		vd_ini_fail(ini, -EINVAL, "%s", msg);
		return 0;
	}
	if ((k = key_lookup(scope, name)) == NULL) {
		key_error(scope, section, name, msg, sizeof(msg));
		vd_ini_fail(ini, -EINVAL, "%s", msg);
		return 0;
	}
	seen = &l->seen[k - conf_keys][type];
	if (*seen != 0) {
		vd_ini_fail(ini, -EINVAL,
		    "[%s] %s: set twice (first on line %d)", section, name,
		    *seen);
		return 0;
	}
	*seen = ini->line;
	if (key_set(k, key_base(&l->conf, k, type), section, value, msg,
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
	if (strcmp(c->backend, "sim") == 0 && c->sim.scenario[0] == '\0') {
		vd_errf(err, errsz,
		    "[sim] scenario: the sim backend needs a scenario file "
		    "(--scenario FILE; see essim-scenario(5))");
		return -EINVAL;
	}
	if (strcmp(c->backend, "fanotify") == 0) {
		if (c->fan.paths[0] == '\0') {
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
		if (events > VD_CONF_GEN_EVENTS_MAX) {
			vd_errf(err, errsz,
			    "[gen] rate x duration is %" PRIu64
			    " events, more than the generator's limit of "
			    "%" PRIu64 "; lower rate or duration",
			    events, VD_CONF_GEN_EVENTS_MAX);
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

/* Bytes a setting takes in its struct. */
static size_t
key_size(const struct conf_key *k)
{
	switch (k->kind) {
	case KIND_UINT:
	case KIND_POW2:
		return sizeof(unsigned);
	case KIND_U64:
		return sizeof(uint64_t);
	case KIND_BOOL:
		return sizeof(bool);
	case KIND_VERDICT:
		return sizeof(uint8_t);
	case KIND_FRACTION:
	case KIND_SCALE:
		return sizeof(double);
	case KIND_BACKEND:
		return VD_CONF_BACKEND_MAX;
	case KIND_PATH:
		return VD_CONF_PATH_MAX;
	case KIND_PATHS:
		return VD_CONF_PATHS_MAX;
	case KIND_NAME:
		return VD_CONF_NAME_MAX;
	case KIND_MARK:
		return sizeof(enum vd_fan_mark_kind);
	case KIND_TYPES:
		return sizeof(uint32_t);
	}
	return 0;
}

void
vd_conf_take_live(struct vd_conf *dst, const struct vd_conf *src)
{
	for (size_t i = 0; i < CONF_NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (!k->live)
			continue;
		if (k->scope != SCOPE_TYPE) {
			memcpy((char *)dst + k->off, (const char *)src + k->off,
			    key_size(k));
			continue;
		}
		for (int t = 0; t < VD_AUTH_TYPE_COUNT; t++)
			memcpy((char *)&dst->pipe.types[t] + k->off,
			    (const char *)&src->pipe.types[t] + k->off,
			    key_size(k));
	}
}

static bool
key_equal(const struct conf_key *k, const void *a, const void *b)
{
	const char *fa = (const char *)a + k->off;
	const char *fb = (const char *)b + k->off;

	switch (k->kind) {
	case KIND_UINT:
	case KIND_POW2:
		return *(const unsigned *)(const void *)fa ==
		    *(const unsigned *)(const void *)fb;
	case KIND_U64:
		return *(const uint64_t *)(const void *)fa ==
		    *(const uint64_t *)(const void *)fb;
	case KIND_BOOL:
		return *(const bool *)(const void *)fa ==
		    *(const bool *)(const void *)fb;
	case KIND_VERDICT:
		return *(const uint8_t *)fa == *(const uint8_t *)fb;
	case KIND_FRACTION:
	case KIND_SCALE:
		return *(const double *)(const void *)fa ==
		    *(const double *)(const void *)fb;
	case KIND_BACKEND:
		return strncmp(fa, fb, VD_CONF_BACKEND_MAX) == 0;
	case KIND_PATH:
		return strncmp(fa, fb, VD_CONF_PATH_MAX) == 0;
	case KIND_PATHS:
		return strncmp(fa, fb, VD_CONF_PATHS_MAX) == 0;
	case KIND_NAME:
		return strncmp(fa, fb, VD_CONF_NAME_MAX) == 0;
	case KIND_MARK:
		return *(const enum vd_fan_mark_kind *)(const void *)fa ==
		    *(const enum vd_fan_mark_kind *)(const void *)fb;
	case KIND_TYPES:
		return *(const uint32_t *)(const void *)fa ==
		    *(const uint32_t *)(const void *)fb;
	}
	return false;
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
		const struct conf_key *k = &conf_keys[i];

		if (k->live != live)
			continue;
		if (k->scope != SCOPE_TYPE) {
			if (!key_equal(k, a, b)) {
				count++;
				diff_name(names, namesz, &o,
				    scope_names[k->scope], k->name);
			}
			continue;
		}
		for (int t = 0; t < VD_AUTH_TYPE_COUNT; t++) {
			if (key_equal(k, &a->pipe.types[t], &b->pipe.types[t]))
				continue;
			count++;
			diff_name(names, namesz, &o,
			    vd_event_type_name((enum vd_event_type)t), k->name);
		}
	}
	return count;
}
