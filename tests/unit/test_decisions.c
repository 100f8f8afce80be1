/*
 * test_decisions.c — the decision log's lines: the schema's fields, JSON
 * strings for any path (quotes, newlines, bytes that are not UTF-8), what
 * is logged and what is not, and a full queue that drops and counts.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/decisions.h"

static struct vd_event *
event(const char *path)
{
	struct vd_event *ev = calloc(1, sizeof(*ev));

	cr_assert_not_null(ev);
	ev->type = VD_AUTH_OPEN;
	ev->arrival_ns = 1000;
	ev->open_flags = VD_OPEN_READ | VD_OPEN_WRITE;
	ev->proc.pid = 42;
	ev->proc.ppid = 1;
	ev->proc.uid = 1000;
	strcpy(ev->proc.exe, "/usr/bin/cat");
	snprintf(ev->target, sizeof(ev->target), "%s", path);
	return ev;
}

static size_t
line(const struct vd_event *ev, const struct vd_decision *d, uint8_t by,
    char *buf, size_t sz)
{
	struct vd_answer a = { ev, VD_AUTH_OPEN, d, by, 26500 };

	return vd_declog_format_test(
	    &a, 3, "/etc/p.rules:7", "deny open all : path=\"/x\"", buf, sz);
}

Test(decisions, a_deny_line_has_every_field_of_the_schema)
{
	struct vd_decision d = { .verdict = VD_DENY, .rule = 7 };
	struct vd_event *ev = event("/srv/a");
	char buf[8192];

	cr_assert_gt(line(ev, &d, VD_BY_WORKER, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf,
	    "{\"schema\":1,\"time\":\"1970-01-01T00:00:00.000000Z\","
	    "\"type\":\"auth.open\",\"decision\":\"deny\",\"verdict\":\"deny\","
	    "\"audit\":false,\"by\":\"rule\",\"rule\":7,"
	    "\"rule_at\":\"/etc/p.rules:7\","
	    "\"rule_text\":\"deny open all : path=\\\"/x\\\"\","
	    "\"policy_generation\":3,\"pid\":42,\"ppid\":1,\"uid\":1000,"
	    "\"exe\":\"/usr/bin/cat\",\"path\":\"/srv/a\","
	    "\"access\":\"read,write\",\"latency_us\":25.5}\n");
	free(ev);
}

Test(decisions, strings_are_json_whatever_the_path_holds)
{
	struct vd_decision d = { .verdict = VD_DENY, .rule = 1 };
	struct vd_event *ev = event("/tmp/a\"b\\c\nd\x01\xff\xc3\xa9");
	char buf[8192];

	line(ev, &d, VD_BY_WORKER, buf, sizeof(buf));
	/* Quote, backslash, newline, a control byte, a byte that is not
	 * UTF-8 (an escape this log writes for nothing else), then é. */
	cr_assert_not_null(strstr(buf,
	    "\"path\":\"/tmp/a\\\"b\\\\c\\u000ad\\u0001\\u00ff\xc3\xa9\""));
	cr_assert_eq(strchr(buf, '\n'), buf + strlen(buf) - 1, "one line");
	free(ev);
}

Test(decisions, would_deny_timer_and_refused_answers_are_told_apart)
{
	struct vd_decision d = {
		.verdict = VD_ALLOW, .would_deny = true, .rule = 2
	};
	struct vd_answer none;
	struct vd_event *ev = event("/srv/b");
	char buf[8192];

	line(ev, &d, VD_BY_WORKER, buf, sizeof(buf));
	cr_assert_not_null(
	    strstr(buf, "\"decision\":\"would-deny\",\"verdict\":\"allow\""));
	d = (struct vd_decision){ .verdict = VD_DENY };
	line(ev, &d, VD_BY_TIMER, buf, sizeof(buf));
	cr_assert_not_null(strstr(buf, "\"by\":\"timer\""));
	cr_assert_null(strstr(buf, "\"rule\""), "a default has no rule");
	/* Refused before an event existed: no process, no path. */
	none = (struct vd_answer){ NULL, VD_AUTH_EXEC, &d, VD_BY_DROP, 0 };
	vd_declog_format_test(&none, 0, NULL, NULL, buf, sizeof(buf));
	cr_assert_not_null(strstr(buf, "\"by\":\"dropped\""));
	cr_assert_null(strstr(buf, "\"pid\""));
	free(ev);
}

/* Allows are logged only with log.allows; a full queue drops, counted,
 * never blocks; the writer writes what was queued. */
Test(decisions, the_queue_drops_when_full_and_the_writer_drains_it)
{
	char path[] = "/tmp/vd-declog-XXXXXX", err[256], buf[65536];
	struct vd_decision deny = { .verdict = VD_DENY }, allow = { 0 };
	struct vd_event *ev = event("/srv/c");
	struct vd_answer a = { ev, VD_AUTH_OPEN, &deny, VD_BY_WORKER, 2000 };
	struct vd_declog_stats st;
	struct vd_declog *l;
	FILE *f;
	size_t n;
	int fd, i;

	cr_assert((fd = mkstemp(path)) >= 0);
	close(fd);
	l = vd_declog_open(path, false, 4, NULL, err, sizeof(err));
	cr_assert_not_null(l, "%s", err);
	for (i = 0; i < 6; i++)
		vd_declog_observe(l, &a);
	a.d = &allow;
	vd_declog_observe(l, &a);
	vd_declog_stats(l, &st);
	cr_assert_eq(st.dropped, 2, "4 fit, 2 dropped, the allow ignored");
	cr_assert_eq(vd_declog_start(l), 0);
	vd_declog_close(l);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	for (i = 0, n = 0; buf[n] != '\0'; n++)
		i += buf[n] == '\n';
	cr_assert_eq(i, 4, "%s", buf);
	cr_assert_null(vd_declog_open(
	    "/proc/nonexistent/x", false, 4, NULL, err, sizeof(err)));
	cr_assert_str_eq(err,
	    "[log] decisions: /proc/nonexistent/x: No such file or directory");
	cr_assert_null(
	    vd_declog_open("rel/x", false, 4, NULL, err, sizeof(err)));
	cr_assert_null(vd_declog_open(path, false, 3, NULL, err, sizeof(err)));
	unlink(path);
	free(ev);
}
