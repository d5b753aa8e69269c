/* The read endpoints' request rules, pure: validating GET /v1/costs and /v1/costs/summary
 * parameters, the opaque keyset cursor (HMAC-signed, bound to its tenant and query), and the
 * parameterized SQL each runs. Never string-formats a value into SQL. Thread-compatible. */
#ifndef VX_API_QUERY_H
#define VX_API_QUERY_H

#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_MAX_RANGE_DAYS 366
#define API_MAX_QUERY_ROWS 10000 /* MAX_QUERY_ROWS of DESIGN.md */
#define API_DEFAULT_LIMIT 1000
#define API_MAX_FILTER_BYTES 256

/* Looks up a decoded query parameter by name; NULL when absent. */
typedef const char *(*api_param_fn)(void *ctx, const char *name);

typedef enum {
    API_FILTER_SERVICE,
    API_FILTER_REGION,
    API_FILTER_ACCOUNT,
    API_FILTER_PROVIDER,
    API_FILTER_COUNT
} api_filter;

typedef enum {
    API_GROUP_DAY,
    API_GROUP_SERVICE,
    API_GROUP_REGION,
    API_GROUP_ACCOUNT,
    API_GROUP_PROVIDER
} api_group;

typedef struct {
    int64_t from_s, to_s;                  /* [from, to), Unix seconds, UTC midnight or time */
    const char *filters[API_FILTER_COUNT]; /* borrowed from the request; NULL = no filter */
    int limit;
    bool has_cursor;
    int64_t after_us;      /* keyset position: recorded_at in microseconds... */
    char after_event[37];  /* ...and event_id */
    api_group group_by[2]; /* summary only */
    int n_group_by;
} api_query;

/* Why a request is refused: the parameter's name and what is wrong with it, for a problem
 * body's detail. */
typedef struct {
    char param[32];
    char detail[200];
} api_refusal;

/* Fills *why (the parameter's name and what is wrong with it) and returns VX_INVALID. */
vx_status api_refuse(api_refusal *why, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Validates GET /v1/costs parameters: from and to required (ISO dates or times, from < to, at
 * most 366 days apart), service/region/account/provider optional, limit 1..10000 (default
 * 1000), cursor optional (verified with `secret` against tenant and the other parameters).
 * VX_INVALID with *why filled otherwise. */
vx_status api_costs_query_parse(api_param_fn get, void *ctx, const char *tenant,
                                const uint8_t *secret, size_t secret_len, api_query *q,
                                api_refusal *why);

/* Validates GET /v1/costs/summary parameters: from, to and filters as above, group_by one or
 * two of day, service, region, account, provider (comma-separated, no repeats). */
vx_status api_summary_query_parse(api_param_fn get, void *ctx, api_query *q, api_refusal *why);

/* The cursor pointing after (recorded_at_us, event_id) for this tenant and query, written
 * into out (at least API_CURSOR_MAX bytes). */
#define API_CURSOR_MAX 256
void api_cursor_encode(const api_query *q, const char *tenant, int64_t recorded_at_us,
                       const char *event_id, const uint8_t *secret, size_t secret_len, char *out);

/* Parameterized SQL and its text parameters ($1 is always the tenant). The statement text is
 * static or in `sql`; params point into q, tenant or `storage`. */
typedef struct {
    char sql[2048];
    const char *params[12];
    int n_params;
    char storage[4][40];
} api_sql;

/* Rows of one page, limit + 1 of them so the caller knows whether there is a next page,
 * ordered by (recorded_at, event_id). Columns: recorded_at (ISO), event_id, then the FOCUS
 * fields; see api_costs_columns. */
void api_costs_sql(const api_query *q, const char *tenant, api_sql *out);
/* Sums from the daily rollup grouped by q->group_by and currency, at most API_MAX_QUERY_ROWS +
 * 1 rows (the caller refuses more: the range is too wide). Columns: the group columns in
 * order, billing_currency, billed, effective, list, record_count. */
void api_summary_sql(const api_query *q, const char *tenant, api_sql *out);

const char *api_group_name(api_group g);

#endif
