/* libFuzzer target: the edge's side of the forecast and llm contracts. The first byte picks a
 * decoder; the rest is an HTTP body (forecast or insight request) or a reply from the bus
 * (forecast, anomalies or insight). Checks: a refusal names the field and hands out nothing; an
 * encoded request decodes again and carries the key's tenant; a reply gives either a JSON body
 * that parses and is for the caller's tenant, or a problem with a type, a status and a detail
 * (a result for another tenant: a 502). */
#include "handlers/svc_codec.h"
#include "valdrix/v1/forecast.pb-c.h"
#include "valdrix/v1/insight.pb-c.h"
#include "vx/alloc.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TENANT "0b6c4e52-3d43-4b6e-9a39-6f1f0a7f6a01"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(vx_status st, uint8_t *out, size_t len, const api_refusal *why,
                          bool insight)
{
    if (st != VX_OK) {
        if (out != NULL || why->param[0] == '\0' || why->detail[0] == '\0')
            abort();
        return;
    }
    const char *tenant;
    if (insight) {
        Valdrix__V1__InsightRequest *r = valdrix__v1__insight_request__unpack(NULL, len, out);
        if (!r || !r->scope)
            abort();
        tenant = r->scope->tenant_id;
        if (strcmp(tenant, TENANT) != 0)
            abort();
        valdrix__v1__insight_request__free_unpacked(r, NULL);
    } else {
        Valdrix__V1__ForecastRequest *r = valdrix__v1__forecast_request__unpack(NULL, len, out);
        if (!r || !r->scope)
            abort();
        tenant = r->scope->tenant_id;
        if (strcmp(tenant, TENANT) != 0)
            abort();
        valdrix__v1__forecast_request__free_unpacked(r, NULL);
    }
    vx_free(out);
}

static void check_answer(const api_svc_answer *a)
{
    if (a->wrong_tenant && a->status != 502)
        abort();
    if (a->status == 200) {
        json_t *j = a->json ? json_loads(a->json, 0, NULL) : NULL;
        if (!j || !json_is_object(j) || a->wrong_tenant)
            abort();
        const char *tenant = json_string_value(json_object_get(j, "tenant_id"));
        if (!tenant || strcmp(tenant, TENANT) != 0)
            abort();
        json_decref(j);
        vx_free(a->json);
        return;
    }
    if (a->json || !a->problem_type || !a->problem_title || a->detail[0] == '\0' ||
        a->status < 400 || a->status > 599)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    uint8_t *out = NULL;
    size_t len = 0;
    api_refusal why = {{0}, {0}};
    api_svc_answer a;
    switch (data[0] % 5) {
    case 0:
        check_request(api_forecast_request_encode((const char *)p, n, TENANT, &out, &len, &why),
                      out, len, &why, false);
        break;
    case 1:
        check_request(api_insight_request_encode((const char *)p, n, TENANT, &out, &len, &why), out,
                      len, &why, true);
        break;
    case 2:
        api_forecast_reply_decode(p, n, TENANT, &a);
        check_answer(&a);
        break;
    case 3:
        api_anomalies_reply_decode(p, n, TENANT, &a);
        check_answer(&a);
        break;
    default:
        api_insight_reply_decode(p, n, TENANT, &a);
        check_answer(&a);
        break;
    }
    return 0;
}
