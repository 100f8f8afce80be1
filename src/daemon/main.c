/*
 * main.c — verdictd: the command line, -n and --check-policy, then the run
 * (run.c).  daemon.h says which file does what, and which thread.
 *
 * Exit status: 0 the run was clean, 1 a runtime failure or the backend saw a
 * duplicate, late or missing answer, 2 a usage or configuration error.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <verdict/pipeline.h>
#include <verdict/policy.h>

#include "daemon/daemon.h"
#include "daemon/log.h"

/* --explain: the explanation on stdout; the exit status. */
static int
explain(const struct daemon *d, const struct vd_policy *pol, const char *q)
{
	char *buf = malloc(EXPLAIN_MAX);
	uint8_t defaults[VD_EVENT_TYPE_COUNT];
	int n;

	if (buf == NULL) {
		vd_log_warn("malloc");
		return EXIT_RUNTIME;
	}
	vd_daemon_defaults(&d->conf, defaults);
	if ((n = vd_daemon_explain(defaults, pol, q, buf, EXPLAIN_MAX)) < 0) {
		vd_log_errx("--explain: %s", buf);
		free(buf);
		return n == -EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
	}
	fwrite(buf, 1, (size_t)n, stdout);
	free(buf);
	return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_RUNTIME;
}

/* -n and --check-policy: the policy compiles for the backend it would run
 * on, and the backend has nothing to say against it.  Returns -1 to go
 * on, or the exit status. */
static int
check_policy(
    const struct daemon *d, bool check, const char *path, bool only_policy)
{
	const struct vd_driver *drv;
	struct vd_policy *pol;
	char err[640];

	if ((drv = vd_driver_find(d->conf.backend, err, sizeof(err))) == NULL) {
		vd_log_errx("%s", err);
		return EXIT_USAGE;
	}
	if ((pol = vd_daemon_policy_load(
	         &d->conf, path, drv->policy_can, err, sizeof(err))) == NULL) {
		vd_log_errx("%s", err);
		return EXIT_USAGE;
	}
	if (d->explain != NULL) {
		int rc = explain(d, pol, d->explain);

		vd_policy_free(pol);
		return rc;
	}
	vd_log_info("policy %s OK: %zu rules", path, vd_policy_rules(pol));
	if (check && drv->check != NULL)
		(void)drv->check(&d->conf, pol);
	vd_policy_free(pol);
	return only_policy ? EXIT_SUCCESS : -1;
}

int
main(int argc, char *argv[])
{
	struct daemon d;
	bool check = false;
	const char *policy_only = NULL;
	char err[640];
	int rc;

	memset(&d, 0, sizeof(d));
	pthread_mutex_init(&d.books_lock, NULL);
	vd_reload_chan_init(&d.chan);
	d.generation = 1;
	d.start_ns = vd_clock_ns();
	if ((rc = vd_options_parse(&d, argc, argv, &check, &policy_only)) >= 0)
		goto out;
	d.policy_only = policy_only != NULL;
	if (vd_conf_build(&d.conf, &d, err, sizeof(err)) != 0) {
		vd_log_errx("%s", err);
		rc = EXIT_USAGE;
		goto out;
	}
	if (policy_only != NULL || (check && d.conf.policy[0] != '\0')) {
		rc = check_policy(&d, check,
		    policy_only != NULL ? policy_only : d.conf.policy,
		    policy_only != NULL);
		if (rc >= 0)
			goto out;
	}
	if (check) {
		/* OK only for a backend this verdictd can run. */
		if (vd_driver_find(d.conf.backend, err, sizeof(err)) == NULL) {
			vd_log_errx("%s", err);
			rc = EXIT_USAGE;
			goto out;
		}
		vd_log_info("configuration OK");
		rc = EXIT_SUCCESS;
		goto out;
	}
	rc = vd_daemon_run(&d);
out:
	free(d.ov);
	return rc;
}
