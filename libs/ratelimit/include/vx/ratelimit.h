/* Per-tenant, per-category rate limits: the GCRA arithmetic and plan table (pure, no I/O), and
 * an asynchronous limiter for libuv loops that decides with one atomic Redis round trip (a Lua
 * script) and falls back to an in-process GCRA table behind a circuit breaker. */
#ifndef VX_RATELIMIT_H
#define VX_RATELIMIT_H

#include "vx/breaker.h"
#include "vx/metrics.h"
#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* ---- Categories, plans, limits (pure; thread-safe) ---- */

typedef enum { VX_RL_API, VX_RL_LLM, VX_RL_REMEDIATION } vx_rl_category;
#define VX_RL_CATEGORY_COUNT 3

/* Plans scale the base (starter) limits: starter 1x, growth 3x, pro 5x, enterprise 10x. */
typedef enum {
    VX_RL_PLAN_STARTER,
    VX_RL_PLAN_GROWTH,
    VX_RL_PLAN_PRO,
    VX_RL_PLAN_ENTERPRISE
} vx_rl_plan;

/* "api", "llm", "remediation" (static strings); parse is the inverse, false on other text. */
const char *vx_rl_category_str(vx_rl_category c);
VX_MUST_CHECK bool vx_rl_category_parse(const char *s, vx_rl_category *out);
/* "starter", "growth", "pro", "enterprise"; parse is the inverse, false on other text. */
const char *vx_rl_plan_str(vx_rl_plan p);
VX_MUST_CHECK bool vx_rl_plan_parse(const char *s, vx_rl_plan *out);

/* A limit: `limit` requests per `period_ms`, bursts of up to `limit` allowed. */
typedef struct {
    int64_t limit;     /* 1 .. VX_RL_LIMIT_MAX */
    int64_t period_ms; /* 1 .. VX_RL_PERIOD_MAX_MS */
} vx_rl_limit;

#define VX_RL_LIMIT_MAX INT64_C(1000000000)
#define VX_RL_PERIOD_MAX_MS (INT64_C(366) * 86400 * 1000)

/* A tenant row's overrides (columns api_per_min, llm_per_day, remediation_per_hour); 0 means
 * "not set" (a NULL column). A set value replaces the plan's limit for that category; it is not
 * multiplied by the plan. */
typedef struct {
    int64_t api_per_min;
    int64_t llm_per_day;
    int64_t remediation_per_hour;
} vx_rl_overrides;

/* The effective limit of (plan, category, overrides) into *out: api 100/min, llm 100/day,
 * remediation 50/hour times the plan's multiplier, unless overridden. `ov` may be NULL.
 * VX_INVALID for an unknown plan or category, or an override < 0 or > VX_RL_LIMIT_MAX. */
VX_MUST_CHECK vx_status vx_rl_effective_limit(vx_rl_plan plan, vx_rl_category cat,
                                              const vx_rl_overrides *ov, vx_rl_limit *out);

/* One GCRA step. Time is in integer microseconds (Redis TIME resolution), so that limits far
 * above one request per millisecond stay exact enough; durations out are in milliseconds. */
typedef struct {
    bool allowed;
    int64_t tat_us;         /* the theoretical arrival time to store (the old one when denied) */
    int64_t remaining;      /* requests that could be made right now after this one */
    int64_t reset_ms;       /* until the full limit is available again (rounded up) */
    int64_t retry_after_ms; /* denied: until this request would be allowed (rounded up); else 0 */
} vx_rl_gcra_result;

/* The emission interval of `lim` in microseconds: period / limit, at least 1. The burst
 * tolerance is interval * limit, so a burst of exactly `limit` is allowed from empty. */
int64_t vx_rl_interval_us(const vx_rl_limit *lim);

/* Decides a request of `cost` units (1 for a request; 0 only reads the state, never denies,
 * stores nothing new) against `stored_tat_us` (0 or any past time: nothing stored) at `now_us`.
 * A stored TAT beyond now + tolerance (the limit was lowered) is treated as now + tolerance.
 * VX_INVALID for a limit out of range or cost < 0 or cost > limit; *out untouched then. Pure. */
VX_MUST_CHECK vx_status vx_rl_gcra(int64_t stored_tat_us, int64_t now_us, const vx_rl_limit *lim,
                                   int64_t cost, vx_rl_gcra_result *out);

/* ---- Decisions and HTTP header values ---- */

typedef enum { VX_RL_SOURCE_REDIS, VX_RL_SOURCE_LOCAL } vx_rl_source;

/* What a check decided, handed to the callback (borrowed: valid during the callback only). */
typedef struct {
    vx_status status; /* VX_OK, or VX_CLOSED when the limiter was destroyed first (then only
                         `category` is set; treat as "not decided", e.g. answer 503) */
    bool allowed;
    vx_rl_source source; /* who decided: Redis, or this process's fallback table */
    vx_rl_category category;
    vx_rl_limit limit;
    int64_t remaining;
    int64_t reset_ms;
    int64_t retry_after_ms; /* 0 when allowed */
} vx_rl_decision;

/* Values for RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset and (on 429) Retry-After,
 * in whole seconds rounded up; retry_after_s is >= 1 when denied and 0 when allowed. */
typedef struct {
    int64_t limit;
    int64_t remaining;
    int64_t reset_s;
    int64_t retry_after_s;
} vx_rl_headers;

void vx_rl_headers_from(const vx_rl_decision *d, vx_rl_headers *out);

/* ---- The process-wide part: configuration, breaker, fallback table, metrics ---- */

typedef struct {
    const char *redis_url;      /* redis://[[user]:password@]host[:port][/db]; copied. host is an
                                   IP or a name resolved (blocking) on each connection attempt */
    const char *key_prefix;     /* keys are <prefix><category>:<tenant> ("vx:rl:"); copied */
    const char *metrics_prefix; /* metric names start with it ("valdrix_api"); copied */
    int64_t command_timeout_ms; /* a check not answered by Redis in time counts as a failure and
                                   is decided locally; the connection is then renewed (50) */
    int64_t connect_timeout_ms; /* per connection attempt (500) */
    int64_t reconnect_min_ms;   /* backoff after a failed or lost connection, doubling (50) */
    int64_t reconnect_max_ms;   /* ... up to this (2000) */
    vx_breaker_config breaker;  /* around Redis (vx_breaker_defaults(): open 5 s, 2 probes) */
    size_t local_capacity;      /* entries of the fallback table; least recently used ones are
                                   evicted beyond it (100000) */
} vx_ratelimit_config;

/* The defaults above; redis_url is NULL and must be set. */
vx_ratelimit_config vx_ratelimit_defaults(void);

typedef struct vx_ratelimit_shared vx_ratelimit_shared;

/* Creates the per-process state shared by the limiters of all loops: the configuration, the
 * Redis circuit breaker, the fallback GCRA table (mutex-protected) and the metrics, registered
 * in `m` (borrowed; it must outlive the shared state; NULL keeps no metrics):
 *   <prefix>_ratelimit_decisions_total{category,outcome="allowed|denied",source="redis|local"}
 *   <prefix>_ratelimit_redis_errors_total{reason="timeout|disconnected|error|mismatch"}
 *   <prefix>_ratelimit_breaker_state (0 closed, 1 open, 2 half-open)
 *   <prefix>_ratelimit_local_evictions_total
 * Makes no connection. VX_INVALID (nothing created) for a missing or unparsable URL, a bad
 * prefix or non-positive timeouts. Thread-safe afterwards; destroy it after every limiter. */
VX_MUST_CHECK vx_status vx_ratelimit_shared_create(const vx_ratelimit_config *cfg, vx_metrics *m,
                                                   vx_ratelimit_shared **out);
void vx_ratelimit_shared_destroy(vx_ratelimit_shared *s);

/* Decides against the fallback table only (what a limiter does while Redis is out), without
 * touching Redis, the breaker or the metrics. Thread-safe. Same errors as vx_rl_gcra. */
VX_MUST_CHECK vx_status vx_ratelimit_local_check(vx_ratelimit_shared *s, const char *tenant,
                                                 vx_rl_category cat, const vx_rl_limit *lim,
                                                 vx_rl_decision *out);

/* The breaker's state now (for /readyz and tests). Thread-safe. */
vx_breaker_state vx_ratelimit_breaker_state(vx_ratelimit_shared *s);

/* ---- One limiter per event loop ---- */

typedef struct vx_ratelimit vx_ratelimit;

/* Called exactly once per accepted check, on the loop's thread. `d` is borrowed. It may run
 * before vx_ratelimit_check returns (decisions made locally are synchronous). It may start new
 * checks; it must not destroy the limiter. */
typedef void (*vx_rl_cb)(void *ctx, const vx_rl_decision *d);

/* Creates a limiter on `loop` (borrowed) using `shared` (borrowed; must outlive it) and starts
 * connecting to Redis in the background; reconnects with backoff whenever the connection is
 * lost. Call on the loop's thread, or before that loop runs. Not thread-safe: every call on
 * a limiter must come from its loop's thread. Never fails except for bad arguments
 * (VX_INVALID). */
VX_MUST_CHECK vx_status vx_ratelimit_create(uv_loop_t *loop, vx_ratelimit_shared *shared,
                                            vx_ratelimit **out);

/* Checks (and counts, cost 1) one request of `tenant` (1..128 bytes, copied) in `cat` under
 * `lim` (copied) and calls cb(ctx, decision) once. Redis decides while the breaker lets calls
 * through; on a Redis error, timeout or lost connection, and while the breaker is open, the
 * fallback table decides, so a decision is always made. Returns VX_OK (cb will run or has run),
 * VX_INVALID for bad arguments or VX_CLOSED once destroy has begun (cb will not run then). */
VX_MUST_CHECK vx_status vx_ratelimit_check(vx_ratelimit *rl, const char *tenant, vx_rl_category cat,
                                           const vx_rl_limit *lim, vx_rl_cb cb, void *ctx);

/* As vx_ratelimit_check, but reads what remains without counting a request (for /v1/usage):
 * the decision is always allowed. */
VX_MUST_CHECK vx_status vx_ratelimit_peek(vx_ratelimit *rl, const char *tenant, vx_rl_category cat,
                                          const vx_rl_limit *lim, vx_rl_cb cb, void *ctx);

/* Cancels every check still waiting for Redis — each callback runs once, synchronously, with
 * status VX_CLOSED — closes the connection and the limiter's handles. Call on the loop's
 * thread, not from a check callback. The handles close asynchronously: run the loop again
 * (uv_run returns once they are gone) before uv_loop_close; the memory is freed then. NULL is
 * fine. */
void vx_ratelimit_destroy(vx_ratelimit *rl);

#endif
