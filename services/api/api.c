/* The front of services/api's request pipeline: routing through the route table,
 * authentication, rate limiting, the ops answers, then the route's handler. */
#include "api.h"
#include "routes.h"
#include "store.h"

#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/log.h"
#include "vx/ops.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

void api_ctx_init_metrics(api_ctx *ctx)
{
    for (size_t i = 0; i < api_n_routes; i++) {
        const api_route_def *r = &api_routes[i];
        for (int k = 0; k < API_N_COMMON_STATUSES; k++) {
            char l[96];
            snprintf(l, sizeof l, "route=\"%s\",status=\"%d\"", r->name, api_common_statuses[k]);
            ctx->answers[r->route][k] =
                vx_metrics_counter(ctx->metrics, "valdrix_api_requests_total",
                                   "Requests answered, by route and status", l);
        }
        char labels[64];
        snprintf(labels, sizeof labels, "route=\"%s\"", r->name);
        ctx->latency[r->route] = vx_metrics_histogram(
            ctx->metrics, "valdrix_api_request_seconds", "Time from request to answer, by route",
            labels, vx_metrics_latency_bounds, vx_metrics_latency_bounds_len);
    }
    ctx->auth_failures =
        vx_metrics_counter(ctx->metrics, "valdrix_api_auth_failures_total",
                           "Requests refused for a bad, unknown or revoked key", NULL);
    ctx->cache_hits =
        vx_metrics_counter(ctx->metrics, "valdrix_api_cache_requests_total",
                           "Summary answers looked up in the cache", "result=\"hit\"");
    ctx->cache_misses =
        vx_metrics_counter(ctx->metrics, "valdrix_api_cache_requests_total",
                           "Summary answers looked up in the cache", "result=\"miss\"");
}

void api_on_changed(void *arg, vx_bus_msg *msg)
{
    api_ctx *ctx = arg;
    const char *subject = vx_bus_msg_subject(msg);
    const char *dot = strrchr(subject, '.');
    if (dot && strlen(dot + 1) == 36)
        api_cache_bump(ctx->cache, dot + 1);
}

/* ---- health, readiness, metrics: the answers every service gives (vx/ops.h) ---- */

/* Ready while NATS is connected and Postgres answers (run on the thread pool: it pings).
 * Redis being away does not take a replica out of rotation: limits then hold per replica,
 * which the answer's "redis" member says. */
static bool api_ready(void *arg, char *why, size_t cap)
{
    api_ctx *ctx = arg;
    if (!vx_bus_connected(ctx->bus)) {
        snprintf(why, cap, "nats: not connected");
        return false;
    }
    /* The answer is public: it names the dependency, never libpq's text (hosts, roles,
     * database names); that goes to the log, once each time Postgres goes away. */
    static atomic_bool pg_down;
    char pg[200] = "";
    if (!api_store_ping(ctx->pool, pg, sizeof pg)) {
        snprintf(why, cap, "postgres: not answering");
        if (!atomic_exchange(&pg_down, true))
            vx_log(VX_LOG_WARN, "not ready: postgres does not answer", VX_STR("error", pg));
        return false;
    }
    if (atomic_exchange(&pg_down, false))
        vx_log(VX_LOG_INFO, "postgres answers again", VX_STR("pool", "api"));
    vx_breaker_state rs = vx_ratelimit_breaker_state(ctx->rl_shared);
    snprintf(why, cap, "%s", rs == VX_BREAKER_CLOSED ? "ok" : "local-fallback");
    return true;
}

/* As docs/openapi.yaml has them: 200 {"status":"ready","redis":...}, 503 a not-ready
 * problem. */
static vx_ops_routes ops_routes(api_ctx *ctx)
{
    return (vx_ops_routes){.metrics = ctx->metrics,
                           .ready = api_ready,
                           .ready_ctx = ctx,
                           .draining = &ctx->draining,
                           .ready_blocks = true,
                           .note_name = "redis",
                           .problem = true};
}

static void ops_answered(void *arg, int status)
{
    api_call *c = arg;
    api_count_answer(c, status);
    atomic_fetch_sub(&c->ctx->in_flight, 1);
    vx_free(c);
}

/* ---- authentication and limits ---- */

static void limited(void *arg, const vx_rl_decision *d)
{
    api_call *c = arg;
    if (d->status != VX_OK) {
        api_set_problem(c, 503, "unavailable", "Service unavailable", "shutting down");
        c->retry_after_s = 1;
        api_finish(c);
        return;
    }
    c->rl = *d;
    c->limited = true;
    if (!d->allowed) {
        api_set_problem(c, 429, "rate-limited", "Too many requests",
                        "the %s limit of this tenant (%lld per %lld s) is used up",
                        vx_plan_category_str(d->category), (long long)d->limit.limit,
                        (long long)(d->limit.period_ms / 1000));
        api_finish(c);
        return;
    }
    c->handler(c);
}

static void limit(api_call *c)
{
    vx_plan plan;
    if (!vx_plan_parse(c->key.plan, &plan))
        plan = VX_PLAN_STARTER; /* a plan this build does not know gets the smallest limits */
    vx_plan_overrides ov = {.api_per_min = c->key.api_per_min,
                            .llm_per_day = c->key.llm_per_day,
                            .remediation_per_hour = c->key.remediation_per_hour};
    vx_plan_category cat = c->category;
    vx_plan_rate lim;
    if (vx_plan_effective_rate(plan, cat, &ov, &lim) != VX_OK) {
        api_set_problem(c, 500, "internal", "Internal error", "no limit for this plan");
        api_finish(c);
        return;
    }
    vx_ratelimit *rl = c->ctx->limiters[vx_http_request_loop_index(c->req)];
    if (vx_ratelimit_check(rl, c->key.tenant_id, cat, &lim, limited, c) != VX_OK) {
        api_set_problem(c, 503, "unavailable", "Service unavailable", "rate limiter closed");
        api_finish(c);
    }
}

static void unauthorized(api_call *c)
{
    vx_counter_inc(c->ctx->auth_failures);
    /* one answer for every failure: nothing says which part was wrong */
    api_set_problem(c, 401, "unauthorized", "Unauthorized",
                    "send Authorization: Bearer <key> with a valid, unrevoked API key");
    api_finish(c);
}

typedef struct {
    api_bearer bearer;
    bool found;
    bool failed;
} auth_state;

static void lookup_work(uv_work_t *w)
{
    api_call *c = w->data;
    auth_state *a = c->state;
    if (api_store_key_lookup(c->ctx->pool, a->bearer.key_id, &c->key, &a->found) != VX_OK)
        a->failed = true;
}

static void check_key(api_call *c, const api_bearer *b)
{
    if (c->key.revoked || !api_secret_matches(b->secret, c->key.secret_sha256)) {
        unauthorized(c);
        return;
    }
    limit(c);
}

static void lookup_done(uv_work_t *w, int status)
{
    api_call *c = w->data;
    auth_state *a = c->state;
    c->state = NULL;
    if (status != 0 || a->failed) {
        vx_free(a);
        api_set_problem(c, 503, "unavailable", "Service unavailable",
                        "cannot check the API key now (database unreachable)");
        c->retry_after_s = 2;
        api_finish(c);
        return;
    }
    api_key_cache_put(c->ctx->keys, a->bearer.key_id, a->found ? &c->key : NULL, vx_mono_ms());
    if (!a->found) {
        vx_free(a);
        unauthorized(c);
        return;
    }
    api_bearer b = a->bearer;
    vx_free(a);
    check_key(c, &b);
}

static void authenticate(api_call *c)
{
    api_bearer b;
    if (api_bearer_parse(vx_http_request_header(c->req, "authorization"), &b) != VX_OK) {
        unauthorized(c);
        return;
    }
    int64_t now = vx_mono_ms();
    if (api_key_cache_get(c->ctx->keys, b.key_id, now, &c->key)) {
        check_key(c, &b);
        return;
    }
    if (api_key_cache_unknown(c->ctx->keys, b.key_id, now)) {
        unauthorized(c);
        return;
    }
    auth_state *a = vx_xcalloc(1, sizeof *a);
    a->bearer = b;
    c->state = a;
    c->work.data = c;
    uv_queue_work(vx_http_request_loop(c->req), &c->work, lookup_work, lookup_done);
}

void api_handle(void *arg, vx_http_request *req)
{
    api_ctx *ctx = arg;
    const char *method = vx_http_request_method(req);
    size_t plen;
    const char *path = vx_http_request_path(req, &plen);
    bool path_known = false;
    for (size_t i = 0; i < api_n_routes; i++) {
        const api_route_def *r = &api_routes[i];
        if (strlen(r->path) != plen || strncmp(r->path, path, plen) != 0)
            continue;
        path_known = true;
        if (strcmp(r->method, method) != 0 &&
            !(strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0))
            continue;
        api_call *c = vx_xcalloc(1, sizeof *c);
        atomic_fetch_add(&ctx->in_flight, 1);
        c->ctx = ctx;
        c->req = req;
        c->route = r->route;
        c->route_name = r->name;
        c->handler = r->handler;
        c->category = r->category;
        c->t0_ns = vx_mono_ns();
        if (!r->authenticated) {
            vx_ops_routes ops = ops_routes(ctx);
            vx_ops_answer(&ops, req, ops_answered, c); /* one of its paths: it answers */
            return;
        }
        authenticate(c);
        return;
    }
    if (path_known) {
        const char *allow = "GET, HEAD";
        for (size_t i = 0; i < api_n_routes; i++)
            if (strlen(api_routes[i].path) == plen &&
                strncmp(api_routes[i].path, path, plen) == 0 &&
                strcmp(api_routes[i].method, "POST") == 0)
                allow = "POST";
        char body[400];
        int len = snprintf(body, sizeof body,
                           "{\"type\":\"https://valdrix.dev/problems/method-not-allowed\","
                           "\"title\":\"Method not allowed\",\"status\":405,\"detail\":"
                           "\"this path takes %s\"}",
                           allow);
        vx_http_header h[] = {{"Allow", allow}};
        api_check_sent(
            vx_http_respond(req, 405, "application/problem+json", h, 1, body, (size_t)len), 405);
    } else
        api_check_sent(vx_http_respond_problem(req, 404, "not-found", "Not found", "no such route"),
                       404);
}

void api_loop_start(void *arg, unsigned index, uv_loop_t *loop)
{
    api_ctx *ctx = arg;
    if (vx_ratelimit_create(loop, ctx->rl_shared, &ctx->limiters[index]) != VX_OK)
        vx_log(VX_LOG_ERROR, "cannot create the rate limiter of a loop", VX_INT("loop", index));
}

void api_loop_stop(void *arg, unsigned index, uv_loop_t *loop)
{
    (void)loop;
    api_ctx *ctx = arg;
    vx_ratelimit_destroy(ctx->limiters[index]);
    ctx->limiters[index] = NULL;
}
