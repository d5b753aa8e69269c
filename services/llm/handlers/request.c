/* Decoding, checking and resolving an InsightRequest, and the cache key of the result. */
#include "request.h"

#include "valdrix/v1/insight.pb-c.h"
#include "vx/alloc.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Insight windows: up to a year inside 1971-01-01 .. 2200-01-01 (the previous period of the
 * longest window starts after 1970, and the ledger holds nothing after 2199); `to` may lie
 * ahead; the currency must be upper case. */
static const vx_contract_scope_rules scope_rules = {
    .default_days = LLM_REQ_DEFAULT_DAYS,
    .min_days = 1,
    .max_days = LLM_REQ_MAX_DAYS,
    .first_day = 365,
    .end_day = 84006,
    .max_ahead_days = INT64_MAX,
    .currency_any_case = false,
};

static vx_status resolve(const Valdrix__V1__InsightRequest *m, int64_t today, llm_req *r, char *err,
                         size_t cap)
{
    switch ((int)m->kind) {
    case VALDRIX__V1__INSIGHT_REQUEST__KIND__KIND_UNSPECIFIED:
    case VALDRIX__V1__INSIGHT_REQUEST__KIND__KIND_SUMMARY:
        r->kind = VX_LLM_KIND_SUMMARY;
        break;
    case VALDRIX__V1__INSIGHT_REQUEST__KIND__KIND_ANOMALY:
        r->kind = VX_LLM_KIND_ANOMALY;
        break;
    case VALDRIX__V1__INSIGHT_REQUEST__KIND__KIND_FORECAST:
        r->kind = VX_LLM_KIND_FORECAST;
        break;
    default:
        vx_errf(err, cap, "kind: must be summary, anomaly or forecast");
        return VX_INVALID;
    }
    if (vx_contract_scope_decode(m->scope, &scope_rules, today, &r->scope, err, cap) != VX_OK)
        return VX_INVALID;
    const char *fs = m->focus_service ? m->focus_service : "";
    const char *fa = m->focus_account ? m->focus_account : "";
    if ((fs[0] && vx_contract_check_name("focus_service", fs, VX_CONTRACT_MAX_NAME_BYTES, err,
                                         cap) != VX_OK) ||
        (fa[0] && vx_contract_check_name("focus_account", fa, VX_CONTRACT_MAX_NAME_BYTES, err,
                                         cap) != VX_OK))
        return VX_INVALID;
    r->focus_service = vx_xstrdup(fs);
    r->focus_account = vx_xstrdup(fa);
    return VX_OK;
}

vx_status llm_req_decode(const uint8_t *data, size_t len, int64_t today_day, llm_req *out,
                         char *err, size_t err_cap)
{
    ProtobufCMessage *msg;
    if (vx_contract_unpack(&valdrix__v1__insight_request__descriptor, data, len,
                           VX_CONTRACT_MAX_REQUEST_BYTES, &msg, err, err_cap) != VX_OK)
        return VX_INVALID;
    const Valdrix__V1__InsightRequest *m = (const Valdrix__V1__InsightRequest *)msg;
    llm_req r;
    memset(&r, 0, sizeof r);
    vx_status st = resolve(m, today_day, &r, err, err_cap);
    protobuf_c_message_free_unpacked(msg, NULL);
    if (st != VX_OK) {
        llm_req_cleanup(&r);
        return st;
    }
    *out = r;
    return VX_OK;
}

void llm_req_cleanup(llm_req *r)
{
    if (r == NULL)
        return;
    vx_contract_scope_cleanup(&r->scope);
    vx_free(r->focus_service);
    vx_free(r->focus_account);
    memset(r, 0, sizeof *r);
}

static void feed(EVP_MD_CTX *md, const char *name, const char *value)
{
    char head[96];
    int n = snprintf(head, sizeof head, "%s:%zu:", name, strlen(value));
    EVP_DigestUpdate(md, head, (size_t)n);
    EVP_DigestUpdate(md, value, strlen(value));
    EVP_DigestUpdate(md, "\n", 1);
}

void llm_req_hash(const llm_req *r, char out[65])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        fprintf(stderr, "llm: SHA-256 unavailable\n");
        abort();
    }
    feed(md, "kind", vx_llm_kind_str(r->kind));
    const vx_contract_scope *sc = &r->scope;
    feed(md, "from", sc->from);
    feed(md, "to", sc->to);
    for (int f = 0; f < VX_CONTRACT_FILTER_COUNT; f++) {
        char count[32];
        snprintf(count, sizeof count, "%zu", sc->n_filter[f]);
        feed(md, vx_contract_filter_field((vx_contract_filter)f), count);
        for (size_t i = 0; i < sc->n_filter[f]; i++)
            feed(md, "-", sc->filter[f][i]);
    }
    feed(md, "currency", sc->currency);
    feed(md, "cost", vx_contract_cost_name(sc->cost));
    feed(md, "focus_service", r->focus_service ? r->focus_service : "");
    feed(md, "focus_account", r->focus_account ? r->focus_account : "");
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(md, digest, &n);
    EVP_MD_CTX_free(md);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[64] = '\0';
}

bool llm_cache_key(const llm_req *r, uint64_t data_version, const char *prompt_version, char *out,
                   size_t cap)
{
    char hash[65];
    llm_req_hash(r, hash);
    int n = snprintf(out, cap, "vx:llm:v1:%s:%llu:%s:%s", r->scope.tenant_id,
                     (unsigned long long)data_version, prompt_version, hash);
    return n > 0 && (size_t)n < cap;
}
