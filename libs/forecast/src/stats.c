/* Calendar context, robust statistics, the seasonal naive model and small helpers shared by
 * the forecast models. */
#include "forecast_internal.h"
#include "vx/alloc.h"
#include "vx/clock.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *vx_forecast_spacing_name(vx_forecast_spacing s)
{
    switch (s) {
    case VX_FORECAST_DAILY:
        return "daily";
    case VX_FORECAST_WEEKLY:
        return "weekly";
    case VX_FORECAST_MONTHLY:
        return "monthly";
    case VX_FORECAST_QUARTERLY:
        return "quarterly";
    case VX_FORECAST_YEARLY:
        return "yearly";
    }
    return "unknown";
}

const char *vx_forecast_model_name(vx_forecast_model m)
{
    static const char *const names[] = {"trend", "ets", "snaive", "combo", "constant", "sum"};
    return (unsigned)m < VX_FORECAST_MODEL_COUNT ? names[m] : "unknown";
}

void fc_ctx_init(fc_ctx *ctx, vx_forecast_spacing spacing, int64_t start_day, size_t n)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->spacing = spacing;
    ctx->season = 1;
    int y, mo, d;
    vx_unix_days_to_civil(start_day, &y, &mo, &d);
    double month_index = (double)y * 12.0 + (double)(mo - 1);
    switch (spacing) {
    case VX_FORECAST_DAILY:
        ctx->t0 = (double)start_day;
        ctx->step = 1;
        if (n >= 14) {
            ctx->season = 7;
            ctx->four[ctx->n_four++] = (fc_fourier){7.0, 3};
        }
        /* a yearly shape needs about two years to be told apart from the trend */
        if (n >= 700)
            ctx->four[ctx->n_four++] = (fc_fourier){365.25, 10};
        break;
    case VX_FORECAST_WEEKLY:
        ctx->t0 = (double)start_day;
        ctx->step = 7;
        if (n >= 104) {
            ctx->season = 52;
            ctx->four[ctx->n_four++] = (fc_fourier){365.25, 6};
        }
        break;
    case VX_FORECAST_MONTHLY:
        ctx->t0 = month_index;
        ctx->step = 1;
        if (n >= 24) {
            ctx->season = 12;
            ctx->four[ctx->n_four++] = (fc_fourier){12.0, 5};
        }
        break;
    case VX_FORECAST_QUARTERLY:
        ctx->t0 = month_index;
        ctx->step = 3;
        if (n >= 8) {
            ctx->season = 4;
            ctx->four[ctx->n_four++] = (fc_fourier){12.0, 1};
        }
        break;
    case VX_FORECAST_YEARLY:
        ctx->t0 = month_index;
        ctx->step = 12;
        break;
    }
}

/* Moves the k-th smallest of a[0..n) to a[k], smaller ones before it, larger after
 * (Hoare's selection, median-of-three pivot): linear time on average. */
static void select_kth(double *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (hi > lo) {
        size_t mid = lo + (hi - lo) / 2;
        double x = a[lo], y = a[mid], z = a[hi];
        double pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                double t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return;
    }
}

double fc_quantile(const double *x, size_t n, double p)
{
    double *c = vx_xmalloc((n ? n : 1) * sizeof *c);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i]))
            c[k++] = x[i];
    double q = NAN;
    if (k > 0) {
        double pos = p * (double)(k - 1);
        if (pos < 0)
            pos = 0;
        if (pos > (double)(k - 1))
            pos = (double)(k - 1);
        size_t lo = (size_t)pos;
        double frac = pos - (double)lo;
        select_kth(c, k, lo);
        q = c[lo];
        if (lo + 1 < k && frac > 0) {
            double next = c[lo + 1];
            for (size_t i = lo + 2; i < k; i++)
                next = c[i] < next ? c[i] : next;
            q += frac * (next - q);
        }
    }
    vx_free(c);
    return q;
}

double fc_median(const double *x, size_t n)
{
    return fc_quantile(x, n, 0.5);
}

double fc_robust_sd(const double *x, size_t n)
{
    double med = fc_median(x, n);
    if (!isfinite(med))
        return NAN;
    double *dev = vx_xmalloc((n ? n : 1) * sizeof *dev);
    for (size_t i = 0; i < n; i++)
        dev[i] = isfinite(x[i]) ? fabs(x[i] - med) : NAN;
    double mad = fc_median(dev, n);
    /* when more than half the deviations are zero (zeros, flat stretches) the MAD says
     * nothing; fall back to the mean absolute deviation */
    if (mad == 0) {
        double s = 0;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (isfinite(dev[i])) {
                s += dev[i];
                k++;
            }
        mad = k ? s / (double)k * 1.2533 * 0.6745 : 0; /* sd = mean|dev| * sqrt(pi/2) */
    }
    vx_free(dev);
    return 1.4826 * mad;
}

/* Acklam's rational approximation (relative error below 1.2e-9). */
double fc_norm_ppf(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    if (p <= 0)
        return -INFINITY;
    if (p >= 1)
        return INFINITY;
    if (p < 0.02425) {
        double q = sqrt(-2 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > 1 - 0.02425)
        return -fc_norm_ppf(1 - p);
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

static double mean_abs_diff(const double *y, size_t n, size_t lag, size_t *pairs)
{
    double s = 0;
    size_t k = 0;
    for (size_t t = lag; t < n; t++)
        if (isfinite(y[t]) && isfinite(y[t - lag])) {
            s += fabs(y[t] - y[t - lag]);
            k++;
        }
    *pairs = k;
    return k ? s / (double)k : 0;
}

double fc_mase_scale(const double *y, size_t n, size_t m)
{
    size_t pairs = 0;
    double s = 0;
    if (m >= 1 && m < n)
        s = mean_abs_diff(y, n, m, &pairs);
    if (pairs == 0 || s == 0)
        s = n > 1 ? mean_abs_diff(y, n, 1, &pairs) : 0;
    return s;
}

double fc_noise_sd(const double *y, size_t n, size_t m)
{
    size_t lag = (m > 1 && 2 * m < n) ? m : 1;
    if (lag >= n)
        return 0;
    double *d = vx_xmalloc((n - lag) * sizeof *d);
    for (size_t t = lag; t < n; t++)
        d[t - lag] = y[t] - y[t - lag]; /* NaN propagates and is skipped */
    double sd = fc_robust_sd(d, n - lag);
    vx_free(d);
    return isfinite(sd) ? sd / sqrt(2.0) : 0;
}

size_t fc_count_finite(const double *y, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += isfinite(y[i]) != 0;
    return k;
}

#define SNAIVE_LOOKBACK 5 /* seasons compared with the last one */

/* Median of v[0..k), k small, sorted in place. */
static double small_median(double *v, size_t k)
{
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

/* The value of the last season at index idx, unless it is far off the same phase of the seasons
 * before it (a one-off spike or drop): then their median. A single unusual day is not repeated
 * a season later; a change that lasts two seasons is. */
static double season_value(const double *y, size_t idx, size_t m)
{
    double v[SNAIVE_LOOKBACK], dev[SNAIVE_LOOKBACK];
    size_t k = 0;
    for (size_t i = idx, seasons = 0; seasons < SNAIVE_LOOKBACK; seasons++, i -= m) {
        if (isfinite(y[i]))
            v[k++] = y[i];
        if (i < m)
            break;
    }
    double last = y[idx];
    if (k < 4)
        return last;
    double med = small_median(v, k);
    for (size_t i = 0; i < k; i++)
        dev[i] = fabs(v[i] - med);
    double spread = 1.4826 * small_median(dev, k);
    double floor = 0.1 * fabs(med);
    return fabs(last - med) > 4 * (spread > floor ? spread : floor) ? med : last;
}

bool fc_snaive_forecast(const double *y, size_t n, size_t m, size_t h, double *out)
{
    double last = NAN;
    for (size_t i = n; i-- > 0;)
        if (isfinite(y[i])) {
            last = y[i];
            break;
        }
    if (!isfinite(last))
        return false;
    for (size_t k = 0; k < h; k++) {
        double v = NAN;
        if (m > 1) {
            /* the same phase, one season back at a time, until an observed value */
            size_t idx = n + k;
            while (idx >= m) {
                idx -= m;
                if (idx < n && isfinite(y[idx])) {
                    v = season_value(y, idx, m);
                    break;
                }
            }
        }
        out[k] = isfinite(v) ? v : last;
    }
    return true;
}

void fc_appendf(char *buf, size_t cap, const char *fmt, ...)
{
    if (cap == 0)
        return;
    size_t len = strnlen(buf, cap - 1);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}
