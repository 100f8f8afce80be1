/*
 * keys.h — table-driven settings (internal): one row per key of an INI
 * file says which section it belongs in, its type, where its value is
 * stored and which values it takes; one setter reads a value into its
 * field with strict syntax, or says what was expected.
 *
 * verdictd.conf(5) (daemon/config.c) and essim-scenario(5) (the
 * simulator's scenario.c) are both read through it.  Their readers keep
 * what is their own: which sections exist, a key set twice, how values
 * relate to each other.
 *
 * Value syntax, for every reader:
 *   bool      yes or true, no or false
 *   unsigned  decimal digits only: no sign, no blanks, no unit, no hex
 *   decimal   digits with an optional fraction (0.25): no sign, no
 *             exponent, at most 15 digits on either side of the point
 *   word      one of the row's words, exactly (case matters)
 *   string    1 to size - 1 bytes
 *
 * A message never echoes a value as is: it is quoted with vd_quote().
 * Single-threaded, like the readers.
 */
#ifndef VD_UTIL_KEYS_H
#define VD_UTIL_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vd_key_type {
	VD_KEY_BOOL,     /* bool */
	VD_KEY_UINT,     /* an unsigned integer of size 4 or 8, min to max */
	VD_KEY_DURATION, /* uint64_t nanoseconds, written as a whole number
	                    of units of scale nanoseconds, min to max units */
	VD_KEY_DOUBLE,   /* double, a decimal from dmin to dmax */
	VD_KEY_ENUM,     /* unsigned of size 1 or 4: the index of a word */
	VD_KEY_STRING,   /* char[size]; with words, one of them */
	VD_KEY_FUNC,     /* parse() reads it */
};

/* Flags. */
#define VD_KEY_POW2    0x1u /* VD_KEY_UINT: a power of two */
#define VD_KEY_BELOW   0x2u /* VD_KEY_DOUBLE: below dmax, not up to it */
#define VD_KEY_NOSLASH 0x4u /* VD_KEY_STRING: without '/' (a file name) */
#define VD_KEY_LIVE                                                            \
	0x8u /* may change while the program runs (the                         \
	        reader's rules say how) */

struct vd_key {
	/* The [section] it belongs in; NULL: sections the reader resolves
	 * itself (verdictd's per-type sections). */
	const char *section;
	const char *name;
	enum vd_key_type type;
	size_t off, size;  /* the field: its offset and sizeof (VD_KEY_FIELD) */
	uint64_t min, max; /* VD_KEY_UINT, VD_KEY_DURATION */
	uint64_t scale;    /* VD_KEY_DURATION: nanoseconds per unit */
	double dmin, dmax; /* VD_KEY_DOUBLE */
	/*
	 * What an error says was expected: "expected <what> from <min> to
	 * <max> (<hint>), got ..." for numbers, "expected <what> of 1 to
	 * <size - 1> bytes" for strings, "expected <what>" for words (when
	 * NULL: the words, "a, b or c").
	 */
	const char *what;
	const char *hint;
	const char *const *words; /* NULL-terminated */
	unsigned flags;
	/* VD_KEY_FUNC: reads value into the whole field (size bytes: fields
	 * compare with memcmp()), or returns false with what was expected in
	 * why ("expected ..., got ..."). */
	bool (*parse)(const char *value, void *field, char *why, size_t whysz);
};

/* .off and .size of a row, for member of struct type. */
#define VD_KEY_FIELD(type, member)                                             \
	.off = offsetof(type, member), .size = sizeof(((type *)0)->member)

/* A row: its section, name and type, then its field (VD_KEY_FIELD) and
 * the other members it needs, by name. */
#define VD_KEY(sec, key, t, ...)                                               \
	{                                                                      \
		.section = (sec), .name = (key), .type = (t), __VA_ARGS__      \
	}

/*
 * The row of keys[0..n) for name in section (section NULL: the rows
 * whose section is NULL), or NULL.
 */
const struct vd_key *vd_key_find(
    const struct vd_key *keys, size_t n, const char *section, const char *name);

/*
 * How many rows belong in section, with their names in buf (may be NULL),
 * comma-separated, for "unknown key" messages.
 */
size_t vd_key_names(const struct vd_key *keys, size_t n, const char *section,
    char *buf, size_t bufsz);

/*
 * Reads value into k's field of base.  Returns 0, or -EINVAL with
 * "[section] name: expected ..., got \"value\"" in err; the field is
 * unchanged then.  section is the name the file used, for the message.
 */
int vd_key_set(const struct vd_key *k, void *base, const char *section,
    const char *value, char *err, size_t errsz);

/* Whether k's field holds the same value in a and b. */
bool vd_key_equal(const struct vd_key *k, const void *a, const void *b);

/* Unsigned decimal digits, the whole string: the syntax of VD_KEY_UINT. */
bool vd_key_parse_u64(const char *s, uint64_t *out);

#endif
