/* services/forecast's reads from Postgres: the tenant's data version and the window of the
 * daily rollup, in one read-only snapshot with row-level security set to the tenant. */
#ifndef VX_FORECAST_STORE_H
#define VX_FORECAST_STORE_H

#include "handlers/rollup.h"

#include <libpq-fe.h>
#include <stdint.h>

/* Opens a read-only REPEATABLE READ transaction scoped to `tenant` and reads its data version
 * (0 when ingest never wrote for it). Statuses as vx_pg_exec; on failure no transaction is
 * left open. */
vx_status fc_store_begin(PGconn *c, const char *tenant, uint64_t *version, char *err,
                         size_t err_cap);
/* Reads the request's rows (fc_rollup_sql) in that transaction into *out (initialized by the
 * caller). Statuses as vx_pg_exec; VX_INTERNAL for a result of an unexpected shape. */
vx_status fc_store_read(PGconn *c, const fc_request *req, fc_rollup *out, char *err,
                        size_t err_cap);
/* Ends the transaction. */
void fc_store_end(PGconn *c);

#endif
