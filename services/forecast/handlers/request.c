/* Decoding, defaults and validation of forecast and anomaly requests; the canonical digest
 * that keys the cache. */
#include "request.h"

#include "valdrix/v1/forecast.pb-c.h"
#include "vx/alloc.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *fc_kind_name(fc_kind k)
{
    return k == FC_KIND_RUN ? "run" : "anomalies";
}

const ProtobufCMessageDescriptor *fc_reply_descriptor(fc_kind k)
{
    return k == FC_KIND_RUN ? &valdrix__v1__forecast_reply__descriptor
                            : &valdrix__v1__anomalies_reply__descriptor;
}

/* History windows: up to three years, ending at most tomorrow (time zones); a currency may be
 * given in either case. */
static vx_status parse_scope(fc_request *r, const Valdrix__V1__CostScope *sc, int64_t today_day,
                             char *why, size_t cap)
{
    const vx_contract_scope_rules rules = {
        .default_days = r->kind == FC_KIND_RUN ? FC_DEFAULT_FORECAST_DAYS : FC_DEFAULT_ANOMALY_DAYS,
        .min_days = r->kind == FC_KIND_ANOMALIES ? FC_MIN_ANOMALY_DAYS : 1,
        .max_days = FC_MAX_WINDOW_DAYS,
        .first_day = 0,
        .end_day = INT64_MAX,
        .max_ahead_days = 1,
        .currency_any_case = true,
    };
    return vx_contract_scope_decode(sc, &rules, today_day, &r->scope, why, cap);
}

static vx_status parse_top(uint32_t top, uint32_t *out, char *why, size_t cap)
{
    if (top > FC_MAX_TOP_SERVICES)
        return vx_refusef(why, cap, "top_services must be at most %d, not %u", FC_MAX_TOP_SERVICES,
                          top);
    *out = top ? top : 5;
    return VX_OK;
}

static vx_status parse_run(fc_request *r, const Valdrix__V1__ForecastRequest *m, int64_t today,
                           char *why, size_t cap)
{
    vx_status st = parse_scope(r, m->scope, today, why, cap);
    if (st != VX_OK)
        return st;
    if (m->horizon_days > FC_MAX_HORIZON_DAYS)
        return vx_refusef(why, cap, "horizon_days must be at most %d, not %u", FC_MAX_HORIZON_DAYS,
                          m->horizon_days);
    r->horizon_days = m->horizon_days ? m->horizon_days : 30;
    if (!isfinite(m->level) || m->level < 0 || m->level >= 1)
        return vx_refusef(why, cap, "level must be in (0, 1), e.g. 0.8, not %g", m->level);
    r->level = m->level > 0 ? m->level : 0.8;
    return parse_top(m->top_services, &r->top_services, why, cap);
}

static vx_status parse_anomalies(fc_request *r, const Valdrix__V1__AnomaliesRequest *m,
                                 int64_t today, char *why, size_t cap)
{
    vx_status st = parse_scope(r, m->scope, today, why, cap);
    if (st != VX_OK)
        return st;
    if (!isfinite(m->min_abs) || m->min_abs < 0 || m->min_abs > 1e12)
        return vx_refusef(why, cap, "min_abs must be a non-negative amount, not %g", m->min_abs);
    r->min_abs = m->min_abs > 0 ? m->min_abs : 25.0;
    if (!isfinite(m->min_rel) || m->min_rel < 0 || m->min_rel > 1000)
        return vx_refusef(why, cap, "min_rel must be a non-negative fraction, not %g", m->min_rel);
    r->min_rel = m->min_rel > 0 ? m->min_rel : 0.30;
    return parse_top(m->top_services, &r->top_services, why, cap);
}

void fc_request_cleanup(fc_request *r)
{
    if (r == NULL)
        return;
    vx_contract_scope_cleanup(&r->scope);
    memset(r, 0, sizeof *r);
}

vx_status fc_request_parse(fc_kind kind, const void *data, size_t len, int64_t today_day,
                           fc_request *out, char *why, size_t why_cap)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    const ProtobufCMessageDescriptor *desc = kind == FC_KIND_RUN
                                                 ? &valdrix__v1__forecast_request__descriptor
                                                 : &valdrix__v1__anomalies_request__descriptor;
    ProtobufCMessage *m;
    if (vx_contract_unpack(desc, data, len, VX_CONTRACT_MAX_REQUEST_BYTES, &m, why, why_cap) !=
        VX_OK)
        return VX_INVALID;
    vx_status st =
        kind == FC_KIND_RUN
            ? parse_run(out, (const Valdrix__V1__ForecastRequest *)m, today_day, why, why_cap)
            : parse_anomalies(out, (const Valdrix__V1__AnomaliesRequest *)m, today_day, why,
                              why_cap);
    protobuf_c_message_free_unpacked(m, NULL);
    if (st != VX_OK)
        fc_request_cleanup(out);
    return st;
}

/* ---- canonical form ---- */

void fc_request_digest(const fc_request *r, char out[FC_DIGEST_LEN])
{
    Valdrix__V1__CostScope sc;
    vx_contract_scope_fill(&r->scope, &sc);
    uint8_t *buf;
    size_t len;
    if (r->kind == FC_KIND_RUN) {
        Valdrix__V1__ForecastRequest m = VALDRIX__V1__FORECAST_REQUEST__INIT;
        m.scope = &sc;
        m.horizon_days = r->horizon_days;
        m.level = r->level;
        m.top_services = r->top_services;
        len = valdrix__v1__forecast_request__get_packed_size(&m);
        buf = vx_xmalloc(len + 1);
        valdrix__v1__forecast_request__pack(&m, buf);
    } else {
        Valdrix__V1__AnomaliesRequest m = VALDRIX__V1__ANOMALIES_REQUEST__INIT;
        m.scope = &sc;
        m.min_abs = r->min_abs;
        m.min_rel = r->min_rel;
        m.top_services = r->top_services;
        len = valdrix__v1__anomalies_request__get_packed_size(&m);
        buf = vx_xmalloc(len + 1);
        valdrix__v1__anomalies_request__pack(&m, buf);
    }
    /* the kind goes first: the two messages could encode to the same bytes */
    const char *kind = fc_kind_name(r->kind);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(ctx, kind, strlen(kind) + 1) || !EVP_DigestUpdate(ctx, buf, len) ||
        !EVP_DigestFinal_ex(ctx, md, &n)) {
        fprintf(stderr, "forecast: SHA-256 failed\n");
        abort();
    }
    EVP_MD_CTX_free(ctx);
    vx_free(buf);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = '\0';
}

void fc_cache_key(const fc_request *r, uint64_t data_version, char out[FC_CACHE_KEY_MAX])
{
    char digest[FC_DIGEST_LEN];
    fc_request_digest(r, digest);
    snprintf(out, FC_CACHE_KEY_MAX, "vx:fc:v1:%s:%llu:%s", r->scope.tenant_id,
             (unsigned long long)data_version, digest);
}
