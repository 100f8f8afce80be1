/*
 * readfile.c — see readfile.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/errf.h"
#include "util/readfile.h"

#ifndef O_NOCTTY
#define O_NOCTTY 0
#endif

/* A refusal of anything but a regular file: 0, or -errno with err set. */
static int
check_type(mode_t mode, char *err, size_t errsz)
{
	if (S_ISREG(mode))
		return 0;
	if (S_ISDIR(mode)) {
		vd_errf(err, errsz, "is a directory, not a regular file");
		return -EISDIR;
	}
	vd_errf(err, errsz, "not a regular file (%s)",
	    S_ISFIFO(mode)       ? "a FIFO"
	        : S_ISCHR(mode)  ? "a character device"
	        : S_ISBLK(mode)  ? "a block device"
	        : S_ISSOCK(mode) ? "a socket"
	                         : "of an unknown type");
	return -EINVAL;
}

static int
too_big(size_t max, char *err, size_t errsz)
{
	if (max >= VD_FILE_MIB && max % VD_FILE_MIB == 0)
		vd_errf(err, errsz, "larger than %zu MiB", max / VD_FILE_MIB);
	else if (max >= VD_FILE_KIB && max % VD_FILE_KIB == 0)
		vd_errf(err, errsz, "larger than %zu KiB", max / VD_FILE_KIB);
	else
		vd_errf(err, errsz, "larger than %zu bytes", max);
	return -EFBIG;
}

int
vd_file_read(const char *path, size_t max, char **bufp, size_t *lenp, char *err,
    size_t errsz)
{
	struct stat st;
	size_t len = 0, cap;
	char *buf = NULL, *nbuf;
	ssize_t r;
	int fd, rc;

	*bufp = NULL;
	*lenp = 0;
	if (max > SIZE_MAX / 2)
		max = SIZE_MAX / 2;
	/* A device is refused before it is opened: opening some has side
	 * effects.  The check after open is the one that counts. */
	if (stat(path, &st) != 0) {
		rc = -errno;
		vd_errf(err, errsz, "%s", strerror(-rc));
		return rc;
	}
	if ((rc = check_type(st.st_mode, err, errsz)) != 0)
		return rc;
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)) <
	    0) {
		rc = -errno;
		vd_errf(err, errsz, "%s", strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		vd_errf(err, errsz, "%s", strerror(-rc));
		goto fail;
	}
	if ((rc = check_type(st.st_mode, err, errsz)) != 0)
		goto fail;
	if (st.st_size < 0 || (uint64_t)st.st_size > max) {
		rc = too_big(max, err, errsz);
		goto fail;
	}
	/* Room for one byte more than the size, to see the end (or that the
	 * file grew), and for the NUL.  Some files, such as those of /proc,
	 * have a size of 0 and contents all the same. */
	cap = (size_t)st.st_size + 2;
	for (;;) {
		if (buf == NULL || len + 1 == cap) {
			if (buf != NULL)
				cap = cap <= max / 2 ? cap * 2 : max + 2;
			if ((nbuf = realloc(buf, cap)) == NULL) {
				rc = -ENOMEM;
				vd_errf(err, errsz, "%s", strerror(ENOMEM));
				goto fail;
			}
			buf = nbuf;
		}
		r = read(fd, buf + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			vd_errf(err, errsz, "read error: %s", strerror(-rc));
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > max) {
			rc = too_big(max, err, errsz);
			goto fail;
		}
	}
	close(fd);
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;

fail:
	close(fd);
	free(buf);
	return rc;
}
