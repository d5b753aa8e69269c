/* Unit tests of the context an insight is written from (rows, focus, forecast-service replies),
 * the requests sent to the forecast service, and the InsightResult / InsightReply packing and
 * cache round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "handlers/answer.h"
#include "handlers/context.h"
#include "handlers/request.h"
#include "valdrix/v1/forecast.pb-c.h"
#include "valdrix/v1/insight.pb-c.h"
#include "vx/alloc.h"
#include "vx/pb.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define TENANT "0b7e5c1e-3f7a-4d8e-9a51-2f3c4d5e6f70"

static vx_money M(const char *s)
{
    vx_money m;
    assert_true(llm_money_from_text(s, &m));
    return m;
}

static void base_req(llm_req *r)
{
    memset(r, 0, sizeof *r);
    memcpy(r->scope.tenant_id, TENANT, sizeof r->scope.tenant_id);
    r->kind = VX_LLM_KIND_SUMMARY;
    memcpy(r->scope.from, "2026-02-01", 11);
    memcpy(r->scope.to, "2026-03-01", 11);
    assert_true(vx_contract_day_parse(r->scope.from, 10, &r->scope.from_day));
    assert_true(vx_contract_day_parse(r->scope.to, 10, &r->scope.to_day));
    r->focus_service = vx_xstrdup("");
    r->focus_account = vx_xstrdup("");
}

static void add(llm_rows *rows, const char *svc, const char *cur, const char *amount,
                const char *previous)
{
    llm_rows_add(rows, svc, NULL, cur, M(amount), M(previous), M("0"), M("0"));
}

static void test_llm_svc_context_totals_and_currency(void **state)
{
    (void)state;
    llm_req req;
    base_req(&req);
    llm_rows rows = {0};
    add(&rows, "EC2", "USD", "0.1", "0.3");
    add(&rows, "S3", "USD", "0.2", "0");
    add(&rows, "Compute", "EUR", "0.25", "0");
    llm_context c;
    char err[128];
    assert_int_equal(llm_context_build(&c, &req, &rows, NULL, err, sizeof err), VX_OK);
    assert_int_equal(rows.n, 0); /* taken over */
    /* USD has the most spend: 0.1 + 0.2 exactly, not 0.30000000000000004 */
    assert_string_equal(c.ctx.currency, "USD");
    assert_int_equal(c.ctx.total.units, 0);
    assert_int_equal(c.ctx.total.nanos, 300000000);
    assert_int_equal(c.ctx.previous_total.nanos, 300000000);
    assert_int_equal(c.ctx.n_services, 2);
    assert_string_equal(c.ctx.services[0].service, "S3");
    assert_string_equal(c.ctx.services[1].service, "EC2");
    /* movers by |amount - previous|: EC2 -0.2, S3 +0.2: tie broken by name */
    assert_int_equal(c.ctx.n_movers, 2);
    assert_string_equal(c.ctx.movers[0].service, "EC2");
    char why[256];
    assert_int_equal(vx_llm_context_check(&c.ctx, why, sizeof why), VX_OK);
    llm_context_cleanup(&c);

    /* the request's currency wins */
    memcpy(req.scope.currency, "EUR", 4);
    add(&rows, "EC2", "USD", "5", "0");
    add(&rows, "Compute", "EUR", "1", "0");
    assert_int_equal(llm_context_build(&c, &req, &rows, NULL, err, sizeof err), VX_OK);
    assert_string_equal(c.ctx.currency, "EUR");
    assert_int_equal(c.ctx.total.units, 1);
    assert_int_equal(c.ctx.n_services, 1);
    llm_context_cleanup(&c);
    llm_req_cleanup(&req);
}

static void test_llm_svc_context_no_spend(void **state)
{
    (void)state;
    llm_req req;
    base_req(&req);
    llm_rows rows = {0};
    llm_context c;
    char err[128];
    assert_int_equal(llm_context_build(&c, &req, &rows, NULL, err, sizeof err), VX_OK);
    assert_string_equal(c.ctx.currency, "USD");
    assert_int_equal(c.ctx.n_services, 0);
    assert_int_equal(c.ctx.n_notes, 1);
    assert_non_null(strstr(c.ctx.notes[0], "no spend"));
    char why[256];
    assert_int_equal(vx_llm_context_check(&c.ctx, why, sizeof why), VX_OK);
    llm_context_cleanup(&c);
    llm_req_cleanup(&req);
}

static void test_llm_svc_context_top_lines_and_focus(void **state)
{
    (void)state;
    llm_req req;
    base_req(&req);
    vx_free(req.focus_service);
    req.focus_service = vx_xstrdup("svc-00");
    llm_rows rows = {0}, focus = {0};
    for (int i = 0; i < 30; i++) {
        char name[16], amount[16], previous[16];
        snprintf(name, sizeof name, "svc-%02d", i);
        snprintf(amount, sizeof amount, "%d", i + 1);
        snprintf(previous, sizeof previous, "%d", (i % 3) * 10);
        add(&rows, name, "USD", amount, previous);
    }
    add(&rows, "gone", "USD", "0", "100"); /* stopped: a mover, not a top service */
    rows.truncated = true;
    llm_rows_add(&focus, "svc-00", NULL, "USD", M("1"), M("0"), M("0"), M("0"));
    llm_context c;
    char err[128];
    assert_int_equal(llm_context_build(&c, &req, &rows, &focus, err, sizeof err), VX_OK);
    assert_int_equal(c.ctx.n_services, VX_LLM_MAX_LINES);
    assert_string_equal(c.ctx.services[0].service, "svc-00"); /* the focus first */
    assert_string_equal(c.ctx.services[1].service, "svc-29"); /* then by amount */
    for (size_t i = 1; i < c.ctx.n_services; i++)
        assert_string_not_equal(c.ctx.services[i].service, "svc-00"); /* not twice */
    assert_int_equal(c.ctx.n_movers, VX_LLM_MAX_LINES);
    assert_string_equal(c.ctx.movers[0].service, "gone");
    assert_int_equal(c.ctx.total.units, 465); /* 1 + 2 + ... + 30 */
    assert_int_equal(c.ctx.n_notes, 1);
    assert_non_null(strstr(c.ctx.notes[0], "more services"));
    char why[256];
    assert_int_equal(vx_llm_context_check(&c.ctx, why, sizeof why), VX_OK);
    llm_context_cleanup(&c);
    llm_req_cleanup(&req);

    /* an account in focus: its line carries the account */
    base_req(&req);
    vx_free(req.focus_account);
    req.focus_account = vx_xstrdup("acct-1");
    add(&rows, "EC2", "USD", "3", "1");
    llm_rows_add(&focus, "all services", "acct-1", "USD", M("2"), M("1"), M("0"), M("0"));
    assert_int_equal(llm_context_build(&c, &req, &rows, &focus, err, sizeof err), VX_OK);
    assert_int_equal(c.ctx.n_services, 2);
    assert_string_equal(c.ctx.services[0].account, "acct-1");
    assert_null(c.ctx.services[1].account);
    vx_llm_insight in;
    assert_int_equal(vx_llm_local_write(&c.ctx, &in, why, sizeof why), VX_OK);
    bool focus_found = false;
    for (size_t i = 0; i < in.n_findings; i++)
        focus_found |= strstr(in.findings[i], "acct-1") != NULL;
    assert_true(focus_found);
    vx_llm_insight_cleanup(&in);
    llm_context_cleanup(&c);
    llm_req_cleanup(&req);
}

static uint8_t *anomalies_reply(size_t n, size_t *len)
{
    Valdrix__V1__Anomaly *a = vx_xcalloc(n, sizeof *a);
    Valdrix__V1__Anomaly **p = vx_xcalloc(n, sizeof *p);
    char(*dates)[11] = vx_xcalloc(n, 11);
    for (size_t i = 0; i < n; i++) {
        valdrix__v1__anomaly__init(&a[i]);
        snprintf(dates[i], 11, "2026-02-%02zu", 1 + i % 28);
        a[i].date = dates[i];
        a[i].service_name = vx_pb_str("EC2");
        a[i].kind = vx_pb_str("spike");
        a[i].severity = vx_pb_str("high");
        a[i].actual = 100 + (double)i;
        a[i].expected = 50;
        a[i].score = (double)i;
        p[i] = &a[i];
    }
    if (n > 2) {
        a[0].date = vx_pb_str("2026-02-30"); /* not a date */
        a[1].actual = NAN;
    }
    Valdrix__V1__AnomaliesResult res;
    valdrix__v1__anomalies_result__init(&res);
    res.anomalies = p;
    res.n_anomalies = n;
    Valdrix__V1__AnomaliesReply r;
    valdrix__v1__anomalies_reply__init(&r);
    r.outcome_case = VALDRIX__V1__ANOMALIES_REPLY__OUTCOME_RESULT;
    r.result = &res;
    *len = valdrix__v1__anomalies_reply__get_packed_size(&r);
    uint8_t *buf = vx_xmalloc(*len + 1);
    valdrix__v1__anomalies_reply__pack(&r, buf);
    vx_free(dates);
    vx_free(p);
    vx_free(a);
    return buf;
}

static void test_llm_svc_context_from_forecast_service(void **state)
{
    (void)state;
    llm_req req;
    base_req(&req);
    req.kind = VX_LLM_KIND_ANOMALY;
    llm_rows rows = {0};
    add(&rows, "EC2", "USD", "10", "5");
    llm_context c;
    char err[128], why[256];
    assert_int_equal(llm_context_build(&c, &req, &rows, NULL, err, sizeof err), VX_OK);
    size_t len;
    uint8_t *buf = anomalies_reply(80, &len);
    assert_true(llm_context_add_anomalies(&c, buf, len, why, sizeof why));
    vx_free(buf);
    /* the bad two dropped, then the 50 highest scores (29..79), in date order */
    assert_int_equal(c.ctx.n_anomalies, VX_LLM_MAX_ANOMALIES);
    for (size_t i = 0; i < c.ctx.n_anomalies; i++) {
        assert_true(c.ctx.anomalies[i].actual >= 100 + 30);
        if (i)
            assert_true(strcmp(c.ctx.anomalies[i - 1].date, c.ctx.anomalies[i].date) <= 0);
    }
    assert_int_equal(vx_llm_context_check(&c.ctx, why, sizeof why), VX_OK);

    /* garbage and errors are refused, with the reason */
    assert_false(
        llm_context_add_anomalies(&c, (const uint8_t *)"\xff\xff\xff", 3, why, sizeof why));
    Valdrix__V1__Error e;
    valdrix__v1__error__init(&e);
    e.code = VALDRIX__V1__ERROR__CODE__CODE_UNAVAILABLE;
    e.message = vx_pb_str("no rollup yet");
    Valdrix__V1__AnomaliesReply er;
    valdrix__v1__anomalies_reply__init(&er);
    er.outcome_case = VALDRIX__V1__ANOMALIES_REPLY__OUTCOME_ERROR;
    er.error = &e;
    uint8_t ebuf[256];
    len = valdrix__v1__anomalies_reply__pack(&er, ebuf);
    assert_false(llm_context_add_anomalies(&c, ebuf, len, why, sizeof why));
    assert_string_equal(why, "no rollup yet");

    /* a forecast: sums over the total series */
    Valdrix__V1__ForecastPoint pts[3], *pp[3];
    for (int i = 0; i < 3; i++) {
        valdrix__v1__forecast_point__init(&pts[i]);
        pts[i].yhat = 10;
        pts[i].lo = 8;
        pts[i].hi = 13;
        pp[i] = &pts[i];
    }
    Valdrix__V1__SeriesForecast total;
    valdrix__v1__series_forecast__init(&total);
    total.points = pp;
    total.n_points = 3;
    Valdrix__V1__ForecastResult fr;
    valdrix__v1__forecast_result__init(&fr);
    fr.total = &total;
    Valdrix__V1__ForecastReply f;
    valdrix__v1__forecast_reply__init(&f);
    f.outcome_case = VALDRIX__V1__FORECAST_REPLY__OUTCOME_RESULT;
    f.result = &fr;
    uint8_t fbuf[512];
    len = valdrix__v1__forecast_reply__pack(&f, fbuf);
    assert_true(llm_context_add_forecast(&c, fbuf, len, why, sizeof why));
    assert_non_null(c.ctx.forecast);
    assert_int_equal(c.ctx.forecast->horizon_days, 3);
    assert_true(fabs(c.ctx.forecast->total - 30) < 1e-9);
    assert_true(fabs(c.ctx.forecast->lo - 24) < 1e-9);
    assert_true(fabs(c.ctx.forecast->hi - 39) < 1e-9);
    pts[1].hi = INFINITY;
    len = valdrix__v1__forecast_reply__pack(&f, fbuf);
    llm_context c2;
    llm_rows none = {0};
    assert_int_equal(llm_context_build(&c2, &req, &none, NULL, err, sizeof err), VX_OK);
    assert_false(llm_context_add_forecast(&c2, fbuf, len, why, sizeof why));
    assert_null(c2.ctx.forecast);
    llm_context_cleanup(&c2);
    llm_context_cleanup(&c);
    llm_req_cleanup(&req);
}

static void test_llm_svc_context_forecast_requests(void **state)
{
    (void)state;
    llm_req req;
    base_req(&req);
    char ec2[] = "EC2";
    char *svc[] = {ec2};
    req.scope.filter[VX_CONTRACT_FILTER_SERVICE] = svc;
    req.scope.n_filter[VX_CONTRACT_FILTER_SERVICE] = 1;
    req.scope.cost = VX_CONTRACT_COST_BILLED;
    size_t len;
    uint8_t *buf = llm_anomalies_request_pack(&req, "EUR", &len);
    Valdrix__V1__AnomaliesRequest *a = valdrix__v1__anomalies_request__unpack(NULL, len, buf);
    assert_non_null(a);
    assert_string_equal(a->scope->tenant_id, TENANT);
    assert_string_equal(a->scope->from, "2026-02-01");
    assert_string_equal(a->scope->to, "2026-03-01");
    assert_string_equal(a->scope->currency, "EUR");
    assert_string_equal(a->scope->cost, "billed");
    assert_int_equal(a->scope->n_service_names, 1);
    assert_string_equal(a->scope->service_names[0], "EC2");
    valdrix__v1__anomalies_request__free_unpacked(a, NULL);
    vx_free(buf);
    buf = llm_forecast_request_pack(&req, "EUR", &len);
    Valdrix__V1__ForecastRequest *f = valdrix__v1__forecast_request__unpack(NULL, len, buf);
    assert_non_null(f);
    assert_int_equal(f->horizon_days, 30);
    assert_string_equal(f->scope->from, ""); /* the forecast service's own history */
    assert_string_equal(f->scope->to, "2026-03-01");
    valdrix__v1__forecast_request__free_unpacked(f, NULL);
    vx_free(buf);
    req.scope.filter[VX_CONTRACT_FILTER_SERVICE] = NULL;
    req.scope.n_filter[VX_CONTRACT_FILTER_SERVICE] = 0;
    llm_req_cleanup(&req);
}

static void answer_of(llm_answer *a)
{
    memset(a, 0, sizeof *a);
    memcpy(a->tenant_id, TENANT, 37);
    memcpy(a->from, "2026-02-01", 11);
    memcpy(a->to, "2026-03-01", 11);
    a->kind = VX_LLM_KIND_ANOMALY;
    memcpy(a->currency, "USD", 4);
    const char *json = "{\"summary\":\"Spend rose.\",\"findings\":[\"EC2 doubled.\"],"
                       "\"recommendations\":[{\"action\":\"Review EC2\",\"target\":\"EC2\","
                       "\"estimated_monthly_savings\":12.5,\"priority\":\"medium\","
                       "\"confidence\":0.7}]}";
    char why[256];
    assert_int_equal(vx_llm_insight_parse(json, strlen(json), &a->insight, why, sizeof why), VX_OK);
    snprintf(a->provider, sizeof a->provider, "openai");
    snprintf(a->model, sizeof a->model, "gpt-4o-mini");
    a->data_version = 7;
    snprintf(a->prompt_version, sizeof a->prompt_version, "%s", VX_LLM_PROMPT_VERSION);
    a->input_tokens = 1200;
    a->output_tokens = 300;
    a->cost_micro_usd = 360;
    llm_answer_note(a, "the forecast service did not answer in time");
}

static void test_llm_svc_answer_cache_round_trip(void **state)
{
    (void)state;
    llm_answer a, b;
    answer_of(&a);
    size_t len;
    uint8_t *buf = llm_answer_pack(&a, &len);
    assert_int_equal(llm_answer_unpack(buf, len, &b), VX_OK);
    vx_free(buf);
    assert_string_equal(b.tenant_id, TENANT);
    assert_string_equal(b.to, "2026-03-01");
    assert_int_equal(b.kind, VX_LLM_KIND_ANOMALY);
    assert_string_equal(b.provider, "openai");
    assert_int_equal(b.data_version, 7);
    assert_int_equal(b.cost_micro_usd, 360);
    assert_string_equal(b.insight.summary, "Spend rose.");
    assert_int_equal(b.insight.n_recommendations, 1);
    assert_int_equal(b.insight.recommendations[0].priority, VX_LLM_PRIORITY_MEDIUM);
    assert_true(b.insight.recommendations[0].estimated_monthly_savings == 12.5);
    assert_int_equal(b.n_notes, 1);
    llm_answer_cleanup(&b);

    /* the reply the edge decodes */
    buf = llm_reply_result(&a, &len);
    Valdrix__V1__InsightReply *r = valdrix__v1__insight_reply__unpack(NULL, len, buf);
    assert_non_null(r);
    assert_int_equal(r->outcome_case, VALDRIX__V1__INSIGHT_REPLY__OUTCOME_RESULT);
    assert_string_equal(r->result->kind, "anomaly");
    assert_int_equal(r->result->cost_usd->units, 0);
    assert_int_equal(r->result->cost_usd->nanos, 360000);
    assert_string_equal(r->result->insight->recommendations[0]->priority, "medium");
    valdrix__v1__insight_reply__free_unpacked(r, NULL);
    vx_free(buf);

    /* an unsound cached value is refused */
    vx_free(a.insight.recommendations[0].target);
    a.insight.recommendations[0].target = vx_xstrdup("");
    buf = llm_answer_pack(&a, &len);
    assert_int_equal(llm_answer_unpack(buf, len, &b), VX_INVALID);
    vx_free(buf);
    assert_int_equal(llm_answer_unpack((const uint8_t *)"\x0a\xff", 2, &b), VX_INVALID);
    llm_answer_cleanup(&a);

    buf = vx_contract_reply_error(&valdrix__v1__insight_reply__descriptor,
                                  VALDRIX__V1__ERROR__CODE__CODE_BUDGET, "budget used up", &len);
    r = valdrix__v1__insight_reply__unpack(NULL, len, buf);
    assert_int_equal(r->outcome_case, VALDRIX__V1__INSIGHT_REPLY__OUTCOME_ERROR);
    assert_int_equal(r->error->code, VALDRIX__V1__ERROR__CODE__CODE_BUDGET);
    assert_string_equal(r->error->message, "budget used up");
    valdrix__v1__insight_reply__free_unpacked(r, NULL);
    vx_free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llm_svc_context_totals_and_currency),
        cmocka_unit_test(test_llm_svc_context_no_spend),
        cmocka_unit_test(test_llm_svc_context_top_lines_and_focus),
        cmocka_unit_test(test_llm_svc_context_from_forecast_service),
        cmocka_unit_test(test_llm_svc_context_forecast_requests),
        cmocka_unit_test(test_llm_svc_answer_cache_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
