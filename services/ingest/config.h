/* services/ingest configuration, read once from VX_* variables into a const struct. */
#ifndef VX_INGEST_CONFIG_H
#define VX_INGEST_CONFIG_H

#include "vx/log.h"
#include "vx/pg.h"

#include <stdint.h>

typedef struct {
    const char *nats_url;
    vx_pg_config pg;            /* VX_PG_*: DSN and pool (vx_pg_config_from_env) */
    const char *stream;         /* JetStream stream of cost events */
    const char *subject_prefix; /* events arrive on <prefix>.<tenant_id> */
    const char *dlq_stream;
    const char *dlq_prefix;     /* poison goes to <dlq_prefix>.<tenant_id> */
    const char *durable;        /* pull consumer shared by every replica */
    const char *changed_prefix; /* <prefix>.<tenant_id> announces committed changes */
    int64_t duplicate_window_ms;
    int64_t ack_wait_ms;
    int fetch_max;
    int writers; /* threads writing batches, each with its own connection */
    int64_t fetch_wait_ms;
    int max_ack_pending;
    int months_ahead;
    const char *ops_host;
    int ops_port;
    vx_log_level log_level;
} ingest_config;

/* Reads the environment; exits 78 naming the variable on a bad value. */
void ingest_config_load(ingest_config *cfg);
/* Prints the variables, their defaults and meaning (for --help). */
void ingest_config_usage(void);

#endif
