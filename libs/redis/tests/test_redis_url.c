/* Unit tests of vx_redis_url_parse and of the client's configuration checks (no server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "redis_internal.h"
#include "vx/redis.h"

#include <string.h>

static void test_redis_url_parses_host_port_db(void **state)
{
    (void)state;
    vx_redis_url u;
    char why[128];
    assert_int_equal(vx_redis_url_parse("redis://127.0.0.1:16379/2", &u, why, sizeof why), VX_OK);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 16379);
    assert_int_equal(u.db, 2);
    assert_null(u.user);
    assert_null(u.password);
    vx_redis_url_cleanup(&u);

    assert_int_equal(vx_redis_url_parse("redis://cache.internal", &u, why, sizeof why), VX_OK);
    assert_string_equal(u.host, "cache.internal");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    vx_redis_url_cleanup(&u);

    assert_int_equal(vx_redis_url_parse("redis://h/", &u, why, sizeof why), VX_OK);
    assert_int_equal(u.db, 0);
    vx_redis_url_cleanup(&u);
    vx_redis_url_cleanup(&u); /* twice is harmless */
}

static void test_redis_url_parses_credentials(void **state)
{
    (void)state;
    vx_redis_url u;
    assert_int_equal(vx_redis_url_parse("redis://:secret@h:1/3", &u, NULL, 0), VX_OK);
    assert_null(u.user);
    assert_string_equal(u.password, "secret");
    assert_int_equal(u.port, 1);
    assert_int_equal(u.db, 3);
    vx_redis_url_cleanup(&u);

    /* the last '@' before the path ends the credentials */
    assert_int_equal(vx_redis_url_parse("redis://alice:p@ss@h:7", &u, NULL, 0), VX_OK);
    assert_string_equal(u.user, "alice");
    assert_string_equal(u.password, "p@ss");
    assert_string_equal(u.host, "h");
    vx_redis_url_cleanup(&u);

    /* %-escapes carry '/', ':' and '@' */
    assert_int_equal(vx_redis_url_parse("redis://b%3Ab:s%2Fc%40r%25t@h", &u, NULL, 0), VX_OK);
    assert_string_equal(u.user, "b:b");
    assert_string_equal(u.password, "s/c@r%t");
    vx_redis_url_cleanup(&u);

    /* a bare word is the password (requirepass before ACLs) */
    assert_int_equal(vx_redis_url_parse("redis://hunter2@h", &u, NULL, 0), VX_OK);
    assert_null(u.user);
    assert_string_equal(u.password, "hunter2");
    vx_redis_url_cleanup(&u);
}

static void expect_invalid(const char *url, const char *needle)
{
    vx_redis_url u;
    memset(&u, 0x5a, sizeof u);
    char why[160] = "";
    assert_int_equal(vx_redis_url_parse(url, &u, why, sizeof why), VX_INVALID);
    /* *out is zeroed on failure */
    assert_null(u.host);
    assert_null(u.user);
    assert_null(u.password);
    assert_int_equal(u.port, 0);
    assert_int_equal(u.db, 0);
    if (strstr(why, needle) == NULL)
        fail_msg("'%s': expected '%s' in '%s'", url ? url : "(null)", needle, why);
}

static void test_redis_url_refuses_bad_urls(void **state)
{
    (void)state;
    expect_invalid(NULL, "empty");
    expect_invalid("", "empty");
    expect_invalid("http://h", "redis://");
    expect_invalid("rediss://h:6380", "TLS");
    expect_invalid("redis://", "no host");
    expect_invalid("redis://:6379", "no host");
    expect_invalid("redis://h:0", "port");
    expect_invalid("redis://h:65536", "port");
    expect_invalid("redis://h:12a", "port");
    expect_invalid("redis://h:", "port");
    expect_invalid("redis://h/x", "database");
    expect_invalid("redis://h/-1", "database");
    expect_invalid("redis://h/99999999", "database");
    expect_invalid("redis://[::1]:6379", "IPv6");
    expect_invalid("redis://h h", "host");
    expect_invalid("redis://h?db=1", "query");
    expect_invalid("redis://u:%zz@h", "escape");
    expect_invalid("redis://u:%4@h", "escape");
    expect_invalid("redis://u:%00@h", "escape");
    expect_invalid("redis://bob:@h", "needs a password");
}

static void test_redis_create_checks_its_configuration(void **state)
{
    (void)state;
    vx_redis_config c;
    vx_redis_config_init(&c);
    assert_int_equal(c.pool_size, 4);
    assert_int_equal(c.connect_timeout_ms, 500);
    assert_int_equal(c.command_timeout_ms, 250);
    assert_null(c.url);
    vx_redis *r = NULL;
    char why[160] = "";
    assert_int_equal(vx_redis_create(&c, &r, why, sizeof why), VX_INVALID);
    assert_non_null(strstr(why, "empty"));
    c.url = "redis://127.0.0.1:1";
    c.pool_size = 0;
    assert_int_equal(vx_redis_create(&c, &r, why, sizeof why), VX_INVALID);
    c.pool_size = 2;
    c.command_timeout_ms = 0;
    assert_int_equal(vx_redis_create(&c, &r, why, sizeof why), VX_INVALID);
    c.command_timeout_ms = 100;
    c.metrics_prefix = "bad name";
    assert_int_equal(vx_redis_create(&c, &r, why, sizeof why), VX_INVALID);
    c.metrics_prefix = NULL;
    assert_null(r);
    /* nothing listens on port 1, yet creating the client makes no connection */
    assert_int_equal(vx_redis_create(&c, &r, why, sizeof why), VX_OK);
    assert_non_null(r);
    assert_true(vx_redis_healthy(r)); /* nothing has failed yet */
    vx_redis_destroy(r);
    vx_redis_destroy(NULL);
}

static void test_redis_script_sha_is_sha1_of_the_source(void **state)
{
    (void)state;
    assert_null(vx_redis_script_create(NULL));
    vx_redis_script *s = vx_redis_script_create("return 1");
    assert_non_null(s);
    /* what Redis answers to SCRIPT LOAD "return 1" */
    assert_string_equal(s->sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    vx_redis_script_destroy(s);
    vx_redis_script_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_url_parses_host_port_db),
        cmocka_unit_test(test_redis_url_parses_credentials),
        cmocka_unit_test(test_redis_url_refuses_bad_urls),
        cmocka_unit_test(test_redis_create_checks_its_configuration),
        cmocka_unit_test(test_redis_script_sha_is_sha1_of_the_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
