/* What services/llm reads from and writes to Postgres, always as the tenant (row-level
 * security): the tenant's plan, LLM budget and data version, the per-service sums of the daily
 * rollup for a request, and the LLM usage ledger. Thread-safe (each call borrows a connection
 * from the pool). */
#ifndef VX_LLM_SVC_STORE_H
#define VX_LLM_SVC_STORE_H

#include "handlers/context.h"
#include "handlers/request.h"
#include "vx/pg.h"

#include <stdbool.h>
#include <stdint.h>

/* Rows read for one request at most (MAX_QUERY_ROWS). */
#define LLM_STORE_MAX_ROWS 10000

typedef struct {
    char plan[16];
    char budget_usd[48]; /* tenants.llm_budget_usd as text; "" when NULL */
    bool has_budget;
    uint64_t data_version; /* 0 when the tenant has no data yet */
} llm_tenant_info;

/* One read-only transaction as one tenant, on a connection borrowed from the pool: what an
 * insight request reads (the tenant, then, unless the cache answers, the rollup) shares one
 * BEGIN/COMMIT. Not thread-safe (one per request). */
typedef struct llm_store_tx llm_store_tx;

/* VX_UNAVAILABLE / VX_TIMEOUT (err) when no connection or transaction can be had. */
vx_status llm_store_open(vx_pg_pool *pool, const char *tenant_id, llm_store_tx **out, char *err,
                         size_t err_cap);
/* Commits and returns the connection (broken if the transaction failed). NULL is fine. */
void llm_store_close(llm_store_tx *tx);

/* VX_NOT_FOUND when there is no such tenant; VX_UNAVAILABLE / VX_TIMEOUT / VX_INTERNAL (err)
 * as vx_pg_exec says. */
vx_status llm_store_tenant(llm_store_tx *tx, llm_tenant_info *out, char *err, size_t err_cap);

/* The sums of req's cost column per service and currency over the window, the previous period
 * of the same length, the last 7 days and the 7 before, within req's filters (and currency, if
 * given), into *rows; when req has a focus, the sums of the focus (per currency) into *focus.
 * At most LLM_STORE_MAX_ROWS rows (rows->truncated says the limit was hit; the largest are
 * kept). The lists are appended to; the caller cleans them up on every outcome. */
vx_status llm_store_rows(llm_store_tx *tx, const llm_req *req, llm_rows *rows, llm_rows *focus,
                         char *err, size_t err_cap);

/* One ledger row. */
typedef struct {
    const char *tenant_id;
    int64_t reserved_at_ms; /* Unix ms: the row's created_at, i.e. its budget month */
    const char *provider;
    const char *model;
    uint64_t input_tokens, output_tokens;
    uint64_t cost_micro_usd;
    int64_t latency_ms;
    const char *outcome;
    const char *request_id; /* UUID; may be NULL */
    const char *trace_id;   /* 32 hex digits; may be NULL */
} llm_usage_row;

vx_status llm_store_usage(vx_pg_pool *pool, const llm_usage_row *u, char *err, size_t err_cap);

/* SUM(cost) of the tenant's ledger rows in month "YYYY-MM" (UTC), in micro-USD. */
vx_status llm_store_month_spent(vx_pg_pool *pool, const char *tenant_id, const char *month,
                                uint64_t *micro, char *err, size_t err_cap);

#endif
