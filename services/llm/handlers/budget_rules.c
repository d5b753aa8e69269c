/* Budget arithmetic: a tenant's limit, micro-USD, months. */
#include "budget_rules.h"

#include "vx/clock.h"
#include "vx/money.h"

#include <stdio.h>
#include <string.h>

bool llm_usd_to_micro(const char *text, uint64_t *micro)
{
    if (text == NULL || text[0] == '\0' || text[0] == '-' || text[0] == '+')
        return false;
    vx_money m;
    if (!vx_money_parse(text, strlen(text), &m) || m.units < 0 || m.nanos < 0)
        return false;
    if ((uint64_t)m.units > VX_PLAN_LLM_BUDGET_MAX_MICRO / 1000000u)
        return false;
    uint64_t v = (uint64_t)m.units * 1000000u + (uint64_t)m.nanos / 1000u;
    if (v > VX_PLAN_LLM_BUDGET_MAX_MICRO)
        return false;
    *micro = v;
    return true;
}

void llm_micro_format(uint64_t micro, char *out, size_t cap)
{
    snprintf(out, cap, "%llu.%06llu", (unsigned long long)(micro / 1000000u),
             (unsigned long long)(micro % 1000000u));
}

vx_status llm_budget_limit(const char *budget_text, const char *plan, uint64_t default_micro,
                           uint64_t *limit_micro)
{
    /* A tenant with its own budget gets it whatever its plan says. */
    vx_plan p = VX_PLAN_STARTER;
    if (!vx_plan_parse(plan, &p) && budget_text == NULL)
        return VX_INVALID;
    vx_plan_overrides ov = {.has_llm_budget = budget_text != NULL};
    if (budget_text != NULL && !llm_usd_to_micro(budget_text, &ov.llm_budget_micro))
        return VX_INVALID;
    return vx_plan_effective_llm_budget(p, &ov, default_micro, limit_micro);
}

void llm_budget_month(int64_t unix_ms, char out[8])
{
    int y, m, d;
    int64_t days = unix_ms / 86400000;
    if (unix_ms < 0 && unix_ms % 86400000 != 0)
        days--;
    vx_unix_days_to_civil(days, &y, &m, &d);
    snprintf(out, 8, "%04u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u);
}

bool llm_budget_month_bounds(const char *month, char from[21], char to[21])
{
    if (month == NULL || strlen(month) != 7 || month[4] != '-')
        return false;
    for (int i = 0; i < 7; i++)
        if (i != 4 && (month[i] < '0' || month[i] > '9'))
            return false;
    int y =
        (month[0] - '0') * 1000 + (month[1] - '0') * 100 + (month[2] - '0') * 10 + (month[3] - '0');
    int m = (month[5] - '0') * 10 + (month[6] - '0');
    if (y < 1 || m < 1 || m > 12)
        return false;
    int ny = m == 12 ? y + 1 : y, nm = m == 12 ? 1 : m + 1;
    snprintf(from, 21, "%04u-%02u-01T00:00:00Z", (unsigned)y % 10000u, (unsigned)m % 100u);
    snprintf(to, 21, "%04u-%02u-01T00:00:00Z", (unsigned)ny % 10000u, (unsigned)nm % 100u);
    return true;
}

int64_t llm_budget_month_left_ms(int64_t unix_ms)
{
    char month[8], from[21], to[21];
    llm_budget_month(unix_ms, month);
    llm_budget_month_bounds(month, from, to);
    int64_t end_s;
    if (!vx_parse_iso8601(to, strlen(to), &end_s))
        return 1; /* cannot happen: llm_budget_month_bounds wrote `to` */
    int64_t left = end_s * 1000 - unix_ms;
    return left > 0 ? left : 1;
}

void llm_budget_key(const char *tenant_id, const char *month, char *out, size_t cap)
{
    snprintf(out, cap, "vx:llm:budget:%s:%s", tenant_id, month);
}

void llm_budget_message(uint64_t limit_micro, uint64_t spent_micro, uint64_t reserved_micro,
                        uint64_t need_micro, char *out, size_t cap)
{
    uint64_t used = spent_micro + reserved_micro;
    uint64_t left = used >= limit_micro ? 0 : limit_micro - used;
    char lim[32], lft[32], need[32], spent[32];
    llm_micro_format(limit_micro, lim, sizeof lim);
    llm_micro_format(left, lft, sizeof lft);
    llm_micro_format(need_micro, need, sizeof need);
    llm_micro_format(spent_micro, spent, sizeof spent);
    if (reserved_micro > 0) {
        char res[32];
        llm_micro_format(reserved_micro, res, sizeof res);
        snprintf(out, cap,
                 "the monthly LLM budget of %s USD does not cover this insight: %s USD spent "
                 "this month and %s USD held by insights in progress leave %s USD, and a call "
                 "needs up to %s USD",
                 lim, spent, res, lft, need);
    } else {
        snprintf(out, cap,
                 "the monthly LLM budget of %s USD does not cover this insight: %s USD spent "
                 "this month leaves %s USD, and a call needs up to %s USD",
                 lim, spent, lft, need);
    }
}
