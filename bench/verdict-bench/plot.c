/*
 * plot.c — verdict-bench --plot DIR FILE...: PNG plots of benchmark runs
 * (their --json files), one line per run, rendered by gnuplot
 * (gnuplot-nox).  Each FILE is one system or one build: name the files
 * after them (main.json, my-change.json, fapolicyd.json); the legend uses
 * the file names.
 *
 *   latency.png     answer latency at p50, p99 and p99.9 (log scale) of
 *                   each latency line (benchmarks latency, query, declog,
 *                   spin), one line per file and configuration
 *   throughput.png  events/s of each throughput line against its
 *                   producers, one line per file
 *
 * The data and the gnuplot script are kept in DIR beside the PNGs
 * (*.dat, plot.gp), so a plot can be redrawn or restyled by hand.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compare.h"
#include "prog.h"
#include "util/util.h"

static double
num(json_object *o, const char *k, bool *has)
{
	json_object *v;

	*has = json_object_object_get_ex(o, k, &v) &&
	    (json_object_is_type(v, json_type_int) ||
	        json_object_is_type(v, json_type_double));
	return *has ? json_object_get_double(v) : 0;
}

/* "main" for ".../main.json". */
static void
label_of(const char *path, char *out, size_t outsz)
{
	const char *b = strrchr(path, '/');
	size_t n;

	b = b != NULL ? b + 1 : path;
	n = strcspn(b, ".");
	snprintf(out, outsz, "%.*s", (int)n, b);
}

static bool
is_latency(const char *bench)
{
	return strcmp(bench, "latency") == 0 || strcmp(bench, "query") == 0 ||
	    strcmp(bench, "declog") == 0 || strcmp(bench, "spin") == 0;
}

/*
 * Writes DIR/latency-F-K.dat (x: 1 p50, 2 p99, 3 p99.9; y: us) for each
 * latency line K of file F, and DIR/throughput-F.dat (producers,
 * events/s), and the plot commands into gp.  Returns the number of data
 * sets, or -1 on an error.
 */
static int
write_data(const char *dir, const char *file, int f, FILE *lat_gp, FILE *tp_gp,
    bool *first_lat, bool *first_tp)
{
	static const char *const qs[] = { "p50_us", "p99_us", "p999_us" };
	char path[4096], label[128];
	struct lines l;
	FILE *out, *tp = NULL;
	size_t i, q, k = 0;
	bool has;
	double v;
	int sets = 0;

	if (jsonl_read(file, &l) != 0)
		return -1;
	label_of(file, label, sizeof(label));
	for (i = 0; i < l.n; i++) {
		const char *b = jsonl_bench(l.v[i]);

		if (is_latency(b)) {
			snprintf(path, sizeof(path), "%s/latency-%d-%zu.dat",
			    dir, f, k);
			if ((out = fopen(path, "w")) == NULL)
				goto io;
			for (q = 0; q < 3; q++) {
				v = num(l.v[i], qs[q], &has);
				if (has)
					fprintf(out, "%zu %g\n", q + 1, v);
			}
			fclose(out);
			v = num(l.v[i], "workers", &has);
			fprintf(lat_gp,
			    "%s'%s' using 1:2 with linespoints title "
			    "'%s: %s %g/s, %g worker%s'",
			    *first_lat ? "plot " : ", \\\n     ", path, label,
			    b, num(l.v[i], "rate", &has), v, v == 1 ? "" : "s");
			*first_lat = false;
			k++;
			sets++;
		} else if (strcmp(b, "throughput") == 0) {
			if (tp == NULL) {
				snprintf(path, sizeof(path),
				    "%s/throughput-%d.dat", dir, f);
				if ((tp = fopen(path, "w")) == NULL)
					goto io;
				fprintf(tp_gp,
				    "%s'%s' using 1:($2/1e6) with linespoints "
				    "title '%s'",
				    *first_tp ? "plot " : ", \\\n     ", path,
				    label);
				*first_tp = false;
				sets++;
			}
			fprintf(tp, "%g %g\n", num(l.v[i], "producers", &has),
			    num(l.v[i], "events_per_s", &has));
		}
	}
	if (tp != NULL)
		fclose(tp);
	jsonl_free(&l);
	return sets;
io:
	vd_cli_warnx(PROG, "--plot: %s: %s", path, strerror(errno));
	if (tp != NULL)
		fclose(tp);
	jsonl_free(&l);
	return -1;
}

int
bench_plot(const char *dir, char *const *files, int nfiles)
{
	char gp_path[4096], lat_path[4096], tp_path[4096], cmd[8192];
	FILE *lat, *tp, *gp;
	bool first_lat = true, first_tp = true;
	int f, rc, sets = 0, n;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		vd_cli_warnx(PROG, "--plot: %s: %s", dir, strerror(errno));
		return EXIT_INPUT;
	}
	snprintf(lat_path, sizeof(lat_path), "%s/latency.gp.part", dir);
	snprintf(tp_path, sizeof(tp_path), "%s/throughput.gp.part", dir);
	snprintf(gp_path, sizeof(gp_path), "%s/plot.gp", dir);
	if ((lat = fopen(lat_path, "w+")) == NULL ||
	    (tp = fopen(tp_path, "w+")) == NULL) {
		vd_cli_warnx(PROG, "--plot: %s: %s", dir, strerror(errno));
		return EXIT_INPUT;
	}
	for (f = 0; f < nfiles; f++) {
		if ((n = write_data(dir, files[f], f, lat, tp, &first_lat,
		         &first_tp)) < 0) {
			fclose(lat);
			fclose(tp);
			return EXIT_INPUT;
		}
		sets += n;
	}
	if (sets == 0) {
		vd_cli_warnx(PROG,
		    "--plot: no latency or throughput lines in the files");
		fclose(lat);
		fclose(tp);
		return EXIT_INPUT;
	}
	if ((gp = fopen(gp_path, "w")) == NULL) {
		vd_cli_warnx(PROG, "--plot: %s: %s", gp_path, strerror(errno));
		fclose(lat);
		fclose(tp);
		return EXIT_INPUT;
	}
	fprintf(gp,
	    "# verdict-bench --plot: gnuplot %s/plot.gp redraws them.\n"
	    "set terminal pngcairo size 960,600 font 'sans,11'\n"
	    "set grid\nset key outside right top vertical\n",
	    dir);
	if (!first_lat) {
		fprintf(gp,
		    "set output '%s/latency.png'\n"
		    "set title 'Answer latency (submit to answer), by "
		    "percentile'\n"
		    "set xlabel 'percentile'\n"
		    "set ylabel 'latency (microseconds, log scale)'\n"
		    "set logscale y\nset xrange [0.8:3.2]\n"
		    "set xtics ('p50' 1, 'p99' 2, 'p99.9' 3)\n",
		    dir);
		rewind(lat);
		while ((n = fgetc(lat)) != EOF)
			fputc(n, gp);
		fputs("\nunset logscale y\nset xtics auto\nset xrange "
		      "[*:*]\n",
		    gp);
	}
	if (!first_tp) {
		fprintf(gp,
		    "set output '%s/throughput.png'\n"
		    "set title 'Pipeline throughput, by producers'\n"
		    "set xlabel 'producer threads'\n"
		    "set ylabel 'events answered (millions a second)'\n"
		    "set yrange [0:*]\nset xtics 1\n",
		    dir);
		rewind(tp);
		while ((n = fgetc(tp)) != EOF)
			fputc(n, gp);
		fputc('\n', gp);
	}
	fclose(lat);
	fclose(tp);
	remove(lat_path);
	remove(tp_path);
	if (fclose(gp) != 0) {
		vd_cli_warnx(PROG, "--plot: %s: %s", gp_path, strerror(errno));
		return EXIT_INPUT;
	}
	snprintf(cmd, sizeof(cmd), "gnuplot '%s'", gp_path);
	rc = system(cmd);
	if (rc != 0) {
		vd_cli_warnx(PROG,
		    "--plot: gnuplot %s failed (exit %d; Debian: apt-get "
		    "install gnuplot-nox)",
		    gp_path, WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
		return 1;
	}
	return 0;
}
