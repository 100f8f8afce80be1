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
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	uint64_t interval_ns;
	struct vd_pipeline *p;
	bool (*alive)(void *ctx);
	void *ctx;
};

static struct watchdog wd = { .lock = PTHREAD_MUTEX_INITIALIZER };

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
	struct timespec ts;
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
	pthread_mutex_lock(&wd.lock);
	while (!wd.stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(wd.interval_ns / 1000000000u);
		ts.tv_nsec += (long)(wd.interval_ns % 1000000000u);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!wd.stop &&
		    pthread_cond_timedwait(&wd.cond, &wd.lock, &ts) !=
		        ETIMEDOUT)
			;
		if (wd.stop)
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
	pthread_mutex_unlock(&wd.lock);
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
	wd.stop = false;
	{
		pthread_condattr_t ca;

		/* Timed waits on the monotonic clock: a clock step must not
		 * starve the watchdog. */
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&wd.cond, &ca);
		pthread_condattr_destroy(&ca);
	}
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
	pthread_mutex_lock(&wd.lock);
	wd.stop = true;
	pthread_cond_signal(&wd.cond);
	pthread_mutex_unlock(&wd.lock);
	pthread_join(wd.thread, NULL);
	pthread_cond_destroy(&wd.cond);
	wd.started = false;
}
