/* The `local` provider: an insight written from the context numbers alone, with fixed sentences
 * and simple, conservative rules. No network, no randomness: the same context always gives the
 * same insight. */
#include "llm_internal.h"

#include "vx/alloc.h"
#include "vx/buf.h"
#include "vx/clock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_SERVICE_MAX VX_LLM_MAX_TENANT_STR
#define NAME_ACCOUNT_MAX 100
#define MAX_MOVER_FINDINGS 4
#define MAX_ANOMALY_FINDINGS 3
#define MAX_SPIKE_RECOMMENDATIONS 2
#define MAX_CANDIDATES 64

typedef struct {
    char *action;
    char *target;
    int64_t savings_cents;
    vx_llm_priority priority;
    double confidence;
    size_t order;
} candidate;

typedef struct {
    const vx_llm_context *ctx;
    int64_t days;
    vx_buf findings[VX_LLM_MAX_FINDINGS];
    size_t n_findings;
    candidate cands[MAX_CANDIDATES];
    size_t n_cands;
} writer;

/* "service" or "service (account)", repaired and cut; caller frees. */
static char *line_name(const char *service, const char *account)
{
    char *s = llm_clean_str(service, NAME_SERVICE_MAX);
    if (llm_empty(account))
        return s;
    char *a = llm_clean_str(account, NAME_ACCOUNT_MAX);
    char *both = vx_xasprintf("%s (%s)", s, a);
    vx_free(s);
    vx_free(a);
    return both;
}

static vx_int128 nanos(vx_money m)
{
    return vx_money_to_nanos(m);
}

static void money_text(vx_money m, const char *currency, char *out, size_t cap)
{
    char b[48];
    llm_format_money(m, b, sizeof b);
    snprintf(out, cap, "%s %s", b, currency);
}

/* Cents rounded half away from zero, from nanos. */
static int64_t cents_of(vx_int128 n)
{
    vx_money m = {0, 0};
    if (!vx_money_from_nanos(n, &m))
        return n < 0 ? -INT64_MAX : INT64_MAX;
    return llm_money_cents(m);
}

static void cents_text(int64_t cents, char *out, size_t cap)
{
    uint64_t a = cents < 0 ? (uint64_t)(-cents) : (uint64_t)cents;
    snprintf(out, cap, "%llu.%02llu", (unsigned long long)(a / 100), (unsigned long long)(a % 100));
}

/* "up 23.5% (+234.56 USD)", "down 4.0% (-10.00 USD)", "unchanged", "new spend" or "no spend". */
static void change_text(vx_money cur, vx_money prev, const char *currency, char *out, size_t cap)
{
    int64_t delta = cents_of(nanos(cur) - nanos(prev));
    double pct;
    char amount[48];
    cents_text(delta, amount, sizeof amount);
    if (llm_pct_change(cur, prev, &pct)) {
        if (delta == 0)
            snprintf(out, cap, "unchanged");
        else
            snprintf(out, cap, "%s %.1f%% (%c%s %s)", delta > 0 ? "up" : "down", fabs(pct),
                     delta > 0 ? '+' : '-', amount, currency);
    } else if (nanos(cur) > 0) {
        snprintf(out, cap, "new spend (+%s %s)", amount, currency);
    } else {
        snprintf(out, cap, "no spend");
    }
}

static void add_finding(writer *w, vx_buf *text)
{
    if (w->n_findings >= VX_LLM_MAX_FINDINGS) {
        vx_buf_cleanup(text);
        return;
    }
    llm_clip_utf8(text->data, VX_LLM_MAX_FINDING);
    w->findings[w->n_findings++] = *text;
    vx_buf_init(text);
}

static void add_candidate(writer *w, char *action, const char *target, int64_t savings_cents,
                          vx_llm_priority priority, double confidence)
{
    if (w->n_cands >= MAX_CANDIDATES) {
        vx_free(action);
        return;
    }
    candidate *c = &w->cands[w->n_cands];
    llm_clip_utf8(action, VX_LLM_MAX_ACTION);
    c->action = action;
    c->target = vx_xstrdup(target);
    llm_clip_utf8(c->target, VX_LLM_MAX_TARGET);
    c->savings_cents = savings_cents < 0 ? 0 : savings_cents;
    c->priority = priority;
    c->confidence = confidence;
    c->order = w->n_cands++;
}

static bool same_line(const vx_llm_line *a, const vx_llm_line *b)
{
    const char *aa = a->account ? a->account : "", *ba = b->account ? b->account : "";
    return strcmp(a->service, b->service) == 0 && strcmp(aa, ba) == 0;
}

/* The focus line: the first line (services, then movers) matching the focus service and, when
 * given, the focus account. */
static const vx_llm_line *focus_line(const vx_llm_context *ctx)
{
    const vx_llm_line *sets[] = {ctx->services, ctx->movers};
    size_t counts[] = {ctx->n_services, ctx->n_movers};
    for (size_t s = 0; s < 2; s++) {
        for (size_t i = 0; i < counts[s]; i++) {
            const vx_llm_line *l = &sets[s][i];
            if (!llm_empty(ctx->focus_service) && strcmp(l->service, ctx->focus_service) != 0)
                continue;
            if (!llm_empty(ctx->focus_account) &&
                (!l->account || strcmp(l->account, ctx->focus_account) != 0))
                continue;
            return l;
        }
    }
    return NULL;
}

static const vx_llm_anomaly *largest_anomaly(const vx_llm_context *ctx, const bool *used)
{
    const vx_llm_anomaly *best = NULL;
    for (size_t i = 0; i < ctx->n_anomalies; i++) {
        if (used && used[i])
            continue;
        const vx_llm_anomaly *a = &ctx->anomalies[i];
        if (!best || fabs(a->actual - a->expected) > fabs(best->actual - best->expected))
            best = a;
    }
    return best;
}

static void write_summary(writer *w, vx_buf *s)
{
    const vx_llm_context *ctx = w->ctx;
    int64_t to = 0;
    llm_parse_date(ctx->to, &to);
    char last[16], total[64], change[128];
    vx_format_date(to - 86400, last, sizeof last);
    money_text(ctx->total, ctx->currency, total, sizeof total);
    change_text(ctx->total, ctx->previous_total, ctx->currency, change, sizeof change);
    vx_buf_printf(s, "From %s to %s (%lld days) spend was %s", ctx->from, last, (long long)w->days,
                  total);
    if (nanos(ctx->previous_total) > 0)
        vx_buf_printf(s, ", %s on the previous %lld days.", change, (long long)w->days);
    else if (nanos(ctx->total) > 0)
        vx_buf_printf(s, ", with no spend in the previous %lld days.", (long long)w->days);
    else
        vx_buf_puts(s, ".");
    if (nanos(ctx->prior_week) > 0) {
        change_text(ctx->week, ctx->prior_week, ctx->currency, change, sizeof change);
        vx_buf_printf(s, " The last 7 days were %s on the 7 days before.", change);
    }
    if (ctx->kind == VX_LLM_KIND_ANOMALY) {
        const vx_llm_anomaly *a = largest_anomaly(ctx, NULL);
        if (a) {
            char *name =
                llm_empty(a->service) ? vx_xstrdup("total spend") : line_name(a->service, NULL);
            vx_buf_printf(s,
                          " %zu %s flagged; the largest was in %s on %s: %.2f %s against %.2f "
                          "expected.",
                          ctx->n_anomalies,
                          ctx->n_anomalies == 1 ? "anomaly was" : "anomalies were", name, a->date,
                          a->actual, ctx->currency, a->expected);
            vx_free(name);
        } else {
            vx_buf_puts(s, " No anomalies were flagged in this window.");
        }
    }
    if (ctx->kind == VX_LLM_KIND_FORECAST) {
        const vx_llm_forecast *f = ctx->forecast;
        if (f)
            vx_buf_printf(s,
                          " Spend over the next %u days is forecast at %.2f %s (between %.2f and "
                          "%.2f).",
                          f->horizon_days, f->total, ctx->currency, f->lo, f->hi);
        else
            vx_buf_puts(s, " No forecast was available for this window.");
    }
    llm_clip_utf8(s->data, VX_LLM_MAX_SUMMARY);
}

static void line_finding(writer *w, const vx_llm_line *l, const char *lead)
{
    const vx_llm_context *ctx = w->ctx;
    char *name = line_name(l->service, l->account);
    char amount[64], change[128];
    money_text(l->amount, ctx->currency, amount, sizeof amount);
    change_text(l->amount, l->previous, ctx->currency, change, sizeof change);
    vx_buf b;
    vx_buf_init(&b);
    vx_buf_printf(&b, "%s%s: %s in the window, %s on the previous period", lead, name, amount,
                  change);
    if (nanos(l->prior_week) > 0) {
        change_text(l->week, l->prior_week, ctx->currency, change, sizeof change);
        vx_buf_printf(&b, "; %s week over week", change);
    }
    vx_buf_puts(&b, ".");
    add_finding(w, &b);
    vx_free(name);
}

static void write_findings(writer *w)
{
    const vx_llm_context *ctx = w->ctx;
    const vx_llm_line *focus = NULL;
    if (!llm_empty(ctx->focus_service) || !llm_empty(ctx->focus_account)) {
        focus = focus_line(ctx);
        if (focus) {
            line_finding(w, focus, "Focus ");
        } else {
            char *name = llm_empty(ctx->focus_service)
                             ? line_name("account", ctx->focus_account)
                             : line_name(ctx->focus_service, ctx->focus_account);
            vx_buf b;
            vx_buf_init(&b);
            vx_buf_printf(&b, "Focus %s: not among the top services or movers of this window.",
                          name);
            add_finding(w, &b);
            vx_free(name);
        }
    }
    size_t movers = 0;
    for (size_t i = 0; i < ctx->n_movers && movers < MAX_MOVER_FINDINGS; i++) {
        const vx_llm_line *l = &ctx->movers[i];
        if ((focus && same_line(focus, l)) || cents_of(nanos(l->amount) - nanos(l->previous)) == 0)
            continue;
        line_finding(w, l, "");
        movers++;
    }
    bool used[VX_LLM_MAX_ANOMALIES] = {false};
    for (size_t k = 0; k < MAX_ANOMALY_FINDINGS; k++) {
        const vx_llm_anomaly *a = largest_anomaly(ctx, used);
        if (!a)
            break;
        used[a - ctx->anomalies] = true;
        char *name =
            llm_empty(a->service) ? vx_xstrdup("total spend") : line_name(a->service, NULL);
        char *kind = llm_clean_str(a->kind, 40);
        vx_buf b;
        vx_buf_init(&b);
        vx_buf_printf(&b, "Anomaly on %s in %s (%s): %.2f %s against %.2f expected.", a->date, name,
                      kind, a->actual, ctx->currency, a->expected);
        add_finding(w, &b);
        vx_free(kind);
        vx_free(name);
    }
    const vx_llm_line *largest = NULL;
    for (size_t i = 0; i < ctx->n_services; i++)
        if (!largest || nanos(ctx->services[i].amount) > nanos(largest->amount))
            largest = &ctx->services[i];
    if (largest && nanos(ctx->total) > 0 && nanos(largest->amount) > 0) {
        char *name = line_name(largest->service, largest->account);
        char amount[64];
        money_text(largest->amount, ctx->currency, amount, sizeof amount);
        double share = (double)nanos(largest->amount) / (double)nanos(ctx->total) * 100.0;
        vx_buf b;
        vx_buf_init(&b);
        vx_buf_printf(&b, "%s was the largest service at %.1f%% of spend (%s).", name, share,
                      amount);
        add_finding(w, &b);
        vx_free(name);
    }
    if (ctx->kind == VX_LLM_KIND_FORECAST && ctx->forecast && w->days > 0) {
        const vx_llm_forecast *f = ctx->forecast;
        double run_rate = (double)nanos(ctx->total) / 1e9 / (double)w->days;
        vx_buf b;
        vx_buf_init(&b);
        vx_buf_printf(&b,
                      "Forecast for the next %u days: %.2f %s, %.2f %s a day against %.2f %s "
                      "a day in the window.",
                      f->horizon_days, f->total, ctx->currency, f->total / f->horizon_days,
                      ctx->currency, run_rate, ctx->currency);
        add_finding(w, &b);
    }
}

/* The growth rule: a line up more than 30% week over week. */
static void growth_rule(writer *w, const vx_llm_line *l)
{
    const vx_llm_context *ctx = w->ctx;
    vx_int128 week = nanos(l->week), prior = nanos(l->prior_week);
    char *name = line_name(l->service, l->account);
    if (prior > 0 && week * 100 > prior * 130) {
        double pct = (double)(week - prior) / (double)prior * 100.0;
        /* A quarter of the weekly increase, over a month of 30 days: most growth is real use,
         * so only part of it is assumed avoidable. */
        int64_t savings = cents_of((week - prior) * 30 / 28);
        add_candidate(w,
                      vx_xasprintf("Review what drove the %.0f%% week-over-week growth of %s and "
                                   "remove or right-size what is not needed",
                                   pct, name),
                      name, savings, pct > 100.0 ? VX_LLM_PRIORITY_HIGH : VX_LLM_PRIORITY_MEDIUM,
                      0.5);
    } else if (prior == 0 && week > 0 && nanos(l->previous) == 0) {
        char amount[64];
        money_text(l->week, ctx->currency, amount, sizeof amount);
        add_candidate(w,
                      vx_xasprintf("Confirm that the new spend on %s (%s in the last 7 days) is "
                                   "expected",
                                   name, amount),
                      name, 0, VX_LLM_PRIORITY_MEDIUM, 0.6);
    }
    vx_free(name);
}

static void write_recommendations(writer *w)
{
    const vx_llm_context *ctx = w->ctx;
    const vx_llm_line *sets[] = {ctx->services, ctx->movers};
    size_t counts[] = {ctx->n_services, ctx->n_movers};
    for (size_t s = 0; s < 2; s++) {
        for (size_t i = 0; i < counts[s]; i++) {
            const vx_llm_line *l = &sets[s][i];
            bool seen = false;
            for (size_t t = 0; t <= s && !seen; t++)
                for (size_t j = 0; j < (t == s ? i : counts[t]) && !seen; j++)
                    seen = same_line(&sets[t][j], l);
            if (!seen)
                growth_rule(w, l);
        }
    }
    bool used[VX_LLM_MAX_ANOMALIES] = {false};
    for (size_t k = 0; k < MAX_SPIKE_RECOMMENDATIONS;) {
        const vx_llm_anomaly *a = largest_anomaly(ctx, used);
        if (!a)
            break;
        used[a - ctx->anomalies] = true;
        if (!(a->actual > a->expected))
            continue;
        char *name =
            llm_empty(a->service) ? vx_xstrdup("total spend") : line_name(a->service, NULL);
        char *kind = llm_clean_str(a->kind, 40);
        bool high = a->severity && strcmp(a->severity, "high") == 0;
        add_candidate(w,
                      vx_xasprintf("Investigate the %s on %s in %s (%.2f %s against %.2f "
                                   "expected) and set an alert for it",
                                   kind, a->date, name, a->actual, ctx->currency, a->expected),
                      llm_empty(a->service) ? "all" : name, 0,
                      high ? VX_LLM_PRIORITY_HIGH : VX_LLM_PRIORITY_MEDIUM, 0.6);
        vx_free(kind);
        vx_free(name);
        k++;
    }
    const vx_llm_line *largest = NULL;
    for (size_t i = 0; i < ctx->n_services; i++)
        if (!largest || nanos(ctx->services[i].amount) > nanos(largest->amount))
            largest = &ctx->services[i];
    if (largest && w->days > 0 && nanos(ctx->total) > 0 &&
        nanos(largest->amount) * 2 > nanos(ctx->total)) {
        char *name = line_name(largest->service, largest->account);
        /* 5% of its monthly run rate: what a partial commitment typically saves, at least. */
        int64_t savings = cents_of(nanos(largest->amount) * 30 * 5 / ((vx_int128)w->days * 100));
        add_candidate(w,
                      vx_xasprintf("Check whether commitments (savings plans, reserved or "
                                   "committed-use capacity) cover the steady part of %s",
                                   name),
                      name, savings, VX_LLM_PRIORITY_LOW, 0.3);
        vx_free(name);
    }
    if (ctx->forecast && w->days > 0 && nanos(ctx->total) > 0) {
        const vx_llm_forecast *f = ctx->forecast;
        double run_rate = (double)nanos(ctx->total) / 1e9 / (double)w->days;
        double fc_rate = f->total / f->horizon_days;
        if (fc_rate > run_rate * 1.2) {
            add_candidate(w,
                          vx_xasprintf("Set a budget alert: spend is forecast to run %.0f%% above "
                                       "the window's daily rate over the next %u days",
                                       (fc_rate / run_rate - 1.0) * 100.0, f->horizon_days),
                          "all", 0, VX_LLM_PRIORITY_MEDIUM, 0.5);
        }
    }
}

static int candidate_cmp(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    if (x->savings_cents != y->savings_cents)
        return x->savings_cents > y->savings_cents ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

vx_status vx_llm_local_write(const vx_llm_context *ctx, vx_llm_insight *out, char *err,
                             size_t err_cap)
{
    vx_status st = vx_llm_context_check(ctx, err, err_cap);
    if (st != VX_OK)
        return st;
    writer w;
    memset(&w, 0, sizeof w);
    w.ctx = ctx;
    w.days = llm_window_days(ctx);
    vx_buf summary;
    vx_buf_init(&summary);
    write_summary(&w, &summary);
    write_findings(&w);
    write_recommendations(&w);
    qsort(w.cands, w.n_cands, sizeof w.cands[0], candidate_cmp);

    vx_llm_insight in = {0};
    in.summary = vx_buf_take(&summary, NULL);
    in.findings = vx_xcalloc(w.n_findings + 1, sizeof *in.findings);
    for (size_t i = 0; i < w.n_findings; i++)
        in.findings[in.n_findings++] = vx_buf_take(&w.findings[i], NULL);
    size_t n = w.n_cands < VX_LLM_MAX_RECOMMENDATIONS ? w.n_cands : VX_LLM_MAX_RECOMMENDATIONS;
    in.recommendations = vx_xcalloc(n + 1, sizeof *in.recommendations);
    for (size_t i = 0; i < w.n_cands; i++) {
        candidate *c = &w.cands[i];
        if (i >= n) {
            vx_free(c->action);
            vx_free(c->target);
            continue;
        }
        vx_llm_recommendation *r = &in.recommendations[in.n_recommendations++];
        r->action = c->action;
        r->target = c->target;
        r->estimated_monthly_savings = (double)c->savings_cents / 100.0;
        r->priority = c->priority;
        r->confidence = c->confidence;
    }
    *out = in;
    return VX_OK;
}
