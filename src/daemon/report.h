/*
 * report.h — the shared parts of verdictd's run report (main thread).
 */
#ifndef VD_DAEMON_REPORT_H
#define VD_DAEMON_REPORT_H

#include <stdbool.h>

#include <verdict/stats.h>

/* A histogram's quantile in microseconds. */
double vd_report_hist_us(const struct vd_hist *h, double q);
/* "latency_us":{...} */
void vd_report_json_hist(const struct vd_hist *h);
/* The AUTH and NOTIFY tables, a warning for any type whose books do not
 * close, and the timer line. */
void vd_report_tables(const struct vd_stats *st);
/* ,"types":{...},"timer":{...} */
void vd_report_json_tables(const struct vd_stats *st);
/*
 * The start of a service backend's report (fanotify, es), which runs
 * until a signal: with json, {"version":...,"stopped_by":...,"types":...
 * left open for the backend's own part; else the first line and the
 * tables.  stopped_by: "SIGTERM", ..., or NULL.
 */
void vd_report_service_head(const char *backend, const struct vd_stats *st,
    const char *stopped_by, bool json);

/* The es backend's counters (report_es.c, where the sim or es backend is
 * built): the "es:" lines, and ,"es":{...}. */
struct vd_es_stats;
void vd_report_es(const struct vd_es_stats *es);
void vd_report_json_es(const struct vd_es_stats *es);

#endif
