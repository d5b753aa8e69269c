/* Unit tests of services/forecast's pure parts after validation: the rollup SQL (parameters
 * only), the series built from rollup rows, the forecast reply (the total is the sum of the
 * parts; its interval follows how the parts' errors move together), the anomaly reply, and
 * cached replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "decompose.h"
#include "request.h"
#include "rollup.h"
#include "valdrix/v1/forecast.pb-c.h"
#include "vx/alloc.h"
#include "vx/pb.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define TODAY 20089 /* 2025-01-01 */
#define TENANT "0b6c4e52-3d43-4b6e-9a39-6f1f0a7f6a01"

typedef struct {
    uint64_t s;
} rng;

static double uniform(rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return ((double)((r->s * 2685821657736338717ULL) >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(rng *r)
{
    double u = uniform(r), v = uniform(r);
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* A request of `kind` parsed from a scope with optional filters. */
static void request(fc_kind kind, const char *from, uint32_t top, fc_request *r)
{
    static uint8_t buf[4096];
    Valdrix__V1__CostScope sc = VALDRIX__V1__COST_SCOPE__INIT;
    char tenant[] = TENANT, f[16];
    snprintf(f, sizeof f, "%s", from ? from : "");
    sc.tenant_id = tenant;
    sc.from = f;
    size_t len;
    if (kind == FC_KIND_RUN) {
        Valdrix__V1__ForecastRequest m = VALDRIX__V1__FORECAST_REQUEST__INIT;
        m.scope = &sc;
        m.top_services = top;
        len = valdrix__v1__forecast_request__pack(&m, buf);
    } else {
        Valdrix__V1__AnomaliesRequest m = VALDRIX__V1__ANOMALIES_REQUEST__INIT;
        m.scope = &sc;
        m.top_services = top;
        len = valdrix__v1__anomalies_request__pack(&m, buf);
    }
    char why[256] = "";
    if (fc_request_parse(kind, buf, len, TODAY, r, why, sizeof why) != VX_OK)
        fail_msg("%s", why);
}

/* ---- SQL ---- */

static void test_forecast_sql_uses_parameters_only(void **state)
{
    (void)state;
    static uint8_t buf[4096];
    Valdrix__V1__CostScope sc = VALDRIX__V1__COST_SCOPE__INIT;
    char tenant[] = TENANT, cur[] = "usd", cost[] = "list";
    const char *services[] = {"x'); DROP TABLE cost_daily; --", "a\"b\\c"};
    const char *regions[] = {"eu-west-1"};
    sc.tenant_id = tenant;
    sc.currency = cur;
    sc.cost = cost;
    sc.service_names = vx_pb_strv(services);
    sc.n_service_names = 2;
    sc.region_ids = vx_pb_strv(regions);
    sc.n_region_ids = 1;
    Valdrix__V1__ForecastRequest m = VALDRIX__V1__FORECAST_REQUEST__INIT;
    m.scope = &sc;
    size_t len = valdrix__v1__forecast_request__pack(&m, buf);
    fc_request r;
    assert_int_equal(fc_request_parse(FC_KIND_RUN, buf, len, TODAY, &r, NULL, 0), VX_OK);
    fc_sql q;
    fc_rollup_sql(&r, &q);
    assert_int_equal(q.n_params, 7);
    assert_string_equal(q.params[0], TENANT);
    assert_string_equal(q.params[1], "2024-01-02");
    assert_string_equal(q.params[2], "2025-01-01");
    assert_string_equal(q.params[3], "5");
    /* sorted: '"' sorts before 'x'; quotes and backslashes escaped in the array literal */
    assert_string_equal(q.params[4], "{\"a\\\"b\\\\c\",\"x'); DROP TABLE cost_daily; --\"}");
    assert_string_equal(q.params[5], "{\"eu-west-1\"}");
    assert_string_equal(q.params[6], "USD");
    assert_non_null(strstr(q.sql, "sum(list_cost)"));
    assert_non_null(strstr(q.sql, "service_name = ANY($5::text[])"));
    assert_non_null(strstr(q.sql, "region_id = ANY($6::text[])"));
    assert_non_null(strstr(q.sql, "billing_currency = $7"));
    assert_non_null(strstr(q.sql, "tenant_id = $1::uuid"));
    assert_null(strstr(q.sql, "DROP"));
    assert_null(strstr(q.sql, "eu-west"));
    assert_null(strstr(q.sql, "cost_records"));
    /* a region filter needs the full rollup */
    assert_non_null(strstr(q.sql, "FROM cost_daily WHERE"));
    fc_sql_cleanup(&q);
    fc_request_cleanup(&r);
    /* without account, provider or region filters the per-service rollup serves */
    sc.n_region_ids = 0;
    len = valdrix__v1__forecast_request__pack(&m, buf);
    assert_int_equal(fc_request_parse(FC_KIND_RUN, buf, len, TODAY, &r, NULL, 0), VX_OK);
    fc_rollup_sql(&r, &q);
    assert_non_null(strstr(q.sql, "FROM cost_daily_service WHERE"));
    assert_null(strstr(q.sql, "region_id"));
    fc_sql_cleanup(&q);
    fc_request_cleanup(&r);

    request(FC_KIND_RUN, NULL, 0, &r);
    fc_rollup_sql(&r, &q);
    assert_int_equal(q.n_params, 4);
    assert_non_null(strstr(q.sql, "sum(effective_cost)"));
    assert_null(strstr(q.sql, "ANY("));
    fc_sql_cleanup(&q);
    fc_request_cleanup(&r);
}

static void test_forecast_rollup_rows_are_checked(void **state)
{
    (void)state;
    fc_rollup r;
    fc_rollup_init(&r);
    assert_int_equal(fc_rollup_add(&r, 100, 1, "EC2", 5, 3), VX_OK);
    assert_int_equal(fc_rollup_add(&r, 101, 1, "EC2", 6, 4), VX_OK);
    assert_int_equal(fc_rollup_add(&r, 101, 0, NULL, 1, 2), VX_OK);
    assert_int_equal(fc_rollup_add(&r, 101, 1, "S3", 1, 1), VX_INVALID);  /* rank 1 is EC2 */
    assert_int_equal(fc_rollup_add(&r, 101, 0, "S3", 1, 1), VX_INVALID);  /* other has no name */
    assert_int_equal(fc_rollup_add(&r, 101, 21, "X", 1, 1), VX_INVALID);  /* beyond the top */
    assert_int_equal(fc_rollup_add(&r, 101, 2, "S3", 1, -1), VX_INVALID); /* negative records */
    assert_int_equal(r.n_rows, 3);
    assert_int_equal(r.records, 9);
    assert_int_equal(r.n_top, 1);
    fc_rollup_cleanup(&r);
}

/* ---- series ---- */

static void test_forecast_series_fill_missing_days_with_zero(void **state)
{
    (void)state;
    fc_rollup r;
    fc_rollup_init(&r);
    /* the window is days 5..14; data starts on day 10 */
    assert_int_equal(fc_rollup_add(&r, 10, 1, "EC2", 100, 1), VX_OK);
    assert_int_equal(fc_rollup_add(&r, 11, 0, NULL, 7, 1), VX_OK);
    assert_int_equal(fc_rollup_add(&r, 12, 1, "EC2", 50, 1), VX_OK);
    assert_int_equal(fc_rollup_add(&r, 12, 2, "S3", 5, 1), VX_OK);
    fc_series s;
    fc_series_build(&r, 5, 15, &s);
    assert_int_equal(s.start_day, 10);
    assert_int_equal(s.n, 5);
    assert_int_equal(s.n_parts, 3);
    assert_string_equal(s.names[0], "EC2");
    assert_string_equal(s.names[1], "S3");
    assert_string_equal(s.names[2], FC_OTHER_NAME);
    const double ec2[5] = {100, 0, 50, 0, 0}, s3[5] = {0, 0, 5, 0, 0}, other[5] = {0, 7, 0, 0, 0};
    for (size_t d = 0; d < 5; d++) {
        assert_true(s.values[d] == ec2[d]);
        assert_true(s.values[5 + d] == s3[d]);
        assert_true(s.values[10 + d] == other[d]);
        assert_true(s.total[d] == ec2[d] + s3[d] + other[d]);
    }
    assert_true(s.part_spend[0] == 150 && s.part_spend[1] == 5 && s.part_spend[2] == 7);
    assert_true(s.total_spend == 162);
    fc_series_cleanup(&s);
    fc_rollup_cleanup(&r);

    /* no rows: nothing to forecast */
    fc_rollup_init(&r);
    fc_series_build(&r, 5, 15, &s);
    assert_int_equal(s.n, 0);
    assert_int_equal(s.n_parts, 0);
    fc_series_cleanup(&s);
    fc_rollup_cleanup(&r);
}

/* ---- forecasts ---- */

#define DAYS 400

/* Rollup rows for `k` services over DAYS days ending the day before TODAY: service i spends
 * shape(i, day) (an independent walk each, or shares of one walk when `correlated`). */
static void synthetic(fc_rollup *r, int k, bool correlated, bool with_other, uint64_t seed)
{
    static const char *const names[] = {"Compute", "Storage", "Database", "Network", "Analytics"};
    fc_rollup_init(r);
    snprintf(r->currency, sizeof r->currency, "USD");
    rng g = {seed};
    double level[8], base = 1000;
    for (int i = 0; i < 8; i++)
        level[i] = 1000.0 / (i + 1);
    int parts = k + (with_other ? 1 : 0);
    for (int d = 0; d < DAYS; d++) {
        base += 10 * normal(&g);
        double week = (d % 7 == 2 || d % 7 == 3) ? 0.8 : 1.05;
        for (int i = 0; i < parts; i++) {
            double v;
            if (correlated) {
                v = base * week * (0.4 / (i + 1));
            } else {
                level[i] += 0.01 * (1000.0 / (i + 1)) * normal(&g);
                v = level[i] * week + 0.01 * (1000.0 / (i + 1)) * normal(&g);
            }
            int rank = i < k ? i + 1 : 0;
            assert_int_equal(
                fc_rollup_add(r, TODAY - DAYS + d, (uint32_t)rank, rank ? names[i] : NULL, v, 10),
                VX_OK);
        }
    }
}

static Valdrix__V1__ForecastResult *run_reply(const fc_rollup *roll, uint32_t top, int threads,
                                              Valdrix__V1__ForecastReply **rep, void **bytes,
                                              size_t *len)
{
    fc_request req;
    request(FC_KIND_RUN, "2023-11-28", top, &req); /* 400 days before TODAY */
    fc_series s;
    fc_series_build(roll, req.scope.from_day, req.scope.to_day, &s);
    fc_fit_stats stats;
    char why[256] = "";
    if (fc_forecast_reply(&req, roll, &s, 7, threads, bytes, len, &stats, why, sizeof why) != VX_OK)
        fail_msg("%s", why);
    assert_int_equal(stats.fits, s.n_parts);
    fc_series_cleanup(&s);
    fc_request_cleanup(&req);
    *rep = valdrix__v1__forecast_reply__unpack(NULL, *len, *bytes);
    assert_non_null(*rep);
    assert_int_equal((*rep)->outcome_case, VALDRIX__V1__FORECAST_REPLY__OUTCOME_RESULT);
    return (*rep)->result;
}

/* Mean over the horizon of the total's interval width over the sum of the services' widths. */
static double width_ratio(const Valdrix__V1__ForecastResult *res)
{
    double ratio = 0;
    size_t H = res->total->n_points;
    for (size_t h = 0; h < H; h++) {
        double sum = 0;
        for (size_t i = 0; i < res->n_services; i++)
            sum += res->services[i]->points[h]->hi - res->services[i]->points[h]->lo;
        ratio += (res->total->points[h]->hi - res->total->points[h]->lo) / sum / (double)H;
    }
    return ratio;
}

static void test_forecast_total_is_the_sum_with_a_narrower_interval(void **state)
{
    (void)state;
    fc_rollup roll;
    synthetic(&roll, 4, false, true, 17);
    Valdrix__V1__ForecastReply *rep;
    void *bytes;
    size_t len;
    Valdrix__V1__ForecastResult *res = run_reply(&roll, 4, 2, &rep, &bytes, &len);
    assert_string_equal(res->tenant_id, TENANT);
    assert_string_equal(res->from, "2023-11-28");
    assert_string_equal(res->to, "2025-01-01");
    assert_string_equal(res->currency, "USD");
    assert_string_equal(res->cost, "effective");
    assert_int_equal(res->records, 10 * 5 * DAYS);
    assert_int_equal(res->data_version, 7);
    assert_false(res->cached);
    assert_int_equal(res->horizon_days, 30);
    assert_int_equal(res->n_services, 5);
    assert_string_equal(res->services[0]->service_name, "Compute");
    assert_string_equal(res->services[3]->service_name, "Network");
    assert_string_equal(res->services[4]->service_name, FC_OTHER_NAME);
    assert_string_equal(res->total->service_name, "");
    assert_string_equal(res->total->model, "sum");
    assert_true(res->total->backtest_mase > 0 && res->total->backtest_mase < 5);
    assert_non_null(strstr(res->total->note, "summed per origin and step"));
    double spend = 0;
    for (size_t i = 0; i < res->n_services; i++) {
        const Valdrix__V1__SeriesForecast *sv = res->services[i];
        assert_int_equal(sv->n_points, 30);
        assert_true(sv->model[0] != '\0' && strcmp(sv->model, "sum") != 0);
        assert_true(sv->history_total > 0);
        spend += sv->history_total;
    }
    assert_true(fabs(res->total->history_total - spend) < 1e-6 * spend);
    assert_int_equal(res->total->n_points, 30);
    assert_string_equal(res->total->points[0]->date, "2025-01-01");
    assert_string_equal(res->total->points[29]->date, "2025-01-30");
    for (size_t h = 0; h < 30; h++) {
        double sum = 0;
        for (size_t i = 0; i < res->n_services; i++)
            sum += res->services[i]->points[h]->yhat;
        const Valdrix__V1__ForecastPoint *p = res->total->points[h];
        assert_true(fabs(p->yhat - sum) <= 1e-9 * sum);
        assert_true(p->lo <= p->yhat && p->yhat <= p->hi && p->lo >= 0);
    }
    double ratio = width_ratio(res);
    fprintf(stderr, "independent services: total width / sum of widths = %.3f\n", ratio);
    assert_true(ratio < 0.85);
    assert_true(ratio > 0.2);

    /* the same with one fitting thread: the same bytes */
    Valdrix__V1__ForecastReply *rep1;
    void *bytes1;
    size_t len1;
    run_reply(&roll, 4, 1, &rep1, &bytes1, &len1);
    assert_int_equal(len1, len);
    assert_memory_equal(bytes1, bytes, len);
    valdrix__v1__forecast_reply__free_unpacked(rep1, NULL);
    vx_free(bytes1);

    /* a cached copy says so, and only that changes */
    void *marked;
    size_t mlen;
    /* an entry for another tenant or data version is never served */
    assert_int_equal(fc_mark_cached(FC_KIND_RUN, "00000000-0000-4000-8000-000000000000", 7, bytes,
                                    len, &marked, &mlen),
                     VX_INVALID);
    assert_int_equal(fc_mark_cached(FC_KIND_RUN, TENANT, 8, bytes, len, &marked, &mlen),
                     VX_INVALID);
    assert_int_equal(fc_mark_cached(FC_KIND_RUN, TENANT, 7, bytes, len, &marked, &mlen), VX_OK);
    Valdrix__V1__ForecastReply *mr = valdrix__v1__forecast_reply__unpack(NULL, mlen, marked);
    assert_true(mr->result->cached);
    mr->result->cached = false;
    uint8_t *again = vx_xmalloc(len);
    assert_int_equal(valdrix__v1__forecast_reply__pack(mr, again), len);
    assert_memory_equal(again, bytes, len);
    vx_free(again);
    valdrix__v1__forecast_reply__free_unpacked(mr, NULL);
    vx_free(marked);
    assert_int_equal(fc_mark_cached(FC_KIND_RUN, TENANT, 7, "\xff\xff", 2, &marked, &mlen),
                     VX_INVALID);

    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    vx_free(bytes);
    fc_rollup_cleanup(&roll);
}

static void test_forecast_correlated_services_keep_their_width(void **state)
{
    (void)state;
    fc_rollup roll;
    synthetic(&roll, 3, true, false, 5);
    Valdrix__V1__ForecastReply *rep;
    void *bytes;
    size_t len;
    Valdrix__V1__ForecastResult *res = run_reply(&roll, 5, 2, &rep, &bytes, &len);
    assert_int_equal(res->n_services, 3); /* three services, no "(other)" */
    double ratio = width_ratio(res);
    fprintf(stderr, "correlated services: total width / sum of widths = %.3f\n", ratio);
    assert_true(ratio > 0.9 && ratio < 1.1);
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    vx_free(bytes);
    fc_rollup_cleanup(&roll);
}

static void test_forecast_without_rows_is_zero(void **state)
{
    (void)state;
    fc_rollup roll;
    fc_rollup_init(&roll);
    Valdrix__V1__ForecastReply *rep;
    void *bytes;
    size_t len;
    Valdrix__V1__ForecastResult *res = run_reply(&roll, 5, 2, &rep, &bytes, &len);
    assert_int_equal(res->n_services, 0);
    assert_int_equal(res->records, 0);
    assert_string_equal(res->total->model, "sum");
    assert_true(res->total->fallback);
    assert_non_null(strstr(res->total->note, "no cost rows"));
    for (size_t h = 0; h < res->total->n_points; h++)
        assert_true(res->total->points[h]->yhat == 0 && res->total->points[h]->hi == 0);
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    vx_free(bytes);
    fc_rollup_cleanup(&roll);
}

/* ---- anomalies ---- */

static void test_forecast_anomalies_name_day_and_service(void **state)
{
    (void)state;
    fc_rollup roll;
    fc_rollup_init(&roll);
    snprintf(roll.currency, sizeof roll.currency, "USD");
    rng g = {3};
    /* 90 days; Storage jumps to 5x on day 60; Compute has a drop on day 75 */
    for (int d = 0; d < 90; d++) {
        double c = 1000 + 20 * normal(&g), st = 200 + 5 * normal(&g), o = 30 + normal(&g);
        if (d == 60)
            st *= 5;
        if (d == 75)
            c *= 0.3;
        int64_t day = TODAY - 90 + d;
        assert_int_equal(fc_rollup_add(&roll, day, 1, "Compute", c, 5), VX_OK);
        assert_int_equal(fc_rollup_add(&roll, day, 2, "Storage", st, 5), VX_OK);
        assert_int_equal(fc_rollup_add(&roll, day, 0, NULL, o, 5), VX_OK);
    }
    fc_request req;
    request(FC_KIND_ANOMALIES, NULL, 2, &req);
    fc_series s;
    fc_series_build(&roll, req.scope.from_day, req.scope.to_day, &s);
    void *bytes;
    size_t len;
    fc_fit_stats stats;
    assert_int_equal(fc_anomalies_reply(&req, &roll, &s, 3, &bytes, &len, &stats, NULL, 0), VX_OK);
    assert_int_equal(stats.fits, 3); /* the total and the two top services, not "(other)" */
    Valdrix__V1__AnomaliesReply *rep = valdrix__v1__anomalies_reply__unpack(NULL, len, bytes);
    assert_non_null(rep);
    assert_int_equal(rep->outcome_case, VALDRIX__V1__ANOMALIES_REPLY__OUTCOME_RESULT);
    const Valdrix__V1__AnomaliesResult *res = rep->result;
    assert_int_equal(res->records, 90 * 15);
    assert_int_equal(res->data_version, 3);
    char spike_day[11], drop_day[11];
    vx_contract_day_format(TODAY - 90 + 60, spike_day);
    vx_contract_day_format(TODAY - 90 + 75, drop_day);
    bool spike = false, drop = false, total_spike = false;
    for (size_t i = 0; i < res->n_anomalies; i++) {
        const Valdrix__V1__Anomaly *a = res->anomalies[i];
        if (i > 0) { /* by date, then service */
            int c = strcmp(res->anomalies[i - 1]->date, a->date);
            assert_true(c < 0 || (c == 0 && strcmp(res->anomalies[i - 1]->service_name,
                                                   a->service_name) <= 0));
        }
        assert_true(strcmp(a->service_name, FC_OTHER_NAME) != 0);
        if (strcmp(a->date, spike_day) == 0 && strcmp(a->service_name, "Storage") == 0) {
            spike = strcmp(a->kind, "spike") == 0;
            assert_true(a->actual > a->hi && a->score > 1);
        }
        if (strcmp(a->date, spike_day) == 0 && a->service_name[0] == '\0')
            total_spike = true;
        if (strcmp(a->date, drop_day) == 0 && strcmp(a->service_name, "Compute") == 0)
            drop = strcmp(a->kind, "drop") == 0;
        /* nothing else is flagged */
        assert_true(strcmp(a->date, spike_day) == 0 || strcmp(a->date, drop_day) == 0);
    }
    assert_true(spike);
    assert_true(drop);
    assert_true(total_spike);
    valdrix__v1__anomalies_reply__free_unpacked(rep, NULL);
    vx_free(bytes);
    fc_series_cleanup(&s);
    fc_request_cleanup(&req);
    fc_rollup_cleanup(&roll);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forecast_sql_uses_parameters_only),
        cmocka_unit_test(test_forecast_rollup_rows_are_checked),
        cmocka_unit_test(test_forecast_series_fill_missing_days_with_zero),
        cmocka_unit_test(test_forecast_total_is_the_sum_with_a_narrower_interval),
        cmocka_unit_test(test_forecast_correlated_services_keep_their_width),
        cmocka_unit_test(test_forecast_without_rows_is_zero),
        cmocka_unit_test(test_forecast_anomalies_name_day_and_service),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
