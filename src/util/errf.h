/*
 * errf.h — formatting an error sentence into a caller's buffer, which may
 * be absent (err NULL or errsz 0): the convention of every function here
 * that takes `char *err, size_t errsz`.
 */
#ifndef VD_UTIL_ERRF_H
#define VD_UTIL_ERRF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static inline void vd_errf(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int vd_errf_rc(char *err, size_t errsz, int rc, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static inline void
vd_errf(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

/* The same, returning rc: return vd_errf_rc(err, errsz, -EINVAL, ...); */
static inline int
vd_errf_rc(char *err, size_t errsz, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errsz == 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * Copies a value into buf for quoting in a message, with anything that is
 * not printable ASCII shown as \xNN, so an error never echoes a newline
 * or a terminal escape from a file name or a configuration.  A value too
 * long for buf ends in "...".
 */
static inline const char *
vd_quote(char *buf, size_t bufsz, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 5 < bufsz; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
			buf[o++] = (char)ch;
		else
			o +=
			    (size_t)snprintf(buf + o, bufsz - o, "\\x%02x", ch);
	}
	if (*s != '\0' && o + 4 <= bufsz) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

#endif
