/*
 * explain.c — the text of an explanation (verdictd --explain, verdictctl
 * explain): the query, each rule passed with why, the decision and what
 * made it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <verdict/pipeline.h>
#include <verdict/policy.h>

#include "daemon/daemon.h"

struct text {
	const struct vd_policy *pol;
	char *p;
	size_t len, cap;
};

static void
add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->len + 1 >= t->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len += (size_t)n < t->cap - t->len ? (size_t)n
		                                      : t->cap - t->len - 1;
}

/* "rule N, FILE:LINE: TEXT". */
static void
add_rule(struct text *t, size_t n)
{
	struct vd_policy_rule_info ri;

	if (vd_policy_rule_info(t->pol, n, &ri))
		add(t, "rule %zu, %.*s:%u: %.*s\n", n, (int)ri.file_len,
		    ri.file, ri.line, (int)ri.text_len, ri.text);
}

static void
step(void *ctx, const struct vd_policy_step *s)
{
	struct text *t = ctx;

	if (s->result == VD_STEP_NEEDS) {
		add(t, "needs: ");
		add_rule(t, s->rule);
		add(t, "  %s\n", s->why);
		return;
	}
	if (s->result != VD_STEP_NOMATCH)
		return;
	add(t, "passed: ");
	add_rule(t, s->rule);
	add(t, "  %s\n", s->why);
}

void
vd_daemon_defaults(
    const struct vd_conf *conf, uint8_t defaults[VD_EVENT_TYPE_COUNT])
{
	unsigned t;

	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++)
		defaults[t] = conf->pipe.types[t].default_verdict;
}

int
vd_daemon_explain(const uint8_t defaults[VD_EVENT_TYPE_COUNT],
    const struct vd_policy *pol, const char *query, char *buf, size_t bufsz)
{
	struct text t = { pol, buf, 0, bufsz };
	struct vd_decision dec;
	struct vd_event *ev;
	uint8_t def;
	size_t rule;

	if (bufsz == 0)
		return -EINVAL;
	buf[0] = '\0';
	if ((ev = malloc(sizeof(*ev))) == NULL) {
		snprintf(buf, bufsz, "explain: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	if (vd_policy_query_parse(query, ev, buf, bufsz) != 0) {
		free(ev);
		return -EINVAL;
	}
	/* What the pipeline presets: the type's configured default. */
	memset(&dec, 0, sizeof(dec));
	dec.verdict = defaults[ev->type];
	dec.open_flags =
	    dec.verdict == VD_ALLOW ? VD_OPEN_READ | VD_OPEN_WRITE : 0;
	add(&t, "query: %s\n", query);
	rule = vd_policy_explain(pol, ev, &dec, step, &t);
	if (dec.needs != 0) {
		add(&t,
		    "decision: none yet: the rule above needs the file's "
		    "SHA-256; the daemon reads it, then decides\n");
		free(ev);
		return (int)t.len;
	}
	add(&t, "decision: %s%s%s\n", dec.verdict == VD_DENY ? "deny" : "allow",
	    dec.would_deny ? " (monitor: would deny)" : "",
	    dec.audit ? " (audit)" : "");
	if (rule != 0) {
		add(&t, "by: ");
		add_rule(&t, rule);
	} else if (vd_policy_default(pol, (enum vd_event_type)ev->type, &def)) {
		add(&t,
		    "by: the policy's default line for %s (no rule matched)\n",
		    vd_event_type_name((enum vd_event_type)ev->type));
	} else {
		add(&t,
		    "by: the type's default in the configuration (no rule "
		    "matched, no default line)\n");
	}
	free(ev);
	return (int)t.len;
}
