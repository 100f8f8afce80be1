/*
 * sd_systemd.c — sd.h through libsystemd.
 */
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "daemon/sd.h"

void
vd_sd_notify(const char *state)
{
	(void)sd_notify(0, state);
}

bool
vd_sd_watchdog_usec(uint64_t *usec)
{
	return sd_watchdog_enabled(0, usec) > 0;
}

bool
vd_sd_journal_built(void)
{
	return true;
}

int
vd_sd_journal_sendv(const struct iovec *iov, int n)
{
	return sd_journal_sendv(iov, n);
}
