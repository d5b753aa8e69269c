/* The API's request pipeline: route, authenticate (cached key lookups), rate-limit (one Redis
 * round trip, local fallback), then the route's handler; blocking work (Postgres, JetStream)
 * runs on libuv's thread pool, never on a loop. */
#ifndef VX_API_H
#define VX_API_H

#include "cache.h"
#include "config.h"
#include "handlers/auth.h"
#include "vx/breaker.h"
#include "vx/bus.h"
#include "vx/http.h"
#include "vx/metrics.h"
#include "vx/ops.h"
#include "vx/pg.h"
#include "vx/ratelimit_redis.h"
#include "vx/redis.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

typedef enum {
    ROUTE_HEALTHZ,
    ROUTE_READYZ,
    ROUTE_METRICS,
    ROUTE_COSTS,
    ROUTE_SUMMARY,
    ROUTE_EVENTS,
    ROUTE_USAGE,
    ROUTE_FORECASTS,
    ROUTE_ANOMALIES,
    ROUTE_INSIGHTS,
    ROUTE_COUNT
} api_route;

typedef struct {
    const api_config *cfg;
    vx_service *host; /* the skeleton: stop requests, shared pieces */
    vx_pg_pool *pool;
    vx_bus *bus;
    vx_ratelimit_shared *rl_shared;
    vx_ratelimit **limiters; /* one per loop, made on its thread */
    unsigned n_loops;
    api_key_cache *keys;
    vx_metrics *metrics;
    vx_histogram *latency[ROUTE_COUNT];
    vx_counter *answers[ROUTE_COUNT][12]; /* by route and common status (see api.c) */
    vx_counter *auth_failures;
    api_cache *cache;
    atomic_int in_flight;     /* api_calls not yet answered */
    atomic_bool draining;     /* SIGTERM: /readyz says so */
    atomic_int service_calls; /* forecast/insight requests waiting on NATS */
    int max_service_calls;    /* their share of the thread pool */
    vx_counter *cache_hits, *cache_misses;
    vx_breaker *svc_breaker[2]; /* [API_SVC_FORECAST], [API_SVC_LLM] */
    vx_redis *redis;            /* blocking client for jobs: Idempotency-Key bindings */
    vx_redis_script *idem_script;
    atomic_bool idem_unchecked; /* the last Idempotency-Key check could not reach Redis */
} api_ctx;

enum { API_SVC_FORECAST, API_SVC_LLM };

/* The subscription to ingest's announcements: bumps the announced tenant's generation. */
void api_on_changed(void *ctx, vx_bus_msg *msg);

/* One request on its way through the pipeline. */
typedef struct api_call {
    api_ctx *ctx;
    vx_http_request *req;
    api_route route;
    vx_plan_category category; /* the limit this route draws on */
    api_key_record key;
    vx_rl_decision rl;
    bool limited; /* rl holds this request's decision */
    int64_t t0_ns;
    uv_work_t work;
    /* what a job left for the answer, sent from the loop when it is done */
    void (*job)(struct api_call *c);
    int status;
    char *body; /* JSON, owned */
    size_t body_len;
    const char *problem_type, *problem_title; /* set: answer a problem */
    char detail[512];
    int retry_after_s;
    void *state; /* the handler's own */
} api_call;

void api_ctx_init_metrics(api_ctx *ctx);
/* The vx_http handler. */
void api_handle(void *ctx, vx_http_request *req);
/* Per-loop hooks: make and destroy the loop's limiter. */
void api_loop_start(void *ctx, unsigned index, uv_loop_t *loop);
void api_loop_stop(void *ctx, unsigned index, uv_loop_t *loop);

/* Runs c->job on the thread pool, then answers from the loop with what it left. */
void api_run_job(api_call *c, void (*job)(api_call *c));
/* Answers now (loop thread): JSON body, or a problem; adds rate-limit headers; frees c. */
void api_finish(api_call *c);
/* Sets a problem answer on c (any thread). */
void api_set_problem(api_call *c, int status, const char *type, const char *title,
                     const char *detail_fmt, ...) __attribute__((format(printf, 5, 6)));
/* Takes ownership of a JSON string as the answer's body. */
void api_set_json(api_call *c, int status, char *json);

/* Handlers, called on the loop once the request is authenticated and allowed. */
void handle_costs(api_call *c);
void handle_summary(api_call *c);
void handle_events(api_call *c);
/* The script binding an Idempotency-Key to its events (handlers/events.c). */
vx_redis_script *api_idem_script_create(void);
void handle_usage(api_call *c);
void handle_service(api_call *c); /* forecasts, anomalies, insights: over NATS */
/* The services' circuit breakers (opened by timeouts, no responder and bad replies) and their
 * gauges, valdrix_api_service_breaker_open{service}. */
void api_services_init(api_ctx *ctx);
void api_services_cleanup(api_ctx *ctx);

#endif
