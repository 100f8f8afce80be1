/*
 * darwin.c — platform layer for macOS 12 and later: __ulock_wait and
 * __ulock_wake for parking (os_sync_wait_on_address where the deployment
 * target is macOS 14.4 or later), QoS classes instead of CPU affinity,
 * CLOCK_UPTIME_RAW (Mach absolute time, in nanoseconds).
 *
 * Cross-compiled and linked against Apple's macOS 12.0 SDK by
 * tools/build-macos (arm64 and x86_64); not run on the Linux machines this
 * project is developed on.
 */
#include <errno.h>
#include <pthread.h>
#include <pthread/qos.h>
#include <sched.h>
#include <stdint.h>
#include <libproc.h>
#include <sys/sysctl.h>
#include <time.h>
#include <unistd.h>

/*
 * os_sync_wait_on_address is macOS 14.4's public wait-on-address; its
 * header is in SDKs from 14.4 on.  Used only where the build's deployment
 * target guarantees the call (the compiler's own macro, so no runtime
 * availability check, which would need compiler-rt's
 * __isPlatformVersionAtLeast); otherwise the private but stable ulock
 * calls that libSystem exports since 10.12, and that libc++ and the
 * Swift runtime use the same way.
 */
#if defined(__has_include) &&                                                  \
    defined(__ENVIRONMENT_MAC_OS_X_VERSION_MIN_REQUIRED__)
#if __has_include(<os/os_sync_wait_on_address.h>) && \
    __ENVIRONMENT_MAC_OS_X_VERSION_MIN_REQUIRED__ >= 140400
#define VD_OS_SYNC 1
#include <os/os_sync_wait_on_address.h>
#endif
#endif

#include "platform/platform.h"

#ifndef VD_OS_SYNC
/* From xnu's bsd/sys/ulock.h, not in the SDK: declared here.  timeout is
 * in microseconds, 0 meaning forever. */
extern int
__ulock_wait(uint32_t operation, void *addr, uint64_t value, uint32_t timeout);
extern int __ulock_wake(uint32_t operation, void *addr, uint64_t wake_value);
#define UL_COMPARE_AND_WAIT 1
#define ULF_WAKE_ALL        0x00000100
#define ULF_NO_ERRNO        0x01000000
#endif

uint64_t
vd_now_ns(void)
{
	/* Mach absolute time converted by the kernel: no timebase to
	 * cache, nothing shared between threads. */
	return clock_gettime_nsec_np(CLOCK_UPTIME_RAW);
}

void
vd_sleep_until(uint64_t t)
{
	struct timespec ts;
	uint64_t now;

	/* No clock_nanosleep: relative sleeps, until the clock says so. */
	while ((now = vd_now_ns()) < t) {
		ts.tv_sec = (time_t)((t - now) / 1000000000u);
		ts.tv_nsec = (long)((t - now) % 1000000000u);
		nanosleep(&ts, NULL);
	}
}

void
vd_park_wait(_Atomic uint32_t *addr, uint32_t expected, uint64_t timeout_ns)
{
	/* EINTR, a changed value and a timeout all mean: recheck. */
#ifdef VD_OS_SYNC
	if (timeout_ns == UINT64_MAX)
		os_sync_wait_on_address((void *)addr, expected,
		    sizeof(uint32_t), OS_SYNC_WAIT_ON_ADDRESS_NONE);
	else if (timeout_ns != 0)
		os_sync_wait_on_address_with_timeout((void *)addr, expected,
		    sizeof(uint32_t), OS_SYNC_WAIT_ON_ADDRESS_NONE,
		    OS_CLOCK_MACH_ABSOLUTE_TIME, timeout_ns);
#else
	uint64_t us;

	if (timeout_ns == 0)
		return; /* __ulock_wait's 0 would wait forever */
	if (timeout_ns == UINT64_MAX)
		us = 0;
	else {
		/* Rounded up, so a short wait never becomes forever. */
		us = timeout_ns / 1000u + (timeout_ns % 1000u != 0);
		if (us > UINT32_MAX)
			us = UINT32_MAX;
	}
	__ulock_wait(UL_COMPARE_AND_WAIT | ULF_NO_ERRNO, (void *)addr, expected,
	    (uint32_t)us);
#endif
}

void
vd_park_wake(_Atomic uint32_t *addr, int n)
{
#ifdef VD_OS_SYNC
	if (n == 1)
		os_sync_wake_by_address_any((void *)addr, sizeof(uint32_t),
		    OS_SYNC_WAKE_BY_ADDRESS_NONE);
	else
		os_sync_wake_by_address_all((void *)addr, sizeof(uint32_t),
		    OS_SYNC_WAKE_BY_ADDRESS_NONE);
#else
	/* ulock wakes one waiter or all of them; more than one is all. */
	__ulock_wake(
	    UL_COMPARE_AND_WAIT | ULF_NO_ERRNO | (n == 1 ? 0 : ULF_WAKE_ALL),
	    (void *)addr, 0);
#endif
}

unsigned
vd_cpu_list(unsigned *cpus, unsigned max)
{
	unsigned i, n = vd_usable_cpus();

	for (i = 0; i < n && i < max; i++)
		cpus[i] = i;
	return i;
}

int
vd_pin_self(unsigned cpu)
{
	(void)cpu;
	/* No hard affinity on macOS; the thread's class sets its QoS. */
	return 0;
}

int
vd_unpin_self(const unsigned *cpus, unsigned n)
{
	(void)cpus;
	(void)n;
	return 0;
}

int
vd_cpu_pressure_open(void)
{
	/* macOS keeps no count of time spent waiting for a CPU. */
	return -ENOTSUP;
}

int
vd_cpu_pressure_read(int fd, uint64_t *waited_us)
{
	(void)fd;
	*waited_us = 0;
	return -ENOTSUP;
}

int
vd_cpu_idle_open(struct vd_cpu_idle **out)
{
	/* host_processor_info() could tell; not built on here yet. */
	*out = NULL;
	return -ENOTSUP;
}

int
vd_cpu_idle_read(struct vd_cpu_idle *ci, uint64_t *idle_us)
{
	(void)ci;
	*idle_us = 0;
	return -ENOTSUP;
}

void
vd_cpu_idle_close(struct vd_cpu_idle *ci)
{
	(void)ci;
}

int
vd_thread_class(enum vd_thread_class c)
{
	static const qos_class_t qos[] = {
		[VD_THREAD_DEADLINE] = QOS_CLASS_USER_INTERACTIVE,
		[VD_THREAD_WORKER] = QOS_CLASS_USER_INITIATED,
		[VD_THREAD_BACKGROUND] = QOS_CLASS_UTILITY,
		[VD_THREAD_IDLE] = QOS_CLASS_BACKGROUND,
	};

	return -pthread_set_qos_class_self_np(qos[c], 0);
}

unsigned
vd_usable_cpus(void)
{
	int n = 0;
	size_t len = sizeof(n);

	if (sysctlbyname("hw.activecpu", &n, &len, NULL, 0) != 0 || n < 1)
		return 1;
	return (unsigned)n;
}

int
vd_self_exe(char *buf, size_t size)
{
	if (proc_pidpath(getpid(), buf, (uint32_t)size) <= 0)
		return -errno;
	return 0;
}

void
vd_yield(void)
{
	sched_yield();
}

void
vd_thread_name(const char *name)
{
	pthread_setname_np(name);
}
