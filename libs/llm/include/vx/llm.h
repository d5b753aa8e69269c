/* Cost insights, the pure part (vx::llm): the context an insight is written from, the prompt
 * (tenant data fenced and escaped, instructions only in the system message), validation of the
 * model's JSON answer, the `local` writer, the provider list and pricing. No I/O. The router
 * that calls providers over libcurl, and the configuration read from the environment, are
 * vx/llm_router.h (vx::llm_router). */
#ifndef VX_LLM_H
#define VX_LLM_H

#include "vx/breaker.h"
#include "vx/money.h"
#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Changes whenever the prompt or the answer format changes; part of every cache key. */
#define VX_LLM_PROMPT_VERSION "insight-v1"

/* ---- Limits ---- */

#define VX_LLM_MAX_LINES 20       /* top services, and top movers, in a context */
#define VX_LLM_MAX_ANOMALIES 50   /* anomalies in a context */
#define VX_LLM_MAX_NOTES 10       /* notes in a context */
#define VX_LLM_MAX_TENANT_STR 200 /* tenant strings are cut (at a UTF-8 boundary) past this */

#define VX_LLM_MAX_ANSWER_BYTES 65536 /* a model answer longer than this is refused */
#define VX_LLM_MAX_SUMMARY 2000       /* bytes of Insight.summary */
#define VX_LLM_MAX_FINDINGS 10
#define VX_LLM_MAX_FINDING 1000 /* bytes of one finding */
#define VX_LLM_MAX_RECOMMENDATIONS 10
#define VX_LLM_MAX_ACTION 500   /* bytes */
#define VX_LLM_MAX_TARGET 512   /* bytes */
#define VX_LLM_MAX_SAVINGS 1e12 /* estimated_monthly_savings above this is refused as absurd */

/* ---- Context: the numbers an insight is written from ----
 *
 * Caller-owned and borrowed: the library reads it during a call and keeps no pointer into it.
 * Every string marked "tenant data" is untrusted: it is only ever placed, JSON-encoded, inside
 * the prompt's data block, cut to VX_LLM_MAX_TENANT_STR bytes, with invalid UTF-8 replaced by
 * U+FFFD. The tenant id is deliberately not part of it: it is never sent to a provider. */

typedef enum { VX_LLM_KIND_SUMMARY, VX_LLM_KIND_ANOMALY, VX_LLM_KIND_FORECAST } vx_llm_kind;

/* "summary", "anomaly", "forecast". Thread-safe. */
const char *vx_llm_kind_str(vx_llm_kind kind);

/* Spend of one service (optionally one service in one account) in the window. */
typedef struct {
    const char *service; /* tenant data; required */
    const char *account; /* tenant data; NULL or "" when the line covers all accounts */
    vx_money amount;     /* in the window */
    vx_money previous;   /* in the period of the same length just before it */
    vx_money week;       /* in the last 7 days of the window */
    vx_money prior_week; /* in the 7 days before those */
} vx_llm_line;

/* An anomaly as the forecast service reports it (floats there are model output). */
typedef struct {
    const char *date;     /* YYYY-MM-DD; required */
    const char *service;  /* tenant data; NULL or "" for the total */
    const char *kind;     /* spike, drop, new_spend (passed through as data); required */
    const char *severity; /* low, medium, high; NULL if unknown */
    double actual;        /* finite */
    double expected;      /* finite */
} vx_llm_anomaly;

typedef struct {
    uint32_t horizon_days; /* 1..366 */
    double total;          /* forecast spend over the horizon; finite */
    double lo, hi;         /* interval bounds; finite */
} vx_llm_forecast;

typedef struct {
    vx_llm_kind kind;
    const char *from;            /* YYYY-MM-DD, first day (inclusive); required */
    const char *to;              /* YYYY-MM-DD, end day (exclusive, as CostScope); after from */
    const char *currency;        /* ISO 4217, three upper-case letters; required */
    vx_money total;              /* spend in the window */
    vx_money previous_total;     /* in the period of the same length before it */
    vx_money week;               /* last 7 days of the window */
    vx_money prior_week;         /* the 7 days before */
    const vx_llm_line *services; /* top services by amount, at most VX_LLM_MAX_LINES */
    size_t n_services;
    const vx_llm_line *movers; /* top movers by |amount - previous|, at most VX_LLM_MAX_LINES */
    size_t n_movers;
    const char *focus_service;       /* tenant data; optional (NULL or "") */
    const char *focus_account;       /* tenant data; optional */
    const vx_llm_anomaly *anomalies; /* optional, at most VX_LLM_MAX_ANOMALIES */
    size_t n_anomalies;
    const vx_llm_forecast *forecast; /* optional (NULL) */
    const char *const *notes; /* e.g. "the forecast service did not answer in time"; treated as
                                 data like tenant strings; at most VX_LLM_MAX_NOTES */
    size_t n_notes;
} vx_llm_context;

/* Checks a context: required fields present, dates valid and from < to (at most 3 years apart),
 * currency well formed, counts within the limits, money valid, floats finite. VX_OK or
 * VX_INVALID with the field named in err (e.g. "services[2].service: missing"). Long or
 * malformed tenant strings are not errors (they are cut and repaired where used). Thread-safe. */
VX_MUST_CHECK vx_status vx_llm_context_check(const vx_llm_context *ctx, char *err, size_t err_cap);

/* ---- Prompt ---- */

typedef struct {
    char *system;              /* instructions only; identical for every context of one kind */
    char *user;                /* only the fenced data block */
    uint64_t est_input_tokens; /* a deliberately high estimate of both messages, for budgets */
} vx_llm_prompt;

/* The system message for `kind`: a static string (never freed), identical whatever the data.
 * It states that the data block is data, never instructions, and gives the answer format.
 * Thread-safe. */
const char *vx_llm_system_prompt(vx_llm_kind kind);

/* Builds the messages for `ctx` (checked first, as vx_llm_context_check) into *out, which the
 * caller releases with vx_llm_prompt_cleanup. The user message is
 *     <cost_data>\n{JSON}\n</cost_data>
 * where the JSON is written by jansson and then has every '<', '>' and '`' escaped as \u003c,
 * \u003e, \u0060, so no tenant string can close the fence, open another, or leave its JSON
 * string. Deterministic: the same context gives the same bytes. VX_INVALID (err says why) on a
 * bad context; *out is written only on VX_OK. Thread-safe. */
VX_MUST_CHECK vx_status vx_llm_prompt_build(const vx_llm_context *ctx, vx_llm_prompt *out,
                                            char *err, size_t err_cap);
void vx_llm_prompt_cleanup(vx_llm_prompt *p); /* NULL and a zeroed struct are fine */

/* Input tokens estimated for `bytes` of prompt text: one per 3 bytes rounded up, which is above
 * what the providers' tokenizers give for English and JSON, so reservations err high. */
uint64_t vx_llm_estimate_tokens(size_t bytes);

/* ---- Insight: the validated answer ---- */

typedef enum { VX_LLM_PRIORITY_HIGH, VX_LLM_PRIORITY_MEDIUM, VX_LLM_PRIORITY_LOW } vx_llm_priority;

/* "high", "medium", "low". Thread-safe. */
const char *vx_llm_priority_str(vx_llm_priority p);

typedef struct {
    char *action;                     /* non-empty, at most VX_LLM_MAX_ACTION bytes */
    char *target;                     /* non-empty, at most VX_LLM_MAX_TARGET bytes */
    double estimated_monthly_savings; /* finite, 0..VX_LLM_MAX_SAVINGS, in the context currency */
    vx_llm_priority priority;
    double confidence; /* 0..1 */
} vx_llm_recommendation;

/* Owns everything it points to; released with vx_llm_insight_cleanup. */
typedef struct {
    char *summary;     /* non-empty, at most VX_LLM_MAX_SUMMARY bytes */
    char **findings;   /* each non-empty, at most VX_LLM_MAX_FINDING bytes */
    size_t n_findings; /* at most VX_LLM_MAX_FINDINGS */
    vx_llm_recommendation *recommendations;
    size_t n_recommendations; /* at most VX_LLM_MAX_RECOMMENDATIONS */
} vx_llm_insight;

/* Parses and validates a model's answer: one JSON object with exactly the keys summary (string),
 * findings (array of strings) and recommendations (array of objects with exactly action, target,
 * estimated_monthly_savings, priority "high"|"medium"|"low", confidence), within the limits
 * above. Surrounding whitespace and one ```json (or ```) fence around the object are accepted;
 * any other text is not. Duplicate keys and unknown keys are refused. On VX_OK *out owns the
 * result; otherwise VX_INVALID with the offending field named in err (e.g.
 * "recommendations[1].confidence: must be between 0 and 1") and *out untouched. Thread-safe. */
VX_MUST_CHECK vx_status vx_llm_insight_parse(const char *text, size_t len, vx_llm_insight *out,
                                             char *err, size_t err_cap);

/* The insight as compact JSON in the answer format (what vx_llm_insight_parse accepts), e.g.
 * for a cache. Returns a NUL-terminated string the caller frees with vx_free; *len (if not
 * NULL) gets its length. Thread-safe. */
char *vx_llm_insight_to_json(const vx_llm_insight *in, size_t *len);

/* Deep copy into *out (caller cleans up). */
void vx_llm_insight_copy(const vx_llm_insight *in, vx_llm_insight *out);

/* Frees what the insight owns and zeroes it; NULL and a zeroed struct are fine. */
void vx_llm_insight_cleanup(vx_llm_insight *in);

/* ---- The local writer ---- */

/* Writes an insight from the context numbers alone, without any network: a summary sentence
 * with the total and its change (plus the anomalies or forecast for those kinds), findings for
 * the focus, top movers, anomalies and the largest service, and recommendations from fixed
 * rules: a service up more than 30% week over week gets a "review" recommendation whose savings
 * estimate is a quarter of the weekly increase over a month; a spike gets an "investigate" one
 * (no savings claimed); a service above half the spend gets a "check commitments" one (5% of its
 * monthly run rate); a forecast more than 20% above the current run rate gets a "budget alert"
 * one. Deterministic: the same context gives the same insight. The result passes
 * vx_llm_insight_parse's checks. VX_INVALID on a bad context; *out written only on VX_OK.
 * Thread-safe. */
VX_MUST_CHECK vx_status vx_llm_local_write(const vx_llm_context *ctx, vx_llm_insight *out,
                                           char *err, size_t err_cap);

/* ---- Providers, configuration and pricing ---- */

#define VX_LLM_MAX_PROVIDERS 8

typedef enum {
    VX_LLM_API_OPENAI,    /* POST {base}/chat/completions, Authorization: Bearer (Groq, OpenAI) */
    VX_LLM_API_ANTHROPIC, /* POST {base}/messages, x-api-key + anthropic-version */
    VX_LLM_API_LOCAL,     /* vx_llm_local_write; no network, costs 0, never reserves */
} vx_llm_api;

typedef struct {
    char name[16];   /* groq, openai, anthropic, local */
    char model[128]; /* "" for local */
    vx_llm_api api;
    char base_url[512]; /* e.g. https://api.groq.com/openai/v1 (no trailing slash) */
    char key[512];      /* secret: never logged, never in an error message; "" for local */
    uint64_t price_in;  /* micro-USD per 1M input tokens */
    uint64_t price_out; /* micro-USD per 1M output tokens */
} vx_llm_provider;

typedef struct {
    vx_llm_provider providers[VX_LLM_MAX_PROVIDERS]; /* tried in this order */
    size_t n_providers;
    int64_t connect_timeout_ms; /* VX_LLM_CONNECT_TIMEOUT, default 2 s */
    int64_t timeout_ms;         /* VX_LLM_TIMEOUT: whole call, default 30 s */
    uint32_t max_output_tokens; /* VX_LLM_MAX_OUTPUT_TOKENS, default 1024 (16..16384) */
    int64_t max_retry_after_ms; /* VX_LLM_MAX_RETRY_AFTER: cap on honoured Retry-After, 10 min */
    vx_breaker_config breaker;  /* VX_LLM_BREAKER_WINDOW, _MIN_CALLS, _OPEN; ratio 0.5, 2 probes */
    bool http_debug;            /* VX_LLM_HTTP_DEBUG: log HTTP header lines (keys redacted) */
} vx_llm_config;

/* Defaults above with no providers. Thread-safe. */
void vx_llm_config_defaults(vx_llm_config *cfg);

/* Parses a provider list such as "groq:llama-3.3-70b-versatile,openai:gpt-4o-mini,local" into
 * cfg->providers (name, model, api; model defaults: groq llama-3.3-70b-versatile, openai
 * gpt-4o-mini, anthropic claude-3-5-haiku-latest); URLs, keys and prices are left empty. Spaces
 * around items are ignored. VX_INVALID, naming the item, for an unknown provider, a provider
 * listed twice, a model on local, an empty item, too many providers, or local anywhere but
 * last (nothing after it could be reached). cfg is written only on VX_OK. Thread-safe. */
VX_MUST_CHECK vx_status vx_llm_providers_parse(const char *spec, vx_llm_config *cfg, char *err,
                                               size_t err_cap);

/* Overwrites the keys in cfg with zeros (for when the config is no longer needed). */
void vx_llm_config_wipe(vx_llm_config *cfg);

/* The built-in list price of a model in micro-USD per 1M tokens; false when unknown. */
VX_MUST_CHECK bool vx_llm_price_lookup(const char *provider, const char *model, uint64_t *price_in,
                                       uint64_t *price_out);

/* Parses "in,out" in USD per 1M tokens (decimals, up to 6 fraction digits, e.g. "0.59,0.79")
 * into micro-USD. VX_INVALID on bad text, negative values, more than 6 fraction digits or
 * values above 1e6 USD. Exact (no floating point). */
VX_MUST_CHECK vx_status vx_llm_price_parse(const char *s, uint64_t *price_in, uint64_t *price_out);

/* Cost of a call in micro-USD: ceil((in_tokens * price_in + out_tokens * price_out) / 1e6),
 * computed in 128-bit integers (exact; rounded up once, so a budget is never under-charged);
 * saturates at UINT64_MAX. */
uint64_t vx_llm_cost_micro_usd(uint64_t price_in, uint64_t price_out, uint64_t in_tokens,
                               uint64_t out_tokens);

/* micro-USD as Money (units + nanos), for InsightResult.cost_usd. */
vx_money vx_llm_micro_usd_to_money(uint64_t micro_usd);

#endif
