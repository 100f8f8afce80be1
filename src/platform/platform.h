/*
 * platform.h — the small layer between the core and the OS.
 *
 * Clocks, parking and waking a thread on a 32-bit word, CPU pinning and the
 * usable CPU count.  One file per OS (linux.c, darwin.c); the core has no
 * OS conditionals of its own.
 *
 * Parking contract: vd_park_wait(addr, expected, timeout) sleeps only while
 * *addr == expected (checked atomically by the kernel), and may return early
 * or spuriously; the caller rechecks its condition.  vd_park_wake(addr, n)
 * wakes up to n waiters.  Callers publish before waking and must use a full
 * fence between their own publish and their read of the other side's flag.
 */
#ifndef VD_PLATFORM_H
#define VD_PLATFORM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of a cache line: 64 on x86-64 and most arm64.  Apple silicon's
 * are 128, where this costs some false sharing, never correctness. */
#define VD_CACHELINE 64

/* Monotonic time in nanoseconds. */
uint64_t vd_now_ns(void);

/* Sleeps until vd_now_ns() reaches t (at once when it has), through
 * signals. */
void vd_sleep_until(uint64_t t);

/* Waits while *addr == expected, at most timeout_ns (UINT64_MAX: forever). */
void
vd_park_wait(_Atomic uint32_t *addr, uint32_t expected, uint64_t timeout_ns);
void vd_park_wake(_Atomic uint32_t *addr, int n);

/*
 * The CPUs the calling thread may run on (sched_getaffinity), in
 * increasing order, at most max of them; returns how many (at least 1).
 */
unsigned vd_cpu_list(unsigned *cpus, unsigned max);

/*
 * Pins the calling thread to one CPU of vd_cpu_list().  Returns 0 or
 * -errno (macOS has no hard affinity: it returns 0 and does nothing; the
 * thread's class sets its QoS).
 */
int vd_pin_self(unsigned cpu);

/*
 * Lets the calling thread run on every CPU of cpus[0..n-1] again (undoes
 * vd_pin_self).  Returns 0 or -errno (macOS: 0, nothing to undo).
 */
int vd_unpin_self(const unsigned *cpus, unsigned n);

/*
 * CPU pressure: how long, in microseconds since boot, at least one
 * runnable thread of the system waited for a CPU (Linux PSI, "some" in
 * /proc/pressure/cpu).  vd_cpu_pressure_open() returns a descriptor to
 * pass to vd_cpu_pressure_read(), or -errno when the system keeps no such
 * count (-ENOTSUP on macOS; PSI disabled or absent on Linux).
 * vd_cpu_pressure_read() returns 0 or -errno.
 */
int vd_cpu_pressure_open(void);
int vd_cpu_pressure_read(int fd, uint64_t *waited_us);

/*
 * CPU idle time: how long, in microseconds since boot, the CPUs the
 * process could run on when vd_cpu_idle_open() was called were idle,
 * summed over them (Linux: idle and iowait of their /proc/stat lines, so
 * in steps of the kernel's USER_HZ tick, 10 ms; read windows of 100 ms or
 * more).  vd_cpu_idle_open() returns 0 or -errno (-ENOTSUP on macOS);
 * vd_cpu_idle_read() 0 or -errno; vd_cpu_idle_close() takes NULL.
 */
struct vd_cpu_idle;
int vd_cpu_idle_open(struct vd_cpu_idle **out);
int vd_cpu_idle_read(struct vd_cpu_idle *ci, uint64_t *idle_us);
void vd_cpu_idle_close(struct vd_cpu_idle *ci);

/*
 * What a thread is for, highest class first.  DEADLINE: the threads that
 * must run when everything else is late (the timer, which answers when the
 * workers cannot) or must keep up with delivery (a backend's reader).
 * WORKER: the workers.  BACKGROUND: what may wait (NOTIFY processing, the
 * control socket, the watchdog).  IDLE: what runs on CPU nobody else wants
 * (the decision log's writer).
 */
enum vd_thread_class {
	VD_THREAD_DEADLINE,
	VD_THREAD_WORKER,
	VD_THREAD_BACKGROUND,
	VD_THREAD_IDLE,
};

/*
 * Puts the calling thread in class c.  Linux: a nice value relative to the
 * one the thread was created with (DEADLINE -5, WORKER unchanged,
 * BACKGROUND +10), clamped to -20..19, and IDLE the SCHED_IDLE policy;
 * raising a thread needs CAP_SYS_NICE.  macOS: a QoS class
 * (user-interactive, user-initiated, utility, background).  0, or -errno
 * (-EPERM, -EACCES: not permitted, the thread keeps the priority it had).
 */
int vd_thread_class(enum vd_thread_class c);

/* How many CPUs the calling thread may run on, at least 1. */
unsigned vd_usable_cpus(void);

/* Names the calling thread (truncated to the OS limit). */
void vd_thread_name(const char *name);

/* The running program's executable path.  0 or -errno. */
int vd_self_exe(char *buf, size_t size);

/* Gives the CPU to another runnable thread, if there is one. */
void vd_yield(void);

/* A CPU hint inside spin loops. */
static inline void
vd_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

#endif
