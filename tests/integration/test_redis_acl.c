/* Redis ACL users against the real redis-server that scripts/stack.sh configured: no client gets
 * in without a password (the default user is off), and each service's user reaches only its own
 * keys (forecast vx:fc:*, llm vx:llm:*, api vx:rl:* and vx:idem:*), inside Lua scripts too, and
 * none of the commands that could read or wipe everything (KEYS, FLUSHALL, CONFIG) or listen to
 * channels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../support/vx_test_env.h"
#include "vx/redis.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static vx_redis_url g_url;

static bool have_stack(void)
{
    return vx_test_env("VX_REDIS_URL") && vx_test_env("VX_REDIS_PASSWORD_FORECAST") &&
           vx_test_env("VX_REDIS_PASSWORD_LLM") && vx_test_env("VX_REDIS_PASSWORD_API");
}

static redisContext *connect_plain(void)
{
    redisContext *c = redisConnect(g_url.host, g_url.port);
    assert_true(c != NULL && !c->err);
    return c;
}

/* A connection authenticated as the service's user (its password from .run/env). */
static redisContext *connect_as(const char *user)
{
    char var[64];
    snprintf(var, sizeof var, "VX_REDIS_PASSWORD_%s", user);
    for (char *p = var + strlen("VX_REDIS_PASSWORD_"); *p; p++)
        *p = (char)(*p - ('a' <= *p && *p <= 'z' ? 32 : 0));
    redisContext *c = connect_plain();
    redisReply *r = redisCommand(c, "AUTH %s %s", user, getenv(var));
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    return c;
}

/* The reply's error text, or "" when it is not an error (the reply is freed). */
static const char *error_of(redisReply *r, char *buf, size_t cap)
{
    assert_non_null(r);
    snprintf(buf, cap, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "");
    freeReplyObject(r);
    return buf;
}

#define ALLOWED(c, ...)                                                                            \
    assert_string_equal(error_of(redisCommand((c), __VA_ARGS__), why, sizeof why), "")
#define REFUSED(c, ...)                                                                            \
    assert_non_null(strstr(error_of(redisCommand((c), __VA_ARGS__), why, sizeof why), "NOPERM"))

static void test_no_password_no_access(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    char why[256];
    redisContext *c = connect_plain();
    assert_non_null(strstr(error_of(redisCommand(c, "GET vx:fc:v1:x"), why, sizeof why), "NOAUTH"));
    /* the default user is off, and a wrong password is no way in either */
    assert_non_null(
        strstr(error_of(redisCommand(c, "AUTH default x"), why, sizeof why), "WRONGPASS"));
    assert_non_null(
        strstr(error_of(redisCommand(c, "AUTH forecast wrong"), why, sizeof why), "WRONGPASS"));
    redisFree(c);
}

static void test_each_service_reaches_only_its_keys(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    char why[256], tag[64];
    snprintf(tag, sizeof tag, "acltest-%d", (int)getpid());
    redisContext *fc = connect_as("forecast");
    ALLOWED(fc, "SET vx:fc:v1:%s x PX 10000", tag);
    ALLOWED(fc, "GET vx:fc:v1:%s", tag);
    REFUSED(fc, "GET vx:llm:budget:%s", tag);
    REFUSED(fc, "SET vx:rl:%s x", tag);
    REFUSED(fc, "DEL vx:idem:%s", tag);
    /* a script is held to the same keys, whatever it declares */
    REFUSED(fc, "EVAL %s 1 %s", "return redis.call('GET', KEYS[1])", "vx:llm:budget:x");
    assert_non_null(
        strstr(error_of(redisCommand(fc, "EVAL %s 1 %s", "return redis.call('GET', 'vx:rl:x')",
                                     "vx:fc:v1:x"),
                        why, sizeof why),
               "can't access"));
    ALLOWED(fc, "EVAL %s 1 vx:fc:v1:%s", "return redis.call('GET', KEYS[1])", tag);
    /* nothing that reads or wipes everything, no configuration, no channels */
    REFUSED(fc, "KEYS *");
    REFUSED(fc, "FLUSHALL");
    REFUSED(fc, "CONFIG GET *");
    REFUSED(fc, "ACL LIST");
    REFUSED(fc, "PUBLISH c x");
    ALLOWED(fc, "DEL vx:fc:v1:%s", tag);
    redisFree(fc);

    redisContext *llm = connect_as("llm");
    ALLOWED(llm, "INCRBY vx:llm:budget:%s 5", tag);
    ALLOWED(llm, "DEL vx:llm:budget:%s", tag);
    REFUSED(llm, "GET vx:fc:v1:%s", tag);
    REFUSED(llm, "FLUSHDB");
    redisFree(llm);

    redisContext *api = connect_as("api");
    ALLOWED(api, "SET vx:rl:%s x PX 10000", tag);
    ALLOWED(api, "SET vx:idem:%s x PX 10000", tag);
    ALLOWED(api, "DEL vx:rl:%s vx:idem:%s", tag, tag);
    REFUSED(api, "GET vx:fc:v1:%s", tag);
    REFUSED(api, "SET vx:llm:budget:%s 0", tag);
    REFUSED(api, "SCAN 0");
    redisFree(api);
}

int main(void)
{
    const char *url = vx_test_env("VX_REDIS_URL");
    if (url && vx_redis_url_parse(url, &g_url, NULL, 0) != VX_OK) {
        fprintf(stderr, "test_redis_acl: VX_REDIS_URL invalid\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_password_no_access),
        cmocka_unit_test(test_each_service_reaches_only_its_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
