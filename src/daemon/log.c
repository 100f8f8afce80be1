/*
 * log.c — stderr diagnostics for verdictd.  See log.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/log.h"

#define LOG_PREFIX   "verdictd: "
#define LOG_LINE_MAX 1024

/*
 * Whether stderr is the journal: systemd sets JOURNAL_STREAM to
 * "device:inode" of the stream it connects stdout or stderr to, and a
 * program compares it with its own stderr (a child that inherits the
 * variable with stderr redirected elsewhere sees a different inode).
 * Asked for each message: messages are few, and stderr may be redirected.
 */
static int
log_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	if (js == NULL || sscanf(js, "%llu:%llu%c", &dev, &ino, &end) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/*
 * Formats the whole line first and writes it at once: stdio would split a
 * long line into several writes, and another thread's line could land in
 * between.  A line longer than LOG_LINE_MAX is cut, still newline-terminated.
 */
static void
log_emit(
    enum vd_log_level level, const char *errtext, const char *fmt, va_list ap)
{
	char buf[LOG_LINE_MAX];
	size_t len = 0, room;
	int n;

	if (log_journal())
		len = (size_t)snprintf(buf, sizeof(buf), "<%d>", (int)level);
	memcpy(buf + len, LOG_PREFIX, strlen(LOG_PREFIX));
	len += strlen(LOG_PREFIX);
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

/* The variadic front ends: errno survives the call, and with_errno adds
 * strerror() of the errno on entry. */
#define LOG_FRONT(level, with_errno)                                           \
	do {                                                                   \
		int saved = errno;                                             \
		va_list ap;                                                    \
                                                                               \
		va_start(ap, fmt);                                             \
		log_emit(                                                      \
		    (level), (with_errno) ? strerror(saved) : NULL, fmt, ap);  \
		va_end(ap);                                                    \
		errno = saved;                                                 \
	} while (0)

void
vd_log(enum vd_log_level level, const char *fmt, ...)
{
	LOG_FRONT(level, 0);
}

void
vd_log_err(const char *fmt, ...)
{
	LOG_FRONT(VD_LOG_ERR, 1);
}

void
vd_log_errx(const char *fmt, ...)
{
	LOG_FRONT(VD_LOG_ERR, 0);
}

void
vd_log_warn(const char *fmt, ...)
{
	LOG_FRONT(VD_LOG_WARNING, 1);
}

void
vd_log_warnx(const char *fmt, ...)
{
	LOG_FRONT(VD_LOG_WARNING, 0);
}

void
vd_log_info(const char *fmt, ...)
{
	LOG_FRONT(VD_LOG_INFO, 0);
}
