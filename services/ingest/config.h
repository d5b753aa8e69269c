/* services/ingest configuration: its settings table, read once into a const struct. */
#ifndef VX_INGEST_CONFIG_H
#define VX_INGEST_CONFIG_H

#include "vx/service.h"

#include <stdint.h>

typedef struct {
    vx_service_config svc;      /* NATS, Postgres, ops listener, log level */
    const char *stream;         /* JetStream stream of cost events */
    const char *subject_prefix; /* events arrive on <prefix>.<tenant_id> */
    const char *dlq_stream;
    const char *dlq_prefix;     /* poison goes to <dlq_prefix>.<tenant_id> */
    const char *durable;        /* pull consumer shared by every replica */
    const char *changed_prefix; /* <prefix>.<tenant_id> announces committed changes */
    int64_t duplicate_window_ms;
    int64_t ack_wait_ms;
    int fetch_max;
    int64_t batch_bytes;    /* a batch is closed when its messages reach this size */
    int tenant_cache;       /* bound of the LRU cache of tenants known to exist */
    int timeout_deliveries; /* a lone message timing out this often is dead-lettered */
    int writers;            /* threads writing batches, each with its own connection */
    int64_t fetch_wait_ms;
    int max_ack_pending;
    int months_ahead;
    int64_t stream_max_mb;    /* COST_EVENTS' size bound; full: publishers are refused */
    int64_t replay_window_ms; /* 0: work queue (a message goes once acked); else kept this long */
    int64_t dlq_max_mb;
    int64_t dlq_max_age_ms;
} ingest_config;

/* The service's definition (settings, what it uses) for vx_service_begin, filling *cfg. */
void ingest_config_def(ingest_config *cfg, vx_service_def *def);

#endif
