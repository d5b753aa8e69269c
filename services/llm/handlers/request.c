/* Decoding, checking and resolving an InsightRequest, and the cache key of the result. */
#include "request.h"

#include "valdrix/v1/insight.pb-c.h"
#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/uuid.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const filter_columns[LLM_FILTER_COUNT] = {"service_name", "sub_account_id",
                                                             "provider", "region_id"};
static const char *const filter_names[LLM_FILTER_COUNT] = {"service_names", "sub_account_ids",
                                                           "providers", "region_ids"};
static const char *const cost_names[] = {"effective", "billed", "list"};
static const char *const cost_columns[] = {"effective_cost", "billed_cost", "list_cost"};

const char *llm_filter_column(llm_filter f)
{
    return (unsigned)f < LLM_FILTER_COUNT ? filter_columns[f] : "?";
}

const char *llm_cost_str(llm_cost c)
{
    return (unsigned)c <= LLM_COST_LIST ? cost_names[c] : "?";
}

const char *llm_cost_column(llm_cost c)
{
    return (unsigned)c <= LLM_COST_LIST ? cost_columns[c] : "effective_cost";
}

/* 1971-01-01 and 2200-01-01: the previous period of the longest window starts after 1970, and
 * the ledger holds nothing after 2199. */
#define MIN_DAY 365
#define END_DAY 84006

bool llm_parse_day(const char *s, size_t len, int64_t *day)
{
    if (len != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (size_t i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    int y = atoi(s), m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return false;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[m - 1] + (m == 2 && leap))
        return false;
    *day = vx_civil_to_unix(y, m, d, 0, 0, 0) / 86400;
    return true;
}

void llm_format_day(int64_t day, char out[11])
{
    int y, m, d;
    vx_unix_days_to_civil(day, &y, &m, &d);
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u,
             (unsigned)d % 100u);
}

/* Well-formed UTF-8 without control characters (tenant strings end up in SQL parameters, logs
 * and prompts; none of them has a use for those). */
static bool text_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t n;
        unsigned cp;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
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
        static const unsigned min_cp[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
            (cp >= 0x80 && cp < 0xa0))
            return false;
        p += n + 1;
    }
    return true;
}

static bool value_ok(const char *s, const char *field, char *err, size_t cap)
{
    size_t n = strlen(s);
    if (n == 0) {
        vx_errf(err, cap, "%s: an empty value", field);
        return false;
    }
    if (n > LLM_REQ_MAX_VALUE) {
        vx_errf(err, cap, "%s: longer than %d bytes", field, LLM_REQ_MAX_VALUE);
        return false;
    }
    if (!text_ok(s)) {
        vx_errf(err, cap, "%s: not UTF-8 text without control characters", field);
        return false;
    }
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static vx_status copy_filter(char **in, size_t n, llm_filter f, llm_req *r, char *err, size_t cap)
{
    if (n > LLM_REQ_MAX_VALUES) {
        vx_errf(err, cap, "scope.%s: more than %d values", filter_names[f], LLM_REQ_MAX_VALUES);
        return VX_INVALID;
    }
    if (n == 0)
        return VX_OK;
    char field[64];
    snprintf(field, sizeof field, "scope.%s", filter_names[f]);
    for (size_t i = 0; i < n; i++)
        if (!value_ok(in[i] ? in[i] : "", field, err, cap))
            return VX_INVALID;
    char **v = vx_xcalloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = vx_xstrdup(in[i]);
    qsort(v, n, sizeof *v, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && strcmp(v[k - 1], v[i]) == 0) {
            vx_free(v[i]);
            continue;
        }
        v[k++] = v[i];
    }
    r->filter[f] = v;
    r->n_filter[f] = k;
    return VX_OK;
}

static vx_status resolve(const Valdrix__V1__InsightRequest *m, int64_t today, llm_req *r, char *err,
                         size_t cap)
{
    const Valdrix__V1__CostScope *s = m->scope;
    if (s == NULL) {
        vx_errf(err, cap, "scope: missing");
        return VX_INVALID;
    }
    vx_uuid u;
    const char *t = s->tenant_id ? s->tenant_id : "";
    if (!vx_uuid_parse(t, strlen(t), &u)) {
        vx_errf(err, cap, "scope.tenant_id: not a UUID");
        return VX_INVALID;
    }
    vx_uuid_format(&u, r->tenant_id);

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

    const char *to = s->to ? s->to : "", *from = s->from ? s->from : "";
    if (to[0] == '\0') {
        r->to_day = today;
    } else if (!llm_parse_day(to, strlen(to), &r->to_day)) {
        vx_errf(err, cap, "scope.to: not a date (YYYY-MM-DD)");
        return VX_INVALID;
    }
    if (from[0] == '\0') {
        r->from_day = r->to_day - LLM_REQ_DEFAULT_DAYS;
    } else if (!llm_parse_day(from, strlen(from), &r->from_day)) {
        vx_errf(err, cap, "scope.from: not a date (YYYY-MM-DD)");
        return VX_INVALID;
    }
    if (r->from_day >= r->to_day) {
        vx_errf(err, cap, "scope: from must be before to (to is exclusive)");
        return VX_INVALID;
    }
    if (r->to_day - r->from_day > LLM_REQ_MAX_DAYS) {
        vx_errf(err, cap, "scope: the window is longer than %d days", LLM_REQ_MAX_DAYS);
        return VX_INVALID;
    }
    if (r->from_day < MIN_DAY || r->to_day > END_DAY) {
        vx_errf(err, cap, "scope: dates must be within 1971-01-01 .. 2200-01-01");
        return VX_INVALID;
    }
    llm_format_day(r->from_day, r->from);
    llm_format_day(r->to_day, r->to);

    const char *cur = s->currency ? s->currency : "";
    if (cur[0] != '\0') {
        if (strlen(cur) != 3 || cur[0] < 'A' || cur[0] > 'Z' || cur[1] < 'A' || cur[1] > 'Z' ||
            cur[2] < 'A' || cur[2] > 'Z') {
            vx_errf(err, cap, "scope.currency: not an ISO 4217 code such as USD");
            return VX_INVALID;
        }
        memcpy(r->currency, cur, 4);
    }
    const char *cost = s->cost ? s->cost : "";
    if (cost[0] == '\0' || strcmp(cost, "effective") == 0)
        r->cost = LLM_COST_EFFECTIVE;
    else if (strcmp(cost, "billed") == 0)
        r->cost = LLM_COST_BILLED;
    else if (strcmp(cost, "list") == 0)
        r->cost = LLM_COST_LIST;
    else {
        vx_errf(err, cap, "scope.cost: must be effective, billed or list");
        return VX_INVALID;
    }

    char **lists[LLM_FILTER_COUNT] = {s->service_names, s->sub_account_ids, s->providers,
                                      s->region_ids};
    size_t counts[LLM_FILTER_COUNT] = {s->n_service_names, s->n_sub_account_ids, s->n_providers,
                                       s->n_region_ids};
    for (int f = 0; f < LLM_FILTER_COUNT; f++)
        if (copy_filter(lists[f], counts[f], (llm_filter)f, r, err, cap) != VX_OK)
            return VX_INVALID;

    const char *fs = m->focus_service ? m->focus_service : "";
    const char *fa = m->focus_account ? m->focus_account : "";
    if (fs[0] && !value_ok(fs, "focus_service", err, cap))
        return VX_INVALID;
    if (fa[0] && !value_ok(fa, "focus_account", err, cap))
        return VX_INVALID;
    r->focus_service = vx_xstrdup(fs);
    r->focus_account = vx_xstrdup(fa);
    return VX_OK;
}

vx_status llm_req_decode(const uint8_t *data, size_t len, int64_t today_day, llm_req *out,
                         char *err, size_t err_cap)
{
    if (len > LLM_REQ_MAX_BYTES) {
        vx_errf(err, err_cap, "request: larger than %d bytes", LLM_REQ_MAX_BYTES);
        return VX_INVALID;
    }
    Valdrix__V1__InsightRequest *m = valdrix__v1__insight_request__unpack(NULL, len, data);
    if (m == NULL) {
        vx_errf(err, err_cap, "request: not an InsightRequest");
        return VX_INVALID;
    }
    llm_req r;
    memset(&r, 0, sizeof r);
    vx_status st = resolve(m, today_day, &r, err, err_cap);
    valdrix__v1__insight_request__free_unpacked(m, NULL);
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
    for (int f = 0; f < LLM_FILTER_COUNT; f++) {
        for (size_t i = 0; i < r->n_filter[f]; i++)
            vx_free(r->filter[f][i]);
        vx_free(r->filter[f]);
    }
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
    feed(md, "from", r->from);
    feed(md, "to", r->to);
    for (int f = 0; f < LLM_FILTER_COUNT; f++) {
        char count[32];
        snprintf(count, sizeof count, "%zu", r->n_filter[f]);
        feed(md, filter_names[f], count);
        for (size_t i = 0; i < r->n_filter[f]; i++)
            feed(md, "-", r->filter[f][i]);
    }
    feed(md, "currency", r->currency);
    feed(md, "cost", llm_cost_str(r->cost));
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
    int n = snprintf(out, cap, "vx:llm:v1:%s:%llu:%s:%s", r->tenant_id,
                     (unsigned long long)data_version, prompt_version, hash);
    return n > 0 && (size_t)n < cap;
}
