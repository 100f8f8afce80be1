/*
 * cli.h — what verdictd's command-line programs share: messages on stderr
 * named by the program ("verdictctl: ..."), and one way to refuse a
 * command line: what is wrong, the synopsis, a pointer to --help, exit
 * status 2.
 */
#ifndef VD_UTIL_CLI_H
#define VD_UTIL_CLI_H

#include <stdarg.h>

/* The exit status of a command line that cannot run. */
#define VD_CLI_EXIT_USAGE 2

/* "prog: message\n" on stderr, formatted first and written at once. */
void vd_cli_warnx(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void vd_cli_vwarnx(const char *prog, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*
 * Refuses a command line, on stderr: "prog: message" when fmt is not NULL,
 * then synopsis when it is not NULL, then "Try 'prog --help' for more
 * information."  Returns VD_CLI_EXIT_USAGE, to return from main or exit
 * with.
 */
int vd_cli_usage_error(const char *prog, const char *synopsis, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

#endif
