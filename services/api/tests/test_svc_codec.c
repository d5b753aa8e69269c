/* Unit tests of the edge's side of the forecast and llm contracts: bodies and parameters become
 * the right protobuf requests with the key's tenant (never the body's), bad input is refused by
 * name, and replies become JSON answers or the problems their Error codes map to. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "handlers/svc_codec.h"
#include "valdrix/v1/forecast.pb-c.h"
#include "valdrix/v1/insight.pb-c.h"
#include "vx/alloc.h"
#include "vx/pb.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#define TENANT "0b6c4e52-3d43-4b6e-9a39-6f1f0a7f6a01"

static Valdrix__V1__ForecastRequest *forecast_req(const char *body)
{
    uint8_t *out = NULL;
    size_t len = 0;
    api_refusal why;
    assert_int_equal(api_forecast_request_encode(body, strlen(body), TENANT, &out, &len, &why),
                     VX_OK);
    Valdrix__V1__ForecastRequest *r = valdrix__v1__forecast_request__unpack(NULL, len, out);
    vx_free(out);
    assert_non_null(r);
    return r;
}

static void refused(const char *body, const char *param, const char *detail_part)
{
    uint8_t *out = NULL;
    size_t len = 0;
    api_refusal why;
    assert_int_equal(api_forecast_request_encode(body, strlen(body), TENANT, &out, &len, &why),
                     VX_INVALID);
    assert_null(out);
    assert_string_equal(why.param, param);
    if (strstr(why.detail, detail_part) == NULL)
        fail_msg("detail \"%s\" lacks \"%s\"", why.detail, detail_part);
}

static void test_forecast_body_to_request(void **state)
{
    (void)state;
    Valdrix__V1__ForecastRequest *r =
        forecast_req("{\"from\":\"2025-01-01\",\"to\":\"2026-01-01\",\"horizon_days\":60,"
                     "\"level\":0.9,\"top_services\":3,\"service\":[\"EC2\",\"S3\"],"
                     "\"account\":\"acct-1\",\"currency\":\"EUR\",\"cost\":\"billed\"}");
    assert_string_equal(r->scope->tenant_id, TENANT);
    assert_string_equal(r->scope->from, "2025-01-01");
    assert_string_equal(r->scope->to, "2026-01-01");
    assert_int_equal(r->horizon_days, 60);
    assert_true(fabs(r->level - 0.9) < 1e-12);
    assert_int_equal(r->top_services, 3);
    assert_int_equal(r->scope->n_service_names, 2);
    assert_string_equal(r->scope->service_names[1], "S3");
    assert_int_equal(r->scope->n_sub_account_ids, 1);
    assert_string_equal(r->scope->sub_account_ids[0], "acct-1");
    assert_int_equal(r->scope->n_providers, 0);
    assert_string_equal(r->scope->currency, "EUR");
    assert_string_equal(r->scope->cost, "billed");
    valdrix__v1__forecast_request__free_unpacked(r, NULL);

    /* no body: defaults are the service's to choose */
    r = forecast_req("  \n");
    assert_string_equal(r->scope->tenant_id, TENANT);
    assert_string_equal(r->scope->from, "");
    assert_int_equal(r->horizon_days, 0);
    valdrix__v1__forecast_request__free_unpacked(r, NULL);
}

static void test_forecast_body_refusals_name_the_field(void **state)
{
    (void)state;
    refused("{\"tenant_id\":\"" TENANT "\"}", "tenant_id", "unknown field");
    refused("{\"from\":\"2025-13-01\"}", "from", "YYYY-MM-DD");
    refused("{\"to\":\"2025-01-01T00:00:00Z\"}", "to", "YYYY-MM-DD");
    refused("{\"horizon_days\":0}", "horizon_days", "1 to 366");
    refused("{\"horizon_days\":\"30\"}", "horizon_days", "integer");
    refused("{\"level\":1}", "level", "between 0 and 1");
    refused("{\"top_services\":21}", "top_services", "1 to 20");
    refused("{\"service\":[]}", "service", "array of 1 to 50");
    refused("{\"service\":[\"a\",7]}", "service", "string");
    refused("{\"service\":\"a\\nb\"}", "service", "printable");
    refused("{\"currency\":\"usd\"}", "currency", "ISO 4217");
    refused("{\"cost\":\"amortized\"}", "cost", "effective, billed or list");
    refused("[1,2]", "body", "JSON object");
    refused("{\"from\":", "body", "not JSON");
    refused("{\"to\":\"2025-01-01\",\"to\":\"2025-02-01\"}", "body", "not JSON");
}

typedef struct {
    const char *kv[16];
} params;

static const char *get(void *ctx, const char *name)
{
    params *p = ctx;
    for (int i = 0; p->kv[i]; i += 2)
        if (strcmp(p->kv[i], name) == 0)
            return p->kv[i + 1];
    return NULL;
}

static void test_anomalies_params_and_insight_body(void **state)
{
    (void)state;
    params p = {{"from", "2025-03-01", "service", "EC2", "min_abs", "10", "min_rel", "0.5",
                 "top_services", "4", NULL}};
    uint8_t *out = NULL;
    size_t len = 0;
    api_refusal why;
    assert_int_equal(api_anomalies_request_encode(get, &p, TENANT, &out, &len, &why), VX_OK);
    Valdrix__V1__AnomaliesRequest *a = valdrix__v1__anomalies_request__unpack(NULL, len, out);
    vx_free(out);
    assert_non_null(a);
    assert_string_equal(a->scope->tenant_id, TENANT);
    assert_string_equal(a->scope->from, "2025-03-01");
    assert_string_equal(a->scope->service_names[0], "EC2");
    assert_true(a->min_abs == 10 && a->min_rel == 0.5 && a->top_services == 4);
    valdrix__v1__anomalies_request__free_unpacked(a, NULL);

    params bad = {{"top_services", "2.5", NULL}};
    assert_int_equal(api_anomalies_request_encode(get, &bad, TENANT, &out, &len, &why), VX_INVALID);
    assert_string_equal(why.param, "top_services");
    params bad2 = {{"min_rel", "-1", NULL}};
    assert_int_equal(api_anomalies_request_encode(get, &bad2, TENANT, &out, &len, &why),
                     VX_INVALID);
    assert_string_equal(why.param, "min_rel");

    const char *body = "{\"kind\":\"anomaly\",\"focus_service\":\"EC2\",\"from\":\"2025-03-01\"}";
    assert_int_equal(api_insight_request_encode(body, strlen(body), TENANT, &out, &len, &why),
                     VX_OK);
    Valdrix__V1__InsightRequest *i = valdrix__v1__insight_request__unpack(NULL, len, out);
    vx_free(out);
    assert_non_null(i);
    assert_int_equal(i->kind, VALDRIX__V1__INSIGHT_REQUEST__KIND__KIND_ANOMALY);
    assert_string_equal(i->focus_service, "EC2");
    assert_string_equal(i->scope->tenant_id, TENANT);
    valdrix__v1__insight_request__free_unpacked(i, NULL);
    body = "{\"kind\":\"poem\"}";
    assert_int_equal(api_insight_request_encode(body, strlen(body), TENANT, &out, &len, &why),
                     VX_INVALID);
    assert_string_equal(why.param, "kind");
}

static uint8_t *pack_forecast_error(int code, char *msg, size_t *len)
{
    Valdrix__V1__Error e = VALDRIX__V1__ERROR__INIT;
    e.code = code;
    e.message = msg;
    Valdrix__V1__ForecastReply r = VALDRIX__V1__FORECAST_REPLY__INIT;
    r.outcome_case = VALDRIX__V1__FORECAST_REPLY__OUTCOME_ERROR;
    r.error = &e;
    *len = valdrix__v1__forecast_reply__get_packed_size(&r);
    uint8_t *b = vx_xmalloc(*len);
    valdrix__v1__forecast_reply__pack(&r, b);
    return b;
}

static void test_error_codes_map_to_http(void **state)
{
    (void)state;
    struct {
        int code, status;
        const char *type;
    } cases[] = {
        {VALDRIX__V1__ERROR__CODE__CODE_INVALID, 400, "invalid-request"},
        {VALDRIX__V1__ERROR__CODE__CODE_BUDGET, 402, "budget-exceeded"},
        {VALDRIX__V1__ERROR__CODE__CODE_TOO_LARGE, 413, "too-large"},
        {VALDRIX__V1__ERROR__CODE__CODE_LIMITED, 429, "rate-limited"},
        {VALDRIX__V1__ERROR__CODE__CODE_UNAVAILABLE, 503, "unavailable"},
        {VALDRIX__V1__ERROR__CODE__CODE_DEADLINE, 504, "deadline"},
        {VALDRIX__V1__ERROR__CODE__CODE_INTERNAL, 500, "internal"},
        {VALDRIX__V1__ERROR__CODE__CODE_UNSPECIFIED, 500, "internal"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t len;
        char msg[] = "what went wrong";
        uint8_t *b = pack_forecast_error(cases[k].code, msg, &len);
        api_svc_answer a;
        api_forecast_reply_decode(b, len, TENANT, &a);
        vx_free(b);
        assert_int_equal(a.status, cases[k].status);
        assert_string_equal(a.problem_type, cases[k].type);
        assert_null(a.json);
        assert_non_null(strstr(a.detail, "what went wrong"));
    }
    /* garbage and empty replies are the service's fault: 502 */
    api_svc_answer a;
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0x01};
    api_forecast_reply_decode(junk, sizeof junk, TENANT, &a);
    assert_int_equal(a.status, 502);
    api_insight_reply_decode(NULL, 0, TENANT, &a);
    assert_int_equal(a.status, 502);
    assert_non_null(strstr(a.detail, "neither a result nor an error"));
}

static void test_forecast_reply_to_json(void **state)
{
    (void)state;
    Valdrix__V1__ForecastPoint p1 = VALDRIX__V1__FORECAST_POINT__INIT, p2 = p1;
    p1.date = vx_pb_str("2026-01-01");
    p1.yhat = 10.5;
    p1.lo = 8;
    p1.hi = 13;
    p2.date = vx_pb_str("2026-01-02");
    p2.yhat = NAN; /* not JSON: rendered as null */
    Valdrix__V1__ForecastPoint *pts[] = {&p1, &p2};
    Valdrix__V1__SeriesForecast total = VALDRIX__V1__SERIES_FORECAST__INIT, svc;
    total.model = vx_pb_str("sum");
    total.n_points = 2;
    total.points = pts;
    svc = total;
    svc.service_name = vx_pb_str("EC2 \"quoted\"");
    svc.model = vx_pb_str("trend");
    Valdrix__V1__SeriesForecast *svcs[] = {&svc};
    Valdrix__V1__ForecastResult res = VALDRIX__V1__FORECAST_RESULT__INIT;
    res.tenant_id = vx_pb_str(TENANT);
    res.currency = vx_pb_str("USD");
    res.records = 12345;
    res.total = &total;
    res.n_services = 1;
    res.services = svcs;
    Valdrix__V1__ForecastReply r = VALDRIX__V1__FORECAST_REPLY__INIT;
    r.outcome_case = VALDRIX__V1__FORECAST_REPLY__OUTCOME_RESULT;
    r.result = &res;
    size_t len = valdrix__v1__forecast_reply__get_packed_size(&r);
    uint8_t *b = vx_xmalloc(len);
    valdrix__v1__forecast_reply__pack(&r, b);
    api_svc_answer a;
    api_forecast_reply_decode(b, len, TENANT, &a);
    vx_free(b);
    assert_int_equal(a.status, 200);
    json_t *j = json_loads(a.json, 0, NULL);
    vx_free(a.json);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "records")), 12345);
    json_t *s0 = json_array_get(json_object_get(j, "services"), 0);
    assert_string_equal(json_string_value(json_object_get(s0, "service")), "EC2 \"quoted\"");
    json_t *tp = json_object_get(json_object_get(j, "total"), "points");
    assert_int_equal(json_array_size(tp), 2);
    assert_true(json_real_value(json_object_get(json_array_get(tp, 0), "yhat")) == 10.5);
    assert_true(json_is_null(json_object_get(json_array_get(tp, 1), "yhat")));
    assert_null(json_object_get(json_object_get(j, "total"), "service"));
    json_decref(j);
}

#define OTHER "7d2f0c1e-8a4b-4c3d-9e5f-0a1b2c3d4e5f"

/* A result for another tenant than the caller's is never passed on: 502, flagged. */
static void test_reply_for_another_tenant_is_refused(void **state)
{
    (void)state;
    Valdrix__V1__SeriesForecast total = VALDRIX__V1__SERIES_FORECAST__INIT;
    total.model = vx_pb_str("sum");
    Valdrix__V1__ForecastResult fres = VALDRIX__V1__FORECAST_RESULT__INIT;
    fres.total = &total;
    fres.records = 7;
    Valdrix__V1__ForecastReply fr = VALDRIX__V1__FORECAST_REPLY__INIT;
    fr.outcome_case = VALDRIX__V1__FORECAST_REPLY__OUTCOME_RESULT;
    fr.result = &fres;
    Valdrix__V1__AnomaliesResult ares = VALDRIX__V1__ANOMALIES_RESULT__INIT;
    Valdrix__V1__AnomaliesReply ar = VALDRIX__V1__ANOMALIES_REPLY__INIT;
    ar.outcome_case = VALDRIX__V1__ANOMALIES_REPLY__OUTCOME_RESULT;
    ar.result = &ares;
    Valdrix__V1__Insight in = VALDRIX__V1__INSIGHT__INIT;
    in.summary = vx_pb_str("Spend rose.");
    Valdrix__V1__InsightResult ires = VALDRIX__V1__INSIGHT_RESULT__INIT;
    ires.insight = &in;
    Valdrix__V1__InsightReply ir = VALDRIX__V1__INSIGHT_REPLY__INIT;
    ir.outcome_case = VALDRIX__V1__INSIGHT_REPLY__OUTCOME_RESULT;
    ir.result = &ires;
    /* the caller's own tenant, another one, and none at all */
    const char *tenants[] = {TENANT, OTHER, ""};
    for (int t = 0; t < 3; t++) {
        fres.tenant_id = ares.tenant_id = ires.tenant_id = vx_pb_str(tenants[t]);
        uint8_t buf[3][1024];
        size_t len[3] = {valdrix__v1__forecast_reply__pack(&fr, buf[0]),
                         valdrix__v1__anomalies_reply__pack(&ar, buf[1]),
                         valdrix__v1__insight_reply__pack(&ir, buf[2])};
        for (int k = 0; k < 3; k++) {
            api_svc_answer a;
            memset(&a, 0x5a, sizeof a); /* nothing may be left over from an earlier answer */
            if (k == 0)
                api_forecast_reply_decode(buf[k], len[k], TENANT, &a);
            else if (k == 1)
                api_anomalies_reply_decode(buf[k], len[k], TENANT, &a);
            else
                api_insight_reply_decode(buf[k], len[k], TENANT, &a);
            if (t == 0) {
                assert_int_equal(a.status, 200);
                assert_false(a.wrong_tenant);
                assert_non_null(strstr(a.json, TENANT));
                vx_free(a.json);
                continue;
            }
            assert_int_equal(a.status, 502);
            assert_null(a.json);
            assert_true(a.wrong_tenant);
            assert_string_equal(a.problem_type, "bad-reply");
            assert_non_null(strstr(a.detail, "a result for another tenant"));
            assert_string_equal(a.reply_tenant, tenants[t]);
            /* the other tenant's id is for the log, never for the caller */
            assert_null(strstr(a.detail, OTHER));
        }
    }
    /* an Error reply carries no tenant and is not one */
    size_t elen;
    char msg[] = "busy";
    uint8_t *b = pack_forecast_error(VALDRIX__V1__ERROR__CODE__CODE_UNAVAILABLE, msg, &elen);
    api_svc_answer a;
    memset(&a, 0x5a, sizeof a);
    api_forecast_reply_decode(b, elen, TENANT, &a);
    vx_free(b);
    assert_int_equal(a.status, 503);
    assert_false(a.wrong_tenant);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forecast_body_to_request),
        cmocka_unit_test(test_forecast_body_refusals_name_the_field),
        cmocka_unit_test(test_anomalies_params_and_insight_body),
        cmocka_unit_test(test_error_codes_map_to_http),
        cmocka_unit_test(test_forecast_reply_to_json),
        cmocka_unit_test(test_reply_for_another_tenant_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
