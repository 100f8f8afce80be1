/*
 * scenario.c — scenario files (essim-scenario(5)) of the EndpointSecurity
 * simulator: defaults, time scaling, checks and the parser.
 *
 * One table (sc_keys, rows of util/keys.h, whose setter reads the values)
 * declares every key of every section, its type, range and unit; the
 * parser, its error messages and the man page follow it.  The file is
 * read by util/inifile.h's reader, which counts lines, checks every
 * section header (an unknown, empty section too) and takes an indented
 * line for an ordinary line, not a continuation.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/util.h"

#include "essim.h"
#include "essim_workload.h"

#define NS_PER_S  UINT64_C(1000000000)
#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_US UINT64_C(1000)

/* The generator wakes at most this often and posts what is due. */
#define BATCH_NS UINT64_C(1000000)
/* ... and posts at most this many before it looks at the stop flag. */
#define BATCH_MAX 512
/* Longest single sleep, so that a stop is seen promptly. */
#define SLEEP_MAX_NS (50 * NS_PER_MS)

#define PATH_BUF 1024

/* --- event kinds ---------------------------------------------------------- */

static const struct {
	const char *name;
	es_event_type_t type;
} kinds[ESSIM_KIND_COUNT] = {
	[ESSIM_AUTH_OPEN] = { "auth.open", ES_EVENT_TYPE_AUTH_OPEN },
	[ESSIM_AUTH_EXEC] = { "auth.exec", ES_EVENT_TYPE_AUTH_EXEC },
	[ESSIM_AUTH_RENAME] = { "auth.rename", ES_EVENT_TYPE_AUTH_RENAME },
	[ESSIM_AUTH_UNLINK] = { "auth.unlink", ES_EVENT_TYPE_AUTH_UNLINK },
	[ESSIM_AUTH_CREATE] = { "auth.create", ES_EVENT_TYPE_AUTH_CREATE },
	[ESSIM_AUTH_TRUNCATE] = { "auth.truncate",
	    ES_EVENT_TYPE_AUTH_TRUNCATE },
	[ESSIM_AUTH_LINK] = { "auth.link", ES_EVENT_TYPE_AUTH_LINK },
	[ESSIM_AUTH_CLONE] = { "auth.clone", ES_EVENT_TYPE_AUTH_CLONE },
	[ESSIM_AUTH_COPYFILE] = { "auth.copyfile",
	    ES_EVENT_TYPE_AUTH_COPYFILE },
	[ESSIM_AUTH_MOUNT] = { "auth.mount", ES_EVENT_TYPE_AUTH_MOUNT },
	[ESSIM_AUTH_SIGNAL] = { "auth.signal", ES_EVENT_TYPE_AUTH_SIGNAL },
	[ESSIM_NOTIFY_CLOSE] = { "notify.close", ES_EVENT_TYPE_NOTIFY_CLOSE },
	[ESSIM_NOTIFY_EXEC] = { "notify.exec", ES_EVENT_TYPE_NOTIFY_EXEC },
	[ESSIM_NOTIFY_FORK] = { "notify.fork", ES_EVENT_TYPE_NOTIFY_FORK },
	[ESSIM_NOTIFY_EXIT] = { "notify.exit", ES_EVENT_TYPE_NOTIFY_EXIT },
	[ESSIM_NOTIFY_WRITE] = { "notify.write", ES_EVENT_TYPE_NOTIFY_WRITE },
	[ESSIM_NOTIFY_RENAME] = { "notify.rename",
	    ES_EVENT_TYPE_NOTIFY_RENAME },
	[ESSIM_NOTIFY_UNLINK] = { "notify.unlink",
	    ES_EVENT_TYPE_NOTIFY_UNLINK },
	[ESSIM_NOTIFY_CREATE] = { "notify.create",
	    ES_EVENT_TYPE_NOTIFY_CREATE },
};

bool
essim_kind_is_auth(enum essim_kind k)
{
	return k < ESSIM_NOTIFY_CLOSE;
}

const char *
essim_kind_name(enum essim_kind k)
{
	return (unsigned)k < ESSIM_KIND_COUNT ? kinds[k].name : NULL;
}

es_event_type_t
essim_kind_type(enum essim_kind k)
{
	return (unsigned)k < ESSIM_KIND_COUNT ? kinds[k].type
	                                      : ES_EVENT_TYPE_LAST;
}

int
essim_kind_parse(const char *name)
{
	int k;

	for (k = 0; k < ESSIM_KIND_COUNT; k++)
		if (strcmp(name, kinds[k].name) == 0)
			return k;
	return -EINVAL;
}

const char *
essim_type_name(es_event_type_t t)
{
	int k;

	for (k = 0; k < ESSIM_KIND_COUNT; k++)
		if (kinds[k].type == t)
			return kinds[k].name;
	return "unknown";
}

/* --- scenario: defaults, scaling, checks ------------------------------------
 */

/* The default mix: roughly what a developer's laptop does. */
static const uint32_t default_weight[ESSIM_KIND_COUNT] = {
	[ESSIM_AUTH_OPEN] = 400,
	[ESSIM_AUTH_EXEC] = 40,
	[ESSIM_AUTH_RENAME] = 20,
	[ESSIM_AUTH_UNLINK] = 20,
	[ESSIM_AUTH_CREATE] = 30,
	[ESSIM_AUTH_TRUNCATE] = 5,
	[ESSIM_AUTH_LINK] = 5,
	[ESSIM_AUTH_CLONE] = 5,
	[ESSIM_AUTH_COPYFILE] = 5,
	[ESSIM_AUTH_MOUNT] = 1,
	[ESSIM_AUTH_SIGNAL] = 10,
	[ESSIM_NOTIFY_CLOSE] = 300,
	[ESSIM_NOTIFY_EXEC] = 40,
	[ESSIM_NOTIFY_FORK] = 40,
	[ESSIM_NOTIFY_EXIT] = 40,
	[ESSIM_NOTIFY_WRITE] = 100,
	[ESSIM_NOTIFY_RENAME] = 20,
	[ESSIM_NOTIFY_UNLINK] = 20,
	[ESSIM_NOTIFY_CREATE] = 30,
};

void
essim_scenario_init(struct essim_scenario *s)
{
	memset(s, 0, sizeof(*s));
	s->duration_ns = 10 * NS_PER_S;
	s->seed = 1;
	s->time_scale_file = 1.0;
	s->rate = 2000;
	memcpy(s->weight, default_weight, sizeof(s->weight));
	s->processes = 200;
	s->system_processes = 40;
	s->system_share = 0.1;
	s->system_muted = 0.9;
	s->files = 4096;
	s->close_modified = 0.25;
	s->hash_cost_ns = 2 * NS_PER_MS;
	s->ordinary_ns_file = 15 * NS_PER_S;
	s->system_min_ns_file = 5 * NS_PER_MS;
	s->system_max_ns_file = 1000 * NS_PER_MS;
	s->system_spread = ESSIM_SPREAD_LOG;
	s->unscaled_ns = 10 * NS_PER_MS;
	essim_scenario_scale(s, 1.0);
}

static uint64_t
scale_plain(uint64_t ns, double f)
{
	double x = (double)ns * f;

	return x >= 18e18 ? UINT64_MAX : (uint64_t)llround(x);
}

/*
 * The first unscaled_ns of a deadline are kept, only the rest is scaled:
 * they stand for costs that do not shrink with the time scale (delivery,
 * a thread's wake-up, 3-9 ms late on a loaded VM).  Scaled plainly, a
 * 5 ms system deadline would be 50 us at time_scale 0.01, shorter than any
 * delivery, and would test nothing.  Monotonic, and the identity at 1.
 */
uint64_t
essim_scenario_deadline(const struct essim_scenario *s, uint64_t ns)
{
	if (ns <= s->unscaled_ns)
		return ns;
	return s->unscaled_ns + scale_plain(ns - s->unscaled_ns, s->time_scale);
}

void
essim_scenario_scale(struct essim_scenario *s, double time_scale)
{
	s->time_scale = time_scale;
	s->ordinary_ns = essim_scenario_deadline(s, s->ordinary_ns_file);
	s->ordinary_jitter_ns =
	    scale_plain(s->ordinary_jitter_ns_file, time_scale);
	s->system_min_ns = essim_scenario_deadline(s, s->system_min_ns_file);
	s->system_max_ns = essim_scenario_deadline(s, s->system_max_ns_file);
	s->stall_ns = scale_plain(s->stall_ns_file, time_scale);
}

void
essim_scenario_set_duration(struct essim_scenario *s, uint64_t ns)
{
	s->duration_ns = ns;
}

/* --- the key table ----------------------------------------------------------
 */

#define F(f) VD_KEY_FIELD(struct essim_scenario, f)
/* After the range of every whole number. */
#define DIGITS "digits only"

/* Indexed by enum essim_spread. */
static const char *const spread_words[] = { "uniform", "log-uniform", NULL };
_Static_assert(
    ESSIM_SPREAD_UNIFORM == 0 && ESSIM_SPREAD_LOG == 1, "spread_words[] order");

static const struct vd_key sc_keys[] = {
	VD_KEY("run", "duration_s", VD_KEY_DURATION, F(duration_ns), .min = 1,
	    .max = 3600, .scale = NS_PER_S, .what = "a whole number of seconds",
	    .hint = DIGITS),
	VD_KEY("run", "seed", VD_KEY_UINT, F(seed), .max = UINT64_MAX,
	    .what = "a whole number", .hint = DIGITS),
	VD_KEY("run", "time_scale", VD_KEY_DOUBLE, F(time_scale_file),
	    .dmin = 0.0001, .dmax = 100, .what = "a factor",
	    .hint = "like 0.01"),
	VD_KEY("load", "rate", VD_KEY_UINT, F(rate), .min = 1, .max = 1000000,
	    .what = "a number of events per second", .hint = DIGITS),
	VD_KEY("burst", "every_ms", VD_KEY_DURATION, F(burst_every_ns),
	    .max = 3600000, .scale = NS_PER_MS,
	    .what = "a number of milliseconds", .hint = DIGITS),
	VD_KEY("burst", "length_ms", VD_KEY_DURATION, F(burst_length_ns),
	    .max = 3600000, .scale = NS_PER_MS,
	    .what = "a number of milliseconds", .hint = DIGITS),
	VD_KEY("burst", "rate", VD_KEY_UINT, F(burst_rate), .min = 1,
	    .max = 1000000, .what = "a number of events per second",
	    .hint = DIGITS),
	VD_KEY("processes", "count", VD_KEY_UINT, F(processes), .min = 1,
	    .max = 100000, .what = "a number of processes", .hint = DIGITS),
	VD_KEY("processes", "system", VD_KEY_UINT, F(system_processes),
	    .max = 10000, .what = "a number of processes", .hint = DIGITS),
	VD_KEY("processes", "system_share", VD_KEY_DOUBLE, F(system_share),
	    .dmax = 1, .what = "a share", .hint = "like 0.25"),
	VD_KEY("processes", "system_muted", VD_KEY_DOUBLE, F(system_muted),
	    .dmax = 1, .what = "a share", .hint = "like 0.25"),
	VD_KEY("files", "count", VD_KEY_UINT, F(files), .min = 1,
	    .max = 1000000, .what = "a number of files", .hint = DIGITS),
	VD_KEY("files", "close_modified", VD_KEY_DOUBLE, F(close_modified),
	    .dmax = 1, .what = "a share", .hint = "like 0.25"),
	VD_KEY("files", "hash_cost_us", VD_KEY_DURATION, F(hash_cost_ns),
	    .max = 10000000, .scale = NS_PER_US,
	    .what = "a number of microseconds", .hint = DIGITS),
	VD_KEY("deadline", "ordinary_ms", VD_KEY_DURATION, F(ordinary_ns_file),
	    .min = 1, .max = 600000, .scale = NS_PER_MS,
	    .what = "a number of milliseconds", .hint = DIGITS),
	VD_KEY("deadline", "ordinary_jitter_ms", VD_KEY_DURATION,
	    F(ordinary_jitter_ns_file), .max = 600000, .scale = NS_PER_MS,
	    .what = "a number of milliseconds", .hint = DIGITS),
	VD_KEY("deadline", "system_min_ms", VD_KEY_DURATION,
	    F(system_min_ns_file), .min = 1, .max = 600000, .scale = NS_PER_MS,
	    .what = "a number of milliseconds", .hint = DIGITS),
	VD_KEY("deadline", "system_max_ms", VD_KEY_DURATION,
	    F(system_max_ns_file), .min = 1, .max = 600000, .scale = NS_PER_MS,
	    .what = "a number of milliseconds", .hint = DIGITS),
	VD_KEY("deadline", "system_spread", VD_KEY_ENUM, F(system_spread),
	    .words = spread_words),
	VD_KEY("deadline", "unscaled_ms", VD_KEY_DURATION, F(unscaled_ns),
	    .max = 60000, .scale = NS_PER_MS,
	    .what = "a number of milliseconds", .hint = DIGITS),
	VD_KEY("stall", "every", VD_KEY_UINT, F(stall_every), .max = 1000000000,
	    .what = "a count of evaluations", .hint = DIGITS),
	VD_KEY("stall", "duration_ms", VD_KEY_DURATION, F(stall_ns_file),
	    .max = 3600000, .scale = NS_PER_MS,
	    .what = "a number of milliseconds", .hint = DIGITS),
};

#undef F
#undef DIGITS

#define NKEYS (sizeof(sc_keys) / sizeof(sc_keys[0]))

static const char *const sc_sections[] = { "run", "load", "burst", "mix",
	"processes", "files", "deadline", "stall" };

#define NSECTIONS (sizeof(sc_sections) / sizeof(sc_sections[0]))

static const struct vd_key *
key_named(const char *section, const char *name)
{
	const struct vd_key *k = vd_key_find(sc_keys, NKEYS, section, name);

	/* Only called with names from the table. */
	if (k == NULL)
		abort();
	return k;
}

static bool
section_known(const char *name)
{
	size_t i;

	for (i = 0; i < NSECTIONS; i++)
		if (strcmp(sc_sections[i], name) == 0)
			return true;
	return false;
}

/* "rate, seed, ..." for an unknown key's message. */
static void
section_keys(const char *section, char *buf, size_t n)
{
	size_t len = 0;
	int k;

	if (strcmp(section, "mix") != 0) {
		vd_key_names(sc_keys, NKEYS, section, buf, n);
		return;
	}
	buf[0] = '\0';
	for (k = 0; k < ESSIM_KIND_COUNT && len < n; k++)
		len += (size_t)snprintf(buf + len, n - len, "%s%s",
		    k > 0 ? ", " : "", kinds[k].name);
}

/*
 * Consistency of values that are each in range.  On error, *bad names the
 * key to blame (NULL: the [mix] section), *alt the other key involved, if
 * any (its line is shown when *bad was left at its default), and msg says
 * what is wrong.
 */
static int
sc_check(const struct essim_scenario *s, const struct vd_key **bad,
    const struct vd_key **alt, char *msg, size_t n)
{
	uint64_t total = 0;
	int k;

	*bad = NULL;
	*alt = NULL;
	for (k = 0; k < ESSIM_KIND_COUNT; k++)
		total += s->weight[k];
	if (total == 0) {
		snprintf(msg, n,
		    "[mix]: every weight is 0; expected at least one "
		    "event type with a weight above 0");
		return -EINVAL;
	}
	if (s->duration_ns < NS_PER_MS) {
		*bad = key_named("run", "duration_s");
		snprintf(msg, n, "[run] duration_s: expected at least 1 ms");
		return -EINVAL;
	}
	if (!(s->time_scale > 0 && s->time_scale <= 100)) {
		*bad = key_named("run", "time_scale");
		snprintf(msg, n,
		    "[run] time_scale: expected a factor above 0, at most "
		    "100");
		return -EINVAL;
	}
	if (s->rate < 1 || s->rate > 1000000) {
		*bad = key_named("load", "rate");
		snprintf(msg, n, "[load] rate: expected 1 to 1000000");
		return -EINVAL;
	}
	if (s->burst_every_ns != 0) {
		*alt = key_named("burst", "every_ms");
		if (s->burst_length_ns == 0 ||
		    s->burst_length_ns >= s->burst_every_ns) {
			*bad = key_named("burst", "length_ms");
			snprintf(msg, n,
			    "[burst] length_ms: expected above 0 and below "
			    "every_ms (%" PRIu64 ") when bursts are on",
			    s->burst_every_ns / NS_PER_MS);
			return -EINVAL;
		}
		if (s->burst_rate < 1 || s->burst_rate > 1000000) {
			*bad = key_named("burst", "rate");
			snprintf(msg, n,
			    "[burst] rate: expected the event rate during a "
			    "burst (1 to 1000000) when every_ms is set");
			return -EINVAL;
		}
	}
	if (s->system_share > 0 && s->system_processes == 0) {
		*bad = key_named("processes", "system_share");
		*alt = key_named("processes", "system");
		snprintf(msg, n,
		    "[processes] system_share: is above 0 but system is 0; "
		    "expected some system processes to make those events");
		return -EINVAL;
	}
	if (s->processes < 1) {
		*bad = key_named("processes", "count");
		snprintf(msg, n, "[processes] count: expected at least 1");
		return -EINVAL;
	}
	if (s->files < 1) {
		*bad = key_named("files", "count");
		snprintf(msg, n, "[files] count: expected at least 1");
		return -EINVAL;
	}
	if (s->ordinary_ns_file == 0 ||
	    s->ordinary_jitter_ns_file >= s->ordinary_ns_file) {
		*bad = key_named("deadline", "ordinary_jitter_ms");
		*alt = key_named("deadline", "ordinary_ms");
		snprintf(msg, n,
		    "[deadline] ordinary_jitter_ms: expected less than "
		    "ordinary_ms (%" PRIu64 ")",
		    s->ordinary_ns_file / NS_PER_MS);
		return -EINVAL;
	}
	if (s->system_min_ns_file == 0 ||
	    s->system_max_ns_file < s->system_min_ns_file) {
		*bad = key_named("deadline", "system_max_ms");
		*alt = key_named("deadline", "system_min_ms");
		snprintf(msg, n,
		    "[deadline] system_max_ms: expected at least "
		    "system_min_ms (%" PRIu64 ")",
		    s->system_min_ns_file / NS_PER_MS);
		return -EINVAL;
	}
	return 0;
}

int
essim_scenario_check(const struct essim_scenario *s, char *err, size_t errsz)
{
	const struct vd_key *bad, *alt;
	char msg[1];

	if (err == NULL || errsz == 0)
		return sc_check(s, &bad, &alt, msg, sizeof(msg));
	return sc_check(s, &bad, &alt, err, errsz);
}

/* --- the parser -------------------------------------------------------------
 */

struct sc_load {
	struct essim_scenario sc;
	struct vd_ini *ini; /* the reader, during a callback */
	int seen[NKEYS];    /* line each key was set on */
	int mix_seen[ESSIM_KIND_COUNT];
	int mix_line; /* the last [mix] key's line */
	char msg[400];
};
static void load_fail(struct sc_load *l, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
load_fail(struct sc_load *l, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vd_ini_fail(l->ini, code, "%s", msg);
}

/* A [section] header: a known name, even when no key follows. */
static bool
load_section(void *ctx, struct vd_ini *ini, const char *name)
{
	struct sc_load *l = ctx;

	l->ini = ini;
	if (section_known(name))
		return true;
	load_fail(l, -EINVAL,
	    "[%s]: unknown section; expected [run], [load], [burst], [mix], "
	    "[processes], [files], [deadline] or [stall]",
	    name);
	return false;
}

static int
load_mix(struct sc_load *l, const char *name, const char *value)
{
	char keys[400];
	uint64_t u;
	int k;

	if ((k = essim_kind_parse(name)) < 0) {
		section_keys("mix", keys, sizeof(keys));
		load_fail(l, -EINVAL,
		    "[mix] %s: unknown event type; expected one of %s", name,
		    keys);
		return 0;
	}
	if (l->mix_seen[k] != 0) {
		load_fail(l, -EINVAL, "[mix] %s: set twice (first on line %d)",
		    name, l->mix_seen[k]);
		return 0;
	}
	if (!vd_key_parse_u64(value, &u) || u > 1000000) {
		load_fail(l, -EINVAL,
		    "[mix] %s: expected a weight from 0 to 1000000 (digits "
		    "only), got \"%s\"",
		    name, value);
		return 0;
	}
	/* A [mix] in the file replaces the default mix, not amends it. */
	if (l->mix_line == 0)
		memset(l->sc.weight, 0, sizeof(l->sc.weight));
	l->sc.weight[k] = (uint32_t)u;
	l->mix_seen[k] = l->ini->line;
	l->mix_line = l->ini->line;
	return 1;
}

static int
load_key(void *ctx, struct vd_ini *ini, const char *section, const char *name,
    const char *value)
{
	struct sc_load *l = ctx;
	const struct vd_key *k;
	char keys[400];

	l->ini = ini;
	if (*section == '\0') {
		load_fail(l, -EINVAL,
		    "%s: key outside any section; expected a [section] line "
		    "first",
		    name);
		return 0;
	}
	if (!section_known(section)) {
		/* The reader checked the header already. */
		load_fail(l, -EINVAL, "[%s]: unknown section", section);
		return 0;
	}
	if (strcmp(section, "mix") == 0)
		return load_mix(l, name, value);
	if ((k = vd_key_find(sc_keys, NKEYS, section, name)) == NULL) {
		section_keys(section, keys, sizeof(keys));
		load_fail(l, -EINVAL,
		    "[%s] %s: unknown key; expected one of %s", section, name,
		    keys);
		return 0;
	}
	if (l->seen[k - sc_keys] != 0) {
		load_fail(l, -EINVAL, "[%s] %s: set twice (first on line %d)",
		    section, name, l->seen[k - sc_keys]);
		return 0;
	}
	l->seen[k - sc_keys] = ini->line;
	if (vd_key_set(k, &l->sc, section, value, l->msg, sizeof(l->msg)) !=
	    0) {
		vd_ini_fail(ini, -EINVAL, "%s", l->msg);
		return 0;
	}
	return 1;
}

int
essim_scenario_load(
    struct essim_scenario *s, const char *path, char *err, size_t errsz)
{
	const struct vd_key *bad, *alt;
	struct sc_load *l;
	int error, line;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		vd_errf(err, errsz, "%s: %s", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	essim_scenario_init(&l->sc);
	error = vd_ini_parse(path, ESSIM_SCENARIO_FILE_MAX, load_section,
	    load_key, l, err, errsz);
	if (error != 0)
		goto out;
	essim_scenario_scale(&l->sc, l->sc.time_scale_file);
	if ((error = sc_check(&l->sc, &bad, &alt, l->msg, sizeof(l->msg))) !=
	    0) {
		line = bad != NULL ? l->seen[bad - sc_keys] : l->mix_line;
		if (line == 0 && alt != NULL)
			line = l->seen[alt - sc_keys];
		if (line > 0)
			vd_errf(err, errsz, "%s:%d: %s", path, line, l->msg);
		else
			vd_errf(err, errsz, "%s: %s", path, l->msg);
		goto out;
	}
	*s = l->sc;
out:
	free(l);
	return error;
}
