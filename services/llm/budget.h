/* The monthly LLM budget of each tenant, enforced for the router's paid calls: a reservation
 * per call made atomically in Redis (one Lua script over the tenant's month hash, seeded from
 * the Postgres usage ledger), settled with the real cost (ledger row first, then Redis), settled
 * at the reserved maximum when the request was sent but its outcome is unknown (a timeout or a
 * dropped connection: the provider may bill it), or released when nothing was sent. Redis
 * unreachable means no reservation, so no paid call (fail closed). */
#ifndef VX_LLM_SVC_BUDGET_H
#define VX_LLM_SVC_BUDGET_H

#include "vx/llm_router.h"
#include "vx/metrics.h"
#include "vx/pg.h"
#include "vx/redis.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct llm_budget llm_budget;

typedef struct {
    vx_counter *denials;         /* a reservation the budget refused */
    vx_counter *errors;          /* a reservation that could not be checked (fail closed) */
    vx_counter *seeds;           /* month totals loaded from the ledger */
    vx_counter *ledger_errors;   /* ledger rows that could not be written */
    vx_counter *settle_errors;   /* settles or releases Redis did not take */
    vx_counter *settled_unknown; /* calls sent but unanswered, settled at the reserved maximum */
} llm_budget_metrics;

/* `redis`, `pool` and `metrics` (counters may be NULL) are borrowed and must outlive the
 * budget. reservation_ttl_ms: how long a reservation holds budget if it is never settled. */
llm_budget *llm_budget_create(vx_redis *redis, vx_pg_pool *pool, int64_t reservation_ttl_ms,
                              const llm_budget_metrics *metrics);
void llm_budget_destroy(llm_budget *b); /* NULL is fine */

/* One insight request's view of the budget: what the hooks need, and what they saw. Lives on
 * the stack of the request; the hooks run on its thread. */
typedef struct {
    llm_budget *budget;
    const char *tenant_id;
    const char *request_id; /* UUID, written to the ledger */
    const char *trace_id;   /* may be NULL */
    uint64_t limit_micro;   /* the tenant's monthly budget */
    /* written by the hooks */
    bool denied;                                      /* a reservation was refused */
    uint64_t spent_micro, reserved_micro, need_micro; /* at the last refusal */
    bool unavailable;                                 /* a reservation could not be checked */
    char unavailable_why[160];
} llm_budget_req;

/* The router's hooks over r (which must outlive the router call). */
vx_llm_budget llm_budget_hooks(llm_budget_req *r);

#endif
