/* The front of the API's request pipeline: route (through the table of routes.h),
 * authenticate (cached key lookups), rate-limit (one Redis round trip, local fallback), then
 * the route's handler; and the hooks main.c wires into the HTTP server and the bus. What the
 * handlers use is in pipeline.h. */
#ifndef VX_API_H
#define VX_API_H

#include "pipeline.h"

/* The subscription to ingest's announcements: bumps the announced tenant's generation. */
void api_on_changed(void *ctx, vx_bus_msg *msg);

/* Registers the answer counters and latency histograms of every route. */
void api_ctx_init_metrics(api_ctx *ctx);
/* The vx_http handler. */
void api_handle(void *ctx, vx_http_request *req);
/* Per-loop hooks: make and destroy the loop's limiter. */
void api_loop_start(void *ctx, unsigned index, uv_loop_t *loop);
void api_loop_stop(void *ctx, unsigned index, uv_loop_t *loop);

#endif
