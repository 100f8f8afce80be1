/*
 * inifile.h — a strict INI file reader (internal).
 *
 * verdictd's configuration and the simulator's scenario files share one
 * reader.  The file is read whole (vd_file_read: a regular file, bounded),
 * then line by line: every line is checked (valid UTF-8, no control
 * character but tab, no NUL byte; a byte order mark is allowed before the
 * first line), leading blanks are cut so that an indented line is never
 * taken for a continuation, every [section] header is checked even when no
 * key follows it, and the first error stops the parse with
 * "file:line: message".  A line is as long as the file allows: the values'
 * own limits are the handler's to check.
 *
 * The syntax: blank lines and lines that start with ';' or '#' are
 * ignored; "[name]" starts a section; "key = value" (or "key: value") sets
 * a key, blanks around both cut; a ';' after a blank starts a comment.
 * There are no multi-line values.
 *
 * Single-threaded.
 */
#ifndef VD_UTIL_INIFILE_H
#define VD_UTIL_INIFILE_H

#include <stdbool.h>
#include <stddef.h>

struct vd_ini {
	const char *path;
	int line;     /* of the line being handled */
	int err_line; /* of the first error, 0: none */
	int err_code; /* its -errno */
	char msg[512];
	/* private */
	const char *cur; /* the current section, "" before the first */
	void *ctx;
	bool (*section)(void *ctx, struct vd_ini *ini, const char *name);
	int (*key)(void *ctx, struct vd_ini *ini, const char *section,
	    const char *name, const char *value);
};

/* Records the first error at the current line; later calls do nothing. */
void vd_ini_fail(struct vd_ini *ini, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Parses path, a regular file of at most max bytes, read whole first
 * (vd_file_read: a FIFO or a device is refused without blocking).
 * section(ctx, ini, name) is called for each [name] header and returns
 * false after vd_ini_fail(); key(ctx, ini, section, name, value) for each
 * key ("" for the section of a key before the first header) and returns 0
 * after vd_ini_fail(), non-zero to go on.  Returns 0, or
 * the first error's -errno with "path:line: message" (or "path: message",
 * such as "path: not a regular file (a FIFO)") in err.
 */
int vd_ini_parse(const char *path, size_t max,
    bool (*section)(void *ctx, struct vd_ini *ini, const char *name),
    int (*key)(void *ctx, struct vd_ini *ini, const char *section,
        const char *name, const char *value),
    void *ctx, char *err, size_t errsz);

#endif
