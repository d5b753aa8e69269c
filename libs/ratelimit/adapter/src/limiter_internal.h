/* Internals shared by the files of the Redis limiter (libs/ratelimit/adapter): the process-wide
 * state, the Lua script, keys and counting. Not installed; tests of the limiter may include it. */
#ifndef VX_RATELIMIT_LIMITER_INTERNAL_H
#define VX_RATELIMIT_LIMITER_INTERNAL_H

#include "vx/ratelimit_redis.h"

#include <stdatomic.h>

#define RL_TENANT_MAX 128
/* Longest key: prefix (at most 64) + category + ':' + tenant, with NUL. */
#define RL_PREFIX_MAX 64
#define RL_KEY_MAX (RL_PREFIX_MAX + 16 + 1 + RL_TENANT_MAX + 1)

enum { RL_ERR_TIMEOUT, RL_ERR_DISCONNECTED, RL_ERR_ERROR, RL_ERR_MISMATCH, RL_ERR_COUNT };

struct vx_ratelimit_shared {
    vx_ratelimit_config cfg; /* strings point at the copies below */
    char *url;               /* as given (only logged redacted) */
    char *host;
    int port;
    char *user;     /* NULL unless the URL names one */
    char *password; /* NULL unless the URL has one */
    int db;
    char *key_prefix;
    char *metrics_prefix;
    char script_sha[41];
    vx_breaker *breaker;
    vx_rl_table *table;
    /* 1 while the breaker is not closed (fallback in force), as last logged. */
    atomic_int fallback_logged;
    vx_counter *decisions[VX_PLAN_CAT_COUNT][2][2]; /* [cat][denied][source] */
    vx_counter *errors[RL_ERR_COUNT];
    vx_counter *evictions;
    vx_gauge *breaker_gauge;
};

/* The GCRA script over a batch of checks: KEYS[i] the key of check i; ARGV[3i-2..3i] its
 * interval_us, limit, cost. Returns, for each check in order, {allowed, stored TAT as read (0 if
 * none), server time in us, TAT after}: 4 integers per check. Checks of one key see each other
 * in order. Uses Redis TIME (once per batch), so every replica decides on the server's clock. */
extern const char vx_rl_script[];

/* Writes "<prefix><category>:<tenant>" into key (RL_KEY_MAX bytes); returns its length, or 0
 * for a tenant that is empty or longer than RL_TENANT_MAX. */
size_t vx_rl_make_key(const vx_ratelimit_shared *s, vx_plan_category cat, const char *tenant,
                      char *key);

/* Decides with the fallback table and counts the decision (source local). */
void vx_rl_decide_local(vx_ratelimit_shared *s, const char *key, size_t key_len,
                        vx_plan_category cat, const vx_plan_rate *lim, int64_t cost,
                        vx_rl_decision *out);
/* Counts a decision by category, outcome and source. */
void vx_rl_count_decision(vx_ratelimit_shared *s, const vx_rl_decision *d);
void vx_rl_count_error(vx_ratelimit_shared *s, int reason);
/* Reads the breaker's state, updates the gauge, and logs once when the fallback starts (the
 * breaker left closed) and once when it ends (closed again). */
void vx_rl_note_breaker(vx_ratelimit_shared *s, int64_t now_ms);

#endif
