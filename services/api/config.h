/* services/api configuration: its settings table, read once into a const struct. */
#ifndef VX_API_CONFIG_H
#define VX_API_CONFIG_H

#include "vx/service.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    vx_service_config svc; /* NATS, Postgres, Redis, log level */
    const char *host;
    int port;
    int loops;
    const char *events_subject; /* publishes to <subject>.<tenant_id> */
    const char *events_stream;
    const char *changed_subject; /* ingest announces <subject>.<tenant_id> after commits */
    int64_t duplicate_window_ms;
    const char *cursor_secret_text;
    const uint8_t *cursor_secret;
    size_t cursor_secret_len;
    int64_t key_cache_ttl_ms;
    int64_t cache_max_age_ms;     /* summary answers are served at most this long */
    int64_t service_timeout_ms;   /* deadline of requests to forecast and llm */
    const char *forecast_subject; /* <subject>.run and <subject>.anomalies */
    const char *llm_subject;
    int64_t idempotency_ttl_ms; /* how long an Idempotency-Key stays bound to its events */
} api_config;

/* The service's definition (settings, what it uses) for vx_service_begin, filling *cfg. */
void api_config_def(api_config *cfg, vx_service_def *def);

#endif
