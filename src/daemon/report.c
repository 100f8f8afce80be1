/*
 * report.c — the parts of verdictd's run report that every backend shares:
 * the per-type tables, the books check and the timer line, as text or as
 * JSON members.  One list of columns per table serves both forms.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <verdict/event.h>
#include <verdict/stats.h>
#include <verdict/version.h>

#include "daemon/report.h"

double
vd_report_hist_us(const struct vd_hist *h, double q)
{
	return (double)vd_hist_quantile(h, q) / 1000.0;
}

void
vd_report_json_hist(const struct vd_hist *h)
{
	printf("\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,"
	       "\"max\":%.1f}",
	    vd_report_hist_us(h, 0.5), vd_report_hist_us(h, 0.99),
	    vd_report_hist_us(h, 0.999), (double)h->max / 1000.0);
}

/*
 * The per-type tables' columns: what the text table and the JSON members
 * show of struct vd_type_stats, in order, before the latency.
 */
struct column {
	const char *json; /* member name */
	const char *text; /* column header; NULL: JSON only */
	size_t off;       /* of a uint64_t in struct vd_type_stats */
};

#define COL(json, text, f)                                                     \
	{                                                                      \
		json, text, offsetof(struct vd_type_stats, f)                  \
	}

static const struct column auth_columns[] = {
	COL("received", "received", received),
	COL("answered_worker", "worker", answered_worker),
	COL("answered_default", "default", answered_default),
	COL("answered_arrival", "arrival", answered_arrival),
	COL("dropped", "dropped", dropped),
	COL("dropped_pool", NULL, dropped_pool),
	COL("shutdown", NULL, shutdown),
	COL("allowed", "allowed", allowed),
	COL("denied", "denied", denied),
	COL("respond_errors", NULL, respond_errors),
	COL("ring_depth_max", NULL, ring_depth_max),
};

static const struct column notify_columns[] = {
	COL("received", "received", received),
	COL("processed", "processed", processed),
	COL("dropped", "dropped", dropped),
	COL("ring_depth_max", NULL, ring_depth_max),
};

#undef COL

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t
column_value(const struct column *c, const struct vd_type_stats *ts)
{
	uint64_t v;

	memcpy(&v, (const char *)ts + c->off, sizeof(v));
	return v;
}

/*
 * One text table: a header, once, before the first type that received
 * anything, then a row per such type of first to last - 1.
 */
static void
text_table(const struct vd_stats *st, const char *title, int first, int last,
    const struct column *cols, size_t ncols)
{
	bool header = false;
	size_t i;
	int t;

	for (t = first; t < last; t++) {
		const struct vd_type_stats *ts = &st->types[t];

		if (ts->received == 0)
			continue;
		if (!header) {
			printf("\n%-14s", title);
			for (i = 0; i < ncols; i++)
				if (cols[i].text != NULL)
					printf(" %9s", cols[i].text);
			printf(" %9s %9s %9s %9s\n", "p50_us", "p99_us",
			    "p999_us", "max_us");
			header = true;
		}
		printf("%-14s", vd_event_type_name((enum vd_event_type)t));
		for (i = 0; i < ncols; i++)
			if (cols[i].text != NULL)
				printf(
				    " %9" PRIu64, column_value(&cols[i], ts));
		printf(" %9.1f %9.1f %9.1f %9.1f\n",
		    vd_report_hist_us(&ts->latency, 0.5),
		    vd_report_hist_us(&ts->latency, 0.99),
		    vd_report_hist_us(&ts->latency, 0.999),
		    (double)ts->latency.max / 1000.0);
	}
}

void
vd_report_tables(const struct vd_stats *st)
{
	int t;

	text_table(st, "auth", 0, VD_AUTH_TYPE_COUNT, auth_columns,
	    NCOLS(auth_columns));
	text_table(st, "notify", VD_NOTIFY_TYPE_FIRST, VD_EVENT_TYPE_COUNT,
	    notify_columns, NCOLS(notify_columns));
	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++) {
		const struct vd_type_stats *ts = &st->types[t];
		uint64_t sum = t < VD_AUTH_TYPE_COUNT
		    ? ts->answered_worker + ts->answered_default +
		        ts->answered_arrival + ts->dropped
		    : ts->processed + ts->dropped;

		if (sum != ts->received)
			printf("warning: %s: the books do not close: received "
			       "%" PRIu64 ", answered or dropped %" PRIu64 "\n",
			    vd_event_type_name((enum vd_event_type)t),
			    ts->received, sum);
	}

	printf("\ntimer: armed %" PRIu64 ", fired %" PRIu64 ", lost %" PRIu64
	       ", cancelled %" PRIu64 ", lateness max %.1f us\n",
	    st->timer.armed, st->timer.fired, st->timer.lost,
	    st->timer.cancelled, (double)st->timer.lateness_max_ns / 1000.0);
	if (st->enrich.requested + st->enrich.full + st->enrich.unavailable !=
	    0)
		printf("deferred: %" PRIu64 " (answered %" PRIu64
		       ", late %" PRIu64 ", failed %" PRIu64
		       "), queue full %" PRIu64 ", no enricher %" PRIu64 "\n",
		    st->enrich.requested, st->enrich.answered,
		    st->enrich.late, st->enrich.failed, st->enrich.full,
		    st->enrich.unavailable);
}

void
vd_report_json_tables(const struct vd_stats *st)
{
	const char *sep = "";

	printf(",\"types\":{");
	for (int t = 0; t < VD_EVENT_TYPE_COUNT; t++) {
		const struct vd_type_stats *ts = &st->types[t];
		const struct column *cols =
		    t < VD_AUTH_TYPE_COUNT ? auth_columns : notify_columns;
		size_t ncols = t < VD_AUTH_TYPE_COUNT ? NCOLS(auth_columns)
		                                      : NCOLS(notify_columns);

		if (ts->received == 0)
			continue;
		printf("%s\"%s\":{", sep,
		    vd_event_type_name((enum vd_event_type)t));
		sep = ",";
		for (size_t i = 0; i < ncols; i++)
			printf("\"%s\":%" PRIu64 ",", cols[i].json,
			    column_value(&cols[i], ts));
		vd_report_json_hist(&ts->latency);
		printf("}");
	}
	printf("},\"timer\":{\"armed\":%" PRIu64 ",\"fired\":%" PRIu64
	       ",\"lost\":%" PRIu64 ",\"cancelled\":%" PRIu64
	       ",\"lateness_max_us\":%.1f}",
	    st->timer.armed, st->timer.fired, st->timer.lost,
	    st->timer.cancelled, (double)st->timer.lateness_max_ns / 1000.0);
	printf(",\"enrich\":{\"threads\":%u,\"requested\":%" PRIu64
	       ",\"answered\":%" PRIu64 ",\"late\":%" PRIu64
	       ",\"failed\":%" PRIu64 ",\"full\":%" PRIu64
	       ",\"undecided\":%" PRIu64 ",\"unavailable\":%" PRIu64 "}",
	    st->enrich.threads, st->enrich.requested, st->enrich.answered,
	    st->enrich.late, st->enrich.failed, st->enrich.full,
	    st->enrich.undecided, st->enrich.unavailable);
}

void
vd_report_service_head(const char *backend, const struct vd_stats *st,
    const char *stopped_by, bool json)
{
	if (json) {
		printf("{\"version\":\"%s\",\"backend\":\"%s\","
		       "\"workers\":%u,\"uptime_s\":%.3f,\"stopped_by\":",
		    VD_VERSION_STRING, backend, st->workers,
		    (double)st->uptime_ns / 1e9);
		if (stopped_by != NULL)
			printf("\"%s\"", stopped_by);
		else
			printf("null");
		vd_report_json_tables(st);
		return;
	}
	printf("verdictd %s: backend %s, %u worker%s, %.2f s",
	    VD_VERSION_STRING, backend, st->workers,
	    st->workers == 1 ? "" : "s", (double)st->uptime_ns / 1e9);
	if (stopped_by != NULL)
		printf(", stopped by %s", stopped_by);
	printf("\n");
	vd_report_tables(st);
}
