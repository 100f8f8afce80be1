/*
 * options.c — verdictd's command line, and the configuration it builds:
 * built-in defaults, then the file (-c), then the command line, then one
 * consistency check, at start-up and again at each reload.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <verdict/version.h>

#include "daemon/daemon.h"
#include "daemon/log.h"
#include "util/util.h"

/* Long options that only set a configuration value. */
enum {
	OPT_RING_SIZE = 256,
	OPT_POOL_SIZE,
	OPT_SPIN_US,
	OPT_TICK_US,
	OPT_PIN_WORKERS,
	OPT_STALL_EVERY,
	OPT_STALL_MS,
	OPT_DENY_EVERY,
	OPT_SEED,
	OPT_SHORT_EVERY,
	OPT_SHORT_MS,
	OPT_SCENARIO,
	OPT_TIME_SCALE,
	OPT_CONTROL_SOCKET,
	OPT_POLICY,
	OPT_CHECK_POLICY,
	OPT_EXPLAIN,
	OPT_WATCH,
	OPT_MARK,
};

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "config", required_argument, NULL, 'c' },
	{ "check", no_argument, NULL, 'n' },
	{ "json", no_argument, NULL, 'j' },
	{ "set", required_argument, NULL, 's' },
	{ "backend", required_argument, NULL, 'b' },
	{ "workers", required_argument, NULL, 'w' },
	{ "ring-size", required_argument, NULL, OPT_RING_SIZE },
	{ "pool-size", required_argument, NULL, OPT_POOL_SIZE },
	{ "spin-us", required_argument, NULL, OPT_SPIN_US },
	{ "tick-us", required_argument, NULL, OPT_TICK_US },
	{ "pin-workers", required_argument, NULL, OPT_PIN_WORKERS },
	{ "rate", required_argument, NULL, 'r' },
	{ "duration", required_argument, NULL, 'd' },
	{ "producers", required_argument, NULL, 'p' },
	{ "types", required_argument, NULL, 't' },
	{ "stall-every", required_argument, NULL, OPT_STALL_EVERY },
	{ "stall-ms", required_argument, NULL, OPT_STALL_MS },
	{ "deny-every", required_argument, NULL, OPT_DENY_EVERY },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "short-every", required_argument, NULL, OPT_SHORT_EVERY },
	{ "short-ms", required_argument, NULL, OPT_SHORT_MS },
	{ "scenario", required_argument, NULL, OPT_SCENARIO },
	{ "time-scale", required_argument, NULL, OPT_TIME_SCALE },
	{ "control-socket", required_argument, NULL, OPT_CONTROL_SOCKET },
	{ "policy", required_argument, NULL, OPT_POLICY },
	{ "check-policy", required_argument, NULL, OPT_CHECK_POLICY },
	{ "explain", required_argument, NULL, OPT_EXPLAIN },
	{ "watch", required_argument, NULL, OPT_WATCH },
	{ "mark", required_argument, NULL, OPT_MARK },
	{ NULL, 0, NULL, 0 },
};
static const char short_opts[] = "b:c:d:hjnp:r:s:t:Vw:";

/* Which setting each value option sets. */
static const struct opt_setting {
	int val;
	const char *section;
	const char *key;
} opt_settings[] = {
	{ 'b', "backend", "name" },
	{ 'w', "pipeline", "workers" },
	{ OPT_RING_SIZE, "pipeline", "ring_size" },
	{ OPT_POOL_SIZE, "pipeline", "pool_size" },
	{ OPT_SPIN_US, "pipeline", "spin_us" },
	{ OPT_TICK_US, "pipeline", "tick_us" },
	{ OPT_PIN_WORKERS, "pipeline", "pin_workers" },
	{ 'r', "gen", "rate" },
	{ 'd', "gen", "duration" },
	{ 'p', "gen", "producers" },
	{ 't', "gen", "types" },
	{ OPT_STALL_EVERY, "gen", "stall_every" },
	{ OPT_STALL_MS, "gen", "stall_ms" },
	{ OPT_DENY_EVERY, "gen", "deny_every" },
	{ OPT_SEED, "gen", "seed" },
	{ OPT_SHORT_EVERY, "gen", "short_every" },
	{ OPT_SHORT_MS, "gen", "short_ms" },
	{ OPT_SCENARIO, "sim", "scenario" },
	{ OPT_TIME_SCALE, "sim", "time_scale" },
	{ OPT_CONTROL_SOCKET, "control", "socket" },
	{ OPT_POLICY, "policy", "file" },
	{ OPT_WATCH, "fanotify", "paths" },
	{ OPT_MARK, "fanotify", "mark" },
};
#define NOPT_SETTINGS (sizeof(opt_settings) / sizeof(opt_settings[0]))

static const char synopsis[] =
    "usage: verdictd [-hjnV] [-c file] [-b backend] [-s section.key=value]\n"
    "                [-w workers] [--ring-size n] [--pool-size n] [--spin-us "
    "us]\n"
    "                [--tick-us us] [--pin-workers yes|no] [-r rate] [-d "
    "seconds]\n"
    "                [-p producers] [-t types] [--stall-every n] [--stall-ms "
    "ms]\n"
    "                [--deny-every n] [--seed n] [--short-every n] [--short-ms "
    "ms]\n"
    "                [--scenario file] [--time-scale x] [--watch paths]\n"
    "                [--mark directory|mount|filesystem] [--policy file]\n"
    "                [--check-policy file [--explain query]]\n"
    "                [--control-socket path]\n";

static void
usage(FILE *fp)
{
	fputs(synopsis, fp);
	fprintf(fp,
	    "\n"
	    "Answer permission events before their deadline; runs in the "
	    "foreground and\n"
	    "prints a report when the run ends (SIGTERM or SIGINT, or the "
	    "duration of\n"
	    "the gen and sim backends).\n"
	    "\n"
	    "  -c, --config FILE        read settings from FILE (see "
	    "verdictd.conf(5))\n"
	    "  -n, --check              check the configuration and exit\n"
	    "  -j, --json               print the final report as one JSON "
	    "object\n"
	    "  -s, --set SECTION.KEY=VALUE\n"
	    "                           set any setting, e.g. "
	    "auth.open.default=deny\n"
	    "  -b, --backend NAME       event source: fanotify (Linux, the "
	    "default there),\n"
	    "                           es (macOS EndpointSecurity, the "
	    "default there),\n"
	    "                           gen (the load generator) or sim (the "
	    "Endpoint-\n"
	    "                           Security simulator)\n"
	    "      --control-socket PATH\n"
	    "                           where verdictctl(8) connects; off: "
	    "none\n"
	    "      --policy FILE        decide with the rules in FILE "
	    "(verdict.rules(5))\n"
	    "      --check-policy FILE  check a rules file and exit\n"
	    "      --explain QUERY      with --check-policy: which rule "
	    "decides "
	    "the event\n"
	    "                           QUERY, and why the earlier ones do "
	    "not\n"
	    "                           (\"exec exe=/usr/bin/bash uid=1000 "
	    "path=/tmp/x\")\n"
	    "  -h, --help               print this help and exit\n"
	    "  -V, --version            print the version and exit\n"
	    "\n"
	    "pipeline:\n"
	    "  -w, --workers N          worker threads, 0: automatic (CPUs - "
	    "1, 1..4)\n"
	    "      --ring-size N        ring slots per type and worker, a "
	    "power of two\n"
	    "      --pool-size N        preallocated events per type\n"
	    "      --spin-us US         longest an idle worker spins before "
	    "parking\n"
	    "      --tick-us US         timer wheel resolution\n"
	    "      --pin-workers yes|no pin each worker to a CPU\n"
	    "\n"
	    "fanotify backend (root; see verdictd.conf(5) [fanotify]):\n"
	    "      --watch PATHS        mark these paths, ':'-separated "
	    "(absolute)\n"
	    "      --mark KIND          directory (its entries, not "
	    "recursive), mount or\n"
	    "                           filesystem\n"
	    "\n"
	    "gen backend:\n"
	    "  -r, --rate N             events per second, all producers "
	    "together\n"
	    "  -d, --duration S         seconds to generate events for\n"
	    "  -p, --producers N        producer threads\n"
	    "  -t, --types LIST         event types, e.g. "
	    "auth.open,auth.exec,notify.close\n"
	    "      --stall-every N      the evaluator stalls every N-th "
	    "evaluation (0: off)\n"
	    "      --stall-ms MS        for MS milliseconds\n"
	    "      --deny-every N       the evaluator denies when (pid + id) "
	    "%% N == 0\n"
	    "      --seed N             seed of the event mix and payloads\n"
	    "      --short-every N      every N-th AUTH event gets a short "
	    "deadline\n"
	    "      --short-ms MS        that deadline, in milliseconds after "
	    "arrival\n"
	    "\n"
	    "sim backend (the es backend on the EndpointSecurity "
	    "simulator):\n"
	    "      --scenario FILE      the workload, see essim-scenario(5)\n"
	    "      --time-scale X       deadlines, stalls and margins x X "
	    "(0.001..1)\n"
	    "  -d, --duration S         run for S seconds instead of the "
	    "scenario's\n"
	    "\n"
	    "Command-line settings override the file.  SIGHUP re-reads the "
	    "file.\n"
	    "Exit status: 0 clean run, 1 runtime failure or a duplicate, late "
	    "or missing\n"
	    "answer, 2 usage or configuration error.\n");
}

int
vd_conf_build(
    struct vd_conf *c, const struct daemon *d, char *err, size_t errsz)
{
	char msg[512];
	int rc;

	vd_conf_init(c);
	if (d->path != NULL && (rc = vd_conf_load(c, d->path, err, errsz)) != 0)
		return rc;
	for (size_t i = 0; i < d->nov; i++) {
		const struct override *o = &d->ov[i];

		if (o->section != NULL)
			rc = vd_conf_set(
			    c, o->section, o->key, o->value, msg, sizeof(msg));
		else
			rc = vd_conf_set_arg(c, o->value, msg, sizeof(msg));
		if (rc != 0) {
			snprintf(err, errsz, "--%s: %s", o->opt, msg);
			return rc;
		}
		if (o->also_sim_duration && c->sim.duration_s == 0)
			c->sim.duration_s = c->gen.duration_s;
	}
	c->policy_only = d->policy_only;
	if ((rc = vd_conf_check(c, msg, sizeof(msg))) != 0) {
		if (d->path != NULL)
			snprintf(err, errsz, "%s: %s", d->path, msg);
		else
			snprintf(err, errsz, "%s", msg);
		return rc;
	}
	return 0;
}

int
vd_options_parse(struct daemon *d, int argc, char *argv[], bool *check,
    const char **check_policy)
{
	int ch, idx;

	if ((d->ov = calloc((size_t)argc, sizeof(*d->ov))) == NULL) {
		vd_log_warn("calloc");
		return EXIT_RUNTIME;
	}
	while (
	    (ch = getopt_long(argc, argv, short_opts, long_opts, &idx)) != -1) {
		const struct opt_setting *s = NULL;
		const char *name = NULL;

		switch (ch) {
		case 'h':
			usage(stdout);
			return fflush(stdout) == 0 ? EXIT_SUCCESS
			                           : EXIT_RUNTIME;
		case 'V':
			printf("verdictd %s\n", VD_VERSION_STRING);
			return fflush(stdout) == 0 ? EXIT_SUCCESS
			                           : EXIT_RUNTIME;
		case 'c':
			d->path = optarg;
			continue;
		case 'n':
			*check = true;
			continue;
		case OPT_CHECK_POLICY:
			*check_policy = optarg;
			continue;
		case OPT_EXPLAIN:
			d->explain = optarg;
			continue;
		case 'j':
			d->json = true;
			continue;
		case 's':
			d->ov[d->nov++] = (struct override){ "set", NULL, NULL,
				optarg, false };
			continue;
		case '?':
			return vd_cli_usage_error("verdictd", synopsis, NULL);
		default:
			break;
		}
		for (size_t i = 0; i < NOPT_SETTINGS; i++)
			if (opt_settings[i].val == ch)
				s = &opt_settings[i];
		for (size_t i = 0; long_opts[i].name != NULL; i++)
			if (long_opts[i].val == ch)
				name = long_opts[i].name;
		if (s == NULL || name == NULL)
			return vd_cli_usage_error("verdictd", synopsis, NULL);
		d->ov[d->nov++] = (struct override){ name, s->section, s->key,
			optarg, ch == 'd' };
	}
	if (optind != argc)
		return vd_cli_usage_error("verdictd", synopsis,
		    "unexpected argument \"%s\"", argv[optind]);
	if (d->explain != NULL && *check_policy == NULL)
		return vd_cli_usage_error("verdictd", synopsis,
		    "--explain needs --check-policy FILE");
#ifdef VD_DEFAULT_CONFIG
	/* Started without -c (a macOS system extension gets no arguments):
	 * the file where the installer puts it, when it is there. */
	if (d->path == NULL && access(VD_DEFAULT_CONFIG, F_OK) == 0)
		d->path = VD_DEFAULT_CONFIG;
#endif
	return -1;
}
