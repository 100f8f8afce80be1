/*
 * policy_internal.h — what the parser (parse.c), the compiler
 * (compile.c) and the evaluator (eval.c) of the rules language share, and
 * what the benchmark and tests may ask a compiled policy beyond
 * verdict/policy.h.  Not installed; nothing outside src/rules includes it
 * but the benchmark and the tests.
 */
#ifndef VD_RULES_POLICY_INTERNAL_H
#define VD_RULES_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <verdict/event.h>
#include <verdict/pipeline.h>
#include <verdict/policy.h>

#include "util/util.h"

#define LINE_MAX_BYTES 4096
#define INCLUDE_DEPTH  8
/* Bytes of a policy: its file and the files it includes, together. */
#define FILE_MAX_BYTES (16 * VD_FILE_MIB)
/* Bytes of one digest file (%set = file:...), apart from the above: a
 * package manager's trust set holds a line per packaged file. */
#define DIGEST_FILE_MAX_BYTES (256 * VD_FILE_MIB)
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
	/* exec: the signature of the program being run, not the caller's */
	C_XTEAM_ID,
	C_XSIGNING_ID,
	C_XPLATFORM,
	C_XCDHASH,
	/* the SHA-256 of the file opened or run (an enricher reads it) */
	C_SHA256,
};

/* Conditions on the object: the same whoever opens it. */
static inline bool
cond_is_object(uint8_t kind)
{
	return kind == C_PATH || kind == C_PREFIX || kind == C_SUFFIX ||
	    kind == C_TARGET || kind == C_TARGET_PREFIX || kind == C_XTEAM_ID ||
	    kind == C_XSIGNING_ID || kind == C_XPLATFORM || kind == C_XCDHASH ||
	    kind == C_SHA256;
}

/* The subject condition whose values an exec target's condition takes. */
static inline uint8_t
cond_value_kind(uint8_t kind)
{
	switch (kind) {
	case C_XTEAM_ID:
		return C_TEAM_ID;
	case C_XSIGNING_ID:
		return C_SIGNING_ID;
	case C_XPLATFORM:
		return C_PLATFORM;
	case C_XCDHASH:
		return C_CDHASH;
	default:
		return kind;
	}
}

/* A rule's types field: one bit per AUTH type. */
#define TYPE_BIT(t) ((uint16_t)(1u << (t)))

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
	bool monitor; /* deny,monitor: allowed, logged as would-deny */
	bool audit;
	bool cache;   /* asked for and allowed: see rule_cacheable() */
	bool subject; /* a condition on the process (or its access mode) */
	uint16_t types;
	uint32_t cond0;
	uint32_t ncond;
	/* Where it was written, in strs: the file's name and the text. */
	uint32_t file_off, file_len;
	uint32_t text_off, text_len;
	uint32_t line;
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
	bool monitor; /* policy.mode = monitor: every deny would-deny */
	/* Rule hit counters, set by the runtime that puts it in force:
	 * hit_stride rows of nrules, a row per worker slot (or one, shared,
	 * when that would be large).  NULL: not counted. */
	_Atomic uint64_t *hits;
	unsigned hit_stride;
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

/* The parser's state: scratch arrays that compile() copies into one
 * snapshot. */
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

	/* the last rule's file name in strs, shared by the next rules */
	bool has_file;
	uint32_t file_off, file_len;

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

/* eval.c: rule i (0-based) against ev, VD_STEP_*; *failed: NOMATCH's
 * first condition that did not hold (an index into the rule's). */
int vd__rule_check(const struct vd_policy *pol, const struct vd_event *ev,
    size_t i, uint32_t *failed);

/* parse.c: a condition's key ("uid", "target_team_id") by kind, and the
 * kind of a key (-1: none); object: after the ":". */
const char *vd__cond_key(uint8_t kind);
int vd__cond_kind(const char *key, size_t len, bool *object);
/* The AUTH type a rule names with word w ("open"), or -1. */
int vd__type_word(const char *w, size_t n);

/* parse.c */
int vd__grow(void *pp, size_t *cap, size_t need, size_t elsz);
int vd__parse_text(struct parser *P, const char *text, size_t len,
    const char *file, const char *dir);
int vd__parse_file(struct parser *P, const char *path, size_t col0);
void vd__parser_free(struct parser *P);
void vd__parse_fail(struct parser *P, size_t col0, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A hexadecimal digit's value, or -1. */
static inline int
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

/* A cdhash= value: exactly 40 hexadecimal digits (n bytes at v) into 20
 * bytes; false when it is not one. */
static inline bool
cdhash_parse(const char *v, size_t n, uint8_t out[20])
{
	size_t i;

	if (n != 40)
		return false;
	for (i = 0; i < 40; i++)
		if (hexval(v[i]) < 0)
			return false;
	for (i = 0; i < 20; i++)
		out[i] =
		    (uint8_t)(hexval(v[2 * i]) << 4 | hexval(v[2 * i + 1]));
	return true;
}

/* The index's hashes, the compiler's and the evaluator's alike. */
#define FNV_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static inline uint64_t
slot_of(uint64_t h, uint32_t tk)
{
	uint64_t z = h + (uint64_t)tk * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The bits of the mixed hash that the slot number does not use, never 0. */
static inline uint16_t
tag_of(uint64_t m)
{
	return (uint16_t)((m >> 48) | 1);
}

/* Bytes of the snapshot: one allocation, indexes and strings included. */
size_t vd__policy_bytes(const struct vd_policy *pol);

#endif
