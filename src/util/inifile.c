/*
 * inifile.c — see inifile.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <ini.h>

#include "util/inifile.h"
#include "util/readfile.h"

void
vd_ini_fail(struct vd_ini *ini, int code, const char *fmt, ...)
{
	va_list ap;

	if (ini->err_line != 0)
		return;
	ini->err_line = ini->line > 0 ? ini->line : 1;
	ini->err_code = code;
	va_start(ap, fmt);
	vsnprintf(ini->msg, sizeof(ini->msg), fmt, ap);
	va_end(ap);
}

/*
 * Length of the UTF-8 sequence at s (at most n bytes), or 0 when it is not
 * valid UTF-8: overlong forms, surrogates and code points past U+10FFFF are
 * invalid too.
 */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* Valid UTF-8, no control character but tab. */
static bool
line_check(struct vd_ini *ini, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t len;

		if (u[i] == '\t' || (u[i] >= 0x20 && u[i] != 0x7f)) {
			if ((len = utf8_len(u + i, n - i)) == 0) {
				vd_ini_fail(ini, -EINVAL,
				    "invalid UTF-8 (byte 0x%02x at column %zu)",
				    u[i], i + 1);
				return false;
			}
			i += len;
			continue;
		}
		vd_ini_fail(ini, -EINVAL,
		    "unexpected control character 0x%02x at column %zu", u[i],
		    i + 1);
		return false;
	}
	return true;
}

/*
 * A section header, checked here rather than left to inih, which reports
 * sections only with their keys: an empty unknown section is an error too.
 * inih takes the name verbatim between the brackets, so do we.
 */
static bool
line_section(struct vd_ini *ini, char *s)
{
	char *end, *rest;
	bool ok;

	if ((end = strchr(s, ']')) == NULL) {
		vd_ini_fail(ini, -EINVAL,
		    "syntax error: expected ']' to close the section name");
		return false;
	}
	for (rest = end + 1; *rest == ' ' || *rest == '\t'; rest++)
		continue;
	if (*rest != '\0' && *rest != ';' && *rest != '#') {
		vd_ini_fail(
		    ini, -EINVAL, "syntax error: unexpected text after ']'");
		return false;
	}
	*end = '\0';
	ok = ini->section(ini->ctx, ini, s + 1);
	*end = ']';
	return ok;
}

/* inih's fgets: one line per call, checked; NULL ends the parse. */
static char *
reader(char *str, int num, void *stream)
{
	struct vd_ini *ini = stream;
	size_t len;
	char *s, *nl;

	if (ini->err_line != 0 || ini->off >= ini->len)
		return NULL; /* stop at the first error, or the end */
	s = ini->text + ini->off;
	nl = memchr(s, '\n', ini->len - ini->off);
	len = nl != NULL ? (size_t)(nl - s) + 1 : ini->len - ini->off;
	ini->off += len;
	ini->line++;
	/* The text is ours: the line's end becomes its NUL. */
	if (len > 0 && s[len - 1] == '\n')
		s[--len] = '\0';
	if (len > 0 && s[len - 1] == '\r')
		s[--len] = '\0';
	if ((nl = memchr(s, '\0', len)) != NULL) {
		vd_ini_fail(ini, -EINVAL, "unexpected NUL byte at column %zu",
		    (size_t)(nl - s) + 1);
		return NULL;
	}
	/* A byte order mark is allowed before the first line. */
	if (ini->line == 1 && len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
		s += 3;
		len -= 3;
	}
	if (!line_check(ini, s, len))
		return NULL;
	while (*s == ' ' || *s == '\t') {
		s++;
		len--;
	}
	/* inih needs room for the newline and the NUL. */
	if (len + 3 > (size_t)num) {
		vd_ini_fail(ini, -EINVAL,
		    "line too long (%zu bytes; the limit is %d)", len, num - 3);
		return NULL;
	}
	if (*s == '[' && !line_section(ini, s))
		return NULL;
	memcpy(str, s, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct vd_ini *ini = user;

	if (ini->err_line != 0)
		return 0;
	return ini->key(ini->ctx, ini, section, name, value);
}

int
vd_ini_parse(const char *path, size_t max,
    bool (*section)(void *ctx, struct vd_ini *ini, const char *name),
    int (*key)(void *ctx, struct vd_ini *ini, const char *section,
        const char *name, const char *value),
    void *ctx, char *err, size_t errsz)
{
	struct vd_ini *ini;
	char why[128];
	int rc, error = 0;

	if ((ini = calloc(1, sizeof(*ini))) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	ini->path = path;
	ini->ctx = ctx;
	ini->section = section;
	ini->key = key;
	if ((error = vd_file_read(path, max, &ini->text, &ini->len, why,
	         sizeof(why))) != 0) {
		snprintf(err, errsz, "%s: %s", path, why);
		goto out;
	}
	rc = ini_parse_stream(reader, ini, handler, ini);
	if (rc == -2) {
		error = -ENOMEM;
		snprintf(err, errsz, "%s: %s", path, strerror(ENOMEM));
		goto out;
	}
	/* inih reports a line without '=' by its number only. */
	if (rc > 0 && (ini->err_line == 0 || rc < ini->err_line)) {
		ini->err_line = rc;
		ini->err_code = -EINVAL;
		snprintf(ini->msg, sizeof(ini->msg),
		    "syntax error: expected [section], key = value, or a "
		    "comment");
	}
	if (ini->err_line != 0) {
		error = ini->err_code;
		snprintf(
		    err, errsz, "%s:%d: %s", path, ini->err_line, ini->msg);
	}
out:
	free(ini->text);
	free(ini);
	return error;
}
