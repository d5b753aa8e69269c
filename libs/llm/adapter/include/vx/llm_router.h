/* The LLM provider router (vx::llm_router, the adapter half of libs/llm): tries providers in
 * order over libcurl behind circuit breakers, with budget hooks; and the provider configuration
 * read from the environment. The context, prompt, answer and pricing it uses are vx/llm.h. */
#ifndef VX_LLM_ROUTER_H
#define VX_LLM_ROUTER_H

#include "vx/breaker.h"
#include "vx/llm.h"
#include "vx/metrics.h"
#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Configuration from the environment ---- */

/* Reads the whole configuration from the environment: VX_LLM_PROVIDERS as above (unset or empty:
 * "local"); for each provider its base URL from VX_LLM_<NAME>_URL (defaults
 * https://api.groq.com/openai/v1, https://api.openai.com/v1, https://api.anthropic.com/v1), its
 * key from VX_LLM_<NAME>_KEY or else GROQ_API_KEY / OPENAI_API_KEY / ANTHROPIC_API_KEY, its
 * price from VX_LLM_PRICE_<NAME>="in,out" (USD per 1M tokens) or else the built-in table; and
 * the timeouts, limits and breaker settings named in vx_llm_config. A provider without a key is
 * left out with a warn log line naming the variables to set (never a value). When that leaves
 * nothing, "local" is used (with an info line). Base URLs must be https://, or http:// to a
 * loopback host (tests). VX_INVALID naming the variable on a bad value, an unknown provider,
 * or a paid model with no known price (so spending can always be reserved); *out is written
 * only on VX_OK. Reads getenv: call before starting threads that change the environment. */
VX_MUST_CHECK vx_status vx_llm_config_from_env(vx_llm_config *out, char *err, size_t err_cap);

/* ---- Router ---- */

/* What happened to one provider for one request (metrics label values, log fields). */
#define VX_LLM_OUTCOME_MAP(X)                                                                      \
    X(OK, "ok")                                                                                    \
    X(INVALID, "invalid_answer")      /* 2xx whose answer failed validation */                     \
    X(RATE_LIMITED, "rate_limited")   /* 429 */                                                    \
    X(SERVER_ERROR, "server_error")   /* 5xx, or an unexpected status */                           \
    X(TIMEOUT, "timeout")             /* no complete answer in time, or 408 */                     \
    X(CONNECT_ERROR, "connect_error") /* DNS, TCP or TLS failure */                                \
    X(AUTH_ERROR, "auth_error")       /* 401, 403: bad key */                                      \
    X(CLIENT_ERROR, "client_error")   /* other 4xx */                                              \
    X(BUDGET_DENIED, "budget_denied") /* reserve said no (or no budget hooks) */                   \
    X(BUDGET_ERROR, "budget_error")   /* reserve failed (e.g. Redis down): fail closed */          \
    X(BREAKER_OPEN, "breaker_open")   /* skipped: its breaker is open */                           \
    X(RETRY_AFTER, "retry_after")     /* skipped: inside a Retry-After period */                   \
    X(DEADLINE, "deadline")           /* skipped: the request's deadline had passed */

typedef enum {
#define VX_LLM_OUTCOME_ENUM(name, str) VX_LLM_OUTCOME_##name,
    VX_LLM_OUTCOME_MAP(VX_LLM_OUTCOME_ENUM)
#undef VX_LLM_OUTCOME_ENUM
        VX_LLM_OUTCOME_COUNT
} vx_llm_outcome;

/* The label value above ("ok", "rate_limited", ...). Thread-safe. */
const char *vx_llm_outcome_str(vx_llm_outcome o);

/* What a paid call may cost at most, handed to the budget hooks. */
typedef struct {
    const char *provider; /* borrowed for the duration of the hook call */
    const char *model;
    uint64_t est_input_tokens;  /* vx_llm_prompt.est_input_tokens */
    uint64_t max_output_tokens; /* vx_llm_config.max_output_tokens */
    uint64_t cost_micro_usd;    /* vx_llm_cost_micro_usd of the two: the amount to reserve */
} vx_llm_estimate;

/* What a paid call used, handed to settle. */
typedef struct {
    uint64_t input_tokens; /* from the response; the estimate when it reported none */
    uint64_t output_tokens;
    uint64_t cost_micro_usd; /* vx_llm_cost_micro_usd of the tokens at the provider's price */
    bool reported;           /* false: the response had no usage, the estimate is settled */
    bool unknown; /* the request was sent but no complete response came back (timeout, dropped
                     connection): the provider may bill it, so the estimate is settled */
    int64_t latency_ms;
    vx_llm_outcome outcome; /* OK, or INVALID (a bad answer is billed all the same), or, when
                               unknown, TIMEOUT, CONNECT_ERROR or SERVER_ERROR */
} vx_llm_usage;

/* Budget hooks, called synchronously on the thread running vx_llm_router_run, only for paid
 * providers (never for local), once per HTTP call (an invalid answer's retry reserves again):
 *   reserve  before the call. Return VX_OK to go ahead, with *ticket set to whatever settle or
 *            release need (it is passed back untouched); VX_LIMIT when the budget does not
 *            allow `est` (the next provider is tried; a cheaper one may fit); anything else
 *            when the budget cannot be checked, which is treated as a refusal (fail closed).
 *   settle   after a call whose response came back (answer valid or not: either is billed),
 *            with the usage it reported; and after a call whose request was written to the
 *            provider but that got no complete response (timeout, connection dropped or reset,
 *            response cut short), with usage.unknown set and the estimate as its usage: the
 *            provider may have run it, so it is counted at the reserved maximum.
 *   release  after a call that produced no billable response (429, 5xx, 4xx, or a timeout or
 *            connection failure before any request byte was written: DNS, connect, TLS; or the
 *            breaker refusing at the last moment), with the reason.
 * Every VX_OK reserve is followed by exactly one settle or release; a refused reserve by
 * neither. All three must be set. */
typedef struct {
    vx_status (*reserve)(void *ctx, const vx_llm_estimate *est, void **ticket);
    void (*settle)(void *ctx, void *ticket, const vx_llm_estimate *est, const vx_llm_usage *usage);
    void (*release)(void *ctx, void *ticket, const vx_llm_estimate *est, vx_llm_outcome why);
    void *ctx;
} vx_llm_budget;

/* One insight request. */
typedef struct {
    const vx_llm_context *context; /* required */
    const vx_llm_budget *budget;   /* NULL: no paid provider is called (fail closed); local
                                      still answers if configured */
    int64_t deadline_ms;   /* on the router's monotonic clock (vx_mono_ms unless a clock is given);
                              0: none. Each call's timeout is cut to what is left; past it, paid
                              providers are skipped (local still answers) */
    const char *tenant_id; /* for log lines only; never sent to a provider. May be NULL */
    const char *trace_id;  /* for log lines only. May be NULL */
} vx_llm_request;

/* The answer. Owns its insight; released with vx_llm_result_cleanup. */
typedef struct {
    vx_llm_insight insight;
    char provider[16]; /* who wrote it: "local", "groq", ... */
    char model[128];
    uint64_t input_tokens;  /* summed over every billed call of the request (incl. invalid */
    uint64_t output_tokens; /* answers that were retried), i.e. what was settled */
    uint64_t cost_micro_usd;
    uint32_t calls;     /* HTTP calls made (0 when local answered first) */
    int64_t latency_ms; /* of the call that answered */
} vx_llm_result;

void vx_llm_result_cleanup(vx_llm_result *r); /* NULL and a zeroed struct are fine */

/* Clock for Retry-After and the breakers (tests move time forward). NULL functions use
 * vx_mono_ms and vx_wall_ms. HTTP timeouts always use real time. */
typedef struct {
    int64_t (*mono_ms)(void *ctx);
    int64_t (*wall_ms)(void *ctx); /* for Retry-After given as an HTTP date */
    void *ctx;
} vx_llm_clock;

typedef struct vx_llm_router vx_llm_router;

/* Creates a router over cfg->providers (copied, keys included; the caller may wipe its copy).
 * Each paid provider gets its own vx_breaker (cfg->breaker) named "llm.<provider>". HTTP goes
 * through libcurl: a pool of easy handles (one borrowed per call, returned afterwards, so
 * concurrent calls use different handles and each handle keeps its connections alive for the
 * next call) sharing one DNS and TLS-session cache; TLS peer and host verification on; only
 * http and https; no redirects; libcurl's verbose output goes only to a debug callback (which
 * counts the request bytes written, and logs header lines when http_debug is on). With `metrics`
 * (may be NULL) it registers, under `prefix` (e.g. "valdrix_llm"):
 *   <prefix>_provider_calls_total{provider,outcome}    counter (outcomes of VX_LLM_OUTCOME_MAP)
 *   <prefix>_provider_breaker_state{provider}          gauge 0 closed, 1 open, 2 half-open
 *   <prefix>_input_tokens_total{provider}, <prefix>_output_tokens_total{provider}
 *   <prefix>_spend_micro_usd_total{provider}            counter of settled cost
 *   <prefix>_provider_call_duration_seconds{provider}  histogram of HTTP calls
 * `clock` (copied; may be NULL). On VX_OK *out owns the router; VX_INVALID (err says why) for
 * an empty provider list, an unknown api, a paid provider without key, base URL or model;
 * VX_INTERNAL if libcurl cannot be initialised. The first call initialises libcurl globally
 * (curl_global_init, thread-safe in the libcurl used). Not thread-safe with destroy. */
VX_MUST_CHECK vx_status vx_llm_router_create(const vx_llm_config *cfg, vx_metrics *metrics,
                                             const char *prefix, const vx_llm_clock *clock,
                                             vx_llm_router **out, char *err, size_t err_cap);

/* Frees the router (its handles, breakers and the keys it holds, wiped). NULL is fine. No call
 * may be running. The metrics stay registered (they are plain counters and gauges). */
void vx_llm_router_destroy(vx_llm_router *r);

/* Answers one request: tries the providers in configured order.
 *   - local answers at once from the numbers (no budget, cost 0).
 *   - a paid provider is skipped while inside a Retry-After period it gave, while its breaker
 *     is open, and once the deadline has passed; otherwise the budget is reserved, the call is
 *     made, the breaker told the outcome, and the reservation settled or released.
 *   - 429, 5xx, 408, timeout, connection failure: breaker failure, next provider (a timeout or
 *     a lost connection after the request was written is settled at the estimate). A Retry-After
 *     header (seconds or HTTP date, capped by max_retry_after_ms) keeps that provider out of
 *     every request until it passes.
 *   - 401/403: breaker failure (the key is wrong), next provider, never a second call to it.
 *   - other 4xx: not a breaker failure (the provider is up), next provider, no second call.
 *   - an answer that fails vx_llm_insight_parse (or an envelope without text): breaker
 *     failure, the same provider once more, then the next provider.
 * On VX_OK *out holds the insight and who wrote it. Otherwise *out is untouched and err says
 * what happened at each provider ("groq: rate limited (HTTP 429), skipped for 30 s; openai:
 * timed out after 30000 ms"), with any key redacted; the status is VX_INVALID for a bad
 * context, VX_LIMIT if a reserve said VX_LIMIT (the tenant's budget is what stopped it),
 * VX_TIMEOUT if the deadline passed, else VX_UNAVAILABLE. Failed attempts are logged at warn
 * (provider, model, outcome, HTTP status, latency, redacted detail, tenant_id, trace_id); no
 * key, prompt or answer is ever logged. Thread-safe: any number of threads may run requests
 * on one router at once. */
VX_MUST_CHECK vx_status vx_llm_router_run(vx_llm_router *r, const vx_llm_request *req,
                                          vx_llm_result *out, char *err, size_t err_cap);

/* The state of a provider's breaker now (local and unknown names: closed). Thread-safe. For
 * readiness reporting and tests. */
vx_breaker_state vx_llm_router_breaker_state(vx_llm_router *r, const char *provider);

/* The providers the router tries, in order (borrowed; valid until destroy). Thread-safe. */
size_t vx_llm_router_providers(const vx_llm_router *r, const char **names, size_t cap);

#endif
