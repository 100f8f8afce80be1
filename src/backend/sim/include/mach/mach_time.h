/*
 * mach/mach_time.h — Mach absolute time for the EndpointSecurity
 * simulator.  Like Apple silicon it ticks at 24 MHz (timebase 125/3), not
 * in nanoseconds, so code that forgets the timebase is caught here:
 * mach_absolute_time() = CLOCK_MONOTONIC ns x 3 / 125.
 */
#ifndef ESSIM_MACH_MACH_TIME_H
#define ESSIM_MACH_MACH_TIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mach_timebase_info {
	uint32_t numer;
	uint32_t denom;
} mach_timebase_info_data_t, *mach_timebase_info_t;

typedef int kern_return_t;
#ifndef KERN_SUCCESS
#define KERN_SUCCESS 0
#endif

uint64_t mach_absolute_time(void);
kern_return_t mach_timebase_info(mach_timebase_info_t info);

#ifdef __cplusplus
}
#endif
#endif
