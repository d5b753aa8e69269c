/* Names of the cost-event streams and subjects every part agrees on (DESIGN.md, Subjects). Each
 * can be overridden through the environment variable named beside it. */
#ifndef VX_SUBJECTS_H
#define VX_SUBJECTS_H

#define VX_DEFAULT_EVENTS_STREAM "COST_EVENTS"       /* VX_INGEST_STREAM */
#define VX_DEFAULT_EVENTS_SUBJECT "cost.events"      /* VX_INGEST_SUBJECT; + ".<tenant_id>" */
#define VX_DEFAULT_DLQ_STREAM "COST_DLQ"             /* VX_DLQ_STREAM */
#define VX_DEFAULT_DLQ_SUBJECT "cost.deadletter"     /* VX_DLQ_SUBJECT; + ".<tenant_id>" */
#define VX_DEFAULT_CHANGED_SUBJECT "valdrix.changed" /* VX_CHANGED_SUBJECT; + ".<tenant_id>" */
#define VX_DEFAULT_DUPLICATE_WINDOW_MS 300000        /* VX_DUPLICATE_WINDOW */
#define VX_DEFAULT_DUPLICATE_WINDOW "5m"             /* the same, as a settings-table default */

#endif
