/* The operations HTTP listener every service runs on its own port: GET /metrics (Prometheus
 * text), /healthz (200 while the process serves) and /readyz (200 when the service's readiness
 * check passes, 503 with the reason otherwise, or while draining). It runs on its own thread
 * with its own libuv loop and llhttp, so it answers even when the service's work is stuck. */
#ifndef VX_OPS_H
#define VX_OPS_H

#include "vx/metrics.h"
#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>

/* Returns true when ready; otherwise writes a short reason (e.g. "postgres: connection
 * refused") into why. A ready service may also write into why (e.g. "redis: unreachable"):
 * /readyz then answers 200 with that text as "note". why is empty on entry. Called on the ops
 * thread: it must be thread-safe and quick. */
typedef bool (*vx_ready_fn)(void *ctx, char *why, size_t why_cap);

typedef struct vx_ops_server vx_ops_server;

typedef struct {
    const char *host;    /* e.g. "127.0.0.1"; "0.0.0.0" to listen on all */
    int port;            /* 0 picks a free port (see vx_ops_port) */
    vx_metrics *metrics; /* borrowed; must outlive the server */
    vx_ready_fn ready;   /* NULL: always ready */
    void *ready_ctx;
} vx_ops_config;

/* Binds and starts serving on a new thread. VX_IO if the port cannot be bound. */
VX_MUST_CHECK vx_status vx_ops_start(const vx_ops_config *cfg, vx_ops_server **out);
/* The port actually bound. */
int vx_ops_port(const vx_ops_server *s);
/* From now on /readyz answers 503 "draining" (used on SIGTERM). When it returns, the ready
 * function is neither running nor called again, so what it reads may be freed. Thread-safe. */
void vx_ops_set_draining(vx_ops_server *s);
/* Stops the thread, closes connections, frees. NULL is fine. */
void vx_ops_stop(vx_ops_server *s);

#endif
