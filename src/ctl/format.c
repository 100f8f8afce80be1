/*
 * format.c — verdictctl's output: text, values only (-n), JSON and
 * Prometheus' text format.
 */
#include "ctl/ctl.h"

/* ---- output ---- */

/* A JSON string: quotes, backslashes and control characters escaped. */
void
json_str(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(fp, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(fp, "\\u%04x", ch);
		else
			fputc(ch, fp);
	}
	fputc('"', fp);
}

/* A JSON value: canonical integers as numbers, anything else a string. */
void
json_value(FILE *fp, const char *s)
{
	const char *p = s + (*s == '-');
	int64_t v;

	if (parse_int64(s, &v) && (p[0] != '0' || p[1] == '\0'))
		fputs(s, fp);
	else
		json_str(fp, s);
}

void
print_text(const struct opts *o, const struct recs *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		const struct rec *c = &rs->v[i];

		if (o->fmt == FMT_VALUES)
			printf("%" PRId64 "\n", c->value);
		else if (o->verbose)
			printf(
			    "%s: %" PRId64 " %s\n", c->name, c->value, c->unit);
		else
			printf("%s: %" PRId64 "\n", c->name, c->value);
	}
}

void
print_json(const struct opts *o, const struct recs *rs)
{
	fputc('{', stdout);
	for (size_t i = 0; i < rs->n; i++) {
		const struct rec *c = &rs->v[i];

		printf("%s\n  ", i == 0 ? "" : ",");
		json_str(stdout, c->name);
		if (!o->verbose) {
			printf(": %" PRId64, c->value);
			continue;
		}
		printf(": {\"value\": %" PRId64 ", \"kind\": ", c->value);
		json_str(stdout, c->kind);
		fputs(", \"unit\": ", stdout);
		json_str(stdout, c->unit);
		fputs(", \"help\": ", stdout);
		json_str(stdout, c->help);
		fputc('}', stdout);
	}
	fputs(rs->n > 0 ? "\n}\n" : "}\n", stdout);
}

/* Time units Prometheus wants in seconds, with the decimal places it
 * takes to get there. */
static const struct {
	const char *unit;
	int digits;
} time_units[] = {
	{ "s", 0 },
	{ "ms", 3 },
	{ "us", 6 },
	{ "ns", 9 },
};

struct prom {
	char name[PROM_NAME_MAX];
	int digits; /* value / 10^digits, printed exactly */
	size_t rec;
	bool skip;
};

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * The Prometheus name of a counter (see "Prometheus" in verdictctl(8)):
 * "verdictd_" + the name with dots as underscores; a time unit's "_us"
 * (or "_s", "_ms", "_ns") token taken out of the name, the value scaled
 * to seconds and "_seconds" appended; "_bytes" appended for bytes when
 * missing; "_total" appended for counters.  Names are at most
 * VD_CTL_MAX_NAME bytes, so the result fits.
 */
static void
prom_name(const struct rec *c, struct prom *p)
{
	char tok[8];
	char *s = p->name;
	size_t n;

	p->digits = -1;
	for (size_t i = 0; i < sizeof(time_units) / sizeof(time_units[0]); i++)
		if (strcmp(c->unit, time_units[i].unit) == 0)
			p->digits = time_units[i].digits;

	n = (size_t)snprintf(s, PROM_NAME_MAX, "verdictd_%s", c->name);
	if (p->digits >= 0) {
		/* "auth.open.latency_us.p99": drop "_us" where it ends a
		 * component, so the unit is said once, at the end. */
		char *t;

		snprintf(tok, sizeof(tok), "_%s", c->unit);
		t = strstr(s + strlen("verdictd_"), tok);
		for (; t != NULL; t = strstr(t + 1, tok)) {
			char after = t[strlen(tok)];

			if (after == '.' || after == '\0') {
				memmove(t, t + strlen(tok),
				    strlen(t + strlen(tok)) + 1);
				n -= strlen(tok);
				break;
			}
		}
	}
	for (char *q = s; *q != '\0'; q++)
		if (*q == '.')
			*q = '_';
	if (p->digits >= 0 && !ends_with(s, "_seconds"))
		n += (size_t)snprintf(s + n, PROM_NAME_MAX - n, "_seconds");
	else if (strcmp(c->unit, "bytes") == 0 && !ends_with(s, "_bytes"))
		n += (size_t)snprintf(s + n, PROM_NAME_MAX - n, "_bytes");
	if (c->counter && !ends_with(s, "_total"))
		snprintf(s + n, PROM_NAME_MAX - n, "_total");
}

static int
prom_cmp(const void *a, const void *b)
{
	const struct prom *x = a, *y = b;
	int d = strcmp(x->name, y->name);

	if (d != 0)
		return d;
	return x->rec < y->rec ? -1 : x->rec > y->rec;
}

static int
prom_cmp_rec(const void *a, const void *b)
{
	const struct prom *x = a, *y = b;

	return x->rec < y->rec ? -1 : x->rec > y->rec;
}

/* v / 10^digits, exactly, as a decimal. */
static void
print_scaled(FILE *fp, int64_t v, int digits)
{
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	uint64_t div = 1;

	for (int i = 0; i < digits; i++)
		div *= 10;
	if (digits <= 0) {
		fprintf(fp, "%" PRId64, v);
		return;
	}
	fprintf(fp, "%s%" PRIu64 ".%0*" PRIu64, v < 0 ? "-" : "", mag / div,
	    digits, mag % div);
}

/* HELP text: the format wants backslash and newline escaped. */
static void
prom_help(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", fp);
		else if (*s == '\n')
			fputs("\\n", fp);
		else
			fputc(*s, fp);
	}
}

/*
 * Prometheus text exposition format 0.0.4.  Every counter is a family of
 * its own.  Two names that map to the same metric would make the whole
 * file invalid for node_exporter, so the later one is left out, with a
 * warning.  0 or EXIT_PROTO.
 */
int
print_prom(const struct recs *rs)
{
	struct prom *p;
	size_t i;

	if (rs->n == 0)
		return 0;
	if ((p = calloc(rs->n, sizeof(*p))) == NULL) {
		vd_cli_warnx(PROG, "out of memory");
		return EXIT_PROTO;
	}
	for (i = 0; i < rs->n; i++) {
		p[i].rec = i;
		prom_name(&rs->v[i], &p[i]);
	}
	qsort(p, rs->n, sizeof(*p), prom_cmp);
	for (i = 1; i < rs->n; i++) {
		if (strcmp(p[i].name, p[i - 1].name) == 0) {
			p[i].skip = true;
			vd_cli_warnx(PROG, "%s and %s are both %s: left %s out",
			    rs->v[p[i - 1].rec].name, rs->v[p[i].rec].name,
			    p[i].name, rs->v[p[i].rec].name);
		}
	}
	qsort(p, rs->n, sizeof(*p), prom_cmp_rec);
	for (i = 0; i < rs->n; i++) {
		const struct rec *c = &rs->v[i];

		if (p[i].skip)
			continue;
		printf("# HELP %s ", p[i].name);
		prom_help(stdout, c->help);
		printf("\n# TYPE %s %s\n%s ", p[i].name,
		    c->counter ? "counter" : "gauge", p[i].name);
		print_scaled(stdout, c->value, p[i].digits);
		fputc('\n', stdout);
	}
	free(p);
	return 0;
}

/* Flushes stdout; a write error (a closed pipe, a full disk) is exit 5. */
int
flush_stdout(void)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		if (errno != EPIPE)
			vd_cli_warnx(
			    PROG, "standard output: %s", strerror(errno));
		return EXIT_PROTO;
	}
	return 0;
}
