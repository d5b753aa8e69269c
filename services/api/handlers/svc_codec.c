/* JSON <-> protobuf for the forecast and llm services; see svc_codec.h. */
#include "svc_codec.h"

#include "valdrix/v1/forecast.pb-c.h"
#include "valdrix/v1/insight.pb-c.h"
#include "vx/alloc.h"
#include "vx/contract.h"
#include "vx/money.h"
#include "vx/pb.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the scope: filters, window, currency, cost kind ---- */

typedef struct {
    const char *values[API_SVC_MAX_LIST];
    size_t n;
} str_list;

typedef struct {
    const char *from, *to, *currency, *cost;
    str_list filter[API_FILTER_COUNT]; /* service, region, account, provider */
} scope_in;

static const char *const filter_keys[API_FILTER_COUNT] = {"service", "region", "account",
                                                          "provider"};

/* A filter or name value: 1 to API_MAX_FILTER_BYTES of text (vx/contract.h's check). */
static bool text_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= API_MAX_FILTER_BYTES && vx_contract_text_ok(s);
}

static vx_status check_date(const char *key, const char *v, api_refusal *why)
{
    int64_t day;
    if (!vx_contract_day_parse(v, strlen(v), &day))
        return api_refuse(why, key, "%s must be a date, YYYY-MM-DD", key);
    return VX_OK;
}

static vx_status check_currency(const char *v, api_refusal *why)
{
    char code[4];
    if (!vx_contract_currency_parse(v, false, code))
        return api_refuse(why, "currency", "currency must be an ISO 4217 code such as USD");
    return VX_OK;
}

static vx_status check_cost(const char *v, api_refusal *why)
{
    vx_contract_cost c;
    if (!vx_contract_cost_parse(v, &c))
        return api_refuse(why, "cost", "cost must be effective, billed or list");
    return VX_OK;
}

/* The edge's filters (query.h's order) as the CostScope's. */
static const vx_contract_filter scope_filters[API_FILTER_COUNT] = {
    [API_FILTER_SERVICE] = VX_CONTRACT_FILTER_SERVICE,
    [API_FILTER_REGION] = VX_CONTRACT_FILTER_REGION,
    [API_FILTER_ACCOUNT] = VX_CONTRACT_FILTER_ACCOUNT,
    [API_FILTER_PROVIDER] = VX_CONTRACT_FILTER_PROVIDER,
};

static void scope_fill(const scope_in *in, const char *tenant, Valdrix__V1__CostScope *s)
{
    vx_contract_scope_view v = {.tenant_id = tenant,
                                .from = in->from,
                                .to = in->to,
                                .currency = in->currency,
                                .cost = in->cost};
    for (int f = 0; f < API_FILTER_COUNT; f++) {
        v.filter[scope_filters[f]] = in->filter[f].values;
        v.n_filter[scope_filters[f]] = in->filter[f].n;
    }
    vx_contract_scope_view_fill(&v, s);
}

/* ---- JSON bodies ---- */

static vx_status json_text(json_t *v, const char *key, const char **out, api_refusal *why)
{
    if (!json_is_string(v))
        return api_refuse(why, key, "%s must be a string", key);
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v) || !text_ok(s))
        return api_refuse(why, key, "%s must be 1 to %d printable bytes", key,
                          API_MAX_FILTER_BYTES);
    *out = s;
    return VX_OK;
}

static vx_status json_list(json_t *v, const char *key, str_list *out, api_refusal *why)
{
    if (json_is_string(v)) {
        out->n = 1;
        return json_text(v, key, &out->values[0], why);
    }
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > API_SVC_MAX_LIST)
        return api_refuse(why, key, "%s must be a string or an array of 1 to %d strings", key,
                          API_SVC_MAX_LIST);
    out->n = json_array_size(v);
    for (size_t i = 0; i < out->n; i++)
        if (json_text(json_array_get(v, i), key, &out->values[i], why) != VX_OK)
            return VX_INVALID;
    return VX_OK;
}

/* A key of the scope; *handled false if `key` is not one. */
static vx_status json_scope_key(const char *key, json_t *v, scope_in *in, bool *handled,
                                api_refusal *why)
{
    *handled = true;
    for (int f = 0; f < API_FILTER_COUNT; f++)
        if (strcmp(key, filter_keys[f]) == 0)
            return json_list(v, key, &in->filter[f], why);
    vx_status st;
    if (strcmp(key, "from") == 0 || strcmp(key, "to") == 0) {
        const char **dst = key[0] == 'f' ? &in->from : &in->to;
        if ((st = json_text(v, key, dst, why)) != VX_OK)
            return st;
        return check_date(key, *dst, why);
    }
    if (strcmp(key, "currency") == 0) {
        if ((st = json_text(v, key, &in->currency, why)) != VX_OK)
            return st;
        return check_currency(in->currency, why);
    }
    if (strcmp(key, "cost") == 0) {
        if ((st = json_text(v, key, &in->cost, why)) != VX_OK)
            return st;
        return check_cost(in->cost, why);
    }
    *handled = false;
    return VX_OK;
}

static vx_status json_uint(json_t *v, const char *key, uint32_t max, uint32_t *out,
                           api_refusal *why)
{
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max)
        return api_refuse(why, key, "%s must be an integer from 1 to %u", key, max);
    *out = (uint32_t)json_integer_value(v);
    return VX_OK;
}

static vx_status json_open(const char *body, size_t len, json_t **root, api_refusal *why)
{
    *root = NULL;
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i == len)
        return VX_OK; /* no body: every default */
    json_error_t e;
    *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    if (*root == NULL)
        return api_refuse(why, "body", "not JSON: %s (line %d, column %d)", e.text, e.line,
                          e.column);
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return api_refuse(why, "body", "the body must be a JSON object");
    }
    return VX_OK;
}

static vx_status pack(const ProtobufCMessage *m, uint8_t **out, size_t *out_len)
{
    *out_len = protobuf_c_message_get_packed_size(m);
    *out = vx_xmalloc(*out_len ? *out_len : 1);
    protobuf_c_message_pack(m, *out);
    return VX_OK;
}

vx_status api_forecast_request_encode(const char *body, size_t len, const char *tenant,
                                      uint8_t **out, size_t *out_len, api_refusal *why)
{
    json_t *root;
    if (json_open(body, len, &root, why) != VX_OK)
        return VX_INVALID;
    scope_in in = {0};
    Valdrix__V1__ForecastRequest r = VALDRIX__V1__FORECAST_REQUEST__INIT;
    vx_status st = VX_OK;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        bool handled;
        if ((st = json_scope_key(key, v, &in, &handled, why)) != VX_OK)
            goto done;
        if (handled)
            continue;
        if (strcmp(key, "horizon_days") == 0) {
            st = json_uint(v, key, 366, &r.horizon_days, why);
        } else if (strcmp(key, "top_services") == 0) {
            st = json_uint(v, key, 20, &r.top_services, why);
        } else if (strcmp(key, "level") == 0) {
            if (!json_is_number(v) || !(json_number_value(v) > 0 && json_number_value(v) < 1))
                st = api_refuse(why, key, "level must be a number between 0 and 1, e.g. 0.8");
            else
                r.level = json_number_value(v);
        } else {
            st = api_refuse(why, key[0] ? key : "\"\"", "unknown field \"%s\"", key);
        }
        if (st != VX_OK)
            goto done;
    }
    Valdrix__V1__CostScope scope;
    scope_fill(&in, tenant, &scope);
    r.scope = &scope;
    st = pack(&r.base, out, out_len);
done:
    json_decref(root);
    return st;
}

vx_status api_insight_request_encode(const char *body, size_t len, const char *tenant,
                                     uint8_t **out, size_t *out_len, api_refusal *why)
{
    json_t *root;
    if (json_open(body, len, &root, why) != VX_OK)
        return VX_INVALID;
    scope_in in = {0};
    Valdrix__V1__InsightRequest r;
    valdrix__v1__insight_request__init(&r);
    vx_status st = VX_OK;
    const char *key, *s;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        bool handled;
        if ((st = json_scope_key(key, v, &in, &handled, why)) != VX_OK)
            goto done;
        if (handled)
            continue;
        if (strcmp(key, "kind") == 0) {
            if ((st = json_text(v, key, &s, why)) != VX_OK)
                goto done;
            if (strcmp(s, "summary") == 0)
                r.kind = VALDRIX__V1__INSIGHT_REQUEST__KIND__KIND_SUMMARY;
            else if (strcmp(s, "anomaly") == 0)
                r.kind = VALDRIX__V1__INSIGHT_REQUEST__KIND__KIND_ANOMALY;
            else if (strcmp(s, "forecast") == 0)
                r.kind = VALDRIX__V1__INSIGHT_REQUEST__KIND__KIND_FORECAST;
            else
                st = api_refuse(why, key, "kind must be summary, anomaly or forecast");
        } else if (strcmp(key, "focus_service") == 0) {
            st = json_text(v, key, &s, why);
            r.focus_service = vx_pb_str(s);
        } else if (strcmp(key, "focus_account") == 0) {
            st = json_text(v, key, &s, why);
            r.focus_account = vx_pb_str(s);
        } else {
            st = api_refuse(why, key[0] ? key : "\"\"", "unknown field \"%s\"", key);
        }
        if (st != VX_OK)
            goto done;
    }
    Valdrix__V1__CostScope scope;
    scope_fill(&in, tenant, &scope);
    r.scope = &scope;
    st = pack(&r.base, out, out_len);
done:
    json_decref(root);
    return st;
}

/* ---- query parameters ---- */

static vx_status param_number(api_param_fn get, void *ctx, const char *key, double lo, double hi,
                              double *out, api_refusal *why)
{
    const char *v = get(ctx, key);
    if (v == NULL)
        return VX_OK;
    char *end;
    double d = strtod(v, &end);
    if (*v == '\0' || *end != '\0' || !(d >= lo && d <= hi))
        return api_refuse(why, key, "%s must be a number from %g to %g", key, lo, hi);
    *out = d;
    return VX_OK;
}

vx_status api_anomalies_request_encode(api_param_fn get, void *ctx, const char *tenant,
                                       uint8_t **out, size_t *out_len, api_refusal *why)
{
    scope_in in = {0};
    for (int f = 0; f < API_FILTER_COUNT; f++) {
        const char *v = get(ctx, filter_keys[f]);
        if (v == NULL)
            continue;
        if (!text_ok(v))
            return api_refuse(why, filter_keys[f], "%s must be 1 to %d printable bytes",
                              filter_keys[f], API_MAX_FILTER_BYTES);
        in.filter[f].values[0] = v;
        in.filter[f].n = 1;
    }
    in.from = get(ctx, "from");
    in.to = get(ctx, "to");
    in.currency = get(ctx, "currency");
    in.cost = get(ctx, "cost");
    if ((in.from && check_date("from", in.from, why) != VX_OK) ||
        (in.to && check_date("to", in.to, why) != VX_OK) ||
        (in.currency && check_currency(in.currency, why) != VX_OK) ||
        (in.cost && check_cost(in.cost, why) != VX_OK))
        return VX_INVALID;
    Valdrix__V1__AnomaliesRequest r = VALDRIX__V1__ANOMALIES_REQUEST__INIT;
    double top = 0;
    if (param_number(get, ctx, "min_abs", 0, 1e12, &r.min_abs, why) != VX_OK ||
        param_number(get, ctx, "min_rel", 0, 100, &r.min_rel, why) != VX_OK ||
        param_number(get, ctx, "top_services", 1, 20, &top, why) != VX_OK)
        return VX_INVALID;
    if (top != floor(top))
        return api_refuse(why, "top_services", "top_services must be an integer from 1 to 20");
    r.top_services = (uint32_t)top;
    Valdrix__V1__CostScope scope;
    scope_fill(&in, tenant, &scope);
    r.scope = &scope;
    return pack(&r.base, out, out_len);
}

/* ---- replies ---- */

static void answer_problem(api_svc_answer *a, int status, const char *type, const char *title,
                           const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void answer_problem(api_svc_answer *a, int status, const char *type, const char *title,
                           const char *fmt, ...)
{
    a->status = status;
    a->json = NULL;
    a->problem_type = type;
    a->problem_title = title;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->detail, sizeof a->detail, fmt, ap);
    va_end(ap);
}

/* The problem for an Error reply, by vx/contract.h's table; the failures of a service name it. */
static void answer_error(api_svc_answer *a, const char *service, const Valdrix__V1__Error *e)
{
    const char *msg = e->message && e->message[0] ? e->message : "(no message)";
    const vx_contract_error_info *info = vx_contract_error_of_code(e->code);
    int status = info->http_status;
    if (status == 500)
        answer_problem(a, status, info->problem_type, info->problem_title,
                       "the %s service failed: %s", service, msg);
    else if (status >= 500)
        answer_problem(a, status, info->problem_type, info->problem_title, "the %s service: %s",
                       service, msg);
    else
        answer_problem(a, status, info->problem_type, info->problem_title, "%s", msg);
}

/* A double as JSON: null unless finite. */
static json_t *num(double d)
{
    return isfinite(d) ? json_real(d) : json_null();
}

static json_t *str(const char *s)
{
    /* protobuf-c guarantees NUL-terminated strings but not UTF-8 validity; jansson refuses
     * invalid UTF-8 (NULL), so replace such a value rather than fail the answer */
    json_t *j = json_string(s ? s : "");
    return j ? j : json_string("\xef\xbf\xbd");
}

static json_t *str_array(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, str(v[i]));
    return a;
}

static void answer_json(api_svc_answer *a, json_t *root)
{
    a->status = 200;
    a->json = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(root);
    if (a->json == NULL) {
        answer_problem(a, 500, "internal", "Internal error", "could not render the reply");
        return;
    }
    /* jansson's memory to ours, so that callers free with vx_free */
    char *copy = vx_xstrdup(a->json);
    free(a->json);
    a->json = copy;
}

static json_t *series_json(const Valdrix__V1__SeriesForecast *s, bool total)
{
    json_t *o = json_object();
    if (!total)
        json_object_set_new(o, "service", str(s->service_name));
    json_object_set_new(o, "model", str(s->model));
    json_object_set_new(o, "backtest_mase", num(s->backtest_mase));
    json_object_set_new(o, "fallback", json_boolean(s->fallback));
    json_object_set_new(o, "note", str(s->note));
    json_object_set_new(o, "history_total", num(s->history_total));
    json_t *pts = json_array();
    for (size_t i = 0; i < s->n_points; i++) {
        const Valdrix__V1__ForecastPoint *p = s->points[i];
        json_t *po = json_object();
        json_object_set_new(po, "date", str(p->date));
        json_object_set_new(po, "yhat", num(p->yhat));
        json_object_set_new(po, "lo", num(p->lo));
        json_object_set_new(po, "hi", num(p->hi));
        json_array_append_new(pts, po);
    }
    json_object_set_new(o, "points", pts);
    return o;
}

/* The fields every result starts with. */
static json_t *result_head(const char *tenant, const char *from, const char *to,
                           const char *currency, const char *cost)
{
    json_t *o = json_object();
    json_object_set_new(o, "tenant_id", str(tenant));
    json_object_set_new(o, "from", str(from));
    json_object_set_new(o, "to", str(to));
    json_object_set_new(o, "currency", str(currency));
    if (cost)
        json_object_set_new(o, "cost", str(cost));
    return o;
}

/* What a result was computed from. */
static void result_basis(json_t *o, uint64_t records, uint64_t data_version, bool cached)
{
    if (records != UINT64_MAX)
        json_object_set_new(o, "records", json_integer((json_int_t)records));
    json_object_set_new(o, "data_version", json_integer((json_int_t)data_version));
    json_object_set_new(o, "cached", json_boolean(cached));
}

static void bad_reply(api_svc_answer *a, const char *service, const char *what)
{
    answer_problem(a, 502, "bad-reply", "Bad reply", "the %s service sent %s", service, what);
}

/* Whether a result names the caller's tenant; otherwise `a` is the 502 that replaces it. */
static bool own_tenant(api_svc_answer *a, const char *service, const char *got, const char *want)
{
    if (got && want && strcmp(got, want) == 0)
        return true;
    a->wrong_tenant = true;
    snprintf(a->reply_tenant, sizeof a->reply_tenant, "%s", got ? got : "");
    bad_reply(a, service, "a result for another tenant");
    return false;
}

/* Unpacks a reply of `desc` from `service`: true with *r holding a result, or false with the
 * answer (the service's Error, or a bad reply) already in `a`. */
static bool open_reply(const ProtobufCMessageDescriptor *desc, const char *service,
                       const uint8_t *data, size_t len, vx_contract_reply *r, api_svc_answer *a)
{
    a->wrong_tenant = false;
    a->reply_tenant[0] = '\0';
    char why[128];
    if (vx_contract_reply_unpack(desc, data, len, r, why, sizeof why) != VX_OK) {
        bad_reply(a, service, why);
        return false;
    }
    if (r->error != NULL) {
        answer_error(a, service, r->error);
        vx_contract_reply_cleanup(r);
        return false;
    }
    return true;
}

void api_forecast_reply_decode(const uint8_t *data, size_t len, const char *tenant,
                               api_svc_answer *a)
{
    vx_contract_reply r;
    if (!open_reply(&valdrix__v1__forecast_reply__descriptor, "forecast", data, len, &r, a))
        return;
    const Valdrix__V1__ForecastResult *f = (const Valdrix__V1__ForecastResult *)r.result;
    if (!own_tenant(a, "forecast", f->tenant_id, tenant)) {
        /* never passed on */
    } else if (!f->total) {
        bad_reply(a, "forecast", "neither a result nor an error");
    } else {
        json_t *o = result_head(f->tenant_id, f->from, f->to, f->currency, f->cost);
        json_object_set_new(o, "horizon_days", json_integer(f->horizon_days));
        json_object_set_new(o, "level", num(f->level));
        result_basis(o, f->records, f->data_version, f->cached);
        json_object_set_new(o, "total", series_json(f->total, true));
        json_t *svcs = json_array();
        for (size_t i = 0; i < f->n_services; i++)
            json_array_append_new(svcs, series_json(f->services[i], false));
        json_object_set_new(o, "services", svcs);
        answer_json(a, o);
    }
    vx_contract_reply_cleanup(&r);
}

void api_anomalies_reply_decode(const uint8_t *data, size_t len, const char *tenant,
                                api_svc_answer *a)
{
    vx_contract_reply r;
    if (!open_reply(&valdrix__v1__anomalies_reply__descriptor, "forecast", data, len, &r, a))
        return;
    const Valdrix__V1__AnomaliesResult *f = (const Valdrix__V1__AnomaliesResult *)r.result;
    if (!own_tenant(a, "forecast", f->tenant_id, tenant)) {
        vx_contract_reply_cleanup(&r);
        return;
    }
    json_t *o = result_head(f->tenant_id, f->from, f->to, f->currency, f->cost);
    result_basis(o, f->records, f->data_version, f->cached);
    json_t *list = json_array();
    for (size_t i = 0; i < f->n_anomalies; i++) {
        const Valdrix__V1__Anomaly *x = f->anomalies[i];
        json_t *e = json_object();
        json_object_set_new(e, "date", str(x->date));
        if (x->service_name && x->service_name[0])
            json_object_set_new(e, "service", str(x->service_name));
        json_object_set_new(e, "kind", str(x->kind));
        json_object_set_new(e, "severity", str(x->severity));
        json_object_set_new(e, "actual", num(x->actual));
        json_object_set_new(e, "expected", num(x->expected));
        json_object_set_new(e, "lo", num(x->lo));
        json_object_set_new(e, "hi", num(x->hi));
        json_object_set_new(e, "score", num(x->score));
        json_array_append_new(list, e);
    }
    json_object_set_new(o, "anomalies", list);
    answer_json(a, o);
    vx_contract_reply_cleanup(&r);
}

void api_insight_reply_decode(const uint8_t *data, size_t len, const char *tenant,
                              api_svc_answer *a)
{
    vx_contract_reply r;
    if (!open_reply(&valdrix__v1__insight_reply__descriptor, "llm", data, len, &r, a))
        return;
    const Valdrix__V1__InsightResult *f = (const Valdrix__V1__InsightResult *)r.result;
    if (!own_tenant(a, "llm", f->tenant_id, tenant)) {
        /* never passed on */
    } else if (!f->insight) {
        bad_reply(a, "llm", "neither a result nor an error");
    } else {
        const Valdrix__V1__Insight *in = f->insight;
        json_t *o = result_head(f->tenant_id, f->from, f->to, f->currency, NULL);
        json_object_set_new(o, "kind", str(f->kind));
        json_object_set_new(o, "summary", str(in->summary));
        json_object_set_new(o, "findings", str_array(in->findings, in->n_findings));
        json_t *recs = json_array();
        for (size_t i = 0; i < in->n_recommendations; i++) {
            const Valdrix__V1__Recommendation *x = in->recommendations[i];
            json_t *e = json_object();
            json_object_set_new(e, "action", str(x->action));
            json_object_set_new(e, "target", str(x->target));
            json_object_set_new(e, "estimated_monthly_savings", num(x->estimated_monthly_savings));
            json_object_set_new(e, "priority", str(x->priority));
            json_object_set_new(e, "confidence", num(x->confidence));
            json_array_append_new(recs, e);
        }
        json_object_set_new(o, "recommendations", recs);
        json_object_set_new(o, "provider", str(f->provider));
        json_object_set_new(o, "model", str(f->model));
        result_basis(o, UINT64_MAX, f->data_version, f->cached);
        json_object_set_new(o, "prompt_version", str(f->prompt_version));
        json_t *usage = json_object();
        json_object_set_new(usage, "input_tokens", json_integer((json_int_t)f->input_tokens));
        json_object_set_new(usage, "output_tokens", json_integer((json_int_t)f->output_tokens));
        char cost[64] = "0";
        if (f->cost_usd) {
            vx_money m = {.units = f->cost_usd->units, .nanos = f->cost_usd->nanos};
            if (vx_money_valid(m))
                vx_money_format(m, cost, sizeof cost);
        }
        json_object_set_new(usage, "cost_usd", json_string(cost));
        json_object_set_new(o, "usage", usage);
        json_object_set_new(o, "notes", str_array(f->notes, f->n_notes));
        answer_json(a, o);
    }
    vx_contract_reply_cleanup(&r);
}
