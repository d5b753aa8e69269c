/* Unit tests of the budget arithmetic kept in C: a tenant's limit from its row (the plans model
 * itself is tested in libs/plans), USD <-> micro-USD, budget months, and the message a tenant
 * reads when it is used up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "handlers/budget_rules.h"
#include "vx/clock.h"

#include <string.h>

static void test_llm_svc_budget_usd_to_micro_exact(void **state)
{
    (void)state;
    uint64_t m;
    assert_true(llm_usd_to_micro("10", &m));
    assert_int_equal(m, 10000000);
    assert_true(llm_usd_to_micro("0.000001", &m));
    assert_int_equal(m, 1);
    assert_true(llm_usd_to_micro("12.345678", &m));
    assert_int_equal(m, 12345678);
    assert_true(llm_usd_to_micro("0.0000019", &m)); /* cut, never rounded up */
    assert_int_equal(m, 1);
    assert_true(llm_usd_to_micro("0", &m));
    assert_int_equal(m, 0);
    assert_true(llm_usd_to_micro("1000000000", &m));
    assert_int_equal(m, VX_PLAN_LLM_BUDGET_MAX_MICRO);
    assert_false(llm_usd_to_micro("1000000000.000001", &m));
    assert_false(llm_usd_to_micro("-1", &m));
    assert_false(llm_usd_to_micro("+1", &m));
    assert_false(llm_usd_to_micro("1e3", &m));
    assert_false(llm_usd_to_micro("", &m));
    assert_false(llm_usd_to_micro(NULL, &m));
    assert_false(llm_usd_to_micro("ten", &m));

    char s[32];
    llm_micro_format(1250, s, sizeof s);
    assert_string_equal(s, "0.001250");
    llm_micro_format(10000000, s, sizeof s);
    assert_string_equal(s, "10.000000");
    llm_micro_format(0, s, sizeof s);
    assert_string_equal(s, "0.000000");
}

static void test_llm_svc_budget_limit_by_plan_or_tenant(void **state)
{
    (void)state;
    uint64_t lim;
    assert_int_equal(llm_budget_limit(NULL, "starter", 10000000, &lim), VX_OK);
    assert_int_equal(lim, 10000000);
    assert_int_equal(llm_budget_limit(NULL, "growth", 10000000, &lim), VX_OK);
    assert_int_equal(lim, 30000000);
    assert_int_equal(llm_budget_limit(NULL, "pro", 10000000, &lim), VX_OK);
    assert_int_equal(lim, 50000000);
    assert_int_equal(llm_budget_limit(NULL, "enterprise", 10000000, &lim), VX_OK);
    assert_int_equal(lim, 100000000);
    /* the tenant's own budget is not multiplied */
    assert_int_equal(llm_budget_limit("0.002500", "enterprise", 10000000, &lim), VX_OK);
    assert_int_equal(lim, 2500);
    assert_int_equal(llm_budget_limit("0", "pro", 10000000, &lim), VX_OK);
    assert_int_equal(lim, 0);
    /* saturates instead of wrapping */
    assert_int_equal(llm_budget_limit(NULL, "enterprise", VX_PLAN_LLM_BUDGET_MAX_MICRO, &lim),
                     VX_OK);
    assert_int_equal(lim, VX_PLAN_LLM_BUDGET_MAX_MICRO);
    assert_int_equal(llm_budget_limit(NULL, "free", 10000000, &lim), VX_INVALID);
    assert_int_equal(llm_budget_limit(NULL, NULL, 10000000, &lim), VX_INVALID);
    /* its own budget holds whatever the plan says */
    assert_int_equal(llm_budget_limit("1.5", "free", 10000000, &lim), VX_OK);
    assert_int_equal(lim, 1500000);
    assert_int_equal(llm_budget_limit("-3", "pro", 10000000, &lim), VX_INVALID);
}

static int64_t ms_of(int y, int mo, int d, int h, int mi, int s)
{
    return vx_civil_to_unix(y, mo, d, h, mi, s) * 1000;
}

static void test_llm_svc_budget_months_utc(void **state)
{
    (void)state;
    char m[8];
    llm_budget_month(ms_of(2026, 1, 31, 23, 59, 59) + 999, m);
    assert_string_equal(m, "2026-01");
    llm_budget_month(ms_of(2026, 2, 1, 0, 0, 0), m);
    assert_string_equal(m, "2026-02");
    llm_budget_month(ms_of(2025, 12, 31, 12, 0, 0), m);
    assert_string_equal(m, "2025-12");

    char from[21], to[21];
    assert_true(llm_budget_month_bounds("2025-12", from, to));
    assert_string_equal(from, "2025-12-01T00:00:00Z");
    assert_string_equal(to, "2026-01-01T00:00:00Z");
    assert_true(llm_budget_month_bounds("2024-02", from, to));
    assert_string_equal(to, "2024-03-01T00:00:00Z");
    assert_false(llm_budget_month_bounds("2024-13", from, to));
    assert_false(llm_budget_month_bounds("2024-1", from, to));
    assert_false(llm_budget_month_bounds("2024/01", from, to));

    assert_int_equal(llm_budget_month_left_ms(ms_of(2026, 1, 31, 23, 59, 59)), 1000);
    assert_int_equal(llm_budget_month_left_ms(ms_of(2026, 2, 1, 0, 0, 0)), 28LL * 86400000);

    char key[128];
    llm_budget_key("0b7e5c1e-3f7a-4d8e-9a51-2f3c4d5e6f70", "2026-02", key, sizeof key);
    assert_string_equal(key, "vx:llm:budget:0b7e5c1e-3f7a-4d8e-9a51-2f3c4d5e6f70:2026-02");
}

static void test_llm_svc_budget_message_says_what_is_left(void **state)
{
    (void)state;
    char msg[512];
    llm_budget_message(10000000, 9990000, 0, 20000, msg, sizeof msg);
    assert_non_null(strstr(msg, "monthly LLM budget of 10.000000 USD"));
    assert_non_null(strstr(msg, "9.990000 USD spent"));
    assert_non_null(strstr(msg, "leaves 0.010000 USD"));
    assert_non_null(strstr(msg, "up to 0.020000 USD"));
    /* calls in flight hold part of it */
    llm_budget_message(10000000, 5000000, 4995000, 20000, msg, sizeof msg);
    assert_non_null(strstr(msg, "4.995000 USD held"));
    assert_non_null(strstr(msg, "leave 0.005000 USD"));
    /* never a negative remainder */
    llm_budget_message(1000, 5000, 0, 20, msg, sizeof msg);
    assert_non_null(strstr(msg, "leaves 0.000000 USD"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llm_svc_budget_usd_to_micro_exact),
        cmocka_unit_test(test_llm_svc_budget_limit_by_plan_or_tenant),
        cmocka_unit_test(test_llm_svc_budget_months_utc),
        cmocka_unit_test(test_llm_svc_budget_message_says_what_is_left),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
