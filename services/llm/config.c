/* VX_* settings of services/llm, with working local defaults (see llm_config_usage). */
#include "config.h"

#include "handlers/budget_rules.h"
#include "vx/config.h"
#include "vx/subjects.h"

#include <stdio.h>

void llm_config_usage(void)
{
    fputs("valdrix-llm: cost insights over NATS (svc.llm.insight), written by LLM providers in\n"
          "order with failover, within each tenant's monthly LLM budget, cached in Redis; the\n"
          "`local` provider writes them from the numbers alone, without any network.\n"
          "\n"
          "usage: valdrix-llm [--help]\n"
          "\n"
          "Configuration (environment):\n"
          "  VX_NATS_URL              NATS server (nats://127.0.0.1:14222)\n"
          "  VX_REDIS_URL             Redis for the budget and the cache "
          "(redis://127.0.0.1:16379/0);\n"
          "                           while it is unreachable no paid provider is called\n"
          "  VX_LLM_SUBJECT           subject of insight requests (svc.llm.insight)\n"
          "  VX_LLM_QUEUE             queue group shared by replicas (llm)\n"
          "  VX_LLM_WORKERS           requests handled at once by one replica (4)\n"
          "  VX_LLM_FORECAST_SUBJECT  the forecast service, <subject>.run and <subject>.anomalies\n"
          "                           (svc.forecast)\n"
          "  VX_LLM_FORECAST_TIMEOUT  how long to wait for it before going on without (2s; 0: "
          "never ask)\n"
          "  VX_LLM_CACHE_TTL         how long an insight is cached (24h; 0: no cache)\n"
          "  VX_LLM_MONTHLY_BUDGET_USD  monthly LLM budget of a starter tenant in USD, times 3\n"
          "                           (growth), 5 (pro), 10 (enterprise), unless the tenant's\n"
          "                           llm_budget_usd is set (10)\n"
          "  VX_LLM_RESERVATION_TTL   a reservation not settled within this is dropped\n"
          "                           (twice VX_LLM_TIMEOUT)\n"
          "  VX_LLM_DEADLINE          deadline of a request that carries no Vx-Deadline-Ms (30s)\n"
          "  VX_LLM_PROVIDERS         providers in order, e.g. groq:llama-3.3-70b-versatile,\n"
          "                           openai:gpt-4o-mini,anthropic:claude-3-5-haiku-latest,local\n"
          "                           (local); one without a key is left out\n"
          "  VX_LLM_<NAME>_KEY        a provider's key (or GROQ_API_KEY, OPENAI_API_KEY,\n"
          "                           ANTHROPIC_API_KEY)\n"
          "  VX_LLM_<NAME>_URL        a provider's base URL (https://, or http:// on loopback)\n"
          "  VX_LLM_PRICE_<NAME>      \"in,out\" USD per 1M tokens (built-in list prices)\n"
          "  VX_LLM_TIMEOUT / VX_LLM_CONNECT_TIMEOUT  per provider call (30s / 2s)\n"
          "  VX_LLM_MAX_OUTPUT_TOKENS answer length asked for, and reserved (1024)\n"
          "  VX_LLM_MAX_RETRY_AFTER   longest Retry-After honoured (10m)\n"
          "  VX_LLM_BREAKER_WINDOW / VX_LLM_BREAKER_MIN_CALLS / VX_LLM_BREAKER_OPEN\n"
          "                           each provider's circuit breaker (20 / 5 / 5s)\n"
          "  VX_REDIS_POOL_SIZE       Redis connections (VX_LLM_WORKERS + 1)\n"
          "  VX_REDIS_TIMEOUT         per Redis command (250ms)\n" VX_PG_ENV_USAGE
          "  VX_OPS_HOST / VX_LLM_OPS_PORT  /metrics /healthz /readyz listener (127.0.0.1:9103)\n"
          "  VX_LOG_LEVEL             debug, info, warn, error (info)\n",
          stdout);
}

void llm_config_load(llm_config *c)
{
    c->nats_url = vx_env_str("VX_NATS_URL", VX_DEFAULT_NATS_URL);
    vx_pg_config_from_env(&c->pg);
    c->redis_url = vx_env_str("VX_REDIS_URL", "redis://127.0.0.1:16379/0");
    c->subject = vx_env_str("VX_LLM_SUBJECT", "svc.llm.insight");
    c->queue = vx_env_str("VX_LLM_QUEUE", "llm");
    c->workers = (int)vx_env_int("VX_LLM_WORKERS", 4, 1, 64);
    c->forecast_subject = vx_env_str("VX_LLM_FORECAST_SUBJECT", "svc.forecast");
    c->forecast_timeout_ms = vx_env_duration_ms("VX_LLM_FORECAST_TIMEOUT", 2000, 0, 60000);
    c->cache_ttl_ms = vx_env_duration_ms("VX_LLM_CACHE_TTL", 86400000, 0, 30LL * 86400000);
    const char *budget = vx_env_str("VX_LLM_MONTHLY_BUDGET_USD", "10");
    if (!llm_usd_to_micro(budget, &c->default_budget_micro))
        vx_config_fail("VX_LLM_MONTHLY_BUDGET_USD",
                       "not a non-negative amount in USD such as 10 or 2.5 (at most 1e9)");
    c->reservation_ttl_ms = vx_env_duration_ms("VX_LLM_RESERVATION_TTL", 0, 1000, 3600000);
    c->default_deadline_ms = vx_env_duration_ms("VX_LLM_DEADLINE", 30000, 100, 600000);
    c->redis_pool_size = (int)vx_env_int("VX_REDIS_POOL_SIZE", c->workers + 1, 1, 256);
    c->redis_timeout_ms = vx_env_duration_ms("VX_REDIS_TIMEOUT", 250, 10, 60000);
    c->ops_host = vx_env_str("VX_OPS_HOST", "127.0.0.1");
    c->ops_port = (int)vx_env_int("VX_LLM_OPS_PORT", 9103, 0, 65535);
    const char *lvl = vx_env_str("VX_LOG_LEVEL", "info");
    if (!vx_log_level_parse(lvl, &c->log_level))
        vx_config_fail("VX_LOG_LEVEL", "not one of debug, info, warn, error, off");
}
