/* Rollup rows and forecast-service replies into a vx_llm_context; the forecast-service
 * requests. */
#include "context.h"

#include "valdrix/v1/forecast.pb-c.h"
#include "vx/alloc.h"
#include "vx/pb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOTE_MAX_BYTES 300

void llm_rows_add(llm_rows *rows, const char *service, const char *account, const char *currency,
                  vx_money amount, vx_money previous, vx_money week, vx_money prior_week)
{
    if (rows->n == rows->cap) {
        rows->cap = rows->cap ? rows->cap * 2 : 16;
        rows->v = vx_xrealloc(rows->v, rows->cap * sizeof *rows->v);
    }
    llm_row *r = &rows->v[rows->n++];
    memset(r, 0, sizeof *r);
    r->service = vx_xstrdup(service ? service : "");
    r->account = account ? vx_xstrdup(account) : NULL;
    snprintf(r->currency, sizeof r->currency, "%s", currency ? currency : "");
    r->amount = amount;
    r->previous = previous;
    r->week = week;
    r->prior_week = prior_week;
}

void llm_rows_cleanup(llm_rows *rows)
{
    if (rows == NULL)
        return;
    for (size_t i = 0; i < rows->n; i++) {
        vx_free(rows->v[i].service);
        vx_free(rows->v[i].account);
    }
    vx_free(rows->v);
    memset(rows, 0, sizeof *rows);
}

bool llm_money_from_text(const char *s, vx_money *out)
{
    if (s == NULL || s[0] == '\0') {
        *out = (vx_money){0, 0};
        return true;
    }
    return vx_money_parse(s, strlen(s), out);
}

void llm_context_note(llm_context *c, const char *note)
{
    if (c->n_notes >= VX_LLM_MAX_NOTES || note == NULL || note[0] == '\0')
        return;
    char *n = vx_xstrndup(note, NOTE_MAX_BYTES);
    c->notes[c->n_notes++] = n;
    c->ctx.notes = (const char *const *)c->notes;
    c->ctx.n_notes = c->n_notes;
}

static vx_int128 nanos(vx_money m)
{
    return vx_money_to_nanos(m);
}

/* The currency of the most spend in the window, then in the previous period, then the first
 * alphabetically. */
static void pick_currency(const llm_rows *rows, char out[4])
{
    const char *best = NULL;
    vx_int128 best_amount = 0, best_previous = 0;
    for (size_t i = 0; i < rows->n; i++) {
        const char *cur = rows->v[i].currency;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(rows->v[j].currency, cur) == 0;
        if (seen)
            continue;
        vx_int128 amount = 0, previous = 0;
        for (size_t j = i; j < rows->n; j++) {
            if (strcmp(rows->v[j].currency, cur) != 0)
                continue;
            amount += nanos(rows->v[j].amount);
            previous += nanos(rows->v[j].previous);
        }
        bool better = best == NULL || amount > best_amount ||
                      (amount == best_amount && previous > best_previous) ||
                      (amount == best_amount && previous == best_previous && strcmp(cur, best) < 0);
        if (better) {
            best = cur;
            best_amount = amount;
            best_previous = previous;
        }
    }
    snprintf(out, 4, "%s", best ? best : "USD");
}

static vx_llm_line line_of(const llm_row *r)
{
    return (vx_llm_line){.service = r->service,
                         .account = r->account,
                         .amount = r->amount,
                         .previous = r->previous,
                         .week = r->week,
                         .prior_week = r->prior_week};
}

static int by_amount(const void *a, const void *b)
{
    const llm_row *x = *(const llm_row *const *)a, *y = *(const llm_row *const *)b;
    vx_int128 ax = nanos(x->amount), ay = nanos(y->amount);
    if (ax != ay)
        return ax > ay ? -1 : 1;
    return strcmp(x->service, y->service);
}

static vx_int128 abs_change(const llm_row *r)
{
    vx_int128 d = nanos(r->amount) - nanos(r->previous);
    return d < 0 ? -d : d;
}

static int by_change(const void *a, const void *b)
{
    const llm_row *x = *(const llm_row *const *)a, *y = *(const llm_row *const *)b;
    vx_int128 dx = abs_change(x), dy = abs_change(y);
    if (dx != dy)
        return dx > dy ? -1 : 1;
    return strcmp(x->service, y->service);
}

static bool same_line(const vx_llm_line *a, const llm_row *b)
{
    const char *aa = a->account ? a->account : "", *ba = b->account ? b->account : "";
    return strcmp(a->service, b->service) == 0 && strcmp(aa, ba) == 0;
}

vx_status llm_context_build(llm_context *out, const llm_req *req, llm_rows *rows, llm_rows *focus,
                            char *err, size_t err_cap)
{
    llm_context *c = out;
    memset(c, 0, sizeof *c);
    c->rows = *rows;
    memset(rows, 0, sizeof *rows);
    if (focus) {
        c->focus = *focus;
        memset(focus, 0, sizeof *focus);
    }
    if (req->scope.currency[0])
        memcpy(c->currency, req->scope.currency, 4);
    else
        pick_currency(&c->rows, c->currency);

    vx_llm_context *x = &c->ctx;
    x->kind = req->kind;
    x->from = req->scope.from;
    x->to = req->scope.to;
    x->currency = c->currency;
    x->focus_service = req->focus_service;
    x->focus_account = req->focus_account;

    size_t n = 0;
    for (size_t i = 0; i < c->rows.n; i++)
        n += strcmp(c->rows.v[i].currency, c->currency) == 0;
    const llm_row **mine = vx_xcalloc(n ? n : 1, sizeof *mine);
    size_t k = 0;
    vx_int128 sum[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < c->rows.n; i++) {
        const llm_row *r = &c->rows.v[i];
        if (strcmp(r->currency, c->currency) != 0)
            continue;
        mine[k++] = r;
        sum[0] += nanos(r->amount);
        sum[1] += nanos(r->previous);
        sum[2] += nanos(r->week);
        sum[3] += nanos(r->prior_week);
    }
    if (!vx_money_from_nanos(sum[0], &x->total) ||
        !vx_money_from_nanos(sum[1], &x->previous_total) ||
        !vx_money_from_nanos(sum[2], &x->week) || !vx_money_from_nanos(sum[3], &x->prior_week)) {
        vx_free(mine);
        vx_errf(err, err_cap, "the spend of this window is too large to add up");
        return VX_INTERNAL;
    }

    /* The focus line first, when there is one in this currency. */
    const llm_row *focus_row = NULL;
    for (size_t i = 0; i < c->focus.n && !focus_row; i++)
        if (strcmp(c->focus.v[i].currency, c->currency) == 0)
            focus_row = &c->focus.v[i];
    if (focus_row)
        c->services[x->n_services++] = line_of(focus_row);

    qsort(mine, k, sizeof *mine, by_amount);
    for (size_t i = 0; i < k && x->n_services < VX_LLM_MAX_LINES; i++) {
        if (nanos(mine[i]->amount) <= 0)
            break;
        if (focus_row && same_line(&c->services[0], mine[i]))
            continue;
        c->services[x->n_services++] = line_of(mine[i]);
    }
    qsort(mine, k, sizeof *mine, by_change);
    for (size_t i = 0; i < k && x->n_movers < VX_LLM_MAX_LINES; i++) {
        if (abs_change(mine[i]) == 0)
            break;
        c->movers[x->n_movers++] = line_of(mine[i]);
    }
    vx_free(mine);
    x->services = c->services;
    x->movers = c->movers;

    if (c->rows.truncated)
        llm_context_note(c, "this tenant has more services than were read; only the largest "
                            "were considered");
    if (k == 0)
        llm_context_note(c, "no spend was recorded in this window or the period before it");
    return VX_OK;
}

void llm_context_cleanup(llm_context *c)
{
    if (c == NULL)
        return;
    llm_rows_cleanup(&c->rows);
    llm_rows_cleanup(&c->focus);
    for (size_t i = 0; i < c->n_anomaly_strings; i++)
        vx_free(c->anomaly_strings[i]);
    for (size_t i = 0; i < c->n_notes; i++)
        vx_free(c->notes[i]);
    memset(c, 0, sizeof *c);
}

static const char *keep(llm_context *c, const char *s)
{
    char *copy = vx_xstrdup(s ? s : "");
    c->anomaly_strings[c->n_anomaly_strings++] = copy;
    return copy;
}

static bool valid_date(const char *s)
{
    int64_t d;
    return s && vx_contract_day_parse(s, strlen(s), &d);
}

static int by_score(const void *a, const void *b)
{
    const Valdrix__V1__Anomaly *x = *(Valdrix__V1__Anomaly *const *)a;
    const Valdrix__V1__Anomaly *y = *(Valdrix__V1__Anomaly *const *)b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->date, y->date);
}

static int by_date(const void *a, const void *b)
{
    const Valdrix__V1__Anomaly *x = *(Valdrix__V1__Anomaly *const *)a;
    const Valdrix__V1__Anomaly *y = *(Valdrix__V1__Anomaly *const *)b;
    int d = strcmp(x->date, y->date);
    return d ? d
             : strcmp(x->service_name ? x->service_name : "",
                      y->service_name ? y->service_name : "");
}

bool llm_context_add_anomalies(llm_context *c, const uint8_t *data, size_t len, char *why,
                               size_t why_cap)
{
    Valdrix__V1__AnomaliesReply *r = valdrix__v1__anomalies_reply__unpack(NULL, len, data);
    if (r == NULL) {
        vx_errf(why, why_cap, "not an AnomaliesReply");
        return false;
    }
    if (r->outcome_case != VALDRIX__V1__ANOMALIES_REPLY__OUTCOME_RESULT || r->result == NULL) {
        vx_errf(why, why_cap, "%s",
                r->outcome_case == VALDRIX__V1__ANOMALIES_REPLY__OUTCOME_ERROR && r->error &&
                        r->error->message
                    ? r->error->message
                    : "neither a result nor an error");
        valdrix__v1__anomalies_reply__free_unpacked(r, NULL);
        return false;
    }
    const Valdrix__V1__AnomaliesResult *res = r->result;
    Valdrix__V1__Anomaly **ok = vx_xcalloc(res->n_anomalies ? res->n_anomalies : 1, sizeof *ok);
    size_t n = 0;
    for (size_t i = 0; i < res->n_anomalies; i++) {
        Valdrix__V1__Anomaly *a = res->anomalies[i];
        if (a == NULL || !valid_date(a->date) || a->kind == NULL || a->kind[0] == '\0' ||
            !isfinite(a->actual) || !isfinite(a->expected) || !isfinite(a->score))
            continue;
        ok[n++] = a;
    }
    qsort(ok, n, sizeof *ok, by_score);
    if (n > VX_LLM_MAX_ANOMALIES)
        n = VX_LLM_MAX_ANOMALIES;
    qsort(ok, n, sizeof *ok, by_date);
    for (size_t i = 0; i < n; i++) {
        const Valdrix__V1__Anomaly *a = ok[i];
        c->anomalies[i] = (vx_llm_anomaly){
            .date = keep(c, a->date),
            .service = keep(c, a->service_name),
            .kind = keep(c, a->kind),
            .severity = a->severity && a->severity[0] ? keep(c, a->severity) : NULL,
            .actual = a->actual,
            .expected = a->expected,
        };
    }
    c->ctx.anomalies = c->anomalies;
    c->ctx.n_anomalies = n;
    vx_free(ok);
    valdrix__v1__anomalies_reply__free_unpacked(r, NULL);
    return true;
}

bool llm_context_add_forecast(llm_context *c, const uint8_t *data, size_t len, char *why,
                              size_t why_cap)
{
    Valdrix__V1__ForecastReply *r = valdrix__v1__forecast_reply__unpack(NULL, len, data);
    if (r == NULL) {
        vx_errf(why, why_cap, "not a ForecastReply");
        return false;
    }
    bool ok = false;
    if (r->outcome_case != VALDRIX__V1__FORECAST_REPLY__OUTCOME_RESULT || r->result == NULL) {
        vx_errf(why, why_cap, "%s",
                r->outcome_case == VALDRIX__V1__FORECAST_REPLY__OUTCOME_ERROR && r->error &&
                        r->error->message
                    ? r->error->message
                    : "neither a result nor an error");
    } else if (r->result->total == NULL || r->result->total->n_points == 0 ||
               r->result->total->n_points > 366) {
        vx_errf(why, why_cap, "a forecast without points");
    } else {
        const Valdrix__V1__SeriesForecast *t = r->result->total;
        double total = 0, lo = 0, hi = 0;
        for (size_t i = 0; i < t->n_points; i++) {
            total += t->points[i]->yhat;
            lo += t->points[i]->lo;
            hi += t->points[i]->hi;
        }
        if (isfinite(total) && isfinite(lo) && isfinite(hi)) {
            c->forecast = (vx_llm_forecast){
                .horizon_days = (uint32_t)t->n_points, .total = total, .lo = lo, .hi = hi};
            c->ctx.forecast = &c->forecast;
            ok = true;
        } else {
            vx_errf(why, why_cap, "a forecast that is not finite");
        }
    }
    valdrix__v1__forecast_reply__free_unpacked(r, NULL);
    return ok;
}

/* A CostScope of the request's filters up to its `to`, borrowing its strings. */
static void scope_of(const llm_req *req, const char *currency, Valdrix__V1__CostScope *s)
{
    vx_contract_scope_fill(&req->scope, s);
    s->from = vx_pb_str("");
    s->currency = vx_pb_str(currency);
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = vx_xmalloc(*len ? *len : 1);
    protobuf_c_message_pack(m, buf);
    return buf;
}

uint8_t *llm_anomalies_request_pack(const llm_req *req, const char *currency, size_t *len)
{
    Valdrix__V1__CostScope s;
    scope_of(req, currency, &s);
    s.from = vx_pb_str(req->scope.from);
    Valdrix__V1__AnomaliesRequest m;
    valdrix__v1__anomalies_request__init(&m);
    m.scope = &s;
    return pack(&m.base, len);
}

uint8_t *llm_forecast_request_pack(const llm_req *req, const char *currency, size_t *len)
{
    Valdrix__V1__CostScope s;
    scope_of(req, currency, &s);
    Valdrix__V1__ForecastRequest m;
    valdrix__v1__forecast_request__init(&m);
    m.scope = &s;
    m.horizon_days = 30;
    return pack(&m.base, len);
}
