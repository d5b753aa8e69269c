/* Exponential smoothing with a damped additive trend and optional additive seasonality
 * (Holt-Winters damped), in error-correction form. Smoothing parameters minimize a
 * Huber-clipped one-step SSE, found by Nelder-Mead on a logistic reparameterization. */
#include "forecast_internal.h"
#include "vx/alloc.h"

#include <math.h>
#include <string.h>

#define NM_MAX_EVALS 160
#define WARM_STEP 0.4
#define WARM_EVALS 50
#define CLIP_K 4.5

typedef struct {
    const double *y;
    size_t n, m;
    double clip;
    double l0, b0;
    const double *s0; /* [m] */
    double *s;        /* [m] work */
} ets_data;

typedef struct {
    double alpha, beta, gamma, phi;
} ets_par;

static double sig(double u)
{
    return 1.0 / (1.0 + exp(-u));
}

static ets_par decode(const double *u, size_t m)
{
    ets_par p;
    p.alpha = 0.01 + 0.98 * sig(u[0]);
    p.beta = p.alpha * 0.99 * sig(u[1]);
    p.phi = 0.8 + 0.18 * sig(u[2]);
    p.gamma = m > 1 ? (1.0 - p.alpha) * 0.99 * sig(u[3]) : 0.0;
    return p;
}

/* Runs the recursions over the data; returns the clipped SSE and leaves the final state. */
static double run(ets_data *d, ets_par p, double *l_out, double *b_out, size_t *count)
{
    double l = d->l0, b = d->b0, sse = 0;
    size_t k = 0;
    memcpy(d->s, d->s0, d->m * sizeof *d->s);
    size_t ph = 0;
    for (size_t t = 0; t < d->n; t++, ph = ph + 1 == d->m ? 0 : ph + 1) {
        double f = l + p.phi * b + d->s[ph];
        double e = 0;
        if (isfinite(d->y[t])) {
            e = d->y[t] - f;
            if (e > d->clip)
                e = d->clip;
            else if (e < -d->clip)
                e = -d->clip;
            sse += e * e;
            k++;
        }
        double nl = l + p.phi * b + p.alpha * e;
        b = p.phi * b + p.beta * e;
        d->s[ph] += p.gamma * e;
        l = nl;
    }
    if (l_out)
        *l_out = l;
    if (b_out)
        *b_out = b;
    if (count)
        *count = k;
    return sse;
}

static double season_mean(const double *y, size_t from, size_t len)
{
    double s = 0;
    size_t k = 0;
    for (size_t i = from; i < from + len; i++)
        if (isfinite(y[i])) {
            s += y[i];
            k++;
        }
    return k ? s / (double)k : NAN;
}

static void initial_state(ets_data *d, double *s0)
{
    const double *y = d->y;
    size_t m = d->m;
    if (m > 1) {
        double a = season_mean(y, 0, m), c = season_mean(y, m, m);
        if (!isfinite(a))
            a = c;
        if (!isfinite(c))
            c = a;
        d->l0 = a;
        d->b0 = (c - a) / (double)m;
        for (size_t j = 0; j < m; j++) {
            double s = 0;
            int k = 0;
            if (isfinite(y[j])) {
                s += y[j] - a;
                k++;
            }
            if (isfinite(y[m + j])) {
                s += y[m + j] - c;
                k++;
            }
            s0[j] = k ? s / k : 0;
        }
        return;
    }
    s0[0] = 0;
    size_t first = 0;
    while (!isfinite(y[first]))
        first++;
    d->l0 = y[first];
    d->b0 = 0;
    size_t seen = 0;
    for (size_t i = first + 1; i < d->n && seen < 4; i++)
        if (isfinite(y[i])) {
            d->b0 = (y[i] - y[first]) / (double)(i - first);
            seen++;
        }
}

static double objective(ets_data *d, const double *u)
{
    return run(d, decode(u, d->m), NULL, NULL, NULL);
}

/* Nelder-Mead over dim <= 4 coordinates from x (initial simplex edge `step`, at most
 * max_evals objective evaluations); x receives the best point. */
static void nelder_mead(ets_data *d, double *x, size_t dim, double step, int max_evals)
{
    double v[5][4], f[5], c[4], xr[4], xe[4], xc[4];
    int evals = 0;
    for (size_t i = 0; i <= dim; i++) {
        memcpy(v[i], x, dim * sizeof *x);
        if (i > 0)
            v[i][i - 1] += step;
        f[i] = objective(d, v[i]);
        evals++;
    }
    while (evals < max_evals) {
        /* order: best first */
        for (size_t i = 1; i <= dim; i++)
            for (size_t j = i; j > 0 && f[j] < f[j - 1]; j--) {
                double tf = f[j];
                f[j] = f[j - 1];
                f[j - 1] = tf;
                for (size_t k = 0; k < dim; k++) {
                    double tv = v[j][k];
                    v[j][k] = v[j - 1][k];
                    v[j - 1][k] = tv;
                }
            }
        if (f[dim] - f[0] <= 1e-10 * (fabs(f[0]) + 1e-12))
            break;
        for (size_t k = 0; k < dim; k++) {
            c[k] = 0;
            for (size_t i = 0; i < dim; i++)
                c[k] += v[i][k];
            c[k] /= (double)dim;
        }
        for (size_t k = 0; k < dim; k++)
            xr[k] = c[k] + (c[k] - v[dim][k]);
        double fr = objective(d, xr);
        evals++;
        if (fr < f[0]) {
            for (size_t k = 0; k < dim; k++)
                xe[k] = c[k] + 2.0 * (c[k] - v[dim][k]);
            double fe = objective(d, xe);
            evals++;
            if (fe < fr) {
                memcpy(v[dim], xe, dim * sizeof *xe);
                f[dim] = fe;
            } else {
                memcpy(v[dim], xr, dim * sizeof *xr);
                f[dim] = fr;
            }
        } else if (fr < f[dim - 1]) {
            memcpy(v[dim], xr, dim * sizeof *xr);
            f[dim] = fr;
        } else {
            for (size_t k = 0; k < dim; k++)
                xc[k] = c[k] + 0.5 * (v[dim][k] - c[k]);
            double fc = objective(d, xc);
            evals++;
            if (fc < f[dim]) {
                memcpy(v[dim], xc, dim * sizeof *xc);
                f[dim] = fc;
            } else {
                for (size_t i = 1; i <= dim; i++) {
                    for (size_t k = 0; k < dim; k++)
                        v[i][k] = v[0][k] + 0.5 * (v[i][k] - v[0][k]);
                    f[i] = objective(d, v[i]);
                    evals++;
                }
            }
        }
    }
    size_t best = 0;
    for (size_t i = 1; i <= dim; i++)
        if (f[i] < f[best])
            best = i;
    memcpy(x, v[best], dim * sizeof *x);
}

bool fc_ets_forecast(const double *y, size_t n, size_t m, size_t h, double *out, double *resid_sd,
                     double *warm)
{
    if (fc_count_finite(y, n) < 3)
        return false;
    if (m < 2 || n < 2 * m)
        m = 1;
    ets_data d = {.y = y, .n = n, .m = m};
    double *s0 = vx_xcalloc(m, sizeof *s0);
    d.s = vx_xcalloc(m, sizeof *d.s);
    d.s0 = s0;
    initial_state(&d, s0);
    double noise = fc_noise_sd(y, n, m);
    d.clip = noise > 0 ? CLIP_K * noise : INFINITY;

    /* start: alpha ~0.3, beta ~0.03, phi ~0.93, gamma ~0.07 */
    double x[4] = {-0.8, -2.3, 0.9, -2.2};
    size_t dim = m > 1 ? 4 : 3;
    if (warm && isfinite(warm[0])) {
        memcpy(x, warm, sizeof x);
        nelder_mead(&d, x, dim, WARM_STEP, WARM_EVALS);
    } else {
        nelder_mead(&d, x, dim, 1.5, NM_MAX_EVALS);
        if (warm)
            memcpy(warm, x, sizeof x);
    }
    ets_par p = decode(x, m);
    double l, b;
    size_t k;
    double sse = run(&d, p, &l, &b, &k);
    double damp = 0;
    for (size_t j = 0; j < h; j++) {
        damp += pow(p.phi, (double)(j + 1));
        out[j] = l + damp * b + d.s[(n + j) % m];
    }
    if (resid_sd)
        *resid_sd = k ? sqrt(sse / (double)k) : 0;
    vx_free(d.s);
    vx_free(s0);
    return true;
}
