/*
 * log.c — stderr diagnostics for verdictd.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"

#define LOG_PREFIX   "verdictd: "
#define LOG_LINE_MAX 1024

/*
 * Formats the whole line first and writes it at once: stdio would split a
 * long line into several writes, and another thread's line could land in
 * between.  A line longer than LOG_LINE_MAX is cut, still newline-terminated.
 */
static void
log_emit(const char *errtext, const char *fmt, va_list ap)
{
	char buf[LOG_LINE_MAX];
	size_t len, room;
	int n;

	len = strlen(LOG_PREFIX);
	memcpy(buf, LOG_PREFIX, len);
	room = sizeof(buf) - 1; /* keep a byte for the newline */
	n = vsnprintf(buf + len, room - len, fmt, ap);
	if (n > 0)
		len += (size_t)n < room - len ? (size_t)n : room - len - 1;
	if (errtext != NULL && len < room) {
		n = snprintf(buf + len, room - len, ": %s", errtext);
		if (n > 0)
			len +=
			    (size_t)n < room - len ? (size_t)n : room - len - 1;
	}
	buf[len++] = '\n';
	/* Nothing useful to do when stderr is gone. */
	while (len > 0) {
		ssize_t w = write(STDERR_FILENO, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		memmove(buf, buf + w, len - (size_t)w);
		len -= (size_t)w;
	}
}

void
vd_log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_emit(strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

void
vd_log_warnx(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_emit(NULL, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
vd_log_info(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_emit(NULL, fmt, ap);
	va_end(ap);
	errno = saved;
}
