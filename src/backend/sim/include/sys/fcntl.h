/*
 * sys/fcntl.h — the system's <sys/fcntl.h>, plus the kernel file flags
 * that macOS's <sys/fcntl.h> defines outside strict POSIX and Linux's does
 * not: FREAD and FWRITE, the bits of es_event_open_t.fflag and of an
 * es_respond_flags_result answer.  Code that reads fflag includes
 * <sys/fcntl.h> on both systems, as it must on macOS.
 */
#ifndef ESSIM_SYS_FCNTL_H
#define ESSIM_SYS_FCNTL_H

#include_next <sys/fcntl.h>

#ifndef FREAD
#define FREAD  0x00000001
#define FWRITE 0x00000002
#endif

#endif
