/*
 * eval.c — evaluating an event against a compiled policy: memory only, no
 * locks, no allocation, bounded time.
 *
 * Evaluation hashes the event's path once forwards (FNV-1a; the hash of
 * each prefix length comes for free) and probes only at the prefix
 * lengths that some prefix= value of that type has, then once backwards
 * for the suffix lengths.  Each list of rules is scanned only below the
 * best rule found so far, so the first match in policy order wins and the
 * work depends on the path, not the rule count.
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

/* ---- evaluating -------------------------------------------------------- */

/* NEEDS: the rule's other conditions hold, and it has a sha256= the
 * event cannot answer yet (no digest): defer (VD_NEED_DIGEST). */
enum { NOMATCH, MATCH, UNDECIDED, NEEDS };

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

/* An evaluation of ev under pol, before any rule was looked at. */
static void
evctx_init(
    struct evctx *X, const struct vd_policy *pol, const struct vd_event *ev)
{
	X->pol = pol;
	X->ev = ev;
	X->tlen = strnlen(ev->target, VD_PATH_MAX);
	X->t2len = strnlen(ev->target2, VD_PATH_MAX);
	X->elen = strnlen(ev->proc.exe, VD_PATH_MAX);
	X->best = UINT32_MAX;
	X->best_res = NOMATCH;
	X->subject_dep = false;
}

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
	case C_XPLATFORM:
		return ev->exec_sig.platform_binary == (v->off != 0);
	case C_XCDHASH:
		return memcmp(ev->exec_sig.cdhash, s, 20) == 0;
	case C_XTEAM_ID:
		return strnlen(ev->exec_sig.team_id, VD_ID_MAX) == v->len &&
		    memcmp(ev->exec_sig.team_id, s, v->len) == 0;
	case C_XSIGNING_ID:
		return strnlen(ev->exec_sig.signing_id, VD_ID_MAX) == v->len &&
		    memcmp(ev->exec_sig.signing_id, s, v->len) == 0;
	case C_SHA256:
		return (ev->have & VD_NEED_DIGEST) &&
		    memcmp(ev->sha256, s, VD_SHA256_LEN) == 0;
	}
	return false;
}

/* sha256=: the file's digest among the values, sorted by the parser. */
static bool
digest_in(const struct evctx *X, const struct cond *c)
{
	const unsigned char *base;
	uint32_t lo = 0, hi = c->nval, mid;
	int d;

	if (!(X->ev->have & VD_NEED_DIGEST) || c->nval == 0)
		return false;
	base = (const unsigned char *)X->pol->strs + X->pol->vals[c->val0].off;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		d = memcmp(base + (size_t)mid * VD_SHA256_LEN, X->ev->sha256,
		    VD_SHA256_LEN);
		if (d == 0)
			return true;
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* True when one of the condition's values matches the event. */
static bool
cond_holds(const struct evctx *X, const struct cond *c)
{
	uint32_t j;

	if (c->kind == C_SHA256)
		return digest_in(X, c);
	for (j = 0; j < c->nval; j++)
		if (val_match(X, c, &X->pol->vals[c->val0 + j]))
			return true;
	return false;
}

/* *failed (when not NULL): NOMATCH's first condition that did not hold,
 * as an index into the rule's conditions. */
static int
check_rule_why(const struct evctx *X, const struct rule *r, uint32_t *failed)
{
	const struct vd_event *ev = X->ev;
	bool undecided = false, needs = false;
	uint32_t i;

	for (i = 0; i < r->ncond; i++) {
		const struct cond *c = &X->pol->conds[r->cond0 + i];
		bool cut = false;

		if (c->kind == C_SHA256 && !(ev->have & VD_NEED_DIGEST) &&
		    !(ev->have & VD_UNAVAILABLE(VD_NEED_DIGEST))) {
			needs = true;
			continue;
		}
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
		if (!cond_holds(X, c)) {
			if (failed != NULL)
				*failed = i;
			return NOMATCH;
		}
	}
	/* A cut path decides nothing, whatever the digest would say. */
	return undecided ? UNDECIDED : needs ? NEEDS : MATCH;
}

static inline int
check_rule(const struct evctx *X, const struct rule *r)
{
	return check_rule_why(X, r, NULL);
}

int
vd__rule_check(const struct vd_policy *pol, const struct vd_event *ev, size_t i,
    uint32_t *failed)
{
	struct evctx X;

	evctx_init(&X, pol, ev);
	switch (check_rule_why(&X, &pol->rules[i], failed)) {
	case MATCH:
		return VD_STEP_MATCH;
	case UNDECIDED:
		return VD_STEP_UNDECIDED;
	case NEEDS:
		return VD_STEP_NEEDS;
	default:
		return VD_STEP_NOMATCH;
	}
}

/* True when every object condition of r holds (its subject ignored). */
static bool
object_matches(const struct evctx *X, const struct rule *r)
{
	uint32_t i;

	for (i = 0; i < r->ncond; i++) {
		const struct cond *c = &X->pol->conds[r->cond0 + i];

		/* A digest not known yet may hold: another process's
		 * answer could differ, so nothing is cached for everyone. */
		if (c->kind == C_SHA256 && !(X->ev->have & VD_NEED_DIGEST) &&
		    !(X->ev->have & VD_UNAVAILABLE(VD_NEED_DIGEST)))
			continue;
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
vd_policy_needs_process(const struct vd_policy *pol)
{
	return policy_has(pol,
	    (UINT32_C(1) << C_UID) | (UINT32_C(1) << C_GID) |
	        (UINT32_C(1) << C_EXE) | (UINT32_C(1) << C_EXE_PREFIX) |
	        (UINT32_C(1) << C_COMM) | (UINT32_C(1) << C_TEAM_ID) |
	        (UINT32_C(1) << C_SIGNING_ID) | (UINT32_C(1) << C_PLATFORM) |
	        (UINT32_C(1) << C_CDHASH));
}

bool
vd_policy_needs_digest(const struct vd_policy *pol)
{
	return policy_has(pol, UINT32_C(1) << C_SHA256);
}

bool
vd_policy_needs_path(const struct vd_policy *pol)
{
	return policy_has(pol,
	    (UINT32_C(1) << C_PATH) | (UINT32_C(1) << C_PREFIX) |
	        (UINT32_C(1) << C_SUFFIX));
}

/* Monitor mode (on): a deny becomes an allow that says it would deny,
 * never cached, so that each one is logged. */
static inline void
monitor(struct vd_decision *out, bool on)
{
	out->would_deny = on && out->verdict == VD_DENY;
	if (!out->would_deny)
		return;
	out->verdict = VD_ALLOW;
	out->cache = false;
	out->path_only = false;
	out->open_flags = VD_OPEN_READ | VD_OPEN_WRITE;
}

bool
vd_policy_default(
    const struct vd_policy *pol, enum vd_event_type t, uint8_t *verdict)
{
	if (pol == NULL || (unsigned)t >= NTYPES || !pol->types[t].has_default)
		return false;
	*verdict = pol->types[t].def;
	return true;
}

void
vd_policy_set_monitor(struct vd_policy *pol, bool on)
{
	if (pol != NULL)
		pol->monitor = on;
}

bool
vd_policy_rule_info(
    const struct vd_policy *pol, size_t n, struct vd_policy_rule_info *out)
{
	const struct rule *r;

	if (pol == NULL || n == 0 || n > pol->nrules)
		return false;
	r = &pol->rules[n - 1];
	out->file = pol->strs + r->file_off;
	out->file_len = r->file_len;
	out->line = r->line;
	out->text = pol->strs + r->text_off;
	out->text_len = r->text_len;
	out->verdict = r->verdict;
	out->audit = r->audit;
	out->monitor = r->monitor;
	return true;
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
	evctx_init(&X, pol, ev);
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
		out->rule = X.best + 1;
		monitor(out, pol->monitor || r->monitor);
		return (size_t)X.best + 1;
	}
	if (X.best_res == NEEDS) {
		/* Not decided: the rules before this one did not match, and
		 * this one waits for the file's digest. */
		out->needs = VD_NEED_DIGEST;
		out->cache = false;
		out->path_only = false;
		out->rule = 0;
		return 0;
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
	out->rule = 0;
	monitor(out, pol->monitor);
	return 0;
}
