/*
 * floor.c — verdict-bench's floor: the least an ES client can do, on the
 * simulator, so the deadlines benchmark can judge verdictd against it.
 *
 * One ES client subscribed to the event types verdictd's es backend
 * subscribes to (vd_es_types), AUTH and NOTIFY alike.  Its handler block
 * answers every AUTH message inline with ALLOW, uncached as verdictd's
 * default evaluator answers: es_respond_flags_result with every flag for
 * AUTH_OPEN (the call macOS requires for it), es_respond_auth_result for
 * the others.  It ignores NOTIFY messages and does nothing else: no copy,
 * no retain, no queue, no evaluation, so no stall either.  What the
 * simulated kernel still charges it with is its own: delivery, the
 * bounded queue, the CPU it gets.
 */
#include "harness.h"

#ifdef VD_HAVE_SIM
#include <EndpointSecurity/EndpointSecurity.h>

struct floor_client {
	es_client_t *client;
};

static int
floor_start(void *ctx, char *err, size_t errsz)
{
	struct floor_client *f = ctx;
	es_event_type_t types[VD_EVENT_TYPE_COUNT];
	es_new_client_result_t ncr;
	const char *name;
	uint32_t n = 0;
	size_t i;
	int k;

	/* verdictd's types by their names, which the scenario kinds share. */
	for (i = 0; i < vd_es_ntypes; i++) {
		name = vd_event_type_name(vd_es_types[i]);
		if ((k = essim_kind_parse(name)) < 0) {
			snprintf(err, errsz,
			    "the floor: no simulator event type for %s", name);
			return -EINVAL;
		}
		types[n++] = essim_kind_type((enum essim_kind)k);
	}
	ncr =
	    es_new_client(&f->client, ^(es_client_t *c, const es_message_t *m) {
		    if (m->action_type != ES_ACTION_TYPE_AUTH)
			    return;
		    if (m->event_type == ES_EVENT_TYPE_AUTH_OPEN)
			    es_respond_flags_result(c, m, UINT32_MAX, false);
		    else
			    es_respond_auth_result(
			        c, m, ES_AUTH_RESULT_ALLOW, false);
	    });
	if (ncr != ES_NEW_CLIENT_RESULT_SUCCESS) {
		f->client = NULL;
		snprintf(err, errsz, "the floor: es_new_client: result %d",
		    (int)ncr);
		return -EPERM;
	}
	if (es_subscribe(f->client, types, n) != ES_RETURN_SUCCESS) {
		es_delete_client(f->client);
		f->client = NULL;
		snprintf(err, errsz, "the floor: es_subscribe failed");
		return -EINVAL;
	}
	return 0;
}

static void
floor_finish(void *ctx, struct essim_client_report *auth,
    struct essim_client_report *notify)
{
	struct floor_client *f = ctx;

	if (f->client == NULL)
		return;
	essim_client_report(f->client, auth);
	*notify = *auth; /* one client for both */
	es_delete_client(f->client);
	f->client = NULL;
}

int
floor_run(const struct essim_scenario *s, struct vd_simrun_report *out,
    char *err, size_t errsz)
{
	struct floor_client f = { .client = NULL };
	const struct vd_simrun_client c = {
		.ctx = &f,
		.start = floor_start,
		.finish = floor_finish,
	};

	return vd_simrun_client(s, &c, out, err, errsz);
}
#endif
