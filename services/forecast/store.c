/* The Postgres side of services/forecast: one snapshot per request, the data version first
 * (so a cached reply is never keyed by a version newer than its data), then the rollup. */
#include "store.h"

#include "vx/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* JIT compilation costs more than it saves on a query of about a second; the hash aggregate of
 * three years of days x services must not spill to disk. */
static const char BEGIN_SQL[] = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
                                "SET LOCAL jit = off; SET LOCAL work_mem = '32MB'";
static const char VERSION_SQL[] =
    "SELECT version FROM tenant_data_versions WHERE tenant_id = $1::uuid";

vx_status fc_store_begin(PGconn *c, const char *tenant, uint64_t *version, char *err,
                         size_t err_cap)
{
    vx_status st = vx_pg_exec(c, BEGIN_SQL, err, err_cap);
    if (st != VX_OK) {
        if (PQtransactionStatus(c) != PQTRANS_IDLE)
            PQclear(PQexec(c, "ROLLBACK"));
        return st;
    }
    st = vx_pg_set_tenant(c, tenant);
    if (st != VX_OK) {
        vx_errf(err, err_cap, "cannot scope the transaction to the tenant");
        goto fail;
    }
    const char *params[1] = {tenant};
    PGresult *r = PQexecParams(c, VERSION_SQL, 1, NULL, params, NULL, NULL, 0);
    st = vx_pg_result_status(c, r, err, err_cap);
    if (st == VX_OK)
        *version = PQntuples(r) > 0 ? strtoull(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    if (st != VX_OK)
        goto fail;
    return VX_OK;
fail:
    PQclear(PQexec(c, "ROLLBACK"));
    return st;
}

vx_status fc_store_read(PGconn *c, const fc_request *req, fc_rollup *out, char *err, size_t err_cap)
{
    fc_sql q;
    fc_rollup_sql(req, &q);
    PGresult *r = PQexecParams(c, q.sql, q.n_params, NULL, q.params, NULL, NULL, 0);
    fc_sql_cleanup(&q);
    vx_status st = vx_pg_result_status(c, r, err, err_cap);
    if (st != VX_OK) {
        PQclear(r);
        return st;
    }
    if (PQnfields(r) != 6) {
        vx_errf(err, err_cap, "rollup query returned %d columns", PQnfields(r));
        PQclear(r);
        return VX_INTERNAL;
    }
    int rows = PQntuples(r);
    for (int i = 0; i < rows && st == VX_OK; i++) {
        int64_t day = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        uint32_t rank = (uint32_t)strtoul(PQgetvalue(r, i, 1), NULL, 10);
        const char *name = PQgetisnull(r, i, 2) ? NULL : PQgetvalue(r, i, 2);
        double cost = strtod(PQgetvalue(r, i, 3), NULL);
        int64_t records = strtoll(PQgetvalue(r, i, 4), NULL, 10);
        st = fc_rollup_add(out, day, rank, name, cost, records);
        if (st != VX_OK)
            vx_errf(err, err_cap, "rollup row %d is inconsistent (rank %u)", i, rank);
        else if (i == 0)
            snprintf(out->currency, sizeof out->currency, "%s", PQgetvalue(r, i, 5));
    }
    PQclear(r);
    return st == VX_OK ? VX_OK : VX_INTERNAL;
}

void fc_store_end(PGconn *c)
{
    PQclear(PQexec(c, "COMMIT"));
}
