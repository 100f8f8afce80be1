/*
 * proto.c — the control protocol's header codec, request parser and the
 * blocking I/O helpers that verdictctl and the tests use (see proto.h).
 *
 * The parser trusts nothing: every length is checked against both the
 * header and the buffer before a byte is read, and the checks run in the
 * order a reader of the header would make them (magic, reserved fields,
 * length, kind, payload), so each malformed input gets the one error that
 * explains it.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/proto.h"
#include "util/util.h"

/* Byte-wise so that the wire format does not depend on the host's byte
 * order or on struct padding. */
static void
put_le16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v & 0xff);
	p[1] = (unsigned char)(v >> 8);
}

static void
put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v & 0xff);
	p[1] = (unsigned char)((v >> 8) & 0xff);
	p[2] = (unsigned char)((v >> 16) & 0xff);
	p[3] = (unsigned char)(v >> 24);
}

static uint16_t
get_le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static uint32_t
get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

void
vd_ctl_header_pack(
    const struct vd_ctl_header *h, unsigned char out[VD_CTL_HEADER])
{
	put_le32(out + 0, h->magic);
	put_le16(out + 4, h->kind);
	put_le16(out + 6, h->flags);
	put_le32(out + 8, h->status);
	put_le32(out + 12, h->len);
}

void
vd_ctl_header_unpack(
    const unsigned char in[VD_CTL_HEADER], struct vd_ctl_header *h)
{
	h->magic = get_le32(in + 0);
	h->kind = get_le16(in + 4);
	h->flags = get_le16(in + 6);
	h->status = get_le32(in + 8);
	h->len = get_le32(in + 12);
}

/* Why s is not a well-formed name (the end of a sentence that starts with
 * "name N "), or NULL when it is. */
static const char *
name_problem(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return "is empty";
	if (n > VD_CTL_MAX_NAME)
		return "is longer than 127 bytes";
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		        ch == '_' || ch == '.'))
			return "has a character outside [a-z0-9_.]";
	}
	if (s[0] == '.')
		return "starts with a dot";
	if (s[n - 1] == '.')
		return "ends with a dot";
	if (memmem(s, n, "..", 2) != NULL)
		return "has two dots in a row";
	return NULL;
}

_Static_assert(VD_CTL_MAX_NAME == 127, "name_problem() spells the limit out");

bool
vd_ctl_name_ok(const char *s, size_t n)
{
	return name_problem(s, n) == NULL;
}

static const char *
kind_name(enum vd_ctl_kind kind)
{
	switch (kind) {
	case VD_CTL_GET:
		return "GET";
	case VD_CTL_STATUS:
		return "STATUS";
	case VD_CTL_RELOAD:
		return "RELOAD";
	case VD_CTL_EXPLAIN:
		return "EXPLAIN";
	}
	return "?";
}

/* Splits a GET payload (plen bytes, plen > 0) into names. */
static int
parse_names(const char *p, size_t plen, struct vd_ctl_request *req, char *err,
    size_t errsz)
{
	const char *end = p + plen, *nul, *why;
	size_t n;

	/* With the last byte a NUL, memchr() below always finds one inside
	 * the payload, so no name can run past the buffer. */
	if (p[plen - 1] != '\0')
		return vd_errf_rc(err, errsz, EINVAL,
		    "request: the GET payload does not end with a NUL");
	while (p < end) {
		if (req->nnames == VD_CTL_MAX_NAMES)
			return vd_errf_rc(err, errsz, E2BIG,
			    "request: more than %d names in one GET",
			    VD_CTL_MAX_NAMES);
		nul = memchr(p, '\0', (size_t)(end - p));
		n = (size_t)(nul - p);
		if ((why = name_problem(p, n)) != NULL)
			return vd_errf_rc(err, errsz, EINVAL,
			    "request: name %zu %s", req->nnames + 1, why);
		req->names[req->nnames++] = p;
		p = nul + 1;
	}
	return 0;
}

int
vd_ctl_parse_request(const unsigned char *buf, size_t len,
    struct vd_ctl_request *req, char *err, size_t errsz)
{
	struct vd_ctl_header h;
	int rc;

	req->nnames = 0;
	req->query = NULL;
	req->qlen = 0;
	if (len < VD_CTL_HEADER)
		return vd_errf_rc(err, errsz, EPROTO,
		    "request: %zu bytes, shorter than the %d-byte header", len,
		    VD_CTL_HEADER);
	vd_ctl_header_unpack(buf, &h);
	if (h.magic != VD_CTL_MAGIC)
		return vd_errf_rc(err, errsz, EPROTO,
		    "request: bad magic 0x%08x (expected 0x%08x, \"VDC1\")",
		    (unsigned)h.magic, VD_CTL_MAGIC);
	if (h.flags != 0)
		return vd_errf_rc(err, errsz, EPROTO,
		    "request: flags must be 0, got 0x%04x", (unsigned)h.flags);
	if (h.status != 0)
		return vd_errf_rc(err, errsz, EPROTO,
		    "request: status must be 0 in a request, got %u",
		    (unsigned)h.status);
	if (h.len > VD_CTL_MAX_REQUEST)
		return vd_errf_rc(err, errsz, EPROTO,
		    "request: payload of %u bytes exceeds the maximum of %d",
		    (unsigned)h.len, VD_CTL_MAX_REQUEST);
	if (h.len != len - VD_CTL_HEADER)
		return vd_errf_rc(err, errsz, EPROTO,
		    "request: header says %u payload bytes but %zu follow",
		    (unsigned)h.len, len - VD_CTL_HEADER);
	switch (h.kind) {
	case VD_CTL_GET:
		if (h.len > 0 &&
		    (rc = parse_names((const char *)buf + VD_CTL_HEADER, h.len,
		         req, err, errsz)) != 0) {
			req->nnames = 0;
			return rc;
		}
		break;
	case VD_CTL_EXPLAIN:
		req->query = (const char *)buf + VD_CTL_HEADER;
		req->qlen = h.len;
		if (h.len == 0)
			return vd_errf_rc(err, errsz, EINVAL,
			    "request: EXPLAIN needs a query");
		for (size_t i = 0; i < h.len; i++)
			if ((unsigned char)req->query[i] < 0x20 ||
			    req->query[i] == 0x7f)
				return vd_errf_rc(err, errsz, EINVAL,
				    "request: the EXPLAIN query has a control "
				    "byte at %zu",
				    i);
		break;
	case VD_CTL_STATUS:
	case VD_CTL_RELOAD:
		if (h.len != 0)
			return vd_errf_rc(err, errsz, EINVAL,
			    "request: %s takes no payload, got %u bytes",
			    kind_name((enum vd_ctl_kind)h.kind),
			    (unsigned)h.len);
		break;
	default:
		return vd_errf_rc(err, errsz, EOPNOTSUPP,
		    "request: unknown kind %u", (unsigned)h.kind);
	}
	req->kind = (enum vd_ctl_kind)h.kind;
	return 0;
}

/* Milliseconds left until deadline (CLOCK_MONOTONIC ns), at least 0. */
static int
ms_left(uint64_t deadline)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (now >= deadline)
		return 0;
	/* Round up so that a wait never ends a fraction early and spins. */
	return (int)((deadline - now + 999999) / 1000000);
}

static uint64_t
deadline_after(int timeout_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec +
	    (uint64_t)timeout_ms * 1000000u;
}

/* Waits for fd to be ready for events; 0, -ETIMEDOUT or -errno. */
static int
wait_fd(int fd, short events, int timeout_ms, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n;

	for (;;) {
		n = poll(&pfd, 1, timeout_ms < 0 ? -1 : ms_left(deadline));
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

int
vd_ctl_write_all(int fd, const void *buf, size_t n)
{
	const unsigned char *p = buf;
	bool sock = true;
	ssize_t w;
	int rc;

#if !defined(MSG_NOSIGNAL) && defined(SO_NOSIGPIPE)
	/* No per-call flag here (macOS): mark the socket instead.  A
	 * non-socket fails with ENOTSOCK, which is fine. */
	(void)setsockopt(
	    fd, SOL_SOCKET, SO_NOSIGPIPE, &(int){ 1 }, sizeof(int));
#endif
	while (n > 0) {
		/* send(MSG_NOSIGNAL): a peer that hung up is an EPIPE for
		 * this caller, never a SIGPIPE for the whole process.  Pipes
		 * and files (ENOTSOCK) fall back to write(). */
		if (sock) {
#ifdef MSG_NOSIGNAL
			w = send(fd, p, n, MSG_NOSIGNAL);
#else
			w = send(fd, p, n, 0);
#endif
			if (w < 0 && errno == ENOTSOCK) {
				sock = false;
				continue;
			}
		} else {
			w = write(fd, p, n);
		}
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if ((rc = wait_fd(fd, POLLOUT, -1, 0)) != 0)
					return rc;
				continue;
			}
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
vd_ctl_read_full(int fd, void *buf, size_t n, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? 0 : deadline_after(timeout_ms);
	unsigned char *p = buf;
	ssize_t r;
	int rc;

	while (n > 0) {
		/* One deadline for the whole read: a peer that trickles a
		 * byte at a time cannot stretch it. */
		if ((rc = wait_fd(fd, POLLIN, timeout_ms, deadline)) != 0)
			return rc;
		r = read(fd, p, n);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ECONNRESET;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int
vd_ctl_send(int fd, enum vd_ctl_kind kind, uint32_t status, const void *payload,
    size_t len)
{
	struct vd_ctl_header h = {
		.magic = VD_CTL_MAGIC,
		.kind = (uint16_t)kind,
		.status = status,
		.len = (uint32_t)len,
	};
	unsigned char hdr[VD_CTL_HEADER];
	int rc;

	if (len > VD_CTL_MAX_REPLY)
		return -EMSGSIZE;
	vd_ctl_header_pack(&h, hdr);
	if ((rc = vd_ctl_write_all(fd, hdr, sizeof(hdr))) != 0)
		return rc;
	return len == 0 ? 0 : vd_ctl_write_all(fd, payload, len);
}
