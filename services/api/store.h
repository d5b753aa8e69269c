/* The SQL of services/api behind functions that take and return plain data: API-key lookups,
 * a page of cost records and summary groups (each in the tenant's transaction, so row-level
 * security holds whatever the filters say), and the readiness ping. The only file of the
 * service that talks to Postgres. Every function is thread-safe (the pool is). */
#ifndef VX_API_STORE_H
#define VX_API_STORE_H

#include "handlers/auth.h"
#include "handlers/query.h"
#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vx_pg_pool vx_pg_pool;

/* Looks key_id up (vx_api_key_lookup): VX_OK with *found and, when found, *out filled;
 * VX_UNAVAILABLE when no connection could be had, VX_IO when the database failed the lookup. */
VX_MUST_CHECK vx_status api_store_key_lookup(vx_pg_pool *pool, const char *key_id,
                                             api_key_record *out, bool *found);

/* One cost record as GET /v1/costs shows it. Strings are borrowed from the api_cost_rows that
 * holds the row and live until its cleanup. */
typedef struct {
    const char *charge_period_start; /* recorded_at, ISO-8601 UTC with microseconds */
    int64_t recorded_at_us;          /* the same instant, for the keyset cursor */
    const char *event_id;
    int64_t revision;
    const char *charge_period_end;
    const char *provider, *sub_account_id, *service_name, *service_category, *region_id,
        *resource_id, *charge_category;
    const char *billed_cost, *effective_cost, *list_cost; /* exact decimals */
    const char *billing_currency;
    const char *consumed_quantity, *consumed_unit;
    const char *tags; /* a JSON object */
} api_cost_row;

typedef struct {
    api_cost_row *rows; /* n of them, ordered by (recorded_at, event_id) */
    size_t n;           /* at most the query's limit */
    bool more;          /* another row follows the last: there is a next page */
    void *storage;      /* what the strings point into; the store's */
} api_cost_rows;

/* One group of GET /v1/costs/summary: the values of the query's group_by fields in order, the
 * currency and the sums. Strings are borrowed as above. */
typedef struct {
    const char *group[2];
    const char *billing_currency;
    const char *billed_cost, *effective_cost, *list_cost; /* exact decimals */
    int64_t record_count;
} api_summary_row;

typedef struct {
    api_summary_row *rows;
    size_t n;
    void *storage;
} api_summary_rows;

/* How the queries below fail (err, if err_cap > 0, gets the server's message):
 * VX_UNAVAILABLE  no connection could be had (pool exhausted or database unreachable);
 *                 nothing was asked
 * VX_TIMEOUT      the statement ran past the statement timeout
 * VX_LIMIT        (summary) more than API_MAX_QUERY_ROWS groups
 * VX_IO           the database failed the statement (lost connection, server error) */

/* The page of tenant's records that q selects (api_costs_sql): *out written on VX_OK only;
 * release it with api_cost_rows_cleanup. */
VX_MUST_CHECK vx_status api_store_cost_page(vx_pg_pool *pool, const char *tenant,
                                            const api_query *q, api_cost_rows *out, char *err,
                                            size_t err_cap);
/* Frees what api_store_cost_page returned; NULL storage (fabricated rows) frees nothing. */
void api_cost_rows_cleanup(api_cost_rows *rows);

/* The tenant's summary groups that q selects (api_summary_sql): *out written on VX_OK only;
 * release it with api_summary_rows_cleanup. */
VX_MUST_CHECK vx_status api_store_summary(vx_pg_pool *pool, const char *tenant, const api_query *q,
                                          api_summary_rows *out, char *err, size_t err_cap);
void api_summary_rows_cleanup(api_summary_rows *rows);

/* Whether Postgres can be reached now (for /readyz); writes the reason if not. */
bool api_store_ping(vx_pg_pool *pool, char *why, size_t why_cap);

#endif
