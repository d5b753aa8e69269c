/* valdrix-llm: wiring only. The skeleton (libs/service) brings up config, logs, metrics, the
 * Postgres pool, Redis and the ops listener, connects NATS and drains on SIGTERM; here are the
 * provider router, the budget, the readiness check and the insight subscriptions. */
#include "config.h"
#include "insight.h"
#include "vx/config.h"

#include <stdio.h>
#include <string.h>

static llm_config cfg;
static llm_svc svc = {.cfg = &cfg};

/* Redis is not required (local still answers, and paid calls stop by themselves while it is
 * away), so it is only reported; NATS and Postgres are the skeleton's checks. */
static bool ready(void *arg, char *why, size_t cap)
{
    llm_svc *s = arg;
    if (s->redis && !vx_redis_healthy(s->redis))
        snprintf(why, cap, "redis: unreachable; no paid LLM calls and no cache until it is back");
    return true;
}

static void destroy_router(void *r)
{
    vx_llm_router_destroy(r);
}

static void destroy_budget(void *b)
{
    llm_budget_destroy(b);
}

int main(int argc, char **argv)
{
    vx_service_def def;
    llm_config_def(&cfg, &def);
    def.ready = ready;
    def.ready_ctx = &svc;
    def.pg_ok = &svc.pg_ok;
    def.bus_slot = &svc.bus;
    vx_service *s;
    int rc = vx_service_begin(&def, argc, argv, &s);
    if (!s)
        return rc;
    char err[1024] = "";
    vx_llm_config lc;
    if (vx_llm_config_from_env(&lc, err, sizeof err) != VX_OK) {
        fprintf(stderr, "valdrix-llm: %s\n", err);
        return vx_service_abort(s, VX_EXIT_CONFIG);
    }
    if (cfg.reservation_ttl_ms == 0)
        cfg.reservation_ttl_ms = 2 * lc.timeout_ms;
    else if (cfg.reservation_ttl_ms <= lc.timeout_ms) {
        vx_llm_config_wipe(&lc);
        fprintf(stderr, "valdrix-llm: VX_LLM_RESERVATION_TTL must be longer than VX_LLM_TIMEOUT "
                        "(a call would outlive its reservation)\n");
        return vx_service_abort(s, VX_EXIT_CONFIG);
    }
    svc.pool = vx_service_pool(s);
    svc.redis = vx_service_redis(s);
    llm_metrics_register(&svc.m, vx_service_metrics(s));
    vx_status st = vx_llm_router_create(&lc, vx_service_metrics(s), "valdrix_llm", NULL,
                                        &svc.router, err, sizeof err);
    vx_llm_config_wipe(&lc);
    if (st != VX_OK) {
        fprintf(stderr, "valdrix-llm: %s\n", err);
        return vx_service_abort(s, VX_EXIT_CONFIG);
    }
    vx_service_defer(s, destroy_router, svc.router);
    svc.budget = llm_budget_create(svc.redis, svc.pool, cfg.reservation_ttl_ms, &svc.m.budget);
    vx_service_defer(s, destroy_budget, svc.budget);

    const char *names[VX_LLM_MAX_PROVIDERS];
    size_t n_providers = vx_llm_router_providers(svc.router, names, VX_LLM_MAX_PROVIDERS);
    svc.local_first = n_providers > 0 && strcmp(names[0], "local") == 0;
    char providers[256] = "";
    for (size_t i = 0; i < n_providers; i++)
        snprintf(providers + strlen(providers), sizeof providers - strlen(providers), "%s%s",
                 i ? "," : "", names[i]);
    char redis[256];
    vx_redact_url(cfg.svc.redis_url, redis, sizeof redis);
    vx_log(VX_LOG_INFO, "llm settings", VX_STR("redis", redis), VX_STR("subject", cfg.subject),
           VX_STR("queue", cfg.queue), VX_INT("workers", cfg.workers),
           VX_STR("providers", providers));

    vx_service_step(s, "postgres check", vx_service_check_pg, s);
    vx_service_serve(s, cfg.subject, cfg.queue, llm_insight_handle, &svc, cfg.workers);
    return vx_service_run(s, NULL, NULL);
}
