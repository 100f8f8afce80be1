/*
 * sha256.h — SHA-256 through the system's maintained library: OpenSSL's
 * libcrypto (EVP) on Linux, CommonCrypto on macOS.  No digest code of our
 * own.  A context belongs to one thread at a time.
 */
#ifndef VD_UTIL_SHA256_H
#define VD_UTIL_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VD_SHA256_LEN 32
#define VD_SHA256_HEX (2 * VD_SHA256_LEN + 1) /* with the NUL */

struct vd_sha256;

/* A context, ready for vd_sha256_update; NULL when out of memory. */
struct vd_sha256 *vd_sha256_new(void);
void vd_sha256_free(struct vd_sha256 *h);

/* Starts a new digest on h.  false: the library failed. */
bool vd_sha256_reset(struct vd_sha256 *h);
bool vd_sha256_update(struct vd_sha256 *h, const void *data, size_t len);
/* The digest of what was given since the reset. */
bool vd_sha256_final(struct vd_sha256 *h, uint8_t out[VD_SHA256_LEN]);

/* Lower-case hex of d into out[VD_SHA256_HEX]. */
void vd_sha256_hex(const uint8_t d[VD_SHA256_LEN], char out[VD_SHA256_HEX]);
/* Parses exactly 64 hex digits (either case) at s; false otherwise. */
bool vd_sha256_parse(const char *s, size_t len, uint8_t out[VD_SHA256_LEN]);

#endif
