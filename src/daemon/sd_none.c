/*
 * sd_none.c — sd.h without libsystemd: never started by systemd.
 */
#include <errno.h>
#include <sys/uio.h>

#include "daemon/sd.h"

void
vd_sd_notify(const char *state)
{
	(void)state;
}

bool
vd_sd_watchdog_usec(uint64_t *usec)
{
	(void)usec;
	return false;
}

bool
vd_sd_journal_built(void)
{
	return false;
}

int
vd_sd_journal_sendv(const struct iovec *iov, int n)
{
	(void)iov;
	(void)n;
	return -ENOTSUP;
}
