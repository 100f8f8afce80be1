/*
 * sd.h — the calls of systemd's libsystemd that verdictd makes.
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

struct iovec;

/* True when built with libsystemd, which the journal calls need. */
bool vd_sd_journal_built(void);

/* sd_journal_sendv(3): one entry of "FIELD=value" items; 0 or -errno,
 * -ENOTSUP without libsystemd. */
int vd_sd_journal_sendv(const struct iovec *iov, int n);

#endif
