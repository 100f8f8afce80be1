/*
 * decisions.c — the decision log (decisions.h).
 *
 * The answering threads copy each record to log into a bounded queue
 * (Vyukov's: a sequence number per slot, C11 atomics, no lock, no system
 * call); a full queue drops the record and counts it.  The writer thread,
 * at idle priority, wakes every WAKE_BUSY_MS while there is something to
 * log (and backs off to WAKE_MS when there is not), formats what is
 * queued as JSON lines and writes them with one write(2) a batch, or
 * sends them to the journal one entry each.  A failed write drops its lines,
 * counted; it never waits for the disk to free up.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "daemon/decisions.h"
#include "daemon/sd.h"
#include "platform/platform.h"

/* The writer's sleep between drains: short while lines come, so each
 * drain is a short burst (at 100 000 lines/s, 200 lines: 20 ms bursts
 * raised the answers' p99 by 0-20 %, 2 ms ones by 7-9 %), doubling up to
 * WAKE_MS when nothing came, so an idle log wakes 50 times a second. */
#define WAKE_BUSY_MS 2
#define WAKE_MS      20
/* Bytes a write: a short stay in the kernel, where SCHED_IDLE does not
 * get us preempted at once (64 KiB writes doubled the answers' p99). */
#define BATCH_MAX 4096
#define LINE_MAX  (5 * VD_PATH_MAX + 2048)
/* Records whose first lines an answering thread fetches ahead. */
#define PREFETCH 2

enum target { T_FILE, T_STDOUT, T_JOURNAL };

/* A record's strings. */
enum { S_EXE, S_TEAM, S_SIGNING, S_PATH, S_PATH2, S_N };

struct rec {
	/* answer_ns on vd's monotonic clock; wall_ns from it, by the
	 * writer (a clock read less on the answering thread). */
	uint64_t answer_ns, wall_ns, latency_ns, generation;
	uint32_t rule, open_flags;
	int32_t pid, ppid;
	uint32_t uid;
	uint16_t type;
	uint8_t verdict, by;
	bool audit, would_deny, has_ev;
	/* The strings, packed one after the other right after the fixed
	 * fields: a record touches two or three cache lines, not one per
	 * string (the answering thread pays a miss for each). */
	uint16_t off[S_N];
	char str[3 * VD_PATH_MAX + 2 * VD_ID_MAX];
};

#define RSTR(r, i) ((r)->str + (r)->off[i])

/* What the writer keeps from one line to the next. */
struct fmt_cache {
	uint64_t sec;    /* of prefix; UINT64_MAX: none yet */
	char prefix[24]; /* "YYYY-MM-DDTHH:MM:SS" */
	uint64_t gen;    /* of at and text */
	uint32_t rule;   /* 0: none yet */
	bool named;      /* the runtime named (gen, rule) */
	char at[VD_PATH_MAX + 16], text[4200];
};

struct slot {
	_Atomic uint64_t seq;
	struct rec r;
};

struct vd_declog {
	/* The queue: producers claim at head; the writer alone reads tail. */
	struct slot *slots;
	uint64_t mask;
	_Atomic uint64_t head;
	uint64_t tail;

	atomic_bool allows;
	struct vd_policy_runtime *rt;

	/* The target: the writer's; a reopen hands the next one over. */
	enum target target;
	int fd;
	pthread_mutex_t mu;
	bool have_next;
	enum target next_target;
	int next_fd;

	pthread_t thread;
	bool started, stopped;
	_Atomic uint64_t cpu_ns; /* the writer's, when it ends */
	atomic_bool stop;
	_Atomic uint64_t written, dropped, write_errors;

	char *buf;              /* BATCH_MAX + LINE_MAX */
	struct fmt_cache cache; /* the writer's */
	size_t len;
};

/* ---- the target -----------------------------------------------------------
 */

static int
open_target(const char *name, enum target *t, int *fd, char *err, size_t errsz)
{
	if (strcmp(name, "stdout") == 0) {
		*t = T_STDOUT;
		*fd = STDOUT_FILENO;
		return 0;
	}
	if (strcmp(name, "journal") == 0) {
		if (!vd_sd_journal_built()) {
			snprintf(err, errsz,
			    "[log] decisions = journal: this verdictd was "
			    "built without libsystemd");
			return -ENOTSUP;
		}
		*t = T_JOURNAL;
		*fd = -1;
		return 0;
	}
	if (name[0] != '/') {
		snprintf(err, errsz,
		    "[log] decisions: expected off, stdout, journal or an "
		    "absolute file name, got \"%s\"",
		    name);
		return -EINVAL;
	}
	*fd = open(
	    name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (*fd < 0) {
		int rc = -errno;

		snprintf(err, errsz, "[log] decisions: %s: %s", name,
		    strerror(errno));
		return rc;
	}
	*t = T_FILE;
	return 0;
}

static void
close_target(enum target t, int fd)
{
	if (t == T_FILE && fd >= 0)
		close(fd);
}

/* ---- the producers' side ----------------------------------------------------
 */

/* Appends src (at most max - 1 bytes of it) as string i of r. */
static size_t
pack_str(struct rec *r, size_t at, int i, const char *src, size_t max)
{
	size_t n = strnlen(src, max - 1);

	r->off[i] = (uint16_t)at;
	memcpy(r->str + at, src, n);
	r->str[at + n] = '\0';
	return at + n + 1;
}

void
vd_declog_observe(void *ctx, const struct vd_answer *a)
{
	struct vd_declog *l = ctx;
	const struct vd_event *ev = a->ev;
	struct slot *s;
	struct rec *r;
	uint64_t pos, seq;
	int64_t dif;
	size_t at;
	unsigned i;

	if (a->d->verdict != VD_DENY && !a->d->audit && !a->d->would_deny &&
	    !atomic_load_explicit(&l->allows, memory_order_relaxed))
		return;
	pos = atomic_load_explicit(&l->head, memory_order_relaxed);
	for (;;) {
		s = &l->slots[pos & l->mask];
		seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		dif = (int64_t)(seq - pos);
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&l->head,
			        &pos, pos + 1, memory_order_relaxed,
			        memory_order_relaxed))
				break;
		} else if (dif < 0) {
			atomic_fetch_add_explicit(
			    &l->dropped, 1, memory_order_relaxed);
			return;
		} else {
			pos = atomic_load_explicit(
			    &l->head, memory_order_relaxed);
		}
	}
	/* The next records' first lines, for this thread's next answers or
	 * another's: a slot comes back cold from the writer, and its miss
	 * is most of what a record costs here. */
	for (i = 1; i <= PREFETCH; i++) {
		const char *n = (const char *)&l->slots[(pos + i) & l->mask];

		__builtin_prefetch(n, 1);
		__builtin_prefetch(n + 64, 1);
	}
	r = &s->r;
	r->answer_ns = a->answer_ns;
	r->generation = l->rt != NULL ? vd_policy_runtime_generation(l->rt) : 0;
	r->type = (uint16_t)a->type;
	r->verdict = a->d->verdict;
	r->audit = a->d->audit;
	r->would_deny = a->d->would_deny;
	r->rule = a->d->rule;
	r->by = a->by;
	r->has_ev = ev != NULL;
	if (ev != NULL) {
		r->latency_ns = a->answer_ns > ev->arrival_ns
		    ? a->answer_ns - ev->arrival_ns
		    : 0;
		r->open_flags = ev->open_flags;
		r->pid = ev->proc.pid;
		r->ppid = ev->proc.ppid;
		r->uid = (uint32_t)ev->proc.uid;
		at = pack_str(r, 0, S_EXE, ev->proc.exe, VD_PATH_MAX);
		at = pack_str(r, at, S_TEAM, ev->proc.team_id, VD_ID_MAX);
		at = pack_str(r, at, S_SIGNING, ev->proc.signing_id, VD_ID_MAX);
		at = pack_str(r, at, S_PATH, ev->target, VD_PATH_MAX);
		pack_str(r, at, S_PATH2, ev->target2, VD_PATH_MAX);
	} else {
		memset(r->off, 0, sizeof(r->off));
		r->str[0] = '\0';
	}
	atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
}

/* ---- formatting -------------------------------------------------------------
 *
 * One list of fields (emit_fields), written either as a JSON line or as a
 * journal entry, so the two outputs cannot drift apart.  The writer pays
 * for every line on a CPU it shares with the answering threads, so the
 * hot parts avoid printf: numbers are converted by hand, a string's
 * plain bytes are copied in runs, and the time's seconds and the deciding
 * rule's text are kept from the line before.
 */

struct out {
	char *p;
	size_t len, cap;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->len + n >= o->cap)
		n = o->cap > o->len + 1 ? o->cap - o->len - 1 : 0;
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

/* Bytes of a valid UTF-8 sequence at s (n left), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/*
 * A JSON string.  Bytes that are not UTF-8 become \u0080-\u00ff escapes,
 * which this log writes for nothing else, so the bytes can be recovered.
 */
static void
put_json_str(struct out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0, k;
	char esc[6] = { '\\', 'u', '0', '0' };
	unsigned char c;

	put(o, "\"", 1);
	while (i < n) {
		c = u[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			i++;
			continue;
		}
		if (c >= 0x80 && (k = utf8_len(u + i, n - i)) != 0) {
			i += k;
			continue;
		}
		put(o, s + run, i - run);
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			put(o, esc, 2);
			esc[1] = 'u';
		} else {
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			put(o, esc, 6);
		}
		run = ++i;
	}
	put(o, s + run, i - run);
	put(o, "\"", 1);
}

/* v in decimal, its last digit just before end; the first digit. */
static char *
dec_before(char *end, uint64_t v)
{
	do
		*--end = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return end;
}

/* v in decimal at the end of buf[24]. */
static char *
i64_str(char *buf, int64_t v)
{
	char *p;

	buf[23] = '\0';
	p = dec_before(buf + 23, v < 0 ? -(uint64_t)v : (uint64_t)v);
	if (v < 0)
		*--p = '-';
	return p;
}

/* Tenths as "U.T" at the end of buf[24]. */
static char *
tenths_str(char *buf, uint64_t tenths)
{
	buf[23] = '\0';
	buf[22] = (char)('0' + tenths % 10);
	buf[21] = '.';
	return dec_before(buf + 21, tenths / 10);
}

static void
put_digits(char *p, uint64_t v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* RFC 3339, UTC, microseconds, into buf[32]. */
static const char *
time_str(struct fmt_cache *c, uint64_t wall_ns, char *buf)
{
	uint64_t sec = wall_ns / 1000000000u;
	time_t t = (time_t)sec;
	struct tm tm;

	if (c->sec != sec) {
		gmtime_r(&t, &tm);
		strftime(
		    c->prefix, sizeof(c->prefix), "%Y-%m-%dT%H:%M:%S", &tm);
		c->sec = sec;
	}
	memcpy(buf, c->prefix, 19);
	buf[19] = '.';
	put_digits(buf + 20, (wall_ns % 1000000000u) / 1000u, 6);
	buf[26] = 'Z';
	buf[27] = '\0';
	return buf;
}

static const char *const by_words[] = {
	[VD_BY_NONE] = "none",
	[VD_BY_WORKER] = "rule",
	[VD_BY_TIMER] = "timer",
	[VD_BY_ARRIVAL] = "arrival",
	[VD_BY_DROP] = "dropped",
	[VD_BY_SHUTDOWN] = "stop",
};

static const char *
access_word(uint32_t f)
{
	return f == (VD_OPEN_READ | VD_OPEN_WRITE) ? "read,write"
	    : f == VD_OPEN_READ                    ? "read"
	    : f == VD_OPEN_WRITE                   ? "write"
	                                           : NULL;
}

static const char *
decision_word(const struct rec *r)
{
	return r->would_deny        ? "would-deny"
	    : r->verdict == VD_DENY ? "deny"
	                            : "allow";
}

/* A field: a string (quoted in JSON) or a number or boolean (as is). */
typedef void emit_fn(void *ctx, const char *key, const char *val, bool str);

/* Schema VD_DECLOG_SCHEMA, in its order; verdictd(8) lists it. */
static void
emit_fields(const struct rec *r, struct fmt_cache *c, emit_fn *emit, void *ctx)
{
	char num[24], tbuf[32];
	const char *acc;

	emit(ctx, "schema", i64_str(num, VD_DECLOG_SCHEMA), false);
	emit(ctx, "time", time_str(c, r->wall_ns, tbuf), true);
	emit(
	    ctx, "type", vd_event_type_name((enum vd_event_type)r->type), true);
	emit(ctx, "decision", decision_word(r), true);
	emit(ctx, "verdict", r->verdict == VD_DENY ? "deny" : "allow", true);
	emit(ctx, "audit", r->audit ? "true" : "false", false);
	emit(ctx, "by",
	    r->by < sizeof(by_words) / sizeof(by_words[0]) ? by_words[r->by]
	                                                   : "?",
	    true);
	if (r->rule != 0) {
		emit(ctx, "rule", i64_str(num, r->rule), false);
		if (c->named && c->rule == r->rule && c->gen == r->generation) {
			emit(ctx, "rule_at", c->at, true);
			emit(ctx, "rule_text", c->text, true);
		}
	}
	if (r->generation != 0)
		emit(ctx, "policy_generation",
		    i64_str(num, (int64_t)r->generation), false);
	if (!r->has_ev)
		return;
	emit(ctx, "pid", i64_str(num, r->pid), false);
	emit(ctx, "ppid", i64_str(num, r->ppid), false);
	emit(ctx, "uid", i64_str(num, r->uid), false);
	emit(ctx, "exe", RSTR(r, S_EXE), true);
	if (*RSTR(r, S_TEAM) != '\0')
		emit(ctx, "team_id", RSTR(r, S_TEAM), true);
	if (*RSTR(r, S_SIGNING) != '\0')
		emit(ctx, "signing_id", RSTR(r, S_SIGNING), true);
	emit(ctx, "path", RSTR(r, S_PATH), true);
	if (*RSTR(r, S_PATH2) != '\0')
		emit(ctx, "path2", RSTR(r, S_PATH2), true);
	if ((acc = access_word(r->open_flags)) != NULL)
		emit(ctx, "access", acc, true);
	/* Tenths of a microsecond, rounded. */
	emit(ctx, "latency_us", tenths_str(num, (r->latency_ns + 50) / 100),
	    false);
}

/* ---- the JSON line ---------------------------------------------------------
 */

struct json_ctx {
	struct out *o;
	bool first;
};

static void
emit_json(void *ctx, const char *key, const char *val, bool str)
{
	struct json_ctx *j = ctx;
	size_t klen = strlen(key);

	put(j->o, j->first ? "{\"" : ",\"", 2);
	j->first = false;
	put(j->o, key, klen);
	put(j->o, "\":", 2);
	if (str)
		put_json_str(j->o, val, strlen(val));
	else
		put(j->o, val, strlen(val));
}

static void
format_json(struct out *o, const struct rec *r, struct fmt_cache *c)
{
	struct json_ctx j = { o, true };

	emit_fields(r, c, emit_json, &j);
	put(o, "}\n", 2);
}

/* ---- the journal entry -----------------------------------------------------
 *
 * MESSAGE and PRIORITY, then every field as VERDICTD_KEY=value.
 */

#define JFIELDS 24
#define JBYTES  (6 * VD_PATH_MAX + 8192)

struct journal_ctx {
	struct iovec iov[JFIELDS];
	int n;
	size_t used;
	char buf[JBYTES];
};

/* Appends one "NAME=value" item; the name upper-cased after prefix. */
static void
jitem(struct journal_ctx *jc, const char *prefix, const char *name,
    const char *val)
{
	char *p = jc->buf + jc->used;
	size_t room = JBYTES - jc->used, np = strlen(prefix), nn = strlen(name);
	size_t nv = strlen(val), i;

	if (jc->n >= JFIELDS || np + nn + nv + 1 > room)
		return;
	memcpy(p, prefix, np);
	for (i = 0; i < nn; i++)
		p[np + i] = (char)(name[i] >= 'a' && name[i] <= 'z'
		        ? name[i] - 'a' + 'A'
		        : name[i]);
	p[np + nn] = '=';
	memcpy(p + np + nn + 1, val, nv);
	jc->iov[jc->n].iov_base = p;
	jc->iov[jc->n++].iov_len = np + nn + 1 + nv;
	jc->used += np + nn + 1 + nv;
}

static void
emit_journal(void *ctx, const char *key, const char *val, bool str)
{
	(void)str;
	jitem(ctx, "VERDICTD_", key, val);
}

static int
send_journal(const struct rec *r, struct fmt_cache *c)
{
	struct journal_ctx jc;
	char msg[VD_PATH_MAX + sizeof(c->at) + 64], prio[2] = { 0 };
	bool named = r->rule != 0 && c->named && c->rule == r->rule &&
	    c->gen == r->generation;

	jc.n = 0;
	jc.used = 0;
	snprintf(msg, sizeof(msg), "%s %s %s%s%s", decision_word(r),
	    vd_event_type_name((enum vd_event_type)r->type), RSTR(r, S_PATH),
	    named ? " by " : "", named ? c->at : "");
	jitem(&jc, "", "MESSAGE", msg);
	prio[0] = r->verdict == VD_DENY ? '4' : '5';
	jitem(&jc, "", "PRIORITY", prio);
	emit_fields(r, c, emit_journal, &jc);
	return vd_sd_journal_sendv(jc.iov, jc.n);
}

/* Names the record's rule in c, asking the runtime only for a rule or
 * a policy generation other than the last line's. */
static void
name_rule(
    struct fmt_cache *c, struct vd_policy_runtime *rt, const struct rec *r)
{
	if (r->rule == 0 || (c->rule == r->rule && c->gen == r->generation))
		return;
	c->rule = r->rule;
	c->gen = r->generation;
	c->named = rt != NULL &&
	    vd_policy_runtime_rule_at(rt, r->generation, r->rule, c->at,
	        sizeof(c->at), c->text, sizeof(c->text));
}

size_t
vd_declog_format_test(const struct vd_answer *a, uint64_t generation,
    const char *rule_at, const char *rule_text, char *buf, size_t bufsz)
{
	struct vd_declog l;
	struct slot s;
	struct out o = { buf, 0, bufsz };
	static struct fmt_cache c;

	memset(&l, 0, sizeof(l));
	l.slots = &s;
	l.mask = 0;
	atomic_init(&s.seq, 0);
	atomic_init(&l.allows, true);
	vd_declog_observe(&l, a);
	s.r.generation = generation;
	s.r.wall_ns = 0;
	c.sec = UINT64_MAX;
	c.rule = s.r.rule;
	c.gen = generation;
	c.named = rule_at != NULL;
	if (c.named) {
		snprintf(c.at, sizeof(c.at), "%s", rule_at);
		snprintf(c.text, sizeof(c.text), "%s", rule_text);
	}
	buf[0] = '\0';
	format_json(&o, &s.r, &c);
	return o.len;
}

/* ---- the writer
 * --------------------------------------------------------------- */

static void
flush_batch(struct vd_declog *l, uint64_t lines)
{
	size_t off = 0;
	ssize_t n;

	while (off < l->len) {
		n = write(l->fd, l->buf + off, l->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* A full disk, a broken pipe: the lines are lost,
			 * counted, and the next batch tries again. */
			atomic_fetch_add(&l->write_errors, 1);
			atomic_fetch_add(&l->dropped, lines);
			l->len = 0;
			return;
		}
		off += (size_t)n;
	}
	atomic_fetch_add(&l->written, lines);
	l->len = 0;
}

/* The wall clock less vd's monotonic clock, now. */
static uint64_t
wall_offset_ns(void)
{
	struct timespec ts;
	uint64_t mono = vd_clock_ns();

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec - mono;
}

/* Writes what is queued; true when it wrote anything. */
static bool
drain(struct vd_declog *l)
{
	struct fmt_cache *c = &l->cache;
	struct slot *s;
	struct out o;
	uint64_t lines = 0, seq, wall_off = 0;
	bool any = false;

	for (;;) {
		s = &l->slots[l->tail & l->mask];
		seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (seq != l->tail + 1)
			break;
		if (!any)
			wall_off = wall_offset_ns();
		s->r.wall_ns = s->r.answer_ns + wall_off;
		name_rule(c, l->rt, &s->r);
		if (l->target == T_JOURNAL) {
			if (send_journal(&s->r, c) != 0) {
				atomic_fetch_add(&l->write_errors, 1);
				atomic_fetch_add(&l->dropped, 1);
			} else {
				atomic_fetch_add(&l->written, 1);
			}
		} else {
			o = (struct out){ l->buf + l->len, 0,
				BATCH_MAX + LINE_MAX - l->len };
			format_json(&o, &s->r, c);
			l->len += o.len;
			lines++;
		}
		atomic_store_explicit(
		    &s->seq, l->tail + l->mask + 1, memory_order_release);
		l->tail++;
		any = true;
		if (l->len >= BATCH_MAX) {
			flush_batch(l, lines);
			lines = 0;
		}
	}
	if (l->len > 0)
		flush_batch(l, lines);
	return any;
}

/* Takes a target a reopen handed over. */
static void
take_next(struct vd_declog *l)
{
	pthread_mutex_lock(&l->mu);
	if (l->have_next) {
		close_target(l->target, l->fd);
		l->target = l->next_target;
		l->fd = l->next_fd;
		l->have_next = false;
	}
	pthread_mutex_unlock(&l->mu);
}

static uint64_t
thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *
writer_main(void *arg)
{
	struct vd_declog *l = arg;
	struct timespec ts;
	long ms = WAKE_MS;

	vd_thread_name("vd-declog");
	/* It never takes a CPU an answering thread could use: below the
	 * workers, and below the NOTIFY thread. */
	if (vd_thread_class(VD_THREAD_IDLE) != 0)
		(void)vd_thread_class(VD_THREAD_BACKGROUND);
	while (!atomic_load(&l->stop)) {
		take_next(l);
		ms = drain(l)          ? WAKE_BUSY_MS
		    : ms * 2 > WAKE_MS ? WAKE_MS
		                       : ms * 2;
		ts.tv_sec = 0;
		ts.tv_nsec = ms * 1000000L;
		nanosleep(&ts, NULL);
	}
	take_next(l);
	drain(l);
	atomic_store(&l->cpu_ns, thread_cpu_ns());
	return NULL;
}

/* ---- life -------------------------------------------------------------------
 */

struct vd_declog *
vd_declog_open(const char *target, bool allows, unsigned queue,
    struct vd_policy_runtime *rt, char *err, size_t errsz)
{
	struct vd_declog *l;
	uint64_t i;

	if (queue < 2 || (queue & (queue - 1)) != 0) {
		snprintf(err, errsz,
		    "[log] queue: expected a power of 2, got %u", queue);
		return NULL;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->slots = calloc(queue, sizeof(*l->slots))) == NULL ||
	    (l->buf = malloc(BATCH_MAX + LINE_MAX)) == NULL) {
		snprintf(
		    err, errsz, "[log] out of memory for %u records", queue);
		goto fail;
	}
	l->mask = queue - 1;
	l->cache.sec = UINT64_MAX;
	for (i = 0; i < queue; i++)
		atomic_init(&l->slots[i].seq, i);
	atomic_init(&l->allows, allows);
	l->rt = rt;
	pthread_mutex_init(&l->mu, NULL);
	if (open_target(target, &l->target, &l->fd, err, errsz) != 0)
		goto fail;
	return l;
fail:
	if (l != NULL) {
		free(l->buf);
		free(l->slots);
	}
	free(l);
	return NULL;
}

int
vd_declog_start(struct vd_declog *l)
{
	int rc = pthread_create(&l->thread, NULL, writer_main, l);

	if (rc != 0)
		return -rc;
	l->started = true;
	return 0;
}

int
vd_declog_reopen(struct vd_declog *l, const char *target, bool allows,
    char *err, size_t errsz)
{
	enum target t;
	int fd, rc;

	if ((rc = open_target(target, &t, &fd, err, errsz)) != 0)
		return rc;
	pthread_mutex_lock(&l->mu);
	if (l->have_next)
		close_target(l->next_target, l->next_fd);
	l->next_target = t;
	l->next_fd = fd;
	l->have_next = true;
	pthread_mutex_unlock(&l->mu);
	atomic_store(&l->allows, allows);
	return 0;
}

void
vd_declog_stats(const struct vd_declog *l, struct vd_declog_stats *out)
{
	struct vd_declog *m = (struct vd_declog *)l;

	out->written = atomic_load(&m->written);
	out->dropped = atomic_load(&m->dropped);
	out->write_errors = atomic_load(&m->write_errors);
	out->queue_max = l->mask + 1;
	out->cpu_ns = atomic_load(&m->cpu_ns);
}

void
vd_declog_stop(struct vd_declog *l)
{
	if (l->stopped)
		return;
	l->stopped = true;
	atomic_store(&l->stop, true);
	if (l->started)
		pthread_join(l->thread, NULL);
	else
		drain(l);
}

void
vd_declog_close(struct vd_declog *l)
{
	if (l == NULL)
		return;
	vd_declog_stop(l);
	take_next(l);
	close_target(l->target, l->fd);
	pthread_mutex_destroy(&l->mu);
	free(l->buf);
	free(l->slots);
	free(l);
}
