/* VX_* settings of services/llm, with working local defaults: one table for loading and for
 * --help. */
#include "config.h"

#include "handlers/budget_rules.h"
#include "vx/config.h"

#include <stdio.h>

static bool usd_ok(const char *v, char *why, size_t cap)
{
    uint64_t micro;
    if (llm_usd_to_micro(v, &micro))
        return true;
    snprintf(why, cap, "not a non-negative amount in USD such as 10 or 2.5 (at most 1e9)");
    return false;
}

#define T llm_config
static const vx_setting settings[] = {
    VX_SERVICE_SET_NATS(T),
    VX_SERVICE_SET_REDIS(T, "Redis for the budget and the cache; while it is unreachable\n"
                            "no paid provider is called"),
    VX_SET_STR_CHECKED("VX_LLM_SUBJECT", T, subject, "svc.llm.insight", vx_service_check_subject,
                       "subject of insight requests"),
    VX_SET_STR_CHECKED("VX_LLM_QUEUE", T, queue, "llm", vx_service_check_queue,
                       "queue group shared by replicas"),
    VX_SET_INT("VX_LLM_WORKERS", T, workers, "4", 1, 64, "requests handled at once by one replica"),
    VX_SET_STR_CHECKED("VX_LLM_FORECAST_SUBJECT", T, forecast_subject, "svc.forecast",
                       vx_service_check_subject,
                       "the forecast service, <subject>.run and <subject>.anomalies"),
    VX_SET_DURATION("VX_LLM_FORECAST_TIMEOUT", T, forecast_timeout_ms, "2s", 0, 60000,
                    "how long to wait for it before going on without (0: never ask)"),
    VX_SET_DURATION("VX_LLM_CACHE_TTL", T, cache_ttl_ms, "24h", 0, 30LL * 86400000,
                    "how long an insight is cached (0: no cache)"),
    VX_SET_STR_CHECKED("VX_LLM_MONTHLY_BUDGET_USD", T, budget_usd, "10", usd_ok,
                       "monthly LLM budget of a starter tenant in USD, times 3\n(growth), 5 "
                       "(pro), 10 (enterprise), unless the tenant's\nllm_budget_usd is set"),
    VX_SET_DURATION("VX_LLM_RESERVATION_TTL", T, reservation_ttl_ms, NULL, 1000, 3600000,
                    "a reservation not settled within this is dropped\n(twice VX_LLM_TIMEOUT)"),
    VX_SET_DURATION(
        "VX_LLM_DEADLINE", T, default_deadline_ms, "30s", 100, 600000,
        "deadline of a request that carries neither\nVx-Deadline-At nor Vx-Deadline-Ms"),
    VX_SET_NOTE(
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
        "                           each provider's circuit breaker (20 / 5 / 5s)"),
    VX_SET_INT("VX_REDIS_POOL_SIZE", T, svc.redis_pool_size, NULL, 1, 256,
               "Redis connections (VX_LLM_WORKERS + 1)"),
    VX_SET_DURATION("VX_REDIS_TIMEOUT", T, svc.redis_timeout_ms, "250ms", 10, 60000,
                    "per Redis command"),
    VX_SERVICE_SET_PG,
    VX_SERVICE_SET_OPS(T, "VX_LLM_OPS_PORT", "9103"),
    VX_SERVICE_SET_LOG(T),
};
#undef T

static void check(void *config)
{
    llm_config *c = config;
    if (!llm_usd_to_micro(c->budget_usd, &c->default_budget_micro))
        vx_config_fail("VX_LLM_MONTHLY_BUDGET_USD", "not an amount in USD");
    if (c->svc.redis_pool_size == 0)
        c->svc.redis_pool_size = c->workers + 1;
}

void llm_config_def(llm_config *cfg, vx_service_def *def)
{
    *def = (vx_service_def){
        .name = "llm",
        .about = "valdrix-llm: cost insights over NATS (svc.llm.insight), written by LLM "
                 "providers in\n"
                 "order with failover, within each tenant's monthly LLM budget, cached in Redis; "
                 "the\n"
                 "`local` provider writes them from the numbers alone, without any network.\n"
                 "\n"
                 "usage: valdrix-llm [--help]\n",
        .settings = settings,
        .n_settings = sizeof settings / sizeof settings[0],
        .config = cfg,
        .svc = &cfg->svc,
        .uses = VX_SERVICE_PG | VX_SERVICE_REDIS | VX_SERVICE_OPS,
        .check = check,
        .send_asap = true,
    };
}
