/* The request path: decode, snapshot and data version, cache, rollup, bound, compute, cache,
 * reply, log and count. Errors are answered as Error{code, message}; none is fatal. */
#include "service.h"

#include "handlers/decompose.h"
#include "handlers/rollup.h"
#include "store.h"
#include "valdrix/v1/cost.pb-c.h"
#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/contract.h"
#include "vx/log.h"
#include "vx/trace.h"

#include <stdio.h>
#include <string.h>

/* The Error.Code each outcome answers with; the outcome's name (metrics, logs) is the code's
 * name in vx/contract.h's table. */
static const int outcome_codes[FC_OUT_COUNT] = {
    0,
    VALDRIX__V1__ERROR__CODE__CODE_INVALID,
    VALDRIX__V1__ERROR__CODE__CODE_TOO_LARGE,
    VALDRIX__V1__ERROR__CODE__CODE_UNAVAILABLE,
    VALDRIX__V1__ERROR__CODE__CODE_DEADLINE,
    VALDRIX__V1__ERROR__CODE__CODE_INTERNAL,
};

static const char *outcome_name(fc_outcome o)
{
    return o == FC_OUT_OK ? "ok" : vx_contract_error_of_code(outcome_codes[o])->name;
}

/* Fit times of one part: 0.1 ms .. 10 s. */
static const double fit_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                    0.025,  0.05,    0.1,    0.25,  0.5,    1,     10};

void fc_metrics_register(fc_metrics *m, vx_metrics *reg)
{
    char labels[96];
    for (int k = 0; k < 2; k++) {
        const char *kind = fc_kind_name((fc_kind)k);
        for (int o = 0; o < FC_OUT_COUNT; o++) {
            snprintf(labels, sizeof labels, "kind=\"%s\",outcome=\"%s\"", kind,
                     outcome_name((fc_outcome)o));
            m->requests[k][o] = vx_metrics_counter(
                reg, "valdrix_forecast_requests_total",
                "Requests answered, by kind (run, anomalies) and outcome", labels);
        }
        snprintf(labels, sizeof labels, "kind=\"%s\"", kind);
        m->duration[k] =
            vx_metrics_histogram(reg, "valdrix_forecast_request_duration_seconds",
                                 "Time from receiving a request to sending its reply", labels,
                                 vx_metrics_latency_bounds, vx_metrics_latency_bounds_len);
    }
    m->fit = vx_metrics_histogram(reg, "valdrix_forecast_fit_duration_seconds",
                                  "Time to fit and forecast (or scan) one series", NULL, fit_bounds,
                                  sizeof fit_bounds / sizeof fit_bounds[0]);
    m->cache_hits = vx_metrics_counter(reg, "valdrix_forecast_cache_hits_total",
                                       "Replies served from the Redis cache", NULL);
    m->cache_misses = vx_metrics_counter(reg, "valdrix_forecast_cache_misses_total",
                                         "Requests computed because no cached reply existed", NULL);
    m->cache_errors = vx_metrics_counter(
        reg, "valdrix_forecast_cache_errors_total",
        "Cache reads or writes that failed (Redis unreachable): computed without the cache", NULL);
    m->records_read = vx_metrics_counter(reg, "valdrix_forecast_records_read_total",
                                         "Cost records behind the rollup rows read", NULL);
    m->rows_read = vx_metrics_counter(reg, "valdrix_forecast_rollup_rows_read_total",
                                      "Rows of the daily rollup query read", NULL);
    m->in_flight = vx_metrics_gauge(reg, "valdrix_forecast_requests_in_flight",
                                    "Requests being worked on now", NULL);
    m->expired = vx_metrics_counter(
        reg, "valdrix_forecast_requests_expired_total",
        "Requests dropped because the caller's deadline had passed when picked up or while the "
        "rollup was read (nothing fitted)",
        NULL);
}

/* What one request did, for its reply, its log line and the metrics. */
typedef struct {
    fc_outcome outcome;
    char message[512]; /* for the Error reply */
    char detail[512];  /* for the log only (server messages) */
    const char *cache; /* hit, miss, error, "" */
    uint64_t data_version, records;
    size_t rows, parts;
    double db_ms, model_ms; /* time in Postgres (snapshot, version, rollup), in the models */
    void *reply;
    size_t reply_len;
} fc_call;

static void fail(fc_call *c, fc_outcome o, const char *message, const char *detail)
{
    c->outcome = o;
    snprintf(c->message, sizeof c->message, "%s", message);
    snprintf(c->detail, sizeof c->detail, "%s", detail ? detail : "");
}

/* Maps a Postgres status to the reply's error. */
static void pg_fail(fc_service *s, fc_call *c, vx_status st, const char *what, const char *err)
{
    char msg[256];
    switch (st) {
    case VX_TIMEOUT:
        snprintf(msg, sizeof msg, "%s took too long (the database is busy); try again", what);
        fail(c, FC_OUT_DEADLINE, msg, err);
        break;
    case VX_UNAVAILABLE:
    case VX_CONFLICT:
        atomic_store(&s->pg_ok, false);
        snprintf(msg, sizeof msg, "%s failed: the database is unavailable; try again", what);
        fail(c, FC_OUT_UNAVAILABLE, msg, err);
        break;
    default:
        snprintf(msg, sizeof msg, "%s failed", what);
        fail(c, FC_OUT_INTERNAL, msg, err);
        break;
    }
}

/* deadline_ms: monotonic ms after which the caller has given up. */
static void compute(fc_service *s, const fc_request *req, int64_t deadline_ms, fc_call *c)
{
    PGconn *pg = NULL;
    char err[512] = "";
    int64_t t0 = vx_mono_ns();
    vx_status st = vx_pg_acquire(s->pool, &pg);
    if (st != VX_OK) {
        char last[256] = "";
        vx_pg_pool_last_error(s->pool, last, sizeof last);
        pg_fail(s, c, st, "getting a database connection", last);
        return;
    }
    st = fc_store_begin(pg, req->scope.tenant_id, &c->data_version, err, sizeof err);
    if (st != VX_OK) {
        vx_pg_release(s->pool, pg, st == VX_UNAVAILABLE);
        pg_fail(s, c, st, "reading the data version", err);
        return;
    }
    atomic_store(&s->pg_ok, true);

    char key[FC_CACHE_KEY_MAX];
    fc_cache_key(req, c->data_version, key);
    char *cached = NULL;
    size_t cached_len = 0;
    vx_status cst = vx_redis_get(s->redis, key, &cached, &cached_len);
    if (cst == VX_OK && fc_mark_cached(req->kind, req->scope.tenant_id, c->data_version, cached,
                                       cached_len, &c->reply, &c->reply_len) == VX_OK) {
        vx_free(cached);
        fc_store_end(pg);
        vx_pg_release(s->pool, pg, false);
        c->cache = "hit";
        vx_counter_inc(s->m.cache_hits);
        return;
    }
    vx_free(cached);
    if (cst == VX_OK) {
        /* not a reply for this tenant and data version: never served; the fresh reply
         * overwrites it below */
        vx_log(VX_LOG_WARN, "forecast cache: unusable entry ignored",
               VX_STR("tenant_id", req->scope.tenant_id));
        cst = VX_INVALID;
    }
    c->cache = cst == VX_NOT_FOUND ? "miss" : "error";
    vx_counter_inc(cst == VX_NOT_FOUND ? s->m.cache_misses : s->m.cache_errors);

    fc_rollup roll;
    fc_rollup_init(&roll);
    st = fc_store_read(pg, req, &roll, err, sizeof err);
    fc_store_end(pg);
    vx_pg_release(s->pool, pg, st == VX_UNAVAILABLE);
    int64_t t1 = vx_mono_ns();
    c->db_ms = (double)(t1 - t0) / 1e6;
    if (st != VX_OK) {
        pg_fail(s, c, st, "reading the daily rollup", err);
        fc_rollup_cleanup(&roll);
        return;
    }
    if (vx_mono_ms() >= deadline_ms) {
        /* The caller gave up while the rollup was read: nothing is fitted or cached for it. */
        vx_counter_inc(s->m.expired);
        fail(c, FC_OUT_DEADLINE,
             "the caller's deadline passed while the rollup was read; nothing was fitted", NULL);
        fc_rollup_cleanup(&roll);
        return;
    }
    c->records = roll.records;
    c->rows = roll.n_rows;
    vx_counter_add(s->m.records_read, roll.records);
    vx_counter_add(s->m.rows_read, roll.n_rows);
    /* The bound is checked on what the query summed, before anything is fitted. */
    if (roll.records > (uint64_t)s->cfg->max_input) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "the window holds %llu cost records behind its daily rollup; at most %lld "
                 "(narrow the window or the filters)",
                 (unsigned long long)roll.records, (long long)s->cfg->max_input);
        fail(c, FC_OUT_TOO_LARGE, msg, NULL);
        fc_rollup_cleanup(&roll);
        return;
    }
    fc_series ser;
    fc_series_build(&roll, req->scope.from_day, req->scope.to_day, &ser);
    c->parts = ser.n_parts;
    fc_fit_stats stats;
    if (req->kind == FC_KIND_RUN)
        st = fc_forecast_reply(req, &roll, &ser, c->data_version, s->cfg->fit_threads, &c->reply,
                               &c->reply_len, &stats, err, sizeof err);
    else
        st = fc_anomalies_reply(req, &roll, &ser, c->data_version, &c->reply, &c->reply_len, &stats,
                                err, sizeof err);
    fc_series_cleanup(&ser);
    fc_rollup_cleanup(&roll);
    c->model_ms = (double)(vx_mono_ns() - t1) / 1e6;
    for (size_t i = 0; i < stats.fits; i++)
        vx_histogram_observe(s->m.fit, stats.fit_seconds[i]);
    if (st != VX_OK) {
        fail(c, FC_OUT_INTERNAL, "the forecast could not be computed", err);
        return;
    }
    /* Only results are cached, never errors. A failed write costs nothing but the next miss. */
    if (vx_redis_set(s->redis, key, c->reply, c->reply_len, s->cfg->cache_ttl_ms) != VX_OK) {
        c->cache = "error";
        vx_counter_inc(s->m.cache_errors);
    }
}

static void handle(fc_service *s, fc_kind kind, vx_bus_msg *msg)
{
    int64_t t0 = vx_mono_ns();
    vx_gauge_add(s->m.in_flight, 1);
    vx_trace trace, child;
    const char *tp = vx_bus_msg_header(msg, "traceparent");
    if (tp == NULL || !vx_trace_parse(tp, strlen(tp), &trace))
        vx_trace_new(&trace);
    vx_trace_child(&trace, &child);

    fc_call c = {.outcome = FC_OUT_OK, .cache = ""};
    fc_request req;
    char why[256] = "";
    int64_t today = vx_wall_ms() / 1000 / 86400;
    /* Without a deadline header the request has as long as any may have. */
    int64_t left_ms = 0;
    char dwhy[160] = "";
    vx_status dst = vx_deadline_left(vx_bus_msg_header(msg, VX_DEADLINE_AT_HEADER),
                                     vx_bus_msg_header(msg, VX_DEADLINE_MS_HEADER), vx_wall_ms(),
                                     VX_DEADLINE_MS_MAX, &left_ms, dwhy, sizeof dwhy);
    if (fc_request_parse(kind, vx_bus_msg_data(msg), vx_bus_msg_len(msg), today, &req, why,
                         sizeof why) != VX_OK) {
        fail(&c, FC_OUT_INVALID, why, NULL);
    } else if (dst != VX_OK) {
        fail(&c, FC_OUT_INVALID, dwhy, NULL);
    } else if (left_ms <= 0) {
        /* The caller has given up: nothing is read, computed or cached for it. */
        vx_counter_inc(s->m.expired);
        char msg_text[160];
        snprintf(msg_text, sizeof msg_text,
                 "the caller's deadline passed %lld ms before the request was picked up",
                 (long long)-left_ms);
        fail(&c, FC_OUT_DEADLINE, msg_text, NULL);
    } else {
        compute(s, &req, vx_mono_ms() + left_ms, &c);
    }
    if (c.outcome != FC_OUT_OK) {
        vx_free(c.reply);
        c.reply = NULL;
        c.reply = vx_contract_reply_error(fc_reply_descriptor(kind), outcome_codes[c.outcome],
                                          c.message, &c.reply_len);
    }
    char tph[VX_TRACEPARENT_LEN + 1];
    vx_trace_format(&child, tph);
    vx_bus_header h[1] = {{"traceparent", tph}};
    /* counted before the reply leaves, so whoever reads /metrics after the answer sees it */
    double secs = (double)(vx_mono_ns() - t0) / 1e9;
    vx_histogram_observe(s->m.duration[kind], secs);
    vx_counter_inc(s->m.requests[kind][c.outcome]);
    vx_gauge_add(s->m.in_flight, -1);
    vx_status rst = vx_bus_respond(s->bus, msg, c.reply, c.reply_len, h, 1);
    vx_free(c.reply);
    vx_log_level lvl =
        c.outcome == FC_OUT_OK || c.outcome == FC_OUT_INVALID || c.outcome == FC_OUT_TOO_LARGE
            ? VX_LOG_INFO
        : c.outcome == FC_OUT_INTERNAL ? VX_LOG_ERROR
                                       : VX_LOG_WARN;
    vx_log(lvl, "request", VX_STR("trace_id", trace.trace_id),
           VX_STR("tenant_id", req.scope.tenant_id), VX_STR("kind", fc_kind_name(kind)),
           VX_STR("outcome", outcome_name(c.outcome)), VX_INT("records", c.records),
           VX_INT("rows", c.rows), VX_INT("series", c.parts),
           VX_INT("data_version", c.data_version), VX_BOOL("cached", strcmp(c.cache, "hit") == 0),
           VX_STR("cache", c.cache), VX_DBL("ms", secs * 1000), VX_DBL("db_ms", c.db_ms),
           VX_DBL("model_ms", c.model_ms),
           VX_STR("error", c.outcome == FC_OUT_OK ? NULL : c.message),
           VX_STR("detail", c.detail[0] ? c.detail : NULL));
    if (rst != VX_OK)
        vx_log(VX_LOG_WARN, "reply not sent", VX_STR("trace_id", trace.trace_id),
               VX_STR("tenant_id", req.scope.tenant_id), VX_STR("status", vx_status_str(rst)));
    fc_request_cleanup(&req);
}

void fc_handle_run(void *ctx, vx_bus_msg *req)
{
    handle(ctx, FC_KIND_RUN, req);
}

void fc_handle_anomalies(void *ctx, vx_bus_msg *req)
{
    handle(ctx, FC_KIND_ANOMALIES, req);
}
