/*
 * readfile.h — reading an input file whole, bounded and typed (internal).
 *
 * Every file the daemon and its tools take as input (the configuration, a
 * policy and the files it includes, a scenario) is read through
 * vd_file_read, so that none can hang a reader or exhaust its memory:
 *
 *   - the path is opened with O_NONBLOCK, since open(2) of a FIFO blocks
 *     until a writer comes, and with O_NOCTTY;
 *   - anything but a regular file (a FIFO, a device such as /dev/zero, a
 *     socket, a directory) is refused before a byte is read, and a device
 *     is not even opened, since opening some has side effects;
 *   - a file larger than the caller's limit is refused, by its size and
 *     again while reading, in case it grows;
 *   - a read error is an error, never an early end of file.
 *
 * Thread-safe.
 */
#ifndef VD_UTIL_READFILE_H
#define VD_UTIL_READFILE_H

#include <stddef.h>

#define VD_FILE_KIB ((size_t)1 << 10)
#define VD_FILE_MIB ((size_t)1 << 20)

/*
 * Reads the regular file path, at most max bytes.  Returns 0 with its
 * contents in *bufp (malloc'ed, NUL-terminated; free() it) and their length
 * in *lenp, which does not count the NUL.  Otherwise returns -errno with the
 * reason in err, a phrase without the file's name for the caller to put
 * after it ("not a regular file", "larger than 1 MiB"):
 *   -EISDIR  a directory;
 *   -EINVAL  anything else that is not a regular file;
 *   -EFBIG   more than max bytes;
 *   -ENOMEM;
 *   or open(2)'s or read(2)'s error (-ENOENT, -EACCES, -EIO...).
 */
int vd_file_read(const char *path, size_t max, char **bufp, size_t *lenp,
    char *err, size_t errsz);

#endif
