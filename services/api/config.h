/* services/api configuration, read once from VX_* variables into a const struct. */
#ifndef VX_API_CONFIG_H
#define VX_API_CONFIG_H

#include "vx/log.h"
#include "vx/pg.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *host;
    int port;
    unsigned loops;
    vx_pg_config pg; /* VX_PG_*: DSN and pool (vx_pg_config_from_env) */
    const char *nats_url;
    const char *redis_url;
    const char *events_subject; /* publishes to <subject>.<tenant_id> */
    const char *events_stream;
    const char *changed_subject; /* ingest announces <subject>.<tenant_id> after commits */
    int64_t duplicate_window_ms;
    const uint8_t *cursor_secret;
    size_t cursor_secret_len;
    int64_t key_cache_ttl_ms;
    int64_t cache_max_age_ms;     /* summary answers are served at most this long */
    int64_t service_timeout_ms;   /* deadline of requests to forecast and llm */
    const char *forecast_subject; /* <subject>.run and <subject>.anomalies */
    const char *llm_subject;
    int64_t idempotency_ttl_ms; /* how long an Idempotency-Key stays bound to its events */
    vx_log_level log_level;
} api_config;

/* Reads the environment; exits 78 naming the variable on a bad value. */
void api_config_load(api_config *cfg);
void api_config_usage(void);

#endif
