/* VX_* settings of services/ingest, with working local defaults: one table for loading and
 * for --help. */
#include "config.h"

#include "vx/subjects.h"

#define T ingest_config
static const vx_setting settings[] = {
    VX_SERVICE_SET_NATS(T),
    VX_SET_STR("VX_INGEST_STREAM", T, stream, VX_DEFAULT_EVENTS_STREAM, "stream of cost events"),
    VX_SET_STR_CHECKED("VX_INGEST_SUBJECT", T, subject_prefix, VX_DEFAULT_EVENTS_SUBJECT,
                       vx_service_check_subject, "events arrive on <subject>.<tenant_id>"),
    VX_SET_STR("VX_DLQ_STREAM", T, dlq_stream, VX_DEFAULT_DLQ_STREAM, "dead-letter stream"),
    VX_SET_STR_CHECKED("VX_DLQ_SUBJECT", T, dlq_prefix, VX_DEFAULT_DLQ_SUBJECT,
                       vx_service_check_subject, "poison goes to <subject>.<tenant_id>"),
    VX_SET_STR("VX_INGEST_DURABLE", T, durable, "ingest", "durable consumer shared by replicas"),
    VX_SET_STR_CHECKED("VX_CHANGED_SUBJECT", T, changed_prefix, VX_DEFAULT_CHANGED_SUBJECT,
                       vx_service_check_subject, "announces <subject>.<tenant_id> after commits"),
    VX_SET_DURATION("VX_DUPLICATE_WINDOW", T, duplicate_window_ms, VX_DEFAULT_DUPLICATE_WINDOW,
                    1000, 86400000, "JetStream Nats-Msg-Id window"),
    VX_SET_DURATION("VX_INGEST_ACK_WAIT", T, ack_wait_ms, "30s", 1000, 3600000,
                    "redelivery after this long without ack"),
    VX_SET_INT("VX_INGEST_FETCH", T, fetch_max, "64", 1, 4096,
               "messages per pull (and at most per batch transaction)"),
    VX_SET_INT64("VX_INGEST_BATCH_BYTES", T, batch_bytes, "16777216", 1, INT64_C(1) << 32,
                 "a batch is closed once its messages reach this many bytes"),
    VX_SET_INT("VX_INGEST_TENANT_CACHE", T, tenant_cache, "100000", 1, 10000000,
               "tenants remembered as existing (least recently used evicted)"),
    VX_SET_INT("VX_INGEST_TIMEOUT_DELIVERIES", T, timeout_deliveries, "5", 1, 1000,
               "a message whose write still times out alone is dead-lettered on this delivery"),
    VX_SET_INT("VX_INGEST_WRITERS", T, writers, "2", 1, 16,
               "batches written at once, one connection each"),
    VX_SET_INT("VX_INGEST_MAX_ACK_PENDING", T, max_ack_pending, "4096", 1, 1000000,
               "messages in flight across replicas"),
    VX_SET_INT64("VX_INGEST_STREAM_MAX_MB", T, stream_max_mb, "2048", 1, 1048576,
                 "size bound of the event stream in MiB; when full, publishers get an error "
                 "(POST /v1/cost-events 503) until ingest drains it"),
    VX_SET_DURATION("VX_INGEST_REPLAY_WINDOW", T, replay_window_ms, "0s", 0, 31536000000LL,
                    "0: an event leaves the stream once ingest has stored it (work queue);\n"
                    "otherwise stored events stay this long for replay, and so does an event\n"
                    "ingest has not taken yet: the window is also the longest outage it survives"),
    VX_SET_INT64("VX_DLQ_MAX_MB", T, dlq_max_mb, "512", 1, 1048576,
                 "size bound of the dead-letter stream in MiB (the oldest go when full)"),
    VX_SET_DURATION("VX_DLQ_MAX_AGE", T, dlq_max_age_ms, "720h", 60000, 31536000000LL,
                    "dead letters older than this go (30 days)"),
    VX_SET_INT("VX_PARTITION_MONTHS_AHEAD", T, months_ahead, "3", 0, 120,
               "partitions made ahead at start"),
    VX_SERVICE_SET_PG,
    VX_SERVICE_SET_OPS(T, "VX_OPS_PORT", "9101"),
    VX_SERVICE_SET_LOG(T),
};
#undef T

void ingest_config_def(ingest_config *cfg, vx_service_def *def)
{
    cfg->fetch_wait_ms = 1000;
    *def = (vx_service_def){
        .name = "ingest",
        .about = "valdrix-ingest: takes cost events from JetStream into the Postgres ledger "
                 "exactly once.\n"
                 "\n"
                 "usage: valdrix-ingest [--help]\n",
        .settings = settings,
        .n_settings = sizeof settings / sizeof settings[0],
        .config = cfg,
        .svc = &cfg->svc,
        .uses = VX_SERVICE_PG | VX_SERVICE_OPS,
    };
}
