/*
 * workload.c — scenario files (essim-scenario(5)) and the workload
 * generator of the EndpointSecurity simulator.
 *
 * Parsing: one table (sc_keys, rows of util/keys.h, whose setter reads
 * the values) declares every key of every section, its type, range and
 * unit; the parser, its error messages and the man page follow it.  The
 * file is read by util/inifile.h's reader, which counts lines, checks
 * every section header (an unknown, empty section too) and takes an
 * indented line for an ordinary line, not a continuation.
 *
 * Generation: the schedule is virtual.  Event n of a segment (a steady
 * stretch or a burst) is due at segment start + n / rate, computed in
 * integers from n so that no rounding accumulates; the thread sleeps on
 * absolute deadlines and posts everything due in one batch, waking at most
 * once per BATCH_NS.  Content comes from a seeded xoshiro256** stream, so
 * what is posted, and how many, depend on the seed alone; a slow machine
 * only posts late (lag_max_ns says how late).
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

static bool
kind_is_auth(enum essim_kind k)
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
static uint64_t
scale_deadline(const struct essim_scenario *s, uint64_t ns)
{
	if (ns <= s->unscaled_ns)
		return ns;
	return s->unscaled_ns + scale_plain(ns - s->unscaled_ns, s->time_scale);
}

void
essim_scenario_scale(struct essim_scenario *s, double time_scale)
{
	s->time_scale = time_scale;
	s->ordinary_ns = scale_deadline(s, s->ordinary_ns_file);
	s->ordinary_jitter_ns =
	    scale_plain(s->ordinary_jitter_ns_file, time_scale);
	s->system_min_ns = scale_deadline(s, s->system_min_ns_file);
	s->system_max_ns = scale_deadline(s, s->system_max_ns_file);
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

/* --- random numbers
 * ----------------------------------------------------------- */

/* xoshiro256** seeded through splitmix64 (Blackman and Vigna). */
struct rng {
	uint64_t s[4];
};

/* Separate streams, so that more files do not change the processes. */
enum rng_stream { STREAM_PROCS = 1, STREAM_FILES, STREAM_EVENTS };

static void
rng_seed(struct rng *r, uint64_t seed, enum rng_stream stream)
{
	uint64_t x = seed ^ ((uint64_t)stream * UINT64_C(0xd1342543de82ef95));
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = vd_splitmix64(&x);
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t
rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* [0, 1) */
static double
rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1p-53;
}

/* [0, n); the modulo bias is below 2^-40 for the n used here. */
static uint64_t
rng_below(struct rng *r, uint64_t n)
{
	return n == 0 ? 0 : rng_next(r) % n;
}

/* --- what the simulated machine looks like -----------------------------------
 */

struct app {
	const char *exe;
	const char *signing_id;
	const char *team_id; /* NULL: Apple's or ad hoc */
	bool platform;
};

static const struct app ordinary_apps[] = {
	{ "/bin/zsh", "com.apple.zsh", NULL, true },
	{ "/bin/bash", "com.apple.bash", NULL, true },
	{ "/usr/bin/git", "com.apple.git", NULL, true },
	{ "/usr/bin/python3", "com.apple.python3", NULL, true },
	{ "/usr/bin/ssh", "com.apple.openssh.ssh", NULL, true },
	{ "/usr/bin/curl", "com.apple.curl", NULL, true },
	{ "/usr/bin/make", "com.apple.make", NULL, true },
	{ "/usr/bin/clang", "com.apple.clang", NULL, true },
	{ "/usr/bin/vim", "com.apple.vim", NULL, true },
	{ "/usr/bin/tar", "com.apple.tar", NULL, true },
	{ "/System/Applications/Utilities/Terminal.app/Contents/MacOS/"
	  "Terminal",
	    "com.apple.Terminal", NULL, true },
	{ "/System/Applications/Mail.app/Contents/MacOS/Mail", "com.apple.mail",
	    NULL, true },
	{ "/Applications/Safari.app/Contents/MacOS/Safari", "com.apple.Safari",
	    NULL, true },
	{ "/Applications/Xcode.app/Contents/MacOS/Xcode", "com.apple.dt.Xcode",
	    NULL, false },
	{ "/Applications/Slack.app/Contents/MacOS/Slack",
	    "com.tinyspeck.slackmacgap", "BQR82RBBHL", false },
	{ "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
	    "com.google.Chrome", "EQHXZ8M8AV", false },
	{ "/Applications/Microsoft Word.app/Contents/MacOS/Microsoft Word",
	    "com.microsoft.Word", "UBF8T346G9", false },
	{ "/Applications/Visual Studio Code.app/Contents/MacOS/Electron",
	    "com.microsoft.VSCode", "UBF8T346G9", false },
	{ "/Applications/zoom.us.app/Contents/MacOS/zoom.us", "us.zoom.xos",
	    "BJ4HAAB9B3", false },
	{ "/Applications/Docker.app/Contents/MacOS/com.docker.backend",
	    "com.docker.docker", "9BNSXJN65R", false },
	{ "/Applications/Spotify.app/Contents/MacOS/Spotify",
	    "com.spotify.client", "2FNC3A47ZF", false },
	{ "/Applications/Firefox.app/Contents/MacOS/firefox",
	    "org.mozilla.firefox", "43AQ936H96", false },
	{ "/usr/local/bin/node", "node", NULL, false },
	{ "/opt/homebrew/bin/rg", "rg", NULL, false },
};

static const struct app system_apps[] = {
	{ "/usr/libexec/syspolicyd", "com.apple.syspolicyd", NULL, true },
	{ "/usr/libexec/trustd", "com.apple.trustd", NULL, true },
	{ "/usr/libexec/logd", "com.apple.logd", NULL, true },
	{ "/usr/libexec/opendirectoryd", "com.apple.opendirectoryd", NULL,
	    true },
	{ "/usr/libexec/xpcproxy", "com.apple.xpc.proxy", NULL, true },
	{ "/usr/libexec/runningboardd", "com.apple.runningboardd", NULL, true },
	{ "/usr/libexec/diskarbitrationd", "com.apple.diskarbitrationd", NULL,
	    true },
	{ "/usr/libexec/kernelmanagerd", "com.apple.kernelmanagerd", NULL,
	    true },
	{ "/usr/sbin/cfprefsd", "com.apple.cfprefsd.xpc.daemon", NULL, true },
	{ "/usr/sbin/notifyd", "com.apple.notifyd", NULL, true },
	{ "/usr/sbin/distnoted", "com.apple.distnoted", NULL, true },
	{ "/usr/sbin/mDNSResponder", "com.apple.mDNSResponder", NULL, true },
	{ "/usr/sbin/syslogd", "com.apple.syslogd", NULL, true },
	{ "/System/Library/Frameworks/CoreServices.framework/Frameworks/"
	  "Metadata.framework/Versions/A/Support/mds",
	    "com.apple.mds", NULL, true },
	{ "/System/Library/Frameworks/CoreServices.framework/Frameworks/"
	  "Metadata.framework/Versions/A/Support/mds_stores",
	    "com.apple.mds_stores", NULL, true },
	{ "/System/Library/Frameworks/CoreServices.framework/Frameworks/"
	  "Metadata.framework/Versions/A/Support/mdworker_shared",
	    "com.apple.mdworker_shared", NULL, true },
	{ "/System/Library/Frameworks/CoreServices.framework/Versions/A/"
	  "Frameworks/FSEvents.framework/Versions/A/Support/fseventsd",
	    "com.apple.fseventsd", NULL, true },
	{ "/System/Library/CoreServices/launchservicesd",
	    "com.apple.coreservices.launchservicesd", NULL, true },
	{ "/System/Library/PrivateFrameworks/TCC.framework/Support/tccd",
	    "com.apple.tccd", NULL, true },
	{ "/System/Library/CoreServices/backupd.bundle/Contents/Resources/"
	  "backupd",
	    "com.apple.backupd", NULL, true },
};

/* Executables that processes exec besides each other. */
static const char *const tools[] = { "/bin/ls", "/bin/cat", "/bin/ps",
	"/bin/sh", "/bin/cp", "/bin/mv", "/bin/rm", "/usr/bin/grep",
	"/usr/bin/sed", "/usr/bin/awk", "/usr/bin/find", "/usr/bin/xcrun",
	"/usr/bin/codesign", "/usr/bin/sw_vers", "/usr/bin/env",
	"/usr/sbin/sysctl", "/usr/bin/ditto", "/usr/bin/hdiutil" };

static const char *const dirs[] = { "/Users/alice/Documents",
	"/Users/alice/Documents/Reports",
	"/Users/alice/Documents/Invoices 2024", "/Users/alice/Desktop",
	"/Users/alice/Downloads", "/Users/alice/src/verdictd/src",
	"/Users/alice/src/verdictd/build",
	"/Users/alice/Pictures/Photos Library.photoslibrary/originals",
	"/Users/alice/Library/Caches/com.apple.Safari",
	"/Users/alice/Library/Application Support/Slack/Cache",
	"/Users/alice/Library/Containers/com.apple.mail/Data/Library/Mail",
	"/Users/alice/Library/Preferences", "/Users/alice/.ssh",
	"/Users/alice/.cache/pip", "/private/tmp",
	"/private/var/folders/zz/zyxvpxvq6csfxvn_n0000000000000/T",
	"/private/var/log", "/private/var/db/diagnostics",
	"/Library/Preferences", "/Library/Application Support/Docker" };

static const char *const bases[] = { "report", "notes", "invoice", "main",
	"index", "cache", "data", "photo", "draft", "budget", "config",
	"session", "thumbnail", "build", "readme", "archive" };

static const char *const exts[] = { ".docx", ".txt", ".pdf", ".c", ".h", ".o",
	".db", ".json", ".plist", ".jpg", ".log", ".sqlite", ".tmp", ".md",
	".zip" };

static const char *const volumes[] = { "Untitled", "USB DISK", "Backup",
	"Install macOS", "Data" };

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* --- the workload
 * -------------------------------------------------------------- */

struct wl_proc {
	audit_token_t token;
	pid_t pid;
	char *exe;
	bool system;
};

struct essim_workload {
	struct essim_scenario sc;
	struct wl_proc *procs; /* system ones first */
	uint32_t nprocs, nsys;
	char **files;
	uint32_t nfiles;
	const char **exes; /* exec targets: tools, then the processes' */
	uint32_t nexes;
	uint64_t total_weight;
	uint64_t new_seq; /* names of created and renamed files */

	/* Generator thread only. */
	struct rng rng;
	char target[PATH_BUF], target2[PATH_BUF], name2[256];

	pthread_t thread;
	bool started, joined;
	atomic_bool stop;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* finished, for essim_workload_wait */

	/* Written by the generator alone, read by anyone. */
	atomic_uint_fast64_t generated, posted, posted_auth, posted_notify;
	atomic_uint_fast64_t post_errors, short_deadlines, short_delivered;
	atomic_uint_fast64_t deliveries, undelivered, bursts, lag_max_ns;
	atomic_uint_fast64_t by_kind[ESSIM_KIND_COUNT];
	atomic_uint_fast64_t start_ns, end_ns, fingerprint;
	atomic_int first_error;
	atomic_bool finished;
};

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Only the generator writes these: a load and a store are enough. */
static void
bump(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_store_explicit(c,
	    atomic_load_explicit(c, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

/*
 * The gen-th extra process of an application: a distinct executable, as
 * applications run helpers (a browser runs dozens) and developers build
 * their own tools.  True when it keeps the vendor's signature (team,
 * platform binary); false for an ad hoc signed build.
 */
static bool
derive_exe(const struct app *a, uint32_t gen, bool system, char *exe, size_t n,
    char *sid, size_t sidn)
{
	const char *base = strrchr(a->exe, '/') + 1;
	const char *bundle = strstr(a->exe, ".app/");

	if (system) {
		snprintf(exe, n,
		    "/System/Library/PrivateFrameworks/%sSupport.framework/"
		    "Versions/A/XPCServices/%s%" PRIu32 ".xpc/Contents/MacOS/"
		    "%s%" PRIu32,
		    base, base, gen, base, gen);
		snprintf(sid, sidn, "%s.xpc%" PRIu32, a->signing_id, gen);
		return true;
	}
	if (bundle != NULL) {
		snprintf(exe, n,
		    "%.*s/Contents/Frameworks/%s Helper %" PRIu32
		    ".app/Contents/MacOS/%s Helper %" PRIu32,
		    (int)(bundle + 4 - a->exe), a->exe, base, gen, base, gen);
		snprintf(sid, sidn, "%s.helper%" PRIu32, a->signing_id, gen);
		return true;
	}
	snprintf(exe, n,
	    "/opt/homebrew/Cellar/%s/1.%" PRIu32 "/libexec/%s-%" PRIu32, base,
	    gen, base, gen);
	snprintf(sid, sidn, "%s-%" PRIu32, base, gen);
	return false;
}

static int
procs_build(struct essim_workload *w)
{
	const struct essim_scenario *s = &w->sc;
	uint32_t i, nmuted, gen;
	bool vendor;
	struct rng r;
	pid_t pid = 60;
	char exe[PATH_BUF], sid[128];
	int rc;

	rng_seed(&r, s->seed, STREAM_PROCS);
	w->nsys = s->system_processes;
	w->nprocs = s->system_processes + s->processes;
	if ((w->procs = calloc(w->nprocs, sizeof(*w->procs))) == NULL)
		return -ENOMEM;
	nmuted = (uint32_t)llround(s->system_muted * w->nsys);
	for (i = 0; i < w->nprocs; i++) {
		struct wl_proc *p = &w->procs[i];
		struct essim_proc ep = { 0 };
		const struct app *a = NULL;
		uint32_t j;

		/* Increasing pids with gaps, as a system that has run a while.
		 */
		pid += 1 + (pid_t)rng_below(&r, 7);
		if (i < w->nsys) {
			j = i;
			a = &system_apps[j % NELEM(system_apps)];
			gen = j / (uint32_t)NELEM(system_apps);
		} else {
			j = i - w->nsys;
			a = &ordinary_apps[j % NELEM(ordinary_apps)];
			gen = j / (uint32_t)NELEM(ordinary_apps);
		}
		if (gen == 0) {
			snprintf(exe, sizeof(exe), "%s", a->exe);
			ep.signing_id = a->signing_id;
			vendor = true;
		} else {
			vendor = derive_exe(a, gen, i < w->nsys, exe,
			    sizeof(exe), sid, sizeof(sid));
			ep.signing_id = sid;
		}
		ep.team_id = vendor ? a->team_id : NULL;
		ep.platform_binary = vendor && a->platform;
		if ((p->exe = strdup(exe)) == NULL)
			return -ENOMEM;
		p->pid = pid;
		p->system = i < w->nsys;
		ep.pid = pid;
		ep.exe = p->exe;
		if (p->system) {
			ep.ppid = 1;
			ep.uid = 0;
			ep.gid = 0;
			ep.default_muted = i < nmuted;
		} else {
			/* Children of earlier ordinary processes. */
			ep.ppid = 1;
			if (i > w->nsys) {
				j = w->nsys +
				    (uint32_t)rng_below(&r, i - w->nsys);
				ep.ppid = w->procs[j].pid;
			}
			ep.uid = 501;
			ep.gid = 20;
		}
		if ((rc = essim_proc_add(&ep, &p->token)) != 0)
			return rc;
	}
	return 0;
}

static int
files_build(struct essim_workload *w)
{
	uint32_t i, nproc_exes;
	char path[PATH_BUF];
	struct rng r;

	rng_seed(&r, w->sc.seed, STREAM_FILES);
	w->nfiles = w->sc.files;
	if ((w->files = calloc(w->nfiles, sizeof(*w->files))) == NULL)
		return -ENOMEM;
	for (i = 0; i < w->nfiles; i++) {
		/* The index makes every path distinct. */
		snprintf(path, sizeof(path), "%s/%s-%" PRIu32 "%s",
		    dirs[rng_below(&r, NELEM(dirs))],
		    bases[rng_below(&r, NELEM(bases))], i,
		    exts[rng_below(&r, NELEM(exts))]);
		if ((w->files[i] = strdup(path)) == NULL)
			return -ENOMEM;
	}
	nproc_exes = w->nprocs;
	w->nexes = (uint32_t)NELEM(tools) + nproc_exes;
	if ((w->exes = calloc(w->nexes, sizeof(*w->exes))) == NULL)
		return -ENOMEM;
	for (i = 0; i < NELEM(tools); i++)
		w->exes[i] = tools[i];
	for (i = 0; i < nproc_exes; i++)
		w->exes[NELEM(tools) + i] = w->procs[i].exe;
	return 0;
}

static void
workload_free(struct essim_workload *w)
{
	uint32_t i;

	if (w->procs != NULL)
		for (i = 0; i < w->nprocs; i++)
			free(w->procs[i].exe);
	free(w->procs);
	if (w->files != NULL)
		for (i = 0; i < w->nfiles; i++)
			free(w->files[i]);
	free(w->files);
	free(w->exes);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

int
essim_workload_create(
    const struct essim_scenario *s, struct essim_workload **out)
{
	struct essim_workload *w;
	pthread_condattr_t ca;
	char msg[256];
	int rc, k;

	*out = NULL;
	if (essim_scenario_check(s, msg, sizeof(msg)) != 0)
		return -EINVAL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -ENOMEM;
	w->sc = *s;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	for (k = 0; k < ESSIM_KIND_COUNT; k++)
		w->total_weight += s->weight[k];
	rng_seed(&w->rng, s->seed, STREAM_EVENTS);
	/* FNV-1a offset basis. */
	atomic_init(&w->fingerprint, UINT64_C(0xcbf29ce484222325));
	if ((rc = procs_build(w)) != 0 || (rc = files_build(w)) != 0) {
		workload_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

/* --- the schedule
 * ------------------------------------------------------------- */

/* Virtual time, relative to the generator's start. */
struct sched {
	const struct essim_scenario *sc;
	uint64_t seg_start, seg_end, seg_rate, n;
	uint64_t bursts;
};

static void
sched_segment(struct sched *s, uint64_t at)
{
	const struct essim_scenario *sc = s->sc;
	uint64_t k, off;

	s->seg_start = at;
	s->n = 0;
	s->seg_rate = sc->rate;
	if (sc->burst_every_ns == 0) {
		s->seg_end = sc->duration_ns;
	} else {
		/* Bursts begin at every, 2 x every, ...: not at 0. */
		k = at / sc->burst_every_ns;
		off = at % sc->burst_every_ns;
		if (k >= 1 && off < sc->burst_length_ns) {
			s->seg_end =
			    k * sc->burst_every_ns + sc->burst_length_ns;
			s->seg_rate = sc->burst_rate;
			if (off == 0)
				s->bursts++;
		} else {
			s->seg_end = (k + 1) * sc->burst_every_ns;
		}
	}
	if (s->seg_end > sc->duration_ns)
		s->seg_end = sc->duration_ns;
}

/* The next event's due time; false when the run is over. */
static bool
sched_peek(struct sched *s, uint64_t *t)
{
	for (;;) {
		if (s->seg_start >= s->sc->duration_ns)
			return false;
		/* In two parts, so that n x 1e9 cannot overflow. */
		*t = s->seg_start + s->n / s->seg_rate * NS_PER_S +
		    s->n % s->seg_rate * NS_PER_S / s->seg_rate;
		if (*t < s->seg_end)
			return true;
		sched_segment(s, s->seg_end);
	}
}

/* --- making events
 * --------------------------------------------------------------- */

static const char *
pick_file(struct essim_workload *w)
{
	double u = rng_unit(&w->rng);

	/* u^2: a few hot files take most accesses, as on a real disk. */
	return w->files[(uint32_t)(u * u * w->nfiles)];
}

static const char *
pick_dir(struct essim_workload *w)
{
	return dirs[rng_below(&w->rng, NELEM(dirs))];
}

/* target2 = a directory, name2 = a new name in it. */
static void
make_destination(struct essim_workload *w, const char *suffix)
{
	snprintf(w->target2, sizeof(w->target2), "%s", pick_dir(w));
	snprintf(w->name2, sizeof(w->name2), "%s-%" PRIu64 "%s%s",
	    bases[rng_below(&w->rng, NELEM(bases))], ++w->new_seq, suffix,
	    exts[rng_below(&w->rng, NELEM(exts))]);
}

static uint64_t
draw_deadline(struct essim_workload *w, bool system)
{
	const struct essim_scenario *s = &w->sc;
	double lo, hi, u = rng_unit(&w->rng);
	uint64_t d;

	if (!system) {
		d = s->ordinary_ns_file -
		    (uint64_t)(u * (double)s->ordinary_jitter_ns_file);
	} else {
		lo = (double)s->system_min_ns_file;
		hi = (double)s->system_max_ns_file;
		if (s->system_spread == ESSIM_SPREAD_LOG)
			d = (uint64_t)llround(
			    exp(log(lo) + u * (log(hi) - log(lo))));
		else
			d = (uint64_t)llround(lo + u * (hi - lo));
	}
	return scale_deadline(s, d);
}

static void
fnv(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n-- > 0) {
		*h ^= *c++;
		*h *= UINT64_C(0x100000001b3);
	}
}

static void
fnv_str(uint64_t *h, const char *s)
{
	fnv(h, s != NULL ? s : "", s != NULL ? strlen(s) + 1 : 1);
}

/* The next event of the sequence, into ev and w's buffers. */
static enum essim_kind
make_event(struct essim_workload *w, struct essim_event *ev,
    const struct wl_proc **who)
{
	const struct essim_scenario *s = &w->sc;
	const struct wl_proc *p;
	uint64_t x, acc = 0;
	enum essim_kind k = 0;
	bool system;
	double u;

	x = rng_below(&w->rng, w->total_weight);
	for (k = 0; k < ESSIM_KIND_COUNT - 1; k++) {
		acc += s->weight[k];
		if (x < acc)
			break;
	}
	system = w->nsys > 0 && rng_unit(&w->rng) < s->system_share;
	/* u^2 again: the first (best-known) processes are the busiest. */
	u = rng_unit(&w->rng);
	if (system)
		p = &w->procs[(uint32_t)(u * u * w->nsys)];
	else
		p = &w->procs[w->nsys +
		    (uint32_t)(u * u * (w->nprocs - w->nsys))];
	*who = p;

	memset(ev, 0, sizeof(*ev));
	ev->type = kinds[k].type;
	ev->proc = p->token;
	switch (k) {
	case ESSIM_AUTH_OPEN:
		ev->target = pick_file(w);
		/* Most opens only read. */
		ev->fflag = rng_unit(&w->rng) < 0.7 ? FREAD : FREAD | FWRITE;
		break;
	case ESSIM_AUTH_EXEC:
	case ESSIM_NOTIFY_EXEC:
		ev->target = w->exes[rng_below(&w->rng, w->nexes)];
		break;
	case ESSIM_AUTH_RENAME:
	case ESSIM_NOTIFY_RENAME:
		ev->target = pick_file(w);
		make_destination(w, "");
		ev->target2 = w->target2;
		ev->name2 = w->name2;
		break;
	case ESSIM_AUTH_LINK:
		ev->target = pick_file(w);
		make_destination(w, " link");
		ev->target2 = w->target2;
		ev->name2 = w->name2;
		break;
	case ESSIM_AUTH_CLONE:
	case ESSIM_AUTH_COPYFILE:
		ev->target = pick_file(w);
		make_destination(w, " copy");
		ev->target2 = w->target2;
		ev->name2 = w->name2;
		break;
	case ESSIM_AUTH_CREATE:
	case ESSIM_NOTIFY_CREATE:
		make_destination(w, "");
		snprintf(w->target, sizeof(w->target), "%s/%s", w->target2,
		    w->name2);
		ev->target = w->target;
		ev->target2 = w->target2;
		ev->name2 = w->name2;
		break;
	case ESSIM_AUTH_UNLINK:
	case ESSIM_AUTH_TRUNCATE:
	case ESSIM_NOTIFY_UNLINK:
	case ESSIM_NOTIFY_WRITE:
		ev->target = pick_file(w);
		break;
	case ESSIM_AUTH_MOUNT:
		x = rng_below(&w->rng, NELEM(volumes));
		snprintf(
		    w->target, sizeof(w->target), "/Volumes/%s", volumes[x]);
		snprintf(w->target2, sizeof(w->target2),
		    "/dev/disk%" PRIu64 "s1", 4 + x);
		ev->target = w->target;
		ev->target2 = w->target2;
		break;
	case ESSIM_AUTH_SIGNAL:
		ev->target = w->procs[rng_below(&w->rng, w->nprocs)].exe;
		/* SIGTERM mostly, some SIGKILL and SIGHUP. */
		x = rng_below(&w->rng, 10);
		ev->fflag = x < 7 ? 15 : x < 9 ? 9 : 1;
		break;
	case ESSIM_NOTIFY_CLOSE:
		ev->target = pick_file(w);
		ev->modified = rng_unit(&w->rng) < s->close_modified;
		ev->fflag = ev->modified ? FREAD | FWRITE : FREAD;
		break;
	case ESSIM_NOTIFY_FORK:
	case ESSIM_NOTIFY_EXIT:
		ev->target = p->exe;
		break;
	case ESSIM_KIND_COUNT:
		break;
	}
	if (kind_is_auth(k))
		ev->deadline_ns = draw_deadline(w, system);
	return k;
}

static void
fingerprint(struct essim_workload *w, const struct essim_event *ev, pid_t pid)
{
	uint64_t h =
	    atomic_load_explicit(&w->fingerprint, memory_order_relaxed);
	uint32_t type = (uint32_t)ev->type;
	uint8_t mod = ev->modified;

	fnv(&h, &type, sizeof(type));
	fnv(&h, &pid, sizeof(pid));
	fnv_str(&h, ev->target);
	fnv_str(&h, ev->target2);
	fnv_str(&h, ev->name2);
	fnv(&h, &ev->fflag, sizeof(ev->fflag));
	fnv(&h, &mod, sizeof(mod));
	fnv(&h, &ev->deadline_ns, sizeof(ev->deadline_ns));
	atomic_store_explicit(&w->fingerprint, h, memory_order_relaxed);
}

static void
post_one(struct essim_workload *w)
{
	const struct wl_proc *p;
	struct essim_event ev;
	enum essim_kind k;
	int rc, zero = 0;

	k = make_event(w, &ev, &p);
	fingerprint(w, &ev, p->pid);
	bump(&w->generated, 1);
	if ((rc = essim_post(&ev)) < 0) {
		bump(&w->post_errors, 1);
		atomic_compare_exchange_strong(&w->first_error, &zero, rc);
		return;
	}
	bump(&w->posted, 1);
	bump(&w->by_kind[k], 1);
	bump(&w->deliveries, (uint64_t)rc);
	if (rc == 0)
		bump(&w->undelivered, 1);
	if (kind_is_auth(k)) {
		bump(&w->posted_auth, 1);
		if (p->system) {
			bump(&w->short_deadlines, 1);
			if (rc > 0)
				bump(&w->short_delivered, 1);
		}
	} else {
		bump(&w->posted_notify, 1);
	}
}

static void
sleep_until(struct essim_workload *w, uint64_t when)
{
	struct timespec ts;
	uint64_t now, t;

	while (!atomic_load_explicit(&w->stop, memory_order_relaxed) &&
	    (now = mono_ns()) < when) {
		t = when - now > SLEEP_MAX_NS ? now + SLEEP_MAX_NS : when;
		ts.tv_sec = (time_t)(t / NS_PER_S);
		ts.tv_nsec = (long)(t % NS_PER_S);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
}

static void *
generator(void *arg)
{
	struct essim_workload *w = arg;
	struct sched s = { .sc = &w->sc };
	uint64_t start, now, t, due, wake, last_wake, lag, lag_max = 0;
	unsigned n;

	sched_segment(&s, 0);
	start = mono_ns();
	last_wake = start;
	atomic_store(&w->start_ns, start);
	while (!atomic_load_explicit(&w->stop, memory_order_relaxed) &&
	    sched_peek(&s, &t)) {
		due = start + t;
		if (due > (now = mono_ns())) {
			/* Small batches: at most one wake-up per BATCH_NS. */
			wake = due > last_wake + BATCH_NS
			    ? due
			    : last_wake + BATCH_NS;
			sleep_until(w, wake);
			last_wake = wake;
			now = mono_ns();
		}
		for (n = 0;
		     n < BATCH_MAX && sched_peek(&s, &t) && start + t <= now;
		     n++) {
			lag = now - (start + t);
			if (lag > lag_max) {
				lag_max = lag;
				atomic_store_explicit(&w->lag_max_ns, lag_max,
				    memory_order_relaxed);
			}
			post_one(w);
			s.n++;
			atomic_store_explicit(
			    &w->bursts, s.bursts, memory_order_relaxed);
		}
	}
	pthread_mutex_lock(&w->mu);
	atomic_store(&w->end_ns, mono_ns());
	atomic_store(&w->finished, true);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int
essim_workload_run(struct essim_workload *w)
{
	int rc;

	if (w->started)
		return -EALREADY;
	if ((rc = pthread_create(&w->thread, NULL, generator, w)) != 0)
		return -rc;
	w->started = true;
	return 0;
}

int
essim_workload_start(
    const struct essim_scenario *s, struct essim_workload **out)
{
	struct essim_workload *w;
	int rc;

	if ((rc = essim_workload_create(s, &w)) != 0) {
		*out = NULL;
		return rc;
	}
	if ((rc = essim_workload_run(w)) != 0) {
		essim_workload_destroy(w);
		*out = NULL;
		return rc;
	}
	*out = w;
	return 0;
}

bool
essim_workload_wait(struct essim_workload *w, uint64_t timeout_ns)
{
	uint64_t until = mono_ns();
	struct timespec ts;
	bool done;

	if (!w->started)
		return true;
	until = timeout_ns > UINT64_MAX / 2 - until ? UINT64_MAX / 2
	                                            : until + timeout_ns;
	ts.tv_sec = (time_t)(until / NS_PER_S);
	ts.tv_nsec = (long)(until % NS_PER_S);
	pthread_mutex_lock(&w->mu);
	while (!(done = atomic_load(&w->finished)))
		if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT) {
			done = atomic_load(&w->finished);
			break;
		}
	pthread_mutex_unlock(&w->mu);
	return done;
}

void
essim_workload_join(struct essim_workload *w)
{
	if (w->started && !w->joined) {
		pthread_join(w->thread, NULL);
		w->joined = true;
	}
}

void
essim_workload_halt(struct essim_workload *w)
{
	atomic_store(&w->stop, true);
}

void
essim_workload_stop(struct essim_workload *w)
{
	essim_workload_halt(w);
	essim_workload_join(w);
}

void
essim_workload_destroy(struct essim_workload *w)
{
	if (w == NULL)
		return;
	essim_workload_stop(w);
	workload_free(w);
}

void
essim_workload_report(
    const struct essim_workload *w, struct essim_workload_report *out)
{
	/* The counters are atomics written by the generator alone. */
	struct essim_workload *m = (struct essim_workload *)w;
	uint64_t start, end;
	int k;

#define LD(f) atomic_load_explicit(&m->f, memory_order_relaxed)
	memset(out, 0, sizeof(*out));
	out->finished = atomic_load(&m->finished);
	out->generated = LD(generated);
	out->posted = LD(posted);
	out->posted_auth = LD(posted_auth);
	out->posted_notify = LD(posted_notify);
	out->post_errors = LD(post_errors);
	out->first_error = atomic_load(&m->first_error);
	out->short_deadlines = LD(short_deadlines);
	out->short_delivered = LD(short_delivered);
	out->deliveries = LD(deliveries);
	out->undelivered = LD(undelivered);
	for (k = 0; k < ESSIM_KIND_COUNT; k++)
		out->by_kind[k] = LD(by_kind[k]);
	out->bursts = LD(bursts);
	out->lag_max_ns = LD(lag_max_ns);
	out->fingerprint = LD(fingerprint);
	start = atomic_load(&m->start_ns);
	end = out->finished ? atomic_load(&m->end_ns) : mono_ns();
	out->elapsed_ns = start != 0 && end > start ? end - start : 0;
#undef LD
}

const struct essim_scenario *
essim_workload_scenario(const struct essim_workload *w)
{
	return &w->sc;
}
