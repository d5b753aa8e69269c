/* GET /v1/costs (keyset-paged records) and GET /v1/costs/summary (sums from the daily rollup):
 * parameters checked, the store read on the thread pool (in the tenant's transaction, so that
 * row-level security holds whatever the filters say), the rows rendered (costs_json.h). */
#include "costs_json.h"
#include "handlers.h"
#include "query.h"
#include "store.h"

#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/log.h"

#include <stdbool.h>
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

/* Sets the answer to a failed read of the store (see store.h). */
static void store_failed(api_call *c, vx_status st, const char *err)
{
    switch (st) {
    case VX_UNAVAILABLE:
        api_set_problem(c, 503, "unavailable", "Service unavailable",
                        "the database is unreachable");
        c->retry_after_s = 2;
        break;
    case VX_TIMEOUT:
        api_set_problem(c, 504, "timeout", "Query timed out",
                        "the query took longer than the statement timeout; narrow the range");
        break;
    case VX_LIMIT:
        api_set_problem(c, 400, "too-many-rows", "Too many rows",
                        "more than %d groups: narrow the range or group by fewer fields",
                        API_MAX_QUERY_ROWS);
        break;
    default:
        vx_log(VX_LOG_ERROR, "query failed", VX_STR("error", err),
               VX_STR("tenant_id", c->key.tenant_id));
        api_set_problem(c, 503, "unavailable", "Service unavailable",
                        "the database failed the query");
        c->retry_after_s = 2;
    }
}

static void costs_job(api_call *c)
{
    costs_state *st = c->state;
    api_cost_rows rows;
    char err[256] = "";
    vx_status s =
        api_store_cost_page(c->ctx->pool, c->key.tenant_id, &st->q, &rows, err, sizeof err);
    if (s != VX_OK) {
        store_failed(c, s, err);
        return;
    }
    char *text = api_render_costs(&rows, &st->q, c->key.tenant_id, c->ctx->cfg->cursor_secret,
                                  c->ctx->cfg->cursor_secret_len);
    api_cost_rows_cleanup(&rows);
    api_set_json(c, 200, text);
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
    api_summary_rows rows;
    char err[256] = "";
    vx_status s = api_store_summary(c->ctx->pool, c->key.tenant_id, &st->q, &rows, err, sizeof err);
    if (s != VX_OK) {
        store_failed(c, s, err);
        return;
    }
    char *text = api_render_summary(&rows, &st->q);
    api_summary_rows_cleanup(&rows);
    if (st->cacheable)
        api_cache_put(c->ctx->cache, c->key.tenant_id, vx_http_request_query_string(c->req),
                      st->gen, st->epoch, st->taken_ms, text, strlen(text));
    api_set_json(c, 200, text);
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
