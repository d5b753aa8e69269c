/* The request path of services/forecast: decode and check (a request whose caller's deadline,
 * Vx-Deadline-At or Vx-Deadline-Ms, has already passed is answered DEADLINE without any work),
 * open the tenant's snapshot, answer
 * from the Redis cache when the reply for this data version is there, otherwise read the
 * rollup, bound the input, compute, cache and answer; one JSON log line and the metrics per
 * request. */
#ifndef VX_FORECAST_SERVICE_H
#define VX_FORECAST_SERVICE_H

#include "config.h"
#include "handlers/request.h"
#include "vx/bus.h"
#include "vx/metrics.h"
#include "vx/pg.h"
#include "vx/redis.h"

#include <stdatomic.h>
#include <stdbool.h>

typedef enum {
    FC_OUT_OK,
    FC_OUT_INVALID,
    FC_OUT_TOO_LARGE,
    FC_OUT_UNAVAILABLE,
    FC_OUT_DEADLINE,
    FC_OUT_INTERNAL,
    FC_OUT_COUNT
} fc_outcome;

typedef struct {
    vx_counter *requests[2][FC_OUT_COUNT]; /* [kind][outcome] */
    vx_histogram *duration[2];             /* [kind] */
    vx_histogram *fit;
    vx_counter *cache_hits, *cache_misses, *cache_errors;
    vx_counter *records_read, *rows_read;
    vx_gauge *in_flight;
    vx_counter *expired; /* dropped unworked: the caller's deadline had passed at pickup */
} fc_metrics;

typedef struct {
    const fc_config *cfg;
    vx_bus *bus;
    vx_pg_pool *pool;
    vx_redis *redis;
    fc_metrics m;
    atomic_bool pg_ok; /* the last Postgres operation succeeded (for /readyz) */
} fc_service;

void fc_metrics_register(fc_metrics *m, vx_metrics *reg);

/* vx_bus handlers of <subject>.run and <subject>.anomalies; ctx is the fc_service. Every
 * request gets a reply (a result or an Error), whatever its bytes; a malformed deadline header
 * is INVALID. Thread-safe. */
void fc_handle_run(void *ctx, vx_bus_msg *req);
void fc_handle_anomalies(void *ctx, vx_bus_msg *req);

#endif
