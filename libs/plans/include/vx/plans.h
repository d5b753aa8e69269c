/* The tenant plans model: the plans (starter, growth, pro, enterprise) and what each entitles a
 * tenant to — rate limits per category and the monthly LLM budget — with the tenant's own
 * overrides (the tenants row). Pure: no I/O, no state; every function is thread-safe. */
#ifndef VX_PLANS_H
#define VX_PLANS_H

#include "vx/status.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- Plans ---- */

typedef enum { VX_PLAN_STARTER, VX_PLAN_GROWTH, VX_PLAN_PRO, VX_PLAN_ENTERPRISE } vx_plan;
#define VX_PLAN_COUNT 4

/* "starter", "growth", "pro", "enterprise" (static strings; "unknown" out of range); parse is
 * the inverse (exact, case-sensitive), false on other text or NULL with *out untouched. */
const char *vx_plan_str(vx_plan p);
VX_MUST_CHECK bool vx_plan_parse(const char *s, vx_plan *out);

/* What a plan multiplies the base (starter) values by: starter 1, growth 3, pro 5,
 * enterprise 10; 0 for a value out of range. */
int64_t vx_plan_multiplier(vx_plan p);

/* ---- Rate limits ---- */

typedef enum { VX_PLAN_CAT_API, VX_PLAN_CAT_LLM, VX_PLAN_CAT_REMEDIATION } vx_plan_category;
#define VX_PLAN_CAT_COUNT 3

/* "api", "llm", "remediation" (static strings; "unknown" out of range); parse is the inverse,
 * false on other text or NULL with *out untouched. */
const char *vx_plan_category_str(vx_plan_category c);
VX_MUST_CHECK bool vx_plan_category_parse(const char *s, vx_plan_category *out);

/* A rate: `limit` requests per `period_ms`, bursts of up to `limit` allowed. */
typedef struct {
    int64_t limit;     /* 1 .. VX_PLAN_LIMIT_MAX */
    int64_t period_ms; /* 1 .. VX_PLAN_PERIOD_MAX_MS */
} vx_plan_rate;

#define VX_PLAN_LIMIT_MAX INT64_C(1000000000)
#define VX_PLAN_PERIOD_MAX_MS (INT64_C(366) * 86400 * 1000)

/* ---- The monthly LLM budget ---- */

/* Largest budget, in micro-USD (1e9 USD): far below what Lua's doubles count exactly (2^53),
 * so that the budget's Redis script sums stay exact. */
#define VX_PLAN_LLM_BUDGET_MAX_MICRO UINT64_C(1000000000000000)

/* ---- A tenant's overrides ---- */

/* The tenants row's own values. A rate override (columns api_per_min, llm_per_day,
 * remediation_per_hour) of 0 means "not set" (a NULL column); a set value replaces the plan's
 * limit for that category and is not multiplied by the plan. The LLM budget override is
 * tenants.llm_budget_usd (in micro-USD here); set, it replaces the plan's budget, unmultiplied,
 * and may be 0 (no paid calls). */
typedef struct {
    int64_t api_per_min;
    int64_t llm_per_day;
    int64_t remediation_per_hour;
    bool has_llm_budget;
    uint64_t llm_budget_micro;
} vx_plan_overrides;

/* The effective rate of (plan, category, overrides) into *out: api 100/min, llm 100/day,
 * remediation 50/hour times the plan's multiplier, unless overridden. `ov` (borrowed) may be
 * NULL. VX_INVALID, *out untouched, for an unknown plan or category, or a rate override < 0
 * or > VX_PLAN_LIMIT_MAX. */
VX_MUST_CHECK vx_status vx_plan_effective_rate(vx_plan plan, vx_plan_category cat,
                                               const vx_plan_overrides *ov, vx_plan_rate *out);

/* The effective monthly LLM budget in micro-USD into *out: the tenant's own budget when set,
 * else `starter_micro` (the configured budget of a starter tenant) times the plan's
 * multiplier, saturating at VX_PLAN_LLM_BUDGET_MAX_MICRO. `ov` (borrowed) may be NULL.
 * VX_INVALID, *out untouched, for an unknown plan, or an own budget above the maximum. */
VX_MUST_CHECK vx_status vx_plan_effective_llm_budget(vx_plan plan, const vx_plan_overrides *ov,
                                                     uint64_t starter_micro, uint64_t *out);

#endif
