/* libFuzzer target: services/llm's decoding of an InsightRequest from the bus (decode, checks,
 * defaults, cache key). Checks: a refusal says why; an accepted request is resolved (a window of
 * 1..366 days inside 1971..2200, a canonical tenant, sorted unique filters of clean text) and
 * its cache key is deterministic and the same when the resolved request is sent again. */
#include "handlers/request.h"
#include "valdrix/v1/insight.pb-c.h"
#include "vx/alloc.h"
#include "vx/pb.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TODAY 20527 /* 2026-03-15 */

static uint8_t *reencode(const llm_req *r, size_t *len)
{
    Valdrix__V1__CostScope s;
    valdrix__v1__cost_scope__init(&s);
    s.tenant_id = vx_pb_str(r->scope.tenant_id);
    s.from = vx_pb_str(r->scope.from);
    s.to = vx_pb_str(r->scope.to);
    s.currency = vx_pb_str(r->scope.currency);
    s.cost = vx_pb_str(vx_contract_cost_name(r->scope.cost));
    s.service_names = r->scope.filter[VX_CONTRACT_FILTER_SERVICE];
    s.n_service_names = r->scope.n_filter[VX_CONTRACT_FILTER_SERVICE];
    s.sub_account_ids = r->scope.filter[VX_CONTRACT_FILTER_ACCOUNT];
    s.n_sub_account_ids = r->scope.n_filter[VX_CONTRACT_FILTER_ACCOUNT];
    s.providers = r->scope.filter[VX_CONTRACT_FILTER_PROVIDER];
    s.n_providers = r->scope.n_filter[VX_CONTRACT_FILTER_PROVIDER];
    s.region_ids = r->scope.filter[VX_CONTRACT_FILTER_REGION];
    s.n_region_ids = r->scope.n_filter[VX_CONTRACT_FILTER_REGION];
    Valdrix__V1__InsightRequest m;
    valdrix__v1__insight_request__init(&m);
    m.scope = &s;
    m.kind = (Valdrix__V1__InsightRequest__Kind)(r->kind + 1);
    m.focus_service = r->focus_service;
    m.focus_account = r->focus_account;
    *len = valdrix__v1__insight_request__get_packed_size(&m);
    uint8_t *buf = vx_xmalloc(*len + 1);
    valdrix__v1__insight_request__pack(&m, buf);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    llm_req r;
    char err[256] = "";
    if (llm_req_decode(data, size, TODAY, &r, err, sizeof err) != VX_OK) {
        if (err[0] == '\0')
            abort();
        return 0;
    }
    int64_t days = r.scope.to_day - r.scope.from_day;
    if (days < 1 || days > LLM_REQ_MAX_DAYS || strlen(r.scope.from) != 10 ||
        strlen(r.scope.to) != 10 || strlen(r.scope.tenant_id) != 36 ||
        (r.scope.currency[0] && strlen(r.scope.currency) != 3))
        abort();
    for (int f = 0; f < VX_CONTRACT_FILTER_COUNT; f++)
        for (size_t i = 1; i < r.scope.n_filter[f]; i++)
            if (strcmp(r.scope.filter[f][i - 1], r.scope.filter[f][i]) >= 0)
                abort();
    char a[256], b[256];
    if (!llm_cache_key(&r, 1, VX_LLM_PROMPT_VERSION, a, sizeof a) ||
        !llm_cache_key(&r, 1, VX_LLM_PROMPT_VERSION, b, sizeof b) || strcmp(a, b) != 0)
        abort();
    size_t len;
    uint8_t *again = reencode(&r, &len);
    llm_req r2;
    if (llm_req_decode(again, len, TODAY + 1, &r2, err, sizeof err) != VX_OK)
        abort();
    if (!llm_cache_key(&r2, 1, VX_LLM_PROMPT_VERSION, b, sizeof b) || strcmp(a, b) != 0)
        abort();
    llm_req_cleanup(&r2);
    vx_free(again);
    llm_req_cleanup(&r);
    return 0;
}
