/*
 * test_policy.c — the rules language: every condition and decision, first
 * match, sets, includes, defaults, truncation, the access and cache
 * semantics, what a backend cannot see, a corpus of broken files with their
 * exact messages, and a 100 000-rule policy against a brute-force
 * reference evaluator.
 */
#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <verdict/policy.h>

#include "util/sha256.h"
#include "util/splitmix.h"

#ifndef VD_TEST_DATA
#define VD_TEST_DATA "tests/data"
#endif

#define CAN_ALL                                                                \
	(VD_POLICY_CAN_ACCESS | VD_POLICY_CAN_TEAM_ID | VD_POLICY_CAN_SHA256)

static struct vd_policy *
compile_can(
    const char *text, unsigned can, struct vd_policy_error *err, int *rc)
{
	return vd_policy_compile(
	    text, strlen(text), "test.rules", can, err, rc);
}

static struct vd_policy *
must(const char *text)
{
	struct vd_policy_error err;
	struct vd_policy *pol;
	int rc = 1;

	pol = compile_can(text, CAN_ALL, &err, &rc);
	cr_assert_not_null(
	    pol, "%s:%d:%d: %s", err.file, err.line, err.column, err.msg);
	cr_assert_eq(rc, 0);
	return pol;
}

/* The error as the corpus writes it: base:line:col: msg. */
static void
fmt_err(const struct vd_policy_error *err, char *out, size_t n)
{
	const char *b = strrchr(err->file, '/');

	snprintf(out, n, "%s:%d:%d: %s", b ? b + 1 : err->file, err->line,
	    err->column, err->msg);
}

static void
must_fail(const char *text, unsigned can, const char *expect)
{
	struct vd_policy_error err;
	char got[600];
	int rc = 0;

	cr_assert_null(compile_can(text, can, &err, &rc), "%s", text);
	cr_assert_eq(rc, -EINVAL);
	fmt_err(&err, got, sizeof(got));
	cr_assert_str_eq(got, expect);
}

static struct vd_event *
ev_new(enum vd_event_type t, const char *exe, const char *path)
{
	struct vd_event *ev = calloc(1, sizeof(*ev));

	cr_assert_not_null(ev);
	ev->type = (uint16_t)t;
	ev->proc.pid = 100;
	ev->proc.uid = 501;
	ev->proc.gid = 20;
	snprintf(ev->proc.exe, sizeof(ev->proc.exe), "%s", exe);
	snprintf(ev->proc.comm, sizeof(ev->proc.comm), "%s",
	    strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe);
	snprintf(ev->target, sizeof(ev->target), "%s", path);
	return ev;
}

/* Evaluates with *out preset to a marker the policy must not leave. */
static size_t
eval(const struct vd_policy *pol, const struct vd_event *ev,
    struct vd_decision *out, bool *trunc)
{
	bool t;

	out->verdict = 7;
	out->audit = true;
	out->cache = true;
	out->open_flags = 0x55;
	return vd_policy_eval(pol, ev, out, trunc ? trunc : &t);
}

static size_t
rule_for(const struct vd_policy *pol, const struct vd_event *ev)
{
	struct vd_decision d;

	return eval(pol, ev, &d, NULL);
}

Test(policy, decisions_and_default_untouched)
{
	struct vd_policy *pol = must("# c\n\n"
	                             "deny open all : path=/etc/shadow\n"
	                             "allow,audit exec all : prefix=/bin/\n");
	struct vd_event *ev = ev_new(VD_AUTH_OPEN, "/bin/cat", "/etc/shadow");
	struct vd_decision d;

	cr_assert_eq(vd_policy_rules(pol), 2);
	cr_assert_eq(eval(pol, ev, &d, NULL), 1);
	cr_assert_eq(d.verdict, VD_DENY);
	cr_assert_eq(d.audit, false);
	cr_assert_eq(d.cache, false);
	cr_assert_eq(d.open_flags, 0);
	ev->type = VD_AUTH_EXEC;
	strcpy(ev->target, "/bin/ls");
	cr_assert_eq(eval(pol, ev, &d, NULL), 2);
	cr_assert_eq(d.verdict, VD_ALLOW);
	cr_assert_eq(d.audit, true);
	cr_assert_eq(d.open_flags, VD_OPEN_READ | VD_OPEN_WRITE);
	/* Nothing matches, no default line: *out stays as given. */
	strcpy(ev->target, "/usr/bin/ls");
	cr_assert_eq(eval(pol, ev, &d, NULL), 0);
	cr_assert_eq(d.verdict, 7);
	cr_assert_eq(d.open_flags, 0x55);
	cr_assert_eq(d.audit, true);
	free(ev);
	vd_policy_free(pol);
}

Test(policy, default_lines)
{
	struct vd_policy *pol = must("default open,exec deny\n"
	                             "default unlink allow\n"
	                             "allow open all : prefix=/ok/\n");
	struct vd_event *ev = ev_new(VD_AUTH_OPEN, "/bin/cat", "/no");
	struct vd_decision d;

	cr_assert_eq(eval(pol, ev, &d, NULL), 0);
	cr_assert_eq(d.verdict, VD_DENY);
	cr_assert_eq(d.audit, false);
	cr_assert_eq(d.cache, false);
	cr_assert_eq(d.open_flags, 0);
	strcpy(ev->target, "/ok/x");
	cr_assert_eq(eval(pol, ev, &d, NULL), 1);
	cr_assert_eq(d.verdict, VD_ALLOW);
	ev->type = VD_AUTH_UNLINK;
	cr_assert_eq(eval(pol, ev, &d, NULL), 0);
	cr_assert_eq(d.verdict, VD_ALLOW);
	cr_assert_eq(d.open_flags, VD_OPEN_READ | VD_OPEN_WRITE);
	ev->type = VD_AUTH_MOUNT; /* no default line */
	cr_assert_eq(eval(pol, ev, &d, NULL), 0);
	cr_assert_eq(d.verdict, 7);
	/* A NOTIFY type is never decided. */
	ev->type = VD_NOTIFY_CLOSE;
	cr_assert_eq(eval(pol, ev, &d, NULL), 0);
	cr_assert_eq(d.verdict, 7);
	free(ev);
	vd_policy_free(pol);
	must_fail("default open deny\ndefault exec,open allow\n", CAN_ALL,
	    "test.rules:2:9: a default for open is already set");
}

Test(policy, subject_conditions)
{
	struct vd_policy *pol = must(
	    "deny open uid=0 : all\n"
	    "deny open gid=5 : all\n"
	    "deny open pid=42 : all\n"
	    "deny open exe=/usr/bin/curl : all\n"
	    "deny open exe_prefix=/opt/ : all\n"
	    "deny open comm=nc : all\n"
	    "deny open team_id=ABCDE12345 : all\n"
	    "deny open signing_id=com.apple.ls : all\n"
	    "deny open platform=yes : all\n"
	    "deny open cdhash=00112233445566778899aabbccddeeff00112233 : all\n"
	    "deny open platform=no uid=7 : all\n"
	    "allow open all : all\n");
	struct vd_event *ev = ev_new(VD_AUTH_OPEN, "/bin/cat", "/f");

	cr_assert_eq(rule_for(pol, ev), 12);
	ev->proc.uid = 0;
	cr_assert_eq(rule_for(pol, ev), 1);
	ev->proc.uid = 501;
	ev->proc.gid = 5;
	cr_assert_eq(rule_for(pol, ev), 2);
	ev->proc.gid = 20;
	ev->proc.pid = 42;
	cr_assert_eq(rule_for(pol, ev), 3);
	ev->proc.pid = 43;
	strcpy(ev->proc.exe, "/usr/bin/curl");
	cr_assert_eq(rule_for(pol, ev), 4);
	strcpy(ev->proc.exe, "/usr/bin/curl2");
	cr_assert_eq(rule_for(pol, ev), 12, "exe= is exact");
	strcpy(ev->proc.exe, "/opt/x/y");
	cr_assert_eq(rule_for(pol, ev), 5);
	strcpy(ev->proc.exe, "/bin/cat");
	strcpy(ev->proc.comm, "nc");
	cr_assert_eq(rule_for(pol, ev), 6);
	strcpy(ev->proc.comm, "ncat");
	strcpy(ev->proc.team_id, "ABCDE12345");
	cr_assert_eq(rule_for(pol, ev), 7);
	strcpy(ev->proc.team_id, "ABCDE1234");
	strcpy(ev->proc.signing_id, "com.apple.ls");
	cr_assert_eq(rule_for(pol, ev), 8);
	ev->proc.signing_id[0] = '\0';
	ev->proc.platform_binary = true;
	cr_assert_eq(rule_for(pol, ev), 9);
	ev->proc.platform_binary = false;
	for (int i = 0; i < 20; i++)
		ev->proc.cdhash[i] = (uint8_t)(i % 16 * 0x11);
	cr_assert_eq(rule_for(pol, ev), 10);
	ev->proc.cdhash[19] = 0;
	cr_assert_eq(rule_for(pol, ev), 12);
	/* Two conditions: both must hold. */
	ev->proc.uid = 7;
	cr_assert_eq(rule_for(pol, ev), 11);
	ev->proc.platform_binary = true;
	cr_assert_eq(rule_for(pol, ev), 9);
	free(ev);
	vd_policy_free(pol);
}

Test(policy, object_conditions)
{
	struct vd_policy *pol =
	    must("deny open all : path=/etc/shadow\n"
	         "deny open all : prefix=/srv/secrets/\n"
	         "deny open all : suffix=.key\n"
	         "deny rename,link all : target=/etc/passwd\n"
	         "deny clone,copyfile all : target_prefix=/private/\n"
	         "deny rename all : prefix=/a/ target_prefix=/b/\n"
	         "allow any all : all\n");
	struct vd_event *ev = ev_new(VD_AUTH_OPEN, "/bin/cat", "/etc/shadow");

	cr_assert_eq(rule_for(pol, ev), 1);
	strcpy(ev->target, "/etc/shadow2");
	cr_assert_eq(rule_for(pol, ev), 7, "path= is exact");
	strcpy(ev->target, "/srv/secrets/a/b");
	cr_assert_eq(rule_for(pol, ev), 2);
	strcpy(ev->target, "/srv/secrets");
	cr_assert_eq(rule_for(pol, ev), 7);
	strcpy(ev->target, "/home/u/id.key");
	cr_assert_eq(rule_for(pol, ev), 3);
	strcpy(ev->target, ".key");
	cr_assert_eq(rule_for(pol, ev), 3);
	strcpy(ev->target, "key");
	cr_assert_eq(rule_for(pol, ev), 7);
	ev->type = VD_AUTH_RENAME;
	strcpy(ev->target, "/tmp/x");
	strcpy(ev->target2, "/etc/passwd");
	cr_assert_eq(rule_for(pol, ev), 4);
	ev->type = VD_AUTH_LINK;
	cr_assert_eq(rule_for(pol, ev), 4);
	ev->type = VD_AUTH_CLONE;
	cr_assert_eq(rule_for(pol, ev), 7);
	strcpy(ev->target2, "/private/x");
	cr_assert_eq(rule_for(pol, ev), 5);
	ev->type = VD_AUTH_RENAME;
	strcpy(ev->target, "/a/1");
	strcpy(ev->target2, "/c/1");
	cr_assert_eq(rule_for(pol, ev), 7);
	strcpy(ev->target2, "/b/1");
	cr_assert_eq(rule_for(pol, ev), 6);
	/* The type list is honoured: open does not see rename rules. */
	ev->type = VD_AUTH_OPEN;
	cr_assert_eq(rule_for(pol, ev), 7);
	free(ev);
	vd_policy_free(pol);
}

Test(policy, first_match_order)
{
	struct vd_policy *a = must("allow open all : prefix=/srv/\n"
	                           "deny open all : path=/srv/secret\n");
	struct vd_policy *b = must("deny open all : path=/srv/secret\n"
	                           "allow open all : prefix=/srv/\n"
	                           "deny open all : suffix=cret\n"
	                           "deny open all : all\n");
	struct vd_event *ev = ev_new(VD_AUTH_OPEN, "/bin/cat", "/srv/secret");
	struct vd_decision d;

	/* A broad early rule shadows a narrow later one. */
	cr_assert_eq(eval(a, ev, &d, NULL), 1);
	cr_assert_eq(d.verdict, VD_ALLOW);
	/* A narrow early rule wins over a broad later one. */
	cr_assert_eq(eval(b, ev, &d, NULL), 1);
	cr_assert_eq(d.verdict, VD_DENY);
	strcpy(ev->target, "/srv/other");
	cr_assert_eq(eval(b, ev, &d, NULL), 2);
	cr_assert_eq(d.verdict, VD_ALLOW);
	strcpy(ev->target, "/x/secret");
	cr_assert_eq(eval(b, ev, &d, NULL), 3);
	strcpy(ev->target, "/x/y");
	cr_assert_eq(eval(b, ev, &d, NULL), 4);
	free(ev);
	vd_policy_free(a);
	vd_policy_free(b);
}

Test(policy, sets)
{
	struct vd_policy *pol =
	    must("%trusted = ABCDE12345, FGHIJ67890\n"
	         "%paths=/etc/shadow,\"/etc/my file\" , /etc/sudoers\n"
	         "%uids = 0, 1\n"
	         "%exts = .pem, .key # comment\n"
	         "allow exec team_id=%trusted : all\n"
	         "deny open all : path=%paths\n"
	         "deny unlink uid=%uids : suffix=%exts\n");
	struct vd_event *ev = ev_new(VD_AUTH_EXEC, "/x", "/x");

	strcpy(ev->proc.team_id, "FGHIJ67890");
	cr_assert_eq(rule_for(pol, ev), 1);
	strcpy(ev->proc.team_id, "ABCDE12345");
	cr_assert_eq(rule_for(pol, ev), 1);
	strcpy(ev->proc.team_id, "ZZ");
	cr_assert_eq(rule_for(pol, ev), 0);
	ev->type = VD_AUTH_OPEN;
	strcpy(ev->target, "/etc/my file");
	cr_assert_eq(rule_for(pol, ev), 2);
	strcpy(ev->target, "/etc/sudoers");
	cr_assert_eq(rule_for(pol, ev), 2);
	strcpy(ev->target, "/etc/hosts");
	cr_assert_eq(rule_for(pol, ev), 0);
	ev->type = VD_AUTH_UNLINK;
	ev->proc.uid = 1;
	strcpy(ev->target, "/a.key");
	cr_assert_eq(rule_for(pol, ev), 3);
	ev->proc.uid = 2;
	cr_assert_eq(rule_for(pol, ev), 0);
	free(ev);
	vd_policy_free(pol);
	must_fail("deny open uid=%nope : all\n", CAN_ALL,
	    "test.rules:1:15: undefined set %nope (a set must be defined "
	    "before use)");
	must_fail("%u = 0, x\ndeny open uid=%u : all\n", CAN_ALL,
	    "test.rules:2:15: member \"x\" of %u: expected a decimal uid "
	    "(0 to 4294967295), got \"x\"");
	must_fail("%u = 0\n%u = 1\n", CAN_ALL,
	    "test.rules:2:1: set %u is already defined");
}

Test(policy, quoted_values)
{
	struct vd_policy *pol =
	    must("deny open exe=\"/Applications/My App.app/x\" : "
	         "path=\"/Users/a/My \\\"Docs\\\"/x\\\\y\"\n"
	         "deny open all : path=\"/p#q\" # comment\n"
	         "deny open all : path=/a#b\n");
	struct vd_event *ev = ev_new(VD_AUTH_OPEN, "/Applications/My App.app/x",
	    "/Users/a/My \"Docs\"/x\\y");

	cr_assert_eq(rule_for(pol, ev), 1);
	strcpy(ev->proc.exe, "/bin/cat");
	cr_assert_eq(rule_for(pol, ev), 0);
	strcpy(ev->target, "/p#q");
	cr_assert_eq(rule_for(pol, ev), 2);
	strcpy(ev->target, "/a#b");
	cr_assert_eq(rule_for(pol, ev), 3, "# inside a word is not a comment");
	free(ev);
	vd_policy_free(pol);
	must_fail("deny open all : path=\"/a\n", CAN_ALL,
	    "test.rules:1:22: unterminated quoted string");
	must_fail("deny open all : path=\"/a\\n\"\n", CAN_ALL,
	    "test.rules:1:25: unknown escape \"\\n\" in a quoted string (only "
	    "\\\" and \\\\ are allowed)");
	must_fail("deny open all : path=\"/a\"b\n", CAN_ALL,
	    "test.rules:1:26: expected a blank after the closing quote, got "
	    "\"b\"");
}

Test(policy, access_semantics)
{
	/* Allow reads, refuse writes, under /x. */
	struct vd_policy *pol = must("deny open all : prefix=/x/ access=write\n"
	                             "allow open all : prefix=/x/\n"
	                             "allow open all : path=/r access=read\n"
	                             "default open deny\n");
	struct vd_event *ev = ev_new(VD_AUTH_OPEN, "/bin/cat", "/x/f");
	struct vd_decision d;

	ev->open_flags = VD_OPEN_READ;
	cr_assert_eq(eval(pol, ev, &d, NULL), 2);
	cr_assert_eq(d.verdict, VD_ALLOW);
	cr_assert_eq(d.open_flags, VD_OPEN_READ | VD_OPEN_WRITE);
	ev->open_flags = VD_OPEN_READ | VD_OPEN_WRITE;
	cr_assert_eq(eval(pol, ev, &d, NULL), 1);
	cr_assert_eq(d.verdict, VD_DENY);
	cr_assert_eq(d.open_flags, 0);
	ev->open_flags = VD_OPEN_WRITE;
	cr_assert_eq(eval(pol, ev, &d, NULL), 1);
	strcpy(ev->target, "/r");
	cr_assert_eq(eval(pol, ev, &d, NULL), 0, "a write-only open of /r");
	cr_assert_eq(d.verdict, VD_DENY);
	ev->open_flags = VD_OPEN_READ | VD_OPEN_WRITE;
	cr_assert_eq(eval(pol, ev, &d, NULL), 3);
	free(ev);
	vd_policy_free(pol);
	must_fail("deny open,exec all : access=write\n", CAN_ALL,
	    "test.rules:1:22: access= applies only to rules for open alone");
	must_fail("deny open all : access=rw\n", CAN_ALL,
	    "test.rules:1:24: expected \"read\" or \"write\" after access=, "
	    "got \"rw\"");
}

Test(policy, cache_semantics)
{
	struct vd_policy *pol =
	    must("allow,cache open exe_prefix=/usr/bin/ : suffix=.so\n"
	         "allow,cache open exe=/bin/a : path=/p prefix=/\n"
	         "allow open exe=/bin/b : path=/p\n"
	         "allow,cache,audit open exe=/bin/c : path=/p\n"
	         "deny,cache open exe=/bin/d : path=/p\n"
	         "allow,cache open uid=501 : path=/p\n"
	         "allow,cache open exe=/bin/e : path=/p access=read\n"
	         "allow,cache rename exe=/bin/f : target=/q\n"
	         "allow,cache open all : all\n");
	static const struct {
		const char *exe;
		size_t rule;
		bool cache;
	} cases[] = {
		{ "/usr/bin/x", 1, true },
		{ "/bin/a", 2, true },
		{ "/bin/b", 3, false },
		{ "/bin/c", 4, false },
		{ "/bin/d", 5, false },
		{ "/bin/z", 6, false },
		{ "/bin/e", 7, false },
		{ "/bin/y", 9, true },
	};
	struct vd_event *ev = ev_new(VD_AUTH_OPEN, "/x", "/lib/a.so");
	struct vd_decision d;
	size_t i;

	ev->open_flags = VD_OPEN_READ;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strcpy(ev->proc.exe, cases[i].exe);
		strcpy(ev->target, i == 0 ? "/lib/a.so" : "/p");
		ev->proc.uid = strcmp(cases[i].exe, "/bin/z") == 0 ? 501 : 1;
		cr_assert_eq(
		    eval(pol, ev, &d, NULL), cases[i].rule, "%s", cases[i].exe);
		cr_assert_eq(d.cache, cases[i].cache, "%s", cases[i].exe);
		cr_assert_eq(d.audit, i == 3);
	}
	ev->type = VD_AUTH_RENAME;
	strcpy(ev->proc.exe, "/bin/f");
	strcpy(ev->target2, "/q");
	cr_assert_eq(eval(pol, ev, &d, NULL), 8);
	cr_assert_eq(d.cache, false, "a target= rule is not cached");
	free(ev);
	vd_policy_free(pol);
}

Test(policy, truncated_paths)
{
	struct vd_policy *pol = must("allow open uid=0 : all\n"
	                             "deny open exe=/bin/x : prefix=/a/\n"
	                             "deny open all : prefix=/a/\n"
	                             "allow open all : all\n"
	                             "default open deny\n"
	                             "deny rename all : target_prefix=/b/\n"
	                             "allow rename all : all\n"
	                             "deny exec exe=/bin/sh : all\n"
	                             "allow exec all : all\n");
	struct vd_event *ev = ev_new(VD_AUTH_OPEN, "/bin/cat", "/a/b");
	struct vd_decision d;
	bool trunc;

	cr_assert_eq(eval(pol, ev, &d, &trunc), 3);
	cr_assert_not(trunc);
	/* Cut: the deny on the prefix cannot be decided, so the default,
	 * not the allow-all of rule 4. */
	ev->target_truncated = true;
	cr_assert_eq(eval(pol, ev, &d, &trunc), 0);
	cr_assert(trunc);
	cr_assert_eq(d.verdict, VD_DENY);
	/* A rule that does not look at the path still decides first. */
	ev->proc.uid = 0;
	cr_assert_eq(eval(pol, ev, &d, &trunc), 1);
	cr_assert_not(trunc);
	cr_assert_eq(d.verdict, VD_ALLOW);
	ev->proc.uid = 501;
	ev->target_truncated = false;
	/* target2 cut */
	ev->type = VD_AUTH_RENAME;
	strcpy(ev->target2, "/c/x");
	cr_assert_eq(eval(pol, ev, &d, &trunc), 6);
	ev->target2_truncated = true;
	cr_assert_eq(eval(pol, ev, &d, &trunc), 0);
	cr_assert(trunc);
	cr_assert_eq(d.verdict, 7, "no default for rename: left as given");
	/* exe cut */
	ev->type = VD_AUTH_EXEC;
	ev->target2_truncated = false;
	cr_assert_eq(eval(pol, ev, &d, &trunc), 8);
	ev->proc.exe_truncated = true;
	cr_assert_eq(eval(pol, ev, &d, &trunc), 0);
	cr_assert(trunc);
	free(ev);
	vd_policy_free(pol);
}

Test(policy, can_refusals)
{
	struct vd_policy_error err;
	struct vd_policy *pol;
	int rc;

	must_fail("deny open all : prefix=/x access=write\n",
	    VD_POLICY_CAN_TEAM_ID,
	    "test.rules:1:27: this backend cannot enforce access=: fanotify "
	    "does not report the opener's access mode");
	must_fail("allow exec team_id=X : all\n", VD_POLICY_CAN_ACCESS,
	    "test.rules:1:12: this backend cannot enforce team_id=: only "
	    "Endpoint Security reports code signing (team_id, signing_id, "
	    "cdhash, platform)");
	must_fail("allow exec signing_id=X : all\n", 0,
	    "test.rules:1:12: this backend cannot enforce signing_id=: only "
	    "Endpoint Security reports code signing (team_id, signing_id, "
	    "cdhash, platform)");
	must_fail("allow exec platform=yes : all\n", 0,
	    "test.rules:1:12: this backend cannot enforce platform=: only "
	    "Endpoint Security reports code signing (team_id, signing_id, "
	    "cdhash, platform)");
	must_fail("allow exec "
	          "cdhash=00112233445566778899aabbccddeeff00112233 : all\n",
	    0,
	    "test.rules:1:12: this backend cannot enforce cdhash=: only "
	    "Endpoint Security reports code signing (team_id, signing_id, "
	    "cdhash, platform)");
	must_fail("allow exec all : target_team_id=X\n", 0,
	    "test.rules:1:18: this backend cannot enforce target_team_id=: "
	    "only Endpoint Security reports code signing (team_id, "
	    "signing_id, cdhash, platform)");
	/* The program run has a signature only on exec. */
	must_fail("allow open all : target_team_id=X\n", VD_POLICY_CAN_TEAM_ID,
	    "test.rules:1:18: target_team_id= applies only to rules for exec "
	    "alone: only exec runs a program");
	must_fail("allow exec,open all : target_signing_id=X\n",
	    VD_POLICY_CAN_TEAM_ID,
	    "test.rules:1:23: target_signing_id= applies only to rules for "
	    "exec alone: only exec runs a program");
	must_fail("allow exec all : target_platform=maybe\n",
	    VD_POLICY_CAN_TEAM_ID,
	    "test.rules:1:34: expected \"yes\" or \"no\" after "
	    "target_platform=, got \"maybe\"");
	must_fail("allow exec all : target_cdhash=00\n", VD_POLICY_CAN_TEAM_ID,
	    "test.rules:1:32: expected 40 hexadecimal digits after "
	    "target_cdhash=, got \"00\"");
	/* ... and goes after the ":", as the object. */
	must_fail("allow exec target_team_id=X : all\n", VD_POLICY_CAN_TEAM_ID,
	    "test.rules:1:12: target_team_id= is an object condition: it "
	    "goes after the \":\"");
	/* What every backend sees is accepted with can = 0. */
	pol = compile_can("deny open uid=1 gid=2 pid=3 exe=/a exe_prefix=/b "
	                  "comm=c : path=/d prefix=/e suffix=f\n"
	                  "deny rename all : target=/x target_prefix=/y\n",
	    0, &err, &rc);
	cr_assert_not_null(pol, "%s", err.msg);
	vd_policy_free(pol);
}

/* ---- files: includes and the broken corpus ----------------------------- */

static void
write_file(const char *dir, const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	cr_assert_not_null(f, "%s", p);
	fputs(text, f);
	fclose(f);
}

static void
make_dir(const char *dir, const char *sub)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, sub);
	cr_assert_eq(mkdir(p, 0700), 0, "%s", p);
}

static void
rm_tree(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

Test(policy, includes)
{
	char dir[] = "/tmp/test_policy.XXXXXX", top[600];
	struct vd_policy_error err;
	struct vd_policy *pol;
	struct vd_event *ev;
	char got[600];
	int rc;

	cr_assert_not_null(mkdtemp(dir));
	make_dir(dir, "conf");
	make_dir(dir, "conf/rules.d");
	make_dir(dir, "conf/rules.d/sub");
	write_file(dir, "conf/main.rules",
	    "%s = /etc/a\n"
	    "deny open all : path=/first\n"
	    "include rules.d\n"
	    "deny open all : path=/last\n");
	/* Name order, not creation order; only *.rules; sets carry over. */
	write_file(dir, "conf/rules.d/20-b.rules", "deny open all : path=/b\n");
	write_file(dir, "conf/rules.d/10-a.rules",
	    "deny open all : path=%s\ninclude sub\n");
	write_file(dir, "conf/rules.d/30-c.txt", "this is ignored\n");
	write_file(dir, "conf/rules.d/sub/x.rules",
	    "%t = /etc/t\ndeny open all : path=/sub\n");
	snprintf(top, sizeof(top), "%s/conf/main.rules", dir);
	pol = vd_policy_load(top, CAN_ALL, &err, &rc);
	cr_assert_not_null(
	    pol, "%s:%d:%d: %s", err.file, err.line, err.column, err.msg);
	cr_assert_eq(vd_policy_rules(pol), 5);
	ev = ev_new(VD_AUTH_OPEN, "/bin/cat", "/first");
	cr_assert_eq(rule_for(pol, ev), 1);
	strcpy(ev->target, "/etc/a");
	cr_assert_eq(rule_for(pol, ev), 2);
	strcpy(ev->target, "/sub");
	cr_assert_eq(rule_for(pol, ev), 3);
	strcpy(ev->target, "/b");
	cr_assert_eq(rule_for(pol, ev), 4);
	strcpy(ev->target, "/last");
	cr_assert_eq(rule_for(pol, ev), 5);
	vd_policy_free(pol);
	free(ev);

	/* An error in an included file names that file and its line. */
	write_file(dir, "conf/rules.d/20-b.rules",
	    "deny open all : path=/b\ndeny open all : pth=/x\n");
	cr_assert_null(vd_policy_load(top, CAN_ALL, &err, &rc));
	cr_assert_eq(rc, -EINVAL);
	fmt_err(&err, got, sizeof(got));
	cr_assert_str_eq(got,
	    "20-b.rules:2:17: expected an object condition (path=, prefix=, "
	    "suffix=, access=, target=, target_prefix=, target_team_id=, "
	    "target_signing_id=, target_platform=, target_cdhash=, sha256=) "
	    "or \"all\", got "
	    "\"pth=/x\"");

	/* A loop is refused. */
	write_file(dir, "conf/rules.d/20-b.rules", "include ..\n");
	cr_assert_null(vd_policy_load(top, CAN_ALL, &err, &rc));
	cr_assert_eq(rc, -EINVAL);
	cr_assert(strstr(err.msg, "include loop") != NULL, "%s", err.msg);
	cr_assert(strstr(err.msg, "main.rules") != NULL, "%s", err.msg);
	cr_assert_eq(err.line, 1);
	cr_assert_eq(err.column, 9);

	/* A missing directory is an error. */
	write_file(dir, "conf/rules.d/20-b.rules", "include nope\n");
	cr_assert_null(vd_policy_load(top, CAN_ALL, &err, &rc));
	cr_assert_eq(rc, -ENOENT);
	fmt_err(&err, got, sizeof(got));
	cr_assert_str_eq(got,
	    "20-b.rules:1:9: include: cannot open directory \"nope\": No such "
	    "file or directory");

	/* A missing top file. */
	snprintf(top, sizeof(top), "%s/none.rules", dir);
	cr_assert_null(vd_policy_load(top, CAN_ALL, &err, &rc));
	cr_assert_eq(rc, -ENOENT);
	cr_assert_eq(err.line, 0);
	rm_tree(dir);
}

Test(policy, include_depth)
{
	char dir[] = "/tmp/test_policy.XXXXXX", top[600];
	struct vd_policy_error err;
	struct vd_policy *pol;
	int rc, i;

	cr_assert_not_null(mkdtemp(dir));
	/* d/a.rules includes d/d, ... : 8 levels are fine, 9 are not. */
	for (i = 0; i <= 9; i++) {
		char name[64] = "d", file[80];
		int k;

		for (k = 0; k < i; k++)
			strcat(name, "/d");
		make_dir(dir, name);
		snprintf(file, sizeof(file), "%s/a.rules", name);
		write_file(dir, file,
		    i < 8 ? "deny open all : path=/x\ninclude d\n"
		          : "deny open all : path=/y\n");
	}
	snprintf(top, sizeof(top), "%s/d/a.rules", dir);
	pol = vd_policy_load(top, CAN_ALL, &err, &rc);
	cr_assert_not_null(pol, "%s:%d: %s", err.file, err.line, err.msg);
	cr_assert_eq(vd_policy_rules(pol), 9);
	vd_policy_free(pol);
	snprintf(top, sizeof(top), "%s/d/d/d/d/d/d/d/d/d/a.rules", dir);
	write_file(dir, "d/d/d/d/d/d/d/d/d/a.rules", "include d\n");
	snprintf(top, sizeof(top), "%s/d/a.rules", dir);
	cr_assert_null(vd_policy_load(top, CAN_ALL, &err, &rc));
	cr_assert_str_eq(err.msg, "includes nested more than 8 deep");
	rm_tree(dir);
}

/* Writes n bytes of comment lines. */
static void
write_comments(const char *dir, const char *name, size_t n)
{
	char p[512], line[1024];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	cr_assert_not_null(f, "%s", p);
	memset(line, 'x', sizeof(line) - 1);
	line[0] = '#';
	line[sizeof(line) - 1] = '\n';
	for (; n >= sizeof(line); n -= sizeof(line))
		cr_assert_eq(fwrite(line, 1, sizeof(line), f), sizeof(line));
	cr_assert_eq(fwrite(line, 1, n, f), n);
	cr_assert_eq(fclose(f), 0);
}

/* Loads path, expects it refused with rc and a message (fmt_err's, with
 * the file's directory cut) that starts with expect. */
static void
expect_unreadable(const char *path, int rc, const char *expect)
{
	struct vd_policy_error err;
	char got[600];
	int r = 0;

	cr_assert_null(vd_policy_load(path, CAN_ALL, &err, &r), "%s", path);
	cr_assert_eq(r, rc, "%s: rc %d", path, r);
	fmt_err(&err, got, sizeof(got));
	cr_assert_eq(strncmp(got, expect, strlen(expect)), 0,
	    "\"%s\" should start with \"%s\"", got, expect);
}

/* A FIFO, a device or a file too large is refused at once, as the top file
 * or in an include, and the message names it.  The timeout fails a reader
 * that blocks on the FIFO. */
Test(policy, files_that_are_not_rules_files, .timeout = 20)
{
	char dir[] = "/tmp/test_policy.XXXXXX", p[600];

	cr_assert_not_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/fifo.rules", dir);
	cr_assert_eq(mkfifo(p, 0600), 0);
	expect_unreadable(
	    p, -EINVAL, "fifo.rules:0:0: not a regular file (a FIFO)");
	expect_unreadable("/dev/zero", -EINVAL,
	    "zero:0:0: not a regular file (a character device)");
	expect_unreadable(dir, -EINVAL, "test_policy.");

	/* 16 MiB is the most; the file's size says so before any read. */
	snprintf(p, sizeof(p), "%s/big.rules", dir);
	write_file(dir, "big.rules", "");
	cr_assert_eq(truncate(p, (16 << 20) + 1), 0);
	expect_unreadable(p, -EINVAL, "big.rules:0:0: larger than 16 MiB");
	cr_assert_eq(unlink(p), 0);

	/* In an included directory: the include line is the place. */
	make_dir(dir, "d");
	write_file(dir, "top.rules", "deny open all : path=/a\ninclude d\n");
	write_file(dir, "d/a.rules", "deny open all : path=/b\n");
	snprintf(p, sizeof(p), "%s/d/b.rules", dir);
	cr_assert_eq(mkfifo(p, 0600), 0);
	snprintf(p, sizeof(p), "%s/top.rules", dir);
	expect_unreadable(p, -EINVAL, "top.rules:2:9: cannot read \"");
	{
		struct vd_policy_error err;
		int rc;

		cr_assert_null(vd_policy_load(p, CAN_ALL, &err, &rc));
		cr_assert_not_null(
		    strstr(err.msg, "/d/b.rules\": not a regular file"), "%s",
		    err.msg);
	}

	/* The limit holds for the files together, includes and all. */
	snprintf(p, sizeof(p), "%s/d/b.rules", dir);
	cr_assert_eq(unlink(p), 0);
	write_comments(dir, "d/a.rules", 10 << 20);
	write_comments(dir, "d/b.rules", 6 << 20);
	snprintf(p, sizeof(p), "%s/top.rules", dir);
	expect_unreadable(p, -EINVAL, "top.rules:2:9: cannot read \"");
	{
		struct vd_policy_error err;
		int rc;

		cr_assert_null(vd_policy_load(p, CAN_ALL, &err, &rc));
		cr_assert_not_null(strstr(err.msg,
		                       "/d/b.rules\": the policy and its "
		                       "includes are larger than 16 MiB "
		                       "together"),
		    "%s", err.msg);
	}
	write_comments(dir, "d/b.rules", (6 << 20) - 200);
	{
		struct vd_policy_error err;
		struct vd_policy *pol;
		int rc;

		pol = vd_policy_load(p, CAN_ALL, &err, &rc);
		cr_assert_not_null(
		    pol, "%s:%d: %s", err.file, err.line, err.msg);
		cr_assert_eq(vd_policy_rules(pol), 1);
		vd_policy_free(pol);
	}
	rm_tree(dir);
}

/* Each file holds "# expect: <message>" and maybe "# can: none". */
Test(policy, broken_corpus)
{
	const char *dir = VD_TEST_DATA "/policies";
	struct dirent *de;
	int files = 0;
	DIR *d;

	d = opendir(dir);
	cr_assert_not_null(d, "%s", dir);
	while ((de = readdir(d)) != NULL) {
		char path[1024], *text = NULL, *ex, *nl, want[600], got[600];
		struct vd_policy_error err;
		unsigned can = CAN_ALL;
		size_t cap = 0;
		FILE *f;
		int rc;
		size_t l = strlen(de->d_name);

		if (l < 7 || strcmp(de->d_name + l - 6, ".rules") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		f = fopen(path, "r");
		cr_assert_not_null(f);
		cr_assert(getdelim(&text, &cap, '\0', f) > 0);
		fclose(f);
		ex = strstr(text, "# expect: ");
		cr_assert_not_null(ex, "%s has no expect line", path);
		ex += strlen("# expect: ");
		nl = strchr(ex, '\n');
		snprintf(want, sizeof(want), "%.*s", (int)(nl - ex), ex);
		if (strstr(text, "# can: none\n") != NULL)
			can = 0;
		free(text);
		cr_assert_null(
		    vd_policy_load(path, can, &err, &rc), "%s", path);
		cr_assert(rc < 0);
		fmt_err(&err, got, sizeof(got));
		cr_expect_str_eq(got, want, "%s", de->d_name);
		files++;
	}
	closedir(d);
	cr_assert_geq(files, 15);
}

Test(policy, encoding_errors)
{
	char line[5000];

	must_fail("deny open all : path=/a\x01\n", CAN_ALL,
	    "test.rules:1:24: control character 0x01 is not allowed");
	must_fail("deny open all : path=/a\r\n", CAN_ALL,
	    "test.rules:1:24: control character 0x0d is not allowed");
	must_fail("# \xc3\x28\n", CAN_ALL, "test.rules:1:3: invalid UTF-8");
	must_fail("# \xed\xa0\x80 surrogate\n", CAN_ALL,
	    "test.rules:1:3: invalid UTF-8");
	must_fail(
	    "# \xc0\xaf overlong\n", CAN_ALL, "test.rules:1:3: invalid UTF-8");
	memset(line, '#', 4097);
	line[4097] = '\n';
	line[4098] = '\0';
	must_fail(
	    line, CAN_ALL, "test.rules:1:4097: line is longer than 4096 bytes");
	line[4096] = '\n';
	line[4097] = '\0';
	vd_policy_free(must(line));
	vd_policy_free(must("# caf\xc3\xa9 \xf0\x9f\x98\x80\n"
	                    "deny open all : path=/caf\xc3\xa9\n"));
	vd_policy_free(must(""));                    /* empty policy */
	vd_policy_free(must("deny open all : all")); /* no final newline */
}

/* ---- a large policy against a reference -------------------------------- */

struct gen_rule {
	bool deny;
	uint16_t types;
	int kind; /* 0 path, 1 prefix, 2 suffix, 3 none */
	char value[48];
	bool has_exe, has_uid, has_access;
	char exe[32];
	unsigned uid;
	unsigned access;
};

static const char *const gen_types[] = { "open", "exec", "unlink" };
static const enum vd_event_type gen_type_ids[] = { VD_AUTH_OPEN, VD_AUTH_EXEC,
	VD_AUTH_UNLINK };

static void
gen_value(struct gen_rule *r, uint64_t *s)
{
	unsigned a = (unsigned)(vd_splitmix64(s) % 300),
	         b = (unsigned)(vd_splitmix64(s) % 300);

	switch (r->kind) {
	case 0:
		snprintf(r->value, sizeof(r->value), "/d%u/f%u", a, b);
		break;
	case 1:
		if (vd_splitmix64(s) % 3 == 0)
			snprintf(r->value, sizeof(r->value), "/d%u", a);
		else if (vd_splitmix64(s) % 2)
			snprintf(r->value, sizeof(r->value), "/d%u/", a);
		else
			snprintf(
			    r->value, sizeof(r->value), "/d%u/f%u", a, b % 30);
		break;
	case 2:
		snprintf(r->value, sizeof(r->value), "%u.x%u", b % 10, a % 40);
		break;
	default:
		r->value[0] = '\0';
	}
}

static bool
ref_match(const struct gen_rule *r, const struct vd_event *ev, int ti)
{
	size_t tl = strlen(ev->target), vl = strlen(r->value);

	if (!(r->types & (1u << ti)))
		return false;
	if (r->has_exe && strcmp(r->exe, ev->proc.exe) != 0)
		return false;
	if (r->has_uid && r->uid != ev->proc.uid)
		return false;
	if (r->has_access && !(ev->open_flags & r->access))
		return false;
	switch (r->kind) {
	case 0:
		return strcmp(r->value, ev->target) == 0;
	case 1:
		return strncmp(r->value, ev->target, vl) == 0;
	case 2:
		return tl >= vl && strcmp(ev->target + tl - vl, r->value) == 0;
	}
	return true;
}

Test(policy, large_policy_matches_reference, .timeout = 120)
{
	const size_t n = 100000, nev = 6000;
	struct gen_rule *rules = calloc(n, sizeof(*rules));
	size_t cap = n * 96, len = 0, i, j, hits = 0;
	char *text = malloc(cap);
	struct vd_event *ev = ev_new(VD_AUTH_OPEN, "/bin/cat", "/");
	struct vd_policy_error err;
	struct vd_policy *pol;
	uint64_t s = 42;
	int rc;

	cr_assert_not_null(rules);
	cr_assert_not_null(text);
	len += (size_t)sprintf(text + len, "default open deny\n");
	for (i = 0; i < n; i++) {
		struct gen_rule *r = &rules[i];
		unsigned tm = (unsigned)(vd_splitmix64(&s) % 7) + 1;

		r->deny = vd_splitmix64(&s) % 2;
		r->types = (uint16_t)tm;
		r->kind =
		    (int)(vd_splitmix64(&s) % 1000 < 999 ? vd_splitmix64(&s) % 3
		                                         : 3);
		gen_value(r, &s);
		r->has_exe = vd_splitmix64(&s) % 4 == 0 || r->kind == 3;
		/* Rules on no path name rare programs, or every event
		 * would stop at one of them. */
		snprintf(r->exe, sizeof(r->exe), "/bin/%c%u",
		    r->kind == 3 ? 'k' : 'e',
		    (unsigned)(vd_splitmix64(&s) % 8));
		r->has_uid = vd_splitmix64(&s) % 8 == 0;
		r->uid = (unsigned)(vd_splitmix64(&s) % 4);
		r->has_access = tm == 1 && vd_splitmix64(&s) % 4 == 0;
		r->access =
		    vd_splitmix64(&s) % 2 ? VD_OPEN_READ : VD_OPEN_WRITE;
		len += (size_t)sprintf(
		    text + len, "%s ", r->deny ? "deny" : "allow");
		for (j = 0; j < 3; j++) {
			if (tm & (1u << j))
				len += (size_t)sprintf(text + len, "%s%s",
				    gen_types[j], (tm >> (j + 1)) ? "," : "");
		}
		if (r->has_exe)
			len += (size_t)sprintf(text + len, " exe=%s", r->exe);
		if (r->has_uid)
			len += (size_t)sprintf(text + len, " uid=%u", r->uid);
		if (!r->has_exe && !r->has_uid)
			len += (size_t)sprintf(text + len, " all");
		len += (size_t)sprintf(text + len, " :");
		if (r->kind < 3)
			len += (size_t)sprintf(text + len, " %s=%s",
			    r->kind == 0       ? "path"
			        : r->kind == 1 ? "prefix"
			                       : "suffix",
			    r->value);
		if (r->has_access)
			len += (size_t)sprintf(text + len, " access=%s",
			    r->access == VD_OPEN_READ ? "read" : "write");
		if (r->kind == 3 && !r->has_access)
			len += (size_t)sprintf(text + len, " all");
		text[len++] = '\n';
		cr_assert_lt(len + 200, cap);
	}
	pol = vd_policy_compile(text, len, "big.rules", CAN_ALL, &err, &rc);
	cr_assert_not_null(
	    pol, "%s:%d:%d: %s", err.file, err.line, err.column, err.msg);
	cr_assert_eq(vd_policy_rules(pol), n);
	for (i = 0; i < nev; i++) {
		unsigned a = (unsigned)(vd_splitmix64(&s) % 320),
		         b = (unsigned)(vd_splitmix64(&s) % 320);
		int ti = (int)(vd_splitmix64(&s) % 3);
		struct vd_decision d;
		size_t want = 0, got;

		ev->type = (uint16_t)gen_type_ids[ti];
		if (vd_splitmix64(&s) % 3 == 0)
			snprintf(
			    ev->target, sizeof(ev->target), "/other/%u", a);
		else if (vd_splitmix64(&s) % 2)
			snprintf(
			    ev->target, sizeof(ev->target), "/d%u/f%u", a, b);
		else
			snprintf(ev->target, sizeof(ev->target),
			    "/d%u/f%u/%u.x%u", a, b % 40, b % 10, a % 45);
		snprintf(ev->proc.exe, sizeof(ev->proc.exe), "/bin/%c%u",
		    vd_splitmix64(&s) % 50 ? 'e' : 'k',
		    (unsigned)(vd_splitmix64(&s) % 9));
		ev->proc.uid = (uid_t)(vd_splitmix64(&s) % 5);
		ev->open_flags = (uint32_t)(vd_splitmix64(&s) % 4);
		for (j = 0; j < n; j++) {
			if (ref_match(&rules[j], ev, ti)) {
				want = j + 1;
				break;
			}
		}
		got = eval(pol, ev, &d, NULL);
		cr_assert_eq(got, want, "event %zu: %s type %d exe %s uid %u",
		    i, ev->target, ti, ev->proc.exe, (unsigned)ev->proc.uid);
		if (want) {
			hits++;
			cr_assert_eq(d.verdict,
			    rules[want - 1].deny ? VD_DENY : VD_ALLOW);
		} else if (ti == 0) {
			cr_assert_eq(d.verdict, VD_DENY);
		}
	}
	cr_assert_gt(hits, nev / 10, "hits %zu", hits);
	cr_assert_lt(hits, nev - nev / 10, "hits %zu", hits);
	vd_policy_free(pol);
	free(ev);
	free(text);
	free(rules);
}

/* The examples of policy.h and verdict.rules(5). */
Test(policy, header_examples)
{
	struct vd_policy *pol =
	    must("%trusted = ABCDE12345, FGHIJ67890\n"
	         "deny open exe=/usr/bin/curl : path=/etc/shadow\n"
	         "deny open all : prefix=/srv/secrets/ access=write\n"
	         "allow exec team_id=%trusted : all\n"
	         "deny,audit exec uid=1000 : prefix=/tmp/\n"
	         "allow,cache open exe_prefix=/usr/bin/ : suffix=.so\n"
	         "default open allow\n");
	struct vd_event *ev =
	    ev_new(VD_AUTH_OPEN, "/usr/bin/curl", "/etc/shadow");
	struct vd_decision d;

	cr_assert_eq(eval(pol, ev, &d, NULL), 1);
	cr_assert_eq(d.verdict, VD_DENY);
	strcpy(ev->proc.exe, "/bin/cat");
	cr_assert_eq(eval(pol, ev, &d, NULL), 0);
	cr_assert_eq(d.verdict, VD_ALLOW);
	strcpy(ev->target, "/srv/secrets/k");
	ev->open_flags = VD_OPEN_WRITE;
	cr_assert_eq(eval(pol, ev, &d, NULL), 2);
	ev->open_flags = VD_OPEN_READ;
	cr_assert_eq(eval(pol, ev, &d, NULL), 0);
	strcpy(ev->proc.exe, "/usr/bin/python3");
	strcpy(ev->target, "/usr/lib/libz.so");
	cr_assert_eq(eval(pol, ev, &d, NULL), 5);
	cr_assert(d.cache);
	ev->type = VD_AUTH_EXEC;
	ev->proc.uid = 1000;
	strcpy(ev->target, "/tmp/x");
	cr_assert_eq(eval(pol, ev, &d, NULL), 4);
	cr_assert(d.audit);
	cr_assert_eq(d.verdict, VD_DENY);
	strcpy(ev->proc.team_id, "FGHIJ67890");
	cr_assert_eq(eval(pol, ev, &d, NULL), 3);
	cr_assert_eq(d.verdict, VD_ALLOW);
	free(ev);
	vd_policy_free(pol);
}

/* path_only: the same answer for every process, so a per-file kernel
 * cache (fanotify ignore marks) may hold it. */
static bool
path_only(const struct vd_policy *pol, struct vd_event *ev, uint32_t uid)
{
	struct vd_decision d;

	ev->proc.uid = uid;
	eval(pol, ev, &d, NULL);
	return d.path_only;
}

Test(policy, path_only_needs_every_process_to_agree)
{
	struct vd_policy *pol = must("deny open uid=1000 : path=/srv/a\n"
	                             "deny open exe=/bin/cat : prefix=/srv/x/\n"
	                             "allow open all : prefix=/srv/\n"
	                             "allow open uid=0 : path=/opt/b\n"
	                             "deny open all : suffix=.key\n");
	struct vd_event *ev = ev_new(VD_AUTH_OPEN, "/bin/sh", "/srv/c");

	/* Only subject-free rules on the way: path-only. */
	cr_assert(path_only(pol, ev, 501));
	/* /srv/a: rule 1 was passed over for this uid, not for uid 1000. */
	strcpy(ev->target, "/srv/a");
	cr_assert_not(path_only(pol, ev, 501));
	/* And for uid 1000 the deciding rule itself looks at the uid. */
	cr_assert_not(path_only(pol, ev, 1000));
	/* /srv/x/f: rule 2 is about the executable. */
	strcpy(ev->target, "/srv/x/f");
	cr_assert_not(path_only(pol, ev, 501));
	/* A rule with a subject that matched decides: never path-only. */
	strcpy(ev->target, "/opt/b");
	cr_assert_not(path_only(pol, ev, 0));
	/* /opt/b for uid 501 falls through rule 4 (subject) to the
	 * default: not path-only either. */
	cr_assert_not(path_only(pol, ev, 501));
	/* A deny may be path-only too; the backend caches ALLOWs only. */
	strcpy(ev->target, "/opt/k.key");
	cr_assert(path_only(pol, ev, 501));
	/* No rule at all for the path: the default, for everyone. */
	strcpy(ev->target, "/var/log/x");
	cr_assert(path_only(pol, ev, 501));
	/* A truncated path is never path-only. */
	ev->target_truncated = true;
	strcpy(ev->target, "/srv/c");
	cr_assert_not(path_only(pol, ev, 501));
	free(ev);
	vd_policy_free(pol);
}

struct seen_path {
	char buf[256];
	size_t o;
};

static void
collect_path(void *ctx, size_t rule, bool prefix, const char *v, size_t len)
{
	struct seen_path *s = ctx;

	s->o += (size_t)snprintf(s->buf + s->o, sizeof(s->buf) - s->o,
	    "%zu:%s=%.*s;", rule, prefix ? "prefix" : "path", (int)len, v);
}

Test(policy, needs_path_and_path_values)
{
	struct vd_policy *none = must("allow exec uid=0 : all\n"
	                              "default open deny\n");
	struct vd_policy *pol = must("%dirs = /a/, /b/\n"
	                             "deny open all : path=/etc/shadow\n"
	                             "allow open all : prefix=%dirs\n"
	                             "deny open all : suffix=.key\n");
	struct seen_path s = { .o = 0 };

	cr_assert_not(vd_policy_needs_path(none));
	cr_assert(vd_policy_needs_path(pol));
	cr_assert_not(vd_policy_needs_exe(none));
	cr_assert_not(vd_policy_needs_exe(pol));
	{
		struct vd_policy *exe = must("allow open exe=/bin/a : all\n");
		struct vd_policy *comm = must("deny open comm=cat : all\n");

		cr_assert(vd_policy_needs_exe(exe));
		cr_assert(vd_policy_needs_exe(comm));
		cr_assert_not(vd_policy_needs_path(comm));
		vd_policy_free(exe);
		vd_policy_free(comm);
	}
	/* uid= reads the identity; pid= comes with every event. */
	cr_assert(vd_policy_needs_process(none));
	cr_assert_not(vd_policy_needs_process(pol));
	{
		struct vd_policy *pid = must("deny open pid=1 : all\n");
		struct vd_policy *gid = must("deny open gid=5 : all\n");
		struct vd_policy *exe =
		    must("allow open exe_prefix=/a/ : all\n");

		cr_assert_not(vd_policy_needs_process(pid));
		cr_assert(vd_policy_needs_process(gid));
		cr_assert(vd_policy_needs_process(exe));
		vd_policy_free(pid);
		vd_policy_free(gid);
		vd_policy_free(exe);
	}
	vd_policy_paths(pol, collect_path, &s);
	cr_assert_str_eq(
	    s.buf, "1:path=/etc/shadow;2:prefix=/a/;2:prefix=/b/;");
	vd_policy_free(none);
	vd_policy_free(pol);
}

/* deny,monitor allows and says it would deny; monitor is deny's only. */
Test(policy, monitor_rules_allow_what_they_would_deny)
{
	struct vd_policy *pol = must("deny,monitor open all : prefix=/m/\n"
	                             "deny,audit open all : prefix=/d/\n"
	                             "allow,cache open all : all\n");
	struct vd_event *ev = ev_new(VD_AUTH_OPEN, "/bin/cat", "/m/x");
	struct vd_decision d;

	cr_assert_eq(eval(pol, ev, &d, NULL), 1);
	cr_assert_eq(d.verdict, VD_ALLOW);
	cr_assert(d.would_deny);
	cr_assert(!d.cache, "a would-deny must be logged each time");
	cr_assert_eq(d.open_flags, VD_OPEN_READ | VD_OPEN_WRITE);
	cr_assert_eq(d.rule, 1);
	strcpy(ev->target, "/d/x");
	cr_assert_eq(eval(pol, ev, &d, NULL), 2);
	cr_assert_eq(d.verdict, VD_DENY);
	cr_assert(!d.would_deny);
	strcpy(ev->target, "/z");
	cr_assert_eq(eval(pol, ev, &d, NULL), 3);
	cr_assert(!d.would_deny && d.verdict == VD_ALLOW && d.cache);
	vd_policy_free(pol);
	free(ev);
	must_fail("allow,monitor open all : all\n", CAN_ALL,
	    "test.rules:1:7: \"monitor\" applies only to deny: it allows what "
	    "the rule would deny, and logs it");
	must_fail("deny,monitor,monitor open all : all\n", CAN_ALL,
	    "test.rules:1:14: expected \"audit\", \"cache\" or \"monitor\" "
	    "after the decision, got \"monitor\"");
}

/* policy.mode = monitor: every deny of the policy, default lines too. */
Test(policy, monitor_mode_turns_every_deny_into_a_would_deny)
{
	struct vd_policy *pol = must("deny open all : prefix=/d/\n"
	                             "allow open all : prefix=/a/\n"
	                             "default open deny\n");
	struct vd_event *ev = ev_new(VD_AUTH_OPEN, "/bin/cat", "/d/x");
	struct vd_decision d;

	vd_policy_set_monitor(pol, true);
	cr_assert_eq(eval(pol, ev, &d, NULL), 1);
	cr_assert(d.verdict == VD_ALLOW && d.would_deny);
	strcpy(ev->target, "/a/x");
	cr_assert_eq(eval(pol, ev, &d, NULL), 2);
	cr_assert(d.verdict == VD_ALLOW && !d.would_deny);
	strcpy(ev->target, "/elsewhere");
	cr_assert_eq(eval(pol, ev, &d, NULL), 0);
	cr_assert(d.verdict == VD_ALLOW && d.would_deny, "the default line");
	cr_assert_eq(d.rule, 0);
	vd_policy_set_monitor(pol, false);
	cr_assert_eq(eval(pol, ev, &d, NULL), 0);
	cr_assert(d.verdict == VD_DENY && !d.would_deny);
	vd_policy_free(pol);
	free(ev);
}

/* Each rule knows its file, line and text, across includes. */
Test(policy, rules_know_where_they_were_written)
{
	char dir[] = "/tmp/vd-origin-XXXXXX", path[64], sdir[64], sub[80];
	struct vd_policy_rule_info ri;
	struct vd_policy_error err;
	struct vd_policy *pol;
	FILE *f;
	int rc;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/main.rules", dir);
	snprintf(sdir, sizeof(sdir), "%s/d", dir);
	cr_assert_eq(mkdir(sdir, 0700), 0);
	snprintf(sub, sizeof(sub), "%s/more.rules", sdir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("# first\n\n  deny open all : path=/x   # why\n"
	      "include d\n"
	      "allow exec uid=0 : all\n",
	    f);
	fclose(f);
	f = fopen(sub, "w");
	cr_assert_not_null(f);
	fputs("deny,audit open all : prefix=/y/\n", f);
	fclose(f);
	pol = vd_policy_load(path, CAN_ALL, &err, &rc);
	cr_assert_not_null(pol, "%s", err.msg);
	cr_assert(vd_policy_rule_info(pol, 1, &ri));
	cr_assert_eq(ri.line, 3);
	cr_assert_eq(ri.file_len, strlen(path));
	cr_assert(memcmp(ri.file, path, ri.file_len) == 0);
	cr_assert_eq(ri.text_len, strlen("deny open all : path=/x"));
	cr_assert(memcmp(ri.text, "deny open all : path=/x", ri.text_len) == 0);
	cr_assert(vd_policy_rule_info(pol, 2, &ri));
	cr_assert_eq(ri.line, 1);
	cr_assert(ri.file_len == strlen(sub) &&
	    memcmp(ri.file, sub, ri.file_len) == 0);
	cr_assert(ri.audit && ri.verdict == VD_DENY);
	cr_assert(vd_policy_rule_info(pol, 3, &ri));
	cr_assert_eq(ri.line, 5);
	cr_assert(memcmp(ri.file, path, ri.file_len) == 0);
	cr_assert(!vd_policy_rule_info(pol, 4, &ri));
	cr_assert(!vd_policy_rule_info(pol, 0, &ri));
	vd_policy_free(pol);
	unlink(sub);
	unlink(path);
	rmdir(sdir);
	rmdir(dir);
}

/* A seeded pseudo-random number below n. */
static int
rnd(uint64_t *x, int n)
{
	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return (int)((*x >> 33) % (uint64_t)n);
}

/* The first rule explain's walk stops at. */
struct walk {
	size_t stop;
	size_t passed;
};

static void
walk_step(void *ctx, const struct vd_policy_step *s)
{
	struct walk *w = ctx;

	if (s->result == VD_STEP_NOMATCH) {
		cr_assert_not_null(s->why);
		w->passed++;
	} else if (w->stop == 0) {
		w->stop = s->rule;
	}
}

/*
 * Explain names the rule the indexed evaluator picks, for 1000 random
 * events over a policy with every kind of index (exact, prefix, suffix,
 * unindexed) and subject conditions, and the walk passes only rules of
 * the event's type that are before it.
 */
Test(policy, explain_names_the_rule_the_evaluator_decides_with)
{
	static const char *const exes[] = { "/usr/bin/bash", "/bin/cat",
		"/usr/bin/curl", "/opt/x/tool" };
	static const char *const paths[] = { "/etc/shadow", "/etc/passwd",
		"/srv/secrets/k", "/srv/pub/a.so", "/tmp/x", "/home/a/b.txt",
		"/usr/lib/libc.so" };
	struct vd_policy *pol = must("%sec = /etc/shadow, /etc/gshadow\n"
	                             "deny open all : path=%sec\n"
	                             "allow open uid=0 : prefix=/srv/secrets/\n"
	                             "deny open all : prefix=/srv/secrets/ "
	                             "access=write\n"
	                             "deny exec uid=1000 : prefix=/tmp/\n"
	                             "allow open exe=/bin/cat : all\n"
	                             "deny open,exec comm=curl : all\n"
	                             "allow,cache open exe_prefix=/usr/ : "
	                             "suffix=.so\n"
	                             "deny open gid=5 : all\n"
	                             "allow exec all : prefix=/usr/\n"
	                             "default exec deny\n");
	struct vd_decision a, b;
	struct vd_event *ev;
	struct walk w;
	uint64_t x = 42;
	size_t r;
	int i;

	for (i = 0; i < 1000; i++) {
		char q[256];
		int t = rnd(&x, 2), e = rnd(&x, 4), u = rnd(&x, 2);
		int g = rnd(&x, 3), p = rnd(&x, 7), m = rnd(&x, 2);

		snprintf(q, sizeof(q),
		    "%s exe=%s uid=%d gid=%d path=%s access=%s",
		    t ? "open" : "exec", exes[e], u ? 0 : 1000, g ? 20 : 5,
		    paths[p], m ? "read" : "read,write");
		ev = calloc(1, sizeof(*ev));
		cr_assert_not_null(ev);
		cr_assert_eq(vd_policy_query_parse(q, ev, NULL, 0), 0, "%s", q);
		memset(&w, 0, sizeof(w));
		eval(pol, ev, &a, NULL);
		memcpy(&b, &a, sizeof(b));
		b.verdict = 7;
		r = vd_policy_explain(pol, ev, &b, walk_step, &w);
		cr_assert_eq(r, rule_for(pol, ev), "%s", q);
		cr_assert_eq(
		    w.stop, r, "%s: the walk stopped at rule %zu", q, w.stop);
		free(ev);
	}
	vd_policy_free(pol);
}

/* A malformed query is an error naming the bad word. */
Test(policy, explain_queries_are_checked_word_by_word)
{
	static const struct {
		const char *q, *err;
	} bad[] = {
		{ "",
		    "an empty query: expected an event type (open, exec, "
		    "...)" },
		{ "opne path=/x",
		    "expected an event type (open, exec, rename, unlink, "
		    "create, truncate, link, clone, copyfile, mount, signal, "
		    "access), got \"opne\"" },
		{ "open path", "expected key=value, got \"path\"" },
		{ "open pth=/x", "unknown key in \"pth=/x\"" },
		{ "open uid=-1", "expected a decimal number in \"uid=-1\"" },
		{ "open pid=2147483648",
		    "expected a decimal number in \"pid=2147483648\"" },
		{ "open path=x", "expected an absolute path in \"path=x\"" },
		{ "open access=exec",
		    "expected read, write or read,write in \"access=exec\"" },
		{ "exec platform=maybe", "bad value in \"platform=maybe\"" },
		{ "exec cdhash=00", "bad value in \"cdhash=00\"" },
		{ "open prefix=/x",
		    "\"prefix=/x\": a rule condition, not a value an event has "
		    "(a query gives exe=, path=, target=)" },
		{ "open path=\"/x",
		    "a malformed or too long value in \"path=\"/x\"" },
	};
	struct vd_event *ev = calloc(1, sizeof(*ev));
	char err[300];
	size_t i;

	cr_assert_not_null(ev);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(
		    vd_policy_query_parse(bad[i].q, ev, err, sizeof(err)),
		    -EINVAL, "%s", bad[i].q);
		cr_assert_str_eq(err, bad[i].err);
	}
	cr_assert_eq(vd_policy_query_parse("exec exe=\"/a b/c\" uid=7 "
	                                   "target_team_id=T1 "
	                                   "target_platform=yes",
	                 ev, err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(ev->type, VD_AUTH_EXEC);
	cr_assert_str_eq(ev->proc.exe, "/a b/c");
	cr_assert_str_eq(ev->proc.comm, "c");
	cr_assert_eq(ev->proc.uid, 7);
	cr_assert_str_eq(ev->exec_sig.team_id, "T1");
	cr_assert(ev->exec_sig.platform_binary);
	free(ev);
}

/* ---- content identity: sha256= and digest files ------------------------ */

#define DIGEST_A                                                               \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define DIGEST_B                                                               \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void
give_digest(struct vd_event *ev, const char *hex)
{
	cr_assert(vd_sha256_parse(hex, strlen(hex), ev->sha256));
	ev->have |= VD_NEED_DIGEST;
}

/* A rule with sha256= defers an event without a digest; the rules before
 * it decide without one; with the digest it decides like any rule. */
Test(policy, sha256_rules_ask_for_the_digest_only_when_they_would_decide)
{
	struct vd_policy *pol = must("allow exec exe=/bin/trusted : all\n"
	                             "deny exec all : sha256=" DIGEST_A "\n"
	                             "deny open all : sha256=" DIGEST_B "\n"
	                             "allow open all : prefix=/srv/\n");
	struct vd_event *ev = ev_new(VD_AUTH_EXEC, "/bin/sh", "/tmp/x");
	struct vd_decision d;

	memset(&d, 0, sizeof(d));
	cr_assert_eq(eval(pol, ev, &d, NULL), 0);
	cr_assert_eq(d.needs, VD_NEED_DIGEST, "no digest: deferred");
	cr_assert_eq(d.cache, false);
	give_digest(ev, DIGEST_A);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(eval(pol, ev, &d, NULL), 2);
	cr_assert_eq(d.needs, 0);
	cr_assert_eq(d.verdict, VD_DENY);
	give_digest(ev, DIGEST_B);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(eval(pol, ev, &d, NULL), 0, "another digest: default");
	cr_assert_eq(d.needs, 0);
	cr_assert_eq(d.verdict, 7, "the preset stays");
	free(ev);

	/* Rule 1 decides before the digest rule: no waiting. */
	ev = ev_new(VD_AUTH_EXEC, "/bin/trusted", "/tmp/x");
	memset(&d, 0, sizeof(d));
	cr_assert_eq(eval(pol, ev, &d, NULL), 1);
	cr_assert_eq(d.needs, 0);
	free(ev);

	/* open: the digest rule comes first for every path. */
	ev = ev_new(VD_AUTH_OPEN, "/bin/sh", "/srv/a");
	memset(&d, 0, sizeof(d));
	eval(pol, ev, &d, NULL);
	cr_assert_eq(d.needs, VD_NEED_DIGEST);
	give_digest(ev, DIGEST_A);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(eval(pol, ev, &d, NULL), 4);
	cr_assert_eq(d.verdict, VD_ALLOW);
	free(ev);
	vd_policy_free(pol);
}

/* Thousands of digests from a digest file: each found by bisection,
 * others not; duplicates and either case are one value. */
Test(policy, sha256_sets_find_every_member)
{
	char dir[] = "/tmp/test_policy.XXXXXX", path[600], hex[VD_SHA256_HEX];
	const size_t n = 3000;
	uint8_t(*ds)[VD_SHA256_LEN] = malloc(n * VD_SHA256_LEN);
	struct vd_event *ev = ev_new(VD_AUTH_EXEC, "/bin/sh", "/tmp/x");
	struct vd_policy_error err;
	struct vd_policy *pol;
	struct vd_decision d;
	uint64_t sm = 42;
	size_t i, k;
	FILE *f;
	int rc;

	cr_assert_not_null(ds);
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/bad.sha256", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	for (i = 0; i < n; i++) {
		for (k = 0; k < VD_SHA256_LEN; k++)
			ds[i][k] = (uint8_t)vd_splitmix64(&sm);
		vd_sha256_hex(ds[i], hex);
		if (i % 2)
			for (k = 0; hex[k]; k++)
				hex[k] = (char)toupper((unsigned char)hex[k]);
		fprintf(f, "%s  /bin/f%zu\n", hex, i);
		if (i % 100 == 99)
			fprintf(f, "%s  /bin/again%zu\n", hex, i);
	}
	fclose(f);
	write_file(dir, "p.rules",
	    "%bad = file:bad.sha256\ndeny exec all : sha256=%bad\n");
	snprintf(path, sizeof(path), "%s/p.rules", dir);
	pol = vd_policy_load(path, CAN_ALL, &err, &rc);
	cr_assert_not_null(
	    pol, "%s:%d:%d: %s", err.file, err.line, err.column, err.msg);
	for (i = 0; i < n; i++) {
		memcpy(ev->sha256, ds[i], VD_SHA256_LEN);
		ev->have = VD_NEED_DIGEST;
		memset(&d, 0, sizeof(d));
		cr_assert_eq(eval(pol, ev, &d, NULL), 1, "member %zu", i);
		ev->sha256[31] ^= 1;
		cr_assert_eq(eval(pol, ev, &d, NULL), 0, "not member %zu", i);
	}
	free(ev);
	free(ds);
	vd_policy_free(pol);
	rm_tree(dir);
}

/* A digest the pipeline cannot have (VD_UNAVAILABLE): sha256= does not
 * hold and the later rules decide.  A sha256= rule passed over because of
 * the process keeps the answer from being cached for everyone. */
Test(policy, sha256_without_a_digest_decides_by_the_later_rules)
{
	struct vd_policy *pol = must("allow exec all : sha256=" DIGEST_A "\n"
	                             "deny exec all : all\n");
	struct vd_policy *pol2 =
	    must("deny exec uid=1000 : sha256=" DIGEST_A "\n"
	         "allow exec all : all\n");
	struct vd_event *ev = ev_new(VD_AUTH_EXEC, "/bin/sh", "/tmp/big");
	struct vd_decision d;

	memset(&d, 0, sizeof(d));
	eval(pol, ev, &d, NULL);
	cr_assert_eq(d.needs, VD_NEED_DIGEST);
	ev->have = VD_UNAVAILABLE(VD_NEED_DIGEST);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(eval(pol, ev, &d, NULL), 2, "the allow-list's deny");
	cr_assert_eq(d.needs, 0);
	cr_assert_eq(d.verdict, VD_DENY);
	/* uid 0 passes rule 1 by its uid: rule 2 allows, for uid 0 only. */
	ev->have = 0;
	ev->proc.uid = 0;
	memset(&d, 0, sizeof(d));
	cr_assert_eq(eval(pol2, ev, &d, NULL), 2);
	cr_assert_eq(d.path_only, false, "uid 1000 may be denied by content");
	free(ev);
	vd_policy_free(pol);
	vd_policy_free(pol2);
}

Test(policy, sha256_is_refused_where_it_cannot_hold)
{
	must_fail("deny rename all : sha256=" DIGEST_A "\n", CAN_ALL,
	    "test.rules:1:19: sha256= applies only to open, exec and access "
	    "rules: only they have a file to read");
	must_fail("deny exec all : sha256=" DIGEST_A "\n",
	    VD_POLICY_CAN_ACCESS | VD_POLICY_CAN_TEAM_ID,
	    "test.rules:1:17: this backend cannot enforce sha256=: its events "
	    "cannot be enriched with the file's digest");
	must_fail("deny exec all : sha256=abc\n", CAN_ALL,
	    "test.rules:1:24: expected 64 hexadecimal digits after sha256=, "
	    "got \"abc\"");
	must_fail("deny exec uid=1 : sha256=%x\n", CAN_ALL,
	    "test.rules:1:26: undefined set %x (a set must be defined before "
	    "use)");
}

/* %set = file:NAME reads a sha256sum file next to the policy; its errors
 * name the digest file's line and column. */
Test(policy, digest_files_are_read_as_sha256sum_writes_them)
{
	char dir[] = "/tmp/test_policy.XXXXXX", top[600];
	struct vd_policy_error err;
	struct vd_policy *pol;
	struct vd_event *ev = ev_new(VD_AUTH_EXEC, "/bin/sh", "/tmp/x");
	struct vd_decision d;
	char got[600];
	int rc;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(top, sizeof(top), "%s/p.rules", dir);
	write_file(dir, "trusted.sha256",
	    "# made by sha256sum\n" DIGEST_A "  /usr/bin/a\n"
	    "\n" DIGEST_B " */usr/bin/b (binary mode)\n"
	    "\\" DIGEST_A "  /usr/bin/new\\nline\n");
	write_file(dir, "p.rules",
	    "%trusted = file:trusted.sha256\n"
	    "allow exec all : sha256=%trusted\n"
	    "deny exec all : all\n");
	pol = vd_policy_load(top, CAN_ALL, &err, &rc);
	cr_assert_not_null(
	    pol, "%s:%d:%d: %s", err.file, err.line, err.column, err.msg);
	give_digest(ev, DIGEST_B);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(eval(pol, ev, &d, NULL), 1);
	ev->sha256[0] ^= 0xff;
	cr_assert_eq(eval(pol, ev, &d, NULL), 2);
	cr_assert_eq(d.verdict, VD_DENY);
	vd_policy_free(pol);

	/* A bad digest: the digest file's line and column. */
	write_file(dir, "trusted.sha256",
	    DIGEST_A "  /usr/bin/a\n"
	             "0123456789abcdefXX23456789abcdef0123456789abcdef"
	             "0123456789abcdef  /usr/bin/c\n");
	cr_assert_null(vd_policy_load(top, CAN_ALL, &err, &rc));
	cr_assert_eq(rc, -EINVAL);
	fmt_err(&err, got, sizeof(got));
	cr_assert_str_eq(got,
	    "trusted.sha256:2:1: expected 64 hexadecimal digits, got "
	    "\"0123456789abcdefXX23456789abcdef0123456789abcdef0123456789abcdef"
	    "\"");
	write_file(dir, "trusted.sha256", "hello world\n");
	cr_assert_null(vd_policy_load(top, CAN_ALL, &err, &rc));
	fmt_err(&err, got, sizeof(got));
	cr_assert_str_eq(got,
	    "trusted.sha256:1:1: expected 64 hexadecimal digits, a blank and "
	    "a file name (as sha256sum writes them), got \"hello world\"");
	/* A missing file: the policy's line. */
	write_file(dir, "p.rules", "%t = file:nope.sha256\n");
	cr_assert_null(vd_policy_load(top, CAN_ALL, &err, &rc));
	fmt_err(&err, got, sizeof(got));
	cr_assert(
	    strncmp(got, "p.rules:1:6: cannot read digest file \"", 38) == 0,
	    "%s", got);
	free(ev);
	rm_tree(dir);
}

static void
last_step(void *ctx, const struct vd_policy_step *s)
{
	*(int *)ctx = s->result;
}

/* explain: with sha256= in the query it decides; without, it says the
 * rule needs the digest. */
Test(policy, explain_says_when_a_rule_needs_the_digest)
{
	struct vd_policy *pol = must("deny exec all : sha256=" DIGEST_A "\n");
	struct vd_event ev;
	struct vd_decision d;
	char err[200];
	int last = -1;

	memset(&ev, 0, sizeof(ev));
	cr_assert_eq(vd_policy_query_parse(
	                 "exec exe=/bin/sh path=/tmp/x", &ev, err, sizeof(err)),
	    0, "%s", err);
	memset(&d, 0, sizeof(d));
	vd_policy_explain(pol, &ev, &d, last_step, &last);
	cr_assert_eq(last, VD_STEP_NEEDS);
	cr_assert_eq(d.needs, VD_NEED_DIGEST);
	memset(&ev, 0, sizeof(ev));
	cr_assert_eq(vd_policy_query_parse("exec path=/tmp/x sha256=" DIGEST_A,
	                 &ev, err, sizeof(err)),
	    0, "%s", err);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(vd_policy_explain(pol, &ev, &d, last_step, &last), 1);
	cr_assert_eq(last, VD_STEP_MATCH);
	cr_assert_eq(d.verdict, VD_DENY);
	vd_policy_free(pol);
}
