/*
 * util.h — the public header of src/util, the helpers every part of
 * verdictd shares (one static library, vd_util).  Code outside src/util
 * includes this header and no other of this folder:
 *
 *   errf.h      an error sentence into a caller's buffer; vd_quote()
 *   cli.h       a command-line program's messages and usage errors
 *   readfile.h  an input file read whole: regular files only, bounded
 *   inifile.h   the strict INI reader (file:line errors)
 *   keys.h      tables of settings and their one setter
 *   procstat.h  fields of /proc/<pid>/stat
 *   sha256.h    SHA-256 through libcrypto / CommonCrypto, and its hex
 *   splitmix.h  the splitmix64 generator
 *   tsan.h      ThreadSanitizer annotations for Concurrency Kit's edges
 *
 * Each header says which threads may call what; none keeps state of its
 * own between calls.
 */
#ifndef VD_UTIL_UTIL_H
#define VD_UTIL_UTIL_H

#include "util/cli.h"
#include "util/errf.h"
#include "util/inifile.h"
#include "util/keys.h"
#include "util/procstat.h"
#include "util/readfile.h"
#include "util/sha256.h"
#include "util/splitmix.h"
#include "util/tsan.h"

#endif
