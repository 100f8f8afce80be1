/*
 * procstat.h — reading fields of a /proc/<pid>/stat line.
 *
 * The line is "pid (comm) state ppid ...", and comm may hold spaces and
 * parentheses: fields are counted from the last ')', never by splitting
 * the whole line.
 */
#ifndef VD_UTIL_PROCSTAT_H
#define VD_UTIL_PROCSTAT_H

#include <string.h>

/*
 * The start of field `field` (1-based, as proc(5) numbers them; 3 or
 * more) of a NUL-terminated stat line, or NULL when the line is shorter.
 */
static inline const char *
vd_proc_stat_field(const char *line, int field)
{
	const char *p = strrchr(line, ')');
	int f;

	/* Field 3 starts two characters after the ')'. */
	for (f = 2; p != NULL && f < field; f++)
		p = strchr(p + 1, ' ');
	return p != NULL ? p + 1 : NULL;
}

#endif
