/*
 * reload.c — re-reading the configuration and the policy, on the main
 * thread only.
 *
 * SIGHUP reaches the main loop through the self-pipe; `verdictctl reload`
 * reaches it through a reload channel: the control thread records the
 * request, wakes the main loop and waits until the main thread has run the
 * reload and left its outcome.  So the policy runtime's writer side
 * (vd_policy_runtime_swap and vd_policy_runtime_poll, ck_epoch_call and
 * ck_epoch_poll underneath) only ever runs on the main thread, and a
 * reload and a poll can never overlap.
 *
 * Settings that can change live (the configuration's key table says
 * which) are applied; the others are only reported, since the pipeline or
 * the backend would have to be rebuilt.  A configuration or a policy that
 * fails keeps what runs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "daemon/decisions.h"
#include "daemon/hooks.h"
#include "daemon/log.h"
#include "daemon/service.h"

struct vd_policy *
vd_daemon_policy_load(const struct vd_conf *conf, const char *path,
    unsigned can, char *msg, size_t msgsz)
{
	struct vd_policy_error pe;
	struct vd_policy *pol;
	int rc;

	memset(&pe, 0, sizeof(pe));
	if ((pol = vd_policy_load(path, can, &pe, &rc)) != NULL) {
		vd_policy_set_monitor(
		    pol, conf->policy_mode == VD_POLICY_MONITOR);
		return pol;
	}
	if (pe.line > 0 && pe.column > 0)
		snprintf(msg, msgsz, "%s:%d:%d: %s", pe.file, pe.line,
		    pe.column, pe.msg);
	else if (pe.line > 0)
		snprintf(msg, msgsz, "%s:%d: %s", pe.file, pe.line, pe.msg);
	else
		snprintf(msg, msgsz, "%s: %s", pe.file[0] ? pe.file : path,
		    pe.msg[0] ? pe.msg : strerror(-rc));
	return NULL;
}

/* Applies the live settings of next; returns how many per-type settings
 * the pipeline refused (those keep their running values). */
static unsigned
apply_live(struct daemon *d, const struct vd_conf *next)
{
	struct vd_conf run = d->conf;
	unsigned refused = 0;
	char err[512];

	vd_conf_take_live(&run, next);
	for (unsigned t = 0; t < VD_EVENT_TYPE_COUNT; t++) {
		enum vd_event_type et = (enum vd_event_type)t;

		if (memcmp(&run.pipe.types[t], &d->conf.pipe.types[t],
		        sizeof(run.pipe.types[t])) == 0)
			continue;
		if (vd_pipeline_set_type(
		        d->p, et, &run.pipe.types[t], err, sizeof(err)) != 0) {
			vd_log_warnx("reload: %s; keeping the running %s "
			             "settings",
			    err, vd_event_type_name(et));
			run.pipe.types[t] = d->conf.pipe.types[t];
			refused++;
		}
	}
	if (d->drv->reconfigure != NULL)
		d->drv->reconfigure(d->b.ctx, &run, false);
	if (d->hooks != NULL)
		vd_hooks_set(d->hooks, &run.test);
	/* The control thread reads it (explain's defaults) under the lock. */
	pthread_mutex_lock(&d->books_lock);
	d->conf = run;
	pthread_mutex_unlock(&d->books_lock);
	return refused;
}

/* Puts the policy of next in force; 0, or -EINVAL with why in msg. */
static int
policy_reload(
    struct daemon *d, const struct vd_conf *next, char *msg, size_t msgsz)
{
	char err[640], berr[512];
	struct vd_policy *pol;

	pol = vd_daemon_policy_load(
	    next, next->policy, d->drv->policy_can, err, sizeof(err));
	if (pol == NULL) {
		pthread_mutex_lock(&d->books_lock);
		d->policy_reload_failures++;
		pthread_mutex_unlock(&d->books_lock);
		snprintf(
		    msg, msgsz, "reload: %s; keeping the running policy", err);
		return -EINVAL;
	}
	vd_policy_runtime_swap(d->rt, pol);
	pthread_mutex_lock(&d->books_lock);
	d->policy_reloads++;
	pthread_mutex_unlock(&d->books_lock);
	/* After the swap: decisions of the old policy must not stay in the
	 * kernel, and none made before now becomes one. */
	if (d->b.policy_changed != NULL &&
	    d->b.policy_changed(d->b.ctx, pol, berr, sizeof(berr)) != 0)
		vd_log_warnx("reload: %s", berr);
	return 0;
}

int
vd_daemon_reload(struct daemon *d, char *msg, size_t msgsz)
{
	char err[640], live_names[256], restart_names[512];
	unsigned live, restart, refused = 0;
	struct vd_conf next;
	int rc = 0;

	vd_service_reloading();
	if (d->path == NULL) {
		snprintf(msg, msgsz,
		    "reload: started without -c, no "
		    "configuration file to re-read");
		rc = -ENOENT;
		goto out;
	}
	if (vd_conf_build(&next, d, err, sizeof(err)) != 0) {
		snprintf(msg, msgsz,
		    "reload: %s; keeping the running configuration", err);
		rc = -EINVAL;
		goto out;
	}
	/* The decision log first: a target it cannot open refuses the
	 * reload, and the running log stays (logrotate's SIGHUP reopens
	 * the same file). */
	if (d->log != NULL && strcmp(next.log_decisions, "off") != 0 &&
	    vd_declog_reopen(d->log, next.log_decisions, next.log_allows, err,
	        sizeof(err)) != 0) {
		snprintf(msg, msgsz,
		    "reload: %s; keeping the running configuration", err);
		rc = -EINVAL;
		goto out;
	}
	if ((d->log == NULL) != (strcmp(next.log_decisions, "off") == 0))
		vd_log_warnx("reload: turning the decision log on or off "
		             "needs a restart");
	live =
	    vd_conf_diff(&d->conf, &next, true, live_names, sizeof(live_names));
	restart = vd_conf_diff(
	    &d->conf, &next, false, restart_names, sizeof(restart_names));
	if (live > 0)
		refused = apply_live(d, &next);
	if (next.policy[0] != '\0' && d->rt != NULL &&
	    (rc = policy_reload(d, &next, msg, msgsz)) != 0)
		goto out;
	pthread_mutex_lock(&d->books_lock);
	d->generation++;
	pthread_mutex_unlock(&d->books_lock);
	snprintf(msg, msgsz,
	    "reload: configuration OK (generation %" PRIu64 "), %u setting%s "
	    "need%s a restart%s%s%s; %u applied%s%s%s%s",
	    d->generation, restart, restart == 1 ? "" : "s",
	    restart == 1 ? "s" : "", restart > 0 ? " (" : "",
	    restart > 0 ? restart_names : "", restart > 0 ? ")" : "", live,
	    live > 0 ? " (" : "", live > 0 ? live_names : "",
	    live > 0 ? ")" : "",
	    refused > 0 ? "; some per-type settings were refused" : "");
out:
	pthread_mutex_lock(&d->books_lock);
	if (rc == 0)
		d->reloads++;
	else
		d->reload_failures++;
	pthread_mutex_unlock(&d->books_lock);
	vd_service_ready(msg);
	return rc;
}

/* --- the channel from the control thread ------------------------------ */

void
vd_reload_chan_init(struct reload_chan *ch)
{
	memset(ch, 0, sizeof(*ch));
	pthread_mutex_init(&ch->lock, NULL);
	pthread_cond_init(&ch->cond, NULL);
}

int
vd_reload_chan_ask(
    struct reload_chan *ch, void (*wake)(void), char *msg, size_t msgsz)
{
	uint64_t mine;
	int rc;

	pthread_mutex_lock(&ch->lock);
	mine = ++ch->asked;
	pthread_mutex_unlock(&ch->lock);
	wake();
	pthread_mutex_lock(&ch->lock);
	while (ch->answered < mine && !ch->closed)
		pthread_cond_wait(&ch->cond, &ch->lock);
	if (ch->answered >= mine) {
		rc = ch->rc;
		snprintf(msg, msgsz, "%s", ch->msg);
	} else {
		rc = -ESHUTDOWN;
		snprintf(msg, msgsz, "reload: verdictd is stopping");
	}
	pthread_mutex_unlock(&ch->lock);
	return rc;
}

void
vd_reload_chan_serve(struct daemon *d)
{
	struct reload_chan *ch = &d->chan;
	char msg[sizeof(ch->msg)];
	uint64_t upto;
	int rc;

	pthread_mutex_lock(&ch->lock);
	upto = ch->asked;
	pthread_mutex_unlock(&ch->lock);
	if (upto <= ch->answered)
		return; /* only the main thread writes answered */
	/* Requests that arrived together share one reload. */
	rc = vd_daemon_reload(d, msg, sizeof(msg));
	if (rc == 0)
		vd_log_info("%s (verdictctl)", msg);
	else
		vd_log_warnx("%s (verdictctl)", msg);
	pthread_mutex_lock(&ch->lock);
	ch->rc = rc;
	memcpy(ch->msg, msg, sizeof(msg));
	ch->answered = upto;
	pthread_cond_broadcast(&ch->cond);
	pthread_mutex_unlock(&ch->lock);
}

void
vd_reload_chan_close(struct reload_chan *ch)
{
	pthread_mutex_lock(&ch->lock);
	ch->closed = true;
	pthread_cond_broadcast(&ch->cond);
	pthread_mutex_unlock(&ch->lock);
}
