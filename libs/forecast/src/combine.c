/* vx_forecast_combine: the forecast of a sum of separately forecast parts, with an interval
 * calibrated from the parts' backtest errors added per (origin, step), so that the correlation
 * between the parts' errors is kept (not the sum of their widths, which assumes they always
 * miss together, nor a root-sum-square, which assumes they never do). */
#include "forecast_internal.h"
#include "vx/alloc.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Whether every part with backtest errors shares the first such part's origins and steps;
 * *lead gets that part (NULL if none has errors); *short_history says some part has none for
 * a reason other than a constant history. */
static bool aligned(const vx_forecast_result *const *parts, size_t n,
                    const vx_forecast_result **lead, bool *short_history)
{
    *lead = NULL;
    *short_history = false;
    for (size_t i = 0; i < n; i++) {
        const vx_forecast_result *p = parts[i];
        if (p->backtest_errors == NULL) {
            if (p->model != VX_FORECAST_MODEL_CONSTANT)
                *short_history = true;
            continue;
        }
        if (*lead == NULL) {
            *lead = p;
            continue;
        }
        if (p->origins != (*lead)->origins || p->backtest_horizon != (*lead)->backtest_horizon ||
            memcmp(p->backtest_origin, (*lead)->backtest_origin,
                   (size_t)p->origins * sizeof *p->backtest_origin) != 0)
            return false;
    }
    return !*short_history;
}

/* MASE of the summed errors against the total history, scaled per origin as the backtests
 * of vx_forecast_run are (seasonal naive error of the history before the origin). */
static double total_mase(const vx_forecast_result *r, const vx_forecast_series *total)
{
    if (total == NULL || total->values == NULL || r->backtest_errors == NULL)
        return NAN;
    fc_ctx ctx;
    fc_ctx_init(&ctx, total->spacing, total->start_day, total->n);
    double sum = 0;
    size_t cnt = 0;
    for (int k = 0; k < r->origins; k++) {
        size_t o = r->backtest_origin[k];
        if (o + r->backtest_horizon > total->n)
            return NAN; /* not the history the parts were fitted on */
        double scale = fc_mase_scale(total->values, o, ctx.season);
        if (!(scale > 0))
            scale = 1e-9;
        for (size_t h = 0; h < r->backtest_horizon; h++) {
            double e = r->backtest_errors[(size_t)k * r->backtest_horizon + h];
            if (isfinite(e)) {
                sum += fabs(e) / scale;
                cnt++;
            }
        }
    }
    return cnt ? sum / (double)cnt : NAN;
}

vx_status vx_forecast_combine(const vx_forecast_result *const *parts, size_t n_parts,
                              const vx_forecast_series *total, bool allow_negative,
                              vx_forecast_result **out, char *err, size_t err_cap)
{
    if (parts == NULL || n_parts == 0 || out == NULL) {
        vx_errf(err, err_cap, "nothing to combine");
        return VX_INVALID;
    }
    for (size_t i = 0; i < n_parts; i++) {
        if (parts[i] == NULL || parts[i]->horizon != parts[0]->horizon ||
            parts[i]->level != parts[0]->level) {
            vx_errf(err, err_cap, "part %zu is missing or differs in horizon or level", i);
            return VX_INVALID;
        }
    }
    size_t H = parts[0]->horizon;
    vx_forecast_result *r = vx_xcalloc(1, sizeof *r);
    r->horizon = H;
    r->level = parts[0]->level;
    r->model = VX_FORECAST_MODEL_SUM;
    r->season = parts[0]->season;
    r->yhat = vx_xcalloc(H, sizeof *r->yhat);
    r->lo = vx_xcalloc(H, sizeof *r->lo);
    r->hi = vx_xcalloc(H, sizeof *r->hi);
    for (int c = 0; c < VX_FORECAST_MODEL_COUNT; c++)
        r->candidates[c].mase = NAN;
    for (size_t i = 0; i < n_parts; i++) {
        for (size_t h = 0; h < H; h++)
            r->yhat[h] += parts[i]->yhat[h];
        r->fallback |= parts[i]->fallback;
    }
    fc_appendf(r->reason, sizeof r->reason, "sum of %zu separately forecast parts\n", n_parts);

    const vx_forecast_result *lead = NULL;
    bool short_history = false;
    bool ok = aligned(parts, n_parts, &lead, &short_history);
    if (ok && lead != NULL) {
        size_t no = (size_t)lead->origins, hbt = lead->backtest_horizon;
        r->origins = lead->origins;
        r->backtest_horizon = hbt;
        r->backtest_errors = vx_xcalloc(no * hbt, sizeof *r->backtest_errors);
        r->backtest_origin = vx_xmalloc(no * sizeof *r->backtest_origin);
        memcpy(r->backtest_origin, lead->backtest_origin, no * sizeof *r->backtest_origin);
        /* A missing actual in any part leaves that (origin, step) out of the total. Constant
         * parts add nothing: their history never moved, so every backtest was exact. */
        for (size_t i = 0; i < n_parts; i++)
            if (parts[i]->backtest_errors != NULL)
                for (size_t k = 0; k < no * hbt; k++)
                    r->backtest_errors[k] += parts[i]->backtest_errors[k];
        double *sigma = vx_xmalloc(H * sizeof *sigma);
        double q_lo, q_hi;
        char cw[160];
        fc_calibrate(r->backtest_errors, no, hbt, r->level, H, sigma, &q_lo, &q_hi, cw, sizeof cw);
        for (size_t h = 0; h < H; h++) {
            r->lo[h] = r->yhat[h] + q_lo * sigma[h];
            r->hi[h] = r->yhat[h] + q_hi * sigma[h];
        }
        vx_free(sigma);
        r->candidates[VX_FORECAST_MODEL_SUM].evaluated = true;
        r->candidates[VX_FORECAST_MODEL_SUM].mase = total_mase(r, total);
        fc_appendf(r->reason, sizeof r->reason,
                   "intervals: the parts' backtest errors summed per origin and step, %s\n", cw);
    } else if (lead == NULL && !short_history) {
        /* every part is constant: so is the sum */
        for (size_t h = 0; h < H; h++)
            r->lo[h] = r->hi[h] = r->yhat[h];
        fc_appendf(r->reason, sizeof r->reason, "intervals: every part is constant\n");
    } else {
        for (size_t h = 0; h < H; h++) {
            double up = 0, down = 0;
            for (size_t i = 0; i < n_parts; i++) {
                double u = parts[i]->hi[h] - parts[i]->yhat[h];
                double d = parts[i]->yhat[h] - parts[i]->lo[h];
                up += u * u;
                down += d * d;
            }
            r->lo[h] = r->yhat[h] - sqrt(down);
            r->hi[h] = r->yhat[h] + sqrt(up);
        }
        r->fallback = true;
        fc_appendf(r->reason, sizeof r->reason,
                   "fallback: %s; interval half-widths added in quadrature (parts taken as "
                   "independent)\n",
                   short_history ? "some parts had too short a history for backtests"
                                 : "the parts' backtests do not line up");
    }
    for (size_t h = 0; h < H; h++) {
        if (!isfinite(r->lo[h]) || r->lo[h] > r->yhat[h])
            r->lo[h] = r->yhat[h];
        if (!isfinite(r->hi[h]) || r->hi[h] < r->yhat[h])
            r->hi[h] = r->yhat[h];
        if (!allow_negative) {
            r->yhat[h] = fmax(r->yhat[h], 0);
            r->lo[h] = fmax(r->lo[h], 0);
            r->hi[h] = fmax(r->hi[h], 0);
        }
    }
    *out = r;
    return VX_OK;
}
