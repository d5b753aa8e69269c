/* Rollup rows → daily series per part → forecasts and the coherent total, or anomalies →
 * packed replies.
 *
 * The total's interval. The total is the sum of the parts' point forecasts. Its interval is
 * not the sum of the parts' intervals (that assumes every part misses in the same direction
 * at once, so it is far too wide when services vary independently), nor a root-sum-square
 * (that assumes they never move together, too narrow when they do). Every part is forecast on
 * the same days with the same options, so the rolling-origin backtests of libs/forecast ran
 * from the same origins over the same steps for all of them; vx_forecast_combine adds the
 * parts' backtest errors per (origin, step), which is the error the summed forecast made at
 * that origin and step, correlations included, and calibrates the interval from those sums
 * the way a single series is calibrated (width growing with the horizon as h^b fitted to the
 * errors, quantile of the standardized errors at the requested level). */
#include "decompose.h"

#include "valdrix/v1/forecast.pb-c.h"
#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/forecast.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- series ---- */

void fc_series_build(const fc_rollup *r, int64_t from_day, int64_t to_day, fc_series *out)
{
    memset(out, 0, sizeof *out);
    out->start_day = to_day;
    bool other = false;
    for (size_t i = 0; i < r->n_rows; i++) {
        const fc_row *row = &r->rows[i];
        if (row->day < from_day || row->day >= to_day)
            continue; /* not asked for; the query never returns such rows */
        if (row->day < out->start_day)
            out->start_day = row->day;
        other |= row->rank == 0;
    }
    if (out->start_day >= to_day)
        return;
    size_t n = (size_t)(to_day - out->start_day);
    size_t parts = r->n_top + (other ? 1 : 0);
    out->n = n;
    out->n_parts = parts;
    out->names = vx_xcalloc(parts, sizeof *out->names);
    for (size_t p = 0; p < r->n_top; p++)
        out->names[p] = r->top_names[p] != NULL ? r->top_names[p] : "(unnamed)";
    if (other)
        out->names[parts - 1] = FC_OTHER_NAME;
    out->values = vx_xcalloc(parts * n, sizeof *out->values);
    out->total = vx_xcalloc(n, sizeof *out->total);
    out->part_spend = vx_xcalloc(parts, sizeof *out->part_spend);
    for (size_t i = 0; i < r->n_rows; i++) {
        const fc_row *row = &r->rows[i];
        if (row->day < out->start_day || row->day >= to_day || !isfinite(row->cost))
            continue;
        size_t p = row->rank > 0 ? row->rank - 1 : parts - 1;
        size_t d = (size_t)(row->day - out->start_day);
        out->values[p * n + d] += row->cost;
        out->total[d] += row->cost;
        out->part_spend[p] += row->cost;
        out->total_spend += row->cost;
    }
}

void fc_series_cleanup(fc_series *s)
{
    vx_free(s->names);
    vx_free(s->values);
    vx_free(s->total);
    vx_free(s->part_spend);
    memset(s, 0, sizeof *s);
}

/* ---- an arena for the reply's strings and sub-messages ---- */

typedef struct {
    void **blocks;
    size_t n, cap;
} arena;

static void *arena_new(arena *a, size_t size)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        a->blocks = vx_xrealloc(a->blocks, a->cap * sizeof *a->blocks);
    }
    void *p = vx_xcalloc(1, size);
    a->blocks[a->n++] = p;
    return p;
}

static char *arena_str(arena *a, const char *s)
{
    size_t n = strlen(s);
    char *p = arena_new(a, n + 1);
    memcpy(p, s, n);
    return p;
}

static void arena_free(arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        vx_free(a->blocks[i]);
    vx_free(a->blocks);
    memset(a, 0, sizeof *a);
}

static char *day_str(arena *a, int64_t day)
{
    char *p = arena_new(a, 11);
    vx_contract_day_format(day, p);
    return p;
}

/* ---- forecasts ---- */

typedef struct {
    const fc_series *s;
    vx_forecast_opts opts;
    vx_forecast_result **res;
    char (*err)[160];
    double *secs;
    atomic_size_t next;
} fit_job;

/* A forecast that repeats the last value, for a part the models refuse (a single day). */
static vx_forecast_result *held_result(const double *y, size_t n, size_t h, double level,
                                       const char *why)
{
    vx_forecast_result *r = vx_xcalloc(1, sizeof *r);
    r->horizon = h;
    r->level = level;
    r->model = VX_FORECAST_MODEL_CONSTANT;
    r->fallback = true;
    r->yhat = vx_xcalloc(h, sizeof *r->yhat);
    r->lo = vx_xcalloc(h, sizeof *r->lo);
    r->hi = vx_xcalloc(h, sizeof *r->hi);
    double last = n ? fmax(y[n - 1], 0) : 0;
    for (size_t k = 0; k < h; k++)
        r->yhat[k] = r->lo[k] = r->hi[k] = last;
    for (int c = 0; c < VX_FORECAST_MODEL_COUNT; c++)
        r->candidates[c].mase = NAN;
    snprintf(r->reason, sizeof r->reason, "fallback: %s; held at the last value\n", why);
    return r;
}

static void fit_one(fit_job *job, size_t p)
{
    const fc_series *s = job->s;
    int64_t t0 = vx_mono_ns();
    vx_forecast_series ser = {.values = s->values + p * s->n,
                              .n = s->n,
                              .spacing = VX_FORECAST_DAILY,
                              .start_day = s->start_day};
    vx_forecast_result *r = NULL;
    if (vx_forecast_run(&ser, &job->opts, &r, job->err[p], sizeof job->err[p]) != VX_OK)
        r = held_result(ser.values, ser.n, job->opts.horizon, job->opts.level, job->err[p]);
    job->res[p] = r;
    job->secs[p] = (double)(vx_mono_ns() - t0) / 1e9;
}

static void *fit_worker(void *arg)
{
    fit_job *job = arg;
    for (;;) {
        size_t p = atomic_fetch_add(&job->next, 1);
        if (p >= job->s->n_parts)
            break;
        fit_one(job, p);
    }
    return NULL;
}

/* Fits every part, `threads` at a time (this thread is one of them). */
static void fit_all(fit_job *job, int threads)
{
    size_t n = job->s->n_parts;
    size_t extra = threads > 1 ? (size_t)threads - 1 : 0;
    if (extra > n - 1)
        extra = n - 1;
    pthread_t tid[FC_MAX_TOP_SERVICES + 1];
    size_t started = 0;
    for (size_t i = 0; i < extra; i++)
        if (pthread_create(&tid[started], NULL, fit_worker, job) == 0)
            started++;
    fit_worker(job);
    for (size_t i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
}

static void trim_newline(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '\n')
        s[--n] = '\0';
}

static Valdrix__V1__SeriesForecast *
series_msg(arena *a, const char *name, const vx_forecast_result *r, double spend, int64_t first_day)
{
    Valdrix__V1__SeriesForecast *m = arena_new(a, sizeof *m);
    valdrix__v1__series_forecast__init(m);
    m->service_name = arena_str(a, name);
    m->model = arena_str(a, vx_forecast_model_name(r->model));
    double mase = (unsigned)r->model < VX_FORECAST_MODEL_COUNT ? r->candidates[r->model].mase : NAN;
    m->backtest_mase = isfinite(mase) ? mase : 0;
    m->fallback = r->fallback;
    m->note = arena_str(a, r->reason);
    trim_newline(m->note);
    m->history_total = spend;
    m->n_points = r->horizon;
    m->points = arena_new(a, r->horizon * sizeof *m->points);
    for (size_t h = 0; h < r->horizon; h++) {
        Valdrix__V1__ForecastPoint *pt = arena_new(a, sizeof *pt);
        valdrix__v1__forecast_point__init(pt);
        pt->date = day_str(a, first_day + (int64_t)h);
        pt->yhat = r->yhat[h];
        pt->lo = r->lo[h];
        pt->hi = r->hi[h];
        m->points[h] = pt;
    }
    return m;
}

static void result_head(arena *a, Valdrix__V1__ForecastResult *res, const fc_request *req,
                        const fc_rollup *rollup, uint64_t data_version)
{
    res->tenant_id = arena_str(a, req->scope.tenant_id);
    res->from = day_str(a, req->scope.from_day);
    res->to = day_str(a, req->scope.to_day);
    res->horizon_days = req->horizon_days;
    res->level = req->level;
    res->currency = arena_str(a, rollup->currency[0] ? rollup->currency : req->scope.currency);
    res->cost = arena_str(a, vx_contract_cost_name(req->scope.cost));
    res->records = rollup->records;
    res->data_version = data_version;
    res->cached = false;
}

static void pack_forecast(Valdrix__V1__ForecastResult *res, void **out, size_t *len)
{
    Valdrix__V1__ForecastReply rep = VALDRIX__V1__FORECAST_REPLY__INIT;
    rep.outcome_case = VALDRIX__V1__FORECAST_REPLY__OUTCOME_RESULT;
    rep.result = res;
    *len = valdrix__v1__forecast_reply__get_packed_size(&rep);
    uint8_t *buf = vx_xmalloc(*len + 1);
    valdrix__v1__forecast_reply__pack(&rep, buf);
    *out = buf;
}

vx_status fc_forecast_reply(const fc_request *req, const fc_rollup *rollup, const fc_series *s,
                            uint64_t data_version, int threads, void **out, size_t *len,
                            fc_fit_stats *stats, char *why, size_t why_cap)
{
    arena a = {0};
    memset(stats, 0, sizeof *stats);
    Valdrix__V1__ForecastResult res;
    valdrix__v1__forecast_result__init(&res);
    result_head(&a, &res, req, rollup, data_version);
    size_t H = req->horizon_days;

    if (s->n_parts == 0) {
        /* no row in the window: no spend to project */
        vx_forecast_result *zero =
            held_result(NULL, 0, H, req->level, "no cost rows in the window");
        res.total = series_msg(&a, "", zero, 0, req->scope.to_day);
        res.total->model = arena_str(&a, "sum");
        vx_forecast_result_destroy(zero);
        pack_forecast(&res, out, len);
        arena_free(&a);
        return VX_OK;
    }

    fit_job job = {.s = s};
    vx_forecast_opts_init(&job.opts);
    job.opts.horizon = H;
    job.opts.level = req->level;
    job.res = vx_xcalloc(s->n_parts, sizeof *job.res);
    job.err = vx_xcalloc(s->n_parts, sizeof *job.err);
    job.secs = vx_xcalloc(s->n_parts, sizeof *job.secs);
    atomic_init(&job.next, 0);
    fit_all(&job, threads);
    stats->fits = s->n_parts;
    memcpy(stats->fit_seconds, job.secs, s->n_parts * sizeof *job.secs);

    vx_status st = VX_OK;
    vx_forecast_series tot = {
        .values = s->total, .n = s->n, .spacing = VX_FORECAST_DAILY, .start_day = s->start_day};
    vx_forecast_result *total = NULL;
    if (vx_forecast_combine((const vx_forecast_result *const *)job.res, s->n_parts, &tot, false,
                            &total, why, why_cap) != VX_OK) {
        st = VX_INTERNAL;
        goto done;
    }
    res.total = series_msg(&a, "", total, s->total_spend, req->scope.to_day);
    res.n_services = s->n_parts;
    res.services = arena_new(&a, s->n_parts * sizeof *res.services);
    for (size_t p = 0; p < s->n_parts; p++)
        res.services[p] =
            series_msg(&a, s->names[p], job.res[p], s->part_spend[p], req->scope.to_day);
    pack_forecast(&res, out, len);
done:
    vx_forecast_result_destroy(total);
    for (size_t p = 0; p < s->n_parts; p++)
        vx_forecast_result_destroy(job.res[p]);
    vx_free(job.res);
    vx_free(job.err);
    vx_free(job.secs);
    arena_free(&a);
    return st;
}

/* ---- anomalies ---- */

typedef struct {
    int64_t day;
    const char *service; /* "" for the total */
    const vx_forecast_day *d;
} flagged;

static int cmp_flagged(const void *pa, const void *pb)
{
    const flagged *a = pa, *b = pb;
    if (a->day != b->day)
        return a->day < b->day ? -1 : 1;
    return strcmp(a->service, b->service);
}

vx_status fc_anomalies_reply(const fc_request *req, const fc_rollup *rollup, const fc_series *s,
                             uint64_t data_version, void **out, size_t *len, fc_fit_stats *stats,
                             char *why, size_t why_cap)
{
    (void)why;
    (void)why_cap;
    arena a = {0};
    memset(stats, 0, sizeof *stats);
    Valdrix__V1__AnomaliesResult res;
    valdrix__v1__anomalies_result__init(&res);
    res.tenant_id = arena_str(&a, req->scope.tenant_id);
    res.from = day_str(&a, req->scope.from_day);
    res.to = day_str(&a, req->scope.to_day);
    res.currency = arena_str(&a, rollup->currency[0] ? rollup->currency : req->scope.currency);
    res.cost = arena_str(&a, vx_contract_cost_name(req->scope.cost));
    res.records = rollup->records;
    res.data_version = data_version;

    /* the total, then each top service ("(other)" is a remainder, not a thing to alert on) */
    size_t n_top = s->n_parts > 0 && strcmp(s->names[s->n_parts - 1], FC_OTHER_NAME) == 0
                       ? s->n_parts - 1
                       : s->n_parts;
    size_t n_series = s->n_parts > 0 ? 1 + n_top : 0;
    vx_forecast_anomalies **found = vx_xcalloc(n_series + 1, sizeof *found);
    vx_forecast_anomaly_opts o;
    vx_forecast_anomaly_opts_init(&o);
    o.min_abs = req->min_abs;
    o.min_rel = req->min_rel;
    size_t n_flagged = 0;
    for (size_t k = 0; k < n_series; k++) {
        vx_forecast_series ser = {.values = k == 0 ? s->total : s->values + (k - 1) * s->n,
                                  .n = s->n,
                                  .spacing = VX_FORECAST_DAILY,
                                  .start_day = s->start_day};
        int64_t t0 = vx_mono_ns();
        char err[160];
        /* too short a history (fewer than 14 days of data) is simply not examined */
        if (vx_forecast_detect(&ser, &o, &found[k], err, sizeof err) == VX_OK)
            n_flagged += found[k]->anomalies;
        stats->fit_seconds[stats->fits++] = (double)(vx_mono_ns() - t0) / 1e9;
    }
    flagged *f = vx_xcalloc(n_flagged + 1, sizeof *f);
    size_t nf = 0;
    for (size_t k = 0; k < n_series; k++) {
        if (found[k] == NULL)
            continue;
        for (size_t i = 0; i < found[k]->n; i++) {
            const vx_forecast_day *d = &found[k]->days[i];
            if (d->kind == VX_FORECAST_NORMAL || d->kind == VX_FORECAST_MISSING)
                continue;
            f[nf++] = (flagged){
                .day = s->start_day + (int64_t)i, .service = k == 0 ? "" : s->names[k - 1], .d = d};
        }
    }
    qsort(f, nf, sizeof *f, cmp_flagged);
    res.n_anomalies = nf;
    res.anomalies = arena_new(&a, (nf + 1) * sizeof *res.anomalies);
    for (size_t i = 0; i < nf; i++) {
        Valdrix__V1__Anomaly *m = arena_new(&a, sizeof *m);
        valdrix__v1__anomaly__init(m);
        m->date = day_str(&a, f[i].day);
        m->service_name = arena_str(&a, f[i].service);
        m->kind = arena_str(&a, vx_forecast_anomaly_kind_name(f[i].d->kind));
        m->severity = arena_str(&a, vx_forecast_severity_name(f[i].d->severity));
        m->actual = f[i].d->actual;
        m->expected = f[i].d->expected;
        m->lo = f[i].d->lo;
        m->hi = f[i].d->hi;
        m->score = f[i].d->score;
        res.anomalies[i] = m;
    }
    Valdrix__V1__AnomaliesReply rep = VALDRIX__V1__ANOMALIES_REPLY__INIT;
    rep.outcome_case = VALDRIX__V1__ANOMALIES_REPLY__OUTCOME_RESULT;
    rep.result = &res;
    *len = valdrix__v1__anomalies_reply__get_packed_size(&rep);
    uint8_t *buf = vx_xmalloc(*len + 1);
    valdrix__v1__anomalies_reply__pack(&rep, buf);
    *out = buf;
    vx_free(f);
    for (size_t k = 0; k < n_series; k++)
        vx_forecast_anomalies_destroy(found[k]);
    vx_free(found);
    arena_free(&a);
    return VX_OK;
}

/* ---- cache hits ---- */

vx_status fc_mark_cached(fc_kind kind, const char *tenant_id, uint64_t data_version,
                         const void *data, size_t len, void **out, size_t *out_len)
{
    uint8_t *buf = NULL;
    if (kind == FC_KIND_RUN) {
        Valdrix__V1__ForecastReply *rep = valdrix__v1__forecast_reply__unpack(NULL, len, data);
        if (rep == NULL || rep->outcome_case != VALDRIX__V1__FORECAST_REPLY__OUTCOME_RESULT ||
            strcmp(rep->result->tenant_id, tenant_id) != 0 ||
            rep->result->data_version != data_version) {
            if (rep != NULL)
                valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
            return VX_INVALID;
        }
        rep->result->cached = true;
        *out_len = valdrix__v1__forecast_reply__get_packed_size(rep);
        buf = vx_xmalloc(*out_len + 1);
        valdrix__v1__forecast_reply__pack(rep, buf);
        valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    } else {
        Valdrix__V1__AnomaliesReply *rep = valdrix__v1__anomalies_reply__unpack(NULL, len, data);
        if (rep == NULL || rep->outcome_case != VALDRIX__V1__ANOMALIES_REPLY__OUTCOME_RESULT ||
            strcmp(rep->result->tenant_id, tenant_id) != 0 ||
            rep->result->data_version != data_version) {
            if (rep != NULL)
                valdrix__v1__anomalies_reply__free_unpacked(rep, NULL);
            return VX_INVALID;
        }
        rep->result->cached = true;
        *out_len = valdrix__v1__anomalies_reply__get_packed_size(rep);
        buf = vx_xmalloc(*out_len + 1);
        valdrix__v1__anomalies_reply__pack(rep, buf);
        valdrix__v1__anomalies_reply__free_unpacked(rep, NULL);
    }
    *out = buf;
    return VX_OK;
}
