/*
 * splitmix.h — splitmix64 (Steele, Lea and Flood; Vigna's constants): a
 * tiny generator whose whole state is one 64-bit word, so a fixed seed
 * replays the same stream.  For test data, workloads and seeding larger
 * generators; not for anything secret.
 */
#ifndef VD_UTIL_SPLITMIX_H
#define VD_UTIL_SPLITMIX_H

#include <stdint.h>

/* Advances *state and returns the next number of its stream. */
static inline uint64_t
vd_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

#endif
