/* services/forecast configuration: its settings table, read once into a const struct. */
#ifndef VX_FORECAST_CONFIG_H
#define VX_FORECAST_CONFIG_H

#include "vx/service.h"

#include <stdint.h>

typedef struct {
    vx_service_config svc; /* NATS, Postgres, Redis, ops listener, log level */
    const char *subject;   /* serves <subject>.run and <subject>.anomalies */
    const char *queue;     /* queue group shared by the replicas */
    int workers;           /* subscriptions per subject: requests handled at once */
    int fit_threads;       /* parts of one request fitted at once */
    int64_t max_input;     /* records behind the rollup rows of one request */
    int64_t cache_ttl_ms;
} fc_config;

/* The service's definition (settings, what it uses) for vx_service_begin, filling *cfg. */
void fc_config_def(fc_config *cfg, vx_service_def *def);

#endif
