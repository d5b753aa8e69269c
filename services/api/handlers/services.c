/* POST /v1/forecasts, GET /v1/costs/anomalies and POST /v1/insights: the request becomes a
 * protobuf message (svc_codec.h; the tenant from the API key) sent to the forecast or llm
 * service over NATS with a deadline, and the protobuf reply becomes the JSON answer or, for an
 * Error reply, the problem its code maps to. A result for another tenant than the caller's is
 * a 502, logged and counted, never passed on. Until a service runs, nothing answers its subject
 * and the edge says 503. */
#include "handlers.h"
#include "svc_codec.h"

#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/contract.h"
#include "vx/log.h"

#include <stdio.h>
#include <string.h>

/* The service's subject for this route into buf. */
static const char *subject_of(const api_call *c, char *buf, size_t cap)
{
    const api_config *cfg = c->ctx->cfg;
    switch (c->route) {
    case ROUTE_FORECASTS:
        snprintf(buf, cap, "%s.run", cfg->forecast_subject);
        break;
    case ROUTE_ANOMALIES:
        snprintf(buf, cap, "%s.anomalies", cfg->forecast_subject);
        break;
    default:
        snprintf(buf, cap, "%s", cfg->llm_subject);
        break;
    }
    return buf;
}

static const char *param(void *arg, const char *name)
{
    const char *v = NULL;
    return vx_http_request_query(arg, name, &v) == VX_OK ? v : NULL;
}

static vx_status encode(api_call *c, uint8_t **out, size_t *out_len, api_refusal *why)
{
    static const char *const names[] = {"from",    "to",       "service",     "region",
                                        "account", "provider", "currency",    "cost",
                                        "min_abs", "min_rel",  "top_services"};
    for (size_t i = 0; c->route == ROUTE_ANOMALIES && i < sizeof names / sizeof names[0]; i++) {
        const char *v;
        if (vx_http_request_query(c->req, names[i], &v) == VX_INVALID) {
            snprintf(why->param, sizeof why->param, "%s", names[i]);
            snprintf(why->detail, sizeof why->detail, "bad percent-encoding");
            return VX_INVALID;
        }
    }
    size_t len;
    const char *body = vx_http_request_body(c->req, &len);
    switch (c->route) {
    case ROUTE_FORECASTS:
        return api_forecast_request_encode(body, len, c->key.tenant_id, out, out_len, why);
    case ROUTE_ANOMALIES:
        return api_anomalies_request_encode(param, c->req, c->key.tenant_id, out, out_len, why);
    default:
        return api_insight_request_encode(body, len, c->key.tenant_id, out, out_len, why);
    }
}

/* The reply as the answer for the caller, whose verified tenant it must be for. */
static void decode(api_call *c, const void *reply, size_t len, api_svc_answer *a)
{
    switch (c->route) {
    case ROUTE_FORECASTS:
        api_forecast_reply_decode(reply, len, c->key.tenant_id, a);
        break;
    case ROUTE_ANOMALIES:
        api_anomalies_reply_decode(reply, len, c->key.tenant_id, a);
        break;
    default:
        api_insight_reply_decode(reply, len, c->key.tenant_id, a);
        break;
    }
}

static const char *const svc_names[2] = {"forecast", "llm"};

static double breaker_open(void *arg)
{
    return vx_breaker_state_at(arg, vx_mono_ms()) == VX_BREAKER_OPEN ? 1 : 0;
}

void api_services_init(api_ctx *ctx)
{
    for (int i = 0; i < 2; i++) {
        ctx->svc_breaker[i] = vx_breaker_create(svc_names[i], NULL);
        char l[48];
        snprintf(l, sizeof l, "service=\"%s\"", svc_names[i]);
        ctx->svc_wrong_tenant[i] = vx_metrics_counter(
            ctx->metrics, "valdrix_api_service_wrong_tenant_total",
            "Service results for another tenant than the caller's, refused with 502", l);
        vx_metrics_gauge_fn(ctx->metrics, "valdrix_api_service_breaker_open",
                            "1 while the edge stops asking a service that timed out or failed", l,
                            breaker_open, ctx->svc_breaker[i]);
    }
}

void api_services_cleanup(api_ctx *ctx)
{
    for (int i = 0; i < 2; i++)
        vx_breaker_destroy(ctx->svc_breaker[i]);
}

static void service_job(api_call *c)
{
    int svc = c->route == ROUTE_INSIGHTS ? API_SVC_LLM : API_SVC_FORECAST;
    vx_breaker *br = c->ctx->svc_breaker[svc];
    uint8_t *msg = NULL;
    size_t msg_len = 0;
    api_refusal why;
    if (encode(c, &msg, &msg_len, &why) != VX_OK) {
        if (c->route == ROUTE_ANOMALIES)
            api_set_problem(c, 400, "invalid-parameter", "Invalid parameter", "%s: %s", why.param,
                            why.detail);
        else
            api_set_problem(c, 400, "invalid-body", "Invalid body", "%s: %s", why.param,
                            why.detail);
        return;
    }
    if (atomic_fetch_add(&c->ctx->service_calls, 1) >= c->ctx->max_service_calls) {
        atomic_fetch_sub(&c->ctx->service_calls, 1);
        vx_free(msg);
        api_set_problem(c, 503, "unavailable", "Service unavailable",
                        "too many forecast and insight requests in progress; try again shortly");
        c->retry_after_s = 2;
        return;
    }
    /* from here on the service is asked, and the breaker is told how that went */
    if (!vx_breaker_allow(br, vx_mono_ms())) {
        atomic_fetch_sub(&c->ctx->service_calls, 1);
        vx_free(msg);
        api_set_problem(c, 503, "unavailable", "Service unavailable",
                        "the %s service timed out or failed repeatedly; not asking it for a few "
                        "seconds",
                        svc_names[svc]);
        c->retry_after_s = 5;
        return;
    }
    char traceparent[VX_TRACEPARENT_LEN + 1];
    vx_trace child;
    vx_trace_child(vx_http_request_trace(c->req), &child);
    vx_trace_format(&child, traceparent);
    /* The absolute deadline also covers the time a request waits in the service's queue; the
     * relative one stays for services that do not read it yet. */
    char deadline[24], deadline_at[VX_DEADLINE_TEXT_MAX];
    snprintf(deadline, sizeof deadline, "%lld", (long long)c->ctx->cfg->service_timeout_ms);
    vx_deadline_format(vx_wall_ms() + c->ctx->cfg->service_timeout_ms, deadline_at);
    vx_bus_header h[] = {{"traceparent", traceparent},
                         {VX_DEADLINE_AT_HEADER, deadline_at},
                         {VX_DEADLINE_MS_HEADER, deadline}};
    void *reply = NULL;
    size_t reply_len = 0;
    char subject_buf[256];
    const char *subject = subject_of(c, subject_buf, sizeof subject_buf);
    vx_status st = vx_bus_request(c->ctx->bus, subject, msg, msg_len, h, 3,
                                  c->ctx->cfg->service_timeout_ms, &reply, &reply_len);
    atomic_fetch_sub(&c->ctx->service_calls, 1);
    vx_free(msg);
    if (st == VX_OK) {
        api_svc_answer a;
        decode(c, reply, reply_len, &a);
        vx_free(reply);
        if (a.wrong_tenant) {
            vx_counter_inc(c->ctx->svc_wrong_tenant[svc]);
            vx_log(VX_LOG_ERROR, "service result for another tenant refused",
                   VX_STR("service", svc_names[svc]), VX_STR("subject", subject),
                   VX_STR("tenant_id", c->key.tenant_id), VX_STR("reply_tenant_id", a.reply_tenant),
                   VX_STR("trace_id", child.trace_id));
        }
        vx_breaker_record(br, a.status != 502, vx_mono_ms());
        if (a.status == 200) {
            api_set_json(c, 200, a.json);
        } else {
            api_set_problem(c, a.status, a.problem_type, a.problem_title, "%s", a.detail);
            if (a.status == 503)
                c->retry_after_s = 5;
        }
        return;
    }
    const char *service = svc_names[svc];
    vx_breaker_record(br, false, vx_mono_ms());
    if (st == VX_TIMEOUT) {
        api_set_problem(c, 504, "deadline", "Deadline exceeded",
                        "the %s service did not answer within %lld ms", service,
                        (long long)c->ctx->cfg->service_timeout_ms);
    } else {
        api_set_problem(c, 503, "unavailable", "Service unavailable",
                        "the %s service is not running (nothing answers %s)", service, subject);
        c->retry_after_s = 30;
    }
}

void handle_service(api_call *c)
{
    api_run_job(c, service_job);
}
