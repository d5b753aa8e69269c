/* Unit tests of the Redis limiter's shared state, without a server: Redis URL parsing and
 * the fallback table's decisions by tenant and category (vx_ratelimit_local_check). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "limiter_internal.h"
#include "vx/ratelimit_redis.h"

#include <string.h>

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
    const vx_plan_rate one = {.limit = 1, .period_ms = 3600000};
    vx_rl_decision d;
    assert_int_equal(vx_ratelimit_local_check(s, "a", VX_PLAN_CAT_API, &one, &d), VX_OK);
    assert_true(d.allowed);
    assert_int_equal(d.source, VX_RL_SOURCE_LOCAL);
    assert_int_equal(vx_ratelimit_local_check(s, "a", VX_PLAN_CAT_API, &one, &d), VX_OK);
    assert_false(d.allowed);
    assert_in_range(d.retry_after_ms, 3599000, 3600000);
    /* Categories are separate keys. */
    assert_int_equal(vx_ratelimit_local_check(s, "a", VX_PLAN_CAT_LLM, &one, &d), VX_OK);
    assert_true(d.allowed);
    /* A third key evicts the least recently used ("a" api), which then starts afresh. */
    assert_int_equal(vx_ratelimit_local_check(s, "b", VX_PLAN_CAT_API, &one, &d), VX_OK);
    assert_true(d.allowed);
    assert_int_equal(vx_rl_table_size(s->table), 2);
    assert_int_equal(vx_ratelimit_local_check(s, "a", VX_PLAN_CAT_API, &one, &d), VX_OK);
    assert_true(d.allowed);
    assert_int_equal(vx_ratelimit_local_check(s, "b", VX_PLAN_CAT_API, &one, &d), VX_OK);
    assert_false(d.allowed);
    char longname[RL_TENANT_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(vx_ratelimit_local_check(s, longname, VX_PLAN_CAT_API, &one, &d), VX_INVALID);
    assert_int_equal(vx_ratelimit_local_check(s, "", VX_PLAN_CAT_API, &one, &d), VX_INVALID);
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
        cmocka_unit_test(test_local_table_enforces_and_evicts),
        cmocka_unit_test(test_shared_parses_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
