/* The rate limiter of libuv loops: decides each check with one atomic Redis round trip (a Lua
 * script running vx/ratelimit.h's GCRA) and falls back to an in-process GCRA table behind a
 * circuit breaker. The adapter half of libs/ratelimit (vx::ratelimit_redis). */
#ifndef VX_RATELIMIT_REDIS_H
#define VX_RATELIMIT_REDIS_H

#include "vx/breaker.h"
#include "vx/metrics.h"
#include "vx/ratelimit.h"
#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

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
                                                 vx_plan_category cat, const vx_plan_rate *lim,
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
VX_MUST_CHECK vx_status vx_ratelimit_check(vx_ratelimit *rl, const char *tenant,
                                           vx_plan_category cat, const vx_plan_rate *lim,
                                           vx_rl_cb cb, void *ctx);

/* As vx_ratelimit_check, but reads what remains without counting a request (for /v1/usage):
 * the decision is always allowed. */
VX_MUST_CHECK vx_status vx_ratelimit_peek(vx_ratelimit *rl, const char *tenant,
                                          vx_plan_category cat, const vx_plan_rate *lim,
                                          vx_rl_cb cb, void *ctx);

/* Cancels every check still waiting for Redis — each callback runs once, synchronously, with
 * status VX_CLOSED — closes the connection and the limiter's handles. Call on the loop's
 * thread, not from a check callback. The handles close asynchronously: run the loop again
 * (uv_run returns once they are gone) before uv_loop_close; the memory is freed then. NULL is
 * fine. */
void vx_ratelimit_destroy(vx_ratelimit *rl);

#endif
