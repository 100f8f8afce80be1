/*
 * cli.c — see cli.h.
 */
#include <stdarg.h>
#include <stdio.h>

#include "util/cli.h"

/* Longest message line; a longer one is cut, still newline-terminated. */
#define CLI_LINE_MAX 1024

void
vd_cli_vwarnx(const char *prog, const char *fmt, va_list ap)
{
	char buf[CLI_LINE_MAX];
	size_t len, room = sizeof(buf) - 1; /* a byte for the newline */
	int n;

	n = snprintf(buf, room, "%s: ", prog);
	len = n < 0 ? 0 : (size_t)n < room ? (size_t)n : room - 1;
	n = vsnprintf(buf + len, room - len, fmt, ap);
	if (n > 0)
		len += (size_t)n < room - len ? (size_t)n : room - len - 1;
	buf[len++] = '\n';
	/* Unbuffered, stderr hands the whole line to one write(2). */
	fwrite(buf, 1, len, stderr);
}

void
vd_cli_warnx(const char *prog, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vd_cli_vwarnx(prog, fmt, ap);
	va_end(ap);
}

int
vd_cli_usage_error(const char *prog, const char *synopsis, const char *fmt, ...)
{
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vd_cli_vwarnx(prog, fmt, ap);
		va_end(ap);
	}
	if (synopsis != NULL)
		fputs(synopsis, stderr);
	fprintf(stderr, "Try '%s --help' for more information.\n", prog);
	return VD_CLI_EXIT_USAGE;
}
