/*
 * inifile.c — see inifile.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

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
 * A section header.  Every header is checked, even one that no key
 * follows: an empty unknown section is an error too.  The name is taken
 * verbatim between the brackets, and stays the current section (the text
 * is ours) until the next header.
 */
static bool
line_section(struct vd_ini *ini, char *s)
{
	char *end, *rest;

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
	ini->cur = s + 1;
	if (ini->section(ini->ctx, ini, ini->cur))
		return true;
	vd_ini_fail(ini, -EINVAL, "[%s]: invalid section", ini->cur);
	return false;
}

/*
 * The first of the characters in stop, or of an inline comment (';' after
 * a blank), in s; its NUL when there is none.
 */
static char *
find_stop(char *s, const char *stop)
{
	bool blank = false;

	for (; *s != '\0'; s++) {
		if (strchr(stop, *s) != NULL || (blank && *s == ';'))
			break;
		blank = *s == ' ' || *s == '\t';
	}
	return s;
}

/* Cuts the blanks before end, which becomes the string's end. */
static void
cut_blanks(char *s, char *end)
{
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
}

/*
 * A "key = value" line (':' separates too, as it always has).  Blanks
 * around the key and the value are cut, and so is an inline comment.
 */
static bool
line_key(struct vd_ini *ini, char *s)
{
	char *end, *value;

	end = find_stop(s, "=:");
	if (*end != '=' && *end != ':') {
		vd_ini_fail(ini, -EINVAL,
		    "syntax error: expected [section], key = value, or a "
		    "comment");
		return false;
	}
	cut_blanks(s, end);
	value = end + 1;
	end = find_stop(value, "");
	while (*value == ' ' || *value == '\t')
		value++;
	cut_blanks(value, end);
	if (ini->key(ini->ctx, ini, ini->cur, s, value) != 0)
		return true;
	vd_ini_fail(ini, -EINVAL, "%s: invalid", s);
	return false;
}

/* One line, checked, then handled; false at the first error. */
static bool
line_parse(struct vd_ini *ini, char *s, size_t len)
{
	char *nul;

	/* The text is ours: the line's end becomes its NUL. */
	if (len > 0 && s[len - 1] == '\n')
		s[--len] = '\0';
	if (len > 0 && s[len - 1] == '\r')
		s[--len] = '\0';
	if ((nul = memchr(s, '\0', len)) != NULL) {
		vd_ini_fail(ini, -EINVAL, "unexpected NUL byte at column %zu",
		    (size_t)(nul - s) + 1);
		return false;
	}
	/* A byte order mark is allowed before the first line. */
	if (ini->line == 1 && len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
		s += 3;
		len -= 3;
	}
	if (!line_check(ini, s, len))
		return false;
	/* Leading blanks never continue the line before. */
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0' || *s == ';' || *s == '#')
		return true;
	if (*s == '[')
		return line_section(ini, s);
	return line_key(ini, s);
}

int
vd_ini_parse(const char *path, size_t max,
    bool (*section)(void *ctx, struct vd_ini *ini, const char *name),
    int (*key)(void *ctx, struct vd_ini *ini, const char *section,
        const char *name, const char *value),
    void *ctx, char *err, size_t errsz)
{
	struct vd_ini *ini;
	char why[128], *text = NULL, *s, *nl;
	size_t len, off, n;
	int error = 0;

	if ((ini = calloc(1, sizeof(*ini))) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	ini->path = path;
	ini->ctx = ctx;
	ini->section = section;
	ini->key = key;
	ini->cur = "";
	if ((error = vd_file_read(path, max, &text, &len, why, sizeof(why))) !=
	    0) {
		snprintf(err, errsz, "%s: %s", path, why);
		goto out;
	}
	for (off = 0; off < len; off += n) {
		s = text + off;
		nl = memchr(s, '\n', len - off);
		n = nl != NULL ? (size_t)(nl - s) + 1 : len - off;
		ini->line++;
		if (!line_parse(ini, s, n))
			break;
	}
	if (ini->err_line != 0) {
		error = ini->err_code;
		snprintf(
		    err, errsz, "%s:%d: %s", path, ini->err_line, ini->msg);
	}
out:
	free(text);
	free(ini);
	return error;
}
