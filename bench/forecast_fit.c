/* Fit-time benchmark of libs/forecast on 3 years of daily data (synthetic: growth, weekly and
 * yearly seasonality, noise, a few spikes). Median over many runs of the whole forecast
 * (backtests, choice, final fit, intervals) and of single model fits.
 * Last line: forecast fit_ms=X trend_fit_ms=Y ets_fit_ms=Z runs=N */
#include "forecast_internal.h"
#include "vx/clock.h"
#include "vx/forecast.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAYS 1095
#define RUNS 101

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *x, size_t n)
{
    qsort(x, n, sizeof *x, cmp_double);
    return x[n / 2];
}

int main(void)
{
    static double y[DAYS];
    uint64_t rng = 42;
    for (size_t i = 0; i < DAYS; i++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(rng >> 11) / 9007199254740992.0;
        double week = (i % 7 == 5 || i % 7 == 6) ? -0.3 : 0.05;
        double year = 0.1 * sin(6.283185307179586 * (double)i / 365.25);
        y[i] = 1000.0 * exp(0.0008 * (double)i) * (1 + week + year) * (0.95 + 0.1 * u);
        if (i % 200 == 17)
            y[i] *= 3;
    }
    vx_forecast_series s = {
        .values = y, .n = DAYS, .spacing = VX_FORECAST_DAILY, .start_day = 19358};
    vx_forecast_opts o;
    vx_forecast_opts_init(&o);
    o.horizon = 90;
    static double run_ms[RUNS], trend_ms[RUNS], ets_ms[RUNS];
    char err[256];
    const char *model = "";
    for (int r = 0; r < RUNS; r++) {
        int64_t t0 = vx_mono_ns();
        vx_forecast_result *res = NULL;
        if (vx_forecast_run(&s, &o, &res, err, sizeof err) != VX_OK) {
            fprintf(stderr, "forecast_fit: %s\n", err);
            return 1;
        }
        run_ms[r] = (double)(vx_mono_ns() - t0) / 1e6;
        model = vx_forecast_model_name(res->model);
        vx_forecast_result_destroy(res);

        fc_ctx ctx;
        fc_ctx_init(&ctx, s.spacing, s.start_day, DAYS);
        double out[90];
        t0 = vx_mono_ns();
        fc_trend *t = fc_trend_fit(&ctx, y, DAYS, false);
        fc_trend_predict(t, DAYS, 90, out);
        trend_ms[r] = (double)(vx_mono_ns() - t0) / 1e6;
        fc_trend_destroy(t);
        t0 = vx_mono_ns();
        fc_ets_forecast(y, DAYS, ctx.season, 90, out, NULL, NULL);
        ets_ms[r] = (double)(vx_mono_ns() - t0) / 1e6;
    }
    fprintf(stderr, "forecast_fit: %d days, horizon 90, chosen model %s\n", DAYS, model);
    printf("forecast fit_ms=%.3f trend_fit_ms=%.3f ets_fit_ms=%.3f runs=%d\n", median(run_ms, RUNS),
           median(trend_ms, RUNS), median(ets_ms, RUNS), RUNS);
    return 0;
}
