/*
 * test_control.c — the control server against fake ops: the socket's
 * mode and lifetime, every reply kind, hostile and stalled clients, and
 * concurrent load.
 *
 * Each test gets its own mkdtemp directory and a server whose timeout is
 * short (TIMEOUT_MS), so that stalled clients are dropped quickly; bounds
 * on elapsed time are loose enough for a loaded two-core machine.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "proto/proto.h"
#include "daemon/control.h"

#define TIMEOUT_MS 300
#define READ_MS    3000 /* how long a client waits for a reply */

/* ---- fake ops --------------------------------------------------------- */

struct rec {
	const char *name, *kind, *unit;
	long long value;
	const char *help;
};

static const struct rec recs[] = {
	{ "auth.open.received", "counter", "events", 42, "Opens received." },
	{ "auth.open.denied", "counter", "events", 3, "Opens denied." },
	{ "ring.auth.depth_max", "gauge", "events", 7, "Deepest ring." },
	{ "deadline.margin_us.min", "gauge", "us", -3, "Smallest margin." },
};
#define NRECS (sizeof(recs) / sizeof(recs[0]))

struct fake {
	atomic_uint gets, statuses, reloads;
	atomic_int reload_rc;
	size_t flood; /* GET emits this many bytes of filler instead */
	pthread_mutex_t mu;
	char last_names[512]; /* the last GET's names, joined by ',' */
};

static bool
matches(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(name, prefix, n) == 0 &&
	    (name[n] == '\0' || name[n] == '.');
}

static int
fake_get(void *ctx, const char *const *names, size_t n,
    void (*emit)(void *ectx, const char *line, size_t len), void *ectx,
    char *bad, size_t badsz)
{
	struct fake *f = ctx;
	char line[256];
	size_t i, j, len, hit;

	atomic_fetch_add(&f->gets, 1);
	pthread_mutex_lock(&f->mu);
	f->last_names[0] = '\0';
	for (j = 0; j < n; j++) {
		if (j > 0)
			strcat(f->last_names, ",");
		strcat(f->last_names, names[j]);
	}
	pthread_mutex_unlock(&f->mu);
	if (f->flood > 0) {
		memset(line, 'x', 199);
		line[199] = '\n';
		for (len = 0; len < f->flood; len += 200)
			emit(ectx, line, 200);
		return 0;
	}
	for (i = 0; i < NRECS; i++) {
		for (j = 0; j < n; j++)
			if (matches(recs[i].name, names[j]))
				break;
		if (n > 0 && j == n)
			continue;
		len = (size_t)snprintf(line, sizeof(line),
		    "%s\t%s\t%s\t%lld\t%s\n", recs[i].name, recs[i].kind,
		    recs[i].unit, recs[i].value, recs[i].help);
		emit(ectx, line, len);
	}
	for (j = 0; j < n; j++) {
		for (hit = 0, i = 0; i < NRECS; i++)
			hit += matches(recs[i].name, names[j]);
		if (hit == 0) {
			snprintf(bad, badsz, "%s", names[j]);
			return -ENOENT;
		}
	}
	return 0;
}

static size_t
fake_status(void *ctx, char *buf, size_t bufsz)
{
	struct fake *f = ctx;

	atomic_fetch_add(&f->statuses, 1);
	return (size_t)snprintf(buf, bufsz, "backend\tsim\nhealth\tok\n");
}

static int
fake_reload(void *ctx, char *msg, size_t msgsz)
{
	struct fake *f = ctx;
	unsigned n = atomic_fetch_add(&f->reloads, 1) + 1;

	int rc = atomic_load(&f->reload_rc);

	if (rc != 0) {
		snprintf(msg, msgsz, "verdictd.conf:3: unknown key \"bogus\"");
		return rc;
	}
	snprintf(msg, msgsz, "reloaded: generation %u", n + 1);
	return 0;
}

static const struct vd_control_ops fake_ops = {
	.get = fake_get,
	.status = fake_status,
	.reload = fake_reload,
};

/* ---- fixture ---------------------------------------------------------- */

static char dir[64], path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct fake fake;
static struct vd_control *srv;

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_control.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	memset(&fake, 0, sizeof(fake));
	pthread_mutex_init(&fake.mu, NULL);
	srv = NULL;
}

static void
teardown(void)
{
	vd_control_stop(srv);
	unlink(path);
	rmdir(dir);
}

TestSuite(control, .init = setup, .fini = teardown);

/* The names the last GET was called with, joined by ','. */
static const char *
last_names(void)
{
	static char copy[sizeof(fake.last_names)];

	pthread_mutex_lock(&fake.mu);
	memcpy(copy, fake.last_names, sizeof(copy));
	pthread_mutex_unlock(&fake.mu);
	return copy;
}

static void
start(unsigned timeout_ms)
{
	char msg[256] = "";
	int err = 0;

	srv = vd_control_start(
	    path, &fake_ops, &fake, timeout_ms, &err, msg, sizeof(msg));
	cr_assert_not_null(srv, "start: %d %s", err, msg);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A connected client socket, or -errno. */
static int
dial(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* Reads one reply: its header into *h and its payload, NUL-terminated,
 * into reply (at most replysz - 1 bytes).  0 or -errno. */
static int
read_reply(int fd, struct vd_ctl_header *h, char *reply, size_t replysz)
{
	unsigned char hdr[VD_CTL_HEADER];
	int rc;

	if ((rc = vd_ctl_read_full(fd, hdr, sizeof(hdr), READ_MS)) != 0)
		return rc;
	vd_ctl_header_unpack(hdr, h);
	if (h->magic != VD_CTL_MAGIC || h->flags != 0 || h->len >= replysz)
		return -EBADMSG;
	if ((rc = vd_ctl_read_full(fd, reply, h->len, READ_MS)) != 0)
		return rc;
	reply[h->len] = '\0';
	return 0;
}

/* Sends raw bytes as a request on a new connection and reads the reply. */
static int
raw(const void *req, size_t len, struct vd_ctl_header *h, char *reply,
    size_t replysz)
{
	int fd, rc;

	if ((fd = dial()) < 0)
		return fd;
	rc = vd_ctl_write_all(fd, req, len);
	if (rc == 0)
		rc = read_reply(fd, h, reply, replysz);
	close(fd);
	return rc;
}

static int
request(uint16_t kind, const void *payload, size_t len, struct vd_ctl_header *h,
    char *reply, size_t replysz)
{
	unsigned char buf[VD_CTL_HEADER + VD_CTL_MAX_REQUEST];
	struct vd_ctl_header rh = { VD_CTL_MAGIC, kind, 0, 0, (uint32_t)len };

	cr_assert_leq(len, VD_CTL_MAX_REQUEST);
	vd_ctl_header_pack(&rh, buf);
	memcpy(buf + VD_CTL_HEADER, payload, len);
	return raw(buf, VD_CTL_HEADER + len, h, reply, replysz);
}

#define AUTH_LINES                                                             \
	"auth.open.received\tcounter\tevents\t42\tOpens received.\n"           \
	"auth.open.denied\tcounter\tevents\t3\tOpens denied.\n"

/* ---- tests ------------------------------------------------------------ */

Test(control, socket_is_0600)
{
	struct stat st;
	mode_t old;

	/* With no umask of our own, a server that relied on the caller's
	 * would leave the socket world-writable. */
	old = umask(0);
	start(TIMEOUT_MS);
	umask(old);
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
	cr_assert_eq(st.st_uid, geteuid());
}

Test(control, get_returns_the_records)
{
	struct vd_ctl_header h;
	struct vd_control_stats st;
	char reply[4096];

	start(TIMEOUT_MS);
	cr_assert_eq(
	    request(VD_CTL_GET, "auth\0", 5, &h, reply, sizeof(reply)), 0);
	cr_assert_eq(h.kind, VD_CTL_GET);
	cr_assert_eq(h.status, 0, "status %u: %s", h.status, reply);
	cr_assert_str_eq(reply, AUTH_LINES);
	cr_assert_str_eq(last_names(), "auth");

	cr_assert_eq(request(VD_CTL_GET, "ring\0deadline.margin_us\0", 24, &h,
	                 reply, sizeof(reply)),
	    0);
	cr_assert_eq(h.status, 0, "%s", reply);
	cr_assert_str_eq(reply,
	    "ring.auth.depth_max\tgauge\tevents\t7\tDeepest ring.\n"
	    "deadline.margin_us.min\tgauge\tus\t-3\tSmallest margin.\n");
	cr_assert_str_eq(last_names(), "ring,deadline.margin_us");

	/* No names: everything. */
	cr_assert_eq(request(VD_CTL_GET, "", 0, &h, reply, sizeof(reply)), 0);
	cr_assert_eq(h.status, 0, "%s", reply);
	cr_assert_eq(h.len, strlen(reply));
	cr_assert_eq(strncmp(reply, AUTH_LINES, strlen(AUTH_LINES)), 0);
	cr_assert_str_eq(last_names(), "");

	vd_control_get_stats(srv, &st);
	cr_assert_eq(st.connections, 3);
	cr_assert_eq(st.requests, 3);
	cr_assert_eq(st.errors, 0);
	cr_assert_eq(st.dropped, 0);
}

Test(control, unknown_name_is_enoent)
{
	struct vd_ctl_header h;
	char reply[4096];

	start(TIMEOUT_MS);
	cr_assert_eq(
	    request(VD_CTL_GET, "auth\0authx\0", 11, &h, reply, sizeof(reply)),
	    0);
	cr_assert_eq(h.kind, VD_CTL_GET);
	cr_assert_eq(h.status, ENOENT, "status %u", h.status);
	/* The auth records emitted before the miss are not in the reply. */
	cr_assert_str_eq(reply, "no such counter: authx");
}

Test(control, status_and_reload)
{
	struct vd_ctl_header h;
	char reply[4096];

	start(TIMEOUT_MS);
	cr_assert_eq(
	    request(VD_CTL_STATUS, "", 0, &h, reply, sizeof(reply)), 0);
	cr_assert_eq(h.kind, VD_CTL_STATUS);
	cr_assert_eq(h.status, 0);
	cr_assert_str_eq(reply, "backend\tsim\nhealth\tok\n");

	cr_assert_eq(
	    request(VD_CTL_RELOAD, "", 0, &h, reply, sizeof(reply)), 0);
	cr_assert_eq(h.kind, VD_CTL_RELOAD);
	cr_assert_eq(h.status, 0);
	cr_assert_str_eq(reply, "reloaded: generation 2\n");

	atomic_store(&fake.reload_rc, -EINVAL);
	cr_assert_eq(
	    request(VD_CTL_RELOAD, "", 0, &h, reply, sizeof(reply)), 0);
	cr_assert_eq(h.status, EINVAL);
	cr_assert_str_eq(reply, "verdictd.conf:3: unknown key \"bogus\"");
	cr_assert_eq(atomic_load(&fake.reloads), 2);
	cr_assert_eq(atomic_load(&fake.statuses), 1);
}

Test(control, garbage_gets_eproto_and_the_next_client_is_served)
{
	struct vd_ctl_header h;
	struct vd_control_stats st;
	char reply[4096];

	start(TIMEOUT_MS);
	cr_assert_eq(
	    raw("GET / HTTP/1.0\r\n\r\n", 18, &h, reply, sizeof(reply)), 0);
	cr_assert_eq(h.status, EPROTO, "status %u", h.status);
	cr_assert_not_null(strstr(reply, "bad magic"), "%s", reply);

	/* Refused requests reach no op. */
	cr_assert_eq(
	    request(VD_CTL_RELOAD, "x\0", 2, &h, reply, sizeof(reply)), 0);
	cr_assert_eq(h.status, EINVAL);
	cr_assert_str_eq(
	    reply, "request: RELOAD takes no payload, got 2 bytes");
	cr_assert_eq(
	    request(VD_CTL_GET, "Auth\0", 5, &h, reply, sizeof(reply)), 0);
	cr_assert_eq(h.status, EINVAL);
	cr_assert_eq(request(99, "", 0, &h, reply, sizeof(reply)), 0);
	cr_assert_eq(h.status, EOPNOTSUPP);
	cr_assert_eq(h.kind, 99); /* the reply names the request it refuses */
	cr_assert_str_eq(reply, "request: unknown kind 99");
	cr_assert_eq(atomic_load(&fake.gets), 0);
	cr_assert_eq(atomic_load(&fake.reloads), 0);

	cr_assert_eq(
	    request(VD_CTL_GET, "auth\0", 5, &h, reply, sizeof(reply)), 0);
	cr_assert_eq(h.status, 0);
	cr_assert_str_eq(reply, AUTH_LINES);
	vd_control_get_stats(srv, &st);
	cr_assert_eq(st.requests, 5);
	cr_assert_eq(st.errors, 4);
}

Test(control, oversized_length_is_refused_from_the_header)
{
	unsigned char buf[VD_CTL_HEADER + 8192];
	struct vd_ctl_header rh = { VD_CTL_MAGIC, VD_CTL_GET, 0, 0, 1u << 20 },
	                     h;
	char reply[4096];
	uint64_t t0;

	/* A long timeout: a server that waited for the announced megabyte
	 * would answer far too late for READ_MS. */
	start(10000);
	vd_ctl_header_pack(&rh, buf);
	memset(buf + VD_CTL_HEADER, 'a', 8192);
	t0 = now_ms();
	cr_assert_eq(raw(buf, sizeof(buf), &h, reply, sizeof(reply)), 0);
	cr_assert_lt(now_ms() - t0, READ_MS);
	cr_assert_eq(h.status, EPROTO, "status %u", h.status);
	cr_assert_str_eq(reply,
	    "request: payload of 1048576 bytes exceeds the maximum of 4096");
	cr_assert_eq(atomic_load(&fake.gets), 0);

	cr_assert_eq(
	    request(VD_CTL_STATUS, "", 0, &h, reply, sizeof(reply)), 0);
	cr_assert_eq(h.status, 0);
}

/* True when fd has been closed by the server (EOF) within ms. */
static bool
closed_within(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char b;

	if (poll(&pfd, 1, ms) != 1)
		return false;
	return read(fd, &b, 1) <= 0;
}

Test(control, stalled_clients_are_dropped_and_others_served)
{
	struct vd_control_stats st;
	struct vd_ctl_header h;
	char reply[4096];
	uint64_t t0;
	int idle, half;

	start(TIMEOUT_MS);
	t0 = now_ms();
	cr_assert_geq(idle = dial(), 0);
	cr_assert_geq(half = dial(), 0);
	cr_assert_eq(vd_ctl_write_all(half, "VDC1\x01\0\0", 7), 0);

	/* Served at once, while both stalled clients still hold a slot. */
	cr_assert_eq(
	    request(VD_CTL_GET, "auth\0", 5, &h, reply, sizeof(reply)), 0);
	cr_assert_str_eq(reply, AUTH_LINES);
	if (now_ms() - t0 < TIMEOUT_MS / 2) {
		cr_assert_not(closed_within(idle, 0), "dropped too early");
		cr_assert_not(closed_within(half, 0), "dropped too early");
	}

	cr_assert(closed_within(idle, READ_MS), "silent client kept");
	cr_assert(closed_within(half, READ_MS), "half-header client kept");
	cr_assert_geq(now_ms() - t0, TIMEOUT_MS - 20);
	close(idle);
	close(half);

	vd_control_get_stats(srv, &st);
	cr_assert_eq(st.connections, 3);
	cr_assert_eq(st.requests, 1);
	cr_assert_eq(st.dropped, 2);
}

Test(control, a_full_house_waits_in_the_backlog)
{
	int fds[VD_CONTROL_MAX_CLIENTS], i;
	struct vd_ctl_header h;
	char reply[4096];

	start(TIMEOUT_MS);
	for (i = 0; i < VD_CONTROL_MAX_CLIENTS; i++)
		cr_assert_geq(fds[i] = dial(), 0);
	/* Every slot is held by a silent client; this one is accepted once
	 * they time out. */
	cr_assert_eq(
	    request(VD_CTL_STATUS, "", 0, &h, reply, sizeof(reply)), 0);
	cr_assert_eq(h.status, 0);
	for (i = 0; i < VD_CONTROL_MAX_CLIENTS; i++) {
		cr_assert(closed_within(fds[i], READ_MS));
		close(fds[i]);
	}
}

Test(control, reply_over_the_limit_is_e2big)
{
	struct vd_ctl_header h;
	char reply[4096];

	fake.flood = VD_CTL_MAX_REPLY + 200;
	start(TIMEOUT_MS);
	cr_assert_eq(request(VD_CTL_GET, "", 0, &h, reply, sizeof(reply)), 0);
	cr_assert_eq(h.status, E2BIG, "status %u", h.status);
	cr_assert_not_null(strstr(reply, "exceed 1048576 bytes"), "%s", reply);
}

Test(control, client_hanging_up_mid_reply)
{
	static char big[VD_CTL_MAX_REPLY];
	struct vd_control_stats st;
	struct vd_ctl_header h;
	unsigned char hdr[VD_CTL_HEADER];
	int fd, i;

	/* A SIGPIPE would kill this process and fail the test. */
	signal(SIGPIPE, SIG_DFL);
	fake.flood = 900 * 1000; /* far more than a socket buffer holds */
	start(TIMEOUT_MS);
	for (i = 0; i < 6; i++) {
		cr_assert_geq(fd = dial(), 0);
		cr_assert_eq(vd_ctl_send(fd, VD_CTL_GET, 0, NULL, 0), 0);
		cr_assert_eq(
		    vd_ctl_read_full(fd, hdr, sizeof(hdr), READ_MS), 0);
		if (i % 2 == 1) {
			/* Closing with the reply unread gives the server
			 * ECONNRESET; refusing to read gives it EPIPE, the
			 * error that comes with a SIGPIPE. */
			struct pollfd pfd = { .fd = fd };

			cr_assert_eq(shutdown(fd, SHUT_RD), 0);
			cr_assert_eq(poll(&pfd, 1, READ_MS), 1);
			cr_assert(pfd.revents & POLLHUP);
		}
		close(fd);
	}
	/* A whole big reply still goes through. */
	cr_assert_eq(request(VD_CTL_GET, "", 0, &h, big, sizeof(big)), 0);
	cr_assert_eq(h.status, 0);
	cr_assert_eq(h.len, 900 * 1000);
	vd_control_get_stats(srv, &st);
	cr_assert_eq(st.requests, 7);
	cr_assert_eq(st.dropped, 6);
}

#define NCLIENTS 8
#define NREQS    200

static pthread_barrier_t go;
static atomic_uint bad_replies;

static void *
client(void *arg)
{
	struct vd_ctl_header h;
	char reply[4096];
	int i;

	(void)arg;
	pthread_barrier_wait(&go);
	for (i = 0; i < NREQS; i++) {
		unsigned char buf[VD_CTL_HEADER + 5];
		struct vd_ctl_header rh = { VD_CTL_MAGIC, VD_CTL_GET, 0, 0, 5 };

		vd_ctl_header_pack(&rh, buf);
		memcpy(buf + VD_CTL_HEADER, "auth", 5);
		if (raw(buf, sizeof(buf), &h, reply, sizeof(reply)) != 0 ||
		    h.status != 0 || strcmp(reply, AUTH_LINES) != 0)
			atomic_fetch_add(&bad_replies, 1);
	}
	return NULL;
}

Test(control, concurrent_clients_all_answered)
{
	pthread_t t[NCLIENTS];
	struct vd_control_stats st;
	int i;

	start(TIMEOUT_MS * 10);
	atomic_store(&bad_replies, 0);
	pthread_barrier_init(&go, NULL, NCLIENTS);
	for (i = 0; i < NCLIENTS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, client, NULL), 0);
	for (i = 0; i < NCLIENTS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&go);
	cr_assert_eq(atomic_load(&bad_replies), 0, "%u bad replies",
	    atomic_load(&bad_replies));
	cr_assert_eq(atomic_load(&fake.gets), NCLIENTS * NREQS);
	vd_control_get_stats(srv, &st);
	cr_assert_eq(st.requests, NCLIENTS * NREQS);
	cr_assert_eq(st.dropped, 0);
}

Test(control, second_server_refuses_to_start)
{
	struct vd_control *second;
	struct vd_ctl_header h;
	char msg[256] = "", want[256], reply[4096];
	int err = 0;

	start(TIMEOUT_MS);
	second = vd_control_start(
	    path, &fake_ops, &fake, TIMEOUT_MS, &err, msg, sizeof(msg));
	cr_assert_null(second);
	cr_assert_eq(err, -EADDRINUSE);
	snprintf(
	    want, sizeof(want), "another verdictd is listening on %s", path);
	cr_assert_str_eq(msg, want);
	/* The first one's socket is untouched. */
	cr_assert_eq(
	    request(VD_CTL_STATUS, "", 0, &h, reply, sizeof(reply)), 0);
	cr_assert_eq(h.status, 0);
}

Test(control, stale_socket_is_replaced)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vd_ctl_header h;
	struct stat st;
	char reply[4096];
	int fd;

	/* A socket file nobody listens on, as a killed daemon leaves it. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_geq(fd = socket(AF_UNIX, SOCK_STREAM, 0), 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	cr_assert_eq(lstat(path, &st), 0);

	start(TIMEOUT_MS);
	cr_assert_eq(
	    request(VD_CTL_STATUS, "", 0, &h, reply, sizeof(reply)), 0);
	cr_assert_eq(h.status, 0);
}

Test(control, a_regular_file_is_left_alone)
{
	struct vd_control *c;
	char msg[256] = "", buf[32] = "";
	FILE *fp;
	int err = 0;

	cr_assert_not_null(fp = fopen(path, "w"));
	fputs("precious", fp);
	fclose(fp);
	c = vd_control_start(
	    path, &fake_ops, &fake, TIMEOUT_MS, &err, msg, sizeof(msg));
	cr_assert_null(c);
	cr_assert_eq(err, -EEXIST);
	cr_assert_not_null(strstr(msg, "is not a socket"), "%s", msg);
	cr_assert_not_null(fp = fopen(path, "r"));
	cr_assert_not_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	cr_assert_str_eq(buf, "precious");
}

Test(control, bad_paths_are_refused)
{
	char msg[256] = "", longpath[200];
	int err = 0;

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	cr_assert_null(vd_control_start(
	    longpath, &fake_ops, &fake, 0, &err, msg, sizeof(msg)));
	cr_assert_eq(err, -ENAMETOOLONG);
	snprintf(longpath, sizeof(longpath), "%s/no/such/dir.sock", dir);
	cr_assert_null(vd_control_start(
	    longpath, &fake_ops, &fake, 0, &err, msg, sizeof(msg)));
	cr_assert_eq(err, -ENOENT);
	cr_assert_not_null(strstr(msg, "bind"), "%s", msg);
}

Test(control, an_op_left_out_is_eopnotsupp)
{
	static const struct vd_control_ops get_only = { .get = fake_get };
	struct vd_ctl_header h;
	char msg[256] = "", reply[4096];
	int err = 0;

	srv = vd_control_start(
	    path, &get_only, &fake, TIMEOUT_MS, &err, msg, sizeof(msg));
	cr_assert_not_null(srv, "%s", msg);
	cr_assert_eq(
	    request(VD_CTL_RELOAD, "", 0, &h, reply, sizeof(reply)), 0);
	cr_assert_eq(h.status, EOPNOTSUPP);
	cr_assert_str_eq(
	    reply, "request: RELOAD is not supported by this daemon");
	cr_assert_eq(
	    request(VD_CTL_GET, "ring\0", 5, &h, reply, sizeof(reply)), 0);
	cr_assert_eq(h.status, 0);
}

Test(control, stop_removes_the_socket)
{
	struct stat st;
	uint64_t t0;
	int idle;

	start(10000);
	cr_assert_eq(lstat(path, &st), 0);
	/* A client mid-request does not hold shutdown up. */
	cr_assert_geq(idle = dial(), 0);
	t0 = now_ms();
	vd_control_stop(srv);
	srv = NULL;
	cr_assert_lt(now_ms() - t0, 2000);
	cr_assert_eq(lstat(path, &st), -1);
	cr_assert_eq(errno, ENOENT);
	cr_assert(closed_within(idle, READ_MS));
	close(idle);
}
