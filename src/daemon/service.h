/*
 * service.h — verdictd under systemd: Type=notify readiness, status,
 * reloads, and a watchdog fed only while the pipeline makes progress.
 *
 * Everything here is a no-op when the daemon was not started by systemd
 * (NOTIFY_SOCKET unset) or was built without libsystemd.
 *
 * The watchdog thread wakes at half of WatchdogSec, takes a progress
 * snapshot of the pipeline (vd_pipeline_progress) and feeds systemd
 * (WATCHDOG=1) only when no worker and not the timer sat on queued work
 * without progress since the last look, and the backend says it is alive.
 * A stuck worker does not stop answers (the timer gives defaults), but it
 * is a fault worth a restart: after WatchdogSec systemd kills and restarts
 * the daemon, and the kernel allows what was pending.
 */
#ifndef VD_DAEMON_SERVICE_H
#define VD_DAEMON_SERVICE_H

#include <stdbool.h>

#include <verdict/pipeline.h>

/* READY=1 with a one-line status. */
void vd_service_ready(const char *status);
/* RELOADING=1; vd_service_ready() again when done. */
void vd_service_reloading(void);
/* STOPPING=1. */
void vd_service_stopping(void);

/*
 * Starts the watchdog thread when systemd asked for one (WATCHDOG_USEC for
 * this pid).  alive(ctx) is asked on each round as well (the backend has
 * not failed: the fanotify reader has not stopped on an error; a reader
 * blocked without failing is not seen).  0, or -errno.
 */
int vd_service_watchdog_start(
    struct vd_pipeline *p, bool (*alive)(void *ctx), void *ctx);
void vd_service_watchdog_stop(void);

/* Whether the watchdog runs, and its interval (half of WatchdogSec). */
bool vd_service_watchdog_enabled(uint64_t *interval_ns);

#endif
