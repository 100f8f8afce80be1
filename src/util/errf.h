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

static inline void vd_errf(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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

#endif
