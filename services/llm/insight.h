/* The svc.llm.insight handler: a request in, an InsightReply out. Decodes and resolves the
 * request (one whose caller's deadline has already passed is answered DEADLINE unworked), reads
 * the tenant (plan, budget, data version), answers from the Redis cache when it
 * can, otherwise builds the context from the daily rollup and the forecast service, runs the
 * provider router under the tenant's budget, caches what is worth keeping and replies. */
#ifndef VX_LLM_SVC_INSIGHT_H
#define VX_LLM_SVC_INSIGHT_H

#include "budget.h"
#include "config.h"
#include "vx/bus.h"
#include "vx/llm_router.h"
#include "vx/metrics.h"
#include "vx/pg.h"
#include "vx/redis.h"

#include <stdatomic.h>
#include <stdbool.h>

/* Request outcomes, the label values of valdrix_llm_requests_total. */
typedef enum {
    LLM_OUT_OK,     /* a provider answered */
    LLM_OUT_CACHED, /* served from the cache */
    LLM_OUT_INVALID,
    LLM_OUT_BUDGET,
    LLM_OUT_UNAVAILABLE,
    LLM_OUT_DEADLINE,
    LLM_OUT_INTERNAL,
    LLM_OUT_COUNT
} llm_outcome;

typedef struct {
    vx_counter *requests[LLM_OUT_COUNT];
    vx_counter *cache_hits, *cache_misses, *cache_errors;
    vx_counter *forecast_calls[3]; /* ok, timeout, error */
    vx_counter *requests_expired;  /* dropped: the caller's deadline had passed at pickup */
    vx_histogram *request_seconds;
    llm_budget_metrics budget;
} llm_metrics;

typedef struct {
    const llm_config *cfg;
    vx_bus *bus;
    vx_pg_pool *pool;
    vx_redis *redis;
    vx_llm_router *router;
    llm_budget *budget;
    llm_metrics m;
    bool local_first;  /* local is the first provider: its answers are worth caching */
    atomic_bool pg_ok; /* the last Postgres operation succeeded (for /readyz) */
} llm_svc;

void llm_metrics_register(llm_metrics *m, vx_metrics *reg);

/* vx_bus_handler for svc.llm.insight; ctx is the llm_svc. Always replies (unless the request
 * has no reply subject). Thread-safe: runs on every worker subscription at once. */
void llm_insight_handle(void *ctx, vx_bus_msg *req);

#endif
