/* One insight request from decode to reply; see insight.h. */
#include "insight.h"

#include "handlers/answer.h"
#include "handlers/budget_rules.h"
#include "handlers/context.h"
#include "handlers/request.h"
#include "store.h"
#include "valdrix/v1/insight.pb-c.h"
#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/contract.h"
#include "vx/log.h"
#include "vx/trace.h"
#include "vx/uuid.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Kept back from the caller's deadline so that the reply reaches it in time. */
#define DEADLINE_MARGIN_MAX_MS 250
/* A failure this close to the deadline is the deadline's doing. */
#define DEADLINE_SLACK_MS 20
/* A forecast call is not worth starting with less time than this left. */
#define FORECAST_MIN_MS 50

#define NOTE_FORECAST_LATE "the forecast service did not answer in time"

static const char *const outcome_names[LLM_OUT_COUNT] = {
    "ok", "cached", "invalid", "budget", "unavailable", "deadline", "internal"};

void llm_metrics_register(llm_metrics *m, vx_metrics *reg)
{
    for (int i = 0; i < LLM_OUT_COUNT; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "outcome=\"%s\"", outcome_names[i]);
        m->requests[i] = vx_metrics_counter(reg, "valdrix_llm_requests_total",
                                            "Insight requests by outcome", labels);
    }
    m->cache_hits = vx_metrics_counter(reg, "valdrix_llm_cache_hits_total",
                                       "Insights served from the cache", NULL);
    m->cache_misses = vx_metrics_counter(reg, "valdrix_llm_cache_misses_total",
                                         "Insight cache lookups that found nothing", NULL);
    m->cache_errors = vx_metrics_counter(reg, "valdrix_llm_cache_errors_total",
                                         "Insight cache lookups or stores that failed", NULL);
    static const char *const fc[3] = {"ok", "timeout", "error"};
    for (int i = 0; i < 3; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "outcome=\"%s\"", fc[i]);
        m->forecast_calls[i] = vx_metrics_counter(
            reg, "valdrix_llm_forecast_calls_total",
            "Requests to the forecast service for an insight, by outcome", labels);
    }
    m->requests_expired = vx_metrics_counter(
        reg, "valdrix_llm_requests_expired_total",
        "Requests dropped unworked because the caller's deadline had passed when picked up", NULL);
    m->request_seconds = vx_metrics_histogram(
        reg, "valdrix_llm_request_duration_seconds", "Insight requests, receipt to reply", NULL,
        vx_metrics_latency_bounds, vx_metrics_latency_bounds_len);
    m->budget.denials = vx_metrics_counter(reg, "valdrix_llm_budget_denials_total",
                                           "Provider calls the tenant's budget refused", NULL);
    m->budget.errors = vx_metrics_counter(
        reg, "valdrix_llm_budget_errors_total",
        "Provider calls not made because the budget could not be checked (fail closed)", NULL);
    m->budget.seeds =
        vx_metrics_counter(reg, "valdrix_llm_budget_seeds_total",
                           "Monthly budget totals loaded from the usage ledger", NULL);
    m->budget.ledger_errors =
        vx_metrics_counter(reg, "valdrix_llm_ledger_errors_total",
                           "Usage ledger rows that could not be written", NULL);
    m->budget.settle_errors = vx_metrics_counter(
        reg, "valdrix_llm_budget_settle_errors_total",
        "Settles and releases Redis did not take (the reservation then expires)", NULL);
    m->budget.settled_unknown = vx_metrics_counter(
        reg, "valdrix_llm_settled_unknown_total",
        "Provider calls sent but unanswered (timeout, dropped connection), charged at the reserved "
        "maximum because the outcome is unknown",
        NULL);
}

/* One request in progress. */
typedef struct {
    llm_svc *s;
    vx_bus_msg *msg;
    int64_t t0_ms, deadline_ms;
    vx_trace trace;
    char request_id[37];
    llm_req req;
    bool have_req;
    llm_answer answer;
    bool answered;
    llm_outcome outcome;
    Valdrix__V1__Error__Code code; /* of the Error reply */
    char message[1024];
    int64_t context_ms, router_ms; /* time spent building the context, and in the router */
} job;

static void fail(job *j, llm_outcome outcome, Valdrix__V1__Error__Code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(job *j, llm_outcome outcome, Valdrix__V1__Error__Code code, const char *fmt, ...)
{
    j->outcome = outcome;
    j->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->message, sizeof j->message, fmt, ap);
    va_end(ap);
}

/* The request's deadline on the monotonic clock, kept back from what the caller allows so that
 * the reply reaches it in time; *left_ms is what the caller allows from now (<= 0: past). */
static vx_status deadline_of(const llm_svc *s, vx_bus_msg *msg, int64_t t0, int64_t *deadline,
                             int64_t *left_ms, char *why, size_t why_cap)
{
    int64_t ms = 0;
    vx_status st = vx_deadline_left(vx_bus_msg_header(msg, VX_DEADLINE_AT_HEADER),
                                    vx_bus_msg_header(msg, VX_DEADLINE_MS_HEADER), vx_wall_ms(),
                                    s->cfg->default_deadline_ms, &ms, why, why_cap);
    if (st != VX_OK)
        return st;
    int64_t margin = ms / 10 < DEADLINE_MARGIN_MAX_MS ? ms / 10 : DEADLINE_MARGIN_MAX_MS;
    if (margin < 0)
        margin = 0;
    *left_ms = ms;
    *deadline = t0 + ms - margin;
    return VX_OK;
}

static void pg_status(llm_svc *s, vx_status st)
{
    atomic_store(&s->pg_ok, st == VX_OK || st == VX_NOT_FOUND || st == VX_INVALID);
}

/* ---- cache ---- */

static bool cache_on(const llm_svc *s)
{
    return s->redis != NULL && s->cfg->cache_ttl_ms > 0;
}

static bool cache_get(job *j, const char *key)
{
    llm_svc *s = j->s;
    char *val = NULL;
    size_t len = 0;
    vx_status st = vx_redis_get(s->redis, key, &val, &len);
    if (st == VX_NOT_FOUND) {
        vx_counter_inc(s->m.cache_misses);
        return false;
    }
    if (st != VX_OK) {
        vx_counter_inc(s->m.cache_errors);
        return false;
    }
    llm_answer a;
    st = llm_answer_unpack((const uint8_t *)val, len, &a);
    vx_free(val);
    if (st != VX_OK || strcmp(a.tenant_id, j->req.scope.tenant_id) != 0 ||
        strcmp(a.from, j->req.scope.from) != 0 || strcmp(a.to, j->req.scope.to) != 0 ||
        a.kind != j->req.kind) {
        if (st == VX_OK)
            llm_answer_cleanup(&a);
        vx_log(VX_LOG_WARN, "llm cache: unusable entry dropped",
               VX_STR("tenant_id", j->req.scope.tenant_id));
        /* Best effort: the fresh answer overwrites the entry anyway, or it expires. */
        vx_status_ignore(vx_redis_del(s->redis, key));
        vx_counter_inc(s->m.cache_errors);
        return false;
    }
    vx_counter_inc(s->m.cache_hits);
    a.cached = true;
    a.input_tokens = 0;
    a.output_tokens = 0;
    a.cost_micro_usd = 0;
    j->answer = a;
    j->answered = true;
    j->outcome = LLM_OUT_CACHED;
    return true;
}

static void cache_put(job *j, const char *key)
{
    size_t len;
    uint8_t *val = llm_answer_pack(&j->answer, &len);
    vx_status st = vx_redis_set(j->s->redis, key, val, len, j->s->cfg->cache_ttl_ms);
    vx_free(val);
    if (st != VX_OK)
        vx_counter_inc(j->s->m.cache_errors);
}

/* ---- the forecast service ---- */

static void ask_forecast(job *j, llm_context *c, bool *degraded)
{
    llm_svc *s = j->s;
    if (j->req.kind == VX_LLM_KIND_SUMMARY || s->cfg->forecast_timeout_ms == 0)
        return;
    bool anomaly = j->req.kind == VX_LLM_KIND_ANOMALY;
    int64_t left = j->deadline_ms - vx_mono_ms();
    int64_t timeout = s->cfg->forecast_timeout_ms < left ? s->cfg->forecast_timeout_ms : left;
    if (timeout < FORECAST_MIN_MS) {
        llm_context_note(c, NOTE_FORECAST_LATE);
        vx_counter_inc(s->m.forecast_calls[1]);
        *degraded = true;
        return;
    }
    char subject[300];
    snprintf(subject, sizeof subject, "%s.%s", s->cfg->forecast_subject,
             anomaly ? "anomalies" : "run");
    size_t len;
    uint8_t *body = anomaly ? llm_anomalies_request_pack(&j->req, c->currency, &len)
                            : llm_forecast_request_pack(&j->req, c->currency, &len);
    vx_trace child;
    vx_trace_child(&j->trace, &child);
    char traceparent[VX_TRACEPARENT_LEN + 1], deadline[24], deadline_at[VX_DEADLINE_TEXT_MAX];
    vx_trace_format(&child, traceparent);
    snprintf(deadline, sizeof deadline, "%lld", (long long)timeout);
    vx_deadline_format(vx_wall_ms() + timeout, deadline_at);
    vx_bus_header h[] = {{"traceparent", traceparent},
                         {VX_DEADLINE_AT_HEADER, deadline_at},
                         {VX_DEADLINE_MS_HEADER, deadline}};
    void *reply = NULL;
    size_t reply_len = 0;
    vx_status st = vx_bus_request(s->bus, subject, body, len, h, 3, timeout, &reply, &reply_len);
    vx_free(body);
    if (st != VX_OK) {
        vx_log(VX_LOG_WARN, "forecast service did not answer", VX_STR("subject", subject),
               VX_STR("status", vx_status_str(st)), VX_INT("timeout_ms", timeout),
               VX_STR("tenant_id", j->req.scope.tenant_id), VX_STR("trace_id", j->trace.trace_id));
        llm_context_note(c, NOTE_FORECAST_LATE);
        vx_counter_inc(s->m.forecast_calls[1]);
        *degraded = true;
        return;
    }
    char why[256] = "";
    bool ok = anomaly ? llm_context_add_anomalies(c, reply, reply_len, why, sizeof why)
                      : llm_context_add_forecast(c, reply, reply_len, why, sizeof why);
    vx_free(reply);
    if (ok) {
        vx_counter_inc(s->m.forecast_calls[0]);
        return;
    }
    vx_log(VX_LOG_WARN, "forecast service answered with an error", VX_STR("subject", subject),
           VX_STR("error", why), VX_STR("tenant_id", j->req.scope.tenant_id),
           VX_STR("trace_id", j->trace.trace_id));
    char note[400];
    snprintf(note, sizeof note, "the forecast service could not %s this window: %s",
             anomaly ? "scan for anomalies in" : "forecast from", why);
    llm_context_note(c, note);
    vx_counter_inc(s->m.forecast_calls[2]);
    *degraded = true;
}

/* ---- the answer ---- */

static void run(job *j)
{
    llm_svc *s = j->s;
    char err[1024] = "";
    const llm_req *req = &j->req;

    /* One transaction reads the tenant and, unless the cache answers, its spend. */
    llm_store_tx *tx = NULL;
    llm_tenant_info tenant;
    vx_status st = llm_store_open(s->pool, req->scope.tenant_id, &tx, err, sizeof err);
    if (st == VX_OK)
        st = llm_store_tenant(tx, &tenant, err, sizeof err);
    pg_status(s, st);
    if (st == VX_NOT_FOUND) {
        llm_store_close(tx);
        fail(j, LLM_OUT_INVALID, VALDRIX__V1__ERROR__CODE__CODE_INVALID, "unknown tenant %s",
             req->scope.tenant_id);
        return;
    }
    if (st != VX_OK) {
        llm_store_close(tx);
        vx_log(VX_LOG_ERROR, "cannot read the tenant", VX_STR("tenant_id", req->scope.tenant_id),
               VX_STR("status", vx_status_str(st)), VX_STR("error", err));
        fail(j, LLM_OUT_UNAVAILABLE, VALDRIX__V1__ERROR__CODE__CODE_UNAVAILABLE,
             "the database is unavailable");
        return;
    }

    char key[256] = "";
    bool use_cache = cache_on(s) && llm_cache_key(req, tenant.data_version, VX_LLM_PROMPT_VERSION,
                                                  key, sizeof key);
    if (use_cache && cache_get(j, key)) {
        llm_store_close(tx);
        return;
    }

    int64_t t_context = vx_mono_ms();
    llm_rows rows = {0}, focus = {0};
    st = llm_store_rows(tx, req, &rows, &focus, err, sizeof err);
    llm_store_close(tx);
    pg_status(s, st);
    if (st != VX_OK) {
        llm_rows_cleanup(&rows);
        llm_rows_cleanup(&focus);
        vx_log(VX_LOG_ERROR, "cannot read the rollup", VX_STR("tenant_id", req->scope.tenant_id),
               VX_STR("status", vx_status_str(st)), VX_STR("error", err));
        if (st == VX_TIMEOUT)
            fail(j, LLM_OUT_DEADLINE, VALDRIX__V1__ERROR__CODE__CODE_DEADLINE,
                 "reading the spend took too long");
        else
            fail(j, LLM_OUT_UNAVAILABLE, VALDRIX__V1__ERROR__CODE__CODE_UNAVAILABLE,
                 "the database is unavailable");
        return;
    }
    llm_context c;
    st = llm_context_build(&c, req, &rows, &focus, err, sizeof err);
    if (st != VX_OK) {
        llm_context_cleanup(&c);
        fail(j, LLM_OUT_INTERNAL, VALDRIX__V1__ERROR__CODE__CODE_INTERNAL, "%s", err);
        return;
    }
    bool degraded = false;
    ask_forecast(j, &c, &degraded);
    j->context_ms = vx_mono_ms() - t_context;

    uint64_t limit = 0;
    bool has_limit = llm_budget_limit(tenant.has_budget ? tenant.budget_usd : NULL, tenant.plan,
                                      s->cfg->default_budget_micro, &limit) == VX_OK;
    llm_budget_req br = {.budget = s->budget,
                         .tenant_id = req->scope.tenant_id,
                         .request_id = j->request_id,
                         .trace_id = j->trace.trace_id,
                         .limit_micro = limit};
    vx_llm_budget hooks = llm_budget_hooks(&br);
    vx_llm_request lr = {.context = &c.ctx,
                         .budget = has_limit && s->budget ? &hooks : NULL,
                         .deadline_ms = j->deadline_ms,
                         .tenant_id = req->scope.tenant_id,
                         .trace_id = j->trace.trace_id};
    vx_llm_result res;
    memset(&res, 0, sizeof res);
    err[0] = '\0';
    int64_t t_router = vx_mono_ms();
    st = vx_llm_router_run(s->router, &lr, &res, err, sizeof err);
    j->router_ms = vx_mono_ms() - t_router;
    if (st != VX_OK) {
        if (st == VX_LIMIT) {
            char msg[512];
            llm_budget_message(br.limit_micro, br.spent_micro, br.reserved_micro, br.need_micro,
                               msg, sizeof msg);
            fail(j, LLM_OUT_BUDGET, VALDRIX__V1__ERROR__CODE__CODE_BUDGET, "%s", msg);
        } else if (st == VX_TIMEOUT || vx_mono_ms() >= j->deadline_ms - DEADLINE_SLACK_MS) {
            /* the router says VX_UNAVAILABLE when a call it cut to the deadline timed out */
            fail(j, LLM_OUT_DEADLINE, VALDRIX__V1__ERROR__CODE__CODE_DEADLINE,
                 "no provider answered in time: %s", err);
        } else if (st == VX_INVALID) {
            fail(j, LLM_OUT_INTERNAL, VALDRIX__V1__ERROR__CODE__CODE_INTERNAL,
                 "the insight context was refused: %s", err);
        } else if (br.unavailable) {
            fail(j, LLM_OUT_UNAVAILABLE, VALDRIX__V1__ERROR__CODE__CODE_UNAVAILABLE,
                 "LLM spending is paused because %s, and no local provider is configured (%s)",
                 br.unavailable_why, err);
        } else {
            fail(j, LLM_OUT_UNAVAILABLE, VALDRIX__V1__ERROR__CODE__CODE_UNAVAILABLE, "%s", err);
        }
        llm_context_cleanup(&c);
        return;
    }

    llm_answer *a = &j->answer;
    memset(a, 0, sizeof *a);
    memcpy(a->tenant_id, req->scope.tenant_id, sizeof a->tenant_id);
    memcpy(a->from, req->scope.from, sizeof a->from);
    memcpy(a->to, req->scope.to, sizeof a->to);
    a->kind = req->kind;
    memcpy(a->currency, c.currency, sizeof a->currency);
    a->insight = res.insight;
    memset(&res.insight, 0, sizeof res.insight);
    snprintf(a->provider, sizeof a->provider, "%s", res.provider);
    snprintf(a->model, sizeof a->model, "%s", res.model);
    a->data_version = tenant.data_version;
    snprintf(a->prompt_version, sizeof a->prompt_version, "%s", VX_LLM_PROMPT_VERSION);
    a->input_tokens = res.input_tokens;
    a->output_tokens = res.output_tokens;
    a->cost_micro_usd = res.cost_micro_usd;
    for (size_t i = 0; i < c.n_notes; i++)
        llm_answer_note(a, c.notes[i]);
    bool by_local = strcmp(res.provider, "local") == 0;
    if (by_local && br.denied) {
        char lim[32];
        llm_micro_format(br.limit_micro, lim, sizeof lim);
        char note[256];
        snprintf(note, sizeof note,
                 "the monthly LLM budget of %s USD is used up; this insight was written from the "
                 "numbers alone",
                 lim);
        llm_answer_note(a, note);
        degraded = true;
    } else if (by_local && br.unavailable) {
        llm_answer_note(a, "LLM spending is paused while the budget store is unreachable; this "
                           "insight was written from the numbers alone");
        degraded = true;
    } else if (by_local && !s->local_first) {
        degraded = true; /* the paid providers failed: ask them again next time */
    }
    vx_llm_result_cleanup(&res);
    llm_context_cleanup(&c);
    j->answered = true;
    j->outcome = LLM_OUT_OK;
    if (use_cache && !degraded)
        cache_put(j, key);
}

void llm_insight_handle(void *ctx, vx_bus_msg *msg)
{
    llm_svc *s = ctx;
    job j;
    memset(&j, 0, sizeof j);
    j.s = s;
    j.msg = msg;
    j.t0_ms = vx_mono_ms();
    int64_t left_ms = 0;
    char deadline_why[160] = "";
    vx_status dst =
        deadline_of(s, msg, j.t0_ms, &j.deadline_ms, &left_ms, deadline_why, sizeof deadline_why);
    const char *tp = vx_bus_msg_header(msg, "traceparent");
    if (tp == NULL || !vx_trace_parse(tp, strlen(tp), &j.trace))
        vx_trace_new(&j.trace);
    vx_uuid u;
    vx_uuid_v4(&u);
    vx_uuid_format(&u, j.request_id);

    int64_t today = vx_wall_ms() / 86400000;
    char err[512] = "";
    if (llm_req_decode(vx_bus_msg_data(msg), vx_bus_msg_len(msg), today, &j.req, err, sizeof err) !=
        VX_OK)
        fail(&j, LLM_OUT_INVALID, VALDRIX__V1__ERROR__CODE__CODE_INVALID, "%s", err);
    else
        j.have_req = true;
    if (j.have_req && dst != VX_OK) {
        fail(&j, LLM_OUT_INVALID, VALDRIX__V1__ERROR__CODE__CODE_INVALID, "%s", deadline_why);
    } else if (j.have_req && left_ms <= 0) {
        /* The caller has given up: no database read, no budget, no provider. */
        vx_counter_inc(s->m.requests_expired);
        fail(&j, LLM_OUT_DEADLINE, VALDRIX__V1__ERROR__CODE__CODE_DEADLINE,
             "the caller's deadline passed %lld ms before the request was picked up",
             (long long)-left_ms);
    } else if (j.have_req) {
        run(&j);
    }

    size_t len = 0;
    uint8_t *reply = j.answered ? llm_reply_result(&j.answer, &len)
                                : vx_contract_reply_error(&valdrix__v1__insight_reply__descriptor,
                                                          j.code, j.message, &len);
    /* counted before the reply leaves, so whoever reads /metrics after the answer sees it */
    int64_t ms = vx_mono_ms() - j.t0_ms;
    vx_counter_inc(s->m.requests[j.outcome]);
    vx_histogram_observe(s->m.request_seconds, (double)ms / 1000.0);
    vx_status st = vx_bus_respond(s->bus, msg, reply, len, NULL, 0);
    vx_free(reply);
    vx_log(j.answered || j.outcome == LLM_OUT_INVALID || j.outcome == LLM_OUT_BUDGET ? VX_LOG_INFO
                                                                                     : VX_LOG_WARN,
           "insight", VX_STR("tenant_id", j.have_req ? j.req.scope.tenant_id : NULL),
           VX_STR("trace_id", j.trace.trace_id), VX_STR("request_id", j.request_id),
           VX_STR("kind", j.have_req ? vx_llm_kind_str(j.req.kind) : NULL),
           VX_STR("from", j.have_req ? j.req.scope.from : NULL),
           VX_STR("to", j.have_req ? j.req.scope.to : NULL),
           VX_STR("provider", j.answered ? j.answer.provider : NULL),
           VX_BOOL("cached", j.answered && j.answer.cached),
           VX_STR("outcome", outcome_names[j.outcome]), VX_INT("ms", ms),
           VX_INT("context_ms", j.context_ms), VX_INT("router_ms", j.router_ms),
           VX_INT("input_tokens", j.answered ? j.answer.input_tokens : 0),
           VX_INT("output_tokens", j.answered ? j.answer.output_tokens : 0),
           VX_INT("cost_micro_usd", j.answered ? j.answer.cost_micro_usd : 0),
           VX_STR("error", j.answered ? NULL : j.message),
           VX_STR("reply", st == VX_OK ? "sent" : vx_status_str(st)));
    llm_answer_cleanup(&j.answer);
    llm_req_cleanup(&j.req);
}
