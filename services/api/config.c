/* VX_* settings of services/api, with working local defaults: one table for loading and for
 * --help. */
#include "config.h"

#include "vx/subjects.h"

#include <stdio.h>
#include <string.h>

static bool secret_ok(const char *v, char *why, size_t cap)
{
    if (strlen(v) >= 16)
        return true;
    snprintf(why, cap, "shorter than 16 bytes");
    return false;
}

#define T api_config
static const vx_setting settings[] = {
    VX_SET_STR("VX_API_HOST", T, host, "127.0.0.1", "where to listen (an IP literal)"),
    VX_SET_INT("VX_API_PORT", T, port, "8080", 0, 65535, "its port (0: any free port)"),
    VX_SET_INT("VX_API_LOOPS", T, loops, "1", 1, 64, "event loops, one thread each"),
    VX_SERVICE_SET_NATS(T),
    VX_SERVICE_SET_REDIS(T, "Redis for rate limits and Idempotency-Keys"),
    VX_SET_STR_CHECKED("VX_CURSOR_SECRET", T, cursor_secret_text, NULL, secret_ok,
                       "key that signs paging cursors; the same on every replica\n(at least 16 "
                       "bytes; see .run/env)"),
    VX_SET_STR_CHECKED("VX_INGEST_SUBJECT", T, events_subject, VX_DEFAULT_EVENTS_SUBJECT,
                       vx_service_check_subject, "events are published to <subject>.<tenant_id>"),
    VX_SET_STR("VX_INGEST_STREAM", T, events_stream, VX_DEFAULT_EVENTS_STREAM,
               "the stream that takes them"),
    VX_SET_DURATION("VX_DUPLICATE_WINDOW", T, duplicate_window_ms, VX_DEFAULT_DUPLICATE_WINDOW,
                    1000, 86400000, "JetStream Nats-Msg-Id window"),
    VX_SET_STR_CHECKED("VX_CHANGED_SUBJECT", T, changed_subject, VX_DEFAULT_CHANGED_SUBJECT,
                       vx_service_check_subject,
                       "ingest's announcements, which clear cached summaries"),
    VX_SET_DURATION("VX_API_CACHE_MAX_AGE", T, cache_max_age_ms, "10s", 0, 3600000,
                    "longest a cached summary is served, even without an\nannouncement (0 turns "
                    "the cache off)"),
    VX_SET_DURATION("VX_API_KEY_CACHE_TTL", T, key_cache_ttl_ms, "10s", 0, 3600000,
                    "how long a key lookup is trusted"),
    VX_SET_DURATION("VX_API_SERVICE_TIMEOUT", T, service_timeout_ms, "10s", 10, 600000,
                    "deadline of forecast and insight requests"),
    VX_SET_STR_CHECKED("VX_FORECAST_SUBJECT", T, forecast_subject, "svc.forecast",
                       vx_service_check_subject,
                       "the forecast service's subjects, <subject>.run and\n<subject>.anomalies"),
    VX_SET_STR_CHECKED("VX_LLM_SUBJECT", T, llm_subject, "svc.llm.insight",
                       vx_service_check_subject, "the llm service's subject"),
    VX_SET_DURATION("VX_API_IDEMPOTENCY_TTL", T, idempotency_ttl_ms, "24h", 1000, 30LL * 86400000,
                    "how long an Idempotency-Key stays bound to the events it\nwas first sent "
                    "with; reusing it for others is 422"),
    VX_SERVICE_SET_PG,
    VX_SERVICE_SET_LOG(T),
};
#undef T

static void check(void *config)
{
    api_config *c = config;
    c->cursor_secret = (const uint8_t *)c->cursor_secret_text;
    c->cursor_secret_len = strlen(c->cursor_secret_text);
    /* small per-tenant reads: parallel workers cost more to start than they save */
    c->svc.pg.session_options = "-c max_parallel_workers_per_gather=0";
}

void api_config_def(api_config *cfg, vx_service_def *def)
{
    *def = (vx_service_def){
        .name = "api",
        .about = "valdrix-api: the HTTP API (auth, per-tenant rate limits, costs, events, "
                 "usage,\nforecasts, anomalies, insights).\n"
                 "\n"
                 "usage: valdrix-api [--help]\n"
                 "\n"
                 "/healthz, /readyz and /metrics are served on the API port itself.\n",
        .settings = settings,
        .n_settings = sizeof settings / sizeof settings[0],
        .config = cfg,
        .svc = &cfg->svc,
        .uses = VX_SERVICE_PG | VX_SERVICE_REDIS,
        .check = check,
    };
}
