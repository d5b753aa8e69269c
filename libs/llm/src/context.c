/* The insight context: checking it, and the text helpers every writer of tenant strings and
 * amounts uses (UTF-8 repair and clipping, dates, cents, percentages). */
#include "llm_internal.h"

#include "vx/alloc.h"
#include "vx/buf.h"
#include "vx/clock.h"
#include "vx/contract.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_WINDOW_DAYS (3 * 366)

const char *vx_llm_kind_str(vx_llm_kind kind)
{
    switch (kind) {
    case VX_LLM_KIND_SUMMARY:
        return "summary";
    case VX_LLM_KIND_ANOMALY:
        return "anomaly";
    case VX_LLM_KIND_FORECAST:
        return "forecast";
    }
    return "summary";
}

bool llm_empty(const char *s)
{
    return !s || !*s;
}

char *llm_clean_str(const char *s, size_t max_bytes)
{
    vx_buf b;
    vx_buf_init(&b);
    vx_buf_reserve(&b, 1);
    b.data[0] = '\0';
    if (!s)
        return vx_buf_take(&b, NULL);
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t len = vx_contract_utf8_seq((const char *)p + i, n - i);
        const char *piece = (const char *)p + i;
        size_t piece_len = len;
        if (len == 0) {
            piece = "\xEF\xBF\xBD";
            piece_len = 3;
            len = 1;
        }
        if (b.len + piece_len > max_bytes)
            break;
        vx_buf_append(&b, piece, piece_len);
        i += len;
    }
    return vx_buf_take(&b, NULL);
}

void llm_clip_utf8(char *s, size_t max_bytes)
{
    size_t n = strlen(s);
    if (n > max_bytes) {
        n = max_bytes;
        s[n] = '\0';
    }
    /* Drop a character left incomplete at the end (by this cut or an earlier one). */
    size_t lead = n;
    while (lead > 0 && n - lead < 4 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
        lead--;
    if (lead == 0)
        return;
    unsigned char c = (unsigned char)s[lead - 1];
    size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (n - (lead - 1) < want)
        s[lead - 1] = '\0';
}

bool llm_parse_date(const char *s, int64_t *unix_s)
{
    int64_t day;
    if (!s || !vx_contract_day_parse(s, strlen(s), &day))
        return false;
    *unix_s = day * 86400;
    return true;
}

int64_t llm_window_days(const vx_llm_context *ctx)
{
    int64_t from = 0, to = 0;
    if (!llm_parse_date(ctx->from, &from) || !llm_parse_date(ctx->to, &to))
        return 0;
    return (to - from) / 86400;
}

int64_t llm_money_cents(vx_money m)
{
    vx_int128 nanos = vx_money_to_nanos(m);
    const vx_int128 per_cent = VX_NANOS_PER_UNIT / 100;
    vx_int128 q = nanos / per_cent, r = nanos % per_cent;
    if (r * 2 >= per_cent)
        q++;
    else if (r * 2 <= -per_cent)
        q--;
    /* Amounts in a context are far below 2^63 cents; clamp rather than wrap if not. */
    if (q > INT64_MAX)
        return INT64_MAX;
    if (q < -INT64_MAX)
        return -INT64_MAX;
    return (int64_t)q;
}

void llm_format_money(vx_money m, char *out, size_t cap)
{
    int64_t cents = llm_money_cents(m);
    uint64_t a = cents < 0 ? (uint64_t)(-cents) : (uint64_t)cents;
    snprintf(out, cap, "%s%llu.%02llu", cents < 0 ? "-" : "", (unsigned long long)(a / 100),
             (unsigned long long)(a % 100));
}

bool llm_pct_change(vx_money cur, vx_money prev, double *pct)
{
    vx_int128 p = vx_money_to_nanos(prev);
    if (p <= 0)
        return false;
    vx_int128 c = vx_money_to_nanos(cur);
    *pct = (double)(c - p) / (double)p * 100.0;
    return isfinite(*pct);
}

static bool check_money(vx_money m, const char *what, char *err, size_t cap)
{
    if (!vx_money_valid(m)) {
        vx_errf(err, cap, "%s: invalid amount", what);
        return false;
    }
    return true;
}

static bool check_lines(const vx_llm_line *lines, size_t n, const char *what, char *err, size_t cap)
{
    if (n > VX_LLM_MAX_LINES) {
        vx_errf(err, cap, "%s: %zu lines, at most %d", what, n, VX_LLM_MAX_LINES);
        return false;
    }
    if (n && !lines) {
        vx_errf(err, cap, "%s: missing", what);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char name[64];
        if (!lines[i].service) {
            vx_errf(err, cap, "%s[%zu].service: missing", what, i);
            return false;
        }
        const vx_money *m[] = {&lines[i].amount, &lines[i].previous, &lines[i].week,
                               &lines[i].prior_week};
        static const char *const names[] = {"amount", "previous", "week", "prior_week"};
        for (size_t k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "%s[%zu].%s", what, i, names[k]);
            if (!check_money(*m[k], name, err, cap))
                return false;
        }
    }
    return true;
}

vx_status vx_llm_context_check(const vx_llm_context *ctx, char *err, size_t cap)
{
    int64_t from = 0, to = 0;
    if (!ctx) {
        vx_errf(err, cap, "context: missing");
        return VX_INVALID;
    }
    if (ctx->kind != VX_LLM_KIND_SUMMARY && ctx->kind != VX_LLM_KIND_ANOMALY &&
        ctx->kind != VX_LLM_KIND_FORECAST) {
        vx_errf(err, cap, "kind: unknown value %d", (int)ctx->kind);
        return VX_INVALID;
    }
    if (!llm_parse_date(ctx->from, &from)) {
        vx_errf(err, cap, "from: must be a date YYYY-MM-DD");
        return VX_INVALID;
    }
    if (!llm_parse_date(ctx->to, &to)) {
        vx_errf(err, cap, "to: must be a date YYYY-MM-DD");
        return VX_INVALID;
    }
    if (to <= from || (to - from) / 86400 > MAX_WINDOW_DAYS) {
        vx_errf(err, cap, "to: must be after from and at most %d days later", MAX_WINDOW_DAYS);
        return VX_INVALID;
    }
    const char *c = ctx->currency;
    if (!c || strlen(c) != 3 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' ||
        c[2] < 'A' || c[2] > 'Z') {
        vx_errf(err, cap, "currency: must be an ISO 4217 code such as USD");
        return VX_INVALID;
    }
    if (!check_money(ctx->total, "total", err, cap) ||
        !check_money(ctx->previous_total, "previous_total", err, cap) ||
        !check_money(ctx->week, "week", err, cap) ||
        !check_money(ctx->prior_week, "prior_week", err, cap))
        return VX_INVALID;
    if (!check_lines(ctx->services, ctx->n_services, "services", err, cap) ||
        !check_lines(ctx->movers, ctx->n_movers, "movers", err, cap))
        return VX_INVALID;
    if (ctx->n_anomalies > VX_LLM_MAX_ANOMALIES) {
        vx_errf(err, cap, "anomalies: %zu, at most %d", ctx->n_anomalies, VX_LLM_MAX_ANOMALIES);
        return VX_INVALID;
    }
    if (ctx->n_anomalies && !ctx->anomalies) {
        vx_errf(err, cap, "anomalies: missing");
        return VX_INVALID;
    }
    for (size_t i = 0; i < ctx->n_anomalies; i++) {
        const vx_llm_anomaly *a = &ctx->anomalies[i];
        int64_t d;
        if (!llm_parse_date(a->date, &d)) {
            vx_errf(err, cap, "anomalies[%zu].date: must be a date YYYY-MM-DD", i);
            return VX_INVALID;
        }
        if (llm_empty(a->kind)) {
            vx_errf(err, cap, "anomalies[%zu].kind: missing", i);
            return VX_INVALID;
        }
        if (!isfinite(a->actual) || !isfinite(a->expected)) {
            vx_errf(err, cap, "anomalies[%zu]: actual and expected must be finite", i);
            return VX_INVALID;
        }
    }
    if (ctx->forecast) {
        const vx_llm_forecast *f = ctx->forecast;
        if (f->horizon_days < 1 || f->horizon_days > 366) {
            vx_errf(err, cap, "forecast.horizon_days: must be 1..366");
            return VX_INVALID;
        }
        if (!isfinite(f->total) || !isfinite(f->lo) || !isfinite(f->hi)) {
            vx_errf(err, cap, "forecast: total, lo and hi must be finite");
            return VX_INVALID;
        }
    }
    if (ctx->n_notes > VX_LLM_MAX_NOTES) {
        vx_errf(err, cap, "notes: %zu, at most %d", ctx->n_notes, VX_LLM_MAX_NOTES);
        return VX_INVALID;
    }
    for (size_t i = 0; i < ctx->n_notes; i++) {
        if (!ctx->notes || !ctx->notes[i]) {
            vx_errf(err, cap, "notes[%zu]: missing", i);
            return VX_INVALID;
        }
    }
    return VX_OK;
}
