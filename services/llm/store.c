/* Postgres reads and writes of services/llm; every one in a transaction scoped to the tenant. */
#include "store.h"

#include "handlers/budget_rules.h"
#include "vx/alloc.h"
#include "vx/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A connection in a transaction that sees only `tenant_id`. */
static vx_status begin(vx_pg_pool *pool, const char *tenant_id, PGconn **out, char *err, size_t cap)
{
    PGconn *c;
    vx_status st = vx_pg_acquire(pool, &c);
    if (st != VX_OK) {
        char why[256];
        vx_pg_pool_last_error(pool, why, sizeof why);
        vx_errf(err, cap, "postgres: %s", why[0] ? why : vx_status_str(st));
        return st;
    }
    st = vx_pg_begin_tenant(c, tenant_id);
    if (st != VX_OK) {
        vx_errf(err, cap, "postgres: cannot begin a transaction: %s", PQerrorMessage(c));
        vx_pg_release(pool, c, true);
        return st;
    }
    *out = c;
    return VX_OK;
}

/* Commits on success, rolls back otherwise; returns the connection. */
static vx_status finish(vx_pg_pool *pool, PGconn *c, vx_status st, char *err, size_t cap)
{
    if (st == VX_OK)
        st = vx_pg_exec(c, "COMMIT", err, cap);
    vx_pg_release(pool, c, st == VX_UNAVAILABLE || st == VX_TIMEOUT);
    return st;
}

static PGresult *query(PGconn *c, const char *sql, int n, const char *const *params, vx_status *st,
                       char *err, size_t cap)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    *st = vx_pg_result_status(c, r, err, cap);
    if (*st != VX_OK) {
        PQclear(r);
        return NULL;
    }
    return r;
}

struct llm_store_tx {
    vx_pg_pool *pool;
    PGconn *conn;
    char tenant_id[40];
    vx_status st; /* the first failure inside the transaction */
};

vx_status llm_store_open(vx_pg_pool *pool, const char *tenant_id, llm_store_tx **out, char *err,
                         size_t err_cap)
{
    PGconn *c;
    vx_status st = begin(pool, tenant_id, &c, err, err_cap);
    if (st != VX_OK)
        return st;
    llm_store_tx *tx = vx_xcalloc(1, sizeof *tx);
    tx->pool = pool;
    tx->conn = c;
    snprintf(tx->tenant_id, sizeof tx->tenant_id, "%s", tenant_id);
    *out = tx;
    return VX_OK;
}

void llm_store_close(llm_store_tx *tx)
{
    if (tx == NULL)
        return;
    finish(tx->pool, tx->conn, tx->st, NULL, 0);
    vx_free(tx);
}

/* Remembers a failure: the transaction is then rolled back and the connection checked. */
static vx_status track(llm_store_tx *tx, vx_status st)
{
    if (st != VX_OK && st != VX_NOT_FOUND && tx->st == VX_OK)
        tx->st = st;
    return st;
}

vx_status llm_store_tenant(llm_store_tx *tx, llm_tenant_info *out, char *err, size_t err_cap)
{
    if (tx->st != VX_OK)
        return tx->st;
    vx_status st;
    const char *p[1] = {tx->tenant_id};
    PGresult *r = query(tx->conn,
                        "SELECT t.plan, t.llm_budget_usd::text, coalesce((SELECT v.version FROM "
                        "tenant_data_versions v WHERE v.tenant_id = t.id), 0) "
                        "FROM tenants t WHERE t.id = $1::uuid",
                        1, p, &st, err, err_cap);
    if (r == NULL)
        return track(tx, st);
    if (PQntuples(r) == 0) {
        PQclear(r);
        return VX_NOT_FOUND;
    }
    llm_tenant_info info;
    memset(&info, 0, sizeof info);
    snprintf(info.plan, sizeof info.plan, "%s", PQgetvalue(r, 0, 0));
    info.has_budget = !PQgetisnull(r, 0, 1);
    if (info.has_budget)
        snprintf(info.budget_usd, sizeof info.budget_usd, "%s", PQgetvalue(r, 0, 1));
    info.data_version = strtoull(PQgetvalue(r, 0, 2), NULL, 10);
    PQclear(r);
    *out = info;
    return VX_OK;
}

/* A text[] literal of the values, or NULL for no filter. */
static char *array_literal(char *const *v, size_t n, vx_buf *b)
{
    if (n == 0)
        return NULL;
    vx_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            vx_buf_putc(b, ',');
        vx_buf_putc(b, '"');
        for (const char *s = v[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                vx_buf_putc(b, '\\');
            vx_buf_putc(b, *s);
        }
        vx_buf_putc(b, '"');
    }
    vx_buf_putc(b, '}');
    return b->data;
}

/* The sums of one cost column over the four periods; $1 tenant, $2 from, $3 to, $4 start of
 * the previous period, $5 start of the last 7 days, $6 start of the 7 before, $7..$10 the
 * filters, $11 the currency (NULL: every currency). */
#define SUMS(col)                                                                                  \
    "sum(" col ") FILTER (WHERE day >= $2::date AND day < $3::date) AS amount, "                   \
    "sum(" col ") FILTER (WHERE day >= $4::date AND day < $2::date) AS previous, "                 \
    "sum(" col ") FILTER (WHERE day >= $5::date AND day < $3::date) AS week, "                     \
    "sum(" col ") FILTER (WHERE day >= $6::date AND day < $5::date) AS prior_week "
#define WHERE                                                                                      \
    "FROM cost_daily WHERE tenant_id = $1::uuid AND day >= least($4::date, $6::date) "             \
    "AND day < $3::date "                                                                          \
    "AND ($7::text[] IS NULL OR service_name = ANY ($7::text[])) "                                 \
    "AND ($8::text[] IS NULL OR sub_account_id = ANY ($8::text[])) "                               \
    "AND ($9::text[] IS NULL OR provider = ANY ($9::text[])) "                                     \
    "AND ($10::text[] IS NULL OR region_id = ANY ($10::text[])) "                                  \
    "AND ($11::text IS NULL OR billing_currency = $11::text) "
#define ROWS_SQL(col)                                                                              \
    "SELECT service_name, billing_currency, amount::text, previous::text, week::text, "            \
    "prior_week::text FROM (SELECT service_name, billing_currency, " SUMS(col) WHERE               \
        "GROUP BY service_name, billing_currency) q "                                              \
        "ORDER BY greatest(abs(coalesce(amount, 0)), abs(coalesce(previous, 0))) DESC, "           \
        "service_name, billing_currency LIMIT 10001"
#define FOCUS_SQL(col)                                                                             \
    "SELECT billing_currency, amount::text, previous::text, week::text, prior_week::text "         \
    "FROM (SELECT billing_currency, " SUMS(col) WHERE                                              \
        "AND ($12::text = '' OR service_name = $12::text) "                                        \
        "AND ($13::text = '' OR sub_account_id = $13::text) GROUP BY billing_currency) q "         \
        "ORDER BY billing_currency"

static const char *const rows_sql[] = {ROWS_SQL("effective_cost"), ROWS_SQL("billed_cost"),
                                       ROWS_SQL("list_cost")};
static const char *const focus_sql[] = {FOCUS_SQL("effective_cost"), FOCUS_SQL("billed_cost"),
                                        FOCUS_SQL("list_cost")};

static bool sums_of(PGresult *r, int row, int col0, vx_money out[4])
{
    for (int k = 0; k < 4; k++) {
        const char *v = PQgetisnull(r, row, col0 + k) ? NULL : PQgetvalue(r, row, col0 + k);
        if (!llm_money_from_text(v, &out[k]))
            return false;
    }
    return true;
}

vx_status llm_store_rows(llm_store_tx *tx, const llm_req *req, llm_rows *rows, llm_rows *focus,
                         char *err, size_t err_cap)
{
    if (tx->st != VX_OK)
        return tx->st;
    PGconn *c = tx->conn;
    int64_t len = req->scope.to_day - req->scope.from_day;
    char prev[11], week[11], prior[11];
    vx_contract_day_format(req->scope.from_day - len, prev);
    vx_contract_day_format(req->scope.to_day - 7, week);
    vx_contract_day_format(req->scope.to_day - 14, prior);
    vx_buf arrays[VX_CONTRACT_FILTER_COUNT];
    const char *p[13] = {req->scope.tenant_id, req->scope.from, req->scope.to, prev, week, prior};
    for (int f = 0; f < VX_CONTRACT_FILTER_COUNT; f++) {
        vx_buf_init(&arrays[f]);
        p[6 + f] = array_literal(req->scope.filter[f], req->scope.n_filter[f], &arrays[f]);
    }
    p[10] = req->scope.currency[0] ? req->scope.currency : NULL;
    p[11] = req->focus_service;
    p[12] = req->focus_account;

    vx_status st;
    PGresult *r = query(c, rows_sql[req->scope.cost], 11, p, &st, err, err_cap);
    if (r != NULL) {
        int n = PQntuples(r);
        if (n > LLM_STORE_MAX_ROWS) {
            rows->truncated = true;
            n = LLM_STORE_MAX_ROWS;
        }
        for (int i = 0; i < n && st == VX_OK; i++) {
            vx_money s[4];
            if (!sums_of(r, i, 2, s)) {
                vx_errf(err, err_cap, "postgres: a sum that is not a decimal");
                st = VX_INTERNAL;
                break;
            }
            llm_rows_add(rows, PQgetvalue(r, i, 0), NULL, PQgetvalue(r, i, 1), s[0], s[1], s[2],
                         s[3]);
        }
        PQclear(r);
    }
    bool has_focus = req->focus_service[0] || req->focus_account[0];
    if (st == VX_OK && has_focus) {
        r = query(c, focus_sql[req->scope.cost], 13, p, &st, err, err_cap);
        if (r != NULL) {
            const char *service = req->focus_service[0] ? req->focus_service : "all services";
            const char *account = req->focus_account[0] ? req->focus_account : NULL;
            for (int i = 0; i < PQntuples(r) && st == VX_OK; i++) {
                vx_money s[4];
                if (!sums_of(r, i, 1, s)) {
                    vx_errf(err, err_cap, "postgres: a sum that is not a decimal");
                    st = VX_INTERNAL;
                    break;
                }
                llm_rows_add(focus, service, account, PQgetvalue(r, i, 0), s[0], s[1], s[2], s[3]);
            }
            PQclear(r);
        }
    }
    for (int f = 0; f < VX_CONTRACT_FILTER_COUNT; f++)
        vx_buf_cleanup(&arrays[f]);
    return track(tx, st);
}

vx_status llm_store_usage(vx_pg_pool *pool, const llm_usage_row *u, char *err, size_t err_cap)
{
    PGconn *c;
    vx_status st = begin(pool, u->tenant_id, &c, err, err_cap);
    if (st != VX_OK)
        return st;
    char at[24], in[24], out[24], cost[32], latency[24];
    snprintf(at, sizeof at, "%lld", (long long)u->reserved_at_ms);
    snprintf(in, sizeof in, "%llu", (unsigned long long)u->input_tokens);
    snprintf(out, sizeof out, "%llu", (unsigned long long)u->output_tokens);
    llm_micro_format(u->cost_micro_usd, cost, sizeof cost);
    snprintf(latency, sizeof latency, "%lld", (long long)(u->latency_ms > 0 ? u->latency_ms : 0));
    const char *p[11] = {u->tenant_id, at,
                         u->provider,  u->model ? u->model : "",
                         in,           out,
                         cost,         latency,
                         u->outcome,   u->request_id,
                         u->trace_id};
    PGresult *r = query(c,
                        "INSERT INTO llm_usage (tenant_id, created_at, provider, model, "
                        "input_tokens, output_tokens, cost, latency_ms, outcome, request_id, "
                        "trace_id) VALUES ($1::uuid, timestamptz 'epoch' + $2::bigint * "
                        "interval '1 millisecond', $3, $4, $5::bigint, $6::bigint, $7::numeric, "
                        "$8::bigint, $9, $10::uuid, $11)",
                        11, p, &st, err, err_cap);
    PQclear(r);
    return finish(pool, c, st, err, err_cap);
}

vx_status llm_store_month_spent(vx_pg_pool *pool, const char *tenant_id, const char *month,
                                uint64_t *micro, char *err, size_t err_cap)
{
    char from[21], to[21];
    if (!llm_budget_month_bounds(month, from, to)) {
        vx_errf(err, err_cap, "bad month %s", month);
        return VX_INVALID;
    }
    PGconn *c;
    vx_status st = begin(pool, tenant_id, &c, err, err_cap);
    if (st != VX_OK)
        return st;
    const char *p[3] = {tenant_id, from, to};
    PGresult *r = query(c,
                        "SELECT coalesce(sum(cost), 0)::text FROM llm_usage WHERE tenant_id = "
                        "$1::uuid AND created_at >= $2::timestamptz AND created_at < "
                        "$3::timestamptz",
                        3, p, &st, err, err_cap);
    if (r != NULL) {
        if (PQntuples(r) != 1 || !llm_usd_to_micro(PQgetvalue(r, 0, 0), micro)) {
            vx_errf(err, err_cap, "postgres: a ledger sum that is not an amount");
            st = VX_INTERNAL;
        }
        PQclear(r);
    }
    return finish(pool, c, st, err, err_cap);
}
