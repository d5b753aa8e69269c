/* The arithmetic of the monthly LLM budget kept in C: a tenant's limit from its row (through the
 * plans model, vx/plans.h), USD text and micro-USD, budget months (UTC) and their Redis keys,
 * and the message a denied tenant reads. The reserve decision itself is made atomically in
 * Redis (services/llm/budget.c). Pure. */
#ifndef VX_LLM_SVC_BUDGET_RULES_H
#define VX_LLM_SVC_BUDGET_RULES_H

#include "vx/plans.h"
#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A non-negative decimal USD amount such as "10", "0.25" or "12.000001" in micro-USD. More
 * than 6 fraction digits are cut (rounded down: a budget never grows by rounding). false on bad
 * text, a negative value, or more than VX_PLAN_LLM_BUDGET_MAX_MICRO. */
bool llm_usd_to_micro(const char *text, uint64_t *micro);

/* micro-USD as a decimal USD text with 6 fraction digits, "0.001250" (cap >= 32). */
void llm_micro_format(uint64_t micro, char *out, size_t cap);

/* The tenant's monthly limit in micro-USD from its row: vx_plan_effective_llm_budget of the plan
 * named `plan` with its own budget when `budget_text` is not NULL (tenants.llm_budget_usd),
 * default_micro being the starter plan's budget. VX_INVALID for an unknown plan or bad text. */
vx_status llm_budget_limit(const char *budget_text, const char *plan, uint64_t default_micro,
                           uint64_t *limit_micro);

/* The budget month "YYYY-MM" (UTC) of a Unix time in ms, into out (8 bytes). */
void llm_budget_month(int64_t unix_ms, char out[8]);
/* The first instant of that month and of the next, as "YYYY-MM-01T00:00:00Z" (21 bytes each),
 * for the ledger query. false if `month` is not YYYY-MM. */
bool llm_budget_month_bounds(const char *month, char from[21], char to[21]);
/* Milliseconds from unix_ms to the end of its month (at least 1). */
int64_t llm_budget_month_left_ms(int64_t unix_ms);

/* The Redis hash of a tenant's month: vx:llm:budget:<tenant>:<YYYY-MM>. */
void llm_budget_key(const char *tenant_id, const char *month, char *out, size_t cap);

/* What a tenant reads when the budget stopped an insight: the monthly limit, what is left
 * after what was spent and what is reserved by calls in flight, and what one call needs. */
void llm_budget_message(uint64_t limit_micro, uint64_t spent_micro, uint64_t reserved_micro,
                        uint64_t need_micro, char *out, size_t cap);

#endif
