/*
 * verdict-bench — micro and pipeline benchmarks for libverdict.
 *
 * Prints one JSON object per configuration on its own line on stdout and
 * nothing else there (progress goes to stderr with -v), so a CI job can keep
 * the lines as a baseline and compare them.  Where the design
 * sets a target, the line carries it in "target" and says whether it was met
 * in "pass"; a missed target does not change the exit status.  What does is
 * a benchmark's own correctness check ("ok": an event answered twice or not
 * at all, a ring that lost an item, a timer that fired early or late): exit
 * 1.  Usage errors exit 2.
 *
 * Benchmarks (see verdict-bench(1) for every field):
 *   submit      the backend callback's cost: event_get + fill + submit,
 *               each call timed on its own with a calibrated TSC
 *   ring        vd_ring against a mutex-protected array queue
 *   wheel       the timing wheel against a binary min-heap
 *   throughput  events/s through a running pipeline, trivial rules
 *   latency     submit -> answer at a paced rate
 *   spin        latency at 100 k/s as the workers' spin budget varies
 *   query       latency while another thread reads the counters
 *   declog      latency with every decision written to a decision log
 *   es_flood    AUTH latency with and without a NOTIFY flood (simulator)
 *   scenarios   every scenario played by verdictd, the floor (a minimal
 *               inline ES client) and the seed design, each in a child
 *               process: answer latency, callback cost, CPU, RSS, misses
 *   deadlines   every scenario at full time scale, with and without a CPU
 *               hog, verdictd against the floor (a minimal inline ES
 *               client); exit 1 when verdictd missed a deadline or was
 *               terminated where the floor was not.  Long: only with
 *               --only deadlines, never in the default run.
 *
 * Alternatives are compared through small ops tables, so every
 * implementation pays the same indirect call and the loops are shared.
 *
 * The pipeline benchmarks use their own backend: respond() checks off each
 * message id in a per-id array (exactly once), counts who answered (a worker,
 * known from a thread-local set by the evaluator; the producer itself; or
 * the timer/controller), and, for latency, records answer - submit into a
 * histogram per worker, merged after the run.  Nothing is judged from the
 * pipeline's own counters; those are reported beside for comparison.
 */
#include "harness.h"

/* ------------------------------------------------------------------ */
/* main                                                                */

struct bench {
	const char *name;
	void (*run)(void);
	bool only; /* too long for the default run: --only NAME */
};

static const struct bench benches[] = {
	{ "submit", bench_submit },
	{ "ring", bench_ring },
	{ "wheel", bench_wheel },
	{ "throughput", bench_throughput },
	{ "latency", bench_latency },
	{ "spin", bench_spin },
	{ "query", bench_query },
	{ "declog", bench_declog },
	{ "pass", bench_pass, .only = true },
	{ "fanotify", bench_fanotify },
#ifdef VD_HAVE_SIM
	{ "es_flood", bench_es_flood },
	{ "scenarios", bench_scenarios },
	{ "deadlines", bench_deadlines, .only = true },
#endif
};

#define NBENCH (sizeof(benches) / sizeof(benches[0]))

static const char synopsis[] =
    "usage: verdict-bench [-hqvV] [-o name] [-w workers] [-d seconds]\n"
    "                     [-n runs] [-s scenario]... [--hog no|yes|both]\n"
    "                     [--fapolicyd-root DIR] [--json FILE]\n"
    "       verdict-bench --plot DIR FILE...\n"
    "       verdict-bench --compare OLD NEW [--threshold-latency PCT]\n"
    "                     [--threshold-throughput PCT] "
    "[--threshold-cpu PCT]\n";

static void
usage(FILE *f)
{
	size_t i;

	fputs(synopsis, f);
	fprintf(
	    f, "  -o, --only NAME       run this benchmark (repeat for more):");
	for (i = 0; i < NBENCH; i++)
		fprintf(f, " %s", benches[i].name);
	fprintf(f,
	    "\n"
	    "  -q, --quick           smaller counts (a CI smoke run)\n"
	    "  -w, --workers N       pipeline workers (default 2)\n"
	    "  -d, --duration SECS   length of each latency run "
	    "(default 5, quick 2);\n"
	    "                        scenarios: of each scenario (5, quick "
	    "1);\n"
	    "                        fanotify: of each cell (1, quick 0.3);\n"
	    "                        deadlines: overrides each scenario's\n"
	    "  -n, --runs N          deadlines: runs per cell (default 20);\n"
	    "                        declog: pairs of runs (default 5)\n"
	    "  -s, --scenario FILE   scenarios, deadlines: this scenario (a\n"
	    "                        path, or a shipped name); repeat for\n"
	    "                        more; default every shipped one\n"
	    "      --hog MODE        deadlines: no, yes or both (default);\n"
	    "                        scenarios: the same (default no)\n"
	    "      --respond-delay-ms MS  deadlines test hook: verdictd's\n"
	    "                        answers leave MS later\n"
	    "      --eval-delay-us US  test hook: each evaluation of the\n"
	    "                        latency benchmarks spins US (a slowed "
	    "build)\n"
	    "      --fapolicyd-root DIR  fanotify: fapolicyd's package, "
	    "extracted\n"
	    "                        there (default: /usr/sbin/fapolicyd, if "
	    "any)\n"
	    "      --json FILE       the JSON lines to FILE, not stdout\n"
	    "      --compare OLD NEW the regression gate: each figure of NEW\n"
	    "                        against OLD (two --json files); exit 1\n"
	    "                        when one regressed\n"
	    "      --plot DIR FILE...  PNG plots of runs (--json files, one\n"
	    "                        line each) into DIR, with gnuplot\n"
	    "      --threshold-latency PCT     percentiles may grow PCT "
	    "(10)\n"
	    "      --threshold-throughput PCT  events/s may drop PCT (5)\n"
	    "      --threshold-cpu PCT         CPU per event may grow PCT "
	    "(10)\n"
	    "  -v, --verbose         progress on stderr\n"
	    "  -h, --help            this text\n"
	    "  -V, --version         print the version\n"
	    "One JSON line per configuration on stdout; see "
	    "verdict-bench(1).\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "only", required_argument, NULL, 'o' },
		{ "quick", no_argument, NULL, 'q' },
		{ "workers", required_argument, NULL, 'w' },
		{ "duration", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "runs", required_argument, NULL, 'n' },
		{ "scenario", required_argument, NULL, 's' },
		{ "hog", required_argument, NULL, 'H' },
		{ "respond-delay-ms", required_argument, NULL, 'R' },
		{ "eval-delay-us", required_argument, NULL, 'E' },
		{ "json", required_argument, NULL, 'J' },
		{ "compare", required_argument, NULL, 'C' },
		{ "plot", required_argument, NULL, 'P' },
		{ "threshold-latency", required_argument, NULL, 'L' },
		{ "threshold-throughput", required_argument, NULL, 'T' },
		{ "threshold-cpu", required_argument, NULL, 'U' },
		{ "fapolicyd-root", required_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	struct compare_limits lim = { 0.10, 0.05, 0.10 };
	bool chosen[NBENCH] = { false }; /* --only, repeatable */
	const char *compare = NULL, *json = NULL, *plot = NULL;
	unsigned long ul;
	double pct;
	char *end;
	size_t i;
	int c;

#ifdef VD_HAVE_SIM
	/* A run of the scenarios benchmark, in a process of its own. */
	if (argc > 1 && strcmp(argv[1], "--scenario-child") == 0)
		return scenarios_child(argc, argv);
#endif
	while ((c = getopt_long(
	            argc, argv, "hVo:qw:d:vn:s:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("%s %s\n", PROG, VD_VERSION_STRING);
			return 0;
		case 'o':
			for (i = 0; i < NBENCH; i++)
				if (strcmp(optarg, benches[i].name) == 0)
					break;
			if (i == NBENCH)
				return vd_cli_usage_error(PROG, synopsis,
				    "unknown benchmark: %s", optarg);
			chosen[i] = true;
			opt.only = optarg;
			break;
		case 'q':
			opt.quick = true;
			break;
		case 'w':
			errno = 0;
			ul = strtoul(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    ul < 1 || ul > VD_MAX_WORKERS)
				return vd_cli_usage_error(PROG, synopsis,
				    "--workers: expected 1 to 64, got %s",
				    optarg);
			opt.workers = (unsigned)ul;
			break;
		case 'd':
			errno = 0;
			opt.duration_s = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(opt.duration_s >= 0.01 && opt.duration_s <= 3600))
				return vd_cli_usage_error(PROG, synopsis,
				    "--duration: expected 0.01 to 3600 "
				    "seconds, got %s",
				    optarg);
			opt.duration_set = true;
			break;
		case 'n':
			errno = 0;
			ul = strtoul(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    ul < 1 || ul > 100000)
				return vd_cli_usage_error(PROG, synopsis,
				    "--runs: expected 1 to 100000, got %s",
				    optarg);
			opt.runs = (unsigned)ul;
			opt.runs_set = true;
			break;
		case 's':
			if (opt.nscenarios == MAX_SCENARIO_OPTS)
				return vd_cli_usage_error(PROG, synopsis,
				    "--scenario: at most %d, got more",
				    MAX_SCENARIO_OPTS);
			opt.scenarios[opt.nscenarios++] = optarg;
			break;
		case 'H':
			if (strcmp(optarg, "both") == 0)
				opt.hog = HOG_BOTH;
			else if (strcmp(optarg, "no") == 0)
				opt.hog = HOG_NONE;
			else if (strcmp(optarg, "yes") == 0)
				opt.hog = HOG_ONLY;
			else
				return vd_cli_usage_error(PROG, synopsis,
				    "--hog: expected no, yes or both, got %s",
				    optarg);
			opt.hog_set = true;
			break;
		case 'R':
			errno = 0;
			ul = strtoul(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    ul > 60000)
				return vd_cli_usage_error(PROG, synopsis,
				    "--respond-delay-ms: expected 0 to 60000, "
				    "got %s",
				    optarg);
			opt.respond_delay_ms = ul;
			break;
		case 'E':
			errno = 0;
			ul = strtoul(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    ul > 1000000)
				return vd_cli_usage_error(PROG, synopsis,
				    "--eval-delay-us: expected 0 to 1000000, "
				    "got %s",
				    optarg);
			opt.eval_delay_ns = ul * 1000;
			break;
		case 'F':
			opt.fapolicyd_root = optarg;
			break;
		case 'J':
			json = optarg;
			break;
		case 'C':
			compare = optarg;
			break;
		case 'P':
			plot = optarg;
			break;
		case 'L':
		case 'T':
		case 'U':
			errno = 0;
			pct = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(pct >= 0 && pct <= (c == 'T' ? 100 : 10000)))
				return vd_cli_usage_error(PROG, synopsis,
				    "--threshold-%s: expected a percentage "
				    "from 0 to %d, got %s",
				    c == 'L'       ? "latency"
				        : c == 'T' ? "throughput"
				                   : "cpu",
				    c == 'T' ? 100 : 10000, optarg);
			*(c == 'L'         ? &lim.latency
			        : c == 'T' ? &lim.throughput
			                   : &lim.cpu) = pct / 100;
			break;
		case 'v':
			opt.verbose = true;
			break;
		default:
			return vd_cli_usage_error(PROG, synopsis, NULL);
		}
	}
	if (plot != NULL) {
		/* --plot DIR FILE...: nothing runs. */
		if (optind == argc)
			return vd_cli_usage_error(PROG, synopsis,
			    "--plot: expected the JSON files of one or more "
			    "runs");
		return bench_plot(plot, argv + optind, argc - optind);
	}
	if (compare != NULL) {
		/* --compare OLD NEW: nothing runs. */
		if (optind + 1 != argc)
			return vd_cli_usage_error(PROG, synopsis,
			    "--compare: expected OLD and NEW, the JSON of two "
			    "runs");
		return bench_compare(compare, argv[optind], &lim);
	}
	if (optind != argc)
		return vd_cli_usage_error(
		    PROG, synopsis, "unexpected argument: %s", argv[optind]);
	opt.json_out = stdout;
	if (json != NULL && (opt.json_out = fopen(json, "w")) == NULL) {
		vd_cli_warnx(PROG, "--json: %s: %s", json, strerror(errno));
		return EXIT_INPUT;
	}
	if (opt.quick && !opt.duration_set)
		opt.duration_s = 2;

	if (sched_getaffinity(0, sizeof(startup_cpus), &startup_cpus) != 0) {
		CPU_ZERO(&startup_cpus);
		CPU_SET(0, &startup_cpus);
	}
	cyc_calibrate();
	for (i = 0; i < NBENCH; i++)
		if (opt.only == NULL ? !benches[i].only : chosen[i])
			benches[i].run();
	if (opt.json_out != stdout && fclose(opt.json_out) != 0) {
		vd_cli_warnx(PROG, "--json: %s: %s", json, strerror(errno));
		return EXIT_INPUT;
	}
	return failed ? EXIT_CHECK : 0;
}
