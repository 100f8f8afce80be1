/*
 * fuzz_ctl_request.c — libFuzzer target for the control request parser.
 *
 * The parser faces whatever a local client sends, so it must never read
 * outside the buffer (AddressSanitizer checks that: libFuzzer hands over
 * exactly size bytes) and must accept only what proto.h allows.  On
 * acceptance every invariant a consumer relies on is checked; on refusal,
 * the errno and the message.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

static void
check_accepted(
    const uint8_t *data, size_t size, const struct vd_ctl_request *req)
{
	const char *base = (const char *)data + VD_CTL_HEADER;
	const char *end = (const char *)data + size, *p, *nul;
	struct vd_ctl_header h;
	size_t i, n;

	CHECK(size >= VD_CTL_HEADER);
	vd_ctl_header_unpack(data, &h);
	CHECK(h.magic == VD_CTL_MAGIC && h.flags == 0 && h.status == 0);
	CHECK(h.len == size - VD_CTL_HEADER && h.len <= VD_CTL_MAX_REQUEST);
	CHECK(h.kind == req->kind);
	CHECK(req->nnames <= VD_CTL_MAX_NAMES);
	if (req->kind == VD_CTL_EXPLAIN) {
		/* The query is the whole payload: printable, not empty. */
		CHECK(req->nnames == 0 && req->query == base);
		CHECK(req->qlen == h.len && h.len >= 1);
		for (i = 0; i < req->qlen; i++)
			CHECK((unsigned char)base[i] >= 0x20 && base[i] != 0x7f);
		return;
	}
	if (req->kind != VD_CTL_GET) {
		CHECK(req->kind == VD_CTL_STATUS || req->kind == VD_CTL_RELOAD);
		CHECK(h.len == 0 && req->nnames == 0);
		return;
	}
	/* The names tile the payload exactly, in order, each one
	 * well-formed and NUL-terminated inside the buffer. */
	CHECK((h.len == 0) == (req->nnames == 0));
	p = base;
	for (i = 0; i < req->nnames; i++) {
		CHECK(req->names[i] == p);
		CHECK(p < end);
		nul = memchr(p, '\0', (size_t)(end - p));
		CHECK(nul != NULL);
		n = (size_t)(nul - p);
		CHECK(n >= 1 && n <= VD_CTL_MAX_NAME);
		CHECK(vd_ctl_name_ok(p, n));
		p = nul + 1;
	}
	CHECK(p == end);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vd_ctl_request req;
	unsigned char again[VD_CTL_HEADER];
	struct vd_ctl_header h;
	char err[128];
	int rc;

	memset(err, 0x7f, sizeof(err));
	rc = vd_ctl_parse_request(data, size, &req, err, sizeof(err));
	if (rc == 0) {
		check_accepted(data, size, &req);
	} else {
		CHECK(rc == EPROTO || rc == EOPNOTSUPP || rc == EINVAL ||
		    rc == E2BIG);
		CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		CHECK(strncmp(err, "request: ", 9) == 0);
	}
	/* The header codec is a bijection on 16 bytes. */
	if (size >= VD_CTL_HEADER) {
		vd_ctl_header_unpack(data, &h);
		vd_ctl_header_pack(&h, again);
		CHECK(memcmp(again, data, VD_CTL_HEADER) == 0);
	}
	return 0;
}
