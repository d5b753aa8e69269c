/* Unit tests of libs/ratelimit's pure part (vx::ratelimit only): GCRA bursts, steady rates,
 * remaining/reset and retry-after, header values, and the bounded in-process table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "vx/ratelimit.h"

#include <string.h>

#define NOW INT64_C(1700000000000000) /* some time in microseconds */

static const vx_plan_rate per_min_100 = {.limit = 100, .period_ms = 60000};

static vx_rl_gcra_result step(int64_t *tat, int64_t now, const vx_plan_rate *lim)
{
    vx_rl_gcra_result r;
    assert_int_equal(vx_rl_gcra(*tat, now, lim, 1, &r), VX_OK);
    *tat = r.tat_us;
    return r;
}

static void test_gcra_burst_of_limit_then_denied(void **state)
{
    (void)state;
    int64_t tat = 0;
    for (int i = 0; i < 100; i++) {
        vx_rl_gcra_result r = step(&tat, NOW, &per_min_100);
        assert_true(r.allowed);
        assert_int_equal(r.remaining, 99 - i);
        assert_int_equal(r.retry_after_ms, 0);
        assert_int_equal(r.reset_ms, (i + 1) * 600);
    }
    vx_rl_gcra_result r = step(&tat, NOW, &per_min_100);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.retry_after_ms, 600); /* one emission interval */
    assert_int_equal(r.reset_ms, 60000);
    assert_int_equal(r.tat_us, NOW + 60000 * 1000); /* a denial stores nothing new */

    /* 1 ms early is still too early; at retry_after exactly one more fits. */
    r = step(&tat, NOW + 599 * 1000, &per_min_100);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_ms, 1);
    r = step(&tat, NOW + 600 * 1000, &per_min_100);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    r = step(&tat, NOW + 600 * 1000, &per_min_100);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_ms, 600);
}

static void test_gcra_steady_rate_is_allowed(void **state)
{
    (void)state;
    int64_t tat = 0;
    /* One request per emission interval, for ten periods, never runs out. */
    for (int i = 0; i < 1000; i++) {
        vx_rl_gcra_result r = step(&tat, NOW + (int64_t)i * 600 * 1000, &per_min_100);
        assert_true(r.allowed);
        assert_int_equal(r.remaining, 99);
        assert_int_equal(r.reset_ms, 600);
    }
    /* Twice the rate runs out after the burst is spent: ~limit extra requests in total. */
    tat = 0;
    int allowed = 0;
    for (int i = 0; i < 400; i++)
        allowed += step(&tat, NOW + (int64_t)i * 300 * 1000, &per_min_100).allowed;
    /* 400 requests over 120 s at a 100/min rate with a burst of 100: 200 + 100 allowed. */
    assert_in_range(allowed, 299, 301);
}

static void test_gcra_remaining_recovers_over_time(void **state)
{
    (void)state;
    int64_t tat = 0;
    for (int i = 0; i < 50; i++)
        step(&tat, NOW, &per_min_100);
    vx_rl_gcra_result r;
    /* A peek (cost 0) reads without counting. */
    assert_int_equal(vx_rl_gcra(tat, NOW, &per_min_100, 0, &r), VX_OK);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 50);
    assert_int_equal(r.reset_ms, 30000);
    assert_int_equal(r.tat_us, tat);
    /* 15 s later a quarter of the limit came back. */
    assert_int_equal(vx_rl_gcra(tat, NOW + 15000 * 1000, &per_min_100, 0, &r), VX_OK);
    assert_int_equal(r.remaining, 75);
    assert_int_equal(r.reset_ms, 15000);
    /* After the reset time, the full limit again, and a past TAT counts as empty. */
    assert_int_equal(vx_rl_gcra(tat, NOW + 30000 * 1000, &per_min_100, 0, &r), VX_OK);
    assert_int_equal(r.remaining, 100);
    assert_int_equal(r.reset_ms, 0);
    assert_int_equal(vx_rl_gcra(tat, NOW + 90000 * 1000, &per_min_100, 1, &r), VX_OK);
    assert_int_equal(r.remaining, 99);
}

static void test_gcra_uneven_and_high_limits(void **state)
{
    (void)state;
    /* 7 per minute: the interval does not divide the period, the burst is still exactly 7. */
    const vx_plan_rate seven = {.limit = 7, .period_ms = 60000};
    int64_t tat = 0;
    for (int i = 0; i < 7; i++)
        assert_true(step(&tat, NOW, &seven).allowed);
    assert_false(step(&tat, NOW, &seven).allowed);
    /* A limit far above one per millisecond (a benchmark tenant): microseconds keep it. */
    const vx_plan_rate high = {.limit = 1000000, .period_ms = 60000};
    assert_int_equal(vx_rl_interval_us(&high), 60);
    tat = 0;
    int64_t allowed = 0;
    for (int i = 0; i < 1000100; i++)
        allowed += step(&tat, NOW, &high).allowed;
    assert_int_equal(allowed, 1000000);
}

static void test_gcra_lowered_limit_waits_one_period_at_most(void **state)
{
    (void)state;
    /* A TAT stored under a much higher per-request cost, far in the future. */
    vx_rl_gcra_result r;
    assert_int_equal(vx_rl_gcra(NOW + INT64_C(3600) * 1000000, NOW, &per_min_100, 1, &r), VX_OK);
    assert_false(r.allowed);
    assert_int_equal(r.reset_ms, 60000);
    assert_int_equal(r.retry_after_ms, 600);
}

static void test_gcra_rejects_bad_input(void **state)
{
    (void)state;
    vx_rl_gcra_result r = {.remaining = 42};
    const vx_plan_rate zero = {.limit = 0, .period_ms = 1000};
    const vx_plan_rate no_period = {.limit = 1, .period_ms = 0};
    const vx_plan_rate huge = {.limit = VX_PLAN_LIMIT_MAX + 1, .period_ms = 1000};
    assert_int_equal(vx_rl_gcra(0, NOW, &zero, 1, &r), VX_INVALID);
    assert_int_equal(vx_rl_gcra(0, NOW, &no_period, 1, &r), VX_INVALID);
    assert_int_equal(vx_rl_gcra(0, NOW, &huge, 1, &r), VX_INVALID);
    assert_int_equal(vx_rl_gcra(0, NOW, &per_min_100, -1, &r), VX_INVALID);
    assert_int_equal(vx_rl_gcra(0, NOW, &per_min_100, 101, &r), VX_INVALID);
    assert_int_equal(vx_rl_gcra(0, NOW, NULL, 1, &r), VX_INVALID);
    assert_int_equal(r.remaining, 42); /* untouched */
}

static void test_headers_round_up_to_seconds(void **state)
{
    (void)state;
    vx_rl_decision d = {
        .status = VX_OK, .allowed = true, .limit = per_min_100, .remaining = 7, .reset_ms = 1001};
    vx_rl_headers h;
    vx_rl_headers_from(&d, &h);
    assert_int_equal(h.limit, 100);
    assert_int_equal(h.remaining, 7);
    assert_int_equal(h.reset_s, 2);
    assert_int_equal(h.retry_after_s, 0);
    d = (vx_rl_decision){.status = VX_OK,
                         .allowed = false,
                         .limit = per_min_100,
                         .remaining = 0,
                         .reset_ms = 60000,
                         .retry_after_ms = 600};
    vx_rl_headers_from(&d, &h);
    assert_int_equal(h.reset_s, 60);
    assert_int_equal(h.retry_after_s, 1);
    d.retry_after_ms = 0; /* a denial always says when to come back */
    vx_rl_headers_from(&d, &h);
    assert_int_equal(h.retry_after_s, 1);
    d.retry_after_ms = 864000; /* llm 100/day: 14.4 min */
    vx_rl_headers_from(&d, &h);
    assert_int_equal(h.retry_after_s, 864);
    d = (vx_rl_decision){.status = VX_CLOSED};
    vx_rl_headers_from(&d, &h);
    assert_int_equal(h.limit, 0);
    assert_int_equal(h.retry_after_s, 0);
}

static void test_table_enforces_and_evicts(void **state)
{
    (void)state;
    vx_rl_table *t = vx_rl_table_create(2);
    const vx_plan_rate one = {.limit = 1, .period_ms = 3600000};
    vx_rl_gcra_result r;
    bool evicted = true;
    assert_int_equal(vx_rl_table_check(t, "a", 1, &one, 1, NOW, &r, &evicted), VX_OK);
    assert_true(r.allowed);
    assert_false(evicted);
    assert_int_equal(vx_rl_table_check(t, "a", 1, &one, 1, NOW + 1000, &r, &evicted), VX_OK);
    assert_false(r.allowed);
    assert_in_range(r.retry_after_ms, 3599000, 3600000);
    /* cost 0 only reads: no new key is stored */
    assert_int_equal(vx_rl_table_check(t, "z", 1, &one, 0, NOW, &r, &evicted), VX_OK);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 1);
    assert_int_equal(vx_rl_table_size(t), 1);
    assert_int_equal(vx_rl_table_check(t, "b", 1, &one, 1, NOW, &r, &evicted), VX_OK);
    assert_true(r.allowed);
    assert_int_equal(vx_rl_table_size(t), 2);
    /* A third key evicts the least recently used ("a", still limited), which starts afresh. */
    assert_int_equal(vx_rl_table_check(t, "c", 1, &one, 1, NOW, &r, &evicted), VX_OK);
    assert_true(r.allowed);
    assert_true(evicted);
    assert_int_equal(vx_rl_table_size(t), 2);
    assert_int_equal(vx_rl_table_check(t, "a", 1, &one, 1, NOW, &r, &evicted), VX_OK);
    assert_true(r.allowed);
    /* keys are compared by their bytes and length */
    assert_int_equal(vx_rl_table_check(t, "ab", 1, &one, 1, NOW, &r, &evicted), VX_OK);
    assert_false(r.allowed);
    const vx_plan_rate bad = {.limit = 0, .period_ms = 1000};
    r.remaining = 42;
    assert_int_equal(vx_rl_table_check(t, "d", 1, &bad, 1, NOW, &r, &evicted), VX_INVALID);
    assert_int_equal(r.remaining, 42);
    vx_rl_table_destroy(t);
    vx_rl_table_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gcra_burst_of_limit_then_denied),
        cmocka_unit_test(test_gcra_steady_rate_is_allowed),
        cmocka_unit_test(test_gcra_remaining_recovers_over_time),
        cmocka_unit_test(test_gcra_uneven_and_high_limits),
        cmocka_unit_test(test_gcra_lowered_limit_waits_one_period_at_most),
        cmocka_unit_test(test_gcra_rejects_bad_input),
        cmocka_unit_test(test_headers_round_up_to_seconds),
        cmocka_unit_test(test_table_enforces_and_evicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
