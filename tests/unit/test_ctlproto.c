/*
 * test_ctlproto.c — the control protocol's header codec and request
 * parser (every malformed variant gets its own errno and sentence), and
 * the blocking I/O helpers.
 *
 * Every request is parsed from the very end of a page followed by a
 * PROT_NONE page, so a parser that reads one byte past the buffer it was
 * given crashes the test instead of passing by luck.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "proto/proto.h"

#define BUFSZ (VD_CTL_HEADER + 2 * VD_CTL_MAX_REQUEST)

static unsigned char *guarded; /* two pages' worth of request, then none */
static size_t guarded_size;

static void
setup(void)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t span =
	    ((BUFSZ + (size_t)page - 1) / (size_t)page) * (size_t)page;
	unsigned char *p;

	p = mmap(NULL, span + (size_t)page, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	cr_assert_eq(mprotect(p + span, (size_t)page, PROT_NONE), 0);
	guarded = p;
	guarded_size = span;
}

TestSuite(ctlproto, .init = setup);

/* A request: header fields as given, then plen payload bytes. */
static size_t
mk(unsigned char *buf, uint32_t magic, uint16_t kind, uint16_t flags,
    uint32_t status, uint32_t hlen, const void *payload, size_t plen)
{
	struct vd_ctl_header h = { magic, kind, flags, status, hlen };

	cr_assert_leq(VD_CTL_HEADER + plen, BUFSZ);
	vd_ctl_header_pack(&h, buf);
	if (plen > 0)
		memcpy(buf + VD_CTL_HEADER, payload, plen);
	return VD_CTL_HEADER + plen;
}

/* A well-formed request of kind with that payload. */
static size_t
mkreq(unsigned char *buf, uint16_t kind, const void *payload, size_t plen)
{
	return mk(buf, VD_CTL_MAGIC, kind, 0, 0, (uint32_t)plen, payload, plen);
}

/* Parses buf[0..len) from the end of the guarded pages; returns the
 * parser's result, the request and message through req and err. */
static const unsigned char *
parse_at_end(const unsigned char *buf, size_t len, struct vd_ctl_request *req,
    char *err, size_t errsz, int *rc)
{
	unsigned char *p = guarded + guarded_size - len;

	memcpy(p, buf, len);
	*rc = vd_ctl_parse_request(p, len, req, err, errsz);
	return p;
}

static void
expect_error(const unsigned char *buf, size_t len, int code, const char *needle)
{
	struct vd_ctl_request req;
	char err[256] = "";
	int rc;

	parse_at_end(buf, len, &req, err, sizeof(err), &rc);
	cr_assert_eq(rc, code, "rc %d (%s), expected %d", rc, err, code);
	cr_assert_not_null(
	    strstr(err, needle), "message \"%s\" lacks \"%s\"", err, needle);
	cr_assert_eq(strncmp(err, "request: ", 9), 0, "message \"%s\"", err);
}

Test(ctlproto, header_round_trip_is_little_endian)
{
	struct vd_ctl_header h = { VD_CTL_MAGIC, 0x0203, 0x0405, 0x06070809,
		0x0a0b0c0d },
	                     back;
	static const unsigned char want[VD_CTL_HEADER] = { 'V', 'D', 'C', '1',
		0x03, 0x02, 0x05, 0x04, 0x09, 0x08, 0x07, 0x06, 0x0d, 0x0c,
		0x0b, 0x0a };
	unsigned char out[VD_CTL_HEADER];

	vd_ctl_header_pack(&h, out);
	cr_assert_arr_eq(out, want, sizeof(want));
	memset(&back, 0xa5, sizeof(back));
	vd_ctl_header_unpack(out, &back);
	cr_assert_eq(back.magic, h.magic);
	cr_assert_eq(back.kind, h.kind);
	cr_assert_eq(back.flags, h.flags);
	cr_assert_eq(back.status, h.status);
	cr_assert_eq(back.len, h.len);
}

Test(ctlproto, short_header)
{
	unsigned char buf[BUFSZ];
	size_t n;

	mkreq(buf, VD_CTL_STATUS, NULL, 0);
	for (n = 0; n < VD_CTL_HEADER; n++)
		expect_error(buf, n, EPROTO, "shorter than the 16-byte header");
}

Test(ctlproto, bad_magic)
{
	unsigned char buf[BUFSZ];

	expect_error(buf, mk(buf, 0x31434457, VD_CTL_STATUS, 0, 0, 0, NULL, 0),
	    EPROTO, "bad magic 0x31434457");
	/* The magic read big-endian is not the magic. */
	expect_error(buf, mk(buf, 0x56444331, VD_CTL_STATUS, 0, 0, 0, NULL, 0),
	    EPROTO, "bad magic");
}

Test(ctlproto, flags_set)
{
	unsigned char buf[BUFSZ];

	expect_error(buf,
	    mk(buf, VD_CTL_MAGIC, VD_CTL_STATUS, 0x8000, 0, 0, NULL, 0), EPROTO,
	    "flags must be 0, got 0x8000");
}

Test(ctlproto, status_set)
{
	unsigned char buf[BUFSZ];

	expect_error(buf, mk(buf, VD_CTL_MAGIC, VD_CTL_GET, 0, 1, 0, NULL, 0),
	    EPROTO, "status must be 0 in a request, got 1");
}

Test(ctlproto, len_says_more_than_follows)
{
	unsigned char buf[BUFSZ];

	expect_error(buf,
	    mk(buf, VD_CTL_MAGIC, VD_CTL_GET, 0, 0, 6, "a\0b\0", 4), EPROTO,
	    "header says 6 payload bytes but 4 follow");
}

Test(ctlproto, len_says_less_than_follows)
{
	unsigned char buf[BUFSZ];

	expect_error(buf,
	    mk(buf, VD_CTL_MAGIC, VD_CTL_GET, 0, 0, 2, "a\0b\0", 4), EPROTO,
	    "header says 2 payload bytes but 4 follow");
	expect_error(buf, mk(buf, VD_CTL_MAGIC, VD_CTL_STATUS, 0, 0, 0, "x", 1),
	    EPROTO, "header says 0 payload bytes but 1 follow");
}

Test(ctlproto, len_over_max)
{
	unsigned char buf[BUFSZ], payload[VD_CTL_MAX_REQUEST + 1];

	memset(payload, 'a', sizeof(payload));
	payload[sizeof(payload) - 1] = '\0';
	/* Consistent with the buffer, and still too long. */
	expect_error(buf,
	    mkreq(buf, VD_CTL_GET, payload, VD_CTL_MAX_REQUEST + 1), EPROTO,
	    "payload of 4097 bytes exceeds the maximum of 4096");
	/* A header alone announcing 4 GiB: refused from the header. */
	expect_error(buf,
	    mk(buf, VD_CTL_MAGIC, VD_CTL_GET, 0, 0, UINT32_MAX, NULL, 0),
	    EPROTO, "exceeds the maximum");
}

Test(ctlproto, max_len_accepted)
{
	unsigned char buf[BUFSZ], payload[VD_CTL_MAX_REQUEST];
	struct vd_ctl_request req;
	char err[256] = "";
	size_t i;
	int rc;

	/* 32 names of 127 bytes (4096 bytes with their NULs): the largest
	 * GET there is. */
	memset(payload, 'z', sizeof(payload));
	for (i = 127; i < sizeof(payload); i += 128)
		payload[i] = '\0';
	parse_at_end(buf, mkreq(buf, VD_CTL_GET, payload, sizeof(payload)),
	    &req, err, sizeof(err), &rc);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(req.nnames, 32);
	cr_assert_eq(strlen(req.names[31]), 127);
}

Test(ctlproto, unknown_kinds)
{
	unsigned char buf[BUFSZ];

	expect_error(buf, mkreq(buf, 0, NULL, 0), EOPNOTSUPP, "unknown kind 0");
	expect_error(
	    buf, mkreq(buf, 99, NULL, 0), EOPNOTSUPP, "unknown kind 99");
	expect_error(
	    buf, mkreq(buf, 0xffff, "a", 2), EOPNOTSUPP, "unknown kind 65535");
}

Test(ctlproto, name_with_uppercase)
{
	unsigned char buf[BUFSZ];

	expect_error(buf, mkreq(buf, VD_CTL_GET, "auth\0ring\0Auth.open\0", 21),
	    EINVAL, "request: name 3 has a character outside [a-z0-9_.]");
}

Test(ctlproto, name_with_slash)
{
	unsigned char buf[BUFSZ];

	expect_error(buf, mkreq(buf, VD_CTL_GET, "auth/open\0", 10), EINVAL,
	    "name 1 has a character outside [a-z0-9_.]");
	/* Nor any other byte: space, tab, newline, high bit. */
	expect_error(
	    buf, mkreq(buf, VD_CTL_GET, "a b\0", 4), EINVAL, "outside");
	expect_error(
	    buf, mkreq(buf, VD_CTL_GET, "a\tb\0", 4), EINVAL, "outside");
	expect_error(
	    buf, mkreq(buf, VD_CTL_GET, "a\nb\0", 4), EINVAL, "outside");
	expect_error(
	    buf, mkreq(buf, VD_CTL_GET, "a\xc3\xa9\0", 4), EINVAL, "outside");
}

Test(ctlproto, name_with_two_dots)
{
	unsigned char buf[BUFSZ];

	expect_error(buf, mkreq(buf, VD_CTL_GET, "auth..open\0", 11), EINVAL,
	    "name 1 has two dots in a row");
	expect_error(buf, mkreq(buf, VD_CTL_GET, "x\0..\0", 5), EINVAL,
	    "name 2 starts with a dot");
}

Test(ctlproto, name_with_leading_or_trailing_dot)
{
	unsigned char buf[BUFSZ];

	expect_error(buf, mkreq(buf, VD_CTL_GET, ".auth\0", 6), EINVAL,
	    "name 1 starts with a dot");
	expect_error(buf, mkreq(buf, VD_CTL_GET, "auth.\0", 6), EINVAL,
	    "name 1 ends with a dot");
	expect_error(
	    buf, mkreq(buf, VD_CTL_GET, ".\0", 2), EINVAL, "starts with a dot");
}

Test(ctlproto, empty_name)
{
	unsigned char buf[BUFSZ];

	expect_error(buf, mkreq(buf, VD_CTL_GET, "auth\0\0", 6), EINVAL,
	    "name 2 is empty");
	expect_error(
	    buf, mkreq(buf, VD_CTL_GET, "\0", 1), EINVAL, "name 1 is empty");
}

Test(ctlproto, name_length_limit)
{
	unsigned char buf[BUFSZ];
	struct vd_ctl_request req;
	char name[VD_CTL_MAX_NAME + 2], err[256] = "";
	int rc;

	memset(name, 'a', sizeof(name));
	name[VD_CTL_MAX_NAME + 1] = '\0'; /* 128 bytes */
	expect_error(buf, mkreq(buf, VD_CTL_GET, name, sizeof(name)), EINVAL,
	    "name 1 is longer than 127 bytes");
	name[VD_CTL_MAX_NAME] = '\0'; /* 127 bytes: fine */
	parse_at_end(buf, mkreq(buf, VD_CTL_GET, name, VD_CTL_MAX_NAME + 1),
	    &req, err, sizeof(err), &rc);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(req.nnames, 1);
	cr_assert_eq(strlen(req.names[0]), VD_CTL_MAX_NAME);
}

/* n names "n0", "n1", ... into payload; returns its length. */
static size_t
many_names(char *payload, unsigned n)
{
	size_t len = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		len += (size_t)sprintf(payload + len, "n%u", i) + 1;
	return len;
}

Test(ctlproto, too_many_names)
{
	unsigned char buf[BUFSZ];
	struct vd_ctl_request req;
	char payload[1024], err[256] = "";
	size_t len;
	int rc;

	len = many_names(payload, VD_CTL_MAX_NAMES);
	parse_at_end(buf, mkreq(buf, VD_CTL_GET, payload, len), &req, err,
	    sizeof(err), &rc);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(req.nnames, VD_CTL_MAX_NAMES);
	cr_assert_str_eq(req.names[63], "n63");

	len = many_names(payload, VD_CTL_MAX_NAMES + 1);
	expect_error(buf, mkreq(buf, VD_CTL_GET, payload, len), E2BIG,
	    "more than 64 names");
}

Test(ctlproto, payload_without_final_nul)
{
	unsigned char buf[BUFSZ];

	expect_error(buf, mkreq(buf, VD_CTL_GET, "auth", 4), EINVAL,
	    "does not end with a NUL");
	expect_error(buf, mkreq(buf, VD_CTL_GET, "auth\0ring", 9), EINVAL,
	    "does not end with a NUL");
}

Test(ctlproto, status_and_reload_take_no_payload)
{
	unsigned char buf[BUFSZ];

	expect_error(buf, mkreq(buf, VD_CTL_STATUS, "x\0", 2), EINVAL,
	    "STATUS takes no payload, got 2 bytes");
	expect_error(buf, mkreq(buf, VD_CTL_RELOAD, "\0", 1), EINVAL,
	    "RELOAD takes no payload, got 1 bytes");
}

/* EXPLAIN carries its query: never empty, never a control byte. */
Test(ctlproto, explain_carries_one_printable_query)
{
	unsigned char buf[BUFSZ];
	const unsigned char *at;
	struct vd_ctl_request req;
	char err[256] = "";
	int rc;

	expect_error(buf, mkreq(buf, VD_CTL_EXPLAIN, NULL, 0), EINVAL,
	    "EXPLAIN needs a query");
	expect_error(buf, mkreq(buf, VD_CTL_EXPLAIN, "open\npath=/x", 12),
	    EINVAL, "control byte at 4");
	expect_error(buf, mkreq(buf, VD_CTL_EXPLAIN, "open\0", 5), EINVAL,
	    "control byte at 4");
	at = parse_at_end(buf, mkreq(buf, VD_CTL_EXPLAIN, "open path=/x", 12),
	    &req, err, sizeof(err), &rc);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(req.kind, VD_CTL_EXPLAIN);
	cr_assert_eq(req.qlen, 12);
	cr_assert_eq((const void *)req.query, at + VD_CTL_HEADER);
	cr_assert(memcmp(req.query, "open path=/x", 12) == 0);
}

Test(ctlproto, valid_requests)
{
	unsigned char buf[BUFSZ];
	const unsigned char *at;
	struct vd_ctl_request req;
	static const char three[] = "auth\0ring.auth.open.depth_max\0x_1.2\0";
	char err[256] = "";
	size_t len;
	int rc;

	at = parse_at_end(
	    buf, mkreq(buf, VD_CTL_GET, NULL, 0), &req, err, sizeof(err), &rc);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(req.kind, VD_CTL_GET);
	cr_assert_eq(req.nnames, 0);

	at = parse_at_end(buf, mkreq(buf, VD_CTL_GET, "deadline\0", 9), &req,
	    err, sizeof(err), &rc);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(req.nnames, 1);
	cr_assert_eq((const void *)req.names[0], at + VD_CTL_HEADER);
	cr_assert_str_eq(req.names[0], "deadline");

	len = mkreq(buf, VD_CTL_GET, three, sizeof(three) - 1);
	at = parse_at_end(buf, len, &req, err, sizeof(err), &rc);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(req.nnames, 3);
	cr_assert_str_eq(req.names[0], "auth");
	cr_assert_str_eq(req.names[1], "ring.auth.open.depth_max");
	cr_assert_str_eq(req.names[2], "x_1.2");
	for (size_t i = 0; i < 3; i++) {
		const unsigned char *s = (const unsigned char *)req.names[i];

		cr_assert(s >= at + VD_CTL_HEADER &&
		        s + strlen(req.names[i]) < at + len,
		    "name %zu outside the buffer", i);
	}
	cr_assert_eq((const void *)req.names[1], at + VD_CTL_HEADER + 5);

	parse_at_end(buf, mkreq(buf, VD_CTL_STATUS, NULL, 0), &req, err,
	    sizeof(err), &rc);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(req.kind, VD_CTL_STATUS);
	parse_at_end(buf, mkreq(buf, VD_CTL_RELOAD, NULL, 0), &req, err,
	    sizeof(err), &rc);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(req.kind, VD_CTL_RELOAD);
}

Test(ctlproto, error_buffer_is_bounded)
{
	unsigned char buf[BUFSZ];
	struct vd_ctl_request req;
	char err[8];
	int rc;

	memset(err, 'x', sizeof(err));
	parse_at_end(buf, mkreq(buf, 99, NULL, 0), &req, err, 5, &rc);
	cr_assert_eq(rc, EOPNOTSUPP);
	cr_assert_str_eq(err, "requ");
	cr_assert_eq(err[5], 'x');
	/* No buffer at all is allowed too. */
	parse_at_end(buf, mkreq(buf, 99, NULL, 0), &req, NULL, 0, &rc);
	cr_assert_eq(rc, EOPNOTSUPP);
}

Test(ctlproto, name_ok)
{
	cr_assert(vd_ctl_name_ok("auth", 4));
	cr_assert(vd_ctl_name_ok("auth.open.latency_us.p99", 24));
	cr_assert(vd_ctl_name_ok("a", 1));
	cr_assert(vd_ctl_name_ok("auth.x", 4)); /* only n bytes count */
	cr_assert_not(vd_ctl_name_ok("", 0));
	cr_assert_not(vd_ctl_name_ok("auth.", 5));
	cr_assert_not(vd_ctl_name_ok("a-b", 3));
	cr_assert_not(vd_ctl_name_ok("a\0b", 3));
}

/* ---- I/O helpers ------------------------------------------------------ */

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

Test(ctlproto, send_then_read_full)
{
	unsigned char hdr[VD_CTL_HEADER], payload[6];
	struct vd_ctl_header h;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(vd_ctl_send(sv[0], VD_CTL_GET, 0, "a\0b.c\0", 6), 0);
	cr_assert_eq(vd_ctl_read_full(sv[1], hdr, sizeof(hdr), 1000), 0);
	vd_ctl_header_unpack(hdr, &h);
	cr_assert_eq(h.magic, VD_CTL_MAGIC);
	cr_assert_eq(h.kind, VD_CTL_GET);
	cr_assert_eq(h.flags, 0);
	cr_assert_eq(h.status, 0);
	cr_assert_eq(h.len, 6);
	cr_assert_eq(vd_ctl_read_full(sv[1], payload, 6, 1000), 0);
	cr_assert_arr_eq(payload, "a\0b.c\0", 6);
	cr_assert_eq(
	    vd_ctl_send(sv[0], VD_CTL_GET, 0, NULL, VD_CTL_MAX_REPLY + 1),
	    -EMSGSIZE);
	close(sv[0]);
	close(sv[1]);
}

Test(ctlproto, read_full_times_out_and_sees_eof)
{
	unsigned char b[4];
	uint64_t t0;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(write(sv[0], "ab", 2), 2);
	t0 = now_ms();
	cr_assert_eq(vd_ctl_read_full(sv[1], b, 4, 100), -ETIMEDOUT);
	cr_assert_geq(now_ms() - t0, 100);
	cr_assert_eq(write(sv[0], "cd", 2), 2);
	cr_assert_eq(vd_ctl_read_full(sv[1], b, 2, 1000), 0);
	cr_assert_arr_eq(b, "cd", 2);
	close(sv[0]);
	cr_assert_eq(vd_ctl_read_full(sv[1], b, 1, 1000), -ECONNRESET);
	close(sv[1]);
}

Test(ctlproto, write_all_to_a_gone_peer_is_epipe_not_sigpipe)
{
	static unsigned char big[256 * 1024];
	int sv[2], p[2];

	/* Default SIGPIPE disposition: a raised signal would kill the test
	 * process and fail it. */
	signal(SIGPIPE, SIG_DFL);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	cr_assert_eq(vd_ctl_write_all(sv[0], big, sizeof(big)), -EPIPE);
	close(sv[0]);
	/* A pipe goes through write(), and still no signal. */
	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(vd_ctl_write_all(p[1], "ok", 2), 0);
	close(p[0]);
	cr_assert_eq(vd_ctl_write_all(p[1], "x", 1), -EPIPE);
	close(p[1]);
}
