/* services/llm configuration: its settings table, read once into a const struct. */
#ifndef VX_LLM_SVC_CONFIG_H
#define VX_LLM_SVC_CONFIG_H

#include "vx/service.h"

#include <stdint.h>

typedef struct {
    vx_service_config svc;        /* NATS, Postgres, Redis, ops listener, log level */
    const char *subject;          /* insight requests (svc.llm.insight) */
    const char *queue;            /* queue group shared by replicas (llm) */
    int workers;                  /* subscriptions, i.e. requests handled at once */
    const char *forecast_subject; /* <prefix>.run and <prefix>.anomalies (svc.forecast) */
    int64_t forecast_timeout_ms;
    int64_t cache_ttl_ms;          /* 0: no cache */
    const char *budget_usd;        /* VX_LLM_MONTHLY_BUDGET_USD as written */
    uint64_t default_budget_micro; /* monthly, for the starter plan */
    int64_t reservation_ttl_ms;    /* 0: twice the provider timeout */
    int64_t default_deadline_ms;   /* for requests without Vx-Deadline-At or -Ms */
} llm_config;

/* The service's definition (settings, what it uses) for vx_service_begin, filling *cfg. The
 * providers' settings (VX_LLM_PROVIDERS, keys, URLs, prices, timeouts) are read by libs/llm
 * (vx_llm_config_from_env); the table only describes them. */
void llm_config_def(llm_config *cfg, vx_service_def *def);

#endif
