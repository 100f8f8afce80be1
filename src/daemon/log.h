/*
 * log.h — the daemon's diagnostics, to stderr with a "verdictd: " prefix.
 *
 * Start-up, reload and shutdown only: workers and backend callbacks count,
 * they never log (STYLE.md 3, 4).  Each message is written with one write(2)
 * so that lines from different threads do not interleave.
 */
#ifndef VD_DAEMON_LOG_H
#define VD_DAEMON_LOG_H

/* The message, ": ", strerror(errno) of the errno on entry. */
void vd_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The message alone. */
void vd_log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Informational: the same channel, for things an operator asked about. */
void vd_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
