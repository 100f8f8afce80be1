/*
 * fanotify.c — verdict-bench fanotify: open and exec storms on real
 * fanotify, verdictd beside the listeners a user would run instead, in one
 * run.
 *
 * It runs fanotify-bench (the program beside this one, else the one on
 * PATH; fanotify-bench(1)) with --json, once for open(2) storms and once
 * for exec storms (--op), and turns each of its cells into a
 * verdict-bench line ("bench": "fanotify", "op": "open" or "exec"):
 * K = 1, 2, 4 and 8 threads under the minimal inline listener (the
 * floor: read, answer, close), verdictd's backend (workers parking, the
 * default) and fapolicyd 1.1.7 permissive when it is installed or
 * --fapolicyd-root names an extracted package.  fanotify-bench marks only
 * a private tmpfs (a ramfs for fapolicyd) in a mount namespace of its own,
 * and stops what it started by pid.  Each verdictd line carries its ratios to
 * the minimal listener of the same run and K, which --compare judges.  Needs
 * root; without it the benchmark says so and writes no line.
 */
#include <limits.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "harness.h"

#define KS "1,2,4,8"

struct cell {
	char system[32];
	unsigned k;
	json_object *o;
};

/* fanotify-bench beside us, else the name for execvp to find. */
static void
find_fbench(char *out, size_t outsz)
{
	char self[PATH_MAX];
	char *slash;

	snprintf(out, outsz, "fanotify-bench");
	if (vd_self_exe(self, sizeof(self)) != 0 ||
	    (slash = strrchr(self, '/')) == NULL)
		return;
	*slash = '\0';
	snprintf(out, outsz, "%s/fanotify-bench", self);
	if (access(out, X_OK) != 0)
		snprintf(out, outsz, "fanotify-bench");
}

/* An extracted package's libraries (liblmdb) for the loader. */
static void
fapolicyd_env(const char *root)
{
	char path[PATH_MAX];

	if (root == NULL || getenv("LD_LIBRARY_PATH") != NULL)
		return;
	snprintf(path, sizeof(path), "%s/usr/lib/x86_64-linux-gnu:%s/usr/lib",
	    root, root);
	setenv("LD_LIBRARY_PATH", path, 1);
}

static const char *
system_of(const char *listener)
{
	if (strcmp(listener, "verdictd-park") == 0)
		return "verdictd";
	return listener; /* none, minimal, fapolicyd */
}

static double
num(json_object *o, const char *k)
{
	bool has;

	return jsonl_num(o, k, &has);
}

static const struct cell *
find(const struct cell *c, unsigned n, const char *sys, unsigned k)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (c[i].k == k && strcmp(c[i].system, sys) == 0)
			return &c[i];
	return NULL;
}

static void
emit(const char *op, const struct cell *c, const struct cell *floor)
{
	struct json j;
	double opens = num(c->o, "opens");

	json_begin(&j, "fanotify");
	json_str(&j, "op", op);
	json_str(&j, "system", c->system);
	json_u64(&j, "k", c->k);
	json_u64(&j, "events", (uint64_t)opens);
	json_dbl(&j, "p50_us", num(c->o, "p50_ns") / 1e3, 2);
	json_dbl(&j, "p99_us", num(c->o, "p99_ns") / 1e3, 2);
	json_dbl(&j, "mean_us", num(c->o, "mean_ns") / 1e3, 2);
	json_dbl(&j, "events_per_s", num(c->o, "opens_per_s"), 0);
	json_dbl(&j, "cpu_ns_per_event", num(c->o, "cpu_ns_per_open"), 0);
	if (strcmp(c->system, "verdictd") == 0) {
		json_u64(&j, "answered_worker",
		    (uint64_t)num(c->o, "answered_worker"));
		json_u64(&j, "answered_default",
		    (uint64_t)num(c->o, "answered_default"));
		json_u64(&j, "dropped", (uint64_t)num(c->o, "dropped"));
		if (floor != NULL) {
			json_dbl(&j, "p50_vs_floor",
			    num(c->o, "p50_ns") / num(floor->o, "p50_ns"), 3);
			json_dbl(&j, "p99_vs_floor",
			    num(c->o, "p99_ns") / num(floor->o, "p99_ns"), 3);
			json_dbl(&j, "events_per_s_vs_floor",
			    num(c->o, "opens_per_s") /
			        num(floor->o, "opens_per_s"),
			    3);
			json_dbl(&j, "cpu_vs_floor",
			    num(c->o, "cpu_ns_per_open") /
			        num(floor->o, "cpu_ns_per_open"),
			    3);
		}
	}
	j.peak_rss_kib = UINT64_MAX; /* fanotify-bench does not say */
	json_end(&j, true);
}

/* One fanotify-bench run of op (open or exec), its lines and table. */
static void
run_op(const char *prog, const char *op, const char *listeners)
{
	char dur[32], *line = NULL;
	const char *argv[20];
	struct cell cells[16];
	unsigned n = 0, i, argc = 0;
	size_t cap = 0;
	int fds[2], status;
	json_object *o, *v;
	FILE *in;
	pid_t pid;

	snprintf(dur, sizeof(dur), "%g",
	    opt.duration_set ? opt.duration_s
	        : opt.quick  ? 0.3
	                     : 1.0);
	argv[argc++] = prog;
	argv[argc++] = "--json";
	argv[argc++] = "--op";
	argv[argc++] = op;
	argv[argc++] = "-d";
	argv[argc++] = dur;
	argv[argc++] = "-r";
	argv[argc++] = opt.quick ? "1" : "3";
	argv[argc++] = "-k";
	argv[argc++] = KS;
	argv[argc++] = "-l";
	argv[argc++] = listeners;
	if (opt.fapolicyd_root != NULL) {
		argv[argc++] = "--fapolicyd-root";
		argv[argc++] = opt.fapolicyd_root;
	}
	argv[argc] = NULL;
	progress("fanotify: %s --op %s -d %s, listeners %s", prog, op, dur,
	    listeners);
	if (pipe(fds) != 0) {
		vd_cli_warnx(PROG, "fanotify: pipe: %s", strerror(errno));
		failed = true;
		return;
	}
	fflush(NULL);
	if ((pid = fork()) == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execvp(prog, (char *const *)argv);
		vd_cli_warnx(PROG, "fanotify: %s: %s", prog, strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	if (pid < 0 || (in = fdopen(fds[0], "r")) == NULL) {
		vd_cli_warnx(
		    PROG, "fanotify: cannot run %s: %s", prog, strerror(errno));
		if (pid < 0)
			close(fds[0]);
		failed = true;
		return;
	}
	while (getline(&line, &cap, in) > 0) {
		o = json_tokener_parse(line);
		if (o == NULL ||
		    !json_object_object_get_ex(o, "listener", &v) ||
		    n == sizeof(cells) / sizeof(cells[0])) {
			json_object_put(o); /* a target line, or none */
			continue;
		}
		snprintf(cells[n].system, sizeof(cells[n].system), "%s",
		    system_of(json_object_get_string(v)));
		cells[n].k = (unsigned)num(o, "k");
		cells[n].o = o;
		n++;
	}
	free(line);
	fclose(in);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		continue;
	/* 77: fanotify-bench cannot run here (no fanotify, no namespace). */
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		vd_cli_warnx(
		    PROG, "fanotify: skipped: %s cannot run here", prog);
	else if (n == 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		vd_cli_warnx(PROG, "fanotify: %s --op %s failed (status %d)",
		    prog, op, status);
		failed = true;
	}
	for (i = 0; i < n; i++)
		emit(op, &cells[i], find(cells, n, "minimal", cells[i].k));
	if (n != 0)
		fprintf(stderr, "\n%-10s %3s %10s %9s %9s %12s %12s\n",
		    "listener", "K", op, "p50 µs", "p99 µs", "per second",
		    "CPU ns each");
	for (i = 0; i < n; i++)
		fprintf(stderr, "%-10s %3u %10.0f %9.1f %9.1f %12.0f %12.0f\n",
		    cells[i].system, cells[i].k, num(cells[i].o, "opens"),
		    num(cells[i].o, "p50_ns") / 1e3,
		    num(cells[i].o, "p99_ns") / 1e3,
		    num(cells[i].o, "opens_per_s"),
		    num(cells[i].o, "cpu_ns_per_open"));
	for (i = 0; i < n; i++)
		json_object_put(cells[i].o);
}

void
bench_fanotify(void)
{
	char prog[PATH_MAX];
	char listeners[128] = "minimal,verdictd-park";

	if (geteuid() != 0) {
		vd_cli_warnx(PROG, "fanotify: skipped: needs root");
		return;
	}
	find_fbench(prog, sizeof(prog));
	if (opt.fapolicyd_root != NULL ||
	    access("/usr/sbin/fapolicyd", X_OK) == 0)
		strcat(listeners, ",fapolicyd");
	fapolicyd_env(opt.fapolicyd_root);
	run_op(prog, "open", listeners);
	run_op(prog, "exec", listeners);
}
