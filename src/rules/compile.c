/*
 * compile.c — a parsed policy compiled into one immutable snapshot, and
 * the entry points that read and compile a policy (verdict/policy.h).
 *
 * Compiling copies the parser's scratch arrays, with the indexes, into one
 * allocation (the snapshot), which is never written again and can be read
 * by any number of threads.
 *
 * Indexes, per AUTH type: exact path= values, prefix= values and suffix=
 * values go into one open-addressing hash table keyed by (type, kind,
 * string), fronted by an array of 16-bit tags that keeps most misses in
 * cache.  Each hit is a list of rule numbers in ascending order; rules
 * without a path condition form one more list (eval.c reads them).
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

				if (vd__grow(
				        &tup, &ctup, ntup + 1, sizeof(*tup)))
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
				if (vd__grow(&lens, &clens, nlens + 1,
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
			vd__parse_fail(P, SIZE_MAX, r, "out of memory");
	}
	vd__parser_free(P);
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
	vd__parse_file(P, path, SIZE_MAX);
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
	vd__parse_text(P, text, len, name, dir);
	pol = finish(P, rc);
	free(P);
	free(dir);
	return pol;
}

void
vd_policy_free(struct vd_policy *pol)
{
	if (pol != NULL)
		free(pol->hits);
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
