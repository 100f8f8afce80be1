/*
 * plot.c — verdict-bench --plot DIR FILE...: PNG plots of benchmark runs
 * (their --json files), rendered by gnuplot (gnuplot-nox).  Each FILE is
 * one run: one build, or one machine; name the files after them
 * (main.json, my-change.json).  Where one file gives a plot its lines,
 * the legend names each system; where several do, the file and the
 * system.
 *
 *   latency.png     answer latency at p50, p99 and p99.9 (log scale) of
 *                   each latency line (benchmarks latency, query, declog,
 *                   spin), one line per file and configuration
 *   throughput.png  events/s of each throughput line against its
 *                   producers, one line per file
 *   fanotify.png, fanotify-exec.png
 *                   opens/s (execs/s) against the number of threads K,
 *                   one line per system (verdictd, the minimal listener,
 *                   fapolicyd) and file
 *   scenario-NAME-latency.png
 *                   answer latency at p50, p90, p99, p99.9 and the maximum
 *                   (log scale) in scenario NAME, one line per system
 *   scenario-NAME-time.png
 *                   the slowest answer of each time bucket over the run
 *                   (log scale), one line per system, with the deadline
 *                   and the point where verdictd answers by default
 *                   (deadline minus margin) drawn across
 *
 * The data and the gnuplot script are kept in DIR beside the PNGs
 * (*.dat, plot.gp), so a plot can be redrawn or restyled by hand.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compare.h"
#include "prog.h"
#include "util/util.h"

#define MAX_PLOTS 64

/* Kinds of plot, by the lines they draw. */
enum kind { K_LATENCY, K_THROUGHPUT, K_FANOTIFY, K_SCENARIOS, K_COUNT };

/* One PNG: gnuplot's settings, then its plot clauses. */
struct plot {
	char name[96];
	char *head, *body;
	size_t head_len, body_len;
	FILE *hf, *bf;
	unsigned sets;
	double deadline_ms, margin_ms; /* scenario time plots: 0, none */
};

struct plots {
	const char *dir;
	struct plot p[MAX_PLOTS];
	unsigned n;
	unsigned dat; /* data files written */
	/* Per kind of plot (enum kind), how many FILEs have its lines: with
	 * more than one, the legend names the file. */
	unsigned files_with[K_COUNT];
};

static double
num0(json_object *o, const char *k)
{
	bool has;

	return jsonl_num(o, k, &has);
}

static const char *
str(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v)
	                                           : "";
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

/* A gnuplot single-quoted string (a quote is doubled); text (a title)
 * also escapes the enhanced text mode's markup, a path does not. */
static void
gp_quoted(FILE *f, const char *s, bool text)
{
	fputc('\'', f);
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			fputc('\'', f);
		if (text && strchr("_^@&{}", *s) != NULL)
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

/* The plot named name, made with its settings (a printf format) the
 * first time; NULL when there are too many or memory is short. */
static struct plot *plot_get(struct plots *ps, const char *name,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static struct plot *
plot_get(struct plots *ps, const char *name, const char *fmt, ...)
{
	struct plot *p;
	va_list ap;
	unsigned i;

	for (i = 0; i < ps->n; i++)
		if (strcmp(ps->p[i].name, name) == 0)
			return &ps->p[i];
	if (ps->n == MAX_PLOTS) {
		vd_cli_warnx(PROG, "--plot: more than %d plots; %s left out",
		    MAX_PLOTS, name);
		return NULL;
	}
	p = &ps->p[ps->n];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	if ((p->hf = open_memstream(&p->head, &p->head_len)) == NULL ||
	    (p->bf = open_memstream(&p->body, &p->body_len)) == NULL) {
		if (p->hf != NULL)
			fclose(p->hf);
		free(p->head);
		vd_cli_warnx(PROG, "--plot: out of memory");
		return NULL;
	}
	va_start(ap, fmt);
	vfprintf(p->hf, fmt, ap);
	va_end(ap);
	ps->n++;
	return p;
}

/* A new data file for plot p: its path in path, open for writing. */
static FILE *
dat_open(struct plots *ps, char *path, size_t pathsz)
{
	FILE *f;

	snprintf(path, pathsz, "%s/data-%u.dat", ps->dir, ps->dat++);
	if ((f = fopen(path, "w")) == NULL)
		vd_cli_warnx(PROG, "--plot: %s: %s", path, strerror(errno));
	return f;
}

/* Adds one data set to p: `using` columns and style, titled title. */
static void
plot_add(struct plot *p, const char *path, const char *using, const char *title)
{
	fputs(p->sets ? ", \\\n     " : "", p->bf);
	gp_quoted(p->bf, path, false);
	fprintf(p->bf, " using %s title ", using);
	gp_quoted(p->bf, title, true);
	p->sets++;
}

static bool
is_latency(const char *bench)
{
	return strcmp(bench, "latency") == 0 || strcmp(bench, "query") == 0 ||
	    strcmp(bench, "declog") == 0 || strcmp(bench, "spin") == 0;
}

static int
kind_of(const char *bench)
{
	if (is_latency(bench))
		return K_LATENCY;
	if (strcmp(bench, "throughput") == 0)
		return K_THROUGHPUT;
	if (strcmp(bench, "fanotify") == 0)
		return K_FANOTIFY;
	if (strcmp(bench, "scenarios") == 0)
		return K_SCENARIOS;
	return -1;
}

static void
title_of(const struct plots *ps, enum kind k, const char *label,
    const char *what, char *out, size_t outsz)
{
	if (ps->files_with[k] > 1)
		snprintf(out, outsz, "%s: %s", label, what);
	else
		snprintf(out, outsz, "%s", what);
}

/* A data file of o's percentiles qs[0..n), at x = 1..n; 0 or -1. */
static int
pct_dat(struct plots *ps, json_object *o, const char *const *qs, size_t n,
    char *path, size_t pathsz)
{
	bool has;
	double v;
	FILE *f;
	size_t q;

	if ((f = dat_open(ps, path, pathsz)) == NULL)
		return -1;
	for (q = 0; q < n; q++) {
		v = jsonl_num(o, qs[q], &has);
		/* 0 cannot be drawn on a log scale: no answer at all. */
		if (has && v > 0)
			fprintf(f, "%zu %g\n", q + 1, v);
	}
	fclose(f);
	return 0;
}

/* A latency benchmark's line: p50, p99, p99.9. */
static int
add_latency(struct plots *ps, json_object *o, const char *label)
{
	static const char *const qs[] = { "p50_us", "p99_us", "p999_us" };
	char path[4096], what[256], title[512];
	struct plot *p;
	double w;

	p = plot_get(ps, "latency",
	    "set title 'Answer latency (submit to answer), by percentile'\n"
	    "set xlabel 'percentile'\n"
	    "set ylabel 'latency (microseconds, log scale)'\n"
	    "set logscale y\nset format y '10^{%%L}'\nset xrange [0.8:3.2]\n"
	    "set xtics ('p50' 1, 'p99' 2, 'p99.9' 3)\n"
	    "set style data linespoints\n");
	if (p == NULL || pct_dat(ps, o, qs, 3, path, sizeof(path)) != 0)
		return -1;
	w = num0(o, "workers");
	snprintf(what, sizeof(what), "%s %g/s, %g worker%s", str(o, "bench"),
	    num0(o, "rate"), w, w == 1 ? "" : "s");
	title_of(ps, K_LATENCY, label, what, title, sizeof(title));
	plot_add(p, path, "1:2", title);
	return 0;
}

/* The throughput lines of one file: events/s by producers. */
static int
add_throughput(struct plots *ps, json_object **v, size_t n, const char *label)
{
	char path[4096], title[512];
	struct plot *p = NULL;
	FILE *f = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(str(v[i], "bench"), "throughput") != 0)
			continue;
		if (f == NULL) {
			p = plot_get(ps, "throughput",
			    "set title 'Pipeline throughput, by producers'\n"
			    "set xlabel 'producer threads'\n"
			    "set ylabel 'events answered (millions a "
			    "second)'\n"
			    "set yrange [0:*]\nset xtics 1\n"
			    "set style data linespoints\n");
			if (p == NULL ||
			    (f = dat_open(ps, path, sizeof(path))) == NULL)
				return -1;
		}
		fprintf(f, "%g %g\n", num0(v[i], "producers"),
		    num0(v[i], "events_per_s"));
	}
	if (f == NULL)
		return 0;
	fclose(f);
	title_of(ps, K_THROUGHPUT, label, "verdictd", title, sizeof(title));
	plot_add(p, path, "1:($2/1e6)", title);
	return 0;
}

/* The fanotify lines of one file: opens/s by K, one set per system. */
static int
add_fanotify(struct plots *ps, json_object **v, size_t n, const char *label)
{
	char path[4096], title[512], seen[16][48], key[48];
	unsigned nseen = 0, s;
	struct plot *p;
	const char *sys, *op;
	bool exec;
	size_t i, k;
	FILE *f;

	for (i = 0; i < n; i++) {
		if (strcmp(str(v[i], "bench"), "fanotify") != 0)
			continue;
		sys = str(v[i], "system");
		op = str(v[i], "op");
		exec = strcmp(op, "exec") == 0;
		snprintf(key, sizeof(key), "%s/%s", op, sys);
		for (s = 0; s < nseen && strcmp(seen[s], key) != 0; s++)
			continue;
		if (s < nseen || nseen == 16)
			continue;
		snprintf(seen[nseen++], sizeof(seen[0]), "%s", key);
		p = plot_get(ps, exec ? "fanotify-exec" : "fanotify",
		    "set title '%s under each fanotify listener, by concurrent "
		    "threads'\n"
		    "set xlabel 'threads (K)'\n"
		    "set ylabel '%s (thousands a second)'\n"
		    "set yrange [0:*]\nset logscale x 2\nset xrange [0.8:10]\n"
		    "set xtics (1, 2, 4, 8)\n"
		    "set style data linespoints\n",
		    exec ? "exec (posix_spawn and wait)" : "open(2)",
		    exec ? "execs" : "opens");
		if (p == NULL || (f = dat_open(ps, path, sizeof(path))) == NULL)
			return -1;
		for (k = i; k < n; k++)
			if (strcmp(str(v[k], "bench"), "fanotify") == 0 &&
			    strcmp(str(v[k], "system"), sys) == 0 &&
			    strcmp(str(v[k], "op"), op) == 0)
				fprintf(f, "%g %g\n", num0(v[k], "k"),
				    num0(v[k], "events_per_s"));
		fclose(f);
		title_of(ps, K_FANOTIFY, label, sys, title, sizeof(title));
		plot_add(p, path, "1:($2/1e3)", title);
	}
	return 0;
}

/* A scenarios line: its percentiles, and its series over time. */
static int
add_scenario(struct plots *ps, json_object *o, const char *label)
{
	static const char *const qs[] = { "p50_us", "p90_us", "p99_us",
		"p999_us", "max_us" };
	const char *scn = str(o, "scenario"), *sys = str(o, "system");
	char name[96], path[4096], title[512];
	json_object *mx, *ans;
	struct plot *p;
	double bucket_s;
	size_t i, nb;
	FILE *f;

	snprintf(name, sizeof(name), "scenario-%s-latency", scn);
	p = plot_get(ps, name,
	    "set title 'Scenario %s: answer latency (event to answer), by "
	    "percentile'\n"
	    "set xlabel 'percentile'\n"
	    "set ylabel 'latency (microseconds, log scale)'\n"
	    "set logscale y\nset format y '10^{%%L}'\nset xrange [0.8:5.2]\n"
	    "set xtics ('p50' 1, 'p90' 2, 'p99' 3, 'p99.9' 4, 'max' 5)\n"
	    "set style data linespoints\n",
	    scn);
	if (p == NULL || pct_dat(ps, o, qs, 5, path, sizeof(path)) != 0)
		return -1;
	title_of(ps, K_SCENARIOS, label, sys, title, sizeof(title));
	/* A terminated client's figures end where it was killed. */
	if (num0(o, "peer_terminated") != 0 || num0(o, "terminations") != 0)
		strncat(
		    title, " (terminated)", sizeof(title) - strlen(title) - 1);
	plot_add(p, path, "1:2", title);

	bucket_s = num0(o, "series_bucket_ms") / 1e3;
	if (bucket_s <= 0 ||
	    !json_object_object_get_ex(o, "series_max_us", &mx) ||
	    !json_object_object_get_ex(o, "series_answered", &ans) ||
	    !json_object_is_type(mx, json_type_array))
		return 0;
	snprintf(name, sizeof(name), "scenario-%s-time", scn);
	p = plot_get(ps, name,
	    "set title 'Scenario %s: the slowest answer of each %.0f ms, over "
	    "the run'\n"
	    "set xlabel 'time since the run began (seconds)'\n"
	    "set ylabel 'slowest answer (milliseconds, log scale)'\n"
	    "set logscale y\nset format y '10^{%%L}'\nset xrange [0:*]\n"
	    "set style data lines\n",
	    scn, bucket_s * 1e3);
	if (p == NULL || (f = dat_open(ps, path, sizeof(path))) == NULL)
		return -1;
	nb = json_object_array_length(mx);
	for (i = 0; i < nb; i++) {
		/* A bucket with no answer has no point: a blank line breaks
		 * the curve there rather than draw across the gap. */
		if (json_object_get_int64(json_object_array_get_idx(ans, i)) ==
		    0) {
			fputc('\n', f);
			continue;
		}
		fprintf(f, "%g %g\n", ((double)i + 0.5) * bucket_s,
		    json_object_get_double(json_object_array_get_idx(mx, i)) /
		        1e3);
	}
	fclose(f);
	plot_add(p, path, "1:2", title);
	if (strcmp(sys, "verdictd") == 0 && p->deadline_ms == 0) {
		p->deadline_ms = num0(o, "deadline_ms");
		p->margin_ms = num0(o, "margin_ms");
	}
	return 0;
}

/* Counts, per kind of plot, the files that have its lines. */
static int
count_file(struct plots *ps, const char *file)
{
	bool seen[K_COUNT] = { false };
	struct lines l;
	size_t i;
	int k;

	if (jsonl_read(file, &l) != 0)
		return -1;
	for (i = 0; i < l.n; i++)
		if ((k = kind_of(jsonl_bench(l.v[i]))) >= 0)
			seen[k] = true;
	for (k = 0; k < K_COUNT; k++)
		ps->files_with[k] += seen[k];
	jsonl_free(&l);
	return 0;
}

static int
add_file(struct plots *ps, const char *file)
{
	char label[128];
	struct lines l;
	size_t i;
	int rc = 0;

	if (jsonl_read(file, &l) != 0)
		return -1;
	label_of(file, label, sizeof(label));
	for (i = 0; i < l.n && rc == 0; i++) {
		const char *b = jsonl_bench(l.v[i]);

		if (is_latency(b))
			rc = add_latency(ps, l.v[i], label);
		else if (strcmp(b, "scenarios") == 0)
			rc = add_scenario(ps, l.v[i], label);
	}
	if (rc == 0)
		rc = add_throughput(ps, l.v, l.n, label);
	if (rc == 0)
		rc = add_fanotify(ps, l.v, l.n, label);
	jsonl_free(&l);
	return rc;
}

/* The deadline and the default answer's point, drawn across. */
static void
add_deadline(struct plot *p)
{
	if (p->deadline_ms <= 0)
		return;
	fprintf(p->bf,
	    ", \\\n     %g with lines dashtype 2 lw 2 lc rgb 'red' title "
	    "'deadline (shortest ordinary, %.0f ms)'",
	    p->deadline_ms, p->deadline_ms);
	if (p->margin_ms > 0 && p->margin_ms < p->deadline_ms)
		fprintf(p->bf,
		    ", \\\n     %g with lines dashtype 3 lw 2 lc rgb "
		    "'dark-orange' title 'verdictd answers by default "
		    "(deadline "
		    "- %.0f ms margin)'",
		    p->deadline_ms - p->margin_ms, p->margin_ms);
}

static int
write_script(struct plots *ps, const char *gp_path)
{
	char out[4096];
	struct plot *p;
	FILE *gp;
	unsigned i;

	if ((gp = fopen(gp_path, "w")) == NULL) {
		vd_cli_warnx(PROG, "--plot: %s: %s", gp_path, strerror(errno));
		return -1;
	}
	fprintf(gp, "# verdict-bench --plot: gnuplot plot.gp redraws them.\n");
	for (i = 0; i < ps->n; i++) {
		p = &ps->p[i];
		add_deadline(p);
		fflush(p->hf);
		fflush(p->bf);
		fprintf(gp,
		    "\nreset\nset terminal pngcairo size 960,640 "
		    "font 'sans,11' linewidth 1.5\nset grid\n"
		    "set key below\n");
		snprintf(out, sizeof(out), "%s/%s.png", ps->dir, p->name);
		fputs("set output ", gp);
		gp_quoted(gp, out, false);
		fputc('\n', gp);
		fwrite(p->head, 1, p->head_len, gp);
		fprintf(gp, "plot ");
		fwrite(p->body, 1, p->body_len, gp);
		fputc('\n', gp);
	}
	if (fclose(gp) != 0) {
		vd_cli_warnx(PROG, "--plot: %s: %s", gp_path, strerror(errno));
		return -1;
	}
	return 0;
}

static void
plots_free(struct plots *ps)
{
	unsigned i;

	for (i = 0; i < ps->n; i++) {
		fclose(ps->p[i].hf);
		fclose(ps->p[i].bf);
		free(ps->p[i].head);
		free(ps->p[i].body);
	}
}

int
bench_plot(const char *dir, char *const *files, int nfiles)
{
	static struct plots ps;
	char gp_path[4096];
	pid_t pid;
	int f, rc;

	memset(&ps, 0, sizeof(ps));
	ps.dir = dir;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		vd_cli_warnx(PROG, "--plot: %s: %s", dir, strerror(errno));
		return EXIT_INPUT;
	}
	for (f = 0; f < nfiles; f++)
		if (count_file(&ps, files[f]) != 0)
			return EXIT_INPUT;
	for (f = 0; f < nfiles; f++)
		if (add_file(&ps, files[f]) != 0) {
			plots_free(&ps);
			return EXIT_INPUT;
		}
	if (ps.n == 0) {
		vd_cli_warnx(PROG,
		    "--plot: no latency, throughput, fanotify or scenarios "
		    "lines in the files");
		return EXIT_INPUT;
	}
	snprintf(gp_path, sizeof(gp_path), "%s/plot.gp", dir);
	rc = write_script(&ps, gp_path);
	plots_free(&ps);
	if (rc != 0)
		return EXIT_INPUT;
	/* Not through a shell: DIR may hold any character. */
	fflush(NULL);
	if ((pid = fork()) == 0) {
		execlp("gnuplot", "gnuplot", gp_path, (char *)NULL);
		_exit(127);
	}
	rc = -1;
	while (pid > 0 && waitpid(pid, &rc, 0) < 0 && errno == EINTR)
		continue;
	if (rc != 0) {
		vd_cli_warnx(PROG,
		    "--plot: gnuplot %s failed (exit %d; Debian: apt-get "
		    "install gnuplot-nox)",
		    gp_path, WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
		return 1;
	}
	return 0;
}
