/* The pure part of rate limiting: GCRA arithmetic in integer microseconds, the plan and
 * category table with per-tenant overrides, and the HTTP header values of a decision. */
#include "ratelimit_internal.h"

#include <string.h>

static const char *const category_names[VX_RL_CATEGORY_COUNT] = {"api", "llm", "remediation"};
static const char *const plan_names[] = {"starter", "growth", "pro", "enterprise"};
#define PLAN_COUNT (sizeof plan_names / sizeof plan_names[0])
static const int64_t plan_multiplier[PLAN_COUNT] = {1, 3, 5, 10};

/* Base (starter) limits per category. */
static const vx_rl_limit base_limits[VX_RL_CATEGORY_COUNT] = {
    {.limit = 100, .period_ms = 60 * 1000},
    {.limit = 100, .period_ms = 86400 * 1000},
    {.limit = 50, .period_ms = 3600 * 1000},
};

const char *vx_rl_category_str(vx_rl_category c)
{
    if ((unsigned)c >= VX_RL_CATEGORY_COUNT)
        return "unknown";
    return category_names[c];
}

bool vx_rl_category_parse(const char *s, vx_rl_category *out)
{
    for (unsigned i = 0; s != NULL && i < VX_RL_CATEGORY_COUNT; i++) {
        if (strcmp(s, category_names[i]) == 0) {
            *out = (vx_rl_category)i;
            return true;
        }
    }
    return false;
}

const char *vx_rl_plan_str(vx_rl_plan p)
{
    if ((unsigned)p >= PLAN_COUNT)
        return "unknown";
    return plan_names[p];
}

bool vx_rl_plan_parse(const char *s, vx_rl_plan *out)
{
    for (unsigned i = 0; s != NULL && i < PLAN_COUNT; i++) {
        if (strcmp(s, plan_names[i]) == 0) {
            *out = (vx_rl_plan)i;
            return true;
        }
    }
    return false;
}

vx_status vx_rl_effective_limit(vx_rl_plan plan, vx_rl_category cat, const vx_rl_overrides *ov,
                                vx_rl_limit *out)
{
    if ((unsigned)plan >= PLAN_COUNT || (unsigned)cat >= VX_RL_CATEGORY_COUNT)
        return VX_INVALID;
    int64_t override = 0;
    if (ov != NULL) {
        const int64_t by_cat[VX_RL_CATEGORY_COUNT] = {ov->api_per_min, ov->llm_per_day,
                                                      ov->remediation_per_hour};
        override = by_cat[cat];
    }
    if (override < 0 || override > VX_RL_LIMIT_MAX)
        return VX_INVALID;
    vx_rl_limit l = base_limits[cat];
    l.limit = override > 0 ? override : l.limit * plan_multiplier[plan];
    *out = l;
    return VX_OK;
}

bool vx_rl_limit_valid(const vx_rl_limit *lim)
{
    return lim != NULL && lim->limit >= 1 && lim->limit <= VX_RL_LIMIT_MAX && lim->period_ms >= 1 &&
           lim->period_ms <= VX_RL_PERIOD_MAX_MS;
}

int64_t vx_rl_interval_us(const vx_rl_limit *lim)
{
    int64_t t = lim->period_ms * 1000 / lim->limit;
    return t < 1 ? 1 : t;
}

/* Microseconds to milliseconds, rounded up (never negative). */
static int64_t ceil_ms(int64_t us)
{
    return us <= 0 ? 0 : (us + 999) / 1000;
}

vx_status vx_rl_gcra(int64_t stored_tat_us, int64_t now_us, const vx_rl_limit *lim, int64_t cost,
                     vx_rl_gcra_result *out)
{
    if (!vx_rl_limit_valid(lim) || cost < 0 || cost > lim->limit || now_us < 0)
        return VX_INVALID;
    const int64_t interval = vx_rl_interval_us(lim);
    /* interval * limit <= period in us (<= 3.2e13), far from overflow. */
    const int64_t tolerance = interval * lim->limit;
    int64_t tat = stored_tat_us < now_us ? now_us : stored_tat_us;
    /* A TAT further ahead than one full tolerance was stored under a higher cost per request
     * (the limit has been lowered): the tenant waits at most one period. */
    if (tat > now_us + tolerance)
        tat = now_us + tolerance;
    const int64_t new_tat = tat + interval * cost;
    const int64_t allow_at = new_tat - tolerance;

    vx_rl_gcra_result r = {0};
    r.allowed = allow_at <= now_us;
    r.tat_us = r.allowed ? new_tat : tat;
    r.remaining = (now_us + tolerance - r.tat_us) / interval;
    if (r.remaining < 0)
        r.remaining = 0;
    r.reset_ms = ceil_ms(r.tat_us - now_us);
    r.retry_after_ms = r.allowed ? 0 : ceil_ms(allow_at - now_us);
    *out = r;
    return VX_OK;
}

/* Milliseconds to whole seconds, rounded up. */
static int64_t ceil_s(int64_t ms)
{
    return ms <= 0 ? 0 : (ms + 999) / 1000;
}

void vx_rl_headers_from(const vx_rl_decision *d, vx_rl_headers *out)
{
    vx_rl_headers h = {0};
    if (d->status == VX_OK) {
        h.limit = d->limit.limit;
        h.remaining = d->remaining;
        h.reset_s = ceil_s(d->reset_ms);
        if (!d->allowed) {
            h.retry_after_s = ceil_s(d->retry_after_ms);
            if (h.retry_after_s < 1)
                h.retry_after_s = 1;
        }
    }
    *out = h;
}
