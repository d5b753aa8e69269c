/* VX_* settings of services/ingest, with working local defaults (see ingest_config_usage). */
#include "config.h"

#include "vx/config.h"
#include "vx/subjects.h"

#include <stdio.h>

void ingest_config_usage(void)
{
    fputs(
        "valdrix-ingest: takes cost events from JetStream into the Postgres ledger exactly once.\n"
        "\n"
        "usage: valdrix-ingest [--help]\n"
        "\n"
        "Configuration (environment):\n"
        "  VX_NATS_URL              NATS server (nats://127.0.0.1:14222)\n"
        "  VX_INGEST_STREAM         stream of cost events (COST_EVENTS)\n"
        "  VX_INGEST_SUBJECT        events arrive on <subject>.<tenant_id> (cost.events)\n"
        "  VX_DLQ_STREAM            dead-letter stream (COST_DLQ)\n"
        "  VX_DLQ_SUBJECT           poison goes to <subject>.<tenant_id> (cost.deadletter)\n"
        "  VX_INGEST_DURABLE        durable consumer shared by replicas (ingest)\n"
        "  VX_CHANGED_SUBJECT       announces <subject>.<tenant_id> after commits "
        "(valdrix.changed)\n"
        "  VX_DUPLICATE_WINDOW      JetStream Nats-Msg-Id window (5m)\n"
        "  VX_INGEST_ACK_WAIT       redelivery after this long without ack (30s)\n"
        "  VX_INGEST_FETCH          messages per batch transaction (64)\n"
        "  VX_INGEST_WRITERS        batches written at once, one connection each (2)\n"
        "  VX_INGEST_MAX_ACK_PENDING messages in flight across replicas (4096)\n"
        "  VX_PARTITION_MONTHS_AHEAD partitions made ahead at start (3)\n" VX_PG_ENV_USAGE
        "  VX_OPS_HOST / VX_OPS_PORT  /metrics /healthz /readyz listener (127.0.0.1:9101)\n"
        "  VX_LOG_LEVEL             debug, info, warn, error (info)\n",
        stdout);
}

void ingest_config_load(ingest_config *c)
{
    c->nats_url = vx_env_str("VX_NATS_URL", VX_DEFAULT_NATS_URL);
    vx_pg_config_from_env(&c->pg);
    c->stream = vx_env_str("VX_INGEST_STREAM", VX_DEFAULT_EVENTS_STREAM);
    c->subject_prefix = vx_env_str("VX_INGEST_SUBJECT", VX_DEFAULT_EVENTS_SUBJECT);
    c->dlq_stream = vx_env_str("VX_DLQ_STREAM", VX_DEFAULT_DLQ_STREAM);
    c->dlq_prefix = vx_env_str("VX_DLQ_SUBJECT", VX_DEFAULT_DLQ_SUBJECT);
    c->durable = vx_env_str("VX_INGEST_DURABLE", "ingest");
    c->changed_prefix = vx_env_str("VX_CHANGED_SUBJECT", VX_DEFAULT_CHANGED_SUBJECT);
    c->duplicate_window_ms =
        vx_env_duration_ms("VX_DUPLICATE_WINDOW", VX_DEFAULT_DUPLICATE_WINDOW_MS, 1000, 86400000);
    c->ack_wait_ms = vx_env_duration_ms("VX_INGEST_ACK_WAIT", 30000, 1000, 3600000);
    c->fetch_max = (int)vx_env_int("VX_INGEST_FETCH", 64, 1, 4096);
    c->fetch_wait_ms = 1000;
    c->writers = (int)vx_env_int("VX_INGEST_WRITERS", 2, 1, 16);
    c->max_ack_pending = (int)vx_env_int("VX_INGEST_MAX_ACK_PENDING", 4096, 1, 1000000);
    c->months_ahead = (int)vx_env_int("VX_PARTITION_MONTHS_AHEAD", 3, 0, 120);
    c->ops_host = vx_env_str("VX_OPS_HOST", "127.0.0.1");
    c->ops_port = (int)vx_env_int("VX_OPS_PORT", 9101, 0, 65535);
    const char *lvl = vx_env_str("VX_LOG_LEVEL", "info");
    if (!vx_log_level_parse(lvl, &c->log_level))
        vx_config_fail("VX_LOG_LEVEL", "not one of debug, info, warn, error, off");
}
