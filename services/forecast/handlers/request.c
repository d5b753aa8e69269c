/* Decoding, defaults and validation of forecast and anomaly requests; the canonical digest
 * that keys the cache; Error replies. */
#include "request.h"

#include "valdrix/v1/forecast.pb-c.h"
#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/uuid.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const cost_names[] = {"effective", "billed", "list"};
static const char *const cost_columns[] = {"effective_cost", "billed_cost", "list_cost"};
static const char *const filter_names[FC_F_COUNT] = {"service_names", "sub_account_ids",
                                                     "providers", "region_ids"};

const char *fc_kind_name(fc_kind k)
{
    return k == FC_KIND_RUN ? "run" : "anomalies";
}

const char *fc_cost_name(fc_cost c)
{
    return cost_names[c];
}

const char *fc_cost_column(fc_cost c)
{
    return cost_columns[c];
}

void fc_format_day(int64_t day, char *out)
{
    vx_format_date(day * 86400, out, 11);
}

static vx_status refuse(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static vx_status refuse(char *why, size_t cap, const char *fmt, ...)
{
    if (why != NULL && cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return VX_INVALID;
}

/* Well-formed UTF-8 without control characters (what Postgres text and the logs accept). */
static bool text_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t n;
        unsigned cp;
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c < 0x80) {
            p++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        p += n + 1;
    }
    return true;
}

/* A caller's value, fit to quote back in an error: short text, or a placeholder. */
static const char *shown(const char *s)
{
    return strlen(s) <= 40 && text_ok(s) ? s : "(not shown)";
}

/* "YYYY-MM-DD" into days since 1970-01-01; false on anything else. */
static bool parse_day(const char *s, int64_t *out)
{
    int64_t unix_s;
    if (strlen(s) != 10 || !vx_parse_iso8601(s, 10, &unix_s))
        return false;
    *out = unix_s / 86400;
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static vx_status take_filter(fc_request *r, fc_filter f, char **values, size_t n, char *why,
                             size_t cap)
{
    if (n == 0)
        return VX_OK;
    if (n > FC_MAX_FILTER_VALUES)
        return refuse(why, cap, "scope.%s: at most %d values, not %zu", filter_names[f],
                      FC_MAX_FILTER_VALUES, n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(values[i]);
        if (len == 0)
            return refuse(why, cap, "scope.%s[%zu] is empty", filter_names[f], i);
        if (len > FC_MAX_NAME_BYTES)
            return refuse(why, cap, "scope.%s[%zu] is longer than %d bytes", filter_names[f], i,
                          FC_MAX_NAME_BYTES);
        if (!text_ok(values[i]))
            return refuse(why, cap, "scope.%s[%zu] is not UTF-8 text without control characters",
                          filter_names[f], i);
    }
    char **sorted = vx_xmalloc(n * sizeof *sorted);
    memcpy(sorted, values, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || strcmp(sorted[k - 1], sorted[i]) != 0)
            sorted[k++] = sorted[i];
    r->filter[f] = sorted;
    r->n_filter[f] = k;
    return VX_OK;
}

static vx_status parse_scope(fc_request *r, const Valdrix__V1__CostScope *sc, int64_t today_day,
                             char *why, size_t cap)
{
    if (sc == NULL)
        return refuse(why, cap, "scope is required (scope.tenant_id at least)");
    vx_uuid u;
    if (!vx_uuid_parse(sc->tenant_id, strlen(sc->tenant_id), &u))
        return refuse(why, cap, "scope.tenant_id must be a UUID, not '%s'", shown(sc->tenant_id));
    vx_uuid_format(&u, r->tenant_id);

    r->to_day = today_day;
    if (sc->to[0] != '\0' && !parse_day(sc->to, &r->to_day))
        return refuse(why, cap, "scope.to must be a date YYYY-MM-DD, not '%s'", shown(sc->to));
    if (r->to_day > today_day + 1)
        return refuse(why, cap, "scope.to is in the future: history ends before today");
    int64_t def = r->kind == FC_KIND_RUN ? FC_DEFAULT_FORECAST_DAYS : FC_DEFAULT_ANOMALY_DAYS;
    r->from_day = r->to_day - def;
    if (sc->from[0] != '\0' && !parse_day(sc->from, &r->from_day))
        return refuse(why, cap, "scope.from must be a date YYYY-MM-DD, not '%s'", shown(sc->from));
    if (r->from_day < 0)
        return refuse(why, cap, "scope.from is before 1970-01-01");
    if (r->from_day >= r->to_day)
        return refuse(why, cap, "scope.from must be before scope.to (to is exclusive)");
    if (r->to_day - r->from_day > FC_MAX_WINDOW_DAYS)
        return refuse(why, cap, "the window spans %lld days; at most %d (3 years)",
                      (long long)(r->to_day - r->from_day), FC_MAX_WINDOW_DAYS);
    if (r->kind == FC_KIND_ANOMALIES && r->to_day - r->from_day < FC_MIN_ANOMALY_DAYS)
        return refuse(why, cap, "the window spans %lld days; anomalies need at least %d",
                      (long long)(r->to_day - r->from_day), FC_MIN_ANOMALY_DAYS);

    vx_status st;
    if ((st = take_filter(r, FC_F_SERVICE, sc->service_names, sc->n_service_names, why, cap)) ||
        (st = take_filter(r, FC_F_ACCOUNT, sc->sub_account_ids, sc->n_sub_account_ids, why, cap)) ||
        (st = take_filter(r, FC_F_PROVIDER, sc->providers, sc->n_providers, why, cap)) ||
        (st = take_filter(r, FC_F_REGION, sc->region_ids, sc->n_region_ids, why, cap)))
        return st;

    const char *cur = sc->currency;
    if (cur[0] != '\0') {
        if (strlen(cur) != 3)
            return refuse(why, cap, "scope.currency must be an ISO 4217 code such as USD");
        for (int i = 0; i < 3; i++) {
            char c = cur[i];
            if (c >= 'a' && c <= 'z')
                c = (char)(c - 'a' + 'A');
            if (c < 'A' || c > 'Z')
                return refuse(why, cap, "scope.currency must be an ISO 4217 code such as USD");
            r->currency[i] = c;
        }
        r->currency[3] = '\0';
    }
    r->cost = FC_COST_EFFECTIVE;
    if (sc->cost[0] != '\0') {
        size_t i = 0;
        while (i < 3 && strcmp(sc->cost, cost_names[i]) != 0)
            i++;
        if (i == 3)
            return refuse(why, cap,
                          "scope.cost: unknown cost kind '%s' (effective, billed or list)",
                          shown(sc->cost));
        r->cost = (fc_cost)i;
    }
    return VX_OK;
}

static vx_status parse_top(uint32_t top, uint32_t *out, char *why, size_t cap)
{
    if (top > FC_MAX_TOP_SERVICES)
        return refuse(why, cap, "top_services must be at most %d, not %u", FC_MAX_TOP_SERVICES,
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
        return refuse(why, cap, "horizon_days must be at most %d, not %u", FC_MAX_HORIZON_DAYS,
                      m->horizon_days);
    r->horizon_days = m->horizon_days ? m->horizon_days : 30;
    if (!isfinite(m->level) || m->level < 0 || m->level >= 1)
        return refuse(why, cap, "level must be in (0, 1), e.g. 0.8, not %g", m->level);
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
        return refuse(why, cap, "min_abs must be a non-negative amount, not %g", m->min_abs);
    r->min_abs = m->min_abs > 0 ? m->min_abs : 25.0;
    if (!isfinite(m->min_rel) || m->min_rel < 0 || m->min_rel > 1000)
        return refuse(why, cap, "min_rel must be a non-negative fraction, not %g", m->min_rel);
    r->min_rel = m->min_rel > 0 ? m->min_rel : 0.30;
    return parse_top(m->top_services, &r->top_services, why, cap);
}

void fc_request_cleanup(fc_request *r)
{
    if (r == NULL)
        return;
    for (int f = 0; f < FC_F_COUNT; f++)
        vx_free(r->filter[f]);
    if (r->msg != NULL) {
        if (r->kind == FC_KIND_RUN)
            valdrix__v1__forecast_request__free_unpacked(r->msg, NULL);
        else
            valdrix__v1__anomalies_request__free_unpacked(r->msg, NULL);
    }
    memset(r, 0, sizeof *r);
}

vx_status fc_request_parse(fc_kind kind, const void *data, size_t len, int64_t today_day,
                           fc_request *out, char *why, size_t why_cap)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    if (len > FC_MAX_REQUEST_BYTES)
        return refuse(why, why_cap, "request of %zu bytes; at most %d", len, FC_MAX_REQUEST_BYTES);
    const uint8_t *bytes = len ? data : (const uint8_t *)"";
    vx_status st;
    if (kind == FC_KIND_RUN) {
        Valdrix__V1__ForecastRequest *m = valdrix__v1__forecast_request__unpack(NULL, len, bytes);
        if (m == NULL)
            return refuse(why, why_cap, "not a valdrix.v1.ForecastRequest (protobuf)");
        out->msg = m;
        st = parse_run(out, m, today_day, why, why_cap);
    } else {
        Valdrix__V1__AnomaliesRequest *m = valdrix__v1__anomalies_request__unpack(NULL, len, bytes);
        if (m == NULL)
            return refuse(why, why_cap, "not a valdrix.v1.AnomaliesRequest (protobuf)");
        out->msg = m;
        st = parse_anomalies(out, m, today_day, why, why_cap);
    }
    if (st != VX_OK)
        fc_request_cleanup(out);
    return st;
}

/* ---- canonical form ---- */

void fc_request_digest(const fc_request *r, char out[FC_DIGEST_LEN])
{
    char from[11], to[11], cur[4], cost[16], tenant[37];
    fc_format_day(r->from_day, from);
    fc_format_day(r->to_day, to);
    memcpy(cur, r->currency, sizeof cur);
    snprintf(cost, sizeof cost, "%s", cost_names[r->cost]);
    memcpy(tenant, r->tenant_id, sizeof tenant);
    Valdrix__V1__CostScope sc;
    valdrix__v1__cost_scope__init(&sc);
    sc.tenant_id = tenant;
    sc.from = from;
    sc.to = to;
    sc.currency = cur;
    sc.cost = cost;
    sc.n_service_names = r->n_filter[FC_F_SERVICE];
    sc.service_names = r->filter[FC_F_SERVICE];
    sc.n_sub_account_ids = r->n_filter[FC_F_ACCOUNT];
    sc.sub_account_ids = r->filter[FC_F_ACCOUNT];
    sc.n_providers = r->n_filter[FC_F_PROVIDER];
    sc.providers = r->filter[FC_F_PROVIDER];
    sc.n_region_ids = r->n_filter[FC_F_REGION];
    sc.region_ids = r->filter[FC_F_REGION];
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
    snprintf(out, FC_CACHE_KEY_MAX, "vx:fc:v1:%s:%llu:%s", r->tenant_id,
             (unsigned long long)data_version, digest);
}

/* ---- errors ---- */

void fc_error_reply(fc_kind kind, int code, const char *message, void **out, size_t *len)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", message ? message : "");
    Valdrix__V1__Error e;
    valdrix__v1__error__init(&e);
    e.code = (Valdrix__V1__Error__Code)code;
    e.message = msg;
    uint8_t *buf;
    if (kind == FC_KIND_RUN) {
        Valdrix__V1__ForecastReply rep = VALDRIX__V1__FORECAST_REPLY__INIT;
        rep.outcome_case = VALDRIX__V1__FORECAST_REPLY__OUTCOME_ERROR;
        rep.error = &e;
        *len = valdrix__v1__forecast_reply__get_packed_size(&rep);
        buf = vx_xmalloc(*len + 1);
        valdrix__v1__forecast_reply__pack(&rep, buf);
    } else {
        Valdrix__V1__AnomaliesReply rep = VALDRIX__V1__ANOMALIES_REPLY__INIT;
        rep.outcome_case = VALDRIX__V1__ANOMALIES_REPLY__OUTCOME_ERROR;
        rep.error = &e;
        *len = valdrix__v1__anomalies_reply__get_packed_size(&rep);
        buf = vx_xmalloc(*len + 1);
        valdrix__v1__anomalies_reply__pack(&rep, buf);
    }
    *out = buf;
}
