/* What services/forecast reads from the daily rollup: the SQL (parameters only, built from a
 * validated request) and the rows it returns, one per day and ranked service, with the
 * services outside the top summed together. Pure: no I/O. */
#ifndef VX_FORECAST_ROLLUP_H
#define VX_FORECAST_ROLLUP_H

#include "request.h"

#include <stddef.h>
#include <stdint.h>

/* $1 tenant, $2 from, $3 to, $4 top N, then one per filter list and the currency. */
#define FC_SQL_MAX_PARAMS (4 + VX_CONTRACT_FILTER_COUNT + 1)

typedef struct {
    char sql[2048];
    const char *params[FC_SQL_MAX_PARAMS];
    int n_params;
    /* storage the parameters point into */
    char from[11], to[11], top[12];
    char *arrays[VX_CONTRACT_FILTER_COUNT]; /* Postgres array literals, owned */
} fc_sql;

/* The statement that reads the request's window of cost_daily for its tenant: sums of the
 * chosen cost and of record_count per day and service in one currency (the requested one, or
 * the one with the most spend), the top N services by spend ranked 1..N and the rest as rank 0.
 * Columns: day (days since 1970-01-01), rank, service name (NULL for rank 0), cost (float8),
 * records (bigint), currency; ordered by day and rank. fc_sql_cleanup frees it. Ties in spend
 * rank by name in byte order. */
void fc_rollup_sql(const fc_request *req, fc_sql *out);
void fc_sql_cleanup(fc_sql *s);

typedef struct {
    int64_t day;
    uint32_t rank; /* 1..n_top; 0: the services outside the top, summed */
    double cost;
    int64_t records;
} fc_row;

/* The rows read, in day order. */
typedef struct {
    char currency[4]; /* "" when no row was read */
    uint64_t records; /* sum of record_count behind the rows */
    size_t n_top;     /* services ranked 1..n_top */
    char **top_names; /* [n_top], owned; NULL entries until named */
    fc_row *rows;     /* owned */
    size_t n_rows, cap;
} fc_rollup;

void fc_rollup_init(fc_rollup *r);
void fc_rollup_cleanup(fc_rollup *r);
/* Adds a row; a rank above FC_MAX_TOP_SERVICES is refused (VX_INVALID), as is a name given
 * for rank 0 or a different one for a rank already named. `name` (may be NULL) is copied. */
vx_status fc_rollup_add(fc_rollup *r, int64_t day, uint32_t rank, const char *name, double cost,
                        int64_t records);

#endif
