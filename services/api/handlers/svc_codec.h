/* The edge's side of the forecast and llm contracts (proto/valdrix/v1/forecast.proto and
 * insight.proto): JSON bodies and query parameters become protobuf requests — the tenant always
 * from the caller's API key, never from the request — and the services' protobuf replies become
 * JSON answers, or problems whose status follows the reply's Error code (invalid 400, budget
 * 402, too large 413, limited 429, unavailable 503, deadline 504, internal 500; a reply that
 * cannot be decoded, or a result for another tenant than the caller's, 502). The edge checks shapes
 * and formats; the services check ranges. Pure; thread-safe. */
#ifndef VX_API_SVC_CODEC_H
#define VX_API_SVC_CODEC_H

#include "query.h"
#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_SVC_MAX_LIST 50 /* values of one filter */

/* What to answer for a service's reply. */
typedef struct {
    int status;                /* HTTP status */
    char *json;                /* status 200: the body (vx_free); NULL otherwise */
    const char *problem_type;  /* otherwise: a stable problem name (static) */
    const char *problem_title; /* (static) */
    char detail[512];
    bool wrong_tenant;     /* a result for another tenant than the caller's: refused (502) */
    char reply_tenant[40]; /* ... the tenant it named (cut), for the edge's log line */
} api_svc_answer;

/* POST /v1/forecasts body (may be empty: every default): from, to (YYYY-MM-DD), horizon_days,
 * level, top_services, service, account, region, provider (a string or an array of strings),
 * currency, cost. Unknown keys and wrong types are refused, naming the key. On VX_OK *out
 * (vx_free) holds the packed ForecastRequest. VX_INVALID with why otherwise. */
vx_status api_forecast_request_encode(const char *body, size_t len, const char *tenant,
                                      uint8_t **out, size_t *out_len, api_refusal *why);

/* GET /v1/costs/anomalies parameters: from, to, service, account, region, provider, currency,
 * cost, min_abs, min_rel, top_services. Packs an AnomaliesRequest. */
vx_status api_anomalies_request_encode(api_param_fn get, void *ctx, const char *tenant,
                                       uint8_t **out, size_t *out_len, api_refusal *why);

/* POST /v1/insights body (may be empty): kind (summary, anomaly, forecast), from, to,
 * focus_service, focus_account, and the filters, currency and cost as for forecasts. Packs an
 * InsightRequest. */
vx_status api_insight_request_encode(const char *body, size_t len, const char *tenant,
                                     uint8_t **out, size_t *out_len, api_refusal *why);

/* Replies, as bytes from the bus (untrusted: anything is handled), to a request made for
 * `tenant` (the caller's verified tenant). A result whose tenant_id is not `tenant` is never
 * passed on: it is a 502 bad-reply with wrong_tenant set. */
void api_forecast_reply_decode(const uint8_t *data, size_t len, const char *tenant,
                               api_svc_answer *a);
void api_anomalies_reply_decode(const uint8_t *data, size_t len, const char *tenant,
                                api_svc_answer *a);
void api_insight_reply_decode(const uint8_t *data, size_t len, const char *tenant,
                              api_svc_answer *a);

#endif
