/* VX_* settings of services/api, with working local defaults (see api_config_usage). */
#include "config.h"

#include "vx/config.h"
#include "vx/subjects.h"

#include <stdio.h>
#include <string.h>

void api_config_usage(void)
{
    fputs("valdrix-api: the HTTP API (auth, per-tenant rate limits, costs, events, usage).\n"
          "\n"
          "usage: valdrix-api [--help]\n"
          "\n"
          "/healthz, /readyz and /metrics are served on the API port itself.\n"
          "\n"
          "Configuration (environment):\n"
          "  VX_API_HOST / VX_API_PORT  where to listen (127.0.0.1:8080)\n"
          "  VX_API_LOOPS             event loops, one thread each (1)\n"
          "  VX_NATS_URL              NATS server (nats://127.0.0.1:14222)\n"
          "  VX_REDIS_URL             Redis for rate limits and Idempotency-Keys\n"
          "                           (redis://127.0.0.1:16379/0)\n"
          "  VX_CURSOR_SECRET         key that signs paging cursors; the same on every replica\n"
          "                           (required; at least 16 bytes; see .run/env)\n"
          "  VX_INGEST_SUBJECT / VX_INGEST_STREAM  where events are published (cost.events, "
          "COST_EVENTS)\n"
          "  VX_CHANGED_SUBJECT       ingest's announcements, which clear cached summaries\n"
          "                           (valdrix.changed)\n"
          "  VX_API_CACHE_MAX_AGE     longest a cached summary is served, even without an\n"
          "                           announcement (10s; 0 turns the cache off)\n"
          "  VX_API_KEY_CACHE_TTL     how long a key lookup is trusted (10s)\n"
          "  VX_API_SERVICE_TIMEOUT   deadline of forecast and insight requests (10s)\n"
          "  VX_FORECAST_SUBJECT      the forecast service's subjects, <subject>.run and\n"
          "                           <subject>.anomalies (svc.forecast)\n"
          "  VX_LLM_SUBJECT           the llm service's subject (svc.llm.insight)\n"
          "  VX_API_IDEMPOTENCY_TTL   how long an Idempotency-Key stays bound to the events it\n"
          "                           was first sent with; reusing it for others is 422 "
          "(24h)\n" VX_PG_ENV_USAGE "  VX_LOG_LEVEL             debug, info, warn, error (info)\n",
          stdout);
}

void api_config_load(api_config *c)
{
    c->host = vx_env_str("VX_API_HOST", "127.0.0.1");
    c->port = (int)vx_env_int("VX_API_PORT", 8080, 0, 65535);
    c->loops = (unsigned)vx_env_int("VX_API_LOOPS", 1, 1, 64);
    vx_pg_config_from_env(&c->pg);
    c->nats_url = vx_env_str("VX_NATS_URL", VX_DEFAULT_NATS_URL);
    c->redis_url = vx_env_str("VX_REDIS_URL", "redis://127.0.0.1:16379/0");
    c->events_subject = vx_env_str("VX_INGEST_SUBJECT", VX_DEFAULT_EVENTS_SUBJECT);
    c->events_stream = vx_env_str("VX_INGEST_STREAM", VX_DEFAULT_EVENTS_STREAM);
    c->changed_subject = vx_env_str("VX_CHANGED_SUBJECT", VX_DEFAULT_CHANGED_SUBJECT);
    c->duplicate_window_ms =
        vx_env_duration_ms("VX_DUPLICATE_WINDOW", VX_DEFAULT_DUPLICATE_WINDOW_MS, 1000, 86400000);
    const char *secret = vx_env_str("VX_CURSOR_SECRET", NULL);
    if (!secret)
        vx_config_fail("VX_CURSOR_SECRET", "not set (the stack writes it to .run/env)");
    if (strlen(secret) < 16)
        vx_config_fail("VX_CURSOR_SECRET", "shorter than 16 bytes");
    c->cursor_secret = (const uint8_t *)secret;
    c->cursor_secret_len = strlen(secret);
    c->key_cache_ttl_ms = vx_env_duration_ms("VX_API_KEY_CACHE_TTL", 10000, 0, 3600000);
    c->cache_max_age_ms = vx_env_duration_ms("VX_API_CACHE_MAX_AGE", 10000, 0, 3600000);
    c->service_timeout_ms = vx_env_duration_ms("VX_API_SERVICE_TIMEOUT", 10000, 10, 600000);
    c->forecast_subject = vx_env_str("VX_FORECAST_SUBJECT", "svc.forecast");
    c->llm_subject = vx_env_str("VX_LLM_SUBJECT", "svc.llm.insight");
    c->idempotency_ttl_ms =
        vx_env_duration_ms("VX_API_IDEMPOTENCY_TTL", 86400000, 1000, 30LL * 86400000);
    const char *lvl = vx_env_str("VX_LOG_LEVEL", "info");
    if (!vx_log_level_parse(lvl, &c->log_level))
        vx_config_fail("VX_LOG_LEVEL", "not one of debug, info, warn, error, off");
}
