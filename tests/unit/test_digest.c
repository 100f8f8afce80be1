/*
 * test_digest.c — the file-digest enrichment: through a descriptor and by
 * path, its cache, and every file it must refuse: a symbolic link, a FIFO,
 * one over the size cap, one that is not the event's, one that changes
 * while it is read.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <verdict/digest.h>
#include <verdict/pipeline.h>

#include "util/util.h"

#define ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static char dir[64];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_digest.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

static void
put(const char *name, const char *text, char *path, size_t pathsz)
{
	FILE *f;

	snprintf(path, pathsz, "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static struct vd_digest *
mk(uint64_t max, unsigned cache, uint64_t delay)
{
	struct vd_digest_config c;
	struct vd_digest *d;
	int err;

	vd_digest_config_init(&c);
	if (max != 0)
		c.max_bytes = max;
	c.cache = cache;
	c.delay_ns_per_mib = delay;
	d = vd_digest_create(&c, &err);
	cr_assert_not_null(d, "%s", strerror(-err));
	return d;
}

/* An event naming path, with its dev and ino as ES reports them (none
 * when there is no such file). */
static void
event_for(struct vd_event *ev, const char *path)
{
	struct stat sb;

	memset(ev, 0, sizeof(*ev));
	ev->type = VD_AUTH_EXEC;
	ev->handle.fd = -1;
	snprintf(ev->target, sizeof(ev->target), "%s", path);
	if (lstat(path, &sb) == 0) {
		ev->target_dev = (uint64_t)sb.st_dev;
		ev->target_ino = (uint64_t)sb.st_ino;
	}
}

static const char *
hex(const struct vd_event *ev)
{
	static char h[VD_SHA256_HEX];

	cr_assert(ev->have & VD_NEED_DIGEST);
	vd_sha256_hex(ev->sha256, h);
	return h;
}

Test(
    digest, through_the_descriptor_and_by_path, .init = setup, .fini = teardown)
{
	struct vd_digest *d = mk(0, 64, 0);
	struct vd_digest_stats st;
	struct vd_event ev;
	char p[128];
	int fd;

	put("f", "abc", p, sizeof(p));
	event_for(&ev, "/nowhere");
	fd = open(p, O_RDONLY);
	cr_assert_eq(vd_digest_event(d, &ev, fd), 0);
	cr_assert_str_eq(hex(&ev), ABC);
	cr_assert_eq(lseek(fd, 0, SEEK_CUR), 0, "the offset does not move");
	close(fd);
	event_for(&ev, p);
	cr_assert_eq(vd_digest_enrich(d, &ev, VD_NEED_DIGEST, false), 0);
	cr_assert_str_eq(hex(&ev), ABC);
	vd_digest_stats(d, &st);
	cr_assert_eq(st.hashed, 1);
	cr_assert_eq(st.cache_hits, 1, "the second came from the cache");
	/* A write moves ctime: the old digest is never found again. */
	put("f", "abcd", p, sizeof(p));
	event_for(&ev, p);
	cr_assert_eq(vd_digest_event(d, &ev, -1), 0);
	cr_assert_str_neq(hex(&ev), ABC);
	vd_digest_stats(d, &st);
	cr_assert_eq(st.hashed, 2);
	vd_digest_destroy(d);
}

Test(digest, what_it_refuses, .init = setup, .fini = teardown)
{
	struct vd_digest *d = mk(16, 64, 0);
	struct vd_digest_stats st;
	struct vd_event ev;
	char p[128], l[160], big[128];
	struct stat sb;

	put("f", "abc", p, sizeof(p));
	snprintf(l, sizeof(l), "%s/link", dir);
	cr_assert_eq(symlink(p, l), 0);
	event_for(&ev, l);
	cr_assert_eq(vd_digest_event(d, &ev, -1), -EINVAL, "a symlink");
	snprintf(l, sizeof(l), "%s/fifo", dir);
	cr_assert_eq(mkfifo(l, 0600), 0);
	event_for(&ev, l);
	cr_assert_eq(vd_digest_event(d, &ev, -1), -EINVAL, "a FIFO");
	event_for(&ev, dir);
	cr_assert_eq(vd_digest_event(d, &ev, -1), -EINVAL, "a directory");
	put("big", "0123456789abcdefX", big, sizeof(big));
	event_for(&ev, big);
	cr_assert_eq(vd_digest_event(d, &ev, -1), -EFBIG);
	/* Gone since the event. */
	event_for(&ev, p);
	snprintf(ev.target, sizeof(ev.target), "%s/gone", dir);
	cr_assert_eq(vd_digest_event(d, &ev, -1), -ENOENT);
	/* By path, the file must be the one the event named, and the
	 * event must say which one that is. */
	cr_assert_eq(stat(p, &sb), 0);
	event_for(&ev, p);
	ev.target_ino = (uint64_t)sb.st_ino + 1;
	cr_assert_eq(vd_digest_event(d, &ev, -1), -ESTALE);
	ev.target_ino = 0;
	cr_assert_eq(vd_digest_event(d, &ev, -1), -ESTALE, "identity unknown");
	cr_assert_eq(ev.have, 0, "no digest for any of them");
	ev.target_ino = (uint64_t)sb.st_ino;
	cr_assert_eq(vd_digest_event(d, &ev, -1), 0);
	vd_digest_stats(d, &st);
	cr_assert_eq(st.not_regular, 3);
	cr_assert_eq(st.too_large, 1);
	cr_assert_eq(st.errors, 1);
	cr_assert_eq(st.changed, 2);
	vd_digest_destroy(d);
}

struct grower {
	const char *path;
};

static void *
grow(void *arg)
{
	struct grower *g = arg;
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	FILE *f;

	nanosleep(&ts, NULL);
	f = fopen(g->path, "a");
	if (f != NULL) {
		fputs("more", f);
		fclose(f);
	}
	return NULL;
}

/* A file written while it is read gets no digest, and none is cached. */
Test(digest, a_file_that_changes_while_read_gets_none, .init = setup,
    .fini = teardown)
{
	/* 300 ms of "disk" after the first MiB: the write at 50 ms lands
	 * in the middle of the read (margin: 250 ms). */
	struct vd_digest *d = mk(0, 64, 300 * 1000 * 1000);
	struct vd_digest_stats st;
	struct grower g;
	struct vd_event ev;
	pthread_t th;
	char p[128];
	char *blob = malloc(2 * 1024 * 1024 + 1);

	cr_assert_not_null(blob);
	memset(blob, 'x', 2 * 1024 * 1024);
	blob[2 * 1024 * 1024] = '\0';
	put("f", blob, p, sizeof(p));
	free(blob);
	g.path = p;
	pthread_create(&th, NULL, grow, &g);
	event_for(&ev, p);
	cr_assert_eq(vd_digest_event(d, &ev, -1), -ESTALE);
	pthread_join(th, NULL);
	cr_assert_eq(ev.have, 0);
	vd_digest_stats(d, &st);
	cr_assert_eq(st.changed, 1);
	cr_assert_eq(st.hashed, 0);
	vd_digest_destroy(d);
}

Test(digest, a_bad_config_is_refused)
{
	struct vd_digest_config c;
	int err = 0;

	vd_digest_config_init(&c);
	c.cache = 100;
	cr_assert_null(vd_digest_create(&c, &err));
	cr_assert_eq(err, -EINVAL);
}

/* A written file's digest is dropped from the cache (the notify path),
 * so it is read again even where its times would not show the write. */
Test(digest, a_written_file_is_forgotten, .init = setup, .fini = teardown)
{
	struct vd_digest *d = mk(0, 64, 0);
	struct vd_digest_stats st;
	struct vd_event ev, w;
	struct stat sb;
	char p[128];

	put("f", "abc", p, sizeof(p));
	cr_assert_eq(stat(p, &sb), 0);
	event_for(&ev, p);
	cr_assert_eq(vd_digest_event(d, &ev, -1), 0);
	event_for(&w, p);
	w.type = VD_NOTIFY_WRITE;
	vd_digest_forget(d, &w);
	vd_digest_stats(d, &st);
	cr_assert_eq(st.cache_invalidations, 0, "no target_id: nothing known");
	w.target_id = true;
	w.target_dev = (uint64_t)sb.st_dev;
	w.target_ino = (uint64_t)sb.st_ino;
	vd_digest_forget(d, &w);
	event_for(&ev, p);
	cr_assert_eq(vd_digest_event(d, &ev, -1), 0);
	vd_digest_stats(d, &st);
	cr_assert_eq(st.cache_invalidations, 1);
	cr_assert_eq(st.hashed, 2, "read again after the write");
	cr_assert_eq(st.cache_hits, 0);
	vd_digest_destroy(d);
}

struct canceller {
	struct vd_digest *d;
};

static void *
cancel_soon(void *arg)
{
	struct canceller *c = arg;
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	vd_digest_cancel(c->d);
	return NULL;
}

/* A read in progress stops at its next chunk once cancelled (the stop). */
Test(digest, a_cancelled_read_stops, .init = setup, .fini = teardown)
{
	/* 4 MiB at 300 ms a MiB: cancelled at 50 ms, during the first
	 * MiB's sleep, it ends at the second chunk (margin: 250 ms). */
	struct vd_digest *d = mk(0, 64, 300 * 1000 * 1000);
	struct canceller c = { d };
	struct vd_event ev;
	pthread_t th;
	char p[128];
	char *blob = malloc(4 * 1024 * 1024 + 1);

	cr_assert_not_null(blob);
	memset(blob, 'y', 4 * 1024 * 1024);
	blob[4 * 1024 * 1024] = '\0';
	put("f", blob, p, sizeof(p));
	free(blob);
	event_for(&ev, p);
	pthread_create(&th, NULL, cancel_soon, &c);
	cr_assert_eq(vd_digest_event(d, &ev, -1), -ECANCELED);
	pthread_join(th, NULL);
	cr_assert_eq(ev.have, 0);
	vd_digest_destroy(d);
}
