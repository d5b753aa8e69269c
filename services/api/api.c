/* The request pipeline of services/api: routing, authentication, rate limiting, thread-pool
 * jobs and answers (with RateLimit-* headers and problem bodies). */
#include "api.h"
#include "store.h"

#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *method, *path;
    api_route route;
    bool authenticated;
    vx_plan_category category;
    const char *name; /* the metrics label */
} routes[] = {
    {"GET", "/healthz", ROUTE_HEALTHZ, false, VX_PLAN_CAT_API, "healthz"},
    {"GET", "/readyz", ROUTE_READYZ, false, VX_PLAN_CAT_API, "readyz"},
    {"GET", "/metrics", ROUTE_METRICS, false, VX_PLAN_CAT_API, "metrics"},
    {"GET", "/v1/costs", ROUTE_COSTS, true, VX_PLAN_CAT_API, "costs"},
    {"GET", "/v1/costs/summary", ROUTE_SUMMARY, true, VX_PLAN_CAT_API, "summary"},
    {"POST", "/v1/cost-events", ROUTE_EVENTS, true, VX_PLAN_CAT_API, "cost_events"},
    {"GET", "/v1/usage", ROUTE_USAGE, true, VX_PLAN_CAT_API, "usage"},
    {"POST", "/v1/forecasts", ROUTE_FORECASTS, true, VX_PLAN_CAT_API, "forecasts"},
    {"GET", "/v1/costs/anomalies", ROUTE_ANOMALIES, true, VX_PLAN_CAT_API, "anomalies"},
    {"POST", "/v1/insights", ROUTE_INSIGHTS, true, VX_PLAN_CAT_LLM, "insights"},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

/* Statuses whose counters are registered up front, so counting an answer takes no lock. */
static const int common_statuses[12] = {200, 202, 400, 401, 404, 405, 413, 429, 500, 502, 503, 504};

void api_ctx_init_metrics(api_ctx *ctx)
{
    for (size_t i = 0; i < N_ROUTES; i++) {
        for (int k = 0; k < 12; k++) {
            char l[96];
            snprintf(l, sizeof l, "route=\"%s\",status=\"%d\"", routes[i].name, common_statuses[k]);
            ctx->answers[routes[i].route][k] =
                vx_metrics_counter(ctx->metrics, "valdrix_api_requests_total",
                                   "Requests answered, by route and status", l);
        }
        char labels[64];
        snprintf(labels, sizeof labels, "route=\"%s\"", routes[i].name);
        ctx->latency[routes[i].route] = vx_metrics_histogram(
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

static void count_answer(api_call *c, int status)
{
    for (int k = 0; k < 12; k++) {
        if (common_statuses[k] == status) {
            vx_counter_inc(c->ctx->answers[c->route][k]);
            vx_histogram_observe(c->ctx->latency[c->route],
                                 (double)(vx_mono_ns() - c->t0_ns) / 1e9);
            return;
        }
    }
    char labels[96];
    snprintf(labels, sizeof labels, "route=\"%s\",status=\"%d\"", routes[c->route].name, status);
    vx_counter_inc(vx_metrics_counter(c->ctx->metrics, "valdrix_api_requests_total",
                                      "Requests answered, by route and status", labels));
    vx_histogram_observe(c->ctx->latency[c->route], (double)(vx_mono_ns() - c->t0_ns) / 1e9);
}

void api_set_problem(api_call *c, int status, const char *type, const char *title,
                     const char *detail_fmt, ...)
{
    c->status = status;
    c->problem_type = type;
    c->problem_title = title;
    va_list ap;
    va_start(ap, detail_fmt);
    vsnprintf(c->detail, sizeof c->detail, detail_fmt, ap);
    va_end(ap);
}

void api_set_json(api_call *c, int status, char *json)
{
    c->status = status;
    vx_free(c->body);
    c->body = json;
    c->body_len = json ? strlen(json) : 0;
}

void api_finish(api_call *c)
{
    vx_http_header h[5];
    size_t n = 0;
    char lim[24], rem[24], reset[24], retry[24];
    if (c->limited) {
        vx_rl_headers rh;
        vx_rl_headers_from(&c->rl, &rh);
        snprintf(lim, sizeof lim, "%lld", (long long)rh.limit);
        snprintf(rem, sizeof rem, "%lld", (long long)rh.remaining);
        snprintf(reset, sizeof reset, "%lld", (long long)rh.reset_s);
        h[n++] = (vx_http_header){"RateLimit-Limit", lim};
        h[n++] = (vx_http_header){"RateLimit-Remaining", rem};
        h[n++] = (vx_http_header){"RateLimit-Reset", reset};
        if (!c->rl.allowed && rh.retry_after_s > 0 && c->retry_after_s == 0)
            c->retry_after_s = (int)rh.retry_after_s;
    }
    if (c->retry_after_s > 0) {
        snprintf(retry, sizeof retry, "%d", c->retry_after_s);
        h[n++] = (vx_http_header){"Retry-After", retry};
    }
    count_answer(c, c->status);
    if (c->problem_type) {
        vx_http_respond_problem_headers(c->req, c->status, c->problem_type, c->problem_title,
                                        c->detail, h, n);
    } else {
        vx_http_respond(c->req, c->status, "application/json", h, n, c->body ? c->body : "{}",
                        c->body ? c->body_len : 2);
    }
    atomic_fetch_sub(&c->ctx->in_flight, 1);
    vx_free(c->body);
    vx_free(c->state);
    vx_free(c);
}

static void job_main(uv_work_t *w)
{
    api_call *c = w->data;
    c->job(c);
}

static void job_done(uv_work_t *w, int status)
{
    api_call *c = w->data;
    if (status != 0 && !c->problem_type && c->status == 0)
        api_set_problem(c, 503, "unavailable", "Service unavailable", "the request was cancelled");
    api_finish(c);
}

void api_run_job(api_call *c, void (*job)(api_call *c))
{
    c->job = job;
    c->work.data = c;
    uv_queue_work(vx_http_request_loop(c->req), &c->work, job_main, job_done);
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
    char pg[200] = "";
    if (!api_store_ping(ctx->pool, pg, sizeof pg)) {
        snprintf(why, cap, "postgres: %s", pg);
        return false;
    }
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
    count_answer(c, status);
    atomic_fetch_sub(&c->ctx->in_flight, 1);
    vx_free(c);
}

/* ---- authentication and limits ---- */

static void dispatch(api_call *c)
{
    switch (c->route) {
    case ROUTE_COSTS:
        handle_costs(c);
        break;
    case ROUTE_SUMMARY:
        handle_summary(c);
        break;
    case ROUTE_EVENTS:
        handle_events(c);
        break;
    case ROUTE_USAGE:
        handle_usage(c);
        break;
    case ROUTE_FORECASTS:
    case ROUTE_ANOMALIES:
    case ROUTE_INSIGHTS:
        handle_service(c);
        break;
    default:
        api_set_problem(c, 404, "not-found", "Not found", "no such route");
        api_finish(c);
    }
}

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
    dispatch(c);
}

static void limit(api_call *c)
{
    vx_plan plan = VX_PLAN_STARTER;
    vx_plan_parse(c->key.plan, &plan);
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

static void lookup_job(api_call *c)
{
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
    c->job = lookup_job;
    c->work.data = c;
    uv_queue_work(vx_http_request_loop(c->req), &c->work, job_main, lookup_done);
}

void api_handle(void *arg, vx_http_request *req)
{
    api_ctx *ctx = arg;
    const char *method = vx_http_request_method(req);
    size_t plen;
    const char *path = vx_http_request_path(req, &plen);
    bool path_known = false;
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (strlen(routes[i].path) != plen || strncmp(routes[i].path, path, plen) != 0)
            continue;
        path_known = true;
        if (strcmp(routes[i].method, method) != 0 &&
            !(strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0))
            continue;
        api_call *c = vx_xcalloc(1, sizeof *c);
        atomic_fetch_add(&ctx->in_flight, 1);
        c->ctx = ctx;
        c->req = req;
        c->route = routes[i].route;
        c->category = routes[i].category;
        c->t0_ns = vx_mono_ns();
        switch (c->route) {
        case ROUTE_HEALTHZ:
        case ROUTE_READYZ:
        case ROUTE_METRICS: {
            vx_ops_routes ops = ops_routes(ctx);
            vx_ops_answer(&ops, req, ops_answered, c); /* one of its paths: it answers */
            return;
        }
        default:
            authenticate(c);
            return;
        }
    }
    if (path_known) {
        const char *allow = "GET, HEAD";
        for (size_t i = 0; i < N_ROUTES; i++)
            if (strlen(routes[i].path) == plen && strncmp(routes[i].path, path, plen) == 0 &&
                strcmp(routes[i].method, "POST") == 0)
                allow = "POST";
        char body[400];
        int len = snprintf(body, sizeof body,
                           "{\"type\":\"https://valdrix.dev/problems/method-not-allowed\","
                           "\"title\":\"Method not allowed\",\"status\":405,\"detail\":"
                           "\"this path takes %s\"}",
                           allow);
        vx_http_header h[] = {{"Allow", allow}};
        vx_http_respond(req, 405, "application/problem+json", h, 1, body, (size_t)len);
    } else
        vx_http_respond_problem(req, 404, "not-found", "Not found", "no such route");
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
