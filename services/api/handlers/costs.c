/* GET /v1/costs (keyset-paged records) and GET /v1/costs/summary (sums from the daily rollup),
 * run in the tenant's transaction so that row-level security holds whatever the filters say. */
#include "../api.h"
#include "query.h"

#include "vx/alloc.h"
#include "vx/clock.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    api_query q;
    bool cacheable;      /* NATS is up, so announcements arrive */
    uint64_t gen, epoch; /* taken before the query */
    int64_t taken_ms;
} costs_state;

static const char *param(void *arg, const char *name)
{
    const char *v = NULL;
    return vx_http_request_query(arg, name, &v) == VX_OK ? v : NULL;
}

/* A parameter with a bad %-escape is refused by name before anything reads it. */
static bool escapes_ok(api_call *c)
{
    static const char *const names[] = {"from",     "to",    "service", "region",  "account",
                                        "provider", "limit", "cursor",  "group_by"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v;
        if (vx_http_request_query(c->req, names[i], &v) == VX_INVALID) {
            api_set_problem(c, 400, "invalid-parameter", "Invalid parameter",
                            "%s: bad percent-encoding", names[i]);
            api_finish(c);
            return false;
        }
    }
    return true;
}

static void refuse(api_call *c, const api_refusal *why)
{
    api_set_problem(c, 400, "invalid-parameter", "Invalid parameter", "%s: %s", why->param,
                    why->detail);
    api_finish(c);
}

/* Runs sql in the tenant's transaction; NULL with the problem set on failure. */
static PGresult *query(api_call *c, const api_sql *s)
{
    PGconn *pg;
    char err[256] = "";
    if (vx_pg_acquire(c->ctx->pool, &pg) != VX_OK) {
        api_set_problem(c, 503, "unavailable", "Service unavailable",
                        "the database is unreachable");
        c->retry_after_s = 2;
        return NULL;
    }
    vx_status st = vx_pg_begin_tenant(pg, c->key.tenant_id);
    PGresult *r = NULL;
    if (st == VX_OK) {
        r = PQexecParams(pg, s->sql, s->n_params, NULL, s->params, NULL, NULL, 0);
        st = vx_pg_result_status(pg, r, err, sizeof err);
    }
    /* Only reads: the rows stand whatever COMMIT says, but a connection that cannot end its
     * transaction is not reused. */
    bool ended = vx_pg_exec(pg, st == VX_OK ? "COMMIT" : "ROLLBACK", NULL, 0) == VX_OK;
    vx_pg_release(c->ctx->pool, pg, st == VX_UNAVAILABLE || !ended);
    if (st == VX_OK)
        return r;
    PQclear(r);
    if (st == VX_TIMEOUT)
        api_set_problem(c, 504, "timeout", "Query timed out",
                        "the query took longer than the statement timeout; narrow the range");
    else {
        vx_log(VX_LOG_ERROR, "query failed", VX_STR("error", err),
               VX_STR("tenant_id", c->key.tenant_id));
        api_set_problem(c, 503, "unavailable", "Service unavailable",
                        "the database failed the query");
        c->retry_after_s = 2;
    }
    return NULL;
}

static void costs_job(api_call *c)
{
    costs_state *st = c->state;
    api_sql s;
    api_costs_sql(&st->q, c->key.tenant_id, &s);
    PGresult *r = query(c, &s);
    if (!r)
        return;
    int n = PQntuples(r);
    int page = n > st->q.limit ? st->q.limit : n;
    json_t *data = json_array();
    for (int i = 0; i < page; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "ChargePeriodStart", json_string(PQgetvalue(r, i, 0)));
        json_object_set_new(o, "EventId", json_string(PQgetvalue(r, i, 2)));
        json_object_set_new(o, "Revision", json_integer(strtoll(PQgetvalue(r, i, 3), NULL, 10)));
        json_object_set_new(o, "ChargePeriodEnd", json_string(PQgetvalue(r, i, 4)));
        static const char *const text_cols[] = {"ProviderName",    "SubAccountId", "ServiceName",
                                                "ServiceCategory", "RegionId",     "ResourceId",
                                                "ChargeCategory"};
        for (int k = 0; k < 7; k++)
            json_object_set_new(o, text_cols[k], json_string(PQgetvalue(r, i, 5 + k)));
        json_object_set_new(o, "BilledCost", json_string(PQgetvalue(r, i, 12)));
        json_object_set_new(o, "EffectiveCost", json_string(PQgetvalue(r, i, 13)));
        json_object_set_new(o, "ListCost", json_string(PQgetvalue(r, i, 14)));
        json_object_set_new(o, "BillingCurrency", json_string(PQgetvalue(r, i, 15)));
        json_object_set_new(o, "ConsumedQuantity", json_string(PQgetvalue(r, i, 16)));
        json_object_set_new(o, "ConsumedUnit", json_string(PQgetvalue(r, i, 17)));
        json_t *tags = json_loads(PQgetvalue(r, i, 18), 0, NULL);
        json_object_set_new(o, "Tags", tags ? tags : json_object());
        json_array_append_new(data, o);
    }
    json_t *out = json_object();
    json_object_set_new(out, "data", data);
    if (n > st->q.limit) {
        char cursor[API_CURSOR_MAX];
        api_cursor_encode(&st->q, c->key.tenant_id, strtoll(PQgetvalue(r, page - 1, 1), NULL, 10),
                          PQgetvalue(r, page - 1, 2), c->ctx->cfg->cursor_secret,
                          c->ctx->cfg->cursor_secret_len, cursor);
        json_object_set_new(out, "next_cursor", json_string(cursor));
    } else {
        json_object_set_new(out, "next_cursor", json_null());
    }
    PQclear(r);
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    api_set_json(c, 200, vx_xstrdup(text));
    free(text);
}

void handle_costs(api_call *c)
{
    if (!escapes_ok(c))
        return;
    costs_state *st = vx_xcalloc(1, sizeof *st);
    c->state = st;
    api_refusal why;
    if (api_costs_query_parse(param, c->req, c->key.tenant_id, c->ctx->cfg->cursor_secret,
                              c->ctx->cfg->cursor_secret_len, &st->q, &why) != VX_OK) {
        refuse(c, &why);
        return;
    }
    api_run_job(c, costs_job);
}

static void summary_job(api_call *c)
{
    costs_state *st = c->state;
    api_sql s;
    api_summary_sql(&st->q, c->key.tenant_id, &s);
    PGresult *r = query(c, &s);
    if (!r)
        return;
    int n = PQntuples(r);
    if (n > API_MAX_QUERY_ROWS) {
        PQclear(r);
        api_set_problem(c, 400, "too-many-rows", "Too many rows",
                        "more than %d groups: narrow the range or group by fewer fields",
                        API_MAX_QUERY_ROWS);
        return;
    }
    int g = st->q.n_group_by;
    json_t *data = json_array();
    for (int i = 0; i < n; i++) {
        json_t *o = json_object();
        for (int k = 0; k < g; k++)
            json_object_set_new(o, api_group_name(st->q.group_by[k]),
                                json_string(PQgetvalue(r, i, k)));
        json_object_set_new(o, "BillingCurrency", json_string(PQgetvalue(r, i, g)));
        json_object_set_new(o, "BilledCost", json_string(PQgetvalue(r, i, g + 1)));
        json_object_set_new(o, "EffectiveCost", json_string(PQgetvalue(r, i, g + 2)));
        json_object_set_new(o, "ListCost", json_string(PQgetvalue(r, i, g + 3)));
        json_object_set_new(o, "RecordCount",
                            json_integer(strtoll(PQgetvalue(r, i, g + 4), NULL, 10)));
        json_array_append_new(data, o);
    }
    PQclear(r);
    json_t *groups = json_array();
    for (int k = 0; k < g; k++)
        json_array_append_new(groups, json_string(api_group_name(st->q.group_by[k])));
    json_t *out = json_object();
    json_object_set_new(out, "group_by", groups);
    json_object_set_new(out, "data", data);
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    if (st->cacheable)
        api_cache_put(c->ctx->cache, c->key.tenant_id, vx_http_request_query_string(c->req),
                      st->gen, st->epoch, st->taken_ms, text, strlen(text));
    api_set_json(c, 200, vx_xstrdup(text));
    free(text);
}

void handle_summary(api_call *c)
{
    if (!escapes_ok(c))
        return;
    costs_state *st = vx_xcalloc(1, sizeof *st);
    c->state = st;
    api_refusal why;
    if (api_summary_query_parse(param, c->req, &st->q, &why) != VX_OK) {
        refuse(c, &why);
        return;
    }
    /* Order matters: the generation and epoch are taken before the query, so a commit
     * announced while it runs makes its answer stale at once. */
    st->epoch = vx_bus_disconnects(c->ctx->bus);
    st->cacheable = vx_bus_connected(c->ctx->bus);
    st->gen = api_cache_generation(c->ctx->cache, c->key.tenant_id);
    st->taken_ms = vx_mono_ms();
    if (st->cacheable) {
        size_t len;
        char *hit =
            api_cache_get(c->ctx->cache, c->key.tenant_id, vx_http_request_query_string(c->req),
                          st->epoch, st->taken_ms, &len);
        if (hit) {
            vx_counter_inc(c->ctx->cache_hits);
            api_set_json(c, 200, hit);
            api_finish(c);
            return;
        }
        vx_counter_inc(c->ctx->cache_misses);
    }
    api_run_job(c, summary_job);
}
