/* Integration tests of libs/redis against the real Redis (VX_REDIS_URL): values and expiry,
 * AUTH and SELECT, scripts (including after SCRIPT FLUSH), many threads on a small pool, and
 * the failure paths: nothing listening (fast VX_UNAVAILABLE, breaker opens), a server that
 * never answers (VX_TIMEOUT), and a connection cut through a proxy and restored (recovery).
 * Each test uses its own key prefix "vxt:redis:<pid>:<n>:" and deletes its keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "harness.h"
#include "redis_internal.h"
#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/log.h"
#include "vx/metrics.h"
#include "vx/redis.h"
#include "vx_test_env.h"

#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct {
    const char *url;
    vx_redis_url u;
    int next_id;
} g;

typedef struct {
    char prefix[64];
    redisContext *direct; /* plain hiredis, to look at what the client did */
    vx_metrics *metrics;
    vx_redis *r;
    FILE *log;
} fixture;

static int setup(void **state)
{
    fixture *f = vx_xcalloc(1, sizeof *f);
    *state = f;
    snprintf(f->prefix, sizeof f->prefix, "vxt:redis:%d:%d:", (int)getpid(), ++g.next_id);
    f->direct = redisConnect(g.u.host, g.u.port);
    if (f->direct == NULL || f->direct->err)
        return -1;
    if (g.u.password != NULL)
        freeReplyObject(g.u.user ? redisCommand(f->direct, "AUTH %s %s", g.u.user, g.u.password)
                                 : redisCommand(f->direct, "AUTH %s", g.u.password));
    freeReplyObject(redisCommand(f->direct, "SELECT %d", g.u.db));
    f->metrics = vx_metrics_create();
    f->log = tmpfile();
    if (f->log == NULL)
        return -1;
    vx_log_set_fd(fileno(f->log));
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    vx_redis_destroy(f->r);
    vx_metrics_destroy(f->metrics);
    vx_log_set_fd(2);
    if (f->log)
        fclose(f->log);
    if (f->direct) {
        for (int db = 0; db < 2; db++) {
            freeReplyObject(redisCommand(f->direct, "SELECT %d", db == 0 ? g.u.db : 1));
            redisReply *r = redisCommand(f->direct, "KEYS %s*", f->prefix);
            if (r != NULL && r->type == REDIS_REPLY_ARRAY)
                for (size_t i = 0; i < r->elements; i++)
                    freeReplyObject(redisCommand(f->direct, "DEL %s", r->element[i]->str));
            freeReplyObject(r);
        }
        redisFree(f->direct);
    }
    vx_free(f);
    return 0;
}

static vx_redis_config test_config(const char *url, vx_metrics *m)
{
    vx_redis_config c;
    vx_redis_config_init(&c);
    c.url = url;
    c.pool_size = 2;
    c.metrics_prefix = "valdrix_test";
    c.metrics = m;
    c.breaker.window = 10;
    c.breaker.min_calls = 3;
    c.breaker.open_ms = 300;
    c.breaker.half_open_probes = 1;
    return c;
}

static void start(fixture *f, const char *url)
{
    vx_redis_config c = test_config(url, f->metrics);
    char why[256] = "";
    if (vx_redis_create(&c, &f->r, why, sizeof why) != VX_OK)
        fail_msg("create: %s", why);
}

static double metric(fixture *f, const char *outcome)
{
    char *text = vx_metrics_render(f->metrics, NULL);
    char needle[128];
    snprintf(needle, sizeof needle, "valdrix_test_redis_commands_total{outcome=\"%s\"} ", outcome);
    const char *p = strstr(text, needle);
    double v = p ? strtod(p + strlen(needle), NULL) : -1;
    vx_free(text);
    return v;
}

static double breaker_gauge(fixture *f)
{
    char *text = vx_metrics_render(f->metrics, NULL);
    static const char needle[] = "\nvaldrix_test_redis_breaker_open "; /* not the HELP line */
    const char *p = strstr(text, needle);
    double v = p ? strtod(p + strlen(needle), NULL) : -1;
    vx_free(text);
    return v;
}

static void key(const fixture *f, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s", f->prefix, name);
}

static long long direct_int(fixture *f, const char *cmd, const char *arg)
{
    redisReply *r = redisCommand(f->direct, cmd, arg);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* ---- values ---- */

static void test_redis_get_set_ttl_del(void **state)
{
    fixture *f = *state;
    start(f, g.url);
    char k[128], k2[128], k3[128];
    key(f, "a", k, sizeof k);
    key(f, "forever", k2, sizeof k2);
    key(f, "short", k3, sizeof k3);
    char *v = NULL;
    size_t len = 0;
    assert_int_equal(vx_redis_get(f->r, k, &v, &len), VX_NOT_FOUND);

    /* binary-safe: a NUL inside the value survives */
    static const char val[] = {'x', '\0', 'y', '\n', 'z'};
    assert_int_equal(vx_redis_set(f->r, k, val, sizeof val, 60000), VX_OK);
    assert_int_equal(vx_redis_get(f->r, k, &v, &len), VX_OK);
    assert_int_equal(len, sizeof val);
    assert_memory_equal(v, val, sizeof val);
    assert_int_equal(v[len], '\0');
    vx_free(v);
    long long pttl = direct_int(f, "PTTL %s", k);
    assert_true(pttl > 50000 && pttl <= 60000);

    assert_int_equal(vx_redis_set(f->r, k2, "1", 1, 0), VX_OK);
    assert_int_equal(direct_int(f, "PTTL %s", k2), -1);

    assert_int_equal(vx_redis_set(f->r, k3, "gone soon", 9, 100), VX_OK);
    assert_int_equal(vx_redis_get(f->r, k3, &v, &len), VX_OK);
    vx_free(v);
    /* gone once its 100 ms are up: polled, with a deadline */
    int64_t until = vx_mono_ms() + 5000;
    vx_status got;
    while ((got = vx_redis_get(f->r, k3, &v, &len)) == VX_OK && vx_mono_ms() < until) {
        vx_free(v);
        vx_sleep_ms(20);
    }
    assert_int_equal(got, VX_NOT_FOUND);

    assert_int_equal(vx_redis_del(f->r, k), VX_OK);
    assert_int_equal(vx_redis_get(f->r, k, &v, &len), VX_NOT_FOUND);
    assert_int_equal(vx_redis_del(f->r, k), VX_OK); /* missing is fine */

    assert_int_equal(vx_redis_set(f->r, "", "x", 1, 0), VX_INVALID);
    assert_int_equal(vx_redis_get(f->r, NULL, &v, &len), VX_INVALID);
    assert_true(vx_redis_healthy(f->r));
    assert_true(metric(f, "ok") >= 10);
    assert_int_equal(metric(f, "unavailable"), 0);
}

static void test_redis_select_and_auth_from_the_url(void **state)
{
    fixture *f = *state;
    /* database 1 from the URL */
    char url[256];
    h_redis_url_at(g.u.port, 1, url, sizeof url);
    start(f, url);
    char k[128];
    key(f, "db1", k, sizeof k);
    assert_int_equal(vx_redis_set(f->r, k, "one", 3, 60000), VX_OK);
    assert_int_equal(direct_int(f, "EXISTS %s", k), g.u.db == 1 ? 1 : 0);
    freeReplyObject(redisCommand(f->direct, "SELECT 1"));
    assert_int_equal(direct_int(f, "EXISTS %s", k), 1);
    freeReplyObject(redisCommand(f->direct, "SELECT %d", g.u.db));
    vx_redis_destroy(f->r);
    f->r = NULL;

    /* user and password: an ACL user of this test, allowed only its own keys */
    char user[64], pattern[96];
    snprintf(user, sizeof user, "vxt_redis_%d", (int)getpid());
    snprintf(pattern, sizeof pattern, "~%s*", f->prefix);
    redisReply *rep =
        redisCommand(f->direct, "ACL SETUSER %s reset on >s3cr%%2Ft %s +@all", user, pattern);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    /* the password "s3cr%2Ft" is written %-escaped in the URL */
    snprintf(url, sizeof url, "redis://%s:s3cr%%252Ft@%s:%d/%d", user, g.u.host, g.u.port, g.u.db);
    start(f, url);
    assert_int_equal(vx_redis_set(f->r, k, "acl", 3, 60000), VX_OK);
    char *v = NULL;
    size_t len = 0;
    assert_int_equal(vx_redis_get(f->r, k, &v, &len), VX_OK);
    assert_string_equal(v, "acl");
    vx_free(v);
    /* outside its key pattern Redis refuses: an error reply, not an outage */
    assert_int_equal(vx_redis_set(f->r, "vxt:redis:not-mine", "x", 1, 1000), VX_INTERNAL);
    assert_true(vx_redis_healthy(f->r));
    vx_redis_destroy(f->r);
    f->r = NULL;

    /* a wrong password: no connection can be made */
    snprintf(url, sizeof url, "redis://%s:wrong@%s:%d/%d", user, g.u.host, g.u.port, g.u.db);
    start(f, url);
    assert_int_equal(vx_redis_get(f->r, k, &v, &len), VX_UNAVAILABLE);
    assert_false(vx_redis_healthy(f->r));
    freeReplyObject(redisCommand(f->direct, "ACL DELUSER %s", user));
}

/* ---- scripts ---- */

static void test_redis_scripts_survive_script_flush(void **state)
{
    fixture *f = *state;
    start(f, g.url);
    vx_redis_script *incr =
        vx_redis_script_create("local v = redis.call('INCRBY', KEYS[1], tonumber(ARGV[1]))\n"
                               "redis.call('PEXPIRE', KEYS[1], 60000)\n"
                               "return {v, #KEYS, #ARGV}\n");
    vx_redis_script *one = vx_redis_script_create("return 42");
    char k[128];
    key(f, "counter", k, sizeof k);
    const char *keys[1] = {k};
    const char *args[2] = {"5", "unused"};
    int64_t out[4];
    size_t n = 0;
    char why[256] = "";
    assert_int_equal(vx_redis_eval_ints(f->r, incr, keys, 1, args, 2, out, 4, &n, why, sizeof why),
                     VX_OK);
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 5);
    assert_int_equal(out[1], 1);
    assert_int_equal(out[2], 2);
    /* the first call loaded it: EVALSHA finds it now */
    redisReply *rep = redisCommand(f->direct, "SCRIPT EXISTS %s", incr->sha);
    assert_int_equal(rep->element[0]->integer, 1);
    freeReplyObject(rep);

    /* fewer slots than results: the first out_cap */
    assert_int_equal(vx_redis_eval_ints(f->r, incr, keys, 1, args, 1, out, 1, &n, why, sizeof why),
                     VX_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 10);
    assert_int_equal(vx_redis_eval_ints(f->r, one, NULL, 0, NULL, 0, out, 4, &n, why, sizeof why),
                     VX_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 42);

    /* SCRIPT FLUSH (or a restarted server): NOSCRIPT, then EVAL, and the answer is the same */
    freeReplyObject(redisCommand(f->direct, "SCRIPT FLUSH"));
    double errors = metric(f, "error");
    assert_int_equal(vx_redis_eval_ints(f->r, incr, keys, 1, args, 1, out, 4, &n, why, sizeof why),
                     VX_OK);
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 15);
    rep = redisCommand(f->direct, "SCRIPT EXISTS %s", incr->sha);
    assert_int_equal(rep->element[0]->integer, 1);
    freeReplyObject(rep);
    assert_int_equal(metric(f, "error"), errors); /* NOSCRIPT is no error */

    vx_redis_script_destroy(incr);
    vx_redis_script_destroy(one);
}

static void test_redis_script_errors_and_bad_results(void **state)
{
    fixture *f = *state;
    start(f, g.url);
    int64_t out[4];
    size_t n = 99;
    char why[256] = "";
    vx_redis_script *boom = vx_redis_script_create("return redis.error_reply('BOOM it failed')");
    assert_int_equal(vx_redis_eval_ints(f->r, boom, NULL, 0, NULL, 0, out, 4, &n, why, sizeof why),
                     VX_INTERNAL);
    assert_non_null(strstr(why, "BOOM it failed"));
    vx_redis_script *nested = vx_redis_script_create("return {1, {2, 3}}");
    assert_int_equal(
        vx_redis_eval_ints(f->r, nested, NULL, 0, NULL, 0, out, 4, &n, why, sizeof why),
        VX_INTERNAL);
    assert_non_null(strstr(why, "nested"));
    vx_redis_script *text = vx_redis_script_create("return 'text'");
    assert_int_equal(vx_redis_eval_ints(f->r, text, NULL, 0, NULL, 0, out, 4, &n, why, sizeof why),
                     VX_INTERNAL);
    vx_redis_script *syntax = vx_redis_script_create("this is not lua");
    assert_int_equal(
        vx_redis_eval_ints(f->r, syntax, NULL, 0, NULL, 0, out, 4, &n, why, sizeof why),
        VX_INTERNAL);
    assert_int_equal(n, 99); /* untouched on failure */
    assert_true(metric(f, "error") >= 2);
    /* Redis answered every time: errors are not an outage */
    assert_true(vx_redis_healthy(f->r));
    assert_int_equal(breaker_gauge(f), 0);
    vx_redis_script_destroy(boom);
    vx_redis_script_destroy(nested);
    vx_redis_script_destroy(text);
    vx_redis_script_destroy(syntax);
}

/* ---- threads ---- */

typedef struct {
    fixture *f;
    int id;
    int failures;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    char k[128], val[32];
    snprintf(k, sizeof k, "%sw%d", a->f->prefix, a->id);
    for (int i = 0; i < 200; i++) {
        int len = snprintf(val, sizeof val, "%d-%d", a->id, i);
        char *got = NULL;
        size_t n = 0;
        if (vx_redis_set(a->f->r, k, val, (size_t)len, 60000) != VX_OK ||
            vx_redis_get(a->f->r, k, &got, &n) != VX_OK || n != (size_t)len ||
            memcmp(got, val, n) != 0)
            a->failures++;
        vx_free(got);
    }
    return NULL;
}

static void test_redis_many_threads_share_a_small_pool(void **state)
{
    fixture *f = *state;
    start(f, g.url); /* two connections for eight threads */
    pthread_t t[8];
    worker_arg a[8];
    for (int i = 0; i < 8; i++) {
        a[i] = (worker_arg){.f = f, .id = i};
        pthread_create(&t[i], NULL, worker, &a[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].failures, 0);
    }
    assert_int_equal(metric(f, "ok"), 8 * 200 * 2);
    /* never more connections than the pool */
    int open = 0;
    for (int i = 0; i < f->r->pool_size; i++)
        open += f->r->slots[i].ctx != NULL;
    assert_true(open >= 1 && open <= 2);
}

/* ---- failures ---- */

static void test_redis_unreachable_is_fast_and_opens_the_breaker(void **state)
{
    fixture *f = *state;
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", h_free_port()); /* nothing listens */
    start(f, url);
    char k[128];
    key(f, "x", k, sizeof k);
    char *v = NULL;
    size_t len = 0;
    int64_t t0 = vx_mono_ms();
    for (int i = 0; i < 3; i++)
        assert_int_equal(vx_redis_get(f->r, k, &v, &len), VX_UNAVAILABLE);
    assert_true(vx_mono_ms() - t0 < 1000);
    assert_int_equal(metric(f, "unavailable"), 3);
    /* three failures in a row opened the breaker: now nothing is even tried */
    assert_int_equal(breaker_gauge(f), 1);
    assert_false(vx_redis_healthy(f->r));
    t0 = vx_mono_ns();
    for (int i = 0; i < 1000; i++)
        assert_int_equal(vx_redis_set(f->r, k, "v", 1, 1000), VX_UNAVAILABLE);
    int64_t per_call_ns = (vx_mono_ns() - t0) / 1000;
    assert_true(per_call_ns < 200000); /* far below any connection attempt */
    assert_int_equal(metric(f, "refused"), 1000);
    assert_int_equal(metric(f, "unavailable"), 3);
    vx_redis_script *s = vx_redis_script_create("return 1");
    int64_t out[1];
    size_t n;
    char why[256] = "";
    assert_int_equal(vx_redis_eval_ints(f->r, s, NULL, 0, NULL, 0, out, 1, &n, why, sizeof why),
                     VX_UNAVAILABLE);
    assert_non_null(strstr(why, "breaker"));
    vx_redis_script_destroy(s);
}

/* A server that accepts connections and never answers. */
typedef struct {
    int fd, port;
} blackhole;

static void blackhole_open(blackhole *b)
{
    b->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(b->fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t alen = sizeof a;
    getsockname(b->fd, (struct sockaddr *)&a, &alen);
    b->port = ntohs(a.sin_port);
    assert_int_equal(listen(b->fd, 16), 0); /* the kernel completes the handshakes */
}

static void test_redis_silent_server_times_out(void **state)
{
    fixture *f = *state;
    blackhole b;
    blackhole_open(&b);
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", b.port);
    vx_redis_config c = test_config(url, f->metrics);
    c.command_timeout_ms = 100;
    char why[256] = "";
    assert_int_equal(vx_redis_create(&c, &f->r, why, sizeof why), VX_OK);
    char *v = NULL;
    size_t len = 0;
    int64_t t0 = vx_mono_ms();
    assert_int_equal(vx_redis_get(f->r, "vxt:redis:silent", &v, &len), VX_TIMEOUT);
    int64_t took = vx_mono_ms() - t0;
    assert_true(took >= 90 && took < 1000);
    assert_int_equal(metric(f, "timeout"), 1);
    assert_false(vx_redis_healthy(f->r));
    close(b.fd);
}

static void test_redis_recovers_when_redis_comes_back(void **state)
{
    fixture *f = *state;
    h_proxy *p = h_proxy_start(g.u.host, g.u.port);
    char url[256];
    h_redis_url_at(h_proxy_port(p), g.u.db, url, sizeof url);
    start(f, url);
    char k[128];
    key(f, "r", k, sizeof k);
    char *v = NULL;
    size_t len = 0;
    assert_int_equal(vx_redis_set(f->r, k, "before", 6, 60000), VX_OK);

    h_proxy_cut(p);
    int64_t t0 = vx_mono_ms();
    int unavailable = 0;
    for (int i = 0; i < 20; i++)
        unavailable += vx_redis_get(f->r, k, &v, &len) == VX_UNAVAILABLE;
    assert_int_equal(unavailable, 20);
    assert_true(vx_mono_ms() - t0 < 2000);
    assert_int_equal(breaker_gauge(f), 1);
    assert_true(metric(f, "refused") > 0);
    assert_false(vx_redis_healthy(f->r));

    h_proxy_restore(p);
    /* after open_ms the breaker lets a probe through; the dead connection is replaced */
    vx_status st = VX_UNAVAILABLE;
    int64_t deadline = vx_mono_ms() + 5000;
    while (st != VX_OK && vx_mono_ms() < deadline) {
        st = vx_redis_get(f->r, k, &v, &len);
        if (st != VX_OK)
            vx_sleep_ms(50);
    }
    assert_int_equal(st, VX_OK);
    assert_string_equal(v, "before");
    vx_free(v);
    assert_int_equal(vx_redis_set(f->r, k, "after", 5, 60000), VX_OK);
    assert_true(vx_redis_healthy(f->r));
    assert_int_equal(breaker_gauge(f), 0);
    /* the library said so, once each way */
    fflush(f->log);
    rewind(f->log);
    char line[1024];
    int down = 0, up = 0;
    while (fgets(line, sizeof line, f->log)) {
        down += strstr(line, "redis unreachable") != NULL;
        up += strstr(line, "redis reachable again") != NULL;
    }
    assert_int_equal(down, 1);
    assert_int_equal(up, 1);
    vx_redis_destroy(f->r);
    f->r = NULL;
    h_proxy_stop(p);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    vx_log_init("test_redis", VX_LOG_INFO);
    g.url = vx_test_env("VX_REDIS_URL");
    if (!g.url)
        return VX_TEST_SKIP;
    if (vx_redis_url_parse(g.url, &g.u, NULL, 0) != VX_OK) {
        vx_test_unreachable("test_redis: VX_REDIS_URL invalid");
        return VX_TEST_SKIP;
    }
    redisContext *c = h_redis_open();
    redisReply *r = c ? redisCommand(c, "PING") : NULL;
    bool up = r != NULL && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (c)
        redisFree(c);
    if (!up) {
        char why[160];
        snprintf(why, sizeof why, "test_redis: Redis at %s:%d unreachable", g.u.host, g.u.port);
        vx_test_unreachable(why);
        return VX_TEST_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_redis_get_set_ttl_del, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_select_and_auth_from_the_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_scripts_survive_script_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_script_errors_and_bad_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_many_threads_share_a_small_pool, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redis_unreachable_is_fast_and_opens_the_breaker, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_redis_silent_server_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_recovers_when_redis_comes_back, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    vx_redis_url_cleanup(&g.u);
    return rc == 0 ? 0 : 1;
}
