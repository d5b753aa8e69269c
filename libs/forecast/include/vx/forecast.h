/* Spend forecasts and anomaly flags for one regular series: pure computation, no I/O.
 * Candidates (trend + seasonality with changepoints, damped exponential smoothing, seasonal
 * naive, and their combination) are scored by rolling-origin backtests; intervals come from
 * the backtest errors. Every function here is reentrant: no global state, thread-safe. */
#ifndef VX_FORECAST_H
#define VX_FORECAST_H

#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits on what one call accepts; larger inputs are refused with VX_LIMIT. */
#define VX_FORECAST_MAX_POINTS 100000
#define VX_FORECAST_MAX_HORIZON 10000

/* The spacing of a regular series. */
typedef enum {
    VX_FORECAST_DAILY,
    VX_FORECAST_WEEKLY,
    VX_FORECAST_MONTHLY,
    VX_FORECAST_QUARTERLY,
    VX_FORECAST_YEARLY
} vx_forecast_spacing;

/* "daily", "weekly", ... (static strings). */
const char *vx_forecast_spacing_name(vx_forecast_spacing s);

/* A regular series: values[i] is the value of period start_day + i periods. A missing period
 * is NaN (never skipped); infinities are refused. `values` is borrowed for the duration of a
 * call only. start_day (days since 1970-01-01) anchors the calendar seasonalities (weekday,
 * day of year, month). */
typedef struct {
    const double *values;
    size_t n;
    vx_forecast_spacing spacing;
    int64_t start_day;
} vx_forecast_series;

typedef struct {
    size_t horizon;      /* periods to forecast, 1..VX_FORECAST_MAX_HORIZON */
    double level;        /* interval coverage in (0, 1), e.g. 0.8 */
    bool allow_negative; /* false (the default): point forecasts and intervals are >= 0 */
    int max_origins;     /* rolling-origin backtests, 2..20 (default 8) */
} vx_forecast_opts;

/* Defaults: horizon 28, level 0.8, never negative, 8 backtest origins. Thread-safe. */
void vx_forecast_opts_init(vx_forecast_opts *o);

typedef enum {
    VX_FORECAST_MODEL_TREND,    /* piecewise-linear trend + Fourier seasonality (Prophet's class) */
    VX_FORECAST_MODEL_ETS,      /* additive Holt(-Winters) with damped trend */
    VX_FORECAST_MODEL_SNAIVE,   /* repeat the last season (last value when there is none) */
    VX_FORECAST_MODEL_COMBO,    /* mean of TREND and ETS */
    VX_FORECAST_MODEL_CONSTANT, /* the series never changed */
    VX_FORECAST_MODEL_SUM,      /* the sum of separately forecast parts (vx_forecast_combine) */
    VX_FORECAST_MODEL_COUNT
} vx_forecast_model;

/* "trend", "ets", "snaive", "combo", "constant", "sum" (static strings). */
const char *vx_forecast_model_name(vx_forecast_model m);

/* How one candidate did in the backtests. */
typedef struct {
    bool evaluated; /* false: not run, see note */
    double mase;    /* mean absolute scaled error over all origins and steps; NaN if not run */
    char note[96];  /* why it was not run, or "" */
} vx_forecast_candidate;

/* A forecast and every choice made on the way to it. All arrays are owned by the result. */
typedef struct {
    size_t horizon;
    double level;
    double *yhat;            /* [horizon] point forecasts */
    double *lo;              /* [horizon] lower bounds of the `level` interval */
    double *hi;              /* [horizon] upper bounds */
    vx_forecast_model model; /* the model whose forecast this is */
    bool log_scale;          /* fitted on log values (multiplicative growth detected) */
    size_t season;           /* seasonal period in periods (1: none) */
    size_t changepoints;     /* active trend changepoints of the TREND model (0 if unused) */
    int origins;             /* backtest origins run (0: none, see reason) */
    size_t backtest_horizon; /* steps per origin; beyond it interval widths extrapolate */
    bool fallback;           /* a simpler path was taken because of the data; see reason */
    vx_forecast_candidate candidates[VX_FORECAST_MODEL_COUNT];
    char reason[640]; /* one line per choice: transform, candidates, pick, fallbacks, clipping */
    /* The chosen model's backtest errors on the original scale (actual - forecast, after
     * clipping at 0 when negatives are not allowed): origin k (0 = the latest) and step h at
     * backtest_errors[k * backtest_horizon + h], NaN where the actual was missing. Origin k
     * forecast periods backtest_origin[k] .. + backtest_horizon - 1 from the history before
     * it. Both NULL when no backtest ran for the chosen model (origins == 0: constant series
     * or too short a history). This is what vx_forecast_combine adds up across parts. */
    double *backtest_errors;
    size_t *backtest_origin;
} vx_forecast_result;

/* Fits the candidates to `s`, picks the one with the lowest backtest MASE and forecasts
 * o->horizon periods after the last one (o NULL: defaults). On success *out is a new result
 * owned by the caller (vx_forecast_result_destroy) and VX_OK is returned. Otherwise *out is
 * untouched, a one-line message is written to err (when err_cap > 0) and the status is
 * VX_INVALID (empty, fewer than 2 observed values, infinities, bad options) or VX_LIMIT
 * (too many points or too long a horizon). Thread-safe. */
VX_MUST_CHECK vx_status vx_forecast_run(const vx_forecast_series *s, const vx_forecast_opts *o,
                                        vx_forecast_result **out, char *err, size_t err_cap);

/* Frees a result; NULL is accepted. */
void vx_forecast_result_destroy(vx_forecast_result *r);

/* The forecast of a sum from forecasts of its parts (a bill from its services), each made by
 * vx_forecast_run on the same periods with the same horizon and level. Point forecasts add up.
 * The interval is not the sum of the parts' intervals: the parts' backtest errors are added
 * per (origin, step), so that parts that miss together widen the total and parts that miss
 * independently partly cancel, and the sums are calibrated (and widened with the horizon) as
 * vx_forecast_run calibrates a single series. A part without backtests because its history
 * never changed adds no error. When some part has no backtests for another reason (a short
 * history) or the parts' origins differ, the half-widths add in quadrature instead (parts taken
 * as independent) and the reason says so. `total` (may be NULL) is the summed history; with it
 * candidates[VX_FORECAST_MODEL_SUM].mase gets the MASE of the summed backtest errors (NaN
 * otherwise). Bounds are clipped at 0 unless allow_negative. On success *out is a new result
 * (model VX_FORECAST_MODEL_SUM, its own backtest_errors the summed ones) owned by the caller;
 * VX_INVALID (err) for no parts or parts of different horizons or levels. Thread-safe. */
VX_MUST_CHECK vx_status vx_forecast_combine(const vx_forecast_result *const *parts, size_t n_parts,
                                            const vx_forecast_series *total, bool allow_negative,
                                            vx_forecast_result **out, char *err, size_t err_cap);

/* ---- Anomalies ---- */

typedef enum {
    VX_FORECAST_NORMAL,
    VX_FORECAST_SPIKE,     /* well above the expected value */
    VX_FORECAST_DROP,      /* well below it */
    VX_FORECAST_NEW_SPEND, /* spend where next to none was expected */
    VX_FORECAST_MISSING    /* no value for this period */
} vx_forecast_anomaly_kind;

typedef enum {
    VX_FORECAST_SEV_NONE,
    VX_FORECAST_SEV_LOW,    /* outside the band by less than one band half-width more */
    VX_FORECAST_SEV_MEDIUM, /* by one to three half-widths more */
    VX_FORECAST_SEV_HIGH    /* by more */
} vx_forecast_severity;

/* "normal", "spike", ... and "none", "low", "medium", "high" (static strings). */
const char *vx_forecast_anomaly_kind_name(vx_forecast_anomaly_kind k);
const char *vx_forecast_severity_name(vx_forecast_severity s);

typedef struct {
    double band_level; /* two-sided coverage of the expected band, in (0.5, 1); default 0.999 */
    double min_abs;    /* a flagged deviation is at least this much (default 25, dollars) */
    double min_rel;    /* and at least this fraction of the expected value (default 0.30) */
} vx_forecast_anomaly_opts;

/* Defaults as above. Thread-safe. */
void vx_forecast_anomaly_opts_init(vx_forecast_anomaly_opts *o);

typedef struct {
    double actual;   /* NaN when missing */
    double expected; /* in-sample value of the robust trend + seasonality fit */
    double lo, hi;   /* the band */
    vx_forecast_anomaly_kind kind;
    vx_forecast_severity severity;
    double score; /* |actual - expected| in band half-widths (at most 1e6); 0 if missing */
} vx_forecast_day;

/* Per-period verdicts for a whole series. Owned by the caller. */
typedef struct {
    size_t n;
    vx_forecast_day *days; /* [n], owned */
    size_t anomalies;      /* days whose kind is SPIKE, DROP or NEW_SPEND */
    bool log_scale;        /* the band was computed on log values */
    char reason[256];
} vx_forecast_anomalies;

/* Fits a robust in-sample model to `s` (at least 14 observed values) and marks each period
 * that lies outside the band AND differs from its expected value by at least min_abs and by
 * at least min_rel of the expected value (o NULL: defaults). On success *out is owned by the
 * caller (vx_forecast_anomalies_destroy). Errors as vx_forecast_run. Thread-safe. */
VX_MUST_CHECK vx_status vx_forecast_detect(const vx_forecast_series *s,
                                           const vx_forecast_anomaly_opts *o,
                                           vx_forecast_anomalies **out, char *err, size_t err_cap);

/* Frees the verdicts; NULL is accepted. */
void vx_forecast_anomalies_destroy(vx_forecast_anomalies *a);

/* ---- `date,value` CSV (valdrix forecast) ---- */

/* A CSV read into a regular series; skipped periods and empty/NA/NaN values are NaN. */
typedef struct {
    double *values; /* owned; n of them */
    size_t n;
    vx_forecast_spacing spacing;
    int64_t start_day; /* days since 1970-01-01 of values[0] */
    bool by_month;     /* steps counted in months (monthly and coarser) */
    int64_t step;      /* days or months per period */
    int dom;           /* day of month of the first date */
    bool month_end;    /* the dates are month ends */
} vx_forecast_csv;

/* Parses buf[0..len): a header line `date,value`, then `YYYY-MM-DD,number` lines with strictly
 * increasing dates whose spacing is inferred. VX_INVALID with why = "line 7: ..." (or what is
 * wrong with the file as a whole); *out is then empty. Thread-compatible. */
VX_MUST_CHECK vx_status vx_forecast_csv_parse(const char *buf, size_t len, vx_forecast_csv *out,
                                              char *why, size_t why_cap);
void vx_forecast_csv_cleanup(vx_forecast_csv *c);
/* The date (days since 1970-01-01) of period k, counted from the first; k >= n names the
 * periods forecast after the last. */
int64_t vx_forecast_csv_period_day(const vx_forecast_csv *c, int64_t k);

#endif
