/* Integration tests of valdrix-forecast against the real NATS, Postgres and Redis: forecasts
 * and anomalies for a tenant seeded by `valdrix generate` through ingest, the input bound,
 * bad requests, the Redis cache and the data version, tenant isolation, two replicas sharing
 * requests, Postgres and Redis outages, requests past their caller's deadline, and SIGTERM
 * with requests in flight. Each test runs its
 * own service processes on their own subjects, queue group and ops ports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "harness.h"
#include "valdrix/v1/forecast.pb-c.h"
#include "vx/alloc.h"
#include "vx/bus.h"
#include "vx/clock.h"
#include "vx/contract.h"
#include "vx/pb.h"
#include "vx_test_env.h"

#include <hiredis/hiredis.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define REQUEST_TIMEOUT_MS 60000

static bool have_stack(void)
{
    return vx_test_env("VX_NATS_URL") && vx_test_env("VX_PG_DSN") &&
           vx_test_env("VX_PG_ADMIN_DSN") && vx_test_env("VX_REDIS_URL");
}

static int64_t today_day(void)
{
    return vx_wall_ms() / 1000 / 86400;
}

static void day_str(int64_t day, char *out)
{
    vx_format_date(day * 86400, out, 11);
}

/* ---- one service process ---- */

typedef struct {
    char subject[64], queue[64];
    h_service proc;
} service;

/* Starts valdrix-forecast on a fresh subject (or `share`'s, to be a second replica) with more
 * settings in `extra` ("K=V", NULL-terminated, may be NULL). */
static void start_service(service *s, const service *share, const char *const *extra)
{
    memset(s, 0, sizeof *s);
    if (share) {
        snprintf(s->subject, sizeof s->subject, "%s", share->subject);
        snprintf(s->queue, sizeof s->queue, "%s", share->queue);
    } else {
        char id[48];
        h_unique(id, sizeof id, "fc");
        snprintf(s->subject, sizeof s->subject, "t%s.forecast", id);
        snprintf(s->queue, sizeof s->queue, "q%s", id);
    }
    char subject[96], queue[96];
    snprintf(subject, sizeof subject, "VX_FORECAST_SUBJECT=%s", s->subject);
    snprintf(queue, sizeof queue, "VX_FORECAST_QUEUE=%s", s->queue);
    const char *env[16] = {subject, queue};
    int n = 2;
    for (int i = 0; extra && extra[i] && n < 15; i++)
        env[n++] = extra[i];
    env[n] = NULL;
    h_service_start("valdrix-forecast", env, &s->proc);
}

static void stop_service(service *s)
{
    assert_int_equal(h_service_stop(&s->proc), 0);
}

static double metric(const service *s, const char *series)
{
    return h_metric(s->proc.port, series);
}

/* ---- requests ---- */

typedef struct {
    const char *tenant, *from, *to, *cost;
    const char *const *services;
    size_t n_services;
    uint32_t horizon, top;
} req_spec;

static size_t pack_scope_request(bool anomalies, const req_spec *r, uint8_t *buf)
{
    Valdrix__V1__CostScope sc = VALDRIX__V1__COST_SCOPE__INIT;
    char tenant[64] = "", from[16] = "", to[16] = "", cost[16] = "";
    snprintf(tenant, sizeof tenant, "%s", r->tenant ? r->tenant : "");
    snprintf(from, sizeof from, "%s", r->from ? r->from : "");
    snprintf(to, sizeof to, "%s", r->to ? r->to : "");
    snprintf(cost, sizeof cost, "%s", r->cost ? r->cost : "");
    sc.tenant_id = tenant;
    sc.from = from;
    sc.to = to;
    sc.cost = cost;
    sc.service_names = vx_pb_strv(r->services);
    sc.n_service_names = r->n_services;
    if (anomalies) {
        Valdrix__V1__AnomaliesRequest m = VALDRIX__V1__ANOMALIES_REQUEST__INIT;
        m.scope = &sc;
        m.top_services = r->top;
        return valdrix__v1__anomalies_request__pack(&m, buf);
    }
    Valdrix__V1__ForecastRequest m = VALDRIX__V1__FORECAST_REQUEST__INIT;
    m.scope = &sc;
    m.horizon_days = r->horizon;
    m.top_services = r->top;
    return valdrix__v1__forecast_request__pack(&m, buf);
}

static vx_bus *bus_connect(void)
{
    vx_bus_config bc = {.url = getenv("VX_NATS_URL"), .name = "test-forecast", .timeout_ms = 5000};
    vx_bus *b = NULL;
    assert_int_equal(vx_bus_connect(&bc, &b), VX_OK);
    return b;
}

/* Sends raw bytes to <subject>.<what> with a traceparent and the `n_extra` headers `extra`
 * (at most 2) and returns the reply bytes (vx_free). */
static void *send_raw_h(vx_bus *b, const service *s, const char *what, const void *data, size_t len,
                        const vx_bus_header *extra, size_t n_extra, size_t *reply_len)
{
    char subject[128];
    snprintf(subject, sizeof subject, "%s.%s", s->subject, what);
    vx_bus_header h[3] = {
        {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}};
    assert_true(n_extra <= 2);
    for (size_t i = 0; i < n_extra; i++)
        h[1 + i] = extra[i];
    void *reply = NULL;
    vx_status st = vx_bus_request(b, subject, data, len, h, 1 + n_extra, REQUEST_TIMEOUT_MS, &reply,
                                  reply_len);
    if (st != VX_OK)
        fail_msg("request to %s: %s (log %s)", subject, vx_status_str(st), s->proc.log);
    return reply;
}

static void *send_raw(vx_bus *b, const service *s, const char *what, const void *data, size_t len,
                      size_t *reply_len)
{
    return send_raw_h(b, s, what, data, len, NULL, 0, reply_len);
}

/* A forecast request for r with the headers `h` (at most 2). */
static Valdrix__V1__ForecastReply *forecast_h(vx_bus *b, const service *s, const req_spec *r,
                                              const vx_bus_header *h, size_t n)
{
    static uint8_t buf[8192];
    size_t len = pack_scope_request(false, r, buf), rlen;
    void *reply = send_raw_h(b, s, "run", buf, len, h, n, &rlen);
    Valdrix__V1__ForecastReply *rep = valdrix__v1__forecast_reply__unpack(NULL, rlen, reply);
    vx_free(reply);
    assert_non_null(rep);
    return rep;
}

static Valdrix__V1__ForecastReply *forecast(vx_bus *b, const service *s, const req_spec *r)
{
    static uint8_t buf[8192];
    size_t len = pack_scope_request(false, r, buf), rlen;
    void *reply = send_raw(b, s, "run", buf, len, &rlen);
    Valdrix__V1__ForecastReply *rep = valdrix__v1__forecast_reply__unpack(NULL, rlen, reply);
    vx_free(reply);
    assert_non_null(rep);
    return rep;
}

static Valdrix__V1__ForecastResult *forecast_ok(vx_bus *b, const service *s, const req_spec *r,
                                                Valdrix__V1__ForecastReply **rep)
{
    *rep = forecast(b, s, r);
    if ((*rep)->outcome_case != VALDRIX__V1__FORECAST_REPLY__OUTCOME_RESULT)
        fail_msg("error reply %d: %s", (*rep)->error->code, (*rep)->error->message);
    return (*rep)->result;
}

static void expect_error(Valdrix__V1__ForecastReply *rep, int code, const char *needle)
{
    assert_int_equal(rep->outcome_case, VALDRIX__V1__FORECAST_REPLY__OUTCOME_ERROR);
    if (rep->error->code != (Valdrix__V1__Error__Code)code ||
        strstr(rep->error->message, needle) == NULL)
        fail_msg("expected code %d with '%s', got %d '%s'", code, needle, rep->error->code,
                 rep->error->message);
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
}

/* ---- seeding as the owner ---- */

/* `services` services named <prefix>-<k> over `days` days ending yesterday, one row per day and
 * service with `records` records each; service k spends about scale / k a day with a weekly
 * shape. Bumps the tenant's data version as ingest would. */
static void seed(PGconn *pg, const char *tenant, const char *prefix, int days, int services,
                 double scale, int records)
{
    char from[11], d[16], s[16], sc[32], rec[16];
    day_str(today_day() - days, from);
    snprintf(d, sizeof d, "%d", days);
    snprintf(s, sizeof s, "%d", services);
    snprintf(sc, sizeof sc, "%g", scale);
    snprintf(rec, sizeof rec, "%d", records);
    const char *p[7] = {tenant, from, d, s, sc, rec, prefix};
    PGresult *r = PQexecParams(
        pg,
        "INSERT INTO cost_daily (tenant_id, day, service_name, sub_account_id, region_id, "
        "provider, "
        "billing_currency, billed_cost, effective_cost, list_cost, record_count) "
        "SELECT $1::uuid, $2::date + d, $7 || '-' || k, 'acct-1', 'region-1', 'AWS', 'USD', c, c, "
        "c * 1.1, $6::bigint FROM generate_series(0, $3::int - 1) d, generate_series(1, $4::int) "
        "k, "
        "LATERAL (SELECT round(($5::numeric / k) * (CASE WHEN d % 7 IN (2, 3) THEN 0.7 ELSE 1.1 "
        "END)"
        " * (1 + 0.001 * d) + ((k * 7 + d * 13) % 17), 6) AS c) x "
        "ON CONFLICT DO NOTHING",
        7, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("seed: %s", PQresultErrorMessage(r));
    PQclear(r);
    r = PQexecParams(pg,
                     "INSERT INTO tenant_data_versions AS v (tenant_id, version) VALUES ($1, 1) "
                     "ON CONFLICT (tenant_id) DO UPDATE SET version = v.version + 1",
                     1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
}

static void new_tenant(PGconn *pg, char *id)
{
    h_create_tenant(pg, id, "growth");
}

static double sum_points(const Valdrix__V1__ForecastResult *res, size_t h)
{
    double sum = 0;
    for (size_t i = 0; i < res->n_services; i++)
        sum += res->services[i]->points[h]->yhat;
    return sum;
}

/* ---- what a test made, removed by its teardown ---- */

static struct {
    char stream_id[48]; /* streams T_EV_<id>, T_DLQ_<id> of the test's ingest, if any */
    h_service ingest;
} made;

/* Removes the test's streams and its tenants' cached replies from Redis. */
static int teardown(void **state)
{
    (void)state;
    h_service_stop(&made.ingest);
    if (made.stream_id[0])
        h_delete_test_streams(made.stream_id);
    h_forget_tenants();
    memset(&made, 0, sizeof made);
    return 0;
}

/* ---- tests ---- */

static void test_forecast_service_generated_tenant(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    PGconn *pg = h_admin();
    char tenant[37];
    new_tenant(pg, tenant);
    /* ingest on streams of its own, fed by `valdrix generate` */
    char stream[128], dlq[128], prefix[128], dlq_prefix[128];
    char *id = made.stream_id;
    h_unique(id, sizeof made.stream_id, "tf");
    snprintf(stream, sizeof stream, "VX_INGEST_STREAM=T_EV_%s", id);
    snprintf(dlq, sizeof dlq, "VX_DLQ_STREAM=T_DLQ_%s", id);
    snprintf(prefix, sizeof prefix, "VX_INGEST_SUBJECT=%s.events", id);
    snprintf(dlq_prefix, sizeof dlq_prefix, "VX_DLQ_SUBJECT=%s.deadletter", id);
    const char *env[] = {stream, dlq, prefix, dlq_prefix, NULL};
    h_service *ing = &made.ingest;
    h_service_start("valdrix-ingest", env, ing);
    char out[4096];
    const char *gen[] = {"valdrix",          "generate", "--tenant", tenant, "--days", "70",
                         "--events-per-day", "40",       "--seed",   "7",    NULL};
    if (h_run("valdrix", gen, env, out, sizeof out) != 0)
        fail_msg("valdrix generate: %s", out);
    assert_int_equal(h_wait_query(pg, "SELECT count(*) FROM cost_records WHERE tenant_id = $1",
                                  tenant, NULL, 70 * 40, 120000),
                     70 * 40);
    assert_int_equal(h_service_stop(ing), 0);
    int64_t records = h_query_int(
        pg, "SELECT sum(record_count) FROM cost_daily WHERE tenant_id = $1 AND day < current_date",
        tenant, NULL);
    int64_t version = h_query_int(
        pg, "SELECT version FROM tenant_data_versions WHERE tenant_id = $1", tenant, NULL);
    assert_true(version >= 1);

    service s;
    start_service(&s, NULL, NULL);
    vx_bus *b = bus_connect();
    Valdrix__V1__ForecastReply *rep;
    Valdrix__V1__ForecastResult *res =
        forecast_ok(b, &s, &(req_spec){.tenant = tenant, .horizon = 14}, &rep);
    assert_string_equal(res->tenant_id, tenant);
    assert_int_equal(res->records, records);
    assert_int_equal(res->data_version, version);
    assert_int_equal(res->horizon_days, 14);
    assert_true(res->level == 0.8);
    assert_int_equal(strlen(res->currency), 3);
    /* the five biggest services one by one, the rest as "(other)" */
    assert_int_equal(res->n_services, 6);
    assert_string_equal(res->services[5]->service_name, "(other)");
    for (size_t i = 0; i + 1 < 5; i++)
        assert_true(res->services[i]->history_total >= res->services[i + 1]->history_total);
    double spend = 0;
    for (size_t i = 0; i < res->n_services; i++) {
        assert_int_equal(res->services[i]->n_points, 14);
        spend += res->services[i]->history_total;
    }
    assert_true(spend > 0);
    assert_true(fabs(res->total->history_total - spend) < 1e-6 * spend);
    assert_string_equal(res->total->model, "sum");
    char first[11];
    day_str(today_day(), first);
    assert_string_equal(res->total->points[0]->date, first);
    for (size_t h = 0; h < 14; h++) {
        const Valdrix__V1__ForecastPoint *p = res->total->points[h];
        double sum = sum_points(res, h);
        assert_true(fabs(p->yhat - sum) <= 1e-9 * sum + 1e-9);
        assert_true(p->yhat > 0 && p->lo <= p->yhat && p->yhat <= p->hi);
    }
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);

    /* anomalies of the same tenant */
    static uint8_t buf[4096];
    size_t len = pack_scope_request(true, &(req_spec){.tenant = tenant}, buf), rlen;
    void *reply = send_raw(b, &s, "anomalies", buf, len, &rlen);
    Valdrix__V1__AnomaliesReply *ar = valdrix__v1__anomalies_reply__unpack(NULL, rlen, reply);
    vx_free(reply);
    assert_non_null(ar);
    assert_int_equal(ar->outcome_case, VALDRIX__V1__ANOMALIES_REPLY__OUTCOME_RESULT);
    assert_string_equal(ar->result->tenant_id, tenant);
    assert_true(ar->result->records > 0 && ar->result->records <= (uint64_t)records);
    for (size_t i = 0; i < ar->result->n_anomalies; i++) {
        const char *k = ar->result->anomalies[i]->kind;
        assert_true(strcmp(k, "spike") == 0 || strcmp(k, "drop") == 0 ||
                    strcmp(k, "new_spend") == 0);
    }
    double anomaly_records = (double)ar->result->records;
    valdrix__v1__anomalies_reply__free_unpacked(ar, NULL);
    assert_int_equal(metric(&s, "valdrix_forecast_requests_total{kind=\"run\",outcome=\"ok\"}"), 1);
    assert_int_equal(
        metric(&s, "valdrix_forecast_requests_total{kind=\"anomalies\",outcome=\"ok\"}"), 1);
    assert_int_equal(metric(&s, "valdrix_forecast_records_read_total"),
                     (double)records + anomaly_records);
    vx_bus_destroy(b);
    stop_service(&s);
    PQfinish(pg);
}

static void test_forecast_service_input_bound(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    PGconn *pg = h_admin();
    char tenant[37];
    new_tenant(pg, tenant);
    seed(pg, tenant, "svc", 100, 4, 400, 5); /* 100 days x 4 services x 5 records = 2000 */
    service s;
    const char *extra[] = {"VX_FORECAST_MAX_INPUT=1999", NULL};
    start_service(&s, NULL, extra);
    vx_bus *b = bus_connect();
    Valdrix__V1__ForecastReply *rep = forecast(b, &s, &(req_spec){.tenant = tenant});
    expect_error(rep, VALDRIX__V1__ERROR__CODE__CODE_TOO_LARGE, "2000 cost records");
    /* a window with fewer records behind it is fine: 99 days x 4 x 5 = 1980 */
    char from[11];
    day_str(today_day() - 99, from);
    Valdrix__V1__ForecastResult *res =
        forecast_ok(b, &s, &(req_spec){.tenant = tenant, .from = from}, &rep);
    assert_int_equal(res->records, 1980);
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    /* so are filters: one service of four */
    const char *one[] = {"svc-2"};
    res = forecast_ok(b, &s, &(req_spec){.tenant = tenant, .services = one, .n_services = 1}, &rep);
    assert_int_equal(res->records, 500);
    assert_int_equal(res->n_services, 1);
    assert_string_equal(res->services[0]->service_name, "svc-2");
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    assert_int_equal(
        metric(&s, "valdrix_forecast_requests_total{kind=\"run\",outcome=\"too_large\"}"), 1);
    vx_bus_destroy(b);
    stop_service(&s);

    /* exactly at the bound is allowed */
    const char *at[] = {"VX_FORECAST_MAX_INPUT=2000", NULL};
    start_service(&s, NULL, at);
    b = bus_connect();
    res = forecast_ok(b, &s, &(req_spec){.tenant = tenant}, &rep);
    assert_int_equal(res->records, 2000);
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    vx_bus_destroy(b);
    stop_service(&s);
    PQfinish(pg);
}

static void test_forecast_service_bad_requests(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    service s;
    start_service(&s, NULL, NULL);
    vx_bus *b = bus_connect();
    static const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x00, 0x99};
    const char *what[2] = {"run", "anomalies"};
    for (int k = 0; k < 2; k++) {
        size_t rlen;
        void *reply = send_raw(b, &s, what[k], garbage, sizeof garbage, &rlen);
        /* both replies have the error in field 2 of the oneof: read it as a ForecastReply */
        Valdrix__V1__ForecastReply *rep = valdrix__v1__forecast_reply__unpack(NULL, rlen, reply);
        vx_free(reply);
        assert_non_null(rep);
        expect_error(rep, VALDRIX__V1__ERROR__CODE__CODE_INVALID, "not a valdrix.v1.");
    }
    size_t rlen;
    void *reply = send_raw(b, &s, "run", NULL, 0, &rlen);
    Valdrix__V1__ForecastReply *rep = valdrix__v1__forecast_reply__unpack(NULL, rlen, reply);
    vx_free(reply);
    expect_error(rep, VALDRIX__V1__ERROR__CODE__CODE_INVALID, "scope is required");
    char tenant[37] = "0b6c4e52-3d43-4b6e-9a39-6f1f0a7f6a01";
    h_track_tenant(tenant); /* a tenant of no row, but its replies are cached too */
    rep = forecast(b, &s, &(req_spec){.tenant = tenant, .from = "2024-13-01"});
    expect_error(rep, VALDRIX__V1__ERROR__CODE__CODE_INVALID, "scope.from must be a date");
    rep = forecast(b, &s, &(req_spec){.tenant = tenant, .cost = "amortized"});
    expect_error(rep, VALDRIX__V1__ERROR__CODE__CODE_INVALID, "unknown cost kind");
    rep = forecast(b, &s, &(req_spec){.tenant = tenant, .horizon = 400});
    expect_error(rep, VALDRIX__V1__ERROR__CODE__CODE_INVALID, "horizon_days");
    rep = forecast(b, &s, &(req_spec){.tenant = tenant, .from = "2020-01-01"});
    expect_error(rep, VALDRIX__V1__ERROR__CODE__CODE_INVALID, "at most 1096");
    rep = forecast(b, &s, &(req_spec){.tenant = "tenant-1"});
    expect_error(rep, VALDRIX__V1__ERROR__CODE__CODE_INVALID, "UUID");
    assert_int_equal(
        metric(&s, "valdrix_forecast_requests_total{kind=\"run\",outcome=\"invalid\"}"), 7);
    assert_int_equal(
        metric(&s, "valdrix_forecast_requests_total{kind=\"anomalies\",outcome=\"invalid\"}"), 1);
    /* still serving: a tenant without data gets an (empty) forecast */
    Valdrix__V1__ForecastResult *res = forecast_ok(b, &s, &(req_spec){.tenant = tenant}, &rep);
    assert_int_equal(res->records, 0);
    assert_int_equal(res->n_services, 0);
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    vx_bus_destroy(b);
    stop_service(&s);
}

/* Keys and remaining lifetime (ms) of the tenant's cached replies. */
static int cached_keys(const char *tenant, long long *pttl)
{
    redisContext *c = h_redis_open();
    assert_non_null(c);
    redisReply *r = redisCommand(c, "KEYS vx:fc:v1:%s:*", tenant);
    int n = (int)r->elements;
    if (n > 0 && pttl) {
        redisReply *t = redisCommand(c, "PTTL %s", r->element[0]->str);
        *pttl = t->integer;
        freeReplyObject(t);
    }
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static void test_forecast_service_cache_and_data_version(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    PGconn *pg = h_admin();
    char tenant[37];
    new_tenant(pg, tenant);
    seed(pg, tenant, "svc", 120, 3, 300, 2);
    service s;
    start_service(&s, NULL, NULL);
    vx_bus *b = bus_connect();
    req_spec rq = {.tenant = tenant, .horizon = 21};
    Valdrix__V1__ForecastReply *first;
    Valdrix__V1__ForecastResult *r1 = forecast_ok(b, &s, &rq, &first);
    assert_false(r1->cached);
    assert_int_equal(r1->data_version, 1);
    long long pttl = 0;
    assert_int_equal(cached_keys(tenant, &pttl), 1);
    assert_true(pttl > 3500000 && pttl <= 3600000); /* one hour */
    Valdrix__V1__ForecastReply *second;
    Valdrix__V1__ForecastResult *r2 = forecast_ok(b, &s, &rq, &second);
    assert_true(r2->cached);
    /* the same answer */
    assert_int_equal(r2->records, r1->records);
    assert_int_equal(r2->n_services, r1->n_services);
    for (size_t h = 0; h < 21; h++)
        assert_true(r2->total->points[h]->yhat == r1->total->points[h]->yhat &&
                    r2->total->points[h]->hi == r1->total->points[h]->hi);
    assert_int_equal(metric(&s, "valdrix_forecast_cache_hits_total"), 1);
    assert_int_equal(metric(&s, "valdrix_forecast_cache_misses_total"), 1);
    double total_before = r1->total->history_total;
    valdrix__v1__forecast_reply__free_unpacked(second, NULL);

    /* new data (ingest would bump the version): a miss, and the new data is in the answer */
    seed(pg, tenant, "new", 120, 1, 5000, 1);
    Valdrix__V1__ForecastReply *third;
    Valdrix__V1__ForecastResult *r3 = forecast_ok(b, &s, &rq, &third);
    assert_false(r3->cached);
    assert_int_equal(r3->data_version, 2);
    assert_true(r3->total->history_total > total_before + 100000);
    assert_int_equal(r3->records, r1->records + 120);
    assert_int_equal(metric(&s, "valdrix_forecast_cache_misses_total"), 2);
    assert_int_equal(cached_keys(tenant, NULL), 2); /* one per data version */
    valdrix__v1__forecast_reply__free_unpacked(third, NULL);
    valdrix__v1__forecast_reply__free_unpacked(first, NULL);
    /* another question is another entry */
    rq.horizon = 22;
    r3 = forecast_ok(b, &s, &rq, &third);
    assert_false(r3->cached);
    valdrix__v1__forecast_reply__free_unpacked(third, NULL);
    vx_bus_destroy(b);
    stop_service(&s);
    PQfinish(pg);
}

/* Redis is not trusted with whose answer it holds: tenant A's cached reply written over tenant
 * B's entry (by someone who can write Redis) is not served to B; B gets its own forecast. */
static void test_forecast_service_forged_cache_entry_is_not_served(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    PGconn *pg = h_admin();
    char a[37], other[37];
    new_tenant(pg, a);
    new_tenant(pg, other);
    seed(pg, a, "mine", 60, 2, 100, 1);
    seed(pg, other, "theirs", 60, 3, 900, 1);
    service s;
    start_service(&s, NULL, NULL);
    vx_bus *b = bus_connect();
    Valdrix__V1__ForecastReply *rep;
    Valdrix__V1__ForecastResult *res = forecast_ok(b, &s, &(req_spec){.tenant = a}, &rep);
    assert_int_equal(res->records, 120);
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    res = forecast_ok(b, &s, &(req_spec){.tenant = other}, &rep);
    assert_false(res->cached);
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    /* B's entry overwritten with A's */
    redisContext *c = h_redis_open();
    assert_non_null(c);
    redisReply *ka = redisCommand(c, "KEYS vx:fc:v1:%s:*", a);
    redisReply *kb = redisCommand(c, "KEYS vx:fc:v1:%s:*", other);
    assert_int_equal(ka->elements, 1);
    assert_int_equal(kb->elements, 1);
    redisReply *v = redisCommand(c, "GET %s", ka->element[0]->str);
    assert_int_equal(v->type, REDIS_REPLY_STRING);
    freeReplyObject(
        redisCommand(c, "SET %s %b PX 600000", kb->element[0]->str, v->str, (size_t)v->len));
    freeReplyObject(v);
    freeReplyObject(ka);
    freeReplyObject(kb);
    res = forecast_ok(b, &s, &(req_spec){.tenant = other}, &rep);
    assert_false(res->cached);
    assert_string_equal(res->tenant_id, other);
    assert_int_equal(res->records, 180);
    for (size_t i = 0; i < res->n_services; i++)
        assert_int_equal(strncmp(res->services[i]->service_name, "theirs-", 7), 0);
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    assert_int_equal(metric(&s, "valdrix_forecast_cache_hits_total"), 0);
    assert_true(metric(&s, "valdrix_forecast_cache_errors_total") >= 1);
    /* the entry written then is B's own: the next question is answered from it */
    res = forecast_ok(b, &s, &(req_spec){.tenant = other}, &rep);
    assert_true(res->cached);
    assert_string_equal(res->tenant_id, other);
    assert_int_equal(res->records, 180);
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    redisFree(c);
    vx_bus_destroy(b);
    stop_service(&s);
    PQfinish(pg);
}

static void test_forecast_service_tenants_are_isolated(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    PGconn *pg = h_admin();
    char a[37], other[37];
    new_tenant(pg, a);
    new_tenant(pg, other);
    seed(pg, a, "mine", 60, 2, 100, 1);
    seed(pg, other, "theirs", 60, 6, 100000, 50); /* same days, far more of everything */
    service s;
    start_service(&s, NULL, NULL);
    vx_bus *b = bus_connect();
    Valdrix__V1__ForecastReply *rep;
    Valdrix__V1__ForecastResult *res = forecast_ok(b, &s, &(req_spec){.tenant = a}, &rep);
    assert_int_equal(res->records, 60 * 2);
    assert_int_equal(res->n_services, 2);
    for (size_t i = 0; i < res->n_services; i++)
        assert_int_equal(strncmp(res->services[i]->service_name, "mine-", 5), 0);
    int64_t spend = h_query_int(
        pg, "SELECT round(sum(effective_cost))::bigint FROM cost_daily WHERE tenant_id = $1", a,
        NULL);
    assert_true(fabs(res->total->history_total - (double)spend) < 1);
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    /* naming the other tenant's services from tenant a finds nothing */
    const char *theirs[] = {"theirs-1", "theirs-2"};
    res = forecast_ok(b, &s, &(req_spec){.tenant = a, .services = theirs, .n_services = 2}, &rep);
    assert_int_equal(res->records, 0);
    assert_int_equal(res->n_services, 0);
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    vx_bus_destroy(b);
    stop_service(&s);
    PQfinish(pg);
}

static void test_forecast_service_replicas_share_requests(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    PGconn *pg = h_admin();
    char tenant[37];
    new_tenant(pg, tenant);
    seed(pg, tenant, "svc", 60, 3, 200, 1);
    service s1, s2;
    start_service(&s1, NULL, NULL);
    start_service(&s2, &s1, NULL);
    vx_bus *b = bus_connect();
    enum { N = 40 };
    for (uint32_t i = 0; i < N; i++) {
        Valdrix__V1__ForecastReply *rep;
        forecast_ok(b, &s1, &(req_spec){.tenant = tenant, .horizon = 1 + i % 10}, &rep);
        valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    }
    const char *ok = "valdrix_forecast_requests_total{kind=\"run\",outcome=\"ok\"}";
    double n1 = metric(&s1, ok), n2 = metric(&s2, ok);
    fprintf(stderr, "replicas answered %.0f and %.0f of %d\n", n1, n2, N);
    assert_true(n1 > 0 && n2 > 0);
    assert_int_equal(n1 + n2, N);
    vx_bus_destroy(b);
    stop_service(&s1);
    stop_service(&s2);
    PQfinish(pg);
}

static void test_forecast_service_outages(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    PGconn *pg = h_admin();
    char tenant[37];
    new_tenant(pg, tenant);
    seed(pg, tenant, "svc", 60, 2, 200, 1);
    /* Postgres through a proxy this test can cut */
    char host[64], dsn[512], dsn_env[600];
    int pg_port;
    assert_true(h_dsn_via(getenv("VX_PG_DSN"), "127.0.0.1", 1, dsn, sizeof dsn, host, sizeof host,
                          &pg_port));
    h_proxy *proxy = h_proxy_start(host, pg_port);
    assert_true(h_dsn_via(getenv("VX_PG_DSN"), "127.0.0.1", h_proxy_port(proxy), dsn, sizeof dsn,
                          host, sizeof host, &pg_port));
    snprintf(dsn_env, sizeof dsn_env, "VX_PG_DSN=%s", dsn);
    /* and a Redis that is not there: the cache is skipped, never the request */
    char redis_env[64];
    snprintf(redis_env, sizeof redis_env, "VX_REDIS_URL=redis://127.0.0.1:%d/0", h_free_port());
    const char *extra[] = {dsn_env, redis_env, NULL};
    service s;
    start_service(&s, NULL, extra);
    vx_bus *b = bus_connect();
    Valdrix__V1__ForecastReply *rep;
    Valdrix__V1__ForecastResult *res = forecast_ok(b, &s, &(req_spec){.tenant = tenant}, &rep);
    assert_false(res->cached);
    assert_int_equal(res->records, 120);
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    assert_true(metric(&s, "valdrix_forecast_cache_errors_total") >= 1);
    assert_int_equal(metric(&s, "valdrix_forecast_cache_hits_total"), 0);

    h_proxy_cut(proxy);
    int64_t t0 = vx_mono_ms();
    rep = forecast(b, &s, &(req_spec){.tenant = tenant});
    expect_error(rep, VALDRIX__V1__ERROR__CODE__CODE_UNAVAILABLE, "database");
    assert_true(vx_mono_ms() - t0 < 10000);
    /* /readyz says why */
    char body[256];
    assert_int_equal(h_http_get(s.proc.port, "/readyz", body, sizeof body), 503);
    assert_non_null(strstr(body, "postgres"));
    h_proxy_restore(proxy);
    res = forecast_ok(b, &s, &(req_spec){.tenant = tenant}, &rep);
    assert_int_equal(res->records, 120);
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    assert_true(h_wait_ready(s.proc.port, 5000));
    vx_bus_destroy(b);
    stop_service(&s);
    h_proxy_stop(proxy);
    PQfinish(pg);
}

static void test_forecast_service_slow_database_is_a_deadline(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    PGconn *pg = h_admin();
    char tenant[37];
    new_tenant(pg, tenant);
    seed(pg, tenant, "svc", 1000, 150, 1000, 1); /* 150 000 rollup rows */
    service s;
    /* statements cut off after 10 ms: reading that much takes longer */
    const char *extra[] = {"VX_PG_STATEMENT_TIMEOUT=10ms", NULL};
    start_service(&s, NULL, extra);
    vx_bus *b = bus_connect();
    char from[11];
    day_str(today_day() - 1000, from);
    Valdrix__V1__ForecastReply *rep = forecast(b, &s, &(req_spec){.tenant = tenant, .from = from});
    expect_error(rep, VALDRIX__V1__ERROR__CODE__CODE_DEADLINE, "took too long");
    assert_int_equal(
        metric(&s, "valdrix_forecast_requests_total{kind=\"run\",outcome=\"deadline\"}"), 1);
    vx_bus_destroy(b);
    stop_service(&s);
    PQfinish(pg);
}

typedef struct {
    const service *s;
    vx_bus *b; /* connected beforehand, so that the request goes out at once */
    const char *tenant, *from;
    uint32_t horizon;
    int ok;
} inflight_arg;

static void *send_heavy(void *p)
{
    inflight_arg *a = p;
    /* no cmocka assertions off the main thread: record what came back instead */
    uint8_t buf[8192];
    size_t len = pack_scope_request(
        false, &(req_spec){.tenant = a->tenant, .from = a->from, .horizon = a->horizon, .top = 20},
        buf);
    char subject[128];
    snprintf(subject, sizeof subject, "%s.run", a->s->subject);
    void *reply = NULL;
    size_t rlen = 0;
    vx_status st =
        vx_bus_request(a->b, subject, buf, len, NULL, 0, REQUEST_TIMEOUT_MS, &reply, &rlen);
    if (st != VX_OK) {
        fprintf(stderr, "horizon %u: request failed: %s\n", a->horizon, vx_status_str(st));
        return NULL;
    }
    Valdrix__V1__ForecastReply *rep = valdrix__v1__forecast_reply__unpack(NULL, rlen, reply);
    vx_free(reply);
    a->ok = rep != NULL && rep->outcome_case == VALDRIX__V1__FORECAST_REPLY__OUTCOME_RESULT &&
            rep->result->n_services == 21 && rep->result->total->n_points == a->horizon;
    if (rep == NULL)
        fprintf(stderr, "horizon %u: undecodable reply\n", a->horizon);
    else if (rep->outcome_case != VALDRIX__V1__FORECAST_REPLY__OUTCOME_RESULT)
        fprintf(stderr, "horizon %u: error %d %s\n", a->horizon, rep->error->code,
                rep->error->message);
    else
        fprintf(stderr, "horizon %u: %zu services, %zu points, cached %d\n", a->horizon,
                rep->result->n_services, rep->result->total->n_points, rep->result->cached);
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    return NULL;
}

static void test_forecast_service_sigterm_answers_requests_in_flight(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    PGconn *pg = h_admin();
    char tenant[37];
    new_tenant(pg, tenant);
    seed(pg, tenant, "svc", 1000, 24, 1000, 1); /* 21 series of 1000 days per request */
    service s;
    /* one request at a time, one fit at a time: the others wait in the subscription */
    const char *extra[] = {"VX_FORECAST_WORKERS=1", "VX_FORECAST_FIT_THREADS=1", NULL};
    start_service(&s, NULL, extra);
    enum { N = 4 };
    pthread_t t[N];
    inflight_arg a[N];
    char from[11];
    day_str(today_day() - 1000, from);
    for (int i = 0; i < N; i++) {
        a[i] = (inflight_arg){.s = &s,
                              .b = bus_connect(),
                              .tenant = tenant,
                              .from = from,
                              .horizon = 100 + (uint32_t)i};
    }
    for (int i = 0; i < N; i++)
        pthread_create(&t[i], NULL, send_heavy, &a[i]);
    /* SIGTERM once the first is being worked on and the others have had ample time to be
     * sent (they wait in the subscription: one worker) */
    int64_t until = vx_mono_ms() + 30000;
    while (metric(&s, "valdrix_forecast_requests_in_flight") < 1 && vx_mono_ms() < until)
        vx_sleep_ms(2);
    assert_true(metric(&s, "valdrix_forecast_requests_in_flight") >= 1);
    vx_sleep_ms(100);
    double done_before = metric(&s, "valdrix_forecast_requests_total{kind=\"run\",outcome=\"ok\"}");
    kill(s.proc.pid, SIGTERM);
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_true(a[i].ok);
        vx_bus_destroy(a[i].b);
    }
    int status;
    assert_int_equal(waitpid(s.proc.pid, &status, 0), s.proc.pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    s.proc.pid = 0;
    fprintf(stderr, "answered %.0f of %d before SIGTERM; all %d answered\n", done_before, N, N);
    assert_true(done_before < N);
    PQfinish(pg);
}

static void *unlock_later(void *arg)
{
    vx_sleep_ms(1500);
    PQclear(PQexec(arg, "COMMIT"));
    return NULL;
}

/* The deadline passes while the rollup is read (the test holds a lock the read waits for): the
 * answer is DEADLINE, nothing is fitted or cached, and it is counted. */
static void test_forecast_service_deadline_passing_during_the_read_stops_the_work(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    PGconn *pg = h_admin();
    char tenant[37];
    new_tenant(pg, tenant);
    seed(pg, tenant, "svc", 60, 2, 50, 1);
    service s;
    start_service(&s, NULL, NULL);
    vx_bus *b = bus_connect();
    PGconn *locker = h_admin();
    PGresult *r = PQexec(locker, "BEGIN; LOCK TABLE cost_daily_service IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    /* 1 s to go when sent; the read waits 1.5 s for the lock */
    char at[VX_DEADLINE_TEXT_MAX];
    vx_deadline_format(vx_wall_ms() + 1000, at);
    vx_bus_header h[1] = {{VX_DEADLINE_AT_HEADER, at}};
    static uint8_t buf[8192];
    size_t len = pack_scope_request(false, &(req_spec){.tenant = tenant}, buf);
    char subject[128];
    snprintf(subject, sizeof subject, "%s.run", s.subject);
    /* the request goes out now; the lock is let go after the deadline */
    int64_t t0 = vx_mono_ms();
    pthread_t unlock_thread;
    assert_int_equal(pthread_create(&unlock_thread, NULL, unlock_later, locker), 0);
    void *raw = NULL;
    size_t rlen = 0;
    assert_int_equal(vx_bus_request(b, subject, buf, len, h, 1, REQUEST_TIMEOUT_MS, &raw, &rlen),
                     VX_OK);
    pthread_join(unlock_thread, NULL);
    assert_true(vx_mono_ms() - t0 >= 1500); /* it waited for the lock */
    Valdrix__V1__ForecastReply *rep = valdrix__v1__forecast_reply__unpack(NULL, rlen, raw);
    vx_free(raw);
    expect_error(rep, VALDRIX__V1__ERROR__CODE__CODE_DEADLINE, "while the rollup was read");
    assert_int_equal(metric(&s, "valdrix_forecast_requests_expired_total"), 1);
    assert_int_equal(cached_keys(tenant, NULL), 0); /* nothing cached for a caller who left */
    /* in time again: answered */
    vx_deadline_format(vx_wall_ms() + 60000, at);
    rep = forecast_h(b, &s, &(req_spec){.tenant = tenant}, h, 1);
    assert_int_equal(rep->outcome_case, VALDRIX__V1__FORECAST_REPLY__OUTCOME_RESULT);
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    PQfinish(locker);
    vx_bus_destroy(b);
    stop_service(&s);
    PQfinish(pg);
}

/* A request whose caller's deadline has passed is not worked on: no snapshot, no cache, no
 * rollup, no model; it is answered DEADLINE and counted. */
static void test_forecast_service_past_deadline_is_not_worked_on(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    PGconn *pg = h_admin();
    char tenant[37];
    new_tenant(pg, tenant);
    seed(pg, tenant, "svc", 120, 3, 50, 2);
    service s;
    start_service(&s, NULL, NULL);
    vx_bus *b = bus_connect();
    /* once normally, with a deadline well ahead: computed (and cached) */
    char at[VX_DEADLINE_TEXT_MAX];
    vx_deadline_format(vx_wall_ms() + 60000, at);
    vx_bus_header ahead[1] = {{VX_DEADLINE_AT_HEADER, at}};
    Valdrix__V1__ForecastReply *rep = forecast_h(b, &s, &(req_spec){.tenant = tenant}, ahead, 1);
    assert_int_equal(rep->outcome_case, VALDRIX__V1__FORECAST_REPLY__OUTCOME_RESULT);
    assert_true(rep->result->records > 0);
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    double rows = metric(&s, "valdrix_forecast_rollup_rows_read_total");
    double misses = metric(&s, "valdrix_forecast_cache_misses_total");
    assert_true(rows > 0);
    assert_int_equal(metric(&s, "valdrix_forecast_requests_expired_total"), 0);

    /* the same request after its caller gave up, with or without the older relative header */
    vx_deadline_format(vx_wall_ms() - 1000, at);
    vx_bus_header past[2] = {{VX_DEADLINE_AT_HEADER, at}, {VX_DEADLINE_MS_HEADER, "30000"}};
    rep = forecast_h(b, &s, &(req_spec){.tenant = tenant}, past, 1);
    expect_error(rep, VALDRIX__V1__ERROR__CODE__CODE_DEADLINE, "caller's deadline passed");
    rep = forecast_h(b, &s, &(req_spec){.tenant = tenant}, past, 2);
    expect_error(rep, VALDRIX__V1__ERROR__CODE__CODE_DEADLINE, "caller's deadline passed");
    /* anomalies too */
    static uint8_t buf[8192];
    size_t len = pack_scope_request(true, &(req_spec){.tenant = tenant}, buf), rlen;
    void *raw = send_raw_h(b, &s, "anomalies", buf, len, past, 1, &rlen);
    Valdrix__V1__AnomaliesReply *arep = valdrix__v1__anomalies_reply__unpack(NULL, rlen, raw);
    vx_free(raw);
    assert_non_null(arep);
    assert_int_equal(arep->outcome_case, VALDRIX__V1__ANOMALIES_REPLY__OUTCOME_ERROR);
    assert_int_equal(arep->error->code, VALDRIX__V1__ERROR__CODE__CODE_DEADLINE);
    valdrix__v1__anomalies_reply__free_unpacked(arep, NULL);
    assert_int_equal(metric(&s, "valdrix_forecast_requests_expired_total"), 3);
    assert_int_equal(
        metric(&s, "valdrix_forecast_requests_total{kind=\"run\",outcome=\"deadline\"}"), 2);
    /* nothing was read: neither the rollup nor the cache (which holds the answer) */
    assert_true(metric(&s, "valdrix_forecast_rollup_rows_read_total") == rows);
    assert_true(metric(&s, "valdrix_forecast_cache_misses_total") == misses);
    assert_int_equal(metric(&s, "valdrix_forecast_cache_hits_total"), 0);

    /* a malformed deadline is refused, saying what it must be */
    vx_bus_header bad[1] = {{VX_DEADLINE_AT_HEADER, "tomorrow"}};
    rep = forecast_h(b, &s, &(req_spec){.tenant = tenant}, bad, 1);
    expect_error(rep, VALDRIX__V1__ERROR__CODE__CODE_INVALID, "Vx-Deadline-At must be");
    /* and in time, the cached answer */
    vx_deadline_format(vx_wall_ms() + 60000, at);
    rep = forecast_h(b, &s, &(req_spec){.tenant = tenant}, ahead, 1);
    assert_int_equal(rep->outcome_case, VALDRIX__V1__FORECAST_REPLY__OUTCOME_RESULT);
    assert_true(rep->result->cached);
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    vx_bus_destroy(b);
    stop_service(&s);
    PQfinish(pg);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_forecast_service_generated_tenant, teardown),
        cmocka_unit_test_teardown(test_forecast_service_input_bound, teardown),
        cmocka_unit_test_teardown(test_forecast_service_bad_requests, teardown),
        cmocka_unit_test_teardown(test_forecast_service_cache_and_data_version, teardown),
        cmocka_unit_test_teardown(test_forecast_service_tenants_are_isolated, teardown),
        cmocka_unit_test_teardown(test_forecast_service_forged_cache_entry_is_not_served, teardown),
        cmocka_unit_test_teardown(test_forecast_service_replicas_share_requests, teardown),
        cmocka_unit_test_teardown(test_forecast_service_outages, teardown),
        cmocka_unit_test_teardown(test_forecast_service_slow_database_is_a_deadline, teardown),
        cmocka_unit_test_teardown(test_forecast_service_past_deadline_is_not_worked_on, teardown),
        cmocka_unit_test_teardown(
            test_forecast_service_deadline_passing_during_the_read_stops_the_work, teardown),
        cmocka_unit_test_teardown(test_forecast_service_sigterm_answers_requests_in_flight,
                                  teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
