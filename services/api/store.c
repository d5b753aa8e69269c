/* The SQL of services/api (store.h): statements from handlers/query.c run on the pool, their
 * results turned into plain rows that point into the PGresult they came from. */
#include "store.h"

#include "vx/alloc.h"
#include "vx/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

vx_status api_store_key_lookup(vx_pg_pool *pool, const char *key_id, api_key_record *out,
                               bool *found)
{
    PGconn *pg;
    if (vx_pg_acquire(pool, &pg) != VX_OK)
        return VX_UNAVAILABLE;
    const char *params[1] = {key_id};
    PGresult *r =
        PQexecParams(pg,
                     "SELECT tenant_id::text, encode(secret_sha256, 'hex'), revoked, plan, "
                     "coalesce(api_per_min, 0), coalesce(llm_per_day, 0), "
                     "coalesce(remediation_per_hour, 0) FROM vx_api_key_lookup($1)",
                     1, NULL, params, NULL, NULL, 0);
    vx_status st = vx_pg_result_status(pg, r, NULL, 0);
    vx_pg_release(pool, pg, st == VX_UNAVAILABLE);
    if (st != VX_OK) {
        PQclear(r);
        return VX_IO;
    }
    *found = PQntuples(r) == 1;
    if (*found) {
        api_key_record *k = out;
        snprintf(k->tenant_id, sizeof k->tenant_id, "%s", PQgetvalue(r, 0, 0));
        const char *hex = PQgetvalue(r, 0, 1);
        for (int i = 0; i < 32; i++) {
            unsigned v = 0;
            sscanf(hex + 2 * i, "%2x", &v);
            k->secret_sha256[i] = (uint8_t)v;
        }
        k->revoked = strcmp(PQgetvalue(r, 0, 2), "t") == 0;
        snprintf(k->plan, sizeof k->plan, "%s", PQgetvalue(r, 0, 3));
        k->api_per_min = atoi(PQgetvalue(r, 0, 4));
        k->llm_per_day = atoi(PQgetvalue(r, 0, 5));
        k->remediation_per_hour = atoi(PQgetvalue(r, 0, 6));
    }
    PQclear(r);
    return VX_OK;
}

/* Runs s in the tenant's transaction: the rows on VX_OK, NULL and a status of store.h
 * otherwise. */
static PGresult *query(vx_pg_pool *pool, const char *tenant, const api_sql *s, vx_status *status,
                       char *err, size_t err_cap)
{
    PGconn *pg;
    if (vx_pg_acquire(pool, &pg) != VX_OK) {
        vx_errf(err, err_cap, "no connection to the database");
        *status = VX_UNAVAILABLE;
        return NULL;
    }
    vx_status st = vx_pg_begin_tenant(pg, tenant);
    PGresult *r = NULL;
    if (st == VX_OK) {
        r = PQexecParams(pg, s->sql, s->n_params, NULL, s->params, NULL, NULL, 0);
        st = vx_pg_result_status(pg, r, err, err_cap);
    } else
        vx_errf(err, err_cap, "cannot begin the tenant's transaction: %s", vx_status_str(st));
    /* Only reads: the rows stand whatever COMMIT says, but a connection that cannot end its
     * transaction is not reused. */
    bool ended = vx_pg_exec(pg, st == VX_OK ? "COMMIT" : "ROLLBACK", NULL, 0) == VX_OK;
    vx_pg_release(pool, pg, st == VX_UNAVAILABLE || !ended);
    if (st == VX_OK) {
        *status = VX_OK;
        return r;
    }
    PQclear(r);
    *status = st == VX_TIMEOUT ? VX_TIMEOUT : VX_IO;
    return NULL;
}

static int64_t int_at(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

vx_status api_store_cost_page(vx_pg_pool *pool, const char *tenant, const api_query *q,
                              api_cost_rows *out, char *err, size_t err_cap)
{
    api_sql s;
    api_costs_sql(q, tenant, &s);
    vx_status st;
    PGresult *r = query(pool, tenant, &s, &st, err, err_cap);
    if (!r)
        return st;
    int n = PQntuples(r);
    int page = n > q->limit ? q->limit : n;
    api_cost_row *rows = vx_xcalloc(page > 0 ? (size_t)page : 1, sizeof *rows);
    for (int i = 0; i < page; i++) {
        api_cost_row *w = &rows[i];
        w->charge_period_start = PQgetvalue(r, i, 0);
        w->recorded_at_us = int_at(r, i, 1);
        w->event_id = PQgetvalue(r, i, 2);
        w->revision = int_at(r, i, 3);
        w->charge_period_end = PQgetvalue(r, i, 4);
        w->provider = PQgetvalue(r, i, 5);
        w->sub_account_id = PQgetvalue(r, i, 6);
        w->service_name = PQgetvalue(r, i, 7);
        w->service_category = PQgetvalue(r, i, 8);
        w->region_id = PQgetvalue(r, i, 9);
        w->resource_id = PQgetvalue(r, i, 10);
        w->charge_category = PQgetvalue(r, i, 11);
        w->billed_cost = PQgetvalue(r, i, 12);
        w->effective_cost = PQgetvalue(r, i, 13);
        w->list_cost = PQgetvalue(r, i, 14);
        w->billing_currency = PQgetvalue(r, i, 15);
        w->consumed_quantity = PQgetvalue(r, i, 16);
        w->consumed_unit = PQgetvalue(r, i, 17);
        w->tags = PQgetvalue(r, i, 18);
    }
    *out = (api_cost_rows){.rows = rows, .n = (size_t)page, .more = n > q->limit, .storage = r};
    return VX_OK;
}

void api_cost_rows_cleanup(api_cost_rows *rows)
{
    if (!rows || !rows->storage)
        return;
    PQclear(rows->storage);
    vx_free(rows->rows);
    *rows = (api_cost_rows){0};
}

vx_status api_store_summary(vx_pg_pool *pool, const char *tenant, const api_query *q,
                            api_summary_rows *out, char *err, size_t err_cap)
{
    api_sql s;
    api_summary_sql(q, tenant, &s);
    vx_status st;
    PGresult *r = query(pool, tenant, &s, &st, err, err_cap);
    if (!r)
        return st;
    int n = PQntuples(r);
    if (n > API_MAX_QUERY_ROWS) {
        PQclear(r);
        vx_errf(err, err_cap, "more than %d groups", API_MAX_QUERY_ROWS);
        return VX_LIMIT;
    }
    int g = q->n_group_by;
    api_summary_row *rows = vx_xcalloc(n > 0 ? (size_t)n : 1, sizeof *rows);
    for (int i = 0; i < n; i++) {
        api_summary_row *w = &rows[i];
        for (int k = 0; k < g; k++)
            w->group[k] = PQgetvalue(r, i, k);
        w->billing_currency = PQgetvalue(r, i, g);
        w->billed_cost = PQgetvalue(r, i, g + 1);
        w->effective_cost = PQgetvalue(r, i, g + 2);
        w->list_cost = PQgetvalue(r, i, g + 3);
        w->record_count = int_at(r, i, g + 4);
    }
    *out = (api_summary_rows){.rows = rows, .n = (size_t)n, .storage = r};
    return VX_OK;
}

void api_summary_rows_cleanup(api_summary_rows *rows)
{
    if (!rows || !rows->storage)
        return;
    PQclear(rows->storage);
    vx_free(rows->rows);
    *rows = (api_summary_rows){0};
}

bool api_store_ping(vx_pg_pool *pool, char *why, size_t why_cap)
{
    return vx_pg_pool_ping(pool, why, why_cap);
}
