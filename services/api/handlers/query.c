/* Validation, cursors and SQL of the read endpoints (GET /v1/costs, /v1/costs/summary). */
#include "query.h"

#include "vx/clock.h"
#include "vx/uuid.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const filter_params[API_FILTER_COUNT] = {"service", "region", "account",
                                                            "provider"};
static const char *const filter_columns[API_FILTER_COUNT] = {"service_name", "region_id",
                                                             "sub_account_id", "provider"};
static const char *const group_names[] = {"day", "service", "region", "account", "provider"};
static const char *const group_columns[] = {"day", "service_name", "region_id", "sub_account_id",
                                            "provider"};

const char *api_group_name(api_group g)
{
    return group_names[g];
}

vx_status api_refuse(api_refusal *why, const char *param, const char *fmt, ...)
{
    snprintf(why->param, sizeof why->param, "%s", param);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why->detail, sizeof why->detail, fmt, ap);
    va_end(ap);
    return VX_INVALID;
}

static vx_status parse_range(api_param_fn get, void *ctx, api_query *q, api_refusal *why)
{
    const char *names[2] = {"from", "to"};
    int64_t *dst[2] = {&q->from_s, &q->to_s};
    for (int i = 0; i < 2; i++) {
        const char *v = get(ctx, names[i]);
        if (!v || !*v)
            return api_refuse(why, names[i], "%s is required (an ISO-8601 date such as 2025-01-31)",
                              names[i]);
        if (!vx_parse_iso8601(v, strlen(v), dst[i]))
            return api_refuse(why, names[i], "not an ISO-8601 date or time: '%.80s'", v);
    }
    if (q->to_s <= q->from_s)
        return api_refuse(why, "to", "%s must be after from", "to");
    if (q->to_s - q->from_s > (int64_t)API_MAX_RANGE_DAYS * 86400)
        return api_refuse(why, "to", "from and to are more than %s days apart", "366");
    for (int f = 0; f < API_FILTER_COUNT; f++) {
        const char *v = get(ctx, filter_params[f]);
        if (v && strlen(v) > API_MAX_FILTER_BYTES)
            return api_refuse(why, filter_params[f], "longer than %s bytes", "256");
        q->filters[f] = (v && *v) ? v : NULL;
    }
    return VX_OK;
}

/* ---- cursor: base64url(payload) "." base64url(HMAC-SHA256(secret, binding)[0..16)) ---- */

static size_t b64url_encode(const unsigned char *in, size_t len, char *out)
{
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    for (int i = 0; i < n; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    out[n] = '\0';
    return (size_t)n;
}

/* false on characters outside the alphabet or a bad length. */
static bool b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *n)
{
    char buf[API_CURSOR_MAX + 4];
    if (len % 4 == 1 || len + 3 > sizeof buf)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return false;
        buf[i] = c;
    }
    size_t pad = (4 - len % 4) % 4;
    for (size_t i = 0; i < pad; i++)
        buf[len + i] = '=';
    size_t total = len + pad;
    if (total / 4 * 3 > cap)
        return false;
    int got = EVP_DecodeBlock(out, (const unsigned char *)buf, (int)total);
    if (got < 0)
        return false;
    *n = (size_t)got - pad;
    return true;
}

/* What a cursor is bound to: the tenant and every parameter but the cursor and limit. */
static void binding(const api_query *q, const char *tenant, const char *payload, char *out,
                    size_t cap)
{
    int n = snprintf(out, cap, "v1|%s|%lld|%lld", tenant, (long long)q->from_s, (long long)q->to_s);
    for (int f = 0; f < API_FILTER_COUNT && n > 0 && (size_t)n < cap; f++)
        n +=
            snprintf(out + n, cap - (size_t)n, "|%zu:%s", q->filters[f] ? strlen(q->filters[f]) : 0,
                     q->filters[f] ? q->filters[f] : "");
    if (n > 0 && (size_t)n < cap)
        snprintf(out + n, cap - (size_t)n, "|%s", payload);
}

static void mac(const uint8_t *secret, size_t secret_len, const char *msg, unsigned char *out16)
{
    unsigned char full[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)msg, strlen(msg), full,
         &len);
    memcpy(out16, full, 16);
}

void api_cursor_encode(const api_query *q, const char *tenant, int64_t recorded_at_us,
                       const char *event_id, const uint8_t *secret, size_t secret_len, char *out)
{
    char payload[80];
    snprintf(payload, sizeof payload, "%lld.%.36s", (long long)recorded_at_us, event_id);
    char bind[2048];
    binding(q, tenant, payload, bind, sizeof bind);
    unsigned char tag[16];
    mac(secret, secret_len, bind, tag);
    size_t n = b64url_encode((const unsigned char *)payload, strlen(payload), out);
    out[n++] = '.';
    b64url_encode(tag, sizeof tag, out + n);
}

static vx_status cursor_decode(const char *c, api_query *q, const char *tenant,
                               const uint8_t *secret, size_t secret_len, api_refusal *why)
{
    const char *dot = strchr(c, '.');
    unsigned char payload[API_CURSOR_MAX], tag[32];
    size_t plen, tlen;
    if (strlen(c) >= API_CURSOR_MAX || !dot ||
        !b64url_decode(c, (size_t)(dot - c), payload, sizeof payload - 1, &plen) ||
        !b64url_decode(dot + 1, strlen(dot + 1), tag, sizeof tag, &tlen) || tlen != 16)
        return api_refuse(why, "cursor", "%s", "not a cursor from this API");
    payload[plen] = '\0';
    char bind[2048];
    binding(q, tenant, (const char *)payload, bind, sizeof bind);
    unsigned char want[16];
    mac(secret, secret_len, bind, want);
    if (CRYPTO_memcmp(want, tag, 16) != 0)
        return api_refuse(
            why, "cursor", "%s",
            "not valid for this query (it belongs to other parameters, or was altered)");
    char *end;
    errno = 0;
    long long us = strtoll((const char *)payload, &end, 10);
    vx_uuid u;
    if (errno || *end != '.' || !vx_uuid_parse(end + 1, strlen(end + 1), &u))
        return api_refuse(why, "cursor", "%s", "not a cursor from this API");
    q->has_cursor = true;
    q->after_us = us;
    vx_uuid_format(&u, q->after_event);
    return VX_OK;
}

vx_status api_costs_query_parse(api_param_fn get, void *ctx, const char *tenant,
                                const uint8_t *secret, size_t secret_len, api_query *q,
                                api_refusal *why)
{
    memset(q, 0, sizeof *q);
    vx_status st = parse_range(get, ctx, q, why);
    if (st != VX_OK)
        return st;
    q->limit = API_DEFAULT_LIMIT;
    const char *lim = get(ctx, "limit");
    if (lim) {
        char *end;
        errno = 0;
        long v = strtol(lim, &end, 10);
        if (errno || end == lim || *end || v < 1 || v > API_MAX_QUERY_ROWS)
            return api_refuse(why, "limit", "must be a whole number from 1 to 10000, not '%.40s'",
                              lim);
        q->limit = (int)v;
    }
    const char *cur = get(ctx, "cursor");
    if (cur && *cur)
        return cursor_decode(cur, q, tenant, secret, secret_len, why);
    return VX_OK;
}

vx_status api_summary_query_parse(api_param_fn get, void *ctx, api_query *q, api_refusal *why)
{
    memset(q, 0, sizeof *q);
    vx_status st = parse_range(get, ctx, q, why);
    if (st != VX_OK)
        return st;
    const char *g = get(ctx, "group_by");
    if (!g || !*g)
        return api_refuse(
            why, "group_by", "%s",
            "group_by is required: one or two of day, service, region, account, provider");
    const char *p = g;
    while (*p) {
        size_t n = strcspn(p, ",");
        int found = -1;
        for (int i = 0; i < 5; i++)
            if (strlen(group_names[i]) == n && strncmp(p, group_names[i], n) == 0)
                found = i;
        if (found < 0)
            return api_refuse(why, "group_by",
                              "'%.60s' is not one of day, service, region, account, "
                              "provider",
                              g);
        for (int i = 0; i < q->n_group_by; i++)
            if (q->group_by[i] == (api_group)found)
                return api_refuse(why, "group_by", "'%.60s' names a field twice", g);
        if (q->n_group_by == 2)
            return api_refuse(why, "group_by", "'%.60s': at most two fields", g);
        q->group_by[q->n_group_by++] = (api_group)found;
        p += n;
        if (*p == ',')
            p++;
    }
    return VX_OK;
}

/* ---- SQL ---- */

static const char *add_param(api_sql *s, const char *value)
{
    s->params[s->n_params++] = value;
    static const char *const refs[] = {"$1", "$2", "$3", "$4",  "$5",  "$6",
                                       "$7", "$8", "$9", "$10", "$11", "$12"};
    return refs[s->n_params - 1];
}

static void append(api_sql *s, const char *text)
{
    size_t n = strlen(s->sql);
    snprintf(s->sql + n, sizeof s->sql - n, "%s", text);
}

static void append_range(api_sql *s, const api_query *q, const char *tenant, const char *column,
                         bool is_date)
{
    vx_format_iso8601(q->from_s, s->storage[0], sizeof s->storage[0]);
    vx_format_iso8601(q->to_s, s->storage[1], sizeof s->storage[1]);
    char buf[256];
    const char *t = add_param(s, tenant);
    const char *from = add_param(s, s->storage[0]);
    const char *to = add_param(s, s->storage[1]);
    if (is_date)
        snprintf(buf, sizeof buf,
                 " WHERE tenant_id = %s::uuid AND %s >= (%s::timestamptz AT TIME ZONE 'UTC')::date"
                 " AND %s < (%s::timestamptz AT TIME ZONE 'UTC')::date",
                 t, column, from, column, to);
    else
        snprintf(buf, sizeof buf,
                 " WHERE tenant_id = %s::uuid AND %s >= %s::timestamptz AND %s < %s::timestamptz",
                 t, column, from, column, to);
    append(s, buf);
    for (int f = 0; f < API_FILTER_COUNT; f++) {
        if (!q->filters[f])
            continue;
        snprintf(buf, sizeof buf, " AND %s = %s", filter_columns[f], add_param(s, q->filters[f]));
        append(s, buf);
    }
}

void api_costs_sql(const api_query *q, const char *tenant, api_sql *out)
{
    memset(out, 0, sizeof *out);
    append(out,
           "SELECT to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
           "(extract(epoch FROM recorded_at) * 1000000)::bigint, event_id, revision, "
           "to_char(charge_period_end AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
           "provider, sub_account_id, service_name, service_category, region_id, resource_id, "
           "charge_category, billed_cost::text, effective_cost::text, list_cost::text, "
           "billing_currency, usage_quantity::text, usage_unit, tags::text FROM cost_records");
    append_range(out, q, tenant, "recorded_at", false);
    char buf[256];
    if (q->has_cursor) {
        snprintf(out->storage[2], sizeof out->storage[2], "%lld", (long long)q->after_us);
        const char *us = add_param(out, out->storage[2]);
        const char *ev = add_param(out, q->after_event);
        snprintf(buf, sizeof buf,
                 " AND (recorded_at, event_id) > (timestamptz 'epoch' + %s::bigint * interval "
                 "'1 microsecond', %s::uuid)",
                 us, ev);
        append(out, buf);
    }
    snprintf(out->storage[3], sizeof out->storage[3], "%d", q->limit + 1);
    snprintf(buf, sizeof buf, " ORDER BY recorded_at, event_id LIMIT %s",
             add_param(out, out->storage[3]));
    append(out, buf);
}

void api_summary_sql(const api_query *q, const char *tenant, api_sql *out)
{
    memset(out, 0, sizeof *out);
    char cols[128] = "";
    for (int i = 0; i < q->n_group_by; i++) {
        size_t n = strlen(cols);
        snprintf(cols + n, sizeof cols - n, "%s%s", i ? ", " : "", group_columns[q->group_by[i]]);
    }
    char buf[512];
    snprintf(buf, sizeof buf,
             "SELECT %s, billing_currency, sum(billed_cost)::text, sum(effective_cost)::text, "
             "sum(list_cost)::text, sum(record_count) FROM cost_daily",
             cols);
    append(out, buf);
    append_range(out, q, tenant, "day", true);
    snprintf(buf, sizeof buf,
             " GROUP BY %s, billing_currency ORDER BY %s, billing_currency LIMIT %d", cols, cols,
             API_MAX_QUERY_ROWS + 1);
    append(out, buf);
}
