/*
 * trust.c — verdictctl trust import: a trust set, the SHA-256 digests of
 * the files a package manager installed, in the format sha256sum(1) writes
 * ("<64 lower-case hex digits>  <absolute path>\n"), for a policy's
 * sha256= condition.  It needs no daemon.
 *
 * --dpkg reads and hashes the files: dpkg keeps MD5 sums only, of some
 * files, and a digest to trust must not rest on MD5.  --rpm takes the
 * SHA-256 digests rpm keeps of the files it installed and reads none: what
 * it trusts is what the package shipped, not what is on the disk now
 * (rpm -V tells the two apart).  A file another package diverted
 * (dpkg-divert(1)) is read, and named, where the diversion put it.
 *
 * Configuration files are left out (the conffiles of dpkg, %config of rpm,
 * and anything under /etc, which maintainer scripts edit without telling
 * the database), and so is anything that is not a regular file.  Every
 * path listed is collected first, sorted and taken once: a file two
 * packages list is read once, and the output comes out sorted by path
 * (byte order), the same for the same system.
 *
 * A file is looked up without following a symbolic link in its last
 * component, opened with O_NOFOLLOW | O_NONBLOCK (a FIFO swapped in cannot
 * block the open) and taken only when what was opened is the regular file
 * that was looked up (same device and inode): a file replaced in between
 * is reported, never hashed in its place.  Under --root, on Linux, paths
 * are resolved inside the root (openat2's RESOLVE_IN_ROOT), so an absolute
 * symbolic link of the tree (/var/run -> /run) does not lead to the host's
 * files; without openat2 they are resolved from the root's descriptor and
 * such a link does.
 *
 * Exit status: 0 the set was written, whatever was skipped; 1 nothing to
 * import (no such root or database, rpm missing or failing, not a single
 * digest: an empty set would deny every program); 2 usage; 5 standard
 * output could not be written.  A file that cannot be read is a warning
 * naming it, and counted: the set is complete but for it.
 */
#include "ctl/ctl.h"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#ifdef __linux__
#include <linux/openat2.h>
#include <sys/syscall.h>
#endif

extern char **environ;

/* What one read(2) takes: bounded memory, whatever the file's size. */
#define CHUNK (64 * 1024)
/* Largest .list, .conffiles or diversions file: the biggest packages list
 * some 100,000 paths, a few MiB. */
#define DB_FILE_MAX (256 * VD_FILE_MIB)
/* Seconds between two redraws of the progress line. */
#define PROGRESS_EVERY 0.1
/* Bytes of randomness marking rpm's records (see rpm_import()). */
#define NONCE_LEN 8

static const char trust_synopsis[] =
    "usage: verdictctl trust import --dpkg | --rpm [--root DIR]\n";

/* What becomes of a listed path: KEEP, or why it is skipped.  When two
 * packages list a path, the smaller wins, but CONFIG over KEEP. */
enum fate {
	KEEP,
	CONFIG,
	NOTREG,
	MISSING,    /* dpkg: not on the disk; rpm: not installed (fstate) */
	UNREADABLE, /* dpkg: open or read failed, or the file was replaced */
	NOSHA,      /* rpm: no SHA-256 digest */
	MALFORMED,  /* not absolute, a ".." component, a newline in the name */
	NFATES,
};

struct entry {
	char *path; /* on the system imported, absolute */
	enum fate fate;
	uint8_t digest[VD_SHA256_LEN];
};

struct import {
	char *prefix; /* --root without trailing slashes: "" for / */
	int rootfd;
	bool in_root; /* openat2 with RESOLVE_IN_ROOT works */
	struct entry *v;
	size_t n, cap;
	size_t packages;
	size_t count[NFATES];
	struct vd_sha256 *h;
	unsigned char *buf; /* CHUNK bytes */
	bool tty;           /* stderr is a terminal: show progress */
	bool drawn;         /* a progress line is on it now */
	double redraw;      /* when to draw it next */
};

/* A diversion (dpkg-divert(1)): the file of every package but `by` (all
 * of them when `by` is ":") listed as `from` is on the disk as `to`. */
struct diversion {
	const char *from, *to, *by;
};

/* ---- messages ---- */

/* Takes the progress line off the terminal, so a message starts a line. */
static void
unprogress(struct import *im)
{
	if (im->drawn) {
		fputs("\r\033[K", stderr);
		im->drawn = false;
	}
}

static void warn(struct import *im, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
warn(struct import *im, const char *fmt, ...)
{
	va_list ap;

	unprogress(im);
	va_start(ap, fmt);
	vd_cli_vwarnx(PROG, fmt, ap);
	va_end(ap);
}

/* The progress line: paths looked at, of how many, and files hashed. */
static void
progress(struct import *im, size_t done, size_t total, size_t hashed)
{
	double now;

	if (!im->tty || (done < total && (now = mono_now()) < im->redraw))
		return;
	if (done < total)
		im->redraw = now + PROGRESS_EVERY;
	fprintf(stderr,
	    "\r%s: trust import: %zu of %zu paths, %zu files hashed\033[K",
	    PROG, done, total, hashed);
	im->drawn = true;
}

static const char *
plural(size_t n)
{
	return n == 1 ? "" : "s";
}

/* ---- records ---- */

static bool
add(struct import *im, const char *path, size_t len, enum fate fate)
{
	struct entry *r;

	if (im->n == im->cap) {
		size_t cap = im->cap == 0 ? 4096 : 2 * im->cap;

		if ((r = realloc(im->v, cap * sizeof(*r))) == NULL)
			return false;
		im->v = r;
		im->cap = cap;
	}
	r = &im->v[im->n];
	if ((r->path = malloc(len + 1)) == NULL)
		return false;
	memcpy(r->path, path, len);
	r->path[len] = '\0';
	r->fate = fate;
	memset(r->digest, 0, sizeof(r->digest));
	im->n++;
	return true;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c;

	if ((c = strcmp(x->path, y->path)) != 0)
		return c;
	if (x->fate != y->fate)
		return x->fate < y->fate ? -1 : 1;
	/* Two packages that disagree on a file's digest (rpm): the same
	 * one wins on every run. */
	return memcmp(x->digest, y->digest, sizeof(x->digest));
}

/* Sorts the records by path and keeps one per path: the first, of the
 * smallest fate, but a configuration file for one package is one for all. */
static void
dedup(struct import *im)
{
	size_t i, k, o = 0;

	if (im->n > 0)
		qsort(im->v, im->n, sizeof(*im->v), entry_cmp);
	for (i = 0; i < im->n; i = k) {
		struct entry r = im->v[i];

		for (k = i + 1; k < im->n && strcmp(im->v[k].path, r.path) == 0;
		     k++) {
			if (im->v[k].fate == CONFIG)
				r.fate = CONFIG;
			free(im->v[k].path);
		}
		im->v[o++] = r;
	}
	im->n = o;
}

static void
entries_clear(struct import *im)
{
	for (size_t i = 0; i < im->n; i++)
		free(im->v[i].path);
	free(im->v);
	im->v = NULL;
	im->n = im->cap = 0;
}

/* ---- paths ---- */

/* Absolute, and no ".." component: with one, a path could name a file
 * outside the root where openat2 does not confine the lookup. */
static bool
path_ok(const char *p, size_t len)
{
	const char *c, *e, *end = p + len;

	if (len == 0 || p[0] != '/' || memchr(p, '\0', len) != NULL)
		return false;
	for (c = p + 1; c < end; c = e + 1) {
		if ((e = memchr(c, '/', (size_t)(end - c))) == NULL)
			e = end;
		if (e - c == 2 && c[0] == '.' && c[1] == '.')
			return false;
	}
	return true;
}

static bool
under_etc(const char *p)
{
	return strncmp(p, "/etc", 4) == 0 && (p[4] == '/' || p[4] == '\0');
}

/* The path relative to the root's descriptor: without its leading
 * slashes, "." for the root itself. */
static const char *
rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path == '\0' ? "." : path;
}

/*
 * openat(2) of path inside the root: with RESOLVE_IN_ROOT where the kernel
 * has it (Linux 5.6), so that absolute symbolic links stay in the tree.
 * openat2's EAGAIN means a rename raced with the lookup: try again.
 */
static int
open_in(const struct import *im, const char *path, int flags)
{
#ifdef __linux__
	if (im->in_root) {
		struct open_how how;
		long fd;
		int tries = 0;

		memset(&how, 0, sizeof(how));
		how.flags = (uint64_t)flags;
		how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
		do
			fd = syscall(SYS_openat2, im->rootfd, rel(path), &how,
			    sizeof(how));
		while (fd == -1 && errno == EAGAIN && ++tries < 8);
		return (int)fd;
	}
#endif
	return openat(im->rootfd, rel(path), flags);
}

/* lstat(2) of path inside the root. */
static int
lstat_in(const struct import *im, const char *path, struct stat *st)
{
#ifdef __linux__
	if (im->in_root) {
		int fd, rc, err;

		fd = open_in(im, path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1)
			return -1;
		rc = fstat(fd, st);
		err = errno;
		close(fd);
		errno = err;
		return rc;
	}
#endif
	return fstatat(im->rootfd, rel(path), st, AT_SYMLINK_NOFOLLOW);
}

/*
 * Opens --root; on Linux, finds out whether openat2 works (a kernel before
 * 5.6 says ENOSYS, some container sandboxes EPERM).  0, or EXIT_IMPORT
 * after saying why.
 */
static int
open_root(struct import *im, const char *root)
{
	struct stat st;
	const char *why = NULL;
	size_t len = strlen(root);

	if (stat(root, &st) == -1)
		why = strerror(errno);
	else if (!S_ISDIR(st.st_mode))
		why = "not a directory";
	else if ((im->rootfd =
	                 open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		why = strerror(errno);
	if (why != NULL) {
		vd_cli_warnx(PROG, "trust import: --root %s: %s", root, why);
		return EXIT_IMPORT;
	}
	while (len > 0 && root[len - 1] == '/')
		len--;
	if ((im->prefix = strndup(root, len)) == NULL) {
		vd_cli_warnx(PROG, "out of memory");
		return EXIT_IMPORT;
	}
#ifdef __linux__
	{
		int fd;

		im->in_root = true;
		fd = open_in(im, "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd == -1)
			im->in_root = false;
		else
			close(fd);
	}
#endif
	return 0;
}

/*
 * Hashes the file at r->path into r->digest; r->fate becomes KEEP, or why
 * not.  A file that is not there is MISSING, quietly: images leave out
 * documentation with dpkg's path-exclude, and a warning for each of
 * those would drown the rest.  One that cannot be read is UNREADABLE,
 * with a warning naming it.
 */
static void
hash_file(struct import *im, struct entry *r)
{
	static const char sha_failed[] = "SHA-256 failed (libcrypto)";
	struct stat st, fst;
	const char *why = NULL;
	ssize_t n;
	int fd;

	if (lstat_in(im, r->path, &st) == -1) {
		if (errno == ENOENT || errno == ENOTDIR) {
			r->fate = MISSING;
			return;
		}
		why = strerror(errno);
		goto unreadable;
	}
	if (!S_ISREG(st.st_mode)) {
		r->fate = NOTREG;
		return;
	}
	/* O_NONBLOCK: should a FIFO have replaced the file since, the open
	 * must not wait for a writer. */
	fd = open_in(im, r->path,
	    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		why = errno == ELOOP ? "replaced by a symbolic link"
		                     : strerror(errno);
		goto unreadable;
	}
	if (fstat(fd, &fst) == -1)
		why = strerror(errno);
	else if (!S_ISREG(fst.st_mode) || fst.st_dev != st.st_dev ||
	    fst.st_ino != st.st_ino)
		why = "replaced while it was opened";
	else if (!vd_sha256_reset(im->h))
		why = sha_failed;
	while (why == NULL && (n = read(fd, im->buf, CHUNK)) != 0) {
		if (n == -1 && errno != EINTR)
			why = strerror(errno);
		else if (n > 0 && !vd_sha256_update(im->h, im->buf, (size_t)n))
			why = sha_failed;
	}
	if (why == NULL && !vd_sha256_final(im->h, r->digest))
		why = sha_failed;
	close(fd);
	if (why == NULL) {
		r->fate = KEEP;
		return;
	}
unreadable:
	warn(im, "%s%s: %s", im->prefix, r->path, why);
	r->fate = UNREADABLE;
}

/* ---- output ---- */

/* The digest lines of the records kept, in their (path) order. */
static int
emit(struct import *im)
{
	char hex[VD_SHA256_HEX];

	for (size_t i = 0; i < im->n; i++) {
		const struct entry *r = &im->v[i];

		if (r->fate != KEEP)
			continue;
		vd_sha256_hex(r->digest, hex);
		fputs(hex, stdout);
		fputs("  ", stdout);
		fputs(r->path, stdout);
		fputc('\n', stdout);
	}
	return flush_stdout();
}

/*
 * Writes the set, then the summary on stderr, always.  0, EXIT_PROTO when
 * standard output failed, EXIT_IMPORT for an empty set: with the policy
 * it is meant for (allow what is in it, deny the rest), it would deny
 * every program.
 */
static int
finish(struct import *im, bool dpkg)
{
	size_t skipped = 0;
	int ex;

	for (size_t i = 0; i < im->n; i++)
		im->count[im->v[i].fate]++;
	for (int f = KEEP + 1; f < NFATES; f++)
		skipped += im->count[f];
	unprogress(im);
	ex = emit(im);
	/* The same summary for both; two reasons have each its own word. */
	vd_cli_warnx(PROG,
	    "trust import: %zu file%s from %zu package%s (%zu skipped: %zu "
	    "config, %zu not regular, %zu %s, %zu %s, %zu malformed)",
	    im->count[KEEP], plural(im->count[KEEP]), im->packages,
	    plural(im->packages), skipped, im->count[CONFIG], im->count[NOTREG],
	    im->count[MISSING], dpkg ? "missing" : "not installed",
	    im->count[dpkg ? UNREADABLE : NOSHA],
	    dpkg ? "unreadable" : "not SHA-256", im->count[MALFORMED]);
	if (ex == 0 && im->count[KEEP] == 0) {
		vd_cli_warnx(PROG, "trust import: no file to trust");
		ex = EXIT_IMPORT;
	}
	return ex;
}

/* ---- dpkg ---- */

/* A sorted set of strings. */
struct strset {
	char **v;
	size_t n, cap;
};

static bool
strset_add(struct strset *s, const char *p, size_t len)
{
	if (s->n == s->cap) {
		size_t cap = s->cap == 0 ? 256 : 2 * s->cap;
		char **v = realloc(s->v, cap * sizeof(*v));

		if (v == NULL)
			return false;
		s->v = v;
		s->cap = cap;
	}
	if ((s->v[s->n] = strndup(p, len)) == NULL)
		return false;
	s->n++;
	return true;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
strset_sort(struct strset *s)
{
	if (s->n > 0)
		qsort(s->v, s->n, sizeof(*s->v), str_cmp);
}

static bool
strset_has(const struct strset *s, const char *p)
{
	return s->n > 0 &&
	    bsearch(&p, s->v, s->n, sizeof(*s->v), str_cmp) != NULL;
}

static void
strset_free(struct strset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

/*
 * The next line of buf (NUL-terminated, as vd_file_read leaves it) from
 * *pos: its newline becomes a NUL.  false at the end.
 */
static bool
next_line(char *buf, size_t len, size_t *pos, char **line, size_t *ll)
{
	char *nl;

	if (*pos >= len)
		return false;
	*line = buf + *pos;
	if ((nl = memchr(*line, '\n', len - *pos)) == NULL)
		nl = buf + len;
	*nl = '\0';
	*ll = (size_t)(nl - *line);
	*pos += *ll + 1;
	return true;
}

/* Reads a file of the database (in the info folder when name is not
 * NULL).  0; -ENOENT quietly; EXIT_IMPORT after saying why. */
static int
db_read(const struct import *im, const char *file, const char *name, char **buf,
    size_t *len)
{
	char path[PATH_MAX], err[128];
	int rc;

	if (snprintf(path, sizeof(path), "%s/var/lib/dpkg/%s%s", im->prefix,
	        file, name != NULL ? name : "") >= (int)sizeof(path)) {
		vd_cli_warnx(PROG,
		    "trust import --dpkg: %s/var/lib/dpkg/%s%s: "
		    "path too long",
		    im->prefix, file, name != NULL ? name : "");
		return EXIT_IMPORT;
	}
	rc = vd_file_read(path, DB_FILE_MAX, buf, len, err, sizeof(err));
	if (rc == -ENOENT)
		return rc;
	if (rc != 0) {
		vd_cli_warnx(PROG, "trust import --dpkg: %s: %s", path, err);
		return EXIT_IMPORT;
	}
	return 0;
}

static int
div_cmp(const void *a, const void *b)
{
	return strcmp(((const struct diversion *)a)->from,
	    ((const struct diversion *)b)->from);
}

/*
 * Reads the diversions (/var/lib/dpkg/diversions: three lines each, from,
 * to and the diverting package), sorted by what they divert; the strings
 * point into *buf.  A system without any has no file.
 */
static int
read_diversions(
    const struct import *im, char **buf, struct diversion **dv, size_t *ndv)
{
	char *line[3];
	size_t len, pos = 0, ll, n = 0, cap = 0;
	int rc, k;

	*dv = NULL;
	*ndv = 0;
	if ((rc = db_read(im, "diversions", NULL, buf, &len)) != 0)
		return rc == -ENOENT ? 0 : rc;
	for (;;) {
		for (k = 0; k < 3 && next_line(*buf, len, &pos, &line[k], &ll);
		     k++)
			continue;
		if (k == 0)
			break;
		if (k < 3) {
			vd_cli_warnx(PROG,
			    "trust import --dpkg: %s/var/lib/dpkg/diversions: "
			    "cut short (not three lines per diversion)",
			    im->prefix);
			return EXIT_IMPORT;
		}
		if (n == cap) {
			struct diversion *v;

			cap = cap == 0 ? 64 : 2 * cap;
			if ((v = realloc(*dv, cap * sizeof(*v))) == NULL) {
				vd_cli_warnx(PROG, "out of memory");
				return EXIT_IMPORT;
			}
			*dv = v;
		}
		(*dv)[n].from = line[0];
		(*dv)[n].to = line[1];
		(*dv)[n].by = line[2];
		n++;
	}
	if (n > 0)
		qsort(*dv, n, sizeof(**dv), div_cmp);
	*ndv = n;
	return 0;
}

/*
 * Where package pkg's file listed as path is on the disk: path, or what
 * a diversion by another package (or a local one, by ":") moved it to.
 * pkg may carry an architecture ("libc6:amd64"); diversions name none.
 */
static const char *
diverted(
    const struct diversion *dv, size_t ndv, const char *pkg, const char *path)
{
	struct diversion key = { .from = path };
	const struct diversion *d;
	size_t plen = strcspn(pkg, ":");

	if (ndv == 0 ||
	    (d = bsearch(&key, dv, ndv, sizeof(*dv), div_cmp)) == NULL)
		return path;
	if (strcmp(d->by, ":") != 0 && strlen(d->by) == plen &&
	    strncmp(d->by, pkg, plen) == 0)
		return path;
	return d->to;
}

/* The names of the *.list files of the info folder, sorted.  0 or
 * EXIT_IMPORT after saying why. */
static int
list_names(const struct import *im, struct strset *names)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;
	size_t len;

	snprintf(dir, sizeof(dir), "%s/var/lib/dpkg/info", im->prefix);
	if ((d = opendir(dir)) == NULL) {
		vd_cli_warnx(
		    PROG, "trust import --dpkg: %s: %s", dir, strerror(errno));
		return EXIT_IMPORT;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		/* What the shell's *.list matches: no dot first. */
		if (de->d_name[0] == '.' || len <= 5 ||
		    strcmp(de->d_name + len - 5, ".list") != 0)
			continue;
		if (!strset_add(names, de->d_name, len - 5)) {
			closedir(d);
			vd_cli_warnx(PROG, "out of memory");
			return EXIT_IMPORT;
		}
	}
	closedir(d);
	if (names->n == 0) {
		vd_cli_warnx(PROG,
		    "trust import --dpkg: %s: no *.list file: not dpkg's "
		    "database",
		    dir);
		return EXIT_IMPORT;
	}
	strset_sort(names);
	return 0;
}

/*
 * Adds the conffiles of package pkg to conf.  A line is a path, or a flag
 * ("remove-on-upgrade"), blanks and a path (deb-conffiles(5)); trailing
 * blanks are not part of it.
 */
static int
read_conffiles(const struct import *im, const char *pkg, struct strset *conf)
{
	char name[NAME_MAX + 16], *buf, *line;
	size_t len, pos = 0, ll;
	int rc;

	snprintf(name, sizeof(name), "%s.conffiles", pkg);
	if ((rc = db_read(im, "info/", name, &buf, &len)) != 0)
		return rc == -ENOENT ? 0 : rc;
	while (next_line(buf, len, &pos, &line, &ll)) {
		while (ll > 0 && (line[ll - 1] == ' ' || line[ll - 1] == '\t'))
			ll--;
		if (ll > 0 && line[0] != '/') {
			size_t w = strcspn(line, " \t");

			w += strspn(line + w, " \t");
			line += w < ll ? w : ll;
			ll -= w < ll ? w : ll;
		}
		if (ll > 0 && line[0] == '/' && !strset_add(conf, line, ll)) {
			free(buf);
			vd_cli_warnx(PROG, "out of memory");
			return EXIT_IMPORT;
		}
	}
	free(buf);
	return 0;
}

/* Adds the paths of package pkg's .list, each where it is on the disk. */
static int
read_list(struct import *im, const char *pkg, const struct strset *conf,
    const struct diversion *dv, size_t ndv)
{
	char name[NAME_MAX + 16], *buf, *line;
	const char *path;
	size_t len, pos = 0, ll;
	enum fate fate;
	int rc;

	snprintf(name, sizeof(name), "%s.list", pkg);
	if ((rc = db_read(im, "info/", name, &buf, &len)) != 0) {
		if (rc == -ENOENT) /* removed since the folder was read */
			return 0;
		return rc;
	}
	while (next_line(buf, len, &pos, &line, &ll)) {
		if (ll == 0)
			continue;
		/* A name with a newline would be two lines here: dpkg-deb
		 * refuses them, and the second would not be absolute. */
		if (!path_ok(line, ll)) {
			im->count[MALFORMED]++;
			continue;
		}
		path = diverted(dv, ndv, pkg, line);
		if (path != line && !path_ok(path, strlen(path))) {
			im->count[MALFORMED]++; /* the diversions' file */
			continue;
		}
		fate = under_etc(line) || under_etc(path) ||
		        strset_has(conf, line) || strset_has(conf, path)
		    ? CONFIG
		    : KEEP;
		if (!add(im, path, strlen(path), fate)) {
			free(buf);
			vd_cli_warnx(PROG, "out of memory");
			return EXIT_IMPORT;
		}
	}
	free(buf);
	im->packages++;
	return 0;
}

static int
dpkg_import(struct import *im)
{
	struct strset names = { 0 }, conf = { 0 };
	struct diversion *dv = NULL;
	char *dvbuf = NULL;
	size_t ndv = 0, total = 0, done = 0, hashed = 0, i;
	int ex;

	if ((ex = list_names(im, &names)) != 0 ||
	    (ex = read_diversions(im, &dvbuf, &dv, &ndv)) != 0)
		goto out;
	/* Every package's conffiles first: a path that is one for any
	 * package is one for all. */
	for (i = 0; i < names.n; i++)
		if ((ex = read_conffiles(im, names.v[i], &conf)) != 0)
			goto out;
	strset_sort(&conf);
	for (i = 0; i < names.n; i++)
		if ((ex = read_list(im, names.v[i], &conf, dv, ndv)) != 0)
			goto out;
	dedup(im);

	for (i = 0; i < im->n; i++)
		total += im->v[i].fate == KEEP;
	for (i = 0; i < im->n; i++) {
		if (im->v[i].fate != KEEP)
			continue;
		hash_file(im, &im->v[i]);
		hashed += im->v[i].fate == KEEP;
		progress(im, ++done, total, hashed);
	}
	ex = finish(im, true);
out:
	strset_free(&names);
	strset_free(&conf);
	free(dv);
	free(dvbuf);
	return ex;
}

/* ---- rpm ---- */

/*
 * One record of rpm's output (the text after the marker and 'F'): algo,
 * digest, mode, flags, state, name, separated by single blanks (a digest
 * and the flags may be empty); the name is the rest of the line.
 */
static bool
rpm_record(struct import *im, char *s)
{
	char *f[5], *name;
	enum fate fate;
	uint8_t d[VD_SHA256_LEN];
	int k;

	for (k = 0; k < 5; k++) {
		f[k] = s;
		if ((s = strchr(s, ' ')) == NULL) {
			im->count[MALFORMED]++;
			return true;
		}
		*s++ = '\0';
	}
	name = s;
	if (!path_ok(name, strlen(name))) {
		im->count[MALFORMED]++;
		return true;
	}
	if (f[2][0] != '-')
		fate = NOTREG;
	else if (strchr(f[3], 'c') != NULL || under_etc(name))
		fate = CONFIG;
	else if (strcmp(f[4], "normal") != 0 || strchr(f[3], 'g') != NULL)
		fate = MISSING; /* not installed, or a %ghost: not shipped */
	else if (strcmp(f[0], "8") != 0 ||
	    !vd_sha256_parse(f[1], strlen(f[1]), d))
		fate = NOSHA;
	else
		fate = KEEP;
	if (!add(im, name, strlen(name), fate))
		return false;
	if (fate == KEEP)
		memcpy(im->v[im->n - 1].digest, d, sizeof(d));
	return true;
}

/* The marker's line held back (see rpm_import()): what it says. */
static bool
rpm_flush(struct import *im, char *held, size_t ml, bool broken)
{
	if (held == NULL)
		return true;
	if (held[ml] == 'P')
		im->packages++;
	else if (broken)
		im->count[MALFORMED]++; /* a newline in the name */
	else if (held[ml] == 'F' && held[ml + 1] == ' ')
		return rpm_record(im, held + ml + 2);
	else
		im->count[MALFORMED]++;
	return true;
}

/*
 * Reads what rpm prints: every line it is asked for starts with a marker
 * drawn at random for this run, which no package can know in advance.  A
 * line without it is the rest of a file name with a newline: the record
 * it continues is dropped, counted malformed, rather than read as two
 * (the second of which could name any path).  So each marked line is held
 * until the next one shows that it was whole.  0, or EXIT_IMPORT.
 */
static int
rpm_read(struct import *im, FILE *fp, const char *mark)
{
	size_t ml = strlen(mark), cap = 0;
	char *line = NULL, *held = NULL;
	bool broken = false, warned = false, ok = true;
	ssize_t len;

	while (ok && (len = getline(&line, &cap, fp)) != -1) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (strncmp(line, mark, ml) == 0) {
			ok = rpm_flush(im, held, ml, broken);
			free(held);
			broken = false;
			if ((held = strdup(line)) == NULL)
				ok = false;
		} else if (held != NULL && held[ml] == 'F') {
			broken = true;
		} else if (!warned) {
			warn(im,
			    "trust import --rpm: rpm printed an "
			    "unexpected line: ignored");
			warned = true;
		}
	}
	if (ok)
		ok = rpm_flush(im, held, ml, broken);
	free(held);
	free(line);
	if (!ok) {
		vd_cli_warnx(PROG, "out of memory");
		return EXIT_IMPORT;
	}
	return 0;
}

/* The marker: NONCE_LEN random bytes in hex, then '.'. */
static bool
make_mark(char *out, size_t size)
{
	unsigned char b[NONCE_LEN];
	ssize_t n;
	int fd;

	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	n = read(fd, b, sizeof(b));
	close(fd);
	if (n != (ssize_t)sizeof(b) || size < 2 * sizeof(b) + 2)
		return false;
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	out[2 * sizeof(b)] = '.';
	out[2 * sizeof(b) + 1] = '\0';
	return true;
}

static int rpm_wait(pid_t pid, const char *what);

/*
 * Runs rpm with argv (argv[0] "rpm", found on PATH), its stdin /dev/null,
 * its stdout a pipe: 0 with the pipe's reading end in *fp, or EXIT_IMPORT
 * after saying why ("rpm is not installed").
 */
static int
rpm_start(char *const argv[], pid_t *pid, FILE **fp)
{
	posix_spawn_file_actions_t fa;
	int pfd[2], rc;

	if (pipe(pfd) == -1) {
		vd_cli_warnx(
		    PROG, "trust import --rpm: pipe: %s", strerror(errno));
		return EXIT_IMPORT;
	}
	/* Ours only: rpm gets the writing end as its stdout, where dup2
	 * clears the flag. */
	fcntl(pfd[0], F_SETFD, FD_CLOEXEC);
	fcntl(pfd[1], F_SETFD, FD_CLOEXEC);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(
	    &fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	rc = posix_spawnp(pid, "rpm", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (rc != 0) {
		close(pfd[0]);
		if (rc == ENOENT)
			vd_cli_warnx(
			    PROG, "trust import --rpm: rpm is not installed");
		else
			vd_cli_warnx(
			    PROG, "trust import --rpm: rpm: %s", strerror(rc));
		return EXIT_IMPORT;
	}
	if ((*fp = fdopen(pfd[0], "r")) == NULL) {
		vd_cli_warnx(PROG, "out of memory");
		close(pfd[0]);
		rpm_wait(*pid, NULL);
		return EXIT_IMPORT;
	}
	return 0;
}

/* Waits for rpm; 0 when it exited 0, EXIT_IMPORT after saying how it
 * failed (not when what is NULL: the caller said why already). */
static int
rpm_wait(pid_t pid, const char *what)
{
	int status;

	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return EXIT_IMPORT;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (what != NULL && WIFEXITED(status))
		vd_cli_warnx(PROG,
		    "trust import --rpm: rpm %s failed (exit status %d)", what,
		    WEXITSTATUS(status));
	else if (what != NULL)
		vd_cli_warnx(PROG,
		    "trust import --rpm: rpm %s killed by signal %d", what,
		    WTERMSIG(status));
	return EXIT_IMPORT;
}

/*
 * Where rpm keeps its database (%_dbpath: /var/lib/rpm, or ~/.rpmdb with
 * Debian's rpm), checked to be a folder under the root before rpm -qa
 * runs, since rpm -qa creates an empty database where there is none: it
 * would write into the tree, and report nothing.
 */
static int
rpm_check_db(const char *root)
{
	char *argv[] = { "rpm", "--eval", "%{_dbpath}", NULL };
	char *line = NULL, *db = NULL;
	const char *why = NULL;
	size_t cap = 0;
	ssize_t len;
	struct stat st;
	FILE *fp;
	pid_t pid;
	int ex;

	if ((ex = rpm_start(argv, &pid, &fp)) != 0)
		return ex;
	len = getline(&line, &cap, fp);
	fclose(fp);
	if ((ex = rpm_wait(pid, "--eval %{_dbpath}")) != 0)
		goto out;
	while (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len <= 0 || line[0] != '/') {
		vd_cli_warnx(PROG,
		    "trust import --rpm: rpm --eval "
		    "%%{_dbpath}: not an absolute path");
		ex = EXIT_IMPORT;
		goto out;
	}
	if (asprintf(&db, "%s%s", strcmp(root, "/") == 0 ? "" : root, line) ==
	    -1) {
		db = NULL;
		vd_cli_warnx(PROG, "out of memory");
		ex = EXIT_IMPORT;
		goto out;
	}
	if (stat(db, &st) == -1)
		why = errno == ENOENT ? "no rpm database (rpm's %_dbpath)"
		                      : strerror(errno);
	else if (!S_ISDIR(st.st_mode))
		why = "not a directory (rpm's %_dbpath)";
	if (why != NULL) {
		vd_cli_warnx(PROG, "trust import --rpm: %s: %s", db, why);
		ex = EXIT_IMPORT;
	}
out:
	free(db);
	free(line);
	return ex;
}

/*
 * rpm -qa --root ROOT --qf FORMAT: per package a line "<mark>P", per file
 * "<mark>F algo digest mode flags state name".  %{=FILEDIGESTALGO}
 * repeats the package's one algorithm on each file's line (8 is SHA-256);
 * :perms gives the mode as ls(1) does, :fflags the file's flags (c for
 * %config, g for %ghost), :fstate whether it was installed ("normal") or
 * not (replaced, netshared, excluded...).  See rpm(8), "QUERY OPTIONS",
 * and rpm's queryformat.md.
 */
static int
rpm_import(struct import *im, const char *root)
{
	static const char fmt[] =
	    "%sP\n[%sF %%{=FILEDIGESTALGO} %%{FILEDIGESTS} "
	    "%%{FILEMODES:perms} %%{FILEFLAGS:fflags} "
	    "%%{FILESTATES:fstate} %%{FILENAMES}\n]";
	char mark[2 * NONCE_LEN + 2], qf[sizeof(fmt) + 2 * sizeof(mark)];
	char *absroot;
	FILE *fp;
	pid_t pid;
	int ex, ex2;

	/* rpm wants an absolute --root. */
	if ((absroot = realpath(root, NULL)) == NULL) {
		vd_cli_warnx(PROG, "trust import --rpm: --root %s: %s", root,
		    strerror(errno));
		return EXIT_IMPORT;
	}
	if (!make_mark(mark, sizeof(mark))) {
		vd_cli_warnx(PROG, "trust import --rpm: /dev/urandom: %s",
		    strerror(errno));
		free(absroot);
		return EXIT_IMPORT;
	}
	snprintf(qf, sizeof(qf), fmt, mark, mark);
	if ((ex = rpm_check_db(absroot)) == 0) {
		char *argv[] = { "rpm", "-qa", "--root", absroot, "--qf", qf,
			NULL };

		ex = rpm_start(argv, &pid, &fp);
	}
	free(absroot);
	if (ex != 0)
		return ex;
	ex = rpm_read(im, fp, mark);
	/* Closed first: an rpm still writing gets EPIPE rather than wait
	 * for a reader that will not come. */
	fclose(fp);
	ex2 = rpm_wait(pid, ex == 0 ? "-qa" : NULL);
	if (ex != 0 || (ex = ex2) != 0)
		return ex;
	dedup(im);
	return finish(im, false);
}

/* ---- the command line ---- */

enum {
	OPT_DPKG = 256,
	OPT_RPM,
	OPT_ROOT,
};

static void
trust_usage(FILE *fp)
{
	static const char *const text[] = {
		"",
		"Write the SHA-256 digests of the files the package manager",
		"installed, as sha256sum does, on standard output: a trust set",
		"for a policy's sha256= condition.  Configuration files, files",
		"under /etc and anything but regular files are left out; a",
		"summary goes to standard error.",
		"",
		"  --dpkg      the files dpkg lists, read and hashed",
		"  --rpm       the SHA-256 digests rpm keeps of its files",
		"  --root DIR  the system's root directory (default /)",
		"  -h, --help  print this help and exit",
		"",
		"Exit status: 0 the set was written, 1 nothing to import,",
		"2 usage error, 5 standard output could not be written.",
	};

	fputs(trust_synopsis, fp);
	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
		fprintf(fp, "%s\n", text[i]);
}

/* The command line after "trust": its options, then the import. */
static int
trust_args(int argc, char **argv, bool *dpkg, const char **root)
{
	static const struct option opts[] = {
		{ "dpkg", no_argument, NULL, OPT_DPKG },
		{ "rpm", no_argument, NULL, OPT_RPM },
		{ "root", required_argument, NULL, OPT_ROOT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool rpm = false;
	int ch;

	*dpkg = false;
	*root = "/";
	optind = 1;
	opterr = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case OPT_DPKG:
			*dpkg = true;
			break;
		case OPT_RPM:
			rpm = true;
			break;
		case OPT_ROOT:
			*root = optarg;
			break;
		case 'h':
			trust_usage(stdout);
			return -1;
		default:
			/* getopt said what */
			return vd_cli_usage_error(PROG, trust_synopsis, NULL);
		}
	}
	if (optind == argc)
		return vd_cli_usage_error(
		    PROG, trust_synopsis, "trust needs a command: import");
	if (strcmp(argv[optind], "import") != 0)
		return vd_cli_usage_error(PROG, trust_synopsis,
		    "trust %s: no such command (import is the only one)",
		    argv[optind]);
	if (optind + 1 < argc)
		return vd_cli_usage_error(PROG, trust_synopsis,
		    "trust import takes no arguments, not '%s'",
		    argv[optind + 1]);
	if (*dpkg && rpm)
		return vd_cli_usage_error(PROG, trust_synopsis,
		    "trust import: --dpkg and --rpm exclude each other");
	if (!*dpkg && !rpm)
		return vd_cli_usage_error(
		    PROG, trust_synopsis, "trust import needs --dpkg or --rpm");
	if (**root == '\0')
		return vd_cli_usage_error(
		    PROG, trust_synopsis, "trust import: empty --root");
	return 0;
}

/*
 * verdictctl trust ...: argv[0] is "trust".  Returns the exit status, after
 * the messages that explain it.
 */
int
cmd_trust(int argc, char **argv)
{
	static char prog[] = PROG;
	struct import im;
	const char *root;
	char **av;
	bool dpkg;
	int ex;

	/* getopt's messages start with argv[0]: "verdictctl", not "trust". */
	if ((av = calloc((size_t)argc + 1, sizeof(*av))) == NULL) {
		vd_cli_warnx(PROG, "out of memory");
		return EXIT_IMPORT;
	}
	av[0] = prog;
	for (int i = 1; i < argc; i++)
		av[i] = argv[i];
	ex = trust_args(argc, av, &dpkg, &root);
	if (ex != 0) {
		free(av);
		return ex == -1 ? flush_stdout() : ex;
	}

	memset(&im, 0, sizeof(im));
	im.rootfd = -1;
	im.tty = isatty(STDERR_FILENO) == 1;
	if ((ex = open_root(&im, root)) != 0)
		goto out;
	if (dpkg) {
		im.h = vd_sha256_new();
		im.buf = malloc(CHUNK);
		if (im.h == NULL || im.buf == NULL) {
			vd_cli_warnx(PROG, "out of memory");
			ex = EXIT_IMPORT;
			goto out;
		}
		ex = dpkg_import(&im);
	} else {
		ex = rpm_import(&im, root);
	}
out:
	unprogress(&im);
	entries_clear(&im);
	vd_sha256_free(im.h);
	free(im.buf);
	free(im.prefix);
	if (im.rootfd != -1)
		close(im.rootfd);
	free(av);
	return ex;
}
