/*
 * parse.c — the rules language's parser (verdict.rules(5)).
 *
 * Parsing is line by line with a cursor; the first error stops everything
 * and is reported as file:line:column plus what was expected, so a policy
 * is accepted whole or not at all.  Parsing fills growable scratch arrays
 * (struct parser, policy_internal.h), which compile.c copies, with the
 * indexes, into one snapshot.  Files are read whole through util's
 * vd_file_read: regular files only, bounded.
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

/* ---- scratch arrays ---------------------------------------------------- */

int
vd__grow(void *pp, size_t *cap, size_t need, size_t elsz)
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

/* Records the first error: col0 is a 0-based byte offset in the line, or
 * SIZE_MAX for "no column". */
void
vd__parse_fail(struct parser *P, size_t col0, int rc, const char *fmt, ...)
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
	    vd__grow(&P->strs, &P->cstrs, P->nstrs + n + 1, 1) != 0)
		return -ENOMEM;
	memcpy(P->strs + P->nstrs, s, n);
	*off = (uint32_t)P->nstrs;
	P->nstrs += n;
	return 0;
}

static int read_error(int rc);

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
				vd__parse_fail(P, q, -EINVAL,
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
				vd__parse_fail(P, at, -EINVAL,
				    "unterminated quoted string");
				return false;
			}
			if (P->line[i + 1] != '"' && P->line[i + 1] != '\\') {
				vd__parse_fail(P, i, -EINVAL,
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
		vd__parse_fail(P, at, -EINVAL, "unterminated quoted string");
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
			vd__parse_fail(P, end, -EINVAL,
			    "expected a blank after the closing quote, got %s",
			    shown(
			        P->line + end, start + n - end, w, sizeof(w)));
			return false;
		}
		return true;
	}
	for (i = 0; i < n; i++) {
		if (s[i] == '"') {
			vd__parse_fail(P, start + i, -EINVAL,
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
				vd__parse_fail(P, i, -EINVAL,
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
	vd__parse_fail(P, i, -EINVAL, "invalid UTF-8");
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
	{ "target_team_id", C_XTEAM_ID, true },
	{ "target_signing_id", C_XSIGNING_ID, true },
	{ "target_platform", C_XPLATFORM, true },
	{ "target_cdhash", C_XCDHASH, true },
	{ "sha256", C_SHA256, true },
};

const char *
vd__cond_key(uint8_t kind)
{
	size_t i;

	for (i = 0; i < sizeof(cond_defs) / sizeof(cond_defs[0]); i++)
		if (cond_defs[i].kind == kind)
			return cond_defs[i].key;
	return "?";
}

int
vd__cond_kind(const char *key, size_t len, bool *object)
{
	size_t i;

	for (i = 0; i < sizeof(cond_defs) / sizeof(cond_defs[0]); i++)
		if (strlen(cond_defs[i].key) == len &&
		    memcmp(cond_defs[i].key, key, len) == 0) {
			*object = cond_defs[i].object;
			return cond_defs[i].kind;
		}
	return -1;
}

#define SUBJECT_EXPECTED                                                       \
	"a subject condition (uid=, gid=, pid=, exe=, exe_prefix=, comm=, "    \
	"team_id=, signing_id=, platform=, cdhash=) or \"all\""
#define OBJECT_EXPECTED                                                        \
	"an object condition (path=, prefix=, suffix=, access=, target=, "     \
	"target_prefix=, target_team_id=, target_signing_id=, "                \
	"target_platform=, target_cdhash=, sha256=) or \"all\""
#define TYPES_EXPECTED                                                         \
	"an event type (open, exec, rename, unlink, create, truncate, link, "  \
	"clone, copyfile, mount, signal, access) or \"any\""

#define DIGEST_TYPES                                                           \
	(TYPE_BIT(VD_AUTH_OPEN) | TYPE_BIT(VD_AUTH_EXEC) |                     \
	    TYPE_BIT(VD_AUTH_ACCESS))

#define TARGET2_TYPES                                                          \
	(TYPE_BIT(VD_AUTH_RENAME) | TYPE_BIT(VD_AUTH_LINK) |                   \
	    TYPE_BIT(VD_AUTH_CLONE) | TYPE_BIT(VD_AUTH_COPYFILE))

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
	/* target_team_id= takes what team_id= takes, and so on. */
	kind = cond_value_kind(kind);
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
			vd__parse_fail(P, col0, -EINVAL,
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
			vd__parse_fail(P, col0, -EINVAL,
			    "%sexpected \"yes\" or \"no\" after %s=, got %s",
			    what, key, w);
			return false;
		}
		break;
	case C_ACCESS:
		if (n == 4 && memcmp(v, "read", 4) == 0)
			val.off = VD_OPEN_READ;
		else if (n == 5 && memcmp(v, "write", 5) == 0)
			val.off = VD_OPEN_WRITE;
		else {
			vd__parse_fail(P, col0, -EINVAL,
			    "%sexpected \"read\" or \"write\" after access=, "
			    "got %s",
			    what, w);
			return false;
		}
		break;
	case C_SHA256: {
		uint8_t raw[VD_SHA256_LEN];

		if (!vd_sha256_parse(v, n, raw)) {
			vd__parse_fail(P, col0, -EINVAL,
			    "%sexpected 64 hexadecimal digits after %s=, got "
			    "%s",
			    what, key, w);
			return false;
		}
		if (add_str(P, (const char *)raw, VD_SHA256_LEN, &val.off) !=
		    0)
			goto nomem;
		val.len = VD_SHA256_LEN;
		break;
	}
	case C_CDHASH: {
		uint8_t raw[20];

		if (!cdhash_parse(v, n, raw)) {
			vd__parse_fail(P, col0, -EINVAL,
			    "%sexpected 40 hexadecimal digits after %s=, got "
			    "%s",
			    what, key, w);
			return false;
		}
		if (add_str(P, (const char *)raw, 20, &val.off) != 0)
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
			vd__parse_fail(P, col0, -EINVAL,
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
			vd__parse_fail(P, col0, -EINVAL,
			    "%sexpected a value after %s=", what, key);
			return false;
		}
		if (n > max) {
			snprintf(tmp, sizeof(tmp), "%zu", max);
			vd__parse_fail(P, col0, -EINVAL,
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
	if (vd__grow(&P->vals, &P->cvals, P->nvals + 1, sizeof(*P->vals)) != 0)
		goto nomem;
	P->vals[P->nvals++] = val;
	return true;
nomem:
	vd__parse_fail(P, SIZE_MAX, -ENOMEM, "out of memory");
	return false;
}

static int
cmp_digest(const void *a, const void *b)
{
	return memcmp(a, b, VD_SHA256_LEN);
}

/*
 * A sha256= condition's values in ascending order, each once, so the
 * evaluator finds a digest among a trust set's thousands by bisection.
 * Its values' bytes lie one after the other in strs (add_value appended
 * them in turn), so the block is sorted in place.
 */
static void
sort_digests(struct parser *P, struct cond *c)
{
	unsigned char *base;
	uint32_t i, n = 0;

	if (c->nval < 2)
		return;
	base = (unsigned char *)P->strs + P->vals[c->val0].off;
	qsort(base, c->nval, VD_SHA256_LEN, cmp_digest);
	for (i = 0; i < c->nval; i++)
		if (n == 0 ||
		    memcmp(base + (size_t)(n - 1) * VD_SHA256_LEN,
		        base + (size_t)i * VD_SHA256_LEN, VD_SHA256_LEN) != 0)
			memmove(base + (size_t)n++ * VD_SHA256_LEN,
			    base + (size_t)i * VD_SHA256_LEN, VD_SHA256_LEN);
	c->nval = n;
	P->nvals = c->val0 + n;
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
			vd__parse_fail(P, start, -EINVAL,
			    "%s= is %s condition: it goes %s the \":\"",
			    cond_defs[i].key,
			    object ? "a subject" : "an object",
			    object ? "before" : "after");
			return false;
		}
	}
	if (d == NULL) {
		vd__parse_fail(P, start, -EINVAL, "expected %s, got %s",
		    object ? OBJECT_EXPECTED : SUBJECT_EXPECTED,
		    shown(s, n, w, sizeof(w)));
		return false;
	}
	if ((d->kind == C_ACCESS) && types != TYPE_BIT(VD_AUTH_OPEN)) {
		vd__parse_fail(P, start, -EINVAL,
		    "access= applies only to rules for open alone");
		return false;
	}
	if ((d->kind == C_TARGET || d->kind == C_TARGET_PREFIX) &&
	    (types & ~TARGET2_TYPES) != 0) {
		vd__parse_fail(P, start, -EINVAL,
		    "%s= applies only to rename, link, clone and copyfile "
		    "rules",
		    d->key);
		return false;
	}
	if (d->kind == C_ACCESS && !(P->can & VD_POLICY_CAN_ACCESS)) {
		vd__parse_fail(P, start, -EINVAL,
		    "this backend cannot enforce access=: fanotify does not "
		    "report the opener's access mode");
		return false;
	}
	if (cond_value_kind(d->kind) != d->kind &&
	    types != TYPE_BIT(VD_AUTH_EXEC)) {
		vd__parse_fail(P, start, -EINVAL,
		    "%s= applies only to rules for exec alone: only exec runs "
		    "a program",
		    d->key);
		return false;
	}
	if ((cond_value_kind(d->kind) == C_TEAM_ID ||
	        cond_value_kind(d->kind) == C_SIGNING_ID ||
	        cond_value_kind(d->kind) == C_CDHASH ||
	        cond_value_kind(d->kind) == C_PLATFORM) &&
	    !(P->can & VD_POLICY_CAN_TEAM_ID)) {
		vd__parse_fail(P, start, -EINVAL,
		    "this backend cannot enforce %s=: only Endpoint Security "
		    "reports code signing (team_id, signing_id, cdhash, "
		    "platform)",
		    d->key);
		return false;
	}
	if (d->kind == C_SHA256 && (types & ~DIGEST_TYPES) != 0) {
		vd__parse_fail(P, start, -EINVAL,
		    "sha256= applies only to open, exec and access rules: only "
		    "they have a file to read");
		return false;
	}
	if (d->kind == C_SHA256 && !(P->can & VD_POLICY_CAN_SHA256)) {
		vd__parse_fail(P, start, -EINVAL,
		    "this backend cannot enforce sha256=: its events cannot "
		    "be enriched with the file's digest");
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
			vd__parse_fail(P, vstart, -EINVAL,
			    "expected a set name (letters, digits, _ and -) "
			    "after \"%%\", got %s",
			    shown(P->buf, P->buflen, w, sizeof(w)));
			return false;
		}
		set = find_set(P, P->buf + 1, P->buflen - 1);
		if (set == NULL) {
			vd__parse_fail(P, vstart, -EINVAL,
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
	if (c.kind == C_SHA256)
		sort_digests(P, &c);
	if (vd__grow(&P->conds, &P->cconds, P->nconds + 1, sizeof(*P->conds)) !=
	    0) {
		vd__parse_fail(P, SIZE_MAX, -ENOMEM, "out of memory");
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

int
vd__type_word(const char *w, size_t n)
{
	int t;

	for (t = 0; t < NTYPES; t++)
		if (type_words[t] != NULL && word_is(w, n, type_words[t]))
			return t;
	return -1;
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
		vd__parse_fail(P, P->pos, -EINVAL,
		    "expected %s, got end of line", TYPES_EXPECTED);
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
			vd__parse_fail(P, i, -EINVAL, "expected %s, got %s",
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
		vd__parse_fail(P, P->pos, -EINVAL,
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
		vd__parse_fail(P, start, -EINVAL,
		    "expected \"allow\" or \"deny\" after the types, got %s",
		    shown(P->line + start, n, w, sizeof(w)));
		return false;
	}
	if (!at_end(P)) {
		start = P->pos;
		if (!next_word(P, &start, &n))
			return false;
		vd__parse_fail(P, start, -EINVAL,
		    "expected end of line, got %s",
		    shown(P->line + start, n, w, sizeof(w)));
		return false;
	}
	for (t = 0; t < NTYPES; t++) {
		if (!(types & TYPE_BIT(t)))
			continue;
		if (P->has_def[t]) {
			vd__parse_fail(P, tcol, -EINVAL,
			    "a default for %s is already set", type_words[t]);
			return false;
		}
		P->has_def[t] = true;
		P->def[t] = v;
	}
	return true;
}

/* Records where rule r, whose text starts at column start, was written:
 * the file (once per file), the line, the text up to any comment. */
static bool
rule_origin(struct parser *P, struct rule *r, size_t start)
{
	const char *file = P->file != NULL ? P->file : "";
	size_t end = P->pos, flen = strlen(file);

	while (end > start && is_ws(P->line[end - 1]))
		end--;
	/* The same file as the rule before (names, not pointers: an
	 * include's name buffer is reused). */
	if (!P->has_file || P->file_len != flen ||
	    memcmp(P->strs + P->file_off, file, flen) != 0) {
		if (add_str(P, file, flen, &P->file_off) != 0)
			goto nomem;
		P->file_len = (uint32_t)flen;
		P->has_file = true;
	}
	if (add_str(P, P->line + start, end - start, &r->text_off) != 0)
		goto nomem;
	r->file_off = P->file_off;
	r->file_len = P->file_len;
	r->text_len = (uint32_t)(end - start);
	r->line = (uint32_t)P->lineno;
	return true;
nomem:
	vd__parse_fail(P, SIZE_MAX, -ENOMEM, "out of memory");
	return false;
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
			vd__parse_fail(P, i, -EINVAL,
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
		else if (i != start && word_is(s, e - i, "monitor") &&
		    !r.monitor && r.verdict == VD_DENY)
			r.monitor = true;
		else if (i != start && word_is(s, e - i, "monitor") &&
		    !r.monitor) {
			vd__parse_fail(P, i, -EINVAL,
			    "\"monitor\" applies only to deny: it allows what "
			    "the rule would deny, and logs it");
			return false;
		} else {
			vd__parse_fail(P, i, -EINVAL,
			    "expected \"audit\", \"cache\" or \"monitor\" "
			    "after the decision, got %s",
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
				vd__parse_fail(P, P->pos, -EINVAL,
				    "expected %s, got end of line",
				    any ? "\":\" between the subject and the "
				          "object"
				        : SUBJECT_EXPECTED);
				return false;
			}
			if (!any) {
				vd__parse_fail(P, P->pos, -EINVAL,
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
				vd__parse_fail(P, ws, -EINVAL,
				    "expected %s, got \":\"",
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
				vd__parse_fail(P, ws, -EINVAL,
				    "\"all\" cannot be combined with other "
				    "conditions");
				return false;
			}
			any = seen_all = true;
			continue;
		}
		if (seen_all) {
			vd__parse_fail(P, ws, -EINVAL,
			    "\"all\" cannot be combined with other "
			    "conditions");
			return false;
		}
		if (!parse_cond(P, ws, wn, object, r.types))
			return false;
		any = true;
	}
	r.ncond = (uint32_t)(P->nconds - r.cond0);
	if (!rule_origin(P, &r, start))
		return false;
	if (P->nrules >= UINT32_MAX - 1 ||
	    vd__grow(&P->rules, &P->crules, P->nrules + 1, sizeof(*P->rules)) !=
	        0) {
		vd__parse_fail(P, SIZE_MAX, -ENOMEM, "out of memory");
		return false;
	}
	P->rules[P->nrules++] = r;
	return true;
}

/* Adds one member (its text) to the set being built. */
static bool
add_member(struct parser *P, struct pset *set, const char *s, size_t n)
{
	struct val m;

	if (add_str(P, s, n, &m.off) != 0 ||
	    vd__grow(&P->setvals, &P->csetvals, P->nsetvals + 1,
	        sizeof(*P->setvals)) != 0) {
		vd__parse_fail(P, SIZE_MAX, -ENOMEM, "out of memory");
		return false;
	}
	m.len = (uint32_t)n;
	P->setvals[P->nsetvals++] = m;
	set->nval++;
	return true;
}

/*
 * The lines of a digest file, as sha256sum(1) writes them: 64 hex digits,
 * a blank and a space or "*" (binary mode), the file's name; a name with a
 * newline or backslash is written with a "\" before the digits.  Blank
 * lines and "#" comments are skipped.  Each digest is a member; errors
 * point at the digest file's own line and column.
 */
static bool
parse_digests(struct parser *P, struct pset *set, const char *text,
    size_t len)
{
	size_t off = 0, e, k;
	char w[80];

	P->lineno = 0;
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);

		e = nl ? (size_t)(nl - text) : len;
		P->lineno++;
		P->line = text + off;
		P->len = e - off;
		off = e + 1;
		k = 0;
		if (P->len > 0 && P->line[0] == '\\')
			k = 1;
		if (P->len == 0 || P->line[0] == '#')
			continue;
		if (P->len < k + 66 || !is_ws(P->line[k + 64]) ||
		    (P->line[k + 65] != ' ' && P->line[k + 65] != '*')) {
			size_t n = P->len - k < 64 ? P->len - k : 64;

			vd__parse_fail(P, k, -EINVAL,
			    "expected 64 hexadecimal digits, a blank and a "
			    "file name (as sha256sum writes them), got %s",
			    shown(P->line + k, n, w, sizeof(w)));
			return false;
		}
		{
			uint8_t raw[VD_SHA256_LEN];

			if (!vd_sha256_parse(P->line + k, 64, raw)) {
				vd__parse_fail(P, k, -EINVAL,
				    "expected 64 hexadecimal digits, got %s",
				    shown(P->line + k, 64, w, sizeof(w)));
				return false;
			}
		}
		if (!add_member(P, set, P->line + k, 64))
			return false;
	}
	return true;
}

/* %name = file:PATH — the members are the digests of a sha256sum file. */
static bool
parse_digest_file(struct parser *P, struct pset *set)
{
	const char *file = P->file, *line = P->line;
	int lineno = P->lineno;
	size_t len = P->len, vcol = P->pos, ws, wn;
	char path[PATH_MAX], why[128], w[80], *text = NULL;
	size_t tlen = 0;
	bool is_set, ok;
	int rc;

	P->pos += 5;
	if (at_end(P)) {
		vd__parse_fail(P, P->pos, -EINVAL,
		    "expected a file name after \"file:\", got end of line");
		return false;
	}
	ws = P->pos;
	if (P->line[ws] == '"') {
		if (!decode_quoted(P, ws, &P->pos))
			return false;
	} else {
		for (wn = 0; ws + wn < P->len && !is_ws(P->line[ws + wn]); wn++)
			;
		if (!decode_value(P, ws, wn, &is_set))
			return false;
		P->pos = ws + wn;
	}
	if (!at_end(P)) {
		if (!next_word(P, &ws, &wn))
			return false;
		vd__parse_fail(P, ws, -EINVAL,
		    "expected end of line after the file name, got %s",
		    shown(P->line + ws, wn, w, sizeof(w)));
		return false;
	}
	P->buf[P->buflen] = '\0';
	if (P->buflen == 0 ||
	    (size_t)snprintf(path, sizeof(path), "%s%s%s",
	        P->buf[0] == '/' ? "" : P->dir, P->buf[0] == '/' ? "" : "/",
	        P->buf) >= sizeof(path)) {
		vd__parse_fail(P, vcol, -EINVAL,
		    "file: expected a file name of at most %d bytes", PATH_MAX);
		return false;
	}
	rc = vd_file_read(
	    path, DIGEST_FILE_MAX_BYTES, &text, &tlen, why, sizeof(why));
	if (rc != 0) {
		vd__parse_fail(P, vcol, read_error(rc),
		    "cannot read digest file \"%s\": %s", path, why);
		return false;
	}
	/* Errors inside name the digest file's line; the policy's line
	 * comes back after. */
	P->file = path;
	ok = parse_digests(P, set, text, tlen);
	free(text);
	if (!ok) {
		/* P->err holds the digest file's name already. */
		return false;
	}
	P->file = file, P->line = line, P->lineno = lineno, P->len = len;
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
		vd__parse_fail(P, start, -EINVAL,
		    "expected a set name (letters, digits, _ and -) after "
		    "\"%%\"");
		return false;
	}
	if (find_set(P, P->line + start + 1, i - start - 1) != NULL) {
		vd__parse_fail(P, start, -EINVAL, "set %.*s is already defined",
		    (int)(i - start), P->line + start);
		return false;
	}
	P->pos = i;
	skip_ws(P);
	if (P->pos >= P->len || P->line[P->pos] != '=') {
		vd__parse_fail(P, P->pos, -EINVAL,
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
	skip_ws(P);
	if (P->len - P->pos >= 5 && memcmp(P->line + P->pos, "file:", 5) == 0) {
		if (!parse_digest_file(P, &set))
			return false;
		goto done;
	}
	for (;;) {
		size_t ms;

		if (at_end(P)) {
			vd__parse_fail(P, P->pos, -EINVAL,
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
				vd__parse_fail(P, ms, -EINVAL,
				    "expected a set member, got \",\"");
				return false;
			}
			memcpy(P->buf, P->line + ms, end - ms);
			P->buflen = end - ms;
			P->pos = end;
		}
		if (P->buflen > 0 && P->buf[0] == '%' && P->line[ms] != '"') {
			vd__parse_fail(P, ms, -EINVAL,
			    "a set member cannot name a set; list the members");
			return false;
		}
		if (!add_member(P, &set, P->buf, P->buflen))
			return false;
		if (at_end(P))
			break;
		if (P->line[P->pos] != ',') {
			size_t ws, wn;

			if (!next_word(P, &ws, &wn))
				return false;
			vd__parse_fail(P, ws, -EINVAL,
			    "expected \",\" or end of line after a set "
			    "member, got %s",
			    shown(P->line + ws, wn, w, sizeof(w)));
			return false;
		}
		P->pos++;
	}
done:
	if (vd__grow(&P->sets, &P->csets, P->nsets + 1, sizeof(*P->sets)) != 0)
		goto nomem;
	P->sets[P->nsets++] = set;
	return true;
nomem:
	vd__parse_fail(P, SIZE_MAX, -ENOMEM, "out of memory");
	return false;
}

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
		vd__parse_fail(P, P->pos, -EINVAL,
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
		vd__parse_fail(P, ws, -EINVAL,
		    "expected end of line after the directory, got %s",
		    shown(P->line + ws, wn, w, sizeof(w)));
		return false;
	}
	if (P->depth > INCLUDE_DEPTH) {
		vd__parse_fail(P, vcol, -EINVAL,
		    "includes nested more than %d deep", INCLUDE_DEPTH);
		return false;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s%s%s",
	        P->buf[0] == '/' ? "" : P->dir, P->buf[0] == '/' ? "" : "/",
	        P->buf) >= sizeof(path)) {
		vd__parse_fail(
		    P, vcol, -EINVAL, "include: the path is too long");
		return false;
	}
	d = opendir(path);
	if (d == NULL) {
		int e = errno;

		vd__parse_fail(P, vcol, e == EACCES ? -EACCES : -ENOENT,
		    "include: cannot open directory \"%s\": %s", P->buf,
		    strerror(e));
		return false;
	}
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (de->d_name[0] == '.' || l < 7 ||
		    strcmp(de->d_name + l - 6, ".rules") != 0)
			continue;
		if (vd__grow(&names, &cap, n + 1, sizeof(*names)) != 0 ||
		    (names[n] = strdup(de->d_name)) == NULL) {
			vd__parse_fail(P, SIZE_MAX, -ENOMEM, "out of memory");
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
				vd__parse_fail(P, vcol, -EINVAL,
				    "include: the path is too long");
				goto out;
			}
			if (vd__parse_file(P, f, vcol) != 0)
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
	vd__parse_fail(P, start, -EINVAL,
	    "expected a rule (allow or deny), \"default\", \"include\" or a "
	    "set (%%name = ...), got %s",
	    shown(P->line + start, n, w, sizeof(w)));
}

int
vd__parse_text(struct parser *P, const char *text, size_t len, const char *file,
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
			vd__parse_fail(P, LINE_MAX_BYTES, -EINVAL,
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
int
vd__parse_file(struct parser *P, const char *path, size_t col0)
{
	char *text = NULL, *rp, *dir, *slash, why[128];
	size_t len = 0, i;
	int rc;

	rp = realpath(path, NULL);
	if (rp != NULL) {
		for (i = 0; i < (size_t)P->depth; i++) {
			if (P->stack[i] && strcmp(P->stack[i], rp) == 0) {
				const char *b = strrchr(path, '/');

				vd__parse_fail(P, col0, -EINVAL,
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
			vd__parse_fail(P, col0, read_error(rc), "%s", why);
		} else if (rc == -EFBIG)
			vd__parse_fail(P, col0, read_error(rc),
			    "cannot read \"%s\": the policy and its includes "
			    "are larger than %zu MiB together",
			    path, FILE_MAX_BYTES / VD_FILE_MIB);
		else
			vd__parse_fail(P, col0, read_error(rc),
			    "cannot read \"%s\": %s", path, why);
		return P->rc;
	}
	P->bytes += len;
	dir = strdup(path);
	if (dir == NULL) {
		free(rp);
		free(text);
		vd__parse_fail(P, SIZE_MAX, -ENOMEM, "out of memory");
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
	rc = vd__parse_text(P, text, len, path, dir);
	P->depth--;
	free(P->stack[P->depth]);
	P->stack[P->depth] = NULL;
	free(dir);
	free(text);
	return rc;
}

void
vd__parser_free(struct parser *P)
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
