/*
 * test_sha256.c — the SHA-256 wrapper against FIPS 180-2's vectors, fed
 * whole and in pieces, and its hex both ways.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "util/sha256.h"

static void
digest_hex(const char *msg, size_t piece, char out[VD_SHA256_HEX])
{
	struct vd_sha256 *h = vd_sha256_new();
	uint8_t d[VD_SHA256_LEN];
	size_t len = strlen(msg), off, n;

	cr_assert_not_null(h);
	for (off = 0; off < len; off += n) {
		n = len - off < piece ? len - off : piece;
		cr_assert(vd_sha256_update(h, msg + off, n));
	}
	cr_assert(vd_sha256_final(h, d));
	vd_sha256_hex(d, out);
	vd_sha256_free(h);
}

Test(sha256, fips_vectors_whole_and_in_pieces)
{
	static const char *const abc =
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	static const char *const empty =
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	static const char *const two_blocks =
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
	const char *msg2 =
	    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	char hex[VD_SHA256_HEX];

	digest_hex("abc", 64, hex);
	cr_assert_str_eq(hex, abc);
	digest_hex("", 64, hex);
	cr_assert_str_eq(hex, empty);
	digest_hex(msg2, 1000, hex);
	cr_assert_str_eq(hex, two_blocks);
	digest_hex(msg2, 7, hex);
	cr_assert_str_eq(hex, two_blocks, "fed 7 bytes at a time");
}

Test(sha256, a_context_starts_over_after_a_reset)
{
	struct vd_sha256 *h = vd_sha256_new();
	uint8_t d[VD_SHA256_LEN];
	char hex[VD_SHA256_HEX];

	cr_assert(vd_sha256_update(h, "junk", 4));
	cr_assert(vd_sha256_reset(h));
	cr_assert(vd_sha256_update(h, "abc", 3));
	cr_assert(vd_sha256_final(h, d));
	vd_sha256_hex(d, hex);
	cr_assert_str_eq(hex,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	vd_sha256_free(h);
}

Test(sha256, hex_parses_only_64_digits)
{
	const char *ok =
	    "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
	uint8_t d[VD_SHA256_LEN];
	char hex[VD_SHA256_HEX];

	cr_assert(vd_sha256_parse(ok, strlen(ok), d));
	vd_sha256_hex(d, hex);
	cr_assert_str_eq(hex,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	cr_assert_not(vd_sha256_parse(ok, 63, d), "too short");
	cr_assert_not(vd_sha256_parse("zz", 2, d));
	hex[10] = 'g';
	cr_assert_not(vd_sha256_parse(hex, 64, d), "not hex");
}
