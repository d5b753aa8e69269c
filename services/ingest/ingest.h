/* The ingest loop: fetch a batch from the durable consumer, write its valid events in one
 * transaction, dead-letter the rest, and ack only after the commit. */
#ifndef VX_INGEST_H
#define VX_INGEST_H

#include "config.h"
#include "vx/bus.h"
#include "vx/ledger.h"
#include "vx/metrics.h"
#include "vx/pg.h"
#include "vx/service.h"

#include <stdatomic.h>
#include <stdbool.h>

typedef struct {
    vx_counter *messages, *received, *written, *duplicate, *restated, *store_retries;
    vx_counter *settle_failures, *batches, *redelivered, *timeouts, *splits;
    vx_counter *dead[4]; /* by ingest_reject_kind */
    vx_histogram *batch_seconds;
    vx_gauge *pending, *ack_pending;
} ingest_metrics;

typedef struct {
    const ingest_config *cfg;
    vx_bus *bus;
    vx_bus_consumer *consumer;
    vx_pg_pool *pool;
    vx_ledger *ledger;
    ingest_metrics m;
    atomic_bool pg_ok; /* the last Postgres operation succeeded (for /readyz) */
    vx_service *host;  /* the skeleton: stop requests */
} ingest_ctx;

void ingest_metrics_register(ingest_metrics *m, vx_metrics *reg);

/* Runs until the service is asked to stop, then returns after settling the batch in hand.
 * Asks the service to stop itself when it cannot consume at all. */
void ingest_run(ingest_ctx *ctx);

#endif
