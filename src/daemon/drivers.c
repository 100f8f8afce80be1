/*
 * drivers.c — the backends this verdictd was built with.  The only place
 * the daemon asks which exist; meson compiles each driver only where its
 * backend builds.
 */
#include <stdio.h>
#include <string.h>

#include "daemon/driver.h"

static const struct vd_driver *const drivers[] = {
	&vd_driver_gen,
#ifdef VD_HAVE_FANOTIFY
	&vd_driver_fanotify,
#endif
#ifdef VD_HAVE_SIM
	&vd_driver_sim,
#endif
#ifdef VD_HAVE_ES
	&vd_driver_es,
#endif
};

/* Why a backend the configuration knows may be missing. */
static const struct {
	const char *name, *why;
} missing[] = {
	{ "fanotify", "the fanotify backend exists on Linux only" },
	{ "es",
	    "the es backend exists on macOS only (on Linux, --backend sim "
	    "runs it on the EndpointSecurity simulator)" },
	{ "sim",
	    "this verdictd was built without the sim backend (it needs "
	    "clang's blocks: build with CC=clang)" },
};

const struct vd_driver *
vd_driver_find(const char *name, char *msg, size_t msgsz)
{
	size_t i;

	for (i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (strcmp(drivers[i]->name, name) == 0)
			return drivers[i];
	for (i = 0; i < sizeof(missing) / sizeof(missing[0]); i++)
		if (strcmp(missing[i].name, name) == 0) {
			snprintf(msg, msgsz, "%s", missing[i].why);
			return NULL;
		}
	snprintf(msg, msgsz, "unknown backend \"%s\"", name);
	return NULL;
}

void
vd_driver_pipe_settings(const struct vd_conf *c, struct vd_config *cfg)
{
	int t;

	cfg->workers = c->pipe.workers;
	cfg->ring_size = c->pipe.ring_size;
	cfg->pool_size = c->pipe.pool_size;
	cfg->spin_ns = c->pipe.spin_ns;
	cfg->pin_workers = c->pipe.pin_workers;
	cfg->multi_producer = false;
	for (t = 0; t < VD_EVENT_TYPE_COUNT; t++)
		cfg->types[t].default_verdict =
		    c->pipe.types[t].default_verdict;
}
