/*
 * control.c — the control server (see control.h): one thread, one poll(2)
 * loop over a self-pipe, the listening socket and up to
 * VD_CONTROL_MAX_CLIENTS non-blocking connections.
 *
 * Each connection moves READ -> WRITE -> closed.  READ collects exactly
 * the 16-byte header, then exactly the payload it announces; a header
 * that is already wrong (bad magic, or a length above VD_CTL_MAX_REQUEST)
 * is answered at once, without reading further.  The reply is built in
 * one scratch buffer owned by the thread and sent straight away; only a
 * reply that does not fit in the socket buffer is copied out and finished
 * as the client reads.  Every phase has a deadline, so no client can hold
 * a slot, or the thread, for longer than timeout_ms.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/proto.h"
#include "daemon/control.h"
#include "platform/platform.h"
#include "util/util.h"

/* Where the OS has them (Linux, the BSDs), descriptors are born
 * close-on-exec, so no fork+exec elsewhere in the daemon can leak one in
 * the gap before fcntl(); macOS falls back to fcntl() right after. */
#ifdef SOCK_CLOEXEC
#define HAVE_ATOMIC_CLOEXEC 1
#endif
#ifdef MSG_NOSIGNAL
#define SEND_FLAGS MSG_NOSIGNAL
#else
#define SEND_FLAGS 0 /* SO_NOSIGPIPE is set on each socket instead */
#endif

#define MSG_MAX   512 /* error and RELOAD messages */
#define NS_PER_MS UINT64_C(1000000)
/* After accept() fails for want of descriptors or memory, the listening
 * socket stays readable; leaving it out of the poll set for a while keeps
 * the thread from spinning until a descriptor is freed. */
#define ACCEPT_BACKOFF (100 * NS_PER_MS)

enum conn_state {
	CONN_FREE,
	CONN_READ,  /* collecting the request */
	CONN_WRITE, /* sending the rest of the reply from out */
};

struct conn {
	enum conn_state state;
	int fd;
	uint64_t deadline;  /* vd_now_ns() by which this phase must end */
	size_t have;        /* request bytes in in[] */
	unsigned char *out; /* CONN_WRITE: the unsent part of the reply */
	size_t outlen, outoff;
	unsigned char in[VD_CTL_HEADER + VD_CTL_MAX_REQUEST];
};

struct vd_control {
	pthread_t thread;
	int lfd;
	int wake[2]; /* self-pipe: a byte on wake[1] stops the thread */
	dev_t dev;   /* the socket file we bound, so that stop unlinks */
	ino_t ino;   /* only that one */
	uint64_t timeout_ns;
	uint64_t accept_after; /* vd_now_ns() before which accept() waits */
	const struct vd_control_ops *ops;
	void *ctx;
	/* The reply being built: header, then rlen payload bytes. */
	unsigned char *reply;
	size_t rlen;
	bool overflow;
	/* Written by the control thread only; read by any thread. */
	_Atomic uint64_t connections, requests, errors, dropped;
	struct conn conns[VD_CONTROL_MAX_CLIENTS];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static void
close_fd(int fd)
{
	/* Not retried on EINTR: on Linux the descriptor is gone either way,
	 * and a retry could close one another thread just opened. */
	if (fd >= 0)
		(void)close(fd);
}

static void
bump(_Atomic uint64_t *ctr)
{
	atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed);
}

#ifndef HAVE_ATOMIC_CLOEXEC
/* Close-on-exec, and optionally non-blocking, after the fact. */
static int
set_fd_flags(int fd, bool nonblock)
{
	int fl;

	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
		return -errno;
	if (!nonblock)
		return 0;
	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
		return -errno;
	return 0;
}
#endif

static int
nosigpipe(int fd)
{
#if !defined(MSG_NOSIGNAL) && defined(SO_NOSIGPIPE)
	int one = 1;

	if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one)) != 0)
		return -errno;
#else
	(void)fd;
#endif
	return 0;
}

/* A Unix stream socket; returns the fd or -errno. */
static int
unix_socket(bool nonblock)
{
	int fd, rc;

#ifdef HAVE_ATOMIC_CLOEXEC
	fd = socket(AF_UNIX,
	    SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -errno;
#else
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
		return -errno;
	if ((rc = set_fd_flags(fd, nonblock)) != 0) {
		close_fd(fd);
		return rc;
	}
#endif
	if ((rc = nosigpipe(fd)) != 0) {
		close_fd(fd);
		return rc;
	}
	return fd;
}

/*
 * Makes path free for our bind(): nothing there, or a socket nobody
 * listens on (a dead daemon's), which is removed.  A live socket or any
 * other kind of file is refused and left alone.
 */
static int
clear_path(
    const char *path, const struct sockaddr_un *sa, char *msg, size_t msgsz)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return vd_errf_rc(msg, msgsz, -errno, "control socket %s: %s",
		    path, strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return vd_errf_rc(msg, msgsz, -EEXIST,
		    "control socket %s: the path exists and is not a socket; "
		    "not removing it",
		    path);
	/* Non-blocking, so a live server with a full backlog answers
	 * EAGAIN at once instead of stalling start-up: busy means alive. */
	if ((fd = unix_socket(true)) < 0)
		return vd_errf_rc(msg, msgsz, fd,
		    "control socket %s: socket: %s", path, strerror(-fd));
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? 0
	                                                                : errno;
	close_fd(fd);
	if (rc == 0 || rc == EAGAIN || rc == EINPROGRESS)
		return vd_errf_rc(msg, msgsz, -EADDRINUSE,
		    "another verdictd is listening on %s", path);
	if (rc != ECONNREFUSED)
		return vd_errf_rc(msg, msgsz, -rc,
		    "control socket %s: cannot tell whether it is in use: %s",
		    path, strerror(rc));
	if (unlink(path) != 0 && errno != ENOENT)
		return vd_errf_rc(msg, msgsz, -errno,
		    "control socket %s: cannot remove the stale socket: %s",
		    path, strerror(errno));
	return 0;
}

/* ---- the reply -------------------------------------------------------- */

static void
reply_append(struct vd_control *c, const char *s, size_t n)
{
	if (c->overflow || n > VD_CTL_MAX_REPLY - c->rlen) {
		c->overflow = true;
		return;
	}
	memcpy(c->reply + VD_CTL_HEADER + c->rlen, s, n);
	c->rlen += n;
}

static void
emit_line(void *ectx, const char *line, size_t len)
{
	reply_append(ectx, line, len);
}

/* An op's return as a wire status: ops return -errno; anything else is
 * a broken op, reported as EIO rather than trusted. */
static uint32_t
op_status(int rc)
{
	return rc < 0 ? (uint32_t)-rc : EIO;
}

static const char *const kind_names[] = {
	[VD_CTL_GET] = "GET",
	[VD_CTL_STATUS] = "STATUS",
	[VD_CTL_RELOAD] = "RELOAD",
	[VD_CTL_EXPLAIN] = "EXPLAIN",
};

/*
 * Runs a checked request (its kind is one of the three).  Returns 0 with the
 * payload in c->reply, or a positive errno with the message in msg.
 */
static uint32_t
dispatch(struct vd_control *c, const struct vd_ctl_request *req, char *msg,
    size_t msgsz)
{
	const struct vd_control_ops *ops = c->ops;
	char bad[VD_CTL_MAX_NAME + 1], text[MSG_MAX];
	size_t n;
	int rc;

	switch (req->kind) {
	case VD_CTL_GET:
		if (ops->get == NULL)
			break;
		bad[0] = '\0';
		rc = ops->get(c->ctx, req->names, req->nnames, emit_line, c,
		    bad, sizeof(bad));
		bad[sizeof(bad) - 1] = '\0';
		if (rc == -ENOENT) {
			snprintf(msg, msgsz, "no such counter: %s", bad);
			return ENOENT;
		}
		if (rc != 0) {
			snprintf(msg, msgsz, "get: %s",
			    strerror((int)op_status(rc)));
			return op_status(rc);
		}
		if (c->overflow) {
			snprintf(msg, msgsz,
			    "reply: the records exceed %u bytes; ask for "
			    "fewer names",
			    VD_CTL_MAX_REPLY);
			return E2BIG;
		}
		return 0;
	case VD_CTL_STATUS:
		if (ops->status == NULL)
			break;
		n = ops->status(
		    c->ctx, (char *)c->reply + VD_CTL_HEADER, VD_CTL_MAX_REPLY);
		if (n > VD_CTL_MAX_REPLY) {
			snprintf(msg, msgsz,
			    "reply: the status exceeds %u bytes",
			    VD_CTL_MAX_REPLY);
			return E2BIG;
		}
		c->rlen = n;
		return 0;
	case VD_CTL_RELOAD:
		if (ops->reload == NULL)
			break;
		text[0] = '\0';
		rc = ops->reload(c->ctx, text, sizeof(text));
		text[sizeof(text) - 1] = '\0';
		if (rc != 0) {
			snprintf(msg, msgsz, "%s",
			    text[0] != '\0' ? text
			                    : strerror((int)op_status(rc)));
			return op_status(rc);
		}
		reply_append(c, text, strlen(text));
		reply_append(c, "\n", 1);
		return 0;
	case VD_CTL_EXPLAIN:
		if (ops->explain == NULL)
			break;
		rc = ops->explain(c->ctx, req->query, req->qlen,
		    (char *)c->reply + VD_CTL_HEADER, VD_CTL_MAX_REPLY);
		if (rc < 0) {
			snprintf(msg, msgsz, "%.*s",
			    (int)strnlen(
			        (char *)c->reply + VD_CTL_HEADER, MSG_MAX - 1),
			    (char *)c->reply + VD_CTL_HEADER);
			return op_status(rc);
		}
		c->rlen = (size_t)rc;
		return 0;
	}
	snprintf(msg, msgsz, "request: %s is not supported by this daemon",
	    kind_names[req->kind]);
	return EOPNOTSUPP;
}

/* ---- connections ------------------------------------------------------ */

static void
conn_close(struct vd_control *c, struct conn *k, bool dropped)
{
	if (dropped)
		bump(&c->dropped);
	close_fd(k->fd);
	free(k->out);
	k->out = NULL;
	k->fd = -1;
	k->state = CONN_FREE;
}

/* Sends what it can of buf; 0 when all went, 1 when the rest must wait
 * for POLLOUT, -errno when the client is gone. */
static int
send_some(int fd, const unsigned char *buf, size_t len, size_t *off)
{
	ssize_t w;

	while (*off < len) {
		w = send(fd, buf + *off, len - *off, SEND_FLAGS);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			return -errno;
		}
		*off += (size_t)w;
	}
	return 0;
}

/*
 * Answers the request in k->in (k->have bytes: all of it, or a header that
 * already condemns it) and starts the reply.  The scratch reply buffer is
 * free again on return: whatever did not go out at once is copied.
 */
static void
conn_answer(struct vd_control *c, struct conn *k)
{
	struct vd_ctl_request req;
	struct vd_ctl_header h;
	char msg[MSG_MAX];
	size_t off = 0, total;
	uint32_t status;
	int rc;

	vd_ctl_header_unpack(k->in, &h);
	c->rlen = 0;
	c->overflow = false;
	msg[0] = '\0';
	status = (uint32_t)vd_ctl_parse_request(
	    k->in, k->have, &req, msg, sizeof(msg));
	if (status == 0)
		status = dispatch(c, &req, msg, sizeof(msg));
	if (status != 0) {
		/* Nothing an op may have emitted survives an error. */
		c->rlen = 0;
		c->overflow = false;
		reply_append(c, msg, strlen(msg));
		bump(&c->errors);
	}
	bump(&c->requests);
	/* The reply carries the request's kind, even an unknown one, so a
	 * client can tell which request an error belongs to. */
	h = (struct vd_ctl_header){
		.magic = VD_CTL_MAGIC,
		.kind = h.kind,
		.status = status,
		.len = (uint32_t)c->rlen,
	};
	vd_ctl_header_pack(&h, c->reply);
	total = VD_CTL_HEADER + c->rlen;
	rc = send_some(k->fd, c->reply, total, &off);
	if (rc < 0) {
		conn_close(c, k, true);
		return;
	}
	if (rc == 0) {
		conn_close(c, k, false);
		return;
	}
	if ((k->out = malloc(total - off)) == NULL) {
		conn_close(c, k, true);
		return;
	}
	memcpy(k->out, c->reply + off, total - off);
	k->outlen = total - off;
	k->outoff = 0;
	k->state = CONN_WRITE;
	k->deadline = vd_now_ns() + c->timeout_ns;
}

static void
conn_read(struct vd_control *c, struct conn *k)
{
	struct vd_ctl_header h;
	size_t want;
	ssize_t r;

	for (;;) {
		/* Exactly the header, then exactly the payload it announces:
		 * never a byte of whatever the client sends after it. */
		want = VD_CTL_HEADER;
		if (k->have >= VD_CTL_HEADER) {
			vd_ctl_header_unpack(k->in, &h);
			if (h.magic != VD_CTL_MAGIC ||
			    h.len > VD_CTL_MAX_REQUEST) {
				/* The parser names the fault from the
				 * header alone; the rest is never read. */
				conn_answer(c, k);
				return;
			}
			want += h.len;
		}
		if (k->have == want) {
			conn_answer(c, k);
			return;
		}
		r = read(k->fd, k->in + k->have, want - k->have);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(c, k, true);
			return;
		}
		if (r == 0) {
			/* Hung up before a whole request. */
			conn_close(c, k, true);
			return;
		}
		k->have += (size_t)r;
	}
}

static void
conn_write(struct vd_control *c, struct conn *k)
{
	int rc;

	rc = send_some(k->fd, k->out, k->outlen, &k->outoff);
	if (rc <= 0)
		conn_close(c, k, rc < 0);
}

static int
accept_conn(int lfd)
{
	int fd, rc;

#ifdef HAVE_ATOMIC_CLOEXEC
	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0)
		return -errno;
#else
	if ((fd = accept(lfd, NULL, NULL)) < 0)
		return -errno;
	if ((rc = set_fd_flags(fd, true)) != 0) {
		close_fd(fd);
		return rc;
	}
#endif
	if ((rc = nosigpipe(fd)) != 0) {
		close_fd(fd);
		return rc;
	}
	return fd;
}

static void
accept_all(struct vd_control *c, uint64_t now)
{
	struct conn *k;
	unsigned i;
	int fd;

	for (i = 0; i < VD_CONTROL_MAX_CLIENTS; i++) {
		k = &c->conns[i];
		if (k->state != CONN_FREE)
			continue;
		/* A connection that was aborted while queued, or a signal,
		 * leaves the slot free for the next one. */
		do
			fd = accept_conn(c->lfd);
		while (fd == -EINTR || fd == -ECONNABORTED);
		if (fd < 0) {
			if (fd != -EAGAIN && fd != -EWOULDBLOCK)
				c->accept_after = now + ACCEPT_BACKOFF;
			return;
		}
		bump(&c->connections);
		k->fd = fd;
		k->state = CONN_READ;
		k->have = 0;
		k->deadline = now + c->timeout_ns;
	}
}

static int
ms_until(uint64_t when, uint64_t now)
{
	uint64_t ms;

	if (when == UINT64_MAX)
		return -1;
	if (when <= now)
		return 0;
	/* Rounded up: waking a hair early would only spin once more. */
	ms = (when - now + NS_PER_MS - 1) / NS_PER_MS;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static void *
control_main(void *arg)
{
	struct pollfd pfd[2 + VD_CONTROL_MAX_CLIENTS];
	unsigned slot[2 + VD_CONTROL_MAX_CLIENTS];
	struct vd_control *c = arg;
	uint64_t now, next;
	unsigned i, n, nfree;
	int lpos, r;

	vd_thread_name("vd-control");
	/* An operator's request can wait for the answers. */
	(void)vd_thread_class(VD_THREAD_BACKGROUND);
	for (;;) {
		now = vd_now_ns();
		next = UINT64_MAX;
		nfree = 0;
		n = 0;
		pfd[n++] =
		    (struct pollfd){ .fd = c->wake[0], .events = POLLIN };
		for (i = 0; i < VD_CONTROL_MAX_CLIENTS; i++) {
			struct conn *k = &c->conns[i];

			if (k->state == CONN_FREE) {
				nfree++;
				continue;
			}
			if (k->deadline <= now) {
				conn_close(c, k, true);
				nfree++;
				continue;
			}
			if (k->deadline < next)
				next = k->deadline;
			slot[n] = i;
			pfd[n++] = (struct pollfd){ .fd = k->fd,
				.events =
				    k->state == CONN_READ ? POLLIN : POLLOUT };
		}
		lpos = -1;
		if (nfree > 0 && now >= c->accept_after) {
			lpos = (int)n;
			pfd[n++] =
			    (struct pollfd){ .fd = c->lfd, .events = POLLIN };
		} else if (nfree > 0 && c->accept_after < next) {
			next = c->accept_after;
		}
		r = poll(pfd, n, ms_until(next, now));
		if (r < 0)
			continue; /* EINTR, or EAGAIN/ENOMEM: try again */
		if (pfd[0].revents != 0)
			break;
		now = vd_now_ns();
		for (i = 1; i < n; i++) {
			struct conn *k;

			if ((int)i == lpos || pfd[i].revents == 0)
				continue;
			k = &c->conns[slot[i]];
			if (k->state == CONN_READ)
				conn_read(c, k);
			else if (k->state == CONN_WRITE)
				conn_write(c, k);
		}
		if (lpos >= 0 && pfd[lpos].revents != 0)
			accept_all(c, now);
	}
	for (i = 0; i < VD_CONTROL_MAX_CLIENTS; i++)
		if (c->conns[i].state != CONN_FREE)
			conn_close(c, &c->conns[i], true);
	return NULL;
}

/* ---- start and stop --------------------------------------------------- */

static int
make_pipe(int fds[2])
{
#ifdef HAVE_ATOMIC_CLOEXEC
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
		return -errno;
#else
	int rc;

	if (pipe(fds) != 0)
		return -errno;
	if ((rc = set_fd_flags(fds[0], true)) != 0 ||
	    (rc = set_fd_flags(fds[1], true)) != 0)
		return rc; /* the caller closes both */
#endif
	return 0;
}

struct vd_control *
vd_control_start(const char *path, const struct vd_control_ops *ops, void *ctx,
    unsigned timeout_ms, int *err, char *msg, size_t msgsz)
{
	struct vd_control *c = NULL;
	struct sockaddr_un sa;
	sigset_t all, old;
	struct stat st;
	bool bound = false;
	mode_t mask;
	unsigned i;
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		rc = vd_errf_rc(msg, msgsz, -ENAMETOOLONG,
		    "control socket %s: the path is longer than %zu bytes",
		    path, sizeof(sa.sun_path) - 1);
		goto fail;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		rc = vd_errf_rc(
		    msg, msgsz, -ENOMEM, "control socket: out of memory");
		goto fail;
	}
	c->lfd = c->wake[0] = c->wake[1] = -1;
	for (i = 0; i < VD_CONTROL_MAX_CLIENTS; i++)
		c->conns[i].fd = -1;
	if ((c->reply = malloc(VD_CTL_HEADER + VD_CTL_MAX_REPLY)) == NULL) {
		rc = vd_errf_rc(
		    msg, msgsz, -ENOMEM, "control socket: out of memory");
		goto fail;
	}
	c->ops = ops;
	c->ctx = ctx;
	c->timeout_ns =
	    (uint64_t)(timeout_ms != 0 ? timeout_ms : VD_CONTROL_TIMEOUT_MS) *
	    NS_PER_MS;
	snprintf(c->path, sizeof(c->path), "%s", path);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);

	if ((rc = clear_path(path, &sa, msg, msgsz)) != 0)
		goto fail;
	if ((c->lfd = unix_socket(true)) < 0) {
		rc = vd_errf_rc(msg, msgsz, c->lfd,
		    "control socket %s: socket: %s", path, strerror(-c->lfd));
		goto fail;
	}
	/* The socket file is born 0600: no instant in which another user
	 * could connect.  umask is per process, hence start-up only. */
	mask = umask(077);
	rc = bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
	umask(mask);
	if (rc != 0) {
		vd_errf_rc(msg, msgsz, rc, "control socket %s: bind: %s", path,
		    strerror(-rc));
		goto fail;
	}
	bound = true;
	/* And stays 0600 whatever umask bind() honoured (some systems
	 * ignore it for sockets). */
	if (chmod(path, 0600) != 0 || lstat(path, &st) != 0) {
		rc = vd_errf_rc(msg, msgsz, -errno, "control socket %s: %s",
		    path, strerror(errno));
		goto fail;
	}
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	if (listen(c->lfd, 2 * VD_CONTROL_MAX_CLIENTS) != 0) {
		rc = vd_errf_rc(msg, msgsz, -errno,
		    "control socket %s: listen: %s", path, strerror(errno));
		goto fail;
	}
	if ((rc = make_pipe(c->wake)) != 0) {
		vd_errf_rc(
		    msg, msgsz, rc, "control socket: pipe: %s", strerror(-rc));
		goto fail;
	}
	/* The thread starts with every signal blocked: the daemon's
	 * SIGTERM/SIGHUP handling stays on its own threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&c->thread, NULL, control_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		vd_errf_rc(msg, msgsz, rc, "control socket: pthread_create: %s",
		    strerror(-rc));
		goto fail;
	}
	return c;

fail:
	if (c != NULL) {
		close_fd(c->wake[1]);
		close_fd(c->wake[0]);
		if (bound)
			(void)unlink(path);
		close_fd(c->lfd);
		free(c->reply);
		free(c);
	}
	if (err != NULL)
		*err = rc;
	return NULL;
}

void
vd_control_stop(struct vd_control *c)
{
	struct stat st;

	if (c == NULL)
		return;
	while (write(c->wake[1], "", 1) < 0 && errno == EINTR)
		;
	pthread_join(c->thread, NULL);
	/* Only our own socket: if someone replaced the file since (an
	 * operator, another daemon after a forced takeover), it is theirs. */
	if (lstat(c->path, &st) == 0 && st.st_dev == c->dev &&
	    st.st_ino == c->ino)
		(void)unlink(c->path);
	close_fd(c->lfd);
	close_fd(c->wake[0]);
	close_fd(c->wake[1]);
	free(c->reply);
	free(c);
}

void
vd_control_get_stats(const struct vd_control *c, struct vd_control_stats *st)
{
	/* Atomic loads take a non-const pointer in C11; the cast is safe,
	 * a load writes nothing. */
	struct vd_control *m = (struct vd_control *)c;

	st->connections =
	    atomic_load_explicit(&m->connections, memory_order_relaxed);
	st->requests = atomic_load_explicit(&m->requests, memory_order_relaxed);
	st->errors = atomic_load_explicit(&m->errors, memory_order_relaxed);
	st->dropped = atomic_load_explicit(&m->dropped, memory_order_relaxed);
}
