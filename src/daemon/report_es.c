/*
 * report_es.c — the es backend's part of the run report, shared by the
 * sim and es drivers (built where either is).  See report.h.
 */
#include <inttypes.h>
#include <stdio.h>

#include "backend/es/es.h"
#include "daemon/report.h"

void
vd_report_es(const struct vd_es_stats *es)
{
	unsigned i;

	printf("es: AUTH messages %" PRIu64 ", NOTIFY messages %" PRIu64
	       ", kernel drops seen as seq_num gaps %" PRIu64
	       ", retained %" PRIu64 ", released %" PRIu64 "\n",
	    es->auth_messages, es->notify_messages, es->kernel_drops,
	    es->retained, es->released);
	for (i = 1; i < 8; i++)
		if (es->respond_errors[i] != 0)
			printf("es: respond errors %s: %" PRIu64 "\n",
			    vd_es_respond_result_name(i),
			    es->respond_errors[i]);
}

void
vd_report_json_es(const struct vd_es_stats *es)
{
	unsigned i;

	printf(",\"es\":{\"auth_messages\":%" PRIu64
	       ",\"notify_messages\":%" PRIu64 ",\"kernel_drops\":%" PRIu64
	       ",\"retained\":%" PRIu64 ",\"released\":%" PRIu64
	       ",\"respond_errors\":{",
	    es->auth_messages, es->notify_messages, es->kernel_drops,
	    es->retained, es->released);
	for (i = 1; i < 6; i++)
		printf("%s\"%s\":%" PRIu64, i == 1 ? "" : ",",
		    vd_es_respond_result_name(i), es->respond_errors[i]);
	printf("}}");
}
