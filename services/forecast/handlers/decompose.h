/* From rollup rows to replies: daily series per top service, "(other)" and the total; their
 * forecasts (one model per part, fitted in parallel) and the total as their coherent sum; the
 * anomaly scan of the total and of each top service. Pure computation, no I/O; thread-safe. */
#ifndef VX_FORECAST_DECOMPOSE_H
#define VX_FORECAST_DECOMPOSE_H

#include "request.h"
#include "rollup.h"

#include <stddef.h>
#include <stdint.h>

#define FC_OTHER_NAME "(other)"

/* Daily series over [start_day, to_day). A day without a row is a day without spend (0). Days
 * before the first row of the whole scope are left out: before its first record the tenant
 * had no data, which is not the same as spending nothing. */
typedef struct {
    int64_t start_day;
    size_t n;           /* days */
    size_t n_parts;     /* the top services in rank order, then "(other)" if any */
    const char **names; /* [n_parts], borrowed from the rollup or static */
    double *values;     /* [n_parts * n], part after part */
    double *total;      /* [n], the sum of the parts */
    double *part_spend; /* [n_parts], spend over the window */
    double total_spend;
} fc_series;

/* Builds the series of the rows read for the window [from_day, to_day). n is 0 when there are
 * no rows. fc_series_cleanup frees it. */
void fc_series_build(const fc_rollup *r, int64_t from_day, int64_t to_day, fc_series *out);
void fc_series_cleanup(fc_series *s);

/* What the request's computation cost, for metrics. */
typedef struct {
    double fit_seconds[FC_MAX_TOP_SERVICES + 1]; /* wall time of each part's fit */
    size_t fits;
} fc_fit_stats;

/* A packed ForecastReply holding a ForecastResult: each part forecast on its own, `threads`
 * fits at a time (>= 1), and the total with the interval of vx_forecast_combine (the parts'
 * backtest errors summed per origin and step, so their correlation is kept). `rollup` gives
 * the currency and the records; data_version is reported as given. The caller frees *out
 * (vx_free). VX_INTERNAL (why) if a part could not be combined. */
vx_status fc_forecast_reply(const fc_request *req, const fc_rollup *rollup, const fc_series *s,
                            uint64_t data_version, int threads, void **out, size_t *len,
                            fc_fit_stats *stats, char *why, size_t why_cap);

/* A packed AnomaliesReply holding an AnomaliesResult: vx_forecast_detect on the total and on
 * each top service (with the request's min_abs and min_rel), every day flagged spike, drop or
 * new_spend, by date and then service ("" for the total first). Series shorter than the
 * detector's minimum are not examined. The caller frees *out (vx_free). */
vx_status fc_anomalies_reply(const fc_request *req, const fc_rollup *rollup, const fc_series *s,
                             uint64_t data_version, void **out, size_t *len, fc_fit_stats *stats,
                             char *why, size_t why_cap);

/* Marks a cached reply (packed ForecastReply / AnomaliesReply with a result) as cached=true.
 * VX_INVALID if the bytes are not such a reply, or one for another tenant or data version than
 * asked (a cache entry is never trusted for whose it is: Redis may be written by others); *out
 * (vx_free) otherwise. */
vx_status fc_mark_cached(fc_kind kind, const char *tenant_id, uint64_t data_version,
                         const void *data, size_t len, void **out, size_t *out_len);

#endif
