/* vx_forecast_detect: per-period expected values and bands from the robust in-sample trend +
 * seasonality fit, and the spike / drop / new-spend verdicts with their severity. */
#include "forecast_internal.h"
#include "vx/alloc.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MIN_OBS 14

void vx_forecast_anomaly_opts_init(vx_forecast_anomaly_opts *o)
{
    o->band_level = 0.999;
    o->min_abs = 25.0;
    o->min_rel = 0.30;
}

const char *vx_forecast_anomaly_kind_name(vx_forecast_anomaly_kind k)
{
    static const char *const names[] = {"normal", "spike", "drop", "new_spend", "missing"};
    return (unsigned)k <= VX_FORECAST_MISSING ? names[k] : "unknown";
}

const char *vx_forecast_severity_name(vx_forecast_severity s)
{
    static const char *const names[] = {"none", "low", "medium", "high"};
    return (unsigned)s <= VX_FORECAST_SEV_HIGH ? names[s] : "unknown";
}

void vx_forecast_anomalies_destroy(vx_forecast_anomalies *a)
{
    if (!a)
        return;
    vx_free(a->days);
    vx_free(a);
}

static vx_status check(const vx_forecast_series *s, const vx_forecast_anomaly_opts *o, char *err,
                       size_t cap)
{
    const char *msg = NULL;
    char buf[160];
    if (!s || s->n == 0 || !s->values)
        msg = "empty series: nothing to check";
    else if (s->n > VX_FORECAST_MAX_POINTS) {
        if (err && cap)
            snprintf(err, cap, "series of %zu points exceeds the limit of %d", s->n,
                     VX_FORECAST_MAX_POINTS);
        return VX_LIMIT;
    } else if ((unsigned)s->spacing > VX_FORECAST_YEARLY)
        msg = "unknown spacing";
    else if (!(o->band_level > 0.5 && o->band_level < 1))
        msg = "band_level must be between 0.5 and 1";
    else if (!(o->min_abs >= 0) || !(o->min_rel >= 0))
        msg = "min_abs and min_rel must be >= 0";
    else {
        for (size_t i = 0; i < s->n && !msg; i++)
            if (isinf(s->values[i])) {
                snprintf(buf, sizeof buf, "value %zu is infinite (use NaN for a missing period)",
                         i);
                msg = buf;
            }
        size_t k = fc_count_finite(s->values, s->n);
        if (!msg && k < MIN_OBS) {
            snprintf(buf, sizeof buf,
                     "need at least %d observed values to judge anomalies, got %zu", MIN_OBS, k);
            msg = buf;
        }
    }
    if (!msg)
        return VX_OK;
    if (err && cap)
        snprintf(err, cap, "%s", msg);
    return VX_INVALID;
}

vx_status vx_forecast_detect(const vx_forecast_series *s, const vx_forecast_anomaly_opts *o,
                             vx_forecast_anomalies **out, char *err, size_t err_cap)
{
    vx_forecast_anomaly_opts def;
    if (!o) {
        vx_forecast_anomaly_opts_init(&def);
        o = &def;
    }
    vx_status st = check(s, o, err, err_cap);
    if (st != VX_OK)
        return st;
    size_t n = s->n;
    const double *y = s->values;
    fc_ctx ctx;
    fc_ctx_init(&ctx, s->spacing, s->start_day, n);
    vx_forecast_anomalies *a = vx_xcalloc(1, sizeof *a);
    a->n = n;
    a->days = vx_xcalloc(n, sizeof *a->days);
    char tw[160];
    a->log_scale = fc_wants_log(y, n, ctx.season, tw, sizeof tw);
    bool nonneg = true;
    double *z = vx_xmalloc(n * sizeof *z);
    double *fit = vx_xmalloc(n * sizeof *fit);
    for (size_t i = 0; i < n; i++) {
        z[i] = a->log_scale && isfinite(y[i]) ? log(y[i]) : y[i];
        if (isfinite(y[i]) && y[i] < 0)
            nonneg = false;
    }
    fc_trend *t = fc_trend_fit(&ctx, z, n, true);
    if (!t) {
        if (err && err_cap)
            snprintf(err, err_cap, "the trend + seasonality fit failed (degenerate design)");
        vx_free(z);
        vx_free(fit);
        vx_forecast_anomalies_destroy(a);
        return VX_INTERNAL;
    }
    fc_trend_predict(t, 0, n, fit);
    double sd = fc_trend_resid_sd(t);
    double half = fc_norm_ppf(0.5 + o->band_level / 2) * sd;
    fc_appendf(a->reason, sizeof a->reason,
               "robust trend + seasonality fit (season %zu, %zu changepoints), transform %s; band "
               "+-%.3g%s at level %.3f",
               ctx.season, fc_trend_changepoints(t), tw, half, a->log_scale ? " (log)" : "",
               o->band_level);
    fc_trend_destroy(t);

    for (size_t i = 0; i < n; i++) {
        vx_forecast_day *d = &a->days[i];
        double e = a->log_scale ? exp(fit[i]) : fit[i];
        d->actual = y[i];
        d->expected = nonneg ? fmax(e, 0) : e;
        d->lo = a->log_scale ? exp(fit[i] - half) : fit[i] - half;
        d->hi = a->log_scale ? exp(fit[i] + half) : fit[i] + half;
        if (nonneg)
            d->lo = fmax(d->lo, 0);
        if (!isfinite(y[i])) {
            d->kind = VX_FORECAST_MISSING;
            continue;
        }
        double dev = y[i] - d->expected;
        double zdev = fabs(z[i] - fit[i]);
        d->score = half > 0 ? fmin(zdev / half, 1e6) : (zdev > 0 ? 1e6 : 0);
        bool outside = y[i] > d->hi || y[i] < d->lo;
        bool big = fabs(dev) >= o->min_abs && fabs(dev) >= o->min_rel * fabs(d->expected);
        if (!outside || !big || dev == 0)
            continue;
        if (dev > 0)
            d->kind = d->expected < o->min_abs ? VX_FORECAST_NEW_SPEND : VX_FORECAST_SPIKE;
        else
            d->kind = VX_FORECAST_DROP;
        d->severity = d->score < 2   ? VX_FORECAST_SEV_LOW
                      : d->score < 4 ? VX_FORECAST_SEV_MEDIUM
                                     : VX_FORECAST_SEV_HIGH;
        a->anomalies++;
    }
    vx_free(fit);
    vx_free(z);
    *out = a;
    return VX_OK;
}
