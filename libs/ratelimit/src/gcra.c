/* The pure part of rate limiting: GCRA arithmetic in integer microseconds and the HTTP header
 * values of a decision (the rates themselves come from libs/plans). */
#include "vx/ratelimit.h"

bool vx_rl_limit_valid(const vx_plan_rate *lim)
{
    return lim != NULL && lim->limit >= 1 && lim->limit <= VX_PLAN_LIMIT_MAX &&
           lim->period_ms >= 1 && lim->period_ms <= VX_PLAN_PERIOD_MAX_MS;
}

int64_t vx_rl_interval_us(const vx_plan_rate *lim)
{
    int64_t t = lim->period_ms * 1000 / lim->limit;
    return t < 1 ? 1 : t;
}

/* Microseconds to milliseconds, rounded up (never negative). */
static int64_t ceil_ms(int64_t us)
{
    return us <= 0 ? 0 : (us + 999) / 1000;
}

vx_status vx_rl_gcra(int64_t stored_tat_us, int64_t now_us, const vx_plan_rate *lim, int64_t cost,
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
