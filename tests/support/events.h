/* Building cost events in tests, and the check that the daily rollup equals the sums of the
 * ledger, shared by the ledger, handler and ingest tests. Header-only. */
#ifndef VX_TEST_EVENTS_H
#define VX_TEST_EVENTS_H

#include "vx/cost.h"
#include "vx/pb.h"
#include "vx/uuid.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* An event with its own storage: effective and list cost are left out (they default to the
 * billed cost), usage quantity too. */
typedef struct {
    vx_cost_event ev;
    Valdrix__V1__Money billed;
    char event_id[37], tenant_id[37], service[64];
} vx_test_event;

static inline void vx_test_event_fill(vx_test_event *t, const char *tenant, const char *event_id,
                                      int64_t start, int64_t units, int32_t nanos,
                                      uint32_t revision, const char *service)
{
    memset(t, 0, sizeof *t);
    valdrix__v1__cost_event__init(&t->ev);
    valdrix__v1__money__init(&t->billed);
    snprintf(t->tenant_id, sizeof t->tenant_id, "%.36s", tenant);
    snprintf(t->event_id, sizeof t->event_id, "%.36s", event_id);
    snprintf(t->service, sizeof t->service, "%.63s", service);
    t->ev.event_id = t->event_id;
    t->ev.tenant_id = t->tenant_id;
    t->ev.provider = vx_pb_str("AWS");
    t->ev.sub_account_id = vx_pb_str("123456789012");
    t->ev.service_name = t->service;
    t->ev.service_category = vx_pb_str("Compute");
    t->ev.region_id = vx_pb_str("us-east-1");
    t->ev.resource_id = vx_pb_str("i-0abc");
    t->ev.charge_category = vx_pb_str("Usage");
    t->ev.billing_currency = vx_pb_str("USD");
    t->ev.usage_unit = vx_pb_str("Hrs");
    t->ev.charge_period_start = start;
    t->ev.charge_period_end = start + 3600;
    t->billed.units = units;
    t->billed.nanos = nanos;
    t->ev.billed_cost = &t->billed;
    t->ev.revision = revision;
}

static inline void vx_test_uuid(char *out)
{
    vx_uuid u;
    vx_uuid_v4(&u);
    vx_uuid_format(&u, out);
}

/* Rows where the daily rollups of tenant $1 (cost_daily, and cost_daily_service kept from it by
 * triggers) differ from the sums of its ledger rows (0 when they agree). Run as the owner. */
#define VX_TEST_ROLLUP_MISMATCH_SQL                                                                \
    "SELECT (SELECT count(*) FROM ("                                                               \
    " SELECT (recorded_at AT TIME ZONE 'UTC')::date AS day, service_name, sub_account_id, "        \
    "  region_id, provider, billing_currency, sum(billed_cost) b, sum(effective_cost) e, "         \
    "  sum(list_cost) l, count(*) n FROM cost_records WHERE tenant_id = $1 GROUP BY 1,2,3,4,5,6"   \
    " ) r FULL JOIN (SELECT * FROM cost_daily WHERE tenant_id = $1 AND record_count <> 0) d"       \
    " USING (day, service_name, sub_account_id, region_id, provider, billing_currency)"            \
    " WHERE r.b IS DISTINCT FROM d.billed_cost OR r.e IS DISTINCT FROM d.effective_cost"           \
    "  OR r.l IS DISTINCT FROM d.list_cost OR r.n IS DISTINCT FROM d.record_count) + "             \
    "(SELECT count(*) FROM ("                                                                      \
    " SELECT (recorded_at AT TIME ZONE 'UTC')::date AS day, service_name, billing_currency, "      \
    "  sum(billed_cost) b, sum(effective_cost) e, sum(list_cost) l, count(*) n "                   \
    "  FROM cost_records WHERE tenant_id = $1 GROUP BY 1,2,3"                                      \
    " ) r FULL JOIN (SELECT * FROM cost_daily_service WHERE tenant_id = $1 AND record_count <> "   \
    "0) d"                                                                                         \
    " USING (day, service_name, billing_currency)"                                                 \
    " WHERE r.b IS DISTINCT FROM d.billed_cost OR r.e IS DISTINCT FROM d.effective_cost"           \
    "  OR r.l IS DISTINCT FROM d.list_cost OR r.n IS DISTINCT FROM d.record_count)"

#endif
