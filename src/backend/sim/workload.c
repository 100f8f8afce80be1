/*
 * workload.c — the workload generator of the EndpointSecurity simulator:
 * what a scenario (scenario.c) describes, posted to the simulated kernel.
 *
 * The schedule is virtual.  Event n of a segment (a steady stretch or a
 * burst) is due at segment start + n / rate, computed in integers from n
 * so that no rounding accumulates; the thread sleeps on absolute deadlines
 * and posts everything due in one batch, waking at most once per
 * BATCH_NS.  Content comes from a seeded xoshiro256** stream, so what is
 * posted, and how many, depend on the seed alone; a slow machine only
 * posts late (lag_max_ns says how late).
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
#include <sys/fcntl.h>
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
	return essim_scenario_deadline(s, d);
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
	ev->type = essim_kind_type(k);
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
	if (essim_kind_is_auth(k))
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
	if (essim_kind_is_auth(k)) {
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
