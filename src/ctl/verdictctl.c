/*
 * verdictctl.c — the operator's tool: reads verdictd's counters the way
 * sysctl(8) reads the kernel's, prints the daemon's status and asks it to
 * re-read its configuration, over the control socket of proto.h.
 *
 * One request per connection, as the protocol says: connect, send, read
 * the reply, close.  The reply is not trusted: its header is checked
 * (magic, kind, flags, a length of at most VD_CTL_MAX_REPLY) before any
 * payload byte is read or memory allocated, and every record of the
 * payload is split and checked before it is printed.  Names given on the
 * command line are checked with the protocol's own rule before they are
 * sent, so a typo is a usage error here rather than a refusal there.
 *
 * The timeout bounds the whole exchange: the connect by the socket's
 * SO_SNDTIMEO (Linux applies it to a connect that waits on a full
 * backlog), the reads by vd_ctl_read_full()'s deadline, set to what is
 * left of it.  The send needs no bound: a request is at most 4 KiB and
 * fits in an empty socket buffer.
 *
 * "trust import" (trust.c) talks to no daemon: it reads the package
 * manager's database and writes a trust set.  It is dispatched before the
 * option parsing, since its options are its own; the global ones do not
 * apply to it.
 *
 * Exit status: 0 success, 1 no such counter or reload refused (trust
 * import: nothing to import), 2 usage error, 3 the daemon is not running,
 * 4 permission denied on the socket, 5 a protocol or I/O error (timeout,
 * malformed reply, closed connection; standard output).  Functions below
 * the option parsing that talk to the daemon print their own message and
 * return one of these, so main() only passes it on.
 */
#include "ctl/ctl.h"

/* Set by SIGINT / SIGTERM while watching; the loop checks it. */
static volatile sig_atomic_t stop_requested;

static const char name_rule[] =
    "1 to 127 of [a-z0-9_.], no dot first, last or twice in a row";

/* "trust" after global options (main()): none of them applies to it. */
static const char trust_first[] = "trust comes first: it takes none of -S, "
                                  "-t, -a, -j, -n, -v, -w and --prometheus";

static const char synopsis[] =
    "usage: verdictctl [-S socket] [-t seconds] [-njv] [--prometheus] -a\n"
    "       verdictctl [-S socket] [-t seconds] [-njv] [--prometheus] "
    "name ...\n"
    "       verdictctl [-S socket] [-t seconds] [-v] -w [seconds] "
    "-a | name ...\n"
    "       verdictctl [-S socket] [-t seconds] [-nj] status\n"
    "       verdictctl [-S socket] [-t seconds] reload\n"
    "       verdictctl [-S socket] [-t seconds] explain query ...\n"
    "       verdictctl trust import --dpkg | --rpm [--root DIR]\n"
    "       verdictctl -h | -V\n";

static const struct option long_opts[] = {
	{ "all", no_argument, NULL, 'a' },
	{ "help", no_argument, NULL, 'h' },
	{ "json", no_argument, NULL, 'j' },
	{ "values", no_argument, NULL, 'n' },
	{ "prometheus", no_argument, NULL, OPT_PROMETHEUS },
	{ "socket", required_argument, NULL, 'S' },
	{ "timeout", required_argument, NULL, 't' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ "watch", optional_argument, NULL, 'w' },
	{ NULL, 0, NULL, 0 },
};
static const char short_opts[] = "ahjnS:t:vVw::";

static void
usage(FILE *fp)
{
	static const char *const text[] = {
		"",
		"Read verdictd's counters and status over its control socket.",
		"A name selects that counter or every counter under it.",
		"",
		"  -a, --all              every counter",
		"  -n, --values           print values only",
		"  -j, --json             print one JSON object",
		"  -v, --verbose          with -j: kind, unit and help too;",
		"                         otherwise: units after the values",
		"      --prometheus       Prometheus text format 0.0.4",
		"  -w, --watch [SECONDS]  refresh every SECONDS (0.1..3600,",
		"                         default 1) with rates; ^C stops",
		"  -S, --socket PATH      control socket (default:",
		"                         $VERDICTD_SOCKET "
		"or " VD_CTL_DEFAULT_PATH ")",
		"  -t, --timeout SECONDS  give up after SECONDS (default 5)",
		"  -h, --help             print this help and exit",
		"  -V, --version          print the version and exit",
		"",
		"  status                 the daemon's status, key: value",
		"  reload                 re-read the configuration file",
		"  explain QUERY          which rule of the policy in force",
		"                         decides an event, and why: QUERY as",
		"                         verdictd --explain takes it",
		"  trust import --dpkg | --rpm [--root DIR]",
		"                         the SHA-256 digests of the packaged",
		"                         files, as sha256sum prints them (no",
		"                         daemon; verdictctl trust --help)",
		"",
		"Exit status: 0 success, 1 no such counter, reload refused or",
		"nothing to import, 2 usage error, 3 verdictd not running,",
		"4 permission denied, 5 protocol or I/O error.",
	};

	fputs(synopsis, fp);
	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
		fprintf(fp, "%s\n", text[i]);
}

double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A whole string that strtod takes, in [lo, hi]; false otherwise. */
static bool
parse_seconds(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	if (*s == '\0')
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

/*
 * Looks like an interval: starts with a digit or a dot and strtod takes all
 * of it.  Counter names start with a letter, so "-w 2 auth" is unambiguous.
 */
static bool
is_number(const char *s)
{
	char *end;

	if (!((*s >= '0' && *s <= '9') || *s == '.'))
		return false;
	(void)strtod(s, &end);
	return *end == '\0';
}

/*
 * "--name" without "=", or an abbreviation getopt_long takes: every long
 * option that needs this (socket, timeout, watch) is the only one starting
 * with its first letter.
 */
static bool
is_long(const char *arg, const char *name)
{
	size_t n;

	if (strncmp(arg, "--", 2) != 0)
		return false;
	arg += 2;
	n = strlen(arg);
	return n >= 1 && strchr(arg, '=') == NULL && strncmp(name, arg, n) == 0;
}

/*
 * Whether the option word a (a '-' and more, not "--") takes the next
 * argument as its own: -S, -t and their long forms, or a cluster ending
 * with S or t.  *watch: it ends with -w, whose interval may follow.
 */
static bool
takes_next(const char *a, bool *watch)
{
	size_t n = strlen(a);

	*watch = false;
	if (a[1] == '-') {
		*watch = is_long(a, "watch");
		return is_long(a, "socket") || is_long(a, "timeout");
	}
	/* A cluster: an option with an argument ends it. */
	for (size_t k = 1; k < n; k++) {
		if (a[k] == 'S' || a[k] == 't' || a[k] == 'w') {
			*watch = k == n - 1 && a[k] == 'w';
			return k == n - 1 && a[k] != 'w';
		}
	}
	return false;
}

/* The index in argv of the command or first name, as getopt will find
 * it; 0 when there is none. */
static int
first_operand(int argc, char **argv)
{
	bool watch;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0)
			return i + 1 < argc ? i + 1 : 0;
		if (a[0] != '-' || a[1] == '\0')
			return i;
		if (takes_next(a, &watch) ||
		    (watch && i + 1 < argc && is_number(argv[i + 1])))
			i++;
	}
	return 0;
}

static void
glue_free(char **av, int argc)
{
	for (char **g = av + argc + 1; *g != NULL; g++)
		free(*g);
	free(av);
}

/*
 * getopt's optional arguments must be attached (-w2, --watch=2), but
 * "-w 2" is how people type it.  Before getopt runs, glue a number that
 * follows -w, a cluster ending in w, or --watch onto it, in a copy of
 * argv.  Arguments of -S and -t are skipped, and so is everything after
 * "--".  Returns the copy, argc + 1 pointers NULL-terminated, followed by
 * argc + 1 more that list the glued strings to free (glue_free()); NULL
 * when out of memory.
 */
static char **
glue_watch_arg(int argc, char **argv)
{
	size_t slots = (size_t)argc + 1;
	char **av, **glued;
	int i, o;

	static char prog[] = "verdictctl";

	if ((av = calloc(2 * slots, sizeof(*av))) == NULL)
		return NULL;
	glued = av + slots;
	for (i = 0, o = 0; i < argc; i++) {
		const char *a = argv[i];
		size_t n = strlen(a);
		bool watch = false;

		av[o++] = i == 0 ? prog : argv[i];
		if (i == 0 || a[0] != '-' || n < 2)
			continue;
		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				av[o++] = argv[i];
			break;
		}
		if (takes_next(a, &watch) && i + 1 < argc) {
			av[o++] = argv[++i];
		} else if (watch && i + 1 < argc && is_number(argv[i + 1])) {
			const char *sep = a[1] == '-' ? "=" : "";
			size_t len = n + strlen(sep) + strlen(argv[i + 1]) + 1;
			char *g = malloc(len);

			if (g == NULL)
				goto fail;
			snprintf(g, len, "%s%s%s", a, sep, argv[i + 1]);
			*glued++ = g;
			av[o - 1] = g;
			i++;
		}
	}
	return av;
fail:
	glue_free(av, argc);
	return NULL;
}

/*
 * Option parsing.  Returns 0 with *o filled, or an exit status: -1 for
 * "done, exit 0" (--help, --version), EXIT_USAGE after saying why.
 */
int
parse_args(int argc, char **argv, struct opts *o)
{
	bool json = false, values = false, prom = false;
	const char *env;
	int ch;

	memset(o, 0, sizeof(*o));
	o->interval = DEFAULT_INTERVAL;
	o->timeout = DEFAULT_TIMEOUT;
	env = getenv("VERDICTD_SOCKET");
	o->socket = env != NULL && *env != '\0' ? env : VD_CTL_DEFAULT_PATH;

	/* getopt's own messages are the most precise ("ambiguous", "doesn't
	 * allow an argument"); argv[0] is "verdictctl" for their prefix. */
	opterr = 1;
	while (
	    (ch = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			o->all = true;
			break;
		case 'h':
			usage(stdout);
			return -1;
		case 'j':
			json = true;
			break;
		case 'n':
			values = true;
			break;
		case OPT_PROMETHEUS:
			prom = true;
			break;
		case 'S':
			o->socket = optarg;
			break;
		case 't':
			if (!parse_seconds(
			        optarg, MIN_TIMEOUT, MAX_TIMEOUT, &o->timeout))
				return vd_cli_usage_error(PROG, NULL,
				    "-t %s: %s", optarg,
				    "not a number from 0.001 to 3600");
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'V':
			printf("verdictctl %s\n", VD_VERSION_STRING);
			return -1;
		case 'w':
			o->watch = true;
			if (optarg != NULL &&
			    !parse_seconds(optarg, MIN_INTERVAL, MAX_INTERVAL,
			        &o->interval))
				return vd_cli_usage_error(PROG, NULL,
				    "-w %s: %s", optarg,
				    "not a number from 0.1 to 3600");
			break;
		default:
			/* getopt said what */
			return vd_cli_usage_error(PROG, NULL, NULL);
		}
	}

	if (json + values + prom > 1)
		return vd_cli_usage_error(
		    PROG, NULL, "-j, -n and --prometheus exclude each other");
	o->fmt = FMT_TEXT;
	if (json)
		o->fmt = FMT_JSON;
	else if (values)
		o->fmt = FMT_VALUES;
	else if (prom)
		o->fmt = FMT_PROM;
	o->names = argv + optind;
	o->nnames = (size_t)(argc - optind);

	if (strlen(o->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return vd_cli_usage_error(
		    PROG, NULL, "socket path too long: %s", o->socket);
	if (*o->socket == '\0')
		return vd_cli_usage_error(PROG, NULL, "empty socket path");

	if (o->nnames > 0 && strcmp(o->names[0], "status") == 0)
		o->cmd = CMD_STATUS;
	else if (o->nnames > 0 && strcmp(o->names[0], "reload") == 0)
		o->cmd = CMD_RELOAD;
	else if (o->nnames > 0 && strcmp(o->names[0], "explain") == 0)
		o->cmd = CMD_EXPLAIN;
	if (o->cmd == CMD_EXPLAIN) {
		if (o->nnames < 2)
			return vd_cli_usage_error(PROG, NULL,
			    "explain needs a query, such as \"open "
			    "exe=/bin/cat path=/etc/shadow\"");
		if (o->all || o->watch || prom || o->verbose ||
		    o->fmt != FMT_TEXT)
			return vd_cli_usage_error(PROG, NULL,
			    "explain takes none of -a, -j, -n, -v, -w and "
			    "--prometheus");
		o->names++;
		o->nnames--;
		return 0;
	}
	if (o->cmd != CMD_GET) {
		const char *what = o->names[0];

		if (o->nnames > 1)
			return vd_cli_usage_error(
			    PROG, NULL, "%s takes no arguments", what);
		if (o->all || o->watch || prom || o->verbose)
			return vd_cli_usage_error(PROG, NULL,
			    "%s takes none of %s", what,
			    "-a, -v, -w and --prometheus");
		if (o->cmd == CMD_RELOAD && o->fmt != FMT_TEXT)
			return vd_cli_usage_error(
			    PROG, NULL, "-j and -n do not apply to reload");
		o->nnames = 0;
		return 0;
	}

	if (o->all && o->nnames > 0)
		return vd_cli_usage_error(
		    PROG, NULL, "-a and names exclude each other");
	if (!o->all && o->nnames == 0)
		return vd_cli_usage_error(PROG, synopsis, NULL);
	if (o->watch && o->fmt != FMT_TEXT)
		return vd_cli_usage_error(
		    PROG, NULL, "-w excludes -j, -n and --prometheus");
	if (o->verbose && (o->fmt == FMT_VALUES || o->fmt == FMT_PROM))
		return vd_cli_usage_error(
		    PROG, NULL, "-v does not apply to -n or --prometheus");
	if (o->nnames > VD_CTL_MAX_NAMES)
		return vd_cli_usage_error(PROG, NULL,
		    "too many names (at most %d)", VD_CTL_MAX_NAMES);
	for (size_t i = 0; i < o->nnames; i++) {
		const char *s = o->names[i];

		if (!vd_ctl_name_ok(s, strlen(s)))
			return vd_cli_usage_error(PROG, NULL,
			    "malformed counter name '%s': %s", s, name_rule);
	}
	return 0;
}

/* ---- -w ---- */

static void
on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* The previous round's value of c, matched by name: by index when the set
 * is unchanged (always, unless the daemon restarted in between). */
static const struct rec *
prev_of(const struct recs *prev, size_t i, const struct rec *c)
{
	if (i < prev->n && strcmp(prev->v[i].name, c->name) == 0)
		return &prev->v[i];
	for (size_t k = 0; k < prev->n; k++)
		if (strcmp(prev->v[k].name, c->name) == 0)
			return &prev->v[k];
	return NULL;
}

/* Rows of the terminal on stdout; 0 when unknown. */
static size_t
tty_rows(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == -1)
		return 0;
	return ws.ws_row;
}

static void
print_round(const struct opts *o, const struct recs *cur,
    const struct recs *prev, double dt, bool tty, bool first)
{
	/* On a terminal each line clears its own end and the screen below
	 * the last one is cleared: no flicker from a full-screen erase. */
	const char *eol = tty ? "\033[K\n" : "\n";
	size_t shown = cur->n, rows;
	int wname = 0, wval = 1, wunit = 0;
	char val[32];

	/* Lines past the bottom would scroll the header away and the next
	 * round would start mid-screen: keep the header, a blank line and
	 * the last row (the cursor's) free. */
	if (tty && (rows = tty_rows()) > 0)
		shown = cur->n <= rows - 3 || rows < 4 ? cur->n : rows - 4;
	for (size_t i = 0; i < cur->n; i++) {
		int n = (int)strlen(cur->v[i].name) + 1;

		if (n > wname)
			wname = n;
		n = snprintf(val, sizeof(val), "%" PRId64, cur->v[i].value);
		if (n > wval)
			wval = n;
		n = (int)strlen(cur->v[i].unit);
		if (n > wunit)
			wunit = n;
	}
	if (tty) {
		char clock[16];
		time_t t = time(NULL);
		struct tm tm;

		localtime_r(&t, &tm);
		strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
		/* Erase once; later rounds overwrite in place. */
		printf("%s\033[Hevery %gs: verdictd at %s  %s%s%s",
		    first ? "\033[2J" : "", o->interval, o->socket, clock, eol,
		    eol);
	}
	for (size_t i = 0; i < shown; i++) {
		const struct rec *c = &cur->v[i], *p = NULL;
		bool rate;

		if (c->counter && prev != NULL && dt > 0)
			p = prev_of(prev, i, c);
		/* No rate across a restart of the daemon (a smaller value). */
		rate = p != NULL && c->value >= p->value;

		printf("%s:%*s %*" PRId64, c->name,
		    wname - (int)strlen(c->name) - 1, "", wval, c->value);
		if (o->verbose)
			printf(" %-*s", rate ? wunit : 0, c->unit);
		if (rate)
			printf("  %.1f/s", (double)(c->value - p->value) / dt);
		fputs(eol, stdout);
	}
	if (shown < cur->n)
		printf("... %zu more: a taller terminal or fewer names%s",
		    cur->n - shown, eol);
	if (tty)
		fputs("\033[J", stdout);
}

/* Sleeps until `until` on the monotonic clock, or a stop signal. */
static void
sleep_until(double until)
{
	double left;

	while (!stop_requested && (left = until - mono_now()) > 0) {
		struct timespec ts;

		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL); /* EINTR: the loop checks the flag */
	}
}

static int
watch(const struct opts *o)
{
	struct recs cur, prev;
	struct sigaction sa;
	bool tty = isatty(STDOUT_FILENO) == 1;
	double t_prev = 0, t_cur, next;
	int ex = 0;

	memset(&prev, 0, sizeof(prev));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the sleep must end at once on ^C. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	next = mono_now();
	for (bool first = true; !stop_requested; first = false) {
		if ((ex = get(o, &cur)) != 0)
			break;
		t_cur = mono_now();
		if (!first && !tty)
			fputc('\n', stdout);
		print_round(
		    o, &cur, first ? NULL : &prev, t_cur - t_prev, tty, first);
		recs_free(&prev);
		prev = cur;
		t_prev = t_cur;
		if ((ex = flush_stdout()) != 0)
			break;
		/* Fixed ticks, not "interval after the last one": rounds do
		 * not drift by the request's own time.  After a long stall
		 * skip the missed ticks rather than catch up. */
		next += o->interval;
		if (next < mono_now())
			next = mono_now();
		sleep_until(next);
	}
	recs_free(&prev);
	return ex;
}

/* ---- commands ---- */

static int
cmd_get(const struct opts *o)
{
	struct recs rs;
	int ex;

	if (o->watch)
		return watch(o);
	if ((ex = get(o, &rs)) != 0)
		return ex;
	switch (o->fmt) {
	case FMT_JSON:
		print_json(o, &rs);
		break;
	case FMT_PROM:
		ex = print_prom(&rs);
		break;
	case FMT_TEXT:
	case FMT_VALUES:
		print_text(o, &rs);
		break;
	}
	recs_free(&rs);
	return ex != 0 ? ex : flush_stdout();
}

static int
cmd_status(const struct opts *o)
{
	struct reply r;
	char *line, *nl, *f[2], **kv = NULL;
	size_t n, i;
	int ex;

	if ((ex = request(o, VD_CTL_STATUS, NULL, 0, &r)) != 0)
		return ex;
	if (r.status != 0) {
		ex = reply_failed(VD_CTL_STATUS, &r);
		goto out;
	}
	if (!count_lines(&r, &n)) {
		vd_cli_warnx(PROG,
		    "%s: malformed status reply: the last line is cut",
		    o->socket);
		ex = EXIT_PROTO;
		goto out;
	}
	/* Check every line before printing any. */
	if (n > 0 && (kv = calloc(2 * n, sizeof(*kv))) == NULL) {
		vd_cli_warnx(PROG, "out of memory");
		ex = EXIT_PROTO;
		goto out;
	}
	line = r.buf;
	for (i = 0; i < n; i++, line = nl + 1) {
		nl = strchr(line, '\n');
		*nl = '\0';
		if (!split_tabs(line, f, 2) || *f[0] == '\0') {
			vd_cli_warnx(PROG,
			    "%s: malformed status reply: line %zu", o->socket,
			    i + 1);
			ex = EXIT_PROTO;
			goto out;
		}
		defang(f[0]);
		defang(f[1]);
		kv[2 * i] = f[0];
		kv[2 * i + 1] = f[1];
	}
	if (o->fmt == FMT_JSON)
		fputc('{', stdout);
	for (i = 0; i < n; i++) {
		if (o->fmt == FMT_JSON) {
			printf("%s\n  ", i == 0 ? "" : ",");
			json_str(stdout, kv[2 * i]);
			fputs(": ", stdout);
			json_value(stdout, kv[2 * i + 1]);
		} else if (o->fmt == FMT_VALUES) {
			printf("%s\n", kv[2 * i + 1]);
		} else {
			printf("%s: %s\n", kv[2 * i], kv[2 * i + 1]);
		}
	}
	if (o->fmt == FMT_JSON)
		fputs(n > 0 ? "\n}\n" : "}\n", stdout);
	ex = flush_stdout();
out:
	free(kv);
	free(r.buf);
	return ex;
}

static int
cmd_reload(const struct opts *o)
{
	struct reply r;
	size_t n;
	int ex;

	if ((ex = request(o, VD_CTL_RELOAD, NULL, 0, &r)) != 0)
		return ex;
	if (r.status != 0) {
		ex = reply_failed(VD_CTL_RELOAD, &r);
		free(r.buf);
		return ex;
	}
	n = r.len;
	while (n > 0 && r.buf[n - 1] == '\n')
		n--;
	r.buf[n] = '\0';
	defang(r.buf);
	printf("%s\n", r.buf);
	free(r.buf);
	return flush_stdout();
}

/* explain: the words of the query, joined by blanks, to the daemon. */
static int
cmd_explain(const struct opts *o)
{
	char q[VD_CTL_MAX_REQUEST + 1];
	struct reply r;
	size_t i, len = 0, n;
	int ex;

	for (i = 0; i < o->nnames; i++) {
		n = strlen(o->names[i]);
		if (len + n + 1 > VD_CTL_MAX_REQUEST)
			return vd_cli_usage_error(PROG, NULL,
			    "the query is longer than %d bytes",
			    VD_CTL_MAX_REQUEST);
		if (i > 0)
			q[len++] = ' ';
		memcpy(q + len, o->names[i], n);
		len += n;
	}
	if ((ex = request(o, VD_CTL_EXPLAIN, q, len, &r)) != 0)
		return ex;
	if (r.status == EINVAL || r.status == ENOENT) {
		/* A malformed query (the daemon names the word), or no
		 * policy in force. */
		n = r.len;
		while (n > 0 && r.buf[n - 1] == '\n')
			n--;
		r.buf[n] = '\0';
		defang(r.buf);
		vd_cli_warnx(PROG, "%s", r.buf);
		ex = r.status == EINVAL ? EXIT_USAGE : EXIT_NOTFOUND;
		free(r.buf);
		return ex;
	}
	if (r.status != 0) {
		ex = reply_failed(VD_CTL_EXPLAIN, &r);
		free(r.buf);
		return ex;
	}
	fwrite(r.buf, 1, r.len, stdout);
	free(r.buf);
	return flush_stdout();
}

int
main(int argc, char **argv)
{
	char **av;
	struct opts o;
	int argc0 = argc, ex;

	/* A closed pipe or socket is an error return, not a silent death. */
	signal(SIGPIPE, SIG_IGN);

	/* trust has options of its own, which getopt must not see here. */
	if ((ex = first_operand(argc, argv)) > 0 &&
	    strcmp(argv[ex], "trust") == 0) {
		if (ex == 1)
			return cmd_trust(argc - 1, argv + 1);
		return vd_cli_usage_error(PROG, NULL, "%s", trust_first);
	}

	if ((av = glue_watch_arg(argc, argv)) == NULL) {
		vd_cli_warnx(PROG, "out of memory");
		return EXIT_PROTO;
	}
	for (argc = 0; av[argc] != NULL; argc++)
		continue; /* glued arguments make it shorter */
	ex = parse_args(argc, av, &o);
	if (ex == 0) {
		switch (o.cmd) {
		case CMD_GET:
			ex = cmd_get(&o);
			break;
		case CMD_STATUS:
			ex = cmd_status(&o);
			break;
		case CMD_RELOAD:
			ex = cmd_reload(&o);
			break;
		case CMD_EXPLAIN:
			ex = cmd_explain(&o);
			break;
		}
	} else if (ex == -1) {
		ex = flush_stdout();
	}
	glue_free(av, argc0);
	return ex;
}
