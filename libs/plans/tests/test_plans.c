/* Unit tests of the tenant plans model: names, multipliers, the rates per category and the
 * monthly LLM budget each plan gives, and how a tenant's overrides replace them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "vx/plans.h"

static void expect_rate(vx_plan plan, vx_plan_category cat, const vx_plan_overrides *ov,
                        int64_t limit, int64_t period_ms)
{
    vx_plan_rate r = {0};
    assert_int_equal(vx_plan_effective_rate(plan, cat, ov, &r), VX_OK);
    assert_int_equal(r.limit, limit);
    assert_int_equal(r.period_ms, period_ms);
}

static void test_plans_names_and_multipliers(void **state)
{
    (void)state;
    const char *names[] = {"starter", "growth", "pro", "enterprise"};
    const int64_t mult[] = {1, 3, 5, 10};
    for (int i = 0; i < VX_PLAN_COUNT; i++) {
        vx_plan p = (vx_plan)99;
        assert_true(vx_plan_parse(names[i], &p));
        assert_int_equal(p, i);
        assert_string_equal(vx_plan_str(p), names[i]);
        assert_int_equal(vx_plan_multiplier(p), mult[i]);
    }
    vx_plan p = VX_PLAN_PRO;
    assert_false(vx_plan_parse("free", &p));
    assert_false(vx_plan_parse("Enterprise", &p));
    assert_false(vx_plan_parse("", &p));
    assert_false(vx_plan_parse(NULL, &p));
    assert_int_equal(p, VX_PLAN_PRO); /* untouched */
    assert_string_equal(vx_plan_str((vx_plan)7), "unknown");
    assert_int_equal(vx_plan_multiplier((vx_plan)7), 0);

    vx_plan_category c;
    assert_true(vx_plan_category_parse("remediation", &c));
    assert_int_equal(c, VX_PLAN_CAT_REMEDIATION);
    assert_false(vx_plan_category_parse("API", &c));
    assert_false(vx_plan_category_parse(NULL, &c));
    assert_string_equal(vx_plan_category_str(VX_PLAN_CAT_LLM), "llm");
    assert_string_equal(vx_plan_category_str((vx_plan_category)3), "unknown");
}

static void test_plans_multiply_base_rates(void **state)
{
    (void)state;
    const int64_t min = 60000, hour = 3600000, day = 86400000;
    const vx_plan plans[] = {VX_PLAN_STARTER, VX_PLAN_GROWTH, VX_PLAN_PRO, VX_PLAN_ENTERPRISE};
    const int64_t mult[] = {1, 3, 5, 10};
    for (int i = 0; i < 4; i++) {
        expect_rate(plans[i], VX_PLAN_CAT_API, NULL, 100 * mult[i], min);
        expect_rate(plans[i], VX_PLAN_CAT_LLM, NULL, 100 * mult[i], day);
        expect_rate(plans[i], VX_PLAN_CAT_REMEDIATION, NULL, 50 * mult[i], hour);
    }
    vx_plan_rate r = {.limit = 9};
    assert_int_equal(vx_plan_effective_rate((vx_plan)7, VX_PLAN_CAT_API, NULL, &r), VX_INVALID);
    assert_int_equal(vx_plan_effective_rate(VX_PLAN_PRO, (vx_plan_category)3, NULL, &r),
                     VX_INVALID);
    assert_int_equal(r.limit, 9);
}

static void test_plans_overrides_replace_plan_rates(void **state)
{
    (void)state;
    /* Only api is set: it wins over the plan, unmultiplied; the others follow the plan. */
    vx_plan_overrides ov = {.api_per_min = 100000};
    expect_rate(VX_PLAN_PRO, VX_PLAN_CAT_API, &ov, 100000, 60000);
    expect_rate(VX_PLAN_PRO, VX_PLAN_CAT_LLM, &ov, 500, 86400000);
    expect_rate(VX_PLAN_PRO, VX_PLAN_CAT_REMEDIATION, &ov, 250, 3600000);
    ov = (vx_plan_overrides){.llm_per_day = 5, .remediation_per_hour = 1};
    expect_rate(VX_PLAN_ENTERPRISE, VX_PLAN_CAT_LLM, &ov, 5, 86400000);
    expect_rate(VX_PLAN_ENTERPRISE, VX_PLAN_CAT_REMEDIATION, &ov, 1, 3600000);
    expect_rate(VX_PLAN_ENTERPRISE, VX_PLAN_CAT_API, &ov, 1000, 60000);
    /* the LLM budget override does not touch the rates */
    ov = (vx_plan_overrides){.has_llm_budget = true, .llm_budget_micro = 1};
    expect_rate(VX_PLAN_GROWTH, VX_PLAN_CAT_LLM, &ov, 300, 86400000);
    vx_plan_rate r = {.limit = 9};
    ov = (vx_plan_overrides){.api_per_min = -1};
    assert_int_equal(vx_plan_effective_rate(VX_PLAN_STARTER, VX_PLAN_CAT_API, &ov, &r), VX_INVALID);
    ov = (vx_plan_overrides){.api_per_min = VX_PLAN_LIMIT_MAX + 1};
    assert_int_equal(vx_plan_effective_rate(VX_PLAN_STARTER, VX_PLAN_CAT_API, &ov, &r), VX_INVALID);
    assert_int_equal(r.limit, 9);
    ov = (vx_plan_overrides){.api_per_min = VX_PLAN_LIMIT_MAX};
    expect_rate(VX_PLAN_STARTER, VX_PLAN_CAT_API, &ov, VX_PLAN_LIMIT_MAX, 60000);
}

static void test_plans_llm_budget_by_plan_or_tenant(void **state)
{
    (void)state;
    const uint64_t starter = 10000000; /* 10 USD */
    const uint64_t want[] = {10000000, 30000000, 50000000, 100000000};
    uint64_t b = 0;
    for (int i = 0; i < VX_PLAN_COUNT; i++) {
        assert_int_equal(vx_plan_effective_llm_budget((vx_plan)i, NULL, starter, &b), VX_OK);
        assert_int_equal(b, want[i]);
        /* the same multiplier as the rate limits */
        vx_plan_rate base, r;
        assert_int_equal(vx_plan_effective_rate(VX_PLAN_STARTER, VX_PLAN_CAT_LLM, NULL, &base),
                         VX_OK);
        assert_int_equal(vx_plan_effective_rate((vx_plan)i, VX_PLAN_CAT_LLM, NULL, &r), VX_OK);
        assert_int_equal(b / starter, (uint64_t)(r.limit / base.limit));
    }
    /* rate overrides do not touch the budget */
    vx_plan_overrides ov = {.llm_per_day = 1};
    assert_int_equal(vx_plan_effective_llm_budget(VX_PLAN_PRO, &ov, starter, &b), VX_OK);
    assert_int_equal(b, 50000000);
    /* the tenant's own budget is not multiplied, and 0 is a budget */
    ov = (vx_plan_overrides){.has_llm_budget = true, .llm_budget_micro = 2500};
    assert_int_equal(vx_plan_effective_llm_budget(VX_PLAN_ENTERPRISE, &ov, starter, &b), VX_OK);
    assert_int_equal(b, 2500);
    ov.llm_budget_micro = 0;
    assert_int_equal(vx_plan_effective_llm_budget(VX_PLAN_PRO, &ov, starter, &b), VX_OK);
    assert_int_equal(b, 0);
    ov.llm_budget_micro = VX_PLAN_LLM_BUDGET_MAX_MICRO;
    assert_int_equal(vx_plan_effective_llm_budget(VX_PLAN_PRO, &ov, starter, &b), VX_OK);
    assert_int_equal(b, VX_PLAN_LLM_BUDGET_MAX_MICRO);
    /* saturates instead of wrapping */
    assert_int_equal(
        vx_plan_effective_llm_budget(VX_PLAN_ENTERPRISE, NULL, VX_PLAN_LLM_BUDGET_MAX_MICRO, &b),
        VX_OK);
    assert_int_equal(b, VX_PLAN_LLM_BUDGET_MAX_MICRO);
    assert_int_equal(vx_plan_effective_llm_budget(VX_PLAN_GROWTH, NULL, UINT64_MAX, &b), VX_OK);
    assert_int_equal(b, VX_PLAN_LLM_BUDGET_MAX_MICRO);
    /* refused, *out untouched */
    b = 7;
    ov.llm_budget_micro = VX_PLAN_LLM_BUDGET_MAX_MICRO + 1;
    assert_int_equal(vx_plan_effective_llm_budget(VX_PLAN_PRO, &ov, starter, &b), VX_INVALID);
    assert_int_equal(vx_plan_effective_llm_budget((vx_plan)4, NULL, starter, &b), VX_INVALID);
    assert_int_equal(b, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plans_names_and_multipliers),
        cmocka_unit_test(test_plans_multiply_base_rates),
        cmocka_unit_test(test_plans_overrides_replace_plan_rates),
        cmocka_unit_test(test_plans_llm_budget_by_plan_or_tenant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
