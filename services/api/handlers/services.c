/* POST /v1/forecasts, GET /v1/costs/anomalies and POST /v1/insights: requests to the forecast
 * and llm services over NATS with a deadline. Until a service runs, nothing answers its subject
 * and the edge says 503; a service's Error reply maps to its HTTP status. */
#include "../api.h"

#include "vx/alloc.h"

#include <stdio.h>
#include <string.h>

static const char *subject_of(api_route r)
{
    switch (r) {
    case ROUTE_FORECASTS: return "svc.forecast.run";
    case ROUTE_ANOMALIES: return "svc.forecast.anomalies";
    default: return "svc.llm.insight";
    }
}

static void service_job(api_call *c)
{
    if (atomic_fetch_add(&c->ctx->service_calls, 1) >= c->ctx->max_service_calls) {
        atomic_fetch_sub(&c->ctx->service_calls, 1);
        api_set_problem(c, 503, "unavailable", "Service unavailable",
                        "too many forecast and insight requests in progress; try again shortly");
        c->retry_after_s = 2;
        return;
    }
    size_t len;
    const char *body = vx_http_request_body(c->req, &len);
    char traceparent[VX_TRACEPARENT_LEN + 1];
    vx_trace child;
    vx_trace_child(vx_http_request_trace(c->req), &child);
    vx_trace_format(&child, traceparent);
    vx_bus_header h[] = {{"traceparent", traceparent}, {"Vx-Tenant", c->key.tenant_id},
                         {"Vx-Query", vx_http_request_query_string(c->req)}};
    void *reply = NULL;
    size_t reply_len = 0;
    const char *subject = subject_of(c->route);
    vx_status st = vx_bus_request(c->ctx->bus, subject, body, len, h, 3,
                                  c->ctx->cfg->service_timeout_ms, &reply, &reply_len);
    atomic_fetch_sub(&c->ctx->service_calls, 1);
    if (st == VX_OK) {
        char *json = vx_xmalloc(reply_len + 1);
        memcpy(json, reply, reply_len);
        json[reply_len] = '\0';
        vx_free(reply);
        api_set_json(c, 200, json);
        return;
    }
    const char *service = c->route == ROUTE_INSIGHTS ? "llm" : "forecast";
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
