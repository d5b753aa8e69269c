/* Integration tests of libs/ratelimit against the real Redis (VX_REDIS_URL): limits shared by
 * two loops, the Lua script against the pure GCRA, key expiry, and the local fallback (Redis
 * unreachable, or cut and stalled through a TCP proxy of this test) with its recovery. Each test
 * uses its own key prefix "vxt:rl:<pid>:<n>:" and deletes its keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "harness.h"
#include "limiter_internal.h"
#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/log.h"
#include "vx/metrics.h"
#include "vx/ratelimit_redis.h"
#include "vx_test_env.h"

#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct {
    const char *url;
    char host[64];
    int port;
    int next_id;
} g;

typedef struct {
    char prefix[64];
    redisContext *redis; /* synchronous, for looking at keys */
    vx_metrics *metrics;
    vx_ratelimit_shared *shared;
    uv_loop_t loop;
    vx_ratelimit *rl;
    FILE *log;           /* what the library logged during the test */
    uint64_t base[2][2]; /* decisions counted before the test proper [denied][source] */
} fixture;

/* ---- fixture and helpers ---- */

static vx_ratelimit_config test_config(const fixture *f, const char *url)
{
    vx_ratelimit_config cfg = vx_ratelimit_defaults();
    cfg.redis_url = url;
    cfg.key_prefix = f->prefix;
    cfg.metrics_prefix = "valdrix_test";
    cfg.reconnect_min_ms = 20;
    cfg.reconnect_max_ms = 100;
    cfg.breaker.window = 10;
    cfg.breaker.min_calls = 3;
    cfg.breaker.open_ms = 300;
    return cfg;
}

/* Creates the shared state and a limiter on the fixture's loop, logging into f->log. */
static void start_limiter(fixture *f, const vx_ratelimit_config *cfg)
{
    assert_int_equal(vx_ratelimit_shared_create(cfg, f->metrics, &f->shared), VX_OK);
    assert_int_equal(vx_ratelimit_create(&f->loop, f->shared, &f->rl), VX_OK);
}

static int setup(void **state)
{
    fixture *f = vx_xcalloc(1, sizeof *f);
    *state = f;
    snprintf(f->prefix, sizeof f->prefix, "vxt:rl:%d:%d:", (int)getpid(), ++g.next_id);
    f->redis = h_redis_open();
    if (f->redis == NULL)
        return -1;
    f->metrics = vx_metrics_create();
    uv_loop_init(&f->loop);
    f->log = tmpfile();
    if (f->log == NULL)
        return -1;
    vx_log_set_fd(fileno(f->log));
    return 0;
}

static void delete_keys(fixture *f)
{
    redisReply *r = redisCommand(f->redis, "KEYS %s*", f->prefix);
    if (r != NULL && r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++)
            freeReplyObject(redisCommand(f->redis, "DEL %s", r->element[i]->str));
    freeReplyObject(r);
}

static int teardown(void **state)
{
    fixture *f = *state;
    vx_ratelimit_destroy(f->rl);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&f->loop) == 0 ? 0 : -1;
    vx_ratelimit_shared_destroy(f->shared);
    vx_metrics_destroy(f->metrics);
    vx_log_set_fd(2);
    if (f->log)
        fclose(f->log);
    if (f->redis) {
        delete_keys(f);
        redisFree(f->redis);
    }
    vx_free(f);
    return rc;
}

/* How many lines the library logged containing `needle`. */
static int log_count(fixture *f, const char *needle)
{
    fflush(f->log);
    rewind(f->log);
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f->log))
        n += strstr(line, needle) != NULL;
    fseek(f->log, 0, SEEK_END);
    return n;
}

/* Forgets what was logged so far. */
static void log_reset(fixture *f)
{
    fflush(f->log);
    assert_int_equal(ftruncate(fileno(f->log), 0), 0);
    rewind(f->log);
}

typedef struct {
    bool done;
    vx_rl_decision d;
} one_result;

static void one_cb(void *ctx, const vx_rl_decision *d)
{
    one_result *o = ctx;
    o->done = true;
    o->d = *d;
}

/* One check, waiting for its decision while the loop runs. */
static vx_rl_decision decide(fixture *f, const char *tenant, const vx_plan_rate *lim)
{
    one_result o = {0};
    assert_int_equal(vx_ratelimit_check(f->rl, tenant, VX_PLAN_CAT_API, lim, one_cb, &o), VX_OK);
    while (!o.done)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(o.d.status, VX_OK);
    return o.d;
}

static void on_pump_timer(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Runs the loop for `ms` (reconnects, timers). */
static void pump(uv_loop_t *loop, uint64_t ms)
{
    uv_timer_t t;
    bool fired = false;
    uv_timer_init(loop, &t);
    t.data = &fired;
    uv_timer_start(&t, on_pump_timer, ms, 0);
    while (!fired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

/* Waits (up to 5 s) until Redis decides with the breaker closed: on a loaded machine the first
 * connection can take longer than a command timeout. Then forgets the logs and counts. */
static void wait_for_redis(fixture *f)
{
    const vx_plan_rate lim = {.limit = 1000000, .period_ms = 1000};
    int64_t deadline = vx_mono_ms() + 5000;
    vx_rl_decision d = decide(f, "warm-up", &lim);
    while ((d.source != VX_RL_SOURCE_REDIS ||
            vx_ratelimit_breaker_state(f->shared) != VX_BREAKER_CLOSED) &&
           vx_mono_ms() < deadline) {
        pump(&f->loop, 20);
        d = decide(f, "warm-up", &lim);
    }
    assert_int_equal(d.source, VX_RL_SOURCE_REDIS);
    assert_int_equal(vx_ratelimit_breaker_state(f->shared), VX_BREAKER_CLOSED);
    log_reset(f);
    for (int a = 0; a < 2; a++)
        for (int src = 0; src < 2; src++)
            f->base[a][src] = vx_counter_value(f->shared->decisions[VX_PLAN_CAT_API][a][src]);
}

static uint64_t decisions(fixture *f, bool allowed, vx_rl_source src)
{
    int a = allowed ? 0 : 1;
    return vx_counter_value(f->shared->decisions[VX_PLAN_CAT_API][a][src]) - f->base[a][src];
}

static int64_t key_pttl(fixture *f, const char *key)
{
    redisReply *r = redisCommand(f->redis, "PTTL %s", key);
    assert_non_null(r);
    int64_t v = r->integer;
    freeReplyObject(r);
    return v;
}

/* ---- two loops, one limit ---- */

typedef struct {
    vx_ratelimit_shared *shared;
    const vx_plan_rate *lim;
    pthread_barrier_t *start;
    int n, done, allowed, denied, local, bad, allowed_first;
    uv_loop_t loop;
} worker;

static void worker_cb(void *ctx, const vx_rl_decision *d)
{
    worker *w = ctx;
    w->done++;
    if (d->status != VX_OK)
        w->bad++;
    else if (d->source != VX_RL_SOURCE_REDIS)
        w->local++;
    if (d->allowed) {
        w->allowed++;
    } else {
        w->denied++;
        /* 50/hour: one every 72 s is what a denied caller waits at most */
        if (d->remaining != 0 || d->retry_after_ms <= 0 || d->retry_after_ms > 72000)
            w->bad++;
    }
}

/* Sends `n` checks in bursts of ten per loop turn (so the two loops' commands interleave in
 * Redis) and waits for all decisions. */
static void worker_send(worker *w, vx_ratelimit *rl, int n)
{
    int target = w->done + n;
    for (int sent = 0; sent < n;) {
        for (int i = 0; i < 10 && sent < n; i++, sent++)
            if (vx_ratelimit_check(rl, "shared-tenant", VX_PLAN_CAT_API, w->lim, worker_cb, w) !=
                VX_OK)
                w->bad++;
        uv_run(&w->loop, UV_RUN_NOWAIT);
    }
    while (w->done < target)
        uv_run(&w->loop, UV_RUN_ONCE);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    vx_ratelimit *rl = NULL;
    uv_loop_init(&w->loop);
    if (vx_ratelimit_create(&w->loop, w->shared, &rl) != VX_OK) {
        w->bad++;
        return NULL;
    }
    /* Both loops spend 20 each (under the limit of 50), then race for the 10 left. */
    pthread_barrier_wait(w->start);
    worker_send(w, rl, 20);
    w->allowed_first = w->allowed;
    pthread_barrier_wait(w->start);
    worker_send(w, rl, w->n - 20);
    vx_ratelimit_destroy(rl);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&w->loop) != 0)
        w->bad++;
    return NULL;
}

static void test_ratelimit_two_loops_share_the_redis_limit(void **state)
{
    fixture *f = *state;
    vx_ratelimit_config cfg = test_config(f, g.url);
    cfg.command_timeout_ms = 1000; /* this test is about sharing, not timeouts */
    assert_int_equal(vx_ratelimit_shared_create(&cfg, f->metrics, &f->shared), VX_OK);
    const vx_plan_rate lim = {.limit = 50, .period_ms = 3600000};
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    worker w[2] = {{.shared = f->shared, .lim = &lim, .start = &start, .n = 60},
                   {.shared = f->shared, .lim = &lim, .start = &start, .n = 60}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(w[i].bad, 0);
        assert_int_equal(w[i].local, 0);
        assert_int_equal(w[i].done, 60);
        assert_int_equal(w[i].allowed_first, 20);
    }
    assert_int_equal(w[0].allowed + w[1].allowed, 50);
    assert_int_equal(w[0].denied + w[1].denied, 70);
    assert_int_equal(decisions(f, true, VX_RL_SOURCE_REDIS), 50);
    assert_int_equal(decisions(f, false, VX_RL_SOURCE_REDIS), 70);
    assert_int_equal(vx_counter_value(f->shared->errors[RL_ERR_MISMATCH]), 0);
}

/* ---- the script against the pure arithmetic ---- */

static int64_t server_now_us(fixture *f)
{
    redisReply *r = redisCommand(f->redis, "TIME");
    assert_true(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    int64_t now =
        strtoll(r->element[0]->str, NULL, 10) * 1000000 + strtoll(r->element[1]->str, NULL, 10);
    freeReplyObject(r);
    return now;
}

/* Stores `value` (NULL: nothing) under key, runs the script once, and checks its answer and
 * the stored TAT against vx_rl_gcra on the same stored TAT and server time. */
static bool script_case(fixture *f, const char *key, const char *value, const vx_plan_rate *lim,
                        int64_t cost)
{
    freeReplyObject(value ? redisCommand(f->redis, "SET %s %s", key, value)
                          : redisCommand(f->redis, "DEL %s", key));
    redisReply *r =
        redisCommand(f->redis, "EVAL %s 1 %s %lld %lld %lld", vx_rl_script, key,
                     (long long)vx_rl_interval_us(lim), (long long)lim->limit, (long long)cost);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("script error: %s", r->str);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 4);
    int64_t allowed = r->element[0]->integer, stored = r->element[1]->integer,
            now = r->element[2]->integer, tat = r->element[3]->integer;
    freeReplyObject(r);
    vx_rl_gcra_result want;
    assert_int_equal(vx_rl_gcra(stored, now, lim, cost, &want), VX_OK);
    assert_int_equal(allowed, want.allowed ? 1 : 0);
    assert_int_equal(tat, want.tat_us);
    r = redisCommand(f->redis, "GET %s", key);
    if (want.allowed && cost > 0) {
        assert_int_equal(r->type, REDIS_REPLY_STRING);
        assert_int_equal(strtoll(r->str, NULL, 10), want.tat_us);
        int64_t pttl = key_pttl(f, key);
        assert_true(pttl > 0 && pttl <= (want.tat_us - now) / 1000 + 1);
    } else if (value == NULL) {
        assert_int_equal(r->type, REDIS_REPLY_NIL);
    } else {
        assert_string_equal(r->str, value); /* denied or peek: untouched */
    }
    freeReplyObject(r);
    return want.allowed;
}

typedef struct {
    int done, allowed, redis;
} tally;

static void tally_cb(void *ctx, const vx_rl_decision *d)
{
    tally *t = ctx;
    t->done++;
    t->allowed += d->status == VX_OK && d->allowed;
    t->redis += d->status == VX_OK && d->source == VX_RL_SOURCE_REDIS;
}

/* Checks started in one loop turn go to Redis in batches (more than one batch here, after the
 * script cache was flushed, so the batch is re-sent as EVAL): each tenant's checks are decided
 * in order against its own limit, exactly as one by one. */
static void test_ratelimit_burst_in_one_turn_is_exact(void **state)
{
    fixture *f = *state;
    vx_ratelimit_config cfg = test_config(f, g.url);
    cfg.command_timeout_ms = 2000;
    start_limiter(f, &cfg);
    wait_for_redis(f);
    freeReplyObject(redisCommand(f->redis, "SCRIPT FLUSH"));
    const vx_plan_rate lim = {.limit = 200, .period_ms = 3600000};
    tally burst = {0}, other = {0};
    for (int i = 0; i < 300; i++) {
        assert_int_equal(
            vx_ratelimit_check(f->rl, "burst", VX_PLAN_CAT_API, &lim, tally_cb, &burst), VX_OK);
        if (i % 60 == 0)
            assert_int_equal(
                vx_ratelimit_check(f->rl, "other", VX_PLAN_CAT_API, &lim, tally_cb, &other), VX_OK);
    }
    while (burst.done < 300 || other.done < 5)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(burst.redis, 300);
    assert_int_equal(burst.allowed, 200);
    assert_int_equal(other.redis, 5);
    assert_int_equal(other.allowed, 5);
    assert_int_equal(decisions(f, false, VX_RL_SOURCE_REDIS), 100);
}

static void test_ratelimit_script_matches_pure_gcra(void **state)
{
    fixture *f = *state;
    char key[128], v[32];
    snprintf(key, sizeof key, "%sapi:script", f->prefix);
    const vx_plan_rate five = {.limit = 5, .period_ms = 1000}; /* interval 200 ms */
    const vx_plan_rate seven = {.limit = 7, .period_ms = 60000};
    const vx_plan_rate high = {.limit = 1000000, .period_ms = 60000};
    assert_true(script_case(f, key, NULL, &five, 1));
    int64_t now = server_now_us(f);
    snprintf(v, sizeof v, "%lld", (long long)(now - 5000000)); /* in the past */
    assert_true(script_case(f, key, v, &five, 1));
    snprintf(v, sizeof v, "%lld", (long long)(now + 500000)); /* half the tolerance used */
    assert_true(script_case(f, key, v, &five, 1));
    snprintf(v, sizeof v, "%lld", (long long)(now + 950000)); /* nearly all used */
    assert_false(script_case(f, key, v, &five, 1));
    snprintf(v, sizeof v, "%lld", (long long)(now + 3600000000LL)); /* limit was lowered */
    assert_false(script_case(f, key, v, &five, 1));
    assert_true(script_case(f, key, "not-a-number", &five, 1));
    snprintf(v, sizeof v, "%lld", (long long)(now + 950000));
    assert_true(script_case(f, key, v, &five, 0)); /* a peek never denies nor writes */
    /* A burst on an uneven limit and on a very high one, state carried in Redis. */
    freeReplyObject(redisCommand(f->redis, "DEL %s", key));
    int allowed = 0;
    for (int i = 0; i < 9; i++) {
        redisReply *r = redisCommand(f->redis, "GET %s", key);
        char stored[32] = "";
        if (r->type == REDIS_REPLY_STRING)
            snprintf(stored, sizeof stored, "%s", r->str);
        freeReplyObject(r);
        allowed += script_case(f, key, stored[0] ? stored : NULL, &seven, 1);
    }
    assert_int_equal(allowed, 7);
    snprintf(v, sizeof v, "%lld", (long long)(now + 59000000));
    assert_true(script_case(f, key, v, &high, 1));
}

/* ---- expiry ---- */

static void test_ratelimit_keys_expire(void **state)
{
    fixture *f = *state;
    vx_ratelimit_config cfg = test_config(f, g.url);
    start_limiter(f, &cfg);
    wait_for_redis(f);
    const vx_plan_rate lim = {.limit = 2, .period_ms = 300};
    char key[128];
    snprintf(key, sizeof key, "%sapi:expiring", f->prefix);
    vx_rl_decision d = decide(f, "expiring", &lim);
    assert_true(d.allowed);
    assert_int_equal(d.source, VX_RL_SOURCE_REDIS);
    assert_int_equal(d.remaining, 1);
    int64_t pttl = key_pttl(f, key);
    assert_true(pttl > 0 && pttl <= 151);
    assert_true(decide(f, "expiring", &lim).allowed);
    d = decide(f, "expiring", &lim);
    assert_false(d.allowed);
    assert_in_range(d.retry_after_ms, 1, 150);
    pttl = key_pttl(f, key);
    assert_true(pttl > 0 && pttl <= 301);
    /* Once the TAT has passed the key is gone, and the full limit is back. */
    int64_t until = vx_mono_ms() + 5000;
    while (key_pttl(f, key) != -2 && vx_mono_ms() < until)
        vx_sleep_ms(20);
    assert_int_equal(key_pttl(f, key), -2);
    d = decide(f, "expiring", &lim);
    assert_true(d.allowed);
    assert_int_equal(d.remaining, 1);
}

/* ---- fallback ---- */

static void test_ratelimit_unreachable_redis_decides_locally(void **state)
{
    fixture *f = *state;
    /* A port nothing listens on: bound, then closed. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", ntohs(a.sin_port));
    vx_ratelimit_config cfg = test_config(f, url);
    cfg.breaker.open_ms = 60000;
    start_limiter(f, &cfg);
    const vx_plan_rate lim = {.limit = 5, .period_ms = 3600000};
    int allowed = 0;
    for (int i = 0; i < 8; i++) {
        vx_rl_decision d = decide(f, "offline", &lim);
        assert_int_equal(d.source, VX_RL_SOURCE_LOCAL);
        allowed += d.allowed;
        if (!d.allowed)
            assert_in_range(d.retry_after_ms, 1, 720000);
    }
    assert_int_equal(allowed, 5);
    assert_int_equal(decisions(f, true, VX_RL_SOURCE_LOCAL), 5);
    assert_int_equal(decisions(f, false, VX_RL_SOURCE_LOCAL), 3);
    assert_int_equal(decisions(f, true, VX_RL_SOURCE_REDIS), 0);
    uint64_t errors = 0;
    for (int r = 0; r < RL_ERR_COUNT; r++)
        errors += vx_counter_value(f->shared->errors[r]);
    assert_true(errors >= 3); /* the breaker tripped after min_calls failures */
    assert_int_equal(vx_ratelimit_breaker_state(f->shared), VX_BREAKER_OPEN);
    assert_true(vx_gauge_value(f->shared->breaker_gauge) == 1.0);
    assert_int_equal(log_count(f, "deciding locally"), 1);
    assert_int_equal(log_count(f, "redis is back"), 0);
    /* It keeps trying in the background without spinning: still local, still one log line. */
    pump(&f->loop, 200);
    assert_false(decide(f, "offline", &lim).allowed);
    assert_int_equal(log_count(f, "deciding locally"), 1);
}

static void test_ratelimit_falls_back_and_recovers(void **state)
{
    fixture *f = *state;
    h_proxy *px = h_proxy_start(g.host, g.port);
    assert_non_null(px);
    char url[256];
    h_redis_url_at(h_proxy_port(px), 0, url, sizeof url);
    vx_ratelimit_config cfg = test_config(f, url);
    cfg.command_timeout_ms = 150;
    start_limiter(f, &cfg);
    wait_for_redis(f);
    const vx_plan_rate ten = {.limit = 10, .period_ms = 3600000};

    /* Through Redis. */
    for (int i = 0; i < 3; i++) {
        vx_rl_decision d = decide(f, "before", &ten);
        assert_true(d.allowed);
        assert_int_equal(d.source, VX_RL_SOURCE_REDIS);
    }

    /* Redis stalls (accepts, never answers): timeouts, then the breaker opens; still enforced. */
    h_proxy_hold(px);
    int allowed = 0;
    for (int i = 0; i < 12; i++) {
        vx_rl_decision d = decide(f, "stalled", &ten);
        assert_int_equal(d.source, VX_RL_SOURCE_LOCAL);
        allowed += d.allowed;
    }
    assert_int_equal(allowed, 10);
    assert_true(vx_counter_value(f->shared->errors[RL_ERR_TIMEOUT]) >= 1);
    assert_int_equal(log_count(f, "deciding locally"), 1);
    assert_true(vx_gauge_value(f->shared->breaker_gauge) != 0.0);

    /* Redis cut off entirely: connections refused. */
    h_proxy_cut(px);
    pump(&f->loop, 350); /* past open_ms: half-open probes fail and reopen it */
    allowed = 0;
    for (int i = 0; i < 12; i++) {
        vx_rl_decision d = decide(f, "cut", &ten);
        assert_int_equal(d.source, VX_RL_SOURCE_LOCAL);
        allowed += d.allowed;
    }
    assert_int_equal(allowed, 10);
    assert_int_equal(log_count(f, "deciding locally"), 1);
    uint64_t local =
        decisions(f, true, VX_RL_SOURCE_LOCAL) + decisions(f, false, VX_RL_SOURCE_LOCAL);
    assert_int_equal(local, 24);

    /* Redis is back: the breaker's probes succeed and decisions return to Redis by themselves. */
    h_proxy_restore(px);
    const vx_plan_rate many = {.limit = 1000, .period_ms = 3600000};
    int64_t deadline = vx_mono_ms() + 5000;
    vx_rl_decision d = decide(f, "probe", &many);
    while (d.source != VX_RL_SOURCE_REDIS && vx_mono_ms() < deadline) {
        pump(&f->loop, 20);
        d = decide(f, "probe", &many);
    }
    assert_int_equal(d.source, VX_RL_SOURCE_REDIS);
    for (int i = 0; i < 3; i++) /* the remaining probes close the breaker */
        decide(f, "probe", &many);
    assert_int_equal(vx_ratelimit_breaker_state(f->shared), VX_BREAKER_CLOSED);
    assert_true(vx_gauge_value(f->shared->breaker_gauge) == 0.0);
    assert_int_equal(log_count(f, "redis is back"), 1);
    assert_int_equal(log_count(f, "deciding locally"), 1);
    /* Enforced in Redis again; the tenant that spent 3 before the outage has 7 left there. */
    allowed = 0;
    for (int i = 0; i < 9; i++) {
        d = decide(f, "before", &ten);
        assert_int_equal(d.source, VX_RL_SOURCE_REDIS);
        allowed += d.allowed;
    }
    assert_int_equal(allowed, 7);
    h_proxy_stop(px);
}

/* ---- destroy ---- */

static void test_ratelimit_destroy_cancels_waiting_checks(void **state)
{
    fixture *f = *state;
    h_proxy *px = h_proxy_start(g.host, g.port);
    assert_non_null(px);
    char url[256];
    h_redis_url_at(h_proxy_port(px), 0, url, sizeof url);
    vx_ratelimit_config cfg = test_config(f, url);
    cfg.command_timeout_ms = 10000;
    start_limiter(f, &cfg);
    wait_for_redis(f);
    const vx_plan_rate ten = {.limit = 10, .period_ms = 3600000};
    assert_int_equal(decide(f, "x", &ten).source, VX_RL_SOURCE_REDIS);
    h_proxy_hold(px);
    one_result o[3] = {{0}};
    for (int i = 0; i < 3; i++)
        assert_int_equal(vx_ratelimit_check(f->rl, "x", VX_PLAN_CAT_API, &ten, one_cb, &o[i]),
                         VX_OK);
    pump(&f->loop, 30);
    assert_false(o[0].done); /* waiting for a Redis that does not answer */
    vx_ratelimit_destroy(f->rl);
    for (int i = 0; i < 3; i++) {
        assert_true(o[i].done);
        assert_int_equal(o[i].d.status, VX_CLOSED);
    }
    f->rl = NULL;
    h_proxy_stop(px);
}

int main(void)
{
    vx_log_init("test_ratelimit", VX_LOG_INFO);
    g.url = vx_test_env("VX_REDIS_URL");
    if (!g.url)
        return VX_TEST_SKIP;
    vx_ratelimit_config cfg = vx_ratelimit_defaults();
    cfg.redis_url = g.url;
    vx_ratelimit_shared *s = NULL;
    if (vx_ratelimit_shared_create(&cfg, NULL, &s) != VX_OK) {
        vx_test_unreachable("test_ratelimit: VX_REDIS_URL invalid");
        return VX_TEST_SKIP;
    }
    snprintf(g.host, sizeof g.host, "%s", s->host);
    g.port = s->port;
    vx_ratelimit_shared_destroy(s);
    redisContext *c = h_redis_open();
    redisReply *r = c ? redisCommand(c, "PING") : NULL;
    bool up = r != NULL && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (c)
        redisFree(c);
    if (!up) {
        char why[128];
        snprintf(why, sizeof why, "test_ratelimit: Redis at %s:%d unreachable", g.host, g.port);
        vx_test_unreachable(why);
        return VX_TEST_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ratelimit_two_loops_share_the_redis_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ratelimit_script_matches_pure_gcra, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ratelimit_burst_in_one_turn_is_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ratelimit_keys_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ratelimit_unreachable_redis_decides_locally, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ratelimit_falls_back_and_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ratelimit_destroy_cancels_waiting_checks, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL) == 0 ? 0 : 1;
}
