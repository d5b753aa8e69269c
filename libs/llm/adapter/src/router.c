/* The router: providers in configured order, each behind its own breaker and Retry-After gate,
 * budget reserved before every paid call and settled or released after it, invalid answers
 * retried once, every outcome counted, and one clear error when nobody answered. */
#include "http.h"
#include "wire.h"

#include "vx/alloc.h"
#include "vx/buf.h"
#include "vx/clock.h"
#include "vx/log.h"

#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define ANTHROPIC_VERSION "2023-06-01"
/* Attempts per provider when answers are invalid: the first and one retry. */
#define MAX_TRIES 2

typedef struct {
    vx_llm_provider p;
    bool paid;
    vx_breaker *breaker;
    _Atomic int64_t not_before_ms; /* Retry-After gate on the router's monotonic clock */
    struct curl_slist *headers;
    char url[sizeof(((vx_llm_provider *)0)->base_url) + 32];
    llm_http_trace trace;
    vx_counter *calls[VX_LLM_OUTCOME_COUNT];
    vx_counter *tokens_in, *tokens_out, *spend;
    vx_gauge *state;
    vx_histogram *duration;
} slot;

struct vx_llm_router {
    vx_llm_config cfg;
    slot slots[VX_LLM_MAX_PROVIDERS];
    size_t n;
    const char *keys[VX_LLM_MAX_PROVIDERS]; /* every configured key, for redaction */
    size_t n_keys;
    vx_llm_clock clock;
    llm_http *http;
};

static const char *const outcome_names[] = {
#define VX_LLM_OUTCOME_NAME(name, str) str,
    VX_LLM_OUTCOME_MAP(VX_LLM_OUTCOME_NAME)
#undef VX_LLM_OUTCOME_NAME
};

const char *vx_llm_outcome_str(vx_llm_outcome o)
{
    return (unsigned)o < VX_LLM_OUTCOME_COUNT ? outcome_names[o] : "unknown";
}

static int64_t mono_now(const vx_llm_router *r)
{
    return r->clock.mono_ms ? r->clock.mono_ms(r->clock.ctx) : vx_mono_ms();
}

static int64_t wall_now(const vx_llm_router *r)
{
    return r->clock.wall_ms ? r->clock.wall_ms(r->clock.ctx) : vx_wall_ms();
}

static void add_header(struct curl_slist **list, const char *name, const char *value)
{
    char *line = vx_xasprintf("%s: %s", name, value);
    *list = curl_slist_append(*list, line);
    OPENSSL_cleanse(line, strlen(line));
    vx_free(line);
}

static void register_metrics(slot *s, vx_metrics *m, const char *prefix)
{
    char name[160], labels[96];
    for (int o = 0; o < VX_LLM_OUTCOME_COUNT; o++) {
        snprintf(name, sizeof name, "%s_provider_calls_total", prefix);
        snprintf(labels, sizeof labels, "provider=\"%s\",outcome=\"%s\"", s->p.name,
                 outcome_names[o]);
        s->calls[o] =
            vx_metrics_counter(m, name, "LLM provider calls and skips by outcome", labels);
    }
    snprintf(labels, sizeof labels, "provider=\"%s\"", s->p.name);
    snprintf(name, sizeof name, "%s_provider_breaker_state", prefix);
    s->state = vx_metrics_gauge(m, name, "Provider breaker: 0 closed, 1 open, 2 half-open", labels);
    snprintf(name, sizeof name, "%s_input_tokens_total", prefix);
    s->tokens_in = vx_metrics_counter(m, name, "Input tokens settled", labels);
    snprintf(name, sizeof name, "%s_output_tokens_total", prefix);
    s->tokens_out = vx_metrics_counter(m, name, "Output tokens settled", labels);
    snprintf(name, sizeof name, "%s_spend_micro_usd_total", prefix);
    s->spend = vx_metrics_counter(m, name, "Spend settled, in micro-USD", labels);
    snprintf(name, sizeof name, "%s_provider_call_duration_seconds", prefix);
    s->duration = vx_metrics_histogram(m, name, "Duration of provider HTTP calls", labels,
                                       vx_metrics_latency_bounds, vx_metrics_latency_bounds_len);
}

vx_status vx_llm_router_create(const vx_llm_config *cfg, vx_metrics *metrics, const char *prefix,
                               const vx_llm_clock *clock, vx_llm_router **out, char *err,
                               size_t err_cap)
{
    if (!cfg || cfg->n_providers == 0 || cfg->n_providers > VX_LLM_MAX_PROVIDERS) {
        vx_errf(err, err_cap, "llm: no providers configured");
        return VX_INVALID;
    }
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const vx_llm_provider *p = &cfg->providers[i];
        if (p->api == VX_LLM_API_LOCAL)
            continue;
        if (p->api != VX_LLM_API_OPENAI && p->api != VX_LLM_API_ANTHROPIC) {
            vx_errf(err, err_cap, "llm: provider %zu has an unknown api", i);
            return VX_INVALID;
        }
        if (!p->key[0] || !p->base_url[0] || !p->model[0]) {
            vx_errf(err, err_cap, "llm: provider %s needs a key, a base URL and a model", p->name);
            return VX_INVALID;
        }
    }
    llm_http *http = llm_http_create(cfg->http_debug);
    if (!http) {
        vx_errf(err, err_cap, "llm: libcurl could not be initialised");
        return VX_INTERNAL;
    }
    vx_llm_router *r = vx_xcalloc(1, sizeof *r);
    r->cfg = *cfg;
    r->http = http;
    if (clock)
        r->clock = *clock;
    r->n = cfg->n_providers;
    for (size_t i = 0; i < r->n; i++) {
        slot *s = &r->slots[i];
        s->p = cfg->providers[i];
        s->paid = s->p.api != VX_LLM_API_LOCAL;
        atomic_init(&s->not_before_ms, INT64_MIN);
        if (s->paid) {
            char name[48];
            snprintf(name, sizeof name, "llm.%s", s->p.name);
            s->breaker = vx_breaker_create(name, &cfg->breaker);
            const char *path = s->p.api == VX_LLM_API_ANTHROPIC ? "/messages" : "/chat/completions";
            size_t base_len = strnlen(s->p.base_url, sizeof s->p.base_url - 1);
            memcpy(s->url, s->p.base_url, base_len);
            memcpy(s->url + base_len, path, strlen(path) + 1);
            add_header(&s->headers, "Content-Type", "application/json");
            add_header(&s->headers, "Accept", "application/json");
            s->headers = curl_slist_append(s->headers, "Expect:"); /* no 100-continue wait */
            if (s->p.api == VX_LLM_API_ANTHROPIC) {
                add_header(&s->headers, "x-api-key", s->p.key);
                add_header(&s->headers, "anthropic-version", ANTHROPIC_VERSION);
            } else {
                char *bearer = vx_xasprintf("Bearer %s", s->p.key);
                add_header(&s->headers, "Authorization", bearer);
                OPENSSL_cleanse(bearer, strlen(bearer));
                vx_free(bearer);
            }
            r->keys[r->n_keys++] = s->p.key;
        }
        if (metrics)
            register_metrics(s, metrics, prefix ? prefix : "valdrix_llm");
    }
    for (size_t i = 0; i < r->n; i++) {
        r->slots[i].trace.provider = r->slots[i].p.name;
        r->slots[i].trace.keys = r->keys;
        r->slots[i].trace.n_keys = r->n_keys;
    }
    *out = r;
    return VX_OK;
}

void vx_llm_router_destroy(vx_llm_router *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        slot *s = &r->slots[i];
        for (struct curl_slist *l = s->headers; l; l = l->next)
            OPENSSL_cleanse(l->data, strlen(l->data));
        curl_slist_free_all(s->headers);
        vx_breaker_destroy(s->breaker);
    }
    llm_http_destroy(r->http);
    OPENSSL_cleanse(r, sizeof *r);
    vx_free(r);
}

static slot *find_slot(vx_llm_router *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (name && strcmp(r->slots[i].p.name, name) == 0)
            return &r->slots[i];
    return NULL;
}

vx_breaker_state vx_llm_router_breaker_state(vx_llm_router *r, const char *provider)
{
    slot *s = find_slot(r, provider);
    if (!s || !s->breaker)
        return VX_BREAKER_CLOSED;
    return vx_breaker_state_at(s->breaker, mono_now(r));
}

size_t vx_llm_router_providers(const vx_llm_router *r, const char **names, size_t cap)
{
    size_t n = r->n < cap ? r->n : cap;
    for (size_t i = 0; i < n; i++)
        names[i] = r->slots[i].p.name;
    return r->n;
}

void vx_llm_result_cleanup(vx_llm_result *res)
{
    if (!res)
        return;
    vx_llm_insight_cleanup(&res->insight);
    memset(res, 0, sizeof *res);
}

/* ---- one request ---- */

/* What happened at one provider, for the error message. */
typedef struct {
    const char *provider;
    vx_llm_outcome outcome;
    long http_status;
    int64_t ms;             /* timeout used, or time left in a Retry-After period */
    int64_t retry_after_ms; /* -1: none given */
    char detail[200];       /* redacted */
} note;

typedef struct {
    vx_llm_router *r;
    const vx_llm_request *req;
    vx_llm_prompt prompt;
    bool prompt_ready;
    note notes[VX_LLM_MAX_PROVIDERS * MAX_TRIES];
    size_t n_notes;
    bool budget_limited;
    bool deadline_hit;
    uint64_t tokens_in, tokens_out, cost;
    uint32_t calls;
} run_state;

static void count(slot *s, vx_llm_outcome o)
{
    if (s->calls[o])
        vx_counter_inc(s->calls[o]);
}

static void update_state_gauge(vx_llm_router *r, slot *s)
{
    if (!s->state || !s->breaker)
        return;
    vx_breaker_state st = vx_breaker_state_at(s->breaker, mono_now(r));
    vx_gauge_set(s->state, st == VX_BREAKER_CLOSED ? 0 : st == VX_BREAKER_OPEN ? 1 : 2);
}

static note *add_note(run_state *rs, slot *s, vx_llm_outcome o)
{
    count(s, o);
    if (rs->n_notes >= sizeof rs->notes / sizeof rs->notes[0])
        return NULL;
    note *n = &rs->notes[rs->n_notes++];
    memset(n, 0, sizeof *n);
    n->provider = s->p.name;
    n->outcome = o;
    n->retry_after_ms = -1;
    return n;
}

static void note_text(const note *n, vx_buf *b)
{
    vx_buf_printf(b, "%s: ", n->provider);
    switch (n->outcome) {
    case VX_LLM_OUTCOME_OK:
        vx_buf_puts(b, "ok");
        break;
    case VX_LLM_OUTCOME_INVALID:
        vx_buf_printf(b, "invalid answer (%s)", n->detail);
        break;
    case VX_LLM_OUTCOME_RATE_LIMITED:
        vx_buf_printf(b, "rate limited (HTTP %ld)", n->http_status);
        break;
    case VX_LLM_OUTCOME_SERVER_ERROR:
        vx_buf_printf(b, "server error (HTTP %ld%s%s)", n->http_status, n->detail[0] ? ": " : "",
                      n->detail);
        break;
    case VX_LLM_OUTCOME_TIMEOUT:
        if (n->http_status)
            vx_buf_printf(b, "timed out (HTTP %ld)", n->http_status);
        else
            vx_buf_printf(b, "timed out after %lld ms", (long long)n->ms);
        break;
    case VX_LLM_OUTCOME_CONNECT_ERROR:
        vx_buf_printf(b, "connection failed (%s)", n->detail);
        break;
    case VX_LLM_OUTCOME_AUTH_ERROR:
        vx_buf_printf(b, "key refused (HTTP %ld%s%s)", n->http_status, n->detail[0] ? ": " : "",
                      n->detail);
        break;
    case VX_LLM_OUTCOME_CLIENT_ERROR:
        vx_buf_printf(b, "request refused (HTTP %ld%s%s)", n->http_status, n->detail[0] ? ": " : "",
                      n->detail);
        break;
    case VX_LLM_OUTCOME_BUDGET_DENIED:
        vx_buf_puts(b, n->detail[0] ? n->detail : "budget denied");
        break;
    case VX_LLM_OUTCOME_BUDGET_ERROR:
        vx_buf_printf(b, "budget could not be checked (%s)", n->detail);
        break;
    case VX_LLM_OUTCOME_BREAKER_OPEN:
        vx_buf_puts(b, "breaker open");
        break;
    case VX_LLM_OUTCOME_RETRY_AFTER:
        vx_buf_printf(b, "skipped for %lld ms more (Retry-After)", (long long)n->ms);
        break;
    case VX_LLM_OUTCOME_DEADLINE:
        vx_buf_puts(b, "deadline passed");
        break;
    case VX_LLM_OUTCOME_COUNT:
        break;
    }
    if (n->retry_after_ms >= 0 && n->outcome != VX_LLM_OUTCOME_RETRY_AFTER)
        vx_buf_printf(b, ", not called again for %lld ms", (long long)n->retry_after_ms);
}

static void redacted_copy(vx_llm_router *r, char *out, size_t cap, const char *text)
{
    /* Redact before cutting, so that a key cut in half cannot survive as a prefix. */
    char *tmp = vx_xstrdup(text ? text : "");
    llm_redact(tmp, r->keys, r->n_keys);
    snprintf(out, cap, "%s", tmp);
    llm_clip_utf8(out, cap - 1);
    OPENSSL_cleanse(tmp, strlen(tmp));
    vx_free(tmp);
}

static vx_llm_outcome classify_status(long status)
{
    if (status == 429)
        return VX_LLM_OUTCOME_RATE_LIMITED;
    if (status == 408)
        return VX_LLM_OUTCOME_TIMEOUT;
    if (status == 401 || status == 403)
        return VX_LLM_OUTCOME_AUTH_ERROR;
    if (status >= 400 && status < 500)
        return VX_LLM_OUTCOME_CLIENT_ERROR;
    return VX_LLM_OUTCOME_SERVER_ERROR;
}

static vx_llm_outcome classify_curl(const llm_http_response *resp)
{
    switch (resp->code) {
    case CURLE_OPERATION_TIMEDOUT:
        return VX_LLM_OUTCOME_TIMEOUT;
    case CURLE_WRITE_ERROR:
        return resp->too_large ? VX_LLM_OUTCOME_SERVER_ERROR : VX_LLM_OUTCOME_CONNECT_ERROR;
    default:
        return VX_LLM_OUTCOME_CONNECT_ERROR;
    }
}

/* The outcomes a breaker counts as the provider failing. A refused request (other 4xx) says
 * nothing bad about the provider; a refused key means it cannot be used. */
static bool breaker_success(vx_llm_outcome o)
{
    return o == VX_LLM_OUTCOME_OK || o == VX_LLM_OUTCOME_CLIENT_ERROR;
}

/* One HTTP call. Returns the outcome; on OK *insight holds the answer. *billed says whether a
 * 2xx came back (the provider charges for it whatever its content), with the usage in *reply.
 * *unknown says that the request was written to the provider but no complete response came
 * back (a timeout, a dropped connection): the provider may have run it and may bill it. */
static vx_llm_outcome call_once(run_state *rs, slot *s, int64_t timeout_ms, vx_llm_insight *insight,
                                llm_reply *reply, bool *billed, bool *unknown, note *n,
                                int64_t *latency_ms)
{
    vx_llm_router *r = rs->r;
    size_t body_len = 0;
    char *body =
        llm_request_body(s->p.api, s->p.model, &rs->prompt, r->cfg.max_output_tokens, &body_len);
    llm_http_request hreq = {
        .url = s->url,
        .headers = s->headers,
        .body = body,
        .body_len = body_len,
        .timeout_ms = timeout_ms,
        .connect_timeout_ms =
            r->cfg.connect_timeout_ms < timeout_ms ? r->cfg.connect_timeout_ms : timeout_ms,
        .https_only = strncmp(s->p.base_url, "https://", 8) == 0,
        .trace = &s->trace,
    };
    llm_http_response resp;
    int64_t t0 = vx_mono_ms();
    llm_http_post(r->http, &hreq, &resp);
    *latency_ms = vx_mono_ms() - t0;
    vx_free(body);
    rs->calls++;
    if (s->duration)
        vx_histogram_observe(s->duration, (double)*latency_ms / 1000.0);

    vx_llm_outcome o;
    char detail[400] = "";
    *billed = false;
    *unknown = false;
    if (resp.code != CURLE_OK) {
        o = classify_curl(&resp);
        *unknown = resp.sent_bytes > 0;
        snprintf(detail, sizeof detail, "%s",
                 resp.too_large ? "response larger than 1 MiB" : resp.detail);
    } else if (resp.status >= 200 && resp.status < 300) {
        *billed = true;
        if (llm_reply_parse(s->p.api, resp.body.data ? resp.body.data : "", resp.body.len, reply,
                            detail, sizeof detail) != VX_OK) {
            o = VX_LLM_OUTCOME_INVALID;
        } else if (vx_llm_insight_parse(reply->text, strlen(reply->text), insight, detail,
                                        sizeof detail) != VX_OK) {
            o = VX_LLM_OUTCOME_INVALID;
            if (reply->truncated)
                snprintf(detail + strlen(detail), sizeof detail - strlen(detail),
                         "; the answer was cut at the output token limit");
        } else {
            o = VX_LLM_OUTCOME_OK;
        }
    } else {
        o = classify_status(resp.status);
        if (!llm_error_parse(resp.body.data, resp.body.len, detail, sizeof detail))
            detail[0] = '\0';
    }
    if (n) {
        n->outcome = o;
        n->http_status = resp.status;
        n->ms = timeout_ms;
        redacted_copy(r, n->detail, sizeof n->detail, detail);
    }
    if (o != VX_LLM_OUTCOME_OK && resp.retry_after[0]) {
        int64_t delay;
        if (llm_retry_after_parse(resp.retry_after, strlen(resp.retry_after), wall_now(r),
                                  &delay)) {
            if (delay > r->cfg.max_retry_after_ms)
                delay = r->cfg.max_retry_after_ms;
            if (delay > 0) {
                atomic_store(&s->not_before_ms, mono_now(r) + delay);
                if (n)
                    n->retry_after_ms = delay;
            }
        }
    }
    llm_http_response_cleanup(&resp);
    return o;
}

static void log_failure(run_state *rs, slot *s, const note *n, int64_t latency_ms)
{
    vx_log(VX_LOG_WARN, "llm provider call failed", VX_STR("provider", s->p.name),
           VX_STR("model", s->p.model), VX_STR("outcome", vx_llm_outcome_str(n->outcome)),
           VX_INT("http_status", n->http_status), VX_INT("latency_ms", latency_ms),
           VX_INT("retry_after_ms", n->retry_after_ms), VX_STR("error", n->detail),
           VX_STR("tenant_id", rs->req->tenant_id), VX_STR("trace_id", rs->req->trace_id));
}

/* Tries one paid provider (with one retry of an invalid answer). true when it answered. */
static bool try_paid(run_state *rs, slot *s, vx_llm_result *out)
{
    vx_llm_router *r = rs->r;
    const vx_llm_request *req = rs->req;
    for (int attempt = 0; attempt < MAX_TRIES; attempt++) {
        int64_t now = mono_now(r);
        int64_t timeout = r->cfg.timeout_ms;
        if (req->deadline_ms > 0) {
            if (now >= req->deadline_ms) {
                add_note(rs, s, VX_LLM_OUTCOME_DEADLINE);
                rs->deadline_hit = true;
                return false;
            }
            if (req->deadline_ms - now < timeout)
                timeout = req->deadline_ms - now;
        }
        int64_t not_before = atomic_load(&s->not_before_ms);
        if (now < not_before) {
            note *n = add_note(rs, s, VX_LLM_OUTCOME_RETRY_AFTER);
            if (n)
                n->ms = not_before - now;
            return false;
        }
        if (vx_breaker_state_at(s->breaker, now) == VX_BREAKER_OPEN) {
            add_note(rs, s, VX_LLM_OUTCOME_BREAKER_OPEN);
            update_state_gauge(r, s);
            return false;
        }
        if (!req->budget) {
            note *n = add_note(rs, s, VX_LLM_OUTCOME_BUDGET_DENIED);
            if (n)
                snprintf(n->detail, sizeof n->detail, "no budget given: paid calls not allowed");
            return false;
        }
        vx_llm_estimate est = {
            .provider = s->p.name,
            .model = s->p.model,
            .est_input_tokens = rs->prompt.est_input_tokens,
            .max_output_tokens = r->cfg.max_output_tokens,
        };
        est.cost_micro_usd = vx_llm_cost_micro_usd(s->p.price_in, s->p.price_out,
                                                   est.est_input_tokens, est.max_output_tokens);
        void *ticket = NULL;
        vx_status bst = req->budget->reserve(req->budget->ctx, &est, &ticket);
        if (bst != VX_OK) {
            bool limit = bst == VX_LIMIT;
            note *n =
                add_note(rs, s, limit ? VX_LLM_OUTCOME_BUDGET_DENIED : VX_LLM_OUTCOME_BUDGET_ERROR);
            if (n && !limit)
                snprintf(n->detail, sizeof n->detail, "%s", vx_status_str(bst));
            rs->budget_limited = rs->budget_limited || limit;
            return false;
        }
        if (!vx_breaker_allow(s->breaker, now)) {
            /* Half-open with every probe slot taken by other requests. */
            req->budget->release(req->budget->ctx, ticket, &est, VX_LLM_OUTCOME_BREAKER_OPEN);
            add_note(rs, s, VX_LLM_OUTCOME_BREAKER_OPEN);
            update_state_gauge(r, s);
            return false;
        }
        note tmp;
        memset(&tmp, 0, sizeof tmp);
        tmp.provider = s->p.name;
        tmp.retry_after_ms = -1;
        vx_llm_insight insight = {0};
        llm_reply reply = {0};
        bool billed = false, unknown = false;
        int64_t latency = 0;
        vx_llm_outcome o =
            call_once(rs, s, timeout, &insight, &reply, &billed, &unknown, &tmp, &latency);
        vx_breaker_record(s->breaker, breaker_success(o), mono_now(r));
        update_state_gauge(r, s);
        if (billed || unknown) {
            /* Sent but unanswered: whatever the provider did is unknown, so the reservation
             * is settled at its maximum (the estimate), never released at zero. */
            bool has_usage = billed && reply.has_usage;
            vx_llm_usage usage = {
                .input_tokens = has_usage ? reply.input_tokens : est.est_input_tokens,
                .output_tokens = has_usage ? reply.output_tokens : est.max_output_tokens,
                .reported = has_usage,
                .unknown = unknown,
                .latency_ms = latency,
                .outcome = o,
            };
            usage.cost_micro_usd = vx_llm_cost_micro_usd(s->p.price_in, s->p.price_out,
                                                         usage.input_tokens, usage.output_tokens);
            req->budget->settle(req->budget->ctx, ticket, &est, &usage);
            rs->tokens_in += usage.input_tokens;
            rs->tokens_out += usage.output_tokens;
            rs->cost += usage.cost_micro_usd;
            if (s->tokens_in) {
                vx_counter_add(s->tokens_in, usage.input_tokens);
                vx_counter_add(s->tokens_out, usage.output_tokens);
                vx_counter_add(s->spend, usage.cost_micro_usd);
            }
        } else {
            req->budget->release(req->budget->ctx, ticket, &est, o);
        }
        llm_reply_cleanup(&reply);
        if (o == VX_LLM_OUTCOME_OK) {
            count(s, o);
            out->insight = insight;
            snprintf(out->provider, sizeof out->provider, "%s", s->p.name);
            snprintf(out->model, sizeof out->model, "%s", s->p.model);
            out->latency_ms = latency;
            return true;
        }
        note *n = add_note(rs, s, o);
        if (n)
            *n = tmp;
        log_failure(rs, s, &tmp, latency);
        if (o != VX_LLM_OUTCOME_INVALID)
            return false;
    }
    return false;
}

vx_status vx_llm_router_run(vx_llm_router *r, const vx_llm_request *req, vx_llm_result *out,
                            char *err, size_t err_cap)
{
    if (!req || !req->context) {
        vx_errf(err, err_cap, "context: missing");
        return VX_INVALID;
    }
    if (req->budget && (!req->budget->reserve || !req->budget->settle || !req->budget->release)) {
        vx_errf(err, err_cap, "budget: reserve, settle and release must all be set");
        return VX_INVALID;
    }
    vx_status st = vx_llm_context_check(req->context, err, err_cap);
    if (st != VX_OK)
        return st;
    run_state rs;
    memset(&rs, 0, sizeof rs);
    rs.r = r;
    rs.req = req;
    vx_llm_result res;
    memset(&res, 0, sizeof res);
    bool answered = false;
    for (size_t i = 0; i < r->n && !answered; i++) {
        slot *s = &r->slots[i];
        if (!s->paid) {
            if (vx_llm_local_write(req->context, &res.insight, err, err_cap) != VX_OK)
                break; /* cannot happen for a checked context */
            count(s, VX_LLM_OUTCOME_OK);
            snprintf(res.provider, sizeof res.provider, "%s", s->p.name);
            answered = true;
            break;
        }
        if (!rs.prompt_ready) {
            st = vx_llm_prompt_build(req->context, &rs.prompt, err, err_cap);
            if (st != VX_OK)
                return st;
            rs.prompt_ready = true;
        }
        answered = try_paid(&rs, s, &res);
    }
    vx_llm_prompt_cleanup(&rs.prompt);
    if (answered) {
        res.input_tokens = rs.tokens_in;
        res.output_tokens = rs.tokens_out;
        res.cost_micro_usd = rs.cost;
        res.calls = rs.calls;
        *out = res;
        return VX_OK;
    }
    vx_buf b;
    vx_buf_init(&b);
    vx_buf_puts(&b, "no provider answered: ");
    for (size_t i = 0; i < rs.n_notes; i++) {
        if (i)
            vx_buf_puts(&b, "; ");
        note_text(&rs.notes[i], &b);
    }
    vx_errf(err, err_cap, "%s", b.data);
    vx_buf_cleanup(&b);
    if (rs.budget_limited)
        return VX_LIMIT;
    if (rs.deadline_hit)
        return VX_TIMEOUT;
    return VX_UNAVAILABLE;
}
