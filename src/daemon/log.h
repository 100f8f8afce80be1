/*
 * log.h — the daemon's diagnostics, to stderr with a "verdictd: " prefix.
 *
 * Start-up, reload and shutdown only: workers and backend callbacks count
 * what happens to events in perf counters (verdictctl(8)), they never log,
 * and nothing is logged on the path of an AUTH event before its answer.
 * Each message is written with one write(2) so that lines from different
 * threads do not interleave.
 *
 * Each message has a level.  When stderr is systemd's journal (the
 * JOURNAL_STREAM variable names stderr's device and inode, see
 * systemd.exec(5)), a line starts with its sd-daemon(3) priority prefix,
 * "<3>" error, "<4>" warning, "<6>" informational, and the journal files
 * it under that priority; anywhere else lines are plain text.
 */
#ifndef VD_DAEMON_LOG_H
#define VD_DAEMON_LOG_H

/* syslog(3) priorities, which the journal's prefixes use. */
enum vd_log_level {
	VD_LOG_ERR = 3,     /* the daemon cannot go on, or refuses a request */
	VD_LOG_WARNING = 4, /* it goes on, but something is not as asked */
	VD_LOG_INFO = 6,    /* what an operator asked about */
};

/* The message alone, at a level. */
void vd_log(enum vd_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Errors: the message, then ": " and strerror(errno) of the errno on entry
 * (vd_log_err); the message alone (vd_log_errx). */
void vd_log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vd_log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Warnings, the same two ways. */
void vd_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vd_log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Informational. */
void vd_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
