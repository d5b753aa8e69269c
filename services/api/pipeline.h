/* What the API's handlers work with: the service's shared state (api_ctx), one request on its
 * way (api_call), and how a handler answers: run blocking work on libuv's thread pool
 * (Postgres, JetStream, NATS requests never run on a loop), set a JSON body or a problem, and
 * finish. Includes no handler and no route: handlers include this header, the route table
 * (routes.h) names the handlers, and api.c dispatches through it. */
#ifndef VX_API_PIPELINE_H
#define VX_API_PIPELINE_H

#include "cache.h"
#include "config.h"
#include "handlers/auth.h"
#include "vx/breaker.h"
#include "vx/bus.h"
#include "vx/http.h"
#include "vx/metrics.h"
#include "vx/ratelimit_redis.h"
#include "vx/redis.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

typedef struct vx_pg_pool vx_pg_pool;

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

/* Statuses whose answer counters are registered up front, so counting an answer takes no
 * lock. */
#define API_N_COMMON_STATUSES 12
extern const int api_common_statuses[API_N_COMMON_STATUSES];

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
    vx_counter *answers[ROUTE_COUNT][API_N_COMMON_STATUSES]; /* by route and common status */
    vx_counter *auth_failures;
    api_cache *cache;
    atomic_int in_flight;     /* api_calls not yet answered */
    atomic_bool draining;     /* SIGTERM: /readyz says so */
    atomic_int service_calls; /* forecast/insight requests waiting on NATS */
    int max_service_calls;    /* their share of the thread pool */
    vx_counter *cache_hits, *cache_misses;
    vx_breaker *svc_breaker[2];      /* [API_SVC_FORECAST], [API_SVC_LLM] */
    vx_counter *svc_wrong_tenant[2]; /* results for another tenant, refused (same index) */
    vx_redis *redis;                 /* blocking client for jobs: Idempotency-Key bindings */
    vx_redis_script *idem_script;
    atomic_bool idem_unchecked; /* the last Idempotency-Key check could not reach Redis */
} api_ctx;

enum { API_SVC_FORECAST, API_SVC_LLM };

struct api_call;
/* A route's handler: called on the loop once the request is authenticated and allowed; it
 * answers, now (api_finish) or from a job (api_run_job). */
typedef void (*api_handler_fn)(struct api_call *c);

/* One request on its way through the pipeline. */
typedef struct api_call {
    api_ctx *ctx;
    vx_http_request *req;
    api_route route;
    const char *route_name; /* the metrics label, static */
    api_handler_fn handler;
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
    void *state; /* the handler's own, freed with vx_free when the call is */
} api_call;

/* Runs job(c) on the thread pool, then answers from the loop with what it left (a cancelled
 * job answers 503). */
void api_run_job(api_call *c, void (*job)(api_call *c));
/* Answers now (loop thread): JSON body, or a problem; adds rate-limit headers; frees c. */
void api_finish(api_call *c);
/* Sets a problem answer on c (any thread). */
void api_set_problem(api_call *c, int status, const char *type, const char *title,
                     const char *detail_fmt, ...) __attribute__((format(printf, 5, 6)));
/* Takes ownership of a JSON string (vx_free'd) as the answer's body. */
void api_set_json(api_call *c, int status, char *json);
/* Counts an answer of c's route with this status, and its latency since c->t0_ns. */
void api_count_answer(const api_call *c, int status);
/* vx_http_respond* refuses a bad status or header (a bug here) and answers 500 instead: logs
 * that, with the status that was meant. */
void api_check_sent(vx_status st, int status);

#endif
