/*
 * sha256.c — sha256.h on libcrypto's EVP interface (Linux) or CommonCrypto
 * (macOS).
 */
#include <stdlib.h>

#include "util/sha256.h"

#ifdef __APPLE__
#include <CommonCrypto/CommonDigest.h>

struct vd_sha256 {
	CC_SHA256_CTX cc;
};

struct vd_sha256 *
vd_sha256_new(void)
{
	struct vd_sha256 *h = malloc(sizeof(*h));

	if (h != NULL)
		CC_SHA256_Init(&h->cc);
	return h;
}

void
vd_sha256_free(struct vd_sha256 *h)
{
	free(h);
}

bool
vd_sha256_reset(struct vd_sha256 *h)
{
	return CC_SHA256_Init(&h->cc) == 1;
}

bool
vd_sha256_update(struct vd_sha256 *h, const void *data, size_t len)
{
	const unsigned char *p = data;
	CC_LONG n;

	/* CC_LONG is 32 bits. */
	while (len > 0) {
		n = len > 0x40000000u ? 0x40000000u : (CC_LONG)len;
		if (CC_SHA256_Update(&h->cc, p, n) != 1)
			return false;
		p += n;
		len -= n;
	}
	return true;
}

bool
vd_sha256_final(struct vd_sha256 *h, uint8_t out[VD_SHA256_LEN])
{
	return CC_SHA256_Final(out, &h->cc) == 1;
}

#else
#include <openssl/evp.h>

struct vd_sha256 {
	EVP_MD_CTX *evp;
};

struct vd_sha256 *
vd_sha256_new(void)
{
	struct vd_sha256 *h = malloc(sizeof(*h));

	if (h == NULL)
		return NULL;
	if ((h->evp = EVP_MD_CTX_new()) == NULL || !vd_sha256_reset(h)) {
		vd_sha256_free(h);
		return NULL;
	}
	return h;
}

void
vd_sha256_free(struct vd_sha256 *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->evp);
	free(h);
}

bool
vd_sha256_reset(struct vd_sha256 *h)
{
	return EVP_DigestInit_ex(h->evp, EVP_sha256(), NULL) == 1;
}

bool
vd_sha256_update(struct vd_sha256 *h, const void *data, size_t len)
{
	return EVP_DigestUpdate(h->evp, data, len) == 1;
}

bool
vd_sha256_final(struct vd_sha256 *h, uint8_t out[VD_SHA256_LEN])
{
	unsigned n = 0;

	return EVP_DigestFinal_ex(h->evp, out, &n) == 1 && n == VD_SHA256_LEN;
}
#endif

void
vd_sha256_hex(const uint8_t d[VD_SHA256_LEN], char out[VD_SHA256_HEX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned i;

	for (i = 0; i < VD_SHA256_LEN; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * VD_SHA256_LEN] = '\0';
}

static int
nibble(char c)
{
	return c >= '0' && c <= '9' ? c - '0'
	    : c >= 'a' && c <= 'f'  ? c - 'a' + 10
	    : c >= 'A' && c <= 'F'  ? c - 'A' + 10
	                            : -1;
}

bool
vd_sha256_parse(const char *s, size_t len, uint8_t out[VD_SHA256_LEN])
{
	unsigned i;
	int hi, lo;

	if (len != 2 * VD_SHA256_LEN)
		return false;
	for (i = 0; i < VD_SHA256_LEN; i++) {
		if ((hi = nibble(s[2 * i])) < 0 ||
		    (lo = nibble(s[2 * i + 1])) < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}
