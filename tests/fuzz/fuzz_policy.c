/*
 * fuzz_policy.c — libFuzzer target for the policy compiler.
 *
 * The bytes are a rules file.  The parser must never read outside them
 * (AddressSanitizer checks: libFuzzer hands over exactly size bytes, not
 * NUL-terminated), must either compile or report an error with a
 * position inside the text, and a compiled policy must evaluate a few
 * fixed events without reading outside its snapshot, with a rule number
 * in range and a verdict that is allow or deny.
 *
 * The name puts the text in a directory that does not exist, so a
 * relative include fails the same way on every run.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <verdict/policy.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

static struct vd_event evs[6];

static void
setup(void)
{
	static const struct {
		uint16_t type;
		const char *exe, *target, *target2;
		uint32_t flags;
	} e[6] = {
		{ VD_AUTH_OPEN, "/usr/bin/curl", "/etc/shadow", "", 3 },
		{ VD_AUTH_OPEN, "/bin/cat", "/srv/secrets/a.key", "", 2 },
		{ VD_AUTH_EXEC, "/bin/sh", "/tmp/x", "", 0 },
		{ VD_AUTH_RENAME, "/bin/mv", "/a/b", "/etc/passwd", 0 },
		{ VD_AUTH_UNLINK, "/usr/lib/x.so", "/", "", 0 },
		{ VD_AUTH_CLONE, "/x", "/very/long", "/private/y", 0 },
	};
	size_t i;

	for (i = 0; i < 6; i++) {
		evs[i].type = e[i].type;
		evs[i].open_flags = e[i].flags;
		evs[i].proc.uid = (uid_t)i;
		evs[i].proc.pid = (pid_t)(100 + i);
		strcpy(evs[i].proc.exe, e[i].exe);
		strcpy(evs[i].proc.comm, "comm");
		strcpy(evs[i].proc.team_id, "ABCDE12345");
		strcpy(evs[i].target, e[i].target);
		strcpy(evs[i].target2, e[i].target2);
	}
	/* One event with every path cut. */
	evs[5].target_truncated = evs[5].target2_truncated = true;
	evs[5].proc.exe_truncated = true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct vd_policy_error err;
	struct vd_policy *pol;
	size_t i, n;
	int rc = 1;

	if (!ready) {
		setup();
		ready = 1;
	}
	pol = vd_policy_compile((const char *)data, size,
	    "/nonexistent-verdict-fuzz/fuzz.rules",
	    VD_POLICY_CAN_ACCESS | VD_POLICY_CAN_TEAM_ID, &err, &rc);
	if (pol == NULL) {
		CHECK(rc == -EINVAL || rc == -ENOENT || rc == -EACCES ||
		    rc == -ENOMEM);
		CHECK(err.line >= 0 && err.column >= 0 && err.column <= 4097);
		CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
		CHECK(err.msg[0] != '\0');
		return 0;
	}
	CHECK(rc == 0);
	n = vd_policy_rules(pol);
	for (i = 0; i < 6; i++) {
		struct vd_decision d = { .verdict = VD_ALLOW };
		bool trunc;
		size_t r = vd_policy_eval(pol, &evs[i], &d, &trunc);

		CHECK(r <= n);
		CHECK(d.verdict == VD_ALLOW || d.verdict == VD_DENY);
		CHECK(!d.cache || (d.verdict == VD_ALLOW && !d.audit));
		CHECK(!trunc || i == 5);
	}
	vd_policy_free(pol);
	return 0;
}
