/* Per-tenant, per-category rate limits, the pure part: GCRA arithmetic in integer
 * microseconds, an in-process GCRA table, and what a decision says (its HTTP header values).
 * The rates come from the plans model (vx/plans.h); the Redis limiter for libuv loops that
 * decides with these is vx/ratelimit_redis.h. No I/O; every function is thread-safe. */
#ifndef VX_RATELIMIT_H
#define VX_RATELIMIT_H

#include "vx/plans.h"
#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- GCRA ---- */

/* Whether `lim` is within 1..VX_PLAN_LIMIT_MAX requests per 1..VX_PLAN_PERIOD_MAX_MS. */
bool vx_rl_limit_valid(const vx_plan_rate *lim);

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
int64_t vx_rl_interval_us(const vx_plan_rate *lim);

/* Decides a request of `cost` units (1 for a request; 0 only reads the state, never denies,
 * stores nothing new) against `stored_tat_us` (0 or any past time: nothing stored) at `now_us`.
 * A stored TAT beyond now + tolerance (the limit was lowered) is treated as now + tolerance.
 * VX_INVALID for a limit out of range or cost < 0 or cost > limit; *out untouched then. Pure. */
VX_MUST_CHECK vx_status vx_rl_gcra(int64_t stored_tat_us, int64_t now_us, const vx_plan_rate *lim,
                                   int64_t cost, vx_rl_gcra_result *out);

/* ---- Decisions and HTTP header values ---- */

typedef enum { VX_RL_SOURCE_REDIS, VX_RL_SOURCE_LOCAL } vx_rl_source;

/* What a check decided, handed to the callback (borrowed: valid during the callback only). */
typedef struct {
    vx_status status; /* VX_OK, or VX_CLOSED when the limiter was destroyed first (then only
                         `category` is set; treat as "not decided", e.g. answer 503) */
    bool allowed;
    vx_rl_source source; /* who decided: Redis, or this process's fallback table */
    vx_plan_category category;
    vx_plan_rate limit;
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

/* ---- The in-process table ---- */

/* A GCRA table in memory: a hash map of key -> TAT (microseconds) with least-recently-used
 * eviction beyond a fixed capacity. Thread-safe (one mutex). */
typedef struct vx_rl_table vx_rl_table;

/* A table of at most `capacity` keys (at least 1). Never fails (allocation failure aborts). */
vx_rl_table *vx_rl_table_create(size_t capacity);
void vx_rl_table_destroy(vx_rl_table *t); /* NULL is fine */
/* One GCRA step for `key` (key_len bytes, copied) at `now_us`; stores the new TAT when allowed
 * and cost > 0 (evicting the least recently used entry when full; *evicted_live tells whether
 * that entry still held state). Same errors as vx_rl_gcra; *out is written only on VX_OK. */
VX_MUST_CHECK vx_status vx_rl_table_check(vx_rl_table *t, const char *key, size_t key_len,
                                          const vx_plan_rate *lim, int64_t cost, int64_t now_us,
                                          vx_rl_gcra_result *out, bool *evicted_live);
/* Keys held now. */
size_t vx_rl_table_size(vx_rl_table *t);

#endif
