/*
 * linux.c — platform layer for Linux: futex parking, sched affinity,
 * CLOCK_MONOTONIC.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "platform/platform.h"

uint64_t
vd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
vd_sleep_until(uint64_t t)
{
	struct timespec ts = {
		.tv_sec = (time_t)(t / 1000000000u),
		.tv_nsec = (long)(t % 1000000000u),
	};

	while (
	    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		continue;
}

void
vd_park_wait(_Atomic uint32_t *addr, uint32_t expected, uint64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;

	if (timeout_ns != UINT64_MAX) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000u);
		ts.tv_nsec = (long)(timeout_ns % 1000000000u);
		tsp = &ts;
	}
	/* EINTR, EAGAIN (value changed) and ETIMEDOUT all mean: recheck. */
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, tsp,
	    NULL, 0);
}

void
vd_park_wake(_Atomic uint32_t *addr, int n)
{
	syscall(
	    SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

unsigned
vd_cpu_list(unsigned *cpus, unsigned max)
{
	cpu_set_t avail;
	unsigned i, n = 0;

	if (sched_getaffinity(0, sizeof(avail), &avail) == 0)
		for (i = 0; i < CPU_SETSIZE && n < max; i++)
			if (CPU_ISSET(i, &avail))
				cpus[n++] = i;
	if (n == 0 && max > 0)
		cpus[n++] = 0;
	return n;
}

int
vd_pin_self(unsigned cpu)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	return -pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
}

int
vd_unpin_self(const unsigned *cpus, unsigned n)
{
	cpu_set_t set;
	unsigned i;

	CPU_ZERO(&set);
	for (i = 0; i < n; i++)
		if (cpus[i] < CPU_SETSIZE)
			CPU_SET(cpus[i], &set);
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int
vd_cpu_pressure_open(void)
{
	uint64_t us;
	int fd = open("/proc/pressure/cpu", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	/* The file exists when the kernel has PSI, and reads EOPNOTSUPP
	 * when it was turned off at boot (psi=0). */
	if (vd_cpu_pressure_read(fd, &us) != 0) {
		close(fd);
		return -ENOTSUP;
	}
	return fd;
}

int
vd_cpu_pressure_read(int fd, uint64_t *waited_us)
{
	char buf[256], *t;
	ssize_t n;

	/* "some avg10=0.00 avg60=0.00 avg300=0.00 total=12345\n..." */
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	if (strncmp(buf, "some ", 5) != 0 ||
	    (t = strstr(buf, " total=")) == NULL)
		return -EINVAL;
	*waited_us = strtoull(t + 7, NULL, 10);
	return 0;
}

struct vd_cpu_idle {
	int fd;
	long hz; /* USER_HZ: /proc/stat's unit */
	cpu_set_t set;
	size_t bufsz;
	char buf[];
};

int
vd_cpu_idle_open(struct vd_cpu_idle **out)
{
	struct vd_cpu_idle *ci;
	long conf = sysconf(_SC_NPROCESSORS_CONF);
	uint64_t us;
	size_t sz;
	int rc;

	*out = NULL;
	/* Room for every "cpuN" line, which come first; the rest of the
	 * file (interrupt counts) is cut off. */
	sz = (size_t)(conf > 0 ? conf + 1 : 2) * 160 + 256;
	if ((ci = malloc(sizeof(*ci) + sz)) == NULL)
		return -ENOMEM;
	ci->bufsz = sz;
	ci->hz = sysconf(_SC_CLK_TCK);
	if (ci->hz <= 0)
		ci->hz = 100;
	if (sched_getaffinity(0, sizeof(ci->set), &ci->set) != 0) {
		rc = -errno;
		free(ci);
		return rc;
	}
	if ((ci->fd = open("/proc/stat", O_RDONLY | O_CLOEXEC)) < 0) {
		rc = -errno;
		free(ci);
		return rc;
	}
	if ((rc = vd_cpu_idle_read(ci, &us)) != 0) {
		vd_cpu_idle_close(ci);
		return rc;
	}
	*out = ci;
	return 0;
}

int
vd_cpu_idle_read(struct vd_cpu_idle *ci, uint64_t *idle_us)
{
	unsigned long long f[5], ticks = 0;
	unsigned long cpu;
	unsigned seen = 0;
	char *s, *end;
	ssize_t n;
	int i;

	n = pread(ci->fd, ci->buf, ci->bufsz - 1, 0);
	if (n < 0)
		return -errno;
	ci->buf[n] = '\0';
	/* "cpu  ..." (all), then "cpuN user nice system idle iowait ...". */
	for (s = ci->buf; strncmp(s, "cpu", 3) == 0; s = end + 1) {
		if ((end = strchr(s, '\n')) == NULL)
			break; /* cut off mid-line */
		s += 3;
		if (*s < '0' || *s > '9')
			continue;
		cpu = strtoul(s, &s, 10);
		for (i = 0; i < 5; i++)
			f[i] = strtoull(s, &s, 10);
		if (cpu < CPU_SETSIZE && CPU_ISSET(cpu, &ci->set)) {
			ticks += f[3] + f[4];
			seen++;
		}
	}
	if (seen == 0)
		return -EINVAL;
	*idle_us = ticks * 1000000u / (unsigned long long)ci->hz;
	return 0;
}

void
vd_cpu_idle_close(struct vd_cpu_idle *ci)
{
	if (ci == NULL)
		return;
	close(ci->fd);
	free(ci);
}

int
vd_thread_class(enum vd_thread_class c)
{
	static const int delta[] = {
		[VD_THREAD_DEADLINE] = -5,
		[VD_THREAD_WORKER] = 0,
		[VD_THREAD_BACKGROUND] = 10,
		[VD_THREAD_IDLE] = 0,
	};
	struct sched_param sp = { 0 };
	pid_t tid = gettid();
	int cur, want;

	/* Only the CPU nobody else wants; lowering needs no privilege. */
	if (c == VD_THREAD_IDLE)
		return sched_setscheduler(0, SCHED_IDLE, &sp) == 0 ? 0 : -errno;

	if (delta[c] == 0)
		return 0;
	/* getpriority() may return -1 as a nice value: errno tells. */
	errno = 0;
	cur = getpriority(PRIO_PROCESS, (id_t)tid);
	if (cur == -1 && errno != 0)
		return -errno;
	want = cur + delta[c];
	want = want < -20 ? -20 : want > 19 ? 19 : want;
	if (setpriority(PRIO_PROCESS, (id_t)tid, want) != 0)
		return -errno;
	return 0;
}

unsigned
vd_usable_cpus(void)
{
	cpu_set_t avail;
	int n;

	if (sched_getaffinity(0, sizeof(avail), &avail) != 0)
		return 1;
	n = CPU_COUNT(&avail);
	return n > 0 ? (unsigned)n : 1;
}

int
vd_self_exe(char *buf, size_t size)
{
	ssize_t n;

	if (size == 0)
		return -EINVAL;
	n = readlink("/proc/self/exe", buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
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
	char buf[16];
	size_t i;

	for (i = 0; i < sizeof(buf) - 1 && name[i] != '\0'; i++)
		buf[i] = name[i];
	buf[i] = '\0';
	pthread_setname_np(pthread_self(), buf);
}
