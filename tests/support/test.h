/*
 * test.h — Criterion, or a plain in-process runner under ThreadSanitizer.
 *
 * Criterion's process isolation (boxfort) cannot start under TSan: its
 * inheritable arena collides with TSan's memory layout ("Could not
 * initialize inheritable arena", Criterion issue #274, open).  So the
 * concurrency tests include this header instead of <criterion/criterion.h>;
 * built with -DVD_PLAIN_RUNNER (the TSan build) the same Test() bodies run
 * one after another in one process, and the first failed assertion ends the
 * run with the file, line and message.  The runner prints Criterion's
 * synthesis line so tools/summarize counts both alike.
 */
#ifndef VD_TEST_H
#define VD_TEST_H

#ifndef VD_PLAIN_RUNNER
#include <criterion/criterion.h>
#include <criterion/logging.h>
#else

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct vd_plain_test {
	const char *suite;
	const char *name;
	void (*fn)(void);
};

static struct vd_plain_test vd_plain_tests[64];
static int vd_plain_count, vd_plain_passed, vd_plain_current;

static inline void
vd_plain_register(const char *suite, const char *name, void (*fn)(void))
{
	if (vd_plain_count < 64)
		vd_plain_tests[vd_plain_count++] =
		    (struct vd_plain_test){ suite, name, fn };
}

__attribute__((format(printf, 4, 5))) static inline void
vd_plain_fail(
    const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[FAIL] %s::%s: %s:%d: %s\n",
	    vd_plain_tests[vd_plain_current].suite,
	    vd_plain_tests[vd_plain_current].name, file, line, expr);
	if (fmt[0] != '\0') {
		va_start(ap, fmt);
		fputs("[----]   ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	fprintf(stderr,
	    "[====] Synthesis: Tested: %d | Passing: %d | Failing: 1 | "
	    "Crashing: 0\n",
	    vd_plain_passed + 1, vd_plain_passed);
	exit(1);
}

#define Test(suite, name, ...)                                                 \
	static void suite##_##name(void);                                      \
	__attribute__((constructor)) static void reg_##suite##_##name(void)    \
	{                                                                      \
		vd_plain_register(#suite, #name, suite##_##name);              \
	}                                                                      \
	static void suite##_##name(void)

#define cr_assert(cond, ...)                                                   \
	do {                                                                   \
		if (!(cond))                                                   \
			vd_plain_fail(                                         \
			    __FILE__, __LINE__, #cond, "" __VA_ARGS__);        \
	} while (0)
#define cr_assert_not(c, ...)      cr_assert(!(c), __VA_ARGS__)
#define cr_assert_eq(a, b, ...)    cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...)   cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...)    cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_lt(a, b, ...)    cr_assert((a) < (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...)   cr_assert((a) >= (b), __VA_ARGS__)
#define cr_assert_null(a, ...)     cr_assert((a) == NULL, __VA_ARGS__)
#define cr_assert_not_null(a, ...) cr_assert((a) != NULL, __VA_ARGS__)
#define cr_assert_float_eq(a, b, eps, ...)                                     \
	cr_assert(fabs((double)(a) - (double)(b)) <= (eps), __VA_ARGS__)
#define cr_log_info(...)                                                       \
	do {                                                                   \
		fputs("[----] ", stderr);                                      \
		fprintf(stderr, __VA_ARGS__);                                  \
		fputc('\n', stderr);                                           \
	} while (0)

int
main(void)
{
	for (vd_plain_current = 0; vd_plain_current < vd_plain_count;
	     vd_plain_current++) {
		fprintf(stderr, "[RUN ] %s::%s\n",
		    vd_plain_tests[vd_plain_current].suite,
		    vd_plain_tests[vd_plain_current].name);
		vd_plain_tests[vd_plain_current].fn();
		vd_plain_passed++;
	}
	fprintf(stderr,
	    "[====] Synthesis: Tested: %d | Passing: %d | Failing: 0 | "
	    "Crashing: 0\n",
	    vd_plain_count, vd_plain_passed);
	return 0;
}

#endif /* VD_PLAIN_RUNNER */
#endif
