/* Router tests against fake providers on loopback (tests/support/fake_llm): failover order,
 * Retry-After, timeouts, invalid answers retried once, breakers opening and recovering, the
 * budget hooks called exactly right, clear errors, keys never logged, connection reuse,
 * metrics, and concurrent requests. No real network; time for Retry-After and the breakers
 * comes from a test clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "fake_llm.h"
#include "llm_fixture.h"

#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/llm_router.h"
#include "vx/log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- test clock: real time plus an offset the tests move forward ---- */

static _Atomic int64_t clock_offset_ms;

static int64_t test_mono(void *ctx)
{
    (void)ctx;
    return vx_mono_ms() + atomic_load(&clock_offset_ms);
}

static int64_t test_wall(void *ctx)
{
    (void)ctx;
    return vx_wall_ms() + atomic_load(&clock_offset_ms);
}

static void advance_ms(int64_t ms)
{
    atomic_fetch_add(&clock_offset_ms, ms);
}

static const vx_llm_clock test_clock = {.mono_ms = test_mono, .wall_ms = test_wall};

/* ---- a budget that records every hook call ---- */

typedef struct {
    char provider[16];
    uint64_t reserved;
    bool done;
} ticket;

typedef struct {
    pthread_mutex_t mu;
    vx_status answer;          /* what reserve returns ... */
    const char *only_provider; /* ... for this provider only (NULL: all) */
    int reserves, settles, releases, refusals;
    int outstanding;     /* reserved and not yet settled or released */
    char events[64][96]; /* "reserve groq", "settle groq 1200/300 945 ok", ... */
    size_t n_events;
    vx_llm_estimate last_est;
    vx_llm_usage last_usage;
} book;

static void book_init(book *b)
{
    memset(b, 0, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
    b->answer = VX_OK;
}

/* Back to no events, answering VX_OK to everyone. */
static void book_reset(book *b)
{
    pthread_mutex_lock(&b->mu);
    assert_int_equal(b->outstanding, 0);
    b->answer = VX_OK;
    b->only_provider = NULL;
    b->reserves = b->settles = b->releases = b->refusals = 0;
    b->n_events = 0;
    pthread_mutex_unlock(&b->mu);
}

static void book_event(book *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void book_event(book *b, const char *fmt, ...)
{
    if (b->n_events >= 64)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->events[b->n_events++], sizeof b->events[0], fmt, ap);
    va_end(ap);
}

static vx_status book_reserve(void *ctx, const vx_llm_estimate *est, void **out)
{
    book *b = ctx;
    pthread_mutex_lock(&b->mu);
    b->last_est = *est;
    vx_status st = VX_OK;
    if (b->answer != VX_OK && (!b->only_provider || strcmp(b->only_provider, est->provider) == 0))
        st = b->answer;
    if (st != VX_OK) {
        b->refusals++;
        book_event(b, "refuse %s", est->provider);
    } else {
        b->reserves++;
        b->outstanding++;
        book_event(b, "reserve %s", est->provider);
        ticket *t = vx_xcalloc(1, sizeof *t);
        snprintf(t->provider, sizeof t->provider, "%s", est->provider);
        t->reserved = est->cost_micro_usd;
        *out = t;
    }
    pthread_mutex_unlock(&b->mu);
    return st;
}

/* Every ticket comes back exactly once, for the provider it was reserved for. */
static void take_ticket(book *b, void *tp, const vx_llm_estimate *est)
{
    ticket *t = tp;
    assert_non_null(t);
    assert_false(t->done);
    assert_string_equal(t->provider, est->provider);
    assert_int_equal(t->reserved, est->cost_micro_usd);
    t->done = true;
    vx_free(t);
    b->outstanding--;
}

static void book_settle(void *ctx, void *tp, const vx_llm_estimate *est, const vx_llm_usage *u)
{
    book *b = ctx;
    pthread_mutex_lock(&b->mu);
    take_ticket(b, tp, est);
    b->settles++;
    b->last_usage = *u;
    book_event(b, "settle %s %llu/%llu %llu %s", est->provider, (unsigned long long)u->input_tokens,
               (unsigned long long)u->output_tokens, (unsigned long long)u->cost_micro_usd,
               vx_llm_outcome_str(u->outcome));
    pthread_mutex_unlock(&b->mu);
}

static void book_release(void *ctx, void *tp, const vx_llm_estimate *est, vx_llm_outcome why)
{
    book *b = ctx;
    pthread_mutex_lock(&b->mu);
    take_ticket(b, tp, est);
    b->releases++;
    book_event(b, "release %s %s", est->provider, vx_llm_outcome_str(why));
    pthread_mutex_unlock(&b->mu);
}

static vx_llm_budget budget_of(book *b)
{
    return (vx_llm_budget){
        .reserve = book_reserve, .settle = book_settle, .release = book_release, .ctx = b};
}

static void assert_events(const book *b, const char *const *want, size_t n)
{
    for (size_t i = 0; i < n && i < b->n_events; i++)
        if (strcmp(b->events[i], want[i]) != 0)
            fail_msg("budget event %zu is \"%s\", expected \"%s\"", i, b->events[i], want[i]);
    if (b->n_events != n)
        fail_msg("%zu budget events, expected %zu (last \"%s\")", b->n_events, n,
                 b->n_events ? b->events[b->n_events - 1] : "");
    assert_int_equal(b->outstanding, 0);
}

/* ---- fixture: up to three fake providers and a router over them ---- */

#define KEY_GROQ "gsk_TESTKEYgroq0123456789abcdef"
#define KEY_OPENAI "sk-proj-TESTKEYopenai0123456789"
/* No well-known prefix: only the router's list of its keys can redact this one. */
#define KEY_ANTHROPIC "ant0TESTKEYanthropic012345678"

typedef struct {
    fake_llm *groq, *openai, *anthropic;
    vx_llm_config cfg;
    vx_llm_router *router;
    vx_metrics *metrics;
    FILE *log;
    book budget_book;
    vx_llm_budget budget;
    llm_fixture data;
} env;

static void set_provider(vx_llm_provider *p, fake_llm *f, const char *key)
{
    snprintf(p->base_url, sizeof p->base_url, "http://127.0.0.1:%d/v1", fake_llm_port(f));
    snprintf(p->key, sizeof p->key, "%s", key);
    assert_true(vx_llm_price_lookup(p->name, p->model, &p->price_in, &p->price_out));
}

/* A router over "spec" (names among groq, openai, anthropic, local) after `tune` adjusts the
 * config. */
static void env_router(env *e, const char *spec, void (*tune)(vx_llm_config *))
{
    vx_llm_config_defaults(&e->cfg);
    char err[256] = "";
    assert_int_equal(vx_llm_providers_parse(spec, &e->cfg, err, sizeof err), VX_OK);
    for (size_t i = 0; i < e->cfg.n_providers; i++) {
        vx_llm_provider *p = &e->cfg.providers[i];
        if (strcmp(p->name, "groq") == 0)
            set_provider(p, e->groq, KEY_GROQ);
        else if (strcmp(p->name, "openai") == 0)
            set_provider(p, e->openai, KEY_OPENAI);
        else if (strcmp(p->name, "anthropic") == 0)
            set_provider(p, e->anthropic, KEY_ANTHROPIC);
    }
    e->cfg.timeout_ms = 2000;
    e->cfg.connect_timeout_ms = 1000;
    e->cfg.breaker = (vx_breaker_config){
        .window = 4, .min_calls = 2, .failure_ratio = 0.5, .open_ms = 10000, .half_open_probes = 1};
    if (tune)
        tune(&e->cfg);
    vx_llm_router_destroy(e->router);
    e->router = NULL;
    if (vx_llm_router_create(&e->cfg, e->metrics, "valdrix_llm", &test_clock, &e->router, err,
                             sizeof err) != VX_OK)
        fail_msg("router: %s", err);
}

static int env_setup(void **state)
{
    env *e = vx_xcalloc(1, sizeof *e);
    e->groq = fake_llm_start(0);
    e->openai = fake_llm_start(0);
    e->anthropic = fake_llm_start(0);
    assert_non_null(e->groq);
    assert_non_null(e->openai);
    assert_non_null(e->anthropic);
    e->metrics = vx_metrics_create();
    e->log = tmpfile();
    assert_non_null(e->log);
    vx_log_init("test-llm", VX_LOG_DEBUG);
    vx_log_set_fd(fileno(e->log));
    book_init(&e->budget_book);
    e->budget = budget_of(&e->budget_book);
    fx_init(&e->data, VX_LLM_KIND_SUMMARY);
    atomic_store(&clock_offset_ms, 0);
    *state = e;
    return 0;
}

static int env_teardown(void **state)
{
    env *e = *state;
    vx_llm_router_destroy(e->router);
    fake_llm_stop(e->groq);
    fake_llm_stop(e->openai);
    fake_llm_stop(e->anthropic);
    vx_metrics_destroy(e->metrics);
    vx_log_set_fd(2);
    fclose(e->log);
    pthread_mutex_destroy(&e->budget_book.mu);
    vx_free(e);
    return 0;
}

static vx_status run(env *e, vx_llm_result *out, char *err, size_t cap)
{
    vx_llm_request req = {.context = &e->data.ctx,
                          .budget = &e->budget,
                          .tenant_id = "0b6c4e52-3d43-4b6e-9a39-6f1f0a7f6a01",
                          .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"};
    return vx_llm_router_run(e->router, &req, out, err, cap);
}

/* Runs a request that must be answered by `provider`. */
static void run_ok(env *e, const char *provider, vx_llm_result *out)
{
    char err[1024] = "";
    vx_status st = run(e, out, err, sizeof err);
    if (st != VX_OK)
        fail_msg("%s: %s", vx_status_name(st), err);
    assert_string_equal(out->provider, provider);
}

static char *read_log(env *e)
{
    fflush(e->log);
    long size = ftell(e->log);
    char *text = vx_xmalloc((size_t)size + 1);
    rewind(e->log);
    size_t n = fread(text, 1, (size_t)size, e->log);
    text[n] = '\0';
    fseek(e->log, 0, SEEK_END);
    return text;
}

static double metric(env *e, const char *series)
{
    char *text = vx_metrics_render(e->metrics, NULL);
    const char *at = strstr(text, series);
    double v = -1;
    if (at && at[strlen(series)] == ' ')
        v = strtod(at + strlen(series) + 1, NULL);
    vx_free(text);
    return v;
}

/* ---- tests ---- */

static void test_llm_router_failover_in_order(void **state)
{
    env *e = *state;
    env_router(e, "groq,openai,anthropic", NULL);
    fake_llm_set_mode(e->groq, FAKE_LLM_ERROR_500);
    fake_llm_set_mode(e->openai, FAKE_LLM_ERROR_500);
    vx_llm_result res;
    run_ok(e, "anthropic", &res);
    assert_string_equal(res.model, "claude-3-5-haiku-latest");
    assert_int_equal(fake_llm_requests(e->groq), 1);
    assert_int_equal(fake_llm_requests(e->openai), 1);
    assert_int_equal(fake_llm_requests(e->anthropic), 1);
    assert_int_equal(res.calls, 3);
    /* The fake's default answer came through validation intact. */
    assert_string_equal(res.insight.summary,
                        "Spend rose 20% on the previous period, driven by compute.");
    assert_int_equal(res.insight.n_recommendations, 1);
    assert_true(res.insight.recommendations[0].estimated_monthly_savings == 120.5);
    /* Only the call that answered is billed: 1200 in, 300 out at 0.80 / 4.00 USD per 1M. */
    assert_int_equal(res.input_tokens, 1200);
    assert_int_equal(res.output_tokens, 300);
    assert_int_equal(res.cost_micro_usd, 960 + 1200);
    const char *want[] = {"reserve groq",      "release groq server_error",
                          "reserve openai",    "release openai server_error",
                          "reserve anthropic", "settle anthropic 1200/300 2160 ok"};
    assert_events(&e->budget_book, want, 6);

    /* Each shape on the wire: Anthropic's headers, the system prompt apart, the data fenced. */
    char *headers = fake_llm_last_headers(e->anthropic);
    char *body = fake_llm_last_body(e->anthropic);
    assert_non_null(strstr(headers, "POST /v1/messages HTTP/1.1"));
    assert_non_null(strstr(headers, "x-api-key: " KEY_ANTHROPIC));
    assert_non_null(strstr(headers, "anthropic-version: 2023-06-01"));
    assert_non_null(strstr(body, "\"system\":\"You are the cost analyst of Valdrix"));
    assert_non_null(strstr(body, "<cost_data>\\n{\\\"kind\\\":\\\"summary\\\""));
    assert_null(strstr(body, KEY_ANTHROPIC));
    vx_free(headers);
    vx_free(body);
    headers = fake_llm_last_headers(e->groq);
    assert_non_null(strstr(headers, "POST /v1/chat/completions HTTP/1.1"));
    assert_non_null(strstr(headers, "Authorization: Bearer " KEY_GROQ));
    vx_free(headers);
    vx_llm_result_cleanup(&res);
}

static void test_llm_router_retry_after_skips_until_it_passes(void **state)
{
    env *e = *state;
    env_router(e, "groq,openai", NULL);
    fake_llm_set_mode(e->groq, FAKE_LLM_RATE_LIMIT);
    fake_llm_set_retry_after(e->groq, "30");
    vx_llm_result res;
    run_ok(e, "openai", &res);
    vx_llm_result_cleanup(&res);
    assert_int_equal(fake_llm_requests(e->groq), 1);
    /* Inside the 30 s, groq is not called at all. */
    fake_llm_set_mode(e->groq, FAKE_LLM_GOOD);
    advance_ms(29000);
    run_ok(e, "openai", &res);
    vx_llm_result_cleanup(&res);
    assert_int_equal(fake_llm_requests(e->groq), 1);
    assert_int_equal(metric(e, "valdrix_llm_provider_calls_total{provider=\"groq\","
                               "outcome=\"retry_after\"}"),
                     1);
    /* Once it has passed, groq is first again. */
    advance_ms(1500);
    run_ok(e, "groq", &res);
    vx_llm_result_cleanup(&res);
    assert_int_equal(fake_llm_requests(e->groq), 2);

    /* Retry-After as an HTTP date, 20 s ahead of the (test) wall clock. */
    env_router(e, "groq,openai", NULL);
    time_t when = (time_t)(test_wall(NULL) / 1000 + 20);
    struct tm tm;
    gmtime_r(&when, &tm);
    char date[64];
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    fake_llm_set_retry_after(e->groq, date);
    fake_llm_push_mode(e->groq, FAKE_LLM_RATE_LIMIT);
    run_ok(e, "openai", &res);
    vx_llm_result_cleanup(&res);
    assert_int_equal(fake_llm_requests(e->groq), 3);
    advance_ms(15000);
    run_ok(e, "openai", &res);
    vx_llm_result_cleanup(&res);
    assert_int_equal(fake_llm_requests(e->groq), 3);
    advance_ms(7000);
    run_ok(e, "groq", &res);
    vx_llm_result_cleanup(&res);
    assert_int_equal(fake_llm_requests(e->groq), 4);
}

static void short_timeout(vx_llm_config *c)
{
    c->timeout_ms = 300;
}

/* The settle event of a call to `provider` sent but unanswered: the estimate (the prompt's
 * tokens and the output limit, at the provider's price) with `outcome`. */
static void unknown_settle(env *e, const char *provider, const char *outcome, char *out, size_t cap)
{
    const vx_llm_provider *p = NULL;
    for (size_t i = 0; i < e->cfg.n_providers; i++)
        if (strcmp(e->cfg.providers[i].name, provider) == 0)
            p = &e->cfg.providers[i];
    assert_non_null(p);
    uint64_t in = e->budget_book.last_est.est_input_tokens;
    uint64_t max_out = e->cfg.max_output_tokens;
    assert_true(in > 0);
    snprintf(out, cap, "settle %s %llu/%llu %llu %s", provider, (unsigned long long)in,
             (unsigned long long)max_out,
             (unsigned long long)vx_llm_cost_micro_usd(p->price_in, p->price_out, in, max_out),
             outcome);
}

/* groq's URL pointing at refused_port, where nothing listens. */
static int refused_port;

static void groq_refused(vx_llm_config *c)
{
    snprintf(c->providers[0].base_url, sizeof c->providers[0].base_url, "http://127.0.0.1:%d/v1",
             refused_port);
}

/* A provider that read the request and closed the connection may bill it: settled at the
 * estimate and flagged unknown. One that refused the connection cannot have: released. */
static void test_llm_router_sent_but_unanswered_settles_the_estimate(void **state)
{
    env *e = *state;
    env_router(e, "groq,openai", NULL);
    fake_llm_set_mode(e->groq, FAKE_LLM_CLOSE);
    vx_llm_result res;
    run_ok(e, "openai", &res);
    assert_true(fake_llm_requests(e->groq) >= 1);
    char want_groq[96];
    unknown_settle(e, "groq", "connect_error", want_groq, sizeof want_groq);
    /* what was settled is summed into the result, as for any billed call */
    uint64_t groq_cost = e->budget_book.last_usage.cost_micro_usd; /* openai's, settled last */
    assert_true(res.cost_micro_usd > groq_cost);
    vx_llm_result_cleanup(&res);
    assert_true(e->budget_book.n_events >= 4);
    assert_string_equal(e->budget_book.events[1], want_groq);
    assert_false(e->budget_book.last_usage.unknown); /* openai answered */

    /* Nobody listening: connection refused before a byte was written. */
    book_reset(&e->budget_book);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* bound but not listening: connects to it are refused, and no one else can take the port */
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t alen = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    refused_port = ntohs(a.sin_port);
    env_router(e, "groq,openai", groq_refused);
    run_ok(e, "openai", &res);
    vx_llm_result_cleanup(&res);
    const char *want[] = {"reserve groq", "release groq connect_error", "reserve openai",
                          "settle openai 1200/300 360 ok"};
    assert_events(&e->budget_book, want, 4);
    close(fd);
}

static void test_llm_router_hang_times_out_then_next(void **state)
{
    env *e = *state;
    env_router(e, "groq,openai", short_timeout);
    fake_llm_set_mode(e->groq, FAKE_LLM_HANG);
    vx_llm_result res;
    int64_t t0 = vx_mono_ms();
    run_ok(e, "openai", &res);
    int64_t took = vx_mono_ms() - t0;
    vx_llm_result_cleanup(&res);
    /* It waited for the timeout (give or take the clocks' rounding), and no longer. */
    if (took < 280 || took > 3000)
        fail_msg("the hanging provider took %lld ms, expected about 300", (long long)took);
    assert_int_equal(fake_llm_requests(e->groq), 1);
    /* groq received the request and may bill it: settled at what was reserved, never 0 */
    char groq_max[96];
    unknown_settle(e, "groq", "timeout", groq_max, sizeof groq_max);
    const char *want[] = {"reserve groq", groq_max, "reserve openai",
                          "settle openai 1200/300 360 ok"};
    assert_events(&e->budget_book, want, 4);

    /* The request's deadline cuts the call short; past it, only local answers. */
    env_router(e, "groq,openai,local", NULL);
    vx_llm_request req = {
        .context = &e->data.ctx, .budget = &e->budget, .deadline_ms = test_mono(NULL) + 200};
    char err[512] = "";
    t0 = vx_mono_ms();
    assert_int_equal(vx_llm_router_run(e->router, &req, &res, err, sizeof err), VX_OK);
    took = vx_mono_ms() - t0;
    assert_string_equal(res.provider, "local");
    if (took < 180 || took > 3000)
        fail_msg("the deadline let the call run %lld ms, expected about 200", (long long)took);
    assert_int_equal(fake_llm_requests(e->openai), 1); /* only the first test's call */
    vx_llm_result_cleanup(&res);
    env_router(e, "groq,openai", NULL);
    req.deadline_ms = test_mono(NULL) + 200;
    assert_int_equal(vx_llm_router_run(e->router, &req, &res, err, sizeof err), VX_TIMEOUT);
    assert_non_null(strstr(err, "groq: timed out after"));
    assert_non_null(strstr(err, "openai: deadline passed"));
}

static void test_llm_router_invalid_answer_retried_once(void **state)
{
    env *e = *state;
    env_router(e, "groq,openai", NULL);
    fake_llm_set_mode(e->groq, FAKE_LLM_BROKEN);
    vx_llm_result res;
    run_ok(e, "openai", &res);
    assert_int_equal(fake_llm_requests(e->groq), 2);
    assert_int_equal(fake_llm_requests(e->openai), 1);
    /* A broken answer is billed all the same: all three calls are settled and summed. */
    const char *want[] = {"reserve groq",   "settle groq 1200/300 945 invalid_answer",
                          "reserve groq",   "settle groq 1200/300 945 invalid_answer",
                          "reserve openai", "settle openai 1200/300 360 ok"};
    assert_events(&e->budget_book, want, 6);
    assert_int_equal(res.calls, 3);
    assert_int_equal(res.input_tokens, 3600);
    assert_int_equal(res.output_tokens, 900);
    assert_int_equal(res.cost_micro_usd, 945 + 945 + 360);
    vx_llm_result_cleanup(&res);

    /* Valid JSON that breaks the schema is just as invalid. */
    fake_llm_set_mode(e->groq, FAKE_LLM_GOOD);
    fake_llm_set_content(e->groq, "{\"summary\":\"x\",\"findings\":[],\"recommendations\":["
                                  "{\"action\":\"a\",\"target\":\"t\",\"estimated_monthly_"
                                  "savings\":-5,\"priority\":\"low\",\"confidence\":0.5}]}");
    env_router(e, "groq,openai", NULL);
    uint64_t before = fake_llm_requests(e->groq);
    run_ok(e, "openai", &res);
    vx_llm_result_cleanup(&res);
    assert_int_equal(fake_llm_requests(e->groq) - before, 2);
    char *log = read_log(e);
    assert_non_null(strstr(log, "recommendations[0].estimated_monthly_savings: must be between 0"));
    vx_free(log);

    /* A bad first answer and a good second one: the second is kept. */
    fake_llm_set_content(e->groq, NULL);
    fake_llm_push_mode(e->groq, FAKE_LLM_BROKEN);
    env_router(e, "groq,openai", NULL);
    before = fake_llm_requests(e->groq);
    run_ok(e, "groq", &res);
    assert_int_equal(fake_llm_requests(e->groq) - before, 2);
    assert_int_equal(res.calls, 2);
    vx_llm_result_cleanup(&res);
}

static void test_llm_router_breaker_opens_and_recovers(void **state)
{
    env *e = *state;
    env_router(e, "groq,openai", NULL);
    fake_llm_set_mode(e->groq, FAKE_LLM_ERROR_500);
    vx_llm_result res;
    run_ok(e, "openai", &res);
    vx_llm_result_cleanup(&res);
    assert_int_equal(vx_llm_router_breaker_state(e->router, "groq"), VX_BREAKER_CLOSED);
    run_ok(e, "openai", &res); /* 2 of 2 failed: it opens */
    vx_llm_result_cleanup(&res);
    assert_int_equal(vx_llm_router_breaker_state(e->router, "groq"), VX_BREAKER_OPEN);
    assert_true(metric(e, "valdrix_llm_provider_breaker_state{provider=\"groq\"}") == 1.0);
    /* While open, groq is not called (even though it has recovered meanwhile), nor is budget
     * reserved for it. */
    fake_llm_set_mode(e->groq, FAKE_LLM_GOOD);
    book_reset(&e->budget_book);
    run_ok(e, "openai", &res);
    vx_llm_result_cleanup(&res);
    assert_int_equal(fake_llm_requests(e->groq), 2);
    const char *want[] = {"reserve openai", "settle openai 1200/300 360 ok"};
    assert_events(&e->budget_book, want, 2);
    assert_int_equal(metric(e, "valdrix_llm_provider_calls_total{provider=\"groq\","
                               "outcome=\"breaker_open\"}"),
                     1);
    /* After the open period a failing probe opens it again ... */
    advance_ms(10000);
    assert_int_equal(vx_llm_router_breaker_state(e->router, "groq"), VX_BREAKER_HALF_OPEN);
    fake_llm_push_mode(e->groq, FAKE_LLM_ERROR_500);
    run_ok(e, "openai", &res);
    vx_llm_result_cleanup(&res);
    assert_int_equal(fake_llm_requests(e->groq), 3);
    assert_int_equal(vx_llm_router_breaker_state(e->router, "groq"), VX_BREAKER_OPEN);
    /* ... and a good one closes it. */
    advance_ms(10000);
    run_ok(e, "groq", &res);
    vx_llm_result_cleanup(&res);
    assert_int_equal(fake_llm_requests(e->groq), 4);
    assert_int_equal(vx_llm_router_breaker_state(e->router, "groq"), VX_BREAKER_CLOSED);
    assert_true(metric(e, "valdrix_llm_provider_breaker_state{provider=\"groq\"}") == 0.0);
    run_ok(e, "groq", &res);
    vx_llm_result_cleanup(&res);
    assert_int_equal(e->budget_book.outstanding, 0);
}

static void test_llm_router_budget_hooks(void **state)
{
    env *e = *state;
    env_router(e, "groq,openai,local", NULL);
    fake_llm_set_usage(e->groq, 777, 55);
    vx_llm_result res;
    run_ok(e, "groq", &res);
    /* The estimate: the prompt's tokens and the output cap, priced at groq's rates. */
    const vx_llm_estimate *est = &e->budget_book.last_est;
    assert_string_equal(est->provider, "groq");
    assert_string_equal(est->model, "llama-3.3-70b-versatile");
    assert_int_equal(est->max_output_tokens, 1024);
    vx_llm_prompt p;
    assert_int_equal(vx_llm_prompt_build(&e->data.ctx, &p, NULL, 0), VX_OK);
    assert_int_equal(est->est_input_tokens, p.est_input_tokens);
    vx_llm_prompt_cleanup(&p);
    assert_int_equal(est->cost_micro_usd,
                     vx_llm_cost_micro_usd(590000, 790000, est->est_input_tokens, 1024));
    /* Settled with the usage the response reported. */
    const vx_llm_usage *u = &e->budget_book.last_usage;
    assert_true(u->reported);
    assert_int_equal(u->input_tokens, 777);
    assert_int_equal(u->output_tokens, 55);
    assert_int_equal(u->cost_micro_usd, vx_llm_cost_micro_usd(590000, 790000, 777, 55));
    assert_int_equal(u->outcome, VX_LLM_OUTCOME_OK);
    assert_int_equal(res.cost_micro_usd, u->cost_micro_usd);
    vx_llm_result_cleanup(&res);

    /* Groq's reservation refused: groq is never called, openai answers. */
    book_reset(&e->budget_book);
    e->budget_book.answer = VX_LIMIT;
    e->budget_book.only_provider = "groq";
    run_ok(e, "openai", &res);
    vx_llm_result_cleanup(&res);
    assert_int_equal(fake_llm_requests(e->groq), 1);
    const char *want[] = {"refuse groq", "reserve openai", "settle openai 1200/300 360 ok"};
    assert_events(&e->budget_book, want, 3);

    /* Every paid provider refused: local still answers, at no cost and with no reservation. */
    book_reset(&e->budget_book);
    e->budget_book.answer = VX_LIMIT;
    run_ok(e, "local", &res);
    assert_int_equal(res.cost_micro_usd, 0);
    assert_int_equal(res.calls, 0);
    vx_llm_result_cleanup(&res);
    assert_int_equal(e->budget_book.reserves, 0);
    assert_int_equal(e->budget_book.refusals, 2);
    /* Without local that is the budget error. */
    env_router(e, "groq,openai", NULL);
    char err[512] = "";
    assert_int_equal(run(e, &res, err, sizeof err), VX_LIMIT);
    assert_string_equal(err, "no provider answered: groq: budget denied; openai: budget denied");
    assert_int_equal(fake_llm_requests(e->groq) + fake_llm_requests(e->openai), 2);
    /* The budget store down: fail closed (no call), and not reported as over budget. */
    book_reset(&e->budget_book);
    e->budget_book.answer = VX_UNAVAILABLE;
    assert_int_equal(run(e, &res, err, sizeof err), VX_UNAVAILABLE);
    assert_non_null(strstr(err, "groq: budget could not be checked (unavailable)"));
    /* No budget at all: no paid call. */
    vx_llm_request req = {.context = &e->data.ctx};
    assert_int_equal(vx_llm_router_run(e->router, &req, &res, err, sizeof err), VX_UNAVAILABLE);
    assert_non_null(strstr(err, "no budget given"));
    assert_int_equal(fake_llm_requests(e->groq) + fake_llm_requests(e->openai), 2);
    /* Hooks half set are a programming error. */
    vx_llm_budget half = {.reserve = book_reserve, .ctx = &e->budget_book};
    req.budget = &half;
    assert_int_equal(vx_llm_router_run(e->router, &req, &res, err, sizeof err), VX_INVALID);
}

static void test_llm_router_all_failing_is_a_clear_error(void **state)
{
    env *e = *state;
    env_router(e, "groq,openai,anthropic", short_timeout);
    fake_llm_set_mode(e->groq, FAKE_LLM_ERROR_500);
    fake_llm_set_mode(e->openai, FAKE_LLM_RATE_LIMIT);
    fake_llm_set_retry_after(e->openai, "5");
    fake_llm_set_mode(e->anthropic, FAKE_LLM_HANG);
    vx_llm_result res;
    memset(&res, 0x5a, sizeof res);
    char err[1024] = "";
    assert_int_equal(run(e, &res, err, sizeof err), VX_UNAVAILABLE);
    assert_string_equal(err, "no provider answered: groq: server error (HTTP 500: server_error: "
                             "The server had an error); openai: rate limited (HTTP 429), not "
                             "called again for 5000 ms; anthropic: timed out after 300 ms");
    assert_int_equal(((unsigned char *)&res)[0], 0x5a); /* untouched */
    assert_int_equal(run(e, &res, err, sizeof err), VX_UNAVAILABLE);
    assert_non_null(strstr(err, "openai: skipped for "));
    assert_non_null(strstr(err, "ms more (Retry-After)"));
    assert_int_equal(e->budget_book.outstanding, 0);
    /* anthropic's hang was sent and unanswered both times: settled at the estimate */
    assert_int_equal(e->budget_book.settles, 2);
    assert_int_equal(e->budget_book.releases, 3);
    assert_true(e->budget_book.last_usage.unknown);
    assert_int_equal(e->budget_book.last_usage.outcome, VX_LLM_OUTCOME_TIMEOUT);
}

static void test_llm_router_client_errors_not_retried(void **state)
{
    env *e = *state;
    /* A wrong key: 401, one call, the next provider answers. */
    fake_llm_set_expected_key(e->groq, "gsk_the-right-key-0000000000");
    env_router(e, "groq,openai", NULL);
    vx_llm_result res;
    run_ok(e, "openai", &res);
    vx_llm_result_cleanup(&res);
    assert_int_equal(fake_llm_requests(e->groq), 1);
    const char *want[] = {"reserve groq", "release groq auth_error", "reserve openai",
                          "settle openai 1200/300 360 ok"};
    assert_events(&e->budget_book, want, 4);
    /* Another 4xx: one call each time, and the breaker stays closed (the provider is up). */
    fake_llm_set_expected_key(e->groq, NULL);
    fake_llm_set_mode(e->groq, FAKE_LLM_BAD_REQUEST);
    env_router(e, "groq,openai", NULL);
    for (int i = 0; i < 4; i++) {
        run_ok(e, "openai", &res);
        vx_llm_result_cleanup(&res);
    }
    assert_int_equal(fake_llm_requests(e->groq), 5);
    assert_int_equal(vx_llm_router_breaker_state(e->router, "groq"), VX_BREAKER_CLOSED);
    assert_int_equal(metric(e, "valdrix_llm_provider_calls_total{provider=\"groq\","
                               "outcome=\"client_error\"}"),
                     4);
}

static void debug_http(vx_llm_config *c)
{
    c->http_debug = true;
    c->timeout_ms = 300;
}

static void test_llm_router_no_key_in_any_log_line(void **state)
{
    env *e = *state;
    /* Every provider refuses the key and echoes it back in its error message. */
    fake_llm_set_expected_key(e->groq, "gsk_other");
    fake_llm_set_expected_key(e->openai, "sk-other");
    fake_llm_set_expected_key(e->anthropic, "sk-ant-other");
    env_router(e, "groq,openai,anthropic,local", debug_http);
    vx_llm_result res;
    char err[2048] = "";
    run_ok(e, "local", &res);
    vx_llm_result_cleanup(&res);
    /* And the other failures, with the header trace on. */
    fake_llm_set_expected_key(e->groq, NULL);
    fake_llm_set_expected_key(e->openai, NULL);
    fake_llm_set_expected_key(e->anthropic, NULL);
    fake_llm_set_mode(e->groq, FAKE_LLM_RATE_LIMIT);
    fake_llm_set_mode(e->openai, FAKE_LLM_HANG);
    fake_llm_set_mode(e->anthropic, FAKE_LLM_BROKEN);
    env_router(e, "groq,openai,anthropic", debug_http);
    assert_int_equal(run(e, &res, err, sizeof err), VX_UNAVAILABLE);
    fake_llm_set_mode(e->groq, FAKE_LLM_GOOD);
    advance_ms(3600 * 1000);
    run_ok(e, "groq", &res);
    vx_llm_result_cleanup(&res);

    char *log = read_log(e);
    const char *keys[] = {KEY_GROQ, KEY_OPENAI, KEY_ANTHROPIC, "TESTKEY"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strstr(log, keys[i]))
            fail_msg("a key (%s) is in the log", keys[i]);
        assert_null(strstr(err, keys[i]));
    }
    /* The trace did run, with the secret headers blanked; failures were logged. */
    assert_non_null(strstr(log, "\"line\":\"Authorization: ***\""));
    assert_non_null(strstr(log, "\"line\":\"x-api-key: ***\""));
    assert_non_null(strstr(log, "\"outcome\":\"auth_error\""));
    assert_non_null(strstr(log, "Incorrect API key provided: ***"));
    assert_non_null(strstr(log, "\"tenant_id\":\"0b6c4e52-3d43-4b6e-9a39-6f1f0a7f6a01\""));
    /* Neither the prompt nor the answer is logged. */
    assert_null(strstr(log, "cost_data"));
    assert_null(strstr(log, "driven by compute"));
    vx_free(log);
    /* And no key travels in a request body. */
    char *body = fake_llm_last_body(e->groq);
    assert_null(strstr(body, "TESTKEY"));
    vx_free(body);
}

static void test_llm_router_reuses_connections(void **state)
{
    env *e = *state;
    env_router(e, "groq", NULL);
    vx_llm_result res;
    for (int i = 0; i < 5; i++) {
        run_ok(e, "groq", &res);
        vx_llm_result_cleanup(&res);
    }
    assert_int_equal(fake_llm_requests(e->groq), 5);
    assert_int_equal(fake_llm_connections(e->groq), 1);
}

static void test_llm_router_metrics(void **state)
{
    env *e = *state;
    env_router(e, "groq,openai,local", NULL);
    fake_llm_set_mode(e->groq, FAKE_LLM_ERROR_500);
    vx_llm_result res;
    run_ok(e, "openai", &res);
    vx_llm_result_cleanup(&res);
    fake_llm_set_mode(e->openai, FAKE_LLM_ERROR_500);
    run_ok(e, "local", &res); /* groq's breaker opens on this second failure */
    vx_llm_result_cleanup(&res);
    assert_true(metric(e, "valdrix_llm_provider_calls_total{provider=\"groq\","
                          "outcome=\"server_error\"}") == 2);
    assert_true(metric(e, "valdrix_llm_provider_calls_total{provider=\"openai\","
                          "outcome=\"ok\"}") == 1);
    assert_true(metric(e, "valdrix_llm_provider_calls_total{provider=\"openai\","
                          "outcome=\"server_error\"}") == 1);
    assert_true(metric(e, "valdrix_llm_provider_calls_total{provider=\"local\","
                          "outcome=\"ok\"}") == 1);
    assert_true(metric(e, "valdrix_llm_input_tokens_total{provider=\"openai\"}") == 1200);
    assert_true(metric(e, "valdrix_llm_output_tokens_total{provider=\"openai\"}") == 300);
    assert_true(metric(e, "valdrix_llm_spend_micro_usd_total{provider=\"openai\"}") == 360);
    assert_true(metric(e, "valdrix_llm_spend_micro_usd_total{provider=\"groq\"}") == 0);
    assert_true(metric(e, "valdrix_llm_provider_breaker_state{provider=\"groq\"}") == 1);
    assert_true(
        metric(e, "valdrix_llm_provider_call_duration_seconds_count{provider=\"openai\"}") == 2);
}

typedef struct {
    env *e;
    int ok;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 10; i++) {
        vx_llm_result res = {0};
        char err[512];
        if (run(w->e, &res, err, sizeof err) == VX_OK && strcmp(res.provider, "groq") == 0)
            w->ok++;
        vx_llm_result_cleanup(&res);
    }
    return NULL;
}

static void test_llm_router_concurrent_requests(void **state)
{
    env *e = *state;
    env_router(e, "groq,local", NULL);
    fake_llm_set_latency_ms(e->groq, 5);
    pthread_t threads[8];
    worker workers[8];
    for (int i = 0; i < 8; i++) {
        workers[i] = (worker){.e = e};
        assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        ok += workers[i].ok;
    }
    assert_int_equal(ok, 80);
    assert_int_equal(fake_llm_requests(e->groq), 80);
    assert_int_equal(e->budget_book.reserves, 80);
    assert_int_equal(e->budget_book.settles, 80);
    assert_int_equal(e->budget_book.outstanding, 0);
    assert_true(fake_llm_connections(e->groq) <= 8);
    assert_true(metric(e, "valdrix_llm_spend_micro_usd_total{provider=\"groq\"}") == 80 * 945);
}

static void test_llm_router_local_only_and_bad_requests(void **state)
{
    env *e = *state;
    env_router(e, "local", NULL);
    vx_llm_result res;
    run_ok(e, "local", &res);
    assert_string_equal(res.model, "");
    assert_int_equal(res.calls, 0);
    assert_int_equal(res.cost_micro_usd, 0);
    assert_int_equal(e->budget_book.n_events, 0);
    /* What the router answers is what the local writer writes. */
    vx_llm_insight direct;
    assert_int_equal(vx_llm_local_write(&e->data.ctx, &direct, NULL, 0), VX_OK);
    assert_string_equal(res.insight.summary, direct.summary);
    vx_llm_insight_cleanup(&direct);
    vx_llm_result_cleanup(&res);
    const char *names[4];
    assert_int_equal(vx_llm_router_providers(e->router, names, 4), 1);
    assert_string_equal(names[0], "local");
    /* A bad context is refused before anything is called. */
    e->data.ctx.currency = "dollars";
    char err[256] = "";
    assert_int_equal(run(e, &res, err, sizeof err), VX_INVALID);
    assert_non_null(strstr(err, "currency"));
    /* A router needs providers, and paid ones need keys. */
    vx_llm_config cfg;
    vx_llm_config_defaults(&cfg);
    vx_llm_router *r = NULL;
    assert_int_equal(vx_llm_router_create(&cfg, NULL, NULL, NULL, &r, err, sizeof err), VX_INVALID);
    assert_int_equal(vx_llm_providers_parse("groq", &cfg, NULL, 0), VX_OK);
    assert_int_equal(vx_llm_router_create(&cfg, NULL, NULL, NULL, &r, err, sizeof err), VX_INVALID);
    assert_non_null(strstr(err, "groq needs a key"));
    assert_null(r);
    vx_llm_router_destroy(NULL);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, env_setup, env_teardown)
    const struct CMUnitTest tests[] = {
        T(test_llm_router_failover_in_order),
        T(test_llm_router_retry_after_skips_until_it_passes),
        T(test_llm_router_hang_times_out_then_next),
        T(test_llm_router_sent_but_unanswered_settles_the_estimate),
        T(test_llm_router_invalid_answer_retried_once),
        T(test_llm_router_breaker_opens_and_recovers),
        T(test_llm_router_budget_hooks),
        T(test_llm_router_all_failing_is_a_clear_error),
        T(test_llm_router_client_errors_not_retried),
        T(test_llm_router_no_key_in_any_log_line),
        T(test_llm_router_reuses_connections),
        T(test_llm_router_metrics),
        T(test_llm_router_concurrent_requests),
        T(test_llm_router_local_only_and_bad_requests),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
