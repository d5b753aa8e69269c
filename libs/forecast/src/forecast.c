/* vx_forecast_run: validation, the log-transform test, rolling-origin backtests of the
 * candidates scored by MASE, the choice, and intervals calibrated from the backtest errors. */
#include "forecast_internal.h"
#include "vx/alloc.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define N_FIT_MODELS 3 /* TREND, ETS, SNAIVE are fitted; COMBO is derived */

void vx_forecast_opts_init(vx_forecast_opts *o)
{
    memset(o, 0, sizeof *o);
    o->horizon = 28;
    o->level = 0.8;
    o->allow_negative = false;
    o->max_origins = 8;
}

/* Forecasts h steps after z[0..n) with one model; false if the model cannot run on it. */
static bool model_forecast(vx_forecast_model model, const vx_forecast_series *s, const double *z,
                           size_t n, size_t h, double *out, size_t *changepoints, double *warm)
{
    fc_ctx ctx;
    fc_ctx_init(&ctx, s->spacing, s->start_day, n);
    switch (model) {
    case VX_FORECAST_MODEL_TREND: {
        fc_trend *t = fc_trend_fit(&ctx, z, n, false);
        if (!t)
            return false;
        fc_trend_predict(t, n, h, out);
        if (changepoints)
            *changepoints = fc_trend_changepoints(t);
        fc_trend_destroy(t);
        return true;
    }
    case VX_FORECAST_MODEL_ETS:
        return fc_ets_forecast(z, n, ctx.season, h, out, NULL, warm);
    case VX_FORECAST_MODEL_SNAIVE:
        return fc_snaive_forecast(z, n, ctx.season, h, out);
    case VX_FORECAST_MODEL_COMBO: {
        double *e = vx_xmalloc(h * sizeof *e);
        bool ok = model_forecast(VX_FORECAST_MODEL_TREND, s, z, n, h, out, changepoints, warm) &&
                  model_forecast(VX_FORECAST_MODEL_ETS, s, z, n, h, e, NULL, warm);
        for (size_t k = 0; ok && k < h; k++)
            out[k] = 0.5 * (out[k] + e[k]);
        vx_free(e);
        return ok;
    }
    case VX_FORECAST_MODEL_CONSTANT:
    case VX_FORECAST_MODEL_SUM:
    case VX_FORECAST_MODEL_COUNT:
        break;
    }
    return false;
}

/* Multiplicative growth test: in blocks of the series, does the period-to-period movement
 * grow in proportion to the level? Slope of log(spread) on log(level) above 0.5, with the
 * level changing by at least 30 %, says yes. Needs positive values. */
bool fc_wants_log(const double *y, size_t n, size_t m, char *why, size_t why_cap)
{
    for (size_t i = 0; i < n; i++)
        if (isfinite(y[i]) && y[i] <= 0) {
            snprintf(why, why_cap, "none (values <= 0 present)");
            return false;
        }
    size_t len = m > 1 ? 2 * m : 8;
    if (len < n / 8)
        len = n / 8;
    size_t blocks = n / len;
    if (blocks < 4) {
        snprintf(why, why_cap, "none (too short to test for multiplicative growth)");
        return false;
    }
    double lx[64], ly[64];
    size_t k = 0;
    double lo = INFINITY, hi = 0;
    for (size_t b = 0; b < blocks && k < 64; b++) {
        double sum = 0, mv = 0;
        size_t c = 0, cm = 0;
        for (size_t i = b * len; i < (b + 1) * len; i++) {
            if (!isfinite(y[i]))
                continue;
            sum += y[i];
            c++;
            if (i > b * len && isfinite(y[i - 1])) {
                mv += fabs(y[i] - y[i - 1]);
                cm++;
            }
        }
        if (c < len / 2 || cm == 0 || mv <= 0)
            continue;
        double level = sum / (double)c;
        lx[k] = log(level);
        ly[k] = log(mv / (double)cm);
        lo = fmin(lo, level);
        hi = fmax(hi, level);
        k++;
    }
    if (k < 4) {
        snprintf(why, why_cap, "none (too few usable blocks to test for growth)");
        return false;
    }
    double mx = 0, my = 0;
    for (size_t i = 0; i < k; i++) {
        mx += lx[i];
        my += ly[i];
    }
    mx /= (double)k;
    my /= (double)k;
    double sxy = 0, sxx = 0;
    for (size_t i = 0; i < k; i++) {
        sxy += (lx[i] - mx) * (ly[i] - my);
        sxx += (lx[i] - mx) * (lx[i] - mx);
    }
    double slope = sxx > 0 ? sxy / sxx : 0;
    bool yes = hi / lo >= 1.3 && slope > 0.5;
    snprintf(why, why_cap, "%s (level ratio %.2f, spread-vs-level slope %.2f over %zu blocks)",
             yes ? "log" : "none", hi / lo, slope, k);
    return yes;
}

typedef struct {
    size_t n_origins, hbt;
    size_t origin[20];
    double *ez[VX_FORECAST_MODEL_COUNT]; /* [n_origins * hbt] working-scale errors */
    double *eo[VX_FORECAST_MODEL_COUNT]; /* the same on the original scale (after clipping) */
    bool ok[VX_FORECAST_MODEL_COUNT];
    double mase[VX_FORECAST_MODEL_COUNT];
} backtest;

static double back(double v, bool log_scale)
{
    return log_scale ? exp(v) : v;
}

static void run_backtests(backtest *bt, const vx_forecast_series *s, const double *z,
                          bool log_scale, bool clip, size_t m, double *warm)
{
    size_t hbt = bt->hbt;
    double *fz[VX_FORECAST_MODEL_COUNT] = {0};
    double *abs_scaled[VX_FORECAST_MODEL_COUNT] = {0};
    for (int c = 0; c <= VX_FORECAST_MODEL_COMBO; c++) {
        bt->ok[c] = true;
        bt->ez[c] = vx_xmalloc(bt->n_origins * hbt * sizeof(double));
        bt->eo[c] = vx_xmalloc(bt->n_origins * hbt * sizeof(double));
        fz[c] = vx_xcalloc(hbt, sizeof(double));
        abs_scaled[c] = vx_xmalloc(bt->n_origins * hbt * sizeof(double));
    }
    for (size_t k = 0; k < bt->n_origins; k++) {
        size_t o = bt->origin[k];
        double scale = fc_mase_scale(s->values, o, m);
        if (!(scale > 0))
            scale = 1e-9;
        for (int c = 0; c < N_FIT_MODELS; c++)
            if (bt->ok[c] && !model_forecast((vx_forecast_model)c, s, z, o, hbt, fz[c], NULL, warm))
                bt->ok[c] = false;
        for (size_t h = 0; h < hbt; h++)
            fz[VX_FORECAST_MODEL_COMBO][h] =
                0.5 * (fz[VX_FORECAST_MODEL_TREND][h] + fz[VX_FORECAST_MODEL_ETS][h]);
        for (int c = 0; c <= VX_FORECAST_MODEL_COMBO; c++) {
            for (size_t h = 0; h < hbt; h++) {
                double actual = s->values[o + h];
                size_t idx = k * hbt + h;
                if (!isfinite(actual) || !bt->ok[c]) {
                    bt->ez[c][idx] = bt->eo[c][idx] = abs_scaled[c][idx] = NAN;
                    continue;
                }
                double f = back(fz[c][h], log_scale);
                if (clip && f < 0)
                    f = 0;
                bt->ez[c][idx] = z[o + h] - fz[c][h];
                bt->eo[c][idx] = actual - f;
                abs_scaled[c][idx] = fabs(actual - f) / scale;
            }
        }
    }
    bt->ok[VX_FORECAST_MODEL_COMBO] =
        bt->ok[VX_FORECAST_MODEL_TREND] && bt->ok[VX_FORECAST_MODEL_ETS];
    for (int c = 0; c <= VX_FORECAST_MODEL_COMBO; c++) {
        double sum = 0;
        size_t cnt = 0;
        for (size_t i = 0; i < bt->n_origins * hbt; i++)
            if (isfinite(abs_scaled[c][i])) {
                sum += abs_scaled[c][i];
                cnt++;
            }
        bt->mase[c] = bt->ok[c] && cnt ? sum / (double)cnt : NAN;
        if (!isfinite(bt->mase[c]))
            bt->ok[c] = false;
        vx_free(fz[c]);
        vx_free(abs_scaled[c]);
    }
}

/* Interval half-widths: sigma_h = exp(a) * h^b fitted to the mean absolute backtest error at
 * each step (b in [0, 1], so widths never shrink with the horizon), times a quantile of the
 * absolute errors standardized by sigma_h, pooled over steps and origins. */
void fc_calibrate(const double *ez, size_t n_origins, size_t hbt, double level, size_t horizon,
                  double *sigma, double *q_lo, double *q_hi, char *why, size_t why_cap)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    size_t k = 0;
    for (size_t h = 0; h < hbt; h++) {
        double sum = 0;
        size_t c = 0;
        for (size_t o = 0; o < n_origins; o++) {
            double e = ez[o * hbt + h];
            if (isfinite(e)) {
                sum += fabs(e);
                c++;
            }
        }
        if (c == 0 || sum <= 0)
            continue;
        double x = log((double)(h + 1)), y = log(sum / (double)c);
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
        k++;
    }
    double a = -INFINITY, b = 0.5;
    if (k >= 3 && k * sxx - sx * sx > 1e-12) {
        b = (k * sxy - sx * sy) / (k * sxx - sx * sx);
        b = b < 0 ? 0 : (b > 1 ? 1 : b);
    }
    if (k > 0)
        a = (sy - b * sx) / (double)k;
    for (size_t h = 0; h < horizon; h++)
        sigma[h] = k > 0 ? exp(a + b * log((double)(h + 1))) : 0;

    size_t total = n_origins * hbt, nu = 0;
    double *u = vx_xmalloc(total * sizeof *u);
    double ss = 0;
    for (size_t o = 0; o < n_origins; o++)
        for (size_t h = 0; h < hbt; h++) {
            double e = ez[o * hbt + h];
            if (isfinite(e) && sigma[h] > 0) {
                u[nu] = e / sigma[h];
                ss += u[nu] * u[nu];
                nu++;
            }
        }
    /* Errors of one origin move together, so the origins, not the points, are the
     * independent draws: raise the quantile level as split conformal prediction does for
     * K calibration samples, level * (K + 1) / K. Intervals are symmetric: with few origins
     * a signed quantile mostly learns the bias of the last few windows. */
    double kk = (double)n_origins;
    double p = fmin(0.995, level * (kk + 1) / kk);
    for (size_t i = 0; i < nu; i++)
        u[i] = fabs(u[i]);
    if (nu >= 20) {
        *q_hi = fc_quantile(u, nu, p);
        snprintf(why, why_cap,
                 "%.3f quantile of %zu scaled backtest errors from %zu origins, "
                 "width ~ h^%.2f",
                 p, nu, n_origins, b);
    } else {
        double rms = nu ? sqrt(ss / (double)nu) : 0;
        *q_hi = fc_norm_ppf(0.5 + p / 2) * rms;
        snprintf(why, why_cap,
                 "normal quantile from %zu backtest errors (too few for an "
                 "empirical one), width ~ h^%.2f",
                 nu, b);
    }
    *q_lo = -*q_hi;
    vx_free(u);
}

static vx_forecast_result *new_result(size_t h, double level)
{
    vx_forecast_result *r = vx_xcalloc(1, sizeof *r);
    r->horizon = h;
    r->level = level;
    r->yhat = vx_xcalloc(h, sizeof *r->yhat);
    r->lo = vx_xcalloc(h, sizeof *r->lo);
    r->hi = vx_xcalloc(h, sizeof *r->hi);
    for (int c = 0; c < VX_FORECAST_MODEL_COUNT; c++)
        r->candidates[c].mase = NAN;
    return r;
}

void vx_forecast_result_destroy(vx_forecast_result *r)
{
    if (!r)
        return;
    vx_free(r->yhat);
    vx_free(r->lo);
    vx_free(r->hi);
    vx_free(r->backtest_errors);
    vx_free(r->backtest_origin);
    vx_free(r);
}

static vx_status validate(const vx_forecast_series *s, const vx_forecast_opts *o, char *err,
                          size_t cap, size_t *n_obs)
{
    if (!s || (!s->values && s->n > 0) || s->n == 0) {
        vx_errf(err, cap, "empty series: nothing to forecast");
        return VX_INVALID;
    }
    if (s->n > VX_FORECAST_MAX_POINTS) {
        vx_errf(err, cap, "series of %zu points exceeds the limit of %d", s->n,
                VX_FORECAST_MAX_POINTS);
        return VX_LIMIT;
    }
    if ((unsigned)s->spacing > VX_FORECAST_YEARLY) {
        vx_errf(err, cap, "unknown spacing %d", (int)s->spacing);
        return VX_INVALID;
    }
    if (o->horizon == 0 || o->horizon > VX_FORECAST_MAX_HORIZON) {
        vx_errf(err, cap, "horizon must be from 1 to %d, not %zu", VX_FORECAST_MAX_HORIZON,
                o->horizon);
        return o->horizon == 0 ? VX_INVALID : VX_LIMIT;
    }
    if (!(o->level > 0 && o->level < 1)) {
        vx_errf(err, cap, "interval level must be strictly between 0 and 1, not %g", o->level);
        return VX_INVALID;
    }
    if (o->max_origins < 2 || o->max_origins > 20) {
        vx_errf(err, cap, "max_origins must be from 2 to 20, not %d", o->max_origins);
        return VX_INVALID;
    }
    for (size_t i = 0; i < s->n; i++)
        if (isinf(s->values[i])) {
            vx_errf(err, cap, "value %zu is infinite (use NaN for a missing period)", i);
            return VX_INVALID;
        }
    *n_obs = fc_count_finite(s->values, s->n);
    if (*n_obs < 2) {
        vx_errf(err, cap, "need at least 2 observed values to forecast, got %zu%s", *n_obs,
                *n_obs == 0 && s->n > 0 ? " (all missing)" : "");
        return VX_INVALID;
    }
    return VX_OK;
}

/* Intervals without backtests: one-step residual sd growing as sqrt(h), normal quantiles. */
static void naive_intervals(vx_forecast_result *r, const double *fz, double resid_sd)
{
    double q = fc_norm_ppf(0.5 + r->level / 2);
    for (size_t h = 0; h < r->horizon; h++) {
        double w = q * resid_sd * sqrt((double)(h + 1));
        r->lo[h] = fz[h] - w;
        r->hi[h] = fz[h] + w;
    }
}

vx_status vx_forecast_run(const vx_forecast_series *s, const vx_forecast_opts *o,
                          vx_forecast_result **out, char *err, size_t err_cap)
{
    vx_forecast_opts def;
    if (!o) {
        vx_forecast_opts_init(&def);
        o = &def;
    }
    size_t n_obs = 0;
    vx_status st = validate(s, o, err, err_cap, &n_obs);
    if (st != VX_OK)
        return st;
    const double *y = s->values;
    size_t n = s->n, H = o->horizon;
    bool clip = !o->allow_negative;
    vx_forecast_result *r = new_result(H, o->level);
    char *why = r->reason;
    size_t wcap = sizeof r->reason;
    fc_ctx ctx;
    fc_ctx_init(&ctx, s->spacing, s->start_day, n);
    r->season = ctx.season;
    fc_appendf(why, wcap, "series: %s, %zu periods, %zu observed, season %zu\n",
               vx_forecast_spacing_name(s->spacing), n, n_obs, ctx.season);

    double first = NAN, lo_v = INFINITY, hi_v = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(y[i])) {
            if (!isfinite(first))
                first = y[i];
            lo_v = fmin(lo_v, y[i]);
            hi_v = fmax(hi_v, y[i]);
        }
    if (lo_v < 0)
        fc_appendf(why, wcap, "note: negative values present (credits?)%s\n",
                   clip ? "; forecasts are still clipped at 0" : "");
    double *z = vx_xmalloc(n * sizeof *z);
    double *fz = vx_xmalloc(H * sizeof *fz);
    double *sigma = vx_xmalloc(H * sizeof *sigma);
    backtest bt = {0};

    if (lo_v == hi_v) {
        r->model = VX_FORECAST_MODEL_CONSTANT;
        for (size_t h = 0; h < H; h++)
            r->yhat[h] = r->lo[h] = r->hi[h] = first;
        fc_appendf(why, wcap, "chosen: constant (every observed value is %g)\n", first);
        goto finish;
    }

    char tw[160];
    r->log_scale = fc_wants_log(y, n, ctx.season, tw, sizeof tw);
    fc_appendf(why, wcap, "transform: %s\n", tw);
    for (size_t i = 0; i < n; i++)
        z[i] = r->log_scale && isfinite(y[i]) ? log(y[i]) : y[i];

    size_t min_train = ctx.season > 1 ? 2 * ctx.season : 8;
    if (ctx.season == 1 && s->spacing != VX_FORECAST_YEARLY) {
        r->fallback = true;
        fc_appendf(why, wcap,
                   "fallback: %zu periods are too few to estimate a seasonal "
                   "pattern; models run without seasonality\n",
                   n);
    }
    if (n >= min_train + 2) {
        size_t avail = n - min_train;
        bt.hbt = H < avail / 2 ? H : avail / 2;
        if (bt.hbt < 1)
            bt.hbt = 1;
        size_t step = bt.hbt / 2 ? bt.hbt / 2 : 1;
        size_t k = 1 + (avail - bt.hbt) / step;
        bt.n_origins = k < (size_t)o->max_origins ? k : (size_t)o->max_origins;
        for (size_t i = 0; i < bt.n_origins; i++)
            bt.origin[i] = n - bt.hbt - i * step;
    }
    if (bt.n_origins < 2) {
        /* no honest way to compare models: the simplest that adapts, with textbook intervals */
        r->fallback = true;
        bt.n_origins = 0;
        double rsd = 0;
        if (fc_ets_forecast(z, n, ctx.season, H, fz, &rsd, NULL)) {
            r->model = VX_FORECAST_MODEL_ETS;
        } else {
            fc_snaive_forecast(z, n, 1, H, fz);
            rsd = fc_noise_sd(z, n, 1) * sqrt(2.0);
            r->model = VX_FORECAST_MODEL_SNAIVE;
        }
        fc_appendf(why, wcap,
                   "fallback: %zu periods are too few for backtests (need %zu); "
                   "chose %s without comparison, normal intervals from in-sample errors\n",
                   n, min_train + 2, vx_forecast_model_name(r->model));
        naive_intervals(r, fz, rsd);
        for (size_t h = 0; h < H; h++) {
            r->yhat[h] = back(fz[h], r->log_scale);
            r->lo[h] = back(r->lo[h], r->log_scale);
            r->hi[h] = back(r->hi[h], r->log_scale);
        }
        goto finish;
    }

    r->origins = (int)bt.n_origins;
    r->backtest_horizon = bt.hbt;
    /* ETS smoothing parameters are searched fully once, on the whole history; the refits on
     * the backtest windows start from them with a short search (about 3x cheaper) */
    double warm[4] = {NAN, NAN, NAN, NAN};
    if (!fc_ets_forecast(z, n, ctx.season, 1, fz, NULL, warm))
        warm[0] = NAN;
    run_backtests(&bt, s, z, r->log_scale, clip, ctx.season, warm);
    vx_forecast_model best = VX_FORECAST_MODEL_COUNT;
    static const vx_forecast_model pref[] = {VX_FORECAST_MODEL_SNAIVE, VX_FORECAST_MODEL_ETS,
                                             VX_FORECAST_MODEL_TREND, VX_FORECAST_MODEL_COMBO};
    fc_appendf(why, wcap, "backtest: %zu origins x %zu steps, MASE", bt.n_origins, bt.hbt);
    for (size_t i = 0; i < 4; i++) {
        vx_forecast_model c = pref[i];
        vx_forecast_candidate *cd = &r->candidates[c];
        cd->evaluated = bt.ok[c];
        cd->mase = bt.mase[c];
        if (bt.ok[c]) {
            fc_appendf(why, wcap, " %s=%.3f", vx_forecast_model_name(c), bt.mase[c]);
            if (best == VX_FORECAST_MODEL_COUNT || bt.mase[c] < bt.mase[best])
                best = c;
        } else {
            snprintf(cd->note, sizeof cd->note, "could not be fitted on the backtest windows");
            fc_appendf(why, wcap, " %s=n/a", vx_forecast_model_name(c));
        }
    }
    fc_appendf(why, wcap, "\n");
    if (best == VX_FORECAST_MODEL_COUNT ||
        !model_forecast(best, s, z, n, H, fz, &r->changepoints, warm)) {
        best = VX_FORECAST_MODEL_SNAIVE;
        fc_snaive_forecast(z, n, ctx.season, H, fz);
        r->fallback = true;
        fc_appendf(why, wcap, "fallback: no model fitted the full history; seasonal naive\n");
    }
    r->model = best;
    fc_appendf(why, wcap, "chosen: %s (lowest backtest MASE)", vx_forecast_model_name(best));
    if (best == VX_FORECAST_MODEL_TREND || best == VX_FORECAST_MODEL_COMBO)
        fc_appendf(why, wcap, ", %zu trend changepoints", r->changepoints);
    fc_appendf(why, wcap, "\n");

    double q_lo, q_hi;
    char cw[160];
    fc_calibrate(bt.ez[best], bt.n_origins, bt.hbt, o->level, H, sigma, &q_lo, &q_hi, cw,
                 sizeof cw);
    fc_appendf(why, wcap, "intervals: %s\n", cw);
    for (size_t h = 0; h < H; h++) {
        r->yhat[h] = back(fz[h], r->log_scale);
        r->lo[h] = back(fz[h] + q_lo * sigma[h], r->log_scale);
        r->hi[h] = back(fz[h] + q_hi * sigma[h], r->log_scale);
    }
    if (bt.ok[best]) {
        r->backtest_errors = bt.eo[best];
        bt.eo[best] = NULL;
        r->backtest_origin = vx_xmalloc(bt.n_origins * sizeof *r->backtest_origin);
        memcpy(r->backtest_origin, bt.origin, bt.n_origins * sizeof *r->backtest_origin);
    }

finish:;
    size_t clipped = 0;
    for (size_t h = 0; h < H; h++) {
        if (!isfinite(r->yhat[h]))
            r->yhat[h] = first; /* an overflowing exp; never seen, but never print inf */
        if (!isfinite(r->lo[h]) || r->lo[h] > r->yhat[h])
            r->lo[h] = r->yhat[h];
        if (!isfinite(r->hi[h]) || r->hi[h] < r->yhat[h])
            r->hi[h] = r->yhat[h];
        if (clip) {
            clipped += r->yhat[h] < 0;
            r->yhat[h] = fmax(r->yhat[h], 0);
            r->lo[h] = fmax(r->lo[h], 0);
            r->hi[h] = fmax(r->hi[h], 0);
        }
    }
    if (clipped)
        fc_appendf(why, wcap, "clipped: %zu point forecasts were below 0\n", clipped);
    for (int c = 0; c <= VX_FORECAST_MODEL_COMBO; c++) {
        vx_free(bt.ez[c]);
        vx_free(bt.eo[c]);
    }
    vx_free(sigma);
    vx_free(fz);
    vx_free(z);
    *out = r;
    return VX_OK;
}
