/*
 * report.h — the shared parts of verdictd's run report (main thread).
 */
#ifndef VD_DAEMON_REPORT_H
#define VD_DAEMON_REPORT_H

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

#endif
