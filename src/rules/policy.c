/*
 * policy.c — the rules language: parser, compiler and evaluator.
 *
 * Parsing is line by line with a cursor; the first error stops everything
 * and is reported as file:line:column plus what was expected, so a policy
 * is accepted whole or not at all.  Parsing fills growable scratch arrays;
 * compiling copies them, with the indexes, into one allocation (the
 * snapshot), which is never written again and can be read by any number of
 * threads.
 *
 * Indexes, per AUTH type: exact path= values, prefix= values and suffix=
 * values go into one open-addressing hash table keyed by (type, kind,
 * string), fronted by an array of 16-bit tags that keeps most misses in
 * cache.  Evaluation hashes the event's path once forwards (FNV-1a; the
 * hash of each prefix length comes for free) and probes only at the prefix
 * lengths that some prefix= value of that type has, then once backwards
 * for the suffix lengths.  Each hit is a list of rule numbers in ascending
 * order; rules without a path condition form one more list.  Each list is
 * scanned only below the best rule found so far, so the first match in
 * policy order wins and the work depends on the path, not the rule count.
 *
 * A condition on a truncated path (target, target2 or exe) can be decided
 * neither way.  When such a rule's other conditions hold, the rule might
 * have been the first match, so the event gets its type's default and
 * *truncated is set; a truncated event never falls through to a later,
 * broader rule (a deny on a prefix then an allow-all would otherwise let it
 * through).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <verdict/event.h>
#include <verdict/pipeline.h>
#include <verdict/policy.h>

#include "rules/policy_internal.h"
#include "util/util.h"

#define LINE_MAX_BYTES 4096
#define INCLUDE_DEPTH  8
/* Bytes of a policy: its file and the files it includes, together. */
#define FILE_MAX_BYTES (16 * VD_FILE_MIB)
#define NTYPES         VD_AUTH_TYPE_COUNT

enum cond_kind {
	C_UID,
	C_GID,
	C_PID,
	C_EXE,
	C_EXE_PREFIX,
	C_COMM,
	C_TEAM_ID,
	C_SIGNING_ID,
	C_PLATFORM,
	C_CDHASH,
	C_PATH,
	C_PREFIX,
	C_SUFFIX,
	C_ACCESS,
	C_TARGET,
	C_TARGET_PREFIX,
};

/* Conditions on the object: the same whoever opens it. */
static inline bool
cond_is_object(uint8_t kind)
{
	return kind == C_PATH || kind == C_PREFIX || kind == C_SUFFIX ||
	    kind == C_TARGET || kind == C_TARGET_PREFIX;
}

/* Index kinds, part of a hash key. */
enum { IK_EXACT, IK_PREFIX, IK_SUFFIX, IK_NONE };

/* A string (off, len into strs) or a number (num). */
struct val {
	uint32_t off;
	uint32_t len;
};

struct cond {
	uint8_t kind;
	uint32_t val0;
	uint32_t nval;
};

struct rule {
	uint8_t verdict;
	bool audit;
	bool cache;   /* asked for and allowed: see rule_cacheable() */
	bool subject; /* a condition on the process (or its access mode) */
	uint16_t types;
	uint32_t cond0;
	uint32_t ncond;
};

struct hent {
	uint64_t h;
	uint32_t soff, slen;
	uint32_t list_off, list_len; /* list_len 0: empty slot */
	uint32_t tk;                 /* type * 3 + index kind */
};

struct ptype {
	uint32_t any_off, any_len;   /* rules without a path condition */
	uint32_t plen_off, plen_len; /* prefix lengths present, ascending */
	uint32_t slen_off, slen_len; /* suffix lengths present, ascending */
	bool has_exact;
	bool has_default;
	uint8_t def;
};

struct vd_policy {
	size_t nrules;
	size_t bytes;
	const struct rule *rules;
	const struct cond *conds;
	const struct val *vals;
	const uint32_t *lists;
	const uint16_t *lens;
	const struct hent *ht;
	const uint16_t *tags; /* per slot: 0 empty, else 16 bits of hash */
	uint64_t hmask;
	const char *strs;
	struct ptype types[NTYPES];
};

/* ---- scratch arrays ---------------------------------------------------- */

static int
grow(void *pp, size_t *cap, size_t need, size_t elsz)
{
	void **p = pp;
	size_t ncap;
	void *np;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 16;
	while (ncap < need)
		ncap *= 2;
	if (ncap > SIZE_MAX / elsz)
		return -ENOMEM;
	np = realloc(*p, ncap * elsz);
	if (np == NULL)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

struct pset {
	uint32_t name_off, name_len; /* in strs */
	uint32_t val0, nval;         /* in setvals */
};

struct parser {
	unsigned can;
	struct vd_policy_error *err;
	int rc;

	struct rule *rules;
	size_t nrules, crules;
	struct cond *conds;
	size_t nconds, cconds;
	struct val *vals;
	size_t nvals, cvals;
	char *strs;
	size_t nstrs, cstrs;
	struct pset *sets;
	size_t nsets, csets;
	struct val *setvals;
	size_t nsetvals, csetvals;

	bool has_def[NTYPES];
	uint8_t def[NTYPES];

	char *stack[INCLUDE_DEPTH + 2]; /* realpaths being read */
	int depth;
	size_t bytes; /* read so far, all files together */

	/* the line being parsed */
	const char *file;
	const char *dir;
	int lineno;
	const char *line;
	size_t len;
	size_t pos;
	char buf[LINE_MAX_BYTES + 1]; /* a decoded value */
	size_t buflen;
};

static void fail(struct parser *P, size_t col0, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Records the first error: col0 is a 0-based byte offset in the line, or
 * SIZE_MAX for "no column". */
static void
fail(struct parser *P, size_t col0, int rc, const char *fmt, ...)
{
	va_list ap;

	if (P->rc != 0)
		return;
	P->rc = rc;
	if (P->err == NULL)
		return;
	snprintf(
	    P->err->file, sizeof(P->err->file), "%s", P->file ? P->file : "");
	P->err->line = P->lineno;
	P->err->column = col0 == SIZE_MAX ? 0 : (int)col0 + 1;
	va_start(ap, fmt);
	vsnprintf(P->err->msg, sizeof(P->err->msg), fmt, ap);
	va_end(ap);
}

static int
add_str(struct parser *P, const char *s, size_t n, uint32_t *off)
{
	if (P->nstrs + n > UINT32_MAX ||
	    grow(&P->strs, &P->cstrs, P->nstrs + n + 1, 1) != 0)
		return -ENOMEM;
	memcpy(P->strs + P->nstrs, s, n);
	*off = (uint32_t)P->nstrs;
	P->nstrs += n;
	return 0;
}

/* ---- lexing ------------------------------------------------------------ */

/* Quotes a word for a message, cut so the message fits. */
static const char *
shown(const char *s, size_t n, char *out, size_t outsz)
{
	size_t max = 64;

	if (n > max)
		snprintf(out, outsz, "\"%.*s...\"", (int)max, s);
	else
		snprintf(out, outsz, "\"%.*s\"", (int)n, s);
	return out;
}

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static void
skip_ws(struct parser *P)
{
	while (P->pos < P->len && is_ws(P->line[P->pos]))
		P->pos++;
}

/* At the end of the line or of its content (a comment starts a word). */
static bool
at_end(struct parser *P)
{
	skip_ws(P);
	return P->pos >= P->len || P->line[P->pos] == '#';
}

/*
 * The next word: a run of non-blank bytes in which a double-quoted part
 * may hold blanks.  Returns false (error recorded) on an unterminated
 * quote.
 */
static bool
next_word(struct parser *P, size_t *start, size_t *wlen)
{
	size_t i, q;

	skip_ws(P);
	*start = i = P->pos;
	while (i < P->len && !is_ws(P->line[i])) {
		if (P->line[i] == '"') {
			q = i++;
			while (i < P->len && P->line[i] != '"') {
				if (P->line[i] == '\\' && i + 1 < P->len)
					i++;
				i++;
			}
			if (i >= P->len) {
				fail(P, q, -EINVAL,
				    "unterminated quoted string");
				return false;
			}
		}
		i++;
	}
	*wlen = i - *start;
	P->pos = i;
	return true;
}

/*
 * Decodes a quoted string starting at line[at] (the opening quote) into
 * P->buf; *end is set past the closing quote.
 */
static bool
decode_quoted(struct parser *P, size_t at, size_t *end)
{
	size_t i = at + 1;
	char esc[8];

	P->buflen = 0;
	while (i < P->len && P->line[i] != '"') {
		if (P->line[i] == '\\') {
			if (i + 1 >= P->len) {
				fail(P, at, -EINVAL,
				    "unterminated quoted string");
				return false;
			}
			if (P->line[i + 1] != '"' && P->line[i + 1] != '\\') {
				fail(P, i, -EINVAL,
				    "unknown escape %s in a quoted string "
				    "(only \\\" and \\\\ are allowed)",
				    shown(P->line + i, 2, esc, sizeof(esc)));
				return false;
			}
			i++;
		}
		P->buf[P->buflen++] = P->line[i++];
	}
	if (i >= P->len) {
		fail(P, at, -EINVAL, "unterminated quoted string");
		return false;
	}
	*end = i + 1;
	return true;
}

/*
 * A condition's value, line[start .. start+n): quoted (decoded) or bare.
 * Sets *is_set for a bare %name.  The value lands in P->buf.
 */
static bool
decode_value(struct parser *P, size_t start, size_t n, bool *is_set)
{
	const char *s = P->line + start;
	size_t end, i;
	char w[80];

	*is_set = false;
	if (n > 0 && s[0] == '"') {
		if (!decode_quoted(P, start, &end))
			return false;
		if (end != start + n) {
			fail(P, end, -EINVAL,
			    "expected a blank after the closing quote, got %s",
			    shown(
			        P->line + end, start + n - end, w, sizeof(w)));
			return false;
		}
		return true;
	}
	for (i = 0; i < n; i++) {
		if (s[i] == '"') {
			fail(P, start + i, -EINVAL,
			    "a quote may only open a value; quote the whole "
			    "value, as in path=\"/a b\"");
			return false;
		}
	}
	memcpy(P->buf, s, n);
	P->buflen = n;
	*is_set = n > 0 && s[0] == '%';
	return true;
}

static bool
is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static struct pset *
find_set(struct parser *P, const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < P->nsets; i++) {
		if (P->sets[i].name_len == n &&
		    memcmp(P->strs + P->sets[i].name_off, name, n) == 0)
			return &P->sets[i];
	}
	return NULL;
}

/* Checks the encoding of one line: strict UTF-8, no control characters
 * but tab. */
static bool
check_line(struct parser *P)
{
	const unsigned char *s = (const unsigned char *)P->line;
	size_t i = 0, n, k;
	uint32_t cp, min;

	while (i < P->len) {
		unsigned char c = s[i];

		if (c < 0x80) {
			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				fail(P, i, -EINVAL,
				    "control character 0x%02x is not allowed",
				    c);
				return false;
			}
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			goto bad;
		}
		for (k = 1; k <= n; k++) {
			if (i + k >= P->len || (s[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		i += n + 1;
	}
	return true;
bad:
	fail(P, i, -EINVAL, "invalid UTF-8");
	return false;
}

/* ---- conditions -------------------------------------------------------- */

struct cond_def {
	const char *key;
	uint8_t kind;
	bool object;
};

static const struct cond_def cond_defs[] = {
	{ "uid", C_UID, false },
	{ "gid", C_GID, false },
	{ "pid", C_PID, false },
	{ "exe", C_EXE, false },
	{ "exe_prefix", C_EXE_PREFIX, false },
	{ "comm", C_COMM, false },
	{ "team_id", C_TEAM_ID, false },
	{ "signing_id", C_SIGNING_ID, false },
	{ "platform", C_PLATFORM, false },
	{ "cdhash", C_CDHASH, false },
	{ "path", C_PATH, true },
	{ "prefix", C_PREFIX, true },
	{ "suffix", C_SUFFIX, true },
	{ "access", C_ACCESS, true },
	{ "target", C_TARGET, true },
	{ "target_prefix", C_TARGET_PREFIX, true },
};

#define SUBJECT_EXPECTED                                                       \
	"a subject condition (uid=, gid=, pid=, exe=, exe_prefix=, comm=, "    \
	"team_id=, signing_id=, platform=, cdhash=) or \"all\""
#define OBJECT_EXPECTED                                                        \
	"an object condition (path=, prefix=, suffix=, access=, target=, "     \
	"target_prefix=) or \"all\""
#define TYPES_EXPECTED                                                         \
	"an event type (open, exec, rename, unlink, create, truncate, link, "  \
	"clone, copyfile, mount, signal, access) or \"any\""

#define TYPE_BIT(t) ((uint16_t)(1u << (t)))
#define TARGET2_TYPES                                                          \
	(TYPE_BIT(VD_AUTH_RENAME) | TYPE_BIT(VD_AUTH_LINK) |                   \
	    TYPE_BIT(VD_AUTH_CLONE) | TYPE_BIT(VD_AUTH_COPYFILE))

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Checks one value (from the line or a set member) for a condition and
 * appends it to vals.  `what` names the set member in messages ("" when
 * the value is on the line).  col0 is where errors point.
 */
static bool
add_value(struct parser *P, uint8_t kind, const char *key, const char *v,
    size_t n, size_t col0, const char *what)
{
	struct val val = { 0, 0 };
	char w[80], tmp[24];
	uint64_t num;
	size_t i;

	shown(v, n, w, sizeof(w));
	switch (kind) {
	case C_UID:
	case C_GID:
	case C_PID:
		num = 0;
		for (i = 0; i < n; i++) {
			if (v[i] < '0' || v[i] > '9')
				break;
			num = num * 10 + (uint64_t)(v[i] - '0');
			if (num > UINT32_MAX)
				break;
		}
		if (n == 0 || i < n || (kind == C_PID && num > INT32_MAX)) {
			fail(P, col0, -EINVAL,
			    "%sexpected a decimal %s (0 to %s), got %s", what,
			    key, kind == C_PID ? "2147483647" : "4294967295",
			    w);
			return false;
		}
		val.off = (uint32_t)num;
		break;
	case C_PLATFORM:
		if (n == 3 && memcmp(v, "yes", 3) == 0)
			val.off = 1;
		else if (n == 2 && memcmp(v, "no", 2) == 0)
			val.off = 0;
		else {
			fail(P, col0, -EINVAL,
			    "%sexpected \"yes\" or \"no\" after platform=, "
			    "got %s",
			    what, w);
			return false;
		}
		break;
	case C_ACCESS:
		if (n == 4 && memcmp(v, "read", 4) == 0)
			val.off = VD_OPEN_READ;
		else if (n == 5 && memcmp(v, "write", 5) == 0)
			val.off = VD_OPEN_WRITE;
		else {
			fail(P, col0, -EINVAL,
			    "%sexpected \"read\" or \"write\" after access=, "
			    "got %s",
			    what, w);
			return false;
		}
		break;
	case C_CDHASH: {
		char raw[20];

		for (i = 0; i < n && i < 40 && hexval(v[i]) >= 0; i++)
			;
		if (n != 40 || i != 40) {
			fail(P, col0, -EINVAL,
			    "%sexpected 40 hexadecimal digits after cdhash=, "
			    "got %s",
			    what, w);
			return false;
		}
		for (i = 0; i < 20; i++)
			raw[i] = (char)(hexval(v[2 * i]) << 4 |
			    hexval(v[2 * i + 1]));
		if (add_str(P, raw, 20, &val.off) != 0)
			goto nomem;
		val.len = 20;
		break;
	}
	case C_EXE:
	case C_EXE_PREFIX:
	case C_PATH:
	case C_PREFIX:
	case C_TARGET:
	case C_TARGET_PREFIX:
		if (n == 0 || v[0] != '/') {
			fail(P, col0, -EINVAL,
			    "%sexpected an absolute path after %s=, got %s",
			    what, key, w);
			return false;
		}
		/* FALLTHROUGH */
	case C_SUFFIX:
	case C_COMM:
	case C_TEAM_ID:
	case C_SIGNING_ID: {
		size_t max = kind == C_COMM ? VD_COMM_MAX - 1
		    : kind == C_TEAM_ID || kind == C_SIGNING_ID
		    ? VD_ID_MAX - 1
		    : VD_PATH_MAX - 1;

		if (n == 0) {
			fail(P, col0, -EINVAL,
			    "%sexpected a value after %s=", what, key);
			return false;
		}
		if (n > max) {
			snprintf(tmp, sizeof(tmp), "%zu", max);
			fail(P, col0, -EINVAL,
			    "%s%s= value is longer than %s bytes: it could "
			    "never match",
			    what, key, tmp);
			return false;
		}
		if (add_str(P, v, n, &val.off) != 0)
			goto nomem;
		val.len = (uint32_t)n;
		break;
	}
	}
	if (grow(&P->vals, &P->cvals, P->nvals + 1, sizeof(*P->vals)) != 0)
		goto nomem;
	P->vals[P->nvals++] = val;
	return true;
nomem:
	fail(P, SIZE_MAX, -ENOMEM, "out of memory");
	return false;
}

/* Parses one key=value word into a condition of the rule being built. */
static bool
parse_cond(
    struct parser *P, size_t start, size_t n, bool object, uint16_t types)
{
	const char *s = P->line + start, *eq;
	const struct cond_def *d = NULL;
	struct cond c;
	char w[80], what[128];
	size_t i, klen, vstart;
	bool is_set;

	eq = memchr(s, '=', n);
	klen = eq ? (size_t)(eq - s) : 0;
	for (i = 0; eq && i < sizeof(cond_defs) / sizeof(cond_defs[0]); i++) {
		if (strlen(cond_defs[i].key) == klen &&
		    memcmp(cond_defs[i].key, s, klen) == 0 &&
		    cond_defs[i].object == object) {
			d = &cond_defs[i];
			break;
		}
	}
	for (i = 0;
	     d == NULL && eq && i < sizeof(cond_defs) / sizeof(cond_defs[0]);
	     i++) {
		/* A known key on the wrong side of the ":". */
		if (strlen(cond_defs[i].key) == klen &&
		    memcmp(cond_defs[i].key, s, klen) == 0) {
			fail(P, start, -EINVAL,
			    "%s= is %s condition: it goes %s the \":\"",
			    cond_defs[i].key,
			    object ? "a subject" : "an object",
			    object ? "before" : "after");
			return false;
		}
	}
	if (d == NULL) {
		fail(P, start, -EINVAL, "expected %s, got %s",
		    object ? OBJECT_EXPECTED : SUBJECT_EXPECTED,
		    shown(s, n, w, sizeof(w)));
		return false;
	}
	if ((d->kind == C_ACCESS) && types != TYPE_BIT(VD_AUTH_OPEN)) {
		fail(P, start, -EINVAL,
		    "access= applies only to rules for open alone");
		return false;
	}
	if ((d->kind == C_TARGET || d->kind == C_TARGET_PREFIX) &&
	    (types & ~TARGET2_TYPES) != 0) {
		fail(P, start, -EINVAL,
		    "%s= applies only to rename, link, clone and copyfile "
		    "rules",
		    d->key);
		return false;
	}
	if (d->kind == C_ACCESS && !(P->can & VD_POLICY_CAN_ACCESS)) {
		fail(P, start, -EINVAL,
		    "this backend cannot enforce access=: fanotify does not "
		    "report the opener's access mode");
		return false;
	}
	if ((d->kind == C_TEAM_ID || d->kind == C_SIGNING_ID ||
	        d->kind == C_CDHASH || d->kind == C_PLATFORM) &&
	    !(P->can & VD_POLICY_CAN_TEAM_ID)) {
		fail(P, start, -EINVAL,
		    "this backend cannot enforce %s=: only Endpoint Security "
		    "reports code signing (team_id, signing_id, cdhash, "
		    "platform)",
		    d->key);
		return false;
	}
	vstart = start + klen + 1;
	if (!decode_value(P, vstart, n - klen - 1, &is_set))
		return false;
	c.kind = d->kind;
	c.val0 = (uint32_t)P->nvals;
	if (is_set) {
		struct pset *set;
		size_t k;

		for (k = 1; k < P->buflen && is_name_char(P->buf[k]); k++)
			;
		if (P->buflen < 2 || k != P->buflen) {
			fail(P, vstart, -EINVAL,
			    "expected a set name (letters, digits, _ and -) "
			    "after \"%%\", got %s",
			    shown(P->buf, P->buflen, w, sizeof(w)));
			return false;
		}
		set = find_set(P, P->buf + 1, P->buflen - 1);
		if (set == NULL) {
			fail(P, vstart, -EINVAL,
			    "undefined set %.*s (a set must be defined before "
			    "use)",
			    (int)P->buflen, P->buf);
			return false;
		}
		for (k = 0; k < set->nval; k++) {
			const struct val *m = &P->setvals[set->val0 + k];
			char mw[80];

			snprintf(what, sizeof(what), "member %s of %%%.*s: ",
			    shown(P->strs + m->off, m->len, mw, sizeof(mw)),
			    (int)set->name_len, P->strs + set->name_off);
			/* add_value may move P->strs: copy the member. */
			memcpy(P->buf, P->strs + m->off, m->len);
			if (!add_value(P, d->kind, d->key, P->buf, m->len,
			        vstart, what))
				return false;
		}
	} else if (!add_value(
	               P, d->kind, d->key, P->buf, P->buflen, vstart, "")) {
		return false;
	}
	c.nval = (uint32_t)(P->nvals - c.val0);
	if (grow(&P->conds, &P->cconds, P->nconds + 1, sizeof(*P->conds)) !=
	    0) {
		fail(P, SIZE_MAX, -ENOMEM, "out of memory");
		return false;
	}
	P->conds[P->nconds++] = c;
	return true;
}

/* ---- lines ------------------------------------------------------------- */

static const char *const type_words[NTYPES] = {
	[VD_AUTH_OPEN] = "open",
	[VD_AUTH_EXEC] = "exec",
	[VD_AUTH_ACCESS] = "access",
	[VD_AUTH_RENAME] = "rename",
	[VD_AUTH_UNLINK] = "unlink",
	[VD_AUTH_CREATE] = "create",
	[VD_AUTH_TRUNCATE] = "truncate",
	[VD_AUTH_LINK] = "link",
	[VD_AUTH_CLONE] = "clone",
	[VD_AUTH_COPYFILE] = "copyfile",
	[VD_AUTH_MOUNT] = "mount",
	[VD_AUTH_SIGNAL] = "signal",
};

static bool
word_is(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && memcmp(s, w, n) == 0;
}

/* TYPE[,TYPE...] or any, one word. */
static bool
parse_types(struct parser *P, uint16_t *types)
{
	size_t start, n, i, e;
	char w[80];
	int t;

	*types = 0;
	if (at_end(P)) {
		fail(P, P->pos, -EINVAL, "expected %s, got end of line",
		    TYPES_EXPECTED);
		return false;
	}
	if (!next_word(P, &start, &n))
		return false;
	if (word_is(P->line + start, n, "any")) {
		*types = (uint16_t)((1u << NTYPES) - 1);
		return true;
	}
	for (i = start; i <= start + n; i = e + 1) {
		for (e = i; e < start + n && P->line[e] != ','; e++)
			;
		for (t = 0; t < NTYPES; t++) {
			if (word_is(P->line + i, e - i, type_words[t]))
				break;
		}
		if (t == NTYPES) {
			fail(P, i, -EINVAL, "expected %s, got %s",
			    TYPES_EXPECTED,
			    shown(P->line + i, e - i, w, sizeof(w)));
			return false;
		}
		*types |= TYPE_BIT(t);
	}
	return true;
}

static bool
parse_default(struct parser *P)
{
	size_t start, n;
	uint16_t types;
	uint8_t v;
	char w[80];
	size_t tcol;
	int t;

	skip_ws(P);
	tcol = P->pos;
	if (!parse_types(P, &types))
		return false;
	if (at_end(P)) {
		fail(P, P->pos, -EINVAL,
		    "expected \"allow\" or \"deny\" after the types, got end "
		    "of line");
		return false;
	}
	if (!next_word(P, &start, &n))
		return false;
	if (word_is(P->line + start, n, "allow"))
		v = VD_ALLOW;
	else if (word_is(P->line + start, n, "deny"))
		v = VD_DENY;
	else {
		fail(P, start, -EINVAL,
		    "expected \"allow\" or \"deny\" after the types, got %s",
		    shown(P->line + start, n, w, sizeof(w)));
		return false;
	}
	if (!at_end(P)) {
		start = P->pos;
		if (!next_word(P, &start, &n))
			return false;
		fail(P, start, -EINVAL, "expected end of line, got %s",
		    shown(P->line + start, n, w, sizeof(w)));
		return false;
	}
	for (t = 0; t < NTYPES; t++) {
		if (!(types & TYPE_BIT(t)))
			continue;
		if (P->has_def[t]) {
			fail(P, tcol, -EINVAL,
			    "a default for %s is already set", type_words[t]);
			return false;
		}
		P->has_def[t] = true;
		P->def[t] = v;
	}
	return true;
}

static bool
parse_rule(struct parser *P, size_t start, size_t n)
{
	struct rule r = { 0 };
	size_t i, e, ws, wn;
	bool object = false, seen_all = false, any = false;
	char w[80];

	/* decision[,audit][,cache] */
	for (i = start; i <= start + n; i = e + 1) {
		const char *s = P->line + i;

		for (e = i; e < start + n && P->line[e] != ','; e++)
			;
		if (i == start && !word_is(s, e - i, "allow") &&
		    !word_is(s, e - i, "deny")) {
			fail(P, i, -EINVAL,
			    "expected \"allow\" or \"deny\", got %s",
			    shown(s, e - i, w, sizeof(w)));
			return false;
		}
		if (i == start && word_is(s, e - i, "allow"))
			r.verdict = VD_ALLOW;
		else if (i == start && word_is(s, e - i, "deny"))
			r.verdict = VD_DENY;
		else if (i != start && word_is(s, e - i, "audit") && !r.audit)
			r.audit = true;
		else if (i != start && word_is(s, e - i, "cache") && !r.cache)
			r.cache = true;
		else {
			fail(P, i, -EINVAL,
			    "expected \"audit\" or \"cache\" after the "
			    "decision, got %s",
			    shown(s, e - i, w, sizeof(w)));
			return false;
		}
	}
	if (!parse_types(P, &r.types))
		return false;
	r.cond0 = (uint32_t)P->nconds;
	for (;;) {
		if (at_end(P)) {
			if (!object) {
				fail(P, P->pos, -EINVAL,
				    "expected %s, got end of line",
				    any ? "\":\" between the subject and the "
				          "object"
				        : SUBJECT_EXPECTED);
				return false;
			}
			if (!any) {
				fail(P, P->pos, -EINVAL,
				    "expected %s, got end of line",
				    OBJECT_EXPECTED);
				return false;
			}
			break;
		}
		if (!next_word(P, &ws, &wn))
			return false;
		if (word_is(P->line + ws, wn, ":")) {
			if (object || !any) {
				fail(P, ws, -EINVAL, "expected %s, got \":\"",
				    object ? OBJECT_EXPECTED
				           : SUBJECT_EXPECTED);
				return false;
			}
			object = true;
			any = seen_all = false;
			continue;
		}
		if (word_is(P->line + ws, wn, "all")) {
			if (any) {
				fail(P, ws, -EINVAL,
				    "\"all\" cannot be combined with other "
				    "conditions");
				return false;
			}
			any = seen_all = true;
			continue;
		}
		if (seen_all) {
			fail(P, ws, -EINVAL,
			    "\"all\" cannot be combined with other "
			    "conditions");
			return false;
		}
		if (!parse_cond(P, ws, wn, object, r.types))
			return false;
		any = true;
	}
	r.ncond = (uint32_t)(P->nconds - r.cond0);
	if (P->nrules >= UINT32_MAX - 1 ||
	    grow(&P->rules, &P->crules, P->nrules + 1, sizeof(*P->rules)) !=
	        0) {
		fail(P, SIZE_MAX, -ENOMEM, "out of memory");
		return false;
	}
	P->rules[P->nrules++] = r;
	return true;
}

/* %name = member, member, ... */
static bool
parse_set(struct parser *P, size_t start)
{
	struct pset set = { 0 };
	size_t i = start + 1, end;
	char w[80];

	while (i < P->len && is_name_char(P->line[i]))
		i++;
	if (i == start + 1) {
		fail(P, start, -EINVAL,
		    "expected a set name (letters, digits, _ and -) after "
		    "\"%%\"");
		return false;
	}
	if (find_set(P, P->line + start + 1, i - start - 1) != NULL) {
		fail(P, start, -EINVAL, "set %.*s is already defined",
		    (int)(i - start), P->line + start);
		return false;
	}
	P->pos = i;
	skip_ws(P);
	if (P->pos >= P->len || P->line[P->pos] != '=') {
		fail(P, P->pos, -EINVAL,
		    "expected \"=\" after the set name, got %s",
		    P->pos >= P->len
		        ? "end of line"
		        : shown(P->line + P->pos, 1, w, sizeof(w)));
		return false;
	}
	P->pos++;
	if (add_str(P, P->line + start + 1, i - start - 1, &set.name_off) != 0)
		goto nomem;
	set.name_len = (uint32_t)(i - start - 1);
	set.val0 = (uint32_t)P->nsetvals;
	for (;;) {
		struct val m;
		size_t ms;

		if (at_end(P)) {
			fail(P, P->pos, -EINVAL,
			    "expected a set member, got end of line");
			return false;
		}
		ms = P->pos;
		if (P->line[ms] == '"') {
			if (!decode_quoted(P, ms, &end))
				return false;
			P->pos = end;
		} else {
			for (end = ms; end < P->len && !is_ws(P->line[end]) &&
			     P->line[end] != ',' && P->line[end] != '"';
			     end++)
				;
			if (end == ms) {
				fail(P, ms, -EINVAL,
				    "expected a set member, got \",\"");
				return false;
			}
			memcpy(P->buf, P->line + ms, end - ms);
			P->buflen = end - ms;
			P->pos = end;
		}
		if (P->buflen > 0 && P->buf[0] == '%' && P->line[ms] != '"') {
			fail(P, ms, -EINVAL,
			    "a set member cannot name a set; list the members");
			return false;
		}
		if (add_str(P, P->buf, P->buflen, &m.off) != 0 ||
		    grow(&P->setvals, &P->csetvals, P->nsetvals + 1,
		        sizeof(*P->setvals)) != 0)
			goto nomem;
		m.len = (uint32_t)P->buflen;
		P->setvals[P->nsetvals++] = m;
		set.nval++;
		if (at_end(P))
			break;
		if (P->line[P->pos] != ',') {
			size_t ws, wn;

			if (!next_word(P, &ws, &wn))
				return false;
			fail(P, ws, -EINVAL,
			    "expected \",\" or end of line after a set "
			    "member, got %s",
			    shown(P->line + ws, wn, w, sizeof(w)));
			return false;
		}
		P->pos++;
	}
	if (grow(&P->sets, &P->csets, P->nsets + 1, sizeof(*P->sets)) != 0)
		goto nomem;
	P->sets[P->nsets++] = set;
	return true;
nomem:
	fail(P, SIZE_MAX, -ENOMEM, "out of memory");
	return false;
}

static int parse_text(struct parser *P, const char *text, size_t len,
    const char *file, const char *dir);
static int parse_file(struct parser *P, const char *path, size_t col0);

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
parse_include(struct parser *P)
{
	char path[PATH_MAX], w[80];
	size_t ws, wn, i, n = 0, cap = 0, vcol;
	char **names = NULL;
	struct dirent *de;
	bool is_set, ok = false;
	DIR *d;

	if (at_end(P)) {
		fail(P, P->pos, -EINVAL,
		    "expected a directory after include, got end of line");
		return false;
	}
	if (!next_word(P, &ws, &wn))
		return false;
	vcol = ws;
	if (!decode_value(P, ws, wn, &is_set))
		return false;
	P->buf[P->buflen] = '\0';
	if (!at_end(P)) {
		if (!next_word(P, &ws, &wn))
			return false;
		fail(P, ws, -EINVAL,
		    "expected end of line after the directory, got %s",
		    shown(P->line + ws, wn, w, sizeof(w)));
		return false;
	}
	if (P->depth > INCLUDE_DEPTH) {
		fail(P, vcol, -EINVAL, "includes nested more than %d deep",
		    INCLUDE_DEPTH);
		return false;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s%s%s",
	        P->buf[0] == '/' ? "" : P->dir, P->buf[0] == '/' ? "" : "/",
	        P->buf) >= sizeof(path)) {
		fail(P, vcol, -EINVAL, "include: the path is too long");
		return false;
	}
	d = opendir(path);
	if (d == NULL) {
		int e = errno;

		fail(P, vcol, e == EACCES ? -EACCES : -ENOENT,
		    "include: cannot open directory \"%s\": %s", P->buf,
		    strerror(e));
		return false;
	}
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (de->d_name[0] == '.' || l < 7 ||
		    strcmp(de->d_name + l - 6, ".rules") != 0)
			continue;
		if (grow(&names, &cap, n + 1, sizeof(*names)) != 0 ||
		    (names[n] = strdup(de->d_name)) == NULL) {
			fail(P, SIZE_MAX, -ENOMEM, "out of memory");
			goto out;
		}
		n++;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	{
		/* The parser state of this line is overwritten below. */
		const char *file = P->file, *dir = P->dir, *line = P->line;
		int lineno = P->lineno;
		size_t len = P->len;

		for (i = 0; i < n; i++) {
			char f[PATH_MAX];

			if ((size_t)snprintf(f, sizeof(f), "%s/%s", path,
			        names[i]) >= sizeof(f)) {
				fail(P, vcol, -EINVAL,
				    "include: the path is too long");
				goto out;
			}
			if (parse_file(P, f, vcol) != 0)
				goto out;
			P->file = file, P->dir = dir, P->line = line;
			P->lineno = lineno, P->len = len;
		}
	}
	ok = true;
out:
	closedir(d);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ok;
}

static void
parse_line(struct parser *P)
{
	size_t start, n;
	char w[80];

	if (!check_line(P) || at_end(P))
		return;
	if (P->line[P->pos] == '%') {
		parse_set(P, P->pos);
		return;
	}
	if (!next_word(P, &start, &n))
		return;
	if (word_is(P->line + start, n, "include")) {
		parse_include(P);
		return;
	}
	if (word_is(P->line + start, n, "default")) {
		parse_default(P);
		return;
	}
	if ((n >= 5 && memcmp(P->line + start, "allow", 5) == 0) ||
	    (n >= 4 && memcmp(P->line + start, "deny", 4) == 0)) {
		parse_rule(P, start, n);
		return;
	}
	fail(P, start, -EINVAL,
	    "expected a rule (allow or deny), \"default\", \"include\" or a "
	    "set (%%name = ...), got %s",
	    shown(P->line + start, n, w, sizeof(w)));
}

static int
parse_text(struct parser *P, const char *text, size_t len, const char *file,
    const char *dir)
{
	size_t off = 0, e;

	P->file = file;
	P->dir = dir;
	P->lineno = 0;
	while (off < len && P->rc == 0) {
		const char *nl = memchr(text + off, '\n', len - off);

		e = nl ? (size_t)(nl - text) : len;
		P->lineno++;
		P->line = text + off;
		P->len = e - off;
		P->pos = 0;
		if (P->len > LINE_MAX_BYTES) {
			fail(P, LINE_MAX_BYTES, -EINVAL,
			    "line is longer than %d bytes", LINE_MAX_BYTES);
			break;
		}
		parse_line(P);
		off = e + 1;
	}
	return P->rc;
}

/* What vd_policy_load returns for a file it cannot read. */
static int
read_error(int rc)
{
	return rc == -ENOMEM || rc == -EACCES || rc == -ENOENT ? rc : -EINVAL;
}

/* Reads and parses one file; col0 is the include's column for errors
 * about the file itself (SIZE_MAX for the top file). */
static int
parse_file(struct parser *P, const char *path, size_t col0)
{
	char *text = NULL, *rp, *dir, *slash, why[128];
	size_t len = 0, i;
	int rc;

	rp = realpath(path, NULL);
	if (rp != NULL) {
		for (i = 0; i < (size_t)P->depth; i++) {
			if (P->stack[i] && strcmp(P->stack[i], rp) == 0) {
				const char *b = strrchr(path, '/');

				fail(P, col0, -EINVAL,
				    "include loop: \"%s\" is already being "
				    "read",
				    b ? b + 1 : path);
				free(rp);
				return P->rc;
			}
		}
	}
	rc = vd_file_read(
	    path, FILE_MAX_BYTES - P->bytes, &text, &len, why, sizeof(why));
	if (rc != 0) {
		free(rp);
		if (col0 == SIZE_MAX) {
			/* The top file: the message is about it, not a
			 * line. */
			P->file = path;
			P->lineno = 0;
			fail(P, col0, read_error(rc), "%s", why);
		} else if (rc == -EFBIG)
			fail(P, col0, read_error(rc),
			    "cannot read \"%s\": the policy and its includes "
			    "are larger than %zu MiB together",
			    path, FILE_MAX_BYTES / VD_FILE_MIB);
		else
			fail(P, col0, read_error(rc), "cannot read \"%s\": %s",
			    path, why);
		return P->rc;
	}
	P->bytes += len;
	dir = strdup(path);
	if (dir == NULL) {
		free(rp);
		free(text);
		fail(P, SIZE_MAX, -ENOMEM, "out of memory");
		return P->rc;
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	P->stack[P->depth++] = rp;
	rc = parse_text(P, text, len, path, dir);
	P->depth--;
	free(P->stack[P->depth]);
	P->stack[P->depth] = NULL;
	free(dir);
	free(text);
	return rc;
}

static void
parser_free(struct parser *P)
{
	int i;

	for (i = 0; i < INCLUDE_DEPTH + 2; i++)
		free(P->stack[i]);
	free(P->rules);
	free(P->conds);
	free(P->vals);
	free(P->strs);
	free(P->sets);
	free(P->setvals);
}

/* ---- compiling --------------------------------------------------------- */

#define FNV_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t
slot_of(uint64_t h, uint32_t tk)
{
	uint64_t z = h + (uint64_t)tk * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The bits of the mixed hash that the slot number does not use, never 0. */
static uint16_t
tag_of(uint64_t m)
{
	return (uint16_t)((m >> 48) | 1);
}

struct tuple {
	uint64_t h;
	const char *s;
	uint32_t soff, slen;
	uint32_t tk;
	uint32_t rule;
};

static int
cmp_tuple(const void *a, const void *b)
{
	const struct tuple *x = a, *y = b;
	int c;

	if (x->tk != y->tk)
		return x->tk < y->tk ? -1 : 1;
	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	if (x->slen != y->slen)
		return x->slen < y->slen ? -1 : 1;
	c = memcmp(x->s, y->s, x->slen);
	if (c != 0)
		return c;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

static bool
same_key(const struct tuple *x, const struct tuple *y)
{
	return x->tk == y->tk && x->h == y->h && x->slen == y->slen &&
	    memcmp(x->s, y->s, x->slen) == 0;
}

static int
cmp_u16(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;

	return x < y ? -1 : x > y;
}

/* True when the rule looks at the process (or the opener's access mode,
 * which differs from one opener to the next). */
static bool
rule_has_subject(const struct parser *P, const struct rule *r)
{
	uint32_t i;

	for (i = 0; i < r->ncond; i++)
		if (!cond_is_object(P->conds[r->cond0 + i].kind))
			return true;
	return false;
}

/*
 * The kernel may cache an answer keyed by (executable, file) only: a rule
 * that looks at anything else (uid, the access mode, a target...) could
 * answer differently for the next process with the same pair.
 */
static bool
rule_cacheable(const struct parser *P, const struct rule *r)
{
	uint32_t i;

	if (!r->cache || r->verdict != VD_ALLOW || r->audit)
		return false;
	for (i = 0; i < r->ncond; i++) {
		switch (P->conds[r->cond0 + i].kind) {
		case C_EXE:
		case C_EXE_PREFIX:
		case C_PATH:
		case C_PREFIX:
		case C_SUFFIX:
			break;
		default:
			return false;
		}
	}
	return true;
}

static size_t
align_up(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

static struct vd_policy *
compile(struct parser *P, int *rc)
{
	struct tuple *tup = NULL;
	size_t ntup = 0, ctup = 0, nlist = 0, nent = 0, nlens = 0, clens = 0;
	size_t hsize = 16, i, j, t, off, sz;
	uint16_t *lens = NULL; /* scratch: (type, kind) length lists */
	uint32_t lstart[NTYPES][2], lcount[NTYPES][2];
	struct vd_policy *pol = NULL;
	struct rule *rules;
	uint32_t *lists;
	uint16_t *plens;
	struct hent *ht;
	uint16_t *tags;
	char *base;

	*rc = -ENOMEM;
	/* Index tuples: each value of each rule's indexed condition, for
	 * each of its types. */
	for (i = 0; i < P->nrules; i++) {
		const struct rule *r = &P->rules[i];
		const struct cond *ic = NULL;
		int ik = IK_NONE;

		for (j = 0; j < r->ncond && ik != IK_EXACT; j++) {
			const struct cond *c = &P->conds[r->cond0 + j];

			if (c->kind == C_PATH)
				ic = c, ik = IK_EXACT;
			else if (c->kind == C_PREFIX && ik > IK_PREFIX)
				ic = c, ik = IK_PREFIX;
			else if (c->kind == C_SUFFIX && ik > IK_SUFFIX)
				ic = c, ik = IK_SUFFIX;
		}
		for (t = 0; t < NTYPES; t++) {
			if (!(r->types & TYPE_BIT(t)))
				continue;
			if (ik == IK_NONE) {
				nlist++;
				continue;
			}
			for (j = 0; j < ic->nval; j++) {
				const struct val *v = &P->vals[ic->val0 + j];
				struct tuple *x;
				uint64_t h = FNV_BASIS;
				size_t k;

				if (grow(&tup, &ctup, ntup + 1, sizeof(*tup)))
					goto out;
				x = &tup[ntup++];
				if (ik == IK_SUFFIX) {
					for (k = v->len; k-- > 0;)
						h = (h ^
						        (uint8_t)
						            P->strs[v->off +
						                k]) *
						    FNV_PRIME;
				} else {
					for (k = 0; k < v->len; k++)
						h = (h ^
						        (uint8_t)
						            P->strs[v->off +
						                k]) *
						    FNV_PRIME;
				}
				x->h = h;
				x->s = P->strs + v->off;
				x->soff = v->off;
				x->slen = v->len;
				x->tk = (uint32_t)(t * 3 + (size_t)ik);
				x->rule = (uint32_t)i;
			}
		}
	}
	if (ntup > 1)
		qsort(tup, ntup, sizeof(*tup), cmp_tuple);
	nlist += ntup;
	for (i = 0; i < ntup; i++) {
		if (i == 0 || !same_key(&tup[i - 1], &tup[i]))
			nent++;
	}
	while (hsize < 2 * nent)
		hsize *= 2;
	/* Distinct prefix and suffix lengths per type, ascending. */
	for (t = 0; t < NTYPES; t++) {
		for (j = 0; j < 2; j++) {
			uint32_t tk = (uint32_t)(t * 3 + IK_PREFIX + j);

			lstart[t][j] = (uint32_t)nlens;
			for (i = 0; i < ntup; i++) {
				if (tup[i].tk != tk)
					continue;
				if (grow(&lens, &clens, nlens + 1,
				        sizeof(*lens)))
					goto out;
				lens[nlens++] = (uint16_t)tup[i].slen;
			}
			if (nlens - lstart[t][j] > 1)
				qsort(lens + lstart[t][j], nlens - lstart[t][j],
				    sizeof(*lens), cmp_u16);
			sz = lstart[t][j];
			for (i = lstart[t][j]; i < nlens; i++) {
				if (i == lstart[t][j] ||
				    lens[i] != lens[sz - 1])
					lens[sz++] = lens[i];
			}
			nlens = sz;
			lcount[t][j] = (uint32_t)(nlens - lstart[t][j]);
		}
	}

	/* One allocation: header, rules, conds, vals, lists, hash, lens,
	 * strings. */
	off = align_up(sizeof(*pol));
	sz = off;
	sz += align_up(P->nrules * sizeof(struct rule));
	sz += align_up(P->nconds * sizeof(struct cond));
	sz += align_up(P->nvals * sizeof(struct val));
	sz += align_up(nlist * sizeof(uint32_t));
	sz += align_up(hsize * sizeof(struct hent));
	sz += align_up(hsize * sizeof(uint16_t));
	sz += align_up(nlens * sizeof(uint16_t));
	sz += align_up(P->nstrs + 1);
	base = calloc(1, sz);
	if (base == NULL)
		goto out;
	pol = (struct vd_policy *)(void *)base;
	pol->bytes = sz;
	pol->nrules = P->nrules;
	rules = (struct rule *)(void *)(base + off);
	off += align_up(P->nrules * sizeof(struct rule));
	pol->conds = (struct cond *)(void *)(base + off);
	off += align_up(P->nconds * sizeof(struct cond));
	pol->vals = (struct val *)(void *)(base + off);
	off += align_up(P->nvals * sizeof(struct val));
	lists = (uint32_t *)(void *)(base + off);
	off += align_up(nlist * sizeof(uint32_t));
	ht = (struct hent *)(void *)(base + off);
	off += align_up(hsize * sizeof(struct hent));
	tags = (uint16_t *)(void *)(base + off);
	off += align_up(hsize * sizeof(uint16_t));
	plens = (uint16_t *)(void *)(base + off);
	off += align_up(nlens * sizeof(uint16_t));
	pol->strs = base + off;

	if (P->nrules)
		memcpy(rules, P->rules, P->nrules * sizeof(*rules));
	for (i = 0; i < P->nrules; i++) {
		rules[i].cache = rule_cacheable(P, &P->rules[i]);
		rules[i].subject = rule_has_subject(P, &P->rules[i]);
	}
	if (P->nconds)
		memcpy((void *)pol->conds, P->conds,
		    P->nconds * sizeof(struct cond));
	if (P->nvals)
		memcpy(
		    (void *)pol->vals, P->vals, P->nvals * sizeof(struct val));
	if (nlens)
		memcpy(plens, lens, nlens * sizeof(uint16_t));
	if (P->nstrs)
		memcpy((char *)pol->strs, P->strs, P->nstrs);
	pol->rules = rules;
	pol->lists = lists;
	pol->lens = plens;
	pol->ht = ht;
	pol->tags = tags;
	pol->hmask = hsize - 1;

	/* Lists: first the unindexed rules of each type, then one list per
	 * distinct key. */
	off = 0;
	for (t = 0; t < NTYPES; t++) {
		struct ptype *pt = &pol->types[t];

		pt->any_off = (uint32_t)off;
		for (i = 0; i < P->nrules; i++) {
			const struct rule *r = &P->rules[i];
			bool indexed = false;

			if (!(r->types & TYPE_BIT(t)))
				continue;
			for (j = 0; j < r->ncond; j++) {
				uint8_t k = P->conds[r->cond0 + j].kind;

				indexed |= k == C_PATH || k == C_PREFIX ||
				    k == C_SUFFIX;
			}
			if (!indexed)
				lists[off++] = (uint32_t)i;
		}
		pt->any_len = (uint32_t)(off - pt->any_off);
		pt->plen_off = lstart[t][0];
		pt->plen_len = lcount[t][0];
		pt->slen_off = lstart[t][1];
		pt->slen_len = lcount[t][1];
		pt->has_default = P->has_def[t];
		pt->def = P->def[t];
	}
	for (i = 0; i < ntup; i = j) {
		struct hent *e;
		uint64_t s, m;

		for (j = i + 1; j < ntup && same_key(&tup[i], &tup[j]); j++)
			;
		m = slot_of(tup[i].h, tup[i].tk);
		for (s = m; tags[s & pol->hmask] != 0; s++)
			;
		tags[s & pol->hmask] = tag_of(m);
		e = &ht[s & pol->hmask];
		e->h = tup[i].h;
		e->soff = tup[i].soff;
		e->slen = tup[i].slen;
		e->tk = tup[i].tk;
		e->list_off = (uint32_t)off;
		e->list_len = (uint32_t)(j - i);
		if (tup[i].tk % 3 == IK_EXACT)
			pol->types[tup[i].tk / 3].has_exact = true;
		for (s = i; s < j; s++)
			lists[off++] = tup[s].rule;
	}
	*rc = 0;
out:
	free(tup);
	free(lens);
	return pol;
}

static struct vd_policy *
finish(struct parser *P, int *rc)
{
	struct vd_policy *pol = NULL;
	int r = P->rc;

	if (r == 0) {
		pol = compile(P, &r);
		if (r != 0)
			fail(P, SIZE_MAX, r, "out of memory");
	}
	parser_free(P);
	if (rc)
		*rc = r;
	return pol;
}

static void
parser_init(struct parser *P, unsigned can, struct vd_policy_error *err)
{
	memset(P, 0, sizeof(*P));
	P->can = can;
	P->err = err;
	if (err)
		memset(err, 0, sizeof(*err));
}

struct vd_policy *
vd_policy_load(
    const char *path, unsigned can, struct vd_policy_error *err, int *rc)
{
	struct parser *P = malloc(sizeof(*P));

	if (P == NULL) {
		if (rc)
			*rc = -ENOMEM;
		return NULL;
	}
	parser_init(P, can, err);
	parse_file(P, path, SIZE_MAX);
	{
		struct vd_policy *pol = finish(P, rc);

		free(P);
		return pol;
	}
}

struct vd_policy *
vd_policy_compile(const char *text, size_t len, const char *name, unsigned can,
    struct vd_policy_error *err, int *rc)
{
	struct parser *P = malloc(sizeof(*P));
	struct vd_policy *pol;
	char *dir, *slash;

	if (name == NULL)
		name = "(policy)";
	dir = strdup(name);
	if (P == NULL || dir == NULL) {
		free(P);
		free(dir);
		if (rc)
			*rc = -ENOMEM;
		return NULL;
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	parser_init(P, can, err);
	/* When the text is a file's, an include of its own directory is a
	 * loop. */
	P->stack[P->depth++] = realpath(name, NULL);
	parse_text(P, text, len, name, dir);
	pol = finish(P, rc);
	free(P);
	free(dir);
	return pol;
}

void
vd_policy_free(struct vd_policy *pol)
{
	free(pol);
}

size_t
vd_policy_rules(const struct vd_policy *pol)
{
	return pol ? pol->nrules : 0;
}

size_t
vd__policy_bytes(const struct vd_policy *pol)
{
	return pol ? pol->bytes : 0;
}

/* ---- evaluating -------------------------------------------------------- */

enum { NOMATCH, MATCH, UNDECIDED };

struct evctx {
	const struct vd_policy *pol;
	const struct vd_event *ev;
	size_t tlen, t2len, elen;
	uint32_t best;
	int best_res;
	/* A rule before the best was passed over only because of the
	 * process: another process could get another answer. */
	bool subject_dep;
};

static bool
str_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

static bool
val_match(const struct evctx *X, const struct cond *c, const struct val *v)
{
	const struct vd_event *ev = X->ev;
	const char *s = X->pol->strs + v->off;

	switch (c->kind) {
	case C_UID:
		return (uint32_t)ev->proc.uid == v->off;
	case C_GID:
		return (uint32_t)ev->proc.gid == v->off;
	case C_PID:
		return (uint32_t)ev->proc.pid == v->off;
	case C_PLATFORM:
		return ev->proc.platform_binary == (v->off != 0);
	case C_ACCESS:
		return (ev->open_flags & v->off) != 0;
	case C_CDHASH:
		return memcmp(ev->proc.cdhash, s, 20) == 0;
	case C_EXE:
		return str_eq(ev->proc.exe, X->elen, s, v->len);
	case C_EXE_PREFIX:
		return X->elen >= v->len &&
		    memcmp(ev->proc.exe, s, v->len) == 0;
	case C_COMM:
		return strnlen(ev->proc.comm, VD_COMM_MAX) == v->len &&
		    memcmp(ev->proc.comm, s, v->len) == 0;
	case C_TEAM_ID:
		return strnlen(ev->proc.team_id, VD_ID_MAX) == v->len &&
		    memcmp(ev->proc.team_id, s, v->len) == 0;
	case C_SIGNING_ID:
		return strnlen(ev->proc.signing_id, VD_ID_MAX) == v->len &&
		    memcmp(ev->proc.signing_id, s, v->len) == 0;
	case C_PATH:
		return str_eq(ev->target, X->tlen, s, v->len);
	case C_PREFIX:
		return X->tlen >= v->len && memcmp(ev->target, s, v->len) == 0;
	case C_SUFFIX:
		return X->tlen >= v->len &&
		    memcmp(ev->target + X->tlen - v->len, s, v->len) == 0;
	case C_TARGET:
		return str_eq(ev->target2, X->t2len, s, v->len);
	case C_TARGET_PREFIX:
		return X->t2len >= v->len &&
		    memcmp(ev->target2, s, v->len) == 0;
	}
	return false;
}

/* True when one of the condition's values matches the event. */
static bool
cond_holds(const struct evctx *X, const struct cond *c)
{
	uint32_t j;

	for (j = 0; j < c->nval; j++)
		if (val_match(X, c, &X->pol->vals[c->val0 + j]))
			return true;
	return false;
}

static int
check_rule(const struct evctx *X, const struct rule *r)
{
	const struct vd_event *ev = X->ev;
	bool undecided = false;
	uint32_t i;

	for (i = 0; i < r->ncond; i++) {
		const struct cond *c = &X->pol->conds[r->cond0 + i];
		bool cut = false;

		switch (c->kind) {
		case C_PATH:
		case C_PREFIX:
		case C_SUFFIX:
			cut = ev->target_truncated;
			break;
		case C_TARGET:
		case C_TARGET_PREFIX:
			cut = ev->target2_truncated;
			break;
		case C_EXE:
		case C_EXE_PREFIX:
			cut = ev->proc.exe_truncated;
			break;
		default:
			break;
		}
		if (cut) {
			undecided = true;
			continue;
		}
		if (!cond_holds(X, c))
			return NOMATCH;
	}
	return undecided ? UNDECIDED : MATCH;
}

/* True when every object condition of r holds (its subject ignored). */
static bool
object_matches(const struct evctx *X, const struct rule *r)
{
	uint32_t i;

	for (i = 0; i < r->ncond; i++) {
		const struct cond *c = &X->pol->conds[r->cond0 + i];

		if (cond_is_object(c->kind) && !cond_holds(X, c))
			return false;
	}
	return true;
}

/*
 * Scans an ascending list of rule numbers below the best so far.  Every
 * rule that could match the path lies in one of the lists eval scans, and
 * every one below the final best is checked, so subject_dep misses none
 * (it may be set by a rule above the final best: a lost ignore mark, never
 * a wrong one).
 */
static void
scan(struct evctx *X, uint32_t off, uint32_t len)
{
	const uint32_t *l = X->pol->lists + off;
	uint32_t i;
	int res;

	for (i = 0; i < len && l[i] < X->best; i++) {
		const struct rule *r = &X->pol->rules[l[i]];

		res = check_rule(X, r);
		if (res != NOMATCH) {
			X->best = l[i];
			X->best_res = res;
			return;
		}
		if (r->subject && !X->subject_dep && object_matches(X, r))
			X->subject_dep = true;
	}
}

static void
probe(struct evctx *X, uint64_t h, uint32_t tk, const char *s, size_t n)
{
	const struct vd_policy *pol = X->pol;
	uint64_t i, m = slot_of(h, tk);
	uint16_t tag = tag_of(m), t;

	/*
	 * The tag array is 16 times smaller than the entries and stays in
	 * cache: most probes are misses and end there.
	 */
	for (i = m; (t = pol->tags[i & pol->hmask]) != 0; i++) {
		const struct hent *e = &pol->ht[i & pol->hmask];

		if (t != tag)
			continue;
		if (e->h == h && e->tk == tk && e->slen == n &&
		    memcmp(pol->strs + e->soff, s, n) == 0) {
			scan(X, e->list_off, e->list_len);
			return;
		}
	}
}

void
vd_policy_paths(const struct vd_policy *pol,
    void (*fn)(
        void *ctx, size_t rule, bool prefix, const char *value, size_t len),
    void *ctx)
{
	size_t i;

	for (i = 0; pol != NULL && i < pol->nrules; i++) {
		const struct rule *r = &pol->rules[i];
		uint32_t j, k;

		for (j = 0; j < r->ncond; j++) {
			const struct cond *c = &pol->conds[r->cond0 + j];

			if (c->kind != C_PATH && c->kind != C_PREFIX)
				continue;
			for (k = 0; k < c->nval; k++) {
				const struct val *v = &pol->vals[c->val0 + k];

				fn(ctx, i + 1, c->kind == C_PREFIX,
				    pol->strs + v->off, v->len);
			}
		}
	}
}

/* True when some rule has a condition of one of the kinds in `kinds`. */
static bool
policy_has(const struct vd_policy *pol, uint32_t kinds)
{
	size_t i;

	for (i = 0; pol != NULL && i < pol->nrules; i++) {
		const struct rule *r = &pol->rules[i];
		uint32_t j;

		for (j = 0; j < r->ncond; j++)
			if (kinds &
			    (UINT32_C(1) << pol->conds[r->cond0 + j].kind))
				return true;
	}
	return false;
}

bool
vd_policy_needs_exe(const struct vd_policy *pol)
{
	return policy_has(pol,
	    (UINT32_C(1) << C_EXE) | (UINT32_C(1) << C_EXE_PREFIX) |
	        (UINT32_C(1) << C_COMM));
}

bool
vd_policy_needs_path(const struct vd_policy *pol)
{
	return policy_has(pol,
	    (UINT32_C(1) << C_PATH) | (UINT32_C(1) << C_PREFIX) |
	        (UINT32_C(1) << C_SUFFIX));
}

size_t
vd_policy_eval(const struct vd_policy *pol, const struct vd_event *ev,
    struct vd_decision *out, bool *truncated)
{
	const struct ptype *pt;
	struct evctx X;
	uint32_t t = ev->type;

	if (truncated)
		*truncated = false;
	if (pol == NULL || t >= NTYPES)
		return 0;
	pt = &pol->types[t];
	X.pol = pol;
	X.ev = ev;
	X.tlen = strnlen(ev->target, VD_PATH_MAX);
	X.t2len = strnlen(ev->target2, VD_PATH_MAX);
	X.elen = strnlen(ev->proc.exe, VD_PATH_MAX);
	X.best = UINT32_MAX;
	X.best_res = NOMATCH;
	X.subject_dep = false;
	out->path_only = false;
	if (ev->target_truncated) {
		/*
		 * The indexes cannot be asked about a path we do not have:
		 * walk the type's rules in order (rare: paths of 1 KiB and
		 * more), so a rule on the path stops the walk as undecided.
		 */
		size_t i;

		for (i = 0; i < pol->nrules; i++) {
			const struct rule *r = &pol->rules[i];
			int res;

			if (!(r->types & TYPE_BIT(t)))
				continue;
			res = check_rule(&X, r);
			if (res != NOMATCH) {
				X.best = (uint32_t)i;
				X.best_res = res;
				break;
			}
		}
	} else {
		const uint16_t *pl = pol->lens + pt->plen_off;
		const uint16_t *sl = pol->lens + pt->slen_off;
		const char *p = ev->target;
		uint64_t h = FNV_BASIS;
		size_t i, k;

		scan(&X, pt->any_off, pt->any_len);
		if (pt->plen_len || pt->has_exact) {
			for (i = 0, k = 0; i < X.tlen; i++) {
				h = (h ^ (uint8_t)p[i]) * FNV_PRIME;
				if (k < pt->plen_len && pl[k] == i + 1) {
					probe(
					    &X, h, t * 3 + IK_PREFIX, p, i + 1);
					k++;
				}
			}
			if (pt->has_exact)
				probe(&X, h, t * 3 + IK_EXACT, p, X.tlen);
		}
		h = FNV_BASIS;
		for (i = 0, k = 0; i < X.tlen && k < pt->slen_len; i++) {
			h = (h ^ (uint8_t)p[X.tlen - 1 - i]) * FNV_PRIME;
			if (sl[k] == i + 1) {
				probe(&X, h, t * 3 + IK_SUFFIX,
				    p + X.tlen - 1 - i, i + 1);
				k++;
			}
		}
	}
	if (X.best_res == MATCH) {
		const struct rule *r = &pol->rules[X.best];

		out->verdict = r->verdict;
		out->audit = r->audit;
		out->cache = r->cache;
		out->path_only =
		    !ev->target_truncated && !r->subject && !X.subject_dep;
		out->open_flags =
		    r->verdict == VD_ALLOW ? VD_OPEN_READ | VD_OPEN_WRITE : 0;
		return (size_t)X.best + 1;
	}
	if (X.best_res == UNDECIDED && truncated)
		*truncated = true;
	/* No rule matched: no process could have made one match. */
	out->path_only =
	    X.best_res == NOMATCH && !ev->target_truncated && !X.subject_dep;
	if (pt->has_default) {
		out->verdict = pt->def;
		out->audit = false;
		out->cache = false;
		out->open_flags =
		    pt->def == VD_ALLOW ? VD_OPEN_READ | VD_OPEN_WRITE : 0;
	}
	return 0;
}
