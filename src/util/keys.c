/*
 * keys.c — table-driven settings.  See keys.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/errf.h"
#include "util/keys.h"

/* A decimal's digits on either side of the point. */
#define DIGITS_MAX 15

static bool
same_section(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

const struct vd_key *
vd_key_find(
    const struct vd_key *keys, size_t n, const char *section, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (same_section(keys[i].section, section) &&
		    strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

size_t
vd_key_names(const struct vd_key *keys, size_t n, const char *section,
    char *buf, size_t bufsz)
{
	size_t count = 0, o = 0;
	int w;

	if (buf != NULL && bufsz > 0)
		buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (!same_section(keys[i].section, section))
			continue;
		if (buf != NULL && o < bufsz) {
			w = snprintf(buf + o, bufsz - o, "%s%s",
			    count == 0 ? "" : ", ", keys[i].name);
			o = w < 0 ? bufsz : o + (size_t)w;
		}
		count++;
	}
	return count;
}

bool
vd_key_parse_u64(const char *s, uint64_t *out)
{
	uint64_t x = 0;
	const char *p;

	if (*s == '\0')
		return false;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return false;
		if (x > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return false;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	*out = x;
	return true;
}

/*
 * digits [. digits], not locale-dependent (strtod reads a comma in some
 * locales).  Whenever the digits make an integer below 2^53, the value is
 * that integer divided by a power of ten, one rounding: what strtod gives.
 */
static bool
parse_decimal(const char *s, double *out)
{
	uint64_t whole = 0, frac = 0, pow10 = 1;
	const char *p = s;
	int nw = 0, nf = 0;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (++nw > DIGITS_MAX)
			return false;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (nw == 0)
		return false;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (++nf > DIGITS_MAX)
				return false;
			frac = frac * 10 + (uint64_t)(*p - '0');
			pow10 *= 10;
		}
		if (nf == 0)
			return false;
	}
	if (*p != '\0')
		return false;
	if (whole <= ((UINT64_C(1) << 53) - frac) / pow10)
		*out = (double)(whole * pow10 + frac) / (double)pow10;
	else
		*out = (double)whole + (double)frac / (double)pow10;
	return true;
}

static bool
parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0) {
		*out = true;
		return true;
	}
	if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0) {
		*out = false;
		return true;
	}
	return false;
}

/* The index of s in words, or -1. */
static int
word_index(const char *const *words, const char *s)
{
	for (int i = 0; words[i] != NULL; i++)
		if (strcmp(words[i], s) == 0)
			return i;
	return -1;
}

/* "a, b or c". */
static void
word_list(const char *const *words, char *buf, size_t bufsz)
{
	size_t o = 0;
	int w;

	buf[0] = '\0';
	for (int i = 0; words[i] != NULL && o < bufsz; i++) {
		const char *sep = ", ";

		if (i == 0)
			sep = "";
		else if (words[i + 1] == NULL)
			sep = " or ";
		w = snprintf(buf + o, bufsz - o, "%s%s", sep, words[i]);
		o = w < 0 ? bufsz : o + (size_t)w;
	}
}

static void
store_uint(void *field, size_t size, uint64_t v)
{
	if (size == sizeof(uint8_t)) {
		uint8_t x = (uint8_t)v;

		memcpy(field, &x, sizeof(x));
	} else if (size == sizeof(uint32_t)) {
		uint32_t x = (uint32_t)v;

		memcpy(field, &x, sizeof(x));
	} else {
		memcpy(field, &v, sizeof(v));
	}
}

static uint64_t
load_uint(const void *field, size_t size)
{
	uint8_t x8;
	uint32_t x32;
	uint64_t x64;

	if (size == sizeof(uint8_t)) {
		memcpy(&x8, field, sizeof(x8));
		return x8;
	}
	if (size == sizeof(uint32_t)) {
		memcpy(&x32, field, sizeof(x32));
		return x32;
	}
	memcpy(&x64, field, sizeof(x64));
	return x64;
}

/* " (hint)", or "". */
static void
hint_text(const struct vd_key *k, char *buf, size_t bufsz)
{
	if (k->hint != NULL)
		snprintf(buf, bufsz, " (%s)", k->hint);
	else
		buf[0] = '\0';
}

int
vd_key_set(const struct vd_key *k, void *base, const char *section,
    const char *value, char *err, size_t errsz)
{
	char *field = (char *)base + k->off;
	char q[96], why[512], hint[64], words[128];
	uint64_t v;
	double d;
	bool b;
	int i;

	vd_quote(q, sizeof(q), value);
	hint_text(k, hint, sizeof(hint));
	switch (k->type) {
	case VD_KEY_BOOL:
		if (!parse_bool(value, &b))
			return vd_errf_rc(err, errsz, -EINVAL,
			    "[%s] %s: expected yes or no, got \"%s\"", section,
			    k->name, q);
		memcpy(field, &b, sizeof(b));
		return 0;
	case VD_KEY_UINT:
	case VD_KEY_DURATION:
		if (!vd_key_parse_u64(value, &v) || v < k->min || v > k->max ||
		    ((k->flags & VD_KEY_POW2) && (v & (v - 1)) != 0))
			return vd_errf_rc(err, errsz, -EINVAL,
			    "[%s] %s: expected %s from %" PRIu64 " to %" PRIu64
			    "%s, got \"%s\"",
			    section, k->name, k->what, k->min, k->max, hint, q);
		if (k->type == VD_KEY_DURATION)
			v *= k->scale;
		store_uint(field, k->size, v);
		return 0;
	case VD_KEY_DOUBLE:
		if (!parse_decimal(value, &d) || d < k->dmin || d > k->dmax ||
		    ((k->flags & VD_KEY_BELOW) && d >= k->dmax))
			return vd_errf_rc(err, errsz, -EINVAL,
			    "[%s] %s: expected %s from %g to %s%g%s, got "
			    "\"%s\"",
			    section, k->name, k->what, k->dmin,
			    (k->flags & VD_KEY_BELOW) ? "below " : "", k->dmax,
			    hint, q);
		memcpy(field, &d, sizeof(d));
		return 0;
	case VD_KEY_ENUM:
	case VD_KEY_STRING:
		if (k->words != NULL) {
			if ((i = word_index(k->words, value)) < 0) {
				if (k->what == NULL)
					word_list(
					    k->words, words, sizeof(words));
				return vd_errf_rc(err, errsz, -EINVAL,
				    "[%s] %s: expected %s, got \"%s\"", section,
				    k->name, k->what != NULL ? k->what : words,
				    q);
			}
			if (k->type == VD_KEY_ENUM) {
				store_uint(field, k->size, (uint64_t)i);
				return 0;
			}
		} else if (value[0] == '\0' || strlen(value) >= k->size ||
		    ((k->flags & VD_KEY_NOSLASH) && strchr(value, '/'))) {
			return vd_errf_rc(err, errsz, -EINVAL,
			    "[%s] %s: expected %s of 1 to %zu bytes%s, got "
			    "\"%s\"",
			    section, k->name, k->what, k->size - 1,
			    (k->flags & VD_KEY_NOSLASH) ? " without '/'" : "",
			    q);
		}
		snprintf(field, k->size, "%s", value);
		return 0;
	case VD_KEY_FUNC:
		if (!k->parse(value, field, why, sizeof(why)))
			return vd_errf_rc(err, errsz, -EINVAL, "[%s] %s: %s",
			    section, k->name, why);
		return 0;
	}
	return vd_errf_rc(
	    err, errsz, -EINVAL, "[%s] %s: not a setting", section, k->name);
}

bool
vd_key_equal(const struct vd_key *k, const void *a, const void *b)
{
	const char *fa = (const char *)a + k->off;
	const char *fb = (const char *)b + k->off;
	double da, db;
	bool ba, bb;

	switch (k->type) {
	case VD_KEY_BOOL:
		memcpy(&ba, fa, sizeof(ba));
		memcpy(&bb, fb, sizeof(bb));
		return ba == bb;
	case VD_KEY_UINT:
	case VD_KEY_DURATION:
	case VD_KEY_ENUM:
		return load_uint(fa, k->size) == load_uint(fb, k->size);
	case VD_KEY_DOUBLE:
		memcpy(&da, fa, sizeof(da));
		memcpy(&db, fb, sizeof(db));
		return da == db;
	case VD_KEY_STRING:
		return strncmp(fa, fb, k->size) == 0;
	case VD_KEY_FUNC:
		return memcmp(fa, fb, k->size) == 0;
	}
	return false;
}
