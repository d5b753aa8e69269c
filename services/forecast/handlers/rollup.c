/* The rollup statement of services/forecast and the rows it returns. */
#include "rollup.h"

#include "vx/alloc.h"
#include "vx/buf.h"

#include <stdio.h>
#include <string.h>

/* {"a","b\"c"}: every element quoted, '"' and '\' escaped. */
static char *array_literal(char *const *values, size_t n)
{
    vx_buf b;
    vx_buf_init(&b);
    vx_buf_putc(&b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            vx_buf_putc(&b, ',');
        vx_buf_putc(&b, '"');
        for (const char *p = values[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                vx_buf_putc(&b, '\\');
            vx_buf_putc(&b, *p);
        }
        vx_buf_putc(&b, '"');
    }
    vx_buf_putc(&b, '}');
    return vx_buf_take(&b, NULL);
}

static void append(fc_sql *s, const char *text)
{
    size_t n = strlen(s->sql);
    snprintf(s->sql + n, sizeof s->sql - n, "%s", text);
}

void fc_rollup_sql(const fc_request *req, fc_sql *out)
{
    memset(out, 0, sizeof *out);
    vx_contract_day_format(req->scope.from_day, out->from);
    vx_contract_day_format(req->scope.to_day, out->to);
    snprintf(out->top, sizeof out->top, "%u", req->top_services);
    out->params[out->n_params++] = req->scope.tenant_id;
    out->params[out->n_params++] = out->from;
    out->params[out->n_params++] = out->to;
    out->params[out->n_params++] = out->top;
    /* The column and table names are constants, never text from the request. Amounts are
     * summed exactly (numeric) and turned into float8 once per group: a cast per row costs
     * more than the sum. Without an account, provider or region filter the per-service
     * rollup has every number needed, in a fraction of the rows. */
    bool by_service_only = true;
    for (int f = 0; f < VX_CONTRACT_FILTER_COUNT; f++)
        if (f != VX_CONTRACT_FILTER_SERVICE && req->scope.n_filter[f] > 0)
            by_service_only = false;
    snprintf(out->sql, sizeof out->sql,
             "WITH base AS MATERIALIZED (SELECT day, service_name, billing_currency, "
             "sum(%s) AS c, sum(record_count) AS r FROM %s "
             "WHERE tenant_id = $1::uuid AND day >= $2::date AND day < $3::date",
             vx_contract_cost_column(req->scope.cost),
             by_service_only ? "cost_daily_service" : "cost_daily");
    char ref[64];
    for (int f = 0; f < VX_CONTRACT_FILTER_COUNT; f++) {
        if (req->scope.n_filter[f] == 0)
            continue;
        out->arrays[f] = array_literal(req->scope.filter[f], req->scope.n_filter[f]);
        out->params[out->n_params++] = out->arrays[f];
        snprintf(ref, sizeof ref, " AND %s = ANY($%d::text[])",
                 vx_contract_filter_column((vx_contract_filter)f), out->n_params);
        append(out, ref);
    }
    if (req->scope.currency[0] != '\0') {
        out->params[out->n_params++] = req->scope.currency;
        snprintf(ref, sizeof ref, " AND billing_currency = $%d", out->n_params);
        append(out, ref);
    }
    /* The top N are ranked on the grouped rows (one per service) and joined back; ties go to
     * the name in byte order, so the choice does not depend on the database's collation. */
    append(out,
           " GROUP BY day, service_name, billing_currency), "
           "cur AS (SELECT billing_currency FROM base GROUP BY billing_currency "
           "ORDER BY sum(c) DESC, billing_currency LIMIT 1), "
           "top AS (SELECT service_name, row_number() OVER (ORDER BY sum(c) DESC, "
           "service_name COLLATE \"C\") AS rk FROM base "
           "WHERE billing_currency = (SELECT billing_currency FROM cur) GROUP BY service_name) "
           "SELECT b.day - date '1970-01-01', COALESCE(t.rk, 0), t.service_name, "
           "sum(b.c)::float8, sum(b.r)::bigint, (SELECT billing_currency FROM cur) "
           "FROM base b LEFT JOIN top t ON t.service_name = b.service_name AND t.rk <= $4::int "
           "WHERE b.billing_currency = (SELECT billing_currency FROM cur) "
           "GROUP BY 1, 2, 3 ORDER BY 1, 2");
}

void fc_sql_cleanup(fc_sql *s)
{
    for (int f = 0; f < VX_CONTRACT_FILTER_COUNT; f++)
        vx_free(s->arrays[f]);
    memset(s, 0, sizeof *s);
}

void fc_rollup_init(fc_rollup *r)
{
    memset(r, 0, sizeof *r);
    r->top_names = vx_xcalloc(FC_MAX_TOP_SERVICES, sizeof *r->top_names);
}

void fc_rollup_cleanup(fc_rollup *r)
{
    if (r->top_names != NULL)
        for (size_t i = 0; i < FC_MAX_TOP_SERVICES; i++)
            vx_free(r->top_names[i]);
    vx_free(r->top_names);
    vx_free(r->rows);
    memset(r, 0, sizeof *r);
}

vx_status fc_rollup_add(fc_rollup *r, int64_t day, uint32_t rank, const char *name, double cost,
                        int64_t records)
{
    if (rank > FC_MAX_TOP_SERVICES || (rank == 0 && name != NULL) || records < 0)
        return VX_INVALID;
    if (rank > 0) {
        char **slot = &r->top_names[rank - 1];
        if (name == NULL || (*slot != NULL && strcmp(*slot, name) != 0))
            return VX_INVALID;
        if (*slot == NULL)
            *slot = vx_xstrdup(name);
        if (rank > r->n_top)
            r->n_top = rank;
    }
    if (r->n_rows == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 1024;
        r->rows = vx_xrealloc(r->rows, r->cap * sizeof *r->rows);
    }
    r->rows[r->n_rows++] = (fc_row){.day = day, .rank = rank, .cost = cost, .records = records};
    r->records += (uint64_t)records;
    return VX_OK;
}
