/*
 * proto.h — verdictd's control protocol, spoken over a Unix stream socket
 * between verdictctl and the daemon (after OpenBSD's imsg: small typed
 * messages, every length checked before use, unknown kinds refused).
 *
 * Every message, either way, is a fixed 16-byte header followed by `len`
 * payload bytes:
 *
 *   offset  size  field
 *   0       4     magic    VD_CTL_MAGIC ("VDC1"), little-endian
 *   4       2     kind     enum vd_ctl_kind
 *   6       2     flags    0 (reserved; a non-zero value is refused)
 *   8       4     status   request: 0; reply: 0 or a positive errno
 *   12      4     len      payload bytes, at most VD_CTL_MAX_REQUEST for a
 *                          request, VD_CTL_MAX_REPLY for a reply
 *
 * Requests and their payloads:
 *   GET     names or prefixes, each terminated by a NUL; none means all.
 *           Every name is 1..VD_CTL_MAX_NAME bytes of [a-z0-9_.], not
 *           starting or ending with a dot, no two dots in a row.
 *   STATUS  empty.
 *   RELOAD  empty.
 *   EXPLAIN an explain query (verdictd(8), --explain), 1..VD_CTL_MAX_REQUEST
 *           printable bytes, no NUL, no newline.
 *
 * Replies carry the request's kind.  status 0: the payload is text, one
 * record a line.  For GET: "name\tkind\tunit\tvalue\thelp\n" (kind is
 * "counter" or "gauge", value a signed decimal, help one sentence with no
 * tab or newline) for every counter matched, in the daemon's order; if a
 * requested name matched nothing, status is ENOENT and the payload is
 * "no such counter: NAME".  For STATUS: "key\tvalue\n" lines (backend, version,
 * uptime_s, pid, config, config_generation, health).  For RELOAD: the
 * result in one line.  For EXPLAIN: the explanation's lines, as
 * verdictd --explain prints them; a malformed query is EINVAL.  status !=
 * 0: the payload is an error message.
 *
 * One request per connection: the daemon replies and closes.
 */
#ifndef VD_CTL_PROTO_H
#define VD_CTL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VD_CTL_MAGIC       0x31434456u /* "VDC1" read little-endian */
#define VD_CTL_HEADER      16
#define VD_CTL_MAX_REQUEST 4096
#define VD_CTL_MAX_REPLY   (1u << 20)
#define VD_CTL_MAX_NAME    127
/* macOS has no /run; its /var/run is where root daemons put sockets. */
#ifdef __APPLE__
#define VD_CTL_DEFAULT_PATH "/var/run/verdictd.sock"
#else
#define VD_CTL_DEFAULT_PATH "/run/verdictd.sock"
#endif

enum vd_ctl_kind {
	VD_CTL_GET = 1,
	VD_CTL_STATUS = 2,
	VD_CTL_RELOAD = 3,
	VD_CTL_EXPLAIN = 4,
};

struct vd_ctl_header {
	uint32_t magic;
	uint16_t kind;
	uint16_t flags;
	uint32_t status;
	uint32_t len;
};

/* Encodes / decodes the 16-byte header (little-endian on the wire). */
void vd_ctl_header_pack(
    const struct vd_ctl_header *h, unsigned char out[VD_CTL_HEADER]);
void vd_ctl_header_unpack(
    const unsigned char in[VD_CTL_HEADER], struct vd_ctl_header *h);

/* A request, checked and split: names point into the caller's buffer. */
#define VD_CTL_MAX_NAMES 64
struct vd_ctl_request {
	enum vd_ctl_kind kind;
	size_t nnames;
	const char *names[VD_CTL_MAX_NAMES];
	/* EXPLAIN: the query, qlen bytes (not NUL-terminated). */
	const char *query;
	size_t qlen;
};

/*
 * Checks a whole request (header + payload, `len` bytes in buf) and fills
 * *req.  Returns 0, or a positive errno with a sentence in err: EPROTO (bad
 * magic, flags, status or length), EOPNOTSUPP (unknown kind), EINVAL (a
 * malformed name, or a payload where none belongs), E2BIG (too many names).
 * Never reads outside buf[0..len).  buf must stay alive while req is used.
 */
int vd_ctl_parse_request(const unsigned char *buf, size_t len,
    struct vd_ctl_request *req, char *err, size_t errsz);

/* True when s (n bytes, no NUL) is a well-formed counter name. */
bool vd_ctl_name_ok(const char *s, size_t n);

/*
 * Blocking I/O helpers for either side (verdictctl, tests).  All three
 * retry on EINTR and return 0 or -errno; on a socket they never raise
 * SIGPIPE (any other fd is written with write(2), which may).
 *
 * vd_ctl_write_all: writes all n bytes (waits on a non-blocking fd).
 *   -EPIPE / -ECONNRESET: the peer hung up; other -errno from send(2).
 * vd_ctl_read_full: reads exactly n bytes within timeout_ms in total (< 0:
 *   no limit).  -ETIMEDOUT: the time ran out; -ECONNRESET: the peer closed
 *   before n bytes; other -errno from poll(2) or read(2).
 * vd_ctl_send: one message, header then payload.  -EMSGSIZE: len exceeds
 *   VD_CTL_MAX_REPLY; otherwise as vd_ctl_write_all.
 */
int vd_ctl_write_all(int fd, const void *buf, size_t n);
int vd_ctl_read_full(int fd, void *buf, size_t n, int timeout_ms);
int vd_ctl_send(int fd, enum vd_ctl_kind kind, uint32_t status,
    const void *payload, size_t len);

#endif
