/*
 * sd.h — the two calls of systemd's libsystemd that verdictd makes.
 * sd_systemd.c makes them; sd_none.c, built where libsystemd is not,
 * makes them no-ops (not started by systemd, as far as we can tell).
 */
#ifndef VD_DAEMON_SD_H
#define VD_DAEMON_SD_H

#include <stdbool.h>
#include <stdint.h>

/* sd_notify(3): one state ("READY=1\nSTATUS=..."); errors are ignored. */
void vd_sd_notify(const char *state);

/* sd_watchdog_enabled(3): true with the interval systemd asked for. */
bool vd_sd_watchdog_usec(uint64_t *usec);

#endif
