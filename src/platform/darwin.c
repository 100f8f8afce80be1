/*
 * darwin.c — platform layer for macOS: os_sync_wait_on_address (macOS 14.4+)
 * for parking, QoS classes instead of CPU affinity, mach_absolute_time.
 *
 * Not built or tested on the Linux machines this project is developed on;
 * kept small and written against documented APIs only.
 */
#include <errno.h>
#include <mach/mach_time.h>
#include <os/os_sync_wait_on_address.h>
#include <pthread.h>
#include <sched.h>
#include <pthread/qos.h>
#include <stdint.h>
#include <libproc.h>
#include <sys/sysctl.h>
#include <time.h>
#include <unistd.h>

#include "platform/platform.h"

uint64_t
vd_now_ns(void)
{
	static mach_timebase_info_data_t tb;

	if (tb.denom == 0)
		mach_timebase_info(&tb);
	return mach_absolute_time() * tb.numer / tb.denom;
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
	if (timeout_ns == UINT64_MAX)
		os_sync_wait_on_address(addr, expected, sizeof(uint32_t),
		    OS_SYNC_WAIT_ON_ADDRESS_NONE);
	else
		os_sync_wait_on_address_with_timeout(addr, expected,
		    sizeof(uint32_t), OS_SYNC_WAIT_ON_ADDRESS_NONE,
		    OS_CLOCK_MACH_ABSOLUTE_TIME, timeout_ns);
}

void
vd_park_wake(_Atomic uint32_t *addr, int n)
{
	if (n == 1)
		os_sync_wake_by_address_any(
		    addr, sizeof(uint32_t), OS_SYNC_WAKE_BY_ADDRESS_NONE);
	else
		os_sync_wake_by_address_all(
		    addr, sizeof(uint32_t), OS_SYNC_WAKE_BY_ADDRESS_NONE);
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
vd_thread_class(enum vd_thread_class c)
{
	static const qos_class_t qos[] = {
		[VD_THREAD_DEADLINE] = QOS_CLASS_USER_INTERACTIVE,
		[VD_THREAD_WORKER] = QOS_CLASS_USER_INITIATED,
		[VD_THREAD_BACKGROUND] = QOS_CLASS_UTILITY,
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
