/* Shared pieces of libs/forecast: calendar context, statistics helpers and the model entry
 * points used by the selection code (forecast.c) and the anomaly detector (anomaly.c). */
#ifndef VX_FORECAST_INTERNAL_H
#define VX_FORECAST_INTERNAL_H

#include "vx/forecast.h"

#include <stdbool.h>
#include <stddef.h>

/* One Fourier seasonality: period in the context's time unit, number of harmonics. */
typedef struct {
    double period;
    int order;
} fc_fourier;

/* What the models need to know about the calendar of a series. */
typedef struct {
    vx_forecast_spacing spacing;
    double t0;          /* calendar time of index 0 (days, or months for monthly and coarser) */
    double step;        /* calendar time per index */
    size_t season;      /* seasonal period in indices for ETS and seasonal naive (1: none) */
    fc_fourier four[2]; /* seasonalities of the trend model, order 0 = unused */
    int n_four;
} fc_ctx;

/* Fills ctx for a series of n points (seasonalities need enough history to be estimable). */
void fc_ctx_init(fc_ctx *ctx, vx_forecast_spacing spacing, int64_t start_day, size_t n);

/* Multiplicative-growth test (forecast.c): true when all values are positive and the
 * period-to-period movement grows in proportion to the level; why gets a one-line account. */
bool fc_wants_log(const double *y, size_t n, size_t m, char *why, size_t why_cap);

/* Interval calibration from backtest errors ez[n_origins * hbt] (origin-major, NaN skipped):
 * sigma[0..horizon) gets the width scale per step, fitted as exp(a) * h^b to the mean absolute
 * error per step (b in [0, 1]) and extrapolated beyond hbt; q_lo/q_hi the quantiles of the
 * errors standardized by it for `level`. why gets a one-line account. (forecast.c) */
void fc_calibrate(const double *ez, size_t n_origins, size_t hbt, double level, size_t horizon,
                  double *sigma, double *q_lo, double *q_hi, char *why, size_t why_cap);

/* ---- statistics (stats.c) ---- */

/* p-quantile (linear interpolation) of the finite values among x[0..n); sorts a copy.
 * NaN when there are none. */
double fc_quantile(const double *x, size_t n, double p);
double fc_median(const double *x, size_t n);
/* 1.4826 * median absolute deviation from the median: a robust standard deviation. */
double fc_robust_sd(const double *x, size_t n);
/* Inverse of the standard normal CDF, p in (0, 1). */
double fc_norm_ppf(double p);
/* MASE denominator: mean |y[t] - y[t-m]| over pairs both observed (lag 1 when m >= n or no
 * pairs). 0 when the series never changes. */
double fc_mase_scale(const double *y, size_t n, size_t m);
/* Robust noise level: robust sd of the lag-m differences / sqrt(2) (lag 1 if m unusable). */
double fc_noise_sd(const double *y, size_t n, size_t m);
size_t fc_count_finite(const double *y, size_t n);

/* ---- trend + seasonality model (trend_model.c) ---- */

typedef struct fc_trend fc_trend;

/* Fits piecewise-linear trend (lasso on changepoint deltas, coordinate descent) + Fourier
 * seasonality (ridge) to y[0..n) (NaN skipped), winsorizing residuals beyond 3 robust sd
 * in refits; with `reject`, rows beyond 6 robust sd are also left out of the refits (for
 * in-sample expectations: forecasts measured better without). NULL if fewer than 4
 * observed values. Caller destroys. */
fc_trend *fc_trend_fit(const fc_ctx *ctx, const double *y, size_t n, bool reject);
void fc_trend_destroy(fc_trend *t);
/* Values at indices first .. first+count-1 (in-sample or beyond n: the trend continues with
 * its last slope). */
void fc_trend_predict(const fc_trend *t, size_t first, size_t count, double *out);
/* Robust sd of the in-sample residuals; number of non-zero changepoint deltas. */
double fc_trend_resid_sd(const fc_trend *t);
size_t fc_trend_changepoints(const fc_trend *t);

/* ---- exponential smoothing (ets.c) ---- */

/* Fits additive damped-trend exponential smoothing (with additive seasonality of period m
 * when m > 1 and n >= 2m) to y[0..n) by minimizing a Huber-clipped SSE with Nelder-Mead,
 * then writes h forecasts to out. *resid_sd (if not NULL) gets the one-step error rms.
 * warm (4 doubles, may be NULL): when warm[0] is NaN it receives the fitted (internal)
 * parameters; otherwise the search starts there with a short budget (refits on windows of
 * the same series). false if fewer than 3 observed values. */
bool fc_ets_forecast(const double *y, size_t n, size_t m, size_t h, double *out, double *resid_sd,
                     double *warm);

/* ---- seasonal naive (stats.c) ---- */

/* out[k] = the last observed value in the same phase of period m (last observed value when
 * m == 1 or none). false if y has no observed value. */
bool fc_snaive_forecast(const double *y, size_t n, size_t m, size_t h, double *out);

/* Writes a formatted line to buf (appending, always NUL-terminated, truncating). */
void fc_appendf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
