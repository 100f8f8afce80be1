/*
 * service.c — systemd notification and the progress-checked watchdog.
 * See service.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/log.h"
#include "daemon/sd.h"
#include "daemon/service.h"
#include "platform/platform.h"

struct watchdog {
	pthread_t thread;
	bool started;
	/* 1: stop.  The thread parks on it between checks: a relative wait
	 * on the monotonic clock (a clock step cannot starve the watchdog),
	 * on Linux and macOS alike, which pthread_condattr_setclock is not. */
	_Atomic uint32_t stop;
	uint64_t interval_ns;
	struct vd_pipeline *p;
	bool (*alive)(void *ctx);
	void *ctx;
};

static struct watchdog wd;

void
vd_service_ready(const char *status)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status);
	vd_sd_notify(buf);
}

void
vd_service_reloading(void)
{
	vd_sd_notify("RELOADING=1");
}

void
vd_service_stopping(void)
{
	vd_sd_notify("STOPPING=1");
}

bool
vd_service_watchdog_enabled(uint64_t *interval_ns)
{
	uint64_t usec = 0;

	if (vd_sd_watchdog_usec(&usec) && usec > 0) {
		if (interval_ns != NULL)
			*interval_ns = usec * 1000 / 2;
		return true;
	}
	return false;
}

static void *
watchdog_main(void *arg)
{
	struct vd_progress *prev, *cur, *tmp;
	uint64_t now, until;
	bool warned = false;

	vd_thread_name("vd-watchdog");
	(void)vd_thread_class(VD_THREAD_BACKGROUND);
	(void)arg;
	prev = malloc(sizeof(*prev));
	cur = malloc(sizeof(*cur));
	if (prev == NULL || cur == NULL) {
		vd_log_errx(
		    "watchdog: %s; systemd will restart us", strerror(ENOMEM));
		free(prev);
		free(cur);
		return NULL;
	}
	vd_pipeline_progress(wd.p, prev);
	while (!atomic_load(&wd.stop)) {
		until = vd_now_ns() + wd.interval_ns;
		while (!atomic_load(&wd.stop) && (now = vd_now_ns()) < until)
			vd_park_wait(&wd.stop, 0, until - now);
		if (atomic_load(&wd.stop))
			break;
		vd_pipeline_progress(wd.p, cur);
		if (!vd_progress_stuck(prev, cur) &&
		    (wd.alive == NULL || wd.alive(wd.ctx))) {
			vd_sd_notify("WATCHDOG=1");
			warned = false;
		} else if (!warned) {
			/* Not from the AUTH path: this thread only. */
			vd_log_errx("watchdog: a worker, the timer or the "
			            "event reader made no progress; not "
			            "feeding systemd's watchdog");
			warned = true;
		}
		tmp = prev;
		prev = cur;
		cur = tmp;
	}
	free(prev);
	free(cur);
	return NULL;
}

int
vd_service_watchdog_start(
    struct vd_pipeline *p, bool (*alive)(void *ctx), void *ctx)
{
	uint64_t interval;
	int rc;

	if (!vd_service_watchdog_enabled(&interval))
		return 0;
	wd.interval_ns = interval;
	wd.p = p;
	wd.alive = alive;
	wd.ctx = ctx;
	atomic_store(&wd.stop, 0);
	/* Fed at once: start-up may have taken a while. */
	vd_sd_notify("WATCHDOG=1");
	if ((rc = pthread_create(&wd.thread, NULL, watchdog_main, NULL)) != 0)
		return -rc;
	wd.started = true;
	return 0;
}

void
vd_service_watchdog_stop(void)
{
	if (!wd.started)
		return;
	/* The kernel rechecks the word before the thread sleeps: a store
	 * before its check is seen, a wake after it reaches it. */
	atomic_store(&wd.stop, 1);
	vd_park_wake(&wd.stop, 1);
	pthread_join(wd.thread, NULL);
	wd.started = false;
}
