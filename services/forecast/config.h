/* services/forecast configuration, read once from VX_* variables into a const struct. */
#ifndef VX_FORECAST_CONFIG_H
#define VX_FORECAST_CONFIG_H

#include "vx/log.h"
#include "vx/pg.h"

#include <stdint.h>

typedef struct {
    const char *nats_url;
    vx_pg_config pg; /* VX_PG_*: DSN and pool (vx_pg_config_from_env) */
    const char *redis_url;
    const char *subject; /* serves <subject>.run and <subject>.anomalies */
    const char *queue;   /* queue group shared by the replicas */
    int workers;         /* subscriptions per subject: requests handled at once */
    int fit_threads;     /* parts of one request fitted at once */
    int64_t max_input;   /* records behind the rollup rows of one request */
    int64_t cache_ttl_ms;
    int64_t redis_timeout_ms;
    const char *ops_host;
    int ops_port;
    vx_log_level log_level;
} fc_config;

/* Reads the environment; exits 78 naming the variable on a bad value. */
void fc_config_load(fc_config *cfg);
/* Prints the variables, their defaults and meaning (for --help). */
void fc_config_usage(void);

#endif
