/* The bodies of GET /v1/costs and GET /v1/costs/summary, rendered from the store's rows: pure
 * (no I/O), so they test with fabricated rows. Thread-safe. */
#ifndef VX_API_COSTS_JSON_H
#define VX_API_COSTS_JSON_H

#include "query.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* {"data":[records...],"next_cursor":...}: each row's FOCUS fields, Revision and Tags, and
 * when rows->more the cursor after the last row (bound to tenant and q with secret), null
 * otherwise. Returns JSON text the caller frees with vx_free. */
char *api_render_costs(const api_cost_rows *rows, const api_query *q, const char *tenant,
                       const uint8_t *secret, size_t secret_len);

/* {"group_by":[names...],"data":[groups...]}: each group's q->group_by values under their
 * names, BillingCurrency, the three costs and RecordCount. Returns JSON text the caller frees
 * with vx_free. */
char *api_render_summary(const api_summary_rows *rows, const api_query *q);

#endif
