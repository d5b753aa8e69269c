/* Unit tests of the backtest errors a forecast exposes and of vx_forecast_combine: the sum's
 * point forecast is the sum of the parts', and its interval follows how the parts' errors move
 * together (narrower than the summed widths for independent parts, as wide for parts that
 * always miss together). */
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
#include <string.h>

#define DAY0 19358 /* 2023-01-01 */
#define N 400
#define H 30

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

/* A random walk around `base` with a weekly shape: errors grow with the horizon. */
static void walk(double *y, size_t n, double base, uint64_t seed)
{
    rng g = {seed};
    double level = base;
    for (size_t i = 0; i < n; i++) {
        level += 0.01 * base * normal(&g);
        y[i] = level * (i % 7 == 0 || i % 7 == 6 ? 0.8 : 1.05) + 0.01 * base * normal(&g);
    }
}

/* cmocka 1.1 has no assert_double_equal */
#define assert_near(a, b, eps) assert_true(fabs((a) - (b)) <= (eps))

static vx_forecast_result *run(const double *y, size_t n)
{
    vx_forecast_series s = {.values = y, .n = n, .spacing = VX_FORECAST_DAILY, .start_day = DAY0};
    vx_forecast_opts o;
    vx_forecast_opts_init(&o);
    o.horizon = H;
    vx_forecast_result *r = NULL;
    char err[256] = "";
    assert_int_equal(vx_forecast_run(&s, &o, &r, err, sizeof err), VX_OK);
    return r;
}

static vx_forecast_result *combine(vx_forecast_result **parts, size_t n, const double *total,
                                   size_t len)
{
    vx_forecast_series s = {
        .values = total, .n = len, .spacing = VX_FORECAST_DAILY, .start_day = DAY0};
    vx_forecast_result *r = NULL;
    char err[256] = "";
    vx_status st = vx_forecast_combine((const vx_forecast_result *const *)parts, n,
                                       total ? &s : NULL, false, &r, err, sizeof err);
    if (st != VX_OK)
        fail_msg("combine: %s", err);
    return r;
}

/* Mean over the horizon of the total's width divided by the sum of the parts' widths. */
static double width_ratio(const vx_forecast_result *t, vx_forecast_result **parts, size_t n)
{
    double ratio = 0;
    for (size_t h = 0; h < H; h++) {
        double sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += parts[i]->hi[h] - parts[i]->lo[h];
        ratio += (t->hi[h] - t->lo[h]) / sum / H;
    }
    return ratio;
}

static void test_forecast_backtest_errors_are_exposed(void **state)
{
    (void)state;
    double y[N];
    walk(y, N, 1000, 3);
    vx_forecast_result *r = run(y, N);
    assert_true(r->origins >= 2);
    assert_non_null(r->backtest_errors);
    assert_non_null(r->backtest_origin);
    /* origin 0 is the latest: its last step is the last period of the history */
    assert_int_equal(r->backtest_origin[0] + r->backtest_horizon, N);
    for (int k = 1; k < r->origins; k++)
        assert_true(r->backtest_origin[k] < r->backtest_origin[k - 1]);
    /* errors are in the series' units: their mean size is of the order of the noise */
    double mae = 0;
    size_t cnt = (size_t)r->origins * r->backtest_horizon;
    for (size_t k = 0; k < cnt; k++) {
        assert_true(isfinite(r->backtest_errors[k]));
        mae += fabs(r->backtest_errors[k]) / (double)cnt;
    }
    assert_true(mae > 1 && mae < 300);
    vx_forecast_result_destroy(r);

    /* a constant series and a too-short one have none */
    double c[N];
    for (size_t i = 0; i < N; i++)
        c[i] = 5;
    r = run(c, N);
    assert_int_equal(r->model, VX_FORECAST_MODEL_CONSTANT);
    assert_null(r->backtest_errors);
    vx_forecast_result_destroy(r);
    r = run(y, 9);
    assert_int_equal(r->origins, 0);
    assert_null(r->backtest_errors);
    vx_forecast_result_destroy(r);
}

static void test_forecast_combine_adds_point_forecasts(void **state)
{
    (void)state;
    static double a[N], b[N], c[N], total[N];
    walk(a, N, 1000, 5);
    walk(b, N, 300, 6);
    for (size_t i = 0; i < N; i++) {
        c[i] = 40; /* a flat service */
        total[i] = a[i] + b[i] + c[i];
    }
    vx_forecast_result *parts[3] = {run(a, N), run(b, N), run(c, N)};
    vx_forecast_result *t = combine(parts, 3, total, N);
    assert_int_equal(t->model, VX_FORECAST_MODEL_SUM);
    assert_string_equal(vx_forecast_model_name(t->model), "sum");
    assert_int_equal(t->horizon, H);
    for (size_t h = 0; h < H; h++) {
        assert_near(t->yhat[h], parts[0]->yhat[h] + parts[1]->yhat[h] + 40, 1e-6);
        assert_true(t->lo[h] <= t->yhat[h] && t->yhat[h] <= t->hi[h]);
        assert_true(t->lo[h] >= 0);
    }
    /* the flat part adds no error: the summed backtest errors are those of a and b */
    size_t cnt = (size_t)t->origins * t->backtest_horizon;
    for (size_t k = 0; k < cnt; k++)
        assert_near(t->backtest_errors[k],
                    parts[0]->backtest_errors[k] + parts[1]->backtest_errors[k], 1e-6);
    assert_true(t->candidates[VX_FORECAST_MODEL_SUM].evaluated);
    double mase = t->candidates[VX_FORECAST_MODEL_SUM].mase;
    assert_true(isfinite(mase) && mase > 0 && mase < 5);
    assert_non_null(strstr(t->reason, "summed per origin and step"));
    /* wider steps out */
    assert_true(t->hi[H - 1] - t->lo[H - 1] >= t->hi[0] - t->lo[0]);
    vx_forecast_result_destroy(t);
    for (int i = 0; i < 3; i++)
        vx_forecast_result_destroy(parts[i]);
}

static void test_forecast_combine_independent_parts_are_narrower(void **state)
{
    (void)state;
    enum { K = 6 };
    static double y[K][N], total[N];
    vx_forecast_result *parts[K];
    memset(total, 0, sizeof total);
    for (int k = 0; k < K; k++) {
        walk(y[k], N, 500, 100 + (uint64_t)k);
        for (size_t i = 0; i < N; i++)
            total[i] += y[k][i];
        parts[k] = run(y[k], N);
    }
    vx_forecast_result *t = combine(parts, K, total, N);
    double ratio = width_ratio(t, parts, K);
    fprintf(stderr, "independent parts: total width / summed widths = %.3f\n", ratio);
    /* six independent parts of equal size: about 1/sqrt(6) = 0.41 in theory */
    assert_true(ratio < 0.75);
    assert_true(ratio > 0.15);
    vx_forecast_result_destroy(t);
    for (int k = 0; k < K; k++)
        vx_forecast_result_destroy(parts[k]);
}

static void test_forecast_combine_correlated_parts_add_up(void **state)
{
    (void)state;
    /* the same service in three accounts: each part is a multiple of one series, so the
     * parts always miss together and the widths do add up */
    static double base[N], y[3][N], total[N];
    walk(base, N, 800, 42);
    static const double share[3] = {0.5, 0.3, 0.2};
    vx_forecast_result *parts[3];
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < N; i++)
            y[k][i] = share[k] * base[i];
        parts[k] = run(y[k], N);
    }
    for (size_t i = 0; i < N; i++)
        total[i] = base[i];
    vx_forecast_result *t = combine(parts, 3, total, N);
    double ratio = width_ratio(t, parts, 3);
    fprintf(stderr, "correlated parts: total width / summed widths = %.3f\n", ratio);
    assert_true(ratio > 0.9 && ratio < 1.1);
    vx_forecast_result_destroy(t);
    for (int k = 0; k < 3; k++)
        vx_forecast_result_destroy(parts[k]);
}

static void test_forecast_combine_fallbacks_and_refusals(void **state)
{
    (void)state;
    double a[N], b[N];
    walk(a, N, 1000, 8);
    walk(b, N, 1000, 9);
    /* too short for backtests (9 days): half-widths in quadrature */
    vx_forecast_result *s[2] = {run(a, 9), run(b, 9)};
    vx_forecast_result *t = combine(s, 2, NULL, 0);
    assert_true(t->fallback);
    assert_non_null(strstr(t->reason, "quadrature"));
    for (size_t h = 0; h < H; h++) {
        double u0 = s[0]->hi[h] - s[0]->yhat[h], u1 = s[1]->hi[h] - s[1]->yhat[h];
        assert_near(t->hi[h] - t->yhat[h], sqrt(u0 * u0 + u1 * u1), 1e-6);
    }
    assert_true(isnan(t->candidates[VX_FORECAST_MODEL_SUM].mase));
    vx_forecast_result_destroy(t);

    /* histories of different lengths: the origins do not line up */
    vx_forecast_result *m[2] = {run(a, N), run(b, N - 50)};
    t = combine(m, 2, NULL, 0);
    assert_true(t->fallback);
    assert_non_null(strstr(t->reason, "do not line up"));
    vx_forecast_result_destroy(t);

    /* nothing, or parts of other horizons: refused */
    vx_forecast_result *out = NULL;
    char err[128] = "";
    assert_int_equal(vx_forecast_combine(NULL, 0, NULL, false, &out, err, sizeof err), VX_INVALID);
    vx_forecast_series ser = {.values = a, .n = N, .spacing = VX_FORECAST_DAILY, .start_day = DAY0};
    vx_forecast_opts o;
    vx_forecast_opts_init(&o);
    o.horizon = 7;
    vx_forecast_result *shorter = NULL;
    assert_int_equal(vx_forecast_run(&ser, &o, &shorter, err, sizeof err), VX_OK);
    const vx_forecast_result *mixed[2] = {m[0], shorter};
    assert_int_equal(vx_forecast_combine(mixed, 2, NULL, false, &out, err, sizeof err), VX_INVALID);
    assert_non_null(strstr(err, "horizon"));
    assert_null(out);
    vx_forecast_result_destroy(shorter);
    for (int i = 0; i < 2; i++) {
        vx_forecast_result_destroy(s[i]);
        vx_forecast_result_destroy(m[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forecast_backtest_errors_are_exposed),
        cmocka_unit_test(test_forecast_combine_adds_point_forecasts),
        cmocka_unit_test(test_forecast_combine_independent_parts_are_narrower),
        cmocka_unit_test(test_forecast_combine_correlated_parts_add_up),
        cmocka_unit_test(test_forecast_combine_fallbacks_and_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
