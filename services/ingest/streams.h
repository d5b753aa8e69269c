/* How full ingest's two streams are: a thread reads their state every few seconds into gauges,
 * and /readyz notes a stream above 80 % of its bound. */
#ifndef VX_INGEST_STREAMS_H
#define VX_INGEST_STREAMS_H

#include "config.h"
#include "vx/bus.h"
#include "vx/metrics.h"

#include <pthread.h>
#include <stdbool.h>

/* Fullness above which /readyz says so (it stays ready: ingest is what drains the stream). */
#define INGEST_STREAM_WARN 0.8

typedef struct {
    vx_gauge *bytes, *max_bytes, *msgs, *fullness;
} ingest_stream_gauges;

typedef struct {
    const ingest_config *cfg;
    vx_bus *bus;
    ingest_stream_gauges g[2]; /* events, dead letters */
    pthread_t thread;
    bool started, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char note[256]; /* under mu: what /readyz adds ("" when nothing) */
} ingest_streams;

/* Registers the gauges (valdrix_ingest_stream_{bytes,max_bytes,messages,fullness}{stream=...}).
 * Before vx_service_begin returns nothing else is needed for ingest_streams_ready. */
void ingest_streams_init(ingest_streams *s, const ingest_config *cfg, vx_metrics *reg);
/* Starts the watcher on bus (connected). */
void ingest_streams_start(ingest_streams *s, vx_bus *bus);
/* Stops and joins the watcher (fine if never started); frees nothing else. */
void ingest_streams_stop(void *s);
/* A vx_ready_fn: always ready; writes the fullness note when a stream is above the mark. */
bool ingest_streams_ready(void *s, char *why, size_t cap);

/* The note for one stream's state ("" when below the mark): pure, for tests. */
void ingest_stream_note(const char *name, const vx_stream_info *info, char *out, size_t cap);

#endif
