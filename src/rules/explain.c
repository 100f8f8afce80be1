/*
 * explain.c — why a policy decides what it decides: a query read into an
 * event (vd_policy_query_parse), and the rules of the event's type walked
 * in policy order up to the one that decides, each with the condition
 * that failed (vd_policy_explain).  Neither is on the AUTH path: verdictd
 * --check-policy --explain calls them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <verdict/event.h>
#include <verdict/pipeline.h>
#include <verdict/policy.h>

#include "rules/policy_internal.h"

/* ---- the query ---------------------------------------------------------- */

/* Copies n bytes of src into dst (size dstsz); true when it had to cut. */
static bool
copy_str(char *dst, size_t dstsz, const char *src, size_t n)
{
	bool cut = n >= dstsz;

	if (cut)
		n = dstsz - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return cut;
}

static int
qfail(char *err, size_t errsz, const char *fmt, const char *w, size_t n)
{
	char shown[96];
	size_t max = sizeof(shown) - 5;

	snprintf(shown, sizeof(shown), "\"%.*s%s\"", (int)(n > max ? max : n),
	    w, n > max ? "..." : "");
	snprintf(err, errsz, fmt, shown);
	return -EINVAL;
}

/* The next word of *s (quotes keep blanks), into w/n; false at the end. */
static bool
next_word(const char **s, const char **w, size_t *n)
{
	const char *p = *s;
	bool quoted = false;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return false;
	*w = p;
	for (; *p != '\0' && (quoted || (*p != ' ' && *p != '\t')); p++) {
		if (*p == '\\' && quoted && p[1] != '\0')
			p++;
		else if (*p == '"')
			quoted = !quoted;
	}
	*n = (size_t)(p - *w);
	*s = p;
	return true;
}

/* A value, unquoted into out (size outsz); -1 when malformed or too long. */
static int
unquote(const char *v, size_t n, char *out, size_t outsz)
{
	size_t i, k = 0;

	if (n == 0 || v[0] != '"') {
		if (n >= outsz || memchr(v, '"', n) != NULL)
			return -1;
		memcpy(out, v, n);
		out[n] = '\0';
		return 0;
	}
	if (n < 2 || v[n - 1] != '"')
		return -1;
	for (i = 1; i + 1 < n; i++) {
		if (v[i] == '\\') {
			if (v[i + 1] != '"' && v[i + 1] != '\\')
				return -1;
			i++;
		} else if (v[i] == '"') {
			return -1;
		}
		if (k + 1 >= outsz)
			return -1;
		out[k++] = v[i];
	}
	out[k] = '\0';
	return 0;
}

static bool
parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

static bool
parse_yes_no(const char *s, bool *out)
{
	if (strcmp(s, "yes") == 0 || strcmp(s, "no") == 0) {
		*out = s[0] == 'y';
		return true;
	}
	return false;
}

/* One key=value word into ev; kind is the key's. */
static int
query_value(struct vd_event *ev, int kind, const char *word, size_t wn,
    const char *v, char *err, size_t errsz)
{
	uint32_t num;
	bool ok = true;

	switch (kind) {
	case C_UID:
	case C_GID:
	case C_PID:
		if (!(ok = parse_u32(v, &num)) ||
		    (kind == C_PID && num > INT32_MAX))
			return qfail(err, errsz,
			    "expected a decimal number in %s", word, wn);
		if (kind == C_UID)
			ev->proc.uid = (uid_t)num;
		else if (kind == C_GID)
			ev->proc.gid = (gid_t)num;
		else
			ev->proc.pid = (pid_t)num;
		return 0;
	case C_PLATFORM:
		ok = parse_yes_no(v, &ev->proc.platform_binary);
		break;
	case C_XPLATFORM:
		ok = parse_yes_no(v, &ev->exec_sig.platform_binary);
		break;
	case C_CDHASH:
		ok = cdhash_parse(v, strlen(v), ev->proc.cdhash);
		break;
	case C_XCDHASH:
		ok = cdhash_parse(v, strlen(v), ev->exec_sig.cdhash);
		break;
	case C_SHA256:
		ok = vd_sha256_parse(v, strlen(v), ev->sha256);
		if (ok)
			ev->have |= VD_NEED_DIGEST;
		break;
	case C_ACCESS:
		if (strcmp(v, "read") == 0)
			ev->open_flags = VD_OPEN_READ;
		else if (strcmp(v, "write") == 0)
			ev->open_flags = VD_OPEN_WRITE;
		else if (strcmp(v, "read,write") == 0)
			ev->open_flags = VD_OPEN_READ | VD_OPEN_WRITE;
		else
			return qfail(err, errsz,
			    "expected read, write or read,write in %s", word,
			    wn);
		return 0;
	case C_EXE:
	case C_PATH:
	case C_TARGET:
		if (v[0] != '/')
			return qfail(err, errsz,
			    "expected an absolute path in %s", word, wn);
		if (kind == C_EXE)
			ev->proc.exe_truncated = copy_str(
			    ev->proc.exe, sizeof(ev->proc.exe), v, strlen(v));
		else if (kind == C_PATH)
			ev->target_truncated = copy_str(
			    ev->target, sizeof(ev->target), v, strlen(v));
		else
			ev->target2_truncated = copy_str(
			    ev->target2, sizeof(ev->target2), v, strlen(v));
		return 0;
	case C_COMM:
		ok = !copy_str(
		    ev->proc.comm, sizeof(ev->proc.comm), v, strlen(v));
		break;
	case C_TEAM_ID:
	case C_SIGNING_ID:
	case C_XTEAM_ID:
	case C_XSIGNING_ID: {
		char *dst = kind == C_TEAM_ID ? ev->proc.team_id
		    : kind == C_SIGNING_ID    ? ev->proc.signing_id
		    : kind == C_XTEAM_ID      ? ev->exec_sig.team_id
		                              : ev->exec_sig.signing_id;

		ok = !copy_str(dst, VD_ID_MAX, v, strlen(v));
		break;
	}
	default:
		return qfail(err, errsz,
		    "%s: a rule condition, not a value an event has "
		    "(a query gives exe=, path=, target=)",
		    word, wn);
	}
	if (!ok)
		return qfail(err, errsz, "bad value in %s", word, wn);
	return 0;
}

int
vd_policy_query_parse(
    const char *query, struct vd_event *ev, char *err, size_t errsz)
{
	char val[VD_PATH_MAX + 2];
	const char *s = query, *w, *eq, *base;
	bool object, comm_set = false;
	size_t n;
	int t, kind, rc;

	memset(ev, 0, sizeof(*ev));
	if (!next_word(&s, &w, &n)) {
		snprintf(err, errsz,
		    "an empty query: expected an event type (open, exec, ...)");
		return -EINVAL;
	}
	if ((t = vd__type_word(w, n)) < 0)
		return qfail(err, errsz,
		    "expected an event type (open, exec, rename, unlink, "
		    "create, truncate, link, clone, copyfile, mount, signal, "
		    "access), got %s",
		    w, n);
	ev->type = (uint16_t)t;
	while (next_word(&s, &w, &n)) {
		eq = memchr(w, '=', n);
		if (eq == NULL)
			return qfail(
			    err, errsz, "expected key=value, got %s", w, n);
		kind = vd__cond_kind(w, (size_t)(eq - w), &object);
		if (kind < 0)
			return qfail(err, errsz, "unknown key in %s", w, n);
		if (unquote(eq + 1, n - (size_t)(eq + 1 - w), val,
		        sizeof(val)) != 0)
			return qfail(err, errsz,
			    "a malformed or too long value in %s", w, n);
		if ((rc = query_value(ev, kind, w, n, val, err, errsz)) != 0)
			return rc;
		comm_set |= kind == C_COMM;
	}
	if (!comm_set && ev->proc.exe[0] != '\0') {
		base = strrchr(ev->proc.exe, '/');
		base = base != NULL ? base + 1 : ev->proc.exe;
		copy_str(
		    ev->proc.comm, sizeof(ev->proc.comm), base, strlen(base));
	}
	return 0;
}

/* ---- the walk ------------------------------------------------------------ */

static void
hex20(const uint8_t *h, char *out)
{
	int i;

	for (i = 0; i < 20; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* What the event has for a condition of kind, as words. */
static void
event_has(const struct vd_event *ev, uint8_t kind, char *out, size_t outsz)
{
	char hex[41];

	switch (kind) {
	case C_UID:
		snprintf(out, outsz, "uid is %u", (unsigned)ev->proc.uid);
		break;
	case C_GID:
		snprintf(out, outsz, "gid is %u", (unsigned)ev->proc.gid);
		break;
	case C_PID:
		snprintf(out, outsz, "pid is %d", (int)ev->proc.pid);
		break;
	case C_EXE:
	case C_EXE_PREFIX:
		snprintf(out, outsz, "executable is \"%s\"", ev->proc.exe);
		break;
	case C_COMM:
		snprintf(out, outsz, "comm is \"%s\"", ev->proc.comm);
		break;
	case C_TEAM_ID:
		snprintf(
		    out, outsz, "caller's team id is \"%s\"", ev->proc.team_id);
		break;
	case C_SIGNING_ID:
		snprintf(out, outsz, "caller's signing id is \"%s\"",
		    ev->proc.signing_id);
		break;
	case C_PLATFORM:
		snprintf(out, outsz, "caller is %sa platform binary",
		    ev->proc.platform_binary ? "" : "not ");
		break;
	case C_CDHASH:
		hex20(ev->proc.cdhash, hex);
		snprintf(out, outsz, "caller's cdhash is %s", hex);
		break;
	case C_XTEAM_ID:
		snprintf(out, outsz, "program's team id is \"%s\"",
		    ev->exec_sig.team_id);
		break;
	case C_XSIGNING_ID:
		snprintf(out, outsz, "program's signing id is \"%s\"",
		    ev->exec_sig.signing_id);
		break;
	case C_XPLATFORM:
		snprintf(out, outsz, "program is %sa platform binary",
		    ev->exec_sig.platform_binary ? "" : "not ");
		break;
	case C_XCDHASH:
		hex20(ev->exec_sig.cdhash, hex);
		snprintf(out, outsz, "program's cdhash is %s", hex);
		break;
	case C_SHA256: {
		char h[VD_SHA256_HEX];

		vd_sha256_hex(ev->sha256, h);
		snprintf(out, outsz, "file's SHA-256 is %s", h);
		break;
	}
	case C_PATH:
	case C_PREFIX:
	case C_SUFFIX:
		snprintf(out, outsz, "path is \"%s\"", ev->target);
		break;
	case C_TARGET:
	case C_TARGET_PREFIX:
		snprintf(out, outsz, "target is \"%s\"", ev->target2);
		break;
	case C_ACCESS:
		snprintf(out, outsz, "access is %s",
		    ev->open_flags == (VD_OPEN_READ | VD_OPEN_WRITE)
		        ? "read,write"
		        : ev->open_flags == VD_OPEN_READ  ? "read"
		        : ev->open_flags == VD_OPEN_WRITE ? "write"
		                                          : "none");
		break;
	default:
		snprintf(out, outsz, "value differs");
		break;
	}
}

size_t
vd_policy_explain(const struct vd_policy *pol, const struct vd_event *ev,
    struct vd_decision *out,
    void (*step)(void *ctx, const struct vd_policy_step *s), void *ctx)
{
	struct vd_policy_step st;
	char why[VD_PATH_MAX + 128], has[VD_PATH_MAX + 64];
	uint32_t failed = 0;
	const struct cond *c;
	bool truncated;
	size_t i;

	for (i = 0; pol != NULL && i < pol->nrules && ev->type < NTYPES; i++) {
		if (!(pol->rules[i].types & TYPE_BIT(ev->type)))
			continue;
		st.rule = i + 1;
		st.result = vd__rule_check(pol, ev, i, &failed);
		st.why = NULL;
		if (st.result == VD_STEP_NOMATCH) {
			c = &pol->conds[pol->rules[i].cond0 + failed];
			event_has(ev, c->kind, has, sizeof(has));
			snprintf(why, sizeof(why), "%s= does not hold: the %s",
			    vd__cond_key(c->kind), has);
			st.why = why;
		} else if (st.result == VD_STEP_UNDECIDED) {
			st.why = "a path condition met a truncated path: the "
			         "type's default decides";
		} else if (st.result == VD_STEP_NEEDS) {
			st.why = "sha256= needs the file's SHA-256, which the "
			         "daemon reads before it decides (give sha256= "
			         "in the query)";
		}
		step(ctx, &st);
		if (st.result != VD_STEP_NOMATCH)
			break;
	}
	return vd_policy_eval(pol, ev, out, &truncated);
}
