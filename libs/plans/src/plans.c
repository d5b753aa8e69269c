/* The one table of plans: names, multipliers, the base (starter) rates, and how a tenant's
 * overrides replace them. */
#include "vx/plans.h"

#include <string.h>

static const char *const plan_names[VX_PLAN_COUNT] = {"starter", "growth", "pro", "enterprise"};
static const int64_t plan_multiplier[VX_PLAN_COUNT] = {1, 3, 5, 10};

static const char *const category_names[VX_PLAN_CAT_COUNT] = {"api", "llm", "remediation"};

/* Base (starter) rates per category. */
static const vx_plan_rate base_rates[VX_PLAN_CAT_COUNT] = {
    {.limit = 100, .period_ms = 60 * 1000},
    {.limit = 100, .period_ms = 86400 * 1000},
    {.limit = 50, .period_ms = 3600 * 1000},
};

static bool find_name(const char *const *names, unsigned n, const char *s, unsigned *out)
{
    for (unsigned i = 0; s != NULL && i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return true;
        }
    }
    return false;
}

const char *vx_plan_str(vx_plan p)
{
    if ((unsigned)p >= VX_PLAN_COUNT)
        return "unknown";
    return plan_names[p];
}

bool vx_plan_parse(const char *s, vx_plan *out)
{
    unsigned i;
    if (!find_name(plan_names, VX_PLAN_COUNT, s, &i))
        return false;
    *out = (vx_plan)i;
    return true;
}

int64_t vx_plan_multiplier(vx_plan p)
{
    if ((unsigned)p >= VX_PLAN_COUNT)
        return 0;
    return plan_multiplier[p];
}

const char *vx_plan_category_str(vx_plan_category c)
{
    if ((unsigned)c >= VX_PLAN_CAT_COUNT)
        return "unknown";
    return category_names[c];
}

bool vx_plan_category_parse(const char *s, vx_plan_category *out)
{
    unsigned i;
    if (!find_name(category_names, VX_PLAN_CAT_COUNT, s, &i))
        return false;
    *out = (vx_plan_category)i;
    return true;
}

vx_status vx_plan_effective_rate(vx_plan plan, vx_plan_category cat, const vx_plan_overrides *ov,
                                 vx_plan_rate *out)
{
    if ((unsigned)plan >= VX_PLAN_COUNT || (unsigned)cat >= VX_PLAN_CAT_COUNT)
        return VX_INVALID;
    int64_t override = 0;
    if (ov != NULL) {
        const int64_t by_cat[VX_PLAN_CAT_COUNT] = {ov->api_per_min, ov->llm_per_day,
                                                   ov->remediation_per_hour};
        override = by_cat[cat];
    }
    if (override < 0 || override > VX_PLAN_LIMIT_MAX)
        return VX_INVALID;
    vx_plan_rate r = base_rates[cat];
    r.limit = override > 0 ? override : r.limit * plan_multiplier[plan];
    *out = r;
    return VX_OK;
}

vx_status vx_plan_effective_llm_budget(vx_plan plan, const vx_plan_overrides *ov,
                                       uint64_t starter_micro, uint64_t *out)
{
    if ((unsigned)plan >= VX_PLAN_COUNT)
        return VX_INVALID;
    if (ov != NULL && ov->has_llm_budget) {
        if (ov->llm_budget_micro > VX_PLAN_LLM_BUDGET_MAX_MICRO)
            return VX_INVALID;
        *out = ov->llm_budget_micro;
        return VX_OK;
    }
    uint64_t mult = (uint64_t)plan_multiplier[plan];
    *out = starter_micro > VX_PLAN_LLM_BUDGET_MAX_MICRO / mult ? VX_PLAN_LLM_BUDGET_MAX_MICRO
                                                               : starter_micro * mult;
    return VX_OK;
}
