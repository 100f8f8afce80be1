/*
 * verdict-baseline — runs a scenario against the seed design (baseline.h)
 * on the ES simulator and says whether the simulated kernel terminated it.
 *
 * Exit status: 0 the client survived, 3 it was terminated for a missed
 * deadline, 2 usage or scenario error, 1 any other failure.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <verdict/version.h>

#include "baseline.h"
#include "util/cli.h"

/* How messages on stderr start. */
#define PROG "verdict-baseline"

#define EXIT_USAGE      VD_CLI_EXIT_USAGE
#define EXIT_TERMINATED 3

static const char synopsis[] =
    "usage: verdict-baseline -s FILE [-t FACTOR] [-d SECONDS] [--json]\n";

static void
usage(FILE *f)
{
	fputs(synopsis, f);
	fputs("  -s, --scenario FILE     the scenario (essim-scenario(5))\n"
	      "  -t, --time-scale X      multiply deadlines and stalls by X "
	      "(0.0001 to 100)\n"
	      "  -d, --duration SECONDS  run this long instead (0.001 to "
	      "3600)\n"
	      "  -j, --json              one JSON object on stdout\n"
	      "  -h, --help              this text\n"
	      "  -V, --version           print the version\n"
	      "Runs the seed design (one ES client, a 64-thread pool, "
	      "fallback timers on\n"
	      "the same pool) on the simulator.  Exit 0: it survived; 3: the "
	      "kernel\n"
	      "terminated it; 2: usage or scenario error; 1: other "
	      "failure.\n",
	    f);
}

/* A plain decimal ("0.01", "3"): strtod also takes hex, inf and blanks. */
static bool
parse_number(const char *s, double lo, double hi, double *out)
{
	const char *p = s;
	char *end;
	double d;

	while ((*p >= '0' && *p <= '9') || *p == '.')
		p++;
	if (p == s || *p != '\0')
		return false;
	errno = 0;
	d = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !(d >= lo && d <= hi))
		return false;
	*out = d;
	return true;
}

static double
sec(uint64_t ns)
{
	return (double)ns / 1e9;
}

static double
msec(uint64_t ns)
{
	return (double)ns / 1e6;
}

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void
print_json(FILE *f, const char *path, const struct essim_scenario *s,
    const struct vd_baseline_report *r)
{
	const struct essim_client_report *k = &r->kernel;
	const struct essim_workload_report *w = &r->workload;

	fputs("{\"design\":\"baseline\",\"scenario\":", f);
	json_str(f, path);
	fprintf(f,
	    ",\"time_scale\":%g,\"duration_s\":%g,\"seed\":%" PRIu64
	    ",\"terminated\":%s,\"terminated_after_s\":%.3f,\"reason\":",
	    s->time_scale, sec(s->duration_ns), s->seed,
	    k->terminated ? "true" : "false", sec(r->terminated_after_ns));
	json_str(f, k->terminated ? k->reason : "");
	fprintf(f,
	    ",\"posted\":%" PRIu64 ",\"posted_auth\":%" PRIu64
	    ",\"posted_notify\":%" PRIu64 ",\"short_deadlines\":%" PRIu64
	    ",\"short_delivered\":%" PRIu64 ",\"post_errors\":%" PRIu64
	    ",\"bursts\":%" PRIu64 ",\"lag_max_ms\":%.3f"
	    ",\"fingerprint\":\"%016" PRIx64 "\"",
	    w->posted, w->posted_auth, w->posted_notify, w->short_deadlines,
	    w->short_delivered, w->post_errors, w->bursts, msec(w->lag_max_ns),
	    w->fingerprint);
	fprintf(f,
	    ",\"auth_delivered\":%" PRIu64 ",\"notify_delivered\":%" PRIu64
	    ",\"answered\":%" PRIu64 ",\"missed\":%" PRIu64 ",\"late\":%" PRIu64
	    ",\"duplicates\":%" PRIu64 ",\"wrong_type\":%" PRIu64
	    ",\"kernel_drops\":%" PRIu64
	    ",\"latency_max_ms\":%.3f,\"slack_min_ms\":%.3f",
	    k->auth_delivered, k->notify_delivered, k->answered, k->missed,
	    k->late, k->duplicates, k->wrong_type, k->kernel_drops,
	    msec(k->latency_max_ns),
	    k->slack_min_ns == UINT64_MAX ? -1.0 : msec(k->slack_min_ns));
	fprintf(f,
	    ",\"idle\":%s,\"leaked\":%" PRIu64 ",\"pool_threads\":%" PRIu64
	    ",\"queue_max\":%" PRIu64 ",\"work_items\":%" PRIu64
	    ",\"evaluations\":%" PRIu64 ",\"stalls\":%" PRIu64
	    ",\"hashes\":%" PRIu64 ",\"fallbacks_armed\":%" PRIu64
	    ",\"fallbacks_run\":%" PRIu64 ",\"fallback_answers\":%" PRIu64
	    ",\"fallback_wait_max_ms\":%.3f,\"auth_wait_max_ms\":%.3f}\n",
	    r->idle ? "true" : "false", r->leaked, r->pool_threads,
	    r->queue_max, r->work_items, r->evaluations, r->stalls, r->hashes,
	    r->fallbacks_armed, r->fallbacks_run, r->fallback_answers,
	    msec(r->fallback_wait_max_ns), msec(r->auth_wait_max_ns));
}

static void
print_human(FILE *f, const char *path, const struct essim_scenario *s,
    const struct vd_baseline_report *r)
{
	const struct essim_client_report *k = &r->kernel;
	const struct essim_workload_report *w = &r->workload;

	fprintf(f, "scenario   %s (time scale %g, %g s, seed %" PRIu64 ")\n",
	    path, s->time_scale, sec(s->duration_ns), s->seed);
	fprintf(f,
	    "workload   posted %" PRIu64 " events in %.2f s: %" PRIu64
	    " AUTH, %" PRIu64 " NOTIFY; %" PRIu64 " short deadlines (%" PRIu64
	    " delivered); %" PRIu64 " bursts; lag max %.1f ms\n",
	    w->posted, sec(w->elapsed_ns), w->posted_auth, w->posted_notify,
	    w->short_deadlines, w->short_delivered, w->bursts,
	    msec(w->lag_max_ns));
	if (w->post_errors > 0)
		fprintf(f, "           %" PRIu64 " posts failed (first: %s)\n",
		    w->post_errors, strerror(-w->first_error));
	fprintf(f,
	    "kernel     delivered %" PRIu64 " AUTH, %" PRIu64
	    " NOTIFY; answered %" PRIu64 ", missed %" PRIu64 ", late %" PRIu64
	    ", duplicates %" PRIu64 ", dropped %" PRIu64
	    "; latency max %.1f ms\n",
	    k->auth_delivered, k->notify_delivered, k->answered, k->missed,
	    k->late, k->duplicates, k->kernel_drops, msec(k->latency_max_ns));
	fprintf(f,
	    "pool       %" PRIu64 " threads, queue max %" PRIu64 ", %" PRIu64
	    " items; %" PRIu64 " evaluations (%" PRIu64 " stalled), %" PRIu64
	    " hashes; AUTH waited up to %.1f ms\n",
	    r->pool_threads, r->queue_max, r->work_items, r->evaluations,
	    r->stalls, r->hashes, msec(r->auth_wait_max_ns));
	fprintf(f,
	    "fallbacks  armed %" PRIu64 ", run %" PRIu64 ", accepted %" PRIu64
	    "; waited in the pool up to %.1f ms\n",
	    r->fallbacks_armed, r->fallbacks_run, r->fallback_answers,
	    msec(r->fallback_wait_max_ns));
	if (k->terminated)
		fprintf(f, "result     TERMINATED after %.2f s: %s\n",
		    sec(r->terminated_after_ns), k->reason);
	else
		fprintf(f, "result     survived (least slack %.1f ms)%s\n",
		    k->slack_min_ns == UINT64_MAX ? 0.0 : msec(k->slack_min_ns),
		    r->idle ? "" : "; AUTH still pending at the end");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "scenario", required_argument, NULL, 's' },
		{ "time-scale", required_argument, NULL, 't' },
		{ "duration", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	double scale = 0, duration = 0;
	bool json = false;
	struct essim_scenario s;
	struct vd_baseline_report r;
	struct essim_config cfg;
	char err[512];
	int c, rc;

	while (
	    (c = getopt_long(argc, argv, "s:t:d:jhV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 't':
			if (!parse_number(optarg, 0.0001, 100, &scale))
				return vd_cli_usage_error(PROG, synopsis,
				    "--time-scale: expected a factor "
				    "from 0.0001 to 100, got %s",
				    optarg);
			break;
		case 'd':
			if (!parse_number(optarg, 0.001, 3600, &duration))
				return vd_cli_usage_error(PROG, synopsis,
				    "--duration: expected 0.001 to "
				    "3600 seconds, got %s",
				    optarg);
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s %s\n", PROG, VD_VERSION_STRING);
			return 0;
		default:
			return vd_cli_usage_error(PROG, synopsis, NULL);
		}
	}
	if (optind != argc)
		return vd_cli_usage_error(
		    PROG, synopsis, "unexpected argument: %s", argv[optind]);
	if (path == NULL)
		return vd_cli_usage_error(
		    PROG, synopsis, "--scenario is required");

	if (essim_scenario_load(&s, path, err, sizeof(err)) != 0) {
		vd_cli_warnx(PROG, "%s", err);
		return EXIT_USAGE;
	}
	if (scale > 0)
		essim_scenario_scale(&s, scale);
	if (duration > 0)
		essim_scenario_set_duration(&s, (uint64_t)(duration * 1e9));

	essim_config_init(&cfg);
	if ((rc = essim_kernel_init(&cfg)) != 0) {
		vd_cli_warnx(PROG, "simulated kernel: %s", strerror(-rc));
		return EXIT_FAILURE;
	}
	rc = vd_baseline_run(&s, &r, err, sizeof(err));
	essim_kernel_fini();
	if (rc != 0) {
		vd_cli_warnx(PROG, "%s", err);
		return rc == -EINVAL ? EXIT_USAGE : EXIT_FAILURE;
	}
	if (json)
		print_json(stdout, path, &s, &r);
	else
		print_human(stdout, path, &s, &r);
	if (fflush(stdout) != 0)
		return EXIT_FAILURE;
	return r.kernel.terminated ? EXIT_TERMINATED : 0;
}
