/* services/llm configuration, read once from VX_* variables into a const struct. The provider
 * settings (VX_LLM_PROVIDERS, keys, URLs, prices, timeouts, breakers) are read by libs/llm
 * (vx_llm_config_from_env). */
#ifndef VX_LLM_SVC_CONFIG_H
#define VX_LLM_SVC_CONFIG_H

#include "vx/log.h"
#include "vx/pg.h"

#include <stdint.h>

typedef struct {
    const char *nats_url;
    vx_pg_config pg; /* VX_PG_*: DSN and pool (vx_pg_config_from_env) */
    const char *redis_url;
    const char *subject;          /* insight requests (svc.llm.insight) */
    const char *queue;            /* queue group shared by replicas (llm) */
    int workers;                  /* subscriptions, i.e. requests handled at once */
    const char *forecast_subject; /* <prefix>.run and <prefix>.anomalies (svc.forecast) */
    int64_t forecast_timeout_ms;
    int64_t cache_ttl_ms;          /* 0: no cache */
    uint64_t default_budget_micro; /* monthly, for the starter plan */
    int64_t reservation_ttl_ms;    /* 0: twice the provider timeout */
    int64_t default_deadline_ms;   /* for requests without Vx-Deadline-Ms */
    int redis_pool_size;
    int64_t redis_timeout_ms;
    const char *ops_host;
    int ops_port;
    vx_log_level log_level;
} llm_config;

/* Reads the environment; exits 78 naming the variable on a bad value. */
void llm_config_load(llm_config *cfg);
/* Prints the variables, their defaults and meaning (for --help). */
void llm_config_usage(void);

#endif
