/*
 * report.c — the parts of verdictd's run report that every backend shares:
 * the per-type tables, the books check and the timer line, as text or as
 * JSON members.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include <verdict/event.h>
#include <verdict/stats.h>

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

void
vd_report_tables(const struct vd_stats *st)
{
	bool header;
	int t;

	header = false;
	for (t = 0; t < VD_AUTH_TYPE_COUNT; t++) {
		const struct vd_type_stats *ts = &st->types[t];

		if (ts->received == 0)
			continue;
		if (!header) {
			printf("\n%-14s %9s %9s %9s %9s %9s %9s %9s %9s %9s "
			       "%9s %9s\n",
			    "auth", "received", "worker", "default", "arrival",
			    "dropped", "allowed", "denied", "p50_us", "p99_us",
			    "p999_us", "max_us");
			header = true;
		}
		printf("%-14s %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64
		       " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9.1f "
		       "%9.1f %9.1f %9.1f\n",
		    vd_event_type_name((enum vd_event_type)t), ts->received,
		    ts->answered_worker, ts->answered_default,
		    ts->answered_arrival, ts->dropped, ts->allowed, ts->denied,
		    vd_report_hist_us(&ts->latency, 0.5),
		    vd_report_hist_us(&ts->latency, 0.99),
		    vd_report_hist_us(&ts->latency, 0.999),
		    (double)ts->latency.max / 1000.0);
	}
	header = false;
	for (t = VD_NOTIFY_TYPE_FIRST; t < VD_EVENT_TYPE_COUNT; t++) {
		const struct vd_type_stats *ts = &st->types[t];

		if (ts->received == 0)
			continue;
		if (!header) {
			printf("\n%-14s %9s %9s %9s %9s %9s %9s %9s\n",
			    "notify", "received", "processed", "dropped",
			    "p50_us", "p99_us", "p999_us", "max_us");
			header = true;
		}
		printf("%-14s %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9.1f "
		       "%9.1f %9.1f %9.1f\n",
		    vd_event_type_name((enum vd_event_type)t), ts->received,
		    ts->processed, ts->dropped,
		    vd_report_hist_us(&ts->latency, 0.5),
		    vd_report_hist_us(&ts->latency, 0.99),
		    vd_report_hist_us(&ts->latency, 0.999),
		    (double)ts->latency.max / 1000.0);
	}
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
}

void
vd_report_json_tables(const struct vd_stats *st)
{
	const char *sep = "";

	printf(",\"types\":{");
	for (int t = 0; t < VD_EVENT_TYPE_COUNT; t++) {
		const struct vd_type_stats *ts = &st->types[t];

		if (ts->received == 0)
			continue;
		printf("%s\"%s\":{\"received\":%" PRIu64, sep,
		    vd_event_type_name((enum vd_event_type)t), ts->received);
		sep = ",";
		if (t < VD_AUTH_TYPE_COUNT)
			printf(",\"answered_worker\":%" PRIu64
			       ",\"answered_default\":%" PRIu64
			       ",\"answered_arrival\":%" PRIu64
			       ",\"dropped\":%" PRIu64
			       ",\"dropped_pool\":%" PRIu64
			       ",\"shutdown\":%" PRIu64 ",\"allowed\":%" PRIu64
			       ",\"denied\":%" PRIu64
			       ",\"respond_errors\":%" PRIu64
			       ",\"ring_depth_max\":%" PRIu64 ",",
			    ts->answered_worker, ts->answered_default,
			    ts->answered_arrival, ts->dropped, ts->dropped_pool,
			    ts->shutdown, ts->allowed, ts->denied,
			    ts->respond_errors, ts->ring_depth_max);
		else
			printf(",\"processed\":%" PRIu64 ",\"dropped\":%" PRIu64
			       ",\"ring_depth_max\":%" PRIu64 ",",
			    ts->processed, ts->dropped, ts->ring_depth_max);
		vd_report_json_hist(&ts->latency);
		printf("}");
	}
	printf("},\"timer\":{\"armed\":%" PRIu64 ",\"fired\":%" PRIu64
	       ",\"lost\":%" PRIu64 ",\"cancelled\":%" PRIu64
	       ",\"lateness_max_us\":%.1f}",
	    st->timer.armed, st->timer.fired, st->timer.lost,
	    st->timer.cancelled, (double)st->timer.lateness_max_ns / 1000.0);
}
