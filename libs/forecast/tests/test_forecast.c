/* Unit tests of libs/forecast on synthetic series with known structure: recovery of trend and
 * seasonality, step changes, anomalies, interval width and coverage, clipping, bad input. */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include "vx/forecast.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY0 19358 /* 2023-01-01, a Sunday */

/* Deterministic normal noise (xorshift64* + Box-Muller). */
typedef struct {
    uint64_t s;
} rng;

static double uniform(rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return ((double)((r->s * 2685821657736338717ULL) >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(rng *r)
{
    double u = uniform(r), v = uniform(r);
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static const double weekly[7] = {-30, 10, 12, 8, 10, 6, -16}; /* Sun..Sat, sums to 0 */

static vx_forecast_result *forecast(const double *y, size_t n, vx_forecast_spacing sp, size_t h,
                                    double level)
{
    vx_forecast_series s = {.values = y, .n = n, .spacing = sp, .start_day = DAY0};
    vx_forecast_opts o;
    vx_forecast_opts_init(&o);
    o.horizon = h;
    o.level = level;
    vx_forecast_result *r = NULL;
    char err[256] = "";
    vx_status st = vx_forecast_run(&s, &o, &r, err, sizeof err);
    if (st != VX_OK)
        fprintf(stderr, "unexpected error: %s\n", err);
    assert_int_equal(st, VX_OK);
    assert_non_null(r);
    assert_int_equal(r->horizon, h);
    return r;
}

static void test_forecast_trend_and_weekly_recovered(void **state)
{
    (void)state;
    enum { N = 420, H = 28 };
    double y[N], truth[H];
    rng g = {7};
    for (size_t i = 0; i < N + H; i++) {
        double v = 200 + 0.25 * (double)i + weekly[i % 7];
        if (i < N)
            y[i] = v + 4 * normal(&g);
        else
            truth[i - N] = v;
    }
    vx_forecast_result *r = forecast(y, N, VX_FORECAST_DAILY, H, 0.8);
    double mae = 0;
    for (size_t h = 0; h < H; h++)
        mae += fabs(r->yhat[h] - truth[h]) / H;
    /* the noise sd is 4 and the weekly swing 42: a recovered shape is within a few units */
    assert_true(mae < 4.0);
    /* the weekend dip is in the forecast: Sunday below the Monday after it */
    size_t sun = (7 - N % 7) % 7;
    assert_true(r->yhat[sun] < r->yhat[sun + 1] - 25);
    assert_int_equal(r->season, 7);
    assert_true(r->candidates[VX_FORECAST_MODEL_TREND].evaluated);
    assert_true(isfinite(r->candidates[VX_FORECAST_MODEL_TREND].mase));
    assert_true(strstr(r->reason, "chosen:") != NULL);
    assert_true(strstr(r->reason, "MASE") != NULL);
    vx_forecast_result_destroy(r);
}

static void test_forecast_step_change_followed(void **state)
{
    (void)state;
    enum { N = 360, STEP = 250, H = 28 };
    double y[N];
    rng g = {11};
    for (size_t i = 0; i < N; i++)
        y[i] = (i < STEP ? 400 : 600) + weekly[i % 7] + 5 * normal(&g);
    vx_forecast_result *r = forecast(y, N, VX_FORECAST_DAILY, H, 0.8);
    double mean = 0;
    for (size_t h = 0; h < H; h++)
        mean += r->yhat[h] / H;
    /* the new level (600), not a blend of before and after */
    assert_true(fabs(mean - 600) < 30);
    vx_forecast_result_destroy(r);
}

/* A slope change in the last tenth of the history (day 370 of 400) is followed: changepoints
 * are candidates up to the end, not only in the first 90 % (which gave a mean error of ~60
 * here, the level left behind). */
static void test_forecast_late_slope_change_followed(void **state)
{
    (void)state;
    enum { N = 400, BREAK = 370, H = 28, SEEDS = 10 };
    double y[N + H], mean_mae = 0;
    for (int seed = 1; seed <= SEEDS; seed++) {
        rng g = {(uint64_t)seed * 7919};
        for (size_t i = 0; i < N + H; i++)
            y[i] =
                500 + (i > BREAK ? 4.0 * (double)(i - BREAK) : 0) + weekly[i % 7] + 5 * normal(&g);
        vx_forecast_result *r = forecast(y, N, VX_FORECAST_DAILY, H, 0.8);
        double mae = 0;
        for (size_t h = 0; h < H; h++)
            mae += fabs(r->yhat[h] - y[N + h]) / H;
        mean_mae += mae / SEEDS;
        vx_forecast_result_destroy(r);
    }
    fprintf(stderr, "late slope change: mean absolute error %.1f\n", mean_mae);
    assert_true(mean_mae < 25);
}

/* A one-off spike in the last week is not repeated a week later, whichever model is chosen; a
 * level that has held for two weeks is. */
static void test_forecast_recent_spike_not_repeated(void **state)
{
    (void)state;
    for (int noisy = 0; noisy <= 1; noisy++) {
        rng r = {.s = 0x5eedULL + (uint64_t)noisy};
        double y[140];
        for (size_t i = 0; i < 140; i++)
            y[i] = 200 + weekly[(DAY0 + 4 + i) % 7] + (noisy ? 3 * normal(&r) : 0);
        y[135] = 2000; /* five days before the end */
        vx_forecast_result *f = forecast(y, 140, VX_FORECAST_DAILY, 14, 0.8);
        /* step 2 is the spike's weekday one week later */
        if (!(f->yhat[2] < 400))
            fail_msg("noisy=%d model %s yhat[2] = %g\n%s", noisy, vx_forecast_model_name(f->model),
                     f->yhat[2], f->reason);
        vx_forecast_result_destroy(f);
    }
}

static void test_forecast_anomalies_at_spikes_only(void **state)
{
    (void)state;
    enum { N = 300 };
    double y[N];
    rng g = {3};
    for (size_t i = 0; i < N; i++)
        y[i] = 500 + 0.3 * (double)i + 1.5 * weekly[i % 7] + 8 * normal(&g);
    y[60] *= 3.0; /* runaway job */
    y[61] *= 2.5;
    y[150] += 400; /* fee */
    y[230] = 90;   /* outage: a drop */
    vx_forecast_series s = {.values = y, .n = N, .spacing = VX_FORECAST_DAILY, .start_day = DAY0};
    vx_forecast_anomalies *a = NULL;
    char err[256];
    assert_int_equal(vx_forecast_detect(&s, NULL, &a, err, sizeof err), VX_OK);
    assert_int_equal(a->n, N);
    for (size_t i = 0; i < N; i++) {
        const vx_forecast_day *d = &a->days[i];
        bool injected = i == 60 || i == 61 || i == 150 || i == 230;
        if (injected)
            assert_int_equal(d->kind, i == 230 ? VX_FORECAST_DROP : VX_FORECAST_SPIKE);
        else
            assert_int_equal(d->kind, VX_FORECAST_NORMAL);
        assert_true(d->lo <= d->expected && d->expected <= d->hi);
        if (!injected)
            assert_true(fabs(d->expected - y[i]) < 60);
    }
    assert_int_equal(a->anomalies, 4);
    assert_int_equal(a->days[60].severity, VX_FORECAST_SEV_HIGH);
    assert_true(a->days[60].score > a->days[150].score);
    vx_forecast_anomalies_destroy(a);

    /* the band alone (no dollar or percentage floor) is wide enough to leave normal days be */
    vx_forecast_anomaly_opts o;
    vx_forecast_anomaly_opts_init(&o);
    o.min_abs = 0;
    o.min_rel = 0;
    assert_int_equal(vx_forecast_detect(&s, &o, &a, err, sizeof err), VX_OK);
    assert_true(a->anomalies >= 4 && a->anomalies <= 6);
    vx_forecast_anomalies_destroy(a);
}

static void test_forecast_outlier_block_does_not_bend_the_fit(void **state)
{
    (void)state;
    enum { N = 365 };
    double y[N], truth[N];
    rng g = {8};
    for (size_t i = 0; i < N; i++) {
        truth[i] = 800 + 0.5 * (double)i + 2 * weekly[i % 7];
        y[i] = truth[i] + 10 * normal(&g);
    }
    for (size_t i = 200; i < 221; i++)
        y[i] = 80; /* three weeks of bad data */
    vx_forecast_series s = {.values = y, .n = N, .spacing = VX_FORECAST_DAILY, .start_day = DAY0};
    vx_forecast_anomalies *a = NULL;
    assert_int_equal(vx_forecast_detect(&s, NULL, &a, NULL, 0), VX_OK);
    for (size_t i = 0; i < N; i++) {
        if (i >= 200 && i < 221)
            assert_int_equal(a->days[i].kind, VX_FORECAST_DROP);
        else
            assert_true(fabs(a->days[i].expected - truth[i]) < 0.05 * truth[i]);
    }
    vx_forecast_anomalies_destroy(a);
}

static void test_forecast_anomaly_thresholds_and_new_spend(void **state)
{
    (void)state;
    enum { N = 120 };
    double y[N];
    rng g = {5};
    for (size_t i = 0; i < N; i++)
        y[i] = fabs(0.5 + 0.2 * normal(&g)); /* next to no spend */
    y[100] = 300;
    y[40] = 20; /* far outside the band, but below the $25 floor */
    vx_forecast_series s = {.values = y, .n = N, .spacing = VX_FORECAST_DAILY, .start_day = DAY0};
    vx_forecast_anomalies *a = NULL;
    assert_int_equal(vx_forecast_detect(&s, NULL, &a, NULL, 0), VX_OK);
    assert_int_equal(a->days[100].kind, VX_FORECAST_NEW_SPEND);
    assert_int_equal(a->days[40].kind, VX_FORECAST_NORMAL);
    assert_int_equal(a->anomalies, 1);
    vx_forecast_anomalies_destroy(a);

    /* a lower floor makes the $20 day count */
    vx_forecast_anomaly_opts o;
    vx_forecast_anomaly_opts_init(&o);
    o.min_abs = 10;
    assert_int_equal(vx_forecast_detect(&s, &o, &a, NULL, 0), VX_OK);
    assert_int_equal(a->days[40].kind, VX_FORECAST_NEW_SPEND);
    assert_int_equal(a->anomalies, 2);
    vx_forecast_anomalies_destroy(a);

    /* too short, and infinite values, are refused with a message */
    char err[256] = "";
    s.n = 10;
    assert_int_equal(vx_forecast_detect(&s, NULL, &a, err, sizeof err), VX_INVALID);
    assert_non_null(strstr(err, "at least 14"));
    s.n = N;
    y[3] = INFINITY;
    assert_int_equal(vx_forecast_detect(&s, NULL, &a, err, sizeof err), VX_INVALID);
    assert_non_null(strstr(err, "infinite"));
}

static void test_forecast_intervals_widen_with_horizon(void **state)
{
    (void)state;
    enum { N = 500, H = 60 };
    double y[N];
    rng g = {21};
    double level = 1000;
    for (size_t i = 0; i < N; i++) {
        level += 6 * normal(&g); /* a random walk: uncertainty grows with the horizon */
        y[i] = level + weekly[i % 7] + 4 * normal(&g);
    }
    vx_forecast_result *r = forecast(y, N, VX_FORECAST_DAILY, H, 0.8);
    double w0 = r->hi[0] - r->lo[0];
    assert_true(w0 > 0);
    for (size_t h = 1; h < H; h++)
        assert_true(r->hi[h] - r->lo[h] >= w0 - 1e-9);
    assert_true(r->hi[H - 1] - r->lo[H - 1] > 2 * w0);
    for (size_t h = 0; h < H; h++)
        assert_true(r->lo[h] <= r->yhat[h] && r->yhat[h] <= r->hi[h]);
    /* a wider level gives a wider interval */
    vx_forecast_result *r95 = forecast(y, N, VX_FORECAST_DAILY, H, 0.95);
    assert_true(r95->hi[H - 1] - r95->lo[H - 1] > r->hi[H - 1] - r->lo[H - 1]);
    vx_forecast_result_destroy(r95);
    vx_forecast_result_destroy(r);
}

static void test_forecast_coverage_on_simulated_series(void **state)
{
    (void)state;
    enum { N = 400, H = 28, SERIES = 40 };
    double y[N + H];
    rng g = {99};
    size_t covered = 0, total = 0;
    for (int k = 0; k < SERIES; k++) {
        double level = 500 + 50 * k, drift = 0.2 * normal(&g), amp = 0.5 + uniform(&g);
        for (size_t i = 0; i < N + H; i++) {
            level += drift + 2 * normal(&g);
            y[i] = level + amp * weekly[i % 7] + 6 * normal(&g);
        }
        vx_forecast_result *r = forecast(y, N, VX_FORECAST_DAILY, H, 0.8);
        for (size_t h = 0; h < H; h++, total++)
            covered += r->lo[h] <= y[N + h] && y[N + h] <= r->hi[h];
        vx_forecast_result_destroy(r);
    }
    double cov = (double)covered / (double)total;
    fprintf(stderr, "simulated 80%% coverage: %.3f over %zu points\n", cov, total);
    assert_true(cov > 0.68 && cov < 0.92);
}

static void test_forecast_never_negative(void **state)
{
    (void)state;
    enum { N = 200, H = 90 };
    double y[N];
    rng g = {13};
    for (size_t i = 0; i < N; i++)
        y[i] = 120 - 0.55 * (double)i + 3 * normal(&g); /* winding down to ~10 */
    vx_forecast_result *r = forecast(y, N, VX_FORECAST_DAILY, H, 0.8);
    bool touched = false;
    for (size_t h = 0; h < H; h++) {
        assert_true(r->yhat[h] >= 0 && r->lo[h] >= 0 && r->hi[h] >= 0);
        touched |= r->lo[h] == 0;
    }
    assert_true(touched);
    vx_forecast_result_destroy(r);

    /* with clipping off the same series does go below zero: the clip is what holds it */
    vx_forecast_series s = {.values = y, .n = N, .spacing = VX_FORECAST_DAILY, .start_day = DAY0};
    vx_forecast_opts o;
    vx_forecast_opts_init(&o);
    o.horizon = H;
    o.allow_negative = true;
    assert_int_equal(vx_forecast_run(&s, &o, &r, NULL, 0), VX_OK);
    assert_true(r->lo[H - 1] < 0);
    vx_forecast_result_destroy(r);
}

static void test_forecast_degenerate_input(void **state)
{
    (void)state;
    char err[256];
    vx_forecast_result *r = NULL;
    double y[40];
    vx_forecast_series s = {.values = y, .n = 0, .spacing = VX_FORECAST_DAILY, .start_day = DAY0};
    assert_int_equal(vx_forecast_run(&s, NULL, &r, err, sizeof err), VX_INVALID);
    assert_non_null(strstr(err, "empty"));
    assert_null(r);

    y[0] = 5;
    s.n = 1;
    assert_int_equal(vx_forecast_run(&s, NULL, &r, err, sizeof err), VX_INVALID);
    assert_non_null(strstr(err, "at least 2"));

    for (size_t i = 0; i < 40; i++)
        y[i] = NAN;
    s.n = 40;
    assert_int_equal(vx_forecast_run(&s, NULL, &r, err, sizeof err), VX_INVALID);
    assert_non_null(strstr(err, "all missing"));

    y[7] = INFINITY;
    assert_int_equal(vx_forecast_run(&s, NULL, &r, err, sizeof err), VX_INVALID);
    assert_non_null(strstr(err, "infinite"));

    vx_forecast_opts o;
    vx_forecast_opts_init(&o);
    for (size_t i = 0; i < 40; i++)
        y[i] = 42.5;
    o.horizon = 0;
    assert_int_equal(vx_forecast_run(&s, &o, &r, err, sizeof err), VX_INVALID);
    assert_non_null(strstr(err, "horizon"));
    o.horizon = VX_FORECAST_MAX_HORIZON + 1;
    assert_int_equal(vx_forecast_run(&s, &o, &r, err, sizeof err), VX_LIMIT);
    o.horizon = 10;
    o.level = 1.0;
    assert_int_equal(vx_forecast_run(&s, &o, &r, err, sizeof err), VX_INVALID);
    assert_non_null(strstr(err, "level"));
    o.level = 0.8;

    /* constant: the constant, with no spread */
    assert_int_equal(vx_forecast_run(&s, &o, &r, err, sizeof err), VX_OK);
    assert_int_equal(r->model, VX_FORECAST_MODEL_CONSTANT);
    for (size_t h = 0; h < 10; h++) {
        assert_true(r->yhat[h] == 42.5 && r->lo[h] == 42.5 && r->hi[h] == 42.5);
    }
    assert_non_null(strstr(r->reason, "constant"));
    vx_forecast_result_destroy(r);

    /* negative values (credits): forecast, said so, and clipped */
    rng g = {17};
    for (size_t i = 0; i < 40; i++)
        y[i] = -20 + 2 * normal(&g);
    assert_int_equal(vx_forecast_run(&s, &o, &r, err, sizeof err), VX_OK);
    assert_non_null(strstr(r->reason, "negative"));
    for (size_t h = 0; h < 10; h++)
        assert_true(r->yhat[h] == 0 && r->lo[h] == 0 && r->hi[h] == 0);
    vx_forecast_result_destroy(r);

    /* short history: a fallback, and the reason names it */
    for (size_t i = 0; i < 9; i++)
        y[i] = 100 + (double)i;
    s.n = 9;
    assert_int_equal(vx_forecast_run(&s, &o, &r, err, sizeof err), VX_OK);
    assert_true(r->fallback);
    assert_int_equal(r->origins, 0);
    assert_non_null(strstr(r->reason, "fallback"));
    assert_true(r->yhat[0] > 104 && r->yhat[0] < 115);
    vx_forecast_result_destroy(r);

    /* two points: still a forecast */
    s.n = 2;
    assert_int_equal(vx_forecast_run(&s, &o, &r, err, sizeof err), VX_OK);
    assert_true(isfinite(r->yhat[0]) && r->hi[9] >= r->lo[9]);
    vx_forecast_result_destroy(r);
}

static void test_forecast_missing_days_and_outliers(void **state)
{
    (void)state;
    enum { N = 400, H = 14 };
    double y[N], truth[H];
    rng g = {23};
    for (size_t i = 0; i < N + H; i++) {
        double v = 300 + 0.1 * (double)i + weekly[i % 7];
        if (i < N)
            y[i] = v + 3 * normal(&g);
        else
            truth[i - N] = v;
    }
    for (size_t i = 0; i < N; i += 9)
        y[i] = NAN; /* every ninth day missing */
    for (size_t i = 100; i < 120; i++)
        y[i] = NAN; /* and a gap */
    y[370] = 5000;  /* outliers near the end */
    y[371] = 0;
    vx_forecast_result *r = forecast(y, N, VX_FORECAST_DAILY, H, 0.8);
    double mae = 0;
    for (size_t h = 0; h < H; h++)
        mae += fabs(r->yhat[h] - truth[h]) / H;
    assert_true(mae < 8.0);
    vx_forecast_result_destroy(r);
}

static void test_forecast_multiplicative_growth_uses_log(void **state)
{
    (void)state;
    enum { N = 730, H = 28 };
    double y[N + H];
    rng g = {31};
    for (size_t i = 0; i < N + H; i++) {
        double lvl = 100 * exp(0.004 * (double)i); /* x18 over two years */
        y[i] = lvl * (1 + weekly[i % 7] / 100.0) * exp(0.03 * normal(&g));
    }
    vx_forecast_result *r = forecast(y, N, VX_FORECAST_DAILY, H, 0.8);
    assert_true(r->log_scale);
    assert_non_null(strstr(r->reason, "transform: log"));
    double err = 0;
    for (size_t h = 0; h < H; h++)
        err += fabs(r->yhat[h] - y[N + h]) / y[N + h] / H;
    assert_true(err < 0.08);
    vx_forecast_result_destroy(r);

    /* additive noise around a flat level: no transform */
    for (size_t i = 0; i < N; i++)
        y[i] = 500 + weekly[i % 7] + 5 * normal(&g);
    r = forecast(y, N, VX_FORECAST_DAILY, H, 0.8);
    assert_false(r->log_scale);
    vx_forecast_result_destroy(r);
}

static void test_forecast_monthly_yearly_season(void **state)
{
    (void)state;
    enum { N = 96, H = 12 };
    double y[N + H];
    rng g = {41};
    for (size_t i = 0; i < N + H; i++)
        y[i] =
            1000 + 4 * (double)i + 120 * sin(6.283185307179586 * (double)i / 12) + 10 * normal(&g);
    vx_forecast_result *r = forecast(y, N, VX_FORECAST_MONTHLY, H, 0.8);
    assert_int_equal(r->season, 12);
    double mae = 0;
    for (size_t h = 0; h < H; h++)
        mae += fabs(r->yhat[h] - y[N + h]) / H;
    assert_true(mae < 40);
    vx_forecast_result_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forecast_trend_and_weekly_recovered),
        cmocka_unit_test(test_forecast_step_change_followed),
        cmocka_unit_test(test_forecast_late_slope_change_followed),
        cmocka_unit_test(test_forecast_recent_spike_not_repeated),
        cmocka_unit_test(test_forecast_anomalies_at_spikes_only),
        cmocka_unit_test(test_forecast_anomaly_thresholds_and_new_spend),
        cmocka_unit_test(test_forecast_outlier_block_does_not_bend_the_fit),
        cmocka_unit_test(test_forecast_intervals_widen_with_horizon),
        cmocka_unit_test(test_forecast_coverage_on_simulated_series),
        cmocka_unit_test(test_forecast_never_negative),
        cmocka_unit_test(test_forecast_degenerate_input),
        cmocka_unit_test(test_forecast_missing_days_and_outliers),
        cmocka_unit_test(test_forecast_multiplicative_growth_uses_log),
        cmocka_unit_test(test_forecast_monthly_yearly_season),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
