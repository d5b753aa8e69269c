/* Unit tests of libs/ratelimit's pure part: GCRA bursts, steady rates, remaining/reset and
 * retry-after, plans and overrides, header values, and the bounded fallback table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "ratelimit_internal.h"
#include "vx/ratelimit.h"

#include <string.h>

#define NOW INT64_C(1700000000000000) /* some time in microseconds */

static const vx_rl_limit per_min_100 = {.limit = 100, .period_ms = 60000};

static vx_rl_gcra_result step(int64_t *tat, int64_t now, const vx_rl_limit *lim)
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
    const vx_rl_limit seven = {.limit = 7, .period_ms = 60000};
    int64_t tat = 0;
    for (int i = 0; i < 7; i++)
        assert_true(step(&tat, NOW, &seven).allowed);
    assert_false(step(&tat, NOW, &seven).allowed);
    /* A limit far above one per millisecond (a benchmark tenant): microseconds keep it. */
    const vx_rl_limit high = {.limit = 1000000, .period_ms = 60000};
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
    const vx_rl_limit zero = {.limit = 0, .period_ms = 1000};
    const vx_rl_limit no_period = {.limit = 1, .period_ms = 0};
    const vx_rl_limit huge = {.limit = VX_RL_LIMIT_MAX + 1, .period_ms = 1000};
    assert_int_equal(vx_rl_gcra(0, NOW, &zero, 1, &r), VX_INVALID);
    assert_int_equal(vx_rl_gcra(0, NOW, &no_period, 1, &r), VX_INVALID);
    assert_int_equal(vx_rl_gcra(0, NOW, &huge, 1, &r), VX_INVALID);
    assert_int_equal(vx_rl_gcra(0, NOW, &per_min_100, -1, &r), VX_INVALID);
    assert_int_equal(vx_rl_gcra(0, NOW, &per_min_100, 101, &r), VX_INVALID);
    assert_int_equal(vx_rl_gcra(0, NOW, NULL, 1, &r), VX_INVALID);
    assert_int_equal(r.remaining, 42); /* untouched */
}

static void expect_limit(vx_rl_plan plan, vx_rl_category cat, const vx_rl_overrides *ov,
                         int64_t limit, int64_t period_ms)
{
    vx_rl_limit l = {0};
    assert_int_equal(vx_rl_effective_limit(plan, cat, ov, &l), VX_OK);
    assert_int_equal(l.limit, limit);
    assert_int_equal(l.period_ms, period_ms);
}

static void test_plans_multiply_base_limits(void **state)
{
    (void)state;
    const int64_t min = 60000, hour = 3600000, day = 86400000;
    const vx_rl_plan plans[] = {VX_RL_PLAN_STARTER, VX_RL_PLAN_GROWTH, VX_RL_PLAN_PRO,
                                VX_RL_PLAN_ENTERPRISE};
    const int64_t mult[] = {1, 3, 5, 10};
    for (int i = 0; i < 4; i++) {
        expect_limit(plans[i], VX_RL_API, NULL, 100 * mult[i], min);
        expect_limit(plans[i], VX_RL_LLM, NULL, 100 * mult[i], day);
        expect_limit(plans[i], VX_RL_REMEDIATION, NULL, 50 * mult[i], hour);
    }
    vx_rl_plan p;
    assert_true(vx_rl_plan_parse("enterprise", &p));
    assert_int_equal(p, VX_RL_PLAN_ENTERPRISE);
    assert_false(vx_rl_plan_parse("free", &p));
    assert_string_equal(vx_rl_plan_str(VX_RL_PLAN_GROWTH), "growth");
    vx_rl_category c;
    assert_true(vx_rl_category_parse("remediation", &c));
    assert_int_equal(c, VX_RL_REMEDIATION);
    assert_false(vx_rl_category_parse("API", &c));
    assert_string_equal(vx_rl_category_str(VX_RL_LLM), "llm");
    vx_rl_limit l;
    assert_int_equal(vx_rl_effective_limit((vx_rl_plan)7, VX_RL_API, NULL, &l), VX_INVALID);
    assert_int_equal(vx_rl_effective_limit(VX_RL_PLAN_PRO, (vx_rl_category)3, NULL, &l),
                     VX_INVALID);
}

static void test_overrides_replace_plan_limits(void **state)
{
    (void)state;
    /* Only api is set: it wins over the plan, unmultiplied; the others follow the plan. */
    vx_rl_overrides ov = {.api_per_min = 100000};
    expect_limit(VX_RL_PLAN_PRO, VX_RL_API, &ov, 100000, 60000);
    expect_limit(VX_RL_PLAN_PRO, VX_RL_LLM, &ov, 500, 86400000);
    expect_limit(VX_RL_PLAN_PRO, VX_RL_REMEDIATION, &ov, 250, 3600000);
    ov = (vx_rl_overrides){.llm_per_day = 5, .remediation_per_hour = 1};
    expect_limit(VX_RL_PLAN_ENTERPRISE, VX_RL_LLM, &ov, 5, 86400000);
    expect_limit(VX_RL_PLAN_ENTERPRISE, VX_RL_REMEDIATION, &ov, 1, 3600000);
    expect_limit(VX_RL_PLAN_ENTERPRISE, VX_RL_API, &ov, 1000, 60000);
    vx_rl_limit l = {.limit = 9};
    ov = (vx_rl_overrides){.api_per_min = -1};
    assert_int_equal(vx_rl_effective_limit(VX_RL_PLAN_STARTER, VX_RL_API, &ov, &l), VX_INVALID);
    ov = (vx_rl_overrides){.api_per_min = VX_RL_LIMIT_MAX + 1};
    assert_int_equal(vx_rl_effective_limit(VX_RL_PLAN_STARTER, VX_RL_API, &ov, &l), VX_INVALID);
    assert_int_equal(l.limit, 9);
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

static vx_ratelimit_shared *make_shared(const char *url, size_t capacity)
{
    vx_ratelimit_config cfg = vx_ratelimit_defaults();
    cfg.redis_url = url;
    cfg.local_capacity = capacity;
    vx_ratelimit_shared *s = NULL;
    assert_int_equal(vx_ratelimit_shared_create(&cfg, NULL, &s), VX_OK);
    return s;
}

static void test_local_table_enforces_and_evicts(void **state)
{
    (void)state;
    vx_ratelimit_shared *s = make_shared("redis://127.0.0.1:1/0", 2);
    const vx_rl_limit one = {.limit = 1, .period_ms = 3600000};
    vx_rl_decision d;
    assert_int_equal(vx_ratelimit_local_check(s, "a", VX_RL_API, &one, &d), VX_OK);
    assert_true(d.allowed);
    assert_int_equal(d.source, VX_RL_SOURCE_LOCAL);
    assert_int_equal(vx_ratelimit_local_check(s, "a", VX_RL_API, &one, &d), VX_OK);
    assert_false(d.allowed);
    assert_in_range(d.retry_after_ms, 3599000, 3600000);
    /* Categories are separate keys. */
    assert_int_equal(vx_ratelimit_local_check(s, "a", VX_RL_LLM, &one, &d), VX_OK);
    assert_true(d.allowed);
    /* A third key evicts the least recently used ("a" api), which then starts afresh. */
    assert_int_equal(vx_ratelimit_local_check(s, "b", VX_RL_API, &one, &d), VX_OK);
    assert_true(d.allowed);
    assert_int_equal(vx_rl_table_size(s->table), 2);
    assert_int_equal(vx_ratelimit_local_check(s, "a", VX_RL_API, &one, &d), VX_OK);
    assert_true(d.allowed);
    assert_int_equal(vx_ratelimit_local_check(s, "b", VX_RL_API, &one, &d), VX_OK);
    assert_false(d.allowed);
    char longname[RL_TENANT_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(vx_ratelimit_local_check(s, longname, VX_RL_API, &one, &d), VX_INVALID);
    assert_int_equal(vx_ratelimit_local_check(s, "", VX_RL_API, &one, &d), VX_INVALID);
    vx_ratelimit_shared_destroy(s);
}

static void test_shared_parses_urls(void **state)
{
    (void)state;
    vx_ratelimit_shared *s = make_shared("redis://:s3cret@redis.local:6380/2", 10);
    assert_string_equal(s->host, "redis.local");
    assert_int_equal(s->port, 6380);
    assert_int_equal(s->db, 2);
    assert_null(s->user);
    assert_string_equal(s->password, "s3cret");
    vx_ratelimit_shared_destroy(s);
    s = make_shared("redis://app:pw@10.0.0.1", 10);
    assert_string_equal(s->user, "app");
    assert_string_equal(s->password, "pw");
    assert_int_equal(s->port, 6379);
    assert_int_equal(s->db, 0);
    vx_ratelimit_shared_destroy(s);

    const char *bad[] = {"http://x",    "redis://",       "redis://h:0",       "redis://h:70000",
                         "redis://h/x", "redis://h:12ab", "redis://[::1]:6379"};
    vx_ratelimit_config cfg = vx_ratelimit_defaults();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg.redis_url = bad[i];
        s = NULL;
        assert_int_equal(vx_ratelimit_shared_create(&cfg, NULL, &s), VX_INVALID);
        assert_null(s);
    }
    cfg.redis_url = "redis://127.0.0.1:6379/0";
    cfg.command_timeout_ms = 0;
    assert_int_equal(vx_ratelimit_shared_create(&cfg, NULL, &s), VX_INVALID);
    cfg = vx_ratelimit_defaults();
    assert_int_equal(vx_ratelimit_shared_create(&cfg, NULL, &s), VX_INVALID); /* no URL */
    vx_ratelimit_shared_destroy(NULL);
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
        cmocka_unit_test(test_plans_multiply_base_limits),
        cmocka_unit_test(test_overrides_replace_plan_limits),
        cmocka_unit_test(test_headers_round_up_to_seconds),
        cmocka_unit_test(test_local_table_enforces_and_evicts),
        cmocka_unit_test(test_shared_parses_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
