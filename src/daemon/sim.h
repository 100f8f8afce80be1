/*
 * sim.h — verdictd --backend sim: a scenario on the EndpointSecurity
 * simulator, through the real es backend and the real pipeline.
 */
#ifndef VD_DAEMON_SIM_H
#define VD_DAEMON_SIM_H

#include <stdbool.h>

#include "daemon/config.h"

/* Runs c->sim.scenario and prints the run report (text, or JSON).  Returns
 * the exit status: 0 clean run, 1 the kernel's books show a missed, late or
 * duplicate answer or a terminated client, 2 a bad scenario file. */
struct vd_simrun_hooks;
int vd_sim_main(const struct vd_conf *c, bool json,
    const struct vd_simrun_hooks *hooks);

#endif
